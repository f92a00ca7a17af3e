import Foundation
import RepriseCore
import XCTest

/// Every stage opens and finishes its output directory through `StageOutput`.
final class StageOutputTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stage-output-\(getpid())-\(UInt32.random(in: 0...UInt32.max))/out"
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }

    func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    struct Manifest: Codable, Equatable { var format = "test"; var files: [String] }

    func testOpenClearsTheOldRunAndFinishWritesTheManifestLast() throws {
        let first = try StageOutput.open(dir)
        XCTAssertEqual(try names(), [], "open makes the directory")
        try AtomicFileWriter.write(Array("a".utf8), to: first.path("part-0.bin"))
        try first.finish(Manifest(files: ["part-0.bin"]))
        XCTAssertEqual(try names(), ["manifest.json", "part-0.bin"])
        XCTAssertEqual(try CanonicalJSON.decode(Manifest.self, from: StageOutput.manifestPath(dir)), Manifest(files: ["part-0.bin"]))

        // A killed writer's temporary (a process that no longer exists) and a file the stage does not own.
        let dead = AtomicFile.temporaryPath(for: dir + "/part-1.bin", pid: 999_999)
        FileManager.default.createFile(atPath: dead, contents: Data("x".utf8))
        FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data("keep".utf8))
        let second = try StageOutput.open(dir) { $0.hasPrefix("part-") }
        XCTAssertEqual(try names(), ["notes.txt"], "the manifest, the owned files and the dead temporary go; others stay")
        XCTAssertEqual(second.manifestPath, dir + "/manifest.json")
    }

    func testAnInterruptedRunLeavesNoManifest() throws {
        let out = try StageOutput.open(dir)
        try out.finish(Manifest(files: []))
        // The next run opens the directory and dies before finishing: no manifest claims the old outputs.
        _ = try StageOutput.open(dir) { $0.hasSuffix(".bin") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: StageOutput.manifestPath(dir)))
        XCTAssertThrowsError(try StageDirectory.check(dir, format: "test", missing: "run the test stage first")) { error in
            XCTAssertTrue("\(error)".contains("run the test stage first"), "\(error)")
        }
    }
}
