import Foundation
import XCTest

/// Hostile inputs on the command line and in config files: clear errors, never a crash or an internal error.
extension CLITests {
    /// The YAML loader recurses once per level; thousands of levels used to overflow the stack.
    func testDeeplyNestedPipelineFileIsRefusedWithItsLine() throws {
        let n = 5_000
        let files = [
            "flow.yaml": "work_dir: w\nstages: " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "\n",
            "block.yaml": "work_dir: w\nstages:\n" + (0..<n).map { String(repeating: " ", count: $0 + 1) + "k\($0):\n" }.joined()
                + String(repeating: " ", count: n + 1) + "x: 1\n",
            "dash.yaml": "work_dir: w\nstages:\n  " + String(repeating: "- ", count: n) + "x\n",
            // Text that looks like a quote or a block scalar in a plain scalar hides nothing.
            "tricky.yaml": "work_dir: w\ntitle: it's |\nstages:\n" + (0..<n).map { String(repeating: " ", count: $0 + 1) + "k\($0):\n" }.joined(),
        ]
        let lines = ["flow.yaml": 2, "block.yaml": 66, "dash.yaml": 3, "tricky.yaml": 67]
        for (name, text) in files {
            write(name, text)
            let r = try reprise(["run", name])
            XCTAssertEqual(r.status, 1, "\(name): \(r.stderr.prefix(300))")
            XCTAssertTrue(r.stderr.contains("\(name):\(lines[name]!): nesting deeper than 64 levels"), "\(name): \(r.stderr.prefix(300))")
        }
        // Real nesting, block scalars with deep-looking text, quoted brackets and comments pass the check.
        write("ok.yaml", """
        work_dir: w   # [[[[
        note: |
              [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        other: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        stages:
          ingest: {inputs: [in], config: {dedup: {bands: 4}}}

        """)
        let ok = try reprise(["run", "ok.yaml"])
        XCTAssertFalse(ok.stderr.contains("nesting"), ok.stderr)
        XCTAssertTrue(ok.stderr.contains("note"), "the unknown keys are reported by the decoder: \(ok.stderr)")
    }
}

extension CLITests {
    /// Negative numbers reach the options' own checks (not "Missing value"); NaN and infinities are
    /// refused with the option and the value.
    func testBadNumbersAreValidationErrorsNamingTheOption() throws {
        let cases: [([String], String)] = [
            (["train", "--shards", "s", "--schedule", "p", "-o", "r", "--weight-decay", "-1"], "--weight-decay must be a finite number, at least 0 (got -1.0)"),
            (["train", "--shards", "s", "--schedule", "p", "-o", "r", "--weight-decay", "nan"], "--weight-decay must be a finite number, at least 0 (got nan)"),
            (["train", "--shards", "s", "--schedule", "p", "-o", "r", "--grad-clip", "inf"], "--grad-clip must be a finite positive number (got inf)"),
            (["train", "--shards", "s", "--schedule", "p", "-o", "r", "--lr", "-0.5"], "--lr must be in (0, 10) (got -0.5)"),
            (["schedule", "build", "s", "-o", "p", "--epochs", "-3"], "--epochs must be between 1 and 1000000"),
            (["tokenizer", "train", "in", "-o", "t", "--threads", "-2"], "--threads must be at least 1"),
        ]
        for (args, message) in cases {
            let r = try reprise(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Missing value"), r.stderr)
        }
        // Config files: NaN in a fraction and a max_doc_bytes whose buffers would overflow.
        for (body, message) in [("dedup: {threshold: .nan}", "ingest config: dedup.threshold must be between 0 and 1 (got nan)"),
                                ("max_doc_bytes: 4611686018427387904", "ingest config: max_doc_bytes must be between 1 and 4294967296 (4 GiB) (got 4611686018427387904)"),
                                ("quality: {max_bullet_lines_ratio: -.inf}", "quality.max_bullet_lines_ratio must be between 0 and 1 (got -inf)")] {
            write("c.yaml", body + "\n")
            write("in/a.txt", "some text\n")
            let r = try reprise(["ingest", "in", "-o", "out", "--config", "c.yaml", "--quiet"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("c.yaml") && r.stderr.contains(message), r.stderr)
        }
    }

    /// A plan larger than the limit (or the free disk) is refused before any file is written.
    func testHugeScheduleIsRefusedUpFront() throws {
        makeCorpus(files: 2, paragraphsPerFile: 40)
        write("p.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 1, val_fraction: 0.1}}
        """)
        let prepared = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        let r = try reprise(["schedule", "build", "work/shards", "--objective", "mdlm", "--epochs", "1000000", "-o", "plans", "--quiet"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--epochs: 1000000 epochs × ") && r.stderr.contains("lower --epochs"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/plans").filter { $0.hasSuffix(".plan") }, [])
        XCTAssertEqual(try reprise(["schedule", "build", "work/shards", "--objective", "mdlm", "--epochs", "2", "-o", "plans", "--quiet"]).status, 0)
    }

    /// Under a process limit that allows no more threads, a command asked for several fails at once with
    /// the reason instead of waiting forever for a worker thread. The limit does not bind root, so as
    /// root the command runs as `nobody`.
    func testThreadCreationFailureIsAClearError() throws {
        let prlimit = "/usr/bin/prlimit", setpriv = "/usr/bin/setpriv"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: prlimit), "needs prlimit (util-linux)")
        var command = [prlimit, "--nproc=1", Self.binary]
        if getuid() == 0 {
            try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: setpriv), "needs setpriv (util-linux) as root")
            command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] + command
            chmod(root, 0o777)
        }
        write("in/a.txt", "one two three four five six seven eight nine ten\n")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst()) + ["tokenizer", "train", root + "/in/a.txt", "-o", root + "/tok",
                                                    "--vocab-size", "300", "--threads", "100", "--quiet"]
        // OpenBLAS starts its own threads when the library loads; one is enough here.
        p.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); XCTFail("still running after 60 s"); return }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.contains("cannot start 100 worker threads: Resource temporarily unavailable"), stderr)
        XCTAssertTrue(stderr.contains("lower --threads"), stderr)
    }
}
