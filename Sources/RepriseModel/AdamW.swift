import Foundation
import RepriseCore

/// AdamW (Loshchilov & Hutter) with PyTorch's update order: decoupled weight decay p ← p·(1 − lr·wd) on
/// 2-D projection weights only (never norms or the embedding), then
///   m ← m + (1 − β1)(g − m),  v ← β2·v + (1 − β2)·g²,
///   p ← p − lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + ε).
/// The state (m, v, step) is public for checkpoints.
public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// First and second moments, in the parameter layout.
    public let m: FloatBuffer, v: FloatBuffer
    /// Updates done so far (the t of the bias corrections).
    public var step: Int = 0
    /// Fixed work units: (range of the flat buffer, decays?). Tensors are split into pieces of at most
    /// `chunk` floats so a few big matrices still spread over the threads.
    let pieces: [(range: Range<Int>, decays: Bool)]
    static let chunk = 1 << 15

    public init(layout: ParameterLayout, weightDecay: Float = 0.1, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        var pieces: [(Range<Int>, Bool)] = []
        for t in layout.tensors {
            var start = t.offset
            while start < t.range.upperBound {
                let end = min(t.range.upperBound, start + Self.chunk)
                pieces.append((start..<end, t.decays))
                start = end
            }
        }
        self.pieces = pieces
    }

    /// One update of `params` from `grads` at learning rate `lr`; increments `step`.
    public func update(params: FloatBuffer, grads: FloatBuffer, lr: Float, threads: Int) {
        precondition(params.count == m.count && grads.count == m.count)
        step += 1
        let c = Self.coefficients(step: step, lr: lr, weightDecay: weightDecay, beta1: beta1, beta2: beta2, eps: eps)
        let p = params.pointer, g = grads.pointer, mp = m.pointer, vp = v.pointer
        parallelFor(pieces.count, threads: threads) { i in
            let (range, decays) = pieces[i]
            Self.apply(c, range: range, decays: decays, params: p, grads: g, m: mp, v: vp)
        }
    }

    /// The scalars of one update: the betas and ε, lr over the first bias correction, the square root of the
    /// second, and the decay factor 1 − lr·wd.
    public struct Coefficients: Sendable {
        public var beta1: Float, beta2: Float, eps: Float
        public var stepSize: Float, bc2Sqrt: Float, decayFactor: Float
    }

    /// The coefficients of update number `step` (1-based) at learning rate `lr`.
    public static func coefficients(step: Int, lr: Float, weightDecay: Float, beta1: Float, beta2: Float, eps: Float) -> Coefficients {
        let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
        let bc2Sqrt = Float((1 - Foundation.pow(Double(beta2), Double(step))).squareRoot())
        return Coefficients(beta1: beta1, beta2: beta2, eps: eps, stepSize: lr / bc1, bc2Sqrt: bc2Sqrt,
                            decayFactor: 1 - lr * weightDecay)
    }

    /// The update of the elements `range` of a flat parameter set (with its gradients and moments): every
    /// AdamW update in the project, the model's and the Gaussian objective's extra parameters', is this loop.
    @inline(__always)
    public static func apply(_ c: Coefficients, range: Range<Int>, decays: Bool, params p: UnsafeMutablePointer<Float>,
                             grads g: UnsafeMutablePointer<Float>, m mp: UnsafeMutablePointer<Float>,
                             v vp: UnsafeMutablePointer<Float>) {
        let b1 = c.beta1, b2 = c.beta2, eps = c.eps, stepSize = c.stepSize, bc2Sqrt = c.bc2Sqrt
        let keep: Float = decays ? c.decayFactor : 1
        // A plain loop over unsafe pointers: the compiler vectorises it (sqrt and divide included).
        for j in range {
            let gj = g[j]
            let mj = mp[j] + (1 - b1) * (gj - mp[j])
            let vj = b2 * vp[j] + (1 - b2) * gj * gj
            mp[j] = mj
            vp[j] = vj
            p[j] = p[j] * keep - stepSize * mj / (vj.squareRoot() / bc2Sqrt + eps)
        }
    }

    // MARK: reference (Double, one element at a time)

    static func updateReference(p: inout [Double], g: [Double], m: inout [Double], v: inout [Double], decays: [Bool],
                                step t: Int, lr: Double, wd: Double, b1: Double, b2: Double, eps: Double) {
        for j in 0..<p.count {
            if decays[j] { p[j] *= 1 - lr * wd }
            m[j] = b1 * m[j] + (1 - b1) * g[j]
            v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
            let mhat = m[j] / (1 - Foundation.pow(b1, Double(t)))
            let vhat = v[j] / (1 - Foundation.pow(b2, Double(t)))
            p[j] -= lr * mhat / (vhat.squareRoot() + eps)
        }
    }
}

/// The global gradient norm and clipping (as `torch.nn.utils.clip_grad_norm_`).
public enum GradientClipping {
    static let chunk = 1 << 15

    /// sqrt(Σ g²) over the whole buffer: float partial sums over fixed chunks, combined in Double in
    /// chunk order (the same bits whatever the thread count).
    public static func globalNorm(_ grads: FloatBuffer, threads: Int) -> Double {
        let n = grads.count, g = grads.pointer
        let chunks = (n + chunk - 1) / chunk
        var partials = [Double](repeating: 0, count: chunks)
        partials.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            parallelChunks(n, chunk: chunk, threads: threads) { c, range in
                o[c] = Double(dot(g + range.lowerBound, g + range.lowerBound, range.count))
            }
        }
        return partials.reduce(0, +).squareRoot()
    }

    /// Scales the gradients so their global norm is at most `maxNorm`; returns the norm before clipping.
    /// Factor maxNorm / (norm + 1e-6) when below 1, as PyTorch does.
    @discardableResult
    public static func clip(_ grads: FloatBuffer, maxNorm: Double, threads: Int) -> Double {
        let norm = globalNorm(grads, threads: threads)
        let factor = maxNorm / (norm + 1e-6)
        if factor < 1 {
            let f = Float(factor), g = grads.pointer
            parallelChunks(grads.count, chunk: chunk, threads: threads) { _, range in
                for i in range { g[i] *= f }
            }
        }
        return norm
    }
}
