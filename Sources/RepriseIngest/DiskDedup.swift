import Foundation
import RepriseCore

/// Decides duplicates from files instead of from a table of every kept document, for partitioned runs of
/// corpora too large for one process's memory. The decisions are those of `Deduplicator` over the whole
/// input in global order, document for document (same kept set, same `duplicate_of`).
///
/// Why it gives the same decisions: `Deduplicator` looks a document up only under its own keys (its exact
/// key and its LSH band keys). Link two documents when they share a key; a document's decision then depends
/// only on the earlier documents of its connected component. A document that shares no key with any other
/// is kept and changes no later decision. So running one `Deduplicator` per component, on the component's
/// documents in global order, gives every document the decision of the single run.
///
/// Steps (each a round of `reprise run --task I --tasks N`, or the merge):
/// 1. Ingest tasks: for every document that passed the filters, one record per key goes to bucket file
///    `hash(key) mod B` of the task (`BucketWriter`).
/// 2. Bucket tasks: task t reads buckets b ≡ t (mod N) of every task, sorts each bucket (one at a time, so
///    memory is one bucket: B grows with the input) and writes an edge between consecutive documents of
///    each key shared by several documents (`findEdges`).
/// 3. Merge: union-find over the edges gives the components; the merge streams the documents in global
///    order as before and decides each linked document with its component's `Deduplicator`, dropped after
///    the component's last document (`ComponentDeduplicator`). Documents without an edge are kept without
///    any state. Memory: about 40 bytes per document that shares a key with another, plus the keys of the
///    kept documents of the components not yet finished; nothing for the other documents.
public enum DiskDedup {
    /// `dedup.mode: auto` uses disk buckets when the inputs total at least this many bytes (8 GiB).
    public static let autoBytes = 8 << 30
    /// Automatic bucket count: one bucket per this many input bytes (256 MiB).
    public static let bytesPerBucket = 256 << 20
    /// Bytes of one bucket record: u16 key kind, u64 key high, u64 key low, u64 position.
    static let recordSize = 26
    /// Record key kind of exact keys (band keys use their band number, below 1024).
    static let exactKind: UInt16 = 0xFFFF

    /// Whether a partitioned run over `inputBytes` bytes of input uses disk buckets.
    public static func usesDisk(_ config: DedupConfig, inputBytes: Int) -> Bool {
        guard config.exact || config.minhash else { return false }
        switch config.mode {
        case .memory: return false
        case .disk: return true
        case .auto: return inputBytes >= autoBytes
        }
    }

    /// The number of bucket files for `inputBytes` bytes of input.
    public static func bucketCount(_ config: DedupConfig, inputBytes: Int) -> Int {
        config.buckets > 0 ? config.buckets : max(1, (inputBytes + bytesPerBucket - 1) / bytesPerBucket)
    }

    public static func bucketFile(_ b: Int) -> String { String(format: "dedup-bucket-%05d.bin", b) }

    /// The global position of document `document` (counting every document read, kept or not) of input file
    /// `file`: ordered as the documents are in the single run.
    static func position(file: Int, document: Int) throws -> UInt64 {
        guard file < 1 << 24, document < 1 << 40 else {
            throw RepriseError("disk deduplication: input \(file), document \(document): more than 2^24 input files or 2^40 documents in one file")
        }
        return UInt64(file) << 40 | UInt64(document)
    }

    static func describe(_ p: UInt64) -> String { "document \(p & (1 << 40 - 1)) of input \(p >> 40)" }

    /// The LSH band keys of a signature, as `Deduplicator` computes them.
    static func bandKeys(_ sig: [UInt32], _ config: DedupConfig) -> [UInt64] {
        (0..<config.bands).map { band in
            var h: UInt64 = UInt64(band) &* 0x9E37_79B9_7F4A_7C15
            for r in 0..<config.rows { h = Hashing.mix64(h ^ UInt64(sig[band * config.rows + r])) }
            return h
        }
    }

    static func bucket(kind: UInt16, hi: UInt64, lo: UInt64, of buckets: Int) -> Int {
        Int(Hashing.mix64(hi ^ Hashing.mix64(lo ^ UInt64(kind))) % UInt64(buckets))
    }

    /// Step 1: writes one record per key of each document into `dir/dedup-bucket-BBBBB.bin` (each file
    /// atomic, committed by `finish`). Each open file buffers at most 1 MiB.
    final class BucketWriter {
        let config: DedupConfig
        private var files: [AtomicFileWriter]
        private var record = [UInt8](repeating: 0, count: DiskDedup.recordSize)
        private(set) var records = 0

        init(dir: String, buckets: Int, config: DedupConfig) throws {
            self.config = config
            files = try (0..<buckets).map { try AtomicFileWriter(path: dir + "/" + DiskDedup.bucketFile($0)) }
        }

        private func put(_ kind: UInt16, _ hi: UInt64, _ lo: UInt64, _ position: UInt64) throws {
            record.withUnsafeMutableBytes { r in
                r.storeBytes(of: kind.littleEndian, toByteOffset: 0, as: UInt16.self)
                r.storeBytes(of: hi.littleEndian, toByteOffset: 2, as: UInt64.self)
                r.storeBytes(of: lo.littleEndian, toByteOffset: 10, as: UInt64.self)
                r.storeBytes(of: position.littleEndian, toByteOffset: 18, as: UInt64.self)
            }
            try files[DiskDedup.bucket(kind: kind, hi: hi, lo: lo, of: files.count)].write(record)
            records += 1
        }

        /// The records of one document that reaches deduplication (passed the filters).
        func add(_ keys: DedupKeys, position: UInt64) throws {
            if config.exact, let k = keys.exact { try put(DiskDedup.exactKind, k.hi, k.lo, position) }
            if config.minhash, let sig = keys.signature {
                for (band, key) in DiskDedup.bandKeys(sig, config).enumerated() { try put(UInt16(band), key, 0, position) }
            }
        }

        func finish() throws {
            for f in files { try f.commit() }
        }
    }

    private struct Record {
        var hi: UInt64, lo: UInt64, position: UInt64, kind: UInt16
    }

    /// Step 2: reads bucket `b` of every task directory in `dirs` for each `b` in `buckets`, and writes to
    /// `output` (zstd, u64 pairs) an edge between consecutive documents of every key that several documents
    /// share. Returns the file and the numbers of records read and edges written.
    public static func findEdges(dirs: [String], buckets: [Int], output: String) throws -> (file: OutputFile, records: Int, edges: Int) {
        let file = try AtomicFileWriter(path: output)
        let encoder = ZstdEncoder(level: 3, checksum: true, threads: 0) { try file.write($0) }
        var w = BinaryWriter()
        var records = 0, edges = 0
        var list: [Record] = []
        for b in buckets {
            list.removeAll(keepingCapacity: true)
            for dir in dirs {
                let path = dir + "/" + bucketFile(b)
                let r = BinaryReader(try FileSource(path: path), name: path)
                while !(try r.atEnd()) {
                    let kind = UInt16(try r.u8()) | UInt16(try r.u8()) << 8
                    list.append(Record(hi: try r.u64(), lo: try r.u64(), position: try r.u64(), kind: kind))
                }
            }
            records += list.count
            list.sort { ($0.kind, $0.hi, $0.lo, $0.position) < ($1.kind, $1.hi, $1.lo, $1.position) }
            var i = 0
            while i < list.count {
                var j = i + 1
                while j < list.count, list[j].kind == list[i].kind, list[j].hi == list[i].hi, list[j].lo == list[i].lo {
                    if list[j].position != list[j - 1].position {
                        w.u64(list[j - 1].position); w.u64(list[j].position)
                        edges += 1
                    }
                    j += 1
                }
                i = j
                if w.bytes.count >= 1 << 20 { try encoder.write(w.bytes); w.bytes.removeAll(keepingCapacity: true) }
            }
        }
        try encoder.write(w.bytes)
        try encoder.finishFrame()
        let bytes = file.bytesWritten
        let sha = try file.commit()
        return (OutputFile(file: (output as NSString).lastPathComponent, bytes: bytes, sha256: sha, documents: edges), records, edges)
    }

    /// Step 3: one `Deduplicator` per component of the documents linked by the edges, in global order. Set
    /// `position` to the document's position before each `check`; positions must increase.
    public final class ComponentDeduplicator: DuplicateChecker {
        let config: DedupConfig
        /// Linked documents' positions, sorted; their component's root index and the index of its last document.
        private var positions: [UInt64] = []
        private var root: [Int] = []
        private var isLast: [Bool] = []
        private var states: [Int: Deduplicator] = [:]
        private var next = 0
        var position: UInt64 = 0

        /// Number of documents linked to another, and of components.
        public private(set) var linked = 0, components = 0

        /// Reads the edge files (written by `findEdges`).
        public init(edgeFiles: [String], config: DedupConfig) throws {
            self.config = config
            var edges: [UInt64] = []
            for path in edgeFiles {
                let r = BinaryReader(ZstdDecoder(try FileSource(path: path), name: path), name: path)
                while !(try r.atEnd()) {
                    let a = try r.u64(), b = try r.u64()
                    guard a < b else { throw RepriseError("\(path): edge at byte \(r.offset - 16) is not in document order; rerun its task") }
                    edges.append(a); edges.append(b)
                }
            }
            positions = edges.sorted()
            var unique = 0
            for p in positions where unique == 0 || positions[unique - 1] != p { positions[unique] = p; unique += 1 }
            positions.removeLast(positions.count - unique)
            var parent = Array(0..<unique)
            func find(_ x: Int) -> Int {
                var x = x
                while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
                return x
            }
            func index(_ p: UInt64) -> Int {
                var lo = 0, hi = positions.count
                while lo < hi { let m = (lo + hi) / 2; if positions[m] < p { lo = m + 1 } else { hi = m } }
                return lo
            }
            var e = 0
            while e < edges.count {
                let a = find(index(edges[e])), b = find(index(edges[e + 1]))
                if a != b { parent[max(a, b)] = min(a, b) }
                e += 2
            }
            edges = []
            root = (0..<unique).map { find($0) }
            isLast = [Bool](repeating: false, count: unique)
            var seen = Set<Int>()
            for i in (0..<unique).reversed() where seen.insert(root[i]).inserted { isLast[i] = true }
            linked = unique
            components = seen.count
        }

        public func check(id: String, keys: DedupKeys) -> (reason: String, duplicateOf: String)? {
            while next < positions.count, positions[next] < position { next += 1 }
            guard next < positions.count, positions[next] == position else { return nil }
            let i = next, r = root[i]
            let d = states[r] ?? Deduplicator(config)
            let decision = d.check(id: id, keys: keys)
            if isLast[i] { states[r] = nil } else { states[r] = d }
            return decision
        }
    }
}

/// Decides one document at a time, in input order: nil keeps it, else the reason and the id of the earlier
/// document it duplicates.
public protocol DuplicateChecker: AnyObject {
    func check(id: String, keys: DedupKeys) -> (reason: String, duplicateOf: String)?
}

extension Deduplicator: DuplicateChecker {}
