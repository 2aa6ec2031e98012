"""Speed stage "embed end to end": ``relcon embed`` from a file on disk to Parquet, beside the
model alone on windows in memory, in one run, so that their ratio is one number.

The issue-13 target: on a 24-hour 100 Hz CSV.gz with the shipped model, end to end at least half
of the model-only throughput, with peak memory under 1 GB whatever the length.

* ``model only``: :meth:`ResNet1DEncoder.embed` on windows already in memory (the first windows
  of the same recording), ``batch_size`` at a time -- the call ``relcon embed`` makes.
* ``end to end``: :func:`relcon.apps.embed.embed_recordings` on the file (read, parse, check,
  regularise, resample, window, non-wear, embed, write Parquet), kept windows per second of wall
  time, and the growth of the resident set's high-water mark (``VmHWM`` reset through
  ``/proc/self/clear_refs`` where Linux allows it, else the absolute peak).

The model-only figure is measured before and after the end-to-end run and averaged, so a change
of machine load during the run weighs on both; the load average and the CPU model are recorded.

Usage::

    python -m relcon.apps.speed_embed                 # 24 h synthetic CSV.gz, shipped model
    python -m relcon.apps.speed_embed --hours 2 --json out.json

From the speed benchmark: :func:`embed_end_to_end` returns an entry in the format of the other
stages of :func:`relcon.apps.speed.run_bench` (``value``, ``unit``, ``rates``, ``seconds``...).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cpu_name", "embed_end_to_end", "format_result", "main", "synthetic_recording"]

FS = 100.0
#: Where the synthetic recordings are kept between runs.
DEFAULT_DATA = Path(tempfile.gettempdir()) / "relcon-embed-bench"


def cpu_name() -> str:
    """The CPU model, from ``/proc/cpuinfo`` (else :func:`platform.processor`)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _status() -> dict[str, float]:
    """``VmHWM`` and ``VmRSS`` of this process in MiB (empty where /proc is missing)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------
# the recording
# ----------------------------------------------------------------------------------------------


def _signal(a: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """Samples ``a .. b`` (at 100 Hz) of the synthetic day, ``(b - a, 3)`` float32 in g: gravity
    in a slowly turning direction, movement whose intensity changes every 10 minutes, noise, and
    a 3-hour motionless stretch (off the wrist) from hour 2."""
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
    still = (t >= 7200) & (t < 7200 + 3 * 3600)
    x[still] = np.array([0.0, 0.0, 1.0]) + 0.002 * rng.standard_normal((int(still.sum()), 3))
    return x.astype(np.float32)


def synthetic_recording(
    folder: str | os.PathLike[str] = DEFAULT_DATA, hours: float = 24.0, fmt: str = "csv.gz"
) -> Path:
    """Write (or reuse) the synthetic wrist recording: ``day-{hours}h.csv.gz`` (numeric Unix
    time in seconds with 4 decimals, x, y, z with 4 decimals, gzip level 6) or ``.npz`` (``x``
    float32 and ``fs``)."""
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"day-{hours:g}h.{fmt}"
    if path.exists():
        return path
    n = round(hours * 3600 * FS)
    step = int(3600 * FS)
    rng = np.random.default_rng(0)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    if fmt == "npz":
        x = np.empty((n, 3), dtype=np.float32)
        for a in range(0, n, step):
            x[a : a + step] = _signal(a, min(n, a + step), rng)
        with open(tmp, "wb") as fh:
            np.savez(fh, x=x, fs=FS)
    elif fmt == "csv.gz":
        with gzip.open(tmp, "wt", compresslevel=6, newline="") as fh:
            for a in range(0, n, step):
                b = min(n, a + step)
                x = _signal(a, b, rng)
                df = pd.DataFrame(
                    {"time": 1.7e9 + np.arange(a, b) / FS, "x": x[:, 0], "y": x[:, 1],
                     "z": x[:, 2]}
                )  # fmt: skip
                df.to_csv(fh, index=False, header=a == 0, float_format="%.4f")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected csv.gz or npz")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------
# the measurements
# ----------------------------------------------------------------------------------------------


def _model_only(embed: Callable[[np.ndarray], Any], x: np.ndarray, repeats: int) -> float:
    """Windows per second of ``embed`` on ``x`` (median of ``repeats`` timed passes)."""
    embed(x[: min(len(x), 64)])  # warm-up
    rates = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        embed(x)
        rates.append(len(x) / (time.perf_counter() - t0))
    return float(statistics.median(rates))


def _first_windows(path: Path, n: int) -> np.ndarray:
    from relcon.data.stream import iter_windows

    parts, have = [], 0
    with iter_windows(path, drop_nonwear=False) as it:
        for b in it:
            parts.append(b.x)
            have += len(b)
            if have >= n:
                break
    return np.concatenate(parts)[:n]


def embed_end_to_end(
    path: str | os.PathLike[str] | None = None,
    *,
    hours: float = 24.0,
    model: Any = None,
    batch_size: int = 512,
    device: str = "cpu",
    model_windows: int = 4096,
    repeats: int = 3,
    prefetch: bool = True,
    precision: str = "fp32",
    data: str | os.PathLike[str] = DEFAULT_DATA,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure "embed end to end" beside "model only" in one run.

    Parameters
    ----------
    path : path-like, optional
        The recording (default: the synthetic ``hours``-long CSV.gz in ``data``, written once).
    model : optional
        An encoder, or anything :func:`relcon.apps.embed.load_encoder` takes (default: the
        shipped model).
    batch_size : int
        Windows per forward pass (both figures).
    model_windows, repeats : int
        In-memory windows per model-only pass, and passes (median) before and after.
    prefetch : bool
        Read in a background thread (as ``relcon embed`` does); False: one thread.
    precision : str
        :meth:`ResNet1DEncoder.embed`'s precision (both figures): ``"fp32"``, ``"bf16"``,
        ``"auto"``.

    Returns
    -------
    dict
        ``value`` (end-to-end windows/s), ``unit``, ``rates`` (``windows/s``, ``model_only``,
        ``ratio``, ``hours_per_minute``), ``seconds``, ``windows``, ``peak_memory_bytes`` (peak
        RSS during the run) and ``peak_rss_growth_bytes``, ``load_average`` (before, after),
        ``cpu``, ``torch_threads``, ``recording``.
    """
    import torch

    from relcon.apps.batch import model_record, run_recordings
    from relcon.apps.embed import load_encoder
    from relcon.data.stream import WindowOptions

    say = log or (lambda _s: None)
    p = Path(path) if path is not None else synthetic_recording(data, hours)
    enc = load_encoder(model, device)
    x = _first_windows(p, model_windows)

    def embed(w: np.ndarray) -> Any:
        return enc.embed(w, batch_size=batch_size, device=device, precision=precision)

    load_before = list(os.getloadavg())
    say(f"model only on {len(x)} windows in memory ...")
    before = _model_only(embed, x, repeats)
    names = [f"e{i:03d}" for i in range(enc.embed_dim)]

    def compute(w: np.ndarray) -> dict[str, Any]:
        return dict(zip(names, embed(w).T, strict=True))

    summaries: list = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "embeddings.parquet"
        reset = _reset_peak()
        base = _status()
        say(f"end to end: {p} -> Parquet ...")
        t0 = time.perf_counter()
        run_recordings(
            p, out, compute, batch_size=batch_size, window=WindowOptions(), progress=False,
            summaries=summaries, metadata={"command": "embed", "model": model_record(model, enc)},
            prefetch_depth=2 if prefetch else 0,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        end = _status()
    say("model only again ...")
    after = _model_only(embed, x, repeats)
    model_only = (before + after) / 2
    s = summaries[0]
    rate = s.windows_kept / wall
    peak = end.get("VmHWM", float("nan"))
    return {
        "value": rate,
        "unit": "windows/s",
        "rates": {
            "windows/s": rate,
            "model_only": model_only,
            "model_only_before_after": [before, after],
            "ratio": rate / model_only,
            "hours_per_minute": s.duration_s / 3600 / (wall / 60),
        },
        "seconds": wall,
        "windows": s.windows_kept,
        "peak_memory_bytes": int(peak * 2**20) if peak == peak else None,
        "peak_rss_growth_bytes": int((peak - base["VmRSS"]) * 2**20) if reset and base else None,
        "peak_memory_scope": "process RSS high-water mark" + (" (reset)" if reset else ""),
        "load_average": [load_before, list(os.getloadavg())],
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "prefetch": prefetch,
        "precision": precision,
        "batch_size": batch_size,
        "recording": {
            "path": str(p),
            "bytes": p.stat().st_size,
            "hours": s.duration_s / 3600,
            "rows": s.rows,
        },
        "model": type(enc).__name__,
        "model_parameters": int(sum(q.numel() for q in enc.parameters())),
    }


def format_result(r: dict[str, Any]) -> str:
    """The stage as a few lines of text."""
    rt = r["rates"]
    peak = r["peak_memory_bytes"]
    grow = r["peak_rss_growth_bytes"]
    return "\n".join(
        [
            f"embed end to end: {rt['windows/s']:,.0f} windows/s ({r['windows']:,} windows in "
            f"{r['seconds']:.1f} s, {rt['hours_per_minute']:.1f} h of recording per minute)",
            f"model only:       {rt['model_only']:,.0f} windows/s (before {rt['model_only_before_after'][0]:,.0f}, "
            f"after {rt['model_only_before_after'][1]:,.0f})",
            f"ratio:            {rt['ratio']:.2f} (target >= 0.50)",
            f"peak RSS:         {peak / 2**20:,.0f} MiB"
            + (f" (+{grow / 2**20:,.0f} MiB during the run)" if grow is not None else "")
            + " (target < 1024 MiB)",
            f"machine:          {r['cpu']}, {r['cpu_count']} CPUs, {r['torch_threads']} torch "
            f"threads, load average {r['load_average'][0][0]:.2f} -> {r['load_average'][1][0]:.2f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m relcon.apps.speed_embed", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("recording", nargs="?", help="recording file (default: synthetic CSV.gz)")
    p.add_argument("--hours", type=float, default=24.0, help="synthetic recording length")
    p.add_argument("--model", help="encoder (default: the shipped model)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="model-only passes before and after")
    p.add_argument("--no-prefetch", action="store_true", help="read in the main thread")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder of synthetic recordings")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    r = embed_end_to_end(
        args.recording, hours=args.hours, model=args.model, batch_size=args.batch_size,
        repeats=args.repeats, prefetch=not args.no_prefetch, precision=args.precision,
        data=args.data, log=print,
    )  # fmt: skip
    print(format_result(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
