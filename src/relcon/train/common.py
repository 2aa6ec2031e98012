"""What every training run shares: run folder (and its lock), device, seeds, schedule, logs, speed
settings, resuming and multi-process set-up.

:func:`open_run` does the set-up of every training loop (:mod:`.distance`, :mod:`.relcon`,
:mod:`.baselines`) once: join ``torchrun``'s process group and pick the device, lock the run
folder (:func:`lock_run_dir`), create it and save the configuration, seed, choose the precision
(:func:`speed_settings`, :func:`scoring_dtype`); the :class:`Run` it yields restores a checkpoint
(``--resume``), wraps the model for data parallelism and compilation
(:meth:`Run.step_context`) and logs; on leaving it the logs are closed, the lock released and
the process group left.

Multi-process training with ``torchrun``: launch any training command under ``torchrun`` and it
runs data-parallel (``DistributedDataParallel``): NCCL between GPUs, gloo on CPUs. Each process
trains on a disjoint share of every epoch's batches; gradients are averaged; rank 0 alone writes
logs and checkpoints. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment)
:func:`setup_distributed`, :func:`barrier` and :func:`cleanup_distributed` are no-ops.

::

    torchrun --nproc_per_node 4 -m relcon pretrain --distance runs/d --out runs/relcon
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
             --rdzv_endpoint HOST:29500 -m relcon pretrain ...
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from relcon.io import LOCK_FILE, OutputInUse, OutputLock, clear_outputs, lock_folder
from relcon.models.encoder import cpu_has_bf16, pick_device, resolve_precision

__all__ = [
    "LOCK_FILE",
    "RUN_FILES",
    "DistInfo",
    "Run",
    "RunFolderLocked",
    "RunLock",
    "RunLogger",
    "StepContext",
    "barrier",
    "cleanup_distributed",
    "cosine_lr",
    "cpu_has_bf16",
    "data_record",
    "init_architecture",
    "lock_run_dir",
    "open_run",
    "pick_device",
    "prepare_run_dir",
    "scoring_autocast",
    "scoring_dtype",
    "seed_everything",
    "set_lr",
    "setup_distributed",
    "speed_settings",
    "start_from_init",
]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for explicit draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG, for third-party code)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cosine_lr(
    step: int, total: int, base: float, warmup: int, final_fraction: float = 0.0
) -> float:
    """Linear warmup for ``warmup`` steps, then cosine decay to ``final_fraction * base``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Set the learning rate of every parameter group; returns ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


#: What a training run writes in its folder (:func:`prepare_run_dir` deletes these, and only
#: these, on ``overwrite``): configuration, logs, checkpoints, final model, diagnostics.
RUN_FILES = frozenset({
    "config.toml", "metrics.csv", "tb", "checkpoints", "model.safetensors", "model.json",
    "diagnostics.json",
})  # fmt: skip


def prepare_run_dir(out: str | Path, resume: bool, overwrite: bool = False) -> Path:
    """Create the run folder; refuse to mix a new run into an old one.

    ``resume=True`` continues what is there; ``overwrite=True`` deletes what an earlier run
    wrote there first (:data:`RUN_FILES`; never the lock file, :data:`LOCK_FILE`, which the
    caller holds) and refuses, deleting nothing, when the folder holds anything else (a
    recording, notes: :func:`relcon.io.clear_outputs`); otherwise a folder that already holds a
    run is an error (nothing is silently overwritten).
    """
    out = Path(out)
    has_run = (out / "checkpoints").exists() or (out / "model.safetensors").exists()
    if has_run and not resume:
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds a run; pass --resume to continue it or --overwrite to "
                "start again from scratch"
            )
        clear_outputs(out, RUN_FILES, what="a training run")
    out.mkdir(parents=True, exist_ok=True)
    return out


# --------------------------------------------------------------------------------------------
# the run-folder lock (the primitive is relcon.io's, shared with every other output)
# --------------------------------------------------------------------------------------------
#: Another process holds the lock of a run folder (:class:`relcon.io.OutputInUse`).
RunFolderLocked = OutputInUse
#: The lock of a run folder (:class:`relcon.io.OutputLock`).
RunLock = OutputLock


def lock_run_dir(out: str | Path) -> RunLock:
    """Create ``out`` and take an exclusive lock on it, or refuse if another process holds it.

    Every command that writes a run folder takes this lock first (through :func:`open_run`), so
    two processes started with the same ``--out`` (a double click, a retrying scheduler) cannot
    both write into it: the second raises :class:`RunFolderLocked` naming the folder and the
    holder's process id. The lock is an ``fcntl.flock`` on ``out/.relcon.lock`` (which holds the
    holder's pid and host), released when the process ends, however it ends
    (:func:`relcon.io.lock_folder`); :func:`open_run` releases it and removes the file when the
    run ends, so a finished run leaves no ``.relcon.lock`` behind (a run killed with ``-9``
    leaves the file, whose lock the kernel already dropped: it blocks nothing).
    """
    return lock_folder(out)


class RunLogger:
    """Append scalars to ``metrics.csv`` and TensorBoard (``tb/``) in the run folder.

    On resume, rows after the resumed step are dropped from the CSV first, so the file never holds
    two rows for one step.
    """

    def __init__(self, run_dir: str | Path, resume_step: int | None = None, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.csv"
        self._fields: list[str] | None = None
        self._tb = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self._fields = list(rows[0].keys())
                from relcon.io import atomic_path

                with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=self._fields)
                    w.writeheader()
                    w.writerows(rows)
            else:
                self.path.unlink()
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step)
        except ImportError:  # tensorboard is a dependency, but stay usable without it
            self._tb = None

    def log(self, step: int, **scalars: Any) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}}
        new_file = not self.path.exists()
        if self._fields is None:
            self._fields = list(row)
        missing = [k for k in row if k not in self._fields]
        if missing:
            raise ValueError(f"{self.path}: new metric columns {missing} after the first row")
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields)
            if new_file:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, float(v), step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()


# --------------------------------------------------------------------------------------------
# precision
# --------------------------------------------------------------------------------------------
def speed_settings(device: torch.device, precision: str = "auto"):
    """TF32 on for CUDA matmuls, cuDNN autotuning on (the shapes of a run do not change);
    returns the autocast context factory of the training forwards.

    bf16 autocast when ``precision`` resolves to bf16 on ``device``
    (:func:`relcon.models.encoder.resolve_precision`: "auto" is bf16 on CUDA and on CPUs with
    native bf16): the forward and, through autograd, the backward of every network; weights,
    optimizer and loss stay float32. Otherwise none (float32).
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if resolve_precision(precision, device) == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def scoring_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Precision of the no-grad candidate scoring on the CPU: bf16 when ``precision`` resolves
    to bf16 there (about 1.5x faster on a CPU with native bf16; the distances change by ~0.1 %,
    the candidate ranking hardly at all), else None (fp32). On CUDA scoring runs under the
    step's autocast."""
    bf16 = device.type == "cpu" and resolve_precision(precision, device) == "bf16"
    return torch.bfloat16 if bf16 else None


def scoring_autocast(score_dtype: torch.dtype | None, device: torch.device):
    """The context that candidate scoring runs in: CPU autocast to ``score_dtype`` if given."""
    if score_dtype is not None and device.type == "cpu":
        return torch.autocast("cpu", dtype=score_dtype)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------
# multi-process training (torchrun)
# --------------------------------------------------------------------------------------------
@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group started by ``torchrun`` (if any) and pick this process's device.

    ``device="auto"`` means ``cuda:<LOCAL_RANK>`` when CUDA is available, else the CPU; the
    backend follows the device (NCCL for CUDA, gloo for the CPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=pick_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# one run: the set-up every training loop shares
# --------------------------------------------------------------------------------------------
@dataclass
class StepContext:
    """What a step function of :mod:`relcon.train.steps` needs besides its data.

    ``model`` is what the forward passes go through: the module itself, its
    ``DistributedDataParallel`` wrapper (``ddp``) under ``torchrun``, and/or its
    ``torch.compile``'d form; ``params`` are clipped and stepped by ``optimizer``.
    """

    model: Callable[..., Any]
    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    grad_clip: float
    accumulate: int = 1
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    ddp: nn.parallel.DistributedDataParallel | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        if self.accumulate < 1:
            raise ValueError(f"accumulate must be >= 1, got {self.accumulate}")

    def sync(self, last: bool) -> contextlib.AbstractContextManager:
        """Gradients are averaged across processes on the last micro-batch of a step only."""
        if last or self.ddp is None:
            return contextlib.nullcontext()
        return self.ddp.no_sync()


@dataclass
class Run:
    """A training run's folder, processes, device and precision (made by :func:`open_run`)."""

    dir: Path
    dist: DistInfo
    resume: bool
    autocast: Callable[[], contextlib.AbstractContextManager]
    score_dtype: torch.dtype | None
    logger: RunLogger | None = None

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def main(self) -> bool:
        return self.dist.is_main

    def restore(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        kind: str,
        *,
        modules: dict[str, nn.Module] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> tuple[int, int, int]:
        """With ``--resume``, load the newest checkpoint; returns ``(step, epoch, batch_in_epoch)``.

        ``(0, 0, 0)`` for a new run (or a resumed one without a checkpoint yet). ``modules`` are
        further modules whose state dicts the trainer state holds under their names (a
        baseline's head); ``expect``: entries the trainer state must hold (e.g. its method).
        Opens the run's :class:`RunLogger` (rows after the resumed step dropped).
        """
        from relcon.models.hub import latest_checkpoint
        from relcon.train.checkpoint import load_trainer_state, restore_run

        restored = None
        if self.resume:
            ckpt = latest_checkpoint(self.dir)
            if ckpt is not None and (modules or expect):
                state = load_trainer_state(ckpt)
                for key, want in (expect or {}).items():
                    if state.get(key) != want:
                        raise ValueError(
                            f"{self.dir} holds a {key} {state.get(key)!r} run, cannot resume it "
                            f"as {want!r}"
                        )
                for key, module in (modules or {}).items():
                    module.load_state_dict(state[key])
            restored = restore_run(self.dir, model, optimizer, kind)
        self.logger = RunLogger(
            self.dir, resume_step=restored[0] if restored else None, enabled=self.main
        )
        return restored or (0, 0, 0)

    def step_context(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        grad_clip: float,
        accumulate: int = 1,
        compile: bool = False,
        params: Iterable[torch.Tensor] | None = None,
    ) -> StepContext:
        """``module`` ready for the step functions: data parallel under ``torchrun`` (every process
        starts from rank 0's weights; gradients averaged), ``torch.compile``'d if ``compile``."""
        model: Any = module
        ddp = None
        if self.dist.enabled:
            model = ddp = nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device] if self.device.type == "cuda" else None
            )
        if compile:
            model = torch.compile(model)
        return StepContext(
            model=model,
            params=list(module.parameters() if params is None else params),
            optimizer=optimizer,
            grad_clip=grad_clip,
            accumulate=accumulate,
            autocast=self.autocast,
            ddp=ddp,
            device=self.device,
        )

    def log(self, step: int, **scalars: Any) -> None:
        if self.logger is not None:
            self.logger.log(step, **scalars)


class Throughput:
    """Items per second between two logging steps (e.g. anchors/s)."""

    def __init__(self, step: int) -> None:
        self.t, self.step = time.perf_counter(), step

    def rate(self, step: int, items_per_step: float) -> float:
        now = time.perf_counter()
        out = (step - self.step) * items_per_step / max(now - self.t, 1e-9)
        self.t, self.step = now, step
        return out


# --------------------------------------------------------------------------------------------
# continued pretraining: a run that starts from a saved model's weights (the setting ``init``)
# --------------------------------------------------------------------------------------------
def init_architecture(cfg: Any, arch: str, kind: str, out: str | Path) -> Any:
    """``cfg`` with the architecture of the ``kind`` model that ``cfg.init`` names, in its field
    ``arch`` (``"encoder"`` of :class:`~relcon.config.PretrainConfig`, ``"architecture"`` of
    :class:`~relcon.config.DistanceTrainConfig`); called before the run folder is made.

    No ``init``: ``cfg`` as it is (random weights). Otherwise the saved model's architecture (read
    from its ``model.json``) is the run's: one left at its default is replaced by it, and one set
    to anything else must be it, else a ValueError names both (nothing is written). A model inside
    the run folder ``out`` is refused (``--overwrite`` would delete it before it is read).
    """
    if not cfg.init:
        return cfg
    from relcon.config import from_dict, spell
    from relcon.models.hub import locate, read_description

    weights = locate(cfg.init, kind)[0].resolve()
    if Path(out).resolve() in weights.parents:
        raise ValueError(
            f"{spell('init', cfg.init)} is inside the run folder {out}; start from a model "
            "elsewhere (or continue that run with --resume)"
        )
    meta = read_description(cfg.init, kind)
    ours = getattr(cfg, arch)
    saved = from_dict(type(ours), meta.get("architecture") or {}, where=f"{cfg.init} model.json")
    if ours == saved:
        return cfg
    if ours != type(ours)():
        fields = [f.name for f in dataclasses.fields(saved)]
        differ = [n for n in fields if getattr(saved, n) != getattr(ours, n)]
        both = "; ".join(f"{n} {getattr(saved, n)} there, {getattr(ours, n)} here" for n in differ)
        raise ValueError(
            f"{spell('init', cfg.init)}: the saved {kind}'s architecture differs from this run's "
            f"({both}); leave the {arch} settings at their defaults to take the saved model's, "
            f"or leave {spell('init')} unset to start from random weights"
        )
    return dataclasses.replace(cfg, **{arch: saved})


def start_from_init(run: Run, model: nn.Module, kind: str, init: str, step: int) -> dict:
    """The weights a run starts from: at step 0, those of the ``kind`` model ``init`` names
    (loaded by the one loader, :func:`relcon.models.hub.load_model`, its checksum checked) are
    copied into ``model``. Returns the ``model.json`` record of it, ``{"init": {"model", "weights",
    "step", "safetensors_sha256"}}`` (``{}`` without ``init``). A resumed run (``step`` > 0) has
    its weights from its checkpoint: ``init``'s weights are not read again (they may have changed
    since), and the record is the checkpoint's."""
    if not init:
        return {}
    from relcon.io import read_json_object
    from relcon.models.hub import CHECKSUM, DESCRIPTION, latest_checkpoint, load_model, locate

    if step > 0:
        ckpt = latest_checkpoint(run.dir)
        meta = read_json_object(ckpt / DESCRIPTION, "a model description") if ckpt else {}
        if isinstance(meta.get("init"), dict):
            return {"init": meta["init"]}
    weights, _ = locate(init, kind)
    loaded, meta = load_model(weights, kind=kind)  # exactly that file, its checksum checked
    if step == 0:
        model.load_state_dict(loaded.state_dict())
    return {
        "init": {
            "model": init,
            "weights": str(weights.resolve()),
            "step": meta.get("step"),
            CHECKSUM: meta[CHECKSUM],
        }
    }


def data_record(source: str, segs: Any, users: list[str]) -> dict:
    """What a run saw, for ``model.json``: ``{"data": {"source", "windows", "users"}}``."""
    return {"data": {"source": source, "windows": len(segs), "users": len(users)}}


@contextlib.contextmanager
def open_run(
    cfg: Any, out: str | Path, *, resume: bool = False, overwrite: bool = False
) -> Iterator[Run]:
    """Set up a training run from its config (``device``, ``seed``, ``compile``, ``precision``).

    In order: join ``torchrun``'s process group (if any) and pick the device; on rank 0 lock the
    run folder (:func:`lock_run_dir`: a second process writing the same folder is refused),
    create it (:func:`prepare_run_dir`) and save ``config.toml``; seed everything; choose the
    sparsemax backend (compiled if ``cfg.compile``) and the precision (:func:`speed_settings`,
    :func:`scoring_dtype`). On a normal exit the processes wait for each other
    and leave the group; the lock is released and the logs closed however the block ends.
    """
    from relcon.config import save_run_config
    from relcon.models.distance import set_sparsemax_backend

    info = setup_distributed(cfg.device)
    lock: RunLock | None = None
    run: Run | None = None
    try:
        if info.is_main:
            lock = lock_run_dir(out)
            prepare_run_dir(out, resume=resume, overwrite=overwrite)
            save_run_config(cfg, out, resume)
        barrier(info)
        seed_everything(cfg.seed)
        set_sparsemax_backend("compiled" if cfg.compile else "eager")
        run = Run(
            dir=Path(out),
            dist=info,
            resume=resume,
            autocast=speed_settings(info.device, cfg.precision),
            score_dtype=scoring_dtype(info.device, cfg.precision),
        )
        yield run
        barrier(info)
        cleanup_distributed(info)
    finally:
        if run is not None and run.logger is not None:
            run.logger.close()
        if lock is not None:
            lock.release()  # removes the lock file under the flock: safe (see relcon.io)
