import Foundation

/// One key of a config as files spell it, bound to the property it sets: how it is read over a base value
/// and how it is written. A config lists its keys once (`KeyedConfig.keys`); decoding, encoding and the
/// unknown-key check all follow that list.
public struct ConfigKey<Root>: Sendable {
    public let name: String
    let read: @Sendable (KeyedDecodingContainer<StrictKeys.AnyKey>, StrictKeys.AnyKey, inout Root) throws -> Void
    let write: @Sendable (Root, inout KeyedEncodingContainer<StrictKeys.AnyKey>, StrictKeys.AnyKey) throws -> Void

    /// A key read and written by the given functions (for keys with a spelling of their own).
    public init(_ name: String,
                read: @escaping @Sendable (KeyedDecodingContainer<StrictKeys.AnyKey>, StrictKeys.AnyKey, inout Root) throws -> Void,
                write: @escaping @Sendable (Root, inout KeyedEncodingContainer<StrictKeys.AnyKey>, StrictKeys.AnyKey) throws -> Void) {
        self.name = name
        self.read = read
        self.write = write
    }

    /// A plain value: absent keeps the base's value, and so does null unless `null` gives the value it
    /// stands for (an empty list: "no rules"). Written always, or when `writeIf` holds (so that a key added
    /// later leaves the files of configs that do not use it as they were).
    public static func value<T: Codable & Sendable>(_ name: String, _ path: WritableKeyPath<Root, T> & Sendable,
                                                    null: T? = nil, writeIf: (@Sendable (Root) -> Bool)? = nil) -> ConfigKey {
        ConfigKey(name, read: { c, key, root in
            if let v = try c.decodeIfPresent(T.self, forKey: key) {
                root[keyPath: path] = v
            } else if let null, c.contains(key) {
                root[keyPath: path] = null
            }
        }, write: { root, c, key in
            if writeIf?(root) ?? true { try c.encode(root[keyPath: path], forKey: key) }
        })
    }

    /// A value that null switches off: absent keeps the base's value, null sets nil, and nil is written as
    /// null (an absent key would mean "the default").
    public static func switchable<T: Codable & Sendable>(_ name: String, _ path: WritableKeyPath<Root, T?> & Sendable) -> ConfigKey {
        ConfigKey(name, read: { c, key, root in
            guard c.contains(key) else { return }
            root[keyPath: path] = try c.decodeNil(forKey: key) ? nil : try c.decode(T.self, forKey: key)
        }, write: { root, c, key in
            try c.encode(root[keyPath: path], forKey: key)
        })
    }

    /// An optional value: absent keeps the base's value, null sets nil; nil is not written.
    public static func optional<T: Codable & Sendable>(_ name: String, _ path: WritableKeyPath<Root, T?> & Sendable) -> ConfigKey {
        ConfigKey(name, read: { c, key, root in
            guard c.contains(key) else { return }
            root[keyPath: path] = try c.decodeIfPresent(T.self, forKey: key)
        }, write: { root, c, key in
            try c.encodeIfPresent(root[keyPath: path], forKey: key)
        })
    }

    /// A nested config, its own keys laid over the base's nested value.
    public static func section<T: LayeredConfig & Sendable>(_ name: String, _ path: WritableKeyPath<Root, T> & Sendable) -> ConfigKey {
        ConfigKey(name, read: { c, key, root in
            root[keyPath: path] = try c.decodeLayered(key, base: root[keyPath: path])
        }, write: { root, c, key in
            try c.encode(root[keyPath: path], forKey: key)
        })
    }
}

/// A config whose keys are listed once in `keys`. Decoding reads the keys a file has over a base (the
/// defaults, or a preset's settings) and rejects unknown ones naming the allowed keys; encoding writes them
/// in that order.
public protocol KeyedConfig: LayeredConfig {
    init()
    static var keys: [ConfigKey<Self>] { get }
    /// Where the mapping sits, for the unknown-key error of a top-level decode ("pack" → "pack.seq_lne").
    static var section: String? { get }
    /// Rejects impossible values after decoding (by default nothing is checked).
    func validate() throws
}

extension KeyedConfig {
    public static var section: String? { nil }
    public func validate() throws {}

    /// The keys a file has, over the defaults.
    public init(from decoder: Decoder) throws { try self.init(from: decoder, base: Self()) }

    /// The keys a file has, over `base`.
    public init(from decoder: Decoder, base: Self) throws {
        self = try Self.decode(decoder, over: base)
        try validate()
    }

    /// The keys present in `decoder`'s mapping, read over `base`.
    public static func decode(_ decoder: Decoder, over base: Self) throws -> Self {
        try StrictKeys.check(decoder, allowed: keys.map(\.name), path: section)
        let c = try decoder.container(keyedBy: StrictKeys.AnyKey.self)
        var value = base
        for k in keys { try k.read(c, StrictKeys.AnyKey(stringValue: k.name), &value) }
        return value
    }

    /// Every key, in the order of `keys` (canonical JSON sorts them anyway).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: StrictKeys.AnyKey.self)
        for k in Self.keys { try k.write(self, &c, StrictKeys.AnyKey(stringValue: k.name)) }
    }
}
