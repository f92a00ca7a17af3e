import ArgumentParser
import Foundation
import RepriseCore
import RepriseIngest

/// `reprise bench parquet`: the reader alone (no cleaning, dedup or output), for Tools/bench/parquet.
struct BenchParquetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parquet",
        abstract: "Read a Parquet file's rows as ingest does; print {rows, text_bytes, seconds, cpu_seconds, text_mb_per_s}.",
        discussion: """
        One thread: footer, pages, decompression and one document per row (its text copied out, its id and, \
        with --metadata, every other kept column as JSON), handed to a sink that counts them. The time \
        includes opening the file; --repeat reads it that many times and reports the fastest read (wall clock, \
        and the process's CPU time of the read with the least of it).

        Example: reprise bench parquet /tmp/fineweb.parquet --metadata
        """)

    @Argument(help: "A Parquet file.")
    var file: String
    @Option(help: "The text column.")
    var textField = "text"
    @Option(help: "The id column (empty: none).")
    var idField = ParquetReader.defaultIdColumn
    @Flag(help: "Also turn the other columns into metadata.")
    var metadata = false
    @Option(help: "Reads of the file; the fastest is reported.")
    var `repeat` = 1

    func validate() throws {
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        try runReporting {
            var best = Double.infinity, bestCPU = Double.infinity
            var rows = 0, textBytes = 0, metadataBytes = 0, recordErrors = 0
            for _ in 0..<`repeat` {
                rows = 0; textBytes = 0; metadataBytes = 0; recordErrors = 0
                let start = DispatchTime.now().uptimeNanoseconds
                let startCPU = processCPUSeconds()
                let reader = try ParquetReader(path: file, textColumn: textField, idColumn: idField.isEmpty ? nil : idField,
                                               maxBytes: .max, metadata: metadata)
                try reader.read(sink: ReaderSink(emit: { doc in
                    rows += 1
                    if case .text(let b) = doc.body { textBytes += b.count }
                    for m in doc.metadata { metadataBytes += m.json.count }
                }, recordError: { _ in recordErrors += 1 }))
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                bestCPU = min(bestCPU, processCPUSeconds() - startCPU)
            }
            let result: [String: Any] = [
                "rows": rows, "text_bytes": textBytes, "metadata_json_bytes": metadataBytes,
                "record_errors": recordErrors, "seconds": best, "cpu_seconds": bestCPU, "text_mb_per_s": Double(textBytes) / 1e6 / best,
            ]
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }
}

/// CPU time of the whole process (all threads), in seconds.
private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
