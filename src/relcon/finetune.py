"""Supervised training of an encoder and a head on labelled windows.

One function, :func:`finetune`, serves three evaluation protocols:

* **supervised from scratch** -- ``encoder=None``: a randomly initialised
  :class:`~relcon.models.encoder.ResNet1DEncoder` and the head are trained together;
* **full fine-tuning** -- ``encoder=`` a pretrained encoder (e.g. from
  ``relcon.checkpoint.load_model(run, kind="encoder")``): both are trained, the encoder with a
  smaller learning rate (``lr / 10`` unless ``encoder_lr`` says otherwise);
* **frozen encoder + head** -- ``freeze_encoder=True``: only the head (linear, or an MLP with
  ``head_hidden > 0``) is trained; the encoder's weights and batch-norm statistics never change.

Early stopping uses *subjects*: ``val_fraction`` of the training subjects (never single windows of
a subject) are held out, training stops after ``patience`` epochs without a lower validation loss,
and the weights of the best epoch are restored.

Classification uses plain (unweighted) cross-entropy by default, the same objective as the linear
probe of :mod:`relcon.evaluation` (an unweighted logistic regression), so the protocols differ
only in what is trained; ``class_weighted=True`` weights classes by inverse frequency instead.
Class codes may be any integers (e.g. ``{0, 1, 2, 12}``): they are mapped to ``0..K-1`` inside
and back on :meth:`FinetunedModel.predict`. Regression standardises the target with the mean and
standard deviation of the training windows and minimises the mean squared error.

Usage::

    from relcon.checkpoint import load_model
    from relcon.finetune import FinetuneConfig, finetune
    encoder, _ = load_model("runs/relcon", kind="encoder")
    model = finetune(x, y, subjects, task_type="classification", n_classes=None,
                     encoder=encoder, cfg=FinetuneConfig(epochs=20))
    y_hat = model.predict(x_test)          # class codes, as in y
    model.save("runs/finetuned")           # FinetunedModel.load("runs/finetuned")
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from relcon.augmentations import random_augment
from relcon.config import FinetuneConfig
from relcon.models.encoder import WINDOW, EncoderConfig, ResNet1DEncoder
from relcon.runs import pick_device, seed_everything

__all__ = [
    "FINETUNE_AUGMENTATIONS",
    "TASK_TYPES",
    "FinetuneConfig",
    "FinetunedModel",
    "finetune",
    "split_subjects",
]

TASK_TYPES = ("classification", "regression")
#: Augmentations for ``augment=True``: one of these per training window. They keep the label of a
#: motion; rotations, flips and shuffles are left out because they can change it (posture is
#: read from the direction of gravity, stairs up vs down from the direction of time).
FINETUNE_AUGMENTATIONS = ("noise", "scale", "time_warp")


def split_subjects(
    groups: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split windows into training and validation *by subject*.

    ``round(val_fraction * n_subjects)`` subjects (at least one when ``val_fraction > 0``, and
    never all of them) go to validation. With a single subject or ``val_fraction == 0`` the
    validation set is empty.

    Args:
        groups: ``(N,)`` subject id of every window.
        val_fraction: share of the subjects held out.
        seed: which subjects are drawn.

    Returns:
        ``(fit, val)``: sorted window indices; no subject has windows in both.

    Example:
        >>> fit, val = split_subjects(np.repeat(["a", "b", "c", "d", "e"], 3), 0.2)
        >>> len(fit), len(val)
        (12, 3)
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = np.asarray(groups)
    subjects = np.unique(groups)
    n_val = 0 if val_fraction == 0 else max(1, round(val_fraction * len(subjects)))
    n_val = min(n_val, len(subjects) - 1)
    val_subjects = np.random.default_rng(seed).permutation(subjects)[:n_val]
    is_val = np.isin(groups, val_subjects)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _make_head(embed_dim: int, n_outputs: int, hidden: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(embed_dim, n_outputs)
    return nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))


class FinetunedModel(nn.Module):
    """An encoder with a classification or regression head, and what turns outputs into labels.

    Shapes:
        - ``forward(x (B, 3, T)) -> (B, K)`` logits, or ``(B, 1)`` standardised values
          (channels first, as :meth:`ResNet1DEncoder.forward`);
        - ``predict(x (N, 256, 3)) -> (N,)`` numpy class codes (as given to :func:`finetune`)
          or values in the target's units;
        - ``predict_proba(x (N, 256, 3)) -> (N, K)`` class probabilities, columns in the order
          of :attr:`classes`.

    Args:
        encoder: the encoder (used as is, not copied).
        task_type: ``"classification"`` or ``"regression"``.
        classes: ``(K,)`` class codes; output ``k`` stands for ``classes[k]`` (classification).
        target_mean, target_std: the regression target is ``mean + std * output``.
        head_hidden: 0 for a linear head, else the width of its hidden layer.
        info: free-form provenance saved with the model (config, history, subjects, ...).

    Example:
        >>> m = FinetunedModel(ResNet1DEncoder(), task_type="classification", classes=[0, 3, 7])
        >>> m.predict(np.zeros((2, 256, 3), dtype=np.float32)).shape
        (2,)
    """

    def __init__(
        self,
        encoder: ResNet1DEncoder,
        *,
        task_type: str,
        classes: np.ndarray | list | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        head_hidden: int = 0,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
        if task_type == "classification":
            if classes is None or len(classes) < 2:
                raise ValueError("classification needs at least 2 classes")
            self.classes: np.ndarray | None = np.asarray(classes)
            n_outputs = len(self.classes)
        else:
            self.classes = None
            n_outputs = 1
        self.task_type = task_type
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.head_hidden = int(head_hidden)
        self.info: dict[str, Any] = dict(info or {})
        self.encoder = encoder
        self.head = _make_head(encoder.embed_dim, n_outputs, self.head_hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))

    @torch.no_grad()
    def outputs(self, x: np.ndarray | Tensor, batch_size: int = 512) -> np.ndarray:
        """Raw outputs ``(N, K)`` (logits, or standardised values) for windows ``(N, 256, 3)``."""
        if x.ndim != 3 or x.shape[1] < WINDOW or x.shape[2] != self.encoder.config.in_channels:
            raise ValueError(
                f"expected (N, T >= {WINDOW}, {self.encoder.config.in_channels}) windows, got "
                f"{tuple(x.shape)}"
            )
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            parts = [
                self(torch.as_tensor(np.asarray(x[s : s + batch_size]), dtype=torch.float32)
                     .to(device).transpose(1, 2)).float().cpu().numpy()
                for s in range(0, len(x), batch_size)
            ]  # fmt: skip
        finally:
            self.train(was_training)
        return np.concatenate(parts) if parts else np.zeros((0, self.head_out), np.float32)

    @property
    def head_out(self) -> int:
        return 1 if self.classes is None else len(self.classes)

    def predict(self, x: np.ndarray | Tensor, batch_size: int = 512) -> np.ndarray:
        """Class codes (classification) or target values (regression) for ``(N, 256, 3)``."""
        out = self.outputs(x, batch_size)
        if self.classes is not None:
            return self.classes[out.argmax(axis=1)]
        return self.target_mean + self.target_std * out[:, 0].astype(np.float64)

    def predict_proba(self, x: np.ndarray | Tensor, batch_size: int = 512) -> np.ndarray:
        """``(N, K)`` class probabilities (classification only)."""
        if self.classes is None:
            raise ValueError("predict_proba is only defined for classification")
        return torch.softmax(torch.from_numpy(self.outputs(x, batch_size)), dim=1).numpy()

    # ---- files --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into ``folder``, each atomically."""
        from safetensors.torch import save_file

        from relcon.config import to_dict
        from relcon.io import atomic_path, atomic_write_json, environment_info

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()}
        meta = {
            "kind": "finetuned",
            "task_type": self.task_type,
            "classes": None if self.classes is None else self.classes.tolist(),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "architecture": {
                "encoder": to_dict(self.encoder.config),
                "head_hidden": self.head_hidden,
                "n_outputs": self.head_out,
            },
            **to_dict(self.info),
            "environment": environment_info(),
        }
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"kind": "finetuned"})
        atomic_write_json(folder / "model.json", meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> FinetunedModel:
        """Read a model written by :meth:`save`, in eval mode on ``device``."""
        from safetensors.torch import load_file

        folder = Path(folder)
        desc, weights = folder / "model.json", folder / "model.safetensors"
        if not desc.is_file() or not weights.is_file():
            raise FileNotFoundError(f"{folder}: needs model.json and model.safetensors")
        meta = json.loads(desc.read_text())
        if meta.get("kind") != "finetuned":
            raise ValueError(f"{desc}: holds a {meta.get('kind')!r} model, expected 'finetuned'")
        arch = meta["architecture"]
        skip = {"kind", "task_type", "classes", "target_mean", "target_std", "architecture"}
        model = cls(
            ResNet1DEncoder(EncoderConfig(**arch["encoder"])),
            task_type=meta["task_type"],
            classes=meta["classes"],
            target_mean=meta["target_mean"],
            target_std=meta["target_std"],
            head_hidden=arch["head_hidden"],
            info={k: v for k, v in meta.items() if k not in skip and k != "environment"},
        )
        model.load_state_dict(load_file(str(weights)), strict=True)
        return model.to(device).eval()


def _class_codes(y: np.ndarray, n_classes: int | None) -> np.ndarray:
    """The classes the model has outputs for: ``0..n_classes-1`` if all codes fit in it (so a
    class missing from the training data keeps its output), else the codes present."""
    present = np.unique(y)
    if n_classes is None:
        return present
    if (
        np.issubdtype(present.dtype, np.integer)
        and present.min() >= 0
        and present.max() < n_classes
    ):
        return np.arange(n_classes, dtype=present.dtype)
    if len(present) == n_classes:
        return present
    raise ValueError(
        f"n_classes={n_classes} does not fit the {len(present)} class codes {present.tolist()[:20]}"
    )


def finetune(
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    *,
    task_type: str,
    n_classes: int | None = None,
    encoder: ResNet1DEncoder | None = None,
    encoder_config: EncoderConfig | None = None,
    cfg: FinetuneConfig | None = None,
    progress: bool = False,
) -> FinetunedModel:
    """Train an encoder and a head on labelled windows, with early stopping on held-out subjects.

    Args:
        x_train: ``(N, 256, 3)`` windows in g at 100 Hz.
        y_train: ``(N,)`` class codes (any integers) or regression targets.
        groups_train: ``(N,)`` subject of every window (the validation split is by subject).
        task_type: ``"classification"`` or ``"regression"``.
        n_classes: classification only, optional: with codes in ``0..n_classes-1`` the model
            gets an output for every one of them, even classes absent from ``y_train``.
        encoder: a pretrained encoder to start from (copied; the caller's is never changed).
            ``None`` trains from a random initialisation.
        encoder_config: architecture of the random encoder (default: the paper's). With
            ``encoder`` it may be given too, but must then equal ``encoder.config``.
        cfg: hyperparameters (default :class:`FinetuneConfig`).
        progress: show a tqdm bar over epochs.

    Returns:
        The :class:`FinetunedModel` with the best epoch's weights, in eval mode, on the device
        it was trained on. ``model.info`` records the configuration, per-epoch losses, best
        epoch and the training/validation subjects.
    """
    cfg = cfg or FinetuneConfig()
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if encoder is not None and encoder_config is not None and encoder_config != encoder.config:
        raise ValueError(
            f"encoder_config {encoder_config} does not match the given encoder's {encoder.config}; "
            "give either a pretrained encoder or the architecture of a random one"
        )
    x = np.asarray(x_train, dtype=np.float32)
    y = np.asarray(y_train)
    groups = np.asarray(groups_train).astype(str)
    if x.ndim != 3 or x.shape[1] < WINDOW or x.shape[2] != 3:
        raise ValueError(f"x_train must be (N, T >= {WINDOW}, 3), got {x.shape}")
    if y.shape != (len(x),) or groups.shape != (len(x),):
        raise ValueError(f"y_train {y.shape} and groups_train {groups.shape} must be ({len(x)},)")
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    # ---- data: optional cap, subject-wise validation split, targets --------------------
    if cfg.max_train_windows is not None and len(x) > cfg.max_train_windows:
        keep = np.sort(rng.choice(len(x), cfg.max_train_windows, replace=False))
        x, y, groups = x[keep], y[keep], groups[keep]
    fit, val = split_subjects(groups, cfg.val_fraction, cfg.seed)
    classes, mean, std, class_weight = None, 0.0, 1.0, None
    if task_type == "classification":
        classes = _class_codes(y, n_classes)
        target = torch.from_numpy(np.searchsorted(classes, y).astype(np.int64))
        if cfg.class_weighted:
            counts = np.bincount(target[fit].numpy(), minlength=len(classes)).astype(np.float64)
            w = np.where(counts > 0, counts.sum() / (len(classes) * np.maximum(counts, 1)), 0.0)
            class_weight = torch.tensor(w, dtype=torch.float32, device=device)
    else:
        yf = y.astype(np.float64)
        mean, std = float(yf[fit].mean()), float(yf[fit].std())
        std = std if std > 0 else 1.0
        target = torch.from_numpy(((yf - mean) / std).astype(np.float32))

    def criterion(out: Tensor, t: Tensor) -> Tensor:
        if task_type == "classification":
            return F.cross_entropy(out, t, weight=class_weight)
        return F.mse_loss(out[:, 0], t)

    # ---- model and optimiser ------------------------------------------------------------
    pretrained = encoder is not None
    enc = copy.deepcopy(encoder) if pretrained else ResNet1DEncoder(encoder_config)
    model = FinetunedModel(
        enc, task_type=task_type, classes=classes, target_mean=mean, target_std=std,
        head_hidden=cfg.head_hidden,
    ).to(device)  # fmt: skip
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
        param_groups = [{"params": model.head.parameters(), "lr": cfg.lr}]
    else:
        encoder_lr = cfg.encoder_lr
        if encoder_lr is None:
            encoder_lr = cfg.lr / 10 if pretrained else cfg.lr
        param_groups = [
            {"params": model.encoder.parameters(), "lr": encoder_lr},
            {"params": model.head.parameters(), "lr": cfg.lr},
        ]
    optimizer = torch.optim.AdamW(param_groups, weight_decay=cfg.weight_decay)

    # A frozen encoder without augmentation gives every window the same embedding each epoch:
    # embed once and train the head on the embeddings.
    cached = cfg.freeze_encoder and not cfg.augment
    inputs = torch.from_numpy(model.encoder.embed(x, device=device) if cached else x)

    def forward(xb: Tensor) -> Tensor:
        if cached:
            return model.head(xb)
        if cfg.freeze_encoder:
            with torch.no_grad():
                h = model.encoder(xb.transpose(1, 2))
            return model.head(h)
        return model(xb.transpose(1, 2))

    @torch.no_grad()
    def validation_loss() -> float:
        model.eval()
        total = 0.0
        for s in range(0, len(val), 512):
            idx = val[s : s + 512]
            out = forward(inputs[idx].to(device))
            total += criterion(out, target[idx].to(device)).item() * len(idx)
        return total / len(val)

    # ---- epochs with early stopping -----------------------------------------------------
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, waited = float("inf"), -1, None, 0
    bar = tqdm(range(cfg.epochs), desc="finetune", disable=not progress, unit="epoch")
    for epoch in bar:
        model.train()
        if cfg.freeze_encoder:
            model.encoder.eval()  # keep the batch-norm statistics frozen too
        order = np.random.default_rng([cfg.seed, epoch]).permutation(fit)
        g = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch)
        total, seen = 0.0, 0
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm cannot train on a single window
            xb = inputs[idx].to(device)
            if cfg.augment:
                xb = random_augment(xb, n=1, g=g, names=FINETUNE_AUGMENTATIONS)
            loss = criterion(forward(xb), target[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        row = {"epoch": epoch, "train_loss": total / max(seen, 1)}
        if len(val):
            row["val_loss"] = validation_loss()
        history.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "epoch"})

        current = row.get("val_loss", -float(epoch))  # no validation subjects: keep the last
        if current < best_loss:
            best_loss, best_epoch, waited = current, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if len(val) and waited >= cfg.patience:
                break
    bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    from relcon.config import to_dict

    model.info = {
        "config": to_dict(cfg),
        "pretrained_encoder": pretrained,
        "best_epoch": best_epoch,
        "history": history,
        "n_train_windows": len(fit),
        "n_val_windows": len(val),
        "train_subjects": sorted(set(groups[fit].tolist())),
        "val_subjects": sorted(set(groups[val].tolist())),
    }
    return model.eval()
