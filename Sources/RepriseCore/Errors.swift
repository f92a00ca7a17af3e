import Foundation

/// The one error type that crosses module boundaries. `message` is a single line meant for the user:
/// it names the file (and position when known) and, where possible, what to do next.
public struct RepriseError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Error {
    /// A one-line description of any error, for logs and manifests.
    public var oneLine: String {
        let text: String
        if let e = self as? RepriseError { text = e.message } else if let e = fileSystemMessage { text = e } else { text = String(describing: self) }
        return text.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    }
}

extension Error {
    /// Foundation's file errors as `PATH: what went wrong` instead of a dump of their domain and user info.
    var fileSystemMessage: String? {
        let e = self as NSError
        guard e.domain == NSCocoaErrorDomain, let path = e.userInfo[NSFilePathErrorKey] as? String else { return nil }
        let underlying = e.userInfo[NSUnderlyingErrorKey]
        let posix = (underlying as? POSIXError).map { $0.code.rawValue }
            ?? (underlying as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
        switch (e.code, posix) {
        case (CocoaError.fileWriteFileExists.rawValue, _), (_, EEXIST):
            return "\(path): a file is in the way where a directory is needed; remove it or choose another path"
        case (_, ENOTDIR): return "\(path): a part of this path is a file, not a directory"
        case (_, let code?): return "\(path): \(String(cString: strerror(code)))"
        default: return "\(path): \(e.localizedDescription)"
        }
    }
}
