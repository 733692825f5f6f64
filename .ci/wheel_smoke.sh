#!/usr/bin/env bash
# What a pip user meets: build the wheel, install it with ONE extra into a clean
# venv (pip's cache makes this fast), and from an unrelated directory run the
# commands the README starts with. Prints a PASS/FAIL line per check; exits 1 on
# any FAIL.
#   .ci/wheel_smoke.sh [EXTRA]      EXTRA: jax (default), torch, tensorflow, all
# KERAS_BACKEND is left unset on purpose: `import kzoo` must pick the installed backend.
set -uo pipefail
extra=${1:-jax}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/kzoo-wheel-$extra.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset KERAS_BACKEND
failed=0
start=$(date +%s)

check() {  # check NAME COMMAND...: run it, keep its output in $work/NAME.log
  local name=$1; shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "PASS [$extra] $name"
  else
    echo "FAIL [$extra] $name (exit $?); last lines:"; tail -n 15 "$work/$name.log" | sed 's/^/    /'
    failed=1
  fi
}

check venv "$python" -m venv "$work/venv"
# The clean venv's pip builds the wheel (in an isolated build env), so the host
# python needs only the venv module.
check build "$work/venv/bin/pip" wheel -q --no-deps -w "$work/dist" "$root"
wheel=$(ls "$work"/dist/kzoo-*.whl 2>/dev/null | head -1)
check install "$work/venv/bin/pip" install -q "$wheel[$extra]"
kzoo="$work/venv/bin/kzoo"
mkdir -p "$work/elsewhere" && cd "$work/elsewhere"   # not the checkout: the wheel alone
check version bash -c "'$kzoo' --version | grep -qx 'kzoo [0-9][0-9.]*'"
check list bash -c "'$kzoo' list | grep -q '^  fcn '"
check train "$kzoo" train --model mlp --data digits --epochs 1 --out run --quiet
check train-wrote bash -c "test -s run/summary.json && test -s run/model.keras"
check recipes bash -c "'$kzoo' recipes | grep -q '^  lr_finder '"
check recipes-copy "$kzoo" recipes copy lr_finder recipes
# The copied recipe in its fast mode, with the venv's python (the wheel alone).
check recipe-run env KZOO_FAST=1 "$work/venv/bin/python" recipes/lr_finder.py

# The tensorboard extra on this install (no TensorFlow unless EXTRA brought it):
# `kzoo train --tensorboard` writes event files that TensorBoard's own reader reads,
# with the same epoch losses as history.csv.
check install-tensorboard "$work/venv/bin/pip" install -q "$wheel[$extra,tensorboard]"
check train-tensorboard "$kzoo" train --model mlp --data digits --epochs 2 --out tbrun \
  --tensorboard --quiet
check tensorboard-read "$work/venv/bin/python" -c "
import csv, importlib.util, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
tf = importlib.util.find_spec('tensorflow') is not None
acc = EventAccumulator('tbrun/tb/train'); acc.Reload()
got = [round(e.value, 5) for e in acc.Scalars('epoch_loss')]
want = [round(float(r['loss']), 5) for r in csv.DictReader(open('tbrun/history.csv'))]
print('tensorflow installed:', tf, 'epoch_loss', got, 'history', want)
no_tf_expected = '$extra' not in ('tensorflow', 'all')
sys.exit(0 if got == want and len(got) == 2 and not (no_tf_expected and tf) else 1)
"

echo "wheel smoke [$extra]: $([ $failed = 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start )) s"
exit $failed
