import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards
@testable import RepriseTrain
import XCTest

/// Reads a report as XML: element counts, the series polylines of each plot, and the summary table's cells.
final class ReportXML: NSObject, XMLParserDelegate {
    var elements: [String: Int] = [:]
    var svgDepth = 0, svgId = ""
    var seriesPerPlot: [String: [String]] = [:]
    /// run name → cell class → text, from the summary table.
    var cells: [String: [String: String]] = [:]
    var run: String?, cell: String?, text = ""
    var error: Error?

    static func parse(_ s: String) -> ReportXML {
        let r = ReportXML()
        let p = XMLParser(data: Data(s.utf8))
        p.delegate = r
        if !p.parse() { r.error = p.parserError ?? RepriseError("XMLParser failed") }
        return r
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements[name, default: 0] += 1
        if name == "svg" { svgDepth += 1; svgId = attributes["id"] ?? "" }
        if name == "polyline" && attributes["class"] == "series" { seriesPerPlot[svgId, default: []].append(attributes["data-series"] ?? "") }
        if name == "tr" && attributes["class"] == "run" { run = attributes["data-run"] }
        if name == "td", run != nil { cell = attributes["class"]; text = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { if cell != nil { text += string } }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "svg" { svgDepth -= 1 }
        if name == "td", let r = run, let c = cell {
            // "num best-epoch" → "best-epoch"; "kind bound" → "kind".
            let key = c.split(separator: " ").first { $0 != "num" && $0 != "bound" }.map(String.init) ?? c
            cells[r, default: [:]][key] = text
            cell = nil
        }
        if name == "tr" { run = nil }
    }
}

final class ReportTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static let batchesPerEpoch = 2, batchSize = 4, seqLen = 16

    /// A run directory written with the trainer's own types: run.json, metrics.jsonl (a training line per
    /// step, a validation line per epoch with `val(epoch)`), summary.json unless `stepsDone` stops early.
    @discardableResult
    func fakeRun(_ name: String, _ objective: Objective, epochs: Int, stepsDone: Int? = nil,
                 cloze: (Double, Double, Int)? = nil, val: (Int) -> Double) throws -> String {
        let run = dir + "/" + name
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let bpe = Self.batchesPerEpoch, total = epochs * bpe, tokensPerStep = Self.batchSize * Self.seqLen
        let manifest = RunManifest(
            objective: objective, model: ModelConfig(vocabSize: 64, dim: 32, layers: 2, heads: 2, context: 16),
            train: TrainConfig(), shardsSha256: "shards", scheduleSha256: "sched-" + name, tokenizerSha256: "tok",
            shardsDir: "shards", scheduleDir: "no-such-schedule/" + name, tokenizerDir: "tok", threads: 2,
            blasKernel: "SkylakeX", steps: total, batchesPerEpoch: bpe, batchSize: Self.batchSize, seqLen: Self.seqLen,
            maskTokenId: objective == .ar ? nil : 63, endOfTextId: 62)
        try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: run + "/run.json")
        let done = stepsDone ?? total
        var lastLoss = 0.0
        do {
            let log = try MetricsLog(run: run, keepThrough: 0)
            for step in 1...done {
                let epoch = Double(step) / Double(bpe)
                lastLoss = 4 * exp(-Double(step) / 40) + 2 + (step % 2 == 0 ? 0.05 : -0.05)
                log.write([("step", step), ("epoch", epoch), ("tokens", step * tokensPerStep), ("loss", lastLoss), ("lr", 1e-3),
                           ("grad_norm", 0.5), ("tokens_per_s", objective == .ar ? 1000.0 : 960.0), ("mfu", 0.25)])
                if step % bpe == 0 {
                    let v = val(step / bpe)
                    log.write([("step", step), ("epoch", epoch), ("tokens", step * tokensPerStep), ("val_loss", v),
                               ("val_perplexity", exp(v)), ("val_bits_per_byte", v / bytesPerToken), ("val_bound", objective == .ar ? 0 : 1)])
                }
            }
            if let c = cloze {
                log.write([("step", done), ("cloze_accuracy", c.0), ("cloze_stderr", c.1), ("cloze_items", c.2)])
            }
        }
        if done == total {
            let v = val(epochs)
            let summary = RunSummary(steps: total, epochs: Double(epochs), tokensSeen: total * tokensPerStep,
                                     finalTrainLoss: lastLoss, valLoss: v, valBitsPerByte: v / bytesPerToken,
                                     valIsBound: objective != .ar, runSha256: try Hashing.sha256Hex(file: run + "/run.json"))
            try AtomicFileWriter.write(try CanonicalJSON.encode(summary), to: run + "/summary.json")
        }
        return run
    }
    /// Any fixed factor will do for bits per byte here.
    let bytesPerToken = 3.3

    /// AR's best run is at 4 epochs and gets worse beyond; MDLM keeps improving up to 64 epochs.
    static let arBest: [Int: Double] = [1: 4.10, 4: 3.21, 16: 3.30, 64: 3.60]
    static let mdlmBest: [Int: Double] = [1: 4.60, 4: 3.70, 16: 3.35, 64: 3.05]

    /// AR: falls to its best at epoch min(E, 4), then rises a little every epoch. MDLM: falls to its best at
    /// its last epoch.
    func arCurve(_ E: Int) -> (Int) -> Double {
        let best = Self.arBest[E]!, k = min(E, 4)
        return { e in e <= k ? best + (5 - best) * Double(k - e) / Double(k) : best + 0.01 * Double(e - k) }
    }
    func mdlmCurve(_ E: Int) -> (Int) -> Double {
        let best = Self.mdlmBest[E]!
        return { e in best + (5.5 - best) * Double(E - e) / Double(E) }
    }

    /// The synthetic experiment; returns the run paths.
    func experiment() throws -> [String] {
        var runs: [String] = []
        for e in [1, 4, 16, 64] {
            runs.append(try fakeRun(e == 1 ? "ar<&>e1" : "ar-e\(e)", .ar, epochs: e, cloze: e == 4 ? (0.625, 0.0242, 400) : nil, val: arCurve(e)))
            runs.append(try fakeRun("mdlm-e\(e)", .mdlm, epochs: e, cloze: e == 4 ? (0.5875, 0.0246, 400) : nil, val: mdlmCurve(e)))
        }
        // Still running: 10 of 512 steps, no summary.json.
        runs.append(try fakeRun("mdlm-e256", .mdlm, epochs: 256, stepsDone: 10) { e in 5 - 0.1 * Double(e) })
        return runs
    }

    func testSyntheticExperimentReport() throws {
        let paths = try experiment()
        var options = Report.Options()
        options.title = "Test <&> report"
        let out = dir + "/out/report.html"
        let runs = try Report.write(runs: paths, output: out, options: options, figures: dir + "/figures")
        XCTAssertEqual(runs.count, 9)
        let html = try String(contentsOfFile: out, encoding: .utf8)

        // Every plot also as a standalone SVG document that parses as XML on its own.
        let svgs = try FileManager.default.contentsOfDirectory(atPath: dir + "/figures").filter { $0.hasSuffix(".svg") }.sorted()
        XCTAssertEqual(svgs.count, html.components(separatedBy: "<svg ").count - 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/figures").filter { $0.hasSuffix(".csv") && $0 != "grid.csv" }.count, svgs.count)
        // grid.csv: a header and a row per run.
        XCTAssertEqual(try String(contentsOfFile: dir + "/figures/grid.csv", encoding: .utf8).split(separator: "\n").count, 1 + 9)
        XCTAssertTrue(svgs.contains("plot-epochs-best.svg"), "\(svgs)")
        for name in svgs {
            let svg = try String(contentsOfFile: dir + "/figures/" + name, encoding: .utf8)
            XCTAssertTrue(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""), name)
            let parsed = ReportXML.parse(svg)
            XCTAssertNil(parsed.error, "\(name): \(parsed.error.map { "\($0)" } ?? "")")
            XCTAssertEqual(parsed.elements["svg"], 1, name)
            XCTAssertGreaterThan(parsed.elements["polyline"] ?? 0, 0, name)
        }

        // Well-formed: the whole page parses as XML, with one <html> and every <svg> closed.
        let doc = ReportXML.parse(html)
        XCTAssertNil(doc.error, "\(doc.error.map { "\($0)" } ?? "")")
        XCTAssertEqual(doc.elements["html"], 1)
        XCTAssertEqual(doc.elements["body"], 1)
        XCTAssertEqual(doc.elements["svg"], 5)
        XCTAssertEqual(doc.svgDepth, 0)
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, html.components(separatedBy: "</svg>").count - 1)
        XCTAssertNil(doc.elements["script"], "no scripts")
        XCTAssertFalse(html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/", with: "").contains("://"), "no external assets")
        XCTAssertFalse(html.contains("src=") || html.contains("href=") || html.contains("@import"), "no external assets")
        // Each SVG fragment is a standalone XML document too.
        var rest = html[...]
        var fragments = 0
        while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            let svg = ReportXML.parse(String(rest[start.lowerBound..<end.upperBound]))
            XCTAssertNil(svg.error)
            XCTAssertEqual(svg.elements["svg"], 1)
            fragments += 1
            rest = rest[end.upperBound...]
        }
        XCTAssertEqual(fragments, 5)

        // One line per run in plots 1-3; one per objective in the epochs comparison.
        for plot in ["plot-val-epochs", "plot-val-tokens", "plot-train"] {
            XCTAssertEqual(doc.seriesPerPlot[plot]?.count, 9, plot)
            XCTAssertEqual(Set(doc.seriesPerPlot[plot] ?? []).count, 9, plot)
        }
        XCTAssertEqual(doc.seriesPerPlot["plot-epochs-best"], ["AR", "MDLM"])
        // Plot 1's epochs span 0.5 ... 64 (more than 10×): log x; the comparison is always log x.
        XCTAssertTrue(html.contains(">epoch (log scale)<"))
        XCTAssertTrue(html.contains(">epochs over the same unique tokens (log scale)<"))

        // The table: best epoch and value from the metrics, bounds labelled, the run in progress shown as such.
        for (e, best) in Self.arBest {
            let row = try XCTUnwrap(doc.cells[e == 1 ? "ar<&>e1" : "ar-e\(e)"])
            XCTAssertEqual(row["best-epoch"], "\(min(e, 4))")
            XCTAssertEqual(row["best"], String(format: "%.3f", best))
            XCTAssertEqual(row["kind"], "exact NLL")
            XCTAssertEqual(row["status"], "complete")
            XCTAssertEqual(row["unique"], "128")
        }
        for (e, best) in Self.mdlmBest {
            let row = try XCTUnwrap(doc.cells["mdlm-e\(e)"])
            XCTAssertEqual(row["best-epoch"], "\(e)")
            XCTAssertEqual(row["best"], "≤ " + String(format: "%.3f", best))
            XCTAssertEqual(row["kind"], "≤ NELBO bound")
        }
        let running = try XCTUnwrap(doc.cells["mdlm-e256"])
        XCTAssertEqual(running["status"], "in progress (step 10 of 512)")
        XCTAssertEqual(running["epochs"], "5 / 256")
        XCTAssertEqual(running["best-epoch"], "5")
        XCTAssertTrue(html.contains("1 run is still in progress and left out of this comparison."))
        XCTAssertEqual(doc.cells["ar-e4"]?["cloze"], "62.5% ± 2.4 (n=400)")
        XCTAssertEqual(doc.cells["ar-e16"]?["cloze"], "–")

        // Escaping: the run named ar<&>e1 and the title never appear raw.
        XCTAssertFalse(html.contains("ar<&>e1"))
        XCTAssertTrue(html.contains("ar&lt;&amp;&gt;e1"))
        XCTAssertTrue(html.contains("<title>Test &lt;&amp;&gt; report</title>"))

        // The findings, computed from the numbers.
        XCTAssertTrue(html.contains("AR&#39;s best is at 4 epochs (3.210); with more epochs it gets worse, 3.600 at 64 epochs (+0.390)."), html)
        XCTAssertTrue(html.contains("MDLM keeps improving up to its largest epoch count, 64 epochs (3.050)."))
        XCTAssertTrue(html.contains("The curves cross between 16 and 64 epochs (about 18 by log-linear interpolation); MDLM is lower after it."))
        XCTAssertTrue(html.contains("Best at this budget: AR 3.210 (4 epochs), MDLM 3.050 (64 epochs); MDLM is lower by 0.160."))
        // Throughput ratio: 960 / 1000 tokens/s.
        XCTAssertTrue(html.contains("MDLM trains at 0.96× AR&#39;s tokens per second"))
    }

    func testCrossingsFromCurves() {
        func curve(_ o: Objective, _ pts: [(Double, Double)]) -> EpochCurve {
            EpochCurve(objective: o, points: pts.map { .init(epochs: $0.0, best: $0.1, bestEpoch: $0.0, run: "r", runs: 1) })
        }
        let ar = curve(.ar, [(1, 4.10), (4, 3.21), (16, 3.30), (64, 3.60)])
        let c = EpochComparison(ar: ar, dlm: curve(.mdlm, [(1, 4.60), (4, 3.70), (16, 3.35), (64, 3.05)]))
        XCTAssertEqual(c.crossings.count, 1)
        XCTAssertEqual(c.crossings[0].lower, 16)
        XCTAssertEqual(c.crossings[0].upper, 64)
        XCTAssertEqual(c.crossings[0].lowerAfter, .mdlm)
        // d(16) = 0.05, d(64) = -0.55: 1/12 of the way in log epochs.
        XCTAssertEqual(c.crossings[0].estimate, 16 * pow(4, 0.05 / 0.6), accuracy: 1e-9)
        XCTAssertEqual(ar.best?.epochs, 4)

        // Never crossing: AR lower throughout, by 0.2 to 0.5.
        let never = EpochComparison(ar: ar, dlm: curve(.mdlm, [(1, 4.60), (4, 3.41), (16, 3.60), (64, 3.80)]))
        XCTAssertTrue(never.crossings.isEmpty)
        XCTAssertTrue(never.sentences.contains("The curves do not cross in the measured range (1–64 epochs): AR is lower at every compared epoch count, by 0.200 to 0.500."), "\(never.sentences)")

        // Different epoch counts: compared on the union of points inside the common range, interpolated.
        let sparse = EpochComparison(ar: curve(.ar, [(1, 4), (4, 3), (16, 3.5)]), dlm: curve(.mdlm, [(2, 4.5), (32, 3)]))
        XCTAssertEqual(sparse.overlap, 2...16)
        XCTAssertEqual(sparse.differences.map(\.epochs), [2, 4, 16])
        XCTAssertEqual(sparse.crossings.map(\.lower), [4])
        XCTAssertEqual(sparse.crossings.map(\.upper), [16])

        // Touching at one point and crossing there; and curves with no common range.
        let touch = EpochComparison(ar: curve(.ar, [(1, 4), (4, 3), (16, 3)]), dlm: curve(.mdlm, [(1, 5), (4, 3), (16, 2)]))
        XCTAssertEqual(touch.crossings, [Crossing(lower: 1, upper: 16, estimate: 4, lowerAfter: .mdlm, interpolated: false)])
        let apart = EpochComparison(ar: curve(.ar, [(1, 4), (2, 3)]), dlm: curve(.mdlm, [(8, 3), (16, 2)]))
        XCTAssertTrue(touch.sentences.contains("The curves cross between 1 and 16 epochs, meeting at 4 epochs; MDLM is lower after it."), "\(touch.sentences)")
        XCTAssertNil(apart.overlap)
        XCTAssertTrue(apart.sentences.last!.contains("cannot be said"))
    }

    func testPlotAxesAndEscaping() {
        let lin = Axis.linear(0.03, 0.97)
        XCTAssertEqual(lin.ticks, [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        XCTAssertEqual(lin.ticks.map { lin.label($0) }, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let tokens = Axis.linear(0, 4.6e6)
        XCTAssertEqual(tokens.ticks.map { tokens.label($0) }, ["0", "1M", "2M", "3M", "4M", "5M"])
        let log = Axis.log(1, 256)
        XCTAssertEqual(log.ticks, [1, 2, 5, 10, 20, 50, 100, 200])
        XCTAssertEqual(Axis.log(0.01, 256).ticks, [0.01, 0.1, 1, 10, 100])
        XCTAssertEqual(Axis.log(3, 8).ticks.count, 6)  // 3 ... 8 with the 1-9 mantissas
        XCTAssertEqual(LinePlot.scale(for: [1, 10]), .linear)
        XCTAssertEqual(LinePlot.scale(for: [1, 11]), .log)
        XCTAssertEqual([1234567, 12345, 0.5, 64, 2.5e9].map(compactNumber), ["1.23M", "12.3k", "0.5", "64", "2.5G"])
        XCTAssertEqual(htmlEscape(#"a<b>&"c"'d"#), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d")

        var p = LinePlot(id: "p<1>", title: "t & t", xLabel: "x", yLabel: "y")
        p.series = [.init(name: "<one>", points: [.init(1, 2), .init(2, .nan), .init(3, 1)], color: "#000", stroke: .dashed, markers: true),
                    .init(name: "two", points: [.init(0, 1), .init(3, 3)], color: "#f00")]
        p.xScale = .log
        let svg = ReportXML.parse(p.svg())
        XCTAssertNil(svg.error)
        XCTAssertEqual(svg.seriesPerPlot["p<1>"], ["<one>", "two"])
        // Non-finite points and x ≤ 0 on a log axis are left out; markers for the drawable points only.
        XCTAssertEqual(svg.elements["circle"], 2 + 1)
        let empty = LinePlot(id: "e", title: "nothing", xLabel: "x", yLabel: "y").svg()
        XCTAssertNil(ReportXML.parse(empty).error)
        XCTAssertTrue(empty.contains("no data"))
        // The bias correction keeps a constant constant from the first step.
        for v in Report.smooth([2, 2, 2], beta: 0.9) { XCTAssertEqual(v, 2, accuracy: 1e-12) }
        XCTAssertEqual(Report.smooth([1, 3], beta: 0.5)[1], (0.25 + 1.5) / 0.75, accuracy: 1e-12)
    }

    /// AR and MDLM runs of the same epochs differ in colour as well as stroke; a plot of values that differ
    /// by noise keeps a sensible span; the training loss is drawn against steps on a linear axis; a comparison
    /// over a single epoch count draws no curve.
    func testSeriesAreTellableApartAndAxesDoNotMagnifyNoise() throws {
        let runs = [try fakeRun("ar", .ar, epochs: 2) { 3.5 + 0.001 * Double($0) },
                    try fakeRun("mdlm", .mdlm, epochs: 2) { 3.52 - 0.001 * Double($0) }]
        let html = Report.render(try runs.map { try ReportRun.load($0) })
        func colours(_ plot: String) throws -> [String] {
            let start = try XCTUnwrap(html.range(of: "id=\"\(plot)\""))
            let svg = html[start.lowerBound...].prefix { $0 != "§" }.components(separatedBy: "</svg>")[0]
            return svg.components(separatedBy: "class=\"series\"").dropFirst().compactMap { part in
                part.range(of: #"stroke="(#[0-9a-f]{6})""#, options: .regularExpression).map { String(part[$0].dropFirst(8).dropLast()) }
            }
        }
        let val = try colours("plot-val-epochs")
        XCTAssertEqual(val.count, 2)
        XCTAssertNotEqual(val[0], val[1], "AR and MDLM runs of the same epochs get different colours")
        XCTAssertEqual(try colours("plot-train").count, 2)

        // All validation values lie within 0.03 nats: the axis spans at least 0.1, not 0.03.
        var p = LinePlot(id: "n", title: "noise", xLabel: "x", yLabel: "y")
        p.series = [.init(name: "a", points: [.init(1, 3.50), .init(2, 3.53)], color: "#000")]
        p.minimumYSpan = 0.1
        let labels = p.svg().components(separatedBy: "text-anchor=\"end\"").dropFirst().compactMap { part -> Double? in
            guard let gt = part.firstIndex(of: ">"), let lt = part.firstIndex(of: "<") else { return nil }
            return Double(part[part.index(after: gt)..<lt])
        }
        XCTAssertGreaterThanOrEqual((labels.max() ?? 0) - (labels.min() ?? 0), 0.1 - 1e-9, "\(labels)")

        XCTAssertTrue(html.contains(#"id="plot-train""#))
        let train = html.components(separatedBy: #"id="plot-train""#)[1].components(separatedBy: "</svg>")[0]
        XCTAssertTrue(train.contains(">step<") && !train.contains("log scale"), "training loss against steps, linear")
        XCTAssertFalse(html.contains(#"id="plot-epochs-best""#), "one epoch count: no comparison curve")
        XCTAssertTrue(html.contains("runs at two or more are needed"))
    }

    func testMissingRunAndUnreadableLines() throws {
        XCTAssertThrowsError(try Report.write(runs: [dir], output: dir + "/r.html")) {
            XCTAssertTrue("\($0)".contains("no run.json in"), "\($0)")
        }
        let run = try fakeRun("ar-e1", .ar, epochs: 1) { _ in 4 }
        // A half-written last line (a run being written while the report reads it) is skipped and counted.
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: run + "/metrics.jsonl"))
        h.seekToEndOfFile()
        h.write(Data(#"{"step":3,"epo"#.utf8))
        try h.close()
        let r = try ReportRun.load(run + "/")
        XCTAssertEqual(r.name, "ar-e1")
        XCTAssertEqual(r.unreadableLines, 1)
        XCTAssertEqual(r.train.count, 2)
        XCTAssertEqual(r.validation.count, 1)
        XCTAssertEqual(r.uniqueTokensSource, "tokens fed in epoch 1")
        let html = Report.render([r])
        XCTAssertNil(ReportXML.parse(html).error)
        XCTAssertTrue(html.contains("1 unreadable line skipped"))
        XCTAssertTrue(html.contains("Only AR has complete runs here"))
        XCTAssertTrue(html.contains("No run has cloze scores"))
    }

    /// The issue's check: the page renders in headless Chromium, as HTML (a screenshot) and as XHTML (the
    /// strict XML parser, which puts a <parsererror> into the DOM on any fault). Skipped without Chromium.
    func testRendersInHeadlessChromium() throws {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        let names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        guard let browser = names.lazy.flatMap({ n in dirs.map { "\($0)/\(n)" } }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no Chromium on PATH (apt-get install chromium)")
        }
        let page = dir + "/report.html", xhtml = dir + "/report.xhtml"
        try Report.write(runs: try experiment(), output: page)
        try FileManager.default.copyItem(atPath: page, toPath: xhtml)

        func chromium(_ args: [String]) throws -> (status: Int32, stdout: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["timeout", "120", browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--user-data-dir=" + dir + "/profile"] + args
            _ = FileManager.default.createFile(atPath: dir + "/out.txt", contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: dir + "/out.txt")
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return (p.terminationStatus, try String(contentsOfFile: dir + "/out.txt", encoding: .utf8))
        }
        let shot = dir + "/shot.png"
        let r = try chromium(["--window-size=1200,3000", "--screenshot=" + shot, "file://" + page])
        XCTAssertEqual(r.status, 0)
        let size = (try FileManager.default.attributesOfItem(atPath: shot)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(size, 20_000, "a screenshot with content")
        let dom = try chromium(["--dump-dom", "file://" + xhtml])
        XCTAssertEqual(dom.status, 0)
        XCTAssertFalse(dom.stdout.contains("parsererror"), dom.stdout)
        XCTAssertEqual(dom.stdout.components(separatedBy: "<svg ").count - 1, 5)
        XCTAssertEqual(dom.stdout.components(separatedBy: "<polyline class=\"series\"").count - 1, 3 * 9 + 2 + 2)
    }

    // MARK: real runs

    func makeShards() throws -> String {
        let shards = dir + "/shards"
        try FileManager.default.createDirectory(atPath: shards, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 7)
        func split(_ prefix: String, docs: Int) throws -> SplitSummary {
            let name = "\(prefix)-00000.shard"
            let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: 128)
            for _ in 0..<docs {
                let start = rng.next() % 40, step = 1 + rng.next() % 3
                try w.appendDocument((0..<40).map { UInt32((start + UInt64($0) * step) % 40) } + [46])
            }
            let r = try w.finish()
            var s = SplitSummary()
            s.shards = [ShardEntry(file: name, tokens: r.tokenCount, documents: docs, bytes: r.byteSize, sha256: r.sha256)]
            s.tokens = r.tokenCount
            s.documents = docs
            s.sequences = (s.tokens - 1) / 16
            return s
        }
        var config = PackConfig()
        config.seqLen = 16
        config.frameTokens = 128
        let m = PackManifest(config: config, configHash: "c", inputHash: "i", ingestManifestSha256: "x",
                             tokenizerSha256: "tok", docsDir: "docs", tokenizerDir: "tok", vocabSize: 48,
                             dtype: "uint16", endOfTextId: 46, train: try split("train", docs: 24), val: try split("val", docs: 4))
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: shards + "/manifest.json")
        return shards
    }

    // MARK: a grid of budgets, seeds and sweeps

    /// A run over a real schedule (built from `makeShards`' tokens with a budget of `sequences`), its metrics
    /// synthetic: after each epoch e a validation line `val(e)` (with `stderr` for a bound), summary.json at the end.
    @discardableResult
    func gridRun(_ name: String, _ objective: Objective, sequences: Int, epochs: Int, scheduleSeed: Int = 1,
                 lr: Double = 1e-3, weightDecay: Double = 0.1, trainSeed: Int = 1, clozeItems: Int = 0,
                 stderr: Double? = nil, val: (Int) -> Double) throws -> String {
        if shardsDir == nil { shardsDir = try makeShards() }
        let plan = dir + "/plans/\(objective.rawValue)-\(sequences)-e\(epochs)-s\(scheduleSeed)"
        if !FileManager.default.fileExists(atPath: plan + "/manifest.json") {
            var c = ScheduleConfig()
            c.objective = objective; c.epochs = epochs; c.batchSize = 4; c.seed = scheduleSeed; c.valDraws = 2
            c.sequences = sequences
            try ScheduleBuilder.build(shards: shardsDir!, config: c, output: plan, threads: 1, quiet: true)
        }
        let ledger = try Schedule(plan).manifest.ledger
        var t = TrainConfig()
        t.lr = lr; t.weightDecay = weightDecay; t.seed = trainSeed; t.clozeItems = clozeItems
        let run = dir + "/runs/" + name
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let manifest = RunManifest(
            objective: objective, model: ModelConfig(vocabSize: 48, dim: 32, layers: 1, heads: 2, context: 16),
            train: t, shardsSha256: "shards", scheduleSha256: try Hashing.sha256Hex(file: plan + "/manifest.json"),
            tokenizerSha256: "tok", shardsDir: shardsDir!, scheduleDir: plan, tokenizerDir: "tok", threads: 1,
            blasKernel: "SkylakeX", steps: ledger.steps, batchesPerEpoch: ledger.batchesPerEpoch, batchSize: 4, seqLen: 16,
            maskTokenId: objective == .ar ? nil : 47, endOfTextId: 46)
        try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: run + "/run.json")
        do {
            let log = try MetricsLog(run: run, keepThrough: 0)
            for e in 1...epochs {
                let step = e * ledger.batchesPerEpoch, tokens = e * ledger.tokensPerEpoch
                log.write([("step", step), ("epoch", Double(e)), ("tokens", tokens), ("loss", val(e) + 0.5), ("lr", lr)])
                var line: [(String, Any)] = [("step", step), ("epoch", Double(e)), ("tokens", tokens), ("val_loss", val(e)),
                                             ("val_bound", objective == .ar ? 0 : 1)]
                if let stderr { line.append(("val_loss_stderr", stderr)) }
                log.write(line)
            }
        }
        var summary = RunSummary(steps: ledger.steps, epochs: Double(epochs), tokensSeen: ledger.totalTokens,
                                 finalTrainLoss: val(epochs) + 0.5, valLoss: val(epochs), valBitsPerByte: val(epochs) / bytesPerToken,
                                 valIsBound: objective != .ar, runSha256: try Hashing.sha256Hex(file: run + "/run.json"))
        summary.valLossStderr = stderr
        try AtomicFileWriter.write(try CanonicalJSON.encode(summary), to: run + "/summary.json")
        return run
    }
    var shardsDir: String?

    /// Falls by 0.1 per epoch to `best` at the last epoch.
    func falling(to best: Double, epochs: Int) -> (Int) -> Double { { e in best + 0.1 * Double(epochs - e) } }

    /// Two budgets (16 and 32 sequences of 16 tokens: 256 and 512 unique tokens). At 256: AR at 1, 4 (two seeds,
    /// 3.2 and 3.4) and 16 epochs (three learning rates), MDLM at 1, 4, 16; MDLM's 16-epoch bound (3.25) is the
    /// first below AR's best (the 4-epoch mean, 3.3; its better seed alone, 3.2, would hide the crossing).
    /// At 512: AR 3.8, 3.1 and MDLM 4.2, 3.3 at 1 and 4 epochs: no crossing, smallest gap 0.2 at 4 epochs.
    func gridExperiment() throws -> [String] {
        var runs: [String] = []
        func ar(_ n: String, _ seqs: Int, _ e: Int, _ best: Double, lr: Double = 1e-3, seed: Int = 1) throws {
            runs.append(try gridRun(n, .ar, sequences: seqs, epochs: e, scheduleSeed: seed, lr: lr, trainSeed: seed,
                                    val: falling(to: best, epochs: e)))
        }
        func mdlm(_ n: String, _ seqs: Int, _ e: Int, _ best: Double) throws {
            runs.append(try gridRun(n, .mdlm, sequences: seqs, epochs: e, stderr: 0.01, val: falling(to: best, epochs: e)))
        }
        try ar("a1", 16, 1, 4.0)
        try ar("a4", 16, 4, 3.2)
        try ar("a4-second-seed", 16, 4, 3.4, seed: 2)
        try ar("a16", 16, 16, 3.5)
        try ar("a16-lower-lr", 16, 16, 3.6, lr: 3e-4)
        try ar("a16-higher-lr", 16, 16, 3.45, lr: 3e-3)
        try mdlm("m1", 16, 1, 4.5)
        try mdlm("m4", 16, 4, 3.4)
        try mdlm("m16", 16, 16, 3.25)
        try ar("b1", 32, 1, 3.8)
        try ar("b4", 32, 4, 3.1)
        try mdlm("n1", 32, 1, 4.2)
        try mdlm("n4", 32, 4, 3.3)
        return runs
    }

    func testComputeCrossingSeedsSweepsAndGridCSV() throws {
        let paths = try gridExperiment()
        let out = dir + "/grid/report.html"
        let runs = try Report.write(runs: paths, output: out, figures: dir + "/grid/figures")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertNil(ReportXML.parse(html).error)
        for r in runs { XCTAssertEqual(r.uniqueTokensSource, "schedule ledger", r.name) }

        // The default title says what the runs are.
        XCTAssertTrue(html.contains("<h1>Reprise: AR vs MDLM at 256 and 512 unique tokens, 1–16 epochs</h1>"), html)

        // The compute plot: one curve per (objective, budget), x = tokens processed (epochs × unique tokens),
        // y = the point's value: a single run's best, the mean of two seeds, the best of the learning rates.
        let csv = try String(contentsOfFile: dir + "/grid/figures/plot-compute.csv", encoding: .utf8)
        let mean4 = (3.2 + 3.4) / 2
        let expected = ["series,x,y",
                        "AR — 256 unique tokens,256.0,4.0", "AR — 256 unique tokens,1024.0,\(mean4)", "AR — 256 unique tokens,4096.0,3.45",
                        "MDLM — 256 unique tokens,256.0,4.5", "MDLM — 256 unique tokens,1024.0,3.4", "MDLM — 256 unique tokens,4096.0,3.25",
                        "AR — 512 unique tokens,512.0,3.8", "AR — 512 unique tokens,2048.0,3.1",
                        "MDLM — 512 unique tokens,512.0,4.2", "MDLM — 512 unique tokens,2048.0,3.3"]
        XCTAssertEqual(csv.split(separator: "\n").map(String.init), expected)
        XCTAssertTrue(html.contains(">tokens processed (repeats included) (log scale)<"))

        // The crossing at 256 (first below AR's best at 16 epochs, 0.05 below; 0.1 above at 4 epochs), none at 512.
        let text = html.replacingOccurrences(of: "&#39;", with: "'")
        XCTAssertTrue(text.contains("At 256 unique tokens, MDLM's bound first goes below AR's best (3.300 at 4 epochs, 1024 tokens processed) at 16 epochs, 4096 tokens processed: ≤ 3.250 ± 0.010 (standard error), 0.050 below it; at the point before, 4 epochs (1024 tokens processed), it was 0.100 above. MDLM's number is an upper bound on its loss (NELBO), so the crossing is conservative"), text)
        XCTAssertTrue(text.contains("At 512 unique tokens, MDLM's best bound stays above AR's best (3.100 at 4 epochs, 2048 tokens processed) by at least 0.200 nats at every compute point of this budget (2 points, 512–2048 tokens processed); the smallest gap is at 4 epochs (2048 tokens processed): ≤ 3.300 ± 0.010 (standard error). MDLM's number is an upper bound"), text)
        XCTAssertTrue(text.contains("Overall: MDLM's bound goes below AR's best at the same budget at 1 of the 2 budgets: 256 unique tokens (first at 16 epochs, 4096 tokens processed); not at 512 unique tokens (smallest gap 0.200)."), text)

        // Two seeds at one cell: both runs, their mean and range; the curve point says it is a mean.
        let seeds = try XCTUnwrap(text.components(separatedBy: "<table class=\"variants\" data-objective=\"ar\" data-epochs=\"4\">").dropFirst().first)
            .components(separatedBy: "</table>")[0]
        XCTAssertTrue(seeds.contains("<td>a4, a4-second-seed</td><td class=\"num\">1 / 1; 2 / 2</td><td class=\"num\">3.200; 3.400</td><td class=\"num mean\">3.300</td><td class=\"num range\">3.200–3.400 (± 0.100)</td>"), seeds)
        XCTAssertTrue(text.contains("AR, 4 epochs, 256 unique tokens: 2 seeds"))
        XCTAssertTrue(text.contains("<td class=\"how\">mean of 2 seeds</td>"))

        // The learning-rate sweep: one row per value, in order, the lowest marked as the curve's.
        let sweep = try XCTUnwrap(text.components(separatedBy: "<table class=\"variants\" data-objective=\"ar\" data-epochs=\"16\">").dropFirst().first)
            .components(separatedBy: "</table>")[0]
        let rows = sweep.components(separatedBy: "<tr").dropFirst(2).map { String($0) }
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.map { $0.components(separatedBy: "<td class=\"num setting\">")[1].prefix { $0 != "<" } }, ["0.0003", "0.001", "0.003"])
        XCTAssertEqual(rows.map { $0.hasPrefix(" class=\"chosen\"") }, [false, false, true])
        XCTAssertTrue(rows[2].contains("a16-higher-lr") && rows[2].contains("chosen: the curve's point"), rows[2])
        XCTAssertTrue(text.contains("AR, 16 epochs, 256 unique tokens: best of 3 learning rates"))
        XCTAssertTrue(text.contains("AR's best is at 4 epochs (3.300); with more epochs it gets worse, 3.450 at 16 epochs (+0.150); of its points, at 4 epochs the mean of 2 seeds; at 16 epochs the best of 3 learning rates."), "the curve's finding names the seeds and the sweep")
        // The curve point's row names the learning rate it used.
        XCTAssertTrue(text.contains("<td class=\"how\">best of 3 learning rates</td><td class=\"runs\">a16-higher-lr</td><td class=\"num lr\">0.003</td><td class=\"num wd\">0.1</td>"), text)

        // grid.csv: one row per run with its settings and numbers, checked against what the test wrote.
        let grid = try String(contentsOfFile: dir + "/grid/figures/grid.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(grid[0], ["name", "objective", "unique_tokens", "epochs", "tokens_processed", "lr", "weight_decay", "schedule_seed",
                                 "train_seed", "estimator", "draws", "best_loss", "best_se", "best_epoch", "final_loss", "final_se",
                                 "cloze_final_acc", "cloze_best_acc", "status"])
        XCTAssertEqual(grid.count, 1 + paths.count)
        let byName = Dictionary(uniqueKeysWithValues: grid.dropFirst().map { ($0[0], $0) })
        XCTAssertEqual(byName["a4-second-seed"], ["a4-second-seed", "ar", "256", "4", "1024", "0.001", "0.1", "2", "2", "exact", "",
                                                  "3.4", "", "4", "3.4", "", "", "", "complete"])
        XCTAssertEqual(byName["a16-higher-lr"]?[5], "0.003")
        XCTAssertEqual(byName["n4"], ["n4", "mdlm", "512", "4", "2048", "0.001", "0.1", "1", "1", "exact_k", "2",
                                      "3.3", "0.01", "4", "3.3", "0.01", "", "", "complete"])
    }

    /// Runs that differ in a measurement-only setting (cloze items) and by seed are seeds of one configuration;
    /// a different weight decay makes a sweep, and with both learning rate and weight decay varied the point
    /// says how many configurations it is the best of.
    func testConfigurationsIgnoreSeedsAndMeasurementOnly() throws {
        let a = try ReportRun.load(try gridRun("a", .ar, sequences: 16, epochs: 2, clozeItems: 8, val: falling(to: 3.0, epochs: 2)))
        let b = try ReportRun.load(try gridRun("b", .ar, sequences: 16, epochs: 2, scheduleSeed: 2, trainSeed: 3, val: falling(to: 3.2, epochs: 2)))
        let c = try ReportRun.load(try gridRun("c", .ar, sequences: 16, epochs: 2, weightDecay: 1.0, val: falling(to: 2.9, epochs: 2)))
        let d = try ReportRun.load(try gridRun("d", .ar, sequences: 16, epochs: 2, lr: 3e-3, val: falling(to: 3.5, epochs: 2)))
        XCTAssertEqual(a.settings, b.settings)
        XCTAssertNotEqual(a.settings, c.settings)
        XCTAssertEqual(a.settings["schedule.sequences"], "16")
        let seedsOnly = ReportCell(objective: .ar, epochs: 2, runs: [b, a])
        XCTAssertFalse(seedsOnly.isSweep)
        XCTAssertEqual(seedsOnly.configurations[0].runs.map(\.name), ["a", "b"])
        XCTAssertEqual(seedsOnly.configurations[0].mean, (3.0 + 3.2) / 2)
        XCTAssertEqual(seedsOnly.how, "mean of 2 seeds")
        let wd = ReportCell(objective: .ar, epochs: 2, runs: [a, b, c])
        XCTAssertEqual(wd.varying, ["weight_decay"])
        XCTAssertEqual(wd.chosenConfiguration.runs.map(\.name), ["c"])
        XCTAssertEqual(wd.how, "best of 2 weight decays")
        let both = ReportCell(objective: .ar, epochs: 2, runs: [a, b, c, d])
        XCTAssertEqual(both.varying, ["lr", "weight_decay"])
        XCTAssertEqual(both.how, "best of 3 configurations, differing in learning rate and weight decay")
        // The curve built from those runs uses c's configuration, a single run; a and b's mean is not the point.
        let curve = try XCTUnwrap(EpochCurve.make(.ar, runs: [a, b, c, d]))
        XCTAssertEqual(curve.points.map(\.best), [2.9])
        XCTAssertEqual(curve.points[0].runs, 4)
    }

    func testReportOfTwoRealTinyRuns() throws {
        let shards = try makeShards()
        var paths: [String] = []
        for objective in [Objective.ar, .mdlm] {
            var c = ScheduleConfig()
            c.objective = objective; c.epochs = 2; c.batchSize = 8; c.seed = 3; c.valDraws = 2; c.eps = 0.05
            let plan = dir + "/plan-" + objective.rawValue
            try ScheduleBuilder.build(shards: shards, config: c, output: plan, threads: 1, quiet: true)
            var config = TrainConfig()
            config.lr = 1e-2
            config.clozeItems = 8; config.clozeDraws = 2; config.evalEvery = 2
            var job = TrainJob(shards: shards, schedule: plan, tokenizerDir: "tok", tokenizerSha256: "tok",
                               tokens: TokenInfo(vocabSize: 48, maskId: 47, endOfTextId: 46, byteLengths: [Int32](repeating: 1, count: 48)),
                               model: ModelConfig(vocabSize: 48, dim: 32, layers: 1, heads: 2, context: 16), config: config,
                               output: dir + "/run-" + objective.rawValue)
            job.threads = 1; job.quiet = true; job.measurePeak = false
            _ = try Trainer.run(job)
            paths.append(job.output)
        }
        let out = dir + "/report.html"
        let runs = try Report.write(runs: paths, output: out, figures: dir + "/figures")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        let doc = ReportXML.parse(html)
        XCTAssertNil(doc.error)
        // Cloze outcomes per item, of the final and of the best weights, paired in the report.
        for r in runs {
            let final = try XCTUnwrap(try ClozeItemOutcome.read(r.path + "/" + ClozeItemOutcome.finalFile))
            let best = try XCTUnwrap(try ClozeItemOutcome.read(r.path + "/" + ClozeItemOutcome.bestFile))
            XCTAssertEqual(final.map(\.item), Array(0..<8))
            XCTAssertEqual(best.map(\.answer), final.map(\.answer))
            XCTAssertEqual(Double(final.filter(\.correct).count) / 8, r.cloze?.accuracy)
            // The best weights are those of the lowest validation loss in the metrics.
            let kept = try CanonicalJSON.decode(BestWeights.self, from: r.path + "/best/best.json")
            let lowest = r.validation.min { $0.loss < $1.loss }!
            XCTAssertEqual(kept.step, lowest.step)
            XCTAssertEqual(r.clozeBest?.step, lowest.step)
            if kept.step == r.stepsDone { XCTAssertEqual(best, final) }
        }
        XCTAssertTrue(html.contains("<tr class=\"paired\"><td class=\"num\">2</td><td>final</td><td>run-mdlm vs run-ar</td><td class=\"num\">8</td>"), html)
        XCTAssertTrue(html.contains("<td>best (steps "), html)
        // Each run states its estimator, draws and seeds; the mdlm bound comes with its standard error.
        XCTAssertTrue(html.contains("NELBO, exact_k: k uniform in 1...L masked tokens, weight L/k, an unbiased estimate of the bound; 2 draws per validation sequence (stratified in t); schedule seed 3, validation seed 0; final Monte-Carlo standard error"), html)
        XCTAssertTrue(html.contains("exact next-token NLL (no sampling); schedule seed 3"), html)
        XCTAssertTrue(try XCTUnwrap(doc.cells["run-mdlm"]?["final"]).contains(" ± "))
        // Each plot's points as CSV beside its SVG: the validation plot holds every logged validation loss.
        let csv = try String(contentsOfFile: dir + "/figures/plot-val-epochs.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "series,x,y")
        var expected: [String] = []
        for r in runs {
            // The label holds a comma, so it is quoted.
            for v in r.validation { expected.append("\"\(Report.runLabel(r))\",\(v.epoch),\(v.loss)") }
        }
        XCTAssertEqual(csv.dropFirst().map(String.init), expected)
        let svgs = try FileManager.default.contentsOfDirectory(atPath: dir + "/figures").filter { $0.hasSuffix(".svg") }
        for svg in svgs {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/figures/" + svg.dropLast(4) + ".csv"), svg)
        }
        for r in runs {
            let ledger = try Schedule(r.manifest.scheduleDir).manifest.ledger
            XCTAssertEqual(r.uniqueTokens, ledger.uniqueTokens)
            XCTAssertEqual(r.uniqueTokensSource, "schedule ledger")
            // The best validation loss and its epoch, read independently from metrics.jsonl.
            let lines = try String(contentsOfFile: r.path + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            let vals = lines.compactMap { l -> (Double, Double, Double)? in
                let o = try? JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
                guard let v = o?["val_loss"] as? Double, let e = o?["epoch"] as? Double else { return nil }
                return (e, v, o?["val_loss_stderr"] as? Double ?? 0)
            }
            XCTAssertEqual(vals.count, r.validation.count)
            XCTAssertGreaterThanOrEqual(vals.count, 2)
            let best = vals.min { $0.1 < $1.1 }!
            let row = try XCTUnwrap(doc.cells[r.name])
            XCTAssertEqual(row["best-epoch"], Report.epochs(best.0))
            // The bound with its Monte-Carlo standard error; AR's exact NLL without.
            XCTAssertEqual(row["best"], r.objective == .mdlm ? String(format: "≤ %.3f ± %.3f", best.1, best.2) : String(format: "%.3f", best.1))
            XCTAssertEqual(best.2 > 0, r.objective == .mdlm)
            XCTAssertEqual(row["kind"], r.objective == .mdlm ? "≤ NELBO bound" : "exact NLL")
            XCTAssertEqual(row["status"], "complete")
            XCTAssertEqual(row["tokens-seen"], Report.grouped(ledger.totalTokens))
        }
        XCTAssertEqual(doc.seriesPerPlot["plot-val-epochs"]?.count, 2)
        XCTAssertNil(doc.seriesPerPlot["plot-epochs-best"], "one epoch count: no curve over epochs")
        XCTAssertTrue(html.contains("Both were measured at 2 epochs only"))
    }
}
