// MediaWiki wikitext → plain text, for the pages of MediaWiki XML exports.
//
// The conversion is a fixed sequence of byte-level passes over UTF-8, each linear in its input. Every pass
// reads an `UnsafeBufferPointer<UInt8>` and writes a fresh `[UInt8]`; the String is made once at the end.
// Passes only ever cut at ASCII bytes, so multi-byte UTF-8 sequences pass through intact.
//
//  1. Tags: comments, extension tags and HTML tags (`tagPass`).
//  2. Templates, template parameters and parser functions `{{…}}` / `{{{…}}}`, but for the text of a few
//     inline formatting templates (`templatePass`).
//  3. Tables `{| … |}` (`tablePass`).
//  4. Internal and external links (`linkPass`).
//  5. Lines: headings, lists, rules, bold/italic quotes, magic words, entities, whitespace (`linePass`).
//
// Two private byte conventions connect the passes (C0 controls other than tab and newline are dropped from
// the input in pass 1, so these bytes cannot come from the page itself):
//
//  * `removedMark` (0x03) is written wherever a construct was removed. The line pass drops a line that held
//    nothing but such marks and whitespace, and collapses spaces that removal left side by side. A truly
//    empty line of the input is a paragraph break; a line emptied by removal just disappears.
//  * `literalOpen` index `literalClose` (0x01, decimal digits, 0x02) stands for the content of
//    `<nowiki>`, `<pre>`, `<syntaxhighlight>` and `<source>`, kept aside in pass 1 so that no later pass
//    interprets it; the line pass writes it back.
//
// What each construct becomes:
//
//  * `{{template}}`, `{{#parser function:…}}`, `{{{parameter}}}`, variables like `{{PAGENAME}}`: removed,
//    nested and multi-line ones included. An opening `{{` without a matching `}}` stays as text, and so does
//    a stray `}}`.
//  * Inline formatting templates whose argument is prose keep that argument instead (`keptTemplates`):
//    `the {{sc|Lord}} said` → `the Lord said`. Kept are the first positional argument of `sc`, `smallcaps`,
//    `small caps`, `nowrap`, `nobr`, `small`, `big`, `em`, `strong`, `var`, `mvar`, `code`, `abbr`, `ill`
//    and `interlanguage link`; the second of `lang` (`{{lang|fr|bonjour}}` → `bonjour`); the first two,
//    joined with nothing between them, of `not a typo` (`{{not a typo|patt|ern}}` → `pattern`) and of `sic`,
//    whose first argument may be a `?` that is skipped (`{{sic|?|hte}}` → `hte`). Names are matched as
//    MediaWiki matches them: the first letter in either case, spaces and underscores alike, blanks around
//    them ignored (`{{Small_caps|x}}`, but not `{{SC|x}}`). Named arguments (`title=x`) are not positional
//    ones, except `1=`, `2=` and `3=`, which set them (their values trimmed); `|` and `=` inside nested
//    templates and `[[links]]` neither split nor name arguments. The kept bytes go through the later passes
//    like any text (`{{sc|[[Lord]]}}` → `Lord`), and templates nested in them are kept or removed in turn
//    (`{{nowrap|5 {{sc|kg}}}}` → `5 kg`). A kept template without that argument, with it empty, or with
//    an unpaired `[[` or `]]` in its arguments, is removed like any other; so are all other templates,
//    `{{math|…}}` among them (formulas are not prose).
//  * `{| table |}`: removed with everything in it, nested tables included. A table that is never closed
//    loses its opening line and the table-syntax lines (`|…`, `!…`) that follow it directly.
//  * `<!-- comment -->`: removed; an unterminated comment runs to the end of the page.
//  * Removed with their content: `<ref>` (`<ref name="x" />` too), `<references>`, `<math>`, `<chem>`,
//    `<ce>`, `<gallery>`, `<imagemap>`, `<score>`, `<timeline>`, `<graph>`, `<mapframe>`, `<maplink>`,
//    `<templatedata>`, `<templatestyles>`, `<inputbox>`, `<categorytree>`, `<hiero>`, `<indicator>`,
//    `<charinsert>`, `<includeonly>`, and HTML `<table>` (formulas, score notation and image lists are
//    not prose; HTML tables go like wiki tables). These are not nesting-aware: the first closing tag ends
//    the element. An opening tag with no closing tag is dropped alone (here and for the literal ones below).
//  * Kept literally, never parsed as wikitext: `<nowiki>` (entities still decoded, as MediaWiki does),
//    `<pre>` (likewise), `<syntaxhighlight>` and `<source>` (code, kept byte for byte). `<nowiki/>` is
//    nothing, but still separates what is on either side of it.
//  * `<br>` (any spelling, `</br>` included) becomes a newline.
//  * Other known HTML and formatting tags (`<small>`, `<span …>`, `<div>`, `<sup>`, `<center>`,
//    `<blockquote>`, `<poem>`, `<noinclude>`, …): the tag goes, the text inside stays. A tag name that
//    MediaWiki would not accept (`<T>`, `<foo>`, `a < b`) is ordinary text.
//  * `[[Target]]` → `Target` (underscores read as spaces), `[[Target|label]]` → `label`, `[[a]]s` → `as`,
//    `[[a#Section|b]]` → `b`, `[[Target (x)|]]` and `[[Help:Target|]]` (the pipe trick) → `Target`,
//    `[[:Category:X|text]]` → `text`. `[[File:…]]`, `[[Image:…]]`, `[[Media:…]]` and `[[Category:…]]`
//    are removed with everything inside, links in a caption included, and so are interlanguage links
//    (a lowercase language-code prefix: `[[de:Foo]]`, `[[zh-yue:Foo]]`, `[[simple:Foo]]`). For other
//    languages' dumps, a prefixed link to a media file name (`[[Datei:Map.png|…]]`) and the category
//    namespaces of the larger Wikipedias (`[[Kategorie:…]]`) are removed too. Brackets that do not make a
//    valid link stay as text, and so does `[[http://x label]]` apart from the link itself (`[label]`).
//  * `[http://x label]` → `label`; `[http://x]` is removed; a bare URL stays.
//  * `''italic''`, `'''bold'''`, `'''''both'''''`: the quote runs go; a single apostrophe stays. A run of
//    four keeps one apostrophe, a run longer than five keeps the extra ones (as MediaWiki renders them).
//  * `== Title ==` → a line `Title`; list and indent markers `*`, `#`, `:`, `;` at the start of a line go,
//    the item text stays; `----` goes; magic words like `__NOTOC__` go.
//  * Character references: all numeric ones and the HTML named ones in `namedEntities` are decoded (`&nbsp;`
//    becomes U+00A0); unknown names, and numbers that are not Unicode scalars, stay as written. A reference
//    to a C0 control becomes a space, one to a C1 control nothing.
//  * Whitespace: trailing spaces go, at most one blank line in a row, no blank lines at either end. Spaces
//    made adjacent by a removal collapse into one, a space left before punctuation by a removal goes
//    (`Paris {{cn}}.` leaves `Paris.`), and parentheses or brackets left empty by a removal go
//    (`Foo ({{IPA|…}}) is` → `Foo is`).
//  * A redirect page has no prose: `plainText` returns the empty string for it.
//
// Every scan is bounded so that malformed input stays linear: tag scans stop at the next `<`, searches for
// a closing tag or an external link's `]` remember where they failed, and brace, bracket and table matching
// use explicit stacks. A template name is read for at most 64 bytes, and only a kept template's arguments are
// scanned, jumping over the spans matched inside it, so each byte is scanned by one template at most. Searches
// for the next interesting byte look at eight bytes at a time (`scan`).

public enum Wikitext {
    /// Plain text of an article's wikitext.
    public static func plainText(_ wikitext: String) -> String {
        if redirectTarget(wikitext) != nil { return "" }
        var s = wikitext
        let bytes = s.withUTF8 { Converter.convert($0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The target of a redirect page (`#REDIRECT [[Target]]`, case-insensitive, optional colon/spaces),
    /// or nil. The target is returned as written, trimmed, with a leading colon dropped, underscores read as
    /// spaces and character references decoded; a `#Section` part is kept.
    public static func redirectTarget(_ wikitext: String) -> String? {
        var s = wikitext
        return s.withUTF8 { Converter.redirectTarget($0) }
    }
}

// Everything below is private to this file; it is nested in `Wikitext` so that its short names cannot clash
// with declarations elsewhere in the module.
extension Wikitext {
    // MARK: - Bytes

    fileprivate static let removedMark: UInt8 = 0x03
    fileprivate static let literalOpen: UInt8 = 0x01
    fileprivate static let literalClose: UInt8 = 0x02

    fileprivate static let cNewline: UInt8 = 0x0A
    fileprivate static let cTab: UInt8 = 0x09
    fileprivate static let cSpace: UInt8 = 0x20
    fileprivate static let cBang: UInt8 = 0x21
    fileprivate static let cQuote: UInt8 = 0x22
    fileprivate static let cHash: UInt8 = 0x23
    fileprivate static let cAmp: UInt8 = 0x26
    fileprivate static let cApos: UInt8 = 0x27
    fileprivate static let cLParen: UInt8 = 0x28
    fileprivate static let cRParen: UInt8 = 0x29
    fileprivate static let cStar: UInt8 = 0x2A
    fileprivate static let cComma: UInt8 = 0x2C
    fileprivate static let cMinus: UInt8 = 0x2D
    fileprivate static let cDot: UInt8 = 0x2E
    fileprivate static let cSlash: UInt8 = 0x2F
    fileprivate static let cColon: UInt8 = 0x3A
    fileprivate static let cSemicolon: UInt8 = 0x3B
    fileprivate static let cLT: UInt8 = 0x3C
    fileprivate static let cEquals: UInt8 = 0x3D
    fileprivate static let cGT: UInt8 = 0x3E
    fileprivate static let cQuestion: UInt8 = 0x3F
    fileprivate static let cLBracket: UInt8 = 0x5B
    fileprivate static let cRBracket: UInt8 = 0x5D
    fileprivate static let cUnderscore: UInt8 = 0x5F
    fileprivate static let cLBrace: UInt8 = 0x7B
    fileprivate static let cPipe: UInt8 = 0x7C
    fileprivate static let cRBrace: UInt8 = 0x7D

    @inline(__always) fileprivate static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) fileprivate static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) fileprivate static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
    @inline(__always) fileprivate static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
    @inline(__always) fileprivate static func isBlank(_ c: UInt8) -> Bool { c == cSpace || c == cTab }
    /// Space, tab or a removal mark: what is invisible at the ends of a line.
    @inline(__always) fileprivate static func isBlankOrMark(_ c: UInt8) -> Bool {
        c == cSpace || c == cTab || c == removedMark
    }

    fileprivate typealias Bytes = UnsafeBufferPointer<UInt8>


    // MARK: - Word-at-a-time scanning

    fileprivate static let onesWord: UInt64 = 0x0101_0101_0101_0101
    fileprivate static let highsWord: UInt64 = 0x8080_8080_8080_8080

    /// Flags (high bit) the bytes of `v` below `c` (`c` ≤ 0x80); exact for the lowest flagged byte, which is all
    /// `scan` uses.
    @inline(__always) fileprivate static func bytesBelow(_ v: UInt64, _ c: UInt8) -> UInt64 {
        (v &- onesWord &* UInt64(c)) & ~v & highsWord
    }
    /// Flags the bytes of `v` equal to `c`; exact for the lowest flagged byte.
    @inline(__always) fileprivate static func bytesEqual(_ v: UInt64, _ c: UInt8) -> UInt64 {
        bytesBelow(v ^ (onesWord &* UInt64(c)), 1)
    }

    /// Index of the first byte of `b[from..<to]` that `byte` accepts, `to` if none. `word` must flag, for eight
    /// bytes loaded little-endian, exactly the bytes `byte` accepts (at least the lowest one).
    @inline(__always) fileprivate static func scan(_ b: Bytes, _ from: Int, _ to: Int, word: (UInt64) -> UInt64,
                                        byte: (UInt8) -> Bool) -> Int {
        var i = from
        if let base = b.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= to {
                let m = word(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                if m != 0 { return i + m.trailingZeroBitCount >> 3 }
                i += 8
            }
        }
        while i < to && !byte(b[i]) { i += 1 }
        return i
    }

    /// Index of the first `c` in `b[from..<to]`, `to` if none.
    @inline(__always) fileprivate static func find(_ c: UInt8, _ b: Bytes, _ from: Int, _ to: Int) -> Int {
        scan(b, from, to, word: { bytesEqual($0, c) }, byte: { $0 == c })
    }

    /// Appends `b[from..<to]` to `out`.
    @inline(__always) fileprivate static func copy(_ b: Bytes, _ from: Int, _ to: Int, into out: inout [UInt8]) {
        if to > from { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[from..<to])) }
    }

    /// Appends the UTF-8 of a Unicode scalar value known to be valid.
    fileprivate static func appendScalar(_ v: UInt32, to out: inout [UInt8]) {
        if v < 0x80 {
            out.append(UInt8(v))
        } else if v < 0x800 {
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Content kept aside by the tag pass (`<nowiki>` and friends), addressed by the index in a literal marker.
    fileprivate struct LiteralStore {
        var bytes: [UInt8] = []
        var spans: [(start: Int, end: Int, decodeEntities: Bool)] = []

        /// Stores `b[from..<to]` (dropping control bytes) and writes its marker into `out`.
        mutating func keep(_ b: Bytes, _ from: Int, _ to: Int, decodeEntities: Bool, into out: inout [UInt8]) {
            let start = bytes.count
            var i = from
            while i < to {
                let c = b[i]
                if c >= 0x20 || c == cNewline || c == cTab { bytes.append(c) }
                i += 1
            }
            spans.append((start, bytes.count, decodeEntities))
            out.append(literalOpen)
            var digits: [UInt8] = []
            var k = spans.count - 1
            repeat { digits.append(UInt8(0x30 + k % 10)); k /= 10 } while k > 0
            out.append(contentsOf: digits.reversed())
            out.append(literalClose)
        }
    }

    // MARK: - Converter

    fileprivate enum Converter {
        /// Runs the passes. Each pass is a function of its own, kept out of line: profiles stay readable, and
        /// inlining them all into one function measured no faster.
        static func convert(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
            var literals = LiteralStore()
            let a = tagPass(input, &literals)
            let b = a.withUnsafeBufferPointer { templatePass($0) }
            let c = b.withUnsafeBufferPointer { tablePass($0) }
            let d = c.withUnsafeBufferPointer { linkPass($0) }
            return d.withUnsafeBufferPointer { linePass($0, literals) }
        }

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
        private static func removing(_ spans: [(Int, Int)], from b: Bytes) -> [UInt8] {
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

        // MARK: Pass 2: templates

        /// A span matched by the template pass. A removed span becomes one removal mark. A kept one (a template of
        /// `keptTemplates`) becomes the bytes of `text0` then those of `text1`, in which the spans matched inside
        /// them (`firstInner`, chained by `nextInner`, in order) become a mark or their own text in turn.
        private struct BraceSpan {
            var start: Int
            var end: Int
            var text0: Range<Int> = 0..<0
            var text1: Range<Int> = 0..<0
            var firstInner = -1
            var nextInner = -1
            var isKept: Bool { !text0.isEmpty || !text1.isEmpty }
        }

        /// Which arguments of a kept template are its text.
        private enum KeptText {
            /// The first positional argument.
            case first
            /// The second positional argument (`{{lang|fr|bonjour}}`).
            case second
            /// The first two, joined with nothing between them (`{{not a typo|patt|ern}}`).
            case firstTwo
            /// The first two, or the second and third when the first is `?` (`{{sic|?|hte}}`).
            case firstTwoAfterQuestionMark
        }

        /// A template name of at most `capacity` bytes, packed into words so that comparing names is cheap and
        /// allocates nothing.
        private struct TemplateName: Equatable {
            static let capacity = 24
            private(set) var count = 0
            private var w0: UInt64 = 0
            private var w1: UInt64 = 0
            private var w2: UInt64 = 0

            /// The first byte, 0 when empty.
            var first: UInt8 { UInt8(truncatingIfNeeded: w0) }

            /// Appends `c`; false when the name is full.
            mutating func append(_ c: UInt8) -> Bool {
                guard count < TemplateName.capacity else { return false }
                let v = UInt64(c) << UInt64((count & 7) * 8)
                switch count >> 3 {
                case 0: w0 |= v
                case 1: w1 |= v
                default: w2 |= v
                }
                count += 1
                return true
            }
        }

        /// The inline formatting templates whose text stays, by name as `keptTemplate` normalises it (first letter
        /// in lower case, single spaces). Looked up by a linear search: comparing a few words per entry costs less
        /// than hashing.
        private static let keptTemplates: [(name: TemplateName, kept: KeptText)] = {
            var list: [(name: TemplateName, kept: KeptText)] = []
            let names: [(String, KeptText)] = [
                ("sc", .first), ("smallcaps", .first), ("small caps", .first), ("nowrap", .first), ("nobr", .first),
                ("small", .first), ("big", .first), ("em", .first), ("strong", .first), ("var", .first),
                ("mvar", .first), ("code", .first), ("abbr", .first), ("ill", .first),
                ("interlanguage link", .first), ("lang", .second), ("not a typo", .firstTwo),
                ("sic", .firstTwoAfterQuestionMark),
            ]
            for (s, kept) in names {
                var name = TemplateName()
                for c in s.utf8 { _ = name.append(c) }
                list.append((name, kept))
            }
            return list
        }()

        /// Bit `c - 0x61` is set for each first letter `c` of the kept names: most other templates are turned
        /// away on their first letter.
        private static let keptFirstLetters: UInt32 = {
            var mask: UInt32 = 0
            for entry in keptTemplates { mask |= 1 << UInt32(entry.name.first - 0x61) }
            return mask
        }()

        /// The length of the longest kept name.
        private static let keptLongest = keptTemplates.map(\.name.count).max() ?? 0

        /// Whitespace that MediaWiki trims around names and named values, and removal marks.
        @inline(__always) private static func isTrimmed(_ c: UInt8) -> Bool {
            c == cSpace || c == cNewline || c == cTab || c == removedMark
        }

        /// If the template whose `{{` is at `s` and whose `}}` is at `q` is a kept one: what it keeps, and the index
        /// of the `|` that ends its name (`q` when it has no arguments). The name is read as MediaWiki reads it:
        /// blanks and underscores around it go, a run of them inside is one space, the first letter is
        /// case-insensitive. Only the first 64 bytes are looked at; kept names are much shorter.
        private static func keptTemplate(_ b: Bytes, _ s: Int, _ q: Int) -> (KeptText, Int)? {
            var name = TemplateName()
            var gap = false
            var i = s + 2
            let limit = min(q, i + 64)
            while i < limit {
                let c = b[i]
                if isAlpha(c) {
                    if name.count == 0 {
                        let l = lower(c)
                        if keptFirstLetters & (1 << UInt32(l - 0x61)) == 0 { return nil }
                        _ = name.append(l)
                    } else {
                        if name.count >= keptLongest { return nil }
                        if gap && !name.append(cSpace) { return nil }
                        if !name.append(c) { return nil }
                    }
                    gap = false
                } else if isTrimmed(c) || c == cUnderscore {
                    gap = true
                } else {
                    break
                }
                i += 1
            }
            guard name.count > 0, i == q || b[i] == cPipe else { return nil }
            for entry in keptTemplates where entry.name == name { return (entry.kept, i) }
            return nil
        }

        /// The text of a kept template whose arguments are `b[p..<q]` (`p` just after the `|` that ends its name;
        /// `p > q` when there is none): up to two ranges, in the order they are shown. `inner` are the spans matched
        /// inside the template, in order: they are skipped, so `|` and `=` in nested templates do not split or name
        /// arguments, and neither do those inside `[[…]]`. Nil when the text is empty or a `[[` or `]]` is unpaired.
        private static func keptText(_ kept: KeptText, _ b: Bytes, _ p: Int, _ q: Int, _ spans: [BraceSpan],
                                     _ inner: ArraySlice<Int>) -> (Range<Int>, Range<Int>)? {
            // Parameters 1 to 3 as MediaWiki numbers them: positional arguments count up, `2=` names one, and a
            // later definition wins. Positional values are kept as written, named ones are trimmed.
            var p1: Range<Int>? = nil
            var p2: Range<Int>? = nil
            var p3: Range<Int>? = nil
            var positional = 0
            func trimmed(_ from: Int, _ to: Int) -> Range<Int> {
                var f = from
                var t = to
                while f < t && isTrimmed(b[f]) { f += 1 }
                while t > f && isTrimmed(b[t - 1]) { t -= 1 }
                return f..<t
            }
            func define(_ number: Int, _ value: Range<Int>) {
                switch number {
                case 1: p1 = value
                case 2: p2 = value
                case 3: p3 = value
                default: break
                }
            }
            func argument(_ start: Int, _ equals: Int, _ end: Int) {
                if equals < 0 {
                    positional += 1
                    define(positional, start..<end)
                } else {
                    let key = trimmed(start, equals)
                    if key.count == 1 && isDigit(b[key.lowerBound]) {
                        define(Int(b[key.lowerBound] - 0x30), trimmed(equals + 1, end))
                    }
                }
            }
            if p <= q {
                var i = p
                var start = p
                var equals = -1
                var links = 0
                var next = inner.startIndex
                while true {
                    let stop = next < inner.endIndex ? spans[inner[next]].start : q
                    let k = scan(b, i, stop, word: { v in
                        bytesEqual(v, cPipe) | bytesEqual(v, cEquals) | bytesEqual(v, cLBracket)
                            | bytesEqual(v, cRBracket)
                    }, byte: { $0 == cPipe || $0 == cEquals || $0 == cLBracket || $0 == cRBracket })
                    if k == stop {
                        if next == inner.endIndex { break }
                        i = spans[inner[next]].end
                        next += 1
                        continue
                    }
                    switch b[k] {
                    case cPipe:
                        if links == 0 {
                            argument(start, equals, k)
                            start = k + 1
                            equals = -1
                        }
                        i = k + 1
                    case cEquals:
                        if links == 0 && equals < 0 { equals = k }
                        i = k + 1
                    case cLBracket:
                        if k + 1 < q && b[k + 1] == cLBracket {
                            links += 1
                            i = k + 2
                        } else {
                            i = k + 1
                        }
                    default:
                        if k + 1 < q && b[k + 1] == cRBracket {
                            if links == 0 { return nil }
                            links -= 1
                            i = k + 2
                        } else {
                            i = k + 1
                        }
                    }
                }
                if links != 0 { return nil }
                argument(start, equals, q)
            }
            var first: Range<Int>? = nil
            var second: Range<Int>? = nil
            switch kept {
            case .first:
                first = p1
            case .second:
                first = p2
            case .firstTwo:
                first = p1
                second = p2
            case .firstTwoAfterQuestionMark:
                let mark = p1.map { trimmed($0.lowerBound, $0.upperBound) }
                if let t = mark, t.count == 1, b[t.lowerBound] == cQuestion {
                    first = p2
                    second = p3
                } else {
                    first = p1
                    second = p2
                }
            }
            let t0 = first ?? 0..<0
            let t1 = second ?? 0..<0
            return t0.isEmpty && t1.isEmpty ? nil : (t0, t1)
        }

        /// Matches brace runs the way the MediaWiki preprocessor does: an opening run of two or more braces waits
        /// on a stack; a closing run consumes three braces from it when both sides have three (a parameter),
        /// otherwise two (a template), repeatedly. A matched template of `keptTemplates` becomes its text, any
        /// other matched span is removed; unmatched braces stay as text.
        @inline(never) static func templatePass(_ b: Bytes) -> [UInt8] {
            let n = b.count
            var stack: [(start: Int, count: Int)] = []
            // Every matched span, and the outermost ones so far (indices into `spans`, sorted and disjoint): a new
            // span takes the outermost ones it contains as its inner spans.
            var spans: [BraceSpan] = []
            var outer: [Int] = []
            var i = 0
            while i < n {
                i = scan(b, i, n, word: { bytesEqual($0, cLBrace) | bytesEqual($0, cRBrace) },
                         byte: { $0 == cLBrace || $0 == cRBrace })
                if i >= n { break }
                let c = b[i]
                if c == cLBrace {
                    var j = i + 1
                    while j < n && b[j] == cLBrace { j += 1 }
                    if j - i >= 2 { stack.append((i, j - i)) }
                    i = j
                } else if c == cRBrace {
                    var j = i + 1
                    while j < n && b[j] == cRBrace { j += 1 }
                    var left = j - i
                    var pos = i
                    while left >= 2, var top = stack.last {
                        let take = top.count >= 3 && left >= 3 ? 3 : 2
                        let s = top.start + top.count - take
                        let e = pos + take
                        var first = outer.count
                        while first > 0 && spans[outer[first - 1]].start >= s { first -= 1 }
                        var span = BraceSpan(start: s, end: e)
                        if take == 2, let (kept, nameEnd) = keptTemplate(b, s, pos),
                           let (t0, t1) = keptText(kept, b, nameEnd + 1, pos, spans, outer[first...]) {
                            span.text0 = t0
                            span.text1 = t1
                            // The inner spans in the text stay, in order; the others go with the rest.
                            var last = -1
                            for k in outer[first...] {
                                let inner = spans[k]
                                if (inner.start >= t0.lowerBound && inner.end <= t0.upperBound)
                                    || (inner.start >= t1.lowerBound && inner.end <= t1.upperBound) {
                                    if last < 0 { span.firstInner = k } else { spans[last].nextInner = k }
                                    last = k
                                }
                            }
                        }
                        outer.removeSubrange(first...)
                        outer.append(spans.count)
                        spans.append(span)
                        pos = e
                        left -= take
                        top.count -= take
                        if top.count < 2 { stack.removeLast() } else { stack[stack.count - 1] = top }
                    }
                    i = j
                } else {
                    i += 1
                }
            }
            return writingTemplates(spans, outer, from: b)
        }

        /// `b` with its outermost matched spans replaced: a removed one by a removal mark, a kept one by its text.
        private static func writingTemplates(_ spans: [BraceSpan], _ outer: [Int], from b: Bytes) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(b.count)
            // Kept spans being written, innermost last: the span, which of its two texts, the next of its inner
            // spans and the position written up to. A stack of our own, as kept templates may nest deeply.
            var work: [(span: Int, part: Int, inner: Int, pos: Int)] = []
            var pos = 0
            for k in outer {
                let span = spans[k]
                copy(b, pos, span.start, into: &out)
                pos = span.end
                if !span.isKept {
                    out.append(removedMark)
                    continue
                }
                work.append((k, 0, span.firstInner, span.text0.lowerBound))
                while var w = work.popLast() {
                    let text = w.part == 0 ? spans[w.span].text0 : spans[w.span].text1
                    // Inner spans before this text belong to the other one.
                    while w.inner >= 0 && spans[w.inner].start < text.lowerBound { w.inner = spans[w.inner].nextInner }
                    if w.inner >= 0 && spans[w.inner].end <= text.upperBound {
                        let inner = spans[w.inner]
                        copy(b, w.pos, inner.start, into: &out)
                        work.append((w.span, w.part, inner.nextInner, inner.end))
                        if inner.isKept {
                            work.append((w.inner, 0, inner.firstInner, inner.text0.lowerBound))
                        } else {
                            out.append(removedMark)
                        }
                        continue
                    }
                    copy(b, w.pos, text.upperBound, into: &out)
                    let span = spans[w.span]
                    if w.part == 0 && !span.text1.isEmpty {
                        work.append((w.span, 1, span.firstInner, span.text1.lowerBound))
                    }
                }
            }
            copy(b, pos, b.count, into: &out)
            return out
        }

        // MARK: Pass 3: tables

        @inline(never) static func tablePass(_ b: Bytes) -> [UInt8] {
            let n = b.count
            var openers: [Int] = []  // line starts of open tables
            var spans: [(Int, Int)] = []
            var ls = 0
            while ls < n {
                let le = find(cNewline, b, ls, n)
                var p = ls
                while p < le && (isBlankOrMark(b[p]) || b[p] == cColon) { p += 1 }
                if p + 1 < le {
                    if b[p] == cLBrace && b[p + 1] == cPipe {
                        openers.append(ls)
                    } else if b[p] == cPipe && b[p + 1] == cRBrace, let o = openers.popLast() {
                        spans.append((o, p + 2))
                    }
                }
                ls = le + 1
            }
            // Tables never closed: the opening line and the table-syntax lines right after it.
            var coveredUntil = -1
            for o in openers where o >= coveredUntil {
                var end = find(cNewline, b, o, n)
                var next = end + 1
                while next < n {
                    let le = find(cNewline, b, next, n)
                    var p = next
                    while p < le && isBlankOrMark(b[p]) { p += 1 }
                    guard p < le, b[p] == cPipe || b[p] == cBang || (b[p] == cLBrace && p + 1 < le && b[p + 1] == cPipe)
                    else { break }
                    end = le
                    next = le + 1
                }
                spans.append((o, end))
                coveredUntil = end
            }
            if spans.isEmpty { return Array(b) }
            spans.sort { $0.0 < $1.0 }
            var merged: [(Int, Int)] = []
            merged.reserveCapacity(spans.count)
            for s in spans {
                if let last = merged.last, s.0 <= last.1 {
                    merged[merged.count - 1].1 = max(last.1, s.1)
                } else {
                    merged.append(s)
                }
            }
            return removing(merged, from: b)
        }

        // MARK: Pass 4: links

        @inline(never) static func linkPass(_ b: Bytes) -> [UInt8] {
            let n = b.count
            // Pair `[[` with `]]` on a stack. Of a longer opening run, the last two brackets open; a closing run
            // closes as many links as it can with its last brackets, so `[[a|[http://x b]]]` pairs as expected.
            var openers: [Int] = []
            var closeOf: [Int] = []
            var stack: [Int] = []  // indices into openers
            var i = 0
            while i < n {
                i = scan(b, i, n, word: { bytesEqual($0, cLBracket) | bytesEqual($0, cRBracket) },
                         byte: { $0 == cLBracket || $0 == cRBracket })
                if i >= n { break }
                let c = b[i]
                if c == cLBracket {
                    var j = i + 1
                    while j < n && b[j] == cLBracket { j += 1 }
                    if j - i >= 2 {
                        stack.append(openers.count)
                        openers.append(j - 2)
                        closeOf.append(-1)
                    }
                    i = j
                } else if c == cRBracket {
                    var j = i + 1
                    while j < n && b[j] == cRBracket { j += 1 }
                    let pairs = min((j - i) / 2, stack.count)
                    var pos = j - 2 * pairs
                    for _ in 0..<pairs {
                        closeOf[stack.removeLast()] = pos
                        pos += 2
                    }
                    i = j
                } else {
                    i += 1
                }
            }
            if openers.isEmpty && !containsExternalLinkStart(b) { return Array(b) }

            var out: [UInt8] = []
            out.reserveCapacity(n)
            // Closing brackets to skip once the label before them has been copied: (position, length).
            var pending: [(pos: Int, len: Int)] = []
            var cursor = 0
            var externalFailUntil = -1
            i = 0
            while i < n {
                if let top = pending.last, i >= top.pos {
                    i = top.pos + top.len
                    pending.removeLast()
                    continue
                }
                let limit = pending.last?.pos ?? n
                let j = find(cLBracket, b, i, limit)
                copy(b, i, j, into: &out)
                i = j
                if i >= limit { continue }

                // Internal link.
                if i + 1 < limit && b[i + 1] == cLBracket {
                    while cursor < openers.count && openers[cursor] < i { cursor += 1 }
                    if cursor < openers.count && openers[cursor] == i {
                        let close = closeOf[cursor]
                        if close >= 0 && close + 2 <= limit,
                           let next = internalLink(b, open: i, close: close, out: &out, pending: &pending) {
                            i = next
                            continue
                        }
                    }
                }
                // External link.
                if i >= externalFailUntil, let scheme = urlSchemeLength(b, at: i + 1, limit: limit), scheme > 0 {
                    var e = i + 1
                    while e < limit && b[e] != cRBracket && b[e] != cNewline { e += 1 }
                    if e < limit && b[e] == cRBracket {
                        var u = i + 1 + scheme
                        while u < e && !(b[u] == cSpace || b[u] == cTab || b[u] == cLT || b[u] == cQuote) { u += 1 }
                        var l = u
                        while l < e && isBlankOrMark(b[l]) { l += 1 }
                        if l == e {
                            out.append(removedMark)
                            i = e + 1
                        } else {
                            pending.append((e, 1))
                            i = l
                        }
                        continue
                    }
                    externalFailUntil = e
                }
                out.append(cLBracket)
                i += 1
            }
            return out
        }

        private static func containsExternalLinkStart(_ b: Bytes) -> Bool {
            find(cLBracket, b, 0, b.count) < b.count
        }

        /// Handles the link `b[open..<close+2]`. Returns where to continue, or nil when the brackets do not form
        /// a valid link (they are then copied as text).
        private static func internalLink(_ b: Bytes, open: Int, close: Int, out: inout [UInt8],
                                         pending: inout [(pos: Int, len: Int)]) -> Int? {
            // The target runs to the first `|`; a title cannot hold brackets, braces, `<`, `>` or newlines.
            var t = open + 2
            while t < close {
                let c = b[t]
                if isTitleStop(c) {
                    if c == cPipe { break }
                    return nil
                }
                t += 1
            }
            var ts = open + 2
            var te = t
            while ts < te && (isBlankOrMark(b[ts]) || b[ts] == cUnderscore) { ts += 1 }
            while te > ts && (isBlankOrMark(b[te - 1]) || b[te - 1] == cUnderscore) { te -= 1 }
            var leadingColon = false
            if ts < te && b[ts] == cColon {
                leadingColon = true
                ts += 1
                while ts < te && (isBlankOrMark(b[ts]) || b[ts] == cUnderscore) { ts += 1 }
            }
            if ts == te { return nil }
            // `[[http://x label]]` is an external link inside brackets, not a title.
            if urlSchemeLength(b, at: ts, limit: te) != nil { return nil }

            // Namespace or language prefix.
            var colon = ts
            while colon < te && b[colon] != cColon { colon += 1 }
            var prefixEnd = colon
            if colon < te && !leadingColon {
                var ps = ts
                while ps < prefixEnd && isBlank(b[ps]) { ps += 1 }
                while prefixEnd > ps && (isBlank(b[prefixEnd - 1]) || b[prefixEnd - 1] == cUnderscore) {
                    prefixEnd -= 1
                }
                if isRemovedNamespace(b, ps, prefixEnd) || isLanguagePrefix(b, ps, prefixEnd)
                    || hasMediaExtension(b, colon + 1, te) {
                    out.append(removedMark)
                    return close + 2
                }
            }

            if t == close {
                appendTitle(b, ts, te, into: &out)
                return close + 2
            }
            var ls = t + 1
            while ls < close && isBlankOrMark(b[ls]) { ls += 1 }
            if ls == close {
                // Pipe trick: no namespace, no trailing "(…)" or ", …".
                var s = ts
                if colon < te { s = colon + 1 }
                var e = te
                var k = s
                while k < e {
                    if b[k] == cComma { e = k; break }
                    k += 1
                }
                if e > s && b[e - 1] == cRParen {
                    var k = e - 1
                    while k > s && b[k] != cLParen { k -= 1 }
                    if b[k] == cLParen { e = k }
                }
                while s < e && (isBlank(b[s]) || b[s] == cUnderscore) { s += 1 }
                while e > s && (isBlank(b[e - 1]) || b[e - 1] == cUnderscore) { e -= 1 }
                appendTitle(b, s, e, into: &out)
                return close + 2
            }
            pending.append((close, 2))
            return t + 1
        }

        /// `|` or a byte a page title cannot contain: `[`, `]`, `{`, `}`, `<`, `>`, newline.
        @inline(__always) private static func isTitleStop(_ c: UInt8) -> Bool {
            let low: UInt64 = 1 << 0x0A | 1 << 0x3C | 1 << 0x3E
            let high: UInt64 = 1 << (0x5B - 64) | 1 << (0x5D - 64) | 1 << (0x7B - 64) | 1 << (0x7C - 64)
                | 1 << (0x7D - 64)
            if c < 64 { return (low >> UInt64(c)) & 1 != 0 }
            if c < 128 { return (high >> UInt64(c - 64)) & 1 != 0 }
            return false
        }

        /// A title as displayed: underscores are spaces, removal marks are dropped.
        private static func appendTitle(_ b: Bytes, _ s: Int, _ e: Int, into out: inout [UInt8]) {
            var k = s
            while k < e {
                let j = scan(b, k, e, word: { bytesEqual($0, cUnderscore) | bytesBelow($0, 0x04) },
                             byte: { $0 == cUnderscore || $0 < 0x04 })
                copy(b, k, j, into: &out)
                if j >= e { break }
                if b[j] == cUnderscore { out.append(cSpace) } else if b[j] != removedMark { out.append(b[j]) }
                k = j + 1
            }
        }

        /// Whether `b[s..<e]`, with ASCII letters lowercased and `_` read as a space, is `word`.
        private static func equalsLowercase(_ b: Bytes, _ s: Int, _ e: Int, _ word: StaticString) -> Bool {
            guard e - s == word.utf8CodeUnitCount else { return false }
            let w = word.utf8Start
            var k = 0
            while k < e - s {
                let c = b[s + k]
                if (c == cUnderscore ? cSpace : lower(c)) != w[k] { return false }
                k += 1
            }
            return true
        }

        /// Namespaces whose links are removed: files and categories. Category namespaces of the larger
        /// Wikipedias are recognised by name too; files in any language are recognised by their extension
        /// (`hasMediaExtension`).
        private static func isRemovedNamespace(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
            for name: StaticString in ["file", "image", "media", "category"] where equalsLowercase(b, s, e, name) {
                return true
            }
            guard e - s >= 4 else { return false }
            for name: StaticString in [
                "kategorie", "catégorie", "categoría", "categoria", "categorie", "kategoria", "kategori", "kategória",
                "kategorija", "luokka", "категория", "Категория", "категорія", "Категорія", "категорија",
                "Категорија", "κατηγορία", "Κατηγορία", "カテゴリ", "分类", "分類", "분류", "تصنيف", "رده",
                "קטגוריה", "thể loại", "Thể loại",
            ] where equalsLowercase(b, s, e, name) {
                return true
            }
            return false
        }

        /// Whether the title `b[s..<e]` ends in the extension of an image, sound, video or document file.
        private static func hasMediaExtension(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
            var k = e - 1
            while k > s && e - k <= 5 && b[k] != cDot { k -= 1 }
            guard k > s, b[k] == cDot else { return false }
            for ext: StaticString in ["jpg", "jpeg", "png", "gif", "svg", "tif", "tiff", "webp", "xcf", "ogg", "oga",
                                      "ogv", "opus", "webm", "mp3", "wav", "flac", "mid", "midi", "mpg", "mpeg", "pdf",
                                      "djvu", "stl"]
            where equalsLowercase(b, k + 1, e, ext) {
                return true
            }
            return false
        }

        /// A lowercase language code: two or three letters, optionally followed by `-letters` parts
        /// (`de`, `als`, `zh-yue`, `be-x-old`), or `simple`. A few interwiki prefixes of that shape are not languages.
        private static func isLanguagePrefix(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
            let len = e - s
            guard len >= 2 && len <= 12 else { return false }
            var k = s
            while k < e && b[k] >= 0x61 && b[k] <= 0x7A { k += 1 }
            let first = k - s
            if k == e && len == 6 { return equalsLowercase(b, s, e, "simple") }
            guard first == 2 || first == 3 else { return false }
            while k < e {
                guard b[k] == cMinus else { return false }
                k += 1
                let partStart = k
                while k < e && b[k] >= 0x61 && b[k] <= 0x7A { k += 1 }
                if k == partStart { return false }
            }
            for word: StaticString in ["mw", "wmf", "voy", "doi", "rfc", "bug"]
            where equalsLowercase(b, s, e, word) {
                return false
            }
            return true
        }

        /// Length of the URL scheme at `i` (`http://`, `//`, `mailto:`, …), or nil.
        private static func urlSchemeLength(_ b: Bytes, at i: Int, limit: Int) -> Int? {
            if i + 1 < limit && b[i] == cSlash && b[i + 1] == cSlash { return 2 }
            var k = i
            while k < limit && k - i < 12 && isAlpha(b[k]) { k += 1 }
            guard k < limit, k > i, b[k] == cColon else { return nil }
            let slashes = k + 2 < limit && b[k + 1] == cSlash && b[k + 2] == cSlash
            for scheme: StaticString in ["http", "https", "ftp", "ftps", "sftp", "irc", "ircs", "git", "svn",
                                         "ssh", "telnet", "gopher", "mms", "nntp", "worldwind", "redis"]
            where equalsLowercase(b, i, k, scheme) {
                return slashes ? k - i + 3 : nil
            }
            for scheme: StaticString in ["mailto", "news", "urn", "tel", "sip", "sips", "sms", "xmpp", "geo",
                                         "magnet", "bitcoin"]
            where equalsLowercase(b, i, k, scheme) {
                return k - i + 1
            }
            return nil
        }

        // MARK: Pass 5: lines

        @inline(never) static func linePass(_ b: Bytes, _ literals: LiteralStore) -> [UInt8] {
            var w = LineWriter(literals: literals)
            w.out.reserveCapacity(b.count)
            let n = b.count
            var ls = 0
            while ls < n {
                let le = find(cNewline, b, ls, n)
                w.line(b, ls, le)
                ls = le + 1
            }
            return w.out
        }

        // MARK: Redirects

        static func redirectTarget(_ b: Bytes) -> String? {
            let n = b.count
            var i = 0
            if n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { i = 3 }
            @inline(__always) func isSpace(_ c: UInt8) -> Bool {
                c == cSpace || c == cTab || c == cNewline || c == 0x0D
            }
            while i < n && isSpace(b[i]) { i += 1 }
            guard i + 9 <= n, b[i] == cHash, equalsLowercase(b, i + 1, i + 9, "redirect") else { return nil }
            i += 9
            while i < n && isSpace(b[i]) { i += 1 }
            if i < n && b[i] == cColon { i += 1 }
            while i < n && isSpace(b[i]) { i += 1 }
            guard i + 1 < n, b[i] == cLBracket, b[i + 1] == cLBracket else { return nil }
            i += 2
            let start = i
            while i < n {
                let c = b[i]
                if c == cRBracket || c == cPipe { break }
                if c == cLBracket || c == cNewline { return nil }
                i += 1
            }
            guard i < n, b[i] == cPipe || (i + 1 < n && b[i + 1] == cRBracket) else { return nil }
            var s = start
            var e = i
            @inline(__always) func isTrim(_ c: UInt8) -> Bool { c == cSpace || c == cTab || c == cUnderscore }
            while s < e && isTrim(b[s]) { s += 1 }
            if s < e && b[s] == cColon { s += 1 }
            while s < e && isTrim(b[s]) { s += 1 }
            while e > s && isTrim(b[e - 1]) { e -= 1 }
            guard e > s else { return nil }
            var out: [UInt8] = []
            var k = s
            while k < e {
                let c = b[k]
                if c == cUnderscore || c == cSpace || c == cTab {
                    if out.last != cSpace { out.append(cSpace) }
                    k += 1
                } else if c == cAmp, let (v, end) = decodeEntity(b, at: k, limit: e) {
                    appendScalar(v, to: &out)
                    k = end
                } else {
                    out.append(c)
                    k += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        // MARK: Character references

        /// The character reference at `b[i]` (an `&`): its scalar value and the index past the `;`, or nil.
        static func decodeEntity(_ b: Bytes, at i: Int, limit: Int) -> (UInt32, Int)? {
            var k = i + 1
            guard k < limit else { return nil }
            if b[k] == cHash {
                k += 1
                var hex = false
                if k < limit && (b[k] | 0x20) == 0x78 { hex = true; k += 1 }
                var v: UInt32 = 0
                var digits = 0
                while k < limit && digits <= 8 {
                    let c = b[k]
                    var d: UInt32
                    if isDigit(c) { d = UInt32(c - 0x30) }
                    else if hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 { d = UInt32((c | 0x20) - 0x61 + 10) }
                    else { break }
                    v = v &* (hex ? 16 : 10) &+ d
                    digits += 1
                    k += 1
                }
                guard digits > 0, digits <= 8, k < limit, b[k] == cSemicolon else { return nil }
                guard v > 0, v <= 0x10FFFF, !(v >= 0xD800 && v <= 0xDFFF) else { return nil }
                return (v, k + 1)
            }
            let s = k
            while k < limit && k - s <= 32 && isAlnum(b[k]) { k += 1 }
            guard k > s, k < limit, b[k] == cSemicolon else { return nil }
            let name = String(decoding: UnsafeBufferPointer(rebasing: b[s..<k]), as: UTF8.self)
            guard let v = namedEntities[name] else { return nil }
            return (v, k + 1)
        }

        static let namedEntities: [String: UInt32] = [
            "quot": 34, "amp": 38, "apos": 39, "lt": 60, "gt": 62,
            "nbsp": 160, "iexcl": 161, "cent": 162, "pound": 163, "curren": 164, "yen": 165, "brvbar": 166,
            "sect": 167, "uml": 168, "copy": 169, "ordf": 170, "laquo": 171, "not": 172, "shy": 173, "reg": 174,
            "macr": 175, "deg": 176, "plusmn": 177, "sup2": 178, "sup3": 179, "acute": 180, "micro": 181,
            "para": 182, "middot": 183, "cedil": 184, "sup1": 185, "ordm": 186, "raquo": 187, "frac14": 188,
            "frac12": 189, "frac34": 190, "iquest": 191, "Agrave": 192, "Aacute": 193, "Acirc": 194,
            "Atilde": 195, "Auml": 196, "Aring": 197, "AElig": 198, "Ccedil": 199, "Egrave": 200, "Eacute": 201,
            "Ecirc": 202, "Euml": 203, "Igrave": 204, "Iacute": 205, "Icirc": 206, "Iuml": 207, "ETH": 208,
            "Ntilde": 209, "Ograve": 210, "Oacute": 211, "Ocirc": 212, "Otilde": 213, "Ouml": 214, "times": 215,
            "Oslash": 216, "Ugrave": 217, "Uacute": 218, "Ucirc": 219, "Uuml": 220, "Yacute": 221, "THORN": 222,
            "szlig": 223, "agrave": 224, "aacute": 225, "acirc": 226, "atilde": 227, "auml": 228, "aring": 229,
            "aelig": 230, "ccedil": 231, "egrave": 232, "eacute": 233, "ecirc": 234, "euml": 235, "igrave": 236,
            "iacute": 237, "icirc": 238, "iuml": 239, "eth": 240, "ntilde": 241, "ograve": 242, "oacute": 243,
            "ocirc": 244, "otilde": 245, "ouml": 246, "divide": 247, "oslash": 248, "ugrave": 249, "uacute": 250,
            "ucirc": 251, "uuml": 252, "yacute": 253, "thorn": 254, "yuml": 255,
            "OElig": 338, "oelig": 339, "Scaron": 352, "scaron": 353, "Yuml": 376, "fnof": 402, "circ": 710,
            "tilde": 732,
            "Alpha": 913, "Beta": 914, "Gamma": 915, "Delta": 916, "Epsilon": 917, "Zeta": 918, "Eta": 919,
            "Theta": 920, "Iota": 921, "Kappa": 922, "Lambda": 923, "Mu": 924, "Nu": 925, "Xi": 926,
            "Omicron": 927, "Pi": 928, "Rho": 929, "Sigma": 931, "Tau": 932, "Upsilon": 933, "Phi": 934,
            "Chi": 935, "Psi": 936, "Omega": 937,
            "alpha": 945, "beta": 946, "gamma": 947, "delta": 948, "epsilon": 949, "zeta": 950, "eta": 951,
            "theta": 952, "iota": 953, "kappa": 954, "lambda": 955, "mu": 956, "nu": 957, "xi": 958,
            "omicron": 959, "pi": 960, "rho": 961, "sigmaf": 962, "sigma": 963, "tau": 964, "upsilon": 965,
            "phi": 966, "chi": 967, "psi": 968, "omega": 969, "thetasym": 977, "upsih": 978, "piv": 982,
            "ensp": 0x2002, "emsp": 0x2003, "thinsp": 0x2009, "zwnj": 0x200C, "zwj": 0x200D, "lrm": 0x200E,
            "rlm": 0x200F, "ndash": 0x2013, "mdash": 0x2014, "horbar": 0x2015, "lsquo": 0x2018, "rsquo": 0x2019,
            "sbquo": 0x201A, "ldquo": 0x201C, "rdquo": 0x201D, "bdquo": 0x201E, "dagger": 0x2020,
            "Dagger": 0x2021, "bull": 0x2022, "hellip": 0x2026, "permil": 0x2030, "prime": 0x2032,
            "Prime": 0x2033, "lsaquo": 0x2039, "rsaquo": 0x203A, "oline": 0x203E, "frasl": 0x2044,
            "euro": 0x20AC, "image": 0x2111, "weierp": 0x2118, "real": 0x211C, "trade": 0x2122,
            "alefsym": 0x2135, "larr": 0x2190, "uarr": 0x2191, "rarr": 0x2192, "darr": 0x2193, "harr": 0x2194,
            "crarr": 0x21B5, "lArr": 0x21D0, "uArr": 0x21D1, "rArr": 0x21D2, "dArr": 0x21D3, "hArr": 0x21D4,
            "forall": 0x2200, "part": 0x2202, "exist": 0x2203, "empty": 0x2205, "nabla": 0x2207, "isin": 0x2208,
            "notin": 0x2209, "ni": 0x220B, "prod": 0x220F, "sum": 0x2211, "minus": 0x2212, "lowast": 0x2217,
            "radic": 0x221A, "prop": 0x221D, "infin": 0x221E, "ang": 0x2220, "and": 0x2227, "or": 0x2228,
            "cap": 0x2229, "cup": 0x222A, "int": 0x222B, "there4": 0x2234, "sim": 0x223C, "cong": 0x2245,
            "asymp": 0x2248, "ne": 0x2260, "equiv": 0x2261, "le": 0x2264, "ge": 0x2265, "sub": 0x2282,
            "sup": 0x2283, "nsub": 0x2284, "sube": 0x2286, "supe": 0x2287, "oplus": 0x2295, "otimes": 0x2297,
            "perp": 0x22A5, "sdot": 0x22C5, "lceil": 0x2308, "rceil": 0x2309, "lfloor": 0x230A,
            "rfloor": 0x230B, "lang": 0x2329, "rang": 0x232A, "loz": 0x25CA, "spades": 0x2660, "clubs": 0x2663,
            "hearts": 0x2665, "diams": 0x2666,
        ]
    }

    // MARK: - Line writer

    /// The state of the line pass: output so far and paragraph bookkeeping.
    fileprivate struct LineWriter {
        let literals: LiteralStore
        var out: [UInt8] = []
        /// Whether any line has been written (no blank lines before the first).
        var wroteLine = false
        /// Whether an empty input line came since the last written line.
        var blankPending = false

        // Inline state, reset per line.
        private var lineStart = 0
        /// A removal mark came since the last byte written.
        private var markSeen = false
        /// `(` and `[` written on this line and not closed yet, innermost last; at most `maxOpen` are tracked.
        private var open: [OpenBracket] = []
        private static let maxOpen = 16

        private struct OpenBracket {
            /// Output index of the bracket.
            var at: Int
            /// `)` or `]`.
            var closer: UInt8
            /// Something other than blanks, `,` and `;` was written inside.
            var hasText = false
            /// Something inside was removed.
            var sawMark = false
        }

        init(literals: LiteralStore) { self.literals = literals }

        mutating func line(_ b: Bytes, _ ls: Int, _ le: Int) {
            var p = ls
            var q = le
            var removed = false
            while p < q && b[p] == removedMark { p += 1; removed = true }
            if removed { while p < q && isBlankOrMark(b[p]) { p += 1 } }
            while q > p && isBlankOrMark(b[q - 1]) {
                if b[q - 1] == removedMark { removed = true }
                q -= 1
            }
            if p == q {
                if !removed && wroteLine { blankPending = true }
                return
            }
            let rollback = out.count
            if wroteLine {
                out.append(cNewline)
                if blankPending { out.append(cNewline) }
            }
            lineStart = out.count
            markSeen = false
            open.removeAll(keepingCapacity: true)

            let first = b[p]
            if first == cEquals && b[q - 1] == cEquals {
                var l1 = 0
                while p + l1 < q && b[p + l1] == cEquals { l1 += 1 }
                if p + l1 < q {
                    var l2 = 0
                    while b[q - 1 - l2] == cEquals { l2 += 1 }
                    let level = min(l1, l2, 6)
                    p += level
                    q -= level
                    while p < q && isBlankOrMark(b[p]) { p += 1 }
                    while q > p && isBlankOrMark(b[q - 1]) { q -= 1 }
                }
            } else if first == cMinus && q - p >= 4 && b[p + 1] == cMinus && b[p + 2] == cMinus && b[p + 3] == cMinus {
                while p < q && b[p] == cMinus { p += 1 }
                while p < q && isBlankOrMark(b[p]) { p += 1 }
            } else if first == cStar || first == cHash || first == cColon || first == cSemicolon {
                while p < q && (b[p] == cStar || b[p] == cHash || b[p] == cColon || b[p] == cSemicolon) { p += 1 }
                while p < q && isBlankOrMark(b[p]) { p += 1 }
            }

            inline(b, p, q)
            trimTrailingSpace()
            // Kept-aside content may have ended the line with a newline and blanks.
            while out.count > lineStart && out[out.count - 1] == cNewline {
                out.removeLast()
                trimTrailingSpace()
            }
            if out.count == lineStart {
                out.removeSubrange(rollback...)
            } else {
                wroteLine = true
                blankPending = false
            }
        }

        private mutating func trimTrailingSpace() {
            while out.count > lineStart {
                let c = out[out.count - 1]
                if c == cSpace || c == cTab {
                    out.removeLast()
                } else if c == 0xA0 && out.count - 2 >= lineStart && out[out.count - 2] == 0xC2 {
                    out.removeLast(2)
                } else {
                    break
                }
            }
        }

        @inline(__always) private static func isSpecial(_ c: UInt8) -> Bool {
            switch c {
            case 0x00, literalOpen, literalClose, removedMark, cApos, cAmp, cUnderscore, cLParen, cRParen, cLBracket,
                 cRBracket:
                return true
            default: return false
            }
        }

        @inline(__always) private static func isPunctuation(_ c: UInt8) -> Bool {
            switch c {
            case cDot, cComma, cSemicolon, cColon, cBang, cQuestion, cRParen, cRBracket: return true
            default: return false
            }
        }

        @inline(__always) private mutating func emit(_ c: UInt8) {
            out.append(c)
            markSeen = false
            if !open.isEmpty && !open[open.count - 1].hasText
                && !(c == cSpace || c == cTab || c == cComma || c == cSemicolon) {
                open[open.count - 1].hasText = true
            }
        }

        @inline(__always) private mutating func noteText() {
            if !open.isEmpty { open[open.count - 1].hasText = true }
        }

        @inline(never) private mutating func inline(_ b: Bytes, _ p: Int, _ q: Int) {
            var j = p
            while j < q {
                // Fast path: copy a run of ordinary bytes.
                if !markSeen && (open.isEmpty || open[open.count - 1].hasText) {
                    let k = scan(b, j, q, word: { v in
                        bytesBelow(v, 0x04) | bytesEqual(v, cApos) | bytesEqual(v, cAmp) | bytesEqual(v, cUnderscore)
                            | bytesEqual(v, cLParen) | bytesEqual(v, cRParen) | bytesEqual(v, cLBracket)
                            | bytesEqual(v, cRBracket)
                    }, byte: { LineWriter.isSpecial($0) })
                    if k > j {
                        copy(b, j, k, into: &out)
                        j = k
                        if j >= q { break }
                    }
                }
                let c = b[j]
                switch c {
                case removedMark:
                    markSeen = true
                    if !open.isEmpty { open[open.count - 1].sawMark = true }
                    j += 1
                case 0x00, literalClose:
                    j += 1  // never produced by the earlier passes
                case literalOpen:
                    var k = j + 1
                    var index = 0
                    while k < q && isDigit(b[k]) { index = index * 10 + Int(b[k] - 0x30); k += 1 }
                    if k < q && b[k] == literalClose { k += 1 }
                    if index < literals.spans.count { appendLiteral(literals.spans[index]) }
                    markSeen = false
                    noteText()
                    j = k
                case cApos:
                    var k = j + 1
                    while k < q && b[k] == cApos { k += 1 }
                    let run = k - j
                    let keep = run == 1 ? 1 : run == 4 ? 1 : run > 5 ? run - 5 : 0
                    for _ in 0..<keep { emit(cApos) }
                    j = k
                case cAmp:
                    if let (v, end) = Converter.decodeEntity(b, at: j, limit: q) {
                        if v < 0x20 { emit(cSpace) }
                        else if v >= 0x7F && v < 0xA0 { markSeen = false }
                        else {
                            appendScalar(v, to: &out)
                            markSeen = false
                            noteText()
                        }
                        j = end
                    } else {
                        emit(c)
                        j += 1
                    }
                case cUnderscore:
                    if let end = magicWordEnd(b, j, q) {
                        markSeen = true
                        j = end
                    } else {
                        emit(c)
                        j += 1
                    }
                case cSpace, cTab:
                    if markSeen {
                        let last = out.count > lineStart ? out[out.count - 1] : 0
                        if last == 0 || last == cSpace || last == cTab || last == cLParen || last == cLBracket {
                            j += 1
                            continue
                        }
                    }
                    emit(c)
                    j += 1
                case cLParen, cLBracket:
                    if open.count < LineWriter.maxOpen {
                        // Not text for the enclosing bracket until it is closed with something in it.
                        out.append(c)
                        markSeen = false
                        open.append(OpenBracket(at: out.count - 1, closer: c == cLParen ? cRParen : cRBracket))
                    } else {
                        emit(c)
                    }
                    j += 1
                default:
                    if let top = open.last, c == top.closer {
                        open.removeLast()
                        if !top.hasText && top.sawMark {
                            // Only removed things were inside: drop the brackets too.
                            out.removeSubrange(top.at...)
                            markSeen = true
                            if !open.isEmpty { open[open.count - 1].sawMark = true }
                            j += 1
                            continue
                        }
                        noteText()
                    }
                    if markSeen && LineWriter.isPunctuation(c) {
                        if (c == cComma || c == cSemicolon), let top = open.last, out.count == top.at + 1 {
                            j += 1  // "(<removed>; born …" → "(born …"
                            continue
                        }
                        if out.count > lineStart && out[out.count - 1] == cSpace { out.removeLast() }
                    }
                    emit(c)
                    j += 1
                }
            }
        }

        /// End of a behaviour switch like `__NOTOC__` at `j`, or nil.
        private func magicWordEnd(_ b: Bytes, _ j: Int, _ q: Int) -> Int? {
            guard j + 1 < q, b[j + 1] == cUnderscore else { return nil }
            var k = j + 2
            while k < q && k - j < 40 && b[k] >= 0x41 && b[k] <= 0x5A { k += 1 }
            guard k - (j + 2) >= 2, k + 1 < q, b[k] == cUnderscore, b[k + 1] == cUnderscore else { return nil }
            return k + 2
        }

        /// Writes kept-aside content. Newlines in it start new lines (trailing spaces trimmed, at most one blank
        /// line in a row); newlines at its start and end are dropped, the line structure around it provides those.
        private mutating func appendLiteral(_ span: (start: Int, end: Int, decodeEntities: Bool)) {
            let store = literals.bytes
            store.withUnsafeBufferPointer { b in
                var newlines = 0
                var k = span.start
                while k < span.end {
                    let c = b[k]
                    if c == cNewline {
                        newlines += 1
                        k += 1
                        continue
                    }
                    if newlines > 0 {
                        trimTrailingSpace()
                        if out.count > lineStart {
                            var existing = 0
                            while existing < 2 && out.count - existing > lineStart
                                && out[out.count - 1 - existing] == cNewline { existing += 1 }
                            let total = min(2, existing + newlines)
                            for _ in existing..<max(existing, total) { out.append(cNewline) }
                        }
                        newlines = 0
                    }
                    if c == cAmp && span.decodeEntities,
                       let (v, end) = Converter.decodeEntity(b, at: k, limit: span.end) {
                        appendScalar(v < 0x20 ? 0x20 : v, to: &out)
                        k = end
                    } else {
                        out.append(c)
                        k += 1
                    }
                }
            }
        }
    }
}
