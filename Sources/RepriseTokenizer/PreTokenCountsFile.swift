import Foundation
import RepriseCore

/// Pre-token counts on disk, so that tasks can count their share of a corpus and a merge can sum them.
///
/// Layout: one zstd frame (with content checksum) holding `RPTC`, a u32 version (1), a varint number of
/// entries, a varint total count, then per distinct pre-token, sorted by bytes: a varint length, the bytes
/// and a varint count. The bytes depend only on the counts, so the same documents give the same file.
extension PreTokenCounter {
    static let fileMagic: [UInt8] = Array("RPTC".utf8)
    static let fileVersion: UInt32 = 1

    /// Writes the counts to `path` atomically; returns the file's SHA-256 (hex) and size.
    @discardableResult
    public func write(to path: String) throws -> (sha256: String, bytes: Int) {
        let w = try write(partitions: 1, paths: [path])[0]
        return (w.sha256, w.bytes)
    }

    /// The partition of a pre-token among `partitions`: a hash of its bytes, so that the counts of one
    /// pre-token from every task fall into files of the same number.
    public static func partition(of piece: UnsafeBufferPointer<UInt8>, partitions: Int) -> Int {
        guard partitions > 1, let p = piece.baseAddress else { return 0 }
        return Int(Hashing.mix64(hashBytes(p, piece.count)) % UInt64(partitions))
    }

    /// Writes the counts split by `partition(of:partitions:)` into `paths[p]` (each a complete counts file of
    /// its pre-tokens, as `write(to:)` writes), atomically; returns each file's SHA-256 (hex), size and
    /// number of distinct pre-tokens.
    /// Summing the files of every task partition by partition gives the counts of the whole corpus without
    /// any process holding every distinct pre-token at once.
    public func write(partitions: Int, paths: [String]) throws -> [(sha256: String, bytes: Int, entries: Int)] {
        precondition(partitions >= 1 && paths.count == partitions)
        let list = entries()
        let part = list.map { e in e.bytes.withUnsafeBufferPointer { Self.partition(of: $0, partitions: partitions) } }
        var sizes = [Int](repeating: 0, count: partitions), totals = [UInt64](repeating: 0, count: partitions)
        for (e, p) in zip(list, part) { sizes[p] += 1; totals[p] += e.count }
        var out: [(sha256: String, bytes: Int, entries: Int)] = []
        for p in 0..<partitions {
            let file = try AtomicFileWriter(path: paths[p])
            let encoder = ZstdEncoder(level: 3, checksum: true, threads: 0) { try file.write($0) }
            var w = BinaryWriter()
            w.bytes += Self.fileMagic
            w.u32(Self.fileVersion)
            w.varint(sizes[p])
            w.varint(totals[p])
            for (e, q) in zip(list, part) where q == p {
                w.data(e.bytes)
                w.varint(e.count)
                if w.bytes.count >= 1 << 20 { try encoder.write(w.bytes); w.bytes.removeAll(keepingCapacity: true) }
            }
            try encoder.write(w.bytes)
            try encoder.finishFrame()
            let size = file.bytesWritten
            out.append((try file.commit(), size, sizes[p]))
        }
        return out
    }

    /// The counts of the pre-tokens of partition `p` of `partitions`.
    public func partition(_ p: Int, of partitions: Int) -> PreTokenCounter {
        let out = PreTokenCounter()
        for e in 0..<table.count {
            let k = table.key(e)
            if Self.partition(of: k, partitions: partitions) == p { out.add(k, count: table.value(e)) }
        }
        return out
    }

    /// Reads a file written by `write(to:)`.
    public static func read(path: String) throws -> PreTokenCounter {
        let r = BinaryReader(ZstdDecoder(try FileSource(path: path), name: path), name: path)
        guard try r.bytes(4) == fileMagic else { throw RepriseError("\(path): not a pre-token counts file (no RPTC magic)") }
        let version = try r.u32()
        guard version == fileVersion else { throw RepriseError("\(path): pre-token counts version \(version), this build reads \(fileVersion)") }
        let n = try r.count(limit: Int.max / 2)
        let total = try r.varint()
        let counter = PreTokenCounter()
        for _ in 0..<n {
            let piece = try r.data()
            let count = try r.varint()
            guard !piece.isEmpty, count > 0 else { throw RepriseError("\(path): empty pre-token or zero count at byte \(r.offset)") }
            counter.add(piece, count: count)
        }
        guard counter.totalCount == total else {
            throw RepriseError("\(path): counts sum to \(counter.totalCount), the header says \(total); the file is damaged")
        }
        guard try r.atEnd() else { throw RepriseError("\(path): data after the last entry at byte \(r.offset)") }
        return counter
    }

    /// The counts of this counter minus those of `other`, without the pre-tokens whose count falls to zero.
    /// `other` must be part of this counter (every count at most this one's): the merge of task counts
    /// takes out the documents that deduplication dropped after the tasks counted them.
    public func subtracting(_ other: PreTokenCounter) throws -> PreTokenCounter {
        let o = other.table
        for e in 0..<o.count {
            let k = o.key(e)
            let mine = table.find(k.baseAddress!, k.count, hash: o.keyHash(e))
            let have = mine < 0 ? 0 : table.value(mine)
            if have < o.value(e) {
                throw RepriseError("pre-token counts: cannot take \(o.value(e)) occurrences of a pre-token counted \(have) times; the task counts do not belong to these documents")
            }
        }
        let out = PreTokenCounter()
        for e in 0..<table.count {
            let k = table.key(e)
            let left = table.value(e) - other.count(of: Array(k))
            if left > 0 { out.add(k, count: left) }
        }
        return out
    }
}
