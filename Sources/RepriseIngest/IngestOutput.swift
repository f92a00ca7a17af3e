import Foundation
import RepriseCore

/// Reads the documents of an ingest output directory, for the stages after ingest.
public enum IngestOutput {
    /// The `docs-*.jsonl.zst` files of `dir`, in order; an error that says what to run when the directory
    /// is not a complete ingest output.
    public static func documentFiles(_ dir: String) throws -> [String] {
        try StageDirectory.check(dir, format: IngestManifest.formatName,
                                 missing: "it is not a complete ingest output; run `reprise ingest ... --output \(dir)` first")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        return names.filter { $0.hasPrefix("docs-") && $0.hasSuffix(".jsonl.zst") }.sorted().map { dir + "/" + $0 }
    }

    /// SHA-256 of the directory's manifest: the identity of the whole ingest output.
    public static func manifestHash(_ dir: String) throws -> String {
        try Hashing.sha256Hex(file: dir + "/manifest.json")
    }

    /// Calls `body` with the id and the UTF-8 text of every document, in order.
    public static func forEachDocument(_ dir: String, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        for file in try documentFiles(dir) { try forEachDocument(inFile: file, body) }
    }

    /// Calls `body` with the id and the UTF-8 text of every document of one `docs-*.jsonl.zst` file, in order.
    public static func forEachDocument(inFile file: String, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        try forEachRecord(inFile: file, kind: "document") { record, lineNo in
            guard let text = record.text else { throw RepriseError("\(file):\(lineNo): record without text") }
            var id = ""
            if let raw = record.metadata.first(where: { $0.key == "id" })?.json {
                id = raw.withUnsafeBytes { buf in
                    var p = JSONObjectScanner.Parser(b: buf)
                    return (try? p.string()).map { String(decoding: $0, as: UTF8.self) } ?? ""
                }
            }
            try body(id, text)
        }
    }

    /// Calls `body` with every record of a zstd-compressed JSONL output file (documents or exclusions) and
    /// its line number; a line that is not a record is an error naming the file, line and column.
    static func forEachRecord(inFile file: String, kind: String,
                              _ body: (_ record: JSONObjectScanner.Record, _ line: Int) throws -> Void) throws {
        var lines = LineSplitter(ZstdDecoder(try FileSource(path: file), name: file), maxLine: Int.max / 4)
        var lineNo = 0
        while let line = try lines.next() {
            lineNo += 1
            guard case .line(let bytes) = line, !bytes.isEmpty else { continue }
            let record: JSONObjectScanner.Record
            do {
                record = try bytes.withUnsafeBytes { try JSONObjectScanner.scan($0, fields: .plainText) }
            } catch let e as JSONObjectScanner.Failure {
                throw RepriseError("\(file):\(lineNo):\(e.offset + 1): not \(kind == "exclusion" ? "an" : "a") \(kind) record: \(e.reason)")
            }
            try body(record, lineNo)
        }
    }
}
