import ArgumentParser
import Foundation
import RepriseCore

@main
struct Reprise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprise",
        abstract: "Prepare a corpus once and train AR and diffusion language models on it.",
        subcommands: [])
}
