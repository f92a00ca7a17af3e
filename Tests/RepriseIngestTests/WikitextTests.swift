import RepriseIngest
import XCTest

final class WikitextTests: XCTestCase {
    private func plain(_ s: String) -> String { Wikitext.plainText(s) }

    // MARK: Templates

    func testInfoboxSpanningLinesIsRemoved() {
        let input = """
            {{Infobox settlement
            | name       = Paris
            | image      = {{Photo montage|Eiffel.jpg|Louvre.jpg}}
            | population = 2,165,423<ref name="pop">{{cite web|url=http://insee.fr|title=Population}}</ref>
            | mayor      = [[Anne Hidalgo]]
            }}
            '''Paris''' is the capital of [[France]].
            """
        XCTAssertEqual(plain(input), "Paris is the capital of France.")
    }

    func testNestedTemplatesParametersAndParserFunctions() {
        XCTAssertEqual(plain("A {{a|{{b|{{c}}}}|x={{d}}}} B"), "A B")
        XCTAssertEqual(plain("A {{{1|default}}} B {{{{{x}}}}} C"), "A B C")
        XCTAssertEqual(plain("Year: {{#if:{{{year|}}}|{{{year}}}|unknown}}."), "Year:.")
        XCTAssertEqual(plain("{{DISPLAYTITLE:''Foo''}}{{PAGENAME}} text"), "text")
    }

    func testTemplateInsideSentenceLeavesCleanSpacing() {
        XCTAssertEqual(plain("Paris {{citation needed|date=May 2020}}. Next {{x}}, then {{y}} end."),
                       "Paris. Next, then end.")
        XCTAssertEqual(plain("'''Paris''' ({{IPA-fr|paʁi|lang}}) is a city."), "Paris is a city.")
        XCTAssertEqual(plain("'''Curie''' ({{IPA|x}}; 7 November 1867) was"), "Curie (7 November 1867) was")
        XCTAssertEqual(plain("Keep (this) and (that, too)."), "Keep (this) and (that, too).")
        XCTAssertEqual(plain("Aussprache [{{IPA|moʊˈzɪlə}}] und () bleibt."), "Aussprache und () bleibt.")
    }

    func testMagicWordsAreRemoved() {
        XCTAssertEqual(plain("__NOTOC__\nText __NOEDITSECTION__ here.\n__TOC__"), "Text here.")
        XCTAssertEqual(plain("snake __init__ stays"), "snake __init__ stays")
    }

    // MARK: Tables

    func testTableWithLinksInsideIsRemoved() {
        let input = """
            Before the table.
            {| class="wikitable"
            |+ Results
            |-
            ! Year !! Winner
            |-
            | [[1998]] || [[France national football team|France]]
            |-
            | 2002 || {{fb|BRA}}
            |}
            After the table.
            """
        XCTAssertEqual(plain(input), "Before the table.\nAfter the table.")
    }

    func testNestedTablesAreRemoved() {
        let input = """
            A
            {|
            | outer
            |
            {|
            | inner
            |}
            | more outer
            |}
            B
            """
        XCTAssertEqual(plain(input), "A\nB")
    }

    func testTableInsideTemplateAndIndentedTable() {
        XCTAssertEqual(plain("A\n{{Box|\n{|\n| x\n|}\n}}\nB"), "A\nB")
        XCTAssertEqual(plain("A\n:{|\n| x\n|}\nB"), "A\nB")
    }

    func testUnclosedTableLosesOnlyItsTableLines() {
        XCTAssertEqual(plain("A\n{| class=x\n|-\n| cell\n! head\nProse goes on.\n\nB"), "A\nProse goes on.\n\nB")
    }

    // MARK: Tags

    func testRefsAreRemovedWithTheirContent() {
        let input = """
            Paris has 2.1 million people.<ref name="insee">{{cite web |url=http://insee.fr |title=Pop}}</ref> \
            It is old.<ref>Smith, ''History'', p. 4</ref><ref name="b" /><ref name=c/> It is big.\
            <ref group="note">A [[note]].</ref>
            == References ==
            <references />
            {{Reflist}}
            """
        XCTAssertEqual(plain(input), "Paris has 2.1 million people. It is old. It is big.\nReferences")
    }

    func testReferencesElementWithContentIsRemoved() {
        XCTAssertEqual(plain("Text.\n<references>\n<ref name=a>A</ref>\n</references>\nEnd."), "Text.\nEnd.")
    }

    func testCommentsAreRemoved() {
        XCTAssertEqual(plain("Visible<!-- hidden [[link]] {{t}} --> text."), "Visible text.")
        XCTAssertEqual(plain("Line one.\n<!-- a whole line -->\nLine two."), "Line one.\nLine two.")
        XCTAssertEqual(plain("Kept. <!-- never closed\nLost line."), "Kept.")
    }

    func testNowikiKeepsItsContentLiterally() {
        XCTAssertEqual(plain("Write <nowiki>[[link]] and {{template}} and ''quotes''</nowiki> like that."),
                       "Write [[link]] and {{template}} and ''quotes'' like that.")
        XCTAssertEqual(plain("<nowiki>* not a list</nowiki>"), "* not a list")
        XCTAssertEqual(plain("<nowiki>&lt;b&gt;</nowiki>"), "<b>")
        XCTAssertEqual(plain("[[apple]]<nowiki/>s"), "apples")
        XCTAssertEqual(plain("<nowiki><!-- shown --></nowiki>"), "<!-- shown -->")
    }

    func testMathGalleryAndScoreAreRemoved() {
        let input = """
            The energy is <math>E = mc^2</math> where it holds.
            <gallery>
            File:A.jpg|A [[caption]]
            File:B.jpg
            </gallery>
            <score>\\relative c' { c d e }</score>
            End.
            """
        XCTAssertEqual(plain(input), "The energy is where it holds.\nEnd.")
    }

    func testCodeBlocksAreKeptVerbatim() {
        let input = """
            Example:
            <syntaxhighlight lang="python">
            if a < b and x['k'] == "''":
                print("[[not a link]] &amp;")
            </syntaxhighlight>
            <pre>
            {{not a template}} &amp;
            </pre>
            Done.
            """
        XCTAssertEqual(plain(input), """
            Example:
            if a < b and x['k'] == "''":
                print("[[not a link]] &amp;")
            {{not a template}} &
            Done.
            """)
    }

    func testFormattingTagsKeepTheirText() {
        let input = """
            <div class="hatnote">See also
            </div>
            <center>Centered</center> <span style="color:red">red</span> <small>small</small> E=mc<sup>2</sup>.
            <blockquote>Quoted '''text'''.</blockquote>
            <poem>
            Line one
            Line two
            </poem>
            """
        XCTAssertEqual(plain(input), "See also\nCentered red small E=mc2.\nQuoted text.\nLine one\nLine two")
    }

    func testLineBreakTagsBecomeNewlines() {
        XCTAssertEqual(plain("One<br>Two<br/>Three<br />Four</br>Five<BR>Six"), "One\nTwo\nThree\nFour\nFive\nSix")
    }

    func testUnknownTagNamesAreText() {
        XCTAssertEqual(plain("If a < b and List<T> or <foo> then."), "If a < b and List<T> or <foo> then.")
        XCTAssertEqual(plain("An unclosed <ref>reference goes on."), "An unclosed reference goes on.")
        XCTAssertEqual(plain("Broken <span title=\"x\" tag"), "Broken <span title=\"x\" tag")
    }

    // MARK: Links

    func testInternalLinks() {
        XCTAssertEqual(plain("[[Paris|the capital]] of [[France]], [[apple]]s and [[Seine#Course|the river]]."),
                       "the capital of France, apples and the river.")
        XCTAssertEqual(plain("[[New_York_City]] [[ Spaced ]]"), "New York City Spaced")
        XCTAssertEqual(plain("[[Anne (disambiguation)|]], [[Help:Editing|]] and [[Paris, Texas|]]"),
                       "Anne, Editing and Paris")
        XCTAssertEqual(plain("[[Link|''italic'' label]]"), "italic label")
    }

    func testFileLinkWithNestedLinksInCaptionIsRemoved() {
        let input = """
            [[File:Paris Night.jpg|thumb|left|upright=1.2|The [[Seine]] at night, seen from [[Pont Neuf|the bridge]]]]
            Paris is large.[[Image:Map.png|200px]] [[media:Sound.ogg]]
            """
        XCTAssertEqual(plain(input), "Paris is large.")
    }

    func testCategoriesAndInterlanguageLinksAreRemoved() {
        let input = """
            Text.

            [[Category:Capitals in Europe|Paris]]
            [[category:Cities]]
            [[de:Paris]]
            [[zh-yue:巴黎]]
            [[simple:Paris]]
            """
        XCTAssertEqual(plain(input), "Text.")
        XCTAssertEqual(plain("See [[:Category:Capitals|the capitals]] and [[:Category:Cities]]."),
                       "See the capitals and Category:Cities.")
        XCTAssertEqual(plain("See [[wikt:word|word]] and [[WP:NPOV]]."), "See word and WP:NPOV.")
    }

    func testOtherLanguagesFileAndCategoryLinksAreRemoved() {
        let input = """
            [[Datei:Firefox 50.1.0.PNG|mini|Firefox unter [[Windows 10]]]]
            Firefox ist ein [[Webbrowser]].
            [[Kategorie:Webbrowser]]
            [[Catégorie:Navigateur_web]]
            [[Категория:Браузеры]]
            """
        XCTAssertEqual(plain(input), "Firefox ist ein Webbrowser.")
    }

    func testExternalLinks() {
        XCTAssertEqual(plain("See [http://example.com/a?b=c&d=e the ''site''] or [https://example.org]."),
                       "See the site or.")
        XCTAssertEqual(plain("[//example.com relative] [mailto:a@b.org mail] [ftp://x.org/f file]"),
                       "relative mail file")
        XCTAssertEqual(plain("Bare http://example.com stays, [not a link] too."),
                       "Bare http://example.com stays, [not a link] too.")
        XCTAssertEqual(plain("Doubled [[http://example.com label]] brackets."), "Doubled [label] brackets.")
    }

    // MARK: Quotes

    func testBoldAndItalicQuotesAreRemoved() {
        XCTAssertEqual(plain("''italic'', '''bold''', '''''both''''' and don't or the students' books."),
                       "italic, bold, both and don't or the students' books.")
        XCTAssertEqual(plain("''''four'''' and ''''''''eight''''''''"), "'four' and '''eight'''")
    }

    // MARK: Lines

    func testHeadingsBecomeLines() {
        let input = """
            Intro.

            == History ==
            Old.
            === Early ''years'' ===
            Older.
            ====Deep====<!-- comment -->
            ==Unbalanced===
            == ==
            """
        XCTAssertEqual(plain(input), "Intro.\n\nHistory\nOld.\nEarly years\nOlder.\nDeep\nUnbalanced=")
    }

    func testListMarkersAreRemoved() {
        let input = """
            * First [[item]]
            ** Nested item
            # Numbered
            #: Continued
            : Indented
            ; Term
            *{{Empty}}
            """
        XCTAssertEqual(plain(input), "First item\nNested item\nNumbered\nContinued\nIndented\nTerm")
    }

    func testHorizontalRuleIsRemoved() {
        XCTAssertEqual(plain("Above.\n----\nBelow.\n------ text after rule"), "Above.\nBelow.\ntext after rule")
    }

    func testEntitiesAreDecoded() {
        XCTAssertEqual(plain("AT&amp;T, 5&nbsp;km, 1914&ndash;1918 &mdash; &lt;tag&gt; &quot;q&quot; "
                                 + "&eacute;t&eacute;"),
                       "AT&T, 5\u{A0}km, 1914–1918 — <tag> \"q\" été")
        XCTAssertEqual(plain("&#123; &#x2014; &#X41; &#8364;"), "{ — A €")
        XCTAssertEqual(plain("&bogus; &#xD800; &#0; & amp; AT&T"), "&bogus; &#xD800; &#0; & amp; AT&T")
        XCTAssertEqual(plain("&amp;lt; is not decoded twice"), "&lt; is not decoded twice")
    }

    func testWhitespaceIsNormalised() {
        let input = "\n\n  \nFirst line.   \n\n\n\nSecond line.\t\n{{Template only}}\n[[Category:X]]\nThird.\n\n\n"
        XCTAssertEqual(plain(input), "First line.\n\nSecond line.\nThird.")
        XCTAssertEqual(plain("A\n\n{{t}}\n\nB"), "A\n\nB")
        XCTAssertEqual(plain("Windows\r\nline\r\nends"), "Windows\nline\nends")
    }

    func testEmptyAndPlainInput() {
        XCTAssertEqual(plain(""), "")
        XCTAssertEqual(plain("Just text."), "Just text.")
        XCTAssertEqual(plain("Ünïcödé ✓ 日本語 [[東京|とうきょう]]"), "Ünïcödé ✓ 日本語 とうきょう")
    }

    func testRealisticArticle() {
        let input = """
            {{Short description|Capital of France}}
            {{Use dmy dates|date=May 2020}}
            {{Infobox settlement
            | name = Paris
            | coordinates = {{coord|48|51|N|2|21|E|display=inline,title}}
            }}
            '''Paris''' ({{IPA-fr|paʁi|lang}}) is the [[capital city|capital]] of [[France]].\
            <ref>{{cite web|url=http://x|title=X}}</ref> \
            It covers 105&nbsp;km<sup>2</sup>.{{sfn|Smith|2001|p=3}}

            == History ==
            [[File:Lutetia.jpg|thumb|Map of [[Lutetia]]]]
            The [[Parisii (Gaul)|Parisii]] settled there in the 3rd century BC.

            === Middle Ages ===
            * [[Clovis I]] made it his capital.
            * The [[University of Paris|university]] was founded.

            == See also ==
            {{Portal|France}}
            * [[List of cities in France]]

            == References ==
            {{Reflist}}

            [[Category:Paris]]
            [[fr:Paris]]
            """
        XCTAssertEqual(plain(input), """
            Paris is the capital of France. It covers 105\u{A0}km2.

            History
            The Parisii settled there in the 3rd century BC.

            Middle Ages
            Clovis I made it his capital.
            The university was founded.

            See also
            List of cities in France

            References
            """)
    }

    // MARK: Redirects

    func testRedirectTargets() {
        XCTAssertEqual(Wikitext.redirectTarget("#REDIRECT [[Target page]]"), "Target page")
        XCTAssertEqual(Wikitext.redirectTarget("#redirect[[Target_page]]"), "Target page")
        XCTAssertEqual(Wikitext.redirectTarget("#Redirect: [[ Target#Section |label]]"), "Target#Section")
        XCTAssertEqual(Wikitext.redirectTarget("\n  #REDIRECT : [[:Category:Foo]]\n{{R from move}}"), "Category:Foo")
        XCTAssertEqual(Wikitext.redirectTarget("\u{FEFF}#REDIRECT [[AT&amp;T]]"), "AT&T")
        XCTAssertNil(Wikitext.redirectTarget("Text then #REDIRECT [[Target]]"))
        XCTAssertNil(Wikitext.redirectTarget("#REDIRECTION [[Target]]"))
        XCTAssertNil(Wikitext.redirectTarget("#REDIRECT [[]]"))
        XCTAssertNil(Wikitext.redirectTarget("#REDIRECT [[Broken"))
        XCTAssertNil(Wikitext.redirectTarget("# list item"))
        XCTAssertEqual(Wikitext.plainText("#REDIRECT [[Target]]\n[[Category:Redirects]]"), "")
    }

    // MARK: Malformed input

    func testUnbalancedMarkupIsText() {
        XCTAssertEqual(plain("Stray }} and ]] and |} stay."), "Stray }} and ]] and |} stay.")
        XCTAssertEqual(plain("Open {{ never closed, [[ never closed, [http://x never closed."),
                       "Open {{ never closed, [[ never closed, [http://x never closed.")
        XCTAssertEqual(plain("{{a}} {{b {{c}} d"), "{{b d")
        XCTAssertEqual(plain("[[a [[b]] c"), "[[a b c")
        XCTAssertEqual(plain("[[a\nb]] [[{{x}}]] ([{{y}}]) (a [{{z}}])"), "[[a\nb]] (a)")
    }

    /// Converts `input`, failing when that takes more than `limit` seconds (a generous bound for debug builds:
    /// quadratic behaviour on these inputs would take minutes). Returns the text.
    @discardableResult
    private func assertFast(_ input: String, _ name: String, limit: Double = 5.0) -> String {
        let clock = ContinuousClock()
        var out = ""
        let elapsed = clock.measure {
            out = Wikitext.plainText(input)
            _ = Wikitext.redirectTarget(input)
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        XCTAssertLessThan(seconds, limit, "\(name): \(seconds)s")
        XCTAssertLessThanOrEqual(out.utf8.count, input.utf8.count * 2, name)
        return out
    }

    func testOneMegabyteOfOpenersIsFast() {
        let mb = 1 << 20
        let braces = String(repeating: "{{", count: mb / 2)
        XCTAssertEqual(assertFast(braces, "{{"), braces)
        let brackets = String(repeating: "[[", count: mb / 2)
        XCTAssertEqual(assertFast(brackets, "[["), brackets)
        let unclosed = String(repeating: "{{a|", count: mb / 4)
        XCTAssertEqual(assertFast(unclosed, "{{a|"), unclosed)
    }

    func testRandomBytesAreFast() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for i in bytes.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        assertFast(String(decoding: bytes, as: UTF8.self), "random bytes")
        // Random markup characters exercise every construct at once.
        let alphabet = Array("{}[]|<>/!-='&#;:*\n abrefhtp".utf8)
        for i in bytes.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = alphabet[Int(state >> 33) % alphabet.count]
        }
        assertFast(String(decoding: bytes, as: UTF8.self), "random markup")
    }

    func testPathologicalPatternsAreFast() {
        let n = 1 << 16
        let patterns: [(String, String)] = [
            ("{{a|", "template openers"), ("[[a|", "link openers"), ("[[a", "invalid link openers"),
            ("<ref>", "unclosed refs"), ("<nowiki>", "unclosed nowiki"), ("<span title=\"", "unclosed attribute"),
            ("<!--", "comment openers"), ("{|\nx\n", "table openers"), ("[http://x ", "external link openers"),
            ("'''''", "quotes"), ("&#x", "entity openers"), ("(", "parentheses"), ("{{{", "parameter openers"),
            ("[[File:x|", "file openers"), ("}}", "closers"), ("]]", "link closers"), ("=", "equals"),
            ("{{x}})", "removal and parentheses"),
        ]
        for (unit, name) in patterns {
            assertFast(String(repeating: unit, count: n), name)
        }
        // Deeply nested but balanced constructs.
        assertFast(String(repeating: "{{a|", count: n) + String(repeating: "}}", count: n), "nested templates")
        assertFast(String(repeating: "[[a|", count: n) + String(repeating: "]]", count: n), "nested links")
        assertFast(String(repeating: "{|\n", count: n) + String(repeating: "|}\n", count: n), "nested tables")
    }
}
