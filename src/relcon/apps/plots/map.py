"""``relcon plot map``: a 2-D map (t-SNE, UMAP or PCA) of window embeddings."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.apps.plots import common
from relcon.apps.plots.common import UNLABELLED_COLOR, class_palette
from relcon.apps.plots.html import _write_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLOR_BY", "LEGEND_MAX", "PROJECTIONS", "plot_embedding_map", "sample_indices"]

#: Projections :func:`plot_embedding_map` knows.
PROJECTIONS: tuple[str, ...] = ("tsne", "umap", "pca")

#: What :func:`plot_embedding_map` can colour by.
COLOR_BY: tuple[str, ...] = ("label", "user")

#: Most colour groups that the map's legend lists one by one.
LEGEND_MAX = 20

_PROJECTION_TITLES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def _display_names(
    values: np.ndarray, label_names: Sequence[str] | None, what: str
) -> tuple[np.ndarray, list[str]]:
    """String name per entry and the names in display order (codes, then alphabetical)."""
    if values.dtype.kind in "iu":
        codes = values.astype(np.int64)
        order_codes = [int(c) for c in np.unique(codes)]
        if label_names is not None:
            bad = [c for c in order_codes if c >= len(label_names) or c < -1]
            if bad:
                raise ValueError(
                    f"{what} code {bad[0]} has no name in label_names ({len(label_names)} names)"
                )

        def name_of(c: int) -> str:
            if c == -1:
                return "unlabelled"
            return str(label_names[c]) if label_names is not None else str(c)

        lookup = {c: name_of(c) for c in order_codes}
        names = np.array([lookup[int(c)] for c in codes], dtype=object)
        ordered = [lookup[c] for c in order_codes if c != -1]
        return names, list(dict.fromkeys(ordered))
    if values.dtype.kind == "f":
        raise ValueError(f"{what} must be integer codes or strings, got floats")
    names = np.array([str(v) for v in values.tolist()], dtype=object)
    return names, sorted(set(names.tolist()) - {"unlabelled"})


def _short_user(u: str) -> str:
    return u.rsplit(":", 1)[-1] if ":" in u else u


class _TsneProgress(io.TextIOBase):
    """Turns scikit-learn's t-SNE log (``verbose=2``, on stdout) into a progress bar."""

    def __init__(self, total: int) -> None:
        from relcon.progress import progress_bar

        self.bar = progress_bar(total=total, desc="t-SNE", unit="it", file=sys.stderr, leave=False)
        self.bar.set_postfix_str("nearest neighbours")
        self.buf = ""

    def write(self, text: str) -> int:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            m = re.search(r"Iteration (\d+)", line)
            if m:
                self.bar.set_postfix_str("")
                self.bar.update(min(int(m.group(1)), self.bar.total) - self.bar.n)
        return len(text)

    def close(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()
        super().close()


def _run_tsne(tsne: Any, x: np.ndarray, progress: bool) -> np.ndarray:
    """``tsne.fit_transform(x)``, with a progress bar (iterations, ETA) on stderr if asked."""
    if not progress:
        return tsne.fit_transform(x)
    tsne.set_params(verbose=2)
    log = _TsneProgress(int(getattr(tsne, "max_iter", None) or 1000))
    try:
        with contextlib.redirect_stdout(log):
            return tsne.fit_transform(x)
    finally:
        log.close()


def _project(
    x: np.ndarray, projection: str, seed: int, progress: bool = False
) -> tuple[np.ndarray, list[str], str]:
    """2-D coordinates, axis names and a note on how they were made."""
    n = len(x)
    if projection == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(x)
        ev = pca.explained_variance_ratio_
        axes = [f"PC{i + 1} ({100 * ev[i]:.0f}% of variance)" for i in range(2)]
        return pca.transform(x), axes, "PCA"
    note = ""
    if projection == "umap":
        try:
            import umap
        except ImportError:
            raise ImportError(
                "projection='umap' needs the optional umap-learn package: pip install "
                "'umap-learn>=0.5,<0.6' (or use projection='tsne' or 'pca')"
            ) from None
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(x)), ["UMAP 1", "UMAP 2"], "UMAP"
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if x.shape[1] > 50 and n > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
        note = " of the top 50 principal components"
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    tsne = TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed
    )
    return (
        _run_tsne(tsne, x, progress),
        ["t-SNE 1", "t-SNE 2"],
        f"t-SNE{note}, perplexity {perplexity:.3g}",
    )


def sample_indices(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Which of ``n`` windows a map draws: the rule of :func:`plot_embedding_map`.

    All of them when ``n <= max_points``; otherwise ``max_points`` drawn uniformly at random
    without replacement by ``numpy.random.default_rng(seed).choice``, in increasing order. Use
    it to embed only the windows that will be drawn.

    Parameters
    ----------
    n : int
        Number of windows.
    max_points : int
        Most windows drawn.
    seed : int
        Seed of the sample.

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices.
    """
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


@common._shared_doc
def plot_embedding_map(
    embeddings: np.ndarray,
    labels: np.ndarray | Sequence | None = None,
    users: np.ndarray | Sequence | None = None,
    *,
    out: str | os.PathLike[str],
    projection: str = "tsne",
    color_by: str = "label",
    label_names: Sequence[str] | None = None,
    html: bool = False,
    seed: int = 0,
    max_points: int = 5000,
    max_groups: int = 64,
    user_name: str = "user",
    progress: bool = False,
    title: str | None = None,
    note: str | None = None,
    dpi: int = 100,
) -> Path:
    """A 2-D map of window embeddings, coloured by label or by user.

    If there are more than ``max_points`` windows, a uniform random subset of ``max_points``
    of them is drawn without replacement with ``numpy.random.default_rng(seed)``; the picture
    says so. t-SNE (scikit-learn; on the top 50 principal components when the embeddings have
    more dimensions, perplexity ``min(30, (n - 1) / 3)``, PCA initialisation) is the default;
    UMAP needs the optional ``umap-learn`` package; PCA shows the share of variance per axis.
    Every colour group (class or user) gets its own colour, far apart from the others when
    there are many (:func:`relcon.apps.plots.common.class_palette`); the legend lists the
    groups when there are at most :data:`LEGEND_MAX` of them, else the subtitle says how many
    there are (the HTML tooltips name every point's group). With more than ``max_groups``
    groups the ``max_groups - 1`` largest (ties: by name) keep a colour and the others are
    drawn grey as "other". Points are drawn in a seeded random order so that no group is
    systematically hidden under another.

    Parameters
    ----------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings (e.g. from :meth:`relcon.ResNet1DEncoder.embed`), ``N >= 3``.
    labels : array-like, optional
        ``(N,)`` class codes (with ``label_names``; ``-1`` = unlabelled) or class names.
    users : array-like, optional
        ``(N,)`` user ids (or any other grouping, e.g. recordings; see ``user_name``).
    projection : {"tsne", "umap", "pca"}
        Projection to 2-D.
    color_by : {"label", "user"}
        What the colours show; the other one appears in the HTML tooltips.
    label_names : sequence of str, optional
        Code -> name for integer ``labels``.
    seed : int
        Seed of the subsample, the drawing order and the projection.
    max_points : int
        Most windows drawn (``>= 3``).
    max_groups : int
        Most colour groups (``>= 2``).
    user_name : str
        What ``users`` are, in the title and legend (e.g. ``"recording"``).
    progress : bool
        Show t-SNE's progress (iterations done, time left) on stderr.
    note : str, optional
        A line under the title (e.g. which encoder made the embeddings).
    {output}

    Raises
    ------
    ValueError
        On an unknown ``projection`` or ``color_by``, embeddings that are not a finite ``(N, D)``
        array with ``N >= 3``, ``labels`` / ``users`` whose length is not ``N``, or a missing
        ``labels`` / ``users`` for the requested ``color_by``.
    ImportError
        For ``projection="umap"`` without ``umap-learn``.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}; use one of {list(PROJECTIONS)}")
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown color_by {color_by!r}; use one of {list(COLOR_BY)}")
    path, as_html = common._output(out, html)
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {emb.shape}")
    n = emb.shape[0]
    if n < 3 or emb.shape[1] < 1:
        raise ValueError(f"embeddings need at least 3 rows and 1 column, got shape {emb.shape}")
    common._finite("embeddings", emb)
    if max_points < 3 or max_groups < 2:
        raise ValueError(
            f"max_points must be >= 3 and max_groups >= 2, got {max_points}, {max_groups}"
        )
    lab = None if labels is None else np.asarray(labels)
    usr = None if users is None else np.asarray(users)
    for what, arr in (("labels", lab), ("users", usr)):
        if arr is not None and (arr.ndim != 1 or len(arr) != n):
            raise ValueError(
                f"{what} must be a 1-D array with one entry per embedding ({n}), got shape "
                f"{arr.shape}"
            )
    if color_by == "label" and lab is None:
        raise ValueError("color_by='label' needs labels (or use color_by='user' with users)")
    if color_by == "user" and usr is None:
        raise ValueError("color_by='user' needs users")
    if label_names is not None and lab is not None and lab.dtype.kind not in "iu":
        raise ValueError("label_names applies to integer label codes only")

    idx = sample_indices(n, max_points, seed)
    if n > max_points:
        sample_note = (
            f"{max_points} of {n} windows (uniform random sample without replacement, seed {seed})"
        )
    else:
        sample_note = f"{n} windows"
    lab_names = _display_names(lab[idx], label_names, "labels") if lab is not None else None
    usr_names = None
    if usr is not None:
        raw = np.array([_short_user(str(u)) for u in usr[idx].tolist()], dtype=object)
        usr_names = (raw, sorted(set(raw.tolist())))
    key_names, key_order = lab_names if color_by == "label" else usr_names  # type: ignore[misc]

    what = "activity" if color_by == "label" else user_name
    whats = "classes" if color_by == "label" else f"{user_name}s"
    counts = {k: int(np.sum(key_names == k)) for k in key_order}
    other_note, other_name = "", ""
    if len(key_order) > max_groups:
        keep = sorted(key_order, key=lambda k: -counts[k])[: max_groups - 1]
        rest = [k for k in key_order if k not in keep]
        key_order = [k for k in key_order if k in keep]
        other_name = f"other ({len(rest)} {whats})"
        key_names = np.where(np.isin(key_names, rest), other_name, key_names)
        other_note = f"; {len(rest)} more {whats} (the smallest) are grey"
    if len(key_order) > LEGEND_MAX:
        other_note += (
            f"\n{len(key_order)} {whats}, one colour each (too many to list; the HTML version "
            f"names every point's {what})"
        )
    palette = dict(zip(key_order, class_palette(len(key_order)), strict=True))
    groups = list(key_order)
    for extra in (other_name, "unlabelled"):
        if extra and np.any(key_names == extra):
            groups.append(extra)
            palette[extra] = UNLABELLED_COLOR
    gidx = {g: i for i, g in enumerate(groups)}
    g_of = np.array([gidx[k] for k in key_names.tolist()], dtype=np.int64)

    xy, axis_names, how = _project(emb[idx].astype(np.float64), projection, seed, progress)
    # random z-order: no group is buried systematically
    draw = np.random.default_rng([seed, 1]).permutation(len(idx))
    head = title or f"{_PROJECTION_TITLES[projection]} map of window embeddings, coloured by {what}"
    sub = f"{sample_note}\n{how}{other_note}"
    if note:
        sub += f"\n{note}"

    legend = len(key_order) <= LEGEND_MAX
    fig = _draw_map(
        xy, g_of, groups, palette, draw, axis_names, head, sub, what, projection, legend
    )
    if not as_html:
        return common._save_figure(fig, path, dpi)
    tips = []
    for j, i in enumerate(idx.tolist()):
        parts = [f"window {i}"]
        if lab_names is not None:
            parts.append(f"label: {lab_names[0][j]}")
        if usr_names is not None:
            parts.append(f"{user_name}: {usr_names[0][j]}")
        tips.append(" | ".join(parts))
    spec = {
        "kind": "scatter",
        "title": head,
        "subtitle": sub,
        "xlabel": axis_names[0],
        "ylabel": axis_names[1],
        "legend_title": what,
        "groups": [
            {"name": g, "color": palette[g], "count": int(np.sum(g_of == k))}
            for k, g in enumerate(groups)
        ],
        "points": {
            "x": common._round_list(xy[draw, 0], 4),
            "y": common._round_list(xy[draw, 1], 4),
            "g": g_of[draw].tolist(),
            "index": idx[draw].tolist(),
            "tip": [tips[j] for j in draw.tolist()],
        },
    }
    return _write_html(path, spec, common._png_bytes(fig, dpi))


def _draw_map(
    xy: np.ndarray,
    g_of: np.ndarray,
    groups: list[str],
    palette: dict[str, str],
    draw: np.ndarray,
    axis_names: list[str],
    head: str,
    sub: str,
    what: str,
    projection: str,
    legend: bool,
) -> Figure:
    from matplotlib.lines import Line2D

    n = len(xy)
    fig = common._new_figure(9.5, 7.0)
    ax = fig.add_subplot()
    size = float(np.clip(12000 / n, 5, 40))
    cols = np.array([palette[g] for g in groups], dtype=object)[g_of[draw]]
    ax.scatter(xy[draw, 0], xy[draw, 1], s=size, c=list(cols), alpha=0.75, lw=0, rasterized=True)
    ax.set_xlabel(axis_names[0], fontsize=10)
    ax.set_ylabel(axis_names[1], fontsize=10)
    if projection != "pca":  # t-SNE / UMAP coordinates have no units: hide the numbers
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    handles = [
        Line2D(
            [], [], ls="", marker="o", ms=7, color=palette[g],
            label=f"{g} ({int(np.sum(g_of == k))})",
        )
        for k, g in enumerate(groups)
    ]  # fmt: skip
    if legend:
        ax.legend(
            handles=handles, title=f"{what} (windows)", loc="upper left",
            bbox_to_anchor=(1.01, 1.0), fontsize=9, title_fontsize=9, frameon=False,
            handletextpad=0.3,
        )  # fmt: skip
    fig.suptitle(f"{head}\n{sub}", fontsize=11)
    return fig
