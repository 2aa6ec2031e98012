"""Benchmark: speed and memory of ``relcon embed`` (beside the model alone in the same run) and
of ``relcon prepare`` on CPU, on a synthetic day-long (or week-long) recording.

    python benchmarks/embed_speed.py --model shipped  # 24 h at 100 Hz, CSV.gz and .npz
    python benchmarks/embed_speed.py --hours 2        # a quick look
    python benchmarks/embed_speed.py --formats npz --threads 4
    python benchmarks/embed_speed.py --hours 168 --formats csv.gz cwa --steps windows  # a week
    python benchmarks/embed_speed.py --hours 168 --formats csv.gz cwa --steps prepare  # relcon prepare

The recording (written once to ``--data``, default ``/tmp/relcon-embed-bench``, and reused;
:func:`relcon.apps.speed_embed.synthetic_recording`): a wrist-like signal at 100 Hz in g --
gravity in a slowly turning direction, movement whose intensity changes every 10 minutes, noise
-- with a 3-hour motionless stretch (off the wrist, dropped by the non-wear rule) starting at
hour 2. As ``.csv.gz`` (numeric Unix time in seconds with 4 decimals, x, y, z with 4 decimals,
gzip level 6), as ``.npz`` (``x`` float32 and ``fs``, uncompressed) and, with ``--formats
cwa``, as an Axivity ``.cwa`` (:func:`write_cwa_recording`: unpacked 1/256 g, the same samples
and start; read by relcon's own streaming decoder, :mod:`relcon.data.stream.cwa`).

For each format, in a fresh child process (so that each peak resident set size is its own;
``VmHWM`` is reset through ``/proc/self/clear_refs`` after the imports and the model are set up,
where the kernel allows it):

1. ``windows``: :func:`relcon.data.stream.iter_windows` alone (read, validate, regularise, resample,
   window, non-wear), to separate input cost from model cost;
2. ``embed``: the speed stage "embed end to end" (:func:`relcon.apps.speed_embed.embed_end_to_end`):
   ``relcon embed``'s path from the file to Parquet (reading in a background thread, overlapped
   with the model), and the **model alone** on windows in memory measured before and after it in
   the same process, with the full-size default architecture (``ResNet1DEncoder()``, about 3.6M
   parameters, random weights: the speed does not depend on them) or, with ``--model shipped``,
   the model shipped in the package, on the CPU, ``--batch-size`` windows per forward pass;
   the model-only figure is the median of ``--repeats`` passes over ``--model-windows`` windows,
   before and after;
3. ``prepare``: :func:`relcon.data.corpus.prepare_corpus` with its defaults on the file alone
   (``relcon prepare FILE --out CORPUS``: the stream, the flat rule, int16 encoding, the spool
   file and 65,536-segment shards) into a temporary corpus folder beside the data, removed
   afterwards; no model is loaded for it (the ``--model`` options do not apply).

Reported per step: wall seconds, windows/s (kept windows; for ``prepare`` the segments
stored), hours of recording per minute of wall time, peak RSS (absolute, and growth over the
set-up), for ``embed`` the model-only windows/s and the ratio end-to-end / model-only (the
issue-13 target: >= 0.5), for ``prepare`` the corpus's counts and size; the torch thread count,
the load average (the machine may be shared) and the CPU model. Writes
``benchmarks/results/embed_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FS = 100.0


def _status() -> dict[str, float]:
    """Memory figures of this process in MiB (from /proc/self/status)."""
    out: dict[str, float] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
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


def write_cwa_recording(folder: Path, hours: float) -> Path:
    """The synthetic recording as an Axivity ``.cwa`` (unpacked, 1/256 g), an hour at a time.

    The same samples as the CSV.gz and .npz (``relcon.apps.speed_embed._signal`` with the same
    random generator), from the same start (Unix time 1.7e9 s), written with the tests' writer
    (``tests/device_writers.py``, imported by path: it is test code, not part of the package);
    the blocks of each hour are renumbered so the sequence numbers run on through the file.
    """
    import struct

    import numpy as np
    import pandas as pd

    from relcon.apps.speed_embed import _signal

    sys.path.insert(0, str(ROOT / "tests"))
    from device_writers import cwa_blocks, seal_cwa_block

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"day-{hours:g}h.cwa"
    if path.exists():
        return path
    n = round(hours * 3600 * FS)
    step = int(3600 * FS)  # whole blocks of 80 samples, starting on whole seconds
    rng = np.random.default_rng(0)
    t0 = pd.Timestamp(1.7e9, unit="s")
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    seq = 0
    with open(tmp, "wb") as fh:
        for a in range(0, n, step):
            x = _signal(a, min(n, a + step), rng)
            header, blocks = cwa_blocks(x, FS, t0 + pd.Timedelta(seconds=a / FS))
            if a == 0:
                fh.write(header)
            for b in blocks:
                struct.pack_into("<I", b, 10, seq)
                seal_cwa_block(b)
                seq += 1
            fh.write(b"".join(blocks))
    os.replace(tmp, path)
    return path


def make_data(folder: Path, hours: float, formats: list[str]) -> dict[str, Path]:
    """Write (or reuse) the synthetic recording in the requested formats."""
    from relcon.apps.speed_embed import synthetic_recording

    paths = {}
    for fmt in formats:
        t0 = time.perf_counter()
        existed = (folder / f"day-{hours:g}h.{fmt}").exists()
        if fmt == "cwa":
            paths[fmt] = write_cwa_recording(folder, hours)
        else:
            paths[fmt] = synthetic_recording(folder, hours, fmt)
        if not existed:
            print(f"wrote {paths[fmt]} ({paths[fmt].stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    return paths


def _child_prepare(args: argparse.Namespace) -> dict:
    """The ``prepare`` step (no model)."""
    import shutil
    import tempfile

    from relcon.data.corpus import prepare_corpus

    path = Path(args.child)
    out = Path(tempfile.mkdtemp(prefix="prepare-", dir=args.data)) / "corpus"
    before = _status()
    reset = _reset_peak()
    base = _status()
    try:
        t0 = time.perf_counter()
        s = prepare_corpus([path], out, progress=False)
        wall = time.perf_counter() - t0
        end = _status()
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return {
        "format": path.name.split(".", 1)[1],
        "step": args.mode,
        "seconds": round(wall, 2),
        "windows": s.segments,
        "windows_per_s": round(s.segments / wall, 1),
        "dropped": s.dropped,
        "rows": s.rows,
        "corpus_mib": round(s.bytes / 2**20, 1),
        "recording_hours": round(s.hours, 3),
        "hours_per_minute": round(s.hours / (wall / 60), 3),
        "peak_rss_mib": round(end["VmHWM"] if reset else max(end["VmHWM"], before["VmHWM"]), 1),
        "setup_rss_mib": round(base["VmRSS"], 1),
        "peak_rss_growth_mib": round(end["VmHWM"] - base["VmRSS"], 1) if reset else None,
        "peak_reset": reset,
        "torch_threads": None,
        "load_average_after": list(os.getloadavg()),
    }


def _child(args: argparse.Namespace) -> dict:
    if args.mode == "prepare":
        return _child_prepare(args)
    import torch

    from relcon.apps.speed_embed import embed_end_to_end
    from relcon.data.stream import iter_windows
    from relcon.models.encoder import ResNet1DEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model == "shipped":
        import relcon

        model = relcon.load()
    else:
        model = ResNet1DEncoder().eval()
    path = Path(args.child)
    before = _status()
    reset = _reset_peak()
    base = _status()
    if args.mode == "windows":
        t0 = time.perf_counter()
        it = iter_windows(path)
        for _ in it:
            pass
        summary = it.summary
        wall = time.perf_counter() - t0
        end = _status()
        windows, hours, extra = summary.windows_kept, summary.duration_s / 3600, {}
    else:
        r = embed_end_to_end(
            path, model=model, batch_size=args.batch_size, device="cpu",
            model_windows=args.model_windows, repeats=args.repeats,
        )  # fmt: skip
        wall, windows, hours = r["seconds"], r["windows"], r["recording"]["hours"]
        end = _status()
        extra = {
            "model_only_windows_per_s": round(r["rates"]["model_only"], 1),
            "model_only_before_after": [round(v, 1) for v in r["rates"]["model_only_before_after"]],
            "ratio_end_to_end_over_model": round(r["rates"]["ratio"], 3),
            "load_average_during": r["load_average"],
        }
    return {
        "format": path.name.split(".", 1)[1],
        "step": args.mode,
        "seconds": round(wall, 2),
        "windows": windows,
        "windows_per_s": round(windows / wall, 1),
        **extra,
        "recording_hours": round(hours, 3),
        "hours_per_minute": round(hours / (wall / 60), 3),
        "peak_rss_mib": round(end["VmHWM"] if reset else max(end["VmHWM"], before["VmHWM"]), 1),
        "setup_rss_mib": round(base["VmRSS"], 1),
        "peak_rss_growth_mib": round(end["VmHWM"] - base["VmRSS"], 1) if reset else None,
        "peak_reset": reset,
        "torch_threads": torch.get_num_threads(),
        "load_average_after": list(os.getloadavg()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0, help="length of the recording")
    p.add_argument(
        "--formats", nargs="+", default=["csv.gz", "npz"], choices=["csv.gz", "npz", "cwa"]
    )
    p.add_argument(
        "--steps", nargs="+", default=["windows", "embed"], choices=["windows", "embed", "prepare"]
    )
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument(
        "--model", choices=["full", "shipped"], default="full",
        help="full: ResNet1DEncoder() (3.6M parameters, random weights); shipped: relcon.load()",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--model-windows", type=int, default=4096, help="windows of each model-only pass"
    )
    p.add_argument("--repeats", type=int, default=3, help="model-only passes before and after")
    p.add_argument("--data", default="/tmp/relcon-embed-bench", help="where the data go")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "embed_speed.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print("RESULT " + json.dumps(_child(args)), flush=True)
        return
    paths = make_data(Path(args.data), args.hours, args.formats)
    rows = []
    load_before = list(os.getloadavg())
    for fmt in args.formats:
        for step in args.steps:
            cmd = [sys.executable, __file__, "--child", str(paths[fmt]), "--mode", step,
                   "--data", args.data, "--batch-size", str(args.batch_size),
                   "--threads", str(args.threads), "--model", args.model,
                   "--model-windows", str(args.model_windows), "--repeats", str(args.repeats)]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((s for s in proc.stdout.splitlines() if s.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                sys.exit(f"{fmt} {step} failed:\n{proc.stdout}\n{proc.stderr}")
            row = json.loads(line[len("RESULT ") :])
            rows.append(row)
            ratio = ""
            if step == "embed":
                ratio = (f"  model only {row['model_only_windows_per_s']:9.1f} win/s  ratio "
                         f"{row['ratio_end_to_end_over_model']:.2f}")  # fmt: skip
            print(
                f"{fmt:>7} {step:>7}: {row['seconds']:8.1f} s  {row['windows_per_s']:9.1f} win/s  "
                f"{row['hours_per_minute']:7.2f} h/min  peak RSS {row['peak_rss_mib']:.0f} MiB "
                f"(+{row['peak_rss_growth_mib']} MiB){ratio}",
                flush=True,
            )
    import torch

    from relcon.apps.speed_embed import cpu_name

    settings: dict = {"drop_nonwear": True, "stride_s": 2.56, "chunk_s": 3600.0}
    if "embed" in args.steps:
        settings.update(
            batch_size=args.batch_size, device="cpu",
            encoder="relcon.load()" if args.model == "shipped" else "ResNet1DEncoder()",
            model_only={"windows": args.model_windows, "repeats_before_and_after": args.repeats},
        )  # fmt: skip
    if "prepare" in args.steps:
        settings["prepare"] = "prepare_corpus defaults (int16, drop_flat, 65,536-segment shards)"
    result = {
        "benchmark": "relcon embed / prepare speed (CPU)",
        "recording": {
            "hours": args.hours,
            "fs_hz": FS,
            "files": {
                k: {"path": str(v), "mib": round(v.stat().st_size / 2**20, 1)}
                for k, v in paths.items()
            },
        },
        "settings": settings,
        "command": " ".join(["python", "benchmarks/embed_speed.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_model": cpu_name(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out} ({cpu_name()}, load average {load_before[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
