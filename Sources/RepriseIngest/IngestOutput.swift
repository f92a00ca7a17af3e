import Foundation
import RepriseCore

/// Reads the documents of an ingest output directory, for the stages after ingest.
public enum IngestOutput {
    /// The `docs-*.jsonl.zst` files of `dir`, in order, as its (checked) manifest lists them; an error that
    /// says what to run when the directory is not a complete ingest output.
    public static func documentFiles(_ dir: String) throws -> [String] {
        try IngestManifest.load(dir).outputs.map { dir + "/" + $0.file }
    }

    /// SHA-256 of the directory's manifest: the identity of the whole ingest output.
    public static func manifestHash(_ dir: String) throws -> String {
        try Hashing.sha256Hex(file: StageOutput.manifestPath(dir))
    }

    /// Calls `body` with the id and the UTF-8 text of every document, in order; every file is checked
    /// against the manifest as it is read (see `forEachRecord`).
    public static func forEachDocument(_ dir: String, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        let manifest = try IngestManifest.load(dir)
        for entry in manifest.outputs { try forEachDocument(dir: dir, entry: entry, body) }
    }

    /// Calls `body` with the id and the UTF-8 text of every document of the file `entry` of the ingest
    /// manifest of `dir`, in order.
    public static func forEachDocument(dir: String, entry: OutputFile, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        let file = dir + "/" + entry.file
        try forEachRecord(dir: dir, entry: entry, kind: "document") { record, lineNo in
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

    /// Calls `body` with every record of the zstd-compressed JSONL output file `entry` (documents or
    /// exclusions) of the ingest manifest of `dir`, and its line number; a line that is not a record is an
    /// error naming the file, line and column. The compressed bytes are hashed as they are read: at the end
    /// of the file, a SHA-256 or a record count other than the manifest's is an error, so a file changed
    /// after ingest is never used silently (the caller has seen its records, but writes nothing final
    /// before this returns). A file that fails to decode and differs from the manifest is reported as
    /// changed, the cause, rather than by the decoding error.
    static func forEachRecord(dir: String, entry: OutputFile, kind: String,
                              _ body: (_ record: JSONObjectScanner.Record, _ line: Int) throws -> Void) throws {
        let file = dir + "/" + entry.file
        let changed = RepriseError("\(file): SHA-256 differs from the ingest manifest (the file was changed after ingest); rerun `reprise ingest`")
        let hashing = try HashingFileSource(path: file)
        var lineNo = 0, records = 0
        do {
            var lines = LineSplitter(ZstdDecoder(hashing, name: file), maxLine: Int.max / 4)
            while let line = try lines.next() {
                lineNo += 1
                guard case .line(let bytes) = line, !bytes.isEmpty else { continue }
                let record: JSONObjectScanner.Record
                do {
                    record = try bytes.withUnsafeBytes { try JSONObjectScanner.scan($0, fields: .plainText) }
                } catch let e as JSONObjectScanner.Failure {
                    throw RepriseError("\(file):\(lineNo):\(e.offset + 1): not \(kind == "exclusion" ? "an" : "a") \(kind) record: \(e.reason)")
                }
                records += 1
                try body(record, lineNo)
            }
        } catch {
            if let sha = try? hashing.finishHex(), sha != entry.sha256 { throw changed }
            throw error
        }
        guard try hashing.finishHex() == entry.sha256 else { throw changed }
        guard records == entry.documents else {
            throw RepriseError("\(file): \(records) records, the ingest manifest says \(entry.documents); rerun `reprise ingest`")
        }
    }
}
