"""The data sets: one reader module per public data set, and from a DataConfig to windows.

Every reader returns a list of :class:`~relcon.data.recording.Recording` objects that satisfy the
package's input contract: tri-axial acceleration in g, uniformly sampled at 100 Hz, float32,
with optional per-sample integer labels (``-1`` = unlabelled).

Supported data sets (see ``<data root>/<name>/SOURCE.txt`` for provenance and caveats):

* :func:`read_wisdm_watch` (:mod:`.wisdm`) - WISDM 2019 smartwatch accelerometer (m/s^2,
  ~20 Hz, irregular);
* :func:`read_spsw_smartwatch` (:mod:`.spsw`) - Matey-Sanz et al. 2023 smartwatch (m/s^2,
  ~100 Hz, irregular);
* :func:`read_hapt` (:mod:`.hapt`) - UCI HAPT v2.1 raw waist accelerometer (g, 50 Hz, interval
  labels);
* :func:`read_ipol_gait` (:mod:`.ipol`) - IPOL 2023 lower-back gait trials (m/s^2, 100 Hz, lost
  packets), with the gait events of :func:`read_ipol_gait_events`;
* :func:`read_oxford_step_count` (:mod:`.oxford`) - Oxford step counter phone accelerometer
  (m/s^2, 100-405 Hz, irregular), with the ground-truth steps of :func:`read_oxford_step_events`;
* :func:`read_accel_csv` (:mod:`.csv`) - a generic CSV / CSV.gz with a time column and x, y, z
  columns.

Nothing is dropped silently: each reader accepts an optional
:class:`~relcon.data.recording.ReadReport` that it fills with counts of what was read, removed
and why, and it logs a summary via :mod:`logging`. The data root (the folder holding the data
sets) is the reader's ``root`` argument, else ``$RELCON_DATA`` (:mod:`.base`). Every file is
read inside :func:`.base.reading`, so a truncated or corrupt download (a ``.gz`` cut short,
bytes that are not text) is a ValueError naming the file, never a bare ``EOFError``.
:mod:`.heldout` fixes the subjects that pretraining leaves out for evaluation.

:func:`load_segments` and :func:`load_recordings` turn a :class:`~relcon.config.DataConfig`
into windows or recordings: the bundled demo, the built-in readers (:data:`BUILTIN_READERS`),
a prepared corpus or a windows ``.npz``.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import numpy as np

from relcon.config import DataConfig, spell
from relcon.data.datasets.base import DATA_ROOT_ENV, default_data_root
from relcon.data.datasets.csv import read_accel_csv
from relcon.data.datasets.hapt import (
    HAPT_ACTIVITIES6,
    HAPT_ACTIVITY_NAMES,
    HAPT_LABEL_INDEX_BASE,
    read_hapt,
    read_hapt_subject_split,
)
from relcon.data.datasets.heldout import HELD_OUT_SUBJECTS
from relcon.data.datasets.ipol import (
    IPOL_FS,
    IPOL_MAX_GAP_S,
    GaitTrial,
    read_ipol_gait,
    read_ipol_gait_events,
)
from relcon.data.datasets.oxford import (
    OXFORD_MAX_GAP_S,
    OXFORD_POSITIONS,
    StepRecording,
    read_oxford_step_count,
    read_oxford_step_events,
)
from relcon.data.datasets.spsw import SPSW_LABELS, read_spsw_smartwatch
from relcon.data.datasets.wisdm import (
    WISDM_ACTIVITIES,
    WISDM_HAR6,
    WISDM_LETTERS,
    read_wisdm_watch,
)
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import TARGET_FS, resample
from relcon.data.windowing import SEGMENT_LENGTH, Segments, window_recordings

__all__ = [
    "BUILTIN_READERS",
    "DATA_ROOT_ENV",
    "HAPT_ACTIVITIES6",
    "HAPT_ACTIVITY_NAMES",
    "HAPT_LABEL_INDEX_BASE",
    "HELD_OUT_SUBJECTS",
    "IPOL_FS",
    "IPOL_MAX_GAP_S",
    "OXFORD_MAX_GAP_S",
    "OXFORD_POSITIONS",
    "SPSW_LABELS",
    "WISDM_ACTIVITIES",
    "WISDM_HAR6",
    "WISDM_LETTERS",
    "GaitTrial",
    "ReadReport",
    "Recording",
    "StepRecording",
    "default_data_root",
    "demo_path",
    "load_demo",
    "load_recordings",
    "load_segments",
    "read_accel_csv",
    "read_hapt",
    "read_hapt_subject_split",
    "read_ipol_gait",
    "read_ipol_gait_events",
    "read_oxford_step_count",
    "read_oxford_step_events",
    "read_spsw_smartwatch",
    "read_wisdm_watch",
    "select_users",
]

#: Data sets in the data root that pretraining can read by name (sensor position, licence):
#: wisdm_watch (wrist, CC BY 4.0), spsw_smartwatch (wrist, CC BY 4.0), hapt (waist, UCI; its
#: README forbids commercial use), ipol_gait (lower back, AGPL-3.0 repository), oxford_step_count
#: (phone in hand/pocket/bag..., CC BY 4.0).
BUILTIN_READERS = {
    "wisdm_watch": read_wisdm_watch,
    "spsw_smartwatch": read_spsw_smartwatch,
    "hapt": read_hapt,
    "ipol_gait": read_ipol_gait,
    "oxford_step_count": read_oxford_step_count,
}


def demo_path() -> Path:
    """Path of the bundled demo data (a WISDM watch subset, CC BY 4.0; see its README)."""
    return Path(str(resources.files("relcon") / "assets" / "wisdm_demo.npz"))


def load_demo() -> list[Recording]:
    """The bundled WISDM demo subset as 100 Hz recordings in g (46 users, 6 activities).

    The pieces are stored at 20 Hz (int16) and resampled to 100 Hz with the polyphase filter.
    """
    path = demo_path()
    if not path.is_file():
        raise FileNotFoundError(f"bundled demo data missing: {path} (reinstall relcon)")
    with np.load(path) as z:
        x, offsets = z["x"], z["offsets"]
        fs, scale = float(z["fs"]), float(z["scale"])
        names = tuple(str(s) for s in z["label_names"])
        recs = []
        for i in range(len(offsets) - 1):
            piece = x[offsets[i] : offsets[i + 1]].astype(np.float32) / scale
            x100 = resample(piece, fs, TARGET_FS, source=f"{path}:{z['recording'][i]}")
            recs.append(
                Recording(
                    user=str(z["user"][i]),
                    recording=str(z["recording"][i]),
                    x=x100.astype(np.float32),
                    fs=TARGET_FS,
                    start_s=float(z["start_s"][i]),
                    labels=np.full(len(x100), z["label"][i], dtype=np.int16),
                    label_names=names,
                    source=str(path),
                )
            )
    return recs


def _matches(user: str, wanted: set[str]) -> bool:
    # "wisdm_watch:1600" matches "wisdm_watch:1600" and "1600"
    return user in wanted or user.split(":", 1)[-1] in wanted


def select_users(
    recs: list[Recording], users: list[str] | None, exclude: list[str]
) -> list[Recording]:
    """Keep recordings of ``users`` (all if None) that are not in ``exclude``."""
    out = recs
    if users is not None:
        wanted = {str(u) for u in users}
        out = [r for r in out if _matches(r.user, wanted)]
        found = {r.user for r in out} | {r.user.split(":", 1)[-1] for r in out}
        missing = sorted(wanted - found)
        if missing:
            raise ValueError(f"requested users not found in the data: {missing}")
    if exclude:
        banned = {str(u) for u in exclude}
        out = [r for r in out if not _matches(r.user, banned)]
    return out


def _read_source(source: str, root: str | None) -> list[Recording]:
    if source == "demo":
        return load_demo()
    if source not in BUILTIN_READERS:
        raise ValueError(
            f"unknown data source {source!r}: use 'demo', one of {sorted(BUILTIN_READERS)} (several "
            "joined with '+'), or a .npz file of windows"
        )
    if root is None:
        base = default_data_root()
        if base is None:
            raise FileNotFoundError(
                f"data set {source!r}: no data root found; pass {spell('data.root', 'ROOT')} or "
                "set the RELCON_DATA environment variable"
            )
        root = str(base)
    return BUILTIN_READERS[source](root)


def load_recordings(cfg: DataConfig) -> list[Recording]:
    """Read the recordings ``cfg`` names, filtered by ``cfg.users`` / ``cfg.exclude_users``.

    ``cfg.source`` may join several sources with ``+`` (e.g. ``"wisdm_watch+spsw_smartwatch"``);
    their label sets differ, so pooled recordings are returned without labels (pretraining does
    not use them). ``cfg.root`` is the folder that holds the data sets (or the data set folder
    itself for a single source).
    """
    sources = [s.strip() for s in cfg.source.split("+") if s.strip()]
    if len(sources) > 1 and "demo" in sources:
        raise ValueError("the bundled 'demo' data cannot be pooled with other sources")
    recs: list[Recording] = []
    for source in sources:
        recs += _read_source(source, cfg.root)
    if len(sources) > 1:
        recs = [dataclasses.replace(r, labels=None, label_names=()) for r in recs]
    return select_users(recs, cfg.users, _excluded(cfg))


def _excluded(cfg: DataConfig) -> list[str]:
    """``cfg.exclude_users`` plus, with ``exclude_held_out``, every data set's held-out subjects."""
    if not cfg.exclude_held_out:
        return list(cfg.exclude_users)
    return [*cfg.exclude_users, *(s for subjects in HELD_OUT_SUBJECTS.values() for s in subjects)]


def load_segments(cfg: DataConfig, min_label_fraction: float = 1.0) -> Segments:
    """Windows of 256 x 3 at 100 Hz for ``cfg`` (readers + windowing, or a saved ``.npz``)."""
    from relcon.data.corpus import corpus_segments, is_corpus

    if is_corpus(cfg.source):  # a folder written by `relcon prepare`: a memory-mapped Corpus
        return corpus_segments(cfg)
    if cfg.source.endswith(".npz"):
        path = Path(cfg.source)
        if not path.is_file():
            raise FileNotFoundError(f"windows file not found: {path}")
        segs = Segments.load_npz(path)
        if segs.x.shape[1:] != (SEGMENT_LENGTH, 3):
            raise ValueError(
                f"{path}: windows must be ({SEGMENT_LENGTH}, 3), got {segs.x.shape[1:]}"
            )
        keep = np.ones(len(segs), dtype=bool)
        if cfg.users is not None:
            keep &= np.array([_matches(u, set(map(str, cfg.users))) for u in segs.user])
        excluded = _excluded(cfg)
        if excluded:
            keep &= ~np.array([_matches(u, set(map(str, excluded))) for u in segs.user])
        return segs.subset(keep)
    stride = round(cfg.stride_s * TARGET_FS)
    if stride < 1:
        raise ValueError(f"stride_s={cfg.stride_s} is shorter than one sample at 100 Hz")
    return window_recordings(
        load_recordings(cfg),
        length=SEGMENT_LENGTH,
        stride=stride,
        min_label_fraction=min_label_fraction,
    )
