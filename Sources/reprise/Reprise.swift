import ArgumentParser
import Foundation
import RepriseCore
import RepriseIngest
import ReprisePipeline

extension IngestConfig.Whitespace: ExpressibleByArgument {}

@main
struct Reprise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprise",
        abstract: "Prepare a corpus once and train AR and diffusion language models on it.",
        discussion: "Start with `reprise run Pipelines/default.yaml`; each stage also has its own command.",
        version: repriseVersion,
        subcommands: [RunCommand.self, StatusCommand.self, IngestCommand.self, TokenizerCommand.self, PackCommand.self, VerifyCommand.self, InspectCommand.self, ScheduleCommand.self, TrainCommand.self, ClozeCommand.self, EvalCommand.self, SampleCommand.self, ExportCommand.self, ReportCommand.self, BenchCommand.self])

    /// Parses and runs the command (negative numbers attached to their options first), with the kernel
    /// policy applied to the commands that run a model (`RunsModel`); every failure, the
    /// argument parser's usage errors included, is reported on standard error as `error: MESSAGE` (what
    /// `runReporting` prints for the commands' own errors).
    static func main() {
        do {
            var command = try parseAsRoot(attachingNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
            KernelPolicy.apply(to: command)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            var message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
            } else if !message.isEmpty {
                if message.hasPrefix("Error: ") { message = "error: " + message.dropFirst("Error: ".count) }
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// `--epochs -1` becomes `--epochs=-1`: the argument parser reads a lone "-1" as an option and would say
/// "Missing value for '--epochs'", where the option's own check says what range is allowed. A negative
/// number (or -inf) after a long option is joined to it; everything after "--" is left as it is.
func attachingNegativeNumbers(_ args: [String]) -> [String] {
    var out: [String] = []
    var i = 0
    while i < args.count {
        let a = args[i]
        if a == "--" { out += args[i...]; break }
        if a.hasPrefix("--") && !a.contains("=") && i + 1 < args.count {
            let next = args[i + 1]
            if next.hasPrefix("-") && next.count > 1 && Double(next) != nil {
                out.append(a + "=" + next)
                i += 2
                continue
            }
        }
        out.append(a)
        i += 1
    }
    return out
}

/// The version `reprise --version` prints.
let repriseVersion = "0.12.0"

/// Turns any error into a one-line message and a failure exit, without a stack trace.
func runReporting(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch {
        logLine("error: \(error.oneLine)")
        throw ExitCode.failure
    }
}

/// A config error ("train.cloze_draws must be ...") in the spelling of the command's options
/// ("--cloze-draws must be ..."): every key after `prefix` becomes its option name.
func optionSpelling(_ message: String, prefix: String) -> String {
    var out = "", rest = Substring(message)
    while let r = rest.range(of: prefix) {
        out += rest[..<r.lowerBound] + "--"
        rest = rest[r.upperBound...]
        let key = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        out += key.replacingOccurrences(of: "_", with: "-")
        rest = rest.dropFirst(key.count)
    }
    return out + rest
}

struct RunCommand: ParsableCommand, UsesWorkers, RunsModel {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file's stages in order, skipping those already up to date.",
        discussion: "Example: reprise run Pipelines/default.yaml --force")

    @Argument(help: "The pipeline file (YAML).")
    var pipeline = "Pipelines/default.yaml"
    @Flag(help: "Rebuild every stage even when its outputs are up to date.")
    var force = false
    @OptionGroup var workers: WorkerOptions
    @OptionGroup(title: "Data preparation in tasks (cluster job arrays)")
    var split: TaskOptions

    func validate() throws {
        _ = try split.mode()
        if !FileManager.default.fileExists(atPath: pipeline) {
            throw ValidationError("no pipeline file at \(pipeline): pass the path of a YAML file such as Pipelines/default.yaml")
        }
    }

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            let file = try PipelineFile.load(pipeline)
            var o = PipelineRunner.Options()
            o.force = force; o.threads = threads; o.quiet = quiet
            // One writer per work directory; the tasks of a split run write side by side (each its own share),
            // so only the merge and whole runs take the lock.
            let mode = try split.mode()
            var lock: DirectoryLock?
            if case .task = mode {} else { lock = try DirectoryLock(file.workDir, purpose: "run another pipeline's work_dir") }
            defer { lock?.release() }
            if let mode {
                for line in try PipelineTasks.run(file, mode: mode, pipelinePath: pipeline, options: o) { print(line) }
                return
            }
            // Each stage's line as soon as it ends (unbuffered, so logs show it then).
            try PipelineRunner.run(file, options: o) { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        }
    }
}

struct StatusCommand: ParsableCommand, UsesThreads {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each stage of a pipeline: up to date, stale (and why), or missing; runs nothing.",
        discussion: """
        Give the --threads that `reprise run` will use: a training run is tied to its thread count.

        Example: reprise status Pipelines/default.yaml
        """)

    @Argument(help: "The pipeline file (YAML).")
    var pipeline = "Pipelines/default.yaml"
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try runReporting {
            let file = try PipelineFile.load(pipeline)
            var o = PipelineRunner.Options()
            o.threads = threads
            let rows = try PipelineRunner.status(file, options: o)
            let width = rows.map(\.stage.count).max() ?? 0
            for (stage, state) in rows { print(stage.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + state) }
        }
    }
}

struct IngestCommand: ParsableCommand, UsesWorkers {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Read raw documents, clean, filter and deduplicate them.",
        discussion: """
        Inputs are files, directories (walked recursively in sorted order; links to directories inside them \
        are not followed) or glob patterns, or - for standard input. Plain text, JSONL, HTML, MediaWiki XML \
        exports, Parquet files (one document per row) and WARC/WET files (WET conversion records; WARC \
        responses holding HTML) are recognised by content, then extension; .zst, .gz, .bz2 and .xz files (but \
        not Parquet) are decompressed on the fly. Output: docs-NNNNN.jsonl.zst, excluded-NNNNN.jsonl.zst and \
        manifest.json in DIR.

        Settings: the preset (--preset, default prose), then the config file's keys, then the options below; \
        the manifest records the result.

        Examples:
          reprise ingest Corpora/raw --output /tmp/clean --config ingest.yaml
          reprise ingest src/ --preset code --output /tmp/code
          reprise ingest dump.jsonl.zst --text-field content.body --text-field text --id-field uid --output /tmp/clean
        """)

    @Argument(help: "Input files, directories or globs.")
    var inputs: [String]
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Option(help: "Ingest config file (YAML or JSON); every key is optional.")
    var config: String?
    @Option(help: "The settings the config file and the options are laid over: \(IngestConfig.presets.keys.sorted().joined(separator: " or ")) (default \(IngestConfig().preset)).")
    var preset: String?
    @Option(help: "JSONL: the field holding the text, a dotted path (repeat: the first that holds a string wins); Parquet: the column (default \(IngestConfig().textField.joined(separator: ", "))).")
    var textField: [String] = []
    @Option(help: "JSONL: the field holding a record's own id (\"\": none; default \(IngestConfig().idField)).")
    var idField: String?
    @Option(help: "collapse (prose: runs of spaces become one, lines trimmed) or preserve (code: indentation kept) (default: the preset's).")
    var whitespace: IngestConfig.Whitespace?
    @Option(help: "Drop documents with fewer characters after cleaning (default \(IngestConfig().minChars)).")
    var minChars: Int?
    @Option(help: "Drop documents larger than this many bytes of raw text (default \(IngestConfig().maxDocBytes)).")
    var maxDocBytes: Int?
    @Flag(help: "Exit with a non-zero status when any input failed or gave no file (without it: only when no document is kept).")
    var strict = false
    @OptionGroup var workers: WorkerOptions

    /// The preset, then the config file, then the options given.
    func makeConfig() throws -> IngestConfig {
        let base = try preset.map(IngestConfig.preset) ?? IngestConfig()
        var c: Overlay<IngestConfig>
        if let config {
            let file = try ConfigFile.load(IngestConfig.self, from: config, userInfo: [IngestConfig.presetKey: base.preset])
            if let preset, file.preset != preset {
                throw RepriseError("--preset \(preset): \(config) sets preset \(file.preset); give the preset in one place")
            }
            c = Overlay(file)
        } else {
            c = Overlay(base)
        }
        c(textField.isEmpty ? nil : textField, \.textField); c(idField, \.idField); c(whitespace, \.whitespace)
        c(minChars, \.minChars); c(maxDocBytes, \.maxDocBytes)
        try c.config.validate()
        return c.config
    }

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input file or directory") }
        if let preset, IngestConfig.presets[preset] == nil {
            throw ValidationError("--preset must be one of \(IngestConfig.presets.keys.sorted().joined(separator: ", ")) (got '\(preset)')")
        }
    }

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            let cfg = try makeConfig()
            var o = Ingest.Options()
            o.threads = threads; o.quiet = quiet
            let lock = try DirectoryLock(output, purpose: "choose another --output")
            defer { lock.release() }
            let m = try Ingest.run(inputs: inputs, output: output, config: cfg, options: o)
            let dropped = m.counts.dropped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("read \(m.counts.read) documents: kept \(m.counts.kept), dropped \(m.counts.read - m.counts.kept)\(dropped.isEmpty ? "" : " (\(dropped))")")
            let links = m.skippedLinks.map { ", \($0.count) links to directories not followed" } ?? ""
            print("inputs: \(m.inputs.count) files, \(m.failedInputs.count) failed, \(m.missingInputs.count) missing\(links); output in \(output)")
            if let error = m.nothingKeptError {
                logLine("error: \(error)")
                throw ExitCode.failure
            }
            if strict && (!m.failedInputs.isEmpty || !m.missingInputs.isEmpty) {
                logLine("error: \(m.failedInputs.count + m.missingInputs.count) inputs failed (--strict)")
                throw ExitCode.failure
            }
        }
    }
}
