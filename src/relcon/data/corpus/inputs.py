"""Input files of ``relcon prepare`` (CSV, npz, Parquet, device files): finding them and reading
each one into gap-free pieces at 100 Hz in g.

See :mod:`relcon.data.corpus` for the formats accepted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relcon.data.formats import (
    DEVICE_SUFFIXES,
    TABULAR_SUFFIXES,
    format_of,
    unsupported_message,
)
from relcon.data.stream.recording import read_recording
from relcon.data.stream.sources import read_device_file

__all__ = ["DEVICE_SUFFIXES", "TABULAR_SUFFIXES", "Input", "collect_inputs", "read_device_file"]

# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """One recording file found by :func:`collect_inputs`."""

    path: Path  # resolved
    fmt: str  # "csv", "npz", "parquet", "device"
    user: str
    recording: str
    size: int
    mtime_ns: int


def collect_inputs(
    inputs: Sequence[str | os.PathLike[str]], out: Path, user_from: str = "stem"
) -> list[Input]:
    """The recording files among ``inputs`` (files, or folders searched recursively; hidden
    entries and anything inside ``out`` skipped), in sorted order of their resolved paths.

    ``user_from`` is ``"stem"`` (user and recording: the file stem) or ``"parent"`` (user: the
    parent folder's name; recording: ``user/stem``). A file given by name must be of a supported
    type (error otherwise); files of other types inside folders are skipped.
    """
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
                kind = format_of(f.name)
                if kind is None or not f.is_file():
                    continue
                r = f.resolve()
                if r == out_res or out_res in r.parents:
                    continue
                found[str(r)] = (r, *kind, f.absolute().parent.name)
        else:
            kind = format_of(p.name)
            if kind is None:
                raise ValueError(unsupported_message(p))
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
        result.append(Input(r, fmt, user, rec, int(st.st_size), int(st.st_mtime_ns)))
    return result


# the names relcon.data.corpus.prepare uses
_Input = Input
_collect_inputs = collect_inputs


Piece = tuple[float, np.ndarray]  # (start time in seconds, (n, 3) float32 at 100 Hz in g)


def _read(inp: Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    """One input through :func:`relcon.data.stream.read_recording`: a row with a missing value
    is an error naming it, except in device files, whose decoder marks invalid samples NaN
    (removed and counted)."""
    device = inp.fmt == "device"
    pieces, info = read_recording(
        inp.path, units=units, max_gap_s=max_gap_s, nan_policy="drop" if device else "error",
        recording=inp.recording,
    )  # fmt: skip
    counts = {
        "duplicate_timestamp_rows": info.duplicate_rows,
        "unresampleable_pieces": info.short_pieces,
        "gap_splits": info.gaps,
    }
    if device:
        counts["device_nan_rows"] = info.nan_rows
    return [(float(p.t0_s), p.x) for p in pieces], counts, info.units


_READERS = {"csv": _read, "npz": _read, "parquet": _read, "device": _read}
