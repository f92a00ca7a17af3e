import Foundation
import RepriseCore
import XCTest

/// A config listed once as keys: what absent, null and given keys do, what is written, and the checks.
final class ConfigKeysTests: XCTestCase {
    struct Limits: KeyedConfig, Equatable {
        var on = true
        var most: Int? = 10
        var note: String?
        var list = [1, 2]
        var internalOnly = 0
        var extra = 0

        init() {}
        static let section: String? = "limits"
        static let keys: [ConfigKey<Self>] = [
            .value("on", \.on), .switchable("most", \.most), .optional("note", \.note), .value("list", \.list, null: []),
            .value("internal_only", \.internalOnly, writeIf: { _ in false }),
            .value("extra", \.extra, writeIf: { $0.extra != 0 }),
        ]

        func validate() throws {
            if let most, most < 0 { throw RepriseError("limits.most must be 0 or more") }
        }
    }

    struct Outer: KeyedConfig, Equatable {
        var name = "a"
        var limits = Limits()
        init() {}
        static let keys: [ConfigKey<Self>] = [.value("name", \.name), .section("limits", \.limits)]
    }

    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T { try JSONDecoder().decode(type, from: Data(json.utf8)) }
    func encode<T: Encodable>(_ value: T) throws -> String { String(decoding: try CanonicalJSON.encode(value), as: UTF8.self) }

    func testAbsentKeysKeepTheBaseAndGivenOnesOverrideIt() throws {
        XCTAssertEqual(try decode(Limits.self, "{}"), Limits())
        let l = try decode(Limits.self, #"{"on": false, "most": 3, "note": "n", "list": [5], "internal_only": 4}"#)
        XCTAssertEqual([l.on ? 1 : 0, l.most, l.list.first, l.internalOnly], [0, 3, 5, 4])
        XCTAssertEqual(l.note, "n")
        XCTAssertEqual(try decode(Outer.self, #"{"limits": {"on": false}}"#).limits.most, 10)
        let layered = try decode(OverPreset.self, #"{"limits": {"on": true}}"#).limits
        XCTAssertEqual(layered.most, 99, "an absent key keeps the preset's value")
        XCTAssertTrue(layered.on)
        XCTAssertFalse(try decode(OverPreset.self, "{}").limits.on, "an absent section is the preset's")
    }

    func testNullSwitchesOffOrEmptiesOrKeepsTheBase() throws {
        let l = try decode(Limits.self, #"{"most": null, "note": null, "list": null, "on": null}"#)
        XCTAssertNil(l.most)
        XCTAssertNil(l.note)
        XCTAssertEqual(l.list, [])
        XCTAssertTrue(l.on, "null on a plain value keeps the base's value")
    }

    func testWrittenKeys() throws {
        var l = Limits()
        l.most = nil
        l.internalOnly = 5
        let json = try encode(l)
        XCTAssertTrue(json.contains(#""most" : null"#), json)
        XCTAssertFalse(json.contains("note"), json)
        XCTAssertFalse(json.contains("internal_only"), json)
        XCTAssertFalse(json.contains("extra"), json)
        l.extra = 2
        l.note = "x"
        let again = try encode(l)
        XCTAssertTrue(again.contains(#""extra" : 2"#) && again.contains(#""note" : "x""#), again)
        var back = try decode(Limits.self, again)
        back.internalOnly = 5
        XCTAssertEqual(back, l, "what is written reads back (apart from the keys never written)")
    }

    func testUnknownKeysAndValidation() throws {
        XCTAssertThrowsError(try decode(Limits.self, #"{"mots": 1}"#)) {
            XCTAssertEqual("\($0)", "unknown key 'limits.mots'; allowed: extra, internal_only, list, most, note, on")
        }
        XCTAssertThrowsError(try decode(Outer.self, #"{"limits": {"x": 1}}"#)) {
            XCTAssertTrue("\($0)".hasPrefix("unknown key 'limits.x'"), "\($0)")
        }
        XCTAssertThrowsError(try decode(Outer.self, #"{"limits": {"most": -1}}"#)) {
            XCTAssertEqual("\($0)", "limits.most must be 0 or more")
        }
        XCTAssertThrowsError(try decode(Limits.self, #"{"most": "many"}"#))
    }
}

/// Limits laid over a preset with other values than the defaults.
private struct OverPreset: Decodable {
    let limits: ConfigKeysTests.Limits
    init(from decoder: Decoder) throws {
        var preset = ConfigKeysTests.Limits()
        preset.most = 99
        preset.on = false
        let c = try decoder.container(keyedBy: StrictKeys.AnyKey.self)
        limits = try c.decodeLayered(StrictKeys.AnyKey(stringValue: "limits"), base: preset)
    }
}
