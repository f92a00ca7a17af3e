import Foundation

/// Writes a file under a temporary name in the same directory, fsyncs it and renames it into place, so a
/// reader never sees a half-written file and a killed writer leaves only a `.tmp-*` file behind.
public final class AtomicFileWriter {
    public let path: String
    private let tmpPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let flushAt = 1 << 20
    public private(set) var bytesWritten = 0
    private var hasher = SHA256Stream()

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        tmpPath = path + ".tmp-\(getpid())"
        fd = open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw RepriseError("\(tmpPath): cannot create: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(flushAt)
    }
    deinit {
        if fd >= 0 { close(fd); unlink(tmpPath) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        bytesWritten += bytes.count
        buffer.append(contentsOf: bytes)
        if buffer.count >= flushAt { try flush() }
    }
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Array(string.utf8)) }

    private func flush() throws {
        try buffer.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RepriseError("\(tmpPath): write failed: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, fsyncs and renames into place; returns the SHA-256 (hex) of the content.
    @discardableResult
    public func commit() throws -> String {
        try flush()
        if fsync(fd) != 0 { throw RepriseError("\(tmpPath): fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        if rename(tmpPath, path) != 0 {
            throw RepriseError("\(path): rename failed: \(String(cString: strerror(errno)))")
        }
        return hasher.finalizeHex()
    }

    /// Writes a whole file atomically.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String) throws -> String {
        let w = try AtomicFileWriter(path: path)
        try w.write(bytes)
        return try w.commit()
    }
}

extension FileManager {
    /// True when `path` exists and is a directory.
    public func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }
}
