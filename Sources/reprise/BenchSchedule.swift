import ArgumentParser
import Foundation
import RepriseCore
import RepriseSchedules
import RepriseShards

/// `reprise bench schedule`: the schedule benchmark of Tools/bench/schedule. Makes a synthetic dataset of
/// Zipf-distributed tokens (so frames compress like text), builds an mdlm plan for it and streams batches.
struct BenchScheduleCommand: ParsableCommand, UsesThreads {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Benchmark: build an mdlm plan for a synthetic dataset and stream batches from it.",
        discussion: "Example: reprise bench schedule --dir /tmp/sched-bench --sequences 1000000 --epochs 100")

    @Option(help: "Working directory (the synthetic shards are kept there and reused).")
    var dir: String
    @Option(help: "Training sequences.")
    var sequences = 1_000_000
    @Option(help: "Tokens per sequence.")
    var seqLen = 256
    @Option(help: "Epochs of the plan.")
    var epochs = 100
    @Option(help: "Batch size of the plan.")
    var batchSize = 32
    @Option(help: "Sequences to stream for the throughput figure.")
    var streamSequences = 200_000
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            let shards = dir + "/shards"
            let made = try makeShards(shards)
            var c = ScheduleConfig()
            c.objective = .mdlm; c.epochs = epochs; c.batchSize = batchSize; c.seed = 1
            let t0 = Date()
            let m = try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/plan", threads: threads, quiet: true)
            let buildSeconds = Date().timeIntervalSince(t0)
            let planBytes = m.epochFiles.reduce(0) { $0 + $1.bytes } + (m.validationFile?.bytes ?? 0) + (m.noiseTableFile?.bytes ?? 0)

            let schedule = try Schedule(dir + "/plan")
            let steps = min(schedule.steps, (streamSequences + batchSize - 1) / batchSize)
            let stream = try schedule.stream(shards: shards, from: 0, to: steps)
            let t1 = Date()
            var tokens = 0, masked = 0
            while let b = try stream.next() {
                tokens += b.rows * b.seqLen
                masked += b.mask.reduce(0) { $0 + Int($1) }
            }
            let streamSeconds = Date().timeIntervalSince(t1)
            let result: [String: Any] = [
                "sequences": m.trainSequences, "seq_len": m.seqLen, "epochs": epochs, "threads": threads,
                "shards_made_seconds": made, "build_seconds": buildSeconds, "plan_bytes": planBytes,
                "disk_bytes_per_sequence_epoch": m.ledger.diskBytesPerSequenceEpoch,
                "stream_tokens": tokens, "stream_seconds": streamSeconds,
                "stream_tokens_per_second": Double(tokens) / streamSeconds,
                "masked_fraction": Double(masked) / Double(max(tokens, 1)),
            ]
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }

    /// Writes `sequences` × seqLen + 1 tokens in shards of 2^26 tokens, unless a dataset of that size is there.
    /// Returns the seconds spent (0 when reused).
    func makeShards(_ shards: String) throws -> Double {
        let tokens = sequences * seqLen + 1
        if let m = try? PackManifest.load(shards), m.train.tokens == tokens, m.config.seqLen == seqLen { return 0 }
        let t0 = Date()
        try FileManager.default.createDirectory(atPath: shards, withIntermediateDirectories: true)
        try AtomicFile.removeStaleTemporaries(in: shards)
        // Zipf(1) over 32,768 ids, sampled by inverting a 65,536-entry table of the CDF.
        let vocab = 32_768
        var cdf = [Double](repeating: 0, count: vocab)
        var sum = 0.0
        for i in 0..<vocab { sum += 1 / Double(i + 1); cdf[i] = sum }
        var table = [UInt32](repeating: 0, count: 65_536)
        var k = 0
        for u in 0..<65_536 {
            let target = (Double(u) + 0.5) / 65_536 * sum
            while cdf[k] < target { k += 1 }
            table[u] = UInt32(k)
        }
        var rng = SplitMix64(seed: 42)
        var config = PackConfig()
        config.seqLen = seqLen
        var split = SplitSummary()
        var written = 0
        var chunk = [UInt32](repeating: 0, count: 1 << 20)
        while written < tokens {
            let name = String(format: "train-%05d.shard", split.shards.count)
            let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: config.frameTokens)
            let inShard = min(1 << 26, tokens - written)
            var left = inShard
            while left > 0 {
                let n = min(left, chunk.count)
                for i in 0..<n { chunk[i] = table[Int(rng.next() >> 48)] }
                try chunk.withUnsafeBufferPointer { try w.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<n])) }
                left -= n
            }
            let s = try w.finish()
            split.shards.append(ShardEntry(file: name, tokens: s.tokenCount, documents: 0, bytes: s.byteSize, sha256: s.sha256))
            written += inShard
        }
        split.tokens = tokens
        split.sequences = sequences
        let m = PackManifest(config: config, configHash: try CanonicalJSON.hash(config), inputHash: "synthetic",
                             ingestManifestSha256: "synthetic", tokenizerSha256: "synthetic", docsDir: "", tokenizerDir: "",
                             vocabSize: vocab, dtype: "uint16", endOfTextId: 0, train: split, val: SplitSummary())
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: StageOutput.manifestPath(shards))
        return Date().timeIntervalSince(t0)
    }
}
