"""Small, format-valid device files written from a known signal, for the device-file tests.

* :func:`write_cwa`: an Axivity AX3 ``.cwa`` file. A 1024-byte header block (``"MD"``, its
  length 1020, the device id, the sampling-rate code) then one 512-byte ``"AX"`` data block per
  80 samples (unpacked: three little-endian int16 per sample, 1/256 g) or per 120 samples
  (packed: one uint32 per sample, three signed 10-bit values and a 2-bit exponent). Each data
  block holds its session and sequence numbers, a whole-second time stamp (packed year-2000,
  month, day, hour, minute, second), the index of the sample at that second (``timestampOffset``,
  so that the first sample lies ``-offset / fs`` seconds from it), the rate code
  (``3200 / 2 ** (15 - code & 15)`` Hz, the range in the top two bits), the axis count and
  packing, the sample count and a checksum word that makes the 256 little-endian words of the
  block sum to 0 modulo 2**16.
* :func:`write_genea_bin`: a GENEActiv ``.bin`` text file. 59 header lines (the serial code on
  the second, the calibration gains and offsets on lines 48-53, the page count on line 58) then
  one 10-line page per 300 samples: ``Recorded Data``, the page time
  (``YYYY-MM-DD hh:mm:ss:mmm``), temperature, measurement frequency and 3600 hex digits (per
  sample: 12-bit x, y, z in two's complement, then 12 bits of light and button). A sample is
  ``(raw * 100 - offset) / gain`` g; with gain 25600 and offset 0 that is ``raw / 256``.

Both quantise the signal to 1/256 g (:func:`quantise`); the time stamps are exact at the rates
used here. The layouts were read off actipy's Java decoders (``AxivityReader.java``,
``GENEActivReader.java``) and the files checked by reading them back with actipy.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd

CWA_HEADER = 1024
CWA_BLOCK = 512
GENEA_GAIN = 25600  # (raw * 100 - 0) / 25600 == raw / 256 g


def quantise(x: np.ndarray) -> np.ndarray:
    """The signal in g as the files store it: steps of 1/256 g."""
    return np.round(np.asarray(x, dtype=np.float64) * 256) / 256


def _cwa_time(t: pd.Timestamp) -> int:
    return (
        ((t.year - 2000) << 26)
        | (t.month << 22)
        | (t.day << 17)
        | (t.hour << 12)
        | (t.minute << 6)
        | t.second
    )


def _rate_code(fs: float) -> int:
    n = round(np.log2(3200 / fs))
    if not np.isclose(3200 / 2**n, fs):
        raise ValueError(f"no CWA rate code for {fs} Hz")
    return (1 << 6) | (15 - n)  # +-8 g range


def _exponents(raw: np.ndarray) -> np.ndarray:
    """The smallest exponent per packed sample that fits its three 10-bit values."""
    big = np.abs(raw).max(axis=1)
    e = np.zeros(len(raw), dtype=np.int64)
    for k in (1, 2, 3):
        e[big > (511 << (k - 1))] = k
    return e


def packed_quantise(x: np.ndarray) -> np.ndarray:
    """The signal as a packed ``.cwa`` stores it: 1/256 g, coarser (2**e / 256) beyond 2 g."""
    raw = np.round(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
    e = _exponents(raw)[:, None]
    return ((raw >> e) << e) / 256


def _packed(raw: np.ndarray) -> np.ndarray:
    """(n, 3) int values in 1/256 g -> (n,) uint32 packed samples (exponent 0..3)."""
    e = _exponents(raw)
    v = (raw >> e[:, None]) & 0x3FF
    return (v[:, 0] | (v[:, 1] << 10) | (v[:, 2] << 20) | (e << 30)).astype(np.uint32)


def cwa_blocks(
    x: np.ndarray,
    fs: float,
    start: str | pd.Timestamp,
    *,
    packed: bool = False,
    device_id: int = 4242,
    session: int = 7,
) -> tuple[bytes, list[bytearray]]:
    """The header block and the data blocks of a ``.cwa`` file of ``x`` (``(n, 3)`` in g),
    sampled at ``fs`` from ``start`` (naive: UTC). Blocks can be altered before joining."""
    raw = np.round(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
    per = 120 if packed else 80
    t0 = pd.Timestamp(start)
    header = bytearray(b"\xff" * CWA_HEADER)
    header[:64] = bytes(64)
    struct.pack_into("<2sHBHI", header, 0, b"MD", CWA_HEADER - 4, 0, device_id, session)
    header[36] = _rate_code(fs)
    blocks = []
    for seq, i0 in enumerate(range(0, len(raw), per)):
        part = raw[i0 : i0 + per]
        first = t0 + pd.Timedelta(seconds=i0 / fs)
        stamp = first.ceil("s")
        offset = round((stamp - first).total_seconds() * fs)  # sample index at ``stamp``
        b = bytearray(CWA_BLOCK)
        struct.pack_into("<2sHHIII", b, 0, b"AX", CWA_BLOCK - 4, 0, session, seq, _cwa_time(stamp))
        struct.pack_into("<HHBBBBhH", b, 18, 0, 300, 0, 200, _rate_code(fs),
                         0x30 if packed else 0x32, offset, len(part))  # fmt: skip
        payload = _packed(part).tobytes() if packed else part.astype("<i2").tobytes()
        b[30 : 30 + len(payload)] = payload
        seal_cwa_block(b)
        blocks.append(b)
    return bytes(header), blocks


def seal_cwa_block(b: bytearray) -> None:
    """Set the checksum word so that the block's 256 words sum to 0 modulo 2**16."""
    b[510:512] = b"\0\0"
    total = int(np.frombuffer(bytes(b), dtype="<u2").sum())
    struct.pack_into("<H", b, 510, (-total) & 0xFFFF)


def write_cwa(path: Path, x: np.ndarray, fs: float, start: str, *, packed: bool = False) -> Path:
    """A ``.cwa`` file of ``x`` (in g) at ``fs`` from ``start``; see :func:`cwa_blocks`."""
    header, blocks = cwa_blocks(x, fs, start, packed=packed)
    Path(path).write_bytes(header + b"".join(blocks))
    return Path(path)


def write_genea_bin(path: Path, x: np.ndarray, fs: float, start: str) -> Path:
    """A GENEActiv ``.bin`` file of ``x`` (in g, a multiple of 300 samples) at ``fs``."""
    raw = np.round(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
    if len(raw) % 300:
        raise ValueError("a GENEActiv page holds 300 samples")
    n_pages = len(raw) // 300
    head = ["Device Identity", "Device Unique Serial Code:054321", "Device Type:GENEActiv"]
    head += [f"Header line {k}:" for k in range(len(head), 47)]
    head += [f"x gain:{GENEA_GAIN}", "x offset:0", f"y gain:{GENEA_GAIN}", "y offset:0"]
    head += [f"z gain:{GENEA_GAIN}", "z offset:0", "Volts:300", "Lux:800", "", "Memory Status"]
    head += [f"Number of Pages:{n_pages}", ""]
    assert len(head) == 59
    lines = list(head)
    t0 = pd.Timestamp(start)
    for p in range(n_pages):
        t = t0 + pd.Timedelta(seconds=p * 300 / fs)
        stamp = t.strftime("%Y-%m-%d %H:%M:%S:") + f"{t.microsecond // 1000:03d}"
        v = raw[p * 300 : (p + 1) * 300] & 0xFFF
        hexes = "".join(f"{a:03X}{b:03X}{c:03X}000" for a, b, c in v)
        lines += ["Recorded Data", "Device Unique Serial Code:054321", f"Sequence Number:{p}",
                  f"Page Time:{stamp}", "Unassigned:", "Temperature:25.0",
                  "Battery voltage:4.1", "Device Status:Recording",
                  f"Measurement Frequency:{fs:.1f}", hexes]  # fmt: skip
    Path(path).write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    return Path(path)
