"""`resume()`: continue a killed run from its latest checkpoint with the settings
of its config.json (`kzoo train --resume DIR`); only the epoch budget may grow.

Not named resume.py: a submodule of that name would shadow the function
`kzoo.training.resume` once imported.
"""

from kzoo.training import runner
from kzoo.training.config import RunResult
from kzoo.training.resume_plan import plan_resume


def resume(run_dir, *, verbose="auto", epochs=None, **settings):
    """Continue the run in `run_dir` from its latest checkpoint, with the
    settings of its `config.json` (`kzoo train --resume DIR`).

    A run stopped before its first checkpoint starts over from its config.json.

    Args:
        run_dir: a run directory written by `train` with checkpoints on.
        verbose: Keras verbosity. Defaults to `"auto"`.
        epochs: a larger total number of epochs extends the run (recorded in
            its config.json); a smaller one is refused.
        **settings: other `TrainConfig` fields; each must equal the run's own
            value (a resumed run cannot change), else UsageError lists them.

    Returns:
        The `RunResult` of the whole run.
    """
    planned = plan_resume(run_dir, verbose=verbose, epochs=epochs, **settings)
    if isinstance(planned, RunResult):  # finished: its files are left as they are
        return planned
    model, data, saved = planned
    return runner.train(model, data, **saved)
