import Foundation

/// The stages' output directories, told apart by the `format` field of their manifest, so that a directory
/// given in the wrong place is named for what it is instead of failing to decode.
public enum StageDirectory {
    /// What a format's directory is called and the command that makes it.
    static let kinds: [String: (noun: String, command: String)] = [
        "reprise.ingest": ("an ingest output directory", "reprise ingest"),
        "reprise.tokenizer": ("a tokenizer directory", "reprise tokenizer train"),
        "reprise.shards": ("a shards directory", "reprise pack"),
        "reprise.schedule": ("a schedule directory", "reprise schedule"),
        "reprise.run": ("a training run directory", "reprise train"),
        "reprise.cloze": ("a cloze item directory", "reprise cloze build"),
    ]

    private struct Header: Decodable { var format: String? }

    /// The `format` of the manifest in `dir` (`manifest.json`, else `run.json`), when there is one.
    public static func format(of dir: String) -> String? {
        for name in [StageOutput.manifestFile, "run.json"] {
            if let data = FileManager.default.contents(atPath: dir + "/" + name),
               let header = try? JSONDecoder().decode(Header.self, from: data), let format = header.format {
                return format
            }
        }
        return nil
    }

    /// Decodes `dir/file` after checking it (`check`).
    public static func load<T: Decodable>(_ type: T.Type, dir: String, file: String = StageOutput.manifestFile,
                                          format expected: String, missing: String) throws -> T {
        try check(dir, file: file, format: expected, missing: missing)
        return try CanonicalJSON.decode(type, from: dir + "/" + file)
    }

    /// Checks that `dir/file` exists and that its `format` is `expected`. A missing file, or one of another
    /// stage, is an error saying what `dir` is (when it is a stage's directory) and what to do: `missing`.
    public static func check(_ dir: String, file: String = StageOutput.manifestFile, format expected: String, missing: String) throws {
        let found = format(of: dir)
        if let found, found != expected {
            let (noun, command) = kinds[found] ?? ("a directory of another kind (\(found))", "another command")
            let wanted = kinds[expected]?.noun ?? expected
            throw RepriseError("\(dir) is \(noun) (made by `\(command)`), not \(wanted): \(missing)")
        }
        guard FileManager.default.fileExists(atPath: dir + "/" + file) else { throw RepriseError("no \(file) in \(dir)/: \(missing)") }
    }
}

/// A stage's manifest as the stages after it read it: the files it lists, and the values it can check
/// against each other. A manifest that contradicts itself was edited or damaged; its readers refuse it
/// instead of believing any of its numbers.
public protocol StageManifest: Decodable {
    /// Every file the manifest lists, relative to its directory, with the size it records.
    var listedFiles: [(file: String, bytes: Int)] { get }
    /// One line per value that differs from what the rest of the manifest makes of it: the field, the
    /// recorded and the recomputed value ("counts.read is 12, kept + dropped make 10"); empty when none.
    var inconsistencies: [String] { get }
}

extension StageManifest {
    public var inconsistencies: [String] { [] }

    /// The listed files' names that could lead out of the directory (absolute, `..`, or a subdirectory).
    public var badFileNames: [String] {
        listedFiles.map(\.file).filter { $0.isEmpty || $0.contains("/") || $0 == "." || $0 == ".." }
    }
}

extension StageDirectory {
    /// Decodes `dir/file` after checking it (`check`), then refuses a manifest whose values contradict each
    /// other (`StageManifest.inconsistencies`) or that lists a file outside `dir`.
    public static func load<T: StageManifest>(_ type: T.Type, dir: String, file: String = StageOutput.manifestFile,
                                              format expected: String, missing: String) throws -> T {
        try check(dir, file: file, format: expected, missing: missing)
        let manifest = try CanonicalJSON.decode(type, from: dir + "/" + file)
        try checkConsistency(manifest, path: dir + "/" + file, format: expected)
        return manifest
    }

    /// Throws the first inconsistency of `manifest` (read from `path`) as one line naming the file, the
    /// field, the recorded and the recomputed value, and what to run.
    public static func checkConsistency(_ manifest: some StageManifest, path: String, format: String) throws {
        let rerun = kinds[format].map { "; run `\($0.command)` again" } ?? ""
        if let bad = manifest.badFileNames.first {
            throw RepriseError("\(path): lists the file '\(bad)', which is not a plain file name of its directory (the manifest was edited or damaged)\(rerun)")
        }
        if let first = manifest.inconsistencies.first {
            throw RepriseError("\(path): \(first) (the manifest was edited or damaged)\(rerun)")
        }
    }

    /// The first file `manifest` lists that is missing from `dir` or has another size than recorded, as
    /// "DIR/FILE is missing" or "DIR/FILE has N bytes, the manifest says M"; nil when every one is there.
    /// A `stat` per file: cheap enough for every status check.
    public static func missingOutput(_ dir: String, _ manifest: some StageManifest) -> String? {
        for (file, bytes) in manifest.listedFiles {
            let path = dir + "/" + file
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return "\(path) is missing" }
            if Int(st.st_size) != bytes { return "\(path) has \(st.st_size) bytes, the manifest says \(bytes)" }
        }
        return nil
    }
}

/// A stage's output directory while the stage writes it; every stage writes its directory this way.
/// `open` makes the directory and removes the old manifest first, so that an interrupted run is never taken
/// for a finished one, then the files an earlier run of the stage left (`owns`) and the temporary files of
/// killed runs; the stage writes its files; `finish` writes the manifest last, atomically, as canonical JSON.
public struct StageOutput: Sendable {
    /// The name of every stage's manifest (a training run's is `run.json`, written as the run goes).
    public static let manifestFile = "manifest.json"

    public let dir: String

    /// `dir/manifest.json`.
    public static func manifestPath(_ dir: String) -> String { dir + "/" + manifestFile }

    public var manifestPath: String { Self.manifestPath(dir) }

    /// `dir/name`.
    public func path(_ name: String) -> String { dir + "/" + name }

    /// Opens `dir` for a new run of its stage; `owns` names the files of an earlier run that the new run
    /// replaces (besides the manifest).
    public static func open(_ dir: String, owns: (String) -> Bool = { _ in false }) throws -> StageOutput {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        unlink(manifestPath(dir))
        for name in try fm.contentsOfDirectory(atPath: dir) where owns(name) {
            try fm.removeItem(atPath: dir + "/" + name)
        }
        try AtomicFile.removeStaleTemporaries(in: dir)
        return StageOutput(dir: dir)
    }

    /// Writes the manifest, last and atomically.
    public func finish<M: Encodable>(_ manifest: M) throws {
        try AtomicFileWriter.write(try CanonicalJSON.encode(manifest), to: manifestPath)
    }
}

/// One written output file, as the manifest lists it.
public struct OutputFile: Codable, Sendable, Equatable {
    public var file: String
    public var bytes: Int
    public var sha256: String
    public var documents: Int

    public init(file: String, bytes: Int, sha256: String, documents: Int) {
        self.file = file; self.bytes = bytes; self.sha256 = sha256; self.documents = documents
    }
}
