import Foundation
import RepriseCore

/// Decides duplicates from files instead of from a table of every kept document, for partitioned runs of
/// corpora too large for one process's memory. The decisions are those of `Deduplicator` over the whole
/// input in global order, document for document (same kept set, same `duplicate_of`).
///
/// Why it gives the same decisions: `Deduplicator` looks a document up only under its own keys (its exact
/// key and its LSH band keys), and an entry of its tables is only ever read by a later document with the
/// same key. So handing each key's entry from one of its documents to the next answers every lookup as the
/// full table does.
///
/// Steps (each a round of `reprise run --task I --tasks N`, or the merge):
/// 1. Ingest tasks: for every document that passed the filters, one record per key goes to bucket file
///    `hash(key) mod B` of the task (`BucketWriter`), written as sorted runs (all buckets share one sort
///    buffer of `defaultSortRecords` records, so the task's memory does not grow with B or the corpus).
/// 2. Bucket tasks: task t reads buckets b ≡ t (mod N) of every task, merging each bucket's sorted runs at
///    most `defaultFanIn` at a time (more runs take extra passes through scratch files), and writes for
///    every key that several documents share one link record per document: its position, the key's kind
///    and whether it is the key's last document (`findLinks`). The links are sorted by position (in memory,
///    or as sorted runs merged the same way), so the file is read as a stream.
/// 3. Merge: streams the documents in global order as before, reads the tasks' link files alongside (an
///    N-way merge by position), and decides each linked document under its shared keys, whose entries reach
///    it as messages from the keys' previous documents (`LinkDeduplicator`, `KeyMessageQueue`). Documents
///    without a link are kept without any state. Memory: at most `defaultMessageBytes` of messages, the
///    rest in sorted scratch files, and a read buffer per file.
public enum DiskDedup {
    /// `dedup.mode: auto` uses disk buckets when the inputs total at least this many bytes (8 GiB).
    public static let autoBytes = 8 << 30
    /// Automatic bucket count: one bucket per this many input bytes (256 MiB).
    public static let bytesPerBucket = 256 << 20
    /// Record key kind of exact keys (band keys use their band number, below 1024). Records: `BucketRecord`
    /// (26 bytes) and `LinkRecord` (19 bytes).
    static let exactKind: UInt16 = 0xFFFF
    /// Records sorted at once: by a round-1 task over all its buckets (32 bytes each in memory, 16 MiB), and
    /// by a round-2 task over its links (24 bytes each, 12 MiB).
    public static let defaultSortRecords = 1 << 19
    /// Sorted runs merged at once; each open run reads through a 64 KiB buffer.
    public static let defaultFanIn = 64
    /// Bytes of key messages the merge holds in memory before it spills them to a sorted scratch file (32 MiB).
    public static let defaultMessageBytes = 32 << 20

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
    /// atomic, committed by `finish`). Records of all buckets collect in one buffer of `sortRecords`; when
    /// it is full it is sorted by (bucket, key, position) and each bucket's slice is appended to its file as
    /// one sorted run. Memory: the buffer, whatever the number of buckets.
    final class BucketWriter {
        let config: DedupConfig
        private var files: [AtomicFileWriter]
        private var pending: [BucketEntry] = []
        private let sortRecords: Int
        private(set) var records = 0

        init(dir: String, buckets: Int, config: DedupConfig, sortRecords: Int = DiskDedup.defaultSortRecords) throws {
            self.config = config
            self.sortRecords = max(1, sortRecords)
            // Each bucket's slice of a sort goes to its file in one write (of at most 64 KiB), so the files need
            // no buffers of their own: with them, memory would grow with the number of buckets. Nor do they hold
            // a descriptor between writes: thousands of buckets stay under the usual limit of open files.
            files = try (0..<buckets).map { try AtomicFileWriter(path: dir + "/" + DiskDedup.bucketFile($0), bufferBytes: 0, keepOpen: false) }
            pending.reserveCapacity(min(self.sortRecords, 1 << 16))
        }

        private func put(_ kind: UInt16, _ hi: UInt64, _ lo: UInt64, _ position: UInt64) throws {
            let b = DiskDedup.bucket(kind: kind, hi: hi, lo: lo, of: files.count)
            pending.append(BucketEntry(record: BucketRecord(hi: hi, lo: lo, position: position, kind: kind), bucket: UInt32(b)))
            records += 1
            if pending.count >= sortRecords { try flush() }
        }

        /// The records of one document that reaches deduplication (passed the filters).
        func add(_ keys: DedupKeys, position: UInt64) throws {
            if config.exact, let k = keys.exact { try put(DiskDedup.exactKind, k.hi, k.lo, position) }
            if config.minhash, let sig = keys.signature {
                for (band, key) in DiskDedup.bandKeys(sig, config).enumerated() { try put(UInt16(band), key, 0, position) }
            }
        }

        private func flush() throws {
            guard !pending.isEmpty else { return }
            pending.sort(by: BucketEntry.before)
            var bytes = [UInt8](repeating: 0, count: 64 << 10 / BucketRecord.size * BucketRecord.size)
            var i = 0
            while i < pending.count {
                let b = Int(pending[i].bucket)
                var used = 0
                while i < pending.count, Int(pending[i].bucket) == b {
                    bytes.withUnsafeMutableBytes { pending[i].record.store(to: $0.baseAddress! + used) }
                    used += BucketRecord.size
                    i += 1
                    if used == bytes.count { try files[b].write(bytes); used = 0 }
                }
                if used > 0 { try bytes.withUnsafeBytes { try files[b].write(UnsafeRawBufferPointer(rebasing: $0[0..<used])) } }
            }
            pending.removeAll(keepingCapacity: true)
        }

        func finish() throws {
            try flush()
            for f in files { try f.commit() }
        }
    }

    /// Step 2: reads bucket `b` of every task directory in `dirs` for each `b` in `buckets` (each file a
    /// sequence of sorted runs), merges the runs at most `fanIn` at a time, and writes to `output` one
    /// link record per document of every key that several documents share, sorted by position. Scratch
    /// files (`dedup-scratch-*.bin`) go next to `output` and are removed. Returns the file and the numbers of
    /// bucket records read, shared keys and links written.
    public static func findLinks(dirs: [String], buckets: [Int], output: String, fanIn: Int = defaultFanIn,
                                 sortRecords: Int = defaultSortRecords) throws -> (file: OutputFile, records: Int, keys: Int, links: Int) {
        precondition(fanIn >= 2)
        let outputDir = (output as NSString).deletingLastPathComponent
        let scratch = outputDir.isEmpty ? "." : outputDir
        let sorter = RunSorter<LinkRecord>(scratch: scratch + "/dedup-scratch-links", limit: sortRecords, fanIn: fanIn)
        var records = 0, keys = 0
        for b in buckets {
            var runs: [Run] = []
            for dir in dirs { runs += try sortedRuns(dir + "/" + bucketFile(b)) }
            var pending: BucketRecord?
            var members = 0
            func endKey() throws {
                if members >= 2, let p = pending {
                    try sorter.add(LinkRecord(position: p.position, kind: p.kind, next: LinkRecord.none))
                    keys += 1
                }
            }
            try mergeRuns(runs, fanIn: fanIn, scratch: scratch + "/dedup-scratch-bucket") { (r: BucketRecord) in
                records += 1
                if let p = pending, p.kind == r.kind, p.hi == r.hi, p.lo == r.lo {
                    if p.position == r.position { return }
                    try sorter.add(LinkRecord(position: p.position, kind: p.kind, next: r.position))
                    pending = r
                    members += 1
                } else {
                    try endKey()
                    pending = r
                    members = 1
                }
            }
            try endKey()
        }
        // Not compressed: the merge reads every task's file at once, through 64 KiB each (a zstd stream
        // would need its window, megabytes, per task).
        let file = try AtomicFileWriter(path: output)
        var bytes = [UInt8](repeating: 0, count: 64 << 10 / LinkRecord.size * LinkRecord.size)
        var used = 0, links = 0
        try sorter.finish { (l: LinkRecord) in
            bytes.withUnsafeMutableBytes { l.store(to: $0.baseAddress! + used) }
            used += LinkRecord.size
            links += 1
            if used == bytes.count { try file.write(bytes); used = 0 }
        }
        try bytes.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<used])) }
        let size = file.bytesWritten
        let sha = try file.commit()
        return (OutputFile(file: (output as NSString).lastPathComponent, bytes: size, sha256: sha, documents: links), records, keys, links)
    }

    /// The sorted runs of a bucket file: its maximal stretches of records in order (one per sort of the
    /// writer, or more when a file holds records in another order: any file of whole records is read right).
    static func sortedRuns(_ path: String) throws -> [Run] {
        let count = try recordCount(path, BucketRecord.self)
        var runs: [Run] = []
        guard count > 0 else { return runs }
        let cursor = try RunCursor<BucketRecord>(Run(path: path, offset: 0, count: count), checkOrder: false)
        var start = 0, i = 0
        var previous = cursor.current!
        while true {
            try cursor.advance()
            i += 1
            guard let r = cursor.current else { break }
            if r < previous {
                runs.append(Run(path: path, offset: start * BucketRecord.size, count: i - start))
                start = i
            }
            previous = r
        }
        runs.append(Run(path: path, offset: start * BucketRecord.size, count: count - start))
        return runs
    }

    /// The number of records in a file of `R` records; an error naming the file when its size is not a whole
    /// number of them.
    static func recordCount<R: RunRecord>(_ path: String, _: R.Type) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw RepriseError("\(path): cannot open: \(String(cString: strerror(errno))); rerun the task that wrote it") }
        let size = Int(st.st_size)
        guard size % R.size == 0 else {
            throw RepriseError("\(path): truncated: \(size) bytes is not a whole number of \(R.size)-byte records; the file is incomplete or damaged, rerun the task that wrote it")
        }
        return size / R.size
    }

    /// A sorted run of fixed-size records in a file.
    struct Run {
        var path: String
        var offset: Int
        var count: Int
    }

    /// Merges sorted runs into one sorted stream given to `body`, opening at most `fanIn` runs at once: while
    /// there are more, groups of `fanIn` are merged into scratch files `SCRATCH-P-GGGGG.bin` (pass P), which
    /// are removed as soon as they are merged again, and at the end.
    static func mergeRuns<R: RunRecord>(_ runs: [Run], fanIn: Int, scratch: String, body: (R) throws -> Void) throws {
        var runs = runs
        var temporary: [String] = []
        defer { for p in temporary { unlink(p) } }
        var pass = 0
        while runs.count > fanIn {
            var next: [Run] = []
            var made: [String] = []
            for (g, first) in stride(from: 0, to: runs.count, by: fanIn).enumerated() {
                let group = Array(runs[first..<min(first + fanIn, runs.count)])
                if group.count == 1 { next.append(group[0]); continue }
                let path = scratch + String(format: "-%d-%05d.bin", pass, g)
                made.append(path)
                let file = try AtomicFileWriter(path: path)
                var bytes = [UInt8](repeating: 0, count: 64 << 10 / R.size * R.size)
                var used = 0, count = 0
                try kway(group) { (r: R) in
                    bytes.withUnsafeMutableBytes { r.store(to: $0.baseAddress! + used) }
                    used += R.size
                    count += 1
                    if used == bytes.count { try file.write(bytes); used = 0 }
                }
                try bytes.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<used])) }
                try file.commit()
                next.append(Run(path: path, offset: 0, count: count))
            }
            let still = Set(next.map(\.path))
            for p in temporary where !still.contains(p) { unlink(p) }
            temporary = temporary.filter { still.contains($0) } + made
            runs = next
            pass += 1
        }
        try kway(runs, body)
    }

    /// A run's (or a file's) next record in a k-way merge: the heap's top is the smallest.
    struct Head<R: RunRecord>: HeapOrdered {
        var record: R, source: Int
        func before(_ other: Head) -> Bool { record < other.record }
    }

    /// Merges at most a few dozen sorted runs with a binary heap.
    static func kway<R: RunRecord>(_ runs: [Run], _ body: (R) throws -> Void) throws {
        let cursors = try runs.map { try RunCursor<R>($0) }
        var heap = BinaryHeap(cursors.indices.compactMap { i in cursors[i].current.map { Head(record: $0, source: i) } })
        try heap.drain({ try body($0.record) }) { top in
            try cursors[top.source].advance()
            return cursors[top.source].current.map { Head(record: $0, source: top.source) }
        }
    }

    /// Sorts records of unknown number in bounded memory: `limit` at a time in memory, each full buffer
    /// written as a sorted run to a scratch file `SCRATCH-RUN-NNNNN.bin`, merged at the end with `mergeRuns`.
    final class RunSorter<R: RunRecord> {
        private var buffer: [R] = []
        private let limit: Int, fanIn: Int
        private let scratch: String
        private var runs: [Run] = []

        init(scratch: String, limit: Int, fanIn: Int) {
            self.scratch = scratch
            self.limit = max(1, limit)
            self.fanIn = fanIn
        }
        deinit { for r in runs { unlink(r.path) } }

        func add(_ r: R) throws {
            buffer.append(r)
            if buffer.count >= limit { try spill() }
        }

        private func spill() throws {
            buffer.sort()
            let path = scratch + String(format: "-run-%05d.bin", runs.count)
            let file = try AtomicFileWriter(path: path)
            var bytes = [UInt8](repeating: 0, count: 64 << 10 / R.size * R.size)
            var used = 0
            for r in buffer {
                bytes.withUnsafeMutableBytes { r.store(to: $0.baseAddress! + used) }
                used += R.size
                if used == bytes.count { try file.write(bytes); used = 0 }
            }
            try bytes.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<used])) }
            try file.commit()
            runs.append(Run(path: path, offset: 0, count: buffer.count))
            buffer.removeAll(keepingCapacity: true)
        }

        /// Every record added, in order.
        func finish(_ body: (R) throws -> Void) throws {
            if runs.isEmpty {
                buffer.sort()
                for r in buffer { try body(r) }
                buffer = []
                return
            }
            if !buffer.isEmpty { try spill() }
            buffer = []
            try mergeRuns(runs, fanIn: fanIn, scratch: scratch + "-merge", body: body)
        }
    }

    /// Step 3: decides the documents that share a key with another from the link files (written by
    /// `findLinks`), in global order, as `Deduplicator` would. Call `advance(to:)` with each document's position
    /// (every document read, in order) before its `check`.
    ///
    /// The entry of a shared key (the id and signature of its first kept document) travels from each of the
    /// key's documents to the next as a message addressed to that document's position: a document takes the
    /// messages addressed to it, is decided as `Deduplicator` decides it with those entries, and sends each
    /// key's entry on to the key's next document (its own entry when it is kept and the key had none).
    /// Messages wait in a `KeyMessageQueue`, which keeps at most `messageBytes` bytes of them in memory and
    /// spills the rest to sorted scratch files, so memory does not grow with the corpus.
    public final class LinkDeduplicator: DuplicateChecker {
        let config: DedupConfig
        private let cursors: [RunCursor<LinkRecord>]
        /// Each link file's next link, the smallest position on top.
        private var heap = BinaryHeap<DiskDedup.Head<LinkRecord>>()
        private var links: [LinkRecord] = []
        private var position: UInt64 = 0
        private let messages: KeyMessageQueue

        /// Documents that share a key with another; keys shared by several documents (each counted at its last
        /// document); entries in flight (messages waiting for their document) now and at most.
        public private(set) var linked = 0, sharedKeys = 0, peakOpen = 0
        public var open: Int { messages.count }
        /// The most message bytes held in memory at once, and the sorted runs spilled to scratch files.
        public var peakMessageBytes: Int { messages.peakBytes }
        public var spilledRuns: Int { messages.runsWritten }

        /// `scratch`: a directory of this merge's own (emptied first, removed by `finish`).
        public init(linkFiles: [String], config: DedupConfig, scratch: String,
                    messageBytes: Int = DiskDedup.defaultMessageBytes, fanIn: Int = DiskDedup.defaultFanIn) throws {
            self.config = config
            cursors = try linkFiles.map { path in
                try RunCursor<LinkRecord>(Run(path: path, offset: 0, count: try DiskDedup.recordCount(path, LinkRecord.self)))
            }
            messages = try KeyMessageQueue(scratch: scratch, limitBytes: messageBytes, fanIn: fanIn)
            for i in cursors.indices { try check(i, after: nil) }
            heap = BinaryHeap(cursors.indices.compactMap { i in cursors[i].current.map { DiskDedup.Head(record: $0, source: i) } })
        }

        /// Moves file i to its next link (nil at its end).
        private func read(_ i: Int) throws -> LinkRecord? {
            let previous = cursors[i].current
            try cursors[i].advance()
            try check(i, after: previous)
            return cursors[i].current
        }

        private func check(_ i: Int, after previous: LinkRecord?) throws {
            guard let link = cursors[i].current else { return }
            let at = cursors[i].offset - LinkRecord.size
            guard link.flags <= 1, (link.flags == 1) == (link.next == LinkRecord.none),
                  link.kind == DiskDedup.exactKind || Int(link.kind) < config.bands else {
                throw RepriseError("\(cursors[i].path): bad link record at byte \(at) (kind \(link.kind), flags \(link.flags)); rerun its task's dedup round")
            }
            if let p = previous, !(p < link) {
                throw RepriseError("\(cursors[i].path): link record at byte \(at) is not in document order; rerun its task's dedup round")
            }
            if link.next != LinkRecord.none && link.next <= link.position {
                throw RepriseError("\(cursors[i].path): link record at byte \(at) points back (next document \(link.next) ≤ \(link.position)); rerun its task's dedup round")
            }
        }

        /// Moves to the document at `position` (positions must increase) and reads its links; the next
        /// `check` decides that document.
        public func advance(to position: UInt64) throws {
            if let l = links.first {
                throw RepriseError("disk deduplication: \(DiskDedup.describe(l.position)) has links but did not reach deduplication in the merge; rerun the dedup round")
            }
            self.position = position
            while let top = heap.top, top.record.position <= position {
                if top.record.position == position { links.append(top.record) }
                if let next = try read(top.source) {
                    heap.replaceTop(DiskDedup.Head(record: next, source: top.source))
                } else {
                    _ = heap.pop()
                }
            }
        }

        public func check(id: String, keys: DedupKeys) throws -> (reason: String, duplicateOf: String)? {
            guard !links.isEmpty else { return nil }
            defer { links.removeAll(keepingCapacity: true) }
            linked += 1
            // The entries of this document's keys, one message per key that has a kept document before it.
            var entries: [UInt16: KeyMessage] = [:]
            for m in try messages.take(position) { entries[m.kind] = m }
            var decision: (reason: String, duplicateOf: String)?
            if config.exact, keys.exact != nil, let first = entries[DiskDedup.exactKind] {
                decision = ("exact_duplicate", first.id)
            }
            if decision == nil, config.minhash, let sig = keys.signature {
                var checked: [UInt64] = []
                for l in links where l.kind != DiskDedup.exactKind {
                    guard let other = entries[l.kind], !checked.contains(other.origin) else { continue }
                    checked.append(other.origin)
                    var equal = 0
                    for j in 0..<sig.count where sig[j] == other.signature[j] { equal += 1 }
                    if Double(equal) >= config.threshold * Double(sig.count) {
                        decision = ("near_duplicate", other.id)
                        break
                    }
                }
            }
            // Each key's entry goes on to its next document: the entry it had, or this document when it is kept
            // and the key had none (exact keys only under exact, band keys only under minhash, as in memory).
            for l in links {
                if l.next == LinkRecord.none { sharedKeys += 1; continue }
                if var m = entries[l.kind] {
                    m.position = l.next
                    try messages.push(m)
                } else if decision == nil {
                    if l.kind == DiskDedup.exactKind, config.exact, keys.exact != nil {
                        try messages.push(KeyMessage(position: l.next, kind: l.kind, origin: position, id: id, signature: []))
                    } else if l.kind != DiskDedup.exactKind, config.minhash, let sig = keys.signature {
                        try messages.push(KeyMessage(position: l.next, kind: l.kind, origin: position, id: id, signature: sig))
                    }
                }
            }
            peakOpen = max(peakOpen, messages.count)
            return decision
        }

        /// Removes the scratch directory; every message must have reached its document.
        public func finish() throws {
            if let m = messages.anyWaiting { throw KeyMessageQueue.neverRead(m) }
            messages.finish()
        }
    }
}

/// A fixed-size record of the dedup files, read and written little-endian at any byte offset.
protocol RunRecord: Comparable {
    static var size: Int { get }
    init(loading p: UnsafeRawPointer)
    func store(to p: UnsafeMutableRawPointer)
}

/// A bucket record: u16 key kind, u64 key high, u64 key low, u64 position; ordered by key, then position.
struct BucketRecord: RunRecord {
    var hi: UInt64, lo: UInt64, position: UInt64, kind: UInt16
    static var size: Int { 26 }

    init(hi: UInt64, lo: UInt64, position: UInt64, kind: UInt16) {
        self.hi = hi; self.lo = lo; self.position = position; self.kind = kind
    }
    init(loading p: UnsafeRawPointer) {
        kind = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
        hi = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt64.self))
        lo = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 10, as: UInt64.self))
        position = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 18, as: UInt64.self))
    }
    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: kind.littleEndian, toByteOffset: 0, as: UInt16.self)
        p.storeBytes(of: hi.littleEndian, toByteOffset: 2, as: UInt64.self)
        p.storeBytes(of: lo.littleEndian, toByteOffset: 10, as: UInt64.self)
        p.storeBytes(of: position.littleEndian, toByteOffset: 18, as: UInt64.self)
    }
    static func < (a: BucketRecord, b: BucketRecord) -> Bool {
        if a.kind != b.kind { return a.kind < b.kind }
        if a.hi != b.hi { return a.hi < b.hi }
        if a.lo != b.lo { return a.lo < b.lo }
        return a.position < b.position
    }
}

/// A bucket record with its bucket, as the round-1 writer sorts them.
struct BucketEntry {
    var record: BucketRecord
    var bucket: UInt32
    static func before(_ a: BucketEntry, _ b: BucketEntry) -> Bool {
        a.bucket != b.bucket ? a.bucket < b.bucket : a.record < b.record
    }
}

/// A link record: u64 position, u16 key kind, u8 flags (1: last document of the key), u64 the position of the
/// key's next document (`LinkRecord.none` for the last); ordered by position, then kind.
struct LinkRecord: RunRecord {
    var position: UInt64, kind: UInt16, flags: UInt8, next: UInt64
    static var size: Int { 19 }
    static let none = UInt64.max

    init(position: UInt64, kind: UInt16, next: UInt64) {
        self.position = position; self.kind = kind; self.next = next
        flags = next == LinkRecord.none ? 1 : 0
    }
    init(loading p: UnsafeRawPointer) {
        position = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        kind = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        flags = p.load(fromByteOffset: 10, as: UInt8.self)
        next = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 11, as: UInt64.self))
    }
    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: position.littleEndian, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: kind.littleEndian, toByteOffset: 8, as: UInt16.self)
        p.storeBytes(of: flags, toByteOffset: 10, as: UInt8.self)
        p.storeBytes(of: next.littleEndian, toByteOffset: 11, as: UInt64.self)
    }
    static func < (a: LinkRecord, b: LinkRecord) -> Bool {
        if a.position != b.position { return a.position < b.position }
        if a.kind != b.kind { return a.kind < b.kind }
        return a.next < b.next
    }
}

/// Reads one sorted run of a file through a 64 KiB buffer; checks the order unless told not to.
final class RunCursor<R: RunRecord> {
    let path: String
    private let source: FileRangeSource
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var left: Int
    /// File offset of the byte after the current record.
    private(set) var offset: Int
    private let checkOrder: Bool
    /// The current record; nil past the run's end.
    private(set) var current: R?

    init(_ run: DiskDedup.Run, checkOrder: Bool = true) throws {
        path = run.path
        source = try FileRangeSource(path: run.path, offset: run.offset, count: run.count * R.size)
        buffer = [UInt8](repeating: 0, count: 64 << 10 / R.size * R.size)
        left = run.count
        offset = run.offset
        self.checkOrder = checkOrder
        try advance()
    }

    func advance() throws {
        guard left > 0 else { current = nil; return }
        if end - start < R.size {
            let rest = end - start
            let from = start
            buffer.withUnsafeMutableBytes { b in
                if rest > 0 { memmove(b.baseAddress!, b.baseAddress! + from, rest) }
            }
            start = 0
            end = rest
            while end < R.size {
                let n = try buffer.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
                guard n > 0 else { throw RepriseError("\(path): truncated at byte \(offset); the file is incomplete or damaged") }
                end += n
            }
        }
        let r = buffer.withUnsafeBytes { R(loading: $0.baseAddress! + start) }
        if checkOrder, let c = current, r < c {
            throw RepriseError("\(path): record at byte \(offset) is out of order in its sorted run; the file is damaged, rerun the task that wrote it")
        }
        start += R.size
        offset += R.size
        left -= 1
        current = r
    }
}

/// Decides one document at a time, in input order: nil keeps it, else the reason and the id of the earlier
/// document it duplicates.
public protocol DuplicateChecker: AnyObject {
    func check(id: String, keys: DedupKeys) throws -> (reason: String, duplicateOf: String)?
}

extension Deduplicator: DuplicateChecker {}

/// The entry of a shared key on its way to the key's next document (`position`): the id and signature (empty
/// for an exact key) of the key's first kept document, found at `origin`.
struct KeyMessage: HeapOrdered {
    var position: UInt64, kind: UInt16, origin: UInt64
    var id: String, signature: [UInt32]

    /// Bytes it holds in memory, roughly: the fields, the id and the signature.
    var bytes: Int { 64 + id.utf8.count + 4 * signature.count }
    func before(_ other: KeyMessage) -> Bool { position != other.position ? position < other.position : kind < other.kind }

    func write(_ w: inout BinaryWriter) {
        w.u64(position); w.varint(Int(kind)); w.u64(origin); w.string(id)
        w.varint(signature.count)
        for v in signature { w.u32(v) }
    }

    static func read(_ r: BinaryReader) throws -> KeyMessage {
        let position = try r.u64(), kind = UInt16(try r.count(limit: Int(UInt16.max))), origin = try r.u64()
        let id = try r.string()
        var signature: [UInt32] = []
        try r.u32s(try r.count(limit: 1 << 20), into: &signature)
        return KeyMessage(position: position, kind: kind, origin: origin, id: id, signature: signature)
    }
}

/// A priority queue of key messages by position, for a merge that only moves forward: messages are pushed for
/// later positions than the one being taken. At most `limitBytes` of them wait in memory; when more arrive
/// the heap is written out in order as a sorted run (`SCRATCH/messages-NNNNN.bin`) and read back, 64 KiB at a
/// time, when the merge reaches its positions; more than `fanIn` runs are merged into one.
final class KeyMessageQueue {
    private let scratch: String, limitBytes: Int, fanIn: Int
    private var heap = BinaryHeap<KeyMessage>()
    private var heapBytes = 0
    private final class RunReader {
        let path: String, reader: BinaryReader
        var current: KeyMessage?
        var left: Int
        init(path: String, bytes: Int, count: Int) throws {
            self.path = path
            left = count
            reader = BinaryReader(try FileRangeSource(path: path, offset: 0, count: bytes), name: path)
            try advance()
        }
        func advance() throws {
            if left == 0 { current = nil; return }
            current = try KeyMessage.read(reader)
            left -= 1
        }
    }
    private var runs: [RunReader] = []
    /// Messages waiting (in memory and in runs); the most bytes held in memory; runs written.
    private(set) var count = 0, peakBytes = 0, runsWritten = 0

    init(scratch: String, limitBytes: Int, fanIn: Int) throws {
        precondition(fanIn >= 2)
        self.scratch = scratch
        self.limitBytes = max(1, limitBytes)
        self.fanIn = fanIn
        let fm = FileManager.default
        if fm.fileExists(atPath: scratch) { try fm.removeItem(atPath: scratch) }
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    func push(_ m: KeyMessage) throws {
        heap.push(m)
        heapBytes += m.bytes
        count += 1
        peakBytes = max(peakBytes, heapBytes)
        if heapBytes > limitBytes { try spill() }
    }

    /// Writes every message in memory to a new sorted run.
    private func spill() throws {
        try writeRun { emit in
            while let m = heap.pop() { try emit(m) }
        }
        heapBytes = 0
        if runs.count > fanIn { try compact() }
    }

    /// A new run of the messages `body` emits (in order).
    private func writeRun(_ body: ((KeyMessage) throws -> Void) throws -> Void) throws {
        let path = scratch + String(format: "/messages-%05d.bin", runsWritten)
        runsWritten += 1
        let file = try AtomicFileWriter(path: path)
        var w = BinaryWriter()
        var n = 0
        try body { m in
            m.write(&w)
            n += 1
            if w.bytes.count >= 64 << 10 { try file.write(w.bytes); w.bytes.removeAll(keepingCapacity: true) }
        }
        try file.write(w.bytes)
        try file.commit()
        runs.append(try RunReader(path: path, bytes: file.bytesWritten, count: n))
    }

    private struct Head: HeapOrdered {
        var message: KeyMessage, source: Int
        func before(_ other: Head) -> Bool { message.before(other.message) }
    }

    /// Merges every run into one, so that no more than `fanIn` files are open at once.
    private func compact() throws {
        let old = runs
        runs = []
        var merge = BinaryHeap(old.indices.compactMap { i in old[i].current.map { Head(message: $0, source: i) } })
        try writeRun { emit in
            try merge.drain({ try emit($0.message) }) { top in
                try old[top.source].advance()
                return old[top.source].current.map { Head(message: $0, source: top.source) }
            }
        }
        for r in old { unlink(r.path) }
    }

    /// The messages addressed to `position`, by kind. Positions must not decrease from call to call.
    func take(_ position: UInt64) throws -> [KeyMessage] {
        var out: [KeyMessage] = []
        while let top = heap.top, top.position <= position {
            _ = heap.pop()
            heapBytes -= top.bytes
            try collect(top, at: position, into: &out)
        }
        for r in runs {
            while let m = r.current, m.position <= position {
                try collect(m, at: position, into: &out)
                try r.advance()
            }
            if r.current == nil { unlink(r.path) }
        }
        runs.removeAll { $0.current == nil }
        out.sort { $0.kind < $1.kind }
        return out
    }

    private func collect(_ m: KeyMessage, at position: UInt64, into out: inout [KeyMessage]) throws {
        count -= 1
        guard m.position == position else { throw Self.neverRead(m) }
        out.append(m)
    }

    /// A message whose document passed without taking it: the link files do not match the documents.
    static func neverRead(_ m: KeyMessage) -> RepriseError {
        RepriseError("disk deduplication: \(DiskDedup.describe(m.position)) was sent a key's entry but never read; rerun the dedup round")
    }

    /// Some waiting message, nil when none is left.
    var anyWaiting: KeyMessage? { heap.top ?? runs.first { $0.current != nil }?.current }

    /// Removes the scratch directory.
    func finish() {
        runs = []
        heap = BinaryHeap()
        try? FileManager.default.removeItem(atPath: scratch)
    }
}
