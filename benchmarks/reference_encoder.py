"""Full-size encoder inference on the CPU: the public reference's fp32 encoder next to ours.

Issue 13's target: full-size encoder (3.6M parameters, batch 512) inference at least 2x the
reference's fp32 encoder, on the same machine in the same run. This script builds, in one
process:

* the reference's ResNet1D -- through its own ``import_net`` and its ``RelCon_expconfigs
  ["25_3_8_relcon"]`` parameters, imported from a checkout by :func:`reference_step.load_reference`
  (nothing of it is copied here) -- run as the reference runs it: ``net.eval()``, ``torch.no_grad()``,
  fp32, a ``(512, 3, 256)`` batch per call;
* our :class:`relcon.models.ResNet1DEncoder` at the same size, with the reference's weights
  copied in (the two compute the same function: the script checks it), run through
  :meth:`~relcon.models.ResNet1DEncoder.embed` -- what ``relcon embed``, ``relcon evaluate`` and
  the Python API call -- in fp32 and in bf16 autocast (``precision="fp32"`` / ``"bf16"``; ``"auto"``
  picks bf16 on a CPU with native bf16), and with ``--compile`` also ``torch.compile``'d.

The variants alternate call by call (reference, ours fp32, ours bf16, ..., reference, ...), so all
see the same machine load; each timed call embeds ``--batches`` batches of 512 windows; the median
over ``--reps`` calls is reported, with windows/s, the ratio to the reference, the load average
before and after and the CPU model. The windows are synthetic accelerometry-like float32 data
(speed does not depend on the values).

Fidelity (``--weights RUN --task T.npz ...``): with trained weights, the largest relative change
of an embedding, ``max_i |z16_i - z32_i| / max_i |z32_i|`` per window (max over windows), and its
median, on every window of each task.

::

    git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/ref
    python benchmarks/reference_encoder.py --reference /tmp/ref --batches 2 --reps 5 \\
        --weights runs/gpu/relcon_long --task runs/tasks/wisdm_har6.npz runs/tasks/spsw_har5.npz \\
        --json benchmarks/results/cpu-reference-encoder.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOWS_PER_BATCH = 512


def build_reference(ref: Path):
    """The reference's encoder (random weights, its own constructor), then hand ``import relcon``
    back to ours: the reference's modules are dropped from ``sys.modules`` once the net exists."""
    sys.path.insert(0, str(HERE))
    import reference_step

    saved_path = list(sys.path)
    ours = {n: m for n, m in sys.modules.items() if n == "relcon" or n.startswith("relcon.")}
    loaded = reference_step.load_reference(ref)
    m = loaded["modules"]
    net = m["imports"].import_net(
        m["relcon_configs"].allrelcon_expconfigs["25_3_8_relcon"].net_config
    )
    for name in [n for n in sys.modules if n == "relcon" or n.startswith("relcon.")]:
        del sys.modules[name]
    sys.modules.update(ours)
    sys.path[:] = saved_path
    return net, loaded["info"]


def copy_weights(reference_net, encoder) -> None:
    """Our encoder's state, parameter for parameter, from the reference's (same layer order)."""
    import torch

    src = list(reference_net.state_dict().items())
    dst = list(encoder.state_dict().items())
    if len(src) != len(dst):
        raise SystemExit(f"{len(src)} reference tensors vs {len(dst)} of ours")
    state = {}
    for (ks, vs), (kd, vd) in zip(src, dst, strict=True):
        if vs.shape != vd.shape:
            raise SystemExit(f"shape mismatch: {ks} {tuple(vs.shape)} vs {kd} {tuple(vd.shape)}")
        state[kd] = vs.clone()
    encoder.load_state_dict(state)
    with torch.no_grad():
        x = torch.randn(4, 256, 3)  # ours takes (B, T, 3); the reference (B, 3, T)
        reference_net.eval(), encoder.eval()
        diff = (reference_net(x.transpose(1, 2)) - encoder(x)).abs().max().item()
    if diff > 1e-4:
        raise SystemExit(f"the two encoders differ (max |diff| {diff:.2e}) with the same weights")
    return diff


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def speed(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from relcon.apps.speed_stages import synthetic_segments
    from relcon.models.encoder import ResNet1DEncoder, cpu_has_bf16

    torch.manual_seed(args.seed)
    ref_net, ref_info = build_reference(Path(args.reference))
    ref_net.eval()
    ours = ResNet1DEncoder()
    same = copy_weights(ref_net, ours)
    n = args.batches * WINDOWS_PER_BATCH
    x = synthetic_segments(max(1, n // 64 + 1), 64, seed=args.seed).x[:n]  # (n, 256, 3)
    x_ref = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))  # the reference's layout

    def reference() -> None:
        with torch.no_grad():
            for s in range(0, n, WINDOWS_PER_BATCH):
                ref_net(x_ref[s : s + WINDOWS_PER_BATCH])

    variants = {
        "reference fp32": reference,
        "ours fp32": lambda: ours.embed(x, batch_size=WINDOWS_PER_BATCH, precision="fp32"),
        "ours bf16": lambda: ours.embed(x, batch_size=WINDOWS_PER_BATCH, precision="bf16"),
    }
    if args.compile:
        compiled = torch.compile(ours)

        def run_compiled(precision: str) -> None:
            ctx = (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if precision == "bf16"
                else torch.autocast("cpu", enabled=False)
            )
            with torch.no_grad(), ctx:
                for s in range(0, n, WINDOWS_PER_BATCH):
                    xb = torch.from_numpy(x[s : s + WINDOWS_PER_BATCH])
                    compiled(xb).float().numpy()

        ours.eval()
        variants["ours fp32 compiled"] = lambda: run_compiled("fp32")
        variants["ours bf16 compiled"] = lambda: run_compiled("bf16")
    load0 = os.getloadavg()
    for fn in variants.values():  # warm-up (and compilation)
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.reps):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    load1 = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["reference fp32"]
    rows = {
        k: {
            "median_s": t,
            "windows_per_s": n / t,
            "times_reference": base / t,
            "seconds_all": times[k],
        }
        for k, t in med.items()
    }
    print(
        f"full-size encoder ({sum(p.numel() for p in ours.parameters()):,} params), batch "
        f"{WINDOWS_PER_BATCH}, {n} windows per call, median of {args.reps} alternating calls:"
    )
    for k, r in rows.items():
        print(
            f"  {k:20s} {r['windows_per_s']:8.0f} windows/s   {r['times_reference']:.2f}x reference"
        )
    print(
        f"CPU {_cpu_name()} (native bf16: {cpu_has_bf16()}), {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; load average {load0[0]:.2f} at start, {load1[0]:.2f} at end"
    )
    return {
        "cpu": _cpu_name(),
        "cpu_has_bf16": cpu_has_bf16(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "windows_per_call": n,
        "batch_size": WINDOWS_PER_BATCH,
        "reference": ref_info,
        "max_abs_diff_same_weights": same,
        "load_average_start": load0,
        "load_average_end": load1,
        "variants": rows,
    }


def fidelity(args: argparse.Namespace) -> dict:
    """bf16 vs fp32 embeddings of every window of each task, with trained weights."""
    import numpy as np

    from relcon.data.tasks import load_task
    from relcon.models.hub import load_model

    encoder, _ = load_model(args.weights, kind="encoder")
    out = {"weights": args.weights, "tasks": {}}
    for path in args.task:
        task = load_task(path)
        z32 = encoder.embed(task.X, precision="fp32", allow_longer=True)
        z16 = encoder.embed(task.X, precision="bf16", allow_longer=True)
        rel = np.abs(z16 - z32).max(axis=1) / np.maximum(np.abs(z32).max(axis=1), 1e-12)
        cos = (z16 * z32).sum(1) / (np.linalg.norm(z16, axis=1) * np.linalg.norm(z32, axis=1))
        out["tasks"][Path(path).stem] = {
            "windows": len(z32),
            "max_relative_change": float(rel.max()),
            "median_relative_change": float(np.median(rel)),
            "min_cosine": float(cos.min()),
        }
        print(
            f"{Path(path).stem}: {len(z32)} windows, relative embedding change bf16 vs fp32 "
            f"max {rel.max():.4f}, median {np.median(rel):.4f}; min cosine {cos.min():.6f}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, help="checkout of maxxu05/relcon")
    p.add_argument("--batches", type=int, default=2, help="batches of 512 per timed call")
    p.add_argument("--reps", type=int, default=5, help="timed calls per variant")
    p.add_argument("--compile", action="store_true", help="also torch.compile'd (ours)")
    p.add_argument("--weights", help="trained encoder for the fidelity check")
    p.add_argument("--task", nargs="*", default=[], help="task .npz files for the fidelity check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    result = {"speed": speed(args)}
    if args.weights and args.task:
        result["fidelity"] = fidelity(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
