import Foundation

/// A pull-based stream of bytes. Readers of every input kind sit on top of one, so compressed and plain
/// files are read the same way and memory stays bounded by the buffer sizes, never by the file size.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; returns 0 at the end of the stream. Throws on I/O or decoding errors.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Bytes consumed from the underlying file so far (compressed bytes for a decoder), for progress.
    var bytesConsumed: Int { get }
}

/// A file read with POSIX `read`, in the caller's buffer size.
public final class FileSource: ByteSource {
    public let path: String
    private let fd: Int32
    public private(set) var bytesConsumed = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        if fd < 0 { throw RepriseError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw RepriseError("\(path): is a directory")
        }
    }
    /// Opens a regular file by the raw bytes of its path (any bytes but NUL, not necessarily UTF-8); `name`
    /// stands for it in errors. Anything else (FIFO, socket, device, directory) is refused before it is
    /// opened, and again after (the path may change in between): reading those could block or never end.
    public init(regularFile rawPath: [UInt8], name: String) throws {
        path = name
        var st = stat()
        if withCPath(rawPath, { stat($0, &st) }) != 0 {
            throw RepriseError("\(name): cannot open: \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) != S_IFREG { throw RepriseError("\(name): not a regular file: \(Self.typeName(st.st_mode))") }
        // O_NONBLOCK: should a FIFO have taken the file's place, the open returns at once instead of waiting.
        fd = withCPath(rawPath) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 { throw RepriseError("\(name): cannot open: \(String(cString: strerror(errno)))") }
        if fstat(fd, &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw RepriseError("\(name): not a regular file: \(Self.typeName(st.st_mode))")
        }
    }

    /// Standard input (a duplicate of descriptor 0, so closing this source leaves it open); `name` stands for
    /// it in errors.
    public init(standardInput name: String) throws {
        path = name
        fd = dup(0)
        if fd < 0 { throw RepriseError("\(name): cannot read standard input: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// What kind of file a `stat` mode describes, in words.
    public static func typeName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "directory"
        case S_IFIFO: return "FIFO"
        case S_IFSOCK: return "socket"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFLNK: return "symbolic link"
        default: return "unknown file type"
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { bytesConsumed += n; return n }
            if errno == EINTR { continue }
            throw RepriseError("\(path): read failed at byte \(bytesConsumed): \(String(cString: strerror(errno)))")
        }
    }
}

/// An in-memory source, for tests and small inputs.
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0
    public var bytesConsumed: Int { position }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        if n > 0 {
            bytes.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + position, byteCount: n)
            }
        }
        position += n
        return n
    }
}

/// A source with a one-time peek at its first bytes (for magic-number sniffing) that are then read again.
public final class PeekableSource: ByteSource {
    private let base: ByteSource
    public private(set) var head: [UInt8] = []
    private var headOffset = 0
    public var bytesConsumed: Int { base.bytesConsumed }

    /// Reads up to `count` bytes ahead of the consumer.
    public init(_ base: ByteSource, peek count: Int) throws {
        self.base = base
        head = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = try head.withUnsafeMutableBytes { buf in
                try base.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        head.removeSubrange(filled...)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if headOffset < head.count {
            let n = min(buffer.count, head.count - headOffset)
            head.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + headOffset, byteCount: n)
            }
            headOffset += n
            return n
        }
        return try base.read(into: buffer)
    }
}

extension ByteSource {
    /// Reads the whole stream, failing once more than `limit` bytes arrive (returns nil then).
    public func readAll(limit: Int = .max) throws -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return out }
            if out.count + n > limit { return nil }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}

/// A file source that hashes every byte it hands out; `finishHex()` reads whatever the consumer left
/// unread, so the digest always covers the whole file. Saves a separate hashing pass over each input.
public final class HashingFileSource: ByteSource {
    private let file: FileSource
    private var hasher = SHA256Stream()
    public var bytesConsumed: Int { file.bytesConsumed }
    public var path: String { file.path }

    public init(path: String) throws { file = try FileSource(path: path) }
    public init(_ file: FileSource) { self.file = file }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try file.read(into: buffer)
        if n > 0 { hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        return n
    }

    /// SHA-256 (hex) of the whole file.
    public func finishHex() throws -> String {
        try finishHex(limit: .max)!
    }

    /// SHA-256 (hex) of the whole stream, reading at most `limit` more bytes to get there; nil when the
    /// stream goes on beyond that (a pipe need not end).
    public func finishHex(limit: Int) throws -> String? {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var left = limit
        while true {
            let n = try buf.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(max(1, min(left, $0.count))))) }
            if n == 0 { return hasher.finalizeHex() }
            if left == 0 { return nil }
            left -= n
        }
    }
}

/// Calls `body` with `bytes` as a NUL-terminated C path (the raw bytes, whatever their encoding).
public func withCPath<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
    var c = bytes
    c.append(0)
    return try c.withUnsafeBufferPointer { p in
        try p.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
    }
}
