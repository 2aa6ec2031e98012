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
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.data.readers import Recording
from relcon.io import atomic_path, atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from relcon.finetune import FinetunedModel
    from relcon.models.distance import MotifDistance

__all__ = [
    "AXIS_COLORS",
    "COLOR_BY",
    "MAP_METHODS",
    "UNLABELLED_COLOR",
    "class_palette",
    "envelope",
    "plot_distance_ranking",
    "plot_embedding_map",
    "plot_recording",
    "ranked_distances",
    "ranking_windows",
    "sample_indices",
]

#: Colours of the x, y, z axes and of ``|a|`` (Okabe-Ito; distinguishable with colour blindness).
AXIS_COLORS: dict[str, str] = {"x": "#0072B2", "y": "#D55E00", "z": "#009E73", "|a|": "#3a3a3a"}

#: Colour of unlabelled / mixed windows and of the "other" group on maps.
UNLABELLED_COLOR = "#c8c8c8"

#: Projections :func:`plot_embedding_map` knows.
MAP_METHODS: tuple[str, ...] = ("tsne", "umap", "pca")

#: What :func:`plot_embedding_map` can colour by.
COLOR_BY: tuple[str, ...] = ("label", "user")

WINDOW = 256  # samples per model window (2.56 s at 100 Hz)
MODEL_FS = 100.0

# tab10 without its grey (kept for "unlabelled"), then tab20's light shades and two dark ones.
_PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
    "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939",
)  # fmt: skip

_METHOD_TITLES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
_VECTOR_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def class_palette(n: int) -> list[str]:
    """``n`` distinct colours: tab10 without grey, then light shades; evenly spaced hues beyond 20.

    Parameters
    ----------
    n : int
        Number of colours.

    Returns
    -------
    list of str
        Hex colours ``"#rrggbb"``.
    """
    if n <= len(_PALETTE):
        return list(_PALETTE[:n])
    from matplotlib.colors import hsv_to_rgb, to_hex

    return [to_hex(hsv_to_rgb((i / n, 0.65, 0.85 if i % 2 else 0.65))) for i in range(n)]


# ----------------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------------


def envelope(x: np.ndarray, per_bin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max envelope of a signal in bins of ``per_bin`` consecutive samples.

    Every sample falls in exactly one bin (the last bin may be shorter), so the envelope shows
    every extreme value however long the recording is: nothing is dropped to thin it out.

    Parameters
    ----------
    x : numpy.ndarray
        ``(T,)`` or ``(T, C)`` signal, ``T >= 1``.
    per_bin : int
        Samples per bin (``>= 1``).

    Returns
    -------
    start : numpy.ndarray
        ``(B,)`` index of the first sample of each bin, ``B = ceil(T / per_bin)``.
    lo, hi : numpy.ndarray
        ``(B,)`` or ``(B, C)`` minimum and maximum of each bin.

    Raises
    ------
    ValueError
        If ``x`` is empty or ``per_bin < 1``.
    """
    x = np.asarray(x)
    if x.shape[0] == 0:
        raise ValueError("envelope(): empty signal")
    if int(per_bin) != per_bin or per_bin < 1:
        raise ValueError(f"envelope(): per_bin must be a positive integer, got {per_bin}")
    start = np.arange(0, x.shape[0], int(per_bin))
    return start, np.minimum.reduceat(x, start, axis=0), np.maximum.reduceat(x, start, axis=0)


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _output(out: str | os.PathLike[str], html: bool) -> tuple[Path, bool]:
    """Resolve the output path and whether it is HTML (``.html`` implies ``html=True``)."""
    path = Path(out).expanduser()
    if path.suffix.lower() in (".html", ".htm"):
        return path, True
    if html:
        return path.with_suffix(".html"), True
    if path.suffix and path.suffix.lower() not in _VECTOR_FORMATS:
        raise ValueError(
            f"{path}: unsupported picture format {path.suffix!r}; use .png, .svg, .pdf or .html"
        )
    return (path if path.suffix else path.with_suffix(".png")), False


def _png_bytes(fig: Figure, dpi: int) -> bytes:
    """The figure as an 8-bit palette PNG (a third of the size; plots use few colours)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        rgb = im.convert("RGB")
    pal = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    fmt = _VECTOR_FORMATS[path.suffix.lower()]
    with atomic_path(path) as tmp:
        if fmt == "png":
            tmp.write_bytes(_png_bytes(fig, dpi))
        else:
            fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def _round_list(a: np.ndarray, decimals: int = 4) -> list:
    """A JSON-ready list with ``NaN`` as ``None`` and values rounded (smaller files)."""
    a = np.round(np.asarray(a, dtype=np.float64), decimals)
    out = a.tolist()
    if np.isnan(a).any():
        flat = np.isnan(a)
        if a.ndim == 1:
            out = [None if m else v for v, m in zip(out, flat, strict=True)]
        else:
            out = [
                [None if m else v for v, m in zip(row, mrow, strict=True)]
                for row, mrow in zip(out, flat, strict=True)
            ]
    return out


def _write_html(path: Path, spec: dict[str, Any], png: bytes) -> Path:
    """One self-contained page: the data (JSON), the SVG viewer and the static PNG."""
    data = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = html_lib.escape(str(spec.get("title", "relcon plot")))
    subtitle = html_lib.escape(str(spec.get("subtitle", "")))
    img = base64.b64encode(png).decode("ascii")
    page = _HTML_TEMPLATE.format(
        title=title, subtitle=subtitle, data=data, img=img, css=_CSS, js=_VIEWER_JS,
        help=html_lib.escape(_HELP[spec["kind"]]),
    )  # fmt: skip
    atomic_write_text(path, page)
    return path


def _finite(name: str, a: np.ndarray) -> None:
    if not np.issubdtype(a.dtype, np.number) or a.dtype.kind == "c":
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).reshape(len(a), -1).all(axis=1))[0])
        raise ValueError(f"{name} has non-finite values (first at index {bad})")


# ----------------------------------------------------------------------------------------------
# plot_recording
# ----------------------------------------------------------------------------------------------


@dataclass
class _Piece:
    t0: float  # start, seconds after the first piece's start
    x: np.ndarray  # (T, 3) in g
    fs: float
    labels: np.ndarray | None


@dataclass
class _Band:
    name: str
    runs: list[tuple[float, float, str]]  # (start s, end s, class name)


def _as_pieces(
    recording: Recording | Sequence[Recording] | str | os.PathLike[str],
    read_kwargs: dict[str, Any] | None = None,
) -> list[Recording]:
    if isinstance(recording, Recording):
        return [recording]
    if isinstance(recording, str | os.PathLike):
        path = Path(recording).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: recording file not found")
        from relcon.data.readers import read_accel_csv

        return read_accel_csv(path, **(read_kwargs or {}))
    if isinstance(recording, Sequence) and recording:
        recs = list(recording)
        bad = [type(r).__name__ for r in recs if not isinstance(r, Recording)]
        if bad:
            raise TypeError(f"expected Recording objects, got {bad[0]}")
        return recs
    raise TypeError(
        "recording must be a Recording, a non-empty list of Recording pieces or a file path, "
        f"got {type(recording).__name__}"
    )


def _load_finetuned(model: FinetunedModel | str | os.PathLike[str]) -> FinetunedModel:
    from relcon.finetune import FinetunedModel

    if isinstance(model, str | os.PathLike):
        model = FinetunedModel.load(model)
    if not isinstance(model, FinetunedModel):
        raise TypeError(f"model must be a FinetunedModel or its folder, got {type(model).__name__}")
    if model.task_type != "classification" or model.classes is None:
        raise ValueError(
            f"plot_recording colours windows by class, but the model is a {model.task_type} model"
        )
    return model


def _model_class_names(model: FinetunedModel, rec_names: tuple[str, ...]) -> dict[int, str]:
    codes = [int(c) for c in np.asarray(model.classes)]
    names = model.info.get("label_names") if isinstance(model.info, dict) else None
    if names:
        return {c: str(names[c]) if 0 <= c < len(names) else f"class {c}" for c in codes}
    if rec_names and all(0 <= c < len(rec_names) for c in codes):
        return {c: rec_names[c] for c in codes}
    return {c: f"class {c}" for c in codes}


def _runs(starts_s: np.ndarray, names: list[str], width_s: float) -> list[tuple[float, float, str]]:
    """Merge consecutive windows of the same class into ``(start, end, name)`` runs."""
    out: list[tuple[float, float, str]] = []
    for s, name in zip(starts_s.tolist(), names, strict=True):
        if out and out[-1][2] == name and abs(out[-1][1] - s) < 1e-6:
            out[-1] = (out[-1][0], s + width_s, name)
        else:
            out.append((s, s + width_s, name))
    return out


def _time_unit(span_s: float) -> tuple[str, float]:
    if span_s <= 600:
        return "s", 1.0
    if span_s <= 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def _fmt_duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def plot_recording(
    recording: Recording | Sequence[Recording] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: FinetunedModel | str | os.PathLike[str] | None = None,
    html: bool = False,
    title: str | None = None,
    read_kwargs: dict[str, Any] | None = None,
    max_bins: int = 1200,
    html_bins: int = 5000,
    dpi: int = 100,
) -> Path:
    """Draw a recording's acceleration and its windows coloured by class.

    Four rows share the time axis: x, y and z (same scale, so they compare) and ``|a|``, each
    drawn as the min/max envelope of bins of consecutive samples (:func:`envelope`; about
    ``max_bins`` bins over the whole recording, i.e. about one per pixel), so an hours-long
    recording keeps every spike and nothing is thinned out by dropping samples. Short
    recordings (a bin of one sample) are drawn as plain lines. Gaps between pieces of a
    recording are shaded grey.

    Under the trace, one band per source of classes, over the model's non-overlapping
    2.56 s windows (256 samples at 100 Hz): ``predicted`` when a fine-tuned classifier is given,
    ``true label`` when the recording has per-sample labels (a window takes the class of at
    least half its samples, else it is "unlabelled / mixed"). With both, the title gives the
    share of labelled windows where they agree.

    A file is streamed with :func:`relcon.embed.iter_windows` when that module is available
    (CSV, Parquet, .npz and device files of any length, in bounded memory: the envelope is
    kept at a resolution that halves whenever it would exceed 65,536 blocks, and never coarser
    than one block per 2.56 s window); the trace then shows the samples of the whole 2.56 s
    windows, i.e. all but the last < 2.56 s of each gap-free stretch, non-wear included.
    Otherwise the file is read whole with :func:`relcon.data.readers.read_accel_csv`.

    Parameters
    ----------
    recording : Recording, list of Recording or path-like
        A recording, the gap-free pieces of one recording (drawn on their common clock), or a
        recording file.
    out : path-like
        Output file: ``.png`` (default), ``.svg``, ``.pdf`` or ``.html``.
    model : FinetunedModel or path-like, optional
        A fine-tuned classifier (or the folder it was saved in) whose predictions colour the
        windows.
    html : bool
        Write an interactive HTML file instead (the suffix becomes ``.html``).
    title : str, optional
        Figure title; the recording id by default.
    read_kwargs : dict, optional
        Extra arguments for the file reader (e.g. ``units``, ``time_column``).
    max_bins : int
        Approximate number of envelope bins across the picture.
    html_bins : int
        Approximate number of envelope bins in the HTML file (finer, for zooming).
    dpi : int
        Resolution of the PNG (the figure is 12 inches wide).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileNotFoundError
        If a recording file does not exist.
    TypeError
        If ``recording`` or ``model`` has the wrong type.
    ValueError
        On a malformed recording (not ``(T, 3)``, non-finite values, no samples, a file the
        reader rejects), a model with a recording not at 100 Hz, or a regression model.
    """
    path, as_html = _output(out, html)
    if max_bins < 10 or html_bins < 10:
        raise ValueError(f"max_bins and html_bins must be >= 10, got {max_bins}, {html_bins}")
    finetuned = _load_finetuned(model) if model is not None else None
    if isinstance(recording, str | os.PathLike):
        trace = _trace_from_file(Path(recording).expanduser(), finetuned, read_kwargs or {})
    else:
        trace = _trace_from_recordings(_as_pieces(recording), finetuned)

    order = [n for n in dict.fromkeys(trace.class_order) if n != _MIXED]
    colors = dict(zip(order, class_palette(len(order)), strict=True))
    colors[_MIXED] = UNLABELLED_COLOR
    used = [n for n in [*order, _MIXED] if any(n == c for b in trace.bands for *_, c in b.runs)]

    head = title or trace.name
    sub = f"{_fmt_duration(trace.span)} at {trace.fs:g} Hz"
    if trace.gaps:
        sub += f", {len(trace.gaps)} gap{'s' if len(trace.gaps) > 1 else ''} (grey)"
    if trace.start_note:
        sub += f", {trace.start_note}"
    if trace.bands:
        sub += (
            f"; {trace.n_windows} windows of {WINDOW / trace.fs:g} s coloured by "
            f"{' and '.join(b.name for b in trace.bands)}"
        )
    if trace.agreement is not None:
        sub += f"; predicted = label in {100 * trace.agreement:.1f}% of labelled windows"

    fig = _draw_recording(trace, colors, used, head, sub, max_bins)
    if not as_html:
        return _save_figure(fig, path, dpi)
    spec = _recording_spec(trace, colors, used, head, sub, html_bins)
    return _write_html(path, spec, _png_bytes(fig, dpi))


_MIXED = "unlabelled / mixed"


@dataclass
class _Trace:
    """What the picture of a recording shows, however its samples were read."""

    name: str
    span: float  # seconds from the first sample to the end of the last
    fs: float
    gaps: list[tuple[float, float]]
    n_windows: int
    bands: list[_Band]
    class_order: list[str]
    agreement: float | None
    lanes: Any  # (n_bins, steps) -> (t, lanes), see _lanes
    start_note: str = ""
    note: str = ""


def _trace_from_recordings(recs: list[Recording], finetuned: FinetunedModel | None) -> _Trace:
    for r in recs:
        x = np.asarray(r.x)
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"recording {r.recording!r}: x must be (T, 3), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"recording {r.recording!r} has no samples")
        _finite(f"recording {r.recording!r}", x)
        if r.labels is not None and np.shape(r.labels) != (x.shape[0],):
            raise ValueError(
                f"recording {r.recording!r}: labels have shape {np.shape(r.labels)}, "
                f"expected ({x.shape[0]},)"
            )
        if not (r.fs > 0):
            raise ValueError(f"recording {r.recording!r}: fs must be positive, got {r.fs}")
    recs = sorted(recs, key=lambda r: r.start_s)
    origin = recs[0].start_s
    pieces = [
        _Piece(r.start_s - origin, np.asarray(r.x, dtype=np.float32), float(r.fs), r.labels)
        for r in recs
    ]
    span = max(p.t0 + len(p.x) / p.fs for p in pieces)
    label_names = tuple(recs[0].label_names)
    bands: list[_Band] = []
    order: list[str] = []
    n_windows = sum(max(0, (len(p.x) - WINDOW) // WINDOW + 1) for p in pieces)
    agreement: float | None = None
    pred_all: list[str] = []
    if finetuned is not None:
        if any(abs(p.fs - MODEL_FS) > 1e-9 for p in pieces):
            raise ValueError(
                f"the model needs 100 Hz input; the recording is at {pieces[0].fs:g} Hz "
                "(resample it with relcon.data.signal.resample first)"
            )
        cname = _model_class_names(finetuned, label_names)
        order += list(cname.values())
        pred_runs: list[tuple[float, float, str]] = []
        for p in pieces:
            n = (len(p.x) - WINDOW) // WINDOW + 1
            if n <= 0:
                continue
            win = p.x[: n * WINDOW].reshape(n, WINDOW, 3)
            names = [cname[int(c)] for c in finetuned.predict(win)]
            pred_all += names
            pred_runs += _runs(p.t0 + np.arange(n) * WINDOW / p.fs, names, WINDOW / p.fs)
        bands.append(_Band("predicted", pred_runs))
    if all(p.labels is not None for p in pieces) and label_names:
        from relcon.data.windowing import window_labels

        true_runs: list[tuple[float, float, str]] = []
        true_all: list[str] = []
        for p in pieces:
            wl = window_labels(
                np.asarray(p.labels), len(label_names), WINDOW, WINDOW, min_label_fraction=0.5
            )
            names = [label_names[c] if c >= 0 else _MIXED for c in wl.tolist()]
            true_all += names
            true_runs += _runs(p.t0 + np.arange(len(wl)) * WINDOW / p.fs, names, WINDOW / p.fs)
        bands.append(_Band("true label", true_runs))
        order += [n for n in label_names if n in set(true_all)]
        labelled = np.array([n != _MIXED for n in true_all], dtype=bool)
        if finetuned is not None and labelled.any():
            agree = np.array(pred_all, dtype=object) == np.array(true_all, dtype=object)
            agreement = float(agree[labelled].mean())
    name = recs[0].recording if len(recs) == 1 else recs[0].recording.rsplit(":", 1)[0]
    return _Trace(
        name=name, span=span, fs=pieces[0].fs, gaps=_gaps(pieces), n_windows=n_windows,
        bands=bands, class_order=order, agreement=agreement,
        lanes=lambda n_bins, steps: _lanes(pieces, span, n_bins, steps=steps),
    )  # fmt: skip


class _BlockStore:
    """Min/max of x, y, z and ``|a|`` over blocks of ``sub`` samples of streamed windows.

    ``sub`` starts at 1 and doubles (neighbouring blocks of a window merged) whenever more than
    ``cap`` blocks are held, up to one block per 256-sample window; memory stays bounded by
    ``cap`` blocks, plus 9 numbers per window for recordings longer than ``cap`` windows.
    """

    def __init__(self, cap: int = 1 << 16) -> None:
        self.sub = 1
        self.cap = cap
        self.t: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.n = 0

    def add(self, start_s: np.ndarray, x: np.ndarray) -> None:
        mag = np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=2, keepdims=True))
        sig = np.concatenate([x, mag.astype(np.float32)], axis=2)
        k = WINDOW // self.sub
        blocks = sig.reshape(len(x), k, self.sub, 4)
        self.lo.append(blocks.min(axis=2).reshape(-1, 4))
        self.hi.append(blocks.max(axis=2).reshape(-1, 4))
        self.t.append((start_s[:, None] + np.arange(k) * self.sub / MODEL_FS).reshape(-1))
        self.n += len(x) * k
        while self.n > self.cap and self.sub < WINDOW:
            t, lo, hi = self.arrays()
            self.t, self.lo = [t[0::2]], [np.minimum(lo[0::2], lo[1::2])]
            self.hi = [np.maximum(hi[0::2], hi[1::2])]
            self.sub *= 2
            self.n = len(self.t[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.t:
            return np.zeros(0), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)
        return np.concatenate(self.t), np.concatenate(self.lo), np.concatenate(self.hi)


def _lanes_from_blocks(
    t: np.ndarray, lo: np.ndarray, hi: np.ndarray, dur: float, span: float, n_bins: int,
    steps: bool,
) -> tuple[np.ndarray, list[dict[str, Any]]]:  # fmt: skip
    """Envelope bins from the blocks of a :class:`_BlockStore` (times relative to the start)."""
    bin_s = span / n_bins
    ids = np.floor(t / bin_s).astype(np.int64)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    last = np.r_[first[1:] - 1, len(t) - 1]
    blo, bhi = np.minimum.reduceat(lo, first, axis=0), np.maximum.reduceat(hi, first, axis=0)
    t0, t1 = t[first], t[last] + dur - 1 / MODEL_FS  # first and last sample of each bin
    cut = np.flatnonzero(t0[1:] - t1[:-1] > 1.5 / MODEL_FS) + 1  # data missing between bins
    if steps:
        tt = np.stack([t0, t1], axis=1).reshape(-1)
        blo, bhi = np.repeat(blo, 2, axis=0), np.repeat(bhi, 2, axis=0)
        cut = cut * 2
    else:
        tt = (t0 + t1) / 2
    tt = np.insert(tt, cut, np.nan)
    blo = np.insert(blo.astype(np.float64), cut, np.nan, axis=0)
    bhi = np.insert(bhi.astype(np.float64), cut, np.nan, axis=0)
    lanes = [
        {"name": k, "color": AXIS_COLORS[k], "lo": blo[:, j], "hi": bhi[:, j]}
        for j, k in enumerate(AXIS_COLORS)
    ]
    return tt, lanes


def _trace_from_file(
    path: Path, finetuned: FinetunedModel | None, read_kwargs: dict[str, Any]
) -> _Trace:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: recording file not found")
    try:
        from relcon.embed import iter_windows
    except ImportError:  # the streaming reader is not part of this installation
        return _trace_from_recordings(_as_pieces(path, read_kwargs), finetuned)
    store = _BlockStore()
    starts: list[np.ndarray] = []
    ks: list[np.ndarray] = []
    pred: list[str] = []
    cname = _model_class_names(finetuned, ()) if finetuned is not None else {}
    it = iter_windows(path, drop_nonwear=False, **read_kwargs)
    with it:
        for batch in it:
            if len(batch) == 0:
                continue
            store.add(batch.start_s, batch.x)
            starts.append(batch.start_s)
            ks.append(batch.window)
            if finetuned is not None:
                pred += [cname[int(c)] for c in finetuned.predict(batch.x)]
    summary = it.summary
    if not starts:
        raise ValueError(f"{path}: no 2.56 s window of data to draw")
    origin = float(summary.start_s)
    start = np.concatenate(starts) - origin
    k = np.concatenate(ks)
    w_s = WINDOW / MODEL_FS
    span = float(start[-1] + w_s)
    jumps = np.flatnonzero(np.diff(k) > 1)
    gaps = [(float(start[j] + w_s), float(start[j + 1])) for j in jumps]
    if start[0] > 1e-9:
        gaps.insert(0, (0.0, float(start[0])))
    t, lo, hi = store.arrays()
    t = t - origin
    dur = store.sub / MODEL_FS
    bands = [_Band("predicted", _runs(start, pred, w_s))] if finetuned is not None else []
    start_note = ""
    if summary.absolute_time:
        import datetime as dt

        t0 = dt.datetime.fromtimestamp(origin, tz=dt.timezone.utc)
        start_note = f"starts {t0:%Y-%m-%d %H:%M:%S} UTC"
    return _Trace(
        name=summary.recording or path.name, span=span, fs=MODEL_FS, gaps=gaps,
        n_windows=len(start), bands=bands, class_order=list(cname.values()), agreement=None,
        lanes=lambda n_bins, steps: _lanes_from_blocks(t, lo, hi, dur, span, n_bins, steps),
        start_note=start_note,
        note="read with relcon.embed.iter_windows: the samples of whole 2.56 s windows at "
        "100 Hz (the last < 2.56 s of each gap-free stretch is not drawn)",
    )  # fmt: skip


def _lanes(
    pieces: list[_Piece], span: float, n_bins: int, *, steps: bool = True
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Envelopes of x, y, z and ``|a|`` on a shared time axis, pieces separated by NaN.

    With ``steps`` each bin is drawn flat from its first to its last sample time (two points
    per bin); otherwise one point per bin at its centre (half the data, for HTML).
    """
    bin_s = span / n_bins
    ts: list[np.ndarray] = []
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    for p in pieces:
        per = max(1, int(bin_s * p.fs))
        mag = np.sqrt(np.sum(np.square(p.x, dtype=np.float64), axis=1)).astype(np.float32)
        sig = np.concatenate([p.x, mag[:, None]], axis=1)
        start, lo, hi = envelope(sig, per)
        t = p.t0 + start / p.fs
        t_end = p.t0 + (np.minimum(start + per, len(sig)) - 1) / p.fs
        if steps:
            t = np.stack([t, t_end], axis=1).reshape(-1)
            lo, hi = np.repeat(lo, 2, axis=0), np.repeat(hi, 2, axis=0)
        else:
            t = (t + t_end) / 2
        ts.append(np.append(t, np.nan))
        los.append(np.vstack([lo, np.full((1, 4), np.nan)]))
        his.append(np.vstack([hi, np.full((1, 4), np.nan)]))
    t_all = np.concatenate(ts)[:-1]
    lo_all, hi_all = np.concatenate(los)[:-1], np.concatenate(his)[:-1]
    lanes = [
        {"name": k, "color": AXIS_COLORS[k], "lo": lo_all[:, j], "hi": hi_all[:, j]}
        for j, k in enumerate(AXIS_COLORS)
    ]
    return t_all, lanes


def _ylims(lanes: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    xyz_lo = min(float(np.nanmin(ln["lo"])) for ln in lanes[:3])
    xyz_hi = max(float(np.nanmax(ln["hi"])) for ln in lanes[:3])
    pad = 0.05 * max(xyz_hi - xyz_lo, 0.1)
    mag_hi = float(np.nanmax(lanes[3]["hi"]))
    return {
        **{ln["name"]: (xyz_lo - pad, xyz_hi + pad) for ln in lanes[:3]},
        "|a|": (0.0, mag_hi + 0.05 * max(mag_hi, 0.1)),
    }


def _gaps(pieces: list[_Piece]) -> list[tuple[float, float]]:
    ends = [(p.t0, p.t0 + len(p.x) / p.fs) for p in pieces]
    return [(a_end, b0) for (_, a_end), (b0, _) in itertools.pairwise(ends) if b0 > a_end]


def _draw_recording(
    trace: _Trace, colors: dict[str, str], used: list[str], head: str, sub: str, max_bins: int
) -> Figure:
    from matplotlib.patches import Patch

    span, bands = trace.span, trace.bands
    unit, scale = _time_unit(span)
    t_all, lanes = trace.lanes(max_bins, True)
    ylim = _ylims(lanes)
    single = span / max_bins * trace.fs < 2  # about one sample per bin: a plain line
    nb = len(bands)
    fig = _new_figure(12, 1.35 * 4 + 0.42 * nb + (1.55 if nb else 1.1))
    grid = fig.add_gridspec(4 + nb, 1, height_ratios=[1.0] * 4 + [0.28] * nb)
    axes = [fig.add_subplot(grid[0])]
    axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in range(1, 4 + nb)]
    gaps = trace.gaps
    # class changes (of the last band) as faint lines across the trace, when there are few
    changes = []
    if bands and len(bands[-1].runs) <= 60:
        runs = bands[-1].runs
        changes = [b[0] for a, b in itertools.pairwise(runs) if abs(a[1] - b[0]) < 1e-6]
    for ax, ln in zip(axes[:4], lanes, strict=True):
        for c in changes:
            ax.axvline(c / scale, color="#9a9a9a", lw=0.7, ls=(0, (2, 2)), zorder=3)
        t = t_all / scale
        if single:  # one sample per bin: a plain line
            ax.plot(t, ln["hi"], color=ln["color"], lw=0.8)
        else:
            ax.fill_between(t, ln["lo"], ln["hi"], color=ln["color"], lw=0.4, ec=ln["color"])
        ax.set_ylim(*ylim[ln["name"]])
        ax.set_ylabel(f"{ln['name']} (g)", rotation=0, ha="right", va="center", fontsize=10)
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.set_axisbelow(True)
        for a, b in gaps:
            ax.axvspan(a / scale, b / scale, color="#eeeeee", lw=0)
        ax.tick_params(labelbottom=False, labelsize=9)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
    for ax, band in zip(axes[4:], bands, strict=True):
        by_class: dict[str, list[tuple[float, float]]] = {}
        for a, b, c in band.runs:
            by_class.setdefault(c, []).append((a / scale, (b - a) / scale))
        for c, spans in by_class.items():
            ax.broken_barh(spans, (0, 1), facecolors=colors[c], lw=0)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(band.name, rotation=0, ha="right", va="center", fontsize=10)
        ax.tick_params(labelbottom=False, labelsize=9)
        for s in ("top", "right", "left"):
            ax.spines[s].set_visible(False)
    axes[-1].tick_params(labelbottom=True)
    axes[-1].set_xlabel(f"time since start ({unit})", fontsize=10)
    axes[0].set_xlim(0, span / scale)
    fig.suptitle(f"{head}\n{sub}", fontsize=11)
    if used:
        handles = [Patch(color=colors[c], label=c) for c in used]
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 8),
            fontsize=9, frameon=False, handlelength=1.2, columnspacing=1.4,
        )  # fmt: skip
    return fig


def _recording_spec(
    trace: _Trace, colors: dict[str, str], used: list[str], head: str, sub: str, n_bins: int
) -> dict[str, Any]:
    unit, scale = _time_unit(trace.span)
    t_all, lanes = trace.lanes(n_bins, False)
    ylim = _ylims(lanes)
    bin_s = trace.span / n_bins
    note = (
        f"each drawn bin spans about {bin_s:.3g} s ({max(1, round(bin_s * trace.fs))} samples): "
        "the band between their minimum and maximum"
    )
    return {
        "kind": "series",
        "title": head,
        "subtitle": sub,
        "note": note + (f"; {trace.note}" if trace.note else ""),
        "time_unit": unit,
        "time_scale": scale,
        "span_s": trace.span,
        "t": _round_list(t_all, 3),
        "lanes": [
            {
                "name": f"{ln['name']} (g)",
                "color": ln["color"],
                "ylim": list(ylim[ln["name"]]),
                "lo": _round_list(ln["lo"], 3),
                "hi": _round_list(ln["hi"], 3),
            }
            for ln in lanes
        ],
        "gaps": [[a, b] for a, b in trace.gaps],
        "classes": [{"name": c, "color": colors[c]} for c in used],
        "bands": [
            {
                "name": b.name,
                "runs": [[round(a, 3), round(e, 3), used.index(c)] for a, e, c in b.runs],
            }
            for b in trace.bands
        ],
    }


# ----------------------------------------------------------------------------------------------
# plot_embedding_map
# ----------------------------------------------------------------------------------------------


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


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, list[str], str]:
    """2-D coordinates, axis names and a note on how they were made."""
    n = len(x)
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(x)
        ev = pca.explained_variance_ratio_
        axes = [f"PC{i + 1} ({100 * ev[i]:.0f}% of variance)" for i in range(2)]
        return pca.transform(x), axes, "PCA"
    note = ""
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ImportError(
                "method='umap' needs the optional umap-learn package: pip install "
                "'umap-learn>=0.5,<0.6' (or use method='tsne' or 'pca')"
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
        tsne.fit_transform(x),
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


def plot_embedding_map(
    embeddings: np.ndarray,
    labels: np.ndarray | Sequence | None = None,
    users: np.ndarray | Sequence | None = None,
    *,
    out: str | os.PathLike[str],
    method: str = "tsne",
    color_by: str = "label",
    label_names: Sequence[str] | None = None,
    html: bool = False,
    seed: int = 0,
    max_points: int = 5000,
    max_groups: int = 20,
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
    With more than ``max_groups`` colour groups, the ``max_groups - 1`` largest keep a colour
    and the others are drawn grey as "other". Points are drawn in a seeded random order so
    that no group is systematically hidden under another.

    Parameters
    ----------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings (e.g. from :meth:`relcon.ResNet1DEncoder.embed`), ``N >= 3``.
    labels : array-like, optional
        ``(N,)`` class codes (with ``label_names``; ``-1`` = unlabelled) or class names.
    users : array-like, optional
        ``(N,)`` user ids.
    out : path-like
        Output file: ``.png`` (default), ``.svg``, ``.pdf`` or ``.html`` (keyword only).
    method : {"tsne", "umap", "pca"}
        Projection to 2-D.
    color_by : {"label", "user"}
        What the colours show; the other one appears in the HTML tooltips.
    label_names : sequence of str, optional
        Code -> name for integer ``labels``.
    html : bool
        Write an interactive HTML file instead (the suffix becomes ``.html``).
    seed : int
        Seed of the subsample, the drawing order and the projection.
    max_points : int
        Most windows drawn (``>= 3``).
    max_groups : int
        Most colour groups (``>= 2``).
    title : str, optional
        Figure title.
    note : str, optional
        A line under the title (e.g. which encoder made the embeddings).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        On an unknown ``method`` or ``color_by``, embeddings that are not a finite ``(N, D)``
        array with ``N >= 3``, ``labels`` / ``users`` whose length is not ``N``, or a missing
        ``labels`` / ``users`` for the requested ``color_by``.
    ImportError
        For ``method="umap"`` without ``umap-learn``.
    """
    if method not in MAP_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {list(MAP_METHODS)}")
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown color_by {color_by!r}; use one of {list(COLOR_BY)}")
    path, as_html = _output(out, html)
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {emb.shape}")
    n = emb.shape[0]
    if n < 3 or emb.shape[1] < 1:
        raise ValueError(f"embeddings need at least 3 rows and 1 column, got shape {emb.shape}")
    _finite("embeddings", emb)
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

    counts = {k: int(np.sum(key_names == k)) for k in key_order}
    other_note = ""
    if len(key_order) > max_groups:
        keep = sorted(key_order, key=lambda k: -counts[k])[: max_groups - 1]
        rest = [k for k in key_order if k not in keep]
        key_order = [k for k in key_order if k in keep]
        other_name = f"other ({len(rest)} {'users' if color_by == 'user' else 'classes'})"
        key_names = np.where(np.isin(key_names, rest), other_name, key_names)
        other_note = f"; the {len(rest)} smallest groups are grey"
    else:
        other_name = ""
    palette = dict(zip(key_order, class_palette(len(key_order)), strict=True))
    groups = list(key_order)
    for extra in (other_name, "unlabelled"):
        if extra and np.any(key_names == extra):
            groups.append(extra)
            palette[extra] = UNLABELLED_COLOR
    gidx = {g: i for i, g in enumerate(groups)}
    g_of = np.array([gidx[k] for k in key_names.tolist()], dtype=np.int64)

    xy, axis_names, how = _project(emb[idx].astype(np.float64), method, seed)
    # random z-order: no group is buried systematically
    draw = np.random.default_rng([seed, 1]).permutation(len(idx))
    what = "activity" if color_by == "label" else "user"
    head = title or f"{_METHOD_TITLES[method]} map of window embeddings, coloured by {what}"
    sub = f"{sample_note}\n{how}{other_note}"
    if note:
        sub += f"\n{note}"

    fig = _draw_map(xy, g_of, groups, palette, draw, axis_names, head, sub, what, method)
    if not as_html:
        return _save_figure(fig, path, dpi)
    tips = []
    for j, i in enumerate(idx.tolist()):
        parts = [f"window {i}"]
        if lab_names is not None:
            parts.append(f"label: {lab_names[0][j]}")
        if usr_names is not None:
            parts.append(f"user: {usr_names[0][j]}")
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
            "x": _round_list(xy[draw, 0], 4),
            "y": _round_list(xy[draw, 1], 4),
            "g": g_of[draw].tolist(),
            "index": idx[draw].tolist(),
            "tip": [tips[j] for j in draw.tolist()],
        },
    }
    return _write_html(path, spec, _png_bytes(fig, dpi))


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
    method: str,
) -> Figure:
    from matplotlib.lines import Line2D

    n = len(xy)
    fig = _new_figure(9.5, 7.0)
    ax = fig.add_subplot()
    size = float(np.clip(12000 / n, 5, 40))
    cols = np.array([palette[g] for g in groups], dtype=object)[g_of[draw]]
    ax.scatter(xy[draw, 0], xy[draw, 1], s=size, c=list(cols), alpha=0.75, lw=0, rasterized=True)
    ax.set_xlabel(axis_names[0], fontsize=10)
    ax.set_ylabel(axis_names[1], fontsize=10)
    if method != "pca":  # t-SNE / UMAP coordinates have no units: hide the numbers
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
    ncol = 1 if len(handles) <= 22 else 2
    ax.legend(
        handles=handles, title=f"{what} (windows)", loc="upper left", bbox_to_anchor=(1.01, 1.0),
        fontsize=9, title_fontsize=9, frameon=False, ncol=ncol, handletextpad=0.3,
    )  # fmt: skip
    fig.suptitle(f"{head}\n{sub}", fontsize=11)
    return fig


# ----------------------------------------------------------------------------------------------
# plot_distance_ranking
# ----------------------------------------------------------------------------------------------


def _load_distance(distance: MotifDistance | str | os.PathLike[str]) -> MotifDistance:
    from relcon.models.distance import MotifDistance

    if isinstance(distance, str | os.PathLike):
        from relcon.checkpoint import load_model

        distance, _ = load_model(distance, kind="distance")
    if not isinstance(distance, MotifDistance):
        raise TypeError(
            f"distance must be a MotifDistance or its run folder, got {type(distance).__name__}"
        )
    return distance


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
    out : path-like
        Output file: ``.png`` (default), ``.svg``, ``.pdf`` or ``.html``.
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
    html : bool
        Write an interactive HTML file instead (the suffix becomes ``.html``).
    title : str, optional
        Figure title.
    note : str, optional
        A line under the title (e.g. how the distance was trained).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``distance`` is not a MotifDistance or a path.
    ValueError
        On wrong shapes (anchor not ``(T, 3)``, candidates not ``(C, T, 3)`` with the same
        ``T``), non-finite windows, ``top < 1``, ``farthest < 0`` or labels of the wrong
        length.
    """
    path, as_html = _output(out, html)
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
    _finite("anchor", a[None])
    _finite("candidates", c)
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
        return _save_figure(fig, path, dpi)
    t = np.arange(a.shape[0]) / fs
    axes = list(AXIS_COLORS)[:ch] if ch <= 3 else [f"ch{i}" for i in range(ch)]
    ylim = _ranking_ylim(a, c[shown])

    def panel(w: np.ndarray, name: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": name,
            "lines": [
                {"name": k, "color": AXIS_COLORS.get(k, "#555555"), "y": _round_list(w[:, j], 4)}
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
        "t": _round_list(t, 4),
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
    return _write_html(path, spec, _png_bytes(fig, dpi))


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
    fig = _new_figure(13.5, 1.9 * nrows + 1.3 + 0.2 * sub.count("\n"))
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
    ax.set_ylabel("g", fontsize=9)
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


# ----------------------------------------------------------------------------------------------
# HTML viewer
# ----------------------------------------------------------------------------------------------

_HELP = {
    "series": "Wheel: zoom time - drag: pan - double-click: reset - hover: values.",
    "scatter": "Wheel: zoom - drag: pan - double-click: reset - hover: window - click a legend "
    "entry: hide / show it.",
    "grid": "Hover a panel: values at that time.",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:16px;color:#222;max-width:1400px}
h1{font-size:18px;margin:0 0 4px}
.sub{color:#555;font-size:13px;margin:0 0 4px;white-space:pre-line}
.help{color:#888;font-size:12px;margin:0 0 8px}
svg{font-size:11px;user-select:none;display:block}
svg text{fill:#333}
.plotwrap{display:flex;gap:12px;align-items:flex-start}
.legend{font-size:13px;line-height:1.7;min-width:170px}
.legend div{cursor:pointer;white-space:nowrap}
.legend div.off{opacity:.35}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
.tip{position:absolute;display:none;background:rgba(255,255,255,.96);border:1px solid #bbb;
border-radius:4px;padding:4px 7px;font-size:12px;pointer-events:none;white-space:nowrap;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px}
.panel{border:1px solid #ddd;border-radius:4px;padding:4px}
.panel.anchor{border:2px solid #222}
.panel .pt{font-size:13px;margin:0 2px}
.panel .pt.match{color:#1a7f37;font-weight:600}
details{margin-top:18px;font-size:13px;color:#555}
img{max-width:100%}
"""

_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>
<h1>{title}</h1>
<p class="sub">{subtitle}</p>
<p class="help">{help}</p>
<div id="relcon-plot"></div>
<details><summary>Static picture (PNG)</summary>
<img alt="{title}" src="data:image/png;base64,{img}"></details>
<script type="application/json" id="relcon-data">{data}</script>
<script>{js}</script>
</body></html>
"""

_VIEWER_JS = r"""
(function(){
"use strict";
const S=JSON.parse(document.getElementById("relcon-data").textContent);
const root=document.getElementById("relcon-plot");
const NS="http://www.w3.org/2000/svg";
function el(tag,at,parent){const e=document.createElementNS(NS,tag);
 for(const k in at)e.setAttribute(k,at[k]);if(parent)parent.appendChild(e);return e;}
function ticks(a,b,n){const sp=b-a;if(!(sp>0))return[a];const raw=sp/n;
 const p=Math.pow(10,Math.floor(Math.log10(raw)));const m=raw/p;
 const st=(m<1.5?1:m<3.5?2:m<7.5?5:10)*p;const out=[];
 for(let v=Math.ceil(a/st)*st;v<=b+st*1e-9;v+=st)out.push(+v.toPrecision(12));return out;}
function fmt(v){if(v===null||v===undefined)return"-";return String(+(+v).toPrecision(4));}
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
const tip=document.createElement("div");tip.className="tip";document.body.appendChild(tip);
function showTip(ev,h){tip.innerHTML=h;tip.style.display="block";
 const r=tip.getBoundingClientRect();let x=ev.pageX+14;
 if(x+r.width>window.scrollX+window.innerWidth-8)x=ev.pageX-r.width-14;
 tip.style.left=x+"px";tip.style.top=(ev.pageY+14)+"px";}
function hideTip(){tip.style.display="none";}
function svgPt(svg,ev){const p=svg.createSVGPoint();p.x=ev.clientX;p.y=ev.clientY;
 return p.matrixTransform(svg.getScreenCTM().inverse());}
function lower(a,v){let lo=0,hi=a.length;while(lo<hi){const m=(lo+hi)>>1;
 if(a[m]<v)lo=m+1;else hi=m;}return lo;}
function zoomable(svg,get,set,reset,box,xOnly){
 svg.addEventListener("wheel",ev=>{ev.preventDefault();const p=svgPt(svg,ev);
  const v=get();const f=ev.deltaY<0?1/1.25:1.25;
  const fx=(p.x-box.l)/box.w,fy=(p.y-box.t)/box.h;
  const cx=v[0]+fx*(v[1]-v[0]);const n=[cx-fx*(v[1]-v[0])*f,cx+(1-fx)*(v[1]-v[0])*f,v[2],v[3]];
  if(!xOnly){const cy=v[3]-fy*(v[3]-v[2]);n[2]=cy-(1-fy)*(v[3]-v[2])*f;n[3]=cy+fy*(v[3]-v[2])*f;}
  set(n);},{passive:false});
 let drag=null;
 svg.addEventListener("mousedown",ev=>{drag={p:svgPt(svg,ev),v:get()};ev.preventDefault();});
 window.addEventListener("mousemove",ev=>{if(!drag)return;const p=svgPt(svg,ev);const v=drag.v;
  const dx=(p.x-drag.p.x)/box.w*(v[1]-v[0]);const dy=xOnly?0:(p.y-drag.p.y)/box.h*(v[3]-v[2]);
  set([v[0]-dx,v[1]-dx,v[2]+dy,v[3]+dy]);});
 window.addEventListener("mouseup",()=>{drag=null;});
 svg.addEventListener("dblclick",()=>set(reset()));}
function xAxis(g,box,a,b,scale,label,n){
 for(const v of ticks(a/scale,b/scale,n||8)){const x=box.l+(v*scale-a)/(b-a)*box.w;
  el("line",{x1:x,x2:x,y1:box.t,y2:box.t+box.h,stroke:"#eee"},g);
  const t=el("text",{x:x,y:box.t+box.h+14,"text-anchor":"middle"},g);t.textContent=fmt(v);}
 if(label){const t=el("text",{x:box.l+box.w/2,y:box.t+box.h+30,"text-anchor":"middle"},g);
  t.textContent=label;}}
function yAxis(g,box,a,b,label,n){
 for(const v of ticks(a,b,n||4)){const y=box.t+box.h-(v-a)/(b-a)*box.h;
  el("line",{x1:box.l,x2:box.l+box.w,y1:y,y2:y,stroke:"#eee"},g);
  const t=el("text",{x:box.l-4,y:y+4,"text-anchor":"end"},g);t.textContent=fmt(v);}
 if(label){const t=el("text",{x:12,y:box.t+box.h/2,"text-anchor":"middle",
  transform:`rotate(-90 12 ${box.t+box.h/2})`},g);t.textContent=label;}}

function series(){
 const W=1100,laneH=100,bandH=22,L=S.lanes.length,B=S.bands.length,m={l:62,r:12,t:8,b:40};
 const H=m.t+L*(laneH+14)+B*(bandH+6)+m.b;const span=S.span_s;
 const TS=S.t.map((v,i,a)=>v===null?a[i-1]:v);  // for binary search: gaps hold the previous time
 const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},root);
 const w=W-m.l-m.r;const defs=el("defs",{},svg);
 const cp=el("clipPath",{id:"clip"},defs);el("rect",{x:m.l,y:0,width:w,height:H},cp);
 const bg=el("g",{},svg);const fg=el("g",{"clip-path":"url(#clip)"},svg);const top=el("g",{},svg);
 let view=[0,span,0,1];
 const cursor=el("line",{y1:m.t,y2:H-m.b,stroke:"#888","stroke-dasharray":"3 3",display:"none"},top);
 const lanes=S.lanes.map((ln,i)=>({ln,box:{l:m.l,t:m.t+i*(laneH+14),w:w,h:laneH}}));
 const bands=S.bands.map((b,i)=>({b,box:{l:m.l,t:m.t+L*(laneH+14)+i*(bandH+6),w:w,h:bandH}}));
 const legend=document.createElement("div");legend.className="legend";
 legend.style.display="flex";legend.style.flexWrap="wrap";legend.style.gap="0 18px";
 for(const c of S.classes){const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="background:${c.color}"></span>${esc(c.name)}`;legend.appendChild(d);}
 root.appendChild(legend);
 if(S.note){const p=document.createElement("p");p.className="help";p.textContent=S.note;root.appendChild(p);}
 function sx(t){return m.l+(t-view[0])/(view[1]-view[0])*w;}
 function render(){bg.innerHTML="";fg.innerHTML="";const sc=S.time_scale;
  for(const {ln,box} of lanes){yAxis(bg,box,ln.ylim[0],ln.ylim[1],ln.name,3);
   const sy=v=>box.t+box.h-(v-ln.ylim[0])/(ln.ylim[1]-ln.ylim[0])*box.h;
   for(const gp of S.gaps){el("rect",{x:sx(gp[0]),y:box.t,width:Math.max(0,sx(gp[1])-sx(gp[0])),
    height:box.h,fill:"#eee"},fg);}
   const t=S.t;let i0=Math.max(0,lower(TS,view[0])-2),i1=Math.min(t.length,lower(TS,view[1])+2);
   let up=[],dn=[],d="";
   const flush=()=>{if(up.length){d+="M"+up.join("L")+"L"+dn.reverse().join("L")+"Z";}up=[];dn=[];};
   for(let i=i0;i<i1;i++){if(t[i]===null){flush();continue;}
    const x=sx(t[i]).toFixed(1);up.push(x+","+sy(ln.hi[i]).toFixed(1));dn.push(x+","+sy(ln.lo[i]).toFixed(1));}
   flush();el("path",{d:d,fill:ln.color,stroke:ln.color,"stroke-width":0.6},fg);}
  for(const {b,box} of bands){const t=el("text",{x:m.l-4,y:box.t+box.h/2+4,"text-anchor":"end"},bg);
   t.textContent=b.name;
   for(const r of b.runs){if(r[1]<view[0]||r[0]>view[1])continue;
    el("rect",{x:sx(r[0]),y:box.t,width:Math.max(0.5,sx(r[1])-sx(r[0])),height:box.h,
     fill:S.classes[r[2]].color},fg);}}
  const last=bands.length?bands[bands.length-1].box:lanes[lanes.length-1].box;
  xAxis(bg,{l:m.l,t:m.t,w:w,h:last.t+last.h-m.t},view[0],view[1],sc,`time since start (${S.time_unit})`);}
 render();
 zoomable(svg,()=>view,v=>{const wd=Math.max(v[1]-v[0],0.05);let a=v[0],b=a+wd;
  if(wd>=span){a=0;b=span;}else{if(a<0){a=0;b=wd;}if(b>span){b=span;a=span-wd;}}
  view=[a,b,0,1];render();},()=>[0,span,0,1],{l:m.l,t:m.t,w:w,h:H-m.t-m.b},true);
 svg.addEventListener("mousemove",ev=>{const p=svgPt(svg,ev);
  if(p.x<m.l||p.x>m.l+w){cursor.setAttribute("display","none");hideTip();return;}
  const t=view[0]+(p.x-m.l)/w*(view[1]-view[0]);
  cursor.setAttribute("x1",p.x);cursor.setAttribute("x2",p.x);cursor.setAttribute("display","");
  let h=`<b>${fmt(t/S.time_scale)} ${esc(S.time_unit)}</b>`;
  let i=Math.min(lower(TS,t),TS.length-1);
  if(i>0&&(S.t[i]===null||Math.abs(TS[i-1]-t)<Math.abs(TS[i]-t)))i-=1;
  if(S.t[i]===null)i=Math.max(0,i-1);
  for(const {ln} of lanes){
   h+=`<br><span class="sw" style="background:${ln.color}"></span>${esc(ln.name)}: ${fmt(ln.lo[i])} .. ${fmt(ln.hi[i])}`;}
  for(const {b} of bands){const r=b.runs.find(r=>r[0]<=t&&t<r[1]);
   h+=`<br>${esc(b.name)}: ${r?esc(S.classes[r[2]].name):"-"}`;}
  showTip(ev,h);});
 svg.addEventListener("mouseleave",()=>{cursor.setAttribute("display","none");hideTip();});}

function scatter(){
 const W=820,H=640,m={l:60,r:10,t:10,b:46};const box={l:m.l,t:m.t,w:W-m.l-m.r,h:H-m.t-m.b};
 const wrap=document.createElement("div");wrap.className="plotwrap";root.appendChild(wrap);
 const holder=document.createElement("div");holder.style.flex="1";wrap.appendChild(holder);
 const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},holder);
 const defs=el("defs",{},svg);const cp=el("clipPath",{id:"clip"},defs);
 el("rect",{x:box.l,y:box.t,width:box.w,height:box.h},cp);
 const ax=el("g",{},svg);const pts=el("g",{"clip-path":"url(#clip)"},svg);
 const P=S.points,n=P.x.length;
 const mn=a=>a.reduce((u,v)=>Math.min(u,v),Infinity),mx=a=>a.reduce((u,v)=>Math.max(u,v),-Infinity);
 let x0=mn(P.x),x1=mx(P.x),y0=mn(P.y),y1=mx(P.y);const px=(x1-x0)*0.04||1,py=(y1-y0)*0.04||1;
 const full=[x0-px,x1+px,y0-py,y1+py];let view=full.slice();const hidden=new Set();
 const r=n>3000?2.2:n>800?3:4;const circles=[];
 for(let i=0;i<n;i++){circles.push(el("circle",{r:r,fill:S.groups[P.g[i]].color,"fill-opacity":0.8,"data-i":i},pts));}
 function render(){ax.innerHTML="";
  xAxis(ax,box,view[0],view[1],1,S.xlabel);yAxis(ax,box,view[2],view[3],S.ylabel,6);
  el("rect",{x:box.l,y:box.t,width:box.w,height:box.h,fill:"none",stroke:"#ccc"},ax);
  for(let i=0;i<n;i++){const c=circles[i];
   c.setAttribute("cx",(box.l+(P.x[i]-view[0])/(view[1]-view[0])*box.w).toFixed(1));
   c.setAttribute("cy",(box.t+box.h-(P.y[i]-view[2])/(view[3]-view[2])*box.h).toFixed(1));
   c.setAttribute("display",hidden.has(P.g[i])?"none":"");}}
 render();
 zoomable(svg,()=>view,v=>{view=v;render();},()=>full.slice(),box,false);
 pts.addEventListener("mouseover",ev=>{const i=ev.target.getAttribute("data-i");if(i===null)return;
  const g=S.groups[P.g[+i]];ev.target.setAttribute("r",r*2);
  showTip(ev,`<span class="sw" style="background:${g.color}"></span><b>${esc(g.name)}</b><br>${esc(P.tip[+i])}`);});
 pts.addEventListener("mouseout",ev=>{if(ev.target.tagName==="circle")ev.target.setAttribute("r",r);hideTip();});
 const lg=document.createElement("div");lg.className="legend";
 lg.innerHTML=`<b>${esc(S.legend_title)}</b>`;wrap.appendChild(lg);
 S.groups.forEach((g,k)=>{const d=document.createElement("div");
  d.innerHTML=`<span class="sw" style="background:${g.color}"></span>${esc(g.name)} (${g.count})`;
  d.addEventListener("click",()=>{if(hidden.has(k))hidden.delete(k);else hidden.add(k);
   d.classList.toggle("off");render();});lg.appendChild(d);});}

function grid(){
 const g=document.createElement("div");g.className="grid";root.appendChild(g);
 const W=250,H=130,m={l:34,r:4,t:4,b:20};const box={l:m.l,t:m.t,w:W-m.l-m.r,h:H-m.t-m.b};
 const t=S.t,T=t[t.length-1],yl=S.ylim;
 for(const p of S.panels){const d=document.createElement("div");d.className="panel"+(p.anchor?" anchor":"");
  const ti=document.createElement("div");ti.className="pt"+(p.match?" match":"");ti.textContent=p.title;
  d.appendChild(ti);g.appendChild(d);
  const svg=el("svg",{viewBox:`0 0 ${W} ${H}`,width:"100%"},d);
  xAxis(svg,box,0,T,1,"",4);yAxis(svg,box,yl[0],yl[1],"",3);
  const sx=v=>box.l+v/T*box.w,sy=v=>box.t+box.h-(v-yl[0])/(yl[1]-yl[0])*box.h;
  for(const ln of p.lines){el("polyline",{points:ln.y.map((v,i)=>sx(t[i]).toFixed(1)+","+sy(v).toFixed(1)).join(" "),
   fill:"none",stroke:ln.color,"stroke-width":1},svg);}
  const cur=el("line",{y1:box.t,y2:box.t+box.h,stroke:"#888","stroke-dasharray":"3 3",display:"none"},svg);
  svg.addEventListener("mousemove",ev=>{const q=svgPt(svg,ev);
   const i=Math.max(0,Math.min(t.length-1,Math.round((q.x-box.l)/box.w*(t.length-1))));
   cur.setAttribute("x1",sx(t[i]));cur.setAttribute("x2",sx(t[i]));cur.setAttribute("display","");
   let h=`<b>${esc(p.title)}</b><br>t = ${fmt(t[i])} s`;
   for(const ln of p.lines)h+=`<br><span class="sw" style="background:${ln.color}"></span>${esc(ln.name)}: ${fmt(ln.y[i])} g`;
   showTip(ev,h);});
  svg.addEventListener("mouseleave",()=>{cur.setAttribute("display","none");hideTip();});}}

({series:series,scatter:scatter,grid:grid})[S.kind]();
})();
"""
