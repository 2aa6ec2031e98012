"""What ``relcon plot recording`` draws, however the samples were read: :class:`_Trace`.

A recording reaches the picture either as :class:`~relcon.data.recording.Recording` pieces
(:func:`_trace_from_recordings`, drawn at their own rate) or as a file streamed through
:func:`relcon.data.stream.iter_windows` (:func:`_trace_from_file`: the whole 2.56 s windows at
100 Hz, kept as min/max blocks by :class:`_BlockStore`). Either way the trace holds the envelope
lanes, the gaps, and the bands of classes: the model's predictions and, when the recording
carries them, the true labels (a CSV file's label column is read with
:func:`relcon.data.datasets.read_accel_csv` and each streamed window takes the class of at least
half its samples).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.apps.plots.common import AXIS_COLORS, MODEL_FS, WINDOW, _finite, envelope
from relcon.data.recording import Recording

if TYPE_CHECKING:
    from relcon.models.finetuned import FinetunedModel

#: Names of a CSV file's label column, tried in this order (case-insensitive).
LABEL_COLUMNS: tuple[str, ...] = ("label", "labels", "activity", "class")

#: Keyword arguments of the stream reader that the CSV label reader understands too.
_CSV_READ_KEYS = ("units", "time_column", "x_column", "y_column", "z_column", "time_unit",
                  "max_gap_s")  # fmt: skip

_MIXED = "unlabelled / mixed"


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


def _as_pieces(recording: Recording | Sequence[Recording]) -> list[Recording]:
    if isinstance(recording, Recording):
        return [recording]
    if isinstance(recording, Sequence) and not isinstance(recording, str) and recording:
        recs = list(recording)
        bad = [type(r).__name__ for r in recs if not isinstance(r, Recording)]
        if bad:
            raise TypeError(f"expected Recording objects, got {bad[0]}")
        return recs
    raise TypeError(
        "recording must be a Recording, a non-empty list of Recording pieces or a file path, "
        f"got {type(recording).__name__}"
    )


def _model_class_names(model: FinetunedModel, rec_names: tuple[str, ...]) -> dict[int, str]:
    codes = [int(c) for c in np.asarray(model.classes_)]
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


@dataclass
class _Trace:
    """What the picture of a recording shows, however its samples were read."""

    name: str
    span: float  # seconds from the first sample to the end of the last
    fs: float  # rate of the drawn samples
    gaps: list[tuple[float, float]]
    n_windows: int
    bands: list[_Band]
    class_order: list[str]
    agreement: float | None
    lanes: Callable[[int, bool], tuple[np.ndarray, list[dict[str, Any]]]]  # see _lanes
    fs_input: float | None = None  # the input's own rate, when it was resampled to ``fs``
    fs_estimated: bool = False  # whether that rate was estimated from the time stamps
    start_note: str = ""
    note: str = ""

    @property
    def rate_note(self) -> str:
        """``"at 100 Hz"`` or ``"recorded at 20 Hz (...), resampled to 100 Hz"``."""
        if self.fs_input is None or abs(self.fs_input - self.fs) < 1e-9:
            return f"at {self.fs:g} Hz"
        how = " (estimated from the time stamps)" if self.fs_estimated else ""
        return f"recorded at {self.fs_input:.3g} Hz{how}, resampled to {self.fs:g} Hz"


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
        band, agreement = _true_band(true_runs, true_all, pred_all if finetuned else None)
        bands.append(band)
        order += [n for n in label_names if n in set(true_all)]
    name = recs[0].recording if len(recs) == 1 else recs[0].recording.rsplit(":", 1)[0]
    return _Trace(
        name=name, span=span, fs=pieces[0].fs, gaps=_gaps(pieces), n_windows=n_windows,
        bands=bands, class_order=order, agreement=agreement,
        lanes=lambda n_bins, steps: _lanes(pieces, span, n_bins, steps=steps),
    )  # fmt: skip


def _true_band(
    runs: list[tuple[float, float, str]], names: list[str], predicted: list[str] | None
) -> tuple[_Band, float | None]:
    """The band of true labels and the share of labelled windows where the prediction agrees."""
    labelled = np.array([n != _MIXED for n in names], dtype=bool)
    agreement = None
    if predicted is not None and labelled.any():
        agree = np.array(predicted, dtype=object) == np.array(names, dtype=object)
        agreement = float(agree[labelled].mean())
    return _Band("true label", runs), agreement


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


def _label_column(path: Path, wanted: str | None) -> str | None:
    """The label column of a CSV file: ``wanted``, else the first of :data:`LABEL_COLUMNS`."""
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz")):
        if wanted is not None:
            raise ValueError(f"{path}: label_column is read from CSV files only")
        return None
    import pandas as pd

    try:
        columns = [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except (ValueError, OSError):  # unreadable header: the stream reader says why
        return None
    lower = {c.lower(): c for c in columns}
    if wanted is not None:
        if wanted.strip().lower() not in lower:
            raise ValueError(f"{path}: no label column {wanted!r}; columns found: {columns}")
        return lower[wanted.strip().lower()]
    return next((lower[c] for c in LABEL_COLUMNS if c in lower), None)


def _window_names(recs: list[Recording], starts: np.ndarray) -> list[str]:
    """Class of each 2.56 s window starting at ``starts`` (on the pieces' clock): the label of
    at least half its samples, else :data:`_MIXED` (also for windows outside every piece)."""
    names = [_MIXED] * len(starts)
    label_names = recs[0].label_names if recs else ()
    for r in recs:
        lab = np.asarray(r.labels)
        idx = np.round((starts - r.start_s) * r.fs).astype(np.int64)
        inside = np.flatnonzero((idx >= 0) & (idx + WINDOW <= len(lab)))
        if not inside.size or not label_names:
            continue
        w = np.lib.stride_tricks.sliding_window_view(lab, WINDOW)[idx[inside]]
        counts = np.stack([(w == c).sum(axis=1) for c in range(len(label_names))], axis=1)
        best, ok = counts.argmax(axis=1), 2 * counts.max(axis=1) >= WINDOW
        for j, b, o in zip(inside.tolist(), best.tolist(), ok.tolist(), strict=True):
            names[j] = label_names[b] if o else _MIXED
    return names


def _trace_from_file(
    path: Path,
    finetuned: FinetunedModel | None,
    read_kwargs: dict[str, Any],
    label_column: str | None = None,
) -> _Trace:
    from relcon.data.stream import iter_windows

    if not path.is_file():
        raise FileNotFoundError(f"{path}: recording file not found")
    lcol = _label_column(path, label_column)
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
    order, agreement = list(cname.values()), None
    if lcol is not None:
        from relcon.data.datasets import read_accel_csv

        kw = {k: v for k, v in read_kwargs.items() if k in _CSV_READ_KEYS}
        recs = read_accel_csv(path, label_column=lcol, **kw)
        true = _window_names(recs, start + origin)
        band, agreement = _true_band(_runs(start, true, w_s), true, pred if finetuned else None)
        bands.append(band)
        order += [n for n in recs[0].label_names if n in set(true)]
    start_note = ""
    if summary.absolute_time:
        import datetime as dt

        t0 = dt.datetime.fromtimestamp(origin, tz=dt.timezone.utc)
        start_note = f"starts {t0:%Y-%m-%d %H:%M:%S} UTC"
    return _Trace(
        name=summary.recording or path.name, span=span, fs=MODEL_FS, gaps=gaps,
        n_windows=len(start), bands=bands, class_order=order, agreement=agreement,
        lanes=lambda n_bins, steps: _lanes_from_blocks(t, lo, hi, dur, span, n_bins, steps),
        fs_input=float(summary.fs_native), fs_estimated=summary.fs_estimated is not None,
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


def _gaps(pieces: list[_Piece]) -> list[tuple[float, float]]:
    ends = [(p.t0, p.t0 + len(p.x) / p.fs) for p in pieces]
    return [(a_end, b0) for (_, a_end), (b0, _) in itertools.pairwise(ends) if b0 > a_end]
