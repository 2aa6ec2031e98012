"""Input files of ``relcon prepare`` (CSV, npz, Parquet, device files): finding them and reading
each one into gap-free pieces at 100 Hz in g.

See :mod:`relcon.data.corpus` for the formats accepted.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.data.corpus.store import _CHANNELS, _pyarrow
from relcon.data.datasets.csv import read_accel_csv
from relcon.data.recording import ReadReport
from relcon.data.signal import (
    TARGET_FS,
    detect_units,
    normalize_units,
    resample,
    to_g,
    to_uniform_pieces,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEVICE_SUFFIXES", "TABULAR_SUFFIXES", "read_device_file"]

#: Tabular input suffixes (checked case-insensitively, longest first).
TABULAR_SUFFIXES = (".csv.gz", ".csv", ".npz", ".parquet")
#: Device file suffixes, read through the optional ``actipy`` package.
DEVICE_SUFFIXES = (".cwa.gz", ".cwa", ".gt3x", ".bin")

_TIME_NAMES = ("time", "timestamp", "t", "time_s", "datetime", "date_time", "unix_time")
_XYZ_NAMES = (
    ("x", "y", "z"),
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accel_x", "accel_y", "accel_z"),
)
#: (unit, seconds per unit, lowest and highest median interval in that unit): 5-1000 Hz.
_NUMERIC_TIME_UNITS = (
    ("s", 1.0, 1e-3, 0.2),
    ("ms", 1e-3, 1.0, 200.0),
    ("us", 1e-6, 1e3, 2e5),
    ("ns", 1e-9, 1e6, 2e8),
)

# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    path: Path
    fmt: str  # "csv", "npz", "parquet", "device"
    user: str
    recording: str
    size: int
    mtime_ns: int


def _format_of(name: str) -> tuple[str, str] | None:
    low = name.lower()
    for suf in TABULAR_SUFFIXES + DEVICE_SUFFIXES:
        if low.endswith(suf) and len(name) > len(suf):
            fmt = "device" if suf in DEVICE_SUFFIXES else suf.split(".")[1]
            return fmt, name[: -len(suf)]
    return None


def _collect_inputs(
    inputs: Sequence[str | os.PathLike[str]], out: Path, user_from: str
) -> list[_Input]:
    out_res = out.expanduser().resolve()
    found: dict[str, tuple[Path, str, str, str]] = {}
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"{p}: input not found")
        if p.is_dir():
            for f in p.rglob("*"):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                kind = _format_of(f.name)
                if kind is None or not f.is_file():
                    continue
                r = f.resolve()
                if r == out_res or out_res in r.parents:
                    continue
                found[str(r)] = (r, *kind, f.absolute().parent.name)
        else:
            kind = _format_of(p.name)
            if kind is None:
                raise ValueError(
                    f"{p}: unsupported input type; expected "
                    f"{', '.join('*' + s for s in TABULAR_SUFFIXES + DEVICE_SUFFIXES)}"
                )
            r = p.resolve()
            found[str(r)] = (r, *kind, p.absolute().parent.name)
    result = []
    for key in sorted(found):
        r, fmt, stem, parent = found[key]
        st = r.stat()
        if user_from == "stem":
            user, rec = stem, stem
        else:
            user = parent
            rec = f"{user}/{stem}"
        result.append(_Input(r, fmt, user, rec, int(st.st_size), int(st.st_mtime_ns)))
    return result


Piece = tuple[float, np.ndarray]  # (start time in seconds, (n, 3) float32 at 100 Hz in g)


def _resolve_units(arg: str | None, in_file: str | None, x: np.ndarray, src: str) -> str:
    if in_file is not None:
        unit = normalize_units(in_file, src)
        if arg is not None and normalize_units(arg, src) != unit:
            raise ValueError(f"{src}: the file says units {unit!r} but units={arg!r} was given")
        return unit
    if arg is not None:
        return normalize_units(arg, src)
    step = max(1, x.shape[0] // 200_000)  # the median needs no more than that
    return detect_units(x[::step], src)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_finite_xyz(x: np.ndarray, src: str, what: str) -> None:
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"{src}: sample row {i} (0-based) of {what} has a NaN, missing or infinite value "
            f"({x[i].tolist()})"
        )


def _uniform_stats(stats: dict[str, Any]) -> dict[str, int]:
    return {
        "duplicate_timestamp_rows": int(stats.get("n_duplicates_dropped", 0)),
        "unresampleable_pieces": int(stats.get("n_pieces_dropped_short", 0)),
        "gap_splits": int(stats.get("n_gaps_split", 0)),
    }


def _read_csv(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    rep = ReadReport()
    recs = read_accel_csv(
        inp.path, units=units, user=inp.user, max_gap_s=max_gap_s, min_samples=1, report=rep
    )
    used = "?"
    for note in rep.notes:
        m = re.search(r"acceleration units: (\S+)", note)
        if m:
            used = m.group(1)
    counts = {
        "duplicate_timestamp_rows": rep.dropped.get("duplicate_timestamp_rows", 0),
        "unresampleable_pieces": rep.dropped.get("too_short_pieces", 0),
        "gap_splits": rep.n_gaps_split,
    }
    return [(float(r.start_s), np.asarray(r.x, dtype=np.float32)) for r in recs], counts, used


def _npz_scalar(z: Any, key: str, src: str) -> float:
    arr = np.asarray(z[key])
    if arr.size != 1 or arr.dtype.kind not in "fiu":
        raise ValueError(f"{src}: '{key}' must be a number, got {arr.dtype} of shape {arr.shape}")
    val = float(arr.reshape(()))
    if not math.isfinite(val):
        raise ValueError(f"{src}: '{key}' is not finite ({val})")
    return val


def _read_npz(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    src = str(inp.path)
    if inp.size == 0:
        raise ValueError(f"{src}: file is empty")
    try:
        z = np.load(inp.path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{src}: cannot read as .npz: {exc}") from None
    if not hasattr(z, "files"):
        raise ValueError(f"{src}: not an .npz archive (a single array was found)")
    with z:
        keys = set(z.files)
        xkey = next((k for k in ("x", "xyz") if k in keys), None)
        if xkey is None:
            raise ValueError(
                f"{src}: no acceleration array: expected key 'x' or 'xyz' of shape (T, 3); "
                f"keys found: {sorted(keys)}"
            )
        x = np.asarray(z[xkey])
        t = np.asarray(z["t"], dtype=np.float64) if "t" in keys else None
        fs = _npz_scalar(z, "fs", src) if "fs" in keys else None
        start = _npz_scalar(z, "start_s", src) if "start_s" in keys else None
        file_units = None
        if "units" in keys:
            u = np.asarray(z["units"])
            if u.size != 1 or u.dtype.kind not in "US":
                raise ValueError(f"{src}: 'units' must be a string scalar, got {u.dtype} {u.shape}")
            file_units = str(u.reshape(()).item())
            if isinstance(u.reshape(()).item(), bytes):
                file_units = u.reshape(()).item().decode()
    if x.ndim != 2 or x.shape[1] != _CHANNELS or x.dtype.kind not in "fiu":
        raise ValueError(f"{src}: '{xkey}' must be a numeric (T, 3) array, got {x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{src}: no samples ('{xkey}' has 0 rows)")
    x32 = x.astype(np.float32, copy=False)
    _check_finite_xyz(x32, src, f"'{xkey}'")
    unit = _resolve_units(units, file_units, x32, src)
    xg = to_g(x32, unit, src)
    if t is None:
        if fs is None:
            raise ValueError(f"{src}: no time base: give 'fs' (Hz) or 't' (seconds, shape (T,))")
        if fs <= 0:
            raise ValueError(f"{src}: 'fs' must be positive, got {fs}")
        y = resample(xg, fs, TARGET_FS, source=src).astype(np.float32, copy=False)
        counts = {"duplicate_timestamp_rows": 0, "unresampleable_pieces": 0, "gap_splits": 0}
        return [(start or 0.0, y)], counts, unit
    if start is not None:
        raise ValueError(f"{src}: give 'start_s' only with 'fs'; with 't' the times are absolute")
    if t.shape != (x.shape[0],):
        raise ValueError(f"{src}: 't' has shape {t.shape}, expected ({x.shape[0]},)")
    bad = ~np.isfinite(t)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{src}: time row {i} (0-based) of 't' is NaN or infinite")
    pieces, stats = to_uniform_pieces(
        t, xg, fs_out=TARGET_FS, fs_native=fs, max_gap_s=max_gap_s, source=src
    )
    return [(p.t0_s, p.x) for p in pieces], _uniform_stats(stats), unit


def _numeric_time_seconds(t: np.ndarray, src: str) -> np.ndarray:
    d = np.diff(t)
    d = d[d > 0]
    if d.size == 0:
        raise ValueError(f"{src}: cannot infer the time unit: fewer than 2 distinct timestamps")
    med = float(np.median(d))
    for _unit, scale, lo, hi in _NUMERIC_TIME_UNITS:
        if lo <= med <= hi:
            return t * scale
    raise ValueError(
        f"{src}: cannot infer the time unit from the median interval {med:.6g}: it implies no "
        "sampling rate between 5 and 1000 Hz in s, ms, us or ns"
    )


def _read_parquet(
    inp: _Input, units: str | None, max_gap_s: float
) -> tuple[list[Piece], dict, str]:
    pa, pq = _pyarrow()
    src = str(inp.path)
    if inp.size == 0:
        raise ValueError(f"{src}: file is empty")
    try:
        pf = pq.ParquetFile(inp.path)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{src}: cannot read as Parquet: {exc}") from None
    lower = {n.strip().lower(): n for n in names}
    tcol = next((lower[c] for c in _TIME_NAMES if c in lower), None)
    axes = next(
        ([lower[c] for c in trip] for trip in _XYZ_NAMES if all(c in lower for c in trip)), None
    )
    if tcol is None or axes is None:
        raise ValueError(
            f"{src}: need a time column ({' / '.join(_TIME_NAMES)}) and x, y, z columns; "
            f"columns found: {names}"
        )
    try:
        table = pf.read(columns=[tcol, *axes])
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{src}: cannot read as Parquet: {exc}") from None
    if table.num_rows == 0:
        raise ValueError(f"{src}: no data rows")
    traw = table.column(tcol).to_numpy()
    if np.issubdtype(traw.dtype, np.datetime64):
        bad = np.isnat(traw)
        if bad.any():
            raise ValueError(f"{src}: data row {_first_bad(bad)} (0-based) has a missing time")
        ns = traw.astype("datetime64[ns]").astype(np.int64)
        t = (ns - ns[0]) * 1e-9 + ns[0] * 1e-9
    elif traw.dtype.kind in "fiu":
        t = traw.astype(np.float64)
        bad = ~np.isfinite(t)
        if bad.any():
            raise ValueError(f"{src}: data row {_first_bad(bad)} (0-based) has a missing time")
        t = _numeric_time_seconds(t, src)
    else:
        raise ValueError(f"{src}: time column {tcol!r} has type {table.column(tcol).type}")
    cols = []
    for a in axes:
        c = table.column(a).to_numpy()
        if c.dtype.kind not in "fiu":
            raise ValueError(f"{src}: column {a!r} is not numeric ({table.column(a).type})")
        cols.append(c.astype(np.float32))
    x = np.stack(cols, axis=1)
    _check_finite_xyz(x, src, "x, y, z")
    unit = _resolve_units(units, None, x, src)
    pieces, stats = to_uniform_pieces(
        t, to_g(x, unit, src), fs_out=TARGET_FS, max_gap_s=max_gap_s, source=src
    )
    return [(p.t0_s, p.x) for p in pieces], _uniform_stats(stats), unit


def read_device_file(path: Path, units: str | None) -> tuple[pd.DataFrame, float | None]:
    """A ``.cwa`` / ``.gt3x`` / ``.bin`` file through actipy, in g with gravity calibration only.

    Returns actipy's DataFrame (x, y, z columns, time index) and the device's sampling rate (None
    if it does not say). Clear errors for a missing actipy, units other than g, an empty file or
    a file without samples.
    """
    src = str(path)
    try:
        import actipy
    except ImportError:
        raise ImportError(
            f"{src}: reading device files (.cwa, .gt3x, .bin) needs the optional actipy package "
            '(and Java): pip install "relcon[devices]"'
        ) from None
    if units is not None and normalize_units(units, src) != "g":
        raise ValueError(f"{src}: device files are read in g; units={units!r} does not apply")
    if path.stat().st_size == 0:
        raise ValueError(f"{src}: file is empty")
    data, info = actipy.read_device(
        src,
        lowpass_hz=None,
        calibrate_gravity=True,
        detect_nonwear=False,
        resample_hz=None,
        verbose=False,
    )
    if len(data) == 0:
        raise ValueError(f"{src}: the device file holds no samples")
    rate = info.get("SampleRate") if isinstance(info, dict) else None
    return data, float(rate) if rate else None


def _read_device(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    src = str(inp.path)
    data, fs = read_device_file(inp.path, units)
    xyz = data[["x", "y", "z"]].to_numpy(dtype=np.float64)
    ns = np.asarray(data.index.asi8, dtype=np.int64)  # naive times are taken as UTC
    ok = np.isfinite(xyz).all(axis=1)
    xyz, ns = xyz[ok], ns[ok]
    if ns.size == 0:
        raise ValueError(f"{src}: every sample of the device file is invalid (NaN)")
    t = (ns - ns[0]) * 1e-9 + ns[0] * 1e-9
    pieces, stats = to_uniform_pieces(
        t,
        xyz.astype(np.float32),
        fs_out=TARGET_FS,
        fs_native=fs,
        max_gap_s=max_gap_s,
        source=src,
    )
    counts = _uniform_stats(stats)
    counts["device_nan_rows"] = int((~ok).sum())
    return [(p.t0_s, p.x) for p in pieces], counts, "g"


_READERS = {"csv": _read_csv, "npz": _read_npz, "parquet": _read_parquet, "device": _read_device}
