"""Which subjects an evaluation keeps: a subject list, and the users of pretrained models left out.

Runs compared with each other must be scored on the same people, and never on people the
evaluated model was pretrained on. :func:`select_subjects` applies both rules to a task (the
one place ``relcon evaluate``, ``relcon benchmark`` and ``relcon.evaluate`` apply them);
:func:`pretrained_users` reads which users a model saw (``train_users`` in its ``model.json``);
:func:`read_subjects_file` reads a subject list (``--subjects FILE``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from relcon.config import EvalConfig
from relcon.data.tasks import Task

__all__ = ["pretrained_users", "read_subjects_file", "select_subjects"]


def read_subjects_file(path: str | Path) -> list[str]:
    """The subjects listed in ``path``, as strings, in file order.

    Accepted: a JSON list; a JSON object with a ``"subjects"`` list (the ``subjects.json`` that
    ``relcon benchmark`` writes per task); or text with subjects separated by newlines, commas
    or spaces (``#`` starts a comment).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise FileNotFoundError(f"subjects file {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, list | dict):  # plain text (a lone number parses as JSON too)
        lines = (line.split("#", 1)[0].replace(",", " ") for line in text.splitlines())
        data = [w for line in lines for w in line.split()]
    if isinstance(data, dict):
        data = data.get("subjects")
    if not isinstance(data, list) or not data:
        raise ValueError(f"subjects file {path}: expected a non-empty list of subjects")
    return [str(s) for s in data]


def pretrained_users(runs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The users each encoder run was pretrained on (``train_users`` in its ``model.json``).

    ``runs``: anything :func:`relcon.load` reads (run or checkpoint folders, model files, a
    shipped model's name such as ``"default"``). A run whose ``model.json`` lists no ``train_users`` is an error:
    which subjects it saw cannot be told.
    """
    from relcon.models.hub import locate, read_description

    out = {}
    for run in runs:
        meta = read_description(run, kind="encoder")
        users = meta.get("train_users")
        if not isinstance(users, list):
            _, desc = locate(run, kind="encoder")  # the file to name
            raise ValueError(
                f"{desc}: lists no train_users, so the subjects {run} was pretrained on are unknown"
            )
        out[str(run)] = [str(u) for u in users]
    return out


def _preview(items, n: int = 8) -> str:
    items = sorted(str(i) for i in items)
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def select_subjects(
    task: Task, cfg: EvalConfig, meta: dict | None = None
) -> tuple[Task, list[str], list[str]]:
    """Keep the subjects ``cfg`` asks for; returns ``(task, notes, left_out_subjects)``.

    In order: only ``cfg.subjects`` (when given), minus every user of the encoder runs in
    ``cfg.exclude_users_of``, minus the users the evaluated encoder was pretrained on
    (``meta["train_users"]``). Raises when fewer than 2 subjects are left.
    """
    groups = task.groups.astype(str)
    subjects = set(np.unique(groups).tolist())
    keep, notes = set(subjects), []
    if cfg.subjects is not None:
        listed = {str(s) for s in cfg.subjects}
        unknown = listed - subjects
        if unknown == listed:
            raise ValueError(f"task {task.name!r} holds none of the {len(listed)} listed subjects")
        if unknown:
            notes.append(f"{len(unknown)} listed subjects are not in the task: {_preview(unknown)}")
        if subjects - listed:
            notes.append(f"left out {len(subjects - listed)} subjects not in the subject list")
        keep &= listed
    for run, users in pretrained_users(cfg.exclude_users_of).items():
        seen = keep & set(users)
        if seen:
            notes.append(f"left out {len(seen)} subjects that {run} was pretrained on")
            keep -= seen
    seen = keep & {str(u) for u in (meta or {}).get("train_users", [])}
    if seen:
        notes.append(f"left out {len(seen)} subjects seen in pretraining")
        keep -= seen
    if len(keep) < 2:
        raise ValueError(
            f"task {task.name!r}: {len(keep)} subject(s) left after the subject selection "
            "(pretraining users, subject list); nothing to test on"
        )
    if len(keep) < len(subjects):
        task = task.subset(np.flatnonzero(np.isin(groups, sorted(keep))))
    return task, notes, sorted(subjects - keep)
