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

    // MARK: Kept templates

    func testSmallCapsKeepTheirText() {
        XCTAssertEqual(plain("the word of the {{sc|Lord}} that came"), "the word of the Lord that came")
        XCTAssertEqual(plain("{{Sc|Lord}}, {{smallcaps|God}}, {{Smallcaps|Jah}}, {{small caps|Amen}}, "
                                 + "{{Small_caps|Selah}}"),
                       "Lord, God, Jah, Amen, Selah")
        // Only the first letter is case-insensitive, as in MediaWiki.
        XCTAssertEqual(plain("{{SC|x}} {{SmallCaps|y}} z"), "z")
    }

    func testFormattingTemplatesKeepTheirFirstArgument() {
        XCTAssertEqual(plain("{{nowrap|Denis Howe}} {{Nobr|a b}} {{small|c}} {{big|d}} {{em|e}} {{strong|f}} "
                                 + "{{var|g}} {{mvar|h}} {{code|i < j}}"),
                       "Denis Howe a b c d e f g h i < j")
        XCTAssertEqual(plain("The {{abbr|UK|United Kingdom}} and {{ill|Foo|de|Foo (Begriff)}} and "
                                 + "{{Interlanguage link|Bar|fr}} and {{interlanguage_link|Baz|de}}."),
                       "The UK and Foo and Bar and Baz.")
        XCTAssertEqual(plain("{{ nowrap |a}} {{not_a__typo|b}} {{Not a typo\n|c}}"), "a b c")
    }

    func testLangKeepsItsSecondArgument() {
        XCTAssertEqual(plain("He said {{lang|fr|bonjour}}."), "He said bonjour.")
        XCTAssertEqual(plain("{{Lang|de|''Angst''|italic=no}} and {{lang|la}}."), "Angst and.")
        XCTAssertEqual(plain("{{lang|ja|日本語}} text"), "日本語 text")
    }

    func testNotATypoAndSicJoinTheirArguments() {
        XCTAssertEqual(plain("a little {{not a typo|english}} on it, {{Not a typo|patt|ern}}"),
                       "a little english on it, pattern")
        XCTAssertEqual(plain("{{sic|hte}} {{sic|Irrega|rdless}} {{sic|?|Teh}} {{Sic|?|Ab|out}} {{sic|nolink=y|x}}"),
                       "hte Irregardless Teh About x")
        XCTAssertEqual(plain("A {{sic}} B {{sic|?}} C"), "A B C")
    }

    func testNamedArgumentsAreNotPositional() {
        XCTAssertEqual(plain("{{lang|fr|italic=yes|bonjour}}"), "bonjour")
        XCTAssertEqual(plain("{{abbr|title=Ignored|UK|United Kingdom}}"), "UK")
        XCTAssertEqual(plain("A {{nowrap|style=x}} B"), "A B")
        // `1=` and `2=` set positional arguments (their values trimmed); a later definition wins.
        XCTAssertEqual(plain("{{code|1=x = 1}} and {{lang|2= salut |1=fr}} and {{sc|a|1=b}}"), "x = 1 and salut and b")
        // `|` and `=` inside links and nested templates belong to them.
        XCTAssertEqual(plain("{{sc|[[a=b|c]]}} {{nowrap|{{x|y=z}}w}}"), "c w")
    }

    func testKeptTextGoesThroughLinksQuotesAndNestedTemplates() {
        XCTAssertEqual(plain("the {{sc|[[Lord]]}} God"), "the Lord God")
        XCTAssertEqual(plain("the {{nowrap|[[Old Testament|OT]] books}}"), "the OT books")
        XCTAssertEqual(plain("{{nowrap|5 {{sc|kg}}}}"), "5 kg")
        XCTAssertEqual(plain("{{nowrap|a {{sc|b {{em|c}} d}} e}}"), "a b c d e")
        XCTAssertEqual(plain("{{lang|{{x}}|bon{{sc|jour}}|{{y}}}}"), "bonjour")
        XCTAssertEqual(plain("{{nowrap|''{{lang|fr|très}}'' bien}}"), "très bien")
        XCTAssertEqual(plain("{{sic|{{sc|A}}b|{{sc|c}}}}"), "Abc")
        XCTAssertEqual(plain("{{lang|2={{sc|b}}|1={{sc|a}}}}"), "b")
        XCTAssertEqual(plain("{{sic|2={{sc|b}}|1={{sc|a}}}}"), "ab")
    }

    func testRemovedTemplatesNextToKeptOnes() {
        XCTAssertEqual(plain("The {{sc|Lord}}{{efn|A note}} said {{cn}}."), "The Lord said.")
        XCTAssertEqual(plain("{{cn}}{{nowrap|Denis Howe}} wrote"), "Denis Howe wrote")
        XCTAssertEqual(plain("{{nowrap|5 km{{efn|about}}}} away"), "5 km away")
        XCTAssertEqual(plain("{{math|x + y}} and {{nowrap|{{math|z}}}} gone"), "and gone")
        XCTAssertEqual(plain("{{Infobox|name={{sc|Lord}}}}Text"), "Text")
        XCTAssertEqual(plain("{{lang|fr|{{cn}}}} x ({{sc|{{IPA|y}}}})"), "x")
    }

    func testUnbalancedKeptTemplatesAreRemovedAsBefore() {
        XCTAssertEqual(plain("A {{sc|[[Lord}} B"), "A B")
        XCTAssertEqual(plain("A {{sc|Lord]]}} B"), "A B")
        XCTAssertEqual(plain("A {{sc|Lord B"), "A {{sc|Lord B")
        XCTAssertEqual(plain("A {{sc|Lord}}}} B"), "A Lord}} B")
        XCTAssertEqual(plain("A {{sc}} {{sc|}} {{lang|fr}} {{{sc|x}}} B"), "A B")
        XCTAssertEqual(plain("A {{sc|x {{b}} C"), "A {{sc|x C")
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
            ("{{x}})", "removal and parentheses"), ("{{sc|", "kept template openers"),
            ("{{sc|[[a|", "links in kept template openers"), ("{{sic|?|a|2=b}}", "kept templates"),
        ]
        for (unit, name) in patterns {
            assertFast(String(repeating: unit, count: n), name)
        }
        // Deeply nested but balanced constructs.
        assertFast(String(repeating: "{{a|", count: n) + String(repeating: "}}", count: n), "nested templates")
        assertFast(String(repeating: "[[a|", count: n) + String(repeating: "]]", count: n), "nested links")
        XCTAssertEqual(assertFast(String(repeating: "{{sc|a", count: n) + String(repeating: "}}", count: n),
                                  "nested kept templates"), String(repeating: "a", count: n))
        XCTAssertEqual(assertFast(String(repeating: "{{lang|{{x}}|a", count: n)
                                      + String(repeating: "|{{y}}}}", count: n),
                                  "nested kept templates with removed ones"), String(repeating: "a", count: n))
        assertFast(String(repeating: "{|\n", count: n) + String(repeating: "|}\n", count: n), "nested tables")
    }
}
