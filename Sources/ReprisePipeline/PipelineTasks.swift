import Foundation
import RepriseCore
import RepriseIngest
import RepriseSchedules
import RepriseShards
import RepriseTokenizer

/// Data preparation split into N tasks that run as separate processes (in any order, on any machines that
/// share the work directory), and a merge that builds the global outputs. N tasks and the merges end with the
/// same bytes in `work_dir/ingest`, `work_dir/tokenizer`, `work_dir/shards` and the schedules as
/// `reprise run` in one process.
///
/// Two rounds, because packing needs the tokenizer and the tokenizer needs every task's counts:
///
/// 1. `--task I --tasks N` (round 1): task I reads and cleans input files k with k mod N = I (k: position in
///    the expanded input list, the same in every task) and counts the pre-tokens of the documents that
///    passed the filters. It writes `work_dir/tasks/IIIII-of-NNNNN/ingest/`: `candidates.bin.zst` (see
///    `IngestTasks`), `pretokens.bin.zst` (see `PreTokenCounter.write(to:)`) and, last, `manifest.json`.
///    `--merge` then checks that all N shares exist and were built from the same config and input list,
///    deduplicates their documents in global input order into `work_dir/ingest` (byte-identical to a
///    single run), and trains the tokenizer from the summed counts minus the counts of the documents
///    deduplication dropped (their texts are in the exclusion files).
/// 2. `--task I --tasks N` again (round 2; round 1 is then up to date and skipped): task I encodes documents
///    [I·D/N, (I+1)·D/N) of the merged ingest output (D documents) into
///    `work_dir/tasks/IIIII-of-NNNNN/pack/tokens.bin.zst` (per document: u8 split (0 train, 1 validation),
///    varint token count, u32 little-endian tokens ending with the end-of-text id) and `manifest.json`.
///    `--merge` writes the shards from the tasks' tokens in task order (= document order) with the same
///    writer `reprise pack` uses, then builds the schedules.
///
/// A task whose manifest shows the same config, task layout and input content is skipped; a task killed
/// part-way deletes its manifest first, so rerunning it rebuilds its share with the same bytes.
public enum PipelineTasks {
    public enum Mode: Equatable, Sendable {
        /// Task `index` (0-based) of `count`.
        case task(index: Int, count: Int)
        /// The merge; the task count comes from the task directories when nil.
        case merge(count: Int?)
    }

    /// The mode from the flags, else from SLURM's job-array variables; nil for an ordinary run of every stage
    /// in this process. Two ways to take the task from SLURM:
    /// - without `--tasks`, the array is the whole set of tasks: task (SLURM_ARRAY_TASK_ID −
    ///   SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP of SLURM_ARRAY_TASK_COUNT, so `--array=0-7` and
    ///   `--array=1-8` both give tasks 0 to 7 of 8;
    /// - with `--tasks N`, SLURM_ARRAY_TASK_ID is the task number itself, which lets `--array=3,5` rerun
    ///   tasks 3 and 5 of N.
    public static func mode(task: Int?, tasks: Int?, merge: Bool, environment env: [String: String]) throws -> Mode? {
        if let n = tasks, n < 1 { throw RepriseError("--tasks must be at least 1") }
        if merge {
            if task != nil { throw RepriseError("--merge and --task exclude each other: run the merge once, after all tasks have finished") }
            return .merge(count: tasks)
        }
        if let t = task {
            guard let n = tasks else { throw RepriseError("--task needs --tasks N, the number of tasks") }
            guard (0..<n).contains(t) else { throw RepriseError("--task \(t) is out of range: tasks are numbered 0 to \(n - 1)") }
            return .task(index: t, count: n)
        }
        let number = { (name: String) -> Int? in env[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        guard let rawID = env["SLURM_ARRAY_TASK_ID"] else {
            if tasks != nil { throw RepriseError("--tasks needs --task I (or SLURM_ARRAY_TASK_ID), or --merge") }
            return nil
        }
        guard let id = number("SLURM_ARRAY_TASK_ID") else { throw RepriseError("SLURM_ARRAY_TASK_ID='\(rawID)' is not a number") }
        if let n = tasks {
            guard (0..<n).contains(id) else {
                throw RepriseError("SLURM_ARRAY_TASK_ID=\(id) is not a task number below --tasks \(n): with --tasks, array ids are task numbers (submit --array=0-\(n - 1), or a subset of it)")
            }
            return .task(index: id, count: n)
        }
        guard let n = number("SLURM_ARRAY_TASK_COUNT") else {
            throw RepriseError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --tasks N")
        }
        let minimum = number("SLURM_ARRAY_TASK_MIN") ?? 0
        let step = max(1, number("SLURM_ARRAY_TASK_STEP") ?? 1)
        let offset = id - minimum
        guard offset >= 0, offset % step == 0, offset / step < n else {
            throw RepriseError("SLURM_ARRAY_TASK_ID=\(id) (minimum \(minimum), step \(step)) is not one of \(n) tasks: submit the array as --array=0-\(n - 1), or pass --tasks N to use array ids as task numbers")
        }
        return .task(index: offset / step, count: n)
    }

    /// Runs a task or the merge; returns one line per step saying what happened.
    public static func run(_ pipeline: PipelineFile, mode: Mode, pipelinePath: String,
                           options: PipelineRunner.Options = PipelineRunner.Options()) throws -> [String] {
        guard pipeline.stages.ingest != nil else {
            throw RepriseError("\(pipelinePath): the pipeline has no ingest stage, so there is nothing to split into tasks; run it without --task/--merge")
        }
        switch mode {
        case .task(let index, let count):
            let ctx = try Context(pipeline, path: pipelinePath, tasks: count, options: options)
            return try ctx.runTask(index)
        case .merge(let count):
            let n = try count ?? taskCount(pipeline)
            let ctx = try Context(pipeline, path: pipelinePath, tasks: n, options: options)
            return try ctx.merge()
        }
    }

    /// `work_dir/tasks/IIIII-of-NNNNN`.
    public static func taskDirectory(_ pipeline: PipelineFile, task: Int, of count: Int) -> String {
        pipeline.workDir + "/tasks/" + String(format: "%05d-of-%05d", task, count)
    }

    /// The task count of the directories in `work_dir/tasks`, when they agree on one.
    static func taskCount(_ pipeline: PipelineFile) throws -> Int {
        let dir = pipeline.workDir + "/tasks"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let counts = Set(names.compactMap { name -> Int? in
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[1] == "of", parts[0].count == 5 else { return nil }
            return Int(parts[2])
        })
        guard let n = counts.first else {
            throw RepriseError("no task outputs in \(dir)/: run the tasks first (reprise run PIPELINE --task I --tasks N for I = 0 ... N-1)")
        }
        guard counts.count == 1 else {
            throw RepriseError("\(dir)/ holds tasks of several runs (\(counts.sorted().map(String.init).joined(separator: ", ")) tasks): pass --tasks N")
        }
        return n
    }
}

/// Pre-token counting settings of round 1: a task counts only when the tokenizer trains on the ingest output.
struct CountingConfig: Codable, Equatable, Sendable {
    var pattern: SplitPattern
    var maxDocChars: Int?
    /// Number of partition files the counts are split into by a hash of the pre-token (see
    /// `PreTokenCounter.write(partitions:paths:)`); absent means 1.
    var partitions: Int?
    enum CodingKeys: String, CodingKey { case pattern, partitions, maxDocChars = "max_doc_chars" }

    /// One partition per `bytesPerPartition` of input; `REPRISE_PRETOKEN_PARTITIONS` sets the number.
    static let bytesPerPartition = 2 << 30

    static func partitions(inputBytes: Int, environment: [String: String]) throws -> Int {
        if let raw = environment["REPRISE_PRETOKEN_PARTITIONS"] {
            guard let p = Int(raw), (1...4096).contains(p) else {
                throw RepriseError("REPRISE_PRETOKEN_PARTITIONS='\(raw)' must be a number from 1 to 4096")
            }
            return p
        }
        return max(1, (inputBytes + bytesPerPartition - 1) / bytesPerPartition)
    }

    /// Partition p's file in a task's ingest directory: `pretokens.bin.zst` alone, else `pretokens-PPPPP.bin.zst`.
    static func fileName(_ p: Int, of partitions: Int) -> String {
        partitions == 1 ? "pretokens.bin.zst" : String(format: "pretokens-%05d.bin.zst", p)
    }
}

/// A task's pre-token counts files.
struct CountsFile: Codable, Equatable, Sendable {
    /// One file per partition; `documents` is the number of distinct pre-tokens in it.
    var files: [OutputFile]
    /// Documents counted and their bytes (after `max_doc_chars`).
    var documents: Int
    var textBytes: Int
    var preTokens: UInt64
    var distinctPreTokens: Int
    enum CodingKeys: String, CodingKey {
        case files, documents
        case textBytes = "text_bytes", preTokens = "pre_tokens", distinctPreTokens = "distinct_pre_tokens"
    }
}

/// `tasks/IIIII-of-NNNNN/ingest/manifest.json`: written last; its presence marks the share complete.
struct IngestTaskManifest: Codable, Equatable, Sendable {
    static let formatName = "reprise.task.ingest"
    var format = IngestTaskManifest.formatName
    var version = 1
    var task: Int
    var tasks: Int
    /// Hash of the ingest config.
    var configHash: String
    /// `IngestTasks.listHash` of the expanded input list, which every task must share.
    var listHash: String
    var inputCount: Int
    var missingInputs: [String]
    var counting: CountingConfig?
    var share: IngestShare
    var counts: CountsFile?
    /// Disk deduplication: the number of bucket files the task wrote (absent in memory mode).
    var dedupBuckets: Int?
    enum CodingKeys: String, CodingKey {
        case format, version, task, tasks, counting, share, counts
        case configHash = "config_hash", listHash = "list_hash", inputCount = "input_count", missingInputs = "missing_inputs"
        case dedupBuckets = "dedup_buckets"
    }
}

/// `tasks/IIIII-of-NNNNN/dedup/manifest.json`: the bucket round of disk deduplication (see `DiskDedup`).
struct DedupTaskManifest: Codable, Equatable, Sendable {
    static let formatName = "reprise.task.dedup"
    /// 3: link records name the key's next document; 2 had link records without it; 1 had edges between
    /// documents.
    static let currentVersion = 3
    var format = DedupTaskManifest.formatName
    var version = DedupTaskManifest.currentVersion
    var task: Int
    var tasks: Int
    var buckets: Int
    /// SHA-256 over the SHA-256 of every task's ingest manifest, in task order: the shares read.
    var sharesHash: String
    /// Bucket records read.
    var records: Int
    /// Keys shared by several documents.
    var sharedKeys: Int
    /// `dedup-links.bin`; `documents` is the number of link records.
    var links: OutputFile
    enum CodingKeys: String, CodingKey {
        case format, version, task, tasks, buckets, records, links
        case sharesHash = "shares_hash", sharedKeys = "shared_keys"
    }
}

/// The format and version of a task manifest, read before the rest so that one of another version is named
/// as such rather than as missing.
struct TaskManifestHeader: Codable, Sendable {
    var format: String
    var version: Int
}

/// `tasks/IIIII-of-NNNNN/pack/manifest.json`.
struct PackTaskManifest: Codable, Equatable, Sendable {
    static let formatName = "reprise.task.pack"
    var format = PackTaskManifest.formatName
    var version = 1
    var task: Int
    var tasks: Int
    var configHash: String
    /// The pack stage's input hash (merged ingest manifest and tokenizer) the share was encoded from.
    var inputHash: String
    var firstDocument: Int
    var documents: Int
    var tokens: OutputFile
    var trainDocuments: Int
    var trainTokens: Int
    var valDocuments: Int
    var valTokens: Int
    enum CodingKeys: String, CodingKey {
        case format, version, task, tasks, documents, tokens
        case configHash = "config_hash", inputHash = "input_hash", firstDocument = "first_document"
        case trainDocuments = "train_documents", trainTokens = "train_tokens"
        case valDocuments = "val_documents", valTokens = "val_tokens"
    }
}

/// `make`'s value, computed on the first call and kept: a stage's inputs, which `waiting`, `state` and
/// `build` all look at.
func once<T>(_ make: @escaping () throws -> T) -> () throws -> T {
    var value: T?
    return {
        if let value { return value }
        let made = try make()
        value = made
        return made
    }
}

/// Everything a task or the merge derives from the pipeline file and the input list.
struct Context {
    let pipeline: PipelineFile
    let path: String
    let n: Int
    let options: PipelineRunner.Options
    let ingest: PipelineFile.IngestStage
    let paths: [InputFile]
    let missing: [String]
    let skippedLinks: [String]
    let listHash: String
    let counting: CountingConfig?
    /// Disk deduplication's bucket count; nil when the merge deduplicates in memory.
    let dedupBuckets: Int?

    init(_ pipeline: PipelineFile, path: String, tasks: Int, options: PipelineRunner.Options) throws {
        self.pipeline = pipeline
        self.path = path
        n = tasks
        self.options = options
        ingest = pipeline.stages.ingest!
        let list = try InputFiles.expand(ingest.inputs)
        paths = list.files
        missing = list.missing
        skippedLinks = list.skippedLinks
        listHash = IngestTasks.listHash(paths, missing: missing)
        let inputBytes = paths.reduce(0) { $0 + InputFiles.size($1) }
        dedupBuckets = DiskDedup.usesDisk(ingest.config.dedup, inputBytes: inputBytes)
            ? DiskDedup.bucketCount(ingest.config.dedup, inputBytes: inputBytes) : nil
        if let tok = pipeline.stages.tokenizer, tok.inputs == nil {
            let p = try CountingConfig.partitions(inputBytes: inputBytes, environment: ProcessInfo.processInfo.environment)
            counting = CountingConfig(pattern: tok.config.pattern, maxDocChars: tok.config.maxDocChars, partitions: p == 1 ? nil : p)
        } else {
            counting = nil
        }
    }

    var docsDir: String { pipeline.path(ingest.output) }
    func dir(_ t: Int) -> String { PipelineTasks.taskDirectory(pipeline, task: t, of: n) }
    func name(_ t: Int) -> String { String(format: "%05d-of-%05d", t, n) }
    var taskHint: String { "reprise run \(path) --task I --tasks \(n)" }

    // MARK: Round 1: ingest share and pre-token counts

    /// Why a task's ingest share cannot be used as it is; nil when it can.
    func ingestStaleness(_ m: IngestTaskManifest, task t: Int) throws -> String? {
        if m.format != IngestTaskManifest.formatName || m.version != 1 { return "its manifest is of another version" }
        if m.task != t || m.tasks != n { return "it was built as task \(m.task) of \(m.tasks)" }
        if m.configHash != (try CanonicalJSON.hash(ingest.config)) { return "it was built with another ingest config" }
        if m.listHash != listHash || m.inputCount != paths.count { return "its input list differs from the current one (files added, removed or resized since it ran)" }
        if m.counting != counting { return "it was built with other tokenizer counting settings (pattern, max_doc_chars)" }
        if m.dedupBuckets != dedupBuckets {
            return "it was built for \(m.dedupBuckets.map { "disk deduplication with \($0) buckets" } ?? "deduplication in memory"), the config asks for \(dedupBuckets.map { "disk deduplication with \($0) buckets" } ?? "deduplication in memory")"
        }
        if m.share.files.map(\.index) != IngestTasks.files(ofTask: t, tasks: n, inputCount: paths.count) { return "its file list is not task \(t)'s" }
        return nil
    }

    func loadIngestMarker(_ t: Int) -> IngestTaskManifest? {
        try? CanonicalJSON.decode(IngestTaskManifest.self, from: StageOutput.manifestPath(dir(t) + "/ingest"))
    }

    /// Task t's shares as stages, in the order the task builds them: its ingest share (with the pre-token
    /// counts), its dedup buckets (disk deduplication only) and its pack share (when the pipeline packs).
    func taskStages(_ t: Int) -> [PipelineStage] {
        var stages = [PipelineStage(name: "ingest share", output: dir(t) + "/ingest", kind: .data,
                                    state: { try ingestShareState(t) }) { try buildIngestShare(t) }]
        if let buckets = dedupBuckets {
            let shares = once { try sharesHash() }
            stages.append(PipelineStage(name: "dedup buckets", output: dir(t) + "/dedup", kind: .data,
                                        state: { try shares().map { try dedupState(t, sharesHash: $0) } ?? .missing },
                                        waiting: { try shares() == nil ? "all \(n) ingest shares: when all tasks have finished, run them again (\(taskHint))" : nil }) {
                try buildDedupBuckets(t, buckets: buckets, sharesHash: try shares()!)
            })
        }
        if let pack = pipeline.stages.pack, let tok = pipeline.stages.tokenizer {
            let tokenizer = pipeline.path(tok.output)
            let inputs = once { () throws -> PackShareInputs? in
                guard let marker = loadIngestMarker(t) else { throw RepriseError("\(dir(t))/ingest: no ingest share to pack; rerun the task (\(taskHint))") }
                guard let global = try mergedIngest(matching: marker),
                      try TokenizerStage.state(inputs: tok.inputs ?? [docsDir], output: tokenizer, config: tok.config) == .upToDate
                else { return nil }
                return PackShareInputs(config: pack.config, tokenizer: tokenizer, ingest: global,
                                       inputHash: try PackStage.inputs(docs: docsDir, tokenizer: tokenizer).inputHash)
            }
            stages.append(PipelineStage(name: "pack share", output: dir(t) + "/pack", kind: .data,
                                        state: { try inputs().map { try packShareState(t, $0) } ?? .missing },
                                        waiting: {
                                            try inputs() == nil ? "the merged ingest output and tokenizer: when all \(n) tasks have finished, run `reprise run \(path) --merge`, then run the tasks again" : nil
                                        }) {
                try buildPackShare(t, try inputs()!)
            })
        }
        return stages
    }

    func runTask(_ t: Int) throws -> [String] {
        try PipelineStage.run(taskStages(t), force: options.force).map { "task \(t) of \(n): " + $0 }
    }

    /// Up to date when the share was built from the same config and input list and every file still has the
    /// content it was read with.
    func ingestShareState(_ t: Int) throws -> PipelineRunner.StageState {
        guard let m = loadIngestMarker(t) else { return .missing }
        if let why = try ingestStaleness(m, task: t) { return .stale(why) }
        let mine = IngestTasks.files(ofTask: t, tasks: n, inputCount: paths.count)
        let same = zip(mine, m.share.files).allSatisfy { k, f in InputFiles.sha256(paths[k]) == f.input?.sha256 }
        return same ? .upToDate : .stale("an input file's content changed")
    }

    func buildIngestShare(_ t: Int) throws -> String {
        let out = dir(t) + "/ingest"
        let mine = IngestTasks.files(ofTask: t, tasks: n, inputCount: paths.count)
        let stage = try StageOutput.open(out) { $0.hasSuffix(".zst") || $0.hasPrefix("dedup-") }
        var o = Ingest.Options()
        o.threads = options.threads
        o.quiet = options.quiet
        let counter = PreTokenCounter()
        var batch: [[UInt8]] = []
        var batchBytes = 0, documents = 0, textBytes = 0
        let split: PreTokenSplitter?
        if let c = counting {
            let preTokenizer = PreTokenizer(c.pattern)
            split = { preTokenizer.split($0, $1) }
        } else {
            split = nil
        }
        func flush() {
            if let split { counter.add(documents: batch, threads: options.threads, split: split) }
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
        }
        let share = try IngestTasks.runShare(files: mine.map { ($0, paths[$0]) }, dir: out, config: ingest.config,
                                             options: o, dedupBuckets: dedupBuckets) { text in
            guard let c = counting else { return }
            let doc = c.maxDocChars.map { TokenizerTraining.prefix(text, maxChars: $0) } ?? text
            documents += 1
            textBytes += doc.count
            batch.append(doc)
            batchBytes += doc.count
            if batchBytes >= 64 << 20 { flush() }
        }
        flush()
        var counts: CountsFile?
        if let c = counting {
            let p = c.partitions ?? 1
            let names = (0..<p).map { CountingConfig.fileName($0, of: p) }
            let written = try counter.write(partitions: p, paths: names.map { out + "/" + $0 })
            counts = CountsFile(files: zip(names, written).map { OutputFile(file: $0, bytes: $1.bytes, sha256: $1.sha256, documents: $1.entries) },
                                documents: documents, textBytes: textBytes, preTokens: counter.totalCount,
                                distinctPreTokens: counter.distinctCount)
        }
        let marker = IngestTaskManifest(task: t, tasks: n, configHash: try CanonicalJSON.hash(ingest.config),
                                        listHash: listHash, inputCount: paths.count, missingInputs: missing,
                                        counting: counting, share: share, counts: counts, dedupBuckets: dedupBuckets)
        try stage.finish(marker)
        let failed = share.files.filter { $0.input?.status != "ok" }.count
        var line = "\(mine.count) of \(paths.count) input files, \(share.candidates.documents) documents read, \(failed) failed inputs"
        if let c = counts { line += ", \(c.preTokens) pre-tokens counted in \(c.documents) documents" }
        return line
    }

    // MARK: Disk deduplication: bucket round

    /// SHA-256 over the SHA-256 of every task's ingest manifest; nil while one is missing or stale.
    func sharesHash() throws -> String? {
        var h = SHA256Stream()
        for t in 0..<n {
            let path = StageOutput.manifestPath(dir(t) + "/ingest")
            guard let m = loadIngestMarker(t), try ingestStaleness(m, task: t) == nil,
                  let hex = try? Hashing.sha256Hex(file: path) else { return nil }
            h.update(hex + "\n")
        }
        return h.finalizeHex()
    }

    func dedupStaleness(_ m: DedupTaskManifest, task t: Int, sharesHash: String) -> String? {
        if m.format != DedupTaskManifest.formatName || m.version != DedupTaskManifest.currentVersion { return "its manifest is of another version" }
        if m.task != t || m.tasks != n { return "it was built as task \(m.task) of \(m.tasks)" }
        if m.buckets != dedupBuckets { return "it was built with \(m.buckets) buckets" }
        if m.sharesHash != sharesHash { return "the ingest shares changed since it ran" }
        return nil
    }

    func dedupState(_ t: Int, sharesHash: String) throws -> PipelineRunner.StageState {
        guard let m = try? CanonicalJSON.decode(DedupTaskManifest.self, from: StageOutput.manifestPath(dir(t) + "/dedup")) else { return .missing }
        return dedupStaleness(m, task: t, sharesHash: sharesHash).map { .stale($0) } ?? .upToDate
    }

    /// Task t's buckets (b ≡ t mod N) of every task's bucket files → `dedup/dedup-links.bin`, once all N
    /// ingest shares exist.
    func buildDedupBuckets(_ t: Int, buckets: Int, sharesHash: String) throws -> String {
        let out = dir(t) + "/dedup"
        // Also the scratch runs and the edges file of an older version.
        let stage = try StageOutput.open(out) { $0.hasSuffix(".zst") || $0.contains(".tmp-") || $0.hasPrefix("dedup-") }
        let mine = Array(stride(from: t, to: buckets, by: n))
        let found = try DiskDedup.findLinks(dirs: (0..<n).map { dir($0) + "/ingest" }, buckets: mine,
                                            output: out + "/dedup-links.bin")
        let marker = DedupTaskManifest(task: t, tasks: n, buckets: buckets, sharesHash: sharesHash, records: found.records,
                                       sharedKeys: found.keys, links: found.file)
        try stage.finish(marker)
        return "\(mine.count) of \(buckets) buckets, \(found.records) keys, \(found.keys) shared by several documents (\(found.links) links)"
    }

    /// Every task's bucket-round manifest, or an error naming each missing or stale one.
    func dedupMarkers() throws -> [DedupTaskManifest] {
        guard let shares = try sharesHash() else { throw RepriseError("merge: the ingest shares are incomplete; run the tasks (\(taskHint))") }
        var markers: [DedupTaskManifest] = []
        var problems: [String] = []
        for t in 0..<n {
            let path = StageOutput.manifestPath(dir(t) + "/dedup")
            guard let m = try? CanonicalJSON.decode(DedupTaskManifest.self, from: path) else {
                if let h = try? CanonicalJSON.decode(TaskManifestHeader.self, from: path),
                   h.format != DedupTaskManifest.formatName || h.version != DedupTaskManifest.currentVersion {
                    problems.append("task \(t) (\(name(t)))'s dedup buckets are stale: \(path) is \(h.format) version \(h.version), this build reads version \(DedupTaskManifest.currentVersion)")
                } else if FileManager.default.fileExists(atPath: path) {
                    problems.append("task \(t) (\(name(t)))'s dedup buckets: \(path) cannot be read")
                } else {
                    problems.append("task \(t) (\(name(t))) has not run its dedup buckets: no \(path)")
                }
                continue
            }
            if let why = dedupStaleness(m, task: t, sharesHash: shares) {
                problems.append("task \(t) (\(name(t)))'s dedup buckets are stale: \(why)")
                continue
            }
            let links = dir(t) + "/dedup/" + m.links.file
            let size = ((try? FileManager.default.attributesOfItem(atPath: links))?[.size] as? Int) ?? -1
            if size != m.links.bytes {
                problems.append("\(links): \(size < 0 ? "missing" : "\(size) bytes"), its manifest says \(m.links.bytes)")
                continue
            }
            markers.append(m)
        }
        if !problems.isEmpty {
            throw RepriseError("merge: disk deduplication: \(problems.count) of \(n) bucket rounds missing or stale: \(listed(problems)). Run the tasks again when all ingest shares exist (\(taskHint)), then merge again")
        }
        return markers
    }

    // MARK: Round 2: pack share

    /// The merged ingest output when it was built from the current input list and config and holds this
    /// task's files with the content the task read; an error when its manifest contradicts itself.
    func mergedIngest(matching marker: IngestTaskManifest) throws -> IngestManifest? {
        guard FileManager.default.fileExists(atPath: StageOutput.manifestPath(docsDir)),
              StageDirectory.format(of: docsDir) == IngestManifest.formatName else { return nil }
        guard let m = try? CanonicalJSON.decode(IngestManifest.self, from: StageOutput.manifestPath(docsDir)) else { return nil }
        try StageDirectory.checkConsistency(m, path: StageOutput.manifestPath(docsDir), format: IngestManifest.formatName)
        guard m.configHash == (try? CanonicalJSON.hash(ingest.config)),
              IngestTasks.listHash(m.inputs.map { ($0.path, $0.bytes) }, missing: m.missingInputs) == listHash,
              m.inputs.count == paths.count else { return nil }
        for f in marker.share.files where m.inputs[f.index].sha256 != f.input?.sha256 { return nil }
        return m
    }

    func packStaleness(_ m: PackTaskManifest, task t: Int, inputHash: String, documents: Int) throws -> String? {
        guard let pack = pipeline.stages.pack else { return nil }
        if m.format != PackTaskManifest.formatName || m.version != 1 { return "its manifest is of another version" }
        if m.task != t || m.tasks != n { return "it was built as task \(m.task) of \(m.tasks)" }
        if m.configHash != (try CanonicalJSON.hash(pack.config)) { return "it was built with another pack config" }
        if m.inputHash != inputHash { return "it was encoded from another ingest output or tokenizer" }
        let range = documentRange(t, of: documents)
        if m.firstDocument != range.lowerBound || m.documents != range.count { return "it covers other documents" }
        return nil
    }

    /// Task t's documents of the merged ingest output: contiguous, so the merge concatenates in task order.
    func documentRange(_ t: Int, of documents: Int) -> Range<Int> {
        (t * documents / n)..<((t + 1) * documents / n)
    }

    /// What a pack share is encoded from, once the merge has written the ingest output and tokenizer.
    struct PackShareInputs {
        let config: PackConfig
        let tokenizer: String
        let ingest: IngestManifest
        let inputHash: String
    }

    func packShareState(_ t: Int, _ inputs: PackShareInputs) throws -> PipelineRunner.StageState {
        guard let m = try? CanonicalJSON.decode(PackTaskManifest.self, from: StageOutput.manifestPath(dir(t) + "/pack")) else { return .missing }
        return try packStaleness(m, task: t, inputHash: inputs.inputHash, documents: inputs.ingest.counts.kept).map { .stale($0) } ?? .upToDate
    }

    func buildPackShare(_ t: Int, _ inputs: PackShareInputs) throws -> String {
        let (global, tokenizer, pack) = (inputs.ingest, inputs.tokenizer, inputs.config)
        let inputHash = inputs.inputHash
        let out = dir(t) + "/pack"
        let range = documentRange(t, of: global.counts.kept)
        let stage = try StageOutput.open(out) { $0.hasSuffix(".zst") }
        let loaded = try LoadedTokenizer.load(tokenizer)
        guard let eot = loaded.model.specials[SpecialTokens.endOfText] else {
            throw RepriseError("\(tokenizer): the tokenizer has no \(SpecialTokens.endOfText) token to join documents with")
        }
        let name = "tokens.bin.zst"
        let file = try AtomicFileWriter(path: out + "/" + name)
        let encoder = ZstdEncoder(level: 3, checksum: true, threads: 1, jobBytes: ZstdEncoder.streamJobBytes) { try file.write($0) }
        var w = BinaryWriter()
        var batch: [(id: String, text: [UInt8])] = []
        var batchBytes = 0, done = 0
        var split = (train: (documents: 0, tokens: 0), val: (documents: 0, tokens: 0))
        let progress = Progress("pack share", totalItems: range.count, quiet: options.quiet)
        func flush() throws {
            let ids = loaded.model.encodeBatch(documents: batch.map(\.text), threads: options.threads, split: loaded.split)
            for (doc, tokens) in zip(batch, ids) {
                let validation = Packer.isValidation(id: doc.id, fraction: pack.valFraction)
                w.u8(validation ? 1 : 0)
                w.varint(tokens.count + 1)
                for v in tokens { w.u32(v) }
                w.u32(eot)
                if validation { split.val.documents += 1; split.val.tokens += tokens.count + 1 } else { split.train.documents += 1; split.train.tokens += tokens.count + 1 }
                if w.bytes.count >= 1 << 20 { try encoder.write(w.bytes); w.bytes.removeAll(keepingCapacity: true) }
            }
            done += batch.count
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            progress.update(items: done, itemName: "docs", bytes: 0)
        }
        var first = 0
        for entry in global.outputs {
            let fileRange = first..<(first + entry.documents)
            first = fileRange.upperBound
            if !fileRange.overlaps(range) { continue }
            let path = docsDir + "/" + entry.file
            var j = fileRange.lowerBound
            try IngestOutput.forEachDocument(dir: docsDir, entry: entry) { id, text in
                defer { j += 1 }
                guard range.contains(j) else { return }
                batch.append((id, text))
                batchBytes += text.count
                if batchBytes >= 32 << 20 { try flush() }
            }
            guard j == fileRange.upperBound else {
                throw RepriseError("\(path): \(j - fileRange.lowerBound) documents, the ingest manifest lists \(entry.documents); rebuild it with --merge")
            }
        }
        try flush()
        guard done == range.count else {
            throw RepriseError("\(docsDir): found \(done) of documents \(range.lowerBound)..<\(range.upperBound); the ingest output is incomplete: run `reprise run \(path) --merge`")
        }
        progress.finish(items: done, itemName: "docs", bytes: 0)
        try encoder.write(w.bytes)
        try encoder.finishFrame()
        let bytes = file.bytesWritten
        let sha = try file.commit()
        let marker = PackTaskManifest(task: t, tasks: n, configHash: try CanonicalJSON.hash(pack), inputHash: inputHash,
                                      firstDocument: range.lowerBound, documents: range.count,
                                      tokens: OutputFile(file: name, bytes: bytes, sha256: sha, documents: range.count),
                                      trainDocuments: split.train.documents, trainTokens: split.train.tokens,
                                      valDocuments: split.val.documents, valTokens: split.val.tokens)
        try stage.finish(marker)
        return "documents \(range.lowerBound)..<\(range.upperBound) of \(global.counts.kept), \(split.train.tokens) train and \(split.val.tokens) validation tokens"
    }
}
