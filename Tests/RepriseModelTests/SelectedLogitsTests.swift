import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

final class SelectedLogitsTests: XCTestCase {
    func testLogitsAtSomePositionsMatchTheFullLogits() {
        for tied in [true, false] {
            let config = ModelConfig(vocabSize: 37, dim: 16, layers: 2, heads: 2, ffnHidden: 32, context: 8, tiedEmbeddings: tied)
            let model = Transformer(config: config, maxBatch: 3, maxSeq: 8, threads: 2)
            model.initializeParameters(seed: 7)
            let tokens = (0..<24).map { Int32($0 * 5 % 37) }
            model.forward(tokens: tokens, batch: 3, seq: 8, causal: false)
            let full = Array(model.logits)
            model.forward(tokens: tokens, batch: 3, seq: 8, causal: false, computeLogits: false)
            let rows = [0, 5, 9, 23, 5]
            var some = [Float](repeating: 0, count: rows.count * 37)
            some.withUnsafeMutableBufferPointer { model.logits(atPositions: rows, into: $0.baseAddress!) }
            for (i, r) in rows.enumerated() {
                for v in 0..<37 { XCTAssertEqual(some[i * 37 + v], full[r * 37 + v], accuracy: 1e-5) }
            }
        }
    }
}
