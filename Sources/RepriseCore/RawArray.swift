/// A growable array of plain values on manually managed memory, for hot loops (pre-token counting, BPE
/// training, the quality filters' word and line tables): no bounds checks, reference counting or
/// copy-on-write checks. It is a struct holding a pointer, so it must have exactly one owner, which calls
/// `deallocate()` once (or hands the memory on, as the filters' frozen buffers do).
public struct RawArray<T: BitwiseCopyable> {
    @usableFromInline var storage: UnsafeMutablePointer<T>
    @usableFromInline var used = 0
    @usableFromInline var allocated: Int

    @inlinable public init(capacity: Int = 16) {
        allocated = max(capacity, 16)
        storage = .allocate(capacity: allocated)
    }

    @inlinable public init(repeating value: T, count: Int) {
        self.init(capacity: count)
        storage.initialize(repeating: value, count: count)
        used = count
    }

    /// The first element; valid until the next call that grows the array.
    @inlinable public var ptr: UnsafeMutablePointer<T> { storage }
    @inlinable public var count: Int { used }
    @inlinable public var capacity: Int { allocated }
    @inlinable public var buffer: UnsafeMutableBufferPointer<T> { UnsafeMutableBufferPointer(start: storage, count: used) }

    @inlinable public func deallocate() { storage.deallocate() }

    @inlinable @inline(__always) public subscript(i: Int) -> T {
        get { storage[i] }
        nonmutating set { storage[i] = newValue }
    }

    @inlinable @inline(__always) public mutating func append(_ v: T) {
        if used == allocated { grow(used + 1) }
        storage[used] = v
        used += 1
    }

    @inlinable @inline(__always) public mutating func append(_ a: T, _ b: T) {
        if used + 2 > allocated { grow(used + 2) }
        storage[used] = a
        storage[used + 1] = b
        used += 2
    }

    @inlinable public mutating func append(contentsOf src: UnsafePointer<T>, count n: Int) {
        if used + n > allocated { grow(used + n) }
        (storage + used).update(from: src, count: n)
        used += n
    }

    @inlinable public mutating func reserve(_ n: Int) { if n > allocated { grow(n) } }

    /// Sets the count (growing if needed); new elements are uninitialised, which is fine for plain values
    /// that the caller writes before reading.
    @inlinable public mutating func resize(_ n: Int) {
        if n > allocated { grow(n) }
        used = n
    }

    @inlinable @inline(__always) public mutating func removeAll() { used = 0 }

    @inlinable @inline(__always) public mutating func removeLast() -> T {
        used -= 1
        return storage[used]
    }

    @inlinable @inline(__always) public mutating func removeLast(_ k: Int) { used -= k }

    @usableFromInline mutating func grow(_ need: Int) {
        var c = allocated
        while c < need { c *= 2 }
        let p = UnsafeMutablePointer<T>.allocate(capacity: c)
        p.update(from: storage, count: used)
        storage.deallocate()
        storage = p
        allocated = c
    }
}
