import Foundation
import RepriseCore

// The dataset manifest (`manifest.json` of a shards directory) and the packing settings it records. They
// live with the shard format because every reader of a dataset (schedules, trainers, tools) needs them.

/// Settings of `reprise pack` and of a pipeline's `pack` stage.
public struct PackConfig: KeyedConfig, Sendable, Equatable {
    public var seqLen = 256
    public var valFraction = 0.01
    /// A shard is closed at the first document boundary after this many tokens.
    public var shardTokens = 1 << 24
    public var frameTokens = ShardFormat.defaultFrameTokens
    public var zstdLevel = 3

    public init() {}
    public static let section: String? = "pack"
    public static let keys: [ConfigKey<Self>] = [
        .value("seq_len", \.seqLen), .value("val_fraction", \.valFraction), .value("shard_tokens", \.shardTokens),
        .value("frame_tokens", \.frameTokens), .value("zstd_level", \.zstdLevel),
    ]



    public func validate() throws {
        if seqLen < 1 || seqLen > 1 << 24 { throw RepriseError("pack.seq_len must be between 1 and \(1 << 24) (got \(seqLen))") }
        if !(0..<1).contains(valFraction) { throw RepriseError("pack.val_fraction must be in [0, 1) (got \(valFraction))") }
        if shardTokens < 1 || shardTokens > 1 << 40 { throw RepriseError("pack.shard_tokens must be between 1 and \(1 << 40) (got \(shardTokens))") }
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

    public init(file: String, tokens: Int, documents: Int, bytes: Int, sha256: String) {
        self.file = file; self.tokens = tokens; self.documents = documents; self.bytes = bytes; self.sha256 = sha256
    }
}

public struct SplitSummary: Codable, Sendable, Equatable {
    public var documents = 0
    public var tokens = 0
    /// Fixed windows of `seq_len` tokens over the split's packed stream, each with one more token after it
    /// for the shifted AR targets: ⌊(tokens − 1) / seq_len⌋.
    public var sequences = 0
    public var shards: [ShardEntry] = []

    public init() {}
}

/// `manifest.json` of a shards directory.
public struct PackManifest: Codable, Sendable, Equatable {
    public var format = "reprise.shards"
    public var version = 1
    public var config: PackConfig
    /// SHA-256 of the config's canonical JSON.
    public var configHash: String
    /// SHA-256 of the ingest manifest and of the tokenizer's tokenizer.tiktoken and manifest.
    public var inputHash: String
    public var ingestManifestSha256: String
    public var tokenizerSha256: String
    /// The directories the shards were made from, as given (a hint for `reprise inspect`).
    public var docsDir: String
    public var tokenizerDir: String
    public var vocabSize: Int
    /// The width of stored token ids: `uint16` when the vocabulary fits in 16 bits, else `uint32`.
    public var dtype: String
    /// The id that joins documents in the packed stream.
    public var endOfTextId: UInt32
    /// The two splits, each document in one by a stable hash of its id.
    public var train: SplitSummary
    public var val: SplitSummary

    public init(config: PackConfig, configHash: String, inputHash: String, ingestManifestSha256: String,
                tokenizerSha256: String, docsDir: String, tokenizerDir: String, vocabSize: Int, dtype: String,
                endOfTextId: UInt32, train: SplitSummary, val: SplitSummary) {
        self.config = config; self.configHash = configHash; self.inputHash = inputHash
        self.ingestManifestSha256 = ingestManifestSha256; self.tokenizerSha256 = tokenizerSha256
        self.docsDir = docsDir; self.tokenizerDir = tokenizerDir; self.vocabSize = vocabSize; self.dtype = dtype
        self.endOfTextId = endOfTextId; self.train = train; self.val = val
    }

    enum CodingKeys: String, CodingKey {
        case format, version, config, dtype, train, val
        case configHash = "config_hash", inputHash = "input_hash", ingestManifestSha256 = "ingest_manifest_sha256"
        case tokenizerSha256 = "tokenizer_sha256", vocabSize = "vocab_size", endOfTextId = "end_of_text_id"
        case docsDir = "docs_dir", tokenizerDir = "tokenizer_dir"
    }

    /// When a split holds no sequence (training and evaluation need both), one line saying which and what
    /// to change; nil otherwise.
    public var emptySplitProblem: String? {
        let documents = train.documents + val.documents
        if val.sequences == 0 {
            return "the validation split holds no sequence of \(config.seqLen) tokens (\(val.documents) of \(documents) documents, \(val.tokens) tokens at val_fraction \(config.valFraction)): pack with a larger --val-fraction (val_fraction in a pipeline's pack config) or a shorter --seq-len"
        }
        if train.sequences == 0 {
            return "the training split holds no sequence of \(config.seqLen) tokens (\(train.documents) of \(documents) documents, \(train.tokens) tokens): pack more documents, a smaller --val-fraction or a shorter --seq-len"
        }
        return nil
    }
}

extension PackManifest: StageManifest {
    public var listedFiles: [(file: String, bytes: Int)] { (train.shards + val.shards).map { ($0.file, $0.bytes) } }

    /// Each split's totals are the sums over its shards, and its sequence count follows from its tokens.
    public var inconsistencies: [String] {
        var out: [String] = []
        let width = ShardDType.forVocabulary(size: vocabSize) == .uint16 ? "uint16" : "uint32"
        if dtype != width { out.append("dtype is \(dtype), for vocab_size \(vocabSize) = \(width)") }
        for (name, s) in [("train", train), ("val", val)] {
            let tokens = s.shards.reduce(0) { $0 &+ $1.tokens }
            if s.tokens != tokens { out.append("\(name).tokens is \(s.tokens), the sum over its shards = \(tokens)") }
            let documents = s.shards.reduce(0) { $0 &+ $1.documents }
            if s.documents != documents { out.append("\(name).documents is \(s.documents), the sum over its shards = \(documents)") }
            let sequences = max(0, (s.tokens &- 1) / max(1, config.seqLen))
            if s.sequences != sequences { out.append("\(name).sequences is \(s.sequences), (tokens - 1) / seq_len = \(sequences)") }
            if let bad = s.shards.first(where: { $0.tokens < 0 || $0.documents < 0 || $0.bytes < 0 }) {
                out.append("\(name): shard \(bad.file) has a negative count")
            }
        }
        return out
    }
}

extension PackManifest {
    /// The manifest of a shards directory, checked (`StageManifest`), with an error that says what to do
    /// when there is none.
    public static func load(_ dir: String) throws -> PackManifest {
        var manifest = try StageDirectory.load(PackManifest.self, dir: dir, format: "reprise.shards",
                                               missing: "run `reprise pack` first")
        manifest.docsDir = Paths.resolve(manifest.docsDir, against: dir)
        manifest.tokenizerDir = Paths.resolve(manifest.tokenizerDir, against: dir)
        return manifest
    }

    public func split(_ name: String) -> SplitSummary { name == "val" ? val : train }

    /// The shards of one split as a dataset of sequences of `config.seqLen` (+ 1) tokens. Each shard's
    /// token count, read from its index, must be the manifest's: a dataset is never read past its data.
    public func dataset(_ dir: String, split name: String, cacheFrames: Int = 2) throws -> ShardDataset {
        let shards = split(name).shards
        let dataset = try ShardDataset(paths: shards.map { dir + "/" + $0.file }, seqLen: config.seqLen,
                                       cacheFrames: cacheFrames)
        for (entry, tokens) in zip(shards, dataset.shardTokenCounts) where tokens != entry.tokens {
            throw RepriseError("\(dir)/\(entry.file): \(tokens) tokens, the manifest says \(entry.tokens) (the manifest was edited, or the shard replaced); run `reprise pack` again")
        }
        return dataset
    }

    /// Opens every shard of both splits (their headers and indexes, not the frames) and checks their token
    /// counts against the manifest (see `dataset`).
    public func checkShards(_ dir: String) throws {
        for name in ["train", "val"] { _ = try dataset(dir, split: name, cacheFrames: 1) }
    }
}
