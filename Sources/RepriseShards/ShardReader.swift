import Foundation
import RepriseCore

/// Random access to one shard file (layout in FORMAT.md). Opening checks the header, trailer and index
/// (magic, version, sizes, the index digest and that the frames tile the file); every frame read is
/// checked by zstd's content checksum and by its decoded size. Any fault is a `RepriseError` naming the
/// file and, for token data, the frame index: a reader never returns wrong tokens.
///
/// Reads use `pread` on one descriptor, so a reader may be shared between threads.
public final class ShardReader: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let dtype: ShardDType
    /// Tokens per frame; every frame but the last holds exactly this many.
    public let frameTokens: Int
    public let tokenCount: Int
    public let frames: [ShardFrame]
    /// Index of the first token of each document, strictly increasing.
    public let documentStarts: [Int]
    /// Size of the file in bytes.
    public let byteSize: Int

    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw RepriseError("\(path): cannot open shard: \(String(cString: strerror(errno)))") }
        self.fd = fd
        do {
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                throw RepriseError("\(path): cannot stat: \(String(cString: strerror(errno)))")
            }
            let size = Int(st.st_size)
            byteSize = size
            (version, dtype, frameTokens) = try Self.readHeader(fd, path: path, size: size)
            let (indexOffset, indexSize) = try Self.readTrailer(fd, path: path, size: size, dtype: dtype, frameTokens: frameTokens)
            (tokenCount, frames, documentStarts) = try Self.readIndex(fd, path: path, offset: indexOffset, size: indexSize,
                                                                      frameTokens: frameTokens)
        } catch {
            close(fd)
            throw error
        }
    }

    /// The header frame at byte 0: magic, payload size, format version, token width, tokens per frame.
    private static func readHeader(_ fd: Int32, path: String, size: Int) throws -> (version: Int, dtype: ShardDType, frameTokens: Int) {
        guard size >= ShardFormat.headerFrameSize else {
            throw RepriseError("\(path): \(size) bytes is too small for a shard header: not a Reprise shard, or truncated")
        }
        let h = try Self.pread(fd, path: path, offset: 0, count: ShardFormat.headerFrameSize)
        guard LE.u32(h, 0) == ShardFormat.headerFrameMagic, Array(h[8..<16]) == ShardFormat.headerMagic else {
            throw RepriseError("\(path): no shard header at byte 0: not a Reprise shard")
        }
        guard LE.u32(h, 4) == UInt32(ShardFormat.headerPayloadSize) else {
            throw RepriseError("\(path): shard header at byte 0 has payload size \(LE.u32(h, 4)), expected \(ShardFormat.headerPayloadSize)")
        }
        let v = LE.u32(h, 16)
        guard v == ShardFormat.version else {
            throw RepriseError("\(path): shard format version \(v), this build reads version \(ShardFormat.version): repack with this version of reprise")
        }
        guard let dt = ShardDType(rawValue: LE.u32(h, 20)) else {
            throw RepriseError("\(path): header at byte 20 gives token width \(LE.u32(h, 20)); expected 2 (uint16) or 4 (uint32)")
        }
        let ft = Int(LE.u32(h, 24))
        guard ft > 0 else { throw RepriseError("\(path): header at byte 24 gives 0 tokens per frame") }

        return (Int(v), dt, ft)
    }

    /// The trailer frame at the end: where the index is and how long it is (it must end where the trailer starts).
    private static func readTrailer(_ fd: Int32, path: String, size: Int, dtype dt: ShardDType, frameTokens ft: Int) throws -> (offset: Int, size: Int) {
        let trailerOffset = size - ShardFormat.trailerFrameSize
        var trailer: [UInt8] = []
        if trailerOffset >= ShardFormat.headerFrameSize {
            trailer = try Self.pread(fd, path: path, offset: trailerOffset, count: ShardFormat.trailerFrameSize)
        }
        guard trailer.count == ShardFormat.trailerFrameSize,
              LE.u32(trailer, 0) == ShardFormat.trailerFrameMagic,
              LE.u32(trailer, 4) == UInt32(ShardFormat.trailerPayloadSize),
              Array(trailer[8..<16]) == ShardFormat.trailerMagic
        else {
            throw Self.diagnoseMissingTrailer(path: path, size: size, dtype: dt, frameTokens: ft)
        }
        let indexOffset64 = LE.u64(trailer, 16), indexSize64 = LE.u64(trailer, 24)
        guard indexOffset64 >= UInt64(ShardFormat.headerFrameSize), indexSize64 >= 8,
              indexOffset64 <= UInt64(trailerOffset), indexOffset64 + indexSize64 == UInt64(trailerOffset)
        else {
            throw RepriseError("\(path): trailer at byte \(trailerOffset) points to an index at \(indexOffset64) of \(indexSize64) bytes, which does not end where the trailer starts: shard damaged")
        }
        return (Int(indexOffset64), Int(indexSize64))

    }

    /// The index frame: its SHA-256, the counts, the frames (which must tile the bytes between header and index,
    /// and the tokens 0..<tokenCount) and the documents' first tokens (strictly increasing).
    private static func readIndex(_ fd: Int32, path: String, offset indexOffset: Int, size indexSize: Int,
                                  frameTokens ft: Int) throws -> (tokenCount: Int, frames: [ShardFrame], starts: [Int]) {
        let idx = try Self.pread(fd, path: path, offset: indexOffset, count: indexSize)
        let payloadSize = indexSize - 8
        guard LE.u32(idx, 0) == ShardFormat.indexFrameMagic, Int(LE.u32(idx, 4)) == payloadSize,
              payloadSize >= ShardFormat.indexFixedSize + ShardFormat.indexDigestSize,
              Array(idx[8..<16]) == ShardFormat.indexMagic
        else {
            throw RepriseError("\(path): no valid index frame at byte \(indexOffset): shard damaged")
        }
        let body = Array(idx[8..<(indexSize - ShardFormat.indexDigestSize)])
        var digest = SHA256Stream()
        digest.update(body)
        guard digest.finalize() == Array(idx[(indexSize - ShardFormat.indexDigestSize)...]) else {
            throw RepriseError("\(path): index at byte \(indexOffset) fails its SHA-256 check: shard damaged")
        }
        let tc = LE.u64(body, 8), fc = LE.u64(body, 16), dc = LE.u64(body, 24)
        let entries = UInt64(body.count - ShardFormat.indexFixedSize)
        guard fc <= entries / UInt64(ShardFormat.indexFrameEntrySize), dc <= entries / 8,
              fc * UInt64(ShardFormat.indexFrameEntrySize) + dc * 8 == entries
        else {
            throw RepriseError("\(path): index at byte \(indexOffset) claims \(fc) frames and \(dc) documents, which do not match its size of \(payloadSize) bytes")
        }
        let tokenCount = Int(tc)

        // Frames must tile the bytes between header and index, and the tokens 0..<tokenCount.
        var frames: [ShardFrame] = []
        frames.reserveCapacity(Int(fc))
        var expectOffset = ShardFormat.headerFrameSize, expectToken = 0
        for i in 0..<Int(fc) {
            let at = ShardFormat.indexFixedSize + i * ShardFormat.indexFrameEntrySize
            let f = ShardFrame(offset: Int(clamping: LE.u64(body, at)), compressedSize: Int(clamping: LE.u64(body, at + 8)),
                               firstToken: Int(clamping: LE.u64(body, at + 16)), tokenCount: Int(clamping: LE.u64(body, at + 24)))
            let isLast = i == Int(fc) - 1
            guard f.offset == expectOffset, f.compressedSize > 0, f.compressedSize <= indexOffset - f.offset,
                  f.firstToken == expectToken,
                  isLast ? (f.tokenCount > 0 && f.tokenCount <= ft) : f.tokenCount == ft
            else {
                throw RepriseError("\(path): index entry for frame \(i) (offset \(f.offset), \(f.compressedSize) bytes, tokens \(f.firstToken)+\(f.tokenCount)) is inconsistent: shard damaged")
            }
            frames.append(f)
            expectOffset += f.compressedSize
            expectToken += f.tokenCount
        }
        guard expectOffset == indexOffset, expectToken == tokenCount else {
            throw RepriseError("\(path): index frames cover bytes up to \(expectOffset) and \(expectToken) tokens; the index is at byte \(indexOffset) and claims \(tokenCount) tokens: shard damaged")
        }

        var starts: [Int] = []
        starts.reserveCapacity(Int(dc))
        let startsAt = ShardFormat.indexFixedSize + Int(fc) * ShardFormat.indexFrameEntrySize
        for j in 0..<Int(dc) {
            let s = Int(clamping: LE.u64(body, startsAt + 8 * j))
            guard s < tokenCount, starts.last.map({ s > $0 }) ?? true else {
                throw RepriseError("\(path): document start \(j) (token \(s)) is out of order or past the \(tokenCount) tokens: shard damaged")
            }
            starts.append(s)
        }
        return (tokenCount, frames, starts)
    }

    deinit { close(fd) }

    public var frameCount: Int { frames.count }

    /// The tokens `range` (indices within this shard), decompressing only the frames it spans.
    public func tokens(in range: Range<Int>) throws -> [UInt32] {
        guard range.lowerBound >= 0, range.upperBound <= tokenCount else {
            throw RepriseError("\(path): tokens \(range.lowerBound)..<\(range.upperBound) are outside the shard's \(tokenCount) tokens")
        }
        if range.isEmpty { return [] }
        var out: [UInt32] = []
        out.reserveCapacity(range.count)
        for i in (range.lowerBound / frameTokens)...((range.upperBound - 1) / frameTokens) {
            let f = frames[i]
            let lo = max(range.lowerBound, f.firstToken) - f.firstToken
            let hi = min(range.upperBound, f.firstToken + f.tokenCount) - f.firstToken
            try withFrameBytes(i) { Self.decodeTokens($0, dtype: dtype, range: lo..<hi, into: &out) }
        }
        return out
    }

    /// All tokens of frame `index`.
    public func tokens(inFrame index: Int) throws -> [UInt32] {
        var out: [UInt32] = []
        try tokens(inFrame: index, into: &out)
        return out
    }

    /// All tokens of frame `index`, replacing the contents of `out` (whose capacity is kept: a caller that
    /// reads frame after frame into the same array allocates nothing).
    public func tokens(inFrame index: Int, into out: inout [UInt32]) throws {
        precondition(index >= 0 && index < frames.count, "frame index out of range")
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(frames[index].tokenCount)
        try withFrameBytes(index) { Self.decodeTokens($0, dtype: dtype, range: 0..<frames[index].tokenCount, into: &out) }
    }

    /// The decompressed little-endian bytes of frame `index`, checked (zstd checksum, decoded size).
    public func frameBytes(_ index: Int) throws -> [UInt8] {
        try withFrameBytes(index) { Array($0) }
    }

    /// Reads frame `index`, decompresses it into the reader's buffer, checks it and passes the decoded bytes
    /// to `body` (valid only during the call).
    private func withFrameBytes<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let f = frames[index]
        // Built only for an error: formatting it costs more than decompressing a small frame.
        var what: String { "\(path): frame \(index) of \(frames.count) (tokens \(f.firstToken)..<\(f.firstToken + f.tokenCount), bytes \(f.offset)..<\(f.offset + f.compressedSize))" }
        let expected = f.tokenCount * dtype.byteWidth
        let scratch = FrameScratch.take()
        defer { FrameScratch.give(scratch) }
        if scratch.compressed.count < f.compressedSize { scratch.compressed = [UInt8](repeating: 0, count: f.compressedSize) }
        // One byte more than expected: a frame that decodes to more is refused (zstd stops at the end).
        if scratch.decoded.count < expected + 1 { scratch.decoded = [UInt8](repeating: 0, count: expected + 1) }
        do {
            try scratch.compressed.withUnsafeMutableBytes {
                try Self.pread(fd, path: path, offset: f.offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<f.compressedSize]))
            }
        } catch {
            throw RepriseError("\(what): cannot read: \(error.oneLine)")
        }
        guard f.compressedSize >= 4, Array(scratch.compressed[0..<4]) == Zstd.magic else {
            throw RepriseError("\(what): does not start with a zstd frame magic: shard damaged")
        }
        let decodedCount: Int
        do {
            decodedCount = try scratch.compressed.withUnsafeBytes { src in
                try scratch.decoded.withUnsafeMutableBytes { dst in
                    try scratch.decoder.decompress(UnsafeRawBufferPointer(rebasing: src[0..<f.compressedSize]),
                                           into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<(expected + 1)]))
                }
            }
        } catch {
            throw RepriseError("\(what) fails its check: \(error.oneLine)")
        }
        guard decodedCount == expected else {
            throw RepriseError("\(what) decodes to \(decodedCount) bytes, expected \(expected): shard damaged")
        }
        return try scratch.decoded.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<expected])) }
    }

    /// Decompresses and checks every frame; throws on the first fault.
    public func verifyFrames() throws {
        for i in frames.indices { _ = try frameBytes(i) }
    }

    /// Opens `path` and checks its structure and every frame; returns its counts and SHA-256.
    @discardableResult
    public static func verify(path: String) throws -> ShardSummary {
        let reader = try ShardReader(path: path)
        try reader.verifyFrames()
        return ShardSummary(path: path, dtype: reader.dtype, tokenCount: reader.tokenCount,
                            frameCount: reader.frames.count, documentCount: reader.documentStarts.count,
                            byteSize: reader.byteSize, sha256: try Hashing.sha256Hex(file: path))
    }

    // MARK: - Internals

    /// Appends the tokens `range` of decoded frame bytes to `out`. The array grows once and is filled through a
    /// pointer: appending token by token costs more than decompressing.
    private static func decodeTokens(_ raw: UnsafeRawBufferPointer, dtype: ShardDType, range: Range<Int>, into out: inout [UInt32]) {
        let start = out.count, n = range.count, width = dtype.byteWidth
        if n == 0 { return }
        precondition(range.lowerBound >= 0 && range.upperBound * width <= raw.count)
        let src = raw.baseAddress! + range.lowerBound * width
        out += repeatElement(0, count: n)
        out.withUnsafeMutableBufferPointer { buf in
            let dst = buf.baseAddress! + start
            switch dtype {
            case .uint16:
                for i in 0..<n { dst[i] = UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .uint32:
                for i in 0..<n { dst[i] = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            }
        }
    }

    /// Reads exactly `count` bytes at `offset`; a short read means the file is shorter than its index says.
    private static func pread(_ fd: Int32, path: String, offset: Int, count: Int) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        try buf.withUnsafeMutableBytes { try pread(fd, path: path, offset: offset, into: $0) }
        return buf
    }

    /// Fills `buffer` with the bytes at `offset`.
    private static func pread(_ fd: Int32, path: String, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        let count = buffer.count
        var done = 0
        while done < count {
            let n = Foundation.pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw RepriseError("\(path): read failed at byte \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw RepriseError("\(path): file ends at byte \(offset + done), expected \(count) bytes at \(offset): truncated")
            }
            done += n
        }
    }

    /// Without a trailer the index cannot be found; decode the stream from the start to say how far the
    /// token data goes, so the error still names the frame where the file breaks off.
    private static func diagnoseMissingTrailer(path: String, size: Int, dtype: ShardDType, frameTokens: Int) -> RepriseError {
        let frameBytes = frameTokens * dtype.byteWidth
        var decoded = 0
        var failure: String?
        do {
            let decoder = ZstdDecoder(try FileSource(path: path), name: "token data")
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = try buf.withUnsafeMutableBytes { try decoder.read(into: $0) }
                if n == 0 { break }
                decoded += n
            }
        } catch {
            failure = error.oneLine
        }
        let whole = decoded / frameBytes
        if let failure {
            return RepriseError("\(path): truncated or damaged: no trailer at the end of its \(size) bytes, and the data breaks off in frame \(whole) after \(whole) whole frames (\(failure)); rerun `reprise pack`")
        }
        return RepriseError("\(path): truncated: no trailer at the end of its \(size) bytes; \(whole) whole frames decode (the next would be frame \(whole)) but the index is missing; rerun `reprise pack`")
    }
}

/// Buffers and a zstd context for one frame read at a time. Reusing them matters: allocating 128 KiB per
/// frame makes malloc hand the memory back to the system and fault it in again on every frame. They live in
/// a pool shared by all readers, so memory follows the number of reads in flight, not of open shards.
private final class FrameScratch {
    var compressed: [UInt8] = []
    var decoded: [UInt8] = []
    let decoder = ZstdFrameDecoder()

    private final class Pool: @unchecked Sendable {
        let lock = NSLock()
        var idle: [FrameScratch] = []
    }
    private static let pool = Pool()
    /// Idle scratches kept beyond this are freed.
    private static let maxIdle = 16

    static func take() -> FrameScratch {
        pool.lock.lock()
        defer { pool.lock.unlock() }
        return pool.idle.popLast() ?? FrameScratch()
    }

    static func give(_ scratch: FrameScratch) {
        pool.lock.lock()
        defer { pool.lock.unlock() }
        if pool.idle.count < maxIdle { pool.idle.append(scratch) }
    }
}
