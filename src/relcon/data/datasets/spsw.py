"""Smartwatch data of Matey-Sanz et al. 2023 (m/s^2, ~100 Hz, irregular): :func:`read_spsw_smartwatch`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.datasets.base import (
    _dataset_dir,
    _finish,
    _pieces_to_recordings,
    reading,
    select_subjects,
)
from relcon.data.formats import first_true
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import TARGET_FS, to_g, to_uniform_pieces

__all__ = ["SPSW_LABELS", "read_spsw_smartwatch"]

#: Per-sample label names of the spsw smartwatch data (code = position).
SPSW_LABELS: tuple[str, ...] = ("SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN")

_SPSW_FILE = re.compile(r"^(s\d+)_(\d+)_sw\.csv(\.gz)?$")
_SPSW_COLUMNS = ("x_acc", "y_acc", "z_acc", "timestamp", "label")


def _spsw_subject(s: int | str) -> str:
    if isinstance(s, int | np.integer):
        return f"s{int(s):02d}"
    text = str(s).strip().lower()
    if text.isdigit():
        return f"s{int(text):02d}"
    return text


def read_spsw_smartwatch(
    root: str | os.PathLike[str] | None = None,
    subjects: Iterable[int | str] | None = None,
    max_gap_s: float = 0.5,
    *,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the Matey-Sanz et al. (2023) smartwatch accelerometer executions.

    Expects ``DATA/sXX/sXX_YY_sw.csv[.gz]`` under ``root`` (the ``spsw_smartwatch`` folder, or
    the data root that contains it). Columns are read by name: ``x_acc, y_acc, z_acc`` (m/s^2),
    ``timestamp`` (Unix epoch milliseconds) and ``label`` (one of :data:`SPSW_LABELS`).
    Duplicate timestamps (dt = 0) keep the first row; the irregular ~100 Hz samples are
    regularized at the estimated native rate (100 Hz for every file of the release) and
    resampled to 100 Hz.

    Parameters
    ----------
    root : path-like, optional
        The ``spsw_smartwatch`` folder or the data root; :func:`default_data_root` when None.
    subjects : iterable of int or str, optional
        Subjects to read, as ``"s01"`` or ``1``; all when None.
    max_gap_s : float
        Gaps longer than this split an execution (none occur in the release; max dt 58 ms).
    report : ReadReport, optional
        Filled with counts of what was read and dropped.

    Returns
    -------
    list of Recording
        One per execution piece; ``user`` is ``"spsw:sXX"``, ``recording`` is
        ``"spsw:sXX:YY:<piece>"``, ``start_s`` is Unix time in seconds.

    Raises
    ------
    FileNotFoundError
        If the folder or requested subjects are missing.
    ValueError
        On missing columns, NaNs, unknown labels or timestamps going backwards.
    """
    folder = _dataset_dir(root, "spsw_smartwatch", "DATA")
    data_dir = folder / "DATA"
    files: dict[str, list[tuple[str, Path]]] = {}
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for p in sorted(sub.iterdir()):
            m = _SPSW_FILE.match(p.name)
            if m:
                if m.group(1) != sub.name:
                    raise ValueError(f"{p}: file name subject {m.group(1)} != folder {sub.name}")
                files.setdefault(sub.name, []).append((m.group(2), p))
    if not files:
        raise FileNotFoundError(f"{data_dir}: no sXX/sXX_YY_sw.csv[.gz] files found")
    files = select_subjects(files, subjects, _spsw_subject, data_dir, "smartwatch files")
    code_of = {name: i for i, name in enumerate(SPSW_LABELS)}

    local = ReadReport(dataset="spsw_smartwatch", source=str(folder))
    recs: list[Recording] = []
    for sid, execs in files.items():
        for exec_id, path in execs:
            with reading(path):
                try:
                    df = pd.read_csv(path, engine="c")
                except pd.errors.EmptyDataError:
                    raise ValueError(f"{path}: file is empty") from None
            missing_cols = [c for c in _SPSW_COLUMNS if c not in df.columns]
            if missing_cols:
                raise ValueError(
                    f"{path}: missing column(s) {missing_cols}; found {list(df.columns)}"
                )
            if len(df) == 0:
                raise ValueError(f"{path}: file has no data rows")
            num = df[["x_acc", "y_acc", "z_acc", "timestamp"]].apply(pd.to_numeric, errors="coerce")
            bad = num.isna().any(axis=1).to_numpy() | df["label"].isna().to_numpy()
            if bad.any():
                i = first_true(bad)
                raise ValueError(
                    f"{path}: data row {i + 1} (file line {i + 2}) has missing or non-numeric values"
                )
            labels_str = df["label"].astype(str).str.strip()
            unknown = ~labels_str.isin(list(SPSW_LABELS)).to_numpy()
            if unknown.any():
                i = first_true(unknown)
                raise ValueError(
                    f"{path}: data row {i + 1} has unknown label {labels_str.iloc[i]!r}; "
                    f"expected one of {list(SPSW_LABELS)}"
                )
            lab = labels_str.map(code_of).to_numpy(dtype=np.int16)
            t_s = num["timestamp"].to_numpy(dtype=np.float64) * 1e-3
            xyz = to_g(num[["x_acc", "y_acc", "z_acc"]].to_numpy(dtype=np.float64), "m/s^2")
            local.n_files += 1
            local.n_rows += len(df)
            pieces, stats = to_uniform_pieces(
                t_s, xyz, lab, fs_out=TARGET_FS, max_gap_s=max_gap_s, source=str(path)
            )
            local.add_pieces(stats, {"subject": sid, "execution": exec_id, "n_rows": len(df)})
            user = f"spsw:{sid}"
            recs += _pieces_to_recordings(pieces, user, f"{user}:{exec_id}", SPSW_LABELS, path)
    _finish(report, local, recs)
    return recs
