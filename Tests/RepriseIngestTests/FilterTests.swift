import Foundation
import RepriseCore
import XCTest
@testable import RepriseIngest

/// Tests of the document quality filters: every rule at its threshold (kept exactly at it, dropped just
/// past it), the word splitter, CJK handling, configuration decoding and real paragraphs.
final class FilterTests: XCTestCase {

    // MARK: - Helpers

    /// A lower-case word made of letters only, distinct for every `i` (and for every length).
    private func word(_ i: Int, length: Int = 5) -> String {
        var letters: [Character] = []
        var v = i
        for _ in 0..<length {
            letters.append(Character(Unicode.Scalar(UInt8(97 + v % 26))))
            v /= 26
        }
        // Make words of different indices differ even when `length` is short, by rotating with the index.
        return String(letters)
    }

    /// `count` distinct five-letter words starting from index `from`, joined by spaces.
    private func words(_ count: Int, from: Int = 1000) -> String {
        (0..<count).map { word(from + $0 * 7) }.joined(separator: " ")
    }

    private let quality = GopherQuality()
    private let repetition = GopherRepetition()

    private func drop(_ reason: String) -> FilterDecision { .drop(reason: reason) }

    /// A repetition config with only the given n-gram rules (line and paragraph rules stay on).
    private func onlyNGrams(top: [NGramLimit] = [], dup: [NGramLimit] = []) -> GopherRepetition {
        var c = GopherRepetitionConfig()
        c.topNGrams = top
        c.dupNGrams = dup
        return GopherRepetition(c)
    }

    // MARK: - Word splitter

    func testSplitterPeelsPunctuationAndKeepsExceptions() {
        XCTAssertEqual(TextStats("Don't stop, it's well-known: see https://example.com/a-b (e.g. this).").wordStrings,
                       ["Do", "n't", "stop", ",", "it", "'s", "well", "-", "known", ":", "see",
                        "https://example.com/a-b", "(", "e.g.", "this", ")", "."])
        XCTAssertEqual(TextStats("He paid $3.50 for 10km... \"Really?\" she asked :)").wordStrings,
                       ["He", "paid", "$", "3.50", "for", "10", "km", "...", "\"", "Really", "?", "\"", "she", "asked",
                        ":)"])
        XCTAssertEqual(TextStats("U.S.A. and the U.K. met at 3pm; Mr.Smith left.").wordStrings,
                       ["U.S.A.", "and", "the", "U.K.", "met", "at", "3", "pm", ";", "Mr.", "Smith", "left", "."])
    }

    func testWordCountsIgnoreSymbolOnlyWords() {
        let s = TextStats("Hello, world -- # 42 ... ok!")
        XCTAssertEqual(s.wordStrings, ["Hello", ",", "world", "--", "#", "42", "...", "ok", "!"])
        XCTAssertEqual(s.wordCount, 9)
        XCTAssertEqual(s.nonSymbolWordCount, 4)           // Hello world 42 ok
        XCTAssertEqual(s.nonSymbolWordChars, 5 + 5 + 2 + 2)
        XCTAssertEqual(s.alphaWordCount, 3)               // 42 has no letter
        XCTAssertEqual(s.hashCount, 1)
        XCTAssertEqual(s.ellipsisCount, 1)
    }

    func testNonASCIILettersCountAsLetters() {
        let s = TextStats("éclair Москва Ελλάδα 123 ½ — €")
        XCTAssertEqual(s.wordCount, 7)
        XCTAssertEqual(s.alphaWordCount, 3)
        XCTAssertEqual(s.charCount, 30)
    }

    // MARK: - Gopher quality: one rule at a time

    func testMinWordsBoundary() {
        let fifty = "the and " + words(48)
        XCTAssertEqual(TextStats(fifty).nonSymbolWordCount, 50)
        XCTAssertEqual(quality.check(fifty), .keep)
        let fortyNine = "the and " + words(47)
        XCTAssertEqual(quality.check(fortyNine), drop("gopher_short_doc"))
        // Punctuation does not count as words.
        XCTAssertEqual(quality.check(fortyNine + " ! ! ? ."), drop("gopher_short_doc"))
    }

    func testMaxWordsBoundary() {
        let base = "the and " + String(repeating: "cat ", count: 99_998)
        XCTAssertEqual(quality.check(base), .keep)
        XCTAssertEqual(quality.check(base + "cat"), drop("gopher_long_doc"))
    }

    func testMeanWordLengthBoundaries() {
        // 50 words of exactly 3 letters: mean 3.0 is kept; one 2-letter word makes it 2.98.
        let three = "the and " + (0..<48).map { word($0 * 11, length: 3) }.joined(separator: " ")
        XCTAssertEqual(quality.check(three), .keep)
        let below = "the and " + (0..<47).map { word($0 * 11, length: 3) }.joined(separator: " ") + " ab"
        XCTAssertEqual(quality.check(below), drop("gopher_below_avg_threshold"))

        // 500 characters over 50 words: mean 10.0 is kept; one more character is above.
        let longWords = (0..<46).map { word($0 * 13, length: 10) } + [word(1, length: 17), word(2, length: 17)]
        let ten = "the and " + longWords.joined(separator: " ")
        XCTAssertEqual(TextStats(ten).nonSymbolWordChars, 500)
        XCTAssertEqual(quality.check(ten), .keep)
        XCTAssertEqual(quality.check(ten + "x"), drop("gopher_above_avg_threshold"))
    }

    func testHashRatioBoundary() {
        // 54 words + 6 "#" = 60 words, 6 / 60 = 0.1 is kept; 7 / 61 is not.
        let body = "the and " + words(52)
        XCTAssertEqual(quality.check(body + String(repeating: " #", count: 6)), .keep)
        XCTAssertEqual(quality.check(body + String(repeating: " #", count: 7)), drop("gopher_too_many_hashes"))
    }

    func testEllipsisRatioBoundary() {
        // 54 words + 6 ellipses = 60 words: 0.1 is kept; 7 / 61 is not.
        let six = "the and ... " + words(25) + " ... … … " + words(26, from: 9000) + " … … end"
        XCTAssertEqual(TextStats(six).ellipsisCount, 6)
        XCTAssertEqual(TextStats(six).wordCount, 60)
        XCTAssertEqual(quality.check(six), .keep)
        let seven = "the and ... " + words(25) + " ... … … " + words(26, from: 9000) + " … … … end"
        XCTAssertEqual(quality.check(seven), drop("gopher_too_many_ellipsis"))
        // "...." counts once, "......" twice.
        XCTAssertEqual(TextStats("a.... b...... c").ellipsisCount, 3)
    }

    func testBulletLinesBoundary() {
        let lines = (0..<10).map { "the and " + words(4, from: 100 + 17 * $0) }
        let nine = lines.enumerated().map { $0.offset < 9 ? "- " + $0.element : $0.element }.joined(separator: "\n")
        XCTAssertEqual(TextStats(nine).bulletLineCount, 9)
        XCTAssertEqual(quality.check(nine), .keep)                       // 0.9
        let ten = lines.map { "  • " + $0 }.joined(separator: "\n")
        XCTAssertEqual(quality.check(ten), drop("gopher_too_many_bullets"))
    }

    func testEndEllipsisLinesBoundary() {
        let lines = (0..<10).map { "the and " + words(4, from: 100 + 17 * $0) }
        let three = lines.enumerated().map { $0.offset < 3 ? $0.element + "..." : $0.element }.joined(separator: "\n")
        XCTAssertEqual(quality.check(three), .keep)                      // 0.3
        let four = lines.enumerated().map { $0.offset < 4 ? $0.element + "… \t" : $0.element }.joined(separator: "\r\n")
        XCTAssertEqual(TextStats(four).ellipsisLineCount, 4)
        XCTAssertEqual(quality.check(four), drop("gopher_too_many_end_ellipsis"))
    }

    func testAlphaWordsBoundary() {
        // 48 words with letters, 12 without: 0.8 is kept; 47 / 60 is not.
        let ok = "the and " + words(46) + String(repeating: " 12345", count: 12)
        XCTAssertEqual(quality.check(ok), .keep)
        let low = "the and " + words(45) + String(repeating: " 12345", count: 13)
        XCTAssertEqual(quality.check(low), drop("gopher_below_alpha_threshold"))
    }

    func testStopWords() {
        XCTAssertEqual(quality.check("the with " + words(48)), .keep)
        XCTAssertEqual(quality.check("the the " + words(48)), drop("gopher_enough_stop_words"))
        // Matching is case-sensitive, on whole words.
        XCTAssertEqual(quality.check("The And theory " + words(47)), drop("gopher_enough_stop_words"))
    }

    func testDisabledAndSwitchedOffRules() {
        var c = GopherQualityConfig()
        c.enabled = false
        XCTAssertEqual(GopherQuality(c).check("too short"), .keep)
        c = GopherQualityConfig()
        c.minWords = nil
        c.minStopWords = 0
        XCTAssertEqual(GopherQuality(c).check("a short but otherwise fine text"), .keep)
    }

    // MARK: - CJK

    /// Zhang Ruoxu, "Spring River in the Flower Moon Night" (first twelve lines).
    private let poem = """
        春江潮水连海平，海上明月共潮生。
        滟滟随波千万里，何处春江无月明！
        江流宛转绕芳甸，月照花林皆似霰。
        空里流霜不觉飞，汀上白沙看不见。
        江天一色无纤尘，皎皎空中孤月轮。
        江畔何人初见月？江月何年初照人？
        """

    func testChinesePoemIsKept() {
        let s = TextStats(poem)
        XCTAssertTrue(s.isCJK)
        XCTAssertEqual(s.nonSymbolWordCount, 84)         // one word per Han character
        XCTAssertEqual(s.wordCount, 96)                  // plus 12 punctuation marks
        XCTAssertEqual(quality.check(s), .keep)
        XCTAssertEqual(repetition.check(s), .keep)
    }

    func testShortChineseTextIsDropped() {
        let s = TextStats("床前明月光，疑是地上霜。举头望明月，低头思故乡。")
        XCTAssertTrue(s.isCJK)
        XCTAssertEqual(s.nonSymbolWordCount, 20)
        XCTAssertEqual(quality.check(s), drop("gopher_short_doc"))
    }

    func testMostlyEnglishWithSomeChineseIsNotCJK() {
        let s = TextStats("The word 月 means moon and the word 春 means spring.")
        XCTAssertFalse(s.isCJK)
        XCTAssertEqual(s.wordStrings.count, 12)
    }

    // MARK: - Gopher repetition

    func testEmptyText() {
        XCTAssertEqual(repetition.check(""), drop("empty"))
    }

    func testDuplicateLineFractionBoundary() {
        let unique = (0..<6).map { words(12, from: 5000 + 100 * $0) }
        let withThree = [unique[0], "ok go", unique[1], "ok go", unique[2], "ok go", unique[3], unique[4], "ok go", unique[5]]
        XCTAssertEqual(repetition.check(withThree.joined(separator: "\n")), .keep)          // 3 / 10
        let withFour = withThree + ["ok go"]
        XCTAssertEqual(repetition.check(withFour.joined(separator: "\n")), drop("dup_line_frac"))   // 4 / 11
        // Blank lines do not count as lines: runs of "\n" separate lines.
        XCTAssertEqual(repetition.check(withThree.joined(separator: "\n\n\n")), .keep)
    }

    func testDuplicateParagraphFractionBoundary() {
        let unique = (0..<6).map { words(12, from: 7000 + 100 * $0) }
        let withThree = [unique[0], "ok go", unique[1], "ok go", unique[2], "ok go", unique[3], unique[4], "ok go", unique[5]]
        XCTAssertEqual(repetition.check(withThree.joined(separator: "\n\n")), .keep)
        let withFour = withThree + ["ok go"]
        XCTAssertEqual(repetition.check(withFour.joined(separator: "\n\n\n")), drop("dup_para_frac"))
    }

    func testDuplicateLineCharacterFractionBoundary() {
        let r = onlyNGrams()
        let long = words(6, from: 300) + " abcdefgh ij"              // 47 characters
        XCTAssertEqual(long.count, 47)
        // Lines: long, x1, x2, long -> 1 / 4 lines repeat; 47 / 235 = 0.2 of the characters.
        let x1 = words(12, from: 400)                                   // 71 characters
        let fill = 235 - 2 * 47 - 71 - 3
        let x2 = String(words(12, from: 900).prefix(fill))
        let text = [long, x1, x2, long].joined(separator: "\n")
        XCTAssertEqual(text.count, 235)
        XCTAssertEqual(r.check(text), .keep)
        let shorter = [long, x1, String(x2.dropLast()), long].joined(separator: "\n")
        XCTAssertEqual(r.check(shorter), drop("dup_line_char_frac"))
    }

    func testDuplicateParagraphCharacterFractionBoundary() {
        let r = onlyNGrams()
        let long = words(6, from: 300) + " abcdefgh ij"              // 47 characters
        let x1 = words(12, from: 400)
        let fill = 235 - 2 * 47 - 71 - 6
        let x2 = String(words(12, from: 900).prefix(fill))
        let text = [long, x1, x2, long].joined(separator: "\n\n")
        XCTAssertEqual(text.count, 235)
        XCTAssertEqual(r.check(text), .keep)
        let shorter = [long, x1, String(x2.dropLast()), long].joined(separator: "\n\n")
        XCTAssertEqual(r.check(shorter), drop("dup_para_char_frac"))
    }

    /// `phrase` repeated `times` times, each followed by a distinct filler word, padded with one final word so
    /// the whole text has exactly `total` characters.
    private func repeatedPhrase(_ phrase: String, times: Int, total: Int) -> String {
        var parts: [String] = []
        for i in 0..<times { parts.append(phrase); parts.append(word(20_000 + 31 * i, length: 4)) }
        let base = parts.joined(separator: " ")
        precondition(total - base.count - 1 >= 1)
        return base + " " + String(repeating: "q", count: total - base.count - 1)
    }

    func testTopNGramBoundaries() {
        // "ab cd" (5 characters) 4 times: 20 / 100 = 0.2 is kept, 20 / 99 is not.
        let r2 = onlyNGrams(top: [NGramLimit(2, 0.2)])
        XCTAssertEqual(r2.check(repeatedPhrase("ab cd", times: 4, total: 100)), .keep)
        XCTAssertEqual(r2.check(repeatedPhrase("ab cd", times: 4, total: 99)), drop("top_2_gram"))
        // "ab cd ef" (8 characters) 9 times: 72 / 400 = 0.18.
        let r3 = onlyNGrams(top: [NGramLimit(3, 0.18)])
        XCTAssertEqual(r3.check(repeatedPhrase("ab cd ef", times: 9, total: 400)), .keep)
        XCTAssertEqual(r3.check(repeatedPhrase("ab cd ef", times: 9, total: 399)), drop("top_3_gram"))
        // "ab cd ef gh" (11 characters) 8 times: 88 / 550 = 0.16.
        let r4 = onlyNGrams(top: [NGramLimit(4, 0.16)])
        XCTAssertEqual(r4.check(repeatedPhrase("ab cd ef gh", times: 8, total: 550)), .keep)
        XCTAssertEqual(r4.check(repeatedPhrase("ab cd ef gh", times: 8, total: 549)), drop("top_4_gram"))
    }

    /// `text` plus one more word, so the whole has exactly `total` characters.
    private func pad(_ text: String, to total: Int) -> String {
        precondition(total - text.count - 1 >= 1)
        return text + " " + String(repeating: "z", count: total - text.count - 1)
    }

    func testTopNGramTieTakesFirstSeen() {
        // Every 2-gram occurs once, so the top one is the first: "ab cd" (5 / 100) here ...
        let r = onlyNGrams(top: [NGramLimit(2, 0.2)])
        XCTAssertEqual(r.check(pad("ab cd ef abcdefghijklmnop qrstuvwxyz", to: 100)), .keep)
        // ... and "abcdefghijklmnop qrstuvwxyz" (27 / 100) here.
        XCTAssertEqual(r.check(pad("abcdefghijklmnop qrstuvwxyz ab cd ef", to: 100)), drop("top_2_gram"))
    }

    func testDuplicatedNGramBoundaries() {
        let limits: [(Int, Double, Int)] = [(5, 0.15, 15), (6, 0.14, 14), (7, 0.13, 13), (8, 0.12, 12),
                                            (9, 0.11, 11), (10, 0.10, 10)]
        for (n, fraction, percent) in limits {
            // An n-word phrase of 4 * percent characters (no spaces) appears twice in 400 characters.
            let chars = 4 * percent
            var lengths = [Int](repeating: chars / n, count: n)
            for k in 0..<(chars % n) { lengths[k] += 1 }
            let phrase = lengths.enumerated().map { word(50 + 3 * $0.offset, length: $0.element) }.joined(separator: " ")
            let r = onlyNGrams(dup: [NGramLimit(n, fraction)])
            XCTAssertEqual(r.check(repeatedPhrase(phrase, times: 2, total: 400)), .keep, "n = \(n)")
            XCTAssertEqual(r.check(repeatedPhrase(phrase, times: 2, total: 399)), drop("duplicated_\(n)_n_grams"),
                           "n = \(n)")
        }
    }

    func testDuplicatedNGramsCompareWordsJoinedWithoutSpaces() {
        // "ab cd ef gh ij" and "abc d ef gh ij" spell the same characters once the spaces are gone.
        let r = onlyNGrams(dup: [NGramLimit(5, 0.1)])
        let text = "ab cd ef gh ij zzzz abc d ef gh ij " + String(repeating: "y", count: 63)
        XCTAssertEqual(text.count, 98)
        XCTAssertEqual(r.check(text), drop("duplicated_5_n_grams"))       // 10 / 98
        let different = "ab cd ef gh ij zzzz abc e ef gh ij " + String(repeating: "y", count: 63)
        XCTAssertEqual(r.check(different), .keep)
    }

    func testDefaultRepetitionDropsPhraseSpam() {
        let spam = words(40) + String(repeating: " buy now cheap", count: 12)
        XCTAssertEqual(repetition.check(spam), drop("top_2_gram"))
        // A final "\n" makes a last, empty line: 4 of 6 lines repeat.
        XCTAssertEqual(repetition.check(String(repeating: words(8) + "\n", count: 5)), drop("dup_line_frac"))
        XCTAssertEqual(repetition.check(Array(repeating: words(8), count: 5).joined(separator: "\n\n")),
                       drop("dup_para_frac"))
    }

    // MARK: - Real text

    private let paragraphs = [
        // Charles Darwin, On the Origin of Species (1859), closing paragraph.
        """
        It is interesting to contemplate an entangled bank, clothed with many plants of many kinds, with birds \
        singing on the bushes, with various insects flitting about, and with worms crawling through the damp \
        earth, and to reflect that these elaborately constructed forms, so different from each other, and \
        dependent on each other in so complex a manner, have all been produced by laws acting around us. These \
        laws, taken in the highest sense, being Growth with Reproduction; Inheritance which is almost implied by \
        reproduction; Variability from the indirect and direct action of the external conditions of life, and \
        from use and disuse; a Ratio of Increase so high as to lead to a Struggle for Life, and as a consequence \
        to Natural Selection, entailing Divergence of Character and the Extinction of less-improved forms.
        """,
        // Abraham Lincoln, Gettysburg Address (1863).
        """
        Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in \
        Liberty, and dedicated to the proposition that all men are created equal.

        Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so \
        dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a \
        portion of that field, as a final resting place for those who here gave their lives that that nation \
        might live. It is altogether fitting and proper that we should do this.
        """,
        // Jane Austen, Pride and Prejudice (1813), opening.
        """
        It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in \
        want of a wife.

        However little known the feelings or views of such a man may be on his first entering a neighbourhood, \
        this truth is so well fixed in the minds of the surrounding families, that he is considered as the \
        rightful property of some one or other of their daughters.
        """,
        """
        The ingest stage reads raw documents from disk, normalizes their encoding and line endings, and removes \
        exact duplicates before any quality filter runs. Each filter records why a document was dropped, so that \
        the manifest can report the share of documents removed by every rule. Keeping these counts makes it easy \
        to compare two runs of the pipeline and to see the effect of changing a threshold.
        """,
    ]

    func testRealParagraphsAreKept() {
        for p in paragraphs {
            let s = TextStats(p)
            XCTAssertEqual(quality.check(s), .keep, String(p.prefix(40)))
            XCTAssertEqual(repetition.check(s), .keep, String(p.prefix(40)))
            XCTAssertEqual(quality.check(p), .keep)
            XCTAssertEqual(repetition.check(p), .keep)
        }
    }

    // MARK: - C4 lines

    private func c4(_ edit: (inout C4LinesConfig) -> Void = { _ in }) -> C4Lines {
        var c = C4LinesConfig()
        c.enabled = true
        edit(&c)
        return C4Lines(c)
    }

    func testC4IsOffByDefault() {
        let text = "no punctuation here\n{"
        let r = C4Lines().apply(text)
        XCTAssertEqual(r.text, text)
        XCTAssertEqual(r.decision, .keep)
    }

    func testC4RemovesBadLines() {
        let text = """
            Home | About | Contact
              The river rises in the hills and flows west to the sea. [3]
            Click here
            Enable JavaScript to see the map of the river basin.
            Its water feeds three towns. They grew along its banks.
            By using this site you agree to our Terms of Use.
            Fishing is allowed in the summer months only.[citation needed]
            The lower valley floods every spring...
            Boats can reach the second town. The third has a ferry!
            """
        let r = c4().apply(text)
        XCTAssertEqual(r.decision, .keep)
        // The river line ends with a space once its citation mark is removed, so it has no terminal punctuation.
        XCTAssertEqual(r.text, """
            Its water feeds three towns. They grew along its banks.
            Fishing is allowed in the summer months only.
            Boats can reach the second town. The third has a ferry!
            """)
    }

    func testC4PageDrops() {
        let prose = "One sentence here. Two sentences here. Three sentences here. Four here. Five here."
        XCTAssertEqual(c4().apply(prose).decision, .keep)
        XCTAssertEqual(c4().apply("One sentence here. Two sentences here. Three sentences here. Four here.").decision,
                       drop("too_few_sentences"))
        XCTAssertEqual(c4().apply(prose + "\nLorem IPSUM dolor sit amet.").decision, drop("lorem_ipsum"))
        XCTAssertEqual(c4().apply(prose + "\nfunction f() { return 1; }.").decision, drop("curly_bracket"))
        // A dropped page keeps its text.
        XCTAssertEqual(c4().apply("Short.").text, "Short.")
        XCTAssertEqual(c4 { $0.minNumSentences = -1 }.apply("Just one line here.").decision, .keep)
    }

    func testC4SentenceCounting() {
        XCTAssertEqual(C4Lines.sentenceCount(Array("Hello there. How are you? Fine!".utf8)), 3)
        XCTAssertEqual(C4Lines.sentenceCount(Array("Wait... it is (really) fine.".utf8)), 1)
        XCTAssertEqual(C4Lines.sentenceCount(Array("Go!! \"Now.\" Then stop.".utf8)), 3)
        XCTAssertEqual(C4Lines.sentenceCount(Array("".utf8)), 1)
    }

    func testC4WordLimits() {
        let long = String(repeating: "x", count: 1001)
        let text = "Five sentences. Are here. In one. Single line. Yes.\nA \(long) word."
        XCTAssertEqual(c4().apply(text).text, "Five sentences. Are here. In one. Single line. Yes.")
        XCTAssertEqual(c4 { $0.maxWordLength = -1 }.apply(text).text, text)
    }

    // MARK: - Configuration

    func testQualityConfigDefaultsAndOverrides() throws {
        let d = try JSONDecoder().decode(GopherQualityConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(d, GopherQualityConfig())
        XCTAssertTrue(d.enabled)
        XCTAssertEqual(d.minWords, 50)
        XCTAssertEqual(d.maxWords, 100_000)
        XCTAssertEqual(d.minAvgWordLength, 3)
        XCTAssertEqual(d.maxAvgWordLength, 10)
        XCTAssertEqual(d.maxSymbolWordRatio, 0.1)
        XCTAssertEqual(d.maxBulletLinesRatio, 0.9)
        XCTAssertEqual(d.maxEllipsisLinesRatio, 0.3)
        XCTAssertEqual(d.maxNonAlphaWordsRatio, 0.8)
        XCTAssertEqual(d.minStopWords, 2)
        XCTAssertEqual(d.stopWords, ["the", "be", "to", "of", "and", "that", "have", "with"])

        let json = """
            {"enabled": false, "min_words": 10, "max_avg_word_length": null, "max_symbol_word_ratio": 0.25,
             "stop_words": ["a", "an"], "min_stop_words": 1}
            """
        let o = try JSONDecoder().decode(GopherQualityConfig.self, from: Data(json.utf8))
        XCTAssertFalse(o.enabled)
        XCTAssertEqual(o.minWords, 10)
        XCTAssertNil(o.maxAvgWordLength)
        XCTAssertEqual(o.maxSymbolWordRatio, 0.25)
        XCTAssertEqual(o.stopWords, ["a", "an"])
        XCTAssertEqual(o.minStopWords, 1)
        XCTAssertEqual(o.maxWords, 100_000)

        var on = o
        on.enabled = true
        XCTAssertEqual(GopherQuality(on).check("an a " + words(8)), .keep)
        let back = try JSONDecoder().decode(GopherQualityConfig.self, from: JSONEncoder().encode(o))
        XCTAssertEqual(back, o)
    }

    func testRepetitionConfigDefaultsAndOverrides() throws {
        let d = try JSONDecoder().decode(GopherRepetitionConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(d, GopherRepetitionConfig())
        XCTAssertEqual(d.dupLineFrac, 0.3)
        XCTAssertEqual(d.dupParaFrac, 0.3)
        XCTAssertEqual(d.dupLineCharFrac, 0.2)
        XCTAssertEqual(d.dupParaCharFrac, 0.2)
        XCTAssertEqual(d.topNGrams, [NGramLimit(2, 0.2), NGramLimit(3, 0.18), NGramLimit(4, 0.16)])
        XCTAssertEqual(d.dupNGrams.map(\.n), [5, 6, 7, 8, 9, 10])
        XCTAssertEqual(d.dupNGrams.map(\.maxFraction), [0.15, 0.14, 0.13, 0.12, 0.11, 0.10])

        let json = #"{"dup_line_frac": null, "top_n_grams": [[2, 0.5]], "dup_n_grams": [], "enabled": true}"#
        let o = try JSONDecoder().decode(GopherRepetitionConfig.self, from: Data(json.utf8))
        XCTAssertNil(o.dupLineFrac)
        XCTAssertEqual(o.topNGrams, [NGramLimit(2, 0.5)])
        XCTAssertTrue(o.dupNGrams.isEmpty)
        XCTAssertEqual(o.dupParaFrac, 0.3)
        let text = (0..<10).map { _ in "same line here" }.joined(separator: "\n")
        XCTAssertEqual(GopherRepetition(o).check(text), drop("dup_line_char_frac"))
        let back = try JSONDecoder().decode(GopherRepetitionConfig.self, from: JSONEncoder().encode(o))
        XCTAssertEqual(back, o)
    }

    func testUnknownConfigKeysAreRejected() {
        XCTAssertThrowsError(try JSONDecoder().decode(GopherQualityConfig.self, from: Data(#"{"min_word": 3}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("min_word"), "\($0)")
        }
        XCTAssertThrowsError(try JSONDecoder().decode(GopherRepetitionConfig.self, from: Data(#"{"top_ngrams": []}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(C4LinesConfig.self, from: Data(#"{"enable": true}"#.utf8)))
    }

    func testC4ConfigDefaultsAndOverrides() throws {
        let d = try JSONDecoder().decode(C4LinesConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(d, C4LinesConfig())
        XCTAssertFalse(d.enabled)
        XCTAssertEqual(d.minNumSentences, 5)
        XCTAssertEqual(d.minWordsPerLine, 3)
        XCTAssertEqual(d.maxWordLength, 1000)
        XCTAssertTrue(d.splitParagraph && d.removeCitations && d.filterNoTerminalPunct && d.filterLoremIpsum
                      && d.filterJavascript && d.filterCurlyBracket && d.filterPolicy)
        let o = try JSONDecoder().decode(C4LinesConfig.self, from: Data(
            #"{"enabled": true, "min_num_sentences": -1, "filter_policy": false, "split_paragraph": false}"#.utf8))
        XCTAssertTrue(o.enabled)
        XCTAssertEqual(o.minNumSentences, -1)
        XCTAssertFalse(o.filterPolicy)
        XCTAssertFalse(o.splitParagraph)
        XCTAssertEqual(o.minWordsPerLine, 3)
        // Sentence mode: kept sentences are joined by spaces.
        XCTAssertEqual(C4Lines(o).apply("See our privacy policy. It is short. ok").text,
                       "See our privacy policy. It is short.")
    }
}

final class ScalarRangesTests: XCTestCase {
    func testUnionMergesOverlappingAndAdjacentRanges() {
        XCTAssertEqual(ScalarRanges.union([1, 3, 10, 12], [2, 5, 13, 13, 20, 20]), [1, 5, 10, 13, 20, 20])
        XCTAssertEqual(ScalarRanges.union([], [7, 9]), [7, 9])
        XCTAssertEqual(ScalarRanges.union([0x100, 0x1FF], [0x120, 0x130]), [0x100, 0x1FF])
        XCTAssertEqual(ScalarRanges.subtracting([1, 10, 20, 30], [0, 2, 5, 5, 9, 21, 30, 40]), [3, 4, 6, 8, 22, 29])
        XCTAssertEqual(ScalarRanges.subtracting([1, 10], []), [1, 10])
        XCTAssertEqual(ScalarRanges.everyOther([0x100, 0x104, 0x200, 0x200]), [0x100, 0x100, 0x102, 0x102, 0x104, 0x104, 0x200, 0x200])
    }

    /// A scalar is in the union exactly when it is in one of the tables, and in the difference when it is in
    /// the first and not the second, on random tables.
    func testUnionAndDifferenceContainWhatTheirTablesContain() {
        var rng = SplitMix64(seed: 7)
        func table() -> [UInt32] {
            var flat: [UInt32] = [], next: UInt32 = UInt32(rng.below(8))
            for _ in 0..<rng.below(12) {
                let lo = next + UInt32(rng.below(6)), hi = lo + UInt32(rng.below(4))
                flat += [lo, hi]
                next = hi + 1
            }
            return flat
        }
        for _ in 0..<200 {
            let a = table(), b = table(), c = table()
            let u = ScalarRanges(ScalarRanges.union(a, b, c)), ra = ScalarRanges(a), rb = ScalarRanges(b), rc = ScalarRanges(c)
            let d = ScalarRanges.subtracting(a, b)
            XCTAssertTrue(zip(d, d.dropFirst()).allSatisfy { $0 <= $1 }, "\(a) - \(b) = \(d): sorted ranges")
            let rd = ScalarRanges(d)
            for s in UInt32(0)..<80 {
                XCTAssertEqual(u.contains(s), ra.contains(s) || rb.contains(s) || rc.contains(s), "\(s) in \(a) ∪ \(b) ∪ \(c)")
                XCTAssertEqual(rd.contains(s), ra.contains(s) && !rb.contains(s), "\(s) in \(a) - \(b)")
            }
        }
        // The front-only characters lead but do not trail; everything that trails also leads.
        for c: UInt32 in [0xA3, 0xA5, 0x20AC] {
            XCTAssertTrue(CharClassTables.prefixChars.contains(c))
            XCTAssertFalse(CharClassTables.suffixChars.contains(c))
        }
        XCTAssertTrue(CharClassTables.prefixChars.contains(0x2026) && CharClassTables.suffixChars.contains(0x2026))
    }
}
