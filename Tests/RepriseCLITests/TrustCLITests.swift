import Foundation
import RepriseCore
import XCTest

/// A stage never uses another stage's files unchecked: edited files, inconsistent manifests, damaged
/// checkpoints, swapped tokenizers, deleted outputs and foreign run directories are refused.
extension CLITests {
    /// ingest → tokenizer → pack → an ar schedule in work/, small enough to run in seconds.
    func prepareTrustPipeline() throws {
        makeCorpus(files: 2, paragraphsPerFile: 40)
        write("q.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}, docs_per_file: 30}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.2, shard_tokens: 2000}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 8, seed: 3}
        """)
        let r = try reprise(["run", "q.yaml", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 1, "heads": 2, "context": 32}"#)
    }

    /// Reads a JSON file of root, lets `edit` change it, writes it back.
    func editJSON(_ name: String, _ edit: (inout [String: Any]) -> Void) throws {
        let path = root + "/" + name
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]).write(to: URL(fileURLWithPath: path))
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + name) }

    func testEditedDocsFileIsRefusedByEveryReader() throws {
        try prepareTrustPipeline()
        // One character changed, compressed again: a valid zstd file of the same documents' count.
        let path = root + "/work/ingest/docs-00000.jsonl.zst"
        var text = try Zstd.decompress(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        let at = try XCTUnwrap(text.firstIndex(of: UInt8(ascii: "w")))
        text[at] = UInt8(ascii: "W")
        try Data(try ZstdEncoder.compress(text)).write(to: URL(fileURLWithPath: path))
        let expected = "work/ingest/docs-00000.jsonl.zst: SHA-256 differs from the ingest manifest (the file was changed after ingest); rerun `reprise ingest`"

        let tok = try reprise(["tokenizer", "train", "work/ingest", "--vocab-size", "300", "-o", "tok2"])
        XCTAssertNotEqual(tok.status, 0)
        XCTAssertTrue(tok.stderr.contains(expected), tok.stderr)
        XCTAssertFalse(exists("tok2/manifest.json"))

        let pack = try reprise(["pack", "work/ingest", "--tokenizer", "work/tokenizer", "-o", "shards2", "--seq-len", "32"])
        XCTAssertNotEqual(pack.status, 0)
        XCTAssertTrue(pack.stderr.contains(expected), pack.stderr)
        XCTAssertFalse(exists("shards2/manifest.json"))

    }

    func testInconsistentIngestManifestIsRefused() throws {
        try prepareTrustPipeline()
        var kept = 0
        try editJSON("work/ingest/manifest.json") { m in
            var counts = m["counts"] as! [String: Any]
            kept = counts["kept"] as! Int
            counts["read"] = (counts["read"] as! Int) + 5
            m["counts"] = counts
        }
        let pack = try reprise(["pack", "work/ingest", "--tokenizer", "work/tokenizer", "-o", "shards2", "--seq-len", "32"])
        XCTAssertNotEqual(pack.status, 0)
        XCTAssertTrue(pack.stderr.contains("work/ingest/manifest.json: counts.read is \(kept + 5), kept + dropped = \(kept)"), pack.stderr)
        XCTAssertFalse(exists("shards2/manifest.json"))
        let tok = try reprise(["tokenizer", "train", "work/ingest", "--vocab-size", "300", "-o", "tok2"])
        XCTAssertTrue(tok.stderr.contains("counts.read is"), tok.stderr)
    }

    func testRaisedShardCountsAreRefused() throws {
        try prepareTrustPipeline()
        let original = try Data(contentsOf: URL(fileURLWithPath: root + "/work/shards/manifest.json"))
        // Sequences raised alone: the manifest contradicts itself.
        var sequences = 0
        try editJSON("work/shards/manifest.json") { m in
            var train = m["train"] as! [String: Any]
            sequences = train["sequences"] as! Int
            train["sequences"] = sequences + 100
            m["train"] = train
        }
        let verify = try reprise(["verify", "work/shards"])
        XCTAssertNotEqual(verify.status, 0)
        XCTAssertTrue(verify.stderr.contains("train.sequences is \(sequences + 100)"), verify.stderr)
        let schedule = try reprise(["schedule", "build", "work/shards", "--objective", "ar", "--epochs", "1", "--batch-size", "8", "-o", "s2"])
        XCTAssertNotEqual(schedule.status, 0)
        XCTAssertTrue(schedule.stderr.contains("work/shards/manifest.json: train.sequences is \(sequences + 100), (tokens - 1) / seq_len = \(sequences)"),
                      schedule.stderr)
        XCTAssertFalse(exists("s2/manifest.json"))

        // Tokens raised everywhere in the manifest, consistently: only the shards can tell.
        try original.write(to: URL(fileURLWithPath: root + "/work/shards/manifest.json"))
        try editJSON("work/shards/manifest.json") { m in
            var train = m["train"] as! [String: Any]
            var shards = train["shards"] as! [[String: Any]]
            shards[0]["tokens"] = (shards[0]["tokens"] as! Int) + 3200
            train["shards"] = shards
            train["tokens"] = (train["tokens"] as! Int) + 3200
            train["sequences"] = sequences + 100
            m["train"] = train
        }
        let verify2 = try reprise(["verify", "work/shards"])
        XCTAssertNotEqual(verify2.status, 0)
        XCTAssertTrue(verify2.stderr.contains("train-00000.shard: ") && verify2.stderr.contains("tokens, the manifest says"), verify2.stderr)
        XCTAssertTrue(verify2.stderr.contains("train.tokens is"), verify2.stderr)
        let schedule2 = try reprise(["schedule", "build", "work/shards", "--objective", "ar", "--epochs", "1", "--batch-size", "8", "-o", "s2"])
        XCTAssertNotEqual(schedule2.status, 0)
        XCTAssertTrue(schedule2.stderr.contains("train-00000.shard: ") && schedule2.stderr.contains("tokens, the manifest says"), schedule2.stderr)
        XCTAssertFalse(exists("s2/manifest.json"))
    }

    func testEditedScheduleLedgerIsRefused() throws {
        try prepareTrustPipeline()
        var steps = 0
        try editJSON("work/schedules/ar/manifest.json") { m in
            var ledger = m["ledger"] as! [String: Any]
            steps = ledger["steps"] as! Int
            ledger["steps"] = steps * 10
            m["ledger"] = ledger
        }
        let train = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/ar", "--model", "m.json",
                                 "--threads", "2", "--quiet", "-o", "run"])
        XCTAssertNotEqual(train.status, 0)
        XCTAssertTrue(train.stderr.contains("work/schedules/ar/manifest.json: ledger.steps is \(steps * 10), epochs × batches_per_epoch = \(steps)"),
                      train.stderr)
        XCTAssertFalse(exists("run/run.json"))
        let show = try reprise(["schedule", "verify", "work/schedules/ar"])
        XCTAssertNotEqual(show.status, 0)
    }

    func testEvalSampleExportCheckCheckpointAndTokenizer() throws {
        try prepareTrustPipeline()
        let r = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/ar", "--model", "m.json", "--steps", "2",
                             "--eval-sequences", "4", "--threads", "2", "--quiet", "-o", "run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let commands = [["eval", "run"], ["eval", "run", "--cloze", "--items", "4"], ["sample", "run", "--max-tokens", "2"],
                        ["export", "run", "-o", "hf"]]
        for c in commands { XCTAssertEqual(try reprise(c).status, 0, c.joined(separator: " ")) }

        // One byte of the weights changed.
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: root + "/run/checkpoints").sorted()
        let weights = root + "/run/checkpoints/" + checkpoints.last! + "/model.safetensors"
        let good = try Data(contentsOf: URL(fileURLWithPath: weights))
        var bad = good
        bad[bad.count - 3] ^= 0x40
        try bad.write(to: URL(fileURLWithPath: weights))
        for c in commands {
            let out = try reprise(c)
            XCTAssertNotEqual(out.status, 0, c.joined(separator: " "))
            XCTAssertTrue(out.stderr.contains("model.safetensors: SHA-256 differs from state.json"), c.joined(separator: " ") + ": " + out.stderr)
        }
        try good.write(to: URL(fileURLWithPath: weights))

        // Two tokens of the tokenizer exchange ranks (the file still reads as a valid tokenizer).
        let tiktoken = root + "/work/tokenizer/tokenizer.tiktoken"
        var lines = try String(contentsOfFile: tiktoken, encoding: .utf8).split(separator: "\n").map(String.init)
        let a = lines[100].split(separator: " "), b = lines[101].split(separator: " ")
        lines[100] = "\(b[0]) \(a[1])"
        lines[101] = "\(a[0]) \(b[1])"
        try (lines.joined(separator: "\n") + "\n").write(toFile: tiktoken, atomically: true, encoding: .utf8)
        for c in commands {
            let out = try reprise(c)
            XCTAssertNotEqual(out.status, 0, c.joined(separator: " "))
            XCTAssertTrue(out.stderr.contains("work/tokenizer/tokenizer.tiktoken"), c.joined(separator: " ") + ": " + out.stderr)
        }
    }

    func testMissingOrResizedOutputMakesStageStale() throws {
        try prepareTrustPipeline()
        let up = try reprise(["status", "q.yaml"])
        XCTAssertEqual(up.stdout.components(separatedBy: "up to date").count - 1, 4, up.stdout)

        try FileManager.default.removeItem(atPath: root + "/work/shards/train-00001.shard")
        let status = try reprise(["status", "q.yaml"])
        XCTAssertTrue(status.stdout.contains("pack") && status.stdout.contains("stale: work/shards/train-00001.shard is missing"), status.stdout)
        XCTAssertTrue(status.stdout.contains("tokenizer    up to date"), status.stdout)
        let run = try reprise(["run", "q.yaml", "--quiet"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stdout.contains("pack: up to date"), run.stdout)
        XCTAssertTrue(exists("work/shards/train-00001.shard"))

        let docs = root + "/work/ingest/docs-00001.jsonl.zst"
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: docs)[.size] as? Int)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: docs))
        try handle.truncate(atOffset: UInt64(size - 10))
        try handle.close()
        let truncated = try reprise(["status", "q.yaml"])
        XCTAssertTrue(truncated.stdout.contains("stale: work/ingest/docs-00001.jsonl.zst has \(size - 10) bytes, the manifest says \(size)"), truncated.stdout)
        XCTAssertEqual(try reprise(["run", "q.yaml", "--quiet"]).status, 0)
        XCTAssertEqual(try reprise(["status", "q.yaml"]).stdout.components(separatedBy: "up to date").count - 1, 4)
    }

    func testTrainRefusesAForeignOutputDirectory() throws {
        try prepareTrustPipeline()
        write("mine/checkpoints/notes.txt", "keep me")
        write("mine/metrics.jsonl", "{\"mine\": 1}\n")
        write("mine/summary.json", "{}")
        let before = try tree("mine")
        let train = { (output: String) in
            try self.reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/ar", "--model", "m.json", "--steps", "2",
                              "--eval-sequences", "4", "--threads", "2", "--quiet", "-o", output])
        }
        let r = try train("mine")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("mine exists and is not a training run (no run.json): choose another --output, or remove it"), r.stderr)
        XCTAssertEqual(try tree("mine"), before, "nothing of it is touched")

        // Hidden files (a lock) and our own temporaries do not count; an empty directory is fine.
        write("locked/.reprise.lock", "")
        write("locked/run.json.tmp-12345", "partial")
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        for output in ["locked", "empty"] {
            let ok = try train(output)
            XCTAssertEqual(ok.status, 0, output + ": " + ok.stderr)
            XCTAssertTrue(exists(output + "/summary.json"))
        }
    }
}

extension CLITests {
    func testTaskPackShareRefusesAnEditedDocsFile() throws {
        makeCorpus(files: 4, paragraphsPerFile: 20)
        write("t.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}, docs_per_file: 30}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.2}}
        """)
        for t in 0..<2 { XCTAssertEqual(try reprise(["run", "t.yaml", "--task", "\(t)", "--tasks", "2", "--quiet"]).status, 0) }
        let merge = try reprise(["run", "t.yaml", "--merge", "--quiet"])
        XCTAssertEqual(merge.status, 0, merge.stderr)
        let path = root + "/work/ingest/docs-00001.jsonl.zst"
        var text = try Zstd.decompress(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        text[try XCTUnwrap(text.firstIndex(of: UInt8(ascii: "w")))] = UInt8(ascii: "W")
        try Data(try ZstdEncoder.compress(text)).write(to: URL(fileURLWithPath: path))
        let share = try reprise(["run", "t.yaml", "--task", "1", "--tasks", "2", "--quiet"])
        XCTAssertNotEqual(share.status, 0)
        XCTAssertTrue(share.stderr.contains("work/ingest/docs-00001.jsonl.zst: SHA-256 differs from the ingest manifest"), share.stderr)
        XCTAssertFalse(exists("work/tasks/00001-of-00002/pack/manifest.json"))
    }
}
