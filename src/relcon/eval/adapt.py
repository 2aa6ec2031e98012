"""Continued pretraining inside an evaluation: ``relcon evaluate --adapt-steps N``.

The question it answers: does continuing the pretraining of a model on a cohort's own unlabelled
recordings (``relcon pretrain --init MODEL``, the recommended use on a new cohort) help a probe
on that cohort? Measured like for like, within each split of the evaluation:

1. the windows of the split's **training subjects** (every one of them, labels dropped; never a
   window of a test subject) become the pretraining data (:func:`fold_segments`);
2. the one pretraining loop (:func:`relcon.train.relcon.pretrain`) continues the evaluated
   encoder on them for ``adapt_steps`` steps (``init``: the model, so the run records it and
   the SHA-256 of its weights), with ``adapt_method`` (``auto``: the model's own method) and,
   for the methods that rank candidates, the frozen motif distance ``adapt_distance`` (``""``:
   the model's own: a shipped model's or bundle's ``distance/``, else the ``distance`` its
   pretraining run was given) and the rest of the model's own recipe (:data:`RECIPE`: anchors
   per step, within-user candidates, temperature, ...; ``adapt_batch_size`` sets another number
   of anchors per step, the between-user candidates capped to match), in a temporary folder
   removed afterwards;
3. the probe (and every few-shot draw) of that split runs on the adapted encoder exactly as
   without adaptation: same subjects, splits, protocol, seeds.

The results are named apart (``"relcon-wrist-small (shipped, adapted 200 steps)"``,
:func:`adapted_name`) and record the settings (``config``), what each split's adaptation saw
(``task.splits[i].adapt``) and the resolved method and distance (``adapt``), so ``relcon
report`` pairs the run with the unadapted run of the same model on the same subjects and folds.

**Assumption: a task's windows are in time order within each subject.** A task holds windows
and subjects but no times, while the pretraining sampler draws within-user candidates from the
same user and time block. Each training subject becomes one user, and its windows, in task
order, are given consecutive start times ``i * 2.56 s`` (one recording per subject); time blocks
are then ``block_seconds`` (3600 s: about 1406 consecutive windows) of them. A subject with fewer
windows than ``within_user + 1`` (21) in a block provides no anchors.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from relcon.config import DataConfig, EvalConfig, PretrainConfig, spell
from relcon.data.tasks import Task
from relcon.data.windowing import Segments
from relcon.train.methods import METHODS
from relcon.train.relcon import pretrain

__all__ = [
    "RECIPE",
    "WINDOW_SECONDS",
    "AdaptPlan",
    "adapt_encoder",
    "adapted_name",
    "fold_segments",
    "plan_adapt",
]

#: The start-time step between consecutive windows of a subject (a task has no times).
WINDOW_SECONDS = 2.56
#: The settings of the objective taken from the model's own pretraining run (its ``model.json``
#: ``config``) where it records them, else :class:`~relcon.config.PretrainConfig`'s defaults;
#: the schedule (steps, learning rate, warmup) is the evaluation's ``adapt_*``.
RECIPE = ("batch_size", "within_user", "between_user", "tau", "weight_decay", "grad_clip",
          "n_augment", "projection_dim", "candidate_encoder", "ema_decay", "anchor_copy")  # fmt: skip


class AdaptPlan(NamedTuple):
    """What :func:`plan_adapt` resolved: the objective, the distance (``""``: none needed) and
    the model the runs start from (``""``: the evaluated encoder object, saved per split)."""

    method: str
    distance: str
    init: str
    own_method: str  # the model's own method (named in the results name when another is used)
    recipe: dict  # the model's own pretraining settings of RECIPE (its model.json config)

    def record(self, cfg: EvalConfig) -> dict:
        """The results' ``adapt`` field."""
        return {
            "steps": cfg.adapt_steps, "lr": cfg.adapt_lr, "method": self.method,
            "distance": self.distance or None, "init": self.init or None,
            "warmup_steps": _warmup(cfg.adapt_steps), "data": "each split's training subjects",
            **self.recipe,
        }  # fmt: skip


def _warmup(steps: int) -> int:
    return min(50, steps // 10)


def plan_adapt(cfg: EvalConfig, features: str, meta: dict) -> AdaptPlan:
    """Check the adaptation settings against the features and resolve ``auto`` and ``""``.

    ``meta``: the evaluated model's ``model.json`` (``{}`` for an encoder object, whose own
    method is taken to be ``relcon``). Raises ValueError for features other than ``model`` and
    for a method that needs a distance the model does not name.
    """
    from relcon.models.hub import locate, shipped_name

    if features != "model":
        raise ValueError(
            f"{spell('adapt_steps', cfg.adapt_steps)} continues pretraining a model: use it "
            f"with {spell('features', 'model')}, not {features!r}"
        )
    own = str(meta.get("method", "relcon"))
    method = own if cfg.adapt_method == "auto" else cfg.adapt_method
    if method not in METHODS:
        raise ValueError(f"unknown {spell('adapt_method', method)}; choose from {tuple(METHODS)}")
    init = cfg.model
    distance = cfg.adapt_distance
    if not METHODS[method].needs_distance:
        distance = ""
    elif not distance:
        if init and (shipped_name(init) or (Path(init).expanduser() / "distance").is_dir()):
            distance = init  # a shipped model or bundle: its own distance/
        else:
            distance = str((meta.get("config") or {}).get("distance") or "")
        if not distance:
            raise ValueError(
                f"{spell('adapt_method', method)} ranks candidates by a motif distance and the "
                f"model names none of its own: set {spell('adapt_distance', 'DISTANCE')} (a "
                "shipped name or a train-distance run)"
            )
    if distance:
        try:
            locate(distance, "distance")
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(
                f"the motif distance to adapt with ({distance!r}) cannot be found ({e}); set "
                f"{spell('adapt_distance', 'DISTANCE')}"
            ) from None
    config = meta.get("config") or {}
    recipe = {k: config[k] for k in RECIPE if k in config}
    if cfg.adapt_batch_size:  # another step than the model's own: the candidates follow
        recipe["batch_size"] = cfg.adapt_batch_size
        if recipe.get("between_user") is not None:
            recipe["between_user"] = min(int(recipe["between_user"]), cfg.adapt_batch_size - 1)
    return AdaptPlan(method, distance, init, own, recipe)


def adapted_name(label: str, cfg: EvalConfig, plan: AdaptPlan) -> str:
    """The results name of an adapted run: ``"relcon-wrist-small (shipped, adapted 200 steps)"``,
    ``"relcon (run-3, adapted 200 simclr steps)"`` (the method named when not the model's own),
    ``"relcon-wrist-full (shipped, adapted 200 steps of 16 anchors)"`` (``adapt_batch_size``)."""
    steps = "step" if cfg.adapt_steps == 1 else "steps"
    what = steps if plan.method == plan.own_method else f"{plan.method} {steps}"
    tag = f"adapted {cfg.adapt_steps} {what}"
    if cfg.adapt_batch_size:
        tag += f" of {cfg.adapt_batch_size} anchors"
    return f"{label[:-1]}, {tag})" if label.endswith(")") else f"{label} ({tag})"


def fold_segments(task: Task, train: np.ndarray) -> Segments:
    """The pretraining windows of one split: ``task``'s windows at ``train`` (the training
    subjects'), unlabelled, user = subject, one recording per subject, start times ``i * 2.56 s``
    in task order within each subject (the module's assumption)."""
    train = np.asarray(train)
    users = np.asarray(task.groups[train]).astype(str)
    start = np.zeros(len(train))
    for user in np.unique(users):
        at = np.flatnonzero(users == user)
        start[at] = np.arange(len(at)) * WINDOW_SECONDS
    return Segments(
        x=task.X[train], user=users, recording=users, start_s=start,
        label=np.full(len(train), -1, dtype=np.int16), label_names=(),
    )  # fmt: skip


def adapt_encoder(
    encoder, segments: Segments, cfg: EvalConfig, plan: AdaptPlan, *, progress: bool = True
) -> tuple[object, dict]:
    """Continue pretraining ``plan.init`` (or the object ``encoder``) on ``segments`` for
    ``cfg.adapt_steps`` steps; returns the adapted encoder (on ``encoder``'s device, in eval
    mode) and the split's record (windows, users, seconds, first and last logged loss, the
    weights started from). The run folder is temporary and removed afterwards."""
    from relcon.models.hub import load_model, save_model

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="relcon-adapt-"))
    try:
        init = plan.init
        if not init:  # an encoder object: saved so that the run starts from it
            init = str(save_model(tmp / "init", encoder, "encoder"))
        pre = PretrainConfig(
            data=DataConfig(source="segments given in Python"), init=init, method=plan.method,
            distance=plan.distance, steps=cfg.adapt_steps, lr=cfg.adapt_lr,
            warmup_steps=_warmup(cfg.adapt_steps), seed=cfg.seed, device=cfg.device,
            log_every=max(1, cfg.adapt_steps // 10), ckpt_every=cfg.adapt_steps,
            keep_checkpoints=1, **plan.recipe,
        )  # fmt: skip
        run = pretrain(pre, tmp / "run", segments=segments, progress=progress)
        device = next(encoder.parameters()).device
        adapted, meta = load_model(run, kind="encoder", device=device)
        adapted.eval()
        losses = _losses(run / "metrics.csv")
        started = meta.get("init") or {}
        record = {
            "windows": len(segments), "users": len(np.unique(segments.user)),
            "steps": int(meta.get("step", 0)), "init_sha256": started.get("safetensors_sha256"),
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None, "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        return adapted, record
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _losses(path: Path) -> list[float]:
    if not path.is_file():
        return []
    with path.open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r.get("loss")]
