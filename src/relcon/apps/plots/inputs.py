"""What ``relcon plot map`` and ``relcon plot distance`` read: task files and embedding tables.

* a **task file** (``.npz`` written by ``relcon tasks build`` or :func:`relcon.data.tasks.save_task`):
  windows, labels and subjects; the map embeds the windows with an encoder;
* an **embeddings table** written by ``relcon embed`` (Parquet, or CSV / CSV.gz): one row per
  window, columns ``recording``, ``e000`` ... and optionally a ``label`` column; the map draws
  these embeddings as they are (the ``window_index`` column is not needed).

Anything else is refused with a message that says what was found and what to run instead
(e.g. ``relcon embed`` first, for a raw recording).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingTable", "read_embeddings", "read_task_file"]

_TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
_EMBEDDING_COLUMN = re.compile(r"^e\d{3,}$")
#: Column names of an embeddings table that give each window's class, tried in this order.
_LABEL_COLUMNS = ("label", "activity", "class")


@dataclass
class EmbeddingTable:
    """The windows of an embeddings table: ``embeddings (N, D)``, ``recordings (N,)`` and, when
    the table has a label column, ``labels (N,)`` (strings; empty = unlabelled)."""

    embeddings: np.ndarray
    recordings: np.ndarray
    labels: np.ndarray | None
    source: str


def _kind(path: Path) -> str:
    """``"task"``, ``"table"`` or an error naming what ``path`` is not."""
    name = path.name.lower()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    if name.endswith(".npz"):
        with path.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                raise ValueError(
                    f"{path}: not an .npz archive (a task file written by `relcon tasks build` "
                    "is one); is it a CSV or another file renamed?"
                )
        return "task"
    if name.endswith(_TABLE_SUFFIXES):
        return "table"
    raise ValueError(
        f"{path}: cannot read a {''.join(path.suffixes) or 'suffix-less'} file here: give a task "
        "file (.npz, from `relcon tasks build`) or the embeddings written by `relcon embed` "
        "(.parquet or .csv)"
    )


def read_task_file(path: str | os.PathLike[str]):
    """:func:`relcon.data.tasks.load_task`, after checking that ``path`` is an .npz archive."""
    from relcon.data.tasks import load_task

    p = Path(path).expanduser()
    if _kind(p) != "task":
        raise ValueError(
            f"{p}: this picture needs the windows themselves: give a task file (.npz, from "
            "`relcon tasks build`), not an embeddings table"
        )
    return load_task(p)


def _columns(path: Path) -> list[str]:
    if path.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as e:  # pyarrow raises several types for a file that is not Parquet
            raise ValueError(f"{path}: not a readable Parquet file ({e})") from None
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None


def read_embeddings(path: str | os.PathLike[str]) -> EmbeddingTable:
    """Read the embeddings table that ``relcon embed`` wrote (Parquet or CSV).

    Parameters
    ----------
    path : path-like
        The table: columns ``e000``, ``e001``, ... (the embedding), ``recording`` (optional; the
        file name otherwise) and optionally ``label`` / ``activity`` / ``class``.

    Returns
    -------
    EmbeddingTable

    Raises
    ------
    ValueError
        A file that is no embeddings table (the message lists its columns and, for a raw
        recording, says to run ``relcon embed`` first), or an empty / non-finite table.
    """
    p = Path(path).expanduser()
    if _kind(p) != "table":
        raise ValueError(f"{p}: not an embeddings table (.parquet or .csv from `relcon embed`)")
    columns = _columns(p)
    emb_cols = [c for c in columns if _EMBEDDING_COLUMN.match(c)]
    if not emb_cols:
        lower = {c.strip().lower() for c in columns}
        hint = ""
        if {"x", "y", "z"} <= lower or {"acc_x", "acc_y", "acc_z"} <= lower:
            hint = (
                f" It looks like a raw recording: run `relcon embed {p} --out emb.parquet` "
                "first, then `relcon plot map emb.parquet`."
            )
        raise ValueError(
            f"{p}: not an embeddings table written by `relcon embed` (no e000, e001, ... "
            f"columns; columns found: {columns[:12]}{' ...' if len(columns) > 12 else ''}).{hint}"
        )
    label_col = next((c for c in columns if c.strip().lower() in _LABEL_COLUMNS), None)
    wanted = [*emb_cols, *(c for c in ("recording", label_col) if c in columns)]
    import pandas as pd

    if p.name.lower().endswith((".parquet", ".pq")):
        df = pd.read_parquet(p, columns=wanted)
    else:
        df = pd.read_csv(p, usecols=wanted)
    if len(df) == 0:
        raise ValueError(f"{p}: the embeddings table has no rows")
    emb = df[emb_cols].to_numpy(dtype=np.float32)
    if not np.isfinite(emb).all():
        row = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
        raise ValueError(f"{p}: row {row} of the embeddings is missing or not finite")
    recordings = (
        df["recording"].astype(str).to_numpy() if "recording" in df else np.full(len(df), p.stem)
    )
    labels = None
    if label_col is not None:
        labels = df[label_col].fillna("").astype(str).str.strip().to_numpy()
        labels = np.where(labels == "", "unlabelled", labels)
    return EmbeddingTable(emb, recordings, labels, str(p))
