"""Benchmark: what the hand-crafted head of a fused model costs at prediction time.

A model kept by ``relcon finetune --probe linear_fixed --plus-handcrafted`` computes the 62
hand-crafted features of every window (NumPy, on the CPU, float64) beside the encoder's
embedding. This times :meth:`relcon.models.FinetunedModel.outputs` (what ``relcon predict``
calls) for the same architecture with and without that head, interleaved (plain, fused, plain,
fused, ...) in one process so both see the same machine load, and reports each one's median
windows per second and their ratio, with the load average before and after. Batch size and
precision are ``relcon predict``'s defaults (:class:`relcon.apps.batch.InferenceOptions`).

    python benchmarks/fused_predict_speed.py                     # full-size encoder, 4096 windows
    python benchmarks/fused_predict_speed.py --windows 1024 --repeats 3 --json out.json

The encoder has the full-size default architecture with random weights (the speed does not
depend on them), stage pooling (the few-label recipe's) and a 6-class head.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from relcon.apps.batch import InferenceOptions
from relcon.models import FinetunedModel, ResNet1DEncoder
from relcon.models.encoder import WINDOW


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    defaults = InferenceOptions()  # relcon predict's
    ap.add_argument("--batch-size", type=int, default=defaults.batch_size)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", default="", help="write the figures to this file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = ResNet1DEncoder().eval()
    models = {
        name: FinetunedModel(encoder, task_type="classification", classes=list(range(6)),
                             pooling="stages", handcrafted=fused).eval()
        for name, fused in (("plain", False), ("fused", True))
    }  # fmt: skip
    x = np.random.default_rng(0).normal(0, 0.3, (args.windows, WINDOW, 3)).astype(np.float32)
    x[:, :, 2] += 1.0  # gravity on one axis
    load_before = os.getloadavg()
    for m in models.values():  # warm-up
        m.outputs(x[: args.batch_size], args.batch_size, defaults.precision)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, m in models.items():
            t0 = time.perf_counter()
            m.outputs(x, args.batch_size, defaults.precision)
            seconds[name].append(time.perf_counter() - t0)
    rates = {name: args.windows / statistics.median(s) for name, s in seconds.items()}
    result = {
        "windows_per_s": rates,
        "fused_over_plain_time": statistics.median(seconds["fused"])
        / statistics.median(seconds["plain"]),
        "seconds": seconds,
        "windows": args.windows,
        "batch_size": args.batch_size,
        "precision": defaults.precision,
        "threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    for name, rate in rates.items():
        print(f"{name:6} {rate:8.0f} windows/s (median of {args.repeats})")
    print(f"fused / plain time: {result['fused_over_plain_time']:.2f}x; load average "
          f"{load_before[0]:.2f} before, {result['load_average_after'][0]:.2f} after; "
          f"{result['threads']} torch threads")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
