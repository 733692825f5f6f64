"""The family's recipe applied to one run: resolution, the protocol and the kept epoch.

`resolve_run(config, data)` turns a `TrainConfig` whose fields may say
`"auto"` (batch size, epochs) or None (lr, optimizer, clip, selection,
early_stopping, schedule: "use the recipe") into concrete values with their
provenance (`kzoo.zoo._resolve.resolve`), applies the tiny-training-set
protocol to the data, and returns the settings the rest of the run uses.
`kzoo train --resume` resolves again from the same data and checks that the
values match the ones `config.json` recorded, so a resumed run trains exactly
as the interrupted one did.
"""

import dataclasses

import numpy as np

from kzoo.callbacks._accumulate import set_accumulation
from kzoo.callbacks.precise_bn import subset_size
from kzoo.datasets import npy_rows
from kzoo.runtime.errors import RunDirError, UsageError
from kzoo.zoo import _resolve, get_spec

PRECISE_BN = "Wu & Johnson 2021, Rethinking 'Batch' in BatchNorm (precise BN)"


@dataclasses.dataclass
class RunPlan:
    """What a run trains with.

    Attributes:
        config: the `TrainConfig` with every field concrete (the run's own copy).
        data: the `PreparedData`, with train and val merged under `whole_train`.
        resolved: the `Resolved` values and their sources (config.json's `resolved`).
        recipe_schedule: the recipe's LR schedule applies (ReduceLROnPlateau on loss),
            instead of one the user chose with `--schedule`.
    """

    config: object
    data: object
    resolved: object
    recipe_schedule: bool


def _overrides(config):
    overrides = {"lr": None if config.lr in (None, "auto") else config.lr,
                 "optimizer": config.optimizer, "selection": config.selection,
                 "patience": config.early_stopping, "schedule": config.schedule}
    hp = config.hparams
    if hp.get("norm") == "batch" or hp.get("batchnorm") is True:
        overrides["batchnorm"] = True
    return overrides


def resolve_run(config, data, devices=1):
    """Resolve `config` against its family's recipe and the size of `data`.

    `devices` is the resolved device count (`kzoo.runtime.devices.resolve`): recorded
    with the value asked, and an `"auto"` batch size (the global batch) is
    rounded up to a multiple of it, so no full batch needs padding.
    """
    spec = get_spec(config.model)
    recipe = spec.recipe
    arrays = isinstance(data.train, tuple)
    val_arrays = isinstance(data.val, tuple)
    if arrays:
        n_train = len(data.train[0])
        n_val = len(data.val[0]) if val_arrays else 0
    else:
        # A stream's size is unknown: keep its own batches and its validation split.
        n_train, n_val = max(recipe.tiny_threshold, 1), 1 if data.val is not None else 0
    res = _resolve.resolve(
        recipe, n_train=n_train, n_val=n_val,
        batch_size="auto" if config.batch_size == "max" else config.batch_size,  # the start
        epochs=config.epochs, head_fit=_head_fit_rule(spec, config, data, arrays),
        **_overrides(config),
    )
    values, put = res.values, _putter(res)
    if config.lr == "auto":
        put("lr", "auto", "user", "the LR finder's valley (lr_find.json)")
    if config.clip is not None:
        put("clipnorm", None, "user",
            "--clip none: no clipping" if config.clip == "none"
            else f"--clip {config.clip} replaces the recipe's global-norm clipping")
    if not arrays:
        put("batch_size", None, "data rule", "a stream makes its own batches")
        put("n_fit", None, "data rule", "a stream's size is unknown")
        put("protocol", "holdout" if data.val is not None else "whole_train", "data rule",
            "a stream cannot be merged with its validation split")

    asked = "all" if config.devices == "all" else f"{config.devices}"
    put("devices", devices, "user" if config.devices != 1 else "default",
        f"devices={asked}" + (": data-parallel, batch_size is the global batch"
                              if devices > 1 else ""))
    if devices > 1 and config.batch_size == "auto" and values["batch_size"]:
        rounded = -(-values["batch_size"] // devices) * devices
        if rounded != values["batch_size"]:
            put("batch_size", rounded, res.sources["batch_size"],
                f"{res.notes.get('batch_size', '')}; rounded up to a multiple of the "
                f"{devices} devices".lstrip("; "))

    _put_precise_bn(put, config, arrays, devices, values.get("n_fit"))

    if values["protocol"] == "whole_train" and arrays and val_arrays:
        x = npy_rows.concat(data.train[0], data.val[0])  # arrays, or streamed rows
        y = np.concatenate([data.train[1], data.val[1]])
        data = dataclasses.replace(data, train=(x, y), val=None)
    recipe_schedule = config.schedule is None
    run_config = dataclasses.replace(
        config,
        epochs=values["epochs"],
        batch_size=values["batch_size"] or 32,
        lr=values["lr"],
        optimizer=values["optimizer"],
        selection=values["selection"],
        early_stopping=values["patience"],
        schedule="constant" if recipe_schedule else values["schedule"],
        clip=config.clip or "none",
        devices=devices,
    )
    return RunPlan(run_config, data, res, recipe_schedule)


def _head_fit_rule(spec, config, data, arrays):
    """`n_fit -> "ridge" | "logistic"`: the family's closed-form head rule for this run
    (None: the family has none). A stream cannot be solved on in memory."""
    if spec.head_fit is None:
        return None
    hparams = {**spec.defaults, **config.hparams}
    if not arrays:
        if spec.head_fit(hparams, None, data.task) == "ridge":
            raise UsageError(
                f"{config.model}: head_fit='ridge' is solved on the whole training set in "
                "memory, which a stream does not give; pass arrays or head_fit='logistic'.")
        return lambda n: "logistic"
    return lambda n: spec.head_fit(hparams, n, data.task)


def _put_precise_bn(put, config, arrays, devices, n_fit):
    """config.json's `precise_bn`: whether BatchNorm statistics are recomputed before
    each validation and the test (`kzoo.callbacks.precise_bn`), and why not."""
    if not config.precise_bn:
        put("precise_bn", False, "user", "--no-precise-bn: Keras' moving averages")
    elif not arrays:
        put("precise_bn", False, "data rule",
            "a stream: its examples cannot be revisited for the statistics")
    elif devices > 1:
        put("precise_bn", False, "data rule",
            "not on several devices (the statistics pass runs on one)")
    else:
        put("precise_bn", True, "default",
            f"BatchNorm statistics recomputed from the current weights over "
            f"{subset_size(n_fit) if n_fit else 'a fifth of the'} training examples before each "
            f"validation and the test ({PRECISE_BN}); nothing without BatchNorm")


def _putter(res):
    def put(name, value, source, note=""):
        res.values[name], res.sources[name], res.notes[name] = value, source, note
    return put


def make_optimizer(plan):
    """The run's optimizer (keras): recipe name, rate, global-norm clipping and
    gradient accumulation (`accumulate`)."""
    values = dict(plan.resolved.values)
    values["lr"] = 1e-3 if values["lr"] == "auto" else values["lr"]
    return set_accumulation(_resolve.make_optimizer(values), plan.config.accumulate)


def make_callbacks(plan):
    """The recipe's schedule (unless the user chose one) and the selection callback."""
    values = dict(plan.resolved.values)
    if not plan.recipe_schedule:
        values["schedule"] = "constant"  # kzoo.training.learning_rate builds the user's
    return _resolve.make_callbacks(values)


def check_resume(plan, stored, ignore=()):
    """Raise unless the values resolved now are those `config.json` recorded
    (except the names in `ignore`)."""
    if not stored:
        return
    # Runs recorded before the devices setting trained on one device.
    stored = {"devices": {"value": 1}, **stored}
    # Runs recorded before precise_bn: it changes no weight (the statistics pass
    # uses no randomness and training normalises with batch statistics), only the
    # moving statistics the validations read, so the run resumes with it.
    stored.setdefault("precise_bn", plan.resolved.to_json().get("precise_bn"))
    now = plan.resolved.to_json()
    changed = [k for k in sorted((set(now) | set(stored)) - set(ignore))
               if (now.get(k) or {}).get("value") != (stored.get(k) or {}).get("value")]
    if changed:
        details = ", ".join(
            f"{k}: {(stored.get(k) or {}).get('value')!r} then, "
            f"{(now.get(k) or {}).get('value')!r} now" for k in changed)
        raise RunDirError(
            f"Cannot resume exactly: the recipe resolves differently than when the run "
            f"started ({details}). Start a new run, or train with these values given "
            "explicitly."
        )


def selection_summary(plan, history, guard=None):
    """`selected_epoch` and `selection` for summary.json: which epoch's weights the
    run kept, and how it chose them. `guard` (`kzoo.training.bn_settle`): the
    first epoch whose BatchNorm statistics had settled; earlier epochs are not
    candidates, and `selection["settle_guard"]` says whether that changed the pick."""
    values = plan.resolved.values
    rule = values["selection"]
    losses = history.get(rule) if rule != "last" else None
    finite = [v if v is not None and np.isfinite(v) else np.inf for v in (losses or [])]
    start = guard["from_epoch"] - 1 if guard and guard["applies"] else 0
    if finite[start:] and np.isfinite(min(finite[start:])):
        epoch = int(np.argmin(finite[start:])) + start + 1
        span = (f"{len(finite)} epochs" if not start else
                f"epochs {start + 1}-{len(finite)}, those with settled BatchNorm statistics")
        how = f"the lowest {rule} ({min(finite[start:]):.4g}) over {span}"
    else:
        epoch = len(history.get("loss", []))
        how = ("the last epoch" if rule == "last" else
               "the last epoch (the run stopped before BatchNorm's statistics settled)"
               if finite and start >= len(finite) else f"the last epoch (no finite {rule})")
    selection = {"rule": rule, "protocol": values["protocol"], "how": how,
                 "source": plan.resolved.sources["selection"],
                 "note": plan.resolved.notes.get("selection", "")}
    if guard:
        plain = (int(np.argmin(finite)) + 1 if finite and np.isfinite(min(finite))
                 else epoch)
        selection["settle_guard"] = {
            **guard, "unguarded_epoch": plain, "acted": plain != epoch,
            "why": f"precise BN off: momentum {guard['momentum']:g} keeps <= "
                   f"{guard['residual']:.0%} of the initial statistics after "
                   f"{guard['steps_needed']} steps ({guard['steps_per_epoch']} per epoch), "
                   + (f"so selection and early stopping read epochs from "
                      f"{guard['from_epoch']} on" if guard["applies"] else
                      f"epoch {guard['from_epoch']}, past the budget: no epoch settles, "
                      f"selection as usual, every validation read lagging statistics "
                      f"(precise BN, the default, or more steps per epoch cure it)")}
    return epoch, selection
