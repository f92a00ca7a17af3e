import Foundation
import RepriseCore
import RepriseModel

public enum RunModel {
    /// A run's model with the weights of its latest checkpoint, or of `checkpoint` (a step-NNNNNNNN name or
    /// a checkpoint directory), checked against the checkpoint's state.json as `train --resume` checks them
    /// (`Checkpoints.load`). `checkpoint` may also be the run's best weights, `RUN/best` (model.safetensors
    /// with best.json, no optimizer state), whose tensors are checked by name and shape only.
    public static func load(run: String, checkpoint: String? = nil, maxBatch: Int = 1, threads: Int = defaultThreadCount) throws -> (RunManifest, Transformer, String) {
        let manifest = try RunManifest.load(run)
        let fm = FileManager.default
        let dir: String, state: TrainState?
        if let checkpoint {
            dir = fm.fileExists(atPath: checkpoint + "/model.safetensors") ? checkpoint : run + "/checkpoints/" + checkpoint
            let isBest = fm.fileExists(atPath: dir + "/" + BestWeights.file) && !fm.fileExists(atPath: dir + "/state.json")
            state = isBest ? nil : try Checkpoints.state(dir: dir)
        } else if let latest = try Checkpoints.latest(run: run) {
            (dir, state) = latest
        } else {
            throw RepriseError("\(run) has no checkpoint yet: let `reprise train` reach its first checkpoint")
        }
        let model = Transformer(config: manifest.model, maxBatch: maxBatch, maxSeq: manifest.model.context, threads: threads)
        if let state {
            try Checkpoints.load(dir: dir, state: state, model: model, optimizer: nil)
        } else {
            try Checkpoints.readModel(model, from: dir + "/model.safetensors")
        }
        return (manifest, model, dir)
    }
}

public enum Sampling {
    /// Autoregressive sampling: appends up to `maxTokens` tokens to `prompt`, stopping early at `stop`.
    /// temperature 0 takes the most likely token; top-k 0 samples from the whole vocabulary. The context is
    /// the last `context` tokens (no cache: the whole window is recomputed per token).
    public static func autoregressive(model: Transformer, prompt: [UInt32], maxTokens: Int, temperature: Double,
                                      topK: Int, seed: UInt64, stop: UInt32? = nil, excluded: Set<Int> = []) -> [UInt32] {
        var tokens = prompt
        var rng = SplitMix64(seed: seed)
        let V = model.config.vocabSize, ctx = model.maxSeq
        for _ in 0..<maxTokens {
            let window = tokens.suffix(ctx).map { Int32($0) }
            let T = window.count
            model.forward(tokens: Array(window), batch: 1, seq: T, causal: true)
            let row = Array(model.logits[((T - 1) * V)..<(T * V)])
            let next = pick(row, temperature: temperature, topK: topK, excluded: excluded, rng: &rng)
            tokens.append(UInt32(next))
            if let stop, UInt32(next) == stop { break }
        }
        return Array(tokens[prompt.count...])
    }

    /// One token from logits: argmax at temperature 0, else softmax(logits / T) over the top k.
    static func pick(_ logits: [Float], temperature: Double, topK: Int, excluded: Set<Int>, rng: inout SplitMix64) -> Int {
        var candidates = logits.indices.filter { !excluded.contains($0) }
        if temperature <= 0 { return candidates.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }! }
        if topK > 0 && topK < candidates.count {
            candidates.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            candidates = Array(candidates.prefix(topK))
        }
        let m = candidates.map { Double(logits[$0]) }.max()!
        let weights = candidates.map { exp((Double(logits[$0]) - m) / temperature) }
        var u = rng.unit() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return candidates[i] }
        }
        return candidates.last!
    }
}
