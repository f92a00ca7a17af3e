import COpenBLAS
import Foundation
import RepriseCore

/// The OpenBLAS calls the model uses: row-major sgemm and the library's thread count and kernel name.
/// This is the only file that imports COpenBLAS.
public enum BLAS {
    /// The kernel OpenBLAS picked for this CPU ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// OpenBLAS's build configuration line (version, threading, maximum threads).
    public static var configDescription: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }

    /// Threads OpenBLAS uses for each call. The setting is process-wide.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// One sgemm call on the calling thread: C (m×n) = alpha · op(A) · op(B) + beta · C, row-major.
    @inline(__always)
    static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C (m×n) = alpha · op(A) · op(B) + beta · C, all row-major; op(A) is m×k, op(B) is k×n.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
    ///
    /// With `threads` > 1 the product is split into blocks of C's rows, each a single-threaded sgemm on one
    /// of our threads. OpenBLAS itself stays on one thread: its own pool spins in sched_yield between calls
    /// and competes with our kernels' threads for the cores. Measured on the `small` training step (B=8,
    /// 2 threads, same machine, moments apart): OpenBLAS-threaded 2.0 s wall and 4.0 s CPU per step, this
    /// split 1.26 s wall and 1.26 s CPU; perf had shown 22% of the CPU time in sched_yield.
    ///
    /// Bits: OpenBLAS's micro-kernels round differently at the edge of their register tile, so a split
    /// keeps every element's bits only when it falls on a multiple of the tile. Measured with the Zen
    /// kernel: row splits at 24, 48, 96 rows are exact, at 8, 16, 32, 64 not, and no column split is.
    /// Blocks are therefore multiples of `rowQuantum` = 48 rows, each above `smallMatrixLimit`, and the
    /// result equals one call whatever the thread count (`testThreadedGemmIsBitIdenticalToOneCall` checks
    /// this on the kernel in use).
    static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        // One block per thread: 4 blocks per thread cost 13% more CPU time per `small` step (B matrix
        // packed once per block) and were not faster even with both cores free.
        var parts = min(threads, m / rowQuantum)
        var block = m, count = 1
        while parts > 1 {
            block = (m + parts * rowQuantum - 1) / (parts * rowQuantum) * rowQuantum
            count = (m + block - 1) / block
            // Every block, the last (smallest) included, must stay on the same side of OpenBLAS's small-matrix
            // limit as the whole product, which is above it.
            if (m - (count - 1) * block) * n * k > smallMatrixLimit { break }
            parts -= 1
        }
        if parts <= 1 || m * n * k <= smallMatrixLimit {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
            return
        }
        parallelFor(count, threads: threads) { part in
            let lo = part * block, rows = min(m, lo + block) - lo
            gemm(transA: transA, transB: transB, m: rows, n: n, k: k, alpha: alpha,
                 a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
        }
    }

    static let rowQuantum = 48

    /// OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids) compute products of at most 100³
    /// multiply-adds (m·n·k) on a separate small-matrix path that rounds differently from the blocked one. A
    /// split keeps the bits of one call only when every block takes the path the whole product takes, so
    /// products at or below this limit are never split, and a split's blocks all stay above it.
    static let smallMatrixLimit = 100 * 100 * 100

    /// Measured single-precision matrix product speed: the best of `repeats` square n×n products, in
    /// GFLOP/s (2·n³ FLOPs each) on `threads` threads, the better of OpenBLAS's own threading and the
    /// row split the model uses. The MFU denominator.
    public static func measureSgemmPeak(threads: Int, size n: Int = 2048, repeats: Int = 5) -> Double {
        measureSgemm(threads: threads, size: n, repeats: repeats).wall
    }

    /// As `measureSgemmPeak`, also giving GFLOP/s per CPU-second of the process (steadier than wall time on
    /// a shared machine: with every thread busy it is the per-core rate).
    public static func measureSgemm(threads: Int, size n: Int = 2048, repeats: Int = 5) -> (wall: Double, perCPUSecond: Double) {
        let saved = self.threads
        defer { self.threads = saved }
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        for i in 0..<(n * n) {
            a[i] = Float(i % 7) * 0.01 - 0.03
            b[i] = Float(i % 11) * 0.01 - 0.05
        }
        var best = Double.infinity, bestCPU = Double.infinity
        for ownThreads in [false, true] {
            self.threads = ownThreads ? 1 : threads
            let split = ownThreads ? threads : 1
            // One untimed product starts the threads and faults the pages in.
            for i in 0...repeats {
                let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
                gemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n, threads: split)
                if i > 0 {
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    bestCPU = min(bestCPU, processCPUSeconds() - cpuStart)
                }
            }
        }
        let flops = 2 * Double(n) * Double(n) * Double(n)
        return (flops / best / 1e9, flops / bestCPU / 1e9)
    }
}
