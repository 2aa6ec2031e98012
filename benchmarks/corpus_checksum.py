"""Benchmark: the cost of checking a corpus shard's SHA-256 when it is first read.

    python benchmarks/corpus_checksum.py                  # one full default shard (65536 segments)
    python benchmarks/corpus_checksum.py --segments 8192  # a quick look

``relcon prepare`` records the SHA-256 of every shard in ``corpus.json``; :class:`Corpus` checks
a shard's bytes the first time a process maps it (one sequential read of the shard), never per
window. This script prepares a corpus of one realistic shard (default ``shard_segments``, int16:
96 MiB) from synthetic 100 Hz recordings, then reads it back, with and without the check, in the
same run, each time from a freshly opened :class:`Corpus` (so that every pass pays the check):

* ``verify``: :meth:`Corpus.verify` alone (the hash: MiB/s);
* ``all windows``: every window, in order, in blocks of 1024;
* ``random batches``: ``--batches`` batches of ``--batch`` random windows (a pretraining
  process's first reads of a shard, where the check costs the most relative to the reading).

The shard is in the page cache (it was just written): the figures are CPU costs. On a cold
disk the check reads the whole shard from the disk once, whereas random windows read a few
pages each. Prints a table; data go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _recordings(folder: Path, segments: int, users: int) -> None:
    rng = np.random.default_rng(0)
    per = -(-segments // users)
    for u in range(users):
        n = per * 256
        t = np.arange(n, dtype=np.float32) / 100.0
        g = rng.normal(size=3)
        x = g / np.linalg.norm(g) + 0.3 * np.sin(
            2 * np.pi * 1.3 * t[:, None] + rng.uniform(0, 6, 3)
        )
        x += 0.02 * rng.standard_normal((n, 3), dtype=np.float32)
        np.savez(folder / f"user{u:02d}.npz", x=x.astype(np.float32), fs=100.0)


def _time(fn, repeats: int) -> float:
    """Best of ``repeats`` wall times of ``fn()`` (each on a freshly opened corpus)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=65536, help="segments in the shard")
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--batches", type=int, default=16, help="random batches per pass")
    ap.add_argument("--batch", type=int, default=256, help="windows per random batch")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from relcon.data.corpus import Corpus, prepare_corpus

    with tempfile.TemporaryDirectory(prefix="relcon-checksum-") as tmp:
        raw, out = Path(tmp) / "raw", Path(tmp) / "corpus"
        raw.mkdir()
        _recordings(raw, args.segments, args.users)
        t0 = time.perf_counter()
        s = prepare_corpus([raw], out, shard_segments=args.segments, progress=False)
        prep_s = time.perf_counter() - t0
        shard = out / "shards/shard-000000.npy"
        mib = shard.stat().st_size / 2**20
        n = min(len(Corpus.open(out)), args.segments)
        rng = np.random.default_rng(1)
        batches = [rng.integers(0, n, args.batch) for _ in range(args.batches)]

        def read_all(verify: bool) -> None:
            c = Corpus.open(out, verify=verify)
            for a in range(0, n, 1024):
                c.x[a : min(n, a + 1024)]

        def read_random(verify: bool) -> None:
            c = Corpus.open(out, verify=verify)
            for b in batches:
                c.x[b]

        hash_s = _time(lambda: Corpus.open(out).verify(), args.repeats)
        rows = []
        for name, fn, windows in (
            ("all windows", read_all, n),
            ("random batches", read_random, args.batches * args.batch),
        ):
            # interleaved, best of N each: both settings see the same machine state
            off = on = float("inf")
            for _ in range(args.repeats):
                off = min(off, _time(lambda fn=fn: fn(False), 1))
                on = min(on, _time(lambda fn=fn: fn(True), 1))
            rows.append((name, windows, off, on))

    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(
        f"# shard: {n} segments, {mib:.1f} MiB (int16), prepared in {prep_s:.1f} s "
        f"({s.segments} segments); best of {args.repeats}"
    )
    print(f"check alone (Corpus.verify): {hash_s * 1e3:.0f} ms per shard, {mib / hash_s:.0f} MiB/s")
    print(f"{'read':<16}{'windows':>9}{'no check w/s':>15}{'check w/s':>12}{'cost':>9}")
    for name, windows, off, on in rows:
        print(
            f"{name:<16}{windows:>9}{windows / off:>15.0f}{windows / on:>12.0f}"
            f"{(on - off) * 1e3:>7.0f}ms"
        )


if __name__ == "__main__":
    main()
