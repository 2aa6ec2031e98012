"""Write a folder of synthetic raw wrist-accelerometer recordings, one ``.npz`` per user.

    python scripts/make_synthetic_corpus.py --out /tmp/relcon_synth --users 2000 \\
        --segments-per-user 1100

Each file holds ``x`` (T, 3) in g (float16 by default), ``fs`` (Hz: 100, 50, 30 or 25, drawn per
user), ``start_s`` (Unix seconds) and ``units = "g"``: the ``.npz`` input layout of
:func:`relcon.data.corpus.prepare_corpus`. A recording is a sequence of bouts (rest, sitting,
standing, walking, running, arm gestures), each with its own posture (gravity direction, a
user-specific mounting rotation applied on top), gait harmonics at a user-specific cadence,
slow drift and sensor noise. A share of users (``--nonwear-fraction``) also have 65 minutes of
the device lying still on a table, which the corpus's non-wear rule removes.

Every user gets at least ``segments-per-user`` 2.56 s segments of wear (up to 10% more), so
preparing ``users x segments-per-user`` >= 2,000,000 gives a corpus of at least that size.
Generation is vectorised per bout; about 1.5 GB of float16 for 2000 x 1100.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SEGMENT_S = 2.56
RATES = np.array([100.0, 50.0, 30.0, 25.0])
RATE_P = np.array([0.4, 0.3, 0.15, 0.15])
#: (name, probability, duration range s, motion amplitude range g, cadence multiplier)
BOUTS = (
    ("rest", 0.15, (60, 600), (0.002, 0.01), 0.0),
    ("sit", 0.25, (30, 400), (0.01, 0.05), 0.0),
    ("stand", 0.15, (10, 120), (0.02, 0.08), 0.0),
    ("walk", 0.25, (20, 300), (0.15, 0.45), 1.0),
    ("run", 0.08, (20, 240), (0.6, 1.6), 1.45),
    ("gesture", 0.12, (5, 60), (0.1, 0.4), 0.0),
)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _bout(rng: np.random.Generator, kind: int, n: int, fs: float, cadence: float) -> np.ndarray:
    """``(n, 3)`` float32 acceleration in the device frame for one bout (gravity included), in g."""
    name, _, _, (lo, hi), mult = BOUTS[kind]
    f32 = np.float32
    # posture: gravity mostly along -z of the device, tilted per bout
    tilt = {"rest": 0.3, "sit": 0.6, "stand": 0.8, "walk": 0.9, "run": 0.9, "gesture": 1.3}[name]
    g = np.array([0.0, 0.0, -1.0]) + tilt * rng.uniform(-1, 1, 3)
    g /= np.linalg.norm(g)
    amp = rng.uniform(lo, hi)
    x = np.empty((n, 3), dtype=f32)
    x[:] = g
    if mult > 0:  # gait: step frequency and harmonics, arm swing at half the step rate
        t = np.arange(n, dtype=f32) / f32(fs)
        f = cadence * mult * (1 + 0.03 * np.sin(f32(2 * np.pi / rng.uniform(20, 60)) * t))
        phase = f32(2 * np.pi / fs) * np.cumsum(f, dtype=f32)
        # step-to-step variability: a fresh amplitude for every step, linearly interpolated
        steps = phase / f32(2 * np.pi)
        per_step = 1 + 0.15 * rng.standard_normal(int(steps[-1]) + 2)
        env = (amp * np.interp(steps, np.arange(per_step.size), per_step)).astype(f32)
        for h, k in enumerate((1.0, 2.0, 3.0, 0.5)):
            w = rng.uniform(0.3, 1.0, 3) * (0.5 if k == 0.5 else 1.0 / (h + 1))
            ph = rng.uniform(0, 2 * np.pi, 3)  # sin(a + ph) = sin a cos ph + cos a sin ph
            sa, ca = np.sin(k * phase), np.cos(k * phase)
            coef = np.stack([w * np.cos(ph), w * np.sin(ph)]).astype(f32)  # (2, 3)
            x += env[:, None] * (np.stack([sa, ca], axis=1) @ coef)
    elif name == "gesture":  # irregular arm movements: smoothed noise bursts
        k = max(1, int(fs * 0.3))
        burst = np.cumsum(rng.standard_normal((n + k, 3), dtype=f32), axis=0)
        x += f32(amp / np.sqrt(k)) * (burst[k:] - burst[:-k])
    else:  # postural sway and fidgeting
        drift = np.cumsum(rng.standard_normal((n, 3), dtype=f32), axis=0) / f32(np.sqrt(fs * 60))
        x += f32(amp) * (drift - drift.mean(axis=0))
        x += f32(0.3 * amp) * rng.standard_normal((n, 3), dtype=f32)
    x += f32(0.004) * rng.standard_normal((n, 3), dtype=f32)  # sensor noise
    return x


def make_user(
    rng: np.random.Generator, segments: int, nonwear: bool
) -> tuple[np.ndarray, float, float]:
    """One user's recording: ``(x (T, 3) float32 in g, fs, start_s)``."""
    fs = float(rng.choice(RATES, p=RATE_P))
    target = segments * SEGMENT_S * rng.uniform(1.0, 1.1) + 2 * SEGMENT_S  # + tail slack
    cadence = rng.uniform(1.6, 2.1)
    probs = np.array([b[1] for b in BOUTS])
    pieces, total = [], 0.0
    while total < target:
        kind = int(rng.choice(len(BOUTS), p=probs / probs.sum()))
        lo, hi = BOUTS[kind][2]
        dur = min(rng.uniform(lo, hi), target - total + 1.0)
        n = max(2, round(dur * fs))
        pieces.append(_bout(rng, kind, n, fs, cadence))
        total += n / fs
    if nonwear:  # the device on a table for 65 minutes, in the middle
        n = int(65 * 60 * fs)
        g = np.array([0.0, 0.0, 1.0]) + 0.02 * rng.standard_normal(3)
        still = g / np.linalg.norm(g) + 0.002 * rng.standard_normal((n, 3), dtype=np.float32)
        pieces.insert(len(pieces) // 2, still.astype(np.float32))
    rot = _rotation(rng).T.astype(np.float32)  # user-specific mounting orientation
    x = np.concatenate(pieces) @ rot
    start = 1.70e9 + rng.uniform(0, 3e7)
    return x, fs, start


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", required=True, help="folder to write <user>.npz files into")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--segments-per-user", type=int, default=1100)
    ap.add_argument("--nonwear-fraction", type=float, default=0.05)
    ap.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_bytes = 0
    for u in range(args.users):
        rng = np.random.default_rng([args.seed, u])
        x, fs, start = make_user(rng, args.segments_per_user, rng.random() < args.nonwear_fraction)
        path = out / f"user{u:06d}.npz"
        tmp = out / f".user{u:06d}.tmp.npz"
        np.savez(tmp, x=x.astype(args.dtype), fs=fs, start_s=start, units="g")
        tmp.replace(path)
        n_bytes += path.stat().st_size
        if (u + 1) % 200 == 0 or u + 1 == args.users:
            print(
                f"{u + 1}/{args.users} users, {n_bytes / 1e9:.2f} GB, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
