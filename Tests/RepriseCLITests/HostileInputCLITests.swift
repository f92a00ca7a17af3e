import Foundation
import XCTest

/// Hostile inputs on the command line and in config files: clear errors, never a crash or an internal error.
extension CLITests {
    /// The YAML loader recurses once per level; thousands of levels used to overflow the stack.
    func testDeeplyNestedPipelineFileIsRefusedWithItsLine() throws {
        let n = 5_000
        let files = [
            "flow.yaml": "work_dir: w\nstages: " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "\n",
            "block.yaml": "work_dir: w\nstages:\n" + (0..<n).map { String(repeating: " ", count: $0 + 1) + "k\($0):\n" }.joined()
                + String(repeating: " ", count: n + 1) + "x: 1\n",
            "dash.yaml": "work_dir: w\nstages:\n  " + String(repeating: "- ", count: n) + "x\n",
            // Text that looks like a quote or a block scalar in a plain scalar hides nothing.
            "tricky.yaml": "work_dir: w\ntitle: it's |\nstages:\n" + (0..<n).map { String(repeating: " ", count: $0 + 1) + "k\($0):\n" }.joined(),
        ]
        let lines = ["flow.yaml": 2, "block.yaml": 66, "dash.yaml": 3, "tricky.yaml": 67]
        for (name, text) in files {
            write(name, text)
            let r = try reprise(["run", name])
            XCTAssertEqual(r.status, 1, "\(name): \(r.stderr.prefix(300))")
            XCTAssertTrue(r.stderr.contains("\(name):\(lines[name]!): nesting deeper than 64 levels"), "\(name): \(r.stderr.prefix(300))")
        }
        // Real nesting, block scalars with deep-looking text, quoted brackets and comments pass the check.
        write("ok.yaml", """
        work_dir: w   # [[[[
        note: |
              [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        other: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        stages:
          ingest: {inputs: [in], config: {dedup: {bands: 4}}}

        """)
        let ok = try reprise(["run", "ok.yaml"])
        XCTAssertFalse(ok.stderr.contains("nesting"), ok.stderr)
        XCTAssertTrue(ok.stderr.contains("note"), "the unknown keys are reported by the decoder: \(ok.stderr)")
    }
}
