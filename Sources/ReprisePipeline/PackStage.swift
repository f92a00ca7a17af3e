import Foundation
import RepriseCore
import RepriseIngest
import RepriseShards
import RepriseTokenizer

/// Settings of `reprise pack` and of a pipeline's `pack` stage.
public struct PackConfig: Codable, Sendable, Equatable {
    public var seqLen = 256
    public var valFraction = 0.01
    /// A shard is closed at the first document boundary after this many tokens.
    public var shardTokens = 1 << 24
    public var frameTokens = ShardFormat.defaultFrameTokens
    public var zstdLevel = 3

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case seqLen = "seq_len", valFraction = "val_fraction", shardTokens = "shard_tokens"
        case frameTokens = "frame_tokens", zstdLevel = "zstd_level"
    }
    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue), path: "pack")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PackConfig()
        seqLen = try c.decodeIfPresent(Int.self, forKey: .seqLen) ?? d.seqLen
        valFraction = try c.decodeIfPresent(Double.self, forKey: .valFraction) ?? d.valFraction
        shardTokens = try c.decodeIfPresent(Int.self, forKey: .shardTokens) ?? d.shardTokens
        frameTokens = try c.decodeIfPresent(Int.self, forKey: .frameTokens) ?? d.frameTokens
        zstdLevel = try c.decodeIfPresent(Int.self, forKey: .zstdLevel) ?? d.zstdLevel
        try validate()
    }

    public func validate() throws {
        if seqLen < 1 { throw RepriseError("pack.seq_len must be at least 1") }
        if !(0..<1).contains(valFraction) { throw RepriseError("pack.val_fraction must be in [0, 1)") }
        if shardTokens < 1 { throw RepriseError("pack.shard_tokens must be at least 1") }
        if frameTokens < 1 || frameTokens > 1 << 24 { throw RepriseError("pack.frame_tokens must be between 1 and \(1 << 24)") }
        if !(1...19).contains(zstdLevel) { throw RepriseError("pack.zstd_level must be between 1 and 19") }
    }
}

/// One shard as the dataset manifest lists it.
public struct ShardEntry: Codable, Sendable, Equatable {
    public var file: String
    public var tokens: Int
    public var documents: Int
    public var bytes: Int
    public var sha256: String
}

public struct SplitSummary: Codable, Sendable, Equatable {
    public var documents = 0
    public var tokens = 0
    /// Fixed windows of `seq_len` tokens over the split's packed stream, each with one more token after it
    /// for the shifted AR targets: ⌊(tokens − 1) / seq_len⌋.
    public var sequences = 0
    public var shards: [ShardEntry] = []
}

/// `manifest.json` of a shards directory.
public struct PackManifest: Codable, Sendable, Equatable {
    public var format = "reprise.shards"
    public var version = 1
    public var config: PackConfig
    public var configHash: String
    /// SHA-256 of the ingest manifest and of the tokenizer's tokenizer.tiktoken and manifest.
    public var inputHash: String
    public var ingestManifestSha256: String
    public var tokenizerSha256: String
    /// The directories the shards were made from, as given (a hint for `reprise inspect`).
    public var docsDir: String
    public var tokenizerDir: String
    public var vocabSize: Int
    public var dtype: String
    public var endOfTextId: UInt32
    public var train: SplitSummary
    public var val: SplitSummary

    enum CodingKeys: String, CodingKey {
        case format, version, config, dtype, train, val
        case configHash = "config_hash", inputHash = "input_hash", ingestManifestSha256 = "ingest_manifest_sha256"
        case tokenizerSha256 = "tokenizer_sha256", vocabSize = "vocab_size", endOfTextId = "end_of_text_id"
        case docsDir = "docs_dir", tokenizerDir = "tokenizer_dir"
    }
}

public enum PackStage {
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

    public static func inputHash(docs: String, tokenizer: String) throws -> (String, String, String) {
        let ingest = try IngestOutput.manifestHash(docs)
        var t = SHA256Stream()
        t.update(try Hashing.sha256Hex(file: tokenizer + "/tokenizer.tiktoken"))
        t.update(try Hashing.sha256Hex(file: tokenizer + "/manifest.json"))
        let tok = t.finalizeHex()
        return (Hashing.sha256Hex(ingest + "\n" + tok), ingest, tok)
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

    @discardableResult
    public static func pack(docs: String, tokenizer: String, output: String, config: PackConfig,
                            threads: Int = defaultThreadCount, quiet: Bool = false) throws -> PackManifest {
        try config.validate()
        let tok = try LoadedTokenizer.load(tokenizer)
        guard let eot = tok.model.specials[SpecialTokens.endOfText] else {
            throw RepriseError("\(tokenizer): the tokenizer has no \(SpecialTokens.endOfText) token to join documents with")
        }
        let (inputHash, ingestHash, tokHash) = try inputHash(docs: docs, tokenizer: tokenizer)
        let fm = FileManager.default
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        unlink(output + "/manifest.json")
        for name in try fm.contentsOfDirectory(atPath: output) where name.hasSuffix(".shard") || name.contains(".tmp-") {
            try fm.removeItem(atPath: output + "/" + name)
        }
        let dtype = ShardDType.forVocabulary(size: tok.model.vocabSize)
        let train = SplitWriter(dir: output, prefix: "train", dtype: dtype, config: config)
        let val = SplitWriter(dir: output, prefix: "val", dtype: dtype, config: config)
        let progress = Progress("pack", quiet: quiet)
        var batch: [(id: String, text: [UInt8])] = []
        var batchBytes = 0, done = 0, bytes = 0
        func flush() throws {
            // Encoding runs on all cores; documents are written in input order, so the bytes do not depend
            // on the thread count.
            let ids = tok.model.encodeBatch(documents: batch.map(\.text), threads: threads, split: tok.split)
            for (doc, tokens) in zip(batch, ids) {
                let target = isValidation(id: doc.id, fraction: config.valFraction) ? val : train
                try target.add(tokens + [eot])
            }
            done += batch.count
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            progress.update(items: done, itemName: "docs", bytes: bytes)
        }
        try IngestOutput.forEachDocument(docs) { id, text in
            batch.append((id, text))
            batchBytes += text.count
            bytes += text.count
            if batchBytes >= 32 << 20 { try flush() }
        }
        try flush()
        try train.close()
        try val.close()
        progress.finish(items: done, itemName: "docs", bytes: bytes)
        for split in [train, val] { split.summary.sequences = max(0, (split.summary.tokens - 1) / config.seqLen) }
        let manifest = PackManifest(
            config: config, configHash: try CanonicalJSON.hash(config), inputHash: inputHash,
            ingestManifestSha256: ingestHash, tokenizerSha256: tokHash, docsDir: docs, tokenizerDir: tokenizer,
            vocabSize: tok.model.vocabSize,
            dtype: dtype == .uint16 ? "uint16" : "uint32", endOfTextId: eot, train: train.summary, val: val.summary)
        try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: output + "/manifest.json")
        return manifest
    }

    public static func state(docs: String, tokenizer: String, output: String, config: PackConfig) throws -> PipelineRunner.StageState {
        try PipelineRunner.stageState(PackManifest.self, output: output, config: config,
                                      hashes: { ($0.configHash, $0.inputHash) },
                                      inputHash: { try inputHash(docs: docs, tokenizer: tokenizer).0 })
    }

    /// Training sequence `index` of a dataset: tokens [index·seq_len, (index+1)·seq_len + 1) of the split's
    /// packed stream (shards in order), read by decompressing only the frames it spans.
    public static func sequence(_ dir: String, index: Int, split: String = "train") throws -> [UInt32] {
        let m = try CanonicalJSON.decode(PackManifest.self, from: dir + "/manifest.json")
        let summary = split == "val" ? m.val : m.train
        guard index >= 0 && index < summary.sequences else {
            throw RepriseError("\(dir): sequence \(index) is out of range; the \(split) split has \(summary.sequences) sequences")
        }
        return try ShardDataset(paths: summary.shards.map { dir + "/" + $0.file }, seqLen: m.config.seqLen).sequence(index)
    }

    /// Checks every shard of a dataset against the manifest (size, SHA-256) and every frame (checksum,
    /// size). Returns one line per fault; empty when all is well.
    public static func verify(_ dir: String) throws -> (faults: [String], summary: String) {
        let path = dir + "/manifest.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw RepriseError("no manifest in \(dir)/: run `reprise pack` first")
        }
        let m = try CanonicalJSON.decode(PackManifest.self, from: path)
        var faults: [String] = []
        var tokens = 0, bytes = 0
        for entry in m.train.shards + m.val.shards {
            let file = dir + "/" + entry.file
            do {
                let s = try ShardReader.verify(path: file)
                if s.sha256 != entry.sha256 { faults.append("\(file): SHA-256 differs from the manifest") }
                if s.tokenCount != entry.tokens { faults.append("\(file): \(s.tokenCount) tokens, the manifest says \(entry.tokens)") }
                tokens += s.tokenCount
                bytes += s.byteSize
            } catch {
                faults.append(error.oneLine)
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
