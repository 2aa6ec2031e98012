"""The command line as a careless user meets it (issue 25): every help page renders, every error
is one line naming the flag or file, every numeric setting is checked, ``--resume`` keeps its
run's settings, messages and progress fit where they are shown."""

from __future__ import annotations

import argparse
import dataclasses
import io
import typing
import warnings

import pytest

import relcon.cli as cli
from relcon.config import SETTING_RULES, check_settings
from relcon.flags import _leaf
from relcon.progress import progress_bar


def _tree(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """``(words, parser)`` of the top level, every group of subcommands and every command."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _tree(sub, (*words, name))


PAGES = [words for words, _ in _tree(cli.build_parser())]


def test_the_walk_finds_every_command():
    leaves = {w for w in PAGES if w} - {("diagnose",), ("tasks",)}
    assert {w[0] for w in leaves} >= {
        "demo", "train-distance", "pretrain", "diagnose", "evaluate", "finetune", "prepare",
        "tasks", "report", "benchmark", "embed", "predict", "plot", "bench",
    }  # fmt: skip
    assert len(leaves) == 15  # 12 commands, tasks build|paper, diagnose distance


@pytest.mark.parametrize("words", PAGES, ids=lambda w: " ".join(w) or "relcon")
def test_every_help_page_renders(words, capsys):
    """As a user types it (``main`` builds only that command's flags): exit 0, a usage line, and
    no argparse escape (``%%``) left in the text."""
    with pytest.raises(SystemExit) as e:
        cli.main([*words, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: relcon")
    assert "%%" not in out


# --------------------------------------------------------------------------------------------
# one error boundary
# --------------------------------------------------------------------------------------------
def _failing(exc: BaseException):
    def run(cfg, opts):
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "status", "expected"),
    [
        (PermissionError(13, "Permission denied", "/data/out/x.parquet"), 2,
         "relcon: error: /data/out/x.parquet: Permission denied"),
        (EOFError("Compressed file ended before the end-of-stream marker was reached"), 2,
         "relcon: error: Compressed file ended"),
        (TypeError("unsupported operand"), 1,
         "relcon: error: TypeError: unsupported operand (unexpected; rerun with --debug"),
    ],
)  # fmt: skip
def test_any_exception_is_one_line_and_a_status(monkeypatch, capsys, exc, status, expected):
    monkeypatch.setattr(cli, "run_report", _failing(exc))
    assert cli.main(["report", "r.json", "--out", "rep"]) == status
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cli, "run_report", _failing(TypeError("boom")))
    with pytest.raises(TypeError, match="boom"):
        cli.main(["report", "r.json", "--out", "rep", "--debug"])


def test_a_warning_is_one_line(monkeypatch, capsys):
    def run(cfg, opts):
        warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "run_report", run)
    assert cli.main(["report", "r.json", "--out", "rep"]) == 0
    assert capsys.readouterr().err == "relcon: warning: overflow encountered in cast\n"


@pytest.mark.parametrize(
    ("text", "fmt"), [("a: [\n", "YAML"), ("steps = \n", "TOML"), ('{"steps": }', "JSON")]
)
def test_a_broken_config_file_is_named(tmp_path, capsys, text, fmt):
    path = tmp_path / f"settings.{fmt.lower()}"
    path.write_text(text)
    assert cli.main(["pretrain", "--out", str(tmp_path / "o"), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not valid {fmt}" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# numeric settings
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["pretrain", "--steps", "0"], "--steps 0 must be at least 1"),
        (["pretrain", "--within-user", "-2"], "--within-user -2 must be at least 1"),
        (["train-distance", "--lr", "nan"], "--lr nan must be a finite number"),
        (["evaluate", "--task", "t.npz", "--folds", "1"], "--folds 1 must be at least 2"),
        (["finetune", "--task", "t.npz", "--epochs", "0"], "--epochs 0 must be at least 1"),
        (["pretrain", "--set", "data.block_seconds=-1"], "--data-block-seconds -1.0 must be above 0"),
        (["diagnose", "distance", "--anchors", "-5"], "--anchors -5 must be at least 1"),
        (["embed", "r.csv", "--out", "e.parquet", "--stride-s", "0"], "--stride-s 0.0 must be above 0"),
        (["bench", "--steps", "0"], "--steps 0 must be at least 1"),
        (["report", "r.json", "--resamples", "0"], "--resamples 0 must be at least 1"),
    ],
)  # fmt: skip
def test_a_setting_out_of_range_names_the_flag(tmp_path, capsys, words, expected):
    if "--out" not in words and words[0] not in ("diagnose", "bench"):
        words = [*words, "--out", str(tmp_path / "o")]
    assert cli.main(words) == 2
    err = capsys.readouterr().err
    assert err.startswith("relcon: error: ") and expected in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_python_users_read_python_spellings():
    from relcon.config import PretrainConfig

    with pytest.raises(
        ValueError,
        match=r"^encoder\.stem_filters=0 must be at least 1; steps=-1 must be at least 1$",
    ):
        check_settings(PretrainConfig(steps=-1, encoder=dataclasses.replace(
            PretrainConfig().encoder, stem_filters=0)))  # fmt: skip


def _numeric_fields(cls: type, seen: set) -> typing.Iterator[tuple[str, str]]:
    if cls in seen:
        return
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        if dataclasses.is_dataclass(tp) or inner:
            yield from _numeric_fields(tp if dataclasses.is_dataclass(tp) else inner[0], seen)
            continue
        leaf = _leaf(tp)
        if leaf and leaf[0] in (int, float) and "bound" not in f.metadata:
            yield cls.__name__, f.name


def test_every_numeric_setting_of_every_command_has_a_rule():
    """A new numeric setting without a line in SETTING_RULES (or a bound of its own) fails here,
    so no count, size or rate goes unchecked."""
    seen: set = set()
    missing = []
    for _, parser in _tree(cli.build_parser()):
        spec = parser.get_default("command_spec")
        if spec is not None:
            missing += [f for f in _numeric_fields(spec.settings_class(), seen)
                        if f[1] not in SETTING_RULES]  # fmt: skip
    assert not missing
    assert len(seen) >= 15  # the walk reached the commands' settings and their sections


def test_the_rules_hold_for_every_default():
    seen: set = set()
    for _, parser in _tree(cli.build_parser()):
        spec = parser.get_default("command_spec")
        if spec is not None and spec.settings_class() not in seen:
            seen.add(spec.settings_class())
            base = spec.base(cli.RunOptions()) if spec.base else spec.settings_class()()
            check_settings(base)


# --------------------------------------------------------------------------------------------
# interrupted
# --------------------------------------------------------------------------------------------
def _interrupt(cfg, opts):
    raise KeyboardInterrupt


def test_interrupted_embed_does_not_offer_resume(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "run_embed", _interrupt)
    out = tmp_path / "e.parquet"
    assert cli.main(["embed", "r.csv", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"nothing was written to {out}" in err and "--resume" not in err


def test_interrupted_pretrain_without_checkpoint_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "run_pretrain", _interrupt)
    assert cli.main(["pretrain", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "rerun the same command with --resume" not in err


def test_interrupted_pretrain_with_a_checkpoint_names_it(monkeypatch, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000020").mkdir(parents=True)
    (run / "checkpoints" / "LATEST").write_text("step-00000020\n")
    monkeypatch.setattr(cli, "run_pretrain", _interrupt)
    assert cli.main(["pretrain", "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert str(run / "checkpoints" / "step-00000020") in err and "--resume" in err


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_is_a_few_whole_lines():
    log = io.StringIO()
    bar = progress_bar(total=10_000, desc="embed", unit="window", file=log, mininterval=0)
    for _ in range(10_000):
        bar.update(1)
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert 2 <= len(lines) <= 6  # start, each quarter, end: not one line per update
    assert lines[0].startswith("embed:   0%") and lines[-1].startswith("embed: 100%")


def test_progress_in_a_log_stopped_at_once_says_so_once():
    """Work that fails before its first update: one line at 0 %, not the same line twice."""
    log = io.StringIO()
    bar = progress_bar(total=50, desc="embed", unit="window", file=log, mininterval=0)
    bar.close()
    assert [line.split("|")[0] for line in log.getvalue().splitlines()] == ["embed:   0%"]
    log = io.StringIO()
    bar = progress_bar(total=50, desc="embed", unit="window", file=log, mininterval=0)
    bar.update(20)  # 40 %: a quarter passed, its line written; closing adds nothing new
    bar.close()
    assert [line.split("|")[0] for line in log.getvalue().splitlines()] == [
        "embed:   0%",
        "embed:  40%",
    ]


def test_progress_on_a_terminal_is_a_live_bar():
    term = _Terminal()
    bar = progress_bar(total=100, desc="embed", file=term, mininterval=0)
    for _ in range(100):
        bar.update(1)
    bar.close()
    assert term.getvalue().count("\r") > 10


def test_no_progress_writes_nothing():
    log = io.StringIO()
    for _ in progress_bar(range(100), enabled=False, file=log):
        pass
    assert log.getvalue() == ""


# --------------------------------------------------------------------------------------------
# --resume keeps the run's settings
# --------------------------------------------------------------------------------------------
def test_resume_refuses_other_settings_and_keeps_the_record(tmp_path, demo_segments):
    import numpy as np

    from conftest import TINY_DISTANCE
    from relcon.config import DistanceTrainConfig
    from relcon.train.distance import train_distance

    segs = demo_segments.subset(np.flatnonzero(np.isin(demo_segments.user,
                                                       np.unique(demo_segments.user)[:2]))[::8])  # fmt: skip
    cfg = DistanceTrainConfig(architecture=TINY_DISTANCE, steps=2, batch_size=4, ckpt_every=1)
    run = tmp_path / "run"
    train_distance(cfg, run, segments=segs, progress=False)
    record = (run / "config.toml").read_text()
    changed = dataclasses.replace(cfg, batch_size=8, lr=0.01, log_every=5)
    with pytest.raises(ValueError) as e:
        train_distance(changed, run, resume=True, segments=segs, progress=False)
    text = str(e.value)
    assert text.startswith("resume: these settings differ from the run's")
    assert "batch_size=8 (the run: 4)" in text and "lr=0.01 (the run: 0.001)" in text
    assert "log_every" not in text  # how often it logs may change
    assert (run / "config.toml").read_text() == record
    # the same run resumed with its own settings (and another logging interval) is accepted
    train_distance(dataclasses.replace(cfg, log_every=5), run, resume=True, segments=segs,
                   progress=False)  # fmt: skip


def test_resume_conflicts_are_spelled_as_flags_on_the_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("steps = 10\nbatch_size = 64\n[data]\nsource = 'demo'\n")
    words = ["train-distance", "--out", str(run), "--resume", "--batch-size", "32"]
    assert cli.main([*words, "--data", "spsw_smartwatch"]) == 2
    err = capsys.readouterr().err
    assert "--resume: these settings differ" in err
    assert "--batch-size 32 (the run: 64)" in err
    assert "--data spsw_smartwatch (the run: 'demo')" in err
    assert "--steps 1000 (the run: 10)" in err
