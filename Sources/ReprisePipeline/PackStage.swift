import Foundation
import RepriseCore
import RepriseIngest
import RepriseShards
import RepriseTokenizer

/// The pack stage: an ingest output encoded with a trained tokenizer by `Packer`, and whether a shards
/// directory is up to date.
public enum PackStage {
    /// The ingest output and tokenizer a dataset is packed from, with their identities.
    public static func inputs(docs: String, tokenizer: String) throws -> PackInputs {
        PackInputs(docs: docs, tokenizer: tokenizer, ingestManifestSha256: try IngestOutput.manifestHash(docs),
                   tokenizerSha256: try LoadedTokenizer.identity(tokenizer))
    }

    @discardableResult
    public static func pack(docs: String, tokenizer: String, output: String, config: PackConfig,
                            threads: Int = defaultThreadCount, quiet: Bool = false) throws -> PackManifest {
        try config.validate()
        let tok = try LoadedTokenizer.load(tokenizer)
        guard let eot = tok.model.specials[SpecialTokens.endOfText] else {
            throw RepriseError("\(tokenizer): the tokenizer has no \(SpecialTokens.endOfText) token to join documents with")
        }
        return try Packer.pack(inputs: try inputs(docs: docs, tokenizer: tokenizer), output: output, config: config,
                               vocabSize: tok.model.vocabSize, endOfText: eot, quiet: quiet,
                               documents: { body in try IngestOutput.forEachDocument(docs, body) },
                               encode: { tok.model.encodeBatch(documents: $0, threads: threads, split: tok.split) })
    }

    public static func state(docs: String, tokenizer: String, output: String, config: PackConfig) throws -> PipelineRunner.StageState {
        try PipelineRunner.stageState(PackManifest.self, output: output, config: config,
                                      hashes: { ($0.configHash, $0.inputHash) },
                                      inputHash: { try inputs(docs: docs, tokenizer: tokenizer).inputHash })
    }
}
