import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards

/// A run's model, optimizer (and a gaussian run's extra parameters) at the step training continues from:
/// freshly initialised, or restored from the run's latest checkpoint on --resume.
struct TrainingWeights {
    let model: Transformer
    let optimizer: AdamW
    /// gaussian: the time embedding and ε head live outside the model (GaussianObjective.swift).
    let gaussian: GaussianObjective?
    var step = 0
    var tokensSeen = 0

    init(job: TrainJob, schedule: Schedule) throws {
        let config = job.config
        let L = schedule.manifest.seqLen, B = schedule.config.batchSize
        let model = Transformer(config: job.model, maxBatch: B, maxSeq: L, threads: job.threads)
        self.model = model
        optimizer = AdamW(layout: model.layout, weightDecay: Float(config.weightDecay))
        let gaussian = schedule.config.gaussianNoise.map {
            GaussianObjective(model: model, maxRows: B, maxSeq: L, noise: $0, excludedId: job.tokens.maskId,
                              weightDecay: Float(config.weightDecay))
        }
        gaussian?.prediction = config.gaussianPrediction
        self.gaussian = gaussian
        if job.resume, let latest = try Checkpoints.latest(run: job.output) {
            try Checkpoints.load(dir: latest.dir, state: latest.state, model: model, optimizer: optimizer)
            try gaussian?.load(dir: latest.dir, sha256: latest.state.extraSha256, optimizer: true)
            step = latest.state.step
            tokensSeen = latest.state.tokensSeen
        } else {
            model.initializeParameters(seed: UInt64(config.seed))
            gaussian?.initialize(seed: UInt64(config.seed))
        }
    }
}

/// One process's share of a run, from the step it starts at to the summary: the training steps with their
/// metrics, evaluations, checkpoints and the best weights, then the cloze scores and summary.json.
final class TrainingSession {
    let job: TrainJob
    let config: TrainConfig
    let schedule: Schedule
    let objective: Objective
    let run: String
    let total: Int
    let model: Transformer
    let optimizer: AdamW
    let gaussian: GaussianObjective?
    let clozeSet: ClozeSet?
    let metrics: MetricsLog
    /// The machine's sgemm peak in GFLOP/s for the mfu column (0: not measured).
    let peak: Double
    /// RUN/best: the weights of the lowest validation loss (kept when the run scores cloze items).
    let bestDir: String
    var step: Int
    var tokensSeen: Int
    var bestLoss: Double
    var lastLoss = Double.nan
    var lastEval: EvalResult?
    var cloze: ClozeResult?

    var rows: Int { schedule.config.batchSize }
    var seqLen: Int { schedule.manifest.seqLen }
    func epochOf(_ s: Int) -> Double { Double(s) / Double(schedule.manifest.batchesPerEpoch) }

    init(job: TrainJob, schedule: Schedule, weights: TrainingWeights, steps total: Int, clozeSet: ClozeSet?) throws {
        self.job = job
        config = job.config
        self.schedule = schedule
        objective = schedule.config.objective
        run = job.output
        self.total = total
        model = weights.model
        optimizer = weights.optimizer
        gaussian = weights.gaussian
        step = weights.step
        tokensSeen = weights.tokensSeen
        self.clozeSet = clozeSet
        metrics = try MetricsLog(run: run, keepThrough: step)
        peak = job.measurePeak ? BLAS.measureSgemmPeak(threads: job.threads, size: 1024, repeats: 3) : 0
        bestDir = run + "/best"
        // The best validation loss so far, from the metrics kept on resume.
        bestLoss = MetricsLog.values("val_loss", run: run).filter { $0.step <= weights.step }.map(\.value).min() ?? .infinity
        if !job.quiet {
            logLine("train: \(BLASRuntime.description), \(job.threads) thread\(job.threads == 1 ? "" : "s"); \(job.model.parameterCount) parameters (\(job.model.layers) layers, width \(job.model.dim)); objective \(objective.rawValue); steps \(step)..<\(total) of \(schedule.manifest.ledger.epochs) epochs × \(schedule.manifest.batchesPerEpoch) batches"
                    + (peak > 0 ? String(format: "; sgemm peak %.0f GFLOP/s", peak) : ""))
        }
    }

    // MARK: training

    /// Takes the steps from `step` to the last, evaluating, keeping the best weights and checkpointing as
    /// the config says; after the last step, the cloze score of the final weights.
    func train() throws {
        let evalEvery = config.evalEvery > 0 ? config.evalEvery : schedule.manifest.batchesPerEpoch
        let checkpointEvery = config.checkpointEvery > 0 ? config.checkpointEvery : evalEvery
        let batch = ObjectiveBatch(rows: rows, seqLen: seqLen)
        let progress = Progress("train", totalItems: total, quiet: job.quiet)
        let stream = try schedule.stream(shards: job.shards, from: step, to: total)
        let started = Date()
        var evaluationSeconds = 0.0  // kept out of tokens_per_s and mfu, which measure training
        var tokensThisProcess = 0
        var flopsThisProcess = 0.0  // model FLOPs, per batch at its own length (an mdlm plan's short batches)
        while let b = try stream.next() {
            let (loss, parts) = try lossAndGradients(b, batch: batch)
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
            if step % checkpointEvery == 0 || last || (evaluated && config.checkpointEvery == 0) { try checkpoint() }
        }
        progress.finish(items: step, itemName: "steps", bytes: 0, detail: String(format: "loss %.4f", lastLoss))
    }

    /// The batch's loss (and a gaussian run's parts of it), with the gradients left in the model (and the
    /// gaussian objective); a loss that is not finite stops the run, naming the checkpoint to resume from.
    func lossAndGradients(_ b: PlanBatch, batch: ObjectiveBatch) throws -> (Double, [(String, Any)]) {
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
            let sum = RepriseTrain.lossAndGradient(model: model, batch: batch, objective: objective, maskId: job.tokens.maskId, backward: true)
            loss = sum / Double(batch.positions)
        }
        guard loss.isFinite else {
            let last = try Checkpoints.latest(run: run)
            throw RepriseError("step \(step + 1): the loss is \(loss); the last good checkpoint is \(last?.dir ?? "none (no checkpoint yet)"); resume from it with a lower --lr (or a smaller --grad-clip)")
        }
        return (loss, parts)
    }

    func checkpoint() throws {
        let state = TrainState(step: step, tokensSeen: tokensSeen, adamStep: optimizer.step, modelSha256: "", optimizerSha256: "")
        _ = try Checkpoints.save(run: run, model: model, optimizer: optimizer, state: state,
                                 extra: gaussian.map { g in { try g.save(dir: $0) } })
    }

    // MARK: evaluation

    func validate() throws -> EvalResult {
        try Evaluation.validate(model: model, objective: objective, schedule: schedule, shards: job.shards,
                                tokens: job.tokens, sequences: config.evalSequences, batchSize: rows, gaussian: gaussian)
    }

    /// The validation loss of the current weights, logged.
    func evaluate() throws -> EvalResult {
        let r = try validate()
        metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), ("val_loss", r.loss),
                       ("val_perplexity", r.perplexity), ("val_bits_per_byte", r.bitsPerByte),
                       ("val_bound", r.isBound ? 1 : 0)]
                      + (r.isLikelihood ? [("val_loss_stderr", r.stderr), ("val_loss_stderr_sequences", r.stderrSequences)] : [])
                      + (r.draws.map { [("val_draws", $0 as Any)] } ?? [])
                      + r.components.sorted { $0.key < $1.key }.map { ("val_" + $0.key, $0.value) })
        return r
    }

    /// Keeps the current weights in RUN/best/ when `r` is the lowest validation loss so far (for the cloze
    /// score of the best weights).
    func keepIfBest(_ r: EvalResult) throws {
        guard clozeSet != nil, r.loss < bestLoss else { return }
        bestLoss = r.loss
        try FileManager.default.createDirectory(atPath: bestDir, withIntermediateDirectories: true)
        _ = try Checkpoints.writeModel(model, to: bestDir + "/model.safetensors")
        try AtomicFileWriter.write(try CanonicalJSON.encode(BestWeights(step: step, valLoss: r.loss)), to: bestDir + "/" + BestWeights.file)
    }

    /// After the last evaluation: the cloze score of the final weights (the same number as
    /// `reprise eval RUN --cloze --items N --draws D`), each item's outcome in cloze-final.jsonl; or, with
    /// `best`, that of the best weights (loaded into the model) in cloze-best.jsonl, so that runs can be
    /// compared item by item, final against final and best against best.
    func evaluateCloze(_ set: ClozeSet, best bestStep: Int? = nil) throws -> ClozeResult {
        let scores = try Cloze.scores(model: model, objective: objective, set: set, schedule: schedule,
                                      maskId: job.tokens.maskId, draws: config.clozeDraws, padTo: seqLen)
        let r = Cloze.result(scores: scores, set: set, byteLengths: job.tokens.byteLengths, isBound: objective == .mdlm)
        try ClozeItemOutcome.write(Cloze.outcomes(scores: scores, set: set, byteLengths: job.tokens.byteLengths),
                                   to: run + "/" + (bestStep == nil ? ClozeItemOutcome.finalFile : ClozeItemOutcome.bestFile))
        let p = bestStep == nil ? "cloze" : "cloze_best"
        metrics.write([("step", step), ("epoch", epochOf(step)), ("tokens", tokensSeen), (p + "_accuracy", r.accuracy),
                       (p + "_stderr", r.standardError), (p + "_items", r.count),
                       (p + "_accuracy_per_byte", r.accuracyPerByte)] + (bestStep.map { [("cloze_best_step", $0 as Any)] } ?? []))
        return r
    }

    /// The best weights' cloze outcomes: the final ones when the last evaluation was the best, otherwise
    /// scored on the weights kept in RUN/best/ (the model's weights are not needed after this).
    func evaluateBestCloze(_ set: ClozeSet) throws {
        guard let kept = try? CanonicalJSON.decode(BestWeights.self, from: bestDir + "/" + BestWeights.file) else { return }
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

    // MARK: the end

    /// The summary of a run that has taken its last step (also of one resumed after it), written last.
    func finish() throws -> RunSummary {
        if lastLoss.isNaN { lastLoss = MetricsLog.lastValue("loss", run: run) ?? 0 }
        // Resumed after the last step: the run is complete; evaluate the final weights again.
        let eval = try lastEval ?? validate()
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
                                 valLoss: eval.loss, valBitsPerByte: eval.bitsPerByte, valIsBound: eval.isBound,
                                 runSha256: try Hashing.sha256Hex(file: run + "/run.json"), valNote: eval.note,
                                 clozeAccuracy: clozeAccuracy, clozeStderr: clozeStderr,
                                 valLossStderr: eval.isLikelihood ? eval.stderr : nil,
                                 valLossStderrSequences: eval.isLikelihood ? eval.stderrSequences : nil,
                                 valDraws: eval.draws, valEstimator: eval.estimator)
        try AtomicFileWriter.write(try CanonicalJSON.encode(summary), to: run + "/summary.json")
        return summary
    }
}
