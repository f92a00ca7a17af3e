import Foundation
import RepriseCore
import RepriseIngest
import XCTest

/// The stages after ingest read its output only as its manifest describes it.
final class OutputCheckTests: XCTestCase {
    func makeOutput(_ s: Scratch) throws -> IngestManifest {
        s.write("a.txt", "first document about the river\n")
        s.write("b.jsonl", (0..<6).map { "{\"text\": \"document number \($0) of the city\"}\n" }.joined())
        var config = Scratch.permissive
        config.docsPerFile = 4
        let m = try s.ingest(config: config)
        XCTAssertEqual(m.outputs.count, 2)
        return m
    }

    func expectError(_ body: () throws -> Void, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error: \(message)", file: file, line: line)
        } catch {
            XCTAssertTrue(error.oneLine.contains(message), error.oneLine, file: file, line: line)
        }
    }

    func testEveryDocsFileIsCheckedAgainstTheManifestAsItIsRead() throws {
        let s = Scratch()
        let m = try makeOutput(s)
        let dir = s.root + "/out"
        var ids: [String] = []
        try IngestOutput.forEachDocument(dir) { id, _ in ids.append(id) }
        XCTAssertEqual(ids.count, m.counts.kept)

        // Valid zstd, one character changed.
        let path = dir + "/docs-00001.jsonl.zst"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var text = try Zstd.decompress(Array(original))
        text[text.firstIndex(of: UInt8(ascii: "y"))!] = UInt8(ascii: "Y")
        try Data(try ZstdEncoder.compress(text)).write(to: URL(fileURLWithPath: path))
        let changed = "\(path): SHA-256 differs from the ingest manifest (the file was changed after ingest); rerun `reprise ingest`"
        expectError({ try IngestOutput.forEachDocument(dir) { _, _ in } }, changed)

        // Damaged so that it no longer decodes: still reported as changed, the cause.
        var damaged = original
        damaged[damaged.count / 2] ^= 0x10
        try damaged.write(to: URL(fileURLWithPath: path))
        expectError({ try IngestOutput.forEachDocument(dir) { _, _ in } }, changed)

        // The same bytes, but the manifest counts another number of documents.
        try original.write(to: URL(fileURLWithPath: path))
        var entry = m.outputs[1]
        entry.documents += 1
        expectError({ try IngestOutput.forEachDocument(dir: dir, entry: entry) { _, _ in } },
                    "\(path): \(m.outputs[1].documents) records, the ingest manifest says \(entry.documents)")
    }

    func testInconsistentCountsAreRefused() throws {
        let s = Scratch()
        let m = try makeOutput(s)
        let dir = s.root + "/out"
        XCTAssertEqual(try IngestManifest.load(dir), m)
        XCTAssertEqual(m.inconsistencies, [])
        func edited(_ edit: (inout IngestManifest) -> Void) throws {
            var e = m
            edit(&e)
            try AtomicFileWriter.write(try CanonicalJSON.encode(e), to: dir + "/manifest.json")
        }
        try edited { $0.counts.read += 2 }
        expectError({ _ = try IngestManifest.load(dir) }, "\(dir)/manifest.json: counts.read is \(m.counts.read + 2), kept + dropped = \(m.counts.read)")
        expectError({ try IngestOutput.forEachDocument(dir) { _, _ in } }, "counts.read is")
        try edited { $0.counts.kept += 1; $0.counts.read += 1 }
        expectError({ _ = try IngestManifest.load(dir) }, "counts.kept is \(m.counts.kept + 1), the documents of outputs = \(m.counts.kept)")
        try edited { $0.outputs[0].file = "../elsewhere.jsonl.zst" }
        expectError({ _ = try IngestManifest.load(dir) }, "lists the file '../elsewhere.jsonl.zst'")
    }
}
