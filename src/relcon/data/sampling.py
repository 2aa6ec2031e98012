"""Anchor and candidate sampling for RelCon pretraining.

Every pretraining step needs a batch of *anchors* and, for each anchor, a candidate set:

* **within-user candidates**: ``K`` other windows of the same user from the same block of time
  (RelCon's "across time" comparisons);
* **between-user candidates**: the other anchors of the batch, which come from different users
  wherever the data allow ("across subjects").

The sampler only looks at two integer arrays, the user and the time block of every window, so it
works the same on an in-memory array and on an on-disk corpus index. Draws are vectorised (no
per-sample Python work) and deterministic: batch ``i`` of epoch ``e`` depends only on
``(seed, e, i)``, which makes ``--resume`` exact. With ``world_size > 1`` each rank gets a
disjoint share of the batches of every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CandidateBatch", "CandidateSampler", "group_codes"]


def group_codes(*keys: np.ndarray) -> np.ndarray:
    """Integer code per row for the unique combinations of ``keys`` (e.g. user and block).

    Each key is first turned into dense codes, then the codes are combined arithmetically into
    one int64 key, so only 1-D sorts are needed (a 2-D ``np.unique(axis=0)`` is several times
    slower at the scale of a billion-segment corpus).
    """
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for k in keys:
        codes = np.unique(np.asarray(k), return_inverse=True)[1].reshape(-1)
        combined = combined * (int(codes.max()) + 1 if len(codes) else 1) + codes
        combined = np.unique(combined, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return combined


@dataclass
class CandidateBatch:
    epoch: int
    index: int  # batch number within the epoch (global, across ranks)
    anchors: np.ndarray  # (B,) window indices
    within: np.ndarray  # (B, K) window indices of the within-user candidates


class CandidateSampler:
    """Draw anchors (distinct users per batch) and their within-user candidates.

    Args:
        user: ``(N,)`` user of every window (any hashable dtype).
        block: ``(N,)`` time block of every window; windows share a block only if they also share
            the user (use :func:`group_codes` or :meth:`Segments.time_block`).
        batch_size: anchors per batch.
        within_user: within-user candidates per anchor, drawn without replacement.
        seed: base seed.
        rank, world_size: this process's share in distributed training.

    Windows whose block holds fewer than ``within_user + 1`` windows cannot be anchors (they can
    still not be candidates either, since candidates come from the anchor's block);
    :attr:`n_excluded` counts them.

    Example:
        >>> user = np.repeat(np.arange(4), 30)
        >>> s = CandidateSampler(user, user, batch_size=4, within_user=5)
        >>> b = s.batch(epoch=0, index=0)
        >>> b.anchors.shape, b.within.shape
        ((4,), (4, 5))
    """

    def __init__(
        self,
        user: np.ndarray,
        block: np.ndarray,
        batch_size: int,
        within_user: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        user = np.asarray(user)
        block = np.asarray(block)
        if user.shape != block.shape or user.ndim != 1:
            raise ValueError(
                f"user and block must be 1-D of equal length: {user.shape}, {block.shape}"
            )
        if batch_size < 1 or within_user < 0:
            raise ValueError(
                f"need batch_size >= 1 and within_user >= 0, got {batch_size}, {within_user}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, {world_size})")
        self.batch_size = batch_size
        self.within_user = within_user
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.user_code = np.unique(user, return_inverse=True)[1].astype(np.int64)
        block_code = group_codes(user, block)
        # Windows sorted by block: the members of block g are order[start[g] : start[g] + size[g]].
        self.order = np.argsort(block_code, kind="stable")
        sizes = np.bincount(block_code)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.group_start = starts[block_code]  # per window
        self.group_size = sizes[block_code]
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(len(self.order)) - self.group_start[self.order]
        self.eligible = np.flatnonzero(self.group_size >= within_user + 1)
        self.n_excluded = len(user) - len(self.eligible)
        self.n_users = int(self.user_code.max()) + 1 if len(user) else 0
        if len(self.eligible) < batch_size * world_size:
            raise ValueError(
                f"only {len(self.eligible)} windows belong to a time block with at least "
                f"{within_user + 1} windows; need at least batch_size x world_size = "
                f"{batch_size * world_size}. Lower within_user or batch_size, or use longer blocks."
            )

    # ---- anchors ------------------------------------------------------------------------
    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def epoch_anchors(self, epoch: int) -> np.ndarray:
        """``(n_batches, B)`` anchors of every batch of ``epoch`` (all ranks).

        Each user's eligible windows are shuffled; then the first window of every user comes
        first (users in random order), then every user's second window, and so on. Consecutive
        batches therefore hold distinct users as long as enough users have windows left.
        """
        rng = self._rng(epoch, 0)
        idx = self.eligible[rng.permutation(len(self.eligible))]
        users = self.user_code[idx]
        # rank of each window among its user's windows, in the shuffled order
        by_user = np.argsort(users, kind="stable")
        counts = np.bincount(users, minlength=self.n_users)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank_in_user = np.empty(len(idx), dtype=np.int64)
        rank_in_user[by_user] = np.arange(len(idx)) - first[users[by_user]]
        user_key = rng.permutation(self.n_users)[users]
        idx = idx[np.lexsort((user_key, rank_in_user))]
        per_epoch = len(idx) // (self.batch_size * self.world_size) * self.world_size
        return idx[: per_epoch * self.batch_size].reshape(per_epoch, self.batch_size)

    def batches_per_epoch(self) -> int:
        """Batches this rank sees per epoch."""
        return len(self.eligible) // (self.batch_size * self.world_size)

    # ---- candidates ---------------------------------------------------------------------
    def within_candidates(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(B, K)`` distinct windows of each anchor's block, never the anchor itself."""
        k = self.within_user
        b = len(anchors)
        if k == 0:
            return np.empty((b, 0), dtype=np.int64)
        n_other = self.group_size[anchors] - 1  # choices per anchor
        offsets = np.empty((b, k), dtype=np.int64)
        small = n_other <= 4096
        if small.any():
            rows = np.flatnonzero(small)
            width = int(n_other[rows].max())
            keys = rng.random((len(rows), width))
            keys[np.arange(width)[None, :] >= n_other[rows, None]] = np.inf
            offsets[rows] = np.argpartition(keys, k - 1, axis=1)[:, :k]
        big = np.flatnonzero(~small)
        if len(big):  # large blocks: draw with replacement and redraw the rare duplicates
            draw = (rng.random((len(big), k)) * n_other[big, None]).astype(np.int64)
            for _ in range(100):
                s = np.sort(draw, axis=1)
                dup = (s[:, 1:] == s[:, :-1]).any(axis=1)
                if not dup.any():
                    break
                draw[dup] = (rng.random((int(dup.sum()), k)) * n_other[big[dup], None]).astype(
                    np.int64
                )
            offsets[big] = draw
        # skip over the anchor's own position in its block
        offsets += offsets >= self.position[anchors, None]
        return self.order[self.group_start[anchors, None] + offsets]

    def batch(self, epoch: int, index: int) -> CandidateBatch:
        """Batch ``index`` (global numbering) of ``epoch``; depends only on (seed, epoch, index)."""
        anchors = self.epoch_anchors(epoch)[index]
        within = self.within_candidates(anchors, self._rng(epoch, 1, index))
        return CandidateBatch(epoch, index, anchors, within)

    def iterate(self, start_epoch: int = 0, start_batch: int = 0):
        """Endless stream of this rank's batches from ``(start_epoch, start_batch)`` on.

        ``start_batch`` counts this rank's batches within the epoch.
        """
        epoch, local = start_epoch, start_batch
        while True:
            plan = self.epoch_anchors(epoch)
            mine = np.arange(self.rank, len(plan), self.world_size)
            for j in range(local, len(mine)):
                index = int(mine[j])
                anchors = plan[index]
                within = self.within_candidates(anchors, self._rng(epoch, 1, index))
                yield j, CandidateBatch(epoch, index, anchors, within)
            epoch, local = epoch + 1, 0
