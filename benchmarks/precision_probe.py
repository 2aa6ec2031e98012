"""Does bf16 inference change what a linear probe reads off the embeddings?

``relcon evaluate``'s matched-subject linear probe (:func:`relcon.eval.harness.evaluate`, the
same folds, subjects and probe) on each task, once with the encoder embedding in fp32 and once in
bf16 autocast (:meth:`relcon.models.ResNet1DEncoder.embed` ``precision=``), for each encoder given.
Prints macro-F1 (mean +- std over folds) side by side, their difference, and the largest
per-fold difference. ``--noise EPS ...`` adds, as the probe's own sensitivity floor, runs on the
fp32 embeddings times ``1 + EPS * N(0, 1)`` (independently per value, fixed seed).

::

    python benchmarks/precision_probe.py --checkpoint default runs/gpu/relcon_long \\
        --task runs/tasks/wisdm_har6.npz runs/tasks/spsw_har5.npz --out /tmp/probe \\
        --json benchmarks/results/cpu-bf16-probe.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=["default"], help="encoders to probe")
    p.add_argument("--task", nargs="+", required=True, help="task .npz files")
    p.add_argument("--out", default="/tmp/relcon-precision-probe", help="evaluation folders")
    p.add_argument("--noise", type=float, nargs="*", default=[], help="relative noise levels")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    import numpy as np

    from relcon.config import EvalConfig
    from relcon.eval.harness import evaluate
    from relcon.models.encoder import ResNet1DEncoder

    embed = ResNet1DEncoder.embed
    out: dict = {}
    try:
        for ckpt in args.checkpoint:
            for task in args.task:
                scores = {}
                for precision in ("fp32", "bf16", *(f"noise {e:g}" for e in args.noise)):
                    if precision.startswith("noise"):
                        eps = float(precision.split()[1])

                        def noisy(self, *a, _eps=eps, **kw):
                            z = embed(self, *a, precision="fp32", **kw)
                            rng = np.random.default_rng(0)
                            return z * (1 + _eps * rng.standard_normal(z.shape, dtype=np.float32))

                        ResNet1DEncoder.embed = noisy
                    else:
                        ResNet1DEncoder.embed = functools.partialmethod(embed, precision=precision)
                    name = precision.replace(" ", "")
                    folder = Path(args.out) / f"{Path(ckpt).name}-{Path(task).stem}-{name}"
                    cfg = EvalConfig(task=task, checkpoint=ckpt, method="encoder", device="cpu")
                    res = evaluate(cfg, folder, overwrite=True, progress=False)
                    row = next(r for r in res["rows"] if r["metric"] == "macro_f1")
                    scores[precision] = row
                a, b = scores["fp32"], scores["bf16"]
                fold_diff = max(abs(x - y) for x, y in zip(a["values"], b["values"], strict=True))
                out[f"{ckpt} / {Path(task).stem}"] = {
                    **scores,
                    "mean_difference": b["mean"] - a["mean"],
                    "max_fold_difference": fold_diff,
                }
                for name, row in scores.items():
                    if name.startswith("noise"):
                        print(
                            f"  fp32 x (1 + {name[6:]} N(0,1)): macro-F1 {row['mean']:.4f} "
                            f"({row['mean'] - a['mean']:+.4f})"
                        )
                print(
                    f"{ckpt} on {Path(task).stem}: macro-F1 fp32 {a['mean']:.4f} +- {a['std']:.4f}, "
                    f"bf16 {b['mean']:.4f} +- {b['std']:.4f} (difference {b['mean'] - a['mean']:+.4f}; "
                    f"largest per-fold difference {fold_diff:.4f}; {a['n']} folds)",
                    flush=True,
                )
    finally:
        ResNet1DEncoder.embed = embed
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
