import CBzip2
import Foundation

/// Streaming bzip2 decompression over another `ByteSource`, with multi-stream files supported (as written
/// by `cat a.bz2 b.bz2`, or by parallel compressors such as pbzip2). A source ending inside a stream is
/// reported as truncated; data that is not bzip2 is reported as corrupt.
public final class Bzip2Decoder: ByteSource {
    private let base: ByteSource
    private let name: String
    private var stream = bz_stream()
    /// Stable storage, since libbz2 keeps a pointer into it between calls.
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var inStream = false
    private var initialised = false
    private var decodedBytes = 0
    public var bytesConsumed: Int { base.bytesConsumed }

    public init(_ base: ByteSource, name: String) throws {
        self.base = base
        self.name = name
        input = .allocate(byteCount: 1 << 16, alignment: 16)
        try start()
    }
    deinit {
        if initialised { BZ2_bzDecompressEnd(&stream) }
        input.deallocate()
    }

    /// (Re)initialises the decoder for the next stream, keeping the unread input.
    private func start() throws {
        let next = stream.next_in, avail = stream.avail_in
        if initialised { BZ2_bzDecompressEnd(&stream); initialised = false }
        stream = bz_stream()
        stream.next_in = next
        stream.avail_in = avail
        let r = BZ2_bzDecompressInit(&stream, 0, 0)
        if r != BZ_OK { throw RepriseError("\(name): cannot initialise libbz2 (code \(r))") }
        initialised = true
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if stream.avail_in == 0 && !inputEnded {
                let n = try base.read(into: input)
                if n == 0 { inputEnded = true }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: CChar.self)
                stream.avail_in = UInt32(n)
            }
            if stream.avail_in == 0 && inputEnded {
                if inStream {
                    throw RepriseError("\(name): truncated bzip2 stream (ends inside a stream after \(decodedBytes) decoded bytes)")
                }
                return 0
            }
            inStream = true
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            stream.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
            let before = Int(stream.avail_out)
            let code = BZ2_bzDecompress(&stream)
            let produced = before - Int(stream.avail_out)
            decodedBytes += produced
            switch code {
            case BZ_STREAM_END:
                // End of one stream; another may follow.
                inStream = false
                try start()
            case BZ_OK:
                break
            default:
                let what = code == BZ_DATA_ERROR_MAGIC ? "not bzip2 data" : code == BZ_MEM_ERROR ? "out of memory" : "code \(code)"
                throw RepriseError("\(name): corrupt bzip2 data near compressed byte \(base.bytesConsumed) (after \(decodedBytes) decoded bytes): \(what)")
            }
            if produced > 0 { return produced }
        }
    }
}

public enum Bzip2 {
    /// `BZh` and the block size digit `1`...`9`.
    public static let magic: [UInt8] = Array("BZh".utf8)

    public static func matches(_ head: [UInt8]) -> Bool {
        head.count >= 4 && head.starts(with: magic) && (0x31...0x39).contains(head[3])
    }
}
