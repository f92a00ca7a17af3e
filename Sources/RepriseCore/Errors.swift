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
        if let e = self as? RepriseError { text = e.message } else { text = String(describing: self) }
        return text.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    }
}
