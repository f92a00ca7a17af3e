import Foundation
import RepriseCore
import RepriseIngest
import XCTest

/// A scratch directory with helpers to write inputs, run ingest and read its outputs.
final class Scratch {
    let root: String
    init(_ name: String = #function) {
        root = NSTemporaryDirectory() + "reprise-test-\(getpid())-\(name.filter(\.isLetter))-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: root + "/in", withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    var inputDir: String { root + "/in" }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = inputDir + "/" + name
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func ingest(_ inputs: [String]? = nil, output: String = "out", config: IngestConfig = Scratch.permissive, threads: Int = 2) throws -> IngestManifest {
        var o = Ingest.Options()
        o.threads = threads
        o.quiet = true
        return try Ingest.run(inputs: inputs ?? [inputDir], output: root + "/" + output, config: config, options: o)
    }

    /// Records of the docs-* (or excluded-*) files of an output directory, in order.
    func records(_ output: String = "out", prefix: String = "docs") throws -> [[String: Any]] {
        let dir = root + "/" + output
        var out: [[String: Any]] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where name.hasPrefix(prefix + "-") {
            let bytes = try Zstd.decompress(Array(FileManager.default.contents(atPath: dir + "/" + name)!))
            for line in bytes.split(separator: 0x0A) {
                out.append(try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any])
            }
        }
        return out
    }

    func texts(_ output: String = "out") throws -> [String] { try records(output).map { $0["text"] as! String } }

    /// All output files and their bytes.
    func snapshot(_ output: String) throws -> [String: Data] {
        let dir = root + "/" + output
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = FileManager.default.contents(atPath: dir + "/" + name)
        }
        return out
    }

    /// A config with the quality and repetition filters and near-dedup off, to test readers on short texts.
    static var permissive: IngestConfig {
        var c = IngestConfig()
        c.quality.enabled = false
        c.repetition.enabled = false
        c.dedup.minhash = false
        return c
    }
}

/// A few hundred words of plain English that pass the default filters.
func englishParagraphs(_ count: Int, seed: UInt64 = 1) -> String {
    let words = ["the", "river", "of", "and", "a", "city", "that", "stood", "with", "old", "walls", "to", "be",
                 "have", "morning", "light", "fell", "across", "market", "where", "traders", "sold", "bread",
                 "cloth", "children", "ran", "between", "stalls", "while", "dogs", "slept", "in", "shade",
                 "bridge", "north", "gate", "opened", "early", "evening", "bells", "rang", "over", "roofs"]
    var rng = SplitMix64(seed: seed)
    var paragraphs: [String] = []
    for _ in 0..<count {
        var sentences: [String] = []
        for _ in 0..<5 {
            let n = 8 + Int(rng.next() % 8)
            var s = (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
            s = s.prefix(1).uppercased() + s.dropFirst() + "."
            sentences.append(s)
        }
        paragraphs.append(sentences.joined(separator: " "))
    }
    return paragraphs.joined(separator: "\n\n")
}
