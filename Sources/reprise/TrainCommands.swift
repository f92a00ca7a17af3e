import ArgumentParser
import Foundation
import RepriseCore
import RepriseModel
import ReprisePipeline
import RepriseSchedules
import RepriseShards
import RepriseTokenizer
import RepriseTrain

extension LRSchedule: ExpressibleByArgument {}
extension GaussianPrediction: ExpressibleByArgument {}

/// The tokenizer facts a run needs, from a tokenizer directory.
func tokenInfo(_ tok: LoadedTokenizer) -> TokenInfo {
    let i = tok.tokenInfo
    return TokenInfo(vocabSize: i.vocabSize, maskId: i.maskId, endOfTextId: i.endOfTextId, byteLengths: i.byteLengths)
}

/// A run's tokenizer, refused unless it is the one the run was trained with (run.json's
/// `tokenizer_sha256`, the identity `train` checks against the dataset).
func runTokenizer(_ manifest: RunManifest, run: String) throws -> LoadedTokenizer {
    try LoadedTokenizer.load(manifest.tokenizerDir, identity: manifest.tokenizerSha256,
                             expected: "the tokenizer \(run) was trained with")
}

struct TrainCommand: ParsableCommand, RunsModel {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a transformer from prebuilt shards, following a schedule (AR or masked diffusion).",
        discussion: """
        The objective, epochs, batches (and for mdlm the t and masks) come from the schedule. RUN receives \
        run.json, config.json (HuggingFace LlamaConfig), metrics.jsonl, checkpoints/ and, at the end, \
        summary.json. A run killed at any point and continued with --resume gives the same metrics, bit for \
        bit (apart from the wall-clock columns tokens_per_s and mfu), as an uninterrupted run with the same \
        thread count.

        Example: reprise train --shards .build-runs/default/shards --schedule .build-runs/default/schedules/ar --model tiny --output /tmp/run
        """)

    @Option(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @Option(help: "Schedule directory (output of `reprise schedule`).")
    var schedule: String
    @Option(help: "Model: a preset (tiny, small) or a JSON file.")
    var model = "tiny"
    @Option(name: .shortAndLong, help: "Run directory.")
    var output: String
    @Option(help: "Tokenizer directory (default: the one recorded in the shards manifest).")
    var tokenizer: String?
    @Option(help: "Peak learning rate (default \(TrainConfig().lr)).")
    var lr: Double?
    @Option(help: "Warmup steps (default: 5% of the steps).")
    var warmup: Int?
    @Option(help: "cosine or wsd (default \(TrainConfig().lrSchedule.rawValue)).")
    var lrSchedule: LRSchedule?
    @Option(help: "Final learning rate as a fraction of the peak (default \(TrainConfig().minLRRatio)).")
    var minLrRatio: Double?
    @Option(help: "wsd: the fraction of the steps spent decaying at the end (default \(TrainConfig().decayFraction)).")
    var decayFraction: Double?
    @Option(help: "Decoupled weight decay, projections only (default \(TrainConfig().weightDecay)).")
    var weightDecay: Double?
    @Option(help: "Global gradient-norm clipping (default \(TrainConfig().gradClip)).")
    var gradClip: Double?
    @Option(help: "Evaluate every N steps (default 0: every epoch).")
    var evalEvery: Int?
    @Option(help: "Also evaluate after each of the first N epochs (default 0: none beyond --eval-every).")
    var denseEvalEpochs: Int?
    @Option(help: "Checkpoint every N steps (default 0: at every evaluation).")
    var checkpointEvery: Int?
    @Option(help: "Validation sequences per evaluation (0: all; default \(TrainConfig().evalSequences)).")
    var evalSequences: Int?
    @Option(help: "Seed of the initial weights (default \(TrainConfig().seed)).")
    var seed: Int?
    @Option(help: "Stop after N steps (default 0: the whole schedule).")
    var steps: Int?
    @Option(help: "Score the final weights on N items of the cloze task (default 0: no cloze evaluation; AR and mdlm).")
    var clozeItems: Int?
    @Option(help: "Draws of (t, mask) per cloze item for an mdlm run's ELBO (default \(TrainConfig().clozeDraws)).")
    var clozeDraws: Int?
    @Option(help: "Gaussian runs: what the network predicts, eps (the noise) or x0 (the clean embeddings) (default \(TrainConfig().gaussianPrediction.rawValue)).")
    var gaussianPrediction: GaussianPrediction?
    @Flag(help: "Continue the run in --output from its last checkpoint (with the thread count it was started with).")
    var resume = false
    @OptionGroup var workers: WorkerOptions

    func makeConfig() throws -> TrainConfig {
        var c = Overlay(TrainConfig())
        c(lr, \.lr); c(warmup, \.warmup); c(lrSchedule, \.lrSchedule); c(minLrRatio, \.minLRRatio)
        c(decayFraction, \.decayFraction); c(weightDecay, \.weightDecay); c(gradClip, \.gradClip)
        c(evalEvery, \.evalEvery); c(denseEvalEpochs, \.denseEvalEpochs); c(checkpointEvery, \.checkpointEvery)
        c(evalSequences, \.evalSequences); c(seed, \.seed); c(steps, \.steps); c(clozeItems, \.clozeItems)
        c(clozeDraws, \.clozeDraws); c(gaussianPrediction, \.gaussianPrediction)
        do { try c.config.validate() } catch { throw ValidationError(optionSpelling(error.oneLine, prefix: "train.")) }
        return c.config
    }

    func validate() throws { _ = try makeConfig() }

    func run() throws {
        try runReporting {
            let threads = workers.count
            try WorkerThreads.check(threads)
            let lock = try DirectoryLock(output, purpose: "train into another --output")
            defer { lock.release() }
            let pack = try PackManifest.load(shards)
            let tokDir = tokenizer ?? pack.tokenizerDir
            let tok = try LoadedTokenizer.load(tokDir)
            let modelConfig = try ModelConfig.load(presetOrPath: model, vocabSize: pack.vocabSize)
            var job = TrainJob(shards: shards, schedule: schedule, tokenizerDir: tokDir,
                               tokenizerSha256: try LoadedTokenizer.identity(tokDir), tokens: tokenInfo(tok),
                               model: modelConfig, config: try makeConfig(), output: output)
            job.threads = threads; job.resume = resume; job.quiet = workers.quiet
            let s = try Trainer.run(job)
            if s.valNote != nil {
                print(String(format: "trained %d steps (%.2f epochs, %d tokens): train loss %.4f, validation diffusion loss %.4f (not a likelihood); run in %@",
                             s.steps, s.epochs, s.tokensSeen, s.finalTrainLoss, s.valLoss, output))
                return
            }
            print(String(format: "trained %d steps (%.2f epochs, %d tokens): train loss %.4f, validation %@ %.4f%@ nats/token, %.4f bits/byte%@; run in %@",
                         s.steps, s.epochs, s.tokensSeen, s.finalTrainLoss, s.valIsBound ? "bound" : "loss", s.valLoss,
                         s.valStderrText, s.valBitsPerByte, s.clozeText, output))
        }
    }
}

struct EvalCommand: ParsableCommand, RunsModel, UsesThreads {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Validation loss, perplexity and bits per byte of a run; or score a text file (AR).",
        discussion: """
        Without --text: AR runs report the exact validation NLL; mdlm runs the NELBO from the schedule's \
        fixed validation plan (an upper bound). With --text FILE: the number of tokens scored and the total \
        and mean negative log-likelihood in nats (no token prepended, the first token not scored, longer \
        texts scored in consecutive windows of the context). With --cloze: accuracy ± standard error on \
        the multiple-choice cloze items of the validation split (stored by `reprise cloze build`, else \
        built in memory), each ending scored by its log-likelihood (AR) or ELBO (mdlm) given the context.

        Examples:
          reprise eval /tmp/run
          reprise eval /tmp/run --text notes.txt
          reprise eval /tmp/run --cloze --items 200
          reprise eval /tmp/run --schedule /tmp/plan-128-draws
        """)

    @Argument(help: ArgumentHelp("Run directory (output of `reprise train`).", valueName: "run"))
    var runDir: String
    @Option(help: "Checkpoint: a step-NNNNNNNN name in RUN/checkpoints, a directory, or RUN/best (the weights of the lowest validation loss, kept with cloze_items) (default: the latest).")
    var checkpoint: String?
    @Option(help: "Score this text file instead of the validation split (AR runs).")
    var text: String?
    @Option(help: "Validation sequences (0: all).")
    var sequences = 0
    @Option(help: "mdlm: score the validation plan of this schedule (of the same shards and objective) instead of the run's own: another estimator (--masking) or more draws (--val-draws).")
    var schedule: String?
    @OptionGroup var threading: ThreadOptions
    @OptionGroup(title: "Cloze task")
    var cloze: ClozeEvalOptions

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            if cloze.cloze {
                if text != nil { throw RepriseError("--cloze and --text are two different evaluations: give one") }
                return try evaluateCloze(run: runDir, checkpoint: checkpoint, threads: threads, options: cloze)
            }
            let manifest = try RunManifest.load(runDir)
            if manifest.objective == .gaussian && text == nil {
                try GaussianCommands.eval(runDir: runDir, checkpoint: checkpoint, sequences: sequences, threads: threads)
                return
            }
            let (_, model, dir) = try RunModel.load(run: runDir, checkpoint: checkpoint, maxBatch: manifest.batchSize, threads: threads)
            if let text {
                guard manifest.objective == .ar else {
                    throw RepriseError("--text scores with an AR model; \(runDir) trained the \(manifest.objective.rawValue) objective")
                }
                guard let data = FileManager.default.contents(atPath: text) else { throw RepriseError("\(text): cannot read the file") }
                let tok = try runTokenizer(manifest, run: runDir)
                let ids = tok.model.encode([UInt8](data), split: tok.split)
                let (count, nll) = Evaluation.scoreText(model: model, tokens: ids)
                print(String(format: "%d tokens scored, total NLL %.6f nats, mean %.6f nats/token", count, nll, count > 0 ? nll / Double(count) : 0))
                return
            }
            let tok = try runTokenizer(manifest, run: runDir)
            let schedule = try Schedule(self.schedule ?? manifest.scheduleDir)
            if self.schedule != nil {
                guard schedule.config.objective == manifest.objective else {
                    throw RepriseError("\(schedule.dir): a schedule of the \(schedule.config.objective.rawValue) objective; \(runDir) trained the \(manifest.objective.rawValue) objective: give a schedule of its objective")
                }
                try schedule.check(shards: manifest.shardsDir)
            }
            let r = try Evaluation.validate(model: model, objective: manifest.objective, schedule: schedule, shards: manifest.shardsDir,
                                            tokens: tokenInfo(tok), sequences: sequences, batchSize: manifest.batchSize)
            let se = r.draws.map { String(format: " ± %.4f (Monte-Carlo standard error, %d draws per sequence, %@)", r.stderr, $0, r.estimator ?? "") } ?? ""
            print(String(format: "%@: validation %@ %.4f%@ nats/token, perplexity %.2f, %.4f bits/byte over %d tokens; standard error over sequences %.4f",
                         (dir as NSString).lastPathComponent, r.isBound ? "NELBO (upper bound)" : "loss", r.loss, se,
                         r.perplexity, r.bitsPerByte, r.tokens, r.stderrSequences))
        }
    }
}

struct SampleCommand: ParsableCommand, RunsModel, UsesThreads {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a run's model.",
        discussion: """
        AR runs continue the prompt token by token. mdlm runs start from the prompt followed by --max-tokens \
        masks and reveal them over --steps steps, keeping the most confident predictions of each step \
        (low-confidence remasking), block after block of --block-length tokens (semi-autoregressive when \
        shorter). Gaussian diffusion runs denoise --max-tokens positions after the prompt from Gaussian noise \
        with --steps deterministic DDIM steps of the run's noise schedule (--seed picks the noise).

        Examples:
          reprise sample /tmp/run --prompt "In the beginning" --max-tokens 64 --temperature 0.8 --top-k 40
          reprise sample /tmp/mdlm-run --prompt "In the beginning" --max-tokens 64 --steps 32 --block-length 16 --temperature 0
          reprise sample /tmp/gaussian-run --max-tokens 32 --steps 100 --seed 1
        """)

    @Argument(help: ArgumentHelp("Run directory (output of `reprise train`).", valueName: "run"))
    var runDir: String
    @Option(help: "Text to continue.")
    var prompt = ""
    @Option(help: "Tokens to generate.")
    var maxTokens = 64
    @Option(help: "Sampling temperature (0: greedy).")
    var temperature = 0.8
    @Option(help: "Sample from the k most likely tokens (0: all).")
    var topK = 40
    @Option(help: "Seed.")
    var seed = 0
    @Option(help: "Checkpoint: as for `reprise eval` (default: the latest).")
    var checkpoint: String?
    @OptionGroup var threading: ThreadOptions
    @OptionGroup(title: "Diffusion sampling")
    var diffusion: DiffusionSampleOptions
    @Flag(help: "Gaussian runs: do not clamp the predicted x0 to the nearest token embedding at every step (only at the end).")
    var noClamp = false

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            if try RunManifest.load(runDir).objective == .gaussian {
                try GaussianCommands.sample(runDir: runDir, checkpoint: checkpoint, prompt: prompt, maxTokens: maxTokens,
                                            steps: diffusion.steps == 0 ? 100 : diffusion.steps, seed: seed,
                                            clamp: !noClamp, threads: threads)
                return
            }
            let (manifest, model, _) = try RunModel.load(run: runDir, checkpoint: checkpoint, threads: threads)
            if manifest.objective == .mdlm {
                return try sampleDiffusion(run: runDir, manifest: manifest, model: model, prompt: prompt, maxTokens: maxTokens,
                                           temperature: temperature, topK: topK, seed: seed, options: diffusion)
            }
            if diffusion.steps != 0 || diffusion.blockLength != 0 {
                throw RepriseError("--steps and --block-length apply to mdlm runs; \(runDir) trained the \(manifest.objective.rawValue) objective")
            }
            guard manifest.objective == .ar else {
                throw RepriseError("\(runDir) trained the \(manifest.objective.rawValue) objective; sampling it comes with a later version (ar and mdlm runs sample)")
            }
            let tok = try runTokenizer(manifest, run: runDir)
            var ids = tok.model.encode(Array(prompt.utf8), split: tok.split)
            if ids.isEmpty { ids = [UInt32(manifest.endOfTextId)] }
            let excluded = Set(tok.model.specials.values.map(Int.init)).subtracting([manifest.endOfTextId])
            let out = Sampling.autoregressive(model: model, prompt: ids, maxTokens: maxTokens, temperature: temperature,
                                              topK: topK, seed: UInt64(seed), stop: UInt32(manifest.endOfTextId), excluded: excluded)
            print(prompt + String(decoding: tok.model.decode(out), as: UTF8.self))
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a run for HuggingFace transformers (LlamaForCausalLM): config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json, special_tokens_map.json.",
        discussion: "Example: reprise export /tmp/run --format hf --output /tmp/hf")

    @Argument(help: ArgumentHelp("Run directory (output of `reprise train`).", valueName: "run"))
    var runDir: String
    @Option(help: "Export format (hf).")
    var format = "hf"
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Option(help: "Checkpoint: as for `reprise eval` (default: the latest).")
    var checkpoint: String?

    func validate() throws {
        if format != "hf" { throw ValidationError("--format must be hf") }
    }

    func run() throws {
        try runReporting {
            let (manifest, model, dir) = try RunModel.load(run: runDir, checkpoint: checkpoint, threads: 1)
            // Both checked before anything is written.
            let tok = try runTokenizer(manifest, run: runDir)
            guard let tj = FileManager.default.contents(atPath: manifest.tokenizerDir + "/tokenizer.json") else {
                throw RepriseError("\(manifest.tokenizerDir)/tokenizer.json: cannot read the tokenizer to export")
            }
            if let entry = tok.manifest.files.first(where: { $0.file == "tokenizer.json" }), entry.sha256 != Hashing.sha256Hex([UInt8](tj)) {
                throw RepriseError("\(manifest.tokenizerDir)/tokenizer.json: SHA-256 differs from the tokenizer's manifest (the file was changed after `reprise tokenizer train`)")
            }
            if manifest.objective != .ar {
                logLine("note: \(runDir) trained the \(manifest.objective.rawValue) objective (bidirectional attention); LlamaForCausalLM runs it with causal attention")
            }
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            for name in ["config.json", "model.safetensors", "tokenizer.json"] {
                try AtomicFile.removeStaleTemporaries(of: output + "/" + name)
            }
            try AtomicFileWriter.write(try manifest.model.huggingFaceConfigJSON(bosTokenId: manifest.endOfTextId, eosTokenId: manifest.endOfTextId),
                                       to: output + "/config.json")
            try Checkpoints.writeModel(model, to: output + "/model.safetensors")
            try AtomicFileWriter.write([UInt8](tj), to: output + "/tokenizer.json")
            let files = try TokenizerFiles.huggingFaceTokenizerConfig(tok.model, maxLength: manifest.model.context)
            try AtomicFileWriter.write(files.config, to: output + "/tokenizer_config.json")
            try AtomicFileWriter.write(files.specialTokensMap, to: output + "/special_tokens_map.json")
            // generate() stops at <|endoftext|> and pads with <|pad|> (or <|endoftext|> when there is none).
            var generation: [String: Any] = ["bos_token_id": manifest.endOfTextId, "eos_token_id": manifest.endOfTextId,
                                             "max_length": manifest.model.context]
            generation["pad_token_id"] = tok.model.specials[SpecialTokens.pad].map(Int.init) ?? manifest.endOfTextId
            try AtomicFileWriter.write(Array(try JSONSerialization.data(withJSONObject: generation, options: [.sortedKeys, .prettyPrinted])) + [0x0A],
                                       to: output + "/generation_config.json")
            print("exported \((dir as NSString).lastPathComponent) of \(runDir) to \(output) (config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json, special_tokens_map.json)")
        }
    }
}
