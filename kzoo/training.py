"""The training runner behind `kzoo train` and `kzoo.train(...)`.

A run validates its inputs before anything is trained or written, builds a zoo
model for the data, fits it with a progress bar, and writes a run directory:

    config.json               every setting, so the run can be repeated
    history.csv               one row per epoch (Keras CSVLogger)
    summary.json              model, backend, params, epochs, final metrics, test scores, time
    model.keras               the final model (loads with safe_mode=True)
    plots/learning_curves.png loss and accuracy, train against val
"""

import dataclasses
import json
import math
import pathlib
import shutil
import time

import numpy as np

RUN_MARKER = "config.json"
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; `config.json` holds it as written here.

    Attributes:
        model: a registered model name (`kzoo.zoo.list()`).
        data: a dataset spec (`kzoo.datasets.list_datasets()`) or a path to an
            `.npz` holding `x_train`, `y_train` and optionally `x_val`, `y_val`,
            `x_test`, `y_test`.
        epochs: maximum epochs.
        batch_size: examples per step.
        lr: base learning rate.
        optimizer: a Keras optimizer name.
        backend: the Keras backend the run used.
        out: run directory (None: write nothing).
        seed: seeds data splits, initialisation and dropout.
        hparams: the model family's hyperparameters.
        early_stopping: patience in epochs on `val_loss`; 0 disables it.
        precision: Keras dtype policy: float32, mixed_float16 or mixed_bfloat16.
        overwrite: replace an existing run in `out`.
        verbose: Keras verbosity (1 = progress bar).
        grad_log_every: log gradient norms every N steps to logs and
            `grad_norms.csv` (0: off).
        clip: gradient clipping: none, value, norm, global_norm, agc, autoclip.
        clip_value: threshold of value/norm/global_norm, AGC's lambda
            (None: 1.0, AGC 0.01).
        clip_percentile: AutoClip's percentile (default 10; autoclip only).
        grad_health: vanishing/exploding diagnosis: off, warn, stop, rollback.
        schedule: LR schedule (kzoo.callbacks.schedule_factory.SCHEDULES).
        warmup_epochs, warmup_steps: linear LR warmup length (one of the two).
        lr_scaling: scale lr with batch_size / base_batch_size: none, linear, sqrt.
        base_batch_size: the batch size `lr` was tuned for.
        checkpoint_every_epochs, checkpoint_every_steps: full-state checkpoints in
            `out/checkpoints` (0: off); needed by `resume`.
        keep_best: number of best checkpoints kept.
        resume: continue the run in `out` from its latest valid checkpoint.
    """

    model: str = "gru"
    data: str = "digits-seq"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    backend: str | None = None
    out: str | None = None
    seed: int = 0
    hparams: dict = dataclasses.field(default_factory=dict)
    early_stopping: int = 0
    precision: str = "float32"
    overwrite: bool = False
    verbose: int | str = "auto"
    grad_log_every: int = 0
    clip: str = "none"
    clip_value: float | None = None
    clip_percentile: float | None = None
    grad_health: str = "off"
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    warmup_steps: int = 0
    lr_scaling: str = "none"
    base_batch_size: int = 32
    checkpoint_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    keep_best: int = 1
    resume: bool = False

    def to_json(self):
        return {k: v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class RunResult:
    """What `train` returns: the trained model, its history, and the summary."""

    model: object
    history: dict
    summary: dict
    run_dir: pathlib.Path | None


# --------------------------------------------------------------------------- data


@dataclasses.dataclass
class _Data:
    """Training inputs in the form `model.fit` takes, plus what the model needs."""

    train: object  # (x, y) tuple or an iterable dataset
    val: object | None
    test: object | None
    input_shape: tuple
    num_classes: int
    task: str
    kind: str
    name: str
    info: dict = dataclasses.field(default_factory=dict)  # Dataset.info (padding, ...)


def _is_iterable_dataset(obj):
    """tf.data.Dataset, keras.utils.PyDataset or torch DataLoader (duck-typed, no imports)."""
    mod = type(obj).__module__
    import keras

    return (
        isinstance(obj, keras.utils.PyDataset)
        or mod.startswith("tensorflow")
        or mod.startswith("torch.utils.data")
    )


def _first_batch(dataset):
    import keras

    if isinstance(dataset, keras.utils.PyDataset):
        if len(dataset) == 0:
            raise ValueError("The PyDataset is empty (len() == 0): give it at least one batch.")
        batch = dataset[0]
    else:
        try:
            batch = next(iter(dataset))
        except StopIteration:
            raise ValueError("The dataset yields no batch: it is empty.") from None
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(
            "Each batch must be a tuple (x, y); got "
            f"{type(batch).__name__}. Map the dataset to (features, labels) pairs."
        )
    return tuple(np.asarray(b) for b in batch[:2])


def _infer_task(y, num_classes=None):
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.equal(np.mod(y, 1), 0)):
        return "regression", 1 if y.ndim == 1 else y.shape[-1]
    if y.ndim == 2 and y.shape[1] > 1:
        return "multilabel", y.shape[1]
    n = num_classes or int(np.max(y)) + 1
    return ("binary", 2) if n <= 2 else ("multiclass", n)


def prepare_data(data, *, seed=0, val_data=None, test_data=None, num_classes=None, task=None):
    """Turn any supported input into `_Data`.

    Accepts a dataset spec string, a `kzoo.datasets.Dataset`, a path to an
    `.npz`, a tuple `(x, y)` of arrays, or an iterable dataset
    (`tf.data.Dataset`, `keras.utils.PyDataset`, torch `DataLoader`) yielding
    `(x, y)` batches. Arrays without a validation split get a deterministic 20 %
    carved off.
    """
    from kzoo import datasets

    if isinstance(data, (str, pathlib.Path)) and str(data).endswith(".npz"):
        data = _load_npz(data)
    if isinstance(data, str):
        data = datasets.load(data, seed=seed)
    if isinstance(data, datasets.Dataset):
        for part in ("train", "val", "test"):
            _check_arrays(
                getattr(data, f"x_{part}"),
                getattr(data, f"y_{part}"),
                data.task,
                data.num_classes,
                part,
            )
        return _Data(
            (data.x_train, data.y_train),
            (data.x_val, data.y_val),
            (data.x_test, data.y_test),
            data.input_shape,
            data.num_classes,
            data.task,
            data.kind,
            data.name,
            dict(data.info or {}),
        )
    if isinstance(data, (tuple, list)) and len(data) == 2 and not _is_iterable_dataset(data[0]):
        x, y = (np.asarray(a) for a in data)
        if len(x) == 0:
            raise ValueError("The training data is empty: x has 0 examples.")
        inferred_task, inferred_n = _infer_task(y, num_classes)
        task = task or inferred_task
        num_classes = num_classes or inferred_n
        x = x.astype("float32")
        y = y.astype("float32" if task in ("regression", "multilabel") else "int32")
        _check_arrays(x, y, task, num_classes, "train")
        if val_data is None:
            idx = np.random.default_rng(seed).permutation(len(x))
            n_val = max(1, len(x) // 5) if len(x) >= 5 else 0
            if n_val:
                val_data = (x[idx[:n_val]], y[idx[:n_val]])
                x, y = x[idx[n_val:]], y[idx[n_val:]]
        for part, pair in (("val", val_data), ("test", test_data)):
            if pair is not None:
                _check_arrays(np.asarray(pair[0]), np.asarray(pair[1]), task, num_classes, part)
        kind = "sequence" if x.ndim == 3 else "tabular"
        return _Data((x, y), val_data, test_data, x.shape[1:], num_classes, task, kind, "arrays")
    if _is_iterable_dataset(data):
        xb, yb = _first_batch(data)
        if not np.all(np.isfinite(xb.astype("float64"))):
            raise ValueError("The first batch holds NaN or inf features: clean or impute them.")
        inferred_task, inferred_n = _infer_task(yb, num_classes)
        task = task or inferred_task
        if num_classes is None and task in ("multiclass", "binary"):
            raise ValueError(
                "With a streaming dataset kzoo cannot see every label: pass num_classes= "
                "(and task= if not multiclass)."
            )
        num_classes = num_classes or inferred_n
        kind = "sequence" if xb.ndim == 3 else "tabular"
        return _Data(
            data, val_data, test_data, xb.shape[1:], num_classes, task, kind, type(data).__name__
        )
    raise ValueError(
        f"Unsupported data of type {type(data).__name__}. Pass a dataset name, an .npz path, "
        "a (x, y) tuple of arrays, a tf.data.Dataset, a keras.utils.PyDataset or a torch "
        "DataLoader."
    )


def _load_npz(path):
    from kzoo.datasets import Dataset

    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"Data file {path} does not exist.")
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise ValueError(f"{path} lacks {key!r}; it needs x_train and y_train arrays.")
    x, y = arrays["x_train"].astype("float32"), arrays["y_train"]
    if len(x) == 0:
        raise ValueError(f"{path}: x_train is empty.")
    task, n = _infer_task(y)
    ycast = "float32" if task in ("regression", "multilabel") else "int32"
    rng = np.random.default_rng(0)
    if "x_val" not in arrays:
        idx = rng.permutation(len(x))
        n_val = max(1, len(x) // 5)
        arrays["x_val"], arrays["y_val"] = x[idx[:n_val]], y[idx[:n_val]]
        x, y = x[idx[n_val:]], y[idx[n_val:]]
    x_test = arrays.get("x_test", arrays["x_val"])
    y_test = arrays.get("y_test", arrays["y_val"])
    return Dataset(
        str(path),
        x,
        y.astype(ycast),
        arrays["x_val"].astype("float32"),
        arrays["y_val"].astype(ycast),
        x_test.astype("float32"),
        y_test.astype(ycast),
        task,
        n,
        "sequence" if x.ndim == 3 else "tabular",
    )


def _check_arrays(x, y, task, num_classes, part):
    if len(x) == 0:
        raise ValueError(f"The {part} split is empty: x has 0 examples.")
    if len(x) != len(y):
        raise ValueError(f"{part}: x has {len(x)} examples but y has {len(y)}; they must match.")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(
            f"{part}: the features hold {bad} NaN or inf value(s). Impute or drop them before "
            "training (e.g. np.nan_to_num or sklearn.impute.SimpleImputer)."
        )
    if task in ("multiclass", "binary"):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{part}: class labels must be integers, got non-integer values.")
        lo, hi = int(np.min(y)), int(np.max(y))
        n = 2 if task == "binary" else num_classes
        if lo < 0 or hi >= n:
            raise ValueError(
                f"{part}: labels span [{lo}, {hi}] but the model has {n} classes, so labels "
                f"must lie in [0, {n - 1}]. Map labels to 0..C-1 or raise num_classes."
            )
    elif not np.all(np.isfinite(y)):
        raise ValueError(f"{part}: the targets hold NaN or inf values.")


def check_model_fits_data(model_name, data):
    """Shapes that cannot match the model's kind raise before any model is built."""
    from kzoo import zoo

    spec = zoo.get_spec(model_name)
    if spec.kind == "sequence" and len(data.input_shape) != 2:
        raise ValueError(
            f"Model {model_name!r} takes sequences (batch, timesteps, features), but {data.name} "
            f"has examples shaped {tuple(data.input_shape)}. Use sequence data (e.g. digits-seq) "
            f"or a tabular model ({', '.join(zoo.list('tabular'))})."
        )


def auto_masking(model_name, hparams, info):
    """Turn masking on for padded (unequal-length) data when the family can mask.

    Data is padded when `info["equal_length"]` is False (`Dataset.info` of
    `ucr:` datasets). Then, if the family's builder takes `masking` and
    `hparams` does not set it, `masking=True` is added, with
    `mask_value=info["mask_value"]` and `dimension_shuffle=False` (LSTM-FCN's
    transposed LSTM cannot mask) where the builder takes them and `hparams`
    leaves them unset. Masking set by the caller is kept: an explicit
    `masking=False` (or `dimension_shuffle=True`) on padded data only warns.

    Args:
        model_name: a registered model name.
        hparams: the hyperparameters (or tuner overrides) given by the caller.
        info: the data's `info` dict; equal length when the key is missing.

    Returns:
        `(hparams, note)`: a new dict, and a line saying what was set (`None`
        when nothing was).

    Example:

    >>> auto_masking("tcn", {}, {"equal_length": False, "mask_value": 0.0})[0]
    {'masking': True, 'mask_value': 0.0}
    """
    import warnings

    from kzoo import zoo

    hparams = dict(hparams)
    defaults = zoo.get_spec(model_name).defaults
    if (info or {}).get("equal_length", True) or "masking" not in defaults:
        return hparams, None
    if "masking" in hparams or hparams.get("dimension_shuffle") is True:
        if hparams.get("masking") is not True:
            given = ("masking", "dimension_shuffle")
            given = ", ".join(f"{k}={hparams[k]!r}" for k in given if k in hparams)
            warnings.warn(
                f"{model_name}: the data is padded to equal length, but masking is off "
                f"({given}), "
                "so padded steps count as data. Leave masking unset (or masking=True, "
                "dimension_shuffle=False) to skip them.",
                stacklevel=3,
            )
        return hparams, None
    added = {"masking": True}
    if "mask_value" in defaults and "mask_value" not in hparams:
        added["mask_value"] = float(info.get("mask_value", defaults["mask_value"]))
    if "dimension_shuffle" in defaults and "dimension_shuffle" not in hparams:
        added["dimension_shuffle"] = False
    hparams.update(added)
    shown = ", ".join(f"{k}={v!r}" for k, v in added.items())
    note = (
        f"kzoo: the data holds unequal-length series padded to equal length; {model_name} "
        f"skips the padding: {shown} (pass masking=False to keep padded steps)."
    )
    return hparams, note


# --------------------------------------------------------------------------- run dir


def prepare_run_dir(out, overwrite):
    """Validate `out` without touching it; returns the path (or None)."""
    if out is None:
        return None
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is a file; choose a directory.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / RUN_MARKER).exists():
            raise ValueError(
                f"--out {out} is a non-empty directory that is not a kzoo run; "
                "refusing to write into it. Choose a new or empty directory."
            )
        if not overwrite:
            raise ValueError(
                f"--out {out} already holds a run. Choose another directory, or pass "
                "--overwrite (overwrite=True) to replace it."
            )
    return out


def _clear_run_dir(out):
    if out.is_dir() and (out / RUN_MARKER).exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, pathlib.Path):
        return str(obj)
    return repr(obj)


def write_json(path, payload):
    """Write JSON atomically (temporary file + rename), NaN written as null."""
    path = pathlib.Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    tmp.write_text(json.dumps(clean(payload), indent=2, default=_json_default) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------- train


def build_callbacks(config, run_dir, data):
    """Keras callbacks for a run: CSV history, early stopping, and kzoo's own."""
    import keras

    # Gradient callbacks first: their epoch values must reach CSVLogger's logs.
    callbacks = _gradient_callbacks(config, run_dir)
    if run_dir is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv")))
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if data.val is not None else "loss",
                patience=config.early_stopping,
                restore_best_weights=True,
            )
        )
    return callbacks


def train(
    model="gru",
    data="digits-seq",
    *,
    callbacks=None,
    val_data=None,
    test_data=None,
    num_classes=None,
    task=None,
    **settings,
):
    """Train a zoo model and (optionally) write a run directory.

    Args:
        model: a registered model name. Defaults to `"gru"`.
        data: a dataset spec, a `kzoo.datasets.Dataset`, an `.npz` path, a
            `(x, y)` tuple, or a `tf.data.Dataset` / `keras.utils.PyDataset` /
            torch `DataLoader` yielding `(x, y)` batches. Defaults to `"digits-seq"`.
        callbacks: extra Keras callbacks, appended after kzoo's.
        val_data, test_data: optional `(x, y)` or iterable datasets for arrays
            and streams.
        num_classes, task: needed for streaming datasets, inferred otherwise.
        **settings: any field of `TrainConfig` (epochs, batch_size, lr, out, seed,
            hparams, early_stopping, precision, overwrite, verbose, ...).

    Returns:
        A `RunResult` with the trained model, its history and the summary.

    Example:

    >>> result = kzoo.train("gru", "digits-seq", epochs=10, out="runs/gru")
    >>> result.summary["test_accuracy"]
    """
    import keras

    from kzoo import zoo

    unknown = set(settings) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(
            f"Unknown setting(s) {', '.join(sorted(unknown))}. Valid: "
            f"{', '.join(f.name for f in dataclasses.fields(TrainConfig))}."
        )
    config = TrainConfig(
        model=model, data=data if isinstance(data, str) else type(data).__name__, **settings
    )
    config.backend = keras.backend.backend()
    _validate_config(config)

    # Everything that can fail on bad input fails here, before training or writing.
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
    check_model_fits_data(config.model, prepared)
    if config.checkpoint_every_steps and not isinstance(prepared.train, tuple):
        raise ValueError(
            "checkpoint_every_steps needs array data (x, y): mid-epoch resume replays the "
            f"batch order, which a {type(data).__name__} stream owns. Pass arrays, or drop "
            "checkpoint_every_steps (streams train without checkpoints)."
        )
    # Recorded in config.hparams (config.json), so the run repeats without it.
    config.hparams, note = auto_masking(config.model, config.hparams, prepared.info)
    if note and config.verbose != 0:
        print(note, flush=True)
    run_dir = prepare_run_dir(config.out, config.overwrite or config.resume)

    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        net = zoo.create(
            config.model,
            input_shape=prepared.input_shape,
            num_classes=prepared.num_classes,
            head=prepared.task,
            optimizer=config.optimizer,
            learning_rate=1e-3 if config.lr == "auto" else config.lr,
            **config.hparams,
        )
    finally:
        keras.config.set_dtype_policy(previous_policy)

    if run_dir is not None and not config.resume:
        _clear_run_dir(run_dir)
        write_json(run_dir / "config.json", config.to_json())
    from kzoo.resume import fit_run, setup_lr

    # LR callbacks first: the `lr` they put in the epoch logs reaches CSVLogger.
    lr_cbs = setup_lr(config, net, prepared, run_dir)
    cbs = lr_cbs + build_callbacks(config, run_dir, prepared) + list(callbacks or [])

    fit_kwargs = {"epochs": config.epochs, "callbacks": cbs, "verbose": config.verbose}
    if isinstance(prepared.train, tuple):
        x, y = prepared.train
        fit_kwargs.update(x=x, y=y, batch_size=config.batch_size, shuffle=True)
    else:
        fit_kwargs.update(x=prepared.train)
    if prepared.val is not None:
        fit_kwargs["validation_data"] = prepared.val

    start = time.perf_counter()
    history = fit_run(net, fit_kwargs, config, run_dir)
    wall = time.perf_counter() - start

    summary = _summarize(config, prepared, net, history, wall)
    if run_dir is not None:
        net.save(run_dir / "model.keras")
        write_json(run_dir / "summary.json", summary)
        from kzoo.report import report

        report(run_dir)
    return RunResult(net, history, summary, run_dir)


def _gradient_callbacks(config, run_dir):
    from kzoo.callbacks._optimizer_hook import build_gradient_callbacks

    return build_gradient_callbacks(
        grad_log_every=config.grad_log_every,
        clip=config.clip,
        clip_value=config.clip_value,
        clip_percentile=config.clip_percentile,
        grad_health=config.grad_health,
        run_dir=run_dir,
    )


def _validate_config(config):
    from kzoo.zoo._registry import check_choice

    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if config.lr != "auto" and (not isinstance(config.lr, (int, float)) or not 0 < config.lr < 10):
        raise ValueError(f"lr must be a number in (0, 10), got {config.lr!r}.")
    if not isinstance(config.early_stopping, int) or config.early_stopping < 0:
        raise ValueError(
            f"early_stopping is a patience in epochs >= 0, got {config.early_stopping!r}."
        )
    check_choice("precision", config.precision, PRECISIONS)
    if not isinstance(config.hparams, dict):
        raise ValueError(f"hparams must be a dict, got {type(config.hparams).__name__}.")
    _gradient_callbacks(config, None)  # raises on bad gradient settings
    from kzoo.resume import validate_lr_settings

    validate_lr_settings(config)


def _summarize(config, data, net, history, wall):
    def last(key):
        values = history.get(key)
        return float(values[-1]) if values else None

    summary = {
        "model": config.model,
        "data": data.name,
        "task": data.task,
        "backend": config.backend,
        "params": int(net.count_params()),
        "epochs_run": len(history.get("loss", [])),
        "wall_time_s": round(wall, 3),
        "seed": config.seed,
    }
    for key in history:
        summary[f"final_{key}"] = last(key)
    if data.val is not None and "val_loss" in history:
        best = int(np.argmin(history["val_loss"]))
        summary["best_epoch"] = best + 1
        summary["best_val_loss"] = float(history["val_loss"][best])
    if data.test is not None:
        if isinstance(data.test, tuple):
            scores = net.evaluate(
                *data.test, batch_size=max(config.batch_size, 256), verbose=0, return_dict=True
            )
        else:
            scores = net.evaluate(data.test, verbose=0, return_dict=True)
        summary["test_loss"] = float(scores["loss"])
        summary["test_accuracy"] = float(scores["accuracy"]) if "accuracy" in scores else None
        if "mae" in scores:
            summary["test_mae"] = float(scores["mae"])
    import keras

    summary["keras_version"] = keras.__version__
    return summary
