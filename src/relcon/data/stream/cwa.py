"""A native streaming reader of Axivity ``.cwa`` / ``.cwa.gz`` files (numpy only, no Java).

actipy decodes a whole file into one DataFrame (a week at 100 Hz is about 60 million samples,
several GB); :class:`CwaReader` decodes a few thousand 512-byte blocks at a time, vectorised,
so its memory does not grow with the length of the recording. It reproduces what relcon asked
actipy for (``read_device(lowpass_hz=None, calibrate_gravity=True, resample_hz=None)``):

* **samples**: per block, unpacked (int16 per axis; AX6 blocks' gyroscope skipped) or packed (one
  uint32 per sample: three signed 10-bit values and a 2-bit exponent), divided by the block's
  acceleration unit (256 per g unless the block says otherwise);
* **time stamps**: as actipy's ``AxivityReader``: a block starts at its whole-second stamp minus
  ``timestampOffset / rate`` (in float32, as Java does) and ends ``count / rate`` later; a block
  that starts less than 1 s after the end of the block before it starts at that end instead;
  its samples are spread evenly between start and end and truncated to the millisecond;
* **gravity calibration** (van Hees et al. 2014, as ``actipy.processing.calibrate_gravity``
  with its defaults): a first pass over the file gathers the mean and standard deviation of
  x, y, z and the temperature in 10-second windows (a few numbers per window); the stationary
  windows (all three deviations under 15 mg) fit per-axis intercepts, slopes and temperature
  slopes by iteratively reweighted least squares; where the fit is refused (fewer than 50
  stationary windows, not every face of the cube seen, error not below 10 mg) the samples are
  left as they are. The second pass decodes again and applies the fit.

Each chunk is checked by :func:`relcon.data.stream.devicecheck.cwa_chunks` (checksums, time
stamps, clock order, a truncated end), with its error messages; a block whose sample count
does not fit its payload, or whose axes or packing are not ones actipy reads, is refused too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from relcon.data.formats import normalize_units
from relcon.data.stream.devicecheck import _days_from_civil, cwa_chunks

__all__ = ["CwaReader", "fit_gravity_calibration"]

_BLOCK = 512
_WINDOW_NS = 10 * 10**9  # calibration windows
_STDTOL = 15 / 1000
_CALIB_CUBE = 0.3
_CALIB_MIN = 50
_CALIB_MAX = 100_000


class _Decoded:
    """One chunk decoded: Unix ns (int64, ms resolution), (n, 3) g (float64), (n,) deg C."""

    def __init__(self, ns: np.ndarray, xyz: np.ndarray, temp: np.ndarray) -> None:
        self.ns, self.xyz, self.temp = ns, xyz, temp


class _Decoder:
    """Decodes chunks of blocks in order, carrying the previous block's end time."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.prev_end = 0.0  # actipy's lastBlockTime (0: none yet)
        self.ax6: bool | None = None
        self.rate: float | None = None

    def decode(self, first: int, raw: bytes) -> _Decoded | None:
        blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK)
        idx = np.flatnonzero((blocks[:, 0] == ord("A")) & (blocks[:, 1] == ord("X")))
        if idx.size == 0:
            return None
        b = blocks[idx]
        head = b[:, :30].copy()
        code = head[:, 24].astype(np.int64)
        axes, packing = head[:, 25] >> 4, head[:, 25] & 0x0F
        packed = packing == 0
        ok = (axes >= 3) & ((packing == 2) | (packed & (axes == 3)))
        ax6 = axes >= 6
        if self.ax6 is None:
            self.ax6 = bool(ax6[0])
        ok &= ax6 == self.ax6
        if not ok.all():
            k = int(np.argmin(ok))
            raise ValueError(
                f"{self.src}: block {first + int(idx[k])} has {int(axes[k])} axes with packing "
                f"{int(packing[k])}, which no reader decodes (or the layout changes mid-file)"
            )
        per_sample = np.where(packed, 4, 2 * axes.astype(np.int64))
        cap = 480 // per_sample
        count = head[:, 28:30].view("<u2")[:, 0].astype(np.int64)
        if (count > cap).any():
            k = int(np.argmax(count > cap))
            raise ValueError(
                f"{self.src}: block {first + int(idx[k])} says it holds {int(count[k])} samples, "
                f"more than its payload fits ({int(cap[k])}): the data there is damaged"
            )
        field = head[:, 26:28].view("<i2")[:, 0]
        # the time of each block, in float32 where actipy's Java uses float
        rate32 = np.where(
            code != 0,
            np.float32(3200.0) / np.left_shift(1, 15 - (code & 15)).astype(np.float32),
            field.astype(np.float32),
        ).astype(np.float32)
        if not (np.isfinite(rate32) & (rate32 > 0)).all():
            k = int(np.argmin(np.isfinite(rate32) & (rate32 > 0)))
            raise ValueError(f"{self.src}: block {first + int(idx[k])} has no sampling rate")
        off32 = np.where(code != 0, -field.astype(np.float32) / rate32, np.float32(0.0))
        whole = np.floor(off32)
        frac = (off32 - whole).astype(np.float32)
        stamp = head[:, 14:18].view("<u4")[:, 0].astype(np.int64)
        year, month, day = ((stamp >> 26) & 0x3F) + 2000, (stamp >> 22) & 0x0F, (stamp >> 17) & 0x1F
        secs = _days_from_civil(year, month, day) * 86400 + ((stamp >> 12) & 0x1F) * 3600
        secs += ((stamp >> 6) & 0x3F) * 60 + (stamp & 0x3F)
        start = (secs + whole.astype(np.int64)).astype(np.float64) + frac.astype(np.float64)
        end = start + (count.astype(np.float32) / rate32).astype(np.float64)
        prev = np.concatenate([[self.prev_end], end[:-1]])
        start = np.where((prev != 0) & (start - prev < 1.0), prev, start)
        self.prev_end = float(end[-1])
        self.rate = float(rate32[-1])
        # the samples: a (blocks, 120, 3) grid, the first ``count`` of each block kept
        n_max = 120
        raw_xyz = np.zeros((len(b), n_max, 3), dtype=np.int32)
        payload = b[:, 30:510]
        if packed.any():
            w = np.ascontiguousarray(payload[packed]).view("<u4").astype(np.int64)
            e = w >> 30
            for j in range(3):
                v = (w >> (10 * j)) & 0x3FF
                raw_xyz[packed, :, j] = ((v ^ 512) - 512) << e
        if (~packed).any():
            s = np.ascontiguousarray(payload[~packed]).view("<i2").astype(np.int64)
            width = 6 if self.ax6 else 3
            s = s.reshape(len(s), 240 // width, width)[:, :, width - 3 :]
            raw_xyz[~packed, : s.shape[1]] = s
        light = head[:, 18:20].view("<u2")[:, 0].astype(np.int64)
        unit = np.left_shift(1, 8 + ((light >> 13) & 7)).astype(np.float64)
        keep = np.arange(n_max)[None, :] < count[:, None]
        blk = np.repeat(np.arange(len(b)), count)
        xyz = raw_xyz[keep] / unit[blk, None]
        k = np.broadcast_to(np.arange(n_max, dtype=np.float64), keep.shape)[keep]
        t = start[blk] + k * (end - start)[blk] / count[blk]
        ns = np.floor(t * 1000).astype(np.int64) * 1_000_000
        t_raw = head[:, 20:22].view("<u2")[:, 0].astype(np.float64)
        temp = ((t_raw.astype(np.int64) & 0x3FF) * 150.0 - 20500) / 1000
        return _Decoded(ns, xyz, temp.astype(np.float32).astype(np.float64)[blk])


def fit_gravity_calibration(
    means: np.ndarray, stds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(intercept, slope, slope_t)`` per axis from the 10-s window means and standard
    deviations of x, y, z and the temperature (``(n, 4)`` each), or None where actipy's
    ``calibrate_gravity`` would leave the data as they are (see the module)."""
    still = np.all(stds[:, :3] < _STDTOL, axis=1)
    xyz, temp = means[still, :3], means[still, 3]
    good = ~np.isnan(xyz).any(axis=1)
    xyz, temp = xyz[good], temp[good]
    nonzero = np.linalg.norm(xyz, axis=1) > 1e-8
    xyz, temp = xyz[nonzero][:_CALIB_MAX], temp[nonzero][:_CALIB_MAX]
    if len(xyz) < _CALIB_MIN:
        return None
    if (xyz.max(axis=0) < _CALIB_CUBE).any() or (xyz.min(axis=0) > -_CALIB_CUBE).any():
        return None
    intercept, slope, slope_t = np.zeros(3), np.ones(3), np.zeros(3)
    best = (intercept.copy(), slope.copy(), slope_t.copy())
    curr = xyz
    target = curr / np.linalg.norm(curr, axis=1, keepdims=True)
    errors = np.linalg.norm(curr - target, axis=1)
    if errors.mean() < 0.01:
        return None  # already calibrated: actipy leaves the data as they are
    best_err = 1e16
    for _ in range(1000):
        maxerr = np.quantile(errors, 0.995)
        sw = np.sqrt(np.maximum(1 - errors / maxerr, 0))
        for k in range(3):
            design = np.column_stack([np.ones(len(curr)), curr[:, k], temp])
            params = np.linalg.lstsq(design * sw[:, None], target[:, k] * sw, rcond=None)[0]
            intercept[k] = params[0] + intercept[k] * params[1]
            slope[k] = params[1] * slope[k]
            slope_t[k] = params[2] + slope_t[k] * params[1]
        curr = intercept + xyz * slope + temp[:, None] * slope_t
        target = curr / np.linalg.norm(curr, axis=1, keepdims=True)
        errors = np.linalg.norm(curr - target, axis=1)
        err = float(errors.mean())
        improvement = (best_err - err) / best_err
        if err < best_err:
            best, best_err = (intercept.copy(), slope.copy(), slope_t.copy()), err
        if improvement < 0.0001:
            break
    else:
        return None  # no convergence in 1000 iterations
    return None if best_err >= 0.01 else best


class CwaReader:
    """An Axivity ``.cwa`` / ``.cwa.gz`` file read a chunk at a time (see the module).

    Opening it runs the calibration pass (the whole file, in bounded memory; ``on_bytes(bytes
    read)`` follows it, for a progress bar: it can take minutes on a week-long file);
    :meth:`chunks` then yields ``(row0, Unix ns, (n, 3) g)`` pieces in order. :attr:`fs` is the
    rate the blocks state, :attr:`calibration` the fit applied (None: none),
    :attr:`calibration_bytes` the bytes the calibration pass read (the file's size; 0 with
    ``calibrate=False``, which reads only the first blocks on opening, for the rate),
    :attr:`position` the bytes of the file read so far by :meth:`chunks`, :attr:`samples` the
    samples of the file (known on opening with the calibration pass, else once :meth:`chunks`
    has read the whole file).
    """

    def __init__(
        self,
        path: str | Path,
        units: str | None = None,
        *,
        calibrate: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ):
        self.path = Path(path)
        self.src = str(path)
        if units is not None and normalize_units(units, self.src) != "g":
            raise ValueError(
                f"{self.src}: device files are read in g; units={units!r} does not apply"
            )
        self.size = self.path.stat().st_size
        if self.size == 0:
            raise ValueError(f"{self.src}: file is empty")
        self.position = 0
        self.samples = 0
        self.calibration: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.fs: float | None = None
        self.calibration_bytes = 0
        self._scan(calibrate, on_bytes)
        self.position = 0

    def _decoded(
        self, chunk_blocks: int, on_bytes: Callable[[int], None] | None = None
    ) -> Iterator[_Decoded]:
        dec = _Decoder(self.src)
        for first, raw, pos in cwa_chunks(self.path, chunk_blocks):
            part = dec.decode(first, raw)
            self.position = pos
            if on_bytes is not None:
                on_bytes(pos)
            if part is not None and part.ns.size:
                self.fs = dec.rate
                yield part

    def _scan(self, calibrate: bool, on_bytes: Callable[[int], None] | None) -> None:
        """The first pass: the rate, the sample count and the 10-s window statistics (without
        ``calibrate``: the rate only, from the first blocks that hold samples)."""
        n_win = 0
        sums = np.zeros((4, 0))
        squares = np.zeros((4, 0))
        counts = np.zeros(0, dtype=np.int64)
        origin: int | None = None
        parts = self._decoded(1024, on_bytes if calibrate else None)
        for part in parts:
            self.samples += part.ns.size
            if not calibrate:
                parts.close()  # the rate is known: the samples are counted by chunks()
                break
            if origin is None:
                origin = int(part.ns[0])
            bins = (part.ns - origin) // _WINDOW_NS
            lo, hi = int(bins[0]), int(bins[-1]) + 1
            if hi > n_win:
                grow = max(hi, 2 * n_win) - n_win
                sums = np.pad(sums, ((0, 0), (0, grow)))
                squares = np.pad(squares, ((0, 0), (0, grow)))
                counts = np.pad(counts, (0, grow))
                n_win += grow
            rel = bins - lo
            counts[lo:hi] += np.bincount(rel, minlength=hi - lo)
            cols = (*part.xyz.T, part.temp)
            for j, v in enumerate(cols):
                sums[j, lo:hi] += np.bincount(rel, weights=v, minlength=hi - lo)
                squares[j, lo:hi] += np.bincount(rel, weights=v * v, minlength=hi - lo)
        if self.samples == 0:
            raise ValueError(f"{self.src}: the device file holds no samples")
        if not calibrate:
            return
        self.calibration_bytes = self.size
        if on_bytes is not None and self.position != self.size:  # a .gz file's last bytes
            on_bytes(self.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
            var = np.maximum(squares - sums * means, 0) / (counts - 1)
        var[:, counts < 2] = np.nan
        self.calibration = fit_gravity_calibration(means.T, np.sqrt(var).T)

    def chunks(self, rows: int = 360_000) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(index of the first sample, Unix ns, (n, 3) float64 g)``, about ``rows`` at a time
        (whole blocks: 80 or 120 samples each)."""
        self.position = 0
        row0 = 0
        cal = self.calibration
        for part in self._decoded(max(16, rows // 100)):
            xyz = part.xyz
            if cal is not None:
                intercept, slope, slope_t = cal
                xyz = xyz * slope + intercept + part.temp[:, None] * slope_t
            yield row0, part.ns, xyz
            row0 += part.ns.size
        self.samples = row0
