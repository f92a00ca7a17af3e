import Foundation
import RepriseCore

/// An owned, 64-byte aligned, zero-initialised array of Float that lives as long as the object: the
/// storage for parameters, gradients, optimizer moments and activations. Hot loops take `pointer` once and
/// index it directly.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0)
        var raw: UnsafeMutableRawPointer? = nil
        // 64 bytes: a cache line and an AVX-512 register.
        guard posix_memalign(&raw, 64, max(count, 1) * MemoryLayout<Float>.stride) == 0, let raw else {
            fatalError("out of memory allocating \(count) floats")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        self.count = count
    }

    deinit { free(pointer) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }

    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
