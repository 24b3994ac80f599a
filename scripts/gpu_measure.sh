#!/usr/bin/env bash
# Run THERE, on the device machine, as one call of the device tool (docs/validation.md, "GPU data"):
#   run(command="bash scripts/gpu_measure.sh", carry=[".whl"], timeout_s=600)
# after scripts/gpu_wheels.sh here. It installs the carried wheels, records the GPU's identity and clocks, runs the
# full CUDA suite (GEMMs and the disputed shapes, the wave sweep, streams, SDPA flash / cuDNN, norms, the CUPTI
# kernel durations that settle KERNEL_DEVICE_LAUNCH) and scores it, writing 4 files to $OUT. The suite is cut
# at BENCH_TIMEOUT seconds so the call ends inside its limit. DEVICE=cpu QUICK=1 SKIP_WHEELS=1 runs the same flow
# on a CPU (how the script itself is checked without a GPU).
set -uo pipefail
OUT=${OUT:?set OUT to the output folder}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
if [ -z "${SKIP_WHEELS:-}" ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH="$PWD/src:/tmp/site"
else
    export PYTHONPATH="$PWD/src"
fi
export PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
        --format=csv > "$OUT/nvidia-smi.csv" 2>&1
fi
suite=--full
[ -n "${QUICK:-}" ] && suite=--quick
timeout "${BENCH_TIMEOUT:-480}" "$PYTHON" -m accelscope bench --device "$DEVICE" "$suite" --out "$OUT/bench.csv" \
    > "$OUT/bench.log" 2>&1
echo "bench exit $?" >> "$OUT/bench.log"
"$PYTHON" -m accelscope validate "$OUT/bench.csv" --levels roofline,analytical --markdown > "$OUT/validate.md" 2>&1
tail -n 40 "$OUT/validate.md"
