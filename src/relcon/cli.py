"""Command-line interface: ``relcon demo | train-distance | pretrain | diagnose | evaluate |
finetune | prepare | tasks | report | benchmark | embed | predict | plot | bench``.

Each command is one configuration dataclass and one function. Its flags are generated from the
dataclass (:func:`relcon.flags.add_flags`: one flag per field, nested sections with a dotted
prefix, help from the field's comment), so a flag cannot exist without reaching the
configuration; ``tests/test_cli_flags.py`` walks every flag of every command to keep it so.
Every command that trains or evaluates also takes ``--config FILE`` (TOML, YAML or JSON, the
dataclass's layout), ``--set key=value`` for anything (dotted path, value parsed as TOML, e.g.
``--set encoder.stage_blocks=[2,2,2]``) and ``--print-config``. Precedence: defaults < config
file < flags < ``--set``. The few flags that are not settings (``--out``, ``--resume``,
``--overwrite``, ``--no-progress``, ...) are :class:`RunOptions`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from relcon import __version__
from relcon.config import (
    DemoConfig,
    DistanceTrainConfig,
    EvalConfig,
    FinetuneConfig,
    PretrainConfig,
    spelled_as_flags,
    to_toml,
)
from relcon.data.formats import UNITS
from relcon.flags import FLAG_DEST, add_flags, resolve_config

__all__ = ["RunOptions", "build_parser", "main", "resolve"]

#: the flags of the ``data`` section that are spelled shorter than the generated name
#: (``--data``, not ``--data-source``): the only spelling of each, shared by every command
DATA_FLAGS = {
    "data.source": ["--data"],
    "data.users": ["--users"],
    "data.exclude_users": ["--exclude-users"],
}


# --------------------------------------------------------------------------------------------
# configurations of the commands that had none elsewhere
# --------------------------------------------------------------------------------------------
@dataclass
class FinetuneTaskConfig:
    """``relcon finetune``: an encoder + head trained on every window of a task, saved."""

    task: str = ""  # task .npz file
    model: str = "default"  # the encoder to start from: a run, a shipped name, or 'scratch'
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass
class PrepareConfig:
    """``relcon prepare``: raw recordings into a sharded corpus (see relcon.data.corpus)."""

    inputs: list[str] = field(default_factory=list)  # files or folders of recordings
    #: units of the inputs: g, m/s^2 or mg (default: detected)
    units: str | None = field(default=None, metadata={"choices": UNITS})
    #: how segments are stored: int16 or float16
    storage: str = field(default="int16", metadata={"choices": ("int16", "float16")})
    shard_segments: int = 65536  # segments per shard file
    #: user id = file stem ("stem") or parent folder ("parent")
    user_from: str = field(default="stem", metadata={"choices": ("stem", "parent")})
    stride_s: float = 2.56
    max_gap_s: float = 0.5  # longer gaps split a recording
    block_seconds: float = 3600.0  # time block of within-user candidates
    drop_nonwear: bool = True  # drop non-wear stretches
    drop_flat: bool = True  # drop flat segments
    drop_clipped: bool = False  # drop segments that hit the sensor's range
    #: a bad input file: "raise" (stop) or "skip" (skip and count it)
    on_error: str = field(default="raise", metadata={"choices": ("raise", "skip")})


@dataclass
class TasksConfig:
    """``relcon tasks build|paper``: task files from the shared or the paper's data sets."""

    root: str | None = None  # folder holding the data sets (build default: $RELCON_DATA)
    names: list[str] | None = None  # only these tasks


@dataclass
class ReportConfig:
    """``relcon report``: merge results.json files into tables, CSV, paired statistics, plots."""

    runs: list[str] = field(default_factory=list)  # results.json files or folders holding them
    #: report runs of a task scored on different test subjects anyway (with a footnote)
    allow_mismatch: bool = False
    #: the run's name (or NAME:PROTOCOL) to pair every run with (default: the first RelCon
    #: linear probe of each task, else its first run)
    reference: str | None = None
    resamples: int = 10_000  # bootstrap resamples
    seed: int = 0  # bootstrap seed


@dataclass
class RunOptions:
    """The flags that are not settings: where outputs go and how the command runs."""

    out: str | None = None
    resume: bool = False  # continue the run in --out from its last checkpoint
    overwrite: bool = False  # replace existing outputs in --out
    progress: bool = True  # --no-progress: no progress bars
    print_config: bool = False  # print the resolved configuration and exit
    config: str | None = None  # TOML/YAML/JSON file with any of the settings
    set: list[str] = field(default_factory=list)  # KEY=VALUE overrides
    quick: bool = False  # demo: the tiny smoke-test version
    json: str | None = None  # diagnose, bench: also write the result to this JSON file
    list: bool = False  # tasks: list the available tasks and exit
    quiet: bool = False  # bench: no progress lines


def _run_flags(
    p: argparse.ArgumentParser,
    out: str | bool | None = None,
    *,
    settings: bool = True,
    resume: bool = False,
    overwrite: bool = True,
    progress: bool = True,
) -> None:
    """Add the :class:`RunOptions` flags a command uses (``out``: default, None = required,
    False = none)."""
    if settings:
        p.add_argument("--config", help="TOML/YAML/JSON file with any of the settings")
        p.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE",
            help="override any setting (repeatable), e.g. --set encoder.stage_blocks=[2,2,2]",
        )  # fmt: skip
        p.add_argument("--print-config", action="store_true", help="print the settings and exit")
    if out is not False:
        p.add_argument("--out", default=out, required=out is None, help="output folder or file")
    if resume:
        p.add_argument("--resume", action="store_true", help="continue the run in --out")
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs first")
    if progress:
        p.add_argument("--no-progress", dest="progress", action="store_false", help="no bars")


def run_options(args: argparse.Namespace) -> RunOptions:
    """The :class:`RunOptions` of parsed arguments (absent flags keep their defaults)."""
    given = {k: v for k, v in vars(args).items() if k in RunOptions.__dataclass_fields__}
    return RunOptions(**given)


@dataclass
class Command:
    """One subcommand: its settings class, their defaults and the function that runs it."""

    #: the settings dataclass, or ``"module:Class"`` imported only when that command runs (so
    #: that ``relcon`` starts without importing every command's modules)
    cls: type | str
    run: Callable[[Any, RunOptions], int]
    base: Callable[[RunOptions], Any] | None = None  # default settings (None: cls())

    def settings_class(self) -> type:
        if isinstance(self.cls, str):
            module, name = self.cls.split(":")
            return getattr(importlib.import_module(module), name)
        return self.cls


def resolve(args: argparse.Namespace) -> tuple[Any, RunOptions]:
    """The settings (defaults < --config < flags < --set) and run options of parsed ``args``."""
    cmd: Command = args.command_spec
    opts = run_options(args)
    cls = cmd.settings_class()
    base = cmd.base(opts) if cmd.base else cls()
    return resolve_config(cls, base, args, opts.config, opts.set), opts


# --------------------------------------------------------------------------------------------
# commands: settings, run options -> exit status
# --------------------------------------------------------------------------------------------
def run_demo(cfg: DemoConfig, opts: RunOptions) -> int:
    from relcon.apps.demo import run_demo as demo

    demo(
        opts.out, quick=opts.quick, config=cfg, resume=opts.resume, overwrite=opts.overwrite,
        progress=opts.progress,
    )  # fmt: skip
    return 0


def run_train_distance(cfg: DistanceTrainConfig, opts: RunOptions) -> int:
    from relcon.train.distance import train_distance

    run = train_distance(
        cfg, opts.out, resume=opts.resume, overwrite=opts.overwrite, progress=opts.progress
    )
    print(f"motif distance saved in {run}/ (model.safetensors, model.json; logs in metrics.csv)")
    return 0


def run_pretrain(cfg: PretrainConfig, opts: RunOptions) -> int:
    from relcon.train.relcon import pretrain  # every method (RelCon and the baselines)

    run = pretrain(
        cfg, opts.out, resume=opts.resume, overwrite=opts.overwrite, progress=opts.progress
    )
    print(f"{cfg.method} encoder saved in {run}/ (model.safetensors, model.json; metrics.csv)")
    return 0


def run_diagnose(cfg: Any, opts: RunOptions) -> int:
    from relcon.train.diagnose import diagnose_command

    return diagnose_command(cfg, opts.json)


def run_evaluate(cfg: EvalConfig, opts: RunOptions) -> int:
    from relcon.eval.harness import evaluate

    evaluate(cfg, opts.out, overwrite=opts.overwrite, progress=opts.progress)
    return 0


def run_finetune(cfg: FinetuneTaskConfig, opts: RunOptions) -> int:
    from relcon.eval.finetune import finetune_summary, finetune_task

    if not cfg.task:
        raise ValueError("relcon finetune: --task is required (a task .npz file)")
    model = finetune_task(
        cfg.task, cfg.model, cfg.finetune, out=opts.out, overwrite=opts.overwrite,
        progress=opts.progress,
    )  # fmt: skip
    print(finetune_summary(model))
    print(f"fine-tuned model saved in {opts.out}/ (use it: relcon predict {opts.out} FILE --out X)")
    return 0


def run_prepare(cfg: PrepareConfig, opts: RunOptions) -> int:
    from relcon.data.corpus import prepare_corpus

    kwargs = asdict(cfg)
    inputs = kwargs.pop("inputs")
    summary = prepare_corpus(
        inputs, opts.out, overwrite=opts.overwrite, progress=opts.progress, **kwargs
    )
    print(summary)
    return 1 if summary.failed else 0


def _print_paths(paths: dict[str, Any]) -> int:
    for name, path in paths.items():
        print(f"{name:<24} {path}")
    return 0


def run_tasks_build(cfg: TasksConfig, opts: RunOptions) -> int:
    from relcon.eval.builtin import BUILTIN_TASKS, build_tasks

    if opts.list:
        return _print_paths(BUILTIN_TASKS)
    paths = build_tasks(cfg.root, opts.out, names=cfg.names, overwrite=opts.overwrite)
    return _print_paths(paths)


def run_tasks_paper(cfg: TasksConfig, opts: RunOptions) -> int:
    from relcon.eval.paper import PAPER_BENCHMARKS, build_paper_tasks

    if opts.list:
        return _print_paths({k: v["description"] for k, v in PAPER_BENCHMARKS.items()})
    if not cfg.root:
        raise ValueError("relcon tasks paper: --root is required (the downloaded data sets)")
    paths = build_paper_tasks(cfg.root, opts.out, names=cfg.names, overwrite=opts.overwrite)
    return _print_paths(paths)


def run_report(cfg: ReportConfig, opts: RunOptions) -> int:
    from relcon.eval.report import load_results, write_report

    files = write_report(
        load_results(cfg.runs), opts.out, overwrite=opts.overwrite,
        allow_mismatch=cfg.allow_mismatch, reference=cfg.reference, n_resamples=cfg.resamples,
        seed=cfg.seed,
    )  # fmt: skip
    return _print_paths(files)


def run_benchmark(cfg: Any, opts: RunOptions) -> int:
    from relcon.eval.suite import run_benchmark as benchmark

    benchmark(cfg, opts.out, progress=opts.progress)
    return 0


def run_embed(cfg: Any, opts: RunOptions) -> int:
    from relcon.apps.embed import embed_command

    return embed_command(cfg)


def run_predict(cfg: Any, opts: RunOptions) -> int:
    from relcon.apps.predict import predict_command

    return predict_command(cfg)


def run_plot(cfg: Any, opts: RunOptions) -> int:
    from relcon.apps.plots import plot_command

    print(f"wrote {plot_command(cfg)}")
    return 0


def run_bench(cfg: Any, opts: RunOptions) -> int:
    from relcon.apps.speed import run_and_print

    return run_and_print(cfg, json_path=opts.json, quiet=opts.quiet)


# --------------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------------
def _command(
    sub: Any,
    name: str,
    spec: Command,
    help: str,
    description: str,
    flags: dict[str, Any] | None = None,
    *,
    only: str | None = None,
    top: str | None = None,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with its settings' flags: for every command when ``only`` is
    None, else only when ``only`` is its top-level name ``top`` (default ``name``)."""
    p = sub.add_parser(name, help=help.replace("%", "%%"), description=description)
    p.set_defaults(command_spec=spec, command_parser=p)
    if only is None or (top or name) == only:
        base = spec.base(RunOptions()) if spec.base else None
        add_flags(p, spec.settings_class(), base, **(flags or {}))
    return p


def _demo_base(opts: RunOptions) -> DemoConfig:
    from relcon.apps.demo import demo_config

    return demo_config(opts.quick)


def _subjects_file(text: str) -> list[str]:
    from relcon.eval.subjects import read_subjects_file

    return read_subjects_file(text)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``relcon`` parser; with ``only``, the settings flags of that command alone (what
    :func:`main` builds, so that start-up does not import every command's modules)."""
    command = functools.partial(_command, only=only)
    parser = argparse.ArgumentParser(
        prog="relcon",
        description="RelCon: relative contrastive learning for wearable accelerometry "
        "(Xu et al., ICLR 2025). Input: acceleration in g at 100 Hz, 2.56 s windows.",
    )
    parser.add_argument("--version", action="version", version=f"relcon {__version__}")
    parser.add_argument(
        "--debug", action="store_true",
        help="show the full traceback of an error (also RELCON_DEBUG=1; accepted anywhere)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = {"names": DATA_FLAGS}

    p = command(
        sub, "demo", Command(DemoConfig, run_demo, _demo_base),
        "distance + RelCon pretraining + linear probe on the bundled WISDM data",
        "Train the motif distance and RelCon on 26 bundled WISDM users, then compare a "
        "subject-wise linear probe of RelCon, the same encoder randomly initialised, and "
        "hand-crafted features on the 20 other users. Writes demo.json, demo.csv and demo.png "
        "to --out.",
    )  # fmt: skip
    p.add_argument(
        "--device", dest="cfg:distance.device,pretrain.device", default=argparse.SUPPRESS,
        help="device of both trainings: auto (default), cpu, cuda, ...",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="tiny smoke test (well under 2 minutes)")
    _run_flags(p, "relcon-demo", resume=True)

    p = command(
        sub, "train-distance", Command(DistanceTrainConfig, run_train_distance),
        "train the motif distance (cross-attention reconstruction)",
        "Train relcon.models.MotifDistance to rebuild each window from an augmented copy "
        "(2 of 8 augmentations per window). Writes checkpoints, metrics.csv and tb/ to --out.",
        data,
    )  # fmt: skip
    _run_flags(p, resume=True)

    p = command(
        sub, "pretrain", Command(PretrainConfig, run_pretrain),
        "pretrain the encoder: RelCon, or a self-supervised baseline (--method)",
        "Pretrain relcon.models.ResNet1DEncoder with the relative contrastive loss, ranking "
        "candidates with a frozen motif distance (--distance), or with a self-supervised "
        "baseline on the same data, encoder and budget (--method). Writes checkpoints, "
        "metrics.csv and tb/ to --out.",
        data,
    )  # fmt: skip
    _run_flags(p, resume=True)

    p = sub.add_parser(
        "diagnose",
        help="is the teacher worth learning from? diagnostics of a motif distance",
        description="How well a motif distance ranks labelled candidates laid out as in "
        "pretraining (precision@1/@5, Spearman, rotation probe), beside raw Euclidean and a "
        "random encoder's cosine, on the task's subjects the distance never saw.",
    )
    dsub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = command(
        dsub, "distance", Command("relcon.train.diagnose:DiagnoseConfig", run_diagnose),
        "diagnostics of a motif distance on a labelled task",
        "RUN: motif-distance run folder or checkpoint, or 'default' (shipped).",
        {"positional": {"distance": {"nargs": "?"}}}, top="diagnose",
    )  # fmt: skip
    q.add_argument("--json", help="also write the result to this JSON file")
    _run_flags(q, False, overwrite=False, progress=False)

    p = command(
        sub, "evaluate", Command(EvalConfig, run_evaluate),
        "evaluate features with a protocol on a task, split by subject",
        "Evaluate --features (model: the embeddings of --model, a shipped name or a run; random: "
        "the encoder with random weights; handcrafted; minirocket; supervised: an encoder trained "
        "on the labels) on a task file (--task) or on the labelled windows of "
        "--data, with subject-wise k-fold cross-validation or the task's fixed split, optionally "
        "few-shot. Hyperparameters are chosen on validation subjects inside each fold; users the "
        "model was pretrained on are left out. To compare runs like for like, give each the "
        "same --exclude-users-of (or --subjects FILE): the folds depend only on the kept "
        "subjects and the seed. Writes results.json (relcon.eval.results: schema_version, name, "
        "features, protocol, task with its splits and their test subjects, rows of name, task, "
        "protocol, metric, mean, std, n) and one folder per fold to --out.",
        {**data, "types_": {"subjects": _subjects_file}},
    )  # fmt: skip
    _run_flags(p)

    p = command(
        sub, "finetune", Command(FinetuneTaskConfig, run_finetune),
        "train an encoder + head on a task and save a model for relcon predict",
        "Fine-tune an encoder (default: the shipped RelCon model; 'scratch' for a random "
        "one) with a classification or regression head on every window of --task, with early "
        "stopping on validation subjects, and save it to --out. Use relcon evaluate --protocol "
        "finetune to measure it on held-out subjects first. With few labels, --probe "
        "linear_fixed --pooling stages --few-shot-augment 8 instead fits the probe relcon "
        "evaluate measures (--protocol linear_fixed) on the frozen encoder's embedding and "
        "keeps it as the head (docs/payoff.md, section 11); --plus-handcrafted "
        "--handcrafted-fixed-c 0.03 adds a probe of hand-crafted features as a second head, "
        "fused as relcon evaluate --plus-handcrafted fuses them (section 15).",
        {"flatten": ["finetune"]},
    )  # fmt: skip
    _run_flags(p)

    p = command(
        sub, "prepare", Command(PrepareConfig, run_prepare),
        "turn raw recordings into a sharded corpus for pretraining at scale",
        "Convert recordings (*.csv[.gz] with a time column and x, y, z; *.npz; *.parquet; "
        "*.cwa/*.gt3x/*.bin with relcon[devices]) into shards of 2.56 s segments at 100 Hz in g "
        "plus a Parquet index. Resumable (rerun the same command) and appendable (new inputs "
        "never rewrite existing shards). Train from it with --data CORPUS.",
        {"positional": {"inputs": {"nargs": "*"}}},
    )  # fmt: skip
    _run_flags(p)

    p = sub.add_parser("tasks", help="build task files", description="Build task files (.npz).")
    tsub = p.add_subparsers(dest="tasks_command", required=True, metavar="SUBCOMMAND")
    for name, run, text in (
        ("build", run_tasks_build, "from the shared data sets (WISDM, SPSW, HAPT, Oxford, IPOL)"),
        ("paper", run_tasks_paper, "from the paper's benchmark data sets you downloaded"),
    ):
        q = command(
            tsub, name, Command(TasksConfig, run), f"task files {text}",
            f"Write one task file (.npz) per task {text} into --out (see --list).",
            {"names": {"root": ["--data-root" if name == "build" else "--raw-root"]}},
            top="tasks",
        )  # fmt: skip
        q.add_argument("--list", action="store_true", help="list the tasks and exit")
        _run_flags(q, "tasks", progress=False)

    p = command(
        sub, "report", Command(ReportConfig, run_report),
        "merge results.json files into a table, CSV and plots",
        "Merge evaluation results into report.md (mean +- std, best in bold), report.csv "
        "and plots (few-shot curves, per-class F1, confusion matrices), with paired statistics: "
        "per task, each run's difference from a reference run per test subject (at every k for "
        "few-shot runs), its mean "
        "with a bootstrap 95 % interval, and win/tie/loss marks (paired.csv). Runs of one task "
        "must share their per-fold test subjects, else the report refuses (--allow-mismatch).",
        {"positional": {"runs": {"nargs": "+"}}},
    )  # fmt: skip
    _run_flags(p, progress=False)

    p = command(
        sub, "benchmark", Command("relcon.eval.suite:BenchmarkConfig", run_benchmark),
        "the whole benchmark suite on CPU: tasks, pretraining, baselines, evaluation, report",
        "Build the built-in tasks, pretrain RelCon and the self-supervised baselines on the "
        "same wrist data (held-out subjects excluded), evaluate every method on every task (all "
        "on the same subjects and folds: the task's subjects minus those any compared encoder "
        "was pretrained on), and write the report with paired statistics. Resumes where it "
        "stopped when rerun.",
    )  # fmt: skip
    _run_flags(p, "relcon-benchmark", overwrite=False)

    window_help = (
        "Stream recordings (CSV/CSV.gz with time + x, y, z; Parquet; .npz; .cwa/.gt3x/.bin with "
        "relcon[devices]), resample to 100 Hz with an anti-aliased filter, cut 2.56 s windows "
        "(gaps and non-wear skipped, counted in the printed summary) and write one row per "
        "window to --out; memory stays bounded whatever the recording length. Rules: see "
        "relcon.data.stream."
    )
    recordings = {"recordings": {"nargs": "+"}}
    p = command(
        sub, "embed", Command("relcon.apps.embed:EmbedConfig", run_embed),
        "embed every 2.56 s window of raw recordings (one Parquet/CSV row per window)",
        window_help + " Columns: recording, window_index, start_s, start_time, e000, e001, ...",
        {"positional": recordings},
    )  # fmt: skip
    _run_flags(p, False, overwrite=False, progress=False)
    p = command(
        sub, "predict", Command("relcon.apps.predict:PredictConfig", run_predict),
        "apply a model saved by relcon finetune to raw recordings (one row per window)",
        window_help + " Columns: per-window labels (with class probabilities) or values.",
        {"positional": {"model": {}, **recordings}},
    )  # fmt: skip
    _run_flags(p, False, overwrite=False, progress=False)
    p = command(
        sub, "plot", Command("relcon.apps.plots:PlotConfig", run_plot),
        "pictures: a recording's trace, a 2-D map of embeddings, a distance ranking",
        "recording FILE: the acceleration trace with windows coloured by class "
        "(--model: a relcon finetune folder adds predictions). map TASK.npz: t-SNE/UMAP/PCA map "
        "of the windows' embeddings coloured by label or user (--model: encoder, default "
        "shipped). distance TASK.npz: an anchor window beside its user's windows ranked by the "
        "motif distance (--model: distance run, default shipped). PNG, SVG or PDF from the "
        "suffix; --html for an interactive, self-contained HTML file.",
        {"positional": {"what": {"choices": ["recording", "map", "distance"]}, "input": {}}},
    )  # fmt: skip
    _run_flags(p, False, overwrite=False, progress=False)

    p = sub.add_parser(
        "bench",
        help="throughput and memory: loader, distance training, scoring, pretraining step, embedding",
        description="Measure (a) the data loader, (b) distance-model training, (c) candidate "
        "scoring, (d) a full pretraining step (anchors/s, encoded segments/s, side by side with "
        "the encoder's own forward+backward), (e) embedding, (g) embedding a recording end to end "
        "(--only); peak memory and, on a GPU, model FLOPs utilisation. Prints a table; --json "
        "writes it.",
    )
    p.set_defaults(
        command_spec=Command("relcon.apps.speed:BenchConfig", run_bench), command_parser=p
    )
    if only in (None, "bench"):
        from relcon.apps.speed import add_bench_arguments

        add_bench_arguments(p)
    _run_flags(p, False, overwrite=False, progress=False)
    return parser


#: exceptions that describe a problem with the user's input or environment (their message is
#: the whole story); anything else is reported as an unexpected error
USER_ERRORS = (ValueError, OSError, EOFError, RuntimeError, ImportError, LookupError)


def error_text(e: BaseException) -> str:
    """The one-line message of an exception for ``relcon: error: ...``: an OSError as
    ``FILE: reason``; an unexpected exception type with its name and where to look further."""
    if isinstance(e, OSError) and e.filename and e.strerror:
        other = f" -> {e.filename2}" if e.filename2 else ""
        return f"{e.filename}{other}: {e.strerror}"
    text = str(e).strip() or type(e).__name__
    if isinstance(e, KeyError) and text.startswith("'"):
        text = f"missing entry {text}"
    if not isinstance(e, USER_ERRORS):
        return f"{type(e).__name__}: {text} (unexpected; rerun with --debug for the traceback)"
    return text


def interrupted_text(argv_command: str, cfg: Any, opts: RunOptions) -> str:
    """What an interrupted command leaves behind and how to go on, true for that command."""
    if argv_command in ("train-distance", "pretrain", "demo"):
        out = Path(opts.out or "")
        pointers = sorted(out.glob("checkpoints/LATEST")) + sorted(out.glob("*/checkpoints/LATEST"))
        if opts.out and pointers:
            kept = ", ".join(str(p.parent / p.read_text().strip()) for p in pointers)
            return f"the last checkpoint is kept ({kept}); rerun the same command with --resume"
        return "no checkpoint had been written yet, so there is nothing to resume"
    if argv_command in ("embed", "predict"):
        return f"nothing was written to {cfg.out} (a table is written only once complete)"
    if argv_command in ("prepare", "benchmark"):
        return "the finished parts are kept; rerun the same command to continue where it stopped"
    return "outputs are written only once complete; rerun the command"


def _flag_spellings(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Dotted setting (or run option) -> its option string in ``parser``, for messages."""
    out: dict[str, str] = {}
    for action in parser._actions:
        if not action.option_strings:
            continue
        names = [o for o in action.option_strings if not o.startswith("--no-")]
        for dotted in action.dest.removeprefix(FLAG_DEST).split(","):
            out.setdefault(dotted, (names or action.option_strings)[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    """``relcon``: run one command; any error becomes one line on stderr and a non-zero exit
    status (2: a problem with the input, 1: an unexpected error), with the traceback only under
    ``--debug`` (or ``RELCON_DEBUG=1``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get("RELCON_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    chosen = next((a for a in argv if not a.startswith("-")), "")  # the subcommand's name
    args = build_parser(chosen).parse_args(argv)
    if debug:
        return _run(args, chosen)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return _run(args, chosen)
        except Exception as e:
            print(f"relcon: error: {error_text(e)}", file=sys.stderr)
            return 2 if isinstance(e, USER_ERRORS) else 1


def _run(args: argparse.Namespace, chosen: str) -> int:
    with spelled_as_flags(_flag_spellings(args.command_parser)):
        cfg, opts = resolve(args)
        if opts.print_config:
            print(to_toml(cfg))
            return 0
        try:
            return int(args.command_spec.run(cfg, opts) or 0)
        except KeyboardInterrupt:
            print(f"\nrelcon: interrupted; {interrupted_text(chosen, cfg, opts)}", file=sys.stderr)
            return 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line (``relcon: warning: ...``), not Python's two-line form."""
    print(f"relcon: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
