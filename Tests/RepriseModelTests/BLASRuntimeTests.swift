import Foundation
@testable import RepriseModel
import XCTest

final class BLASRuntimeTests: XCTestCase {
    typealias Features = BLASRuntime.CPUFeatures
    static let avx512 = Features(fma: true, avx2: true, avx512f: true, avx512cd: true, avx512bw: true, avx512dq: true,
                                 avx512vl: true, osSavesAVX: true, osSavesAVX512: true)
    static let avx2 = Features(fma: true, avx2: true, osSavesAVX: true)

    func testLibraryStateAndDescription() {
        let core = BLASRuntime.corename
        XCTAssertFalse(core.isEmpty)
        XCTAssertTrue(BLASRuntime.version.hasPrefix("OpenBLAS"))
        let d = BLASRuntime.description
        XCTAssertTrue(d.hasPrefix("\(BLASRuntime.version) kernel \(core)"), d)
    }

    func testPreferredCoreTypeFromFeatures() {
        XCTAssertEqual(BLASRuntime.preferredCoreType(for: Self.avx512), "SkylakeX")
        XCTAssertEqual(BLASRuntime.preferredCoreType(for: Self.avx2), "Haswell")
        // Xeon Phi style AVX-512 (F and CD only) does not run the SkylakeX kernel.
        var phi = Self.avx2
        (phi.avx512f, phi.avx512cd, phi.osSavesAVX512) = (true, true, true)
        XCTAssertEqual(BLASRuntime.preferredCoreType(for: phi), "Haswell")
        // The OS does not save the ZMM registers: AVX-512 code may not run.
        var noZMM = Self.avx512
        noZMM.osSavesAVX512 = false
        XCTAssertEqual(BLASRuntime.preferredCoreType(for: noZMM), "Haswell")
        // AVX2 without FMA, or AVX without OS support: no fast kernel of ours.
        var noFMA = Self.avx2
        noFMA.fma = false
        XCTAssertNil(BLASRuntime.preferredCoreType(for: noFMA))
        var noOS = Self.avx512
        (noOS.osSavesAVX, noOS.osSavesAVX512) = (false, false)
        XCTAssertNil(BLASRuntime.preferredCoreType(for: noOS))
        XCTAssertNil(BLASRuntime.preferredCoreType(for: Features()))
    }

    func testDecision() {
        func decide(_ core: String, _ f: Features, user: String? = nil) -> BLASRuntime.KernelDecision {
            BLASRuntime.decide(corename: core, features: f, userCoreType: user)
        }
        // The case of this project's Xeon: the Prescott fallback on an AVX-512 CPU.
        XCTAssertEqual(decide("Prescott", Self.avx512), .reexec(coreType: "SkylakeX"))
        for weak in ["Katmai", "Core2", "Nehalem", "Sandybridge", "Unknown"] {
            XCTAssertEqual(decide(weak, Self.avx512), .reexec(coreType: "SkylakeX"), weak)
            XCTAssertEqual(decide(weak, Self.avx2), .reexec(coreType: "Haswell"), weak)
        }
        // Kernels OpenBLAS chose for a CPU it knows stay, even when another could run.
        for good in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "HASWELL"] {
            guard case .keep = decide(good, Self.avx512) else { return XCTFail(good) }
        }
        // A CPU without AVX2 + FMA keeps its generic kernel.
        guard case .keep = decide("Prescott", Features()) else { return XCTFail() }
        // The user's OPENBLAS_CORETYPE always wins (it is also what stops a second re-exec); empty means unset.
        XCTAssertEqual(decide("Prescott", Self.avx512, user: "Prescott"), .keep(reason: "OPENBLAS_CORETYPE=Prescott is set"))
        XCTAssertEqual(decide("Prescott", Self.avx512, user: ""), .reexec(coreType: "SkylakeX"))
    }

    /// cpuid agrees with the kernel's view of the CPU in /proc/cpuinfo.
    func testDetectedFeaturesMatchProcCpuinfo() throws {
        #if os(Linux) && arch(x86_64)
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        let f = Features.detect()
        XCTAssertEqual(f.fma, flags.contains("fma"))
        XCTAssertEqual(f.avx2, flags.contains("avx2"))
        XCTAssertEqual(f.avx512f, flags.contains("avx512f"))
        XCTAssertEqual(f.avx512bw, flags.contains("avx512bw"))
        XCTAssertEqual(f.avx512vl, flags.contains("avx512vl"))
        // Linux lists AVX flags only when it saves the registers.
        if flags.contains("avx2") { XCTAssertTrue(f.osSavesAVX) }
        if flags.contains("avx512f") { XCTAssertTrue(f.osSavesAVX512) }
        #else
        throw XCTSkip("x86-64 Linux only")
        #endif
    }

    func testSgemmIsTheMatrixProduct() {
        let (m, k, n) = (5, 7, 3)
        let a = (0..<m * k).map { Float($0 % 11) * 0.5 - 2 }
        let b = (0..<k * n).map { Float($0 % 7) * 0.25 - 0.75 }
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                let expected = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                XCTAssertEqual(c[i * n + j], expected, accuracy: 1e-5, "C[\(i),\(j)]")
            }
        }
    }

    // MARK: The re-exec, end to end

    static let childOutputVariable = "REPRISE_TEST_BLAS_REEXEC_OUT"

    /// Runs this test binary again on `testReexecChild` alone, without OPENBLAS_CORETYPE. The child pretends
    /// OpenBLAS picked "Prescott", so `ensureFastKernel` must re-exec it with this CPU's fast kernel; the
    /// re-executed child reports what it got.
    func testReexecLoadsThePreferredKernel() throws {
        #if os(Linux) && arch(x86_64)
        guard let expected = BLASRuntime.preferredCoreType(for: .detect()) else {
            throw XCTSkip("this CPU has no AVX2 + FMA, so there is nothing to switch to")
        }
        let dir = NSTemporaryDirectory() + "reprise-blas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = dir + "/report", log = dir + "/log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        p.arguments = ["RepriseModelTests.BLASRuntimeTests/testReexecChild"]
        var env = ProcessInfo.processInfo.environment
        env[BLASRuntime.coreTypeVariable] = nil
        env[BLASRuntime.replacedKernelVariable] = nil
        env[Self.childOutputVariable] = report
        p.environment = env
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        (p.standardOutput, p.standardError) = (out, out)
        try p.run()
        p.waitUntilExit()
        let childLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, childLog)
        let lines = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "corename \(expected)", childLog)
        XCTAssertEqual(Array(lines.dropFirst()), [
            "OPENBLAS_CORETYPE \(expected)",
            "decision keep(reason: \"OPENBLAS_CORETYPE=\(expected) is set\")",
            "description has (set by reprise; OpenBLAS had chosen Prescott for this CPU)",
        ], childLog)
        #else
        throw XCTSkip("x86-64 Linux only")
        #endif
    }

    /// Does nothing unless started by `testReexecLoadsThePreferredKernel`.
    func testReexecChild() throws {
        guard let report = ProcessInfo.processInfo.environment[Self.childOutputVariable] else { return }
        // First run: re-executes (does not return). Second run: OPENBLAS_CORETYPE is set, so it returns.
        let decision = BLASRuntime.ensureFastKernel(assumingCorename: "Prescott")
        var c: Float = 0
        BLAS.gemm(m: 1, n: 1, k: 1, a: [2], lda: 1, b: [3], ldb: 1, c: &c, ldc: 1)  // the new kernel runs
        XCTAssertEqual(c, 6)
        let suffix = "(set by reprise; OpenBLAS had chosen Prescott for this CPU)"
        let text = """
            corename \(BLASRuntime.corename)
            OPENBLAS_CORETYPE \(ProcessInfo.processInfo.environment[BLASRuntime.coreTypeVariable] ?? "-")
            decision \(decision)
            description \(BLASRuntime.description.contains(suffix) ? "has \(suffix)" : BLASRuntime.description)

            """
        try text.write(toFile: report, atomically: true, encoding: .utf8)
    }
}
