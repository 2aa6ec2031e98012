"""Build the bundled demo data: a WISDM watch subset, stored compactly inside the package.

    python scripts/build_demo_bundle.py --root ../shared/data/wisdm_watch

Reads the WISDM 2019 smartwatch accelerometer files with relcon's own reader (all caveats of the
data set's SOURCE.txt honoured: per-activity blocks, subject 1649's duplicated rows dropped,
irregular timestamps regularised, gaps split, m/s^2 -> g, polyphase resampling to 100 Hz), keeps
six activities, resamples each piece with the same anti-aliased polyphase filter from 100 Hz to
WISDM's nominal 20 Hz and stores it as int16 (1/2048 g per step). ``relcon.data.datasets``
resamples it back to 100 Hz when loading.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from relcon.data.datasets import WISDM_HAR6, read_wisdm_watch
from relcon.data.recording import ReadReport
from relcon.data.signal import resample

SCALE = 2048  # int16 steps per g: +-16 g range, 0.0005 g resolution
FS = 20.0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--root", required=True, help="the wisdm_watch folder")
    ap.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parents[1] / "src/relcon/assets/wisdm_demo.npz"),
    )
    args = ap.parse_args()

    report = ReadReport()
    recs = read_wisdm_watch(args.root, activities=WISDM_HAR6, report=report)
    print(report.summary())
    pieces, users, names, starts, labels = [], [], [], [], []
    for r in recs:
        x20 = resample(r.x, r.fs, FS, source=r.recording)
        if np.abs(x20).max() * SCALE >= 32767:
            raise ValueError(f"{r.recording}: |a| beyond the int16 range of the bundle")
        pieces.append(np.round(x20 * SCALE).astype(np.int16))
        users.append(r.user)
        names.append(r.recording)
        starts.append(r.start_s)
        codes = np.unique(r.labels)
        assert len(codes) == 1, r.recording
        labels.append(int(codes[0]))
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
    np.savez_compressed(
        args.out,
        x=np.concatenate(pieces),
        offsets=offsets,
        user=np.array(users),
        recording=np.array(names),
        start_s=np.array(starts),
        label=np.array(labels, dtype=np.int16),
        label_names=np.array(recs[0].label_names),
        fs=np.float64(FS),
        scale=np.float64(SCALE),
    )
    size = Path(args.out).stat().st_size
    print(
        f"wrote {args.out}: {len(pieces)} pieces, {len(set(users))} users, "
        f"{offsets[-1] / FS / 3600:.2f} h, {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
