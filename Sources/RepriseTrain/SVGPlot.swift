import Foundation

/// Text for HTML and SVG: `&`, `<`, `>`, `"` and `'` become character references, so any string (a run
/// name, a path) can go into element content or an attribute value. The output is valid XML as well.
public func htmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            // Control characters other than tab and newline are not allowed in XML 1.0.
            if c.value < 0x20 && c != "\t" && c != "\n" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
        }
    }
    return out
}

/// A line plot rendered as one standalone `<svg>` element: axes with ticks at nice numbers, a linear or
/// log x axis, one `<polyline class="series">` per series (solid, dashed or dotted), optional point
/// markers, and a legend under the plot. No scripts, no external fonts or assets.
public struct LinePlot: Sendable {
    public enum Scale: Sendable { case linear, log }
    public enum Stroke: String, Sendable { case solid, dashed, dotted }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [Point]
        public var color: String
        public var stroke: Stroke
        public var markers: Bool
        public init(name: String, points: [Point], color: String, stroke: Stroke = .solid, markers: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.stroke = stroke; self.markers = markers
        }
    }

    /// The plotted points as CSV: a header `series,x,y`, then one line per point in series order; a series
    /// name is quoted (with inner quotes doubled) when it holds a comma, quote or line break.
    public func csv() -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = "series,x,y\n"
        for s in series {
            let name = field(s.name)
            for p in s.points { out += "\(name),\(p.x),\(p.y)\n" }
        }
        return out
    }

    /// Unique within the page (it names the plot's clip path).
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale = .linear
    public var series: [Series] = []
    /// Fixes the y range instead of fitting it to the data; points outside are clipped.
    public var yRange: ClosedRange<Double>?
    /// The y axis spans at least this much (centred on the data) when `yRange` is not set, so that values
    /// that differ only by noise are not stretched over the whole plot.
    public var minimumYSpan = 0.0
    public var width = 760
    public var plotHeight = 300

    public init(id: String, title: String, xLabel: String, yLabel: String) {
        self.id = id; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
    }

    /// `.log` when the positive x values span more than `ratio`×, else `.linear`.
    public static func scale(for xs: [Double], ratio: Double = 10) -> Scale {
        let pos = xs.filter { $0 > 0 && $0.isFinite }
        guard let lo = pos.min(), let hi = pos.max() else { return .linear }
        return hi / lo > ratio ? .log : .linear
    }

    // Layout, in SVG user units (pixels).
    static let left = 70.0, right = 20.0, top = 34.0, axisBand = 46.0, legendRow = 18.0

    /// The points a series draws: finite, and positive x on a log axis.
    func drawable(_ s: Series) -> [Point] {
        s.points.filter { $0.x.isFinite && $0.y.isFinite && (xScale == .linear || $0.x > 0) }
    }

    public func svg() -> String {
        let W = Double(width), H = Double(plotHeight)
        let plotW = W - Self.left - Self.right
        let all = series.flatMap { drawable($0) }
        // Legend layout: as many columns as fit the longest name.
        let longest = series.map { $0.name.count }.max() ?? 0
        let entryW = min(plotW, 44 + 6.6 * Double(longest))
        let columns = max(1, Int(plotW / entryW))
        let rows = (series.count + columns - 1) / columns
        let totalH = Self.top + H + Self.axisBand + Double(rows) * Self.legendRow + 8
        var o = #"<svg xmlns="http://www.w3.org/2000/svg" class="plot" font-family="Helvetica, Arial, sans-serif" id="\#(htmlEscape(id))" width="\#(Int(W))" height="\#(Int(totalH))" viewBox="0 0 \#(Int(W)) \#(Int(totalH))" role="img" aria-label="\#(htmlEscape(title))">"#
        o += "<title>\(htmlEscape(title))</title>"
        o += #"<text class="plot-title" x="\#(fmt(W / 2))" y="18" text-anchor="middle" font-size="14" font-weight="bold">\#(htmlEscape(title))</text>"#
        let x0 = Self.left, y0 = Self.top, x1 = Self.left + plotW, y1 = Self.top + H
        o += #"<rect x="\#(fmt(x0))" y="\#(fmt(y0))" width="\#(fmt(plotW))" height="\#(fmt(H))" fill="white" stroke="gray"/>"#
        guard !all.isEmpty else {
            o += #"<text x="\#(fmt((x0 + x1) / 2))" y="\#(fmt((y0 + y1) / 2))" text-anchor="middle" fill="dimgray">no data</text></svg>"#
            return o
        }

        // Axes' domains and ticks.
        let xs = all.map(\.x), ys = all.map(\.y)
        let xAxis: Axis = xScale == .log ? Axis.log(xs.min()!, xs.max()!) : Axis.linear(xs.min()!, xs.max()!)
        var (yLo, yHi) = (ys.min()!, ys.max()!)
        if yHi - yLo < minimumYSpan {
            let mid = (yLo + yHi) / 2
            (yLo, yHi) = (mid - minimumYSpan / 2, mid + minimumYSpan / 2)
        }
        let yAxis: Axis = yRange.map { Axis.linear($0.lowerBound, $0.upperBound, exact: true) } ?? Axis.linear(yLo, yHi)
        let px = { (x: Double) -> Double in x0 + xAxis.fraction(x) * plotW }
        let py = { (y: Double) -> Double in y1 - yAxis.fraction(y) * H }

        o += #"<g class="grid" stroke="gainsboro" stroke-width="1">"#
        for t in xAxis.ticks { o += #"<line x1="\#(fmt(px(t)))" y1="\#(fmt(y0))" x2="\#(fmt(px(t)))" y2="\#(fmt(y1))"/>"# }
        for t in yAxis.ticks { o += #"<line x1="\#(fmt(x0))" y1="\#(fmt(py(t)))" x2="\#(fmt(x1))" y2="\#(fmt(py(t)))"/>"# }
        o += "</g>"
        o += #"<g class="ticks" font-size="11" fill="darkslategray">"#
        for t in xAxis.ticks {
            o += #"<line x1="\#(fmt(px(t)))" y1="\#(fmt(y1))" x2="\#(fmt(px(t)))" y2="\#(fmt(y1 + 4))" stroke="dimgray"/>"#
            o += #"<text x="\#(fmt(px(t)))" y="\#(fmt(y1 + 16))" text-anchor="middle">\#(htmlEscape(xAxis.label(t)))</text>"#
        }
        for t in yAxis.ticks {
            o += #"<line x1="\#(fmt(x0 - 4))" y1="\#(fmt(py(t)))" x2="\#(fmt(x0))" y2="\#(fmt(py(t)))" stroke="dimgray"/>"#
            o += #"<text x="\#(fmt(x0 - 7))" y="\#(fmt(py(t) + 4))" text-anchor="end">\#(htmlEscape(yAxis.label(t)))</text>"#
        }
        o += "</g>"
        let xTitle = xLabel + (xScale == .log ? " (log scale)" : "")
        o += #"<text class="axis-label" x="\#(fmt((x0 + x1) / 2))" y="\#(fmt(y1 + 34))" text-anchor="middle" font-size="12">\#(htmlEscape(xTitle))</text>"#
        o += #"<text class="axis-label" x="14" y="\#(fmt((y0 + y1) / 2))" text-anchor="middle" font-size="12" transform="rotate(-90 14 \#(fmt((y0 + y1) / 2)))">\#(htmlEscape(yLabel))</text>"#

        // Series, clipped to the plot area.
        let clip = "clip-" + id
        o += #"<clipPath id="\#(htmlEscape(clip))"><rect x="\#(fmt(x0))" y="\#(fmt(y0))" width="\#(fmt(plotW))" height="\#(fmt(H))"/></clipPath>"#
        o += #"<g clip-path="url(#\#(htmlEscape(clip)))">"#
        for s in series {
            let pts = drawable(s)
            let coords = pts.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            o += #"<polyline class="series" data-series="\#(htmlEscape(s.name))" fill="none" stroke="\#(htmlEscape(s.color))" stroke-width="1.8"\#(dashAttribute(s.stroke)) stroke-linejoin="round" points="\#(coords)"/>"#
            if s.markers {
                for p in pts {
                    o += #"<circle cx="\#(fmt(px(p.x)))" cy="\#(fmt(py(p.y)))" r="3" fill="\#(htmlEscape(s.color))"/>"#
                }
            }
        }
        o += "</g>"

        // Legend.
        o += #"<g class="legend" font-size="12">"#
        for (i, s) in series.enumerated() {
            let lx = x0 + Double(i % columns) * entryW, ly = y1 + Self.axisBand + Double(i / columns) * Self.legendRow + 6
            o += #"<line x1="\#(fmt(lx))" y1="\#(fmt(ly))" x2="\#(fmt(lx + 28))" y2="\#(fmt(ly))" stroke="\#(htmlEscape(s.color))" stroke-width="2"\#(dashAttribute(s.stroke))/>"#
            if s.markers { o += #"<circle cx="\#(fmt(lx + 14))" cy="\#(fmt(ly))" r="3" fill="\#(htmlEscape(s.color))"/>"# }
            o += #"<text x="\#(fmt(lx + 34))" y="\#(fmt(ly + 4))">\#(htmlEscape(s.name))</text>"#
        }
        o += "</g></svg>"
        return o
    }

    func dashAttribute(_ s: Stroke) -> String {
        switch s {
        case .solid: return ""
        case .dashed: return #" stroke-dasharray="7 4""#
        case .dotted: return #" stroke-dasharray="2 3""#
        }
    }
}

/// Coordinates with one decimal (a tenth of a pixel), no trailing ".0".
func fmt(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    if r == r.rounded() { return String(Int(r)) }
    return String(format: "%.1f", r)
}

/// One axis: its domain, its tick values and how a tick is written.
struct Axis: Sendable {
    var lo: Double
    var hi: Double
    var isLog: Bool
    var ticks: [Double]
    /// The distance between linear ticks (decides the decimals of their labels); 0 on a log axis.
    var step: Double

    func fraction(_ v: Double) -> Double {
        if isLog { return (Foundation.log(v) - Foundation.log(lo)) / (Foundation.log(hi) - Foundation.log(lo)) }
        return (v - lo) / (hi - lo)
    }

    /// Heckbert's "nice numbers": 1, 2 or 5 times a power of ten, rounded or at least `x`.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        let e = floor(log10(x)), f = x / pow(10, e)
        let n: Double
        if round { n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10 } else { n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10 }
        return n * pow(10, e)
    }

    /// About `count` ticks at nice numbers; the domain widens to the outer ticks unless `exact`.
    static func linear(_ a: Double, _ b: Double, count: Int = 6, exact: Bool = false) -> Axis {
        var lo = min(a, b), hi = max(a, b)
        if hi - lo < 1e-12 * max(1, abs(hi)) {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        let step = niceNumber(niceNumber(hi - lo, round: false) / Double(count - 1), round: true)
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        let tickLo = exact ? (lo / step).rounded(.up) : first
        let tickHi = exact ? (hi / step).rounded(.down) : last
        // Ticks as index × step, so that 0.1 + 0.2 style errors do not accumulate.
        let ticks = tickLo <= tickHi ? (Int(tickLo)...Int(tickHi)).map { Double($0) * step } : []
        if !exact { lo = first * step; hi = last * step }
        return Axis(lo: lo, hi: hi, isLog: false, ticks: ticks, step: step)
    }

    /// A log axis over [a, b] padded by a few percent; ticks at 1-2-5 × 10^k when the range spans at most
    /// 3 decades, at powers of ten beyond that.
    static func log(_ a: Double, _ b: Double) -> Axis {
        var lo = min(a, b), hi = max(a, b)
        if hi / lo < 1.0001 { lo /= 2; hi *= 2 }
        let pad = pow(hi / lo, 0.04)
        lo /= pad; hi *= pad
        let decades = log10(hi / lo)
        func ticks(_ mantissas: [Double]) -> [Double] {
            var t: [Double] = []
            for e in Int(floor(log10(lo)))...Int(ceil(log10(hi))) {
                for m in mantissas {
                    let v = m * pow(10, Double(e))
                    if v >= lo && v <= hi { t.append(v) }
                }
            }
            return t
        }
        var t = ticks(decades <= 3 ? [1, 2, 5] : [1])
        if t.count < 2 { t = ticks([1, 2, 3, 4, 5, 6, 7, 8, 9]) }
        if t.count < 2 { t = [a, b] }
        return Axis(lo: lo, hi: hi, isLog: true, ticks: t, step: 0)
    }

    func label(_ v: Double) -> String {
        if isLog { return compactNumber(v) }
        let big = max(abs(lo), abs(hi))
        let unit: (Double, String) = big >= 1e9 ? (1e9, "G") : big >= 1e6 ? (1e6, "M") : big >= 1e4 ? (1e3, "k") : (1, "")
        let decimals = max(0, Int(-floor(log10(step / unit.0) + 1e-9)))
        let s = String(format: "%.\(decimals)f", v / unit.0)
        return (s == "-0" ? "0" : s) + (v == 0 ? "" : unit.1)
    }
}

/// 1234567 → "1.23M", 0.5 → "0.5", 64 → "64": three significant digits at most, SI suffixes from 10⁴.
public func compactNumber(_ v: Double) -> String {
    let a = abs(v)
    let unit: (Double, String) = a >= 1e9 ? (1e9, "G") : a >= 1e6 ? (1e6, "M") : a >= 1e4 ? (1e3, "k") : (1, "")
    let x = v / unit.0
    if x == x.rounded() && abs(x) < 1e6 { return String(Int(x)) + unit.1 }
    var s = String(format: "%.3g", x)
    if s.contains("e") { s = String(format: "%.3f", x) }
    if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s + unit.1
}
