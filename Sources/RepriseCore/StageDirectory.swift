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
        for name in ["manifest.json", "run.json"] {
            if let data = FileManager.default.contents(atPath: dir + "/" + name),
               let header = try? JSONDecoder().decode(Header.self, from: data), let format = header.format {
                return format
            }
        }
        return nil
    }

    /// Decodes `dir/file` after checking it (`check`).
    public static func load<T: Decodable>(_ type: T.Type, dir: String, file: String = "manifest.json",
                                          format expected: String, missing: String) throws -> T {
        try check(dir, file: file, format: expected, missing: missing)
        return try CanonicalJSON.decode(type, from: dir + "/" + file)
    }

    /// Checks that `dir/file` exists and that its `format` is `expected`. A missing file, or one of another
    /// stage, is an error saying what `dir` is (when it is a stage's directory) and what to do: `missing`.
    public static func check(_ dir: String, file: String = "manifest.json", format expected: String, missing: String) throws {
        let found = format(of: dir)
        if let found, found != expected {
            let (noun, command) = kinds[found] ?? ("a directory of another kind (\(found))", "another command")
            let wanted = kinds[expected]?.noun ?? expected
            throw RepriseError("\(dir) is \(noun) (made by `\(command)`), not \(wanted): \(missing)")
        }
        guard FileManager.default.fileExists(atPath: dir + "/" + file) else { throw RepriseError("no \(file) in \(dir)/: \(missing)") }
    }
}
