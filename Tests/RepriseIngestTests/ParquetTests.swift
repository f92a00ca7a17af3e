import Foundation
import RepriseCore
@testable import RepriseIngest
import XCTest

/// Parquet fixtures written by pyarrow (Tools/ingest/make_parquet_fixtures.py), with pyarrow's own rows
/// (to_pylist) and SHA-256 (hashlib) in expected.json.
final class ParquetTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parquet").path

    struct FileSpec {
        var name: String
        var sha256: String
        var rows: [[String: Any]]
        var rowGroups: Int
        var textColumn: String
        var idColumn: String?
        var metadataColumns: [String]
        var path: String { ParquetTests.fixtures + "/" + name }
    }

    /// Read again by each use (a few KB), so no shared mutable state.
    static var expected: [String: FileSpec] {
        let data = FileManager.default.contents(atPath: fixtures + "/expected.json")!
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        let tables = root["tables"] as! [String: [[String: Any]]]
        var out: [String: FileSpec] = [:]
        for (name, any) in root["files"] as! [String: Any] {
            let f = any as! [String: Any]
            out[name] = FileSpec(name: name, sha256: f["sha256"] as! String, rows: tables[f["table"] as! String]!,
                                 rowGroups: f["row_groups"] as! Int, textColumn: f["text_column"] as! String,
                                 idColumn: f["id_column"] as? String, metadataColumns: f["metadata_columns"] as! [String])
        }
        return out
    }

    struct Read {
        var docs: [RawDocument] = []
        var recordErrors: [String] = []
    }

    static func read(_ path: String, textColumn: String = "text", maxBytes: Int = 1 << 20, metadata: Bool = true,
                     headerReadAhead: Int? = nil) throws -> Read {
        var out = Read()
        let reader = try ParquetReader(path: path, textColumn: textColumn, maxBytes: maxBytes, metadata: metadata)
        if let headerReadAhead { reader.headerReadAhead = headerReadAhead }
        try reader.read(sink: ReaderSink(emit: { out.docs.append($0) }, recordError: { out.recordErrors.append($0) }))
        return out
    }

    static func text(_ doc: RawDocument) -> String? {
        if case .text(let b) = doc.body { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// The id pyarrow gives, as the document id: strings as they are, integers in decimal.
    static func idString(_ v: Any?) -> String? {
        switch v {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return nil
        }
    }

    func testEveryFixtureMatchesPyarrowRows() throws {
        XCTAssertGreaterThanOrEqual(Self.expected.count, 9)
        for spec in Self.expected.values.sorted(by: { $0.name < $1.name }) {
            let got = try Self.read(spec.path, textColumn: spec.textColumn)
            let withText = spec.rows.enumerated().filter { $0.element[spec.textColumn] is String }
            XCTAssertEqual(got.docs.count, withText.count, spec.name)
            XCTAssertEqual(got.recordErrors.count, spec.rows.count - withText.count, spec.name)
            for (doc, (row, expected)) in zip(got.docs, withText) {
                let at = "\(spec.name) row \(row)"
                XCTAssertEqual(doc.ordinal, row, at)
                XCTAssertEqual(Self.text(doc), expected[spec.textColumn] as? String, at)
                XCTAssertNil(doc.dropReason, at)
                XCTAssertEqual(doc.id, spec.idColumn.flatMap { Self.idString(expected[$0]) }, at)
                XCTAssertEqual(doc.metadata.map(\.key), spec.metadataColumns, at)
                for (key, json) in doc.metadata {
                    let value = try JSONSerialization.jsonObject(with: Data(json), options: .fragmentsAllowed) as! NSObject
                    let want = (expected[key] ?? NSNull()) as! NSObject
                    XCTAssertTrue(value.isEqual(want), "\(at) \(key): \(String(decoding: json, as: UTF8.self)) != \(want)")
                }
            }
        }
    }

    func testPageHeadersLongerThanTheReadAheadAreReadAgain() throws {
        for name in ["basic_snappy.parquet", "basic_v2.parquet"] {
            let path = Self.fixtures + "/" + name
            let small = try Self.read(path, headerReadAhead: 3)
            let normal = try Self.read(path)
            XCTAssertEqual(small.docs.map { Self.text($0) }, normal.docs.map { Self.text($0) })
            XCTAssertEqual(small.docs.map { $0.metadata.map { $0.json } }, normal.docs.map { $0.metadata.map { $0.json } })
        }
    }

    func testFixturesCoverTheCasesTheyAreMeantTo() throws {
        // Several row groups and pages, nulls in text and metadata, an empty table: as the script wrote them.
        let basic = try XCTUnwrap(Self.expected["basic_snappy.parquet"])
        XCTAssertEqual(basic.rowGroups, 4)
        XCTAssertTrue(basic.rows.contains { $0["text"] is NSNull })
        XCTAssertTrue(basic.rows.contains { $0["url"] is NSNull })
        XCTAssertEqual(Self.expected["empty.parquet"]?.rows.count, 0)
        XCTAssertEqual(try Self.read(Self.fixtures + "/empty.parquet").docs.count, 0)
    }

    func testNullTextIsARecordErrorNamingFileRowGroupAndRow() throws {
        let path = Self.fixtures + "/basic_snappy.parquet"
        let got = try Self.read(path)
        // Rows 5 and 23 have no text; with 12 rows per group, row 23 is row 11 of group 1.
        XCTAssertEqual(got.recordErrors, [
            "\(path): row group 0, row 5 (row 5 of the file): column \"text\" is null",
            "\(path): row group 1, row 11 (row 23 of the file): column \"text\" is null",
        ])
    }

    func testTextOnlyReadSkipsMetadataButKeepsIds() throws {
        let got = try Self.read(Self.fixtures + "/basic_v2.parquet", metadata: false)
        XCTAssertEqual(got.docs.count, 38)
        XCTAssertTrue(got.docs.allSatisfy { $0.metadata.isEmpty })
        XCTAssertEqual(got.docs.first?.id, "doc-000")
    }

    func testLongTextIsDroppedWithItsSize() throws {
        let got = try Self.read(Self.fixtures + "/basic_uncompressed.parquet", maxBytes: 40)
        let long = got.docs.filter { $0.dropReason == "too_long" }
        XCTAssertFalse(long.isEmpty)
        for d in long { XCTAssertGreaterThan(d.originalBytes ?? 0, 40) }
        XCTAssertTrue(got.docs.contains { $0.dropReason == nil })
    }

    func testUnsupportedAndBrokenFilesFailWithTheFeatureOrOffset() throws {
        func error(_ name: String, textColumn: String = "text") -> String {
            do { _ = try Self.read(Self.fixtures + "/" + name, textColumn: textColumn); return "no error" } catch { return error.oneLine }
        }
        let delta = error("delta_text.parquet")
        XCTAssertTrue(delta.hasPrefix(Self.fixtures + "/delta_text.parquet: column \"text\": encoding DELTA_BYTE_ARRAY is not supported"), delta)
        let lz4 = error("lz4.parquet")
        XCTAssertTrue(lz4.contains("lz4.parquet: column \"text\": codec LZ4"), lz4)
        XCTAssertTrue(lz4.contains("is not supported"), lz4)
        let truncated = error("truncated.parquet")
        XCTAssertTrue(truncated.contains("truncated.parquet: truncated or corrupt Parquet file: no PAR1 magic at the end (byte 17800)"), truncated)
        let noText = error("content_column.parquet")
        XCTAssertTrue(noText.contains("no column \"text\""), noText)
        XCTAssertTrue(noText.contains("\"content\", \"n\""), noText)
        let notString = error("basic_snappy.parquet", textColumn: "token_count")
        XCTAssertTrue(notString.contains("column \"token_count\" is INT64, not a string column"), notString)
        let nested = error("basic_snappy.parquet", textColumn: "tags")
        XCTAssertTrue(nested.contains("column \"tags\" is nested"), "nested columns are not text columns: \(nested)")
        let date = error("basic_snappy.parquet", textColumn: "day")
        XCTAssertTrue(date.contains("column \"day\" is INT32 (DATE), not a string column"), date)
    }

    /// Cut at many points and flip bits anywhere: an error or documents, never a crash; and where pages
    /// carry checksums, never a document whose text differs from pyarrow's.
    func testTruncationsAndBitFlipsNeverCrashOrLie() throws {
        let s = Scratch()
        for name in ["basic_snappy.parquet", "basic_v2.parquet", "basic_gzip_crc.parquet", "int_id.parquet", "basic_zstd_plain.parquet"] {
            let spec = try XCTUnwrap(Self.expected[name])
            let good = Array(FileManager.default.contents(atPath: spec.path)!)
            for cut in stride(from: 0, to: good.count, by: 211) {
                let path = s.write("cut.parquet", Array(good[0..<cut]))
                XCTAssertThrowsError(try Self.read(path)) { e in
                    XCTAssertTrue(e.oneLine.hasPrefix(path + ": "), e.oneLine)
                }
            }
            var rng = SplitMix64(seed: 7)
            for trial in 0..<150 {
                var bytes = good
                for _ in 0..<(1 + trial % 3) {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    bytes[i] ^= UInt8(1) << UInt8(rng.next() % 8)
                }
                let path = s.write("flip.parquet", bytes)
                do {
                    let got = try Self.read(path)
                    guard name == "basic_gzip_crc.parquet" else { continue }
                    for d in got.docs {
                        guard d.ordinal < spec.rows.count else { XCTFail("\(name) trial \(trial): ordinal \(d.ordinal)"); continue }
                        XCTAssertEqual(Self.text(d), spec.rows[d.ordinal]["text"] as? String, "\(name) trial \(trial) row \(d.ordinal)")
                    }
                } catch {
                    XCTAssertTrue(error.oneLine.hasPrefix(path + ": "), error.oneLine)
                }
            }
        }
    }

    // MARK: - Through Ingest.run

    func testIngestRunReadsParquetAndRecordsFailures() throws {
        let s = Scratch()
        let names = ["basic_snappy.parquet", "delta_text.parquet", "empty.parquet", "int_id.parquet", "lz4.parquet",
                     "truncated.parquet"]
        for n in names { s.write(n, Array(FileManager.default.contents(atPath: Self.fixtures + "/" + n)!)) }
        s.write("zz-good.txt", "A good document after the Parquet files.")
        let m = try s.ingest()
        let byName = Dictionary(uniqueKeysWithValues: m.inputs.map { (($0.path as NSString).lastPathComponent, $0) })

        let basic = try XCTUnwrap(byName["basic_snappy.parquet"])
        XCTAssertEqual(basic.kind, .parquet)
        XCTAssertEqual(basic.compression, Compression.none)
        XCTAssertEqual(basic.sha256, Self.expected["basic_snappy.parquet"]!.sha256, "the manifest hashes the whole file")
        XCTAssertEqual(basic.documents, 38)
        XCTAssertEqual(basic.recordErrors, 2, "two rows without text")
        XCTAssertEqual(basic.status, "failed")
        XCTAssertEqual(byName["int_id.parquet"]?.sha256, Self.expected["int_id.parquet"]!.sha256)
        XCTAssertEqual(byName["int_id.parquet"]?.status, "ok")
        XCTAssertEqual(byName["int_id.parquet"]?.documents, 25)
        XCTAssertEqual(byName["empty.parquet"]?.status, "ok")
        XCTAssertEqual(byName["empty.parquet"]?.documents, 0)
        XCTAssertEqual(byName["empty.parquet"]?.sha256, Self.expected["empty.parquet"]!.sha256)
        for (n, message) in [("delta_text.parquet", "encoding DELTA_BYTE_ARRAY is not supported"),
                             ("lz4.parquet", "codec LZ4"), ("truncated.parquet", "no PAR1 magic at the end")] {
            let r = try XCTUnwrap(byName[n])
            XCTAssertEqual(r.status, "failed", n)
            XCTAssertEqual(r.documents, 0, n)
            XCTAssertTrue(r.error?.contains(message) == true && r.error?.hasPrefix(r.path) == true, r.error ?? "")
            XCTAssertEqual(r.sha256, Hashing.sha256Hex(Array(FileManager.default.contents(atPath: s.root + "/" + r.path)!)), n)
        }
        XCTAssertEqual(byName["zz-good.txt"]?.status, "ok", "the run goes on after failed files")

        // Kept documents: pyarrow's text, the id column as the document id, metadata in column order.
        let recs = try s.records()
        let spec = Self.expected["basic_snappy.parquet"]!
        let basicRecs = recs.filter { ($0["source"] as? String)?.hasSuffix("basic_snappy.parquet") == true }
        let expectedKept = spec.rows.filter { ($0["text"] as? String).map { !$0.isEmpty } ?? false }
        XCTAssertEqual(basicRecs.map { $0["text"] as? String }, expectedKept.map { $0["text"] as? String })
        XCTAssertEqual(basicRecs.map { $0["id"] as? String }, expectedKept.map { $0["id"] as? String })
        XCTAssertEqual(basicRecs.first?["lang"] as? String, expectedKept.first?["lang"] as? String)
        XCTAssertTrue(basicRecs.contains { $0["url"] is NSNull }, "null metadata stays null")
        XCTAssertNil(basicRecs.first?["input_id"], "the id column is the document id, not metadata")
        XCTAssertNil(basicRecs.first?["tags"], "list columns are skipped")
        XCTAssertEqual(recs.filter { ($0["source"] as? String)?.hasSuffix("int_id.parquet") == true }.first?["id"] as? String,
                       "10000000000")
        let excluded = try s.records(prefix: "excluded")
        XCTAssertEqual(excluded.filter { $0["id"] as? String == "doc-011" }.first?["reason"] as? String, "empty")
        XCTAssertEqual(m.counts.read, m.counts.kept + m.counts.dropped.values.reduce(0, +))
    }

    func testTextFieldSelectsTheColumn() throws {
        let s = Scratch()
        s.write("c.parquet", Array(FileManager.default.contents(atPath: Self.fixtures + "/content_column.parquet")!))
        var c = Scratch.permissive
        let failed = try s.ingest(config: c)
        XCTAssertEqual(failed.inputs[0].status, "failed")
        XCTAssertTrue(failed.inputs[0].error?.contains("set text_field") == true, failed.inputs[0].error ?? "")
        c.textField = ["body", "content"]  // the first name that is a column of the file
        let m = try s.ingest(output: "out2", config: c)
        XCTAssertEqual(m.inputs[0].status, "ok")
        XCTAssertEqual(try s.texts("out2"), Self.expected["content_column.parquet"]!.rows.map { $0["content"] as! String })
        XCTAssertEqual(try s.records("out2").first?["id"] as? String, "in/c.parquet:0", "no id column: NAME:ROW")
    }

    func testCompressedOrMisnamedParquetFailsClearly() throws {
        let s = Scratch()
        let good = Array(FileManager.default.contents(atPath: Self.fixtures + "/basic_snappy.parquet")!)
        s.write("a.parquet.zst", try ZstdEncoder.compress(good))
        s.write("b.parquet", Array("just text".utf8))
        s.write("c.txt", "A good document.")
        let m = try s.ingest()
        XCTAssertEqual(m.inputs[0].status, "failed")
        XCTAssertTrue(m.inputs[0].error?.contains("Parquet file inside zstd compression") == true, m.inputs[0].error ?? "")
        XCTAssertEqual(m.inputs[1].status, "failed")
        XCTAssertTrue(m.inputs[1].error?.contains("not a Parquet file: no PAR1 magic") == true, m.inputs[1].error ?? "")
        XCTAssertEqual(m.inputs[2].status, "ok")
    }

    func testNotARegularFileFails() throws {
        XCTAssertThrowsError(try ParquetReader(path: "/dev/null", textColumn: "text", maxBytes: 100)) { e in
            XCTAssertTrue(e.oneLine.contains("must be a regular file"), e.oneLine)
        }
    }
}
