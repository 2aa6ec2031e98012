"""What the three pictures share: colours, the min/max envelope, figure and file output."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from relcon.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AXIS_COLORS", "UNLABELLED_COLOR", "class_palette", "distinct_colors", "envelope"]

#: Colours of the x, y, z axes and of ``|a|`` (Okabe-Ito; distinguishable with colour blindness).
AXIS_COLORS: dict[str, str] = {"x": "#0072B2", "y": "#D55E00", "z": "#009E73", "|a|": "#3a3a3a"}

#: Colour of unlabelled / mixed windows and of the "other" group on maps.
UNLABELLED_COLOR = "#c8c8c8"

WINDOW = 256  # samples per model window (2.56 s at 100 Hz)
MODEL_FS = 100.0

# tab10 without its grey (kept for "unlabelled"), then tab20's light shades and two dark ones.
_PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
    "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939",
)  # fmt: skip

_VECTOR_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


#: What every picture function takes and returns: ``{output}`` in its docstring (see
#: :func:`_shared_doc`).
_OUTPUT_DOC = """out : path-like
        Output file: ``.png`` (default), ``.svg``, ``.pdf`` or ``.html``.
    html : bool
        Write an interactive HTML file instead (the suffix becomes ``.html``).
    title : str, optional
        Figure title (None: a title that says what is drawn).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The file written."""


def _shared_doc(func: Callable[..., Path]) -> Callable[..., Path]:
    """Put :data:`_OUTPUT_DOC` in place of ``{output}`` in ``func``'s docstring."""
    func.__doc__ = (func.__doc__ or "").replace("{output}", _OUTPUT_DOC)
    return func


def class_palette(n: int) -> list[str]:
    """``n`` distinct colours: tab10 without grey, then light shades; beyond 20, far-apart colours.

    Up to 20 colours come from :data:`_PALETTE`. For more (e.g. one per user of a data set),
    the colours are picked one by one, each the farthest in CIELAB (about perceived difference)
    from those already chosen, from white and from the grey of "unlabelled / other", starting
    from tab10's first nine; colours too dark, too light or too grey to tell apart on a white
    page are never picked (:func:`distinct_colors`).

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
    return distinct_colors(n)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] ``(N, 3)`` -> CIELAB (D65)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


@functools.lru_cache(maxsize=16)
def _distinct(n: int) -> tuple[str, ...]:
    from matplotlib.colors import to_hex, to_rgb

    grid = np.linspace(0.0, 1.0, 18)
    cand = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = _lab(cand)
    ok = (lab[:, 0] > 30) & (lab[:, 0] < 85) & (np.hypot(lab[:, 1], lab[:, 2]) > 25)
    cand, lab = cand[ok], lab[ok]
    chosen = [to_rgb(c) for c in _PALETTE[: min(n, 9)]]
    refs = _lab(np.array([*chosen, (1.0, 1.0, 1.0), to_rgb(UNLABELLED_COLOR)]))
    dist = np.min(np.linalg.norm(lab[:, None] - refs[None], axis=2), axis=1)
    while len(chosen) < n:
        i = int(np.argmax(dist))
        chosen.append(tuple(cand[i]))
        dist = np.minimum(dist, np.linalg.norm(lab - lab[i], axis=1))
    return tuple(to_hex(c) for c in chosen)


def distinct_colors(n: int) -> list[str]:
    """``n`` colours as far apart as a greedy choice in CIELAB gets them (see :func:`class_palette`)."""
    return list(_distinct(int(n)))


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


def _finite(name: str, a: np.ndarray) -> None:
    if not np.issubdtype(a.dtype, np.number) or a.dtype.kind == "c":
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).reshape(len(a), -1).all(axis=1))[0])
        raise ValueError(f"{name} has non-finite values (first at index {bad})")
