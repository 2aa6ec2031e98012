"""Is the teacher worth learning from? Diagnostics of a motif distance on labelled windows.

RelCon's relative contrastive loss can only teach the encoder what the frozen distance's ranking
of candidates knows. These diagnostics measure that ranking on labelled windows of subjects the
distance never saw, with candidates laid out as in pretraining: for every anchor, ``within_user``
windows of the same subject from the same block of time and ``between_user`` windows of other
subjects. For each scorer (the motif distance, and as floors the raw Euclidean distance and the
cosine distance of a randomly initialised encoder) they report

* ``precision_at_1``: how often the nearest candidate shares the anchor's label;
* ``precision_at_5``: the share of the 5 nearest candidates that share it;
* ``spearman``: rank correlation between distance and label disagreement (0 same, 1 different),
  averaged over anchors that have candidates of both kinds (higher is better);
* the rotation probe: how often a copy of the anchor rotated uniformly at random in 3-D
  (``rotated_so3``), rotated by at most 30 degrees (``rotated_30deg``) or negated
  (``negated``) is ranked closer to the anchor than a candidate of another label (over all
  anchor / other-label candidate pairs).

Usage::

    relcon diagnose distance runs/distance --task tasks/wisdm_har6.npz
    relcon diagnose distance default --task tasks/wisdm_har6.npz --json diag.json

From Python::

    from relcon.train.diagnose import DiagnoseConfig, diagnose_distance, format_diagnostics
    result = diagnose_distance(DiagnoseConfig(distance="runs/distance", task="tasks/wisdm_har6.npz"))
    print(format_diagnostics(result))
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relcon.models.encoder import EncoderConfig

__all__ = [
    "DiagnoseConfig",
    "candidate_layout",
    "diagnose_command",
    "diagnose_distance",
    "format_diagnostics",
    "ranking_metrics",
    "rotations_within",
]

Scorer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class DiagnoseConfig:
    """``relcon diagnose distance``: how well a motif distance ranks labelled candidates."""

    distance: str = "default"  # anything relcon.load reads: a run, checkpoint, shipped model name
    task: str = ""  # labelled task .npz (classification)
    anchors: int = 300  # anchors drawn (stratified by subject where possible)
    within_user: int = 10  # candidates per anchor from the same subject and block of time
    between_user: int = 15  # candidates per anchor from other subjects
    block_seconds: float = 3600.0  # within-user candidates share the anchor's block of time
    subjects: list[str] | None = None  # None: the task's subjects the distance never saw
    floor_encoder: EncoderConfig = field(default_factory=EncoderConfig)  # random-weight floor
    seed: int = 0
    device: str = "cpu"


# --------------------------------------------------------------------------------------------
# layout and metrics
# --------------------------------------------------------------------------------------------
def candidate_layout(
    groups: np.ndarray,
    block: np.ndarray,
    n_anchors: int,
    within_user: int,
    between_user: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Anchors and their candidates, laid out as in pretraining.

    Args:
        groups: ``(N,)`` subject of every window.
        block: ``(N,)`` time block of every window (unique per subject and block).
        n_anchors: how many anchors to draw (fewer if fewer windows are eligible).
        within_user: candidates from the anchor's block (never the anchor itself).
        between_user: candidates from other subjects.
        seed: random seed.

    Returns:
        ``anchors (A,)`` and ``candidates (A, within_user + between_user)`` window indices; the
        within-user candidates come first.
    """
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    block = np.asarray(block)
    members: dict[Any, np.ndarray] = {}
    order = np.argsort(block, kind="stable")
    bounds = np.flatnonzero(np.diff(block[order])) + 1
    for part in np.split(order, bounds):
        members[block[part[0]]] = part
    eligible = np.array(
        [i for i in range(len(groups)) if len(members[block[i]]) > within_user], dtype=np.int64
    )
    if len(eligible) == 0:
        raise ValueError(
            f"no window has {within_user} other windows in its block; lower within_user"
        )
    anchors = rng.choice(eligible, size=min(n_anchors, len(eligible)), replace=False)
    cands = np.empty((len(anchors), within_user + between_user), dtype=np.int64)
    for row, a in enumerate(anchors):
        same = members[block[a]]
        same = same[same != a]
        cands[row, :within_user] = rng.choice(same, size=within_user, replace=False)
        others = np.flatnonzero(groups != groups[a])
        cands[row, within_user:] = rng.choice(others, size=between_user, replace=False)
    return anchors, cands


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), row-wise."""
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def ranking_metrics(dist: np.ndarray, same: np.ndarray) -> dict[str, float]:
    """Precision@1, precision@5 and Spearman of a ranking against label agreement.

    Args:
        dist: ``(A, C)`` distances (smaller = closer).
        same: ``(A, C)`` bool, whether each candidate shares its anchor's label.

    Returns:
        ``precision_at_1``, ``precision_at_5`` (share of the 5 nearest sharing the label),
        ``spearman`` (mean over anchors with candidates of both kinds of the rank correlation
        between distance and disagreement) and ``n_anchors_spearman``.

    Example:
        >>> d = np.array([[0.1, 0.5, 0.9], [0.2, 0.1, 0.3]])
        >>> s = np.array([[True, False, False], [True, False, True]])
        >>> m = ranking_metrics(d, s)  # row 2 ranks a wrong candidate first
        >>> m["precision_at_1"], round(m["spearman"], 3)
        (0.5, 0.0)
    """
    order = np.argsort(dist, axis=1, kind="stable")
    ranked = np.take_along_axis(same, order, axis=1)
    k5 = min(5, dist.shape[1])
    rhos = []
    for d, s in zip(dist, same, strict=True):
        if s.all() or not s.any():
            continue
        rd, rs = _rank(d), _rank((~s).astype(float))
        rd, rs = rd - rd.mean(), rs - rs.mean()
        denom = math.sqrt(float((rd * rd).sum() * (rs * rs).sum()))
        if denom > 0:
            rhos.append(float((rd * rs).sum() / denom))
    return {
        "precision_at_1": float(ranked[:, 0].mean()),
        "precision_at_5": float(ranked[:, :k5].mean()),
        "spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "n_anchors_spearman": len(rhos),
    }


def rotations_within(n: int, max_degrees: float, g: torch.Generator) -> torch.Tensor:
    """``(n, 3, 3)`` rotations about uniformly random axes by angles uniform in [0, max_degrees]."""
    axis = torch.randn(n, 3, generator=g)
    axis = axis / axis.norm(dim=1, keepdim=True)
    angle = torch.rand(n, generator=g) * math.radians(max_degrees)
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3) + s * k + (1 - c) * (k @ k)  # Rodrigues


# --------------------------------------------------------------------------------------------
# scorers
# --------------------------------------------------------------------------------------------
def _euclidean(anchor: torch.Tensor, pool: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return (anchor[:, None] - pool[index]).square().sum(dim=(2, 3))


def _cosine_scorer(encoder: torch.nn.Module, batch: int = 512) -> Scorer:
    def embed(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            parts = [encoder(x[s : s + batch]) for s in range(0, len(x), batch)]
        return torch.nn.functional.normalize(torch.cat(parts).float(), dim=-1)

    def score(anchor: torch.Tensor, pool: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        za, zp = embed(anchor), embed(pool)
        return 1 - torch.einsum("ad,acd->ac", za, zp[index])

    return score


def _motif_scorer(distance: torch.nn.Module) -> Scorer:
    def score(anchor: torch.Tensor, pool: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return distance.score(anchor, pool, index).float()

    return score


# --------------------------------------------------------------------------------------------
# the diagnostics
# --------------------------------------------------------------------------------------------
def _load_task_checked(path: str) -> Any:
    from relcon.data.tasks import load_task
    from relcon.data.windowing import SEGMENT_LENGTH

    if not path:
        raise ValueError("diagnose: give a labelled task file (--task T.npz)")
    task = load_task(path)
    if task.task_type != "classification":
        raise ValueError(
            f"{path}: the diagnostics need class labels; this task is {task.task_type!r}"
        )
    if task.X.shape[1] != SEGMENT_LENGTH:
        raise ValueError(
            f"{path}: windows of {task.X.shape[1]} samples; the motif distance compares "
            f"{SEGMENT_LENGTH}-sample (2.56 s) windows"
        )
    return task


def _block_codes(task: Any, block_seconds: float) -> np.ndarray:
    """Time block per window from the task's ``start_s`` (one block per subject without it)."""
    start = task.extra.get("start_s")
    groups = np.asarray(task.groups).astype(str)
    if start is None or not np.isfinite(block_seconds) or block_seconds <= 0:
        return np.unique(groups, return_inverse=True)[1]
    block = np.floor(np.asarray(start, dtype=np.float64) / block_seconds).astype(np.int64)
    keys = np.char.add(np.char.add(groups, "|"), block.astype(str))
    return np.unique(keys, return_inverse=True)[1]


def diagnose_distance(cfg: DiagnoseConfig, distance: torch.nn.Module | None = None) -> dict:
    """Run the diagnostics; returns a JSON-ready dict (see the module docstring).

    ``distance``: an already loaded :class:`~relcon.models.distance.MotifDistance` (then
    ``cfg.distance`` only names it in the output).
    """
    from relcon.io import environment_info
    from relcon.models.encoder import ResNet1DEncoder
    from relcon.models.hub import load_model

    t0 = time.perf_counter()
    task = _load_task_checked(cfg.task)
    meta: dict = {}
    if distance is None:  # an empty name: the shipped model, as "default" (the hub says which)
        distance, meta = load_model(cfg.distance or None, kind="distance")
    distance = distance.to(cfg.device).eval()
    groups = np.asarray(task.groups).astype(str)
    if cfg.subjects is not None:
        keep = np.isin(groups, [str(s) for s in cfg.subjects])
    else:
        keep = ~np.isin(groups, [str(u) for u in meta.get("train_users", [])])
    if not keep.any():
        raise ValueError(f"{cfg.task}: no windows of subjects the distance never saw")
    subjects = sorted(set(groups[keep]))
    if len(subjects) < 2:
        raise ValueError(
            f"{cfg.task}: the diagnostics need at least 2 subjects (between-user candidates); "
            f"got {subjects}"
        )
    idx = np.flatnonzero(keep)
    block = _block_codes(task, cfg.block_seconds)[idx]
    anchors, cands = candidate_layout(
        groups[idx], block, cfg.anchors, cfg.within_user, cfg.between_user, cfg.seed
    )
    y = np.asarray(task.y)[idx]
    same = y[cands] == y[anchors][:, None]
    # only the windows in use: anchors first, then the candidates, re-indexed
    used, inverse = np.unique(np.concatenate([anchors, cands.reshape(-1)]), return_inverse=True)
    x = torch.as_tensor(task.X[idx[used]], dtype=torch.float32, device=cfg.device)
    anchors_local = inverse[: len(anchors)]
    cands_local = inverse[len(anchors) :].reshape(cands.shape)

    # transformed copies of the anchors, appended to the pool after the candidates
    g = torch.Generator().manual_seed(cfg.seed)
    from relcon.data.augmentations import random_rotation_matrices

    xa = x[torch.as_tensor(anchors_local)]
    n = len(anchors)
    copies = {
        "rotated_so3": torch.bmm(xa, random_rotation_matrices(n, g).to(xa)),
        "rotated_30deg": torch.bmm(xa, rotations_within(n, 30.0, g).to(xa)),
        "negated": -xa,
    }
    pool = torch.cat([x, *copies.values()])
    base = len(x)
    copy_cols = [
        torch.arange(base + j * n, base + (j + 1) * n)[:, None] for j in range(len(copies))
    ]
    index = torch.cat([torch.as_tensor(cands_local), *copy_cols], dim=1).to(cfg.device)

    torch.manual_seed(cfg.seed)
    floor_encoder = ResNet1DEncoder(cfg.floor_encoder).to(cfg.device).eval()
    scorers: dict[str, Scorer] = {
        "motif_distance": _motif_scorer(distance),
        "euclidean": _euclidean,
        "random_encoder_cosine": _cosine_scorer(floor_encoder),
    }
    other = ~same
    results: dict[str, dict] = {}
    for name, scorer in scorers.items():
        t = time.perf_counter()
        d = scorer(xa, pool, index).cpu().numpy().astype(np.float64)
        c = cands.shape[1]
        row = ranking_metrics(d[:, :c], same)
        for j, key in enumerate(copies):
            dc = d[:, c + j][:, None]
            closer = (dc < d[:, :c]) & other
            row[key] = float(closer.sum() / max(other.sum(), 1))
            row[f"median_distance_{key}"] = float(np.median(dc))
        row["median_distance_same_label"] = float(np.median(d[:, :c][same])) if same.any() else None
        row["median_distance_other_label"] = (
            float(np.median(d[:, :c][other])) if other.any() else None
        )
        row["seconds"] = time.perf_counter() - t
        results[name] = row
    return {
        "task": str(cfg.task),
        "distance": str(cfg.distance),
        "distance_architecture": meta.get("architecture", {}),
        "subjects": subjects,
        "n_anchors": int(n),
        "within_user": cfg.within_user,
        "between_user": cfg.between_user,
        "block_seconds": cfg.block_seconds,
        "share_same_label": float(same.mean()),
        "share_same_label_within": float(same[:, : cfg.within_user].mean()),
        "scorers": results,
        "seed": cfg.seed,
        "seconds": time.perf_counter() - t0,
        "environment": environment_info(),
    }


_COLUMNS = (
    ("precision_at_1", "P@1"),
    ("precision_at_5", "P@5"),
    ("spearman", "Spearman"),
    ("rotated_so3", "SO(3) copy closer"),
    ("rotated_30deg", "<=30 deg copy closer"),
    ("negated", "negated copy closer"),
)


def format_diagnostics(result: dict) -> str:
    """A plain-text table of :func:`diagnose_distance`'s result."""
    head = ["scorer", *(label for _, label in _COLUMNS)]
    rows = [
        [name, *(f"{row[key]:.3f}" for key, _ in _COLUMNS)]
        for name, row in result["scorers"].items()
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        f"{result['task']}: {result['n_anchors']} anchors of {len(result['subjects'])} unseen "
        f"subjects, {result['within_user']} within-user + {result['between_user']} between-user "
        f"candidates (share with the anchor's label: {result['share_same_label']:.3f})",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def save_diagnostics(result: dict, path: str | Path) -> None:
    """Write the result as JSON, atomically."""
    from relcon.io import atomic_write_json

    atomic_write_json(Path(path), result)


def diagnose_command(cfg: DiagnoseConfig, json_path: str | Path | None = None) -> int:
    """``relcon diagnose distance [--json FILE]``: print the diagnostics (and write them to
    ``json_path``). The JSON file is claimed before anything is computed
    (:func:`relcon.io.claim_output`): a place that cannot be written, or another run writing the
    same file, fails at once instead of after the computation. An existing file is replaced."""
    import contextlib

    from relcon.io import claim_output

    with contextlib.ExitStack() as stack:
        if json_path:
            stack.enter_context(claim_output(json_path, overwrite=True))
        result = diagnose_distance(cfg)
        print(format_diagnostics(result))
        if json_path:
            save_diagnostics(result, json_path)
            print(f"written to {json_path}")
    return 0
