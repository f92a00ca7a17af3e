// Per-document statistics shared by the Gopher filters. Computing them is the expensive part (one pass to
// split words, one pass over lines); both filters accept a `TextStats` so a pipeline computes it once.

import RepriseCore

/// Words, characters and line counts of one document.
///
/// - Words come from `WordSplitter` (punctuation is split off into words of its own; see that file).
/// - A document is treated as CJK when more than half of its non-whitespace characters are Han, kana or
///   Hangul. Then every such character is one word and only the runs between them are split by the rules.
/// - A word is "symbol only" when all its characters are punctuation / symbols / control characters; such
///   words count for the ratio rules but not as words of the document (word count, mean word length).
/// - A word "has a letter" when one of its characters is in a Unicode letter category.
/// - Lines are split at \n, \r, \r\n, \v, \f, \u{1C}-\u{1E}, U+0085, U+2028 and U+2029; a final line break does
///   not start an empty line.
public struct TextStats: Sendable {
    let storage: PaddedBytes
    /// UTF-8 length of the text.
    public let byteCount: Int
    /// Number of Unicode scalars in the text.
    public let charCount: Int
    /// Whether most non-whitespace characters are Han / kana / Hangul (see the type's documentation).
    public let isCJK: Bool

    /// Byte ranges of the words, in order: start,end pairs.
    let words: FrozenBuffer<Int32>
    /// charPrefix[i] = number of characters in words 0..<i (wordCount + 1 entries).
    let charPrefix: FrozenBuffer<UInt32>

    /// All words, including symbol-only ones.
    public var wordCount: Int { words.count / 2 }
    /// Words with at least one character that is not punctuation or a symbol.
    public let nonSymbolWordCount: Int
    /// Total characters of those words.
    public let nonSymbolWordChars: Int
    /// Words with at least one letter.
    public let alphaWordCount: Int

    /// Occurrences of "#".
    public let hashCount: Int
    /// Occurrences of "..." (non-overlapping, left to right) plus occurrences of "…".
    public let ellipsisCount: Int
    /// Number of lines.
    public let lineCount: Int
    /// Lines whose first non-whitespace character is "•" or "-".
    public let bulletLineCount: Int
    /// Lines that end with "..." or "…" after trailing whitespace is removed.
    public let ellipsisLineCount: Int

    public init(_ text: String) {
        self.init(storage: PaddedBytes(text))
    }

    init(storage: PaddedBytes) {
        self.storage = storage
        let p = UnsafePointer(storage.base)
        let n = storage.count
        byteCount = n

        var scratch = SplitScratch(expectedWords: n / 5 + 16)
        let counts = WordSplitter.shared.splitWords(p, n, cjk: false, &scratch)
        isCJK = counts.cjkChars > 0 && counts.cjkChars * 2 > counts.nonSpaceChars
        if isCJK { _ = WordSplitter.shared.splitWords(p, n, cjk: true, &scratch) }
        charCount = n - counts.continuation
        scratch.releaseAllButPieces()
        words = FrozenBuffer(scratch.pieces)

        // Per-word flags.
        let wordCount = words.count / 2
        var prefix = RawArray<UInt32>(capacity: wordCount + 1)
        prefix.append(0)
        var nonSymbol = 0, nonSymbolChars = 0, alpha = 0
        var chars: UInt32 = 0
        let cls = ByteClass.ptr
        let w = words.base
        for i in 0..<wordCount {
            let s = Int(w[2 * i]), e = Int(w[2 * i + 1])
            var k: UInt8 = 0
            for j in s..<e { k |= cls[Int(p[j])] }
            var len = 0
            var hasAlpha = false
            var symbolOnly = true
            if k & ByteClass.high == 0 {
                len = e - s
                hasAlpha = k & ByteClass.letter != 0
                symbolOnly = k & (ByteClass.letter | ByteClass.digit) == 0
            } else {
                var j = s
                while j < e {
                    let (c, l) = UTF8Bytes.decode(p, j, e)
                    len += 1
                    if !hasAlpha && CharProps.isAlpha(c) { hasAlpha = true }
                    if symbolOnly && !CharProps.isSymbolWordChar(c) { symbolOnly = false }
                    j += l
                }
            }
            chars &+= UInt32(truncatingIfNeeded: len)
            prefix.append(chars)
            if !symbolOnly { nonSymbol += 1; nonSymbolChars += len }
            if hasAlpha { alpha += 1 }
        }
        charPrefix = FrozenBuffer(prefix)
        nonSymbolWordCount = nonSymbol
        nonSymbolWordChars = nonSymbolChars
        alphaWordCount = alpha

        let lines = LineScan.quality(p, n)
        hashCount = lines.hashes
        ellipsisCount = lines.ellipses
        lineCount = lines.lines
        bulletLineCount = lines.bullets
        ellipsisLineCount = lines.endEllipses
    }

    /// The words as strings (for inspection and tests; the filters never materialize them).
    public var wordStrings: [String] {
        let p = UnsafePointer(storage.base)
        return (0..<wordCount).map { i in
            let s = Int(words[2 * i]), e = Int(words[2 * i + 1])
            return String(decoding: UnsafeBufferPointer(start: p + s, count: e - s), as: Unicode.UTF8.self)
        }
    }
}

/// Line-oriented scans over UTF-8 bytes.
enum LineScan {
    /// Bytes that may start a line break, or matter to the quality counts.
    private static let interesting: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for b: UInt8 in [0x23, 0x2E, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0xC2, 0xE2] { t[Int(b)] = true }
        return t
    }()

    /// If a line break starts at `i`, its length in bytes; else 0.
    @inline(__always)
    static func lineBreak(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        switch p[i] {
        case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E: return 1
        case 0x0D: return (i + 1 < n && p[i + 1] == 0x0A) ? 2 : 1
        case 0xC2: return (i + 1 < n && p[i + 1] == 0x85) ? 2 : 0
        case 0xE2: return (i + 2 < n && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) ? 3 : 0
        default: return 0
        }
    }

    /// Calls `body(start, end)` for every line (line breaks excluded).
    @inline(__always)
    static func forEachLine(_ p: UnsafePointer<UInt8>, _ n: Int, _ body: (Int, Int) -> Void) {
        var i = 0, lineStart = 0
        while i < n {
            let b = p[i]
            if b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C || (b >= 0x1C && b <= 0x1E) || b == 0xC2 || b == 0xE2 {
                let len = lineBreak(p, i, n)
                if len > 0 {
                    body(lineStart, i)
                    i += len
                    lineStart = i
                    continue
                }
            }
            i += 1
        }
        if lineStart < n { body(lineStart, n) }
    }

    /// First byte of [s, e) after leading whitespace.
    @inline(__always)
    static func skipSpaceForward(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int {
        var i = s
        while i < e {
            let b = p[i]
            if b < 0x80 {
                if ByteClass.ptr[Int(b)] & ByteClass.space == 0 { return i }
                i += 1
            } else {
                let (c, len) = UTF8Bytes.decode(p, i, e)
                if !CharProps.isSpace(c) { return i }
                i += len
            }
        }
        return e
    }

    /// End of [s, e) after trailing whitespace is removed.
    @inline(__always)
    static func skipSpaceBackward(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int {
        var j = e
        while j > s {
            let b = p[j - 1]
            if b < 0x80 {
                if ByteClass.ptr[Int(b)] & ByteClass.space == 0 { return j }
                j -= 1
            } else {
                let st = UTF8Bytes.previousStart(p, s, j)
                if !CharProps.isSpace(UTF8Bytes.decode(p, st, j).0) { return j }
                j = st
            }
        }
        return s
    }

    struct QualityCounts { var hashes = 0, ellipses = 0, lines = 0, bullets = 0, endEllipses = 0 }

    /// "#" count, ellipsis count, and the line counts of the quality rules, in one pass.
    static func quality(_ p: UnsafePointer<UInt8>, _ n: Int) -> QualityCounts {
        var r = QualityCounts()
        let table = interesting
        table.withUnsafeBufferPointer { t in
            var i = 0, lineStart = 0
            func endLine(_ e: Int) {
                r.lines += 1
                let f = skipSpaceForward(p, lineStart, e)
                if f < e && (p[f] == 0x2D || (f + 3 <= e && p[f] == 0xE2 && p[f + 1] == 0x80 && p[f + 2] == 0xA2)) {
                    r.bullets += 1
                }
                let l = skipSpaceBackward(p, lineStart, e)
                if l - lineStart >= 3 && ((p[l - 1] == 0x2E && p[l - 2] == 0x2E && p[l - 3] == 0x2E)
                                          || (p[l - 3] == 0xE2 && p[l - 2] == 0x80 && p[l - 1] == 0xA6)) {
                    r.endEllipses += 1
                }
            }
            while i < n {
                if !t[Int(p[i])] { i += 1; continue }
                let b = p[i]
                if b == 0x23 { r.hashes += 1; i += 1; continue }
                if b == 0x2E {
                    var j = i + 1
                    while j < n && p[j] == 0x2E { j += 1 }
                    r.ellipses += (j - i) / 3
                    i = j
                    continue
                }
                if b == 0xE2 && i + 2 < n && p[i + 1] == 0x80 && p[i + 2] == 0xA6 { r.ellipses += 1; i += 3; continue }
                let len = lineBreak(p, i, n)
                if len > 0 {
                    endLine(i)
                    i += len
                    lineStart = i
                } else {
                    i += 1
                }
            }
            if lineStart < n { endLine(n) }
        }
        return r
    }
}
