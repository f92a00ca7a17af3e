import Foundation
import RepriseCore
import RepriseShards

/// One plan file as the manifest lists it.
public struct PlanFileEntry: Codable, Sendable, Equatable {
    public var file: String
    public var bytes: Int
    public var sha256: String
}

/// What the plan feeds, so that data reuse is explicit.
public struct ReuseLedger: Codable, Sendable, Equatable {
    public var epochs: Int
    public var sequencesPerEpoch: Int
    public var tokensPerSequence: Int
    public var tokensPerEpoch: Int
    /// Distinct training tokens (the planned sequences, each seen once per epoch).
    public var uniqueTokens: Int
    /// Tokens the whole plan feeds: epochs × tokens per epoch.
    public var totalTokens: Int
    /// Every sequence is seen exactly once per epoch, so this is `epochs` for every sequence.
    public var repetitionsPerSequence: Int
    public var batchesPerEpoch: Int
    public var steps: Int
    /// Bytes per sequence per epoch before compression (4 for the order, + 2 for t) and on disk.
    public var planBytesPerSequenceEpoch: Int
    public var diskBytesPerSequenceEpoch: Double
    /// mdlm: batches (over all epochs) trained at a length below seq_len (`short_fraction`); nil otherwise.
    public var shortBatches: Int? = nil

    enum CodingKeys: String, CodingKey {
        case epochs, steps
        case sequencesPerEpoch = "sequences_per_epoch", tokensPerSequence = "tokens_per_sequence"
        case tokensPerEpoch = "tokens_per_epoch", uniqueTokens = "unique_tokens", totalTokens = "total_tokens"
        case repetitionsPerSequence = "repetitions_per_sequence", batchesPerEpoch = "batches_per_epoch"
        case planBytesPerSequenceEpoch = "plan_bytes_per_sequence_epoch"
        case diskBytesPerSequenceEpoch = "disk_bytes_per_sequence_epoch"
        case shortBatches = "short_batches"
    }
}

/// `manifest.json` of a schedule directory.
public struct ScheduleManifest: Codable, Sendable, Equatable {
    public var format = "reprise.schedule"
    public var version = 1
    public var config: ScheduleConfig
    public var configHash: String
    /// SHA-256 of the shards' manifest.json: the plan belongs to exactly that dataset.
    public var inputHash: String
    /// The shards directory, relative to the schedule directory as stored; `Schedule(dir)` resolves it.
    public var shardsDir: String
    public var seqLen: Int
    public var trainSequences: Int
    /// With a budget (`sequences` > 0): the train split's sequence count it was taken from; the plan's
    /// sequence indices are below it (spread) or below `trainSequences` (first). Absent without a budget.
    public var splitSequences: Int? = nil
    /// Validation sequences covered by the validation plan (diffusion objectives).
    public var valSequences: Int
    /// Sequences per shuffle block (about one frame) and blocks per shuffle window.
    public var blockSequences: Int
    public var windowBlocks: Int
    public var epochFiles: [PlanFileEntry]
    public var validationFile: PlanFileEntry?
    public var noiseTableFile: PlanFileEntry?
    public var ledger: ReuseLedger

    enum CodingKeys: String, CodingKey {
        case format, version, config, ledger
        case configHash = "config_hash", inputHash = "input_hash", shardsDir = "shards_dir", seqLen = "seq_len"
        case trainSequences = "train_sequences", valSequences = "val_sequences", splitSequences = "split_sequences"
        case blockSequences = "block_sequences", windowBlocks = "window_blocks", epochFiles = "epoch_files"
        case validationFile = "validation_file", noiseTableFile = "noise_table_file"
    }

    public var batchesPerEpoch: Int { ledger.batchesPerEpoch }

    /// The training sequences of the plan, in increasing order (each appears once in every epoch).
    public var selectedSequences: [UInt32] {
        ScheduleBuilder.selection(total: splitSequences ?? trainSequences, count: trainSequences,
                                  blockSequences: blockSequences, selection: config.selection)
            ?? (0..<UInt32(trainSequences)).map { $0 }
    }
}

extension ScheduleManifest: StageManifest {
    public var listedFiles: [(file: String, bytes: Int)] {
        (epochFiles + [validationFile, noiseTableFile].compactMap { $0 }).map { ($0.file, $0.bytes) }
    }

    /// The ledger and the plan's shape recomputed from the config and the sequence count as
    /// `ScheduleBuilder.build` makes them (wrapping arithmetic: edited values must not crash the check).
    public var inconsistencies: [String] {
        var out: [String] = []
        func expect(_ field: String, _ recorded: Int, _ how: String, _ made: Int) {
            if recorded != made { out.append("\(field) is \(recorded), \(how) = \(made)") }
        }
        let n = trainSequences, E = config.epochs, L = seqLen, B = max(1, config.batchSize)
        let diffusion = config.objective.isDiffusion
        if n < 1 || L < 1 || blockSequences < 1 { out.append("train_sequences, seq_len and block_sequences must be at least 1 (they are \(n), \(L), \(blockSequences))") }
        if config.sequences > 0 {
            expect("train_sequences", n, "the config's sequences", config.sequences)
            if let split = splitSequences, split < n { out.append("split_sequences is \(split), less than train_sequences \(n)") }
            if splitSequences == nil { out.append("split_sequences is absent, the config's sequences (\(config.sequences)) make it required") }
        } else if let split = splitSequences {
            out.append("split_sequences is \(split), a plan without a budget has none")
        }
        expect("window_blocks", windowBlocks, "the config's shuffle_window", config.shuffleWindow)
        expect("epoch_files", epochFiles.count, "the config's epochs", E)
        if diffusion != (validationFile != nil) || diffusion != (noiseTableFile != nil) {
            out.append("validation_file and noise_table_file are \(diffusion ? "required" : "absent") for the \(config.objective.rawValue) objective")
        }
        if !diffusion { expect("val_sequences", valSequences, "for the ar objective", 0) }
        let l = ledger
        let batches = (n &+ B &- 1) / B
        expect("ledger.epochs", l.epochs, "the config's epochs", E)
        expect("ledger.sequences_per_epoch", l.sequencesPerEpoch, "train_sequences", n)
        expect("ledger.tokens_per_sequence", l.tokensPerSequence, "seq_len", L)
        expect("ledger.tokens_per_epoch", l.tokensPerEpoch, "train_sequences × seq_len", n &* L)
        expect("ledger.unique_tokens", l.uniqueTokens, "train_sequences × seq_len", n &* L)
        expect("ledger.total_tokens", l.totalTokens, "epochs × train_sequences × seq_len", E &* n &* L)
        expect("ledger.repetitions_per_sequence", l.repetitionsPerSequence, "the config's epochs", E)
        expect("ledger.batches_per_epoch", l.batchesPerEpoch, "train_sequences / batch_size (rounded up)", batches)
        expect("ledger.steps", l.steps, "epochs × batches_per_epoch", E &* batches)
        expect("ledger.plan_bytes_per_sequence_epoch", l.planBytesPerSequenceEpoch, "for the \(config.objective.rawValue) objective", diffusion ? 6 : 4)
        if (config.objective == .mdlm) != (l.shortBatches != nil) {
            out.append("ledger.short_batches is \(l.shortBatches.map(String.init) ?? "absent"), \(config.objective == .mdlm ? "required" : "absent") for the \(config.objective.rawValue) objective")
        } else if let short = l.shortBatches, short < 0 || short > E &* batches {
            out.append("ledger.short_batches is \(short), more than the \(E &* batches) steps or negative")
        }
        return out
    }
}

/// The plan of one epoch: the order of the training sequences and, for diffusion, each row's t code.
public struct EpochPlan: Sendable {
    public var epoch: Int
    public var sequences: [UInt32]
    public var tcodes: [UInt16]
}

/// The fixed validation plan: `draws` t codes for each of the first `sequences` validation sequences,
/// row r = sequence r / draws, draw r % draws.
public struct ValidationPlan: Sendable {
    public var sequences: Int
    public var draws: Int
    public var tcodes: [UInt16]
}

public enum ScheduleBuilder {
    /// SHA-256 of the shards manifest: what a schedule depends on.
    public static func inputHash(shards: String) throws -> String {
        _ = try PackManifest.load(shards)
        return try Hashing.sha256Hex(file: StageOutput.manifestPath(shards))
    }

    static func epochFileName(_ e: Int) -> String { String(format: "epoch-%05d.plan", e) }

    /// The sequences a budget of `n` takes from a train split of `N` sequences; nil means the first n.
    /// spread: k = ceil(n / c) runs of c = min(g, max(1, ceil(n / 64))) consecutive sequences (the last run
    /// shorter when c does not divide n), run j starting at j·c + floor(j·(N − n) / k): the N − n sequences
    /// left out are shared evenly among the gaps after each run, so the runs cover the whole split and run 0
    /// starts at sequence 0. Runs (rather than single sequences) keep reading local: a run lies in one or
    /// two frames.
    public static func selection(total N: Int, count n: Int, blockSequences g: Int, selection: SequenceSelection?) -> [UInt32]? {
        guard selection == .spread, n < N, n > 0 else { return nil }
        let c = min(max(1, g), max(1, (n + 63) / 64))
        let k = (n + c - 1) / c
        var out: [UInt32] = []
        out.reserveCapacity(n)
        for j in 0..<k {
            let gap = UInt64(k).dividingFullWidth(UInt64(j).multipliedFullWidth(by: UInt64(N - n))).quotient
            let start = j * c + Int(gap)
            for s in start..<(start + min(c, n - j * c)) { out.append(UInt32(s)) }
        }
        return out
    }

    /// The plan of epoch `e` (a pure function of the config, the sequence count and the block size): the
    /// shuffle of positions 0..<n, each standing for `selected[position]` when a budget is spread.
    public static func epochPlan(_ e: Int, config: ScheduleConfig, sequences n: Int, blockSequences g: Int,
                                 selected: [UInt32]? = nil) -> EpochPlan {
        let seed = UInt64(config.seed)
        var order = EpochOrder.make(sequences: n, blockSequences: g, windowBlocks: config.shuffleWindow,
                                    seed: seed, epoch: e)
        if let selected { order = order.map { selected[Int($0)] } }
        var codes: [UInt16] = []
        if config.objective.isDiffusion {
            codes.reserveCapacity(n)
            var rng = PlanRandom.stream(seed, PlanRandom.timeDomain, UInt64(e))
            var start = 0
            while start < n {
                let rows = min(config.batchSize, n - start)
                codes += drawCodes(rows, config.tSampling, &rng)
                start += rows
            }
        }
        return EpochPlan(epoch: e, sequences: order, tcodes: codes)
    }

    /// `rows` values of u as t codes: iid, or one per stratum with strata assigned to rows at random.
    static func drawCodes(_ rows: Int, _ sampling: TimeSampling, _ rng: inout SplitMix64) -> [UInt16] {
        switch sampling {
        case .iid: return (0..<rows).map { _ in NoiseTable.code(rng.unit()) }
        case .stratified:
            var strata = Array(0..<rows)
            rng.shuffle(&strata)
            return strata.map { NoiseTable.code((Double($0) + rng.unit()) / Double(rows)) }
        }
    }

    public static func validationPlan(config: ScheduleConfig, sequences: Int) -> ValidationPlan {
        var codes: [UInt16] = []
        codes.reserveCapacity(sequences * config.valDraws)
        for v in 0..<sequences {
            var rng = PlanRandom.stream(UInt64(config.valSeed), PlanRandom.validationTimeDomain, UInt64(v))
            codes += drawCodes(config.valDraws, .stratified, &rng)
        }
        return ValidationPlan(sequences: sequences, draws: config.valDraws, tcodes: codes)
    }

    /// Most bytes of epoch plans (before compression) that one schedule may write: 16 GiB, about 2.9
    /// billion sequence-epochs of an mdlm plan.
    public static let maxPlanBytes = 1 << 34

    /// Refuses, before anything is written, a plan whose epoch files (epochs × sequences × bytes per row,
    /// before compression) would be larger than `maxPlanBytes` or than the free space where they go.
    public static func checkPlanSize(epochs: Int, sequences: Int, bytesPerRow: Int, freeBytes: Int?, output: String) throws {
        let (perEpoch, o1) = sequences.multipliedReportingOverflow(by: bytesPerRow)
        let (bytes, o2) = perEpoch.multipliedReportingOverflow(by: epochs)
        let size = o1 || o2 ? Int.max : bytes
        let what = "\(epochs) epochs × \(sequences) sequences × \(bytesPerRow) bytes = \(o1 || o2 ? "more than 2^63" : byteCount(size)) of plans"
        if size > maxPlanBytes {
            throw RepriseError("schedule.epochs: \(what), more than the \(byteCount(maxPlanBytes)) a schedule may write; lower schedule.epochs")
        }
        if let free = freeBytes, size > free {
            throw RepriseError("schedule.epochs: \(what), more than the \(byteCount(free)) free in \(output); lower schedule.epochs or free some space")
        }
    }

    /// Bytes available to an unprivileged user on the file system holding `path` (nil when unknown).
    public static func freeDiskBytes(_ path: String) -> Int? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        let (b, o) = Int(st.f_bavail).multipliedReportingOverflow(by: Int(st.f_frsize))
        return o ? Int.max : b
    }

    static func byteCount(_ n: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(n), u = 0
        while v >= 1024 && u + 1 < units.count { v /= 1024; u += 1 }
        return u == 0 ? "\(n) bytes" : String(format: "%.1f %@", v, units[u])
    }

    @discardableResult
    public static func build(shards: String, config: ScheduleConfig, output: String,
                             threads: Int = defaultThreadCount, quiet: Bool = false) throws -> ScheduleManifest {
        let config = try config.resolved()
        let pack = try PackManifest.load(shards)
        // The counts planned from are the ones the shards hold (their indexes, not the manifest's word).
        try pack.checkShards(shards)
        let inputHash = try inputHash(shards: shards)
        let splitSequences = pack.train.sequences
        var n = splitSequences
        guard n > 0 else { throw RepriseError("\(shards): the train split has no sequences to schedule") }
        if config.sequences > 0 {
            guard config.sequences <= n else {
                throw RepriseError("schedule.sequences is \(config.sequences) but \(shards) has only \(n) training sequences")
            }
            n = config.sequences
        }
        guard n <= Int(UInt32.max) else { throw RepriseError("\(shards): more than 2^32 sequences") }
        let seqLen = pack.config.seqLen
        if config.objective == .mdlm && config.maskingMode.isUniformCount && seqLen > Masking.maxUniformLength {
            throw RepriseError("schedule.masking exact_k draws k from 16-bit t codes and needs seq_len ≤ \(Masking.maxUniformLength) (\(shards) has \(seqLen)); use masking bernoulli or exact")
        }
        let g = max(1, pack.config.frameTokens / seqLen)
        let selected = selection(total: splitSequences, count: n, blockSequences: g, selection: config.selection)
        let fm = FileManager.default
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        try checkPlanSize(epochs: config.epochs, sequences: n, bytesPerRow: config.objective.isDiffusion ? 6 : 4,
                          freeBytes: freeDiskBytes(output), output: output)
        let stage = try StageOutput.open(output) { $0.hasSuffix(".plan") || $0.hasSuffix(".table") }

        var tableEntry: PlanFileEntry?
        if config.objective.isDiffusion {
            let table = NoiseTable(config: config)
            let payload = PlanFile.bytes(table.t) + PlanFile.bytes(table.alpha) + PlanFile.bytes(table.weight)
                + PlanFile.bytes(table.threshold)
            tableEntry = try write(output, "noise.table", try PlanFile.encode(
                kind: .noiseTable, index: 0, count: NoiseTable.levels, columns: .table, payload: payload))
        }

        // Epochs are independent: built in parallel, each into its own file, so the bytes do not depend on
        // the thread count.
        let progress = Progress("schedule", totalItems: config.epochs, quiet: quiet)
        var entries = [PlanFileEntry?](repeating: nil, count: config.epochs)
        var failure: Error?
        let lock = NSLock()
        var done = 0
        let shared = UncheckedSendable((config, n, g, output, selected))
        entries.withUnsafeMutableBufferPointer { slots in
            let out = UncheckedSendable(slots)
            parallelFor(config.epochs, threads: threads) { e in
                let (config, n, g, output, selected) = shared.value
                do {
                    let plan = epochPlan(e, config: config, sequences: n, blockSequences: g, selected: selected)
                    var payload = PlanFile.bytes(plan.sequences)
                    var columns: PlanFile.Columns = .sequence
                    if config.objective.isDiffusion { payload += PlanFile.bytes(plan.tcodes); columns.insert(.tcode) }
                    let bytes = try PlanFile.encode(kind: .epoch, index: e, count: n, columns: columns, payload: payload)
                    out.value[e] = try write(output, epochFileName(e), bytes)
                    lock.lock(); done += 1; progress.update(items: done, itemName: "epochs", bytes: 0); lock.unlock()
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                }
            }
        }
        if let failure { throw failure }
        progress.finish(items: done, itemName: "epochs", bytes: 0)

        var validationEntry: PlanFileEntry?
        var valSequences = 0
        if config.objective.isDiffusion {
            valSequences = config.valSequences == 0 ? pack.val.sequences : min(config.valSequences, pack.val.sequences)
            let plan = validationPlan(config: config, sequences: valSequences)
            validationEntry = try write(output, "validation.plan", try PlanFile.encode(
                kind: .validation, index: 0, count: plan.tcodes.count, columns: .tcode, payload: PlanFile.bytes(plan.tcodes)))
        }

        let epochEntries = entries.map { $0! }
        let batches = (n + config.batchSize - 1) / config.batchSize
        let diskBytes = epochEntries.reduce(0) { $0 + $1.bytes }
        let ledger = ReuseLedger(
            epochs: config.epochs, sequencesPerEpoch: n, tokensPerSequence: seqLen, tokensPerEpoch: n * seqLen,
            uniqueTokens: n * seqLen, totalTokens: config.epochs * n * seqLen, repetitionsPerSequence: config.epochs,
            batchesPerEpoch: batches, steps: batches * config.epochs,
            planBytesPerSequenceEpoch: config.objective.isDiffusion ? 6 : 4,
            diskBytesPerSequenceEpoch: (Double(diskBytes) / Double(n * config.epochs) * 1000).rounded() / 1000,
            shortBatches: config.objective == .mdlm ? shortBatches(config: config, batchesPerEpoch: batches, seqLen: seqLen) : nil)
        let manifest = ScheduleManifest(
            config: config, configHash: try CanonicalJSON.hash(config), inputHash: inputHash, shardsDir: Paths.relative(shards, to: output),
            seqLen: seqLen, trainSequences: n, splitSequences: config.sequences > 0 ? splitSequences : nil,
            valSequences: valSequences, blockSequences: g,
            windowBlocks: config.shuffleWindow, epochFiles: epochEntries, validationFile: validationEntry,
            noiseTableFile: tableEntry, ledger: ledger)
        try stage.finish(manifest)
        return manifest
    }

    /// Batches of the whole plan whose length (`PlanRandom.batchLength`) is below `seqLen`.
    static func shortBatches(config: ScheduleConfig, batchesPerEpoch: Int, seqLen: Int) -> Int {
        guard config.shortBatchFraction > 0 else { return 0 }
        var count = 0
        for e in 0..<config.epochs {
            for b in 0..<batchesPerEpoch where PlanRandom.batchLength(
                seed: UInt64(config.seed), epoch: e, batch: b, seqLen: seqLen, fraction: config.shortBatchFraction) < seqLen {
                count += 1
            }
        }
        return count
    }

    static func write(_ dir: String, _ name: String, _ bytes: [UInt8]) throws -> PlanFileEntry {
        try AtomicFileWriter.write(bytes, to: dir + "/" + name)
        return PlanFileEntry(file: name, bytes: bytes.count, sha256: Hashing.sha256Hex(bytes))
    }
}

/// A schedule directory opened for reading. Every file is checked against the manifest's SHA-256 and its
/// own zstd checksum when it is read, so a damaged plan is an error, never a different plan.
public final class Schedule: @unchecked Sendable {
    public let dir: String
    public let manifest: ScheduleManifest
    public let table: NoiseTable?
    public var config: ScheduleConfig { manifest.config }

    public init(_ dir: String) throws {
        let path = StageOutput.manifestPath(dir)
        self.dir = dir
        var decoded = try StageDirectory.load(ScheduleManifest.self, dir: dir, format: "reprise.schedule",
                                              missing: "run `reprise schedule` first")
        decoded.shardsDir = Paths.resolve(decoded.shardsDir, against: dir)
        manifest = decoded
        guard manifest.format == "reprise.schedule", manifest.version == 1 else {
            throw RepriseError("\(path): not a reprise schedule manifest of version 1")
        }
        // The decoded config has this version's defaults filled in: a plan built with other defaults (or an
        // edited manifest) would otherwise be read as a different plan.
        guard try CanonicalJSON.hash(manifest.config) == manifest.configHash else {
            throw RepriseError("\(path): the schedule's settings do not match its config_hash (built by another version of reprise?); rebuild it with `reprise schedule`")
        }
        if let entry = manifest.noiseTableFile {
            let c = try Self.load(dir, entry, kind: .noiseTable, index: 0)
            let n = NoiseTable.levels
            guard c.count == n else { throw RepriseError("\(dir)/\(entry.file): \(c.count) levels, expected \(n)") }
            let p = c.payload, f = dir + "/" + entry.file
            let d = { (i: Int) throws -> [Double] in try PlanFile.array(p, i * 8 * n, n, UInt64.self, path: f).map(Double.init(bitPattern:)) }
            table = NoiseTable(t: try d(0), alpha: try d(1), weight: try d(2),
                               threshold: try PlanFile.array(p, 24 * n, n, UInt32.self, path: f))
        } else {
            table = nil
        }
    }

    static func load(_ dir: String, _ entry: PlanFileEntry, kind: PlanFile.Kind, index: Int) throws -> PlanFile.Contents {
        let path = dir + "/" + entry.file
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): missing; rebuild the schedule with `reprise schedule`")
        }
        let bytes = [UInt8](data)
        guard bytes.count == entry.bytes, Hashing.sha256Hex(bytes) == entry.sha256 else {
            throw RepriseError("\(path): size or SHA-256 differs from the manifest (damaged or from another schedule)")
        }
        return try PlanFile.decode(bytes, path: path, kind: kind, index: index)
    }

    /// Checks that `shards` is the dataset this plan was built for.
    public func check(shards: String) throws {
        let hash = try ScheduleBuilder.inputHash(shards: shards)
        guard hash == manifest.inputHash else {
            throw RepriseError("\(dir): this schedule was built for another dataset than \(shards) (its shards manifest differs); rebuild it with `reprise schedule \(shards) ...`")
        }
        // The dataset is the one the plan was built from: what the plan took from it must be what it holds.
        let pack = try PackManifest.load(shards)
        let m = manifest, path = StageOutput.manifestPath(dir)
        var problems: [String] = []
        func expect(_ field: String, _ recorded: Int, _ how: String, _ made: Int) {
            if recorded != made { problems.append("\(field) is \(recorded), \(how) = \(made)") }
        }
        expect("seq_len", m.seqLen, "the dataset's seq_len", pack.config.seqLen)
        expect("block_sequences", m.blockSequences, "the dataset's frame_tokens / seq_len", max(1, pack.config.frameTokens / max(1, pack.config.seqLen)))
        expect(m.splitSequences == nil ? "train_sequences" : "split_sequences", m.splitSequences ?? m.trainSequences,
               "the dataset's train.sequences", pack.train.sequences)
        if config.objective.isDiffusion {
            expect("val_sequences", m.valSequences, "the dataset's val.sequences with the config's val_sequences",
                   config.valSequences == 0 ? pack.val.sequences : min(config.valSequences, pack.val.sequences))
        }
        if let first = problems.first {
            throw RepriseError("\(path): \(first) (the manifest was edited or damaged); run `reprise schedule` again")
        }
    }

    public func epoch(_ e: Int) throws -> EpochPlan {
        guard e >= 0 && e < manifest.epochFiles.count else {
            throw RepriseError("\(dir): epoch \(e) is out of range; the plan has \(manifest.epochFiles.count) epochs")
        }
        let entry = manifest.epochFiles[e]
        let c = try Self.load(dir, entry, kind: .epoch, index: e)
        let n = manifest.trainSequences, path = dir + "/" + entry.file
        guard c.count == n else { throw RepriseError("\(path): \(c.count) rows, expected \(n)") }
        let order = try PlanFile.array(c.payload, 0, n, UInt32.self, path: path)
        let codes = config.objective.isDiffusion ? try PlanFile.array(c.payload, 4 * n, n, UInt16.self, path: path) : []
        let bound = config.selection == .spread ? (manifest.splitSequences ?? n) : n
        if let bad = order.first(where: { Int($0) >= bound }) {
            throw RepriseError("\(path): sequence \(bad) is out of range (0..<\(bound))")
        }
        return EpochPlan(epoch: e, sequences: order, tcodes: codes)
    }

    public func validation() throws -> ValidationPlan? {
        guard let entry = manifest.validationFile else { return nil }
        let c = try Self.load(dir, entry, kind: .validation, index: 0)
        let draws = config.valDraws, path = dir + "/" + entry.file
        guard c.count == manifest.valSequences * draws else {
            throw RepriseError("\(path): \(c.count) rows, expected \(manifest.valSequences * draws)")
        }
        return ValidationPlan(sequences: manifest.valSequences, draws: draws,
                              tcodes: try PlanFile.array(c.payload, 0, c.count, UInt16.self, path: path))
    }

    /// Reads every file; returns one line per fault (empty when all is well).
    public func verify() -> [String] {
        var faults: [String] = []
        let selected = manifest.selectedSequences
        for e in 0..<manifest.epochFiles.count {
            do {
                let plan = try epoch(e)
                if plan.sequences.sorted() != selected {
                    faults.append("\(dir)/\(manifest.epochFiles[e].file): not every sequence of the plan appears once")
                }
            } catch { faults.append(error.oneLine) }
        }
        do { _ = try validation() } catch { faults.append(error.oneLine) }
        return faults
    }

    /// The length of batch `batch` of epoch `epoch`: seq_len, or for a share `short_fraction` of mdlm
    /// batches a random shorter one (`PlanRandom.batchLength`).
    public func batchLength(epoch: Int, batch: Int) -> Int {
        PlanRandom.batchLength(seed: UInt64(config.seed), epoch: epoch, batch: batch, seqLen: manifest.seqLen,
                               fraction: config.shortBatchFraction)
    }

    /// Global step of (epoch, batch in epoch).
    public func step(epoch: Int, batch: Int) -> Int { epoch * manifest.batchesPerEpoch + batch }
    public var steps: Int { manifest.ledger.steps }
}
