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
            let file = dir + "/manifest.json"
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

/// Best validation loss against the number of epochs a run was set up for, for one objective in one group.
/// Runs with the same objective and epoch count (a learning-rate sweep) give one point: the best of them.
public struct EpochCurve: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var epochs: Double
        public var best: Double
        /// The epoch of the run's best validation loss, and the run it comes from.
        public var bestEpoch: Double
        public var run: String
        /// Runs at this epoch count (more than one: the best of a sweep).
        public var runs: Int
    }
    public var objective: Objective
    public var points: [Point]

    /// The point with the lowest loss (the fewest epochs when tied).
    public var best: Point? { points.reduce(nil) { b, p in (b == nil || p.best < b!.best) ? p : b } }

    /// Complete runs only: an unfinished run's best is not its final word.
    public static func make(_ objective: Objective, runs: [ReportRun]) -> EpochCurve? {
        var byEpochs: [Double: [ReportRun]] = [:]
        for r in runs where r.objective == objective && r.isComplete && r.best != nil {
            byEpochs[(r.plannedEpochs * 1000).rounded() / 1000, default: []].append(r)
        }
        guard !byEpochs.isEmpty else { return nil }
        let points = byEpochs.keys.sorted().map { e -> Point in
            let rs = byEpochs[e]!
            let winner = rs.min { ($0.best!.loss, $0.name) < ($1.best!.loss, $1.name) }!
            return Point(epochs: e, best: winner.best!.loss, bestEpoch: winner.best!.epoch, run: winner.name, runs: rs.count)
        }
        return EpochCurve(objective: objective, points: points)
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
        let sweep = pts.contains { $0.runs > 1 } ? " (where several runs share an epoch count, the best of them)" : ""
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
        public var title = "Reprise: AR vs diffusion under repeated data"
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
