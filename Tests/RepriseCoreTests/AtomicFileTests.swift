import Foundation
import RepriseCore
import XCTest

final class AtomicFileTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-atomic-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/sub/deeper", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The id of a process that has exited and been waited for: what a killed writer's id is to its successor.
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func touch(_ name: String) { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("x".utf8)) }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: dir + "/" + name) }

    /// Open descriptors of this process.
    func openDescriptors() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }

    /// Writers that do not keep their file open hold no descriptor between writes, append each write, and
    /// commit (or, dropped, remove their temporary file) like the others.
    func testWritersThatCloseBetweenWritesHoldNoDescriptor() throws {
        let before = try openDescriptors()
        let writers = try (0..<50).map { try AtomicFileWriter(path: dir + "/f\($0).bin", bufferBytes: 0, keepOpen: false) }
        for (i, w) in writers.enumerated() {
            try w.write("a\(i),")
            try w.write("b\(i)")
        }
        XCTAssertLessThanOrEqual(try openDescriptors(), before + 2, "50 files written, none held open")
        for w in writers.prefix(49) { try w.commit() }
        for i in 0..<49 {
            XCTAssertEqual(try String(contentsOfFile: dir + "/f\(i).bin", encoding: .utf8), "a\(i),b\(i)")
        }
        let kept = try AtomicFileWriter(path: dir + "/open.bin", keepOpen: true)
        XCTAssertEqual(try openDescriptors(), before + 1, "a writer that keeps its file open holds one descriptor")
        try kept.commit()
        XCTAssertTrue(exists("f49.bin.tmp-\(getpid())"))
        _ = writers  // the last writer is dropped uncommitted below
        XCTAssertEqual(try openDescriptors(), before)
    }

    func testADroppedWriterThatClosesBetweenWritesRemovesItsTemporary() throws {
        do {
            let w = try AtomicFileWriter(path: dir + "/gone.bin", bufferBytes: 0, keepOpen: false)
            try w.write("x")
            XCTAssertTrue(exists("gone.bin.tmp-\(getpid())"))
        }
        XCTAssertFalse(exists("gone.bin.tmp-\(getpid())"))
        XCTAssertFalse(exists("gone.bin"))
    }

    func testTemporaryNamesAreExactlyTheWritersOwn() throws {
        let path = dir + "/state.json"
        let w = try AtomicFileWriter(path: path)
        try w.write("{}")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("state.json") }
        XCTAssertEqual(names, ["state.json.tmp-\(getpid())"], "the writer's temporary file, before the commit")
        XCTAssertEqual(AtomicFile.temporaryOwner(names[0]), getpid())
        XCTAssertEqual(AtomicFile.temporaryPath(for: path), dir + "/" + names[0])
        try w.commit()
        XCTAssertTrue(exists("state.json") && !exists(names[0]))

        XCTAssertEqual(AtomicFile.temporaryOwner("optimizer.safetensors.tmp-4321"), 4321)
        XCTAssertEqual(AtomicFile.temporaryOwner("a.tmp-1.tmp-77"), 77, "the temporary file of a file named a.tmp-1")
        for name in ["state.json", ".tmp-123", "x.tmp-", "x.tmp-12a", "x.tmp-a12", "x.tmp-0123", "x.tmp-0", "x.tmp-99999999999",
                     "x.tmp-+12", "x.tmp-12 ", "x.tmp12", "x-tmp-12", "notes.tmp-draft", "x.TMP-12"] {
            XCTAssertNil(AtomicFile.temporaryOwner(name), name)
        }
    }

    func testOnlyTemporaryFilesOfDeadWritersAreRemoved() throws {
        let dead = try deadPid()
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        let live = sleeper.processIdentifier
        for name in ["model.safetensors.tmp-\(dead)", "state.json.tmp-\(live)", "manifest.json.tmp-\(getpid())",
                     "notes.tmp-draft", "keep.txt", "x.tmp-0\(dead)", "sub/a.tmp-\(dead)", "sub/deeper/b.tmp-\(dead)",
                     "sub/c.tmp-\(live)"] {
            touch(name)
        }
        try FileManager.default.createDirectory(atPath: dir + "/d.tmp-\(dead)", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/sub")

        let flat = try AtomicFile.removeStaleTemporaries(in: dir)
        XCTAssertEqual(flat.map { ($0 as NSString).lastPathComponent }.sorted(),
                       ["manifest.json.tmp-\(getpid())", "model.safetensors.tmp-\(dead)"])
        XCTAssertTrue(exists("state.json.tmp-\(live)"), "a live writer's file stays")
        XCTAssertTrue(exists("notes.tmp-draft") && exists("keep.txt") && exists("x.tmp-0\(dead)"), "other files stay")
        XCTAssertTrue(exists("d.tmp-\(dead)"), "directories are never taken for temporary files")
        XCTAssertTrue(exists("sub/a.tmp-\(dead)"), "not recursive unless asked")

        let deep = try AtomicFile.removeStaleTemporaries(in: dir, recursive: true)
        XCTAssertEqual(deep.sorted(), [dir + "/sub/a.tmp-\(dead)", dir + "/sub/deeper/b.tmp-\(dead)"], "once each: the link is not followed")
        XCTAssertTrue(exists("sub/c.tmp-\(live)"))
        XCTAssertEqual(try AtomicFile.removeStaleTemporaries(in: dir + "/missing"), [])
    }

    func testTheTemporaryFilesOfOneFile() throws {
        let dead = try deadPid()
        for name in ["report.html.tmp-\(dead)", "report.html.tmp-x.tmp-\(dead)", "other.html.tmp-\(dead)", "report.htm.tmp-\(dead)"] {
            touch(name)
        }
        XCTAssertEqual(try AtomicFile.removeStaleTemporaries(of: dir + "/report.html"), [dir + "/report.html.tmp-\(dead)"])
        XCTAssertTrue(exists("report.html.tmp-x.tmp-\(dead)") && exists("other.html.tmp-\(dead)") && exists("report.htm.tmp-\(dead)"))
    }
}
