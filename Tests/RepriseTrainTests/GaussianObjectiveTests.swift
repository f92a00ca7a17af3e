import Foundation
import RepriseCore
@testable import RepriseModel
import RepriseSchedules
import RepriseShards
@testable import RepriseTrain
import XCTest

/// The Gaussian diffusion objective against an independent Double implementation: its loss, every
/// gradient (the transformer's, the embedding's through x0 and the rounding head, the time embedding's and
/// the ε head's) against central finite differences, and ∂loss/∂(model input) against the model's
/// `inputEmbeddingGradient`.
final class GaussianObjectiveTests: XCTestCase {
    struct Random {
        var rng: SplitMix64
        init(_ seed: UInt64) { rng = SplitMix64(seed: seed) }
        mutating func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        mutating func normal() -> Double {
            let u1 = uniform() + 0x1p-53, u2 = uniform()
            return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        }
    }

    let R = 2, L = 5, F = 8

    /// The objective in Double with plain loops, on top of `ReferenceTransformer`. `input`, when given,
    /// replaces x_t + temb as the transformer's input (for ∂loss/∂input).
    static func reference(config: ModelConfig, p: [Double], extra: [Double], objective g: GaussianObjective,
                          tokens: [Int32], rows R: Int, seq L: Int, t: [Double], abar: [Double], eps: [Double],
                          input: [Double]? = nil, prediction: GaussianPrediction = .eps) -> (mse: Double, ce: Double) {
        let layout = ParameterLayout(config)
        let C = config.dim, V = config.vocabSize, F = g.features, N = R * L
        func offset(_ name: String) -> Int { g.tensors.first { $0.name == name }!.offset }
        let wt = offset("gaussian.time_proj.weight"), bt = offset("gaussian.time_proj.bias")
        let we = offset("gaussian.eps_head.weight"), be = offset("gaussian.eps_head.bias")
        var x0 = [Double](repeating: 0, count: N * C)
        for n in 0..<N {
            let e = Array(p[(layout.embedding + Int(tokens[n]) * C)..<(layout.embedding + Int(tokens[n]) * C + C)])
            let norm = e.map { $0 * $0 }.reduce(0, +).squareRoot()
            for c in 0..<C { x0[n * C + c] = Double(C).squareRoot() * e[c] / norm }
        }
        var u = [Double](repeating: 0, count: N * C)
        for r in 0..<R {
            var phi = [Double](repeating: 0, count: F)
            for k in 0..<(F / 2) {
                let a = 1000 * t[r] * exp(-log(10000.0) * Double(k) / Double(F / 2))
                phi[k] = sin(a); phi[F / 2 + k] = cos(a)
            }
            for c in 0..<C {
                var temb = extra[bt + c]
                for k in 0..<F { temb += extra[wt + c * F + k] * phi[k] }
                for j in 0..<L {
                    let i = (r * L + j) * C + c
                    u[i] = abar[r].squareRoot() * x0[i] + (1 - abar[r]).squareRoot() * eps[i] + temb
                }
            }
        }
        let hidden = ReferenceTransformer.forward(config: config, params: p, tokens: nil, embeddings: input ?? u,
                                                  batch: R, seq: L, causal: false).hidden
        var mse = 0.0
        for n in 0..<N {
            for o in 0..<C {
                var y = extra[be + o]
                for i in 0..<C { y += extra[we + o * C + i] * hidden[n * C + i] }
                let target = prediction == .eps ? eps[n * C + o] : x0[n * C + o]
                mse += (y - target) * (y - target)
            }
        }
        var ce = 0.0
        for n in 0..<N {
            var logits = [Double](repeating: 0, count: V)
            for v in 0..<V {
                for c in 0..<C { logits[v] += x0[n * C + c] * p[layout.head + v * C + c] }
            }
            let kept = (0..<V).filter { $0 != g.excludedId }
            let m = kept.map { logits[$0] }.max()!
            ce += m + log(kept.map { exp(logits[$0] - m) }.reduce(0, +)) - logits[Int(tokens[n])]
        }
        return (mse / Double(N * C), ce / Double(N))
    }

    func check(tied: Bool, seed: UInt64, prediction: GaussianPrediction = .eps) {
        let config = ModelConfig(vocabSize: 11, dim: 8, layers: 2, heads: 2, ffnHidden: 16, context: 8, tiedEmbeddings: tied)
        let model = Transformer(config: config, maxBatch: R, maxSeq: L, threads: 2)
        let g = GaussianObjective(dim: 8, vocab: 11, maxRows: R, maxSeq: L, noise: .cosine, excludedId: 10, threads: 2, features: F)
        g.prediction = prediction
        var rnd = Random(seed)
        // Weights far from the small-init regime so every nonlinearity matters.
        for t in model.layout.tensors {
            for i in t.range { model.params[i] = Float(t.kind == .norm ? 1 + 0.2 * rnd.normal() : 0.4 * rnd.normal()) }
        }
        for i in 0..<g.params.count { g.params[i] = Float(0.4 * rnd.normal()) }
        let N = R * L, C = config.dim
        let tokens: [Int32] = (0..<N).map { _ in Int32(rnd.rng.next() % 10) }  // never the excluded id 10
        let t = [0.3, 0.8], abar = t.map { GaussianNoise.cosine.alphaBar($0) }, keys: [UInt64] = [17, 4242]
        var eps: [Double] = []
        for r in 0..<R {
            var row = [Float](repeating: 0, count: L * C)
            row.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: keys[r]) }
            eps += row.map(Double.init)
        }

        model.zeroGradients(); g.zeroGradients()
        let fast = g.lossAndGradient(model: model, tokens: tokens, rows: R, seq: L, t: t, alphaBar: abar, keys: keys, backward: true)
        let p = model.params.array.map(Double.init), extra = g.params.array.map(Double.init)
        func loss(_ p: [Double], _ extra: [Double]) -> Double {
            let r = Self.reference(config: config, p: p, extra: extra, objective: g, tokens: tokens, rows: R, seq: L,
                                   t: t, abar: abar, eps: eps, prediction: prediction)
            return r.mse + r.ce
        }
        let ref = Self.reference(config: config, p: p, extra: extra, objective: g, tokens: tokens, rows: R, seq: L,
                                 t: t, abar: abar, eps: eps, prediction: prediction)
        XCTAssertEqual(fast.mse, ref.mse, accuracy: 1e-5 * ref.mse)
        XCTAssertEqual(fast.roundingCE, ref.ce, accuracy: 1e-5 * ref.ce)

        let h = 1e-5
        var worst = 0.0
        func compare(_ name: String, got: [Float], fd: [Double]) {
            var diff = 0.0, scale = 1e-30
            for i in 0..<got.count { diff = max(diff, abs(Double(got[i]) - fd[i])); scale = max(scale, abs(fd[i])) }
            let err = diff / scale
            worst = max(worst, err)
            XCTAssertLessThan(err, 5e-5, "\(name) (tied \(tied))")
            XCTAssertGreaterThan(scale, 1e-4, "\(name) has a real gradient")
        }
        for tensor in model.layout.tensors {
            var q = p
            let fd = tensor.range.map { j -> Double in
                q[j] = p[j] + h; let plus = loss(q, extra)
                q[j] = p[j] - h; let minus = loss(q, extra)
                q[j] = p[j]
                return (plus - minus) / (2 * h)
            }
            compare(tensor.name, got: Array(model.gradient(tensor.name)), fd: fd)
        }
        for tensor in g.tensors {
            var q = extra
            let fd = tensor.range.map { j -> Double in
                q[j] = extra[j] + h; let plus = loss(p, q)
                q[j] = extra[j] - h; let minus = loss(p, q)
                q[j] = extra[j]
                return (plus - minus) / (2 * h)
            }
            compare(tensor.name, got: Array(g.gradient(tensor.name)), fd: fd)
        }
        // ∂loss/∂(x_t + temb): the model's input gradient after the objective's backward.
        let input = g.input.array.map(Double.init)
        var q = input
        let fd = (0..<(N * C)).map { i -> Double in
            q[i] = input[i] + h
            let plus = Self.reference(config: config, p: p, extra: extra, objective: g, tokens: tokens, rows: R, seq: L,
                                      t: t, abar: abar, eps: eps, input: q, prediction: prediction).mse
            q[i] = input[i] - h
            let minus = Self.reference(config: config, p: p, extra: extra, objective: g, tokens: tokens, rows: R, seq: L,
                                       t: t, abar: abar, eps: eps, input: q, prediction: prediction).mse
            q[i] = input[i]
            return (plus - minus) / (2 * h)
        }
        compare("input (x_t + temb)", got: Array(model.inputEmbeddingGradient), fd: fd)
        print("gaussian objective gradient check (tied \(tied), \(prediction.rawValue) prediction): worst relative error \(worst)")
    }

    func testGradientsTied() { check(tied: true, seed: 1) }
    func testGradientsUntied() { check(tied: false, seed: 2) }
    func testGradientsOfX0PredictionTied() { check(tied: true, seed: 3, prediction: .x0) }
    func testGradientsOfX0PredictionUntied() { check(tied: false, seed: 4, prediction: .x0) }

    /// Loss and every gradient have the same bits with 1, 2 and 3 threads.
    func testResultsDoNotDependOnTheThreadCount() {
        let config = ModelConfig(vocabSize: 64, dim: 32, layers: 1, heads: 2, ffnHidden: 48, context: 32)
        var rnd = Random(7)
        let tokens: [Int32] = (0..<128).map { _ in Int32(rnd.rng.next() % 63) }
        var results: [(GaussianObjective.Losses, [Float], [Float], [UInt32])] = []
        for threads in [1, 2, 3] {
            let model = Transformer(config: config, maxBatch: 4, maxSeq: 32, threads: threads)
            model.initializeParameters(seed: 5)
            let g = GaussianObjective(model: model, maxRows: 4, maxSeq: 32, noise: .cosine, excludedId: 63)
            g.initialize(seed: 5)
            model.zeroGradients(); g.zeroGradients()
            let l = g.lossAndGradient(model: model, tokens: tokens, rows: 4, seq: 32, t: [0.1, 0.4, 0.7, 0.99],
                                      alphaBar: [0.9, 0.6, 0.3, 0.01], keys: [1, 2, 3, 4], backward: true)
            let s = g.sample(model: model, prompt: [1, 2], length: 10, steps: 4, seed: 9)
            results.append((l, model.grads.array, g.grads.array, s))
        }
        for r in results.dropFirst() {
            XCTAssertEqual(r.0, results[0].0)
            XCTAssertEqual(r.1.map(\.bitPattern), results[0].1.map(\.bitPattern))
            XCTAssertEqual(r.2.map(\.bitPattern), results[0].2.map(\.bitPattern))
            XCTAssertEqual(r.3, results[0].3)
        }
    }

    /// The noise of a row is the plan's: regenerated from the row's key (L × C values, row-major), and the
    /// input is sqrt(abar)·x0 + sqrt(1 − abar)·ε + temb with x0 the normalised embedding row.
    func testInputIsTheNoisedNormalisedEmbedding() {
        let config = ModelConfig(vocabSize: 11, dim: 8, layers: 1, heads: 2, ffnHidden: 16, context: 8)
        let model = Transformer(config: config, maxBatch: 1, maxSeq: 4)
        model.initializeParameters(seed: 3)
        let g = GaussianObjective(model: model, maxRows: 1, maxSeq: 4, noise: .cosine, excludedId: nil)
        g.initialize(seed: 3)
        let tokens: [Int32] = [1, 5, 5, 9]
        g.lossAndGradient(model: model, tokens: tokens, rows: 1, seq: 4, t: [0.5], alphaBar: [0.25], keys: [99], backward: false)
        var eps = [Float](repeating: 0, count: 32)
        eps.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: 99) }
        for j in 0..<4 {
            let e = Array(model.tokenEmbeddings[(Int(tokens[j]) * 8)..<(Int(tokens[j]) * 8 + 8)])
            let norm = e.map { Double($0 * $0) }.reduce(0, +).squareRoot()
            for c in 0..<8 {
                let x0 = (8.0).squareRoot() * Double(e[c]) / norm
                XCTAssertEqual(Double(g.input[j * 8 + c] - g.temb[c]), 0.5 * x0 + 0.75.squareRoot() * Double(eps[j * 8 + c]), accuracy: 1e-5)
            }
        }
    }
}

/// Training, resume, evaluation, sampling and the report with the gaussian objective, on TrainerTests'
/// learnable synthetic data.
extension TrainerTests {
    func trainLosses(_ run: String, key: String) throws -> [Double] {
        try metrics(run).compactMap { line -> Double? in
            guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj[key] as? Double
        }
    }

    func testGaussianTrainingLearnsAndResumesBitForBit() throws {
        _ = try makeShards()
        let plan = try schedule(.gaussian, epochs: 4, name: "gaussian")
        let full = try Trainer.run(job(plan, output: dir + "/full"))
        let lines = try metrics(dir + "/full")
        XCTAssertEqual(full.steps, try Schedule(plan).steps)
        XCTAssertFalse(full.valIsBound)
        XCTAssertEqual(full.valBitsPerByte, 0)
        XCTAssertNotNil(full.valNote)
        XCTAssertTrue(full.valLoss.isFinite && full.valLoss > 0)
        let first = lines.first { $0.contains("\"loss\"") }!
        XCTAssertTrue(first.contains(#""mse":"#) && first.contains(#""rounding_ce":"#), first)
        let val = lines.first { $0.contains("val_loss") }!
        XCTAssertTrue(val.contains(#""val_bound":0,"#) && val.contains(#""val_mse":"#) && val.contains(#""val_rounding_ce":"#), val)
        // Diagnostics: embedding norm and mean pairwise cosine, ε MSE and denoised accuracy per noise-level
        // bucket, rounding accuracy; the buckets' MSE grows with the noise level's share of the input.
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines.last { $0.contains("val_loss") }!.utf8)) as? [String: Any])
        for key in ["val_embedding_norm", "val_embedding_cosine", "val_rounding_accuracy", "val_denoised_accuracy"]
            + (0..<4).flatMap({ ["val_mse_t\($0)", "val_denoised_accuracy_t\($0)"] }) {
            XCTAssertNotNil(last[key] as? Double, key)
        }
        XCTAssertGreaterThan(last["val_embedding_norm"] as! Double, 0)
        XCTAssertLessThan(abs(last["val_embedding_cosine"] as! Double), 1)
        XCTAssertGreaterThan(last["val_rounding_accuracy"] as! Double, 0.5, "the head reads clean embeddings")
        XCTAssertGreaterThanOrEqual(last["val_denoised_accuracy_t0"] as! Double, last["val_denoised_accuracy_t3"] as! Double,
                                    "less noise, better denoised tokens")
        // The loss and both of its parts fall.
        for key in ["loss", "mse", "rounding_ce"] {
            let xs = try trainLosses(dir + "/full", key: key)
            let head = xs.prefix(10).reduce(0, +) / 10, tail = xs.suffix(10).reduce(0, +) / 10
            print("gaussian \(key): first 10 steps \(head), last 10 \(tail)")
            XCTAssertLessThan(tail, head * (key == "mse" ? 0.9 : 0.8), "\(key) falls: \(head) → \(tail)")
        }
        let ckptDir = dir + "/full/checkpoints/" + Checkpoints.name(full.steps)
        let state = try CanonicalJSON.decode(TrainState.self, from: ckptDir + "/state.json")
        XCTAssertEqual(state.extraSha256, try Hashing.sha256Hex(file: ckptDir + "/extra.safetensors"))
        // model.safetensors keeps exactly the HuggingFace names; the extra tensors are apart.
        let modelFile = try SafetensorsFile(path: ckptDir + "/model.safetensors")
        XCTAssertFalse(modelFile.names.contains { $0.hasPrefix("gaussian.") })
        let extraFile = try SafetensorsFile(path: ckptDir + "/extra.safetensors")
        XCTAssertTrue(extraFile.names.contains("gaussian.time_proj.weight") && extraFile.names.contains("m.gaussian.eps_head.weight"))

        // A run killed after its second-to-last checkpoint (with metrics written past it) and resumed.
        let killed = dir + "/killed"
        try FileManager.default.copyItem(atPath: dir + "/full", toPath: killed)
        let ckpts = try FileManager.default.contentsOfDirectory(atPath: killed + "/checkpoints").sorted()
        XCTAssertEqual(ckpts.count, 2)
        let kept = ckpts[0], keptStep = Int(kept.dropFirst(5))!
        try FileManager.default.removeItem(atPath: killed + "/checkpoints/" + ckpts[1])
        let pointer = #"{"latest": "\#(kept)", "step": \#(keptStep)}"#
        try AtomicFileWriter.write(Array(pointer.utf8), to: killed + "/checkpoint.json")
        try FileManager.default.removeItem(atPath: killed + "/summary.json")
        var resume = job(plan, output: killed)
        resume.resume = true
        let resumed = try Trainer.run(resume)
        XCTAssertEqual(try metrics(killed), lines)
        XCTAssertEqual(resumed, full)
        for file in ["model.safetensors", "optimizer.safetensors", "extra.safetensors", "state.json"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: killed + "/checkpoints/" + Checkpoints.name(full.steps) + "/" + file)),
                           try Data(contentsOf: URL(fileURLWithPath: ckptDir + "/" + file)), file)
        }
        // A damaged extra file is refused on resume.
        let (lastDir, _) = try XCTUnwrap(try Checkpoints.latest(run: killed))
        try FileManager.default.removeItem(atPath: killed + "/summary.json")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: lastDir + "/extra.safetensors")))
        bytes[bytes.count - 1] ^= 1
        try AtomicFileWriter.write(bytes, to: lastDir + "/extra.safetensors")
        XCTAssertThrowsError(try Trainer.run(resume)) { XCTAssertTrue("\($0)".contains("extra.safetensors"), "\($0)") }
    }

    func testGaussianEvaluationSamplingAndReport() throws {
        _ = try makeShards()
        let plan = try schedule(.gaussian, epochs: 2, name: "gaussian")
        let run = dir + "/g"
        let summary = try Trainer.run(job(plan, output: run))
        let manifest = try RunManifest.load(run)
        XCTAssertEqual(manifest.objective, .gaussian)

        // Evaluation from the checkpoint (what `reprise eval` does) gives the training run's final number.
        let (_, model, ckpt) = try RunModel.load(run: run, maxBatch: manifest.batchSize, threads: 2)
        let g = try GaussianObjective.load(run: manifest, checkpointDir: ckpt, model: model, maxRows: manifest.batchSize,
                                           maxSeq: model.maxSeq)
        g.threads = 2
        let r = try Evaluation.validate(model: model, objective: .gaussian, schedule: try Schedule(plan), shards: dir + "/shards",
                                        tokens: TokenInfo(vocabSize: vocab, maskId: maskId, endOfTextId: 46,
                                                          byteLengths: [Int32](repeating: 1, count: vocab)),
                                        sequences: job(plan, output: run).config.evalSequences, batchSize: manifest.batchSize,
                                        gaussian: g)
        XCTAssertEqual(r.loss, summary.valLoss)
        XCTAssertFalse(r.isLikelihood)
        XCTAssertEqual(r.perplexity, 0)
        XCTAssertEqual(r.bitsPerByte, 0)
        XCTAssertEqual(r.loss, r.components["mse"]! + r.components["rounding_ce"]!, accuracy: 1e-12)

        // Sampling: deterministic per seed, valid ids, never the mask (nor other excluded ids).
        let excluded: Set<Int> = [45]
        let a = g.sample(model: model, prompt: [], length: seqLen, steps: 20, seed: 1, excluded: excluded)
        let b = g.sample(model: model, prompt: [], length: seqLen, steps: 20, seed: 1, excluded: excluded)
        let c = g.sample(model: model, prompt: [], length: seqLen, steps: 20, seed: 2, excluded: excluded)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.count, seqLen)
        let prompted = g.sample(model: model, prompt: [3, 4, 5], length: seqLen - 3, steps: 10, seed: 3, clamp: false)
        XCTAssertEqual(prompted.count, seqLen - 3)
        for id in a + c + prompted {
            XCTAssertTrue(id < UInt32(vocab) && id != UInt32(maskId))
        }
        XCTAssertFalse((a + c).contains(45))
        print("gaussian samples: seed 1 \(a), seed 2 \(c)")

        // The report shows the run and labels its loss as no likelihood.
        let html = Report.render([try ReportRun.load(run)], options: Report.Options())
        XCTAssertTrue(html.contains("diffusion loss, not a likelihood"))
        XCTAssertTrue(html.contains("data-objective=\"gaussian\""))
    }

    func testGaussianX0PredictionTrainsAndResumesBitForBit() throws {
        _ = try makeShards()
        let plan = try schedule(.gaussian, epochs: 2, name: "gaussian-x0")
        var j = job(plan, output: dir + "/x0")
        j.config.gaussianPrediction = .x0
        let full = try Trainer.run(j)
        XCTAssertTrue(full.valLoss.isFinite)
        let run = try CanonicalJSON.decode(RunManifest.self, from: dir + "/x0/run.json")
        XCTAssertEqual(run.train.gaussianPrediction, .x0)
        let xs = try trainLosses(dir + "/x0", key: "mse")
        XCTAssertLessThan(xs.suffix(10).reduce(0, +), xs.prefix(10).reduce(0, +), "the x0 loss falls")
        try assertKilledRunResumesBitForBit(plan: plan, full: full, fullRun: dir + "/x0", killed: dir + "/x0-killed") {
            $0.config.gaussianPrediction = .x0
        }
        // Only for the gaussian objective.
        let ar = try schedule(.ar, epochs: 1, name: "ar-x0")
        var bad = job(ar, output: dir + "/ar-x0")
        bad.config.gaussianPrediction = .x0
        XCTAssertThrowsError(try Trainer.run(bad)) { XCTAssertTrue("\($0)".contains("gaussian_prediction applies to the gaussian objective only"), "\($0)") }
    }
}
