"""Command-line interface: ``relcon demo | train-distance | pretrain | evaluate | finetune |
prepare | embed | predict | plot | tasks | report | benchmark | bench``.

Every command takes ``--config FILE`` (TOML, YAML or JSON, same layout as the dataclasses in
:mod:`relcon.config`), flags for the common settings, and ``--set key=value`` for any other
hyperparameter (dotted path, value parsed as TOML, e.g. ``--set encoder.stage_blocks=[2,2,2]``).
Precedence: defaults < config file < flags < ``--set``. ``--print-config`` shows the resolved
configuration and exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
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
        "--data",
        help="demo (default), wisdm_watch, spsw_smartwatch, hapt, ipol_gait, oxford_step_count "
        "(pool with +), a corpus folder (relcon prepare) or a windows .npz",
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
    from relcon.apps.demo import demo_config, run_demo
    from relcon.config import DemoConfig

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
    from relcon.train.distance import train_distance

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
    from relcon.train.relcon import pretrain

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


def cmd_diagnose(args: argparse.Namespace) -> int:
    from relcon.train.diagnose import (
        DiagnoseConfig,
        diagnose_distance,
        format_diagnostics,
        save_diagnostics,
    )

    flags = {
        "distance": args.run, "task": args.task, "anchors": args.anchors,
        "within_user": args.within_user, "between_user": args.between_user,
        "subjects": args.subjects, "device": args.device, "seed": args.seed,
    }  # fmt: skip
    cfg = _resolve(DiagnoseConfig, DiagnoseConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    result = diagnose_distance(cfg)
    print(format_diagnostics(result))
    if args.json:
        save_diagnostics(result, args.json)
        print(f"written to {args.json}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from relcon.eval.harness import evaluate

    flags = {
        **_data_overrides(args), "task": args.task, "checkpoint": args.checkpoint,
        "method": args.method, "protocol": args.protocol, "folds": args.folds,
        "few_shot": args.few_shot, "few_shot_seeds": args.few_shot_seeds,
        "labels": args.labels, "device": args.device, "seed": args.seed,
        "fold_seeds": args.fold_seeds, "exclude_users_of": args.exclude_users_of,
    }  # fmt: skip
    if args.subjects:
        from relcon.eval.harness import read_subjects_file

        flags["subjects"] = read_subjects_file(args.subjects)
    cfg = _resolve(EvalConfig, EvalConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    evaluate(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from relcon.config import FinetuneConfig
    from relcon.eval.finetune import finetune_summary, finetune_task

    flags = {
        "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
        "freeze_encoder": True if args.freeze_encoder else None, "head_hidden": args.head_hidden,
        "device": args.device, "seed": args.seed,
    }  # fmt: skip
    cfg = _resolve(FinetuneConfig, FinetuneConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    out = Path(args.out)
    model = finetune_task(
        args.task, args.checkpoint, cfg, out=out, overwrite=args.overwrite,
        progress=not args.no_progress,
    )  # fmt: skip
    print(finetune_summary(model))
    print(
        f"fine-tuned model saved in {out}/ (apply it with: relcon predict {out} RECORDING... --out FILE)"
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from relcon.data.corpus import prepare_corpus

    summary = prepare_corpus(
        args.inputs, args.out, units=args.units, storage=args.storage,
        shard_segments=args.shard_segments, user_from=args.user_from, stride_s=args.stride_s,
        max_gap_s=args.max_gap_s, block_seconds=args.block_seconds,
        drop_nonwear=not args.keep_nonwear, drop_flat=not args.keep_flat,
        drop_clipped=args.drop_clipped, on_error=args.on_error, overwrite=args.overwrite,
        progress=not args.no_progress,
    )  # fmt: skip
    print(summary)
    return 1 if summary.failed else 0


def cmd_tasks_build(args: argparse.Namespace) -> int:
    from relcon.eval.builtin import BUILTIN_TASKS, build_tasks

    if args.list:
        for name, desc in BUILTIN_TASKS.items():
            print(f"{name:<20} {desc}")
        return 0
    paths = build_tasks(args.data_root, args.out, names=args.names, overwrite=args.overwrite)
    for name, path in paths.items():
        print(f"{name:<20} {path}")
    return 0


def cmd_tasks_paper(args: argparse.Namespace) -> int:
    from relcon.eval.paper import PAPER_BENCHMARKS, build_paper_tasks

    if args.list:
        for name, spec in PAPER_BENCHMARKS.items():
            print(f"{name:<20} {spec['description']}")
        return 0
    paths = build_paper_tasks(args.raw_root, args.out, names=args.names, overwrite=args.overwrite)
    for name, path in paths.items():
        print(f"{name:<20} {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from relcon.eval.report import load_results, write_report

    files = write_report(
        load_results(args.runs),
        args.out,
        allow_mismatch=args.allow_mismatch,
        reference=args.reference,
        n_resamples=args.resamples,
        seed=args.seed,
    )
    for kind, path in files.items():
        print(f"{kind:<24} {path}")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from relcon.eval.suite import BenchmarkConfig, run_benchmark

    flags = {
        "data_root": args.data_root, "tasks": args.tasks, "seed": args.seed,
        "fold_seeds": args.fold_seeds,
    }  # fmt: skip
    cfg = _resolve(BenchmarkConfig, BenchmarkConfig(), args, flags)
    if args.print_config:
        _print_config(cfg)
        return 0
    run_benchmark(cfg, args.out, progress=not args.no_progress)
    return 0


def _window_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``relcon embed`` and ``relcon predict`` (see :mod:`relcon.apps.embed`)."""
    p.add_argument(
        "recordings",
        nargs="+",
        help="recording files or folders (csv[.gz], parquet, npz, cwa, gt3x, bin)",
    )
    p.add_argument("--out", required=True, help="output table: .parquet or .csv[.gz]")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=512, help="windows per forward pass")
    p.add_argument(
        "--stride-s", type=float, default=2.56, help="seconds between windows (2.56: no overlap)"
    )
    p.add_argument(
        "--units", choices=["g", "m/s^2", "mg"], help="acceleration units (default: detected)"
    )
    p.add_argument("--max-gap-s", type=float, default=0.5, help="longer gaps split a recording")
    p.add_argument("--keep-nonwear", action="store_true", help="do not drop non-wear windows")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _window_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "batch_size": args.batch_size, "device": args.device, "stride_s": args.stride_s,
        "units": args.units, "max_gap_s": args.max_gap_s, "drop_nonwear": not args.keep_nonwear,
        "progress": not args.no_progress,
    }  # fmt: skip


def cmd_embed(args: argparse.Namespace) -> int:
    from relcon.apps.embed import embed_recordings

    summaries: list = []
    out = embed_recordings(
        args.recordings, args.model, args.out, summaries=summaries, **_window_kwargs(args)
    )
    print("\n".join(str(s) for s in summaries))
    print(f"embeddings written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from relcon.apps.predict import predict_recordings

    summaries: list = []
    out = predict_recordings(
        args.model, args.recordings, args.out, summaries=summaries, **_window_kwargs(args)
    )
    print("\n".join(str(s) for s in summaries))
    print(f"predictions written to {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np

    import relcon
    from relcon.apps import plots
    from relcon.data.tasks import load_task

    out = Path(args.out)
    if args.html and out.suffix.lower() != ".html":
        out = out.with_suffix(".html")
    if args.what == "recording":
        path = plots.plot_recording(args.input, out, model=args.model, html=args.html)
        print(f"wrote {path}")
        return 0
    task = load_task(args.input)
    names = list(task.label_names) if task.label_names else None
    classes = task.task_type == "classification"
    if args.what == "map":
        encoder = relcon.load(args.model, kind="encoder")
        pick = plots.sample_indices(len(task), args.max_points, args.seed)
        emb = encoder.embed(task.X[pick], progress=not args.no_progress)
        path = plots.plot_embedding_map(
            emb, task.y[pick] if classes else None, task.groups[pick], out=out,
            method=args.method, color_by=args.color_by if classes else "user",
            label_names=names, html=args.html, seed=args.seed, max_points=args.max_points,
            note=f"{task.name}; encoder: {args.model or 'the shipped RelCon model'}",
        )  # fmt: skip
    else:
        labels = task.y.astype(int) if classes else np.full(len(task), -1)
        anchor_label = None
        if args.anchor_label is not None:
            if names is None or args.anchor_label not in names:
                raise ValueError(
                    f"{args.input}: --anchor-label {args.anchor_label!r} is not one of its "
                    f"classes {names}"
                )
            anchor_label = names.index(args.anchor_label)
        anchor, cands = plots.ranking_windows(
            labels, task.groups.astype(str), user=args.user, anchor_label=anchor_label,
            per_label=args.per_label, seed=args.seed,
        )  # fmt: skip

        def name(c: int) -> str:
            return names[c] if names and c >= 0 else ""

        distance = relcon.load(args.model, kind="distance")
        path = plots.plot_distance_ranking(
            distance, task.X[anchor], task.X[cands], out, top=args.top, farthest=args.farthest,
            labels=[name(int(c)) for c in labels[cands]] if names else None,
            anchor_label=name(int(labels[anchor])) or None, html=args.html,
        )  # fmt: skip
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from relcon.apps.speed import run_from_args

    return run_from_args(args)


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
    p.add_argument(
        "--method",
        choices=["relcon", "simclr", "augpred", "rebar"],
        help="relcon (default) or a self-supervised baseline trained with the same data, encoder and budget",
    )
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "diagnose",
        help="is the teacher worth learning from? diagnostics of a motif distance",
        description="How well a motif distance ranks labelled candidates laid out as in "
        "pretraining (precision@1/@5, Spearman, rotation probe), beside raw Euclidean and a "
        "random encoder's cosine, on the task's subjects the distance never saw.",
    )
    dsub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = dsub.add_parser("distance", help="diagnostics of a motif distance on a labelled task")
    q.add_argument("run", help="motif-distance run folder or checkpoint, or 'default' (shipped)")
    q.add_argument("--task", required=True, help="labelled task .npz (classification)")
    q.add_argument("--anchors", type=int, help="anchors drawn (default 300)")
    q.add_argument("--within-user", type=int, help="same-subject, same-block candidates (10)")
    q.add_argument("--between-user", type=int, help="other-subject candidates (default 15)")
    q.add_argument("--subjects", nargs="+", help="only these subjects (default: unseen ones)")
    q.add_argument("--json", help="also write the result to this JSON file")
    q.add_argument("--config", help="TOML/YAML/JSON file with any of the settings")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any setting")
    q.add_argument("--device", help="cpu (default), cuda, ...")
    q.add_argument("--seed", type=int)
    q.add_argument("--print-config", action="store_true", help="print the resolved config")
    q.set_defaults(func=cmd_diagnose)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a method with a protocol on a task, split by subject",
        description="Evaluate features (an encoder run, a random encoder, hand-crafted features, "
        "MiniRocket) or a supervised encoder on a task file (--task) or on the labelled windows of "
        "--data, with subject-wise k-fold cross-validation or the task's fixed split, optionally "
        "few-shot. Hyperparameters are chosen on validation subjects inside each fold; users the "
        "encoder was pretrained on are left out. To compare methods like for like, give each the "
        "same --exclude-users-of (or --subjects): the folds depend only on the kept subjects and "
        "the seed. Writes results.json (rows: method, task, protocol, metric, mean, std, n; per "
        "split its test subjects) and one folder per fold to --out.",
    )
    _common(p, None)
    _data_flags(p)
    p.add_argument("--task", help="task .npz file (see relcon tasks build)")
    p.add_argument(
        "--checkpoint",
        help="encoder run folder or checkpoint (RelCon or a baseline), or 'default' for the shipped model",
    )
    p.add_argument(
        "--method", help="encoder, random, handcrafted, minirocket or supervised (default: encoder)"
    )
    p.add_argument("--protocol", help="linear (default), mlp, rf, ridge_classifier or finetune")
    p.add_argument("--folds", type=int, help="subject-wise folds (default 5)")
    p.add_argument(
        "--few-shot",
        type=int,
        nargs="+",
        help="labelled windows per class, e.g. 1 2 5 10 0 (0 = all)",
    )
    p.add_argument("--few-shot-seeds", type=int, help="draws per few-shot size (default 3)")
    p.add_argument("--labels", nargs="+", help="with --data: keep only these classes")
    p.add_argument(
        "--exclude-users-of",
        nargs="+",
        metavar="RUN",
        help="leave out every subject these encoder runs were pretrained on (train_users in their "
        "model.json; 'default' = the shipped model), whatever the method",
    )
    p.add_argument(
        "--subjects",
        metavar="FILE",
        help="keep only the subjects listed in FILE (JSON list, or one per line)",
    )
    p.add_argument(
        "--fold-seeds",
        type=int,
        metavar="N",
        help="repeat subject-wise k-fold with N fold seeds (seed, seed+1, ...; default 1)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "finetune",
        help="train an encoder + head on a task and save a model for relcon predict",
        description="Fine-tune an encoder (default: the shipped RelCon model; 'scratch' for a random "
        "one) with a classification or regression head on every window of --task, with early "
        "stopping on validation subjects, and save it to --out. Use relcon evaluate --protocol "
        "finetune to measure it on held-out subjects first.",
    )
    _common(p, None)
    p.add_argument("--task", required=True, help="task .npz file")
    p.add_argument(
        "--checkpoint",
        default="default",
        help="encoder run, 'default' (shipped model) or 'scratch'",
    )
    p.add_argument("--freeze-encoder", action="store_true", help="train only the head")
    p.add_argument("--head-hidden", type=int, help="hidden units of the head (0: linear)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser(
        "prepare",
        help="turn raw recordings into a sharded corpus for pretraining at scale",
        description="Convert recordings (one file per recording: *.csv[.gz] with a time column and x, y, z; "
        "*.npz; *.parquet; *.cwa/*.gt3x/*.bin with relcon[devices]) into shards of 2.56 s segments at "
        "100 Hz in g plus a Parquet index. Resumable (rerun the same command) and appendable (new "
        "inputs never rewrite existing shards). Train from it with --data CORPUS.",
    )
    p.add_argument("inputs", nargs="*", help="files or folders of recordings")
    p.add_argument("--out", required=True, help="corpus folder")
    p.add_argument(
        "--units", choices=["g", "m/s^2", "mg"], help="units of the inputs (default: detected)"
    )
    p.add_argument("--storage", choices=["int16", "float16"], default="int16")
    p.add_argument("--shard-segments", type=int, default=65536, help="segments per shard file")
    p.add_argument(
        "--user-from",
        choices=["stem", "parent"],
        default="stem",
        help="user id = file stem or parent folder",
    )
    p.add_argument("--stride-s", type=float, default=2.56)
    p.add_argument("--max-gap-s", type=float, default=0.5, help="longer gaps split a recording")
    p.add_argument(
        "--block-seconds", type=float, default=3600.0, help="time block of within-user candidates"
    )
    p.add_argument("--keep-nonwear", action="store_true", help="do not drop non-wear stretches")
    p.add_argument("--keep-flat", action="store_true", help="do not drop flat segments")
    p.add_argument(
        "--drop-clipped", action="store_true", help="drop segments that hit the sensor's range"
    )
    p.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="bad input file: stop, or skip and count it",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("tasks", help="build task files", description="Build task files (.npz).")
    tsub = p.add_subparsers(dest="tasks_command", required=True, metavar="SUBCOMMAND")
    q = tsub.add_parser(
        "build",
        help="task files from the shared data sets (WISDM, SPSW, HAPT, Oxford steps, IPOL gait)",
        description="Write one task file per built-in task into --out (see --list).",
    )
    q.add_argument("--data-root", help="folder holding the data sets (default: $RELCON_DATA)")
    q.add_argument("--out", default="tasks", help="output folder (default: tasks)")
    q.add_argument("--names", nargs="+", help="only these tasks")
    q.add_argument("--overwrite", action="store_true")
    q.add_argument("--list", action="store_true", help="list the built-in tasks and exit")
    q.set_defaults(func=cmd_tasks_build)
    q = tsub.add_parser(
        "paper",
        help="task files from the paper's benchmark data sets you downloaded (HHAR, MotionSense, PAMAP2, Opportunity)",
        description="Process the raw files of the RelCon paper's benchmarks (see docs/paper_benchmarks.md).",
    )
    q.add_argument("--raw-root", help="folder holding the downloaded data sets")
    q.add_argument("--out", default="tasks", help="output folder (default: tasks)")
    q.add_argument("--names", nargs="+", help="only these benchmarks")
    q.add_argument("--overwrite", action="store_true")
    q.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    q.set_defaults(func=cmd_tasks_paper)

    p = sub.add_parser(
        "report",
        help="merge results.json files into a table, CSV and plots",
        description="Merge evaluation results into report.md (mean +- std, best in bold), report.csv "
        "and plots (few-shot curves, per-class F1, confusion matrices), with paired statistics: "
        "per task, each method's difference from a reference method per test subject, its mean "
        "with a bootstrap 95%% interval, and win/tie/loss marks (paired.csv). Runs of one task "
        "must share their per-fold test subjects, else the report refuses (--allow-mismatch).",
    )
    p.add_argument("runs", nargs="+", help="results.json files or folders containing them")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="report runs of a task scored on different test subjects anyway (with a footnote)",
    )
    p.add_argument(
        "--reference",
        metavar="LABEL",
        help="method label (or LABEL:PROTOCOL) to pair every method with (default: the first "
        "RelCon linear probe of each task, else its first run)",
    )
    p.add_argument(
        "--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "benchmark",
        help="the whole benchmark suite on CPU: tasks, pretraining, baselines, evaluation, report",
        description="Build the built-in tasks, pretrain RelCon and the self-supervised baselines on the "
        "same wrist data (held-out subjects excluded), evaluate every method on every task (all on "
        "the same subjects and folds: the task's subjects minus those any compared encoder was "
        "pretrained on), and write the report with paired statistics. Resumes where it stopped "
        "when rerun.",
    )
    _common(p, "relcon-benchmark")
    p.add_argument(
        "--data-root", help="folder holding the shared data sets (default: $RELCON_DATA)"
    )
    p.add_argument("--tasks", nargs="+", help="only these built-in tasks")
    p.add_argument(
        "--fold-seeds",
        type=int,
        metavar="N",
        help="repeat subject-wise k-fold with N fold seeds (default 1)",
    )
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "embed",
        help="embed every 2.56 s window of raw recordings (one Parquet/CSV row per window)",
        description="Stream recordings (CSV/CSV.gz with time + x, y, z; Parquet; .npz; .cwa/.gt3x/.bin "
        "with relcon[devices]), resample to 100 Hz with an anti-aliased filter, cut 2.56 s windows "
        "(gaps and non-wear skipped, counted in the printed summary) and write one row per window: "
        "recording, window, start_s, start_time, e000, e001, ... (one per embedding dimension). Memory stays bounded whatever the "
        "recording length. Rules: see relcon.data.stream.",
    )
    _window_flags(p)
    p.add_argument("--model", help="encoder run/checkpoint (default: the shipped RelCon model)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "predict",
        help="apply a model saved by relcon finetune to raw recordings (one row per window)",
        description="Per-window labels (with class probabilities) or values for raw recordings, "
        "read and windowed as by relcon embed.",
    )
    p.add_argument("model", help="folder written by relcon finetune")
    _window_flags(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "plot",
        help="pictures: a recording's trace, a 2-D map of embeddings, a distance ranking",
        description="recording FILE: the acceleration trace with windows coloured by class "
        "(--model: a relcon finetune folder adds predictions). map TASK.npz: t-SNE/UMAP/PCA map of "
        "the windows' embeddings coloured by label or user (--model: encoder, default shipped). "
        "distance TASK.npz: an anchor window beside its user's windows ranked by the motif "
        "distance (--model: distance run, default shipped). PNG, SVG or PDF from the suffix; "
        "--html for an interactive, self-contained HTML file.",
    )
    p.add_argument("what", choices=["recording", "map", "distance"])
    p.add_argument("input", help="recording file (recording) or task .npz (map, distance)")
    p.add_argument("--out", required=True, help="picture file (.png, .svg, .pdf, or .html)")
    p.add_argument("--model", help="see above")
    p.add_argument("--html", action="store_true", help="interactive HTML instead of a PNG")
    p.add_argument(
        "--method", choices=["tsne", "umap", "pca"], default="tsne", help="map projection"
    )
    p.add_argument("--color-by", choices=["label", "user"], default="label")
    p.add_argument("--max-points", type=int, default=5000, help="windows drawn on the map")
    p.add_argument("--user", help="distance: the anchor's user (default: random)")
    p.add_argument("--anchor-label", help="distance: class name of the anchor (default: any)")
    p.add_argument("--per-label", type=int, default=5, help="distance: candidates per class")
    p.add_argument("--top", type=int, default=8, help="distance: closest candidates shown")
    p.add_argument("--farthest", type=int, default=4, help="distance: farthest candidates shown")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "bench",
        help="throughput and memory: loader, distance training, scoring, pretraining step, embedding",
        description="Measure (a) the data loader, (b) distance-model training, (c) candidate "
        "scoring, (d) a full pretraining step (anchors/s, encoded segments/s, side by side with "
        "the encoder's own forward+backward), (e) embedding; peak memory and, on a GPU, model "
        "FLOPs utilisation. Prints a table; --json writes the figures.",
    )
    from relcon.apps.speed import add_bench_arguments

    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted; the last checkpoint is kept (rerun with --resume)", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, ImportError) as e:
        print(f"relcon: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
