import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards

/// What a run needs from its tokenizer, kept apart from the tokenizer code.
public struct TokenInfo: Sendable, Equatable {
    public var vocabSize: Int
    /// `<|mask|>`: the input of masked positions; its logit is excluded from every prediction.
    public var maskId: Int?
    public var endOfTextId: Int
    /// Bytes of text each id stands for (0 for special tokens), for bits per byte.
    public var byteLengths: [Int32]

    public init(vocabSize: Int, maskId: Int?, endOfTextId: Int, byteLengths: [Int32]) {
        self.vocabSize = vocabSize; self.maskId = maskId; self.endOfTextId = endOfTextId; self.byteLengths = byteLengths
    }
}

/// The inputs, targets and per-position weights of one batch under an objective.
///
/// - ar: inputs tokens[0..<L], targets tokens[1...L], weight 1 everywhere, causal attention.
/// - mdlm: inputs tokens[0..<L] with masked positions replaced by `<|mask|>`, targets tokens[0..<L], weight
///   w(t) of the row at masked positions and 0 elsewhere, bidirectional attention. The loss divided by the
///   number of positions (rows × L) is the MDLM / LLaDA bound on the negative log-likelihood per token.
final class ObjectiveBatch {
    let capacity: Int
    var inputs: [Int32]
    var targets: [Int32]
    var weights: [Float]
    var rows = 0
    var seqLen = 0

    init(rows: Int, seqLen: Int) {
        capacity = rows * seqLen
        inputs = [Int32](repeating: 0, count: capacity)
        targets = [Int32](repeating: 0, count: capacity)
        weights = [Float](repeating: 1, count: capacity)
    }

    var positions: Int { rows * seqLen }

    func fill(_ b: PlanBatch, objective: Objective, maskId: Int?) {
        rows = b.rows
        seqLen = b.seqLen
        let L = b.seqLen
        precondition(rows * L <= capacity)
        for r in 0..<rows {
            let src = r * (L + 1), dst = r * L
            switch objective {
            case .ar:
                for j in 0..<L {
                    inputs[dst + j] = Int32(b.tokens[src + j])
                    targets[dst + j] = Int32(b.tokens[src + j + 1])
                    weights[dst + j] = 1
                }
            case .mdlm:
                let w = Float(b.weight[r])
                let m = Int32(maskId!)
                for j in 0..<L {
                    let masked = b.mask[dst + j] != 0
                    targets[dst + j] = Int32(b.tokens[src + j])
                    inputs[dst + j] = masked ? m : targets[dst + j]
                    weights[dst + j] = masked ? w : 0
                }
            case .gaussian:
                // Inputs and targets are the clean tokens (the rounding targets); the noise is added to their
                // embeddings by `GaussianObjective`, which computes the loss itself.
                for j in 0..<L {
                    inputs[dst + j] = Int32(b.tokens[src + j])
                    targets[dst + j] = inputs[dst + j]
                    weights[dst + j] = 1
                }
            }
        }
    }

    /// Bytes of text behind the scored targets (for bits per byte): AR scores every target, mdlm every
    /// position of the sequence (each row's draw scores the whole sequence in expectation).
    func targetBytes(_ lengths: [Int32]) -> Int {
        var n = 0
        for i in 0..<positions { n += Int(lengths[Int(targets[i])]) }
        return n
    }
}

/// Loss and ∂/∂logits of one batch through the model; returns the summed weighted loss in nats.
/// With `backward`, the gradient of (sum / positions) is accumulated into the model's gradients.
func lossAndGradient(model: Transformer, batch: ObjectiveBatch, objective: Objective, maskId: Int?,
                     backward: Bool) -> Double {
    let N = batch.positions, V = model.config.vocabSize
    batch.inputs.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, batch: batch.rows, seq: batch.seqLen,
                                                         causal: objective == .ar) }
    let logits = model.logits.baseAddress!
    let loss = batch.targets.withUnsafeBufferPointer { t in
        batch.weights.withUnsafeBufferPointer { w in
            CrossEntropy.forwardBackward(logits: logits, targets: t.baseAddress!, weights: w.baseAddress!, rows: N, vocab: V,
                                         excluding: objective == .mdlm ? maskId : nil,
                                         dLogits: backward ? logits : nil, scale: 1 / Float(N), threads: model.threads)
        }
    }
    if backward { model.backward(dLogits: logits) }
    return loss
}

/// A validation result. For mdlm the loss is the NELBO from the schedule's fixed validation plan: an upper
/// bound on the negative log-likelihood.
public struct EvalResult: Sendable, Equatable {
    public var loss: Double
    public var tokens: Int
    public var bytes: Int
    public var isBound: Bool
    /// False for the gaussian objective's loss (ε MSE + rounding cross-entropy), which is no likelihood:
    /// its perplexity and bits per byte are 0.
    public var isLikelihood = true
    /// Named parts of the loss (gaussian: `mse`, `rounding_ce`), logged as `val_<name>`.
    public var components: [String: Double] = [:]
    /// What the number is, when it is not a per-token NLL (written to summary.json as `val_note`).
    public var note: String? = nil
    public var perplexity: Double { isLikelihood ? exp(loss) : 0 }
    public var bitsPerByte: Double { bytes > 0 ? loss * Double(tokens) / log(2) / Double(bytes) : 0 }
}

public enum Evaluation {
    /// AR: exact next-token NLL over the first `sequences` validation sequences (0: all).
    /// mdlm: the validation plan's draws for the first `sequences` validation sequences.
    /// gaussian: the same draws scored by `gaussian` (the run's extra parameters), not a likelihood.
    public static func validate(model: Transformer, objective: Objective, schedule: Schedule, shards: String,
                                tokens info: TokenInfo, sequences: Int, batchSize: Int,
                                gaussian: GaussianObjective? = nil) throws -> EvalResult {
        let pack = try PackManifest.load(shards)
        let val = try pack.dataset(shards, split: "val")
        let L = pack.config.seqLen
        let batch = ObjectiveBatch(rows: batchSize, seqLen: L)
        var total = 0.0, positions = 0, bytes = 0
        switch objective {
        case .ar:
            let n = sequences == 0 ? val.sequenceCount : min(sequences, val.sequenceCount)
            guard n > 0 else { throw RepriseError("\(shards): the validation split has no sequences to evaluate") }
            var start = 0
            while start < n {
                let rows = min(batchSize, n - start)
                var b = PlanBatch(epoch: 0, batch: 0, step: 0, rows: rows, seqLen: L, sequences: Array(start..<(start + rows)), tokens: [])
                for s in start..<(start + rows) { b.tokens += try val.sequence(s) }
                batch.fill(b, objective: .ar, maskId: nil)
                total += lossAndGradient(model: model, batch: batch, objective: .ar, maskId: nil, backward: false)
                positions += batch.positions
                bytes += batch.targetBytes(info.byteLengths)
                start += rows
            }
            return EvalResult(loss: total / Double(positions), tokens: positions, bytes: bytes, isBound: false)
        case .mdlm:
            guard let plan = try schedule.validation(), plan.sequences > 0 else {
                throw RepriseError("\(schedule.dir): no validation plan (the validation split is empty?)")
            }
            let n = sequences == 0 ? plan.sequences : min(sequences, plan.sequences)
            let rowsTotal = n * plan.draws
            var start = 0
            while start < rowsTotal {
                let rows = min(batchSize, rowsTotal - start)
                let b = try schedule.validationBatch(plan, rows: start..<(start + rows), dataset: val)
                batch.fill(b, objective: .mdlm, maskId: info.maskId)
                total += lossAndGradient(model: model, batch: batch, objective: .mdlm, maskId: info.maskId, backward: false)
                positions += batch.positions
                start += rows
            }
            // Bytes of the scored sequences, once per sequence (the draws estimate one expectation).
            for s in 0..<n {
                let t = try val.sequence(s)
                for j in 0..<L { bytes += Int(info.byteLengths[Int(t[j])]) }
            }
            let perToken = total / Double(positions)
            return EvalResult(loss: perToken, tokens: n * L, bytes: bytes, isBound: true)
        case .gaussian:
            guard let gaussian else {
                throw RepriseError("evaluating a gaussian run needs its time embedding and ε head (extra.safetensors of the checkpoint)")
            }
            return try gaussian.validate(model: model, schedule: schedule, shards: shards, sequences: sequences, batchSize: batchSize)
        }
    }

    /// Scores a token stream with an AR model: no token prepended, the first token not scored, streams longer
    /// than the context scored in consecutive windows (each window's first token is the previous one's last).
    /// Returns (tokens scored, total NLL in nats).
    public static func scoreText(model: Transformer, tokens: [UInt32]) -> (count: Int, nll: Double) {
        let ctx = model.maxSeq
        var count = 0, nll = 0.0
        var start = 0
        while start + 1 < tokens.count {
            let L = min(ctx, tokens.count - 1 - start)
            let b = ObjectiveBatch(rows: 1, seqLen: L)
            let p = PlanBatch(epoch: 0, batch: 0, step: 0, rows: 1, seqLen: L, sequences: [0],
                              tokens: Array(tokens[start...(start + L)]))
            b.fill(p, objective: .ar, maskId: nil)
            nll += lossAndGradient(model: model, batch: b, objective: .ar, maskId: nil, backward: false)
            count += L
            start += L
        }
        return (count, nll)
    }
}
