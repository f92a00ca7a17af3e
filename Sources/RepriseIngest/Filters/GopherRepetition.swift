import RepriseCore

// Gopher repetition rules (the published Gopher thresholds by default).

/// An n-gram rule: drop when the measured character fraction for `n`-grams exceeds `maxFraction`.
/// Written as a two-element array `[n, fraction]` in JSON/YAML.
public struct NGramLimit: Codable, Sendable, Equatable {
    public var n: Int
    public var maxFraction: Double

    public init(_ n: Int, _ maxFraction: Double) { self.n = n; self.maxFraction = maxFraction }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        n = try c.decode(Int.self)
        maxFraction = try c.decode(Double.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(n)
        try c.encode(maxFraction)
    }
}

/// Settings of `GopherRepetition`. Unknown keys are rejected; omitted keys take the defaults; a fraction
/// set to null (or 0) switches its rule off; an empty n-gram list switches those rules off.
public struct GopherRepetitionConfig: KeyedConfig, Sendable, Equatable {
    public var enabled: Bool = true
    /// Share of lines that repeat an earlier line: `dup_line_frac`.
    public var dupLineFrac: Double? = 0.3
    /// Share of paragraphs that repeat an earlier paragraph: `dup_para_frac`.
    public var dupParaFrac: Double? = 0.3
    /// Characters in repeated lines / characters of the text: `dup_line_char_frac`.
    public var dupLineCharFrac: Double? = 0.2
    /// Characters in repeated paragraphs / characters of the text: `dup_para_char_frac`.
    public var dupParaCharFrac: Double? = 0.2
    /// Most frequent n-gram: its characters (words joined by one space) times its count, over the
    /// characters of the text: `top_<n>_gram`.
    public var topNGrams: [NGramLimit] = [NGramLimit(2, 0.2), NGramLimit(3, 0.18), NGramLimit(4, 0.16)]
    /// Characters of n-grams repeating an earlier n-gram (words joined without spaces, counted once per
    /// non-overlapping repeat), over the characters of the text: `duplicated_<n>_n_grams`.
    public var dupNGrams: [NGramLimit] = [NGramLimit(5, 0.15), NGramLimit(6, 0.14), NGramLimit(7, 0.13),
                                         NGramLimit(8, 0.12), NGramLimit(9, 0.11), NGramLimit(10, 0.10)]

    public init() {}

    public static let section: String? = "repetition"
    /// A fraction set to null switches its rule off (written as null); a null n-gram list means no such rules.
    public static let keys: [ConfigKey<Self>] = [
        .value("enabled", \.enabled),
        .switchable("dup_line_frac", \.dupLineFrac), .switchable("dup_para_frac", \.dupParaFrac),
        .switchable("dup_line_char_frac", \.dupLineCharFrac), .switchable("dup_para_char_frac", \.dupParaCharFrac),
        .value("top_n_grams", \.topNGrams, null: []), .value("dup_n_grams", \.dupNGrams, null: []),
    ]

}

/// The Gopher repetition rules, checked in this order (the first failing rule names the drop reason):
///
/// - `empty`: the text is empty.
/// - Paragraphs: the text without leading/trailing whitespace, split at runs of two or more "\n".
///   A paragraph equal to an earlier one is a repeat. `dup_para_frac`: repeats / paragraphs;
///   `dup_para_char_frac`: characters of the repeats / characters of the whole text.
/// - Lines: the whole text split at runs of "\n" (so a leading or trailing "\n" yields an empty line).
///   `dup_line_frac` and `dup_line_char_frac` as for paragraphs.
/// - `top_<n>_gram`: over the word n-grams (words from `TextStats`), the most frequent one (ties: the one
///   seen first); its length with the words joined by single spaces, times its count, over the characters
///   of the text.
/// - `duplicated_<n>_n_grams`: walking the word positions left to right, an n-gram whose words joined
///   without spaces equal an n-gram seen before adds its characters and the walk jumps n words ahead;
///   otherwise it is remembered and the walk moves one word. The total over the characters of the text.
///
/// Characters are Unicode scalars. N-grams are compared through 64-bit hashes (a polynomial hash of the
/// bytes for the joined-without-spaces form, so different word splits of the same characters compare
/// equal); lines and paragraphs are compared byte for byte.
public struct GopherRepetition: Sendable {
    public let config: GopherRepetitionConfig

    public init(_ config: GopherRepetitionConfig = GopherRepetitionConfig()) { self.config = config }

    public func check(_ text: String) -> FilterDecision {
        guard config.enabled else { return .keep }
        if text.isEmpty { return .drop(reason: "empty") }
        let storage = PaddedBytes(text)
        // The line and paragraph rules need no words; split words only if they pass.
        if let d = checkSegments(storage) { return d }
        return checkNGrams(TextStats(storage: storage))
    }

    public func check(_ stats: TextStats) -> FilterDecision {
        guard config.enabled else { return .keep }
        if stats.byteCount == 0 { return .drop(reason: "empty") }
        if let d = checkSegments(stats.storage) { return d }
        return checkNGrams(stats)
    }

    // MARK: - Lines and paragraphs

    private func checkSegments(_ storage: PaddedBytes) -> FilterDecision? {
        let p = UnsafePointer(storage.base)
        let n = storage.count
        let totalChars = Double(n - continuationBytes(p, n))
        let c = config

        // Runs of '\n' (start, length), found once for both splits.
        var runs: [Int] = []
        var i = 0
        while true {
            i = findNewline(p, i, n)
            if i >= n { break }
            var j = i + 1
            while j < n && p[j] == 0x0A { j += 1 }
            runs.append(i); runs.append(j - i)
            i = j
        }

        if c.dupParaFrac != nil || c.dupParaCharFrac != nil {
            let ts = LineScan.skipSpaceForward(p, 0, n)
            let te = LineScan.skipSpaceBackward(p, ts, n)
            var seg: [Int] = []
            var start = ts
            var k = 0
            while k < runs.count {
                let rs = runs[k], rl = runs[k + 1]
                if rs >= ts && rs + rl <= te && rl >= 2 { seg.append(start); seg.append(rs); start = rs + rl }
                k += 2
            }
            seg.append(start); seg.append(te)
            let (dups, dupChars) = duplicates(p, seg)
            let count = seg.count / 2
            if let f = c.dupParaFrac, f != 0, Double(dups) / Double(count) > f { return .drop(reason: "dup_para_frac") }
            if let f = c.dupParaCharFrac, f != 0, Double(dupChars) / totalChars > f {
                return .drop(reason: "dup_para_char_frac")
            }
        }
        if c.dupLineFrac != nil || c.dupLineCharFrac != nil {
            var seg: [Int] = []
            seg.reserveCapacity(runs.count + 2)
            var start = 0
            var k = 0
            while k < runs.count { seg.append(start); seg.append(runs[k]); start = runs[k] + runs[k + 1]; k += 2 }
            seg.append(start); seg.append(n)
            let (dups, dupChars) = duplicates(p, seg)
            let count = seg.count / 2
            if let f = c.dupLineFrac, f != 0, Double(dups) / Double(count) > f { return .drop(reason: "dup_line_frac") }
            if let f = c.dupLineCharFrac, f != 0, Double(dupChars) / totalChars > f {
                return .drop(reason: "dup_line_char_frac")
            }
        }
        return nil
    }

    /// Count of segments equal to an earlier segment, and their total characters. `seg` holds start,end pairs.
    private func duplicates(_ p: UnsafePointer<UInt8>, _ seg: [Int]) -> (Int, Int) {
        let count = seg.count / 2
        var cap = 16
        while cap < count * 2 { cap <<= 1 }
        let mask = cap - 1
        var slots = [Int32](repeating: -1, count: cap)
        var hashes = [UInt64](repeating: 0, count: count)
        var dups = 0, dupChars = 0
        for k in 0..<count {
            let s = seg[2 * k], e = seg[2 * k + 1]
            let h = ByteKeyTable.hash(p, s, e - s)
            hashes[k] = h
            var slot = Int(truncatingIfNeeded: h >> 20) & mask
            var isDup = false
            while true {
                let o = Int(slots[slot])
                if o < 0 { slots[slot] = Int32(k); break }
                let os = seg[2 * o], oe = seg[2 * o + 1]
                if hashes[o] == h && oe - os == e - s && memEqual(p + s, p + os, e - s) { isDup = true; break }
                slot = (slot + 1) & mask
            }
            if isDup { dups += 1; dupChars += UTF8Bytes.scalarCount(p, s, e) }
        }
        return (dups, dupChars)
    }

    @inline(__always)
    private func findNewline(_ p: UnsafePointer<UInt8>, _ from: Int, _ n: Int) -> Int {
        var i = from
        let nl = SIMD16<UInt8>(repeating: 0x0A)
        while i + 16 <= n {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<UInt8>.self)
            if any(v .== nl) { break }
            i += 16
        }
        while i < n && p[i] != 0x0A { i += 1 }
        return i
    }

    private func continuationBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var count = 0
        var i = 0
        let top = SIMD16<UInt8>(repeating: 0xC0), cont = SIMD16<UInt8>(repeating: 0x80)
        while i + 16 <= n {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<UInt8>.self)
            let m = (v & top) .== cont
            if any(m) { for k in 0..<16 where m[k] { count += 1 } }
            i += 16
        }
        while i < n { if p[i] & 0xC0 == 0x80 { count += 1 }; i += 1 }
        return count
    }

    // MARK: - N-grams

    private func checkNGrams(_ stats: TextStats) -> FilterDecision {
        let c = config
        let count = stats.wordCount
        if c.topNGrams.isEmpty && c.dupNGrams.isEmpty { return .keep }
        let totalChars = Double(stats.charCount)
        let h = NGramHashes(stats)
        defer { h.release() }
        var table = CountTable(capacity: count)
        defer { table.release() }
        let cp = stats.charPrefix.base

        for limit in c.topNGrams {
            let n = limit.n
            if n <= 0 || count < n { continue }
            table.clear()
            let pw = h.wordPower(n)
            var bestCount: UInt32 = 0, bestFirst = Int.max
            for i in 0...(count - n) {
                let (cnt, first) = table.increment(h.sequenceKey(i, n, pw), index: UInt32(truncatingIfNeeded: i))
                if cnt > bestCount || (cnt == bestCount && Int(first) < bestFirst) {
                    bestCount = cnt
                    bestFirst = Int(first)
                }
            }
            let chars = Int(cp[bestFirst + n] - cp[bestFirst]) + (n - 1)
            if Double(chars) * Double(bestCount) / totalChars > limit.maxFraction { return .drop(reason: "top_\(n)_gram") }
        }
        for limit in c.dupNGrams {
            let n = limit.n
            var repeated = 0
            if n > 0 && count >= n {
                table.clear()
                var i = 0
                while i < count - n + 1 {
                    if table.insert(h.concatKey(i, n)) {
                        i += 1
                    } else {
                        repeated &+= Int(cp[i &+ n] &- cp[i])
                        i &+= n
                    }
                }
            }
            if Double(repeated) / totalChars > limit.maxFraction { return .drop(reason: "duplicated_\(n)_n_grams") }
        }
        return .keep
    }
}

/// Prefix hashes over the words of a document, giving O(1) hashes of any run of consecutive words:
/// `concatKey` hashes the run's bytes with the words joined without spaces (a polynomial hash over the
/// bytes, so equal character strings hash equal however they were split into words), `sequenceKey` hashes
/// the sequence of words (equal exactly when the words joined with single spaces are equal).
/// Owns raw memory: call `release()`.
struct NGramHashes {
    private static let base: UInt64 = 0x5851_F42D_4C95_7F2D        // odd
    private static let wordBase: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    /// base^k for k < powCount.
    private static let powCount = 1024
    nonisolated(unsafe) private static let pows: UnsafeMutablePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: powCount)
        var v: UInt64 = 1
        for k in 0..<powCount { p[k] = v; v = v &* base }
        return p
    }()

    private let concat: UnsafeMutablePointer<UInt64>    // [i]: polynomial hash of the bytes of words 0..<i
    private let byteOffset: UnsafeMutablePointer<Int>   // [i]: total bytes of words 0..<i
    private let sequence: UnsafeMutablePointer<UInt64>  // [i]: polynomial hash (over word hashes) of words 0..<i
    private let pw: UnsafeMutablePointer<UInt64>

    init(_ stats: TextStats) {
        let count = stats.wordCount
        let p = UnsafePointer(stats.storage.base)
        concat = .allocate(capacity: count + 1)
        byteOffset = .allocate(capacity: count + 1)
        sequence = .allocate(capacity: count + 1)
        pw = NGramHashes.pows
        let w = stats.words.base
        var c: UInt64 = 0, s: UInt64 = 0, off = 0
        concat[0] = 0; byteOffset[0] = 0; sequence[0] = 0
        for i in 0..<count {
            let ws = Int(w[2 &* i]), len = Int(w[2 &* i &+ 1]) &- ws
            var h: UInt64 = 0
            if len < NGramHashes.powCount {
                // Independent products: sum of byte * base^(len-1-j).
                var j = 0
                let top = pw + (len &- 1)
                let src = p + ws
                while j < len { h = h &+ UInt64(src[j]) &* top[-j]; j &+= 1 }
                c = c &* pw[len] &+ h
            } else {
                for j in 0..<len { h = h &* NGramHashes.base &+ UInt64(p[ws + j]) }
                c = c &* NGramHashes.power(len) &+ h
            }
            off += len
            var g = (h ^ (UInt64(len) &* 0xFF51_AFD7_ED55_8CCD)) &* 0xC4CE_B9FE_1A85_EC53
            g ^= g >> 33
            s = s &* NGramHashes.wordBase &+ g
            concat[i + 1] = c
            byteOffset[i + 1] = off
            sequence[i + 1] = s
        }
    }

    func release() { concat.deallocate(); byteOffset.deallocate(); sequence.deallocate() }

    static func power(_ k: Int) -> UInt64 {
        if k < powCount { return pows[k] }
        var result: UInt64 = 1, b = base, e = k
        while e > 0 { if e & 1 == 1 { result = result &* b }; b = b &* b; e >>= 1 }
        return result
    }

    func wordPower(_ n: Int) -> UInt64 {
        var v: UInt64 = 1
        for _ in 0..<n { v = v &* NGramHashes.wordBase }
        return v
    }

    @inline(__always)
    func concatKey(_ i: Int, _ n: Int) -> UInt64 {
        let len = byteOffset[i &+ n] &- byteOffset[i]
        let bp = len < NGramHashes.powCount ? pw[len] : NGramHashes.power(len)
        return concat[i &+ n] &- concat[i] &* bp
    }

    /// `power` must be `wordPower(n)`.
    @inline(__always)
    func sequenceKey(_ i: Int, _ n: Int, _ power: UInt64) -> UInt64 {
        sequence[i &+ n] &- sequence[i] &* power
    }
}

/// Open-addressing table of 64-bit keys with a count and the index of the first occurrence.
/// Owns raw memory: call `release()`.
struct CountTable {
    private struct Entry { var key: UInt64; var count: UInt32; var first: UInt32 }
    private let entries: UnsafeMutablePointer<Entry>
    private var used: RawArray<Int32>
    private let shift: UInt64
    private let mask: Int

    init(capacity: Int) {
        var cap = 16, bits: UInt64 = 4
        while cap < capacity * 4 { cap <<= 1; bits += 1 }
        entries = .allocate(capacity: cap)
        entries.initialize(repeating: Entry(key: 0, count: 0, first: 0), count: cap)
        shift = 64 - bits
        mask = cap - 1
        used = RawArray(capacity: capacity + 1)
    }

    func release() { entries.deallocate(); used.deallocate() }

    /// Empties the table (touching only the slots in use).
    mutating func clear() {
        for k in 0..<used.count { entries[Int(used[k])].key = 0 }
        used.removeAll()
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) &>> shift) }

    /// Adds one to the key's count; returns the new count and the key's first index.
    @inline(__always)
    mutating func increment(_ key0: UInt64, index: UInt32) -> (UInt32, UInt32) {
        let key = key0 == 0 ? 1 : key0
        var s = slot(key)
        while true {
            let e = entries + s
            let k = e.pointee.key
            if k == key { e.pointee.count &+= 1; return (e.pointee.count, e.pointee.first) }
            if k == 0 {
                e.pointee = Entry(key: key, count: 1, first: index)
                used.append(Int32(truncatingIfNeeded: s))
                return (1, index)
            }
            s = (s &+ 1) & mask
        }
    }

    /// Inserts the key; false when it was already present.
    @inline(__always)
    mutating func insert(_ key0: UInt64) -> Bool {
        let key = key0 == 0 ? 1 : key0
        var s = slot(key)
        while true {
            let e = entries + s
            let k = e.pointee.key
            if k == key { return false }
            if k == 0 { e.pointee.key = key; used.append(Int32(truncatingIfNeeded: s)); return true }
            s = (s &+ 1) & mask
        }
    }
}
