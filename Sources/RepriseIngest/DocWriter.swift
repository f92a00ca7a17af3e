import Foundation
import RepriseCore

/// Writes JSON lines into `PREFIX-NNNNN.jsonl.zst` files of at most `perFile` documents each, every file
/// one zstd frame with content checksum, each written atomically.
final class RotatingJSONLWriter {
    let dir: String, prefix: String, perFile: Int, level: Int32
    private var current: (writer: AtomicFileWriter, encoder: ZstdEncoder, name: String)?
    private var docsInFile = 0
    private var line: [UInt8] = []
    private(set) var files: [OutputFile] = []

    init(dir: String, prefix: String, perFile: Int, level: Int) {
        self.dir = dir; self.prefix = prefix; self.perFile = perFile; self.level = Int32(level)
    }

    func write(_ record: [UInt8]) throws {
        if current == nil {
            let name = String(format: "%@-%05d.jsonl.zst", prefix, files.count)
            let writer = try AtomicFileWriter(path: dir + "/" + name)
            // One zstd worker thread compresses while this thread goes on; zstd's output does not depend on
            // the number of workers once it is at least one, so the bytes are the same on every machine.
            let encoder = ZstdEncoder(level: level, checksum: true, threads: 1, jobBytes: ZstdEncoder.streamJobBytes) { try writer.write($0) }
            current = (writer, encoder, name)
        }
        try current!.encoder.write(record)
        docsInFile += 1
        if docsInFile >= perFile { try closeFile() }
    }

    private func closeFile() throws {
        guard let c = current else { return }
        try c.encoder.finishFrame()
        let sha = try c.writer.commit()
        files.append(OutputFile(file: c.name, bytes: c.writer.bytesWritten, sha256: sha, documents: docsInFile))
        current = nil
        docsInFile = 0
    }

    func finish() throws -> [OutputFile] {
        try closeFile()
        return files
    }
}
