import Foundation
import RepriseCore

// Small unsafe containers behind the tokenizer's hot loops (pre-token counting, BPE training, encoding).
// They work on raw memory so that the inner loops have no bounds checks, copy-on-write checks or
// Dictionary hashing of Swift arrays; everything else in the module uses them through narrow methods.

/// A fast 64-bit hash of a short byte string (pre-tokens are a few bytes long): 8 bytes per step, then the
/// SplitMix64 finaliser. Stable across runs and machines.
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ (UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
        h = (h << 31) | (h >> 33)
        i += 8
    }
    var tail: UInt64 = 0
    var shift: UInt64 = 0
    while i < n {
        tail |= UInt64(p[i]) << shift
        shift += 8
        i += 1
    }
    return Hashing.mix64(h ^ tail)
}

/// Byte equality for short keys, inlined (calls to memcmp were 7% of an encoding profile).
@inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i + 8 <= n {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i += 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// Open-addressing hash table from byte strings to a 64-bit value. Keys are copied into one arena;
/// entries are numbered 0..<count in insertion order. Slots hold (hash high 32 bits, entry + 1); an entry
/// keeps its key's place, length, hash and value together, so a lookup touches one slot, one entry and
/// the key bytes. Counting 100 MB is bound by these cache misses (perf: most samples on the slot and entry
/// loads), hence the compact layout.
final class ByteKeyTable {
    struct Entry {
        var start: Int
        var hash: UInt64
        var value: UInt64
        var length: Int
    }
    private var arena = RawArray<UInt8>(capacity: 1 << 12)
    private var entries = RawArray<Entry>()
    private var slots: RawArray<UInt64>
    private var mask: Int

    init(capacity: Int = 1024) {
        var c = 64
        while c < capacity * 2 { c *= 2 }
        slots = RawArray(repeating: 0, count: c)
        mask = c - 1
    }

    deinit { arena.deallocate(); entries.deallocate(); slots.deallocate() }

    var count: Int { entries.count }

    @inline(__always) func key(_ e: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: arena.ptr + entries[e].start, count: entries[e].length)
    }
    @inline(__always) func keyLength(_ e: Int) -> Int { entries[e].length }
    @inline(__always) func keyHash(_ e: Int) -> UInt64 { entries[e].hash }
    @inline(__always) func value(_ e: Int) -> UInt64 { entries[e].value }
    @inline(__always) func add(_ e: Int, _ v: UInt64) { entries.ptr[e].value += v }

    /// The entry holding the key, or -1.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int, hash h: UInt64) -> Int {
        let tag = h >> 32
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { return -1 }
            if s >> 32 == tag {
                let e = Int(s & 0xFFFF_FFFF) - 1
                let en = entries.ptr + e
                if en.pointee.length == n && bytesEqual(arena.ptr + en.pointee.start, p, n) { return e }
            }
            i = (i + 1) & mask
        }
    }

    /// The entry holding the key, inserted with `initial` as value when missing.
    @inline(__always)
    func findOrInsert(_ p: UnsafePointer<UInt8>, _ n: Int, hash h: UInt64, initial: UInt64) -> (entry: Int, inserted: Bool) {
        let tag = h >> 32
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { break }
            if s >> 32 == tag {
                let e = Int(s & 0xFFFF_FFFF) - 1
                let en = entries.ptr + e
                if en.pointee.length == n && bytesEqual(arena.ptr + en.pointee.start, p, n) { return (e, false) }
            }
            i = (i + 1) & mask
        }
        let e = count
        precondition(e < Int(UInt32.max) - 1, "ByteKeyTable: more than 4 billion distinct keys")
        entries.append(Entry(start: arena.count, hash: h, value: initial, length: n))
        arena.append(contentsOf: p, count: n)
        slots[i] = (tag << 32) | UInt64(e + 1)
        if count * 2 > mask + 1 { rehash() }  // keep the load factor at most 1/2
        return (e, true)
    }

    private func rehash() {
        let c = (mask + 1) * 2
        slots.deallocate()
        slots = RawArray(repeating: 0, count: c)
        mask = c - 1
        for e in 0..<count {
            let h = entries[e].hash
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = ((h >> 32) << 32) | UInt64(e + 1)
        }
    }

    /// Empties the table, keeping its memory.
    func removeAll() {
        arena.removeAll(); entries.removeAll()
        slots.ptr.update(repeating: 0, count: mask + 1)
    }
}

/// Open-addressing hash table from a pair of token ids (packed as left << 32 | right) to a 32-bit value.
final class PairTable {
    static let empty = UInt64.max
    private var keys: RawArray<UInt64>
    private var vals: RawArray<UInt32>
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var c = 64
        while c < capacity * 2 { c *= 2 }
        keys = RawArray(repeating: PairTable.empty, count: c)
        vals = RawArray(repeating: 0, count: c)
        mask = c - 1
    }

    deinit { keys.deallocate(); vals.deallocate() }

    @inline(__always) static func key(_ l: UInt32, _ r: UInt32) -> UInt64 { UInt64(l) << 32 | UInt64(r) }

    @inline(__always) private func slot(_ k: UInt64) -> Int { Int(truncatingIfNeeded: Hashing.mix64(k)) & mask }

    /// The value for the key, or `missing`.
    @inline(__always)
    func get(_ k: UInt64, missing: UInt32 = UInt32.max) -> UInt32 {
        var i = slot(k)
        while true {
            let s = keys[i]
            if s == k { return vals[i] }
            if s == PairTable.empty { return missing }
            i = (i + 1) & mask
        }
    }

    /// Returns the value for the key; when missing, stores `make()` first.
    @inline(__always)
    func getOrInsert(_ k: UInt64, _ make: () -> UInt32) -> (value: UInt32, inserted: Bool) {
        var i = slot(k)
        while true {
            let s = keys[i]
            if s == k { return (vals[i], false) }
            if s == PairTable.empty { break }
            i = (i + 1) & mask
        }
        let v = make()
        keys[i] = k
        vals[i] = v
        count += 1
        if count * 2 > mask + 1 { rehash() }
        return (v, true)
    }

    /// Stores the value when the key is missing (first writer wins).
    func insertIfMissing(_ k: UInt64, _ v: UInt32) { _ = getOrInsert(k) { v } }

    private func rehash() {
        let oldKeys = keys, oldVals = vals, oldCap = mask + 1
        let c = oldCap * 2
        keys = RawArray(repeating: PairTable.empty, count: c)
        vals = RawArray(repeating: 0, count: c)
        mask = c - 1
        for j in 0..<oldCap where oldKeys[j] != PairTable.empty {
            var i = slot(oldKeys[j])
            while keys[i] != PairTable.empty { i = (i + 1) & mask }
            keys[i] = oldKeys[j]
            vals[i] = oldVals[j]
        }
        oldKeys.deallocate(); oldVals.deallocate()
    }
}

/// A trie of byte strings, each with a 32-bit value, that lists in one pass which prefixes of a string are
/// in it. Children are found by (node, byte) in a `PairTable`; node 0 is the root.
final class ByteTrie {
    private let children = PairTable(capacity: 1 << 12)
    /// Per node: the value of the string that ends there, or `UInt32.max`.
    private var values = RawArray<UInt32>(repeating: UInt32.max, count: 1)

    deinit { values.deallocate() }

    /// Adds `bytes` (read from the end when `reversed`) with `value`.
    func insert(_ bytes: UnsafeBufferPointer<UInt8>, reversed: Bool = false, value: UInt32) {
        let n = bytes.count
        var node: UInt32 = 0
        for i in 0..<n {
            let b = bytes[reversed ? n - 1 - i : i]
            let r = children.getOrInsert(PairTable.key(node, UInt32(b))) { UInt32(values.count) }
            if r.inserted { values.append(UInt32.max) }
            node = r.value
        }
        values[Int(node)] = value
    }

    /// Calls `body(length, value)` for each prefix of `bytes` (of its reversal when `reversed`) that is in
    /// the trie, shortest first.
    func prefixes(of bytes: UnsafeBufferPointer<UInt8>, reversed: Bool = false, _ body: (Int, UInt32) -> Void) {
        let n = bytes.count
        var node: UInt32 = 0
        for i in 0..<n {
            let b = bytes[reversed ? n - 1 - i : i]
            node = children.get(PairTable.key(node, UInt32(b)))
            if node == UInt32.max { return }
            let v = values[Int(node)]
            if v != UInt32.max { body(i + 1, v) }
        }
    }
}

/// Hands out work items 0..<count to threads, in order.
final class WorkCounter: @unchecked Sendable {
    // Guarded by `lock`; shared by the worker threads of one parallel loop.
    private var next = 0
    private let lock = NSLock()
    func take() -> Int { lock.lock(); defer { lock.unlock() }; let v = next; next += 1; return v }
}

/// Runs `body(thread)` for thread in 0..<threads concurrently and waits for all of them. Unlike
/// `parallelFor`, each call knows its thread index, so it can own per-thread state (a hash map, a cache).
func onThreads(_ threads: Int, _ body: (Int) -> Void) {
    if threads <= 1 { body(0); return }
    withoutActuallyEscaping(body) { body in
        // Callers give each thread index its own state; shared inputs are read-only.
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: threads) { t in task.value(t) }
    }
}
