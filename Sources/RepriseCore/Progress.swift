import Foundation

/// Progress for long work: on a terminal a single line redrawn in place (count, MB, rate, ETA); otherwise
/// a log line every few seconds. Writes to stderr so stdout stays clean for data.
public final class Progress: @unchecked Sendable {
    private let label: String
    private let totalBytes: Int?
    private let totalItems: Int?
    private let start = Date()
    private var last = Date.distantPast
    private let isTTY: Bool
    private let interval: TimeInterval
    private let quiet: Bool
    private let lock = NSLock()

    /// With `totalBytes` (or `totalItems`) the line shows the fraction done and an ETA.
    public init(_ label: String, totalBytes: Int? = nil, totalItems: Int? = nil, quiet: Bool = false) {
        self.label = label
        self.totalBytes = totalBytes
        self.totalItems = totalItems
        self.quiet = quiet
        isTTY = isatty(STDERR_FILENO) != 0
        interval = isTTY ? 0.2 : 5
    }

    /// Reports progress; cheap to call often (prints at most every `interval` seconds).
    /// `detail` is appended to the line (for example the current loss).
    public func update(items: Int, itemName: String, bytes: Int, detail: String = "", force: Bool = false) {
        if quiet { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        if !force && now.timeIntervalSince(last) < interval { return }
        last = now
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let mb = Double(bytes) / 1e6
        var line = "\(label): \(items) \(itemName)"
        if bytes > 0 { line += String(format: ", %.1f MB, %.1f MB/s", mb, mb / elapsed) }
        line += String(format: ", %.0f %@/s", Double(items) / elapsed, itemName)
        var fraction: Double?
        if let total = totalBytes, total > 0, bytes > 0 { fraction = Double(bytes) / Double(total) }
        if let total = totalItems, total > 0, items > 0 { fraction = Double(items) / Double(total) }
        if let f = fraction.map({ min(1, $0) }), f >= 0.01 {  // an ETA from the first 1% is noise
            line += String(format: ", %.0f%%, ETA %@", f * 100, Progress.duration(elapsed * (1 - f) / max(f, 1e-9)))
        }
        if !detail.isEmpty { line += ", " + detail }
        if isTTY { FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8)) }
        else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Ends the progress line.
    public func finish(items: Int, itemName: String, bytes: Int, detail: String = "") {
        update(items: items, itemName: itemName, bytes: bytes, detail: detail, force: true)
        if isTTY && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    public static func duration(_ s: Double) -> String {
        if !s.isFinite { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}

/// Writes a line to stderr.
public func logLine(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
