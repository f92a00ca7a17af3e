import Foundation
import RepriseCore
import RepriseIngest
import RepriseSchedules
import RepriseShards
import RepriseTokenizer

/// `reprise run PIPELINE --merge`: builds the global outputs from the tasks' shares (see `PipelineTasks`).
///
/// Rule: the merge needs every task's share of the first stage that is not up to date. After round 1 it
/// merges ingest and trains the tokenizer; when that changed them, the tasks' pack shares (encoded with the
/// old tokenizer, or not yet made) wait for round 2, and the merge says so. After round 2 it writes the
/// shards and the schedules. Missing or stale shares are an error that names each of them.
extension Context {
    func merge() throws -> [String] {
        let markers = try ingestMarkers()
        let records = try (0..<paths.count).map { k in
            guard let r = markers[k % n].share.files[k / n].input else {
                throw RepriseError("\(dir(k % n))/ingest/manifest.json: no record of input \(paths[k].name); rerun task \(k % n) (\(taskHint))")
            }
            return r
        }
        let stages = mergeStages(markers: markers, inputHash: IngestTasks.inputHash(records, missing: missing))
        return try PipelineStage.run(stages, force: options.force).map { "merge: " + $0 }
    }

    /// The global outputs as stages built from the tasks' shares: ingest (the tasks' documents deduplicated
    /// in global input order), the tokenizer (the tasks' counts, less the documents deduplication dropped),
    /// pack (the tasks' encoded documents in task order, through the writer `reprise pack` uses; it waits
    /// for round 2 when ingest or the tokenizer changed), then the schedules. `inputHash`: the ingest
    /// inputs' hash from the tasks' records.
    func mergeStages(markers: [IngestTaskManifest], inputHash: String) -> [PipelineStage] {
        var changed = false
        var stages = [PipelineStage(name: "ingest", output: docsDir, kind: .data, state: {
            guard let m = try? CanonicalJSON.decode(IngestManifest.self, from: StageOutput.manifestPath(docsDir)) else { return .missing }
            return m.configHash == (try CanonicalJSON.hash(ingest.config)) && m.inputHash == inputHash ? .upToDate : .stale("the shares changed")
        }) {
            changed = true
            return try mergeIngest(markers: markers)
        }]
        if let tok = pipeline.stages.tokenizer {
            let output = pipeline.path(tok.output)
            let inputs = tok.inputs ?? [docsDir]
            stages.append(PipelineStage(name: "tokenizer", output: output, kind: .data,
                                        state: { try TokenizerStage.state(inputs: inputs, output: output, config: tok.config) }) {
                changed = true
                let m: TokenizerManifest
                if counting != nil {
                    m = try mergeTokenizer(markers: markers, output: output, config: tok.config)
                } else {
                    // Trained on other inputs than the ingest output: no task counted them; train here.
                    m = try TokenizerStage.train(inputs: inputs, output: output, config: tok.config,
                                                 threads: options.threads, quiet: options.quiet)
                }
                return "\(m.vocabSize) tokens (\(m.merges) merges) from \(m.documents) documents"
            })
        }
        if let pack = pipeline.stages.pack, let tok = pipeline.stages.tokenizer {
            let output = pipeline.path(pack.output), tokenizer = pipeline.path(tok.output)
            let shares = once { try packMarkers(tokenizer: tokenizer, justMerged: changed) }
            stages.append(PipelineStage(name: "pack", output: output, kind: .data,
                                        state: { try PackStage.state(docs: docsDir, tokenizer: tokenizer, output: output, config: pack.config) },
                                        waiting: {
                                            try shares() == nil ? "the tasks' pack shares: run the \(n) tasks again to encode their shares with this tokenizer (\(taskHint)), then merge again" : nil
                                        }) {
                let m = try mergePack(try shares()!, output: output, tokenizer: tokenizer, config: pack.config)
                return "\(m.train.tokens) train and \(m.val.tokens) validation tokens, \(m.train.sequences) train sequences of \(m.config.seqLen), from \(n) tasks"
            })
            stages += PipelineRunner.scheduleStages(pipeline, shards: output, options: options)
        }
        return stages
    }

    /// Deduplicates the tasks' documents in global input order into the ingest output.
    func mergeIngest(markers: [IngestTaskManifest]) throws -> String {
        var dedup: DiskDedup.LinkDeduplicator?
        if dedupBuckets != nil {
            let rounds = try dedupMarkers()
            dedup = try DiskDedup.LinkDeduplicator(linkFiles: rounds.enumerated().map { dir($0.offset) + "/dedup/" + $0.element.links.file },
                                                   config: ingest.config.dedup, scratch: pipeline.workDir + "/tasks/merge-scratch")
        }
        let m = try IngestTasks.merge(shares: markers.map(\.share), dirs: (0..<n).map { dir($0) + "/ingest" }, inputCount: paths.count,
                                      missing: missing, skippedLinks: skippedLinks, output: docsDir, config: ingest.config,
                                      dedup: dedup, quiet: options.quiet)
        var line = "\(m.counts.kept) of \(m.counts.read) documents kept, \(m.failedInputs.count) failed inputs, from \(n) tasks"
        if let d = dedup {
            line += "; disk deduplication: \(d.linked) documents share a key with another, \(d.sharedKeys) shared keys, at most \(d.peakOpen) entries in flight (\(d.peakMessageBytes >> 10) KiB in memory at most, \(d.spilledRuns) runs spilled)"
        }
        return line
    }

    /// The problems joined on one line: the first ten, then how many more.
    func listed(_ problems: [String]) -> String {
        let shown = problems.prefix(10).joined(separator: "; ")
        return problems.count > 10 ? shown + "; and \(problems.count - 10) more" : shown
    }

    /// Every task's round-1 manifest, or an error naming each missing or stale one.
    func ingestMarkers() throws -> [IngestTaskManifest] {
        var markers: [IngestTaskManifest] = []
        var problems: [String] = []
        for t in 0..<n {
            let path = StageOutput.manifestPath(dir(t) + "/ingest")
            guard FileManager.default.fileExists(atPath: path) else {
                problems.append("task \(t) (\(name(t))) has not finished: no \(path)")
                continue
            }
            let m: IngestTaskManifest
            do { m = try CanonicalJSON.decode(IngestTaskManifest.self, from: path) } catch {
                problems.append("task \(t) (\(name(t))): \(error.oneLine)")
                continue
            }
            if let why = try ingestStaleness(m, task: t) {
                problems.append("task \(t) (\(name(t))) is stale: \(why)")
                continue
            }
            markers.append(m)
        }
        if !problems.isEmpty {
            throw RepriseError("merge: \(problems.count) of \(n) ingest shares missing or stale: \(listed(problems)). Run those tasks (\(taskHint)), then merge again")
        }
        return markers
    }

    /// Every task's round-2 manifest; nil when none is usable yet right after ingest or the tokenizer changed
    /// (round 2 has not run); an error naming each missing or stale one otherwise.
    func packMarkers(tokenizer: String, justMerged: Bool) throws -> [PackTaskManifest]? {
        let inputHash = try PackStage.inputs(docs: docsDir, tokenizer: tokenizer).inputHash
        let documents = try IngestManifest.load(docsDir).counts.kept
        var markers: [PackTaskManifest] = []
        var problems: [String] = []
        for t in 0..<n {
            let path = StageOutput.manifestPath(dir(t) + "/pack")
            guard FileManager.default.fileExists(atPath: path) else {
                problems.append("task \(t) (\(name(t))) has not encoded its pack share: no \(path)")
                continue
            }
            let m: PackTaskManifest
            do { m = try CanonicalJSON.decode(PackTaskManifest.self, from: path) } catch {
                problems.append("task \(t) (\(name(t))): \(error.oneLine)")
                continue
            }
            if let why = try packStaleness(m, task: t, inputHash: inputHash, documents: documents) {
                problems.append("task \(t) (\(name(t)))'s pack share is stale: \(why)")
                continue
            }
            markers.append(m)
        }
        if justMerged && markers.isEmpty { return nil }
        if !problems.isEmpty {
            throw RepriseError("merge: \(problems.count) of \(n) pack shares missing or stale: \(listed(problems)). Run those tasks (\(taskHint)), then merge again")
        }
        return markers
    }

    /// Trains the tokenizer from the tasks' pre-token counts. Each task counted the documents of its files
    /// that passed the filters; the merged output keeps those minus the duplicates, whose texts are in the
    /// exclusion files, so their counts are taken out again: the counts are then exactly those of the kept
    /// documents, and training gives the tokenizer a single run trains.
    ///
    /// The tasks' counts are split into partitions by a hash of the pre-token; they are summed and corrected
    /// one partition at a time. Training needs every distinct pre-token it trains on: all of them by default,
    /// or with `max_pre_tokens` the most frequent (a first pass over the partitions finds the count threshold
    /// from their histograms, a second keeps the pre-tokens at or above it), so that the merge then holds at
    /// most that many, besides one partition's sum, whatever the corpus; the same threshold as one run's.
    func mergeTokenizer(markers: [IngestTaskManifest], output: String, config: TokenizerConfig) throws -> TokenizerManifest {
        try config.validate()
        var documents = 0, bytes = 0
        let partitions = counting?.partitions ?? 1
        for (t, m) in markers.enumerated() {
            guard let c = m.counts else { throw RepriseError("\(dir(t))/ingest: the task counted no pre-tokens; rerun it (\(taskHint))") }
            guard c.files.count == partitions else {
                throw RepriseError("\(dir(t))/ingest/manifest.json: \(c.files.count) pre-token count files, expected \(partitions); rerun the task (\(taskHint))")
            }
            documents += c.documents
            bytes += c.textBytes
        }
        // The documents deduplication dropped after the tasks counted them.
        let preTokenizer = PreTokenizer(config.pattern)
        let split: PreTokenSplitter = { preTokenizer.split($0, $1) }
        let duplicates = PreTokenCounter()
        var batch: [[UInt8]] = []
        var batchBytes = 0
        try IngestTasks.forEachDuplicate(docsDir) { text in
            let doc = config.maxDocChars.map { TokenizerTraining.prefix(text, maxChars: $0) } ?? text
            documents -= 1
            bytes -= doc.count
            batch.append(doc)
            batchBytes += doc.count
            if batchBytes >= 64 << 20 {
                duplicates.add(documents: batch, threads: options.threads, split: split)
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
            }
        }
        duplicates.add(documents: batch, threads: options.threads, split: split)
        batch = []
        // The kept documents' counts, partition by partition: the tasks' sums less the duplicates'.
        func forEachPartition(_ body: (PreTokenCounter) throws -> Void) throws {
            for p in 0..<partitions {
                let sum = PreTokenCounter()
                for (t, m) in markers.enumerated() {
                    let path = dir(t) + "/ingest/" + m.counts!.files[p].file
                    let part = try PreTokenCounter.read(path: path)
                    guard part.distinctCount == m.counts!.files[p].documents else {
                        throw RepriseError("\(path): \(part.distinctCount) pre-tokens, the task's manifest says \(m.counts!.files[p].documents); rerun the task")
                    }
                    sum.merge(part)
                }
                try body(try sum.subtracting(partitions == 1 ? duplicates : duplicates.partition(p, of: partitions)))
            }
        }
        // With max_pre_tokens, a first pass finds the count threshold from the histogram of every partition.
        var threshold: UInt64 = 1
        if let limit = config.maxPreTokens {
            var histogram: [UInt64: Int] = [:]
            try forEachPartition { $0.addCountHistogram(into: &histogram) }
            threshold = PreTokenCounter.threshold(histogram: histogram, limit: limit)
        }
        var counter = PreTokenCounter()
        var counted: UInt64 = 0
        try forEachPartition { left in
            counted += left.totalCount
            let kept = threshold > 1 ? left.keeping(minCount: threshold) : left
            if partitions == 1 { counter = kept } else { counter.merge(kept) }
        }
        let total = markers.reduce(UInt64(0)) { $0 + $1.counts!.preTokens }
        guard counted + duplicates.totalCount == total else {
            throw RepriseError("\(dir(0))/ingest: the tasks' count files sum to \(counted + duplicates.totalCount) pre-tokens, their manifests say \(total); rerun the tasks (\(taskHint))")
        }
        return try TokenizerTraining.finish(counter: counter, documents: documents, bytes: bytes, inputs: [docsDir],
                                         inputHash: try TokenizerStage.inputHash([docsDir]), output: output,
                                         config: config, quiet: options.quiet)
    }

    /// Writes the shards from the tasks' encoded documents (task t holds a contiguous range, so task order is
    /// document order).
    func mergePack(_ markers: [PackTaskManifest], output: String, tokenizer: String, config: PackConfig) throws -> PackManifest {
        let tok = try CanonicalJSON.decode(TokenizerManifest.self, from: StageOutput.manifestPath(tokenizer))
        guard let eot = tok.specialTokens[SpecialTokens.endOfText] else {
            throw RepriseError("\(tokenizer): the tokenizer has no \(SpecialTokens.endOfText) token to join documents with")
        }
        for (t, m) in markers.enumerated() {
            let path = dir(t) + "/pack/" + m.tokens.file
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
            guard size == m.tokens.bytes else {
                throw RepriseError("\(path): \(size < 0 ? "missing" : "\(size) bytes"), the task's manifest says \(m.tokens.bytes) bytes; rerun task \(t) (\(taskHint))")
            }
        }
        let progress = Progress("pack merge", totalItems: markers.reduce(0) { $0 + $1.documents }, quiet: options.quiet)
        var done = 0
        let manifest = try Packer.assemble(inputs: try PackStage.inputs(docs: docsDir, tokenizer: tokenizer), output: output, config: config,
                                              vocabSize: tok.vocabSize, endOfText: eot) { add in
            var tokens: [UInt32] = []
            for (t, m) in markers.enumerated() {
                let path = dir(t) + "/pack/" + m.tokens.file
                let r = BinaryReader(ZstdDecoder(try FileSource(path: path), name: path), name: path)
                for _ in 0..<m.documents {
                    let flag = try r.u8()
                    guard flag <= 1 else { throw RepriseError("\(path): bad split flag \(flag) at byte \(r.offset - 1); rerun task \(t)") }
                    tokens.removeAll(keepingCapacity: true)
                    try r.u32s(try r.count(), into: &tokens)
                    try add(tokens, flag == 1)
                    done += 1
                    if done % 4096 == 0 { progress.update(items: done, itemName: "docs", bytes: 0) }
                }
                guard try r.atEnd() else { throw RepriseError("\(path): more documents than the \(m.documents) its manifest lists; rerun task \(t)") }
            }
        }
        progress.finish(items: done, itemName: "docs", bytes: 0)
        return manifest
    }
}
