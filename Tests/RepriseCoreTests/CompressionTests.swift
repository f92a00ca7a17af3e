import Foundation
import RepriseCore
import XCTest

final class CompressionTests: XCTestCase {
    private func sample(_ n: Int) -> [UInt8] {
        var rng = SplitMix64(seed: 7)
        return (0..<n).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 6) }
    }

    func testZstdRoundTripAcrossFramesAndSmallReads() throws {
        let a = sample(300_000), b = sample(1000)
        var enc: [UInt8] = []
        let e = ZstdEncoder(level: 3) { enc.append(contentsOf: $0) }
        try e.write(a); try e.finishFrame()
        try e.write(b); try e.finishFrame()
        let d = ZstdDecoder(MemorySource(enc), name: "x.zst")
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 777)
        while true {
            let n = try buf.withUnsafeMutableBytes { try d.read(into: $0) }
            if n == 0 { break }
            out += buf[0..<n]
        }
        XCTAssertEqual(out, a + b)
    }

    func testTruncatedZstdIsAnErrorNamingTheFile() throws {
        let enc = try ZstdEncoder.compress(sample(100_000))
        let cut = Array(enc[0..<(enc.count / 2)])
        XCTAssertThrowsError(try ZstdDecoder(MemorySource(cut), name: "cut.zst").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("cut.zst"), err.oneLine)
            XCTAssertTrue(err.oneLine.contains("truncated"), err.oneLine)
        }
    }

    func testGzipMultiMemberAndTruncation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reprise-gz-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = sample(50_000), b = sample(20_000)
        let pa = dir.appendingPathComponent("a"), pb = dir.appendingPathComponent("b")
        try Data(a).write(to: pa); try Data(b).write(to: pb)
        for p in [pa, pb] {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: "/bin/gzip")
            proc.arguments = ["-f", p.path]
            try proc.run(); proc.waitUntilExit()
        }
        let ga = try Data(contentsOf: URL(fileURLWithPath: pa.path + ".gz"))
        let gb = try Data(contentsOf: URL(fileURLWithPath: pb.path + ".gz"))
        let both = [UInt8](ga) + [UInt8](gb)
        XCTAssertEqual(try GzipDecoder(MemorySource(both), name: "ab.gz").readAll(), a + b)
        let cut = Array(both[0..<(ga.count / 2)])
        XCTAssertThrowsError(try GzipDecoder(MemorySource(cut), name: "cut.gz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("cut.gz") && err.oneLine.contains("truncated"), err.oneLine)
        }
        var garbage = [UInt8](ga); garbage[20] ^= 0xFF; garbage[21] ^= 0xFF; garbage[30] ^= 0x55
        XCTAssertThrowsError(try GzipDecoder(MemorySource(garbage), name: "bad.gz").readAll())
    }

    /// Compresses `data` with a command-line tool (`bzip2`, `xz`), which reads a file and writes FILE.EXT.
    private func compressWithTool(_ tool: String, _ args: [String], ext: String, _ data: [UInt8]) throws -> [UInt8] {
        let path = NSTemporaryDirectory() + "reprise-\(ext)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path + "." + ext) }
        try Data(data).write(to: URL(fileURLWithPath: path))
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: tool)
        proc.arguments = args + ["-f", path]
        try proc.run(); proc.waitUntilExit()
        XCTAssertEqual(proc.terminationStatus, 0, "\(tool) failed")
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "." + ext)))
    }

    /// Reads a source to the end in reads of `chunk` bytes.
    private func drain(_ source: ByteSource, chunk: Int = 777) throws -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = try buf.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { return out }
            out += buf[0..<n]
        }
    }

    /// The one-shot decoders of Parquet pages: whole blocks into a buffer of the announced size.
    func testBlockDecodersAndCRC32() throws {
        // Snappy, from the format description: length 17, a 6-byte literal, then a copy of 11 bytes at offset 6.
        let block: [UInt8] = [0x11, 0x14] + Array("hello ".utf8) + [0x1D, 0x06]
        func snappy(_ src: [UInt8], capacity: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: capacity)
            let n = try src.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try Snappy.decompress(s, into: $0) } }
            return Array(out[0..<n])
        }
        XCTAssertEqual(try snappy(block, capacity: 17), Array("hello hello hello".utf8))
        XCTAssertThrowsError(try snappy(block, capacity: 16), "output larger than the buffer")
        var badOffset = block; badOffset[9] = 0x07 // copies from before the start
        XCTAssertThrowsError(try snappy(badOffset, capacity: 17))
        XCTAssertThrowsError(try snappy(Array(block.dropLast()), capacity: 17), "truncated block")

        // gzip members written by /bin/gzip; its trailer holds the CRC-32 of the content.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reprise-block-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inflater = try InflateBlockDecoder()
        for (i, data) in [sample(40_000), sample(10), []].enumerated() {
            let p = dir.appendingPathComponent("\(i)")
            try Data(data).write(to: p)
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: "/bin/gzip")
            proc.arguments = ["-f", p.path]
            try proc.run(); proc.waitUntilExit()
            let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p.path + ".gz")))
            let crc = gz[(gz.count - 8)..<(gz.count - 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertEqual(data.withUnsafeBytes { CRC32.checksum($0) }, crc)
            func inflate(_ src: [UInt8], capacity: Int) throws -> [UInt8] {
                var out = [UInt8](repeating: 0, count: capacity)
                let n = try src.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try inflater.decompress(s, into: $0) } }
                return Array(out[0..<n])
            }
            XCTAssertEqual(try inflate(gz, capacity: data.count), data, "the same decoder serves block after block")
            if !data.isEmpty {
                XCTAssertThrowsError(try inflate(gz, capacity: data.count - 1)) { XCTAssertTrue($0.oneLine.contains("more than"), $0.oneLine) }
                XCTAssertThrowsError(try inflate(Array(gz[0..<(gz.count / 2)]), capacity: data.count))
            }
        }
    }

    func testGzipMembersTooLargeForAWholeDecodeAreStreamed() throws {
        // Small members are decoded whole, a member of 3 MB of random bytes (more compressed bytes than the
        // input buffer holds) is streamed, and the member after it is decoded whole again.
        var rng = SplitMix64(seed: 11)
        let big = (0..<3_000_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let a = sample(10_000), b = sample(2_000_000), c = sample(5_000)
        let ga = try compressWithTool("/bin/gzip", ["-n"], ext: "gz", a)
        let gbig = try compressWithTool("/bin/gzip", ["-n"], ext: "gz", big)
        let gb = try compressWithTool("/bin/gzip", ["-n"], ext: "gz", b)
        let gc = try compressWithTool("/bin/gzip", ["-n"], ext: "gz", c)
        let all = ga + gbig + gb + gc + ga
        XCTAssertEqual(try drain(GzipDecoder(MemorySource(all), name: "all.gz"), chunk: 100_000), a + big + b + c + a)
        // Cut inside the big member, and inside the last small one.
        for cut in [ga.count + gbig.count / 2, all.count - 10] {
            XCTAssertThrowsError(try GzipDecoder(MemorySource(Array(all[0..<cut])), name: "cut.gz").readAll()) { err in
                XCTAssertTrue(err.oneLine.contains("cut.gz") && err.oneLine.contains("truncated"), err.oneLine)
            }
        }
        // Corrupt data in a small member after the big one.
        var bad = all
        let at = ga.count + gbig.count + gb.count + 40
        for i in at..<(at + 20) { bad[i] ^= 0xA5 }
        XCTAssertThrowsError(try GzipDecoder(MemorySource(bad), name: "bad.gz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("bad.gz") && err.oneLine.contains("corrupt"), err.oneLine)
        }
        // Bytes after the last member that are not a member are an error, not ignored.
        XCTAssertThrowsError(try GzipDecoder(MemorySource(ga + Array("trailing".utf8)), name: "tail.gz").readAll())
    }

    func testBzip2RoundTripMultiStreamTruncationAndCorruption() throws {
        let a = sample(300_000), b = sample(1000)
        let ca = try compressWithTool("/bin/bzip2", ["-9"], ext: "bz2", a)
        let cb = try compressWithTool("/bin/bzip2", ["-1"], ext: "bz2", b)
        XCTAssertTrue(Bzip2.matches(ca))
        XCTAssertEqual(try drain(Bzip2Decoder(MemorySource(ca), name: "a.bz2")), a)
        // `cat a.bz2 b.bz2`: two streams, one file.
        XCTAssertEqual(try drain(Bzip2Decoder(MemorySource(ca + cb), name: "ab.bz2"), chunk: 1 << 16), a + b)
        XCTAssertEqual(try Bzip2Decoder(MemorySource([]), name: "empty.bz2").readAll(), [])
        let cut = Array(ca[0..<(ca.count / 2)])
        XCTAssertThrowsError(try Bzip2Decoder(MemorySource(cut), name: "cut.bz2").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("cut.bz2") && err.oneLine.contains("truncated"), err.oneLine)
            XCTAssertTrue(err.oneLine.contains("decoded bytes"), err.oneLine)
        }
        var bad = ca
        for i in stride(from: 100, to: 200, by: 7) { bad[i] ^= 0x5A }
        XCTAssertThrowsError(try Bzip2Decoder(MemorySource(bad), name: "bad.bz2").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("bad.bz2") && err.oneLine.contains("corrupt"), err.oneLine)
        }
        // Data after the last stream that is not another stream is corrupt, not silently ignored.
        XCTAssertThrowsError(try Bzip2Decoder(MemorySource(cb + Array("garbage!".utf8)), name: "tail.bz2").readAll())
    }

    func testXzRoundTripMultiStreamTruncationAndCorruption() throws {
        let a = sample(300_000), b = sample(1000)
        let ca = try compressWithTool("/usr/bin/xz", ["-6"], ext: "xz", a)
        let cb = try compressWithTool("/usr/bin/xz", ["-0", "--check=sha256"], ext: "xz", b)
        XCTAssertTrue(ca.starts(with: Xz.magic))
        XCTAssertEqual(try drain(XzDecoder(MemorySource(ca), name: "a.xz")), a)
        XCTAssertEqual(try drain(XzDecoder(MemorySource(ca + cb), name: "ab.xz"), chunk: 1 << 16), a + b)
        // Stream padding (multiples of four zero bytes) between streams is allowed by the format.
        XCTAssertEqual(try XzDecoder(MemorySource(ca + [0, 0, 0, 0] + cb), name: "pad.xz").readAll(), a + b)
        let cut = Array(ca[0..<(ca.count / 2)])
        XCTAssertThrowsError(try XzDecoder(MemorySource(cut), name: "cut.xz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("cut.xz") && err.oneLine.contains("truncated"), err.oneLine)
        }
        // Cut inside the stream footer: every block decoded, still truncated.
        XCTAssertThrowsError(try XzDecoder(MemorySource(Array(ca.dropLast(3))), name: "footer.xz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("truncated"), err.oneLine)
        }
        var bad = ca
        for i in stride(from: 100, to: 200, by: 7) { bad[i] ^= 0x5A }
        XCTAssertThrowsError(try XzDecoder(MemorySource(bad), name: "bad.xz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("bad.xz") && err.oneLine.contains("corrupt"), err.oneLine)
        }
        XCTAssertThrowsError(try XzDecoder(MemorySource(Array("not xz at all".utf8)), name: "no.xz").readAll()) { err in
            XCTAssertTrue(err.oneLine.contains("not xz data"), err.oneLine)
        }
    }

    func testHTTPBodyInflateTakesGzipZlibAndRawDeflate() throws {
        let text = sample(50_000)
        let gz = try compressWithTool("/bin/gzip", ["-n"], ext: "gz", text)
        XCTAssertEqual(try Gzip.inflateHTTPBody(gz, limit: 1 << 20), text)
        // A gzip member without its trailer (zlib format is the same deflate data with another wrapper).
        let rawDeflate = Array(gz[10..<(gz.count - 8)])
        XCTAssertEqual(try Gzip.inflateHTTPBody(rawDeflate, limit: 1 << 20), text)
        XCTAssertEqual(try Gzip.inflateHTTPBody([0x78, 0x9C] + rawDeflate, limit: 1 << 20), text)
        XCTAssertNil(try Gzip.inflateHTTPBody(gz, limit: 1000), "over the limit")
        // A download cut short yields what arrived.
        let part = try XCTUnwrap(try Gzip.inflateHTTPBody(Array(gz[0..<(gz.count / 2)]), limit: 1 << 20))
        XCTAssertTrue(part.count > 0 && text.starts(with: part))
    }

    func testAtomicWriterLeavesNoTemporaryAndHashesContent() throws {
        let dir = NSTemporaryDirectory() + "reprise-atomic-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/f.bin"
        let hash = try AtomicFileWriter.write(Array("hello".utf8), to: path)
        XCTAssertEqual(hash, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub"), ["f.bin"])
        XCTAssertEqual(try Hashing.sha256Hex(file: path), hash)
    }

    func testSHA256StreamHasValueSemantics() {
        var a = SHA256Stream()
        a.update("hel")
        var b = a
        b.update("lo")
        a.update("p")
        XCTAssertEqual(b.finalizeHex(), Hashing.sha256Hex("hello"))
        XCTAssertEqual(a.finalizeHex(), Hashing.sha256Hex("help"))
        XCTAssertEqual(a.finalizeHex(), a.finalizeHex(), "finalising does not consume the stream")
        XCTAssertEqual(Hashing.sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testJSONEscaping() throws {
        var out: [UInt8] = []
        JSONBytes.appendString("a\"b\\c\n\t\u{1}é", to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "\"a\\\"b\\\\c\\n\\t\\u0001é\"")
        let back = try JSONSerialization.jsonObject(with: Data(out), options: .fragmentsAllowed) as? String
        XCTAssertEqual(back, "a\"b\\c\n\t\u{1}é")
    }
}
