"""Turn a trained encoder run and its distance run into the model shipped inside the package.

    python scripts/export_model.py --encoder runs/wrist/relcon --distance runs/wrist/distance \
        --data-root ../shared/data --check-task tasks/wisdm_har6.npz \
        --command "relcon benchmark ..." --hardware "2-core CPU" --wall-time-s 1234

Writes ``--out`` (default ``src/relcon/assets/model``):

* ``encoder/`` and ``distance/``: ``model.safetensors`` in float16 (``--dtype float32`` to keep
  full precision) and ``model.json`` (architecture, training config, training users, versions);
* ``manifest.json``: per pretraining data set the folder, sensor position, licence, users,
  2.56 s segments and hours actually used (read again with the run's own data config), the
  held-out subjects left out, the training command, hardware and wall time, the package
  version and git commit, and the float16 check below.

The float16 check: with ``--check-task``, the task's windows of subjects the model never saw are
embedded with the float32 and the float16 weights; the script reports the largest relative
difference of the embeddings and the macro-F1 of one logistic-regression probe (trained on the
float32 embeddings of half the subjects) applied to both versions of the other half. It refuses
to write float16 weights whose probe score differs by more than ``--max-f1-change``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

import relcon
from relcon.config import DataConfig, from_dict
from relcon.data.datasets import load_segments
from relcon.data.datasets.heldout import HELD_OUT_SUBJECTS
from relcon.io import atomic_write_json, environment_info
from relcon.models.hub import load_model, save_model

#: Sensor position and licence of the data sets pretraining can read (see their SOURCE.txt).
SOURCES = {
    "wisdm_watch": ("wrist (smartwatch)", "CC BY 4.0"),
    "spsw_smartwatch": ("wrist (smartwatch)", "CC BY 4.0"),
    "hapt": ("waist (smartphone)", "UCI; README forbids commercial use"),
    "ipol_gait": ("lower back (IMU)", "AGPL-3.0 repository, no separate data licence"),
    "oxford_step_count": ("phone in hand/pocket/bag/armband", "CC BY 4.0"),
}


def data_manifest(data: DataConfig, root: str | None) -> list[dict]:
    """Users, segments and hours of each pretraining source, as the run read them."""
    rows = []
    for source in data.source.split("+"):
        cfg = DataConfig(
            source=source, root=root or data.root, users=data.users,
            exclude_users=list(data.exclude_users), exclude_held_out=data.exclude_held_out,
            stride_s=data.stride_s, block_seconds=data.block_seconds,
        )  # fmt: skip
        segs = load_segments(cfg)
        position, licence = SOURCES.get(source, ("unknown", "unknown"))
        rows.append({
            "source": source, "folder": f"shared/data/{source}", "position": position,
            "licence": licence, "users": len(np.unique(segs.user)),
            "segments": len(segs), "hours": round(len(segs) * data.stride_s / 3600, 2),
            "held_out_subjects_excluded": list(HELD_OUT_SUBJECTS.get(source, ())),
        })  # fmt: skip
    return rows


def fp16_check(encoder: torch.nn.Module, half: torch.nn.Module, task_path: str, users: set) -> dict:
    """Embeddings and a probe's macro-F1 with float32 versus float16 weights (unseen subjects)."""
    from relcon.data.tasks import load_task

    task = load_task(task_path)
    keep = ~np.isin(task.groups.astype(str), sorted(users))
    task = task.subset(np.flatnonzero(keep))
    subjects = np.unique(task.groups)
    rng = np.random.default_rng(0)
    fit = np.isin(task.groups, rng.permutation(subjects)[: len(subjects) // 2])
    z32 = encoder.embed(task.X)
    z16 = half.embed(task.X)
    rel = np.linalg.norm(z32 - z16, axis=1) / np.maximum(np.linalg.norm(z32, axis=1), 1e-12)
    scaler = StandardScaler().fit(z32[fit])
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(z32[fit]), task.y[fit])
    f1 = {
        name: float(f1_score(task.y[~fit], clf.predict(scaler.transform(z[~fit])), average="macro"))
        for name, z in (("float32", z32), ("float16", z16))
    }
    return {
        "task": task.name, "windows": len(task), "subjects": len(subjects),
        "max_relative_embedding_difference": float(rel.max()),
        "median_relative_embedding_difference": float(np.median(rel)),
        "probe_macro_f1": f1, "probe_macro_f1_change": abs(f1["float32"] - f1["float16"]),
    }  # fmt: skip


#: What an export writes into ``--out``: the only things it deletes there when it replaces it.
BUNDLE = {"encoder": {"model.safetensors", "model.json"},
          "distance": {"model.safetensors", "model.json"}, "manifest.json": None}  # fmt: skip


def check_replaceable(folder: Path) -> None:
    """Refuse to delete ``folder`` unless it holds only what an export writes."""
    if not folder.exists():
        return
    foreign = [] if folder.is_dir() else [folder]
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        inner = BUNDLE.get(entry.name, ())
        if inner is None and entry.is_file():
            continue
        if entry.is_dir() and inner:
            foreign += [f for f in sorted(entry.iterdir()) if f.name not in inner]
        else:
            foreign.append(entry)
    if foreign:
        listed = ", ".join(str(f) for f in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise SystemExit(
            f"refusing to replace {folder}: it holds files an export does not write ({listed}); "
            "choose another --out, or move them away"
        )


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", required=True, help="RelCon pretraining run folder")
    p.add_argument("--distance", required=True, help="motif distance run folder")
    p.add_argument("--out", default="src/relcon/assets/model")
    p.add_argument("--data-root", help="folder of the shared data sets (for the manifest)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    p.add_argument("--check-task", help="task .npz for the float16 check")
    p.add_argument("--max-f1-change", type=float, default=0.005)
    p.add_argument("--command", default="", help="the command that trained the model")
    p.add_argument("--hardware", default="", help="where it was trained")
    p.add_argument("--wall-time-s", type=float, help="training wall time")
    p.add_argument("--note", default="", help="free text for the manifest")
    args = p.parse_args(argv)
    out = Path(args.out)
    dtype = getattr(torch, args.dtype)

    encoder, enc_meta = load_model(args.encoder, kind="encoder")
    distance, dist_meta = load_model(args.distance, kind="distance")
    staging = out.with_name(out.name + ".tmp")
    check_replaceable(out)
    check_replaceable(staging)
    shutil.rmtree(staging, ignore_errors=True)
    extra = {"train_users": enc_meta.get("train_users", [])}
    run_config = dict(enc_meta.get("config", {}), distance="relcon:default (distance/)")
    save_model(staging / "encoder", encoder, "encoder", step=enc_meta["step"],
               run_config=run_config, extra=extra, dtype=dtype)  # fmt: skip
    save_model(staging / "distance", distance, "distance", step=dist_meta["step"],
               run_config=dist_meta.get("config", {}),
               extra={"train_users": dist_meta.get("train_users", [])}, dtype=dtype)  # fmt: skip

    check = None
    if args.check_task:
        half, _ = load_model(staging / "encoder", kind="encoder")
        check = fp16_check(encoder, half, args.check_task, set(extra["train_users"]))
        print(json.dumps(check, indent=2))
        if dtype == torch.float16 and check["probe_macro_f1_change"] > args.max_f1_change:
            shutil.rmtree(staging)
            raise SystemExit(
                f"float16 weights change the probe's macro-F1 by {check['probe_macro_f1_change']:.4f}"
                f" (> {args.max_f1_change}); export with --dtype float32"
            )

    data = from_dict(DataConfig, enc_meta["config"]["data"], "encoder data config")
    manifest = {
        "model": "RelCon encoder + motif distance (relcon.load(), relcon.load(kind='distance'))",
        "relcon_version": relcon.__version__,
        "git_commit": git_commit(),
        "weights_dtype": args.dtype,
        "encoder_parameters": sum(t.numel() for t in encoder.parameters()),
        "distance_parameters": sum(t.numel() for t in distance.parameters()),
        "encoder_steps": enc_meta["step"],
        "distance_steps": dist_meta["step"],
        "pretraining_data": data_manifest(data, args.data_root),
        "training_command": args.command,
        "hardware": args.hardware,
        "wall_time_s": args.wall_time_s,
        "float16_check": check,
        "note": args.note,
        "environment": environment_info(),
    }
    atomic_write_json(staging / "manifest.json", manifest)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    sizes = {f.relative_to(out).as_posix(): f.stat().st_size for f in sorted(out.rglob("*.*"))}
    print(f"wrote {out}: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
