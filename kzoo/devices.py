"""One setting, `devices`: data parallelism on each backend's own engine.

`devices=N` (or `"all"`) trains one model on N devices of this machine (or of
every process of a multi-process job), with `batch_size` the global batch:

- jax: `keras.distribution.DataParallel`, several processes through
  `keras.distribution.initialize`;
- tensorflow: `tf.distribute.MirroredStrategy`;
- torch: refused with a clear error (Keras 3.15 has no torch distribution).

This module is the one place the rest of kzoo asks "which process am I, do I
write, wait for the others". With one process every answer is trivial, so
single-device code calls these functions unconditionally.

API (the contract other modules code against):

- `resolve(devices, backend=None) -> int`: the number of devices a setting
  means, checked (a `UsageError` naming the fix otherwise).
- `scope(devices)`: a context manager that installs the engine for
  `resolve(devices)` devices around model building, compiling and fitting;
  yields a `Placement`.
- `process_index()`, `process_count()`, `is_writer()`: this process in a
  multi-process job (0 and 1 without one); only the writer writes files.
- `barrier(name)`: every process waits here until all have arrived (a no-op
  with one process).
"""

import dataclasses


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


def process_count():
    """Number of processes of this job (1 unless jax's distributed runtime runs)."""
    if _backend() == "jax":
        import jax

        return jax.process_count()
    return 1


def process_index():
    """This process's index in the job (0 unless jax's distributed runtime runs)."""
    if _backend() == "jax":
        import jax

        return jax.process_index()
    return 0


def is_writer():
    """True on the one process that writes checkpoints, logs and summaries."""
    return process_index() == 0


def barrier(name):
    """Wait until every process of the job reaches `barrier(name)`."""
    if process_count() == 1:
        return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(f"kzoo:{name}")


def resolve(devices, backend=None):
    """The number of devices `devices` (an int >= 1 or `"all"`) means here."""
    raise NotImplementedError("filled in by the devices work (issue #14)")


def scope(devices):
    """Install the data-parallel engine for `devices` (context manager)."""
    raise NotImplementedError("filled in by the devices work (issue #14)")
