"""Damage checks for device files, run before actipy decodes them.

actipy's Java decoders read past damage quietly: an Axivity block that fails its checksum is
dropped, a truncated end is cut off, and samples whose time goes backwards are removed, each
only counted in ``info["ReadErrors"]``. relcon refuses such a file instead, with an error that
names the file and where the damage is, so that nothing is lost without a word (``--skip-bad``
then writes the other files). :func:`check_device_file` scans the file's structure cheaply
(vectorised, a few MiB at a time; a week-long ``.cwa`` takes about a second):

* ``.cwa`` / ``.cwa.gz`` (Axivity): the file is whole 512-byte blocks (a 1024-byte ``"MD"``
  header, then ``"AX"`` data blocks). A partial block at the end (truncated), a data block whose
  256 little-endian words do not sum to 0 modulo 2**16 (bad checksum), a data block with an
  impossible time stamp, and a data block that starts before the one before it (the clock jumps
  backwards) are refused, each with the block's index and byte offset (and the times).
* ``.bin`` (GENEActiv): the file is 59 header lines then 10-line pages. A page cut short
  (truncated), a page without its ``Recorded Data`` marker or with a damaged payload, and a page
  whose time is before the page before it are refused, each with the page number and line.

Other device files (``.gt3x``) have no scan here. After decoding,
:func:`relcon.data.stream.sources.read_device_file` refuses any file of any format in which actipy
itself counted read errors (without the place, which actipy does not say).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["check_device_file", "cwa_chunks"]

_BLOCK = 512
_CHUNK_BLOCKS = 8192  # 4 MiB read at a time
_GENEA_HEADER_LINES = 59
_GENEA_PAGE_LINES = 10
_GENEA_PAYLOAD = 3600


def check_device_file(path: Path) -> None:
    """Refuse a damaged device file (``ValueError`` naming it and the damage); see the module."""
    low = path.name.lower()
    if low.endswith((".cwa", ".cwa.gz")):
        _check_cwa(path)
    elif low.endswith(".bin") and _is_genea(path):
        _check_genea(path)


# ----------------------------------------------------------------------------------------------
# Axivity .cwa
# ----------------------------------------------------------------------------------------------


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _fmt_time(t: float) -> str:
    return str(np.datetime64(round(float(t) * 1000), "ms")).replace("T", " ")


class _CwaScan:
    """The state carried from one chunk of blocks to the next."""

    def __init__(self, src: str, gz: bool) -> None:
        self.src = src
        self.of = " of the decompressed data" if gz else ""
        self.prev_start: float | None = None
        self.prev_block = -1

    def at(self, i: int) -> str:
        return f"block {i} (byte offset {i * _BLOCK}{self.of})"

    def chunk(self, first: int, raw: bytes) -> None:
        blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK)
        data = np.flatnonzero((blocks[:, 0] == ord("A")) & (blocks[:, 1] == ord("X")))
        if data.size == 0:
            return
        b = blocks[data]
        words = b.view("<u2")
        code = b[:, 24].astype(np.int64)
        bad = (code != 0) & (words.sum(axis=1, dtype=np.int64) % 65536 != 0)
        if bad.any():
            i = first + int(data[np.argmax(bad)])
            raise ValueError(
                f"{self.src}: {self.at(i)} fails its checksum: the data there is damaged; the "
                "file is refused rather than read in part"
            )
        stamp = b[:, 14:18].copy().view("<u4")[:, 0].astype(np.int64)
        year = ((stamp >> 26) & 0x3F) + 2000
        month, day = (stamp >> 22) & 0x0F, (stamp >> 17) & 0x1F
        hour, minute, second = (stamp >> 12) & 0x1F, (stamp >> 6) & 0x3F, stamp & 0x3F
        invalid = (month < 1) | (month > 12) | (day < 1) | (day > 31) | (hour > 23)
        invalid |= (minute > 59) | (second > 59)
        if invalid.any():
            i = first + int(data[np.argmax(invalid)])
            raise ValueError(
                f"{self.src}: {self.at(i)} has an impossible time stamp "
                f" (0x{int(stamp[np.argmax(invalid)]):08x}): the data there is damaged"
            )
        secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
        field = b[:, 26:28].copy().view("<i2")[:, 0].astype(np.float64)
        rate = 3200.0 / np.left_shift(1, 15 - (code & 15)).astype(np.float64)
        start = secs.astype(np.float64) - np.where(code != 0, field / rate, 0.0)
        prev = np.concatenate([[start[0] if self.prev_start is None else self.prev_start], start])
        back = start < prev[:-1]
        if back.any():
            k = int(np.argmax(back))
            i = first + int(data[k])
            before = self.prev_block if k == 0 else first + int(data[k - 1])
            raise ValueError(
                f"{self.src}: the clock jumps backwards at {self.at(i)}: "
                f"it starts at {_fmt_time(start[k])}, before block {before} "
                f"({_fmt_time(prev[k])}); the file is refused rather than read out of order"
            )
        self.prev_start, self.prev_block = float(start[-1]), first + int(data[-1])


def _read_full(fh: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the file."""
    parts, got = [], 0
    while got < size:
        part = fh.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def cwa_chunks(path: Path, chunk_blocks: int = _CHUNK_BLOCKS) -> Iterator[tuple[int, bytes, int]]:
    """The whole 512-byte blocks of a ``.cwa`` / ``.cwa.gz`` file, ``chunk_blocks`` at a time, as
    ``(index of the first block, bytes, bytes of the file read so far)``, each chunk checked (checksums, time stamps, clock order)
    before it is yielded; a truncated end raises at the end. ``ValueError`` names the file and the
    damage (see the module)."""
    src = str(path)
    gz = path.name.lower().endswith(".gz")
    opener = gzip.open if gz else open
    scan = _CwaScan(src, gz)
    try:
        with opener(path, "rb") as fh:
            first = 0
            while True:
                raw = _read_full(fh, chunk_blocks * _BLOCK)
                whole = len(raw) - len(raw) % _BLOCK
                if whole:
                    scan.chunk(first, raw[:whole])
                if len(raw) % _BLOCK:
                    i = first + whole // _BLOCK
                    raise ValueError(
                        f"{src}: the file is truncated: it ends {len(raw) % _BLOCK} bytes into "
                        f"{scan.at(i)}; a .cwa file is whole {_BLOCK}-byte blocks"
                    )
                if whole:
                    pos = fh.fileobj.tell() if gz else fh.tell()  # type: ignore[attr-defined]
                    yield first, raw if whole == len(raw) else raw[:whole], pos
                if len(raw) < chunk_blocks * _BLOCK:
                    return
                first += chunk_blocks
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{src}: cannot read the file: {exc}") from None


def _check_cwa(path: Path) -> None:
    for _ in cwa_chunks(path):
        pass


# ----------------------------------------------------------------------------------------------
# GENEActiv .bin
# ----------------------------------------------------------------------------------------------


def _is_genea(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(15) == b"Device Identity"


def _page_time(line: str) -> np.datetime64 | None:
    key, _, value = line.partition(":")
    value = value.strip()
    if key.strip() != "Page Time" or len(value) != 23:
        return None
    try:
        return np.datetime64(f"{value[:10]}T{value[11:19]}.{value[20:]}", "ms")
    except ValueError:
        return None


def _check_genea(path: Path) -> None:
    src = str(path)
    hexdigits = set("0123456789abcdefABCDEF")
    prev: np.datetime64 | None = None
    with open(path, encoding="ascii", errors="replace", newline=None) as fh:
        for _ in range(_GENEA_HEADER_LINES):
            if not fh.readline():
                raise ValueError(f"{src}: the file is truncated inside its 59-line header")
        line_no, page = _GENEA_HEADER_LINES, 0
        while True:
            lines = [fh.readline() for _ in range(_GENEA_PAGE_LINES)]
            got = sum(1 for s in lines if s)
            if got == 0:
                return
            page += 1
            where = f"page {page} (line {line_no + 1})"
            cut = got == _GENEA_PAGE_LINES and not lines[-1].endswith("\n")
            if got < _GENEA_PAGE_LINES or (cut and len(lines[-1]) < _GENEA_PAYLOAD):
                raise ValueError(
                    f"{src}: the file is truncated: {where} is cut short; a page is "
                    f"{_GENEA_PAGE_LINES} lines"
                )
            lines = [s.rstrip("\r\n") for s in lines]
            payload = lines[9]
            t = _page_time(lines[3])
            if (
                lines[0] != "Recorded Data"
                or t is None
                or len(payload) != _GENEA_PAYLOAD
                or not set(payload) <= hexdigits
            ):
                raise ValueError(f"{src}: {where} is damaged (its header or its samples)")
            if prev is not None and t < prev:
                raise ValueError(
                    f"{src}: the clock jumps backwards at {where}: it starts at "
                    f"{str(t).replace('T', ' ')}, before the page before it "
                    f"({str(prev).replace('T', ' ')}); the file is refused rather than read "
                    "out of order"
                )
            prev = t
            line_no += _GENEA_PAGE_LINES
