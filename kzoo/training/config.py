"""What a run is told and what it returns: `TrainConfig`, `RunResult`, the
choices of each option, and `validate_config`.

Keras-free: `kzoo.cli` builds its parser from this module (defaults from
`TrainConfig`, choices from the tuples below) before `--backend` is applied.
"""

import dataclasses
import math
import pathlib

from kzoo.runtime.devices import check_devices_value
from kzoo.runtime.errors import UsageError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# The names of kzoo.schedules.factory.SCHEDULES, and of the gradient callbacks'
# modes plus "none"/"off", spelled out here so the CLI imports no keras;
# tests/kzoo/training/test_config.py checks they agree with the callbacks.
SCHEDULES = ("constant", "cosine", "linear", "exponential", "step", "onecycle",
             "cosine_restarts", "plateau")
LR_SCALINGS = ("none", "linear", "sqrt")
CLIP_CHOICES = ("none", "value", "norm", "global_norm", "agc", "autoclip")
HEALTH_CHOICES = ("off", "warn", "stop", "rollback")
COMPILE_CHOICES = ("auto", "on", "off")  # kzoo/training/compile_policy.py decides "auto"
# How a run picks the weights it keeps (kzoo.zoo._defaults.SELECTIONS, keras-free here).
SELECTIONS = ("val_loss", "loss", "last")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; `config.json` holds it as written here.

    Attributes:
        model: a registered model name (`kzoo.zoo.list()`).
        data: a dataset spec (`kzoo.datasets.list_datasets()`) or a path to an
            `.npz` holding `x_train`, `y_train` and optionally `x_val`, `y_val`,
            `x_test`, `y_test`.
        epochs: maximum epochs, or `"auto"`: the family recipe's budget (grown
            when BatchNorm needs more steps).
        batch_size: examples per step, or `"auto"`: min(n/10, the recipe's cap),
            shrunk when BatchNorm needs more steps (`kzoo.zoo._defaults`), and
            rounded up to a multiple of `devices`. On several devices it is the
            global batch: each step splits it over the devices. `"max"`: the
            largest batch that fits the device (`kzoo.training.batch_size`).
        accumulate: micro-batches per optimizer step (gradient accumulation; 1:
            none). An optimizer step sees `batch_size * accumulate` examples
            (global batch = per-device micro-batch x accumulate x devices); the
            LR schedule, `--lr-scaling` and the gradient callbacks count optimizer
            steps and see the accumulated gradient (`kzoo.callbacks._accumulate`).
        lr: base learning rate, `"auto"` (the LR finder's valley suggestion),
            or None: the family recipe's.
        optimizer: a Keras optimizer name (None: the recipe's).
        backend: the Keras backend the run used.
        out: run directory (None: write nothing).
        seed: seeds data splits, initialisation and dropout.
        hparams: the model family's hyperparameters.
        early_stopping: patience in epochs on the selection quantity; 0 never
            stops early (the selected epoch is still restored); None: the recipe's.
        selection: the weights the run keeps: `"val_loss"`, `"loss"` or
            `"last"` (None: the recipe's; tiny training sets select by `loss`).
        precision: Keras dtype policy: float32, mixed_float16 or mixed_bfloat16.
        overwrite: replace an existing run in `out`.
        verbose: Keras verbosity (1 = progress bar).
        grad_log_every: log gradient norms every N steps to logs and
            `grad_norms.csv` (0: off).
        clip: gradient clipping: none, value, norm, global_norm, agc, autoclip
            (None: the recipe's global-norm clipping of the optimizer, if any).
        clip_value: threshold of value/norm/global_norm, AGC's lambda
            (None: 1.0, AGC 0.01).
        clip_percentile: AutoClip's percentile (default 10; autoclip only).
        grad_health: vanishing/exploding diagnosis: off, warn, stop, rollback.
        schedule: LR schedule (`SCHEDULES`; None: the recipe's, constant or
            ReduceLROnPlateau on the training loss).
        warmup_epochs, warmup_steps: linear LR warmup length (one of the two).
        lr_scaling: scale lr with batch_size / base_batch_size: none, linear, sqrt
            (batch_size is the global batch, so more devices at the same
            per-device batch scale the rate).
        base_batch_size: the batch size `lr` was tuned for.
        checkpoint_every_epochs, checkpoint_every_steps: full-state checkpoints in
            `out/checkpoints` (0: off); needed by `resume`.
        keep_best: number of best checkpoints kept.
        resume: continue the run in `out` from its latest valid checkpoint.
        compile: compile the train step (`jit_compile`): auto, on, off; auto
            compiles on torch only where benchmarks/torch_compile.py found it pays.
        devices: data-parallel devices, an int >= 1 or `"all"` (`kzoo.runtime.devices`):
            jax `keras.distribution.DataParallel`, tensorflow `MirroredStrategy`;
            torch trains on one.
        precise_bn: before each validation and the test, recompute BatchNorm's
            moving statistics from the current weights over a fixed subset of
            the training data (`kzoo.callbacks.precise_bn`); no effect without
            BatchNorm. False keeps Keras' moving averages; selection and early
            stopping on a validation metric then skip the epochs before they
            settle (`kzoo.training.bn_settle`, summary.json's
            `selection.settle_guard`).
        tensorboard: TensorBoard event files without TensorFlow
            (`kzoo.callbacks.TensorBoardLogger`): None off, True `<out>/tb`, or
            a directory. Needs the `tensorboard` package (`kzoo[tensorboard]`).
        ensemble: train this many members, each a run of its own in
            `out/members/<i>`, and keep the model averaging their probabilities
            (`kzoo.training.ensemble`); None: the recipe's (5 for inception_time
            and lite on small data), 1: one network.
        init_seed: seeds initialisation, dropout and batch order (None: `seed`,
            which then seeds the split too); an ensemble's members get
            `seed + i` here and share the split of `seed`.
    """

    model: str = "gru"
    data: str = "digits-seq"
    epochs: int | str = "auto"
    batch_size: int | str = "auto"
    accumulate: int = 1
    lr: float | str | None = None
    optimizer: str | None = None
    backend: str | None = None
    out: str | None = None
    seed: int = 0
    hparams: dict = dataclasses.field(default_factory=dict)
    early_stopping: int | None = None
    selection: str | None = None
    precision: str = "float32"
    overwrite: bool = False
    verbose: int | str = "auto"
    grad_log_every: int = 0
    clip: str | None = None
    clip_value: float | None = None
    clip_percentile: float | None = None
    grad_health: str = "off"
    schedule: str | None = None
    warmup_epochs: float = 0.0
    warmup_steps: int = 0
    lr_scaling: str = "none"
    base_batch_size: int = 32
    checkpoint_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    keep_best: int = 1
    resume: bool = False
    compile: str = "auto"
    devices: int | str = 1
    precise_bn: bool = True
    tensorboard: bool | str | None = None
    ensemble: int | None = None
    init_seed: int | None = None

    def to_json(self):
        return {k: v for k, v in dataclasses.asdict(self).items()}


def field_names():
    """The names of every `TrainConfig` field, in declaration order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def default(name):
    """The default of `TrainConfig.<name>` (argparse reads its defaults here)."""
    field = {f.name: f for f in dataclasses.fields(TrainConfig)}[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


@dataclasses.dataclass
class RunResult:
    """What `train` returns: the trained model, its history, and the summary."""

    model: object
    history: dict
    summary: dict
    run_dir: pathlib.Path | None


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        return f"{name} must be an int >= {low}, got {value!r}."
    return None


def validate_config(config):
    """Raise UsageError (a ValueError) on any bad setting of a `TrainConfig`, naming the fix.

    Called before data is loaded or anything is written. The gradient
    callbacks' own range checks run when the runner builds them, also before
    anything is written.
    """
    # Deferred: kzoo.zoo imports keras, and this module must stay keras-free for the CLI.
    from kzoo.zoo import check_choice

    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if name == "batch_size" and value == "max":  # kzoo.training.batch_size
            continue
        if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{name} must be a positive integer or 'auto', got {value!r}.")
    if config.lr not in (None, "auto") and (
        isinstance(config.lr, bool) or not isinstance(config.lr, (int, float))
        or not 0 < config.lr <= 10
    ):
        raise UsageError(f"lr must be a number in (0, 10], 'auto' or None, got {config.lr!r}.")
    if config.selection is not None:
        check_choice("selection", config.selection, SELECTIONS)
    if config.early_stopping is not None and (
        not isinstance(config.early_stopping, int) or config.early_stopping < 0
    ):
        raise UsageError(
            f"early_stopping is a patience in epochs >= 0, got {config.early_stopping!r}."
        )
    check_choice("precision", config.precision, PRECISIONS)
    if not isinstance(config.hparams, dict):
        raise UsageError(f"hparams must be a dict, got {type(config.hparams).__name__}.")
    _validate_gradient_settings(config)
    if config.schedule is not None:
        check_choice("schedule", config.schedule, SCHEDULES)
    check_choice("lr_scaling", config.lr_scaling, LR_SCALINGS)
    check_choice("compile", config.compile, COMPILE_CHOICES)
    check_devices_value(config.devices)
    if not isinstance(config.precise_bn, bool):
        raise UsageError(f"precise_bn must be True or False, got {config.precise_bn!r}.")
    for name in ("warmup_epochs", "clip_value", "clip_percentile"):
        value = getattr(config, name)
        if value is None and name != "warmup_epochs":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0
        ):
            raise UsageError(f"{name} must be a finite number >= 0, got {value!r}.")
    if message := _check_int("warmup_steps", config.warmup_steps, 0):
        raise UsageError(message)
    if config.warmup_epochs and config.warmup_steps:
        raise UsageError("Give warmup_epochs or warmup_steps, not both.")
    longest = config.epochs if isinstance(config.epochs, int) else 10**6  # 'auto': no int yet
    if config.warmup_epochs > longest:  # and a huge one would overflow the step count
        raise UsageError(
            f"warmup_epochs={config.warmup_epochs:g} is longer than the run "
            f"({'epochs=' + str(longest) if longest != 10**6 else 'at most 10**6 epochs'}): "
            "the rate would never reach --lr. Give at most the number of epochs."
        )
    if message := _check_int("accumulate", config.accumulate, 1):
        raise UsageError(message + " It is the micro-batches per optimizer step (1: none).")
    if config.accumulate > 1 and config.lr == "auto":
        raise UsageError(
            "--lr auto with --accumulate: the LR finder steps the optimizer every batch. "
            "Find the rate with `kzoo lr-find --batch-size <batch-size x accumulate>` (if it "
            "fits) and pass --lr, or drop --accumulate.")
    if message := _check_int("base_batch_size", config.base_batch_size, 1):
        raise UsageError(message + " It is the batch size --lr was tuned for.")
    if message := _check_int("seed", config.seed, 0) or (
        config.seed > 2**32 - 1 and f"seed must be below 2**32, got {config.seed}."
    ):
        raise UsageError(message)
    for name in ("checkpoint_every_epochs", "checkpoint_every_steps", "keep_best"):
        if message := _check_int(name, getattr(config, name), 0):
            raise UsageError(message)
    if config.resume and not config.out:
        raise UsageError("resume needs the run directory as out.")
    if config.ensemble is not None and (message := _check_int("ensemble", config.ensemble, 1)):
        raise UsageError(message + " It is the number of members (1: one network).")
    if config.init_seed is not None and (
        message := _check_int("init_seed", config.init_seed, 0)
        or (config.init_seed > 2**32 - 1 and f"init_seed must be below 2**32, got "
            f"{config.init_seed}.")
    ):
        raise UsageError(message)


def _validate_gradient_settings(config):
    if config.clip is not None and config.clip not in CLIP_CHOICES:
        raise UsageError(f"clip must be one of {CLIP_CHOICES}, got {config.clip!r}.")
    if config.grad_health not in HEALTH_CHOICES:
        raise UsageError(
            f"grad_health must be one of {HEALTH_CHOICES}, got {config.grad_health!r}."
        )
    if _check_int("grad_log_every", config.grad_log_every, 0):
        raise UsageError(
            f"grad_log_every must be an int >= 0 (0: off), got {config.grad_log_every!r}."
        )
    if config.clip == "autoclip" and config.clip_value is not None:
        raise UsageError(
            "clip_value does not apply to autoclip: its threshold is the clip_percentile-th "
            "percentile of the recent global norms. Drop --clip-value, or set "
            "--clip-percentile instead."
        )
    if config.clip != "autoclip" and config.clip_percentile is not None:
        raise UsageError(
            f"clip_percentile is set but clip is {config.clip!r}; it applies to autoclip only "
            "(pass --clip autoclip, or drop --clip-percentile)."
        )
    if config.clip in (None, "none") and config.clip_value is not None:
        raise UsageError("clip_value is set but clip is 'none'; pass --clip MODE as well.")
