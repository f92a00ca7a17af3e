import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

final class TransformerTests: XCTestCase {
    func testLayoutNamesOrderAndViews() {
        let config = ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, ffnHidden: 16, context: 8, tiedEmbeddings: false)
        let layout = ParameterLayout(config)
        let names = layout.tensors.map(\.name)
        XCTAssertEqual(names.first, "model.embed_tokens.weight")
        XCTAssertEqual(Array(names[1...9]), [
            "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
            "model.layers.0.self_attn.o_proj.weight", "model.layers.0.post_attention_layernorm.weight",
            "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
        ])
        XCTAssertEqual(Array(names.suffix(2)), ["model.norm.weight", "lm_head.weight"])
        XCTAssertEqual(layout.tensor(named: "model.layers.1.mlp.down_proj.weight")?.shape, [8, 16])
        XCTAssertEqual(layout.tensor(named: "model.layers.1.mlp.gate_proj.weight")?.shape, [16, 8])
        // Contiguous, no gaps, q/k/v and gate/up adjacent.
        var offset = 0
        for t in layout.tensors { XCTAssertEqual(t.offset, offset); offset += t.count }
        XCTAssertEqual(offset, layout.count)
        for l in layout.layers {
            XCTAssertEqual(l.k, l.q + 64); XCTAssertEqual(l.v, l.k + 64); XCTAssertEqual(l.up, l.gate + 128)
        }
        XCTAssertEqual(layout.head, layout.tensor(named: "lm_head.weight")!.offset)
        let tied = ParameterLayout(ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, ffnHidden: 16, context: 8))
        XCTAssertNil(tied.tensor(named: "lm_head.weight"))
        XCTAssertEqual(tied.head, tied.embedding)
        XCTAssertEqual(Set(layout.tensors.filter(\.decays).map { $0.name.components(separatedBy: ".").suffix(2).joined(separator: ".") }),
                       ["q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "gate_proj.weight", "up_proj.weight",
                        "down_proj.weight", "lm_head.weight"])
    }

    func testInitialisationIsDeterministicWithTheDocumentedScales() {
        let config = ModelConfig.tiny(vocabSize: 512)
        let a = Transformer(config: config, maxBatch: 1, maxSeq: 4), b = Transformer(config: config, maxBatch: 1, maxSeq: 4)
        a.initializeParameters(seed: 42)
        b.initializeParameters(seed: 42)
        XCTAssertEqual(bits(a.params.array), bits(b.params.array))
        b.initializeParameters(seed: 43)
        XCTAssertNotEqual(bits(a.params.array), bits(b.params.array))
        func std(_ name: String) -> Double {
            let v = a.parameter(name)
            let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)).squareRoot()
        }
        XCTAssertEqual(std("model.embed_tokens.weight"), 0.02, accuracy: 0.0005)
        XCTAssertEqual(std("model.layers.0.self_attn.q_proj.weight"), 0.02, accuracy: 0.0005)
        XCTAssertEqual(std("model.layers.3.mlp.down_proj.weight"), 0.02 / (8.0).squareRoot(), accuracy: 0.0003)
        XCTAssertEqual(std("model.layers.2.self_attn.o_proj.weight"), 0.02 / (8.0).squareRoot(), accuracy: 0.0003)
        XCTAssertTrue(a.parameter("model.norm.weight").allSatisfy { $0 == 1 })
        XCTAssertTrue(a.parameter("model.layers.1.input_layernorm.weight").allSatisfy { $0 == 1 })
    }

    /// A row-split product gives the same bits as one sgemm call, whatever the split.
    func testThreadedGemmIsBitIdenticalToOneCall() {
        BLAS.threads = 1
        var r = TestRandom(20)
        for (m, n, k, tA, tB) in [(300, 70, 90, false, true), (64, 500, 33, true, false), (257, 255, 64, true, true),
                                  (1000, 96, 64, false, false), (768, 256, 100, true, false)] {
            let a = r.floats(m * k), b = r.floats(k * n), c0 = r.floats(m * n)
            let lda = tA ? m : k, ldb = tB ? k : n
            var outputs: [[UInt32]] = []
            for threads in [1, 2, 3, 5, 8] {
                let c = FloatBuffer(c0)
                BLAS.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 1,
                          c: c.pointer, ldc: n, threads: threads)
                outputs.append(bits(c.array))
            }
            XCTAssertEqual(Set(outputs).count, 1, "\(m)x\(n)x\(k)")
            // and it is the product
            var want = c0.doubles
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for l in 0..<k { s += Double(tA ? a[l * m + i] : a[i * k + l]) * Double(tB ? b[j * k + l] : b[l * n + j]) }
                    want[i * n + j] += 0.5 * s
                }
            }
            assertClose(outputs[0].map { Float(bitPattern: $0) }, want, tolerance: 1e-5, "gemm \(m)x\(n)x\(k)")
        }
    }

    /// A whole training step (forward, loss, backward, clipping, AdamW) gives the same bits with 1, 2 and 3
    /// threads, causal and bidirectional.
    func testTrainingStepIsIndependentOfThreadCount() {
        let config = ModelConfig(vocabSize: 300, dim: 64, layers: 2, heads: 4, context: 48)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] {
            let bench = TrainingStepBenchmark(config: config, batch: 3, seq: 40, threads: threads, seed: 7)
            var losses: [Double] = []
            for _ in 0..<2 { losses.append(bench.step(lr: 1e-2)) }
            let m = bench.model
            m.zeroGradients()
            m.forward(tokens: (0..<120).map { Int32($0 * 7 % 300) }, batch: 3, seq: 40, causal: false)
            m.backward(dLogits: m.logits.baseAddress!)
            results.append(bits(m.params.array + m.grads.array + bench.optimizer.v.array + losses.map(Float.init)))
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    /// A smaller batch than the buffers were sized for gives the same results as a model sized for it.
    func testSmallerBatchThanBuffers() {
        let config = ModelConfig(vocabSize: 50, dim: 32, layers: 2, heads: 2, context: 16)
        let big = Transformer(config: config, maxBatch: 4, maxSeq: 16, threads: 2)
        let exact = Transformer(config: config, maxBatch: 2, maxSeq: 9, threads: 2)
        big.initializeParameters(seed: 3)
        exact.params.copy(from: big.params)
        var r = TestRandom(4)
        let tokens = r.ints(18, below: 50), d = r.floats(18 * 50)
        // Fill the big model's buffers with another, larger batch first.
        big.forward(tokens: r.ints(64, below: 50), batch: 4, seq: 16, causal: true)
        for m in [big, exact] {
            m.zeroGradients()
            m.forward(tokens: tokens, batch: 2, seq: 9, causal: true)
            m.backward(dLogits: d)
        }
        XCTAssertEqual(bits(Array(big.logits)), bits(Array(exact.logits)))
        XCTAssertEqual(bits(big.grads.array), bits(exact.grads.array))
    }

    /// Causal: changing a later token leaves earlier logits unchanged; bidirectional: it changes them.
    func testCausalMaskAndBidirectionalAttention() {
        let config = ModelConfig(vocabSize: 20, dim: 16, layers: 2, heads: 2, context: 8)
        let m = Transformer(config: config, maxBatch: 1, maxSeq: 8, threads: 1)
        m.initializeParameters(seed: 5)
        let a: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8], b: [Int32] = [1, 2, 3, 4, 5, 6, 7, 9]
        for causal in [true, false] {
            m.forward(tokens: a, batch: 1, seq: 8, causal: causal)
            let la = Array(m.logits)
            m.forward(tokens: b, batch: 1, seq: 8, causal: causal)
            let lb = Array(m.logits)
            let prefixEqual = la[0..<(7 * 20)] == lb[0..<(7 * 20)]
            XCTAssertEqual(prefixEqual, causal)
            XCTAssertNotEqual(la[(7 * 20)...], lb[(7 * 20)...])
        }
    }

    /// Repeated steps on one batch drive the loss down (memorisation), in both modes.
    func testTrainingReducesLoss() {
        let config = ModelConfig(vocabSize: 64, dim: 32, layers: 2, heads: 2, context: 16)
        let bench = TrainingStepBenchmark(config: config, batch: 4, seq: 16, threads: 2, seed: 1)
        let first = bench.step(lr: 1e-2)
        var last = first
        for _ in 0..<40 { last = bench.step(lr: 1e-2) }
        XCTAssertEqual(first, log(64), accuracy: 0.1)
        XCTAssertLessThan(last, first * 0.5)
        XCTAssertEqual(bench.optimizer.step, 41)
    }

    func testMemoryEstimate() {
        let config = ModelConfig.small(vocabSize: 8192)
        let m = Transformer(config: config, maxBatch: 2, maxSeq: 64)
        XCTAssertEqual(Transformer.estimatedBytes(config: config, maxBatch: 2, maxSeq: 64, withOptimizer: false),
                       8 * config.parameterCount + m.activationBytes)
        // small at B=8, T=256: about 6.9M parameters and 0.5 GB of activations.
        let big = Transformer.estimatedBytes(config: config, maxBatch: 8, maxSeq: 256)
        XCTAssertGreaterThan(big, 400_000_000)
        XCTAssertLessThan(big, 700_000_000)
    }

    func testBenchmarkHelpers() {
        let peak = BLAS.measureSgemmPeak(threads: 2, size: 256, repeats: 2)
        XCTAssertGreaterThan(peak, 0.5)
        XCTAssertFalse(BLAS.coreName.isEmpty)
        let bench = TrainingStepBenchmark(config: ModelConfig(vocabSize: 100, dim: 32, layers: 1, heads: 2, context: 16),
                                          batch: 2, threads: 2)
        let m = bench.measure(steps: 2, warmup: 1)
        XCTAssertGreaterThan(m.tokensPerSecond, 0)
        XCTAssertEqual(m.flopsPerToken, bench.model.config.trainingFlopsPerToken(seqLen: 16))
        XCTAssertTrue(m.lastLoss.isFinite)
    }
}
