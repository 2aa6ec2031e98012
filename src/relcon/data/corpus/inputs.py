"""Input files of ``relcon prepare`` (CSV, npz, Parquet, device files): finding them and opening
each one as a stream of 2.56 s windows at 100 Hz in g (:func:`relcon.data.stream.iter_windows`).

See :mod:`relcon.data.corpus` for the formats accepted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from relcon.data.formats import (
    DEVICE_SUFFIXES,
    TABULAR_SUFFIXES,
    format_of,
    unsupported_message,
)
from relcon.data.stream.sources import bytes_to_read, read_device_file

if TYPE_CHECKING:
    from relcon.data.stream.iterator import WindowIterator
    from relcon.data.stream.options import WindowOptions

__all__ = [
    "DEVICE_SUFFIXES",
    "TABULAR_SUFFIXES",
    "Input",
    "collect_inputs",
    "open_input",
    "read_device_file",
]

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

    @property
    def bytes_to_read(self) -> int:
        """Its share of a progress bar over bytes read: the size, twice for a ``.cwa`` file
        (:func:`relcon.data.stream.sources.bytes_to_read`)."""
        return bytes_to_read(self.path, self.size)


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


def open_input(
    inp: Input, options: WindowOptions, on_bytes: Callable[[int], None] | None = None
) -> WindowIterator:
    """One input through :func:`relcon.data.stream.iter_windows` with ``options`` (and
    ``on_bytes``, told the bytes read by a ``.cwa`` file's calibration pass): a row with a
    missing value is an error naming it, except in device files, whose decoder marks invalid
    samples NaN (removed and counted: ``nan_rows``)."""
    from relcon.data.stream.iterator import iter_windows  # not at import: a cycle

    nan_policy = "drop" if inp.fmt == "device" else "error"
    return iter_windows(
        inp.path, recording=inp.recording, nan_policy=nan_policy, on_bytes=on_bytes,
        **options.kwargs(),
    )  # fmt: skip
