"""The MosaicML streaming side of Tools/bench/shards; runs in .build-bench/venv-mds. Prints one JSON line.

  shards_peer.py write SHARDS_DIR MDS_DIR --seq-len N
      The train split's tokens (`zstd -dc` of its shards in manifest order: a shard is a valid zstd stream of
      the raw token array) cut into the same sequences as reprise's ShardDataset: sequence i is tokens
      [i*N, (i+1)*N + 1). Written with MDSWriter, one column 'tokens' of type ndarray:uint16:(N+1),
      compression zstd (level 3, as reprise packs). Reports the bytes written and the shards' decompressed size
      (what a local cache holds once every shard has been read).
  shards_peer.py read MDS_DIR CACHE_DIR [--shuffle] [--seed S] [--limit K] [--epochs E] [--batch-size B]
      StreamingDataset(remote=MDS_DIR, local=CACHE_DIR) iterated sample by sample, E epochs in one process. The
      first epoch copies and decompresses the shards into the (emptied) cache; later epochs read the cache.
      Tokens count N per sample and the checksum is the wrapping sum of every token read, as in
      `reprise bench read`.
"""
import argparse, json, os, shutil, subprocess, sys, time, warnings

import numpy as np


def write(args):
    from streaming import MDSWriter

    with open(os.path.join(args.shards, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest["dtype"] != "uint16":
        sys.exit("the benchmark expects uint16 tokens")
    paths = [os.path.join(args.shards, s["file"]) for s in manifest["train"]["shards"]]
    raw = subprocess.run(["zstd", "-dcq", *paths], check=True, capture_output=True).stdout
    tokens = np.frombuffer(raw, dtype="<u2")
    n = args.seq_len
    count = max(0, (len(tokens) - 1) // n)
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    with MDSWriter(out=args.out, columns={"tokens": f"ndarray:uint16:{n + 1}"}, compression="zstd:3") as w:
        for i in range(count):
            w.write({"tokens": tokens[i * n:(i + 1) * n + 1]})
    seconds = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(args.out, name)) for name in os.listdir(args.out))
    with open(os.path.join(args.out, "index.json")) as f:
        raw = sum(shard["raw_data"]["bytes"] for shard in json.load(f)["shards"])
    print(json.dumps({"samples": count, "tokens": count * n, "seconds": seconds, "bytes": size,
                      "decompressed_bytes": raw, "files": len(os.listdir(args.out))}))


def read(args):
    from streaming import StreamingDataset
    import streaming

    shutil.rmtree(args.cache, ignore_errors=True)
    try:  # shared memory left by an earlier run that was killed
        streaming.base.util.clean_stale_shared_memory()
    except Exception:
        pass
    t0 = time.perf_counter()
    ds = StreamingDataset(remote=args.mds, local=args.cache, shuffle=args.shuffle, shuffle_seed=args.seed,
                          batch_size=args.batch_size, predownload=args.predownload)
    epochs = []
    for _ in range(args.epochs):
        samples, checksum = 0, 0
        for sample in ds:
            checksum += int(sample["tokens"].sum())
            samples += 1
            if args.limit is not None and samples >= args.limit:
                break
        seconds = time.perf_counter() - t0
        n = len(sample["tokens"]) - 1 if samples else 0
        epochs.append({"samples": samples, "tokens": samples * n, "seconds": seconds,
                       "tokens_per_s": samples * n / seconds, "checksum": checksum % (1 << 64)})
        t0 = time.perf_counter()
    cache = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.cache) for f in fs)
    print(json.dumps({"shuffle": args.shuffle, "epochs": epochs, "cache_bytes": cache}))


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("shards")
    w.add_argument("out")
    w.add_argument("--seq-len", type=int, required=True)
    r = sub.add_parser("read")
    r.add_argument("mds")
    r.add_argument("cache")
    r.add_argument("--shuffle", action="store_true")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--limit", type=int)
    r.add_argument("--epochs", type=int, default=2)
    # The batch size only sets partitioning and how far ahead samples are prepared (8 batches): with small
    # batches the iterator keeps waiting on its preparing thread (7 ms sleeps), so a generous one is used.
    r.add_argument("--batch-size", type=int, default=256, help="per-device batch size")
    r.add_argument("--predownload", type=int, help="samples prepared ahead (default: 8 * batch size)")
    args = ap.parse_args()
    write(args) if args.cmd == "write" else read(args)


if __name__ == "__main__":
    main()
