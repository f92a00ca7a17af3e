import ArgumentParser
import Foundation
import RepriseCore
import RepriseModel
import ReprisePipeline
import RepriseSchedules
import RepriseShards
import RepriseTokenizer
import RepriseTrain

struct ClozeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloze",
        abstract: "The multiple-choice cloze task of a shards directory's validation split.",
        discussion: """
        `build` stores the item set in SHARDS/cloze/ (items.jsonl and manifest.json; the shards and their \
        manifest are not touched); `show` prints an item. `reprise eval RUN --cloze` scores a run on it.
        """,
        subcommands: [ClozeBuildCommand.self, ClozeShowCommand.self],
        defaultSubcommand: ClozeBuildCommand.self)
}

/// The item-set settings shared by `cloze build`, `cloze show` and `eval --cloze`.
struct ClozeItemOptions: ParsableArguments {
    @Option(help: "Items (fewer when the validation split has fewer windows of context + ending tokens); default: those stored by `cloze build`, else 600.")
    var items: Int?
    @Option(name: .customLong("cloze-seed"), help: "Seed of the item set (windows, answer positions, distractors, ELBO draws).")
    var seed = 0
    @Option(help: "Context tokens per item (default: seq_len minus the ending).")
    var context = 0
    @Option(help: "Tokens per ending (default: seq_len / 8, at least 1).")
    var ending = 0

    /// items 0: the stored set's (see `Cloze.items`).
    var config: ClozeConfig { ClozeConfig(items: items ?? 0, seed: seed, context: context, ending: ending) }

    func validate() throws {
        if let items, items < 1 { throw ValidationError("--items must be at least 1") }
        if seed < 0 { throw ValidationError("--cloze-seed must be a non-negative integer") }
        if context < 0 || ending < 0 { throw ValidationError("--context and --ending must be positive (0: derived from seq_len)") }
    }
}

struct ClozeBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the cloze items from the validation split and store them in SHARDS/cloze/.",
        discussion: """
        Each item is a context of a validation document, its true ending (the next tokens) and three \
        endings of the same length taken from other validation documents, the true one at a random \
        position. The items depend only on the shards and these settings.

        Example: reprise cloze build .build-runs/default/shards --items 200
        """)

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @OptionGroup var options: ClozeItemOptions

    func run() throws {
        try runReporting {
            let set = try Cloze.build(shards: shards, config: options.config)
            let m = try Cloze.store(set, shards: shards)
            print("cloze: \(m.count) items (context \(m.config.context), endings \(m.config.ending) tokens, \(m.choices) choices) from \(m.itemDocuments) of \(m.documents) validation documents; answers at positions \(m.answerCounts.map(String.init).joined(separator: "/")); stored in \(shards)/\(Cloze.directory)")
        }
    }
}

struct ClozeShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print one cloze item as text, the true ending marked.",
        discussion: "Example: reprise cloze show .build-runs/default/shards --item 3")

    @Argument(help: "Shards directory.")
    var shards: String
    @Option(help: "Item (0-based).")
    var item = 0
    @Option(help: "Tokenizer directory (default: the one recorded in the shards manifest).")
    var tokenizer: String?
    @OptionGroup var options: ClozeItemOptions

    func run() throws {
        try runReporting {
            let (set, stored) = try Cloze.items(shards: shards, config: options.config)
            guard item >= 0 && item < set.items.count else {
                throw RepriseError("item \(item) is out of range (0..<\(set.items.count))")
            }
            let tok = try LoadedTokenizer.load(tokenizer ?? (try PackManifest.load(shards)).tokenizerDir)
            let it = set.items[item]
            let text = { (ids: [UInt32]) in String(decoding: tok.model.decode(ids), as: UTF8.self) }
            print("item \(item) of \(set.items.count)\(stored ? " (stored)" : " (built in memory)"): validation document \(it.document), tokens \(it.offset)..<\(it.offset + it.context.count)")
            print("context: \(text(it.context))")
            for (c, e) in it.endings.enumerated() {
                print("\(c == it.answer ? "*" : " ") \(c): \(text(e))   [document \(it.sources[c][0]), token \(it.sources[c][1])]")
            }
        }
    }
}

/// `reprise eval RUN --cloze`.
struct ClozeEvalOptions: ParsableArguments {
    @Flag(help: "Score the run on the cloze task of its validation split instead (accuracy ± standard error).")
    var cloze = false
    @OptionGroup var items: ClozeItemOptions
    @Option(help: "Draws of (t, mask) per item for a diffusion model's ELBO.")
    var draws = Cloze.defaultDraws

    func validate() throws {
        if draws < 1 { throw ValidationError("--draws must be at least 1") }
    }
}

func evaluateCloze(run: String, checkpoint: String?, threads: Int, options: ClozeEvalOptions) throws {
    let manifest = try RunManifest.load(run)
    let (_, model, dir) = try RunModel.load(run: run, checkpoint: checkpoint, maxBatch: manifest.batchSize, threads: threads)
    let tok = try runTokenizer(manifest, run: run)
    let (set, stored) = try Cloze.items(shards: manifest.shardsDir, config: options.items.config)
    if set.manifest.shardsSha256 != manifest.shardsSha256 {
        logLine("note: \(manifest.shardsDir) is not the dataset \(run) was trained on (its manifest changed since)")
    }
    let schedule = manifest.objective == .mdlm ? try Schedule(manifest.scheduleDir) : nil
    let r = try Cloze.evaluate(model: model, objective: manifest.objective, set: set, schedule: schedule,
                               tokens: tokenInfo(tok), draws: options.draws, padTo: manifest.seqLen)
    let c = set.config
    let how = r.isBound ? "ELBO, \(options.draws) draws" : "log-likelihood"
    print(String(format: "%@: cloze accuracy %.4f ± %.4f over %d items (%@; context %d, endings %d tokens, %d choices, chance %.2f); per byte %.4f ± %.4f; items %@",
                 (dir as NSString).lastPathComponent, r.accuracy, r.standardError, r.count, how, c.context, c.ending,
                 ClozeConfig.choices, ClozeResult.chance, r.accuracyPerByte, r.standardErrorPerByte,
                 stored ? "stored in \(manifest.shardsDir)/\(Cloze.directory)" : "built in memory"))
}

/// `reprise sample RUN` of a masked-diffusion run.
struct DiffusionSampleOptions: ParsableArguments {
    @Option(help: "Diffusion runs: denoising steps (mdlm default: --max-tokens, one token per step; gaussian default: 100).")
    var steps = 0
    @Option(help: "mdlm runs: semi-autoregressive block length (default: --max-tokens, one block).")
    var blockLength = 0

    func validate() throws {
        if steps < 0 || blockLength < 0 { throw ValidationError("--steps and --block-length must be positive") }
    }
}

func sampleDiffusion(run: String, manifest: RunManifest, model: Transformer, prompt: String, maxTokens: Int,
                     temperature: Double, topK: Int, seed: Int, options: DiffusionSampleOptions) throws {
    guard let maskId = manifest.maskTokenId else { throw RepriseError("\(run)/run.json names no <|mask|> token id") }
    let tok = try runTokenizer(manifest, run: run)
    var ids = tok.model.encode(Array(prompt.utf8), split: tok.split)
    // An empty prompt starts a document, as for AR runs.
    if ids.isEmpty { ids = [UInt32(manifest.endOfTextId)] }
    let excluded = Set(tok.model.specials.values.map(Int.init)).subtracting([manifest.endOfTextId])
    let o = DiffusionSamplingOptions(length: maxTokens, steps: options.steps, blockLength: options.blockLength,
                                     temperature: temperature, topK: topK, seed: UInt64(seed), excluded: excluded,
                                     padTo: manifest.seqLen)
    var out = try DiffusionSampling.generate(model: model, prompt: ids, maskId: maskId, options: o)
    // The text ends at the first end-of-text, as AR sampling stops there.
    if let end = out.firstIndex(of: UInt32(manifest.endOfTextId)) { out = Array(out[..<end]) }
    print(prompt + String(decoding: tok.model.decode(out), as: UTF8.self))
}
