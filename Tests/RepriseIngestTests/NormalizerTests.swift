import Foundation
import RepriseIngest
import XCTest

final class NormalizerTests: XCTestCase {
    func testInvalidUTF8IsReplacedAndCounted() {
        // "a", an invalid lead byte, "b", a truncated 3-byte sequence, "c", an overlong encoding of '/'.
        let r = Normalizer.normalize([0x61, 0xFF, 0x62, 0xE2, 0x82, 0x63, 0xC0, 0xAF])
        XCTAssertEqual(r.text, "a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}")
        XCTAssertEqual(r.invalidSequences, 4)
        XCTAssertEqual(r.invalidBytes, 5)
    }

    func testValidMultibyteTextIsUntouched() {
        let s = "naïve 日本語 emoji 👍🏽 Ελληνικά"
        let r = Normalizer.normalize(s)
        XCTAssertEqual(r.text, s)
        XCTAssertEqual(r.invalidSequences, 0)
    }

    func testNFC() {
        let decomposed = "Cafe\u{301} e\u{301}te\u{301}"
        let r = Normalizer.normalize(decomposed)
        XCTAssertEqual(Array(r.text.unicodeScalars), Array("Caf\u{E9} \u{E9}t\u{E9}".unicodeScalars))
        let kept = Normalizer.normalize(decomposed, nfc: false)
        XCTAssertEqual(Array(kept.text.unicodeScalars), Array(decomposed.unicodeScalars))
    }

    func testNFCComposesAcrossScriptsAndKeepsSafeTextAsIs() {
        // Hangul jamo, kana with a combining voiced mark, a singleton (Ohm sign), and text on the fast path.
        let r = Normalizer.normalize("\u{1100}\u{1161} \u{304B}\u{3099} \u{2126} “quoted” — 中文 한국어 ß")
        XCTAssertEqual(Array(r.text.unicodeScalars), Array("\u{AC00} \u{304C} \u{3A9} “quoted” — 中文 한국어 ß".unicodeScalars))
    }

    func testControlCharactersRemovedAndCounted() {
        let r = Normalizer.normalize("a\u{0}b\u{7}c\u{1B}d\u{7F}e\u{85}f\u{FEFF}g\u{9C}h")
        XCTAssertEqual(r.text, "abcde\nfgh")
        XCTAssertEqual(r.controlsRemoved, 6)
    }

    func testWhitespaceNormalisation() {
        let r = Normalizer.normalize("  \n\n Title \t\u{A0} here  \r\n\r\n\r\n\n line\u{2003}two \rthree\u{2028}four\n\n\n")
        XCTAssertEqual(r.text, "Title here\n\nline two\nthree\nfour")
    }

    func testLinesOfSpacesCountAsBlank() {
        XCTAssertEqual(Normalizer.normalize("a\n   \n \t \n\nb").text, "a\n\nb")
        XCTAssertEqual(Normalizer.normalize("a\nb").text, "a\nb")
        XCTAssertEqual(Normalizer.normalize("").text, "")
        XCTAssertEqual(Normalizer.normalize(" \n\t ").text, "")
    }
}

final class LayoutTests: XCTestCase {
    func testLayoutKeepsIndentationAndSpacingButNotTrailingSpaceOrControls() {
        let raw = "\n\n  def f(x):\r\n      return  x\t# twice  \n\n\n\n\n\tend\u{0007}\u{00A0}ok \n\n"
        let r = Normalizer.normalize(Array(raw.utf8), nfc: true, layout: true)
        XCTAssertEqual(r.text, "  def f(x):\n      return  x\t# twice\n\n\n\tend\u{00A0}ok")
        XCTAssertEqual(r.controlsRemoved, 1)
        // The prose mode of the same text collapses it.
        XCTAssertEqual(Normalizer.normalize(Array(raw.utf8)).text, "def f(x):\nreturn x # twice\n\nend ok")
    }

    func testCodePresetKeepsSourceFilesThatTheProseRulesDrop() throws {
        // Real code: this package's own Swift sources.
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/RepriseCore").path
        let s = Scratch()
        var prose = IngestConfig()
        prose.dedup.minhash = false
        let p = try s.ingest([sources], output: "prose", config: prose)
        var code = IngestConfig.code
        code.dedup.minhash = false
        let c = try s.ingest([sources], output: "code", config: code)
        XCTAssertGreaterThan(p.counts.read, 8)
        XCTAssertLessThan(Double(p.counts.kept), 0.5 * Double(p.counts.read), "prose rules drop most code: \(p.counts)")
        XCTAssertGreaterThanOrEqual(Double(c.counts.kept), 0.9 * Double(c.counts.read), "the code preset keeps it: \(c.counts)")
        // Indented lines come out as they are in the file.
        let record = try XCTUnwrap(try s.records("code").first { ($0["source"] as? String ?? "").hasSuffix("Paths.swift") })
        let file = try String(contentsOfFile: sources + "/Paths.swift", encoding: .utf8)
        XCTAssertEqual(record["text"] as? String, file.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testPresetIsTheBaseOfTheOtherKeys() throws {
        let c = try JSONDecoder().decode(IngestConfig.self, from: Data(#"{"preset": "code", "quality": {"min_words": 3}}"#.utf8))
        XCTAssertEqual(c.quality.minWords, 3)
        XCTAssertNil(c.quality.minStopWords, "the other quality keys come from the preset")
        XCTAssertEqual(c.whitespace, .preserve)
        XCTAssertEqual(c.repetition, IngestConfig.code.repetition)
        XCTAssertThrowsError(try JSONDecoder().decode(IngestConfig.self, from: Data(#"{"preset": "poetry"}"#.utf8))) {
            XCTAssertTrue($0.oneLine.contains("preset must be one of code, prose"), $0.oneLine)
        }
    }
}

/// Long runs of combining marks: NFC's work stays linear, and the output follows the documented
/// Stream-Safe rule (U+034F before the 31st, 61st, ... non-starter of a run).
final class NormalizerRunTests: XCTestCase {
    /// Independent spelling of the rule on Unicode scalars, followed by Foundation's NFC.
    func reference(_ s: String) -> [Unicode.Scalar] {
        var out = String.UnicodeScalarView()
        var run = 0
        for u in s.unicodeScalars {
            let k = [0x344, 0xF73, 0xF75, 0xF81].contains(u.value) ? 2
                : (u.properties.canonicalCombiningClass.rawValue == 0 ? 0 : 1)
            if k == 0 { run = 0 } else {
                if run + k > 30 { out.append("\u{34F}"); run = 0 }
                run += k
            }
            out.append(u)
        }
        return Array(String(out).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    func marks(_ n: Int, _ pattern: [Unicode.Scalar], base: String = "a") -> String {
        var u = String.UnicodeScalarView()
        u.append(contentsOf: base.unicodeScalars)
        for i in 0..<n { u.append(pattern[i % pattern.count]) }
        return String(u)
    }

    func testShortRunsAreUnchangedNFC() {
        // 30 marks of mixed classes (acute 230, grave below 220, cedilla 202) in reverse canonical order,
        // on a letter that composes with the first: ordinary NFC, no joiner.
        let s = marks(30, ["\u{301}", "\u{316}", "\u{327}"], base: "e") + " x"
        let r = Normalizer.normalize(s).text
        XCTAssertFalse(r.unicodeScalars.contains("\u{34F}"))
        XCTAssertEqual(Array(r.unicodeScalars), Array(s.precomposedStringWithCanonicalMapping.unicodeScalars))
    }

    func testLongMixedRunsMatchTheReference() {
        for (n, pattern) in [(31, ["\u{301}"]), (95, ["\u{301}", "\u{316}", "\u{327}"] as [Unicode.Scalar]),
                             (200, ["\u{F73}", "\u{316}"]), (64, ["\u{344}", "\u{316}"]), (61, ["\u{5B0}", "\u{5B9}"])] {
            let s = "x " + marks(n, pattern, base: "e") + " y " + marks(40, ["\u{316}", "\u{301}"], base: "\u{1100}")
            let r = Normalizer.normalize(s).text
            XCTAssertEqual(Array(r.unicodeScalars), reference(s), "\(n) × \(pattern)")
            XCTAssertTrue(r.unicodeScalars.contains("\u{34F}"))
            // The output is NFC and stays the same when normalised again.
            XCTAssertEqual(Normalizer.normalize(r).text, r)
        }
    }

    /// Seconds for normalising a run of `n` marks (best of two).
    func seconds(_ n: Int) -> Double {
        let bytes = Array(marks(n, ["\u{301}", "\u{316}", "\u{327}", "\u{302}"]).utf8)
        var best = Double.infinity
        for _ in 0..<2 {
            let t0 = Date()
            let r = Normalizer.normalize(bytes)
            XCTAssertGreaterThan(r.text.utf8.count, bytes.count)
            best = min(best, Date().timeIntervalSince(t0))
        }
        return best
    }

    func testLongRunIsLinear() {
        // 160k marks is 320 KB (half a minute before runs were bounded); 8× the input must cost about 8× the
        // time, far from the 64× of quadratic work.
        let small = seconds(20_000), large = seconds(160_000)
        XCTAssertLessThan(large, max(small, 0.01) * 24, "20k marks: \(small) s, 160k marks: \(large) s")
    }
}
