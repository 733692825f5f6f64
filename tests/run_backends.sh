#!/usr/bin/env bash
# Run the suite once per Keras backend, each in its own process (Keras fixes its
# backend at import). With JOBS > 1 the backends run concurrently and their logs
# are printed in order afterwards. Exits non-zero if any backend fails.
# Usage: tests/run_backends.sh PYTHON "BACKENDS" JOBS [pytest args...]
set -u
py=$1; backends=$2; jobs=$3; shift 3
logs=$(mktemp -d)
# Concurrent backends share the cores: torch's OpenMP threads then spin-wait on busy
# cores (a 3-seed training test: 19 s alone, 116 s beside two busy processes, 19 s
# again with one thread), stealing CPU from the other suites too. jax and tensorflow
# were measured unaffected (51 vs 51 s, 58 vs 60 s). One thread for torch then, unless
# the caller chose.
threads() {
  if [ "$1" = torch ] && [ "$jobs" -gt 1 ]; then echo "OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"; fi
}
run() {
  local b=$1; shift
  local t0=$SECONDS
  env $(threads "$b") KERAS_BACKEND=$b "$py" -m pytest -q -p no:cacheprovider --durations=25 "$@" tests >"$logs/$b.log" 2>&1
  echo $? >"$logs/$b.rc"
  echo $((SECONDS - t0)) >"$logs/$b.secs"
}
running=0
for b in $backends; do
  if [ "$jobs" -gt 1 ]; then
    run "$b" "$@" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  else
    run "$b" "$@"
  fi
done
wait
status=0
for b in $backends; do
  echo "=== backend: $b ($(cat "$logs/$b.secs") s) ==="
  cat "$logs/$b.log"
  rc=$(cat "$logs/$b.rc")
  [ "$rc" = 0 ] || { echo "=== backend $b FAILED (exit $rc) ==="; status=1; }
done
rm -rf "$logs"
exit $status
