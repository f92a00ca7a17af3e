import Foundation
import RepriseCore
@testable import RepriseTokenizer
import XCTest

/// Splits before every space or newline and after every newline ("a b\nc" → "a", " b", "\n", "c"): a
/// stand-in pre-tokenizer so these tests do not depend on the regex one.
private let spaceSplit: PreTokenSplitter = { buf, body in
    var start = 0
    for i in 0..<buf.count where i > start && (buf[i] == 0x20 || buf[i] == 0x0A || buf[i - 1] == 0x0A) {
        body(start..<i)
        start = i
    }
    if start < buf.count { body(start..<buf.count) }
}

/// The whole input is one pre-token.
private let noSplit: PreTokenSplitter = { buf, body in if buf.count > 0 { body(0..<buf.count) } }

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func counter(_ words: [(String, UInt64)]) -> PreTokenCounter {
    let c = PreTokenCounter()
    for (w, n) in words { c.add(bytes(w), count: n) }
    return c
}

/// Random text over a small alphabet: many repeats, ties and runs like "aaaa" (overlapping merges).
private func randomDocs(_ n: Int, seed: UInt64, alphabet: String = "aabbcde ") -> [[UInt8]] {
    var rng = SplitMix64(seed: seed)
    let letters = bytes(alphabet)
    return (0..<n).map { _ in
        (0..<Int.random(in: 5...80, using: &rng)).map { _ in letters[Int.random(in: 0..<letters.count, using: &rng)] }
    }
}

private let english = """
The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs. A fox, a dog, and the other \
animals of the farm met in the barn at night. They talked about the farmer, the weather and the harvest.
"There is more to life than the farm," said the old horse. The young pig thought about this for a long time.
Numbers: 1234 5678 90, 3.14159 and 2.71828. Ünïcödé tëxt, 日本語のテキスト, emoji 🦊🐶.
"""

final class BPETests: XCTestCase {
    // MARK: training

    /// Hand-computed: hug×10 pug×5 pun×12 bun×4 hugs×5.
    /// Pairs: ug 20, pu 17, un 16, hu 15 → merge u+g (256). Then un 16 → u+n (257). Then h+ug 15 (258),
    /// p+un 12 (259). Then p+ug 5 and hug+s 5 tie: the smaller left id wins, p (112) < hug (258), so
    /// p+ug (260) before hug+s (261). Last b+un 4 (262); then no pairs are left.
    func testKnownMergesWithTieBrokenBySmallestPair() throws {
        let c = counter([("hug", 10), ("pug", 5), ("pun", 12), ("bun", 4), ("hugs", 5)])
        var done: [Int] = []
        let model = try BPETrainer.train(counts: c, vocabSize: 1000, specialTokens: []) { done.append($0) }
        XCTAssertEqual(done, Array(1...7))
        let u: UInt32 = 117, g: UInt32 = 103, n: UInt32 = 110, h: UInt32 = 104, p: UInt32 = 112, b: UInt32 = 98, s: UInt32 = 115
        XCTAssertEqual(model.merges, [BPEMerge(u, g), BPEMerge(u, n), BPEMerge(h, 256), BPEMerge(p, 257),
                                      BPEMerge(p, 256), BPEMerge(258, s), BPEMerge(b, 257)])
        XCTAssertEqual(model.tokenBytes(261), bytes("hugs"))
        XCTAssertEqual(model.encode(bytes("hugs pug bun"), split: spaceSplit), [261, 32, 260, 32, 262])

        // Same count, same left: the smaller right id wins (y < z).
        let tie = try BPETrainer.train(counts: counter([("xz", 3), ("xy", 3)]), vocabSize: 258, specialTokens: [])
        XCTAssertEqual(tie.merges, [BPEMerge(120, 121), BPEMerge(120, 122)])
        // vocabSize caps the merges.
        let capped = try BPETrainer.train(counts: c, vocabSize: 256 + 3 + 2, specialTokens: ["<a>", "<b>"])
        XCTAssertEqual(capped.merges.count, 3)
        XCTAssertEqual(capped.vocabSize, 261)
    }

    /// Overlapping runs: aaaa×1 → a+a (256) makes [aa, aa], then aa+aa (257).
    func testOverlappingPairsCountedLeftToRight() throws {
        let words = counter([("aaaa", 1), ("aaa", 1)])
        let model = try BPETrainer.train(counts: words, vocabSize: 300, specialTokens: [])
        // aaaa: pairs a a ×3; aaa: a a ×2 → a+a. Then aaaa = [aa, aa], aaa = [aa, a]: aa+a and aa+aa tie at 1,
        // the smaller right (97 < 256) wins.
        XCTAssertEqual(model.merges, [BPEMerge(97, 97), BPEMerge(256, 97), BPEMerge(256, 256)])
        let byPosition = try BPETrainer.trainWithStats(counts: words, vocabSize: 300, specialTokens: [], longWordSymbols: 1)
        XCTAssertEqual(byPosition.model.merges, model.merges)
    }

    /// A 1 MB pre-token in the training counts (one run of letters) does not make training slow.
    func testLongPreTokenInTraining() throws {
        var rng = SplitMix64(seed: 4)
        let letters = bytes("abcdefghij")
        let c = PreTokenCounter()
        c.add((0..<(1 << 20)).map { _ in letters[Int.random(in: 0..<letters.count, using: &rng)] })
        c.add(documents: (0..<20).map { _ in bytes(english) }, threads: 2, split: spaceSplit)
        let t0 = Date()
        let model = try BPETrainer.train(counts: c, vocabSize: 256 + 2000, specialTokens: [])
        let dt = Date().timeIntervalSince(t0)
        XCTAssertEqual(model.merges.count, 2000)
        XCTAssertLessThan(dt, 20, "training with a 1 MB pre-token took \(dt) s")
    }

    /// One long run of a single byte trains tokens of 2, 4, 8, ... bytes up to half the run; the model
    /// built from them (every split of every token) must cost time linear in the run, and encode the run
    /// back exactly.
    func testLongRunOfOneByteTrainsInLinearTime() throws {
        func seconds(_ n: Int) throws -> Double {
            let c = PreTokenCounter()
            c.add([UInt8](repeating: 0x61, count: n))
            var best = Double.infinity
            for _ in 0..<2 {
                let t0 = Date()
                let model = try BPETrainer.train(counts: c, vocabSize: 8192, specialTokens: [])
                best = min(best, Date().timeIntervalSince(t0))
                // Some token is more than a quarter of the run long.
                XCTAssertTrue((256..<(256 + model.merges.count)).contains { model.decode([UInt32($0)]).count > n / 4 })
                if n >= 100_000 {
                    let piece = [UInt8](repeating: 0x61, count: n + 7)
                    let ids = model.encode(piece, split: noSplit)
                    XCTAssertEqual(model.decode(ids), piece)
                    XCTAssertLessThan(ids.count, 40)
                }
            }
            return best
        }
        // 8× the run must cost about 8× the time, far from the 64× of the quadratic table (200k bytes
        // took 86 s in a debug build before).
        let small = try seconds(12_500), large = try seconds(100_000)
        XCTAssertLessThan(large, max(small, 0.02) * 24, "12.5k: \(small) s, 100k: \(large) s")
    }

    /// The fast trainer against a plain one that recounts every pair before every merge.
    func testTrainerMatchesFullRecountReference() throws {
        for seed in 1...4 as ClosedRange<UInt64> {
            let docs = randomDocs(300, seed: seed, alphabet: seed % 2 == 0 ? "aabbcde " : "ab ")
            let c = PreTokenCounter()
            c.add(documents: docs, threads: 1, split: spaceSplit)
            let (model, stats) = try BPETrainer.trainWithStats(counts: c, vocabSize: 256 + 150, specialTokens: [])
            let expected = referenceTrain(c.entries(), merges: 150)
            XCTAssertEqual(model.merges, expected, "seed \(seed)")
            // Every word of 3+ bytes trained by position (the path for very long pre-tokens).
            let byPosition = try BPETrainer.trainWithStats(counts: c, vocabSize: 256 + 150, specialTokens: [],
                                                           longWordSymbols: 2).model
            XCTAssertEqual(byPosition.merges, expected, "seed \(seed), by position")
            XCTAssertGreaterThan(stats.merges, 20)
        }
    }

    func testTrainingIsDeterministicAcrossThreadsAndDocumentOrder() throws {
        let docs = randomDocs(2000, seed: 7) + (0..<50).map { _ in bytes(english) }
        var rng = SplitMix64(seed: 99)
        let shuffled = docs.shuffled(using: &rng)
        var models: [BPEModel] = []
        for (d, threads) in [(docs, 1), (docs, 4), (shuffled, 3)] {
            let c = PreTokenCounter()
            c.add(documents: d, threads: threads, split: spaceSplit)
            models.append(try BPETrainer.train(counts: c, vocabSize: 700, specialTokens: SpecialTokens.defaults))
        }
        XCTAssertEqual(models[0], models[1])
        XCTAssertEqual(models[0], models[2])
        XCTAssertEqual(TokenizerFiles.huggingFaceJSON(models[0], pattern: "x"),
                       TokenizerFiles.huggingFaceJSON(models[2], pattern: "x"))
    }

    func testCounterIsIndependentOfThreadsAndMerges() {
        let docs = randomDocs(500, seed: 3) + [bytes(english)]
        let one = PreTokenCounter()
        one.add(documents: docs, threads: 1, split: spaceSplit)
        let many = PreTokenCounter()
        many.add(documents: docs, threads: 4, split: spaceSplit)
        XCTAssertEqual(one.entries().map(\.bytes), many.entries().map(\.bytes))
        XCTAssertEqual(one.entries().map(\.count), many.entries().map(\.count))
        XCTAssertEqual(one.totalCount, many.totalCount)
        // Two halves counted apart and merged equal the whole.
        let a = PreTokenCounter(), b = PreTokenCounter()
        a.add(documents: Array(docs[..<200]), threads: 2, split: spaceSplit)
        b.add(documents: Array(docs[200...]), threads: 1, split: spaceSplit)
        a.merge(b)
        XCTAssertEqual(a.entries().map(\.count), one.entries().map(\.count))
        XCTAssertEqual(a.distinctCount, one.distinctCount)
        XCTAssertEqual(one.count(of: bytes(" fox")), 2)
    }

    /// Counts above UInt32.max survive merging counters and decide the merge order.
    func testSixtyFourBitCounts() throws {
        let a = counter([("ab", UInt64(UInt32.max))])
        let b = counter([("ab", 2), ("cd", UInt64(UInt32.max) + 1)])
        a.merge(b)
        XCTAssertEqual(a.count(of: bytes("ab")), UInt64(UInt32.max) + 2)
        XCTAssertEqual(a.totalCount, 2 * UInt64(UInt32.max) + 3)
        // ab = 2^32 + 1 beats cd = 2^32; truncated to 32 bits they would be 1 and 0.
        let model = try BPETrainer.train(counts: a, vocabSize: 258, specialTokens: [])
        XCTAssertEqual(model.merges, [BPEMerge(97, 98), BPEMerge(99, 100)])
    }

    func testVocabSizeAndSpecialChecks() {
        XCTAssertThrowsError(try BPETrainer.train(counts: counter([]), vocabSize: 257, specialTokens: ["<a>", "<b>"]))
        XCTAssertThrowsError(try BPETrainer.train(counts: counter([]), vocabSize: 300, specialTokens: ["<a>", "<a>"]))
        XCTAssertThrowsError(try BPEModel(merges: [BPEMerge(256, 1)], specialTokens: []))
        // Running out of pairs gives fewer merges; specials still follow them.
        let m = try? BPETrainer.train(counts: counter([("ab", 3)]), vocabSize: 400, specialTokens: ["<s>"])
        XCTAssertEqual(m?.merges.count, 1)
        XCTAssertEqual(m?.specials, ["<s>": 257])
    }

    // MARK: encoding

    private func trainedModel(_ specials: [String] = SpecialTokens.defaults, vocab: Int = 600) throws -> BPEModel {
        let docs = (0..<20).map { _ in bytes(english) } + randomDocs(300, seed: 11, alphabet: "thequickbrownfox ")
        let c = PreTokenCounter()
        c.add(documents: docs, threads: 2, split: spaceSplit)
        return try BPETrainer.train(counts: c, vocabSize: vocab, specialTokens: specials)
    }

    func testSpecialTokensFollowMergesAndComeOnlyFromAllowedText() throws {
        let model = try trainedModel()
        let eot = UInt32(model.ordinaryCount)
        XCTAssertEqual(model.specials, ["<|endoftext|>": eot, "<|pad|>": eot + 1, "<|mask|>": eot + 2])
        XCTAssertEqual(model.vocabSize, 600)
        let text = "the fox<|endoftext|>the dog <|mask|><|pad|>"
        let plain = model.encode(bytes(text), split: spaceSplit)
        XCTAssertTrue(plain.allSatisfy { $0 < eot }, "ordinary encoding produced a special id")
        XCTAssertEqual(model.decode(plain), bytes(text))
        let allowed = model.encode(text, allowedSpecial: ["<|endoftext|>", "<|mask|>"], split: spaceSplit)
        XCTAssertEqual(allowed.filter { $0 >= eot }, [eot, eot + 2])
        XCTAssertEqual(model.decode(allowed), bytes(text))
        XCTAssertEqual(model.encode("<|pad|>", allowedSpecial: Set(SpecialTokens.defaults), split: spaceSplit), [eot + 1])
    }

    func testRoundTripOnRandomBytesIncludingInvalidUTF8() throws {
        let model = try trainedModel()
        var rng = SplitMix64(seed: 5)
        for i in 0..<300 {
            let n = Int.random(in: 0...200, using: &rng)
            var x = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 3 == 0 { x += bytes(" the fox \u{FF}") + [0xC3, 0x28, 0xE2, 0x82] }  // truncated sequences
            let ids = model.encode(x, split: i % 2 == 0 ? spaceSplit : noSplit)
            XCTAssertEqual(model.decode(ids), x)
            XCTAssertTrue(ids.allSatisfy { Int($0) < model.ordinaryCount })
        }
        let text = bytes(english)
        XCTAssertEqual(model.decode(model.encode(text, split: spaceSplit)), text)
        XCTAssertLessThan(model.encode(text, split: spaceSplit).count, text.count / 2)
    }

    /// The encoder against a plain tiktoken-style merge on byte strings, and its two merge loops against
    /// each other.
    func testEncoderMatchesReferenceAndLongPath() throws {
        let model = try trainedModel(vocab: 800)
        let ranks = Dictionary(uniqueKeysWithValues: (0..<model.ordinaryCount).map { (model.tokenBytes(UInt32($0)), $0) })
        let enc = model.makeEncoder(split: noSplit)
        var rng = SplitMix64(seed: 8)
        let alphabet = bytes("thequickbrownfox e")
        for _ in 0..<300 {
            let n = Int.random(in: 1...300, using: &rng)
            let piece = (0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            let ref = referenceBPE(piece, ranks)
            XCTAssertEqual(model.encode(piece, split: noSplit), ranks[piece].map { [UInt32($0)] } ?? ref)
            var short: [UInt32] = [], long: [UInt32] = []
            piece.withUnsafeBufferPointer {
                enc.bpe($0.baseAddress!, n, maxRank: .max, into: &short, forceLong: false)
                enc.bpe($0.baseAddress!, n, maxRank: .max, into: &long, forceLong: true)
            }
            XCTAssertEqual(short, ref)
            XCTAssertEqual(long, ref)
        }
    }

    /// Tokens never straddle pre-token boundaries: every pre-token's bytes are a whole number of tokens.
    func testTokensStayInsidePreTokens() throws {
        let cl100k = PreTokenizer(.cl100k)
        let splitters: [PreTokenSplitter] = [spaceSplit, { cl100k.split($0, $1) }]
        for split in splitters {
            let c = PreTokenCounter()
            c.add(documents: (0..<10).map { _ in bytes(english) }, threads: 2, split: split)
            let model = try BPETrainer.train(counts: c, vocabSize: 500, specialTokens: [])
            let text = bytes(english + " the farm's fox said 1234567")
            var cuts = Set<Int>()
            text.withUnsafeBufferPointer { split($0) { cuts.insert($0.upperBound) } }
            var at = 0
            var ends = Set<Int>()
            for id in model.encode(text, split: split) {
                at += model.tokenBytes(id).count
                ends.insert(at)
            }
            XCTAssertTrue(cuts.isSubset(of: ends), "a token crosses a pre-token boundary")
            XCTAssertEqual(at, text.count)
        }
    }

    func testOneMegabytePreTokenIsFast() throws {
        let model = try trainedModel()
        var rng = SplitMix64(seed: 2)
        let alphabet = bytes("thequickbrownfox")
        let piece = (0..<(1 << 20)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
        let t0 = Date()
        let ids = model.encode(piece, split: noSplit)
        let dt = Date().timeIntervalSince(t0)
        XCTAssertEqual(model.decode(ids), piece)
        XCTAssertLessThan(ids.count, piece.count)
        // Quadratic merging would take minutes; the heap takes well under a second (debug build: a few).
        XCTAssertLessThan(dt, 10, "1 MB pre-token took \(dt) s")
    }

    func testBatchEncodingEqualsOneThread() throws {
        let model = try trainedModel()
        let docs = randomDocs(400, seed: 21, alphabet: "thequickbrownfox \n\u{1}") + [bytes(english), [], [0xFF]]
        let single = docs.map { model.encode($0, split: spaceSplit) }
        XCTAssertEqual(model.encodeBatch(documents: docs, threads: 4, split: spaceSplit), single)
        XCTAssertEqual(model.encodeBatch(documents: docs, threads: 1, split: spaceSplit), single)
    }

    // MARK: files

    func testFilesRoundTrip() throws {
        let model = try trainedModel()
        let dir = NSTemporaryDirectory() + "bpe-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pattern = #"'s|'t| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        try TokenizerFiles.writeHuggingFace(model, pattern: pattern, to: dir + "/tokenizer.json")
        let hf = try TokenizerFiles.readHuggingFace(path: dir + "/tokenizer.json")
        XCTAssertEqual(hf.model, model)
        XCTAssertEqual(hf.pattern, pattern)
        XCTAssertEqual(hf.model.vocab, model.vocab)

        try TokenizerFiles.writeTiktoken(model, to: dir + "/tokenizer.tiktoken")
        let tt = try TokenizerFiles.readTiktoken(path: dir + "/tokenizer.tiktoken", specialTokens: model.specialTokens)
        XCTAssertEqual(tt.vocab, model.vocab)
        XCTAssertEqual(tt.merges, model.merges)
        let text = bytes(english)
        XCTAssertEqual(tt.encode(text, split: spaceSplit), model.encode(text, split: spaceSplit))

        let lines = String(decoding: TokenizerFiles.tiktoken(model), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, model.ordinaryCount)
        XCTAssertEqual(lines[32], "IA== 32")
        XCTAssertThrowsError(try TokenizerFiles.readTiktoken(data: Data("IA== 1\n".utf8), name: "bad", specialTokens: []))
        XCTAssertThrowsError(try TokenizerFiles.readHuggingFace(data: Data("{\"model\": ".utf8), name: "bad"))
        XCTAssertThrowsError(try TokenizerFiles.readHuggingFace(data: Data(#"{"model": {"type": "WordPiece"}}"#.utf8), name: "bad"))
        // Special tokens first (HF's trainer layout) is not ours: an error naming the file, not a crash.
        let specialsFirst = #"{"added_tokens": [{"id": 0, "content": "<s>", "special": true}], "model": {"type": "BPE", "#
            + #""vocab": {"<s>": 0, "Ā": 1}, "merges": []}}"#
        XCTAssertThrowsError(try TokenizerFiles.readHuggingFace(data: Data(specialsFirst.utf8), name: "hf.json")) {
            XCTAssertTrue(($0 as? RepriseError)?.message.hasPrefix("hf.json: ") ?? false, "\($0)")
        }
    }

    func testTokenizerJSONStructureAndByteMapping() throws {
        let model = try trainedModel()
        let pattern = #" ?\p{L}+|\s+"#
        let json = TokenizerFiles.huggingFaceJSON(model, pattern: pattern)
        XCTAssertEqual(json, TokenizerFiles.huggingFaceJSON(model, pattern: pattern))
        let top = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        for key in ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
                    "post_processor", "decoder", "model"] {
            XCTAssertNotNil(top[key], key)
        }
        XCTAssertTrue(top["normalizer"] is NSNull)
        XCTAssertTrue(top["post_processor"] is NSNull)
        let pre = try XCTUnwrap(top["pre_tokenizer"] as? [String: Any])
        XCTAssertEqual(pre["type"] as? String, "Sequence")
        let steps = try XCTUnwrap(pre["pretokenizers"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["type"] as? String }, ["Split", "ByteLevel"])
        XCTAssertEqual((steps[0]["pattern"] as? [String: Any])?["Regex"] as? String, pattern)
        XCTAssertEqual(steps[0]["behavior"] as? String, "Isolated")
        XCTAssertEqual(steps[0]["invert"] as? Bool, false)
        XCTAssertEqual(steps[1]["add_prefix_space"] as? Bool, false)
        XCTAssertEqual(steps[1]["trim_offsets"] as? Bool, true)
        XCTAssertEqual(steps[1]["use_regex"] as? Bool, false)
        XCTAssertEqual((top["decoder"] as? [String: Any])?["type"] as? String, "ByteLevel")
        let added = try XCTUnwrap(top["added_tokens"] as? [[String: Any]])
        XCTAssertEqual(added.map { $0["content"] as? String }, SpecialTokens.defaults)
        XCTAssertEqual(added.map { $0["id"] as? Int }, [model.ordinaryCount, model.ordinaryCount + 1, model.ordinaryCount + 2])
        XCTAssertTrue(added.allSatisfy { $0["special"] as? Bool == true })

        let m = try XCTUnwrap(top["model"] as? [String: Any])
        XCTAssertEqual(m["type"] as? String, "BPE")
        XCTAssertEqual(m["ignore_merges"] as? Bool, false)
        XCTAssertEqual(m["byte_fallback"] as? Bool, false)
        let vocab = try XCTUnwrap(m["vocab"] as? [String: Int])
        XCTAssertEqual(vocab.count, model.vocabSize)
        XCTAssertEqual(vocab["Ġ"], 0x20)
        XCTAssertEqual(vocab["Ċ"], 0x0A)
        XCTAssertEqual(vocab["ĉ"], 0x09)
        XCTAssertEqual(vocab["Ā"], 0x00)
        XCTAssertEqual(vocab["!"], 0x21)
        XCTAssertEqual(vocab["~"], 0x7E)
        XCTAssertEqual(vocab["ġ"], 0x7F)
        XCTAssertEqual(vocab["¡"], 0xA1)
        XCTAssertEqual(vocab["Ń"], 0xAD)
        XCTAssertEqual(vocab["ÿ"], 0xFF)
        XCTAssertEqual(vocab["<|endoftext|>"], model.ordinaryCount)
        // All 256 bytes: distinct single characters, printable ones unchanged, ids = byte values.
        var seen = Set<String>()
        for b in 0..<256 {
            let ch = String(Character(ByteLevel.byteToScalar[b]))
            XCTAssertEqual(vocab[ch], b, "byte \(b)")
            XCTAssertEqual(ch.unicodeScalars.count, 1)
            XCTAssertTrue(seen.insert(ch).inserted)
            XCTAssertEqual(ByteLevel.decode(ch), [UInt8(b)])
            if ByteLevel.isPrintable(UInt8(b)) { XCTAssertEqual(ByteLevel.byteToScalar[b].value, UInt32(b)) }
        }
        XCTAssertEqual(ByteLevel.encode(bytes(" the\n")), "ĠtheĊ")
        // Merges: line i is the pair of vocab strings that makes token 256 + i.
        let merges = try XCTUnwrap(m["merges"] as? [[String]])
        XCTAssertEqual(merges.count, model.merges.count)
        for (i, pair) in merges.enumerated() {
            let mi = model.merges[i]
            XCTAssertEqual(pair, [ByteLevel.encode(model.tokenBytes(mi.left)), ByteLevel.encode(model.tokenBytes(mi.right))])
            XCTAssertEqual(vocab[pair[0] + pair[1]], 256 + i)
        }
    }
}

// MARK: references

/// Plain BPE training: recount every pair of every word before each merge.
private func referenceTrain(_ entries: [(bytes: [UInt8], count: UInt64)], merges target: Int) -> [BPEMerge] {
    var words = entries.map { (ids: $0.bytes.map(UInt32.init), count: $0.count) }
    var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    var known = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, UInt32($0)) })
    var out: [BPEMerge] = []
    while out.count < target {
        var counts: [UInt64: UInt64] = [:]
        for w in words where w.ids.count > 1 {
            for i in 0..<(w.ids.count - 1) { counts[UInt64(w.ids[i]) << 32 | UInt64(w.ids[i + 1]), default: 0] += w.count }
        }
        guard let best = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) else { break }
        let a = UInt32(best.key >> 32), b = UInt32(best.key & 0xFFFF_FFFF)
        let joined = tokens[Int(a)] + tokens[Int(b)]
        let id: UInt32
        if let existing = known[joined] { id = existing } else {
            id = UInt32(tokens.count)
            tokens.append(joined)
            known[joined] = id
            out.append(BPEMerge(a, b))
        }
        for k in words.indices {
            var ids: [UInt32] = []
            var i = 0
            let w = words[k].ids
            while i < w.count {
                if i + 1 < w.count && w[i] == a && w[i + 1] == b { ids.append(id); i += 2 } else { ids.append(w[i]); i += 1 }
            }
            words[k].ids = ids
        }
    }
    return out
}

/// tiktoken's merge loop on byte strings: merge the leftmost adjacent pair whose concatenation has the
/// lowest rank.
private func referenceBPE(_ piece: [UInt8], _ ranks: [[UInt8]: Int]) -> [UInt32] {
    var parts = piece.map { [$0] }
    while parts.count > 1 {
        var best = Int.max, at = -1
        for i in 0..<(parts.count - 1) {
            if let r = ranks[parts[i] + parts[i + 1]], r < best { best = r; at = i }
        }
        if at < 0 { break }
        parts[at] += parts[at + 1]
        parts.remove(at: at + 1)
    }
    return parts.map { UInt32(ranks[$0]!) }
}
