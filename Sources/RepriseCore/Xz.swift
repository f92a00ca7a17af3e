import CLZMA
import Foundation

/// Streaming xz decompression over another `ByteSource` (liblzma). Concatenated streams and stream padding
/// are handled by liblzma (`LZMA_CONCATENATED`); every block's check (CRC32/CRC64/SHA-256) is verified.
/// A source ending inside a stream is reported as truncated; anything else liblzma rejects as corrupt.
public final class XzDecoder: ByteSource {
    private let base: ByteSource
    private let name: String
    private var stream = lzma_stream()
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var finished = false
    private var decodedBytes = 0
    public var bytesConsumed: Int { base.bytesConsumed }

    /// liblzma's `LZMA_CONCATENATED` flag (a macro Swift does not import).
    private static let concatenated: UInt32 = 0x08

    public init(_ base: ByteSource, name: String) throws {
        self.base = base
        self.name = name
        input = .allocate(byteCount: 1 << 16, alignment: 16)
        let r = lzma_stream_decoder(&stream, UInt64.max, XzDecoder.concatenated)
        if r != LZMA_OK {
            input.deallocate()
            throw RepriseError("\(name): cannot initialise liblzma (code \(r.rawValue))")
        }
    }
    deinit {
        lzma_end(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 || finished { return 0 }
        while true {
            if stream.avail_in == 0 && !inputEnded {
                let n = try base.read(into: input)
                if n == 0 { inputEnded = true }
                stream.next_in = UnsafePointer(input.baseAddress!.assumingMemoryBound(to: UInt8.self))
                stream.avail_in = n
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = buffer.count
            // LZMA_FINISH once the input has ended: only then can liblzma tell a complete file from a cut one.
            let code = lzma_code(&stream, inputEnded ? LZMA_FINISH : LZMA_RUN)
            let produced = buffer.count - stream.avail_out
            decodedBytes += produced
            switch code {
            case LZMA_OK:
                break
            case LZMA_STREAM_END:
                finished = true
                return produced
            case LZMA_BUF_ERROR where inputEnded:
                throw RepriseError("\(name): truncated xz stream (ends inside a stream after \(decodedBytes) decoded bytes)")
            case LZMA_BUF_ERROR:
                break
            default:
                let what: String
                switch code {
                case LZMA_FORMAT_ERROR: what = "not xz data"
                case LZMA_DATA_ERROR: what = "data error"
                case LZMA_MEM_ERROR: what = "out of memory"
                case LZMA_OPTIONS_ERROR: what = "unsupported options"
                case LZMA_UNSUPPORTED_CHECK: what = "unsupported integrity check"
                default: what = "code \(code.rawValue)"
                }
                throw RepriseError("\(name): corrupt xz data near compressed byte \(base.bytesConsumed) (after \(decodedBytes) decoded bytes): \(what)")
            }
            // Without output, loop: more input is read, or (input ended) liblzma answers LZMA_BUF_ERROR on
            // the second call that makes no progress.
            if produced > 0 { return produced }
        }
    }
}

public enum Xz {
    /// The six magic bytes of an xz stream header.
    public static let magic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]
}
