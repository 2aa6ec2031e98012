"""The model hub: the one place that knows the kinds of model, their architectures, the models
shipped with the package and what ``"default"`` means, and the one reader and writer of model
files.

Kinds (:data:`KINDS`)::

    encoder     ResNet1DEncoder(EncoderConfig)               windows -> embeddings
    distance    MotifDistance(MotifDistanceConfig)           the learned motif distance
    finetuned   FinetunedModel(encoder + head)               written by ``relcon finetune``

Every model is stored the same way, by :func:`save_model`: ``model.safetensors`` (the weights; no
pickle) beside ``model.json`` (its kind, architecture and provenance, and the SHA-256 of the
weights file's bytes, ``safetensors_sha256``, which every load checks: weights damaged or edited
since they were written are an error, never a model that embeds NaN). :func:`load` reads any of

* a **shipped model** by name -- ``None`` or ``"default"`` (an alias), or a name from
  :func:`list_models` such as ``"relcon-wrist-small"``;
* a **run folder** (its final ``model.safetensors``, else its latest checkpoint);
* a **checkpoint folder** (``run/checkpoints/step-00000200``);
* a ``model.safetensors`` or ``model.json`` **file**;
* a **fine-tuned model folder** (``relcon finetune --out``);
* a **bundle folder** holding one sub-folder per kind (``encoder/``, ``distance/``), the layout
  of the shipped models and of ``scripts/export_model.py``;

and, for the Python API's convenience, a model object of the right kind (returned as is).

Shipped models (:data:`SHIPPED`) are a table of name -> folder (under ``relcon/assets/``) and
description; :data:`ALIASES` maps other names to them (``"default"`` is one). Adding a model to
the package is a folder under ``relcon/assets/model/<name>/`` with its ``encoder/`` (and,
optionally, ``distance/``) and one line in :data:`SHIPPED`; :func:`register_model` adds one at
run time. In the spirit of timm's registry, :func:`create_model` builds an architecture by name,
randomly initialised, or with weights (``pretrained=True`` / ``checkpoint_path=``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from relcon.io import read_json_object
from relcon.models.distance import MotifDistance, MotifDistanceConfig
from relcon.models.encoder import EncoderConfig, ResNet1DEncoder, pick_device
from relcon.models.finetuned import FinetunedModel

__all__ = [
    "ALIASES",
    "KINDS",
    "SHIPPED",
    "TRAINER_STATE",
    "ModelInfo",
    "build_model",
    "create_model",
    "is_shipped",
    "latest_checkpoint",
    "list_models",
    "load",
    "load_model",
    "locate",
    "model_files",
    "read_description",
    "record_checksum",
    "register_model",
    "save_model",
    "shipped_name",
    "shipped_path",
]

WEIGHTS, DESCRIPTION = "model.safetensors", "model.json"
#: The trainer state of a run's checkpoint folder (:mod:`relcon.train.checkpoint`): a checkpoint
#: folder without it is incomplete.
TRAINER_STATE = "trainer.pt"
#: The field of ``model.json`` holding the SHA-256 (hex) of the bytes of ``model.safetensors``
#: (not to be confused with the hash of the state dict in the embed Parquet metadata).
CHECKSUM = "safetensors_sha256"
PathLike = str | os.PathLike[str]
Source = PathLike | nn.Module | None


# ----------------------------------------------------------------------------------------------
# kinds: what each model is, how it is built from model.json and what model.json records of it
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Kind:
    name: str
    model_class: type[nn.Module]
    build: Callable[[dict], nn.Module]  # model.json -> a randomly initialised model
    describe: Callable[[Any], dict]  # model -> its fields of model.json (architecture, ...)
    #: models written by a training run: model.json always has ``step`` and ``config``
    run_fields: bool


def _to_dict(obj: Any) -> Any:
    from relcon.config import to_dict  # not at module level: relcon.config imports models

    return to_dict(obj)


def _describe_finetuned(model: FinetunedModel) -> dict:
    return {
        "task_type": model.task_type,
        "classes": None if model.classes_ is None else model.classes_.tolist(),
        "target_mean": model.target_mean,
        "target_std": model.target_std,
        "architecture": {
            "encoder": _to_dict(model.encoder.config),
            "head_hidden": model.head_hidden,
            "pooling": model.pooling,
            "handcrafted": model.handcrafted,
            "n_outputs": model.head_out,
        },
        **_to_dict(model.info),  # what was fine-tuned on, its validation score, ...
    }


_FINETUNED_FIELDS = ("task_type", "classes", "target_mean", "target_std", "architecture")


def _build_finetuned(meta: dict) -> FinetunedModel:
    arch = meta["architecture"]
    reserved = {"kind", "environment", CHECKSUM, *_FINETUNED_FIELDS}
    return FinetunedModel(
        ResNet1DEncoder(EncoderConfig(**arch["encoder"])),
        task_type=meta["task_type"],
        classes=meta["classes"],
        target_mean=meta["target_mean"],
        target_std=meta["target_std"],
        head_hidden=arch["head_hidden"],
        pooling=arch.get("pooling", "last"),  # models saved before stage pooling: "last"
        handcrafted=arch.get("handcrafted", False),  # and before fused heads: none
        info={k: v for k, v in meta.items() if k not in reserved},
    )


#: The kinds of model the hub builds, saves and loads. A new model: its module in
#: ``relcon/models/`` and one entry here.
KINDS: dict[str, _Kind] = {
    "encoder": _Kind(
        "encoder",
        ResNet1DEncoder,
        lambda meta: ResNet1DEncoder(EncoderConfig(**meta["architecture"])),
        lambda m: {"architecture": _to_dict(m.config)},
        run_fields=True,
    ),
    "distance": _Kind(
        "distance",
        MotifDistance,
        lambda meta: MotifDistance.from_config(MotifDistanceConfig(**meta["architecture"])),
        lambda m: {"architecture": _to_dict(m.config)},
        run_fields=True,
    ),
    "finetuned": _Kind(
        "finetuned", FinetunedModel, _build_finetuned, _describe_finetuned, run_fields=False
    ),
}


def _kind(kind: str) -> _Kind:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    return KINDS[kind]


def _kind_of(model: nn.Module) -> str:
    for name, spec in KINDS.items():
        if isinstance(model, spec.model_class):
            return name
    raise TypeError(f"not a relcon model: {type(model).__name__} (kinds: {tuple(KINDS)})")


def build_model(kind: str, architecture: dict, **fields: Any) -> nn.Module:
    """A randomly initialised model of ``kind`` from its ``architecture`` dict (as in
    ``model.json``); ``fields``: the other ``model.json`` fields the kind needs (fine-tuned
    models: ``task_type``, ``classes``, ``target_mean``, ``target_std``)."""
    return _kind(kind).build({"architecture": architecture, **fields})


# ----------------------------------------------------------------------------------------------
# shipped models: the registry
# ----------------------------------------------------------------------------------------------
#: Models shipped inside the package: name -> (folder, description). A relative folder is under
#: ``relcon/assets/``; it holds one sub-folder per kind (``encoder/``, ``distance/``).
SHIPPED: dict[str, tuple[str, str]] = {
    "relcon-wrist-full": (
        "model_full",
        "the paper's full-size RelCon encoder (3.6M parameters, 256-d embeddings) and a "
        "64-channel motif distance, pretrained on 153,600 anchors of wrist data from 48 people "
        "(one H200, 3 minutes); the default (MODEL_CARD.md)",
    ),
    "relcon-wrist-small": (
        "model",
        "small RelCon encoder (141k parameters, 128-d embeddings) and its motif distance, "
        "pretrained on about 29 h of wrist data from 48 people on two CPU cores; "
        "for trying the tools, not for accuracy (MODEL_CARD.md)",
    ),
}
#: Other names of shipped models. ``"default"`` is what ``relcon.load()`` and every command
#: without ``--model`` use.
ALIASES: dict[str, str] = {"default": "relcon-wrist-full"}


class ModelInfo(NamedTuple):
    """A row of :func:`list_models`."""

    name: str
    kind: str
    description: str
    aliases: tuple[str, ...]
    path: Path


def register_model(
    name: str, folder: PathLike, description: str, *, aliases: tuple[str, ...] = ()
) -> None:
    """Add a model to the registry at run time: ``folder`` (a path; it holds one sub-folder per
    kind, ``encoder/``, ``distance/``) under ``name``. An alias given here is moved to this model
    (e.g. ``aliases=("default",)`` makes it the default for this process).
    """
    if not name or name in ALIASES:
        raise ValueError(f"{name!r} cannot name a model (empty, or already an alias)")
    SHIPPED[name] = (str(Path(folder).expanduser().resolve()), description)
    for alias in aliases:
        if alias in SHIPPED:
            raise ValueError(f"{alias!r} already names a model; it cannot be an alias")
        ALIASES[alias] = name


def is_shipped(name: object) -> bool:
    """Whether ``name`` names a shipped model (``None``, ``"default"``, a registry name or alias)."""
    return name is None or (isinstance(name, str) and (name in SHIPPED or name in ALIASES))


def shipped_name(name_or_path: object) -> str | None:
    """The registry name of the shipped model ``name_or_path`` names (``None`` and ``"default"``
    included), or None if it names none (a path, a model object)."""
    return _canonical(name_or_path) if is_shipped(name_or_path) else None  # type: ignore[arg-type]


def _canonical(name: str | None) -> str:
    name = "default" if name is None else name
    return ALIASES.get(name, name)


def _shipped_folder(name: str | None) -> Path:
    canonical = _canonical(name)
    if canonical not in SHIPPED:
        raise ValueError(f"no shipped model named {name!r}; known: {_known_names()}")
    folder = Path(SHIPPED[canonical][0])
    if not folder.is_absolute():
        from importlib import resources

        folder = Path(str(resources.files("relcon") / "assets")) / folder
    return folder


def _known_names() -> str:
    return ", ".join([*SHIPPED, *(f"{a} (= {n})" for a, n in ALIASES.items())])


def shipped_path(name: str | None = "default", kind: str = "encoder") -> Path:
    """The folder of a shipped model's ``kind`` (``model.safetensors`` + ``model.json``)."""
    _kind(kind)
    folder = _shipped_folder(name) / kind
    if not (folder / WEIGHTS).is_file():
        have = [k for k in KINDS if (folder.parent / k / WEIGHTS).is_file()]
        if have:
            raise ValueError(
                f"the shipped model {_canonical(name)!r} has no {kind!r} model (it has "
                f"{', '.join(have)})"
            )
        raise FileNotFoundError(
            f"the shipped model {_canonical(name)!r} is missing from this installation: {folder}; "
            "reinstall relcon, or name another model (a run folder or model file) instead"
        )
    return folder


def list_models() -> list[ModelInfo]:
    """The shipped models, one row per (name, kind) present in this installation."""
    rows = []
    for name, (_, description) in SHIPPED.items():
        folder = _shipped_folder(name)
        aliases = tuple(a for a, n in ALIASES.items() if n == name)
        for kind in KINDS:
            if (folder / kind / WEIGHTS).is_file():
                rows.append(ModelInfo(name, kind, description, aliases, folder / kind))
    return rows


# ----------------------------------------------------------------------------------------------
# finding the files of a model
# ----------------------------------------------------------------------------------------------
def latest_checkpoint(run_dir: PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None if it has none."""
    pointer = Path(run_dir) / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / TRAINER_STATE).is_file():
        raise FileNotFoundError(f"{pointer} points at {folder}, which is incomplete or missing")
    return folder


def model_files(path: PathLike) -> tuple[Path, Path]:
    """``(model.safetensors, model.json)`` of a run folder, checkpoint folder or model file."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    if path.is_file() and path.suffix == ".json":
        return path.with_suffix(".safetensors"), path
    if path.is_dir():
        if (path / WEIGHTS).is_file():
            return path / WEIGHTS, path / DESCRIPTION
        latest = latest_checkpoint(path)
        if latest is not None:
            return latest / WEIGHTS, latest / DESCRIPTION
        raise FileNotFoundError(
            f"{path}: no model.safetensors and no checkpoints/LATEST; is this a relcon run folder?"
        )
    raise FileNotFoundError(f"no model at {path}")


def locate(name_or_path: PathLike | None = None, kind: str | None = None) -> tuple[Path, Path]:
    """``(model.safetensors, model.json)`` of what :func:`load` would load.

    A string that names a shipped model (:func:`is_shipped`) is that model, even if a folder of
    the same name exists (write ``./default`` for the folder); anything else is a path.
    ``kind`` chooses within a shipped model or bundle folder (default: its encoder).
    """
    if kind is not None:
        _kind(kind)
    if is_shipped(name_or_path):
        folder = shipped_path(name_or_path, kind or "encoder")  # type: ignore[arg-type]
        return folder / WEIGHTS, folder / DESCRIPTION
    if name_or_path == "":
        raise ValueError("no model given (an empty name); pass a path, or None for the default")
    path = Path(name_or_path).expanduser()  # type: ignore[arg-type]
    bundle = [k for k in KINDS if (path / k / WEIGHTS).is_file()] if path.is_dir() else []
    if bundle and not (path / WEIGHTS).is_file():
        chosen = kind or ("encoder" if "encoder" in bundle else bundle[0])
        if chosen not in bundle:
            raise ValueError(f"{path}: holds {', '.join(bundle)} models, no {chosen!r} model")
        return path / chosen / WEIGHTS, path / chosen / DESCRIPTION
    if not path.exists() and isinstance(name_or_path, str) and os.sep not in name_or_path:
        raise FileNotFoundError(
            f"no model at {name_or_path!r}: not a file or folder, and not a shipped model "
            f"({_known_names()}; see relcon.list_models())"
        )
    return model_files(path)


def read_description(name_or_path: PathLike | None = None, kind: str | None = None) -> dict:
    """The ``model.json`` of what :func:`load` would load, without loading the weights."""
    _, desc = locate(name_or_path, kind)
    return _read_json(desc, kind)


def _read_json(desc: Path, kind: str | None) -> dict:
    meta = read_json_object(desc, "a model description")
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{desc}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    if meta.get("kind") not in KINDS:
        raise ValueError(f"{desc}: unknown model kind {meta.get('kind')!r}; known: {tuple(KINDS)}")
    return meta


# ----------------------------------------------------------------------------------------------
# loading and saving
# ----------------------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_weights(weights: Path) -> tuple[bytes, dict[str, torch.Tensor]]:
    """The bytes of a safetensors file (read once) and its tensors, parsed from those bytes."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    try:
        data = weights.read_bytes()
        return data, load_bytes(data)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{weights}: corrupt or unreadable safetensors file ({e})") from None


def _verify(data: bytes, weights: Path, desc: Path, meta: dict, name_or_path: object) -> None:
    """Refuse weights whose bytes are not those ``model.json`` recorded when they were written."""
    recorded = meta.get(CHECKSUM)
    shipped = is_shipped(name_or_path)
    if not isinstance(recorded, str) or not recorded:
        fix = (
            "reinstall relcon (a shipped model carries its checksum)"
            if shipped
            else f"if you trust these weights, record it with "
            f"relcon.models.hub.record_checksum({str(desc.parent)!r}) and load again (a model "
            "written by relcon.models.hub.save_model records it)"
        )
        raise ValueError(
            f"{desc} records no checksum of {weights} ({CHECKSUM}), so whether these are the "
            f"weights it describes cannot be checked; {fix}"
        )
    actual = _sha256(data)
    if actual != recorded:
        fix = (
            "reinstall relcon"
            if shipped
            else "use a good copy of the model; if you changed the weights on purpose, record "
            f"their new checksum with relcon.models.hub.record_checksum({str(desc.parent)!r})"
        )
        raise ValueError(
            f"{weights} does not match the checksum recorded in {desc} (SHA-256 {actual[:12]}... "
            f"instead of {recorded[:12]}...): the weights changed since they were written (a "
            f"damaged copy, or edited); {fix}"
        )


def _name_of(name_or_path: object, weights: Path) -> str:
    """How a loaded model is named in messages: a shipped model's name, else its weights file."""
    shipped = shipped_name(name_or_path)
    return f"{shipped} ({weights})" if shipped else str(weights)


def load_model(
    name_or_path: PathLike | None = None,
    kind: str | None = None,
    device: str | torch.device | None = None,
) -> tuple[nn.Module, dict]:
    """``(model, meta)``: :func:`load`'s model and its parsed ``model.json``."""
    weights, desc = locate(name_or_path, kind)
    if not weights.is_file():
        raise FileNotFoundError(f"weights file missing: {weights}")
    if not desc.is_file():
        raise FileNotFoundError(f"model description missing: {desc} (needed beside {weights})")
    meta = _read_json(desc, kind)
    try:
        model = KINDS[meta["kind"]].build(meta)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{desc}: cannot build the model it describes ({e!r})") from None
    data, state = _read_weights(weights)
    _verify(data, weights, desc, meta, name_or_path)
    del data
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{weights} does not fit the {meta['kind']} architecture in {desc}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"shape mismatches {mismatched[:5]}"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    model.loaded_from = _name_of(name_or_path, weights)  # named in errors (run_windows)
    return model.to(device or "cpu").eval(), meta


def record_checksum(path: PathLike, kind: str | None = None) -> str:
    """Record in ``model.json`` the SHA-256 of the model's ``model.safetensors`` as it is now.

    For a model written before relcon checked model files, or whose weights were changed on
    purpose: :func:`load` refuses weights whose checksum is missing or differs. Only for weights
    you trust: this makes them load. ``path``: anything :func:`locate` finds, except a shipped
    model (its checksum is part of the package). Returns the checksum (hex).
    """
    if is_shipped(path):
        raise ValueError(f"{path!r} is a shipped model: its checksum is part of the package")
    from relcon.io import atomic_write_json

    weights, desc = locate(path, kind)
    meta = _read_json(desc, kind)
    data, _ = _read_weights(weights)  # a file that does not parse is never blessed
    meta[CHECKSUM] = _sha256(data)
    atomic_write_json(desc, meta)
    return meta[CHECKSUM]


def load(
    model: Source = None,
    kind: str | None = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """Load a model written by relcon, in eval mode. The one loader of the package.

    Args:
        model: which model (one name everywhere: ``--model`` on the command line).
            ``None`` or ``"default"``: the pretrained model shipped with the package
            (``MODEL_CARD.md``); a shipped model's name (:func:`list_models`, e.g.
            ``"relcon-wrist-small"``); a run folder (its final ``model.safetensors``, else its
            latest checkpoint), a checkpoint folder, a ``model.safetensors`` / ``model.json``
            file, a fine-tuned model folder or a bundle folder (``encoder/``, ``distance/``).
            A model object of the right kind is returned as it is (moved to ``device`` if
            given; its train/eval mode unchanged).
        kind: ``"encoder"``, ``"distance"`` or ``"finetuned"``: the kind expected (an error if
            the file holds another); with a shipped model or bundle, which of its models.
            ``None``: whatever the file holds (a shipped model's encoder).
        device: where to put the weights: ``"auto"`` (the default: CUDA when available, as
            every command's ``--device``), ``"cpu"``, ``"cuda:1"``, ...; a model object stays
            where it is unless a device is given.

    Loaded from files, the model is in eval mode, and its weights file is checked against the
    SHA-256 that :func:`save_model` recorded in ``model.json`` (``safetensors_sha256``); its
    attribute ``loaded_from`` names where it came from (errors name it).

    Returns:
        :class:`~relcon.models.encoder.ResNet1DEncoder`,
        :class:`~relcon.models.distance.MotifDistance` or
        :class:`~relcon.models.finetuned.FinetunedModel`, as recorded in ``model.json``.

    Raises:
        FileNotFoundError: nothing at the path, or the shipped model is missing.
        ValueError: another kind of model, unreadable files, weights that changed since they
            were written (their checksum differs from the recorded one, or none is recorded:
            :func:`record_checksum`), or weights that do not fit the recorded architecture (the
            message names the file).
        TypeError: a model object of another kind, or neither a model, a path nor a name.
    """
    if kind is not None:
        _kind(kind)
    if isinstance(model, nn.Module):
        held = _kind_of(model)
        if kind is not None and held != kind:
            raise TypeError(
                f"got a {type(model).__name__} ({held!r} model), expected a "
                f"{KINDS[kind].model_class.__name__} ({kind!r} model) or its folder"
            )
        return model if device is None else model.to(device)
    if not (model is None or isinstance(model, str | os.PathLike)):
        expected = KINDS[kind].model_class.__name__ if kind else "model"
        raise TypeError(
            f"expected a {expected}, a path or a shipped model's name, got {type(model).__name__}"
        )
    return load_model(model, kind=kind, device=pick_device(device or "auto"))[0]


def create_model(
    name: str = "encoder",
    *,
    pretrained: bool = False,
    kind: str | None = None,
    device: str | torch.device | None = None,
    **config: Any,
) -> nn.Module:
    """Build a model by name, timm-style: an architecture with random weights, or a shipped
    model's trained weights. Saved weights of any model (a run folder, a file) load with
    :func:`load`, the one loader.

    Args:
        name: a kind (``"encoder"``, ``"distance"``): that architecture, sized by ``config``
            (the fields of :class:`~relcon.models.encoder.EncoderConfig` /
            :class:`~relcon.models.distance.MotifDistanceConfig`; default: the paper's sizes);
            or a shipped model's name (:func:`list_models`, ``"default"``): its architecture.
        pretrained: with a shipped model's name, its trained weights (else random ones).
        kind: with a shipped model, which of its models (default: its encoder).
        device: where to put the model (default: the CPU).

    Example:
        >>> create_model("encoder", stage_filters=(32, 64, 128)).embed_dim
        128
        >>> create_model("default", pretrained=True).training
        False
    """
    if name in KINDS:
        if name == "finetuned":
            raise ValueError(
                "a fine-tuned model is made by relcon.eval.finetune.finetune; load a saved one "
                "with load(folder)"
            )
        if pretrained:
            raise ValueError(
                f"{name!r} is an architecture with no trained weights; name a shipped model "
                f"({_known_names()}), or load saved weights with load(model)"
            )
        if kind is not None and kind != name:
            raise ValueError(f"name {name!r} and kind {kind!r} disagree")
        return KINDS[name].build({"architecture": config}).to(device or "cpu")
    if not is_shipped(name):
        raise ValueError(f"unknown model {name!r}: a kind ({tuple(KINDS)}) or {_known_names()}")
    if config:
        raise ValueError(f"{name!r} has a fixed architecture; config {sorted(config)} not allowed")
    meta = read_description(name, kind)
    if pretrained:
        return load(name, kind=kind, device=device)
    return KINDS[meta["kind"]].build(meta).to(device or "cpu")


def save_model(
    folder: PathLike,
    model: nn.Module,
    kind: str | None = None,
    *,
    step: int | None = None,
    run_config: dict | None = None,
    extra: dict | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``folder``, each atomically;
    ``model.json`` records the SHA-256 of the weights file (``safetensors_sha256``).

    The one writer of model files: training runs, checkpoints, ``relcon finetune`` and the export of the shipped model all call it.

    Args:
        folder: created if missing.
        model: a model of one of the :data:`KINDS`.
        kind: its kind (default: from its class); an error if it does not match the model.
        step: training step (models of training runs: 0 if not given).
        run_config: the run's resolved configuration, stored as ``config``.
        extra: more fields of ``model.json`` (users trained on, method, fine-tuning record ...).
        dtype: store floating-point tensors in this dtype (e.g. ``torch.float16``).

    Returns:
        ``folder``.
    """
    from safetensors.torch import save_file

    from relcon.io import atomic_path, atomic_write_json, environment_info

    held = _kind_of(model)
    if kind is not None and kind != held:
        _kind(kind)
        raise ValueError(f"cannot save a {type(model).__name__} as a {kind!r} model")
    spec = KINDS[held]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous().clone()
    meta: dict[str, Any] = {"kind": held, **spec.describe(model)}
    if step is not None or spec.run_fields:
        meta["step"] = int(step or 0)
    if run_config is not None or spec.run_fields:
        meta["config"] = run_config or {}
    meta.update(_to_dict(extra or {}))
    meta["environment"] = environment_info()
    header = {"kind": held, **({"step": str(meta["step"])} if "step" in meta else {})}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata=header)
        meta[CHECKSUM] = _sha256(tmp.read_bytes())  # the bytes written, hashed before the rename
    atomic_write_json(folder / DESCRIPTION, meta)
    return folder
