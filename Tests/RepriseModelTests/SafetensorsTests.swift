import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

final class SafetensorsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    // MARK: The fixture tensors (Tools/model/make_safetensors_fixture.py defines the same ones)

    static let specialBits: [UInt32] = [0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x0000_0001, 0x7F7F_FFFF, 0x7FC0_0001]
    static let up10: [Float] = (0..<12).map { (Float($0) - 5) * 0.25 }
    static let moments: [Double] = (0..<6).map { Double($0) * 0.125 - 0.5 }
    static let ids: [Int32] = [Int32.min, -1, 0, Int32.max]
    static let mask: [UInt8] = [0, 1, 2, 254, 255]
    static let rng: [UInt64] = [UInt64.max, 12345]

    /// The mixed fixture's tensors, in an order different from the file's.
    static func mixedEntries() -> [SafetensorsEntry] {
        [
            SafetensorsEntry(name: "model.layers.10.mlp.up_proj.weight", shape: [3, 4], values: up10),
            SafetensorsEntry(name: "model.layers.2.mlp.up_proj.weight", shape: [6],
                             values: specialBits.map(Float.init(bitPattern:))),
            SafetensorsEntry(name: "scalar", shape: [], values: [Float(3.5)]),
            SafetensorsEntry(name: "empty", shape: [0, 3], values: [Float]()),
            SafetensorsEntry(name: "optimizer.step", shape: [1], values: [Int64(123_456_789_012)]),
            SafetensorsEntry(name: "moments", shape: [2, 3], values: moments),
            SafetensorsEntry(name: "ids", shape: [4], values: ids),
            SafetensorsEntry(name: "mask", shape: [5], values: mask),
            SafetensorsEntry(name: "rng", shape: [2], values: rng),
        ]
    }

    static func llamaEntries() -> [SafetensorsEntry] {
        [
            SafetensorsEntry(name: "model.norm.weight", shape: [2], values: [Float(1), 0.75]),
            SafetensorsEntry(name: "model.layers.2.input_layernorm.weight", shape: [2], values: [Float(2), 2]),
            SafetensorsEntry(name: "model.layers.10.input_layernorm.weight", shape: [2], values: [Float(1), 1]),
            SafetensorsEntry(name: "model.layers.0.self_attn.q_proj.weight", shape: [2, 2], values: [Float(-3), -2, -1, 0]),
            SafetensorsEntry(name: "model.embed_tokens.weight", shape: [4, 2], values: (0..<8).map { Float($0) * 0.5 }),
        ]
    }

    /// t00 … t11: [1, 2, 3] as BOOL (values 1, 1, 1), U8, I8, I16, U16, F16, I32, U32, F32, F64, I64, U64.
    static func dtypeEntries() -> [SafetensorsEntry] {
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0x40, 0x00, 0x42]  // 1, 2, 3 in IEEE half precision
        return [
            SafetensorsEntry(name: "t00", dtype: .BOOL, shape: [3], bytes: [1, 1, 1]),
            SafetensorsEntry(name: "t01", shape: [3], values: [UInt8(1), 2, 3]),
            SafetensorsEntry(name: "t02", shape: [3], values: [Int8(1), 2, 3]),
            SafetensorsEntry(name: "t03", shape: [3], values: [Int16(1), 2, 3]),
            SafetensorsEntry(name: "t04", shape: [3], values: [UInt16(1), 2, 3]),
            SafetensorsEntry(name: "t05", dtype: .F16, shape: [3], bytes: f16),
            SafetensorsEntry(name: "t06", shape: [3], values: [Int32(1), 2, 3]),
            SafetensorsEntry(name: "t07", shape: [3], values: [UInt32(1), 2, 3]),
            SafetensorsEntry(name: "t08", shape: [3], values: [Float(1), 2, 3]),
            SafetensorsEntry(name: "t09", shape: [3], values: [Double(1), 2, 3]),
            SafetensorsEntry(name: "t10", shape: [3], values: [Int64(1), 2, 3]),
            SafetensorsEntry(name: "t11", shape: [3], values: [UInt64(1), 2, 3]),
        ]
    }

    private func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }

    /// The values of the mixed tensors (the file may hold others).
    private func checkMixedValues(_ f: SafetensorsFile) throws {
        XCTAssertEqual(try f.floats("model.layers.10.mlp.up_proj.weight", shape: [3, 4]), Self.up10)
        // Bit patterns: -0, ±inf, the smallest denormal, the largest float and a NaN with a payload survive.
        XCTAssertEqual(try f.floats("model.layers.2.mlp.up_proj.weight").map(\.bitPattern), Self.specialBits)
        XCTAssertEqual(try f.floats("scalar", shape: []), [3.5])
        XCTAssertEqual(try f.floats("empty", shape: [0, 3]), [])
        XCTAssertEqual(try f.values("optimizer.step", as: Int64.self), [123_456_789_012])
        XCTAssertEqual(try f.values("moments", as: Double.self, shape: [2, 3]), Self.moments)
        XCTAssertEqual(try f.values("ids", as: Int32.self), Self.ids)
        XCTAssertEqual(try f.values("mask", as: UInt8.self), Self.mask)
        XCTAssertEqual(try f.values("rng", as: UInt64.self), Self.rng)
        XCTAssertEqual(f.info("moments")?.dtype, .F64)
        XCTAssertEqual(f.info("scalar")?.shape, [])
        XCTAssertEqual(f.info("scalar")?.elementCount, 1)
    }

    private func checkMixed(_ f: SafetensorsFile) throws {
        try checkMixedValues(f)
        XCTAssertEqual(f.tensors.count, 9)
        // Data order: dtype (8-byte types first), then name, as the reference writer lays it out.
        XCTAssertEqual(f.names, ["rng", "optimizer.step", "moments", "empty", "model.layers.10.mlp.up_proj.weight",
                                 "model.layers.2.mlp.up_proj.weight", "scalar", "ids", "mask"])
    }

    // MARK: Interoperability with Python's safetensors

    func testReadsFilesWrittenByPythonSafetensors() throws {
        let f = try SafetensorsFile(path: fixture("python-read.safetensors"))
        try checkMixed(f)
        XCTAssertEqual(f.metadata, ["format": "pt", "reprise": "fixture", "note": "é \"quoted\" \\ \n\t/ \u{2028} \u{01}"])

        let g = try SafetensorsFile(path: fixture("python-nometa.safetensors"))
        XCTAssertNil(g.metadata)
        XCTAssertEqual(try g.floats("model.embed_tokens.weight", shape: [4, 2]), (0..<8).map { Float($0) * 0.5 })
        XCTAssertEqual(try g.floats("model.layers.0.self_attn.q_proj.weight", shape: [2, 2]), [-3, -2, -1, 0])
        XCTAssertEqual(try g.floats("model.layers.10.input_layernorm.weight"), [1, 1])
        XCTAssertEqual(try g.floats("model.layers.2.input_layernorm.weight"), [2, 2])
        XCTAssertEqual(try g.floats("model.norm.weight"), [1, 0.75])

        let h = try SafetensorsFile(path: fixture("python-dtypes.safetensors"))
        XCTAssertEqual(h.tensors.map(\.dtype), [.U64, .I64, .F64, .F32, .U32, .I32, .F16, .U16, .I16, .I8, .U8, .BOOL])
        XCTAssertEqual(try h.values("t02", as: Int8.self), [1, 2, 3])
        XCTAssertEqual(try h.values("t04", as: UInt16.self), [1, 2, 3])
        XCTAssertEqual(try h.withRawBytes("t05") { Array($0) }, [0x00, 0x3C, 0x00, 0x40, 0x00, 0x42])
    }

    func testWriterProducesPythonSafetensorsBytes() throws {
        for (file, entries, metadata) in [
            ("python-bytes.safetensors", Self.mixedEntries(), ["format": "pt"]),
            ("python-nometa.safetensors", Self.llamaEntries(), nil),
            ("python-dtypes.safetensors", Self.dtypeEntries(), nil),
        ] as [(String, [SafetensorsEntry], [String: String]?)] {
            let expected = try XCTUnwrap(FileManager.default.contents(atPath: fixture(file)))
            XCTAssertEqual(try Safetensors.encode(entries, metadata: metadata), Array(expected), file)
            // The same on disk, whatever order the entries come in; the returned hash is the file's.
            let path = dir + "/" + file
            let sha = try Safetensors.write(entries.reversed(), metadata: metadata, to: path)
            let written = try XCTUnwrap(FileManager.default.contents(atPath: path))
            XCTAssertEqual(written, expected, file)
            XCTAssertEqual(sha, Hashing.sha256Hex(Array(written)))
        }
    }

    // MARK: Our own files

    func testRoundTripWithMetadataAndBufferEntries() throws {
        var rng = SplitMix64(seed: 9)
        let weights = (0..<1000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0xBFFF_FFFF) }
        let path = dir + "/sub/ckpt.safetensors"  // the directory is created
        let metadata = ["step": "42", "format": "pt", "": "empty key", "z": ""]
        try weights.withUnsafeBufferPointer { buf in
            var entries = Self.mixedEntries()
            entries.append(SafetensorsEntry(name: "w", shape: [10, 100], buffer: buf))
            entries.append(SafetensorsEntry(name: "bf", dtype: .BF16, shape: [2], bytes: [0x80, 0x3F, 0x00, 0x40]))
            try Safetensors.write(entries, metadata: metadata, to: path)
        }
        let f = try SafetensorsFile(path: path)
        try XCTAssertEqual(f.floats("w", shape: [10, 100]).map(\.bitPattern), weights.map(\.bitPattern))
        XCTAssertEqual(f.metadata, metadata)
        XCTAssertEqual(try f.withRawBytes("bf") { Array($0) }, [0x80, 0x3F, 0x00, 0x40])
        var dst = [Float](repeating: 0, count: 1000)
        try dst.withUnsafeMutableBufferPointer { try f.copy("w", into: $0, shape: [10, 100]) }
        XCTAssertEqual(dst.map(\.bitPattern), weights.map(\.bitPattern))
        // Metadata keys are sorted in the header, so the bytes are stable.
        let again = dir + "/again.safetensors"
        try weights.withUnsafeBufferPointer { buf in
            var entries = Self.mixedEntries()
            entries.append(SafetensorsEntry(name: "w", shape: [10, 100], buffer: buf))
            entries.append(SafetensorsEntry(name: "bf", dtype: .BF16, shape: [2], bytes: [0x80, 0x3F, 0x00, 0x40]))
            try Safetensors.write(entries.reversed(), metadata: metadata, to: again)
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), FileManager.default.contents(atPath: again))
        // Every tensor starts at a multiple of its element size (8-byte types first, header padded to 8).
        for t in f.tensors { XCTAssertEqual((8 + headerLength(path) + t.dataRange.lowerBound) % t.dtype.byteSize, 0, t.name) }
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub"), ["ckpt.safetensors"])
        try checkMixedValues(f)
        XCTAssertEqual(f.tensors.count, 11)
    }

    private func headerLength(_ path: String) -> Int {
        let d = FileManager.default.contents(atPath: path)!
        return Int(d.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }

    func testEmptyFileAndEmptyMetadata() throws {
        XCTAssertEqual(try Safetensors.encode([]), Array("\u{08}\0\0\0\0\0\0\0{}      ".utf8))
        let path = dir + "/e.safetensors"
        try Safetensors.write([], metadata: [:], to: path)
        let f = try SafetensorsFile(path: path)
        XCTAssertEqual(f.metadata, [:])
        XCTAssertEqual(f.tensors, [])
    }

    func testWriterRejectsBadEntries() {
        let p = dir + "/bad.safetensors"
        expectError({ try Safetensors.write([SafetensorsEntry(name: "a", shape: [3], values: [Float(1), 2])], to: p) },
                    containing: [p, "\"a\"", "[3]", "8 bytes"])
        expectError({ try Safetensors.write([SafetensorsEntry(name: "a", shape: [1], values: [Float(1)]),
                                             SafetensorsEntry(name: "a", shape: [1], values: [Float(1)])], to: p) },
                    containing: [p, "\"a\" given twice"])
        expectError({ try Safetensors.write([SafetensorsEntry(name: "__metadata__", shape: [1], values: [Float(1)])], to: p) },
                    containing: ["__metadata__"])
        expectError({ try Safetensors.write([SafetensorsEntry(name: "n", shape: [-1], values: [Float]())], to: p) },
                    containing: ["\"n\"", "[-1]"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
    }

    func testReaderAccessErrors() throws {
        let f = try SafetensorsFile(path: fixture("python-bytes.safetensors"))
        expectError({ _ = try f.floats("nope") }, containing: ["python-bytes.safetensors", "no tensor \"nope\""])
        expectError({ _ = try f.floats("ids") }, containing: ["\"ids\" is I32, expected F32"])
        expectError({ _ = try f.floats("model.layers.10.mlp.up_proj.weight", shape: [4, 3]) },
                    containing: ["\"model.layers.10.mlp.up_proj.weight\"", "shape [3,4], expected [4,3]"])
        var small = [Float](repeating: 0, count: 3)
        expectError({ try small.withUnsafeMutableBufferPointer { try f.copy("scalar", into: $0) } },
                    containing: ["\"scalar\" has 1 elements, the destination 3"])
    }

    // MARK: Corrupt files

    /// A file from a header given as text (padded to 8 like real files) and `dataBytes` bytes of data.
    private func craft(_ header: String, dataBytes: Int, name: String = "c.safetensors") throws -> String {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        bytes += json + [UInt8](repeating: 7, count: dataBytes)
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func expectOpenError(_ path: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        expectError({ _ = try SafetensorsFile(path: path) }, containing: [path] + parts, file: file, line: line)
    }

    func testTruncatedFiles() throws {
        let good = try Safetensors.encode(Self.mixedEntries(), metadata: ["format": "pt"])
        let path = dir + "/t.safetensors"
        // Cut inside the data: the last tensors run past the end.
        try Data(good.dropLast(3)).write(to: URL(fileURLWithPath: path))
        expectOpenError(path, ["tensor \"mask\"", "run past the data buffer"])
        // Cut inside the header.
        try Data(good.prefix(100)).write(to: URL(fileURLWithPath: path))
        expectOpenError(path, ["header length", "runs past the end of the file (100 bytes)"])
        // Shorter than the length prefix, and empty.
        try Data(good.prefix(5)).write(to: URL(fileURLWithPath: path))
        expectOpenError(path, ["truncated: 5 bytes"])
        try Data().write(to: URL(fileURLWithPath: path))
        expectOpenError(path, ["truncated: 0 bytes"])
        expectOpenError(dir + "/missing.safetensors", ["cannot open"])
    }

    func testHeaderLengthBeyondTheFile() throws {
        var bytes = try Safetensors.encode(Self.mixedEntries())
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) })
        let path = dir + "/h.safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectOpenError(path, ["header length 1099511627776 runs past the end of the file"])
    }

    func testMalformedHeaders() throws {
        expectOpenError(try craft("{\"a\":{\"dtype\":\"F32\",", dataBytes: 4), ["header is not valid JSON"])
        expectOpenError(try craft("", dataBytes: 0), ["header is not valid JSON"])
        expectOpenError(try craft("[1,2]", dataBytes: 0), ["header is not a JSON object"])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "missing \"shape\""])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "malformed"])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "data_offsets must be [begin, end]"])
        expectOpenError(try craft(#"{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "unknown dtype \"Q7\""])
        expectOpenError(try craft(#"{"__metadata__":{"k":1}}"#, dataBytes: 0), ["__metadata__ must be an object of strings"])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "negative dimension"])
        // A name given twice: only one entry survives decoding, so the other's bytes belong to no tensor.
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                                  dataBytes: 8), ["belong to no tensor"])
    }

    func testBadOffsets() throws {
        // Out of range.
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "data_offsets [0,8] run past the data buffer (4 bytes)"])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, dataBytes: 4),
                        ["tensor \"a\"", "[4,0] are not a range"])
        // Overlap.
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                  dataBytes: 12),
                        ["tensor \"b\" data_offsets [4,12] overlap tensor \"a\" [0,8]"])
        // A gap, and bytes after the last tensor.
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                                  dataBytes: 12),
                        ["data bytes 4..<8 belong to no tensor", "before tensor \"b\""])
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 8),
                        ["data bytes 4..<8 at the end of the file belong to no tensor"])
        // Shape × dtype size differs from the span.
        expectOpenError(try craft(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8),
                        ["tensor \"a\"", "shape [3] of F32 is 12 bytes, but data_offsets [0,8] span 8"])
        expectOpenError(try craft(#"{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, dataBytes: 8),
                        ["tensor \"a\"", "too large"])
        // Zero-size tensors may share an offset with a neighbour.
        let ok = try craft(#"{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}"#,
                           dataBytes: 6)
        XCTAssertEqual(try SafetensorsFile(path: ok).names, ["a", "e", "b"])
    }

    private func expectError(_ body: () throws -> Void, containing parts: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
        } catch {
            let message = error.oneLine
            XCTAssertFalse(message.contains("\n"), file: file, line: line)
            for p in parts {
                XCTAssertTrue(message.contains(p), "\"\(message)\" lacks \"\(p)\"", file: file, line: line)
            }
        }
    }
}
