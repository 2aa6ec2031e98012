"""Sources of the stream: a file (CSV, Parquet, npz, device) or an array / DataFrame in memory,
read as raw blocks of rows (time stamps and x, y, z), one chunk at a time."""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.corpus import DEVICE_SUFFIXES, TABULAR_SUFFIXES, read_device_file
from relcon.data.corpus.inputs import _format_of
from relcon.data.datasets.csv import _TIME_CANDIDATES, _XYZ_CANDIDATES, _find_column

_CHANNELS = 3


@dataclass
class _Raw:
    row0: int  # index of the block's first row in the input
    kind: str  # "numeric", "datetime" or "uniform"
    t: np.ndarray | None  # (n,) numeric (float64 or int64) / Unix ns (int64) / None
    x: np.ndarray  # (n, 3) float64 in the input's units, NaN allowed


class _Source:
    """A recording read block by block."""

    src: str = ""
    fs: float | None = None  # rate stated by the input
    units: str | None = None  # units stated by the input
    start_s: float = 0.0  # start of uniform inputs

    def label(self, i: int) -> str:
        """How error messages name row ``i`` (0-based)."""
        return f"row {i} (0-based)"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _series_time(
    col: pd.Series, kind: str | None, src: str, label: Callable[[int], str], row0: int
) -> tuple[str, np.ndarray]:
    """Parse a block of a time column: ``(kind, values)``, values float64/int64 or Unix ns."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        dt = col if isinstance(col.dtype, pd.DatetimeTZDtype) else col.dt.tz_localize("UTC")
        bad = dt.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a missing time")
        return "datetime", dt.dt.as_unit("ns").array.asi8.copy()
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        if kind == "datetime":
            raise ValueError(f"{src}: {label(row0)}: the time column changes to numbers")
        bad = col.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a missing time")
        if pd.api.types.is_integer_dtype(col):
            return "numeric", col.to_numpy(dtype=np.int64)
        arr = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a non-finite time")
        return "numeric", arr
    numeric = pd.to_numeric(col, errors="coerce")
    is_num = numeric.notna().to_numpy()
    if kind is None:
        kind = "numeric" if is_num.any() else "datetime"
    if kind == "numeric":
        if not is_num.all():
            i = _first(~is_num)
            raise ValueError(
                f"{src}: {label(row0 + i)}: missing or non-numeric time {col.iloc[i]!r}"
            )
        return _series_time(numeric, "numeric", src, label, row0)
    dt = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    bad = dt.isna().to_numpy()
    if bad.any():
        i = _first(bad)
        raise ValueError(
            f"{src}: {label(row0 + i)}: cannot parse time {col.iloc[i]!r} as a number or an ISO "
            "8601 datetime"
        )
    return "datetime", dt.dt.as_unit("ns").array.asi8.copy()


def _series_xyz(
    df: pd.DataFrame, axes: Sequence[str], src: str, label: Callable[[int], str], row0: int
) -> np.ndarray:
    out = np.empty((len(df), _CHANNELS), dtype=np.float64)
    for c, a in enumerate(axes):
        col = df[a]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[:, c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        num = pd.to_numeric(col, errors="coerce")
        bad = (col.notna() & num.isna()).to_numpy()
        if bad.any():
            i = _first(bad)
            raise ValueError(
                f"{src}: {label(row0 + i)}: non-numeric acceleration {col.iloc[i]!r} in column "
                f"{a!r}"
            )
        out[:, c] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _pick_columns(
    columns: list[str],
    src: str,
    time_column: str | None,
    xyz: tuple[str | None, str | None, str | None],
    time_names: Sequence[str] = _TIME_CANDIDATES,
    xyz_names: Sequence[Sequence[str]] = _XYZ_CANDIDATES,
    *,
    allow_no_time: bool = False,
) -> tuple[str | None, list[str]]:
    tcol = _find_column(columns, time_column, time_names)
    if tcol is None and not (allow_no_time and time_column is None):
        wanted = time_column or " / ".join(time_names)
        raise ValueError(f"{src}: missing time column ({wanted}); columns found: {columns}")
    if any(xyz):
        if not all(xyz):
            raise ValueError(f"{src}: give all of x_column, y_column, z_column or none")
        axes = [_find_column(columns, c, ()) for c in xyz]
        missing = [c for c, a in zip(xyz, axes, strict=True) if a is None]
        if missing:
            raise ValueError(
                f"{src}: missing acceleration column(s) {missing}; columns found: {columns}"
            )
        return tcol, [a for a in axes if a is not None]
    for triple in xyz_names:
        found = [_find_column(columns, c, ()) for c in triple]
        if all(f is not None for f in found):
            return tcol, [f for f in found if f is not None]
    raise ValueError(
        f"{src}: missing acceleration columns (expected one of "
        f"{' or '.join(','.join(t) for t in xyz_names)}); columns found: {columns}"
    )


class _CsvSource(_Source):
    def __init__(
        self,
        path: Path,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        self.path = path
        self.src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            head = pd.read_csv(path, nrows=0, engine="c", skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: cannot parse as CSV: {exc}") from None
        columns = [str(c) for c in head.columns]
        tcol, axes = _pick_columns(columns, self.src, time_column, xyz)
        assert tcol is not None
        self.tcol, self.axes = tcol, axes

    def label(self, i: int) -> str:
        return f"data row {i + 1} (file line {i + 2})"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        kind: str | None = None
        row0 = 0
        try:
            reader = pd.read_csv(
                self.path,
                engine="c",
                skipinitialspace=True,
                usecols=[self.tcol, *self.axes],
                chunksize=rows,
            )
            with reader:
                for df in reader:
                    kind, t = _series_time(df[self.tcol], kind, self.src, self.label, row0)
                    x = _series_xyz(df, self.axes, self.src, self.label, row0)
                    yield _Raw(row0, kind, t, x)
                    row0 += len(df)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{self.path}: file has a header but no data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{self.path}: cannot parse as CSV after {self.label(row0)}: {exc}"
            ) from None
        if row0 == 0:
            raise ValueError(f"{self.path}: file has a header but no data rows")


class _ParquetSource(_Source):
    def __init__(
        self,
        path: Path,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.pf = pq.ParquetFile(path)
            names = list(self.pf.schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
        tcol, axes = _pick_columns(names, self.src, time_column, xyz)
        assert tcol is not None
        self.tcol, self.axes = tcol, axes
        if self.pf.metadata.num_rows == 0:
            raise ValueError(f"{path}: no data rows")

    def blocks(self, rows: int) -> Iterator[_Raw]:
        import pyarrow as pa

        kind: str | None = None
        row0 = 0
        try:
            for batch in self.pf.iter_batches(batch_size=rows, columns=[self.tcol, *self.axes]):
                n = batch.num_rows
                tarr = batch.column(self.tcol)
                if pa.types.is_timestamp(tarr.type) or pa.types.is_date(tarr.type):
                    tv = tarr.to_numpy(zero_copy_only=False)
                    bad = np.isnat(tv)
                    if bad.any():
                        raise ValueError(
                            f"{self.src}: {self.label(row0 + _first(bad))} has a missing time"
                        )
                    if kind == "numeric":
                        raise ValueError(
                            f"{self.src}: {self.label(row0)}: the time column changes type"
                        )
                    kind, t = "datetime", tv.astype("datetime64[ns]").view(np.int64)
                elif pa.types.is_integer(tarr.type) or pa.types.is_floating(tarr.type):
                    kind, t = _series_time(
                        pd.Series(tarr.to_numpy(zero_copy_only=False)),
                        kind,
                        self.src,
                        self.label,
                        row0,
                    )
                elif pa.types.is_string(tarr.type) or pa.types.is_large_string(tarr.type):
                    kind, t = _series_time(tarr.to_pandas(), kind, self.src, self.label, row0)
                else:
                    raise ValueError(f"{self.src}: time column {self.tcol!r} has type {tarr.type}")
                x = np.empty((n, _CHANNELS), dtype=np.float64)
                for c, name in enumerate(self.axes):
                    col = batch.column(name)
                    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                        raise ValueError(f"{self.src}: column {name!r} is not numeric ({col.type})")
                    x[:, c] = col.to_numpy(zero_copy_only=False)
                yield _Raw(row0, kind, t, x)
                row0 += n
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"{self.src}: cannot read as Parquet after {self.label(row0)}: {exc}"
            ) from None


def _npy_header(fh: Any, src: str, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{src}: cannot read '{key}' from the .npz: {exc}") from None
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype)


class _NpzSource(_Source):
    """Streams ``x`` (and ``t``) out of an .npz archive without loading them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{src}: cannot read as .npz: {exc}") from None
        members = {n[:-4]: n for n in self.zf.namelist() if n.endswith(".npy")}
        self.members = members
        xkey = next((k for k in ("x", "xyz") if k in members), None)
        if xkey is None:
            self.zf.close()
            raise ValueError(
                f"{src}: no acceleration array: expected key 'x' or 'xyz' of shape (T, 3); "
                f"keys found: {sorted(members)}"
            )
        self.xkey = xkey
        with self.zf.open(members[xkey]) as fh:
            shape, self.x_fortran, self.x_dtype = _npy_header(fh, src, xkey)
        if len(shape) != 2 or shape[1] != _CHANNELS or self.x_dtype.kind not in "fiu":
            raise ValueError(
                f"{src}: '{xkey}' must be a numeric (T, 3) array, got {self.x_dtype} {shape}"
            )
        self.n = shape[0]
        if self.n == 0:
            raise ValueError(f"{src}: no samples ('{xkey}' has 0 rows)")
        scal = {k: self._scalar(k) for k in ("fs", "start_s", "units") if k in members}
        self.has_t = "t" in members
        if self.has_t:
            with self.zf.open(members["t"]) as fh:
                tshape, self.t_fortran, self.t_dtype = _npy_header(fh, src, "t")
            if tshape != (self.n,) or self.t_dtype.kind not in "fiu":
                raise ValueError(f"{src}: 't' has {self.t_dtype} {tshape}, expected ({self.n},)")
            if "start_s" in scal:
                raise ValueError(
                    f"{src}: give 'start_s' only with 'fs'; with 't' the times are absolute"
                )
        elif "fs" not in scal:
            raise ValueError(f"{src}: no time base: give 'fs' (Hz) or 't' (seconds, shape (T,))")
        if "fs" in scal:
            fs = float(scal["fs"])
            if not math.isfinite(fs) or fs <= 0:
                raise ValueError(f"{src}: 'fs' must be a positive number, got {fs}")
            self.fs = fs
        self.start_s = float(scal.get("start_s", 0.0))
        if "units" in scal:
            self.units = str(scal["units"])

    def _scalar(self, key: str) -> Any:
        with self.zf.open(self.members[key]) as fh:
            try:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ValueError(f"{self.src}: cannot read '{key}': {exc}") from None
        if arr.size != 1:
            raise ValueError(f"{self.src}: '{key}' must be a scalar, got shape {arr.shape}")
        val = arr.reshape(()).item()
        if key == "units":
            if arr.dtype.kind not in "US":
                raise ValueError(f"{self.src}: 'units' must be a string, got {arr.dtype}")
            return val.decode() if isinstance(val, bytes) else val
        if arr.dtype.kind not in "fiu" or not math.isfinite(float(val)):
            raise ValueError(f"{self.src}: '{key}' must be a finite number, got {val!r}")
        return val

    def _columns(self, key: str, dtype: np.dtype, fortran: bool, ncol: int) -> list[Any]:
        """Open file handles positioned at the data (one per column in Fortran order)."""
        handles = []
        for c in range(ncol if fortran else 1):
            fh = self.zf.open(self.members[key])
            _npy_header(fh, self.src, key)
            if c:
                fh.seek(c * self.n * dtype.itemsize, os.SEEK_CUR)
            handles.append(fh)
        return handles

    def _read(self, handles: list[Any], dtype: np.dtype, n: int, ncol: int) -> np.ndarray:
        """Next ``n`` rows, ``(n, ncol)`` in the stored dtype."""
        per = 1 if len(handles) > 1 else ncol
        parts = []
        for fh in handles:
            size = n * per * dtype.itemsize
            buf = fh.read(size)
            if len(buf) != size:
                raise ValueError(f"{self.src}: the .npz archive is truncated")
            parts.append(np.frombuffer(buf, dtype=dtype).reshape(n, per))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def blocks(self, rows: int) -> Iterator[_Raw]:
        xh = self._columns(self.xkey, self.x_dtype, self.x_fortran, _CHANNELS)
        th = self._columns("t", self.t_dtype, False, 1) if self.has_t else []
        try:
            for row0 in range(0, self.n, rows):
                n = min(rows, self.n - row0)
                x = self._read(xh, self.x_dtype, n, _CHANNELS).astype(np.float64)
                if not self.has_t:
                    yield _Raw(row0, "uniform", None, x)
                    continue
                t = self._read(th, self.t_dtype, n, 1)[:, 0]
                if t.dtype.kind in "iu":
                    t = t.astype(np.int64)
                else:
                    t = t.astype(np.float64)
                    bad = ~np.isfinite(t)
                    if bad.any():
                        raise ValueError(
                            f"{self.src}: time {self.label(row0 + _first(bad))} of 't' is NaN or "
                            "infinite"
                        )
                yield _Raw(row0, "numeric", t, x)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{self.src}: cannot read the .npz archive: {exc}") from None
        finally:
            for fh in xh + th:
                fh.close()

    def close(self) -> None:
        self.zf.close()


class _DeviceSource(_Source):
    def __init__(self, path: Path, units: str | None) -> None:
        self.path = path
        self.src = str(path)
        self.data, self.fs = read_device_file(path, units)
        self.units = "g"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        index = pd.DatetimeIndex(self.data.index)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        ns = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)  # naive times are UTC
        for row0 in range(0, len(self.data), rows):
            part = self.data.iloc[row0 : row0 + rows]
            x = part[["x", "y", "z"]].to_numpy(dtype=np.float64)
            yield _Raw(row0, "datetime", ns[row0 : row0 + rows], x)

    def close(self) -> None:
        self.data = None


class _ArraySource(_Source):
    def __init__(self, x: np.ndarray, fs: float, start_s: float) -> None:
        self.src = "<array>"
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != _CHANNELS or arr.dtype.kind not in "fiu":
            raise ValueError(
                f"<array>: x must be a numeric (T, 3) array, got {arr.dtype} {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValueError("<array>: x has no samples")
        try:
            rate = float(fs)
        except (TypeError, ValueError):
            rate = float("nan")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"<array>: fs must be a positive number, got {fs!r}")
        self.x, self.fs, self.start_s = arr, rate, float(start_s)

    def blocks(self, rows: int) -> Iterator[_Raw]:
        for row0 in range(0, self.x.shape[0], rows):
            yield _Raw(row0, "uniform", None, self.x[row0 : row0 + rows].astype(np.float64))


class _FrameSource(_Source):
    def __init__(
        self,
        df: pd.DataFrame,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        self.src = "<DataFrame>"
        columns = [str(c) for c in df.columns]
        frame = df.copy(deep=False)
        frame.columns = columns
        tcol, axes = _pick_columns(columns, self.src, time_column, xyz, allow_no_time=True)
        if tcol is None:
            if not isinstance(df.index, pd.DatetimeIndex):
                raise ValueError(
                    f"{self.src}: no time column ({' / '.join(_TIME_CANDIDATES)}) and no "
                    f"DatetimeIndex; columns found: {columns}"
                )
            frame = frame.reset_index(names="__time__")
            tcol = "__time__"
        if len(frame) == 0:
            raise ValueError(f"{self.src}: no rows")
        self.df, self.tcol, self.axes = frame, tcol, axes

    def blocks(self, rows: int) -> Iterator[_Raw]:
        kind: str | None = None
        for row0 in range(0, len(self.df), rows):
            part = self.df.iloc[row0 : row0 + rows]
            kind, t = _series_time(part[self.tcol], kind, self.src, self.label, row0)
            yield _Raw(row0, kind, t, _series_xyz(part, self.axes, self.src, self.label, row0))


def _open_source(
    path: Path,
    units: str | None,
    time_column: str | None,
    xyz: tuple[str | None, str | None, str | None],
) -> _Source:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    kind = _format_of(path.name)
    if kind is None:
        raise ValueError(
            f"{path}: unsupported input type; expected "
            f"{', '.join('*' + s for s in TABULAR_SUFFIXES + DEVICE_SUFFIXES)}"
        )
    fmt = kind[0]
    if fmt == "csv":
        return _CsvSource(path, time_column, xyz)
    if fmt == "parquet":
        return _ParquetSource(path, time_column, xyz)
    if fmt == "npz":
        return _NpzSource(path)
    return _DeviceSource(path, units)
