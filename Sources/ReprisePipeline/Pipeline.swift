import Foundation
import RepriseCore
import RepriseIngest
import RepriseModel
import RepriseSchedules
import RepriseShards
import RepriseTrain
import RepriseTokenizer
import Yams

/// Reads a YAML (or JSON) config file into a Decodable type, naming the file in every error.
public enum ConfigFile {
    /// `userInfo` reaches the decoder (e.g. `IngestConfig.presetKey`).
    public static func load<T: Decodable>(_ type: T.Type, from path: String, userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        try checkNesting(Array(data), path: path)
        do {
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return try YAMLDecoder().decode(type, from: "{}", userInfo: userInfo)
            }
            return try YAMLDecoder().decode(type, from: text, userInfo: userInfo)
        } catch let e as RepriseError {
            throw RepriseError("\(path): \(e.message)")
        } catch let DecodingError.typeMismatch(type, ctx), let DecodingError.valueNotFound(type, ctx) {
            throw RepriseError(describe(expected: type, at: ctx.codingPath, in: text, file: path))
        } catch let DecodingError.keyNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            let detail = ctx.underlyingError.map { $0.oneLine } ?? ctx.debugDescription
            throw RepriseError("\(path): \(key.isEmpty ? "" : "at '\(key)': ")\(detail)")
        } catch {
            throw RepriseError("\(path): \(error.oneLine)")
        }
    }

    /// `FILE:LINE: KEY must be WHAT, found VALUE`: a value of the wrong type, with the line and the value
    /// looked up in the YAML itself (the decoder's own message names Swift types).
    static func describe(expected type: Any.Type, at codingPath: [CodingKey], in text: String, file: String) -> String {
        let key = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
        var node = try? Yams.compose(yaml: text)
        for k in codingPath {
            if let i = k.intValue { node = node?.sequence.flatMap { i < $0.count ? $0[i] : nil } } else { node = node?[k.stringValue] }
        }
        let name = "\(type)"
        let what = name.hasPrefix("Int") || name.hasPrefix("UInt") ? "a whole number"
            : name == "Double" || name == "Float" ? "a number"
            : name == "Bool" ? "true or false"
            : name == "String" ? "a string"
            : name.hasPrefix("Array") || name == "Sequence" ? "a list"
            : name.hasPrefix("Dictionary") || name == "Mapping" || name.contains("Config") || name.contains("Stage") ? "a mapping (key: value)"
            : "of type \(name)"
        let found: String
        switch node {
        case .scalar(let s)?: found = s.string.isEmpty || s.string == "~" || s.string == "null" ? "nothing (null)" : "'\(s.string)'"
        case .mapping?: found = "a mapping"
        case .sequence?: found = "a list"
        default: found = "nothing"
        }
        let line = node?.mark.map { ":\($0.line)" } ?? ""
        return "\(file)\(line): \(key.isEmpty ? "the file" : key) must be \(what), found \(found)"
    }
}

extension ConfigFile {
    /// Deepest nesting a config file may have. The YAML loader recurses once per level and a few thousand
    /// levels overflow the stack (a crash, not an error); real configs use fewer than ten.
    public static let maxNesting = 64

    /// Refuses text nested deeper than `maxNesting` levels before the YAML parser sees it:
    /// `FILE:LINE: nesting deeper than 64 levels`. The count is conservative (it never counts fewer levels
    /// than the parser builds): the open block indentation levels, plus the `- ` / `? ` entries that start
    /// a line, plus the open flow brackets `[` and `{`. Quoted strings, comments and the lines of block
    /// scalars (`|`, `>`) are skipped.
    static func checkNesting(_ b: [UInt8], path: String) throws {
        let n = b.count
        var indents: [Int] = []       // indentation of the open block levels
        var flow = 0                  // open [ and {
        var line = 1
        var scalarIndent = -1         // inside a block scalar: the indentation of the line that opened it
        var i = 0
        func fail() throws -> Never { throw RepriseError("\(path):\(line): nesting deeper than \(maxNesting) levels") }
        while i < n {
            // Start of a line.
            var lineStart = i
            var indent = 0
            while i < n && b[i] == 0x20 { i += 1; indent += 1 }
            let blank = i >= n || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x23
            var entries = 0
            if flow == 0 {
                if scalarIndent >= 0 && (blank || indent > scalarIndent) {
                    while i < n && b[i] != 0x0A { i += 1 }
                    i += 1; line += 1
                    continue
                }
                scalarIndent = -1
                if !blank {
                    while let last = indents.last, last > indent { indents.removeLast() }
                    if indents.last != indent { indents.append(indent) }
                    // "- - x", "? - x": each indicator opens one more level.
                    while i + 1 < n && (b[i] == 0x2D || b[i] == 0x3F) && (b[i + 1] == 0x20 || b[i + 1] == 0x0A) {
                        entries += 1
                        i += 1
                        while i < n && b[i] == 0x20 { i += 1 }
                    }
                    if indents.count + entries > maxNesting { try fail() }
                }
            }
            // The rest of the line. A quote opens a quoted scalar only where a scalar starts (first on the
            // line, or after "[", "{", ",", or ": ", "- ", "? "); the quote state ends with the line, so a
            // quoted scalar over several lines is counted as if its continuation lines were structure
            // (more levels, never fewer).
            lineStart = i
            var quote: UInt8 = 0
            var previous: UInt8 = 0       // the last character that was not a space on this line
            while i < n && b[i] != 0x0A {
                let c = b[i]
                if quote != 0 {
                    if c == 0x5C && quote == 0x22 { i += 2; continue }            // \x in "..."
                    if c == quote {
                        if quote == 0x27 && i + 1 < n && b[i + 1] == 0x27 { i += 2; continue }   // '' in '...'
                        quote = 0
                        previous = c
                    }
                    i += 1; continue
                }
                let spaced = i > lineStart && (b[i - 1] == 0x20 || b[i - 1] == 0x09)
                switch c {
                case 0x22, 0x27:
                    if previous == 0 || previous == 0x5B || previous == 0x7B || previous == 0x2C
                        || (spaced && (previous == 0x3A || previous == 0x2D || previous == 0x3F)) { quote = c }
                case 0x23 where i == lineStart || spaced:   // a comment
                    while i < n && b[i] != 0x0A { i += 1 }
                    continue
                case 0x5B, 0x7B:
                    flow += 1
                    if indents.count + entries + flow > maxNesting { try fail() }
                case 0x5D, 0x7D: flow = max(0, flow - 1)
                default: break
                }
                if c != 0x20 && c != 0x09 && c != 0x0D { previous = c }
                i += 1
            }
            // A block scalar header ends its line: "key: |", "- >-", "key: |2+".
            if flow == 0 && scalarIndent < 0 {
                var k = i
                while k > lineStart && (b[k - 1] == 0x20 || b[k - 1] == 0x0D || b[k - 1] == 0x2B || b[k - 1] == 0x2D
                                        || (0x31...0x39).contains(b[k - 1])) { k -= 1 }
                if k > lineStart && (b[k - 1] == 0x7C || b[k - 1] == 0x3E) {
                    // Only right after the line's start, ": ", "- " or "? " (in "a: b |" it is plain text).
                    var j = k - 1
                    while j > lineStart && b[j - 1] == 0x20 { j -= 1 }
                    if j == lineStart || (j < k - 1 && (b[j - 1] == 0x3A || b[j - 1] == 0x2D || b[j - 1] == 0x3F)) {
                        scalarIndent = indent
                    }
                }
            }
            i += 1; line += 1
        }
    }
}

/// A pipeline file: where outputs go and the configuration of each stage. Stages run in a fixed order.
///
/// ```yaml
/// work_dir: ../.build-runs/default  # outputs of every stage go below this directory
/// stages:
///   ingest:
///     inputs: [../Corpora/raw]      # files, directories or globs; relative paths are relative to this file
///     config: { ... }               # IngestConfig (see Sources/RepriseIngest/FORMAT.md)
/// ```
public struct PipelineFile: Decodable, Sendable {
    public var workDir: String
    public var stages: Stages

    public struct Stages: Decodable, Sendable {
        public var ingest: IngestStage?
        public var tokenizer: TokenizerStageConfig?
        public var pack: PackStageConfig?
        /// `stages.schedules`: plans by name, each built from the pack stage's shards into
        /// work_dir/schedules/NAME.
        public var schedules: [String: ScheduleConfig]?
        /// `stages.train`: runs by name, each following one of the plans above, into work_dir/runs/NAME.
        public var train: [String: TrainStageConfig]?
        /// The names under `stages.train` in the order the file lists them: the order runs are trained in.
        public var trainOrder: [String] = []
        /// `stages.report`: one HTML report of every run of the train stage, at work_dir/OUTPUT.
        public var report: ReportStageConfig?
        enum CodingKeys: String, CodingKey, CaseIterable { case ingest, tokenizer, pack, schedules, train, report }
        public init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ingest = try c.decodeIfPresent(IngestStage.self, forKey: .ingest)
            tokenizer = try c.decodeIfPresent(TokenizerStageConfig.self, forKey: .tokenizer)
            pack = try c.decodeIfPresent(PackStageConfig.self, forKey: .pack)
            schedules = try c.decodeIfPresent([String: ScheduleConfig].self, forKey: .schedules)
            train = try c.decodeIfPresent([String: TrainStageConfig].self, forKey: .train)
            let listed = StrictKeys.keysInOrder(c, forKey: .train)
            // Any name the decoder saw but the listing missed goes last, by name, so no run is dropped.
            trainOrder = listed + (train ?? [:]).keys.filter { !listed.contains($0) }.sorted()
            report = try c.decodeIfPresent(ReportStageConfig.self, forKey: .report)
            if report != nil && (train ?? [:]).isEmpty { throw RepriseError("stages.report needs runs under stages.train") }
            for (name, t) in (train ?? [:]) where schedules?[t.schedule] == nil {
                throw RepriseError("stages.train.\(name).schedule: '\(t.schedule)' is not a plan under stages.schedules; known: \((schedules ?? [:]).keys.sorted().joined(separator: ", "))")
            }
            for name in Array((schedules ?? [:]).keys) + Array((train ?? [:]).keys) where name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                throw RepriseError("stages: '\(name)' is not a usable plan or run name (letters, digits, - and _ only)")
            }
        }
    }

    /// `stages.pack`: packs the ingest output with the tokenizer stage's tokenizer.
    public struct PackStageConfig: Decodable, Sendable {
        public var output: String
        public var config: PackConfig
        enum CodingKeys: String, CodingKey, CaseIterable { case output, config }
        public init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            output = try PipelineFile.outputName(c.decodeIfPresent(String.self, forKey: .output) ?? "shards", stage: "pack")
            config = try c.decodeIfPresent(PackConfig.self, forKey: .config) ?? PackConfig()
        }
    }

    /// `stages.tokenizer`: inputs default to the ingest stage's output.
    public struct TokenizerStageConfig: Decodable, Sendable {
        public var inputs: [String]?
        public var output: String
        public var config: TokenizerConfig
        enum CodingKeys: String, CodingKey, CaseIterable { case inputs, output, config }
        public init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inputs = try c.decodeIfPresent([String].self, forKey: .inputs)
            output = try PipelineFile.outputName(c.decodeIfPresent(String.self, forKey: .output) ?? "tokenizer", stage: "tokenizer")
            config = try c.decodeIfPresent(TokenizerConfig.self, forKey: .config) ?? TokenizerConfig()
        }
    }

    public struct IngestStage: Decodable, Sendable {
        public var inputs: [String]
        public var output: String
        public var config: IngestConfig
        enum CodingKeys: String, CodingKey, CaseIterable { case inputs, output, config }
        public init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inputs = try c.decode([String].self, forKey: .inputs)
            if inputs.isEmpty { throw RepriseError("stages.ingest.inputs must list at least one file or directory") }
            if inputs.contains(InputFiles.standardInput) {
                throw RepriseError("stages.ingest.inputs: - (standard input) cannot be a pipeline input: a pipeline checks its inputs for changes before it reads them, and standard input can be read only once; save it to a file and list that, or run `reprise ingest -`")
            }
            output = try PipelineFile.outputName(c.decodeIfPresent(String.self, forKey: .output) ?? "ingest", stage: "ingest")
            config = try c.decodeIfPresent(IngestConfig.self, forKey: .config) ?? IngestConfig()
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case workDir = "work_dir", stages }
    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        workDir = try c.decode(String.self, forKey: .workDir)
        if workDir.trimmingCharacters(in: .whitespaces).isEmpty || Paths.normalize(workDir) == "/" {
            throw RepriseError("work_dir: '\(workDir)' is not a usable work directory: name a directory of its own (stages clear their outputs in it)")
        }
        stages = try c.decode(Stages.self, forKey: .stages)
        if stages.tokenizer != nil && stages.tokenizer?.inputs == nil && stages.ingest == nil {
            throw RepriseError("stages.tokenizer needs inputs when there is no ingest stage")
        }
        if stages.pack != nil && (stages.ingest == nil || stages.tokenizer == nil) {
            throw RepriseError("stages.pack needs an ingest and a tokenizer stage")
        }
        if stages.schedules != nil && stages.pack == nil {
            throw RepriseError("stages.schedules needs a pack stage")
        }
    }

    /// `stages.report`.
    public struct ReportStageConfig: Decodable, Sendable {
        public var output: String
        public var title: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case output, title }
        public init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            output = try PipelineFile.outputName(c.decodeIfPresent(String.self, forKey: .output) ?? "report.html", stage: "report")
            title = try c.decodeIfPresent(String.self, forKey: .title)
        }
    }

    /// A stage's `output`: a path inside work_dir (no `..`, not absolute), since every stage clears its output
    /// directory and the work directory is what the pipeline owns.
    static func outputName(_ name: String, stage: String) throws -> String {
        let normal = Paths.normalize(name)
        if name.hasPrefix("/") || normal == "." || normal == ".." || normal.hasPrefix("../") {
            throw RepriseError("stages.\(stage).output: '\(name)' must be a path inside work_dir (relative, without ..)")
        }
        return normal
    }

    /// Where a stage writes.
    public func path(_ output: String) -> String { workDir + "/" + output }
    /// Where the plan named `name` of the schedules stage goes.
    public func schedulePath(_ name: String) -> String { workDir + "/schedules/" + name }
    /// Where the run named `name` of the train stage goes.
    public func runPath(_ name: String) -> String { workDir + "/runs/" + name }

    /// Reads a pipeline file; its relative paths (work_dir, inputs) are taken relative to the file's own
    /// directory, so a pipeline means the same wherever it is run from.
    public static func load(_ path: String) throws -> PipelineFile {
        var pipeline = try ConfigFile.load(PipelineFile.self, from: path)
        pipeline.resolvePaths(against: (path as NSString).deletingLastPathComponent)
        if let problem = pipeline.crossStageProblem() { throw RepriseError("\(path): \(problem)") }
        return pipeline
    }

    /// Settings of one stage that contradict another's, found before anything runs: a training sequence
    /// longer than a run's model context.
    func crossStageProblem() -> String? {
        guard let pack = stages.pack else { return nil }
        for (name, run) in (stages.train ?? [:]).sorted(by: { $0.key < $1.key }) {
            // The vocabulary is not known yet; it does not change the context.
            guard let model = try? ModelConfig.load(presetOrPath: run.model, vocabSize: 1) else { continue }
            if pack.config.seqLen > model.context {
                return "stages.train.\(name): the model '\(run.model)' has a context of \(model.context) tokens, shorter than stages.pack.config.seq_len (\(pack.config.seqLen)); lower seq_len or use a model with a longer context"
            }
        }
        return nil
    }

    mutating func resolvePaths(against base: String) {
        func resolve(_ p: String) -> String { p == "-" ? p : Paths.resolve(p, against: base) }
        workDir = resolve(workDir)
        if let inputs = stages.ingest?.inputs { stages.ingest!.inputs = inputs.map(resolve) }
        if let inputs = stages.tokenizer?.inputs { stages.tokenizer!.inputs = inputs.map(resolve) }
        // A model given as a file (not a preset name) is a path too.
        for (name, run) in stages.train ?? [:] where !ModelConfig.presetNames.contains(run.model) {
            stages.train![name]!.model = resolve(run.model)
        }
    }
}

/// Runs a pipeline's stages in order, skipping each stage whose manifest shows the same inputs and config.
public enum PipelineRunner {
    public enum StageState: Equatable, Sendable {
        case upToDate
        case missing
        case stale(String)
    }

    public struct Options: Sendable {
        public var force = false
        public var threads = defaultThreadCount
        public var quiet = false
        public init() {}
    }

    /// A stage's state from its output manifest: missing, stale (config or inputs changed, the manifest
    /// contradicts itself, or a file it lists is missing or of another size) or up to date. `hashes` reads
    /// the manifest's config and input hashes; `inputHash` computes the current inputs' one (only when the
    /// config matches and the outputs are all there, since it may read every input).
    static func stageState<M: StageManifest>(_ type: M.Type, output: String, config: some Encodable,
                                             hashes: (M) -> (config: String, input: String),
                                             inputHash: () throws -> String) throws -> StageState {
        let manifestPath = StageOutput.manifestPath(output)
        guard FileManager.default.fileExists(atPath: manifestPath) else { return .missing }
        guard let manifest = try? CanonicalJSON.decode(M.self, from: manifestPath) else {
            return .stale("its manifest is unreadable or of another version")
        }
        if let problem = manifest.inconsistencies.first { return .stale("\(manifestPath): \(problem)") }
        let recorded = hashes(manifest)
        if recorded.config != (try CanonicalJSON.hash(config)) { return .stale("its config changed") }
        if let missing = StageDirectory.missingOutput(output, manifest) { return .stale(missing) }
        if recorded.input != (try? inputHash()) { return .stale("its inputs changed") }
        return .upToDate
    }

    public static func ingestState(_ stage: PipelineFile.IngestStage, output: String) throws -> StageState {
        try stageState(IngestManifest.self, output: output, config: stage.config,
                       hashes: { ($0.configHash, $0.inputHash) }, inputHash: { try Ingest.fingerprint(stage.inputs).hash })
    }

    /// A pipeline's stages in the order they run, each bound to its inputs and output: what `run` and
    /// `status` walk (a partitioned run's tasks and merge walk stages of their own, see `Context`).
    static func stages(_ pipeline: PipelineFile, options: Options) -> [PipelineStage] {
        var out: [PipelineStage] = []
        if let ingest = pipeline.stages.ingest {
            let output = pipeline.path(ingest.output)
            out.append(PipelineStage(name: "ingest", output: output, kind: .data,
                                     state: { try ingestState(ingest, output: output) }) {
                var o = Ingest.Options()
                o.threads = options.threads
                o.quiet = options.quiet
                let m = try Ingest.run(inputs: ingest.inputs, output: output, config: ingest.config, options: o)
                if let error = m.nothingKeptError { throw RepriseError("ingest: \(error)") }
                return "\(m.counts.kept) of \(m.counts.read) documents kept, \(m.failedInputs.count) failed inputs"
            })
        }
        if let tok = pipeline.stages.tokenizer {
            let output = pipeline.path(tok.output)
            let inputs = tok.inputs ?? [pipeline.path(pipeline.stages.ingest!.output)]
            out.append(PipelineStage(name: "tokenizer", output: output, kind: .data,
                                     state: { try TokenizerStage.state(inputs: inputs, output: output, config: tok.config) }) {
                let m = try TokenizerStage.train(inputs: inputs, output: output, config: tok.config,
                                                 threads: options.threads, quiet: options.quiet)
                return "\(m.vocabSize) tokens (\(m.merges) merges) from \(m.documents) documents"
            })
        }
        if let pack = pipeline.stages.pack, let ingest = pipeline.stages.ingest, let tok = pipeline.stages.tokenizer {
            let output = pipeline.path(pack.output)
            let docs = pipeline.path(ingest.output), tokenizer = pipeline.path(tok.output)
            out.append(PipelineStage(name: "pack", output: output, kind: .data,
                                     state: { try PackStage.state(docs: docs, tokenizer: tokenizer, output: output, config: pack.config) }) {
                let m = try PackStage.pack(docs: docs, tokenizer: tokenizer, output: output, config: pack.config,
                                           threads: options.threads, quiet: options.quiet)
                return "\(m.train.tokens) train and \(m.val.tokens) validation tokens, \(m.train.sequences) train sequences of \(m.config.seqLen)"
            })
        }
        if let pack = pipeline.stages.pack {
            out += scheduleStages(pipeline, shards: pipeline.path(pack.output), options: options)
        }
        if let train = pipeline.stages.train, let pack = pipeline.stages.pack, let tok = pipeline.stages.tokenizer {
            for name in pipeline.stages.trainOrder {
                guard let stage = train[name] else { continue }
                // The job reads the tokenizer, so it is made when the stage is looked at, after the data stages.
                let job = {
                    try TrainStage.job(stage, shards: pipeline.path(pack.output), schedule: pipeline.schedulePath(stage.schedule),
                                       tokenizer: pipeline.path(tok.output), output: pipeline.runPath(name), options: options)
                }
                out.append(PipelineStage(name: "train \(name)", output: pipeline.runPath(name), kind: .train,
                                         state: { try TrainStage.state(try job()) }) {
                    let s = try TrainStage.run(try job(), force: options.force)
                    return String(format: "%d steps (%.2f epochs), validation %@ %.4f%@ nats/token, %.4f bits/byte%@",
                                  s.steps, s.epochs, s.valIsBound ? "bound" : "loss", s.valLoss, s.valStderrText,
                                  s.valBitsPerByte, s.clozeText)
                })
            }
        }
        return out
    }

    /// The plans of the schedules stage, built from `shards`, in name order.
    static func scheduleStages(_ pipeline: PipelineFile, shards: String, options: Options) -> [PipelineStage] {
        (pipeline.stages.schedules ?? [:]).sorted(by: { $0.key < $1.key }).map { name, config in
            let output = pipeline.schedulePath(name)
            return PipelineStage(name: "schedule \(name)", output: output, kind: .schedule,
                                 state: { try ScheduleStage.state(shards: shards, output: output, config: config) },
                                 check: {
                                     // Plans need both splits; say so once, before any plan is looked at.
                                     if let problem = try PackManifest.load(shards).emptySplitProblem { throw RepriseError("pack: \(problem)") }
                                 }) {
                let m = try ScheduleBuilder.build(shards: shards, config: config, output: output,
                                                  threads: options.threads, quiet: options.quiet)
                return "\(m.config.objective.rawValue), \(m.ledger.epochs) epochs of \(m.ledger.batchesPerEpoch) batches, \(m.ledger.totalTokens) tokens fed from \(m.ledger.uniqueTokens) unique\(m.ledger.shortBatches.map { ", \($0) short batches" } ?? "")"
            }
        }
    }

    /// Each stage's state without running anything: up to date, stale (and why) or missing. A stage after
    /// a data stage (ingest, tokenizer, pack) that will rerun is reported as waiting for it.
    public static func status(_ pipeline: PipelineFile, options: Options = Options()) throws -> [(stage: String, state: String)] {
        var out: [(String, String)] = []
        var rerun: String?
        for stage in stages(pipeline, options: options) {
            if let first = rerun { out.append((stage.name, "waits for \(first)")); continue }
            let s: StageState
            do { s = try stage.state() } catch { s = .stale(error.oneLine) }
            switch s {
            case .upToDate: out.append((stage.name, "up to date"))
            case .missing: out.append((stage.name, "missing"))
            case .stale(let why): out.append((stage.name, "stale: \(why)"))
            }
            if s != .upToDate && stage.kind == .data { rerun = stage.name }
        }
        return out
    }

    /// Runs every stage that is not up to date, in order. Returns one line per stage saying what happened;
    /// `onLine` gets each line as soon as its stage ends.
    @discardableResult
    public static func run(_ pipeline: PipelineFile, options: Options = Options(),
                           onLine: (String) -> Void = { _ in }) throws -> [String] {
        var report = try PipelineStage.run(stages(pipeline, options: options), force: options.force, onLine: onLine)
        func add(_ line: String) { report.append(line); onLine(line) }
        if let r = pipeline.stages.report {
            // Cheap, so always rewritten from the runs' current files (the bytes only change when they do).
            let runs = pipeline.stages.trainOrder.map { pipeline.runPath($0) }
            var o = Report.Options()
            if let title = r.title { o.title = title }
            let output = pipeline.path(r.output)
            _ = try Report.write(runs: runs, output: output, options: o)
            add("report: \(runs.count) runs; open \(output)")
        }
        return report
    }
}

/// One stage of a pipeline bound to its inputs and output: whether it is up to date, and how to build it.
struct PipelineStage {
    /// Data stages form a chain (each reads the one before); plans read the shards and runs their plan, so a
    /// stale plan or run holds up nothing after it.
    enum Kind { case data, schedule, train }

    /// "ingest", "tokenizer", "pack", "schedule NAME", "train NAME".
    let name: String
    let output: String
    let kind: Kind
    /// Up to date, missing or stale, from the output's manifest and the current inputs.
    let state: () throws -> PipelineRunner.StageState
    /// A check of the inputs done before `run` looks at the stage (an error ends the run).
    var check: () throws -> Void = {}
    /// Why the stage cannot be built yet, when an input that other processes make is not ready (the shares
    /// of a partitioned run); nil when it can. Looked at when the stage is not up to date, before `build`.
    var waiting: () throws -> String? = { nil }
    /// Builds the output; returns what was made, for the stage's line.
    let build: () throws -> String

    /// Builds the stage unless it waits or is up to date (`force`: builds whenever it can); its line,
    /// `NAME: WHAT (OUTPUT)`, `NAME: up to date (OUTPUT)` or `NAME: waits for WHAT`.
    func run(force: Bool) throws -> (line: String, waits: Bool) {
        try check()
        if !force, try state() == .upToDate { return ("\(name): up to date (\(output))", false) }
        if let why = try waiting() { return ("\(name): waits for \(why)", true) }
        return ("\(name): \(try build()) (\(output))", false)
    }

    /// Runs the stages in order, one line each, passed to `onLine` as soon as the stage ends; once a data
    /// stage waits, the stages after it wait for it.
    static func run(_ stages: [PipelineStage], force: Bool, onLine: (String) -> Void = { _ in }) throws -> [String] {
        var lines: [String] = []
        var waitingFor: String?
        for stage in stages {
            let line: String
            if let first = waitingFor {
                line = "\(stage.name): waits for \(first)"
            } else {
                let r = try stage.run(force: force)
                line = r.line
                if r.waits && stage.kind == .data { waitingFor = stage.name }
            }
            lines.append(line)
            onLine(line)
        }
        return lines
    }
}
