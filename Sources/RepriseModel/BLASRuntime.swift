import COpenBLAS
import Foundation
import RepriseCore

/// The OpenBLAS library as the process found it: which kernel it runs, with how many threads, how fast.
///
/// Why `ensureFastKernel` exists: OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels once, when
/// the library loads, from the CPU model. A model it does not know gets a generic fallback: Debian's 0.3.21
/// runs the "Prescott" (SSE3) kernel on a Xeon of model 207 with AVX-512, and sgemm drops from about 200 to
/// about 30 GFLOP/s on 2 cores. The only supported override is the environment variable
/// OPENBLAS_CORETYPE, read at load time, so the fix has to set it and start the program again.
public enum BLASRuntime {
    /// The variable OpenBLAS reads at load time to force a kernel.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set with OPENBLAS_CORETYPE when `ensureFastKernel` re-executes the program: the kernel OpenBLAS had
    /// picked on its own, for `description`.
    public static let replacedKernelVariable = "REPRISE_OPENBLAS_REPLACED_KERNEL"

    // MARK: Library state

    /// The kernel in use, e.g. "SkylakeX", "Haswell", "Zen", "Prescott".
    public static var corename: String { BLAS.coreName }

    /// "OpenBLAS 0.3.21" (the first words of openblas_get_config()).
    public static var version: String {
        guard let p = openblas_get_config() else { return "OpenBLAS" }
        let words = String(cString: p).split(separator: " ")
        return words.count >= 2 && words[0] == "OpenBLAS" ? "OpenBLAS \(words[1])" : "OpenBLAS"
    }

    /// "OpenBLAS 0.3.21 kernel SkylakeX", plus what `ensureFastKernel` changed, for log lines. (The model
    /// runs OpenBLAS on one thread per call and splits products over its own threads: see `BLAS.gemm`.)
    public static var description: String {
        var s = "\(version) kernel \(corename)"
        if let replaced = environment(replacedKernelVariable), environment(coreTypeVariable) != nil {
            s += " (set by reprise; OpenBLAS had chosen \(replaced) for this CPU)"
        }
        return s
    }

    // MARK: Choosing the kernel

    /// The x86 features that decide which OpenBLAS kernel can run (all false on other machines).
    public struct CPUFeatures: Sendable, Equatable {
        public var fma = false
        public var avx2 = false
        public var avx512f = false
        public var avx512cd = false
        public var avx512bw = false
        public var avx512dq = false
        public var avx512vl = false
        /// The operating system saves the YMM registers (XCR0 bits 1 and 2), so AVX code may run.
        public var osSavesAVX = false
        /// The operating system saves opmask and ZMM registers (XCR0 bits 5 to 7), so AVX-512 code may run.
        public var osSavesAVX512 = false

        public init(fma: Bool = false, avx2: Bool = false, avx512f: Bool = false, avx512cd: Bool = false,
                    avx512bw: Bool = false, avx512dq: Bool = false, avx512vl: Bool = false,
                    osSavesAVX: Bool = false, osSavesAVX512: Bool = false) {
            (self.fma, self.avx2, self.avx512f, self.avx512cd, self.avx512bw, self.avx512dq, self.avx512vl) =
                (fma, avx2, avx512f, avx512cd, avx512bw, avx512dq, avx512vl)
            (self.osSavesAVX, self.osSavesAVX512) = (osSavesAVX, osSavesAVX512)
        }

        /// This machine's features, read with cpuid and xgetbv.
        public static func detect() -> CPUFeatures {
            var f = CPUFeatures()
            #if arch(x86_64)
            var r: [UInt32] = [0, 0, 0, 0]
            func bit(_ reg: UInt32, _ n: UInt32) -> Bool { reg & (1 << n) != 0 }
            guard reprise_cpuid(0, 0, &r) != 0 else { return f }
            let maxLeaf = r[0]
            guard maxLeaf >= 1, reprise_cpuid(1, 0, &r) != 0 else { return f }
            f.fma = bit(r[2], 12)
            let osxsave = bit(r[2], 27), avx = bit(r[2], 28)
            if osxsave {  // xgetbv faults unless the OS has enabled XSAVE
                let xcr0 = reprise_xgetbv0()
                f.osSavesAVX = avx && xcr0 & 0x6 == 0x6
                f.osSavesAVX512 = f.osSavesAVX && xcr0 & 0xE0 == 0xE0
            }
            if maxLeaf >= 7, reprise_cpuid(7, 0, &r) != 0 {
                let ebx = r[1]
                f.avx2 = bit(ebx, 5)
                f.avx512f = bit(ebx, 16)
                f.avx512dq = bit(ebx, 17)
                f.avx512cd = bit(ebx, 28)
                f.avx512bw = bit(ebx, 30)
                f.avx512vl = bit(ebx, 31)
            }
            #endif
            return f
        }
    }

    /// The OpenBLAS kernel these features call for, or nil when neither of ours can run. "SkylakeX" needs
    /// the Skylake-server AVX-512 set (F, CD, BW, DQ, VL; Xeon Phi's F-only AVX-512 does not qualify),
    /// "Haswell" AVX2 with FMA; both need the OS to save the registers.
    public static func preferredCoreType(for f: CPUFeatures) -> String? {
        if f.osSavesAVX512 && f.avx512f && f.avx512cd && f.avx512bw && f.avx512dq && f.avx512vl { return "SkylakeX" }
        if f.osSavesAVX && f.avx2 && f.fma { return "Haswell" }
        return nil
    }

    /// Kernels that OpenBLAS chooses for CPUs it recognises and that already use AVX2 or better. Any other
    /// kernel (Prescott, Core2, Katmai, Nehalem, Sandybridge, ...) on a CPU with AVX2 + FMA means OpenBLAS
    /// did not recognise the CPU and fell back to generic code.
    static let recognisedFastKernels: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"]

    /// What `ensureFastKernel` does; `keep` carries the reason.
    public enum KernelDecision: Equatable, Sendable {
        case keep(reason: String)
        case reexec(coreType: String)
    }

    /// The decision as a pure function of the kernel OpenBLAS picked, the CPU's features and the user's
    /// OPENBLAS_CORETYPE (which always wins, and also stops a second re-exec).
    public static func decide(corename: String, features: CPUFeatures, userCoreType: String?) -> KernelDecision {
        if let user = userCoreType, !user.isEmpty {
            return .keep(reason: "\(coreTypeVariable)=\(user) is set")
        }
        if recognisedFastKernels.contains(corename.lowercased()) {
            return .keep(reason: "OpenBLAS chose \(corename)")
        }
        guard let better = preferredCoreType(for: features) else {
            return .keep(reason: "the CPU has no AVX2 + FMA; \(corename) fits it")
        }
        return .reexec(coreType: better)
    }

    /// Call first thing in `main`, before anything worth keeping has happened: when OpenBLAS runs a
    /// generic fallback kernel on a CPU with AVX2 or AVX-512, sets OPENBLAS_CORETYPE and replaces the
    /// process with a fresh run of the same executable (/proc/self/exe) and the same arguments, so the
    /// library loads again with the fast kernel. Returns (without re-executing) when the kernel is fine,
    /// when the user has set OPENBLAS_CORETYPE (which also guards against a loop: the new process has it
    /// set), off x86-64 Linux, or when exec fails.
    @discardableResult
    public static func ensureFastKernel() -> KernelDecision { ensureFastKernel(assumingCorename: nil) }

    /// `assumingCorename` pretends OpenBLAS picked that kernel (tests exercise the re-exec with it on any
    /// machine with AVX2).
    static func ensureFastKernel(assumingCorename: String?) -> KernelDecision {
        #if os(Linux) && arch(x86_64)
        let picked = assumingCorename ?? corename
        let decision = decide(corename: picked, features: .detect(), userCoreType: environment(coreTypeVariable))
        guard case .reexec(let core) = decision else { return decision }
        setenv(coreTypeVariable, core, 1)
        setenv(replacedKernelVariable, picked, 1)
        fflush(nil)  // exec discards unwritten stdio buffers
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: run on with the kernel we have.
        let reason = String(cString: strerror(errno))
        unsetenv(coreTypeVariable)
        unsetenv(replacedKernelVariable)
        return .keep(reason: "re-executing with \(coreTypeVariable)=\(core) failed: \(reason)")
        #else
        return .keep(reason: "kernel selection is only done on x86-64 Linux")
        #endif
    }

    private static func environment(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}
