"""The RelCon motion encoder: a 1-D ResNet that maps a 2.56 s window to a 256-d vector."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "POOLINGS",
    "PRECISIONS",
    "EncoderConfig",
    "ModelOutputError",
    "ResNet1DEncoder",
    "check_pooling",
    "cpu_has_bf16",
    "resolve_precision",
    "run_windows",
]

WINDOW = 256  # samples per segment: 2.56 s at 100 Hz

#: The values of ``precision``, in training and inference alike (:func:`resolve_precision`).
PRECISIONS = ("auto", "fp32", "bf16")

#: What an embedding pools (:meth:`ResNet1DEncoder.embed`): ``"last"`` (the paper's: the
#: time-average of the last stage, ``embed_dim`` values) or ``"stages"`` (the time-averages of
#: every stage's output side by side, ``sum(stage_filters)`` values: 448 for the full-size model).
POOLINGS = ("last", "stages")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 is fast on it."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``"fp32"`` or ``"bf16"`` for ``precision`` on ``device``.

    ``"auto"`` is ``"bf16"`` where the device computes bf16 natively (a CUDA GPU that supports
    it; a CPU with AVX512-BF16 or AMX, :func:`cpu_has_bf16`) and ``"fp32"`` elsewhere;
    ``"fp32"`` and ``"bf16"`` are kept as given.

    >>> resolve_precision("fp32", "cpu"), resolve_precision("bf16", "cpu")
    ('fp32', 'bf16')
    >>> resolve_precision("auto", "cpu") == ("bf16" if cpu_has_bf16() else "fp32")
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        dev = torch.device(device)
        if dev.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if dev.type == "cpu" and cpu_has_bf16() else "fp32"
    return precision


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return device


def _autocast(precision: str, device: torch.device):
    """bf16 autocast on ``device`` for ``"bf16"``; nothing for ``"fp32"``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ModelOutputError(ValueError):
    """A model produced NaN or infinite outputs from finite inputs: the model is broken (its
    weights, or a diverged training run), not the input, so no other input file would fare
    better (a batch run stops instead of leaving the file out)."""


@dataclass
class EncoderConfig:
    """Architecture of :class:`ResNet1DEncoder`. Defaults give the paper's ~3.6M-parameter model."""

    in_channels: int = 3  # input channels (x, y, z)
    stem_filters: int = 64  # filters of the first convolution
    stem_kernel: int = 7  # kernel of the first convolution, samples
    stem_stride: int = 2  # stride of the first convolution
    pool_kernel: int = 3  # kernel of the max pooling after the stem
    pool_stride: int = 2  # stride of that max pooling
    #: residual blocks per stage (its length is the number of stages)
    stage_blocks: tuple[int, ...] = (3, 4, 6)
    #: filters per stage; the last is the embedding size
    stage_filters: tuple[int, ...] = (64, 128, 256)
    stage_kernels: tuple[int, ...] = (3, 4, 4)  # convolution kernel per stage

    def __post_init__(self) -> None:
        self.stage_blocks = tuple(int(v) for v in self.stage_blocks)
        self.stage_filters = tuple(int(v) for v in self.stage_filters)
        self.stage_kernels = tuple(int(v) for v in self.stage_kernels)
        if not (len(self.stage_blocks) == len(self.stage_filters) == len(self.stage_kernels)):
            raise ValueError(
                "stage_blocks, stage_filters and stage_kernels must have the same length, got "
                f"{self.stage_blocks}, {self.stage_filters}, {self.stage_kernels}"
            )

    @property
    def embed_dim(self) -> int:
        return self.stage_filters[-1]


class SameConv1d(nn.Conv1d):
    """Stride-1 convolution that keeps the length, also for even kernels.

    For an even kernel the extra zero goes on the right (what ``padding="same"`` does), padded
    explicitly so PyTorch does not warn on every call.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__(in_ch, out_ch, kernel, padding=0)
        self.pad = ((kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))


class PreActBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(relu(bn(conv(relu(bn(x))))))``.

    A 1x1 convolution projects the shortcut when the number of channels changes.
    Shapes: ``(B, in_ch, L) -> (B, out_ch, L)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(in_ch)
        self.conv1 = SameConv1d(in_ch, out_ch, kernel)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.conv2 = SameConv1d(out_ch, out_ch, kernel)
        self.shortcut = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(torch.relu(self.bn1(x)))
        h = self.conv2(torch.relu(self.bn2(h)))
        return h + self.shortcut(x)


class ResNet1DEncoder(nn.Module):
    """1-D ResNet encoder used by RelCon (Xu et al., ICLR 2025).

    Stem: ``Conv1d(3, 64, 7, stride 2)`` -> BatchNorm -> ReLU -> ``MaxPool1d(3, stride 2)``; then
    stages of 3, 4 and 6 pre-activation residual blocks with 64, 128 and 256 filters (kernels 3,
    4, 4); global average pooling over time. About 3.6M parameters at the default size.

    Shapes:
        - ``forward(x (B, T, 3)) -> (B, 256)`` (channels last, the package's one layout; the
          convolutions get it channels first inside)
        - ``embed(x (N, T, 3) array or tensor) -> (N, 256) numpy array`` (batched, no gradient,
          eval mode)

    Example:
        >>> enc = ResNet1DEncoder()
        >>> enc(torch.randn(2, 256, 3)).shape
        torch.Size([2, 256])
        >>> enc.embed(np.zeros((5, 256, 3), dtype=np.float32)).shape
        (5, 256)
    """

    def __init__(self, config: EncoderConfig | None = None, **overrides) -> None:
        super().__init__()
        if config is None:
            config = EncoderConfig(**overrides)
        elif overrides:
            config = EncoderConfig(**{**asdict(config), **overrides})
        self.config = config
        c = config
        self.stem = nn.Sequential(
            nn.Conv1d(c.in_channels, c.stem_filters, c.stem_kernel, stride=c.stem_stride),
            nn.BatchNorm1d(c.stem_filters),
            nn.ReLU(),
            nn.MaxPool1d(c.pool_kernel, stride=c.pool_stride),
        )
        blocks: list[nn.Module] = []
        in_ch = c.stem_filters
        for n, filters, kernel in zip(
            c.stage_blocks, c.stage_filters, c.stage_kernels, strict=True
        ):
            for _ in range(n):
                blocks.append(PreActBlock(in_ch, filters, kernel))
                in_ch = filters
        self.blocks = nn.Sequential(*blocks)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T, 3)`` in g -> ``(B, embed_dim)``."""
        self._check_windows(x, "forward")
        return self.blocks(self.stem(x.transpose(1, 2))).mean(dim=-1)

    def _check_windows(self, x: Tensor, where: str) -> None:
        c = self.config.in_channels
        if x.ndim != 3 or x.shape[-1] != c:
            hint = (
                " (channels first? transpose it: x.transpose(1, 2))"
                if x.ndim == 3 and x.shape[1] == c
                else ""
            )
            raise ValueError(
                f"ResNet1DEncoder.{where} expects (B, T, {c}) windows (channels last), got "
                f"{tuple(x.shape)}{hint}"
            )

    def pooled_dim(self, pooling: str = "last") -> int:
        """Values per window of an embedding pooled as ``pooling`` (:data:`POOLINGS`)."""
        check_pooling(pooling)
        return self.embed_dim if pooling == "last" else sum(self.config.stage_filters)

    def stage_means(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T, 3)`` -> ``(B, sum(stage_filters))``: the time-average of each stage's
        output, first stage first (its last ``embed_dim`` values are :meth:`forward`'s)."""
        self._check_windows(x, "stage_means")
        ends = set(np.cumsum(self.config.stage_blocks).tolist())
        h = self.stem(x.transpose(1, 2))
        means = []
        for i, block in enumerate(self.blocks, start=1):
            h = block(h)
            if i in ends:
                means.append(h.mean(dim=-1))
        return torch.cat(means, dim=1)

    @torch.no_grad()
    def embed(
        self,
        x: np.ndarray | Tensor,
        batch_size: int = 512,
        device: str | torch.device | None = None,
        progress: bool = False,
        allow_longer: bool = False,
        precision: str = "fp32",
        pooling: str = "last",
    ) -> np.ndarray:
        """Embed windows of acceleration.

        Args:
            x: ``(N, 256, 3)`` acceleration in g at 100 Hz (float), channels last.
            batch_size: windows per forward pass.
            device: where to run; defaults to the device the weights are on.
            progress: show a progress bar (:func:`relcon.progress.progress_bar`).
            allow_longer: accept windows longer than 256 samples (e.g. 10 s benchmarks); the
                encoder is fully convolutional and pools over time, so it embeds them whole.
            precision: ``"fp32"`` (default): plain float32. ``"auto"``: bf16 autocast where
                the device computes bf16 natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU
                that supports bf16), fp32 everywhere else;
                ``"bf16"``: bf16 autocast on any device (:func:`resolve_precision`). The weights
                stay float32 and the output is float32 in every case. bf16 is about 1.7x faster
                on such a CPU, but moves embeddings by about 1 % (relative), enough to move a
                linear probe's macro-F1 by up to 0.01 (``benchmarks/README.md``), so it is
                opt-in.
            pooling: ``"last"`` (default, the paper's embedding: the time-average of the last
                stage) or ``"stages"`` (the time-averages of every stage side by side,
                :meth:`stage_means`; with 5 or 10 labels per class it transferred better in
                ``docs/payoff.md``, section 7).

        Returns:
            ``(N, pooled_dim(pooling))`` float32 numpy array (``embed_dim`` for ``"last"``).
        """
        if x.ndim != 3 or x.shape[-1] != self.config.in_channels:
            raise ValueError(
                f"embed() expects (N, {WINDOW}, {self.config.in_channels}) windows (channels "
                f"last), got shape {tuple(x.shape)}"
            )
        if x.shape[1] != WINDOW and not (allow_longer and x.shape[1] > WINDOW):
            raise ValueError(
                f"embed() expects windows of {WINDOW} samples (2.56 s at 100 Hz), got "
                f"{x.shape[1]}; resample and cut with relcon.data first"
            )
        dim = self.pooled_dim(pooling)
        # the wrapper in the encoder's own mode, which run_windows restores after
        module = self if pooling == "last" else _StageMeans(self).train(self.training)
        return run_windows(
            module, x, dim, batch_size, device, precision, progress=progress,
            check_finite="embed()", name=getattr(self, "loaded_from", None),
        )  # fmt: skip


def check_pooling(pooling: str, spelled: str | None = None) -> None:
    """Refuse a ``pooling`` not in :data:`POOLINGS`: a :class:`ValueError` naming the setting as
    ``spelled`` (default ``pooling='max'``; the apps pass the user's spelling, ``--pooling
    max`` under ``relcon``) and the choices. The one rule every entry point applies."""
    if pooling not in POOLINGS:
        shown = f"pooling={pooling!r}" if spelled is None else spelled
        raise ValueError(f"unknown {shown}: choose one of {', '.join(POOLINGS)}")


class _StageMeans(nn.Module):
    """An encoder whose forward is its :meth:`~ResNet1DEncoder.stage_means` (for
    :func:`run_windows`)."""

    def __init__(self, encoder: ResNet1DEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder.stage_means(x)


@torch.no_grad()
def run_windows(
    module: nn.Module,
    x: np.ndarray | Tensor,
    out_dim: int,
    batch_size: int,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    *,
    progress: bool = False,
    check_finite: str | None = None,
    name: str | None = None,
) -> np.ndarray:
    """``module``'s float32 outputs ``(N, out_dim)`` for windows ``x`` ``(N, T, C)`` (channels
    last, as the module takes them), ``batch_size`` at a time, in eval mode (its
    training mode is restored after) and under ``precision`` (:func:`resolve_precision`) on
    ``device`` (default: where its weights are; a device given moves the module there too, and
    it stays there: the model and the data move together). What :meth:`ResNet1DEncoder.embed` and
    :meth:`relcon.models.FinetunedModel.outputs` run. ``check_finite``: the caller's name, to
    refuse a batch holding NaN or infinity with a message naming the windows.

    Outputs are always checked: a NaN or infinite output is a ValueError naming the model
    (``name``, else where :func:`relcon.load` read it from, else its class) and the windows, and
    saying whether their inputs were finite (then the model itself is broken: damaged weights,
    or a training run that diverged), never a table of NaN."""
    device = torch.device(device if device is not None else next(module.parameters()).device)
    module.to(device)
    precision = resolve_precision(precision, device)
    was_training = module.training
    module.eval()
    out = np.empty((x.shape[0], out_dim), dtype=np.float32)
    from relcon.progress import progress_bar

    starts = progress_bar(
        range(0, x.shape[0], batch_size), desc="embed", unit="batch", enabled=progress
    )
    try:
        for s in starts:
            xb = torch.as_tensor(np.asarray(x[s : s + batch_size]), dtype=torch.float32)
            if check_finite and not torch.isfinite(xb).all():
                raise ValueError(f"{check_finite}: non-finite values in windows {s}..{s + len(xb)}")
            xb = xb.to(device)
            with _autocast(precision, device):
                z = module(xb)
            z = z.float().cpu()
            bad = ~torch.isfinite(z).all(dim=1)
            if bad.any():
                raise _non_finite_error(module, name, xb, bad, s, x.shape[0])
            out[s : s + len(xb)] = z.numpy()
    finally:
        starts.close()
        module.train(was_training)
    return out


def _non_finite_error(
    module: nn.Module, name: str | None, xb: Tensor, bad: Tensor, start: int, n: int
) -> ValueError:
    """What :func:`run_windows` raises when ``module`` gave NaN/inf for the ``bad`` rows of a
    batch: :class:`ModelOutputError` if their inputs were finite, else a ValueError."""
    who = name or getattr(module, "loaded_from", None) or f"this {type(module).__name__}"
    rows = torch.nonzero(bad).flatten()
    first, last = start + int(rows[0]), start + int(rows[-1])
    where = f"windows {first}..{last} ({len(rows)} of the {len(bad)} in this batch; {n} in all)"
    if not bool(torch.isfinite(xb[rows.to(xb.device)]).all()):
        return ValueError(
            f"the model {who} produced NaN or infinite outputs for {where}: their input holds "
            "NaN or infinity; clean the input"
        )
    return ModelOutputError(
        f"the model {who} produced NaN or infinite outputs for {where}, although the inputs "
        "were finite: the model itself is broken (damaged weights, or a training run that "
        "diverged); use another model or a good copy of this one"
    )
