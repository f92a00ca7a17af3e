import Foundation
import RepriseCore

/// Token width of a shard. The raw value is the number of bytes per token, as stored in the header.
public enum ShardDType: UInt32, Sendable, CaseIterable {
    case uint16 = 2
    case uint32 = 4

    public var byteWidth: Int { Int(rawValue) }
    /// The largest token id this dtype can hold.
    public var maxToken: UInt32 { self == .uint16 ? UInt32(UInt16.max) : UInt32.max }
    public var name: String { self == .uint16 ? "uint16" : "uint32" }

    /// uint16 when every id of a vocabulary of `vocabSize` tokens fits, else uint32.
    public static func forVocabulary(size vocabSize: Int) -> ShardDType {
        vocabSize <= Int(UInt16.max) + 1 ? .uint16 : .uint32
    }
}

/// One token frame as recorded in the index.
public struct ShardFrame: Equatable, Sendable {
    /// Byte offset of the zstd frame in the file.
    public var offset: Int
    /// Size of the compressed zstd frame in bytes.
    public var compressedSize: Int
    /// Index (within the shard) of the frame's first token.
    public var firstToken: Int
    public var tokenCount: Int
    public var tokenRange: Range<Int> { firstToken..<(firstToken + tokenCount) }
}

/// What a finished writer or a verify run reports about a shard file.
public struct ShardSummary: Equatable, Sendable {
    public var path: String
    public var dtype: ShardDType
    public var tokenCount: Int
    public var frameCount: Int
    public var documentCount: Int
    public var byteSize: Int
    /// SHA-256 (hex) of the whole file.
    public var sha256: String
}

/// Constants of the shard file layout; FORMAT.md describes them.
public enum ShardFormat {
    public static let version: UInt32 = 1
    /// Tokens per zstd frame unless the writer is told otherwise (128 KiB of uint16 tokens).
    public static let defaultFrameTokens = 65_536

    /// zstd skippable-frame magic numbers (0x184D2A50...0x184D2A5F are reserved for user data).
    static let headerFrameMagic: UInt32 = 0x184D_2A50
    static let indexFrameMagic: UInt32 = 0x184D_2A51
    static let trailerFrameMagic: UInt32 = 0x184D_2A52

    /// Magic strings at the start of each skippable frame's payload.
    static let headerMagic: [UInt8] = Array("RPRSHARD".utf8)
    static let indexMagic: [UInt8] = Array("RPRSINDX".utf8)
    static let trailerMagic: [UInt8] = Array("RPRSTAIL".utf8)

    static let headerPayloadSize = 24
    static let trailerPayloadSize = 24
    /// Whole skippable frames: 8 bytes of frame header plus the payload.
    static let headerFrameSize = 8 + headerPayloadSize
    static let trailerFrameSize = 8 + trailerPayloadSize
    /// Fixed part of the index payload: magic, token count, frame count, document count.
    static let indexFixedSize = 32
    static let indexFrameEntrySize = 32
    static let indexDigestSize = 32
}

/// Little-endian encoding into a growing byte array.
struct LEBytes {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

/// Little-endian decoding from a byte array; callers check lengths first.
enum LE {
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        UInt64(u32(b, at)) | UInt64(u32(b, at + 4)) << 32
    }
}
