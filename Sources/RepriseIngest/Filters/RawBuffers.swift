// An immutable buffer for the filters' hot loops: it takes over the memory of a `RawArray` (RepriseCore),
// the growable one they fill, so the tables it holds are read without reference counting.

import RepriseCore

/// An immutable buffer that owns its memory (taken over from a `RawArray`).
final class FrozenBuffer<T: BitwiseCopyable>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    let count: Int

    init(_ b: RawArray<T>) { base = b.ptr; count = b.count }
    deinit { base.deallocate() }

    @inline(__always) subscript(i: Int) -> T { base[i] }
}
