"""Finding the ``results.json`` files of :mod:`relcon.eval.report`; each is read and checked by
:func:`relcon.eval.results.read_results` (the format), which names the file in any error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from relcon.eval.results import read_results

__all__ = ["load_results"]


def load_results(paths: Iterable[str | Path]) -> list[dict]:
    """Read ``results.json`` files, or every ``results.json`` under folders (recursively).

    Parameters
    ----------
    paths : iterable of str or Path
        Files (any name) or folders.

    Returns
    -------
    list of dict
        One per file, in the order given (folders: sorted paths), each file read once, as
        :func:`relcon.eval.results.read_results` returns it (checked, ``k`` "all" as ``None``,
        with ``"source"``).

    Raises
    ------
    FileNotFoundError
        A path does not exist, or a folder holds no ``results.json``.
    ValueError
        A file is not JSON or does not follow the format, or has a missing or unknown
        ``schema_version`` (the message names it).
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(p.rglob("results.json"))
            if not found:
                raise FileNotFoundError(f"no results.json under {p}")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"results not found: {p}")
    seen: set[Path] = set()
    results = []
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        results.append(read_results(f))
    return results
