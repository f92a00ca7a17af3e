import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
@testable import RepriseTrain
import XCTest

final class DiffusionSamplingTests: XCTestCase {
    var data: SyntheticRuns!
    override func setUpWithError() throws { data = try SyntheticRuns("dlm-sample") }
    override func tearDown() { data.remove() }

    func testRevealCountsAndBlockSteps() {
        XCTAssertEqual(DiffusionSampling.revealCounts(tokens: 10, steps: 4), [3, 3, 2, 2])
        XCTAssertEqual(DiffusionSampling.revealCounts(tokens: 4, steps: 4), [1, 1, 1, 1])
        XCTAssertEqual(DiffusionSampling.revealCounts(tokens: 3, steps: 8), [1, 1, 1], "never more steps than tokens")
        XCTAssertEqual(DiffusionSampling.revealCounts(tokens: 5, steps: 1), [5])
        XCTAssertEqual(DiffusionSampling.blockSteps(blocks: [4, 4, 2], steps: 7), [3, 2, 2])
        XCTAssertEqual(DiffusionSampling.blockSteps(blocks: [4, 4], steps: 1), [1, 1], "at least one step per block")
        XCTAssertEqual(DiffusionSampling.blockSteps(blocks: [4, 4], steps: 100), [4, 4])
    }

    /// Every step's state, from an untrained model (the mechanics do not depend on training).
    func trace(_ o: DiffusionSamplingOptions, prompt: [UInt32]) throws -> (out: [UInt32], states: [[Int32]]) {
        var states: [[Int32]] = []
        let out = try DiffusionSampling.generate(model: data.untrained(), prompt: prompt, maskId: data.maskId, options: o) { _, s in
            states.append(s)
        }
        return (out, states)
    }

    func testRevealsEveryPositionKeepsThePromptAndFollowsTheBlocks() throws {
        let prompt: [UInt32] = [5, 6, 7]
        let m = Int32(data.maskId)
        var o = DiffusionSamplingOptions(length: 10, steps: 6, blockLength: 4, temperature: 0.9, topK: 0, seed: 3)
        o.excluded = [Int(data.eot)]
        let (out, states) = try trace(o, prompt: prompt)
        XCTAssertEqual(out.count, 10)
        XCTAssertFalse(out.contains(UInt32(data.maskId)) || out.contains(data.eot), "\(out)")
        // Blocks 4, 4, 2 with 2, 2, 2 steps (6 steps in all): reveals 2,2 | 2,2 | 1,1.
        XCTAssertEqual(states.count, 6)
        var masked = 10
        for (s, state) in states.enumerated() {
            XCTAssertEqual(state.count, 13)
            XCTAssertEqual(Array(state[..<3]), prompt.map { Int32($0) }, "the prompt is never changed")
            let now = state[3...].filter { $0 == m }.count
            XCTAssertEqual(masked - now, [2, 2, 2, 2, 1, 1][s])
            masked = now
            // Semi-autoregressive: a block is complete before anything of the next one is revealed.
            let block = s / 2
            for j in 3..<13 where (j - 3) / 4 > block { XCTAssertEqual(state[j], m) }
            if s % 2 == 1 { for j in 3..<min(13, 3 + 4 * (block + 1)) { XCTAssertNotEqual(state[j], m) } }
        }
        XCTAssertEqual(states.last!.suffix(10).map { UInt32($0) }, out)
        // The same seed gives the same tokens; another seed others (sampled at temperature 0.9).
        XCTAssertEqual(try trace(o, prompt: prompt).out, out)
        var other = o
        other.seed = 4
        XCTAssertNotEqual(try trace(other, prompt: prompt).out, out)
        // Defaults: one block, one token per step; an empty prompt starts fully masked.
        let plain = try trace(DiffusionSamplingOptions(length: 5), prompt: [])
        XCTAssertEqual(plain.states.count, 5)
        XCTAssertEqual(plain.states[0].filter { $0 == m }.count, 4)
        XCTAssertFalse(plain.out.contains(UInt32(data.maskId)))
        // Padding: masked positions after the generated ones, seen by the model, never revealed.
        let padded = try trace(DiffusionSamplingOptions(length: 4, steps: 2, padTo: 12), prompt: prompt)
        XCTAssertEqual(padded.out.count, 4)
        for state in padded.states {
            XCTAssertEqual(state.count, 12)
            XCTAssertEqual(Array(state[..<3]), prompt.map { Int32($0) })
            XCTAssertTrue(state[7...].allSatisfy { $0 == m })
        }
        XCTAssertFalse(padded.out.contains(UInt32(data.maskId)))
        XCTAssertEqual(try trace(DiffusionSamplingOptions(length: 4, padTo: 40), prompt: prompt).states[0].count, 16, "at most the context")
        // Greedy is deterministic whatever the seed.
        XCTAssertEqual(try trace(DiffusionSamplingOptions(length: 6, seed: 1), prompt: prompt).out,
                       try trace(DiffusionSamplingOptions(length: 6, seed: 2), prompt: prompt).out)
    }

    func testLimitsAreClearErrors() throws {
        let model = data.untrained()
        XCTAssertThrowsError(try DiffusionSampling.generate(model: model, prompt: [], maskId: data.maskId, options: .init(length: 17))) {
            XCTAssertTrue("\($0)".contains("context is 16"), "\($0)")
        }
        XCTAssertThrowsError(try DiffusionSampling.generate(model: model, prompt: [99], maskId: data.maskId, options: .init(length: 4))) {
            XCTAssertTrue("\($0)".contains("outside the model's vocabulary"), "\($0)")
        }
        // A prompt longer than the context leaves room for the generated tokens: its last tokens are kept.
        var last: [Int32] = []
        _ = try DiffusionSampling.generate(model: model, prompt: (0..<20).map { UInt32($0) }, maskId: data.maskId,
                                           options: .init(length: 6)) { _, s in last = s }
        XCTAssertEqual(Array(last[..<10]), (10..<20).map { Int32($0) })
    }

    func testTrainedModelContinuesAConstantDocument() throws {
        try data.makeShards(constant: true)
        let model = try data.train(try data.schedule(.mdlm, epochs: 6, name: "mdlm"), name: "mdlm-run")
        var o = DiffusionSamplingOptions(length: 8, steps: 4, blockLength: 4)
        o.excluded = [Int(data.eot)]
        // Tokens of training documents (a token no training document repeats is not learned).
        var counts: [UInt32: Int] = [:]
        for d in try SyntheticDocs(data, split: "train").documents { counts[d[0], default: 0] += 1 }
        let common = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(2).map(\.key)
        for token in common {
            let out = try DiffusionSampling.generate(model: model, prompt: [UInt32](repeating: token, count: 8), maskId: data.maskId, options: o)
            XCTAssertEqual(out, [UInt32](repeating: token, count: 8), "greedy completion of a document of \(token)s")
        }
    }
}
