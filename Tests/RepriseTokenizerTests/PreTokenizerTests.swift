import Foundation
@testable import RepriseTokenizer
import XCTest

/// `PreTokenizer` against (1) splits made by tiktoken's patterns in Python's `regex` module and
/// cross-checked with tiktoken's own engine and HuggingFace tokenizers (Fixtures/pretokenizer.json, made by
/// Tools/tokenizer/make_pretokenizer_fixtures.py), (2) a small backtracking regex matcher in this file that
/// runs `SplitPattern.tiktokenRegex` itself, on random inputs including invalid UTF-8, and (3) time limits
/// on 1 MB inputs that would be quadratic for a careless scanner.
final class PreTokenizerTests: XCTestCase {

    // MARK: fixture

    struct Fixture {
        struct Case { let name: String; let bytes: [UInt8]; let ends: [SplitPattern: [Int]] }
        let patterns: [SplitPattern: (tiktoken: String, huggingFace: String)]
        let cases: [Case]
    }

    static let fixtureURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pretokenizer.json")

    func loadFixture() throws -> Fixture {
        let data = try Data(contentsOf: Self.fixtureURL)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(root["format"] as? Int, 1)
        let pats = try XCTUnwrap(root["patterns"] as? [String: [String: String]])
        var patterns: [SplitPattern: (String, String)] = [:]
        for p in SplitPattern.allCases {
            let entry = try XCTUnwrap(pats[p.rawValue], "fixture lacks pattern \(p)")
            patterns[p] = (try XCTUnwrap(entry["tiktoken"]), try XCTUnwrap(entry["huggingface"]))
        }
        var cases: [Fixture.Case] = []
        for c in try XCTUnwrap(root["cases"] as? [[String: Any]]) {
            let name = try XCTUnwrap(c["name"] as? String)
            let bytes = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c["utf8"] as? String)))
            var ends: [SplitPattern: [Int]] = [:]
            for p in SplitPattern.allCases { ends[p] = try XCTUnwrap(c[p.rawValue] as? [Int], "\(name) \(p)") }
            cases.append(.init(name: name, bytes: [UInt8](bytes), ends: ends))
        }
        return Fixture(patterns: patterns, cases: cases)
    }

    static func ends(_ pattern: SplitPattern, _ bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        bytes.withUnsafeBufferPointer { PreTokenizer(pattern).split($0) { out.append($0.upperBound) } }
        return out
    }

    static func pieces(_ bytes: [UInt8], _ ends: [Int]) -> [String] {
        var start = 0
        return ends.map { e in
            defer { start = e }
            return String(decoding: bytes[start..<e], as: UTF8.self).debugDescription
        }
    }

    func testPatternSpellingsMatchTheFixture() throws {
        let fixture = try loadFixture()
        for p in SplitPattern.allCases {
            XCTAssertEqual(p.tiktokenRegex, fixture.patterns[p]?.tiktoken, "\(p) tiktoken spelling")
            XCTAssertEqual(p.huggingFaceRegex, fixture.patterns[p]?.huggingFace, "\(p) HuggingFace spelling")
        }
    }

    func testFixtureSplits() throws {
        let fixture = try loadFixture()
        XCTAssertGreaterThan(fixture.cases.count, 400)
        var failures = 0
        for c in fixture.cases {
            for p in SplitPattern.allCases {
                let got = Self.ends(p, c.bytes)
                let want = c.ends[p]!
                if got != want {
                    failures += 1
                    if failures <= 10 {
                        XCTFail("""
                            \(c.name) [\(p)]:
                              want \(Self.pieces(c.bytes, want))
                              got  \(Self.pieces(c.bytes, got))
                            """)
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) case/pattern pairs differ")
    }

    func testStringConvenienceMatchesRanges() {
        let text = "It's 2024!\r\n  Hello,   WORLD's 12345 café\u{301} 👍🏽\n"
        for p in SplitPattern.allCases {
            let pieces = PreTokenizer(p).split(text)
            XCTAssertEqual(pieces.joined(), text)
            XCTAssertEqual(pieces.count, Self.ends(p, Array(text.utf8)).count)
        }
        XCTAssertEqual(PreTokenizer(.cl100k).split("Hello world's  12345\n\n"),
                       ["Hello", " world", "'s", " ", " ", "123", "45", "\n\n"])
        XCTAssertEqual(PreTokenizer(.gpt2).split("Hello world's  12345\n\n"),
                       ["Hello", " world", "'s", " ", " 12345", "\n\n"])
        XCTAssertEqual(PreTokenizer(.o200k).split("HelloWorld's  12345\n\n"),
                       ["Hello", "World's", " ", " ", "123", "45", "\n\n"])
        XCTAssertEqual(PreTokenizer(.cl100k).split(""), [])
    }

    // MARK: invalid UTF-8

    /// Each byte that does not start a well-formed sequence is one "other" character.
    func testInvalidBytesAreOtherCharacters() {
        func split(_ p: SplitPattern, _ bytes: [UInt8]) -> [[UInt8]] {
            var out: [[UInt8]] = []
            bytes.withUnsafeBufferPointer { b in PreTokenizer(p).split(b) { out.append(Array(b[$0])) } }
            return out
        }
        let ff: UInt8 = 0xFF
        let abc = Array("abc".utf8)
        // An invalid byte is the one leading non-letter that cl100k and o200k allow before a word.
        XCTAssertEqual(split(.cl100k, [ff] + abc), [[ff] + abc])
        XCTAssertEqual(split(.o200k, [ff] + abc), [[ff] + abc])
        XCTAssertEqual(split(.gpt2, [ff] + abc), [[ff], abc])
        // Invalid bytes run together with punctuation, and a space may lead them.
        XCTAssertEqual(split(.gpt2, Array(" ".utf8) + [0x80, 0x21, 0xC0, 0xAF] + abc),
                       [[0x20, 0x80, 0x21, 0xC0, 0xAF], abc])
        // Surrogates, overlong forms, values past U+10FFFF and truncated sequences never join a letter run.
        for bad: [UInt8] in [[0xED, 0xA0, 0x80], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80],
                             [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82]] {
            XCTAssertEqual(split(.gpt2, abc + bad + abc), [abc, bad, abc], "\(bad)")
            XCTAssertEqual(split(.gpt2, abc + bad), [abc, bad], "\(bad) at the end")
        }
        // A truncated sequence is two invalid bytes: one run of "other", then the letters.
        XCTAssertEqual(split(.cl100k, [0xE2, 0x82] + abc), [[0xE2, 0x82], abc])
        XCTAssertEqual(split(.cl100k, [0xE2, 0x82, 0x20] + abc), [[0xE2, 0x82], Array(" abc".utf8)])
        // Well-formed characters at the edges of the valid ranges are single characters of their class.
        for s: Unicode.Scalar in ["\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}"] {
            let isLetter = CharClass.bits(of: s) & CharClass.letter != 0
            XCTAssertEqual(PreTokenizer(.gpt2).split("a\(s)a").count, isLetter ? 1 : 3, "U+\(String(s.value, radix: 16))")
        }
    }

    func testRandomBytesAreCoveredExactly() {
        var rng = SplitMix(seed: 7)
        let alphabet: [UInt8] = Array(" \t\r\n'sS/aZ9!".utf8) + [0x80, 0xBF, 0xC2, 0xC5, 0xE0, 0xED, 0xF0, 0xF4, 0xFF]
        for round in 0..<3000 {
            let count = Int(rng.next() % 64)
            var bytes: [UInt8] = (0..<count).map { _ in
                rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            if round % 5 == 0 { bytes += Array("Ünïcödé 中文 ǅ'S".utf8) }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            for p in SplitPattern.allCases {
                var next = 0
                bytes.withUnsafeBufferPointer { b in
                    PreTokenizer(p).split(b) { r in
                        XCTAssertEqual(r.lowerBound, next)
                        XCTAssertFalse(r.isEmpty)
                        if valid { XCTAssertNotNil(String(validating: b[r], as: UTF8.self), "cut inside a character") }
                        next = r.upperBound
                    }
                }
                XCTAssertEqual(next, bytes.count, "\(p) \(bytes)")
            }
        }
    }

    // MARK: reference matcher

    /// `PreTokenizer` against the reference matcher below, which interprets `tiktokenRegex` by plain
    /// backtracking, on random strings of characters picked to hit every alternative and their
    /// interplay: letters of each case class, marks, contraction letters, `ſ`, newlines, slashes,
    /// Unicode spaces and invalid bytes.
    func testAgreesWithBacktrackingReference() throws {
        let units: [[UInt8]] = (["a", "b", "s", "S", "t", "T", "l", "L", "v", "V", "e", "E", "r", "R", "d", "D",
                                 "m", "M", "x", "X", "ſ", "ǅ", "ʰ", "中", "א", "Ж", "ж", "𝐀", "𝐚",
                                 "\u{301}", "\u{903}", "\u{20DD}", "\u{FE0F}",
                                 "0", "7", "Ⅻ", "½", "١", "𝟙",
                                 " ", " ", " ", " ", "\t", "\n", "\n", "\r", "\r\n", "\u{A0}", "\u{3000}", "\u{85}",
                                 "\u{2028}", "\u{1C}", "\u{200B}",
                                 "'", "'", "'", "/", "/", "!", ".", "-", "\"", "😀", "👍🏽", "\u{200D}"]
                                .map { Array($0.utf8) }) + [[0xFF], [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82]]
        // PRETOKENIZER_FUZZ_ROUNDS=200000 (with a new PRETOKENIZER_FUZZ_SEED) runs a longer search.
        let env = ProcessInfo.processInfo.environment
        let rounds = env["PRETOKENIZER_FUZZ_ROUNDS"].flatMap(Int.init) ?? 1500
        var rng = SplitMix(seed: env["PRETOKENIZER_FUZZ_SEED"].flatMap(UInt64.init) ?? 2024)
        var checked = 0
        for p in SplitPattern.allCases {
            let reference = try Reference(p.tiktokenRegex)
            for round in 0..<rounds {
                let count = Int(rng.next() % (round % 2 == 0 ? 12 : 40))
                let bytes = (0..<count).flatMap { _ in units[Int(rng.next() % UInt64(units.count))] }
                let want = reference.ends(bytes)
                let got = Self.ends(p, bytes)
                if got != want {
                    XCTFail("\(p): \(bytes)\n  want \(Self.pieces(bytes, want))\n  got  \(Self.pieces(bytes, got))")
                    return
                }
                checked += 1
            }
        }
        XCTAssertEqual(checked, 3 * rounds)
    }

    func testReferenceMatcherAgreesWithTheFixture() throws {
        // The reference is itself checked against the fixture, on a sample (it is slow).
        let fixture = try loadFixture()
        for p in SplitPattern.allCases {
            let reference = try Reference(p.tiktokenRegex)
            for c in fixture.cases where c.bytes.count < 400 {
                XCTAssertEqual(reference.ends(c.bytes), c.ends[p]!, "\(c.name) [\(p)]")
            }
        }
    }

    // MARK: Unicode tables

    func testClassTablesMatchTheStandardLibrary() {
        var wrong: [UInt32] = []
        for cp in UInt32(0)..<0x110000 {
            // The full definition, without the shortcut `CharClass.bits(of:)` takes for White_Space.
            guard let s = Unicode.Scalar(cp) else { continue }
            var want = CharClass.bits(of: s) & ~CharClass.space
            if s.properties.isWhitespace { want |= CharClass.space }
            if classBits(cp) != want { wrong.append(cp) }
        }
        XCTAssertEqual(wrong, [])
        XCTAssertEqual(classBits(0xD800), 0)
        XCTAssertLessThan(AstralClassTable.shared.blockCount, 1024)
        func bits(_ s: Unicode.Scalar) -> UInt8 { classBits(s.value) }
        // Spot checks of the classes the patterns depend on.
        XCTAssertEqual(bits("A"), CharClass.letter | CharClass.upper)
        XCTAssertEqual(bits("a"), CharClass.letter | CharClass.lower)
        XCTAssertEqual(bits("中"), CharClass.letter | CharClass.upper | CharClass.lower)
        XCTAssertEqual(bits("\u{301}"), CharClass.mark | CharClass.upper | CharClass.lower)
        XCTAssertEqual(bits("½"), CharClass.number)
        for s: Unicode.Scalar in ["\t", "\n", "\u{B}", "\u{C}", "\r", " ", "\u{85}", "\u{A0}", "\u{1680}", "\u{2000}",
                                  "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}", "\u{3000}"] {
            XCTAssertEqual(bits(s), CharClass.space, "U+\(String(s.value, radix: 16))")
        }
        for s: Unicode.Scalar in ["\u{1C}", "\u{1F}", "\u{180E}", "\u{200B}", "\u{FEFF}", "'", "/"] {
            XCTAssertEqual(bits(s), 0, "U+\(String(s.value, radix: 16))")
        }
    }

    // MARK: linear time

    /// 1 MB of one repeated unit must split in linear time: a scanner that rescans a run for every
    /// token, or backtracks over it, takes minutes here. The 2 s bound holds in a debug build; the MB/s
    /// printed is for information (release numbers come from the benchmark).
    func testPathologicalInputsAreLinear() {
        let size = 1 << 20
        let inputs: [(String, [UInt8])] = [
            ("letters", Array(repeating: UInt8(ascii: "a"), count: size)),
            ("uppercase", Array(repeating: UInt8(ascii: "A"), count: size)),
            ("spaces", Array(repeating: UInt8(ascii: " "), count: size)),
            ("digits", Array(repeating: UInt8(ascii: "7"), count: size)),
            ("carets", Array(repeating: UInt8(ascii: "^"), count: size)),
            ("newlines", Array(repeating: UInt8(ascii: "\n"), count: size)),
            ("apostrophes", Array(repeating: UInt8(ascii: "'"), count: size)),
            ("space-letter", (0..<size).map { $0 % 2 == 0 ? UInt8(ascii: " ") : UInt8(ascii: "a") }),
            ("spaces-then-letter", Array(repeating: UInt8(ascii: " "), count: size - 1) + [UInt8(ascii: "a")]),
            ("space-newline", (0..<size).map { $0 % 2 == 0 ? UInt8(ascii: " ") : UInt8(ascii: "\n") }),
            ("caps-then-mark", Array((String(repeating: "A", count: size / 4) + "\u{301}").utf8)),
            ("mark-then-caps", Array((String(repeating: "\u{301}A", count: size / 4)).utf8)),
            ("cjk", Array(String(repeating: "中", count: size / 3).utf8)),
            ("invalid", Array(repeating: 0xFF, count: size)),
        ]
        for (name, bytes) in inputs {
            for p in SplitPattern.allCases {
                var pieces = 0
                let clock = ContinuousClock()
                let elapsed = clock.measure {
                    bytes.withUnsafeBufferPointer { PreTokenizer(p).split($0) { _ in pieces += 1 } }
                }
                let seconds = Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)
                let label = "\(name) \(p.rawValue)".padding(toLength: 28, withPad: " ", startingAt: 0)
                print("pathological \(label)" + String(format: "%8d pieces %8.1f MB/s", pieces,
                                                           Double(bytes.count) / 1e6 / max(seconds, 1e-9)))
                XCTAssertLessThan(seconds, 2.0, "\(name) with \(p) took \(seconds) s")
            }
        }
    }
}

/// A deterministic generator for test inputs (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A plain backtracking matcher for the regex features the split patterns use (alternation, groups,
/// `(?i:)`, classes with `\p{..}`, `\s`, `\S`, `\r`, `\n`, greedy and possessive `? * + {m,n}`, `(?!..)`,
/// `$`), run findall-style like tiktoken. Written for clarity, not speed, and independent of the
/// scanner: it decodes with the standard library's UTF-8 parser and reads classes from
/// `Unicode.Scalar.Properties` directly. An invalid byte is a unit that is in no class.
struct Reference {
    indirect enum Node {
        case empty
        case literal(Unicode.Scalar, caseless: Bool)
        case set([Item], negated: Bool, caseless: Bool)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int, possessive: Bool)
        case notFollowedBy(Node)
        case endOfText
    }
    enum Item { case scalar(Unicode.Scalar), property(String), space, notSpace }
    struct ParseError: Error { let message: String }

    let root: Node

    init(_ pattern: String) throws {
        var parser = Parser(chars: Array(pattern.unicodeScalars))
        root = try parser.alternation(caseless: false)
        guard parser.i == parser.chars.count else { throw ParseError(message: "trailing input at \(parser.i)") }
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        var i = 0

        mutating func alternation(caseless: Bool) throws -> Node {
            var branches = [try sequence(caseless: caseless)]
            while i < chars.count, chars[i] == "|" { i += 1; branches.append(try sequence(caseless: caseless)) }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func sequence(caseless: Bool) throws -> Node {
            var items: [Node] = []
            while i < chars.count, chars[i] != "|", chars[i] != ")" {
                var atom = try self.atom(caseless: caseless)
                if i < chars.count, let (lo, hi) = quantifier() {
                    var possessive = false
                    if i < chars.count, chars[i] == "+" { possessive = true; i += 1 }
                    atom = .repetition(atom, min: lo, max: hi, possessive: possessive)
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .sequence(items)
        }

        mutating func quantifier() -> (Int, Int)? {
            switch chars[i] {
            case "?": i += 1; return (0, 1)
            case "*": i += 1; return (0, .max)
            case "+": i += 1; return (1, .max)
            case "{":
                var j = i + 1, lo = 0, hi = 0
                while chars[j].properties.numericType != nil { lo = lo * 10 + Int(chars[j].value - 48); j += 1 }
                precondition(chars[j] == ",")
                j += 1
                while chars[j].properties.numericType != nil { hi = hi * 10 + Int(chars[j].value - 48); j += 1 }
                precondition(chars[j] == "}")
                i = j + 1
                return (lo, hi)
            default: return nil
            }
        }

        mutating func atom(caseless: Bool) throws -> Node {
            let c = chars[i]
            i += 1
            switch c {
            case "(":
                var inner = caseless
                if chars[i] == "?" {
                    if chars[i + 1] == ":" { i += 2 } else if chars[i + 1] == "i", chars[i + 2] == ":" { inner = true; i += 3 } else if chars[i + 1] == "!" {
                        i += 2
                        let body = try alternation(caseless: caseless)
                        try expect(")")
                        return .notFollowedBy(body)
                    } else { throw ParseError(message: "unsupported group at \(i)") }
                }
                let body = try alternation(caseless: inner)
                try expect(")")
                return body
            case "[":
                var negated = false
                if chars[i] == "^" { negated = true; i += 1 }
                var items: [Item] = []
                while chars[i] != "]" {
                    if chars[i] == "\\" { i += 1; items.append(try escape()) } else { items.append(.scalar(chars[i])); i += 1 }
                }
                i += 1
                return .set(items, negated: negated, caseless: caseless)
            case "\\":
                let item = try escape()
                if case .scalar(let s) = item { return .literal(s, caseless: caseless) }
                return .set([item], negated: false, caseless: false)
            case "$": return .endOfText
            default: return .literal(c, caseless: caseless)
            }
        }

        mutating func escape() throws -> Item {
            let c = chars[i]
            i += 1
            switch c {
            case "s": return .space
            case "S": return .notSpace
            case "r": return .scalar("\r")
            case "n": return .scalar("\n")
            case "p":
                try expect("{")
                var name = ""
                while chars[i] != "}" { name.unicodeScalars.append(chars[i]); i += 1 }
                i += 1
                return .property(name)
            default: return .scalar(c)
            }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            guard i < chars.count, chars[i] == c else { throw ParseError(message: "expected \(c) at \(i)") }
            i += 1
        }
    }

    // MARK: matching

    /// Input units: a scalar, or nil for an invalid byte; `offsets[k]` is the byte offset of unit k.
    func ends(_ bytes: [UInt8]) -> [Int] {
        var units: [Unicode.Scalar?] = []
        var offsets: [Int] = []
        var k = 0
        while k < bytes.count {
            offsets.append(k)
            var parser = Unicode.UTF8.ForwardParser()
            var it = bytes[k...].makeIterator()
            if case .valid(let seq) = parser.parseScalar(from: &it) {
                units.append(Unicode.UTF8.decode(seq))
                k += seq.count
            } else {
                units.append(nil)
                k += 1
            }
        }
        offsets.append(bytes.count)
        var out: [Int] = []
        var pos = 0
        while pos < units.count {
            var end: Int?
            _ = match(root, units, pos) { e in end = e; return true }
            guard let e = end, e > pos else { fatalError("pattern does not match at unit \(pos) of \(bytes)") }
            out.append(offsets[e])
            pos = e
        }
        return out
    }

    private func match(_ node: Node, _ u: [Unicode.Scalar?], _ pos: Int, _ k: (Int) -> Bool) -> Bool {
        switch node {
        case .empty:
            return k(pos)
        case .literal(let s, let caseless):
            guard pos < u.count, let c = u[pos], Self.same(c, s, caseless) else { return false }
            return k(pos + 1)
        case .set(let items, let negated, let caseless):
            guard pos < u.count else { return false }
            let inSet = items.contains { Self.matches($0, u[pos], caseless) }
            return inSet != negated && k(pos + 1)
        case .sequence(let nodes):
            return sequence(nodes[...], u, pos, k)
        case .alternation(let branches):
            return branches.contains { match($0, u, pos, k) }
        case .repetition(let body, let lo, let hi, let possessive):
            if possessive {
                var end: Int?
                _ = repeatGreedy(body, lo, hi, 0, u, pos) { e in end = e; return true }
                guard let e = end else { return false }
                return k(e)
            }
            return repeatGreedy(body, lo, hi, 0, u, pos, k)
        case .notFollowedBy(let body):
            return !match(body, u, pos) { _ in true } && k(pos)
        case .endOfText:
            return pos == u.count && k(pos)
        }
    }

    private func sequence(_ nodes: ArraySlice<Node>, _ u: [Unicode.Scalar?], _ pos: Int, _ k: (Int) -> Bool) -> Bool {
        guard let first = nodes.first else { return k(pos) }
        return match(first, u, pos) { next in sequence(nodes.dropFirst(), u, next, k) }
    }

    private func repeatGreedy(_ body: Node, _ lo: Int, _ hi: Int, _ count: Int, _ u: [Unicode.Scalar?], _ pos: Int,
                              _ k: (Int) -> Bool) -> Bool {
        if count < hi, match(body, u, pos, { next in next > pos && repeatGreedy(body, lo, hi, count + 1, u, next, k) }) {
            return true
        }
        return count >= lo && k(pos)
    }

    static func same(_ a: Unicode.Scalar, _ b: Unicode.Scalar, _ caseless: Bool) -> Bool {
        if a == b { return true }
        guard caseless else { return false }
        // Simple case folding for the letters that occur in the patterns: s S ſ, t T, and so on.
        return a.properties.uppercaseMapping == b.properties.uppercaseMapping
    }

    static func matches(_ item: Item, _ unit: Unicode.Scalar?, _ caseless: Bool) -> Bool {
        switch item {
        case .scalar(let s): return unit.map { same($0, s, caseless) } ?? false
        case .space: return unit?.properties.isWhitespace ?? false
        case .notSpace: return !(unit?.properties.isWhitespace ?? false)
        case .property(let name):
            guard let c = unit?.properties.generalCategory else { return false }
            switch name {
            case "L": return [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter].contains(c)
            case "Lu": return c == .uppercaseLetter
            case "Ll": return c == .lowercaseLetter
            case "Lt": return c == .titlecaseLetter
            case "Lm": return c == .modifierLetter
            case "Lo": return c == .otherLetter
            case "M": return [.nonspacingMark, .spacingMark, .enclosingMark].contains(c)
            case "N": return [.decimalNumber, .letterNumber, .otherNumber].contains(c)
            default: fatalError("unsupported property \(name)")
            }
        }
    }
}
