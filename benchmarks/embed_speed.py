"""Benchmark: speed and memory of ``relcon embed`` on CPU, on a synthetic day-long recording.

    python benchmarks/embed_speed.py                  # 24 h at 100 Hz, CSV.gz and .npz
    python benchmarks/embed_speed.py --hours 2        # a quick look
    python benchmarks/embed_speed.py --formats npz --threads 4

The recording (written once to ``--data``, default ``/tmp/relcon-embed-bench``, and reused): a
wrist-like signal at 100 Hz in g -- gravity in a slowly turning direction, movement whose
intensity changes every 10 minutes, noise -- with a 3-hour motionless stretch (off the wrist,
dropped by the non-wear rule) starting at hour 2. As ``.csv.gz`` (numeric Unix time in seconds
with 4 decimals, x, y, z with 4 decimals, gzip level 6) and as ``.npz`` (``x`` float32 and
``fs``, uncompressed).

For each format, in a fresh child process (so that each peak resident set size is its own;
``VmHWM`` is reset through ``/proc/self/clear_refs`` after the imports and the model are set up,
where the kernel allows it):

1. ``windows``: :func:`relcon.data.stream.iter_windows` alone (read, validate, regularise, resample,
   window, non-wear), to separate input cost from model cost;
2. ``embed``: :func:`relcon.apps.embed.embed_recordings` with the full-size default architecture
   (``ResNet1DEncoder()``, about 3.6M parameters, random weights: the speed does not depend on
   them) or, with ``--model shipped``, the model shipped in the package, on the CPU,
   ``--batch-size`` windows per forward pass, written to Parquet.

Reported per step: wall seconds, windows/s (kept windows), hours of recording per minute of
wall time, peak RSS (absolute, and growth over the set-up), and the torch thread count and load
average (the machine may be shared). Writes ``benchmarks/results/embed_speed.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

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


def _signal(a: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """Samples ``a .. b`` (at 100 Hz) of the synthetic day, ``(b - a, 3)`` float32 in g."""
    t = np.arange(a, b) / FS
    yaw = 0.3 * np.sin(2 * np.pi * t / 5400.0)
    grav = np.stack([np.sin(yaw) * 0.3, np.cos(yaw) * 0.3, np.full_like(t, 0.9)], axis=1)
    grav /= np.linalg.norm(grav, axis=1, keepdims=True)
    block = (t // 600).astype(np.int64)
    intensity = np.random.default_rng(block[0]).uniform(0.0, 0.6, block.max() - block[0] + 1)[
        block - block[0]
    ]
    move = np.stack(
        [np.sin(2 * np.pi * f * t + p) for f, p in ((1.8, 0.0), (2.3, 1.0), (0.9, 2.0))], axis=1
    )
    x = grav + intensity[:, None] * move + 0.02 * rng.standard_normal((t.size, 3))
    still = (t >= 7200) & (t < 7200 + 3 * 3600)  # off the wrist
    x[still] = (
        grav[still] * 0
        + np.array([0.0, 0.0, 1.0])
        + 0.002 * rng.standard_normal((int(still.sum()), 3))
    )
    return x.astype(np.float32)


def make_data(folder: Path, hours: float, formats: list[str]) -> dict[str, Path]:
    """Write (or reuse) the synthetic recording in the requested formats."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    n = round(hours * 3600 * FS)
    step = int(3600 * FS)
    paths = {}
    for fmt in formats:
        path = folder / f"day-{hours:g}h.{fmt}"
        paths[fmt] = path
        if path.exists():
            continue
        t0 = time.perf_counter()
        tmp = path.with_name(path.name + ".part")
        rng = np.random.default_rng(0)
        if fmt == "npz":
            x = np.empty((n, 3), dtype=np.float32)
            for a in range(0, n, step):
                x[a : a + step] = _signal(a, min(n, a + step), rng)
            with open(tmp, "wb") as fh:
                np.savez(fh, x=x, fs=FS)
            del x
        else:
            with gzip.open(tmp, "wt", compresslevel=6, newline="") as fh:
                for a in range(0, n, step):
                    b = min(n, a + step)
                    x = _signal(a, b, rng)
                    df = pd.DataFrame(
                        {"time": 1.7e9 + np.arange(a, b) / FS, "x": x[:, 0], "y": x[:, 1],
                         "z": x[:, 2]}
                    )  # fmt: skip
                    df.to_csv(fh, index=False, header=a == 0, float_format="%.4f")
        os.replace(tmp, path)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    return paths


def _child(args: argparse.Namespace) -> dict:
    import torch

    from relcon.apps.embed import embed_recordings
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
    t0 = time.perf_counter()
    if args.mode == "windows":
        it = iter_windows(path)
        for _ in it:
            pass
        summary = it.summary
    else:
        summaries: list = []
        out = Path(args.data) / f"{path.name}.embeddings.parquet"
        embed_recordings(
            path, model, out, device="cpu", batch_size=args.batch_size, progress=False,
            summaries=summaries,
        )  # fmt: skip
        summary = summaries[0]
        out.unlink()
    wall = time.perf_counter() - t0
    end = _status()
    hours = summary.duration_s / 3600
    return {
        "format": path.name.split(".", 1)[1],
        "step": args.mode,
        "seconds": round(wall, 2),
        "windows": summary.windows_kept,
        "windows_grid": summary.windows_grid,
        "dropped": summary.dropped,
        "windows_per_s": round(summary.windows_kept / wall, 1),
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
    p.add_argument("--formats", nargs="+", default=["csv.gz", "npz"], choices=["csv.gz", "npz"])
    p.add_argument("--steps", nargs="+", default=["windows", "embed"], choices=["windows", "embed"])
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument(
        "--model", choices=["full", "shipped"], default="full",
        help="full: ResNet1DEncoder() (3.6M parameters, random weights); shipped: relcon.load()",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
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
                   "--threads", str(args.threads), "--model", args.model]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((s for s in proc.stdout.splitlines() if s.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                sys.exit(f"{fmt} {step} failed:\n{proc.stdout}\n{proc.stderr}")
            row = json.loads(line[len("RESULT ") :])
            rows.append(row)
            print(
                f"{fmt:>7} {step:>7}: {row['seconds']:8.1f} s  {row['windows_per_s']:9.1f} win/s  "
                f"{row['hours_per_minute']:7.2f} h/min  peak RSS {row['peak_rss_mib']:.0f} MiB "
                f"(+{row['peak_rss_growth_mib']} MiB)",
                flush=True,
            )
    import torch

    result = {
        "benchmark": "relcon embed speed (CPU)",
        "recording": {
            "hours": args.hours,
            "fs_hz": FS,
            "files": {
                k: {"path": str(v), "mib": round(v.stat().st_size / 2**20, 1)}
                for k, v in paths.items()
            },
        },
        "settings": {
            "batch_size": args.batch_size,
            "device": "cpu",
            "encoder": "relcon.load()" if args.model == "shipped" else "ResNet1DEncoder()",
            "drop_nonwear": True,
            "stride_s": 2.56,
            "chunk_s": 3600.0,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_before": load_before,
        },
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
