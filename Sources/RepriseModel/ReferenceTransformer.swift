import Foundation

/// The whole model in Double with plain loops, built from the reference kernels: the tests compare the
/// fast Float model with it and take finite differences of it (accurate to ~1e-9 in Double) to check
/// every gradient of the fast backward pass.
enum ReferenceTransformer {
    /// y (N, out) = x (N, in) · Wᵀ, W (out, in) as in PyTorch's Linear.
    static func linear(_ x: [Double], _ w: ArraySlice<Double>, rows N: Int, inDim: Int, outDim: Int) -> [Double] {
        var y = [Double](repeating: 0, count: N * outDim)
        let base = w.startIndex
        for n in 0..<N {
            for o in 0..<outDim {
                var acc = 0.0
                for i in 0..<inDim { acc += x[n * inDim + i] * w[base + o * inDim + i] }
                y[n * outDim + o] = acc
            }
        }
        return y
    }

    /// forward from token ids or input embeddings (B, T, C) → logits (B, T, V) and the final hidden
    /// state (B, T, C).
    static func forward(config: ModelConfig, params: [Double], tokens: [Int32]?, embeddings: [Double]? = nil,
                        batch B: Int, seq T: Int, causal: Bool) -> (logits: [Double], hidden: [Double]) {
        let layout = ParameterLayout(config)
        let C = config.dim, F = config.ffnHidden, H = config.heads, D = config.headDim, V = config.vocabSize
        let N = B * T
        func slice(_ offset: Int, _ count: Int) -> ArraySlice<Double> { params[offset..<(offset + count)] }
        var x: [Double]
        if let embeddings {
            x = embeddings
        } else {
            x = []
            for id in tokens! { x += slice(layout.embedding + Int(id) * C, C) }
        }
        for p in layout.layers {
            let ln1 = RMSNorm.forwardReference(x: x, weight: Array(slice(p.attnNorm, C)), rows: N, dim: C, eps: config.normEps).out
            var qkv = linear(ln1, slice(p.q, 3 * C * C), rows: N, inDim: C, outDim: 3 * C)
            for n in 0..<N {
                for h in 0..<(2 * H) {
                    let start = n * 3 * C + h * D
                    let rotated = RoPE.rotateReference(Array(qkv[start..<(start + D)]), position: n % T, theta: config.ropeTheta)
                    qkv.replaceSubrange(start..<(start + D), with: rotated)
                }
            }
            let y = Attention.forwardReference(qkv: qkv, batch: B, seq: T, heads: H, headDim: D, causal: causal).out
            let o = linear(y, slice(p.o, C * C), rows: N, inDim: C, outDim: C)
            for i in 0..<(N * C) { x[i] += o[i] }
            let ln2 = RMSNorm.forwardReference(x: x, weight: Array(slice(p.mlpNorm, C)), rows: N, dim: C, eps: config.normEps).out
            let gu = linear(ln2, slice(p.gate, 2 * F * C), rows: N, inDim: C, outDim: 2 * F)
            let act = SwiGLU.forwardReference(gu: gu, rows: N, hidden: F)
            let down = linear(act, slice(p.down, C * F), rows: N, inDim: F, outDim: C)
            for i in 0..<(N * C) { x[i] += down[i] }
        }
        let hidden = RMSNorm.forwardReference(x: x, weight: Array(slice(layout.finalNorm, C)), rows: N, dim: C, eps: config.normEps).out
        let logits = linear(hidden, slice(layout.head, V * C), rows: N, inDim: C, outDim: V)
        return (logits, hidden)
    }
}
