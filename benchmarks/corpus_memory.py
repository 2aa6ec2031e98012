"""Benchmark: prepare a >= 2M-segment corpus with bounded memory, then read it like pretraining.

    python benchmarks/corpus_memory.py                       # 2000 users x 1100 segments
    python benchmarks/corpus_memory.py --users 200 --batches 50   # a quick look

Steps, each timed; the memory-hungry ones run in a child process so that the peak resident set
size (``VmHWM``, reset after the imports through ``/proc/self/clear_refs`` where the kernel
allows it) is their own:

1. write the synthetic raw recordings with ``scripts/make_synthetic_corpus.py`` (reused when
   complete);
2. ``prepare_corpus`` on them: wall time, segments/s, peak RSS, disk size per segment;
3. rerun the same ``prepare_corpus`` (everything already done: the cost of a resume check);
4. the pretraining read loop: ``Corpus.open``, ``time_block``, ``CandidateSampler`` and, for
   every batch, gathering ``batch-size`` anchors and ``within`` within-user candidates per anchor
   from the memory-mapped shards: batches/s, segments/s and peak RSS.

Writes a table to stdout and ``benchmarks/results/corpus_memory.json``. Data go to ``/tmp``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status() -> dict[str, float]:
    """Memory figures of this process in MiB (from /proc/self/status)."""
    out: dict[str, float] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _child_prepare(args: argparse.Namespace) -> dict:
    from relcon.data.corpus import prepare_corpus

    base = _status()
    reset = _reset_peak()
    t0 = time.perf_counter()
    s = prepare_corpus(
        [args.raw], args.corpus, overwrite=args.overwrite, progress=False, commit_every_s=30.0
    )
    wall = time.perf_counter() - t0
    peak = _status()
    return {
        "wall_s": wall,
        "segments": s.segments,
        "segments_added": s.segments_added,
        "users": s.users,
        "inputs_processed": len(s.processed),
        "inputs_skipped": len(s.skipped_existing),
        "segments_per_s": s.segments_added / wall if wall else 0.0,
        "dropped": s.dropped,
        "hours_in": s.hours,
        "shards": s.shards,
        "bytes": s.bytes,
        "rss_before_mib": base["VmRSS"],
        "peak_rss_mib": peak["VmHWM"],
        "peak_reset_after_imports": reset,
        "rss_end": peak,
    }


def _child_read(args: argparse.Namespace) -> dict:
    import numpy as np

    from relcon.data.corpus import Corpus
    from relcon.data.sampling import CandidateSampler

    base = _status()
    reset = _reset_peak()
    t0 = time.perf_counter()
    corpus = Corpus.open(args.corpus)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    blocks = corpus.time_block(args.block_seconds)
    sampler = CandidateSampler(
        corpus.user, blocks, batch_size=args.batch_size, within_user=args.within, seed=0
    )
    t_sampler = time.perf_counter() - t0
    setup = _status()
    batches = sampler.iterate()
    t0 = time.perf_counter()
    _, first = next(batches)  # includes the epoch's anchor plan
    corpus.x[first.anchors], corpus.x[first.within.reshape(-1)]
    t_first = time.perf_counter() - t0
    checksum = 0.0
    t0 = time.perf_counter()
    for _ in range(args.batches):
        _, b = next(batches)
        anchors = corpus.x[b.anchors]
        within = corpus.x[b.within.reshape(-1)]
        checksum += float(anchors[:, 0, 0].sum() + within[:, 0, 0].sum())
    dt = time.perf_counter() - t0
    end = _status()
    per_batch = args.batch_size * (1 + args.within)
    return {
        "segments": len(corpus),
        "users": int(np.unique(corpus.user).size),
        "open_s": t_open,
        "time_block_and_sampler_s": t_sampler,
        "first_batch_s": t_first,
        "batches": args.batches,
        "batch_segments": per_batch,
        "loop_s": dt,
        "batches_per_s": args.batches / dt,
        "segments_per_s": args.batches * per_batch / dt,
        "rss_before_mib": base["VmRSS"],
        "rss_after_setup_mib": setup["VmRSS"],
        "peak_rss_mib": end["VmHWM"],
        "peak_reset_after_imports": reset,
        "rss_end": end,
        "checksum": checksum,
    }


def _run_child(mode: str, args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--raw", args.raw, "--corpus", args.corpus]
    cmd += ["--batches", str(args.batches), "--batch-size", str(args.batch_size)]
    cmd += ["--within", str(args.within), "--block-seconds", str(args.block_seconds), *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        sys.stderr.write(res.stderr)
        raise SystemExit(f"child {mode} failed with exit code {res.returncode}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t0
    return out


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--raw", default="/tmp/relcon_bench/raw")
    ap.add_argument("--corpus", default="/tmp/relcon_bench/corpus")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--segments-per-user", type=int, default=1100)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--within", type=int, default=20)
    ap.add_argument("--block-seconds", type=float, default=3600.0)
    ap.add_argument("--reuse-corpus", action="store_true", help="skip prepare if it exists")
    ap.add_argument("--delete-raw", action="store_true", help="delete the raw files at the end")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/corpus_memory.json"))
    ap.add_argument("--child", choices=("prepare", "read"), help=argparse.SUPPRESS)
    ap.add_argument("--overwrite", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        fn = _child_prepare if args.child == "prepare" else _child_read
        print(json.dumps(fn(args)))
        return

    raw, corpus = Path(args.raw), Path(args.corpus)
    result: dict = {
        "config": {
            "users": args.users,
            "segments_per_user": args.segments_per_user,
            "batches": args.batches,
            "batch_size": args.batch_size,
            "within_user": args.within,
            "block_seconds": args.block_seconds,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    marker = raw / ".complete"
    want = f"{args.users} {args.segments_per_user}"
    reuse = args.reuse_corpus and (corpus / "corpus.json").is_file()
    if not reuse and not (marker.is_file() and marker.read_text() == want):
        shutil.rmtree(raw, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/make_synthetic_corpus.py"),
                "--out",
                str(raw),
                "--users",
                str(args.users),
                "--segments-per-user",
                str(args.segments_per_user),
            ],
            check=True,
        )
        marker.write_text(want)
        result["generate_s"] = time.perf_counter() - t0
    if raw.is_dir():
        result["raw_bytes"] = _du(raw)

    if not reuse:
        print("preparing ...", flush=True)
        result["prepare"] = _run_child("prepare", args, ["--overwrite"])
        print("rerunning prepare (nothing to do) ...", flush=True)
        result["prepare_rerun"] = _run_child("prepare", args, [])
    shards = _du(corpus / "shards")
    index = _du(corpus / "index") - _du(corpus / "index/cache")
    cache = _du(corpus / "index/cache")
    n = json.loads((corpus / "corpus.json").read_text())["totals"]["segments"]
    result["disk"] = {
        "segments": n,
        "shards_bytes": shards,
        "index_parquet_bytes": index,
        "index_cache_bytes": cache,
        "bytes_per_segment_shards": shards / n,
        "bytes_per_segment_total": (shards + index + cache) / n,
    }
    if "raw_bytes" in result:
        result["disk"]["raw_bytes_per_segment"] = result["raw_bytes"] / n
    print("reading ...", flush=True)
    result["read"] = _run_child("read", args, [])
    if args.delete_raw:
        shutil.rmtree(raw, ignore_errors=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    rows = []
    p = result.get("prepare")
    if p:
        rows += [
            ("prepare: segments", f"{p['segments']:,} ({p['users']} users, {p['shards']} shards)"),
            ("prepare: wall time", f"{p['wall_s']:.1f} s"),
            ("prepare: throughput", f"{p['segments_per_s']:,.0f} segments/s"),
            ("prepare: RSS after imports", f"{p['rss_before_mib']:.0f} MiB"),
            ("prepare: peak RSS", f"{p['peak_rss_mib']:.0f} MiB"),
            ("prepare rerun (all done)", f"{result['prepare_rerun']['wall_s']:.1f} s"),
            ("dropped", ", ".join(f"{k}={v:,}" for k, v in p["dropped"].items() if v)),
        ]
    d, r = result["disk"], result["read"]
    rows += [
        ("disk per segment (shards)", f"{d['bytes_per_segment_shards']:.1f} B"),
        ("disk per segment (all)", f"{d['bytes_per_segment_total']:.1f} B"),
        (
            "read: open / sampler setup",
            f"{r['open_s']:.2f} s / {r['time_block_and_sampler_s']:.2f} s",
        ),
        ("read: first batch (epoch plan)", f"{r['first_batch_s']:.2f} s"),
        (
            "read: loop",
            f"{r['batches_per_s']:.1f} batches/s, {r['segments_per_s']:,.0f} segments/s "
            f"({r['batch_segments']} segments per batch)",
        ),
        ("read: RSS after imports", f"{r['rss_before_mib']:.0f} MiB"),
        ("read: RSS after sampler setup", f"{r['rss_after_setup_mib']:.0f} MiB"),
        ("read: peak RSS", f"{r['peak_rss_mib']:.0f} MiB"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
