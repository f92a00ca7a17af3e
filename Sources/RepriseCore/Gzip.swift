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

extension Gzip {
    /// Decodes an HTTP body sent with `Content-Encoding: gzip` or `deflate`: a gzip member, a zlib stream
    /// or (what some servers send for `deflate`) raw deflate data, told apart by their headers. Returns nil
    /// when the decoded body would exceed `limit` bytes; throws when the data is not decodable. A stream
    /// cut short (a crawler's truncated download) yields what was decoded.
    public static func inflateHTTPBody(_ data: [UInt8], limit: Int) throws -> [UInt8]? {
        let looksWrapped = data.starts(with: magic) || (data.count >= 2 && data[0] & 0x0F == 8
            && (UInt16(data[0]) << 8 | UInt16(data[1])) % 31 == 0)
        // 15 + 32: gzip or zlib header detected automatically; -15: raw deflate.
        return try inflate(data, windowBits: looksWrapped ? 15 + 32 : -15, limit: limit)
    }

    private static func inflate(_ data: [UInt8], windowBits: Int32, limit: Int) throws -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RepriseError("cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src -> [UInt8]? in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = UInt32(src.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBytes { dst -> (Int32, Int) in
                    stream.next_out = dst.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = UInt32(dst.count)
                    let code = zlibInflate(&stream, Z_NO_FLUSH)
                    return (code, dst.count - Int(stream.avail_out))
                }
                if out.count + produced > limit { return nil }
                out += chunk[0..<produced]
                switch code {
                case Z_STREAM_END: return out
                case Z_OK: continue
                case Z_BUF_ERROR: return out // input used up before the end of the stream
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
                    throw RepriseError("corrupt compressed HTTP body: \(detail)")
                }
            }
        }
    }
}

/// zlib's `inflate`, under a name the extension's own `inflate` does not shadow.
private func zlibInflate(_ stream: UnsafeMutablePointer<z_stream>, _ flush: Int32) -> Int32 { inflate(stream, flush) }
