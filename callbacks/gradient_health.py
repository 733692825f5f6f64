"""`GradientHealth`: vanishing / exploding gradient detection with warn, stop or rollback."""

import math
import warnings

import keras
import numpy as np
from keras import ops

from kzoo.callbacks import _keras_private
from kzoo.callbacks._optimizer_hook import get_hook
from kzoo.callbacks._ring import percentile, ring_array, ring_record
from kzoo.runtime.errors import UsageError

ACTIONS = ("warn", "stop", "rollback")
_VARS = ("health_hist", "health_count", "health_state", "vanish_streak")
# health_state slots
_NONFINITE, _SPIKES, _LAST_STEP, _LAST_NORM, _LAST_MEDIAN = range(5)


class GradientHealth(keras.callbacks.Callback):
    """Diagnose vanishing and exploding gradients while training.

    Detection runs inside the compiled train step (through the optimizer hook
    shared with `GradientNormLogger` and `GradientClipping`), every step for
    exploding gradients and every `check_every` steps for vanishing ones:

    - **Exploding**: the global gradient norm is non-finite, or exceeds
      `spike_factor` times the median of the last `window` healthy norms
      (once `min_history` norms are recorded). Spikes are not recorded into
      the median's window.
    - **Vanishing**: a layer whose norm stays below `vanishing_threshold`
      times the largest layer norm for `patience` consecutive checks (e.g. the
      recurrent layer of a SimpleRNN on long sequences).

    Findings go to `logs` at each epoch end (`grad_health_nonfinite`,
    `grad_health_spikes`, `grad_health_vanishing`: counts), to a warning, and
    to the attributes `events` (list of dicts: step, kind, norm) and
    `vanishing_layers` (layer -> step first flagged). Actions on exploding:

    - `"warn"`: report only (checked at epoch end; the callback is async-safe).
    - `"stop"`: set `model.stop_training` at the next check.
    - `"rollback"`: restore the last healthy weights and optimizer state
      (snapshots in host memory, taken at `on_train_begin` and at healthy
      checks once `min_history` norms are recorded), multiply the
      learning rate by `lr_factor`, and go on with the next batch. The bad
      step's update is also zeroed inside the step, so a non-finite gradient
      never reaches the weights.

    `"stop"` and `"rollback"` read the state every `check_every` batches and
    are not async-safe (Keras then syncs each step); `"warn"` costs only the
    in-step arithmetic.

    State: the norm window, counters and vanishing streaks live in optimizer
    variables during `fit` and on the host between fits; `get_state()` /
    `set_state()` cover them plus the events, flagged layers and the number of
    LR reductions (the learning rate itself is in the optimizer's state). The
    rollback snapshot is not part of it (it is the weights; a checkpoint holds them).

    Args:
        action: `"warn"`, `"stop"` or `"rollback"`. Defaults to `"warn"`.
        check_every: steps between vanishing checks and host reads. Defaults to `10`.
        vanishing_threshold: layer norm / largest layer norm below which a layer
            counts as vanishing. Defaults to `1e-3`.
        patience: consecutive vanishing checks before a layer is flagged. Defaults to `5`.
        spike_factor: norm / running median above which a step is a spike.
            Defaults to `10.0`.
        window: number of recent norms in the running median. Defaults to `100`.
        min_history: norms recorded before spikes are judged. Defaults to `10`.
        lr_factor: learning-rate multiplier on rollback, in (0, 1]. Defaults to `0.5`.

    Example:

    ```python
    health = GradientHealth(action="rollback", spike_factor=20)
    model.fit(x, y, callbacks=[health])
    print(health.events, health.vanishing_layers)
    ```

    Reference:
        Hochreiter 1991; Bengio, Simard & Frasconi 1994, "Learning long-term dependencies
        with gradient descent is difficult"; Pascanu et al. 2013.
    """

    def __init__(
        self,
        action="warn",
        check_every=10,
        vanishing_threshold=1e-3,
        patience=5,
        spike_factor=10.0,
        window=100,
        min_history=10,
        lr_factor=0.5,
    ):
        super().__init__()
        if action not in ACTIONS:
            raise UsageError(f"GradientHealth: action must be one of {ACTIONS}, got {action!r}.")
        for name, value in (("check_every", check_every), ("patience", patience),
                            ("window", window)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"GradientHealth: {name} must be an int >= 1, got {value!r}.")
        if not isinstance(min_history, int) or not 1 <= min_history <= window:
            raise UsageError(
                f"GradientHealth: min_history must be an int in [1, window={window}], "
                f"got {min_history!r}."
            )
        if not 0 < vanishing_threshold < 1:
            raise UsageError(
                f"GradientHealth: vanishing_threshold must be in (0, 1), got {vanishing_threshold}."
            )
        if spike_factor <= 1:
            raise UsageError(f"GradientHealth: spike_factor must be > 1, got {spike_factor}.")
        if not 0 < lr_factor <= 1:
            raise UsageError(f"GradientHealth: lr_factor must be in (0, 1], got {lr_factor}.")
        self.action = action
        self.check_every = check_every
        self.vanishing_threshold = vanishing_threshold
        self.patience = patience
        self.spike_factor = spike_factor
        self.window = window
        self.min_history = min_history
        self.lr_factor = lr_factor
        # Warn-only reads at epoch end: safe to dispatch batches asynchronously.
        self.async_safe = action == "warn"
        self.events = []
        self.vanishing_layers = {}
        self.lr_reductions = 0
        self._host = {"history": [], "nonfinite": 0, "spikes": 0, "streak": {}}
        self._hook = None
        self._snap = None

    def get_config(self):
        return {
            "action": self.action,
            "check_every": self.check_every,
            "vanishing_threshold": self.vanishing_threshold,
            "patience": self.patience,
            "spike_factor": self.spike_factor,
            "window": self.window,
            "min_history": self.min_history,
            "lr_factor": self.lr_factor,
        }

    # ---- state for checkpoints ----------------------------------------------

    def get_state(self):
        """JSON-able state: norm window, counters, streaks, events, flagged layers."""
        if self._hook is not None:
            self._pull()
        return {
            **{k: (dict(v) if isinstance(v, dict) else v) for k, v in self._host.items()},
            "history": list(self._host["history"]),
            "events": [dict(e) for e in self.events],
            "vanishing_layers": dict(self.vanishing_layers),
            "lr_reductions": self.lr_reductions,
        }

    def set_state(self, state):
        """Restore what `get_state` returned; applies at the next `fit` (or now, mid-fit)."""
        self._host = {
            "history": [float(v) for v in state.get("history", [])][-self.window :],
            "nonfinite": int(state.get("nonfinite", 0)),
            "spikes": int(state.get("spikes", 0)),
            "streak": {k: int(v) for k, v in state.get("streak", {}).items()},
        }
        self.events = [dict(e) for e in state.get("events", [])]
        self.vanishing_layers = dict(state.get("vanishing_layers", {}))
        self.lr_reductions = int(state.get("lr_reductions", 0))
        if self._hook is not None:
            for name, value in self._initial_vars().items():
                self._hook.write(name, value)

    def _initial_vars(self):
        hist, count = ring_array(self._host["history"], self.window)
        state = np.zeros(5, "float32")
        state[_NONFINITE], state[_SPIKES] = self._host["nonfinite"], self._host["spikes"]
        state[_LAST_STEP] = -1
        streaks = self._host["streak"]
        streak = np.array([streaks.get(name, 0) for name in self._hook.layers], "int32")
        return {
            "health_hist": hist,
            "health_count": count,
            "health_state": state,
            "vanish_streak": streak,
        }

    def _pull(self):
        hook = self._hook
        hist, count = hook.read("health_hist"), int(hook.read("health_count"))
        n = min(count, self.window)
        state, streak = hook.read("health_state"), hook.read("vanish_streak")
        self._host = {
            "history": [float(hist[(count - n + i) % self.window]) for i in range(n)],
            "nonfinite": int(state[_NONFINITE]),
            "spikes": int(state[_SPIKES]),
            "streak": {name: int(s) for name, s in zip(hook.layers, streak, strict=True)},
        }
        return state, streak

    # ---- lifecycle -------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._hook = hook = get_hook(self.model)
        hook.ensure_built()
        hook.attach("health", self, self._initial_vars())
        self._batches = 0
        if self.action == "rollback":
            self._snapshot()

    def on_train_batch_end(self, batch, logs=None):
        if self.action == "warn" or self._hook is None:
            return
        self._batches += 1
        if self._batches % self.check_every == 0:
            self._check(during_epoch=True)

    def on_epoch_end(self, epoch, logs=None):
        if self._hook is None:
            return
        self._check(during_epoch=False)
        if logs is not None:
            logs["grad_health_nonfinite"] = self._host["nonfinite"]
            logs["grad_health_spikes"] = self._host["spikes"]
            logs["grad_health_vanishing"] = len(self.vanishing_layers)

    def on_train_end(self, logs=None):
        if self._hook is not None:
            self._pull()
            self._hook.detach("health", _VARS)
            self._hook = None
        self._snap = None

    def _check(self, during_epoch):
        before = (self._host["nonfinite"], self._host["spikes"])
        state, streak = self._pull()
        step = None
        for layer, s in zip(self._hook.layers, streak, strict=True):
            if s >= self.patience and layer not in self.vanishing_layers:
                step = self._hook.read_iterations() if step is None else step
                self.vanishing_layers[layer] = step
                self.events.append({"step": step, "kind": "vanishing", "layer": layer})
                warnings.warn(
                    f"GradientHealth: vanishing gradients in layer {layer!r} at step {step}: "
                    f"its norm stayed below {self.vanishing_threshold:g} x the largest layer "
                    f"norm for {self.patience} checks.",
                    stacklevel=2,
                )
            elif s < self.patience and layer in self.vanishing_layers:
                step = self._hook.read_iterations() if step is None else step
                del self.vanishing_layers[layer]
                self.events.append({"step": step, "kind": "recovered", "layer": layer})
        new_nonfinite = self._host["nonfinite"] - before[0]
        new_spikes = self._host["spikes"] - before[1]
        if not (new_nonfinite or new_spikes):
            # Only steps judged against a full history count as good: before
            # min_history norms, a diverging start would pass unnoticed.
            judged = len(self._host["history"]) >= self.min_history
            if self.action == "rollback" and during_epoch and judged:
                self._snapshot()
            return
        kind = "nonfinite" if new_nonfinite else "spike"
        norm = float(state[_LAST_NORM])
        event = {
            "step": int(state[_LAST_STEP]),
            "kind": kind,
            "norm": norm if math.isfinite(norm) else None,
            "median": float(state[_LAST_MEDIAN]),
            "count": new_nonfinite + new_spikes,
        }
        self.events.append(event)
        warnings.warn(
            f"GradientHealth: exploding gradients ({kind}, global norm {norm:.4g} vs running "
            f"median {event['median']:.4g}) at step {event['step']}; action={self.action}.",
            stacklevel=2,
        )
        if self.action == "stop":
            self.model.stop_training = True
        elif self.action == "rollback":
            self._rollback(event)

    # ---- rollback ----------------------------------------------------------------

    def _own_ids(self):
        return {id(v) for v in self._hook.vars.values()}

    def _snapshot(self):
        hook, model = self._hook, self.model
        hook.sync()
        own = self._own_ids()
        self._snap = (
            [ops.convert_to_numpy(v.value) for v in model.variables],
            [ops.convert_to_numpy(v.value) for v in hook.optimizer.variables if id(v) not in own],
        )

    def _rollback(self, event):
        hook, model, opt = self._hook, self.model, self._hook.optimizer
        hook.sync()
        lr_obj = _keras_private.learning_rate_object(opt)
        lr_var = lr_obj if isinstance(lr_obj, keras.Variable) else None
        # Lower the LR in force now (the snapshot holds an older, higher one).
        lr = None if lr_var is None else float(ops.convert_to_numpy(lr_var.value))
        model_values, opt_values = self._snap
        for v, value in zip(model.variables, model_values, strict=True):
            v.assign(value)
        own = self._own_ids()
        theirs = [v for v in opt.variables if id(v) not in own]
        for v, value in zip(theirs, opt_values, strict=True):
            v.assign(value)
        if lr_var is not None:
            lr_var.assign(lr * self.lr_factor)
            event["lr"] = lr * self.lr_factor
            self.lr_reductions += 1
        else:
            warnings.warn(
                "GradientHealth: the learning rate is a schedule; rollback restored the "
                "weights but cannot lower it.",
                stacklevel=2,
            )
        hook.resync_step()

    # ---- the traced part ---------------------------------------------------

    def transform(self, hook, grads, ctx):
        v = hook.vars
        hist, count = ops.convert_to_tensor(v["health_hist"]), ops.convert_to_tensor(
            v["health_count"]
        )
        norm = ctx["global"]
        median = percentile(hist, count, 50.0)
        finite = ops.isfinite(norm)
        spike = ops.logical_and(
            ops.logical_and(finite, count >= self.min_history), norm > self.spike_factor * median
        )
        bad = ops.logical_or(ops.logical_not(finite), spike)
        ring_record(v["health_hist"], v["health_count"], norm, ops.logical_and(finite, ~spike))
        state = ops.convert_to_tensor(v["health_state"])
        step = ops.cast(hook.step, "float32")
        new_state = ops.stack(
            [
                state[_NONFINITE] + ops.cast(ops.logical_not(finite), "float32"),
                state[_SPIKES] + ops.cast(spike, "float32"),
                ops.where(bad, step, state[_LAST_STEP]),
                ops.where(bad, norm, state[_LAST_NORM]),
                ops.where(bad, median, state[_LAST_MEDIAN]),
            ]
        )
        v["health_state"].assign(new_state)
        streak = ops.convert_to_tensor(v["vanish_streak"])

        def check():
            layer = hook.layer_norms(ctx["sq"])
            ratio = layer / ops.maximum(ops.max(layer), 1e-30)
            return ops.where(ratio < self.vanishing_threshold, streak + 1, 0)

        v["vanish_streak"].assign(hook.cond(self.check_every, check, lambda: streak))
        if self.action == "warn":
            return grads
        # Zero the bad step's update so non-finite values never reach the weights.
        return [ops.where(bad, ops.zeros_like(g), g) for g in grads]
