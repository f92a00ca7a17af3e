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
        let line = Progress.line(label: label, items: items, itemName: itemName, bytes: bytes,
                                 elapsed: now.timeIntervalSince(start), totalBytes: totalBytes, totalItems: totalItems, detail: detail)
        if isTTY {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + Progress.clamp(line, width: Progress.terminalWidth())).utf8))
        } else {
            FileHandle.standardError.write(Data((Progress.timestamp(now) + " " + line + "\n").utf8))
        }
    }

    /// Prints a line of its own (an evaluation's result) without breaking the progress line: on a terminal
    /// the progress line is cleared first and redrawn by the next update.
    public func note(_ text: String) {
        if quiet { return }
        lock.lock(); defer { lock.unlock() }
        if isTTY { FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + "\n").utf8)) }
        else { FileHandle.standardError.write(Data((Progress.timestamp(Date()) + " " + text + "\n").utf8)) }
        last = .distantPast
    }

    /// Ends the progress line.
    public func finish(items: Int, itemName: String, bytes: Int, detail: String = "") {
        update(items: items, itemName: itemName, bytes: bytes, detail: detail, force: true)
        if isTTY && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// One progress line: count, size and throughput, the rate (per second, or seconds per item when slower
    /// than one a second), elapsed time, the fraction done and an ETA when the total is known, and `detail`.
    public static func line(label: String, items: Int, itemName: String, bytes: Int, elapsed: Double,
                            totalBytes: Int?, totalItems: Int?, detail: String) -> String {
        let elapsed = max(elapsed, 1e-6)
        let mb = Double(bytes) / 1e6
        var line = "\(label): \(items) \(itemName)"
        if bytes > 0 { line += String(format: ", %.1f MB, %.1f MB/s", mb, mb / elapsed) }
        let rate = Double(items) / elapsed
        if items > 0 && rate < 1 {
            let one = itemName.hasSuffix("s") ? String(itemName.dropLast()) : itemName
            line += String(format: ", %.1f s/%@", 1 / rate, one)
        } else {
            line += String(format: ", %.0f %@/s", rate, itemName)
        }
        line += ", \(duration(elapsed)) elapsed"
        var fraction: Double?
        if let total = totalBytes, total > 0, bytes > 0 { fraction = Double(bytes) / Double(total) }
        if let total = totalItems, total > 0, items > 0 { fraction = Double(items) / Double(total) }
        if let f = fraction.map({ min(1, $0) }), f >= 0.01 {  // an ETA from the first 1% is noise
            line += String(format: ", %.0f%%, ETA %@", f * 100, duration(elapsed * (1 - f) / max(f, 1e-9)))
        }
        if !detail.isEmpty { line += ", " + detail }
        return line
    }

    /// `line` cut to fit `width` columns (one left free, so the cursor never wraps), with `…` where it was cut.
    public static func clamp(_ line: String, width: Int) -> String {
        guard width > 1, line.count > width - 1 else { return line }
        return String(line.prefix(width - 2)) + "…"
    }

    /// Columns of the terminal on standard error (80 when unknown).
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    /// UTC time for log lines: `2026-12-04T16:05:09Z`.
    public static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
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
