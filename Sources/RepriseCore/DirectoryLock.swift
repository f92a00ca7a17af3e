import Foundation

/// One writer per output directory: an advisory lock (`flock`) on `DIR/.reprise.lock`, which holds the
/// writer's PID for the message another process gets. The lock goes with the process (a killed writer
/// leaves the file but not the lock, and the next writer takes it over); `release` removes the file, so a
/// finished directory holds exactly what a clean run writes.
public final class DirectoryLock {
    public static let fileName = ".reprise.lock"
    private let path: String
    private var fd: Int32

    /// Creates `dir` when needed and takes its lock, or throws naming the process that holds it.
    public init(_ dir: String, purpose: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = dir + "/" + DirectoryLock.fileName
        while true {
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            if fd < 0 { throw RepriseError("\(path): cannot open the lock file: \(String(cString: strerror(errno)))") }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let holder = DirectoryLock.holder(fd)
                close(fd)
                throw RepriseError("\(dir) is in use by another reprise process\(holder.map { " (PID \($0))" } ?? ""): wait for it to finish, or \(purpose)")
            }
            // A writer that finished between our open and our flock removed the file we locked: lock the new one.
            var mine = stat(), current = stat()
            if fstat(fd, &mine) == 0, stat(path, &current) == 0, mine.st_ino == current.st_ino, mine.st_dev == current.st_dev { break }
            close(fd)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { release() }

    /// Removes the lock file and gives the lock up (also done when the object goes away).
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    private static func holder(_ fd: Int32) -> Int? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
