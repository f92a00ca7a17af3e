import Foundation
import RepriseCore

/// One named tensor inside the flat parameter buffer.
public struct TensorSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case embedding, norm, projection, head
    }
    /// HuggingFace Llama name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let name: String
    /// Offset in Floats from the start of the buffer.
    public let offset: Int
    /// PyTorch shape: (out, in) for projections as in `nn.Linear`, (V, C) for the embedding.
    public let shape: [Int]
    public let kind: Kind
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
    /// Decoupled weight decay applies to 2-D projection weights (attention, MLP, untied head), never to
    /// norms or the embedding.
    public var decays: Bool { kind == .projection || kind == .head }
}

/// Offsets of one block's tensors. q, k, v are adjacent (one (3C, C) matrix for a single product), and so
/// are gate and up ((2F, C)).
public struct LayerOffsets: Sendable, Equatable {
    public let attnNorm, q, k, v, o, mlpNorm, gate, up, down: Int
}

/// Where every parameter lives in the one contiguous Float buffer, in HuggingFace Llama naming and order:
///
///     model.embed_tokens.weight                          (V, C)
///     model.layers.{i}.input_layernorm.weight            (C)
///     model.layers.{i}.self_attn.{q,k,v,o}_proj.weight   (C, C) each
///     model.layers.{i}.post_attention_layernorm.weight   (C)
///     model.layers.{i}.mlp.gate_proj.weight              (F, C)
///     model.layers.{i}.mlp.up_proj.weight                (F, C)
///     model.layers.{i}.mlp.down_proj.weight              (C, F)
///     model.norm.weight                                  (C)
///     lm_head.weight                                     (V, C)   only when untied
///
/// Gradients and optimizer moments use the same layout.
public struct ParameterLayout: Sendable, Equatable {
    public let config: ModelConfig
    public let tensors: [TensorSpec]
    public let embedding: Int
    public let layers: [LayerOffsets]
    public let finalNorm: Int
    /// The output head's offset: the embedding's when tied.
    public let head: Int
    /// Total Floats.
    public let count: Int

    public init(_ config: ModelConfig) {
        let V = config.vocabSize, C = config.dim, F = config.ffnHidden
        var tensors: [TensorSpec] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], _ kind: TensorSpec.Kind) -> Int {
            let t = TensorSpec(name: name, offset: offset, shape: shape, kind: kind)
            tensors.append(t)
            offset += t.count
            return t.offset
        }
        embedding = add("model.embed_tokens.weight", [V, C], .embedding)
        var layers: [LayerOffsets] = []
        for i in 0..<config.layers {
            let p = "model.layers.\(i)."
            let attnNorm = add(p + "input_layernorm.weight", [C], .norm)
            let q = add(p + "self_attn.q_proj.weight", [C, C], .projection)
            let k = add(p + "self_attn.k_proj.weight", [C, C], .projection)
            let v = add(p + "self_attn.v_proj.weight", [C, C], .projection)
            let o = add(p + "self_attn.o_proj.weight", [C, C], .projection)
            let mlpNorm = add(p + "post_attention_layernorm.weight", [C], .norm)
            let gate = add(p + "mlp.gate_proj.weight", [F, C], .projection)
            let up = add(p + "mlp.up_proj.weight", [F, C], .projection)
            let down = add(p + "mlp.down_proj.weight", [C, F], .projection)
            layers.append(LayerOffsets(attnNorm: attnNorm, q: q, k: k, v: v, o: o, mlpNorm: mlpNorm, gate: gate, up: up, down: down))
        }
        finalNorm = add("model.norm.weight", [C], .norm)
        head = config.tiedEmbeddings ? embedding : add("lm_head.weight", [V, C], .head)
        self.config = config
        self.tensors = tensors
        self.layers = layers
        self.count = offset
    }

    public func tensor(named name: String) -> TensorSpec? { tensors.first { $0.name == name } }

    /// The named tensor inside a buffer with this layout (parameters, gradients, moments).
    public func view(_ name: String, in buffer: FloatBuffer) -> UnsafeMutableBufferPointer<Float> {
        guard let t = tensor(named: name) else { preconditionFailure("no tensor named \(name)") }
        precondition(buffer.count == count, "buffer does not have this layout")
        return UnsafeMutableBufferPointer(start: buffer.pointer + t.offset, count: t.count)
    }

    /// Standard deviation of a tensor's initial values (norm weights start at 1 instead).
    /// Choice: GPT-2's scaled residual init. Every weight is N(0, 0.02²) except the two projections that
    /// write into the residual stream (o_proj, down_proj), whose std is 0.02 / sqrt(2·layers), so the
    /// residual stream's variance does not grow with depth at initialisation.
    public func initStd(_ t: TensorSpec) -> Double {
        if t.name.hasSuffix("o_proj.weight") || t.name.hasSuffix("down_proj.weight") {
            return 0.02 / (2 * Double(config.layers)).squareRoot()
        }
        return 0.02
    }

    /// Fills `params` deterministically from `seed`: each tensor draws from its own SplitMix64 stream
    /// (seeded by the seed and the tensor's index), normals by Box–Muller in Double; norms are 1. The same
    /// seed gives the same bits on every machine and thread count.
    public func initialize(_ params: FloatBuffer, seed: UInt64) {
        precondition(params.count == count)
        for (index, t) in tensors.enumerated() {
            let p = params.pointer + t.offset
            if t.kind == .norm {
                p.update(repeating: 1, count: t.count)
                continue
            }
            var rng = SplitMix64(seed: Hashing.mix64(seed ^ Hashing.mix64(UInt64(index))))
            let std = initStd(t)
            var i = 0
            while i < t.count {
                let u1 = rng.unitAboveZero()   // (0, 1]
                let u2 = rng.unit()
                let r = (-2 * log(u1)).squareRoot() * std
                p[i] = Float(r * cos(2 * Double.pi * u2))
                if i + 1 < t.count { p[i + 1] = Float(r * sin(2 * Double.pi * u2)) }
                i += 2
            }
        }
    }
}
