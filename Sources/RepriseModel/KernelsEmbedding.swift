import Foundation
import RepriseCore

/// Token embedding lookup.
enum Embedding {
    /// forward: tokens (N), table (V, C) → out (N, C) = table[token].
    static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>,
                        rows: Int, dim C: Int, vocab V: Int, threads: Int) {
        parallelChunks(rows, chunk: 64, threads: threads) { _, range in
            for n in range {
                let id = Int(tokens[n])
                precondition(id >= 0 && id < V, "token id \(id) outside the vocabulary (0..<\(V))")
                (out + n * C).update(from: table + id * C, count: C)
            }
        }
    }

    /// backward: dout (N, C), tokens (N) → dtable (V, C) += Σ rows of dout at their token. Tasks own column
    /// ranges and add rows in order, so repeated tokens sum in the same order whatever the thread count.
    static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
                         rows: Int, dim C: Int, threads: Int) {
        parallelChunks(C, chunk: 32, threads: threads) { _, cols in
            for n in 0..<rows {
                let dst = dtable + Int(tokens[n]) * C, src = dout + n * C
                for i in cols { dst[i] += src[i] }
            }
        }
    }
}
