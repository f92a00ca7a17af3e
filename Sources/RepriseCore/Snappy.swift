import CSnappy
import Foundation

/// One-shot Snappy decompression (raw Snappy blocks, as Parquet pages hold them; not the framed format).
public enum Snappy {
    /// The decoded size a block announces, or nil when its header is corrupt.
    public static func uncompressedLength(_ src: UnsafeRawBufferPointer) -> Int? {
        var n = 0
        let status = src.withMemoryRebound(to: CChar.self) { s in
            snappy_uncompressed_length(s.baseAddress, s.count, &n)
        }
        return status == SNAPPY_OK ? n : nil
    }

    /// Decompresses the block `src` into `dst`; returns the decoded size. Throws when the block is corrupt
    /// or decodes to more than `dst.count` bytes (libsnappy checks every copy against both buffers).
    public static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let announced = uncompressedLength(src) else {
            throw RepriseError("snappy decompression failed: corrupt block header")
        }
        guard announced <= dst.count else {
            throw RepriseError("snappy decompression failed: block decodes to \(announced) bytes, expected at most \(dst.count)")
        }
        if announced == 0 { return 0 }
        var n = dst.count
        let status = src.withMemoryRebound(to: CChar.self) { s in
            snappy_uncompress(s.baseAddress, s.count, dst.baseAddress!.assumingMemoryBound(to: CChar.self), &n)
        }
        guard status == SNAPPY_OK else { throw RepriseError("snappy decompression failed: corrupt block") }
        return n
    }
}
