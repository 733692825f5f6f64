"""One setting, `devices`: data parallelism on each backend's own engine.

`devices=N` (or `"all"`) trains one model on N devices of this machine (or of
every process of a multi-process job), with `batch_size` the global batch:

- jax: `keras.distribution.DataParallel`, several processes through
  `keras.distribution.initialize`;
- tensorflow: `tf.distribute.MirroredStrategy`;
- torch: refused with a clear error (Keras 3.15 has no torch distribution).

Which process this is, and waiting for the others, is `kzoo.runtime.processes`
(one process API); with one process every answer is trivial.

API (the contract other modules code against):

- `resolve(devices, backend=None) -> int`: the number of devices a setting
  means, checked (a `UsageError` naming the fix otherwise).
- `scope(devices)`: a context manager that installs the engine for
  `resolve(devices)` devices around model building, compiling and fitting;
  yields a `Placement`.
- `check_devices_value(devices)`: the keras-free check of the setting (config, CLI).

`kzoo.callbacks.global_clipping.clip_global_gradient(optimizer)` makes Keras' own
clipping clip the global gradient on tensorflow with several replicas.

Batches: `batch_size` is the global batch. kzoo's batch order
(`kzoo.fit.ShuffledBatches`) pads a batch that does not divide by the
device count with zero-weight copies, and keeps the loss, the gradient and the
logged metrics those of the unpadded batch (`fit_resumable(pad_to=...)`).
"""

import contextlib
import dataclasses

from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import UsageError
from kzoo.runtime.processes import process_count, process_index


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run trains.

    Attributes:
        devices: global number of devices (replicas) the batch is split over.
        process_index: this process's index (0 without a multi-process job).
        process_count: number of processes.
        engine: `"none"`, `"keras.distribution.DataParallel"` or
            `"tf.distribute.MirroredStrategy"`.
    """

    devices: int = 1
    process_index: int = 0
    process_count: int = 1
    engine: str = "none"

    @property
    def local_devices(self):
        return self.devices // self.process_count


def _backend():
    import keras

    return keras.backend.backend()


def check_devices_value(devices):
    """Raise `UsageError` unless `devices` is an int >= 1 or `"all"` (keras-free)."""
    if devices == "all" or (is_int(devices) and devices >= 1):
        return
    raise UsageError(f"devices must be an int >= 1 or 'all', got {devices!r}.")


def _available(backend):
    """`(names, kind)`: the devices a data-parallel engine of `backend` can use."""
    if backend == "jax":
        import keras

        names = keras.distribution.list_devices()
        return names, names[0].split(":")[0] if names else "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        chosen = gpus or tf.config.list_logical_devices("CPU")
        return [d.name for d in chosen], "gpu" if gpus else "cpu"
    return [], "cpu"


def resolve(devices, backend=None):
    """The number of devices `devices` (an int >= 1 or `"all"`) means here.

    Args:
        devices: an int >= 1, or `"all"`: every device the backend's engine sees
            (jax: `keras.distribution.list_devices()`, all processes' devices in
            a multi-process job; tensorflow: the logical GPUs, else the logical CPUs).
        backend: the Keras backend. Defaults to the one Keras runs on.

    Returns:
        The device count, checked against the devices that exist.

    Raises:
        UsageError: a bad value, torch with more than one device (Keras 3.15
            has no torch distribution), or more devices than exist (with how to
            make virtual CPU devices).

    Example:

    >>> # with XLA_FLAGS=--xla_force_host_platform_device_count=4
    >>> kzoo.runtime.devices.resolve("all")
    4
    """
    check_devices_value(devices)
    backend = backend or _backend()
    if devices == 1:
        return 1
    if backend == "torch":
        raise UsageError(
            f"devices={devices!r} on torch: Keras 3.15 has no torch distribution. Data "
            "parallelism on torch comes with keras-team/keras#23316, merged after 3.15 "
            "(Keras 3.16), and kzoo pins keras<3.16. Use --backend jax or tensorflow for "
            "several devices, or devices=1."
        )
    if backend not in ("jax", "tensorflow"):
        raise UsageError(f"devices={devices!r}: the {backend} backend trains on one device.")
    names, kind = _available(backend)
    if devices == "all":
        return len(names)
    if devices > len(names):
        how = (
            "set XLA_FLAGS=--xla_force_host_platform_device_count=N before jax starts"
            if backend == "jax"
            else "call tf.config.set_logical_device_configuration(cpu, "
            "[tf.config.LogicalDeviceConfiguration()] * N) before tensorflow starts"
        )
        hint = f" For N virtual CPU devices (tests), {how}." if kind == "cpu" else ""
        raise UsageError(
            f"devices={devices} but the {backend} backend sees {len(names)} {kind} "
            f"device(s) ({', '.join(names)}). Pass --devices {len(names)} or 'all'.{hint}"
        )
    if backend == "jax" and process_count() > 1 and devices != len(names):
        raise UsageError(
            f"devices={devices} in a job of {process_count()} processes: every process "
            f"takes part, so pass devices='all' (the job's {len(names)} devices)."
        )
    return devices


# One engine per device set: TensorFlow refuses a model built under one
# MirroredStrategy and fitted under another, and `scope` is entered for the build
# and again for the fit (KerasTuner clears the global distribution in between).
_ENGINES = {}


def _engine(backend, names):
    key = (backend, tuple(names))
    if key not in _ENGINES:
        if backend == "jax":
            import keras

            _ENGINES[key] = keras.distribution.DataParallel(
                devices=list(names), auto_shard_dataset=False
            )
        else:
            import tensorflow as tf

            _ENGINES[key] = tf.distribute.MirroredStrategy(list(names))
    return _ENGINES[key]


@contextlib.contextmanager
def scope(devices):
    """Install the data-parallel engine for `devices` around a block.

    `devices` 1 installs nothing. jax: `keras.distribution.DataParallel` over
    the first N devices (with `auto_shard_dataset=False`: kzoo's batches are
    already each process's slice), the previous distribution restored after
    the block. tensorflow: `tf.distribute.MirroredStrategy(...).scope()`. Build,
    compile and fit the model inside it; enter it again as often as needed
    (the same devices give the same engine).

    Args:
        devices: an int >= 1 or `"all"` (see `resolve`).

    Yields:
        A `Placement`.

    Example:

    >>> with kzoo.runtime.devices.scope(4) as placement:
    ...     model = kzoo.zoo.create("mlp", input_shape=(64,), num_classes=10)
    ...     model.fit(x, y, batch_size=32 * placement.devices)
    """
    backend = _backend()
    n = resolve(devices, backend)
    if n == 1:
        yield Placement()
        return
    names = _available(backend)[0][:n]
    engine = _engine(backend, names)
    if backend == "jax":
        import keras

        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(engine)
        try:
            yield Placement(n, process_index(), process_count(), "keras.distribution.DataParallel")
        finally:
            keras.distribution.set_distribution(previous)
    else:
        with engine.scope():
            yield Placement(n, 0, 1, "tf.distribute.MirroredStrategy")
