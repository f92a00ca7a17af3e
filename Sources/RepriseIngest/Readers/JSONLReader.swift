import Foundation
import RepriseCore

/// JSON Lines: one object per line; the configured text field is the document, every other field is kept
/// as metadata (its raw JSON, validated). A line that is not a JSON object, or lacks the text field, is a
/// record error naming file and line; the file goes on.
enum JSONLReader {
    static func read(_ source: ByteSource, path: String, textField: String, maxBytes: Int, sink: ReaderSink) throws {
        // JSON escaping can make a line longer than its text: allow twice the text limit before giving up.
        var lines = LineSplitter(source, maxLine: maxBytes * 2 + 65_536)
        var lineNo = 0
        let field = Array(textField.utf8)
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
                    let record = try bytes.withUnsafeBytes { try JSONObjectScanner.scan($0, textField: field) }
                    guard let text = record.text else {
                        sink.recordError("\(path):\(lineNo): no string field \"\(textField)\" in the record")
                        continue
                    }
                    var doc = RawDocument(ordinal: lineNo - 1, body: .text(text))
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

/// A small JSON scanner for one object per line: it decodes the text field's string and keeps every other
/// value as its raw bytes after checking that it is well-formed JSON.
enum JSONObjectScanner {
    struct Failure: Error { var offset: Int; var reason: String }
    struct Record { var text: [UInt8]?; var metadata: [(key: String, json: [UInt8])] }

    static func scan(_ b: UnsafeRawBufferPointer, textField: [UInt8]) throws -> Record {
        var p = Parser(b: b)
        var record = Record(text: nil, metadata: [])
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
                if key == textField {
                    guard p.peek() == UInt8(ascii: "\"") else { throw Failure(offset: p.i, reason: "field \"\(String(decoding: key, as: UTF8.self))\" is not a string") }
                    record.text = try p.string()
                } else {
                    let start = p.i
                    try p.skipValue(depth: 0)
                    record.metadata.append((String(decoding: key, as: UTF8.self), Array(b[start..<p.i])))
                }
                p.skipSpace()
                if p.peek() == UInt8(ascii: ",") { p.i += 1; continue }
                try p.expect(UInt8(ascii: "}"))
                break
            }
        }
        p.skipSpace()
        if p.i != b.count { throw Failure(offset: p.i, reason: "unexpected data after the object") }
        return record
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
