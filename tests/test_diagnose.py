"""Teacher diagnostics, the orientation-free distance and the label-oracle teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from relcon.data.augmentations import random_rotation_matrices
from relcon.data.tasks import Task, save_task
from relcon.models.distance import MotifDistance, canonical_orientation
from relcon.models.encoder import EncoderConfig
from relcon.train.diagnose import (
    DiagnoseConfig,
    candidate_layout,
    diagnose_distance,
    ranking_metrics,
    rotations_within,
)
from relcon.train.relcon import oracle_distances

SMALL = EncoderConfig(stage_blocks=(1,), stage_filters=(8,), stage_kernels=(3,), stem_filters=8)


def _windows(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(256) / 100.0
    freq = 0.5 + 2.5 * torch.rand(n, 1, 1, generator=g)
    phase = 6.28 * torch.rand(n, 1, 3, generator=g)
    amp = 0.2 + 0.6 * torch.rand(n, 1, 3, generator=g)
    x = amp * torch.sin(6.28 * freq * t[None, :, None] + phase)
    gravity = torch.nn.functional.normalize(torch.randn(n, 1, 3, generator=g), dim=-1)
    return x + gravity + 0.02 * torch.randn(n, 256, 3, generator=g)


def test_canonical_orientation_ignores_rotations_and_is_a_rotation_itself():
    x = _windows(32)
    r = random_rotation_matrices(32, torch.Generator().manual_seed(1))
    a, b = canonical_orientation(x), canonical_orientation(torch.bmm(x, r))
    # float32 eigenvectors of a well-separated 3x3 covariance: errors of order 1e-6 relative
    assert torch.allclose(a, b, atol=1e-3)
    # a rotation of each window: every sample keeps its length, the mean lies on the first axis
    assert torch.allclose(a.norm(dim=-1), x.norm(dim=-1), atol=1e-4)
    mean = a.mean(dim=1)
    assert torch.allclose(mean[:, 1:], torch.zeros_like(mean[:, 1:]), atol=1e-4)
    assert (mean[:, 0] > 0).all()
    with pytest.raises(ValueError, match=r"\(N, T, 3\)"):
        canonical_orientation(torch.zeros(2, 256, 4))


def test_orientation_free_distance_ranks_a_rotated_copy_like_the_window_itself():
    torch.manual_seed(0)
    x = _windows(8)
    r = random_rotation_matrices(8, torch.Generator().manual_seed(2))
    free = MotifDistance(channels=16, bottleneck=4, orientation="canonical").eval()
    paper = MotifDistance(channels=16, bottleneck=4).eval()
    paper.load_state_dict(free.state_dict())  # same weights, only the orientation differs
    with torch.no_grad():
        self_d = free(x, x)
        rot_d = free(x, torch.bmm(x, r))
        # score() and forward() agree, rotated copies included
        pool = torch.cat([x, torch.bmm(x, r)])
        idx = torch.stack([torch.arange(8), torch.arange(8, 16)], dim=1)
        scored = free.score(x, pool, idx)
        paper_rot = paper(x, torch.bmm(x, r))
    assert torch.allclose(rot_d, self_d, rtol=1e-3, atol=1e-3)
    assert torch.allclose(scored[:, 1], rot_d, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(paper_rot, self_d, rtol=1e-2)  # the paper's distance does not
    with pytest.raises(ValueError, match="orientation"):
        MotifDistance(orientation="sideways")


def test_ranking_metrics_match_a_plain_loop_and_scipy():
    rng = np.random.default_rng(0)
    dist = rng.random((40, 12))
    same = rng.random((40, 12)) < 0.3
    same[0] = True  # an anchor with one kind only is left out of the Spearman mean
    m = ranking_metrics(dist, same)
    p1 = np.mean([same[i, np.argmin(dist[i])] for i in range(40)])
    p5 = np.mean([same[i, np.argsort(dist[i])[:5]].mean() for i in range(40)])
    rhos = [spearmanr(dist[i], ~same[i]).statistic for i in range(40) if 0 < same[i].sum() < 12]
    assert m["precision_at_1"] == pytest.approx(p1)
    assert m["precision_at_5"] == pytest.approx(p5)
    assert m["spearman"] == pytest.approx(np.mean(rhos), abs=1e-12)
    assert m["n_anchors_spearman"] == len(rhos)


def test_candidate_layout_follows_pretraining():
    groups = np.repeat(["a", "b", "c"], 30)
    block = np.repeat([0, 1, 2, 3, 4, 5], 15)  # two blocks per subject
    anchors, cands = candidate_layout(groups, block, 20, within_user=5, between_user=7, seed=1)
    assert cands.shape == (20, 12)
    for a, row in zip(anchors, cands, strict=True):
        assert a not in row[:5] and len(set(row[:5])) == 5
        assert (block[row[:5]] == block[a]).all()
        assert (groups[row[5:]] != groups[a]).all()


def test_rotations_within_stay_within_the_angle():
    r = rotations_within(200, 30.0, torch.Generator().manual_seed(0))
    eye = torch.eye(3).expand_as(r)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    angle = torch.rad2deg(torch.arccos(((r.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
    assert angle.max() <= 30.0 + 1e-3


def _task(path, n_subjects=4, per_class=12, task_type="classification", window=256):
    """Two classes that differ in the movement's frequency; a start time per window."""
    rng = np.random.default_rng(0)
    t = np.arange(window) / 100.0
    xs, ys, gs, starts = [], [], [], []
    for s in range(n_subjects):
        for c, f in enumerate((0.7, 3.0)):
            for i in range(per_class):
                phase = rng.uniform(0, 6.28, 3)
                xs.append(0.5 * np.sin(2 * np.pi * f * t[:, None] + phase) + [0, 0, 1])
                ys.append(c)
                gs.append(f"s{s}")
                starts.append(4000.0 * c + 2.56 * i)  # one block of time per class
    y = np.array(ys) if task_type == "classification" else np.array(ys, dtype=float)
    task = Task(
        X=np.array(xs, dtype=np.float32), y=y, groups=np.array(gs), task_type=task_type,
        label_names=("slow", "fast") if task_type == "classification" else None,
        extra={"start_s": np.array(starts)},
    )  # fmt: skip
    save_task(task, path)
    return path


def test_diagnose_distance_reports_every_scorer(tmp_path):
    task = _task(tmp_path / "t.npz")
    torch.manual_seed(0)
    distance = MotifDistance(channels=8, bottleneck=4)
    cfg = DiagnoseConfig(
        distance="test", task=str(task), anchors=20, within_user=4, between_user=6,
        floor_encoder=SMALL,
    )  # fmt: skip
    r = diagnose_distance(cfg, distance=distance)
    assert r["n_anchors"] == 20 and len(r["subjects"]) == 4
    assert set(r["scorers"]) == {"motif_distance", "euclidean", "random_encoder_cosine"}
    for row in r["scorers"].values():
        for key in ("precision_at_1", "precision_at_5", "rotated_so3", "rotated_30deg", "negated"):
            assert 0.0 <= row[key] <= 1.0
    # a within-user block holds one class here, so the nearest candidates share the label
    assert r["share_same_label_within"] == 1.0
    assert r["scorers"]["euclidean"]["rotated_30deg"] > r["scorers"]["euclidean"]["rotated_so3"]


def test_diagnose_refuses_bad_tasks(tmp_path):
    cfg = DiagnoseConfig(distance="test", anchors=5, within_user=2, between_user=2)
    dist = MotifDistance(channels=8, bottleneck=4)
    reg = _task(tmp_path / "reg.npz", task_type="regression")
    with pytest.raises(ValueError, match=r"reg\.npz.*class labels"):
        diagnose_distance(DiagnoseConfig(**{**cfg.__dict__, "task": str(reg)}), distance=dist)
    one = _task(tmp_path / "one.npz", n_subjects=1)
    with pytest.raises(ValueError, match=r"one\.npz.*1 subject"):
        diagnose_distance(DiagnoseConfig(**{**cfg.__dict__, "task": str(one)}), distance=dist)
    rng = np.random.default_rng(0)
    long = tmp_path / "long.npz"
    task = Task(
        X=rng.normal(size=(20, 1000, 3)).astype(np.float32), y=np.arange(20) % 2,
        groups=np.repeat(["a", "b"], 10), task_type="classification",
        extra={"window_s": np.float64(10.0)},
    )  # fmt: skip
    save_task(task, long)
    with pytest.raises(ValueError, match=r"long\.npz.*1000 samples"):
        diagnose_distance(DiagnoseConfig(**{**cfg.__dict__, "task": str(long)}), distance=dist)


def test_oracle_puts_the_anchors_label_first_and_keeps_motif_order_within():
    rng = np.random.default_rng(0)
    b, k, m = 6, 4, 5
    labels = torch.as_tensor(rng.integers(-1, 3, b + b * k))
    idx = torch.as_tensor(rng.integers(0, b + b * k, (b, k + m)))
    dist = torch.as_tensor(rng.random((b, k + m)), dtype=torch.float32)
    out = oracle_distances(dist, labels, idx)
    for i in range(b):
        share = [
            bool(labels[idx[i, j]] == labels[i]) and bool(labels[i] >= 0) for j in range(k + m)
        ]
        first = sorted((j for j in range(k + m) if share[j]), key=lambda j: float(dist[i, j]))
        rest = sorted((j for j in range(k + m) if not share[j]), key=lambda j: float(dist[i, j]))
        assert torch.argsort(out[i], stable=True).tolist() == first + rest


def test_train_distance_logs_the_diagnostics_at_the_end(demo_segments, tmp_path):
    from relcon.config import DistanceTrainConfig
    from relcon.models.distance import MotifDistanceConfig
    from relcon.train.distance import train_distance

    segs = demo_segments.subset(np.arange(0, len(demo_segments), 40))
    task = _task(tmp_path / "t.npz")
    cfg = DistanceTrainConfig(
        architecture=MotifDistanceConfig(channels=8, bottleneck=4, n_layers=1), steps=2, batch_size=8,
        warmup_steps=1, diagnose_task=str(task),
    )  # fmt: skip
    run = train_distance(cfg, tmp_path / "d", segments=segs, progress=False)
    result = json.loads((run / "diagnostics.json").read_text())
    assert result["task"] == str(task) and result["n_anchors"] > 0
    assert 0 <= result["scorers"]["motif_distance"]["precision_at_1"] <= 1
