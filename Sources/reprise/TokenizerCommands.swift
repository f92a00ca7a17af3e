import ArgumentParser
import Foundation
import RepriseCore
import ReprisePipeline
import RepriseTokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a byte-level BPE tokenizer, and encode or decode with it.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self])
}

struct TokenizerTrain: ParsableCommand, UsesWorkers {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer on ingest outputs or text files.",
        discussion: """
        Inputs are ingest output directories (their docs-*.jsonl.zst) or plain text files (one document \
        each). DIR receives tokenizer.json (HuggingFace tokenizers), tokenizer.tiktoken (tiktoken ranks) \
        and manifest.json (pattern spellings, special token ids, counts).

        Example: reprise tokenizer train .build-runs/default/ingest --vocab-size 8192 --output /tmp/tok
        """)

    @Argument(help: "Ingest output directories or text files.")
    var inputs: [String]
    @Option(help: "Vocabulary size, including the 256 byte tokens and the special tokens (default \(TokenizerConfig().vocabSize)).")
    var vocabSize: Int?
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Option(help: "Pre-tokenization pattern: \(SplitPattern.allCases.map(\.rawValue).joined(separator: ", ")) (default \(TokenizerConfig().pattern.rawValue)).")
    var pattern: String?
    @Option(name: .customLong("special"), help: "A special token (repeat for several; default \(TokenizerConfig().specialTokens.joined(separator: " "))).")
    var special: [String] = []
    @Option(help: "Cut documents longer than this many characters before counting.")
    var maxDocChars: Int?
    @Option(help: "Train on at most this many distinct pre-tokens, the most frequent (default: all).")
    var maxPreTokens: Int?
    @OptionGroup var workers: WorkerOptions

    func makeConfig() throws -> TokenizerConfig {
        var c = Overlay(TokenizerConfig())
        c(vocabSize, \.vocabSize)
        if let pattern {
            guard let p = SplitPattern(rawValue: pattern) else {
                throw ValidationError("--pattern must be one of \(SplitPattern.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c(p, \.pattern)
        }
        c(special.isEmpty ? nil : special, \.specialTokens); c(maxDocChars, \.maxDocChars); c(maxPreTokens, \.maxPreTokens)
        do { try c.config.validate() } catch { throw ValidationError(optionSpelling(error.oneLine, prefix: "tokenizer.").replacingOccurrences(of: "--special-tokens", with: "--special")) }
        return c.config
    }

    func validate() throws {
        _ = try makeConfig()
    }

    func run() throws {
        try runReporting {
            try WorkerThreads.check(threads)
            let lock = try DirectoryLock(output, purpose: "choose another --output")
            defer { lock.release() }
            let m = try TokenizerStage.train(inputs: inputs, output: output, config: try makeConfig(),
                                             threads: threads, quiet: quiet)
            print("trained \(m.vocabSize) tokens (\(m.merges) merges) on \(m.documents) documents, \(m.bytes) bytes, \(m.distinctPreTokens) distinct pre-tokens; output in \(output)")
        }
    }
}

/// Reads a file, or standard input when no file is given.
func readInput(_ path: String?) throws -> [UInt8] {
    if let path {
        guard let bytes = try FileSource(path: path).readAll() else { return [] }
        return bytes
    }
    return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Print the token ids of a file's bytes (special-token strings are ordinary text).",
        discussion: "Example: printf 'Hello world' | reprise tokenizer encode --tokenizer /tmp/tok")

    @Option(help: "Tokenizer directory (output of `reprise tokenizer train`).")
    var tokenizer: String
    @Argument(help: "Input file (default: standard input).")
    var file: String?
    @Flag(help: "Print `TOKENS BYTES SECONDS` instead of the ids; SECONDS is the time spent encoding (one thread).")
    var count = false

    func run() throws {
        try runReporting {
            let tok = try LoadedTokenizer.load(tokenizer)
            let bytes = try readInput(file)
            let start = DispatchTime.now().uptimeNanoseconds
            let ids = tok.model.encode(bytes, split: tok.split)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if count {
                print("\(ids.count) \(bytes.count) \(seconds)")
            } else {
                print(ids.map(String.init).joined(separator: " "))
            }
        }
    }
}

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Write the bytes of whitespace-separated token ids.",
        discussion: "Example: reprise tokenizer encode --tokenizer /tmp/tok f.txt | reprise tokenizer decode --tokenizer /tmp/tok")

    @Option(help: "Tokenizer directory (output of `reprise tokenizer train`).")
    var tokenizer: String
    @Argument(help: "File of ids (default: standard input).")
    var file: String?

    func run() throws {
        try runReporting {
            let tok = try LoadedTokenizer.load(tokenizer)
            let text = String(decoding: try readInput(file), as: UTF8.self)
            var ids: [UInt32] = []
            for (i, word) in text.split(whereSeparator: \.isWhitespace).enumerated() {
                guard let id = UInt32(word), Int(id) < tok.model.vocabSize else {
                    throw RepriseError("\(file ?? "<stdin>"): token \(i + 1) ('\(word)') is not an id below \(tok.model.vocabSize)")
                }
                ids.append(id)
            }
            FileHandle.standardOutput.write(Data(tok.model.decode(ids)))
        }
    }
}
