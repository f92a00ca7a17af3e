import Foundation

// Parquet's footer (FileMetaData) and page headers are Thrift structs in the compact protocol. This file
// reads the fields the Parquet reader needs and skips every other field, whatever its type, so files from
// newer writers (extra fields, statistics, indexes) read the same way.

/// A failure while decoding Thrift: `offset` is relative to the start of the decoded buffer.
struct ThriftFailure: Error {
    var offset: Int
    var reason: String
}

/// Thrift compact protocol over a bounded buffer; every length is checked against the bytes left.
struct ThriftCompactReader {
    enum FieldType: UInt8 {
        case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
        case binary = 8, list = 9, set = 10, map = 11, structure = 12
    }

    let b: UnsafeRawBufferPointer
    var i = 0
    /// Nesting limit for skipped values: real metadata nests a few levels; corrupt data must not recurse deeply.
    static let maxDepth = 64

    init(_ b: UnsafeRawBufferPointer) { self.b = b }

    func fail(_ reason: String) -> ThriftFailure { ThriftFailure(offset: i, reason: reason) }

    mutating func byte() throws -> UInt8 {
        guard i < b.count else { throw fail("ends early") }
        defer { i += 1 }
        return b[i]
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let c = try byte()
            v |= UInt64(c & 0x7F) << shift
            if c & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw fail("varint longer than 10 bytes") }
        }
    }

    mutating func i64() throws -> Int64 {
        let z = try varint()
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    mutating func i32() throws -> Int32 {
        let v = try i64()
        guard let r = Int32(exactly: v) else { throw fail("i32 value \(v) out of range") }
        return r
    }

    /// A length or count: at most the bytes left (each element takes at least one byte).
    mutating func size() throws -> Int {
        let v = try varint()
        guard v <= UInt64(b.count - i) else { throw fail("length \(v) exceeds the \(b.count - i) bytes left") }
        return Int(v)
    }

    mutating func binary() throws -> UnsafeRawBufferPointer {
        let n = try size()
        defer { i += n }
        return UnsafeRawBufferPointer(rebasing: b[i..<(i + n)])
    }

    mutating func string() throws -> String { String(decoding: try binary(), as: UTF8.self) }

    /// Reads a struct's fields: `body` gets each field's id and type and returns false for fields it does
    /// not read, which are then skipped. Booleans are carried in the type (`boolTrue`/`boolFalse`).
    mutating func readStruct(depth: Int = 0,
                             _ body: (inout ThriftCompactReader, Int16, FieldType) throws -> Bool) throws {
        if depth > Self.maxDepth { throw fail("structs nested too deeply") }
        var last: Int16 = 0
        while true {
            let h = try byte()
            guard let type = FieldType(rawValue: h & 0x0F) else { throw fail("unknown field type \(h & 0x0F)") }
            if type == .stop { return }
            let delta = Int16(h >> 4)
            let id: Int16
            if delta != 0 {
                id = last &+ delta
            } else {
                let v = try i64()
                guard let x = Int16(exactly: v) else { throw fail("field id \(v) out of range") }
                id = x
            }
            last = id
            if try !body(&self, id, type) { try skip(type, depth: depth + 1) }
        }
    }

    /// A list (or set) header: element count and type.
    mutating func listHeader() throws -> (count: Int, type: FieldType) {
        let h = try byte()
        guard let type = FieldType(rawValue: h & 0x0F), type != .stop else { throw fail("unknown list element type \(h & 0x0F)") }
        var n = Int(h >> 4)
        if n == 15 { n = try size() } else if n > b.count - i { throw fail("list of \(n) elements exceeds the bytes left") }
        return (n, type)
    }

    mutating func list<T>(depth: Int = 0, _ element: (inout ThriftCompactReader, FieldType) throws -> T) throws -> [T] {
        let (n, type) = try listHeader()
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try element(&self, type)) }
        return out
    }

    mutating func skip(_ type: FieldType, depth: Int) throws {
        if depth > Self.maxDepth { throw fail("values nested too deeply") }
        switch type {
        case .stop: throw fail("unexpected stop")
        case .boolTrue, .boolFalse: break // a field's boolean is in its type
        case .byte: i += 1
        case .i16, .i32, .i64: _ = try varint()
        case .double: i += 8
        case .binary: i += try size()
        case .list, .set:
            let (n, t) = try listHeader()
            for _ in 0..<n { try skipElement(t, depth: depth + 1) }
        case .map:
            let n = try size()
            if n > 0 {
                let kv = try byte()
                guard let k = FieldType(rawValue: kv >> 4), let v = FieldType(rawValue: kv & 0x0F) else {
                    throw fail("unknown map types \(kv)")
                }
                for _ in 0..<n {
                    try skipElement(k, depth: depth + 1)
                    try skipElement(v, depth: depth + 1)
                }
            }
        case .structure:
            try readStruct(depth: depth + 1) { _, _, _ in false }
        }
        if i > b.count { i = b.count; throw fail("ends early") }
    }

    /// List and map elements: booleans take one byte there.
    private mutating func skipElement(_ type: FieldType, depth: Int) throws {
        if type == .boolTrue || type == .boolFalse { _ = try byte() } else { try skip(type, depth: depth) }
    }

    /// An integer field of any width, as Int (i8/i16/i32/i64 share zigzag varints, a byte is raw).
    mutating func int(_ type: FieldType) throws -> Int {
        switch type {
        case .byte: return Int(Int8(bitPattern: try byte()))
        case .i16, .i32, .i64: return Int(try i64())
        default: throw fail("expected an integer field, found type \(type.rawValue)")
        }
    }
}

// MARK: - The Parquet structs

/// Physical types (parquet.thrift `Type`).
enum ParquetPhysicalType: Int {
    case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7

    var name: String {
        ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"][rawValue]
    }
}

enum ParquetEncoding {
    static let plain = 0, plainDictionary = 2, rle = 3, bitPacked = 4, rleDictionary = 8
    static let names = [0: "PLAIN", 1: "GROUP_VAR_INT", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED",
                        5: "DELTA_BINARY_PACKED", 6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY",
                        8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"]
    static func name(_ e: Int) -> String { names[e] ?? "#\(e)" }
}

enum ParquetCodec {
    static let uncompressed = 0, snappy = 1, gzip = 2, zstd = 6
    static let names = [0: "UNCOMPRESSED", 1: "SNAPPY", 2: "GZIP", 3: "LZO", 4: "BROTLI", 5: "LZ4", 6: "ZSTD",
                        7: "LZ4_RAW"]
    static func name(_ c: Int) -> String { names[c] ?? "#\(c)" }
}

/// The annotation of a column that says how to read its physical values (logical or converted type).
enum ParquetAnnotation: Equatable {
    case none
    case string          // STRING / UTF8, ENUM, JSON: text
    case integer(bits: Int, signed: Bool)
    case other(String)   // DATE, TIMESTAMP, DECIMAL, UUID, ...: not read
}

struct ParquetSchemaElement {
    var type: ParquetPhysicalType?
    var physicalTypeCode: Int?
    var repetition = 0 // REQUIRED = 0, OPTIONAL = 1, REPEATED = 2
    var name = ""
    var numChildren = 0
    var annotation = ParquetAnnotation.none

    static func read(_ r: inout ThriftCompactReader) throws -> ParquetSchemaElement {
        var e = ParquetSchemaElement()
        var converted: Int?
        var logical: ParquetAnnotation?
        try r.readStruct { r, id, t in
            switch (id, t) {
            case (1, .i32): let c = Int(try r.i32()); e.physicalTypeCode = c; e.type = ParquetPhysicalType(rawValue: c)
            case (3, .i32): e.repetition = Int(try r.i32())
            case (4, .binary): e.name = try r.string()
            case (5, .i32): e.numChildren = Int(try r.i32())
            case (6, .i32): converted = Int(try r.i32())
            case (10, .structure): logical = try readLogicalType(&r)
            default: return false
            }
            return true
        }
        e.annotation = logical ?? convertedAnnotation(converted)
        return e
    }

    /// `LogicalType` is a union: one field set, its id names the type.
    private static func readLogicalType(_ r: inout ThriftCompactReader) throws -> ParquetAnnotation {
        var out = ParquetAnnotation.none
        try r.readStruct { r, id, t in
            switch id {
            case 1, 4, 12: out = .string // STRING, ENUM, JSON
            case 10 where t == .structure:
                var bits = 0, signed = true
                try r.readStruct(depth: 1) { r, id, t in
                    switch (id, t) {
                    case (1, .byte): bits = Int(Int8(bitPattern: try r.byte()))
                    case (2, .boolTrue): signed = true
                    case (2, .boolFalse): signed = false
                    default: return false
                    }
                    return true
                }
                out = .integer(bits: bits, signed: signed)
                return true
            default:
                let names = [2: "MAP", 3: "LIST", 5: "DECIMAL", 6: "DATE", 7: "TIME", 8: "TIMESTAMP", 11: "NULL",
                             13: "BSON", 14: "UUID", 15: "FLOAT16", 16: "VARIANT", 17: "GEOMETRY", 18: "GEOGRAPHY"]
                out = .other(names[Int(id)] ?? "logical type #\(id)")
            }
            return false
        }
        return out
    }

    private static func convertedAnnotation(_ c: Int?) -> ParquetAnnotation {
        guard let c else { return .none }
        switch c {
        case 0, 4, 19: return .string // UTF8, ENUM, JSON
        case 11: return .integer(bits: 8, signed: false)
        case 12: return .integer(bits: 16, signed: false)
        case 13: return .integer(bits: 32, signed: false)
        case 14: return .integer(bits: 64, signed: false)
        case 15: return .integer(bits: 8, signed: true)
        case 16: return .integer(bits: 16, signed: true)
        case 17: return .integer(bits: 32, signed: true)
        case 18: return .integer(bits: 64, signed: true)
        default:
            let names = [1: "MAP", 2: "MAP_KEY_VALUE", 3: "LIST", 5: "DECIMAL", 6: "DATE", 7: "TIME_MILLIS",
                         8: "TIME_MICROS", 9: "TIMESTAMP_MILLIS", 10: "TIMESTAMP_MICROS", 20: "BSON", 21: "INTERVAL"]
            return .other(names[c] ?? "converted type #\(c)")
        }
    }
}

struct ParquetColumnMetaData {
    var physicalType = -1
    var encodings: [Int] = []
    var path: [String] = []
    var codec = 0
    var numValues = 0
    var totalCompressedSize = 0
    var dataPageOffset = 0
    var dictionaryPageOffset: Int?

    static func read(_ r: inout ThriftCompactReader) throws -> ParquetColumnMetaData {
        var m = ParquetColumnMetaData()
        try r.readStruct(depth: 2) { r, id, t in
            switch (id, t) {
            case (1, .i32): m.physicalType = Int(try r.i32())
            case (2, .list): m.encodings = try r.list { r, t in try r.int(t) }
            case (3, .list): m.path = try r.list { r, _ in try r.string() }
            case (4, .i32): m.codec = Int(try r.i32())
            case (5, .i64): m.numValues = Int(try r.i64())
            case (7, .i64): m.totalCompressedSize = Int(try r.i64())
            case (9, .i64): m.dataPageOffset = Int(try r.i64())
            case (11, .i64): m.dictionaryPageOffset = Int(try r.i64())
            default: return false
            }
            return true
        }
        return m
    }
}

struct ParquetColumnChunk {
    var filePath: String?
    var meta: ParquetColumnMetaData?
    var encrypted = false
}

struct ParquetRowGroup {
    var columns: [ParquetColumnChunk] = []
    var numRows = 0
}

struct ParquetFileMetaData {
    var schema: [ParquetSchemaElement] = []
    var numRows = 0
    var rowGroups: [ParquetRowGroup] = []
    var encrypted = false

    static func read(_ b: UnsafeRawBufferPointer) throws -> ParquetFileMetaData {
        var r = ThriftCompactReader(b)
        var f = ParquetFileMetaData()
        try r.readStruct { r, id, t in
            switch (id, t) {
            case (2, .list): f.schema = try r.list { r, _ in try ParquetSchemaElement.read(&r) }
            case (3, .i64): f.numRows = Int(try r.i64())
            case (4, .list): f.rowGroups = try r.list { r, _ in try readRowGroup(&r) }
            case (8, _): f.encrypted = true; return false // encryption_algorithm (plaintext footer)
            default: return false
            }
            return true
        }
        return f
    }

    private static func readRowGroup(_ r: inout ThriftCompactReader) throws -> ParquetRowGroup {
        var g = ParquetRowGroup()
        try r.readStruct { r, id, t in
            switch (id, t) {
            case (1, .list): g.columns = try r.list { r, _ in try readColumnChunk(&r) }
            case (3, .i64): g.numRows = Int(try r.i64())
            default: return false
            }
            return true
        }
        return g
    }

    private static func readColumnChunk(_ r: inout ThriftCompactReader) throws -> ParquetColumnChunk {
        var c = ParquetColumnChunk()
        try r.readStruct(depth: 1) { r, id, t in
            switch (id, t) {
            case (1, .binary): c.filePath = try r.string()
            case (3, .structure): c.meta = try ParquetColumnMetaData.read(&r)
            case (8, _), (9, _): c.encrypted = true; return false // crypto metadata, encrypted column metadata
            default: return false
            }
            return true
        }
        return c
    }
}

enum ParquetPageType {
    static let dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3
}

struct ParquetPageHeader {
    var type = -1
    var uncompressedSize = 0
    var compressedSize = 0
    var crc: UInt32?
    /// Values in the page (data pages: including nulls).
    var numValues = 0
    var encoding = 0
    var definitionLevelEncoding = ParquetEncoding.rle
    // Data page v2 only.
    var numNulls = 0
    var definitionLevelsLength = 0
    var repetitionLevelsLength = 0
    var isCompressed = true
    /// Size of the header itself, in bytes.
    var headerSize = 0

    static func read(_ b: UnsafeRawBufferPointer) throws -> ParquetPageHeader {
        var r = ThriftCompactReader(b)
        var h = ParquetPageHeader()
        try r.readStruct { r, id, t in
            switch (id, t) {
            case (1, .i32): h.type = Int(try r.i32())
            case (2, .i32): h.uncompressedSize = Int(try r.i32())
            case (3, .i32): h.compressedSize = Int(try r.i32())
            case (4, .i32): h.crc = UInt32(bitPattern: try r.i32())
            case (5, .structure): // DataPageHeader
                try r.readStruct(depth: 1) { r, id, t in
                    switch (id, t) {
                    case (1, .i32): h.numValues = Int(try r.i32())
                    case (2, .i32): h.encoding = Int(try r.i32())
                    case (3, .i32): h.definitionLevelEncoding = Int(try r.i32())
                    default: return false
                    }
                    return true
                }
            case (7, .structure): // DictionaryPageHeader
                try r.readStruct(depth: 1) { r, id, t in
                    switch (id, t) {
                    case (1, .i32): h.numValues = Int(try r.i32())
                    case (2, .i32): h.encoding = Int(try r.i32())
                    default: return false
                    }
                    return true
                }
            case (8, .structure): // DataPageHeaderV2
                try r.readStruct(depth: 1) { r, id, t in
                    switch (id, t) {
                    case (1, .i32): h.numValues = Int(try r.i32())
                    case (2, .i32): h.numNulls = Int(try r.i32())
                    case (4, .i32): h.encoding = Int(try r.i32())
                    case (5, .i32): h.definitionLevelsLength = Int(try r.i32())
                    case (6, .i32): h.repetitionLevelsLength = Int(try r.i32())
                    case (7, .boolTrue): h.isCompressed = true
                    case (7, .boolFalse): h.isCompressed = false
                    default: return false
                    }
                    return true
                }
            default: return false
            }
            return true
        }
        h.headerSize = r.i
        return h
    }
}
