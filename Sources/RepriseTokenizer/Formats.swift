import Foundation
import RepriseCore

/// The two files a trained tokenizer is saved as.
///
/// `tokenizer.json` — HuggingFace tokenizers' format: model `BPE` whose `vocab` maps each token's
/// byte-level string (see `ByteLevel`) to its id and whose `merges` are `["left", "right"]` pairs, line i
/// creating token 256 + i; pre-tokenizer `Sequence[Split(pattern, Isolated), ByteLevel(add_prefix_space:
/// false, use_regex: false)]`, decoder `ByteLevel`, special tokens in `added_tokens` (and in `vocab`).
/// The writer's layout is fixed (HF's key order, vocab in id order, one entry per line), so the same model
/// gives the same bytes.
///
/// HF merges by pair (only the listed pairs), this encoder like tiktoken by bytes (any adjacent pair that
/// spells a token). The two agree on trained vocabularies in practice: on 400 English documents and
/// 40,000 random words and letter strings, HF loading our file and tiktoken loading ours gave the same
/// ids as this encoder (32k vocab trained on 100 MB).
///
/// `tokenizer.tiktoken` — tiktoken's `load_tiktoken_bpe` format: for ranks 0..<256 + merges, one line
/// `base64(token bytes) rank`. Special tokens are not part of it; pass them to the reader.
public enum TokenizerFiles {
    // MARK: tokenizer.json

    /// `tokenizer_config.json` and `special_tokens_map.json`, which tell transformers' AutoTokenizer the roles
    /// of the special tokens: `<|endoftext|>` begins and ends texts, `<|pad|>` pads and `<|mask|>` masks when
    /// the tokenizer has them; other special tokens are additional ones. There is no unknown token (every
    /// byte has one) and nothing is added around a text when encoding, as in training.
    public static func huggingFaceTokenizerConfig(_ model: BPEModel, maxLength: Int) throws -> (config: [UInt8], specialTokensMap: [UInt8]) {
        var roles: [String: Any] = [:]
        let present = Set(model.specialTokens)
        if present.contains(SpecialTokens.endOfText) {
            roles["bos_token"] = SpecialTokens.endOfText
            roles["eos_token"] = SpecialTokens.endOfText
        }
        if present.contains(SpecialTokens.pad) { roles["pad_token"] = SpecialTokens.pad }
        if present.contains(SpecialTokens.mask) { roles["mask_token"] = SpecialTokens.mask }
        let others = model.specialTokens.filter { !SpecialTokens.defaults.contains($0) }
        if !others.isEmpty { roles["additional_special_tokens"] = others }
        var config = roles
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config["model_max_length"] = maxLength
        config["add_bos_token"] = false
        config["add_eos_token"] = false
        config["clean_up_tokenization_spaces"] = false
        var added: [String: Any] = [:]
        for (token, id) in model.specials {
            added[String(id)] = ["content": token, "lstrip": false, "normalized": false, "rstrip": false,
                                 "single_word": false, "special": true]
        }
        config["added_tokens_decoder"] = added
        func json(_ object: [String: Any]) throws -> [UInt8] {
            Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) + [0x0A]
        }
        return (try json(config), try json(roles))
    }

    /// The content of `tokenizer.json`. `pattern` is the split regex in the spelling HF's Rust regex
    /// engine accepts.
    public static func huggingFaceJSON(_ model: BPEModel, pattern: String) -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(model.ordinaryCount * 40 + 4096)
        func raw(_ s: String) { o.append(contentsOf: Array(s.utf8)) }
        func str(_ s: String) { JSONBytes.appendString(s, to: &o) }

        raw("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
        for (j, s) in model.specialTokens.enumerated() {
            raw(j == 0 ? "\n    {\"id\": " : ",\n    {\"id\": ")
            raw("\(model.ordinaryCount + j), \"content\": ")
            str(s)
            raw(", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}")
        }
        raw(model.specialTokens.isEmpty ? "],\n" : "\n  ],\n")
        raw("  \"normalizer\": null,\n")
        raw("  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ")
        str(pattern)
        raw("}, \"behavior\": \"Isolated\", \"invert\": false}, ")
        raw("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]},\n")
        raw("  \"post_processor\": null,\n")
        raw("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false},\n")
        raw("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n")
        raw("    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n")
        raw("    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {")

        let names = (0..<model.ordinaryCount).map { ByteLevel.encode(model.tables.bytes(of: $0)) }
        let nameSet = Set(names)
        for id in 0..<model.ordinaryCount {
            raw(id == 0 ? "\n      " : ",\n      ")
            str(names[id])
            raw(": \(id)")
        }
        // Special tokens also go into the vocab under their own text (as HF does), unless that text is
        // already an ordinary token's name; `added_tokens` carries their ids either way.
        for (j, s) in model.specialTokens.enumerated() where !nameSet.contains(s) {
            raw(",\n      ")
            str(s)
            raw(": \(model.ordinaryCount + j)")
        }
        raw("\n    },\n    \"merges\": [")
        var first = true
        func merge(_ m: BPEMerge) {
            raw(first ? "\n      [" : ",\n      [")
            first = false
            str(names[Int(m.left)])
            raw(", ")
            str(names[Int(m.right)])
            raw("]")
        }
        for m in model.merges { merge(m) }
        raw(model.merges.isEmpty ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n")
        return o
    }

    /// Writes `tokenizer.json` atomically; returns its SHA-256.
    @discardableResult
    public static func writeHuggingFace(_ model: BPEModel, pattern: String, to path: String) throws -> String {
        try AtomicFileWriter.write(huggingFaceJSON(model, pattern: pattern), to: path)
    }

    /// What `readHuggingFace` returns: the model and the split pattern found in the pre-tokenizer.
    public struct HuggingFaceTokenizer: Sendable {
        public var model: BPEModel
        /// The `Split` pre-tokenizer's regex, if there is one.
        public var pattern: String?
    }

    /// Reads a `tokenizer.json` of the kind `huggingFaceJSON` writes: byte-level BPE whose ids 0..<256
    /// are the bytes and whose special tokens follow the merges.
    public static func readHuggingFace(path: String) throws -> HuggingFaceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): cannot read the tokenizer file")
        }
        return try readHuggingFace(data: data, name: path)
    }

    public static func readHuggingFace(data: Data, name: String) throws -> HuggingFaceTokenizer {
        func fail(_ why: String) -> RepriseError { RepriseError("\(name): \(why)") }
        let top: [String: Any]
        do {
            guard let t = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw fail("not a JSON object")
            }
            top = t
        } catch let e as RepriseError { throw e } catch {
            throw fail("not valid JSON: \(error.oneLine)")
        }
        guard let m = top["model"] as? [String: Any], (m["type"] as? String) == "BPE" else {
            throw fail("model.type is not \"BPE\"; only byte-level BPE tokenizers can be read")
        }
        if (m["byte_fallback"] as? Bool) == true { throw fail("byte_fallback BPE is not byte-level BPE") }
        guard let vocabObj = m["vocab"] as? [String: Any] else { throw fail("model.vocab is missing") }
        guard let mergesArr = m["merges"] as? [Any] else { throw fail("model.merges is missing") }

        // Special tokens: added_tokens marked special, in id order.
        var specialList: [(id: Int, content: String)] = []
        for case let t as [String: Any] in (top["added_tokens"] as? [Any]) ?? [] {
            guard let id = (t["id"] as? NSNumber)?.intValue, let content = t["content"] as? String else {
                throw fail("added_tokens entry without id or content")
            }
            if (t["special"] as? Bool) != false { specialList.append((id, content)) }
        }
        specialList.sort { $0.id < $1.id }
        let specialIds = Set(specialList.map(\.id))

        // Ordinary vocab: every id below the first special, each a byte-level string.
        var names: [Int: String] = [:]
        for (k, v) in vocabObj {
            guard let id = (v as? NSNumber)?.intValue, id >= 0 else { throw fail("vocab entry \(k) has no valid id") }
            if specialIds.contains(id) { continue }
            if names.updateValue(k, forKey: id) != nil { throw fail("vocab id \(id) appears twice") }
        }
        let ordinaryCount = names.count
        var bytesOf = [[UInt8]](repeating: [], count: ordinaryCount)
        var idOf: [[UInt8]: Int] = [:]
        for (id, k) in names {
            guard id < ordinaryCount else {
                throw fail("ordinary token ids must be 0..<\(ordinaryCount) with the 256 bytes first and the special tokens "
                    + "after them; found id \(id) (this reader reads the layout `huggingFaceJSON` writes)")
            }
            guard let b = ByteLevel.decode(k), !b.isEmpty else {
                throw fail("vocab entry \(k) (id \(id)) is not a byte-level string")
            }
            bytesOf[id] = b
            idOf[b] = id
        }
        for b in 0..<min(256, ordinaryCount) where bytesOf[b] != [UInt8(b)] {
            throw fail("vocab id \(b) must be the byte \(b) (this reader expects ids 0..<256 to be the bytes)")
        }
        for (j, s) in specialList.enumerated() where s.id != ordinaryCount + j {
            throw fail("special token \(s.content) has id \(s.id); expected \(ordinaryCount + j) (specials follow the merges)")
        }

        // Merges: line i creates token 256 + i. A line spelling a token that already exists (a trainer may
        // list a repeated merge) is skipped: this encoder merges any pair that spells a token anyway.
        var merges: [BPEMerge] = []
        merges.reserveCapacity(max(0, ordinaryCount - 256))
        for (line, item) in mergesArr.enumerated() {
            let pair: [String]
            if let a = item as? [String], a.count == 2 { pair = a }
            else if let s = item as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("merges[\(line)] is not two tokens") }
                pair = parts.map(String.init)
            } else { throw fail("merges[\(line)] is not a pair of strings") }
            guard let lb = ByteLevel.decode(pair[0]), let l = idOf[lb],
                  let rb = ByteLevel.decode(pair[1]), let r = idOf[rb] else {
                throw fail("merges[\(line)] names a token that is not in the vocab")
            }
            guard let result = idOf[lb + rb] else { throw fail("merges[\(line)] makes a token that is not in the vocab") }
            let expected = 256 + merges.count
            if result == expected {
                guard l < expected, r < expected else { throw fail("merges[\(line)] uses a token defined after it") }
                merges.append(BPEMerge(UInt32(l), UInt32(r)))
            } else if result > expected {
                throw fail("merges[\(line)] makes token \(result) before token \(expected); merges must follow the ids")
            }
        }
        guard 256 + merges.count == ordinaryCount else {
            throw fail("\(ordinaryCount - 256) tokens above the bytes but \(merges.count) merges create tokens")
        }
        let model = try BPEModel(merges: merges, specialTokens: specialList.map(\.content))

        var pattern: String?
        if let pre = top["pre_tokenizer"] as? [String: Any] {
            let list = (pre["type"] as? String) == "Sequence" ? (pre["pretokenizers"] as? [[String: Any]] ?? []) : [pre]
            for p in list where (p["type"] as? String) == "Split" {
                pattern = (p["pattern"] as? [String: Any])?["Regex"] as? String
            }
        }
        return HuggingFaceTokenizer(model: model, pattern: pattern)
    }

    // MARK: tokenizer.tiktoken

    /// The content of `tokenizer.tiktoken`.
    public static func tiktoken(_ model: BPEModel) -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(model.ordinaryCount * 16)
        for id in 0..<model.ordinaryCount {
            o.append(contentsOf: Array(Data(model.tables.bytes(of: id)).base64EncodedString().utf8))
            o.append(0x20)
            o.append(contentsOf: Array(String(id).utf8))
            o.append(0x0A)
        }
        return o
    }

    @discardableResult
    public static func writeTiktoken(_ model: BPEModel, to path: String) throws -> String {
        try AtomicFileWriter.write(tiktoken(model), to: path)
    }

    /// Reads a tiktoken BPE file; the special tokens (not stored in it) get the ids after its tokens.
    public static func readTiktoken(path: String, specialTokens: [String]) throws -> BPEModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): cannot read the tokenizer file")
        }
        return try readTiktoken(data: data, name: path, specialTokens: specialTokens)
    }

    public static func readTiktoken(data: Data, name: String, specialTokens: [String]) throws -> BPEModel {
        var tokens: [[UInt8]] = []
        var lineNo = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
            lineNo += 1
            let fields = line.split(separator: 0x20)
            guard fields.count == 2, let rank = Int(String(decoding: fields[1], as: UTF8.self)),
                  let bytes = Data(base64Encoded: Data(fields[0])) else {
                throw RepriseError("\(name): line \(lineNo) is not `base64 rank`")
            }
            guard rank == tokens.count else {
                throw RepriseError("\(name): line \(lineNo) has rank \(rank); expected \(tokens.count) (ranks must be 0, 1, 2, … in order)")
            }
            tokens.append(Array(bytes))
        }
        do { return try BPEModel(ordinaryTokens: tokens, specialTokens: specialTokens) } catch {
            throw RepriseError("\(name): \(error.oneLine)")
        }
    }
}
