import Foundation
import RepriseCore

// Safetensors files (the format HuggingFace uses for weights): an 8-byte little-endian header length N,
// N bytes of JSON header, then the data buffer. Layout and the checks the reader makes:
// Sources/RepriseModel/CHECKPOINT.md.

#if _endian(big)
#error("safetensors data is little-endian; this code copies it without byte swapping")
#endif

/// Element types of safetensors tensors; the raw values are the format's dtype strings.
///
/// The case order is the order of the reference implementation's dtype enum. Its writer lays tensors out
/// by that order, last case first, then by name (byte-wise), and so does ours: every tensor then starts at
/// a multiple of its element size, and our files are byte-identical to the reference writer's.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// Position in the reference dtype order; larger ranks come first in the data buffer.
    var layoutRank: Int { Self.allCases.firstIndex(of: self)! }
}

/// Swift element types that map one-to-one onto a safetensors dtype (same size, little-endian bits).
public protocol SafetensorsScalar: BitwiseCopyable {
    static var safetensorsDType: SafetensorsDType { get }
}
extension Float: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .F32 } }
extension Double: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .F64 } }
extension Int64: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .I64 } }
extension UInt64: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .U64 } }
extension Int32: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .I32 } }
extension UInt32: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .U32 } }
extension Int16: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .I16 } }
extension UInt16: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .U16 } }
extension Int8: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .I8 } }
extension UInt8: SafetensorsScalar { public static var safetensorsDType: SafetensorsDType { .U8 } }

/// `[2,3]`, the way shapes appear in the header and in our messages.
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

/// Elements × element size, or nil when a dimension is negative or the product overflows.
func byteCount(shape: [Int], dtype: SafetensorsDType) -> Int? {
    var n = dtype.byteSize
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}

// MARK: - Writing

/// One tensor to write: a name, a dtype, a shape and the bytes, which are read only while the file is
/// being written.
public struct SafetensorsEntry {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Length of the tensor's bytes.
    let byteCount: Int
    /// Calls its argument with the tensor's bytes.
    let withBytes: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// A tensor whose values are held by an array (not copied).
    public init<T: SafetensorsScalar>(name: String, shape: [Int], values: [T]) {
        self.name = name
        dtype = T.safetensorsDType
        self.shape = shape
        byteCount = values.count * MemoryLayout<T>.stride
        withBytes = { body in try values.withUnsafeBytes(body) }
    }

    /// A tensor whose values live in memory the caller owns, e.g. a parameter buffer of the model. The
    /// memory must stay valid and unchanged until `Safetensors.write` returns.
    public init<T: SafetensorsScalar>(name: String, shape: [Int], buffer: UnsafeBufferPointer<T>) {
        self.name = name
        dtype = T.safetensorsDType
        self.shape = shape
        byteCount = buffer.count * MemoryLayout<T>.stride
        withBytes = { body in try body(UnsafeRawBufferPointer(buffer)) }
    }

    /// A tensor given as raw little-endian bytes, for dtypes without a Swift type here (F16, BF16, F8, BOOL).
    public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        byteCount = bytes.count
        withBytes = { body in try bytes.withUnsafeBytes(body) }
    }
}

public enum Safetensors {
    /// The reference implementation refuses longer headers; so do we (a corrupt length would otherwise
    /// make us allocate and parse garbage).
    public static let maxHeaderLength = 100_000_000

    /// Writes `entries` to `path` atomically (temporary file, fsync, rename) and returns the SHA-256 (hex)
    /// of the file. The bytes depend only on the tensors and metadata, not on the order of `entries`:
    /// tensors are laid out by dtype (8-byte types first) then name, metadata keys are sorted, and the header
    /// is padded with spaces to a multiple of 8 bytes, as the reference writer (Python `safetensors`) does.
    /// `metadata: nil` writes no `__metadata__` entry; `[:]` writes an empty one.
    @discardableResult
    public static func write(_ entries: [SafetensorsEntry], metadata: [String: String]? = nil,
                             to path: String) throws -> String {
        let (order, header) = try layout(entries, metadata: metadata, path: path)
        let w = try AtomicFileWriter(path: path)
        try w.write(header)
        let chunk = 1 << 20  // bounded copies into the writer's buffer, however large the tensor
        for i in order {
            try entries[i].withBytes { raw in
                var off = 0
                while off < raw.count {
                    let end = min(raw.count, off + chunk)
                    try w.write(UnsafeRawBufferPointer(rebasing: raw[off..<end]))
                    off = end
                }
            }
        }
        return try w.commit()
    }

    /// The whole file in memory: the same bytes `write` puts on disk.
    public static func encode(_ entries: [SafetensorsEntry], metadata: [String: String]? = nil) throws -> [UInt8] {
        let (order, header) = try layout(entries, metadata: metadata, path: "<memory>")
        var out = header
        for i in order { try entries[i].withBytes { out.append(contentsOf: $0) } }
        return out
    }

    /// Checks the entries and returns the order of their data and the length prefix + padded JSON header.
    static func layout(_ entries: [SafetensorsEntry], metadata: [String: String]?,
                       path: String) throws -> (order: [Int], header: [UInt8]) {
        var seen = Set<String>()
        for e in entries {
            if e.name == "__metadata__" {
                throw RepriseError("\(path): a tensor may not be named \"__metadata__\" (the header's metadata key)")
            }
            if !seen.insert(e.name).inserted { throw RepriseError("\(path): tensor \"\(e.name)\" given twice") }
            guard let n = byteCount(shape: e.shape, dtype: e.dtype), n == e.byteCount else {
                throw RepriseError("\(path): tensor \"\(e.name)\": shape \(shapeText(e.shape)) of \(e.dtype.rawValue) "
                                   + "does not match the \(e.byteCount) bytes given")
            }
        }
        let order = entries.indices.sorted { a, b in
            let (x, y) = (entries[a], entries[b])
            if x.dtype.layoutRank != y.dtype.layoutRank { return x.dtype.layoutRank > y.dtype.layoutRank }
            return x.name.utf8.lexicographicallyPrecedes(y.name.utf8)  // byte order, like Rust's String
        }

        // Compact JSON, `__metadata__` first, then the tensors in data order. String escaping is RFC 8259's
        // minimum (JSONBytes), which is also what serde_json writes.
        var json: [UInt8] = [UInt8(ascii: "{")]
        func key(_ s: String) { JSONBytes.appendString(s, to: &json); json.append(UInt8(ascii: ":")) }
        if let metadata {
            key("__metadata__")
            json.append(UInt8(ascii: "{"))
            for (i, k) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                key(k)
                JSONBytes.appendString(metadata[k]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
            if !order.isEmpty { json.append(UInt8(ascii: ",")) }
        }
        var offset = 0
        for (i, idx) in order.enumerated() {
            let e = entries[idx]
            if i > 0 { json.append(UInt8(ascii: ",")) }
            key(e.name)
            json += Array("{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":\(shapeText(e.shape)),".utf8)
            json += Array("\"data_offsets\":[\(offset),\(offset + e.byteCount)]}".utf8)
            offset += e.byteCount
        }
        json.append(UInt8(ascii: "}"))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }

        var header = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { header.replaceSubrange(0..<8, with: $0) }
        return (order, header + json)
    }
}

// MARK: - Reading

/// Where one tensor's bytes are and how to read them.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range within the data buffer (the header's `data_offsets`).
    public let dataRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file mapped read-only into memory and fully validated on open: header length against
/// the file size, JSON, every dtype, shape × dtype size against the offsets, offsets inside the data
/// buffer, and the tensors tiling the buffer with no overlap and no gap. Tensor bytes are read from the
/// mapping on demand; the mapping lives as long as this object.
///
/// Mapping is safe against our own writers: they replace a file by rename, so a mapped file never changes.
public final class SafetensorsFile: @unchecked Sendable {  // immutable after init; the mapping is read-only
    public let path: String
    /// The header's `__metadata__`, or nil when it has none.
    public let metadata: [String: String]?
    /// Every tensor, in data-buffer order.
    public let tensors: [SafetensorsTensorInfo]
    private let index: [String: Int]
    private let base: UnsafeRawPointer?
    private let fileSize: Int
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw RepriseError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw RepriseError("\(path): cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        if size < 8 {
            throw RepriseError("\(path): truncated: \(size) bytes, but a safetensors file starts with an 8-byte header length")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw RepriseError("\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        let bytes = UnsafeRawBufferPointer(start: p, count: size)
        do {
            let parsed = try Self.parse(bytes, path: path)
            (metadata, tensors, dataStart) = parsed
        } catch {
            munmap(p, size)
            throw error
        }
        base = UnsafeRawPointer(p)
        fileSize = size
        index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), fileSize) }
    }

    /// Tensor names in data-buffer order.
    public var names: [String] { tensors.map(\.name) }

    /// The tensor called `name`, or nil.
    public func info(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor called `name`; the error names the file and the tensor.
    public func tensor(_ name: String) throws -> SafetensorsTensorInfo {
        guard let t = info(name) else {
            throw RepriseError("\(path): no tensor \"\(name)\" (the file has \(tensors.count) tensors)")
        }
        return t
    }

    /// Calls `body` with the tensor's raw little-endian bytes (not necessarily aligned; valid only during
    /// the call).
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let t = try tensor(name)
        let start = base!.advanced(by: dataStart + t.dataRange.lowerBound)
        return try body(UnsafeRawBufferPointer(start: start, count: t.dataRange.count))
    }

    /// A copy of the tensor's values. The dtype must be `T`'s, and the shape `shape` when one is given.
    public func values<T: SafetensorsScalar>(_ name: String, as type: T.Type = T.self, shape: [Int]? = nil) throws -> [T] {
        let t = try check(name, T.self, shape: shape)
        return try [T](unsafeUninitializedCapacity: t.elementCount) { buf, count in
            try withRawBytes(name) { raw in
                // copyMemory rather than binding: the bytes need not be aligned for T.
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: raw)
            }
            count = t.elementCount
        }
    }

    /// The F32 tensor's values.
    public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
        try values(name, as: Float.self, shape: shape)
    }

    /// Copies the tensor's values into memory the caller owns (e.g. a model parameter), which must have
    /// room for exactly its elements.
    public func copy<T: SafetensorsScalar>(_ name: String, into dst: UnsafeMutableBufferPointer<T>, shape: [Int]? = nil) throws {
        let t = try check(name, T.self, shape: shape)
        guard dst.count == t.elementCount else {
            throw RepriseError("\(path): tensor \"\(name)\" has \(t.elementCount) elements, the destination \(dst.count)")
        }
        try withRawBytes(name) { UnsafeMutableRawBufferPointer(dst).copyMemory(from: $0) }
    }

    private func check<T: SafetensorsScalar>(_ name: String, _: T.Type, shape: [Int]?) throws -> SafetensorsTensorInfo {
        let t = try tensor(name)
        if t.dtype != T.safetensorsDType {
            throw RepriseError("\(path): tensor \"\(name)\" is \(t.dtype.rawValue), expected \(T.safetensorsDType.rawValue)")
        }
        if let shape, shape != t.shape {
            throw RepriseError("\(path): tensor \"\(name)\" has shape \(shapeText(t.shape)), expected \(shapeText(shape))")
        }
        return t
    }

    /// Validates the whole layout; returns metadata, tensors in data order and where the data buffer starts.
    static func parse(_ file: UnsafeRawBufferPointer, path: String) throws
        -> (metadata: [String: String]?, tensors: [SafetensorsTensorInfo], dataStart: Int) {
        let n = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        if n > UInt64(file.count - 8) {
            throw RepriseError("\(path): header length \(n) runs past the end of the file (\(file.count) bytes): "
                               + "truncated, or not a safetensors file")
        }
        if n > UInt64(Safetensors.maxHeaderLength) {
            throw RepriseError("\(path): header length \(n) is above the limit of \(Safetensors.maxHeaderLength) bytes")
        }
        let dataStart = 8 + Int(n)
        let dataSize = file.count - dataStart
        let json = Data(UnsafeRawBufferPointer(rebasing: file[8..<dataStart]))

        let header: RawHeader
        do { header = try JSONDecoder().decode(RawHeader.self, from: json) } catch let p as HeaderProblem {
            throw RepriseError("\(path): \(p.message)")
        } catch {
            throw RepriseError("\(path): header is not valid JSON: \(describe(error))")
        }

        // Each tensor on its own: dtype, shape and the size its offsets give.
        // (In name order, so the tensor an error names does not depend on dictionary order.)
        var tensors: [SafetensorsTensorInfo] = []
        for (name, e) in header.tensors.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) {
            let at = "\(path): tensor \"\(name)\""
            guard let dtype = SafetensorsDType(rawValue: e.dtype) else {
                let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
                throw RepriseError("\(at): unknown dtype \"\(e.dtype)\" (known: \(known))")
            }
            guard e.data_offsets.count == 2 else {
                throw RepriseError("\(at): data_offsets must be [begin, end], got \(e.data_offsets.count) numbers")
            }
            let (begin, end) = (e.data_offsets[0], e.data_offsets[1])
            let offsets = "[\(begin),\(end)]"
            if begin < 0 || end < begin { throw RepriseError("\(at): data_offsets \(offsets) are not a range") }
            if end > dataSize {
                throw RepriseError("\(at): data_offsets \(offsets) run past the data buffer (\(dataSize) bytes)")
            }
            guard let size = byteCount(shape: e.shape, dtype: dtype) else {
                throw RepriseError("\(at): shape \(shapeText(e.shape)) has a negative dimension or is too large")
            }
            if size != end - begin {
                throw RepriseError("\(at): shape \(shapeText(e.shape)) of \(dtype.rawValue) is \(size) bytes, "
                                   + "but data_offsets \(offsets) span \(end - begin)")
            }
            tensors.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: e.shape, dataRange: begin..<end))
        }

        // Together: sorted by offset, each tensor starts where the previous one ended and the last ends at
        // the end of the file, so every data byte belongs to exactly one tensor.
        tensors.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name) }
        var cursor = 0
        for (i, t) in tensors.enumerated() {
            let r = t.dataRange
            if r.lowerBound < cursor {
                let prev = tensors[i - 1]
                throw RepriseError("\(path): tensor \"\(t.name)\" data_offsets [\(r.lowerBound),\(r.upperBound)] overlap "
                                   + "tensor \"\(prev.name)\" [\(prev.dataRange.lowerBound),\(prev.dataRange.upperBound)]")
            }
            if r.lowerBound > cursor {
                throw RepriseError("\(path): data bytes \(cursor)..<\(r.lowerBound) belong to no tensor (gap before tensor \"\(t.name)\")")
            }
            cursor = r.upperBound
        }
        if cursor != dataSize {
            throw RepriseError("\(path): data bytes \(cursor)..<\(dataSize) at the end of the file belong to no tensor")
        }
        return (header.metadata, tensors, dataStart)
    }
}

/// A header problem found while decoding, reported with the file name by the caller.
private struct HeaderProblem: Error { let message: String }

/// The JSON header as written: `__metadata__` (strings to strings) and one entry per tensor.
private struct RawHeader: Decodable {
    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }
    struct AnyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
    var metadata: [String: String]?
    var tensors: [(String, Entry)] = []

    init(from decoder: any Decoder) throws {
        let c: KeyedDecodingContainer<AnyKey>
        do { c = try decoder.container(keyedBy: AnyKey.self) } catch {
            throw HeaderProblem(message: "header is not a JSON object")
        }
        for key in c.allKeys {
            if key.stringValue == "__metadata__" {
                do { metadata = try c.decode([String: String].self, forKey: key) } catch {
                    throw HeaderProblem(message: "__metadata__ must be an object of strings: \(describe(error))")
                }
            } else {
                do { tensors.append((key.stringValue, try c.decode(Entry.self, forKey: key))) } catch {
                    throw HeaderProblem(message: "tensor \"\(key.stringValue)\": malformed header entry: \(describe(error))")
                }
            }
        }
    }
}

/// A DecodingError in a few words (the default description is several lines of context).
private func describe(_ error: any Error) -> String {
    func where_(_ ctx: DecodingError.Context) -> String {
        let p = ctx.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.suffix(2).joined(separator: ".")
        return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
    case DecodingError.typeMismatch(let type, let ctx): return "expected \(type)\(where_(ctx))"
    case DecodingError.valueNotFound(let type, let ctx): return "expected \(type)\(where_(ctx))"
    case DecodingError.dataCorrupted(let ctx):
        if let u = ctx.underlyingError { return u.oneLine }
        return ctx.debugDescription + where_(ctx)
    default: return error.oneLine
    }
}
