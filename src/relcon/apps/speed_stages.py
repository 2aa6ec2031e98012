"""The measurements of ``relcon bench`` (:mod:`relcon.apps.speed`): data, timing and memory helpers,
and one timed loop per stage."""

from __future__ import annotations

import contextlib
import copy
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from relcon.config import EncoderConfig, MotifDistanceConfig, PretrainConfig
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import SEGMENT_LENGTH, Segments
from relcon.models.distance import MotifDistance
from relcon.models.encoder import PRECISIONS

__all__ = ["BenchConfig", "synthetic_segments"]


@dataclass
class BenchConfig:
    """Settings of ``relcon bench``. ``None`` means "the device's default" (resolved per run)."""

    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    batch_size: int | None = None  # anchors per step (None: 256 on CUDA, 64 on the CPU)
    within_user: int = 20  # K: within-user candidates per anchor
    between_user: int = 63  # m: between-user candidates per anchor (at most batch_size - 1)
    steps: int | None = None  # timed iterations per measurement (None: 10 on CUDA, 3 on CPU)
    warmup: int | None = None  # untimed iterations first (None: 3 on CUDA, 1 on the CPU)
    compile: bool = True  # compiled sparsemax and candidate scoring, as in training (the default)
    compile_encoder: bool = False  # torch.compile the encoder too, as the training setting
    #: fp32 | bf16 | auto, of every stage, as in training: bf16 autocast where the device runs
    #: bf16 natively (CUDA, where TF32 is on either way; CPUs with AVX512-BF16/AMX), else fp32.
    #: The embedding stages use it too (relcon embed's own default is fp32)
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    num_workers: int | None = None  # loader workers (None: min(8, cores - 1) on CUDA, 0 on CPU)
    corpus: str | None = None  # prepared corpus folder for (a), (b), (d), (e); None: synthetic
    encoder: str = "full"  # "full" (paper, ~3.6M parameters) or "small"
    encoder_config: EncoderConfig | None = None  # explicit architecture (overrides `encoder`)
    distance: str = ""  # trained distance (run folder / checkpoint); "": random initialisation
    distance_config: MotifDistanceConfig = field(default_factory=MotifDistanceConfig)
    distance_batch_size: int | None = None  # windows per distance step (None: 1024 CUDA, 64 CPU)
    embed_batch_size: int = 512  # windows per embedding forward pass
    #: "embed end to end" (a recording file on disk -> Parquet, as ``relcon embed``; run it with
    #: ``only``): the encoder (a registry name, run folder or checkpoint), the recording (None:
    #: a synthetic ``embed_hours``-long 100 Hz CSV.gz, written once under ~/.cache/relcon)
    embed_model: str = "default"
    embed_recording: str | None = None
    embed_hours: float = 24.0
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


class _Bench:
    """State shared by the measurements of one run."""

    def __init__(self, cfg: BenchConfig, device: torch.device, log: Callable[[str], None]):
        from relcon.models.distance import set_sparsemax_backend
        from relcon.models.encoder import ResNet1DEncoder
        from relcon.models.hub import load_model
        from relcon.train.common import scoring_dtype, speed_settings
        from relcon.train.steps import CandidatePool

        self.cfg, self.device, self.log = cfg, device, log
        self.cuda = device.type == "cuda"
        self.b, self.k, self.m = int(cfg.batch_size or 0), cfg.within_user, cfg.between_user
        self.warmup, self.steps = int(cfg.warmup or 0), int(cfg.steps or 1)
        self.workers = int(cfg.num_workers or 0)
        torch.manual_seed(cfg.seed)
        set_sparsemax_backend("compiled" if cfg.compile else "eager")
        self.autocast = speed_settings(device, cfg.precision)  # as in the training loops
        self.score_dtype = scoring_dtype(device, cfg.precision)  # CPU: bf16 scoring where native

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
        self.layout = CandidatePool(self.b, self.k, self.m, device)

        batch = self.sampler.batch(0, 0)
        self.pool = self.layout.assemble(  # (B + B*K, T, 3): one real batch, for (c) and (f)
            _gather(self.data.x, batch.anchors),
            _gather(self.data.x, batch.within.reshape(-1)),
            device,
        )

        self.encoder = ResNet1DEncoder(cfg.encoder_config).to(device)
        self.model: Callable[[torch.Tensor], torch.Tensor] = self.encoder
        if cfg.compile_encoder:
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
                enc.train()(x).square().mean().backward()

            def fwd() -> None:
                with torch.no_grad():
                    enc.eval()(x)

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
        from relcon.config import DistanceTrainConfig
        from relcon.data.loader import shuffled_batches
        from relcon.train.common import StepContext, speed_settings
        from relcon.train.steps import distance_step

        defaults = DistanceTrainConfig()
        bd = int(self.cfg.distance_batch_size or 1)
        model = MotifDistance.from_config(self.distance.config).to(self.device).train()
        opt = torch.optim.AdamW(
            model.parameters(), lr=defaults.lr, weight_decay=defaults.weight_decay
        )
        ctx = StepContext(  # what train_distance builds (one process, accumulate = 1)
            model, list(model.parameters()), opt, defaults.grad_clip,
            autocast=speed_settings(self.device, self.cfg.precision), device=self.device,
        )  # fmt: skip
        batches = shuffled_batches(
            self.data.x, bd, self.cfg.seed, num_workers=self.workers, pin_memory=self.cuda
        )

        def step() -> None:  # the step of relcon.train.distance, and .item() as it logs
            distance_step(
                ctx, batches, seed=self.cfg.seed, n_augment=self.cfg.n_augment
            ).loss.item()

        try:
            timing = _time_loop(step, self.warmup, self.steps, self.device)
        finally:
            batches.close()
        t = statistics.median(timing.seconds)
        return _entry(timing, bd / t, "segments/s", {}, self.flops["distance_train_per_pair"] * bd)

    # ---- (c) scoring ----------------------------------------------------------------------
    def scoring(self) -> dict[str, Any]:
        from relcon.train.steps import score_candidates

        def score() -> None:  # as inside the step: under its autocast, then score_candidates
            with self.autocast():
                score_candidates(
                    self.distance, self.pool, self.layout.index, None, self.score_dtype
                )

        self.distance.scoring_counts.update(pairs=0, pairs_redone=0)
        timing = _time_loop(score, self.warmup, self.steps, self.device)
        t = statistics.median(timing.seconds)
        pairs = self.b * (self.k + self.m)
        entry = _entry(
            timing, self.b / t, "anchors/s", {"pairs/s": pairs / t}, self.scoring_flops()
        )
        entry["scoring_counts"] = dict(self.distance.scoring_counts)  # warm-up included
        return entry

    # ---- (d) full step and (f) encoder alone ----------------------------------------------
    def full_step(self) -> dict[str, dict[str, Any]]:
        from relcon.data.loader import candidate_batches
        from relcon.train.common import StepContext
        from relcon.train.steps import no_marks, relcon_step

        pc = PretrainConfig()
        opt = torch.optim.AdamW(self.encoder.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
        ctx = StepContext(  # what pretrain builds (one process, accumulate = 1)
            self.model, list(self.encoder.parameters()), opt, pc.grad_clip,
            autocast=self.autocast, device=self.device,
        )  # fmt: skip
        batches = candidate_batches(
            self.data.x, self.sampler, num_workers=self.workers, pin_memory=self.cuda
        )
        phases = _Phases(self.device)
        self.encoder.train()

        def step(timed: bool) -> None:
            """The step of relcon.train.relcon.pretrain, and .item() as it logs."""
            phases.start()
            relcon_step(
                ctx, batches, self.layout, self.distance, tau=self.cfg.tau,
                score_dtype=self.score_dtype, marks=phases.mark if timed else no_marks,
            ).loss.item()  # fmt: skip

        def encoder_only() -> None:
            self.encoder.zero_grad(set_to_none=True)
            with self.autocast():
                z = self.model(self.pool).float()
            z.square().mean().backward()

        # On the CPU the phase marks cost nothing, so the timed steps are also the profile; on
        # CUDA their synchronisations would hide overlap, so the profile is taken separately.
        profile_inline = not self.cuda
        self.distance.scoring_counts.update(pairs=0, pairs_redone=0)
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
        out["full_step"]["scoring_counts"] = dict(self.distance.scoring_counts)  # warm-up included
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
    def _embed_precision(self) -> str:
        """Precision of (e) and (g): ``precision`` resolved on the device ("fp32" or "bf16")."""
        from relcon.models.encoder import resolve_precision

        return resolve_precision(self.cfg.precision, self.device)

    def embedding(self) -> dict[str, Any]:
        e = self.cfg.embed_batch_size
        reps = 8 if self.cuda else 1  # batches per timed iteration (a GPU batch takes ~ms)
        n = min(e * reps, len(self.data.user))
        host = _gather(self.data.x, np.arange(n)).numpy()
        precision = self._embed_precision()

        def embed() -> None:  # what users run: ResNet1DEncoder.embed (eval mode, no grad)
            self.encoder.embed(host, batch_size=e, device=self.device, precision=precision)

        timing = _time_loop(embed, self.warmup, self.steps, self.device)
        t = statistics.median(timing.seconds)
        flops = self.flops["encoder_fwd_per_segment"] * n
        return _entry(timing, n / t, "segments/s", {}, flops) | {
            "windows_per_timed_iteration": n,
            "precision": precision,
        }

    # ---- (g) embed end to end -------------------------------------------------------------
    def embed_end_to_end(self) -> dict[str, Any]:
        from relcon.apps.speed_embed import embed_end_to_end

        r = embed_end_to_end(
            self.cfg.embed_recording, hours=self.cfg.embed_hours, model=self.cfg.embed_model,
            batch_size=self.cfg.embed_batch_size, device=str(self.device),
            precision=self._embed_precision(), log=self.log,
        )  # fmt: skip
        r["rates"] = {
            "windows/s": r["rates"]["windows/s"],
            "model-only windows/s": r["rates"]["model_only"],
            "x model only": r["rates"]["ratio"],
            "h of data/min": r["rates"]["hours_per_minute"],
        }
        return r


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
