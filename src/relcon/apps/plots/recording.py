"""``relcon plot recording``: the acceleration trace of a recording, with class bands.

Long gaps are cut out of the time axis (a narrow hatched band marks each cut and says how long
the gap was), so that the data fill the width; the tick labels keep the true time since the
start. :mod:`.trace` reads the samples.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.apps.plots import common
from relcon.apps.plots.common import UNLABELLED_COLOR, WINDOW, class_palette
from relcon.apps.plots.html import _write_html
from relcon.apps.plots.trace import (
    _MIXED,
    _as_pieces,
    _Trace,
    _trace_from_file,
    _trace_from_recordings,
)
from relcon.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from relcon.models.finetuned import FinetunedModel

__all__ = ["CUT_GAP_FRACTION", "CUT_GAP_S", "plot_recording"]

#: A gap is cut out of the time axis when it is longer than both ``CUT_GAP_S`` seconds and
#: ``CUT_GAP_FRACTION`` of the recording's span; shorter gaps are shaded grey in place.
CUT_GAP_S = 60.0
CUT_GAP_FRACTION = 0.05
_CUT_SHARE = 0.015  # drawn width of one cut, as a share of the axis (all cuts: at most 15 %)
_GAP_COLOR = "#eeeeee"
_CUT_STYLE = {"facecolor": "white", "edgecolor": "#8c8c8c", "hatch": "////", "lw": 0}
_CHANGE_STYLE = {"color": "#9a9a9a", "lw": 0.7, "ls": (0, (2, 2))}


def _load_finetuned(model: FinetunedModel | str | os.PathLike[str]) -> FinetunedModel:
    from relcon.models.hub import load

    model = load(model, kind="finetuned")
    if model.task_type != "classification" or model.classes_ is None:
        raise ValueError(
            f"plot_recording colours windows by class, but the model is a {model.task_type} model"
        )
    return model


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


@dataclass
class _TimeAxis:
    """Where each time of the recording is drawn once the long gaps are cut out.

    Seconds since the start (``knots_t``) map piecewise-linearly onto the drawn axis
    (``knots_x``, in seconds of data plus the cuts' small widths); without cuts it is the
    identity.
    """

    knots_t: np.ndarray
    knots_x: np.ndarray
    cuts: list[tuple[float, float]]  # (start, end) of each gap cut out, seconds since the start

    def __call__(self, t: Any) -> Any:
        return np.interp(t, self.knots_t, self.knots_x)  # NaN (a break in a line) stays NaN

    @property
    def width(self) -> float:
        return float(self.knots_x[-1])

    def segments(self) -> list[tuple[float, float]]:
        """The stretches of time between the cuts."""
        edges = [0.0, *itertools.chain.from_iterable(self.cuts), float(self.knots_t[-1])]
        return list(zip(edges[::2], edges[1::2], strict=True))

    def ticks(self, scale: float, n: int = 10) -> tuple[list[float], list[str]]:
        """Round tick values of true time in each stretch, at their drawn positions."""
        from matplotlib.ticker import MaxNLocator

        pos: list[float] = []
        labels: list[str] = []
        for t0, t1 in self.segments():
            bins = round(n * (self(t1) - self(t0)) / self.width)
            if bins < 1:
                continue
            locator = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10])
            for v in locator.tick_values(t0 / scale, t1 / scale):
                if t0 / scale - 1e-9 <= v <= t1 / scale + 1e-9:
                    pos.append(float(self(v * scale)) / scale)
                    labels.append(f"{v:.6g}")
        return pos, labels


def _time_axis(span: float, gaps: list[tuple[float, float]], cut: bool) -> _TimeAxis:
    """Cut out the gaps longer than ``CUT_GAP_S`` and ``CUT_GAP_FRACTION * span`` (if ``cut``)."""
    limit = max(CUT_GAP_S, CUT_GAP_FRACTION * span)
    long = [(a, b) for a, b in gaps if cut and b - a > limit]
    kept = span - sum(b - a for a, b in long)
    share = min(_CUT_SHARE, 0.15 / max(1, len(long)))
    width = share * kept / (1 - share * len(long))  # each cut's share of the final axis
    kt, kx, removed = [0.0], [0.0], 0.0
    for a, b in long:
        kt += [a, b]
        kx += [a - removed, a - removed + width]
        removed += b - a - width
    kt.append(span)
    kx.append(span - removed)
    return _TimeAxis(np.asarray(kt), np.asarray(kx), long)


@common._shared_doc
def plot_recording(
    recording: Recording | Sequence[Recording] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: FinetunedModel | str | os.PathLike[str] | None = None,
    html: bool = False,
    title: str | None = None,
    read_kwargs: dict[str, Any] | None = None,
    label_column: str | None = None,
    cut_gaps: bool = True,
    max_bins: int = 1200,
    html_bins: int = 5000,
    dpi: int = 100,
) -> Path:
    """Draw a recording's acceleration and its windows coloured by class.

    The picture is 12 inches wide and titled with the recording's id unless ``title`` is given.
    Four rows share the time axis: x, y and z (same scale, so they compare) and ``|a|``, each
    drawn as the min/max envelope of bins of consecutive samples (:func:`envelope`; about
    ``max_bins`` bins across the drawn width, i.e. about one per pixel), so an hours-long
    recording keeps every spike and nothing is thinned out by dropping samples. Short
    recordings (a bin of one sample) are drawn as plain lines. A gap longer than
    :data:`CUT_GAP_S` and :data:`CUT_GAP_FRACTION` of the span is cut out of the time axis
    (``cut_gaps``): a narrow hatched band marks the cut and is labelled with the gap's length,
    and the tick labels keep the true time since the start; shorter gaps are shaded grey.

    Under the trace, one band per source of classes, over the model's non-overlapping
    2.56 s windows (256 samples at 100 Hz): ``predicted`` when a fine-tuned classifier is given,
    ``true label`` when the recording has per-sample labels (a window takes the class of at
    least half its samples, else it is "unlabelled / mixed"). With both, the title gives the
    share of labelled windows where they agree. Dotted lines across the trace mark where the
    class of the lower band changes (drawn when it changes at most 60 times); the legend says
    so.

    A file is streamed with :func:`relcon.data.stream.iter_windows` (CSV, Parquet, .npz and
    device files of any length, in bounded memory: the envelope is kept at a resolution that
    halves whenever it would exceed 65,536 blocks, and never coarser than one block per 2.56 s
    window); the trace then shows the samples of the whole 2.56 s windows at 100 Hz, i.e. all
    but the last < 2.56 s of each gap-free stretch, non-wear included, and the title gives the
    file's own rate. A CSV file's label column (``label_column``, else the first of
    :data:`relcon.apps.plots.trace.LABEL_COLUMNS`) gives the true labels.

    Parameters
    ----------
    recording : Recording, list of Recording or path-like
        A recording, the gap-free pieces of one recording (drawn on their common clock), or a
        recording file.
    model : FinetunedModel or path-like, optional
        A fine-tuned classifier (or the folder it was saved in) whose predictions colour the
        windows.
    read_kwargs : dict, optional
        Extra arguments for the file reader (e.g. ``units``, ``time_column``).
    label_column : str, optional
        The label column of a CSV file (found by name when None).
    cut_gaps : bool
        Cut long gaps out of the time axis.
    max_bins : int
        Approximate number of envelope bins across the picture.
    html_bins : int
        Approximate number of envelope bins in the HTML file (finer, for zooming).
    {output}

    Raises
    ------
    FileNotFoundError
        If a recording file does not exist.
    TypeError
        If ``recording`` or ``model`` has the wrong type.
    ValueError
        On a malformed recording (not ``(T, 3)``, non-finite values, no samples, a file the
        reader rejects, a ``label_column`` it does not have), a model with a recording not at
        100 Hz, or a regression model.
    """
    path, as_html = common._output(out, html)
    if max_bins < 10 or html_bins < 10:
        raise ValueError(f"max_bins and html_bins must be >= 10, got {max_bins}, {html_bins}")
    finetuned = _load_finetuned(model) if model is not None else None
    if isinstance(recording, str | os.PathLike):
        trace = _trace_from_file(
            Path(recording).expanduser(), finetuned, read_kwargs or {}, label_column
        )
    else:
        trace = _trace_from_recordings(_as_pieces(recording), finetuned)

    order = [n for n in dict.fromkeys(trace.class_order) if n != _MIXED]
    colors = dict(zip(order, class_palette(len(order)), strict=True))
    colors[_MIXED] = UNLABELLED_COLOR
    used = [n for n in [*order, _MIXED] if any(n == c for b in trace.bands for *_, c in b.runs)]
    axis = _time_axis(trace.span, trace.gaps, cut_gaps)
    pic = _Picture(trace, axis, colors, used, title or trace.name, _subtitle(trace, axis))
    fig = _draw_recording(pic, max_bins)
    if not as_html:
        return common._save_figure(fig, path, dpi)
    return _write_html(path, _recording_spec(pic, html_bins), common._png_bytes(fig, dpi))


@dataclass
class _Picture:
    """What the PNG and the HTML of a recording both show."""

    trace: _Trace
    axis: _TimeAxis
    colors: dict[str, str]  # class name -> colour
    used: list[str]  # the classes drawn, in legend order
    head: str
    sub: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _subtitle(trace: _Trace, axis: _TimeAxis) -> str:
    """Two lines: what was recorded (length, rate, gaps, start); what the colours show."""
    line = f"{_fmt_duration(trace.span)} {trace.rate_note}"
    n_cut, n_gaps = len(axis.cuts), len(trace.gaps)
    if n_cut:
        line += f", {_plural(n_gaps, 'gap')}: {n_cut} cut out of the time axis (hatched)"
        if n_gaps > n_cut:
            line += f", {n_gaps - n_cut} shaded grey"
    elif n_gaps:
        line += f", {_plural(n_gaps, 'gap')} (grey)"
    if trace.start_note:
        line += f", {trace.start_note}"
    if not trace.bands:
        return line
    what = {"predicted": "predicted class", "true label": "true label"}
    names = [what.get(b.name, b.name) for b in trace.bands]
    if len(names) == 2:
        names = [f"{names[0]} (upper band)", f"{names[1]} (lower band)"]
    line += (
        f"\n{trace.n_windows} windows of {WINDOW / trace.fs:g} s coloured by {' and '.join(names)}"
    )
    if trace.agreement is not None:
        line += f"; predicted = true label in {100 * trace.agreement:.1f}% of labelled windows"
    return line


def _ylims(lanes: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    xyz_lo = min(float(np.nanmin(ln["lo"])) for ln in lanes[:3])
    xyz_hi = max(float(np.nanmax(ln["hi"])) for ln in lanes[:3])
    pad = 0.05 * max(xyz_hi - xyz_lo, 0.1)
    mag_hi = float(np.nanmax(lanes[3]["hi"]))
    return {
        **{ln["name"]: (xyz_lo - pad, xyz_hi + pad) for ln in lanes[:3]},
        "|a|": (0.0, mag_hi + 0.05 * max(mag_hi, 0.1)),
    }


def _bins(trace: _Trace, axis: _TimeAxis, n: int) -> int:
    """Bins over the whole span so that about ``n`` of them fill the drawn width."""
    return max(n, round(n * trace.span / axis.width))


def _class_changes(trace: _Trace) -> list[float]:
    """Times where the class of the last band changes (none when it changes over 60 times)."""
    if not trace.bands or len(trace.bands[-1].runs) > 60:
        return []
    runs = trace.bands[-1].runs
    return [b[0] for a, b in itertools.pairwise(runs) if abs(a[1] - b[0]) < 1e-6]


def _draw_recording(pic: _Picture, max_bins: int) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    trace, axis, colors, used = pic.trace, pic.axis, pic.colors, pic.used
    span, bands = trace.span, trace.bands
    unit, scale = _time_unit(span)
    n_bins = _bins(trace, axis, max_bins)
    t_all, lanes = trace.lanes(n_bins, True)
    ylim = _ylims(lanes)
    single = span / n_bins * trace.fs < 2  # about one sample per bin: a plain line
    nb = len(bands)
    fig = common._new_figure(12, 1.35 * 4 + 0.42 * nb + (1.85 if nb else 1.3))
    grid = fig.add_gridspec(4 + nb, 1, height_ratios=[1.0] * 4 + [0.28] * nb)
    axes = [fig.add_subplot(grid[0])]
    axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in range(1, 4 + nb)]
    shaded = [(a, b) for a, b in trace.gaps if (a, b) not in axis.cuts]
    changes = _class_changes(trace)
    for ax, ln in zip(axes[:4], lanes, strict=True):
        for c in changes:
            ax.axvline(axis(c) / scale, zorder=3, **_CHANGE_STYLE)
        t = axis(t_all) / scale
        if single:  # one sample per bin: a plain line
            ax.plot(t, ln["hi"], color=ln["color"], lw=0.8)
        else:
            ax.fill_between(t, ln["lo"], ln["hi"], color=ln["color"], lw=0.4, ec=ln["color"])
        ax.set_ylim(*ylim[ln["name"]])
        ax.set_ylabel(f"{ln['name']} (g)", rotation=0, ha="right", va="center", fontsize=10)
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.set_axisbelow(True)
        for a, b in shaded:
            ax.axvspan(axis(a) / scale, axis(b) / scale, color=_GAP_COLOR, lw=0)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
    for ax, band in zip(axes[4:], bands, strict=True):
        by_class: dict[str, list[tuple[float, float]]] = {}
        for a, b, c in band.runs:
            x0, x1 = axis(a) / scale, axis(b) / scale
            by_class.setdefault(c, []).append((x0, x1 - x0))
        for c, spans in by_class.items():
            ax.broken_barh(spans, (0, 1), facecolors=colors[c], lw=0)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(band.name, rotation=0, ha="right", va="center", fontsize=10)
        for s in ("top", "right", "left"):
            ax.spines[s].set_visible(False)
    for ax in axes:
        for a, b in axis.cuts:
            ax.axvspan(axis(a) / scale, axis(b) / scale, zorder=4, **_CUT_STYLE)
        ax.tick_params(labelbottom=False, labelsize=9)
    for a, b in axis.cuts:
        axes[0].text(
            axis((a + b) / 2) / scale, 1.02, _fmt_duration(b - a), ha="center", va="bottom",
            transform=axes[0].get_xaxis_transform(), fontsize=8, color="#555555",
        )  # fmt: skip
    if axis.cuts:
        axes[0].set_xticks(*axis.ticks(scale))
    axes[-1].tick_params(labelbottom=True)
    axes[-1].set_xlabel(f"time since start ({unit})", fontsize=10)
    axes[0].set_xlim(0, axis.width / scale)
    fig.suptitle(f"{pic.head}\n{pic.sub}", fontsize=11)
    handles: list[Any] = [Patch(color=colors[c], label=c) for c in used]
    if changes:
        handles.append(Line2D([], [], label=f"change of {bands[-1].name}", **_CHANGE_STYLE))
    if shaded:
        handles.append(Patch(color=_GAP_COLOR, label="gap (no data)"))
    if axis.cuts:
        handles.append(Patch(label="long gap cut out (length above)", **_CUT_STYLE))
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 8),
            fontsize=9, frameon=False, handlelength=1.6, columnspacing=1.4,
        )  # fmt: skip
    return fig


def _recording_spec(pic: _Picture, n_bins: int) -> dict[str, Any]:
    """The HTML viewer's data; times are drawn positions, ``axis`` maps them back to true time."""
    trace, axis, colors, used = pic.trace, pic.axis, pic.colors, pic.used
    unit, scale = _time_unit(trace.span)
    n_bins = _bins(trace, axis, n_bins)
    t_all, lanes = trace.lanes(n_bins, False)
    ylim = _ylims(lanes)
    bin_s = trace.span / n_bins
    note = (
        f"each drawn bin spans about {bin_s:.3g} s ({max(1, round(bin_s * trace.fs))} samples): "
        "the band between their minimum and maximum"
    )
    if axis.cuts:
        note += "; hatched: a long gap cut out of the time axis (its length above it)"

    def at(t: float) -> float:
        return round(float(axis(t)), 3)

    return {
        "kind": "series",
        "title": pic.head,
        "subtitle": pic.sub,
        "note": note + (f"; {trace.note}" if trace.note else ""),
        "time_unit": unit,
        "time_scale": scale,
        "span_s": axis.width,
        "axis": {
            "t": common._round_list(axis.knots_t, 3),
            "x": common._round_list(axis.knots_x, 3),
        },
        "t": common._round_list(axis(t_all), 3),
        "lanes": [
            {
                "name": f"{ln['name']} (g)",
                "color": ln["color"],
                "ylim": list(ylim[ln["name"]]),
                "lo": common._round_list(ln["lo"], 3),
                "hi": common._round_list(ln["hi"], 3),
            }
            for ln in lanes
        ],
        "gaps": [[at(a), at(b)] for a, b in trace.gaps if (a, b) not in axis.cuts],
        "cuts": [[at(a), at(b), _fmt_duration(b - a)] for a, b in axis.cuts],
        "classes": [{"name": c, "color": colors[c]} for c in used],
        "bands": [
            {"name": b.name, "runs": [[at(a), at(e), used.index(c)] for a, e, c in b.runs]}
            for b in trace.bands
        ],
    }
