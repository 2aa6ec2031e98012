#!/usr/bin/env bash
# Everything a lent GPU is for, in one call of under 10 minutes (the successor of run_gpu.sh):
#
#   1. relcon bench with the GPU settings (B=256, K=20, m=63, bf16 autocast, TF32), eager;
#   2. the public reference's own RelCon step, timed in the same call (B=64, where its m = B-1 =
#      63 matches ours, and B=256), if a checkout is at $REFERENCE (default .gpu/reference);
#   3. the loader and full step reading an on-disk corpus prepared from the packed wrist data;
#   4. full-size training within the time left (scripts/train_full_size.py): the paper's
#      encoder and reference-size distance, SimCLR with the same budget, the label-oracle upper
#      bound and the orientation-free distance, exported as float16;
#   5. relcon bench --compile-encoder (compiled scoring and encoder), if time is left.
#
# Inputs (git-ignored, carried to the GPU machine): .gpu/wrist.npz (scripts/pack_recordings.py:
# the CC BY wrist data minus the held-out subjects), .gpu/reference (a checkout of
# maxxu05/relcon), .gpu/whl/*.whl (tomli_w, missing on the GPU image). Run from the repository:
#
#     timeout 590 bash benchmarks/gpu_session.sh
#
# Results: at most 8 files in $OUT (session.log, results.tar with every JSON and log, one .tar
# per trained model). DEVICE=cpu SMALL=1 DEADLINE=200 checks the script on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
DEADLINE="${DEADLINE:-520}"  # seconds from the start by which everything but packing is done
DEVICE="${DEVICE:-cuda}"
REFERENCE="${REFERENCE:-.gpu/reference}"
OUT="${OUT:-/tmp/relcon-gpu-out}"
W="$(mktemp -d)"
mkdir -p "$OUT" "$W/results"
exec > >(tee -a "$OUT/session.log") 2>&1
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
stamp() { echo; echo "=== $* (t=$(($(date +%s) - T0)) s, left $(left) s) ==="; }

stamp setup
if ls .gpu/whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$W/site" .gpu/whl/*.whl && export PYTHONPATH="$W/site"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit,driver_version --format=csv 2>/dev/null
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
nproc; uptime
if [ "${SMALL:-0}" = 1 ]; then
    BENCH=(--device "$DEVICE" --encoder small --batch-size 16 --within-user 4 --between-user 15
        --steps 2 --warmup 1 --num-workers 0 --distance-batch-size 32 --embed-batch-size 64)
    REF=(--batch-size 4 --within-user 2 --steps 1 --warmup 1)
    TRAIN=(--small --batch-size 16 --within-user 4 --between-user 15 --distance-batch 32
        --num-workers 0 --relcon-seconds 4 --distance-seconds 3)
else
    BENCH=(--device "$DEVICE" --batch-size 256 --within-user 20 --between-user 63 --steps 5
        --warmup 2 --num-workers 8)
    REF=(--within-user 20 --tf32 --bf16 --no-phases)
    TRAIN=(--batch-size 256 --within-user 20 --between-user 63 --distance-batch 512
        --num-workers 4 --relcon-seconds "${RELCON_SECONDS:-55}" --distance-seconds 20)
fi

stamp "1. relcon bench (eager)"
timeout 150 python3 -m relcon.apps.speed "${BENCH[@]}" --no-compile --json "$W/results/bench-eager.json" \
    || echo "!!! bench (eager) failed or timed out"

stamp "2. the reference's own step"
if [ -d "$REFERENCE/relcon" ]; then
    if [ "${SMALL:-0}" = 1 ]; then
        timeout 90 python3 benchmarks/reference_step.py --reference "$REFERENCE" --device "$DEVICE" \
            "${REF[@]}" --json "$W/results/reference-small.json" || echo "!!! reference failed"
    else
        timeout 60 python3 benchmarks/reference_step.py --reference "$REFERENCE" --device "$DEVICE" \
            --batch-size 64 --steps 4 --warmup 1 "${REF[@]}" --json "$W/results/reference-b64.json" \
            || echo "!!! reference B=64 failed or timed out"
        timeout 60 python3 benchmarks/reference_step.py --reference "$REFERENCE" --device "$DEVICE" \
            --batch-size 256 --steps 2 --warmup 1 "${REF[@]}" --json "$W/results/reference-b256.json" \
            || echo "!!! reference B=256 failed or timed out"
    fi
else
    echo "no reference checkout at $REFERENCE: skipped"
fi

stamp "3. loader and full step from an on-disk corpus"
timeout 60 python3 - "$W/raw" "$W/corpus" <<'EOF' || echo "!!! corpus preparation failed"
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "scripts")
from pack_recordings import unpack_recordings

from relcon.data.corpus import prepare_corpus

raw = Path(sys.argv[1])
recs, _ = unpack_recordings(".gpu/wrist.npz")
for i, r in enumerate(recs):
    folder = raw / r.user.replace(":", "_")
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"rec{i:04d}.npz", x=r.x.astype(np.float16), fs=r.fs, start_s=r.start_s,
             units="g")
print(prepare_corpus([raw], sys.argv[2], user_from="parent", progress=False))
EOF
if [ -d "$W/corpus" ]; then
    timeout 90 python3 -m relcon.apps.speed "${BENCH[@]}" --corpus "$W/corpus" --only loader full_step \
        --json "$W/results/bench-corpus.json" || echo "!!! bench (corpus) failed or timed out"
fi

stamp "4. full-size training"
RATES=$(python3 - "$W/results/bench-eager.json" <<'EOF'
import json, sys
try:
    m = json.load(open(sys.argv[1]))["measurements"]
    print(m["full_step"]["value"], m["distance_train"]["value"])
except Exception as e:  # no bench: conservative guesses, the time limits still hold
    print(1500, 15000)
EOF
)
read -r ANCHORS_PER_S DISTANCE_PER_S <<<"$RATES"
echo "rates from the bench: $ANCHORS_PER_S anchors/s, $DISTANCE_PER_S distance segments/s"
TRAIN_S=$(($(left) - 60))
if [ "$TRAIN_S" -gt 30 ]; then
    timeout $((TRAIN_S + 40)) python3 scripts/train_full_size.py --data .gpu/wrist.npz \
        --out "$W/models" --work "$W/work" --device "$DEVICE" --deadline-s "$TRAIN_S" \
        --anchors-per-s "$ANCHORS_PER_S" --distance-per-s "$DISTANCE_PER_S" "${TRAIN[@]}" \
        || echo "!!! training failed or timed out"
else
    echo "!!! no time left for training"
fi

stamp "5. relcon bench --compile-encoder"
if [ "$(left)" -gt 45 ]; then
    timeout $(($(left) - 10)) python3 -m relcon.apps.speed "${BENCH[@]}" --compile-encoder \
        --only scoring full_step embedding --json "$W/results/bench-compile.json" \
        || echo "!!! bench (compile) failed or timed out"
else
    echo "skipped: too little time left"
fi

stamp "packing results"
nvidia-smi --query-gpu=name,temperature.gpu,clocks.sm --format=csv 2>/dev/null
cp "$W/models/train_log.json" "$W/results/" 2>/dev/null
for d in "$W"/models/distance*; do [ -d "$d" ] && cp -r "$d" "$W/results/"; done
tar -C "$W" -cf "$OUT/results.tar" results
for run in relcon simclr oracle relcon_canonical relcon_long simclr_long; do
    [ -d "$W/models/$run" ] && tar -C "$W/models" -cf "$OUT/$run.tar" "$run"
done
ls "$W"/models/relcon_step-* -d >/dev/null 2>&1 \
    && tar -C "$W/models" -cf "$OUT/curve.tar" $(cd "$W/models" && ls -d relcon_step-* | tail -2)
ls -la "$OUT"
stamp done
