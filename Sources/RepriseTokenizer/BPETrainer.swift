import Foundation
import RepriseCore

/// One learned merge: the tokens `left` and `right`, adjacent inside a pre-token, become one token.
/// Merge i creates token 256 + i.
public struct BPEMerge: Hashable, Sendable {
    public var left: UInt32
    public var right: UInt32
    public init(_ left: UInt32, _ right: UInt32) { self.left = left; self.right = right }
}

/// Byte-level BPE training from pre-token counts.
///
/// Rule: at each step the adjacent pair with the highest total count (over all pre-tokens, weighted by
/// their counts) is merged; ties go to the smallest (left id, right id). The result depends only on the
/// multiset of (pre-token, count), so the same counts give the same merges whatever the thread count or
/// document order that produced them.
///
/// Algorithm (incremental, no recount per merge):
/// - each distinct pre-token of 2+ bytes is a word: its symbol ids (in one flat array) and its count;
/// - each pair has a count and the list of words that contained it when it was counted (lists may hold
///   stale entries; a word is skipped when it no longer holds the pair);
/// - a binary max-heap of (count, pair) with lazy invalidation: an entry whose count is out of date is
///   re-pushed with the current count when it reaches the top;
/// - a merge rewrites only the words on the merged pair's list, left to right, non-overlapping, and
///   applies the count changes of the neighbouring pairs as it goes. New pairs (which contain the new token)
///   go onto the heap once the merge is done;
/// - words longer than `longWordSymbols` (a 1 MB run of letters or punctuation is one pre-token) are
///   linked lists instead, and their pairs list positions rather than words, so a merge visits only the
///   positions where the pair occurs (in ascending order, which keeps left-to-right semantics) instead of
///   rescanning the whole word. A 1 MB pre-token of random letters added 4 s to a 32k-vocab training run on
///   100 MB with rescans, 0.3 s by position.
///
/// Should the best pair's bytes already form a token (two pairs spelling the same bytes, "a"+"bc" and
/// "ab"+"c"), the words are rewritten to the existing token and no vocabulary slot is used, so token byte
/// strings stay unique, as the tiktoken format and the HF vocab object require. Left-to-right merging
/// makes this rare (it never happened on 100 MB of English; `Stats.repeatedMerges` counts it).
public enum BPETrainer {
    public struct Stats: Sendable {
        /// Distinct pre-tokens of two or more bytes (single bytes have no pairs).
        public var words = 0
        /// Merges that produced a new token.
        public var merges = 0
        /// Merges whose result was already a token (see the type's documentation).
        public var repeatedMerges = 0
        /// Distinct pairs seen during training.
        public var pairs = 0
    }

    /// Trains `vocabSize - 256 - specialTokens.count` merges (fewer when the corpus runs out of pairs).
    /// `progress` is called after every merge with the number of merges done.
    public static func train(counts: PreTokenCounter, vocabSize: Int, specialTokens: [String],
                             progress: ((Int) -> Void)? = nil) throws -> BPEModel {
        try trainWithStats(counts: counts, vocabSize: vocabSize, specialTokens: specialTokens,
                           progress: progress).model
    }

    public static func trainWithStats(counts: PreTokenCounter, vocabSize: Int, specialTokens: [String],
                                      progress: ((Int) -> Void)? = nil) throws -> (model: BPEModel, stats: Stats) {
        try trainWithStats(counts: counts, vocabSize: vocabSize, specialTokens: specialTokens, progress: progress,
                           longWordSymbols: 256)
    }

    /// `longWordSymbols`: words longer than this are trained by position (see the type's documentation);
    /// tests lower it to run every word through that path.
    static func trainWithStats(counts: PreTokenCounter, vocabSize: Int, specialTokens: [String],
                               progress: ((Int) -> Void)? = nil,
                               longWordSymbols: Int) throws -> (model: BPEModel, stats: Stats) {
        try BPEModel.checkSpecials(specialTokens)
        let target = vocabSize - 256 - specialTokens.count
        guard target >= 0 else {
            throw RepriseError("vocab size \(vocabSize) is too small: it must hold the 256 byte tokens and "
                + "\(specialTokens.count) special tokens; use at least \(256 + specialTokens.count)")
        }
        let core = TrainerCore(counts: counts, longWordSymbols: longWordSymbols)
        core.run(target: target, progress: progress)
        let model = try BPEModel(merges: core.merges, specialTokens: specialTokens)
        return (model, core.stats)
    }
}

struct HeapEntry: HeapOrdered {
    var count: UInt64
    var key: UInt64
    /// Heap order: higher count first, then the smaller pair.
    @inline(__always) func before(_ o: HeapEntry) -> Bool { count > o.count || (count == o.count && key < o.key) }
}

/// The trainer's state. Single-threaded; all arrays are owned here.
final class TrainerCore {
    // Words: symbols of word w are sym[wStart[w] ..< wStart[w] + wLen[w]].
    private var sym = RawArray<UInt32>(capacity: 1 << 16)
    private var wStart = RawArray<Int>()
    private var wLen = RawArray<Int32>()
    private var wCount = RawArray<UInt64>()
    private var wStamp = RawArray<UInt32>()

    // Pairs, numbered in order of first appearance.
    private let pairIndex = PairTable(capacity: 1 << 16)
    private var pKey = RawArray<UInt64>()
    private var pCount = RawArray<UInt64>()
    private var pBefore = RawArray<UInt64>()
    private var pStamp = RawArray<UInt32>()
    private var pWhere: [[UInt32]] = []
    /// Positions (in `lsym`) where the pair starts inside a long word.
    private var pLong: [[Int32]] = []
    /// Whether there are long words; without them `pLong` stays empty and is never touched.
    private var hasLong = false

    // Long words: symbols in `lsym` as doubly linked lists (-1 ends a word); merged-away symbols are `dead`.
    private var lsym = RawArray<UInt32>()
    private var lnext = RawArray<Int32>()
    private var lprev = RawArray<Int32>()
    private var lword = RawArray<Int32>()
    private var lwCount = RawArray<UInt64>()
    private static let dead = UInt32.max

    private var heap = BinaryHeap<HeapEntry>()
    private var touched = RawArray<UInt32>()
    private var stamp: UInt32 = 0

    private(set) var merges: [BPEMerge] = []
    private var tokenBytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    private var tokenIds: [[UInt8]: UInt32] = [:]
    private(set) var stats = BPETrainer.Stats()

    init(counts: PreTokenCounter, longWordSymbols: Int) {
        let t = counts.table
        for e in 0..<t.count where t.keyLength(e) > longWordSymbols && t.value(e) > 0 { hasLong = true }
        var total = 0
        for e in 0..<t.count where t.keyLength(e) >= 2 && t.keyLength(e) <= longWordSymbols && t.value(e) > 0 {
            total += t.keyLength(e)
        }
        sym.reserve(total)
        for e in 0..<t.count where t.keyLength(e) >= 2 && t.value(e) > 0 {
            let k = t.key(e)
            if k.count > longWordSymbols {
                precondition(lsym.count + k.count < Int(Int32.max), "BPE training: more than 2 GB in long pre-tokens")
                let w = Int32(lwCount.count)
                lwCount.append(t.value(e))
                let first = lsym.count
                for (i, b) in k.enumerated() {
                    lsym.append(UInt32(b))
                    lnext.append(i + 1 < k.count ? Int32(first + i + 1) : -1)
                    lprev.append(i > 0 ? Int32(first + i - 1) : -1)
                    lword.append(w)
                }
                continue
            }
            wStart.append(sym.count)
            wLen.append(Int32(k.count))
            wCount.append(t.value(e))
            wStamp.append(0)
            for b in k { sym.append(UInt32(b)) }
        }
        stats.words = wLen.count + lwCount.count
        for b in 0..<256 { tokenIds[[UInt8(b)]] = UInt32(b) }

        // Initial pair counts.
        for w in 0..<wLen.count {
            let base = sym.ptr + wStart[w]
            let c = wCount[w]
            for i in 0..<Int(wLen[w]) - 1 {
                let p = pair(PairTable.key(base[i], base[i + 1]))
                pCount[p] += c
                if pWhere[p].last != UInt32(w) { pWhere[p].append(UInt32(w)) }
            }
        }
        for i in 0..<lsym.count where lnext[i] >= 0 {
            let p = pair(PairTable.key(lsym[i], lsym[Int(lnext[i])]))
            pCount[p] += lwCount[Int(lword[i])]
            pLong[p].append(Int32(i))
        }
        heap = BinaryHeap((0..<pKey.count).lazy.filter { self.pCount[$0] > 0 }.map { HeapEntry(count: self.pCount[$0], key: self.pKey[$0]) })
    }

    deinit {
        sym.deallocate(); wStart.deallocate(); wLen.deallocate(); wCount.deallocate(); wStamp.deallocate()
        pKey.deallocate(); pCount.deallocate(); pBefore.deallocate(); pStamp.deallocate()
        touched.deallocate()
        lsym.deallocate(); lnext.deallocate(); lprev.deallocate(); lword.deallocate(); lwCount.deallocate()
    }

    /// Index of a pair, created with count 0 when new.
    @inline(__always) private func pair(_ key: UInt64) -> Int {
        let r = pairIndex.getOrInsert(key) { UInt32(self.pKey.count) }
        if r.inserted {
            pKey.append(key); pCount.append(0); pBefore.append(0); pStamp.append(0)
            pWhere.append([])
            if hasLong { pLong.append([]) }
        }
        return Int(r.value)
    }

    // MARK: merging

    func run(target: Int, progress: ((Int) -> Void)?) {
        while merges.count < target {
            guard let top = heap.pop() else { break }
            let p = Int(pairIndex.get(top.key))
            let actual = pCount[p]
            if actual != top.count {
                // Counts of existing pairs only fall, except after a repeated merge; a higher current
                // count has its own entry already.
                if actual > 0 && actual < top.count { heap.push(HeapEntry(count: actual, key: top.key)) }
                continue
            }
            let a = UInt32(truncatingIfNeeded: top.key >> 32), b = UInt32(truncatingIfNeeded: top.key)
            let bytes = tokenBytes[Int(a)] + tokenBytes[Int(b)]
            let newId: UInt32
            let created: Bool
            if let existing = tokenIds[bytes] {
                newId = existing
                created = false
                stats.repeatedMerges += 1
            } else {
                newId = UInt32(tokenBytes.count)
                tokenBytes.append(bytes)
                tokenIds[bytes] = newId
                merges.append(BPEMerge(a, b))
                created = true
            }
            apply(pair: p, a: a, b: b, newId: newId)
            if created, let progress { progress(merges.count) }
        }
        stats.merges = merges.count
        stats.pairs = pKey.count
    }

    /// Replaces every (a, b) in the words that hold it by `newId` and updates the pair counts.
    private func apply(pair p: Int, a: UInt32, b: UInt32, newId: UInt32) {
        stamp &+= 1
        let mergedKey = pKey[p]
        let words = pWhere[p]
        pWhere[p] = []
        pCount[p] = 0
        touched.removeAll()
        let s = stamp

        for w32 in words {
            let w = Int(w32)
            if wStamp[w] == s { continue }
            wStamp[w] = s
            let base = sym.ptr + wStart[w]
            let len = Int(wLen[w])
            let c = wCount[w]
            var r = 0, out = 0
            while r < len {
                if base[r] == a && r + 1 < len && base[r + 1] == b {
                    if out > 0 {
                        let prev = base[out - 1]
                        decrement(PairTable.key(prev, a), c, mergedKey)
                        increment(PairTable.key(prev, newId), c, w32)
                    }
                    if r + 2 < len {
                        let next = base[r + 2]
                        decrement(PairTable.key(b, next), c, mergedKey)
                        increment(PairTable.key(newId, next), c, w32)
                    }
                    base[out] = newId
                    out += 1
                    r += 2
                } else {
                    base[out] = base[r]
                    out += 1
                    r += 1
                }
            }
            wLen[w] = Int32(out)
        }

        // Long words: the listed positions, left to right; a stale one no longer starts (a, b).
        if hasLong && !pLong[p].isEmpty {
            var positions = pLong[p]
            pLong[p] = []
            positions.sort()
            for pos in positions {
                let i = Int(pos)
                if lsym[i] != a { continue }
                let j = Int(lnext[i])
                if j < 0 || lsym[j] != b { continue }
                let c = lwCount[Int(lword[i])]
                let prev = Int(lprev[i])
                if prev >= 0 {
                    decrement(PairTable.key(lsym[prev], a), c, mergedKey)
                    incrementLong(PairTable.key(lsym[prev], newId), c, Int32(prev))
                }
                let next = Int(lnext[j])
                if next >= 0 {
                    decrement(PairTable.key(b, lsym[next]), c, mergedKey)
                    incrementLong(PairTable.key(newId, lsym[next]), c, pos)
                    lprev[next] = pos
                }
                lsym[i] = newId
                lsym[j] = TrainerCore.dead
                lnext[i] = Int32(next)
            }
        }
        for i in 0..<touched.count {
            let q = Int(touched[i])
            if pCount[q] > pBefore[q] { heap.push(HeapEntry(count: pCount[q], key: pKey[q])) }
        }
    }

    @inline(__always) private func decrement(_ key: UInt64, _ c: UInt64, _ mergedKey: UInt64) {
        if key == mergedKey { return }
        let q = Int(pairIndex.get(key))
        pCount[q] -= c
        if pCount[q] == 0 {  // no word holds it any more: free the lists
            pWhere[q] = []
            if hasLong { pLong[q] = [] }
        }
    }

    @inline(__always) private func increment(_ key: UInt64, _ c: UInt64, _ w: UInt32) {
        let q = pair(key)
        if pStamp[q] != stamp {
            pStamp[q] = stamp
            pBefore[q] = pCount[q]
            touched.append(UInt32(q))
        }
        pCount[q] += c
        if pWhere[q].last != w { pWhere[q].append(w) }
    }

    @inline(__always) private func incrementLong(_ key: UInt64, _ c: UInt64, _ pos: Int32) {
        let q = pair(key)
        if pStamp[q] != stamp {
            pStamp[q] = stamp
            pBefore[q] = pCount[q]
            touched.append(UInt32(q))
        }
        pCount[q] += c
        pLong[q].append(pos)
    }
}
