import Crypto
import Foundation

/// Incremental SHA-256 (swift-crypto), hex output.
public struct SHA256Stream {
    private var h = Crypto.SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { h.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { h.update(bufferPointer: $0) } }
    public mutating func update(_ string: String) { update(Array(string.utf8)) }
    public func finalizeHex() -> String { h.finalize().map { String(format: "%02x", $0) }.joined() }
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
}

extension Hashing {
    /// Raw SHA-256 digest of a string's UTF-8.
    public static func sha256Bytes(_ string: String) -> [UInt8] {
        var s = string
        return s.withUTF8 { Array(Crypto.SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }
}
