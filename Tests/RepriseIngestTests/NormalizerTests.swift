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
