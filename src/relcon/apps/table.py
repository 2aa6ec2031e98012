"""The output table of a run over recordings (:mod:`relcon.apps.batch`): its claim and checks,
its writer (Parquet or CSV, under a temporary name, renamed when complete) and its metadata."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.corpus.inputs import Input, collect_inputs
from relcon.io import atomic_path, claim_output

__all__ = [
    "METADATA_KEY",
    "TableWriter",
    "check_output",
    "claimed_output",
    "read_metadata",
    "report_path",
]

#: Key of the run record in the Parquet file's key-value metadata (and its Arrow schema's).
METADATA_KEY = "relcon"

_SUFFIXES = (".parquet", ".pq", ".csv.gz", ".csv")


def report_path(out: str | os.PathLike[str]) -> Path:
    """The sidecar report of an output table: ``E.parquet`` -> ``E.report.json``."""
    p = Path(out)
    low = p.name.lower()
    suf = next((s for s in _SUFFIXES if low.endswith(s)), p.suffix)
    return p.with_name(p.name[: len(p.name) - len(suf)] + ".report.json")


def _output_format(out: Path) -> str:
    name = out.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"{out}: output must end in .parquet, .pq, .csv or .csv.gz")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    out: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    overwrite: bool,
    *,
    extra: Sequence[Path] = (),
) -> Path:
    """``out`` when the run may write it: a supported suffix, not an input file, and (unless
    ``overwrite``) not there yet. ``extra`` are other files the run writes (the sidecar
    report), checked against the inputs too.

    Raises
    ------
    ValueError
        For an unsupported suffix, or an output that is one of the ``inputs`` (compared by
        resolved path and by inode, so a hard or symbolic link is caught): never overwritten.
    FileExistsError
        When ``out`` exists and ``overwrite`` is False.
    """
    p = Path(out).expanduser()
    _output_format(p)
    for target in (p, *extra):
        for inp in inputs:
            if _same_file(target, Path(inp)):
                raise ValueError(
                    f"{target}: this is an input recording ({inp}); choose another --out (an "
                    "input is never overwritten, even with --overwrite)"
                )
    if p.is_dir():
        raise ValueError(f"{p}: is a folder; --out must name a file (.parquet or .csv)")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} already exists; pass --overwrite to replace it")
    return p


class TableWriter:
    """Append row chunks to a Parquet or CSV file written under a temporary name.

    ``write(cols)`` takes a dict of equal-length columns (numpy arrays; a ``start_time`` column
    as int64 Unix nanoseconds with a ``None`` for rows without an absolute clock is stored as a
    UTC timestamp); :meth:`close` renames the file into place (``ok``) or removes it.
    """

    def __init__(self, out: Path, row_group_rows: int = 8192) -> None:
        self.fmt = _output_format(out)
        self.out = out
        self.row_group_rows = row_group_rows
        self._ctx = atomic_path(out)
        self.tmp = self._ctx.__enter__()
        self._writer: Any = None
        self._fh: Any = None
        self._held: list[Any] = []
        self._n_held = 0
        self.rows = 0
        self.metadata: dict[str, Any] = {}

    def write(self, cols: dict[str, Any], *, empty_ok: bool = False) -> None:
        """Append rows (``empty_ok``: also zero rows, which fixes the columns of an empty file)."""
        n = len(next(iter(cols.values())))
        if n == 0 and not empty_ok:
            return
        self.rows += n
        self._held.append(self._table(cols) if self.fmt == "parquet" else self._frame(cols))
        self._n_held += n
        if self._n_held >= self.row_group_rows:
            self._flush()

    @staticmethod
    def _table(cols: dict[str, Any]) -> Any:
        import pyarrow as pa

        arrays = {}
        for k, v in cols.items():
            if k == "start_time":
                ns = np.asarray(v, dtype=np.int64)
                arrays[k] = pa.array(ns, type=pa.timestamp("ns", tz="UTC"), mask=ns == _NO_TIME)
            elif k == "recording":
                arrays[k] = pa.array(v, type=pa.string())
            else:
                arrays[k] = pa.array(np.ascontiguousarray(v))
        return pa.table(arrays)

    @staticmethod
    def _frame(cols: dict[str, Any]) -> pd.DataFrame:
        cols = dict(cols)
        if "start_time" in cols:
            ns = np.asarray(cols["start_time"], dtype=np.int64)
            cols["start_time"] = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
        return pd.DataFrame(cols)

    def _flush(self) -> None:
        if not self._held:
            return
        held, self._held, self._n_held = self._held, [], 0
        if self.fmt == "csv":
            df = pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]
            if self._fh is None:
                import gzip

                gz = self.out.name.lower().endswith(".gz")
                self._fh = (
                    gzip.open(self.tmp, "wt", newline="") if gz else open(self.tmp, "w", newline="")
                )
                df.to_csv(self._fh, index=False)
            else:
                df.to_csv(self._fh, index=False, header=False)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(held) if len(held) > 1 else held[0]
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))

    def _key_values(self) -> dict[str, str]:
        """The run record for the file's key-value metadata, and the Arrow schema (stored under
        ``ARROW:schema``, fixed when the writer opened) again with the record in its metadata,
        so that pyarrow's schema and table readers show it too."""
        import base64

        record = json.dumps(self.metadata, default=str)
        schema = self._schema.with_metadata({**(self._schema.metadata or {}), METADATA_KEY: record})
        arrow = base64.b64encode(schema.serialize().to_pybytes()).decode()
        return {METADATA_KEY: record, "ARROW:schema": arrow}

    def close(self, ok: bool) -> None:
        """Finish: rename into place when ``ok``, else remove the temporary file."""
        try:
            if ok:
                self._flush()
                if self._writer is not None and self.metadata:
                    self._writer.add_key_value_metadata(self._key_values())
        except BaseException:
            ok = False
            raise
        finally:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
            if ok:
                self._ctx.__exit__(None, None, None)
            else:
                with contextlib.suppress(Exception):
                    self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
                if self.tmp.exists():
                    self.tmp.unlink()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The run record (:data:`METADATA_KEY`) of a Parquet file written by ``relcon embed`` or
    ``relcon predict`` (empty when there is none): from the file's key-value metadata, else
    from its Arrow schema's."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    raw = (pf.metadata.metadata or {}).get(METADATA_KEY.encode())
    if not raw:
        raw = (pf.schema_arrow.metadata or {}).get(METADATA_KEY.encode())
    return json.loads(raw) if raw else {}


_NO_TIME = np.iinfo(np.int64).min


@contextlib.contextmanager
def claimed_output(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    overwrite: bool,
    skip_bad: bool = False,
) -> Iterator[tuple[Path, list[Input]]]:
    """Claim ``out`` for a run over ``paths`` and check it may be written; yields ``out`` and
    the input files.

    In order: the suffix; the claim (:func:`relcon.io.claim_output`: a second run writing
    ``out`` is refused, an unwritable place fails, naming ``out``); the inputs
    (:func:`relcon.data.corpus.inputs.collect_inputs`); :func:`check_output` (never an input,
    an existing ``out`` only with ``overwrite``). The ``embed``/``predict`` functions enter it
    before loading their model, so nothing is computed for an output that cannot be written.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out_p = Path(out).expanduser()
    _output_format(out_p)
    with claim_output(out_p, overwrite=True):  # existence: check_output, after the input check
        inputs = collect_inputs(list(paths), out_p, "stem")
        if not inputs:
            raise ValueError(f"no recordings found in {[str(p) for p in paths]}")
        report = report_path(out_p) if skip_bad else None
        check_output(out_p, [inp.path for inp in inputs], overwrite,
                     extra=[report] if report else [])  # fmt: skip
        yield out_p, inputs
