import Foundation
import RepriseCore

/// One complete training step on random tokens — forward, next-token cross-entropy, backward, gradient
/// clipping, AdamW — for timing a model shape (tokens/s and MFU against the measured sgemm peak).
public final class TrainingStepBenchmark {
    public let model: Transformer
    public let optimizer: AdamW
    public let batch: Int, seq: Int
    private var inputs: [Int32], targets: [Int32]

    public init(config: ModelConfig, batch: Int, seq: Int? = nil, threads: Int, seed: UInt64 = 1) {
        let T = seq ?? config.context
        self.batch = batch
        self.seq = T
        model = Transformer(config: config, maxBatch: batch, maxSeq: T, threads: threads)
        model.initializeParameters(seed: seed)
        optimizer = AdamW(layout: model.layout, weightDecay: 0.1)
        var rng = SplitMix64(seed: seed &+ 1)
        var stream = [Int32]()
        stream.reserveCapacity(batch * (T + 1))
        for _ in 0..<(batch * (T + 1)) { stream.append(Int32(rng.next() % UInt64(config.vocabSize))) }
        inputs = []; targets = []
        for b in 0..<batch {
            inputs += stream[(b * (T + 1))..<(b * (T + 1) + T)]
            targets += stream[(b * (T + 1) + 1)..<((b + 1) * (T + 1))]
        }
    }

    /// One step; returns the mean loss.
    @discardableResult
    public func step(lr: Float = 1e-3) -> Double {
        let N = batch * seq
        model.zeroGradients()
        model.forward(tokens: inputs, batch: batch, seq: seq, causal: true)
        let logits = model.logits
        // ∂loss/∂logits written over the logits (in place).
        let loss = targets.withUnsafeBufferPointer { t in
            CrossEntropy.forwardBackward(logits: logits.baseAddress!, targets: t.baseAddress!, weights: nil, rows: N,
                                         vocab: model.config.vocabSize, dLogits: logits.baseAddress!,
                                         scale: 1 / Float(N), threads: model.threads)
        }
        model.backward(dLogits: logits.baseAddress!)
        GradientClipping.clip(model.grads, maxNorm: 1, threads: model.threads)
        optimizer.update(params: model.params, grads: model.grads, lr: lr, threads: model.threads)
        return loss / Double(N)
    }

    public struct Measurement: Sendable {
        /// The fastest step (the least disturbed by other work on the machine).
        public var secondsPerStep: Double
        public var medianSecondsPerStep: Double
        /// Process CPU time (all threads) of the step with the least CPU time: steadier than wall time on
        /// a machine shared with other work.
        public var cpuSecondsPerStep: Double
        public var tokensPerSecond: Double
        public var flopsPerToken: Double
        /// Model FLOPs per second, in GFLOP/s.
        public var achievedGFLOPs: Double
        public var lastLoss: Double
    }

    /// Times `steps` steps after `warmup` untimed ones; rates are from the fastest step.
    public func measure(steps: Int = 5, warmup: Int = 1) -> Measurement {
        var loss = 0.0
        for _ in 0..<warmup { loss = step() }
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
            loss = step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            cpu.append(processCPUSeconds() - cpuStart)
        }
        times.sort()
        let t = times[0]
        let tokens = Double(batch * seq)
        let flops = model.config.trainingFlopsPerToken(seqLen: seq)
        return Measurement(secondsPerStep: t, medianSecondsPerStep: times[times.count / 2], cpuSecondsPerStep: cpu.min()!, tokensPerSecond: tokens / t, flopsPerToken: flops,
                           achievedGFLOPs: flops * tokens / t / 1e9, lastLoss: loss)
    }
}

/// CPU time of the whole process (user + system, all threads), in seconds.
public func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
