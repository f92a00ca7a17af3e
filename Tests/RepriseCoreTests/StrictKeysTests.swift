import Foundation
import RepriseCore
import XCTest

final class StrictKeysTests: XCTestCase {
    struct Inner: LayeredConfig, Equatable {
        var a = 1
        var b = "x"
        enum CodingKeys: String, CodingKey, CaseIterable { case a, b }
        init() {}
        init(from decoder: Decoder) throws { try self.init(from: decoder, base: Inner()) }
        init(from decoder: Decoder, base: Inner) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            a = try c.decodeIfPresent(Int.self, forKey: .a) ?? base.a
            b = try c.decodeIfPresent(String.self, forKey: .b) ?? base.b
        }
    }

    struct Outer: Decodable {
        var inner: Inner
        enum CodingKeys: String, CodingKey, CaseIterable { case inner }
        init(from decoder: Decoder) throws {
            try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue), path: "top")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            var base = Inner()
            base.a = 7
            inner = try c.decodeLayered(.inner, base: base)
        }
    }

    func decode(_ json: String) throws -> Outer { try JSONDecoder().decode(Outer.self, from: Data(json.utf8)) }

    func testUnknownKeysAreNamedWithTheirPathAndTheAllowedKeys() throws {
        XCTAssertThrowsError(try decode(#"{"inner": {"a": 2, "c": 3}}"#)) {
            XCTAssertTrue("\($0)".contains("unknown key 'inner.c'; allowed: a, b"), "\($0)")
        }
        XCTAssertThrowsError(try decode(#"{"innr": {}}"#)) {
            XCTAssertTrue("\($0)".contains("unknown key 'top.innr'; allowed: inner"), "\($0)")
        }
    }

    /// Omitted keys take the base's values, given ones override them; an absent section is the base itself.
    func testLayeredConfigsFallBackToTheBase() throws {
        XCTAssertEqual(try decode(#"{"inner": {"b": "y"}}"#).inner.a, 7)
        XCTAssertEqual(try decode(#"{"inner": {"b": "y"}}"#).inner.b, "y")
        XCTAssertEqual(try decode(#"{"inner": {"a": 2}}"#).inner.a, 2)
        XCTAssertEqual(try decode("{}").inner.a, 7)
    }
}
