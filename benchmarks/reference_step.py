"""Time the public reference implementation's own RelCon pretraining step.

The reference is https://github.com/maxxu05/relcon (Xu et al., ICLR 2025). This script imports
its code from a checkout and calls it; nothing of it is copied here. It times the body of the
reference's ``relcon.models.RelCon.RelCon_Model.Model.run_one_epoch`` -- that very function,
called unbound on a light stand-in ``self`` -- so that our own step (``relcon bench``, row (d))
can be reported as a ratio to the reference timed on the same machine in the same session.

Getting a checkout (about 0.5 MB without ``figs/`` and ``env.yml``, which are not needed)::

    git clone https://github.com/maxxu05/relcon REF
    # or, from a bare mirror:
    mkdir -p REF && git --git-dir=MIRROR archive HEAD | tar -x -C REF && rm -rf REF/figs REF/env.yml

Running (a separate Python process: the reference's package is also called ``relcon``; this
script makes ``import relcon`` resolve to ``REF/relcon`` and drops from ``sys.path`` any entry
that holds another ``relcon``, such as our ``src/`` or its editable install)::

    python benchmarks/reference_step.py --reference REF --device cuda --json ref-b256.json
    python benchmarks/reference_step.py --reference REF --device cuda --batch-size 64 \\
        --json ref-b64.json
    python benchmarks/reference_step.py --reference REF --device cuda --tf32 --bf16 --json r.json
    # the harness itself, on a CPU (seconds):
    python benchmarks/reference_step.py --reference REF --device cpu --batch-size 8 \\
        --within-user 4 --steps 2 --warmup 1

What is built: the motif-distance network (``relcon/nets/CrossAttn/CrossAttn_Net.py`` ``Net``,
parameters of ``MotifDist_expconfigs["25_3_8_motifdist"]``) and the ResNet1D encoder (parameters
of ``RelCon_expconfigs["25_3_8_relcon"]``), both through the reference's own ``import_net`` and
with random weights (the reference loads a trained distance checkpoint; its eval-mode attention
is softmax SDPA, whose cost does not depend on the weights). The optimizer is
``torch.optim.Adam(encoder.parameters(), lr=config.lr)`` as in the reference's ``Model``.
``self.motifdist`` is a stand-in whose ``calc_distance`` is the reference's
``MotifDist_Model.Model.calc_distance`` bound to a stand-in holding the distance network, the
distance config (query/key dims) and the device.

What one timed step is (the reference's loop body, unchanged): B - 1 ``calc_distance`` calls
over the batch rotated against itself (every other anchor is a between-user candidate; the
rotation is a ``torch.cat`` on the host and ``.cuda()`` copies the anchor and the rotated batch
to the device each time), K ``calc_distance`` calls for the within-user candidates, a sort,
two encoder forwards (B anchors, then B*K candidates), the Python loop over the B anchors of
``relative_contrastive_loss``, backward, Adam step, ``loss.item()``. Not timed: the reference's
``DataLoader`` (reading ``.npy`` files in ``num_workers`` processes); here the "loader" is a
list of batch dicts ``{"signal": (B, 256, 3), "withinuser_cand_signals": (B, K, 256, 3)}`` of
synthetic accelerometry-like float32 CPU tensors, as its default collate would hand them over.

``run_one_epoch`` is called once on ``--warmup`` batches (not timed), then once on ``--steps``
batches, timed as a whole (CUDA synchronised before and after): anchors/s = B * steps / seconds.
A synchronised timestamp as each batch is handed out also gives per-step times (the reference
already synchronises at every step's end with ``loss.item()``, so this costs nothing); their
median is reported too. Unless ``--no-phases``, a few more steps are run with hooks (encoder
forward pre/post hooks, optimizer step pre/post hooks) that synchronise at the phase
boundaries, to split the step into scoring / encoder forward / loss+backward / Adam; these
extra steps are not part of the headline figure.

Options without a counterpart in the reference: ``--bf16`` wraps the ``run_one_epoch`` call in
``torch.autocast(dtype=torch.bfloat16)`` (the reference has no mixed precision);
``--tf32``/``--no-tf32`` set ``torch.backends.cuda.matmul.allow_tf32`` and
``torch.backends.cudnn.allow_tf32`` (the reference's ``init_dl_program`` sets both to False,
hence the default ``--no-tf32``). ``--device cpu`` exists only to test this harness: the
reference calls ``.cuda()`` unconditionally, so there ``torch.Tensor.cuda`` and
``torch.nn.Module.cuda`` are patched to no-ops in this process. tqdm's progress bar inside
``run_one_epoch`` is disabled through ``TQDM_DISABLE=1`` (tqdm >= 4.66). A module that the
reference imports at top level but that is missing here (tensorboard, scipy, tqdm) is replaced
by a stub in ``sys.modules``; the output names any stub used.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

SEGMENT_LENGTH = 256
CHANNELS = 3
MOTIFDIST_KEY = "25_3_8_motifdist"
RELCON_KEY = "25_3_8_relcon"
REFERENCE_URL = "https://github.com/maxxu05/relcon"


# --------------------------------------------------------------------------------------------
# importing the reference
# --------------------------------------------------------------------------------------------
def _holds_other_relcon(entry: str, ref: Path) -> bool:
    """Whether a ``sys.path`` entry holds a ``relcon`` package other than the reference's."""
    try:
        base = Path(entry or os.getcwd()).resolve()
    except OSError:
        return False
    if base == ref:
        return False
    return (base / "relcon" / "__init__.py").is_file()


def _stub_missing_modules() -> list[str]:
    """Stub the third-party modules the reference imports at top level, where missing."""
    stubs = []
    try:
        import torch.utils.tensorboard  # noqa: F401  (Base_Model, Base_Eval: SummaryWriter)
    except ImportError:
        module = types.ModuleType("torch.utils.tensorboard")

        class SummaryWriter:  # only used by the reference's fit()/test(), never called here
            def __init__(self, *args, **kwargs):
                pass

            def add_scalar(self, *args, **kwargs):
                pass

        module.SummaryWriter = SummaryWriter
        sys.modules["torch.utils.tensorboard"] = module
        stubs.append("torch.utils.tensorboard (tensorboard missing; SummaryWriter unused here)")
    try:
        import scipy.interpolate  # noqa: F401  (MotifDist augmentations, not used here)
    except ImportError:
        top = sys.modules.get("scipy") or types.ModuleType("scipy")
        top.interpolate = types.ModuleType("scipy.interpolate")
        sys.modules["scipy"] = top
        sys.modules["scipy.interpolate"] = top.interpolate
        stubs.append("scipy, scipy.interpolate (missing; only the augmentations use them)")
    try:
        import tqdm  # noqa: F401
    except ImportError:
        module = types.ModuleType("tqdm")
        module.tqdm = lambda iterable=None, *args, **kwargs: iterable
        module.tqdm.write = print
        sys.modules["tqdm"] = module
        stubs.append("tqdm (missing; replaced by the bare iterable)")
    return stubs


def load_reference(ref: Path) -> dict:
    """Import the reference's modules from ``ref`` under the name ``relcon``."""
    ref = ref.resolve()
    pkg = ref / "relcon"
    model_file = pkg / "models" / "RelCon" / "RelCon_Model.py"
    if not model_file.is_file():
        raise SystemExit(f"{ref} is not a checkout of {REFERENCE_URL}: no {model_file}")
    dropped = [p for p in sys.path if _holds_other_relcon(p, ref)]
    sys.path[:] = [p for p in sys.path if p not in dropped]
    sys.path.insert(0, str(ref))
    for name in [n for n in sys.modules if n == "relcon" or n.startswith("relcon.")]:
        del sys.modules[name]
    # The reference's folders have no __init__.py (namespace packages), and a regular package
    # named relcon anywhere on sys.path (ours) would win over them: register the top-level
    # package by hand, with the reference's folder as its only search location.
    spec = importlib.machinery.ModuleSpec("relcon", None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]
    top = importlib.util.module_from_spec(spec)
    sys.modules["relcon"] = top

    sys.dont_write_bytecode = True  # leave the checkout as it is (no __pycache__ in it)
    stubs = _stub_missing_modules()
    mods = {
        "crossattn": "relcon.nets.CrossAttn.CrossAttn_Net",
        "resnet": "relcon.nets.ResNet1D.ResNet1D_Net",
        "imports": "relcon.utils.imports",
        "motifdist_model": "relcon.models.MotifDist.MotifDist_Model",
        "relcon_model": "relcon.models.RelCon.RelCon_Model",
        "motifdist_configs": "relcon.experiments.configs.MotifDist_expconfigs",
        "relcon_configs": "relcon.experiments.configs.RelCon_expconfigs",
    }
    loaded = {key: importlib.import_module(name) for key, name in mods.items()}
    import relcon

    outside = [
        name
        for name, module in sys.modules.items()
        if (name == "relcon" or name.startswith("relcon."))
        and getattr(module, "__file__", None)
        and not Path(module.__file__).resolve().is_relative_to(pkg)
    ]
    if outside or list(relcon.__path__) != [str(pkg)]:
        raise SystemExit(f"import relcon did not resolve to {pkg}: {outside or relcon.__path__}")

    digest = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        digest.update(str(path.relative_to(ref)).encode() + b"\0" + path.read_bytes())
    return {
        "modules": loaded,
        "stubs": stubs,
        "info": {
            "dir": str(ref),
            "url": REFERENCE_URL,
            "relcon_path": list(relcon.__path__),
            "run_one_epoch_file": loaded["relcon_model"].__file__,
            "sha256_of_relcon_py_files": digest.hexdigest()[:16],
            "sys_path_dropped": dropped,
        },
    }


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def synthetic_batches(n: int, batch_size: int, within_user: int, seed: int) -> list[dict]:
    """Batches as the reference's DataLoader hands them over: float32 CPU tensors
    ``signal`` (B, 256, 3) and ``withinuser_cand_signals`` (B, K, 256, 3).

    Accelerometry-like windows in g: gravity in a per-user direction (each anchor of a batch is
    a different user; its K candidates share its gravity), a 0.5-3 Hz movement per window, and
    sensor noise."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    t = np.arange(SEGMENT_LENGTH, dtype=np.float32) / 100.0
    batches = []
    for _ in range(n):
        gravity = rng.normal(size=(batch_size, 1, 1, CHANNELS))
        gravity /= np.linalg.norm(gravity, axis=-1, keepdims=True)
        shape = (batch_size, 1 + within_user, 1, CHANNELS)
        freq = rng.uniform(0.5, 3.0, size=(*shape[:2], 1, 1))
        phase = rng.uniform(0.0, 2 * np.pi, size=shape)
        amp = rng.uniform(0.0, 0.8, size=shape)
        x = amp * np.sin(2 * np.pi * freq * t[None, None, :, None] + phase) + gravity
        x += 0.02 * rng.standard_normal(x.shape)
        x = x.astype(np.float32)
        batches.append(
            {
                "signal": torch.from_numpy(np.ascontiguousarray(x[:, 0])),
                "withinuser_cand_signals": torch.from_numpy(np.ascontiguousarray(x[:, 1:])),
            }
        )
    return batches


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
class StepClock:
    """The batches, with a synchronised timestamp taken as each one is handed out."""

    def __init__(self, batches: list[dict], sync) -> None:
        self.batches = batches
        self.sync = sync
        self.stamps: list[float] = []

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            self.sync()
            self.stamps.append(time.perf_counter())
            yield batch


class PhaseHooks:
    """Synchronised timestamps at the phase boundaries of the reference's step, from hooks on
    the real encoder and optimizer (the reference's code is not touched)."""

    def __init__(self, encoder, optimizer, sync) -> None:
        self.sync = sync
        self.events: list[tuple[str, float]] = []
        self.handles = [
            encoder.register_forward_pre_hook(lambda *a: self._mark("encoder_pre")),
            encoder.register_forward_hook(lambda *a: self._mark("encoder_post")),
            optimizer.register_step_pre_hook(lambda *a: self._mark("adam_pre")),
            optimizer.register_step_post_hook(lambda *a: self._mark("adam_post")),
        ]

    def _mark(self, what: str) -> None:
        self.sync()
        self.events.append((what, time.perf_counter()))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def split(self, stamps: list[float], end: float) -> dict[str, list[float]]:
        """Per step: scoring (the two calc_distance loops, with the host-side rotations and
        copies, and the sort), encoder_forward (both forwards), loss_backward (the Python-loop
        loss and backward), adam, rest (loss.item() and the loop)."""
        bounds = [*stamps, end]
        out: dict[str, list[float]] = {
            k: [] for k in ("scoring", "encoder_forward", "loss_backward", "adam", "rest")
        }
        for i in range(len(stamps)):
            lo, hi = bounds[i], bounds[i + 1]
            ev = [(w, t) for w, t in self.events if lo <= t <= hi]
            pre = [t for w, t in ev if w == "encoder_pre"]
            post = [t for w, t in ev if w == "encoder_post"]
            a_pre = [t for w, t in ev if w == "adam_pre"]
            a_post = [t for w, t in ev if w == "adam_post"]
            if len(pre) != 2 or len(post) != 2 or len(a_pre) != 1 or len(a_post) != 1:
                return {}
            out["scoring"].append(pre[0] - lo)
            out["encoder_forward"].append(post[1] - pre[0])
            out["loss_backward"].append(a_pre[0] - post[1])
            out["adam"].append(a_post[0] - a_pre[0])
            out["rest"].append(hi - a_post[0])
        return out


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time the reference implementation's RelCon pretraining step "
        f"({REFERENCE_URL}, RelCon_Model.Model.run_one_epoch).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--reference", required=True, type=Path, help="checkout of maxxu05/relcon")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--batch-size", type=int, default=256, help="B (between-user cands: B - 1)")
    p.add_argument("--within-user", type=int, default=20, help="K within-user candidates")
    p.add_argument("--steps", type=int, default=10, help="timed steps (one run_one_epoch call)")
    p.add_argument("--warmup", type=int, default=3, help="steps of the untimed warm-up call")
    p.add_argument(
        "--tf32",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="TF32 matmul/cuDNN on CUDA (the reference's init_dl_program turns both off)",
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="wrap run_one_epoch in torch.autocast bf16 (not an option of the reference)",
    )
    p.add_argument(
        "--phases",
        type=int,
        default=3,
        help="extra steps, synchronised at phase boundaries, for the per-phase split (0: none)",
    )
    p.add_argument("--no-phases", dest="phases", action="store_const", const=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.batch_size < 2 or args.within_user < 1 or args.steps < 1 or args.warmup < 0:
        p.error("need --batch-size >= 2, --within-user >= 1, --steps >= 1, --warmup >= 0")
    return args


def _device_name(torch, device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    # before torch is imported (torch imports tqdm, which reads TQDM_* at import time)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    notes: list[str] = []
    patches: list[str] = []
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    else:
        # The reference calls .cuda() unconditionally; on the CPU make it a no-op.
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
        patches.append("torch.Tensor.cuda and torch.nn.Module.cuda patched to no-ops (CPU run)")
        if args.tf32:
            notes.append("--tf32 has no effect on the CPU")
    if args.bf16:
        notes.append(
            "bf16: run_one_epoch wrapped in torch.autocast(bfloat16) by this harness; "
            "the reference itself has no mixed-precision option (it trains in fp32)"
        )

    loaded = load_reference(args.reference)
    m = loaded["modules"]
    motif_cfg = m["motifdist_configs"].allmotifdist_expconfigs[MOTIFDIST_KEY]
    relcon_cfg = m["relcon_configs"].allrelcon_expconfigs[RELCON_KEY]
    device = torch.device("cuda", 0) if args.device == "cuda" else torch.device("cpu")

    torch.manual_seed(args.seed)
    motif_net = m["imports"].import_net(motif_cfg.net_config).to(device).cuda()
    encoder = m["imports"].import_net(relcon_cfg.net_config).to(device)
    assert isinstance(motif_net, m["crossattn"].Net)
    assert isinstance(encoder, m["resnet"].Net)

    # stand-in selves: only the attributes that the reference's methods read
    motifdist = types.SimpleNamespace(net=motif_net, config=motif_cfg, device=device)
    motifdist.calc_distance = types.MethodType(m["motifdist_model"].Model.calc_distance, motifdist)
    model = types.SimpleNamespace(
        net=encoder,
        optimizer=torch.optim.Adam(encoder.parameters(), lr=relcon_cfg.lr),
        config=relcon_cfg,
        motifdist=motifdist,
    )
    run_one_epoch = m["relcon_model"].Model.run_one_epoch

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    def call(batches) -> float:
        if args.bf16:
            with torch.autocast(device_type=args.device, dtype=torch.bfloat16):
                total_loss, _ = run_one_epoch(model, batches, train=True)
        else:
            total_loss, _ = run_one_epoch(model, batches, train=True)
        return total_loss

    b, k = args.batch_size, args.within_user
    n_batches = max(args.steps, args.warmup, args.phases)
    batches = synthetic_batches(n_batches, b, k, args.seed)

    # warm-up (cuDNN algorithm choice, allocator growth, Adam state)
    t0 = time.perf_counter()
    if args.warmup:
        call(batches[: args.warmup])
    sync()
    warmup_s = time.perf_counter() - t0

    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    clock = StepClock(batches[: args.steps], sync)
    sync()
    start = time.perf_counter()
    total_loss = call(clock)
    sync()
    end = time.perf_counter()
    seconds = end - start
    steps_s = [hi - lo for lo, hi in zip(clock.stamps, [*clock.stamps[1:], end], strict=True)]
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else None

    phases: dict[str, float] = {}
    if args.phases:
        hooks = PhaseHooks(encoder, model.optimizer, sync)
        pclock = StepClock(batches[: args.phases], sync)
        try:
            call(pclock)
            sync()
            pend = time.perf_counter()
        finally:
            hooks.remove()
        split = hooks.split(pclock.stamps, pend)
        phases = {name: _median(v) for name, v in split.items()}
        if not split:
            notes.append("phase split failed (unexpected hook order)")

    median_s = _median(steps_s)
    calls = (b - 1) + k
    result = {
        "what": "reference RelCon pretraining step: body of RelCon_Model.Model.run_one_epoch "
        f"from {REFERENCE_URL}, called unbound on a stand-in self",
        "reference": loaded["info"],
        "motifdist_config": MOTIFDIST_KEY,
        "encoder_config": RELCON_KEY,
        "motifdist_net_params": dict(motif_cfg.net_config.params),
        "motifdist_sparsemax_flag": bool(getattr(motif_net, "sparsemax", None)),
        "encoder_dims": repr(relcon_cfg.encoder_dims),
        "tau": relcon_cfg.tau,
        "lr": relcon_cfg.lr,
        "encoder_params": sum(p.numel() for p in encoder.parameters()),
        "motifdist_params": sum(p.numel() for p in motif_net.parameters()),
        "device": args.device,
        "device_name": _device_name(torch, args.device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "tf32": bool(args.tf32 and args.device == "cuda"),
        "bf16": bool(args.bf16),
        "bf16_note": "autocast added by this harness; the reference has no such option",
        "batch_size": b,
        "between_user": b - 1,
        "within_user": k,
        "calc_distance_calls_per_step": calls,
        "pairs_scored_per_step": calls * b,
        "encoded_windows_per_step": b * (1 + k),
        "steps": args.steps,
        "warmup": args.warmup,
        "warmup_seconds": warmup_s,
        "seconds": seconds,
        "anchors_per_s": b * args.steps / seconds,
        "step_seconds_all": steps_s,
        "step_seconds_median": median_s,
        "anchors_per_s_median": b / median_s,
        "loss_per_step_mean": total_loss / args.steps,
        "loss_finite": math.isfinite(total_loss),
        "peak_memory_bytes": peak,
        "phase_steps": args.phases,
        "phase_seconds_median": phases,
        "stubs": loaded["stubs"],
        "patches": patches,
        "tqdm_disable_env": os.environ.get("TQDM_DISABLE"),
        "notes": notes,
    }
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


def print_table(r: dict) -> None:
    ref, b, k = r["reference"], r["batch_size"], r["within_user"]
    on = {True: "on", False: "off"}
    rows = [
        ("reference", f"{ref['dir']} (sha256 of its .py {ref['sha256_of_relcon_py_files']})"),
        ("device", f"{r['device']}: {r['device_name']}"),
        ("torch / python", f"{r['torch']} (cuda {r['cuda']}) / {r['python']}"),
        ("precision", f"tf32={on[r['tf32']]}  bf16={on[r['bf16']]}"),
        ("batch", f"B={b}  between-user={r['between_user']} (B-1)  within-user K={k}"),
        (
            "per step",
            f"{r['calc_distance_calls_per_step']} calc_distance calls, "
            f"{r['pairs_scored_per_step']} pairs, {r['encoded_windows_per_step']} windows encoded",
        ),
        (
            "timed",
            f"{r['steps']} steps in {r['seconds']:.3f} s "
            f"(warm-up: {r['warmup']} steps, {r['warmup_seconds']:.2f} s)",
        ),
        ("anchors/s", f"{r['anchors_per_s']:.1f}  (B * steps / seconds)"),
        (
            "step median",
            f"{r['step_seconds_median'] * 1e3:.1f} ms  ({r['anchors_per_s_median']:.1f} anchors/s)",
        ),
        ("loss/step", f"{r['loss_per_step_mean']:.4f}"),
    ]
    if r["peak_memory_bytes"] is not None:
        rows.append(("peak memory", f"{r['peak_memory_bytes'] / 2**30:.2f} GiB"))
    if r["phase_seconds_median"]:
        split = "  ".join(f"{n}={v * 1e3:.1f}ms" for n, v in r["phase_seconds_median"].items())
        rows.append((f"phases ({r['phase_steps']} steps)", split))
    rows += [("stub", line) for line in r["stubs"]]
    rows += [("patch", line) for line in r["patches"]]
    rows += [("note", line) for line in r["notes"]]
    width = max(len(key) for key, _ in rows)
    print("reference RelCon step (maxxu05/relcon RelCon_Model.Model.run_one_epoch)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
