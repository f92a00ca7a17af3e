import Foundation
import RepriseCore
import RepriseModel
import ReprisePipeline
import RepriseSchedules
import RepriseTokenizer
import RepriseTrain

/// `reprise sample` and `reprise eval` for gaussian (embedding diffusion) runs: kept apart from the AR and
/// mdlm paths of TrainCommands.swift, which call in here with a single `if`.
enum GaussianCommands {
    /// DDIM sampling of `maxTokens` tokens after the prompt (prompt positions held at their embeddings);
    /// prints the prompt followed by the decoded tokens.
    static func sample(runDir: String, checkpoint: String?, prompt: String, maxTokens: Int, steps: Int, seed: Int,
                       clamp: Bool, threads: Int) throws {
        let manifest = try RunManifest.load(runDir)
        let (_, model, dir) = try RunModel.load(run: runDir, checkpoint: checkpoint, maxBatch: 1, threads: threads)
        let tok = try runTokenizer(manifest, run: runDir)
        let ids = tok.model.encode(Array(prompt.utf8), split: tok.split)
        guard maxTokens > 0 else { throw RepriseError("--max-tokens must be at least 1") }
        guard steps > 0 else { throw RepriseError("--steps must be at least 1") }
        guard ids.count + maxTokens <= model.maxSeq else {
            throw RepriseError("the prompt (\(ids.count) tokens) and --max-tokens \(maxTokens) exceed the model's context of \(model.maxSeq)")
        }
        let gaussian = try GaussianObjective.load(run: manifest, checkpointDir: dir, model: model, maxRows: 1, maxSeq: model.maxSeq)
        gaussian.threads = threads
        // Never decode special tokens other than <|endoftext|> (the mask is excluded by the objective).
        let excluded = Set(tok.model.specials.values.map(Int.init)).subtracting([manifest.endOfTextId])
        let out = gaussian.sample(model: model, prompt: ids, length: maxTokens, steps: steps, seed: UInt64(seed),
                                  clamp: clamp, excluded: excluded)
        print(prompt + String(decoding: tok.model.decode(out), as: UTF8.self))
    }

    /// The validation loss of a gaussian run's checkpoint (not a likelihood).
    static func eval(runDir: String, checkpoint: String?, sequences: Int, threads: Int) throws {
        let manifest = try RunManifest.load(runDir)
        let (_, model, dir) = try RunModel.load(run: runDir, checkpoint: checkpoint, maxBatch: manifest.batchSize, threads: threads)
        let gaussian = try GaussianObjective.load(run: manifest, checkpointDir: dir, model: model, maxRows: manifest.batchSize,
                                                  maxSeq: model.maxSeq)
        gaussian.threads = threads
        let schedule = try Schedule(manifest.scheduleDir)
        let r = try gaussian.validate(model: model, schedule: schedule, shards: manifest.shardsDir, sequences: sequences,
                                      batchSize: manifest.batchSize)
        print(String(format: "%@: validation diffusion loss %.4f (eps MSE %.4f + rounding CE %.4f) over %d tokens; not a likelihood, not comparable with AR or mdlm NLL",
                     (dir as NSString).lastPathComponent, r.loss, r.components["mse"] ?? 0, r.components["rounding_ce"] ?? 0, r.tokens))
    }
}
