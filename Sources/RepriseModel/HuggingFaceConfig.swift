import Foundation
import RepriseCore

/// `config.json` in HuggingFace's LlamaConfig form, so that transformers loads an exported model as
/// `LlamaForCausalLM` (checked by Tools/model/make_fixtures.py, which builds its model from the same JSON).
extension ModelConfig {
    /// The keys and values of the HuggingFace config; bos/eos ids come from the tokenizer when known.
    public func huggingFaceConfig(bosTokenId: Int? = nil, eosTokenId: Int? = nil) -> [String: Any] {
        var d: [String: Any] = [
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": dim,
            "intermediate_size": ffnHidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "head_dim": headDim,
            "max_position_embeddings": context,
            "rms_norm_eps": normEps,
            "rope_theta": ropeTheta,
            "vocab_size": vocabSize,
            "tie_word_embeddings": tiedEmbeddings,
            "hidden_act": "silu",
            "torch_dtype": "float32",
            "attention_bias": false,
            "mlp_bias": false,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
        ]
        if let bosTokenId { d["bos_token_id"] = bosTokenId }
        if let eosTokenId { d["eos_token_id"] = eosTokenId }
        return d
    }

    /// The HuggingFace config as canonical JSON bytes (sorted keys, pretty printed, trailing newline).
    public func huggingFaceConfigJSON(bosTokenId: Int? = nil, eosTokenId: Int? = nil) throws -> [UInt8] {
        let data = try JSONSerialization.data(withJSONObject: huggingFaceConfig(bosTokenId: bosTokenId, eosTokenId: eosTokenId),
                                              options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return Array(data) + [0x0A]
    }

    /// Reads a HuggingFace LlamaConfig. Keys this model does not use are ignored (HF configs carry many),
    /// but every setting that would change the computation must match what this model implements.
    /// Missing keys take LlamaConfig's defaults (rms_norm_eps 1e-6, rope_theta 10000, untied head).
    public static func fromHuggingFace(json data: Data, name: String = "config.json") throws -> ModelConfig {
        let hf: HFLlamaConfig
        do { hf = try JSONDecoder().decode(HFLlamaConfig.self, from: data) } catch {
            throw RepriseError("\(name): not a LlamaConfig: \(error.oneLine)")
        }
        func unsupported(_ message: String) -> RepriseError {
            RepriseError("\(name): \(message); Reprise models implement plain Llama only")
        }
        if let type = hf.model_type, type != "llama" { throw unsupported("model_type is '\(type)'") }
        if let act = hf.hidden_act, act != "silu" { throw unsupported("hidden_act is '\(act)'") }
        if hf.attention_bias == true { throw unsupported("attention_bias is true") }
        if hf.mlp_bias == true { throw unsupported("mlp_bias is true") }
        if hf.rope_scaling != nil { throw unsupported("rope_scaling is set") }
        if let kv = hf.num_key_value_heads, kv != hf.num_attention_heads {
            throw unsupported("num_key_value_heads differs from num_attention_heads (grouped-query attention)")
        }
        if let hd = hf.head_dim, hd * hf.num_attention_heads != hf.hidden_size {
            throw unsupported("head_dim is not hidden_size / num_attention_heads")
        }
        // transformers 5 writes RoPE settings as rope_parameters {rope_type, rope_theta}.
        if let type = hf.rope_parameters?.rope_type, type != "default" { throw unsupported("rope_type is '\(type)'") }
        let config = ModelConfig(vocabSize: hf.vocab_size, dim: hf.hidden_size, layers: hf.num_hidden_layers,
                                 heads: hf.num_attention_heads, ffnHidden: hf.intermediate_size,
                                 context: hf.max_position_embeddings,
                                 ropeTheta: hf.rope_parameters?.rope_theta ?? hf.rope_theta ?? 10000,
                                 normEps: hf.rms_norm_eps ?? 1e-6,
                                 tiedEmbeddings: hf.tie_word_embeddings ?? false)
        do { try config.validate() } catch { throw RepriseError("\(name): \(error.oneLine)") }
        return config
    }
}

/// The LlamaConfig fields Reprise reads (snake_case as in the file).
private struct HFLlamaConfig: Decodable {
    struct RopeParameters: Decodable { var rope_type: String?; var rope_theta: Double? }
    struct AnyJSON: Decodable {}
    var model_type: String?
    var hidden_act: String?
    var vocab_size: Int
    var hidden_size: Int
    var intermediate_size: Int
    var num_hidden_layers: Int
    var num_attention_heads: Int
    var num_key_value_heads: Int?
    var head_dim: Int?
    var max_position_embeddings: Int
    var rms_norm_eps: Double?
    var rope_theta: Double?
    var rope_parameters: RopeParameters?
    var rope_scaling: AnyJSON?
    var tie_word_embeddings: Bool?
    var attention_bias: Bool?
    var mlp_bias: Bool?
}
