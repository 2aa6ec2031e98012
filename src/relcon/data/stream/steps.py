"""The streaming pipeline: regularise onto the native grid -> resample to 100 Hz -> cut windows
(with the non-wear rule), each step pushing its output into the next."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import resample_poly

from relcon.data.corpus.quality import QualityRules, nonwear_segments
from relcon.data.formats import CHANNELS
from relcon.data.signal import TARGET_FS, rational_ratio
from relcon.data.stream.batch import WindowSummary
from relcon.data.windowing import SEGMENT_LENGTH

_EPS = 1e-6  # in grid steps

_EMIT_MAX = 4096  # windows copied out at once


class _Buf:
    """Channel-major ``(C, n)`` samples with global indices ``start .. start + n``."""

    def __init__(self, dtype: Any, capacity: int = 4096) -> None:
        self.a = np.empty((CHANNELS, capacity), dtype=dtype)
        self.off = 0
        self.n = 0
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self.n

    def reset(self, start: int) -> None:
        self.off, self.n, self.start = 0, 0, start

    def append(self, y: np.ndarray) -> None:
        m = y.shape[1]
        cap = self.a.shape[1]
        if self.off + self.n + m > cap:
            if 3 * (self.n + m) <= 2 * cap:  # compact in place, copies of <= off columns
                step = self.off
                for i in range(0, self.n, step):
                    j = min(self.n, i + step)
                    self.a[:, i:j] = self.a[:, self.off + i : self.off + j]
            else:
                new = np.empty((CHANNELS, (3 * (self.n + m)) // 2 + 1), dtype=self.a.dtype)
                new[:, : self.n] = self.a[:, self.off : self.off + self.n]
                self.a = new
            self.off = 0
        self.a[:, self.off + self.n : self.off + self.n + m] = y
        self.n += m

    def view(self, a: int, b: int) -> np.ndarray:
        return self.a[:, self.off + a - self.start : self.off + b - self.start]

    def drop_before(self, g: int) -> None:
        k = min(max(0, g - self.start), self.n)
        self.off += k
        self.n -= k
        self.start += k
        if self.n == 0:
            self.off = 0


class _Windower:
    """100 Hz samples of one gap-free stretch -> kept windows on the global grid."""

    def __init__(
        self,
        stride: int,
        rules: QualityRules,
        drop_nonwear: bool,
        emit: Callable[[np.ndarray, np.ndarray], None],
        summary: WindowSummary,
    ) -> None:
        self.S = stride
        self.rules = rules
        self.nonwear = drop_nonwear
        self.win = round(rules.nonwear_window_s * TARGET_FS)
        self.step = round(rules.nonwear_step_s * TARGET_FS)
        self.emit = emit
        self.summary = summary
        self.buf = _Buf(np.float32)
        self.j0 = 0
        self.k_next = 0
        self._decided_at = 0
        self.end_all = 0  # end of the last stretch (global 100 Hz index)
        self.samples = 0  # 100 Hz samples in all stretches
        self.cut = 0  # windows holding data that a gap (or a stretch end) cuts, counted for sure
        self._k_counted = -1  # last window counted as cut
        self._pending: list[np.ndarray] = []  # cut windows that may lie past the last grid window

    def start(self, j0: int) -> None:
        self.j0 = j0
        self.buf.reset(j0)
        self.k_next = -(-j0 // self.S)
        self._decided_at = j0

    def push(self, y: np.ndarray) -> None:
        self.buf.append(y)
        # the non-wear rule looks a window (60 min) back and ahead of what it decides: deciding
        # only once that much new data has arrived keeps its cost near one pass over the data
        # whatever the size of the input blocks (the decisions themselves do not change)
        if self.nonwear and self.buf.end - self._decided_at < self.win:
            return
        self._decided_at = self.buf.end
        self._decide(final=False)

    def end(self) -> None:
        self._decide(final=True)
        a, b = self.j0, self.buf.end
        if b - a < SEGMENT_LENGTH:  # no window fits in this stretch
            self.summary.short_pieces += 1
            self.summary.short_piece_samples += b - a
        if b > a:
            self._count_cut(a, b)
            self.samples += b - a
        self.end_all = max(self.end_all, b)
        self.buf.reset(b)

    def _count_cut(self, a: int, b: int) -> None:
        """Windows that overlap the stretch ``[a, b)`` without lying inside it."""
        S, L = self.S, SEGMENT_LENGTH
        k_lo = max(0, (a - L) // S + 1, self._k_counted + 1)
        k_hi = (b - 1) // S
        if k_hi < k_lo:
            return
        ks = np.arange(k_lo, k_hi + 1, dtype=np.int64)
        ks = ks[(ks * S < a) | (ks * S + L > b)]
        self._k_counted = k_hi
        if b - a >= L:  # windows cut before this stretch end before its end: inside the grid
            self.cut += sum(p.size for p in self._pending)
            self._pending = []
        self._pending.append(ks)

    def cut_in_grid(self, k_last: int) -> int:
        """Windows cut by a gap, among grid windows ``0 .. k_last``."""
        return self.cut + sum(int(np.count_nonzero(p <= k_last)) for p in self._pending)

    def _emit(self, ks: np.ndarray) -> None:
        """Copy windows ``ks`` (global numbers, increasing) out of the buffer."""
        for a in range(0, ks.size, _EMIT_MAX):
            kk = ks[a : a + _EMIT_MAX]
            lo = int(kk[0]) * self.S
            seg = self.buf.view(lo, int(kk[-1]) * self.S + SEGMENT_LENGTH)
            view = sliding_window_view(seg, SEGMENT_LENGTH, axis=1)[:, (kk - kk[0]) * self.S]
            self.emit(np.ascontiguousarray(view.transpose(1, 2, 0)), kk)

    def _decide(self, final: bool) -> None:
        S, j0, end = self.S, self.j0, self.buf.end
        if end - SEGMENT_LENGTH < self.k_next * S:
            return
        k_last = (end - SEGMENT_LENGTH) // S  # last complete window
        if not self.nonwear:
            ks = np.arange(self.k_next, k_last + 1, dtype=np.int64)
            self.summary.windows_kept += ks.size
            self._emit(ks)
            self.k_next = k_last + 1
            self.buf.drop_before(self.k_next * S)
            return
        win, step = self.win, self.step
        if final:
            e_rel = end - j0
        else:  # block-aligned end: no window flush with it that the stretch does not have
            e_rel = ((end - j0) // step) * step
            k_last = min(k_last, (j0 + e_rel - win - SEGMENT_LENGTH) // S)
            if k_last < self.k_next:
                return
        ks = np.arange(self.k_next, k_last + 1, dtype=np.int64)
        rel = ks * S - j0
        a_rel = max(0, ((int(rel[0]) - win) // step) * step)
        flags = nonwear_segments(self.buf.view(j0 + a_rel, j0 + e_rel), rel - a_rel, self.rules)
        n_flag = int(np.count_nonzero(flags))
        self.summary.dropped["nonwear"] += n_flag
        self.summary.windows_kept += ks.size - n_flag
        if n_flag < ks.size:
            self._emit(ks[~flags])
        self.k_next = k_last + 1
        nxt = self.k_next * S - j0
        self.buf.drop_before(j0 + max(0, ((nxt - win) // step) * step))


class _Resampler:
    """Native-rate samples of one stretch -> 100 Hz, chunk by chunk with context."""

    def __init__(self, fs: float, src: str, sink: _Windower) -> None:
        self.up, self.down = (1, 1) if fs == TARGET_FS else rational_ratio(fs, TARGET_FS, src)
        half = 10 * max(self.up, self.down)  # resample_poly's filter half length (upsampled)
        m = 2 * math.ceil(half / self.up) + 2 * self.down
        self.margin = -(-m // self.down) * self.down
        self.sink = sink
        self.bypass = self.up == self.down == 1
        self.buf = _Buf(np.float64)
        self.k0 = 0
        self.emitted = 0

    def start(self, k0: int) -> None:
        self.k0 = self.emitted = k0
        self.buf.reset(k0)
        self.sink.start(k0 * self.up // self.down)

    def push(self, v: np.ndarray) -> None:
        if self.bypass:
            self.sink.push(v if v.dtype == np.float32 else v.astype(np.float32))
            return
        self.buf.append(v)
        self._run(final=False)

    def end(self) -> None:
        if not self.bypass:
            self._run(final=True)
        self.sink.end()

    def _run(self, final: bool) -> None:
        up, down, k0 = self.up, self.down, self.k0
        n_end = self.buf.end
        e = n_end if final else k0 + ((n_end - self.margin - k0) // down) * down
        if e <= self.emitted:
            return
        s = max(k0, self.emitted - self.margin)
        y = resample_poly(self.buf.view(s, n_end), up, down, axis=1, padtype="edge")
        o0 = (self.emitted - s) * up // down
        o1 = y.shape[1] if final else (e - s) * up // down
        self.sink.push(y[:, o0:o1].astype(np.float32, copy=False))
        self.emitted = e
        self.buf.drop_before(max(k0, e - self.margin))


class _Regularizer:
    """Valid samples (relative seconds, g) -> native grid ``k / fs`` per gap-free stretch."""

    def __init__(self, fs: float, max_gap_s: float, sink: _Resampler, summary: WindowSummary):
        self.fs = fs
        self.max_gap_s = max_gap_s
        self.sink = sink
        self.down = sink.down
        self.summary = summary
        self.last_t: float | None = None
        self.last_x: np.ndarray | None = None
        self.next_k = 0
        self.gap_s = 0.0  # time between the samples on either side of every gap

    def _start(self, t0: float) -> None:
        k0 = math.ceil(t0 * self.fs - _EPS)
        self.next_k = -(-k0 // self.down) * self.down
        self.summary.pieces += 1
        self.sink.start(self.next_k)

    def _grid(self, tp: np.ndarray, xp: np.ndarray) -> None:
        k_hi = math.floor(float(tp[-1]) * self.fs + _EPS)
        if k_hi < self.next_k:
            return
        g = np.arange(self.next_k, k_hi + 1, dtype=np.float64) / self.fs
        v = np.empty((CHANNELS, g.size), dtype=np.float64)
        for c in range(CHANNELS):
            v[c] = np.interp(g, tp, xp[c])
        self.next_k = k_hi + 1
        self.sink.push(v)

    def feed(self, t: np.ndarray, x: np.ndarray) -> None:
        """``t`` ``(n,)`` increasing seconds since ``T0``; ``x`` ``(3, n)`` in g."""
        if t.size == 0:
            return
        if self.last_t is not None:
            assert self.last_x is not None
            tt = np.concatenate(([self.last_t], t))
            xx = np.concatenate((self.last_x[:, None], x), axis=1)
        else:
            tt, xx = t, x
        dt = np.diff(tt)
        gaps = np.flatnonzero(dt > self.max_gap_s)
        self.summary.gaps += int(gaps.size)
        if gaps.size:
            self.gap_s += float(dt[gaps].sum())
        bounds = [0, *(gaps + 1).tolist(), tt.size]
        for i in range(len(bounds) - 1):
            a, b = bounds[i], bounds[i + 1]
            if i > 0 or self.last_t is None:
                if i > 0:
                    self.sink.end()
                self._start(float(tt[a]))
            self._grid(tt[a:b], xx[:, a:b])
        self.last_t = float(tt[-1])
        self.last_x = xx[:, -1].copy()

    def finish(self) -> None:
        if self.last_t is not None:
            self.sink.end()
