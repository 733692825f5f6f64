"""kzoo's error types, and the exit code the CLI gives each kind of failure.

Every error a user can fix derives from `KzooError` and from `ValueError`
(so `except ValueError` around kzoo calls, as before, still catches them):

    KzooError           a problem kzoo detected, with the fix in its message
      UsageError        a bad option or setting                     exit 2
      DataError         data that cannot be trained on              exit 3
      RunDirError       a run or search directory kzoo will not use exit 5
      MachineError      the machine's limit (out of memory)         exit 4

The CLI maps the rest of the world onto codes too: OSError and MemoryError
(the machine: disk full, read-only, out of memory) exit 4, an interrupted run
exits 130, a bug (any other exception) exits 1 with its traceback.
"""

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_ENVIRONMENT = 4
EXIT_RUN_DIR = 5
EXIT_INTERRUPTED = 130


class KzooError(ValueError):
    """A problem kzoo detected; its message names the problem and the fix."""

    exit_code = EXIT_USAGE


class UsageError(KzooError):
    """A bad option, setting or combination of them."""

    exit_code = EXIT_USAGE


class DataError(KzooError):
    """Data that cannot be read or trained on."""

    exit_code = EXIT_DATA


class RunDirError(KzooError):
    """A run or search directory kzoo refuses to write, read or resume."""

    exit_code = EXIT_RUN_DIR


class RunFailedError(KzooError):
    """Training finished but its results could not all be written; the run's
    checkpoints are kept and `summary.json` says what failed."""

    exit_code = EXIT_ENVIRONMENT


class MachineError(KzooError):
    """A limit of the machine, not of the settings: out of memory on any backend."""

    exit_code = EXIT_ENVIRONMENT


OOM_ADVICE = ("the machine cannot hold this run: use a smaller --batch-size, shorter "
              "sequences or a smaller model (--hp), then run again")


def out_of_memory(err):
    """The one-line message of `err` if it is an out-of-memory error of any backend
    (MemoryError, jax/TensorFlow RESOURCE_EXHAUSTED, torch.cuda.OutOfMemoryError,
    "CUDA out of memory"), else None. The CLI's error boundary calls it before it
    treats a RuntimeError as a bug: `MachineError(message)`, exit 4."""
    if isinstance(err, MachineError):
        return str(err)
    text = str(err)
    oom = (isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError"
           or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower())
    if not oom:
        return None
    first = (text.strip().splitlines() or [type(err).__name__])[0]
    if len(first) > 160:
        first = first[:157] + "..."
    return f"out of memory ({first}): {OOM_ADVICE}."
