"""The motif distance, trained briefly on real wrist windows, is rotation invariant."""

import numpy as np
import torch

from relcon.augmentations import random_rotation_matrices
from relcon.checkpoint import load_model
from relcon.config import DataConfig, DistanceTrainConfig
from relcon.data.datasets import load_segments
from relcon.train_distance import train_distance


def test_rotated_copy_is_closer_than_another_activity(tmp_path):
    segs = load_segments(DataConfig(source="demo"))
    users = np.unique(segs.user)
    train = segs.subset(np.isin(segs.user, users[:20]))
    test = segs.subset(np.isin(segs.user, users[20:]))
    cfg = DistanceTrainConfig(
        steps=60, batch_size=32, lr=2e-3, warmup_steps=5, log_every=20, ckpt_every=1000
    )
    run = train_distance(cfg, tmp_path / "d", segments=train, progress=False)
    model, _ = load_model(run, kind="distance")

    rng = np.random.default_rng(0)
    n = 200
    anchors = rng.choice(len(test), n, replace=False)
    others = np.array([rng.choice(np.flatnonzero(test.label != test.label[a])) for a in anchors])
    a = torch.from_numpy(test.x[anchors])
    rot = torch.bmm(a, random_rotation_matrices(n, torch.Generator().manual_seed(1)))
    other = torch.from_numpy(test.x[others])
    with torch.no_grad():
        d_rot, d_other = model(a, rot), model(a, other)
    fraction = (d_rot < d_other).float().mean().item()
    print(f"rotated copy closer than another activity on {fraction:.1%} of {n} pairs")
    assert fraction > 0.8
