import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules

/// `run.json`: what a run trains, on what, and how. A resumed run must match it.
public struct RunManifest: Codable, Sendable, Equatable {
    public var format = "reprise.run"
    public var version = 1
    public var objective: Objective
    public var model: ModelConfig
    public var train: TrainConfig
    /// SHA-256 of the shards', schedule's and tokenizer's manifests.
    public var shardsSha256: String
    public var scheduleSha256: String
    public var tokenizerSha256: String
    /// The directories it was trained from, relative to the run directory as stored (so a work directory can
    /// be moved as a whole); `load` resolves them against the run directory.
    public var shardsDir: String
    public var scheduleDir: String
    public var tokenizerDir: String
    /// Worker threads: a resumed run keeps them, as results depend on the thread count.
    public var threads: Int
    /// The OpenBLAS kernel: results are bit-identical for the same kernel and thread count.
    public var blasKernel: String
    /// Steps this run takes, and the plan's batches per epoch.
    public var steps: Int
    public var batchesPerEpoch: Int
    public var batchSize: Int
    public var seqLen: Int
    /// The tokenizer's `<|mask|>` id (what mdlm masks with); nil when the tokenizer has none.
    public var maskTokenId: Int?
    public var endOfTextId: Int

    enum CodingKeys: String, CodingKey {
        case format, version, objective, model, train, threads, steps
        case blasKernel = "blas_kernel"
        case shardsSha256 = "shards_sha256", scheduleSha256 = "schedule_sha256", tokenizerSha256 = "tokenizer_sha256"
        case shardsDir = "shards_dir", scheduleDir = "schedule_dir", tokenizerDir = "tokenizer_dir"
        case batchesPerEpoch = "batches_per_epoch", batchSize = "batch_size", seqLen = "seq_len"
        case maskTokenId = "mask_token_id", endOfTextId = "end_of_text_id"
    }

    /// The same run: everything but where its inputs were found (their content is in the SHA-256 fields).
    public func isSameRun(as other: RunManifest) -> Bool {
        var a = self, b = other
        (a.shardsDir, a.scheduleDir, a.tokenizerDir) = ("", "", "")
        (b.shardsDir, b.scheduleDir, b.tokenizerDir) = ("", "", "")
        return a == b
    }

    public static func load(_ run: String) throws -> RunManifest {
        var manifest = try StageDirectory.load(RunManifest.self, dir: run, file: "run.json", format: "reprise.run",
                                               missing: "give the --output directory of `reprise train`, or run `reprise train ... --output \(run)` first")
        manifest.shardsDir = Paths.resolve(manifest.shardsDir, against: run)
        manifest.scheduleDir = Paths.resolve(manifest.scheduleDir, against: run)
        manifest.tokenizerDir = Paths.resolve(manifest.tokenizerDir, against: run)
        return manifest
    }
}

/// The small state saved with every checkpoint next to the weights and optimizer moments.
public struct TrainState: Codable, Sendable, Equatable {
    /// Updates done; the schedule cursor is this global step.
    public var step: Int
    public var tokensSeen: Int
    public var adamStep: Int
    /// SHA-256 of model.safetensors and optimizer.safetensors.
    public var modelSha256: String
    public var optimizerSha256: String
    /// SHA-256 of extra.safetensors: parameters an objective keeps outside the model (gaussian); absent otherwise.
    public var extraSha256: String? = nil

    enum CodingKeys: String, CodingKey {
        case step
        case tokensSeen = "tokens_seen", adamStep = "adam_step", modelSha256 = "model_sha256"
        case optimizerSha256 = "optimizer_sha256", extraSha256 = "extra_sha256"
    }
}

/// Checkpoints of a run: RUN/checkpoints/step-NNNNNNNN/{model.safetensors, optimizer.safetensors,
/// [extra.safetensors (gaussian),] state.json}, and RUN/checkpoint.json naming the latest complete one
/// (written after its files).
///
/// A save writes, each atomically: the safetensors files, then state.json (a checkpoint directory's final
/// file), then checkpoint.json (the commit: from then on the run resumes from this checkpoint), then deletes
/// the checkpoints older than the `kept` latest. A kill at any point of a save leaves the previous checkpoint
/// the one named, and `recover` turns what it left into the files of an uninterrupted run.
public enum Checkpoints {
    struct Pointer: Codable { var latest: String; var step: Int }

    /// How many of the latest checkpoints a run keeps.
    public static let kept = 2

    public static func name(_ step: Int) -> String { String(format: "step-%08d", step) }

    /// The step of a checkpoint directory's name (`step-NNNNNNNN`), nil for other names.
    static func step(ofName name: String) -> Int? {
        guard name.hasPrefix("step-"), name.utf8.count >= 13 else { return nil }
        let digits = name.dropFirst(5)
        guard digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(digits)
    }

    /// `extra`, when given, writes an objective's own files into the checkpoint directory and returns the
    /// SHA-256 recorded as `extra_sha256` (before state.json and the pointer, so a killed save leaves the
    /// previous checkpoint the latest).
    public static func save(run: String, model: Transformer, optimizer: AdamW, state: TrainState,
                            keep: Int = kept, metadata: [String: String] = [:],
                            extra: ((_ dir: String) throws -> String)? = nil) throws -> String {
        let name = name(state.step)
        let dir = run + "/checkpoints/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var s = state
        s.modelSha256 = try writeModel(model, to: dir + "/model.safetensors", metadata: metadata)
        var entries: [SafetensorsEntry] = []
        for t in model.layout.tensors {
            entries.append(SafetensorsEntry(name: "m." + t.name, shape: t.shape,
                                            buffer: UnsafeBufferPointer(rebasing: optimizer.m.buffer[t.range])))
            entries.append(SafetensorsEntry(name: "v." + t.name, shape: t.shape,
                                            buffer: UnsafeBufferPointer(rebasing: optimizer.v.buffer[t.range])))
        }
        s.optimizerSha256 = try Safetensors.write(entries, metadata: ["adam_step": String(optimizer.step)],
                                                  to: dir + "/optimizer.safetensors")
        if let extra { s.extraSha256 = try extra(dir) }
        try AtomicFileWriter.write(try CanonicalJSON.encode(s), to: dir + "/state.json")
        try AtomicFileWriter.write(try CanonicalJSON.encode(Pointer(latest: name, step: state.step)),
                                   to: run + "/checkpoint.json")
        // Older checkpoints beyond `keep` go; the latest is never among them.
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? [])
            .filter { $0.hasPrefix("step-") }.sorted()
        for old in all.dropLast(keep) where old != name {
            try? FileManager.default.removeItem(atPath: run + "/checkpoints/" + old)
        }
        return dir
    }

    /// Writes the weights under their HuggingFace Llama names; returns the file's SHA-256.
    @discardableResult
    public static func writeModel(_ model: Transformer, to path: String, metadata: [String: String] = [:]) throws -> String {
        let entries = model.layout.tensors.map {
            SafetensorsEntry(name: $0.name, shape: $0.shape, buffer: UnsafeBufferPointer(rebasing: model.params.buffer[$0.range]))
        }
        var meta = metadata
        meta["format"] = "pt"
        return try Safetensors.write(entries, metadata: meta, to: path)
    }

    /// Reads weights written by `writeModel` (or by HuggingFace with the same names and shapes).
    public static func readModel(_ model: Transformer, from path: String) throws {
        let file = try SafetensorsFile(path: path)
        for t in model.layout.tensors {
            try file.copy(t.name, into: UnsafeMutableBufferPointer(rebasing: model.params.buffer[t.range]), shape: t.shape)
        }
    }

    /// Makes RUN/checkpoints what an uninterrupted run has after saving the checkpoint that checkpoint.json
    /// names, before a run resumes from it. A killed save or deletion can leave: a directory of a later step
    /// (not committed: the save of that step is done again), a directory without its state.json (its save or
    /// its deletion did not finish), more than `keep` checkpoints (killed after the commit, before the old ones
    /// were deleted), temporary files. All of those go; the named checkpoint always stays. Without a
    /// checkpoint.json no checkpoint was committed and every directory goes. Other names in checkpoints/ are
    /// left alone.
    public static func recover(run: String, keep: Int = kept) throws {
        let fm = FileManager.default
        let dir = run + "/checkpoints"
        guard fm.isDirectory(dir) else { return }
        let pointerPath = run + "/checkpoint.json"
        let pointer = fm.fileExists(atPath: pointerPath) ? try CanonicalJSON.decode(Pointer.self, from: pointerPath) : nil
        let latest = pointer.flatMap { step(ofName: $0.latest) }
        var complete: [(step: Int, name: String)] = []
        for name in try fm.contentsOfDirectory(atPath: dir) {
            guard let s = step(ofName: name), fm.isDirectory(dir + "/" + name) else { continue }
            let committed = name == pointer?.latest
            let older = latest.map { s < $0 } ?? false
            if committed || (older && fm.fileExists(atPath: dir + "/" + name + "/state.json")) {
                complete.append((s, name))
            } else {
                try fm.removeItem(atPath: dir + "/" + name)
            }
        }
        complete.sort { $0.step < $1.step }
        for old in complete.dropLast(keep) where old.name != pointer?.latest {
            try fm.removeItem(atPath: dir + "/" + old.name)
        }
        for c in complete.suffix(keep) { try AtomicFile.removeStaleTemporaries(in: dir + "/" + c.name) }
    }

    /// The latest complete checkpoint's directory and state, nil when there is none.
    public static func latest(run: String) throws -> (dir: String, state: TrainState)? {
        let path = run + "/checkpoint.json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let p = try CanonicalJSON.decode(Pointer.self, from: path)
        let dir = run + "/checkpoints/" + p.latest
        return (dir, try state(dir: dir))
    }

    /// A checkpoint directory's state.json, which holds the SHA-256 its files are checked against.
    public static func state(dir: String) throws -> TrainState {
        let path = dir + "/state.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw RepriseError("\(path): missing; a checkpoint's files are checked against the SHA-256 it records (an incomplete or foreign checkpoint directory)")
        }
        return try CanonicalJSON.decode(TrainState.self, from: path)
    }

    /// Loads weights and optimizer state, checking both files against the state's hashes.
    public static func load(dir: String, state: TrainState, model: Transformer, optimizer: AdamW?) throws {
        let modelPath = dir + "/model.safetensors"
        guard try Hashing.sha256Hex(file: modelPath) == state.modelSha256 else {
            throw RepriseError("\(modelPath): SHA-256 differs from state.json (damaged checkpoint)")
        }
        try readModel(model, from: modelPath)
        guard let optimizer else { return }
        let optPath = dir + "/optimizer.safetensors"
        guard try Hashing.sha256Hex(file: optPath) == state.optimizerSha256 else {
            throw RepriseError("\(optPath): SHA-256 differs from state.json (damaged checkpoint)")
        }
        let file = try SafetensorsFile(path: optPath)
        for t in model.layout.tensors {
            try file.copy("m." + t.name, into: UnsafeMutableBufferPointer(rebasing: optimizer.m.buffer[t.range]), shape: t.shape)
            try file.copy("v." + t.name, into: UnsafeMutableBufferPointer(rebasing: optimizer.v.buffer[t.range]), shape: t.shape)
        }
        optimizer.step = state.adamStep
    }
}

/// RUN/metrics.jsonl: one JSON object per line, keys in a fixed order, numbers in Swift's shortest
/// round-trip form, so the same run gives the same bytes (apart from the wall-clock fields).
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    /// Opens the log for appending, first dropping every line of a step after `keepThrough` (lines a
    /// killed run wrote after its last checkpoint).
    public init(run: String, keepThrough: Int) throws {
        path = run + "/metrics.jsonl"
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            var kept: [UInt8] = []
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let step = obj["step"] as? Int else { continue }
                if step <= keepThrough { kept += line; kept.append(UInt8(ascii: "\n")) }
            }
            try AtomicFileWriter.write(kept, to: path)
        } else {
            try AtomicFileWriter.write([], to: path)
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw RepriseError("\(path): cannot open for writing") }
        handle = h
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// The last value of `key` in a run's metrics, if any line has it.
    public static func lastValue(_ key: String, run: String) -> Double? {
        guard let data = FileManager.default.contents(atPath: run + "/metrics.jsonl") else { return nil }
        var found: Double?
        for line in [UInt8](data).split(separator: UInt8(ascii: "\n")) {
            if let v = number(key, in: line) { found = v }
        }
        return found
    }

    /// The number written for `key` in one line of this log, parsed exactly: the writer prints the shortest
    /// text that reads back as the same Double, and `Double(String)` reads it so (Foundation's JSON parser can
    /// be off in the last bit, which a resumed run's summary would then show).
    static func number(_ key: String, in line: ArraySlice<UInt8>) -> Double? {
        let needle = Array("\"\(key)\":".utf8)
        guard needle.count <= line.count else { return nil }
        var i = line.startIndex
        while i + needle.count <= line.endIndex {
            if line[i] == needle[0] && line[i..<(i + needle.count)].elementsEqual(needle) {
                var j = i + needle.count
                let start = j
                while j < line.endIndex && line[j] != UInt8(ascii: ",") && line[j] != UInt8(ascii: "}") { j += 1 }
                return Double(String(decoding: line[start..<j], as: UTF8.self))
            }
            i += 1
        }
        return nil
    }

    /// Every (step, value) of `key` in a run's metrics, in file order.
    public static func values(_ key: String, run: String) -> [(step: Int, value: Double)] {
        guard let data = FileManager.default.contents(atPath: run + "/metrics.jsonl") else { return [] }
        var out: [(step: Int, value: Double)] = []
        for line in [UInt8](data).split(separator: UInt8(ascii: "\n")) {
            if let step = number("step", in: line), let v = number(key, in: line) {
                out.append((Int(step), v))
            }
        }
        return out
    }

    /// Appends one line; values are Int, Double or String, written in the given order.
    public func write(_ fields: [(String, Any)]) {
        var s = "{"
        for (i, (k, v)) in fields.enumerated() {
            if i > 0 { s += "," }
            s += "\"\(k)\":"
            switch v {
            case let d as Double: s += d.isFinite ? "\(d)" : "null"
            case let n as Int: s += "\(n)"
            case let t as String: s += "\"\(t)\""
            default: s += "null"
            }
        }
        s += "}\n"
        handle.write(Data(s.utf8))
    }
}
