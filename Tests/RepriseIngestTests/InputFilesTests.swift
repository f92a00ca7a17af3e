import Foundation
import RepriseCore
import RepriseIngest
import XCTest

extension Scratch {
    /// Writes a file whose name (inside the input directory) is given as raw bytes, not necessarily UTF-8.
    func write(rawName: [UInt8], _ text: String) {
        let path = Array(inputDir.utf8) + [0x2F] + rawName
        let fd = withCPath(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        precondition(fd >= 0, "cannot create \(String(decoding: path, as: UTF8.self))")
        _ = Array(text.utf8).withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func symlink(_ name: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: inputDir + "/" + name, withDestinationPath: target)
    }
}

/// How inputs expand into files and how those files are named.
final class InputFilesTests: XCTestCase {
    func testDirectoryLinksAreNotFollowedAndAreCounted() throws {
        let s = Scratch()
        s.write("a.txt", "First document here.")
        s.write("sub/b.txt", "Second document here.")
        try s.symlink("sub/up", to: "..")            // a loop back to the input directory
        s.write("x/one.txt", "Third document here.")
        s.write("y/two.txt", "Fourth document here.")
        try s.symlink("x/to-y", to: "../y")          // two links that lead into each other
        try s.symlink("y/to-x", to: "../x")
        try s.symlink("sub/c.txt", to: "../a.txt")   // a link to a regular file is read
        let m = try s.ingest()
        XCTAssertEqual(m.inputs.map(\.path), ["in/a.txt", "in/sub/b.txt", "in/sub/c.txt", "in/x/one.txt", "in/y/two.txt"])
        XCTAssertTrue(m.inputs.allSatisfy { $0.status == "ok" })
        XCTAssertEqual(m.skippedLinks, ["in/sub/up", "in/x/to-y", "in/y/to-x"])
        XCTAssertEqual(m.counts.read, 5)
        // A directory given as an input is walked even when it is a link.
        try FileManager.default.createSymbolicLink(atPath: s.root + "/alias", withDestinationPath: s.inputDir + "/x")
        let alias = try s.ingest([s.root + "/alias"], output: "alias")
        XCTAssertEqual(alias.inputs.map(\.path), ["alias/one.txt"])
        XCTAssertEqual(alias.skippedLinks, ["alias/to-y"])
    }

    func testNonRegularFilesFailWithoutBeingRead() throws {
        let s = Scratch()
        XCTAssertEqual(mkfifo(s.inputDir + "/pipe.txt", 0o644), 0)
        try s.symlink("to-pipe.txt", to: "pipe.txt")
        try s.symlink("dangling.txt", to: "nowhere.txt")
        s.write("zz-good.txt", "A good document after the bad ones.")
        // A device named explicitly is refused too: /dev/zero never ends.
        let m = try s.ingest([s.inputDir, "/dev/zero"])
        func record(_ name: String) -> InputRecord? { m.inputs.first { $0.path == name } }
        XCTAssertEqual(record("in/pipe.txt")?.status, "failed")
        XCTAssertEqual(record("in/pipe.txt")?.error, "in/pipe.txt: not a regular file: FIFO")
        XCTAssertEqual(record("in/to-pipe.txt")?.error, "in/to-pipe.txt: not a regular file: symbolic link to FIFO")
        XCTAssertEqual(record("in/dangling.txt")?.error, "in/dangling.txt: dangling symbolic link")
        XCTAssertEqual(record("zero")?.error, "zero: not a regular file: character device")
        XCTAssertEqual(record("zero")?.sha256, "unreadable")
        XCTAssertEqual(record("in/zz-good.txt")?.status, "ok")
        XCTAssertEqual(try s.texts(), ["A good document after the bad ones."])
        // The fingerprint of the same inputs ends too, and agrees with the manifest.
        XCTAssertEqual(try Ingest.fingerprint([s.inputDir, "/dev/zero"]).hash, m.inputHash)
        // A FIFO that takes a file's place after expansion is not opened for reading either.
        XCTAssertThrowsError(try FileSource(regularFile: Array((s.inputDir + "/pipe.txt").utf8), name: "p")) { e in
            XCTAssertEqual(e.oneLine, "p: not a regular file: FIFO")
        }
    }

    func testNamesAreReadByTheirBytes() throws {
        let s = Scratch()
        let composed: [UInt8] = Array("caf\u{E9}.txt".utf8)
        let decomposed: [UInt8] = Array("cafe\u{301}.txt".utf8)
        XCTAssertNotEqual(composed, decomposed)
        s.write(rawName: composed, "Composed name.")
        s.write(rawName: decomposed, "Decomposed name.")
        s.write(rawName: [0x62, 0xFF, 0x5C, 0x2E, 0x74, 0x78, 0x74], "Byte FF and a backslash in the name.") // b\xFF\.txt
        let m = try s.ingest()
        XCTAssertEqual(m.inputs.count, 3)
        XCTAssertTrue(m.inputs.allSatisfy { $0.status == "ok" }, "\(m.inputs.map { $0.error ?? "" })")
        // Sorted by bytes: 'b' < 'c', and "cafe" + U+0301 < "caf" + U+00E9 (0x65 < 0xC3).
        XCTAssertEqual(m.inputs.map { Array($0.path.utf8) },
                       [Array("in/b\\xFF\\\\.txt".utf8), Array("in/".utf8) + decomposed, Array("in/".utf8) + composed])
        XCTAssertEqual(try s.records().map { Array(($0["source"] as! String).utf8) }, m.inputs.map { Array($0.path.utf8) })
        XCTAssertEqual(try s.texts(), ["Byte FF and a backslash in the name.", "Decomposed name.", "Composed name."])
        XCTAssertEqual(try Ingest.fingerprint([s.inputDir]).hash, m.inputHash)
    }

    func testNamesDoNotDependOnHowTheInputIsSpelled() throws {
        let s = Scratch()
        s.write("a.txt", "One.")
        s.write("sub/b.txt", "Two.")
        let absolute = try InputFiles.expand([s.inputDir])
        XCTAssertEqual(absolute.files.map(\.name), ["in/a.txt", "in/sub/b.txt"])
        for spelling in [s.inputDir + "/", s.inputDir + "//", s.inputDir + "/.", s.inputDir + "/sub/..",
                         s.root + "/./in/"] {
            XCTAssertEqual(try InputFiles.expand([spelling]).files.map(\.name), absolute.files.map(\.name), spelling)
        }
        XCTAssertEqual(try InputFiles.expand([s.inputDir + "/*"]).files.map(\.name), ["in/a.txt", "in/sub/b.txt"])
        XCTAssertEqual(try InputFiles.expand([s.inputDir + "/./*/b.txt"]).files.map(\.name), ["in/sub/b.txt"])
        XCTAssertEqual(try InputFiles.expand([s.inputDir + "/sub/b.txt"]).files.map(\.name), ["b.txt"])
        // The same file reached twice is listed once, under its first name.
        XCTAssertEqual(try InputFiles.expand([s.inputDir + "/sub/b.txt", s.inputDir, s.inputDir + "/"]).files.map(\.name),
                       ["b.txt", "in/a.txt"])
    }

    func testTwoFilesWithTheSameNameAreRefused() throws {
        let s = Scratch()
        s.write("x/corpus/a.txt", "One.")
        s.write("y/corpus/a.txt", "Two.")
        XCTAssertThrowsError(try InputFiles.expand([s.inputDir + "/x/corpus", s.inputDir + "/y/corpus"])) { e in
            XCTAssertTrue(e.oneLine.contains("corpus/a.txt") && e.oneLine.contains(s.inputDir + "/x/corpus")
                          && e.oneLine.contains(s.inputDir + "/y/corpus"), e.oneLine)
        }
        // Their common parent names them apart.
        XCTAssertEqual(try InputFiles.expand([s.inputDir]).files.map(\.name), ["in/x/corpus/a.txt", "in/y/corpus/a.txt"])
        XCTAssertEqual(try InputFiles.expand([s.inputDir + "/*/corpus"]).files.map(\.name), ["in/x/corpus/a.txt", "in/y/corpus/a.txt"])
    }

    func testAnEmptyDirectoryIsAMissingInput() throws {
        let s = Scratch()
        try FileManager.default.createDirectory(atPath: s.root + "/empty/.hidden-only", withIntermediateDirectories: true)
        s.write("a.txt", "One.")
        let m = try s.ingest([s.root + "/empty", s.inputDir])
        XCTAssertEqual(m.missingInputs, [s.root + "/empty"])
        XCTAssertEqual(m.inputs.map(\.path), ["in/a.txt"])
    }

    func testStandardInputIsOneFileThatFingerprintRefuses() throws {
        let list = try InputFiles.expand(["-", "-"])
        XCTAssertEqual(list.files, [InputFile(name: "<stdin>", path: [], isStandardInput: true)])
        XCTAssertThrowsError(try Ingest.fingerprint(["-"])) { e in
            XCTAssertTrue(e.oneLine.contains("standard input"), e.oneLine)
        }
    }
}
