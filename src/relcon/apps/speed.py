"""``relcon bench``: how fast every stage of RelCon training and inference runs on one device.

Six measurements, each after warm-up iterations that are not timed (they absorb
``torch.compile``, cuDNN autotuning, worker start-up and allocator growth), then ``steps`` timed
iterations; the median is reported (CUDA is synchronised around every timed iteration):

(a) ``loader``: the background loader of :mod:`relcon.data.loader` alone, gathering batches of
    ``B`` anchors and ``B*K`` within-user candidates (from a prepared corpus with ``corpus``, else
    from synthetic windows in memory) with ``num_workers`` workers; anchors/s and segments/s.
(b) ``distance_train``: one optimizer step of the motif distance: the step function that
    :mod:`relcon.train.distance` runs, :func:`relcon.train.steps.distance_step` (loader,
    augmentations on the device, forward, backward, clipping, AdamW); segments/s.
(c) ``scoring``: the frozen distance scores ``B`` anchors against ``K`` within-user and ``m``
    between-user candidates each, in one batched no-grad call
    (:func:`relcon.train.steps.score_candidates`, as inside the step); anchors/s.
(d) ``full_step``: one RelCon pretraining step: the step function that :mod:`relcon.train.relcon`
    runs, :func:`relcon.train.steps.relcon_step` (next batch from the loader, scoring, one encoder
    forward over the ``B + B*K`` windows, loss, backward, clipping, AdamW), in the training's
    precision; anchors/s and encoded segments/s, and where its time goes (from the step's
    phase marks).
(f) ``encoder_fwd_bwd``: the encoder's own forward and backward over the same ``B + B*K``
    windows, interleaved with (d) in the same run (so both see the same machine load);
    ``step_over_encoder`` is the ratio of their median times.
(e) ``embedding``: :meth:`ResNet1DEncoder.embed` (eval mode, no grad) over batches of
    ``embed_batch_size`` windows, host memory in and out, in ``precision`` (resolved on the
    device: bf16 autocast with "auto" where native); segments/s.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``; on
the CPU the resident-set high-water mark of this process (``VmHWM``, reset through
``/proc/self/clear_refs`` where Linux allows it; loader worker processes are not included).
Model FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and
matrix products) on two samples and scaled linearly; on a GPU with a known peak (H100 SXM/PCIe/
NVL, H200, GH200, A100) the model FLOPs utilisation is achieved FLOP/s over the dense peak of the
precision in use (bf16 under autocast, else TF32).

Defaults mirror the issue's GPU target setting (``B=256``, ``K=20``, ``m=63``, bf16 autocast,
TF32). On the CPU the default batch is ``B=64``: the smallest batch that still has ``m=63``
between-user candidates (they are the other anchors of the batch), with the same ``K`` and ``m``.

Usage from Python::

    from relcon.apps.speed import BenchConfig, format_table, run_bench
    results = run_bench(BenchConfig(device="cuda"))
    print(format_table(results))
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from relcon.apps.speed_stages import (
    BenchConfig,
    _Bench,
    synthetic_segments,
)
from relcon.config import EncoderConfig, to_dict

__all__ = [
    "DEFAULT_MEASUREMENTS",
    "GPU_PEAK_TFLOPS",
    "MEASUREMENTS",
    "TARGETS",
    "BenchConfig",
    "add_bench_arguments",
    "format_table",
    "gpu_model",
    "main",
    "run_and_print",
    "run_bench",
    "synthetic_segments",
]

#: Measurement groups that ``BenchConfig.only`` can select (``full_step`` includes (f)).
MEASUREMENTS = ("loader", "distance_train", "scoring", "full_step", "embedding", "embed_end_to_end")
#: What runs when ``only`` is not given: all but (g), which reads a file on disk (a 24 h
#: recording takes a minute or two on a laptop): ``--only embedding embed_end_to_end``.
DEFAULT_MEASUREMENTS = MEASUREMENTS[:-1]

#: Dense (no sparsity) peak tensor-core TFLOP/s per precision, from the vendor data sheets.
GPU_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.5, "tf32": 378.0, "fp32": 51.2},
    "H100 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "H200 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H200 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "GH200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
}

#: The issue's targets for one H100/H200 (``min`` rates) and for a 2-core CPU (``max`` ratio).
TARGETS: dict[str, dict[str, Any]] = {
    "full_step": {"device": "cuda", "min": 5000.0, "unit": "anchors/s"},
    "loader": {"device": "any", "min_times_step": 2.0, "unit": "anchors/s"},
    "scoring": {"device": "cuda", "min": 2300.0, "unit": "anchors/s"},
    "distance_train": {"device": "cuda", "min": 30000.0, "unit": "segments/s"},
    "embedding": {"device": "cuda", "min": 300000.0, "unit": "segments/s"},
    "step_over_encoder": {"device": "cpu", "max": 1.25, "unit": "x"},
}

_LABELS = {
    "loader": "(a) loader",
    "distance_train": "(b) distance training",
    "scoring": "(c) candidate scoring",
    "full_step": "(d) full pretraining step",
    "encoder_fwd_bwd": "(f) encoder fwd+bwd",
    "step_over_encoder": "(d)/(f) step / encoder",
    "embedding": "(e) embedding",
    "embed_end_to_end": "(g) embed end to end",
}

_SMALL_ENCODER = EncoderConfig(stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128), stem_filters=32)

# --------------------------------------------------------------------------------------------
# device, timing and memory helpers
# --------------------------------------------------------------------------------------------


def gpu_model(name: str) -> str | None:
    """Key of :data:`GPU_PEAK_TFLOPS` for a CUDA device name, or None when unknown.

    Example:
        >>> gpu_model("NVIDIA H100 80GB HBM3"), gpu_model("NVIDIA H200"), gpu_model("Tesla T4")
        ('H100 SXM', 'H200 SXM', None)
    """
    n = name.upper()
    if "GH200" in n:
        return "GH200"
    for gen in ("H200", "H100"):
        if gen in n:
            if "NVL" in n:
                return f"{gen} NVL"
            if "PCIE" in n:
                return f"{gen} PCIe"
            return f"{gen} SXM"
    if "A100" in n:
        return "A100"
    return None


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
def _resolve(cfg: BenchConfig, device: torch.device) -> tuple[BenchConfig, list[str]]:
    """Fill in the device defaults; notes say what was chosen and why."""
    cuda = device.type == "cuda"
    notes: list[str] = []
    b = cfg.batch_size
    if b is None:
        b = 256 if cuda else 64
        if not cuda:
            notes.append(
                "CPU: B=64 anchors per step instead of the GPU setting's 256 (the smallest B "
                f"that keeps m={cfg.between_user} between-user candidates); K and m as on the GPU"
            )
    m = cfg.between_user
    if m > b - 1:
        notes.append(f"between_user={m} clipped to batch_size - 1 = {b - 1}")
        m = b - 1
    workers = cfg.num_workers
    if workers is None:
        workers = min(8, max(1, (os.cpu_count() or 2) - 1)) if cuda else 0
    if cfg.encoder not in ("full", "small") and cfg.encoder_config is None:
        raise ValueError(f"encoder must be 'full' or 'small', got {cfg.encoder!r}")
    unknown = sorted(set(cfg.only or []) - set(MEASUREMENTS))
    if unknown:
        raise ValueError(f"unknown measurement(s) {unknown}; choose from {list(MEASUREMENTS)}")
    resolved = replace(
        cfg,
        encoder="custom" if cfg.encoder_config is not None else cfg.encoder,
        device=str(device),
        batch_size=b,
        between_user=m,
        steps=cfg.steps if cfg.steps is not None else (10 if cuda else 3),
        warmup=cfg.warmup if cfg.warmup is not None else (3 if cuda else 1),
        num_workers=workers,
        distance_batch_size=cfg.distance_batch_size or (1024 if cuda else 64),
        encoder_config=cfg.encoder_config
        or (EncoderConfig() if cfg.encoder == "full" else copy.deepcopy(_SMALL_ENCODER)),
        only=list(cfg.only) if cfg.only else list(DEFAULT_MEASUREMENTS),
    )
    if resolved.steps < 1 or resolved.warmup < 0:
        raise ValueError(
            f"need steps >= 1 and warmup >= 0, got {resolved.steps}, {resolved.warmup}"
        )
    if b < 1 or cfg.within_user < 1 or m < 0:
        raise ValueError(
            f"need batch_size >= 1, within_user >= 1, between_user >= 0; got {b}, {cfg.within_user}, {m}"
        )
    return resolved, notes


def _apply_targets(results: dict[str, Any], device: torch.device, known_gpu: bool) -> None:
    """Target, PASS/MISS (or n/a where the target is for another device) and MFU per row."""
    ms = results["measurements"]
    peak = results["device"]["peak_tflops"]
    step_rate = ms.get("full_step", {}).get("value")
    for name, row in ms.items():
        target = TARGETS.get(name)
        row["target"], row["status"] = None, "n/a"
        row["mfu"] = row["achieved_tflops"] / peak if peak and row.get("achieved_tflops") else None
        if target is None:
            continue
        applies = target["device"] in ("any", device.type)
        if "min" in target:
            row["target"] = {"op": ">=", "value": target["min"], "unit": target["unit"]}
            row["target_text"] = f">= {target['min']:,.0f} {target['unit']} (1 H100/H200)"
        elif "max" in target:
            row["target"] = {"op": "<=", "value": target["max"], "unit": target["unit"]}
            row["target_text"] = f"<= {target['max']}x (2-core CPU)"
        else:  # the loader: twice the step's rate, and twice the step target on a GPU
            floor = 2 * TARGETS["full_step"]["min"] if device.type == "cuda" else 0.0
            if step_rate is None and not floor:
                continue
            need = max(target["min_times_step"] * (step_rate or 0.0), floor)
            row["target"] = {"op": ">=", "value": need, "unit": target["unit"]}
            row["target_text"] = f">= 2x step = {need:,.0f} {target['unit']}"
        if not applies:
            row["target_text"] += " [other device]"
            continue
        op, goal = row["target"]["op"], row["target"]["value"]
        ok = row["value"] >= goal if op == ">=" else row["value"] <= goal
        row["status"] = "PASS" if ok else "MISS"
        if device.type == "cuda" and not known_gpu and target["device"] == "cuda":
            row["target_text"] += " [not an H100/H200]"


def run_bench(cfg: BenchConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-serialisable dict (see :func:`format_table`).

    Args:
        cfg: settings; ``None`` fields take the device's defaults (recorded under
            ``"settings"`` in the result).
        log: called with a line of progress per measurement (e.g. ``print``); silent if None.
    """
    from relcon.io import environment_info
    from relcon.models.encoder import resolve_precision
    from relcon.train.common import pick_device, scoring_dtype

    say = log or (lambda _line: None)
    device = pick_device(cfg.device)
    rcfg, notes = _resolve(cfg, device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        model = gpu_model(name)
        peaks = GPU_PEAK_TFLOPS.get(model or "")
        precision = "bf16" if resolve_precision(rcfg.precision, device) == "bf16" else "tf32"
        dev_info = {
            "type": "cuda",
            "name": name,
            "model": model or "unknown",
            "precision": precision,
            "peak_tflops": peaks[precision] if peaks else None,
            "peak_tflops_table": peaks or "unknown",
        }
    else:
        if scoring_dtype(device, rcfg.precision) is None:
            cpu_precision = "fp32"
        else:
            cpu_precision = "bf16 autocast (encoder and scoring)"
        dev_info = {
            "type": device.type,
            "name": _cpu_name() if device.type == "cpu" else str(device),
            "model": "unknown",
            "precision": cpu_precision,
            "peak_tflops": None,
            "peak_tflops_table": "unknown",
        }
    dev_info |= {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    say(f"relcon bench on {dev_info['name']} ({device})")
    started = time.perf_counter()
    bench = _Bench(rcfg, device, say)
    params = sum(p.numel() for p in bench.encoder.parameters())
    results: dict[str, Any] = {
        "format": "relcon-bench/1",
        "device": dev_info,
        "torch": torch.__version__,
        "environment": environment_info(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "settings": to_dict(rcfg),
        "derived": {
            "pool_segments_per_step": bench.b * (1 + bench.k),
            "pairs_scored_per_step": bench.b * (bench.k + bench.m),
            "encoder_parameters": params,
            "distance_parameters": sum(p.numel() for p in bench.distance.parameters()),
            "data": bench.data.description,
            "model_flops": bench.flops,
        },
        "notes": [
            *notes,
            "median over the timed iterations after warm-up; CUDA synchronised around each",
            "peak memory on the CPU: resident-set high-water mark of the main process "
            "(loader workers not counted); on CUDA: max allocated by PyTorch",
            "model FLOPs: FlopCounterMode (conv/matmul) on 2 samples, scaled linearly",
        ],
        "measurements": {},
    }
    ms = results["measurements"]
    for name in MEASUREMENTS:
        if name not in (rcfg.only or DEFAULT_MEASUREMENTS):
            continue
        say(f"  {_LABELS[name]} ...")
        t0 = time.perf_counter()
        out = getattr(bench, name)()
        if name == "full_step":
            ms.update(out)
        else:
            ms[name] = out
        say(f"  {_LABELS[name]}: {time.perf_counter() - t0:.1f} s")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    order = [n for n in _LABELS if n in ms]
    results["measurements"] = {n: ms[n] for n in order}
    if "loader" in ms and rcfg.num_workers:
        ms["loader"]["note"] = f"{rcfg.num_workers} workers"
    known = str(dev_info["model"]).startswith(("H100", "H200", "GH200"))
    _apply_targets(results, device, known)
    results["wall_seconds"] = time.perf_counter() - started
    if "load_average" in results and hasattr(os, "getloadavg"):
        results["load_average_end"] = list(os.getloadavg())
    return results


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------
def _si(v: float | None, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _bytes(v: int | None) -> str:
    if v is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024  # type: ignore[assignment]
    return "-"


def format_table(results: dict[str, Any]) -> str:
    """The results of :func:`run_bench` (or their JSON) as a plain-text table."""
    s = results["settings"]
    d = results["device"]
    der = results.get("derived", {})
    lines = [
        f"relcon bench: {d['name']} ({s['device']}, {d.get('model', 'unknown')}), "
        f"torch {results['torch']}, {d.get('torch_threads')} threads",
        f"B={s['batch_size']} anchors, K={s['within_user']} within-user, m={s['between_user']} "
        f"between-user; {der.get('pool_segments_per_step')} segments encoded and "
        f"{der.get('pairs_scored_per_step')} pairs scored per step; encoder {s['encoder']} "
        f"({_si(der.get('encoder_parameters'))} params); precision {d.get('precision')}; "
        f"scoring {'compiled' if s['compile'] else 'eager'}, encoder "
        f"{'compiled' if s.get('compile_encoder') else 'eager'}; {s['num_workers']} loader workers; "
        f"{s['steps']} timed iterations after {s['warmup']} warm-up",
        f"data: {der.get('data', '?')}",
        "",
    ]
    header = (
        "measurement",
        "value",
        "unit",
        "also",
        "s/iter",
        "peak mem",
        "TFLOP/s",
        "MFU",
        "target",
        "status",
    )
    rows = [header]
    for name, r in results["measurements"].items():
        also = ", ".join(f"{_si(v)} {u}" for u, v in r.get("rates", {}).items() if u != r["unit"])
        rows.append(
            (
                _LABELS.get(name, name),
                _si(r["value"]),
                r["unit"],
                also or "-",
                _si(r.get("seconds"), 3),
                _bytes(r.get("peak_memory_bytes")),
                _si(r.get("achieved_tflops"), 3),
                f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-",
                r.get("target_text", "-"),
                r.get("status", "n/a"),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                str(c).ljust(w) if j in (0, 2, 3, 8) else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    step = results["measurements"].get("full_step")
    if step and step.get("breakdown_s"):
        bd = step["breakdown_s"]
        total = sum(bd.values()) or 1.0
        parts = " | ".join(f"{k} {v:.3g} s ({100 * v / total:.0f}%)" for k, v in bd.items())
        lines += ["", f"full step, median per phase ({step.get('breakdown_source')}): {parts}"]
    for name in ("scoring", "full_step"):
        counts = results["measurements"].get(name, {}).get("scoring_counts")
        if counts:
            lines.append(
                f"{name}: {counts['pairs_redone']:,} of {counts['pairs']:,} scored pairs redone "
                "exactly (their sparsemax needed more than the compiled number of passes)"
            )
    lines += [""] + [f"note: {n}" for n in results.get("notes", [])]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# command line (wired into `relcon bench`; also `python -m relcon.apps.speed`)
# --------------------------------------------------------------------------------------------
def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The ``relcon bench`` flags: one per :class:`BenchConfig` field, plus ``--json``/``--quiet``."""
    from relcon.flags import add_flags

    add_flags(p, BenchConfig, skip=["distance_config"])
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run_and_print(cfg: BenchConfig, json_path: str | None = None, quiet: bool = False) -> int:
    """Run the measurements ``cfg`` asks for, print the table and optionally write the JSON."""
    from relcon.io import atomic_write_json

    results = run_bench(
        cfg, log=None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    )
    print(format_table(results))
    if json_path:
        atomic_write_json(json_path, results)
        print(f"\nwrote {json_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m relcon.apps.speed [flags]``: the same as ``relcon bench``."""
    from relcon.flags import resolve_config

    parser = argparse.ArgumentParser(
        prog="python -m relcon.apps.speed", description="Throughput and memory of RelCon's stages."
    )
    add_bench_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = resolve_config(BenchConfig, BenchConfig(), args)
        return run_and_print(cfg, json_path=args.json, quiet=args.quiet)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, ImportError) as e:
        print(f"relcon: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
