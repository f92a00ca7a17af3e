import Foundation
import RepriseCore

/// Multi-head scaled dot-product attention over a packed qkv (B, T, 3C) = [q | k | v], C = H·D, per head
/// P = softmax(q kᵀ / sqrt(D)) with an optional causal mask, out = P v.
/// One task per (batch, head); its products go through single-threaded sgemm (the tasks themselves fill
/// the cores), the softmax glue is vectorised. Causal attention works in blocks of `block` query rows and
/// skips the products above the diagonal: 37% fewer attention FLOPs at T = 256, and 3% less CPU time
/// per `small` training step (measured, best of 4 steps, twice).
enum Attention {
    static let block = 64

    /// forward: qkv (B, T, 3C) → out (B, T, C), probs (B, H, T, T) (kept for the backward pass; entries
    /// above the diagonal are 0 when causal).
    static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                        qkv: UnsafePointer<Float>, batch B: Int, seq T: Int, heads H: Int, headDim D: Int,
                        causal: Bool, threads: Int) {
        let C = H * D, ld = 3 * C
        let scale = 1 / Float(D).squareRoot()
        let rowsPerBlock = causal ? block : T
        parallelFor(B * H, threads: threads) { task in
            let b = task / H, h = task % H
            let q = qkv + b * T * ld + h * D, k = q + C, v = q + 2 * C
            let p = probs + task * T * T, o = out + b * T * C + h * D
            for r0 in stride(from: 0, to: T, by: rowsPerBlock) {
                let r1 = min(T, r0 + rowsPerBlock), cols = causal ? r1 : T
                // scores (r1−r0, cols) = scale · q[r0..<r1] (·, D) · k[0..<cols]ᵀ (D, cols)
                BLAS.gemm(transB: true, m: r1 - r0, n: cols, k: D, alpha: scale, a: q + r0 * ld, lda: ld, b: k, ldb: ld,
                          c: p + r0 * T, ldc: T)
                for t in r0..<r1 {
                    softmaxRow(p + t * T, valid: causal ? t + 1 : T, count: T)
                }
                // out[r0..<r1] (·, D) = P[r0..<r1, 0..<cols] · v[0..<cols] (cols, D)
                BLAS.gemm(m: r1 - r0, n: D, k: cols, a: p + r0 * T, lda: T, b: v, ldb: ld, c: o + r0 * C, ldc: C)
            }
        }
    }

    /// In place: the first `valid` entries become their softmax, the rest 0.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, valid n: Int, count: Int) {
        let m = V16(repeating: maxValue(row, n))
        var sum = V16()
        var i = 0
        while i + 16 <= n {
            let e = vexp(load16(row + i) - m)
            store16(e, row + i)
            sum += e
            i += 16
        }
        if i < n {
            let e = vexp(loadPartial(row + i, n - i, fill: -.infinity) - m)   // e^-inf = 0 in the unused lanes
            storePartial(e, row + i, n - i)
            sum += e
        }
        let inv = 1 / sum.sum()
        for j in 0..<n { row[j] *= inv }
        for j in n..<count { row[j] = 0 }
    }

    /// backward: dout (B, T, C), qkv (B, T, 3C), probs (B, H, T, T) → dqkv (B, T, 3C) (overwritten), the
    /// gradient with respect to the rotated q, k and v. `scratch` holds B·H·T·T floats.
    ///   dP = dout vᵀ,  dv = Pᵀ dout,  dS = P ⊙ (dP − rowsum(P ⊙ dP)) / sqrt(D),  dq = dS k,  dk = dSᵀ q.
    /// When causal, row blocks of dP and dq only reach the diagonal, and column blocks of dv and dk only
    /// sum over the rows at or below it.
    static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                         probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         batch B: Int, seq T: Int, heads H: Int, headDim D: Int, causal: Bool, threads: Int) {
        let C = H * D, ld = 3 * C
        let scale = 1 / Float(D).squareRoot()
        let rowsPerBlock = causal ? block : T
        parallelFor(B * H, threads: threads) { task in
            let b = task / H, h = task % H
            let q = qkv + b * T * ld + h * D, k = q + C, v = q + 2 * C
            let dq = dqkv + b * T * ld + h * D, dk = dq + C, dv = dq + 2 * C
            let p = probs + task * T * T, dp = scratch + task * T * T
            let dO = dout + b * T * C + h * D
            for r0 in stride(from: 0, to: T, by: rowsPerBlock) {
                let r1 = min(T, r0 + rowsPerBlock), cols = causal ? r1 : T
                // dP[r0..<r1, 0..<cols] = dout[r0..<r1] (·, D) · v[0..<cols]ᵀ
                BLAS.gemm(transB: true, m: r1 - r0, n: cols, k: D, a: dO + r0 * C, lda: C, b: v, ldb: ld, c: dp + r0 * T, ldc: T)
                for t in r0..<r1 {
                    softmaxBackwardRow(dp + t * T, p: p + t * T, valid: causal ? t + 1 : T, count: T, scale: scale)
                }
                // dq[r0..<r1] (·, D) = dS[r0..<r1, 0..<cols] · k[0..<cols]
                BLAS.gemm(m: r1 - r0, n: D, k: cols, a: dp + r0 * T, lda: T, b: k, ldb: ld, c: dq + r0 * ld, ldc: ld)
            }
            for c0 in stride(from: 0, to: T, by: rowsPerBlock) {
                let c1 = min(T, c0 + rowsPerBlock), first = causal ? c0 : 0
                // dv[c0..<c1] (·, D) = P[first..<T, c0..<c1]ᵀ · dout[first..<T];  dk likewise from dS and q
                BLAS.gemm(transA: true, m: c1 - c0, n: D, k: T - first, a: p + first * T + c0, lda: T,
                          b: dO + first * C, ldb: C, c: dv + c0 * ld, ldc: ld)
                BLAS.gemm(transA: true, m: c1 - c0, n: D, k: T - first, a: dp + first * T + c0, lda: T,
                          b: q + first * ld, ldb: ld, c: dk + c0 * ld, ldc: ld)
            }
        }
    }

    /// In place on a row of dP: dS = scale · P ⊙ (dP − Σ P ⊙ dP) over the first `valid` entries, 0 after.
    @inline(__always)
    static func softmaxBackwardRow(_ dp: UnsafeMutablePointer<Float>, p: UnsafePointer<Float>, valid n: Int, count: Int, scale: Float) {
        let s = dot(p, dp, n)
        for j in 0..<n { dp[j] = scale * p[j] * (dp[j] - s) }
        for j in n..<count { dp[j] = 0 }
    }

    // MARK: reference (Double, plain loops)

    static func forwardReference(qkv: [Double], batch B: Int, seq T: Int, heads H: Int, headDim D: Int, causal: Bool) -> (out: [Double], probs: [Double]) {
        let C = H * D
        var out = [Double](repeating: 0, count: B * T * C), probs = [Double](repeating: 0, count: B * H * T * T)
        let scale = 1 / Double(D).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                for t in 0..<T {
                    let n = causal ? t + 1 : T
                    var s = [Double](repeating: 0, count: n)
                    for u in 0..<n {
                        var acc = 0.0
                        for d in 0..<D { acc += qkv[(b * T + t) * 3 * C + h * D + d] * qkv[(b * T + u) * 3 * C + C + h * D + d] }
                        s[u] = acc * scale
                    }
                    let m = s.max()!
                    let e = s.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for u in 0..<n {
                        let pr = e[u] / z
                        probs[((b * H + h) * T + t) * T + u] = pr
                        for d in 0..<D { out[(b * T + t) * C + h * D + d] += pr * qkv[(b * T + u) * 3 * C + 2 * C + h * D + d] }
                    }
                }
            }
        }
        return (out, probs)
    }

    static func backwardReference(dout: [Double], qkv: [Double], batch B: Int, seq T: Int, heads H: Int, headDim D: Int, causal: Bool) -> [Double] {
        let C = H * D
        let probs = forwardReference(qkv: qkv, batch: B, seq: T, heads: H, headDim: D, causal: causal).probs
        var dqkv = [Double](repeating: 0, count: B * T * 3 * C)
        let scale = 1 / Double(D).squareRoot()
        func q(_ b: Int, _ t: Int, _ h: Int, _ d: Int) -> Int { (b * T + t) * 3 * C + h * D + d }
        for b in 0..<B {
            for h in 0..<H {
                for t in 0..<T {
                    let n = causal ? t + 1 : T
                    var dp = [Double](repeating: 0, count: n)
                    for u in 0..<n {
                        let pr = probs[((b * H + h) * T + t) * T + u]
                        for d in 0..<D {
                            let g = dout[(b * T + t) * C + h * D + d]
                            dp[u] += g * qkv[q(b, u, h, d) + 2 * C]
                            dqkv[q(b, u, h, d) + 2 * C] += pr * g
                        }
                    }
                    var s = 0.0
                    for u in 0..<n { s += probs[((b * H + h) * T + t) * T + u] * dp[u] }
                    for u in 0..<n {
                        let ds = probs[((b * H + h) * T + t) * T + u] * (dp[u] - s) * scale
                        for d in 0..<D {
                            dqkv[q(b, t, h, d)] += ds * qkv[q(b, u, h, d) + C]
                            dqkv[q(b, u, h, d) + C] += ds * qkv[q(b, t, h, d)]
                        }
                    }
                }
            }
        }
        return dqkv
    }
}
