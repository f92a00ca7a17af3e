import Foundation
import RepriseCore
import RepriseModel

/// Settings of masked-diffusion generation.
public struct DiffusionSamplingOptions: Sendable, Equatable {
    /// Tokens to generate after the prompt.
    public var length: Int
    /// Denoising steps in all (0: one per token). Spread over the blocks, at least one per block, at most
    /// one per token of the block.
    public var steps = 0
    /// Semi-autoregressive blocks: the generated tokens are revealed block after block, left to right
    /// (0: one block of `length`).
    public var blockLength = 0
    /// 0 takes the most likely token at every masked position; otherwise softmax(logits / temperature)
    /// over the top k (0: all) is sampled.
    public var temperature = 0.0
    public var topK = 0
    public var seed: UInt64 = 0
    /// Ids never produced (besides `<|mask|>`, which never is): e.g. the other special tokens.
    public var excluded: Set<Int> = []
    /// The model's input is completed with `<|mask|>` positions, never revealed, up to this length (at most
    /// the model's context), so that a model trained on sequences of this length sees inputs of that length:
    /// the generated text is then the start of a window whose rest is unknown. 0: no padding.
    public var padTo = 0

    public init(length: Int, steps: Int = 0, blockLength: Int = 0, temperature: Double = 0, topK: Int = 0, seed: UInt64 = 0,
                excluded: Set<Int> = [], padTo: Int = 0) {
        self.length = length; self.steps = steps; self.blockLength = blockLength; self.temperature = temperature
        self.topK = topK; self.seed = seed; self.excluded = excluded; self.padTo = padTo
    }
}

/// Generation with a masked-diffusion model (bidirectional attention), as in LLaDA: the prompt followed by
/// `length` mask tokens; at each step the model predicts every masked position of the current block at
/// once, a token is chosen per position (argmax, or sampled), and only the k most confident choices
/// (probability of the chosen token under the model's softmax, the mask token excluded) are kept; the rest
/// stay masked for the next step ("low-confidence remasking"). With S steps for a block of m tokens, step s
/// reveals ⌊m/S⌋ tokens, one more in the first m mod S steps, so the block is complete after S steps.
/// Blocks are done left to right (semi-autoregressive when shorter than `length`); later blocks (and the
/// padding, see `padTo`) stay masked meanwhile but are seen by the model. Ties in confidence go to the leftmost position; random draws come
/// from SplitMix64(seed) in position order, so the same seed gives the same tokens.
public enum DiffusionSampling {
    /// The tokens revealed at each step of a block of `m` tokens done in `steps` steps.
    public static func revealCounts(tokens m: Int, steps: Int) -> [Int] {
        let s = max(1, min(steps, m))
        return (0..<s).map { m / s + ($0 < m % s ? 1 : 0) }
    }

    /// Steps given to each block: `steps` spread evenly (the first blocks take the remainder), each within
    /// 1...its length.
    public static func blockSteps(blocks: [Int], steps: Int) -> [Int] {
        let n = blocks.count
        return blocks.enumerated().map { b, m in max(1, min(m, steps / n + (b < steps % n ? 1 : 0))) }
    }

    /// Generates `options.length` tokens after `prompt` (kept fixed; when prompt + length exceed the model's
    /// context only the prompt's last tokens are given). `onStep`, when given, sees the whole input after
    /// every step: the prompt as given to the model, the generated part (`<|mask|>` where still masked), then
    /// the padding.
    public static func generate(model: Transformer, prompt: [UInt32], maskId: Int, options o: DiffusionSamplingOptions,
                                onStep: ((_ step: Int, _ sequence: [Int32]) -> Void)? = nil) throws -> [UInt32] {
        let V = model.config.vocabSize, G = o.length
        guard G >= 1 else { throw RepriseError("the generation length must be at least 1 token") }
        guard G <= model.maxSeq else {
            throw RepriseError("cannot generate \(G) tokens at once with a model whose context is \(model.maxSeq); ask for fewer tokens")
        }
        guard maskId >= 0 && maskId < V else { throw RepriseError("the mask id \(maskId) is outside the vocabulary of \(V)") }
        guard o.steps >= 0, o.blockLength >= 0 else { throw RepriseError("steps and block length must be 0 (default) or more") }
        if let bad = prompt.first(where: { Int($0) >= V }) {
            throw RepriseError("prompt token \(bad) is outside the model's vocabulary of \(V)")
        }
        let kept = Array(prompt.suffix(model.maxSeq - G))
        let P = kept.count, T = min(max(P + G, o.padTo), model.maxSeq)
        var x = kept.map { Int32($0) } + [Int32](repeating: Int32(maskId), count: T - P)
        var excluded = o.excluded
        excluded.insert(maskId)
        guard excluded.count < V else { throw RepriseError("every token of the vocabulary is excluded") }

        let B = o.blockLength == 0 ? G : min(o.blockLength, G)
        let blocks = stride(from: 0, to: G, by: B).map { min(B, G - $0) }
        let perBlock = blockSteps(blocks: blocks, steps: o.steps == 0 ? G : o.steps)
        var rng = SplitMix64(seed: o.seed)
        var step = 0
        var blockStart = P
        for (b, m) in blocks.enumerated() {
            for k in revealCounts(tokens: m, steps: perBlock[b]) {
                model.forward(tokens: x, batch: 1, seq: T, causal: false)
                let logits = model.logits
                // A choice and its confidence at every masked position of the block.
                var choices: [(position: Int, token: Int, confidence: Double)] = []
                for j in blockStart..<(blockStart + m) where x[j] == Int32(maskId) {
                    let row = Array(logits[(j * V)..<((j + 1) * V)])
                    let token = Sampling.pick(row, temperature: o.temperature, topK: o.topK, excluded: excluded, rng: &rng)
                    choices.append((j, token, probability(row, of: token, excluded: excluded)))
                }
                choices.sort { $0.confidence > $1.confidence || ($0.confidence == $1.confidence && $0.position < $1.position) }
                for c in choices.prefix(k) { x[c.position] = Int32(c.token) }
                step += 1
                onStep?(step, x)
            }
            blockStart += m
        }
        precondition(!x[P..<(P + G)].contains(Int32(maskId)), "every generated position is revealed")
        return x[P..<(P + G)].map { UInt32($0) }
    }

    /// softmax(logits)[token] over the ids not excluded.
    static func probability(_ logits: [Float], of token: Int, excluded: Set<Int>) -> Double {
        var m = -Double.infinity
        for (v, l) in logits.enumerated() where !excluded.contains(v) { m = max(m, Double(l)) }
        var z = 0.0
        for (v, l) in logits.enumerated() where !excluded.contains(v) { z += exp(Double(l) - m) }
        return exp(Double(logits[token]) - m) / z
    }
}
