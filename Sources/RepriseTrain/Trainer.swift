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
    public static let file = "best.json"
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

    /// Trains (or resumes) a job's run to its last step: the job is checked, the run directory opened, the
    /// model built or restored, then a `TrainingSession` takes the steps and writes the summary.
    public static func run(_ job: TrainJob) throws -> RunSummary {
        try job.config.validate()
        let schedule = try Schedule(job.schedule)
        try schedule.check(shards: job.shards)
        try preflight(job, schedule: schedule)
        // The cloze items are made (or loaded) before training, so that a problem shows before the work.
        let clozeSet = job.config.clozeItems > 0
            ? try Cloze.items(shards: job.shards, config: ClozeConfig(items: job.config.clozeItems)).set : nil
        let manifest = try Self.manifest(for: job, schedule: schedule)
        try openRunDirectory(job, manifest: manifest)
        let weights = try TrainingWeights(job: job, schedule: schedule)
        if weights.step >= manifest.steps, let done = try? CanonicalJSON.decode(RunSummary.self, from: job.output + "/summary.json") {
            return done
        }
        let session = try TrainingSession(job: job, schedule: schedule, weights: weights, steps: manifest.steps, clozeSet: clozeSet)
        try session.train()
        return try session.finish()
    }

    /// Refuses a job whose parts do not fit together (tokenizer, vocabulary, context, objective options,
    /// splits, mask token) or that would not fit in memory, before anything is written.
    static func preflight(_ job: TrainJob, schedule: Schedule) throws {
        let config = job.config, objective = schedule.config.objective
        let pack = try PackManifest.load(job.shards)
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
    }

    /// A new run: the directory made, run.json (first) and config.json written. An existing run (run.json)
    /// is continued only with --resume and the same settings; what a killed process left is cleaned up.
    static func openRunDirectory(_ job: TrainJob, manifest: RunManifest) throws {
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
    }
}
