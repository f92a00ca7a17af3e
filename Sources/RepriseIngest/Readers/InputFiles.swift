import Foundation
import RepriseCore

/// The kinds of documents a file can hold.
/// `warc` covers WARC and WET files alike: the type of each record decides what it yields.
public enum InputKind: String, Codable, Sendable { case text, jsonl, html, mediawiki, parquet, warc }
public enum Compression: String, Codable, Sendable { case none, zstd, gzip, bzip2, xz }

/// One file of the expanded input list.
public struct InputFile: Sendable, Equatable {
    /// The file's identity, whatever the spelling of the input it came from: the documents' `source` and id
    /// prefix, and `path` in the manifest. A directory input D gives `basename(D)/relative/path`, a file
    /// input its base name, a glob its matches relative to the pattern's wildcard-free directory (named the
    /// same way), standard input `<stdin>`. Bytes that are not UTF-8 appear as `\xHH`, a backslash as `\\`.
    public var name: String
    /// Where the file is opened: the raw bytes of its path (not necessarily UTF-8). Empty for standard input.
    public var path: [UInt8]
    /// Why the file cannot be read, when expansion already knows (an unreadable directory, a FIFO, a
    /// device, a dangling link); it is recorded as failed without being opened.
    public var problem: String?
    public var isStandardInput: Bool

    public static let standardInputName = "<stdin>"

    public init(name: String, path: [UInt8], problem: String? = nil, isStandardInput: Bool = false) {
        self.name = name
        self.path = path
        self.problem = problem
        self.isStandardInput = isStandardInput
    }
}

/// What the inputs expand to.
public struct InputList: Sendable, Equatable {
    /// Files in input order (each directory walked depth-first, its entries sorted by their bytes).
    public var files: [InputFile] = []
    /// Inputs that gave no file: no such path, a pattern that matches nothing, a directory without files.
    public var missing: [String] = []
    /// Names of the symbolic links to directories that were not followed.
    public var skippedLinks: [String] = []
    /// One line per thing worth telling the user (missing inputs, skipped links, unreadable directories).
    public var notes: [String] = []
}

public enum InputFiles {
    /// The input that stands for standard input.
    public static let standardInput = "-"

    /// Expands files, directories and glob patterns into the list of files to read.
    ///
    /// - Directories are walked recursively by the raw bytes of their entries' names (sorted by bytes;
    ///   hidden entries, whose names start with `.`, are skipped). Symbolic links to directories inside a
    ///   walk are not followed but counted in `skippedLinks`; links to regular files are read. A directory
    ///   given as an input (or matched by a pattern, when it is not a link) is walked even through a link.
    ///   Each directory is walked once, however it is reached.
    /// - Only regular files are read: a FIFO, socket or device, a dangling link or an unreadable directory
    ///   becomes a file with a `problem`, which ingest records as failed.
    /// - `-` is standard input.
    /// - The same file reached twice (same device and inode) is listed once, at its first position.
    ///
    /// Throws when two different files would get the same name.
    public static func expand(_ inputs: [String]) throws -> InputList {
        var w = Walker()
        for input in inputs { w.add(input) }
        var seen: [[UInt8]: Int] = [:]
        for (i, f) in w.files.enumerated() {
            if let j = seen.updateValue(i, forKey: f.name) {
                throw RepriseError("inputs \(w.inputOf[j]) and \(w.inputOf[i]) both give a file named \(escapedName(f.name)) (\(displayPath(w.files[j].path)) and \(displayPath(f.path))); file names come from the last directory of each input, so list a common parent directory (or a pattern in it) instead")
            }
        }
        w.list.files = w.files.map {
            InputFile(name: escapedName($0.name), path: $0.path, problem: $0.problem, isStandardInput: $0.stdin)
        }
        return w.list
    }

    /// The name of a file's bytes: UTF-8 stays as it is, other bytes become `\xHH` and a backslash `\\`,
    /// so different byte strings always give different names.
    public static func escapedName(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        let hex = Array("0123456789ABCDEF".utf8)
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x5C { out += [0x5C, 0x5C]; i += 1; continue }
            let n = validSequenceLength(bytes, at: i)
            if n > 0 {
                out += bytes[i..<(i + n)]
                i += n
            } else {
                out += [0x5C, UInt8(ascii: "x"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Length of the well-formed UTF-8 sequence at `i`, or 0 when there is none.
    private static func validSequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let c = b[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { i + k < b.count && b[i + k] >= lo && b[i + k] <= hi }
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    static func displayPath(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? InputFile.standardInputName : String(decoding: bytes, as: UTF8.self)
    }

    /// The size of a file as it is now (0 for standard input and files that cannot be read).
    public static func size(_ file: InputFile) -> Int {
        guard !file.isStandardInput, file.problem == nil else { return 0 }
        var st = stat()
        return withCPath(file.path, { stat($0, &st) }) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
    }

    /// SHA-256 (hex) of a file's content, or `unreadable`. Reads regular files only.
    public static func sha256(_ file: InputFile) -> String {
        guard !file.isStandardInput, file.problem == nil,
              let source = try? FileSource(regularFile: file.path, name: file.name) else { return unreadable }
        return (try? HashingFileSource(source).finishHex()) ?? unreadable
    }

    /// The `sha256` of a file that could not be read.
    public static let unreadable = "unreadable"

    /// The expansion's state: files found so far (names still raw bytes) and what identifies them.
    private struct Walker {
        struct Found { var name: [UInt8]; var path: [UInt8]; var problem: String?; var stdin = false }
        struct FileID: Hashable { var dev: UInt64; var ino: UInt64 }
        var files: [Found] = []
        var inputOf: [String] = []
        var list = InputList()
        var seenFiles = Set<FileID>()
        var seenDirectories = Set<FileID>()
        var stdinSeen = false
        var input = ""
        /// Entries met in the current input, whether new or not (an input with none is missing).
        var met = 0

        mutating func add(_ input: String) {
            self.input = input
            met = 0
            if input == InputFiles.standardInput {
                if !stdinSeen {
                    stdinSeen = true
                    append(Found(name: Array(InputFile.standardInputName.utf8), path: [], stdin: true))
                }
                return
            }
            let path = Array(input.utf8)
            var st = stat()
            if withCPath(path, { stat($0, &st) }) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    walk(path, name: rootName(path), st: st, top: true)
                    if met == 0 { missing("\(input): the directory holds no files") }
                } else {
                    file(path, name: baseName(path))
                }
                return
            }
            let error = errno
            if path.contains(where: { $0 == 0x2A || $0 == 0x3F || $0 == 0x5B }) { // * ? [
                glob(path)
                if met == 0 { missing("\(input): no file matches the pattern") }
            } else if error == ENOENT || error == ENOTDIR {
                var lst = stat()
                if withCPath(path, { lstat($0, &lst) }) == 0 {
                    append(Found(name: baseName(path), path: path, problem: "dangling symbolic link"), id: id(lst))
                } else {
                    missing("\(input): no such file or directory")
                }
            } else {
                append(Found(name: baseName(path), path: path, problem: "cannot open: \(String(cString: strerror(error)))"))
            }
        }

        mutating func missing(_ note: String) {
            list.missing.append(input)
            list.notes.append(note)
        }

        func id(_ st: stat) -> FileID { FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)) }

        mutating func append(_ f: Found, id: FileID? = nil) {
            met += 1
            if let id, !seenFiles.insert(id).inserted { return }
            files.append(f)
            inputOf.append(input)
        }

        /// A file input, or a directory entry or pattern match that is not a directory (`entry`: its lstat).
        mutating func file(_ path: [UInt8], name: [UInt8], entry: stat? = nil) {
            var lst = stat(), st = stat()
            if let entry {
                lst = entry
            } else if withCPath(path, { lstat($0, &lst) }) != 0 {
                return append(Found(name: name, path: path, problem: "cannot open: \(String(cString: strerror(errno)))"))
            }
            let isLink = (lst.st_mode & S_IFMT) == S_IFLNK
            if isLink {
                guard withCPath(path, { stat($0, &st) }) == 0 else {
                    let why = errno == ENOENT ? "dangling symbolic link" : "cannot open: \(String(cString: strerror(errno)))"
                    return append(Found(name: name, path: path, problem: why), id: id(lst))
                }
            } else {
                st = lst
            }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                append(Found(name: name, path: path), id: id(lst))
            case S_IFDIR:
                // Only reached for a link inside a walk or a pattern's match.
                met += 1
                list.skippedLinks.append(InputFiles.escapedName(name))
                list.notes.append("\(InputFiles.escapedName(name)): symbolic link to a directory, not followed")
            default:
                let kind = FileSource.typeName(st.st_mode)
                append(Found(name: name, path: path, problem: "not a regular file: \(isLink ? "symbolic link to \(kind)" : kind)"), id: id(lst))
            }
        }

        /// Walks directory `path` (`st` from stat) whose files are named `name/...`.
        mutating func walk(_ path: [UInt8], name: [UInt8], st: stat, top: Bool) {
            guard seenDirectories.insert(id(st)).inserted else {
                met += 1
                if !top {
                    list.notes.append("\(InputFiles.escapedName(name)): directory already walked (a mount loop?), not walked again")
                }
                return
            }
            guard let dir = withCPath(path, { opendir($0) }) else {
                let why = "cannot read directory: \(String(cString: strerror(errno)))"
                return append(Found(name: name, path: path, problem: why))
            }
            var entries: [[UInt8]] = []
            while let e = readdir(dir) {
                let entry = withUnsafeBytes(of: &e.pointee.d_name) { raw in
                    Array(raw.prefix(while: { $0 != 0 }))
                }
                if entry.first != 0x2E { entries.append(entry) } // hidden, `.` and `..`
            }
            closedir(dir)
            entries.sort { $0.lexicographicallyPrecedes($1) }
            let base = path.last == 0x2F ? path : path + [0x2F]
            for entry in entries {
                let child = base + entry
                let childName = name.isEmpty ? entry : name + [0x2F] + entry
                var lst = stat()
                guard withCPath(child, { lstat($0, &lst) }) == 0 else {
                    if errno == ENOENT { continue }
                    append(Found(name: childName, path: child, problem: "cannot open: \(String(cString: strerror(errno)))"))
                    continue
                }
                if (lst.st_mode & S_IFMT) == S_IFDIR {
                    walk(child, name: childName, st: lst, top: false)
                } else {
                    file(child, name: childName, entry: lst)
                }
            }
        }

        /// Expands a pattern; matches are named relative to its wildcard-free directory.
        mutating func glob(_ pattern: [UInt8]) {
            var g = glob_t()
            defer { globfree(&g) }
            guard withCPath(pattern, { Glibc.glob($0, 0, nil, &g) }) == 0 else { return }
            var matches: [[UInt8]] = (0..<Int(g.gl_pathc)).compactMap { i in
                g.gl_pathv[i].map { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) }
            }
            matches.sort { $0.lexicographicallyPrecedes($1) }
            let wild = pattern.firstIndex(where: { $0 == 0x2A || $0 == 0x3F || $0 == 0x5B })!
            let slash = pattern[..<wild].lastIndex(of: 0x2F)
            let fixed: [UInt8] = slash.map { $0 == 0 ? [0x2F] : Array(pattern[..<$0]) } ?? [0x2E]
            let prefix: [UInt8] = slash.map { Array(pattern[...$0]) } ?? []
            let root = rootName(fixed)
            for m in matches {
                let rel = m.starts(with: prefix) ? Array(m[prefix.count...]) : baseName(m)
                let name = root.isEmpty ? rel : root + [0x2F] + rel
                var lst = stat()
                guard withCPath(m, { lstat($0, &lst) }) == 0 else { continue }
                if (lst.st_mode & S_IFMT) == S_IFDIR {
                    walk(m, name: name, st: lst, top: false)
                } else {
                    file(m, name: name, entry: lst)
                }
            }
        }
    }

    /// The last component of a path (trailing slashes ignored).
    static func baseName(_ path: [UInt8]) -> [UInt8] {
        var p = path[...]
        while p.count > 1 && p.last == 0x2F { p = p.dropLast() }
        if let slash = p.lastIndex(of: 0x2F), p.count > 1 { return Array(p[(slash + 1)...]) }
        return Array(p)
    }

    /// The name a directory gives its files: its last component, or for `.`, `..` (and paths ending so)
    /// the last component of the real path; empty for `/`.
    static func rootName(_ path: [UInt8]) -> [UInt8] {
        let last = baseName(path)
        if last == [0x2F] { return [] }
        if last == [0x2E] || last == [0x2E, 0x2E] || last.isEmpty {
            guard let real = withCPath(path, { realpath($0, nil) }) else { return last }
            defer { free(real) }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(real).assumingMemoryBound(to: UInt8.self), count: strlen(real)))
            let name = baseName(bytes)
            return name == [0x2F] ? [] : name
        }
        return last
    }

    /// Opens a file, undoes its compression (chosen by magic bytes) and decides its kind from its first
    /// bytes, then its extension. A Parquet file (magic `PAR1`) is only recognised here: its reader opens
    /// the file again for random access (see ParquetReader), so it must not be compressed as a whole.
    /// `readAhead`: gzip members are also decoded on a second thread (see `GzipDecoder`); all reads of
    /// `file` still happen on the calling thread.
    public static func open(_ file: ByteSource, path: String, readAhead: Bool = false) throws -> (source: ByteSource, kind: InputKind, compression: Compression) {
        let raw = try PeekableSource(file, peek: 6)
        var source: ByteSource = raw
        var compression = Compression.none
        if raw.head.starts(with: Zstd.magic) {
            source = ZstdDecoder(raw, name: path); compression = .zstd
        } else if raw.head.starts(with: Gzip.magic) {
            source = try GzipDecoder(raw, name: path, readAhead: readAhead); compression = .gzip
        } else if Bzip2.matches(raw.head) {
            source = try Bzip2Decoder(raw, name: path); compression = .bzip2
        } else if raw.head.starts(with: Xz.magic) {
            source = try XzDecoder(raw, name: path); compression = .xz
        }
        let peek = try PeekableSource(source, peek: 4096)
        if peek.head.starts(with: ParquetReader.magic) {
            if compression != .none {
                throw RepriseError("\(path): Parquet file inside \(compression.rawValue) compression: Parquet compresses its pages itself and needs random access; decompress the file first")
            }
            return (peek, .parquet, compression)
        }
        if contentExtension(path) == "parquet" {
            throw RepriseError("\(path): not a Parquet file: no PAR1 magic at byte 0")
        }
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
            // Nothing to go by but the content (standard input, a file named `data`): a record means JSON lines.
            if ext.isEmpty && trimmed.hasPrefix("{") { return .jsonl }
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
