import Foundation

extension Transformer {
    /// Logits (rows.count, V) of some positions of the last forward (indices into its B·T positions), which
    /// may have skipped the full (B, T, V) logits with `computeLogits: false`: for scoring a few positions
    /// of each sequence (a cloze ending), where the output head would otherwise cost about a third of the
    /// forward pass of the `tiny` model.
    public func logits(atPositions rows: [Int], into out: UnsafeMutablePointer<Float>) {
        precondition(batch > 0, "logits before forward")
        let C = config.dim, V = config.vocabSize, N = batch * seq
        if rows.isEmpty { return }
        if BLAS.threads != 1 { BLAS.threads = 1 }
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * C)
        defer { gathered.deallocate() }
        for (i, r) in rows.enumerated() {
            precondition(r >= 0 && r < N, "position \(r) outside the last forward's \(N)")
            (gathered + i * C).update(from: acts.lnf + r * C, count: C)
        }
        // out (n, V) = gathered (n, C) · headᵀ (C, V)
        BLAS.gemm(transB: true, m: rows.count, n: V, k: C, a: gathered, lda: C, b: params.pointer + layout.head, ldb: C,
                  c: out, ldc: V, threads: threads)
    }
}
