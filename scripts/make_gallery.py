"""Example pictures of :mod:`relcon.apps.plots` from the bundled WISDM demo data, for ``docs/gallery/``.

Writes into ``--out`` (default ``docs/gallery``):

* ``recording_trace.png`` - one held-out user's six activities, 3 minutes each, back to back,
  with the 2.56 s windows coloured by activity (and by a fine-tuned model's predictions with
  ``--finetuned``);
* ``embedding_map.png`` / ``embedding_map_users.png`` - t-SNE maps of held-out users' window
  embeddings coloured by activity / by user (a random-init encoder unless ``--model``);
* ``distance_ranking.png`` - a walking anchor and 30 windows of the same user ranked by the
  motif distance (trained briefly here unless ``--distance``);
* ``README.md`` - the captions, with every setting that made the pictures.

The held-out users are those of ``relcon demo`` (the 46 users shuffled with the seed; the first
26 are the pretraining users) or, with ``--model``, the demo users that model was not trained on. Usage::

    python scripts/make_gallery.py [--out docs/gallery] [--model ENCODER] [--distance RUN]
        [--finetuned MODEL] [--distance-steps 300] [--max-points 2500] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from relcon.apps import plots
from relcon.apps.demo import demo_config
from relcon.config import DataConfig, DistanceTrainConfig
from relcon.data.datasets import load_demo
from relcon.data.recording import Recording
from relcon.data.windowing import Segments, window_recordings
from relcon.io import atomic_write_text
from relcon.models.distance import MotifDistance, MotifDistanceConfig
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import load_model

ACTIVITY_SECONDS = 180.0
CANDIDATES_PER_ACTIVITY = 5
DISTANCE_USERS = 6


def split_users(segs: Segments, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``relcon demo``'s split: (pretraining users, held-out users), both sorted."""
    users = np.unique(segs.user)
    n_pre = demo_config().pretrain_users
    shuffled = np.random.default_rng(seed).permutation(users)
    return np.sort(shuffled[:n_pre]), np.sort(shuffled[n_pre:])


def back_to_back(recs: list[Recording], user: str, seconds: float) -> Recording:
    """The first ``seconds`` of each of ``user``'s activities, concatenated in code order."""
    mine = sorted((r for r in recs if r.user == user), key=lambda r: (int(r.labels[0]), r.start_s))
    if not mine:
        raise ValueError(f"user {user!r} is not in the demo data")
    first: dict[int, Recording] = {}
    for r in mine:
        first.setdefault(int(r.labels[0]), r)
    n = round(seconds * mine[0].fs)
    parts = [first[c] for c in sorted(first)]
    return Recording(
        user=user,
        recording=f"{user}: {len(parts)} activities, {seconds / 60:g} min each, back to back",
        x=np.concatenate([p.x[:n] for p in parts]),
        fs=mine[0].fs,
        start_s=0.0,
        labels=np.concatenate([p.labels[:n] for p in parts]),
        label_names=mine[0].label_names,
        source=mine[0].source,
    )


def describe_distance(meta: dict, users_note: str = "") -> str:
    """One line on a motif distance run, from its ``model.json``."""
    cfg = meta.get("config", {})
    users = meta.get("train_users", [])
    short = ", ".join(str(u).rsplit(":", 1)[-1] for u in users)
    return (
        f"motif distance ({meta['architecture']['channels']} channels) trained for "
        f"{meta.get('step', '?')} steps (batch {cfg.get('batch_size', '?')}) on the windows of "
        f"{len(users)} users{f' ({short})' if short else ''}{users_note}"
    )


def quick_distance(
    segs: Segments, users: np.ndarray, steps: int, seed: int, run_dir: Path
) -> tuple[MotifDistance, dict]:
    """A small motif distance trained for ``steps`` steps on ``users``' windows.

    ``run_dir`` is reused when it already holds a model trained with the same recipe.
    """
    from relcon.train.distance import train_distance

    if (run_dir / "model.json").is_file():
        model, meta = load_model(run_dir, kind="distance")
        cfg = meta.get("config", {})
        same = (
            meta.get("step") == steps
            and cfg.get("seed") == seed
            and sorted(meta.get("train_users", [])) == sorted(str(u) for u in users)
        )
        if same:
            print(f"reusing the motif distance in {run_dir}")
            return model, meta
    cfg = DistanceTrainConfig(
        data=DataConfig(source="demo"),
        architecture=MotifDistanceConfig(channels=32, bottleneck=4),
        steps=steps,
        batch_size=32,
        lr=1e-3,
        warmup_steps=min(20, steps // 5),
        log_every=max(1, steps // 10),
        ckpt_every=steps,
        compile=True,
        seed=seed,
    )
    sub = segs.subset(np.isin(segs.user, users))
    train_distance(cfg, run_dir, segments=sub, progress=True, overwrite=True)
    return load_model(run_dir, kind="distance")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="docs/gallery", help="output folder (default: docs/gallery)")
    p.add_argument("--model", help="encoder checkpoint for the maps (default: random init)")
    p.add_argument("--distance", help="motif distance run folder (default: train one briefly)")
    p.add_argument("--finetuned", help="fine-tuned classifier: adds a 'predicted' band")
    p.add_argument(
        "--head-epochs",
        type=int,
        default=0,
        help="with --model and no --finetuned: train a linear head on the frozen encoder for "
        "this many epochs on the demo windows of the users the model was trained on, and show "
        "its predictions on the trace (0: no head)",
    )
    p.add_argument("--user", help="held-out user for the trace and the ranking (default: first)")
    p.add_argument("--distance-steps", type=int, default=300)
    p.add_argument(
        "--distance-dir",
        help="where to train the quick motif distance (default: a temporary folder); reused "
        "on the next run if it holds one trained with the same steps, seed and users",
    )
    p.add_argument("--max-points", type=int, default=2500, help="windows on the maps")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    recs = load_demo()
    segs = window_recordings(recs)
    pre_users, held_users = split_users(segs, args.seed)
    held_text = f"the held-out users of `relcon demo` (seed {args.seed})"
    if args.model:  # show only users the model was never trained on
        encoder, enc_meta = load_model(args.model, kind="encoder")
        seen = set(enc_meta.get("train_users", []))
        if seen:
            held_users = np.array([u for u in np.unique(segs.user) if u not in seen])
            held_text = f"the demo users `{args.model}` was not trained on"
    user = held_users[0] if args.user is None else next(
        (u for u in held_users if u == args.user or u.rsplit(":", 1)[-1] == args.user), None
    )  # fmt: skip
    if user is None:
        raise SystemExit(f"--user {args.user} is not a held-out user: {list(held_users)}")
    short = user.rsplit(":", 1)[-1]
    captions: list[str] = []

    # 1. the trace ---------------------------------------------------------------------------
    classifier, head_text = args.finetuned, f"`{args.finetuned}`"
    if args.model and not args.finetuned and args.head_epochs > 0:
        from relcon.config import FinetuneConfig
        from relcon.eval.finetune import finetune

        seen_idx = np.flatnonzero(~np.isin(segs.user, held_users) & (segs.label >= 0))
        classifier = finetune(
            segs.x[seen_idx], segs.label[seen_idx], segs.user[seen_idx],
            task_type="classification", n_classes=len(segs.label_names),
            encoder=encoder,
            cfg=FinetuneConfig(freeze_encoder=True, epochs=args.head_epochs, seed=args.seed),
        )  # fmt: skip
        classifier.info["label_names"] = list(segs.label_names)
        head_text = (
            f"a linear head trained for {args.head_epochs} epochs on the frozen encoder, on "
            f"the {len(seen_idx)} demo windows of the users the encoder was trained on"
        )
    rec = back_to_back(recs, user, ACTIVITY_SECONDS)
    path = plots.plot_recording(rec, out / "recording_trace.png", model=classifier)
    captions.append(
        f"![trace]({path.name})\n\n**{path.name}** - held-out WISDM user {short}, wrist "
        f"accelerometer: the first {ACTIVITY_SECONDS / 60:g} minutes of each of the six demo "
        "activities, shown back to back (WISDM recorded them separately; the dotted lines mark "
        "the joins). Rows: x, y, z and |a| in g, each drawn as the min/max envelope of about "
        "one bin per pixel, so no sample is dropped. The band colours each 2.56 s model window "
        "by its activity label"
        + (f" and, above it, by the predictions of {head_text}." if classifier is not None else ".")
    )
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")

    # 2. embedding maps ----------------------------------------------------------------------
    if args.model:
        enc_text = f"the encoder in `{args.model}`"
    else:
        torch.manual_seed(args.seed)
        encoder = ResNet1DEncoder().eval()
        enc_text = (
            "a randomly initialised RelCon encoder (ResNet, 3.6M parameters, seed "
            f"{args.seed}; no training) - a baseline until the shipped model replaces it"
        )
    held = np.flatnonzero(np.isin(segs.user, held_users) & (segs.label >= 0))
    pick = held[plots.sample_indices(len(held), args.max_points, args.seed)]
    sample = (
        f"{len(pick)} of the {len(held)} windows of the {len(held_users)} held-out users "
        f"(uniform random sample without replacement, seed {args.seed})"
    )
    map_note = (
        f"{len(pick)} of the {len(held)} windows of the {len(held_users)} held-out users "
        f"(uniform random, seed {args.seed}); encoder: "
        + (f"{args.model}" if args.model else "randomly initialised, untrained")
    )
    emb = encoder.embed(segs.x[pick], progress=True)
    for color_by, name in (("label", "embedding_map.png"), ("user", "embedding_map_users.png")):
        path = plots.plot_embedding_map(
            emb, segs.label[pick], segs.user[pick], out=out / name, color_by=color_by,
            label_names=segs.label_names, seed=args.seed, note=map_note,
        )  # fmt: skip
        what = "activity" if color_by == "label" else "user"
        captions.append(
            f"![map]({path.name})\n\n**{path.name}** - t-SNE of the embeddings of {sample}, "
            f"from {enc_text}; coloured by {what}."
        )
        print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")

    # 3. distance ranking --------------------------------------------------------------------
    if args.distance:
        distance, meta = load_model(args.distance, kind="distance")
        dist_text = describe_distance(meta) + f", from `{args.distance}`"
        fig_note = f"motif distance from {args.distance} ({meta.get('step', '?')} training steps)"
    else:
        dist_users = pre_users[:DISTANCE_USERS]
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(args.distance_dir or Path(tmp) / "distance")
            distance, meta = quick_distance(
                segs, dist_users, args.distance_steps, args.seed, run_dir
            )
        dist_text = (
            describe_distance(meta, f", the first {DISTANCE_USERS} pretraining users")
            + ", by this script (not the shipped model)"
        )
        fig_note = (
            f"motif distance trained briefly ({meta.get('step')} steps, "
            f"{len(meta.get('train_users', []))} users) by scripts/make_gallery.py; "
            "not the shipped model"
        )
    names = segs.label_names
    anchor, cand_arr = plots.ranking_windows(
        segs.label, segs.user, user=user, anchor_label=names.index("walking"),
        per_label=CANDIDATES_PER_ACTIVITY, seed=args.seed,
    )  # fmt: skip
    path = plots.plot_distance_ranking(
        distance, segs.x[anchor], segs.x[cand_arr], out / "distance_ranking.png", top=8,
        farthest=4, labels=[names[c] for c in segs.label[cand_arr]], anchor_label="walking",
        note=fig_note,
    )  # fmt: skip
    captions.append(
        f"![ranking]({path.name})\n\n**{path.name}** - a walking window of held-out user {short} "
        f"(anchor) and {len(cand_arr)} candidate windows of the same user "
        f"({CANDIDATES_PER_ACTIVITY} random windows of each activity), ranked by the {dist_text}. "
        "Shown: the 8 closest and the 4 farthest; titles in green share the anchor's activity. "
        "Left: every candidate's distance against its rank."
    )
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")

    readme = (
        "# Gallery\n\nPictures made by `relcon.apps.plots` from the WISDM demo data bundled with "
        "relcon (CC BY 4.0; see `src/relcon/assets/WISDM_DEMO_README.txt`), regenerated with\n\n"
        "```\npython scripts/make_gallery.py"
        + (f" --model {args.model}" if args.model else "")
        + (f" --distance {args.distance}" if args.distance else "")
        + (f" --finetuned {args.finetuned}" if args.finetuned else "")
        + (f" --head-epochs {args.head_epochs}" if args.head_epochs else "")
        + (f" --distance-steps {args.distance_steps}" if not args.distance else "")
        + f" --max-points {args.max_points} --seed {args.seed}\n```\n\n"
        f"Held-out users are {held_text}: "
        f"{', '.join(u.rsplit(':', 1)[-1] for u in held_users)}.\n\n" + "\n\n".join(captions) + "\n"
    )
    atomic_write_text(out / "README.md", readme)
    print(f"wrote {out / 'README.md'}; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
