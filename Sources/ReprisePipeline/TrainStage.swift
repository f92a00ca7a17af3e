import Foundation
import RepriseCore
import RepriseModel
import RepriseShards
import RepriseTokenizer
import RepriseTrain

/// `stages.train.NAME`: trains a model from the pack stage's shards following the plan `schedule`
/// (a name under `stages.schedules`), into work_dir/runs/NAME.
public struct TrainStageConfig: Decodable, Sendable, Equatable {
    public var schedule: String
    /// A preset (tiny, small) or the path of a model JSON file.
    public var model: String
    public var config: TrainConfig

    enum CodingKeys: String, CodingKey, CaseIterable { case schedule, model, config }
    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schedule = try c.decode(String.self, forKey: .schedule)
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? "tiny"
        config = try c.decodeIfPresent(TrainConfig.self, forKey: .config) ?? TrainConfig()
    }
}

public enum TrainStage {
    /// The job a pipeline's train entry describes.
    public static func job(_ stage: TrainStageConfig, shards: String, schedule: String, tokenizer: String, output: String,
                           options: PipelineRunner.Options) throws -> TrainJob {
        let pack = try PackManifest.load(shards)
        let tok = try LoadedTokenizer.load(tokenizer)
        let info = tok.tokenInfo
        let model = try ModelConfig.load(presetOrPath: stage.model, vocabSize: pack.vocabSize)
        var job = TrainJob(shards: shards, schedule: schedule, tokenizerDir: tokenizer,
                           tokenizerSha256: try LoadedTokenizer.identity(tokenizer),
                           tokens: TokenInfo(vocabSize: info.vocabSize, maskId: info.maskId, endOfTextId: info.endOfTextId,
                                             byteLengths: info.byteLengths),
                           model: model, config: stage.config, output: output)
        job.threads = options.threads
        job.quiet = options.quiet
        return job
    }

    /// Up to date when the run finished (summary.json) with the run.json this job would write; stale when a
    /// run.json for the same job exists without a summary (a killed run: it is resumed).
    public static func state(_ job: TrainJob) throws -> PipelineRunner.StageState {
        let runPath = job.output + "/run.json"
        guard FileManager.default.fileExists(atPath: runPath) else { return .missing }
        guard let old = try? CanonicalJSON.decode(RunManifest.self, from: runPath),
              old == (try? Trainer.manifest(for: job)) else {
            return .stale("its model, data, schedule, training config, threads or BLAS kernel changed")
        }
        guard let summary = try? CanonicalJSON.decode(RunSummary.self, from: job.output + "/summary.json"),
              summary.runSha256 == (try Hashing.sha256Hex(file: runPath)) else {
            return .stale("it has not finished (it will resume from its last checkpoint)")
        }
        return .upToDate
    }

    /// Trains (or resumes, or restarts when the settings changed) and returns the run's summary.
    public static func run(_ job: TrainJob, force: Bool) throws -> RunSummary {
        var job = job
        let fm = FileManager.default
        let runPath = job.output + "/run.json"
        if fm.fileExists(atPath: runPath) {
            let old = try? CanonicalJSON.decode(RunManifest.self, from: runPath)
            let expected = try Trainer.manifest(for: job)
            if force || !(old?.isSameRun(as: expected) ?? false) {
                try fm.removeItem(atPath: job.output)
            } else {
                job.resume = true
            }
        }
        return try Trainer.run(job)
    }
}
