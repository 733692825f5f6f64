#!/usr/bin/env bash
# Run the suite once per Keras backend, each in processes of its own (Keras fixes its
# backend at import). Each backend is split into SHARDS processes of about equal time
# (KZOO_SHARD=k/n, tests/_sharding.py); JOBS of them run at once from a pool, the
# longest backend's first, so the 2 cores stay busy to the end instead of the longest
# suite finishing alone on one core. Logs are printed per backend afterwards. Exits
# non-zero if any shard fails. RECORD=1 rewrites tests/durations.json from this run.
# Usage: SHARDS=2 tests/run_backends.sh PYTHON "BACKENDS" JOBS [pytest args...]
set -u
py=$1; backends=$2; jobs=$3; shift 3
shards=${SHARDS:-1}
here=$(cd "$(dirname "$0")" && pwd)
logs=$(mktemp -d)
# Concurrent backends share the cores: torch's OpenMP threads then spin-wait on busy
# cores (a 3-seed training test: 19 s alone, 116 s beside two busy processes, 19 s
# again with one thread), stealing CPU from the other suites too. jax and tensorflow
# were measured unaffected (51 vs 51 s, 58 vs 60 s). One thread for torch then, unless
# the caller chose.
threads() {
  if [ "$1" = torch ] && [ "$jobs" -gt 1 ]; then echo "OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"; fi
}
# jax's persistent compilation cache, shared by this run's jax processes (both shards and
# every subprocess a test starts): a worker, a resumed run or another test building the
# same model reuses XLA's compiled step instead of compiling it again (the sigkill and
# resume tests: 79 s of CPU without it, 51 s from an empty cache). Keys hold the jax
# version, the XLA flags and the devices, so only identical compilations are shared; the
# cache starts empty each run and goes with the logs.
cache() {
  if [ "$1" = jax ] && [ -z "${JAX_COMPILATION_CACHE_DIR:-}" ]; then
    echo "JAX_COMPILATION_CACHE_DIR=$logs/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0"
  fi
}
run() {  # run BACKEND K/N [pytest args...]
  local b=$1 shard=$2; shift 2
  local name="$b.${shard/\//-of-}" t0=$SECONDS record=()
  [ "${RECORD:-0}" = 1 ] && record=("KZOO_DURATIONS_OUT=$logs/$name.json")
  env $(threads "$b") $(cache "$b") "${record[@]}" KERAS_BACKEND=$b KZOO_SHARD="$shard" \
    "$py" -m pytest -q -p no:cacheprovider --durations=25 "$@" tests >"$logs/$name.log" 2>&1
  echo $? >"$logs/$name.rc"
  echo $((SECONDS - t0)) >"$logs/$name.secs"
}
mapfile -t plan < <("$py" "$here/_sharding.py" plan "$backends" "$shards")
running=0
for job in "${plan[@]}"; do
  run $job "$@" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
status=0
for b in $backends; do
  for log in "$logs/$b".*.log; do
    name=$(basename "$log" .log)
    echo "=== backend: $b, shard ${name#"$b".} ($(cat "$logs/$name.secs") s) ==="
    cat "$log"
    rc=$(cat "$logs/$name.rc")
    # 5: pytest collected nothing for this shard (a -k filter can leave one empty).
    [ "$rc" = 0 ] || [ "$rc" = 5 ] || { echo "=== backend $b shard ${name#"$b".} FAILED (exit $rc) ==="; status=1; }
  done
  if [ "${RECORD:-0}" = 1 ]; then "$py" "$here/_sharding.py" merge "$here/durations.json" "$b" "$logs/$b".*.json; fi
done
rm -rf "$logs"
exit $status
