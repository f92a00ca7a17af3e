import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules

/// One run directory as `reprise report` reads it: run.json (required), metrics.jsonl (train and
/// validation lines, optional cloze lines), summary.json when the run has finished.
public struct ReportRun: Sendable {
    public struct TrainPoint: Sendable, Equatable {
        public var step: Int
        public var epoch: Double
        public var tokens: Int
        public var loss: Double
        public var tokensPerSecond: Double?
        public var mfu: Double?
    }

    public struct ValPoint: Sendable, Equatable {
        public var step: Int
        public var epoch: Double
        public var tokens: Int
        public var loss: Double
        public var bitsPerByte: Double?
        public var isBound: Bool
        /// The Monte-Carlo standard error of a bound (`val_loss_stderr`), when logged.
        public var stderr: Double? = nil
    }

    /// The last metrics line with `cloze_accuracy` (and optionally `cloze_stderr`, `cloze_items`).
    public struct Cloze: Sendable, Equatable {
        public var step: Int?
        public var accuracy: Double
        public var stderr: Double?
        public var items: Int?
    }

    public var path: String
    public var name: String
    public var manifest: RunManifest
    public var summary: RunSummary?
    public var train: [TrainPoint] = []
    public var validation: [ValPoint] = []
    public var cloze: Cloze?
    /// The cloze score of the best weights (lowest validation loss; `cloze_best_*` lines) and its step.
    public var clozeBest: Cloze?
    /// Per-item cloze outcomes of the final and the best weights (cloze-final.jsonl, cloze-best.jsonl).
    public var clozeFinalItems: [ClozeItemOutcome]?
    public var clozeBestItems: [ClozeItemOutcome]?
    /// The schedule's settings (estimator, draws, seeds), when its directory can be read.
    public var scheduleConfig: ScheduleConfig?
    /// metrics.jsonl lines that are not JSON objects (a line being written when the file was read).
    public var unreadableLines = 0
    /// Distinct training tokens and where the number comes from.
    public var uniqueTokens: Int?
    public var uniqueTokensSource = "unknown"
    /// The schedule's ledger, when its directory (as recorded in run.json) can be read.
    public var ledger: ReuseLedger?

    /// The run's configuration, setting name → value (`configurationSettings`): runs with equal settings
    /// differ only by seed.
    public var settings: [String: String] = [:]
    /// The seed of the initial weights (run.json) and of the schedule's order, t and masks (nil when the
    /// schedule cannot be read).
    public var trainSeed: Int { manifest.train.seed }
    public var scheduleSeed: Int? { scheduleConfig?.seed }

    public var objective: Objective { manifest.objective }
    public var isComplete: Bool { summary != nil }
    /// Epochs the run was set up for (its steps over the plan's batches per epoch).
    public var plannedEpochs: Double { Double(manifest.steps) / Double(max(1, manifest.batchesPerEpoch)) }
    public var stepsDone: Int {
        summary?.steps ?? max(train.last?.step ?? 0, validation.last?.step ?? 0)
    }
    public var epochsDone: Double { Double(stepsDone) / Double(max(1, manifest.batchesPerEpoch)) }
    public var tokensSeen: Int {
        summary?.tokensSeen ?? max(train.last?.tokens ?? 0, validation.last?.tokens ?? 0)
    }
    /// False for gaussian runs: their validation loss (ε MSE + rounding cross-entropy) is no likelihood.
    public var isLikelihood: Bool { Report.isLikelihood(objective) }
    /// Whether the validation numbers are upper bounds (NELBO) rather than exact NLL.
    public var isBound: Bool {
        summary?.valIsBound ?? validation.last?.isBound ?? manifest.objective.isDiffusion
    }
    /// The lowest validation loss logged (the earliest when tied).
    public var best: ValPoint? {
        validation.reduce(nil) { b, p in (b == nil || p.loss < b!.loss) ? p : b }
    }
    /// The final validation loss and bits per byte: summary.json's, else the last validation line's.
    public var finalValidation: (loss: Double, bitsPerByte: Double?)? {
        if let s = summary { return (s.valLoss, s.valBitsPerByte) }
        return validation.last.map { ($0.loss, $0.bitsPerByte) }
    }
    /// The last logged training throughput (the running average of the process that wrote it) and MFU.
    public var tokensPerSecond: Double? { train.last(where: { $0.tokensPerSecond != nil })?.tokensPerSecond }
    public var mfu: Double? { train.last(where: { ($0.mfu ?? 0) > 0 })?.mfu }

    /// Reads a run directory; a run still in progress (no summary.json) is fine.
    public static func load(_ path: String) throws -> ReportRun {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let manifest = try RunManifest.load(trimmed)
        var run = ReportRun(path: trimmed, name: (trimmed as NSString).lastPathComponent, manifest: manifest)
        let summaryPath = trimmed + "/summary.json"
        if FileManager.default.fileExists(atPath: summaryPath) {
            run.summary = try CanonicalJSON.decode(RunSummary.self, from: summaryPath)
        }
        if let data = FileManager.default.contents(atPath: trimmed + "/metrics.jsonl") {
            run.readMetrics(data)
        }
        run.findUniqueTokens()
        run.settings = run.configurationSettings()
        run.clozeFinalItems = try ClozeItemOutcome.read(trimmed + "/" + ClozeItemOutcome.finalFile)
        run.clozeBestItems = try ClozeItemOutcome.read(trimmed + "/" + ClozeItemOutcome.bestFile)
        return run
    }

    mutating func readMetrics(_ data: Data) {
        func number(_ o: [String: Any], _ k: String) -> Double? {
            guard let n = o[k] as? NSNumber else { return nil }
            let d = n.doubleValue
            return d.isFinite ? d : nil
        }
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                unreadableLines += 1
                continue
            }
            let step = number(o, "step").map { Int($0) }
            let epoch = number(o, "epoch") ?? step.map { Double($0) / Double(max(1, manifest.batchesPerEpoch)) } ?? 0
            let tokens = number(o, "tokens").map { Int($0) } ?? 0
            if let loss = number(o, "loss"), let step {
                train.append(TrainPoint(step: step, epoch: epoch, tokens: tokens, loss: loss,
                                        tokensPerSecond: number(o, "tokens_per_s"), mfu: number(o, "mfu")))
            }
            if let v = number(o, "val_loss"), let step {
                let bound = number(o, "val_bound").map { $0 != 0 } ?? manifest.objective.isDiffusion
                validation.append(ValPoint(step: step, epoch: epoch, tokens: tokens, loss: v,
                                           bitsPerByte: number(o, "val_bits_per_byte"), isBound: bound,
                                           stderr: number(o, "val_loss_stderr")))
            }
            if let acc = number(o, "cloze_accuracy") {
                cloze = Cloze(step: step, accuracy: acc, stderr: number(o, "cloze_stderr"),
                              items: number(o, "cloze_items").map { Int($0) })
            }
            if let acc = number(o, "cloze_best_accuracy") {
                clozeBest = Cloze(step: number(o, "cloze_best_step").map { Int($0) }, accuracy: acc,
                                  stderr: number(o, "cloze_best_stderr"), items: number(o, "cloze_best_items").map { Int($0) })
            }
        }
    }

    /// Settings left out of a configuration: the seeds, and what only measures after training or only saves.
    static let seedSettings: Set<String> = ["seed", "schedule.seed", "schedule.val_seed"]
    static let measurementSettings: Set<String> = ["cloze_items", "cloze_draws", "checkpoint_every"]

    /// run.json's train settings (by their names there: `lr`, `weight_decay`, ...), the schedule's settings
    /// (`schedule.masking`, `schedule.sequences`, ...; when its directory is readable), the model's
    /// (`model.dim`, ...) and the plan's shape (`run.steps`, ...), without `seedSettings` and
    /// `measurementSettings`.
    func configurationSettings() -> [String: String] {
        var out: [String: String] = [:]
        func add(_ value: some Encodable, prefix: String) {
            guard let data = try? CanonicalJSON.encode(value),
                  let o = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else { return }
            for (k, v) in o {
                let key = prefix + k
                if Self.seedSettings.contains(key) || Self.measurementSettings.contains(key) { continue }
                switch v {
                case let n as NSNumber: out[key] = n.stringValue
                case let t as String: out[key] = t
                default:
                    out[key] = (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]))
                        .map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
                }
            }
        }
        add(manifest.train, prefix: "")
        add(manifest.model, prefix: "model.")
        if let c = scheduleConfig { add(c, prefix: "schedule.") }
        out["run.objective"] = manifest.objective.rawValue
        out["run.steps"] = String(manifest.steps)
        out["run.batches_per_epoch"] = String(manifest.batchesPerEpoch)
        out["run.batch_size"] = String(manifest.batchSize)
        out["run.seq_len"] = String(manifest.seqLen)
        return out
    }

    /// Unique tokens: the schedule's ledger when its directory is readable (as recorded, or relative to the
    /// run's parent), else the tokens fed by the end of epoch 1 in the metrics (each sequence once), else
    /// an estimate from the batch shape.
    mutating func findUniqueTokens() {
        let recorded = manifest.scheduleDir
        var candidates = [recorded]
        if !recorded.hasPrefix("/") {
            candidates.append(((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(recorded))
        }
        for dir in candidates {
            let file = StageOutput.manifestPath(dir)
            guard FileManager.default.fileExists(atPath: file),
                  let m = try? CanonicalJSON.decode(ScheduleManifest.self, from: file),
                  (try? Hashing.sha256Hex(file: file)) == manifest.scheduleSha256 else { continue }
            ledger = m.ledger
            scheduleConfig = m.config
            uniqueTokens = m.ledger.uniqueTokens
            uniqueTokensSource = "schedule ledger"
            return
        }
        let perEpoch = manifest.batchesPerEpoch
        if let p = train.first(where: { $0.step == perEpoch }), p.tokens > 0 {
            uniqueTokens = p.tokens
            uniqueTokensSource = "tokens fed in epoch 1"
            return
        }
        uniqueTokens = perEpoch * manifest.batchSize * manifest.seqLen
        uniqueTokensSource = "estimate: batches per epoch × batch size × sequence length"
    }
}

/// Runs that share a unique-token budget and a model shape: the unit of the AR-vs-DLM comparison.
public struct ReportGroup: Sendable {
    public var uniqueTokens: Int?
    public var layers: Int
    public var dim: Int
    public var heads: Int
    public var parameters: Int
    public var runs: [ReportRun]

    public var label: String {
        let budget = uniqueTokens.map { compactNumber(Double($0)) + " unique tokens" } ?? "unknown unique tokens"
        return "\(budget), model \(Report.count(layers, "layer")) × \(dim) wide (\(compactNumber(Double(parameters))) parameters)"
    }
}

/// The complete runs of one objective at one epoch count in a group: sorted into configurations (run.json's
/// train settings and the schedule's settings, seeds left out), each with the runs that differ from each other
/// only by seed (schedule seed, train seed, validation seed). Several configurations in one cell are a sweep
/// (of learning rate, weight decay, or whatever `varying` names).
public struct ReportCell: Sendable {
    public struct Configuration: Sendable {
        /// Seeds of this configuration, by name.
        public var runs: [ReportRun]
        /// Its settings (`ReportRun.settings`).
        public var settings: [String: String]
        public var losses: [Double] { runs.map { $0.best!.loss } }
        /// The mean of the runs' best validation losses, and their range.
        public var mean: Double { losses.reduce(0, +) / Double(runs.count) }
        public var min: Double { losses.min()! }
        public var max: Double { losses.max()! }
        /// The Monte-Carlo standard error of `mean` (√Σse² / n), when every run logged one for its best.
        public var stderr: Double? {
            let ses = runs.compactMap { $0.best?.stderr }
            guard ses.count == runs.count, ses.contains(where: { $0 > 0 }) else { return nil }
            return (ses.map { $0 * $0 }.reduce(0, +)).squareRoot() / Double(runs.count)
        }
        /// Tokens processed (the mean over the seeds; the same for each when the plans are).
        public var tokens: Int { runs.map(\.tokensSeen).reduce(0, +) / runs.count }
    }

    public var objective: Objective
    public var epochs: Double
    /// Ordered by the values of the varying settings.
    public var configurations: [Configuration]
    /// The settings that differ between the configurations (empty: one configuration).
    public var varying: [String]
    /// The configuration of the lowest mean (the first when tied): the curve's point.
    public var chosen: Int

    public var isSweep: Bool { configurations.count > 1 }
    public var chosenConfiguration: Configuration { configurations[chosen] }
    public var runCount: Int { configurations.map(\.runs.count).reduce(0, +) }

    /// `runs` must be complete, with a best, of one objective and epoch count.
    public init(objective: Objective, epochs: Double, runs: [ReportRun]) {
        self.objective = objective
        self.epochs = epochs
        var byKey: [[String: String]: [ReportRun]] = [:]
        for r in runs { byKey[r.settings, default: []].append(r) }
        var configs = byKey.map { Configuration(runs: $0.value.sorted { ($0.name, $0.path) < ($1.name, $1.path) }, settings: $0.key) }
        let keys = Set(configs.flatMap(\.settings.keys))
        let varying = keys.filter { k in Set(configs.map { $0.settings[k] ?? "" }).count > 1 }
            .sorted { (Self.keyRank($0), $0) < (Self.keyRank($1), $1) }
        configs.sort { a, b in
            for k in varying {
                let x = a.settings[k] ?? "", y = b.settings[k] ?? ""
                if x == y { continue }
                if let dx = Double(x), let dy = Double(y) { return dx < dy }
                return x < y
            }
            return a.runs[0].name < b.runs[0].name
        }
        self.varying = varying
        configurations = configs
        chosen = configs.indices.min { (configs[$0].mean, $0) < (configs[$1].mean, $1) } ?? 0
    }

    /// Learning rate and weight decay first among the varying settings.
    static func keyRank(_ k: String) -> Int { k == "lr" ? 0 : k == "weight_decay" ? 1 : 2 }

    /// "learning rate", "weight decay", or the setting's own name.
    public static func settingName(_ k: String) -> String {
        k == "lr" ? "learning rate" : k == "weight_decay" ? "weight decay" : k
    }

    /// How the curve's value comes about: "1 run", "mean of 2 seeds", "best of 3 learning rates",
    /// "best of 5 configurations, differing in learning rate and weight decay", "best of 3 learning rates,
    /// the chosen one a mean of 2 seeds".
    public var how: String {
        let seeds = chosenConfiguration.runs.count
        guard isSweep else { return seeds > 1 ? "mean of \(seeds) seeds" : "1 run" }
        let n = configurations.count
        let names = varying.map(Self.settingName)
        let what = varying.count == 1
            ? "\(n) \(names[0])s"
            : "\(n) configurations, differing in " + names.dropLast().joined(separator: ", ") + " and " + names.last!
        return "best of \(what)" + (seeds > 1 ? ", the chosen one a mean of \(seeds) seeds" : "")
    }
}

/// Best validation loss against the number of epochs a run was set up for, for one objective in one group.
/// The runs at one epoch count form a `ReportCell`: runs that differ only by seed give their mean; a sweep
/// (learning rate, weight decay) gives its best configuration, and says so (`Point.how`).
public struct EpochCurve: Sendable {
    public struct Point: Sendable, Equatable {
        public var epochs: Double
        public var best: Double
        /// The epoch of the run's best validation loss, and the run it comes from (the first seed).
        public var bestEpoch: Double
        public var run: String
        /// Complete runs at this epoch count (seeds and sweep values together).
        public var runs: Int
        /// Tokens processed by the run(s) of the point (repeats included).
        public var tokens: Int = 0
        /// The Monte-Carlo standard error of `best` (a bound's), when logged.
        public var stderr: Double? = nil
        /// Seeds averaged into `best`, and their lowest and highest best loss.
        public var seeds: Int = 1
        public var spread: ClosedRange<Double>? = nil
        /// "1 run", "mean of 2 seeds", "best of 3 learning rates", ...
        public var how: String = "1 run"
    }
    public var objective: Objective
    public var points: [Point]
    /// The cell behind each point, in the same order (empty for curves made from points alone).
    public var cells: [ReportCell] = []

    public init(objective: Objective, points: [Point], cells: [ReportCell] = []) {
        self.objective = objective
        self.points = points
        self.cells = cells
    }

    /// The point with the lowest loss (the fewest epochs when tied).
    public var best: Point? { points.reduce(nil) { b, p in (b == nil || p.best < b!.best) ? p : b } }

    /// Complete runs only: an unfinished run's best is not its final word.
    public static func make(_ objective: Objective, runs: [ReportRun]) -> EpochCurve? {
        var byEpochs: [Double: [ReportRun]] = [:]
        for r in runs where r.objective == objective && r.isComplete && r.best != nil {
            byEpochs[(r.plannedEpochs * 1000).rounded() / 1000, default: []].append(r)
        }
        guard !byEpochs.isEmpty else { return nil }
        let cells = byEpochs.keys.sorted().map { ReportCell(objective: objective, epochs: $0, runs: byEpochs[$0]!) }
        let points = cells.map { cell -> Point in
            let c = cell.chosenConfiguration
            let first = c.runs[0]
            return Point(epochs: cell.epochs, best: c.mean, bestEpoch: first.best!.epoch, run: first.name, runs: cell.runCount,
                         tokens: c.tokens, stderr: c.stderr, seeds: c.runs.count,
                         spread: c.runs.count > 1 ? c.min...c.max : nil, how: cell.how)
        }
        return EpochCurve(objective: objective, points: points, cells: cells)
    }

    /// Piecewise linear in log(epochs); nil outside the measured range.
    public func value(at e: Double) -> Double? {
        guard let first = points.first, let last = points.last, e >= first.epochs, e <= last.epochs else { return nil }
        if let p = points.first(where: { $0.epochs == e }) { return p.best }
        let i = points.firstIndex { $0.epochs > e }!
        let a = points[i - 1], b = points[i]
        let t = (log(e) - log(a.epochs)) / (log(b.epochs) - log(a.epochs))
        return a.best + t * (b.best - a.best)
    }
}

/// Where two epoch curves cross: between two measured epoch counts, with the log-linear estimate.
public struct Crossing: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var estimate: Double
    /// The objective that is lower after the crossing.
    public var lowerAfter: Objective
    /// True when `estimate` is interpolated; false when the curves meet at a measured point (`estimate`).
    public var interpolated: Bool
}

/// The data-constrained comparison of AR with one diffusion objective in one group, in numbers and words.
public struct EpochComparison: Sendable {
    public var ar: EpochCurve
    public var dlm: EpochCurve
    /// The epoch range both curves cover, nil when they do not overlap.
    public var overlap: ClosedRange<Double>?
    public var crossings: [Crossing]
    /// Differences dlm − ar at the compared epoch counts (the union of both curves' points in the overlap).
    public var differences: [(epochs: Double, dlmMinusAR: Double)]
    public var sentences: [String]

    public init(ar: EpochCurve, dlm: EpochCurve) {
        self.ar = ar
        self.dlm = dlm
        let lo = max(ar.points.first!.epochs, dlm.points.first!.epochs)
        let hi = min(ar.points.last!.epochs, dlm.points.last!.epochs)
        overlap = lo <= hi ? lo...hi : nil
        var diffs: [(epochs: Double, dlmMinusAR: Double)] = []
        if let overlap {
            let grid = Set((ar.points + dlm.points).map(\.epochs).filter { overlap.contains($0) }).sorted()
            diffs = grid.map { ($0, dlm.value(at: $0)! - ar.value(at: $0)!) }
        }
        differences = diffs
        // A sign change between two consecutive non-zero differences is a crossing; zeros in between
        // (the curves touching) are where it happens.
        var found: [Crossing] = []
        var previous: Int?
        for (i, d) in diffs.enumerated() where d.dlmMinusAR != 0 {
            if let p = previous, (diffs[p].dlmMinusAR < 0) != (d.dlmMinusAR < 0) {
                let a = diffs[p], b = d
                let estimate: Double
                let interpolated = i == p + 1
                if interpolated {
                    let t = a.dlmMinusAR / (a.dlmMinusAR - b.dlmMinusAR)
                    estimate = exp(log(a.epochs) + t * (log(b.epochs) - log(a.epochs)))
                } else {
                    estimate = diffs[p + 1].epochs
                }
                found.append(Crossing(lower: a.epochs, upper: b.epochs, estimate: estimate,
                                      lowerAfter: b.dlmMinusAR < 0 ? dlm.objective : .ar, interpolated: interpolated))
            }
            previous = i
        }
        crossings = found
        sentences = []
        sentences = describe()
    }

    /// Sentences generated from the numbers (no fixed conclusions).
    func describe() -> [String] {
        var s = [Self.describe(ar), Self.describe(dlm)]
        let dName = Report.displayName(dlm.objective)
        guard let overlap else {
            s.append("The AR and \(dName) runs cover no common range of epoch counts, so whether the curves cross cannot be said.")
            return s
        }
        let range = "\(Report.epochs(overlap.lowerBound))–\(Report.epochCount(overlap.upperBound))"
        if differences.count < 2 {
            let d = differences.first!.dlmMinusAR
            let lead = ar.points.count == 1 && dlm.points.count == 1
                ? "Both were measured at \(Report.epochCount(overlap.lowerBound)) only: "
                : "The only epoch count both cover is \(Report.epochs(overlap.lowerBound)): "
            s.append(lead +
                     (d < 0 ? "\(dName) is lower by \(Report.loss(-d))." : d > 0 ? "AR is lower by \(Report.loss(d))." : "they are equal."))
        } else if crossings.isEmpty {
            let ds = differences.map(\.dlmMinusAR)
            let lower = ds.allSatisfy { $0 >= 0 } ? "AR" : dName
            let gaps = ds.map { abs($0) }
            s.append("The curves do not cross in the measured range (\(range)): \(lower) is lower at every compared epoch count, by \(Report.loss(gaps.min()!)) to \(Report.loss(gaps.max()!)).")
        } else {
            for c in crossings {
                let after = c.lowerAfter == .ar ? "AR" : dName
                let span = c.interpolated
                    ? "between \(Report.epochs(c.lower)) and \(Report.epochCount(c.upper)) (about \(Report.epochs(c.estimate.rounded(toSignificant: 2))) by log-linear interpolation)"
                    : "between \(Report.epochs(c.lower)) and \(Report.epochCount(c.upper)), meeting at \(Report.epochCount(c.estimate))"
                s.append("The curves cross \(span); \(after) is lower after it.")
            }
        }
        if let a = ar.best, let d = dlm.best {
            let winner = d.best < a.best ? dName : a.best < d.best ? "AR" : nil
            var line = "Best at this budget: AR \(Report.loss(a.best)) (\(Report.epochCount(a.epochs))), \(dName) \(Report.loss(d.best)) (\(Report.epochCount(d.epochs)))"
            line += winner.map { "; \($0) is lower by \(Report.loss(abs(a.best - d.best)))." } ?? "; equal."
            s.append(line)
            if dlm.objective.isDiffusion {
                s.append(d.best < a.best
                    ? "\(dName)'s number is an upper bound on its loss (NELBO), so its true loss is lower still: \(dName)'s lead is at least this margin."
                    : "\(dName)'s number is an upper bound on its loss (NELBO); its true loss may be lower, so AR's lead is not conclusive.")
            }
        }
        return s
    }

    static func describe(_ c: EpochCurve) -> String {
        let n = Report.displayName(c.objective)
        let pts = c.points
        guard let best = c.best, let last = pts.last else { return "" }
        let several = pts.filter { $0.how != "1 run" }.map { "at \(Report.epochCount($0.epochs)) the \($0.how)" }
        let sweep = several.isEmpty ? "" : "; of its points, " + several.joined(separator: "; ")
        if pts.count == 1 {
            return "\(n) was measured at \(Report.epochCount(best.epochs)) only (\(Report.loss(best.best)))\(sweep)."
        }
        if best.epochs == last.epochs {
            let monotone = zip(pts, pts.dropFirst()).allSatisfy { $1.best <= $0.best }
            return monotone
                ? "\(n) keeps improving up to its largest epoch count, \(Report.epochCount(best.epochs)) (\(Report.loss(best.best)))\(sweep)."
                : "\(n)'s best is at its largest epoch count, \(Report.epochCount(best.epochs)) (\(Report.loss(best.best)))\(sweep)."
        }
        return "\(n)'s best is at \(Report.epochCount(best.epochs)) (\(Report.loss(best.best))); with more epochs it gets worse, \(Report.loss(last.best)) at \(Report.epochCount(last.epochs)) (+\(Report.loss(last.best - best.best)))\(sweep)."
    }
}

/// A diffusion objective against AR's best at one unique-token budget, along compute (tokens processed):
/// where its bound first goes below AR's best at that budget, or, if nowhere, how close it comes.
public struct ComputeComparison: Sendable {
    public var uniqueTokens: Int?
    public var ar: EpochCurve
    public var dlm: EpochCurve
    /// AR's best point at this budget, over all its epoch counts.
    public var arBest: EpochCurve.Point
    /// The diffusion curve's points in order of tokens processed, each with its value − AR's best.
    public var gaps: [(point: EpochCurve.Point, gap: Double)]
    /// The index in `gaps` of the first point below AR's best; nil when none is.
    public var crossing: Int?
    public var sentence: String

    public init(uniqueTokens: Int?, ar: EpochCurve, dlm: EpochCurve) {
        self.uniqueTokens = uniqueTokens
        self.ar = ar
        self.dlm = dlm
        arBest = ar.best!
        let a = arBest.best
        gaps = dlm.points.sorted { ($0.tokens, $0.epochs) < ($1.tokens, $1.epochs) }.map { ($0, $0.best - a) }
        crossing = gaps.firstIndex { $0.gap < 0 }
        sentence = ""
        sentence = describe()
    }

    static func budget(_ u: Int?) -> String { u.map { compactNumber(Double($0)) + " unique tokens" } ?? "an unknown budget" }
    static func tokens(_ t: Int) -> String { compactNumber(Double(t)) + " tokens processed" }
    static func bound(_ p: EpochCurve.Point) -> String {
        "≤ " + Report.loss(p.best) + (p.stderr.map { String(format: " ± %.3f (standard error)", $0) } ?? "")
    }

    func describe() -> String {
        let d = Report.displayName(dlm.objective)
        let arText = "AR's best (\(Report.loss(arBest.best)) at \(Report.epochCount(arBest.epochs)), \(Self.tokens(arBest.tokens)))"
        let boundNote = dlm.objective.isDiffusion
            ? " \(d)'s number is an upper bound on its loss (NELBO)" : ""
        if let i = crossing {
            let (p, g) = gaps[i]
            var s = "At \(Self.budget(uniqueTokens)), \(d)'s bound first goes below \(arText) at \(Report.epochCount(p.epochs)), "
            s += "\(Self.tokens(p.tokens)): \(Self.bound(p)), \(Report.loss(-g)) below it"
            if i > 0 {
                let (q, h) = gaps[i - 1]
                s += "; at the point before, \(Report.epochCount(q.epochs)) (\(Self.tokens(q.tokens))), it was \(Report.loss(h)) above"
            } else {
                s += "; it is below already at its smallest compute point"
            }
            if let se = p.stderr, -g < 2 * se { s += "; the margin is within 2 standard errors of the bound's estimate" }
            s += "."
            if !boundNote.isEmpty { s += boundNote + ", so the crossing is conservative: the true loss is below AR's there too, or crosses earlier." }
            return s
        }
        let (p, g) = gaps.min { ($0.gap, $0.point.tokens) < ($1.gap, $1.point.tokens) }!
        var s = "At \(Self.budget(uniqueTokens)), \(d)'s best bound stays above \(arText) by at least \(Report.loss(g)) nats at "
        if gaps.count == 1 {
            s += "its only compute point, \(Report.epochCount(p.epochs)) (\(Self.tokens(p.tokens))): \(Self.bound(p))."
        } else {
            s += "every compute point of this budget (\(gaps.count) points, \(compactNumber(Double(gaps.first!.point.tokens)))–\(Self.tokens(gaps.last!.point.tokens))); "
            s += "the smallest gap is at \(Report.epochCount(p.epochs)) (\(Self.tokens(p.tokens))): \(Self.bound(p))."
        }
        if !boundNote.isEmpty { s += boundNote + ", so its true loss may be closer to AR's than this, or below it." }
        return s
    }

    /// One sentence over all budgets for one diffusion objective.
    public static func overall(_ cs: [ComputeComparison]) -> String? {
        guard let first = cs.first else { return nil }
        let d = Report.displayName(first.dlm.objective)
        let crossed = cs.filter { $0.crossing != nil }
        let n = cs.count == 1 ? "the only budget" : "\(cs.count) budgets"
        var s: String
        if crossed.isEmpty {
            let m = cs.map { c in (c, c.gaps.min { ($0.gap, $0.point.tokens) < ($1.gap, $1.point.tokens) }!) }
                .min { $0.1.gap < $1.1.gap }!
            s = "Overall: at none of the \(n) does \(d)'s bound go below AR's best at the same budget; the smallest gap is "
            s += "\(Report.loss(m.1.gap)) nats (\(budget(m.0.uniqueTokens)), \(Report.epochCount(m.1.point.epochs)), \(tokens(m.1.point.tokens)))."
        } else {
            s = "Overall: \(d)'s bound goes below AR's best at the same budget at \(crossed.count) of the \(n): "
            s += crossed.map { c in
                let p = c.gaps[c.crossing!].point
                return "\(budget(c.uniqueTokens)) (first at \(Report.epochCount(p.epochs)), \(tokens(p.tokens)))"
            }.joined(separator: "; ")
            let rest = cs.filter { $0.crossing == nil }
            if !rest.isEmpty {
                s += "; not at " + rest.map { c in
                    let g = c.gaps.map(\.gap).min()!
                    return "\(budget(c.uniqueTokens)) (smallest gap \(Report.loss(g)))"
                }.joined(separator: ", ")
            }
            s += "."
        }
        return s
    }
}

extension Double {
    func rounded(toSignificant digits: Int) -> Double {
        guard self != 0 && isFinite else { return self }
        let scale = pow(10, Double(digits) - ceil(log10(abs(self))))
        return (self * scale).rounded() / scale
    }
}

/// `reprise report`: reads run directories and writes one self-contained HTML file.
public enum Report {
    public struct Options: Sendable {
        /// The page's title; nil: one made from the runs (objectives, budgets, epoch range).
        public var title: String?
        /// A line about the machine writing the report (cores, CPU), or nil to leave it out.
        public var host: String?
        public init() {}
    }

    /// Loads the runs, renders the report, writes it atomically; returns the runs read. The temporary files a
    /// killed writer left of the report (and in `figures`) go first; nothing else next to the report is touched.
    @discardableResult
    public static func write(runs paths: [String], output: String, options: Options = Options(),
                             figures: String? = nil) throws -> [ReportRun] {
        guard !paths.isEmpty else { throw RepriseError("give at least one run directory") }
        let runs = try paths.map { try ReportRun.load($0) }
        var plots: [LinePlot] = []
        let html = render(runs, options: options, plots: &plots)
        let dir = (output as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.removeStaleTemporaries(of: output)
        try AtomicFileWriter.write(Array(html.utf8), to: output)
        if let figures {
            try FileManager.default.createDirectory(atPath: figures, withIntermediateDirectories: true)
            try AtomicFile.removeStaleTemporaries(in: figures)
            let figureList = Self.figures(html)
            let figureIDs = Set(figureList.map(\.id))
            for f in figureList {
                try AtomicFileWriter.write(Array(("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + f.svg + "\n").utf8),
                                           to: figures + "/" + f.id + ".svg")
            }
            // Each plot's points beside its SVG: series,x,y (the plotted values, before any axis scaling).
            for p in plots where figureIDs.contains(p.id) {
                try AtomicFileWriter.write(Array(p.csv().utf8), to: figures + "/" + p.id + ".csv")
            }
            try AtomicFileWriter.write(Array(gridCSV(runs).utf8), to: figures + "/grid.csv")
        }
        return runs
    }

    /// The report's plots as standalone SVG documents, by element id (`plot-epochs-best`, `plot-val-epochs`,
    /// `plot-val-tokens`, `plot-train`, ...): every attribute is inline, so each renders on its own (a
    /// README, a paper).
    public static func figures(_ html: String) -> [(id: String, svg: String)] {
        var out: [(id: String, svg: String)] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg xmlns="), let end = rest[start.upperBound...].range(of: "</svg>") {
            let svg = String(rest[start.lowerBound..<end.upperBound])
            rest = rest[end.upperBound...]
            guard let idStart = svg.range(of: " id=\""), let idEnd = svg[idStart.upperBound...].firstIndex(of: "\"") else { continue }
            let id = String(svg[idStart.upperBound..<idEnd])
            // Ids come from the report's own plot names; anything else is not a file name.
            guard !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { continue }
            out.append((id, svg))
        }
        return out
    }

    /// Groups by unique-token budget and model shape; inside a group runs are ordered by objective
    /// (ar, mdlm, gaussian), planned epochs, name.
    public static func groups(_ runs: [ReportRun]) -> [ReportGroup] {
        struct Key: Hashable { var unique: Int?; var layers, dim, heads: Int }
        var byKey: [Key: [ReportRun]] = [:]
        var order: [Key] = []
        for r in runs {
            let k = Key(unique: r.uniqueTokens, layers: r.manifest.model.layers, dim: r.manifest.model.dim, heads: r.manifest.model.heads)
            if byKey[k] == nil { order.append(k) }
            byKey[k, default: []].append(r)
        }
        order.sort { ($0.unique ?? 0, $0.layers, $0.dim, $0.heads) < ($1.unique ?? 0, $1.layers, $1.dim, $1.heads) }
        return order.map { k in
            let rs = byKey[k]!.sorted { a, b in
                (objectiveRank(a.objective), a.plannedEpochs, a.name, a.path) < (objectiveRank(b.objective), b.plannedEpochs, b.name, b.path)
            }
            return ReportGroup(uniqueTokens: k.unique, layers: k.layers, dim: k.dim, heads: k.heads,
                               parameters: rs[0].manifest.model.parameterCount, runs: rs)
        }
    }

    /// AR against each diffusion objective present in the group whose validation loss bounds a likelihood
    /// (complete runs only; gaussian runs are not comparable).
    public static func comparisons(_ group: ReportGroup) -> [EpochComparison] {
        guard let ar = EpochCurve.make(.ar, runs: group.runs) else { return [] }
        return Objective.allCases.filter { $0.isDiffusion && isLikelihood($0) }.compactMap { o in
            EpochCurve.make(o, runs: group.runs).map { EpochComparison(ar: ar, dlm: $0) }
        }
    }

    /// Each diffusion objective against AR's best, per budget along compute, over the groups that have both.
    public static func computeComparisons(_ groups: [ReportGroup]) -> [Objective: [ComputeComparison]] {
        var out: [Objective: [ComputeComparison]] = [:]
        for g in groups {
            guard let ar = EpochCurve.make(.ar, runs: g.runs) else { continue }
            for o in Objective.allCases where o.isDiffusion && isLikelihood(o) {
                if let d = EpochCurve.make(o, runs: g.runs) {
                    out[o, default: []].append(ComputeComparison(uniqueTokens: g.uniqueTokens, ar: ar, dlm: d))
                }
            }
        }
        return out
    }

    /// "Reprise: AR vs MDLM at 32.8k, 131k and 524k unique tokens, 1–256 epochs": what the runs given are.
    public static func defaultTitle(_ runs: [ReportRun]) -> String {
        let objectives = Objective.allCases.filter { o in runs.contains { $0.objective == o } }.map(displayName)
        var s = "Reprise: " + (objectives.isEmpty ? "training runs" : objectives.joined(separator: " vs "))
        let budgets = Set(runs.compactMap(\.uniqueTokens)).sorted().map { compactNumber(Double($0)) }
        if !budgets.isEmpty {
            s += " at " + (budgets.count == 1 ? budgets[0] : budgets.dropLast().joined(separator: ", ") + " and " + budgets.last!)
            s += " unique tokens"
        }
        let es = runs.map { ($0.plannedEpochs * 1000).rounded() / 1000 }
        if let lo = es.min(), let hi = es.max() {
            s += ", " + (lo == hi ? epochCount(lo) : "\(epochs(lo))–\(epochs(hi)) epochs")
        }
        return s
    }

    /// The header of grid.csv.
    public static let gridColumns = ["name", "objective", "unique_tokens", "epochs", "tokens_processed", "lr", "weight_decay",
                                     "schedule_seed", "train_seed", "estimator", "draws", "best_loss", "best_se", "best_epoch",
                                     "final_loss", "final_se", "cloze_final_acc", "cloze_best_acc", "status"]

    /// One row per run (in the report's order): its settings and numbers, empty where unknown. `estimator`:
    /// `exact` (AR's NLL), the mdlm masking (`exact_k`, `bernoulli`, ...), `gaussian`; `draws`: validation draws
    /// per sequence of a sampled estimator; `status`: `complete` or `in_progress`.
    public static func gridCSV(_ runs: [ReportRun]) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func num(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        // A standard error only where there is one (a sampled bound); AR's exact NLL logs none or 0.
        func se(_ v: Double?) -> String { v.map { $0 > 0 ? "\($0)" : "" } ?? "" }
        var out = gridColumns.joined(separator: ",") + "\n"
        for r in groups(runs).flatMap(\.runs) {
            let best = r.best
            let finalSE = r.summary?.valLossStderr ?? r.validation.last?.stderr
            let row: [String] = [
                field(r.name), r.objective.rawValue, r.uniqueTokens.map(String.init) ?? "", epochs(r.plannedEpochs),
                String(r.tokensSeen), "\(r.manifest.train.lr)", "\(r.manifest.train.weightDecay)",
                seedText(r.scheduleSeed), String(r.trainSeed), estimatorName(r), validationDraws(r).map(String.init) ?? "",
                num(best?.loss), se(best?.stderr), best.map { epochs($0.epoch) } ?? "",
                num(r.finalValidation?.loss), se(finalSE), num(r.cloze?.accuracy), num(r.clozeBest?.accuracy),
                r.isComplete ? "complete" : "in_progress",
            ]
            out += row.joined(separator: ",") + "\n"
        }
        return out
    }

    /// A seed, or empty where the run has none.
    @inline(never)  // as estimatorName
    static func seedText(_ seed: Int?) -> String {
        guard let seed else { return "" }
        return String(seed)
    }

    /// `exact` for AR; the masking for mdlm (nil schedule: the summary's, else empty); `gaussian`.
    @inline(never)  // inlined into gridCSV it crashes Swift 6.3.1's optimizer (CopyPropagation ownership check)
    static func estimatorName(_ r: ReportRun) -> String {
        switch r.objective {
        case .ar: return "exact"
        case .mdlm:
            if let config = r.scheduleConfig { return config.maskingMode.rawValue }
            return r.summary?.valEstimator ?? ""
        case .gaussian: return "gaussian"
        }
    }

    /// Validation draws per sequence of a sampled estimator (nil for AR or when not recorded).
    @inline(never)  // as estimatorName
    static func validationDraws(_ r: ReportRun) -> Int? {
        if r.objective == .ar { return nil }
        if let draws = r.summary?.valDraws { return draws }
        return r.scheduleConfig?.valDraws
    }

    /// Whether an objective's validation loss is a likelihood (exact, or a bound): not for gaussian.
    public static func isLikelihood(_ o: Objective) -> Bool { o != .gaussian }

    static func objectiveRank(_ o: Objective) -> Int { Objective.allCases.firstIndex(of: o) ?? 99 }

    static func displayName(_ o: Objective) -> String {
        switch o {
        case .ar: return "AR"
        case .mdlm: return "MDLM"
        case .gaussian: return "Gaussian diffusion"
        }
    }

    /// A loss with three decimals.
    static func loss(_ v: Double) -> String { String(format: "%.3f", v) }

    /// An epoch count: integers without decimals, others with up to two.
    static func epochs(_ v: Double) -> String {
        if v == v.rounded() { return String(Int(v)) }
        var s = String(format: "%.2f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// "1 epoch", "4 epochs", "2.5 epochs".
    static func epochCount(_ v: Double) -> String { epochs(v) + (v == 1 ? " epoch" : " epochs") }

    /// "1 line", "3 lines".
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)" + (n == 1 ? "" : "s") }

    /// "16 logical CPUs, Intel(R) Xeon(R) ..., 64 GB": the machine writing the report.
    public static func hostDescription() -> String {
        var parts = ["\(ProcessInfo.processInfo.activeProcessorCount) logical CPUs available"]
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            parts.append(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        parts.append(String(format: "%.0f GB memory", Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        return parts.joined(separator: ", ")
    }
}
