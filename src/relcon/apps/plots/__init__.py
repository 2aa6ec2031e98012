"""Pictures of recordings, window embeddings and the learned motif distance (``relcon plot``).

Three pictures, each written atomically as a PNG (or SVG / PDF, from the file suffix) or, with
``html=True``, as one self-contained interactive HTML file:

* :func:`plot_recording` - the acceleration trace of a recording (x, y, z and ``|a|`` in g over
  time), drawn as per-bin min/max envelopes so that hours of data stay readable and no sample is
  left out, with a band of coloured windows under it: the classes a fine-tuned model predicts
  and/or the recording's own labels;
* :func:`plot_embedding_map` - a 2-D map (t-SNE, UMAP or PCA) of window embeddings coloured by
  label or by user;
* :func:`plot_distance_ranking` - an anchor window beside candidate windows ranked by a
  :class:`~relcon.models.distance.MotifDistance`, closest first.

Interactive HTML, and why it needs no new dependency
----------------------------------------------------
The HTML files are written by this module alone: the figure's data go into a
``<script type="application/json" id="relcon-data">`` block, a ~10 kB vanilla-JavaScript viewer
draws them as SVG (hover tooltips; wheel zoom, drag to pan and double-click to reset on the map
and the trace; legend entries toggle classes on the map), and the static PNG is embedded too
(base64) for printing and sharing. Nothing is fetched from the network, so the files work
offline and from e-mail attachments. Plotly would add a ~3.5 MB JavaScript bundle to every file
(to work offline) and a dependency for three plot types that need only points, lines and
rectangles. The JSON block is also the machine-readable record of what is drawn.

Matplotlib is used through :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so the
functions never change the global backend of a notebook or an application that imports them.

``relcon plot`` is :func:`plot_command` with a :class:`PlotConfig` (one field per option):
it reads the input (:mod:`.inputs`: a recording file, a task file, or the embeddings table that
``relcon embed`` writes), loads the model through :func:`relcon.load` and draws the picture.

Modules: :mod:`.recording` + :mod:`.trace`, :mod:`.map`, :mod:`.distance` (one picture each),
:mod:`.inputs` (task files and embeddings tables), :mod:`.common` (colours, envelope, output)
and :mod:`.html` (the viewer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relcon.apps.plots.common import (
    AXIS_COLORS,
    UNLABELLED_COLOR,
    class_palette,
    distinct_colors,
    envelope,
)
from relcon.apps.plots.distance import plot_distance_ranking, ranked_distances, ranking_windows
from relcon.apps.plots.inputs import EmbeddingTable, read_embeddings, read_task_file
from relcon.apps.plots.map import COLOR_BY, PROJECTIONS, plot_embedding_map, sample_indices
from relcon.apps.plots.recording import plot_recording

__all__ = [
    "AXIS_COLORS",
    "COLOR_BY",
    "PROJECTIONS",
    "UNLABELLED_COLOR",
    "EmbeddingTable",
    "PlotConfig",
    "class_palette",
    "distinct_colors",
    "envelope",
    "plot_command",
    "plot_distance_ranking",
    "plot_embedding_map",
    "plot_recording",
    "ranked_distances",
    "ranking_windows",
    "read_embeddings",
    "read_task_file",
    "sample_indices",
]

PICTURES: tuple[str, ...] = ("recording", "map", "distance")


@dataclass
class PlotConfig:
    """``relcon plot``: one field per option of ``relcon plot recording|map|distance``."""

    what: str = "recording"  # recording | map | distance
    input: str = ""  # recording file (recording); task .npz or embeddings table (map); task .npz
    out: str = ""  # picture file: .png, .svg, .pdf or .html
    model: str | None = None  # finetune folder (recording), encoder (map), distance (distance)
    html: bool = False  # interactive HTML instead of a PNG
    #: map projection: tsne | umap | pca
    projection: str = field(default="tsne", metadata={"choices": ("tsne", "umap", "pca")})
    #: map colours: label | user
    color_by: str = field(default="label", metadata={"choices": ("label", "user")})
    max_points: int = 5000  # windows drawn on the map
    user: str | None = None  # distance: the anchor's user (default: random)
    anchor_label: str | None = None  # distance: class name of the anchor (default: any)
    per_label: int = 5  # distance: candidates per class
    top: int = 8  # distance: closest candidates shown
    farthest: int = 4  # distance: farthest candidates shown
    seed: int = 0
    no_progress: bool = False


def plot_command(cfg: PlotConfig) -> Path:
    """Draw the picture ``cfg`` asks for (what ``relcon plot`` does); returns the file written.

    ``map`` reads a task file (its windows embedded with ``cfg.model``, the shipped encoder by
    default) or an embeddings table from ``relcon embed`` (drawn as it is, coloured by its
    label column or else by recording); ``distance`` reads a task file.
    """
    if cfg.what not in PICTURES:
        raise ValueError(f"unknown picture {cfg.what!r}; choose one of {list(PICTURES)}")
    if not cfg.out:
        raise ValueError("give the picture file to write (out)")
    out = Path(cfg.out)
    if cfg.html and out.suffix.lower() != ".html":
        out = out.with_suffix(".html")
    if cfg.what == "recording":
        return plot_recording(cfg.input, out, model=cfg.model, html=cfg.html)
    if cfg.what == "map":
        return _map_command(cfg, out)
    return _distance_command(cfg, out)


def _map_command(cfg: PlotConfig, out: Path) -> Path:
    import relcon

    common = {
        "out": out, "projection": cfg.projection, "html": cfg.html, "seed": cfg.seed,
        "max_points": cfg.max_points, "progress": not cfg.no_progress,
    }  # fmt: skip
    name = Path(cfg.input).name.lower()
    if not name.endswith(".npz"):
        table = read_embeddings(cfg.input)
        by_label = table.labels is not None and cfg.color_by == "label"
        return plot_embedding_map(
            table.embeddings, table.labels, table.recordings, user_name="recording",
            color_by="label" if by_label else "user",
            note=f"{Path(table.source).name}: embeddings written by relcon embed", **common,
        )  # fmt: skip
    task = read_task_file(cfg.input)
    classes = task.task_type == "classification"
    encoder = relcon.load(cfg.model, kind="encoder")
    pick = sample_indices(len(task), cfg.max_points, cfg.seed)
    emb = encoder.embed(task.X[pick], progress=not cfg.no_progress)
    return plot_embedding_map(
        emb, task.y[pick] if classes else None, task.groups[pick],
        color_by=cfg.color_by if classes else "user",
        label_names=list(task.label_names) if task.label_names else None,
        note=f"{task.name}; encoder: {cfg.model or 'the shipped RelCon model'}", **common,
    )  # fmt: skip


def _distance_command(cfg: PlotConfig, out: Path) -> Path:
    import relcon

    task = read_task_file(cfg.input)
    names = list(task.label_names) if task.label_names else None
    classes = task.task_type == "classification"
    labels = task.y.astype(int) if classes else np.full(len(task), -1)
    anchor_label = None
    if cfg.anchor_label is not None:
        if names is None or cfg.anchor_label not in names:
            raise ValueError(
                f"{cfg.input}: anchor label {cfg.anchor_label!r} is not one of its classes {names}"
            )
        anchor_label = names.index(cfg.anchor_label)
    anchor, cands = ranking_windows(
        labels, task.groups.astype(str), user=cfg.user, anchor_label=anchor_label,
        per_label=cfg.per_label, seed=cfg.seed,
    )  # fmt: skip

    def name(c: int) -> str:
        return names[c] if names and c >= 0 else ""

    distance = relcon.load(cfg.model, kind="distance")
    return plot_distance_ranking(
        distance, task.X[anchor], task.X[cands], out, top=cfg.top, farthest=cfg.farthest,
        labels=[name(int(c)) for c in labels[cands]] if names else None,
        anchor_label=name(int(labels[anchor])) or None, html=cfg.html,
    )  # fmt: skip
