import Foundation
import RepriseCore
import XCTest

/// How `reprise ingest` finds, names and reads its inputs, through the real binary.
extension CLITests {
    func manifest(_ dir: String) throws -> [String: Any] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: root + "/" + dir + "/manifest.json"), dir)
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func testUnreadableAndEmptyInputsFailUnderStrict() throws {
        if getuid() == 0 {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) drops root for this test")
        }
        write("in/good.txt", "fine words here")
        write("loose.yaml", "quality: {enabled: false}\nrepetition: {enabled: false}\n")
        write("in/locked/secret.txt", "never read")
        write("locked/secret.txt", "never read")
        try FileManager.default.createDirectory(atPath: root + "/empty/.only-hidden", withIntermediateDirectories: true)
        for dir in ["in/locked", "locked"] { XCTAssertEqual(chmod(root + "/" + dir, 0), 0) }
        defer { for dir in ["in/locked", "locked"] { chmod(root + "/" + dir, 0o755) } }
        for out in ["out", "out-strict", "top", "none"] {
            try FileManager.default.createDirectory(atPath: root + "/" + out, withIntermediateDirectories: true)
            XCTAssertEqual(chmod(root + "/" + out, 0o777), 0)
        }

        let relaxed = try reprise(["ingest", "in", "-o", "out", "--config", "loose.yaml"], unprivileged: true)
        XCTAssertEqual(relaxed.status, 0, relaxed.stderr)
        XCTAssertTrue(relaxed.stdout.contains("2 files, 1 failed"), relaxed.stdout)
        XCTAssertTrue(relaxed.stderr.contains("in/locked: cannot read directory: Permission denied"), relaxed.stderr)
        let inputs = try manifest("out")["inputs"] as! [[String: Any]]
        XCTAssertEqual(inputs.map { $0["path"] as? String }, ["in/good.txt", "in/locked"])
        XCTAssertEqual(inputs.map { $0["status"] as? String }, ["ok", "failed"])
        XCTAssertEqual(inputs.last?["error"] as? String, "in/locked: cannot read directory: Permission denied")

        let strict = try reprise(["ingest", "in", "-o", "out-strict", "--strict", "--config", "loose.yaml"], unprivileged: true)
        XCTAssertEqual(strict.status, 1, strict.stderr)
        let top = try reprise(["ingest", "locked", "-o", "top", "--strict"], unprivileged: true)
        XCTAssertEqual(top.status, 1, top.stderr)
        XCTAssertTrue(top.stderr.contains("locked: cannot read directory"), top.stderr)
        let empty = try reprise(["ingest", "empty", "-o", "none", "--strict"])
        XCTAssertEqual(empty.status, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("empty: the directory holds no files"), empty.stderr)
        XCTAssertEqual(try manifest("none")["missing_inputs"] as? [String], ["empty"])
    }

    func testStandardInputIsReadAsOneFile() throws {
        write("data.jsonl", "{\"text\": \"first record\"}\n{\"text\": \"second record\"}\n")
        write("loose.yaml", "quality: {enabled: false}\nrepetition: {enabled: false}\n")
        let r = try reprise(["ingest", "-", "-o", "out", "--strict", "--config", "loose.yaml"], stdin: "data.jsonl")
        XCTAssertEqual(r.status, 0, r.stderr)
        let inputs = try manifest("out")["inputs"] as! [[String: Any]]
        let bytes = FileManager.default.contents(atPath: root + "/data.jsonl")!
        XCTAssertEqual(inputs.count, 1)
        guard inputs.count == 1 else { return }
        XCTAssertEqual(inputs[0]["path"] as? String, "<stdin>")
        XCTAssertEqual(inputs[0]["kind"] as? String, "jsonl", "sniffed by content: standard input has no extension")
        XCTAssertEqual(inputs[0]["bytes"] as? Int, bytes.count)
        XCTAssertEqual(inputs[0]["sha256"] as? String, Hashing.sha256Hex([UInt8](bytes)))
        let docs = try Zstd.decompress(Array(try XCTUnwrap(FileManager.default.contents(atPath: root + "/out/docs-00000.jsonl.zst"))))
        let ids = try docs.split(separator: 0x0A).map { (try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any])["id"] as? String }
        XCTAssertEqual(ids, ["<stdin>:0", "<stdin>:1"])

        // Standard input that never ends is read no further than max_doc_bytes past the last document.
        write("small.yaml", "max_doc_bytes: 100000\n")
        let zero = try reprise(["ingest", "-", "-o", "zero", "--strict", "--config", "small.yaml"], stdin: "/dev/zero")
        XCTAssertEqual(zero.status, 1, zero.stderr)
        let zeroInput = try XCTUnwrap((try manifest("zero")["inputs"] as! [[String: Any]]).first)
        XCTAssertEqual(zeroInput["status"] as? String, "failed")
        XCTAssertTrue((zeroInput["error"] as? String ?? "").hasPrefix("<stdin>: binary content"), "\(zeroInput)")

        // A pipeline cannot check standard input for changes.
        write("p.yaml", "work_dir: w\nstages:\n  ingest:\n    inputs: [\"-\"]\n")
        let pipeline = try reprise(["run", "p.yaml"])
        XCTAssertNotEqual(pipeline.status, 0)
        XCTAssertTrue(pipeline.stderr.contains("p.yaml") && pipeline.stderr.contains("standard input"), pipeline.stderr)
    }

    func testIdsAndSplitsDoNotDependOnHowTheInputIsSpelled() throws {
        makeCorpus(files: 3, paragraphsPerFile: 30)
        write("in/sub/extra.txt", "An extra document in a subdirectory, with enough words to be kept by the filters of ingest.")
        let spellings = ["in", "./in/", root + "/in"]
        for (i, input) in spellings.enumerated() {
            let r = try reprise(["ingest", input, "-o", "docs\(i)", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let first = try snapshot("docs0")
        XCTAssertGreaterThan(first.count, 2)
        for i in 1..<spellings.count {
            XCTAssertTrue(try snapshot("docs\(i)") == first, "ingest of \(spellings[i]) wrote other bytes than ingest of in")
        }
        let tok = try reprise(["tokenizer", "train", "docs0", "--vocab-size", "300", "-o", "tok", "--quiet"])
        XCTAssertEqual(tok.status, 0, tok.stderr)
        var splits: [[Int]] = []
        for i in 0..<spellings.count {
            let r = try reprise(["pack", "docs\(i)", "--tokenizer", "tok", "-o", "shards\(i)", "--val-fraction", "0.3", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let m = try manifest("shards\(i)")
            let val = m["val"] as! [String: Any], train = m["train"] as! [String: Any]
            splits.append([train["documents"] as! Int, val["documents"] as! Int])
        }
        XCTAssertGreaterThan(splits[0][1], 0)
        XCTAssertEqual(splits, Array(repeating: splits[0], count: spellings.count))
    }

    func testMovingTheCorpusKeepsThePipelineUpToDate() throws {
        write("data/corpus/a.txt", "Some text for the pipeline, long enough.")
        let pipeline = { (dir: String) in """
        work_dir: work
        stages:
          ingest:
            inputs: [\(dir)]
            config:
              quality: {enabled: false}
              repetition: {enabled: false}
        """ }
        write("p.yaml", pipeline("data/corpus"))
        let first = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("ingest: 1 of 1 documents kept"), first.stdout)
        try FileManager.default.moveItem(atPath: root + "/data", toPath: root + "/elsewhere")
        write("p.yaml", pipeline("./elsewhere/corpus/"))
        let moved = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(moved.status, 0, moved.stderr)
        XCTAssertTrue(moved.stdout.contains("ingest: up to date"), moved.stdout)
        write("elsewhere/corpus/a.txt", "Some other text for the pipeline, long enough.")
        let changed = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(changed.stdout.contains("ingest: 1 of 1 documents kept"), changed.stdout)
    }
}
