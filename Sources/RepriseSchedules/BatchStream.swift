import Foundation
import RepriseCore
import RepriseShards

/// One batch of a plan, everything a trainer needs for one step.
public struct PlanBatch: Sendable {
    public var epoch: Int
    /// Index of the batch within its epoch, and the global step (epoch × batches per epoch + batch).
    public var batch: Int
    public var step: Int
    public var rows: Int
    /// The batch's length: the plan's seq_len, or less for a short batch (mdlm, `short_fraction`), whose
    /// rows are the first seqLen + 1 tokens of their sequences.
    public var seqLen: Int
    /// The training (or validation) sequence index of each row.
    public var sequences: [Int]
    /// rows × (seqLen + 1) token ids: the AR objective's inputs are the first seqLen, targets the last seqLen;
    /// diffusion objectives use the first seqLen.
    public var tokens: [UInt32]
    /// Per row, for diffusion objectives (empty for ar): t, alpha(t) (or alpha-bar), ELBO weight w(t), and
    /// the key of the row's mask or Gaussian noise (see `GaussianDraw.fill`). With exact_k masking t is
    /// k/L (the masked fraction), alpha 1 − k/L and the weight 1/(k·P(k)) (L/k for L dividing 65,536).
    public var t: [Double] = []
    public var alpha: [Double] = []
    public var weight: [Double] = []
    public var keys: [UInt64] = []
    /// rows × seqLen, 1 where the token is masked (mdlm only).
    public var mask: [UInt8] = []

    public init(epoch: Int, batch: Int, step: Int, rows: Int, seqLen: Int, sequences: [Int], tokens: [UInt32]) {
        self.epoch = epoch; self.batch = batch; self.step = step; self.rows = rows; self.seqLen = seqLen
        self.sequences = sequences; self.tokens = tokens
    }

    /// Sequences in the plan are each seen once per epoch, so before epoch e a row's sequence was seen e times.
    public var timesSeenBefore: Int { epoch }
}

extension Schedule {
    /// Builds a batch of length `L` ≤ seq_len from rows (sequence, t code, key): the first L + 1 tokens of
    /// each sequence, masks drawn over L positions. `dataset` must be this plan's split.
    func assemble(epoch: Int, batch: Int, step: Int, length L: Int, sequences: [Int], codes: [UInt16], keys: [UInt64],
                  dataset: ShardDataset) throws -> PlanBatch {
        precondition(L >= 1 && L <= manifest.seqLen)
        var tokens: [UInt32] = []
        tokens.reserveCapacity(sequences.count * (L + 1))
        for s in sequences { tokens += try dataset.sequence(s).prefix(L + 1) }
        var b = PlanBatch(epoch: epoch, batch: batch, step: step, rows: sequences.count, seqLen: L,
                          sequences: sequences, tokens: tokens)
        guard let table else { return b }
        b.t = codes.map { table.t[Int($0)] }
        b.alpha = codes.map { table.alpha[Int($0)] }
        b.weight = codes.map { table.weight[Int($0)] }
        b.keys = keys
        if config.objective == .mdlm {
            let masking = config.maskingMode
            b.mask = [UInt8](repeating: 0, count: sequences.count * L)
            b.mask.withUnsafeMutableBufferPointer { m in
                for r in 0..<sequences.count {
                    masking.fill(UnsafeMutableBufferPointer(rebasing: m[(r * L)..<((r + 1) * L)]),
                                 key: keys[r], threshold: table.threshold[Int(codes[r])], code: codes[r])
                }
            }
            if masking.isUniformCount {
                // exact_k: k from the t code; t = k/L for display, the weight 1/(k·P(k)) (FORMAT.md).
                for r in 0..<sequences.count {
                    let k = Masking.uniformCount(code: codes[r], length: L)
                    b.t[r] = Double(k) / Double(L)
                    b.alpha[r] = 1 - b.t[r]
                    b.weight[r] = Masking.uniformWeight(count: k, length: L)
                }
            }
        }
        return b
    }

    /// Batch `batch` of an epoch's plan, at its length (`batchLength`).
    public func batch(_ plan: EpochPlan, _ batch: Int, dataset: ShardDataset) throws -> PlanBatch {
        let bs = config.batchSize
        let range = (batch * bs)..<min((batch + 1) * bs, plan.sequences.count)
        let seqs = plan.sequences[range].map(Int.init)
        let codes = config.objective.isDiffusion ? Array(plan.tcodes[range]) : []
        let keys = config.objective.isDiffusion
            ? seqs.map { PlanRandom.sequenceKey(seed: UInt64(config.seed), epoch: plan.epoch, sequence: $0) } : []
        return try assemble(epoch: plan.epoch, batch: batch, step: step(epoch: plan.epoch, batch: batch),
                            length: batchLength(epoch: plan.epoch, batch: batch), sequences: seqs, codes: codes,
                            keys: keys, dataset: dataset)
    }

    /// Rows `rows` of the validation plan (row r = validation sequence r / draws, draw r % draws), with the
    /// validation split's dataset, always at the full seq_len. `epoch`, `batch` and `step` of the result are 0.
    public func validationBatch(_ plan: ValidationPlan, rows: Range<Int>, dataset: ShardDataset) throws -> PlanBatch {
        let seqs = rows.map { $0 / plan.draws }
        let keys = rows.map { PlanRandom.validationKey(seed: UInt64(config.valSeed), sequence: $0 / plan.draws, draw: $0 % plan.draws) }
        return try assemble(epoch: 0, batch: 0, step: 0, length: manifest.seqLen, sequences: seqs,
                            codes: Array(plan.tcodes[rows]), keys: keys, dataset: dataset)
    }

    /// Frames a reader should cache to follow this plan's order: each block of a window reads its frame
    /// and, for its last sequence, the first tokens of the next frame.
    public var cacheFrames: Int { 2 * manifest.windowBlocks + 2 }

    /// The plan's batches from global step `from` to `to` (default: the end of the plan), read ahead on a
    /// background thread.
    public func stream(shards: String, from: Int = 0, to: Int? = nil, readAhead: Int = 4) throws -> BatchStream {
        let pack = try PackManifest.load(shards)
        let dataset = try pack.dataset(shards, split: "train", cacheFrames: cacheFrames)
        // A plan may cover part of the split only (a unique-token budget).
        let needed = manifest.splitSequences ?? manifest.trainSequences
        guard dataset.sequenceCount >= needed, pack.config.seqLen == manifest.seqLen else {
            throw RepriseError("\(dir): the plan takes \(manifest.trainSequences) of \(needed) sequences of \(manifest.seqLen), \(shards) has \(dataset.sequenceCount) of \(pack.config.seqLen); rebuild the schedule")
        }
        return BatchStream(schedule: self, dataset: dataset, from: from, to: min(to ?? steps, steps), readAhead: readAhead)
    }
}

/// Batches of a plan in order, assembled (tokens read, masks drawn) on a background thread up to
/// `readAhead` batches ahead of the consumer.
public final class BatchStream: @unchecked Sendable {
    private let queue: BlockingQueue<Result<PlanBatch, Error>>
    private let thread: Thread

    init(schedule: Schedule, dataset: ShardDataset, from: Int, to: Int, readAhead: Int) {
        let queue = BlockingQueue<Result<PlanBatch, Error>>(capacity: readAhead)
        self.queue = queue
        // The dataset is used by this thread only from here on.
        let shared = UncheckedSendable(dataset)
        thread = Thread {
            let perEpoch = schedule.manifest.batchesPerEpoch
            var plan: EpochPlan?
            var step = from
            while step < to {
                do {
                    let e = step / perEpoch
                    if plan?.epoch != e { plan = try schedule.epoch(e) }
                    queue.put(.success(try schedule.batch(plan!, step % perEpoch, dataset: shared.value)))
                } catch {
                    queue.put(.failure(error))
                    break
                }
                if queue.isClosed { break }
                step += 1
            }
            queue.close()
        }
        thread.start()
    }

    public func cancel() { queue.close() }
    deinit { queue.close() }

    /// The next batch, nil at the end; throws the first reading error (a damaged plan or shard).
    public func next() throws -> PlanBatch? {
        guard let item = queue.take() else { return nil }
        return try item.get()
    }
}
