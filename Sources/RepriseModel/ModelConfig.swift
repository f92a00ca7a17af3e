import Foundation
import RepriseCore

/// The shape of a LLaMA-style decoder: token embedding, `layers` pre-norm blocks (RMSNorm, multi-head
/// attention with RoPE, RMSNorm, SwiGLU MLP), final RMSNorm, output head tied to the embedding by default.
/// Attention is causal or bidirectional per call (same weights), so it is not part of the config.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    /// Model width C.
    public var dim: Int
    public var layers: Int
    /// Attention heads H; every head has `dim / heads` channels (no grouped-query attention).
    public var heads: Int
    /// SwiGLU hidden size F.
    public var ffnHidden: Int
    /// Longest sequence the model is trained on (RoPE tables and activation buffers are sized by it).
    public var context: Int
    public var ropeTheta: Double
    public var normEps: Double
    /// Output head = embedding matrix (no separate `lm_head.weight`).
    public var tiedEmbeddings: Bool

    public init(vocabSize: Int, dim: Int, layers: Int, heads: Int, ffnHidden: Int? = nil, context: Int,
                ropeTheta: Double = 10000, normEps: Double = 1e-5, tiedEmbeddings: Bool = true) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.ffnHidden = ffnHidden ?? Self.defaultFFNHidden(dim: dim)
        self.context = context
        self.ropeTheta = ropeTheta
        self.normEps = normEps
        self.tiedEmbeddings = tiedEmbeddings
    }

    public var headDim: Int { dim / heads }

    /// About 8/3 of the width (LLaMA's SwiGLU size, which keeps the MLP's parameters at 8·C² like a
    /// 4·C GELU MLP), rounded up to a multiple of 64.
    public static func defaultFFNHidden(dim: Int) -> Int {
        let raw = (8 * dim + 2) / 3
        return (raw + 63) / 64 * 64
    }

    // MARK: presets

    /// For tests and the default pipeline: 4 layers, 128 wide, 4 heads, context 256 (F = 384); the context
    /// fits `reprise pack`'s default sequence length.
    public static func tiny(vocabSize: Int) -> ModelConfig {
        ModelConfig(vocabSize: vocabSize, dim: 128, layers: 4, heads: 4, context: 256)
    }

    /// 6 layers, 256 wide, 4 heads, context 256 (F = 704).
    public static func small(vocabSize: Int) -> ModelConfig {
        ModelConfig(vocabSize: vocabSize, dim: 256, layers: 6, heads: 4, context: 256)
    }

    public static let presetNames = ["tiny", "small"]

    public static func preset(_ name: String, vocabSize: Int) -> ModelConfig? {
        switch name {
        case "tiny": return tiny(vocabSize: vocabSize)
        case "small": return small(vocabSize: vocabSize)
        default: return nil
        }
    }

    // MARK: checks and sizes

    /// Throws with the offending field when the shape cannot be built.
    public func validate() throws {
        func need(_ ok: Bool, _ message: String) throws { if !ok { throw RepriseError("model config: \(message)") } }
        try need(vocabSize > 0 && vocabSize <= Int(Int32.max), "vocab_size must be in 1...\(Int32.max), got \(vocabSize)")
        try need(dim > 0, "dim must be positive, got \(dim)")
        try need(layers > 0, "layers must be positive, got \(layers)")
        try need(heads > 0 && dim % heads == 0, "heads must divide dim (\(dim)), got \(heads)")
        try need(headDim % 2 == 0, "dim / heads must be even for RoPE, got \(headDim)")
        try need(ffnHidden > 0, "ffn_hidden must be positive, got \(ffnHidden)")
        try need(context > 0, "context must be positive, got \(context)")
        try need(ropeTheta > 0 && ropeTheta.isFinite, "rope_theta must be positive, got \(ropeTheta)")
        try need(normEps > 0 && normEps.isFinite, "norm_eps must be positive, got \(normEps)")
    }

    /// Number of Float parameters (the length of the flat parameter buffer).
    public var parameterCount: Int { ParameterLayout(self).count }

    /// Parameters whose products are FLOPs: everything but the embedding table, plus the output head
    /// (which is the embedding table itself when tied).
    public var matmulParameterCount: Int {
        let perLayer = 4 * dim * dim + 3 * dim * ffnHidden
        return layers * perLayer + vocabSize * dim
    }

    /// Training FLOPs per token (forward + backward) at sequence length `seqLen`, as in PaLM's MFU
    /// definition: 6 per matmul parameter plus 12·L·C·T for the attention scores and the weighted sum
    /// (counted in full even when causal, which is also what the kernels compute).
    public func trainingFlopsPerToken(seqLen: Int) -> Double {
        6 * Double(matmulParameterCount) + 12 * Double(layers) * Double(dim) * Double(seqLen)
    }

    // MARK: JSON (Reprise's own form)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", dim, layers, heads, ffnHidden = "ffn_hidden", context
        case ropeTheta = "rope_theta", normEps = "norm_eps", tiedEmbeddings = "tied_embeddings"
    }

    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let dim = try c.decode(Int.self, forKey: .dim)
        self.init(vocabSize: try c.decode(Int.self, forKey: .vocabSize), dim: dim,
                  layers: try c.decode(Int.self, forKey: .layers), heads: try c.decode(Int.self, forKey: .heads),
                  ffnHidden: try c.decodeIfPresent(Int.self, forKey: .ffnHidden),
                  context: try c.decode(Int.self, forKey: .context),
                  ropeTheta: try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000,
                  normEps: try c.decodeIfPresent(Double.self, forKey: .normEps) ?? 1e-5,
                  tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? true)
    }
}

/// A model config file as a user writes it: every key optional; `preset` (tiny or small) gives the
/// defaults that the other keys override; `vocab_size` normally comes from the tokenizer. Unknown keys are
/// errors naming the key and the allowed ones.
///
///     {"preset": "small", "layers": 8, "context": 512}
public struct ModelConfigFile: Decodable, Sendable {
    public var preset: String?
    public var vocabSize: Int?
    public var dim: Int?
    public var layers: Int?
    public var heads: Int?
    public var ffnHidden: Int?
    public var context: Int?
    public var ropeTheta: Double?
    public var normEps: Double?
    public var tiedEmbeddings: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case preset, vocabSize = "vocab_size", dim, layers, heads, ffnHidden = "ffn_hidden", context
        case ropeTheta = "rope_theta", normEps = "norm_eps", tiedEmbeddings = "tied_embeddings"
    }

    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decodeIfPresent(String.self, forKey: .preset)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        dim = try c.decodeIfPresent(Int.self, forKey: .dim)
        layers = try c.decodeIfPresent(Int.self, forKey: .layers)
        heads = try c.decodeIfPresent(Int.self, forKey: .heads)
        ffnHidden = try c.decodeIfPresent(Int.self, forKey: .ffnHidden)
        context = try c.decodeIfPresent(Int.self, forKey: .context)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps)
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings)
    }

    /// The full config. `vocabSize` (from the tokenizer) is used when the file has none; when both are
    /// given they must agree. Without a preset, dim, layers, heads and context are required.
    public func resolve(vocabSize tokenizerVocab: Int?, name: String = "model config") throws -> ModelConfig {
        let vocab: Int
        switch (vocabSize, tokenizerVocab) {
        case let (file?, tok?) where file != tok:
            throw RepriseError("\(name): vocab_size \(file) differs from the tokenizer's \(tok); remove vocab_size or use the matching tokenizer")
        case let (file?, _): vocab = file
        case let (nil, tok?): vocab = tok
        case (nil, nil): throw RepriseError("\(name): no vocab_size and no tokenizer to take it from")
        }
        var config: ModelConfig
        if let preset {
            guard let p = ModelConfig.preset(preset, vocabSize: vocab) else {
                throw RepriseError("\(name): unknown preset '\(preset)'; known: \(ModelConfig.presetNames.joined(separator: ", "))")
            }
            config = p
        } else {
            func required(_ v: Int?, _ key: String) throws -> Int {
                guard let v else { throw RepriseError("\(name): '\(key)' is required without a preset") }
                return v
            }
            config = ModelConfig(vocabSize: vocab, dim: try required(dim, "dim"), layers: try required(layers, "layers"),
                                 heads: try required(heads, "heads"), context: try required(context, "context"))
        }
        if let dim {
            config.dim = dim
            if ffnHidden == nil { config.ffnHidden = ModelConfig.defaultFFNHidden(dim: dim) }
        }
        if let layers { config.layers = layers }
        if let heads { config.heads = heads }
        if let ffnHidden { config.ffnHidden = ffnHidden }
        if let context { config.context = context }
        if let ropeTheta { config.ropeTheta = ropeTheta }
        if let normEps { config.normEps = normEps }
        if let tiedEmbeddings { config.tiedEmbeddings = tiedEmbeddings }
        do { try config.validate() } catch { throw RepriseError("\(name): \(error.oneLine)") }
        return config
    }
}

extension ModelConfig {
    /// A preset name (`tiny`, `small`) or the path of a JSON config file (see `ModelConfigFile`).
    public static func load(presetOrPath spec: String, vocabSize: Int?) throws -> ModelConfig {
        if presetNames.contains(spec) {
            guard let vocabSize else { throw RepriseError("model preset '\(spec)' needs the vocabulary size (from the tokenizer)") }
            return preset(spec, vocabSize: vocabSize)!
        }
        guard FileManager.default.fileExists(atPath: spec) else {
            throw RepriseError("model '\(spec)' is neither a preset (\(presetNames.joined(separator: ", "))) nor a JSON file")
        }
        guard let data = FileManager.default.contents(atPath: spec) else { throw RepriseError("\(spec): cannot read") }
        let file: ModelConfigFile
        do { file = try JSONDecoder().decode(ModelConfigFile.self, from: data) } catch {
            throw RepriseError("\(spec): \(error.oneLine)")
        }
        return try file.resolve(vocabSize: vocabSize, name: spec)
    }
}
