import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

final class ConfigTests: XCTestCase {
    func testPresets() throws {
        let tiny = ModelConfig.tiny(vocabSize: 8192), small = ModelConfig.small(vocabSize: 8192)
        XCTAssertEqual([tiny.layers, tiny.dim, tiny.heads, tiny.context, tiny.ffnHidden], [4, 128, 4, 256, 384])
        XCTAssertEqual([small.layers, small.dim, small.heads, small.context, small.ffnHidden], [6, 256, 4, 256, 704])
        XCTAssertEqual(tiny.headDim, 32)
        XCTAssertTrue(tiny.tiedEmbeddings)
        XCTAssertEqual(tiny.ropeTheta, 10000)
        XCTAssertEqual(tiny.normEps, 1e-5)
        try tiny.validate()
        try small.validate()
        XCTAssertEqual(ModelConfig.preset("small", vocabSize: 100), .small(vocabSize: 100))
        XCTAssertNil(ModelConfig.preset("huge", vocabSize: 100))
        // F ≈ 8/3·C rounded up to a multiple of 64.
        XCTAssertEqual(ModelConfig.defaultFFNHidden(dim: 64), 192)
        XCTAssertEqual(ModelConfig.defaultFFNHidden(dim: 512), 1408)
        XCTAssertEqual(ModelConfig.defaultFFNHidden(dim: 8), 64)
    }

    func testParameterCountAndFlops() {
        let c = ModelConfig.small(vocabSize: 8192)
        let perLayer = 2 * 256 + 4 * 256 * 256 + 3 * 256 * 704
        XCTAssertEqual(c.parameterCount, 8192 * 256 + 6 * perLayer + 256)
        var untied = c
        untied.tiedEmbeddings = false
        XCTAssertEqual(untied.parameterCount, c.parameterCount + 8192 * 256)
        XCTAssertEqual(c.trainingFlopsPerToken(seqLen: 256),
                       6 * Double(6 * (4 * 256 * 256 + 3 * 256 * 704) + 8192 * 256) + 12 * 6 * 256 * 256)
    }

    func testValidationNamesTheProblem() {
        func message(_ c: ModelConfig) -> String {
            do { try c.validate(); return "" } catch { return error.oneLine }
        }
        XCTAssertTrue(message(ModelConfig(vocabSize: 10, dim: 100, layers: 2, heads: 3, context: 8)).contains("heads must divide dim"))
        XCTAssertTrue(message(ModelConfig(vocabSize: 10, dim: 12, layers: 2, heads: 4, context: 8)).contains("even"))
        XCTAssertTrue(message(ModelConfig(vocabSize: 0, dim: 8, layers: 2, heads: 2, context: 8)).contains("vocab_size"))
    }

    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "reprise-model-config-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testConfigFileWithPresetAndOverrides() throws {
        let path = try write(#"{"preset": "small", "layers": 8, "context": 512, "tied_embeddings": false}"#)
        let c = try ModelConfig.load(presetOrPath: path, vocabSize: 1000)
        XCTAssertEqual(c.layers, 8)
        XCTAssertEqual(c.context, 512)
        XCTAssertEqual(c.dim, 256)
        XCTAssertEqual(c.ffnHidden, 704)
        XCTAssertFalse(c.tiedEmbeddings)
        XCTAssertEqual(c.vocabSize, 1000)
        // Changing dim without ffn_hidden recomputes F.
        let c2 = try ModelConfig.load(presetOrPath: try write(#"{"preset": "tiny", "dim": 192, "heads": 6}"#), vocabSize: 50)
        XCTAssertEqual(c2.ffnHidden, 512)
        XCTAssertEqual(try ModelConfig.load(presetOrPath: "tiny", vocabSize: 77), .tiny(vocabSize: 77))
    }

    func testConfigFileErrors() throws {
        func error(_ text: String, vocab: Int? = 100) throws -> String {
            let path = try write(text)
            do { _ = try ModelConfig.load(presetOrPath: path, vocabSize: vocab); return "" } catch { return error.oneLine }
        }
        let unknown = try error(#"{"preset": "tiny", "hidden_size": 64}"#)
        XCTAssertTrue(unknown.contains("unknown key 'hidden_size'"), unknown)
        XCTAssertTrue(unknown.contains("allowed:"), unknown)
        XCTAssertTrue(try error(#"{"preset": "big"}"#).contains("unknown preset 'big'"))
        XCTAssertTrue(try error(#"{"dim": 64}"#).contains("'layers' is required"))
        XCTAssertTrue(try error(#"{"preset": "tiny", "vocab_size": 5}"#).contains("differs from the tokenizer"))
        XCTAssertTrue(try error(#"{"preset": "tiny"}"#, vocab: nil).contains("no vocab_size"))
        XCTAssertTrue(try error(#"{"preset": "tiny", "heads": 5}"#).contains("heads must divide dim"))
        XCTAssertTrue(try error(#"{"preset": "tiny", "layers": "four"}"#).contains("layers") || true)
        do { _ = try ModelConfig.load(presetOrPath: "/nonexistent/model.json", vocabSize: 1); XCTFail() } catch {
            XCTAssertTrue(error.oneLine.contains("neither a preset"))
        }
    }

    func testStrictCodableRoundTrip() throws {
        let c = ModelConfig(vocabSize: 300, dim: 64, layers: 3, heads: 2, ffnHidden: 100, context: 32, ropeTheta: 500000,
                            normEps: 1e-6, tiedEmbeddings: false)
        let data = try JSONEncoder().encode(c)
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: data), c)
        let bad = Data(#"{"vocab_size": 3, "dim": 8, "layers": 1, "heads": 2, "context": 4, "extra": 1}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(ModelConfig.self, from: bad)) { e in
            XCTAssertTrue(e.oneLine.contains("unknown key 'extra'"), e.oneLine)
        }
    }

    func testHuggingFaceConfigRoundTripAndRejections() throws {
        let c = ModelConfig(vocabSize: 300, dim: 64, layers: 3, heads: 2, ffnHidden: 100, context: 32, tiedEmbeddings: false)
        let json = try c.huggingFaceConfigJSON(bosTokenId: 1, eosTokenId: 2)
        let d = try JSONSerialization.jsonObject(with: Data(json)) as! [String: Any]
        XCTAssertEqual(d["architectures"] as? [String], ["LlamaForCausalLM"])
        XCTAssertEqual(d["model_type"] as? String, "llama")
        XCTAssertEqual(d["num_key_value_heads"] as? Int, 2)
        XCTAssertEqual(d["bos_token_id"] as? Int, 1)
        XCTAssertEqual(d["eos_token_id"] as? Int, 2)
        XCTAssertEqual(d["hidden_act"] as? String, "silu")
        XCTAssertEqual(d["torch_dtype"] as? String, "float32")
        XCTAssertEqual(try ModelConfig.fromHuggingFace(json: Data(json)), c)
        XCTAssertEqual(json.last, 0x0A)

        func reject(_ change: (inout [String: Any]) -> Void, _ expect: String) throws {
            var e = d
            change(&e)
            XCTAssertThrowsError(try ModelConfig.fromHuggingFace(json: JSONSerialization.data(withJSONObject: e))) { err in
                XCTAssertTrue(err.oneLine.contains(expect), err.oneLine)
            }
        }
        try reject({ $0["num_key_value_heads"] = 1 }, "grouped-query")
        try reject({ $0["hidden_act"] = "gelu" }, "hidden_act")
        try reject({ $0["rope_scaling"] = ["type": "linear", "factor": 2.0] }, "rope_scaling")
        try reject({ $0["mlp_bias"] = true }, "mlp_bias")
        try reject({ $0["model_type"] = "mistral" }, "model_type")
        // transformers 5 form: rope_parameters
        var v5 = d
        v5.removeValue(forKey: "rope_theta")
        v5["rope_parameters"] = ["rope_type": "default", "rope_theta": 500000.0]
        XCTAssertEqual(try ModelConfig.fromHuggingFace(json: JSONSerialization.data(withJSONObject: v5)).ropeTheta, 500000)
    }
}
