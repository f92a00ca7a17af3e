import Foundation
import RepriseCore
import RepriseIngest
import XCTest

/// Every bad input gets a one-line error naming the file (and position when known), the run goes on with
/// the other inputs, and the file is recorded as failed.
final class BadInputTests: XCTestCase {
    private func ingestWithGoodNeighbour(_ s: Scratch, _ config: IngestConfig = Scratch.permissive) throws -> IngestManifest {
        s.write("zz-good.txt", "A good document after the bad one.")
        let m = try s.ingest(config: config)
        XCTAssertEqual(m.inputs.last?.status, "ok")
        XCTAssertTrue(try s.texts().contains("A good document after the bad one."), "the run must go on after a bad input")
        XCTAssertEqual(m.counts.read, m.counts.kept + m.counts.dropped.values.reduce(0, +))
        return m
    }

    private func assertFailed(_ m: IngestManifest, _ file: String, contains: [String], line: UInt = #line) {
        guard let rec = m.inputs.first(where: { $0.path == file || $0.path.hasSuffix("/" + file) }) else {
            return XCTFail("no input record for \(file)", line: line)
        }
        XCTAssertEqual(rec.status, "failed", line: line)
        let error = rec.error ?? ""
        XCTAssertFalse(error.contains("\n"), "errors are one line", line: line)
        XCTAssertTrue(error.contains(rec.path), "error names the file: \(error)", line: line)
        for c in contains { XCTAssertTrue(error.contains(c), "expected '\(c)' in: \(error)", line: line) }
    }

    func testMalformedXMLFailsWithLineAndKeepsEarlierPages() throws {
        let s = Scratch()
        s.write("bad.xml", """
        <mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
        <page><title>Ok</title><ns>0</ns><revision><text>Fine page text.\(String(repeating: " More text.", count: 2000))</text></revision></page>
        <page><title>Filler</title><ns>0</ns><revision><text>\(String(repeating: "Filler text. ", count: 400))</text></revision></page>
        <page><title>Broken</title><ns>0</ns><revision><text>unclosed <b></revision></page>
        </mediawiki>
        """)
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "bad.xml", contains: ["malformed XML", "line 4:"])
        XCTAssertTrue(try s.texts().contains { $0.hasPrefix("Fine page text.") }, "pages read before the error are kept (libxml2 drops at most the chunk around the error)")
    }

    func testXMLThatIsNotAMediaWikiExportFails() throws {
        let s = Scratch()
        s.write("other.xml", "<?xml version=\"1.0\"?><catalog><book>x</book></catalog>")
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "other.xml", contains: ["not a MediaWiki export"])
    }

    func testBillionLaughsFailsFastInBoundedMemory() throws {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE mediawiki [\n<!ENTITY lol0 \"lol\">\n"
        for i in 1...12 {
            xml += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i - 1);", count: 10) + "\">\n"
        }
        xml += "]>\n<mediawiki><page><title>T</title><ns>0</ns><revision><text>&lol12;</text></revision></page></mediawiki>\n"
        let s = Scratch()
        s.write("laughs.xml", xml)
        let start = Date()
        let m = try ingestWithGoodNeighbour(s)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        // libxml2 refuses the entity loop itself, or the reader refuses the DTD: either way the file fails.
        assertFailed(m, "laughs.xml", contains: [])
        XCTAssertFalse(try s.texts().joined().contains("lollol"))
    }

    func testExternalEntityNeverReadsALocalFile() throws {
        let s = Scratch()
        let secret = s.write("secret/secret.dat", "TOP-SECRET-CONTENT")
        s.write("xxe.xml", """
        <?xml version="1.0"?>
        <!DOCTYPE mediawiki [<!ENTITY xxe SYSTEM "file://\(secret)">]>
        <mediawiki><page><title>T</title><ns>0</ns><revision><text>before &xxe; after</text></revision></page></mediawiki>
        """)
        let m = try s.ingest([s.inputDir + "/xxe.xml"])
        assertFailed(m, "xxe.xml", contains: [])
        let all = try s.records() + s.records(prefix: "excluded")
        XCTAssertFalse(all.contains { ($0["text"] as? String ?? "").contains("TOP-SECRET") })
    }

    func testInvalidUTF8IsRepairedAndMostlyInvalidDocumentsDropped() throws {
        let s = Scratch()
        s.write("some.txt", Array("Mostly fine text ".utf8) + [0xFF, 0xFE] + Array(" with two bad bytes.".utf8))
        s.write("mostly.txt", [0x41] + [UInt8](repeating: 0xFF, count: 40) + [0x42])
        let m = try s.ingest()
        XCTAssertEqual(try s.texts(), ["Mostly fine text \u{FFFD}\u{FFFD} with two bad bytes."])
        XCTAssertEqual(m.counts.dropped["invalid_utf8"], 1)
        XCTAssertEqual(m.counts.invalidUTF8Sequences, 42)
        XCTAssertTrue(m.inputs.allSatisfy { $0.status == "ok" })
    }

    func testNULBytesInTextAreRemovedAndCounted() throws {
        let s = Scratch()
        s.write("nul.txt", Array("Text with a stray ".utf8) + [0] + Array("NUL byte inside.".utf8))
        let m = try s.ingest()
        XCTAssertEqual(try s.texts(), ["Text with a stray NUL byte inside."])
        XCTAssertEqual(m.counts.controlCharactersRemoved, 1)
    }

    func testBinaryGarbageFails() throws {
        let s = Scratch()
        var rng = SplitMix64(seed: 3)
        s.write("garbage.bin", (0..<10_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "garbage.bin", contains: ["binary content"])
    }

    func testTruncatedZstdAndGzipFailAndKeepWhatWasRead() throws {
        let s = Scratch()
        var lines = ""
        for i in 0..<20_000 { lines += "{\"text\": \"line \(i) " + String(repeating: "abc ", count: Int(i % 7)) + "\"}\n" }
        let z = try ZstdEncoder.compress(Array(lines.utf8))
        s.write("cut.jsonl.zst", Array(z[0..<(z.count * 2 / 3)]))
        let gzPath = s.write("cut.jsonl", lines)
        try runTool("/bin/gzip", ["-n", gzPath])
        let gz = Array(FileManager.default.contents(atPath: gzPath + ".gz")!)
        try FileManager.default.removeItem(atPath: gzPath + ".gz")
        s.write("cut2.jsonl.gz", Array(gz[0..<(gz.count / 2)]))
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "cut.jsonl.zst", contains: ["truncated zstd"])
        assertFailed(m, "cut2.jsonl.gz", contains: ["truncated gzip"])
        let zstdRecord = m.inputs.first { $0.path.hasSuffix("cut.jsonl.zst") }!
        XCTAssertGreaterThan(zstdRecord.documents, 100, "documents before the cut are read")
        XCTAssertLessThan(zstdRecord.documents, 20_000)
    }

    func testTruncatedBzip2XzAndWARCGzipFailAndKeepWhatWasRead() throws {
        let s = Scratch()
        var lines = ""
        for i in 0..<20_000 { lines += "{\"text\": \"line \(i) " + String(repeating: "abc ", count: Int(i % 7)) + "\"}\n" }
        // bzip2 decodes whole blocks only: 100 kB blocks (-1) so that some arrive before the cut.
        for (tool, args, ext) in [("/bin/bzip2", ["-1"], "bz2"), ("/usr/bin/xz", [], "xz")] {
            let path = s.write("full.jsonl", lines)
            try runTool(tool, args + [path])
            let bytes = Array(FileManager.default.contents(atPath: path + "." + ext)!)
            try FileManager.default.removeItem(atPath: path + "." + ext)
            s.write("cut.jsonl." + ext, Array(bytes[0..<(bytes.count * 2 / 3)]))
        }
        // A WET file (the fixture's records 100 times over) cut inside the gzip member of a record.
        let wet = Array(FileManager.default.contents(atPath: WARCTests.wet)!)
        let long = [[UInt8]](repeating: wet, count: 100).flatMap { $0 }
        s.write("cut.warc.wet.gz", Array(long[0..<(50 * wet.count + 700)]))
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "cut.jsonl.bz2", contains: ["truncated bzip2"])
        assertFailed(m, "cut.jsonl.xz", contains: ["truncated xz"])
        assertFailed(m, "cut.warc.wet.gz", contains: ["truncated gzip"])
        for name in ["cut.jsonl.bz2", "cut.jsonl.xz"] {
            let record = m.inputs.first { $0.path.hasSuffix(name) }!
            XCTAssertGreaterThan(record.documents, 100, "documents before the cut are read")
            XCTAssertLessThan(record.documents, 20_000)
        }
        // 50 copies of 6 conversion records, then the conversions whose members end before the cut.
        let cutWET = m.inputs.first { $0.path.hasSuffix("cut.warc.wet.gz") }!
        XCTAssertGreaterThanOrEqual(cutWET.documents, 300)
        XCTAssertLessThan(cutWET.documents, 306)
    }

    func testEmptyFileHoldsNoDocument() throws {
        let s = Scratch()
        s.write("empty.txt", "")
        s.write("empty.jsonl", "")
        s.write("empty.html", "")
        let m = try ingestWithGoodNeighbour(s)
        XCTAssertEqual(m.counts.read, 1)
        XCTAssertTrue(m.inputs.allSatisfy { $0.status == "ok" })
    }

    func testJSONLBadLinesAreErrorsWithLineNumbersAndTheRestIsRead() throws {
        let s = Scratch()
        s.write("mixed.jsonl", """
        {"text": "good one"}
        this is not json
        {"title": "no text field"}
        {"text": 42}
        {"text": "unterminated
        ["an", "array"]
        {"text": "good two"} trailing
        {"text": "good three"}

        """)
        let m = try ingestWithGoodNeighbour(s)
        assertFailed(m, "mixed.jsonl", contains: [":2:"])
        let rec = m.inputs.first { $0.path.hasSuffix("mixed.jsonl") }!
        XCTAssertEqual(rec.recordErrors, 6)
        XCTAssertEqual(rec.documents, 2)
        XCTAssertEqual(Array(try s.texts().prefix(2)), ["good one", "good three"])
    }

    func testOneHundredMegabyteLineIsDroppedWithoutStoppingTheFile() throws {
        let s = Scratch()
        let path = s.inputDir + "/huge.jsonl"
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = FileHandle(forWritingAtPath: path)!
        h.write(Data("{\"text\": \"before\"}\n{\"text\": \"".utf8))
        let chunk = Data(repeating: UInt8(ascii: "y"), count: 1 << 20)
        for _ in 0..<100 { h.write(chunk) }
        h.write(Data("\"}\n{\"text\": \"after\"}\n".utf8))
        h.closeFile()
        let m = try s.ingest()
        XCTAssertEqual(try s.texts(), ["before", "after"])
        XCTAssertEqual(m.counts.dropped["too_long"], 1)
        XCTAssertEqual(m.inputs[0].status, "ok")
    }

    func testUnreadableInputFailsAndOthersContinue() throws {
        let s = Scratch()
        s.write("dir.txt/inner.txt", "A directory named like a file is walked.")
        let m = try ingestWithGoodNeighbour(s)
        XCTAssertEqual(m.inputs.count, 2)
    }
}
