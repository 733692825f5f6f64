"""Subprocess worker of test_train_devices.py (not a test module): runs that need
virtual devices, which must exist before the backend starts.

Usage: python _devices_worker.py RUN_DIR OUT_NPZ MODE [DEVICES]

The caller sets the devices: `XLA_FLAGS=--xla_force_host_platform_device_count=N`
for jax; for tensorflow this script splits the CPU into DEVICES logical devices
before anything else. Every run checkpoints every 3 steps (and on jax logs
gradient norms every 3 steps). Modes:

- `train`: DEVICES devices, `step G` printed after each step
  (test_checkpoint_sigkill's `_run_until` kills it on one of them).
- `resume`: resumes the run in RUN_DIR to the end, then trains it again
  uninterrupted on DEVICES devices (RUN_DIR-reference) and on one (RUN_DIR-one);
  saves the three weights and histories to OUT_NPZ.
- `equal` (tensorflow): checks that `--grad-log-every` on several devices is
  refused before anything is written, that a gradient callback refuses a model
  of a MirroredStrategy, that BatchNorm is synchronized and that
  `clip_global_gradient` makes Keras' own clipping match one device's; then
  trains on DEVICES devices and on one and saves both.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
DEVICES = int(sys.argv[4]) if len(sys.argv) > 4 else 4
if os.environ.get("KERAS_BACKEND") == "jax":
    # keras.utils.set_random_seed imports tensorflow (~6 s) only to seed it, when installed.
    sys.modules["tensorflow"] = None
if os.environ.get("KERAS_BACKEND") == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kzoo  # noqa: E402
import kzoo.callbacks  # noqa: E402
import kzoo.callbacks.global_clipping  # noqa: E402
import kzoo.runtime.devices  # noqa: E402
import kzoo.zoo  # noqa: E402
from kzoo.datasets import from_arrays  # noqa: E402
from kzoo.runtime.errors import UsageError  # noqa: E402

# 202 training examples: batches of 32, the last of 10 (padded to 12 on 4 devices);
# 17 validation examples (padded to 20 on 4 devices, to 18 on 2); 11 test examples.
# Dropout on jax: its masks are drawn for the global batch, as on one device.
# TensorFlow's replicas draw their own masks (and the MLP's input noise), so runs with
# them agree in distribution only: neither, but BatchNorm (synchronized over the 2
# replicas).
# No training batch needs padding on 2 devices: BatchNorm's batch statistics would
# count the pads.
if os.environ.get("KERAS_BACKEND") == "tensorflow":
    HPARAMS = {"width": 16, "depth": 1, "dropout": 0.0, "input_noise": 0.0, "norm": "batch"}
else:
    HPARAMS = {"width": 16, "depth": 1, "dropout": 0.2}
# Precise BN (issue 31) runs on one device only (several devices train on the moving
# averages, config.json says so), so the one-device reference turns it off too.
SETTINGS = dict(epochs=2, batch_size=32, lr=1e-2, verbose=0, seed=3, hparams=HPARAMS,
                precise_bn=False)


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(230, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 0.5).astype("int32")
    return from_arrays(x[:202], y[:202], val=(x[202:219], y[202:219]),
                       test=(x[219:], y[219:]))


class Announce(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        print(f"step {self.steps}", flush=True)


def weights(result):
    return {w.path: keras.ops.convert_to_numpy(w) for w in result.model.weights}


def copies(variable):
    """On how many devices the variable lives (replicated)."""
    value = variable.value
    if hasattr(value, "sharding"):  # a jax array
        return len(value.sharding.device_set)
    return len(getattr(value, "values", [value]))  # a tf.distribute MirroredVariable


def save(out, **results):
    arrays = {}
    for name, result in results.items():
        arrays.update({f"{name}/{k}": v for k, v in weights(result).items()})
        arrays.update({f"{name}/history/{k}": np.asarray(v)
                       for k, v in result.history.items()})
        arrays[f"{name}/device_count"] = np.asarray(copies(result.model.weights[0]))
    np.savez(out, **arrays)


def clipped_fit(devices, global_clip=True):
    """Weights after a plain fit with Keras' own global-norm clipping (it binds)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(128, 8)), rng.normal(size=(128, 3))
    with kzoo.runtime.devices.scope(devices):
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(3)])
        model.compile(keras.optimizers.SGD(0.5, global_clipnorm=0.05), "mse")
        if global_clip:
            kzoo.callbacks.global_clipping.clip_global_gradient(model.optimizer)
        model.fit(x, y, batch_size=32, shuffle=False, epochs=2, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def max_difference(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))


def tensorflow_checks(run_dir, common):
    """Gradient callbacks refused (before writing, and by the hook), BatchNorm
    synchronized, Keras' clipping global; one line each."""
    try:
        kzoo.train("mlp", data(), out=run_dir + "-refused", **dict(common, grad_log_every=1))
    except UsageError as err:
        print(f"REFUSED {err}", flush=True)
    print(f"WROTE {os.path.exists(run_dir + '-refused')}", flush=True)
    with kzoo.runtime.devices.scope(DEVICES):
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
        model.compile("sgd", "mse")
    logger = kzoo.callbacks.GradientNormLogger(every=1)
    try:
        model.fit(np.zeros((32, 8)), np.zeros((32, 3)), callbacks=[logger], verbose=0)
    except ValueError as err:
        print(f"HOOK REFUSED {err}", flush=True)
    with kzoo.runtime.devices.scope(DEVICES):
        model = kzoo.zoo.create("mlp", input_shape=(8,), num_classes=3, **HPARAMS)
    synced = [la.synchronized for la in model.layers
              if isinstance(la, keras.layers.BatchNormalization)]
    print(f"SYNCHRONIZED {synced}", flush=True)
    one = clipped_fit(1)
    print(f"CLIPPED {max_difference(clipped_fit(DEVICES), one)} "
          f"{max_difference(clipped_fit(DEVICES, global_clip=False), one)}", flush=True)


def main(run_dir, out, mode):
    ds = data()
    common = dict(SETTINGS, devices=DEVICES, checkpoint_every_steps=3)
    if keras.backend.backend() == "jax":
        common["grad_log_every"] = 3  # jax's hook sees the global gradient: logs match
    if mode == "train":
        kzoo.train("mlp", ds, out=run_dir, callbacks=[Announce()], **common)
    elif mode == "resume":
        resumed = kzoo.train("mlp", ds, out=run_dir, resume=True, callbacks=[Announce()],
                             **common)
        keras.backend.clear_session()
        many = kzoo.train("mlp", ds, out=run_dir + "-reference", **common)
        keras.backend.clear_session()
        one = kzoo.train("mlp", ds, out=run_dir + "-one", **dict(common, devices=1))
        save(out, resumed=resumed, many=many, one=one)
    elif mode == "equal":
        tensorflow_checks(run_dir, common)
        many = kzoo.train("mlp", ds, out=run_dir, **common)
        norms = [la for la in many.model.layers if isinstance(la, keras.layers.BatchNormalization)]
        print(f"BATCHNORM {len(norms)} {[la.synchronized for la in norms]}", flush=True)
        keras.backend.clear_session()
        one = kzoo.train("mlp", ds, out=run_dir + "-one", **dict(common, devices=1))
        save(out, many=many, one=one)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
