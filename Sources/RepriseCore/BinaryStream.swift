import Foundation

/// Appends little-endian integers, LEB128 varints and length-prefixed byte strings to a byte array: the
/// encoding of the small binary files that tasks hand to a merge (task candidates, pre-token counts,
/// encoded documents).
public struct BinaryWriter {
    public var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// Unsigned LEB128: 7 bits per byte, high bit set on all bytes but the last.
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    public mutating func varint(_ v: Int) { precondition(v >= 0, "varint of a negative value"); varint(UInt64(v)) }
    /// A varint length, then the bytes.
    public mutating func data(_ b: [UInt8]) { varint(b.count); bytes.append(contentsOf: b) }
    public mutating func data(_ b: UnsafeBufferPointer<UInt8>) { varint(b.count); bytes.append(contentsOf: b) }
    public mutating func string(_ s: String) { data(Array(s.utf8)) }
}

/// Reads what `BinaryWriter` wrote from a byte stream, buffering it. Every failure names the stream and the
/// offset in its decoded bytes.
public final class BinaryReader {
    private let source: ByteSource
    public let name: String
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0, end = 0
    /// Decoded bytes consumed before `buffer[start]`.
    private var consumedBefore = 0

    public init(_ source: ByteSource, name: String) {
        self.source = source
        self.name = name
    }

    /// Offset of the next byte in the decoded stream.
    public var offset: Int { consumedBefore + start }

    /// Refills the buffer; false at the end of the stream.
    private func fill() throws -> Bool {
        if start < end { return true }
        consumedBefore += end
        start = 0
        end = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        return end > 0
    }

    /// True when no byte is left.
    public func atEnd() throws -> Bool { try !fill() }

    private func truncated(_ what: String) -> RepriseError {
        RepriseError("\(name): truncated at byte \(offset) (while reading \(what)); the file is incomplete or damaged")
    }

    public func u8() throws -> UInt8 {
        guard try fill() else { throw truncated("a byte") }
        defer { start += 1 }
        return buffer[start]
    }

    public func u32() throws -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(try u8()) << (8 * i) }
        return v
    }

    public func u64() throws -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(try u8()) << (8 * i) }
        return v
    }

    public func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 { throw RepriseError("\(name): varint too large at byte \(offset)") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    /// A varint that must fit in `limit` (a count or length): larger values mean damage, not data.
    public func count(limit: Int = Int(Int32.max)) throws -> Int {
        let v = try varint()
        guard v <= UInt64(limit) else { throw RepriseError("\(name): value \(v) at byte \(offset) is out of range (at most \(limit))") }
        return Int(v)
    }

    /// `n` bytes.
    public func bytes(_ n: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(n)
        while out.count < n {
            guard try fill() else { throw truncated("\(n) bytes") }
            let take = min(n - out.count, end - start)
            out.append(contentsOf: buffer[start..<(start + take)])
            start += take
        }
        return out
    }

    /// A varint length, then that many bytes.
    public func data() throws -> [UInt8] { try bytes(try count(limit: Int.max / 2)) }
    public func string() throws -> String { String(decoding: try data(), as: UTF8.self) }

    /// Reads `n` little-endian u32 values, appending them to `out`.
    public func u32s(_ n: Int, into out: inout [UInt32]) throws {
        out.reserveCapacity(out.count + n)
        for _ in 0..<n { out.append(try u32()) }
    }
}

/// A byte range of a file, read with `pread`: one frame of a file that holds many, read without the rest.
public final class FileRangeSource: ByteSource {
    public let path: String
    private let fd: Int32
    private var position: Int
    private let endOffset: Int
    public private(set) var bytesConsumed = 0

    public init(path: String, offset: Int, count: Int) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        if fd < 0 { throw RepriseError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        position = offset
        endOffset = offset + count
    }
    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = min(buffer.count, endOffset - position)
        if want <= 0 { return 0 }
        while true {
            let n = pread(fd, buffer.baseAddress, want, off_t(position))
            if n > 0 { position += n; bytesConsumed += n; return n }
            if n == 0 { throw RepriseError("\(path): ends at byte \(position), before the \(endOffset - position) bytes its manifest lists; the file is incomplete") }
            if errno == EINTR { continue }
            throw RepriseError("\(path): read failed at byte \(position): \(String(cString: strerror(errno)))")
        }
    }
}
