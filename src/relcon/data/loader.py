"""Batch loaders for the training loops: gather windows in background workers.

The samplers decide *which* windows make up a batch (cheap index arithmetic); these loaders
*gather* them (from an in-memory array or a memory-mapped corpus) in ``num_workers`` background
processes, into pinned memory when training on a GPU, so the device is not kept waiting. Batch
``i`` of an epoch depends only on ``(seed, epoch, i)``, so the order is the same with any number of
workers and a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from relcon.data.sampling import CandidateBatch, CandidateSampler

__all__ = ["candidate_batches", "shuffled_batches"]


def _gather(x, index: np.ndarray) -> torch.Tensor:
    """Windows ``x[index]`` as a float32 tensor (sorted reads are kinder to memory maps)."""
    order = np.argsort(index, kind="stable")
    sorted_x = np.asarray(x[index[order]], dtype=np.float32)
    out = np.empty_like(sorted_x)
    out[order] = sorted_x
    return torch.from_numpy(out)


class _CandidateBatches(Dataset):
    """Item ``j`` = this rank's ``j``-th batch of ``epoch``: anchors ``(B,T,3)``, within ``(B*K,T,3)``."""

    def __init__(self, x, sampler: CandidateSampler, epoch: int) -> None:
        self.x, self.sampler, self.epoch = x, sampler, epoch
        plan = sampler.epoch_anchors(epoch)
        self.indices = np.arange(sampler.rank, len(plan), sampler.world_size)
        self.plan = plan

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        index = int(self.indices[j])
        anchors = self.plan[index]
        within = self.sampler.within_candidates(anchors, self.sampler._rng(self.epoch, 1, index))
        batch = CandidateBatch(self.epoch, index, anchors, within)
        return j, batch, _gather(self.x, anchors), _gather(self.x, within.reshape(-1))


def _loader(dataset: Dataset, start: int, num_workers: int, pin_memory: bool) -> DataLoader:
    subset = torch.utils.data.Subset(dataset, range(start, len(dataset)))
    return DataLoader(
        subset,
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
        # its own generator: creating the iterator must not consume the global torch RNG (which
        # drives dropout), or a resumed run would diverge from an uninterrupted one
        generator=torch.Generator().manual_seed(0),
    )


def candidate_batches(
    x,
    sampler: CandidateSampler,
    start_epoch: int = 0,
    start_batch: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[int, CandidateBatch, torch.Tensor, torch.Tensor]]:
    """Endless ``(j, batch, anchors, within)`` for RelCon pretraining, from ``(start_epoch, start_batch)``.

    ``j`` counts this rank's batches within the epoch; ``anchors`` is ``(B, T, 3)`` and ``within``
    is ``(B*K, T, 3)`` (float32, pinned if asked).
    """
    epoch, start = start_epoch, start_batch
    while True:
        yield from _loader(_CandidateBatches(x, sampler, epoch), start, num_workers, pin_memory)
        epoch, start = epoch + 1, 0


class _ShuffledBatches(Dataset):
    def __init__(self, x, n_batches: int, batch_size: int, perm: np.ndarray, rank: int, world: int):
        self.x, self.batch_size, self.perm = x, batch_size, perm
        self.indices = np.arange(rank, n_batches - n_batches % world, world)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        index = int(self.indices[j])
        idx = self.perm[index * self.batch_size : (index + 1) * self.batch_size]
        return j, index, _gather(self.x, idx)


def shuffled_batches(
    x,
    batch_size: int,
    seed: int,
    start_epoch: int = 0,
    start_batch: int = 0,
    *,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[int, int, int, torch.Tensor]]:
    """Endless ``(epoch, j, index, windows)`` over a random permutation of all windows per epoch.

    Epoch ``e``'s permutation depends only on ``(seed, e)``; batch ``index`` (global numbering) goes
    to rank ``index % world_size``; ``j`` counts this rank's batches within the epoch.
    """
    n = len(x)
    if n < batch_size * world_size:
        raise ValueError(
            f"only {n} windows, fewer than batch_size x world_size = {batch_size * world_size}"
        )
    epoch, start = start_epoch, start_batch
    while True:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        data = _ShuffledBatches(x, n // batch_size, batch_size, perm, rank, world_size)
        for j, index, windows in _loader(data, start, num_workers, pin_memory):
            yield epoch, j, index, windows
        epoch, start = epoch + 1, 0
