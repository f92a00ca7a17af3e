import ArgumentParser
import Foundation
import RepriseCore
import RepriseIngest
import ReprisePipeline
import RepriseShards

/// Measurements for the scripts in Tools/bench (shards, schedule, train-step, parquet, wet); hidden from
/// `reprise --help`. Each subcommand prints one JSON line.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark helpers driven by the scripts in Tools/bench.",
        shouldDisplay: false,
        subcommands: [BenchReadCommand.self, BenchZstdCommand.self, BenchScheduleCommand.self, BenchTrainStepCommand.self,
                      BenchParquetCommand.self, BenchReadDocumentsCommand.self])
}

/// The shard paths of a split, from the dataset's manifest.
private func splitShards(_ dir: String, split: String) throws -> (PackManifest, [String]) {
    let m = try PackManifest.load(dir)
    return (m, m.split(split).shards.map { dir + "/" + $0.file })
}

private func printJSON(_ fields: [(String, Any)]) {
    print("{" + fields.map { key, value in
        let v = value is String ? "\"\(value)\"" : "\(value)"
        return "\"\(key)\": \(v)"
    }.joined(separator: ", ") + "}")
}

struct BenchReadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read sequences through ShardDataset and print {sequences, tokens, seconds, tokens_per_s, checksum}.",
        discussion: """
        Orders: sequential (0, 1, 2, ...); random (a seeded permutation of all sequences); frame-shuffle \
        (sequences grouped by the zstd frame their first token is in, the groups in random order and the \
        sequences of each group in random order: what a sampler aware of frames would read). tokens counts \
        seq_len per sequence (the positions it trains); checksum is the wrapping sum of every token read \
        (seq_len + 1 per sequence), the same for every order when all sequences are read. The time includes \
        opening the shards.

        Example: reprise bench read /tmp/shards --order random --limit 10000
        """)

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @Option(help: "sequential, random or frame-shuffle.")
    var order = "sequential"
    @Option(help: "train or val.")
    var split = "train"
    @Option(help: "Sequence length (default: the manifest's seq_len).")
    var seqLen: Int?
    @Option(help: "Read only the first N sequences of the order.")
    var limit: Int?
    @Option(help: "Seed of the random orders.")
    var seed: UInt64 = 1
    @Option(help: "Read through ShardDataset.stream with this many sequences read ahead (0: call sequence(i) directly).")
    var readAhead = 0

    func validate() throws {
        if !["sequential", "random", "frame-shuffle"].contains(order) {
            throw ValidationError("--order must be sequential, random or frame-shuffle")
        }
        if split != "train" && split != "val" { throw ValidationError("--split must be train or val") }
        if let s = seqLen, s < 1 { throw ValidationError("--seq-len must be at least 1") }
        if let l = limit, l < 0 { throw ValidationError("--limit must not be negative") }
        if readAhead < 0 { throw ValidationError("--read-ahead must not be negative") }
    }

    func run() throws {
        try runReporting {
            let (m, paths) = try splitShards(shards, split: split)
            let seqLen = self.seqLen ?? m.config.seqLen
            var rng = SplitMix64(seed: seed)
            // The order is built before the clock starts (frame-shuffle needs the frame layout, so it opens
            // the shards once more here).
            var indices: [Int]
            let count = try ShardDataset(paths: paths, seqLen: seqLen).sequenceCount
            switch order {
            case "random":
                indices = Array(0..<count)
                indices.shuffle(using: &rng)
            case "frame-shuffle":
                var groups = try frameGroups(paths: paths, seqLen: seqLen, count: count)
                groups.shuffle(using: &rng)
                indices = []
                indices.reserveCapacity(count)
                for g in groups { indices += Array(g).shuffled(using: &rng) }
            default:
                indices = Array(0..<count)
            }
            if let limit { indices = Array(indices.prefix(limit)) }

            let start = DispatchTime.now().uptimeNanoseconds
            let dataset = try ShardDataset(paths: paths, seqLen: seqLen)
            var checksum: UInt64 = 0
            func consume(_ s: [UInt32]) { for t in s { checksum &+= UInt64(t) } }
            if readAhead > 0 {
                let stream = dataset.stream(indices, readAhead: readAhead)
                while let s = try stream.next() { consume(s) }
            } else {
                for i in indices { consume(try dataset.sequence(i)) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let tokens = indices.count * seqLen
            printJSON([("order", order), ("read_ahead", readAhead), ("seq_len", seqLen), ("sequences", indices.count),
                       ("tokens", tokens), ("seconds", seconds), ("tokens_per_s", Double(tokens) / seconds),
                       ("checksum", checksum)])
        }
    }

    /// Sequence indices grouped by the frame holding each sequence's first token, in stream order.
    private func frameGroups(paths: [String], seqLen: Int, count: Int) throws -> [Range<Int>] {
        // Global index of every frame's first token, over the split's shards in order.
        var frameStarts: [Int] = []
        var shardStart = 0
        for p in paths {
            let r = try ShardReader(path: p)
            frameStarts += r.frames.map { shardStart + $0.firstToken }
            shardStart += r.tokenCount
        }
        var groups: [Range<Int>] = []
        var first = 0, frame = 0
        for i in 0..<count {
            var f = frame
            while f + 1 < frameStarts.count && frameStarts[f + 1] <= i * seqLen { f += 1 }
            if f != frame {
                if i > first { groups.append(first..<i) }
                first = i
                frame = f
            }
        }
        if count > first { groups.append(first..<count) }
        return groups
    }
}

struct BenchZstdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zstd",
        abstract: "Decompress every token frame of a split with libzstd alone; print {tokens, seconds, tokens_per_s}.",
        discussion: """
        The floor under any reader: each frame is read with pread into a reused buffer and decompressed with \
        one reused context (ZSTD_decompressDCtx) into another; the tokens are not decoded or copied further. \
        The time includes opening the shards.

        Example: reprise bench zstd /tmp/shards
        """)

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @Option(help: "train or val.")
    var split = "train"

    func validate() throws {
        if split != "train" && split != "val" { throw ValidationError("--split must be train or val") }
    }

    func run() throws {
        try runReporting {
            let (_, paths) = try splitShards(shards, split: split)
            let start = DispatchTime.now().uptimeNanoseconds
            let decoder = ZstdFrameDecoder()
            var src = [UInt8](), dst = [UInt8]()
            var tokens = 0, bytes = 0
            for p in paths {
                let reader = try ShardReader(path: p)
                let fd = open(p, O_RDONLY)
                guard fd >= 0 else { throw RepriseError("\(p): cannot open") }
                defer { close(fd) }
                for f in reader.frames {
                    if src.count < f.compressedSize { src = [UInt8](repeating: 0, count: f.compressedSize) }
                    let want = f.tokenCount * reader.dtype.byteWidth
                    if dst.count < want { dst = [UInt8](repeating: 0, count: want) }
                    let got = src.withUnsafeMutableBytes { pread(fd, $0.baseAddress, f.compressedSize, off_t(f.offset)) }
                    guard got == f.compressedSize else { throw RepriseError("\(p): short read at byte \(f.offset)") }
                    let n = try src.withUnsafeBytes { s in
                        try dst.withUnsafeMutableBytes {
                            try decoder.decompress(UnsafeRawBufferPointer(rebasing: s[0..<f.compressedSize]), into: $0)
                        }
                    }
                    bytes += n
                    tokens += f.tokenCount
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            printJSON([("tokens", tokens), ("bytes", bytes), ("seconds", seconds),
                       ("tokens_per_s", Double(tokens) / seconds)])
        }
    }
}

struct BenchReadDocumentsCommand: ParsableCommand, UsesThreads {
    static let configuration = CommandConfiguration(
        commandName: "read-docs",
        abstract: "Read an input file's raw documents as ingest's reader does; print {documents, bytes, seconds, documents_per_s}.",
        discussion: """
        The reader alone, as ingest's reader thread runs it: decompression, the file kind's reader (for \
        WARC/WET: record parsing, the bodies of conversion records and HTML responses), but no hashing, \
        cleaning or output. With --threads 2 or more a gzip file's members are also decoded on a second \
        thread, as in `reprise ingest`; --threads 1 reads on one thread. bytes counts the document bodies. \
        The time includes opening the file.

        Example: reprise bench read-docs --threads 1 CC-MAIN-sample.warc.wet.gz
        """)

    @Argument(help: "An input file of any kind `reprise ingest` reads.")
    var file: String
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try runReporting {
            try WorkerThreads.check(min(threads, 2))
            let start = DispatchTime.now().uptimeNanoseconds
            var documents = 0, bytes = 0, errors = 0
            let sink = ReaderSink(emit: { doc in
                documents += 1
                switch doc.body {
                case .text(let b), .html(let b): bytes += b.count
                case .wikitext(let s): bytes += s.utf8.count
                }
            }, recordError: { _ in errors += 1 })
            let (kind, compression) = try Ingest.readRaw(path: file, threads: threads, sink: sink)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            // Only gzip input gets the second (decoding) thread.
            let used = compression == .gzip && threads >= 2 ? 2 : 1
            printJSON([("kind", kind.rawValue), ("threads", used), ("documents", documents), ("bytes", bytes), ("record_errors", errors),
                       ("seconds", seconds), ("documents_per_s", Double(documents) / seconds)])
        }
    }
}
