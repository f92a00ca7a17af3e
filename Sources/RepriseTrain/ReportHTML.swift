import Foundation
import RepriseModel
import RepriseSchedules

/// The HTML of `reprise report`: one page with inline CSS and inline SVG, no scripts, no external assets.
/// The markup is also well-formed XML (XHTML syntax, only the five predefined entities), so it opens in
/// browsers and in XML tools alike.
extension Report {
    /// Colours for runs (by epoch count) and objectives, chosen to stay apart in print and for the common
    /// colour-vision deficiencies.
    static let palette = ["#1b63b4", "#d9541e", "#239a55", "#8a3fb0", "#b8860b", "#17a2b8", "#c2185b",
                          "#5b6770", "#7cb342", "#6d4c41"]

    /// Colours of a run: a hue per objective (AR blue, MDLM orange, Gaussian green), darker for more epochs,
    /// so AR and MDLM runs never share a colour even when they differ only in objective.
    static let shades: [Objective: [String]] = [
        .ar: ["#6baed6", "#3182bd", "#1b63b4", "#08519c", "#08306b"],
        .mdlm: ["#fdae6b", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"],
        .gaussian: ["#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"],
    ]

    /// Loss plots never zoom in further than this many nats: differences smaller than that are noise here.
    static let minimumLossSpan = 0.1

    static func stroke(_ o: Objective) -> LinePlot.Stroke {
        switch o {
        case .ar: return .solid
        case .mdlm: return .dashed
        case .gaussian: return .dotted
        }
    }

    static let css = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1240px;color:#1d1d1f;line-height:1.45;padding:0 16px}
    h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-bottom:.3em}
    table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #d4d4d4;padding:3px 7px;text-align:left;vertical-align:top}
    th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.group th{background:#e6ecf5;text-align:left}
    .bound{color:#8a4b00}.muted{color:#666}.findings li{margin:.25em 0}figure{margin:1em 0}figcaption{font-size:.9em;color:#444;max-width:760px}
    svg.plot{display:block;font-family:system-ui,Helvetica,Arial,sans-serif;max-width:100%;height:auto}
    table.kv th{width:13em;font-weight:normal;color:#444}code{font-size:.92em}
    .wide{overflow-x:auto}table.summary td,table.throughput td,table.cloze td{white-space:nowrap}table.summary{font-size:.84em}table.summary td.status{white-space:normal;min-width:7em}
    """

    public static func render(_ runs: [ReportRun], options: Options = Options()) -> String {
        var plots: [LinePlot] = []
        return render(runs, options: options, plots: &plots)
    }

    /// The page, and in `plots` every plot drawn in it (for their points as CSV).
    public static func render(_ runs: [ReportRun], options: Options = Options(), plots: inout [LinePlot]) -> String {
        let groups = groups(runs)
        let ordered = groups.flatMap(\.runs)
        let epochValues = Set(ordered.map { ($0.plannedEpochs * 1000).rounded() / 1000 }).sorted()
        let colorOf = { (r: ReportRun) -> String in
            let i = epochValues.firstIndex(of: (r.plannedEpochs * 1000).rounded() / 1000) ?? 0
            let family = shades[r.objective]!
            // Spread the epoch counts over the shades, lightest for the fewest epochs.
            let k = epochValues.count <= 1 ? family.count / 2 : i * (family.count - 1) / (epochValues.count - 1)
            return family[k]
        }
        let complete = ordered.filter(\.isComplete).count
        let title = options.title ?? defaultTitle(ordered)
        var h = "<!DOCTYPE html>\n"
        h += #"<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>"#
        h += #"<meta name="viewport" content="width=device-width, initial-scale=1"/>"#
        h += "<title>\(htmlEscape(title))</title><style>\(css)</style></head><body>\n"
        h += "<h1>\(htmlEscape(title))</h1>\n"
        h += "<p>\(ordered.count) run\(ordered.count == 1 ? "" : "s") (\(complete) complete, \(ordered.count - complete) in progress) "
        h += "in \(groups.count) group\(groups.count == 1 ? "" : "s") of the same unique-token budget and model. "
        h += "Losses are in nats per token on the validation split. AR values are the exact negative log-likelihood; "
        h += #"diffusion values are the NELBO, an upper bound on it, and are marked <span class="bound">≤ NELBO bound</span>.</p>"#
        h += "\n"

        h += glanceSection(groups)
        h += summarySection(groups)
        h += comparisonSection(groups, plots: &plots)
        h += computeSection(groups, plots: &plots)
        h += variantsSection(groups)
        h += validationPlots(ordered, color: colorOf, plots: &plots)
        h += trainingPlot(ordered, color: colorOf, plots: &plots)
        h += clozeSection(groups)
        h += throughputSection(groups)
        h += measuredSection(ordered, options: options)
        h += #"<p class="muted">Written by <code>reprise report</code>: one file, inline CSS and SVG, no scripts.</p>"#
        h += "\n</body></html>\n"
        return h
    }

    // MARK: sections

    static func summarySection(_ groups: [ReportGroup]) -> String {
        var h = "<h2 id=\"summary\">Runs</h2>\n<div class=\"wide\"><table class=\"summary\"><thead><tr>"
        let headers = ["run", "objective", "model (layers × width, parameters)", "epochs done / planned", "unique tokens", "tokens seen",
                       "best validation loss", "best at epoch", "final validation loss", "bits per byte (final)",
                       "kind", "cloze accuracy ± SE", "status"]
        h += headers.map { "<th>\(htmlEscape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for g in groups {
            h += "<tr class=\"group\"><th colspan=\"\(headers.count)\">\(htmlEscape(g.label))</th></tr>\n"
            for r in g.runs {
                let m = r.manifest.model
                let prefix = r.isBound ? "≤ " : ""
                let best = r.best
                let final = r.finalValidation
                var row = "<tr class=\"run\" data-run=\"\(htmlEscape(r.name))\" data-objective=\"\(r.objective.rawValue)\">"
                row += "<td class=\"name\">\(htmlEscape(r.name))</td>"
                row += "<td class=\"objective\">\(r.objective.rawValue)</td>"
                row += "<td class=\"model\">\(m.layers) × \(m.dim), \(compactNumber(Double(m.parameterCount)))</td>"
                row += "<td class=\"num epochs\">\(epochs(r.epochsDone)) / \(epochs(r.plannedEpochs))</td>"
                row += "<td class=\"num unique\">\(r.uniqueTokens.map { grouped($0) } ?? "?")</td>"
                row += "<td class=\"num tokens-seen\">\(grouped(r.tokensSeen))</td>"
                row += "<td class=\"num best\">\(best.map { prefix + loss($0.loss) + ($0.stderr.map { $0 > 0 ? String(format: " ± %.3f", $0) : "" } ?? "") } ?? "–")</td>"
                row += "<td class=\"num best-epoch\">\(best.map { epochs($0.epoch) } ?? "–")</td>"
                let finalSE = r.summary?.valLossStderr ?? r.validation.last?.stderr
                row += "<td class=\"num final\">\(final.map { prefix + loss($0.loss) + (finalSE.map { $0 > 0 ? String(format: " ± %.3f", $0) : "" } ?? "") } ?? "–")</td>"
                row += "<td class=\"num bpb\">\(r.isLikelihood ? final?.bitsPerByte.map { prefix + String(format: "%.4f", $0) } ?? "–" : "–")</td>"
                row += !r.isLikelihood ? "<td class=\"kind\">diffusion loss, not a likelihood</td>"
                    : r.isBound ? "<td class=\"kind bound\">≤ NELBO bound</td>" : "<td class=\"kind\">exact NLL</td>"
                row += "<td class=\"num cloze\">\(r.cloze.map(clozeText) ?? "–")</td>"
                row += "<td class=\"status\">\(r.isComplete ? "complete" : "in progress (step \(r.stepsDone) of \(r.manifest.steps))")</td>"
                h += row + "</tr>\n"
            }
        }
        h += "</tbody></table></div>\n"
        h += "<p class=\"muted\">Best validation loss: the lowest value logged during the run (evaluated every "
        h += "<code>eval_every</code> steps, by default once per epoch); final: the value after the last step "
        h += "(summary.json, or the last logged evaluation of a run in progress); ± its Monte-Carlo standard error "
        h += "for a diffusion bound estimated from mask draws (AR's exact NLL has none).</p>\n"
        return h
    }

    /// "0.001", "0.0003".
    static func setting(_ v: Double) -> String { String(format: "%g", v) }

    /// "1 / 1": schedule seed / train seed ("?" where the schedule cannot be read).
    static func seeds(_ r: ReportRun) -> String { "\(r.scheduleSeed.map(String.init) ?? "?") / \(r.trainSeed)" }

    /// "≤ 3.050 ± 0.004" (a bound with its standard error), "3.210" (exact).
    static func lossText(_ v: Double, se: Double?, bound: Bool) -> String {
        (bound ? "≤ " : "") + loss(v) + (se.map { $0 > 0 ? String(format: " ± %.3f", $0) : "" } ?? "")
    }

    /// One compact row per run: what it is (objective, budget, epochs, tokens, lr, weight decay, seeds) and
    /// what it measured.
    static func glanceSection(_ groups: [ReportGroup]) -> String {
        var h = "<h2 id=\"glance\">The runs at a glance</h2>\n<div class=\"wide\"><table class=\"summary glance\"><thead><tr>"
        let headers = ["run", "objective", "unique tokens", "epochs", "tokens processed", "lr", "weight decay",
                       "seeds (schedule / train)", "best validation loss", "final validation loss", "cloze (final)"]
        h += headers.map { "<th>\(htmlEscape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for g in groups {
            for r in g.runs {
                let t = r.manifest.train
                var row = "<tr class=\"grid-row\" data-run=\"\(htmlEscape(r.name))\">"
                row += "<td class=\"name\">\(htmlEscape(r.name))\(r.isComplete ? "" : " (in progress)")</td>"
                row += "<td class=\"objective\">\(displayName(r.objective))</td>"
                row += "<td class=\"num unique\">\(r.uniqueTokens.map { compactNumber(Double($0)) } ?? "?")</td>"
                row += "<td class=\"num epochs\">\(epochs(r.plannedEpochs))</td>"
                row += "<td class=\"num tokens\">\(compactNumber(Double(r.tokensSeen)))</td>"
                row += "<td class=\"num lr\">\(setting(t.lr))</td><td class=\"num wd\">\(setting(t.weightDecay))</td>"
                row += "<td class=\"num seeds\">\(seeds(r))</td>"
                let finalSE = r.summary?.valLossStderr ?? r.validation.last?.stderr
                row += "<td class=\"num best\">\(r.best.map { lossText($0.loss, se: $0.stderr, bound: r.isBound) } ?? "–")</td>"
                row += "<td class=\"num final\">\(r.finalValidation.map { lossText($0.loss, se: finalSE, bound: r.isBound) } ?? "–")</td>"
                row += "<td class=\"num cloze\">\(r.cloze.map { String(format: "%.1f%%", $0.accuracy * 100) } ?? "–")</td>"
                h += row + "</tr>\n"
            }
        }
        h += "</tbody></table></div>\n"
        h += "<p class=\"muted\">Tokens processed: training tokens fed, repeats included. Bounds (≤) with their Monte-Carlo "
        h += "standard error. With <code>--figures DIR</code> this table is also written as <code>DIR/grid.csv</code>, "
        h += "with each run's estimator, draws, best epoch and cloze accuracy of its best weights.</p>\n"
        return h
    }

    /// Best validation loss against tokens processed, one curve per (objective, budget), and where each diffusion
    /// objective's bound goes below AR's best at the same budget; then what each curve point is made of.
    static func computeSection(_ groups: [ReportGroup], plots: inout [LinePlot]) -> String {
        var h = "<h2 id=\"compute\">Compute-matched: best validation loss against tokens processed</h2>\n"
        h += "<p>The points of the epoch curves above, placed at the tokens each run processed (epochs × unique tokens): "
        h += "one curve per objective and budget. A budget's curves can be compared at equal compute, and across budgets "
        h += "at equal compute more unique data against more repetition. Compared below: each diffusion objective's "
        h += "points against AR's best at the same budget (whatever its epoch count).</p>\n"
        var plot = LinePlot(id: "plot-compute", title: "Best validation loss against tokens processed",
                            xLabel: "tokens processed (repeats included)", yLabel: "best validation loss (nats/token; DLM: bound)")
        plot.xScale = .log
        plot.minimumYSpan = minimumLossSpan
        for (gi, g) in groups.enumerated() {
            for o in Objective.allCases where isLikelihood(o) {
                guard let c = EpochCurve.make(o, runs: g.runs) else { continue }
                let family = shades[o]!
                let k = groups.count <= 1 ? family.count / 2 : 1 + gi * (family.count - 2) / (groups.count - 1)
                plot.series.append(.init(name: displayName(o) + " — " + (g.uniqueTokens.map { compactNumber(Double($0)) } ?? "?") + " unique tokens",
                                         points: c.points.map { .init(Double($0.tokens), $0.best) },
                                         color: family[min(k, family.count - 1)], stroke: stroke(o), markers: true))
            }
        }
        if plot.series.contains(where: { $0.points.count >= 2 }) || plot.series.count >= 2 {
            plots.append(plot)
            h += figure(plot, caption: "AR blue and solid, MDLM orange and dashed; darker for larger budgets; log-scale x. Each point: one run, the mean of its seeds, or the best of a sweep (see the table below).")
        } else {
            h += "<p class=\"muted\">No compute curve yet: no complete runs.</p>\n"
        }
        let comparisons = computeComparisons(groups)
        var items: [String] = []
        for o in Objective.allCases where comparisons[o] != nil {
            let cs = comparisons[o]!
            items += cs.map(\.sentence)
            if cs.count > 1, let all = ComputeComparison.overall(cs) { items.append(all) }
        }
        if !items.isEmpty {
            h += "<ul class=\"findings compute\">" + items.map { "<li>\(htmlEscape($0))</li>" }.joined() + "</ul>\n"
        } else {
            h += "<p class=\"muted\">No budget has complete AR and diffusion runs yet: no compute comparison.</p>\n"
        }
        h += curvePointsTable(groups)
        return h
    }

    /// Each curve point: its runs, how they were combined, their learning rate, weight decay, seeds and estimator.
    static func curvePointsTable(_ groups: [ReportGroup]) -> String {
        var rows: [String] = []
        for g in groups {
            for o in Objective.allCases where isLikelihood(o) {
                guard let c = EpochCurve.make(o, runs: g.runs) else { continue }
                for (p, cell) in zip(c.points, c.cells) {
                    let conf = cell.chosenConfiguration
                    let rs = conf.runs
                    var row = "<tr class=\"point\" data-objective=\"\(o.rawValue)\" data-epochs=\"\(epochs(p.epochs))\">"
                    row += "<td class=\"num unique\">\(g.uniqueTokens.map { compactNumber(Double($0)) } ?? "?")</td>"
                    row += "<td>\(displayName(o))</td><td class=\"num epochs\">\(epochs(p.epochs))</td>"
                    row += "<td class=\"num tokens\">\(compactNumber(Double(p.tokens)))</td>"
                    var value = lossText(p.best, se: p.stderr, bound: o.isDiffusion)
                    if let sp = p.spread { value += " (\(loss(sp.lowerBound))–\(loss(sp.upperBound)))" }
                    row += "<td class=\"num value\">\(value)</td>"
                    row += "<td class=\"how\">\(htmlEscape(p.how))</td>"
                    row += "<td class=\"runs\">\(htmlEscape(rs.map(\.name).joined(separator: ", ")))</td>"
                    row += "<td class=\"num lr\">\(Set(rs.map { setting($0.manifest.train.lr) }).sorted().joined(separator: ", "))</td>"
                    row += "<td class=\"num wd\">\(Set(rs.map { setting($0.manifest.train.weightDecay) }).sorted().joined(separator: ", "))</td>"
                    row += "<td class=\"num seeds\">\(rs.map(seeds).joined(separator: "; "))</td>"
                    let est = estimatorName(rs[0]), draws = validationDraws(rs[0])
                    row += "<td class=\"estimator\">\(htmlEscape(o == .ar ? "exact NLL" : est + (draws.map { ", \($0) draws" } ?? "")))</td>"
                    rows.append(row + "</tr>")
                }
            }
        }
        guard !rows.isEmpty else { return "" }
        var h = "<h3>What each curve point is</h3><div class=\"wide\"><table class=\"summary points\"><thead><tr>"
        h += ["unique tokens", "objective", "epochs", "tokens processed", "best validation loss", "from", "runs", "lr",
              "weight decay", "seeds (schedule / train)", "estimator"].map { "<th>\(htmlEscape($0))</th>" }.joined()
        h += "</tr></thead><tbody>" + rows.joined() + "</tbody></table></div>\n"
        h += "<p class=\"muted\">A mean of seeds is shown with the seeds' range; its standard error is the Monte-Carlo error "
        h += "of the mean of the bounds (√Σse² / n), not the spread between seeds. Estimator: AR exact NLL; MDLM the masking "
        h += "of its validation plan and its draws per validation sequence.</p>\n"
        return h
    }

    /// Cells with several runs: seeds of one configuration (mean and range) and sweeps (one row per value,
    /// the chosen one marked).
    static func variantsSection(_ groups: [ReportGroup]) -> String {
        var blocks: [String] = []
        for g in groups {
            for o in Objective.allCases where isLikelihood(o) {
                guard let c = EpochCurve.make(o, runs: g.runs) else { continue }
                for cell in c.cells where cell.runCount > 1 {
                    let where_ = "\(displayName(o)), \(epochCount(cell.epochs)), \(g.uniqueTokens.map { compactNumber(Double($0)) } ?? "?") unique tokens"
                    var h = "<h3>\(htmlEscape(where_)): \(htmlEscape(cell.isSweep ? cell.how : "\(cell.runCount) seeds"))</h3>"
                    h += "<table class=\"variants\" data-objective=\"\(o.rawValue)\" data-epochs=\"\(epochs(cell.epochs))\"><thead><tr>"
                    h += cell.varying.map { "<th>\(htmlEscape(ReportCell.settingName($0)))</th>" }.joined()
                    h += "<th>runs</th><th>seeds (schedule / train)</th><th>best validation loss</th>"
                    h += "<th>mean</th><th>range</th><th></th></tr></thead><tbody>"
                    for (i, conf) in cell.configurations.enumerated() {
                        let chosen = i == cell.chosen
                        h += chosen ? "<tr class=\"chosen\">" : "<tr>"
                        h += cell.varying.map { "<td class=\"num setting\">\(htmlEscape(conf.settings[$0] ?? "–"))</td>" }.joined()
                        h += "<td>\(htmlEscape(conf.runs.map(\.name).joined(separator: ", ")))</td>"
                        h += "<td class=\"num\">\(conf.runs.map(seeds).joined(separator: "; "))</td>"
                        h += "<td class=\"num\">\(conf.runs.map { lossText($0.best!.loss, se: $0.best!.stderr, bound: o.isDiffusion) }.joined(separator: "; "))</td>"
                        h += "<td class=\"num mean\">\(lossText(conf.mean, se: conf.stderr, bound: o.isDiffusion))</td>"
                        let half = (conf.max - conf.min) / 2
                        h += "<td class=\"num range\">\(conf.runs.count > 1 ? "\(loss(conf.min))–\(loss(conf.max)) (± \(loss(half)))" : "–")</td>"
                        h += "<td class=\"mark\">\(cell.isSweep && chosen ? "chosen: the curve's point" : cell.isSweep ? "" : "the curve's point")</td></tr>"
                    }
                    h += "</tbody></table>\n"
                    if cell.isSweep {
                        let varied = cell.varying.map(ReportCell.settingName).joined(separator: " and ")
                        h += "<p class=\"muted\">The runs differ by \(htmlEscape(varied)); the curve uses the configuration of the lowest mean best loss, "
                        h += "so the point is the \(htmlEscape(cell.how)), chosen on the validation split it is scored on (optimistic by the selection).</p>\n"
                    } else {
                        h += "<p class=\"muted\">The runs differ only by seed (schedule seed: order, t and masks; train seed: initial weights); the curve uses their mean.</p>\n"
                    }
                    blocks.append(h)
                }
            }
        }
        guard !blocks.isEmpty else { return "" }
        var h = "<h2 id=\"variants\">Seeds and sweeps</h2>\n"
        h += "<p>Complete runs of one objective, budget and epoch count, sorted into configurations: run.json's train "
        h += "settings together with the schedule's and the model's, seeds left out (measurement-only settings, such as "
        h += "cloze items, too). Runs of equal configuration are seeds of it; configurations that differ are a sweep.</p>\n"
        return h + blocks.joined()
    }

    static func clozeText(_ c: ReportRun.Cloze) -> String {
        var s = String(format: "%.1f%%", c.accuracy * 100)
        if let se = c.stderr { s += String(format: " ± %.1f", se * 100) }
        if let n = c.items { s += " (n=\(n))" }
        return s
    }

    static func comparisonSection(_ groups: [ReportGroup], plots: inout [LinePlot]) -> String {
        var h = "<h2 id=\"comparison\">Data-constrained comparison: best validation loss against epochs</h2>\n"
        h += "<p>Each point is the lowest validation loss a run reached, plotted against the number of epochs it was "
        h += "set up for, each run with its own learning-rate schedule over its token budget. Where several runs share "
        h += "an epoch count: runs that differ only by seed give their mean; runs that differ by a setting (learning "
        h += "rate, weight decay) are a sweep, and the point is its best configuration, as the findings and the tables "
        h += "below say (seeds and sweeps). Only complete runs are compared.</p>\n"
        var plot = LinePlot(id: "plot-epochs-best", title: "Best validation loss against epochs of the run",
                            xLabel: "epochs over the same unique tokens", yLabel: "best validation loss (nats/token; DLM: bound)")
        plot.xScale = .log
        plot.minimumYSpan = minimumLossSpan
        var findings: [String] = []
        for (gi, g) in groups.enumerated() {
            let multi = groups.count > 1
            for o in Objective.allCases where isLikelihood(o) {
                guard let c = EpochCurve.make(o, runs: g.runs) else { continue }
                let name = displayName(o) + (multi ? " — " + g.label : "")
                plot.series.append(.init(name: name, points: c.points.map { .init($0.epochs, $0.best) },
                                         color: palette[(objectiveRank(o) + 3 * gi) % palette.count],
                                         stroke: stroke(o), markers: true))
            }
            let comps = comparisons(g)
            let inProgress = g.runs.filter { !$0.isComplete }.count
            var items: [String] = comps.flatMap(\.sentences)
            if comps.isEmpty {
                let present = Set(g.runs.filter(\.isComplete).map(\.objective))
                items.append(present.contains(.ar) || present.contains(where: \.isDiffusion)
                    ? "Only \(present.map { displayName($0) }.sorted().joined(separator: " and ")) has complete runs here: no AR-vs-diffusion comparison."
                    : "No complete runs here yet.")
            }
            if g.runs.contains(where: { !$0.isLikelihood && $0.isComplete }) {
                items.append("Gaussian diffusion's validation loss (ε MSE + rounding cross-entropy) is not a likelihood, so it is not compared with AR or MDLM here.")
            }
            if inProgress > 0 { items.append("\(inProgress) run\(inProgress == 1 ? " is" : "s are") still in progress and left out of this comparison.") }
            findings.append("<h3>\(htmlEscape(g.label))</h3><ul class=\"findings\">" +
                            items.map { "<li>\(htmlEscape($0))</li>" }.joined() + "</ul>")
        }
        let epochCounts = Set(plot.series.flatMap { $0.points.map(\.x) })
        if epochCounts.count >= 2 {
            plots.append(plot)
            h += figure(plot, caption: "AR blue and solid, MDLM orange and dashed, Gaussian diffusion green and dotted; log-scale x. A curve that turns up shows the objective overfitting the repeated data.")
        } else {
            h += "<p class=\"muted\">No curve yet: the complete runs cover \(epochCounts.count) epoch count\(epochCounts.count == 1 ? "" : "s"); runs at two or more are needed.</p>\n"
        }
        h += "<div class=\"findings\">" + findings.joined(separator: "\n") + "</div>\n"
        return h
    }

    static func runLabel(_ r: ReportRun) -> String {
        "\(r.name) (\(r.objective.rawValue), \(epochs(r.plannedEpochs)) ep)"
    }

    static func validationPlots(_ runs: [ReportRun], color: (ReportRun) -> String, plots: inout [LinePlot]) -> String {
        var h = "<h2 id=\"validation\">Validation loss during training</h2>\n"
        var byEpoch = LinePlot(id: "plot-val-epochs", title: "Validation loss against epochs",
                               xLabel: "epoch", yLabel: "validation loss (nats/token; DLM: bound)")
        var byTokens = LinePlot(id: "plot-val-tokens", title: "Validation loss against tokens seen",
                                xLabel: "tokens seen", yLabel: "validation loss (nats/token; DLM: bound)")
        for r in runs {
            let markers = r.validation.count <= 40
            byEpoch.series.append(.init(name: runLabel(r), points: r.validation.map { .init($0.epoch, $0.loss) },
                                        color: color(r), stroke: stroke(r.objective), markers: markers))
            byTokens.series.append(.init(name: runLabel(r), points: r.validation.map { .init(Double($0.tokens), $0.loss) },
                                         color: color(r), stroke: stroke(r.objective), markers: markers))
        }
        byEpoch.xScale = LinePlot.scale(for: runs.flatMap { $0.validation.map(\.epoch) })
        byTokens.xScale = LinePlot.scale(for: runs.flatMap { $0.validation.map { Double($0.tokens) } })
        byEpoch.minimumYSpan = minimumLossSpan
        byTokens.minimumYSpan = minimumLossSpan
        let note = "Colour: the objective (AR blue, MDLM orange, Gaussian diffusion green), darker for runs set up for more epochs; AR solid, MDLM dashed, Gaussian dotted (its own loss, ε MSE + rounding cross-entropy, not in nats/token). The x axis is logarithmic when the values span more than 10×; the y axis spans at least \(minimumLossSpan) nats."
        plots += [byEpoch, byTokens]
        h += figure(byEpoch, caption: note)
        h += figure(byTokens, caption: "Tokens seen counts every token position fed, repeats included.")
        return h
    }

    /// Debiased exponential moving average (as an Adam moment): m ← βm + (1−β)x, reported as m / (1 − βᵗ).
    public static func smooth(_ xs: [Double], beta: Double) -> [Double] {
        var m = 0.0, correction = 1.0
        return xs.map { x in
            m = beta * m + (1 - beta) * x
            correction *= beta
            return m / (1 - correction)
        }
    }

    static func trainingPlot(_ runs: [ReportRun], color: (ReportRun) -> String, plots: inout [LinePlot]) -> String {
        var h = "<h2 id=\"training\">Training loss</h2>\n"
        let longest = runs.map(\.train.count).max() ?? 0
        let window = min(200, max(1, longest / 50))
        let beta = 1 - 1 / Double(window)
        var plot = LinePlot(id: "plot-train", title: "Training loss (smoothed)", xLabel: "step",
                            yLabel: "training loss (nats/token; DLM: weighted bound)")
        var cutAt = -Double.infinity, lowest = Double.infinity, highest = -Double.infinity
        for r in runs {
            let sm = smooth(r.train.map(\.loss), beta: beta)
            // At most about 400 points per line: every k-th smoothed value, and the last one.
            let k = max(1, (sm.count + 399) / 400)
            var pts: [LinePlot.Point] = []
            for i in stride(from: 0, to: sm.count, by: k) { pts.append(.init(Double(r.train[i].step), sm[i])) }
            if let last = sm.indices.last, last % k != 0 { pts.append(.init(Double(r.train[last].step), sm[last])) }
            plot.series.append(.init(name: runLabel(r), points: pts, color: color(r), stroke: stroke(r.objective)))
            // The top of the plot leaves out the first 5% of each run, where the loss falls from log(vocab).
            if !sm.isEmpty {
                cutAt = max(cutAt, sm[(sm.count / 20)...].max()!)
                lowest = min(lowest, sm.min()!)
                highest = max(highest, sm.max()!)
            }
        }
        plot.xScale = .linear  // steps: where the learning-rate schedule and the loss's fall are read
        plot.minimumYSpan = minimumLossSpan
        var caption = window > 1
            ? "Exponential moving average of the per-step loss with β = \(String(format: "%.3f", beta)) (about \(window) steps), bias-corrected at the start."
            : "Per-step loss, not smoothed (runs of fewer than 100 steps)."
        if cutAt.isFinite && highest > cutAt * 1.02 && cutAt > lowest {
            let span = cutAt - lowest
            plot.yRange = (lowest - 0.03 * span)...(cutAt + 0.05 * span)
            caption += " The first steps' higher losses (up to \(loss(highest))) are cut off at the top."
        }
        caption += " The diffusion training loss is the weighted masked cross-entropy of the sampled t, not comparable in level with AR's."
        plots.append(plot)
        h += figure(plot, caption: caption)
        return h
    }

    static func clozeSection(_ groups: [ReportGroup]) -> String {
        var h = "<h2 id=\"cloze\">Cloze accuracy</h2>\n"
        let any = groups.contains { $0.runs.contains { $0.cloze != nil } }
        guard any else {
            return h + "<p class=\"muted\">No run has cloze scores in its metrics yet (a metrics line with <code>cloze_accuracy</code>).</p>\n"
        }
        h += "<p>Multiple-choice cloze items built from validation documents (a context and 4 endings); accuracy ± "
        h += "standard error, AR scored by log-likelihood, diffusion by its ELBO; the same items for every run. "
        h += "Chance is 25%.</p>\n"
        for g in groups {
            let rs = g.runs.filter { $0.cloze != nil }
            guard !rs.isEmpty else { continue }
            let objectives = Objective.allCases.filter { o in rs.contains { $0.objective == o } }
            let epochsList = Set(rs.map { ($0.plannedEpochs * 1000).rounded() / 1000 }).sorted()
            h += "<h3>\(htmlEscape(g.label))</h3><table class=\"cloze\"><thead><tr><th>epochs</th>"
            h += objectives.map { "<th>\(htmlEscape(displayName($0)))</th>" }.joined() + "</tr></thead><tbody>"
            for e in epochsList {
                h += "<tr><td class=\"num\">\(epochs(e))</td>"
                for o in objectives {
                    let cell = rs.filter { $0.objective == o && ($0.plannedEpochs * 1000).rounded() / 1000 == e }
                        .map { clozeText($0.cloze!) }
                    h += "<td class=\"num\">\(htmlEscape(cell.isEmpty ? "–" : cell.joined(separator: "; ")))</td>"
                }
                h += "</tr>"
            }
            h += "</tbody></table>\n"
            h += pairedClozeTable(rs)
        }
        return h
    }

    /// AR against each diffusion run of the same epoch count, item by item on the same cloze items: final
    /// weights against final weights, and best (lowest validation loss) against best.
    static func pairedClozeTable(_ rs: [ReportRun]) -> String {
        var rows: [String] = []
        let key = { (r: ReportRun) in (r.plannedEpochs * 1000).rounded() / 1000 }
        for ar in rs where ar.objective == .ar {
            for d in rs where d.objective.isDiffusion && key(d) == key(ar) {
                for (which, a, b) in [("final", ar.clozeFinalItems, d.clozeFinalItems), ("best", ar.clozeBestItems, d.clozeBestItems)] {
                    guard let a, let b else { continue }
                    guard let p = ClozePairs.compare(b, a) else {
                        rows.append("<tr><td class=\"num\">\(epochs(key(ar)))</td><td>\(which)</td><td>\(htmlEscape(d.name)) vs \(htmlEscape(ar.name))</td><td colspan=\"5\">not the same items</td></tr>")
                        continue
                    }
                    let steps = which == "best"
                        ? " (steps \(d.clozeBest?.step.map(String.init) ?? "?") / \(ar.clozeBest?.step.map(String.init) ?? "?"))" : ""
                    var row = "<tr class=\"paired\"><td class=\"num\">\(epochs(key(ar)))</td><td>\(which)\(steps)</td>"
                    row += "<td>\(htmlEscape(d.name)) vs \(htmlEscape(ar.name))</td><td class=\"num\">\(p.items)</td>"
                    row += String(format: "<td class=\"num\">%.1f%% vs %.1f%%</td>", p.accuracyA * 100, p.accuracyB * 100)
                    row += String(format: "<td class=\"num\">%+.1f [%+.1f, %+.1f]</td>", p.difference * 100, p.lower * 100, p.upper * 100)
                    row += "<td class=\"num\">\(p.onlyA) / \(p.onlyB)</td>"
                    row += String(format: "<td class=\"num\">%.3g</td></tr>", p.pValue)
                    rows.append(row)
                }
            }
        }
        guard !rows.isEmpty else {
            return "<p class=\"muted\">No paired comparison: the runs have no per-item cloze outcomes (cloze-final.jsonl) to pair.</p>\n"
        }
        var h = "<table class=\"cloze paired\"><thead><tr><th>epochs</th><th>weights</th><th>diffusion vs AR</th><th>items</th>"
        h += "<th>accuracy (diffusion vs AR)</th><th>difference, points [95% CI]</th><th>right only for diffusion / only for AR</th>"
        h += "<th>McNemar p</th></tr></thead><tbody>" + rows.joined() + "</tbody></table>\n"
        h += "<p class=\"muted\">Paired on the same items: the difference is diffusion − AR accuracy with a 95% paired-bootstrap "
        h += "interval (items resampled with replacement, 10,000 resamples); McNemar's exact test on the discordant items "
        h += "(two-sided binomial p-value). Best: each run's weights of lowest validation loss (RUN/best), final: after the last step.</p>\n"
        return h
    }

    static func throughputSection(_ groups: [ReportGroup]) -> String {
        var h = "<h2 id=\"throughput\">Throughput</h2>\n<table class=\"throughput\"><thead><tr>"
        h += ["run", "objective", "threads", "BLAS kernel", "batch × length", "tokens/s", "MFU"].map { "<th>\($0)</th>" }.joined()
        h += "</tr></thead><tbody>"
        var notes: [String] = []
        for g in groups {
            for r in g.runs {
                h += "<tr><td>\(htmlEscape(r.name))</td><td>\(r.objective.rawValue)</td><td class=\"num\">\(r.manifest.threads)</td>"
                h += "<td>\(htmlEscape(r.manifest.blasKernel))</td><td class=\"num\">\(r.manifest.batchSize) × \(r.manifest.seqLen)</td>"
                h += "<td class=\"num\">\(r.tokensPerSecond.map { String(format: "%.0f", $0) } ?? "–")</td>"
                h += "<td class=\"num\">\(r.mfu.map { String(format: "%.1f%%", $0 * 100) } ?? "–")</td></tr>"
            }
            // The step-cost ratio of each diffusion objective to AR, on runs with the same threads and kernel.
            func median(_ xs: [Double]) -> Double? {
                let s = xs.sorted()
                return s.isEmpty ? nil : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
            }
            let arRuns = g.runs.filter { $0.objective == .ar && $0.tokensPerSecond != nil }
            for o in Objective.allCases where o.isDiffusion {
                let d = g.runs.filter { $0.objective == o && $0.tokensPerSecond != nil }
                let same = d.filter { x in arRuns.contains { $0.manifest.threads == x.manifest.threads && $0.manifest.blasKernel == x.manifest.blasKernel } }
                guard let dm = median(same.map { $0.tokensPerSecond! }),
                      let am = median(arRuns.filter { a in same.contains { $0.manifest.threads == a.manifest.threads } }.map { $0.tokensPerSecond! }) else { continue }
                notes.append("\(g.label): \(displayName(o)) trains at \(String(format: "%.2f", dm / am))× AR's tokens per second (medians of \(same.count) and \(arRuns.count) runs, same threads and BLAS kernel), so one \(displayName(o)) step costs about \(String(format: "%.2f", am / dm))× an AR step.")
            }
        }
        h += "</tbody></table>\n"
        h += "<p class=\"muted\">tokens/s and MFU: the last logged values, each the running average of the training process that wrote them over its training time (evaluations left out; a resumed run restarts the average).</p>\n"
        if !notes.isEmpty { h += "<ul>" + notes.map { "<li>\(htmlEscape($0))</li>" }.joined() + "</ul>\n" }
        return h
    }

    static func measuredSection(_ runs: [ReportRun], options: Options) -> String {
        var h = "<h2 id=\"measured\">What was measured</h2>\n"
        h += "<p>Everything above comes from these run directories' <code>run.json</code>, <code>metrics.jsonl</code> "
        h += "and, for complete runs, <code>summary.json</code>; nothing is estimated unless marked. "
        h += "Validation: AR is scored by exact next-token NLL; MDLM by the NELBO over the schedule's fixed validation plan "
        h += "(the same (t, mask) draws for every checkpoint and run), an upper bound on its NLL. Bits per byte = nats per token × tokens / (bytes × ln 2).</p>\n"
        if let host = options.host { h += "<p>Report written on: \(htmlEscape(host)). Each run records the threads it trained with below.</p>\n" }
        for r in runs {
            let m = r.manifest.model, t = r.manifest.train
            var rows: [(String, String)] = [
                ("directory", r.path),
                ("status", r.isComplete ? "complete: \(r.stepsDone) steps" : "in progress: step \(r.stepsDone) of \(r.manifest.steps) (no summary.json yet)"),
                ("objective", r.objective.rawValue + (!r.isLikelihood ? " (validation: diffusion loss, ε MSE + rounding cross-entropy, not a likelihood)"
                    : r.isBound ? " (validation: NELBO upper bound)" : " (validation: exact NLL)")),
                ("model", "vocab \(m.vocabSize), width \(m.dim), \(count(m.layers, "layer")), \(count(m.heads, "head")), FFN \(m.ffnHidden), context \(m.context), \(m.tiedEmbeddings ? "tied" : "untied") embeddings; \(grouped(m.parameterCount)) parameters"),
                ("data", "batch \(r.manifest.batchSize) × \(r.manifest.seqLen) tokens, \(r.manifest.batchesPerEpoch) batches per epoch, \(count(r.manifest.steps, "step")) = \(epochCount(r.plannedEpochs))"),
                ("unique tokens", (r.uniqueTokens.map { grouped($0) } ?? "?") + " (\(r.uniqueTokensSource))"),
            ]
            if let l = r.ledger {
                rows.append(("schedule ledger", "\(l.epochs) epochs × \(grouped(l.tokensPerEpoch)) tokens = \(grouped(l.totalTokens)) fed; every sequence seen \(l.repetitionsPerSequence) times"))
            }
            rows.append(("validation estimator", estimatorText(r)))
            rows += [
                ("training", "lr \(t.lr) (\(t.lrSchedule.rawValue), min ratio \(t.minLRRatio), warmup \(t.warmup < 0 ? "5% of the steps" : String(t.warmup))), weight decay \(t.weightDecay), grad clip \(t.gradClip), seed \(t.seed)"),
                ("evaluation", evaluationText(r)),
                ("machine", "\(r.manifest.threads) threads, OpenBLAS kernel \(r.manifest.blasKernel)"),
                ("inputs", "shards \(r.manifest.shardsDir) (\(r.manifest.shardsSha256.prefix(12))), schedule \(r.manifest.scheduleDir) (\(r.manifest.scheduleSha256.prefix(12))), tokenizer \(r.manifest.tokenizerDir) (\(r.manifest.tokenizerSha256.prefix(12)))"),
                ("metrics read", "\(count(r.train.count, "training line")), \(count(r.validation.count, "validation line"))" + (r.cloze != nil ? ", cloze scores" : "") + (r.unreadableLines > 0 ? ", \(count(r.unreadableLines, "unreadable line")) skipped" : "")),
            ]
            h += "<h3>\(htmlEscape(r.name))</h3><table class=\"kv\"><tbody>"
            h += rows.map { "<tr><th>\(htmlEscape($0.0))</th><td>\(htmlEscape($0.1))</td></tr>" }.joined()
            h += "</tbody></table>\n"
        }
        return h
    }

    static func evaluationText(_ r: ReportRun) -> String {
        let t = r.manifest.train
        var s = "every " + (t.evalEvery == 0 ? "epoch" : "\(t.evalEvery) steps")
        if t.denseEvalEpochs > 0 { s += " and after each of the first " + epochCount(Double(t.denseEvalEpochs)) }
        s += ", " + (t.evalSequences == 0 ? "all validation sequences" : "the first \(t.evalSequences) validation sequences (all, if fewer)")
        if t.clozeItems > 0 {
            s += "; cloze: \(t.clozeItems) items after the last step, final and best weights"
            if r.objective == .mdlm { s += ", \(t.clozeDraws) ELBO draws each" }
        }
        return s
    }

    /// How a run's validation number was estimated: AR exact; mdlm the estimator (masking), draws, seeds and
    /// the final standard errors.
    static func estimatorText(_ r: ReportRun) -> String {
        let c = r.scheduleConfig
        let seeds = c.map { "schedule seed \($0.seed), validation seed \($0.valSeed)" } ?? "schedule not readable"
        var s: String
        switch r.objective {
        case .ar:
            s = "exact next-token NLL (no sampling); " + seeds
        case .mdlm:
            guard let masking = c?.maskingMode ?? r.summary?.valEstimator.flatMap(Masking.init(rawValue:)) else {
                s = "NELBO; estimator and draws not recorded (schedule not readable, no val_estimator in summary.json); " + seeds
                break
            }
            let how = masking == .exactK
                ? "exact_k: k uniform in 1...L masked tokens, weight L/k, an unbiased estimate of the bound"
                : "\(masking.rawValue): masking rate from t ∈ [eps, 1] (\(c?.noise ?? "?") schedule, eps \(c.map { String($0.eps) } ?? "?")), at least one masked token, weight w(t); biased upward"
            let draws = r.summary?.valDraws ?? c?.valDraws
            s = "NELBO, \(how); \(draws.map(String.init) ?? "?") draws per validation sequence (\(c?.tSampling == .iid ? "iid" : "stratified") in t); " + seeds
        case .gaussian:
            let target = r.manifest.train.gaussianPrediction == .x0 ? "x0" : "ε"
            s = "\(target)-prediction MSE + rounding cross-entropy over the fixed validation draws (not a likelihood); " + seeds
        }
        if let se = r.summary?.valLossStderr, se > 0 { s += String(format: "; final Monte-Carlo standard error %.4f", se) }
        if let se = r.summary?.valLossStderrSequences, se > 0 { s += String(format: "; standard error over validation sequences %.4f", se) }
        if r.manifest.train.clozeItems > 0 && r.objective == .mdlm {
            s += "; cloze ELBO with \(r.manifest.train.clozeDraws) draws per item, same estimator"
        }
        return s
    }

    static func figure(_ plot: LinePlot, caption: String) -> String {
        "<figure>" + plot.svg() + "<figcaption>\(htmlEscape(caption))</figcaption></figure>\n"
    }

    /// 1234567 → "1,234,567".
    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
