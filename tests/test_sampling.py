"""Anchor/candidate sampling."""

import numpy as np
import pytest

from relcon.data.sampling import CandidateSampler


def make(n_users=10, per_user=40, blocks=2, **kw):
    user = np.repeat(np.arange(n_users), per_user)
    block = np.tile(np.repeat(np.arange(blocks), per_user // blocks), n_users)
    return user, block, CandidateSampler(user, block, **kw)


def test_within_user_candidates_same_user_same_block_distinct_not_anchor():
    user, block, s = make(batch_size=8, within_user=6, seed=3)
    for i in range(s.batches_per_epoch()):
        b = s.batch(epoch=1, index=i)
        for a, cands in zip(b.anchors, b.within, strict=True):
            assert len(set(cands)) == 6
            assert a not in cands
            assert (user[cands] == user[a]).all() and (block[cands] == block[a]).all()


def test_anchors_distinct_users_and_full_epoch_coverage():
    user, _, s = make(n_users=10, per_user=40, batch_size=10, within_user=3)
    plan = s.epoch_anchors(0)
    for row in plan:
        assert len(set(user[row])) == 10  # one anchor per user in every batch
    assert len(np.unique(plan)) == plan.size == 400  # each window once per epoch


def test_deterministic_and_disjoint_ranks():
    user, block, s = make(batch_size=4, within_user=3, seed=5)
    b1, b2 = s.batch(2, 3), s.batch(2, 3)
    assert np.array_equal(b1.anchors, b2.anchors) and np.array_equal(b1.within, b2.within)
    assert not np.array_equal(s.batch(3, 3).anchors, b1.anchors)
    ranks = [CandidateSampler(user, block, 4, 3, seed=5, rank=r, world_size=2) for r in range(2)]
    seen = []
    for r in ranks:
        it = r.iterate()
        seen.append(np.concatenate([next(it)[1].anchors for _ in range(r.batches_per_epoch())]))
    assert not set(seen[0]) & set(seen[1])
    # the two ranks' batches are exactly the single-process batches
    single = CandidateSampler(user, block, 4, 3, seed=5)
    it = single.iterate()
    all_single = np.concatenate([next(it)[1].anchors for _ in range(single.batches_per_epoch())])
    assert sorted(np.concatenate(seen)) == sorted(all_single)


def test_resume_mid_epoch_continues_the_same_stream():
    _, _, s = make(batch_size=5, within_user=2, seed=1)
    full = [b for _, (_, b) in zip(range(12), s.iterate(), strict=False)]
    resumed = [
        b
        for _, (_, b) in zip(
            range(5), s.iterate(full[7].epoch, 7 % s.batches_per_epoch()), strict=False
        )
    ]
    for a, b in zip(full[7:], resumed, strict=False):
        assert np.array_equal(a.anchors, b.anchors) and np.array_equal(a.within, b.within)


def test_small_blocks_are_excluded_and_counted():
    user = np.array([0] * 10 + [1] * 3 + [2] * 10)
    s = CandidateSampler(user, user, batch_size=2, within_user=5)
    assert s.n_excluded == 3
    assert not np.isin(np.flatnonzero(user == 1), s.epoch_anchors(0)).any()
    with pytest.raises(ValueError, match="within_user"):
        CandidateSampler(user, user, batch_size=30, within_user=5)


def test_large_blocks_use_the_rejection_path():
    user = np.repeat([0, 1], 6000)
    s = CandidateSampler(user, user, batch_size=2, within_user=20, seed=0)
    b = s.batch(0, 0)
    for a, c in zip(b.anchors, b.within, strict=True):
        assert len(set(c)) == 20 and a not in c and (user[c] == user[a]).all()
