import Foundation
import RepriseCore
@testable import RepriseTrain
import XCTest

final class ClozePairsTests: XCTestCase {
    func testMcNemarExactPValues() {
        // b = 8, c = 2: 2·P(X ≤ 2), X ~ Binomial(10, 1/2) = 2·(1 + 10 + 45)/1024.
        XCTAssertEqual(ClozePairs.mcnemarExact(8, 2), 112.0 / 1024, accuracy: 1e-12)
        XCTAssertEqual(ClozePairs.mcnemarExact(2, 8), 112.0 / 1024, accuracy: 1e-12)
        XCTAssertEqual(ClozePairs.mcnemarExact(0, 0), 1)
        XCTAssertEqual(ClozePairs.mcnemarExact(5, 5), 1)
        // b = 0, c = 6: 2 / 64.
        XCTAssertEqual(ClozePairs.mcnemarExact(0, 6), 2.0 / 64, accuracy: 1e-12)
    }

    func testCountsAndBootstrapInterval() {
        // A right on 70 of 100 items, B on 60; they disagree on 20 (15 only A, 5 only B).
        var a = [Bool](repeating: false, count: 100), b = a
        for i in 0..<55 { a[i] = true; b[i] = true }
        for i in 55..<70 { a[i] = true }
        for i in 70..<75 { b[i] = true }
        let p = ClozePairs.compare(a, b, resamples: 4000, seed: 3)
        XCTAssertEqual(p.onlyA, 15)
        XCTAssertEqual(p.onlyB, 5)
        XCTAssertEqual(p.accuracyA, 0.70)
        XCTAssertEqual(p.accuracyB, 0.60)
        XCTAssertEqual(p.difference, 0.10, accuracy: 1e-12)
        // The paired standard error of the mean difference: d ∈ {1 (15), −1 (5), 0 (80)}.
        let mean = 0.1, variance = (15 * 0.81 + 5 * 1.21 + 80 * 0.01) / 100
        let se = (variance / 100).squareRoot()
        XCTAssertEqual(p.lower, mean - 1.96 * se, accuracy: 0.25 * se)
        XCTAssertEqual(p.upper, mean + 1.96 * se, accuracy: 0.25 * se)
        XCTAssertEqual(p, ClozePairs.compare(a, b, resamples: 4000, seed: 3), "deterministic")
        // Unanimous outcomes: no discordant pair, an interval of one point.
        let same = ClozePairs.compare(a, a, resamples: 100)
        XCTAssertEqual(same.pValue, 1)
        XCTAssertEqual(same.lower, 0)
        XCTAssertEqual(same.upper, 0)
        // Outcomes of different item sets are not paired.
        let x = [ClozeItemOutcome(item: 0, answer: 1, correct: true, correctPerByte: true, scores: [0, 0, 0, 0])]
        var y = x
        y[0].answer = 2
        XCTAssertNil(ClozePairs.compare(x, y))
        XCTAssertNotNil(ClozePairs.compare(x, x))
    }
}
