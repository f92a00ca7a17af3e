import Foundation
import RepriseCore
import XCTest

final class JSONTests: XCTestCase {
    /// Every byte a string can hold comes back from a JSON parser unchanged; control characters, quotes and
    /// backslashes are escaped, everything else is written as is.
    func testStringEscapingRoundTrips() throws {
        var text = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        text += "é 漢字 🙂 \u{2028}"
        var out: [UInt8] = []
        JSONBytes.appendString(text, to: &out)
        let parsed = try JSONSerialization.jsonObject(with: Data(out), options: .fragmentsAllowed) as? String
        XCTAssertEqual(parsed, text)
        XCTAssertFalse(out.dropFirst().dropLast().contains { $0 < 0x20 }, "a raw control byte")
        let written = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(written.contains(#"\u0001"#) && written.contains(#"\n"#) && written.contains(#"\""#) && written.contains(#"\\"#), written)
        XCTAssertTrue(written.contains("漢字 🙂"), "non-ASCII is not escaped")
    }

    struct Manifest: Codable, Equatable {
        var name: String
        var counts: [String: Int]
        var path: String
    }

    /// The same content gives the same bytes, whatever order a dictionary was filled in; keys sorted, a final
    /// newline, slashes unescaped; the hash follows the content.
    func testCanonicalEncodingAndHash() throws {
        var a = Manifest(name: "x", counts: [:], path: "a/b")
        var b = a
        for k in ["zeta", "alpha", "mid"] { a.counts[k] = k.count }
        for k in ["mid", "zeta", "alpha"] { b.counts[k] = k.count }
        let bytes = try CanonicalJSON.encode(a)
        XCTAssertEqual(bytes, try CanonicalJSON.encode(b))
        XCTAssertEqual(bytes.last, 0x0A)
        let s = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(s.contains(#""a/b""#), s)
        let order = ["alpha", "mid", "zeta"].map { s.range(of: "\"\($0)\"")!.lowerBound }
        XCTAssertEqual(order, order.sorted())
        XCTAssertLessThan(s.range(of: "\"counts\"")!.lowerBound, s.range(of: "\"name\"")!.lowerBound)
        XCTAssertEqual(try CanonicalJSON.hash(a), try CanonicalJSON.hash(b))
        b.counts["mid"] = 4
        XCTAssertNotEqual(try CanonicalJSON.hash(a), try CanonicalJSON.hash(b))
    }

    func testDecodeNamesTheFile() throws {
        let dir = NSTemporaryDirectory() + "json-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = Manifest(name: "n", counts: ["a": 1], path: "p")
        try AtomicFileWriter.write(try CanonicalJSON.encode(good), to: dir + "/m.json")
        XCTAssertEqual(try CanonicalJSON.decode(Manifest.self, from: dir + "/m.json"), good)
        try AtomicFileWriter.write(Array(#"{"name": 3}"#.utf8), to: dir + "/bad.json")
        XCTAssertThrowsError(try CanonicalJSON.decode(Manifest.self, from: dir + "/bad.json")) {
            XCTAssertTrue($0.oneLine.hasPrefix(dir + "/bad.json: not a valid"), $0.oneLine)
        }
        XCTAssertThrowsError(try CanonicalJSON.decode(Manifest.self, from: dir + "/none.json")) {
            XCTAssertTrue($0.oneLine.hasPrefix(dir + "/none.json: cannot read"), $0.oneLine)
        }
    }
}
