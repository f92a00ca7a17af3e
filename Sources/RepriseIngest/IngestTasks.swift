import Foundation
import RepriseCore

/// Ingest split into tasks that run as separate processes, and the merge that turns their shares into the
/// output a single `Ingest.run` writes, byte for byte.
///
/// - Assignment: the inputs expand (`InputFiles.expand`) to the same list in every task; file k of that list
///   belongs to task k mod N.
/// - A task reads and cleans its files exactly as `Ingest.run` does (`Ingest.readAndClean`), but does not
///   deduplicate: deduplication keeps the first document of a group in global input order, which only the
///   merge sees. It writes every cleaned document (kept so far or dropped by a filter, with its dedup keys)
///   to `candidates.bin.zst`, one zstd frame per input file, and returns an `IngestShare` listing each file's
///   record and frame.
/// - The merge walks the global list (file k from task k mod N), decodes each file's frame and feeds the
///   documents to the same `IngestWriter` that `Ingest.run` uses, so deduplication, counts, output files and
///   manifest are those of a single run.
public enum IngestTasks {
    /// The task that reads file `index` of the expanded input list.
    public static func task(ofFile index: Int, tasks: Int) -> Int { index % tasks }

    /// The positions in the expanded input list of task `task`'s files.
    public static func files(ofTask task: Int, tasks: Int, inputCount: Int) -> [Int] {
        Array(stride(from: task, to: inputCount, by: tasks))
    }

    /// SHA-256 over `NAME\tBYTES\n` per expanded input file, then `INPUT\tmissing\n`: the identity of the input
    /// list (every task must see the same list), cheap enough for a merge to recheck without reading files.
    public static func listHash(_ files: [(path: String, bytes: Int)], missing: [String]) -> String {
        var h = SHA256Stream()
        for f in files { h.update("\(f.path)\t\(f.bytes)\n") }
        for m in missing { h.update("\(m)\tmissing\n") }
        return h.finalizeHex()
    }

    /// `listHash` of the files as they are now.
    public static func listHash(_ files: [InputFile], missing: [String]) -> String {
        listHash(files.map { ($0.name, InputFiles.size($0)) }, missing: missing)
    }

    /// The ingest manifest's `input_hash` for these file records (in list order) and missing inputs.
    public static func inputHash(_ records: [InputRecord], missing: [String]) -> String {
        Ingest.inputHash(records.map { ($0.path, $0.sha256) }, missing: missing)
    }

    /// The file a task writes its cleaned documents to, inside its directory.
    public static let candidatesFile = "candidates.bin.zst"

    /// Reads and cleans one task's files (`files`: position in the expanded list and file, in list order) and
    /// writes `dir/candidates.bin.zst`. `candidate` sees the text of every document that passed the filters
    /// (what a single run would deduplicate), in order, for the tokenizer's pre-token counts.
    ///
    /// With `dedupBuckets`, it also writes the documents' dedup keys into that many bucket files
    /// (`DiskDedup.BucketWriter`, sorting `dedupSortRecords` records at a time) for disk deduplication.
    public static func runShare(files: [(index: Int, file: InputFile)], dir: String, config: IngestConfig,
                                options: Ingest.Options = Ingest.Options(), dedupBuckets: Int? = nil,
                                dedupSortRecords: Int = DiskDedup.defaultSortRecords,
                                candidate: ([UInt8]) throws -> Void = { _ in }) throws -> IngestShare {
        try config.validate()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + candidatesFile
        let file = try AtomicFileWriter(path: path)
        // One zstd worker compresses while cleaning goes on; the bytes do not depend on the worker count once
        // it is at least one.
        let encoder = ZstdEncoder(level: Int32(config.zstdLevel), checksum: true, threads: 1, jobBytes: ZstdEncoder.streamJobBytes) { try file.write($0) }
        var entries = files.map { TaskInputFile(index: $0.index, offset: 0, frameBytes: 0) }
        var current = -1, documents = 0, inFile = 0
        var w = BinaryWriter()
        let buckets = try dedupBuckets.map { try DiskDedup.BucketWriter(dir: dir, buckets: $0, config: config.dedup, sortRecords: dedupSortRecords) }
        func closeFrame() throws {
            guard current >= 0 else { return }
            try encoder.write(w.bytes)
            w.bytes.removeAll(keepingCapacity: true)
            try encoder.finishFrame()
            entries[current].frameBytes = file.bytesWritten - entries[current].offset
        }
        let records = try Ingest.readAndClean(files.map(\.file), config: config, options: options) { index, doc in
            if index != current {
                try closeFrame()
                current = index
                inFile = 0
                entries[index].offset = file.bytesWritten
            }
            if let buckets, doc.dropReason == nil {
                try buckets.add(doc.keys, position: try DiskDedup.position(file: files[index].index, document: inFile))
            }
            inFile += 1
            CandidateCodec.encode(doc, into: &w)
            if w.bytes.count >= 1 << 20 { try encoder.write(w.bytes); w.bytes.removeAll(keepingCapacity: true) }
            documents += 1
            if doc.dropReason == nil { try candidate(Array(doc.text.utf8)) }
        }
        try closeFrame()
        try buckets?.finish()
        for (i, r) in records.enumerated() { entries[i].input = r }
        let bytes = file.bytesWritten
        let sha = try file.commit()
        return IngestShare(files: entries, candidates: OutputFile(file: candidatesFile, bytes: bytes, sha256: sha, documents: documents))
    }

    /// Builds the ingest output in `output` from the shares of all tasks (`shares[t]` written into `dirs[t]`
    /// by task t of `shares.count`), exactly as `Ingest.run` over the whole input list would. With `dedup`
    /// (disk deduplication), the link files decide duplicates instead of one `Deduplicator` over every
    /// document; the decisions are the same.
    @discardableResult
    public static func merge(shares: [IngestShare], dirs: [String], inputCount: Int, missing: [String],
                             skippedLinks: [String] = [], output: String,
                             config: IngestConfig, dedup: DiskDedup.LinkDeduplicator? = nil,
                             quiet: Bool = false) throws -> IngestManifest {
        try config.validate()
        let n = shares.count
        precondition(n == dirs.count && n > 0)
        for t in 0..<n {
            let expected = files(ofTask: t, tasks: n, inputCount: inputCount)
            guard shares[t].files.map(\.index) == expected else {
                throw RepriseError("\(dirs[t]): the task's share lists other input files than task \(t) of \(n) reads from \(inputCount) inputs; rerun the task")
            }
            let path = dirs[t] + "/" + shares[t].candidates.file
            let size = Ingest.fileSize(path)
            guard size == shares[t].candidates.bytes else {
                throw RepriseError("\(path): \(size) bytes, the task's manifest says \(shares[t].candidates.bytes); rerun the task")
            }
        }
        let writer = try IngestWriter(output: output, config: config, dedup: dedup)
        let total = shares.reduce(0) { $0 + $1.candidates.documents }
        let progress = Progress("ingest merge", totalItems: total, quiet: quiet)
        var records: [InputRecord] = []
        records.reserveCapacity(inputCount)
        var done = 0
        for k in 0..<inputCount {
            let t = task(ofFile: k, tasks: n)
            let entry = shares[t].files[k / n]
            guard let input = entry.input else { throw RepriseError("\(dirs[t]): no record of input \(k); rerun the task") }
            records.append(input)
            if input.documents == 0 { continue }
            let path = dirs[t] + "/" + shares[t].candidates.file
            let name = "\(path) (documents of \(input.path))"
            let reader = BinaryReader(ZstdDecoder(try FileRangeSource(path: path, offset: entry.offset, count: entry.frameBytes),
                                                  name: name), name: name)
            for j in 0..<input.documents {
                if let dedup { try dedup.advance(to: try DiskDedup.position(file: k, document: j)) }
                try writer.add(try CandidateCodec.decode(reader))
            }
            guard try reader.atEnd() else {
                throw RepriseError("\(name): more documents than the \(input.documents) its task's manifest lists; rerun the task")
            }
            done += input.documents
            progress.update(items: done, itemName: "docs", bytes: 0)
        }
        progress.finish(items: done, itemName: "docs", bytes: 0)
        try dedup?.finish()
        return try writer.finish(inputs: records, missing: missing, skippedLinks: skippedLinks)
    }

    /// Calls `body` with the text of every document of a complete ingest output that deduplication dropped
    /// (`exact_duplicate`, `near_duplicate`), in order: the documents a task counted for the tokenizer that
    /// the merged output does not keep.
    public static func forEachDuplicate(_ dir: String, _ body: ([UInt8]) throws -> Void) throws {
        let manifest = try IngestManifest.load(dir)
        let reasons: Set<[UInt8]> = [Array("\"exact_duplicate\"".utf8), Array("\"near_duplicate\"".utf8)]
        for entry in manifest.excluded where entry.documents > 0 {
            let file = dir + "/" + entry.file
            try IngestOutput.forEachRecord(dir: dir, entry: entry, kind: "exclusion") { record, lineNo in
                guard let reason = record.metadata.first(where: { $0.key == "reason" })?.json else {
                    throw RepriseError("\(file):\(lineNo): exclusion record without a reason")
                }
                if reasons.contains(reason) {
                    guard let text = record.text else { throw RepriseError("\(file):\(lineNo): record without text") }
                    try body(text)
                }
            }
        }
    }
}

/// One input file of a task's share.
public struct TaskInputFile: Codable, Sendable, Equatable {
    /// Position in the expanded input list.
    public var index: Int
    /// The file as the ingest manifest records it (hash, kind, status, documents read).
    public var input: InputRecord?
    /// Where its documents' frame starts in the task's candidates file, and its compressed size (0 when the
    /// file gave no document).
    public var offset: Int
    public var frameBytes: Int

    enum CodingKeys: String, CodingKey { case index, input, offset, frameBytes = "frame_bytes" }
}

/// What one ingest task produced: its files in list order and its candidates file.
public struct IngestShare: Codable, Sendable, Equatable {
    public var files: [TaskInputFile]
    /// `candidates.bin.zst`: size, SHA-256 and number of documents (all documents read from the files).
    public var candidates: OutputFile
}

/// A cleaned document as a task hands it to the merge: everything `IngestWriter` needs to decide and write
/// it as `Ingest.run` would (the kept-record line is rebuilt from these fields).
///
/// Layout (see `BinaryWriter`): u8 flags (1 title, 2 drop reason, 4 original bytes, 8 exact key,
/// 16 MinHash signature, 32 HTML parse cut at too deep a nesting), id, source, [title], varint metadata count, (key, raw JSON value)…, text,
/// [drop reason], [varint original bytes], [u64 hi, u64 lo], [varint n, n × u32], varint invalid UTF-8
/// sequences, varint control characters removed.
enum CandidateCodec {
    static func encode(_ d: CleanedDocument, into w: inout BinaryWriter) {
        var flags: UInt8 = 0
        if d.title != nil { flags |= 1 }
        if d.dropReason != nil { flags |= 2 }
        if d.originalBytes != nil { flags |= 4 }
        if d.keys.exact != nil { flags |= 8 }
        if d.keys.signature != nil { flags |= 16 }
        if d.htmlDepthTruncated { flags |= 32 }
        w.u8(flags)
        w.string(d.id)
        w.string(d.source)
        if let t = d.title { w.string(t) }
        w.varint(d.metadata.count)
        for m in d.metadata { w.string(m.key); w.data(m.json) }
        w.string(d.text)
        if let r = d.dropReason { w.string(r) }
        if let b = d.originalBytes { w.varint(b) }
        if let k = d.keys.exact { w.u64(k.hi); w.u64(k.lo) }
        if let s = d.keys.signature {
            w.varint(s.count)
            for v in s { w.u32(v) }
        }
        w.varint(d.invalidSequences)
        w.varint(d.controlsRemoved)
    }

    static func decode(_ r: BinaryReader) throws -> CleanedDocument {
        let flags = try r.u8()
        guard flags < 64 else { throw RepriseError("\(r.name): bad record flags \(flags) at byte \(r.offset - 1)") }
        let id = try r.string()
        let source = try r.string()
        let title = flags & 1 != 0 ? try r.string() : nil
        var metadata: [(key: String, json: [UInt8])] = []
        for _ in 0..<(try r.count()) { metadata.append((try r.string(), try r.data())) }
        var d = CleanedDocument(id: id, source: source, title: title, metadata: metadata, text: try r.string())
        d.htmlDepthTruncated = flags & 32 != 0
        if flags & 2 != 0 { d.dropReason = try r.string() }
        if flags & 4 != 0 { d.originalBytes = try r.count(limit: Int.max) }
        if flags & 8 != 0 { d.keys.exact = Key128(hi: try r.u64(), lo: try r.u64()) }
        if flags & 16 != 0 {
            var sig: [UInt32] = []
            try r.u32s(try r.count(limit: 1024), into: &sig)
            d.keys.signature = sig
        }
        d.invalidSequences = try r.count(limit: Int.max)
        d.controlsRemoved = try r.count(limit: Int.max)
        return d
    }
}
