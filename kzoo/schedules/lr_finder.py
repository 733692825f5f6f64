"""`LRFinder`: the learning-rate range test.

The rate grows exponentially from `min_lr` to `max_lr` over `num_steps`
training steps while the loss of each batch is recorded; the sweep stops once
the smoothed loss exceeds `divergence` times its minimum (or is not finite).
Afterwards the model and optimizer are put back as they were, so the finder
can run right before the real training.

Suggestions, both read off the bias-corrected exponentially smoothed loss:

- `steepest`: the rate where the loss falls fastest per decade of rate.
- `valley`: the longest stretch over which the smoothed loss keeps falling;
  the rate two thirds of the way along it (low enough to stay clear of the
  divergence that follows the bottom, high enough to train fast).
- `min_over_10`: the rate at the smoothed minimum, divided by 10.

Reference:
    Smith 2017, "Cyclical Learning Rates for Training Neural Networks", WACV.
"""

import json
import math
import pathlib

import keras
import numpy as np

from kzoo.callbacks import _keras_private as private
from kzoo.fit.batches import ShuffledBatches
from kzoo.runtime.checks import is_number
from kzoo.runtime.errors import UsageError
from kzoo.runtime.files import atomic_write_text

RESULT_FILE = "lr_find.json"


# The one rule of the rate lr_find.json recommends (`--lr auto`, `kzoo lr-find`,
# `LRFinder.save`).
RECOMMENDATION_RULE = (
    "the 'valley' rule: two thirds along the longest stretch where the smoothed loss keeps "
    "falling (fastai's valley; the range test of Smith 2017), which stays clear of the "
    "divergence after the loss minimum"
)
FALLBACK_RULE = "the rate at the loss minimum / 10 (no falling stretch was long enough)"
DEFAULT_RULE = "Keras Adam's default 1e-3 (the sweep was too short to read)"


def recommend_lr(suggestions):
    """`(rate, why)`: the valley suggestion, else the minimum / 10, else 1e-3."""
    if suggestions.get("valley"):
        return float(suggestions["valley"]), RECOMMENDATION_RULE
    if suggestions.get("min_over_10"):
        return float(suggestions["min_over_10"]), FALLBACK_RULE
    return 1e-3, DEFAULT_RULE


class _Sweep(keras.callbacks.Callback):
    def __init__(self, finder, sizes):
        super().__init__()
        self.finder = finder
        self.sizes = sizes
        self.lrs, self.losses = [], []
        self._total = 0.0  # running sum of loss * batch size: undoes Keras' epoch mean
        self._count = 0
        self.diverged_at = None

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.finder.lr_at(batch)

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        n = self.sizes[batch]
        total = mean * (self._count + n)
        loss = (total - self._total) / n
        self._total, self._count = total, self._count + n
        self.lrs.append(self.finder.lr_at(batch))
        self.losses.append(loss)
        smooth = smooth_losses(self.losses, self.finder.smoothing)
        if not math.isfinite(loss) or smooth[-1] > self.finder.divergence * min(smooth):
            self.diverged_at = self.lrs[-1]
            self.model.stop_training = True


def _finite(value):
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def smooth_losses(losses, beta):
    """Bias-corrected exponential moving average of `losses`."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * loss
        out.append(avg / (1.0 - beta ** (i + 1)))
    return out


def suggest(lrs, smoothed):
    """`{"steepest", "valley", "min_over_10"}` rates from a sweep (None if too short)."""
    lrs, smoothed = np.asarray(lrs, float), np.asarray(smoothed, float)
    ok = np.isfinite(smoothed)
    lrs, smoothed = lrs[ok], smoothed[ok]
    if len(lrs) < 5:
        return {"steepest": None, "valley": None, "min_over_10": None}
    # Ignore the last points: the smoothed loss lags and the blow-up distorts slopes.
    end = max(5, int(np.argmin(smoothed)) + 1)
    slope = np.gradient(smoothed[:end], np.log10(lrs[:end]))
    steepest = float(lrs[int(np.argmin(slope))])
    falling = np.diff(smoothed) < 0
    best_len, best_start, run_start = 0, 0, 0
    for i, f in enumerate(falling):
        if not f:
            run_start = i + 1
        elif i + 1 - run_start > best_len:
            best_len, best_start = i + 1 - run_start, run_start
    valley = float(lrs[best_start + int(round(2 * best_len / 3))])
    return {
        "steepest": steepest,
        "valley": valley,
        "min_over_10": float(lrs[int(np.argmin(smoothed))] / 10.0),
    }


class LRFinder:
    """Learning-rate range test with restore and suggestions.

    Args:
        min_lr: first rate of the sweep. Defaults to `1e-7`.
        max_lr: last rate of the sweep. Defaults to `10.0`.
        num_steps: steps of the sweep (batches, cycling over the data). Defaults
            to `100`.
        batch_size: examples per step. Defaults to `32`.
        smoothing: EMA factor of the loss, in [0, 1). Defaults to `0.98`.
        divergence: stop when the smoothed loss exceeds this multiple of its
            minimum. Defaults to `4.0`.
        seed: seed of the batch order. Defaults to `0`.

    Example:

    >>> finder = LRFinder(num_steps=100)
    >>> result = finder.find(model, x_train, y_train)
    >>> finder.save("runs/lr")  # lr_find.json (kzoo.plots.plot_lr_find draws it)
    >>> model.optimizer.learning_rate = result["suggestions"]["valley"]

    Reference:
        Smith 2017, "Cyclical Learning Rates for Training Neural Networks".
    """

    def __init__(
        self,
        min_lr=1e-7,
        max_lr=10.0,
        num_steps=100,
        batch_size=32,
        smoothing=0.98,
        divergence=4.0,
        seed=0,
    ):
        for name, value in (("min_lr", min_lr), ("max_lr", max_lr)):
            if not is_number(value) or value <= 0:
                raise UsageError(f"{name} must be a number > 0, got {value!r}.")
        if min_lr >= max_lr:
            raise UsageError(f"min_lr ({min_lr}) must be below max_lr ({max_lr}).")
        if not isinstance(num_steps, int) or num_steps < 5:
            raise UsageError(f"num_steps must be an int >= 5, got {num_steps!r}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        if not 0.0 <= smoothing < 1.0:
            raise UsageError(f"smoothing must lie in [0, 1), got {smoothing!r}.")
        if divergence <= 1.0:
            raise UsageError(f"divergence must be > 1, got {divergence!r}.")
        self.min_lr = min_lr
        self.max_lr = max_lr
        self.num_steps = num_steps
        self.batch_size = batch_size
        self.smoothing = smoothing
        self.divergence = divergence
        self.seed = seed
        self.result = None

    def lr_at(self, step):
        """The rate of sweep step `step`."""
        frac = step / (self.num_steps - 1)
        return float(self.min_lr * (self.max_lr / self.min_lr) ** frac)

    def find(self, model, x, y):
        """Run the sweep on a compiled model; restore it; return the result dict."""
        optimizer = model.optimizer
        if optimizer is None:
            raise UsageError("Compile the model before running the LR finder.")
        if not isinstance(private.learning_rate_object(optimizer), keras.Variable):
            raise UsageError(
                "The LR finder sets the rate step by step: compile with a float "
                "learning_rate, not a schedule, then apply the schedule afterwards."
            )
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        saved_model = [keras.ops.convert_to_numpy(v) for v in model.variables]
        saved_opt = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
        torch_rng = None
        if keras.backend.backend() == "torch":
            import torch

            torch_rng = torch.get_rng_state()
        data = ShuffledBatches(x, y, self.batch_size, self.seed, num_steps=self.num_steps)
        spe, n = data.steps_per_epoch, data.n
        sizes = [min(self.batch_size, n - (g % spe) * self.batch_size) for g in range(len(data))]
        sweep = _Sweep(self, sizes)
        try:
            model.fit(
                data,
                epochs=1,
                steps_per_epoch=self.num_steps,
                shuffle=False,
                verbose=0,
                callbacks=[sweep],
            )
        finally:
            for v, value in zip(model.variables, saved_model, strict=True):
                v.assign(value)
            for v, value in zip(optimizer.variables, saved_opt, strict=True):
                v.assign(value)
            if torch_rng is not None:
                torch.set_rng_state(torch_rng)
        smoothed = smooth_losses(sweep.losses, self.smoothing)
        self.result = {
            "lrs": sweep.lrs,
            "losses": sweep.losses,
            "smoothed": smoothed,
            "suggestions": suggest(sweep.lrs, smoothed),
            "diverged_at": sweep.diverged_at,
            "steps_run": len(sweep.lrs),
            "settings": self.get_config(),
        }
        return self.result

    def save(self, out_dir):
        """Write `RESULT_FILE` (`lr_find.json`) into `out_dir`; returns its path.

        Written atomically (`kzoo.runtime.files`: a kill leaves the old file or the
        new one). The file is the sweep with the rate it recommends
        (`recommend_lr`: `recommended_lr`, `recommended_rule`), the one schema that
        `kzoo lr-find` and `--lr auto` write (`kzoo.rundir.write_lr_find`) and
        `kzoo.rundir.read_lr_find` reads. The library does not plot:
        `kzoo.plots.plot_lr_find` draws the result.
        """
        if self.result is None:
            raise UsageError("Run find() before save().")
        out = pathlib.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        lr, rule = recommend_lr(self.result["suggestions"])
        record = {**self.result, "recommended_lr": float(lr), "recommended_rule": rule}
        atomic_write_text(out / RESULT_FILE, json.dumps(_finite(record), indent=2) + "\n")
        return out / RESULT_FILE

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "batch_size": self.batch_size,
            "smoothing": self.smoothing,
            "divergence": self.divergence,
            "seed": self.seed,
        }
