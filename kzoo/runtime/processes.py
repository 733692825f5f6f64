"""The one process API: joining a multi-process jax job, which process this is,
which one writes, and waiting for the others.

A run can span several processes (one per host, or several on one host), each
with its own devices: `kzoo train --coordinator HOST:PORT --num-processes P
--process-id I` (or Keras' own variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`) calls
`keras.distribution.initialize` before anything else touches the backend.
jax only: TensorFlow's multi-worker engine (`MultiWorkerMirroredStrategy`,
configured through `TF_CONFIG`) is not supported yet, and Keras 3.15 has no
torch distribution.

Every process computes the same values (the model's variables are replicated),
but only process 0 writes the run directory. The write paths ask
`is_writer()`; `on_writer` runs a write on process 0 while the others wait, and
tells them if it failed, so no process is left waiting for a collective that
never comes. These functions never start the jax runtime: without a joined
multi-process job they answer "one process" (the tuner's launcher, which must
not take a GPU, uses the run directory code too).

Every process reads the data, and on `--resume` the checkpoint, itself: put
both on a filesystem every host sees (the processes check that they resume from
the same step). A process that dies mid-training stops the others only when
jax's coordination service notices it is gone.
"""

import os
import sys

from kzoo.runtime.errors import UsageError

# Keras' own variables (`keras.distribution.initialize` reads them too).
ENV_COORDINATOR = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

_NOT_JAX = {
    "tensorflow": "kzoo runs several processes on jax only; TensorFlow's multi-worker engine "
    "(tf.distribute.MultiWorkerMirroredStrategy through TF_CONFIG) is not supported yet.",
    "torch": "Keras 3.15 has no torch distribution (DDP support inside fit comes after Keras "
    "3.15, keras-team/keras#23316), so kzoo cannot run torch on several processes.",
}


def _from_env(value, name, convert=str):
    if value is not None or not os.environ.get(name):
        return value
    try:
        return convert(os.environ[name])
    except ValueError:
        raise UsageError(f"${name}={os.environ[name]!r} is not an integer.") from None


def join(coordinator=None, num_processes=None, process_id=None, backend=None):
    """Join a multi-process job through `keras.distribution.initialize`.

    Call it before anything touches the backend (no model built, no array made).
    Unset arguments come from Keras' variables; with none set, or a single
    process, nothing happens.

    Args:
        coordinator: `"HOST:PORT"` of process 0 (a comma-separated list of every
            process's address is accepted too; the first is the coordinator).
        num_processes: number of processes of the job.
        process_id: this process's index, `0` to `num_processes - 1`.
        backend: the Keras backend. Defaults to `keras.backend.backend()`.

    Returns:
        True when this process joined a job of several processes.

    Raises:
        UsageError: an incomplete or inconsistent setting, a backend other than
            jax, or a jax runtime that already started.

    Example:

    >>> kzoo.runtime.processes.join("10.0.0.1:1234", num_processes=2, process_id=0)
    """
    coordinator = _from_env(coordinator, ENV_COORDINATOR)
    num_processes = _from_env(num_processes, ENV_NUM_PROCESSES, int)
    process_id = _from_env(process_id, ENV_PROCESS_ID, int)
    given = {"--coordinator": coordinator, "--num-processes": num_processes,
             "--process-id": process_id}
    if all(v is None for v in given.values()):
        return False
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise UsageError(
            f"A multi-process job needs --coordinator, --num-processes and --process-id on "
            f"every process; {', '.join(missing)} is missing (or set ${ENV_COORDINATOR}, "
            f"${ENV_NUM_PROCESSES}, ${ENV_PROCESS_ID})."
        )
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise UsageError(
            f"--process-id must be 0 to {num_processes - 1} and --num-processes >= 1; got "
            f"--process-id {process_id} --num-processes {num_processes}."
        )
    host, _, port = coordinator.split(",")[0].rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--coordinator {coordinator!r} is not HOST:PORT (e.g. 10.0.0.1:1234).")
    if num_processes == 1:
        return False
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend != "jax":
        raise UsageError(f"{_NOT_JAX.get(backend, backend)} Use --backend jax.")
    import jax

    if jax.distributed.is_initialized():
        return True  # joined already (e.g. by the caller's own initialize)
    import keras

    try:
        keras.distribution.initialize(coordinator, num_processes, process_id)
    except RuntimeError as err:
        raise UsageError(
            f"Could not join the job at {coordinator}: {err}. Join before anything uses jax "
            "(first thing in the script, or through kzoo train's options)."
        ) from err
    return True


def joined():
    """True when this process is part of a started multi-process jax job."""
    jax = sys.modules.get("jax")
    return jax is not None and jax.distributed.is_initialized() and jax.process_count() > 1


def process_count():
    """Number of processes of this job (1 without a multi-process job)."""
    return sys.modules["jax"].process_count() if joined() else 1


def process_index():
    """This process's index (0 without a multi-process job)."""
    return sys.modules["jax"].process_index() if joined() else 0


def is_writer():
    """True on the one process that writes the run directory (process 0)."""
    return process_index() == 0


def barrier(name):
    """Every process of the job waits here for the others (a no-op with one)."""
    if joined():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"kzoo:{name}")


def _from_process_0(value):
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def on_writer(what, fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on process 0 only, the others waiting for it.

    Every process first waits until all arrive (so what the others read before
    is read before process 0 writes), then process 0 runs `fn` and tells the
    others whether it succeeded; if it failed, every process raises.

    Args:
        what: what `fn` does, for the barrier's name and the error message.
        fn: the write.

    Returns:
        `fn`'s result on process 0, None on the others.
    """
    barrier(f"{what}:begin")
    result, error = None, None
    if is_writer():
        try:
            result = fn(*args, **kwargs)
        except BaseException as err:  # told to the others, then raised
            error = err
    if joined() and _from_process_0(error is not None):
        if error is None:
            raise RuntimeError(
                f"Process 0 failed {what} (its own output says why); process "
                f"{process_index()} stops too."
            )
    if error is not None:
        raise error
    return result


def agree(value, what, fix):
    """Check that every process has the same integer `value`; raise on all if not.

    Args:
        value: this process's value.
        what: what the value is, for the error message.
        fix: how to make the processes agree, for the error message.
    """
    if not joined():
        return
    import numpy as np
    from jax.experimental import multihost_utils

    values = np.asarray(multihost_utils.process_allgather(np.int64(value))).ravel().tolist()
    if len(set(values)) > 1:
        raise UsageError(
            f"The processes disagree on {what}: {values} (by process index). {fix}"
        )
