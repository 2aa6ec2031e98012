"""Tests for relcon.data.windowing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from relcon.data import windowing
from relcon.data.recording import Recording
from relcon.data.windowing import Segments, window_labels, window_recordings

NAMES = ("a", "b", "c")


def _rec(
    n: int,
    rng: np.random.Generator,
    *,
    user: str = "u",
    rec: str = "r",
    start_s: float = 0.0,
    labels: np.ndarray | None = None,
    names: tuple[str, ...] = NAMES,
    fs: float = 100.0,
) -> Recording:
    return Recording(
        user=user,
        recording=rec,
        x=rng.standard_normal((n, 3)).astype(np.float32),
        fs=fs,
        start_s=start_s,
        labels=labels,
        label_names=names,
        source="synthetic",
    )


def _blocky_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Runs of random length with random classes in [-1, 2]."""
    out = np.empty(n, dtype=np.int16)
    i = 0
    while i < n:
        run = int(rng.integers(20, 400))
        out[i : i + run] = rng.integers(-1, 3)
        i += run
    return out


def _reference_windows(recs, length, stride, frac):
    """Plain Python loop reference for window_recordings."""
    xs, users, ids, starts, labs = [], [], [], [], []
    for r in recs:
        start = 0
        while start + length <= len(r.x):
            xs.append(r.x[start : start + length])
            users.append(r.user)
            ids.append(r.recording)
            starts.append(r.start_s + start / r.fs)
            if r.labels is None:
                labs.append(-1)
            else:
                counts = Counter(int(v) for v in r.labels[start : start + length] if v >= 0)
                if counts:
                    best = max(counts.values())
                    cls = min(c for c, k in counts.items() if k == best)
                    labs.append(cls if best / length >= frac else -1)
                else:
                    labs.append(-1)
            start += stride
    return xs, users, ids, starts, labs


@pytest.mark.parametrize(
    ("length", "stride", "frac"), [(256, 256, 1.0), (256, 128, 0.6), (100, 37, 0.5)]
)
def test_window_recordings_matches_python_loop(length: int, stride: int, frac: float) -> None:
    rng = np.random.default_rng(0)
    recs = [
        _rec(1000, rng, user="u1", rec="u1:0", start_s=12.5, labels=_blocky_labels(1000, rng)),
        _rec(200, rng, user="u1", rec="u1:1", start_s=100.0, labels=_blocky_labels(200, rng)),
        _rec(777, rng, user="u2", rec="u2:0", start_s=-3.0, labels=None),
        _rec(3000, rng, user="u3", rec="u3:0", start_s=1e6, labels=_blocky_labels(3000, rng)),
    ]
    seg = window_recordings(recs, length=length, stride=stride, min_label_fraction=frac)
    xs, users, ids, starts, labs = _reference_windows(recs, length, stride, frac)
    assert len(seg) == len(xs)
    assert seg.x.shape == (len(xs), length, 3) and seg.x.dtype == np.float32
    np.testing.assert_array_equal(seg.x, np.stack(xs))
    assert seg.user.tolist() == users
    assert seg.recording.tolist() == ids
    np.testing.assert_allclose(seg.start_s, starts, rtol=0, atol=1e-9)
    assert seg.label.dtype == np.int16
    np.testing.assert_array_equal(seg.label, labs)
    assert seg.label_names == NAMES
    # some labelled, some unlabelled windows actually occur
    assert (seg.label >= 0).any() and (seg.label == -1).any()


def test_majority_rule_explicit_cases() -> None:
    lab = np.full(256, 2, dtype=np.int16)
    assert window_labels(lab, 3).tolist() == [2]
    lab[0] = -1  # one unlabelled sample counts against the class
    assert window_labels(lab, 3).tolist() == [-1]
    assert window_labels(lab, 3, min_label_fraction=0.99).tolist() == [2]
    mixed = np.array([1] * 154 + [0] * 102, dtype=np.int16)  # 60% class 1
    assert window_labels(mixed, 3, min_label_fraction=1.0).tolist() == [-1]
    assert window_labels(mixed, 3, min_label_fraction=0.6).tolist() == [1]
    assert window_labels(mixed, 3, min_label_fraction=0.61).tolist() == [-1]
    tie = np.array([2] * 128 + [1] * 128, dtype=np.int16)
    assert window_labels(tie, 3, min_label_fraction=0.5).tolist() == [1]  # smaller code
    assert window_labels(np.full(256, -1), 3, min_label_fraction=0.1).tolist() == [-1]
    assert window_labels(np.zeros(255, dtype=int), 3).shape == (0,)
    with pytest.raises(ValueError, match="min_label_fraction"):
        window_labels(lab, 3, min_label_fraction=0.0)
    with pytest.raises(ValueError, match="labels must lie"):
        window_labels(np.full(256, 3), 3)


def test_windows_never_cross_recordings() -> None:
    rng = np.random.default_rng(1)
    recs = [_rec(300, rng, rec="r0"), _rec(300, rng, rec="r1"), _rec(255, rng, rec="r2")]
    seg = window_recordings(recs)
    assert len(seg) == 2  # 600 samples would give 2 windows either way, but not from r2
    np.testing.assert_array_equal(seg.x[0], recs[0].x[:256])
    np.testing.assert_array_equal(seg.x[1], recs[1].x[:256])
    assert seg.recording.tolist() == ["r0", "r1"]
    recs2 = [_rec(200, rng, rec="s0"), _rec(200, rng, rec="s1")]
    assert len(window_recordings(recs2)) == 0  # 400 samples in total, but no window fits


def test_window_recordings_errors_and_empty() -> None:
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match=r"'r1'.*label_names"):
        window_recordings([_rec(300, rng), _rec(300, rng, rec="r1", names=("x",))])
    with pytest.raises(ValueError, match=r"'r'.*50.0 Hz"):
        window_recordings([_rec(300, rng, fs=50.0)])
    with pytest.raises(ValueError, match=r"'r'.*labels have shape"):
        window_recordings([_rec(300, rng, labels=np.zeros(10, dtype=np.int16))])
    with pytest.raises(ValueError, match="min_label_fraction"):
        window_recordings([_rec(300, rng)], min_label_fraction=1.5)
    empty = window_recordings([])
    assert len(empty) == 0 and empty.x.shape == (0, 256, 3)


def _segments(n: int = 10, seed: int = 3) -> Segments:
    rng = np.random.default_rng(seed)
    return Segments(
        x=rng.standard_normal((n, 256, 3)).astype(np.float32),
        user=np.array(["ua", "ub"] * (n // 2), dtype=object),
        recording=np.array([f"r{i // 3}" for i in range(n)]),
        start_s=np.arange(n) * 2.56 + 1000.0,
        label=rng.integers(-1, 3, n),
        label_names=NAMES,
    )


def test_segments_subset_and_len() -> None:
    seg = _segments()
    assert len(seg) == 10
    assert seg.user.dtype.kind == "U" and seg.label.dtype == np.int16
    mask = seg.label >= 0
    sub = seg.subset(mask)
    assert len(sub) == int(mask.sum())
    np.testing.assert_array_equal(sub.x, seg.x[mask])
    sub2 = seg.subset([3, 1])
    assert sub2.user.tolist() == [seg.user[3], seg.user[1]]
    np.testing.assert_array_equal(sub2.start_s, seg.start_s[[3, 1]])
    assert len(seg.subset(np.array([], dtype=int))) == 0
    with pytest.raises(ValueError, match="mask"):
        seg.subset(np.ones(3, dtype=bool))


def test_time_block_codes() -> None:
    seg = Segments(
        x=np.zeros((6, 256, 3), dtype=np.float32),
        user=["a", "a", "a", "b", "b", "a"],
        recording=["r"] * 6,
        start_s=[0.0, 59.9, 60.0, 0.0, 130.0, -0.5],
        label=[-1] * 6,
        label_names=(),
    )
    codes = seg.time_block(60.0)
    assert codes.dtype == np.int64 and codes.shape == (6,)
    # independent reference: one code per distinct (user, floor(start / 60))
    keys = [(u, int(np.floor(s / 60.0))) for u, s in zip(seg.user, seg.start_s, strict=True)]
    for i in range(6):
        for j in range(6):
            assert (codes[i] == codes[j]) == (keys[i] == keys[j])
    for bs in (0.0, -1.0, float("inf")):
        per_user = seg.time_block(bs)
        assert len(set(per_user.tolist())) == 2
        assert (per_user[seg.user == "a"] == per_user[0]).all()


def test_save_load_roundtrip_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seg = _segments()
    path = tmp_path / "sub" / "segments.npz"
    seg.save_npz(path)
    back = Segments.load_npz(path)
    np.testing.assert_array_equal(back.x, seg.x)
    assert back.user.tolist() == seg.user.tolist()
    assert back.recording.tolist() == seg.recording.tolist()
    np.testing.assert_array_equal(back.start_s, seg.start_s)
    np.testing.assert_array_equal(back.label, seg.label)
    assert back.label_names == NAMES
    assert [p.name for p in path.parent.iterdir()] == ["segments.npz"]

    # a failed write leaves the previous file intact and no temporary file behind
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(windowing.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        _segments(seed=9).save_npz(path)
    assert [p.name for p in path.parent.iterdir()] == ["segments.npz"]
    np.testing.assert_array_equal(Segments.load_npz(path).x, seg.x)
    monkeypatch.undo()

    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        Segments.load_npz(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="missing arrays"):
        Segments.load_npz(tmp_path / "other.npz")


def test_concat() -> None:
    a, b = _segments(4, 1), _segments(6, 2)
    c = Segments.concat([a, b])
    assert len(c) == 10
    np.testing.assert_array_equal(c.x, np.concatenate([a.x, b.x]))
    assert c.user.tolist() == a.user.tolist() + b.user.tolist()
    np.testing.assert_array_equal(c.label, np.concatenate([a.label, b.label]))
    other = Segments(a.x, a.user, a.recording, a.start_s, np.full(4, -1), ("z",))
    with pytest.raises(ValueError, match="label_names"):
        Segments.concat([a, other])
    with pytest.raises(ValueError, match="nothing"):
        Segments.concat([])


def test_segments_validation() -> None:
    with pytest.raises(ValueError, match="labels must lie"):
        Segments(np.zeros((1, 256, 3)), ["u"], ["r"], [0.0], [5], NAMES)
    with pytest.raises(ValueError, match="user"):
        Segments(np.zeros((2, 256, 3)), ["u"], ["r", "r"], [0.0, 1.0], [0, 0], NAMES)
