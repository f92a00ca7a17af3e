import Foundation
import RepriseCore
@testable import RepriseIngest
import XCTest

/// WARC and WET inputs, against fixtures written and read back by warcio
/// (Tools/ingest/make_warc_fixtures.py).
final class WARCTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/warc"
    static var wet: String { fixtures + "/sample.warc.wet.gz" }
    static var warc: String { fixtures + "/sample.warc.gz" }
    static var damaged: String { fixtures + "/damaged.warc.wet.gz" }

    private var expected: [String: Any] {
        let data = FileManager.default.contents(atPath: WARCTests.fixtures + "/expected.json")!
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    private func counted(_ types: [String]) -> [String: Int] {
        types.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    /// The strings that occur only in WARC and HTTP headers; none may reach a document.
    private func assertNoHeaders(_ records: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) {
        let markers = expected["headers"] as! [String]
        for r in records {
            let text = r["text"] as! String
            for m in markers { XCTAssertFalse(text.contains(m), "\"\(m)\" in the text of \(r["id"]!)", file: file, line: line) }
        }
    }

    func testWETConversionRecordsAreDocumentsWithTheirURIAndMetadata() throws {
        let s = Scratch()
        let m = try s.ingest([WARCTests.wet])
        let want = (expected["sample.warc.wet.gz"] as! [String: Any])
        let conversions = want["conversions"] as! [[String: Any]]
        let input = m.inputs[0]
        XCTAssertEqual(input.kind, .warc)
        XCTAssertEqual(input.compression, .gzip)
        XCTAssertEqual(input.status, "ok")
        XCTAssertEqual(input.records, counted(want["types"] as! [String]))
        XCTAssertEqual(input.skippedRecords, ["warcinfo": 1])
        XCTAssertEqual(input.documents, conversions.count)

        let docs = try s.records()
        let nonEmpty = conversions.filter { !($0["text"] as! String).isEmpty }
        XCTAssertEqual(docs.map { $0["id"] as? String }, nonEmpty.map { $0["uri"] as? String })
        XCTAssertEqual(docs.map { $0["text"] as? String }, nonEmpty.map { $0["text"] as? String })
        for (doc, want) in zip(docs, nonEmpty) {
            XCTAssertEqual(doc["url"] as? String, want["uri"] as? String)
            XCTAssertEqual(doc["warc_record_id"] as? String, want["record_id"] as? String)
            XCTAssertEqual(doc["identified_content_language"] as? String, want["language"] as? String)
            XCTAssertEqual(doc["warc_date"] as? String, "2024-03-01T12:00:00Z")
            XCTAssertEqual(doc["source"] as? String, (WARCTests.wet as NSString).lastPathComponent, "a file input is named by its base name")
        }
        // The empty conversion record is read, and dropped for a reason, not lost.
        let excluded = try s.records(prefix: "excluded")
        XCTAssertEqual(excluded.map { $0["reason"] as? String }, ["empty"])
        XCTAssertEqual(excluded.first?["id"] as? String, "http://example.org/empty")
        assertNoHeaders(docs + excluded)
    }

    func testWARCResponsesWithHTMLBecomeDocumentsAndOtherRecordsAreCounted() throws {
        let s = Scratch()
        let m = try s.ingest([WARCTests.warc])
        let want = (expected["sample.warc.gz"] as! [String: Any])
        let input = m.inputs[0]
        XCTAssertEqual(input.kind, .warc)
        XCTAssertEqual(input.status, "ok")
        XCTAssertEqual(input.records, counted(want["types"] as! [String]))
        XCTAssertEqual(input.skippedRecords, ["warcinfo": 1, "request": 8, "metadata": 1, "revisit": 1,
                                              "http_status": 1, "not_html": 1])
        let responses = want["responses"] as! [[String: Any]]
        let pages = responses.filter { ($0["status"] as! Int) == 200 && !($0["content_type"] as! String).hasPrefix("image/") }
        let docs = try s.records()
        XCTAssertEqual(docs.map { $0["id"] as? String }, pages.map { $0["uri"] as? String })
        XCTAssertEqual(try s.records(prefix: "excluded").count, 0)
        for (doc, page) in zip(docs, pages) {
            let text = doc["text"] as! String
            // Text written into the page before the page was encoded (UTF-8, ISO-8859-1, windows-1252, gzip, chunks).
            for snippet in page["snippets"] as! [String] {
                XCTAssertTrue(text.contains(snippet) || (doc["title"] as? String) == snippet,
                              "\(page["uri"]!): \"\(snippet)\" not in \"\(text)\"")
            }
            // The same text as the extractor gives for the payload warcio decoded (chunks joined, gzip undone).
            let payload = [UInt8](Data(base64Encoded: page["payload_base64"] as! String)!)
            let contentType = page["content_type"] as! String
            let charset = contentType.range(of: "charset=").map { String(contentType[$0.upperBound...]) }
            let extracted = try HTMLExtractor.extract(payload, name: "peer", charset: charset)
            XCTAssertEqual(text, Normalizer.normalize(extracted.text).text, "\(page["uri"]!)")
            XCTAssertEqual(doc["url"] as? String, page["uri"] as? String)
        }
        XCTAssertEqual(docs.first?["title"] as? String, "UTF-8 page")
        assertNoHeaders(docs)
    }

    func testHTTPCharsetWinsOverTheMetaDeclaration() throws {
        // The page says UTF-8 in its <meta>, the HTTP header says windows-1252, and the bytes are windows-1252.
        let html = Array("<html><head><meta charset=\"utf-8\"></head><body><p>".utf8) + [0x93, 0x71, 0x94, 0xE9]
            + Array("</p></body></html>".utf8)
        XCTAssertEqual(String(decoding: try HTMLExtractor.extract(html, name: "x", charset: "windows-1252").text, as: UTF8.self), "“q”é")
        // ISO-8859-1 is read as windows-1252, as browsers do.
        XCTAssertEqual(String(decoding: try HTMLExtractor.extract(html, name: "x", charset: "ISO-8859-1").text, as: UTF8.self), "“q”é")
        // Without a transport charset the page's declaration applies (and these bytes are not UTF-8).
        XCTAssertNotEqual(String(decoding: try HTMLExtractor.extract(html, name: "x").text, as: UTF8.self), "“q”é")
        // An unknown charset name is ignored rather than failing the page.
        let utf8 = Array("<html><body><p>Grüße</p></body></html>".utf8)
        XCTAssertEqual(String(decoding: try HTMLExtractor.extract(utf8, name: "x", charset: "no-such-charset").text, as: UTF8.self), "Grüße")
    }

    func testDamagedRecordsAreErrorsWithOffsetAndTheRestIsRead() throws {
        let s = Scratch()
        let m = try s.ingest([WARCTests.damaged])
        let input = m.inputs[0]
        XCTAssertEqual(input.status, "failed")
        XCTAssertEqual(input.recordErrors, 2)
        // /ja claims 40 bytes too many and swallows the start of /ru; /el has no version line.
        XCTAssertEqual(try s.texts(), ["Die Donau fließt durch zehn Länder.\nSie mündet ins Schwarze Meer.",
                                       "Plain English line.\nUne ligne en français, avec des accents : é, è, ç.\nEmoji: 🌊🚣"])
        XCTAssertEqual(try s.records(prefix: "excluded").map { $0["id"] as? String }, ["http://example.org/empty"])
        // The first error names the file, the record and its offset in the decompressed stream.
        let plain = try GzipDecoder(FileSource(path: WARCTests.damaged), name: "d").readAll()!
        let ja = try XCTUnwrap(find(Array("WARC-Target-URI: http://example.org/ja".utf8), in: plain))
        let jaStart = try XCTUnwrap(findLast(Array("WARC/1.0".utf8), in: Array(plain[..<ja])))
        let error = try XCTUnwrap(input.error)
        XCTAssertTrue(error.hasPrefix((WARCTests.damaged as NSString).lastPathComponent + ": WARC record 3 at byte \(jaStart):"), error)
    }

    func testUncompressedAndOtherwiseCompressedWETFilesAreWARCInputs() throws {
        let s = Scratch()
        let plain = try GzipDecoder(FileSource(path: WARCTests.wet), name: "wet").readAll()!
        // A plain `.warc.wet` file used to be read as one text document, headers and all.
        s.write("a.warc.wet", plain)
        s.write("b.warc.wet.zst", try ZstdEncoder.compress(plain))
        let xz = s.write("c.warc.wet", plain)
        try runTool("/usr/bin/xz", ["-f", xz])
        let m = try s.ingest()
        XCTAssertEqual(m.inputs.map(\.kind), [.warc, .warc, .warc])
        XCTAssertEqual(m.inputs.map(\.compression), [Compression.none, .zstd, .xz])
        XCTAssertEqual(m.counts.read, 18)
        XCTAssertEqual(try s.records().map { $0["source"] as? String }, [String](repeating: "in/a.warc.wet", count: 5))
        XCTAssertEqual(m.counts.dropped, ["exact_duplicate": 10, "empty": 3])
        assertNoHeaders(try s.records())
    }

    /// A hand-written record, for malformed cases warcio refuses to write.
    private func record(_ type: String, uri: String = "http://x.test/", body: String, length: Int? = nil,
                        newline: String = "\r\n", extra: [String] = []) -> String {
        let lines = ["WARC/1.1", "WARC-Type: \(type)", "WARC-Target-URI: \(uri)", "WARC-Date: 2024-01-01T00:00:00Z"] + extra
            + ["Content-Length: \(length ?? body.utf8.count)"]
        return lines.joined(separator: newline) + newline + newline + body + newline + newline
    }

    func testLFOnlyLineEndingsContinuationLinesAndExtraBlankLinesAreTolerated() throws {
        let s = Scratch()
        s.write("lf.warc", record("warcinfo", body: "software: x\n", newline: "\n")
                + record("conversion", uri: "<http://x.test/a>", body: "first text", newline: "\n", extra: ["WARC-Identified-Content-Language: eng,", "  deu"])
                + "\n\n" + record("conversion", uri: "http://x.test/b", body: "second text"))
        let m = try s.ingest()
        XCTAssertEqual(m.inputs[0].status, "ok", m.inputs[0].error ?? "")
        let docs = try s.records()
        XCTAssertEqual(docs.map { $0["text"] as? String }, ["first text", "second text"])
        XCTAssertEqual(docs.map { $0["id"] as? String }, ["http://x.test/a", "http://x.test/b"])
        XCTAssertEqual(docs[0]["identified_content_language"] as? String, "eng, deu")
    }

    func testMissingContentLengthTruncatedBodyAndBadVersionAreRecordErrors() throws {
        let s = Scratch()
        let good = record("conversion", uri: "http://x.test/good", body: "good text")
        let noLength = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://x.test/nolength\r\n\r\nsome text\r\n\r\n"
        let badLength = record("conversion", uri: "http://x.test/badlength", body: "abc").replacingOccurrences(of: "Content-Length: 3", with: "Content-Length: 3x")
        let next = record("conversion", uri: "http://x.test/next", body: "next text")
        let cut = String(record("conversion", uri: "http://x.test/cut", body: "this body is cut short").dropLast(12))
        s.write("bad.warc", good + noLength + badLength + next + cut)
        let m = try s.ingest()
        let input = m.inputs[0]
        XCTAssertEqual(input.recordErrors, 3)
        XCTAssertEqual(try s.texts(), ["good text", "next text"])
        let offset = good.utf8.count
        XCTAssertEqual(input.error, "in/bad.warc: WARC record 2 at byte \(offset): missing or invalid Content-Length")

        let s2 = Scratch()
        s2.write("v.warc", good + "WARC/2.0\r\nWARC-Type: conversion\r\nContent-Length: 1\r\n\r\nx\r\n\r\n" + next)
        let m2 = try s2.ingest()
        XCTAssertEqual(try s2.texts(), ["good text", "next text"])
        XCTAssertEqual(m2.inputs[0].error, "in/v.warc: WARC record 2 at byte \(good.utf8.count): expected a WARC/1.0 or WARC/1.1 version line, found \"WARC/2.0?\"")
        XCTAssertEqual(m2.inputs[0].records, ["conversion": 2])

        let s3 = Scratch()
        s3.write("t.warc", good + cut)
        let m3 = try s3.ingest()
        XCTAssertEqual(try s3.texts(), ["good text"])
        XCTAssertTrue(m3.inputs[0].error?.contains("WARC record 2 at byte \(good.utf8.count): truncated record") ?? false, m3.inputs[0].error ?? "")
    }

    func testTooLongRecordsAreDroppedWithAPrefixAndTheNextRecordIsRead() throws {
        let s = Scratch()
        let long = String(repeating: "word ", count: 2000)
        let html = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>" + long + "</p></body></html>"
        s.write("long.warc", record("conversion", uri: "http://x.test/long", body: long)
                + record("response", uri: "http://x.test/longpage", body: html, extra: ["Content-Type: application/http; msgtype=response"])
                + record("conversion", uri: "http://x.test/short", body: "short text"))
        var c = Scratch.permissive
        c.maxDocBytes = 2000
        let m = try s.ingest(config: c)
        XCTAssertEqual(m.inputs[0].status, "ok")
        XCTAssertEqual(try s.texts(), ["short text"])
        let excluded = try s.records(prefix: "excluded")
        XCTAssertEqual(excluded.map { $0["reason"] as? String }, ["too_long", "too_long"])
        XCTAssertEqual(excluded.map { $0["id"] as? String }, ["http://x.test/long", "http://x.test/longpage"])
        XCTAssertEqual(excluded[0]["bytes"] as? Int, long.utf8.count)
        XCTAssertLessThanOrEqual((excluded[0]["text"] as! String).utf8.count, 1024)
        assertNoHeaders(excluded)
    }

    func testBinaryPayloadFirstIsStillAWARCFile() throws {
        let s = Scratch()
        var bytes = Array(("WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: http://x.test/img\r\nContent-Type: image/png\r\nContent-Length: 2000\r\n\r\n").utf8)
        bytes += [UInt8](repeating: 0, count: 2000) + Array("\r\n\r\n".utf8)
        bytes += Array(record("conversion", uri: "http://x.test/t", body: "after the image").utf8)
        s.write("bin.warc", bytes)
        let m = try s.ingest()
        XCTAssertEqual(m.inputs[0].kind, .warc)
        XCTAssertEqual(m.inputs[0].skippedRecords, ["resource": 1])
        XCTAssertEqual(try s.texts(), ["after the image"])
    }

    func testHTTPChunkedAndContentEncodingDecoding() throws {
        XCTAssertEqual(HTTPResponse.dechunk(Array("4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n".utf8)), Array("Wikipedia".utf8))
        XCTAssertNil(HTTPResponse.dechunk(Array("<html>not chunked</html>".utf8)))
        let response = "HTTP/1.1 200 OK\r\nContent-Type: Text/HTML; Charset=\"ISO-8859-1\"\r\nTransfer-Encoding: chunked\r\n\r\nbody"
        let head = HTTPResponse.parse(Array(response.utf8))!
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.mediaType, "text/html")
        XCTAssertEqual(head.charset, "ISO-8859-1")
        XCTAssertTrue(head.chunked)
        XCTAssertEqual(head.headerEnd, response.utf8.count - 4)
        XCTAssertNil(HTTPResponse.parse(Array("GET / HTTP/1.1\r\n\r\n".utf8)))
    }

    func testManifestOfNonWARCInputsHasNoRecordCounts() throws {
        let s = Scratch()
        s.write("a.txt", "plain text")
        _ = try s.ingest()
        let manifest = String(decoding: FileManager.default.contents(atPath: s.root + "/out/manifest.json")!, as: UTF8.self)
        XCTAssertFalse(manifest.contains("\"records\""))
        XCTAssertFalse(manifest.contains("skipped_records"))
    }

    func testSameWARCInputGivesTheSameBytesWhateverTheThreadCount() throws {
        let s = Scratch()
        _ = try s.ingest([WARCTests.warc, WARCTests.wet], output: "one", threads: 1)
        _ = try s.ingest([WARCTests.warc, WARCTests.wet], output: "four", threads: 4)
        XCTAssertEqual(try s.snapshot("one"), try s.snapshot("four"))
    }
}

private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
    guard hay.count >= needle.count else { return nil }
    return (0...(hay.count - needle.count)).first { hay[$0..<($0 + needle.count)].elementsEqual(needle) }
}

private func findLast(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
    guard hay.count >= needle.count else { return nil }
    return (0...(hay.count - needle.count)).reversed().first { hay[$0..<($0 + needle.count)].elementsEqual(needle) }
}
