import Foundation
import RepriseCore

/// Splits a byte string into pre-tokens: calls `body` with the byte range of each piece, in order, covering
/// the input. BPE merges never cross these boundaries. The tokenizer module's pre-tokenizer provides one;
/// the closure is `@Sendable` because counting and batch encoding call it from several threads at once.
public typealias PreTokenSplitter = @Sendable (UnsafeBufferPointer<UInt8>, (Range<Int>) -> Void) -> Void

/// Counts distinct pre-tokens over documents: the input of BPE training. Counts are 64-bit; memory is
/// proportional to the number of distinct pre-tokens (their bytes once, plus 48 to 64 bytes each; while
/// `add(documents:threads:split:)` runs, each thread holds its own map of the pre-tokens it has seen).
///
/// `add(documents:threads:split:)` shards the documents over threads, each counting into its own hash map,
/// then folds the maps into this counter in thread order. The content (pre-token → count) depends only on
/// the documents, never on the thread count or document order; `entries()` lists it sorted by bytes.
/// Counters from separate tasks combine with `merge(_:)`.
public final class PreTokenCounter {
    let table: ByteKeyTable
    /// Sum of all counts (number of pre-token occurrences).
    public private(set) var totalCount: UInt64 = 0

    public init() { table = ByteKeyTable(capacity: 1 << 14) }

    /// Number of distinct pre-tokens.
    public var distinctCount: Int { table.count }

    /// Adds `count` occurrences of one pre-token.
    public func add(_ piece: UnsafeBufferPointer<UInt8>, count: UInt64 = 1) {
        guard let p = piece.baseAddress, piece.count > 0 else { return }
        let e = table.findOrInsert(p, piece.count, hash: hashBytes(p, piece.count), initial: 0).entry
        table.add(e, count)
        totalCount += count
    }

    public func add(_ piece: [UInt8], count: UInt64 = 1) {
        piece.withUnsafeBufferPointer { add($0, count: count) }
    }

    /// Splits one document and counts its pre-tokens on the calling thread.
    public func add(document: UnsafeBufferPointer<UInt8>, split: PreTokenSplitter) {
        guard let base = document.baseAddress, document.count > 0 else { return }
        let t = table
        var total: UInt64 = 0
        split(document) { r in
            let n = r.count
            if n == 0 { return }
            let p = base + r.lowerBound
            let e = t.findOrInsert(p, n, hash: hashBytes(p, n), initial: 0).entry
            t.add(e, 1)
            total += 1
        }
        totalCount += total
    }

    /// Splits and counts documents on `threads` threads (each with its own map, merged at the end). For a
    /// corpus that does not fit in memory, call it once per batch of documents.
    public func add(documents: [[UInt8]], threads: Int = defaultThreadCount, split: PreTokenSplitter) {
        let threads = max(1, min(threads, documents.count))
        if threads == 1 {
            for d in documents { d.withUnsafeBufferPointer { add(document: $0, split: split) } }
            return
        }
        // Chunks of documents are handed out in order; which thread counts which chunk does not matter
        // because the merged content is a sum.
        let chunk = max(1, documents.count / (threads * 32))
        let chunks = (documents.count + chunk - 1) / chunk
        let work = WorkCounter()
        let locals = (0..<threads).map { _ in PreTokenCounter() }
        onThreads(threads) { t in
            let local = locals[t]
            while true {
                let c = work.take()
                if c >= chunks { break }
                for i in (c * chunk)..<min(documents.count, (c + 1) * chunk) {
                    documents[i].withUnsafeBufferPointer { local.add(document: $0, split: split) }
                }
            }
        }
        for l in locals { merge(l) }
    }

    /// Adds all counts of `other` to this counter.
    public func merge(_ other: PreTokenCounter) {
        let o = other.table
        for e in 0..<o.count {
            let k = o.key(e)
            let mine = table.findOrInsert(k.baseAddress!, k.count, hash: o.keyHash(e), initial: 0).entry
            table.add(mine, o.value(e))
        }
        totalCount += other.totalCount
    }

    /// The count of one pre-token (0 when absent).
    public func count(of piece: [UInt8]) -> UInt64 {
        piece.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress, b.count > 0 else { return 0 }
            let e = table.find(p, b.count, hash: hashBytes(p, b.count))
            return e < 0 ? 0 : table.value(e)
        }
    }

    /// Adds this counter's count histogram into `histogram` (count → number of distinct pre-tokens).
    public func addCountHistogram(into histogram: inout [UInt64: Int]) {
        for e in 0..<table.count { histogram[table.value(e), default: 0] += 1 }
    }

    /// The pre-tokens counted at least `minCount` times, with their counts.
    public func keeping(minCount: UInt64) -> PreTokenCounter {
        let out = PreTokenCounter()
        for e in 0..<table.count where table.value(e) >= minCount { out.add(table.key(e), count: table.value(e)) }
        return out
    }

    /// The smallest count T such that at most `limit` distinct pre-tokens are counted T times or more, from
    /// the count histogram of all of them: pre-tokens of equal count are kept or dropped together, so the
    /// choice does not depend on any order (and fewer than `limit` may be kept).
    public static func threshold(histogram: [UInt64: Int], limit: Int) -> UInt64 {
        var kept = 0
        for (count, n) in histogram.sorted(by: { $0.key > $1.key }) {
            if kept + n > limit { return count + 1 }
            kept += n
        }
        return 1
    }

    /// The pre-tokens `threshold` keeps with at most `limit` of them (from this counter's own histogram).
    public func mostFrequent(_ limit: Int) -> PreTokenCounter {
        var histogram: [UInt64: Int] = [:]
        addCountHistogram(into: &histogram)
        return keeping(minCount: Self.threshold(histogram: histogram, limit: limit))
    }

    /// All (pre-token, count) pairs, sorted by bytes: a deterministic listing for files and tests.
    public func entries() -> [(bytes: [UInt8], count: UInt64)] {
        var out: [(bytes: [UInt8], count: UInt64)] = []
        out.reserveCapacity(table.count)
        for e in 0..<table.count { out.append((Array(table.key(e)), table.value(e))) }
        out.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return out
    }
}
