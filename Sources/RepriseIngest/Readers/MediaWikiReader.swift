@preconcurrency import CLibXML2
import Foundation
import RepriseCore

/// MediaWiki XML exports through libxml2's streaming reader, so a dump of any size is read in bounded
/// memory. Pages of the configured namespaces become documents (their wikitext, converted later); pages
/// of other namespaces and redirects are dropped with a reason.
///
/// Safety: a document type declaration is refused outright (real exports have none), which rules out
/// entity-expansion bombs and external entities before any entity is referenced; the parser also runs
/// without network access, without loading DTDs and without entity substitution, and the process-wide
/// external entity loader refuses everything.
enum MediaWikiReader {
    final class Context {
        let source: ByteSource
        var sourceError: Error?
        var parseError: String?
        init(_ source: ByteSource) { self.source = source }
    }

    static func read(_ source: ByteSource, path: String, namespaces: Set<Int>, maxBytes: Int, sink: ReaderSink) throws {
        _ = LibXML.setup
        let ctx = Context(source)
        let unmanaged = Unmanaged.passRetained(ctx)
        defer { unmanaged.release() }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
                            | XML_PARSE_COMPACT.rawValue)
        guard let reader = xmlReaderForIO({ ctxPtr, buffer, len in
            let ctx = Unmanaged<Context>.fromOpaque(ctxPtr!).takeUnretainedValue()
            do {
                return Int32(try ctx.source.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(len))))
            } catch {
                ctx.sourceError = error
                return -1
            }
        }, nil, unmanaged.toOpaque(), path, nil, options) else {
            throw RepriseError("\(path): cannot create an XML reader")
        }
        defer { xmlFreeTextReader(reader) }
        xmlTextReaderSetStructuredErrorHandler(reader, { ctxPtr, error in
            guard let ctxPtr, let error else { return }
            let ctx = Unmanaged<Context>.fromOpaque(ctxPtr).takeUnretainedValue()
            if ctx.parseError == nil {
                let e = error.pointee
                let msg = (e.message.map { String(cString: $0) } ?? "XML error")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                ctx.parseError = "line \(e.line)\(e.int2 > 0 ? ":\(e.int2)" : ""): \(msg)"
            }
        }, unmanaged.toOpaque())

        var state = PageState(maxBytes: maxBytes)
        var ordinal = 0
        var sawRoot = false
        while true {
            let r = xmlTextReaderRead(reader)
            if r == 0 { break }
            if r < 0 {
                if let e = ctx.sourceError { throw e }
                throw RepriseError("\(path): malformed XML at \(ctx.parseError ?? "an unknown position")")
            }
            let type = xmlTextReaderNodeType(reader)
            let depth = Int(xmlTextReaderDepth(reader))
            switch type {
            case Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue):
                throw RepriseError("\(path): a document type declaration is not allowed in a MediaWiki export (refused for safety)")
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                let name = LibXML.name(xmlTextReaderConstLocalName(reader))
                if !sawRoot {
                    sawRoot = true
                    if name != Array("mediawiki".utf8) {
                        throw RepriseError("\(path): not a MediaWiki export (root element <\(String(decoding: name, as: UTF8.self))>)")
                    }
                }
                state.startElement(name, depth: depth, reader: reader)
                if xmlTextReaderIsEmptyElement(reader) == 1 {
                    if let doc = state.endElement(name, depth: depth, ordinal: ordinal, namespaces: namespaces) {
                        try sink.emit(doc); ordinal += 1
                    }
                }
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                let name = LibXML.name(xmlTextReaderConstLocalName(reader))
                if let doc = state.endElement(name, depth: depth, ordinal: ordinal, namespaces: namespaces) {
                    try sink.emit(doc); ordinal += 1
                }
            case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue),
                 Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue), Int32(XML_READER_TYPE_WHITESPACE.rawValue):
                if let value = xmlTextReaderConstValue(reader) { state.characters(value) }
            default:
                break
            }
        }
        if let e = ctx.sourceError { throw e }
        if let e = ctx.parseError { throw RepriseError("\(path): malformed XML at \(e)") }
        if state.inPage { throw RepriseError("\(path): the export ends inside a <page>") }
    }

    /// What is known of the current page while its elements stream by.
    struct PageState {
        let maxBytes: Int
        var inPage = false
        var pageDepth = 0
        var field: [UInt8]? = nil     // the element whose text is being collected
        var title: [UInt8] = []
        var ns: [UInt8] = []
        var text: [UInt8] = []
        var textBytes = 0
        var redirect: String?
        var inRevision = false

        init(maxBytes: Int) { self.maxBytes = maxBytes }

        static let page = Array("page".utf8), titleTag = Array("title".utf8), nsTag = Array("ns".utf8)
        static let textTag = Array("text".utf8), revision = Array("revision".utf8), redirectTag = Array("redirect".utf8)

        mutating func startElement(_ name: [UInt8], depth: Int, reader: xmlTextReaderPtr) {
            if name == Self.page {
                self = PageState(maxBytes: maxBytes)
                inPage = true; pageDepth = depth
                return
            }
            guard inPage else { return }
            if depth == pageDepth + 1 {
                if name == Self.titleTag || name == Self.nsTag { field = name }
                else if name == Self.revision { inRevision = true }
                else if name == Self.redirectTag {
                    let t = xmlTextReaderGetAttribute(reader, "title")
                    redirect = LibXML.string(t) ?? ""
                    if let t { xmlFree(t) }
                }
            } else if inRevision && depth == pageDepth + 2 && name == Self.textTag {
                // A page may hold several revisions, oldest first: the last one is the current text.
                text.removeAll(keepingCapacity: true)
                textBytes = 0
                field = name
            }
        }

        mutating func characters(_ value: UnsafePointer<xmlChar>) {
            guard let f = field else { return }
            let n = strlen(UnsafeRawPointer(value).assumingMemoryBound(to: CChar.self))
            let buf = UnsafeBufferPointer(start: value, count: Int(n))
            if f == Self.textTag {
                textBytes += buf.count
                // Past the limit only the byte count grows: the page is dropped as too_long.
                if text.count < maxBytes { text.append(contentsOf: buf.prefix(maxBytes + 1 - text.count)) }
            } else if f == Self.titleTag {
                title.append(contentsOf: buf.prefix(4096))
            } else {
                ns.append(contentsOf: buf.prefix(32))
            }
        }

        mutating func endElement(_ name: [UInt8], depth: Int, ordinal: Int, namespaces: Set<Int>) -> RawDocument? {
            guard inPage else { return nil }
            if let f = field, f == name { field = nil }
            if name == Self.revision && depth == pageDepth + 1 { inRevision = false }
            guard name == Self.page && depth == pageDepth else { return nil }
            inPage = false
            let titleString = String(decoding: title, as: UTF8.self)
            let nsValue = Int(String(decoding: ns, as: UTF8.self).trimmingCharacters(in: .whitespaces)) ?? 0
            var doc: RawDocument
            if textBytes > maxBytes {
                doc = RawDocument(ordinal: ordinal, body: .text(Array(text.prefix(droppedPrefixBytes))), title: titleString)
                doc.dropReason = "too_long"
                doc.originalBytes = textBytes
            } else {
                let wikitext = String(decoding: text, as: UTF8.self)
                doc = RawDocument(ordinal: ordinal, body: .wikitext(wikitext), title: titleString)
                if !namespaces.contains(nsValue) { doc.dropReason = "wiki_namespace" }
                else if redirect != nil || Wikitext.redirectTarget(wikitext) != nil { doc.dropReason = "wiki_redirect" }
            }
            doc.metadata.append(("ns", Array(String(nsValue).utf8)))
            if let r = redirect {
                var json: [UInt8] = []
                JSONBytes.appendString(r, to: &json)
                doc.metadata.append(("redirect", json))
            }
            return doc
        }
    }
}
