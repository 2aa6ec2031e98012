"""Sources of the stream: a file (CSV, Parquet, npz, device) or an array / DataFrame in memory,
read as raw blocks of rows (time stamps and x, y, z), one chunk at a time.

:func:`open_source` opens a file; :class:`ArraySource` and :class:`FrameSource` wrap data in
memory. Every source yields :class:`RawBlock` s and says how far it has got
(:meth:`Source.position` against :attr:`Source.size` times :attr:`Source.passes`: bytes of
the file) for progress bars; :func:`bytes_to_read` says that total before the file is opened.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.formats import (
    CHANNELS,
    DAMAGED_ERRORS,
    TIME_COLUMNS,
    damaged_message,
    find_column,
    first_true,
    format_of,
    normalize_units,
    pick_columns,
    row_length_error,
    sniff_csv,
    unsupported_message,
)
from relcon.data.stream.cwa import CwaReader
from relcon.data.stream.devicecheck import check_device_file

__all__ = [
    "ArraySource",
    "FrameSource",
    "RawBlock",
    "Source",
    "bytes_to_read",
    "open_source",
    "read_device_file",
]

XYZ = tuple[str | None, str | None, str | None]
OnBytes = Callable[[int], None] | None  # told the bytes read by a pass made on opening

#: Bytes of CSV text per row assumed when sizing the blocks of the CSV reader.
_CSV_ROW_BYTES = 36
#: Largest block of CSV text parsed at a time (the reader keeps a few dozen blocks ahead).
_CSV_BLOCK_MAX = 1 << 20


@dataclass
class RawBlock:
    """Consecutive rows of an input, as read (before any check)."""

    row0: int  # index of the block's first row in the input
    kind: str  # "numeric", "datetime" or "uniform"
    t: np.ndarray | None  # (n,) numeric (float64 or int64) / Unix ns (int64) / None (uniform)
    x: np.ndarray  # (n, 3) float64 in the input's units, NaN allowed
    labels: np.ndarray | None = None  # (n,) object: per-row text labels (CSV label column)


class Source:
    """A recording read block by block."""

    src: str = ""
    fs: float | None = None  # rate stated by the input
    units: str | None = None  # units stated by the input
    start_s: float = 0.0  # start of uniform inputs
    time_unit: str | None = None  # unit of numeric time stamps stated by the format
    size: int = 0  # bytes of the file (0 for data in memory)
    passes: int = 1  # times the file is read (2: a .cwa file's calibration pass, then its data)

    def label(self, i: int) -> str:
        """How error messages name row ``i`` (0-based)."""
        return f"row {i} (0-based)"

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        """Blocks of at most about ``rows`` rows, in order."""
        raise NotImplementedError

    def position(self) -> int:
        """Bytes of the file read so far, in all passes (an estimate for some formats): up to
        ``size * passes``."""
        return 0

    def close(self) -> None:
        """Release open files."""


# ----------------------------------------------------------------------------------------------
# columns of a block
# ----------------------------------------------------------------------------------------------


def _series_time(
    col: pd.Series, kind: str | None, src: str, label: Callable[[int], str], row0: int
) -> tuple[str, np.ndarray]:
    """Parse a block of a time column: ``(kind, values)``, values float64/int64 or Unix ns."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        dt = col if isinstance(col.dtype, pd.DatetimeTZDtype) else col.dt.tz_localize("UTC")
        bad = dt.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a missing time")
        return "datetime", dt.dt.as_unit("ns").array.asi8.copy()
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        if kind == "datetime":
            raise ValueError(f"{src}: {label(row0)}: the time column changes to numbers")
        bad = col.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a missing time")
        if pd.api.types.is_integer_dtype(col):
            return "numeric", col.to_numpy(dtype=np.int64)
        arr = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a non-finite time")
        return "numeric", arr
    numeric = pd.to_numeric(col, errors="coerce")
    is_num = numeric.notna().to_numpy()
    if kind is None:
        kind = "numeric" if is_num.any() else "datetime"
    if kind == "numeric":
        if not is_num.all():
            i = first_true(~is_num)
            raise ValueError(
                f"{src}: {label(row0 + i)}: missing or non-numeric time {col.iloc[i]!r}"
            )
        return _series_time(numeric, "numeric", src, label, row0)
    dt = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    bad = dt.isna().to_numpy()
    if bad.any():
        i = first_true(bad)
        raise ValueError(
            f"{src}: {label(row0 + i)}: cannot parse time {col.iloc[i]!r} as a number or an ISO "
            "8601 datetime"
        )
    return "datetime", dt.dt.as_unit("ns").array.asi8.copy()


def _series_xyz(
    df: pd.DataFrame, axes: Sequence[str], src: str, label: Callable[[int], str], row0: int
) -> np.ndarray:
    out = np.empty((len(df), CHANNELS), dtype=np.float64)
    for c, a in enumerate(axes):
        col = df[a]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[:, c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        num = pd.to_numeric(col, errors="coerce")
        bad = (col.notna() & num.isna()).to_numpy()
        if bad.any():
            i = first_true(bad)
            raise ValueError(
                f"{src}: {label(row0 + i)}: non-numeric acceleration {col.iloc[i]!r} in column "
                f"{a!r}"
            )
        out[:, c] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _arrow_time(
    arr: Any, kind: str | None, src: str, label: Callable[[int], str], row0: int
) -> tuple[str, np.ndarray]:
    """A block of a time column read by pyarrow: ``(kind, values)`` as for :func:`_series_time`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = arr.type
    if pa.types.is_date(typ):
        arr = arr.cast(pa.timestamp("ns"))
        typ = arr.type
    if pa.types.is_timestamp(typ):
        if kind == "numeric":
            raise ValueError(f"{src}: {label(row0)}: the time column changes type")
        if arr.null_count:
            bad = np.asarray(arr.is_null().to_numpy(zero_copy_only=False))
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a missing time")
        ns = pc.cast(arr, pa.timestamp("ns", tz=typ.tz)) if typ.unit != "ns" else arr
        return "datetime", np.asarray(ns.cast(pa.int64()).to_numpy(), dtype=np.int64)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        if kind == "datetime":
            raise ValueError(f"{src}: {label(row0)}: the time column changes to numbers")
        if arr.null_count:
            bad = np.asarray(arr.is_null().to_numpy(zero_copy_only=False))
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a missing time")
        if pa.types.is_integer(typ):
            return "numeric", np.asarray(arr.to_numpy(), dtype=np.int64)
        t = np.asarray(arr.to_numpy(), dtype=np.float64)
        bad = ~np.isfinite(t)
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + first_true(bad))} has a non-finite time")
        return "numeric", t
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return _series_time(arr.to_pandas(), kind, src, label, row0)
    raise ValueError(f"{src}: the time column has type {typ}, expected numbers or datetimes")


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------


class _CsvSource(Source):
    """A CSV / CSV.gz file: pyarrow's multi-threaded streaming reader; pandas' chunked reader
    from the first block pyarrow cannot convert on (it names the bad row and value)."""

    def __init__(self, path: Path, time_column: str | None, xyz: XYZ, label_column: str | None):
        self.path = path
        self.src = str(path)
        self.size = path.stat().st_size
        if self.size == 0:
            raise ValueError(f"{path}: file is empty")
        self.sep, self.decimal = sniff_csv(path)
        try:
            head = pd.read_csv(path, nrows=0, sep=self.sep, engine="c")
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: file is empty") from None
        except DAMAGED_ERRORS as exc:
            raise ValueError(damaged_message(path, exc)) from None
        except (pd.errors.ParserError, OSError) as exc:
            raise ValueError(f"{path}: cannot parse as CSV: {exc}") from None
        columns = [str(c) for c in head.columns]  # as in the file (pyarrow's names)
        try:
            tcol, axes = pick_columns(columns, self.src, time_column, xyz)
        except ValueError as exc:
            hint = _delimiter_hint(columns, self.sep)
            if hint:
                raise ValueError(f"{exc}; {hint}") from None
            raise
        assert tcol is not None
        self.tcol, self.axes = tcol, axes
        self.lcol = None
        if label_column is not None:
            self.lcol = find_column(columns, label_column, ())
            if self.lcol is None:
                raise ValueError(
                    f"{path}: missing label column {label_column!r}; columns found: {columns}"
                )
        self._raw: Any = None
        self._pos = 0

    def label(self, i: int) -> str:
        return f"data row {i + 1} (file line {i + 2})"

    def position(self) -> int:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._pos = max(self._pos, int(self._raw.tell()))
        return min(self._pos, self.size)

    def _columns(self) -> list[str]:
        return [self.tcol, *self.axes, *([self.lcol] if self.lcol else [])]

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        state: dict[str, Any] = {"row0": 0, "kind": None}
        yield from self._arrow_blocks(rows, state)
        if state.get("fallback"):
            # a value pyarrow cannot convert, or a row it cannot split: pandas takes over from
            # the first row not yet delivered and names the problem
            yield from self._pandas_blocks(rows, state["row0"], state["kind"])
        elif state["row0"] == 0:
            raise ValueError(f"{self.src}: file has a header but no data rows")

    def _arrow_blocks(self, rows: int, state: dict[str, Any]) -> Iterator[RawBlock]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        block = int(min(_CSV_BLOCK_MAX, max(1 << 14, rows * _CSV_ROW_BYTES)))
        names = self._columns()
        col_types: dict[str, Any] = {a: pa.float64() for a in self.axes}
        if self.lcol:
            col_types[self.lcol] = pa.string()
        gz = self.src.lower().endswith(".gz")
        raw = pa.OSFile(self.src)
        self._raw = raw
        stream = pa.CompressedInputStream(raw, "gzip") if gz else raw
        try:
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(block_size=block, use_threads=True),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.sep, invalid_row_handler=lambda row: self._bad_row(state)
                ),
                convert_options=pcsv.ConvertOptions(
                    include_columns=names, column_types=col_types, decimal_point=self.decimal
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                n = batch.num_rows
                if n == 0:
                    continue
                row0, kind = state["row0"], state["kind"]
                kind, t = _arrow_time(batch.column(0), kind, self.src, self.label, row0)
                x = np.empty((n, CHANNELS), dtype=np.float64)
                for c in range(CHANNELS):
                    x[:, c] = batch.column(1 + c).to_numpy(zero_copy_only=False)
                lab = None
                if self.lcol:
                    lab = np.asarray(batch.column(4).to_numpy(zero_copy_only=False), dtype=object)
                state["kind"] = kind
                yield RawBlock(row0, kind, t, x, lab)
                state["row0"] = row0 + n
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowKeyError):
            if state.get("bad_row"):  # a row with more or fewer fields than the header
                self._row_length_error()
            state["fallback"] = True
        except DAMAGED_ERRORS as exc:
            raise ValueError(damaged_message(self.src, exc)) from None
        except OSError as exc:
            if gz:  # pyarrow's gzip stream failing: "zlib inflate failed", a cut stream
                raise ValueError(damaged_message(self.src, exc)) from None
            raise ValueError(
                f"{self.src}: cannot read as CSV after {self.label(state['row0'])}: {exc}"
            ) from None
        except pa.ArrowException as exc:
            raise ValueError(
                f"{self.src}: cannot read as CSV after {self.label(state['row0'])}: {exc}"
            ) from None
        finally:
            raw.close()
            self._pos = self.size

    @staticmethod
    def _bad_row(state: dict[str, Any]) -> str:
        """pyarrow's handler of a row whose field count differs from the header's."""
        state["bad_row"] = True
        return "error"

    def _row_length_error(self) -> None:
        """Raise the error naming the first row whose field count differs from the header's."""
        msg = row_length_error(self.path, self.sep)
        if msg is not None:
            raise ValueError(msg)

    def _pandas_blocks(self, rows: int, row0: int, kind: str | None) -> Iterator[RawBlock]:
        tcol, *axes = [c.lstrip() for c in self._columns()[:4]]
        lcol = self.lcol.lstrip() if self.lcol else None
        names = [tcol, *axes, *([lcol] if lcol else [])]
        start = row0
        fh = open(self.path, "rb")
        self._raw = fh
        try:
            reader = pd.read_csv(
                fh,
                sep=self.sep,
                decimal=self.decimal,
                engine="c",
                skipinitialspace=True,
                usecols=names,
                chunksize=rows,
                skiprows=range(1, row0 + 1) if row0 else None,
                compression="gzip" if self.src.lower().endswith(".gz") else None,
                dtype={lcol: object} if lcol else None,
            )
            with reader:
                for df in reader:
                    kind, t = _series_time(df[tcol], kind, self.src, self.label, row0)
                    x = _series_xyz(df, axes, self.src, self.label, row0)
                    lab = df[lcol].to_numpy(dtype=object) if lcol else None
                    yield RawBlock(row0, kind, t, x, lab)
                    row0 += len(df)
        except pd.errors.EmptyDataError:
            if start == 0:
                raise ValueError(f"{self.path}: file has a header but no data rows") from None
        except DAMAGED_ERRORS as exc:
            raise ValueError(damaged_message(self.path, exc)) from None
        except pd.errors.ParserError as exc:
            self._row_length_error()
            raise ValueError(
                f"{self.path}: cannot parse as CSV after {self.label(row0)}: {exc}"
            ) from None
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot read as CSV: {exc}") from None
        finally:
            fh.close()
            self._pos = self.size
        if row0 == 0:
            raise ValueError(f"{self.path}: file has a header but no data rows")


def _delimiter_hint(columns: list[str], sep: str) -> str:
    """A hint when the header, read as one column, holds another delimiter."""
    names = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
    if len(columns) == 1:
        for d, name in names.items():
            if d != sep and d in columns[0]:
                return (
                    f"the header looks separated by {name}, but the data rows do not split into "
                    f"as many fields (the delimiter was detected as {names[sep]})"
                )
    return ""


class _ParquetSource(Source):
    def __init__(self, path: Path, time_column: str | None, xyz: XYZ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.src = str(path)
        self.size = path.stat().st_size
        if self.size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.pf = pq.ParquetFile(path)
            names = list(self.pf.schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
        tcol, axes = pick_columns(names, self.src, time_column, xyz)
        assert tcol is not None
        self.tcol, self.axes = tcol, axes
        self.n = self.pf.metadata.num_rows
        if self.n == 0:
            raise ValueError(f"{path}: no data rows")
        self._done = 0

    def position(self) -> int:
        return int(self.size * self._done / max(1, self.n))

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        import pyarrow as pa

        kind: str | None = None
        row0 = 0
        try:
            for batch in self.pf.iter_batches(batch_size=rows, columns=[self.tcol, *self.axes]):
                n = batch.num_rows
                kind, t = _arrow_time(batch.column(0), kind, self.src, self.label, row0)
                x = np.empty((n, CHANNELS), dtype=np.float64)
                for c, name in enumerate(self.axes):
                    col = batch.column(1 + c)
                    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                        raise ValueError(f"{self.src}: column {name!r} is not numeric ({col.type})")
                    x[:, c] = col.to_numpy(zero_copy_only=False)
                yield RawBlock(row0, kind, t, x)
                row0 += n
                self._done = row0
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


class _NpzSource(Source):
    """Streams ``x`` (and ``t``) out of an .npz archive without loading them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = src = str(path)
        self.size = path.stat().st_size
        if self.size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{src}: cannot read as .npz: {exc}") from None
        try:
            self._setup()
        except BaseException:
            self.zf.close()
            raise
        self._done = 0

    def _setup(self) -> None:
        src = self.src
        members = {n[:-4]: n for n in self.zf.namelist() if n.endswith(".npy")}
        self.members = members
        xkey = next((k for k in ("x", "xyz") if k in members), None)
        if xkey is None:
            raise ValueError(
                f"{src}: no acceleration array: expected key 'x' or 'xyz' of shape (T, 3); "
                f"keys found: {sorted(members)}"
            )
        self.xkey = xkey
        with self.zf.open(members[xkey]) as fh:
            shape, self.x_fortran, self.x_dtype = _npy_header(fh, src, xkey)
        if len(shape) != 2 or shape[1] != CHANNELS or self.x_dtype.kind not in "fiu":
            raise ValueError(
                f"{src}: '{xkey}' must be a numeric (T, 3) array, got {self.x_dtype} {shape}"
            )
        self.n = shape[0]
        if self.n == 0:
            raise ValueError(f"{src}: no samples ('{xkey}' has 0 rows)")
        scal = {k: self._scalar(k) for k in ("fs", "start_s", "units") if k in members}
        self.has_t = "t" in members
        if self.has_t:
            self.time_unit = "s"  # the layout of relcon prepare: 't' in seconds
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

    def position(self) -> int:
        return int(self.size * self._done / max(1, self.n))

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

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        xh = self._columns(self.xkey, self.x_dtype, self.x_fortran, CHANNELS)
        th = self._columns("t", self.t_dtype, False, 1) if self.has_t else []
        try:
            for row0 in range(0, self.n, rows):
                n = min(rows, self.n - row0)
                x = self._read(xh, self.x_dtype, n, CHANNELS).astype(np.float64)
                self._done = row0 + n
                if not self.has_t:
                    yield RawBlock(row0, "uniform", None, x)
                    continue
                t = self._read(th, self.t_dtype, n, 1)[:, 0]
                if t.dtype.kind in "iu":
                    t = t.astype(np.int64)
                else:
                    t = t.astype(np.float64)
                    bad = ~np.isfinite(t)
                    if bad.any():
                        raise ValueError(
                            f"{self.src}: time {self.label(row0 + first_true(bad))} of 't' is "
                            "NaN or infinite"
                        )
                yield RawBlock(row0, "numeric", t, x)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{self.src}: cannot read the .npz archive: {exc}") from None
        finally:
            for fh in xh + th:
                fh.close()

    def close(self) -> None:
        self.zf.close()


def read_device_file(path: Path, units: str | None) -> tuple[pd.DataFrame, float | None]:
    """A ``.cwa`` / ``.gt3x`` / ``.bin`` file through actipy, in g with gravity calibration only.

    Returns actipy's DataFrame (x, y, z columns, time index) and the device's sampling rate (None
    if it does not say). Clear errors for a missing actipy or Java, units other than g, an empty
    file, a file without samples, and a damaged file (:mod:`relcon.data.stream.devicecheck`
    before decoding; any read error actipy counts after): it is refused, never read in part.
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
    check_device_file(path)
    if shutil.which("java") is None:
        raise OSError(
            f"{src}: reading device files needs Java (actipy decodes them with it) and there is "
            "no `java` on PATH: install a Java runtime, e.g. apt install default-jre-headless"
        )
    try:
        with contextlib.redirect_stdout(sys.stderr):  # actipy's notes stay off our stdout
            data, info = actipy.read_device(
                src,
                lowpass_hz=None,
                calibrate_gravity=True,
                detect_nonwear=False,
                resample_hz=None,
                verbose=False,
            )
    except (subprocess.CalledProcessError, ValueError, EOFError) as exc:
        raise ValueError(f"{src}: actipy cannot decode the file: {exc}") from None
    if len(data) == 0:
        raise ValueError(f"{src}: the device file holds no samples")
    errors = info.get("ReadErrors", 0) if isinstance(info, dict) else 0
    if errors:
        raise ValueError(
            f"{src}: actipy counted {errors} read error(s) in the file (damaged data, a "
            "truncated end or time going backwards); the file is refused rather than read in part"
        )
    rate = info.get("SampleRate") if isinstance(info, dict) else None
    return data, float(rate) if rate else None


class _DeviceSource(Source):
    """A device file decoded whole by actipy; samples it marks invalid (NaN) are data holes."""

    def __init__(self, path: Path, units: str | None) -> None:
        self.path = path
        self.src = str(path)
        self.size = path.stat().st_size
        self.data, self.fs = read_device_file(path, units)
        self.units = "g"
        self._done = 0

    def position(self) -> int:
        n = 0 if self.data is None else len(self.data)
        return int(self.size * self._done / max(1, n))

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        index = pd.DatetimeIndex(self.data.index)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        ns = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)  # naive times are UTC
        for row0 in range(0, len(self.data), rows):
            part = self.data.iloc[row0 : row0 + rows]
            x = part[["x", "y", "z"]].to_numpy(dtype=np.float64)
            self._done = row0 + len(part)
            yield RawBlock(row0, "datetime", ns[row0 : row0 + rows], x)

    def close(self) -> None:
        self.data = None


class _CwaSource(Source):
    """An Axivity file decoded natively, a chunk at a time (:mod:`relcon.data.stream.cwa`): read
    twice, its gravity-calibration pass (on opening; ``on_bytes`` follows it) then its data."""

    passes = 2

    def __init__(self, path: Path, units: str | None, on_bytes: OnBytes = None) -> None:
        self.reader = CwaReader(path, units, on_bytes=on_bytes)
        self.src, self.size, self.fs, self.units = str(path), self.reader.size, self.reader.fs, "g"

    def position(self) -> int:
        return self.reader.calibration_bytes + self.reader.position

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        for row0, ns, x in self.reader.chunks(rows):
            yield RawBlock(row0, "datetime", ns, x)


# ----------------------------------------------------------------------------------------------
# data in memory
# ----------------------------------------------------------------------------------------------


class ArraySource(Source):
    """A uniformly sampled ``(T, 3)`` array: sample ``i`` at ``start_s + i / fs``."""

    def __init__(self, x: np.ndarray, fs: float, start_s: float = 0.0) -> None:
        self.src = "<array>"
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != CHANNELS or arr.dtype.kind not in "fiu":
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

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        for row0 in range(0, self.x.shape[0], rows):
            yield RawBlock(row0, "uniform", None, self.x[row0 : row0 + rows].astype(np.float64))


class FrameSource(Source):
    """A DataFrame with a time column (or a ``DatetimeIndex``) and x, y, z columns."""

    def __init__(self, df: pd.DataFrame, time_column: str | None = None, xyz: XYZ = (None,) * 3):
        self.src = "<DataFrame>"
        columns = [str(c) for c in df.columns]
        frame = df.copy(deep=False)
        frame.columns = columns
        tcol, axes = pick_columns(columns, self.src, time_column, xyz, allow_no_time=True)
        if tcol is None:
            if not isinstance(df.index, pd.DatetimeIndex):
                raise ValueError(
                    f"{self.src}: no time column ({' / '.join(TIME_COLUMNS)}) and no "
                    f"DatetimeIndex; columns found: {columns}"
                )
            frame = frame.reset_index(names="__time__")
            tcol = "__time__"
        if len(frame) == 0:
            raise ValueError(f"{self.src}: no rows")
        self.df, self.tcol, self.axes = frame, tcol, axes

    def blocks(self, rows: int) -> Iterator[RawBlock]:
        kind: str | None = None
        for row0 in range(0, len(self.df), rows):
            part = self.df.iloc[row0 : row0 + rows]
            kind, t = _series_time(part[self.tcol], kind, self.src, self.label, row0)
            yield RawBlock(row0, kind, t, _series_xyz(part, self.axes, self.src, self.label, row0))


def open_source(
    path: str | os.PathLike[str],
    units: str | None = None,
    time_column: str | None = None,
    xyz: XYZ = (None, None, None),
    *,
    label_column: str | None = None,
    file_format: str | None = None,
    on_bytes: OnBytes = None,
) -> Source:
    """Open a recording file for reading block by block (see :mod:`relcon.data.stream`).

    ``file_format`` (``"csv"``, ``"parquet"``, ``"npz"``, ``"device"``) overrides the format the
    suffix implies. ``on_bytes(bytes read)`` follows a pass over the whole file made on opening
    (a ``.cwa`` file's gravity calibration; see :func:`bytes_to_read`), for a progress bar.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    kind = format_of(p.name)
    if file_format is not None:
        if file_format not in ("csv", "parquet", "npz", "device"):
            raise ValueError(f"unknown file_format {file_format!r}")
        kind = (file_format, p.stem)
    if kind is None:
        raise ValueError(unsupported_message(p))
    fmt = kind[0]
    if label_column is not None and fmt != "csv":
        raise ValueError(f"{p}: a label column can only be read from CSV files")
    if fmt == "csv":
        return _CsvSource(p, time_column, xyz, label_column)
    if fmt == "parquet":
        return _ParquetSource(p, time_column, xyz)
    if fmt == "npz":
        return _NpzSource(p)
    if _native_cwa(p):
        return _CwaSource(p, units, on_bytes)
    return _DeviceSource(p, units)


def _native_cwa(p: Path) -> bool:
    """Whether a device file is read by :class:`~relcon.data.stream.cwa.CwaReader`."""
    native = os.environ.get("RELCON_CWA_READER", "native") != "actipy"  # actipy: the old path
    return native and p.name.lower().endswith((".cwa", ".cwa.gz"))


def bytes_to_read(path: str | os.PathLike[str], size: int | None = None) -> int:
    """The bytes :func:`open_source` reads from ``path`` (of ``size`` bytes, default: its size
    on disk) in all, the total of a progress bar: the size, twice for a ``.cwa`` file (its
    gravity-calibration pass reads it whole before the first window; its
    :meth:`Source.position` counts both passes)."""
    p = Path(path)
    size = p.stat().st_size if size is None else int(size)
    kind = format_of(p.name)
    return 2 * size if kind is not None and kind[0] == "device" and _native_cwa(p) else size
