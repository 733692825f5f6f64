"""A batch-size search that survives out-of-memory (issue 30; keras-tuner#702).

A trial that runs out of device memory fails like any other (the search goes on:
`make_tuner` never stops on failures), and `trials.csv` marks it
`out_of_memory=1` beside its `batch_size` (`is_out_of_memory`, read from the
error KerasTuner stored). `avoid_out_of_memory(oracle)` then keeps the oracle from
proposing that batch or a larger one for the same model size: the same values of
its architecture hyperparameters, the int, choice and boolean ones other than
`batch_size` (the float ones, `learning_rate` and the dropout, noise and L2 rates,
change no tensor's size).

The limits are read from the oracle's own trials on every proposal, so they
survive a resumed search and hold on a distributed search's chief. A proposal
over the limit is drawn again (random search: up to `RESAMPLES` times), then,
for the model-based oracles and hyperband (whose proposals are not draws),
clamped to the largest `batch_size` choice under the limit. TPE is told the
score of the clamped trial under the batch Optuna asked for.
"""

from kzoo.runtime.errors import out_of_memory

TRAINING_HPS = ("learning_rate", "batch_size")
RESAMPLES = 20


def is_out_of_memory(trial):
    """Whether a trial failed for want of memory (any backend's error)."""
    if trial.status != "FAILED":
        return False
    lines = [ln.strip() for ln in (trial.message or "").splitlines() if ln.strip()]
    line = lines[-1] if lines else ""  # KerasTuner stores the traceback
    return (out_of_memory(RuntimeError(line)) is not None
            or line.split(":")[0].endswith(("MemoryError", "OutOfMemoryError")))


def model_key(values):
    """The model size of a trial: its non-float hyperparameters but `batch_size`."""
    return tuple(sorted((k, repr(v)) for k, v in values.items()
                        if k not in TRAINING_HPS and not isinstance(v, float)))


def batch_limits(trials):
    """model key -> the smallest batch size that ran out of memory with it."""
    limits = {}
    for trial in trials:
        batch = trial.hyperparameters.values.get("batch_size")
        if batch is None or not is_out_of_memory(trial):
            continue
        key = model_key(trial.hyperparameters.values)
        limits[key] = min(batch, limits.get(key, batch))
    return limits


def _over(values, limits):
    limit = limits.get(model_key(values))
    batch = values.get("batch_size")
    return limit is not None and batch is not None and batch >= limit


def _clamp(oracle, values, limits):
    """`values` with the largest batch choice under its model's limit (as is if none)."""
    limit = limits[model_key(values)]
    space = {hp.name: hp for hp in oracle.get_space().space}
    choices = getattr(space.get("batch_size"), "values", None) or []
    below = [b for b in choices if b < limit]
    return {**values, "batch_size": max(below)} if below else values


def avoid_out_of_memory(oracle, resample=True):
    """Wrap `oracle.populate_space` (this instance) as the module says."""
    original = oracle.populate_space

    def populate_space(trial_id):
        limits = batch_limits(oracle.trials.values())
        result = original(trial_id)
        for _ in range(RESAMPLES if resample else 0):
            values = result.get("values")
            if values is None or not _over(values, limits):
                return result
            result = original(trial_id)
        values = result.get("values")
        if values is not None and _over(values, limits):
            result = {**result, "values": _clamp(oracle, values, limits)}
        return result

    oracle.populate_space = populate_space
    return oracle
