import Foundation
import RepriseCore
import RepriseIngest
import XCTest

final class ReaderTests: XCTestCase {
    func testPlainTextOneDocumentPerFileWithIdAndSource() throws {
        let s = Scratch()
        s.write("b.txt", "Second file.\n")
        s.write("a/one.txt", "First file,\r\nwith two lines.")
        let m = try s.ingest()
        let recs = try s.records()
        XCTAssertEqual(recs.map { $0["text"] as? String }, ["First file,\nwith two lines.", "Second file."])
        // Named after the input directory (`in`), not after where it lies.
        XCTAssertEqual(recs.map { $0["id"] as? String }, ["in/a/one.txt:0", "in/b.txt:0"])
        XCTAssertEqual(recs.map { $0["source"] as? String }, ["in/a/one.txt", "in/b.txt"])
        XCTAssertEqual(m.inputs.map(\.kind), [.text, .text])
    }

    func testJSONLTextFieldMetadataAndEscapes() throws {
        let s = Scratch()
        s.write("d.jsonl", """
        {"id": 7, "body": "caf\\u00e9 \\ud83d\\ude00 tab\\tend", "tags": ["a", {"b": null}], "score": -1.5e3}
        {"body": "second", "title": "T"}

        """)
        var c = Scratch.permissive
        c.textField = ["body"]
        let m = try s.ingest(config: c)
        let recs = try s.records()
        XCTAssertEqual(recs.count, 2)
        XCTAssertEqual(recs[0]["text"] as? String, "café 😀 tab end")
        XCTAssertEqual(recs[0]["id"] as? String, "7", "the record's own id is the document id")
        XCTAssertNil(recs[0]["input_id"])
        XCTAssertEqual((recs[0]["tags"] as? [Any])?.count, 2)
        XCTAssertEqual(recs[0]["score"] as? Double, -1500)
        XCTAssertEqual(recs[1]["title"] as? String, "T")
        XCTAssertEqual(m.inputs[0].status, "ok")
        XCTAssertEqual(m.inputs[0].kind, .jsonl)
    }

    func testHTMLMainTextTitleAndBlocks() throws {
        let s = Scratch()
        s.write("page.html", """
        <!DOCTYPE html><html><head><title> The  Title </title><style>p{color:red}</style>
        <script>var hidden = "script text";</script></head>
        <body><header>Site header</header><nav><a href="/">Home</a></nav>
        <main><h1>Heading</h1><p>First <b>bold</b> and <i>italic</i>
        words.</p><ul><li>one</li><li>two</li></ul><pre>code
          indented</pre><table><tr><td>c1</td><td>c2</td></tr></table>
        <aside>Related links</aside></main><footer>Copyright</footer>
        <noscript>enable js</noscript></body></html>
        """)
        _ = try s.ingest()
        let rec = try s.records()[0]
        XCTAssertEqual(rec["title"] as? String, "The Title")
        XCTAssertEqual(rec["text"] as? String, "Heading\nFirst bold and italic words.\none\ntwo\ncode\nindented\nc1 c2")
    }

    func testHTMLFurnitureMarkedByRoleOrClassIsLeftOut() throws {
        let s = Scratch()
        s.write("doc.html", """
        <html><body><div class="related" role="navigation"><a>index</a> | <a>next</a></div>
        <div class="document"><p>The body text.</p></div>
        <div class="sphinxsidebar" role="navigation"><h3>Previous topic</h3></div>
        <div class="footer">Copyright notice</div><div id="breadcrumbs">Home &gt; Docs</div>
        <div class="menu-like">kept: not an exact class word</div></body></html>
        """)
        _ = try s.ingest()
        XCTAssertEqual(try s.texts(), ["The body text.\nkept: not an exact class word"])
    }

    func testMalformedHTMLIsRecovered() throws {
        let s = Scratch()
        s.write("bad.html", "<html><body><p>Unclosed <b>bold <div>block</p></span> text & more <x-y>custom</html")
        let m = try s.ingest()
        XCTAssertEqual(m.inputs[0].status, "ok")
        XCTAssertEqual(try s.texts(), ["Unclosed bold\nblock text & more custom"])
    }

    func testDeeplyNestedHTMLDoesNotCrash() throws {
        let s = Scratch()
        s.write("deep.html", "<html><body>" + String(repeating: "<div>", count: 20_000) + "deep text" + String(repeating: "</div>", count: 20_000) + "</body></html>")
        let m = try s.ingest()
        XCTAssertEqual(m.counts.read, 1)
        XCTAssertEqual(m.counts.read, m.counts.kept + m.counts.dropped.values.reduce(0, +))
    }

    /// libxml2 stops at 256 levels by default and drops what follows without a word. Pages up to 1,024
    /// levels keep all their text; deeper ones keep the text before the cut and are counted.
    func testHTMLNestedDeeperThan256KeepsItsTextOrIsCounted() throws {
        let s = Scratch()
        func page(_ depth: Int) -> String {
            "<html><body><p>Before the nesting.</p>" + String(repeating: "<div>", count: depth) + "Deep text here."
                + String(repeating: "</div>", count: depth) + "<p>After the nesting.</p></body></html>"
        }
        s.write("a300.html", page(300))
        s.write("b1000.html", page(1000))
        s.write("c100k.html", page(100_000))
        var c = Scratch.permissive
        c.dedup.exact = false
        c.c4.enabled = false
        let m = try s.ingest(config: c)
        XCTAssertEqual(m.counts.kept, 3, "dropped: \(m.counts.dropped)")
        XCTAssertEqual(try s.texts(), ["Before the nesting.\nDeep text here.\nAfter the nesting.",
                                       "Before the nesting.\nDeep text here.\nAfter the nesting.",
                                       "Before the nesting."])
        XCTAssertEqual(m.counts.htmlDepthTruncated, 1)
        // The count is omitted from manifests that have none.
        let s2 = Scratch()
        s2.write("a300.html", page(300))
        let m2 = try s2.ingest(config: c)
        XCTAssertNil(m2.counts.htmlDepthTruncated)
        let manifest = String(decoding: FileManager.default.contents(atPath: s2.root + "/out/manifest.json")!, as: UTF8.self)
        XCTAssertFalse(manifest.contains("html_depth_truncated"))
    }

    func testMediaWikiNamespacesRedirectsAndMetadata() throws {
        let s = Scratch()
        s.write("wiki.xml", """
        <mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
          <siteinfo><sitename>Test</sitename><namespaces><namespace key="0" case="first-letter" />
          <namespace key="1" case="first-letter">Talk</namespace></namespaces></siteinfo>
          <page><title>Genesis</title><ns>0</ns><id>1</id>
            <revision><id>10</id><timestamp>2020-01-01T00:00:00Z</timestamp><model>wikitext</model>
            <format>text/x-wiki</format><text bytes="40" xml:space="preserve">In the beginning &amp; the end &lt;here&gt;.</text><sha1>x</sha1></revision></page>
          <page><title>Talk:Genesis</title><ns>1</ns><id>2</id><revision><id>11</id><text>A talk page.</text></revision></page>
          <page><title>Gen</title><ns>0</ns><id>3</id><redirect title="Genesis" /><revision><id>12</id><text>#REDIRECT [[Genesis]]</text></revision></page>
          <page><title>Empty</title><ns>0</ns><id>4</id><revision><id>13</id><text /></revision></page>
        </mediawiki>
        """)
        let m = try s.ingest()
        XCTAssertEqual(m.inputs[0].kind, .mediawiki)
        XCTAssertEqual(m.inputs[0].status, "ok")
        let recs = try s.records()
        XCTAssertEqual(recs.count, 1)
        XCTAssertEqual(recs[0]["text"] as? String, "In the beginning & the end <here>.")
        XCTAssertEqual(recs[0]["title"] as? String, "Genesis")
        XCTAssertEqual(recs[0]["ns"] as? Int, 0)
        XCTAssertEqual(m.counts.dropped, ["wiki_namespace": 1, "wiki_redirect": 1, "empty": 1])
        let excluded = try s.records(prefix: "excluded")
        XCTAssertEqual(excluded.map { $0["reason"] as? String }, ["wiki_namespace", "wiki_redirect", "empty"])
        XCTAssertEqual(excluded[1]["redirect"] as? String, "Genesis")

        // Talk pages become documents when their namespace is configured.
        var c = Scratch.permissive
        c.wikiNamespaces = [0, 1]
        let m2 = try s.ingest(output: "out2", config: c)
        XCTAssertEqual(m2.counts.kept, 2)
    }

    func testMediaWikiPageWithSeveralRevisionsYieldsTheLastOne() throws {
        let s = Scratch()
        s.write("revs.xml", """
        <mediawiki><page><title>P</title><ns>0</ns><id>1</id>
        <revision><id>1</id><text>Oldest text.</text></revision>
        <revision><id>2</id><parentid>1</parentid><text>Middle text.</text></revision>
        <revision><id>3</id><parentid>2</parentid><text>Current text.</text></revision>
        </page></mediawiki>
        """)
        _ = try s.ingest()
        XCTAssertEqual(try s.texts(), ["Current text."])
    }

    func testCompressedInputsChosenByMagicBytes() throws {
        let s = Scratch()
        let jsonl = Array("{\"text\": \"zstd line one\"}\n{\"text\": \"zstd line two\"}\n".utf8)
        s.write("a.jsonl.zst", try ZstdEncoder.compress(jsonl))
        // A zstd file whose name says nothing: content decides (JSONL needs its extension, so this is text).
        s.write("noext", try ZstdEncoder.compress(Array("plain words inside zstd".utf8)))
        let gz = s.write("b.txt", "gzip text")
        try runTool("/bin/gzip", ["-n", gz])
        let m = try s.ingest()
        XCTAssertEqual(m.inputs.map(\.compression), [.zstd, .gzip, .zstd])
        XCTAssertEqual(try s.texts(), ["zstd line one", "zstd line two", "gzip text", "plain words inside zstd"])
    }

    func testBzip2AndXzInputs() throws {
        let s = Scratch()
        let bz = s.write("x.jsonl", "{\"text\": \"bzip2 line one\", \"n\": 1}\n{\"text\": \"bzip2 line two\"}\n")
        try runTool("/bin/bzip2", [bz])
        let xz = s.write("y.txt", "xz text: Grüße")
        try runTool("/usr/bin/xz", [xz])
        // Content decides the compression, the name without its compression suffix the kind.
        let renamed = s.write("z.jsonl", "{\"text\": \"xz jsonl under another name\"}\n")
        try runTool("/usr/bin/xz", [renamed])
        try FileManager.default.moveItem(atPath: renamed + ".xz", toPath: s.inputDir + "/z.jsonl.bz2")
        let m = try s.ingest()
        XCTAssertEqual(m.inputs.map { ($0.path as NSString).lastPathComponent }, ["x.jsonl.bz2", "y.txt.xz", "z.jsonl.bz2"])
        XCTAssertEqual(m.inputs.map(\.compression), [.bzip2, .xz, .xz])
        XCTAssertEqual(m.inputs.map(\.kind), [.jsonl, .text, .jsonl])
        XCTAssertEqual(try s.texts(), ["bzip2 line one", "bzip2 line two", "xz text: Grüße", "xz jsonl under another name"])
        XCTAssertEqual(try s.records().first?["n"] as? Int, 1)
    }

    func testInputsExpandDirectoriesAndGlobsSortedAndRecordMissing() throws {
        let s = Scratch()
        s.write("z.txt", "z")
        s.write("sub/b.txt", "b")
        s.write("sub/a.txt", "a")
        s.write(".hidden.txt", "hidden")
        let list = try InputFiles.expand([s.inputDir + "/sub", s.inputDir + "/*.txt", s.inputDir + "/nope.txt", s.inputDir + "/none-*.txt"])
        XCTAssertEqual(list.files.map(\.name), ["sub/a.txt", "sub/b.txt", "in/z.txt"])
        XCTAssertEqual(list.files.map { String(decoding: $0.path, as: UTF8.self) },
                       [s.inputDir + "/sub/a.txt", s.inputDir + "/sub/b.txt", s.inputDir + "/z.txt"])
        XCTAssertEqual(list.missing, [s.inputDir + "/nope.txt", s.inputDir + "/none-*.txt"])
        let m = try s.ingest([s.inputDir, s.inputDir + "/nope.txt"])
        XCTAssertEqual(m.missingInputs, [s.inputDir + "/nope.txt"])
        XCTAssertEqual(m.inputs.count, 3)
    }

    func testTooLongDocumentsAreDroppedWithAPrefix() throws {
        let s = Scratch()
        s.write("big.txt", String(repeating: "word ", count: 1000))
        s.write("big.jsonl", "{\"text\": \"" + String(repeating: "x", count: 3000) + "\"}\n{\"text\": \"small\"}\n")
        var c = Scratch.permissive
        c.maxDocBytes = 2000
        let m = try s.ingest(config: c)
        XCTAssertEqual(m.counts.dropped["too_long"], 2)
        XCTAssertEqual(try s.texts(), ["small"])
        let ex = try s.records(prefix: "excluded")
        XCTAssertEqual(ex.map { $0["reason"] as? String }, ["too_long", "too_long"])
        XCTAssertLessThanOrEqual((ex[0]["text"] as! String).utf8.count, 1024)
    }
}

func runTool(_ tool: String, _ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    if p.terminationStatus != 0 { throw RepriseError("\(tool) failed") }
}

final class JSONFieldTests: XCTestCase {
    func testNestedTextPathsAreTriedInOrderAndTheTextLeavesItsObject() throws {
        let s = Scratch()
        s.write("d.jsonl", """
        {"id": "a", "content": {"lang": "en", "body": "nested one", "n": [1, {"x": 2}]}, "text": "top one"}
        {"id": "b", "text": "top two", "content": {"lang": "fr"}}
        {"id": "c", "content": {"body": 5}, "text": "top three"}
        {"id": "d", "content": "not an object"}

        """)
        var c = Scratch.permissive
        c.textField = ["content.body", "text"]
        let m = try s.ingest(config: c)
        let recs = try s.records()
        XCTAssertEqual(recs.map { $0["text"] as? String }, ["nested one", "top two", "top three"])
        XCTAssertEqual(recs.map { $0["id"] as? String }, ["a", "b", "c"])
        // The nested text is taken out of its object; the object's other members stay, in order.
        let content = recs[0]["content"] as? [String: Any]
        XCTAssertEqual(content?["lang"] as? String, "en")
        XCTAssertNil(content?["body"])
        XCTAssertEqual((content?["n"] as? [Any])?.count, 2)
        // The top-level text of a record whose nested path held the text is kept as metadata.
        XCTAssertEqual(recs[0]["input_text"] as? String, "top one")
        // A non-string at the first path falls through to the next one.
        XCTAssertEqual((recs[2]["content"] as? [String: Any])?["body"] as? Int, 5)
        // The record without any of the paths is a record error naming the paths and the fields it has.
        XCTAssertEqual(m.inputs[0].recordErrors, 1)
        let error = try XCTUnwrap(m.inputs[0].error)
        XCTAssertTrue(error.contains(":4:") && error.contains(#""content.body" or "text""#) && error.contains("its fields: id, content"), error)
    }

    func testDeeperPathsAndRemovalOfTheOnlyMember() throws {
        let s = Scratch()
        s.write("d.jsonl", #"{"a": {"b": {"c": "deep"}}, "k": 1}"# + "\n" + #"{ "a" : { "b" : { "c" : "spaced \"q\"" , "z" : true } } }"# + "\n")
        var c = Scratch.permissive
        c.textField = ["a.b.c"]
        _ = try s.ingest(config: c)
        let recs = try s.records()
        XCTAssertEqual(recs.map { $0["text"] as? String }, ["deep", "spaced \"q\""])
        XCTAssertEqual(((recs[0]["a"] as? [String: Any])?["b"] as? [String: Any])?.count, 0)
        XCTAssertEqual(((recs[1]["a"] as? [String: Any])?["b"] as? [String: Any])?["z"] as? Bool, true)
    }

    func testIdFieldNumbersStringsAndOff() throws {
        let s = Scratch()
        s.write("d.jsonl", """
        {"uid": 12, "text": "one"}
        {"uid": "<urn:uuid:x>", "text": "two"}
        {"uid": null, "text": "three"}
        {"text": "four"}

        """)
        var c = Scratch.permissive
        c.idField = "uid"
        _ = try s.ingest(config: c)
        let ids = try s.records().map { $0["id"] as? String ?? "" }
        XCTAssertEqual(Array(ids.prefix(2)), ["12", "<urn:uuid:x>"])
        XCTAssertTrue(ids[2].hasSuffix("d.jsonl:2") && ids[3].hasSuffix("d.jsonl:3"), "\(ids)")
        XCTAssertTrue(try s.records()[2]["uid"] is NSNull, "an id that is not a string or number stays metadata")
        c.idField = ""
        _ = try s.ingest(output: "off", config: c)
        let off = try s.records("off")
        XCTAssertTrue((off[0]["id"] as? String ?? "").hasSuffix("d.jsonl:0"))
        XCTAssertEqual(off[0]["uid"] as? Int, 12)
    }

    func testNothingKeptNamesTheCauseAndTheFix() throws {
        let s = Scratch()
        s.write("d.jsonl", #"{"body": "x", "title": "t"}"# + "\n")
        let m = try s.ingest()
        let error = try XCTUnwrap(m.nothingKeptError)
        XCTAssertTrue(error.contains("text_field") && error.contains("body, title"), error)

        let t = Scratch()
        t.write("a.txt", "short")
        var strictConfig = IngestConfig()
        strictConfig.minChars = 100
        let dropped = try t.ingest(config: strictConfig)
        XCTAssertTrue(dropped.nothingKeptError?.contains("too_short 1") == true, dropped.nothingKeptError ?? "nil")

        let missing = try t.ingest([t.root + "/nope"], output: "missing")
        XCTAssertTrue(missing.nothingKeptError?.contains("nope") == true, missing.nothingKeptError ?? "nil")
        XCTAssertNil(try t.ingest(config: Scratch.permissive).nothingKeptError)
    }
}
