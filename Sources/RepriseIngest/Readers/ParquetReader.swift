import Foundation
import RepriseCore

/// Parquet files as HuggingFace datasets and FineWeb ship them: one document per row. The text column is a
/// top-level string column; the other flat columns of simple types (strings, integers, booleans, floats)
/// become metadata; nested columns and other types are skipped. See FORMAT.md ("Parquet inputs").
///
/// The footer is at the end of the file, so the file is read with `pread` (random access), one page per
/// column at a time: memory stays bounded by the page sizes, not the file or row-group size. Every length
/// read from the file is checked; a corrupt or unsupported file fails with an error naming the file, the
/// column and the byte offset, and no document is made from bytes that did not decode.
public final class ParquetReader {
    /// The column whose value becomes the document id (a string, or an integer written in decimal).
    public static let defaultIdColumn = "id"
    /// The four bytes at the start and the end of every Parquet file.
    public static let magic: [UInt8] = Array("PAR1".utf8)
    /// No page may declare more bytes or values than this (a corrupt size must not allocate gigabytes;
    /// writers put at most a few MB and 20,000 rows in a page by default).
    static let maxPageBytes = 1 << 30
    static let maxPageValues = 1 << 24

    let path: String
    /// The text column's candidates (`text_field`); the first that is a flat column of the file is read.
    let textColumns: [String]
    private(set) var textColumn: String
    let idColumn: String?
    let maxBytes: Int
    let metadata: Bool
    private let file: ParquetFile
    /// How much is read ahead for a page header; headers that are longer (large statistics) are read again
    /// with four times as much. Tests set it tiny to exercise that path.
    var headerReadAhead = 16 << 10

    /// Highest file offset read so far, for progress.
    public var bytesRead: Int { file.highestOffset }

    /// Opens `path`; `metadata: false` reads the text (and id) columns only.
    /// `path` names the file in messages; it is opened at `rawPath` (its bytes) when given, else at `path`.
    public convenience init(path: String, rawPath: [UInt8]? = nil, textColumn: String,
                            idColumn: String? = ParquetReader.defaultIdColumn, maxBytes: Int, metadata: Bool = true) throws {
        try self.init(path: path, rawPath: rawPath, textColumns: [textColumn], idColumn: idColumn, maxBytes: maxBytes, metadata: metadata)
    }

    public init(path: String, rawPath: [UInt8]? = nil, textColumns: [String],
                idColumn: String? = ParquetReader.defaultIdColumn, maxBytes: Int, metadata: Bool = true) throws {
        precondition(!textColumns.isEmpty)
        self.path = path
        self.textColumns = textColumns
        textColumn = textColumns[0]
        self.idColumn = idColumn
        self.maxBytes = maxBytes
        self.metadata = metadata
        file = try ParquetFile(path: path, rawPath: rawPath ?? Array(path.utf8))
    }

    /// Reads every row group in order and hands one document per row to `sink`. A row whose text is null
    /// is a record error; anything that stops the file (corrupt data, an unsupported feature) throws.
    public func read(sink: ReaderSink) throws {
        let meta = try file.readFooter()
        let columns = try ParquetColumns(meta.schema, path: path)
        if let found = textColumns.first(where: { name in columns.flat.contains { $0.name == name } }) { textColumn = found }
        guard let text = columns.flat.first(where: { $0.name == textColumn }) else {
            if columns.all.contains(textColumn) {
                throw RepriseError("\(path): column \"\(textColumn)\" is nested (a struct, list or map), not a string column; set text_field to the column that holds the text")
            }
            let names = columns.all.map { "\"\($0)\"" }.joined(separator: ", ")
            throw RepriseError("\(path): no column \"\(textColumn)\" in the Parquet schema (columns: \(names)); set text_field to the column that holds the text")
        }
        guard text.element.type == .byteArray, text.element.repetition != 2,
              text.element.annotation == .string || text.element.annotation == .none else {
            var type = text.element.type?.name ?? "of an unknown type"
            if case .other(let annotation) = text.element.annotation { type += " (\(annotation))" }
            throw RepriseError("\(path): column \"\(textColumn)\" is \(type)\(text.element.repetition == 2 ? " (repeated)" : ""), not a string column; set text_field to the column that holds the text")
        }
        let id = columns.flat.first { $0.name == idColumn && $0.name != textColumn && $0.valueKind(forId: true) != nil }
        var selected = [text]
        if let id { selected.append(id) }
        if metadata {
            selected += columns.flat.filter { $0.name != textColumn && $0.name != id?.name && $0.valueKind(forId: false) != nil }
        }
        // Check every chunk before the first document, so an unsupported feature fails the whole file.
        for (g, group) in meta.rowGroups.enumerated() {
            guard group.columns.count == columns.leafCount else {
                throw RepriseError("\(path): corrupt Parquet footer: row group \(g) has \(group.columns.count) column chunks, the schema \(columns.leafCount) columns")
            }
            guard group.numRows >= 0 else { throw RepriseError("\(path): corrupt Parquet footer: row group \(g) has \(group.numRows) rows") }
            // An empty row group (pyarrow writes one for an empty table) has no column data to check.
            if group.numRows == 0 { continue }
            for c in selected { _ = try chunkRange(group.columns[c.leaf], column: c, group: g) }
        }

        var firstRow = 0
        for (g, group) in meta.rowGroups.enumerated() {
            if group.numRows == 0 { continue }
            let cursors = try selected.map { c -> ParquetColumnCursor in
                let chunk = group.columns[c.leaf]
                return ParquetColumnCursor(file: file, column: c, codec: chunk.meta!.codec, group: g,
                                           range: try chunkRange(chunk, column: c, group: g),
                                           headerReadAhead: headerReadAhead)
            }
            let textCursor = cursors[0]
            let idCursor = id == nil ? nil : cursors[1]
            let metaCursors = cursors[(id == nil ? 1 : 2)...]
            for r in 0..<group.numRows {
                let ordinal = firstRow + r
                let cell = try textCursor.next()
                var doc: RawDocument
                switch cell {
                case .bytes(let t):
                    if t.count > maxBytes {
                        doc = RawDocument(ordinal: ordinal, body: .text(Array(t.prefix(droppedPrefixBytes))))
                        doc.dropReason = "too_long"
                        doc.originalBytes = t.count
                    } else {
                        doc = RawDocument(ordinal: ordinal, body: .text(Array(t)))
                    }
                default:
                    // Keep the other columns in step, then report the row.
                    for c in cursors.dropFirst() { _ = try c.next() }
                    sink.recordError("\(path): row group \(g), row \(r) (row \(ordinal) of the file): column \"\(textColumn)\" is null")
                    continue
                }
                if let idCursor { doc.id = ParquetValues.idString(try idCursor.next(), column: idCursor.column) }
                for c in metaCursors {
                    doc.metadata.append((c.column.name, ParquetValues.json(try c.next(), column: c.column)))
                }
                try sink.emit(doc)
            }
            for c in cursors { try c.finish(rows: group.numRows) }
            firstRow += group.numRows
        }
    }

    /// The byte range of a column chunk, checked against the file; unsupported codecs and encodings fail here.
    private func chunkRange(_ chunk: ParquetColumnChunk, column: ParquetColumn, group: Int) throws -> Range<Int> {
        let name = "\(path): column \"\(column.name)\""
        if chunk.encrypted { throw RepriseError("\(name): encrypted columns are not supported") }
        if let p = chunk.filePath { throw RepriseError("\(name): column data in another file (\(p)) is not supported") }
        guard let m = chunk.meta else { throw RepriseError("\(path): corrupt Parquet footer: row group \(group), column \"\(column.name)\" has no metadata") }
        guard [ParquetCodec.uncompressed, ParquetCodec.snappy, ParquetCodec.gzip, ParquetCodec.zstd].contains(m.codec) else {
            throw RepriseError("\(name): codec \(ParquetCodec.name(m.codec)) is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD)")
        }
        for e in m.encodings where !ParquetColumnCursor.supportedEncodings.contains(e) {
            throw RepriseError("\(name): encoding \(ParquetEncoding.name(e)) is not supported (supported: PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY, RLE)")
        }
        guard m.physicalType == column.element.physicalTypeCode else {
            throw RepriseError("\(path): corrupt Parquet footer: row group \(group), column \"\(column.name)\" has physical type \(m.physicalType), the schema \(column.element.physicalTypeCode ?? -1)")
        }
        var start = m.dataPageOffset
        if let d = m.dictionaryPageOffset, d > 0, d < start { start = d }
        let end = start.addingReportingOverflow(m.totalCompressedSize)
        guard start >= 4, m.totalCompressedSize >= 0, !end.overflow, end.partialValue <= file.dataEnd else {
            throw RepriseError("\(path): corrupt Parquet footer: row group \(group), column \"\(column.name)\" lies at bytes \(start)..<\(end.partialValue), outside the data (bytes 4..<\(file.dataEnd))")
        }
        return start..<end.partialValue
    }
}

// MARK: - File

/// A Parquet file read with `pread`, with its footer located.
final class ParquetFile {
    let path: String
    private let fd: Int32
    let size: Int
    /// Where the footer starts: column data lies before it.
    private(set) var dataEnd = 0
    private(set) var highestOffset = 0

    init(path: String, rawPath: [UInt8]) throws {
        self.path = path
        fd = withCPath(rawPath) { open($0, O_RDONLY) }
        if fd < 0 { throw RepriseError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw RepriseError("\(path): a Parquet file must be a regular file (its footer is read from the end)")
        }
        size = Int(st.st_size)
    }
    deinit { close(fd) }

    /// Fills `buffer` with the bytes at `offset`; the caller has checked that they lie inside the file.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw RepriseError("\(path): read failed at byte \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw RepriseError("\(path): file ends at byte \(offset + done), expected \(buffer.count) bytes at \(offset): truncated") }
            done += n
        }
        highestOffset = max(highestOffset, offset + done)
    }

    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        return out
    }

    /// Checks both magics and decodes the footer (`FileMetaData`, then its 4-byte length, then `PAR1`).
    func readFooter() throws -> ParquetFileMetaData {
        guard size >= 12 else {
            throw RepriseError("\(path): truncated Parquet file: \(size) bytes, too short for a header and footer (12 bytes)")
        }
        guard try bytes(at: 0, count: 4) == ParquetReader.magic else {
            throw RepriseError("\(path): not a Parquet file: no PAR1 magic at byte 0")
        }
        let tail = try bytes(at: size - 8, count: 8)
        if tail[4...] == ArraySlice("PARE".utf8) {
            throw RepriseError("\(path): encrypted Parquet footer (PARE) is not supported")
        }
        guard tail[4...] == ArraySlice(ParquetReader.magic) else {
            throw RepriseError("\(path): truncated or corrupt Parquet file: no PAR1 magic at the end (byte \(size - 4)); the file may be cut short")
        }
        let length = Int(UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24)
        guard length <= size - 12 else {
            throw RepriseError("\(path): corrupt Parquet footer: length \(length) at byte \(size - 8) exceeds the file (\(size) bytes)")
        }
        let start = size - 8 - length
        dataEnd = start
        let footer = try bytes(at: start, count: length)
        do {
            let meta = try footer.withUnsafeBytes { try ParquetFileMetaData.read($0) }
            if meta.encrypted { throw RepriseError("\(path): encrypted Parquet files are not supported") }
            return meta
        } catch let f as ThriftFailure {
            throw RepriseError("\(path): corrupt Parquet footer at byte \(start + f.offset): \(f.reason)")
        }
    }
}

// MARK: - Schema

/// A top-level column of the schema.
struct ParquetColumn {
    var name: String
    var element: ParquetSchemaElement
    /// Index of its column chunk in each row group (the leaf's position in the schema).
    var leaf: Int
    /// Largest definition level: 1 for an optional column, 0 for a required one.
    var maxDefinitionLevel: Int { element.repetition == 1 ? 1 : 0 }

    enum ValueKind { case string, signed, unsigned, boolean, float }

    /// How the column becomes metadata (or an id), or nil when it is skipped.
    func valueKind(forId: Bool) -> ValueKind? {
        guard element.repetition != 2, let type = element.type else { return nil }
        switch (type, element.annotation) {
        case (.byteArray, .string): return .string
        case (.byteArray, .none): return forId ? .string : nil // binary: an id, but no metadata
        case (.int32, .none), (.int64, .none): return .signed
        case (.int32, .integer(_, let signed)), (.int64, .integer(_, let signed)): return signed ? .signed : .unsigned
        case (.boolean, .none): return forId ? nil : .boolean
        case (.float, .none), (.double, .none): return forId ? nil : .float
        default: return nil
        }
    }
}

/// The top-level columns of a schema: flat ones (one leaf, no children) and the names of all.
struct ParquetColumns {
    var flat: [ParquetColumn] = []
    var all: [String] = []
    var leafCount = 0

    init(_ schema: [ParquetSchemaElement], path: String) throws {
        guard let root = schema.first else { throw RepriseError("\(path): corrupt Parquet footer: empty schema") }
        var next = 1
        // Counts the leaves under schema[next] (a subtree in depth-first order) and moves past it.
        func skipSubtree(depth: Int) throws {
            guard next < schema.count else { throw RepriseError("\(path): corrupt Parquet footer: schema ends inside a group") }
            guard depth < 64 else { throw RepriseError("\(path): corrupt Parquet footer: schema nested too deeply") }
            let e = schema[next]
            next += 1
            if e.numChildren <= 0 { leafCount += 1; return }
            for _ in 0..<e.numChildren { try skipSubtree(depth: depth + 1) }
        }
        for _ in 0..<max(0, root.numChildren) {
            guard next < schema.count else { throw RepriseError("\(path): corrupt Parquet footer: schema lists fewer columns than its root declares") }
            let e = schema[next]
            all.append(e.name)
            if e.numChildren <= 0 {
                flat.append(ParquetColumn(name: e.name, element: e, leaf: leafCount))
                leafCount += 1
                next += 1
            } else {
                try skipSubtree(depth: 0)
            }
        }
    }
}

// MARK: - Values

/// One value of a column: null, bytes (valid until the cursor moves to its next page), or a number.
enum ParquetCell {
    case null
    case bytes(UnsafeRawBufferPointer)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case float(Float)
}

enum ParquetValues {
    /// The raw JSON of a metadata value; null for nulls and non-finite floats.
    static func json(_ cell: ParquetCell, column: ParquetColumn) -> [UInt8] {
        switch cell {
        case .null: return Array("null".utf8)
        case .bytes(let b):
            var out: [UInt8] = []
            out.reserveCapacity(b.count + 2)
            if b.allSatisfy({ $0 < 0x80 }) {
                JSONBytes.appendString(b, to: &out)
            } else {
                // Invalid UTF-8 becomes U+FFFD, so the output stays valid JSON.
                JSONBytes.appendString(String(decoding: b, as: UTF8.self), to: &out)
            }
            return out
        case .int(let v): return Array(integer(v, column: column).utf8)
        case .bool(let v): return Array((v ? "true" : "false").utf8)
        case .double(let v): return Array((v.isFinite ? "\(v)" : "null").utf8)
        case .float(let v): return Array((v.isFinite ? "\(v)" : "null").utf8)
        }
    }

    static func idString(_ cell: ParquetCell, column: ParquetColumn) -> String? {
        switch cell {
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .int(let v): return integer(v, column: column)
        default: return nil
        }
    }

    /// Decimal digits; unsigned annotations reinterpret the stored bits.
    static func integer(_ v: Int64, column: ParquetColumn) -> String {
        guard column.valueKind(forId: true) == .unsigned else { return String(v) }
        return column.element.type == .int32 ? String(UInt32(truncatingIfNeeded: v)) : String(UInt64(bitPattern: v))
    }
}

// MARK: - Buffers

/// A growable block of raw memory owned by one cursor (page data must outlive Swift array scopes).
final class ParquetBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int

    init(_ capacity: Int = 1 << 12) {
        self.capacity = max(capacity, 16)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }
    deinit { base.deallocate() }

    /// Makes room for `count` bytes, keeping the first `keep`.
    func reserve(_ count: Int, keep: Int = 0) {
        if count <= capacity { return }
        let grown = max(count, capacity * 2)
        let b = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
        if keep > 0 { b.copyMemory(from: base, byteCount: keep) }
        base.deallocate()
        base = b
        capacity = grown
    }

    func view(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
    func mutableView(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}

// MARK: - Column cursor

/// Reads one column chunk value by value: page headers, decompression, definition levels, then PLAIN or
/// dictionary-encoded values. Holds one page (and the chunk's dictionary) at a time.
final class ParquetColumnCursor {
    static let supportedEncodings: Set<Int> = [ParquetEncoding.plain, ParquetEncoding.plainDictionary,
                                               ParquetEncoding.rle, ParquetEncoding.rleDictionary]

    let file: ParquetFile
    let column: ParquetColumn
    let codec: Int
    let group: Int
    let headerReadAhead: Int
    private var position: Int
    private let end: Int

    private let raw = ParquetBuffer()        // header + compressed page
    private let decoded = ParquetBuffer()    // decompressed page
    private lazy var zstd = ZstdFrameDecoder()
    private var inflater: InflateBlockDecoder?

    // The current data page.
    private var pageOffset = 0
    private var pageValues = 0
    private var slot = 0
    private var definitionLevels: [UInt32] = []
    private var values = UnsafeRawBufferPointer(start: nil, count: 0)
    private var valuePosition = 0
    private var useDictionary = false
    private var indices: [UInt32] = []
    private var nextIndex = 0
    /// RLE-encoded booleans (data page v2), decoded up front.
    private var rleBooleans = false
    private var booleans: [UInt32] = []

    // The chunk's dictionary.
    private let dictionaryBytes = ParquetBuffer()
    private var dictionaryCount = 0
    private var dictionaryStarts: [Int] = []
    private var dictionaryLengths: [Int] = []
    private var dictionaryScalars: [ParquetCell] = []

    init(file: ParquetFile, column: ParquetColumn, codec: Int, group: Int, range: Range<Int>, headerReadAhead: Int) {
        self.file = file
        self.headerReadAhead = max(1, headerReadAhead)
        self.column = column
        self.codec = codec
        self.group = group
        position = range.lowerBound
        end = range.upperBound
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> RepriseError {
        RepriseError("\(file.path): column \"\(column.name)\", row group \(group), page at byte \(offset ?? pageOffset): \(reason)")
    }

    /// The next value of the column.
    func next() throws -> ParquetCell {
        while slot == pageValues { try loadPage() }
        defer { slot += 1 }
        if column.maxDefinitionLevel > 0 && definitionLevels[slot] == 0 { return .null }
        if useDictionary {
            let k = Int(indices[nextIndex])
            nextIndex += 1
            guard k < dictionaryCount else { throw fail("dictionary index \(k) out of range (dictionary has \(dictionaryCount) values)") }
            if column.element.type == .byteArray {
                return .bytes(dictionaryBytes.view(dictionaryStarts[k]..<(dictionaryStarts[k] + dictionaryLengths[k])))
            }
            return dictionaryScalars[k]
        }
        if rleBooleans {
            let b = booleans[nextIndex]
            nextIndex += 1
            return .bool(b != 0)
        }
        return try plainValue(values, at: &valuePosition, bits: &nextIndex)
    }

    /// Decodes one PLAIN value of the column's physical type at `pos` (booleans: bit `bits`, counting the
    /// booleans read so far).
    private func plainValue(_ b: UnsafeRawBufferPointer, at pos: inout Int, bits: inout Int) throws -> ParquetCell {
        func need(_ n: Int) throws {
            guard n <= b.count - pos else { throw fail("value data ends early (needs \(n) bytes at value offset \(pos), \(b.count - pos) left)") }
        }
        switch column.element.type! {
        case .byteArray:
            try need(4)
            let n = Int(b.loadUnaligned(fromByteOffset: pos, as: UInt32.self).littleEndian)
            pos += 4
            try need(n)
            defer { pos += n }
            return .bytes(UnsafeRawBufferPointer(rebasing: b[pos..<(pos + n)]))
        case .int32:
            try need(4)
            defer { pos += 4 }
            return .int(Int64(Int32(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: Int32.self))))
        case .int64:
            try need(8)
            defer { pos += 8 }
            return .int(Int64(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: Int64.self)))
        case .float:
            try need(4)
            defer { pos += 4 }
            return .float(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: UInt32.self))))
        case .double:
            try need(8)
            defer { pos += 8 }
            return .double(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: UInt64.self))))
        case .boolean:
            // Bit-packed, least significant bit first.
            let byte = bits >> 3
            guard byte < b.count else { throw fail("boolean data ends early") }
            defer { bits += 1 }
            return .bool(b[byte] >> UInt8(bits & 7) & 1 == 1)
        case .int96, .fixedLenByteArray:
            throw fail("physical type \(column.element.type!.name) is not read")
        }
    }

    /// After the row group's last row: the chunk must hold no more values, so a corrupt row or value
    /// count cannot shift values between rows unnoticed.
    func finish(rows: Int) throws {
        try checkPageConsumed()
        if slot < pageValues || position < end {
            throw fail("the column chunk holds more values than the row group's \(rows) rows", at: slot < pageValues ? pageOffset : position)
        }
    }

    /// PLAIN values must fill their page exactly.
    private func checkPageConsumed() throws {
        if slot == pageValues && !useDictionary && !rleBooleans && column.element.type != .boolean && valuePosition != values.count {
            throw fail("\(values.count - valuePosition) bytes of values left after the page's \(pageValues) values")
        }
    }

    /// Reads page headers until the next data page with values, decoding a dictionary page on the way.
    private func loadPage() throws {
        try checkPageConsumed()
        while true {
            guard position < end else {
                throw fail("the column chunk ends before the row group's last row", at: position)
            }
            pageOffset = position
            // Header first: read ahead, and again with more bytes when the header is longer.
            var have = min(headerReadAhead, end - position)
            var header: ParquetPageHeader
            while true {
                raw.reserve(have)
                try file.read(at: position, into: raw.mutableView(0..<have))
                do {
                    header = try ParquetPageHeader.read(raw.view(0..<have))
                    break
                } catch let f as ThriftFailure {
                    if have == end - position || have >= 64 << 20 {
                        throw fail("corrupt page header at byte \(position + f.offset): \(f.reason)")
                    }
                    have = min(have * 4, end - position)
                }
            }
            let h = header
            guard h.compressedSize >= 0, h.uncompressedSize >= 0, h.numValues >= 0,
                  h.compressedSize <= end - position - h.headerSize else {
                throw fail("corrupt page header: \(h.compressedSize) compressed bytes (\(end - position - h.headerSize) left in the column chunk), \(h.uncompressedSize) uncompressed, \(h.numValues) values")
            }
            guard h.uncompressedSize <= ParquetReader.maxPageBytes, h.numValues <= ParquetReader.maxPageValues else {
                throw fail("page declares \(h.uncompressedSize) bytes and \(h.numValues) values, more than the limits (\(ParquetReader.maxPageBytes >> 20) MiB, \(ParquetReader.maxPageValues) values)")
            }
            let pageEnd = h.headerSize + h.compressedSize
            if pageEnd > have {
                raw.reserve(pageEnd, keep: have)
                try file.read(at: position + have, into: raw.mutableView(have..<pageEnd))
            }
            position += pageEnd
            let body = raw.view(h.headerSize..<pageEnd)
            if let crc = h.crc, CRC32.checksum(body) != crc {
                throw fail("page checksum mismatch (CRC-32 \(CRC32.checksum(body)), header says \(crc))")
            }
            switch h.type {
            case ParquetPageType.dictionaryPage:
                try loadDictionary(h, body)
            case ParquetPageType.dataPage:
                try loadDataPageV1(h, body)
                if pageValues > 0 { return }
            case ParquetPageType.dataPageV2:
                try loadDataPageV2(h, body)
                if pageValues > 0 { return }
            default:
                continue // index pages and unknown page types hold no values
            }
        }
    }

    /// Decompresses `src`, which must give exactly `size` bytes (into `decoded`, or `src` itself when the
    /// chunk is uncompressed).
    private func decompress(_ src: UnsafeRawBufferPointer, size: Int) throws -> UnsafeRawBufferPointer {
        if codec == ParquetCodec.uncompressed {
            guard src.count == size else { throw fail("uncompressed page holds \(src.count) bytes, header says \(size)") }
            return src
        }
        decoded.reserve(size)
        let dst = decoded.mutableView(0..<size)
        let n: Int
        do {
            switch codec {
            case ParquetCodec.snappy: n = try Snappy.decompress(src, into: dst)
            case ParquetCodec.gzip:
                if inflater == nil { inflater = try InflateBlockDecoder() }
                n = try inflater!.decompress(src, into: dst)
            case ParquetCodec.zstd: n = try zstd.decompress(src, into: dst)
            default: throw RepriseError("codec \(ParquetCodec.name(codec)) is not supported")
            }
        } catch {
            throw fail(error.oneLine)
        }
        guard n == size else { throw fail("page decompresses to \(n) bytes, header says \(size)") }
        return decoded.view(0..<size)
    }

    private func loadDictionary(_ h: ParquetPageHeader, _ body: UnsafeRawBufferPointer) throws {
        guard h.encoding == ParquetEncoding.plain || h.encoding == ParquetEncoding.plainDictionary else {
            throw fail("dictionary page encoding \(ParquetEncoding.name(h.encoding)) is not supported")
        }
        let data = try decompress(body, size: h.uncompressedSize)
        dictionaryStarts.removeAll(keepingCapacity: true)
        dictionaryLengths.removeAll(keepingCapacity: true)
        dictionaryScalars.removeAll(keepingCapacity: true)
        var pos = 0
        var bit = 0
        if column.element.type == .byteArray {
            // Keep the page's bytes: values point into them.
            dictionaryBytes.reserve(data.count)
            if data.count > 0 { dictionaryBytes.mutableView(0..<data.count).copyMemory(from: data) }
            let copy = dictionaryBytes.view(0..<data.count)
            for _ in 0..<h.numValues {
                guard case .bytes(let v) = try plainValue(copy, at: &pos, bits: &bit) else { continue }
                dictionaryStarts.append(v.baseAddress! - copy.baseAddress!)
                dictionaryLengths.append(v.count)
            }
        } else {
            dictionaryScalars.reserveCapacity(h.numValues)
            for _ in 0..<h.numValues {
                dictionaryScalars.append(try plainValue(data, at: &pos, bits: &bit))
            }
        }
        if column.element.type != .boolean && pos != data.count {
            throw fail("\(data.count - pos) bytes left after the dictionary's \(h.numValues) values")
        }
        dictionaryCount = h.numValues
    }

    private func loadDataPageV1(_ h: ParquetPageHeader, _ body: UnsafeRawBufferPointer) throws {
        let page = try decompress(body, size: h.uncompressedSize)
        var pos = 0
        var present = h.numValues
        if column.maxDefinitionLevel > 0 {
            guard h.definitionLevelEncoding == ParquetEncoding.rle else {
                throw fail("definition level encoding \(ParquetEncoding.name(h.definitionLevelEncoding)) is not supported")
            }
            guard page.count >= 4 else { throw fail("definition levels end early") }
            let n = Int(page.loadUnaligned(as: UInt32.self).littleEndian)
            guard n <= page.count - 4 else { throw fail("definition levels length \(n) exceeds the page (\(page.count - 4) bytes)") }
            present = try decodeLevels(UnsafeRawBufferPointer(rebasing: page[4..<(4 + n)]), count: h.numValues)
            pos = 4 + n
        }
        try startValues(h, UnsafeRawBufferPointer(rebasing: page[pos...]), present: present)
    }

    private func loadDataPageV2(_ h: ParquetPageHeader, _ body: UnsafeRawBufferPointer) throws {
        let levels = h.repetitionLevelsLength + h.definitionLevelsLength
        guard h.repetitionLevelsLength >= 0, h.definitionLevelsLength >= 0, levels <= body.count,
              levels <= h.uncompressedSize else {
            throw fail("level lengths \(h.repetitionLevelsLength) + \(h.definitionLevelsLength) exceed the page (\(body.count) bytes)")
        }
        var present = h.numValues
        if column.maxDefinitionLevel > 0 {
            let defs = UnsafeRawBufferPointer(rebasing: body[h.repetitionLevelsLength..<levels])
            present = try decodeLevels(defs, count: h.numValues)
        }
        let rest = UnsafeRawBufferPointer(rebasing: body[levels...])
        let values: UnsafeRawBufferPointer
        if h.isCompressed && codec != ParquetCodec.uncompressed {
            values = try decompress(rest, size: h.uncompressedSize - levels)
        } else {
            guard rest.count == h.uncompressedSize - levels else { throw fail("page holds \(rest.count) value bytes, header says \(h.uncompressedSize - levels)") }
            values = rest
        }
        try startValues(h, values, present: present)
    }

    /// Decodes `count` definition levels (bit width 1: flat optional columns); returns how many are set.
    private func decodeLevels(_ b: UnsafeRawBufferPointer, count: Int) throws -> Int {
        try ParquetHybrid.decode(b, bitWidth: 1, count: count, into: &definitionLevels) { fail("definition levels: \($0)") }
        var present = 0
        for l in definitionLevels[0..<count] {
            guard l <= 1 else { throw fail("definition level \(l) out of range") }
            present += Int(l)
        }
        return present
    }

    /// Prepares the values section of a data page holding `present` non-null values.
    private func startValues(_ h: ParquetPageHeader, _ b: UnsafeRawBufferPointer, present: Int) throws {
        pageValues = h.numValues
        slot = 0
        nextIndex = 0
        valuePosition = 0
        values = b
        rleBooleans = false
        switch h.encoding {
        case ParquetEncoding.plain:
            useDictionary = false
        case ParquetEncoding.plainDictionary, ParquetEncoding.rleDictionary:
            guard dictionaryCount > 0 || present == 0 else { throw fail("dictionary-encoded page without a dictionary page") }
            guard b.count >= 1 || present == 0 else { throw fail("dictionary indices end early") }
            let width = b.count >= 1 ? Int(b[0]) : 0
            guard width <= 32 else { throw fail("dictionary index bit width \(width) out of range") }
            try ParquetHybrid.decode(UnsafeRawBufferPointer(rebasing: b.dropFirst()), bitWidth: width, count: present,
                                     into: &indices) { fail("dictionary indices: \($0)") }
            useDictionary = true
        case ParquetEncoding.rle where column.element.type == .boolean:
            guard b.count >= 4 else { throw fail("boolean values end early") }
            let n = Int(b.loadUnaligned(as: UInt32.self).littleEndian)
            guard n <= b.count - 4 else { throw fail("boolean values length \(n) exceeds the page") }
            try ParquetHybrid.decode(UnsafeRawBufferPointer(rebasing: b[4..<(4 + n)]), bitWidth: 1, count: present,
                                     into: &booleans) { fail("boolean values: \($0)") }
            useDictionary = false
            rleBooleans = true
        default:
            throw fail("encoding \(ParquetEncoding.name(h.encoding)) is not supported (supported: PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY)")
        }
    }
}

/// The RLE / bit-packing hybrid encoding of levels and dictionary indices.
enum ParquetHybrid {
    /// Decodes exactly `count` values of `bitWidth` bits into `out` (resized to `count`).
    static func decode(_ b: UnsafeRawBufferPointer, bitWidth: Int, count: Int, into out: inout [UInt32],
                       error: (String) -> Error) throws {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(count)
        var i = 0
        let valueBytes = (bitWidth + 7) / 8
        let mask: UInt64 = bitWidth == 0 ? 0 : (1 << UInt64(bitWidth)) - 1
        while out.count < count {
            // Run header: ULEB128.
            var header: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count else { throw error("data ends after \(out.count) of \(count) values") }
                let c = b[i]; i += 1
                header |= UInt64(c & 0x7F) << shift
                if c & 0x80 == 0 { break }
                shift += 7
                guard shift < 64 else { throw error("run header too long at byte \(i)") }
            }
            let left = count - out.count
            if header & 1 == 0 {
                // RLE run: one value repeated.
                let n = header >> 1
                guard valueBytes <= b.count - i else { throw error("RLE run ends early at byte \(i)") }
                var v: UInt32 = 0
                for k in 0..<valueBytes { v |= UInt32(b[i + k]) << UInt32(8 * k) }
                i += valueBytes
                let take = Int(min(n, UInt64(left)))
                out.append(contentsOf: repeatElement(v & UInt32(truncatingIfNeeded: mask), count: take))
            } else {
                // Bit-packed groups of 8 values, least significant bit first.
                let groups = header >> 1
                guard groups <= UInt64(b.count), Int(groups) * bitWidth <= b.count - i else {
                    throw error("bit-packed run of \(groups) groups ends early at byte \(i)")
                }
                let total = Int(groups) * 8
                let take = min(total, left)
                var acc: UInt64 = 0, bits = 0
                var p = i
                for _ in 0..<take {
                    while bits < bitWidth { acc |= UInt64(b[p]) << UInt64(bits); p += 1; bits += 8 }
                    out.append(UInt32(truncatingIfNeeded: acc & mask))
                    acc = bitWidth == 64 ? 0 : acc >> UInt64(bitWidth)
                    bits -= bitWidth
                }
                i += Int(groups) * bitWidth
            }
        }
    }
}
