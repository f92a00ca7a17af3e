import Foundation
import RepriseCore

/// The answer of every cleaning stage: keep the document, or drop it for a named reason. Reasons are short
/// snake_case words (`gopher_short_doc`, `too_long`, `exact_duplicate`) and are counted in the manifest.
public enum FilterDecision: Equatable, Sendable {
    case keep
    case drop(reason: String)
}

/// One input file as the manifest records it.
public struct InputRecord: Codable, Sendable, Equatable {
    public var path: String
    public var bytes: Int
    public var sha256: String
    public var kind: InputKind?
    public var compression: Compression?
    /// `ok`, or `failed` when the file (or some of its records) could not be read.
    public var status: String
    /// The first error, one line naming file and position.
    public var error: String?
    /// Number of record errors (bad JSONL lines, malformed WARC records), when any.
    public var recordErrors: Int?
    /// Documents read from this file (kept or dropped).
    public var documents: Int
    /// WARC files: the records read, per `WARC-Type`.
    public var records: [String: Int]?
    /// WARC files: the records that yielded no document, per reason (see FORMAT.md).
    public var skippedRecords: [String: Int]?

    enum CodingKeys: String, CodingKey {
        case path, bytes, sha256, kind, compression, status, error, documents, records
        case recordErrors = "record_errors", skippedRecords = "skipped_records"
    }
}

public struct IngestCounts: Codable, Sendable, Equatable {
    public var read = 0
    public var kept = 0
    public var dropped: [String: Int] = [:]
    public var invalidUTF8Sequences = 0
    public var controlCharactersRemoved = 0
    public var keptBytes = 0
    /// HTML pages whose parse stopped at an element nested deeper than 1,024 levels (kept or dropped on
    /// what came before it); absent when there were none.
    public var htmlDepthTruncated: Int?

    enum CodingKeys: String, CodingKey {
        case read, kept, dropped
        case invalidUTF8Sequences = "invalid_utf8_sequences"
        case controlCharactersRemoved = "control_characters_removed"
        case keptBytes = "kept_bytes"
        case htmlDepthTruncated = "html_depth_truncated"
    }
}

/// `manifest.json` of an ingest output directory (written last; its presence marks the output complete).
public struct IngestManifest: Codable, Sendable, Equatable {
    public static let formatName = "reprise.ingest"
    public static let currentVersion = 1
    public var format = IngestManifest.formatName
    public var version = IngestManifest.currentVersion
    public var config: IngestConfig
    public var configHash: String
    /// Hash of the input list: every file's path and SHA-256 (and the inputs that matched nothing).
    public var inputHash: String
    public var inputs: [InputRecord]
    public var missingInputs: [String]
    /// Symbolic links to directories that were not followed (absent when none).
    public var skippedLinks: [String]?
    public var counts: IngestCounts
    public var outputs: [OutputFile]
    public var excluded: [OutputFile]

    enum CodingKeys: String, CodingKey {
        case format, version, config, inputs, counts, outputs, excluded
        case configHash = "config_hash", inputHash = "input_hash", missingInputs = "missing_inputs"
        case skippedLinks = "skipped_links"
    }

    public var failedInputs: [InputRecord] { inputs.filter { $0.status != "ok" } }

    /// When the run kept no document, one line saying why and what to change; nil when it kept any.
    public var nothingKeptError: String? {
        guard counts.kept == 0 else { return nil }
        if inputs.isEmpty {
            return missingInputs.isEmpty ? "no document kept: the inputs hold no files"
                : "no document kept: no such file or directory: \(missingInputs.joined(separator: ", "))"
        }
        let firstError = inputs.lazy.compactMap(\.error).first
        if counts.read == 0, let firstError {
            var line = "no document kept: \(failedInputs.count) of \(inputs.count) inputs failed; first: \(firstError)"
            if firstError.contains("no string field") {
                line += " (set text_field in the ingest config to the field that holds the text)"
            }
            return line
        }
        if counts.read == 0 { return "no document kept: the \(inputs.count) input files hold no documents" }
        let reasons = counts.dropped.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
        return "no document kept: all \(counts.read) documents were dropped (\(reasons.joined(separator: ", "))); "
            + "see excluded-*.jsonl.zst, and relax the filters that dropped them in the ingest config"
    }
}

extension IngestManifest: StageManifest {
    public var listedFiles: [(file: String, bytes: Int)] { (outputs + excluded).map { ($0.file, $0.bytes) } }

    /// Every document read is kept or dropped for a reason; the kept ones are the output files' documents,
    /// the dropped ones the exclusion files'.
    public var inconsistencies: [String] {
        var out: [String] = []
        let dropped = counts.dropped.values.reduce(0, &+)
        if counts.read != counts.kept &+ dropped {
            out.append("counts.read is \(counts.read), kept + dropped = \(counts.kept &+ dropped)")
        }
        let kept = outputs.reduce(0) { $0 &+ $1.documents }
        if kept != counts.kept { out.append("counts.kept is \(counts.kept), the documents of outputs = \(kept)") }
        let excludedDocuments = excluded.reduce(0) { $0 &+ $1.documents }
        if excludedDocuments != dropped {
            out.append("counts.dropped add up to \(dropped), the documents of excluded = \(excludedDocuments)")
        }
        let fromInputs = inputs.reduce(0) { $0 &+ $1.documents }
        if fromInputs != counts.read { out.append("counts.read is \(counts.read), the documents of inputs = \(fromInputs)") }
        if let bad = (counts.dropped.values + outputs.map(\.documents) + [counts.read, counts.kept]).first(where: { $0 < 0 }) {
            out.append("a count is negative (\(bad))")
        }
        return out
    }

    /// The manifest of an ingest output directory, checked (`StageManifest`), with an error that says what
    /// to do when there is none.
    public static func load(_ dir: String) throws -> IngestManifest {
        try StageDirectory.load(IngestManifest.self, dir: dir, format: formatName,
                                missing: "it is not a complete ingest output; run `reprise ingest ... --output \(dir)` first")
    }
}

/// The ingest stage: raw documents in, clean deduplicated text out.
public enum Ingest {
    public struct Options: Sendable {
        public var threads = defaultThreadCount
        public var quiet = false
        public init() {}
    }

    /// The files the inputs expand to (by name) and the identity of their content. Standard input cannot be
    /// fingerprinted: it can be read only once.
    public static func fingerprint(_ inputs: [String]) throws -> (hash: String, files: [(path: String, bytes: Int, sha256: String)], missing: [String]) {
        let list = try InputFiles.expand(inputs)
        if list.files.contains(where: \.isStandardInput) {
            throw RepriseError("standard input (-) has no fingerprint: it can be read only once, so its content cannot be checked for changes; save it to a file and give that instead")
        }
        let files = list.files.map { ($0.name, InputFiles.size($0), InputFiles.sha256($0)) }
        return (inputHash(files.map { ($0.0, $0.2) }, missing: list.missing), files, list.missing)
    }

    static let unreadable = InputFiles.unreadable

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// The manifest's `input_hash`: SHA-256 over `NAME\tSHA256\n` per file, then `INPUT\tmissing\n`. Names
    /// do not depend on where the inputs lie, so a moved corpus keeps its hash.
    static func inputHash(_ files: [(path: String, sha256: String)], missing: [String]) -> String {
        var h = SHA256Stream()
        for f in files { h.update("\(f.path)\t\(f.sha256)\n") }
        for m in missing { h.update("\(m)\tmissing\n") }
        return h.finalizeHex()
    }

    /// Output files of an ingest directory that a new run replaces (temporary files of killed runs go by
    /// `AtomicFile.removeStaleTemporaries`).
    static func isOutputName(_ name: String) -> Bool {
        name == StageOutput.manifestFile || (name.hasSuffix(".jsonl.zst") && (name.hasPrefix("docs-") || name.hasPrefix("excluded-")))
    }

    /// Runs the reader of `kind` over an opened input (see `InputFiles.open`).
    static func readDocuments(_ source: ByteSource, kind: InputKind, path: String, config: IngestConfig,
                              namespaces: Set<Int>, sink: ReaderSink) throws {
        switch kind {
        case .text: try WholeFileReader.read(source, html: false, maxBytes: config.maxDocBytes, sink: sink)
        case .html: try WholeFileReader.read(source, html: true, maxBytes: config.maxDocBytes, sink: sink)
        case .jsonl: try JSONLReader.read(source, path: path, fields: config.jsonFields, maxBytes: config.maxDocBytes, sink: sink)
        case .mediawiki: try MediaWikiReader.read(source, path: path, namespaces: namespaces, maxBytes: config.maxDocBytes, sink: sink)
        case .warc: try WARCReader.read(source, path: path, maxBytes: config.maxDocBytes, sink: sink)
        case .parquet:
            let reader = try ParquetReader(path: path, textColumns: config.textField,
                                           idColumn: config.idField.isEmpty ? nil : config.idField, maxBytes: config.maxDocBytes)
            try reader.read(sink: sink)
        }
    }

    /// Reads one file's raw documents, as ingest's reader thread does, without hashing or cleaning them (for
    /// benchmarks of the readers alone). `threads` as in `Options` (two or more: gzip read-ahead). Returns
    /// the file's kind and compression.
    public static func readRaw(path: String, config: IngestConfig = IngestConfig(), threads: Int = 1,
                               sink: ReaderSink) throws -> (kind: InputKind, compression: Compression) {
        let opened = try InputFiles.open(try FileSource(path: path), path: path, readAhead: threads >= 2)
        try readDocuments(opened.source, kind: opened.kind, path: path, config: config,
                          namespaces: Set(config.wikiNamespaces), sink: sink)
        return (opened.kind, opened.compression)
    }

    private enum Item {
        case batch([(file: Int, raw: RawDocument)], bytesRead: Int)
    }

    @discardableResult
    public static func run(inputs: [String], output: String, config: IngestConfig, options: Options = Options()) throws -> IngestManifest {
        try config.validate()
        let writer = try IngestWriter(output: output, config: config)
        let list = try InputFiles.expand(inputs)
        for note in list.notes where !options.quiet { logLine("ingest: \(note)") }
        let records = try readAndClean(list.files, config: config, options: options) { _, doc in try writer.add(doc) }
        return try writer.finish(inputs: records, missing: list.missing, skippedLinks: list.skippedLinks)
    }

    /// Reads `inputs` in order on a reader thread and cleans their documents on `options.threads` workers
    /// (with two or more threads, the reader of a gzip file has a helper thread that decodes members ahead);
    /// calls `body` on the calling thread with every cleaned document, in input order, and the index of its
    /// file in `inputs`. Returns the files' records: each file is hashed while it is read (see
    /// HashingFileSource), not in a separate pass; a Parquet file, read with random access, is hashed by
    /// one sequential pass after its rows. Files are named (record path, document source and id) by their
    /// `InputFile.name` and opened by their raw path.
    static func readAndClean(_ inputs: [InputFile], config: IngestConfig, options: Options,
                             body: (_ file: Int, _ doc: CleanedDocument) throws -> Void) throws -> [InputRecord] {
        let files = inputs.map { (input: $0, path: $0.name, bytes: InputFiles.size($0)) }
        let totalBytes = files.reduce(0) { $0 + $1.bytes }
        let progress = Progress("ingest", totalBytes: totalBytes, quiet: options.quiet)

        // Reader thread: files in order → batches of raw documents.
        let queue = BlockingQueue<Item>(capacity: 3)
        // Written by the reader thread only, read after it has finished.
        let records = UncheckedSendable(RecordList())
        let readerDone = DispatchSemaphore(value: 0)
        let namespaces = Set(config.wikiNamespaces)
        let reader = Thread {
            var batch: [(file: Int, raw: RawDocument)] = []
            var batchBytes = 0
            var doneBytes = 0
            for (index, file) in files.enumerated() {
                var record = InputRecord(path: file.path, bytes: file.bytes, sha256: unreadable, status: "ok", documents: 0)
                var hashing: HashingFileSource?
                var recordErrors = 0
                var source: ByteSource?
                var parquet: ParquetReader?
                let sink = ReaderSink(emit: { raw in
                    record.documents += 1
                    batch.append((index, raw))
                    switch raw.body {
                    case .text(let b), .html(let b): batchBytes += b.count
                    case .wikitext(let s): batchBytes += s.utf8.count
                    }
                    if batch.count >= 1024 || batchBytes >= 16 << 20 {
                        let consumed = parquet?.bytesRead ?? source?.bytesConsumed ?? 0
                        queue.put(.batch(batch, bytesRead: doneBytes + min(consumed, file.bytes)))
                        batch = []; batchBytes = 0
                    }
                }, recordError: { message in
                    recordErrors += 1
                    if record.error == nil { record.error = message }
                    if !options.quiet && recordErrors <= 5 { logLine("ingest: \(message)") }
                }, record: { type, skipped in
                    record.records?[type, default: 0] += 1
                    if let skipped { record.skippedRecords?[skipped, default: 0] += 1 }
                })
                do {
                    if let problem = file.input.problem { throw RepriseError("\(file.path): \(problem)") }
                    hashing = HashingFileSource(try file.input.isStandardInput
                        ? FileSource(standardInput: file.path)
                        : FileSource(regularFile: file.input.path, name: file.path))
                    let opened = try InputFiles.open(hashing!, path: file.path, readAhead: options.threads >= 2)
                    source = opened.source
                    record.kind = opened.kind
                    record.compression = opened.compression
                    if opened.kind == .warc { record.records = [:]; record.skippedRecords = [:] }
                    if opened.kind == .parquet {
                        // Read with random access; the hashing source still covers the whole file, since
                        // finishHex() below reads what it has not seen yet.
                        if file.input.isStandardInput {
                            throw RepriseError("\(file.path): a Parquet file cannot be read from standard input (its footer is read from the end); give its path")
                        }
                        parquet = try ParquetReader(path: file.path, rawPath: file.input.path, textColumns: config.textField,
                                                    idColumn: config.idField.isEmpty ? nil : config.idField, maxBytes: config.maxDocBytes)
                        try parquet!.read(sink: sink)
                    } else {
                        try readDocuments(opened.source, kind: opened.kind, path: file.path, config: config,
                                          namespaces: namespaces, sink: sink)
                    }
                } catch {
                    record.error = error.oneLine
                    record.status = "failed"
                    if !options.quiet { logLine("ingest: \(error.oneLine)") }
                }
                if let h = hashing {
                    do {
                        // A regular file ends; standard input need not, so it is drained only so far.
                        if let hex = try h.finishHex(limit: file.input.isStandardInput ? config.maxDocBytes : .max) {
                            record.sha256 = hex
                        } else {
                            record.status = "failed"
                            if record.error == nil {
                                record.error = "\(file.path): more than max_doc_bytes (\(config.maxDocBytes)) left after the last document; the rest was not read"
                                if !options.quiet { logLine("ingest: \(record.error!)") }
                            }
                        }
                    } catch {
                        if record.error == nil { record.error = error.oneLine }
                        record.status = "failed"
                    }
                    if file.input.isStandardInput { record.bytes = h.bytesConsumed }
                }
                if recordErrors > 0 {
                    record.status = "failed"
                    record.recordErrors = recordErrors
                    if !options.quiet && recordErrors > 5 { logLine("ingest: \(file.path): \(recordErrors) bad records in all") }
                }
                doneBytes += file.bytes
                records.value.items.append(record)
            }
            if !batch.isEmpty { queue.put(.batch(batch, bytesRead: doneBytes)) }
            queue.close()
            readerDone.signal()
        }
        reader.stackSize = 8 << 20
        reader.start()

        // Workers clean each batch in parallel; the caller sees the documents in input order.
        let cleaner = Cleaner(config)
        var read = 0
        var failure: Error?
        while let item = queue.take() {
            guard case .batch(let batch, let bytesRead) = item else { continue }
            if failure != nil { continue } // drain so the reader can finish
            var cleaned = [CleanedDocument?](repeating: nil, count: batch.count)
            cleaned.withUnsafeMutableBufferPointer { out in
                parallelFor(batch.count, threads: options.threads) { i in
                    out[i] = cleaner.clean(batch[i].raw, source: files[batch[i].file].path)
                }
            }
            do {
                for (i, doc) in cleaned.enumerated() {
                    read += 1
                    try body(batch[i].file, doc!)
                }
            } catch {
                failure = error
            }
            progress.update(items: read, itemName: "docs", bytes: bytesRead)
        }
        readerDone.wait()
        if let failure { throw failure }
        progress.finish(items: read, itemName: "docs", bytes: totalBytes)
        return records.value.items
    }
}

/// The ordered half of ingest: deduplicates documents in input order, counts every decision and writes the
/// output files and the manifest. `Ingest.run` feeds it straight from the cleaning workers; the merge of a
/// partitioned run feeds it the tasks' cleaned documents in the same global order, so both write the same
/// bytes.
final class IngestWriter {
    let output: String
    let config: IngestConfig
    private let stage: StageOutput
    private let dedup: DuplicateChecker
    private let docs: RotatingJSONLWriter
    private let excluded: RotatingJSONLWriter
    private(set) var counts = IngestCounts()

    /// Prepares `output`: the old manifest goes first, so an interrupted run is never mistaken for a complete
    /// one, then the old output files and the temporary files of killed runs.
    init(output: String, config: IngestConfig, dedup: DuplicateChecker? = nil) throws {
        self.output = output
        self.config = config
        stage = try StageOutput.open(output, owns: Ingest.isOutputName)
        self.dedup = dedup ?? Deduplicator(config.dedup)
        docs = RotatingJSONLWriter(dir: output, prefix: "docs", perFile: config.docsPerFile, level: config.zstdLevel)
        excluded = RotatingJSONLWriter(dir: output, prefix: "excluded", perFile: config.docsPerFile, level: config.zstdLevel)
    }

    /// Decides one document (the next in input order) and writes it; returns true when it is kept.
    @discardableResult
    func add(_ cleaned: CleanedDocument) throws -> Bool {
        var doc = cleaned
        counts.read += 1
        counts.invalidUTF8Sequences += doc.invalidSequences
        counts.controlCharactersRemoved += doc.controlsRemoved
        if doc.htmlDepthTruncated { counts.htmlDepthTruncated = (counts.htmlDepthTruncated ?? 0) + 1 }
        var duplicateOf: String?
        if doc.dropReason == nil, let dup = try dedup.check(id: doc.id, keys: doc.keys) {
            doc.dropReason = dup.reason
            duplicateOf = dup.duplicateOf
        }
        if let reason = doc.dropReason {
            counts.dropped[reason, default: 0] += 1
            try excluded.write(Records.excluded(doc, reason: reason, duplicateOf: duplicateOf))
            return false
        }
        counts.kept += 1
        counts.keptBytes += doc.text.utf8.count
        try docs.write(doc.keptRecord ?? Records.kept(doc))
        return true
    }

    /// Closes the output files and writes the manifest, last and atomically.
    func finish(inputs: [InputRecord], missing: [String], skippedLinks: [String]) throws -> IngestManifest {
        let manifest = IngestManifest(
            config: config, configHash: try CanonicalJSON.hash(config),
            inputHash: Ingest.inputHash(inputs.map { ($0.path, $0.sha256) }, missing: missing),
            inputs: inputs, missingInputs: missing, skippedLinks: skippedLinks.isEmpty ? nil : skippedLinks, counts: counts,
            outputs: try docs.finish(), excluded: try excluded.finish())
        try stage.finish(manifest)
        return manifest
    }
}

final class RecordList { var items: [InputRecord] = [] }

/// The JSON lines of the output files.
enum Records {
    /// `{"id", "text", "source", "title"?, metadata...}`; metadata keys that clash with these get an
    /// `input_` prefix.
    static func kept(_ doc: CleanedDocument) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(doc.text.utf8.count + 256)
        out += Array("{\"id\":".utf8); JSONBytes.appendString(doc.id, to: &out)
        out += Array(",\"text\":".utf8); JSONBytes.appendString(doc.text, to: &out)
        out += Array(",\"source\":".utf8); JSONBytes.appendString(doc.source, to: &out)
        appendTail(doc, reserved: ["id", "text", "source"], to: &out)
        out += Array("}\n".utf8)
        return out
    }

    /// `{"id", "reason", "source", "text", "duplicate_of"?, "bytes"?, "title"?, metadata...}`.
    static func excluded(_ doc: CleanedDocument, reason: String, duplicateOf: String?) -> [UInt8] {
        var out: [UInt8] = []
        out += Array("{\"id\":".utf8); JSONBytes.appendString(doc.id, to: &out)
        out += Array(",\"reason\":".utf8); JSONBytes.appendString(reason, to: &out)
        out += Array(",\"source\":".utf8); JSONBytes.appendString(doc.source, to: &out)
        out += Array(",\"text\":".utf8); JSONBytes.appendString(doc.text, to: &out)
        if let d = duplicateOf { out += Array(",\"duplicate_of\":".utf8); JSONBytes.appendString(d, to: &out) }
        if let b = doc.originalBytes { out += Array(",\"bytes\":\(b)".utf8) }
        appendTail(doc, reserved: ["id", "reason", "source", "text", "duplicate_of", "bytes"], to: &out)
        out += Array("}\n".utf8)
        return out
    }

    private static func appendTail(_ doc: CleanedDocument, reserved: Set<String>, to out: inout [UInt8]) {
        var reserved = reserved
        if let t = doc.title {
            out += Array(",\"title\":".utf8); JSONBytes.appendString(t, to: &out)
            reserved.insert("title")
        }
        for (key, json) in doc.metadata {
            out.append(0x2C)
            JSONBytes.appendString(reserved.contains(key) ? "input_" + key : key, to: &out)
            out.append(0x3A)
            out += json
        }
    }
}
