"""Subprocess worker of test_multiprocess.py (not a test module).

Usage: python _multiprocess_worker.py DATA_NPZ RUN_DIR RESULT_PREFIX [COORDINATOR P I]

Trains a tiny MLP for 2 epochs with `kzoo.train(devices="all")` into RUN_DIR,
after joining the job at COORDINATOR as process I of P when given. It records
the training examples each batch of this process carried (by their index in the
stream, with their sample weight) and every write it made into RUN_DIR, and
saves them, with the final weights, to RESULT_PREFIX.json / RESULT_PREFIX.npz
(outside the run directory).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from kzoo.runtime import processes  # noqa: E402

data, run_dir, prefix, *job = sys.argv[1:]

# Every write of this process into the run directory, seen through Python's audit
# events (open for writing, mkdir, rename, remove): kzoo is observed, not patched.
writes = []
_RUN = os.path.abspath(run_dir)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
            (flags or 0) & _WRITE_FLAGS)
        paths = [path] if writing else []
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.unlink",
                   "shutil.rmtree"):
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return
    for path in paths:
        if isinstance(path, (str, os.PathLike)):
            path = os.path.abspath(path)
            if path == _RUN or path.startswith(_RUN + os.sep):
                writes.append([event, os.path.relpath(path, _RUN)])


sys.addaudithook(_audit)
if job:
    processes.join(job[0], int(job[1]), int(job[2]))

import kzoo  # noqa: E402
from kzoo.fit import resumable_fit  # noqa: E402
from kzoo.runtime.errors import UsageError  # noqa: E402

# {(stream size, global step): [[epoch, index, weight] of each example this process fed]};
# Keras reads the first item once more to learn the shapes, so items are kept by step.
seen = {}
_index = {}
_getitem = resumable_fit.ShuffledBatches.__getitem__


def recording_getitem(self, i):
    batch = _getitem(self, i)
    if not self.shuffle:  # an evaluation stream (padded, in order), not a training epoch
        return batch
    if self.n not in _index:
        _index[self.n] = {row.tobytes(): k for k, row in enumerate(np.asarray(self.x))}
    weights = batch[2] if len(batch) == 3 else np.ones(len(batch[0]))
    step = self.start_step + i
    seen[self.n, step] = [
        [step // self.steps_per_epoch, _index[self.n][row.tobytes()], float(w)]
        for row, w in zip(np.asarray(batch[0]), weights, strict=True)
    ]
    return batch


resumable_fit.ShuffledBatches.__getitem__ = recording_getitem

result = kzoo.train(
    "mlp", data, epochs=2, batch_size=16, lr=0.01, devices="all", out=run_dir, seed=0,
    checkpoint_every_epochs=1, grad_log_every=2, verbose=0,
    hparams={"depth": 1, "width": 8},
)
# A write that fails on process 0 makes every process raise; so does a disagreement.
errors = []


def failing_write():
    raise OSError("simulated")


for check in (lambda: processes.on_writer("a simulated write", failing_write),
              lambda: processes.agree(processes.process_index(), "the index", "None.")):
    try:
        check()
    except (OSError, RuntimeError, UsageError) as err:
        errors.append(f"{type(err).__name__}: {err}")
np.savez(prefix + ".npz", *[np.asarray(v) for v in result.model.weights])
with open(prefix + ".json", "w") as f:
    seen = [[n, *example] for (n, _), examples in sorted(seen.items()) for example in examples]
    json.dump({"process_index": processes.process_index(), "seen": seen, "writes": writes,
               "errors": errors,
               "history": result.history}, f, default=float)
print("done", flush=True)
