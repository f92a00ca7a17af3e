/// The split patterns of the byte-level BPE tokenizers we are compatible with. Text is cut into
/// pre-tokens first and BPE merges never cross a cut, so the pattern is part of a tokenizer's identity:
/// a vocabulary trained with one pattern must be applied with the same one.
public enum SplitPattern: String, Codable, Sendable, CaseIterable {
    /// GPT-4's cl100k_base: letters may take one leading non-letter (" word", "(word"), digits go in
    /// groups of at most three, punctuation takes trailing newlines, contractions are case-insensitive.
    case cl100k
    /// GPT-2 (also r50k/p50k): runs of one class with an optional leading space, lowercase contractions.
    case gpt2
    /// GPT-4o's o200k_base: like cl100k, but words split at case changes ("Camel", "Case"), contractions
    /// are suffixes of words, and `/` joins trailing newlines after punctuation.
    case o200k

    /// The pattern as tiktoken spells it (`tiktoken_ext/openai_public.py`), possessive quantifiers included.
    /// `PreTokenizer` splits exactly like tiktoken with this pattern (checked by the fixtures).
    public var tiktokenRegex: String {
        switch self {
        case .cl100k:
            return #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
        case .gpt2:
            return #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
        case .o200k:
            return [
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"\p{N}{1,3}"#,
                #" ?[^\s\p{L}\p{N}]+[\r\n/]*"#,
                #"\s*[\r\n]+"#,
                #"\s+(?!\S)"#,
                #"\s+"#,
            ].joined(separator: "|")
        }
    }

    /// A spelling that HuggingFace tokenizers (`pre_tokenizers.Split(Regex(...), behavior="isolated")`,
    /// Oniguruma in Ruby syntax) splits exactly as `PreTokenizer` does; the fixture generator checks it
    /// on every fixture input. Two rewrites of tiktoken's spelling:
    /// - Oniguruma reads `\p{N}{1,3}+` as `(?:\p{N}{1,3})+`, an unbounded run, so cl100k uses
    ///   `\p{N}{1,3}` (the same language here, since nothing follows it in its alternative).
    /// - Ruby's `$` means "end of line", so `\s++$` becomes `\s++(?!\S)`, which after a possessive run of
    ///   whitespace can only hold at the end of the input.
    /// The older non-possessive cl100k spelling found in many tokenizer.json files
    /// (`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|...|\s*[\r\n]+|\s+(?!\S)|\s+`) is not the
    /// same: it splits whitespace that contains a newline at the end of the input ("a\n  " gives
    /// "a", "\n", "  " where tiktoken gives "a", "\n  ").
    public var huggingFaceRegex: String {
        switch self {
        case .cl100k:
            return #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++(?!\S)|\s*[\r\n]|\s+(?!\S)|\s"#
        case .gpt2:
            return #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++(?!\S)|\s+(?!\S)|\s"#
        case .o200k:
            return tiktokenRegex
        }
    }
}

/// Splits UTF-8 bytes into pre-tokens exactly as tiktoken's regex does for a `SplitPattern`, with a
/// hand-written scanner instead of a regex engine: each pattern is a small state machine that reproduces
/// the regex's leftmost-first alternation and backtracking, and runs in time linear in the input (each
/// byte is examined a bounded number of times, whatever the input).
///
/// Invalid UTF-8: each byte that does not start a well-formed sequence (overlong forms, surrogates,
/// code points past U+10FFFF, stray continuation bytes, truncated sequences) is one character of class
/// "other" — not a letter, number, mark or whitespace — so it joins punctuation runs (`[^\s\p{L}\p{N}]`)
/// and can be the one leading character that cl100k and o200k allow before a word. The scanner never
/// cuts inside a well-formed sequence, so every pre-token of valid UTF-8 is valid UTF-8.
///
/// Unicode classes come from `BMPClassTable` and `AstralClassTable`, built on first use from Swift's
/// Unicode 17.0 data; see `CharClass` for how that relates to tiktoken's Unicode 16.0.
public struct PreTokenizer: Sendable {
    public let pattern: SplitPattern
    private let table: BMPClassTable

    public init(_ pattern: SplitPattern) {
        self.pattern = pattern
        self.table = BMPClassTable.shared
    }

    /// Calls `body` with the byte range of each pre-token, in order. The ranges are contiguous, non-empty
    /// and cover the whole input. Allocates nothing.
    public func split(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let s = Scanner(p: base, n: bytes.count, bmp: table.bits)
        var i = 0
        // One loop per pattern keeps the dispatch out of the per-token path.
        switch pattern {
        case .gpt2:
            while i < s.n { let e = s.gpt2(i); body(i..<e); i = e }
        case .cl100k:
            while i < s.n { let e = s.cl100k(i); body(i..<e); i = e }
        case .o200k:
            while i < s.n { let e = s.o200k(i); body(i..<e); i = e }
        }
    }

    /// The pre-tokens of `text` as strings (for tests and small inputs).
    public func split(_ text: String) -> [String] {
        var text = text
        var out: [String] = []
        text.withUTF8 { buf in
            split(buf) { r in out.append(String(decoding: UnsafeBufferPointer(rebasing: buf[r]), as: UTF8.self)) }
        }
        return out
    }
}

private let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, blank: UInt8 = 0x20, apostrophe: UInt8 = 0x27, slash: UInt8 = 0x2F

/// The scanner: `p[0..<n]` is the input; every function takes the start of a character and returns the
/// end of the token (or of the run) that starts there. Characters are decoded on the fly (`char(at:)`);
/// nothing is allocated.
///
/// Linear time: each token is found by scanning forward from its start. Where a token ends before the
/// scanned region does (a whitespace run that gives back its last character or stops after its last
/// newline; o200k's `word1` failing on a run of capitals, or giving back the capitals after the run's
/// last Lm/Lo/mark), the rest of that region is scanned again by the next token, which then consumes it
/// whole. So every byte is read a bounded number of times (at most about four, for o200k) and nothing
/// backtracks further; the 1 MB tests in PreTokenizerTests check this.
private struct Scanner {
    let p: UnsafePointer<UInt8>
    let n: Int
    /// Class bits of U+0000...U+FFFF (`BMPClassTable`); astral characters go to `AstralClassTable`.
    let bmp: UnsafeMutablePointer<UInt8>

    // MARK: characters

    /// Class bits and byte length of the character at `i` (`i < n`). An ill-formed byte is a
    /// one-byte character with no class bits ("other").
    @inline(__always)
    func char(at i: Int) -> (bits: UInt8, len: Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (bmp[Int(b0)], 1) }
        // Two- and three-byte sequences are decoded inline (Latin, Greek, Cyrillic, CJK...). Measured gain
        // over one call per non-ASCII character: 353 -> 811 MB/s for cl100k on CJK text (release build).
        if b0 >= 0xC2, b0 < 0xF0 {
            if b0 < 0xE0 {
                if i &+ 1 < n {
                    let b1 = p[i &+ 1]
                    if b1 & 0xC0 == 0x80 { return (bmp[Int(b0 & 0x1F) &<< 6 | Int(b1 & 0x3F)], 2) }
                }
            } else if i &+ 2 < n {
                let b1 = p[i &+ 1], b2 = p[i &+ 2]
                if b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 {
                    let cp = Int(b0 & 0x0F) &<< 12 | Int(b1 & 0x3F) &<< 6 | Int(b2 & 0x3F)
                    // Overlong forms (< U+0800) and surrogates are ill-formed.
                    if cp >= 0x800, cp & 0xF800 != 0xD800 { return (bmp[cp], 3) }
                }
            }
            return (0, 1)
        }
        return fourByteChar(at: i, b0)
    }

    /// Four-byte sequences (U+10000...U+10FFFF) and the ill-formed lead bytes 0x80...0xC1, 0xF5...0xFF.
    private func fourByteChar(at i: Int, _ b0: UInt8) -> (bits: UInt8, len: Int) {
        guard b0 >= 0xF0, b0 <= 0xF4, i &+ 3 < n else { return (0, 1) }
        let b1 = p[i &+ 1], b2 = p[i &+ 2], b3 = p[i &+ 3]
        guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return (0, 1) }
        let cp = UInt32(b0 & 0x07) << 18 | UInt32(b1 & 0x3F) << 12 | UInt32(b2 & 0x3F) << 6 | UInt32(b3 & 0x3F)
        guard cp >= 0x10000, cp <= 0x10FFFF else { return (0, 1) }  // overlong or past the last code point
        return (AstralClassTable.shared.bits(cp), 4)
    }

    // MARK: runs

    /// End of the run of characters starting at `i` that have one of the `any` bits.
    @inline(__always)
    func run(_ i: Int, any: UInt8) -> Int {
        var j = i
        while j < n {
            let (bits, len) = char(at: j)
            if bits & any == 0 { break }
            j &+= len
        }
        return j
    }

    /// End of the run of "other" characters (`[^\s\p{L}\p{N}]`) starting at `i`.
    @inline(__always)
    func otherRun(_ i: Int) -> Int {
        var j = i
        while j < n {
            let (bits, len) = char(at: j)
            if bits & CharClass.notOther != 0 { break }
            j &+= len
        }
        return j
    }

    /// End of the run of bytes equal to `a`, `b` or `c` (ASCII) starting at `i`.
    @inline(__always)
    func asciiRun(_ i: Int, _ a: UInt8, _ b: UInt8, _ c: UInt8 = 0x0A) -> Int {
        var j = i
        while j < n, p[j] == a || p[j] == b || p[j] == c { j &+= 1 }
        return j
    }

    /// End of up to three number characters starting at `i` (which is a number).
    @inline(__always)
    func upToThreeNumbers(_ i: Int) -> Int {
        var j = i
        var count = 0
        while j < n, count < 3 {
            let (bits, len) = char(at: j)
            if bits & CharClass.number == 0 { break }
            j &+= len
            count &+= 1
        }
        return j
    }

    /// The whitespace run starting at `i` (a whitespace character): its end, the start of its last
    /// character, and the end of its last `\r` or `\n` (-1 if it has none). These answer the three
    /// whitespace alternatives without backtracking:
    /// `\s++$` (run reaches the end), `\s*[\r\n]` / `\s*[\r\n]+` (cut after the last newline),
    /// `\s+(?!\S)` (give back the last character when a non-space follows).
    @inline(__always)
    func spaceRun(_ i: Int) -> (end: Int, lastStart: Int, newlineEnd: Int) {
        var j = i, last = i, newlineEnd = -1
        while j < n {
            let b = p[j]
            if b < 0x80 {
                if bmp[Int(b)] & CharClass.space == 0 { break }
                if b == cr || b == lf { newlineEnd = j &+ 1 }
                last = j
                j &+= 1
            } else {
                let (bits, len) = char(at: j)
                if bits & CharClass.space == 0 { break }
                last = j
                j &+= len
            }
        }
        return (j, last, newlineEnd)
    }

    /// End of a contraction `'s 't 're 've 'm 'll 'd` at `i` (where `p[i]` is an apostrophe), or nil.
    /// Case-insensitive matching follows simple case folding, so `ſ` (U+017F, LATIN SMALL LETTER LONG S)
    /// matches `s` as it does in tiktoken's engine.
    @inline(__always)
    func contraction(_ i: Int, caseInsensitive: Bool) -> Int? {
        guard i &+ 1 < n else { return nil }
        var c1 = p[i &+ 1]
        if caseInsensitive {
            if c1 == 0xC5, i &+ 2 < n, p[i &+ 2] == 0xBF { return i &+ 3 }  // 'ſ
            c1 |= 0x20  // ASCII letters only below; other bytes never match
        }
        switch c1 {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return i &+ 2
        case UInt8(ascii: "l"), UInt8(ascii: "v"), UInt8(ascii: "r"):
            guard i &+ 2 < n else { return nil }
            var c2 = p[i &+ 2]
            if caseInsensitive { c2 |= 0x20 }
            let want = c1 == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
            return c2 == want ? i &+ 3 : nil
        default:
            return nil
        }
    }

    /// The whitespace token at `i` for gpt2 and cl100k, once the other alternatives failed there:
    /// `\s++$`, then (cl100k only) `\s*[\r\n]`, then `\s+(?!\S)`, then `\s`.
    @inline(__always)
    func spaceToken(_ i: Int, newlines: Bool) -> Int {
        let (end, lastStart, newlineEnd) = spaceRun(i)
        if end == n { return end }
        if newlines && newlineEnd > 0 { return newlineEnd }
        if lastStart > i { return lastStart }
        return end  // a single whitespace character before a non-space
    }

    // MARK: gpt2
    // '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s

    func gpt2(_ i: Int) -> Int {
        let b = p[i]
        if b == apostrophe, let e = contraction(i, caseInsensitive: false) { return e }
        var (bits, len) = char(at: i)
        var start = i
        // ` ?X++`: a space joins the run of the class of the character after it, if that is no space.
        if b == blank, i &+ 1 < n {
            let next = char(at: i &+ 1)
            if next.bits & CharClass.space == 0 { start = i &+ 1; bits = next.bits; len = next.len }
        }
        if bits & CharClass.letter != 0 { return run(start &+ len, any: CharClass.letter) }
        if bits & CharClass.number != 0 { return run(start &+ len, any: CharClass.number) }
        if bits & CharClass.space == 0 { return otherRun(start &+ len) }
        return spaceToken(i, newlines: false)
    }

    // MARK: cl100k
    // '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s

    func cl100k(_ i: Int) -> Int {
        let b = p[i]
        if b == apostrophe, let e = contraction(i, caseInsensitive: true) { return e }
        let (bits, len) = char(at: i)
        // [^\r\n\p{L}\p{N}]?+\p{L}++ (the optional prefix is one character that is no letter, number or
        // newline; being possessive changes nothing, as the prefix class excludes letters).
        if bits & CharClass.letter != 0 { return run(i &+ len, any: CharClass.letter) }
        if bits & CharClass.number == 0, b != cr, b != lf, i &+ len < n {
            let next = char(at: i &+ len)
            if next.bits & CharClass.letter != 0 { return run(i &+ len &+ next.len, any: CharClass.letter) }
        }
        // \p{N}{1,3}+
        if bits & CharClass.number != 0 { return upToThreeNumbers(i) }
        // ` ?[^\s\p{L}\p{N}]++[\r\n]*+`
        if let e = punctuation(i, b, bits, len) { return asciiRun(e, cr, lf) }
        return spaceToken(i, newlines: true)
    }

    /// ` ?[^\s\p{L}\p{N}]+`: end of an optional space and a run of "other" characters at `i`, or nil.
    @inline(__always)
    func punctuation(_ i: Int, _ b: UInt8, _ bits: UInt8, _ len: Int) -> Int? {
        if bits & CharClass.notOther == 0 { return otherRun(i &+ len) }
        if b == blank, i &+ 1 < n {
            let next = char(at: i &+ 1)
            if next.bits & CharClass.notOther == 0 { return otherRun(i &+ 1 &+ next.len) }
        }
        return nil
    }

    // MARK: o200k
    // [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    // |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    // |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
    //
    // Below, U is the first bracket (Lu Lt Lm Lo M) and W the second (Ll Lm Lo M). Nothing here is
    // possessive, so the letter alternatives backtrack; `word1`/`word2` compute the match the
    // backtracking regex finds first (see there). The prefix is tried before no prefix (greedy `?`).

    func o200k(_ i: Int) -> Int {
        let b = p[i]
        let (bits, len) = char(at: i)
        let canPrefix = bits & (CharClass.letter | CharClass.number) == 0 && b != cr && b != lf
        // Alternative 1, with then without the prefix, then alternative 2 likewise. Without the prefix
        // they can only match if the first character is in U or W (a letter or a mark).
        let wordish = bits & (CharClass.upper | CharClass.lower) != 0
        if canPrefix, let e = word1(i &+ len) { return e }
        if wordish, let e = word1(i) { return e }
        if canPrefix, let e = word2(i &+ len) { return e }
        if wordish, let e = word2(i) { return e }
        // \p{N}{1,3}
        if bits & CharClass.number != 0 { return upToThreeNumbers(i) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        if let e = punctuation(i, b, bits, len) { return asciiRun(e, cr, lf, slash) }
        // \s*[\r\n]+ | \s+(?!\S) | \s+
        let (end, lastStart, newlineEnd) = spaceRun(i)
        if newlineEnd > 0 { return newlineEnd }
        if end == n { return end }
        if lastStart > i { return lastStart }
        return end
    }

    /// `U*W+(contraction)?` at `s`, as a backtracking regex finds it first: U* takes the longest run of U;
    /// if W+ cannot start right after it, U* gives back characters until W+ can, that is up to the last
    /// character of the run that is also in W (Lm, Lo or a mark). W+ is then greedy, and the contraction
    /// is taken if present. Nil when no character of the U run nor the one after it is in W.
    @inline(__always)
    func word1(_ s: Int) -> Int? {
        var j = s
        var lastBothEnd = -1  // end of the last character of the U run that is also in W
        var after: UInt8 = 0  // bits of the character after the U run (0 at the end)
        var afterLen = 0
        while j < n {
            let (bits, len) = char(at: j)
            if bits & CharClass.upper == 0 { after = bits; afterLen = len; break }
            j &+= len
            if bits & CharClass.lower != 0 { lastBothEnd = j }
        }
        let wEnd: Int
        if after & CharClass.lower != 0 {
            wEnd = run(j &+ afterLen, any: CharClass.lower)
        } else if lastBothEnd >= 0 {
            // W+ starts at that character; what follows it in the run is Lu/Lt and the character after the
            // run is not in W, so W+ is that one character.
            wEnd = lastBothEnd
        } else {
            return nil
        }
        return suffix(wEnd)
    }

    /// `U+W*(contraction)?` at `s`: greedy all the way; nil when the character at `s` is not in U.
    @inline(__always)
    func word2(_ s: Int) -> Int? {
        guard s < n else { return nil }
        let (bits, len) = char(at: s)
        if bits & CharClass.upper == 0 { return nil }
        let uEnd = run(s &+ len, any: CharClass.upper)
        return suffix(run(uEnd, any: CharClass.lower))
    }

    @inline(__always)
    func suffix(_ e: Int) -> Int {
        if e < n, p[e] == apostrophe, let c = contraction(e, caseInsensitive: true) { return c }
        return e
    }
}
