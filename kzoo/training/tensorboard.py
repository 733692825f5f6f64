"""`kzoo train --tensorboard [DIR]`: the run's `TensorBoardLogger`, and what it
writes after the fit (the diagnosis as text, the test scores)."""

import pathlib

from kzoo.rundir.files import TENSORBOARD_DIR
from kzoo.runtime.errors import UsageError

DEFAULT_DIR = TENSORBOARD_DIR  # inside the run directory


def log_dir(config, run_dir):
    """Where the run's event files go: `<run>/tb` for `tensorboard=True`, else the
    directory given."""
    if config.tensorboard is True or config.tensorboard == "":
        if run_dir is None:
            raise UsageError(
                "--tensorboard without DIR writes into the run directory, and this run has "
                "none: pass out= (--out DIR), or tensorboard=<a directory>."
            )
        return pathlib.Path(run_dir) / DEFAULT_DIR
    if not isinstance(config.tensorboard, str):
        raise UsageError(
            f"tensorboard={config.tensorboard!r}: pass True (<out>/tb) or a directory."
        )
    return pathlib.Path(config.tensorboard)


def tensorboard_logger(config, run_dir, gradient_callbacks):
    """The run's `TensorBoardLogger` (after the gradient callbacks, so it writes the
    `GradientNormLogger`'s rows). Raises UsageError, before anything is written, when
    the `tensorboard` package is missing or a new run's DIR holds another run's
    event files (a resumed run continues its own)."""
    from kzoo.callbacks import GradientNormLogger
    from kzoo.callbacks.tensorboard import TensorBoardLogger

    path = log_dir(config, run_dir)
    if path.is_file():
        raise UsageError(f"--tensorboard {path}: that is a file. Pass a directory.")
    own = run_dir is not None and path == pathlib.Path(run_dir) / DEFAULT_DIR  # the run's rules
    if (not own and not config.resume and path.is_dir()
            and any(path.rglob("events.out.tfevents.*"))):
        raise UsageError(
            f"--tensorboard {path} already holds TensorBoard event files of another run; "
            "pass an empty or new directory (each run its own), or --resume that run."
        )
    norms = next((c for c in gradient_callbacks if isinstance(c, GradientNormLogger)), None)
    return TensorBoardLogger(str(path), gradients=norms)


def finish(callbacks, summary):
    """After the fit: the diagnosis as text and the test scores as `test/<name>`
    scalars, at the last epoch; then the event files are closed."""
    from kzoo.callbacks.tensorboard import TensorBoardLogger
    from kzoo.diagnose import render

    for cb in callbacks:
        if isinstance(cb, TensorBoardLogger):
            text = render(summary.get("diagnosis", []))
            scores = {f"test/{k[5:]}": v for k, v in summary.items()
                      if k.startswith("test_") and isinstance(v, (int, float))
                      and not isinstance(v, bool)}
            # indented: a code block in TensorBoard's markdown, lines kept
            cb.text("diagnosis", "\n".join("    " + line for line in text.splitlines()),
                    scalars=scores)
            cb.close()
