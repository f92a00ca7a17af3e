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
public struct TrainConfig: KeyedConfig, Sendable, Equatable {
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

    public static let section: String? = "train"
    /// The cloze keys (and the later dense_eval_epochs and gaussian_prediction) are written only when they
    /// are used, so that run.json of a run without them is the same as before the keys existed.
    public static let keys: [ConfigKey<Self>] = [
        .value("lr", \.lr), .value("min_lr_ratio", \.minLRRatio), .value("warmup", \.warmup),
        .value("lr_schedule", \.lrSchedule), .value("decay_fraction", \.decayFraction),
        .value("weight_decay", \.weightDecay), .value("grad_clip", \.gradClip),
        .value("eval_every", \.evalEvery), .value("checkpoint_every", \.checkpointEvery),
        .value("eval_sequences", \.evalSequences), .value("seed", \.seed), .value("steps", \.steps),
        .value("cloze_items", \.clozeItems, writeIf: { $0.clozeItems > 0 }),
        .value("cloze_draws", \.clozeDraws, writeIf: { $0.clozeItems > 0 }),
        .value("dense_eval_epochs", \.denseEvalEpochs, writeIf: { $0.denseEvalEpochs > 0 }),
        .value("gaussian_prediction", \.gaussianPrediction, writeIf: { $0.gaussianPrediction != .eps }),
    ]



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
