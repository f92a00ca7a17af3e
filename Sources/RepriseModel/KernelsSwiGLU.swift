import Foundation
import RepriseCore

/// The SwiGLU gate: out = silu(gate) ⊙ up, silu(g) = g·σ(g), on the packed product gu (N, 2F) = [gate | up].
enum SwiGLU {
    /// forward: gu (N, 2F) → out (N, F).
    static func forward(out: UnsafeMutablePointer<Float>, gu: UnsafePointer<Float>, rows: Int, hidden F: Int, threads: Int) {
        parallelChunks(rows, chunk: 16, threads: threads) { _, range in
            for n in range {
                let g = gu + n * 2 * F, u = g + F, o = out + n * F
                var i = 0
                while i + 16 <= F {
                    let gv = load16(g + i)
                    store16(gv * vsigmoid(gv) * load16(u + i), o + i)
                    i += 16
                }
                if i < F {
                    let gv = loadPartial(g + i, F - i)
                    storePartial(gv * vsigmoid(gv) * loadPartial(u + i, F - i), o + i, F - i)
                }
            }
        }
    }

    /// backward: dout (N, F), gu (N, 2F) → dgu (N, 2F) (overwritten):
    ///   d up = dout ⊙ silu(g),  d gate = dout ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))).
    static func backward(dgu: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, gu: UnsafePointer<Float>,
                         rows: Int, hidden F: Int, threads: Int) {
        @inline(__always) func step(_ gv: V16, _ uv: V16, _ dv: V16) -> (dg: V16, du: V16) {
            let s = vsigmoid(gv)
            return (dv * uv * s * (1 + gv * (1 - s)), dv * gv * s)
        }
        parallelChunks(rows, chunk: 16, threads: threads) { _, range in
            for n in range {
                let g = gu + n * 2 * F, u = g + F, d = dout + n * F
                let dg = dgu + n * 2 * F, du = dg + F
                var i = 0
                while i + 16 <= F {
                    let r = step(load16(g + i), load16(u + i), load16(d + i))
                    store16(r.dg, dg + i)
                    store16(r.du, du + i)
                    i += 16
                }
                if i < F {
                    let k = F - i
                    let r = step(loadPartial(g + i, k), loadPartial(u + i, k), loadPartial(d + i, k))
                    storePartial(r.dg, dg + i, k)
                    storePartial(r.du, du + i, k)
                }
            }
        }
    }

    // MARK: reference (Double)

    static func forwardReference(gu: [Double], rows: Int, hidden F: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * F)
        for n in 0..<rows {
            for i in 0..<F {
                let g = gu[n * 2 * F + i], u = gu[n * 2 * F + F + i]
                out[n * F + i] = g / (1 + Foundation.exp(-g)) * u
            }
        }
        return out
    }

    static func backwardReference(dout: [Double], gu: [Double], rows: Int, hidden F: Int) -> [Double] {
        var dgu = [Double](repeating: 0, count: rows * 2 * F)
        for n in 0..<rows {
            for i in 0..<F {
                let g = gu[n * 2 * F + i], u = gu[n * 2 * F + F + i], d = dout[n * F + i]
                let s = 1 / (1 + Foundation.exp(-g))
                dgu[n * 2 * F + i] = d * u * (s + g * s * (1 - s))
                dgu[n * 2 * F + F + i] = d * g * s
            }
        }
        return dgu
    }
}
