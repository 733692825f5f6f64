"""Split one backend's suite into shards of about equal time, and record the time.

CI has 2 cores and three backend suites; the suites differ in length (jax compiles),
so with one process per backend the longest ran alone on one core at the end while
the other core idled. `tests/run_backends.sh` runs each backend as SHARDS processes
instead (`KZOO_SHARD=k/n`), from a pool, longest first. Files go to shards whole
(module fixtures stay in one process), by longest-processing-time-first on the
seconds recorded in `tests/durations.json`; a file not recorded weighs the median.

    RECORD=1 make test    # runs the suite and rewrites tests/durations.json
"""

import json
import os
import pathlib
import statistics
import sys

DURATIONS = pathlib.Path(__file__).with_name("durations.json")


def shard_spec():
    """`(k, n)` from KZOO_SHARD=k/n (1-based), or None for the whole suite."""
    spec = os.environ.get("KZOO_SHARD")
    if not spec:
        return None
    k, n = (int(v) for v in spec.split("/"))
    if not 1 <= k <= n:
        raise ValueError(f"KZOO_SHARD={spec}: want k/n with 1 <= k <= n")
    return k, n


def assign(files, weights, n):
    """{file: shard index 0..n-1}: heaviest first, each to the lightest shard so far."""
    known = [weights[f] for f in files if f in weights]
    default = statistics.median(known) if known else 1.0
    load = [0.0] * n
    out = {}
    for f in sorted(files, key=lambda f: (-weights.get(f, default), f)):
        i = min(range(n), key=lambda i: (load[i], i))
        out[f] = i
        load[i] += weights.get(f, default)
    return out


def _file(nodeid):
    return nodeid.split("::")[0]


def select(items, backend):
    """(kept, deselected) items for this process's shard."""
    spec = shard_spec()
    if spec is None:
        return items, []
    k, n = spec
    weights = json.loads(DURATIONS.read_text()).get(backend, {}) if DURATIONS.exists() else {}
    shard = assign(sorted({_file(i.nodeid) for i in items}), weights, n)
    kept = [i for i in items if shard[_file(i.nodeid)] == k - 1]
    return kept, [i for i in items if shard[_file(i.nodeid)] != k - 1]


class Recorder:
    """Sums setup + call + teardown seconds per test file; writes them at the end."""

    def __init__(self, path):
        self.path, self.seconds = pathlib.Path(path), {}

    def add(self, report):
        f = _file(report.nodeid)
        self.seconds[f] = self.seconds.get(f, 0.0) + report.duration

    def write(self):
        self.path.write_text(json.dumps({f: round(s, 1) for f, s in sorted(self.seconds.items())},
                                        indent=1) + "\n")


def merge(target, backend, *recorded):
    """Put one backend's recorded seconds (its shards' Recorder files) into durations.json."""
    target = pathlib.Path(target)
    data = json.loads(target.read_text()) if target.exists() else {}
    data[backend] = {}
    for path in recorded:
        data[backend].update(json.loads(pathlib.Path(path).read_text()))
    target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def plan(backends, shards):
    """The jobs `backend k/n`, the longest backend's first (a pool then ends together)."""
    data = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    order = sorted(backends, key=lambda b: -sum(data.get(b, {}).values()))
    return [f"{b} {k}/{shards}" for b in order for k in range(1, shards + 1)]


if __name__ == "__main__":
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "merge" and len(args) >= 3:
        merge(*args)
    elif command == "plan" and len(args) == 2:
        print("\n".join(plan(args[0].split(), int(args[1]))))
    else:
        sys.exit("usage: python tests/_sharding.py merge DURATIONS.json BACKEND RECORDED.json...\n"
                 "       python tests/_sharding.py plan 'BACKENDS' SHARDS")
