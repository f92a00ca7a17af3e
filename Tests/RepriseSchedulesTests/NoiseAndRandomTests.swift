import Foundation
import RepriseCore
@testable import RepriseSchedules
import XCTest

final class NoiseScheduleTests: XCTestCase {
    let eps = 1e-3

    func testDerivativesMatchNumericalDerivatives() {
        for s in MaskingNoise.allCases {
            for t in stride(from: 0.02, through: 0.98, by: 0.04) {
                let h = 1e-6
                let numeric = (s.alpha(t + h, eps: eps) - s.alpha(t - h, eps: eps)) / (2 * h)
                XCTAssertEqual(s.derivative(t, eps: eps), numeric, accuracy: 1e-6 * max(1, abs(numeric)), "\(s) at \(t)")
                let w = -numeric / (1 - s.alpha(t, eps: eps))
                XCTAssertEqual(s.weight(t, eps: eps), w, accuracy: 1e-5 * max(1, w), "\(s) weight at \(t)")
                XCTAssertEqual(s.maskProbability(t, eps: eps), 1 - s.alpha(t, eps: eps), accuracy: 1e-12)
            }
        }
    }

    func testClosedForms() {
        for t in [0.01, 0.3, 0.77, 1.0] {
            XCTAssertEqual(MaskingNoise.linear.alpha(t, eps: eps), 1 - (1 - eps) * t, accuracy: 1e-15)
            XCTAssertEqual(MaskingNoise.linear.weight(t, eps: eps), 1 / t, accuracy: 1e-12)
            XCTAssertEqual(MaskingNoise.cosine.alpha(t, eps: eps), eps + (1 - eps) * cos(.pi * t / 2), accuracy: 1e-15)
            let c = cos(Double.pi * t / 2)
            XCTAssertEqual(MaskingNoise.cosineSquared.alpha(t, eps: eps), eps + (1 - eps) * c * c, accuracy: 1e-15)
            let sigma = pow(1e-4, 1 - t) * pow(20, t)
            XCTAssertEqual(MaskingNoise.geometric.alpha(t, eps: eps), exp(-sigma), accuracy: 1e-15)
        }
        // Everything kept at t = 0, (almost) nothing at t = 1, decreasing in between.
        for s in MaskingNoise.allCases {
            XCTAssertEqual(s.alpha(0, eps: eps), 1, accuracy: 1e-3, "\(s)")
            XCTAssertLessThan(s.alpha(1, eps: eps), 2e-3, "\(s)")
            XCTAssertGreaterThan(s.alpha(0.4, eps: eps), s.alpha(0.6, eps: eps))
        }
        XCTAssertEqual(MaskingNoise(name: "log-linear"), .linear)
    }

    func testGaussianSchedulesDecreaseFromOne() {
        for g in GaussianNoise.allCases {
            XCTAssertEqual(g.alphaBar(0), 1, accuracy: 0.011, "\(g)")
            var last = 2.0
            for t in stride(from: 0.0, through: 1.0, by: 0.05) {
                let a = g.alphaBar(t)
                XCTAssertLessThanOrEqual(a, last, "\(g) at \(t)")
                XCTAssertGreaterThan(a, 0)
                last = a
            }
            XCTAssertLessThan(g.alphaBar(1), 1e-3, "\(g)")
        }
        XCTAssertEqual(GaussianNoise.sqrt.alphaBar(0.25), 1 - (0.25 + 1e-4).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(GaussianNoise.linearBeta.alphaBar(0.5), exp(-(0.05 + 19.9 * 0.125)), accuracy: 1e-15)
    }

    func testNoiseTableCodesAndThresholds() throws {
        var c = ScheduleConfig()
        c.objective = .mdlm
        c = try c.resolved()
        let table = NoiseTable(config: c)
        XCTAssertEqual(table.t.count, 65_536)
        XCTAssertEqual(table.t[0], eps + (1 - eps) * 0.5 / 65_536, accuracy: 1e-15)
        XCTAssertEqual(Double(table.threshold[40_000]) / 4_294_967_296, 1 - table.alpha[40_000], accuracy: 1e-9)
        XCTAssertEqual(NoiseTable.code(0), 0)
        XCTAssertEqual(NoiseTable.code(0.9999999), 65_535)
        XCTAssertEqual(NoiseTable.code(0.5), 32_768)
    }
}

final class PlanRandomTests: XCTestCase {
    func testBitsAreTheStreamOfSplitMix64() {
        var rng = SplitMix64(seed: 12345)
        for j in 0..<10 { XCTAssertEqual(PlanRandom.bits(12345, j), rng.next()) }
    }

    func testBelowIsUniform() {
        var rng = SplitMix64(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[rng.below(7)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 500) }
    }

    func testBatchLengthIsTheDocumentedDrawAtTheGivenRate() {
        let L = 16, f = 0.25
        var counts = [Int](repeating: 0, count: L + 1)
        for e in 0..<10 {
            for b in 0..<10_000 {
                let n = PlanRandom.batchLength(seed: 7, epoch: e, batch: b, seqLen: L, fraction: f)
                XCTAssertEqual(n, PlanRandom.batchLength(seed: 7, epoch: e, batch: b, seqLen: L, fraction: f))
                counts[n] += 1
            }
        }
        // FORMAT.md's derivation, spelled out: one stream per (epoch, batch), u first, then the length.
        for (e, b) in [(0, 0), (3, 17), (9, 9_999)] {
            var rng = SplitMix64(seed: Hashing.mix64(Hashing.mix64(7 ^ 0x7368_7274) ^ (UInt64(e) << 32 | UInt64(b))))
            let u = Double(rng.next() >> 11) * 0x1p-53
            let expected = u < f ? 1 + rng.below(L) : L
            XCTAssertEqual(PlanRandom.batchLength(seed: 7, epoch: e, batch: b, seqLen: L, fraction: f), expected)
        }
        // A short draw is uniform in 1...L, so lengths below L have probability f·(L − 1)/L, each f/L.
        let n = 100_000.0
        let short = Double(counts[1..<L].reduce(0, +)) / n
        XCTAssertEqual(short, f * Double(L - 1) / Double(L), accuracy: 0.01)
        XCTAssertEqual(counts[0], 0)
        for k in 1..<L { XCTAssertEqual(Double(counts[k]), n * f / Double(L), accuracy: 250, "length \(k)") }
        // Other seeds give other lengths; fraction 0 never shortens, fraction 1 always draws.
        let a = (0..<200).map { PlanRandom.batchLength(seed: 7, epoch: 0, batch: $0, seqLen: L, fraction: 0.5) }
        let c = (0..<200).map { PlanRandom.batchLength(seed: 8, epoch: 0, batch: $0, seqLen: L, fraction: 0.5) }
        XCTAssertNotEqual(a, c)
        for b in 0..<1000 { XCTAssertEqual(PlanRandom.batchLength(seed: 7, epoch: 0, batch: b, seqLen: L, fraction: 0), L) }
        let all = (0..<1000).filter { PlanRandom.batchLength(seed: 7, epoch: 0, batch: $0, seqLen: L, fraction: 1) < L }.count
        XCTAssertEqual(Double(all), 1000 * Double(L - 1) / Double(L), accuracy: 40)
    }

    func testBernoulliMaskRateMatchesAlpha() {
        // 4,000 rows of 128 tokens at a few t: the masked fraction is within 5 standard errors of 1 − alpha.
        for (s, t) in [(MaskingNoise.linear, 0.1), (.linear, 0.7), (.cosine, 0.5), (.geometric, 0.6)] {
            let p = s.maskProbability(t, eps: 1e-3)
            let threshold = NoiseTable.fraction32(p)
            var masked = 0
            var mask = [UInt8](repeating: 0, count: 128)
            for row in 0..<4000 {
                mask.withUnsafeMutableBufferPointer { Masking.bernoulli.fill($0, key: UInt64(row) &* 7919, threshold: threshold) }
                masked += mask.reduce(0) { $0 + Int($1) }
            }
            let n = 4000.0 * 128
            let se = (p * (1 - p) / n).squareRoot()
            XCTAssertEqual(Double(masked) / n, p, accuracy: 5 * se + 1e-4, "\(s) t=\(t)")
        }
    }

    func testExactMaskingCountsAndAtLeastOne() {
        var mask = [UInt8](repeating: 0, count: 100)
        for (p, expected) in [(0.25, 25), (0.333, 33), (0.0, 1), (1.0, 100), (0.004, 1)] {
            mask.withUnsafeMutableBufferPointer { Masking.exact.fill($0, key: 99, threshold: NoiseTable.fraction32(p)) }
            XCTAssertEqual(mask.reduce(0) { $0 + Int($1) }, expected, "p=\(p)")
        }
        // Bernoulli with a tiny rate still masks one token.
        mask.withUnsafeMutableBufferPointer { Masking.bernoulli.fill($0, key: 5, threshold: 0) }
        XCTAssertEqual(mask.reduce(0) { $0 + Int($1) }, 1)
    }

    func testGaussianDrawIsStandardNormal() {
        var z = [Float](repeating: 0, count: 100_001)
        z.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: 77) }
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(z.count)
        let variance = z.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(z.count) - mean * mean
        XCTAssertEqual(mean, 0, accuracy: 0.015)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        var again = [Float](repeating: 0, count: 10)
        again.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: 77) }
        XCTAssertEqual(again, Array(z[0..<10]))
    }

    func testEpochOrderIsAPermutationWithLocality() {
        let n = 1000, g = 10, w = 4
        let a = EpochOrder.make(sequences: n, blockSequences: g, windowBlocks: w, seed: 1, epoch: 0)
        XCTAssertEqual(a.sorted(), (0..<UInt32(n)).map { $0 })
        XCTAssertEqual(a, EpochOrder.make(sequences: n, blockSequences: g, windowBlocks: w, seed: 1, epoch: 0))
        XCTAssertNotEqual(a, EpochOrder.make(sequences: n, blockSequences: g, windowBlocks: w, seed: 1, epoch: 1))
        XCTAssertNotEqual(a, EpochOrder.make(sequences: n, blockSequences: g, windowBlocks: w, seed: 2, epoch: 0))
        // Each window of w·g positions draws from exactly w blocks, and is not in block order.
        for start in stride(from: 0, to: n, by: w * g) {
            let blocks = Set(a[start..<min(start + w * g, n)].map { Int($0) / g })
            XCTAssertEqual(blocks.count, w)
        }
        XCTAssertNotEqual(Array(a[0..<(w * g)]), Array(a[0..<(w * g)]).sorted())
        // Windows are made of random blocks: the first window is not blocks 0..<w.
        XCTAssertNotEqual(Set(a[0..<(w * g)].map { Int($0) / g }), Set(0..<w))
    }

    func testStratifiedCodesCoverEveryStratum() {
        var rng = SplitMix64(seed: 11)
        for n in [1, 7, 16, 64] {
            let codes = ScheduleBuilder.drawCodes(n, .stratified, &rng)
            let strata = codes.map { Int((Double($0) + 0.5) / 65_536 * Double(n)) }
            XCTAssertEqual(strata.sorted(), Array(0..<n), "n=\(n)")
            if n >= 7 { XCTAssertNotEqual(strata, Array(0..<n), "strata are assigned to rows at random") }
        }
    }

    func testExactKCountsAreUniformOverTheCodesAndWeightsAreOneOverKPk() {
        for L in [1, 3, 5, 16, 100, 128, 1000] {
            // Enumerate every t code: how often each k comes up.
            var counts = [Int](repeating: 0, count: L + 1)
            for c in 0..<NoiseTable.levels { counts[Masking.uniformCount(code: UInt16(c), length: L)] += 1 }
            XCTAssertEqual(counts[0], 0)
            for k in 1...L {
                XCTAssertEqual(counts[k], Masking.uniformCodes(count: k, length: L), "L=\(L) k=\(k)")
                XCTAssertGreaterThan(counts[k], 0)
                let p = Double(counts[k]) / Double(NoiseTable.levels)
                XCTAssertEqual(Masking.uniformWeight(count: k, length: L), 1 / (Double(k) * p), accuracy: 1e-9 * Double(L))
                if NoiseTable.levels % L == 0 { XCTAssertEqual(Masking.uniformWeight(count: k, length: L), Double(L) / Double(k)) }
            }
        }
        // The mask holds exactly k positions, the same subset for the same key, different ones for other keys.
        var a = [UInt8](repeating: 0, count: 40), b = a
        a.withUnsafeMutableBufferPointer { Masking.exactK.fill($0, key: 3, threshold: 0, code: 40_000) }
        XCTAssertEqual(a.reduce(0) { $0 + Int($1) }, 1 + 40_000 * 40 / 65_536)
        b.withUnsafeMutableBufferPointer { Masking.exactK.fill($0, key: 4, threshold: 0, code: 40_000) }
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(b.reduce(0) { $0 + Int($1) }, 25)
    }
}
