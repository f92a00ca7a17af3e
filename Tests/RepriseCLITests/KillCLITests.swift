import Foundation
import RepriseCore
import XCTest

/// Runs killed at exact points of their writes (the binary's test-only `REPRISE_TEST_KILL_AT`, see
/// `AtomicFile.swift`), and reruns that must end with every file of a clean run and nothing more.
extension CLITests {
    /// Runs the binary with `REPRISE_TEST_KILL_AT=point`; fails the test unless the process died of SIGKILL there.
    /// Returns the names of the temporary files it left in `dir`.
    @discardableResult
    func reprise(_ args: [String], killedAt point: String, leaving dir: String? = nil,
                 file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        p.environment = ProcessInfo.processInfo.environment.merging(["REPRISE_TEST_KILL_AT": point]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertTrue(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL,
                      "\(args.joined(separator: " ")) was not killed at \(point) (exit \(p.terminationStatus))", file: file, line: line)
        guard let dir else { return [] }
        let left = try tree(dir).keys.filter { AtomicFile.temporaryOwner(($0 as NSString).lastPathComponent) == p.processIdentifier }
        XCTAssertFalse(left.isEmpty, "the kill at \(point) left no temporary file in \(dir)", file: file, line: line)
        return left
    }

    /// Fails naming each file that is missing, extra or different.
    func assertSameFiles(_ got: [String: Data], _ expected: [String: Data], _ context: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        let extra = Set(got.keys).subtracting(expected.keys).sorted(), missing = Set(expected.keys).subtracting(got.keys).sorted()
        XCTAssertTrue(extra.isEmpty, "\(context): files a clean run does not have: \(extra)", file: file, line: line)
        XCTAssertTrue(missing.isEmpty, "\(context): files missing: \(missing)", file: file, line: line)
        let differ = expected.keys.filter { got[$0] != nil && got[$0] != expected[$0] }.sorted()
        XCTAssertTrue(differ.isEmpty, "\(context): files that differ: \(differ)", file: file, line: line)
    }

    /// Every file of a run directory, with metrics.jsonl less its wall-clock columns.
    func runFiles(_ run: String) throws -> [String: Data] {
        var t = try tree(run)
        if t["metrics.jsonl"] != nil { t["metrics.jsonl"] = Data(try metricsWithoutTiming(run).utf8) }
        return t
    }

    /// The id of a process that has exited and been waited for: what a killed writer's id is to the next run.
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// Ingest, pack and schedule reruns remove the temporary files of killed writers, and only those: a live
    /// process's file (another run writing there) and files that merely look alike stay.
    func testRerunsRemoveOnlyTheTemporaryFilesOfDeadWriters() throws {
        try copyEmbeddedBooks()
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        try sleeper.run()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        let live = sleeper.processIdentifier, dead = try deadPid()
        let steps: [(dir: String, args: [String], file: String)] = [
            ("docs", ["ingest", "in", "-o", "docs", "--quiet"], "docs-00000.jsonl.zst"),
            ("tok", ["tokenizer", "train", "docs", "--vocab-size", "300", "-o", "tok", "--quiet"], "tokenizer.json"),
            ("shards", ["pack", "docs", "--tokenizer", "tok", "-o", "shards", "--seq-len", "16", "--quiet"], "train-00000.shard"),
            ("plan", ["schedule", "shards", "--objective", "mdlm", "--epochs", "3", "--quiet", "-o", "plan"], "epoch-00001.plan"),
        ]
        for s in steps {
            XCTAssertEqual(try reprise(s.args).status, 0, s.args.joined(separator: " "))
            let clean = try tree(s.dir)
            let planted = ["\(s.file).tmp-\(dead)", "manifest.json.tmp-\(dead)", "\(s.file).tmp-\(live)", "notes.tmp-draft"]
            for name in planted { write(s.dir + "/" + name, "partial") }
            XCTAssertEqual(try reprise(s.args).status, 0, s.args.joined(separator: " "))
            var expected = clean
            for name in planted[2...] { expected[name] = Data("partial".utf8) }
            assertSameFiles(try tree(s.dir), expected, "\(s.dir) rerun over a dead and a live writer's files")
        }
    }

    /// `reprise train` (`args` end with `-o`, checkpoints every 7 steps) killed inside its writes: its first
    /// file, a checkpoint's weights, optimizer state, state.json and pointer, just after the last pointer
    /// (before the older checkpoints are deleted) and before summary.json. Resumed after each kill, the run
    /// ends with the files of `clean`, and no others.
    func assertKillsInCheckpointWritesEndAsACleanRun(_ args: [String], clean: String, killed: String,
                                                     file: StaticString = #filePath, line: UInt = #line) throws {
        func json(_ path: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/" + path))) as! [String: Any]
        }
        let total = try json(clean + "/summary.json")["steps"] as! Int
        let saves = { (after: Int) in (after + 1 ... total).filter { $0 % 7 == 0 || $0 == total }.count }
        XCTAssertGreaterThanOrEqual(saves(0), 5, "enough checkpoints to kill in", file: file, line: line)
        try reprise(args + [killed], killedAt: "before:config.json@1", leaving: killed, file: file, line: line)
        for point in ["before:optimizer.safetensors@2", "before:model.safetensors@1", "before:state.json@2", "before:checkpoint.json@1"] {
            try reprise(args + [killed, "--resume"], killedAt: point, leaving: killed, file: file, line: line)
        }
        let pointer = try json(killed + "/checkpoint.json")["step"] as! Int
        try reprise(args + [killed, "--resume"], killedAt: "after:checkpoint.json@\(saves(pointer))", file: file, line: line)
        try reprise(args + [killed, "--resume"], killedAt: "before:summary.json@1", leaving: killed, file: file, line: line)
        let r = try reprise(args + [killed, "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        assertSameFiles(try runFiles(killed), try runFiles(clean), "\(killed): killed in its writes and resumed", file: file, line: line)
    }
}
