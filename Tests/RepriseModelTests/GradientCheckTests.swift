import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

/// Every gradient of the fast Float backward pass against central finite differences of the Double
/// reference model (h = 1e-5 in Double: truncation and rounding errors ~1e-9, far below Float's).
/// The loss is a random linear function of the logits and of the final hidden state, L = ⟨R, logits⟩ +
/// ⟨S, hidden⟩, so dLogits = R and dFinalHidden = S are arbitrary upstream gradients.
final class GradientCheckTests: XCTestCase {
    static func tinyConfig(tied: Bool) -> ModelConfig {
        ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, ffnHidden: 16, context: 8, tiedEmbeddings: tied)
    }
    let B = 2, T = 5

    /// Parameters far from the small-init regime so every nonlinearity matters: weights N(0, 0.4²),
    /// norms 1 + N(0, 0.2²).
    func randomParameters(_ model: Transformer, seed: UInt64) {
        var r = TestRandom(seed)
        for t in model.layout.tensors {
            let values = t.kind == .norm ? r.floats(t.count, std: 0.2, mean: 1) : r.floats(t.count, std: 0.4)
            for i in 0..<t.count { model.params[t.offset + i] = values[i] }
        }
    }

    func check(tied: Bool, causal: Bool, fromEmbeddings: Bool, seed: UInt64) {
        let config = Self.tinyConfig(tied: tied)
        let model = Transformer(config: config, maxBatch: B, maxSeq: T, threads: 2)
        randomParameters(model, seed: seed)
        var r = TestRandom(seed + 100)
        let N = B * T, C = config.dim, V = config.vocabSize
        let tokens = r.ints(N, below: V)
        let embeddings = r.floats(N * C)
        let R = r.floats(N * V), S = r.floats(N * C)

        // Fast model: forward, then backward with dLogits = R, dFinalHidden = S.
        if fromEmbeddings {
            model.forward(embeddings: embeddings, batch: B, seq: T, causal: causal)
        } else {
            model.forward(tokens: tokens, batch: B, seq: T, causal: causal)
        }
        let params = model.params.array.doubles
        func reference(_ p: [Double], _ e: [Double]) -> (logits: [Double], hidden: [Double]) {
            ReferenceTransformer.forward(config: config, params: p, tokens: fromEmbeddings ? nil : tokens,
                                         embeddings: fromEmbeddings ? e : nil, batch: B, seq: T, causal: causal)
        }
        let ref = reference(params, embeddings.doubles)
        assertClose(Array(model.logits), ref.logits, tolerance: 1e-5, "logits")
        assertClose(Array(model.finalHidden), ref.hidden, tolerance: 1e-5, "final hidden")
        model.zeroGradients()
        model.backward(dLogits: R, dFinalHidden: S)

        func loss(_ out: (logits: [Double], hidden: [Double])) -> Double {
            var l = 0.0
            for i in 0..<out.logits.count { l += Double(R[i]) * out.logits[i] }
            for i in 0..<out.hidden.count { l += Double(S[i]) * out.hidden[i] }
            return l
        }
        let h = 1e-5
        var worst = 0.0
        defer { print("gradient check (tied \(tied), causal \(causal), embeddings \(fromEmbeddings)): worst relative error \(worst)") }
        for t in model.layout.tensors {
            var fd = [Double](repeating: 0, count: t.count)
            var p = params
            for i in 0..<t.count {
                let j = t.offset + i
                p[j] = params[j] + h
                let plus = loss(reference(p, embeddings.doubles))
                p[j] = params[j] - h
                let minus = loss(reference(p, embeddings.doubles))
                p[j] = params[j]
                fd[i] = (plus - minus) / (2 * h)
            }
            let got = Array(model.gradient(t.name))
            let err = relativeError(got, fd)
            XCTAssertLessThan(err, 5e-5, "\(t.name) (tied \(tied), causal \(causal), embeddings \(fromEmbeddings))")
            if fromEmbeddings && !tied && t.kind == .embedding {
                XCTAssertEqual(got.map(abs).max()!, 0, "the unused embedding table gets no gradient")
            } else {
                XCTAssertGreaterThan(fd.map(abs).max()!, 1e-3, "\(t.name) has a real gradient")
            }
            worst = max(worst, err)
        }
        if fromEmbeddings {
            var fd = [Double](repeating: 0, count: N * C)
            var e = embeddings.doubles
            for i in 0..<(N * C) {
                e[i] = Double(embeddings[i]) + h
                let plus = loss(reference(params, e))
                e[i] = Double(embeddings[i]) - h
                let minus = loss(reference(params, e))
                e[i] = Double(embeddings[i])
                fd[i] = (plus - minus) / (2 * h)
            }
            assertClose(Array(model.inputEmbeddingGradient), fd, tolerance: 5e-5, "input embedding gradient")
        }
    }

    func testCausalTied() { check(tied: true, causal: true, fromEmbeddings: false, seed: 1) }
    func testBidirectionalTied() { check(tied: true, causal: false, fromEmbeddings: false, seed: 2) }
    func testCausalUntied() { check(tied: false, causal: true, fromEmbeddings: false, seed: 3) }
    func testBidirectionalFromInputEmbeddings() { check(tied: true, causal: false, fromEmbeddings: true, seed: 4) }
    func testCausalUntiedFromInputEmbeddings() { check(tied: false, causal: true, fromEmbeddings: true, seed: 5) }

    /// The embedding table's gradient from a forward over tokens equals the input-embedding gradient of
    /// the same forward over the looked-up rows, scattered with `addEmbeddingGradient` (plus the head's
    /// share when tied).
    func testTokenPathEqualsEmbeddingPathPlusScatter() {
        let config = Self.tinyConfig(tied: true)
        let a = Transformer(config: config, maxBatch: B, maxSeq: T, threads: 1)
        randomParameters(a, seed: 9)
        let b = Transformer(config: config, maxBatch: B, maxSeq: T, threads: 1)
        b.params.copy(from: a.params)
        var r = TestRandom(10)
        let N = B * T, C = config.dim
        let tokens = r.ints(N, below: config.vocabSize), R = r.floats(N * config.vocabSize)
        var rows: [Float] = []
        for id in tokens { rows += Array(a.tokenEmbeddings[(Int(id) * C)..<((Int(id) + 1) * C)]) }
        a.zeroGradients(); b.zeroGradients()
        a.forward(tokens: tokens, batch: B, seq: T, causal: true)
        a.backward(dLogits: R)
        b.forward(embeddings: rows, batch: B, seq: T, causal: true)
        XCTAssertEqual(bits(Array(a.logits)), bits(Array(b.logits)))
        b.backward(dLogits: R)
        b.addEmbeddingGradient(Array(b.inputEmbeddingGradient), tokens: tokens, count: N)
        XCTAssertEqual(bits(a.grads.array), bits(b.grads.array))
    }
}
