"""The learnable motif distance of RelCon.

RelCon (Xu et al., "RelCon: Relative Contrastive Learning for a Motion Foundation Model for
Wearable Data", ICLR 2025, arXiv:2411.18822) measures how similar a *candidate* window is to an
*anchor* window by how well the anchor can be rebuilt from pieces (motifs) of the candidate. A
cross-attention model does the rebuilding: queries come from the anchor, keys and values from the
candidate, and the attention is sparse (sparsemax), so each anchor time step copies a few candidate
time steps. The distance is the squared error of the reconstruction. Trained to rebuild a window
from an augmented copy of itself (rotations, scaling, ...), it learns which transformations leave
the meaning of a motion unchanged.

Differences from the public reference implementation, on purpose:

* the attention is sparsemax in ``train()`` **and** ``eval()`` (the reference silently falls back
  to softmax when it is not training, i.e. exactly when distances are computed);
* candidate key/value features are computed once per distinct candidate when one anchor is scored
  against many candidates (:meth:`MotifDistance.score`), and memory is bounded by chunking.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ORIENTATIONS",
    "MotifDistance",
    "MotifDistanceConfig",
    "canonical_orientation",
    "set_sparsemax_backend",
    "sparsemax",
]

#: How :class:`MotifDistance` treats the device's orientation (``MotifDistanceConfig.orientation``).
ORIENTATIONS = ("none", "canonical")


# --------------------------------------------------------------------------------------------
# sparsemax
# --------------------------------------------------------------------------------------------
def _michelot(z: Tensor, tau: Tensor, n_steps: int) -> tuple[Tensor, Tensor]:
    """``n_steps`` Michelot updates of the threshold ``tau`` (``(R, 1)``) of rows ``z`` (``(R, T)``).

    Returns the new ``tau`` and, per row, whether its support was unchanged by the last update
    (then ``tau`` is exact).
    """
    count = torch.full_like(tau, -1.0)
    new_count = count
    for _ in range(n_steps):
        mask = z > tau
        count, new_count = new_count, mask.sum(dim=-1, keepdim=True).to(z.dtype)
        tau = (torch.where(mask, z, 0).sum(dim=-1, keepdim=True) - 1) / new_count
    return tau, new_count == count


# A fused (torch.compile) version of a fixed number of Michelot steps. On the CPU it runs each
# pass as one vectorised loop instead of several memory-bound PyTorch ops: ~15x faster. Enabled
# with set_sparsemax_backend("compiled"); rows that have not converged after the fused steps
# continue in the exact eager loop, so results are identical either way.
_FUSED_STEPS = 8
_backend: dict = {"mode": "eager", "fn": None}


def set_sparsemax_backend(mode: str) -> None:
    """``"eager"`` (default) or ``"compiled"``.

    ``"compiled"`` uses ``torch.compile`` (compiling on first use) for sparsemax and, when
    scoring candidates without gradients (:meth:`MotifDistance.score`), for the whole
    reconstruction of a chunk of pairs: about 5x faster on the CPU. Results equal the eager ones
    up to rounding; rows whose sparsemax needs more than the fused number of steps are redone
    exactly. Where compiling fails (e.g. no C++ compiler) sparsemax falls back to eager with a
    warning.
    """
    if mode not in ("eager", "compiled"):
        raise ValueError(f"sparsemax backend must be 'eager' or 'compiled', got {mode!r}")
    _backend["mode"] = mode
    if mode == "compiled" and _backend["fn"] is None:
        _backend["fn"] = torch.compile(_michelot, dynamic=False)


def _compile_failed(error: Exception) -> None:
    """Switch to the eager backend, with one warning, when compiling fails (e.g. no compiler)."""
    import warnings

    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    warnings.warn(
        f"compiled scoring unavailable ({type(error).__name__}: {first_line}); using the exact "
        "eager path (same results, slower)",
        stacklevel=3,
    )
    _backend["mode"] = "eager"


def _sparsemax_threshold(z: Tensor) -> Tensor:
    """Threshold ``tau`` of sparsemax along the last dim, so that ``sum(relu(z - tau)) = 1``.

    Michelot's fixed-point algorithm: start from ``max(z) - 1`` (a lower bound of ``tau``, so the
    candidate support is a superset of the true one), then repeatedly set
    ``tau = (sum_{z_i > tau} z_i - 1) / |{z_i > tau}|``. ``tau`` only grows and the support only
    shrinks, and the iteration stops, exactly, when the support no longer changes. In practice
    that takes a handful of passes, which is several times cheaper than the textbook sort.
    """
    tau = z.amax(dim=-1, keepdim=True) - 1
    if _backend["mode"] == "compiled":
        try:
            tau, done = _backend["fn"](z, tau, _FUSED_STEPS)
        except Exception as e:  # no compiler, unsupported platform: stay correct, just slower
            _compile_failed(e)
            done = torch.zeros_like(tau, dtype=torch.bool)
        if bool(done.all()):
            return tau
        rows = torch.nonzero(~done[:, 0]).flatten()
        tau = tau.clone()
        tau[rows] = _sparsemax_threshold_eager(z[rows], tau[rows])
        return tau
    return _sparsemax_threshold_eager(z, tau)


def _sparsemax_threshold_eager(z: Tensor, tau: Tensor) -> Tensor:
    """Michelot's iteration from the lower bound ``tau`` until no row's support changes."""
    for _ in range(z.shape[-1] + 1):
        tau, done = _michelot(z, tau, 2)
        if bool(done.all()):
            break
    return tau


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, dim: int, chunk_elements: int) -> Tensor:  # type: ignore[override]
        zt = z.transpose(dim, -1)
        shape = zt.shape
        flat = zt.reshape(-1, shape[-1])
        if flat.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()  # the threshold in at least fp32, also under autocast
        # On the CPU the fixed-point passes are memory bound: work on blocks of rows that stay
        # in cache. On accelerators much larger blocks are fastest. The compiled backend pads the
        # last block, so every call sees one static shape.
        budget = chunk_elements if chunk_elements else (1 << 27 if flat.is_cuda else 1 << 19)
        rows = max(1, budget // shape[-1])
        compiled = _backend["mode"] == "compiled"
        out = torch.empty_like(flat)
        for s in range(0, flat.shape[0], rows):
            block = flat[s : s + rows]
            n = block.shape[0]
            if compiled and n < rows:
                block = torch.cat([block, block.new_zeros(rows - n, block.shape[1])])
            out[s : s + n] = torch.clamp(block[:n] - _sparsemax_threshold(block)[:n], min=0)
        p = out.reshape(shape).transpose(dim, -1)
        ctx.save_for_backward(p)
        ctx.dim = dim
        return p

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (p,) = ctx.saved_tensors
        dim = ctx.dim
        nonzero = (p > 0).to(grad.dtype)
        v = (grad * nonzero).sum(dim=dim, keepdim=True) / nonzero.sum(dim=dim, keepdim=True)
        return nonzero * (grad - v), None, None


def sparsemax(z: Tensor, dim: int = -1, chunk_elements: int | None = None) -> Tensor:
    """Sparsemax: the Euclidean projection of ``z`` onto the probability simplex.

    Martins & Astudillo, "From Softmax to Sparsemax", ICML 2016. Like softmax it returns
    non-negative weights that sum to one along ``dim``, but most of them are exactly zero.

    Args:
        z: scores, any shape.
        dim: the dimension to normalise over.
        chunk_elements: rows are processed in blocks of about this many elements (default
            2**19 on the CPU, where cache-sized blocks are fastest, and 2**27 on GPUs).

    Returns:
        Tensor of the same shape as ``z``.

    Example:
        >>> p = sparsemax(torch.tensor([[2.0, 1.0, -1.0]]))
        >>> p
        tensor([[1., 0., 0.]])
    """
    return _Sparsemax.apply(z, dim, chunk_elements)


# --------------------------------------------------------------------------------------------
# orientation
# --------------------------------------------------------------------------------------------
def canonical_orientation(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Rotate every 3-axis window into a frame defined by the window itself.

    The frame's first axis is the window's mean acceleration (gravity, for a worn device), the
    second the main direction of movement perpendicular to it (the top principal axis of the
    centred samples projected onto the plane normal to the first axis, its sign chosen so that
    the third moment along it is positive), the third completes a right-handed frame. The
    result does not change when the window is rotated (``canonical_orientation(x @ R)`` equals
    ``canonical_orientation(x)`` for any rotation ``R``, up to rounding and to ties between
    principal axes), so a distance computed on it ignores how the device was worn. A reflection
    (e.g. negating every axis) is not a rotation and is not removed.

    Shapes: ``(N, T, 3) -> (N, T, 3)``. Computed in float32 (also under autocast).

    Example:
        >>> from relcon.data.augmentations import random_rotation_matrices
        >>> x = torch.randn(4, 256, 3) + torch.tensor([0.0, 0.0, 1.0])
        >>> r = random_rotation_matrices(4)
        >>> bool(torch.allclose(canonical_orientation(torch.bmm(x, r)), canonical_orientation(x), atol=1e-4))
        True
    """
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"canonical_orientation needs (N, T, 3) windows, got {tuple(x.shape)}")
    dtype = x.dtype
    with torch.autocast(x.device.type, enabled=False):
        xf = x.float()
        mean = xf.mean(dim=1)  # (N, 3)
        norm = mean.norm(dim=1, keepdim=True)
        centred = xf - mean[:, None, :]
        cov = centred.transpose(1, 2) @ centred / x.shape[1]  # (N, 3, 3)
        # first axis: the mean; where it vanishes, the top principal axis instead
        top = torch.linalg.eigh(cov)[1][..., -1]
        e1 = torch.where(norm > eps, mean / norm.clamp_min(eps), top)
        proj = torch.eye(3, device=x.device) - e1[:, :, None] * e1[:, None, :]
        plane = proj @ cov @ proj
        e2 = torch.linalg.eigh(plane)[1][..., -1]  # eigenvalue of e1 is 0: e2 lies in the plane
        e2 = e2 - (e2 * e1).sum(dim=1, keepdim=True) * e1
        e2 = e2 / e2.norm(dim=1, keepdim=True).clamp_min(eps)
        skew = ((centred @ e2[:, :, None]) ** 3).sum(dim=(1, 2))
        e2 = torch.where((skew < 0)[:, None], -e2, e2)
        e3 = torch.linalg.cross(e1, e2, dim=1)
        frame = torch.stack([e1, e2, e3], dim=2)  # (N, 3, 3), columns are the axes
        return torch.bmm(xf, frame).to(dtype)


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
class DilatedConvStack(nn.Module):
    """Dilated 1-D convolutions whose receptive field doubles at every layer.

    Layer 0: ``Conv1d(in, C, kernel)`` -> GELU -> InstanceNorm.
    Layer i (i = 1..n_layers): ``x + Conv1d(C/8 -> C, kernel, dilation 2**(i-1))(Conv1x1(C -> C/8)(x))``
    -> GELU -> InstanceNorm (a bottlenecked residual block).

    Shapes: ``(B, in_channels, T) -> (B, channels, T)``.
    """

    def __init__(
        self, in_channels: int, channels: int, kernel_size: int, n_layers: int, bottleneck: int
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the length, got {kernel_size}")
        self.first = nn.Conv1d(in_channels, channels, kernel_size, padding=kernel_size // 2)
        self.first_norm = nn.InstanceNorm1d(channels)
        self.bottlenecks = nn.ModuleList()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n_layers):
            dilation = 2**i
            self.bottlenecks.append(nn.Conv1d(channels, bottleneck, 1))
            self.convs.append(
                nn.Conv1d(
                    bottleneck,
                    channels,
                    kernel_size,
                    dilation=dilation,
                    padding=kernel_size // 2 * dilation,
                )
            )
            self.norms.append(nn.InstanceNorm1d(channels))

    def forward(self, x: Tensor) -> Tensor:
        h = self.first_norm(F.gelu(self.first(x)))
        for bottle, conv, norm in zip(self.bottlenecks, self.convs, self.norms, strict=True):
            h = norm(F.gelu(conv(bottle(h)) + h))
        return h

    @property
    def receptive_field(self) -> int:
        k = self.first.kernel_size[0]
        return k + sum((k - 1) * c.dilation[0] for c in self.convs)


@dataclass
class MotifDistanceConfig:
    """Architecture of :class:`MotifDistance` (defaults: the reference's size)."""

    in_channels: int = 3  # input channels (x, y, z)
    channels: int = 64  # channels of the query, key and value convolution stacks
    kernel_size: int = 15  # kernel of those convolutions, samples (odd)
    n_layers: int = 2  # dilated residual layers per stack (dilation 1, 2, 4, ...)
    bottleneck: int = 8  # 1x1 bottleneck channels inside each residual layer
    attn_dropout: float = 0.1  # dropout on the attention weights while training
    revin_eps: float = 1e-5  # added to the variance in the reversible normalisation
    #: "none": the paper's distance (windows as recorded); "canonical": both windows are first
    #: rotated into their own frame (:func:`canonical_orientation`), so the device's
    #: orientation does not count as a difference
    orientation: str = field(default="none", metadata={"choices": ("none", "canonical")})

    def __post_init__(self) -> None:
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {self.orientation!r}")


class MotifDistance(nn.Module):
    """Cross-attention reconstruction distance between accelerometry windows (RelCon).

    The anchor ``a`` is rebuilt from the candidate ``c``:

    1. reversible instance normalisation (RevIN) with the *candidate's* per-channel mean and
       standard deviation (and a learnable per-channel affine map) is applied to both windows;
    2. queries ``q = f_q(a)``, keys ``k = f_k(c)`` and values ``v = f_v(c)`` come from three
       separate dilated convolution stacks (:class:`DilatedConvStack`);
    3. single-head attention with **sparsemax** weights, ``A = sparsemax(q k^T / sqrt(C))``;
    4. ``a_hat = denorm(Linear(A v))`` back to the input channels and units;
    5. ``d(a, c) = sum_{t, ch} (a_hat - a)^2``.

    Shapes:
        - ``forward(anchor (B, T, 3), candidate (B, T, 3)) -> (B,)``
        - ``pairwise(anchor (B, T, 3), candidates (B, C, T, 3)) -> (B, C)``
        - ``score(anchor (B, T, 3), pool (M, T, 3), index (B, C)) -> (B, C)``
        - ``reconstruct(anchor (B, T, 3), candidate (B, T, 3)) -> (B, T, 3)``

    Example:
        >>> dist = MotifDistance()
        >>> a, c = torch.randn(4, 256, 3), torch.randn(4, 256, 3)
        >>> dist(a, c).shape
        torch.Size([4])
        >>> dist.pairwise(a, torch.randn(4, 10, 256, 3)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 64,
        kernel_size: int = 15,
        n_layers: int = 2,
        bottleneck: int = 8,
        attn_dropout: float = 0.1,
        revin_eps: float = 1e-5,
        orientation: str = "none",
    ) -> None:
        super().__init__()
        self.config = MotifDistanceConfig(
            in_channels, channels, kernel_size, n_layers, bottleneck, attn_dropout, revin_eps,
            orientation,
        )  # fmt: skip
        if orientation == "canonical" and in_channels != 3:
            raise ValueError("orientation='canonical' needs 3-axis windows (in_channels=3)")
        self.revin_weight = nn.Parameter(torch.ones(in_channels))
        self.revin_bias = nn.Parameter(torch.zeros(in_channels))
        self.query_net = DilatedConvStack(in_channels, channels, kernel_size, n_layers, bottleneck)
        self.key_net = DilatedConvStack(in_channels, channels, kernel_size, n_layers, bottleneck)
        self.value_net = DilatedConvStack(in_channels, channels, kernel_size, n_layers, bottleneck)
        self.out_proj = nn.Linear(channels, in_channels)
        #: pairs scored by :meth:`score`, and of those, how many the compiled path left to the
        #: exact eager one (their sparsemax needed more than the fused number of passes)
        self.scoring_counts = {"pairs": 0, "pairs_redone": 0}

    @classmethod
    def from_config(cls, config: MotifDistanceConfig | dict) -> MotifDistance:
        if isinstance(config, MotifDistanceConfig):
            config = asdict(config)
        return cls(**config)

    # ---- pieces -------------------------------------------------------------------------
    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-window, per-channel mean and std of ``x (N, T, C)`` -> two ``(N, 1, C)``."""
        mean = x.mean(dim=1, keepdim=True)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.config.revin_eps)
        return mean.detach(), std.detach()

    def _norm(self, x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
        return (x - mean) / std * self.revin_weight + self.revin_bias

    def _denorm(self, y: Tensor, mean: Tensor, std: Tensor) -> Tensor:
        eps = self.config.revin_eps
        return (y - self.revin_bias) / (self.revin_weight + eps * eps) * std + mean

    def encode_candidates(self, candidates: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Key/value features and RevIN statistics of ``candidates (M, T, C)``.

        Returns ``keys (M, T, D)``, ``values (M, T, D)``, ``mean (M, 1, C)``, ``std (M, 1, C)``.
        """
        mean, std = self._stats(candidates)
        xc = self._norm(candidates, mean, std).transpose(1, 2)
        keys = self.key_net(xc).transpose(1, 2)
        values = self.value_net(xc).transpose(1, 2)
        return keys, values, mean, std

    def _reconstruct_pairs(
        self, anchor: Tensor, keys: Tensor, values: Tensor, mean: Tensor, std: Tensor
    ) -> Tensor:
        """Rebuild ``anchor (P, T, C)`` from paired candidate features (all leading dims P)."""
        xa = self._norm(anchor, mean, std).transpose(1, 2)
        queries = self.query_net(xa).transpose(1, 2)  # (P, T, D)
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])
        attn = sparsemax(scores, dim=-1)
        if self.training and self.config.attn_dropout > 0:
            attn = F.dropout(attn, p=self.config.attn_dropout)
        out = self.out_proj(torch.bmm(attn, values))  # (P, T, C)
        return self._denorm(out, mean, std)

    def _check(self, name: str, x: Tensor, ndim: int) -> None:
        if x.ndim != ndim or x.shape[-1] != self.config.in_channels:
            raise ValueError(
                f"MotifDistance: `{name}` must have {ndim} dims ending in "
                f"{self.config.in_channels} channels, got shape {tuple(x.shape)}"
            )

    def orient(self, x: Tensor) -> Tensor:
        """``x`` as the distance sees it: unchanged, or in its canonical frame (``orientation``)."""
        if self.config.orientation == "canonical":
            return canonical_orientation(x)
        return x

    # ---- public API ---------------------------------------------------------------------
    def reconstruct(self, anchor: Tensor, candidate: Tensor) -> Tensor:
        """Reconstruction of ``anchor (B, T, C)`` from ``candidate (B, T, C)``.

        With ``orientation="canonical"`` the reconstruction is of the anchor in its canonical
        frame (:meth:`orient`).
        """
        self._check("anchor", anchor, 3)
        self._check("candidate", candidate, 3)
        keys, values, mean, std = self.encode_candidates(self.orient(candidate))
        return self._reconstruct_pairs(self.orient(anchor), keys, values, mean, std)

    def forward(self, anchor: Tensor, candidate: Tensor) -> Tensor:
        """Distance ``(B,)`` between each anchor and its candidate, both ``(B, T, C)``."""
        recon = self.reconstruct(anchor, candidate)
        return (recon - self.orient(anchor)).square().sum(dim=(1, 2))

    def score(
        self, anchor: Tensor, pool: Tensor, index: Tensor, chunk_pairs: int | None = None
    ) -> Tensor:
        """Distances from each anchor to candidates picked out of a shared pool.

        Args:
            anchor: ``(B, T, C)`` anchor windows.
            pool: ``(M, T, C)`` distinct candidate windows; their key/value features are computed
                once, however many anchors they are scored against.
            index: ``(B, K)`` long tensor; candidate ``j`` of anchor ``i`` is ``pool[index[i, j]]``.
            chunk_pairs: at most this many (anchor, candidate) pairs are rebuilt at once, which
                bounds memory (each pair holds a ``T x T`` attention matrix). Default: 64 on the
                CPU (cache-sized blocks are fastest there), 2048 on GPUs.

        Returns:
            ``(B, K)`` distances.

        With the compiled backend (:func:`set_sparsemax_backend`) a chunk runs a fixed number of
        sparsemax passes in one fused function; the few pairs with a row that has not converged
        by then are redone exactly, alone, and counted in :attr:`scoring_counts`.
        """
        self._check("anchor", anchor, 3)
        self._check("pool", pool, 3)
        if index.ndim != 2 or index.shape[0] != anchor.shape[0]:
            raise ValueError(
                f"index must be (B, K) with B={anchor.shape[0]}, got {tuple(index.shape)}"
            )
        b, k = index.shape
        if chunk_pairs is None:
            chunk_pairs = 2048 if anchor.is_cuda else 64
        chunk_pairs = max(1, chunk_pairs)
        fused = _backend["mode"] == "compiled" and not torch.is_grad_enabled()
        anchor, pool = self.orient(anchor), self.orient(pool)
        keys, values, mean, std = self.encode_candidates(pool)
        flat = index.reshape(-1)
        anchor_of_pair = torch.arange(b, device=index.device).repeat_interleave(k)
        out = []
        for start in range(0, flat.numel(), chunk_pairs):
            ci = flat[start : start + chunk_pairs]
            ai = anchor_of_pair[start : start + chunk_pairs]
            n = ci.numel()
            self.scoring_counts["pairs"] += n
            if not fused:
                out.append(
                    self._exact_distances(anchor[ai], keys[ci], values[ci], mean[ci], std[ci])
                )
                continue
            if n < chunk_pairs:  # pad with repeats of the first pair: one static shape
                ci, ai = (torch.cat([t, t[:1].expand(chunk_pairs - n)]) for t in (ci, ai))
            try:
                d, done = self._fused_chunk()(anchor[ai], keys[ci], values[ci], mean[ci], std[ci])
            except Exception as e:  # no compiler, unsupported platform: stay exact, just slower
                _compile_failed(e)
                fused, ci, ai = False, ci[:n], ai[:n]
                out.append(
                    self._exact_distances(anchor[ai], keys[ci], values[ci], mean[ci], std[ci])
                )
                continue
            d, done, ci, ai = d[:n], done[:n], ci[:n], ai[:n]
            if not bool(done.all()):  # rare: some pairs' sparsemax needs more steps; redo those
                redo = torch.nonzero(~done).flatten()
                self.scoring_counts["pairs_redone"] += redo.numel()
                d = d.clone()
                r, q = ci[redo], ai[redo]
                d[redo] = self._exact_distances(anchor[q], keys[r], values[r], mean[r], std[r]).to(
                    d.dtype
                )
            out.append(d)
        return torch.cat(out).reshape(b, k)

    def _exact_distances(
        self, anchor: Tensor, keys: Tensor, values: Tensor, mean: Tensor, std: Tensor
    ) -> Tensor:
        """Distances ``(P,)`` of paired anchors and candidate features, sparsemax run to its end."""
        recon = self._reconstruct_pairs(anchor, keys, values, mean, std)
        return (recon - anchor).square().sum(dim=(1, 2))

    def _chunk_distances(
        self, anchor: Tensor, keys: Tensor, values: Tensor, mean: Tensor, std: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Distances of a chunk of pairs with a fixed number of sparsemax steps (for compiling).

        Returns the distances ``(P,)`` and, per pair, whether the sparsemax threshold of every one
        of its rows had converged (then its distance equals :meth:`_exact_distances`'s up to
        rounding; the others are redone exactly by :meth:`score`).
        """
        xa = self._norm(anchor, mean, std).transpose(1, 2)
        queries = self.query_net(xa).transpose(1, 2)
        scores = (torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])).float()
        tau, done = _michelot(scores, scores.amax(dim=-1, keepdim=True) - 1, _FUSED_STEPS)
        attn = torch.clamp(scores - tau, min=0).to(values.dtype)
        recon = self._denorm(self.out_proj(torch.bmm(attn, values)), mean, std)
        return (recon - anchor).square().sum(dim=(1, 2)), done.reshape(done.shape[0], -1).all(1)

    def _fused_chunk(self):
        """:meth:`_chunk_distances` compiled with ``torch.compile`` (once per model)."""
        fn = self.__dict__.get("_compiled_chunk")
        if fn is None:
            fn = torch.compile(self._chunk_distances, dynamic=False)
            self.__dict__["_compiled_chunk"] = fn
        return fn

    def pairwise(
        self, anchor: Tensor, candidates: Tensor, chunk_pairs: int | None = None
    ) -> Tensor:
        """Distances ``(B, C)`` from ``anchor (B, T, 3)`` to each of ``candidates (B, C, T, 3)``."""
        self._check("candidates", candidates, 4)
        b, c = candidates.shape[:2]
        pool = candidates.reshape(b * c, *candidates.shape[2:])
        index = torch.arange(b * c, device=candidates.device).reshape(b, c)
        return self.score(anchor, pool, index, chunk_pairs=chunk_pairs)
