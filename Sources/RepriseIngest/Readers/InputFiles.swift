import Foundation
import RepriseCore

/// The kinds of documents a file can hold.
/// `warc` covers WARC and WET files alike: the type of each record decides what it yields.
public enum InputKind: String, Codable, Sendable { case text, jsonl, html, mediawiki, warc }
public enum Compression: String, Codable, Sendable { case none, zstd, gzip, bzip2, xz }

public enum InputFiles {
    /// Expands files, directories (recursively, sorted, hidden entries skipped) and glob patterns into a
    /// sorted list of file paths. Inputs that match nothing are returned in `missing`.
    public static func expand(_ inputs: [String]) -> (files: [String], missing: [String]) {
        var files: [String] = []
        var missing: [String] = []
        let fm = FileManager.default
        for input in inputs {
            if fm.isDirectory(input) {
                files += walk(input)
            } else if fm.fileExists(atPath: input) {
                files.append(input)
            } else if input.contains(where: { "*?[".contains($0) }) {
                let matches = glob(input)
                if matches.isEmpty { missing.append(input) }
                for m in matches { if fm.isDirectory(m) { files += walk(m) } else { files.append(m) } }
            } else {
                missing.append(input)
            }
        }
        // Stable, duplicate-free, in input order (each input's own files sorted).
        var seen = Set<String>()
        files = files.filter { seen.insert($0).inserted }
        return (files, missing)
    }

    private static func walk(_ dir: String) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else { return out }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            if fm.isDirectory(path) { out += walk(path) } else { out.append(path) }
        }
        return out
    }

    private static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    /// Opens a file, undoes its compression (chosen by magic bytes) and decides its kind from its first
    /// bytes, then its extension.
    public static func open(_ file: ByteSource, path: String) throws -> (source: ByteSource, kind: InputKind, compression: Compression) {
        let raw = try PeekableSource(file, peek: 6)
        var source: ByteSource = raw
        var compression = Compression.none
        if raw.head.starts(with: Zstd.magic) {
            source = ZstdDecoder(raw, name: path); compression = .zstd
        } else if raw.head.starts(with: Gzip.magic) {
            source = try GzipDecoder(raw, name: path); compression = .gzip
        } else if Bzip2.matches(raw.head) {
            source = try Bzip2Decoder(raw, name: path); compression = .bzip2
        } else if raw.head.starts(with: Xz.magic) {
            source = try XzDecoder(raw, name: path); compression = .xz
        }
        let peek = try PeekableSource(source, peek: 4096)
        let kind = try sniff(peek.head, path: path)
        return (peek, kind, compression)
    }

    /// The extension that names the content, with compression suffixes removed.
    static func contentExtension(_ path: String) -> String {
        var name = (path as NSString).lastPathComponent.lowercased()
        for suffix in [".zst", ".zstd", ".gz", ".gzip", ".bz2", ".xz"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
        }
        return (name as NSString).pathExtension
    }

    static func sniff(_ head: [UInt8], path: String) throws -> InputKind {
        // Before the binary check: a WARC file may well hold images and other binary payloads.
        if WARCReader.isWARC(head) { return .warc }
        if let offset = binaryOffset(head) {
            throw RepriseError("\(path): binary content (byte \(offset) is not text); not a document file")
        }
        let lower = String(decoding: head.prefix(1024), as: UTF8.self).lowercased()
        let trimmed = lower.drop(while: { $0 == "\u{FEFF}" || $0.isWhitespace })
        let ext = contentExtension(path)
        if trimmed.hasPrefix("<mediawiki") || (trimmed.hasPrefix("<?xml") && lower.contains("<mediawiki")) {
            return .mediawiki
        }
        if trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") { return .html }
        switch ext {
        case "jsonl", "ndjson", "json": return .jsonl
        case "html", "htm", "xhtml": return .html
        case "xml": return .mediawiki
        default:
            if trimmed.hasPrefix("<?xml") || trimmed.hasPrefix("<!doctype") {
                if lower.contains("<html") { return .html }
            }
            return .text
        }
    }

    /// Offset of the first NUL byte when the head looks binary: a NUL byte and more than 10% of bytes that
    /// are neither printable, whitespace nor UTF-8 continuation/lead bytes. A stray NUL in text is not
    /// binary (it is removed as a control character).
    static func binaryOffset(_ head: [UInt8]) -> Int? {
        guard let nul = head.firstIndex(of: 0) else { return nil }
        var odd = 0
        for b in head where b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D && b != 0x0C { odd += 1 }
        let invalid = Normalizer.normalize(head, nfc: false).invalidBytes
        // A UTF-8 sequence cut by the peek window is not evidence of binary content.
        return Double(odd + max(0, invalid - 3)) > 0.1 * Double(head.count) ? nul : nil
    }
}
