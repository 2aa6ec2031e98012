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

import contextlib
import contextvars
import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from relcon.models.distance import MotifDistanceConfig
from relcon.models.encoder import POOLINGS, PRECISIONS, EncoderConfig

__all__ = [
    "RENAMED",
    "RESUME_MAY_CHANGE",
    "SETTING_RULES",
    "Bound",
    "DataConfig",
    "DemoConfig",
    "DistanceTrainConfig",
    "EncoderConfig",
    "EvalConfig",
    "FinetuneConfig",
    "MotifDistanceConfig",
    "PretrainConfig",
    "check_settings",
    "from_dict",
    "load_config",
    "resume_conflicts",
    "save_config",
    "save_run_config",
    "spell",
    "spelled_as_flags",
    "to_dict",
    "to_toml",
]

T = TypeVar("T")

#: Old spellings of settings, per configuration class (old name -> the name that replaced it).
#: A config file, ``--set`` or a command-line flag that uses one is refused with an error naming
#: the new one: one name per idea (docs/architecture.md, "One name per idea"), no silent alias.
RENAMED: dict[str, dict[str, str]] = {
    "DistanceTrainConfig": {"model": "architecture", "amp": "precision"},
    "PretrainConfig": {"amp": "precision", "cpu_bf16": "precision"},
    "BenchConfig": {"amp": "precision", "cpu_bf16": "precision", "embed_precision": "precision"},
    "PlotConfig": {"method": "projection"},
    "EvalConfig": {"checkpoint": "model", "method": "features"},
    "FinetuneTaskConfig": {"checkpoint": "model"},
}

#: The training methods, names of relcon.train.methods.METHODS in its order (a copy: the core
#: layer imports nothing from train/; tests/test_methods.py keeps them equal).
_METHODS = ("relcon", "simclr", "augpred", "rebar")


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
    #: leave out relcon.data.datasets.heldout.HELD_OUT_SUBJECTS (test users)
    exclude_held_out: bool = False
    stride_s: float = 2.56  # window stride in seconds (2.56 = no overlap)
    block_seconds: float = 3600.0  # within-user candidates come from the same block of time


@dataclass
class DistanceTrainConfig:
    """``relcon train-distance``: fit the motif distance by rebuilding windows from augmented copies."""

    data: DataConfig = field(default_factory=DataConfig)
    architecture: MotifDistanceConfig = field(default_factory=MotifDistanceConfig)
    #: continue training a saved distance on these data: the model whose weights the run starts
    #: from (a shipped name such as 'default', a run folder, or a model.json / weights path); its
    #: architecture is the run's (an architecture left at its default is taken from it, another
    #: one is refused); "" = random weights
    init: str = ""
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    n_augment: int = 2  # augmentations per window, drawn from the eight
    #: fuse sparsemax with torch.compile (about 15x faster on a CPU; compiled on first use, exact
    #: either way; falls back to the eager path where no compiler exists)
    compile: bool = True
    #: fp32 | bf16 | auto: bf16 autocast where the device runs bf16 natively (CUDA; CPUs with
    #: AVX512-BF16/AMX), else fp32; weights, optimizer and loss stay fp32
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
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
    #: continued pretraining on your own data: the model whose encoder weights the run starts from
    #: (a shipped name such as 'relcon-wrist-small' or 'default', a run folder, or a model.json /
    #: weights path); its architecture is the run's (an encoder left at its default is taken from
    #: it, another one is refused); "" = random weights
    init: str = ""
    #: "relcon", or a self-supervised baseline trained on the same data with the same encoder,
    #: budget and loop (relcon.train.methods)
    method: str = field(default="relcon", metadata={"choices": _METHODS})
    #: the frozen motif distance that ranks candidates (RelCon, REBAR): a shipped name
    #: ('default', 'relcon-wrist-small'), or a train-distance run folder or checkpoint
    distance: str = ""
    steps: int = 1000
    batch_size: int = 64  # anchors per step
    #: candidates per anchor from the same user and time block (K): the cost lever, a step
    #: embeds B + B*K windows
    within_user: int = 20
    between_user: int | None = None  # other anchors used as candidates (None: all B - 1)
    #: who embeds the candidates: "online" (the paper: the trained encoder, with gradient) or
    #: "ema" (cheaper: a momentum copy, no gradient; the anchors keep theirs)
    candidate_encoder: str = field(default="online", metadata={"choices": ("online", "ema")})
    ema_decay: float = 0.99  # "ema": copy = decay * copy + (1 - decay) * encoder after each step
    #: a variant (the paper: off): an augmented copy of each anchor as its closest candidate
    anchor_copy: bool = False
    tau: float = 0.1
    #: how candidates are ranked: "distance" (the frozen motif distance, RelCon) or "oracle"
    #: (a diagnostic upper bound: candidates sharing the anchor's label first, in motif-distance
    #: order within each group; needs labelled windows, never for a model meant for use)
    teacher: str = field(default="distance", metadata={"choices": ("distance", "oracle")})
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    distance_chunk_pairs: int | None = None  # pairs scored at once (None: 64 on CPU, 2048 on GPU)
    n_augment: int = 2  # baselines (SimCLR): augmentations per view
    projection_dim: int = 128  # baselines (SimCLR): projection head output size
    #: score candidates with the distance compiled by torch.compile (about 3x faster on a CPU;
    #: compiled on first use, exact either way; falls back to the eager path where no compiler
    #: exists)
    compile: bool = True
    compile_encoder: bool = False  # torch.compile the encoder too (GPUs; slow to compile on CPUs)
    #: fp32 | bf16 | auto: bf16 autocast (the encoder's forward and backward, and candidate
    #: scoring) where the device runs bf16 natively (CUDA; CPUs with AVX512-BF16/AMX), else fp32;
    #: weights, optimizer and loss stay fp32
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    accumulate: int = 1  # batches whose gradients are summed per optimizer step
    num_workers: int = 0  # background processes gathering batches (use 4-8 with a GPU)
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    ckpt_every: int = 200
    keep_checkpoints: int = 2
    max_seconds: float | None = None  # stop (and save) once training has run this long


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
    #: none: train the head (and the encoder unless frozen) by gradient descent; linear_fixed |
    #: linear | nearest_centroid: the encoder frozen and that probe of relcon evaluate fitted
    #: on its embeddings of every window, kept as the linear head (few labels: linear_fixed)
    probe: str = field(
        default="none", metadata={"choices": ("none", "linear_fixed", "linear", "nearest_centroid")}
    )
    #: what the head reads: last (the paper's embedding) or stages (every stage's mean)
    pooling: str = field(default="last", metadata={"choices": POOLINGS})
    #: with a probe: this many augmented copies of every labelled window join its training
    #: windows (rotated, scaled, shifted in time: relcon.eval.fewshot.augmented_copies)
    few_shot_augment: int = 0
    #: probe linear_fixed, classification: its inverse penalty (None: relcon.eval.probes.FIXED_C)
    fixed_c: float | None = None
    #: probe linear or linear_fixed: a second probe of the windows' hand-crafted features joins
    #: the model as a second head, the two combined as relcon evaluate --plus-handcrafted
    #: combines them (the sum of their log-probabilities, or the mean of their predictions)
    plus_handcrafted: bool = False
    #: plus_handcrafted with probe linear_fixed: the hand-crafted probe's inverse penalty (None:
    #: fixed_c, as the embedding's; the few-label recipe: 0.03, docs/payoff.md, section 15)
    handcrafted_fixed_c: float | None = None


@dataclass
class EvalConfig:
    """``relcon evaluate``: one kind of features and one protocol on one task, split by subject."""

    task: str = ""  # task .npz file; if empty, the labelled windows of `data` are the task
    data: DataConfig = field(default_factory=DataConfig)
    labels: list[str] | None = None  # with `data`: keep only windows of these classes
    #: the model whose embeddings are measured (features 'model'): a shipped name ('default',
    #: 'relcon-wrist-full'), a run folder, or a model.json / weights path
    model: str = ""
    #: model | random | handcrafted | minirocket | supervised (auto: 'model' when a model is given)
    features: str = field(
        default="auto",
        metadata={
            "choices": ("auto", "model", "random", "handcrafted", "minirocket", "supervised")
        },
    )
    #: linear | mlp | rf | ridge_classifier | linear_fixed | nearest_centroid | finetune
    #: (linear_fixed and nearest_centroid choose nothing on validation subjects: for few labels)
    protocol: str = "auto"
    #: protocol linear_fixed, classification: the logistic regression's inverse penalty (None:
    #: relcon.eval.probes.FIXED_C, 1; hand-crafted features did better with 0.03 in
    #: docs/payoff.md, section 13)
    fixed_c: float | None = None
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # for random / supervised
    #: what the embedding pools (features model / random): last (the paper's, the last
    #: stage's time-average) | stages (every stage's, side by side; ResNet1DEncoder.embed)
    pooling: str = field(default="last", metadata={"choices": POOLINGS})
    #: features model / random with probe linear or linear_fixed: a second probe of the
    #: hand-crafted features, the two combined (late fusion: the sum of their log-probabilities,
    #: or the mean of their predictions; relcon.eval.fusion): does the embedding add to them?
    plus_handcrafted: bool = False
    #: plus_handcrafted with protocol linear_fixed: the inverse penalty of the hand-crafted
    #: features' probe (None: fixed_c, as the embedding's; the few-label recipe: 0.03,
    #: docs/payoff.md, section 15)
    handcrafted_fixed_c: float | None = None
    folds: int = 5  # subject-wise folds (when the task has no fixed split)
    fold_seeds: int = 1  # repeat subject-wise k-fold with fold seeds seed, seed + 1, ...
    # which subjects are evaluated (saved with the results, so two runs can be matched):
    subjects: list[str] | None = None  # keep only these subjects (None: all of the task's)
    exclude_users_of: list[str] = field(default_factory=list)  # leave out these encoder runs'
    #   pretraining users (their model.json train_users; "default" = the shipped model)
    use_fixed_split: bool = True  # use the task's train/test split when it has one
    use_task_folds: bool = True  # use the task's predefined folds (e.g. leave-one-subject-out)
    few_shot: list[int] = field(default_factory=list)  # labelled windows per class; 0 = all
    few_shot_seeds: int = 3
    #: with few_shot: this many augmented copies of every labelled window of a draw of k per
    #: class (rotated, scaled, shifted in time: relcon.eval.fewshot.augmented_copies) join the
    #: probe's training windows, with their source's label and subject; 0: none. Never for
    #: k = 0 (all labels); frozen features with a probe only (not minirocket, not finetune)
    few_shot_augment: int = 0
    max_train_windows: int | None = None  # frozen features: random subset per split (None: all)
    val_fraction: float = 0.25  # of the training subjects, to choose hyperparameters
    #: 1: the probe's hyperparameter chosen on one split (val_fraction of the subjects); >= 2:
    #: cross-validated over that many inner folds of the training subjects (relcon.eval.probes)
    val_folds: int = 1
    seed: int = 0
    device: str = "auto"
    batch_size: int = 512
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # protocol "finetune"
    #: continued pretraining within each fold (relcon.eval.adapt): this many steps on the
    #: unlabelled windows of the fold's training subjects (never its test subjects), then the
    #: probe; 0: none
    adapt_steps: int = 0
    adapt_lr: float = 1e-4  # its peak learning rate (cosine; warmup: a tenth of the steps, <= 50)
    #: its objective: auto (the model's own method) | relcon | simclr | augpred | rebar
    adapt_method: str = field(default="auto", metadata={"choices": ("auto", *_METHODS)})
    adapt_distance: str = ""  # the frozen motif distance it ranks by ("": the model's own)
    #: its anchors per step (0: the model's own recipe; between-user candidates then capped at
    #: this minus one): fewer make adapting the full-size model (256 of its own) a CPU's work
    adapt_batch_size: int = 0


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
    renamed = RENAMED.get(cls.__name__, {})
    for old in unknown:
        if old in renamed:
            raise ValueError(f"{where}: {renamed_text(old, renamed[old])}")
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


def renamed_text(old: str, new: str) -> str:
    """The error for a key of a config file or ``--set`` spelled with its old name
    (:data:`RENAMED`); flags with old names are refused by the parser (:func:`add_flags`)."""
    return f"key {old!r} was renamed {new!r} (one name per idea, no aliases)"


def _read_mapping(path: Path) -> dict:
    suffix = path.suffix.lower()
    formats = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}
    if suffix not in formats:
        raise ValueError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .json")
    if formats[suffix] == "TOML":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        parse, errors = tomllib.loads, (tomllib.TOMLDecodeError,)
    elif formats[suffix] == "JSON":
        parse, errors = json.loads, (json.JSONDecodeError,)
    else:
        import yaml

        parse, errors = (lambda t: yaml.safe_load(t) or {}), (yaml.YAMLError,)
    try:
        data = parse(path.read_text())
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text file ({e})") from None
    except errors as e:
        why = " ".join(str(e).replace('in "<unicode string>", ', "").split())
        raise ValueError(f"{path}: not valid {formats[suffix]}: {why}") from None
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


def to_toml(obj: Any) -> str:
    """A dataclass as TOML text (TOML has no null: a None field is left out, read as default)."""
    import tomli_w

    return tomli_w.dumps(_strip_none(to_dict(obj)))


def save_config(obj: Any, path: str | Path) -> None:
    """Write a dataclass to ``path`` (format from the suffix), atomically."""
    from relcon.io import atomic_write_text

    path = Path(path)
    data = to_dict(obj)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        text = to_toml(obj)
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    elif suffix == ".json":
        text = json.dumps(data, indent=2)
    else:
        raise ValueError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .json")
    atomic_write_text(path, text)


# --------------------------------------------------------------------------------------------
# the allowed values of every numeric setting, by name (one name, one meaning, one rule)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric setting (``None``: unbounded on that side). A float must
    also be finite; ``None`` as a value always means the setting's documented default."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself not allowed
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is not allowed, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'above' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"must be {'below' if self.high_open else 'at most'} {self.high:g}"
        return None


_COUNT, _NONNEG, _POSITIVE = Bound(1), Bound(0), Bound(0, low_open=True)
_FRACTION = Bound(0, 1, low_open=True, high_open=True)

#: The rule of every numeric setting of every command, by field name (a list: each item).
#: Every ``int``/``float`` field of a command's settings must have its line here
#: (``tests/test_cli_careless.py`` walks them), so no numeric setting goes unchecked.
SETTING_RULES: dict[str, Bound] = {
    "accumulate": _COUNT, "adapt_batch_size": _NONNEG, "adapt_lr": _POSITIVE,
    "adapt_steps": _NONNEG, "anchors": _COUNT,
    "attn_dropout": Bound(0, 1, high_open=True),
    "batch_size": _COUNT, "between_user": _NONNEG, "block_seconds": _POSITIVE,
    "bottleneck": _COUNT, "channels": _COUNT, "chunk_s": _POSITIVE, "ckpt_every": _COUNT,
    "distance_batch_size": _COUNT, "distance_chunk_pairs": _COUNT, "embed_batch_size": _COUNT,
    "ema_decay": Bound(0, 1, high_open=True),
    "embed_hours": _POSITIVE, "encoder_lr": _POSITIVE, "epochs": _COUNT, "eval_every": _COUNT,
    "farthest": _NONNEG, "few_shot": _NONNEG, "few_shot_augment": _NONNEG,
    "few_shot_seeds": _COUNT, "fixed_c": _POSITIVE, "fold_seeds": _COUNT, "folds": Bound(2),
    "grad_clip": _POSITIVE, "handcrafted_fixed_c": _POSITIVE, "head_hidden": _NONNEG,
    "in_channels": _COUNT, "keep_checkpoints": _COUNT, "kernel_size": _COUNT,
    "log_every": _COUNT, "lr": _POSITIVE,
    "max_gap_s": _POSITIVE, "max_points": _COUNT, "max_seconds": _POSITIVE,
    "max_train_windows": _COUNT, "n_augment": Bound(1, 8), "n_layers": _COUNT,
    "num_workers": _NONNEG, "patience": _COUNT, "per_label": _COUNT, "pool_kernel": _COUNT,
    "pool_stride": _COUNT, "pretrain_users": _COUNT, "projection_dim": _COUNT,
    "resamples": _COUNT, "revin_eps": _POSITIVE, "seed": _NONNEG, "shard_segments": _COUNT,
    "stage_blocks": _COUNT, "stage_filters": _COUNT, "stage_kernels": _COUNT,
    "stem_filters": _COUNT, "stem_kernel": _COUNT, "stem_stride": _COUNT, "steps": _COUNT,
    "stride_s": _POSITIVE, "tau": _POSITIVE, "top": _COUNT, "val_folds": _COUNT,
    "val_fraction": _FRACTION,
    "warmup": _NONNEG, "warmup_steps": _NONNEG, "weight_decay": _NONNEG, "within_user": _COUNT,
}  # fmt: skip


def check_settings(cfg: Any, where: str = "") -> Any:
    """Check every numeric setting of ``cfg`` (nested sections too) against
    :data:`SETTING_RULES` (or a field's own ``metadata={"bound": Bound(...)}``); returns ``cfg``.

    Raises:
        ValueError: naming every setting out of range as the user writes it (:func:`spell`:
            ``--steps 0`` on the command line, ``steps=0`` in Python) and why.

    >>> check_settings(PretrainConfig(steps=0, lr=-1.0))
    Traceback (most recent call last):
    ...
    ValueError: steps=0 must be at least 1; lr=-1.0 must be above 0
    """
    problems = []
    for f in dataclasses.fields(cfg):
        value, dotted = getattr(cfg, f.name), where + f.name
        if dataclasses.is_dataclass(value):
            try:
                check_settings(value, dotted + ".")
            except ValueError as e:
                problems.append(str(e))
            continue
        bound = f.metadata.get("bound") or SETTING_RULES.get(f.name)
        items = value if isinstance(value, (list, tuple)) else [value]
        if bound is None or not all(_is_number(v) for v in items):
            continue
        why = next((b for b in map(bound.problem, items) if b), None)
        if why:
            problems.append(f"{spell(dotted, value)} {why}")
    if problems:
        raise ValueError("; ".join(problems))
    return cfg


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Settings a resumed run may change: how long it may run, how it logs and saves, where and how
#: fast it computes. Any other difference from the run's ``config.toml`` is refused by
#: :func:`resume_conflicts` (the run's record would otherwise claim settings it did not use).
RESUME_MAY_CHANGE = frozenset(
    {"max_seconds", "log_every", "ckpt_every", "keep_checkpoints", "num_workers", "device",
     "compile", "compile_encoder", "data.root"}
)  # fmt: skip


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif v is not None:  # TOML has no null: a None setting is absent from config.toml
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def resume_conflicts(saved: dict, cfg: Any) -> list[str]:
    """The settings of ``cfg`` that differ from a run's saved ``config.toml`` (``saved``, as read)
    and may not change on ``--resume`` (all but :data:`RESUME_MAY_CHANGE`), each as
    ``"--flag NEW (the run: OLD)"`` (:func:`spell`)."""
    old, new = _flat(saved), _flat(to_dict(cfg))
    out = []
    for key in sorted(set(old) | set(new)):
        if key in RESUME_MAY_CHANGE or old.get(key) == new.get(key):
            continue
        shown = "unset" if key not in old else repr(old[key])
        out.append(f"{spell(key, new.get(key))} (the run: {shown})")
    return out


def save_run_config(cfg: Any, folder: str | Path, resume: bool) -> None:
    """Check a training run's settings (:func:`check_settings`) and write them to
    ``folder/config.toml``; with ``resume``, first refuse settings that differ from the run's
    (:func:`resume_conflicts`), so the record always describes the run that was trained."""
    check_settings(cfg)
    path = Path(folder) / "config.toml"
    if resume and path.is_file():
        conflicts = resume_conflicts(_read_mapping(path), cfg)
        if conflicts:
            raise ValueError(
                f"{spell('resume')}: these settings differ from the run's ({path}): "
                f"{'; '.join(conflicts)}. Resume with the run's settings, or start a new run "
                f"in another output folder"
            )
    save_config(cfg, path)


# --------------------------------------------------------------------------------------------
# how a setting is spelled in a message: as a flag on the command line, as Python elsewhere
# --------------------------------------------------------------------------------------------
_NO_VALUE = object()
_FLAGS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "relcon_flags", default=None
)


def spell(name: str, value: Any = _NO_VALUE) -> str:
    """A setting as the user writes it where they are: ``spell("skip_bad", True)`` is
    ``--skip-bad`` under ``relcon`` (:func:`spelled_as_flags`) and ``skip_bad=True`` in Python;
    ``spell("data.user_from", "parent")`` is ``--data-user-from parent`` or
    ``data.user_from='parent'``. Messages that tell the user what to change use it, so a command-
    line user is never told a Python spelling, nor a Python user a flag.

    >>> spell("skip_bad", True), spell("user_from", "parent"), spell("steps")
    ('skip_bad=True', "user_from='parent'", 'steps')
    >>> with spelled_as_flags({"user_from": "--user-from"}):
    ...     spell("skip_bad", True), spell("user_from", "parent"), spell("steps")
    ('--skip-bad', '--user-from parent', '--steps')
    """
    flags = _FLAGS.get()
    if flags is None:
        return name if value is _NO_VALUE else f"{name}={value!r}"
    flag = flags.get(name) or "--" + name.replace(".", "-").replace("_", "-")
    if value is _NO_VALUE or value is True:
        return flag
    if value is False:
        return flag if flag.startswith("--no-") else "--no-" + flag[2:]
    shown = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return f"{flag} {shown}"


@contextlib.contextmanager
def spelled_as_flags(flags: dict[str, str] | None = None) -> Iterator[None]:
    """Within the block, :func:`spell` writes settings as flags (``flags``: dotted setting ->
    its option string, for those not spelled ``--`` + the name with dashes)."""
    token = _FLAGS.set(dict(flags or {}))
    try:
        yield
    finally:
        _FLAGS.reset(token)
