import Foundation
@testable import RepriseCore
@testable import RepriseIngest
import XCTest

/// WARC and WET files read with the gzip decoder's read-ahead thread (ingest with two or more threads)
/// give what they give without it: documents, record errors, file hashes.
final class WARCReadAheadTests: XCTestCase {
    static let fixtures = WARCTests.fixtures
    static let gzipFixtures = ["sample.warc.wet.gz", "sample.warc.gz", "damaged.warc.wet.gz"]

    /// Everything the WARC reader reports, in order, as comparable lines.
    private func readAll(_ source: ByteSource, path: String) throws -> [String] {
        var out: [String] = []
        let sink = ReaderSink(emit: { doc in
            var line = "doc \(doc.ordinal) \(doc.id ?? "-") \(doc.dropReason ?? "-") \(doc.originalBytes ?? -1) \(doc.charset ?? "-")"
            for (k, v) in doc.metadata { line += " \(k)=\(String(decoding: v, as: UTF8.self))" }
            switch doc.body {
            case .text(let b): line += " text:" + b.map { String($0, radix: 16) }.joined()
            case .html(let b): line += " html:" + b.map { String($0, radix: 16) }.joined()
            case .wikitext(let s): line += " wiki:" + s
            }
            out.append(line)
        }, recordError: { out.append("error " + $0) }, record: { out.append("record \($0) \($1 ?? "-")") })
        do {
            try WARCReader.read(source, path: path, maxBytes: 1 << 20, sink: sink)
        } catch {
            out.append("thrown " + error.oneLine)
        }
        return out
    }

    /// `copies` copies of a fixture one after the other: a multi-member gzip file of the fixture's records,
    /// repeated.
    private func repeated(_ name: String, _ copies: Int) -> [UInt8] {
        let one = [UInt8](FileManager.default.contents(atPath: Self.fixtures + "/" + name)!)
        return Array([[UInt8]](repeating: one, count: copies).joined())
    }

    func testEveryGzipFixtureReadsTheSameWithAndWithoutReadAhead() throws {
        for name in Self.gzipFixtures {
            for bytes in [repeated(name, 1), repeated(name, 30), Array(repeated(name, 30).dropLast(700))] {
                let want = try readAll(GzipDecoder(MemorySource(bytes), name: name), path: name)
                XCTAssertFalse(want.isEmpty)
                // A buffer smaller than some members (they are streamed) and one that holds many.
                for capacity in [1 << 10, 16 << 10] {
                    let d = try GzipDecoder(MemorySource(bytes), name: name, readAhead: true, inputCapacity: capacity, minimumAhead: 0)
                    XCTAssertEqual(try readAll(d, path: name), want, "\(name), \(bytes.count) bytes, buffer \(capacity)")
                    if bytes.count > 10_000 && capacity > 1 << 10 {
                        XCTAssertGreaterThan(d.membersTakenOver, 0, "\(name): the helper took no member over")
                    }
                }
            }
        }
    }

    func testASmallFileStartsNoThread() throws {
        let d = try GzipDecoder(MemorySource(repeated("sample.warc.wet.gz", 3)), name: "wet", readAhead: true)
        XCTAssertEqual(try d.readAll(), try GzipDecoder(MemorySource(repeated("sample.warc.wet.gz", 3)), name: "wet").readAll())
        XCTAssertNil(d.readAhead, "less than a job's worth of input started a helper")
    }

    func testAReaderThatStopsAfterTheFirstDocumentLeavesNoThread() throws {
        struct Enough: Error {}
        weak var helper: MemberReadAhead?
        var documents = 0
        do {
            let d = try GzipDecoder(MemorySource(repeated("sample.warc.wet.gz", 40)), name: "wet", readAhead: true,
                                    inputCapacity: 16 << 10, minimumAhead: 0)
            let sink = ReaderSink(emit: { _ in documents += 1; throw Enough() }, recordError: { _ in })
            XCTAssertThrowsError(try WARCReader.read(d, path: "wet", maxBytes: 1 << 20, sink: sink)) { XCTAssertTrue($0 is Enough) }
            helper = d.readAhead
            XCTAssertNotNil(helper)
        }
        XCTAssertEqual(documents, 1)
        XCTAssertNil(helper, "the read-ahead thread outlived its decoder")
    }

    func testIngestWithReadAheadWritesTheSameOutputAndFileHashes() throws {
        // Large enough for read-ahead with the default sizes (a job needs 64 KiB of buffered input).
        let s = Scratch()
        let wet = s.write("big.warc.wet.gz", repeated("sample.warc.wet.gz", 120))
        s.write("damaged.warc.wet.gz", repeated("damaged.warc.wet.gz", 120))
        s.write("cut.warc.wet.gz", Array(repeated("sample.warc.wet.gz", 120).dropLast(1000)))
        let one = try s.ingest(output: "one", threads: 1)
        let two = try s.ingest(output: "two", threads: 2)
        XCTAssertEqual(try s.snapshot("one"), try s.snapshot("two"))
        XCTAssertEqual(one.inputs.map(\.status), ["ok", "failed", "failed"])
        XCTAssertEqual(two.inputs.map(\.error), one.inputs.map(\.error))
        XCTAssertTrue(one.inputs[1].error?.contains("truncated") ?? false, one.inputs[1].error ?? "-")
        // The hash covers the file's bytes, as sha256sum sees them.
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        proc.arguments = [wet]
        let pipe = Pipe()
        proc.standardOutput = pipe
        try proc.run(); proc.waitUntilExit()
        let peer = String(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
        XCTAssertEqual(two.inputs.first { $0.path.hasSuffix("big.warc.wet.gz") }?.sha256, peer)
    }
}
