import Foundation
import RepriseCore

/// cos and sin of the rotary angles, (context, D/2): angle(t, i) = t · θ^(−2i/D).
/// As in HF Llama, the angle is the float32 product of the position and the float32 inverse frequency
/// (the rounding of that product dominates the difference to an exact angle at long positions), and its
/// cos/sin are rounded to float32.
final class RoPETable: @unchecked Sendable {
    let cos: FloatBuffer, sin: FloatBuffer
    let half: Int, context: Int

    init(headDim D: Int, context: Int, theta: Double) {
        half = D / 2
        self.context = context
        cos = FloatBuffer(count: context * half)
        sin = FloatBuffer(count: context * half)
        for i in 0..<half {
            let invFreq = Float(1 / Foundation.pow(theta, Double(2 * i) / Double(D)))
            for t in 0..<context {
                let angle = Double(Float(t) * invFreq)
                cos[t * half + i] = Float(Foundation.cos(angle))
                sin[t * half + i] = Float(Foundation.sin(angle))
            }
        }
    }
}

/// Rotary position embedding in HF Llama's "rotate_half" convention: in each head, channel i pairs with
/// channel i + D/2:  a' = a·cos − b·sin,  b' = b·cos + a·sin.
enum RoPE {
    /// forward, in place: qkv (B, T, 3C) [q | k | v]; rotates the q and k heads of row (b, t) by position t.
    static func forward(qkv: UnsafeMutablePointer<Float>, batch B: Int, seq T: Int, heads H: Int, headDim D: Int,
                        table: RoPETable, threads: Int) {
        rotate(qkv, B: B, T: T, H: H, D: D, table: table, sign: 1, threads: threads)
    }

    /// backward, in place: dqkv (B, T, 3C) holding ∂/∂(rotated q, k) → ∂/∂(q, k). The rotation is
    /// orthogonal, so its transpose is the rotation by the negated angle.
    static func backward(dqkv: UnsafeMutablePointer<Float>, batch B: Int, seq T: Int, heads H: Int, headDim D: Int,
                         table: RoPETable, threads: Int) {
        rotate(dqkv, B: B, T: T, H: H, D: D, table: table, sign: -1, threads: threads)
    }

    private static func rotate(_ qkv: UnsafeMutablePointer<Float>, B: Int, T: Int, H: Int, D: Int,
                               table: RoPETable, sign: Float, threads: Int) {
        precondition(T <= table.context && D / 2 == table.half)
        let C = H * D, half = D / 2
        let cosT = table.cos.pointer, sinT = table.sin.pointer
        parallelChunks(B * T, chunk: 16, threads: threads) { _, range in
            for row in range {
                let t = row % T
                let c = cosT + t * half, s = sinT + t * half
                let base = qkv + row * 3 * C
                // 2H heads: H of q then H of k, contiguous.
                for head in 0..<(2 * H) {
                    let a = base + head * D, b = a + half
                    for i in 0..<half {
                        let x = a[i], y = b[i], si = sign * s[i]
                        a[i] = x * c[i] - y * si
                        b[i] = y * c[i] + x * si
                    }
                }
            }
        }
    }

    // MARK: reference (Double; angles computed as the table does)

    /// One vector x (D) at position t, rotated by `sign`·angle.
    static func rotateReference(_ x: [Double], position t: Int, theta: Double, sign: Double = 1) -> [Double] {
        let D = x.count, half = D / 2
        var out = x
        for i in 0..<half {
            let invFreq = Float(1 / Foundation.pow(theta, Double(2 * i) / Double(D)))
            let angle = Double(Float(t) * invFreq)
            let c = Foundation.cos(angle), s = sign * Foundation.sin(angle)
            out[i] = x[i] * c - x[i + half] * s
            out[i + half] = x[i + half] * c + x[i] * s
        }
        return out
    }
}
