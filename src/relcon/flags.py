"""Command-line flags generated from the configuration dataclasses (:mod:`relcon.config`).

Every command's flags come from its settings class: one flag per field (nested sections get a
dotted prefix, ``data.stride_s`` is ``--data-stride-s``), help from the comment beside the field,
choices from its metadata. :func:`resolve_config` layers defaults < ``--config FILE`` < the flags
given < ``--set key=value`` and checks the result, so no flag can exist without reaching the
configuration, and no setting is reachable from a file but not from the command line.

Example::

    >>> import argparse
    >>> from relcon.config import DataConfig
    >>> p = argparse.ArgumentParser()
    >>> add_flags(p, DataConfig)
    >>> resolve_config(DataConfig, DataConfig(), p.parse_args(["--stride-s", "1.28"])).stride_s
    1.28
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from relcon.config import RENAMED, check_settings, from_dict, load_config

__all__ = ["FLAG_DEST", "add_flags", "flag_overrides", "resolve_config"]

T = TypeVar("T")

#: ``dest`` prefix of a generated flag: ``"cfg:" + dotted path`` (several paths joined by ``,``
#: when one flag sets several fields). :func:`flag_overrides` collects exactly these.
FLAG_DEST = "cfg:"
_FIELD_LINE = re.compile(r"^(\w+)\s*:\s*[^#]*?(?:#\s*(.*))?$")


def _field_help(cls: type) -> dict[str, str]:
    """The comment beside (``# ...``) or above (``#: ...``) each field in the class source."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in source.splitlines()[1:]:
            text = line.strip()
            if text.startswith("#:"):
                above.append(text[2:].strip())
                continue
            m = _FIELD_LINE.match(text)
            if m and not text.startswith(("def ", "class ", "return ", "@", "#", '"')):
                words = " ".join(above + ([m.group(2)] if m.group(2) else []))
                if words:
                    helps[m.group(1)] = words
            above = []
    return helps


def _leaf(tp: Any) -> tuple[Any, bool] | None:
    """``(scalar type, is_list)`` for a flag-able field type (``None``-able or not), else None."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if len(args) != 1:
            return None
        tp, args = args[0], list(typing.get_args(args[0]))
    if typing.get_origin(tp) in (list, tuple) and args and args[0] in (str, int, float):
        if typing.get_origin(tp) is list or args[1:] in ([], [Ellipsis], (Ellipsis,)):
            return args[0], True
    if tp in (str, int, float, bool):
        return tp, False
    return None


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    base: Any = None,
    *,
    skip: Iterable[str] = (),
    flatten: Iterable[str] = (),
    names: dict[str, list[str]] | None = None,
    positional: dict[str, dict[str, Any]] | None = None,
    types_: dict[str, Callable[[str], Any]] | None = None,
    _prefix: str = "",
    _name_prefix: str = "",
) -> None:
    """Add one flag for every field of dataclass ``cls`` (nested dataclasses: dotted names).

    ``data.exclude_users`` becomes ``--data-exclude-users``; a bool becomes ``--x`` (default
    false) or ``--x/--no-x`` (default true); a list takes one or more values. Each flag's ``dest`` is ``"cfg:" + dotted path`` and its
    default is "absent", so :func:`flag_overrides` turns exactly the flags given into overrides:
    a flag cannot exist without reaching the configuration. Help comes from the comment beside
    each field. ``skip``: dotted fields without a flag (still settable with ``--set``);
    ``flatten``: nested sections whose fields get no prefix; ``names``: option strings used
    instead of the generated one (one spelling per setting, no alias)
    (``{"data.source": ["--data"]}``); ``positional``: fields taken as positional arguments
    (``{"recordings": {"nargs": "+"}}``); ``types_``: a converter from the text (e.g. a file of
    names into a list). Fields of other types (dicts, optional sections) only take ``--set``.
    """
    skip, flatten = set(skip), set(flatten)
    names, positional, types_ = names or {}, positional or {}, types_ or {}
    base = base if base is not None else cls()
    for old, new in RENAMED.get(cls.__name__, {}).items():  # old spellings: errors naming the new
        _add_renamed_flag(parser, _name_prefix + old, _name_prefix + new)
    hints, helps = typing.get_type_hints(cls), _field_help(cls)
    later: list[tuple[str, dict[str, Any]]] = []  # positional arguments, in `positional`'s order
    for f in dataclasses.fields(cls):
        dotted = _prefix + f.name
        if dotted in skip:
            continue
        tp, value = hints[f.name], getattr(base, f.name)
        if dataclasses.is_dataclass(tp):
            root = getattr(parser, "_root", parser)  # groups are never nested (argparse)
            group = parser if dotted in flatten else root.add_argument_group(f"[{dotted}]")
            group._root = root  # type: ignore[union-attr]
            add_flags(
                group, tp, value, skip=skip, flatten=flatten, names=names,  # type: ignore[arg-type]
                positional=positional, types_=types_, _prefix=dotted + ".",
                _name_prefix=_name_prefix if dotted in flatten else _name_prefix + f.name + ".",
            )  # fmt: skip
            continue
        leaf = _leaf(tp)
        if leaf is None and dotted not in types_:
            continue
        scalar, many = leaf or (str, False)
        shown = "" if value in (None, "", []) else f" (default: {value})"
        text = (helps.get(f.name, "") + shown).strip()
        # argparse %-formats help strings: a literal % in a comment must not break --help
        kwargs: dict[str, Any] = {"help": text.replace("%", "%%") or None}
        if scalar is not bool:
            kwargs["metavar"] = f.name.upper()
        if "choices" in f.metadata:  # field(metadata={"choices": (...)}) : argparse checks them
            kwargs["choices"] = list(f.metadata["choices"])
            del kwargs["metavar"]
        if dotted in types_:
            kwargs["type"] = types_[dotted]
        elif scalar is bool:  # default false: --x; default true: --x / --no-x
            kwargs["action"] = argparse.BooleanOptionalAction if value else "store_true"
        else:
            kwargs["type"] = scalar
            if many:
                kwargs["nargs"] = "+"
        dest = FLAG_DEST + dotted
        if dotted in positional:
            later.append((dotted, {**kwargs, **positional[dotted]}))
            continue
        name = "--" + (_name_prefix + f.name).replace(".", "-").replace("_", "-")
        parser.add_argument(
            *(names.get(dotted) or [name]), dest=dest, default=argparse.SUPPRESS, **kwargs
        )
    for dotted, kwargs in sorted(later, key=lambda item: list(positional).index(item[0])):
        parser.add_argument(FLAG_DEST + dotted, default=argparse.SUPPRESS, **kwargs)


class _Renamed(argparse.Action):
    """A hidden option with an old spelling (:data:`RENAMED`): using it is an error naming the
    new one."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        parser.error(f"{option_string} was renamed: use {self.metavar} (one name per idea)")


def _add_renamed_flag(parser: Any, old: str, new: str) -> None:
    """``--OLD`` and ``--no-OLD`` (any value or none) refused with ``--NEW`` named."""
    flag = "--" + old.replace(".", "-").replace("_", "-")
    shown = "--" + new.replace(".", "-").replace("_", "-")
    for name in (flag, "--no-" + flag[2:]):
        with contextlib.suppress(argparse.ArgumentError):  # a real option of that name wins
            parser.add_argument(
                name, action=_Renamed, nargs="?", metavar=shown, help=argparse.SUPPRESS,
                dest="renamed:" + old,
            )  # fmt: skip


def flag_overrides(args: argparse.Namespace) -> dict:
    """The nested overrides of the generated flags that were given (see :func:`add_flags`)."""
    out: dict = {}
    for dest, value in vars(args).items():
        if dest.startswith(FLAG_DEST):
            for dotted in dest[len(FLAG_DEST) :].split(","):
                out = _merge(out, _nested(dotted, value))
    return out


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


def _parse_value(text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def resolve_config(
    cls: type[T],
    base: T,
    args: argparse.Namespace,
    config_file: str | None = None,
    sets: Iterable[str] = (),
) -> T:
    """``base`` < ``config_file`` < generated flags in ``args`` < ``sets`` (``key=value``),
    checked by :func:`check_settings`.

    ``value`` is parsed as TOML (``--set encoder.stage_blocks=[2,2,2]``), else kept as text.
    """
    cfg = load_config(config_file, cls, base=base) if config_file else base
    overrides = flag_overrides(args)
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        overrides = _merge(overrides, _nested(key.strip(), _parse_value(text.strip())))
    try:
        resolved = from_dict(cls, overrides, where="command line", base=cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from None
    return check_settings(resolved)
