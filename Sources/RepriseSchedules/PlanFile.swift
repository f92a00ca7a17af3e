import Foundation
import RepriseCore

/// The files of a schedule directory (layout in FORMAT.md): one zstd frame with content checksum holding a
/// 32-byte header and little-endian columns.
enum PlanFile {
    static let magic = Array("RPRSPLAN".utf8)
    static let version: UInt32 = 1
    static let headerSize = 32

    enum Kind: UInt32 { case epoch = 1, validation = 2, noiseTable = 3 }
    struct Columns: OptionSet {
        let rawValue: UInt32
        static let sequence = Columns(rawValue: 1)
        static let tcode = Columns(rawValue: 2)
        static let table = Columns(rawValue: 4)
    }

    struct Contents {
        var kind: Kind
        var index: Int
        var count: Int
        var columns: Columns
        var payload: [UInt8]
    }

    static func encode(kind: Kind, index: Int, count: Int, columns: Columns, payload: [UInt8]) throws -> [UInt8] {
        var raw = magic
        raw.reserveCapacity(headerSize + payload.count)
        for v in [version, kind.rawValue, UInt32(index), UInt32(count), columns.rawValue, 0] { append(v, to: &raw) }
        raw += payload
        return try ZstdEncoder.compress(raw, level: 3)
    }

    /// Decompresses and checks magic, version, kind and index; names the file in every error.
    static func decode(_ bytes: [UInt8], path: String, kind: Kind, index: Int) throws -> Contents {
        let raw: [UInt8]
        do { raw = try Zstd.decompress(bytes, name: path) } catch {
            throw RepriseError("\(path): damaged plan file (\(error.oneLine))")
        }
        guard raw.count >= headerSize, Array(raw[0..<8]) == magic else {
            throw RepriseError("\(path): not a reprise plan file (bad magic)")
        }
        let field = { (i: Int) -> UInt32 in read32(raw, 8 + 4 * i) }
        guard field(0) == version else {
            throw RepriseError("\(path): plan format version \(field(0)), this reprise reads version \(version)")
        }
        guard field(1) == kind.rawValue, Int(field(2)) == index else {
            throw RepriseError("\(path): holds plan kind \(field(1)) index \(field(2)), expected kind \(kind.rawValue) index \(index)")
        }
        return Contents(kind: kind, index: index, count: Int(field(3)), columns: Columns(rawValue: field(4)),
                        payload: Array(raw[headerSize...]))
    }

    static func append(_ v: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func read32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    /// The payload bytes of a little-endian array (every supported platform is little-endian; checked once).
    static func bytes<T: FixedWidthInteger>(_ a: [T]) -> [UInt8] {
        precondition(1.littleEndian == 1, "plan files are little-endian")
        return a.withUnsafeBytes { Array($0) }
    }

    static func bytes(_ a: [Double]) -> [UInt8] { bytes(a.map(\.bitPattern)) }

    /// Reads `count` values of T at byte `offset`, or throws when the payload is too short.
    static func array<T: FixedWidthInteger>(_ p: [UInt8], _ offset: Int, _ count: Int, _ type: T.Type, path: String) throws -> [T] {
        let size = count * MemoryLayout<T>.size
        guard offset >= 0, offset + size <= p.count else {
            throw RepriseError("\(path): payload has \(p.count) bytes, expected at least \(offset + size)")
        }
        return [T](unsafeUninitializedCapacity: count) { buf, n in
            p.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)]))
            }
            n = count
        }
    }
}
