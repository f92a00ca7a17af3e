import Foundation
import RepriseCore

/// RMSNorm (LLaMA, HF `LlamaRMSNorm`): y = w ⊙ x / sqrt(mean(x²) + eps), over the last dimension.
enum RMSNorm {
    /// Rows per task; also the unit of the weight-gradient partial sums (fixed, so the sums do not depend
    /// on the thread count).
    static let rowChunk = 32

    /// Floats of scratch `backward` needs for `rows` rows of width `dim`.
    static func scratchCount(rows: Int, dim: Int) -> Int { (rows + rowChunk - 1) / rowChunk * dim }

    /// forward: x (N, C), weight (C) → out (N, C), rstd (N) = 1 / sqrt(mean(x²) + eps).
    static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                        x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        rows: Int, dim C: Int, eps: Float, threads: Int) {
        parallelChunks(rows, chunk: rowChunk, threads: threads) { _, range in
            for n in range {
                let xr = x + n * C, yr = out + n * C
                let r = 1 / (dot(xr, xr, C) / Float(C) + eps).squareRoot()
                rstd[n] = r
                for i in 0..<C { yr[i] = (xr[i] * r) * weight[i] }
            }
        }
    }

    /// backward: dout (N, C), x (N, C), rstd (N), weight (C) → dx (N, C) += ∂/∂x, dweight (C) += Σₙ dout ⊙ x̂
    /// with x̂ = x·rstd:  dx = rstd · (dx̂ − x̂ · mean(dx̂ ⊙ x̂)),  dx̂ = dout ⊙ w.
    /// `dx` may be the residual gradient being accumulated. `scratch` holds `scratchCount` floats.
    static func backward(dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                         dout: UnsafePointer<Float>, x: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         weight: UnsafePointer<Float>, rows: Int, dim C: Int, threads: Int,
                         scratch: UnsafeMutablePointer<Float>) {
        parallelChunks(rows, chunk: rowChunk, threads: threads) { chunk, range in
            let partial = scratch + chunk * C
            partial.update(repeating: 0, count: C)
            for n in range {
                let xr = x + n * C, dyr = dout + n * C, dxr = dx + n * C
                let r = rstd[n]
                // mean(dx̂ ⊙ x̂) = r/C · Σ dout·w·x
                var acc = V16()
                var i = 0
                while i + 16 <= C {
                    acc += load16(dyr + i) * load16(weight + i) * load16(xr + i)
                    i += 16
                }
                var s = acc.sum()
                while i < C { s += dyr[i] * weight[i] * xr[i]; i += 1 }
                let m = s * r / Float(C)
                for i in 0..<C {
                    let xhat = xr[i] * r
                    partial[i] += dyr[i] * xhat
                    dxr[i] += r * (dyr[i] * weight[i] - xhat * m)
                }
            }
        }
        let chunks = (rows + rowChunk - 1) / rowChunk
        for c in 0..<chunks {
            let partial = scratch + c * C
            for i in 0..<C { dweight[i] += partial[i] }
        }
    }

    // MARK: reference (Double, plain loops)

    static func forwardReference(x: [Double], weight: [Double], rows: Int, dim C: Int, eps: Double) -> (out: [Double], rstd: [Double]) {
        var out = [Double](repeating: 0, count: rows * C), rstd = [Double](repeating: 0, count: rows)
        for n in 0..<rows {
            var ss = 0.0
            for i in 0..<C { ss += x[n * C + i] * x[n * C + i] }
            let r = 1 / (ss / Double(C) + eps).squareRoot()
            rstd[n] = r
            for i in 0..<C { out[n * C + i] = x[n * C + i] * r * weight[i] }
        }
        return (out, rstd)
    }

    static func backwardReference(dout: [Double], x: [Double], weight: [Double], rows: Int, dim C: Int, eps: Double) -> (dx: [Double], dweight: [Double]) {
        var dx = [Double](repeating: 0, count: rows * C), dw = [Double](repeating: 0, count: C)
        for n in 0..<rows {
            var ss = 0.0
            for i in 0..<C { ss += x[n * C + i] * x[n * C + i] }
            let r = 1 / (ss / Double(C) + eps).squareRoot()
            // y_i = w_i x_i r;  ∂r/∂x_j = -r³ x_j / C
            var g = 0.0   // Σ_i dout_i w_i x_i
            for i in 0..<C { g += dout[n * C + i] * weight[i] * x[n * C + i] }
            for j in 0..<C {
                dx[n * C + j] = dout[n * C + j] * weight[j] * r - g * r * r * r * x[n * C + j] / Double(C)
                dw[j] += dout[n * C + j] * x[n * C + j] * r
            }
        }
        return (dx, dw)
    }
}
