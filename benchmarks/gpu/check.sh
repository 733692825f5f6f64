#!/usr/bin/env bash
# kzoo's GPU check (issue 25): one call of under 10 minutes on a GPU machine, jax and torch.
#
# 1. Beside each other, on the GPU:
#    - the tests marked `device` (tests/zoo, the gradient callbacks, devices:
#      `pytest -m "device and not slow"`), one pytest per backend;
#    - `kzoo train --model gru --data digits-seq` on each backend (the CPU reaches ~0.97),
#      and one `kzoo tune --model mlp --data digits` on torch.
# 2. Then alone on the GPU, the step-time table at ../shared/gpu/FIGURES.md's shapes
#    (benchmarks/step_time.py --device gpu --grad): kzoo against plain Keras against a
#    hand-written torch.nn loop, and kzoo with the gradient callbacks (every=10 + AutoClip,
#    and every=1), interleaved in one process per backend, each epoch ending with a device
#    synchronisation, median [min-max] over rounds of per-round ratios.
#
# Writes under $OUT (6 files): summary.json (versions, device, each phase's exit code and
# seconds, test counts and failures, train accuracies, the tune's best, the step-time
# ratios), step_time.json (step_time.py's reports), tests-jax.log, tests-torch.log,
# runs.log (train and tune output), check.log. Put the figures into benchmarks/RESULTS.md's
# dated "GPU" section with the device and versions from summary.json.
#
# On a GPU machine of the device tool (Python 3.12 with jax and torch, no keras), from
# the project root:
#   here:   ../shared/gpu/fetch-wheels.sh       # keras, keras-tuner, ... and kzoo's wheel in .whl/
#   there:  run(command="bash benchmarks/gpu/check.sh", carry=[".whl"], timeout_s=600)
# It installs .whl/*.whl into /tmp/site and runs everything from outside the checkout (so
# the installed kzoo, not the source folders, is imported).
#
# Dry run on a CPU (the current python with kzoo's wheel built from the checkout; tiny
# shapes, 1 round, a few tests):
#   KZOO_GPU_CHECK_DRY=1 PY=.venv/bin/python OUT=/tmp/check bash benchmarks/gpu/check.sh
# Knobs: KZOO_CHECK_BUDGET (seconds, default 540), STEPS (40), ROUNDS (9).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DRY=${KZOO_GPU_CHECK_DRY:-0}
PY=${PY:-python3}
OUT=${OUT:-/tmp/kzoo-gpu-check-out}
WORK=/tmp/kzoo-gpu-check
BUDGET=${KZOO_CHECK_BUDGET:-$([ "$DRY" = 1 ] && echo 1800 || echo 540)}
STEPS=${STEPS:-40}
ROUNDS=${ROUNDS:-9}
START=$(date +%s)
mkdir -p "$OUT"
rm -rf "$WORK" && mkdir -p "$WORK"
exec > >(tee -a "$OUT/check.log") 2>&1

left() { echo $((START + BUDGET - $(date +%s))); }
say() { echo "[check $(( $(date +%s) - START ))s] $*"; }
# phase NAME SECONDS CMD...: run CMD under a time limit, record its exit code and time
phase() {
  local name=$1 limit=$2 t0 code
  shift 2
  t0=$(date +%s)
  say "$name: start (limit ${limit}s)"
  timeout -s INT -k 20 "$limit" "$@"  # INT: pytest still writes its report
  code=$?
  printf '%s\t%s\t%s\n' "$name" "$code" $(( $(date +%s) - t0 )) >> "$WORK/phases.tsv"
  say "$name: exit $code after $(( $(date +%s) - t0 ))s"
  return 0
}

export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
if [ "$DRY" = 1 ]; then
  say "DRY RUN on the CPU with $PY: tiny shapes, 1 round, a few tests; no figure counts"
  case $PY in /*) ;; */*) PY=$PWD/$PY ;; esac  # absolute, venv kept (no symlink resolving)
  STEPS=3 ROUNDS=1
  DEVICE=cpu
  # kzoo from its wheel, as on the GPU: from outside the checkout an editable install
  # loses `kzoo` to the tests' folder tests/kzoo (a namespace package on pytest's path).
  phase wheel 180 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/whl" "$ROOT"
  phase install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$WORK/site" "$WORK"/whl/*.whl
  export PYTHONPATH=$WORK/site
  TESTS=("$ROOT/tests/zoo/test_torch_rnn_layout.py" "$ROOT/tests/callbacks/test_gradient_cost.py")
  SELECT=(-m "device and not slow" -k "contiguous_weights_in or 10-True")
  TRAIN_FLAGS=(--epochs 1)
  TUNE_FLAGS=(--max-trials 1 --epochs 1)
else
  phase install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site "$ROOT"/.whl/*.whl
  export PYTHONPATH=/tmp/site
  DEVICE=gpu
  TESTS=("$ROOT/tests/zoo" "$ROOT/tests/callbacks" "$ROOT/tests/kzoo/fit" "$ROOT/tests/kzoo/schedules"
         "$ROOT/tests/kzoo/runtime/test_devices.py"
         "$ROOT/tests/kzoo/training/test_train_devices.py")
  SELECT=(-m "device and not slow")
  TRAIN_FLAGS=()
  TUNE_FLAGS=(--max-trials 4 --epochs 5)
fi
cd "$WORK"  # never the checkout: its kzoo/ folder would hide the installed package

"$PY" - > "$WORK/env.json" <<'EOF'
import json, platform, subprocess
env = {"python": platform.python_version(), "machine": platform.node()}
for name in ("keras", "keras_tuner", "jax", "torch", "kzoo", "numpy"):
    try:
        module = __import__(name)
        env[name] = getattr(module, "__version__", "?")
    except Exception as err:  # noqa: BLE001
        env[name] = f"missing: {err}"
try:
    import jax
    env["jax_devices"] = [str(d) for d in jax.devices()]
except Exception as err:  # noqa: BLE001
    env["jax_devices"] = f"error: {err}"
try:
    import torch
    env["torch_cuda"] = torch.cuda.is_available() and torch.cuda.get_device_name(0)
    env["cudnn"] = torch.backends.cudnn.version()
except Exception as err:  # noqa: BLE001
    env["torch_cuda"] = f"error: {err}"
try:
    env["nvidia_smi"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=20).stdout.strip()
except OSError:
    env["nvidia_smi"] = None
print(json.dumps(env))
EOF
cat "$WORK/env.json"

# --- 1. tests, train and tune, beside each other ---------------------------------------
A_LIMIT=$(( $(left) - 250 ))
[ "$A_LIMIT" -gt 300 ] && A_LIMIT=300
PIDS=()
PLUGINS=()
"$PY" -c "import xdist" 2>/dev/null && PLUGINS+=(-n 4)
"$PY" -c "import pytest_timeout" 2>/dev/null && PLUGINS+=(--timeout 150)
for b in jax torch; do
  phase "tests-$b" "$A_LIMIT" env KERAS_BACKEND="$b" "$PY" -m pytest -p no:cacheprovider -q -rfE \
    --rootdir "$ROOT" -c "$ROOT/pyproject.toml" "${PLUGINS[@]}" "${SELECT[@]}" \
    --durations=10 --junitxml="$WORK/tests-$b.xml" "${TESTS[@]}" > "$OUT/tests-$b.log" 2>&1 &
  PIDS+=($!)
done
(
  for b in jax torch; do
    phase "train-$b" "$A_LIMIT" "$PY" -m kzoo.cli train --model gru --data digits-seq \
      --backend "$b" --out "$WORK/train-$b" --quiet "${TRAIN_FLAGS[@]}"
  done
  phase tune "$A_LIMIT" "$PY" -m kzoo.cli tune --model mlp --data digits --backend torch \
    --out "$WORK/tune" --quiet "${TUNE_FLAGS[@]}"
) > "$WORK/runs.log" 2>&1 &
PIDS+=($!)
wait "${PIDS[@]}"  # not a bare `wait`: it would also wait for the log's tee
cp "$WORK/runs.log" "$OUT/runs.log"
grep -h "check .*exit" "$WORK/runs.log"

# --- 2. step time, alone on the device ---------------------------------------------------
# One process per backend and family, so what finishes is kept if time runs out; each
# gets an equal share of the time left (what one leaves over goes to the next).
RUNS=(jax:mlp jax:lstm jax:gru torch:mlp torch:lstm torch:gru)
for i in "${!RUNS[@]}"; do
  b=${RUNS[$i]%%:*} f=${RUNS[$i]##*:}
  limit=$(( ($(left) - 15) / (${#RUNS[@]} - i) ))
  if [ "$limit" -lt 20 ]; then say "step_time-$b-$f: skipped, no time left"; continue; fi
  phase "step_time-$b-$f" "$limit" "$PY" "$ROOT/benchmarks/step_time.py" --backends "$b" \
    --device "$DEVICE" --grad --families "$f" --steps "$STEPS" --rounds "$ROUNDS" \
    --out "$WORK/step_time-$b-$f.json"
done

"$PY" "$ROOT/benchmarks/gpu/summary.py" "$WORK" "$OUT/summary.json" "$OUT/step_time.json"
say "done; results in $OUT"
