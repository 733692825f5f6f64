"""Subprocess worker of test_multiprocess.py (not a test module).

Usage: python _multiprocess_worker.py DATA_NPZ RUN_DIR RESULT_PREFIX [COORDINATOR P I]

Trains a tiny MLP for 2 epochs with `kzoo.train(devices="all")` into RUN_DIR,
after joining the job at COORDINATOR as process I of P when given. It records
the training examples each batch of this process carried (by their index in the
training set, with their sample weight) and saves them, with the final weights,
to RESULT_PREFIX.json / RESULT_PREFIX.npz (outside the run directory).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from kzoo import multiprocess  # noqa: E402

data, run_dir, prefix, *job = sys.argv[1:]
if job:
    multiprocess.join(job[0], int(job[1]), int(job[2]))

import kzoo  # noqa: E402
from kzoo.callbacks import resumable_fit  # noqa: E402

N_TRAIN = len(np.load(data)["x_train"])
seen = []  # [epoch, training-set index, weight] of each example this process fed
_index = {}
_getitem = resumable_fit.ShuffledBatches.__getitem__


def recording_getitem(self, i):
    batch = _getitem(self, i)
    if self.n == N_TRAIN:  # the training stream (validation batches have another size)
        if not _index:
            _index.update({row.tobytes(): k for k, row in enumerate(np.asarray(self.x))})
        weights = batch[2] if len(batch) == 3 else np.ones(len(batch[0]))
        epoch = (self.start_step + i) // self.steps_per_epoch
        for row, w in zip(np.asarray(batch[0]), weights, strict=True):
            seen.append([epoch, _index[row.tobytes()], float(w)])
    return batch


resumable_fit.ShuffledBatches.__getitem__ = recording_getitem

result = kzoo.train(
    "mlp", data, epochs=2, batch_size=16, lr=0.01, devices="all", out=run_dir, seed=0,
    checkpoint_every_epochs=1, grad_log_every=2, verbose=0,
    hparams={"depth": 1, "width": 8},
)
np.savez(prefix + ".npz", *[np.asarray(v) for v in result.model.weights])
with open(prefix + ".json", "w") as f:
    json.dump({"process_index": multiprocess.process_index(), "seen": seen,
               "history": result.history}, f, default=float)
print("done", flush=True)
