@preconcurrency import CLibXML2
import Foundation
import RepriseCore

/// Main text of an HTML page through libxml2's HTML parser (lenient, like a browser): the content of
/// script, style, nav, header, footer, aside, noscript, template, form and head elements is left out, and
/// so is that of any element marked as such by its ARIA role (navigation, banner, contentinfo,
/// complementary, search) or by a class or id word among footer, sidebar, navbar, navigation, breadcrumb(s),
/// menu (documentation generators mark their navigation bars this way);
/// block elements become line breaks; table cells are separated by spaces; `<pre>` keeps its line breaks.
/// The page title is returned separately.
///
/// Elements nested deeper than `LibXML.maxDepth` (1,024) levels end the parse: the text before them is
/// kept and the page is marked `depthTruncated` (the ingest manifest counts such pages).
public enum HTMLExtractor {
    public struct Page: Sendable {
        public var text: [UInt8]
        public var title: String?
        /// The parse stopped at an element nested deeper than `LibXML.maxDepth`; what followed is missing.
        public var depthTruncated = false
    }

    static let skipped: Set<[UInt8]> = Set(["script", "style", "nav", "header", "footer", "aside", "noscript",
                                             "template", "form", "head", "svg", "iframe", "object", "button",
                                             "select", "textarea"].map { Array($0.utf8) })
    static let blocks: Set<[UInt8]> = Set(["p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3",
                                            "h4", "h5", "h6", "tr", "table", "section", "article", "main", "pre",
                                            "blockquote", "hr", "figure", "figcaption", "address", "caption",
                                            "tbody", "thead", "tfoot", "body", "center", "details", "summary",
                                            "fieldset", "legend"].map { Array($0.utf8) })
    static let pre = Array("pre".utf8)
    static let cells: Set<[UInt8]> = Set(["td", "th"].map { Array($0.utf8) })

    /// Parses HTML bytes. The encoding comes from a byte order mark, else from `charset` (the transport's
    /// declaration, an HTTP header) when libxml2 knows it, else from the page's own declaration, else UTF-8.
    public static func extract(_ html: [UInt8], name: String, charset: String? = nil) throws -> Page {
        _ = LibXML.setup
        let encoding: String?
        if let charset, !startsWithBOM(html), let known = LibXML.encoding(charset) {
            encoding = known // libxml2 then ignores the page's <meta> declaration
        } else {
            encoding = declaresCharset(html) ? nil : "UTF-8"
        }
        let options = Int32(HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
                            | HTML_PARSE_NONET.rawValue | HTML_PARSE_NOIMPLIED.rawValue | HTML_PARSE_COMPACT.rawValue)
        guard let ctxt = htmlNewParserCtxt() else { throw RepriseError("\(name): out of memory for the HTML parser") }
        defer { htmlFreeParserCtxt(ctxt) }
        let doc = html.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { chars in
                htmlCtxtReadMemory(ctxt, chars.baseAddress, Int32(chars.count), name, encoding, options)
            }
        }
        guard let doc else { throw RepriseError("\(name): not parseable as HTML") }
        defer { xmlFreeDoc(doc) }
        // The depth limit halts the parser with this code, the last error it records.
        let truncated = ctxt.pointee.errNo == Int32(XML_ERR_INTERNAL_ERROR.rawValue)
        var walker = Walker()
        walker.walk(doc.pointee.children)
        // <title> lives in <head>, which the text walk skips.
        let title = findTitle(doc.pointee.children).flatMap { node -> String? in
            guard let content = xmlNodeGetContent(node) else { return nil }
            defer { xmlFree(content) }
            let t = LibXML.string(content)?.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            return (t?.isEmpty ?? true) ? nil : t
        }
        return Page(text: walker.out, title: title, depthTruncated: truncated)
    }

    static let boilerplateRoles: Set<String> = ["navigation", "banner", "contentinfo", "complementary", "search"]
    static let boilerplateWords: Set<String> = ["footer", "sidebar", "navbar", "navigation", "breadcrumb",
                                                "breadcrumbs", "menu"]

    /// True for an element whose role, class or id marks it as page furniture rather than content.
    static func isBoilerplate(_ node: xmlNodePtr) -> Bool {
        var attr = node.pointee.properties
        while let a = attr {
            defer { attr = a.pointee.next }
            let name = LibXML.name(a.pointee.name)
            let isRole = name == Array("role".utf8)
            guard isRole || name == Array("class".utf8) || name == Array("id".utf8),
                  let text = a.pointee.children, let content = text.pointee.content,
                  let value = LibXML.string(content)?.lowercased() else { continue }
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            if isRole ? words.contains(where: { boilerplateRoles.contains(String($0)) })
                      : words.contains(where: { boilerplateWords.contains(String($0)) }) { return true }
        }
        return false
    }

    private static func startsWithBOM(_ html: [UInt8]) -> Bool {
        html.starts(with: [0xEF, 0xBB, 0xBF]) || html.starts(with: [0xFF, 0xFE]) || html.starts(with: [0xFE, 0xFF])
    }

    private static func declaresCharset(_ html: [UInt8]) -> Bool {
        let head = String(decoding: html.prefix(2048), as: UTF8.self).lowercased()
        return head.contains("charset=") || head.contains("encoding=")
    }

    private static func findTitle(_ node: xmlNodePtr?, depth: Int = 0) -> xmlNodePtr? {
        if depth > 6 { return nil }
        var n = node
        while let cur = n {
            if cur.pointee.type == XML_ELEMENT_NODE {
                if LibXML.name(cur.pointee.name) == Array("title".utf8) { return cur }
                // The title is near the top; do not search the body.
                if LibXML.name(cur.pointee.name) != Array("body".utf8), let found = findTitle(cur.pointee.children, depth: depth + 1) {
                    return found
                }
            }
            n = cur.pointee.next
        }
        return nil
    }

    /// Depth-first walk that writes text with collapsed whitespace and line breaks at block boundaries.
    struct Walker {
        var out: [UInt8] = []
        var pendingSpace = false
        var pendingBreak = false

        mutating func breakLine() { if !out.isEmpty { pendingBreak = true } }

        mutating func text(_ p: UnsafePointer<xmlChar>, pre: Bool) {
            var i = 0
            while p[i] != 0 {
                let c = p[i]
                if c == 0x0A && pre { pendingBreak = !out.isEmpty; i += 1; continue }
                if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C {
                    if !out.isEmpty { pendingSpace = true }
                    i += 1; continue
                }
                if pendingBreak { out.append(0x0A); pendingBreak = false; pendingSpace = false }
                else if pendingSpace { out.append(0x20); pendingSpace = false }
                out.append(c)
                i += 1
            }
        }

        /// Iterative (the page's nesting depth must not be able to exhaust a worker thread's stack).
        mutating func walk(_ first: xmlNodePtr?) {
            var node = first
            var preDepth = 0
            while let n = node {
                var descend = false
                switch n.pointee.type {
                case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                    if let content = n.pointee.content { text(content, pre: preDepth > 0) }
                case XML_ELEMENT_NODE:
                    let name = LibXML.name(n.pointee.name)
                    if HTMLExtractor.skipped.contains(name) || HTMLExtractor.isBoilerplate(n) { break }
                    if HTMLExtractor.blocks.contains(name) { breakLine() }
                    else if HTMLExtractor.cells.contains(name), !out.isEmpty { pendingSpace = true }
                    if n.pointee.children != nil {
                        descend = true
                        if name == HTMLExtractor.pre { preDepth += 1 }
                    } else if HTMLExtractor.blocks.contains(name) { breakLine() }
                default:
                    break
                }
                if descend { node = n.pointee.children; continue }
                // Next sibling, or climb to the first ancestor that has one, closing elements on the way.
                var cur = n
                node = nil
                while true {
                    if let next = cur.pointee.next { node = next; break }
                    guard let parent = cur.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE else { break }
                    let name = LibXML.name(parent.pointee.name)
                    if HTMLExtractor.blocks.contains(name) { breakLine() }
                    if name == HTMLExtractor.pre { preDepth -= 1 }
                    cur = parent
                }
            }
        }
    }
}
