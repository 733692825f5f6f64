"""What `train()` checks and resolves before it builds the model or writes anything:
the data prepared and fitted to the family, then the settings resolved (the series
rule, masking, the recipe) and, for a resume, checked against what the run recorded.
Everything that can fail on bad input fails here.
"""

from kzoo import rundir as layout
from kzoo import zoo
from kzoo.runtime.errors import UsageError
from kzoo.training import batch_size as max_batch
from kzoo.training import series_rule
from kzoo.training.fit import check_checkpoints, exactness_config
from kzoo.training.inputs import prepare_data
from kzoo.training.recipe import check_resume, resolve_run

NO_TEST_NOTE = (
    "{name} has no test split: kzoo reports validation metrics only (no test_* in "
    "summary.json). Add x_test/y_test to the .npz, or pass test= (a fraction or a pair) "
    "to kzoo.datasets.load / from_arrays, for a test score."
)


def prepare_checked(config, data, devices, *, val_data, test_data, num_classes, task):
    """The family, its hparams and the data checked; returns the `PreparedData`."""
    zoo.get_spec(config.model)
    zoo.check_hparams(config.model, config.hparams)
    prepared = prepare_data(
        data,
        seed=config.seed,
        val_data=val_data,
        test_data=test_data,
        num_classes=num_classes,
        task=task,
    )
    zoo.check_model_fits_data(config.model, prepared)
    max_batch.check_max_batch(config, prepared, devices)
    if devices > 1 and not isinstance(prepared.train, tuple):
        raise UsageError(
            f"devices={config.devices} needs array data (x, y): kzoo pads each batch to a "
            f"multiple of the device count, which a {type(data).__name__} stream batches "
            "itself. Pass arrays, or train on one device."
        )
    if prepared.test is None and config.verbose != 0:
        print(NO_TEST_NOTE.format(name=prepared.name), flush=True)
    if prepared.info.get("task_note") and config.verbose != 0:  # an inferred regression
        print(prepared.info["task_note"], flush=True)
    if config.checkpoint_every_steps and not isinstance(prepared.train, tuple):
        raise UsageError(
            "checkpoint_every_steps needs array data (x, y): mid-epoch resume replays the "
            f"batch order, which a {type(data).__name__} stream owns. Pass arrays, or drop "
            "checkpoint_every_steps (streams train without checkpoints)."
        )
    return prepared


def plan_checked(config, prepared, devices, run_dir, resumed):
    """The resolved run (`resolve_run`'s plan) and what its checkpoints record.

    The series rule and masking set `config.hparams` (recorded in config.json, so
    the run repeats without them). A resumed run (`resumed`: it has a checkpoint)
    is checked against its recorded settings. Returns `(plan, exact, search_batch)`:
    `exact` is what the checkpoints record, `search_batch` whether `--batch-size max`
    is still to be searched.
    """
    stored = {}
    if resumed:
        stored = layout.read_json_object(run_dir / layout.CONFIG_FILE).get("resolved") or {}
        if "series_norm" not in stored and zoo.get_spec(config.model).kind == "sequence":
            # recorded before the rule (or a stream): prepared as it was then
            config.hparams = {"series_norm": False, "resample_to": 0, **config.hparams}
    config.hparams, series = series_rule.choose(config.model, config.hparams, prepared)
    info = dict(prepared.info or {})
    if series_rule.resampled(config.hparams):
        info["equal_length"] = True  # no padding reaches the family
    config.hparams, note = zoo.auto_masking(config.model, config.hparams, info)
    for line in (series_rule.notes(series), note):
        if line and config.verbose != 0:
            print(line, flush=True)
    # The recipe and the data rules fill every unset field; `config` stays as given
    # (config.json), `plan.config` holds the concrete values.
    plan = resolve_run(config, prepared, devices)
    series_rule.record_into(plan.resolved, series)
    search_batch = config.batch_size == "max" and not max_batch.adopt_recorded(config, plan, stored)
    # What the checkpoints record, before `--lr auto` sets the rate it finds.
    exact = exactness_config(plan.config)
    if resumed:
        check_checkpoints(run_dir, exact)  # readable, and written under these settings
        # `resume` validated an extended epoch budget; every other value must match.
        check_resume(plan, stored, ignore=("epochs", *(k for k in series if k not in stored)))
    return plan, exact, search_batch


def check_device_settings(run, plan):
    """Refuse, before anything is written, what a TensorFlow strategy of several
    replicas would get wrong: the gradient callbacks (kzoo's hook would run on
    each replica's gradient before the all-reduce, so norms, thresholds and
    diagnoses would not be the global ones; the recipe's own clipping is made
    global, `clip_global_gradient`), and `--lr auto` (the finder sweeps
    unpadded batches, which the strategy splits unevenly)."""
    if run.devices == 1 or run.backend != "tensorflow":
        return
    if run.lr == "auto":
        raise UsageError(
            f"--lr auto with devices={run.devices} on tensorflow: the LR finder's batches "
            "are not padded for the replicas. Find the rate on one device (kzoo lr-find) "
            "and pass --lr, or use --backend jax."
        )
    used = [flag for flag, on in (
        (f"--grad-log-every {run.grad_log_every}", run.grad_log_every),
        (f"--clip {run.clip}", run.clip != "none"),
        (f"--grad-health {run.grad_health}", run.grad_health != "off"),
    ) if on]
    if used:
        raise UsageError(
            f"{', '.join(used)} with devices={run.devices} on tensorflow: under "
            "MirroredStrategy each replica sees only its own gradient (before the "
            "all-reduce), so norms, clipping thresholds and diagnoses would not be the "
            "global ones. Train with --backend jax (its gradient callbacks see the global "
            "gradient), on one device, or without them."
        )
