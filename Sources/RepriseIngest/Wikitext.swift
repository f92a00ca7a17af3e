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
        let bytes = s.withUTF8 { convert($0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The target of a redirect page (`#REDIRECT [[Target]]`, case-insensitive, optional colon/spaces),
    /// or nil. The target is returned as written, trimmed, with a leading colon dropped, underscores read as
    /// spaces and character references decoded; a `#Section` part is kept.
    public static func redirectTarget(_ wikitext: String) -> String? {
        var s = wikitext
        return s.withUTF8 { redirectTarget($0) }
    }
}

// Everything below is internal to the conversion; it is nested in `Wikitext` so that its short names cannot
// clash with declarations elsewhere in the module. The passes live beside this file: WikitextTags.swift (1),
// WikitextTemplates.swift (2), WikitextLinks.swift (3 and 4), WikitextLines.swift (5, redirects, character
// references, the line writer).
extension Wikitext {
    // MARK: - Bytes

    static let removedMark: UInt8 = 0x03
    static let literalOpen: UInt8 = 0x01
    static let literalClose: UInt8 = 0x02

    static let cNewline: UInt8 = 0x0A
    static let cTab: UInt8 = 0x09
    static let cSpace: UInt8 = 0x20
    static let cBang: UInt8 = 0x21
    static let cQuote: UInt8 = 0x22
    static let cHash: UInt8 = 0x23
    static let cAmp: UInt8 = 0x26
    static let cApos: UInt8 = 0x27
    static let cLParen: UInt8 = 0x28
    static let cRParen: UInt8 = 0x29
    static let cStar: UInt8 = 0x2A
    static let cComma: UInt8 = 0x2C
    static let cMinus: UInt8 = 0x2D
    static let cDot: UInt8 = 0x2E
    static let cSlash: UInt8 = 0x2F
    static let cColon: UInt8 = 0x3A
    static let cSemicolon: UInt8 = 0x3B
    static let cLT: UInt8 = 0x3C
    static let cEquals: UInt8 = 0x3D
    static let cGT: UInt8 = 0x3E
    static let cQuestion: UInt8 = 0x3F
    static let cLBracket: UInt8 = 0x5B
    static let cRBracket: UInt8 = 0x5D
    static let cUnderscore: UInt8 = 0x5F
    static let cLBrace: UInt8 = 0x7B
    static let cPipe: UInt8 = 0x7C
    static let cRBrace: UInt8 = 0x7D

    @inline(__always) static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
    @inline(__always) static func isBlank(_ c: UInt8) -> Bool { c == cSpace || c == cTab }
    /// Space, tab or a removal mark: what is invisible at the ends of a line.
    @inline(__always) static func isBlankOrMark(_ c: UInt8) -> Bool {
        c == cSpace || c == cTab || c == removedMark
    }

    typealias Bytes = UnsafeBufferPointer<UInt8>


    // MARK: - Word-at-a-time scanning

    static let onesWord: UInt64 = 0x0101_0101_0101_0101
    static let highsWord: UInt64 = 0x8080_8080_8080_8080

    /// Flags (high bit) the bytes of `v` below `c` (`c` ≤ 0x80); exact for the lowest flagged byte, which is all
    /// `scan` uses.
    @inline(__always) static func bytesBelow(_ v: UInt64, _ c: UInt8) -> UInt64 {
        (v &- onesWord &* UInt64(c)) & ~v & highsWord
    }
    /// Flags the bytes of `v` equal to `c`; exact for the lowest flagged byte.
    @inline(__always) static func bytesEqual(_ v: UInt64, _ c: UInt8) -> UInt64 {
        bytesBelow(v ^ (onesWord &* UInt64(c)), 1)
    }

    /// Index of the first byte of `b[from..<to]` that `byte` accepts, `to` if none. `word` must flag, for eight
    /// bytes loaded little-endian, exactly the bytes `byte` accepts (at least the lowest one).
    @inline(__always) static func scan(_ b: Bytes, _ from: Int, _ to: Int, word: (UInt64) -> UInt64,
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
    @inline(__always) static func find(_ c: UInt8, _ b: Bytes, _ from: Int, _ to: Int) -> Int {
        scan(b, from, to, word: { bytesEqual($0, c) }, byte: { $0 == c })
    }

    /// Appends `b[from..<to]` to `out`.
    @inline(__always) static func copy(_ b: Bytes, _ from: Int, _ to: Int, into out: inout [UInt8]) {
        if to > from { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[from..<to])) }
    }

    /// Appends the UTF-8 of a Unicode scalar value known to be valid.
    static func appendScalar(_ v: UInt32, to out: inout [UInt8]) {
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
    struct LiteralStore {
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
}
