"""``relcon bench``: how fast every stage of RelCon training and inference runs on one device.

Six measurements, each after warm-up iterations that are not timed (they absorb
``torch.compile``, cuDNN autotuning, worker start-up and allocator growth), then ``steps`` timed
iterations; the median is reported (CUDA is synchronised around every timed iteration):

(a) ``loader``: the background loader of :mod:`relcon.data.loader` alone, gathering batches of
    ``B`` anchors and ``B*K`` within-user candidates (from a prepared corpus with ``corpus``, else
    from synthetic windows in memory) with ``num_workers`` workers; anchors/s and segments/s.
(b) ``distance_train``: one optimizer step of the motif distance as in
    :mod:`relcon.train_distance` (loader, augmentations on the device, forward, backward,
    clipping, AdamW); segments/s.
(c) ``scoring``: the frozen distance scores ``B`` anchors against ``K`` within-user and ``m``
    between-user candidates each, in one batched no-grad :meth:`MotifDistance.score`; anchors/s.
(d) ``full_step``: one RelCon pretraining step exactly as in :mod:`relcon.pretrain` (next batch
    from the loader, scoring, one encoder forward over the ``B + B*K`` windows, loss, backward,
    clipping, AdamW); anchors/s and encoded segments/s, and where its time goes.
(f) ``encoder_fwd_bwd``: the encoder's own forward and backward over the same ``B + B*K``
    windows, interleaved with (d) in the same run (so both see the same machine load);
    ``step_over_encoder`` is the ratio of their median times.
(e) ``embedding``: inference (eval mode, no grad) over batches of ``embed_batch_size`` windows,
    host memory in and out; segments/s.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``; on
the CPU the resident-set high-water mark of this process (``VmHWM``, reset through
``/proc/self/clear_refs`` where Linux allows it; loader worker processes are not included).
Model FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and
matrix products) on two samples and scaled linearly; on a GPU with a known peak (H100 SXM/PCIe/
NVL, H200, GH200, A100) the model FLOPs utilisation is achieved FLOP/s over the dense peak of the
precision in use (bf16 under autocast, else TF32).

Defaults mirror the issue's GPU target setting (``B=256``, ``K=20``, ``m=63``, bf16 autocast,
TF32). On the CPU the default batch is ``B=64``: the smallest batch that still has ``m=63``
between-user candidates (they are the other anchors of the batch), with the same ``K`` and ``m``.

Usage from Python::

    from relcon.bench import BenchConfig, format_table, run_bench
    results = run_bench(BenchConfig(device="cuda"))
    print(format_table(results))
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from relcon.config import EncoderConfig, MotifDistanceConfig, PretrainConfig, to_dict
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import SEGMENT_LENGTH, Segments
from relcon.models.distance import MotifDistance

__all__ = [
    "GPU_PEAK_TFLOPS",
    "MEASUREMENTS",
    "TARGETS",
    "BenchConfig",
    "add_bench_arguments",
    "bench_config_from_args",
    "format_table",
    "gpu_model",
    "main",
    "run_bench",
    "synthetic_segments",
]

#: Measurement groups that ``BenchConfig.only`` can select (``full_step`` includes (f)).
MEASUREMENTS = ("loader", "distance_train", "scoring", "full_step", "embedding")

#: Dense (no sparsity) peak tensor-core TFLOP/s per precision, from the vendor data sheets.
GPU_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.5, "tf32": 378.0, "fp32": 51.2},
    "H100 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "H200 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H200 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "GH200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
}

#: The issue's targets for one H100/H200 (``min`` rates) and for a 2-core CPU (``max`` ratio).
TARGETS: dict[str, dict[str, Any]] = {
    "full_step": {"device": "cuda", "min": 5000.0, "unit": "anchors/s"},
    "loader": {"device": "any", "min_times_step": 2.0, "unit": "anchors/s"},
    "scoring": {"device": "cuda", "min": 2300.0, "unit": "anchors/s"},
    "distance_train": {"device": "cuda", "min": 30000.0, "unit": "segments/s"},
    "embedding": {"device": "cuda", "min": 300000.0, "unit": "segments/s"},
    "step_over_encoder": {"device": "cpu", "max": 1.3, "unit": "x"},
}

_LABELS = {
    "loader": "(a) loader",
    "distance_train": "(b) distance training",
    "scoring": "(c) candidate scoring",
    "full_step": "(d) full pretraining step",
    "encoder_fwd_bwd": "(f) encoder fwd+bwd",
    "step_over_encoder": "(d)/(f) step / encoder",
    "embedding": "(e) embedding",
}

_SMALL_ENCODER = EncoderConfig(stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128), stem_filters=32)


@dataclass
class BenchConfig:
    """Settings of ``relcon bench``. ``None`` means "the device's default" (resolved per run)."""

    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    batch_size: int | None = None  # anchors per step (None: 256 on CUDA, 64 on the CPU)
    within_user: int = 20  # K: within-user candidates per anchor
    between_user: int = 63  # m: between-user candidates per anchor (at most batch_size - 1)
    steps: int | None = None  # timed iterations per measurement (None: 10 on CUDA, 3 on CPU)
    warmup: int | None = None  # untimed iterations first (None: 3 on CUDA, 1 on the CPU)
    compile: bool = False  # compiled sparsemax everywhere, and torch.compile'd encoder on CUDA
    amp: bool = True  # bf16 autocast on CUDA (TF32 is on either way); CPU: bf16 scoring if native
    num_workers: int | None = None  # loader workers (None: min(8, cores - 1) on CUDA, 0 on CPU)
    corpus: str | None = None  # prepared corpus folder for (a), (b), (d), (e); None: synthetic
    encoder: str = "full"  # "full" (paper, ~3.6M parameters) or "small"
    encoder_config: EncoderConfig | None = None  # explicit architecture (overrides `encoder`)
    distance: str = ""  # trained distance (run folder / checkpoint); "": random initialisation
    distance_config: MotifDistanceConfig = field(default_factory=MotifDistanceConfig)
    distance_batch_size: int | None = None  # windows per distance step (None: 1024 CUDA, 64 CPU)
    embed_batch_size: int = 512  # windows per embedding forward pass
    n_augment: int = 2  # augmentations per window in distance training
    tau: float = 0.1
    block_seconds: float = 3600.0  # time blocks of the within-user candidates
    only: list[str] | None = None  # subset of MEASUREMENTS (None: all)
    seed: int = 0


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def synthetic_segments(
    n_users: int, per_user: int, seed: int = 0, length: int = SEGMENT_LENGTH
) -> Segments:
    """Accelerometry-like windows in g: gravity in a per-user orientation, a periodic movement
    (0.5-3 Hz, per window) and sensor noise. Each user's windows are consecutive (one time
    block per hour)."""
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    gravity = rng.normal(size=(n_users, 3))
    gravity /= np.linalg.norm(gravity, axis=1, keepdims=True)
    t = np.arange(length, dtype=np.float32) / 100.0
    freq = rng.uniform(0.5, 3.0, size=(n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 3)).astype(np.float32)
    amp = rng.uniform(0.0, 0.8, size=(n, 1, 3)).astype(np.float32)
    x = amp * np.sin(2 * np.pi * freq * t[None, :, None] + phase)
    x += np.repeat(gravity, per_user, axis=0)[:, None, :].astype(np.float32)
    x += 0.02 * rng.standard_normal(x.shape, dtype=np.float32)
    user = np.repeat([f"synthetic:{u:05d}" for u in range(n_users)], per_user)
    start = np.tile(np.arange(per_user) * length / 100.0, n_users)
    return Segments(
        x=x.astype(np.float32),
        user=user,
        recording=user,
        start_s=start,
        label=np.full(n, -1, dtype=np.int16),
        label_names=(),
    )


@dataclass
class _Data:
    x: Any  # (N, 256, 3) array-like indexable by integer arrays
    user: np.ndarray
    block: np.ndarray
    description: str


def _open_data(cfg: BenchConfig, batches_needed: int) -> _Data:
    """The corpus, or synthetic windows enough for ``batches_needed`` batches of every kind."""
    b, k = int(cfg.batch_size or 1), cfg.within_user
    if cfg.corpus:
        from relcon.data.corpus import Corpus

        corpus = Corpus.open(cfg.corpus)
        return _Data(
            corpus.x,
            np.asarray(corpus.user),
            corpus.time_block(cfg.block_seconds),
            f"corpus {cfg.corpus} ({len(corpus)} segments, {corpus.storage})",
        )
    per_user = max(64, 2 * (k + 1))
    n_batches = max(batches_needed + 2, 8)
    windows = max(
        n_batches * b,
        (int(cfg.warmup or 0) + int(cfg.steps or 1) + 2) * int(cfg.distance_batch_size or 1),
    )
    n_users = max(2 * b, math.ceil(windows / per_user), 16)
    segs = synthetic_segments(n_users, per_user, seed=cfg.seed)
    return _Data(
        segs.x,
        segs.user,
        segs.time_block(cfg.block_seconds),
        f"synthetic in memory ({len(segs)} windows, {n_users} users x {per_user})",
    )


def _gather(x: Any, index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x[index], dtype=np.float32)))


# --------------------------------------------------------------------------------------------
# device, timing and memory helpers
# --------------------------------------------------------------------------------------------
def gpu_model(name: str) -> str | None:
    """Key of :data:`GPU_PEAK_TFLOPS` for a CUDA device name, or None when unknown.

    Example:
        >>> gpu_model("NVIDIA H100 80GB HBM3"), gpu_model("NVIDIA H200"), gpu_model("Tesla T4")
        ('H100 SXM', 'H200 SXM', None)
    """
    n = name.upper()
    if "GH200" in n:
        return "GH200"
    for gen in ("H200", "H100"):
        if gen in n:
            if "NVL" in n:
                return f"{gen} NVL"
            if "PCIE" in n:
                return f"{gen} PCIe"
            return f"{gen} SXM"
    if "A100" in n:
        return "A100"
    return None


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> bool:
    """Reset the peak-memory counter; False where only the process-lifetime peak is known."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident set size (Linux >= 4.0)
        return True
    except OSError:
        return False


def _peak(device: torch.device) -> int | None:
    """Bytes: CUDA max allocated, or the CPU resident-set high-water mark."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    with contextlib.suppress(ImportError):
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)
    return None


class _Phases:
    """Wall time per named phase of one step (synchronising CUDA at every mark)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.t = 0.0
        self.acc: dict[str, float] = {}

    def start(self) -> None:
        _sync(self.device)
        self.t = time.perf_counter()

    def mark(self, name: str) -> None:
        _sync(self.device)
        now = time.perf_counter()
        self.acc[name] = self.acc.get(name, 0.0) + now - self.t
        self.t = now

    def pop(self) -> dict[str, float]:
        out, self.acc = self.acc, {}
        return out


class _TimedScore:
    """Stands in for the distance inside :func:`relcon.pretrain.relcon_loss`, timing ``score``."""

    def __init__(self, distance: MotifDistance, phases: _Phases) -> None:
        self.distance, self.phases = distance, phases

    def score(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.phases.mark("loss")
        out = self.distance.score(*args, **kwargs)
        self.phases.mark("scoring")
        return out


class _TimedForward:
    """Stands in for the encoder inside :func:`relcon.pretrain.relcon_loss`, timing its forward."""

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], phases: _Phases) -> None:
        self.model, self.phases = model, phases

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.phases.mark("loss")
        z = self.model(x)
        self.phases.mark("encoder_forward")
        return z


@dataclass
class _Timing:
    seconds: list[float]
    peak_bytes: int | None
    peak_scope: str


def _time_loop(
    fn: Callable[[], Any], warmup: int, steps: int, device: torch.device, per_iter: int = 1
) -> _Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``steps`` timed calls of ``per_iter`` runs each."""
    for _ in range(warmup):
        fn()
    _sync(device)
    scoped = _reset_peak(device)
    seconds = []
    for _ in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(per_iter):
            fn()
        _sync(device)
        seconds.append((time.perf_counter() - t0) / per_iter)
    return _Timing(seconds, _peak(device), _scope(device, scoped))


def _scope(device: torch.device, scoped: bool) -> str:
    if device.type == "cuda":
        return "cuda max allocated"
    return "rss high-water mark" if scoped else "rss high-water mark (process lifetime)"


def _count_flops(fn: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
def _resolve(cfg: BenchConfig, device: torch.device) -> tuple[BenchConfig, list[str]]:
    """Fill in the device defaults; notes say what was chosen and why."""
    cuda = device.type == "cuda"
    notes: list[str] = []
    b = cfg.batch_size
    if b is None:
        b = 256 if cuda else 64
        if not cuda:
            notes.append(
                "CPU: B=64 anchors per step instead of the GPU setting's 256 (the smallest B "
                f"that keeps m={cfg.between_user} between-user candidates); K and m as on the GPU"
            )
    m = cfg.between_user
    if m > b - 1:
        notes.append(f"between_user={m} clipped to batch_size - 1 = {b - 1}")
        m = b - 1
    workers = cfg.num_workers
    if workers is None:
        workers = min(8, max(1, (os.cpu_count() or 2) - 1)) if cuda else 0
    if cfg.encoder not in ("full", "small") and cfg.encoder_config is None:
        raise ValueError(f"encoder must be 'full' or 'small', got {cfg.encoder!r}")
    unknown = sorted(set(cfg.only or []) - set(MEASUREMENTS))
    if unknown:
        raise ValueError(f"unknown measurement(s) {unknown}; choose from {list(MEASUREMENTS)}")
    resolved = replace(
        cfg,
        encoder="custom" if cfg.encoder_config is not None else cfg.encoder,
        device=str(device),
        batch_size=b,
        between_user=m,
        steps=cfg.steps if cfg.steps is not None else (10 if cuda else 3),
        warmup=cfg.warmup if cfg.warmup is not None else (3 if cuda else 1),
        num_workers=workers,
        distance_batch_size=cfg.distance_batch_size or (1024 if cuda else 64),
        encoder_config=cfg.encoder_config
        or (EncoderConfig() if cfg.encoder == "full" else copy.deepcopy(_SMALL_ENCODER)),
        only=list(cfg.only) if cfg.only else list(MEASUREMENTS),
    )
    if resolved.steps < 1 or resolved.warmup < 0:
        raise ValueError(
            f"need steps >= 1 and warmup >= 0, got {resolved.steps}, {resolved.warmup}"
        )
    if b < 1 or cfg.within_user < 1 or m < 0:
        raise ValueError(
            f"need batch_size >= 1, within_user >= 1, between_user >= 0; got {b}, {cfg.within_user}, {m}"
        )
    return resolved, notes


class _Bench:
    """State shared by the measurements of one run."""

    def __init__(self, cfg: BenchConfig, device: torch.device, log: Callable[[str], None]):
        from relcon.checkpoint import load_model
        from relcon.models.distance import set_sparsemax_backend
        from relcon.models.encoder import ResNet1DEncoder
        from relcon.pretrain import candidate_index, scoring_dtype, speed_settings

        self.cfg, self.device, self.log = cfg, device, log
        self.cuda = device.type == "cuda"
        self.b, self.k, self.m = int(cfg.batch_size or 0), cfg.within_user, cfg.between_user
        self.warmup, self.steps = int(cfg.warmup or 0), int(cfg.steps or 1)
        self.workers = int(cfg.num_workers or 0)
        torch.manual_seed(cfg.seed)
        set_sparsemax_backend("compiled" if cfg.compile else "eager")
        self.autocast = speed_settings(device, cfg.amp)
        self.precision = ("bf16" if cfg.amp else "tf32") if self.cuda else "fp32"
        self.score_dtype = scoring_dtype(device, cfg.amp)  # CPU: bf16 scoring where native

        # loader batches any one measurement draws from a fresh loader (all within epoch 0)
        rounds = max(1, self.workers)
        needed = max((self.warmup + self.steps + 1) * rounds, 2 * (self.warmup + self.steps) + 2)
        self.data = _open_data(cfg, needed)
        self.sampler = CandidateSampler(
            self.data.user, self.data.block, self.b, self.k, seed=cfg.seed
        )
        if self.sampler.batches_per_epoch() < needed:
            log(
                f"note: only {self.sampler.batches_per_epoch()} batches per epoch; timings may "
                "include the loader starting a new epoch"
            )
        self.cand_idx = candidate_index(self.b, self.k, self.m).to(device)

        batch = self.sampler.batch(0, 0)
        pool = torch.cat(
            [_gather(self.data.x, batch.anchors), _gather(self.data.x, batch.within.reshape(-1))]
        )
        self.pool = pool.to(device)  # (B + B*K, T, 3): one real batch, for (c) and (f)

        self.encoder = ResNet1DEncoder(cfg.encoder_config).to(device)
        self.model: Callable[[torch.Tensor], torch.Tensor] = self.encoder
        if cfg.compile and self.cuda:
            self.model = torch.compile(self.encoder)  # type: ignore[assignment]
        if cfg.distance:
            self.distance, _ = load_model(cfg.distance, kind="distance", device=device)
        else:
            self.distance = MotifDistance.from_config(cfg.distance_config).to(device)
        self.distance.eval().requires_grad_(False)
        self.flops = self._model_flops()

    # ---- FLOPs ----------------------------------------------------------------------------
    def _model_flops(self) -> dict[str, float]:
        """Model FLOPs per item, counted on two samples on the CPU (eager) and scaled."""
        from relcon.models import distance as distance_mod

        mode = distance_mod._backend["mode"]
        distance_mod._backend["mode"] = "eager"  # count, don't compile for a one-off shape
        try:
            enc = copy.deepcopy(self.encoder).float().cpu().train()
            dist = copy.deepcopy(self.distance).float().cpu().eval()
            x = self.pool[:2].float().cpu()

            def fwd_bwd() -> None:
                enc.train()(x.transpose(1, 2)).square().mean().backward()

            def fwd() -> None:
                with torch.no_grad():
                    enc.eval()(x.transpose(1, 2))

            with torch.no_grad():
                one = _count_flops(lambda: dist.score(x[:1], x[:1], torch.zeros(1, 1).long()))
                two = _count_flops(lambda: dist.score(x[:1], x[:1], torch.zeros(1, 2).long()))
            train_dist = MotifDistance.from_config(dist.config).train()
            dist_step = _count_flops(lambda: train_dist(x, x.flip(1)).mean().backward())
            return {
                "encoder_fwd_bwd_per_segment": _count_flops(fwd_bwd) / 2,
                "encoder_fwd_per_segment": _count_flops(fwd) / 2,
                "score_per_pair": float(two - one),
                "score_per_pool_window": float(2 * one - two),
                "distance_train_per_pair": dist_step / 2,
            }
        finally:
            distance_mod._backend["mode"] = mode

    def scoring_flops(self) -> float:
        f = self.flops
        pool = self.b + self.b * self.k
        return f["score_per_pool_window"] * pool + f["score_per_pair"] * self.b * (self.k + self.m)

    # ---- (a) loader -----------------------------------------------------------------------
    def loader(self) -> dict[str, Any]:
        from relcon.data.loader import candidate_batches

        batches = candidate_batches(
            self.data.x, self.sampler, num_workers=self.workers, pin_memory=self.cuda
        )
        rounds = max(1, self.workers)  # with w workers, batches arrive w at a time
        try:
            timing = _time_loop(
                lambda: next(batches), self.warmup * rounds + 1, self.steps, self.device, rounds
            )
        finally:
            batches.close()
        t = statistics.median(timing.seconds)
        return _entry(
            timing, self.b / t, "anchors/s", {"segments/s": self.b * (1 + self.k) / t}
        ) | {"batches_per_timed_iteration": rounds}

    # ---- (b) distance training ------------------------------------------------------------
    def distance_train(self) -> dict[str, Any]:
        from relcon.augmentations import random_augment
        from relcon.config import DistanceTrainConfig
        from relcon.data.loader import shuffled_batches
        from relcon.train_distance import augment_seed

        defaults = DistanceTrainConfig()
        bd = int(self.cfg.distance_batch_size or 1)
        model = MotifDistance.from_config(self.distance.config).to(self.device).train()
        opt = torch.optim.AdamW(
            model.parameters(), lr=defaults.lr, weight_decay=defaults.weight_decay
        )
        batches = shuffled_batches(
            self.data.x, bd, self.cfg.seed, num_workers=self.workers, pin_memory=self.cuda
        )

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            epoch, _, index, x = next(batches)
            x = x.to(self.device, non_blocking=True)
            g = torch.Generator(device=self.device).manual_seed(
                augment_seed(self.cfg.seed, epoch, index)
            )
            x_aug = random_augment(x, n=self.cfg.n_augment, g=g)
            with self.autocast():
                loss = model(x, x_aug).float().mean()
            loss.backward()
            loss.item()
            torch.nn.utils.clip_grad_norm_(model.parameters(), defaults.grad_clip)
            opt.step()

        try:
            timing = _time_loop(step, self.warmup, self.steps, self.device)
        finally:
            batches.close()
        t = statistics.median(timing.seconds)
        return _entry(timing, bd / t, "segments/s", {}, self.flops["distance_train_per_pair"] * bd)

    # ---- (c) scoring ----------------------------------------------------------------------
    def scoring(self) -> dict[str, Any]:
        anchors = self.pool[: self.b]

        from relcon.pretrain import scoring_autocast

        def score() -> None:
            with torch.no_grad(), self.autocast(), scoring_autocast(self.score_dtype, self.device):
                self.distance.score(anchors, self.pool, self.cand_idx, chunk_pairs=None)

        timing = _time_loop(score, self.warmup, self.steps, self.device)
        t = statistics.median(timing.seconds)
        pairs = self.b * (self.k + self.m)
        return _entry(timing, self.b / t, "anchors/s", {"pairs/s": pairs / t}, self.scoring_flops())

    # ---- (d) full step and (f) encoder alone ----------------------------------------------
    def full_step(self) -> dict[str, dict[str, Any]]:
        from relcon.data.loader import candidate_batches
        from relcon.pretrain import relcon_loss

        pc = PretrainConfig()
        opt = torch.optim.AdamW(self.encoder.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
        batches = candidate_batches(
            self.data.x, self.sampler, num_workers=self.workers, pin_memory=self.cuda
        )
        phases = _Phases(self.device)
        self.encoder.train()

        def step(timed: bool) -> None:
            """Body of the loop in relcon.pretrain.pretrain (accumulate = 1)."""
            model = _TimedForward(self.model, phases) if timed else self.model
            distance = _TimedScore(self.distance, phases) if timed else self.distance
            phases.start()
            opt.zero_grad(set_to_none=True)
            _, _, anchors, within = next(batches)
            pool = torch.cat([anchors, within]).to(self.device, non_blocking=True)
            phases.mark("data")
            with self.autocast():
                loss = relcon_loss(
                    model, distance, pool, self.cand_idx, self.cfg.tau, None, self.score_dtype,  # type: ignore[arg-type]
                )  # fmt: skip
            phases.mark("loss")
            loss.backward()
            phases.mark("backward")
            loss.item()
            torch.nn.utils.clip_grad_norm_(self.encoder.parameters(), pc.grad_clip)
            opt.step()
            phases.mark("optimizer")

        def encoder_only() -> None:
            self.encoder.zero_grad(set_to_none=True)
            with self.autocast():
                z = self.model(self.pool.transpose(1, 2)).float()
            z.square().mean().backward()

        # On the CPU the phase marks cost nothing, so the timed steps are also the profile; on
        # CUDA their synchronisations would hide overlap, so the profile is taken separately.
        profile_inline = not self.cuda
        times: dict[str, list[float]] = {"full_step": [], "encoder_fwd_bwd": []}
        peaks: dict[str, list[int]] = {"full_step": [], "encoder_fwd_bwd": []}
        profile: list[dict[str, float]] = []
        scoped = True
        try:
            for i in range(self.warmup + self.steps):
                timed = i >= self.warmup
                for name, fn in (
                    ("full_step", lambda: step(profile_inline)),
                    ("encoder_fwd_bwd", encoder_only),
                ):
                    _sync(self.device)
                    scoped = _reset_peak(self.device) and scoped
                    t0 = time.perf_counter()
                    fn()
                    _sync(self.device)
                    if timed:
                        times[name].append(time.perf_counter() - t0)
                        peak = _peak(self.device)
                        if peak is not None:
                            peaks[name].append(peak)
                    if name == "full_step" and profile_inline:
                        row = phases.pop()
                        if timed:
                            profile.append(row)
            if not profile_inline:
                for _ in range(self.steps):
                    step(True)
                    profile.append(phases.pop())
        finally:
            batches.close()

        out = {}
        enc_flops = self.flops["encoder_fwd_bwd_per_segment"] * self.pool.shape[0]
        for name, flops in (
            ("full_step", enc_flops + self.scoring_flops()),
            ("encoder_fwd_bwd", enc_flops),
        ):
            timing = _Timing(
                times[name], max(peaks[name]) if peaks[name] else None, _scope(self.device, scoped)
            )
            t = statistics.median(timing.seconds)
            out[name] = _entry(
                timing, self.b / t, "anchors/s", {"segments/s": self.pool.shape[0] / t}, flops
            )
        phase_names = ("data", "scoring", "encoder_forward", "loss", "backward", "optimizer")
        out["full_step"]["breakdown_s"] = {
            p: statistics.median(row.get(p, 0.0) for row in profile) for p in phase_names
        }
        out["full_step"]["breakdown_source"] = (
            "the timed steps" if profile_inline else f"{self.steps} extra synchronised steps"
        )
        ratio = statistics.median(times["full_step"]) / statistics.median(times["encoder_fwd_bwd"])
        out["step_over_encoder"] = {
            "value": ratio,
            "unit": "x",
            "rates": {},
            "seconds": None,
            "seconds_all": [],
            "peak_memory_bytes": None,
            "peak_memory_scope": None,
            "model_flops_per_iteration": None,
            "achieved_tflops": None,
        }
        return out

    # ---- (e) embedding --------------------------------------------------------------------
    def embedding(self) -> dict[str, Any]:
        e = self.cfg.embed_batch_size
        reps = 8 if self.cuda else 1  # batches per timed iteration (a GPU batch takes ~ms)
        n = min(e * reps, len(self.data.user))
        host = _gather(self.data.x, np.arange(n))
        if self.cuda:
            host = host.pin_memory()
        batches = [host[s : s + e] for s in range(0, n, e)]
        self.encoder.eval()

        def embed() -> None:
            """What ResNet1DEncoder.embed does per batch, under autocast."""
            for xb in batches:
                with torch.no_grad(), self.autocast():
                    z = self.model(xb.to(self.device, non_blocking=True).transpose(1, 2))
                z.float().cpu()

        try:
            timing = _time_loop(embed, self.warmup, self.steps, self.device)
        finally:
            self.encoder.train()
        t = statistics.median(timing.seconds)
        flops = self.flops["encoder_fwd_per_segment"] * n
        return _entry(timing, n / t, "segments/s", {}, flops) | {"windows_per_timed_iteration": n}


def _entry(
    timing: _Timing,
    value: float,
    unit: str,
    rates: dict[str, float],
    flops: float | None = None,
) -> dict[str, Any]:
    t = statistics.median(timing.seconds)
    return {
        "value": value,
        "unit": unit,
        "rates": {unit: value, **rates},
        "seconds": t,
        "seconds_all": timing.seconds,
        "peak_memory_bytes": timing.peak_bytes,
        "peak_memory_scope": timing.peak_scope,
        "model_flops_per_iteration": flops,
        "achieved_tflops": flops / t / 1e12 if flops else None,
    }


def _apply_targets(results: dict[str, Any], device: torch.device, known_gpu: bool) -> None:
    """Target, PASS/MISS (or n/a where the target is for another device) and MFU per row."""
    ms = results["measurements"]
    peak = results["device"]["peak_tflops"]
    step_rate = ms.get("full_step", {}).get("value")
    for name, row in ms.items():
        target = TARGETS.get(name)
        row["target"], row["status"] = None, "n/a"
        row["mfu"] = row["achieved_tflops"] / peak if peak and row.get("achieved_tflops") else None
        if target is None:
            continue
        applies = target["device"] in ("any", device.type)
        if "min" in target:
            row["target"] = {"op": ">=", "value": target["min"], "unit": target["unit"]}
            row["target_text"] = f">= {target['min']:,.0f} {target['unit']} (1 H100/H200)"
        elif "max" in target:
            row["target"] = {"op": "<=", "value": target["max"], "unit": target["unit"]}
            row["target_text"] = f"<= {target['max']}x (2-core CPU)"
        else:  # the loader: twice the step's rate, and twice the step target on a GPU
            floor = 2 * TARGETS["full_step"]["min"] if device.type == "cuda" else 0.0
            if step_rate is None and not floor:
                continue
            need = max(target["min_times_step"] * (step_rate or 0.0), floor)
            row["target"] = {"op": ">=", "value": need, "unit": target["unit"]}
            row["target_text"] = f">= 2x step = {need:,.0f} {target['unit']}"
        if not applies:
            row["target_text"] += " [other device]"
            continue
        op, goal = row["target"]["op"], row["target"]["value"]
        ok = row["value"] >= goal if op == ">=" else row["value"] <= goal
        row["status"] = "PASS" if ok else "MISS"
        if device.type == "cuda" and not known_gpu and target["device"] == "cuda":
            row["target_text"] += " [not an H100/H200]"


def run_bench(cfg: BenchConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-serialisable dict (see :func:`format_table`).

    Args:
        cfg: settings; ``None`` fields take the device's defaults (recorded under
            ``"settings"`` in the result).
        log: called with a line of progress per measurement (e.g. ``print``); silent if None.
    """
    from relcon.io import environment_info
    from relcon.pretrain import scoring_dtype
    from relcon.runs import pick_device

    say = log or (lambda _line: None)
    device = pick_device(cfg.device)
    rcfg, notes = _resolve(cfg, device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        model = gpu_model(name)
        peaks = GPU_PEAK_TFLOPS.get(model or "")
        precision = "bf16" if rcfg.amp else "tf32"
        dev_info = {
            "type": "cuda",
            "name": name,
            "model": model or "unknown",
            "precision": precision,
            "peak_tflops": peaks[precision] if peaks else None,
            "peak_tflops_table": peaks or "unknown",
        }
    else:
        dev_info = {
            "type": device.type,
            "name": _cpu_name() if device.type == "cpu" else str(device),
            "model": "unknown",
            "precision": "fp32" + (" (scoring bf16)" if scoring_dtype(device, rcfg.amp) else ""),
            "peak_tflops": None,
            "peak_tflops_table": "unknown",
        }
    dev_info |= {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    say(f"relcon bench on {dev_info['name']} ({device})")
    started = time.perf_counter()
    bench = _Bench(rcfg, device, say)
    params = sum(p.numel() for p in bench.encoder.parameters())
    results: dict[str, Any] = {
        "format": "relcon-bench/1",
        "device": dev_info,
        "torch": torch.__version__,
        "environment": environment_info(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "settings": to_dict(rcfg),
        "derived": {
            "pool_segments_per_step": bench.b * (1 + bench.k),
            "pairs_scored_per_step": bench.b * (bench.k + bench.m),
            "encoder_parameters": params,
            "distance_parameters": sum(p.numel() for p in bench.distance.parameters()),
            "data": bench.data.description,
            "model_flops": bench.flops,
        },
        "notes": [
            *notes,
            "median over the timed iterations after warm-up; CUDA synchronised around each",
            "peak memory on the CPU: resident-set high-water mark of the main process "
            "(loader workers not counted); on CUDA: max allocated by PyTorch",
            "model FLOPs: FlopCounterMode (conv/matmul) on 2 samples, scaled linearly",
        ],
        "measurements": {},
    }
    ms = results["measurements"]
    for name in MEASUREMENTS:
        if name not in (rcfg.only or MEASUREMENTS):
            continue
        say(f"  {_LABELS[name]} ...")
        t0 = time.perf_counter()
        out = getattr(bench, name)()
        if name == "full_step":
            ms.update(out)
        else:
            ms[name] = out
        say(f"  {_LABELS[name]}: {time.perf_counter() - t0:.1f} s")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    order = [n for n in _LABELS if n in ms]
    results["measurements"] = {n: ms[n] for n in order}
    if "loader" in ms and rcfg.num_workers:
        ms["loader"]["note"] = f"{rcfg.num_workers} workers"
    known = str(dev_info["model"]).startswith(("H100", "H200", "GH200"))
    _apply_targets(results, device, known)
    results["wall_seconds"] = time.perf_counter() - started
    if "load_average" in results and hasattr(os, "getloadavg"):
        results["load_average_end"] = list(os.getloadavg())
    return results


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------
def _si(v: float | None, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _bytes(v: int | None) -> str:
    if v is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024  # type: ignore[assignment]
    return "-"


def format_table(results: dict[str, Any]) -> str:
    """The results of :func:`run_bench` (or their JSON) as a plain-text table."""
    s = results["settings"]
    d = results["device"]
    der = results.get("derived", {})
    lines = [
        f"relcon bench: {d['name']} ({s['device']}, {d.get('model', 'unknown')}), "
        f"torch {results['torch']}, {d.get('torch_threads')} threads",
        f"B={s['batch_size']} anchors, K={s['within_user']} within-user, m={s['between_user']} "
        f"between-user; {der.get('pool_segments_per_step')} segments encoded and "
        f"{der.get('pairs_scored_per_step')} pairs scored per step; encoder {s['encoder']} "
        f"({_si(der.get('encoder_parameters'))} params); precision {d.get('precision')}; "
        f"compile {'on' if s['compile'] else 'off'}; {s['num_workers']} loader workers; "
        f"{s['steps']} timed iterations after {s['warmup']} warm-up",
        f"data: {der.get('data', '?')}",
        "",
    ]
    header = (
        "measurement",
        "value",
        "unit",
        "also",
        "s/iter",
        "peak mem",
        "TFLOP/s",
        "MFU",
        "target",
        "status",
    )
    rows = [header]
    for name, r in results["measurements"].items():
        also = ", ".join(f"{_si(v)} {u}" for u, v in r.get("rates", {}).items() if u != r["unit"])
        rows.append(
            (
                _LABELS.get(name, name),
                _si(r["value"]),
                r["unit"],
                also or "-",
                _si(r.get("seconds"), 3),
                _bytes(r.get("peak_memory_bytes")),
                _si(r.get("achieved_tflops"), 3),
                f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-",
                r.get("target_text", "-"),
                r.get("status", "n/a"),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                str(c).ljust(w) if j in (0, 2, 3, 8) else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    step = results["measurements"].get("full_step")
    if step and step.get("breakdown_s"):
        bd = step["breakdown_s"]
        total = sum(bd.values()) or 1.0
        parts = " | ".join(f"{k} {v:.3g} s ({100 * v / total:.0f}%)" for k, v in bd.items())
        lines += ["", f"full step, median per phase ({step.get('breakdown_source')}): {parts}"]
    lines += [""] + [f"note: {n}" for n in results.get("notes", [])]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# command line (wired into `relcon bench`; also `python -m relcon.bench`)
# --------------------------------------------------------------------------------------------
def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The ``relcon bench`` flags."""
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, help="anchors per step (default: 256 CUDA, 64 CPU)")
    p.add_argument("--within-user", type=int, default=20, help="K (default 20)")
    p.add_argument("--between-user", type=int, default=63, help="m (default 63, <= B - 1)")
    p.add_argument("--steps", type=int, help="timed iterations (default: 10 CUDA, 3 CPU)")
    p.add_argument("--warmup", type=int, help="untimed iterations first (default: 3 CUDA, 1 CPU)")
    p.add_argument(
        "--compile",
        action="store_true",
        help="compiled sparsemax; torch.compile the encoder on CUDA",
    )
    p.add_argument(
        "--no-amp", action="store_true", help="no bf16 (CUDA: TF32 only; CPU: fp32 scoring)"
    )
    p.add_argument("--num-workers", type=int, help="loader workers (default: 8 CUDA, 0 CPU)")
    p.add_argument("--corpus", help="prepared corpus folder (default: synthetic data in memory)")
    p.add_argument("--encoder", choices=["full", "small"], default="full")
    p.add_argument("--distance", default="", help="trained distance (default: random weights)")
    p.add_argument(
        "--distance-batch-size", type=int, help="windows per distance step (1024 CUDA, 64 CPU)"
    )
    p.add_argument("--embed-batch-size", type=int, default=512)
    p.add_argument("--only", nargs="+", choices=list(MEASUREMENTS), help="only these measurements")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def bench_config_from_args(args: argparse.Namespace) -> BenchConfig:
    """:class:`BenchConfig` from the flags of :func:`add_bench_arguments`."""
    return BenchConfig(
        device=args.device or "auto",
        batch_size=args.batch_size,
        within_user=args.within_user,
        between_user=args.between_user,
        steps=args.steps,
        warmup=args.warmup,
        compile=args.compile,
        amp=not args.no_amp,
        num_workers=args.num_workers,
        corpus=args.corpus,
        encoder=args.encoder,
        distance=args.distance or "",
        distance_batch_size=args.distance_batch_size,
        embed_batch_size=args.embed_batch_size,
        only=args.only,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m relcon.bench [flags]``: the same as ``relcon bench``."""
    from relcon.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
