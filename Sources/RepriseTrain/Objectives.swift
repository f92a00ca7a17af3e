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

/// The summed weighted loss of each row of a batch (no gradient): one forward, per-position losses summed
/// per row in position order.
func rowLossSums(model: Transformer, batch: ObjectiveBatch, objective: Objective, maskId: Int?) -> [Double] {
    let N = batch.positions, V = model.config.vocabSize, L = batch.seqLen
    batch.inputs.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, batch: batch.rows, seq: L,
                                                         causal: objective == .ar) }
    var losses = [Float](repeating: 0, count: N)
    batch.targets.withUnsafeBufferPointer { t in
        batch.weights.withUnsafeBufferPointer { w in
            losses.withUnsafeMutableBufferPointer { out in
                _ = CrossEntropy.forwardBackward(logits: model.logits.baseAddress!, targets: t.baseAddress!, weights: w.baseAddress!,
                                                 rows: N, vocab: V, excluding: objective == .mdlm ? maskId : nil,
                                                 dLogits: nil, rowLosses: out.baseAddress!, threads: model.threads)
            }
        }
    }
    return (0..<batch.rows).map { r in (0..<L).reduce(0.0) { $0 + Double(losses[r * L + $1]) } }
}

/// Standard errors of a validation number from its per-row estimates (per token), rows sequence-major with
/// `draws` rows per sequence.
///
/// - Monte-Carlo (`draws` > 1): the noise of the mask draws for the fixed validation sequences, the part
///   that more draws remove. The draws of one sequence are stratified (one per stratum of u), so they are
///   sorted by stratum (their t codes) and paired, adjacent strata together: the collapsed-strata estimate
///   Var(mean of K) ≈ (1/K²) Σ_pairs (x_a − x_b)², which is conservative (it counts the small differences
///   between neighbouring strata as noise). With an odd K the last stratum joins the last pair as a triple
///   (its sample variance × 3/2). The overall variance is (1/n²) Σ_v Var_v.
/// - Sequences: the standard deviation of the per-sequence means over √n, which also counts how the
///   validation sequences themselves vary (the error bar against a different validation set; for AR, whose
///   number is exact, the only one).
public func validationStandardErrors(perRow x: [Double], codes: [UInt16]?, draws K: Int) -> (monteCarlo: Double, sequences: Double) {
    let n = x.count / max(K, 1)
    guard n > 0 else { return (0, 0) }
    var means = [Double](repeating: 0, count: n)
    var mcVariance = 0.0
    for v in 0..<n {
        let rows = (v * K)..<((v + 1) * K)
        means[v] = rows.reduce(0.0) { $0 + x[$1] } / Double(K)
        guard K > 1 else { continue }
        let sorted = codes.map { c in rows.sorted { (c[$0], $0) < (c[$1], $1) } } ?? Array(rows)
        var sum = 0.0
        var p = 0
        while p + 1 < K {
            if K - p == 3 {
                let a = x[sorted[p]], b = x[sorted[p + 1]], c = x[sorted[p + 2]]
                let m = (a + b + c) / 3
                // A triple of strata: 3² × (its sample variance / 3) stands for Var of its sum.
                sum += 3 * ((a - m) * (a - m) + (b - m) * (b - m) + (c - m) * (c - m)) / 2
                break
            }
            let d = x[sorted[p]] - x[sorted[p + 1]]
            sum += d * d
            p += 2
        }
        mcVariance += sum / Double(K * K)
    }
    let mean = means.reduce(0, +) / Double(n)
    let between = n > 1 ? means.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1) : 0
    return ((mcVariance).squareRoot() / Double(n), (between / Double(n)).squareRoot())
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
    /// mdlm: the Monte-Carlo standard error of the bound from its mask draws (0 for AR's exact NLL); see
    /// `validationStandardErrors`.
    public var stderr = 0.0
    /// The standard error over validation sequences (how the number would vary with another validation set).
    public var stderrSequences = 0.0
    /// mdlm: draws per validation sequence and the masking (the estimator) they used; nil otherwise.
    public var draws: Int? = nil
    public var estimator: String? = nil
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
            var perRow: [Double] = []
            while start < n {
                let rows = min(batchSize, n - start)
                var b = PlanBatch(epoch: 0, batch: 0, step: 0, rows: rows, seqLen: L, sequences: Array(start..<(start + rows)), tokens: [])
                for s in start..<(start + rows) { b.tokens += try val.sequence(s) }
                batch.fill(b, objective: .ar, maskId: nil)
                let sums = rowLossSums(model: model, batch: batch, objective: .ar, maskId: nil)
                for x in sums { total += x; perRow.append(x / Double(L)) }
                positions += batch.positions
                bytes += batch.targetBytes(info.byteLengths)
                start += rows
            }
            var r = EvalResult(loss: total / Double(positions), tokens: positions, bytes: bytes, isBound: false)
            r.stderrSequences = validationStandardErrors(perRow: perRow, codes: nil, draws: 1).sequences
            return r
        case .mdlm:
            guard let plan = try schedule.validation(), plan.sequences > 0 else {
                throw RepriseError("\(schedule.dir): no validation plan (the validation split is empty?)")
            }
            let n = sequences == 0 ? plan.sequences : min(sequences, plan.sequences)
            let rowsTotal = n * plan.draws
            var start = 0
            var perRow: [Double] = []
            perRow.reserveCapacity(rowsTotal)
            while start < rowsTotal {
                let rows = min(batchSize, rowsTotal - start)
                let b = try schedule.validationBatch(plan, rows: start..<(start + rows), dataset: val)
                batch.fill(b, objective: .mdlm, maskId: info.maskId)
                let sums = rowLossSums(model: model, batch: batch, objective: .mdlm, maskId: info.maskId)
                for x in sums { total += x; perRow.append(x / Double(L)) }
                positions += batch.positions
                start += rows
            }
            // Bytes of the scored sequences, once per sequence (the draws estimate one expectation).
            for s in 0..<n {
                let t = try val.sequence(s)
                for j in 0..<L { bytes += Int(info.byteLengths[Int(t[j])]) }
            }
            let perToken = total / Double(positions)
            var r = EvalResult(loss: perToken, tokens: n * L, bytes: bytes, isBound: true)
            let se = validationStandardErrors(perRow: perRow, codes: Array(plan.tcodes[0..<rowsTotal]), draws: plan.draws)
            r.stderr = se.monteCarlo
            r.stderrSequences = se.sequences
            r.draws = plan.draws
            r.estimator = schedule.config.maskingMode.rawValue
            return r
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
