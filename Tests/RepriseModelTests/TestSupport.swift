import Foundation
import RepriseCore
@testable import RepriseModel
import XCTest

/// Seeded random arrays for the tests.
struct TestRandom {
    var rng: SplitMix64
    init(_ seed: UInt64) { rng = SplitMix64(seed: seed) }
    mutating func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
    mutating func normal() -> Double {
        let u1 = uniform() + 0x1p-53, u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
    mutating func floats(_ n: Int, std: Double = 1, mean: Double = 0) -> [Float] {
        (0..<n).map { _ in Float(mean + std * normal()) }
    }
    mutating func ints(_ n: Int, below: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(below)) } }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}

/// max |a − b| / max(max |b|, floor): the error relative to the tensor's scale.
func relativeError(_ a: [Float], _ b: [Double], floor: Double = 1e-30) -> Double {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var diff = 0.0, scale = floor
    for i in 0..<a.count {
        diff = max(diff, abs(Double(a[i]) - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / scale
}

func assertClose(_ a: [Float], _ b: [Double], tolerance: Double, _ message: @autoclosure () -> String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    let e = relativeError(a, b)
    XCTAssertLessThanOrEqual(e, tolerance, "\(message()): relative error \(e)", file: file, line: line)
}

extension FloatBuffer {
    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { self[i] = v }
    }
}

func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }
