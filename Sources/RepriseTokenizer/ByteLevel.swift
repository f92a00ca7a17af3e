/// The byte-to-character mapping that byte-level BPE files use (GPT-2's `bytes_to_unicode`): every byte
/// gets a printable, non-space character, so a token's bytes can be written as a JSON string. The 188
/// printable bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` map to the code point of the same value; the other 68 bytes
/// map, in byte order, to U+0100, U+0101, … (so 0x20 ↔ "Ġ" U+0120, 0x0A ↔ "Ċ" U+010A).
public enum ByteLevel {
    /// Code point for each byte value.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(UInt8(b)) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Byte for each mapped code point (index: code point value, 0..<324); -1 where no byte maps to it.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for b in 0..<256 { table[Int(byteToScalar[b].value)] = Int16(b) }
        return table
    }()

    /// UTF-8 of each byte's character (1 or 2 bytes), for fast string building.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String(Character($0)).utf8) }

    static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The mapped string of a byte string.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.count * 2)
        appendEncoded(bytes, to: &utf8)
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Appends the UTF-8 of the mapped string of `bytes` to `out`.
    static func appendEncoded<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        for b in bytes { out.append(contentsOf: byteToUTF8[Int(b)]) }
    }

    /// The byte string of a mapped string, or nil when it contains a character outside the mapping.
    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            let v = Int(u.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }
}
