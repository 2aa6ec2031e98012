"""Progress that fits where it is shown: a live bar on a terminal, a few whole lines in a log.

Every long loop of the package (training, embedding, preparing a corpus, building tasks, fine-
tuning) shows its progress through :func:`progress_bar`, a :class:`tqdm.tqdm`. When standard
error is a terminal it is tqdm's live bar. When it is not (a log file, a pipe, a batch
scheduler, a test), a bar that redraws itself with carriage returns would fill the log with
thousands of updates, so the same call prints whole lines instead: one when the work starts, one
each time another quarter is done (or every :data:`LOG_EVERY_S` seconds when the total is
unknown), and one when it ends.

Example::

    >>> from relcon.progress import progress_bar
    >>> import io
    >>> log = io.StringIO()
    >>> for _ in progress_bar(range(100), desc="work", unit="item", file=log):
    ...     pass
    >>> text = log.getvalue()
    >>> "\\r" in text, text.splitlines()[-1].startswith("work: 100%|")
    (False, True)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["LOG_EVERY_S", "BytesBar", "LogLines", "progress_bar"]

#: Seconds between two lines of a log when the total is unknown (or a quarter takes longer).
LOG_EVERY_S = 60.0


class LogLines(tqdm):  # type: ignore[misc]
    """A tqdm that writes whole lines, a few of them: at the start, at each quarter of the
    total (or every :data:`LOG_EVERY_S` seconds), and at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._next_quarter = 0.25
        self._last_line: float | None = None
        self._last_line_n: float | None = None  # the count the last line showed
        self._ended = False
        kwargs.setdefault("mininterval", 0.5)
        kwargs["dynamic_ncols"] = False
        kwargs.setdefault("ncols", 100)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None or self._ended:  # tqdm clearing its line: nothing to clear in a log
            return True
        now = time.monotonic()
        frac = self.n / self.total if self.total else None
        due = self._last_line is None or now - self._last_line >= LOG_EVERY_S
        if frac is not None and frac >= self._next_quarter:
            due = True
            while self._next_quarter <= frac:
                self._next_quarter += 0.25
        if due:
            self._write_line(now)
        return True

    def _write_line(self, now: float) -> None:
        self.fp.write(self.__str__().rstrip() + "\n")
        self.fp.flush()
        self._last_line, self._last_line_n = now, self.n

    def close(self) -> None:
        if self.disable:
            return
        if not self._ended:
            self._ended = True
            if self.n != self._last_line_n:  # the last line already says where it stopped
                self._write_line(time.monotonic())
        self.disable = True
        self._decr_instances(self)


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    enabled: bool = True,
    file: Any = None,
    **kwargs: Any,
) -> tqdm:
    """A progress bar over ``iterable`` (or updated by hand), suited to where it is shown.

    Args:
        iterable: what to iterate over (None: call ``update`` yourself).
        enabled: False shows nothing (``--no-progress``).
        file: where to write (default: standard error).
        **kwargs: tqdm's (``total``, ``desc``, ``unit``, ``unit_scale`` ...).

    Returns:
        tqdm's live bar when ``file`` is a terminal, else a :class:`LogLines` bar.
    """
    fp = sys.stderr if file is None else file
    live = bool(getattr(fp, "isatty", lambda: False)())
    cls = tqdm if live else LogLines
    if live:
        kwargs.setdefault("dynamic_ncols", True)
    return cls(iterable, file=fp, disable=not enabled, **kwargs)


class BytesBar:
    """A bar over the bytes of input files read one after another (``relcon embed``,
    ``predict`` and ``prepare``): the sizes of the files done plus how far the current one is
    read, so that it moves within a week-long file.

    Example::

        >>> import io
        >>> log = io.StringIO()
        >>> with BytesBar([1000, 3000], desc="read", file=log) as bar:
        ...     bar.at(500)         # half of the first file
        ...     bar.file_done(1000)
        ...     bar.at(3000)        # all of the second
        >>> bar.bar.n
        4000
    """

    def __init__(
        self, sizes: Iterable[int], *, desc: str, enabled: bool = True, file: Any = None
    ) -> None:
        self.bar = progress_bar(
            total=sum(sizes), desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
            enabled=enabled, file=file,
        )  # fmt: skip
        self.done = 0  # bytes of the files finished

    def at(self, pos: int) -> None:
        """The current file is read up to byte ``pos`` (the bar never moves back)."""
        self.bar.update(max(0, self.done + pos - self.bar.n))

    def file_done(self, size: int) -> None:
        """The current file (``size`` bytes) is finished, read whole or given up."""
        self.done += size
        self.at(0)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> BytesBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
