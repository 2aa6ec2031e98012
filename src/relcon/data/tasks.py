"""Downstream task files: the format anyone can produce, and its validation.

A task file is an ``.npz`` with

========== ========================= ===================================================
key        shape / type              meaning
========== ========================= ===================================================
X          (N, T, 3) float           acceleration in g (gravity included), channels last
y          (N,) int or float         class codes (classification) or targets (regression)
groups     (N,) str or int           subject id of every window
fs         scalar                    sampling rate of X in Hz
split      (N,) str, optional        'train' / 'test' when the data set has a fixed split
label_names (K,) str, optional       class names, code -> name
task_type  scalar str, optional      'classification' or 'regression' (default: inferred
                                     from y's dtype: integers -> classification)
name       scalar str, optional      task name
description scalar str, optional     provenance, citation, caveats
window_s   scalar, optional          window length to keep, in seconds (default 2.56)
fold       (N,) int, optional        predefined folds (e.g. one per subject for
                                     leave-one-subject-out); the harness uses them
protocol   scalar str, optional      how the task is meant to be split, e.g. "loso"
units      scalar str, optional      unit of X: 'g' (default), 'm/s^2' or 'mg'
(other)    (N,) or scalar, optional  kept in ``Task.extra`` (e.g. positions, recording)
========== ========================= ===================================================

:func:`load_task` checks all of it and brings ``X`` to the model's contract: resampled to 100 Hz
with the anti-aliased polyphase filter, then cut (centre crop) or tiled (repeated) to 2.56 s.
Tasks that declare a ``window_s`` longer than 2.56 s (the paper's 10 s benchmarks) keep windows
of that length;
the encoder is fully convolutional with global pooling, so it embeds them whole. Anything
:func:`load_task` cannot interpret is an error naming the file and the problem.

Units follow the rule of the recording reader (:func:`relcon.data.formats.detect_units`): the
median vector magnitude of ``X`` is about 1 in g, 9.81 in m/s^2 and 1000 in mg. Without a
``units`` key, ``X`` that looks like m/s^2 or mg is converted to g; stated ``units`` that the
data contradict are an error. Where the file leaves something to guess (the units, a missing
``task_type``, whole-number float labels of a classification task), what was assumed is listed
in :attr:`Task.notes` (the harness writes them to ``results.json`` as ``task_notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relcon.data.formats import (
    DAMAGED_ERRORS,
    damaged_message,
    detect_units,
    median_magnitude,
    normalize_units,
    to_g,
)
from relcon.data.signal import TARGET_FS, resample
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import atomic_path

__all__ = ["TASK_TYPES", "Task", "fit_length", "load_task", "save_task", "task_from_arrays"]

TASK_TYPES = ("classification", "regression")
_CORE_KEYS = {
    "X", "y", "groups", "fs", "split", "label_names", "task_type", "name", "description", "units",
}  # fmt: skip
#: Keys a careless file may hold instead of ``groups``.
_GROUP_ALIASES = ("subject", "subjects", "subject_id", "user", "users", "participant")
#: A task file without ``task_type`` whose float labels take at most this many whole values
#: may well be a classification: the note says so.
_FEW_VALUES = 20


@dataclass
class Task:
    """A labelled set of windows, split by subject.

    Attributes:
        X: ``(N, T, 3)`` float32 acceleration in g at ``fs``.
        y: ``(N,)`` int64 class codes or float64 targets.
        groups: ``(N,)`` subject ids (str).
        task_type: ``"classification"`` or ``"regression"``.
        fs: sampling rate of ``X`` (100 after :func:`load_task`).
        split: optional ``(N,)`` array of ``"train"`` / ``"test"``.
        label_names: class names (classification).
        name, description: free text.
        notes: what :func:`load_task` assumed where the file was ambiguous (one line each).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    task_type: str
    fs: float = TARGET_FS
    split: np.ndarray | None = None
    label_names: tuple[str, ...] | None = None
    name: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_subjects(self) -> int:
        return len(np.unique(self.groups))

    def subset(self, index: np.ndarray) -> Task:
        """The windows at ``index``; per-window arrays in ``extra`` are sliced along."""
        n = len(self)
        extra = {
            k: (v[index] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v)
            for k, v in self.extra.items()
        }
        return Task(
            X=self.X[index],
            y=self.y[index],
            groups=self.groups[index],
            task_type=self.task_type,
            fs=self.fs,
            split=None if self.split is None else self.split[index],
            label_names=self.label_names,
            name=self.name,
            description=self.description,
            extra=extra,
            notes=list(self.notes),
        )


def fit_length(x: np.ndarray, length: int = SEGMENT_LENGTH) -> np.ndarray:
    """Cut (centre crop) or tile (repeat end to end) windows ``(N, T, C)`` to ``length`` samples.

    Tiling a short window repeats it, so a 2.0 s window becomes 2.56 s of the same motion (its
    spectrum is kept, unlike zero padding).
    """
    t = x.shape[1]
    if t == length:
        return x
    if t > length:
        start = (t - length) // 2
        return x[:, start : start + length]
    reps = -(-length // t)
    return np.tile(x, (1, reps, 1))[:, :length]


def save_task(task: Task, path: str | Path) -> None:
    """Write a task file atomically (see the module docstring for the format).

    Entries of ``task.extra`` that are numeric or string per-window arrays (length N) or scalars
    are written under their own names (``source`` and ``original_fs``, which :func:`load_task`
    adds, are not).
    """
    n = len(task)
    arrays: dict[str, np.ndarray] = {}
    for k, v in task.extra.items():
        arr = np.asarray(v)
        if k in _CORE_KEYS | {"source", "original_fs"} or arr.dtype.kind not in "biufUS":
            continue  # nested or object values have no place in a plain .npz
        if arr.ndim == 0 or arr.shape[:1] == (n,):
            arrays[k] = arr
    arrays |= {
        "X": np.asarray(task.X, dtype=np.float32),
        "y": task.y,
        "groups": np.asarray(task.groups).astype(str),
        "fs": np.float64(task.fs),
        "task_type": np.asarray(task.task_type),
        "name": np.asarray(task.name),
        "description": np.asarray(task.description),
    }
    if task.split is not None:
        arrays["split"] = np.asarray(task.split).astype(str)
    if task.label_names is not None:
        arrays["label_names"] = np.asarray(task.label_names, dtype=str)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)


def _scalar(z, key: str, default=None):
    if key not in z:
        return default
    return z[key].item() if z[key].ndim == 0 else z[key]


def load_task(path: str | Path, *, min_subjects: int = 2) -> Task:
    """Read and validate a task file; return it at 100 Hz with 256-sample windows.

    Raises ``ValueError`` naming the file for: missing keys, wrong shapes, non-finite values,
    an unknown task type, labels that do not fit the task type, fewer than ``min_subjects``
    subjects, a bad ``split``, or a rate that cannot be resampled to 100 Hz.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task file not found: {path}")
    try:
        z = np.load(path, allow_pickle=False)
    except DAMAGED_ERRORS as e:
        raise ValueError(damaged_message(path, e)) from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz task file ({e})") from None
    try:
        with z:
            fields = _read_fields(z, path)
    except DAMAGED_ERRORS as e:
        raise ValueError(damaged_message(path, e)) from None
    return _check(path, min_subjects, **fields)


def task_from_arrays(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    task_type: str | None = None,
    label_names: tuple[str, ...] | list[str] | None = None,
    split: np.ndarray | None = None,
    fs: float = TARGET_FS,
    units: str | None = None,
    name: str = "arrays",
    min_subjects: int = 2,
) -> Task:
    """A task from arrays, checked and brought to the model's contract exactly as
    :func:`load_task` reads the same arrays from a file (errors name ``name`` instead of a file).

    ``X`` ``(N, T, 3)`` at ``fs`` Hz, ``y`` ``(N,)``, ``groups`` ``(N,)``; ``task_type`` None:
    classification for integer ``y``, regression otherwise.

    >>> x = np.zeros((4, 256, 3), np.float32); x[..., 2] = 1
    >>> task_from_arrays(x, np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "b"]),
    ...                  task_type="classification").n_subjects
    2
    """
    y = np.asarray(y)
    if task_type is None:
        task_type = "classification" if y.dtype.kind in "iu" else "regression"
    return _check(
        Path(name), min_subjects, x=np.asarray(X), y=y, groups=np.asarray(groups),
        fs=float(fs), split=None if split is None else np.asarray(split).astype(str),
        label_names=None if label_names is None else tuple(str(s) for s in label_names),
        task_type=task_type, name=name, description="", units=units, extra={},
    )  # fmt: skip


def _read_fields(z, path: Path) -> dict:
    """The arrays and scalars of an open task file."""
    missing = [k for k in ("X", "y", "groups", "fs") if k not in z]
    if missing:
        hint = ""
        alias = next((k for k in _GROUP_ALIASES if k in z.files), None)
        if "groups" in missing and alias is not None:
            hint = f" ({alias!r} found: name the subject ids 'groups')"
        raise ValueError(
            f"{path}: missing required key(s) {missing}{hint}; found {sorted(z.files)}"
        )
    return dict(
        x=np.asarray(z["X"]),
        y=np.asarray(z["y"]),
        groups=np.asarray(z["groups"]),
        fs=float(z["fs"]),
        split=np.asarray(z["split"]).astype(str) if "split" in z else None,
        label_names=tuple(str(s) for s in z["label_names"]) if "label_names" in z else None,
        task_type=str(_scalar(z, "task_type", "")) or None,
        name=str(_scalar(z, "name", "")) or path.stem,
        description=str(_scalar(z, "description", "")),
        units=str(_scalar(z, "units", "")) or None,
        extra={
            k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files if k not in _CORE_KEYS
        },
    )


def _units_to_g(x: np.ndarray, stated: str | None, path: Path, notes: list[str]) -> np.ndarray:
    """``x`` in g by the rule of the recording reader: stated units are checked against the
    median vector magnitude, missing ones detected from it (a note when not g)."""
    src = str(path)
    sample = x[:, :: max(1, x.shape[1] // 32)].reshape(-1, x.shape[2])  # every window, cheaply
    med = median_magnitude(sample)
    try:
        found: str | None = detect_units(sample, src)
    except ValueError:
        found = None
    unit = "g" if stated is None else normalize_units(stated, src)
    if found is None:
        notes.append(
            f"X has a median vector magnitude of {med:.3g} (read as {unit}), far from 1 g "
            "(9.81 m/s^2, 1000 mg): is gravity removed? The model expects acceleration in g "
            "with gravity included"
        )
    elif stated is not None and found != unit:
        raise ValueError(
            f"{path}: the file says units {unit!r} but the median vector magnitude of X "
            f"({med:.4g}) looks like {found} (about 1 g, 9.81 m/s^2 or 1000 mg with gravity); "
            "fix the 'units' key or the data"
        )
    elif stated is None and found != "g":
        unit = found
        notes.append(
            f"X looks like {unit}, not g (median vector magnitude {med:.3g}) and the file "
            "states no units: converted to g"
        )
    return x if unit == "g" else to_g(x, unit, src)


def _check(
    path: Path,
    min_subjects: int,
    *,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    fs: float,
    split: np.ndarray | None,
    label_names: tuple[str, ...] | None,
    task_type: str | None,
    name: str,
    description: str,
    units: str | None,
    extra: dict,
) -> Task:
    """Validate what a task file holds and bring ``X`` to the model's contract."""
    notes: list[str] = []

    if x.ndim != 3 or x.shape[2] != 3:
        hint = ""
        if x.ndim == 3 and x.shape[1] == 3:
            hint = " (channels first? transpose it to (N, T, 3))"
        raise ValueError(f"{path}: X must be (N, T, 3) acceleration, got shape {x.shape}{hint}")
    n = x.shape[0]
    if n == 0:
        raise ValueError(f"{path}: X holds no windows")
    for key, arr in (("y", y), ("groups", groups)):
        if arr.shape != (n,):
            raise ValueError(f"{path}: {key} must have shape ({n},) to match X, got {arr.shape}")
    if split is not None and split.shape != (n,):
        raise ValueError(f"{path}: split must have shape ({n},), got {split.shape}")
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{path}: X must be numeric, got dtype {x.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32, copy=False)  # what float32 cannot hold becomes infinite
    finite = np.isfinite(x)
    bad = ~finite.all(axis=(1, 2))
    if bad.any():
        raise ValueError(
            f"{path}: X has {int(np.count_nonzero(~finite))} NaN, infinite or out-of-range "
            f"values in {int(bad.sum())} windows (first: window {int(np.flatnonzero(bad)[0])}); "
            "drop or repair them before evaluating"
        )
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"{path}: fs must be a positive rate in Hz, got {fs}")

    if task_type is None:
        task_type = "classification" if np.issubdtype(y.dtype, np.integer) else "regression"
        notes.append(_inferred_type_note(y, task_type))
    if task_type not in TASK_TYPES:
        raise ValueError(f"{path}: task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if task_type == "classification":
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
            raise ValueError(
                f"{path}: classification labels must be integer codes, got {y.dtype}; store "
                "codes 0..K-1 in y and the class names in label_names"
            )
        if np.issubdtype(y.dtype, np.floating):
            if not np.isfinite(y).all() or not np.all(y == np.round(y)):
                raise ValueError(f"{path}: classification labels must be whole numbers")
            notes.append(
                f"classification labels are stored as floats ({y.dtype}): read as the integer "
                "class codes they equal"
            )
        y = y.astype(np.int64)
        if (y < 0).any():
            raise ValueError(
                f"{path}: classification labels must be >= 0 (drop unlabelled windows)"
            )
        if label_names is not None and y.max() >= len(label_names):
            raise ValueError(
                f"{path}: label {y.max()} has no name ({len(label_names)} label_names)"
            )
        if len(np.unique(y)) < 2:
            raise ValueError(f"{path}: a classification task needs at least 2 classes")
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"{path}: regression targets must be numeric, got {y.dtype}")
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError(f"{path}: regression targets contain NaN or infinite values")
    groups = groups.astype(str)
    if len(np.unique(groups)) < min_subjects:
        raise ValueError(
            f"{path}: only {len(np.unique(groups))} subject(s); subject-wise evaluation needs at "
            f"least {min_subjects}"
        )
    if split is not None:
        odd = sorted(set(np.unique(split)) - {"train", "test"})
        if odd:
            raise ValueError(f"{path}: split values must be 'train' or 'test', found {odd}")
        for part in ("train", "test"):
            if not (split == part).any():
                raise ValueError(f"{path}: split has no '{part}' windows")
        overlap = set(groups[split == "train"]) & set(groups[split == "test"])
        if overlap:
            raise ValueError(
                f"{path}: subjects in both train and test split: {sorted(overlap)[:5]}"
            )

    for key, value in extra.items():
        if np.ndim(value) > 0 and np.shape(value)[0] != n:
            raise ValueError(
                f"{path}: extra key {key!r} has {np.shape(value)[0]} rows, expected {n}"
            )
    length = SEGMENT_LENGTH
    if "window_s" in extra:
        window_s = float(extra["window_s"])
        if not np.isfinite(window_s) or window_s <= 0:
            raise ValueError(
                f"{path}: window_s must be a positive duration, got {extra['window_s']}"
            )
        length = max(SEGMENT_LENGTH, round(window_s * TARGET_FS))  # shorter ones are tiled
    if "fold" in extra:
        fold = np.asarray(extra["fold"])
        if not np.issubdtype(fold.dtype, np.integer):
            raise ValueError(f"{path}: fold must hold integer fold numbers, got {fold.dtype}")
        for f in np.unique(fold):
            if len(set(groups[fold == f]) & set(groups[fold != f])):
                raise ValueError(f"{path}: fold {f} shares subjects with other folds")

    x = _units_to_g(x, units, path, notes).astype(np.float32, copy=False)
    if fs != TARGET_FS:
        try:
            n_, t_, c_ = x.shape
            flat = x.transpose(1, 0, 2).reshape(t_, n_ * c_)  # time first, every window a column
            flat = resample(flat, fs, TARGET_FS, source=str(path))
            x = flat.reshape(flat.shape[0], n_, c_).transpose(1, 0, 2)
        except ValueError as e:
            raise ValueError(f"{path}: cannot resample fs={fs} Hz to 100 Hz ({e})") from None
    if x.shape[1] < 2:
        raise ValueError(
            f"{path}: windows of {x.shape[1]} sample(s) at 100 Hz are too short to use"
        )
    x = np.ascontiguousarray(fit_length(x, length), dtype=np.float32)
    return Task(
        X=x, y=y, groups=groups, task_type=task_type, fs=TARGET_FS, split=split,
        label_names=label_names, name=name, description=description,
        extra={**extra, "source": str(path), "original_fs": fs}, notes=notes,
    )  # fmt: skip


def _inferred_type_note(y: np.ndarray, task_type: str) -> str:
    """What was assumed of a task file without ``task_type``."""
    values = np.unique(y) if np.issubdtype(y.dtype, np.number) else np.asarray([])
    note = f"the file has no task_type: read as {task_type} from the labels' dtype ({y.dtype})"
    whole = values.size and np.isfinite(values).all() and np.all(values == np.round(values))
    if task_type == "regression" and whole and values.size <= _FEW_VALUES:
        note += (
            f", though they take only {values.size} whole values; if these are classes, store "
            "task_type 'classification'"
        )
    elif task_type == "classification" and values.size > _FEW_VALUES:
        note += (
            f", {values.size} classes; if these are quantities (counts), store task_type "
            "'regression'"
        )
    return note
