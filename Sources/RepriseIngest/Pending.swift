// Temporary stand-ins until the filters and wikitext converter land.
public struct GopherQualityConfig: Codable, Sendable, Equatable { public var enabled = true; public init() {} }
public struct GopherQuality: Sendable { public init(_ c: GopherQualityConfig) {}; public func check(_ t: String) -> FilterDecision { .keep } }
public struct GopherRepetitionConfig: Codable, Sendable, Equatable { public var enabled = true; public init() {} }
public struct GopherRepetition: Sendable { public init(_ c: GopherRepetitionConfig) {}; public func check(_ t: String) -> FilterDecision { .keep } }
public struct C4LinesConfig: Codable, Sendable, Equatable { public var enabled = false; public init() {} }
public struct C4Lines: Sendable { public init(_ c: C4LinesConfig) {}; public func apply(_ t: String) -> (text: String, decision: FilterDecision) { (t, .keep) } }
