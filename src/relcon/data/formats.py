"""What a recording file may look like, in one place: file types, column names, time units,
acceleration units and the "first bad row" of a check.

Every reader of the package (:mod:`relcon.data.stream`, and through it ``relcon embed``,
``relcon predict``, ``relcon prepare`` and :func:`relcon.data.datasets.read_accel_csv`) takes its
tables and rules from here, so that a column name, a time unit or a unit alias is added once.

* Files: :data:`TABULAR_SUFFIXES`, :data:`DEVICE_SUFFIXES`, :func:`format_of`,
  :func:`unsupported_message`; :func:`sniff_csv` finds a CSV's delimiter and decimal mark;
  :func:`row_length_error` names the first CSV row whose field count differs from the header's;
  :data:`DAMAGED_ERRORS` and :func:`damaged_message` turn what a damaged or truncated
  (compressed) file raises into an error naming it.
* Columns: :data:`TIME_COLUMNS`, :data:`XYZ_COLUMNS`, :func:`find_column`, :func:`pick_columns`.
* Time: :data:`TIME_UNITS` (seconds per unit and the median intervals that imply 5-1000 Hz),
  :data:`TIME_UNIT_CHOICES`, :func:`check_time_unit`, :func:`positive_intervals`,
  :func:`infer_time_unit`, :func:`time_scale`.
* Acceleration units: :data:`G`, :func:`normalize_units`, :func:`to_g`, :func:`detect_units`,
  :func:`median_magnitude`, :func:`resolve_units` (given, stated by the file, or detected; checked
  against the data).
* Rows: :func:`first_true` (index of the first row a check fails on).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHANNELS",
    "DAMAGED_ERRORS",
    "DEVICE_SUFFIXES",
    "TABULAR_SUFFIXES",
    "TIME_COLUMNS",
    "TIME_UNITS",
    "TIME_UNIT_CHOICES",
    "UNITS",
    "XYZ_COLUMNS",
    "G",
    "UnitsWarning",
    "check_time_unit",
    "damaged_message",
    "detect_units",
    "find_column",
    "first_true",
    "format_of",
    "infer_time_unit",
    "median_magnitude",
    "normalize_units",
    "pick_columns",
    "positive_intervals",
    "resolve_units",
    "row_length_error",
    "sniff_csv",
    "time_scale",
    "to_g",
    "unsupported_message",
]

#: Acceleration channels (x, y, z).
CHANNELS = 3

# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------

#: Tabular input suffixes (checked case-insensitively, longest first).
TABULAR_SUFFIXES = (".csv.gz", ".csv", ".npz", ".parquet")
#: Device file suffixes, read through the optional ``actipy`` package.
DEVICE_SUFFIXES = (".cwa.gz", ".cwa", ".gt3x", ".bin")


def format_of(name: str) -> tuple[str, str] | None:
    """``(format, stem)`` of a file name, or None for an unsupported type.

    ``format`` is ``"csv"`` (also ``.csv.gz``), ``"npz"``, ``"parquet"`` or ``"device"``; the
    stem is the name without the suffix (``"day1.csv.gz"`` -> ``("csv", "day1")``).
    """
    low = name.lower()
    for suf in TABULAR_SUFFIXES + DEVICE_SUFFIXES:
        if low.endswith(suf) and len(name) > len(suf):
            fmt = "device" if suf in DEVICE_SUFFIXES else suf.split(".")[1]
            return fmt, name[: -len(suf)]
    return None


def unsupported_message(path: str | Path) -> str:
    """The error for a file of a type no reader accepts."""
    return (
        f"{path}: unsupported input type; expected "
        f"{', '.join('*' + s for s in TABULAR_SUFFIXES + DEVICE_SUFFIXES)}"
    )


_DELIMITERS = (",", ";", "\t", "|")


def sniff_csv(path: str | Path, n_bytes: int = 65536) -> tuple[str, str]:
    """``(delimiter, decimal mark)`` of a CSV or CSV.gz file, from its first lines.

    The delimiter is the one of ``, ; TAB |`` that splits the header and the first data lines
    into the same number (> 1) of fields, the most fields winning; ``,`` when none does (a
    one-column file then fails with a "missing columns" error that names what was found). The
    decimal mark is ``,`` only for a ``;`` (or TAB) delimited file whose numbers use a decimal
    comma (``0,981``), else ``.``.
    """
    p = Path(path)
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rb") as fh:
            head = fh.read(n_bytes)
    except (OSError, EOFError):
        return ",", "."
    text = codecs.decode(head, "utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()][:6]
    if len(head) == n_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    best, best_fields = ",", 1
    for d in _DELIMITERS:
        counts = {ln.count(d) for ln in lines}
        if len(counts) == 1 and (n := counts.pop() + 1) > best_fields:
            best, best_fields = d, n
    decimal = "."
    if best != "," and len(lines) > 1:
        cells = [c.strip() for ln in lines[1:] for c in ln.split(best)]
        if any(re.fullmatch(r"[-+]?\d+,\d+", c) for c in cells):
            decimal = ","
    return best, decimal


#: What reading a damaged or truncated file raises (a gzip stream cut short, a corrupt zip
#: archive, bytes that are not text): :func:`damaged_message` turns it into an error naming it.
DAMAGED_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    UnicodeDecodeError,
)
_COMPRESSED_SUFFIXES = (".gz", ".zip", ".npz", ".bz2", ".xz")


def damaged_message(path: str | Path, exc: BaseException) -> str:
    """The error for ``path`` when reading it raised one of :data:`DAMAGED_ERRORS`."""
    what = str(exc) or type(exc).__name__
    if str(path).lower().endswith(_COMPRESSED_SUFFIXES):
        return f"{path}: damaged or truncated compressed file ({what}); download it again"
    return f"{path}: damaged file, not readable as text ({what}); download it again"


def _looks_like_decimal_commas(fields: list[str], n_header: int) -> bool:
    """A comma-separated row split into too many fields by decimal commas (``0,98``)."""
    if len(fields) <= n_header or any("." in f for f in fields):
        return False
    whole = sum(bool(re.fullmatch(r"\s*[-+]?\d+\s*", f)) for f in fields)
    return whole >= len(fields) - n_header + 1


def row_length_error(path: str | Path, sep: str) -> str | None:
    """The error for the first row of a CSV / CSV.gz file whose number of fields differs from
    the header's (naming the file, the line, both counts and the row), or None when every row
    fits.

    Quoted fields are one field whatever they hold; empty lines are skipped. A comma-separated
    row that a decimal comma (``0,98``) split into extra fields, and rows ending with an extra
    delimiter, get a hint saying so.
    """
    p = Path(path)
    opener: Any = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", newline="", encoding="utf-8", errors="replace") as fh:
            rows = csv.reader(fh, delimiter=sep)
            header: list[str] | None = None
            for fields in rows:
                if not fields:
                    continue
                if header is None:
                    header = fields
                    continue
                if len(fields) != len(header):
                    return _row_length_message(p, rows.line_num, fields, len(header), sep)
    except (OSError, csv.Error, *DAMAGED_ERRORS):
        return None
    return None


def _row_length_message(path: Path, line: int, fields: list[str], n: int, sep: str) -> str:
    text = sep.join(fields)
    if len(text) > 80:
        text = text[:77] + "..."
    msg = f"{path}: line {line} has {len(fields)} fields but the header has {n} columns ({text!r})"
    if sep == "," and _looks_like_decimal_commas(fields, n):
        return (
            f"{msg}; this looks like decimal commas (e.g. '0,98' for 0.98): save the file with "
            "'.' as the decimal mark (or ';' between the fields), or quote the fields"
        )
    if len(fields) == n + 1 and not fields[-1].strip():
        return f"{msg}; the line ends with an extra {sep!r}: remove it, or name that column"
    return f"{msg}; every row needs one value per header column"


# ----------------------------------------------------------------------------------------------
# columns
# ----------------------------------------------------------------------------------------------

#: Time column names tried in order (case-insensitive).
TIME_COLUMNS = ("time", "timestamp", "t", "time_s", "datetime", "date_time", "unix_time")
#: Acceleration column triples tried in order (case-insensitive).
XYZ_COLUMNS = (
    ("x", "y", "z"),
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accel_x", "accel_y", "accel_z"),
)


def find_column(
    columns: Sequence[str], wanted: str | None, candidates: Iterable[str]
) -> str | None:
    """The column named ``wanted``, else the first of ``candidates`` (case-insensitive, blanks
    around names ignored); None when absent."""
    lower = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        return lower.get(wanted.strip().lower())
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def pick_columns(
    columns: Sequence[str],
    src: str,
    time_column: str | None = None,
    xyz: tuple[str | None, str | None, str | None] = (None, None, None),
    *,
    allow_no_time: bool = False,
) -> tuple[str | None, list[str]]:
    """The time column and the x, y, z columns of a table: ``(time, [x, y, z])``.

    Given names are looked up case-insensitively; otherwise :data:`TIME_COLUMNS` and
    :data:`XYZ_COLUMNS` are tried in order. Errors name ``src`` and list the columns found.
    ``allow_no_time`` returns None for a missing time column instead of raising.
    """
    columns = list(columns)
    tcol = find_column(columns, time_column, TIME_COLUMNS)
    if tcol is None and not (allow_no_time and time_column is None):
        wanted = time_column or " / ".join(TIME_COLUMNS)
        raise ValueError(f"{src}: missing time column ({wanted}); columns found: {columns}")
    if any(xyz):
        if not all(xyz):
            raise ValueError(f"{src}: give all of x_column, y_column, z_column or none")
        axes = [find_column(columns, c, ()) for c in xyz]
        missing = [c for c, a in zip(xyz, axes, strict=True) if a is None]
        if missing:
            raise ValueError(
                f"{src}: missing acceleration column(s) {missing}; columns found: {columns}"
            )
        return tcol, [a for a in axes if a is not None]
    for triple in XYZ_COLUMNS:
        found = [find_column(columns, c, ()) for c in triple]
        if all(f is not None for f in found):
            return tcol, [f for f in found if f is not None]
    raise ValueError(
        f"{src}: missing acceleration columns (expected one of "
        f"{' or '.join(','.join(t) for t in XYZ_COLUMNS)}); columns found: {columns}"
    )


# ----------------------------------------------------------------------------------------------
# time
# ----------------------------------------------------------------------------------------------

#: ``(unit, seconds per unit, lowest and highest median interval in that unit)``: each range
#: means a 5-1000 Hz sampling rate; the ranges do not overlap.
TIME_UNITS: tuple[tuple[str, float, float, float], ...] = (
    ("s", 1.0, 1e-3, 0.2),
    ("ms", 1e-3, 1.0, 200.0),
    ("us", 1e-6, 1e3, 2e5),
    ("ns", 1e-9, 1e6, 2e8),
)
#: Values of the ``time_unit`` argument.
TIME_UNIT_CHOICES = ("auto", "s", "ms", "us", "ns", "datetime")


def check_time_unit(time_unit: str, src: str) -> str:
    """``time_unit`` when it is one of :data:`TIME_UNIT_CHOICES`, else an error naming ``src``."""
    if time_unit not in TIME_UNIT_CHOICES:
        raise ValueError(
            f"{src}: unknown time_unit {time_unit!r}; expected auto, s, ms, us, ns or datetime"
        )
    return time_unit


def time_scale(unit: str) -> float:
    """Seconds per ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``)."""
    return {u: sc for u, sc, _, _ in TIME_UNITS}[unit]


def positive_intervals(t: np.ndarray, src: str, rows: str, give: str) -> np.ndarray:
    """The positive differences of time stamps ``t``; an error naming ``src`` (and what to
    pass, ``give``) when ``rows`` hold fewer than 2 distinct time stamps."""
    d = np.diff(np.asarray(t))
    d = d[d > 0]
    if d.size == 0:
        raise ValueError(
            f"{src}: cannot infer the sampling rate: fewer than 2 distinct time stamps among "
            f"{rows}; pass {give}"
        )
    return d


def infer_time_unit(t: np.ndarray, src: str) -> str:
    """The unit of numeric time stamps from their median positive interval (see
    :data:`TIME_UNITS`); an error asking for ``time_unit`` when it implies no 5-1000 Hz rate."""
    med = float(np.median(positive_intervals(t, src, "the first rows", "fs and time_unit")))
    for unit, _, lo, hi in TIME_UNITS:
        if lo <= med <= hi:
            return unit
    raise ValueError(
        f"{src}: cannot infer the time unit from the median interval {med:.6g}: it implies no "
        "sampling rate between 5 and 1000 Hz in s, ms, us or ns; pass time_unit"
    )


# ----------------------------------------------------------------------------------------------
# acceleration units
# ----------------------------------------------------------------------------------------------

#: Standard gravity in m/s^2 (1 g).
G = 9.80665

_UNIT_ALIASES: dict[str, str] = {
    "g": "g",
    "m/s^2": "m/s^2",
    "m/s2": "m/s^2",
    "ms2": "m/s^2",
    "m/s**2": "m/s^2",
    "ms^-2": "m/s^2",
    "ms-2": "m/s^2",
    "mg": "mg",
}

#: Factor that converts a value in the given unit to g.
_TO_G: dict[str, float] = {"g": 1.0, "m/s^2": 1.0 / G, "mg": 1e-3}
#: The acceleration units, as every ``units`` setting and flag spells them.
UNITS: tuple[str, ...] = tuple(_TO_G)

#: Range of plausible median vector magnitudes, in g, used by :func:`detect_units`.
_PLAUSIBLE_MEDIAN_G = (0.5, 2.0)


class UnitsWarning(UserWarning):
    """Given units under which the data do not look like acceleration with gravity."""


def normalize_units(units: str, source: str = "<array>") -> str:
    """Return the canonical spelling of an acceleration unit.

    Parameters
    ----------
    units : str
        Unit name. Accepted (case-insensitive, surrounding blanks ignored): ``"g"``,
        ``"m/s^2"`` (aliases ``"m/s2"``, ``"ms2"``, ``"m/s**2"``, ``"ms^-2"``, ``"ms-2"``) and
        ``"mg"`` (milli-g).
    source : str
        Name of the data source, used in error messages.

    Returns
    -------
    str
        One of ``"g"``, ``"m/s^2"``, ``"mg"``.

    Raises
    ------
    ValueError
        If the unit is not recognised.
    """
    key = str(units).strip().lower().replace(" ", "")
    if key not in _UNIT_ALIASES:
        raise ValueError(
            f"{source}: unknown acceleration unit {units!r}; expected one of "
            f"'g', 'm/s^2' (or 'm/s2', 'ms2'), 'mg'"
        )
    return _UNIT_ALIASES[key]


def to_g(x: np.ndarray, units: str, source: str = "<array>", *, copy: bool = True) -> np.ndarray:
    """Convert acceleration to units of g.

    Parameters
    ----------
    x : numpy.ndarray
        Acceleration values of any shape.
    units : str
        Unit of ``x``: ``"g"``, ``"m/s^2"`` (aliases ``"m/s2"``, ``"ms2"``) or ``"mg"``.
    source : str
        Name of the data source, used in error messages.
    copy : bool
        Return a new array even when ``x`` is already a floating-point array in g (False: return
        ``x`` itself then).

    Returns
    -------
    numpy.ndarray
        ``x`` in g, as a floating-point array (float64 unless ``x`` is already a floating-point
        array, whose dtype is kept).

    Raises
    ------
    ValueError
        If ``units`` is not recognised; the message names ``source`` and the bad unit.
    """
    unit = normalize_units(units, source)
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
        copy = False
    factor = _TO_G[unit]
    if factor == 1.0:
        return arr.copy() if copy else arr
    return arr * arr.dtype.type(factor)


def median_magnitude(x: np.ndarray) -> float:
    """Median vector magnitude over the finite rows of ``x`` ``(T, C)`` (NaN when none)."""
    arr = np.asarray(x, dtype=np.float64)
    mag = np.sqrt(np.sum(arr * arr, axis=1))
    mag = mag[np.isfinite(mag)]
    return float(np.median(mag)) if mag.size else float("nan")


def detect_units(x: np.ndarray, source: str = "<array>") -> str:
    """Guess the acceleration unit from the median vector magnitude.

    Accelerometers that include gravity measure a vector magnitude close to 1 g most of the
    time, so the median magnitude is about 1 in g, 9.8 in m/s^2 and 1000 in mg. A unit is
    accepted when the median magnitude converted with it lies in [0.5, 2.0] g; these ranges do
    not overlap, so at most one unit can match.

    Parameters
    ----------
    x : numpy.ndarray
        Acceleration of shape ``(T, C)`` (vector magnitude over the C axes). Non-finite rows
        are ignored.
    source : str
        Name of the data source, used in error messages.

    Returns
    -------
    str
        ``"g"``, ``"m/s^2"`` or ``"mg"``.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has no finite rows, or if the median magnitude matches no unit
        (e.g. gravity-removed data); the message names the source and the measured median.
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{source}: cannot detect units from an array of shape {arr.shape}; "
            "expected (T, C) with T >= 1"
        )
    med = median_magnitude(arr)
    if not np.isfinite(med):
        raise ValueError(f"{source}: cannot detect units, no finite samples")
    lo, hi = _PLAUSIBLE_MEDIAN_G
    for unit in UNITS:
        if lo <= med * _TO_G[unit] <= hi:
            return unit
    raise ValueError(
        f"{source}: cannot detect acceleration units: the median vector magnitude is {med:.4g}, "
        "which is not close to 1 (g), 9.81 (m/s^2) or 1000 (mg); is gravity removed? "
        "Pass the units explicitly (--units g, m/s^2 or mg)."
    )


def resolve_units(
    given: str | None,
    in_file: str | None,
    x: np.ndarray,
    src: str,
) -> tuple[str, bool]:
    """The units of a recording: ``(units, detected)``.

    ``in_file`` (what the file says, e.g. an .npz's ``units``) wins, and ``given`` must agree
    with it; else ``given``; else :func:`detect_units` on the sample ``x`` (``detected`` True).
    Units that are given or stated are checked against ``x``:

    * when the detection finds another unit (``g`` given on data whose median magnitude is 9.8),
      that is an error naming both and saying which ``--units`` to pass;
    * when the median magnitude matches no unit at all (gravity removed, or a recording that is
      not acceleration), a :class:`UnitsWarning` says so: the model expects gravity included.
    """
    if in_file is not None:
        unit = normalize_units(in_file, src)
        if given is not None and normalize_units(given, src) != unit:
            raise ValueError(f"{src}: the file says units {unit!r} but --units {given} was given")
    elif given is not None:
        unit = normalize_units(given, src)
    else:
        return detect_units(x, src), True
    med = median_magnitude(x)
    try:
        found = detect_units(x, src)
    except ValueError:
        msg = (
            f"{src}: the median vector magnitude is {med * _TO_G[unit]:.3g} g with --units "
            f"{unit}, far from the 1 g of an accelerometer at rest: is gravity removed? The "
            "model expects acceleration with gravity included; its output on these data is "
            "unlikely to mean anything"
        )
        warnings.warn(msg, UnitsWarning, stacklevel=3)
        return unit, False
    if found != unit:
        raise ValueError(
            f"{src}: wrong units? --units {unit} was given, but the median vector magnitude "
            f"{med:.4g} looks like {found} (about 1 g, 9.81 m/s^2 or 1000 mg with gravity); "
            f"pass --units {found}, or leave --units out to detect them"
        )
    return unit, False


# ----------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------


def first_true(mask: np.ndarray) -> int:
    """Index of the first True in ``mask`` (which must hold one): the first row a check fails on."""
    return int(np.flatnonzero(mask)[0])
