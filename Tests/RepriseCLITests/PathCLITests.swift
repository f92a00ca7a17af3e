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

extension CLITests {
    /// Problems that would only show late (an empty validation split at the first evaluation, a sequence
    /// longer than the model's context at step 1, a tokenizer of no text) are errors before any work.
    func testNoLateFailuresAndNoSilentSuccesses() throws {
        makeCorpus(files: 1, paragraphsPerFile: 30)
        let stages = { (pack: String, train: String) in """
        work_dir: w
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {\(pack)}}
          schedules:
            ar: {objective: ar, epochs: 1, batch_size: 4, seed: 1}
          train:
            ar: {schedule: ar, model: \(train)}
        """ }
        // The pack defaults fit the tiny preset.
        write("ok.yaml", stages("", "tiny"))
        let status = try reprise(["status", "ok.yaml"])
        XCTAssertEqual(status.status, 0, status.stderr)
        // A sequence longer than the model's context: refused when the pipeline is read.
        write("long.yaml", stages("seq_len: 512", "tiny"))
        let long = try reprise(["status", "long.yaml"])
        XCTAssertNotEqual(long.status, 0)
        XCTAssertTrue(long.stderr.contains("long.yaml") && long.stderr.contains("stages.train.ar") && long.stderr.contains("seq_len (512)"), long.stderr)
        // No validation document: the pipeline stops after pack, naming val_fraction.
        write("noval.yaml", stages("seq_len: 32, val_fraction: 0.0", "tiny"))
        let noval = try reprise(["run", "noval.yaml", "--quiet"])
        XCTAssertNotEqual(noval.status, 0)
        XCTAssertTrue(noval.stderr.contains("validation split holds no sequence") && noval.stderr.contains("val_fraction"), noval.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/w/schedules/ar/manifest.json"))
        // `reprise pack` warns; `reprise train` refuses before its first step.
        let pack = try reprise(["pack", "w/ingest", "--tokenizer", "w/tokenizer", "-o", "s", "--seq-len", "32", "--val-fraction", "0"])
        XCTAssertEqual(pack.status, 0, pack.stderr)
        XCTAssertTrue(pack.stderr.contains("warning: the validation split holds no sequence") && pack.stderr.contains("--val-fraction"), pack.stderr)
        XCTAssertEqual(try reprise(["schedule", "s", "--objective", "ar", "--epochs", "1", "--batch-size", "4", "-o", "plan"]).status, 0)
        let train = try reprise(["train", "--shards", "s", "--schedule", "plan", "--model", "tiny", "--quiet", "-o", "run"])
        XCTAssertNotEqual(train.status, 0)
        XCTAssertTrue(train.stderr.contains("validation split holds no sequence"), train.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run/metrics.jsonl"), "nothing trained")
        // A tokenizer trained on no text is an error, not 259 tokens.
        write("empty.txt", "")
        let tok = try reprise(["tokenizer", "train", "empty.txt", "--vocab-size", "300", "-o", "t0"])
        XCTAssertNotEqual(tok.status, 0)
        XCTAssertTrue(tok.stderr.contains("no text to train a tokenizer on"), tok.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/t0/manifest.json"))
    }
}

extension CLITests {
    /// Errors are one line, start with `error: `, and name the file, key or option and the fix.
    func testErrorsAreOneReadableLine() throws {
        makeCorpus(files: 1, paragraphsPerFile: 30)
        write("taken", "a file")
        let file = try reprise(["ingest", "in", "-o", "taken", "--quiet"])
        XCTAssertEqual(file.status, 1)
        XCTAssertEqual(file.stderr, "error: taken: a file is in the way where a directory is needed; remove it or choose another path\n")
        let usage = try reprise(["ingest", "in", "-o", "x", "--threads", "0"])
        XCTAssertTrue(usage.stderr.hasPrefix("error: --threads must be at least 1\n"), usage.stderr)
        let version = try reprise(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertFalse(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)

        // A directory of one stage given where another's is expected is named for what it is.
        write("p.yaml", """
        work_dir: w
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.2}}
        """)
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        let eval = try reprise(["eval", "w/shards"])
        XCTAssertTrue(eval.stderr.contains("w/shards is a shards directory (made by `reprise pack`), not a training run directory"), eval.stderr)
        let tok = try reprise(["pack", "w/ingest", "--tokenizer", "w/ingest", "-o", "s2"])
        XCTAssertTrue(tok.stderr.contains("w/ingest is an ingest output directory (made by `reprise ingest`), not a tokenizer directory"), tok.stderr)
        XCTAssertFalse(tok.stderr.contains("unknown key"), tok.stderr)
        let docs = try reprise(["pack", "w/tokenizer", "--tokenizer", "w/tokenizer", "-o", "s3"])
        XCTAssertTrue(docs.stderr.contains("w/tokenizer is a tokenizer directory"), docs.stderr)
        for r in [eval, tok, docs] { XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr) }
    }
}

extension CLITests {
    /// Logs (not a terminal): timestamped progress lines, the validation loss when an evaluation ends, and in
    /// `reprise run` each stage's summary line.
    func testLogsCarryTimestampsAndEvaluations() throws {
        try prepareTinyRuns()
        let r = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/ar", "--model", "m.json",
                             "--steps", "4", "--eval-every", "2", "--eval-sequences", "4", "--threads", "2", "-o", "ar"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        let evals = lines.filter { $0.contains("validation loss") }
        XCTAssertEqual(evals.count, 2, r.stderr)
        XCTAssertTrue(evals[0].contains("train: step 2 (epoch"), evals[0])
        let stamp = try NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ train: "#)
        for line in evals + lines.filter({ $0.contains(" steps, ") }) {
            XCTAssertNotNil(stamp.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), line)
        }
        XCTAssertTrue(lines.contains { $0.contains(" elapsed") }, r.stderr)
    }
}

extension CLITests {
    /// A pipeline owns its work directory: outputs outside it, or a work directory of `/` or nothing, are
    /// refused before any stage clears anything.
    func testPipelineOutputsStayInsideTheWorkDirectory() throws {
        write("keep/precious.txt", "not ours")
        for (name, text, key) in [
            ("a.yaml", "work_dir: w\nstages:\n  ingest: {inputs: [in], output: ../keep}\n", "stages.ingest.output"),
            ("b.yaml", "work_dir: w\nstages:\n  ingest: {inputs: [in], output: /tmp}\n", "stages.ingest.output"),
            ("c.yaml", "work_dir: /\nstages:\n  ingest: {inputs: [in]}\n", "work_dir"),
            ("d.yaml", "work_dir: ''\nstages:\n  ingest: {inputs: [in]}\n", "work_dir"),
        ] {
            write(name, text)
            let r = try reprise(["run", name, "--quiet"])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertTrue(r.stderr.contains(name) && r.stderr.contains(key), r.stderr)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/keep/precious.txt"))
    }
}

extension CLITests {
    /// One writer per directory: a second ingest into the same output, or a second run of the same work
    /// directory, stops at once naming the first one's PID; the lock file goes with the writer.
    func testOneWriterPerDirectory() throws {
        makeCorpus(files: 6, paragraphsPerFile: 1500)
        write("p.yaml", "work_dir: w\nstages:\n  ingest: {inputs: [in]}\n")
        for (first, second, dir) in [(["ingest", "in", "-o", "out", "--quiet"], ["ingest", "in", "-o", "out", "--quiet"], "out"),
                                     (["run", "p.yaml", "--quiet"], ["run", "p.yaml", "--quiet"], "w")] {
            let p = try launch(first)
            let lockFile = root + "/" + dir + "/.reprise.lock"
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: lockFile) && Date() < deadline { usleep(2000) }
            let r = try reprise(second)
            let stillRunning = p.isRunning
            p.waitUntilExit()
            XCTAssertTrue(stillRunning, "the first writer finished before the second started; the test needs a longer run")
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("\(dir) is in use by another reprise process (PID \(p.processIdentifier))"), r.stderr)
            XCTAssertEqual(p.terminationStatus, 0, "the first writer is not disturbed")
            XCTAssertFalse(FileManager.default.fileExists(atPath: lockFile), "the lock file goes with its writer")
        }
        // A killed writer leaves the file but not the lock: the next run takes it over.
        let p = try launch(["ingest", "in", "-o", "out", "--quiet"])
        while !FileManager.default.fileExists(atPath: root + "/out/.reprise.lock") { usleep(2000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let again = try reprise(["ingest", "in", "-o", "out", "--quiet"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/out/.reprise.lock"))
    }
}
