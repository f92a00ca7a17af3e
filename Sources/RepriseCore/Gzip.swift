import CZlib
import Foundation

/// Streaming gzip decompression over another `ByteSource`, with multi-member files supported
/// (as written by `cat a.gz b.gz`). A stream ending inside a member is reported as truncated.
public final class GzipDecoder: ByteSource {
    private let base: ByteSource
    private let name: String
    private var stream = z_stream()
    /// Stable storage, since zlib keeps a pointer into it between calls.
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var inMember = false
    private var decodedBytes = 0
    public var bytesConsumed: Int { base.bytesConsumed }

    public init(_ base: ByteSource, name: String) throws {
        self.base = base
        self.name = name
        input = .allocate(byteCount: 1 << 16, alignment: 16)
        // 15 + 16: gzip wrapper only, maximum window.
        let r = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        if r != Z_OK {
            input.deallocate()
            throw RepriseError("\(name): cannot initialise zlib (code \(r))")
        }
    }
    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if stream.avail_in == 0 && !inputEnded {
                let n = try base.read(into: input)
                if n == 0 { inputEnded = true }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = UInt32(n)
            }
            if stream.avail_in == 0 && inputEnded {
                if inMember {
                    throw RepriseError("\(name): truncated gzip stream (ends inside a member after \(decodedBytes) decoded bytes)")
                }
                return 0
            }
            inMember = true
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
            let before = Int(stream.avail_out)
            let code = inflate(&stream, Z_NO_FLUSH)
            let produced = before - Int(stream.avail_out)
            decodedBytes += produced
            switch code {
            case Z_STREAM_END:
                // End of one member; another may follow.
                inMember = false
                inflateReset(&stream)
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
                throw RepriseError("\(name): corrupt gzip data near compressed byte \(base.bytesConsumed): \(detail)")
            }
            if produced > 0 { return produced }
        }
    }
}

public enum Gzip {
    public static let magic: [UInt8] = [0x1F, 0x8B]
}

/// One-shot decompression of whole deflate streams (gzip or zlib wrapper, detected per stream) with one
/// reused zlib context, for blocks that are compressed one by one (Parquet pages).
public final class InflateBlockDecoder {
    private var stream = z_stream()
    private var ready = false
    /// Output space for blocks that decode to nothing (zlib refuses a null output pointer).
    private let scratch = UnsafeMutablePointer<Bytef>.allocate(capacity: 1)

    public init() throws {
        // 15 + 32: maximum window, gzip or zlib header detected automatically.
        let r = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        // (deinit still runs when this throws, and frees the scratch byte.)
        if r != Z_OK { throw RepriseError("cannot initialise zlib (code \(r))") }
        ready = true
    }
    deinit {
        if ready { inflateEnd(&stream) }
        scratch.deallocate()
    }

    /// Decompresses one whole stream `src` into `dst`; returns the decoded size. Throws when the data is
    /// corrupt, ends early or decodes to more than `dst.count` bytes.
    public func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        inflateReset(&stream)
        guard let input = src.baseAddress, src.count <= Int(UInt32.max), dst.count <= Int(UInt32.max) else {
            if src.count == 0 { throw RepriseError("gzip decompression failed: empty input") }
            throw RepriseError("gzip decompression failed: block too large")
        }
        stream.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(src.count)
        if let out = dst.baseAddress {
            stream.next_out = out.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(dst.count)
        } else {
            // An empty output buffer still needs a valid pointer for zlib to report overflow.
            stream.next_out = scratch
            stream.avail_out = 0
        }
        let code = inflate(&stream, Z_FINISH)
        let produced = dst.count - Int(stream.avail_out)
        switch code {
        case Z_STREAM_END:
            return produced
        case Z_BUF_ERROR where stream.avail_out == 0:
            throw RepriseError("gzip decompression failed: decodes to more than \(dst.count) bytes")
        case Z_BUF_ERROR:
            throw RepriseError("gzip decompression failed: truncated stream")
        default:
            let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
            throw RepriseError("gzip decompression failed: \(detail)")
        }
    }
}

public enum CRC32 {
    /// The CRC-32 (ISO-HDLC, as gzip and Parquet page headers use) of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = 0
        var p = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
        var left = bytes.count
        while left > 0, let q = p {
            let n = min(left, Int(UInt32.max >> 1))
            crc = crc32(crc, q, uInt(n))
            p = q + n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
