import ArgumentParser
import Foundation
import RepriseCore
import RepriseModel

/// `--threads` for commands without progress output.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    /// The count to use: the option, else every core.
    var count: Int { threads ?? defaultThreadCount }

    func validate() throws { try checkThreads(threads) }
}

/// `--threads` and `--quiet`, for the commands that report progress.
struct WorkerOptions: ParsableArguments {
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Flag(help: "No progress output.")
    var quiet = false

    var count: Int { threads ?? defaultThreadCount }

    func validate() throws { try checkThreads(threads) }
}

private func checkThreads(_ threads: Int?) throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
}

/// A command line's options laid over a library config: each option given replaces the config's value, each
/// one left out keeps the library's default (or the config file's value), so the CLI never restates a
/// default. `overlay(lr, \.lr)` for every option.
struct Overlay<Config> {
    var config: Config
    init(_ config: Config) { self.config = config }

    mutating func callAsFunction<Value>(_ value: Value?, _ key: WritableKeyPath<Config, Value>) {
        if let value { config[keyPath: key] = value }
    }

    /// For a config field that is itself optional: an option left out never clears it.
    mutating func callAsFunction<Value>(_ value: Value?, _ key: WritableKeyPath<Config, Value?>) {
        if let value { config[keyPath: key] = value }
    }
}

/// Commands that run a model (OpenBLAS matrix products). `Reprise.main` applies the kernel policy
/// (`BLASRuntime.ensureFastKernel`) to each of them before it runs, and to no other command.
protocol RunsModel {}

enum KernelPolicy {
    /// With this variable set, `reprise` writes the kernel decision to standard error (`kernel policy: ...`)
    /// for commands that run a model: how a user or a test sees that the policy was applied.
    static let traceVariable = "REPRISE_KERNEL_POLICY_TRACE"

    /// Applies the policy when `command` runs a model; may replace the process (see `ensureFastKernel`).
    static func apply(to command: ParsableCommand) {
        guard command is RunsModel else { return }
        let decision = BLASRuntime.ensureFastKernel()
        if ProcessInfo.processInfo.environment[traceVariable] != nil {
            let text: String
            switch decision {
            case .keep(let reason): text = "kept the kernel (\(reason))"
            case .reexec(let core): text = "re-executing with \(core)"
            }
            FileHandle.standardError.write(Data("kernel policy: \(text)\n".utf8))
        }
    }
}

/// A command with `WorkerOptions` reads `threads` and `quiet` as its own.
protocol UsesWorkers { var workers: WorkerOptions { get } }
extension UsesWorkers {
    var threads: Int { workers.count }
    var quiet: Bool { workers.quiet }
}

/// A command with `ThreadOptions` reads `threads` as its own.
protocol UsesThreads { var threading: ThreadOptions { get } }
extension UsesThreads {
    var threads: Int { threading.count }
}
