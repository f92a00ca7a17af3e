// The word splitter behind every word-based statistic of the quality filters.
//
// Rules, applied to each whitespace-separated chunk of the text:
//  1. A chunk equal to an exception (contraction, abbreviation, emoticon, clock time; see
//     `SplitterExceptions`) becomes that exception's pieces.
//  2. Otherwise leading and trailing punctuation is peeled off one piece at a time (quotes, brackets,
//     ",:;!?", currency signs, "%" and "=" in front, runs of periods, "'s", a final period after a lower-case
//     letter / digit / punctuation or after two capitals, units and currency signs after a number as in
//     "10km" or "5$"). Peeling stops early when what remains is an exception.
//  3. What remains is kept whole when it is an exception or looks like a URL / e-mail / host name;
//     otherwise it is cut inside at runs of periods, "…", pictographic symbols, hyphens between letters,
//     commas between letters, "." between a lower- and an upper-case letter, ":<>=/" between a letter or
//     digit and a letter, and "+-*^" between digits.
//  4. Finally, runs of consecutive pieces (neighbours within a chunk, or across a single ' ') that match
//     how the general rules cut an exception are collected over the whole text; the longest (then the
//     earliest) win, overlapping ones are dropped, and a winner lying inside one chunk is replaced by the
//     exception's own pieces (e.g. "great:)" gives "great" ":)"). Winners across a space change nothing
//     but still block the runs they overlap.
//
// Words are byte ranges into the UTF-8 text; they always partition the non-whitespace bytes.
import RepriseCore

/// Receives the pieces found by the splitter, in text order (see `WordSplitter.split(_:_:cjk:into:scratch:)`).
protocol WordSink {
    /// Whether `space(_:_:)` should be called for whitespace runs (needed only for sentence counting).
    var wantsSpaces: Bool { get }
    mutating func word(_ start: Int, _ end: Int)
    mutating func space(_ start: Int, _ end: Int)
}

/// Open-addressing lookup of byte strings (the keys given at init) by their bytes. Built once, never freed.
struct ByteKeyTable: @unchecked Sendable {
    private let keyPool: UnsafeMutablePointer<UInt8>      // all keys, back to back, plus 16 bytes of padding
    private let keyOffsets: UnsafeMutablePointer<Int>
    private let keyLengths: UnsafeMutablePointer<Int>
    private let slots: UnsafeMutablePointer<Int32>
    private let mask: Int
    private let lengthBits: UInt64                        // bit k set when some key has k bytes (k < 64)
    let maxLength: Int
    let count: Int

    init(_ keys: [[UInt8]]) {
        var pool: [UInt8] = [], offs: [Int] = [], lens: [Int] = []
        var bits: UInt64 = 0, maxLen = 0
        for bytes in keys {
            offs.append(pool.count); lens.append(bytes.count); pool.append(contentsOf: bytes)
            if bytes.count < 64 { bits |= 1 << UInt64(bytes.count) }
            maxLen = max(maxLen, bytes.count)
        }
        count = keys.count
        keyPool = UnsafeMutablePointer<UInt8>.allocate(capacity: pool.count + 16)
        keyPool.initialize(from: pool, count: pool.count)
        (keyPool + pool.count).initialize(repeating: 0, count: 16)
        keyOffsets = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        keyOffsets.initialize(from: offs, count: count)
        keyLengths = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        keyLengths.initialize(from: lens, count: count)
        lengthBits = bits; maxLength = maxLen
        var cap = 16
        while cap < keys.count * 4 { cap <<= 1 }
        mask = cap - 1
        slots = UnsafeMutablePointer<Int32>.allocate(capacity: cap)
        slots.initialize(repeating: -1, count: cap)
        for idx in 0..<keys.count {
            var s = Int(truncatingIfNeeded: ByteKeyTable.hash(UnsafePointer(keyPool), offs[idx], lens[idx])) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(idx)
        }
    }

    func key(_ idx: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: keyPool + keyOffsets[idx], count: keyLengths[idx])
    }

    /// Hash of [s, s+n); reads up to 7 bytes past the end, which callers guarantee are addressable.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ s: Int, _ n: Int) -> UInt64 {
        let raw = UnsafeRawPointer(p + s)
        var h: UInt64 = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        var i = 0
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        if i < n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & (~UInt64(0) >> UInt64(64 - 8 * (n - i)))
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
        }
        h = h &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 32)
    }

    /// Index of the key spelled by bytes [s, e), or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int {
        let n = e - s
        if n <= 0 || n > maxLength || (n < 64 && (lengthBits >> UInt64(n)) & 1 == 0) { return -1 }
        var slot = Int(truncatingIfNeeded: ByteKeyTable.hash(p, s, n)) & mask
        while true {
            let idx = Int(slots[slot])
            if idx < 0 { return -1 }
            if keyLengths[idx] == n && memEqual(p + s, keyPool + keyOffsets[idx], n) { return idx }
            slot = (slot + 1) & mask
        }
    }
}

/// Lists of small integers per entry, stored flat. Built once, never freed.
struct FlatLists: @unchecked Sendable {
    private let offsets: UnsafeMutablePointer<Int>
    private let values: UnsafeMutablePointer<Int>

    init(_ lists: [[Int]]) {
        offsets = UnsafeMutablePointer<Int>.allocate(capacity: lists.count + 1)
        var flat: [Int] = []
        for (i, l) in lists.enumerated() { offsets[i] = flat.count; flat.append(contentsOf: l) }
        offsets[lists.count] = flat.count
        values = UnsafeMutablePointer<Int>.allocate(capacity: max(flat.count, 1))
        values.initialize(from: flat, count: flat.count)
    }

    @inline(__always) func count(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }
    @inline(__always) func list(_ i: Int) -> UnsafeBufferPointer<Int> {
        UnsafeBufferPointer(start: values + offsets[i], count: offsets[i + 1] - offsets[i])
    }
}

/// The exceptions: their keys, their pieces, and how the general rules alone would cut each of them.
struct ExceptionTable: Sendable {
    let keys: ByteKeyTable
    /// Byte lengths of each exception's pieces.
    let pieces: FlatLists
    /// For exceptions that the general rules cut into several pieces: those pieces' byte lengths; else empty.
    let ruleSplit: FlatLists

    init(_ table: [String: [String]], ruleSplit: ((ByteKeyTable, FlatLists) -> [[Int]])? = nil) {
        let names = table.keys.sorted()
        keys = ByteKeyTable(names.map { Array($0.utf8) })
        pieces = FlatLists(names.map { table[$0]!.map { $0.utf8.count } })
        self.ruleSplit = FlatLists(ruleSplit?(keys, pieces) ?? [[Int]](repeating: [], count: names.count))
    }

    var count: Int { keys.count }
    var maxLength: Int { keys.maxLength }
    @inline(__always) func lookup(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int { keys.lookup(p, s, e) }
}

/// Runs of pieces to look for in rule 4, indexed by their first piece.
struct ExceptionPatterns: @unchecked Sendable {
    let firstPieces: ByteKeyTable
    let byFirst: FlatLists            // first-piece index -> exception indices
    /// Per first piece: the possible first bytes of the second piece, as a 256-bit set.
    private let secondBytes: UnsafeMutablePointer<UInt64>
    /// True when every pattern has a first or second piece starting with something other than an ASCII
    /// letter or digit, so pairs of two such words can be skipped without a lookup.
    let needsNonAlnum: Bool

    init(_ ex: ExceptionTable) {
        var firstIndex: [[UInt8]: Int] = [:]
        var firsts: [[UInt8]] = []
        var by: [[Int]] = []
        var all = true
        func alnum(_ b: UInt8) -> Bool { b < 0x80 && ByteClass.table[Int(b)] & (ByteClass.letter | ByteClass.digit) != 0 }
        for x in 0..<ex.count where ex.ruleSplit.count(x) >= 2 {
            let key = Array(ex.keys.key(x))
            let split = ex.ruleSplit.list(x)
            let first = Array(key[0..<split[0]])
            if firstIndex[first] == nil { firstIndex[first] = firsts.count; firsts.append(first); by.append([]) }
            by[firstIndex[first]!].append(x)
            if alnum(key[0]) && alnum(key[split[0]]) { all = false }
        }
        firstPieces = ByteKeyTable(firsts)
        byFirst = FlatLists(by)
        needsNonAlnum = all
        secondBytes = UnsafeMutablePointer<UInt64>.allocate(capacity: max(firsts.count, 1) * 4)
        secondBytes.initialize(repeating: 0, count: max(firsts.count, 1) * 4)
        for (f, xs) in by.enumerated() {
            for x in xs {
                let b = Int(ex.keys.key(x)[ex.ruleSplit.list(x)[0]])
                secondBytes[4 * f + b / 64] |= 1 << UInt64(b % 64)
            }
        }
    }

    /// Whether some pattern with first piece `f` has a second piece starting with byte `b`.
    @inline(__always)
    func secondMayStartWith(_ f: Int, _ b: UInt8) -> Bool {
        (secondBytes[4 &* f &+ Int(b &>> 6)] &>> UInt64(b & 63)) & 1 != 0
    }
}

@inline(__always)
func memEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i < n { if a[i] != b[i] { return false }; i += 1 }
    return true
}

/// Scratch space reused across chunks so splitting allocates nothing per word. Call `release()` when done.
struct SplitScratch {
    var prefixes = RawArray<Int32>(capacity: 16)     // start,end pairs
    var suffixes = RawArray<Int32>(capacity: 16)     // start,end pairs, outermost first
    var pieces: RawArray<Int32>                      // start,end pairs of the whole text
    var merged = RawArray<Int32>(capacity: 16)
    var matches: [Int] = []                            // first,last+1 pairs of pieces that spell an exception

    init(expectedWords: Int = 256) { pieces = RawArray<Int32>(capacity: 2 * expectedWords) }

    func release() { releaseAllButPieces(); pieces.deallocate() }
    /// Frees everything except `pieces`, whose memory the caller takes over.
    func releaseAllButPieces() { prefixes.deallocate(); suffixes.deallocate(); merged.deallocate() }
}

/// Counts gathered while splitting.
struct SplitCounts {
    /// UTF-8 continuation bytes (bytes minus characters).
    var continuation = 0
    /// Han / kana / Hangul characters.
    var cjkChars = 0
    /// Characters outside whitespace.
    var nonSpaceChars = 0
}

// Immutable after init; the pointers reference tables that live for the whole process.
struct WordSplitter: @unchecked Sendable {
    static let shared = WordSplitter()

    let exceptions: ExceptionTable
    let patterns: ExceptionPatterns
    private let units: Set<SmallKey>
    // Copies of shared tables, so hot loops read them without lazy-initialization checks.
    private let cls: UnsafePointer<UInt8>
    private let asciiPrefix = UInt128Set("!\"#$%&'()*,:;<=>?[]_`{}")
    private let asciiSuffix = UInt128Set("!\"#&'()*,:;<>?[]_`{}")
    private let asciiPeriodSplitAfter = UInt128Set("!\"#%&'()*+,-0123456789:;<>?[]_`abcdefghijklmnopqrstuvwxyz{|}")
    private let prefixChars = CharClassTables.prefixChars
    private let suffixChars = CharClassTables.suffixChars
    private let periodSplitAfter = CharClassTables.periodSplitAfter
    private let symbols = CharClassTables.symbols

    /// Up to 16 bytes, packed, for the unit / currency lookup.
    struct SmallKey: Hashable {
        var a: UInt64, b: UInt64, n: Int
        init?(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) {
            n = e - s
            if n > 16 || n <= 0 { return nil }
            a = 0; b = 0
            for i in 0..<n {
                if i < 8 { a |= UInt64(p[s + i]) << UInt64(8 * i) } else { b |= UInt64(p[s + i]) << UInt64(8 * (i - 8)) }
            }
        }
    }

    private init() {
        var u = Set<SmallKey>()
        for w in WordSplitter.unitWords + WordSplitter.currencyWords {
            let bytes = Array(w.utf8) + [UInt8](repeating: 0, count: 16)
            bytes.withUnsafeBufferPointer { if let k = SmallKey($0.baseAddress!, 0, w.utf8.count) { u.insert(k) } }
        }
        units = u
        cls = ByteClass.ptr
        let table = SplitterExceptions.build()
        // Record how the general rules alone cut each exception, for the merge step (rule 4).
        exceptions = ExceptionTable(table) { keys, pieces in
            let plain = WordSplitter(exceptions: ExceptionTable(table), units: u)
            var splits: [[Int]] = []
            for idx in 0..<keys.count {
                let key = keys.key(idx)
                let padded = PaddedBytes(bytes: key)
                var scratch = SplitScratch()
                plain.splitChunk(UnsafePointer(padded.base), 0, key.count, useExceptions: false, &scratch)
                var lengths: [Int] = []
                var k = 0
                while k < scratch.pieces.count { lengths.append(Int(scratch.pieces[k + 1] - scratch.pieces[k])); k += 2 }
                scratch.release()
                splits.append(lengths.count > 1 ? lengths : [])
            }
            return splits
        }
        patterns = ExceptionPatterns(exceptions)
    }

    private init(exceptions: ExceptionTable, units: Set<SmallKey>) {
        self.exceptions = exceptions
        self.units = units
        self.patterns = ExceptionPatterns(exceptions)
        cls = ByteClass.ptr
    }

    static let unitWords: [String] = [
        "km", "km²", "km³", "m", "m²", "m³", "dm", "dm²", "dm³", "cm", "cm²", "cm³", "mm", "mm²", "mm³", "ha", "µm",
        "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s", "km/h", "kmh", "mph", "hPa", "Pa",
        "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G", "M", "K", "%", "км", "км²", "км³", "м",
        "м²", "м³", "дм", "дм²", "дм³", "см", "см²", "см³", "мм", "мм²", "мм³", "нм", "кг", "г", "мг", "м/с",
        "км/ч", "кПа", "Па", "мбар", "Кб", "КБ", "кб", "Мб", "МБ", "мб", "Гб", "ГБ", "гб", "Тб", "ТБ", "тбكم",
        "كم²", "كم³", "م", "م²", "م³", "سم", "سم²", "سم³", "مم", "مم²", "مم³", "كم", "غرام", "جرام", "جم", "كغ",
        "ملغ", "كوب", "اكواب",
    ]
    static let currencyWords: [String] = [
        "$", "£", "€", "¥", "฿", "US$", "C$", "A$", "₽", "﷼", "₴", "₠", "₡", "₢", "₣", "₤", "₥", "₦", "₧", "₨", "₩",
        "₪", "₫", "₭", "₮", "₯", "₰", "₱", "₲", "₳", "₵", "₶", "₷", "₸", "₹", "₺", "₻", "₼", "₾", "₿",
    ]

    // MARK: - Whole text

    /// Splits `p[0..<n]` into words, left in `scratch.pieces` as start,end byte offsets. With `cjk`, every
    /// Han / kana / Hangul character is a word of its own and the rules apply to the runs between them.
    func splitWords(_ p: UnsafePointer<UInt8>, _ n: Int, cjk: Bool, _ scratch: inout SplitScratch) -> SplitCounts {
        precondition(n < Int(Int32.max), "documents must be smaller than 2 GiB")
        let cls = self.cls
        scratch.pieces.removeAll()
        var i = 0
        var counts = SplitCounts()
        while i < n {
            // Whitespace run.
            while i < n {
                let b = p[i]
                if b < 0x80 {
                    if cls[Int(b)] & ByteClass.space == 0 { break }
                    i += 1
                } else {
                    let (c, len) = UTF8Bytes.decode(p, i, n)
                    if !CharProps.isSpace(c) { break }
                    counts.continuation += len - 1
                    i += len
                }
            }
            if i >= n { break }
            // Chunk.
            let cs = i
            var flags: UInt8 = 0
            var hasCJK = false
            var chunkChars = 0
            while i < n {
                let b = p[i]
                let k = cls[Int(b)]
                if k & ByteClass.high == 0 {
                    if k & ByteClass.space != 0 { break }
                    flags |= k
                    i += 1
                    chunkChars += 1
                } else {
                    let (c, len) = UTF8Bytes.decode(p, i, n)
                    if CharProps.isSpace(c) { break }
                    flags |= ByteClass.high
                    counts.continuation += len - 1
                    if CharProps.isCJK(c) { counts.cjkChars += 1; hasCJK = true }
                    i += len
                    chunkChars += 1
                }
            }
            counts.nonSpaceChars += chunkChars
            if cjk && hasCJK {
                splitCJKChunk(p, cs, i, &scratch)
            } else {
                splitChunkFast(p, cs, i, flags: flags, &scratch)
            }
        }
        mergeExceptions(p, &scratch)
        return counts
    }

    /// Splits `p[0..<n]` and hands the words (and, if the sink wants them, the whitespace pieces) to `sink`.
    @discardableResult
    func split<S: WordSink>(_ p: UnsafePointer<UInt8>, _ n: Int, cjk: Bool, into sink: inout S,
                            scratch: inout SplitScratch) -> SplitCounts {
        let counts = splitWords(p, n, cjk: cjk, &scratch)
        let pieces = scratch.pieces
        if sink.wantsSpaces {
            // Whitespace between chunks is a piece too, except one ordinary space right after a chunk.
            var prevEnd = 0
            var k = 0
            while k < pieces.count {
                let s = Int(pieces[k]), e = Int(pieces[k + 1])
                if s > prevEnd {
                    let gs = (k > 0 && p[prevEnd] == 0x20) ? prevEnd + 1 : prevEnd
                    if gs < s { sink.space(gs, s) }
                }
                sink.word(s, e)
                prevEnd = e
                k += 2
            }
            if prevEnd < n {
                let gs = (pieces.count > 0 && p[prevEnd] == 0x20) ? prevEnd + 1 : prevEnd
                if gs < n { sink.space(gs, n) }
            }
        } else {
            var k = 0
            while k < pieces.count { sink.word(Int(pieces[k]), Int(pieces[k + 1])); k += 2 }
        }
        return counts
    }

    @inline(__always)
    private func splitChunkFast(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, flags: UInt8,
                                _ scratch: inout SplitScratch) {
        // Letters only, or digits only: no rule but the exceptions can apply.
        if flags & (ByteClass.affix | ByteClass.high | ByteClass.other) == 0
            && (flags & ByteClass.letter == 0 || flags & ByteClass.digit == 0) {
            let x = exceptions.lookup(p, s, e)
            if x < 0 { scratch.pieces.append(Int32(truncatingIfNeeded: s), Int32(truncatingIfNeeded: e)) }
            else { appendPieces(x, at: s, &scratch.pieces) }
            return
        }
        splitChunk(p, s, e, useExceptions: true, &scratch)
    }

    private func splitCJKChunk(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ scratch: inout SplitScratch) {
        var i = s
        var runStart = s
        var runFlags: UInt8 = 0
        while i < e {
            let (c, len) = UTF8Bytes.decode(p, i, e)
            if c >= 0x80 && CharProps.isCJK(c) {
                if runStart < i { splitChunkFast(p, runStart, i, flags: runFlags, &scratch) }
                scratch.pieces.append(Int32(truncatingIfNeeded: i), Int32(truncatingIfNeeded: i + len))
                i += len
                runStart = i
                runFlags = 0
            } else {
                runFlags |= c < 0x80 ? cls[Int(c)] : ByteClass.high
                i += len
            }
        }
        if runStart < e { splitChunkFast(p, runStart, e, flags: runFlags, &scratch) }
    }

    // MARK: - One chunk

    /// Appends the pieces of chunk [s, e) to `scratch.pieces` (start,end pairs).
    func splitChunk(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int, useExceptions: Bool, _ scratch: inout SplitScratch) {
        if useExceptions {
            let x = exceptions.lookup(p, s, e)
            if x >= 0 { appendPieces(x, at: s, &scratch.pieces); return }
        }
        scratch.prefixes.removeAll()
        scratch.suffixes.removeAll()
        var a = s, b = e
        var lastSize = -1
        while a < b && b - a != lastSize {
            if useExceptions && exceptions.lookup(p, a, b) >= 0 { break }
            lastSize = b - a
            let pre = prefixLength(p, a, b)
            if pre > 0 && useExceptions && a + pre < b && exceptions.lookup(p, a + pre, b) >= 0 {
                scratch.prefixes.append(Int32(truncatingIfNeeded: a), Int32(truncatingIfNeeded: a + pre))
                a += pre
                break
            }
            let suf = suffixLength(p, a + pre, b)
            if suf > 0 && useExceptions && b - suf > a && exceptions.lookup(p, a, b - suf) >= 0 {
                scratch.suffixes.append(Int32(truncatingIfNeeded: b - suf), Int32(truncatingIfNeeded: b))
                b -= suf
                break
            }
            if pre > 0 {
                scratch.prefixes.append(Int32(truncatingIfNeeded: a), Int32(truncatingIfNeeded: a + pre))
                a += pre
            }
            if suf > 0 {
                scratch.suffixes.append(Int32(truncatingIfNeeded: b - suf), Int32(truncatingIfNeeded: b))
                b -= suf
            }
        }
        for k in 0..<scratch.prefixes.count { scratch.pieces.append(scratch.prefixes[k]) }
        if a < b {
            let x = useExceptions ? exceptions.lookup(p, a, b) : -1
            if x >= 0 {
                appendPieces(x, at: a, &scratch.pieces)
            } else if looksLikeURL(p, a, b) {
                scratch.pieces.append(Int32(truncatingIfNeeded: a), Int32(truncatingIfNeeded: b))
            } else {
                splitInside(p, a, b, &scratch.pieces)
            }
        }
        var k = scratch.suffixes.count - 2
        while k >= 0 {
            scratch.pieces.append(scratch.suffixes[k], scratch.suffixes[k + 1])
            k -= 2
        }
    }

    @inline(__always)
    private func appendPieces(_ x: Int, at start: Int, _ out: inout RawArray<Int32>) {
        var a = start
        for len in exceptions.pieces.list(x) {
            out.append(Int32(truncatingIfNeeded: a), Int32(truncatingIfNeeded: a + len))
            a += len
        }
    }

    /// Rule 4 over the pieces of the whole text (see the file header).
    private func mergeExceptions(_ p: UnsafePointer<UInt8>, _ scratch: inout SplitScratch) {
        let w = scratch.pieces.ptr
        let count = scratch.pieces.count / 2
        if count < 2 { return }
        let alnum = ByteClass.letter | ByteClass.digit
        let cls = self.cls
        let needsNonAlnum = patterns.needsNonAlnum
        @inline(__always) func adjacent(_ prevEnd: Int, _ start: Int) -> Bool {
            start == prevEnd || (start == prevEnd + 1 && p[prevEnd] == 0x20)
        }
        scratch.matches.removeAll(keepingCapacity: true)
        for i in 0..<(count - 1) {
            let s0 = Int(w[2 * i]), e0 = Int(w[2 * i + 1]), s1 = Int(w[2 * i + 2])
            if !adjacent(e0, s1) { continue }
            if needsNonAlnum && cls[Int(p[s0])] & alnum != 0 && cls[Int(p[s1])] & alnum != 0 { continue }
            let f = patterns.firstPieces.lookup(p, s0, e0)
            if f < 0 || !patterns.secondMayStartWith(f, p[s1]) { continue }
            for x in patterns.byFirst.list(f) {
                let split = exceptions.ruleSplit.list(x)
                if i + split.count > count { continue }
                let key = exceptions.keys.key(x)
                var off = split[0]
                var ok = true
                for k in 1..<split.count {
                    let ps = Int(w[2 * (i + k) - 1]), cs = Int(w[2 * (i + k)]), ce = Int(w[2 * (i + k) + 1])
                    if !adjacent(ps, cs) || ce - cs != split[k] || !memEqual(p + cs, key.baseAddress! + off, split[k]) {
                        ok = false
                        break
                    }
                    off += split[k]
                }
                if ok { scratch.matches.append(i); scratch.matches.append(i + split.count) }
            }
        }
        if scratch.matches.isEmpty { return }
        // Longest runs first; among equally long ones the earliest first. A run is dropped when its first or
        // last piece was covered by a run looked at before (dropped or not).
        var list: [(Int, Int)] = []
        for k in stride(from: 0, to: scratch.matches.count, by: 2) { list.append((scratch.matches[k], scratch.matches[k + 1])) }
        list.sort { l, r in
            let ll = l.1 - l.0, rl = r.1 - r.0
            return ll != rl ? ll > rl : l.0 < r.0
        }
        var covered = Set<Int>()
        var accepted: [(Int, Int)] = []
        for (i, j) in list {
            if !covered.contains(i) && !covered.contains(j - 1) {
                // Only runs written without spaces are replaced.
                var joined = true
                for t in i..<(j - 1) where w[2 * t + 1] != w[2 * t + 2] { joined = false; break }
                if joined { accepted.append((i, j)) }
            }
            for k in i..<j { covered.insert(k) }
        }
        if accepted.isEmpty { return }
        accepted.sort { $0.0 < $1.0 }
        scratch.merged.removeAll()
        var k = 0
        var next = 0
        while k < count {
            if next < accepted.count && accepted[next].0 == k {
                let (i, j) = accepted[next]
                let s = Int(w[2 * i]), e = Int(w[2 * j - 1])
                appendPieces(exceptions.lookup(p, s, e), at: s, &scratch.merged)
                k = j
                next += 1
            } else {
                scratch.merged.append(w[2 * k], w[2 * k + 1])
                k += 1
            }
        }
        swap(&scratch.pieces, &scratch.merged)
    }

    // MARK: - Prefix / suffix

    /// Length in bytes of the piece peeled off the front of [a, b), or 0.
    @inline(__always)
    func prefixLength(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Int {
        let c0 = p[a]
        if c0 < 0x80 {
            switch c0 {
            case 0x2E: // '.'
                var j = a + 1
                while j < b && p[j] == 0x2E { j += 1 }
                return j - a >= 2 ? j - a : 0
            case 0x2B: // '+', unless a digit follows
                return (a + 1 < b && CharProps.isASCIIDigit(UInt32(p[a + 1]))) ? 0 : 1
            case 0x55: // "US$"
                return (b - a >= 3 && p[a + 1] == 0x53 && p[a + 2] == 0x24) ? 3 : 0
            case 0x43, 0x41: // "C$", "A$"
                return (b - a >= 2 && p[a + 1] == 0x24) ? 2 : 0
            default:
                return asciiPrefix.contains(c0) ? 1 : 0
            }
        }
        let (c, len) = UTF8Bytes.decode(p, a, b)
        return prefixChars.contains(c) ? len : 0
    }

    /// Length in bytes of the piece peeled off the end of [a, b), or 0. Several rules can apply; the
    /// longest piece wins.
    @inline(__always)
    func suffixLength(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Int {
        if b <= a { return 0 }
        var best = 0
        let last = p[b - 1]
        if last < 0x80 {
            if asciiSuffix.contains(last) { best = 1 }
            if last == 0x2E {
                var j = b - 1
                while j > a && p[j - 1] == 0x2E { j -= 1 }
                if b - j >= 2 {
                    best = b - j
                } else if let prev = UTF8Bytes.scalarBefore(p, a, b - 1) {
                    let ps = UTF8Bytes.previousStart(p, a, b - 1)
                    if prev < 0x80 ? asciiPeriodSplitAfter.contains(UInt8(prev)) : periodSplitAfter.contains(prev) {
                        best = 1
                    } else if let pp = UTF8Bytes.scalarBefore(p, a, ps) {
                        if CharProps.isSplitterUpper(prev) && CharProps.isSplitterUpper(pp) { best = 1 }
                        if pp == 0xB0 && (prev == 0x46 || prev == 0x66 || prev == 0x43 || prev == 0x63
                                          || prev == 0x4B || prev == 0x6B) { best = 1 }
                    }
                }
            } else if (last == 0x73 || last == 0x53) && b - a >= 2 {       // 's 'S ’s ’S
                if p[b - 2] == 0x27 { best = max(best, 2) }
                else if b - a >= 4 && p[b - 4] == 0xE2 && p[b - 3] == 0x80 && p[b - 2] == 0x99 { best = max(best, 4) }
            } else if last == 0x2B && b - a >= 2 && CharProps.isASCIIDigit(UInt32(p[b - 2])) {
                best = max(best, 1)
            }
        } else {
            let ls = UTF8Bytes.previousStart(p, a, b)
            let (c, clen) = UTF8Bytes.decode(p, ls, b)
            if suffixChars.contains(c) { best = clen }
            if c == 0x2026 && ls - a >= 3 && p[ls - 3] == 0xE2 && p[ls - 2] == 0x80 && p[ls - 1] == 0xA6 { best = 6 }
        }
        // Units and currency signs right after a digit ("10km", "5$"): the text after the last digit.
        var d = b - 1
        let floor = max(a, b - 17)
        while d >= floor && !CharProps.isASCIIDigit(UInt32(p[d])) { d -= 1 }
        if d >= floor && b - (d + 1) > best, let key = SmallKey(p, d + 1, b), units.contains(key) { best = b - (d + 1) }
        return best
    }

    // MARK: - Inside cuts

    private func splitInside(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int, _ out: inout RawArray<Int32>) {
        var start = a
        var i = a
        while i < b {
            let c0 = p[i]
            var len = 1
            var mEnd = -1
            if c0 < 0x80 {
                if cls[Int(c0)] & ByteClass.affix != 0 {
                    mEnd = asciiInfix(p, a, b, i, c0)
                }
            } else {
                let (c, l) = UTF8Bytes.decode(p, i, b)
                len = l
                if c == 0x2026 || symbols.contains(c) {
                    mEnd = i + l
                } else if c == 0x2013 || c == 0x2014 {
                    mEnd = hyphenInfix(p, a, b, i)
                }
            }
            if mEnd >= 0 {
                if i != a {
                    if i != start { out.append(Int32(truncatingIfNeeded: start), Int32(truncatingIfNeeded: i)) }
                    out.append(Int32(truncatingIfNeeded: i), Int32(truncatingIfNeeded: mEnd))
                    start = mEnd
                }
                i = mEnd
            } else {
                i += len
            }
        }
        if start < b { out.append(Int32(truncatingIfNeeded: start), Int32(truncatingIfNeeded: b)) }
    }

    @inline(__always)
    private func scalarAt(_ p: UnsafePointer<UInt8>, _ i: Int, _ b: Int) -> UInt32? {
        i < b ? UTF8Bytes.decode(p, i, b).0 : nil
    }

    /// End of the cut starting at ASCII byte `i`, or -1.
    private func asciiInfix(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int, _ i: Int, _ c: UInt8) -> Int {
        if c == 0x2E {
            if i + 1 < b && p[i + 1] == 0x2E {
                var j = i + 2
                while j < b && p[j] == 0x2E { j += 1 }
                return j
            }
            if let prev = UTF8Bytes.scalarBefore(p, a, i), CharProps.isSplitterLower(prev) || CharProps.isQuote(prev),
               let next = scalarAt(p, i + 1, b), CharProps.isSplitterUpper(next) || CharProps.isQuote(next) {
                return i + 1
            }
            return -1
        }
        guard let prev = UTF8Bytes.scalarBefore(p, a, i) else { return -1 }
        let prevDigit = CharProps.isASCIIDigit(prev)
        if (c == 0x2B || c == 0x2D || c == 0x2A || c == 0x5E) && prevDigit && i + 1 < b
            && (CharProps.isASCIIDigit(UInt32(p[i + 1])) || p[i + 1] == 0x2D) {
            return i + 1
        }
        let prevWordy = prevDigit || CharProps.isSplitterLetter(prev)
        switch c {
        case 0x2C: // ','
            if !prevDigit && prevWordy, let next = scalarAt(p, i + 1, b), CharProps.isSplitterLetter(next) { return i + 1 }
        case 0x2D, 0x7E: // '-', '~'
            if prevWordy { return hyphenInfix(p, a, b, i) }
        case 0x3A, 0x3C, 0x3E, 0x3D, 0x2F: // : < > = /
            if prevWordy, let next = scalarAt(p, i + 1, b), CharProps.isSplitterLetter(next) { return i + 1 }
        default: break
        }
        return -1
    }

    /// Hyphen-like cuts between a letter or digit and a letter: "-", "–", "—", "--", "---", "——", "~",
    /// tried in that order.
    private func hyphenInfix(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int, _ i: Int) -> Int {
        guard let prev = UTF8Bytes.scalarBefore(p, a, i), CharProps.isASCIIDigit(prev) || CharProps.isSplitterLetter(prev)
        else { return -1 }
        func letterAt(_ j: Int) -> Bool {
            guard let c = scalarAt(p, j, b) else { return false }
            return CharProps.isSplitterLetter(c)
        }
        func has(_ bytes: [UInt8]) -> Bool {
            if i + bytes.count > b { return false }
            for k in 0..<bytes.count where p[i + k] != bytes[k] { return false }
            return true
        }
        for alt in WordSplitter.hyphenAlternatives where has(alt) && letterAt(i + alt.count) { return i + alt.count }
        return -1
    }

    private static let hyphenAlternatives: [[UInt8]] =
        ["-", "\u{2013}", "\u{2014}", "--", "---", "\u{2014}\u{2014}", "~"].map { Array($0.utf8) }

    // MARK: - URLs

    /// Whether [a, b) is a URL, e-mail address or host name (optionally with scheme, user, port and path).
    func looksLikeURL(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Bool {
        // Every form needs a period in the host part.
        var hasDot = false
        for i in a..<b where p[i] == 0x2E { hasDot = true; break }
        if !hasDot { return false }
        // Optional scheme "xx://".
        var k = a
        while k < b && p[k] != 0x3A { k += 1 }
        if k + 2 < b && p[k + 1] == 0x2F && p[k + 2] == 0x2F && schemeOK(p, a, k) {
            if userAndHost(p, k + 3, b) { return true }
        }
        return userAndHost(p, a, b)
    }

    private func schemeOK(_ p: UnsafePointer<UInt8>, _ a: Int, _ k: Int) -> Bool {
        var i = a, chars = 0
        while i < k {
            let (c, len) = UTF8Bytes.decode(p, i, k)
            let ok: Bool
            if c < 0x80 {
                let cl = ByteClass.ptr[Int(c)]
                ok = cl & (ByteClass.letter | ByteClass.digit) != 0 || c == 0x5F || c == 0x2B || c == 0x2D || c == 0x2E
            } else {
                ok = CharProps.isAlpha(c) || CharProps.isDecimalDigit(c)
            }
            if !ok { return false }
            chars += 1
            i += len
        }
        return chars >= 2
    }

    private func userAndHost(_ p: UnsafePointer<UInt8>, _ r: Int, _ b: Int) -> Bool {
        // "user@" / "user:pass@": any '@' with at least one character before it.
        var q = r + 1
        while q < b {
            if p[q] == 0x40 && hostAndRest(p, q + 1, b) { return true }
            q += 1
        }
        return hostAndRest(p, r, b)
    }

    private func hostAndRest(_ p: UnsafePointer<UInt8>, _ h: Int, _ b: Int) -> Bool {
        if h >= b { return false }
        if ipAndRest(p, h, b) { return true }
        // Host name: labels ending in ".", then a lower-case top-level domain of 2-63 letters.
        var end = h
        while end < b && p[end] != 0x3A && p[end] != 0x2F && p[end] != 0x3F && p[end] != 0x23 { end += 1 }
        var labelStart = h
        var labels = 0
        var i = h
        var lastDot = -1
        while i < end {
            if p[i] == 0x2E {
                if !labelOK(p, labelStart, i) { return false }
                labels += 1
                lastDot = i
                labelStart = i + 1
            }
            i += 1
        }
        if labels == 0 || lastDot < 0 { return false }
        // Top-level domain.
        var j = lastDot + 1, tld = 0
        while j < end {
            let (c, len) = UTF8Bytes.decode(p, j, end)
            if !CharProps.isSplitterLower(c) { return false }
            tld += 1
            j += len
        }
        if tld < 2 || tld > 63 { return false }
        return portAndPath(p, end, b)
    }

    /// Label: 1-64 characters from [A-Za-z0-9_-] or U+00A1-U+FFFF, not starting or ending with '_' or '-'.
    private func labelOK(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        if s >= e { return false }
        var i = s, n = 0
        var first = true
        var lastEdgeOK = false
        while i < e {
            let (c, len) = UTF8Bytes.decode(p, i, e)
            let edgeOK: Bool
            if c < 0x80 {
                let cl = ByteClass.ptr[Int(c)]
                edgeOK = cl & (ByteClass.letter | ByteClass.digit) != 0
                if !edgeOK && c != 0x5F && c != 0x2D { return false }
            } else {
                edgeOK = c >= 0xA1 && c <= 0xFFFF
                if !edgeOK { return false }
            }
            if first && !edgeOK { return false }
            first = false
            lastEdgeOK = edgeOK
            n += 1
            i += len
        }
        return lastEdgeOK && n <= 64
    }

    /// Optional ":port" (2-5 digits), optional path starting with / ? or #, then the end.
    private func portAndPath(_ p: UnsafePointer<UInt8>, _ i0: Int, _ b: Int) -> Bool {
        var i = i0
        if i < b && p[i] == 0x3A {
            var j = i + 1, digits = 0
            while j < b {
                let (c, len) = UTF8Bytes.decode(p, j, b)
                if !CharProps.isDecimalDigit(c) { break }
                digits += 1
                j += len
            }
            // Fewer digits than available can also match when a path follows; digits never start a path,
            // so only the full run can be followed by the end or a path.
            if digits < 2 { return false }
            if digits > 5 { return false }
            i = j
        }
        if i == b { return true }
        return p[i] == 0x2F || p[i] == 0x3F || p[i] == 0x23
    }

    /// Dotted IPv4 host (public ranges only), then optional port and path.
    private func ipAndRest(_ p: UnsafePointer<UInt8>, _ h: Int, _ b: Int) -> Bool {
        guard h < b, CharProps.isASCIIDigit(UInt32(p[h])) else { return false }
        if privateIP(p, h, b) { return false }
        // Try every way of reading four octets (each octet 1-3 digits), as a backtracking matcher would.
        func octetOK(_ s: Int, _ n: Int, _ kind: Int) -> Bool {
            var v = 0
            for k in 0..<n { v = v * 10 + Int(p[s + k] - 0x30) }
            let lead = p[s]
            switch kind {
            case 0: // first: 1-223, no leading zero
                return lead != 0x30 && v >= 1 && v <= 223
            case 1: // middle: 1-2 digits any; 3 digits 100-199 or 200-255
                return n < 3 || lead == 0x31 || (v >= 200 && v <= 255)
            default: // last: no leading zero, 1-254
                return lead != 0x30 && v >= 1 && v <= 254
            }
        }
        func go(_ i: Int, _ idx: Int) -> Bool {
            if idx > 0 {
                guard i < b, p[i] == 0x2E else { return false }
            }
            let s = idx > 0 ? i + 1 : i
            var n = 0
            while s + n < b && n < 3 && CharProps.isASCIIDigit(UInt32(p[s + n])) { n += 1 }
            if n == 0 { return false }
            let kind = idx == 0 ? 0 : (idx == 3 ? 2 : 1)
            var len = n
            while len >= 1 {
                if octetOK(s, len, kind) {
                    if idx == 3 { if portAndPath(p, s + len, b) { return true } }
                    else if go(s + len, idx + 1) { return true }
                }
                len -= 1
            }
            return false
        }
        return go(h, 0)
    }

    /// Addresses in 10/8, 127/8, 169.254/16, 192.168/16 and 172.16/12 are not treated as hosts.
    private func privateIP(_ p: UnsafePointer<UInt8>, _ h: Int, _ b: Int) -> Bool {
        func lit(_ s: String, _ at: Int) -> Int? {
            let u = Array(s.utf8)
            if at + u.count > b { return nil }
            for k in 0..<u.count where p[at + k] != u[k] { return nil }
            return at + u.count
        }
        func groups(_ at: Int, _ count: Int) -> Bool {     // (?:\.\d{1,3}){count}, greedy
            var i = at
            for _ in 0..<count {
                guard i < b, p[i] == 0x2E else { return false }
                var n = 0
                while i + 1 + n < b && n < 3 && CharProps.isASCIIDigit(UInt32(p[i + 1 + n])) { n += 1 }
                if n == 0 { return false }
                i += 1 + n
            }
            return true
        }
        if let e = lit("10", h), groups(e, 3) { return true }
        if let e = lit("127", h), groups(e, 3) { return true }
        if let e = lit("169.254", h), groups(e, 2) { return true }
        if let e = lit("192.168", h), groups(e, 2) { return true }
        if let e = lit("172.", h), e + 2 <= b {
            let d0 = p[e], d1 = p[e + 1]
            let ok = (d0 == 0x31 && d1 >= 0x36 && d1 <= 0x39) || (d0 == 0x32 && CharProps.isASCIIDigit(UInt32(d1)))
                || (d0 == 0x33 && (d1 == 0x30 || d1 == 0x31))
            if ok && groups(e + 2, 2) { return true }
        }
        return false
    }
}

/// A set of ASCII bytes as a 128-bit mask.
struct UInt128Set: Sendable {
    let lo: UInt64, hi: UInt64
    init(_ chars: String) {
        var l: UInt64 = 0, h: UInt64 = 0
        for b in chars.utf8 { if b < 64 { l |= 1 << UInt64(b) } else { h |= 1 << UInt64(b - 64) } }
        lo = l; hi = h
    }
    @inline(__always) func contains(_ b: UInt8) -> Bool {
        b < 64 ? (lo >> UInt64(b)) & 1 != 0 : (b < 128 && (hi >> UInt64(b - 64)) & 1 != 0)
    }
}
