import Foundation
import RepriseCore
import RepriseIngest
import RepriseTokenizer

/// The pipeline's documents for tokenizer training: ingest output directories (their documents, identified
/// by the ingest manifest's hash) or plain text files (one document each, identified by their SHA-256).
public struct IngestDocuments: TokenizerDocuments {
    public init() {}

    public func identity(of input: String) throws -> String {
        FileManager.default.isDirectory(input) ? try IngestOutput.manifestHash(input) : try Hashing.sha256Hex(file: input)
    }

    public func forEachDocument(_ inputs: [String], _ body: ([UInt8]) throws -> Void) throws {
        for input in inputs {
            if FileManager.default.isDirectory(input) {
                try IngestOutput.forEachDocument(input) { _, text in try body(text) }
            } else {
                guard let bytes = try FileSource(path: input).readAll() else { continue }
                try body(bytes)
            }
        }
    }
}

/// The tokenizer stage: training on the pipeline's documents, and whether a tokenizer directory is up to date.
public enum TokenizerStage {
    public static func inputHash(_ inputs: [String]) throws -> String {
        try TokenizerTraining.inputHash(inputs, IngestDocuments())
    }

    @discardableResult
    public static func train(inputs: [String], output: String, config: TokenizerConfig,
                             threads: Int = defaultThreadCount, quiet: Bool = false) throws -> TokenizerManifest {
        try TokenizerTraining.train(inputs: inputs, documents: IngestDocuments(), output: output, config: config,
                                    threads: threads, quiet: quiet)
    }

    public static func state(inputs: [String], output: String, config: TokenizerConfig) throws -> PipelineRunner.StageState {
        try PipelineRunner.stageState(TokenizerManifest.self, output: output, config: config,
                                      hashes: { ($0.configHash, $0.inputHash) }, inputHash: { try inputHash(inputs) })
    }
}
