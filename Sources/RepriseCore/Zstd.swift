import CZstd
import Foundation

/// Streaming zstd decompression over another `ByteSource`. Concatenated frames and skippable frames are
/// handled by libzstd; a stream that ends inside a frame is reported as truncated.
public final class ZstdDecoder: ByteSource {
    private let base: ByteSource
    private let name: String
    private let dctx: OpaquePointer
    private var input: [UInt8]
    private var inPos = 0, inSize = 0
    private var inputEnded = false
    /// 0 when the last frame was completely decoded (libzstd's "hint" is 0 at a frame boundary).
    private var frameHint = 0
    private var sawInput = false
    private var decodedBytes = 0
    public var bytesConsumed: Int { base.bytesConsumed }

    public init(_ base: ByteSource, name: String) {
        self.base = base
        self.name = name
        dctx = ZSTD_createDCtx()
        input = [UInt8](repeating: 0, count: ZSTD_DStreamInSize())
    }
    deinit { ZSTD_freeDCtx(dctx) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if inPos == inSize && !inputEnded {
                inSize = try input.withUnsafeMutableBytes { try base.read(into: $0) }
                inPos = 0
                if inSize == 0 { inputEnded = true } else { sawInput = true }
            }
            if inPos == inSize && inputEnded {
                if sawInput && frameHint != 0 {
                    throw RepriseError("\(name): truncated zstd stream (ends inside a frame after \(decodedBytes) decoded bytes)")
                }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let hint = input.withUnsafeBytes { src -> Int in
                var inb = ZSTD_inBuffer(src: src.baseAddress, size: inSize, pos: inPos)
                let r = ZSTD_decompressStream(dctx, &out, &inb)
                inPos = inb.pos
                return r
            }
            if ZSTD_isError(hint) != 0 {
                let msg = String(cString: ZSTD_getErrorName(hint))
                throw RepriseError("\(name): corrupt zstd data near compressed byte \(base.bytesConsumed): \(msg)")
            }
            frameHint = hint
            if out.pos > 0 { decodedBytes += out.pos; return out.pos }
        }
    }
}

/// Streaming zstd compression into a file. Each `finishFrame()` closes the current frame (with content
/// checksum when asked), so a file may hold many independent frames.
public final class ZstdEncoder {
    private let cctx: OpaquePointer
    private var outBuf: [UInt8]
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    /// `threads` > 0 compresses on that many zstd worker threads; `jobBytes` then sets the size of a worker's
    /// job (zstd's default is several times the window, and its buffers fill up to a few jobs in flight while
    /// a frame is long, so a small job keeps the memory of long frames small; the bytes depend on it).
    /// The job size of the multi-threaded writers of long streams (ingest outputs, task shares): 1 MiB.
    public static let streamJobBytes: Int32 = 1 << 20

    public init(level: Int32 = 3, checksum: Bool = true, threads: Int32 = 0, jobBytes: Int32? = nil,
                sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        cctx = ZSTD_createCCtx()
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, checksum ? 1 : 0)
        if threads > 0 { ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, threads) }
        if threads > 0, let jobBytes { ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, jobBytes) }
        outBuf = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        self.sink = sink
    }
    deinit { ZSTD_freeCCtx(cctx) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws { try run(bytes, mode: ZSTD_e_continue) }
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    /// Ends the current frame; the next write starts a new one.
    public func finishFrame() throws { try run(UnsafeRawBufferPointer(start: nil, count: 0), mode: ZSTD_e_end) }

    private func run(_ bytes: UnsafeRawBufferPointer, mode: ZSTD_EndDirective) throws {
        var inb = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while true {
            let (remaining, produced) = outBuf.withUnsafeMutableBytes { dst -> (Int, Int) in
                var out = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                let r = ZSTD_compressStream2(cctx, &out, &inb, mode)
                return (r, out.pos)
            }
            if ZSTD_isError(remaining) != 0 {
                throw RepriseError("zstd compression failed: \(String(cString: ZSTD_getErrorName(remaining)))")
            }
            if produced > 0 { try outBuf.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            let done = mode == ZSTD_e_continue ? inb.pos == inb.size : remaining == 0
            if done { return }
        }
    }

    /// One-shot helper: compresses `bytes` into a single frame.
    public static func compress(_ bytes: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        var out: [UInt8] = []
        let enc = ZstdEncoder(level: level) { out.append(contentsOf: $0) }
        try enc.write(bytes)
        try enc.finishFrame()
        return out
    }
}

/// One-shot decompression of whole zstd frames with one reused context (creating a context per frame costs
/// more than decoding a small frame). libzstd checks each frame's content checksum when the frame has one.
public final class ZstdFrameDecoder {
    private let dctx: OpaquePointer

    public init() { dctx = ZSTD_createDCtx() }
    deinit { ZSTD_freeDCtx(dctx) }

    /// Decompresses `src`, one or more whole frames (skippable frames are skipped), into `dst`; returns the
    /// decoded size. Throws when the data is corrupt or decodes to more than `dst.count` bytes.
    public func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        let r = ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
        if ZSTD_isError(r) != 0 {
            throw RepriseError("zstd decompression failed: \(String(cString: ZSTD_getErrorName(r)))")
        }
        return r
    }
}

public enum Zstd {
    /// The four magic bytes of a zstd frame (little-endian 0xFD2FB528).
    public static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// Decompresses a whole in-memory zstd stream.
    public static func decompress(_ bytes: [UInt8], name: String = "<memory>") throws -> [UInt8] {
        try ZstdDecoder(MemorySource(bytes), name: name).readAll()!
    }
}
