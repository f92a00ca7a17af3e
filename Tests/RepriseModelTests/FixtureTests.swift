import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

/// The model against PyTorch autograd (Tools/model/make_fixtures.py): logits, loss and every gradient of
/// a fixed tiny Llama, causal and bidirectional, tied and untied, from ids and from input embeddings; the
/// HuggingFace config form; and AdamW against torch.optim.AdamW. The script checked its plain-torch model
/// against transformers' LlamaForCausalLM built from the same config.json.
final class FixtureTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Fixture {
        let doc: [String: Any]
        let floats: [Float]
        init() throws {
            doc = try JSONSerialization.jsonObject(with: Data(contentsOf: FixtureTests.dir.appendingPathComponent("model.json"))) as! [String: Any]
            let data = try Data(contentsOf: FixtureTests.dir.appendingPathComponent("model.bin"))
            floats = data.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            XCTAssertEqual(doc["floats"] as? Int, floats.count)
        }
        func tensor(_ ref: Any?) -> [Float] {
            let r = ref as! [String: Any]
            let offset = r["offset"] as! Int, shape = r["shape"] as! [Int]
            return Array(floats[offset..<(offset + shape.reduce(1, *))])
        }
        func config(tied: Bool) throws -> ModelConfig {
            let data = try JSONSerialization.data(withJSONObject: doc["config"]!)
            var c = try JSONDecoder().decode(ModelConfig.self, from: data)
            c.tiedEmbeddings = tied
            return c
        }
    }

    func testHuggingFaceConfigHasTheFormTransformersLoaded() throws {
        let f = try Fixture()
        let config = try f.config(tied: true)
        let ours = try JSONSerialization.jsonObject(with: Data(config.huggingFaceConfigJSON())) as! NSDictionary
        let theirs = f.doc["hf_config"] as! NSDictionary
        XCTAssertEqual(Set(ours.allKeys as! [String]), Set(theirs.allKeys as! [String]))
        XCTAssertTrue(ours.isEqual(to: theirs as! [AnyHashable: Any]), "\(ours) vs \(theirs)")
        let back = try ModelConfig.fromHuggingFace(json: JSONSerialization.data(withJSONObject: theirs))
        XCTAssertEqual(back, config)
    }

    func runCase(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try Fixture()
        let c = (f.doc["cases"] as! [String: Any])[name] as! [String: Any]
        let tied = c["tied"] as! Bool, causal = c["causal"] as! Bool
        let B = f.doc["batch"] as! Int, T = f.doc["seq"] as! Int
        let config = try f.config(tied: tied)
        let model = Transformer(config: config, maxBatch: B, maxSeq: T, threads: 2)
        for (tensorName, ref) in f.doc["weights"] as! [String: Any] {
            let values = f.tensor(ref)
            let view = model.parameter(tensorName)
            XCTAssertEqual(view.count, values.count, tensorName)
            for i in 0..<values.count { view[i] = values[i] }
        }
        if !tied {
            let head = f.tensor(f.doc["lm_head_untied"]), view = model.parameter("lm_head.weight")
            for i in 0..<head.count { view[i] = head[i] }
        }
        if let tokens = c["tokens"] as? [Int] {
            model.forward(tokens: tokens.map { Int32($0) }, batch: B, seq: T, causal: causal)
        } else {
            model.forward(embeddings: f.tensor(c["input_embeddings"]), batch: B, seq: T, causal: causal)
        }
        var worst = (0.0, "")
        func compare(_ got: [Float], _ want: [Float], _ what: String, tolerance: Double = 1e-5) {
            let e = relativeError(got, want.doubles)
            if e > worst.0 { worst = (e, what) }
            XCTAssertLessThanOrEqual(e, tolerance, "\(name): \(what) relative error \(e)", file: file, line: line)
        }
        compare(Array(model.logits), f.tensor(c["logits"]), "logits")
        let targets = (c["targets"] as! [Int]).map { Int32($0) }
        let weights = (c["weights"] as! [Double]).map { Float($0) }
        let scale = c["scale"] as! Double
        let logits = model.logits
        var loss = CrossEntropy.forwardBackward(logits: logits.baseAddress!, targets: targets, weights: weights, rows: B * T,
                                                vocab: config.vocabSize, excluding: c["excluded"] as? Int,
                                                dLogits: logits.baseAddress!, scale: Float(scale), threads: 2) * scale
        let hiddenGrad = c["hidden_grad"].map { f.tensor($0) }
        if let hiddenGrad {
            for i in 0..<hiddenGrad.count { loss += Double(hiddenGrad[i]) * Double(model.finalHidden[i]) }
        }
        let wantLoss = c["loss"] as! Double
        XCTAssertEqual(loss, wantLoss, accuracy: 1e-5 * abs(wantLoss), "\(name): loss", file: file, line: line)
        model.zeroGradients()
        if let hiddenGrad {
            model.backward(dLogits: logits.baseAddress!, dFinalHidden: hiddenGrad)
        } else {
            model.backward(dLogits: logits.baseAddress!)
        }
        let grads = c["grads"] as! [String: Any]
        XCTAssertEqual(Set(grads.keys), Set(model.layout.tensors.map(\.name)))
        for t in model.layout.tensors {
            compare(Array(model.gradient(t.name)), f.tensor(grads[t.name]), t.name)
        }
        if let want = c["input_embeddings_grad"] {
            compare(Array(model.inputEmbeddingGradient), f.tensor(want), "input embeddings")
        }
        print("fixture \(name): loss \(loss) vs \(wantLoss); worst relative error \(worst.0) (\(worst.1))")
    }

    func testCausal() throws { try runCase("causal") }
    func testCausalUntied() throws { try runCase("causal-untied") }
    func testBidirectionalMaskedDiffusionLoss() throws { try runCase("bidirectional") }
    func testBidirectionalFromInputEmbeddingsWithHiddenStateGradient() throws { try runCase("bidirectional-embeddings") }

    func testAdamWMatchesTorch() throws {
        let f = try Fixture()
        let a = f.doc["adamw"] as! [String: Any]
        let config = try f.config(tied: true)
        let layout = ParameterLayout(config)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        let causalGrads = ((f.doc["cases"] as! [String: Any])["causal"] as! [String: Any])["grads"] as! [String: Any]
        for t in layout.tensors {
            let w = f.tensor((f.doc["weights"] as! [String: Any])[t.name]), g = f.tensor(causalGrads[t.name])
            for i in 0..<t.count { params[t.offset + i] = w[i]; grads[t.offset + i] = g[i] }
        }
        let opt = AdamW(layout: layout, weightDecay: Float(a["weight_decay"] as! Double))
        for _ in 0..<(a["steps"] as! Int) { opt.update(params: params, grads: grads, lr: Float(a["lr"] as! Double), threads: 2) }
        let want = a["params"] as! [String: Any]
        for t in layout.tensors {
            let got = Array(layout.view(t.name, in: params))
            assertClose(got, f.tensor(want[t.name]).doubles, tolerance: 1e-6, "adamw \(t.name)")
        }
    }
}
