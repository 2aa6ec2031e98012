"""Every flag of every ``relcon`` subcommand reaches the resolved settings (issue 11).

The walk is generic: for each option and positional argument of each (sub)command it builds a
command line that gives that argument a distinctive value, parses it, resolves the settings the
way ``relcon`` does (:func:`relcon.cli.resolve`) and checks that the value arrived where the
flag says (``cfg:`` dotted paths) or in :class:`relcon.cli.RunOptions`. A flag that reaches
neither fails, so a flag cannot be dropped silently.

A setting that arrives must also be used: :func:`unread_fields` scans the package's source for
a read of every field of every command's settings (and of the run options), so a setting that
nothing reads fails too.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

import relcon
from relcon.cli import RunOptions, build_parser, main, resolve
from relcon.flags import FLAG_DEST

#: options that are neither settings nor run options
NOT_SETTINGS = {"help", "version"}


def _subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """``(command words, parser)`` of every leaf subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*prefix, name))
            return
    yield prefix, parser


LEAVES = list(_subparsers(build_parser()))


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _sample(action: argparse.Action, tmp_path: Path, n: int) -> tuple[list[str], object]:
    """Command-line words for ``action`` (``n`` of them for a list) and the value they give."""
    if action.choices:
        choice = list(action.choices)[-1]
        return [choice], [choice] if action.nargs in ("+", "*") else choice
    kind = action.type
    if kind is int:
        value: list = [7 + i for i in range(n)]
    elif kind is float:
        value = [0.375 + i for i in range(n)]
    elif kind in (None, str):
        value = [f"sample-{i}" for i in range(n)]
    else:  # a converter from a file, e.g. --subjects FILE
        path = tmp_path / "subjects.txt"
        path.write_text("s1\ns2\n")
        return [str(path)], ["s1", "s2"]
    if action.nargs in ("+", "*"):
        return [str(v) for v in value], value
    return [str(value[0])], value[0]


def _command_line(parser, action, own: list[str]) -> list[str]:
    """``own`` (the words for ``action``) plus words that satisfy the other required arguments,
    positional arguments in their order."""
    options: list[str] = []
    positional: list[str] = []
    for other in parser._actions:
        if other is action:
            (positional if not other.option_strings else options).extend(own)
        elif other.required:
            if other.option_strings:
                options += [other.option_strings[0], "req-out"]
            else:
                positional += [next(iter(other.choices))] if other.choices else ["req-value"]
    return options + positional


def _cases(parser: argparse.ArgumentParser, tmp_path: Path, defaults):
    """``(action, words, expected value)`` for every argument of ``parser`` (bools both ways).

    A list gets as many values as its default has (settings check that related lists agree).
    """
    for action in parser._actions:
        if action.dest in NOT_SETTINGS or isinstance(action, argparse._SubParsersAction):
            continue
        if action.dest.startswith("renamed:"):  # an old spelling, refused (tests/test_names.py)
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            yes, no = action.option_strings[0], action.option_strings[1]
            yield action, [yes], True
            yield action, [no], False
        elif action.nargs == 0:  # store_true / store_false / store_const / append_const
            yield action, [action.option_strings[0]], action.const
        elif action.dest == "set":  # --set on the first text setting
            texts = [a.dest for a in parser._actions if a.type is str and a.nargs is None]
            key = next(d[len(FLAG_DEST) :] for d in texts if d.startswith(FLAG_DEST))
            yield action, ["--set", f"{key}=five"], [f"{key}=five"]
        else:
            n = 2
            if action.dest.startswith(FLAG_DEST):
                default = _get(defaults, action.dest[len(FLAG_DEST) :].split(",")[0])
                n = len(default) if isinstance(default, (list, tuple)) and default else 2
            words, value = _sample(action, tmp_path, n)
            yield (
                action,
                ([action.option_strings[-1]] if action.option_strings else []) + words,
                value,
            )


@pytest.mark.parametrize("words,parser", LEAVES, ids=[" ".join(w) for w, _ in LEAVES])
def test_every_flag_reaches_the_settings(words, parser, tmp_path):
    root = build_parser()
    defaults, _ = resolve(root.parse_args([*words, *_command_line(parser, None, [])]))
    checked = 0
    for action, flag_words, expected in _cases(parser, tmp_path, defaults):
        argv = [*words, *_command_line(parser, action, flag_words)]
        if action.dest == "config":  # a real settings file: its value must arrive too
            path = tmp_path / "settings.toml"
            path.write_text("")
            argv[argv.index(flag_words[-1])] = str(path)
            expected = str(path)
        args = root.parse_args(argv)
        cfg, opts = resolve(args)
        if action.dest.startswith(FLAG_DEST):
            for dotted in action.dest[len(FLAG_DEST) :].split(","):
                got = _get(cfg, dotted)
                got = list(got) if isinstance(got, tuple) else got
                assert got == expected, f"relcon {' '.join(argv)}: {dotted} = {got!r}"
        else:
            assert action.dest in {f.name for f in dataclasses.fields(RunOptions)}, (
                f"relcon {' '.join(words)}: flag {action.option_strings or action.dest} reaches "
                "neither the settings nor the run options"
            )
            assert getattr(opts, action.dest) == expected, f"relcon {' '.join(argv)}"
        checked += 1
    assert checked >= 2


def test_set_wins_over_flags_and_file(tmp_path):
    """defaults < --config < flags < --set."""
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("steps = 3\nlr = 0.5\n[data]\nsource = 'wisdm_watch'\n")
    args = build_parser().parse_args(
        ["pretrain", "--out", "x", "--config", str(cfg_file), "--steps", "4", "--set", "lr=0.25"]
    )
    cfg, _ = resolve(args)
    assert (cfg.steps, cfg.lr, cfg.data.source, cfg.batch_size) == (4, 0.25, "wisdm_watch", 64)


def test_old_flag_names_still_work():
    """The README's spellings: --data, --users, --exclude-users (data.* fields)."""
    args = build_parser().parse_args(
        ["evaluate", "--out", "x", "--data", "hapt", "--users", "1", "2", "--exclude-users", "3"]
    )
    cfg, _ = resolve(args)
    assert (cfg.data.source, cfg.data.users, cfg.data.exclude_users) == ("hapt", ["1", "2"], ["3"])


def test_pretrain_method_simclr_trains_simclr(tmp_path, demo_segments):
    """``relcon pretrain --method simclr`` trains SimCLR (it used to train RelCon silently)."""
    import json

    import numpy as np

    users = np.unique(demo_segments.user)[:3]
    windows = tmp_path / "windows.npz"
    demo_segments.subset(np.isin(demo_segments.user, users)).save_npz(windows)
    out = tmp_path / "simclr"
    rc = main([
        "pretrain", "--method", "simclr", "--data", str(windows), "--out", str(out),
        "--steps", "2", "--batch-size", "4", "--within-user", "2", "--encoder-stage-blocks", "1",
        "1", "1", "--encoder-stage-filters", "8", "8", "8", "--device", "cpu", "--no-progress",
        "--set", "log_every=1",
    ])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == "simclr"
    assert 'method = "simclr"' in (out / "config.toml").read_text()
    with pytest.raises(SystemExit):  # argparse refuses an unknown method
        main(["pretrain", "--method", "byol", "--out", str(tmp_path / "b")])
    rc = main(["pretrain", "--set", "method='byol'", "--out", str(tmp_path / "b")])
    assert rc == 2 and not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------------------------
# every setting is read by some code
# ----------------------------------------------------------------------------------------------
def _reads(src: Path, skip_classes: set[str]) -> set[str]:
    """Names read in the ``.py`` files under ``src``: attributes (``cfg.steps``,
    ``getattr(cfg, "steps")``) and, for settings passed on as keywords (``f(**asdict(cfg))``),
    parameters a function uses. The bodies of the classes in ``skip_classes`` do not count (a
    setting's own validation is not a use)."""
    names: set[str] = set()
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name in skip_classes
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
            elif (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
            ):  # fmt: skip
                names.add(str(node.args[1].value))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
                names |= {
                    n.id
                    for n in ast.walk(node)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in params
                }
    return names


def unread_fields(classes: list[type], src: Path) -> list[str]:
    """``Class.field`` for every field of the dataclasses ``classes`` that no code under ``src``
    reads."""
    reads = _reads(src, {c.__name__ for c in classes})
    return [
        f"{c.__name__}.{f.name}"
        for c in classes
        for f in dataclasses.fields(c)
        if f.name not in reads
    ]


def _settings_classes() -> list[type]:
    """The settings dataclasses of every command, nested ones included, and RunOptions."""
    root = build_parser()
    found: dict[type, None] = {RunOptions: None}
    for words, parser in LEAVES:
        cfg, _ = resolve(root.parse_args([*words, *_command_line(parser, None, [])]))
        stack = [cfg]
        while stack:
            obj = stack.pop()
            if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                found[type(obj)] = None
                stack += [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    return list(found)


def test_every_setting_is_read_by_the_package():
    classes = _settings_classes()
    names = {c.__name__ for c in classes}
    assert {"PretrainConfig", "EvalConfig", "EncoderConfig", "DataConfig", "RunOptions"} <= names
    assert unread_fields(classes, Path(relcon.__file__).parent) == []


def test_the_read_scan_finds_a_setting_nobody_reads(tmp_path):
    """The scan above can fail: a field read nowhere, or only in its own class's validation,
    is reported; reads as an attribute, through getattr or as a keyword parameter are not."""

    @dataclasses.dataclass
    class Synthetic:
        by_attribute: int = 1
        by_getattr: int = 2
        by_keyword: int = 3
        only_validated: int = 4
        nobody_reads: int = 5

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        "from dataclasses import asdict, dataclass\n\n"
        "@dataclass\nclass Synthetic:\n    only_validated: int = 4\n\n"
        "    def __post_init__(self):\n        assert self.only_validated > 0\n\n"
        "def build(by_keyword, nobody_reads=0):\n    return by_keyword * 2\n\n"
        "def run(cfg):\n"
        "    return cfg.by_attribute + getattr(cfg, 'by_getattr') + build(**asdict(cfg))\n"
    )
    unread = unread_fields([Synthetic], tmp_path / "pkg")
    assert unread == ["Synthetic.only_validated", "Synthetic.nobody_reads"]
