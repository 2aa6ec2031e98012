"""Subjects held out of pretraining: the test subjects of every built-in evaluation task.

Pretraining on a data set leaves these subjects out (``DataConfig.exclude_held_out``) so that the
built-in tasks of :mod:`relcon.eval.builtin` can score an encoder on subjects it never saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["HELD_OUT_FRACTION", "HELD_OUT_SEED", "HELD_OUT_SUBJECTS", "select_held_out"]

#: Seed and fraction of :func:`select_held_out`, which produced :data:`HELD_OUT_SUBJECTS`.
HELD_OUT_SEED = 20250301
HELD_OUT_FRACTION = 0.3

#: Subjects held out of pretraining, per data set (keys are the data folder names), as
#: ``Recording.user`` / task ``groups`` ids. Produced by :func:`select_held_out` with
#: :data:`HELD_OUT_SEED` and :data:`HELD_OUT_FRACTION` over each data set's sorted subject ids
#: (``round(0.3 * n)`` subjects: 14 of 46, 7 of 23, 6 of 19, 2 of 5), except ``hapt``, which
#: uses the 9 test users of the standard UCI-HAR split (``hapt/subject_split.csv``). The lists
#: are written out literally so that they stay fixed whatever a future NumPy does; a test
#: re-derives them.
HELD_OUT_SUBJECTS: dict[str, tuple[str, ...]] = {
    "wisdm_watch": (
        "wisdm_watch:1600",
        "wisdm_watch:1605",
        "wisdm_watch:1608",
        "wisdm_watch:1611",
        "wisdm_watch:1613",
        "wisdm_watch:1617",
        "wisdm_watch:1620",
        "wisdm_watch:1622",
        "wisdm_watch:1626",
        "wisdm_watch:1627",
        "wisdm_watch:1628",
        "wisdm_watch:1632",
        "wisdm_watch:1645",
        "wisdm_watch:1647",
    ),
    "spsw_smartwatch": (
        "spsw:s01",
        "spsw:s07",
        "spsw:s08",
        "spsw:s13",
        "spsw:s16",
        "spsw:s17",
        "spsw:s22",
    ),
    "hapt": (
        "hapt:2",
        "hapt:4",
        "hapt:9",
        "hapt:10",
        "hapt:12",
        "hapt:13",
        "hapt:18",
        "hapt:20",
        "hapt:24",
    ),
    "ipol_gait": (
        "ipol_gait:1",
        "ipol_gait:6",
        "ipol_gait:7",
        "ipol_gait:11",
        "ipol_gait:13",
        "ipol_gait:19",
    ),
    "oxford_step_count": ("oxford_opt:Carmelo", "oxford_opt:Jamie"),
}


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def select_held_out(
    subjects: Iterable[str], seed: int = HELD_OUT_SEED, fraction: float = HELD_OUT_FRACTION
) -> tuple[str, ...]:
    """Pick a fixed share of subjects with a seeded RNG (the rule behind HELD_OUT_SUBJECTS).

    The ids are sorted in natural order (numbers compared as numbers, so ``"ipol_gait:2"``
    precedes ``"ipol_gait:10"``), then ``int(fraction * n + 0.5)`` distinct positions are
    drawn with ``numpy.random.default_rng(seed).choice(n, k, replace=False)``.

    Parameters
    ----------
    subjects : iterable of str
        Subject ids (duplicates are ignored).
    seed : int
        RNG seed.
    fraction : float
        Share to hold out, in ``[0, 1]``.

    Returns
    -------
    tuple of str
        The chosen ids in natural order.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    ids = sorted(set(subjects), key=_natural_key)
    k = int(fraction * len(ids) + 0.5)
    idx = np.random.default_rng(seed).choice(len(ids), size=k, replace=False)
    return tuple(sorted((ids[int(i)] for i in idx), key=_natural_key))
