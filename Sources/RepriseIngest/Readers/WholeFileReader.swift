import Foundation
import RepriseCore

/// Plain text and HTML: one document per file. A file above `maxBytes` is dropped as `too_long` after
/// reading only `maxBytes + 1` bytes of it.
enum WholeFileReader {
    static func read(_ source: ByteSource, html: Bool, maxBytes: Int, sink: ReaderSink) throws {
        if let bytes = try source.readAll(limit: maxBytes) {
            if bytes.isEmpty { return } // an empty file holds no document
            try sink.emit(RawDocument(ordinal: 0, body: html ? .html(bytes) : .text(bytes)))
        } else {
            var doc = RawDocument(ordinal: 0, body: .text(try prefix(source)))
            doc.dropReason = "too_long"
            doc.originalBytes = maxBytes + 1
            try sink.emit(doc)
        }
    }

    static func prefix(_ source: ByteSource) throws -> [UInt8] {
        // The source was read past the limit; what follows is only a sample of the document.
        var buf = [UInt8](repeating: 0, count: droppedPrefixBytes)
        let n = try buf.withUnsafeMutableBytes { try source.read(into: $0) }
        return Array(buf[0..<n])
    }
}

/// Splits a byte stream into lines without ever holding more than `maxLine` bytes of one line: a longer
/// line is reported with its first bytes and its length, and skipped.
struct LineSplitter {
    let source: ByteSource
    let maxLine: Int
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0, end = 0
    private var eof = false

    init(_ source: ByteSource, maxLine: Int) {
        self.source = source
        self.maxLine = maxLine
    }

    enum Line {
        case line(ArraySlice<UInt8>)
        case tooLong(prefix: [UInt8])
    }

    /// The next line without its terminator (LF or CR LF), or nil at the end.
    mutating func next() throws -> Line? {
        var scanFrom = start
        while true {
            if let nl = buffer[scanFrom..<end].firstIndex(of: 0x0A) {
                var stop = nl
                if stop > start && buffer[stop - 1] == 0x0D { stop -= 1 }
                let line = buffer[start..<stop]
                start = nl + 1
                return .line(line)
            }
            if eof {
                if start == end { return nil }
                let line = buffer[start..<end]
                start = end
                return .line(line)
            }
            if end - start > maxLine { return .tooLong(prefix: try skipLongLine()) }
            // Make room: move the partial line to the front, grow if needed.
            if start > 0 {
                buffer.withUnsafeMutableBytes { b in
                    b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: end - start)
                }
                end -= start; start = 0
            }
            if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            scanFrom = end
            let n = try buffer.withUnsafeMutableBytes { b in
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: b[end...]))
            }
            if n == 0 { eof = true } else { end += n }
        }
    }

    /// Discards the rest of an over-long line; returns its first bytes.
    private mutating func skipLongLine() throws -> [UInt8] {
        let prefix = Array(buffer[start..<min(end, start + droppedPrefixBytes)])
        start = 0; end = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { eof = true; return prefix }
            if let nl = buffer[0..<n].firstIndex(of: 0x0A) {
                start = nl + 1; end = n
                return prefix
            }
        }
    }
}
