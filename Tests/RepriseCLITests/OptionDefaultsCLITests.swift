import Foundation
import RepriseIngest
import ReprisePipeline
import RepriseSchedules
import RepriseShards
import RepriseTokenizer
import RepriseTrain
import XCTest

/// The commands lay their options over the library's configs: an option left out keeps the library's
/// default (so the CLI never restates one), an option given replaces exactly its key, and the kernel
/// policy is applied to every command that runs a model and to no other.
extension CLITests {
    /// `key` of DIR/FILE as a JSON object.
    func jsonObject(_ path: String, key: String) throws -> NSDictionary {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: root + "/" + path), path)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], path)
        return try XCTUnwrap(object[key] as? NSDictionary, "\(path) has no \(key)")
    }

    /// A library config as the JSON object its manifest would hold.
    func encoded<T: Encodable>(_ value: T) throws -> NSDictionary {
        try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? NSDictionary)
    }

    /// Each stage's config with one option changed: that key differs from the library default, every other
    /// key is the library's.
    func assertOnly(_ changed: [String], differ manifest: NSDictionary, from library: NSDictionary, _ what: String) {
        let keys = Set(manifest.allKeys.map { "\($0)" }).union(library.allKeys.map { "\($0)" })
        for key in keys.sorted() {
            let same = (manifest[key] as? NSObject)?.isEqual(library[key]) ?? (library[key] == nil)
            if changed.contains(key) {
                XCTAssertFalse(same, "\(what): \(key) was given on the command line")
            } else {
                XCTAssertTrue(same, "\(what): \(key) is \(manifest[key] ?? "absent"), the library's default is \(library[key] ?? "absent")")
            }
        }
    }

    func testOptionsLeftOutKeepTheLibraryDefaults() throws {
        try copyEmbeddedBooks()
        var r = try reprise(["ingest", "in", "-o", "docs", "--quiet", "--min-chars", "20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertOnly(["min_chars"], differ: try jsonObject("docs/manifest.json", key: "config"),
                   from: try encoded(IngestConfig()), "ingest")
        r = try reprise(["tokenizer", "train", "docs", "--vocab-size", "400", "-o", "tok", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertOnly(["vocab_size"], differ: try jsonObject("tok/manifest.json", key: "config"),
                   from: try encoded(TokenizerConfig()), "tokenizer")
        r = try reprise(["pack", "docs", "--tokenizer", "tok", "-o", "shards", "--seq-len", "32", "--val-fraction", "0.2", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertOnly(["seq_len", "val_fraction"], differ: try jsonObject("shards/manifest.json", key: "config"),
                   from: try encoded(PackConfig()), "pack")
        r = try reprise(["schedule", "shards", "--objective", "mdlm", "--val-draws", "2", "-o", "plan", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var mdlm = ScheduleConfig()
        mdlm.objective = .mdlm
        assertOnly(["val_draws"], differ: try jsonObject("plan/manifest.json", key: "config"),
                   from: try encoded(try mdlm.resolved()), "schedule")
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
        r = try reprise(["train", "--shards", "shards", "--schedule", "plan", "--model", "m.json", "--steps", "2",
                         "--decay-fraction", "0.5", "--threads", "1", "--quiet", "-o", "run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        assertOnly(["steps", "decay_fraction"], differ: try jsonObject("run/run.json", key: "train"),
                   from: try encoded(TrainConfig()), "train")
    }

    func testIngestPresetConfigFileAndOptionsAreLaidInOrder() throws {
        write("in/tool.py", "def main():\n    for item in range(10):\n        print(item)  # the value\n" +
              String(repeating: "    total = compute_the_total(item, weight) + offset\n", count: 3))
        // The code preset keeps indentation; the config file's key overrides the preset; an option overrides both.
        write("cfg.yaml", "min_chars: 5\nquality: {enabled: false}\n")
        var r = try reprise(["ingest", "in", "--preset", "code", "--config", "cfg.yaml", "--min-chars", "7", "-o", "docs", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = try jsonObject("docs/manifest.json", key: "config")
        XCTAssertEqual(config["preset"] as? String, "code")
        XCTAssertEqual(config["whitespace"] as? String, "preserve", "from the preset")
        XCTAssertEqual((config["quality"] as? NSDictionary)?["enabled"] as? Bool, false, "from the file")
        XCTAssertEqual(config["min_chars"] as? Int, 7, "from the option")
        // A file that names another preset disagrees with --preset: an error naming both, nothing written.
        write("prose.yaml", "preset: prose\n")
        r = try reprise(["ingest", "in", "--preset", "code", "--config", "prose.yaml", "-o", "other", "--quiet"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--preset code") && r.stderr.contains("prose.yaml sets preset prose"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/other/manifest.json"))
        r = try reprise(["ingest", "in", "--preset", "poetry", "-o", "other"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--preset must be one of code, prose"), r.stderr)
    }

    func testThreadOptionsAreCheckedByEveryCommandThatHasThem() throws {
        for args in [["ingest", "in", "-o", "x"], ["tokenizer", "train", "in", "-o", "x"], ["pack", "d", "--tokenizer", "t", "-o", "x"],
                     ["schedule", "s", "-o", "x"], ["train", "--shards", "s", "--schedule", "p", "-o", "x"], ["eval", "r"],
                     ["sample", "r"], ["run", "p.yaml"], ["status", "p.yaml"], ["bench", "read-docs", "f"]] {
            let r = try reprise(args + ["--threads", "0"])
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("--threads must be at least 1"), "\(args.joined(separator: " ")): \(r.stderr)")
        }
    }

    func testKernelPolicyRunsForEveryCommandThatRunsAModelAndNoOther() throws {
        // Each command fails at once on a missing or bad input; the policy comes before, in main.
        write("bad.yaml", "stages: 3\n")
        let model: [[String]] = [["train", "--shards", "none", "--schedule", "none", "-o", "x"], ["eval", "none"],
                                 ["sample", "none"], ["run", "bad.yaml"], ["bench", "train-step", "--preset", "none"]]
        let other: [[String]] = [["ingest", "none", "-o", "x"], ["verify", "none"], ["status", "none.yaml"],
                                 ["schedule", "show", "none"], ["report", "none"], ["tokenizer", "encode", "--tokenizer", "none"]]
        for args in model + other {
            let r = try reprise(args, environment: ["REPRISE_KERNEL_POLICY_TRACE": "1"])
            let traced = r.stderr.contains("kernel policy: ")
            XCTAssertEqual(traced, model.contains(args), "\(args.joined(separator: " ")): \(r.stderr)")
        }
    }
}
