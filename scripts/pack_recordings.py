"""Pack the recordings of a data configuration into one compact ``.npz`` (and read it back).

A GPU machine that cannot see ``../shared/data`` still needs the pretraining data. This writes
every recording the readers produce for a :class:`~relcon.config.DataConfig` (100 Hz, g, after
every reader's documented rule) as int16 at the corpus's scale (1/2048 g per step, +-16 g),
delta-coded along time, byte-shuffled and xz-compressed (about 0.8 bytes per 100 Hz sample), with users, recording ids, start times and
per-sample labels. :func:`unpack_recordings` returns the same recordings (up to the int16
rounding, at most 1/4096 g per sample), ready for :func:`relcon.data.windowing.window_recordings`
at any stride.

    python scripts/pack_recordings.py --source wisdm_watch+spsw_smartwatch --exclude-held-out \\
        --data-root ../shared/data --out .gpu/wrist.npz

Labels of different sources are kept apart: source ``i`` (in the order given) stores its codes
plus ``1000 * i``, and ``label_names`` lists ``"<source>:<name>"`` at those codes (``-1`` =
unlabelled), so windows of two data sets never share a label.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from relcon.config import DataConfig
from relcon.data.corpus import INT16_SCALE
from relcon.data.datasets import load_recordings
from relcon.data.recording import Recording

LABEL_STRIDE = 1000


def _shuffle(a: np.ndarray) -> bytes:
    """int16 ``(n, 3)`` -> bytes: channel by channel, all low bytes first, then all high bytes."""
    u = np.ascontiguousarray(a.T).view(np.uint8).reshape(3, -1, 2)
    return np.concatenate([u[:, :, 0].ravel(), u[:, :, 1].ravel()]).tobytes()


def _unshuffle(b: bytes, n: int) -> np.ndarray:
    u = np.frombuffer(b, np.uint8).reshape(2, 3, n)
    pairs = np.stack([u[0], u[1]], axis=-1)  # (3, n, 2)
    return np.ascontiguousarray(pairs).view(np.int16).reshape(3, n).T


def pack_recordings(cfg: DataConfig, out: str | Path) -> dict:
    """Read ``cfg``'s recordings source by source and write them to ``out``; returns a summary."""
    recs: list[Recording] = []
    names: dict[int, str] = {}
    sources = [s.strip() for s in cfg.source.split("+") if s.strip()]
    for i, source in enumerate(sources):
        one = DataConfig(**{**cfg.__dict__, "source": source})
        for r in load_recordings(one):
            labels = None
            if r.labels is not None:
                labels = np.where(r.labels >= 0, r.labels.astype(np.int32) + LABEL_STRIDE * i, -1)
                for code, name in enumerate(r.label_names):
                    names[LABEL_STRIDE * i + code] = f"{source}:{name}"
            recs.append(Recording(r.user, r.recording, r.x, r.fs, r.start_s, labels, (), r.source))
    q = np.concatenate([np.rint(r.x / INT16_SCALE).clip(-32768, 32767) for r in recs])
    q = q.astype(np.int32)
    lengths = np.array([len(r.x) for r in recs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 3), np.int32))
    delta[starts] = q[starts]  # every recording starts from its absolute value
    if np.abs(delta).max() > 32767:
        raise ValueError("a jump between two samples exceeds the int16 range of the packed format")
    labels = np.concatenate(
        [r.labels if r.labels is not None else np.full(len(r.x), -1) for r in recs]
    ).astype(np.int32)
    payload = {
        "x_delta_xz": np.frombuffer(lzma.compress(_shuffle(delta.astype(np.int16))), np.uint8),
        "labels_zlib": np.frombuffer(zlib.compress(labels.tobytes(), 9), np.uint8),
        "lengths": lengths,
        "user": np.array([r.user for r in recs]),
        "recording": np.array([r.recording for r in recs]),
        "start_s": np.array([r.start_s for r in recs], dtype=np.float64),
        "fs": np.array([r.fs for r in recs], dtype=np.float64),
        "scale": np.float64(INT16_SCALE),
        "label_codes": np.array(sorted(names), dtype=np.int32),
        "label_names": np.array([names[c] for c in sorted(names)]),
        "data_config": np.array(json.dumps(cfg.__dict__)),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **payload)
    tmp.replace(out)
    return {
        "recordings": len(recs),
        "users": len({r.user for r in recs}),
        "hours": float(lengths.sum() / 100.0 / 3600.0),
        "bytes": out.stat().st_size,
    }


def unpack_recordings(path: str | Path) -> tuple[list[Recording], dict[int, str]]:
    """The recordings written by :func:`pack_recordings` and the stored label code -> name map.

    The recordings' labels are dense codes ``0 .. L-1`` (``-1``: unlabelled) into their common
    ``label_names`` (``"<source>:<name>"``, in the order of the stored codes).
    """
    with np.load(path) as z:
        lengths = z["lengths"]
        n = int(lengths.sum())
        delta = _unshuffle(lzma.decompress(z["x_delta_xz"].tobytes()), n)
        labels = np.frombuffer(zlib.decompress(z["labels_zlib"].tobytes()), np.int32)
        scale = float(z["scale"])
        codes = z["label_codes"].astype(np.int64)
        names = {int(c): str(s) for c, s in zip(codes, z["label_names"], strict=True)}
        label_names = tuple(names[int(c)] for c in codes)
        dense = np.full(int(codes.max()) + 2 if len(codes) else 1, -1, dtype=np.int64)
        dense[codes] = np.arange(len(codes))
        labels = np.where(labels >= 0, dense[np.maximum(labels, 0)], -1)
        recs = []
        offset = 0
        for i, length in enumerate(lengths):
            piece = np.cumsum(delta[offset : offset + length], axis=0, dtype=np.int64)
            recs.append(
                Recording(
                    user=str(z["user"][i]),
                    recording=str(z["recording"][i]),
                    x=(piece * scale).astype(np.float32),
                    fs=float(z["fs"][i]),
                    start_s=float(z["start_s"][i]),
                    labels=labels[offset : offset + length].astype(np.int16),
                    label_names=label_names,
                    source=f"{path}:{z['recording'][i]}",
                )
            )
            offset += int(length)
    return recs, names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="wisdm_watch+spsw_smartwatch")
    p.add_argument("--data-root", default=None)
    p.add_argument("--exclude-held-out", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    cfg = DataConfig(source=a.source, root=a.data_root, exclude_held_out=a.exclude_held_out)
    print(json.dumps(pack_recordings(cfg, a.out)))


if __name__ == "__main__":
    main()
