import Foundation
import XCTest

/// The real binary on a gaussian (embedding diffusion) run: schedule, train, eval and sample.
extension CLITests {
    func testGaussianRunTrainsEvaluatesAndSamples() throws {
        try copyEmbeddedBooks()
        write("p.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 400}}
          pack: {config: {seq_len: 32, val_fraction: 0.1}}
          schedules:
            gaussian: {objective: gaussian, epochs: 1, batch_size: 8, seed: 3, val_draws: 2}
        """)
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
        let train = try reprise(["train", "--shards", "work/shards", "--schedule", "work/schedules/gaussian", "--model", "m.json",
                                 "--steps", "20", "--eval-sequences", "8", "--threads", "2", "--quiet", "-o", "g"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("validation diffusion loss") && train.stdout.contains("not a likelihood"), train.stdout)
        let eval = try reprise(["eval", "g", "--sequences", "8"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("eps MSE") && eval.stdout.contains("not a likelihood"), eval.stdout)
        let args = ["sample", "g", "--prompt", "And Ruth", "--max-tokens", "8", "--steps", "10", "--seed", "1"]
        let sample = try reprise(args)
        XCTAssertEqual(sample.status, 0, sample.stderr)
        XCTAssertTrue(sample.stdout.hasPrefix("And Ruth"), sample.stdout)
        XCTAssertEqual(try reprise(args).stdout, sample.stdout, "the same seed gives the same text")
        XCTAssertEqual(try reprise(args + ["--no-clamp"]).status, 0)
        let long = try reprise(["sample", "g", "--max-tokens", "64"])
        XCTAssertEqual(long.status, 1)
        XCTAssertTrue(long.stderr.contains("context"), long.stderr)
    }
}
