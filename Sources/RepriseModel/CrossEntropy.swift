import Foundation
import RepriseCore

/// Softmax cross-entropy over logits, fused with its gradient. It is not part of the model: objectives
/// (next-token AR, masked diffusion, ...) pick targets and weights per position and hand the model ∂/∂logits.
public enum CrossEntropy {
    /// logits (N, V), targets (N), weights (N) → Σₙ wₙ · (log Σ_{v ≠ x} e^{logits[n, v]} − logits[n, targetₙ]),
    /// where x is `excluding` (a vocabulary id removed from the softmax, e.g. the mask token a masked
    /// diffusion model never predicts) and `weights` nil means all 1. A row with weight 0 is not scored.
    ///
    /// With `dLogits` (N, V), also writes dLogits[n] = scale · wₙ · (softmax(logits[n]) − onehot(targetₙ)),
    /// 0 in the excluded column and in rows of weight 0. `dLogits` may be `logits` itself (in place).
    /// `rowLosses` (N), when given, receives each row's weighted loss. The returned sum is not multiplied
    /// by `scale` (which only scales the gradient): for a mean loss pass scale = 1/count and divide the sum.
    ///
    /// Rows are independent and the total is summed in Double in row order, so the result does not depend
    /// on the thread count.
    @discardableResult
    public static func forwardBackward(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                       weights: UnsafePointer<Float>?, rows N: Int, vocab V: Int,
                                       excluding excluded: Int? = nil,
                                       dLogits: UnsafeMutablePointer<Float>?, scale: Float = 1,
                                       rowLosses: UnsafeMutablePointer<Float>? = nil, threads: Int) -> Double {
        let losses = rowLosses ?? UnsafeMutablePointer<Float>.allocate(capacity: max(N, 1))
        defer { if rowLosses == nil { losses.deallocate() } }
        let ex = excluded ?? -1
        precondition(ex < V)
        parallelChunks(N, chunk: 4, threads: threads) { _, range in
            for n in range {
                let w = weights?[n] ?? 1
                let x = logits + n * V
                let d = dLogits.map { $0 + n * V }
                if w == 0 {
                    losses[n] = 0
                    d?.update(repeating: 0, count: V)
                    continue
                }
                let target = Int(targets[n])
                precondition(target >= 0 && target < V && target != ex,
                             "cross-entropy target \(target) outside 0..<\(V) or the excluded id")
                let xt = x[target]
                // Max and Σ exp over [0, ex) and (ex, V).
                let lo = ex >= 0 ? ex : V, hiStart = ex >= 0 ? ex + 1 : V
                var m = -Float.infinity
                if lo > 0 { m = maxValue(x, lo) }
                if hiStart < V { m = max(m, maxValue(x + hiStart, V - hiStart)) }
                let s = expSum(x, 0, lo, m, into: d) + expSum(x, hiStart, V, m, into: d)
                let lse = Double(m) + Foundation.log(Double(s))
                losses[n] = w * Float(lse - Double(xt))
                if let d {
                    // d currently holds e^{x − m}: turn it into scale·w·(p − onehot).
                    let f = scale * w / s
                    let fv = V16(repeating: f)
                    var i = 0
                    while i + 16 <= V { store16(load16(d + i) * fv, d + i); i += 16 }
                    while i < V { d[i] *= f; i += 1 }
                    if ex >= 0 { d[ex] = 0 }
                    d[target] -= scale * w
                }
            }
        }
        var total = 0.0
        for n in 0..<N { total += Double(losses[n]) }
        return total
    }

    /// Σ_{i in start..<end} e^{x[i] − m}; when `out` is given, also stores each term there.
    @inline(__always)
    private static func expSum(_ x: UnsafePointer<Float>, _ start: Int, _ end: Int, _ m: Float,
                               into out: UnsafeMutablePointer<Float>?) -> Float {
        if start >= end { return 0 }
        let mv = V16(repeating: m)
        var acc0 = V16(), acc1 = V16()
        var i = start
        if let out {
            while i + 32 <= end {
                let e0 = vexp(load16(x + i) - mv), e1 = vexp(load16(x + i + 16) - mv)
                store16(e0, out + i); store16(e1, out + i + 16)
                acc0 += e0; acc1 += e1
                i += 32
            }
            while i + 16 <= end { let e = vexp(load16(x + i) - mv); store16(e, out + i); acc0 += e; i += 16 }
            if i < end {
                let e = vexp(loadPartial(x + i, end - i, fill: -.infinity) - mv)
                storePartial(e, out + i, end - i)
                acc1 += e
            }
        } else {
            while i + 32 <= end {
                acc0 += vexp(load16(x + i) - mv)
                acc1 += vexp(load16(x + i + 16) - mv)
                i += 32
            }
            while i + 16 <= end { acc0 += vexp(load16(x + i) - mv); i += 16 }
            if i < end { acc1 += vexp(loadPartial(x + i, end - i, fill: -.infinity) - mv) }
        }
        return (acc0 + acc1).sum()
    }

    /// Array convenience for tests and small callers.
    public static func forwardBackward(logits: [Float], targets: [Int32], weights: [Float]?, vocab V: Int,
                                       excluding: Int? = nil, scale: Float = 1, threads: Int = 1) -> (loss: Double, dLogits: [Float]) {
        var d = [Float](repeating: 0, count: logits.count)
        let N = targets.count
        precondition(logits.count == N * V)
        let loss = d.withUnsafeMutableBufferPointer { dp in
            forwardBackward(logits: logits, targets: targets, weights: weights, rows: N, vocab: V, excluding: excluding,
                            dLogits: dp.baseAddress!, scale: scale, threads: threads)
        }
        return (loss, d)
    }

    // MARK: reference (Double, plain loops)

    static func reference(logits: [Double], targets: [Int32], weights: [Double]?, vocab V: Int, excluding ex: Int?,
                          scale: Double) -> (loss: Double, dLogits: [Double]) {
        let N = targets.count
        var loss = 0.0
        var d = [Double](repeating: 0, count: N * V)
        for n in 0..<N {
            let w = weights?[n] ?? 1
            if w == 0 { continue }
            let row = Array(logits[(n * V)..<((n + 1) * V)])
            let kept = (0..<V).filter { $0 != ex }
            let m = kept.map { row[$0] }.max()!
            let z = kept.map { Foundation.exp(row[$0] - m) }.reduce(0, +)
            let t = Int(targets[n])
            loss += w * (m + Foundation.log(z) - row[t])
            for v in kept { d[n * V + v] = scale * w * Foundation.exp(row[v] - m) / z }
            d[n * V + t] -= scale * w
        }
        return (loss, d)
    }
}
