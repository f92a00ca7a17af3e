import ArgumentParser
import Foundation
import RepriseCore
import ReprisePipeline
import RepriseSchedules
import RepriseShards
import RepriseTokenizer

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Plan every epoch ahead of time: sequence order, and t and masks (or noise) for diffusion.",
        discussion: """
        `reprise schedule SHARDS ...` builds a plan (the `build` subcommand is the default); `show` prints \
        one sequence as an epoch feeds it; `verify` checks every plan file. Format: \
        Sources/RepriseSchedules/FORMAT.md.

        Example: reprise schedule .build-runs/default/shards --objective mdlm --epochs 4 --batch-size 16 --seed 1 --output /tmp/mdlm
        """,
        subcommands: [ScheduleBuildCommand.self, ScheduleShowCommand.self, ScheduleVerifyCommand.self],
        defaultSubcommand: ScheduleBuildCommand.self)
}

struct ScheduleBuildCommand: ParsableCommand, UsesWorkers {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the plan of every epoch from a shards directory.",
        discussion: """
        Examples:
          reprise schedule .build-runs/default/shards --objective ar --epochs 4 --batch-size 16 --seed 1 --output /tmp/ar
          reprise schedule .build-runs/default/shards --objective mdlm --epochs 64 --batch-size 16 --seed 1 --noise cosine --output /tmp/mdlm
        """)

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @Option(help: "ar, mdlm or gaussian (default \(ScheduleConfig().objective.rawValue)).")
    var objective: Objective?
    @Option(help: "Number of epochs (default \(ScheduleConfig().epochs)).")
    var epochs: Int?
    @Option(help: "Sequences per batch (default \(ScheduleConfig().batchSize)).")
    var batchSize: Int?
    @Option(help: "Seed of the order, t and masks (default \(ScheduleConfig().seed)).")
    var seed: Int?
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Option(help: "Noise schedule: mdlm linear (default), cosine, cosine-squared, geometric; gaussian cosine (default), sqrt, linear-beta.")
    var noise: String?
    @Option(help: "iid or stratified within each batch (default \(ScheduleConfig().tSampling.rawValue)).")
    var tSampling: TimeSampling?
    @Option(help: "t = eps + (1 - eps) u (default \(ScheduleConfig().eps)).")
    var eps: Double?
    @Option(help: "mdlm: exact_k (default: k uniform in 1...L masked tokens, weight L/k, unbiased), or bernoulli (each token with probability 1 - alpha(t)) / exact (round((1 - alpha(t)) L) tokens), both with at least one masked token and weight w(t), which bias the bound upward.")
    var masking: Masking?
    @Option(help: "Frames shuffled together; the reader caches this many (default \(ScheduleConfig().shuffleWindow)).")
    var shuffleWindow: Int?
    @Option(help: "Draws of (t, mask) per validation sequence (default \(ScheduleConfig().valDraws)).")
    var valDraws: Int?
    @Option(help: "Seed of the validation plan; keep it fixed to compare runs (default \(ScheduleConfig().valSeed)).")
    var valSeed: Int?
    @Option(help: "Validation sequences in the plan (default 0: all).")
    var valSequences: Int?
    @Option(help: "mdlm only: fraction of batches trained at a random shorter length, uniform in 1...seq-len (default 0.01).")
    var shortFraction: Double?
    @Option(help: "A unique-token budget: plan this many training sequences (default 0: all of the split).")
    var sequences: Int?
    @Option(help: "Which sequences a budget takes: spread (runs spread over the split, default) or first.")
    var selection: SequenceSelection?
    @OptionGroup var workers: WorkerOptions

    func makeConfig() throws -> ScheduleConfig {
        var c = Overlay(ScheduleConfig())
        c(objective, \.objective); c(epochs, \.epochs); c(batchSize, \.batchSize); c(seed, \.seed); c(noise, \.noise)
        c(tSampling, \.tSampling); c(eps, \.eps); c(masking, \.masking); c(shuffleWindow, \.shuffleWindow)
        c(valDraws, \.valDraws); c(valSeed, \.valSeed); c(valSequences, \.valSequences); c(shortFraction, \.shortFraction)
        c(sequences, \.sequences); c(selection, \.selection)
        do { return try c.config.resolved() } catch { throw ValidationError(optionSpelling(error.oneLine, prefix: "schedule.")) }
    }

    func validate() throws {
        _ = try makeConfig()
    }

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            let lock = try DirectoryLock(output, purpose: "choose another --output")
            defer { lock.release() }
            let m: ScheduleManifest
            do {
                m = try ScheduleBuilder.build(shards: shards, config: try makeConfig(), output: output,
                                              threads: threads, quiet: quiet)
            } catch let e as RepriseError where e.message.hasPrefix("schedule.epochs: ") {
                throw RepriseError(optionSpelling(e.message, prefix: "schedule."))
            }
            print(ledgerLine(m))
            print("plan in \(output)")
        }
    }
}

func ledgerLine(_ m: ScheduleManifest) -> String {
    let l = m.ledger
    return String(format: "%@ plan: %d epochs × %d sequences of %d tokens = %d tokens per epoch; %d unique tokens, %d tokens fed in all, each sequence %d times; %d batches of %d per epoch, %d steps; %d bytes per sequence per epoch (%.2f on disk)",
                  m.config.objective.rawValue, l.epochs, l.sequencesPerEpoch, l.tokensPerSequence, l.tokensPerEpoch,
                  l.uniqueTokens, l.totalTokens, l.repetitionsPerSequence, l.batchesPerEpoch, m.config.batchSize,
                  l.steps, l.planBytesPerSequenceEpoch, l.diskBytesPerSequenceEpoch)
        + (l.shortBatches.map { String(format: "; %d short batches (short fraction %g)", $0, m.config.shortBatchFraction) } ?? "")
}

struct ScheduleShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a sequence as an epoch feeds it: masked tokens as <|mask|>, t, weight, times seen before.",
        discussion: "Example: reprise schedule show .build-runs/default/schedules/mdlm --epoch 3 --sequence 10")

    @Argument(help: "Schedule directory.")
    var schedule: String
    @Option(help: "Epoch (0-based).")
    var epoch = 0
    @Option(help: "Training sequence (default: the first one of the epoch).")
    var sequence: Int?
    @Option(help: "Shards directory (default: the one recorded in the plan).")
    var shards: String?
    @Option(help: "Tokenizer directory (default: the one recorded in the shards manifest).")
    var tokenizer: String?
    @Flag(help: "Print the row as one JSON object (length, tokens, mask, t, alpha, weight, key) instead of text.")
    var json = false

    func run() throws {
        try runReporting {
            let s = try Schedule(schedule)
            let c = s.config
            let shardsDir = shards ?? s.manifest.shardsDir
            try s.check(shards: shardsDir)
            let pack = try PackManifest.load(shardsDir)
            if json { return try printJSON(s, pack: pack, shards: shardsDir) }
            print("schedule \(schedule): objective \(c.objective.rawValue), noise \(c.noise), eps \(c.eps), t-sampling \(c.tSampling.rawValue), masking \(c.maskingMode.rawValue), seed \(c.seed)")
            print(ledgerLine(s.manifest))
            let (target, batch, row) = try locate(s, pack: pack, shards: shardsDir)
            let b = batch.batch
            let length = batch.seqLen < s.manifest.seqLen ? ", a short batch of \(batch.seqLen) tokens" : ""
            print("epoch \(epoch), sequence \(target): step \(batch.step) (batch \(b), row \(row)\(length)); seen \(batch.timesSeenBefore) times before this epoch")
            let L = batch.seqLen
            let tokens = Array(batch.tokens[(row * (L + 1))..<(row * (L + 1) + L)])
            if c.objective.isDiffusion {
                let name = c.objective == .mdlm ? "alpha" : "alpha-bar"
                var line = String(format: "t = %.5f, %@ = %.5f, weight = %.5f, key = %016llx", batch.t[row], name,
                                  batch.alpha[row], batch.weight[row], batch.keys[row])
                if c.objective == .mdlm {
                    let masked = batch.mask[(row * L)..<((row + 1) * L)].reduce(0) { $0 + Int($1) }
                    line += ", masked \(masked) of \(L) tokens"
                }
                print(line)
            }
            let tok = try LoadedTokenizer.load(tokenizer ?? pack.tokenizerDir)
            let mask = c.objective == .mdlm ? Array(batch.mask[(row * L)..<((row + 1) * L)]) : []
            print(render(tokens, mask: mask, tokenizer: tok))
        }
    }

    /// The shown sequence (`--sequence`, default the epoch's first), its batch in `--epoch` and its row there.
    func locate(_ s: Schedule, pack: PackManifest, shards: String) throws -> (sequence: Int, batch: PlanBatch, row: Int) {
        let plan = try s.epoch(epoch)
        let target = sequence ?? Int(plan.sequences[0])
        guard target >= 0, let position = plan.sequences.firstIndex(of: UInt32(clamping: target)) else {
            throw RepriseError(s.config.selection == .spread
                ? "sequence \(target) is not one of the \(s.manifest.trainSequences) sequences this plan's budget takes (spread over 0..<\(s.manifest.splitSequences ?? 0); the epoch's first is \(plan.sequences[0]))"
                : "sequence \(target) is out of range (0..<\(s.manifest.trainSequences))")
        }
        let bs = s.config.batchSize
        return (target, try s.batch(plan, position / bs, dataset: try pack.dataset(shards, split: "train")), position % bs)
    }

    func printJSON(_ s: Schedule, pack: PackManifest, shards: String) throws {
        let (target, b, row) = try locate(s, pack: pack, shards: shards)
        let L = b.seqLen
        // A row of a short batch: its sequence's first length + 1 tokens and a mask over length positions, as trained.
        var o: [String: Any] = ["epoch": epoch, "sequence": target, "step": b.step, "batch": b.batch, "row": row,
                                "length": L, "tokens": b.tokens[(row * (L + 1))..<((row + 1) * (L + 1))].map { Int($0) }]
        if s.config.objective.isDiffusion {
            o["t"] = b.t[row]; o["alpha"] = b.alpha[row]; o["weight"] = b.weight[row]; o["key"] = String(b.keys[row])
        }
        if !b.mask.isEmpty { o["mask"] = b.mask[(row * L)..<((row + 1) * L)].map { Int($0) } }
        if s.config.objective == .gaussian {
            // The first values of the row's noise stream (the trainer draws seq_len × width of them).
            var z = [Float](repeating: 0, count: 16)
            z.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: b.keys[row]) }
            o["noise_head"] = z.map { Double($0) }
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
    }

    /// Decodes runs of unmasked tokens together (a character may span tokens) and shows masked ones as <|mask|>.
    func render(_ tokens: [UInt32], mask: [UInt8], tokenizer: LoadedTokenizer) -> String {
        var out = "", run: [UInt32] = []
        func flush() { out += String(decoding: tokenizer.model.decode(run), as: UTF8.self); run.removeAll() }
        for (i, t) in tokens.enumerated() {
            if !mask.isEmpty && mask[i] != 0 { flush(); out += SpecialTokens.mask } else { run.append(t) }
        }
        flush()
        return out
    }
}

struct ScheduleVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every plan file's hash and checksum, and that each epoch holds every sequence once.",
        discussion: "Example: reprise schedule verify .build-runs/default/schedules/mdlm")

    @Argument(help: "Schedule directory.")
    var schedule: String
    @Option(help: "Also check that the plan belongs to this shards directory.")
    var shards: String?

    func run() throws {
        try runReporting {
            let s = try Schedule(schedule)
            var faults = s.verify()
            if let shards { do { try s.check(shards: shards) } catch { faults.append(error.oneLine) } }
            for f in faults { logLine("fault: \(f)") }
            print("\(s.manifest.epochFiles.count) epoch files\(s.manifest.validationFile == nil ? "" : ", validation plan")\(s.table == nil ? "" : ", noise table"): \(faults.isEmpty ? "all verified" : "\(faults.count) faults")")
            if !faults.isEmpty { throw ExitCode.failure }
        }
    }
}

extension Objective: ExpressibleByArgument {}
extension TimeSampling: ExpressibleByArgument {}
extension Masking: ExpressibleByArgument {}
extension SequenceSelection: ExpressibleByArgument {}
