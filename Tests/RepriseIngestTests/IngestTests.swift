import Foundation
import RepriseCore
import RepriseIngest
import XCTest

final class IngestTests: XCTestCase {
    /// A mixed corpus of every input kind with duplicates, near duplicates and junk.
    private func mixedCorpus(_ s: Scratch) throws {
        for i in 0..<30 { s.write("text/doc\(i).txt", englishParagraphs(3, seed: UInt64(i))) }
        s.write("text/copy.txt", englishParagraphs(3, seed: 4))
        var near = englishParagraphs(3, seed: 5)
        // One word changed in about two hundred: Jaccard similarity of 5-word shingles about 0.95.
        near.replaceSubrange(near.range(of: " the ")!, with: " a ")
        s.write("text/near.txt", near)
        s.write("text/short.txt", "Too short.")
        var jsonl = ""
        for i in 0..<40 {
            var rec: [UInt8] = []
            JSONBytes.appendString(englishParagraphs(2, seed: 100 + UInt64(i)), to: &rec)
            jsonl += "{\"text\": \(String(decoding: rec, as: UTF8.self)), \"n\": \(i)}\n"
        }
        jsonl += "broken line\n"
        s.write("data.jsonl", jsonl)
        s.write("z.jsonl.zst", try ZstdEncoder.compress(Array(jsonl.utf8)))
        s.write("page.html", "<html><head><title>T</title></head><body><p>" + englishParagraphs(2, seed: 999) + "</p></body></html>")
    }

    func testAccountingInvariantAndDropReasonsOnAMixedCorpus() throws {
        let s = Scratch()
        try mixedCorpus(s)
        let m = try s.ingest(config: IngestConfig())
        XCTAssertEqual(m.counts.read, m.counts.kept + m.counts.dropped.values.reduce(0, +))
        XCTAssertEqual(m.counts.read, 30 + 3 + 40 + 40 + 1)
        XCTAssertEqual(try s.records().count, m.counts.kept)
        XCTAssertEqual(try s.records(prefix: "excluded").count, m.counts.read - m.counts.kept)
        XCTAssertEqual(m.counts.dropped["exact_duplicate"], 41, "copy.txt and the 40 records of the .zst copy")
        XCTAssertEqual(m.counts.dropped["near_duplicate"], 1, "near.txt")
        XCTAssertEqual(m.outputs.reduce(0) { $0 + $1.documents }, m.counts.kept)
        XCTAssertEqual(m.excluded.reduce(0) { $0 + $1.documents }, m.counts.read - m.counts.kept)
        for out in m.outputs + m.excluded {
            XCTAssertEqual(try Hashing.sha256Hex(file: s.root + "/out/" + out.file), out.sha256)
        }
        let ex = try s.records(prefix: "excluded")
        let near = ex.first { ($0["id"] as? String)?.hasSuffix("near.txt:0") == true }
        XCTAssertEqual(near?["duplicate_of"] as? String, "in/text/doc5.txt:0")
    }

    func testInputHashesCoverWholeFilesEvenWhenReadingStoppedEarly() throws {
        let s = Scratch()
        try mixedCorpus(s)
        s.write("big.txt", String(repeating: "long text ", count: 5000))     // dropped as too_long after a prefix
        s.write("bad.xml", "<mediawiki><page><title>x</title></mediawiki>")  // fails mid-file
        var c = IngestConfig()
        c.maxDocBytes = 10_000
        let m = try s.ingest(config: c)
        for rec in m.inputs {
            XCTAssertEqual(rec.sha256, try Hashing.sha256Hex(file: s.root + "/" + rec.path), rec.path)
        }
        XCTAssertEqual(m.inputHash, try Ingest.fingerprint([s.inputDir]).hash)
    }

    func testOutputIsByteIdenticalWhateverTheThreadCount() throws {
        let s = Scratch()
        try mixedCorpus(s)
        var c = IngestConfig()
        c.docsPerFile = 7 // several output files
        _ = try s.ingest(output: "one", config: c, threads: 1)
        _ = try s.ingest(output: "two", config: c, threads: 2)
        _ = try s.ingest(output: "eight", config: c, threads: 8)
        let one = try s.snapshot("one")
        XCTAssertGreaterThan(one.count, 5)
        XCTAssertEqual(one, try s.snapshot("two"))
        XCTAssertEqual(one, try s.snapshot("eight"))
    }

    func testRerunReplacesStaleOutputs() throws {
        let s = Scratch()
        try mixedCorpus(s)
        var c = IngestConfig()
        c.docsPerFile = 5
        _ = try s.ingest(output: "o", config: c)
        c.docsPerFile = 1000
        _ = try s.ingest(output: "o", config: c)
        let names = try s.snapshot("o").keys.sorted()
        XCTAssertEqual(names, ["docs-00000.jsonl.zst", "excluded-00000.jsonl.zst", "manifest.json"])
    }

    func testNearDuplicateThresholdSeparatesCloseFromDistantTexts() throws {
        let base = englishParagraphs(6, seed: 42)
        var words = base.split(separator: " ").map(String.init)
        let hasher = MinHasher(ngram: 5, hashes: 100, seed: 1)
        let d = Deduplicator(DedupConfig())
        XCTAssertNil(d.check(id: "base", keys: DedupKeys(exact: nil, signature: hasher.signature(base))))
        // One word in a hundred changed: a near duplicate.
        for i in stride(from: 50, to: words.count, by: 100) { words[i] = "zebra" }
        let close = words.joined(separator: " ")
        XCTAssertEqual(d.check(id: "close", keys: DedupKeys(exact: nil, signature: hasher.signature(close)))?.reason, "near_duplicate")
        // An unrelated text is not.
        let other = englishParagraphs(6, seed: 43)
        XCTAssertNil(d.check(id: "other", keys: DedupKeys(exact: nil, signature: hasher.signature(other))))
        // One word in four changed: far below Jaccard 0.8, kept.
        var far = base.split(separator: " ").map(String.init)
        for i in stride(from: 0, to: far.count, by: 4) { far[i] = "zebra\(i)" }
        XCTAssertNil(d.check(id: "far", keys: DedupKeys(exact: nil, signature: hasher.signature(far.joined(separator: " ")))))
    }

    func testMinHashWordsSplitCJKCharacters() {
        XCTAssertEqual(MinHasher.wordHashes("床前明月光").count, 5)
        XCTAssertEqual(MinHasher.wordHashes("Hello, WORLD! hello world").count, 4)
        XCTAssertEqual(MinHasher.wordHashes("Hello")[0], MinHasher.wordHashes("hello")[0])
        XCTAssertEqual(MinHasher.wordHashes("naïve café").count, 2)
    }

    func testConfigDecodingRejectsUnknownKeysAndBadValues() throws {
        let dec = JSONDecoder()
        let ok = try dec.decode(IngestConfig.self, from: Data(#"{"text_field": "body", "dedup": {"bands": 20}}"#.utf8))
        XCTAssertEqual(ok.textField, ["body"])
        let list = try dec.decode(IngestConfig.self, from: Data(#"{"text_field": ["content.body", "text"], "id_field": "uid"}"#.utf8))
        XCTAssertEqual(list.textField, ["content.body", "text"])
        XCTAssertEqual(list.idField, "uid")
        // One field is written back as a string (the form the config hash of earlier outputs was made from).
        let encoded = String(decoding: try CanonicalJSON.encode(ok), as: UTF8.self)
        XCTAssertTrue(encoded.contains(#""text_field" : "body""#), encoded)
        XCTAssertEqual(try dec.decode(IngestConfig.self, from: Data(try CanonicalJSON.encode(list))), list)
        for bad in [#"{"text_field": []}"#, #"{"text_field": "a..b"}"#, #"{"text_field": ["x", ""]}"#] {
            XCTAssertThrowsError(try dec.decode(IngestConfig.self, from: Data(bad.utf8))) {
                XCTAssertTrue($0.oneLine.contains("text_field"), $0.oneLine)
            }
        }
        XCTAssertEqual(ok.dedup.bands, 20)
        XCTAssertEqual(ok.dedup.rows, 10)
        XCTAssertEqual(ok.maxDocBytes, IngestConfig().maxDocBytes)
        XCTAssertThrowsError(try dec.decode(IngestConfig.self, from: Data(#"{"text_feild": "body"}"#.utf8))) {
            XCTAssertTrue($0.oneLine.contains("text_feild"), $0.oneLine)
        }
        XCTAssertThrowsError(try dec.decode(IngestConfig.self, from: Data(#"{"dedup": {"band": 3}}"#.utf8))) {
            XCTAssertTrue($0.oneLine.contains("dedup.band"), $0.oneLine)
        }
        XCTAssertThrowsError(try dec.decode(IngestConfig.self, from: Data(#"{"zstd_level": 40}"#.utf8))) {
            XCTAssertTrue($0.oneLine.contains("zstd_level"), $0.oneLine)
        }
    }
}
