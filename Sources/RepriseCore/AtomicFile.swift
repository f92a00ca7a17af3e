import Foundation

/// Writes a file under a temporary name in the same directory, fsyncs it and renames it into place, so a
/// reader never sees a half-written file and a killed writer leaves only its temporary file behind
/// (`AtomicFile.temporaryPath`: `PATH.tmp-PID`), which the next run removes (`AtomicFile.removeStaleTemporaries`).
public final class AtomicFileWriter {
    public let path: String
    private let tmpPath: String
    private var fd: Int32
    private let keepOpen: Bool
    private var committed = false
    private var buffer: [UInt8] = []
    private let flushAt: Int
    public private(set) var bytesWritten = 0
    private var hasher = SHA256Stream()

    /// `bufferBytes`: how much is collected before a `write(2)` (1 MiB; less for writers that keep many
    /// files at once). `keepOpen` false closes the file after each `write(2)` and opens it again to append
    /// the next, so that a writer of thousands of files at once holds no descriptor between writes.
    public init(path: String, bufferBytes: Int = 1 << 20, keepOpen: Bool = true) throws {
        self.path = path
        flushAt = max(1, bufferBytes)
        self.keepOpen = keepOpen
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        tmpPath = AtomicFile.temporaryPath(for: path)
        fd = open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw RepriseError("\(tmpPath): cannot create: \(String(cString: strerror(errno)))") }
        if !keepOpen { close(fd); fd = -1 }
        buffer.reserveCapacity(min(flushAt, 1 << 20))
    }
    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(tmpPath) }
    }

    private func reopen() throws {
        guard fd < 0 else { return }
        fd = open(tmpPath, O_WRONLY | O_APPEND)
        if fd < 0 { throw RepriseError("\(tmpPath): cannot open again: \(String(cString: strerror(errno)))") }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        bytesWritten += bytes.count
        if buffer.isEmpty && bytes.count >= flushAt {
            // A block at least the buffer's size goes straight to the file (no copy, no buffer growth).
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= flushAt { try flush() }
    }
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Array(string.utf8)) }

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        guard raw.count > 0 else { return }
        try reopen()
        defer { if !keepOpen { close(fd); fd = -1 } }
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

    /// Flushes, fsyncs and renames into place; returns the SHA-256 (hex) of the content.
    @discardableResult
    public func commit() throws -> String {
        try flush()
        try reopen()
        if fsync(fd) != 0 { throw RepriseError("\(tmpPath): fsync failed: \(String(cString: strerror(errno)))") }
        TestKillPoint.reached(path, before: true)
        close(fd)
        fd = -1
        if rename(tmpPath, path) != 0 {
            throw RepriseError("\(path): rename failed: \(String(cString: strerror(errno)))")
        }
        committed = true
        TestKillPoint.reached(path, before: false)
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

/// The temporary files of `AtomicFileWriter`, and the clean-up of those a killed process left behind.
///
/// Every stage calls `removeStaleTemporaries` on its output directory when it starts or resumes, before it
/// writes there. A name is a temporary file of ours only when it is exactly `NAME.tmp-PID` (NAME not empty,
/// PID decimal digits), so no other file can be taken for one. Such a file is stale, and removed, when no
/// process PID is alive on this machine, or when PID is this process's own id (callers run before they write
/// into the directory, so the file is a leftover of an earlier process that had the same id). The file of a
/// live process is left alone: it may be another run writing into the same directory, whose file is not ours
/// to delete. A killed writer whose id the system has already given to an unrelated process leaves its file
/// until that process ends; a file written on another machine sharing the directory is judged by this
/// machine's processes.
public enum AtomicFile {
    static let marker = ".tmp-"

    /// The name `AtomicFileWriter` writes `path` under before renaming it into place.
    public static func temporaryPath(for path: String, pid: Int32 = getpid()) -> String {
        path + marker + String(pid)
    }

    /// The writer's process id when `name` (a file name, no directory) has exactly the form `temporaryPath`
    /// gives (`NAME.tmp-PID`, NAME not empty, PID in decimal without leading zeros); nil for every other name.
    public static func temporaryOwner(_ name: String) -> Int32? {
        let bytes = Array(name.utf8), m = Array(marker.utf8)
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var start = bytes.count
        while start > 0 && isDigit(bytes[start - 1]) { start -= 1 }
        guard start < bytes.count, bytes.count - start <= 10, bytes[start] != UInt8(ascii: "0"),
              start > m.count, Array(bytes[(start - m.count)..<start]) == m,
              let pid = Int32(String(decoding: bytes[start...], as: UTF8.self))
        else { return nil }
        return pid
    }

    /// Removes the stale temporary files (see above) directly in `dir`, and with `recursive` in every
    /// directory below it (symbolic links are not followed); returns their paths. A missing `dir` is no error.
    @discardableResult
    public static func removeStaleTemporaries(in dir: String, recursive: Bool = false) throws -> [String] {
        try removeStale(in: dir, recursive: recursive) { _ in true }
    }

    /// Removes the stale temporary files of the one file `path` (`PATH.tmp-PID`) and nothing else of its
    /// directory: for an output written into a directory that holds other files (a report next to a work
    /// directory's stages). Returns their paths.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) throws -> [String] {
        let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
        return try removeStale(in: dir.isEmpty ? "." : dir, recursive: false) { entry in
            temporaryOwner(entry).map { temporaryPath(for: name, pid: $0) == entry } ?? false
        }
    }

    private static func removeStale(in dir: String, recursive: Bool, where wanted: (String) -> Bool) throws -> [String] {
        guard isRealDirectory(dir) else { return [] }
        var removed: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let path = dir + "/" + name
            let directory = isRealDirectory(path)
            if let pid = temporaryOwner(name), !directory, wanted(name) {
                guard pid == getpid() || !isAlive(pid) else { continue }
                if unlink(path) != 0 && errno != ENOENT {
                    throw RepriseError("\(path): cannot remove a stale temporary file: \(String(cString: strerror(errno)))")
                }
                removed.append(path)
            } else if recursive && directory {
                removed += try removeStale(in: path, recursive: true, where: wanted)
            }
        }
        return removed
    }

    /// True when a process with this id exists on this machine (a zombie counts).
    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// A directory itself, not a symbolic link to one.
    static func isRealDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Fault injection for tests, never set in normal use: with `REPRISE_TEST_KILL_AT=before:NAME@N` the process
/// sends itself SIGKILL when its N-th commit of a file named NAME has written and fsynced the temporary file
/// but not renamed it yet (`after:NAME@N`: just after the rename). Tests use it to stop a run at an exact
/// point of a write, as a kill at a random moment would. Unset, it costs one comparison per commit.
enum TestKillPoint {
    static let variable = "REPRISE_TEST_KILL_AT"

    struct Point { var before: Bool; var name: String; var count: Int }

    static let point: Point? = {
        guard let spec = ProcessInfo.processInfo.environment[variable] else { return nil }
        let parts = spec.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "before" || parts[0] == "after",
              let at = parts[1].lastIndex(of: "@"), let n = Int(parts[1][parts[1].index(after: at)...]), n > 0
        else { return nil }
        return Point(before: parts[0] == "before", name: String(parts[1][..<at]), count: n)
    }()

    private static let seen = SharedCounter()

    static func reached(_ path: String, before: Bool) {
        guard let p = point, p.before == before, (path as NSString).lastPathComponent == p.name else { return }
        if seen.next() + 1 == p.count { kill(getpid(), SIGKILL) }
    }
}

extension FileManager {
    /// True when `path` exists and is a directory.
    public func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }
}
