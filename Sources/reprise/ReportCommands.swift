import ArgumentParser
import Foundation
import RepriseCore
import RepriseTrain

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML report (tables and SVG plots) comparing training runs.",
        discussion: """
        Reads each RUN's run.json, metrics.jsonl and summary.json (a run still in progress has none and is \
        shown as such), groups the runs by unique-token budget and model, and writes one HTML file with \
        inline CSS and SVG and no scripts: the runs at a glance (objective, budget, epochs, tokens processed, \
        learning rate, weight decay, seeds, best and final loss, cloze), best validation loss against epochs \
        for AR and diffusion (where the curves cross, computed from the data), the same points against tokens \
        processed with, per budget and overall, where the diffusion bound first goes below AR's best at that \
        budget (or the smallest gap), seeds and sweeps (runs of one objective and epoch count that differ only \
        by seed are averaged, with their range; runs that differ by a setting such as learning rate or weight \
        decay are a sweep, tabled, and the curve takes its best configuration and says so), \
        validation loss against epochs and \
        tokens seen, smoothed training loss, cloze accuracy when the metrics have it (and, for runs with \
        per-item outcomes on the same items, AR against diffusion item by item: McNemar's exact test and a \
        paired-bootstrap interval, final weights and best weights), throughput, and what was measured: \
        per run its estimator, draws, seeds and learning rate. Diffusion losses are labelled as NELBO upper \
        bounds, with their Monte-Carlo standard error.

        Example: reprise report runs/ar-e4 runs/mdlm-e4 runs/ar-e16 runs/mdlm-e16 --output report.html
        """)

    @Argument(help: ArgumentHelp("Run directories (outputs of `reprise train`).", valueName: "run"))
    var runs: [String]
    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output: String
    @Option(help: "The report's title (default: one naming the objectives, budgets and epoch range of the runs).")
    var title: String?
    @Option(help: "Also write each plot as a standalone SVG file in this directory (ID.svg), its plotted points as CSV (ID.csv: series,x,y), and grid.csv: one row per run (settings, seeds, estimator, best and final loss, cloze).")
    var figures: String?

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory (the --output of `reprise train`)") }
        for r in runs where !FileManager.default.isDirectory(r) {
            throw ValidationError("\(r) is not a directory: give run directories written by `reprise train --output`")
        }
        if FileManager.default.isDirectory(output) {
            throw ValidationError("\(output) is a directory: give the path of the HTML file to write, e.g. \(output)/report.html")
        }
    }

    func run() throws {
        try runReporting {
            var options = Report.Options()
            if let title { options.title = title }
            options.host = Report.hostDescription()
            let read = try Report.write(runs: runs, output: output, options: options, figures: figures)
            let complete = read.filter(\.isComplete).count
            print("report of \(read.count) runs (\(complete) complete, \(read.count - complete) in progress) written to \(output)"
                  + (figures.map { "; plots as SVG and CSV files and grid.csv in \($0)" } ?? ""))
        }
    }
}
