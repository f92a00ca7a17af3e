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
