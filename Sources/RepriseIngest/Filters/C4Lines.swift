import RepriseCore

// C4-style line filters: keep only lines that look like prose, drop pages that look like boilerplate.

/// Settings of `C4Lines` (off unless `enabled`). Unknown keys are rejected; omitted keys take the
/// defaults; for the three numeric limits -1 switches the rule off.
public struct C4LinesConfig: KeyedConfig, Sendable, Equatable {
    public var enabled: Bool = false
    /// Work on lines (true) or on sentences of the whole text (false; kept sentences are joined by spaces).
    public var splitParagraph: Bool = true
    /// Remove "[12]", "[]", "[edit]" and "[citation needed]" from lines.
    public var removeCitations: Bool = true
    /// Drop lines that do not end in . ? ! " or ', or that end in "...".
    public var filterNoTerminalPunct: Bool = true
    /// Drop the page (`too_few_sentences`) when the kept lines hold fewer sentences than this.
    public var minNumSentences: Int = 5
    /// Drop lines with fewer whitespace-separated words than this.
    public var minWordsPerLine: Int = 3
    /// Drop lines containing a word longer than this many characters.
    public var maxWordLength: Int = 1000
    /// Drop the page (`lorem_ipsum`) when a kept line contains "lorem ipsum" (any case).
    public var filterLoremIpsum: Bool = true
    /// Drop lines containing "javascript" (any case).
    public var filterJavascript: Bool = true
    /// Drop the page (`curly_bracket`) when a kept line contains "{".
    public var filterCurlyBracket: Bool = true
    /// Drop lines mentioning terms of use, privacy / cookie policies or the use of cookies.
    public var filterPolicy: Bool = true

    public init() {}

    public static let section: String? = "c4"
    public static let keys: [ConfigKey<Self>] = [
        .value("enabled", \.enabled), .value("split_paragraph", \.splitParagraph),
        .value("remove_citations", \.removeCitations), .value("filter_no_terminal_punct", \.filterNoTerminalPunct),
        .value("min_num_sentences", \.minNumSentences), .value("min_words_per_line", \.minWordsPerLine),
        .value("max_word_length", \.maxWordLength),
        .value("filter_lorem_ipsum", \.filterLoremIpsum), .value("filter_javascript", \.filterJavascript),
        .value("filter_curly_bracket", \.filterCurlyBracket), .value("filter_policy", \.filterPolicy),
    ]

}

/// C4 line rules. Each line (see `TextStats` for the line breaks) is trimmed, then, in this order:
/// dropped if a whitespace-separated word is longer than `maxWordLength` characters; cleaned of citation
/// marks; dropped without terminal punctuation; dropped with fewer than `minWordsPerLine` words (counted
/// before citation removal); the page is dropped for "lorem ipsum" (`lorem_ipsum`); the line is dropped
/// for "javascript"; the page is dropped for "{" (`curly_bracket`); the line is dropped for a policy phrase
/// ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies").
/// Kept lines add their sentence count; with fewer than `minNumSentences` the page is dropped
/// (`too_few_sentences`). Otherwise the kept lines joined by "\n" (trimmed) replace the text.
///
/// Sentences: the line is split into words as for the Gopher rules (whitespace other than one space after
/// a word also counts as a piece); a new sentence starts at the first piece after a ".", "!", "?" (or
/// another sentence-ending character) that is neither punctuation itself nor a sentence-ending character.
/// Phrase matching is case-insensitive for ASCII letters only.
public struct C4Lines: Sendable {
    public let config: C4LinesConfig

    public init(_ config: C4LinesConfig = C4LinesConfig()) { self.config = config }

    private static let policies: [[UInt8]] = ["terms of use", "privacy policy", "cookie policy", "uses cookies",
                                              "use of cookies", "use cookies"].map { Array($0.utf8) }

    /// Returns the text with bad lines removed, or the unchanged text with a drop decision.
    public func apply(_ text: String) -> (text: String, decision: FilterDecision) {
        let c = config
        guard c.enabled else { return (text, .keep) }
        let storage = PaddedBytes(text)
        let p = UnsafePointer(storage.base)
        let n = storage.count

        var units: [(Int, Int)] = []
        if c.splitParagraph {
            LineScan.forEachLine(p, n) { units.append(($0, $1)) }
        } else {
            units = C4Lines.sentenceSpans(p, n)
        }

        var out: [UInt8] = []
        out.reserveCapacity(n)
        var keptAny = false
        var sentences = 0
        var line: [UInt8] = []
        for (us, ue) in units {
            let s = LineScan.skipSpaceForward(p, us, ue)
            let e = LineScan.skipSpaceBackward(p, s, ue)
            // Whitespace-separated words: how many, and whether one is too long.
            var words = 0, run = 0, tooLong = false
            var i = s
            while i < e {
                let (ch, len) = UTF8Bytes.decode(p, i, e)
                if CharProps.isSpace(ch) {
                    if run > 0 { words += 1; run = 0 }
                } else {
                    run += 1
                    if c.maxWordLength != -1 && run > c.maxWordLength { tooLong = true }
                }
                i += len
            }
            if run > 0 { words += 1 }
            if tooLong { continue }

            line.removeAll(keepingCapacity: true)
            if c.removeCitations {
                C4Lines.removingCitations(p, s, e, into: &line)
            } else {
                line.append(contentsOf: UnsafeBufferPointer(start: p + s, count: e - s))
            }
            if c.filterNoTerminalPunct {
                guard let last = line.last, last == 0x2E || last == 0x3F || last == 0x21 || last == 0x22 || last == 0x27
                else { continue }
                if line.count >= 3 && line[line.count - 2] == 0x2E && line[line.count - 3] == 0x2E && last == 0x2E { continue }
            }
            if words < c.minWordsPerLine { continue }
            if c.filterLoremIpsum && C4Lines.containsFolded(line, Array("lorem ipsum".utf8)) {
                return (text, .drop(reason: "lorem_ipsum"))
            }
            if c.filterJavascript && C4Lines.containsFolded(line, Array("javascript".utf8)) { continue }
            if c.filterCurlyBracket && line.contains(0x7B) { return (text, .drop(reason: "curly_bracket")) }
            if c.filterPolicy && C4Lines.policies.contains(where: { C4Lines.containsFolded(line, $0) }) { continue }
            if c.minNumSentences != -1 {
                sentences += c.splitParagraph ? C4Lines.sentenceCount(line) : 1
            }
            if keptAny { out.append(c.splitParagraph ? 0x0A : 0x20) }
            out.append(contentsOf: line)
            keptAny = true
        }
        if sentences < c.minNumSentences { return (text, .drop(reason: "too_few_sentences")) }
        let result = out.withUnsafeBufferPointer { b -> String in
            guard let base = b.baseAddress, b.count > 0 else { return "" }
            let ts = LineScan.skipSpaceForward(base, 0, b.count)
            let te = LineScan.skipSpaceBackward(base, ts, b.count)
            return String(decoding: UnsafeBufferPointer(start: base + ts, count: te - ts), as: Unicode.UTF8.self)
        }
        return (result, .keep)
    }

    /// Copies [s, e) without "[<digits>]", "[edit]" and "[citation needed]".
    static func removingCitations(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, into out: inout [UInt8]) {
        let edit = Array("edit]".utf8), needed = Array("citation needed]".utf8)
        var i = s
        while i < e {
            if p[i] == 0x5B {
                var j = i + 1
                while j < e {
                    let (ch, len) = UTF8Bytes.decode(p, j, e)
                    if !CharProps.isDecimalDigit(ch) { break }
                    j += len
                }
                if j < e && p[j] == 0x5D { i = j + 1; continue }
                if C4Lines.hasPrefix(p, i + 1, e, edit) { i += 1 + edit.count; continue }
                if C4Lines.hasPrefix(p, i + 1, e, needed) { i += 1 + needed.count; continue }
            }
            out.append(p[i])
            i += 1
        }
    }

    static func hasPrefix(_ p: UnsafePointer<UInt8>, _ i: Int, _ e: Int, _ s: [UInt8]) -> Bool {
        if i + s.count > e { return false }
        for k in 0..<s.count where p[i + k] != s[k] { return false }
        return true
    }

    /// Whether `hay`, with ASCII letters lower-cased, contains `needle` (lower-case).
    static func containsFolded(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        let n = needle.count
        if n == 0 { return true }
        if hay.count < n { return false }
        @inline(__always) func fold(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b + 32 : b }
        let first = needle[0]
        var i = 0
        while i + n <= hay.count {
            if fold(hay[i]) == first {
                var k = 1
                while k < n && fold(hay[i + k]) == needle[k] { k += 1 }
                if k == n { return true }
            }
            i += 1
        }
        return false
    }

    // MARK: - Sentences

    /// Word and whitespace pieces, in order.
    private struct PieceSink: WordSink {
        var pieces: [(Int, Int, Bool)] = []     // start, end, isSpace
        var wantsSpaces: Bool { true }
        mutating func word(_ start: Int, _ end: Int) { pieces.append((start, end, false)) }
        mutating func space(_ start: Int, _ end: Int) { pieces.append((start, end, true)) }
    }

    private static func pieces(_ p: UnsafePointer<UInt8>, _ n: Int) -> [(Int, Int, Bool)] {
        var sink = PieceSink()
        var scratch = SplitScratch()
        WordSplitter.shared.split(p, n, cjk: false, into: &sink, scratch: &scratch)
        scratch.release()
        return sink.pieces
    }

    /// Indices of the pieces that start a sentence.
    private static func sentenceStarts(_ p: UnsafePointer<UInt8>, _ pieces: [(Int, Int, Bool)]) -> [Int] {
        if pieces.isEmpty { return [] }
        var starts = [0]
        var seenEnd = false
        for (k, (s, e, isSpace)) in pieces.enumerated() {
            let (ch, len) = UTF8Bytes.decode(p, s, e)
            let ender = len == e - s && (ch == 0x2E || ch == 0x21 || ch == 0x3F || (ch >= 0x80 && CharClassTables.sentenceEnders.contains(ch)))
            var punct = !isSpace
            if punct {
                var i = s
                while i < e {
                    let (c2, l2) = UTF8Bytes.decode(p, i, e)
                    if !CharProps.isPunctuation(c2) { punct = false; break }
                    i += l2
                }
            }
            if seenEnd && !punct && !ender {
                if k > 0 { starts.append(k) }
                seenEnd = false
            } else if ender {
                seenEnd = true
            }
        }
        return starts
    }

    /// Number of sentences in a line (at least 1).
    static func sentenceCount(_ line: [UInt8]) -> Int {
        let storage = line.withUnsafeBufferPointer { PaddedBytes(bytes: $0) }
        let p = UnsafePointer(storage.base)
        return max(1, sentenceStarts(p, pieces(p, storage.count)).count)
    }

    /// Byte spans of the sentences of a whole text: each runs from the end of the previous one to the end of
    /// its last piece; the last one runs to the end of the text.
    static func sentenceSpans(_ p: UnsafePointer<UInt8>, _ n: Int) -> [(Int, Int)] {
        let ps = pieces(p, n)
        let starts = sentenceStarts(p, ps)
        if starts.count <= 1 { return [(0, n)] }
        var spans: [(Int, Int)] = []
        var prev = 0
        for k in 1..<starts.count {
            let end = ps[starts[k] - 1].1
            spans.append((prev, end))
            prev = end
        }
        spans.append((prev, n))
        return spans
    }
}
