import Foundation

/// Byte-level JSON output for hot paths (documents written by the million). Strings are escaped as
/// RFC 8259 requires (quote, backslash, control characters); other UTF-8 is written as is.
public enum JSONBytes {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func appendString(_ s: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(0x22)
        var runStart = 0
        var i = 0
        let n = s.count
        while i < n {
            let b = s[i]
            if b >= 0x20 && b != 0x22 && b != 0x5C { i += 1; continue }
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: s[runStart..<i])) }
            out.append(0x5C)
            switch b {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            }
            i += 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: s[runStart..<n])) }
        out.append(0x22)
    }

    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }
}

/// Manifests and other small JSON files: sorted keys and a stable layout, so the same content gives the
/// same bytes.
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try enc.encode(value)) + [0x0A]
    }

    public static func decode<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): cannot read")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw RepriseError("\(path): not a valid \(type) file: \(error.oneLine)")
        }
    }

    /// SHA-256 of the canonical encoding: the identity of a config or manifest.
    public static func hash<T: Encodable>(_ value: T) throws -> String {
        Hashing.sha256Hex(try encode(value))
    }
}
