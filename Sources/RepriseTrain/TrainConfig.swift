import Foundation
import RepriseCore

public enum LRSchedule: String, Codable, Sendable, CaseIterable {
    /// Linear warmup, then cosine decay to min_lr_ratio · lr at the last step.
    case cosine
    /// Warmup, stable at lr, then a linear decay to min_lr_ratio · lr over the last decay_fraction of steps.
    case wsd
}

/// Settings of `reprise train` and of a pipeline's train entries. The objective, epochs and batches come
/// from the schedule; the model from its preset or file.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var lr = 3e-3
    public var minLRRatio = 0.1
    /// Warmup steps; -1 means 5% of the run's steps (at least 1).
    public var warmup = -1
    public var lrSchedule: LRSchedule = .cosine
    public var decayFraction = 0.2
    public var weightDecay = 0.1
    public var gradClip = 1.0
    /// Evaluate every this many steps; 0 means once per epoch. The last step is always evaluated (and, with
    /// `dense_eval_epochs`, the end of each early epoch).
    public var evalEvery = 0
    /// Also evaluate after each of the first this many epochs (0: off), so that an early best (an AR run that
    /// overfits a small budget within a few epochs) is not missed between sparse evaluations.
    public var denseEvalEpochs = 0
    /// Checkpoint every this many steps; 0 means at every evaluation. The last step always gets one.
    public var checkpointEvery = 0
    /// Validation sequences scored per evaluation (the first ones of the split; 0 means all).
    public var evalSequences = 256
    /// Seed of the initial weights.
    public var seed = 1
    /// Stop after this many steps (0: the whole plan). The learning-rate schedule still spans `steps`.
    public var steps = 0
    /// Cloze items scored after the last step (0: no cloze evaluation); see Cloze.swift. AR and mdlm only.
    public var clozeItems = 0
    /// Draws of (t, mask) per cloze item for an mdlm run's ELBO.
    public var clozeDraws = Cloze.defaultDraws
    /// gaussian only: what the output head predicts, eps (default) or x0.
    public var gaussianPrediction: GaussianPrediction = .eps

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lr, warmup, seed, steps
        case minLRRatio = "min_lr_ratio", lrSchedule = "lr_schedule", decayFraction = "decay_fraction"
        case weightDecay = "weight_decay", gradClip = "grad_clip", evalEvery = "eval_every"
        case checkpointEvery = "checkpoint_every", evalSequences = "eval_sequences"
        case clozeItems = "cloze_items", clozeDraws = "cloze_draws", denseEvalEpochs = "dense_eval_epochs"
        case gaussianPrediction = "gaussian_prediction"
    }

    /// The cloze keys are written only when the cloze evaluation is on, so that run.json of a run without
    /// it is the same as before the keys existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(lr, forKey: .lr)
        try c.encode(minLRRatio, forKey: .minLRRatio)
        try c.encode(warmup, forKey: .warmup)
        try c.encode(lrSchedule, forKey: .lrSchedule)
        try c.encode(decayFraction, forKey: .decayFraction)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(gradClip, forKey: .gradClip)
        try c.encode(evalEvery, forKey: .evalEvery)
        try c.encode(checkpointEvery, forKey: .checkpointEvery)
        try c.encode(evalSequences, forKey: .evalSequences)
        try c.encode(seed, forKey: .seed)
        try c.encode(steps, forKey: .steps)
        if clozeItems > 0 {
            try c.encode(clozeItems, forKey: .clozeItems)
            try c.encode(clozeDraws, forKey: .clozeDraws)
        }
        if denseEvalEpochs > 0 { try c.encode(denseEvalEpochs, forKey: .denseEvalEpochs) }
        if gaussianPrediction != .eps { try c.encode(gaussianPrediction, forKey: .gaussianPrediction) }
    }

    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue), path: "train")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainConfig()
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        minLRRatio = try c.decodeIfPresent(Double.self, forKey: .minLRRatio) ?? d.minLRRatio
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup
        lrSchedule = try c.decodeIfPresent(LRSchedule.self, forKey: .lrSchedule) ?? d.lrSchedule
        decayFraction = try c.decodeIfPresent(Double.self, forKey: .decayFraction) ?? d.decayFraction
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        gradClip = try c.decodeIfPresent(Double.self, forKey: .gradClip) ?? d.gradClip
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        evalSequences = try c.decodeIfPresent(Int.self, forKey: .evalSequences) ?? d.evalSequences
        seed = try c.decodeIfPresent(Int.self, forKey: .seed) ?? d.seed
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        clozeItems = try c.decodeIfPresent(Int.self, forKey: .clozeItems) ?? d.clozeItems
        clozeDraws = try c.decodeIfPresent(Int.self, forKey: .clozeDraws) ?? d.clozeDraws
        denseEvalEpochs = try c.decodeIfPresent(Int.self, forKey: .denseEvalEpochs) ?? d.denseEvalEpochs
        gaussianPrediction = try c.decodeIfPresent(GaussianPrediction.self, forKey: .gaussianPrediction) ?? d.gaussianPrediction
        try validate()
    }

    public func validate() throws {
        if !(lr > 0 && lr < 10) { throw RepriseError("train.lr must be in (0, 10) (got \(lr))") }
        if !(0...1).contains(minLRRatio) { throw RepriseError("train.min_lr_ratio must be in [0, 1] (got \(minLRRatio))") }
        if warmup < -1 { throw RepriseError("train.warmup must be -1 (5% of the steps) or a number of steps") }
        if !(decayFraction > 0 && decayFraction <= 1) { throw RepriseError("train.decay_fraction must be in (0, 1] (got \(decayFraction))") }
        if !(weightDecay >= 0 && weightDecay.isFinite) {
            throw RepriseError("train.weight_decay must be a finite number, at least 0 (got \(weightDecay))")
        }
        if !(gradClip > 0 && gradClip.isFinite) { throw RepriseError("train.grad_clip must be a finite positive number (got \(gradClip))") }
        if evalEvery < 0 || checkpointEvery < 0 || evalSequences < 0 || steps < 0 {
            throw RepriseError("train.eval_every, checkpoint_every, eval_sequences and steps must be at least 0")
        }
        if seed < 0 { throw RepriseError("train.seed must be a non-negative integer") }
        if denseEvalEpochs < 0 { throw RepriseError("train.dense_eval_epochs must be 0 (off) or a number of epochs") }
        if clozeItems < 0 { throw RepriseError("train.cloze_items must be 0 (no cloze evaluation) or more") }
        if clozeDraws < 1 { throw RepriseError("train.cloze_draws must be at least 1") }
    }

    /// Whether the trainer evaluates after update `step` (1-based count of updates taken) of `total`.
    public func evaluates(afterStep step: Int, total: Int, batchesPerEpoch: Int) -> Bool {
        let every = evalEvery > 0 ? evalEvery : batchesPerEpoch
        return step % every == 0 || step == total
            || (step % batchesPerEpoch == 0 && step / batchesPerEpoch <= denseEvalEpochs)
    }

    /// Warmup steps for a run of `total` steps.
    public func warmupSteps(total: Int) -> Int { warmup >= 0 ? warmup : max(1, total / 20) }

    /// The learning rate of update `step` (0-based) in a run of `total` steps.
    public func learningRate(step: Int, total: Int) -> Double {
        let w = warmupSteps(total: total)
        if step < w { return lr * Double(step + 1) / Double(w) }
        let floor = lr * minLRRatio
        switch lrSchedule {
        case .cosine:
            let span = max(1, total - 1 - w)
            let p = min(1, Double(step - w) / Double(span))
            return floor + (lr - floor) * 0.5 * (1 + cos(Double.pi * p))
        case .wsd:
            let decaySteps = max(1, Int((Double(total) * decayFraction).rounded()))
            let start = total - decaySteps
            if step < start { return lr }
            let p = min(1, Double(step - start + 1) / Double(decaySteps))
            return lr + (floor - lr) * p
        }
    }
}
