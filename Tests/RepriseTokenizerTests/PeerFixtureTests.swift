import Foundation
import RepriseCore
import RepriseTokenizer
import XCTest

/// Our encoder against the ids that tiktoken (with our rank file and pattern) and HuggingFace tokenizers
/// (with our tokenizer.json) give for the same inputs. The fixtures come from Tools/tokenizer/make_fixtures;
/// the script also checked that both libraries agree with each other.
final class PeerFixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Expected: Decodable {
        struct PerTokenizer: Decodable { var ids: [[UInt32]]; var hf_checked: Int }
        var inputs: [String]
        var tokenizers: [String: PerTokenizer]
    }

    func load(_ name: String) throws -> (tiktoken: BPEModel, hf: BPEModel, pattern: SplitPattern, hfPattern: String?) {
        let dir = Self.fixtures.appendingPathComponent(name)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        let config = manifest["config"] as! [String: Any]
        let specials = config["special_tokens"] as! [String]
        let pattern = SplitPattern(rawValue: config["pattern"] as! String)!
        XCTAssertEqual(manifest["pattern_tiktoken"] as? String, pattern.tiktokenRegex)
        let tiktoken = try TokenizerFiles.readTiktoken(path: dir.appendingPathComponent("tokenizer.tiktoken").path, specialTokens: specials)
        let hf = try TokenizerFiles.readHuggingFace(path: dir.appendingPathComponent("tokenizer.json").path)
        return (tiktoken, hf.model, pattern, hf.pattern)
    }

    func testIdsEqualThoseOfTiktokenAndHuggingFaceForEveryPattern() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("encodings.json")))
        let inputs = expected.inputs.map { [UInt8](Data(base64Encoded: $0)!) }
        XCTAssertEqual(Set(expected.tokenizers.keys), ["tok-cl100k", "tok-gpt2", "tok-o200k"])
        for (name, want) in expected.tokenizers.sorted(by: { $0.key < $1.key }) {
            let t = try load(name)
            XCTAssertEqual(t.tiktoken, t.hf, "\(name): the two files describe the same model")
            XCTAssertEqual(t.hfPattern, t.pattern.huggingFaceRegex)
            XCTAssertGreaterThan(want.hf_checked, 300)
            let pre = PreTokenizer(t.pattern)
            let split: PreTokenSplitter = { pre.split($0, $1) }
            var mismatches = 0
            for (input, ids) in zip(inputs, want.ids) {
                let got = t.tiktoken.encode(input, split: split)
                if got != ids {
                    mismatches += 1
                    if mismatches <= 3 { XCTFail("\(name): \(String(decoding: input, as: UTF8.self).debugDescription): \(got) != \(ids)") }
                }
                XCTAssertEqual(t.tiktoken.decode(got), input)
            }
            XCTAssertEqual(mismatches, 0, name)
            // Batch encoding on several threads gives the same ids.
            XCTAssertEqual(t.tiktoken.encodeBatch(documents: inputs, threads: 2, split: split), want.ids)
        }
    }
}
