@preconcurrency import CLibXML2
import Foundation
import RepriseCore

/// The one place that talks to libxml2: global setup, and safe options for untrusted input.
enum LibXML {
    /// Initialises libxml2 once (required before parsing on several threads) and installs an external
    /// entity loader that refuses everything: no file or network access, whatever a document declares.
    static let setup: Void = {
        xmlInitParser()
        xmlSetExternalEntityLoader { _, _, _ in nil }
        // Errors are collected per parse through the reader's handler, not printed.
        xmlSetStructuredErrorFunc(nil) { _, _ in }
    }()

    static func string(_ p: UnsafePointer<xmlChar>?) -> String? {
        p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    static func name(_ p: UnsafePointer<xmlChar>?) -> [UInt8] {
        guard let p else { return [] }
        let n = strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
        return Array(UnsafeBufferPointer(start: p, count: Int(n)))
    }
}
