"""Subprocess worker of test_ensemble.py's SIGKILL test (not a test module).

Usage: python _ensemble_kill_worker.py DATA.npz OUT_DIR

Starts `kzoo.train("mlp", DATA, ensemble=2, ...)` with the test's settings and, at the
end of step 5 of member 2 (checkpoints every 2 steps), prints `member 2 step 5` and
sleeps: the test SIGKILLs it there, so nothing of Python's clean-up runs.
"""

import json
import sys
import time

import keras

from kzoo.training import train


class PauseInMember2(keras.callbacks.Callback):
    fits = 0

    def on_train_begin(self, logs=None):
        type(self).fits += 1

    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if type(self).fits == 2 and step == 5:
            print("member 2 step 5", flush=True)
            time.sleep(600)


if __name__ == "__main__":
    data, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    train("mlp", data, out=out, ensemble=2, checkpoint_every_steps=2,
          callbacks=[PauseInMember2()], **settings)
