import Foundation
import RepriseCore
@testable import RepriseTrain
import XCTest

final class StandardErrorTests: XCTestCase {
    func testHandComputedPairsOfStrata() {
        // Two sequences of two draws: sequence 0 has 1 and 3 (codes put them in strata 1, 0), sequence 1 has 2, 2.
        let se = validationStandardErrors(perRow: [1, 3, 2, 2], codes: [50_000, 100, 60_000, 10], draws: 2)
        // Var of sequence 0's mean of two = (1 − 3)² / 2² = 1; sequence 1: 0; overall sqrt(1 + 0) / 2.
        XCTAssertEqual(se.monteCarlo, 0.5, accuracy: 1e-12)
        XCTAssertEqual(se.sequences, 0, accuracy: 1e-12)
        // One draw per sequence (AR): no Monte-Carlo error; over sequences sd/√n.
        let ar = validationStandardErrors(perRow: [1, 2, 3, 4], codes: nil, draws: 1)
        XCTAssertEqual(ar.monteCarlo, 0)
        XCTAssertEqual(ar.sequences, (5.0 / 3 / 4).squareRoot(), accuracy: 1e-12)
        // Three draws: the triple's sample variance × 3/2 over 3² (here variance 1: (1/9)·3/2·... = 1/6).
        let odd = validationStandardErrors(perRow: [1, 2, 3], codes: [0, 30_000, 60_000], draws: 3)
        XCTAssertEqual(odd.monteCarlo, (3.0 * 2 / 2 / 9).squareRoot(), accuracy: 1e-12)
    }

    /// Stratified draws of a noisy function of u: over many repetitions, the standard deviation of the
    /// overall mean is the true Monte-Carlo error. The estimate must cover it (conservative) without being
    /// wildly larger, and must be far below the iid formula's when the function varies strongly with u.
    func testEstimateCoversTheTrueMonteCarloErrorOfStratifiedDraws() {
        let n = 40, K = 8, reps = 400
        var rng = SplitMix64(seed: 17)
        func unit() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        var means: [Double] = [], estimates: [Double] = [], iid: [Double] = []
        let level = (0..<n).map { _ in 3 + unit() }  // each sequence's own bound
        for _ in 0..<reps {
            var x: [Double] = [], codes: [UInt16] = []
            for v in 0..<n {
                var strata = Array(0..<K)
                strata.shuffle(using: &rng)
                for s in strata {
                    let u = (Double(s) + unit()) / Double(K)
                    codes.append(UInt16(min(65_535, Int(u * 65_536))))
                    // Strongly u-dependent (like the loss per k) plus noise (like the mask's choice of positions).
                    x.append(level[v] + 4 * (u - 0.5) + 0.5 * (unit() - 0.5))
                }
            }
            means.append(x.reduce(0, +) / Double(x.count))
            estimates.append(validationStandardErrors(perRow: x, codes: codes, draws: K).monteCarlo)
            // The iid formula: each sequence's sample variance over K.
            var v = 0.0
            for s in 0..<n {
                let xs = x[(s * K)..<((s + 1) * K)], m = xs.reduce(0, +) / Double(K)
                v += xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(K - 1) / Double(K)
            }
            iid.append(v.squareRoot() / Double(n))
        }
        let mean = means.reduce(0, +) / Double(reps)
        let trueSE = (means.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(reps - 1)).squareRoot()
        let estimated = estimates.reduce(0, +) / Double(reps), iidSE = iid.reduce(0, +) / Double(reps)
        XCTAssertGreaterThan(estimated, 0.9 * trueSE, "estimate \(estimated), true \(trueSE)")
        XCTAssertLessThan(estimated, 2.5 * trueSE, "estimate \(estimated), true \(trueSE)")
        XCTAssertLessThan(estimated, 0.6 * iidSE, "stratification is credited: \(estimated) vs iid \(iidSE)")
    }
}
