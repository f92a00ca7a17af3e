import Foundation
import RepriseCore

/// JSON Lines: one object per line; the configured text field is the document, every other field is kept
/// as metadata (its raw JSON, validated). A line that is not a JSON object, or lacks the text field, is a
/// record error naming file and line; the file goes on.
enum JSONLReader {
    static func read(_ source: ByteSource, path: String, fields: JSONFields, maxBytes: Int, sink: ReaderSink) throws {
        // JSON escaping can make a line longer than its text: allow twice the text limit before giving up.
        var lines = LineSplitter(source, maxLine: maxBytes * 2 + 65_536)
        var lineNo = 0
        while let line = try lines.next() {
            lineNo += 1
            switch line {
            case .tooLong(let prefix):
                var doc = RawDocument(ordinal: lineNo - 1, body: .text(prefix))
                doc.dropReason = "too_long"
                try sink.emit(doc)
            case .line(let bytes):
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                do {
                    let record = try bytes.withUnsafeBytes { try JSONObjectScanner.scan($0, fields: fields) }
                    guard let text = record.text else {
                        let keys = (record.id == nil ? [] : [fields.idName]) + record.metadata.map(\.key)
                        sink.recordError("\(path):\(lineNo): no string field \(fields.textDescription) in the record; "
                                         + (keys.isEmpty ? "it has no fields" : "its fields: \(keys.joined(separator: ", "))"))
                        continue
                    }
                    var doc = RawDocument(ordinal: lineNo - 1, body: .text(text))
                    doc.id = record.id
                    doc.metadata = record.metadata
                    if text.count > maxBytes {
                        doc.body = .text(Array(text.prefix(droppedPrefixBytes)))
                        doc.dropReason = "too_long"
                        doc.originalBytes = text.count
                    }
                    try sink.emit(doc)
                } catch let e as JSONObjectScanner.Failure {
                    sink.recordError("\(path):\(lineNo):\(e.offset + 1): not a JSON object: \(e.reason)")
                }
            }
        }
    }
}

/// Which fields of a JSON record hold the text and the id. A text path is dotted (`content.body` is the
/// field `body` of the object in the field `content`); several paths are tried in order and the first that
/// holds a string wins.
public struct JSONFields: Sendable {
    let textPaths: [[[UInt8]]]
    let idField: [UInt8]?
    let idName: String
    let textDescription: String

    public init(text: [String], id: String?) {
        textPaths = text.map { $0.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) } }
        idField = id.map { Array($0.utf8) }
        idName = id ?? ""
        textDescription = text.map { "\"\($0)\"" }.joined(separator: " or ")
    }

    /// The plain `text` field and no id field: what ingest output files hold.
    static let plainText = JSONFields(text: ["text"], id: nil)
}

/// A small JSON scanner for one object per line: it decodes the text field's string and keeps every other
/// value as its raw bytes after checking that it is well-formed JSON.
enum JSONObjectScanner {
    struct Failure: Error { var offset: Int; var reason: String }
    struct Record { var text: [UInt8]?; var id: String?; var metadata: [(key: String, json: [UInt8])] }

    static func scan(_ b: UnsafeRawBufferPointer, fields: JSONFields) throws -> Record {
        var p = Parser(b: b)
        var record = Record(text: nil, metadata: [])
        // The text of the top-level paths found so far, by path index (the first path found wins), and where
        // its raw value is, for metadata if a nested path of a better rank wins.
        var textRank = Int.max
        var textMember: (key: String, range: Range<Int>)?
        p.skipSpace()
        try p.expect(UInt8(ascii: "{"))
        p.skipSpace()
        if p.peek() == UInt8(ascii: "}") { p.i += 1 } else {
            while true {
                p.skipSpace()
                let key = try p.string()
                p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                p.skipSpace()
                let rank = fields.textPaths.firstIndex { $0.count == 1 && $0[0] == key }
                if let rank, p.peek() == UInt8(ascii: "\"") {
                    let start = p.i
                    let text = try p.string()
                    if rank < textRank {
                        if let m = textMember { record.metadata.append((m.key, Array(b[m.range]))) }
                        record.text = text; textRank = rank
                        textMember = (String(decoding: key, as: UTF8.self), start..<p.i)
                    } else {
                        record.metadata.append((String(decoding: key, as: UTF8.self), Array(b[start..<p.i])))
                    }
                } else {
                    let start = p.i
                    try p.skipValue(depth: 0)
                    let value = Array(b[start..<p.i])
                    if key == fields.idField, record.id == nil, let id = idString(value) {
                        record.id = id
                    } else {
                        record.metadata.append((String(decoding: key, as: UTF8.self), value))
                    }
                }
                p.skipSpace()
                if p.peek() == UInt8(ascii: ",") { p.i += 1; continue }
                try p.expect(UInt8(ascii: "}"))
                break
            }
        }
        p.skipSpace()
        if p.i != b.count { throw Failure(offset: p.i, reason: "unexpected data after the object") }
        // Nested paths of a better rank than the top-level text found: take the text out of its object.
        for (rank, path) in fields.textPaths.enumerated() where rank < textRank && path.count > 1 {
            let head = String(decoding: path[0], as: UTF8.self)
            guard let m = record.metadata.firstIndex(where: { $0.key == head }),
                  let found = try extract(record.metadata[m].json, path: path[1...]) else { continue }
            record.text = found.text
            record.metadata[m].json = found.rest
            if let t = textMember { record.metadata.append((t.key, Array(b[t.range]))) }
            break
        }
        return record
    }

    /// A JSON id value as the document id: a string as is, a number as written; nil for anything else.
    static func idString(_ json: [UInt8]) -> String? {
        guard let first = json.first else { return nil }
        if first == UInt8(ascii: "\"") {
            return try? json.withUnsafeBytes { buf -> String in
                var p = Parser(b: buf)
                return String(decoding: try p.string(), as: UTF8.self)
            }
        }
        if first == UInt8(ascii: "-") || (0x30...0x39).contains(first) { return String(decoding: json, as: UTF8.self) }
        return nil
    }

    /// Finds the string at `path` inside the JSON object `json`: its decoded bytes, and the object with that
    /// member removed (other members verbatim, in order). Nil when the path does not lead to a string.
    static func extract(_ json: [UInt8], path: ArraySlice<[UInt8]>) throws -> (text: [UInt8], rest: [UInt8])? {
        try json.withUnsafeBytes { b -> (text: [UInt8], rest: [UInt8])? in
            var p = Parser(b: b)
            guard p.peek() == UInt8(ascii: "{") else { return nil }
            p.i += 1
            p.skipSpace()
            var text: [UInt8]?
            var rest: [UInt8] = [UInt8(ascii: "{")]
            while p.peek() != UInt8(ascii: "}") {
                let keyStart = p.i
                let key = try p.string()
                var member = Array(b[keyStart..<p.i]) + [UInt8(ascii: ":")]
                p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                p.skipSpace()
                let valueStart = p.i
                try p.skipValue(depth: 0)
                let value = Array(b[valueStart..<p.i])
                if text == nil, key == path.first!, path.count == 1, value.first == UInt8(ascii: "\"") {
                    text = try value.withUnsafeBytes { v in var q = Parser(b: v); return try q.string() }
                    member = []
                } else if text == nil, key == path.first!, path.count > 1, let inner = try extract(value, path: path.dropFirst()) {
                    text = inner.text
                    member += inner.rest
                } else {
                    member += value
                }
                if !member.isEmpty {
                    if rest.count > 1 { rest.append(UInt8(ascii: ",")) }
                    rest += member
                }
                p.skipSpace()
                if p.peek() == UInt8(ascii: ",") { p.i += 1; p.skipSpace() } else { break }
            }
            try p.expect(UInt8(ascii: "}"))
            guard let text else { return nil }
            rest.append(UInt8(ascii: "}"))
            return (text, rest)
        }
    }

    struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0

        func peek() -> UInt8? { i < b.count ? b[i] : nil }
        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }
        mutating func expect(_ c: UInt8) throws {
            guard i < b.count else { throw Failure(offset: i, reason: "unexpected end of line, expected '\(Character(Unicode.Scalar(c)))'") }
            guard b[i] == c else { throw Failure(offset: i, reason: "expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }

        /// Decodes a JSON string (the cursor is on its opening quote) into UTF-8 bytes. Invalid escapes
        /// are errors; lone surrogates become U+FFFD.
        mutating func string() throws -> [UInt8] {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < b.count else { throw Failure(offset: i, reason: "unterminated string") }
                let c = b[i]
                if c == 0x22 { out.append(contentsOf: b[runStart..<i]); i += 1; return out }
                if c < 0x20 { throw Failure(offset: i, reason: "control character in string") }
                if c != 0x5C { i += 1; continue }
                out.append(contentsOf: b[runStart..<i])
                i += 1
                guard i < b.count else { throw Failure(offset: i, reason: "unterminated escape") }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar), i + 1 < b.count, b[i] == 0x5C, b[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) { scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) }
                        else { i = save }
                    }
                    let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                default: throw Failure(offset: i - 1, reason: "invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
                runStart = i
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw Failure(offset: i, reason: "short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw Failure(offset: i, reason: "invalid \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func skipValue(depth: Int) throws {
            if depth > 512 { throw Failure(offset: i, reason: "nesting too deep") }
            guard let c = peek() else { throw Failure(offset: i, reason: "missing value") }
            switch c {
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                i += 1; skipSpace()
                if peek() == close { i += 1; return }
                while true {
                    skipSpace()
                    if c == UInt8(ascii: "{") {
                        _ = try string(); skipSpace(); try expect(UInt8(ascii: ":")); skipSpace()
                    }
                    try skipValue(depth: depth + 1)
                    skipSpace()
                    if peek() == UInt8(ascii: ",") { i += 1; continue }
                    try expect(close)
                    return
                }
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), 0x30...0x39: try number()
            default: throw Failure(offset: i, reason: "unexpected character '\(Character(Unicode.Scalar(c)))'")
            }
        }

        mutating func literal(_ word: String) throws {
            for ch in word.utf8 {
                guard i < b.count, b[i] == ch else { throw Failure(offset: i, reason: "invalid literal") }
                i += 1
            }
        }

        mutating func number() throws {
            let start = i
            if peek() == UInt8(ascii: "-") { i += 1 }
            func digits() -> Int { let s = i; while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }; return i - s }
            if peek() == 0x30 { i += 1 } else if digits() == 0 { throw Failure(offset: start, reason: "invalid number") }
            if peek() == UInt8(ascii: ".") { i += 1; if digits() == 0 { throw Failure(offset: i, reason: "invalid number") } }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                i += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
                if digits() == 0 { throw Failure(offset: i, reason: "invalid number") }
            }
        }
    }
}
