import Foundation
import RepriseCore

/// Keys for exact and near-duplicate detection, computed on worker threads; `Deduplicator` then decides
/// in input order, so the first document of a group is the one kept.
public struct Key128: Hashable, Sendable {
    public var hi: UInt64, lo: UInt64
}

public struct DedupKeys: Sendable {
    /// 128 bits of SHA-256 of the normalised text.
    public var exact: Key128?
    /// MinHash signature (bands × rows values), nil when the text has no words.
    public var signature: [UInt32]?

    public init(exact: Key128? = nil, signature: [UInt32]? = nil) {
        self.exact = exact
        self.signature = signature
    }
}

/// MinHash over word n-gram shingles. Words are maximal runs of letters and digits (ASCII lowercased;
/// any non-ASCII scalar that is not a space counts as a letter), except that each CJK character is a word
/// of its own, so texts without spaces still get meaningful shingles.
public struct MinHasher: Sendable {
    public let ngram: Int
    public let hashes: Int
    private let a: [UInt64]
    private let b: [UInt64]

    public init(ngram: Int, hashes: Int, seed: UInt64) {
        self.ngram = ngram
        self.hashes = hashes
        var rng = SplitMix64(seed: seed)
        a = (0..<hashes).map { _ in rng.next() | 1 }
        b = (0..<hashes).map { _ in rng.next() }
    }

    /// Word hashes of a text, in order.
    public static func wordHashes(_ text: String) -> [UInt64] {
        var text = text
        return text.withUTF8 { s in
            var out: [UInt64] = []
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            var inWord = false
            @inline(__always) func flush() {
                if inWord { out.append(h); h = 0xcbf2_9ce4_8422_2325; inWord = false }
            }
            var i = 0
            let n = s.count
            while i < n {
                let c = s[i]
                if c < 0x80 {
                    let isAlnum = (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A)
                    if isAlnum {
                        let lower = (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
                        h = (h ^ UInt64(lower)) &* 0x0000_0100_0000_01B3
                        inWord = true
                    } else { flush() }
                    i += 1
                    continue
                }
                let len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2
                let end = min(n, i + len)
                // CJK ideographs, kana, hangul and CJK symbols start with E2..EF, F0 (3/4-byte forms at
                // U+2E80 and above): each is a word of its own.
                let cjk = c >= 0xE2 && (c > 0xE2 || s[i + 1] >= 0xBA)
                let space = (c == 0xC2 && i + 1 < n && s[i + 1] == 0xA0) || (c == 0xE3 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] <= 0x82)
                if space { flush(); i = end; continue }
                if cjk { flush() }
                for k in i..<end { h = (h ^ UInt64(s[k])) &* 0x0000_0100_0000_01B3 }
                inWord = true
                if cjk { flush() }
                i = end
            }
            flush()
            return out
        }
    }

    public func signature(_ text: String) -> [UInt32]? {
        let words = MinHasher.wordHashes(text)
        if words.isEmpty { return nil }
        var mins = [UInt64](repeating: .max, count: hashes)
        let n = max(1, words.count - ngram + 1)
        mins.withUnsafeMutableBufferPointer { m in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    for start in 0..<n {
                        var sh: UInt64 = 0
                        for k in start..<min(start + ngram, words.count) { sh = Hashing.mix64(sh ^ words[k]) }
                        for j in 0..<m.count {
                            let v = sh &* a[j] &+ b[j]
                            if v < m[j] { m[j] = v }
                        }
                    }
                }
            }
        }
        return mins.map { UInt32(truncatingIfNeeded: $0 >> 32) }
    }
}

/// Decides duplicates in input order. Exact duplicates share the hash of their normalised text; near
/// duplicates share at least one LSH band with an earlier kept document and agree on at least
/// `threshold` of their MinHash values.
public final class Deduplicator {
    let config: DedupConfig
    private var exactSeen: [Key128: String] = [:]     // text hash → id of the kept document
    private var bandTables: [[UInt64: Int32]]
    private var signatures: [[UInt32]] = []
    private var ids: [String] = []

    public init(_ config: DedupConfig) {
        self.config = config
        bandTables = Array(repeating: [:], count: config.bands)
    }

    /// Returns nil for a new document (and remembers it), or (reason, id of the earlier document).
    public func check(id: String, keys: DedupKeys) -> (reason: String, duplicateOf: String)? {
        if config.exact, let key = keys.exact, let first = exactSeen[key] { return ("exact_duplicate", first) }
        var bandKeys: [UInt64] = []
        if config.minhash, let sig = keys.signature {
            bandKeys.reserveCapacity(config.bands)
            for band in 0..<config.bands {
                var h: UInt64 = UInt64(band) &* 0x9E37_79B9_7F4A_7C15
                for r in 0..<config.rows { h = Hashing.mix64(h ^ UInt64(sig[band * config.rows + r])) }
                bandKeys.append(h)
            }
            var checked = Set<Int32>()
            for (band, key) in bandKeys.enumerated() {
                guard let other = bandTables[band][key], checked.insert(other).inserted else { continue }
                let otherSig = signatures[Int(other)]
                var equal = 0
                for j in 0..<sig.count where sig[j] == otherSig[j] { equal += 1 }
                if Double(equal) >= config.threshold * Double(sig.count) {
                    return ("near_duplicate", ids[Int(other)])
                }
            }
        }
        // A new document: remember it.
        if config.exact, let key = keys.exact { exactSeen[key] = id }
        if let sig = keys.signature, !bandKeys.isEmpty {
            let index = Int32(signatures.count)
            signatures.append(sig); ids.append(id)
            for (band, key) in bandKeys.enumerated() where bandTables[band][key] == nil {
                bandTables[band][key] = index
            }
        }
        return nil
    }
}
