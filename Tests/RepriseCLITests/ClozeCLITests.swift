import Foundation
import XCTest

extension CLITests {
    func testClozeEvalAndDiffusionSampling() throws {
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
        """)
        let prepared = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
        for objective in ["ar", "mdlm"] {
            let r = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/\(objective)", "--model", "m.json",
                                 "--steps", "6", "--eval-sequences", "4", "--threads", "2", "--quiet", "-o", objective])
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
}
