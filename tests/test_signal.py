"""Tests for relcon.data.signal: units, resampling, regularization."""

from __future__ import annotations

import numpy as np
import pytest

from relcon.data.signal import (
    G,
    UniformPiece,
    detect_units,
    regularize,
    resample,
    resample_labels,
    to_g,
    to_uniform_pieces,
)


def _gravity_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """Acceleration in g: a unit gravity vector plus small motion."""
    x = np.tile([0.1, -0.2, 0.97], (n, 1)) + 0.05 * rng.standard_normal((n, 3))
    return x


def _amplitude_at(y: np.ndarray, fs: float, freq: float) -> float:
    """Amplitude of a sinusoid of known frequency by least-squares fit (sin + cos + offset)."""
    t = np.arange(y.shape[0]) / fs
    design = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(design.T, y, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


# --------------------------------------------------------------------------------------------
# units
# --------------------------------------------------------------------------------------------


def test_to_g_conversions() -> None:
    x = np.array([[0.0, 0.0, G], [G, -2 * G, 0.5 * G]])
    expected = np.array([[0.0, 0.0, 1.0], [1.0, -2.0, 0.5]])
    for unit in ("m/s^2", "m/s2", "ms2", "M/S^2 "):
        np.testing.assert_allclose(to_g(x, unit), expected, rtol=1e-12)
    np.testing.assert_allclose(to_g(expected * 1000.0, "mg"), expected, rtol=1e-12)
    y = to_g(expected, "g")
    np.testing.assert_array_equal(y, expected)
    assert y is not expected
    # integer input becomes float
    assert to_g(np.array([1000, 2000]), "mg").dtype == np.float64


def test_to_g_unknown_unit_names_source_and_unit() -> None:
    with pytest.raises(ValueError, match=r"my_file\.csv.*'km/h'"):
        to_g(np.zeros((3, 3)), "km/h", source="my_file.csv")


def test_detect_units() -> None:
    rng = np.random.default_rng(0)
    x = _gravity_like(500, rng)
    assert detect_units(x, "a") == "g"
    assert detect_units(x * G, "a") == "m/s^2"
    assert detect_units(x * 1000.0, "a") == "mg"
    # gravity removed: median magnitude ~0.09, matches nothing
    with pytest.raises(ValueError, match=r"src\.csv.*median vector magnitude is 0\.0"):
        detect_units(x - x.mean(axis=0), "src.csv")
    # between g and m/s^2 (e.g. 4): ambiguous
    with pytest.raises(ValueError, match=r"src\.csv.*4"):
        detect_units(x / np.linalg.norm(x, axis=1, keepdims=True) * 4.0, "src.csv")


# --------------------------------------------------------------------------------------------
# resample
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fs_in", "fs_out", "freq"), [(50.0, 100.0, 3.0), (20.0, 100.0, 2.0)])
def test_resample_sine_keeps_frequency_and_amplitude(fs_in: float, fs_out: float, freq: float):
    n = int(30 * fs_in)
    t_in = np.arange(n) / fs_in
    x = np.stack([1.5 * np.sin(2 * np.pi * freq * t_in), np.cos(2 * np.pi * freq * t_in) + 1], 1)
    y = resample(x, fs_in, fs_out)
    assert y.shape == (int(np.ceil(n * fs_out / fs_in)), 2)
    t_out = np.arange(y.shape[0]) / fs_out
    ref = np.stack(
        [1.5 * np.sin(2 * np.pi * freq * t_out), np.cos(2 * np.pi * freq * t_out) + 1], 1
    )
    inner = (t_out > 2.0) & (t_out < t_in[-1] - 2.0)
    np.testing.assert_allclose(y[inner], ref[inner], atol=0.01)
    # dominant frequency and amplitude by FFT / fit
    spec = np.abs(np.fft.rfft(y[inner, 0]))
    f = np.fft.rfftfreq(int(inner.sum()), 1 / fs_out)
    assert abs(f[spec.argmax()] - freq) <= f[1]
    assert _amplitude_at(y[inner, 0], fs_out, freq) == pytest.approx(1.5, rel=0.01)
    # a constant (gravity-like) offset does not ring at the edges (padtype="line"); zero
    # padding would pull the first and last samples towards 0
    const = resample(np.full((n, 3), [0.0, 0.0, 1.0]), fs_in, fs_out)
    np.testing.assert_allclose(const, np.tile([0.0, 0.0, 1.0], (const.shape[0], 1)), atol=1e-3)


def test_resample_antialiasing_vs_naive_decimation() -> None:
    fs_in, fs_out = 100.0, 20.0
    t = np.arange(int(60 * fs_in)) / fs_in
    tone = np.sin(2 * np.pi * 37.0 * t)  # above the new Nyquist (10 Hz); aliases to 3 Hz
    slow = 0.5 * np.sin(2 * np.pi * 1.0 * t)  # in band, must survive
    x = (tone + slow)[:, None]
    y = resample(x, fs_in, fs_out)[:, 0]
    naive = x[::5, 0]
    inner = slice(40, -40)
    # naive decimation keeps the tone at full strength as a 3 Hz alias
    assert _amplitude_at(naive[inner], fs_out, 3.0) > 0.9
    # the polyphase filter removes it and keeps the in-band component
    assert _amplitude_at(y[inner], fs_out, 3.0) < 0.02
    assert _amplitude_at(y[inner], fs_out, 1.0) == pytest.approx(0.5, rel=0.02)


def test_resample_identity_and_errors() -> None:
    x = np.random.default_rng(1).standard_normal((50, 3))
    y = resample(x, 100.0, 100.0)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    with pytest.raises(ValueError, match=r"rec\.csv.*ratio"):
        resample(x, 100.0, 100.0001234, source="rec.csv")
    with pytest.raises(ValueError, match=r"rec\.csv.*fs_in"):
        resample(x, 0.0, 100.0, source="rec.csv")
    with pytest.raises(ValueError, match=r"rec\.csv"):
        resample(np.zeros((0, 3)), 50.0, 100.0, source="rec.csv")
    # 1-D input works along axis 0; 104 -> 100 Hz is 25/26
    z = resample(np.ones(104), 104.0, 100.0)
    assert z.shape == (100,)
    np.testing.assert_allclose(z, 1.0, atol=1e-3)


def _nearest_reference(labels: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """Brute-force nearest-neighbour (ties to the later sample) in a plain Python loop."""
    t_in = np.arange(labels.shape[0]) / fs_in
    out = []
    for j in range(n_out):
        d = np.abs(t_in - j / fs_out)
        cands = np.flatnonzero(np.isclose(d, d.min(), rtol=0, atol=1e-12))
        out.append(labels[cands.max()])
    return np.array(out)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(50.0, 100.0), (20.0, 100.0), (100.0, 30.0)])
def test_resample_labels_nearest_in_time(fs_in: float, fs_out: float) -> None:
    rng = np.random.default_rng(2)
    lab = rng.integers(-1, 5, size=97).astype(np.int16)
    n_out = resample(np.zeros(97), fs_in, fs_out).shape[0]
    got = resample_labels(lab, 97, fs_in, fs_out, n_out)
    assert got.dtype == np.int16 and got.shape == (n_out,)
    np.testing.assert_array_equal(got, _nearest_reference(lab, fs_in, fs_out, n_out))


def test_resample_labels_simple_case_and_errors() -> None:
    got = resample_labels(np.array([0, 0, 1, 1, 2]), 5, 50.0, 100.0, 10)
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    with pytest.raises(ValueError, match="expected"):
        resample_labels(np.zeros(4, dtype=int), 5, 50.0, 100.0, 10)


# --------------------------------------------------------------------------------------------
# regularize
# --------------------------------------------------------------------------------------------


def _jittered_times(n: int, fs: float, rng: np.random.Generator, t0: float = 1000.0) -> np.ndarray:
    return t0 + np.arange(n) / fs + rng.uniform(-0.2, 0.2, n) / fs


def test_regularize_matches_np_interp_and_estimates_rate() -> None:
    rng = np.random.default_rng(3)
    t = _jittered_times(400, 20.0, rng)
    x = rng.standard_normal((400, 3))
    pieces, stats = regularize(t, x, max_gap_s=0.5, source="syn")
    assert stats["fs"] == 20.0
    assert stats["fs_estimated"] == pytest.approx(20.0, rel=0.05)
    assert stats["n_duplicates_dropped"] == 0 and stats["n_gaps_split"] == 0
    assert len(pieces) == 1
    p = pieces[0]
    assert isinstance(p, UniformPiece) and p.fs == 20.0 and p.t0_s == t[0]
    assert p.x.dtype == np.float32 and p.labels is None
    grid = np.arange(len(p)) / 20.0
    assert len(p) == int(np.floor((t[-1] - t[0]) * 20.0)) + 1
    for c in range(3):
        ref = np.interp(t[0] + grid, t, x[:, c])
        np.testing.assert_allclose(p.x[:, c], ref, atol=1e-5)


def test_regularize_explicit_fs_and_duplicates_keep_first() -> None:
    t = np.array([0.0, 0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.4])
    x = np.arange(8, dtype=float)[:, None].repeat(3, 1)
    pieces, stats = regularize(t, x, fs=10.0, source="dup")
    assert stats["n_duplicates_dropped"] == 3
    # kept samples: t=0 (0), 0.1 (1), 0.2 (3), 0.3 (4), 0.4 (7)
    np.testing.assert_allclose(pieces[0].x[:, 0], [0, 1, 3, 4, 7], atol=1e-6)


def test_regularize_splits_at_gaps() -> None:
    rng = np.random.default_rng(4)
    t1 = _jittered_times(100, 20.0, rng, t0=10.0)
    t2 = t1[-1] + 2.0 + np.arange(60) / 20.0  # 2 s gap
    t3 = t2[-1] + 0.43 + np.arange(40) / 20.0  # 0.43 s: bridged by interpolation
    t = np.concatenate([t1, t2, t3])
    x = rng.standard_normal((t.size, 3))
    lab = np.concatenate([np.zeros(100), np.ones(60), np.full(40, 2)]).astype(np.int16)
    pieces, stats = regularize(t, x, lab, max_gap_s=0.5, source="gap")
    assert stats["n_gaps_split"] == 1 and len(pieces) == 2
    assert stats["max_dt_s"] == pytest.approx(2.0, abs=0.02)
    a, b = pieces
    assert a.t0_s == t1[0] and b.t0_s == t2[0]
    # no piece covers the gap
    assert a.t0_s + (len(a) - 1) / a.fs <= t1[-1] + 1e-9
    assert b.t0_s + (len(b) - 1) / b.fs <= t[-1] + 1e-9
    np.testing.assert_array_equal(np.unique(a.labels), [0])
    np.testing.assert_array_equal(np.unique(b.labels), [1, 2])
    # labels are nearest-neighbour: compare with a brute-force search
    tb = t[100:]
    grid = b.t0_s + np.arange(len(b)) / b.fs
    ref = np.array([lab[100 + int(np.argmin(np.abs(tb - g)))] for g in grid])
    np.testing.assert_array_equal(b.labels, ref)
    # with a larger threshold nothing is split
    pieces2, stats2 = regularize(t, x, lab, max_gap_s=5.0)
    assert len(pieces2) == 1 and stats2["n_gaps_split"] == 0


def test_regularize_validation_errors_name_source_and_row() -> None:
    t = np.arange(10) / 20.0
    x = np.zeros((10, 3))
    tb = t.copy()
    tb[6] = tb[4]
    with pytest.raises(ValueError, match=r"f\.csv.*backwards at row 6"):
        regularize(tb, x, source="f.csv")
    xn = x.copy()
    xn[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"f\.csv.*row 3"):
        regularize(t, xn, source="f.csv")
    tn = t.copy()
    tn[2] = np.inf
    with pytest.raises(ValueError, match=r"f\.csv.*timestamp at row 2"):
        regularize(tn, x, source="f.csv")
    with pytest.raises(ValueError, match=r"f\.csv.*lengths must match"):
        regularize(t[:-1], x, source="f.csv")
    with pytest.raises(ValueError, match=r"f\.csv.*1-D"):
        regularize(t[:, None], x, source="f.csv")
    with pytest.raises(ValueError, match=r"f\.csv.*fewer than 2"):
        regularize(np.zeros(3), x[:3], source="f.csv")
    with pytest.raises(ValueError, match=r"f\.csv.*max_gap_s"):
        regularize(t, x, max_gap_s=0, source="f.csv")


def test_to_uniform_pieces_sine_20hz_irregular_to_100hz() -> None:
    rng = np.random.default_rng(5)
    t = _jittered_times(1200, 20.0, rng, t0=0.0)  # 60 s, ~20 Hz
    t[600:] += 3.0  # one 3 s gap
    t = np.concatenate([t, [t[-1] + 5.0]])  # an isolated last sample after a gap
    freq = 1.5
    x = np.stack([np.sin(2 * np.pi * freq * t), np.zeros_like(t), np.ones_like(t)], 1)
    lab = np.zeros(t.size, dtype=np.int16)
    pieces, stats = to_uniform_pieces(t, x, lab, max_gap_s=0.5, source="syn")
    assert stats["fs_native"] == 20.0 and stats["fs"] == 100.0
    assert stats["n_gaps_split"] == 2
    assert stats["n_pieces_dropped_short"] == 1 and stats["n_samples_dropped_short"] == 1
    assert len(pieces) == 2
    for p in pieces:
        assert p.fs == 100.0 and p.x.dtype == np.float32 and p.labels.shape == (len(p),)
        tt = p.t0_s + np.arange(len(p)) / 100.0
        inner = slice(200, -200)
        # linear interpolation at 20 Hz of a 1.5 Hz sine errs by up to ~0.03 (h^2 f''/8)
        np.testing.assert_allclose(p.x[inner, 0], np.sin(2 * np.pi * freq * tt[inner]), atol=0.05)
        np.testing.assert_allclose(p.x[:, 2], 1.0, atol=1e-3)
    assert pieces[1].t0_s == t[600]
