"""``relcon plot distance``: an anchor window beside candidates ranked by the motif distance."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.apps.plots import common
from relcon.apps.plots.common import AXIS_COLORS, MODEL_FS
from relcon.apps.plots.html import _write_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from relcon.models.distance import MotifDistance

__all__ = ["plot_distance_ranking", "ranked_distances", "ranking_windows"]


def ranking_windows(
    labels: np.ndarray,
    users: np.ndarray,
    *,
    user: str | None = None,
    anchor_label: int | None = None,
    per_label: int = 5,
    seed: int = 0,
) -> tuple[int, np.ndarray]:
    """Pick an anchor and candidates for :func:`plot_distance_ranking`, as RelCon does.

    RelCon ranks candidates from the anchor's own user, so the candidates are ``per_label``
    random windows of each class of that user (``6 * per_label`` random windows when the user
    has no labels), never the anchor itself. The anchor is a random window of class
    ``anchor_label`` (any labelled window when None) of ``user`` (a random user that has such
    a window when None). All draws use ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(N,)`` class codes, ``-1`` = unlabelled.
    users : numpy.ndarray
        ``(N,)`` user ids; ``user`` matches the full id or the part after the last ``:``.
    user : str, optional
        The user.
    anchor_label : int, optional
        Class code of the anchor.
    per_label : int
        Candidates per class.
    seed : int
        Seed.

    Returns
    -------
    anchor : int
        Index of the anchor window.
    candidates : numpy.ndarray
        Sorted indices of the candidate windows.

    Raises
    ------
    ValueError
        If ``labels`` and ``users`` differ in length, the user is unknown, no window fits the
        anchor's requirements, or the user has no other window.
    """
    lab = np.asarray(labels).astype(np.int64)
    usr = np.asarray([str(u) for u in np.asarray(users).tolist()])
    if lab.shape != usr.shape or lab.ndim != 1:
        raise ValueError(f"labels {lab.shape} and users {usr.shape} must be (N,) arrays alike")
    if per_label < 1:
        raise ValueError(f"per_label must be >= 1, got {per_label}")
    rng = np.random.default_rng(seed)
    short = np.array([u.rsplit(":", 1)[-1] for u in usr.tolist()])
    ok = lab >= 0 if anchor_label is None else lab == int(anchor_label)
    if user is not None:
        mine = (usr == user) | (short == user)
        if not mine.any():
            raise ValueError(f"user {user!r} not found; users: {sorted(set(usr.tolist()))[:10]}")
        ok &= mine
    elif not ok.any() and anchor_label is None:
        ok = np.ones(len(lab), dtype=bool)  # nothing labelled: any window
    if not ok.any():
        what = "a labelled window" if anchor_label is None else f"a window of class {anchor_label}"
        raise ValueError(f"no {what}{f' of user {user!r}' if user else ''} to use as the anchor")
    anchor = int(rng.choice(np.flatnonzero(ok)))
    pool = np.flatnonzero(usr == usr[anchor])
    pool = pool[pool != anchor]
    if len(pool) == 0:
        raise ValueError(f"user {usr[anchor]!r} has no other window to rank")
    classes = [c for c in np.unique(lab[pool]).tolist() if c >= 0]
    if not classes:
        cand = rng.choice(pool, size=min(6 * per_label, len(pool)), replace=False)
    else:
        cand = np.concatenate(
            [
                rng.choice(p, size=min(per_label, len(p)), replace=False)
                for p in (pool[lab[pool] == c] for c in classes)
            ]
        )
    return anchor, np.sort(cand)


def _load_distance(distance: MotifDistance | str | os.PathLike[str]) -> MotifDistance:
    from relcon.models.hub import load

    return load(distance, kind="distance")


def ranked_distances(
    distance: MotifDistance, anchor: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Distances ``(C,)`` from ``anchor (T, 3)`` to each of ``candidates (C, T, 3)``, eval mode."""
    import torch

    device = next(distance.parameters()).device
    was_training = distance.training
    distance.eval()
    try:
        with torch.no_grad():
            a = torch.as_tensor(anchor, dtype=torch.float32, device=device)[None]
            c = torch.as_tensor(candidates, dtype=torch.float32, device=device)[None]
            d = distance.pairwise(a, c)[0].float().cpu().numpy()
    finally:
        distance.train(was_training)
    return d.astype(np.float64)


@common._shared_doc
def plot_distance_ranking(
    distance: MotifDistance | str | os.PathLike[str],
    anchor: np.ndarray,
    candidates: np.ndarray,
    out: str | os.PathLike[str],
    *,
    top: int = 8,
    farthest: int = 0,
    labels: Sequence[str] | np.ndarray | None = None,
    anchor_label: str | None = None,
    fs: float = MODEL_FS,
    html: bool = False,
    title: str | None = None,
    note: str | None = None,
    dpi: int = 100,
) -> Path:
    """An anchor window beside candidates ranked by the learned motif distance, closest first.

    Each candidate is scored with ``distance.pairwise(anchor, candidates)`` (the error of
    rebuilding the anchor from the candidate; smaller = more alike) in eval mode. The picture
    shows the anchor, the ``top`` closest candidates and optionally the ``farthest`` ones, as
    small multiples of their x, y, z traces on one shared scale, each titled with its rank,
    distance and label (green when it equals ``anchor_label``), plus a strip of all
    distances with the shown candidates marked.

    Parameters
    ----------
    distance : MotifDistance or path-like
        The motif distance, or a run folder / checkpoint holding one.
    anchor : numpy.ndarray
        ``(T, 3)`` anchor window in g (``T = 256`` for the 2.56 s model windows).
    candidates : numpy.ndarray
        ``(C, T, 3)`` candidate windows.
    top : int
        Closest candidates shown (at most ``C``).
    farthest : int
        Farthest candidates shown too, for contrast (at most ``C - top``).
    labels : sequence of str, optional
        ``(C,)`` candidate labels shown in the titles.
    anchor_label : str, optional
        Label of the anchor.
    fs : float
        Sampling rate of the windows, for the time axis.
    note : str, optional
        A line under the title (e.g. how the distance was trained).
    {output}

    Raises
    ------
    TypeError
        If ``distance`` is not a MotifDistance or a path.
    ValueError
        On wrong shapes (anchor not ``(T, 3)``, candidates not ``(C, T, 3)`` with the same
        ``T``), non-finite windows, ``top < 1``, ``farthest < 0`` or labels of the wrong
        length.
    """
    path, as_html = common._output(out, html)
    dist = _load_distance(distance)
    ch = dist.config.in_channels
    a = np.asarray(anchor)
    c = np.asarray(candidates)
    if a.ndim != 2 or a.shape[1] != ch:
        raise ValueError(f"anchor must be a (T, {ch}) window, got shape {a.shape}")
    if c.ndim != 3 or c.shape[2] != ch or c.shape[1] != a.shape[0]:
        raise ValueError(
            f"candidates must be (C, {a.shape[0]}, {ch}) windows like the anchor, got shape "
            f"{c.shape}"
        )
    if c.shape[0] < 1 or a.shape[0] < 2:
        raise ValueError(f"need at least one candidate of 2+ samples, got shape {c.shape}")
    common._finite("anchor", a[None])
    common._finite("candidates", c)
    if int(top) != top or top < 1:
        raise ValueError(f"top must be a positive integer, got {top}")
    if int(farthest) != farthest or farthest < 0:
        raise ValueError(f"farthest must be a non-negative integer, got {farthest}")
    n_c = c.shape[0]
    lab = None
    if labels is not None:
        lab = [str(v) for v in np.asarray(labels).tolist()]
        if np.asarray(labels).ndim != 1 or len(lab) != n_c:
            raise ValueError(f"labels must have one entry per candidate ({n_c}), got {len(lab)}")
    d = ranked_distances(dist, a, c)
    order = np.argsort(d, kind="stable")
    rank = np.empty(n_c, dtype=np.int64)
    rank[order] = np.arange(1, n_c + 1)
    top = min(int(top), n_c)
    farthest = min(int(farthest), n_c - top)
    shown = order[:top].tolist() + (order[n_c - farthest :].tolist() if farthest else [])

    head = title or "Candidates ranked by the learned motif distance, closest first"
    sub = "d(anchor, candidate) = error of rebuilding the anchor from the candidate (lower = more alike)"
    if note:
        sub += f"\n{note}"
    fig = _draw_ranking(a, c, d, rank, shown, top, lab, anchor_label, fs, head, sub)
    if not as_html:
        return common._save_figure(fig, path, dpi)
    t = np.arange(a.shape[0]) / fs
    axes = list(AXIS_COLORS)[:ch] if ch <= 3 else [f"ch{i}" for i in range(ch)]
    ylim = _ranking_ylim(a, c[shown])

    def panel(w: np.ndarray, name: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": name,
            "lines": [
                {
                    "name": k,
                    "color": AXIS_COLORS.get(k, "#555555"),
                    "y": common._round_list(w[:, j], 4),
                }
                for j, k in enumerate(axes)
            ],
            **extra,
        }

    panels = [panel(a, f"anchor{f' · {anchor_label}' if anchor_label else ''}", {"anchor": True})]
    for i in shown:
        name = f"#{rank[i]} · d = {d[i]:.4g}" + (f" · {lab[i]}" if lab else "")
        extra = {"rank": int(rank[i]), "distance": float(d[i]), "index": int(i)}
        if lab:
            extra["label"] = lab[i]
            extra["match"] = anchor_label is not None and lab[i] == anchor_label
        panels.append(panel(c[i], name, extra))
    spec = {
        "kind": "grid",
        "title": head,
        "subtitle": sub,
        "legend": [{"name": k, "color": AXIS_COLORS.get(k, "#555555")} for k in axes],
        "units": "acceleration in g (vertical) against time in s (horizontal)",
        "t": common._round_list(t, 4),
        "ylim": list(ylim),
        "panels": panels,
        "ranking": [
            {
                "index": int(i),
                "rank": int(rank[i]),
                "distance": float(d[i]),
                **({"label": lab[i]} if lab else {}),
            }
            for i in order.tolist()
        ],
    }
    return _write_html(path, spec, common._png_bytes(fig, dpi))


def _ranking_ylim(a: np.ndarray, shown: np.ndarray) -> tuple[float, float]:
    lo = float(min(a.min(), shown.min()))
    hi = float(max(a.max(), shown.max()))
    pad = 0.06 * max(hi - lo, 0.1)
    return lo - pad, hi + pad


def _draw_ranking(
    a: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    rank: np.ndarray,
    shown: list[int],
    top: int,
    lab: list[str] | None,
    anchor_label: str | None,
    fs: float,
    head: str,
    sub: str,
) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    ncol = 4
    n_top, n_far = top, len(shown) - top
    rows_top = math.ceil(n_top / ncol)
    rows_far = math.ceil(n_far / ncol) if n_far else 0
    nrows = max(2, rows_top + rows_far)
    fig = common._new_figure(13.5, 1.9 * nrows + 1.3 + 0.2 * sub.count("\n"))
    grid = fig.add_gridspec(nrows, ncol + 1, width_ratios=[1.25] + [1.0] * ncol)
    t = np.arange(a.shape[0]) / fs
    ylim = _ranking_ylim(a, c[shown])
    axes_names = list(AXIS_COLORS)[: a.shape[1]]
    match_color, other_color = "#1a7f37", "#222222"

    def traces(ax, w: np.ndarray) -> None:
        for j, k in enumerate(axes_names):
            ax.plot(t, w[:, j], color=AXIS_COLORS[k], lw=0.9)
        ax.set_ylim(*ylim)
        ax.set_xlim(t[0], t[-1])
        ax.grid(True, color="#ececec", lw=0.6)
        ax.tick_params(labelsize=8)

    ax = fig.add_subplot(grid[0, 0])
    traces(ax, a)
    ax.set_title(f"anchor{f' · {anchor_label}' if anchor_label else ''}", fontsize=10,
                 fontweight="bold")  # fmt: skip
    for s in ax.spines.values():
        s.set_linewidth(2.0)
    ax.set_ylabel("acceleration (g)", fontsize=9)
    ax.set_xlabel("time (s)", fontsize=9)

    # every candidate's distance against its rank; the shown ones ringed
    ax = fig.add_subplot(grid[1:, 0] if nrows > 1 else grid[0, 0])
    by_rank = np.argsort(d, kind="stable")
    ranks = np.arange(1, len(d) + 1)
    is_match = np.array(
        [lab is not None and anchor_label is not None and lab[i] == anchor_label for i in by_rank],
        dtype=bool,
    )
    ax.plot(ranks, d[by_rank], color="#d0d0d0", lw=1.0, zorder=1)
    for mask, color, name in (
        (~is_match, "#8a8a8a", "other label" if anchor_label is not None else "candidate"),
        (is_match, match_color, f"{anchor_label}"),
    ):
        if mask.any():
            ax.scatter(ranks[mask], d[by_rank][mask], s=16, color=color, lw=0, label=name, zorder=2)
    ring = np.isin(by_rank, shown)
    ax.scatter(ranks[ring], d[by_rank][ring], s=60, facecolors="none", edgecolors="#222222",
               lw=0.9, label="shown", zorder=3)  # fmt: skip
    ax.set_xlabel("rank", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("distance to anchor", fontsize=9)
    ax.set_title(f"all {len(d)} candidates", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="lower right", frameon=False, handletextpad=0.1)
    ax.grid(True, color="#ececec", lw=0.6)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)

    for k, i in enumerate(shown):
        if k < n_top:
            r, col = divmod(k, ncol)
        else:
            r, col = divmod(k - n_top, ncol)
            r += rows_top
        ax = fig.add_subplot(grid[r, col + 1])
        traces(ax, c[i])
        text = f"#{rank[i]}{f' of {len(d)}' if k >= n_top else ''}  d = {d[i]:.3g}"
        if lab is not None:
            text += f"\n{lab[i]}"
        matched = lab is not None and anchor_label is not None and lab[i] == anchor_label
        ax.set_title(text, fontsize=9, color=match_color if matched else other_color,
                     fontweight="bold" if matched else "normal")  # fmt: skip
        if col != 0:
            ax.tick_params(labelleft=False)
        if not ((k < n_top and r == rows_top - 1) or (k >= n_top and r == nrows - 1)):
            ax.tick_params(labelbottom=False)
    handles = [Line2D([], [], color=AXIS_COLORS[k], lw=2, label=k) for k in axes_names]
    fig.legend(handles=handles, loc="outside upper right", ncol=len(handles), fontsize=9,
               frameon=False)  # fmt: skip
    fig.suptitle(f"{head}\n{sub}", fontsize=11)
    return fig
