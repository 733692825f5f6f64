"""Private: the one rule for a monitored metric's direction, and a base class.

Modelled on Keras' `MonitorCallback` (`keras/src/callbacks/monitor_callback.py`):
`monitor`, `mode` and `min_delta` are kept as attributes and `_is_improvement`
compares a value with the best so far. Keras resolves `mode="auto"` from the
compiled metric objects; kzoo also needs the rule where no model exists (a
checkpoint manifest, a tuning objective), so it resolves it from the name:
after an optional `val_` prefix, a name that contains one of `MAX_WORDS` is
maximised, every other name (losses, `mae`, `mse`, errors) is minimised.
"""

import keras

from kzoo.runtime.errors import UsageError

MODES = ("auto", "min", "max")
MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")


def check_mode(mode):
    if mode not in MODES:
        raise UsageError(f"Invalid mode={mode!r}. Choose one of: 'auto', 'min', 'max'.")


def direction(monitor, mode="auto"):
    """`"min"` or `"max"`: which way `monitor` improves.

    Example:

    >>> direction("val_accuracy"), direction("val_mae"), direction("loss", "max")
    ('max', 'min', 'max')
    """
    check_mode(mode)
    if mode != "auto":
        return mode
    name = str(monitor).lower().removeprefix("val_")
    return "max" if any(word in name for word in MAX_WORDS) else "min"


def sign(monitor, mode="auto"):
    """`+1.0` when lower is better, `-1.0` when higher is: `sign * value` is minimised."""
    return 1.0 if direction(monitor, mode) == "min" else -1.0


def is_better(value, best, monitor, mode="auto", min_delta=0.0):
    """True if `value` improves on `best` (None: nothing yet) by more than `min_delta`."""
    if best is None:
        return True
    if direction(monitor, mode) == "min":
        return value < best - abs(min_delta)
    return value > best + abs(min_delta)


class MonitorCallback(keras.callbacks.Callback):
    """Base of the kzoo callbacks that watch a metric (cf. Keras' `MonitorCallback`).

    Args:
        monitor: quantity to watch. Defaults to `"val_loss"`.
        mode: `"min"`, `"max"` or `"auto"` (see `direction`). Defaults to `"auto"`.
        min_delta: smallest change that counts as an improvement. Defaults to `0`.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        super().__init__()
        check_mode(mode)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = min_delta
        self._sign = sign(monitor, mode)

    @property
    def direction(self):
        return direction(self.monitor, self.mode)

    def _is_improvement(self, value, best):
        return is_better(value, best, self.monitor, self.mode, self.min_delta)
