import Foundation
import XCTest

extension CLITests {
    /// A small corpus packed with seq_len 32, one-epoch ar, mdlm and gaussian plans in work/schedules, and
    /// m.json, a model small enough to train a few steps in seconds.
    func prepareTinyRuns() throws {
        makeCorpus(files: 2, paragraphsPerFile: 40)
        write("p.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.2}}
          schedules:
            ar: {objective: ar, epochs: 1, batch_size: 8, seed: 3}
            mdlm: {objective: mdlm, epochs: 1, batch_size: 8, seed: 3, val_draws: 2}
            gauss: {objective: gaussian, epochs: 1, batch_size: 8, seed: 3, val_draws: 2}
        """)
        let prepared = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
    }

    /// `reprise train` of m.json on work/schedules/SCHEDULE for `steps` steps into OUTPUT (default: SCHEDULE).
    func trainTiny(_ schedule: String, steps: Int, extra: [String] = [], output: String? = nil) throws -> Result {
        try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/\(schedule)", "--model", "m.json",
                     "--steps", String(steps), "--eval-sequences", "4", "--threads", "2", "--quiet", "-o", output ?? schedule] + extra)
    }

    /// `reprise eval RUN --schedule DIR`: the run's weights on another validation plan of the same shards
    /// (another estimator, more draws), with its Monte-Carlo standard error; other objectives are refused.
    func testEvalOnAnotherScheduleStatesItsEstimatorAndError() throws {
        try prepareTinyRuns()
        XCTAssertEqual(try trainTiny("mdlm", steps: 4).status, 0)
        let own = try reprise(["eval", "mdlm", "--sequences", "4"])
        XCTAssertEqual(own.status, 0, own.stderr)
        XCTAssertTrue(own.stdout.contains("(Monte-Carlo standard error, 2 draws per sequence, exact_k)"), own.stdout)
        let made = try reprise(["schedule", "work/shards", "--objective", "mdlm", "--seed", "3", "--batch-size", "8",
                                "--masking", "bernoulli", "--val-draws", "6", "--output", "bern", "--quiet"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let other = try reprise(["eval", "mdlm", "--sequences", "4", "--schedule", "bern"])
        XCTAssertEqual(other.status, 0, other.stderr)
        XCTAssertTrue(other.stdout.contains("(Monte-Carlo standard error, 6 draws per sequence, bernoulli)"), other.stdout)
        XCTAssertNotEqual(own.stdout, other.stdout)
        let wrong = try reprise(["eval", "mdlm", "--schedule", "work/schedules/ar"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("a schedule of the ar objective") && wrong.stderr.contains("trained the mdlm objective"), wrong.stderr)
    }

    func testClozeEvalAndDiffusionSampling() throws {
        try prepareTinyRuns()
        for objective in ["ar", "mdlm"] {
            let r = try trainTiny(objective, steps: 6)
            XCTAssertEqual(r.status, 0, r.stderr)
        }

        // Items built in memory until stored; the same items either way, so the same accuracy.
        let inMemory = try reprise(["eval", "ar", "--cloze", "--items", "30"])
        XCTAssertEqual(inMemory.status, 0, inMemory.stderr)
        XCTAssertTrue(inMemory.stdout.contains("cloze accuracy") && inMemory.stdout.contains("over 30 items")
                      && inMemory.stdout.contains("log-likelihood; context 28, endings 4 tokens, 4 choices")
                      && inMemory.stdout.contains("built in memory"), inMemory.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/work/shards/cloze"), "eval writes nothing")
        let build = try reprise(["cloze", "build", "work/shards", "--items", "30"])
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(build.stdout.contains("cloze: 30 items (context 28, endings 4 tokens, 4 choices)"), build.stdout)
        let items = try Data(contentsOf: URL(fileURLWithPath: root + "/work/shards/cloze/items.jsonl"))
        let storedFiles = try tree("work/shards/cloze")
        for point in ["before:items.jsonl@1", "before:manifest.json@1"] {
            try reprise(["cloze", "build", "work/shards", "--items", "30"], killedAt: point, leaving: "work/shards/cloze")
            XCTAssertEqual(try reprise(["cloze", "build", "work/shards", "--items", "30"]).status, 0)
            assertSameFiles(try tree("work/shards/cloze"), storedFiles, "cloze items rebuilt after a kill \(point)")
        }
        XCTAssertEqual(try reprise(["cloze", "build", "work/shards", "--items", "30"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: root + "/work/shards/cloze/items.jsonl")), items, "the same items again")
        let verify = try reprise(["verify", "work/shards"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        let rerun = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(rerun.stdout.contains("pack: up to date") && rerun.stdout.contains("schedule mdlm: up to date"), rerun.stdout)
        let stored = try reprise(["eval", "ar", "--cloze", "--items", "30"])
        XCTAssertTrue(stored.stdout.contains("stored in work/shards/cloze"), stored.stdout)
        func accuracy(_ s: String) -> String { String(s.split(separator: "(")[0]) }
        XCTAssertEqual(accuracy(stored.stdout), accuracy(inMemory.stdout))
        let show = try reprise(["cloze", "show", "work/shards", "--item", "2"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("item 2 of 30 (stored)") && show.stdout.contains("context: ") && show.stdout.contains("* "), show.stdout)

        // A diffusion run is scored by its ELBO on the same items, deterministically.
        let dlm = try reprise(["eval", "mdlm", "--cloze", "--items", "30", "--draws", "4"])
        XCTAssertEqual(dlm.status, 0, dlm.stderr)
        XCTAssertTrue(dlm.stdout.contains("over 30 items (ELBO, 4 draws;") && dlm.stdout.contains("stored in"), dlm.stdout)
        XCTAssertEqual(try reprise(["eval", "mdlm", "--cloze", "--items", "30", "--draws", "4"]).stdout, dlm.stdout)
        let both = try reprise(["eval", "ar", "--cloze", "--text", "p.yaml"])
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("--cloze and --text"), both.stderr)

        // Diffusion sampling: the prompt kept, the same text for the same seed.
        let args = ["sample", "mdlm", "--prompt", "the stone", "--max-tokens", "12", "--steps", "6", "--block-length", "4", "--seed", "1"]
        let sample = try reprise(args)
        XCTAssertEqual(sample.status, 0, sample.stderr)
        XCTAssertTrue(sample.stdout.hasPrefix("the stone"), sample.stdout)
        XCTAssertGreaterThan(sample.stdout.count, "the stone\n".count, sample.stdout)
        XCTAssertFalse(sample.stdout.contains("<|mask|>"), sample.stdout)
        XCTAssertEqual(try reprise(args).stdout, sample.stdout)
        let greedy = try reprise(["sample", "mdlm", "--max-tokens", "8", "--temperature", "0"])
        XCTAssertEqual(greedy.status, 0, greedy.stderr)
        let long = try reprise(["sample", "mdlm", "--max-tokens", "40"])
        XCTAssertEqual(long.status, 1)
        XCTAssertTrue(long.stderr.contains("context is 32"), long.stderr)
        let arSteps = try reprise(["sample", "ar", "--steps", "4"])
        XCTAssertEqual(arSteps.status, 1)
        XCTAssertTrue(arSteps.stderr.contains("apply to mdlm runs"), arSteps.stderr)
    }

    /// `cloze_items` in training: the final weights' score lands in metrics.jsonl, summary.json and the
    /// report, and equals what `reprise eval --cloze` reports for the same items and draws.
    func testTrainerScoresClozeAfterTheLastStep() throws {
        try prepareTinyRuns()
        func train(_ objective: String, _ extra: [String], output: String? = nil) throws -> Result {
            try trainTiny(objective, steps: 5, extra: extra, output: output)
        }
        for (objective, draws) in [("ar", "32"), ("mdlm", "3")] {
            let r = try train(objective, ["--cloze-items", "24", "--cloze-draws", draws])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("cloze accuracy"), r.stdout)
            let lines = try String(contentsOfFile: root + "/\(objective)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            // The final weights' score, then the best weights' (lowest validation loss) last.
            let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let last = try XCTUnwrap(objects.last { $0["cloze_accuracy"] != nil })
            let best = try XCTUnwrap(objects.last)
            XCTAssertEqual(best["cloze_best_items"] as? Int, 24)
            XCTAssertNotNil(best["cloze_best_step"] as? Int)
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/\(objective)/cloze-final.jsonl"))
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/\(objective)/cloze-best.jsonl"))
            XCTAssertEqual(last["step"] as? Int, 5)
            XCTAssertEqual(last["cloze_items"] as? Int, 24)
            let accuracy = try XCTUnwrap(last["cloze_accuracy"] as? Double)
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/\(objective)/summary.json"))) as? [String: Any])
            XCTAssertEqual(summary["cloze_accuracy"] as? Double, accuracy)
            let run = try String(contentsOfFile: root + "/\(objective)/run.json", encoding: .utf8)
            XCTAssertTrue(run.contains("\"cloze_items\" : 24"), run)
            let eval = try reprise(["eval", objective, "--cloze", "--items", "24", "--draws", draws])
            XCTAssertEqual(eval.status, 0, eval.stderr)
            XCTAssertTrue(eval.stdout.contains(String(format: "cloze accuracy %.4f ± %.4f over 24 items", accuracy, last["cloze_stderr"] as! Double)),
                          "trainer \(accuracy) vs \(eval.stdout)")
            // RUN/best (weights only, no state.json) loads with --checkpoint: the best weights' cloze score and
            // validation loss are the trainer's.
            let bestAccuracy = try XCTUnwrap(best["cloze_best_accuracy"] as? Double)
            let bestEval = try reprise(["eval", objective, "--checkpoint", objective + "/best", "--cloze", "--items", "24", "--draws", draws])
            XCTAssertEqual(bestEval.status, 0, bestEval.stderr)
            XCTAssertTrue(bestEval.stdout.contains(String(format: "cloze accuracy %.4f ± %.4f over 24 items", bestAccuracy, best["cloze_best_stderr"] as! Double)),
                          "trainer's best \(bestAccuracy) vs \(bestEval.stdout)")
            let kept = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/\(objective)/best/best.json"))) as? [String: Any])
            let bestLoss = try reprise(["eval", objective, "--checkpoint", objective + "/best", "--sequences", "4"])
            XCTAssertEqual(bestLoss.status, 0, bestLoss.stderr)
            XCTAssertTrue(bestLoss.stdout.contains(String(format: " %.4f", try XCTUnwrap(kept["val_loss"] as? Double))),
                          "best.json \(kept) vs \(bestLoss.stdout)")
            // Resuming a finished run keeps the score (summary rewritten from the logged line).
            try FileManager.default.removeItem(atPath: root + "/\(objective)/summary.json")
            let again = try train(objective, ["--cloze-items", "24", "--cloze-draws", draws, "--resume"])
            XCTAssertEqual(again.status, 0, again.stderr)
            let resumed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/\(objective)/summary.json"))) as? [String: Any])
            XCTAssertEqual(resumed["cloze_accuracy"] as? Double, accuracy)
        }
        // Without cloze_items run.json has no cloze keys (runs made before the option stay up to date).
        XCTAssertEqual(try train("ar", [], output: "plain").status, 0)
        XCTAssertFalse(try String(contentsOfFile: root + "/plain/run.json", encoding: .utf8).contains("cloze"))
        let report = try reprise(["report", "ar", "mdlm", "--output", "r.html"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOfFile: root + "/r.html", encoding: .utf8)
        XCTAssertTrue(html.contains("(n=24)") && !html.contains("No run has cloze scores"), "the report's cloze table is filled")
        let gaussian = try train("gauss", ["--cloze-items", "24"])
        XCTAssertEqual(gaussian.status, 1)
        XCTAssertTrue(gaussian.stderr.contains("train.cloze_items") && gaussian.stderr.contains("gaussian"), gaussian.stderr)
        let zero = try train("ar", ["--cloze-draws", "0"], output: "z")
        XCTAssertEqual(zero.status, 64)
        XCTAssertTrue(zero.stderr.contains("--cloze-draws must be at least 1"), zero.stderr)
    }
}
