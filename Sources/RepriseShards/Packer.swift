import Foundation
import RepriseCore

/// What a dataset is packed from, as its manifest records it: the directories (stored relative to the
/// shards directory) and their identities.
public struct PackInputs: Sendable, Equatable {
    public var docs: String
    public var tokenizer: String
    /// SHA-256 of the document source's manifest.
    public var ingestManifestSha256: String
    /// The tokenizer's identity (SHA-256 over its vocabulary file's and manifest's SHA-256).
    public var tokenizerSha256: String

    public init(docs: String, tokenizer: String, ingestManifestSha256: String, tokenizerSha256: String) {
        self.docs = docs; self.tokenizer = tokenizer
        self.ingestManifestSha256 = ingestManifestSha256; self.tokenizerSha256 = tokenizerSha256
    }

    /// The dataset's `input_hash`: what makes it stale.
    public var inputHash: String { Hashing.sha256Hex(ingestManifestSha256 + "\n" + tokenizerSha256) }
}

/// Packing: documents' tokens into zstd-compressed, indexed, checksummed shards with a manifest (FORMAT.md),
/// reading a packed dataset's sequences back, and verifying one.
public enum Packer {
    /// True when a document belongs to the validation split: the first 8 bytes of SHA-256(id), read as a
    /// fraction of 2^64, fall below `fraction`. Depends on the id alone, so the split is stable as the corpus
    /// grows.
    public static func isValidation(id: String, fraction: Double) -> Bool {
        if fraction <= 0 { return false }
        let d = Hashing.sha256Bytes(id)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(d[i]) }
        return Double(v) / 18_446_744_073_709_551_616.0 < fraction
    }

    final class SplitWriter {
        let dir: String, prefix: String, dtype: ShardDType, config: PackConfig
        var writer: ShardWriter?
        var docsInShard = 0
        var summary = SplitSummary()
        init(dir: String, prefix: String, dtype: ShardDType, config: PackConfig) {
            self.dir = dir; self.prefix = prefix; self.dtype = dtype; self.config = config
        }
        func add(_ tokens: [UInt32]) throws {
            if writer == nil {
                let name = String(format: "%@-%05d.shard", prefix, summary.shards.count)
                writer = try ShardWriter(path: dir + "/" + name, dtype: dtype, frameTokens: config.frameTokens,
                                         level: Int32(config.zstdLevel))
            }
            try writer!.appendDocument(tokens)
            docsInShard += 1
            summary.documents += 1
            summary.tokens += tokens.count
            if writer!.tokenCount >= config.shardTokens { try close() }
        }
        func close() throws {
            guard let w = writer else { return }
            let s = try w.finish()
            summary.shards.append(ShardEntry(file: (s.path as NSString).lastPathComponent, tokens: s.tokenCount,
                                             documents: docsInShard, bytes: s.byteSize, sha256: s.sha256))
            writer = nil
            docsInShard = 0
        }
    }

    /// Encodes the documents `documents` hands over (id and UTF-8 text, in order) with `encode` (a batch of
    /// texts to their token ids; it may use every core) and writes the shards and the manifest. Each
    /// document's tokens end with `endOfText`; its id decides its split (`isValidation`). Documents are
    /// written in input order, so the bytes do not depend on how `encode` spreads its work.
    public static func pack(inputs: PackInputs, output: String, config: PackConfig, vocabSize: Int, endOfText eot: UInt32,
                            quiet: Bool = false,
                            documents: (_ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws -> Void,
                            encode: @escaping ([[UInt8]]) -> [[UInt32]]) throws -> PackManifest {
        try config.validate()
        let progress = Progress("pack", quiet: quiet)
        var done = 0, bytes = 0
        // `documents` is a parameter: the closure handed to it may only use `add` through withoutActuallyEscaping.
        let manifest = try assemble(inputs: inputs, output: output, config: config, vocabSize: vocabSize, endOfText: eot) { add in
            try withoutActuallyEscaping(add) { add in
                var batch: [(id: String, text: [UInt8])] = []
                var batchBytes = 0
                func flush() throws {
                    let ids = encode(batch.map(\.text))
                    for (doc, tokens) in zip(batch, ids) {
                        try add(tokens + [eot], isValidation(id: doc.id, fraction: config.valFraction))
                    }
                    done += batch.count
                    batch.removeAll(keepingCapacity: true)
                    batchBytes = 0
                    progress.update(items: done, itemName: "docs", bytes: bytes)
                }
                try documents { id, text in
                    batch.append((id, text))
                    batchBytes += text.count
                    bytes += text.count
                    if batchBytes >= 32 << 20 { try flush() }
                }
                try flush()
            }
        }
        progress.finish(items: done, itemName: "docs", bytes: bytes)
        return manifest
    }

    /// Writes the shards of the documents `feed` hands to `add` in order (each document's tokens, ending with
    /// the end-of-text id, and whether it belongs to the validation split), then the manifest, last. `pack`
    /// feeds it from the encoder; the merge of a partitioned run feeds it the tasks' encoded documents in the
    /// same order, so both write the same bytes.
    public static func assemble(inputs: PackInputs, output: String, config: PackConfig, vocabSize: Int,
                         endOfText eot: UInt32,
                         feed: (_ add: (_ tokens: [UInt32], _ validation: Bool) throws -> Void) throws -> Void) throws -> PackManifest {
        let stage = try StageOutput.open(output) { $0.hasSuffix(".shard") }
        let dtype = ShardDType.forVocabulary(size: vocabSize)
        let train = SplitWriter(dir: output, prefix: "train", dtype: dtype, config: config)
        let val = SplitWriter(dir: output, prefix: "val", dtype: dtype, config: config)
        try feed { tokens, validation in try (validation ? val : train).add(tokens) }
        try train.close()
        try val.close()
        for split in [train, val] { split.summary.sequences = max(0, (split.summary.tokens - 1) / config.seqLen) }
        let manifest = PackManifest(
            config: config, configHash: try CanonicalJSON.hash(config), inputHash: inputs.inputHash,
            ingestManifestSha256: inputs.ingestManifestSha256, tokenizerSha256: inputs.tokenizerSha256,
            docsDir: Paths.relative(inputs.docs, to: output), tokenizerDir: Paths.relative(inputs.tokenizer, to: output),
            vocabSize: vocabSize,
            dtype: dtype == .uint16 ? "uint16" : "uint32", endOfTextId: eot, train: train.summary, val: val.summary)
        try stage.finish(manifest)
        return manifest
    }

    /// Training sequence `index` of a dataset: tokens [index·seq_len, (index+1)·seq_len + 1) of the split's
    /// packed stream (shards in order), read by decompressing only the frames it spans.
    public static func sequence(_ dir: String, index: Int, split: String = "train") throws -> [UInt32] {
        let m = try PackManifest.load(dir)
        let summary = m.split(split)
        guard index >= 0 && index < summary.sequences else {
            throw RepriseError("\(dir): sequence \(index) is out of range; the \(split) split has \(summary.sequences) sequences")
        }
        return try m.dataset(dir, split: split).sequence(index)
    }

    /// Checks every shard of a dataset against the manifest (size, SHA-256, tokens and documents from the
    /// shard's own index) and every frame (checksum, size), the manifest's totals against each other and
    /// against what the shards hold. Returns one line per fault; empty when all is well.
    public static func verify(_ dir: String) throws -> (faults: [String], summary: String) {
        // Read unchecked: an inconsistent manifest is a fault to list with the others, not the end of it.
        try StageDirectory.check(dir, format: "reprise.shards", missing: "run `reprise pack` first")
        let path = StageOutput.manifestPath(dir)
        let m = try CanonicalJSON.decode(PackManifest.self, from: path)
        var faults = (m.badFileNames + m.inconsistencies).map { "\(path): \($0)" }
        var tokens = 0, bytes = 0
        for (name, split) in [("train", m.train), ("val", m.val)] {
            var held = 0, documents = 0, complete = true
            for entry in split.shards {
                let file = dir + "/" + entry.file
                do {
                    let s = try ShardReader.verify(path: file)
                    if s.sha256 != entry.sha256 { faults.append("\(file): SHA-256 differs from the manifest") }
                    if s.tokenCount != entry.tokens { faults.append("\(file): \(s.tokenCount) tokens, the manifest says \(entry.tokens)") }
                    if s.documentCount != entry.documents { faults.append("\(file): \(s.documentCount) documents, the manifest says \(entry.documents)") }
                    held += s.tokenCount
                    documents += s.documentCount
                    bytes += s.byteSize
                } catch {
                    faults.append(error.oneLine)
                    complete = false
                }
            }
            tokens += held
            guard complete else { continue }
            if held != split.tokens { faults.append("\(path): \(name).tokens is \(split.tokens), the tokens its shards hold = \(held)") }
            if documents != split.documents { faults.append("\(path): \(name).documents is \(split.documents), the documents its shards hold = \(documents)") }
            let sequences = max(0, (held - 1) / max(1, m.config.seqLen))
            if sequences != split.sequences {
                faults.append("\(path): \(name).sequences is \(split.sequences), (tokens its shards hold - 1) / seq_len = \(sequences)")
            }
        }
        let shards = m.train.shards.count + m.val.shards.count
        let ratio = bytes > 0 ? Double(tokens * (m.dtype == "uint16" ? 2 : 4)) / Double(bytes) : 0
        let summary = String(format: "%d shards, %d tokens (train %d, val %d), %d bytes, compression %.2fx, %@",
                             shards, tokens, m.train.tokens, m.val.tokens, bytes, ratio,
                             faults.isEmpty ? "all frames and hashes verified" : "\(faults.count) faults")
        return (faults, summary)
    }
}
