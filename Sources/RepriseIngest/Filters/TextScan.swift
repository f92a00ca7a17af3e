// Byte- and scalar-level helpers shared by the word splitter and the filters. Everything here works on
// UTF-8 bytes; characters are decoded only where a rule needs a non-ASCII character's class.

/// A sorted table of inclusive scalar ranges, stored flat as [lo0, hi0, lo1, hi1, ...], kept in memory for
/// the life of the process so lookups do no reference counting.
struct ScalarRanges: @unchecked Sendable {
    let base: UnsafePointer<UInt32>
    let pairs: Int

    init(_ flat: [UInt32]) {
        let p = UnsafeMutablePointer<UInt32>.allocate(capacity: max(flat.count, 2))
        p.initialize(from: flat, count: flat.count)
        base = UnsafePointer(p)
        pairs = flat.count / 2
    }

    /// The union of flat range tables, as one sorted table of disjoint, non-adjacent ranges.
    static func union(_ tables: [UInt32]...) -> [UInt32] {
        var out: [UInt32] = []
        for (lo, hi) in tables.flatMap(pairs).sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, lo <= last &+ 1 {
                out[out.count - 1] = max(last, hi)
            } else {
                out += [lo, hi]
            }
        }
        return out
    }

    /// The scalars of `table` that are not in `removed` (both flat range tables, sorted and disjoint; scalars
    /// stay below UInt32.max).
    static func subtracting(_ table: [UInt32], _ removed: [UInt32]) -> [UInt32] {
        let cuts = pairs(removed)
        var out: [UInt32] = []
        var first = 0
        for (lo, hi) in pairs(table) {
            while first < cuts.count && cuts[first].1 < lo { first += 1 }
            var start = lo
            var i = first
            while start <= hi && i < cuts.count && cuts[i].0 <= hi {
                if cuts[i].0 > start { out += [start, cuts[i].0 - 1] }
                start = max(start, cuts[i].1 + 1)
                i += 1
            }
            if start <= hi { out += [start, hi] }
        }
        return out
    }

    /// [first, last] pairs expanded to the one-scalar ranges first, first + 2, ..., last.
    static func everyOther(_ runs: [UInt32]) -> [UInt32] {
        pairs(runs).flatMap { first, last in stride(from: first, through: last, by: 2).flatMap { [$0, $0] } }
    }

    private static func pairs(_ t: [UInt32]) -> [(UInt32, UInt32)] {
        stride(from: 0, to: t.count - 1, by: 2).map { (t[$0], t[$0 + 1]) }
    }

    @inline(__always)
    func contains(_ c: UInt32) -> Bool {
        var lo = 0, hi = pairs
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if c > base[2 &* mid &+ 1] { lo = mid &+ 1 } else { hi = mid }
        }
        return lo < pairs && c >= base[2 &* lo]
    }
}

/// Character classes (all tables cover U+0080 and above; ASCII is handled by `ByteClass`).
enum CharClassTables {
    static let letters = ScalarRanges(CharTables.letters)
    static let lower = ScalarRanges(CharTables.lowerLetters)
    static let upper = ScalarRanges(CharTables.upperLetters)
    static let symbols = ScalarRanges(CharTables.symbols)
    static let quotes = ScalarRanges(CharTables.quotes)
    static let prefixChars = ScalarRanges(CharTables.prefixChars)
    static let suffixChars = ScalarRanges(CharTables.suffixChars)
    static let periodSplitAfter = ScalarRanges(CharTables.periodSplitAfter)
    static let spaces = ScalarRanges(CharTables.spaces)
    static let symbolWordChars = ScalarRanges(CharTables.symbolWordChars)
    static let sentenceEnders = ScalarRanges(CharTables.sentenceEnders)
}

/// Per-byte class bits for ASCII, plus a marker for bytes >= 0x80.
enum ByteClass {
    static let space: UInt8 = 1        // ASCII whitespace: \t \n \v \f \r, 0x1C-0x1F, ' '
    static let letter: UInt8 = 2       // A-Z a-z
    static let digit: UInt8 = 4        // 0-9
    static let lower: UInt8 = 8        // a-z
    static let upper: UInt8 = 16       // A-Z
    static let other: UInt8 = 32       // any other ASCII byte (punctuation, symbols, controls)
    static let high: UInt8 = 64        // byte >= 0x80 (part of a multi-byte character)
    static let affix: UInt8 = 128      // ASCII byte that can start/end/split a chunk in the splitter

    static let table: [UInt8] = {
        var t = [UInt8](repeating: 0, count: 256)
        for b in 0..<256 {
            let c = UInt8(b)
            var v: UInt8 = 0
            if c >= 0x80 { v = high }
            else if c == 0x20 || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F) { v = space }
            else if c >= 0x61 && c <= 0x7A { v = letter | lower }
            else if c >= 0x41 && c <= 0x5A { v = letter | upper }
            else if c >= 0x30 && c <= 0x39 { v = digit }
            else { v = other }
            t[b] = v
        }
        // Bytes that can trigger a prefix, suffix or infix rule of the splitter.
        for ch in "!\"#$%&'()*+,-./:;<=>?[]^_`{|}~" { t[Int(ch.asciiValue!)] |= affix }
        return t
    }()
    nonisolated(unsafe) static let ptr: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        p.initialize(from: table, count: 256)
        return UnsafePointer(p)
    }()
}

/// A UTF-8 text: a copy of the bytes followed by 16 zero bytes, so 8-byte loads near the end stay in bounds.
final class PaddedBytes: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    let count: Int

    init(_ text: String) {
        var s = text
        let n = s.utf8.count
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: n + 16)
        count = n
        s.withUTF8 { buf in
            if let src = buf.baseAddress, n > 0 { base.update(from: src, count: n) }
        }
        (base + n).initialize(repeating: 0, count: 16)
    }

    init(bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: n + 16)
        count = n
        if let src = bytes.baseAddress, n > 0 { base.update(from: src, count: n) }
        (base + n).initialize(repeating: 0, count: 16)
    }

    deinit { base.deallocate() }
}

enum UTF8Bytes {
    /// Decodes the character starting at `i` (which must be a lead byte). Returns the scalar and its byte length.
    /// Malformed input (which a Swift String never holds) decodes byte by byte.
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (UInt32, Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0, i + 1 < end { return (((b0 & 0x1F) << 6) | (UInt32(p[i + 1]) & 0x3F), 2) }
        if b0 < 0xF0, i + 2 < end {
            return (((b0 & 0x0F) << 12) | ((UInt32(p[i + 1]) & 0x3F) << 6) | (UInt32(p[i + 2]) & 0x3F), 3)
        }
        if i + 3 < end {
            return (((b0 & 0x07) << 18) | ((UInt32(p[i + 1]) & 0x3F) << 12) | ((UInt32(p[i + 2]) & 0x3F) << 6)
                    | (UInt32(p[i + 3]) & 0x3F), 4)
        }
        return (b0, 1)
    }

    /// Start of the character that ends just before `end` (not before `start`).
    @inline(__always)
    static func previousStart(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var i = end - 1
        while i > start && (p[i] & 0xC0) == 0x80 { i -= 1 }
        return i
    }

    /// The character ending just before `end`, or nil at `start`.
    @inline(__always)
    static func scalarBefore(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> UInt32? {
        if end <= start { return nil }
        let b = p[end - 1]
        if b < 0x80 { return UInt32(b) }
        let s = previousStart(p, start, end)
        return decode(p, s, end).0
    }

    /// Number of characters (Unicode scalars) in [start, end).
    @inline(__always)
    static func scalarCount(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var n = 0
        for i in start..<end where (p[i] & 0xC0) != 0x80 { n &+= 1 }
        return n
    }
}

/// Character predicates. Non-ASCII answers come from the generated tables or, where noted, from the
/// standard library's Unicode properties.
enum CharProps {
    /// Whitespace (the same set a `split()` with no argument uses).
    @inline(__always)
    static func isSpace(_ c: UInt32) -> Bool {
        if c < 0x80 { return (ByteClass.ptr[Int(c)] & ByteClass.space) != 0 }
        return CharClassTables.spaces.contains(c)
    }

    /// Letters for the splitting rules (Latin, Greek, Cyrillic, and caseless scripts incl. CJK).
    @inline(__always)
    static func isSplitterLetter(_ c: UInt32) -> Bool {
        if c < 0x80 { return (ByteClass.ptr[Int(c)] & ByteClass.letter) != 0 }
        return CharClassTables.letters.contains(c)
    }

    @inline(__always)
    static func isSplitterLower(_ c: UInt32) -> Bool {
        if c < 0x80 { return (ByteClass.ptr[Int(c)] & ByteClass.lower) != 0 }
        return CharClassTables.lower.contains(c)
    }

    @inline(__always)
    static func isSplitterUpper(_ c: UInt32) -> Bool {
        if c < 0x80 { return (ByteClass.ptr[Int(c)] & ByteClass.upper) != 0 }
        return CharClassTables.upper.contains(c)
    }

    @inline(__always)
    static func isQuote(_ c: UInt32) -> Bool {
        if c < 0x80 { return c == 0x27 || c == 0x22 || c == 0x2C || c == 0x60 }
        return CharClassTables.quotes.contains(c)
    }

    @inline(__always)
    static func isASCIIDigit(_ c: UInt32) -> Bool { c &- 0x30 < 10 }

    /// Any Unicode decimal digit.
    static func isDecimalDigit(_ c: UInt32) -> Bool {
        if c < 0x80 { return isASCIIDigit(c) }
        guard let s = Unicode.Scalar(c) else { return false }
        return s.properties.generalCategory == .decimalNumber
    }

    /// "Is a letter" in the sense of a word having at least one alphabetic character: Unicode letter
    /// categories (Lu, Ll, Lt, Lm, Lo). Common blocks are answered from ranges; anything else asks the
    /// standard library's Unicode tables, so the answer is exact up to Unicode version differences.
    @inline(__always)
    static func isAlpha(_ c: UInt32) -> Bool {
        if c < 0x80 { return (ByteClass.ptr[Int(c)] & ByteClass.letter) != 0 }
        // Latin-1: letters are C0-FF except the two operators; AA, B5, BA are letters too.
        if c < 0x100 { return (c >= 0xC0 && c != 0xD7 && c != 0xF7) || c == 0xAA || c == 0xB5 || c == 0xBA }
        if c >= 0x100 && c <= 0x2AF { return true }                    // Latin Extended-A/B, IPA
        if c >= 0x4E00 && c <= 0x9FFF { return true }                  // CJK unified ideographs
        if c >= 0xAC00 && c <= 0xD7A3 { return true }                  // Hangul syllables
        if c >= 0x3041 && c <= 0x3096 { return true }                  // Hiragana
        if c >= 0x30A1 && c <= 0x30FA { return true }                  // Katakana
        if c >= 0x2000 && c <= 0x206F { return false }                 // general punctuation
        if c >= 0x3000 && c <= 0x3004 { return false }                 // CJK punctuation (most of it)
        if c >= 0x3008 && c <= 0x3020 { return false }
        if c >= 0xFF01 && c <= 0xFF20 { return c >= 0xFF21 }           // fullwidth punctuation and digits
        if c >= 0x1F000 && c <= 0x1FAFF { return false }               // emoji and pictographs
        guard let s = Unicode.Scalar(c) else { return false }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// Unicode punctuation categories (Pc, Pd, Ps, Pe, Pi, Pf, Po).
    static func isPunctuation(_ c: UInt32) -> Bool {
        if c < 0x80 {
            switch c {
            case 0x21...0x23, 0x25...0x2A, 0x2C...0x2F, 0x3A, 0x3B, 0x3F, 0x40, 0x5B...0x5D, 0x5F, 0x7B, 0x7D:
                return true
            default: return false
            }
        }
        guard let s = Unicode.Scalar(c) else { return false }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// Characters that make a word "symbol only" (ASCII punctuation and symbols, control characters, and a
    /// fixed list of Unicode punctuation).
    @inline(__always)
    static func isSymbolWordChar(_ c: UInt32) -> Bool {
        if c < 0x80 {
            let k = ByteClass.ptr[Int(c)]
            return (k & (ByteClass.letter | ByteClass.digit)) == 0 && c != 0x20 && c != 9 && c != 10
        }
        if c < 0xA0 { return true }
        return CharClassTables.symbolWordChars.contains(c)
    }

    /// Han ideographs, Hiragana, Katakana and Hangul: the scripts written without spaces between words.
    @inline(__always)
    static func isCJK(_ c: UInt32) -> Bool {
        if c < 0x1100 { return false }
        if c >= 0x4E00 && c <= 0x9FFF { return true }
        if c >= 0x3040 && c <= 0x30FF { return c != 0x30FB && c != 0x30A0 }    // kana (not the two dots/hyphen marks)
        if c >= 0xAC00 && c <= 0xD7AF { return true }
        if c >= 0x3400 && c <= 0x4DBF { return true }
        if c >= 0x1100 && c <= 0x11FF { return true }
        if c >= 0x3130 && c <= 0x318F { return true }
        if c >= 0x31F0 && c <= 0x31FF { return true }
        if c >= 0xF900 && c <= 0xFAFF { return true }
        if c >= 0xFF66 && c <= 0xFF9F { return true }
        if c >= 0x20000 && c <= 0x3134F { return true }
        return false
    }
}
