import CDeflate
import CZlib
import Foundation

/// Streaming gzip decompression over another `ByteSource`, with multi-member files supported
/// (as written by `cat a.gz b.gz`, and by WARC writers: one member per record). A stream ending inside a
/// member is reported as truncated.
///
/// Members are decoded whole by libdeflate when they fit in the input buffer (1 MiB compressed) and their
/// output in at most 64 MiB: WARC and WET files consist of such members, and libdeflate decodes them about
/// twice as fast as zlib (Tools/bench/wet, a 60 MB `.warc.wet.gz` of 23,484 records: the whole WET reader
/// took 0.84 CPU-seconds with zlib's inflate, 0.48 with libdeflate's). A larger member (a whole file compressed at once, a big WARC record) is
/// streamed through zlib, and so is any member libdeflate rejects, so that errors (truncated, corrupt) are
/// reported by one decoder, with positions.
///
/// With `readAhead`, a second thread decodes the back part of each input buffer while the caller decodes
/// the front (see `MemberReadAhead`): decompression is about three quarters of reading a WET file, so one
/// thread cannot keep up with the parser. The helper's work is only used when the caller's own decoding
/// arrives exactly where the helper started, so the output, the reads of the underlying source (and hence
/// what a hashing source sees) and every error are those of the plain decoder. Measured on the 60 MB file
/// of Tools/bench/wet (`reprise bench read-docs`, CPU time per thread from perf samples): 0.46 s on one
/// thread; with read-ahead 0.24 s on the reading thread and 0.23 s on the helper, no extra work in all.
public final class GzipDecoder: ByteSource {
    private let base: ByteSource
    private let name: String
    private let input: UnsafeMutableRawBufferPointer
    private var inStart = 0, inEnd = 0
    private var inputEnded = false
    /// One member's output, from libdeflate; grows up to `maxMemberOutput`.
    private var output: UnsafeMutableRawBufferPointer
    private var outStart = 0, outEnd = 0
    private let decompressor: OpaquePointer
    private var stream = z_stream()
    /// True while zlib decodes a member.
    private var streaming = false
    private var decodedBytes = 0
    public var bytesConsumed: Int { base.bytesConsumed }
    /// Where `read` copies from: `output`, or the helper's output once it is taken over.
    private var serving: UnsafeMutableRawBufferPointer
    private let readAheadEnabled: Bool
    /// The helper, made for the first buffer worth a job (small files never start a thread).
    private(set) var readAhead: MemberReadAhead?
    /// The helper's job over the current input buffer: started, and not yet taken over or dropped.
    private var aheadActive = false
    /// Whether a job was started since the last refill (one job per buffer fill).
    private var aheadStarted = false
    /// The smallest back part of the input buffer worth a job.
    private let minimumAhead: Int
    /// Members the helper decoded and the caller took over, and jobs dropped because the helper had
    /// started inside a member (for tests).
    private(set) var membersTakenOver = 0
    private(set) var falseStarts = 0

    static let maxMemberOutput = 64 << 20
    /// The caller decodes this share of each buffer, the helper the rest: the caller also parses what
    /// both decode, so an even split would leave the helper idle.
    static let frontShare = 0.4

    /// `readAhead`: decode part of each input buffer on a second thread (when one can be started).
    /// `inputCapacity` and `minimumAhead` are for tests that exercise buffer boundaries on small inputs.
    public init(_ base: ByteSource, name: String, readAhead: Bool = false,
                inputCapacity: Int = 1 << 20, minimumAhead: Int = 64 << 10) throws {
        self.base = base
        self.name = name
        self.minimumAhead = minimumAhead
        input = .allocate(byteCount: inputCapacity, alignment: 64)
        output = .allocate(byteCount: 1 << 20, alignment: 64)
        serving = output
        guard let d = libdeflate_alloc_decompressor() else {
            input.deallocate(); output.deallocate()
            throw RepriseError("\(name): cannot initialise libdeflate")
        }
        decompressor = d
        // 15 + 16: gzip wrapper only, maximum window.
        let r = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        if r != Z_OK {
            libdeflate_free_decompressor(d)
            input.deallocate(); output.deallocate()
            throw RepriseError("\(name): cannot initialise zlib (code \(r))")
        }
        readAheadEnabled = readAhead
    }
    deinit {
        readAhead?.shutDown()
        inflateEnd(&stream)
        libdeflate_free_decompressor(decompressor)
        input.deallocate()
        output.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if outStart < outEnd {
                let n = min(buffer.count, outEnd - outStart)
                buffer.baseAddress!.copyMemory(from: serving.baseAddress! + outStart, byteCount: n)
                outStart += n
                return n
            }
            if streaming {
                let n = try streamRead(into: buffer)
                if n > 0 { return n }
                continue
            }
            if inStart == inEnd {
                try refill()
                if inStart == inEnd { return 0 } // the end, between members
            }
            try decodeMember()
        }
    }

    /// Moves the unread input to the front of the buffer and reads more after it.
    private func refill() throws {
        // The helper reads the buffer that is about to move.
        if aheadActive { readAhead!.finish(cancel: true); aheadActive = false }
        aheadStarted = false
        if inStart > 0 {
            let n = inEnd - inStart
            if n > 0 { input.baseAddress!.copyMemory(from: input.baseAddress! + inStart, byteCount: n) }
            inStart = 0; inEnd = n
        }
        if inputEnded || inEnd == input.count { return }
        let n = try base.read(into: UnsafeMutableRawBufferPointer(rebasing: input[inEnd...]))
        if n == 0 { inputEnded = true } else { inEnd += n }
    }

    /// Decodes the member at `inStart` with libdeflate into `output`, or hands it to zlib (`streaming`).
    private func decodeMember() throws {
        serving = output
        if readAheadEnabled {
            if !aheadStarted {
                aheadStarted = true
                let from = inStart + Int(Double(inEnd - inStart) * GzipDecoder.frontShare)
                if inEnd - from >= minimumAhead {
                    if readAhead == nil { readAhead = MemberReadAhead(arenaBytes: 8 << 20) }
                    aheadActive = readAhead!.start(UnsafeRawBufferPointer(input), from: from, to: inEnd)
                }
            }
            if aheadActive, let taken = takeOver(readAhead!) {
                serving = taken
                return
            }
        }
        while true {
            var used = 0, produced = 0
            let r = libdeflate_gzip_decompress_ex(decompressor, input.baseAddress! + inStart, inEnd - inStart,
                                                  output.baseAddress!, output.count, &used, &produced)
            switch r {
            case LIBDEFLATE_SUCCESS:
                inStart += used
                serving = output
                outStart = 0; outEnd = produced
                decodedBytes += produced
                return
            case LIBDEFLATE_INSUFFICIENT_SPACE where output.count < GzipDecoder.maxMemberOutput:
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: output.count * 4, alignment: 64)
                output.deallocate()
                output = bigger
            default:
                // Bad data is most often a member that goes on past the buffered input: read more and retry.
                if r == LIBDEFLATE_BAD_DATA && !inputEnded && (inStart > 0 || inEnd < input.count) {
                    try refill()
                    continue
                }
                // Too large for a whole decode, or really bad: zlib streams it and reports what is wrong.
                streaming = true
                return
            }
        }
    }

    /// When the caller's decoding has reached the part of the buffer the helper works on: waits for the
    /// helper, and when it started exactly at `inStart` (a member boundary the caller found itself), takes
    /// its members over as one block of output and returns it. While the helper's start lies ahead the
    /// caller goes on decoding; once the caller is past it, the helper's work is dropped (it started
    /// inside a member, on bytes that only looked like a gzip header, or found nothing).
    private func takeOver(_ ahead: MemberReadAhead) -> UnsafeMutableRawBufferPointer? {
        guard inStart >= ahead.from else { return nil }
        ahead.finish(cancel: false)
        if ahead.start > inStart { return nil }
        aheadActive = false
        if ahead.start >= 0 && ahead.start < inStart { falseStarts += 1 }
        guard ahead.start == inStart, ahead.members > 0 else { return nil }
        inStart = ahead.end
        outStart = 0; outEnd = ahead.produced
        decodedBytes += ahead.produced
        membersTakenOver += ahead.members
        return ahead.arena
    }

    /// zlib over the buffered input, until the end of the current member.
    private func streamRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if inStart == inEnd {
                try refill()
                if inStart == inEnd {
                    throw RepriseError("\(name): truncated gzip stream (ends inside a member after \(decodedBytes) decoded bytes)")
                }
            }
            let available = inEnd - inStart
            stream.next_in = (input.baseAddress! + inStart).assumingMemoryBound(to: Bytef.self)
            stream.avail_in = UInt32(available)
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
            let before = Int(stream.avail_out)
            let code = inflate(&stream, Z_NO_FLUSH)
            inStart += available - Int(stream.avail_in)
            let produced = before - Int(stream.avail_out)
            decodedBytes += produced
            switch code {
            case Z_STREAM_END:
                // End of this member; the next one goes back to libdeflate.
                inflateReset(&stream)
                streaming = false
                return produced
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
                throw RepriseError("\(name): corrupt gzip data near compressed byte \(base.bytesConsumed): \(detail)")
            }
            if produced > 0 { return produced }
        }
    }
}

public enum Gzip {
    public static let magic: [UInt8] = [0x1F, 0x8B]
}

/// The helper thread of a `GzipDecoder` with read-ahead. A job is a range of the decoder's input buffer:
/// the helper looks for the first gzip member header in it that decodes whole (libdeflate checks the
/// CRC-32 and length), then decodes the members that follow, one after the other, into `arena`, until one
/// does not decode whole inside the range (it straddles the end, is corrupt or too large; the caller
/// deals with it as it would without read-ahead). The caller waits for a job with `finish` before it
/// uses the results or moves the buffer, so the helper never reads memory that changes under it.
///
/// The thread is started by the first job (when the system refuses a thread, decoding simply stays on
/// the caller's thread) and ended and joined by `shutDown`, which the decoder's `deinit` calls: a reader
/// that stops early or throws leaves no thread behind.
final class MemberReadAhead: @unchecked Sendable {
    private let cond = NSCondition()
    private let decompressor: OpaquePointer?
    let arena: UnsafeMutableRawBufferPointer
    // The job (set by the caller while the helper is idle).
    private var buffer = UnsafeRawBufferPointer(start: nil, count: 0)
    private(set) var from = 0
    private var to = 0
    private var pending = false
    private var running = false
    private var cancelled = false
    private var exiting = false
    // Its results, valid after `finish`.
    /// Offset of the first member decoded, -1 when none.
    private(set) var start = -1
    /// Offset after the last member decoded.
    private(set) var end = 0
    private(set) var produced = 0
    private(set) var members = 0
    private var thread: pthread_t?
    private var failed = false

    init(arenaBytes: Int) {
        arena = .allocate(byteCount: arenaBytes, alignment: 64)
        decompressor = libdeflate_alloc_decompressor()
    }
    deinit {
        arena.deallocate()
        if let d = decompressor { libdeflate_free_decompressor(d) }
    }

    /// Hands the helper `buffer[from..<to]`; false when there is no helper thread.
    func start(_ buffer: UnsafeRawBufferPointer, from: Int, to: Int) -> Bool {
        guard decompressor != nil, !failed else { return false }
        if thread == nil {
            var t = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let r = pthread_create(&t, nil, { raw in
                let me = Unmanaged<MemberReadAhead>.fromOpaque(raw!).takeRetainedValue()
                me.loop()
                return nil
            }, context)
            if r != 0 {
                Unmanaged<MemberReadAhead>.fromOpaque(context).release()
                failed = true
                return false
            }
            thread = t
        }
        cond.lock()
        self.buffer = buffer
        self.from = from
        self.to = to
        start = -1; end = from; produced = 0; members = 0
        cancelled = false
        pending = true
        cond.broadcast()
        cond.unlock()
        return true
    }

    /// Waits until the job is done; `cancel` asks the helper to stop at the next member.
    func finish(cancel: Bool) {
        cond.lock()
        if cancel { cancelled = true }
        while pending || running { cond.wait() }
        cond.unlock()
    }

    /// Ends the helper thread and waits for it.
    func shutDown() {
        guard let t = thread else { return }
        cond.lock()
        cancelled = true
        exiting = true
        cond.broadcast()
        cond.unlock()
        pthread_join(t, nil)
        thread = nil
    }

    private func loop() {
        while true {
            cond.lock()
            while !pending && !exiting { cond.wait() }
            if exiting { cond.unlock(); return }
            pending = false
            running = true
            cond.unlock()
            decode()
            cond.lock()
            running = false
            cond.broadcast()
            cond.unlock()
        }
    }

    private var isCancelled: Bool { cond.lock(); defer { cond.unlock() }; return cancelled }

    private func decode() {
        let base = buffer.baseAddress!
        var pos = from
        // A member header: ID1 ID2, CM = 8 (deflate), no reserved flag bits.
        while pos + 18 <= to {
            guard let hit = memchr(base + pos, 0x1F, to - pos - 17) else { return }
            let p = UnsafeRawPointer(hit) - base
            if base.load(fromByteOffset: p + 1, as: UInt8.self) == 0x8B && base.load(fromByteOffset: p + 2, as: UInt8.self) == 8
                && base.load(fromByteOffset: p + 3, as: UInt8.self) & 0xE0 == 0 {
                if let (used, n) = member(at: p) {
                    start = p
                    pos = p + used
                    produced = n
                    members = 1
                    break
                }
                if isCancelled { return }
            }
            pos = p + 1
        }
        guard start >= 0 else { return }
        while pos < to, !isCancelled, let (used, n) = member(at: pos) {
            pos += used
            produced += n
            members += 1
        }
        end = pos
    }

    /// Decodes the member at `p` whole into the free part of the arena: (input bytes, output bytes).
    private func member(at p: Int) -> (Int, Int)? {
        var used = 0, n = 0
        let r = libdeflate_gzip_decompress_ex(decompressor, buffer.baseAddress! + p, to - p,
                                              arena.baseAddress! + produced, arena.count - produced, &used, &n)
        return r == LIBDEFLATE_SUCCESS ? (used, n) : nil
    }
}

extension Gzip {
    /// Decodes an HTTP body sent with `Content-Encoding: gzip` or `deflate`: a gzip member, a zlib stream
    /// or (what some servers send for `deflate`) raw deflate data, told apart by their headers. Returns nil
    /// when the decoded body would exceed `limit` bytes; throws when the data is not decodable. A stream
    /// cut short (a crawler's truncated download) yields what was decoded.
    public static func inflateHTTPBody(_ data: [UInt8], limit: Int) throws -> [UInt8]? {
        let looksWrapped = data.starts(with: magic) || (data.count >= 2 && data[0] & 0x0F == 8
            && (UInt16(data[0]) << 8 | UInt16(data[1])) % 31 == 0)
        // 15 + 32: gzip or zlib header detected automatically; -15: raw deflate.
        return try inflate(data, windowBits: looksWrapped ? 15 + 32 : -15, limit: limit)
    }

    private static func inflate(_ data: [UInt8], windowBits: Int32, limit: Int) throws -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RepriseError("cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return try data.withUnsafeBytes { src -> [UInt8]? in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = UInt32(src.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBytes { dst -> (Int32, Int) in
                    stream.next_out = dst.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = UInt32(dst.count)
                    let code = zlibInflate(&stream, Z_NO_FLUSH)
                    return (code, dst.count - Int(stream.avail_out))
                }
                if out.count + produced > limit { return nil }
                out += chunk[0..<produced]
                switch code {
                case Z_STREAM_END: return out
                case Z_OK: continue
                case Z_BUF_ERROR: return out // input used up before the end of the stream
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
                    throw RepriseError("corrupt compressed HTTP body: \(detail)")
                }
            }
        }
    }
}

/// zlib's `inflate`, under a name the extension's own `inflate` does not shadow.
private func zlibInflate(_ stream: UnsafeMutablePointer<z_stream>, _ flush: Int32) -> Int32 { inflate(stream, flush) }

/// One-shot decompression of whole deflate streams (gzip or zlib wrapper, detected per stream) with one
/// reused zlib context, for blocks that are compressed one by one (Parquet pages).
public final class InflateBlockDecoder {
    private var stream = z_stream()
    private var ready = false
    /// Output space for blocks that decode to nothing (zlib refuses a null output pointer).
    private let scratch = UnsafeMutablePointer<Bytef>.allocate(capacity: 1)

    public init() throws {
        // 15 + 32: maximum window, gzip or zlib header detected automatically.
        let r = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        // (deinit still runs when this throws, and frees the scratch byte.)
        if r != Z_OK { throw RepriseError("cannot initialise zlib (code \(r))") }
        ready = true
    }
    deinit {
        if ready { inflateEnd(&stream) }
        scratch.deallocate()
    }

    /// Decompresses one whole stream `src` into `dst`; returns the decoded size. Throws when the data is
    /// corrupt, ends early or decodes to more than `dst.count` bytes.
    public func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        inflateReset(&stream)
        guard let input = src.baseAddress, src.count <= Int(UInt32.max), dst.count <= Int(UInt32.max) else {
            if src.count == 0 { throw RepriseError("gzip decompression failed: empty input") }
            throw RepriseError("gzip decompression failed: block too large")
        }
        stream.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(src.count)
        if let out = dst.baseAddress {
            stream.next_out = out.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(dst.count)
        } else {
            // An empty output buffer still needs a valid pointer for zlib to report overflow.
            stream.next_out = scratch
            stream.avail_out = 0
        }
        let code = inflate(&stream, Z_FINISH)
        let produced = dst.count - Int(stream.avail_out)
        switch code {
        case Z_STREAM_END:
            return produced
        case Z_BUF_ERROR where stream.avail_out == 0:
            throw RepriseError("gzip decompression failed: decodes to more than \(dst.count) bytes")
        case Z_BUF_ERROR:
            throw RepriseError("gzip decompression failed: truncated stream")
        default:
            let detail = stream.msg.map { String(cString: $0) } ?? "code \(code)"
            throw RepriseError("gzip decompression failed: \(detail)")
        }
    }
}

public enum CRC32 {
    /// The CRC-32 (ISO-HDLC, as gzip and Parquet page headers use) of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = 0
        var p = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
        var left = bytes.count
        while left > 0, let q = p {
            let n = min(left, Int(UInt32.max >> 1))
            crc = crc32(crc, q, uInt(n))
            p = q + n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
