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
