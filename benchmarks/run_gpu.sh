#!/usr/bin/env bash
# relcon bench on one CUDA GPU with the issue's settings (B=256, K=20, m=63, bf16 autocast, TF32),
# eager and with --compile, plus the loader and full step on a small on-disk corpus. Installs
# nothing: run it from the repository with the project's virtualenv active (or at .venv/ or
# $RELCON_VENV). About 3-5 minutes on an H100/H200:
#
#     timeout 600 bash benchmarks/run_gpu.sh
#
# Results: $OUT/<gpu>[-compile|-corpus].json (else benchmarks/results/), tables on stdout.
# Knobs (environment): STEPS (timed iterations, default 10), WORKERS (loader workers, default 8),
# SKIP_COMPILE=1, SKIP_CORPUS=1, EXTRA (more flags for every run), DEVICE (default cuda; "cpu"
# with e.g. EXTRA="--batch-size 8 --encoder small" only checks the script itself).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ]; then
    for venv in "${RELCON_VENV:-}" .venv /work/venv; do
        if [ -n "$venv" ] && [ -f "$venv/bin/activate" ]; then
            # shellcheck disable=SC1091
            . "$venv/bin/activate"
            break
        fi
    done
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not
DEVICE="${DEVICE:-cuda}"
if [ "$DEVICE" != cpu ]; then
    python -c "import torch, relcon; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1
fi

RES="${OUT:-benchmarks/results}"
mkdir -p "$RES"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
GPU="$(python -c "import torch; n = torch.cuda.get_device_name().upper() if torch.cuda.is_available() else 'CPU'; print(next((g for g in ('GH200', 'H200', 'H100', 'A100', 'CPU') if g in n), 'gpu').lower())")"
STEPS="${STEPS:-10}"
WORKERS="${WORKERS:-8}"
# shellcheck disable=SC2206
COMMON=(--device "$DEVICE" --batch-size 256 --within-user 20 --between-user 63 --steps "$STEPS"
    --num-workers "$WORKERS" ${EXTRA:-})
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv 2>/dev/null || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

bench() {  # bench SECONDS NAME FLAGS...: one run, its table on stdout, JSON under $RES
    local limit="$1" name="$2"
    shift 2
    echo
    echo "=== relcon bench ${name} ($(date +%T)) ==="
    timeout "$limit" python -m relcon.apps.speed "${COMMON[@]}" "$@" --json "$RES/$GPU$name.json" \
        || echo "!!! relcon bench $name failed or timed out (exit $?)"
}

# 1. the issue's settings, eager (synthetic windows in memory)
bench 150 "" --no-compile
# 2. the same with the compiled sparsemax and torch.compile'd encoder (compiling is in warm-up)
[ "${SKIP_COMPILE:-0}" = 1 ] || bench 240 "-compile" --compile-encoder --warmup 3
# 3. loader and full step reading a small prepared corpus (memory-mapped int16 shards)
if [ "${SKIP_CORPUS:-0}" != 1 ] && [ -f scripts/make_synthetic_corpus.py ]; then
    echo
    echo "=== building a synthetic corpus ($(date +%T)) ==="
    if timeout 90 python scripts/make_synthetic_corpus.py --out "$SCRATCH/raw" --users 600 \
        --segments-per-user 64 --nonwear-fraction 0 \
        && timeout 90 python -c "import sys; from relcon.data.corpus import prepare_corpus; \
print(prepare_corpus([sys.argv[1]], sys.argv[2], progress=False))" "$SCRATCH/raw" "$SCRATCH/corpus"
    then
        bench 120 "-corpus" --corpus "$SCRATCH/corpus" --only loader full_step
    else
        echo "!!! could not build the synthetic corpus; skipped the corpus run"
    fi
fi
echo
echo "results: $(ls "$RES"/"$GPU"*.json 2>/dev/null | tr '\n' ' ')"
