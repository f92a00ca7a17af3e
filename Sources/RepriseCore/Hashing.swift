import COpenSSL
import Foundation

/// Incremental SHA-256 (OpenSSL's libcrypto), hex output.
public struct SHA256Stream {
    /// Owns the digest context; copied on write, so a copied stream has value semantics.
    private final class Context {
        let ctx: OpaquePointer
        init() {
            ctx = EVP_MD_CTX_new()
            EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        }
        init(copying other: Context) {
            ctx = EVP_MD_CTX_new()
            EVP_MD_CTX_copy_ex(ctx, other.ctx)
        }
        deinit { EVP_MD_CTX_free(ctx) }
    }
    private var context = Context()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        if bytes.count > 0 { EVP_DigestUpdate(context.ctx, bytes.baseAddress, bytes.count) }
    }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    public mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }
    /// The digest of everything so far.
    public func finalize() -> [UInt8] {
        // Finalising a copy leaves this stream usable.
        let done = Context(copying: context)
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(done.ctx, &out, &len)
        return out
    }
    public func finalizeHex() -> String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var s: [UInt8] = []
        s.reserveCapacity(64)
        for b in finalize() { s.append(hex[Int(b >> 4)]); s.append(hex[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}

public enum Hashing {
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var s = SHA256Stream(); s.update(bytes); return s.finalizeHex()
    }
    public static func sha256Hex(_ string: String) -> String { sha256Hex(Array(string.utf8)) }

    /// SHA-256 of a file's content, streamed.
    public static func sha256Hex(file path: String) throws -> String {
        let src = try FileSource(path: path)
        var s = SHA256Stream()
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buf.withUnsafeMutableBytes { try src.read(into: $0) }
            if n == 0 { break }
            buf.withUnsafeBytes { s.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return s.finalizeHex()
    }

    /// 64-bit FNV-1a: a fast, stable, non-cryptographic hash for words and shingles.
    @inlinable
    public static func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// A strong 64-bit mixer (the SplitMix64 finaliser).
    @inlinable
    public static func mix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// SplitMix64: a small deterministic generator, seeded explicitly; the same seed gives the same stream
/// on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<n: multiply-shift with rejection, so unbiased and the same on every machine.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n), threshold = (0 &- bound) % bound
        while true {
            let (high, low) = next().multipliedFullWidth(by: bound)
            if low >= threshold { return Int(high) }
        }
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A uniform double in (0, 1] with 53 random bits (safe under a logarithm).
    public mutating func unitAboveZero() -> Double { (Double(next() >> 11) + 1) * 0x1p-53 }

    /// Fisher–Yates from the last element down, with `below` as the only source of randomness.
    public mutating func shuffle<T>(_ a: inout [T]) {
        var i = a.count - 1
        while i > 0 {
            a.swapAt(i, below(i + 1))
            i -= 1
        }
    }
}

extension Hashing {
    /// Raw SHA-256 digest of a string's UTF-8.
    public static func sha256Bytes(_ string: String) -> [UInt8] {
        var h = SHA256Stream()
        h.update(string)
        return h.finalize()
    }
}
