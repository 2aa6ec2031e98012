"""What the three pictures share: colours, the min/max envelope, figure and file output."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from relcon.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AXIS_COLORS", "UNLABELLED_COLOR", "class_palette", "envelope"]

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


def _finite(name: str, a: np.ndarray) -> None:
    if not np.issubdtype(a.dtype, np.number) or a.dtype.kind == "c":
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).reshape(len(a), -1).all(axis=1))[0])
        raise ValueError(f"{name} has non-finite values (first at index {bad})")
