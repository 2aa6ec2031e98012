"""One name per idea (issue 21; ``docs/architecture.md``, "One name per idea"): an old spelling
is never accepted silently. Every command refuses every old flag, naming the new one where the
command has that setting; config files and ``--set`` refuse old keys the same way."""

from __future__ import annotations

import argparse

import pytest

import relcon.cli as cli
from relcon.config import RENAMED, DistanceTrainConfig, PretrainConfig, load_config

#: every old spelling of a setting, as a flag (independent of RENAMED: written out by hand)
OLD_FLAGS = {
    "--checkpoint": "--model",
    "--checkpoint-path": "--model",
    "--name-or-path": "--model",
    "--amp": "--precision",
    "--no-amp": "--precision",
    "--cpu-bf16": "--precision",
    "--no-cpu-bf16": "--precision",
    "--embed-precision": "--precision",
}


def _leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """``(words, parser)`` of every command (the parsers that hold no subcommands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*words, name))


COMMANDS = list(_leaves(cli.build_parser()))


def test_the_table_of_old_spellings_covers_renamed():
    """Every entry of RENAMED (the code's table) is in this file's hand-written list."""
    for renamed in RENAMED.values():
        for old, new in renamed.items():
            if old in ("model", "method"):  # names that stay current elsewhere, tested below
                continue
            assert OLD_FLAGS.get("--" + old.replace("_", "-")) == "--" + new.replace("_", "-")


@pytest.mark.parametrize(
    "words,parser", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_no_command_accepts_an_old_flag(words, parser):
    """Each old flag is a hidden option that refuses itself naming the new flag, or not an option
    of the command at all, not even as an abbreviation of a longer one (argparse accepts unique
    prefixes): either way argparse exits with an error."""
    options = parser._option_string_actions
    for old, new in OLD_FLAGS.items():
        action = options.get(old)
        if action is not None:
            assert action.help == argparse.SUPPRESS and action.metavar == new, (words, old)
            with pytest.raises(SystemExit) as e:
                action(parser, argparse.Namespace(), None, old)
            assert e.value.code == 2
        else:
            longer = [o for o in options if o.startswith(old)]
            assert not longer, f"relcon {' '.join(words)}: {old} abbreviates {longer}"


@pytest.mark.parametrize(
    "argv,new",
    [
        (["pretrain", "--out", "x", "--amp"], "--precision"),
        (["pretrain", "--out", "x", "--no-cpu-bf16"], "--precision"),
        (["train-distance", "--out", "x", "--no-amp"], "--precision"),
        (["bench", "--embed-precision", "bf16"], "--precision"),
    ],
)
def test_an_old_flag_is_an_error_naming_the_new_one(argv, new, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{argv[-1] if argv[-1].startswith('--') else argv[-2]} was renamed: use {new}" in err


@pytest.mark.parametrize(
    "cls,text,old,new",
    [
        (PretrainConfig, "amp = true\n", "amp", "precision"),
        (PretrainConfig, "cpu_bf16 = false\n", "cpu_bf16", "precision"),
        (DistanceTrainConfig, "[model]\nchannels = 8\n", "model", "architecture"),
    ],
)
def test_config_files_refuse_old_keys(tmp_path, cls, text, old, new):
    path = tmp_path / "old.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"{path}: key '{old}' was renamed '{new}'"):
        load_config(path, cls)


def test_set_refuses_old_keys(capsys):
    assert cli.main(["pretrain", "--out", "unused", "--set", "amp=false", "--print-config"]) == 2
    assert "key 'amp' was renamed 'precision'" in capsys.readouterr().err


def test_precision_is_one_vocabulary():
    """Training and inference take the same values, resolved by one function."""
    from relcon.apps.embed import EmbedConfig
    from relcon.apps.speed import BenchConfig
    from relcon.models.encoder import PRECISIONS

    def choices(cls):
        return {
            f.name: tuple(f.metadata.get("choices", ())) for f in cls.__dataclass_fields__.values()
        }["precision"]

    for cls in (PretrainConfig, DistanceTrainConfig, BenchConfig, EmbedConfig):
        assert set(choices(cls)) == set(PRECISIONS) == {"fp32", "bf16", "auto"}, cls


def _documentation_lines():
    """``(file, line number, text)`` of every line of the README, the model card, docs/,
    benchmarks/ and scripts/ (a command continued with a trailing backslash reads as one line,
    numbered by its first)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "README.md", root / "MODEL_CARD.md", *sorted((root / "docs").glob("*.md"))]
    files += [*sorted((root / "docs").glob("*.py")), root / "benchmarks" / "README.md"]
    for folder in ("benchmarks", "scripts"):
        files += sorted((root / folder).glob("*.sh")) + sorted((root / folder).glob("*.py"))
    for path in files:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            first, line = i + 1, lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i]
            yield str(path.relative_to(root)), first, line
            i += 1


def _documented_commands():
    """``(file, line, words, flags)`` of every ``relcon COMMAND ... --flag`` in the
    documentation (:func:`_documentation_lines`)."""
    import re

    leaves = {words: parser for words, parser in COMMANDS}
    for name, no, line in _documentation_lines():
        for m in re.finditer(r"\brelcon ((?:[a-z][a-z-]* ?){1,2})([^`;|&)'\"]*)", line):
            names = tuple(m.group(1).split())
            words = names if names in leaves else names[:1]
            if words not in leaves:
                continue
            flags = [
                f.split("=")[0] for f in re.findall(r"(?<!\S)--[a-z][a-z0-9-]*\S*", m.group(2))
            ]
            if flags:
                yield name, no, words, flags


def test_documented_commands_use_current_flags():
    """No README, model card, docs page or script shows a flag the command does not take (an
    old spelling, a dropped option): the documented commands work as written."""
    bad = []
    for name, no, words, flags in _documented_commands():
        options = dict(COMMANDS)[words]._option_string_actions
        for flag in flags:
            action = options.get(flag)
            if action is None or action.help == argparse.SUPPRESS:
                bad.append(f"{name}:{no}: relcon {' '.join(words)} {flag}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["all_positions", "wrist"])
def test_shipped_config_files_use_current_keys(name):
    """The configs/ files load (an old key would be refused, an unknown one too)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "configs"
    assert load_config(folder / f"{name}_distance.toml", DistanceTrainConfig).steps > 0
    assert load_config(folder / f"{name}_pretrain.toml", PretrainConfig).steps > 0


def _documented_script_commands():
    """``(file, line, script, flags)`` of every ``python scripts/X.py ... --flag`` (and
    benchmarks/) in the documentation (:func:`_documentation_lines`)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name, no, line in _documentation_lines():
        for m in re.finditer(r"\bpython3? ((?:scripts|benchmarks)/\w+\.py)([^`;|&)'\"]*)", line):
            flags = [f.split("=")[0] for f in re.findall(r"(?<!\S)--[a-z][a-z0-9-]*", m.group(2))]
            if flags:
                yield name, no, root / m.group(1), flags


def test_documented_script_commands_use_current_flags():
    """Every flag shown with a ``python scripts/...``/``benchmarks/...`` command is declared
    by that script (argparse flags are string literals in its source): a documented command
    with a renamed or dropped flag fails here, not in a reader's shell."""
    bad, seen = [], 0
    for name, no, script, flags in _documented_script_commands():
        if not script.is_file():
            bad.append(f"{name}:{no}: {script.name} does not exist")
            continue
        source = script.read_text()
        seen += 1
        bad += [f"{name}:{no}: {script.name} {f}" for f in flags if f'"{f}"' not in source]
    assert seen > 5, "the pattern found almost no documented script commands"
    assert not bad, "\n".join(bad)
