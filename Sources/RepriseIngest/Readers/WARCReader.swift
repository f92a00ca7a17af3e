import Foundation
import RepriseCore

/// WARC files (ISO 28500, versions 1.0 and 1.1), Common Crawl's WARC and WET files among them, plain or
/// compressed (a `.warc.gz` is a gzip member per record, which the gzip decoder reads as one stream).
///
/// A record is a version line, header lines up to an empty line, a body of exactly `Content-Length` bytes,
/// then an empty line (CRLF CRLF; bare LF is tolerated). What a record yields depends on its `WARC-Type`:
/// - `conversion` (WET): its body is the document text;
/// - `response`: an HTTP response whose status is 2xx and whose `Content-Type` is HTML becomes an HTML
///   document (chunked transfer coding and gzip/deflate content coding undone, the HTTP charset passed on
///   to the HTML parser); other responses are skipped;
/// - every other type (`warcinfo`, `request`, `metadata`, `revisit`, `resource`, ...) is skipped.
/// The document id is the record's `WARC-Target-URI`; `url`, `warc_date`, `warc_record_id` and the
/// language headers become metadata. Headers (WARC or HTTP) never reach the text.
///
/// Every record is reported to `sink.record` with its type and, when it yields no document, the reason.
/// A malformed record (bad version line, missing `Content-Length`, a body that does not end where its
/// length says) is a record error naming the file, the record number and its byte offset in the
/// decompressed stream; reading resumes at the next line that starts a record. A record whose end is in
/// doubt never yields a document.
enum WARCReader {
    static let version10 = Array("WARC/1.0".utf8)
    static let version11 = Array("WARC/1.1".utf8)
    /// What starts a record, for resynchronisation after a malformed one.
    static let recordMarker = Array("WARC/1.".utf8)
    /// The most header bytes one record (or one HTTP response) may have.
    static let maxHeaderBytes = 1 << 20
    /// HTTP headers are read from this much of a response body that is too large to buffer.
    static let httpHeadPeek = 1 << 16

    /// True when `head` (the first bytes after decompression) is the version line of a WARC record.
    static func isWARC(_ head: [UInt8]) -> Bool {
        guard head.count > 8, head.starts(with: version10) || head.starts(with: version11) else { return false }
        return head[8] == 0x0D || head[8] == 0x0A
    }

    static func read(_ source: ByteSource, path: String, maxBytes: Int, sink: ReaderSink) throws {
        let input = BufferedInput(source)
        var number = 0 // records started, 1-based in messages
        while true {
            // Extra blank lines between records are tolerated.
            let offset = input.position
            // A view into the input's buffer, used before the next read (no copy per record).
            guard let firstLine = try input.lineView(limit: maxHeaderBytes) else { return }
            guard case .line(let first) = firstLine else {
                number += 1
                sink.recordError("\(path): WARC record \(number) at byte \(offset): no version line (a line of more than \(maxHeaderBytes) bytes)")
                if try !input.seek(recordMarker) { return }
                continue
            }
            if first.isEmpty || first.allSatisfy({ $0 == 0x0D }) { continue }
            number += 1
            // Built only for a message: formatting it for every record cost about 1% of reading a WET file.
            func at() -> String { "\(path): WARC record \(number) at byte \(offset)" }
            let version = first.last == 0x0D ? UnsafeRawBufferPointer(rebasing: first.dropLast()) : first
            guard version.elementsEqual(version10) || version.elementsEqual(version11) else {
                let shown = String(decoding: first.prefix(40), as: UTF8.self).unicodeScalars
                    .map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
                sink.recordError("\(at()): expected a WARC/1.0 or WARC/1.1 version line, found \"\(shown)\"")
                if try !input.seek(recordMarker) { return }
                continue
            }
            let header: Header
            do {
                header = try Header.parse(input)
            } catch let e as HeaderFailure {
                sink.recordError("\(at()): \(e.reason)")
                if e.atEnd { return }
                if try !input.seek(recordMarker) { return }
                continue
            }
            guard let length = header.contentLength else {
                sink.recordError("\(at()): missing or invalid Content-Length")
                if try !input.seek(recordMarker) { return }
                continue
            }
            guard let type = header.type else {
                sink.recordError("\(at()): no WARC-Type header")
                if try !input.seek(recordMarker) { return }
                continue
            }

            // The body: buffered when a document may come of it, else skipped.
            var outcome: Outcome
            var got = 0
            switch type {
            case "conversion":
                if length <= maxBytes {
                    let body = try input.take(length)
                    got = body.count
                    outcome = .document(document(.text(body), header, ordinal: number - 1))
                } else {
                    let prefix = try input.take(min(length, droppedPrefixBytes))
                    got = prefix.count + (try input.skip(length - prefix.count))
                    var doc = document(.text(prefix), header, ordinal: number - 1)
                    doc.dropReason = "too_long"
                    doc.originalBytes = length
                    outcome = .document(doc)
                }
            case "response":
                if length <= maxBytes + httpHeadPeek {
                    let body = try input.take(length)
                    got = body.count
                    outcome = response(body, complete: got == length, header, ordinal: number - 1, maxBytes: maxBytes)
                } else {
                    let head = try input.take(httpHeadPeek)
                    got = head.count + (try input.skip(length - head.count))
                    outcome = response(head, complete: false, header, ordinal: number - 1, maxBytes: maxBytes)
                }
            default:
                got = try input.skip(length)
                outcome = .skipped(type)
            }
            if got < length {
                sink.recordError("\(at()): truncated record (the input ends after \(got) of its \(length) body bytes)")
                return
            }
            // The record must end where Content-Length says: an empty line, then the next record or the end.
            guard try input.endOfRecord() else {
                sink.recordError("\(at()): no record boundary after the \(length) body bytes of Content-Length")
                if try !input.seek(recordMarker) { return }
                continue
            }
            switch outcome {
            case .document(let doc):
                sink.record(type, nil)
                try sink.emit(doc)
            case .skipped(let reason):
                sink.record(type, reason)
            }
        }
    }

    enum Outcome {
        case document(RawDocument)
        case skipped(String)
    }

    static func document(_ body: RawDocument.Body, _ header: Header, ordinal: Int) -> RawDocument {
        var doc = RawDocument(ordinal: ordinal, body: body)
        doc.id = header.targetURI
        doc.metadata.reserveCapacity(5)
        func add(_ key: String, _ value: String?) {
            guard let value else { return }
            var json: [UInt8] = []
            JSONBytes.appendString(value, to: &json)
            doc.metadata.append((key, json))
        }
        add("url", header.targetURI)
        add("warc_date", header.date)
        add("warc_record_id", header.recordID)
        add("content_language", header.contentLanguage)
        add("identified_content_language", header.identifiedLanguage)
        return doc
    }

    /// An HTTP response record's body: status line, headers, payload. `complete` is false when `body` holds
    /// only the first bytes of a body too large to buffer (its document, if any, is `too_long`).
    static func response(_ body: [UInt8], complete: Bool, _ header: Header, ordinal: Int, maxBytes: Int) -> Outcome {
        guard let http = HTTPResponse.parse(body) else { return .skipped("not_http") }
        guard (200...299).contains(http.status) else { return .skipped("http_status") }
        guard let mediaType = http.mediaType, mediaType == "text/html" || mediaType == "application/xhtml+xml" else {
            return .skipped("not_html")
        }
        var warcHeader = header
        if warcHeader.contentLanguage == nil { warcHeader.contentLanguage = http.contentLanguage }
        var payload = Array(body[http.headerEnd...])
        if !complete {
            var doc = document(.text(Array(payload.prefix(droppedPrefixBytes))), warcHeader, ordinal: ordinal)
            doc.dropReason = "too_long"
            doc.originalBytes = header.contentLength.map { $0 - http.headerEnd }
            return .document(doc)
        }
        if http.chunked, let joined = HTTPResponse.dechunk(payload) { payload = joined }
        switch http.contentEncoding {
        case nil, "identity":
            break
        case "gzip", "x-gzip", "deflate":
            do {
                guard let decoded = try Gzip.inflateHTTPBody(payload, limit: maxBytes) else {
                    var doc = document(.text([]), warcHeader, ordinal: ordinal)
                    doc.dropReason = "too_long"
                    doc.originalBytes = nil
                    return .document(doc)
                }
                payload = decoded
            } catch {
                return .skipped("content_encoding")
            }
        default:
            return .skipped("content_encoding")
        }
        if payload.count > maxBytes {
            var doc = document(.text(Array(payload.prefix(droppedPrefixBytes))), warcHeader, ordinal: ordinal)
            doc.dropReason = "too_long"
            doc.originalBytes = payload.count
            return .document(doc)
        }
        var doc = document(.html(payload), warcHeader, ordinal: ordinal)
        doc.charset = http.charset
        return .document(doc)
    }

    struct HeaderFailure: Error {
        var reason: String
        var atEnd: Bool
    }

    /// The WARC header fields a document needs.
    struct Header {
        var type: String?
        var contentLength: Int?
        var targetURI: String?
        var date: String?
        var recordID: String?
        var contentLanguage: String?
        var identifiedLanguage: String?

        private enum Field { case type, length, uri, date, id, language, identifiedLanguage, other }

        private static let fields: [(name: [UInt8], field: Field)] = {
            let named: [(String, Field)] = [
                ("warc-type", .type), ("content-length", .length), ("warc-target-uri", .uri), ("warc-date", .date),
                ("warc-record-id", .id), ("content-language", .language),
                ("warc-identified-content-language", .identifiedLanguage),
            ]
            return named.map { (Array($0.0.utf8), $0.1) }
        }()

        /// Reads header lines up to the empty line that ends them. Works on views into the input's buffer:
        /// only the values of the fields above become strings.
        static func parse(_ input: BufferedInput) throws -> Header {
            var h = Header()
            var total = 0
            var last = Field.other
            var length: Int?
            while true {
                guard let view = try input.lineView(limit: max(0, maxHeaderBytes - total)) else {
                    throw HeaderFailure(reason: "the input ends inside the record's header", atEnd: true)
                }
                guard case .line(let line) = view else {
                    throw HeaderFailure(reason: "header block longer than \(maxHeaderBytes) bytes", atEnd: false)
                }
                total += line.count + 1
                let bytes = line.last == 0x0D ? UnsafeRawBufferPointer(rebasing: line.dropLast()) : line
                if bytes.isEmpty { break }
                // A line starting with a space or tab continues the previous field.
                if bytes[0] == 0x20 || bytes[0] == 0x09 {
                    if last == .length { length = nil } else if last != .other { h.append(last, trim(bytes, 0..<bytes.count), of: bytes, continued: true) }
                    continue
                }
                guard let hit = memchr(bytes.baseAddress!, 0x3A, bytes.count) else { // ':'
                    let line = String(decoding: bytes.prefix(60), as: UTF8.self)
                    throw HeaderFailure(reason: "header line without a colon: \"\(line)\"", atEnd: false)
                }
                let colon = UnsafeRawPointer(hit) - bytes.baseAddress!
                let name = trim(bytes, 0..<colon)
                last = .other
                for f in fields where f.name.count == name.count {
                    var same = true
                    for (i, c) in zip(name, f.name) where (bytes[i] >= 0x41 && bytes[i] <= 0x5A ? bytes[i] | 0x20 : bytes[i]) != c {
                        same = false; break
                    }
                    if same { last = f.field; break }
                }
                let value = trim(bytes, (colon + 1)..<bytes.count)
                if last == .length {
                    length = nil
                    if !value.isEmpty && value.count <= 18 && value.allSatisfy({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }) {
                        length = value.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) }
                    }
                } else if last != .other {
                    h.append(last, value, of: bytes, continued: false)
                }
            }
            h.contentLength = length
            return h
        }

        private mutating func append(_ field: Field, _ range: Range<Int>, of bytes: UnsafeRawBufferPointer, continued: Bool) {
            func joined(_ old: String?) -> String {
                let v = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
                guard let old, continued else { return v }
                return old + " " + v
            }
            switch field {
            case .type: type = joined(type)
            case .uri:
                var uri = joined(targetURI)
                // WARC 1.0's grammar shows the URI in angle brackets, and some writers followed it.
                if uri.hasPrefix("<") && uri.hasSuffix(">") && uri.count >= 2 { uri = String(uri.dropFirst().dropLast()) }
                targetURI = uri
            case .date: date = joined(date)
            case .id: recordID = joined(recordID)
            case .language: contentLanguage = joined(contentLanguage)
            case .identifiedLanguage: identifiedLanguage = joined(identifiedLanguage)
            case .length, .other: break
            }
        }
    }

    /// `range` of `b` without the spaces and tabs (and a CR) at either end.
    static func trim(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var s = range.lowerBound, e = range.upperBound
        while s < e, b[s] == 0x20 || b[s] == 0x09 { s += 1 }
        while e > s, b[e - 1] == 0x20 || b[e - 1] == 0x09 || b[e - 1] == 0x0D { e -= 1 }
        return s..<e
    }

    static func trim(_ b: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = b.startIndex, e = b.endIndex
        while s < e, b[s] == 0x20 || b[s] == 0x09 { s += 1 }
        while e > s, b[e - 1] == 0x20 || b[e - 1] == 0x09 || b[e - 1] == 0x0D { e -= 1 }
        return b[s..<e]
    }
}

/// The parts of an HTTP response that decide whether and how its payload becomes a document.
struct HTTPResponse {
    var status: Int
    var mediaType: String?
    var charset: String?
    var chunked = false
    var contentEncoding: String?
    var contentLanguage: String?
    /// Offset of the payload in the record body.
    var headerEnd: Int

    /// Parses the status line and headers; nil when `body` does not start with an HTTP response head.
    static func parse(_ body: [UInt8]) -> HTTPResponse? {
        guard body.starts(with: Array("HTTP/".utf8)) else { return nil }
        var i = 0
        var lines: [ArraySlice<UInt8>] = []
        // Header lines up to the empty line (CRLF or bare LF).
        while true {
            guard let nl = body[i...].firstIndex(of: 0x0A) else { return nil }
            var line = body[i..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            i = nl + 1
            if line.isEmpty { break }
            lines.append(line)
            if i > WARCReader.maxHeaderBytes { return nil }
        }
        // Status line: HTTP/x.y SP code [SP reason].
        let parts = lines[0].split(separator: 0x20, maxSplits: 2)
        guard parts.count >= 2, parts[1].count == 3, parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var r = HTTPResponse(status: parts[1].reduce(0) { $0 * 10 + Int($1 - 0x30) }, headerEnd: i)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: WARCReader.trim(line[..<colon]), as: UTF8.self).lowercased()
            let value = String(decoding: WARCReader.trim(line[(colon + 1)...]), as: UTF8.self)
            switch name {
            case "content-type":
                let params = value.split(separator: ";")
                r.mediaType = params.first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                for p in params.dropFirst() {
                    let kv = p.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "charset" {
                        r.charset = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
                    }
                }
            case "transfer-encoding":
                r.chunked = value.lowercased().contains("chunked")
            case "content-encoding":
                r.contentEncoding = value.lowercased()
            case "content-language":
                r.contentLanguage = value
            default:
                break
            }
        }
        return r
    }

    /// Joins the chunks of a `Transfer-Encoding: chunked` payload; nil when it is not well-formed chunked
    /// data (crawlers often store the payload already joined while keeping the header).
    static func dechunk(_ payload: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count)
        var i = 0
        while true {
            guard let nl = payload[i...].firstIndex(of: 0x0A) else {
                // A payload cut inside the chunk-size line: keep what was joined.
                return out.isEmpty ? nil : out
            }
            var size = 0, digits = 0
            var j = i
            while j < nl, let d = hexValue(payload[j]) {
                size = size * 16 + d; digits += 1; j += 1
                if digits > 12 { return nil }
            }
            // Only chunk extensions (";...") or whitespace may follow the size.
            guard digits > 0, j == nl || payload[j] == UInt8(ascii: ";") || payload[j] == 0x0D || payload[j] == 0x20 else { return nil }
            i = nl + 1
            if size == 0 { return out } // trailers, if any, are ignored
            let end = min(i + size, payload.count)
            out += payload[i..<end]
            if end < i + size { return out } // truncated download: keep what arrived
            i = end
            if i < payload.count && payload[i] == 0x0D { i += 1 }
            if i < payload.count && payload[i] == 0x0A { i += 1 }
            if i >= payload.count { return out }
        }
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        case 0x61...0x66: return Int(c - 0x61 + 10)
        default: return nil
        }
    }
}

/// A buffered reader over a `ByteSource` for record formats: lines of bounded length, exact-length bodies
/// (copied once, straight into the returned array for large ones), skips that never buffer, and the
/// position in the stream for error messages.
final class BufferedInput {
    private let source: ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    private var eof = false
    /// Stream offset of `buffer[0]`.
    private var base = 0

    init(_ source: ByteSource, capacity: Int = 1 << 20) {
        self.source = source
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }
    deinit { buffer.deallocate() }

    /// Bytes consumed so far: the offset of the next byte in the (decompressed) stream.
    var position: Int { base + start }

    /// Index of the first LF in `buffer[from..<to]`.
    private func lineFeed(_ from: Int, _ to: Int) -> Int? {
        guard to > from, let p = memchr(buffer.baseAddress! + from, 0x0A, to - from) else { return nil }
        return UnsafeRawPointer(p) - UnsafeRawPointer(buffer.baseAddress!)
    }

    /// Moves unread bytes to the front and reads more; false at the end of the stream.
    private func fill() throws -> Bool {
        if eof { return false }
        if start > 0 {
            let n = end - start
            if n > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n) }
            base += start; start = 0; end = n
        }
        if end == buffer.count { return true }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 { eof = true; return false }
        end += n
        return true
    }

    enum LineView {
        case line(UnsafeRawBufferPointer)
        /// A line longer than the limit; it has been skipped.
        case tooLong
    }

    /// The next line without its LF (a CR before it is kept), or nil at the end of the stream: a view into
    /// the buffer that stays valid until the next call on this input.
    func lineView(limit: Int) throws -> LineView? {
        var scanned = 0
        while true {
            if let nl = lineFeed(start + scanned, end) {
                if nl - start > limit { start = nl + 1; return .tooLong }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<nl])
                start = nl + 1
                return .line(line)
            }
            scanned = end - start
            // A full buffer without a line break is over any limit too.
            if scanned > limit || scanned == buffer.count {
                // Skip the rest of the over-long line.
                start = end
                while try fill() {
                    if let nl = lineFeed(start, end) {
                        start = nl + 1
                        return .tooLong
                    }
                    start = end
                }
                return .tooLong
            }
            if try !fill() {
                if start == end { return nil }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                start = end
                return .line(line)
            }
        }
    }

    /// The next `count` bytes (fewer only at the end of the stream).
    func take(_ count: Int) throws -> [UInt8] {
        if count == 0 { return [] }
        return try [UInt8](unsafeUninitializedCapacity: count) { out, filled in
            let first = min(count, end - start)
            if first > 0 {
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + first)]))
                start += first
            }
            filled = first
            // The rest straight from the source into the array, unless it is small.
            while filled < count {
                if count - filled < buffer.count / 4 {
                    if try !fill() { break }
                    let n = min(count - filled, end - start)
                    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[filled...])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + n)]))
                    start += n; filled += n
                } else {
                    let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[filled..<count]))
                    if n == 0 { eof = true; break }
                    filled += n
                    base += n
                }
            }
        }
    }

    /// Skips `count` bytes; returns how many there were (fewer only at the end of the stream).
    func skip(_ count: Int) throws -> Int {
        var skipped = 0
        while skipped < count {
            if start == end, try !fill() { break }
            let n = min(count - skipped, end - start)
            start += n; skipped += n
        }
        return skipped
    }

    /// After a record's body: consumes the empty line that ends it (CR LF CR LF) and answers true, or, when
    /// that is not there, consumes any line breaks and answers whether the next record (or the end of the
    /// stream) follows.
    func endOfRecord() throws -> Bool {
        while end - start < 4, try fill() {}
        if UnsafeRawBufferPointer(rebasing: buffer[start..<end]).starts(with: [0x0D, 0x0A, 0x0D, 0x0A]) {
            start += 4
            return true
        }
        while true {
            while start < end, buffer[start] == 0x0D || buffer[start] == 0x0A { start += 1 }
            if start < end { break }
            if try !fill() { break }
        }
        if start == end { return true }
        while end - start < WARCReader.recordMarker.count, try fill() {}
        return UnsafeRawBufferPointer(rebasing: buffer[start..<end]).starts(with: WARCReader.recordMarker)
    }

    /// Advances to the next line that starts with `marker` (the current position counts as a line start);
    /// false when the stream ends first.
    func seek(_ marker: [UInt8]) throws -> Bool {
        var atLineStart = true
        while true {
            while end - start < marker.count, try fill() {}
            if end - start < marker.count { start = end; return false }
            let avail = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if atLineStart && avail.starts(with: marker) { return true }
            if let nl = lineFeed(start, end) {
                start = nl + 1
                atLineStart = true
            } else {
                start = end
                atLineStart = false
            }
        }
    }
}
