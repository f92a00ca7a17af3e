import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

/// Each fast kernel against its plain Double reference, on shapes that exercise the 16-wide loops' tails.
final class KernelTests: XCTestCase {
    func testVectorExpMatchesLibm() {
        var r = TestRandom(1)
        var worst = 0.0
        for _ in 0..<20000 {
            let x = Float(r.uniform() * 170 - 86)
            let got = Double(sexp(x)), want = Foundation.exp(Double(x))
            worst = max(worst, abs(got - want) / want)
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(sexp(-.infinity), 0)
        XCTAssertEqual(sexp(-100), 0)
        XCTAssertEqual(sexp(0), 1)
        XCTAssertEqual(sexp(100), .infinity)
    }

    func testRMSNormForwardBackward() {
        var r = TestRandom(2)
        for (N, C) in [(5, 8), (37, 40), (64, 256)] {
            let x = r.floats(N * C, std: 2), w = r.floats(C, std: 0.3, mean: 1), dy = r.floats(N * C)
            let ref = RMSNorm.forwardReference(x: x.doubles, weight: w.doubles, rows: N, dim: C, eps: 1e-5)
            let out = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N)
            RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, x: x, weight: w, rows: N, dim: C, eps: 1e-5, threads: 2)
            assertClose(out.array, ref.out, tolerance: 1e-6, "forward \(N)x\(C)")
            assertClose(rstd.array, ref.rstd, tolerance: 1e-6, "rstd")
            let refB = RMSNorm.backwardReference(dout: dy.doubles, x: x.doubles, weight: w.doubles, rows: N, dim: C, eps: 1e-5)
            for threads in [1, 2] {
                let dx = FloatBuffer(count: N * C), dw = FloatBuffer(count: C)
                let scratch = FloatBuffer(count: RMSNorm.scratchCount(rows: N, dim: C))
                RMSNorm.backward(dx: dx.pointer, dweight: dw.pointer, dout: dy, x: x, rstd: rstd.pointer, weight: w,
                                 rows: N, dim: C, threads: threads, scratch: scratch.pointer)
                assertClose(dx.array, refB.dx, tolerance: 1e-5, "dx \(N)x\(C)")
                assertClose(dw.array, refB.dweight, tolerance: 1e-5, "dweight \(N)x\(C)")
            }
        }
    }

    func testRMSNormBackwardAccumulatesAndIsThreadCountIndependent() {
        var r = TestRandom(3)
        let N = 100, C = 48
        let x = r.floats(N * C), w = r.floats(C), dy = r.floats(N * C), start = r.floats(N * C)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] {
            let dx = FloatBuffer(start), dw = FloatBuffer(count: C), rstd = FloatBuffer(count: N), out = FloatBuffer(count: N * C)
            let scratch = FloatBuffer(count: RMSNorm.scratchCount(rows: N, dim: C))
            RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, x: x, weight: w, rows: N, dim: C, eps: 1e-5, threads: threads)
            RMSNorm.backward(dx: dx.pointer, dweight: dw.pointer, dout: dy, x: x, rstd: rstd.pointer, weight: w,
                             rows: N, dim: C, threads: threads, scratch: scratch.pointer)
            results.append(bits(dx.array + dw.array))
            if threads == 1 {
                let ref = RMSNorm.backwardReference(dout: dy.doubles, x: x.doubles, weight: w.doubles, rows: N, dim: C, eps: 1e-5)
                assertClose(zip(dx.array, start).map { $0 - $1 }, ref.dx, tolerance: 1e-5, "accumulated dx")
            }
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    func testRoPEMatchesReferenceAndBackwardIsTranspose() {
        var r = TestRandom(4)
        let B = 2, T = 7, H = 3, D = 10, C = H * D
        let table = RoPETable(headDim: D, context: 16, theta: 10000)
        let qkv = r.floats(B * T * 3 * C)
        let rotated = FloatBuffer(qkv)
        RoPE.forward(qkv: rotated.pointer, batch: B, seq: T, heads: H, headDim: D, table: table, threads: 2)
        var want = qkv.doubles
        for row in 0..<(B * T) {
            for h in 0..<(2 * H) {
                let s = row * 3 * C + h * D
                want.replaceSubrange(s..<(s + D), with: RoPE.rotateReference(Array(want[s..<(s + D)]), position: row % T, theta: 10000))
            }
        }
        assertClose(rotated.array, want, tolerance: 1e-6, "rope forward (v untouched)")
        // backward ∘ forward = identity (orthogonal rotation), and ⟨R x, y⟩ = ⟨x, Rᵀ y⟩.
        let back = FloatBuffer(rotated.array)
        RoPE.backward(dqkv: back.pointer, batch: B, seq: T, heads: H, headDim: D, table: table, threads: 1)
        assertClose(back.array, qkv.doubles, tolerance: 1e-6, "rope backward inverts forward")
        let y = r.floats(B * T * 3 * C)
        let ry = FloatBuffer(y)
        RoPE.backward(dqkv: ry.pointer, batch: B, seq: T, heads: H, headDim: D, table: table, threads: 2)
        let lhs = zip(rotated.array, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(qkv, ry.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * abs(lhs) + 1e-4)
    }

    func testAttentionForwardBackward() {
        var r = TestRandom(5)
        for (B, T, H, D) in [(2, 5, 2, 4), (2, 19, 3, 8), (1, 40, 2, 16), (2, 150, 2, 8)] {
            for causal in [true, false] {
                let C = H * D
                let qkv = r.floats(B * T * 3 * C), dout = r.floats(B * T * C)
                let ref = Attention.forwardReference(qkv: qkv.doubles, batch: B, seq: T, heads: H, headDim: D, causal: causal)
                let out = FloatBuffer(count: B * T * C), probs = FloatBuffer(count: B * H * T * T)
                Attention.forward(out: out.pointer, probs: probs.pointer, qkv: qkv, batch: B, seq: T, heads: H, headDim: D,
                                  causal: causal, threads: 2)
                assertClose(out.array, ref.out, tolerance: 1e-5, "attention out \(B),\(T),\(H),\(D) causal \(causal)")
                assertClose(probs.array, ref.probs, tolerance: 1e-5, "probs")
                let dqkv = FloatBuffer(count: B * T * 3 * C), scratch = FloatBuffer(count: B * H * T * T)
                Attention.backward(dqkv: dqkv.pointer, dout: dout, qkv: qkv, probs: probs.pointer, scratch: scratch.pointer,
                                   batch: B, seq: T, heads: H, headDim: D, causal: causal, threads: 2)
                let refD = Attention.backwardReference(dout: dout.doubles, qkv: qkv.doubles, batch: B, seq: T, heads: H, headDim: D, causal: causal)
                assertClose(dqkv.array, refD, tolerance: 1e-5, "attention backward \(B),\(T),\(H),\(D) causal \(causal)")
            }
        }
    }

    func testSwiGLUForwardBackward() {
        var r = TestRandom(6)
        for (N, F) in [(3, 5), (10, 37), (8, 64)] {
            var gu = r.floats(N * 2 * F, std: 3)
            gu[0] = -95; gu[1] = 95   // saturated sigmoid
            let dout = r.floats(N * F)
            let out = FloatBuffer(count: N * F)
            SwiGLU.forward(out: out.pointer, gu: gu, rows: N, hidden: F, threads: 2)
            assertClose(out.array, SwiGLU.forwardReference(gu: gu.doubles, rows: N, hidden: F), tolerance: 1e-6, "swiglu \(N)x\(F)")
            let dgu = FloatBuffer(count: N * 2 * F)
            SwiGLU.backward(dgu: dgu.pointer, dout: dout, gu: gu, rows: N, hidden: F, threads: 2)
            assertClose(dgu.array, SwiGLU.backwardReference(dout: dout.doubles, gu: gu.doubles, rows: N, hidden: F),
                        tolerance: 1e-6, "swiglu backward \(N)x\(F)")
        }
    }

    func testEmbeddingForwardBackwardWithRepeatedTokens() {
        var r = TestRandom(7)
        let V = 9, C = 70, N = 30
        let table = r.floats(V * C), tokens = r.ints(N, below: 4), dout = r.floats(N * C)
        let out = FloatBuffer(count: N * C)
        Embedding.forward(out: out.pointer, tokens: tokens, table: table, rows: N, dim: C, vocab: V, threads: 2)
        for n in 0..<N { XCTAssertEqual(Array(out.array[(n * C)..<((n + 1) * C)]), Array(table[(Int(tokens[n]) * C)..<((Int(tokens[n]) + 1) * C)])) }
        var want = [Double](repeating: 0, count: V * C)
        for n in 0..<N { for i in 0..<C { want[Int(tokens[n]) * C + i] += Double(dout[n * C + i]) } }
        let d = FloatBuffer(count: V * C)
        Embedding.backward(dtable: d.pointer, dout: dout, tokens: tokens, rows: N, dim: C, threads: 2)
        assertClose(d.array, want, tolerance: 1e-6, "embedding backward")
    }

    func testCrossEntropyWeightsExclusionAndInPlace() {
        var r = TestRandom(8)
        for V in [7, 16, 100, 1003] {
            let N = 9
            let logits = r.floats(N * V, std: 4)
            var weights = r.floats(N).map { abs($0) }
            weights[2] = 0
            weights[5] = 0
            let excluded = V - 2
            var targets = r.ints(N, below: V - 2)
            targets[1] = Int32(V - 1)   // the id after the excluded one
            for ex in [nil, excluded] {
                let ref = CrossEntropy.reference(logits: logits.doubles, targets: targets, weights: weights.doubles, vocab: V,
                                                 excluding: ex, scale: 0.25)
                let fast = CrossEntropy.forwardBackward(logits: logits, targets: targets, weights: weights, vocab: V,
                                                        excluding: ex, scale: 0.25, threads: 2)
                XCTAssertEqual(fast.loss, ref.loss, accuracy: 1e-5 * abs(ref.loss))
                assertClose(fast.dLogits, ref.dLogits, tolerance: 1e-6, "dLogits V=\(V) excluded \(String(describing: ex))")
                // In place: dLogits written over the logits gives the same bits.
                let buf = FloatBuffer(logits)
                let loss2 = CrossEntropy.forwardBackward(logits: buf.pointer, targets: targets, weights: weights, rows: N, vocab: V,
                                                         excluding: ex, dLogits: buf.pointer, scale: 0.25, threads: 1)
                XCTAssertEqual(loss2, fast.loss)
                XCTAssertEqual(bits(buf.array), bits(fast.dLogits))
                if let ex { for n in 0..<N { XCTAssertEqual(fast.dLogits[n * V + ex], 0) } }
            }
        }
    }

    func testCrossEntropyForwardOnlyAndRowLosses() {
        var r = TestRandom(9)
        let N = 6, V = 33
        let logits = r.floats(N * V), targets = r.ints(N, below: V)
        var rows = [Float](repeating: 0, count: N)
        let total = rows.withUnsafeMutableBufferPointer { rp in
            CrossEntropy.forwardBackward(logits: logits, targets: targets, weights: nil, rows: N, vocab: V,
                                         dLogits: nil, rowLosses: rp.baseAddress!, threads: 2)
        }
        let ref = CrossEntropy.reference(logits: logits.doubles, targets: targets, weights: nil, vocab: V, excluding: nil, scale: 1)
        XCTAssertEqual(total, ref.loss, accuracy: 1e-5)
        XCTAssertEqual(total, rows.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-6)
    }

    func testAdamWMatchesReference() {
        var r = TestRandom(10)
        let config = ModelConfig(vocabSize: 11, dim: 8, layers: 1, heads: 2, ffnHidden: 16, context: 4, tiedEmbeddings: false)
        let layout = ParameterLayout(config)
        let p0 = r.floats(layout.count), decays = (0..<layout.count).map { i in layout.tensors.first { $0.range.contains(i) }!.decays }
        let opt = AdamW(layout: layout, weightDecay: 0.1)
        let params = FloatBuffer(p0)
        var pRef = p0.doubles, m = [Double](repeating: 0, count: layout.count), v = m
        for step in 1...3 {
            let g = r.floats(layout.count)
            opt.update(params: params, grads: FloatBuffer(g), lr: 0.01, threads: 2)
            AdamW.updateReference(p: &pRef, g: g.doubles, m: &m, v: &v, decays: decays, step: step, lr: 0.01, wd: 0.1,
                                  b1: 0.9, b2: 0.95, eps: 1e-8)
        }
        XCTAssertEqual(opt.step, 3)
        assertClose(params.array, pRef, tolerance: 1e-6, "adamw params")
        assertClose(opt.m.array, m, tolerance: 1e-6, "adamw m")
        assertClose(opt.v.array, v, tolerance: 1e-6, "adamw v")
        // Norms and the embedding do not decay: with zero gradients only decaying tensors move.
        let opt2 = AdamW(layout: layout, weightDecay: 0.5)
        let p = FloatBuffer(p0)
        opt2.update(params: p, grads: FloatBuffer(count: layout.count), lr: 0.1, threads: 1)
        for t in layout.tensors {
            let moved = t.range.contains { p[$0] != p0[$0] }
            XCTAssertEqual(moved, t.decays, t.name)
        }
        XCTAssertTrue(layout.tensor(named: "lm_head.weight")!.decays)
        XCTAssertFalse(layout.tensor(named: "model.embed_tokens.weight")!.decays)
    }

    func testGradientNormAndClipping() {
        var r = TestRandom(11)
        let g = r.floats(100_000)
        let want = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let buf = FloatBuffer(g)
        XCTAssertEqual(GradientClipping.globalNorm(buf, threads: 2), want, accuracy: want * 1e-6)
        XCTAssertEqual(GradientClipping.globalNorm(buf, threads: 1), GradientClipping.globalNorm(buf, threads: 3))
        let before = GradientClipping.clip(buf, maxNorm: 1, threads: 2)
        XCTAssertEqual(before, want, accuracy: want * 1e-6)
        XCTAssertEqual(GradientClipping.globalNorm(buf, threads: 2), 1, accuracy: 1e-5)
        // Below the limit nothing changes.
        let small = FloatBuffer([0.1, 0.2])
        GradientClipping.clip(small, maxNorm: 1, threads: 1)
        XCTAssertEqual(small.array, [0.1, 0.2])
    }
}
