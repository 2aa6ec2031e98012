"""What the data-set readers share: the data root and the bookkeeping of a read.

The data root is the folder that holds the data sets (``wisdm_watch/``, ``hapt/`` ...): a reader
takes it (or the data set's own folder) as its ``root`` argument; without one it uses the
``RELCON_DATA`` environment variable. Nothing is looked up anywhere else.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from relcon.data.formats import DAMAGED_ERRORS, damaged_message, first_true
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import UniformPiece

__all__ = ["DATA_ROOT_ENV", "default_data_root", "reading"]

logger = logging.getLogger(__name__)

#: The readers' "first bad row" helper (one copy, in :mod:`relcon.data.formats`).
_first_true = first_true

#: Environment variable that points to the data root (the folder holding ``wisdm_watch/`` etc.).
DATA_ROOT_ENV = "RELCON_DATA"


def default_data_root() -> Path | None:
    """The folder that holds the data sets: ``$RELCON_DATA`` when set, else None.

    The path is returned even if it does not exist, so that readers can report the bad path.
    There is no other default: pass the root explicitly (``--data-root``) or set the variable.

    Returns
    -------
    pathlib.Path or None
        The data root, or None when ``RELCON_DATA`` is not set.
    """
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else None


@contextlib.contextmanager
def reading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Read ``path`` within the block: what a damaged or truncated file raises there (a gzip
    stream cut short, a corrupt zip, bytes that are not text: :data:`relcon.data.formats.
    DAMAGED_ERRORS`) becomes a ValueError naming the file and saying to download it again.
    Every data-set reader opens its files inside one."""
    try:
        yield
    except DAMAGED_ERRORS as exc:
        raise ValueError(damaged_message(path, exc)) from None


def _dataset_dir(root: str | os.PathLike[str] | None, name: str, marker: str) -> Path:
    """Resolve a data set folder: ``root`` itself or ``root/name``; it must contain ``marker``."""
    if root is None:
        base = default_data_root()
        if base is None:
            raise FileNotFoundError(
                f"no data root found for {name!r}: pass root explicitly or set ${DATA_ROOT_ENV}"
            )
        root = base
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: data folder for {name!r} does not exist")
    if (path / marker).exists():
        return path
    if (path / name / marker).exists():
        return path / name
    raise FileNotFoundError(
        f"{path}: expected the {name!r} data set here (a {marker!r} entry in it or in "
        f"{path / name}), found none"
    )


def check_subjects(wanted: Iterable[Any], have: Iterable[Any], where: Path, what: str) -> None:
    """Raise a FileNotFoundError naming ``where`` when a ``wanted`` subject is not among the
    subjects found (``have``, all listed in the message); ``what`` names their files."""
    have = set(have)
    missing = [s for s in wanted if s not in have]
    if missing:
        raise FileNotFoundError(
            f"{where}: no {what} for subject(s) {missing}; available: {sorted(have)}"
        )


def select_subjects(
    files: dict[Any, Any],
    subjects: Iterable[Any] | None,
    key: Callable[[Any], Any],
    where: Path,
    what: str,
) -> dict[Any, Any]:
    """The entries of ``files`` (subject -> file or files) for ``subjects`` (each turned into a
    key by ``key``), in sorted order; all of them when ``subjects`` is None. A subject without
    files is an error (:func:`check_subjects`)."""
    if subjects is None:
        return files
    wanted = sorted({key(s) for s in subjects})
    check_subjects(wanted, files, where, what)
    return {s: files[s] for s in wanted}


def _finish(report: ReadReport | None, local: ReadReport, recs: list[Recording]) -> None:
    local.n_recordings = len(recs)
    local.n_samples_out = int(sum(len(r) for r in recs))
    logger.info(local.summary())
    if local.dropped:
        logger.warning("%s: dropped %s", local.dataset, local.dropped)
    if report is not None:
        report.__dict__.update(local.__dict__)


def _pieces_to_recordings(
    pieces: list[UniformPiece],
    user: str,
    prefix: str,
    label_names: tuple[str, ...],
    source: str | os.PathLike[str],
) -> list[Recording]:
    return [
        Recording(
            user=user,
            recording=f"{prefix}:{k}",
            x=np.ascontiguousarray(p.x, dtype=np.float32),
            fs=float(p.fs),
            start_s=float(p.t0_s),
            labels=p.labels,
            label_names=label_names,
            source=str(source),
        )
        for k, p in enumerate(pieces)
    ]
