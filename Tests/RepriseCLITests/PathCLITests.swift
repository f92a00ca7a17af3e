import Foundation
import XCTest

extension CLITests {
    /// A pipeline's relative paths are relative to the pipeline file, so it means the same from any current
    /// directory; the manifests' paths are relative to their own directories, so a work directory can be moved
    /// and still used.
    func testPipelinePathsFollowTheFileAndAWorkDirectoryCanMove() throws {
        makeCorpus(files: 2, paragraphsPerFile: 40)
        write("pipes/p.yaml", """
        work_dir: ../work
        stages:
          ingest: {inputs: [../in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.2}}
          schedules:
            ar: {objective: ar, epochs: 1, batch_size: 8, seed: 3}
        """)
        let fromRoot = try reprise(["run", "pipes/p.yaml", "--quiet"])
        XCTAssertEqual(fromRoot.status, 0, fromRoot.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/work/shards/manifest.json"), fromRoot.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/pipes/work"))
        // From inside pipes/ (and by an absolute path) the same pipeline is up to date.
        for (cwd, path) in [("pipes", "p.yaml"), ("in", root + "/pipes/p.yaml")] {
            let again = try reprise(["run", path, "--quiet"], in: cwd)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(again.stdout.components(separatedBy: "up to date").count - 1, 4, again.stdout)
        }
        // Stored paths are relative to the directory that holds the manifest.
        let pack = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/work/shards/manifest.json"))) as! [String: Any]
        XCTAssertEqual(pack["tokenizer_dir"] as? String, "../tokenizer")
        XCTAssertEqual(pack["docs_dir"] as? String, "../ingest")
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
        let trained = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/ar", "--model", "m.json",
                                   "--steps", "3", "--eval-sequences", "4", "--threads", "2", "--quiet", "-o", "work/runs/ar"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/work/runs/ar/run.json"))) as! [String: Any]
        XCTAssertEqual(run["shards_dir"] as? String, "../../shards")

        // Move the whole work directory; the commands that follow a run's or a plan's recorded paths work
        // from another current directory.
        try FileManager.default.moveItem(atPath: root + "/work", toPath: root + "/in/moved")
        let show = try reprise(["schedule", "show", "moved/schedules/ar", "--epoch", "0"], in: "in")
        XCTAssertEqual(show.status, 0, show.stderr)
        let eval = try reprise(["eval", "moved/runs/ar"], in: "in")
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("validation"), eval.stdout)
        let sample = try reprise(["sample", "moved/runs/ar", "--prompt", "the", "--max-tokens", "4"], in: "in")
        XCTAssertEqual(sample.status, 0, sample.stderr)
    }

    func testIngestThatKeepsNothingFailsWithAHint() throws {
        write("in/d.jsonl", #"{"body": "some words", "title": "t"}"# + "\n")
        let r = try reprise(["ingest", "in", "-o", "out", "--quiet"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("text_field") && r.stderr.contains("body, title"), r.stderr)
        let missing = try reprise(["ingest", "nonexistent", "-o", "out2", "--quiet"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nonexistent"), missing.stderr)
        write("p.yaml", "work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n")
        let pipeline = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertNotEqual(pipeline.status, 0)
        XCTAssertTrue(pipeline.stderr.contains("no document kept"), pipeline.stderr)
    }
}
