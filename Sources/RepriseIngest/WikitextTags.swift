// MediaWiki wikitext → plain text: pass 1, tags and comments, and the removal of spans (see Wikitext.swift for the passes and conventions).

extension Wikitext {
    // MARK: Pass 1: tags and comments

    private enum TagKind {
        /// The element goes with its content.
        case drop
        /// The tag goes, its content stays and is parsed as usual.
        case strip
        /// The content is kept verbatim; `decode` says whether character references in it are decoded.
        case literal(decode: Bool)
        /// `<br>`: a newline.
        case lineBreak
    }

    private static let tagKinds: [String: TagKind] = {
        var d: [String: TagKind] = [:]
        for n in ["ref", "references", "math", "chem", "ce", "gallery", "imagemap", "score", "timeline",
                  "graph", "mapframe", "maplink", "templatedata", "templatestyles", "inputbox",
                  "categorytree", "hiero", "indicator", "charinsert", "includeonly", "table"] {
            d[n] = .drop
        }
        for n in ["nowiki", "pre"] { d[n] = .literal(decode: true) }
        for n in ["syntaxhighlight", "source"] { d[n] = .literal(decode: false) }
        d["br"] = .lineBreak
        for n in ["b", "bdi", "bdo", "big", "blockquote", "caption", "center", "cite", "code", "data", "dd",
                  "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
                  "i", "ins", "kbd", "li", "mark", "ol", "p", "q", "rb", "rp", "rt", "rtc", "ruby", "s",
                  "samp", "small", "span", "strike", "strong", "sub", "sup", "tbody", "td", "tfoot", "th",
                  "thead", "time", "tr", "tt", "u", "ul", "var", "wbr", "abbr", "poem", "noinclude",
                  "onlyinclude", "section", "languages", "translate", "tvar", "phonos", "meta", "link"] {
            d[n] = .strip
        }
        return d
    }()

    @inline(never) static func tagPass(_ b: Bytes, _ literals: inout LiteralStore) -> [UInt8] {
        let n = b.count
        var out: [UInt8] = []
        out.reserveCapacity(n + n / 16)
        // For each element name, a position from which no closing tag exists (a failed search is not repeated).
        var noCloseFrom: [String: Int] = [:]
        var i = 0
        while i < n {
            var j = i
            while true {
                j = scan(b, j, n, word: { bytesEqual($0, cLT) | bytesBelow($0, 0x20) | bytesEqual($0, 0x7F) },
                         byte: { $0 == cLT || $0 < 0x20 || $0 == 0x7F })
                if j < n && (b[j] == cNewline || b[j] == cTab) { j += 1 } else { break }
            }
            copy(b, i, j, into: &out)
            i = j
            if i >= n { break }
            if b[i] != cLT { i += 1; continue }  // a control byte (or CR): dropped

            // Comment.
            if i + 3 < n && b[i + 1] == cBang && b[i + 2] == cMinus && b[i + 3] == cMinus {
                var k = i + 6
                var end = n
                while k < n {
                    k = find(cGT, b, k, n)
                    if k < n && b[k - 1] == cMinus && b[k - 2] == cMinus { end = k + 1; break }
                    k += 1
                }
                out.append(removedMark)
                i = end
                continue
            }

            guard let tag = parseTag(b, at: i) else { out.append(cLT); i += 1; continue }
            let name = String(decoding: UnsafeBufferPointer(rebasing: b[tag.nameStart..<tag.nameEnd]),
                              as: UTF8.self).lowercased()
            guard let kind = tagKinds[name] else { out.append(cLT); i += 1; continue }
            switch kind {
            case .lineBreak:
                out.append(cNewline)
                i = tag.end
            case .strip:
                out.append(removedMark)
                i = tag.end
            case .drop:
                out.append(removedMark)
                i = tag.end
                if !tag.closing && !tag.selfClosing,
                   let close = findClose(b, name: tag.nameStart..<tag.nameEnd, from: tag.end, key: name,
                                         noCloseFrom: &noCloseFrom) {
                    i = close.end
                }
            case .literal(let decode):
                i = tag.end
                if tag.closing {
                    out.append(removedMark)
                } else if tag.selfClosing {
                    // `<nowiki/>` separates, e.g. `[[a]]<nowiki/>s`: an empty literal does that.
                    literals.keep(b, 0, 0, decodeEntities: decode, into: &out)
                } else if let close = findClose(b, name: tag.nameStart..<tag.nameEnd, from: tag.end, key: name,
                                                noCloseFrom: &noCloseFrom) {
                    var from = tag.end
                    if name == "pre" && from < close.start && b[from] == cNewline { from += 1 }
                    literals.keep(b, from, close.start, decodeEntities: decode, into: &out)
                    i = close.end
                } else {
                    out.append(removedMark)
                }
            }
        }
        return out
    }

    private struct Tag {
        var closing: Bool
        var selfClosing: Bool
        var nameStart: Int
        var nameEnd: Int
        /// Just past the `>`.
        var end: Int
    }

    /// A tag starting at the `<` at `i`, or nil when the bytes there are not tag syntax. The scan for `>`
    /// stops at the next `<`, so every byte is looked at by at most one call.
    private static func parseTag(_ b: Bytes, at i: Int) -> Tag? {
        let n = b.count
        var j = i + 1
        var closing = false
        if j < n && b[j] == cSlash { closing = true; j += 1 }
        let nameStart = j
        guard j < n, isAlpha(b[j]) else { return nil }
        while j < n && isAlnum(b[j]) { j += 1 }
        let nameEnd = j
        guard nameEnd - nameStart <= 24, j < n else { return nil }
        let c = b[j]
        guard c == cGT || c == cSlash || c == cSpace || c == cTab || c == cNewline else { return nil }
        var quote: UInt8 = 0
        var prevSignificant: UInt8 = 0
        while j < n {
            let c = b[j]
            if c == cLT { return nil }
            if quote != 0 {
                if c == quote { quote = 0 }
            } else if (c == cQuote || c == cApos) && prevSignificant == cEquals {
                quote = c
            } else if c == cGT {
                break
            }
            if !(c == cSpace || c == cTab || c == cNewline) { prevSignificant = c }
            j += 1
        }
        guard j < n else { return nil }
        var k = j - 1
        while k > nameEnd && (b[k] == cSpace || b[k] == cTab || b[k] == cNewline) { k -= 1 }
        let selfClosing = !closing && k >= nameEnd && b[k] == cSlash
        return Tag(closing: closing, selfClosing: selfClosing, nameStart: nameStart, nameEnd: nameEnd, end: j + 1)
    }

    /// The first `</name>` (any case, spaces allowed before `>`) at or after `from`.
    private static func findClose(_ b: Bytes, name: Range<Int>, from: Int, key: String,
                                  noCloseFrom: inout [String: Int]) -> (start: Int, end: Int)? {
        if let failed = noCloseFrom[key], failed <= from { return nil }
        let n = b.count
        let len = name.count
        var k = from
        while k + 2 + len < n {
            k = find(cLT, b, k, n)
            if k + 2 + len >= n { break }
            if b[k + 1] == cSlash {
                var match = true
                var m = 0
                while m < len {
                    if lower(b[k + 2 + m]) != lower(b[name.lowerBound + m]) { match = false; break }
                    m += 1
                }
                if match {
                    var e = k + 2 + len
                    while e < n && isBlank(b[e]) { e += 1 }
                    if e < n && b[e] == cGT { return (k, e + 1) }
                }
            }
            k += 1
        }
        noCloseFrom[key] = from
        return nil
    }

    // MARK: Removal of spans

    /// `b` without the given spans (sorted, disjoint), each replaced by one removal mark.
    static func removing(_ spans: [(Int, Int)], from b: Bytes) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var pos = 0
        for (s, e) in spans {
            copy(b, pos, s, into: &out)
            out.append(removedMark)
            pos = e
        }
        copy(b, pos, b.count, into: &out)
        return out
    }

}
