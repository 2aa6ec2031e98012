"""Small synthetic task files for the evaluation tests (``from task_fixtures import sine_task``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from relcon.data.tasks import Task, save_task


def sine_task(
    folder: Path,
    name: str,
    *,
    n_subjects: int,
    per: int,
    seed: int,
    regression: bool = False,
    split: bool = False,
    fold: Callable[[int], int] | None = None,
) -> Path:
    """A task file of ``per`` windows for each subject ``s0 .. s{n-1}``; returns its path.

    Window ``i`` is a sinusoid of ``1 + 2k`` Hz on x with ``k = i % 3`` (the class) and a random
    amplitude in [0.2, 1) (the regression target), plus noise and 1 g on z. ``split`` makes
    ``s0`` and ``s1`` the predefined test subjects; ``fold(subject number)`` gives predefined
    folds.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 100
    xs, ys, gs = [], [], []
    for s in range(n_subjects):
        for i in range(per):
            k, amp = i % 3, rng.uniform(0.2, 1.0)
            x = rng.normal(scale=0.05, size=(256, 3))
            x[:, 0] += amp * np.sin(2 * np.pi * (1 + 2 * k) * t + rng.uniform(0, 6))
            x[:, 2] += 1
            xs.append(x)
            ys.append(amp if regression else k)
            gs.append(f"s{s}")
    extra = {} if fold is None else {"fold": np.array([fold(int(g[1:])) for g in gs])}
    task = Task(
        X=np.array(xs, dtype=np.float32), y=np.array(ys), groups=np.array(gs),
        task_type="regression" if regression else "classification",
        label_names=None if regression else ("1Hz", "3Hz", "5Hz"), name=name, extra=extra,
        split=np.array(["test" if g in ("s0", "s1") else "train" for g in gs]) if split else None,
    )  # fmt: skip
    path = Path(folder) / f"{name}.npz"
    save_task(task, path)
    return path
