import Foundation
import ReprisePipeline
import RepriseCore
import XCTest

/// Reading pipeline files: the order of runs, paths relative to the file, and errors found before anything runs.
final class PipelineFileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "pipeline-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func pipeline(train: [String], seqLen: Int = 32, model: String = "tiny") -> String {
        """
        work_dir: ../work
        stages:
          ingest: {inputs: [../raw, /abs/raw]}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: \(seqLen)}}
          schedules:
            p: {objective: ar, epochs: 1, batch_size: 2, seed: 1}
          train:
        \(train.map { "    \($0): {schedule: p, model: \(model)}" }.joined(separator: "\n"))
        """
    }

    func testRunsKeepTheFileOrder() throws {
        let names = ["zeta", "alpha", "mid-2", "beta_1", "mid-10"]
        let p = try PipelineFile.load(write("sub/p.yaml", pipeline(train: names)))
        XCTAssertEqual(p.stages.trainOrder, names)
        XCTAssertEqual(Set(p.stages.train!.keys), Set(names))
        XCTAssertEqual(try PipelineFile.load(write("sub/q.yaml", pipeline(train: names.reversed()))).stages.trainOrder, names.reversed())
    }

    func testRelativePathsFollowTheFile() throws {
        let p = try PipelineFile.load(write("sub/p.yaml", pipeline(train: ["a"])))
        let base = URL(fileURLWithPath: dir).standardizedFileURL.path
        XCTAssertEqual(URL(fileURLWithPath: p.workDir).standardizedFileURL.path, base + "/work")
        XCTAssertEqual(p.stages.ingest!.inputs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, [base + "/raw", "/abs/raw"])
        XCTAssertTrue(p.runPath("a").hasSuffix("/runs/a") && p.runPath("a").hasPrefix(p.workDir), p.runPath("a"))
    }

    func testSequencesLongerThanAModelContextAreRefusedOnLoad() throws {
        let path = write("p.yaml", pipeline(train: ["a", "b"], seqLen: 4096))
        XCTAssertThrowsError(try PipelineFile.load(path)) { e in
            XCTAssertTrue(e.oneLine.hasPrefix(path + ": stages.train.a: the model 'tiny' has a context of"), e.oneLine)
            XCTAssertTrue(e.oneLine.contains("seq_len (4096)"), e.oneLine)
        }
    }

    func testUnknownKeysAndMissingPlansAreNamed() throws {
        let typo = write("typo.yaml", pipeline(train: ["a"]).replacingOccurrences(of: "batch_size", with: "batchsize"))
        XCTAssertThrowsError(try PipelineFile.load(typo)) { XCTAssertTrue($0.oneLine.contains("unknown key 'stages.schedules.p.batchsize'"), $0.oneLine) }
        let missing = write("missing.yaml", pipeline(train: ["a"]).replacingOccurrences(of: "schedule: p", with: "schedule: q"))
        XCTAssertThrowsError(try PipelineFile.load(missing)) { XCTAssertTrue($0.oneLine.contains("stages.train.a.schedule: 'q' is not a plan under stages.schedules; known: p"), $0.oneLine) }
    }
}
