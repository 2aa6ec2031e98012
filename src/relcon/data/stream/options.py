"""How a recording is read and cut into windows: :class:`WindowOptions`, the one list of the
reading and windowing settings that :func:`~relcon.data.stream.iter_windows`,
:func:`~relcon.data.stream.read_recording`, :func:`relcon.data.datasets.read_accel_csv` and the
``embed_*`` / ``predict_*`` functions of :mod:`relcon.apps` take as keyword arguments."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from relcon.data.corpus.quality import QualityRules
from relcon.data.formats import check_time_unit, format_of, normalize_units
from relcon.data.signal import TARGET_FS
from relcon.data.stream.reader import positive
from relcon.data.stream.sources import Source, open_source

__all__ = ["WindowOptions", "open_recording", "stride_samples"]

#: The options that choose columns of a table (not recorded in an output's settings).
COLUMN_OPTIONS = ("time_column", "x_column", "y_column", "z_column")


def stride_samples(stride_s: float) -> int:
    """``stride_s`` in 100 Hz samples (an error unless it is a positive multiple of 0.01 s)."""
    try:
        val = float(stride_s)
    except (TypeError, ValueError):
        val = float("nan")
    s = round(val * TARGET_FS) if math.isfinite(val) else 0
    if s < 1 or abs(val * TARGET_FS - s) > 1e-6:
        raise ValueError(f"stride_s must be a positive multiple of 0.01 s, got {stride_s!r}")
    return s


@dataclass(frozen=True)
class WindowOptions:
    """The settings of reading a recording and cutting it into 2.56 s windows.

    Every function that reads recordings takes these as keyword arguments (each the subset
    that applies to it) with these defaults.

    Attributes
    ----------
    units : str or None
        ``"g"``, ``"m/s^2"`` or ``"mg"``; stated by the file or detected when None.
    stride_s : float
        Seconds between window starts; a multiple of 0.01 s (2.56: no overlap).
    max_gap_s : float
        Longest interval between valid samples that is bridged by interpolation; longer gaps
        split the recording.
    chunk_s : float
        Input read and processed at a time, in seconds at the input's rate (100 Hz assumed when
        the file does not state its rate). Changes memory and speed, not the result.
    drop_nonwear : bool
        Drop windows in non-wear stretches (the rule of ``relcon prepare``).
    rules : QualityRules or None
        Non-wear thresholds (default :class:`relcon.data.corpus.QualityRules`).
    fs : float or None
        Native sampling rate in Hz (skips the estimate; the file's own rate otherwise).
    time_unit : str
        ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"`` for numeric time
        columns.
    time_column, x_column, y_column, z_column : str or None
        Column names (CSV, Parquet, DataFrame); found automatically when None.
    """

    units: str | None = None
    stride_s: float = 2.56
    max_gap_s: float = 0.5
    chunk_s: float = 3600.0
    drop_nonwear: bool = True
    rules: QualityRules | None = None
    fs: float | None = None
    time_unit: str = "auto"
    time_column: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    z_column: str | None = None

    @classmethod
    def of(
        cls, options: Mapping[str, Any], function: str, only: Iterable[str] | None = None
    ) -> WindowOptions:
        """The options given to ``function`` as keyword arguments; ``only``: the names it takes
        (default: every field). A name it does not take is a :class:`TypeError` naming it."""
        names = [f.name for f in fields(cls)] if only is None else list(only)
        unknown = [k for k in options if k not in names]
        if unknown:
            raise TypeError(
                f"{function}() got unexpected keyword argument(s) {unknown}; "
                f"it takes {', '.join(names)}"
            )
        return cls(**options)

    @property
    def xyz(self) -> tuple[str | None, str | None, str | None]:
        """``(x_column, y_column, z_column)``."""
        return self.x_column, self.y_column, self.z_column

    def kwargs(self) -> dict[str, Any]:
        """The settings as the keyword arguments of :func:`~relcon.data.stream.iter_windows`
        (the fields of :class:`WindowOptions`, not those a subclass adds)."""
        return {f.name: getattr(self, f.name) for f in fields(WindowOptions)}

    def settings(self) -> dict[str, Any]:
        """The settings of reading and windowing as recorded in an output's metadata (no
        column names; ``rules`` last, as a dict)."""
        out = self.kwargs()
        for name in (*COLUMN_OPTIONS, "rules"):
            del out[name]
        return {**out, "rules": (self.rules or QualityRules()).to_dict()}

    def check(self) -> None:
        """Refuse a bad setting before any file is read (a :class:`ValueError` naming it)."""
        stride_samples(self.stride_s)
        positive(self.max_gap_s, "max_gap_s")
        positive(self.chunk_s, "chunk_s")
        if self.fs is not None:
            positive(self.fs, "fs")
        if self.units is not None:
            normalize_units(self.units, "units")
        check_time_unit(self.time_unit, "settings")


def open_recording(
    path: str | Path,
    options: WindowOptions,
    recording: str | None = None,
    **source_kw: Any,
) -> tuple[Source, str]:
    """Open a recording file with the columns and units of ``options``: ``(source, recording
    id)``, the id being ``recording`` or the file's stem. ``source_kw`` goes to
    :func:`~relcon.data.stream.open_source` (``label_column``, ``file_format``,
    ``on_bytes``)."""
    p = Path(path).expanduser()
    source = open_source(p, options.units, options.time_column, options.xyz, **source_kw)
    if recording is None:
        fmt = format_of(p.name)
        recording = fmt[1] if fmt else p.stem
    return source, recording
