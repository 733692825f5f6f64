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
  local name=$1 t0=$SECONDS; shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "PASS [$extra] $name ($(( SECONDS - t0 )) s)"
  else
    echo "FAIL [$extra] $name (exit $?, $(( SECONDS - t0 )) s); last lines:"
    tail -n 15 "$work/$name.log" | sed 's/^/    /'
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

no_tf=$([ "$extra" = tensorflow ] || [ "$extra" = all ] || echo yes)  # EXTRA without TF
if [ -n "$no_tf" ]; then
  # Without the tensorboard extra, --tensorboard stops in one line (exit 2) naming it,
  # before the run directory exists.
  check tensorboard-missing bash -c "'$kzoo' train --model mlp --data digits --epochs 1 \
    --out notb --tensorboard --quiet 2>notb.err; test \$? = 2 && test ! -e notb \
    && grep -q 'error: .*kzoo\[tensorboard\]' notb.err || { cat notb.err; exit 1; }"
fi
# The extra installs alone: what pip added for it holds tensorboard, no TensorFlow.
check install-tensorboard "$work/venv/bin/pip" install -q --report "$work/tb-report.json" \
  "$wheel[$extra,tensorboard]"
# With it: `kzoo train --tensorboard` and `kzoo tune --tensorboard`, each SIGKILLed
# and resumed, read back with TensorBoard's own reader against history.csv,
# grad_norms.csv, trials.csv and the HParams data.
if [ -n "$no_tf" ]; then
  check tensorboard-without-tensorflow "$work/venv/bin/python" -c "
import json, sys
names = sorted(p['metadata']['name'].lower() for p in json.load(open(sys.argv[1]))['install'])
print(names)
sys.exit(0 if 'tensorboard' in names and not any('tensorflow' in n for n in names) else 1)
" "$work/tb-report.json"
  mkdir -p tb
  check tensorboard-kill-resume "$work/venv/bin/python" "$root/.ci/tensorboard_check.py" tb
  sed -n 's/^PASS /    /p' "$work/tensorboard-kill-resume.log"
else
  echo "SKIP [$extra] tensorboard-kill-resume (it checks installs without TensorFlow)"
fi

echo "wheel smoke [$extra]: $([ $failed = 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start )) s"
exit $failed
