"""bf16 autocast of the encoder during pretraining on a CPU with native bf16: speed and fidelity.

Two measurements (issue 14 point 4), each side by side in one process:

``step``: anchors/s of the pretraining step -- :func:`relcon.train.steps.relcon_step`, the function
``relcon pretrain`` runs -- with the encoder in fp32 and with the encoder's forward and backward
under bf16 autocast (``speed_settings(cpu, "fp32")`` against ``"bf16"``; the candidate scoring is
bf16 in both, as ``precision = "auto"`` does on such a CPU). The two precisions alternate
step by step (fp32, bf16, fp32, ...) on copies of the same encoder and the same batches, so both
see the same machine load; the median step time of each is reported, with the ratio, the load
average before and after, and the CPU model. Encoders: the small one of
``configs/wrist_pretrain.toml`` (141k parameters) and the full-size one (3.6M), at the recipe's
``B=16, K=10, m=15`` unless ``--batch-size``/``--within-user`` say otherwise.

``train``: two short pretraining runs from the same seed, identical but for ``precision``
(``"fp32"``: encoder and scoring in fp32; ``"bf16"``); prints
their loss trajectories side by side (the runs' ``metrics.csv``) and leaves the run folders for a
matched-subject linear probe (``relcon evaluate --model RUN --task T.npz``).

::

    python benchmarks/cpu_bf16.py step --distance runs/wrist/distance --data windows.npz \\
        --steps 6 --json benchmarks/results/cpu-bf16-step.json
    python benchmarks/cpu_bf16.py train --distance runs/wrist/distance --data windows.npz \\
        --steps 300 --out /tmp/bf16-runs
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _segments(data: str | None, seed: int):
    from relcon.apps.speed_stages import synthetic_segments
    from relcon.config import DataConfig
    from relcon.data.datasets import load_segments

    if data:
        return load_segments(DataConfig(source=data)), data
    return synthetic_segments(64, 96, seed=seed), "synthetic (64 users x 96 windows)"


def step_speed(args: argparse.Namespace) -> dict:
    import torch

    from relcon.config import EncoderConfig, MotifDistanceConfig, PretrainConfig
    from relcon.data.loader import candidate_batches
    from relcon.data.sampling import CandidateSampler
    from relcon.models.distance import MotifDistance, set_sparsemax_backend
    from relcon.models.encoder import ResNet1DEncoder, cpu_has_bf16
    from relcon.models.hub import load_model
    from relcon.train.common import StepContext, scoring_dtype, speed_settings
    from relcon.train.steps import CandidatePool, relcon_step

    if not cpu_has_bf16():
        print(
            "note: this CPU has no native bf16; bf16 autocast is emulated (slow)", file=sys.stderr
        )
    torch.manual_seed(args.seed)
    set_sparsemax_backend("compiled" if args.compile else "eager")
    segs, data = _segments(args.data, args.seed)
    cpu = torch.device("cpu")
    if args.distance:
        distance, _ = load_model(args.distance, kind="distance", device=cpu)
    else:
        distance = MotifDistance.from_config(MotifDistanceConfig(channels=32))
    distance.eval().requires_grad_(False)
    b, k = args.batch_size, args.within_user
    pool = CandidatePool(b, k, None, cpu)
    sampler = CandidateSampler(segs.user, segs.time_block(3600.0), b, k, seed=args.seed)
    pc = PretrainConfig()
    encoders = {
        "small": EncoderConfig(
            stem_filters=32, stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128)
        ),
        "full": EncoderConfig(),
    }
    load0 = os.getloadavg()
    result: dict = {
        "cpu": _cpu_name(),
        "cpu_has_bf16": cpu_has_bf16(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": data,
        "batch": {"B": b, "K": k, "m": b - 1, "windows_encoded": pool.size},
        "load_average_start": load0,
        "encoders": {},
    }
    for name in args.encoders:
        base = ResNet1DEncoder(encoders[name])
        ctxs, loaders = {}, {}
        for precision in ("fp32", "bf16"):
            enc = copy.deepcopy(base).train()
            opt = torch.optim.AdamW(enc.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
            ctxs[precision] = StepContext(
                enc, list(enc.parameters()), opt, pc.grad_clip,
                autocast=speed_settings(cpu, precision), device=cpu,
            )  # fmt: skip
            loaders[precision] = candidate_batches(segs.x, sampler)  # the same batches for both
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        losses: dict[str, list[float]] = {"fp32": [], "bf16": []}
        phases: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
        for i in range(args.warmup + args.steps):
            for precision in ("fp32", "bf16"):
                marks: dict[str, float] = {}
                last = [time.perf_counter()]

                def mark(phase: str, marks=marks, last=last) -> None:
                    now = time.perf_counter()
                    marks[phase] = marks.get(phase, 0.0) + now - last[0]
                    last[0] = now

                t0 = last[0]
                out = relcon_step(
                    ctxs[precision], loaders[precision], pool, distance, tau=pc.tau,
                    score_dtype=scoring_dtype(cpu, True), marks=mark,
                )  # fmt: skip
                loss = out.loss.item()
                if i >= args.warmup:
                    times[precision].append(time.perf_counter() - t0)
                    losses[precision].append(loss)
                    phases[precision].append(marks)
        med = {p: statistics.median(t) for p, t in times.items()}
        phase_med = {
            p: {k: statistics.median(row[k] for row in rows) for k in rows[0]}
            for p, rows in phases.items()
        }
        result["encoders"][name] = {
            "parameters": sum(p.numel() for p in base.parameters()),
            "seconds_all": times,
            "median_s": med,
            "anchors_per_s": {p: b / t for p, t in med.items()},
            "speedup_bf16_over_fp32": med["fp32"] / med["bf16"],
            "losses": losses,
            "median_phase_s": phase_med,
        }
        print(
            f"{name:5s} encoder ({result['encoders'][name]['parameters']:,} params): "
            f"fp32 {b / med['fp32']:.1f} anchors/s, bf16 {b / med['bf16']:.1f} anchors/s, "
            f"ratio {med['fp32'] / med['bf16']:.2f}x (median of {args.steps} alternating steps)"
        )
        for p, row in phase_med.items():
            print(f"      {p}: " + ", ".join(f"{k} {v:.2f} s" for k, v in row.items()))
    result["load_average_end"] = os.getloadavg()
    print(
        f"CPU {result['cpu']} (native bf16: {result['cpu_has_bf16']}), "
        f"{result['threads']} threads, torch {result['torch']}; load average "
        f"{load0[0]:.2f} at start, {result['load_average_end'][0]:.2f} at end"
    )
    return result


def short_runs(args: argparse.Namespace) -> dict:
    from relcon.config import DataConfig, EncoderConfig, PretrainConfig
    from relcon.train.relcon import pretrain

    out = Path(args.out)
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = PretrainConfig(
            data=DataConfig(source=args.data),
            encoder=EncoderConfig(
                stem_filters=32, stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128)
            ),
            distance=args.distance, steps=args.steps, batch_size=args.batch_size,
            within_user=args.within_user, warmup_steps=20, compile=args.compile, log_every=10,
            ckpt_every=max(args.steps, 1), seed=args.seed, device="cpu", precision=precision,
        )  # fmt: skip
        t0 = time.perf_counter()
        run = pretrain(cfg, out / precision, resume=True, progress=False)
        with (run / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
        runs[precision] = {
            "run": str(run),
            "seconds": time.perf_counter() - t0,
            "loss": {int(r["step"]): float(r["loss"]) for r in rows},
        }
    steps = sorted(runs["fp32"]["loss"])
    print("step   loss fp32   loss bf16   difference")
    for s in steps:
        a, b = runs["fp32"]["loss"][s], runs["bf16"]["loss"].get(s, float("nan"))
        print(f"{s:5d}   {a:9.3f}   {b:9.3f}   {b - a:+.3f}")
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("step", "train"))
    p.add_argument("--distance", default="", help="trained distance (default: random, 32 ch)")
    p.add_argument("--data", default="", help="windows .npz or a DataConfig source")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--within-user", type=int, default=10)
    p.add_argument("--steps", type=int, default=6, help="timed steps per precision / run steps")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--encoders", nargs="+", default=["small", "full"], choices=["small", "full"])
    p.add_argument("--compile", action="store_true", help="compiled sparsemax (as the recipe)")
    p.add_argument("--out", default="/tmp/relcon-cpu-bf16", help="train: run folders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    result = step_speed(args) if args.what == "step" else short_runs(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
