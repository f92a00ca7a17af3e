import Foundation

/// Decoding helper that rejects keys a config type does not know, naming the key path and the allowed
/// keys, so a typo in a pipeline file is an error instead of a silently ignored setting.
public enum StrictKeys {
    /// A key by its spelling alone.
    public struct AnyKey: CodingKey, Sendable {
        public var stringValue: String
        public var intValue: Int? { nil }
        public init(stringValue: String) { self.stringValue = stringValue }
        public init?(intValue: Int) { return nil }
    }

    public static func check(_ decoder: Decoder, allowed: [String], path: String? = nil) throws {
        guard let c = try? decoder.container(keyedBy: AnyKey.self) else { return }
        let unknown = c.allKeys.map(\.stringValue).filter { !allowed.contains($0) }.sorted()
        if let first = unknown.first {
            let codingPath = decoder.codingPath.map(\.stringValue).joined(separator: ".")
            let prefix = codingPath.isEmpty ? (path.map { $0 + "." } ?? "") : codingPath + "."
            throw RepriseError("unknown key '\(prefix)\(first)'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The keys of the mapping under `key`, in the order the file writes them (empty when absent).
    public static func keysInOrder<K: CodingKey>(_ container: KeyedDecodingContainer<K>, forKey key: K) -> [String] {
        guard container.contains(key), let nested = try? container.nestedContainer(keyedBy: AnyKey.self, forKey: key) else { return [] }
        return nested.allKeys.map(\.stringValue)
    }
}

/// A config type whose omitted keys can take their values from a base (a preset) instead of the plain
/// defaults.
public protocol LayeredConfig: Codable {
    init(from decoder: Decoder, base: Self) throws
}

extension KeyedDecodingContainer {
    /// The config at `key` laid over `base`; `base` itself when the key is absent.
    public func decodeLayered<T: LayeredConfig>(_ key: Key, base: T) throws -> T {
        guard contains(key) else { return base }
        return try T(from: superDecoder(forKey: key), base: base)
    }
}
