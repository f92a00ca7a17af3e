import Foundation
import RepriseCore

/// A trained byte-level BPE tokenizer.
///
/// Ids: 0..<256 are the bytes (id = byte value), 256 + i is the token of merge i, and the special tokens
/// follow in the order given (`256 + merges.count + j`). Ordinary tokens have distinct byte strings.
///
/// Encoding (tiktoken's algorithm): each pre-token that is itself a token is emitted as that token;
/// otherwise it starts as bytes and the adjacent pair whose concatenation is the token of lowest id
/// (rank) is merged, leftmost first on ties, until no adjacent pair spells a token. Pieces up to
/// `longPieceBytes` use tiktoken's array scan; longer ones a heap over a linked list (O(n log n)).
/// Special tokens are produced only by `encode(_:allowedSpecial:split:)` for the names allowed there;
/// ordinary encoding treats their text as the bytes it is.
public struct BPEModel: Sendable, Equatable {
    public let merges: [BPEMerge]
    /// Special token names in id order.
    public let specialTokens: [String]
    let tables: BPETables

    /// Builds the model from merges (merge i creates token 256 + i).
    public init(merges: [BPEMerge], specialTokens: [String]) throws {
        try BPEModel.checkSpecials(specialTokens)
        var bytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        bytes.reserveCapacity(256 + merges.count)
        for (i, m) in merges.enumerated() {
            let id = 256 + i
            guard m.left < id, m.right < id else {
                throw RepriseError("merge \(i) (\(m.left), \(m.right)) uses a token that does not exist before it")
            }
            bytes.append(bytes[Int(m.left)] + bytes[Int(m.right)])
        }
        self.merges = merges
        self.specialTokens = specialTokens
        tables = try BPETables(ordinary: bytes, specials: specialTokens)
    }

    /// Builds the model from the ordinary tokens' bytes in rank order (as a tiktoken file lists them):
    /// each token's merge is recovered as tiktoken does, by encoding its bytes with the lower ranks only,
    /// which must leave exactly two tokens.
    public init(ordinaryTokens: [[UInt8]], specialTokens: [String]) throws {
        try BPEModel.checkSpecials(specialTokens)
        guard ordinaryTokens.count >= 256 else {
            throw RepriseError("a byte-level BPE vocabulary starts with the 256 single bytes; got \(ordinaryTokens.count) tokens")
        }
        for b in 0..<256 where ordinaryTokens[b] != [UInt8(b)] {
            throw RepriseError("token \(b) must be the single byte \(b) (ids 0..<256 are the bytes)")
        }
        let t = try BPETables(ordinary: ordinaryTokens, specials: specialTokens)
        let enc = BPEEncoder(tables: t, split: { _, _ in })
        var merges: [BPEMerge] = []
        merges.reserveCapacity(ordinaryTokens.count - 256)
        var parts: [UInt32] = []
        for id in 256..<ordinaryTokens.count {
            parts.removeAll(keepingCapacity: true)
            ordinaryTokens[id].withUnsafeBufferPointer { enc.bpe($0.baseAddress!, $0.count, maxRank: UInt32(id), into: &parts) }
            guard parts.count == 2 else {
                throw RepriseError("token \(id) cannot be built by merging two lower-ranked tokens")
            }
            merges.append(BPEMerge(parts[0], parts[1]))
        }
        self.merges = merges
        self.specialTokens = specialTokens
        tables = t
    }

    static func checkSpecials(_ specials: [String]) throws {
        var seen = Set<String>()
        for s in specials {
            if s.isEmpty { throw RepriseError("special tokens must not be empty") }
            if !seen.insert(s).inserted { throw RepriseError("special token \(s) is listed twice") }
        }
    }

    public static func == (a: BPEModel, b: BPEModel) -> Bool {
        a.merges == b.merges && a.specialTokens == b.specialTokens
    }

    /// 256 + merges: the tokens text can produce.
    public var ordinaryCount: Int { 256 + merges.count }
    /// All ids, special tokens included.
    public var vocabSize: Int { ordinaryCount + specialTokens.count }

    /// Special token name → id.
    public var specials: [String: UInt32] {
        var d: [String: UInt32] = [:]
        for (j, s) in specialTokens.enumerated() { d[s] = UInt32(ordinaryCount + j) }
        return d
    }

    /// The bytes of a token (for a special token, its name's UTF-8).
    public func tokenBytes(_ id: UInt32) -> [UInt8] {
        precondition(Int(id) < tables.idCount, "token id \(id) is outside the vocabulary (\(tables.idCount) ids)")
        return Array(tables.bytes(of: Int(id)))
    }

    /// id → bytes for every id.
    public var vocab: [[UInt8]] { (0..<vocabSize).map { tokenBytes(UInt32($0)) } }

    /// The id of an ordinary token's bytes, if it is one.
    public func id(ofBytes bytes: [UInt8]) -> UInt32? {
        bytes.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress, b.count > 0 else { return nil }
            let e = tables.tokens.find(p, b.count, hash: hashBytes(p, b.count))
            return e < 0 ? nil : UInt32(e)
        }
    }

    // MARK: encoding

    /// An encoder with its own cache of recent pre-tokens; use one per thread.
    public func makeEncoder(split: @escaping PreTokenSplitter) -> BPEEncoder {
        BPEEncoder(tables: tables, split: split)
    }

    /// Encodes ordinary text: special token names are encoded as their bytes.
    public func encode(_ bytes: [UInt8], split: @escaping PreTokenSplitter) -> [UInt32] {
        makeEncoder(split: split).encode(bytes)
    }

    /// Encodes text, turning the special tokens named in `allowedSpecial` into their ids.
    public func encode(_ text: String, allowedSpecial: Set<String>, split: @escaping PreTokenSplitter) -> [UInt32] {
        makeEncoder(split: split).encode(Array(text.utf8), allowedSpecial: allowedSpecial)
    }

    /// Encodes documents on `threads` threads (one encoder each); the result is the same as one thread's.
    public func encodeBatch(documents: [[UInt8]], threads: Int = defaultThreadCount,
                            split: @escaping PreTokenSplitter) -> [[UInt32]] {
        var results = [[UInt32]](repeating: [], count: documents.count)
        let threads = max(1, min(threads, documents.count))
        let chunk = max(1, min(256, documents.count / (threads * 16)))
        let chunks = (documents.count + chunk - 1) / chunk
        let work = WorkCounter()
        let tables = self.tables
        results.withUnsafeMutableBufferPointer { res in
            // Each document's slot is written by exactly one thread (chunks are handed out once).
            let out = UncheckedSendable(res)
            onThreads(threads) { _ in
                let enc = BPEEncoder(tables: tables, split: split)
                while true {
                    let c = work.take()
                    if c >= chunks { break }
                    for i in (c * chunk)..<min(documents.count, (c + 1) * chunk) {
                        out.value[i] = enc.encode(documents[i])
                    }
                }
            }
        }
        return results
    }

    // MARK: decoding

    /// The bytes of the ids (special tokens give their names). decode(encode(x)) == x for every x.
    public func decode(_ ids: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        let t = tables
        for id in ids {
            precondition(Int(id) < t.idCount, "decode: id \(id) is outside the vocabulary (\(t.idCount) ids)")
            out.append(contentsOf: t.bytes(of: Int(id)))
        }
        return out
    }
}

/// The lookup tables shared by all encoders of a model. Immutable after `init`, so sharing one instance
/// between threads is safe; that is why it is `@unchecked Sendable`.
final class BPETables: @unchecked Sendable {
    /// Bytes of every id (ordinary, then specials): arena[start[id] ..< start[id + 1]].
    private let arena: RawArray<UInt8>
    private let start: RawArray<Int>
    /// Ordinary token bytes → id (entry number = id).
    let tokens: ByteKeyTable
    /// (left, right) → id of the token spelled by their concatenation, for every such pair of tokens.
    let pairs: PairTable
    /// The same for pairs of single bytes, as a direct table indexed by b0 << 8 | b1 (UInt32.max: none):
    /// the first round of every merge loop looks up byte pairs.
    let bytePairs: RawArray<UInt32>
    let ordinaryCount: Int
    let idCount: Int
    let specials: [[UInt8]]

    init(ordinary: [[UInt8]], specials: [String]) throws {
        ordinaryCount = ordinary.count
        idCount = ordinary.count + specials.count
        self.specials = specials.map { Array($0.utf8) }
        let tokens = ByteKeyTable(capacity: ordinary.count)
        for (id, b) in ordinary.enumerated() {
            guard !b.isEmpty else { throw RepriseError("token \(id) is empty") }
            let r = b.withUnsafeBufferPointer {
                tokens.findOrInsert($0.baseAddress!, $0.count, hash: hashBytes($0.baseAddress!, $0.count), initial: UInt64(id))
            }
            guard r.inserted else {
                throw RepriseError("tokens \(r.entry) and \(id) have the same bytes; token byte strings must be distinct")
            }
        }
        var arena = RawArray<UInt8>(capacity: 1 << 16)
        var start = RawArray<Int>()
        start.append(0)
        for b in ordinary + self.specials {
            b.withUnsafeBufferPointer { arena.append(contentsOf: $0.baseAddress!, count: $0.count) }
            start.append(arena.count)
        }
        // Every split of every token into two tokens: tiktoken merges any adjacent pair whose bytes
        // form a token, so the encoder needs all of them, not only the pair that created the token.
        // The splits of a token come from a trie of the tokens (which prefixes are tokens) and one of the
        // reversed tokens (which suffixes are), so a token of L bytes costs O(L). Looking up both halves
        // of each split by hash cost O(L²): a trained 128 KB token (one run of a single letter) took minutes.
        let pairs = PairTable(capacity: ordinary.count * 2)
        let bytePairs = RawArray<UInt32>(repeating: UInt32.max, count: 1 << 16)
        let forward = ByteTrie(), backward = ByteTrie()
        for (id, b) in ordinary.enumerated() {
            b.withUnsafeBufferPointer {
                forward.insert($0, value: UInt32(id))
                backward.insert($0, reversed: true, value: UInt32(id))
            }
        }
        var left = RawArray<UInt32>()   // left[k]: the token spelled by the first k bytes, or UInt32.max
        defer { left.deallocate() }
        for id in 256..<max(256, ordinary.count) {
            ordinary[id].withUnsafeBufferPointer { p in
                let n = p.count
                left.resize(n + 1)
                left.ptr.update(repeating: UInt32.max, count: n + 1)
                forward.prefixes(of: p) { k, l in left[k] = l }
                backward.prefixes(of: p, reversed: true) { m, r in
                    let k = n - m
                    if k > 0 && left[k] != UInt32.max { pairs.insertIfMissing(PairTable.key(left[k], r), UInt32(id)) }
                }
                if n == 2 { bytePairs[Int(p[0]) << 8 | Int(p[1])] = UInt32(id) }
            }
        }
        self.tokens = tokens
        self.pairs = pairs
        self.bytePairs = bytePairs
        self.arena = arena
        self.start = start
    }

    deinit { arena.deallocate(); start.deallocate(); bytePairs.deallocate() }

    @inline(__always) func bytes(of id: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: arena.ptr + start[id], count: start[id + 1] - start[id])
    }
}

/// Encodes text with one model. Keeps a cache of pre-tokens that needed merging (up to `cacheEntries`,
/// then cleared) and scratch buffers, so it is meant for one thread; make one per thread.
public final class BPEEncoder {
    let tables: BPETables
    let split: PreTokenSplitter

    /// Pieces longer than this use the heap algorithm (the scan is O(n²)).
    static let longPieceBytes = 128
    /// Pieces longer than this are not cached.
    static let cachePieceBytes = 64
    static let cacheEntries = 1 << 16

    private let cache = ByteKeyTable(capacity: 4096)
    private var cacheIds = RawArray<UInt32>(capacity: 1 << 14)
    private var ids = RawArray<UInt32>(capacity: 256)
    private var ranks = RawArray<UInt32>(capacity: 256)
    // Long pieces: a doubly linked list of parts (indexed by start byte) and a min-heap of (rank, start).
    private var nextPart = RawArray<Int32>()
    private var prevPart = RawArray<Int32>()
    private var partRank = RawArray<UInt32>()
    private var heap = RawArray<UInt64>()

    init(tables: BPETables, split: @escaping PreTokenSplitter) {
        self.tables = tables
        self.split = split
    }

    deinit {
        cacheIds.deallocate(); ids.deallocate(); ranks.deallocate()
        nextPart.deallocate(); prevPart.deallocate(); partRank.deallocate(); heap.deallocate()
    }

    /// Encodes ordinary text (no special tokens).
    public func encode(_ bytes: [UInt8]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(bytes.count / 3 + 16)
        bytes.withUnsafeBufferPointer { encode($0, into: &out) }
        return out
    }

    /// Appends the ids of ordinary text (no special tokens) to `out`.
    public func encode(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt32]) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        split(bytes) { r in
            if r.isEmpty { return }
            encodePiece(base + r.lowerBound, r.count, &out)
        }
    }

    /// Encodes text, turning occurrences of the allowed special token names into their ids (the longest
    /// name wins where several start at the same byte). Other special names are ordinary text.
    public func encode(_ bytes: [UInt8], allowedSpecial: Set<String>) -> [UInt32] {
        var out: [UInt32] = []
        var candidates: [(bytes: [UInt8], id: UInt32)] = []
        for (j, s) in tables.specials.enumerated() where allowedSpecial.contains(String(decoding: s, as: UTF8.self)) {
            candidates.append((s, UInt32(tables.ordinaryCount + j)))
        }
        if candidates.isEmpty { return encode(bytes) }
        candidates.sort { $0.bytes.count > $1.bytes.count }
        var first = [Bool](repeating: false, count: 256)
        for c in candidates { first[Int(c.bytes[0])] = true }
        bytes.withUnsafeBufferPointer { buf in
            let n = buf.count
            var segStart = 0, i = 0
            outer: while i < n {
                if first[Int(buf[i])] {
                    for c in candidates where c.bytes.count <= n - i {
                        if memcmp(buf.baseAddress! + i, c.bytes, c.bytes.count) == 0 {
                            encode(UnsafeBufferPointer(rebasing: buf[segStart..<i]), into: &out)
                            out.append(c.id)
                            i += c.bytes.count
                            segStart = i
                            continue outer
                        }
                    }
                }
                i += 1
            }
            encode(UnsafeBufferPointer(rebasing: buf[segStart..<n]), into: &out)
        }
        return out
    }

    @inline(__always)
    private func encodePiece(_ p: UnsafePointer<UInt8>, _ n: Int, _ out: inout [UInt32]) {
        if n == 1 { out.append(UInt32(p[0])); return }
        let h = hashBytes(p, n)
        let e = tables.tokens.find(p, n, hash: h)
        if e >= 0 { out.append(UInt32(e)); return }
        let cacheable = n <= BPEEncoder.cachePieceBytes
        if cacheable {
            let c = cache.find(p, n, hash: h)
            if c >= 0 {
                let v = cache.value(c)
                out.append(contentsOf: UnsafeBufferPointer(start: cacheIds.ptr + Int(v >> 32), count: Int(v & 0xFFFF_FFFF)))
                return
            }
        }
        let before = out.count
        bpe(p, n, maxRank: UInt32.max, into: &out)
        if cacheable {
            if cache.count >= BPEEncoder.cacheEntries { cache.removeAll(); cacheIds.removeAll() }
            let at = cacheIds.count
            for i in before..<out.count { cacheIds.append(out[i]) }
            _ = cache.findOrInsert(p, n, hash: h, initial: UInt64(at) << 32 | UInt64(out.count - before))
        }
    }

    /// The id of the token spelled by l followed by r, if it is below maxRank; else UInt32.max.
    @inline(__always) private func rank(_ l: UInt32, _ r: UInt32, _ maxRank: UInt32) -> UInt32 {
        let v = tables.pairs.get(PairTable.key(l, r))
        return v < maxRank ? v : UInt32.max
    }

    @inline(__always) private func byteRank(_ b0: UInt8, _ b1: UInt8, _ maxRank: UInt32) -> UInt32 {
        let v = tables.bytePairs[Int(b0) << 8 | Int(b1)]
        return v < maxRank ? v : UInt32.max
    }

    /// BPE-merges the bytes p[0..<n] using tokens below maxRank and appends the result.
    func bpe(_ p: UnsafePointer<UInt8>, _ n: Int, maxRank: UInt32, into out: inout [UInt32], forceLong: Bool? = nil) {
        if forceLong ?? (n > BPEEncoder.longPieceBytes) {
            bpeLong(p, n, maxRank, &out)
        } else {
            bpeShort(p, n, maxRank, &out)
        }
    }

    /// tiktoken's scan: find the lowest rank, merge, update the two neighbouring ranks. O(n²).
    private func bpeShort(_ p: UnsafePointer<UInt8>, _ n: Int, _ maxRank: UInt32, _ out: inout [UInt32]) {
        ids.resize(n)
        ranks.resize(n)
        let ids = self.ids.ptr, ranks = self.ranks.ptr
        for i in 0..<n { ids[i] = UInt32(p[i]) }
        for i in 0..<(n - 1) { ranks[i] = byteRank(p[i], p[i + 1], maxRank) }
        var m = n
        while m > 1 {
            var best = UInt32.max, at = -1
            for i in 0..<(m - 1) where ranks[i] < best { best = ranks[i]; at = i }
            if at < 0 { break }
            ids[at] = best
            // Drop part at + 1; the pairs right of it shift left by one.
            if at + 2 < m {
                (ids + at + 1).update(from: ids + at + 2, count: m - at - 2)
                (ranks + at + 1).update(from: ranks + at + 2, count: m - at - 2)
            }
            m -= 1
            if at + 1 < m { ranks[at] = rank(ids[at], ids[at + 1], maxRank) }
            if at > 0 { ranks[at - 1] = rank(ids[at - 1], ids[at], maxRank) }
        }
        out.append(contentsOf: UnsafeBufferPointer(start: ids, count: m))
    }

    /// The same merges for long pieces: parts form a linked list (named by their start byte) and the
    /// candidate pairs sit in a min-heap keyed (rank, start), so the leftmost lowest rank pops first.
    /// An entry is current when the part still exists and its pair still has that rank. O(n log n).
    private func bpeLong(_ p: UnsafePointer<UInt8>, _ n: Int, _ maxRank: UInt32, _ out: inout [UInt32]) {
        precondition(n < Int(Int32.max), "pre-token of \(n) bytes is too long to encode")
        ids.resize(n); nextPart.resize(n); prevPart.resize(n); partRank.resize(n)
        heap.removeAll()
        let ids = self.ids.ptr, next = nextPart.ptr, prev = prevPart.ptr, pr = partRank.ptr
        for i in 0..<n {
            ids[i] = UInt32(p[i]); next[i] = Int32(i + 1); prev[i] = Int32(i - 1)
        }
        for i in 0..<n {
            pr[i] = i + 1 < n ? byteRank(p[i], p[i + 1], maxRank) : UInt32.max
            if pr[i] != UInt32.max { heap.append(UInt64(pr[i]) << 32 | UInt64(i)) }
        }
        var k = heap.count / 2
        while k > 0 { k -= 1; heapDown(k) }
        while heap.count > 0 {
            let top = heap[0]
            let last = heap.removeLast()
            if heap.count > 0 { heap[0] = last; heapDown(0) }
            let i = Int(top & 0xFFFF_FFFF), r = UInt32(top >> 32)
            if pr[i] != r { continue }  // stale
            let j = Int(next[i])
            ids[i] = r
            pr[j] = UInt32.max
            let nj = Int(next[j])
            next[i] = Int32(nj)
            if nj < n { prev[nj] = Int32(i) }
            if nj < n {
                pr[i] = rank(ids[i], ids[nj], maxRank)
                if pr[i] != UInt32.max { heapPush(UInt64(pr[i]) << 32 | UInt64(i)) }
            } else {
                pr[i] = UInt32.max
            }
            let pi = Int(prev[i])
            if pi >= 0 {
                pr[pi] = rank(ids[pi], ids[i], maxRank)
                if pr[pi] != UInt32.max { heapPush(UInt64(pr[pi]) << 32 | UInt64(pi)) }
            }
        }
        var i = 0
        while i < n { out.append(ids[i]); i = Int(next[i]) }
    }

    private func heapPush(_ v: UInt64) {
        heap.append(v)
        let h = heap.ptr
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if h[parent] <= v { break }
            h[i] = h[parent]
            i = parent
        }
        h[i] = v
    }

    private func heapDown(_ start: Int) {
        let h = heap.ptr, n = heap.count
        let v = h[start]
        var i = start
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && h[c + 1] < h[c] { c += 1 }
            if h[c] >= v { break }
            h[i] = h[c]
            i = c
        }
        h[i] = v
    }
}
