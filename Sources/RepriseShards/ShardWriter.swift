import Foundation
import RepriseCore

/// Writes one shard file (layout in FORMAT.md): a header skippable frame, the tokens in independent zstd
/// frames of `frameTokens` tokens each (the last may be shorter), an index skippable frame and a fixed-size
/// trailer. The file appears under its final name only when `finish()` succeeds; a writer dropped before
/// that leaves nothing behind. The bytes depend only on the tokens, document starts, dtype, frame size and
/// level.
public final class ShardWriter {
    public let path: String
    public let dtype: ShardDType
    public let frameTokens: Int
    public private(set) var tokenCount = 0

    private let file: AtomicFileWriter
    private let encoder: ZstdEncoder
    private let compressed: CompressedBuffer
    /// Little-endian bytes of the tokens of the frame being filled.
    private var pending: [UInt8] = []
    private var pendingTokens = 0
    private var frames: [ShardFrame] = []
    private var documentStarts: [Int] = []
    private var documentPending = false
    private var finished = false

    /// Collects the output of one zstd frame so its size is known before it goes to the file.
    private final class CompressedBuffer { var bytes: [UInt8] = [] }

    public init(path: String, dtype: ShardDType, frameTokens: Int = ShardFormat.defaultFrameTokens,
                level: Int32 = 3) throws {
        guard frameTokens > 0, frameTokens <= Int(UInt32.max) / dtype.byteWidth else {
            throw RepriseError("\(path): frame size of \(frameTokens) tokens is out of range (1...\(Int(UInt32.max) / dtype.byteWidth))")
        }
        self.path = path
        self.dtype = dtype
        self.frameTokens = frameTokens
        file = try AtomicFileWriter(path: path)
        let buffer = CompressedBuffer()
        compressed = buffer
        // Single-threaded compression: the output bytes must not depend on the machine.
        encoder = ZstdEncoder(level: level, checksum: true, threads: 0) { buffer.bytes.append(contentsOf: $0) }
        pending.reserveCapacity(frameTokens * dtype.byteWidth)

        var header = LEBytes()
        header.u32(ShardFormat.headerFrameMagic)
        header.u32(UInt32(ShardFormat.headerPayloadSize))
        header.raw(ShardFormat.headerMagic)
        header.u32(ShardFormat.version)
        header.u32(dtype.rawValue)
        header.u32(UInt32(frameTokens))
        header.u32(0)  // reserved
        try file.write(header.bytes)
    }

    /// Marks the start of a document: the next appended token is its first. Calls with no token appended
    /// in between mark one start (an empty document leaves no trace in the token stream).
    public func startDocument() { documentPending = true }

    /// Starts a document and appends its tokens.
    public func appendDocument(_ tokens: [UInt32]) throws {
        startDocument()
        try append(tokens)
    }

    public func append(_ tokens: [UInt32]) throws {
        try tokens.withUnsafeBufferPointer { try append(contentsOf: $0) }
    }

    public func append(contentsOf tokens: UnsafeBufferPointer<UInt32>) throws {
        precondition(!finished, "ShardWriter used after finish()")
        guard !tokens.isEmpty else { return }
        // Checked before anything is buffered, so a rejected call leaves the writer unchanged.
        if dtype == .uint16, let bad = tokens.firstIndex(where: { $0 > 0xFFFF }) {
            throw RepriseError("\(path): token id \(tokens[bad]) at position \(tokenCount + bad) does not fit uint16: write this shard as uint32")
        }
        if documentPending {
            documentStarts.append(tokenCount)
            documentPending = false
        }
        var i = 0
        while i < tokens.count {
            let take = min(frameTokens - pendingTokens, tokens.count - i)
            switch dtype {
            case .uint16:
                for t in tokens[i..<(i + take)] {
                    pending.append(UInt8(truncatingIfNeeded: t))
                    pending.append(UInt8(truncatingIfNeeded: t >> 8))
                }
            case .uint32:
                for t in tokens[i..<(i + take)] {
                    withUnsafeBytes(of: t.littleEndian) { pending.append(contentsOf: $0) }
                }
            }
            i += take
            pendingTokens += take
            tokenCount += take
            if pendingTokens == frameTokens { try flushFrame() }
        }
    }

    /// Compresses the pending tokens into one zstd frame (with content checksum) and records it.
    private func flushFrame() throws {
        guard pendingTokens > 0 else { return }
        compressed.bytes.removeAll(keepingCapacity: true)
        try encoder.write(pending)
        try encoder.finishFrame()
        let offset = file.bytesWritten
        try file.write(compressed.bytes)
        frames.append(ShardFrame(offset: offset, compressedSize: compressed.bytes.count,
                                 firstToken: tokenCount - pendingTokens, tokenCount: pendingTokens))
        pending.removeAll(keepingCapacity: true)
        pendingTokens = 0
    }

    /// Writes the last frame, the index and the trailer, and moves the file into place.
    public func finish() throws -> ShardSummary {
        precondition(!finished, "ShardWriter.finish() called twice")
        finished = true
        try flushFrame()

        var payload = LEBytes()
        payload.raw(ShardFormat.indexMagic)
        payload.u64(UInt64(tokenCount))
        payload.u64(UInt64(frames.count))
        payload.u64(UInt64(documentStarts.count))
        for f in frames {
            payload.u64(UInt64(f.offset))
            payload.u64(UInt64(f.compressedSize))
            payload.u64(UInt64(f.firstToken))
            payload.u64(UInt64(f.tokenCount))
        }
        for s in documentStarts { payload.u64(UInt64(s)) }
        var digest = SHA256Stream()
        digest.update(payload.bytes)
        payload.raw(digest.finalize())
        guard payload.bytes.count <= Int(UInt32.max) else {
            throw RepriseError("\(path): index of \(payload.bytes.count) bytes exceeds a zstd skippable frame: use fewer documents or larger frames per shard")
        }

        let indexOffset = file.bytesWritten
        var index = LEBytes()
        index.u32(ShardFormat.indexFrameMagic)
        index.u32(UInt32(payload.bytes.count))
        try file.write(index.bytes)
        try file.write(payload.bytes)
        let indexFrameSize = file.bytesWritten - indexOffset

        var trailer = LEBytes()
        trailer.u32(ShardFormat.trailerFrameMagic)
        trailer.u32(UInt32(ShardFormat.trailerPayloadSize))
        trailer.raw(ShardFormat.trailerMagic)
        trailer.u64(UInt64(indexOffset))
        trailer.u64(UInt64(indexFrameSize))
        try file.write(trailer.bytes)

        let size = file.bytesWritten
        let sha = try file.commit()
        return ShardSummary(path: path, dtype: dtype, tokenCount: tokenCount, frameCount: frames.count,
                            documentCount: documentStarts.count, byteSize: size, sha256: sha)
    }
}
