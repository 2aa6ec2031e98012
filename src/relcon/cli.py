"""Command-line interface: ``relcon demo | train-distance | pretrain | evaluate``.

Every command takes ``--config FILE`` (TOML, YAML or JSON, same layout as the dataclasses in
:mod:`relcon.config`), flags for the common settings, and ``--set key=value`` for any other
hyperparameter (dotted path, value parsed as TOML, e.g. ``--set encoder.stage_blocks=[2,2,2]``).
Precedence: defaults < config file < flags < ``--set``. ``--print-config`` shows the resolved
configuration and exits.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from relcon import __version__
from relcon.config import (
    DistanceTrainConfig,
    EvalConfig,
    PretrainConfig,
    from_dict,
    load_config,
    to_dict,
)

__all__ = ["main"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _parse_value(text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def _nested(dotted: str, value: Any) -> dict:
    out: dict = {}
    cur = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _resolve(cls, base, args: argparse.Namespace, flags: dict[str, Any]):
    """defaults (``base``) < --config file < flags (dotted keys, None = not given) < --set."""
    cfg = load_config(args.config, cls, base=base) if args.config else base
    overrides: dict = {}
    for dotted, value in flags.items():
        if value is not None:
            overrides = _merge(overrides, _nested(dotted, value))
    for item in args.set or []:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        overrides = _merge(overrides, _nested(key.strip(), _parse_value(text.strip())))
    try:
        return from_dict(cls, overrides, where="command line", base=cfg)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"relcon: {e}") from None


def _print_config(cfg) -> None:
    import tomli_w

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if v is not None}
        return o

    print(tomli_w.dumps(strip(to_dict(cfg))))


def _common(p: argparse.ArgumentParser, out_default: str | None) -> None:
    p.add_argument("--config", help="TOML/YAML/JSON file with any of the settings")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override any setting (repeatable)"
    )
    p.add_argument("--out", default=out_default, required=out_default is None, help="output folder")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="delete an existing run in --out first")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--seed", type=int)
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", help="demo (default), wisdm_watch, spsw_smartwatch, hapt, or windows .npz"
    )
    p.add_argument(
        "--data-root", help="folder of a built-in data set (default: $RELCON_DATA/<name>)"
    )
    p.add_argument("--users", nargs="+", help="keep only these users")
    p.add_argument("--exclude-users", nargs="+", help="leave these users out")


def _data_overrides(args: argparse.Namespace, prefix: str = "data.") -> dict[str, Any]:
    return {
        prefix + "source": args.data,
        prefix + "root": args.data_root,
        prefix + "users": args.users,
        prefix + "exclude_users": args.exclude_users,
    }


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from relcon.config import DemoConfig
    from relcon.demo import demo_config, run_demo

    cfg = _resolve(DemoConfig, demo_config(args.quick), args, {"seed": args.seed})
    if args.device:
        cfg.distance.device = cfg.pretrain.device = args.device
    if args.print_config:
        _print_config(cfg)
        return 0
    run_demo(
        args.out, quick=args.quick, config=cfg, resume=args.resume, overwrite=args.overwrite,
        progress=not args.no_progress,
    )  # fmt: skip
    return 0


def cmd_train_distance(args: argparse.Namespace) -> int:
    from relcon.train_distance import train_distance

    flags = {
        **_data_overrides(args), "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
        "device": args.device, "seed": args.seed,
    }  # fmt: skip
    cfg = _resolve(DistanceTrainConfig, DistanceTrainConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    run = train_distance(
        cfg, args.out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(
        f"motif distance saved in {run}/ (model.safetensors, model.json; logs in metrics.csv and tb/)"
    )
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from relcon.pretrain import pretrain

    flags = {
        **_data_overrides(args), "distance": args.distance, "steps": args.steps,
        "batch_size": args.batch_size, "within_user": args.within_user, "lr": args.lr,
        "tau": args.tau, "device": args.device, "seed": args.seed,
    }  # fmt: skip
    cfg = _resolve(PretrainConfig, PretrainConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    run = pretrain(
        cfg, args.out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(
        f"RelCon encoder saved in {run}/ (model.safetensors, model.json; logs in metrics.csv and tb/)"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from relcon.evaluation import evaluate

    flags = {
        **_data_overrides(args), "checkpoint": args.checkpoint, "folds": args.folds,
        "labels": args.labels, "device": args.device, "seed": args.seed,
    }  # fmt: skip
    cfg = _resolve(EvalConfig, EvalConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    evaluate(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relcon",
        description="RelCon: relative contrastive learning for wearable accelerometry "
        "(Xu et al., ICLR 2025). Input: acceleration in g at 100 Hz, 2.56 s windows.",
    )
    parser.add_argument("--version", action="version", version=f"relcon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="distance + RelCon pretraining + linear probe on the bundled WISDM data",
        description="Train the motif distance and RelCon on 26 bundled WISDM users, then compare a "
        "subject-wise linear probe of RelCon, the same encoder randomly initialised, and "
        "hand-crafted features on the 20 other users. Writes results.json, results.csv and "
        "results.png to --out.",
    )
    _common(p, "relcon-demo")
    p.add_argument(
        "--quick", action="store_true", help="tiny smoke-test version (well under 2 minutes)"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train-distance",
        help="train the motif distance (cross-attention reconstruction)",
        description="Train relcon.models.MotifDistance to rebuild each window from an augmented "
        "copy (2 of 8 augmentations per window). Writes checkpoints, metrics.csv and tb/ to --out.",
    )
    _common(p, None)
    _data_flags(p)
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.set_defaults(func=cmd_train_distance)

    p = sub.add_parser(
        "pretrain",
        help="pretrain the encoder with the relative contrastive loss",
        description="Pretrain relcon.models.ResNet1DEncoder with RelCon, ranking candidates with a "
        "frozen motif distance (--distance). Writes checkpoints, metrics.csv and tb/ to --out.",
    )
    _common(p, None)
    _data_flags(p)
    p.add_argument("--distance", help="run folder or checkpoint of a trained motif distance")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int, help="anchors per step")
    p.add_argument("--within-user", type=int, help="within-user candidates per anchor")
    p.add_argument("--lr", type=float)
    p.add_argument("--tau", type=float)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "evaluate",
        help="subject-wise linear probe of an encoder's embeddings",
        description="Embed the labelled windows of --data with --checkpoint ('random' for a randomly "
        "initialised encoder, 'handcrafted' for hand-crafted features) and score a linear probe "
        "with subject-wise k-fold cross-validation. Users seen in the checkpoint's pretraining "
        "are left out. Writes results.json (rows: method, task, metric, mean, std) to --out.",
    )
    _common(p, None)
    _data_flags(p)
    p.add_argument(
        "--checkpoint", help="encoder run folder or checkpoint, 'random' or 'handcrafted'"
    )
    p.add_argument("--folds", type=int)
    p.add_argument("--labels", nargs="+", help="keep only these classes")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted; the last checkpoint is kept (rerun with --resume)", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"relcon: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
