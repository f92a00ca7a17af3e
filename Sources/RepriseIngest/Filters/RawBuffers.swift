// Growable buffers of plain values without reference counting or uniqueness checks, for the hot loops of
// the filters. Owners free them explicitly (`release`) or hand them to a `FrozenBuffer`.

struct GrowBuffer<T> {
    private(set) var base: UnsafeMutablePointer<T>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 8)
        base = UnsafeMutablePointer<T>.allocate(capacity: self.capacity)
    }

    @inline(__always)
    mutating func append(_ x: T) {
        if count == capacity { grow() }
        (base + count).initialize(to: x)
        count += 1
    }

    @inline(__always)
    mutating func append(_ a: T, _ b: T) {
        if count + 2 > capacity { grow() }
        (base + count).initialize(to: a)
        (base + count + 1).initialize(to: b)
        count += 2
    }

    @inline(__always) subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }

    @inline(__always) mutating func removeAll() { count = 0 }
    @inline(__always) mutating func removeLast(_ k: Int) { count -= k }

    private mutating func grow() {
        let newCap = capacity * 2
        let nb = UnsafeMutablePointer<T>.allocate(capacity: newCap)
        nb.moveInitialize(from: base, count: count)
        base.deallocate()
        base = nb
        capacity = newCap
    }

    /// Frees the memory; the buffer must not be used afterwards.
    func release() { base.deallocate() }
}

/// An immutable buffer that owns its memory (taken over from a `GrowBuffer`).
final class FrozenBuffer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    let count: Int

    init(_ b: GrowBuffer<T>) { base = b.base; count = b.count }
    deinit { base.deallocate() }

    @inline(__always) subscript(i: Int) -> T { base[i] }
}
