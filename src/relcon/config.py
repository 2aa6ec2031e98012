"""Typed configuration for every command, as dataclasses that round-trip to TOML, YAML or JSON.

Every hyperparameter of a run lives in one of these dataclasses. ``relcon <command> --config
FILE`` reads a file with the same nested layout (unknown keys are an error, so a typo never goes
unnoticed), command-line flags override it, and the resolved configuration is written beside
every checkpoint and result.

Example TOML for ``relcon pretrain``::

    steps = 2000
    batch_size = 32
    distance = "runs/distance"

    [data]
    source = "wisdm_watch"
    block_seconds = 3600

    [encoder]
    stage_blocks = [3, 4, 6]
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from relcon.models.distance import MotifDistanceConfig
from relcon.models.encoder import EncoderConfig

__all__ = [
    "DataConfig",
    "DemoConfig",
    "DistanceTrainConfig",
    "EncoderConfig",
    "EvalConfig",
    "FinetuneConfig",
    "MotifDistanceConfig",
    "PretrainConfig",
    "from_dict",
    "load_config",
    "save_config",
    "to_dict",
]

T = TypeVar("T")


@dataclass
class DataConfig:
    """Which windows to train on.

    ``source`` is ``"demo"`` (the bundled WISDM subset), the name of a built-in reader
    (``"wisdm_watch"``, ``"spsw_smartwatch"``, ``"hapt"``), or the path to a ``.npz`` file of
    windows written by :meth:`relcon.data.windowing.Segments.save_npz`.
    """

    source: str = "demo"
    root: str | None = None  # folder of a built-in data set (default: $RELCON_DATA/<source>)
    users: list[str] | None = None  # keep only these users (None: all)
    exclude_users: list[str] = field(default_factory=list)
    exclude_held_out: bool = (
        False  # leave out relcon.data.datasets.heldout.HELD_OUT_SUBJECTS (test users)
    )
    stride_s: float = 2.56  # window stride in seconds (2.56 = no overlap)
    block_seconds: float = 3600.0  # within-user candidates come from the same block of time


@dataclass
class DistanceTrainConfig:
    """``relcon train-distance``: fit the motif distance by rebuilding windows from augmented copies."""

    data: DataConfig = field(default_factory=DataConfig)
    model: MotifDistanceConfig = field(default_factory=MotifDistanceConfig)
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    n_augment: int = 2  # augmentations per window, drawn from the eight
    compile: bool = False  # fuse sparsemax with torch.compile (~15x faster on CPU; compiles first)
    amp: bool = True  # bf16 autocast on CUDA (fp32 master weights); no effect on the CPU
    accumulate: int = 1  # batches whose gradients are summed per optimizer step
    num_workers: int = 0  # background processes gathering batches (use 4-8 with a GPU)
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    max_seconds: float | None = None  # stop (and save) once training has run this long
    log_every: int = 10
    ckpt_every: int = 200
    keep_checkpoints: int = 2
    diagnose_task: str = ""  # labelled task .npz: run `relcon diagnose distance` on it at the end


@dataclass
class PretrainConfig:
    """``relcon pretrain``: train the encoder with the relative contrastive loss."""

    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    distance: str = ""  # run folder or checkpoint of a trained motif distance
    steps: int = 1000
    batch_size: int = 64  # anchors per step
    within_user: int = 20  # candidates per anchor from the same user and time block
    between_user: int | None = None  # other anchors used as candidates (None: all B - 1)
    tau: float = 0.1
    #: how candidates are ranked: "distance" (the frozen motif distance, RelCon) or "oracle"
    #: (a diagnostic upper bound: candidates sharing the anchor's label first, in motif-distance
    #: order within each group; needs labelled windows, never for a model meant for use)
    teacher: str = "distance"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    distance_chunk_pairs: int | None = None  # pairs scored at once (None: 64 on CPU, 2048 on GPU)
    n_augment: int = 2  # baselines (SimCLR): augmentations per view
    projection_dim: int = 128  # baselines (SimCLR): projection head output size
    compile: bool = False  # fuse the distance's sparsemax with torch.compile
    compile_encoder: bool = False  # torch.compile the encoder too (GPUs; slow to compile on CPUs)
    amp: bool = True  # bf16 autocast on CUDA (fp32 master weights); CPU: bf16 scoring if native
    accumulate: int = 1  # batches whose gradients are summed per optimizer step
    num_workers: int = 0  # background processes gathering batches (use 4-8 with a GPU)
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    ckpt_every: int = 200
    keep_checkpoints: int = 2
    max_seconds: float | None = None  # stop (and save) once training has run this long
    #: with ``amp`` on a CPU with native bf16 (AVX512-BF16/AMX): the encoder's forward and
    #: backward under bf16 autocast too, not only the candidate scoring (false: fp32 encoder)
    cpu_bf16: bool = True


@dataclass
class FinetuneConfig:
    """Supervised training of an encoder + head (:func:`relcon.eval.finetune.finetune`)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3  # the head's learning rate (and the encoder's when training from scratch)
    encoder_lr: float | None = None  # None: lr / 10 for a pretrained encoder, lr from scratch
    weight_decay: float = 1e-4
    patience: int = 10  # epochs without a lower validation loss before stopping
    val_fraction: float = 0.2  # of the training subjects, held out for early stopping
    freeze_encoder: bool = False
    head_hidden: int = 0  # 0: linear head; > 0: one hidden layer of this width (ReLU)
    augment: bool = False  # one of FINETUNE_AUGMENTATIONS per training window
    class_weighted: bool = False  # classification: weight classes by inverse frequency
    seed: int = 0
    device: str = "auto"
    max_train_windows: int | None = None  # random subset of the training windows (None: all)


@dataclass
class EvalConfig:
    """``relcon evaluate``: one method and protocol on one task, split by subject."""

    task: str = ""  # task .npz file; if empty, the labelled windows of `data` are the task
    data: DataConfig = field(default_factory=DataConfig)
    labels: list[str] | None = None  # with `data`: keep only windows of these classes
    checkpoint: str = ""  # encoder run (RelCon or a baseline) for method "encoder"
    method: str = "auto"  # encoder | random | handcrafted | minirocket | supervised
    protocol: str = "auto"  # linear | mlp | rf | ridge_classifier | finetune
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # for random / supervised
    folds: int = 5  # subject-wise folds (when the task has no fixed split)
    fold_seeds: int = 1  # repeat subject-wise k-fold with fold seeds seed, seed + 1, ...
    # which subjects are evaluated (saved with the results, so two methods can be matched):
    subjects: list[str] | None = None  # keep only these subjects (None: all of the task's)
    exclude_users_of: list[str] = field(default_factory=list)  # leave out these encoder runs'
    #   pretraining users (their model.json train_users; "default" = the shipped model)
    use_fixed_split: bool = True  # use the task's train/test split when it has one
    use_task_folds: bool = True  # use the task's predefined folds (e.g. leave-one-subject-out)
    few_shot: list[int] = field(default_factory=list)  # labelled windows per class; 0 = all
    few_shot_seeds: int = 3
    max_train_windows: int | None = None  # frozen features: random subset per split (None: all)
    val_fraction: float = 0.25  # of the training subjects, to choose hyperparameters
    seed: int = 0
    device: str = "auto"
    batch_size: int = 512
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # protocol "finetune"


@dataclass
class DemoConfig:
    """``relcon demo``: distance, RelCon pretraining and a linear probe on the bundled data."""

    distance: DistanceTrainConfig = field(default_factory=DistanceTrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    pretrain_users: int = 26  # the rest are split into probe folds (train on some, test on one)
    folds: int = 5
    eval_every: int = 1  # probe on every k-th held-out window (k > 1 only to save time)
    seed: int = 0


# --------------------------------------------------------------------------------------------
# (de)serialisation
# --------------------------------------------------------------------------------------------
def to_dict(obj: Any) -> Any:
    """Nested dataclass -> plain dict/list/scalars (``None`` values kept)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError(f"{where}: {value!r} does not fit {tp} ({'; '.join(errors)})")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a table/mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise TypeError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls: type[T], data: dict, where: str = "config", base: T | None = None) -> T:
    """Build dataclass ``cls`` from a (nested) dict, checking names and types.

    With ``base``, keys missing from ``data`` keep ``base``'s values (recursively for nested
    tables), so a file only needs to name what it changes.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for k, v in data.items():
        inner = getattr(base, k, None) if base is not None else None
        if dataclasses.is_dataclass(inner) and isinstance(v, dict):
            kwargs[k] = from_dict(type(inner), v, f"{where}.{k}", base=inner)
        else:
            kwargs[k] = _convert(hints[k], v, f"{where}.{k}")
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _read_mapping(path: Path) -> dict:
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        data = tomllib.loads(text)
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    elif suffix == ".json":
        data = json.loads(text)
    else:
        raise ValueError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .json")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a table/mapping")
    return data


def load_config(path: str | Path, cls: type[T], base: T | None = None) -> T:
    """Read a TOML/YAML/JSON file into dataclass ``cls`` (on top of ``base`` if given).

    Errors name the file and the offending key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        return from_dict(cls, _read_mapping(path), where=str(path), base=base)
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid config: {e}") from None


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_strip_none(v) for v in obj]
    return obj


def save_config(obj: Any, path: str | Path) -> None:
    """Write a dataclass to ``path`` (format from the suffix), atomically."""
    from relcon.io import atomic_write_text

    path = Path(path)
    data = to_dict(obj)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(_strip_none(data))  # TOML has no null: absent means default/None
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    elif suffix == ".json":
        text = json.dumps(data, indent=2)
    else:
        raise ValueError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .json")
    atomic_write_text(path, text)
