"""Subprocess worker of test_checkpoint_sigkill.py (not a test module).

Usage: python _resume_worker.py RUN_DIR OUT_NPZ [pause_in_write]

Trains a tiny MLP with dropout and a warmup-cosine schedule under
`fit_resumable`, checkpointing every step, printing `step G` after each step
(and `writing G` inside a checkpoint write, where it then sleeps so a SIGKILL
lands mid-write). When training completes it also runs the same training
uninterrupted in a fresh directory and saves both final weights to OUT_NPZ.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kzoo.callbacks import LearningRateLogger  # noqa: E402
from kzoo.callbacks.checkpoint import Checkpoint  # noqa: E402
from kzoo.fit import fit_resumable  # noqa: E402
from kzoo.schedules import Warmup  # noqa: E402

SEED, EPOCHS, BATCH = 7, 4, 8


class Announce(keras.callbacks.Callback):
    def __init__(self, ckpt):
        super().__init__()
        self.ckpt = ckpt

    def on_train_batch_end(self, batch, logs=None):
        print(f"step {self.ckpt.global_step + 1}", flush=True)  # steps done


def train(run_dir, pause_in_write=False):
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(36, 6)).astype("float32")  # 5 steps/epoch, last batch of 4
    y = (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 0.5).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    lr = Warmup(keras.optimizers.schedules.CosineDecay(0.05, 15), warmup_steps=5)
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy")
    ckpt = Checkpoint(run_dir, every_n_steps=1, keep_last=2, monitor="loss")
    if pause_in_write:

        real_replace = os.replace

        def pause(src, dst):  # a kill here must leave no trace
            if str(dst).endswith(".ckpt"):
                print(f"writing {ckpt.global_step}", flush=True)
                time.sleep(0.2)
            real_replace(src, dst)

        os.replace = pause
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=50)
    history = fit_resumable(
        model,
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        seed=SEED,
        checkpoint=ckpt,
        callbacks=[es, LearningRateLogger(), Announce(ckpt)],
    )
    return model, history


if __name__ == "__main__":
    run_dir, out = sys.argv[1], sys.argv[2]
    model, history = train(run_dir, pause_in_write="pause_in_write" in sys.argv)
    resumed = [v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v)
               for v in model.weights]
    keras.backend.clear_session()
    ref_model, ref_history = train(run_dir + "-reference")
    ref = [keras.ops.convert_to_numpy(v) for v in ref_model.weights]
    np.savez(
        out,
        **{f"r{i}": keras.ops.convert_to_numpy(a) for i, a in enumerate(resumed)},
        **{f"u{i}": a for i, a in enumerate(ref)},
        epochs=np.array([len(history["loss"]), len(ref_history["loss"])]),
        losses=np.array([history["loss"], ref_history["loss"]]),
    )
    print("DONE", flush=True)
