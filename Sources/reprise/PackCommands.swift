import ArgumentParser
import Foundation
import RepriseCore
import ReprisePipeline
import RepriseShards
import RepriseTokenizer

struct PackCommand: ParsableCommand, UsesWorkers {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Encode an ingest output once into zstd-compressed, indexed, checksummed token shards.",
        discussion: """
        Documents are joined with <|endoftext|> and assigned to train or validation by a stable hash of \
        their id. SHARDS receives train-NNNNN.shard, val-NNNNN.shard and manifest.json; the shard format is \
        in Sources/RepriseShards/FORMAT.md.

        Example: reprise pack .build-runs/default/ingest --tokenizer .build-runs/default/tokenizer --output /tmp/shards
        """)

    @Argument(help: "Ingest output directory.")
    var docs: String
    @Option(help: "Tokenizer directory.")
    var tokenizer: String
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Option(help: "Sequence length: windows over the packed stream (default \(PackConfig().seqLen)).")
    var seqLen: Int?
    @Option(help: "Fraction of documents for validation (default \(PackConfig().valFraction)).")
    var valFraction: Double?
    @Option(help: "Close a shard at the first document boundary after this many tokens (default \(PackConfig().shardTokens)).")
    var shardTokens: Int?
    @Option(help: "Tokens per zstd frame, the unit a reader decompresses: smaller is cheaper random access, weaker compression (default \(PackConfig().frameTokens)).")
    var frameTokens: Int?
    @Option(help: "zstd level of the token frames (default \(PackConfig().zstdLevel)).")
    var zstdLevel: Int?
    @OptionGroup var workers: WorkerOptions

    func makeConfig() throws -> PackConfig {
        var c = Overlay(PackConfig())
        c(seqLen, \.seqLen); c(valFraction, \.valFraction); c(shardTokens, \.shardTokens); c(zstdLevel, \.zstdLevel)
        c(frameTokens, \.frameTokens)
        do { try c.config.validate() } catch { throw ValidationError(optionSpelling(error.oneLine, prefix: "pack.")) }
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
            let m = try PackStage.pack(docs: docs, tokenizer: tokenizer, output: output, config: try makeConfig(),
                                       threads: threads, quiet: quiet)
            print("packed \(m.train.documents + m.val.documents) documents: train \(m.train.tokens) tokens in \(m.train.shards.count) shards, validation \(m.val.tokens) tokens; \(m.dtype); output in \(output)")
            if let problem = m.emptySplitProblem { logLine("warning: \(problem)") }
        }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every shard's hash and every frame's checksum and size; non-zero exit on any fault.",
        discussion: "Example: reprise verify /tmp/shards")

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String

    func run() throws {
        try runReporting {
            let (faults, summary) = try Packer.verify(shards)
            for f in faults { logLine("fault: \(f)") }
            print(summary)
            if !faults.isEmpty { throw ExitCode.failure }
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a dataset's counts, sizes and compression ratio, and optionally decode one sequence.",
        discussion: "Example: reprise inspect /tmp/shards --sequence 0")

    @Argument(help: "Shards directory (output of `reprise pack`).")
    var shards: String
    @Option(help: "Decode this training sequence (0-based).")
    var sequence: Int?
    @Option(help: "Split of --sequence: train or val.")
    var split = "train"
    @Option(help: "Tokenizer directory for decoding (default: the one recorded in the manifest).")
    var tokenizer: String?

    func validate() throws {
        if split != "train" && split != "val" { throw ValidationError("--split must be train or val") }
    }

    func run() throws {
        try runReporting {
            let m = try PackManifest.load(shards)
            let width = m.dtype == "uint16" ? 2 : 4
            for (name, s) in [("train", m.train), ("val", m.val)] {
                let bytes = s.shards.reduce(0) { $0 + $1.bytes }
                let ratio = bytes > 0 ? Double(s.tokens * width) / Double(bytes) : 0
                print(String(format: "%@: %d documents, %d tokens, %d sequences of %d, %d shards, %d bytes, compression %.2fx",
                             name, s.documents, s.tokens, s.sequences, m.config.seqLen, s.shards.count, bytes, ratio))
            }
            print("vocabulary \(m.vocabSize) (\(m.dtype)), <|endoftext|> = \(m.endOfTextId)")
            if let index = sequence {
                let ids = try Packer.sequence(shards, index: index, split: split)
                let tok = try LoadedTokenizer.load(tokenizer ?? m.tokenizerDir)
                print("\(split) sequence \(index): \(ids.count) tokens")
                print(String(decoding: tok.model.decode(ids), as: UTF8.self))
            }
        }
    }
}
