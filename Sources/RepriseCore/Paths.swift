import Foundation

/// Lexical path arithmetic: no file system access, symbolic links are not followed.
public enum Paths {
    /// `path` with `.` components, empty components and `x/..` pairs removed (`a/./b/../c/` → `a/c`); `..`
    /// at the start of a relative path stays; the empty result is `.`.
    public static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", absolute { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// `path` resolved against the directory `base` (unless absolute), normalised; `base` may be empty (the
    /// current directory).
    public static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base.isEmpty { return normalize(path) }
        return normalize(base + "/" + path)
    }

    /// `path` relative to the directory `base` (`../x` steps where needed); a relative path is taken from the
    /// current directory.
    public static func relative(_ path: String, to base: String) -> String {
        var path = path, base = base
        if path.hasPrefix("/") != base.hasPrefix("/") {
            let cwd = FileManager.default.currentDirectoryPath
            path = resolve(path, against: cwd)
            base = resolve(base, against: cwd)
        }
        let p = normalize(path).split(separator: "/"), b = normalize(base).split(separator: "/")
        var common = 0
        while common < p.count, common < b.count, p[common] == b[common] { common += 1 }
        let up = Array(repeating: Substring(".."), count: b.count - common)
        let rest = up + p[common...]
        return rest.isEmpty ? "." : rest.joined(separator: "/")
    }
}
