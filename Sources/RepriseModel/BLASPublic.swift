import Foundation
import RepriseCore

extension BLAS {
    /// C (m×n) = alpha · op(A) · op(B) + beta · C, all row-major, for code outside this module that adds
    /// small heads around the transformer (e.g. the Gaussian diffusion objective's ε head and rounding
    /// logits). The same row-block split as the model's own products, so the result has the same bits
    /// whatever the thread count (for a given OpenBLAS kernel). OpenBLAS itself is kept on one thread.
    public static func product(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        if BLAS.threads != 1 { BLAS.threads = 1 }
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
             beta: beta, c: c, ldc: ldc, threads: threads)
    }
}
