"""``relcon plot recording``: the acceleration trace of a recording, with class bands."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.apps.plots.common import (
    AXIS_COLORS,
    MODEL_FS,
    UNLABELLED_COLOR,
    WINDOW,
    _finite,
    _new_figure,
    _output,
    _png_bytes,
    _round_list,
    _save_figure,
    class_palette,
    envelope,
)
from relcon.apps.plots.html import _write_html
from relcon.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from relcon.models.finetuned import FinetunedModel

__all__ = ["plot_recording"]


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
        from relcon.data.datasets import read_accel_csv

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
    from relcon.models.finetuned import FinetunedModel

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

    A file is streamed with :func:`relcon.data.stream.iter_windows` when that module is available
    (CSV, Parquet, .npz and device files of any length, in bounded memory: the envelope is
    kept at a resolution that halves whenever it would exceed 65,536 blocks, and never coarser
    than one block per 2.56 s window); the trace then shows the samples of the whole 2.56 s
    windows, i.e. all but the last < 2.56 s of each gap-free stretch, non-wear included.
    Otherwise the file is read whole with :func:`relcon.data.datasets.read_accel_csv`.

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
        from relcon.data.stream import iter_windows
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
        note="read with relcon.data.stream.iter_windows: the samples of whole 2.56 s windows at "
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
