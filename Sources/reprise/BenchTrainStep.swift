import ArgumentParser
import Foundation
import RepriseModel

/// `reprise bench train-step`: times RepriseModel's training step for Tools/bench/train-step and prints one
/// JSON line with tokens/s, MFU against the sgemm peak measured in the same process, and peak memory.
struct BenchTrainStepCommand: ParsableCommand, RunsModel {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Benchmark: forward, loss, backward and AdamW on random tokens for a model preset.",
        discussion: "Example: reprise bench train-step --preset small --threads 2 --batch 8")

    @Option(help: "tiny or small.")
    var preset = "small"
    @Option(help: "Threads.")
    var threads = 2
    @Option(help: "Sequences per batch (each the preset's context long).")
    var batch = 8
    @Option(help: "Timed steps.")
    var steps = 5
    @Option(help: "Vocabulary size.")
    var vocab = 8192

    func run() throws {
        guard let config = ModelConfig.preset(preset, vocabSize: vocab) else {
            throw ValidationError("--preset must be one of \(ModelConfig.presetNames.joined(separator: ", "))")
        }
        let before = BLAS.measureSgemm(threads: threads)
        let bench = TrainingStepBenchmark(config: config, batch: batch, threads: threads)
        let m = bench.measure(steps: steps, warmup: 1)
        let after = BLAS.measureSgemm(threads: threads)
        let peak = max(before.wall, after.wall), peakCPU = max(before.perCPUSecond, after.perCPUSecond)
        let tokens = Double(batch * bench.seq)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let result: [String: Any] = [
            "preset": preset, "batch": batch, "seq": bench.seq, "threads": threads, "vocab": vocab,
            "params": config.parameterCount, "blas_core": BLAS.coreName,
            "seconds_per_step": m.secondsPerStep, "median_seconds_per_step": m.medianSecondsPerStep,
            "cpu_seconds_per_step": m.cpuSecondsPerStep, "tokens_per_s": m.tokensPerSecond,
            "flops_per_token": m.flopsPerToken, "model_gflops": m.achievedGFLOPs,
            "sgemm_peak_gflops": peak, "mfu": m.achievedGFLOPs / peak,
            "sgemm_gflops_per_cpu_s": peakCPU,
            "mfu_cpu": m.flopsPerToken * tokens / m.cpuSecondsPerStep / 1e9 / peakCPU,
            "loss": m.lastLoss, "peak_rss_mb": Double(usage.ru_maxrss) / 1024,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }
}
