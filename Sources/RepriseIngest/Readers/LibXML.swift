@preconcurrency import CLibXML2
import Foundation
import RepriseCore

/// The one place that talks to libxml2: global setup, and safe options for untrusted input.
enum LibXML {
    /// Deepest element nesting a parse accepts; deeper, libxml2 stops the parse (keeping what came before)
    /// and reports `XML_ERR_INTERNAL_ERROR`. libxml2's own default is 256, which real pages exceed (unclosed
    /// inline tags nest). The bound stays because the HTML parser matches each end tag against the open
    /// elements one by one: unlimited depth (`XML_PARSE_HUGE`) made 100,000 unmatched end tags under
    /// 100,000 open elements take 68 s; at 1,024 levels the worst 2 MB page takes 1 s (0.3 s at 256).
    static let maxDepth: UInt32 = 1024

    /// Initialises libxml2 once (required before parsing on several threads) and installs an external
    /// entity loader that refuses everything: no file or network access, whatever a document declares.
    static let setup: Void = {
        xmlInitParser()
        // A process-wide setting, read by every parse; set here, before any parse starts.
        xmlParserMaxDepth = maxDepth
        xmlSetExternalEntityLoader { _, _, _ in nil }
        // Errors are collected per parse through the reader's handler, not printed.
        xmlSetStructuredErrorFunc(nil) { _, _ in }
    }()

    /// The encoding name to hand libxml2 for a declared charset label, or nil when libxml2 (with iconv)
    /// has no converter for it. Labels that browsers read as windows-1252 (WHATWG Encoding Standard:
    /// iso-8859-1, latin1, us-ascii, ...) become windows-1252, so bytes 0x80-0x9F decode as they do there.
    static func encoding(_ label: String) -> String? {
        var name = label.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'")).lowercased()
        if name.isEmpty || name.count > 40 { return nil }
        if windows1252Labels.contains(name) { name = "windows-1252" }
        guard let handler = xmlFindCharEncodingHandler(name) else { return nil }
        xmlCharEncCloseFunc(handler)
        return name
    }

    private static let windows1252Labels: Set<String> = [
        "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100",
        "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "x-cp1252",
    ]

    static func string(_ p: UnsafePointer<xmlChar>?) -> String? {
        p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    static func name(_ p: UnsafePointer<xmlChar>?) -> [UInt8] {
        guard let p else { return [] }
        let n = strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
        return Array(UnsafeBufferPointer(start: p, count: Int(n)))
    }
}
