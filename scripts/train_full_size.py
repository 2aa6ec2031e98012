"""Train full-size models (paper encoder, reference-size distance) within a wall-clock budget.

Made for one call on a lent GPU (``benchmarks/gpu_session.sh``), usable anywhere. From the
recordings packed by ``scripts/pack_recordings.py`` it cuts windows at ``--stride-s`` and trains,
in this order, as many of these as the deadline allows:

1. ``distance``: the motif distance at the reference's size (64 channels), the paper's version;
2. ``relcon``: the paper's encoder (~3.6M parameters) with RelCon, ranked by (1);
3. ``simclr``: the same encoder with SimCLR, the same anchors per step and the same steps;
4. ``oracle``: RelCon ranked by the label oracle (a diagnostic upper bound; never shipped);
5. ``distance_canonical`` and ``relcon_canonical``: the same with the orientation-free distance.

Every encoder run takes the same number of steps of ``--batch-size`` anchors (same anchor
budget), set from ``--anchors-per-s`` (the full-step rate measured by ``relcon bench`` in the
same call) so that the RelCon run takes about ``--relcon-seconds``; each run also stops at its
share of the deadline (``max_seconds``), which is then recorded. Weights are exported as float16
into ``--out`` (one folder per run with ``model.safetensors``, ``model.json``, ``metrics.csv``,
``config.toml``); the RelCon run also keeps float16 copies of its checkpoints (budget curve).

    python scripts/train_full_size.py --data .gpu/wrist.npz --out $OUT/models --deadline-s 300 \\
        --anchors-per-s 3000 --relcon-seconds 70
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pack_recordings import unpack_recordings

from relcon.config import (
    DataConfig,
    DistanceTrainConfig,
    EncoderConfig,
    MotifDistanceConfig,
    PretrainConfig,
)
from relcon.data.windowing import window_recordings
from relcon.models.hub import load_model, save_model
from relcon.train.baselines import pretrain_baseline
from relcon.train.distance import train_distance
from relcon.train.relcon import pretrain


def export(run: Path, kind: str, out: Path, extra: dict) -> None:
    """float16 copy of ``run``'s final model (+ its logs and config) into ``out``."""
    model, meta = load_model(run, kind=kind)
    out.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in meta.items() if k not in ("kind", "architecture", "step", "config")}
    save_model(
        out, model, kind, step=meta["step"], run_config=meta.get("config"),
        extra={**keep, **extra}, dtype=torch.float16,
    )  # fmt: skip
    for name in ("metrics.csv", "config.toml"):
        if (run / name).is_file():
            shutil.copy(run / name, out / name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="file written by scripts/pack_recordings.py")
    p.add_argument("--out", required=True, help="folder for the float16 exports")
    p.add_argument("--work", default="/tmp/relcon-train", help="run folders (full precision)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--deadline-s", type=float, required=True, help="stop everything by then")
    p.add_argument("--anchors-per-s", type=float, default=2000.0, help="measured full-step rate")
    p.add_argument("--distance-per-s", type=float, default=20000.0, help="segments/s, measured")
    p.add_argument("--relcon-seconds", type=float, default=60.0)
    p.add_argument("--distance-seconds", type=float, default=25.0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--within-user", type=int, default=20)
    p.add_argument("--between-user", type=int, default=63)
    p.add_argument("--distance-batch", type=int, default=512)
    p.add_argument("--stride-s", type=float, default=1.28)
    p.add_argument("--num-workers", type=int, default=4)
    p.add_argument("--small", action="store_true", help="tiny models (a CPU check of the script)")
    p.add_argument("--only", nargs="+", help="train only these runs (names above)")
    p.add_argument("--distance-run", help="use this trained distance instead of training one")
    p.add_argument("--steps", type=int, help="encoder steps (default: from --anchors-per-s)")
    p.add_argument("--long-steps", type=int, default=0,
                   help="also train relcon_long (compiled) and simclr_long for this many steps")  # fmt: skip
    a = p.parse_args()
    t0 = time.perf_counter()
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.json"
    log: dict = {"args": vars(a), "runs": {}}

    def remaining() -> float:
        return a.deadline_s - (time.perf_counter() - t0)

    def note(name: str, **kv) -> None:
        log["runs"].setdefault(name, {}).update(kv)
        log_path.write_text(json.dumps(log, indent=1))
        print(f"[{time.perf_counter() - t0:6.1f}s] {name}: {kv}", flush=True)

    recs, names = unpack_recordings(a.data)
    stride = round(a.stride_s * 100)
    segs = window_recordings(recs, stride=stride)
    log["data"] = {
        "recordings": len(recs), "users": len(set(segs.user)), "windows": len(segs),
        "stride_s": a.stride_s, "labelled_windows": int((segs.label >= 0).sum()),
        "label_names": {str(k): v for k, v in names.items()},
    }  # fmt: skip
    note("data", seconds=time.perf_counter() - t0, windows=len(segs))

    import numpy as np

    with np.load(a.data) as z:  # the data configuration the recordings were packed from
        packed = json.loads(str(z["data_config"]))
    data_cfg = DataConfig(**{**packed, "stride_s": a.stride_s, "block_seconds": 3600.0})
    encoder_cfg = EncoderConfig()
    dist_model = MotifDistanceConfig()
    if a.small:
        encoder_cfg = EncoderConfig(
            stage_blocks=(1, 1, 1), stage_filters=(16, 32, 64), stem_filters=16
        )
        dist_model = MotifDistanceConfig(channels=16, bottleneck=4)
    b = a.batch_size
    steps = a.steps or max(10, int(a.anchors_per_s * a.relcon_seconds / b))
    dist_steps = max(10, int(a.distance_per_s * a.distance_seconds / a.distance_batch))
    log["plan"] = {
        "encoder_steps": steps,
        "anchors_per_run": steps * b,
        "distance_steps": dist_steps,
    }
    print("plan", log["plan"], flush=True)
    wanted = set(a.only) if a.only else None

    def go(name: str) -> bool:
        return (wanted is None or name in wanted) and remaining() > 15

    def train_dist(name: str, orientation: str, budget: float) -> Path | None:
        if not go(name):
            return None
        cfg = DistanceTrainConfig(
            data=data_cfg, architecture=MotifDistanceConfig(**{**dist_model.__dict__, "orientation": orientation}),
            steps=dist_steps, batch_size=a.distance_batch, warmup_steps=max(1, dist_steps // 20),
            num_workers=a.num_workers, device=a.device, log_every=10,
            ckpt_every=10**9, max_seconds=min(budget, remaining() - 10),
        )  # fmt: skip
        t = time.perf_counter()
        run = train_distance(cfg, work / name, overwrite=True, segments=segs, progress=False)
        _, meta = load_model(run, kind="distance")
        note(name, seconds=time.perf_counter() - t, steps_done=meta["step"], steps=dist_steps)
        export(run, "distance", out / name, {"trained_on_gpu_session": True})
        return run

    def train_encoder(
        name: str, method: str, distance: Path | None, teacher: str, budget: float,
        n_steps: int = 0, compiled: bool = False,
    ):  # fmt: skip
        n_steps = n_steps or steps
        if not go(name) or (method in ("relcon", "oracle") and distance is None):
            return None
        ckpt_every = max(1, n_steps // 3)
        cfg = PretrainConfig(
            data=data_cfg, encoder=encoder_cfg, distance=str(distance or ""), steps=n_steps,
            batch_size=b, within_user=a.within_user, between_user=a.between_user,
            teacher=teacher, warmup_steps=max(1, n_steps // 20), num_workers=a.num_workers,
            compile=compiled, compile_encoder=compiled,
            device=a.device, log_every=10, ckpt_every=ckpt_every, keep_checkpoints=4,
            max_seconds=min(budget, remaining() - 10),
        )  # fmt: skip
        t = time.perf_counter()
        if method == "simclr":
            run = pretrain_baseline("simclr", cfg, work / name, overwrite=True, segments=segs,
                                    progress=False)  # fmt: skip
        else:
            run = pretrain(cfg, work / name, overwrite=True, segments=segs, progress=False)
        _, meta = load_model(run, kind="encoder")
        stopped = meta["step"] < n_steps
        note(name, seconds=time.perf_counter() - t, steps_done=meta["step"], steps=n_steps,
             anchors=meta["step"] * b, stopped_by_time=stopped)  # fmt: skip
        export(run, "encoder", out / name, {"anchors_seen": meta["step"] * b,
                                            "stopped_by_time": stopped})  # fmt: skip
        if name in ("relcon", "relcon_long"):  # budget curve: the intermediate checkpoints
            for ckpt in sorted((run / "checkpoints").glob("step-*")):
                if int(ckpt.name.split("-")[1]) < meta["step"]:
                    export(ckpt, "encoder", out / f"{name}_{ckpt.name}", {})
        return run

    slack = 2.5  # a run may take this much longer than planned before it is cut
    if a.distance_run:
        d_paper: Path | None = Path(a.distance_run)
    else:
        d_paper = train_dist("distance", "none", a.distance_seconds * slack)
    train_encoder("relcon", "relcon", d_paper, "distance", a.relcon_seconds * slack)
    train_encoder("simclr", "simclr", None, "distance", a.relcon_seconds * slack)
    train_encoder("oracle", "relcon", d_paper, "oracle", a.relcon_seconds * slack)
    d_canon = train_dist("distance_canonical", "canonical", a.distance_seconds * slack)
    train_encoder("relcon_canonical", "relcon", d_canon, "distance", a.relcon_seconds * slack)
    if a.long_steps:  # a larger budget: compiled RelCon, then SimCLR with the same anchors
        long_budget = remaining() - 60
        train_encoder("relcon_long", "relcon", d_paper, "distance", long_budget, a.long_steps, True)
        train_encoder("simclr_long", "simclr", None, "distance", remaining() - 12, a.long_steps)
    log["seconds"] = time.perf_counter() - t0
    log_path.write_text(json.dumps(log, indent=1))
    print(f"done in {log['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
