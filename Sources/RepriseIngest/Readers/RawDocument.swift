import Foundation
import RepriseCore

/// A document as a reader found it, before cleaning. Extraction of HTML and wikitext happens later, on the
/// worker threads, so the (sequential) readers stay cheap.
public struct RawDocument: Sendable {
    public enum Body: Sendable {
        case text([UInt8])
        case html([UInt8])
        case wikitext(String)
    }
    /// Position of the document within its file (0-based); with the file's name it forms the document id
    /// when the record has no id of its own.
    public var ordinal: Int
    /// The record's own id (a JSONL id field, a WARC record's target URI, ...), used as the document id.
    public var id: String?
    public var body: Body
    public var title: String?
    /// Other fields of a JSONL record, as raw JSON values, in input order.
    public var metadata: [(key: String, json: [UInt8])] = []
    /// Set when the reader already knows the document is dropped (`too_long`, `wiki_redirect`, ...).
    public var dropReason: String?
    /// Original size in bytes when the body holds only a prefix (for dropped, unbuffered documents).
    public var originalBytes: Int?
    /// The character encoding of an HTML body as its transport declared it (an HTTP `Content-Type`
    /// charset); it takes precedence over the page's own `<meta>` declaration.
    public var charset: String?

    public init(ordinal: Int, body: Body, title: String? = nil) {
        self.ordinal = ordinal
        self.body = body
        self.title = title
    }
}

/// Where readers deliver documents and the errors of single records (a bad JSONL line) that do not stop
/// the file; readers of container formats (WARC) also report every record they read, by type, and the
/// reason when it yields no document.
public struct ReaderSink {
    public var emit: (RawDocument) throws -> Void
    public var recordError: (String) -> Void
    public var record: (_ type: String, _ skipped: String?) -> Void
    public init(emit: @escaping (RawDocument) throws -> Void, recordError: @escaping (String) -> Void,
                record: @escaping (_ type: String, _ skipped: String?) -> Void = { _, _ in }) {
        self.emit = emit
        self.recordError = recordError
        self.record = record
    }
}

/// How much of a dropped, unbuffered document is kept in the exclusions file.
let droppedPrefixBytes = 1024
