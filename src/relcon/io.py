"""Atomic file writes (a reader never sees a half-written result, even if the run is killed),
claims on outputs (two runs never write one output), and the checked read of a JSON description.

Outputs are claimed before work starts
--------------------------------------
Every command that writes an output claims it first, before it reads or computes anything:

* an output **file** through :func:`claim_output` (several: :func:`claim_outputs`): an
  exclusive ``fcntl.flock`` on a sidecar claim file ``.NAME.relcon-claim`` beside it
  (:func:`claim_path`);
* an output **folder** through :func:`lock_folder`: the same lock on ``FOLDER/.relcon.lock``
  (:data:`LOCK_FILE`).

A second process asking for a claimed output is refused at once (:class:`OutputInUse`, naming
the output and the holder's pid and host); an output the process cannot write (a read-only
folder, a parent that is a file) fails with an :class:`OSError` naming the output, before any
work. The kernel drops a flock when its process ends in any way (``kill -9`` included), so a
killed run never leaves a claim that blocks the next one. A claim or lock file is removed when
its holder releases it; that happens while the flock is still held, and whoever takes a lock
checks afterwards that the file it locked is still the one at that path (else it takes the
new one), so removing it never lets two processes hold one output.

``overwrite`` deletes only what relcon wrote (:func:`clear_outputs`): a folder that holds
anything else is refused, naming those entries, and nothing is deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere outputs are not locked
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CLAIM_SUFFIX",
    "LOCK_FILE",
    "Closing",
    "OutputInUse",
    "OutputLock",
    "PathLock",
    "atomic_path",
    "atomic_write_json",
    "atomic_write_text",
    "claim_output",
    "claim_outputs",
    "claim_path",
    "clear_outputs",
    "environment_info",
    "lock_folder",
    "lock_path",
    "read_json_object",
]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the result the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        writer(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    _write_with(path, lambda p: p.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``, which should hold ``what`` (for example "a model
    description"); FileNotFoundError or ValueError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (it should hold {what})")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: damaged, not valid JSON ({e}); it should hold {what}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not {what} (a JSON object)")
    return obj


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def environment_info() -> dict[str, str]:
    """Versions of the things that change results, saved beside every checkpoint and result."""
    import platform

    import numpy as np
    import sklearn
    import torch

    from relcon._version import __version__

    return {
        "relcon": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "cuda": torch.version.cuda or "none",
    }


# --------------------------------------------------------------------------------------------
# claims on outputs
# --------------------------------------------------------------------------------------------
#: The lock file inside an output folder (a run folder, a report folder), held while it is written.
LOCK_FILE = ".relcon.lock"
#: How the claim file of an output file ends: ``out/E.parquet`` -> ``out/.E.parquet.relcon-claim``.
CLAIM_SUFFIX = ".relcon-claim"


class OutputInUse(RuntimeError):
    """Another process holds the claim (or the folder lock) of an output."""


class OutputLock:
    """An exclusive ``fcntl.flock`` on a claim or lock file (see :func:`lock_folder`,
    :func:`claim_output`).

    The kernel releases it when the process ends in any way (exit, exception, ``kill -9``), so a
    crashed run never leaves a stale lock; :meth:`release` releases it earlier and (unless
    ``remove=False``) deletes the file first, while still holding the lock (safe: see the module
    docstring), so a finished run leaves nothing behind.
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self._fd = path, fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, remove: bool = True) -> None:
        if self._fd is not None:
            if remove:
                with contextlib.suppress(OSError):
                    self.path.unlink()
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: The name :func:`lock_path` returns it under.
PathLock = OutputLock


def _holder(path: Path) -> str:
    """``pid N on HOST`` as the holder wrote it (it writes just after locking: wait a moment)."""
    for _ in range(20):
        with contextlib.suppress(OSError):
            words = path.read_text().split()
            if len(words) >= 2:
                return f"pid {words[0]} on {words[1]}"
        time.sleep(0.05)
    return "pid unknown (it is starting or on another host)"


def _cannot_write(output: Path, exc: OSError) -> OSError:
    """``exc`` (from creating a claim, a lock or a folder) as an error that names ``output``."""
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(output) else ""
    return OSError(exc.errno, f"cannot write this output: {reason}{where}", str(output))


def _take_lock(
    path: Path, output: Path, in_use: Callable[[str], str],
    error: type[OutputInUse] = OutputInUse,
) -> OutputLock:  # fmt: skip
    """Create ``path`` and hold an exclusive flock on it, or raise ``error`` with
    ``in_use(holder)`` as the message."""
    if fcntl is None:  # pragma: no cover (Windows)
        return OutputLock(path, None)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise _cannot_write(output, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise error(in_use(_holder(path))) from None
        try:  # the previous holder may have removed the file between our open and our lock
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)  # we locked a removed file: lock the one that is there now
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return OutputLock(path, fd)


def lock_path(path: str | Path, what: str, error: type[OutputInUse] = OutputInUse) -> OutputLock:
    """Take an exclusive lock on the lock file ``path`` (created, holding this process's pid and
    host), or raise ``error`` saying that ``what`` is in use and by whom."""
    path = Path(path)
    return _take_lock(path, Path(what), lambda holder: (
        f"{what} is in use by another relcon process ({holder}), which holds its lock ({path}); "
        "two runs must not write one output. Wait for it to finish or stop it, or choose another "
        "output."
    ), error)  # fmt: skip


def lock_folder(out: str | Path) -> OutputLock:
    """Create the folder ``out`` and take an exclusive lock on it, or refuse if another process
    holds it.

    Every command that writes an output folder (a training run, a report) takes this lock first,
    so two processes started with the same ``--out`` (a double click, a retrying scheduler)
    cannot both write into it: the second raises :class:`OutputInUse` naming the folder and the
    holder's process id. The lock is an ``fcntl.flock`` on ``out/.relcon.lock`` (which holds the
    holder's pid and host), released when the process ends, however it ends; release it with
    ``remove=True`` (or leave its ``with`` block) to delete the file as well.
    """
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot_write(out, e) from None
    path = out / LOCK_FILE
    return _take_lock(path, out, lambda holder: (
        f"{out} is in use by another relcon process ({holder}), which holds its lock ({path}); "
        "two runs must not write one folder. Wait for it to finish or stop it, or choose another "
        "output folder."
    ))  # fmt: skip


def claim_path(out: str | Path) -> Path:
    """The claim file of the output file ``out``: ``.NAME.relcon-claim`` beside it."""
    out = Path(out)
    return out.with_name(f".{out.name}{CLAIM_SUFFIX}")


_HELD: dict[str, int] = {}  # claim files this process holds -> the thread holding each
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def claim_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Claim the output file ``path`` for the length of the ``with`` block; yields ``path``.

    Before anything else is done: creates the parent folder and takes an exclusive flock on the
    claim file (:func:`claim_path`), then refuses an existing ``path`` unless ``overwrite``.
    The claim file is removed when the block ends (normally, by an error or by Ctrl-C).

    A claim taken again by the thread that holds it (a function that claims its output calling
    another that does) is the same claim: the inner block neither checks nor releases.

    Raises
    ------
    OutputInUse
        Another process (or thread) holds the claim: two runs writing one output at once.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    OSError
        The output cannot be written there (read-only folder, a parent that is a file ...):
        the message names ``path``.
    """
    out = Path(path).expanduser()
    claim = claim_path(out)
    key = os.path.abspath(claim)
    me = threading.get_ident()
    with _HELD_LOCK:
        holder = _HELD.get(key)
    if holder == me:
        yield out
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot_write(out, e) from None
    if holder is not None:
        raise OutputInUse(f"{out} is being written by another thread of this process")
    lock = _take_lock(claim, out, lambda who: (
        f"{out} is being written by another relcon process ({who}), which holds its claim "
        f"({claim}); two runs must not write one output. Wait for it to finish or stop it, or "
        "choose another output."
    ))  # fmt: skip
    with _HELD_LOCK:
        _HELD[key] = me
    try:
        if out.is_dir():
            raise IsADirectoryError(f"{out}: is a folder; the output must be a file")
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
        yield out
    finally:
        with _HELD_LOCK:
            _HELD.pop(key, None)
        lock.release(remove=True)


@contextlib.contextmanager
def claim_outputs(paths: Iterable[str | Path], overwrite: bool = False) -> Iterator[list[Path]]:
    """:func:`claim_output` for several files at once (all or none: a refused one releases the
    others); yields the paths."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(claim_output(p, overwrite)) for p in paths]


def _temp_of(name: str) -> str | None:
    """The output a temporary file of :func:`atomic_path` was for (``.E.x1y2z3w4.tmp`` -> ``E``)."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    inner = name[1:-4]
    base, dot, _ = inner.rpartition(".")
    return base if dot else inner


def clear_outputs(
    folder: str | Path, known: Container[str] | Callable[[str], bool], *, what: str
) -> list[Path]:
    """Delete what relcon wrote in ``folder`` before writing it again (``--overwrite``).

    ``known(name)`` (or ``name in known``) says whether an entry of the folder is one relcon
    writes there as ``what`` (temporary files of :func:`atomic_path` for those names count as
    well); the lock file and claim files are left alone. When the folder holds anything else,
    nothing is deleted: :class:`FileExistsError` names those entries (the first five) and says
    to move them or choose another output folder. Returns the entries deleted.
    """
    folder = Path(folder)
    is_known = known if callable(known) else known.__contains__
    if not folder.is_dir():
        return []
    entries = [e for e in sorted(folder.iterdir())
               if e.name != LOCK_FILE and not e.name.endswith(CLAIM_SUFFIX)]  # fmt: skip

    def ours(name: str) -> bool:
        base = _temp_of(name)
        return bool(is_known(name)) or (base is not None and bool(is_known(base)))

    strange = [e.name for e in entries if not ours(e.name)]
    if strange:
        shown = ", ".join(strange[:5]) + (
            f" and {len(strange) - 5} more" if len(strange) > 5 else ""
        )
        raise FileExistsError(
            f"{folder}: overwrite refused: the folder holds {len(strange)} entr"
            f"{'ies' if len(strange) > 1 else 'y'} that relcon did not write as {what} ({shown}); "
            "nothing was deleted. Move them elsewhere, or choose another output folder."
        )
    for e in entries:
        if e.is_dir() and not e.is_symlink():
            shutil.rmtree(e)
        else:
            e.unlink()
    return entries


class Closing:
    """Mixin for objects holding an open input: ``with obj:`` calls ``obj.close()`` at the end,
    and :meth:`_or_close` runs a set-up step that closes the object if it fails."""

    def close(self) -> None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _or_close(self, step: Callable[[], None]) -> None:
        """``step()``; on any exception (Ctrl-C included) close, then re-raise."""
        try:
            step()
        except BaseException:
            self.close()
            raise
