import Foundation
@testable import RepriseCore
import XCTest

/// The gzip decoder's read-ahead thread must change nothing but the speed: same bytes, same reads of the
/// underlying source, same errors, and no thread left behind. Members are written by /bin/gzip.
final class GzipReadAheadTests: XCTestCase {
    /// Members of WARC-like records of varied sizes, and every fifth of random bytes (stored, not
    /// compressed) holding complete gzip members inside: headers that decode whole at places that are not
    /// member boundaries of the file. The helper is bound to start at some of them.
    private static let members: [(plain: [UInt8], gz: [UInt8])] = {
        var rng = SplitMix64(seed: 5)
        let words = ["river", "Donau", "fließt", "mündet", "ligne", "accents", "🌊", "the", "of", "WARC/1.0"]
        var plains: [[UInt8]] = []
        for i in 0..<300 {
            if i % 5 == 2 {
                // Random bytes around embedded members (written by gzip below and spliced in afterwards).
                plains.append((0..<Int(8000 + rng.next() % 20_000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                continue
            }
            var text = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://example.org/\(i)\r\n\r\n"
            let n = Int(20 + rng.next() % (i % 50 == 0 ? 40_000 : 1500))
            for _ in 0..<n { text += words[Int(rng.next() % UInt64(words.count))] + (rng.next() % 9 == 0 ? "\n" : " ") }
            plains.append(Array(text.utf8))
        }
        let inner = gzipEach([Array("an inner member, not a boundary of the file".utf8)])[0]
        // One every 500 bytes: where the helper's part of a buffer starts inside such a member, it finds one.
        for i in plains.indices where i % 5 == 2 {
            for at in stride(from: 100, to: plains[i].count - inner.count, by: 500) {
                plains[i].replaceSubrange(at..<(at + inner.count), with: inner)
            }
        }
        var gz = gzipEach(plains)
        for i in plains.indices where i % 5 == 2 { gz[i] = storedMember(plains[i]) }
        return Array(zip(plains, gz))
    }()

    /// A gzip member of one stored (uncompressed) deflate block, RFC 1952 around RFC 1951 section 3.2.4:
    /// the content appears in it byte for byte, inner gzip members included (gzip itself would compress
    /// their repeated headers away).
    private static func storedMember(_ data: [UInt8]) -> [UInt8] {
        precondition(data.count <= 0xFFFF)
        let len = UInt16(data.count)
        var m: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1] // header, then BFINAL = 1, BTYPE = 00
        m += [UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8(~len >> 8)]
        m += data
        let crc = data.withUnsafeBytes { CRC32.checksum($0) }
        for v in [crc, UInt32(data.count)] { for k in 0..<4 { m.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
        return m
    }

    /// Compresses each buffer into a gzip member of its own (one gzip process for all).
    private static func gzipEach(_ plains: [[UInt8]]) -> [[UInt8]] {
        let dir = NSTemporaryDirectory() + "reprise-gzra-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = plains.indices.map { "\(dir)/\($0)" }
        for (p, n) in zip(plains, names) { FileManager.default.createFile(atPath: n, contents: Data(p)) }
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/bin/gzip")
        proc.arguments = ["-n", "-f"] + names
        try! proc.run(); proc.waitUntilExit()
        return names.map { [UInt8](FileManager.default.contents(atPath: $0 + ".gz")!) }
    }

    private var file: [UInt8] { Self.members.flatMap(\.gz) }
    private var plain: [UInt8] { Self.members.flatMap(\.plain) }

    /// The decoder under test: a small input buffer (many refills, members straddling its end) and a helper
    /// job for any back part of it, however small.
    private func decoder(_ bytes: [UInt8], readAhead: Bool, source: ByteSource? = nil) throws -> GzipDecoder {
        try GzipDecoder(source ?? MemorySource(bytes), name: "m.gz", readAhead: readAhead, inputCapacity: 64 << 10, minimumAhead: 0)
    }

    private func drain(_ source: ByteSource, chunk: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = try buf.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { return out }
            out += buf[0..<n]
        }
    }

    /// The outcome of reading `bytes` to the end: the bytes, or the error's line with what came before it.
    private func outcome(_ bytes: [UInt8], readAhead: Bool) throws -> (bytes: Int, error: String?) {
        let d = try decoder(bytes, readAhead: readAhead)
        var got = 0
        var buf = [UInt8](repeating: 0, count: 5000)
        do {
            while true {
                let n = try buf.withUnsafeMutableBytes { try d.read(into: $0) }
                if n == 0 { return (got, nil) }
                got += n
            }
        } catch {
            return (got, error.oneLine)
        }
    }

    func testReadAheadGivesTheSameBytesAndTakesMembersOver() throws {
        let file = self.file, plain = self.plain
        for chunk in [1 << 20, 4096, 777] {
            let plainDecoder = try decoder(file, readAhead: false)
            XCTAssertEqual(try drain(plainDecoder, chunk: chunk), plain)
            let ahead = try decoder(file, readAhead: true)
            XCTAssertEqual(try drain(ahead, chunk: chunk), plain, "reads of \(chunk) bytes")
            // Without this the test would pass with the helper doing nothing.
            XCTAssertGreaterThan(ahead.membersTakenOver, 10)
            XCTAssertGreaterThan(ahead.falseStarts, 0, "no job started inside a member: the test misses that case")
            XCTAssertEqual(plainDecoder.membersTakenOver, 0)
        }
    }

    func testTruncatedAndCorruptInputGiveTheSameErrorWithReadAhead() throws {
        let file = self.file
        let sizes = Self.members.map(\.gz.count)
        let starts = sizes.indices.map { sizes[..<$0].reduce(0, +) }
        var cases: [(String, [UInt8])] = []
        // Cut inside members (a cut between two members is a shorter file, not an error).
        for cut in [starts[200] + 7, starts[150] + 1, file.count - 3, starts[120] + sizes[120] / 2] {
            cases.append(("cut at \(cut)", Array(file[0..<cut])))
        }
        // Corrupt bytes inside a member at the front of a buffer, one in the back part, and a damaged header.
        for at in [starts[100] + 30, starts[160] + sizes[160] / 2, starts[240]] {
            var bad = file
            for i in at..<(at + 12) { bad[i] ^= 0x5A }
            cases.append(("corrupt at \(at)", bad))
        }
        cases.append(("trailing garbage", file + Array("not gzip at all".utf8)))
        for (what, bytes) in cases {
            let without = try outcome(bytes, readAhead: false)
            let with = try outcome(bytes, readAhead: true)
            XCTAssertNotNil(without.error, what)
            XCTAssertEqual(with.error, without.error, what)
            XCTAssertEqual(with.bytes, without.bytes, what)
        }
    }

    func testAnAbandonedDecoderLeavesNoThreadAndTheHashCoversTheWholeFile() throws {
        let file = self.file
        let path = NSTemporaryDirectory() + "reprise-gzra-hash-\(getpid()).gz"
        FileManager.default.createFile(atPath: path, contents: Data(file))
        defer { try? FileManager.default.removeItem(atPath: path) }
        weak var helper: MemberReadAhead?
        let hashing = try HashingFileSource(path: path)
        do {
            let d = try decoder([], readAhead: true, source: hashing)
            var buf = [UInt8](repeating: 0, count: 100)
            XCTAssertEqual(try buf.withUnsafeMutableBytes { try d.read(into: $0) }, 100)
            helper = d.readAhead
            XCTAssertNotNil(helper)
        }
        // The helper thread holds its object while it runs: gone means it was ended and joined.
        XCTAssertNil(helper, "the read-ahead thread outlived its decoder")

        // The digest, finished after the decoder is gone, against sha256sum's.
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        proc.arguments = [path]
        let pipe = Pipe()
        proc.standardOutput = pipe
        try proc.run(); proc.waitUntilExit()
        let peer = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        XCTAssertEqual(try hashing.finishHex(), String(peer))
    }

    func testADecoderThatThrowsLeavesNoThread() throws {
        var bad = file
        bad[bad.count / 3] ^= 0xFF
        weak var helper: MemberReadAhead?
        do {
            let d = try decoder(bad, readAhead: true)
            XCTAssertThrowsError(try drain(d, chunk: 4096))
            helper = d.readAhead
        }
        XCTAssertNil(helper, "the read-ahead thread outlived its decoder")
    }
}
