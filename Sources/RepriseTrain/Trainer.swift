import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards

/// Everything `reprise train` needs: the prebuilt shards and schedule, the tokenizer's facts, the model.
public struct TrainJob: Sendable {
    public var shards: String
    public var schedule: String
    public var tokenizerDir: String
    public var tokenizerSha256: String
    public var tokens: TokenInfo
    public var model: ModelConfig
    public var config: TrainConfig
    public var output: String
    public var threads = defaultThreadCount
    public var resume = false
    public var quiet = false
    /// Measure the machine's sgemm peak for the MFU column (about half a second).
    public var measurePeak = true

    public init(shards: String, schedule: String, tokenizerDir: String, tokenizerSha256: String, tokens: TokenInfo,
                model: ModelConfig, config: TrainConfig, output: String) {
        self.shards = shards; self.schedule = schedule; self.tokenizerDir = tokenizerDir
        self.tokenizerSha256 = tokenizerSha256; self.tokens = tokens; self.model = model; self.config = config
        self.output = output
    }
}

/// `RUN/summary.json`, written when a run has taken all its steps.
public struct RunSummary: Codable, Sendable, Equatable {
    public var steps: Int
    public var epochs: Double
    public var tokensSeen: Int
    public var finalTrainLoss: Double
    public var valLoss: Double
    public var valBitsPerByte: Double
    public var valIsBound: Bool
    public var runSha256: String
    /// What val_loss is when it is not a per-token NLL (gaussian); absent otherwise.
    public var valNote: String? = nil
    /// Cloze accuracy and its standard error after the last step, when `cloze_items` > 0.
    public var clozeAccuracy: Double? = nil
    public var clozeStderr: Double? = nil
    /// The Monte-Carlo standard error of val_loss (mdlm's bound from its draws; 0 for AR's exact NLL), the
    /// standard error over validation sequences, and for mdlm the draws per sequence and the estimator.
    public var valLossStderr: Double? = nil
    public var valLossStderrSequences: Double? = nil
    public var valDraws: Int? = nil
    public var valEstimator: String? = nil

    enum CodingKeys: String, CodingKey {
        case steps, epochs
        case tokensSeen = "tokens_seen", finalTrainLoss = "final_train_loss", valLoss = "val_loss"
        case valBitsPerByte = "val_bits_per_byte", valIsBound = "val_is_bound", runSha256 = "run_sha256"
        case valNote = "val_note", clozeAccuracy = "cloze_accuracy", clozeStderr = "cloze_stderr"
        case valLossStderr = "val_loss_stderr", valLossStderrSequences = "val_loss_stderr_sequences"
        case valDraws = "val_draws", valEstimator = "val_estimator"
    }
    /// " ± SE" of the validation number when it has a Monte-Carlo error (mdlm), else "".
    public var valStderrText: String {
        guard let se = valLossStderr, se > 0 else { return "" }
        return String(format: " ± %.4f", se)
    }
    /// ", cloze accuracy A ± SE" when the run was scored on the cloze task, else "" (for summary lines).
    public var clozeText: String {
        clozeAccuracy.map { String(format: ", cloze accuracy %.4f ± %.4f", $0, clozeStderr ?? 0) } ?? ""
    }
}

/// RUN/best/best.json: the step and validation loss of the weights in RUN/best/model.safetensors, the
/// lowest validation loss of the run (kept when the run scores cloze items).
public struct BestWeights: Codable, Sendable, Equatable {
    public var step: Int
    public var valLoss: Double
    enum CodingKeys: String, CodingKey { case step, valLoss = "val_loss" }
}

public enum Trainer {
    /// The run.json a job writes (and a resumed run must match).
    public static func manifest(for job: TrainJob, schedule: Schedule? = nil) throws -> RunManifest {
        let schedule = try schedule ?? Schedule(job.schedule)
        let steps = job.config.steps > 0 ? min(job.config.steps, schedule.steps) : schedule.steps
        return RunManifest(
            objective: schedule.config.objective, model: job.model, train: job.config,
            shardsSha256: try Hashing.sha256Hex(file: StageOutput.manifestPath(job.shards)),
            scheduleSha256: try Hashing.sha256Hex(file: StageOutput.manifestPath(job.schedule)),
            tokenizerSha256: job.tokenizerSha256, shardsDir: Paths.relative(job.shards, to: job.output),
            scheduleDir: Paths.relative(job.schedule, to: job.output), tokenizerDir: Paths.relative(job.tokenizerDir, to: job.output), threads: job.threads, blasKernel: BLAS.coreName, steps: steps,
            batchesPerEpoch: schedule.manifest.batchesPerEpoch, batchSize: schedule.config.batchSize,
            seqLen: schedule.manifest.seqLen, maskTokenId: job.tokens.maskId, endOfTextId: job.tokens.endOfTextId)
    }

    /// A run goes into a new or empty directory, or one holding a run (run.json, written first): anything
    /// else may be the user's own files, which a run must never overwrite or delete. Hidden files (a lock)
    /// and temporary files a killed writer left (`*.tmp-PID`) do not count.
    static func refuseForeignDirectory(_ run: String) throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: run) else { return }
        if names.contains(where: { !$0.hasPrefix(".") && AtomicFile.temporaryOwner($0) == nil }) {
            throw RepriseError("\(run) exists and is not a training run (no run.json): choose another --output, or remove it")
        }
    }

    /// RUN/config.json: the model as HuggingFace's LlamaConfig.
    static func writeConfig(_ job: TrainJob, run: String) throws {
        try AtomicFileWriter.write(try job.model.huggingFaceConfigJSON(bosTokenId: job.tokens.endOfTextId,
                                                                        eosTokenId: job.tokens.endOfTextId), to: run + "/config.json")
    }

    public static func run(_ job: TrainJob) throws -> RunSummary {
        let config = job.config
        try config.validate()
        let schedule = try Schedule(job.schedule)
        try schedule.check(shards: job.shards)
        let pack = try PackManifest.load(job.shards)
        let objective = schedule.config.objective
        guard pack.tokenizerSha256 == job.tokenizerSha256 else {
            throw RepriseError("\(job.tokenizerDir): this tokenizer is not the one \(job.shards) was packed with; pass the tokenizer given to `reprise pack`")
        }
        guard job.model.vocabSize == pack.vocabSize, job.tokens.vocabSize == pack.vocabSize else {
            throw RepriseError("the model's vocabulary (\(job.model.vocabSize)) differs from the dataset's (\(pack.vocabSize))")
        }
        let L = schedule.manifest.seqLen, B = schedule.config.batchSize
        guard L <= job.model.context else {
            throw RepriseError("sequences of \(L) tokens do not fit the model's context of \(job.model.context); use a model with a longer context or pack with a shorter --seq-len")
        }
        if config.clozeItems > 0 && objective == .gaussian {
            throw RepriseError("train.cloze_items: the cloze task scores AR and mdlm runs; the gaussian objective has no likelihood to score it with")
        }
        if config.gaussianPrediction != .eps && objective != .gaussian {
            throw RepriseError("train.gaussian_prediction applies to the gaussian objective only")
        }
        if let problem = pack.emptySplitProblem { throw RepriseError("\(job.shards): \(problem)") }
        if objective == .mdlm && job.tokens.maskId == nil {
            throw RepriseError("\(job.tokenizerDir): the tokenizer has no <|mask|> token, which the mdlm objective needs")
        }
        let need = Transformer.estimatedBytes(config: job.model, maxBatch: B, maxSeq: L)
        let have = Int(ProcessInfo.processInfo.physicalMemory)
        if need > have * 8 / 10 {
            throw RepriseError(String(format: "the model needs about %.1f GB to train with batches of %d × %d; this machine has %.1f GB: use a smaller model or batch size", Double(need) / 1e9, B, L, Double(have) / 1e9))
        }
        // The cloze items are made (or loaded) before training, so that a problem shows before the work.
        let clozeSet = config.clozeItems > 0 ? try Cloze.items(shards: job.shards, config: ClozeConfig(items: config.clozeItems)).set : nil
        let manifest = try Self.manifest(for: job, schedule: schedule)
        let total = manifest.steps
        let run = job.output
        let fm = FileManager.default
        let runPath = run + "/run.json"
        if fm.fileExists(atPath: runPath) {
            let old = try CanonicalJSON.decode(RunManifest.self, from: runPath)
            if !job.resume {
                throw RepriseError("\(run) already holds a run: pass --resume to continue it, or choose another --output")
            }
            if old.blasKernel != manifest.blasKernel {
                throw RepriseError("\(run) was trained with the OpenBLAS kernel \(old.blasKernel), this process has \(manifest.blasKernel); results would not be bit-identical (set OPENBLAS_CORETYPE=\(old.blasKernel) to resume it)")
            }
            if !old.isSameRun(as: manifest) {
                throw RepriseError("\(run) holds a run with other settings (model, data, schedule, threads or training config); it can only be resumed with the same ones")
            }
            // The same run with its inputs reached by other paths (moved or copied): record where they are now.
            if old != manifest { try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: runPath) }
            // What a killed process left: temporary files, config.json not yet written (killed right after
            // run.json), checkpoint directories it had not finished, committed or deleted.
            try AtomicFile.removeStaleTemporaries(in: run)
            if !fm.fileExists(atPath: run + "/config.json") { try writeConfig(job, run: run) }
            try Checkpoints.recover(run: run)
        } else {
            try refuseForeignDirectory(run)
            try fm.createDirectory(atPath: run, withIntermediateDirectories: true)
            try AtomicFile.removeStaleTemporaries(in: run)
            try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: runPath)
            try writeConfig(job, run: run)
        }

        let model = Transformer(config: job.model, maxBatch: B, maxSeq: L, threads: job.threads)
        let optimizer = AdamW(layout: model.layout, weightDecay: Float(config.weightDecay))
        // gaussian: the time embedding and ε head live outside the model (GaussianObjective.swift).
        let gaussian = schedule.config.gaussianNoise.map {
            GaussianObjective(model: model, maxRows: B, maxSeq: L, noise: $0, excludedId: job.tokens.maskId,
                              weightDecay: Float(config.weightDecay))
        }
        gaussian?.prediction = config.gaussianPrediction
        var step = 0, tokensSeen = 0
        if job.resume, let latest = try Checkpoints.latest(run: run) {
            try Checkpoints.load(dir: latest.dir, state: latest.state, model: model, optimizer: optimizer)
            try gaussian?.load(dir: latest.dir, sha256: latest.state.extraSha256, optimizer: true)
            step = latest.state.step
            tokensSeen = latest.state.tokensSeen
        } else {
            model.initializeParameters(seed: UInt64(config.seed))
            gaussian?.initialize(seed: UInt64(config.seed))
        }
        if step >= total, let done = try? CanonicalJSON.decode(RunSummary.self, from: run + "/summary.json") {
            return done
        }
        let metrics = try MetricsLog(run: run, keepThrough: step)
        let peak = job.measurePeak ? BLAS.measureSgemmPeak(threads: job.threads, size: 1024, repeats: 3) : 0
        if !job.quiet {
            logLine("train: \(BLASRuntime.description), \(job.threads) thread\(job.threads == 1 ? "" : "s"); \(job.model.parameterCount) parameters (\(job.model.layers) layers, width \(job.model.dim)); objective \(objective.rawValue); steps \(step)..<\(total) of \(schedule.manifest.ledger.epochs) epochs × \(schedule.manifest.batchesPerEpoch) batches"
                    + (peak > 0 ? String(format: "; sgemm peak %.0f GFLOP/s", peak) : ""))
        }
        let evalEvery = config.evalEvery > 0 ? config.evalEvery : schedule.manifest.batchesPerEpoch
        let checkpointEvery = config.checkpointEvery > 0 ? config.checkpointEvery : evalEvery
        let batch = ObjectiveBatch(rows: B, seqLen: L)
        let progress = Progress("train", totalItems: total, quiet: job.quiet)
        let stream = try schedule.stream(shards: job.shards, from: step, to: total)
        let started = Date()
        var evaluationSeconds = 0.0  // kept out of tokens_per_s and mfu, which measure training
        var tokensThisProcess = 0
        var flopsThisProcess = 0.0  // model FLOPs, per batch at its own length (an mdlm plan's short batches)
        var lastLoss = Double.nan
        var lastEval: EvalResult?
        let epochOf = { (s: Int) -> Double in Double(s) / Double(schedule.manifest.batchesPerEpoch) }

        func evaluate() throws -> EvalResult {
            let r = try Evaluation.validate(model: model, objective: objective, schedule: schedule, shards: job.shards,
                                            tokens: job.tokens, sequences: config.evalSequences, batchSize: B, gaussian: gaussian)
            metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), ("val_loss", r.loss),
                           ("val_perplexity", r.perplexity), ("val_bits_per_byte", r.bitsPerByte),
                           ("val_bound", r.isBound ? 1 : 0)]
                          + (r.isLikelihood ? [("val_loss_stderr", r.stderr), ("val_loss_stderr_sequences", r.stderrSequences)] : [])
                          + (r.draws.map { [("val_draws", $0 as Any)] } ?? [])
                          + r.components.sorted { $0.key < $1.key }.map { ("val_" + $0.key, $0.value) })
            return r
        }

        // After the last evaluation: the cloze score of the final weights (the same number as
        // `reprise eval RUN --cloze --items N --draws D`), each item's outcome in cloze-final.jsonl; then
        // that of the best weights (lowest validation loss, kept in RUN/best/) in cloze-best.jsonl, so that
        // runs can be compared item by item, final against final and best against best.
        func evaluateCloze(_ set: ClozeSet, best bestStep: Int? = nil) throws -> ClozeResult {
            let scores = try Cloze.scores(model: model, objective: objective, set: set, schedule: schedule,
                                          maskId: job.tokens.maskId, draws: config.clozeDraws, padTo: L)
            let r = Cloze.result(scores: scores, set: set, byteLengths: job.tokens.byteLengths, isBound: objective == .mdlm)
            try ClozeItemOutcome.write(Cloze.outcomes(scores: scores, set: set, byteLengths: job.tokens.byteLengths),
                                       to: run + "/" + (bestStep == nil ? ClozeItemOutcome.finalFile : ClozeItemOutcome.bestFile))
            let p = bestStep == nil ? "cloze" : "cloze_best"
            metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), (p + "_accuracy", r.accuracy),
                           (p + "_stderr", r.standardError), (p + "_items", r.count),
                           (p + "_accuracy_per_byte", r.accuracyPerByte)] + (bestStep.map { [("cloze_best_step", $0 as Any)] } ?? []))
            return r
        }
        var cloze: ClozeResult?
        // The best weights' cloze outcomes: the final ones when the last evaluation was the best, otherwise
        // scored on the weights kept in RUN/best/ (the model's weights are not needed after this).
        func evaluateBestCloze(_ set: ClozeSet) throws {
            guard let kept = try? CanonicalJSON.decode(BestWeights.self, from: bestDir + "/best.json") else { return }
            if kept.step == step, let outcomes = try ClozeItemOutcome.read(run + "/" + ClozeItemOutcome.finalFile) {
                try ClozeItemOutcome.write(outcomes, to: run + "/" + ClozeItemOutcome.bestFile)
                let n = outcomes.count, acc = Double(outcomes.filter(\.correct).count) / Double(max(1, n))
                metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), ("cloze_best_accuracy", acc),
                               ("cloze_best_stderr", Cloze.standardError(accuracy: acc, count: n)), ("cloze_best_items", n),
                               ("cloze_best_accuracy_per_byte", Double(outcomes.filter(\.correctPerByte).count) / Double(max(1, n))),
                               ("cloze_best_step", step)])
                return
            }
            try Checkpoints.readModel(model, from: bestDir + "/model.safetensors")
            _ = try evaluateCloze(set, best: kept.step)
        }
        // The best validation loss so far (from the metrics kept on resume) and its weights, for the cloze
        // score of the best checkpoint.
        let bestDir = run + "/best"
        var bestLoss = MetricsLog.values("val_loss", run: run).filter { $0.step <= step }.map(\.value).min() ?? .infinity
        func keepIfBest(_ r: EvalResult) throws {
            guard clozeSet != nil, r.loss < bestLoss else { return }
            bestLoss = r.loss
            try FileManager.default.createDirectory(atPath: bestDir, withIntermediateDirectories: true)
            _ = try Checkpoints.writeModel(model, to: bestDir + "/model.safetensors")
            try AtomicFileWriter.write(try CanonicalJSON.encode(BestWeights(step: step, valLoss: r.loss)), to: bestDir + "/best.json")
        }

        while let b = try stream.next() {
            model.zeroGradients()
            batch.fill(b, objective: objective, maskId: job.tokens.maskId)
            let loss: Double
            var parts: [(String, Any)] = []
            if let gaussian {
                gaussian.zeroGradients()
                let l = gaussian.step(batch: b, model: model)
                loss = l.loss
                parts = [("mse", l.mse), ("rounding_ce", l.roundingCE)]
            } else {
                let sum = lossAndGradient(model: model, batch: batch, objective: objective, maskId: job.tokens.maskId, backward: true)
                loss = sum / Double(batch.positions)
            }
            guard loss.isFinite else {
                let last = try Checkpoints.latest(run: run)
                throw RepriseError("step \(step + 1): the loss is \(loss); the last good checkpoint is \(last?.dir ?? "none (no checkpoint yet)"); resume from it with a lower --lr (or a smaller --grad-clip)")
            }
            let norm = gaussian?.clipGradients(model: model, maxNorm: config.gradClip)
                ?? GradientClipping.clip(model.grads, maxNorm: config.gradClip, threads: job.threads)
            let lr = config.learningRate(step: step, total: total)
            optimizer.update(params: model.params, grads: model.grads, lr: Float(lr), threads: job.threads)
            gaussian?.update(lr: Float(lr))
            step += 1
            tokensSeen += batch.positions
            tokensThisProcess += batch.positions
            flopsThisProcess += Double(batch.positions) * job.model.trainingFlopsPerToken(seqLen: batch.seqLen)
            lastLoss = loss
            let elapsed = Date().timeIntervalSince(started) - evaluationSeconds
            let rate = Double(tokensThisProcess) / max(elapsed, 1e-9)
            metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), ("loss", loss)] + parts + [("lr", lr),
                           ("grad_norm", norm), ("tokens_per_s", rate),
                           ("mfu", peak > 0 ? flopsThisProcess / max(elapsed, 1e-9) / (peak * 1e9) : 0.0)])
            progress.update(items: step, itemName: "steps", bytes: 0,
                            detail: String(format: "epoch %.2f, loss %.4f, %.0f tokens/s", epochOf(step), loss, rate))
            let last = step == total
            var evaluated = false
            if config.evaluates(afterStep: step, total: total, batchesPerEpoch: schedule.manifest.batchesPerEpoch) {
                let t0 = Date()
                let r = try evaluate()
                lastEval = r
                try keepIfBest(r)
                evaluationSeconds += Date().timeIntervalSince(t0)
                evaluated = true
                progress.note(String(format: "train: step %d (epoch %.2f): validation %@ %.4f%@ nats/token, %.4f bits/byte",
                                     step, epochOf(step), r.isBound ? "bound" : "loss", r.loss,
                                     r.stderr > 0 ? String(format: " ± %.4f", r.stderr) : "", r.bitsPerByte))
            }
            if last, let clozeSet { cloze = try evaluateCloze(clozeSet) }
            if step % checkpointEvery == 0 || last || (evaluated && config.checkpointEvery == 0) {
                let state = TrainState(step: step, tokensSeen: tokensSeen, adamStep: optimizer.step, modelSha256: "", optimizerSha256: "")
                _ = try Checkpoints.save(run: run, model: model, optimizer: optimizer, state: state,
                                     extra: gaussian.map { g in { try g.save(dir: $0) } })
            }
        }
        progress.finish(items: step, itemName: "steps", bytes: 0, detail: String(format: "loss %.4f", lastLoss))
        if lastLoss.isNaN { lastLoss = MetricsLog.lastValue("loss", run: run) ?? 0 }
        if lastEval == nil {
            // Resumed after the last step: the run is complete; evaluate the final weights again.
            lastEval = try Evaluation.validate(model: model, objective: objective, schedule: schedule, shards: job.shards,
                                               tokens: job.tokens, sequences: config.evalSequences, batchSize: B, gaussian: gaussian)
        }
        var clozeAccuracy = cloze?.accuracy, clozeStderr = cloze?.standardError
        if clozeSet != nil && cloze == nil {
            // Resumed after the last step: the score was logged before the last checkpoint was written.
            clozeAccuracy = MetricsLog.lastValue("cloze_accuracy", run: run)
            clozeStderr = MetricsLog.lastValue("cloze_stderr", run: run)
            if clozeAccuracy == nil, let clozeSet { let r = try evaluateCloze(clozeSet); clozeAccuracy = r.accuracy; clozeStderr = r.standardError }
        }
        // The best weights' cloze score, last: it loads the best weights into the model, after the last
        // checkpoint and every use of the final weights; also when a run resumed after its last step lacks it.
        if let clozeSet, step >= total, cloze != nil || MetricsLog.lastValue("cloze_best_accuracy", run: run) == nil {
            try evaluateBestCloze(clozeSet)
        }
        let summary = RunSummary(steps: step, epochs: epochOf(step), tokensSeen: tokensSeen, finalTrainLoss: lastLoss,
                                 valLoss: lastEval!.loss, valBitsPerByte: lastEval!.bitsPerByte, valIsBound: lastEval!.isBound,
                                 runSha256: try Hashing.sha256Hex(file: runPath), valNote: lastEval!.note,
                                 clozeAccuracy: clozeAccuracy, clozeStderr: clozeStderr,
                                 valLossStderr: lastEval!.isLikelihood ? lastEval!.stderr : nil,
                                 valLossStderrSequences: lastEval!.isLikelihood ? lastEval!.stderrSequences : nil,
                                 valDraws: lastEval!.draws, valEstimator: lastEval!.estimator)
        try AtomicFileWriter.write(try CanonicalJSON.encode(summary), to: run + "/summary.json")
        return summary
    }
}
