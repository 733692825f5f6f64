"""Selection and early stopping that unsettled BatchNorm statistics cannot fool.

With precise BN off (`precise_bn=False`, a stream, several devices) validation
reads BatchNorm's moving averages, and after T steps with momentum m a fraction
m**T of their initial values remains: an early epoch's validation scores
statistics that describe no weights, near chance while the network learns
(issue 31). When the run selects on a validation metric and the model has
trainable BatchNorm, neither the kept epoch nor early stopping is decided on an
epoch before the first whose steps leave at most `BN_RESIDUAL` (1 %) of the
initial statistics: 459 steps at momentum 0.99, the bound of the recipe's step
rule (`bn_min_steps`). When no epoch of the budget gets there the guard stands
aside (selection as without it) and says so: every epoch's validation then reads
lagging statistics, and the kept one is still the best validated model (its
statistics included); keeping the last instead did not help on the stress case
(benchmarks/RESULTS.md, bn_guard). With precise BN on the statistics describe the
validated weights, and without BatchNorm there is nothing to settle: no guard.
"""

import math

import keras

from kzoo.callbacks.precise_bn import batch_norm_layers
from kzoo.zoo._defaults import BN_RESIDUAL


def settle_guard(plan, net):
    """The guard of this run, or None where it has none.

    Returns:
        A dict for summary.json's `selection`: `from_epoch` (the first settled
        epoch, 1-based), `applies` (it is within the epoch budget: selection and
        early stopping read no earlier epoch), `steps_needed`, `steps_per_epoch`,
        `momentum` (the slowest BN layer's) and `residual`.
    """
    values = plan.resolved.values
    if values.get("precise_bn") or not str(values.get("selection")).startswith("val_"):
        return None
    layers = batch_norm_layers(net)
    n_fit = values.get("n_fit")
    if not layers or not n_fit:
        return None
    momentum = max(float(layer.momentum) for layer in layers)
    if momentum >= 1:  # statistics that never move: no epoch settles them
        return None
    need = settle_steps(momentum)
    steps = -(-int(n_fit) // int(plan.config.batch_size))
    first = max(1, -(-need // steps))
    return {"from_epoch": first, "applies": first <= int(plan.config.epochs),
            "steps_needed": need,
            "steps_per_epoch": steps, "momentum": momentum, "residual": BN_RESIDUAL}


def settle_steps(momentum, residual=BN_RESIDUAL):
    """Steps after which a moving average of momentum `momentum` keeps at most
    `residual` of its initial value (momentum**T <= residual)."""
    if momentum <= 0:
        return 1
    return max(1, math.ceil(math.log(residual) / math.log(momentum) - 1e-9))


def guard_early_stopping(callbacks, guard):
    """Make kzoo's selection callbacks (EarlyStopping on a validation metric) start
    reading at the guard's epoch: before it they keep no best and count no patience."""
    if guard is None or not guard["applies"]:
        return
    for cb in callbacks:
        if isinstance(cb, keras.callbacks.EarlyStopping) and cb.monitor.startswith("val_"):
            cb.start_from_epoch = guard["from_epoch"] - 1
