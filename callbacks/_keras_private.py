"""Private: every touch of Keras-private API in `kzoo.callbacks`, in one place.

Pinned to keras 3.15 (`pyproject.toml`). Each function below reads or writes
one attribute that Keras does not document; nothing else in `callbacks/` may
(`tests/callbacks/test_keras_private.py` touches every one, so a Keras upgrade
that moves one breaks that test first, in one obvious place).

- `optimizer._clip_gradients(grads)`: every trainer passes the gradients
  through it (tensorflow and torch from `apply`, jax from `stateless_apply`);
  the gradient hook replaces it on the optimizer instance.
- `optimizer._trainable_variables`: the variables `apply` updates, in the
  order of the gradients.
- `optimizer._variables` / `optimizer._untrack_variable`: the variable store
  `add_variable` appends to; removing a variable needs both.
- `optimizer._iterations`: the micro-batch counter under gradient accumulation.
- `optimizer._learning_rate`: the rate as given (a float variable or a
  `LearningRateSchedule`); `optimizer.learning_rate` evaluates schedules.
- `model._jax_state` / `model._jax_state_synced`: on jax, `fit` keeps the
  variables' live values there between `jax_state_sync()` calls.
- `variable._value`: on torch, the variable's own tensor.
- `CallbackList` frames: `running_callbacks()` finds the list of the `fit`
  that calls a callback (Keras gives a callback no handle on it).
"""

import sys
import types

import keras

KERAS_VERSION = "3.15"


# ---- the gradient-clipping step -------------------------------------------------


def install_clip_hook(optimizer, fn):
    """Make `optimizer._clip_gradients(grads)` call `fn(grads)` (this instance only)."""

    def _clip_gradients(self_opt, grads):
        return fn(grads)

    optimizer.__dict__["_clip_gradients"] = types.MethodType(_clip_gradients, optimizer)


def remove_clip_hook(optimizer):
    """Undo `install_clip_hook`: the class's own `_clip_gradients` again."""
    optimizer.__dict__.pop("_clip_gradients", None)


def clip_hook_installed(optimizer):
    return "_clip_gradients" in optimizer.__dict__


# ---- optimizer state --------------------------------------------------------------


def trainable_variables(optimizer):
    """The variables the optimizer updates, in the order of the gradients."""
    return optimizer._trainable_variables


def remove_variable(optimizer, variable):
    """Take a variable made by `optimizer.add_variable` out of `optimizer.variables`."""
    store = optimizer._variables
    for i in reversed(range(len(store))):
        if store[i] is variable:
            del store[i]
    optimizer._untrack_variable(variable)


def add_variable_back(optimizer, variable):
    """Put a variable taken out by `remove_variable` back at the end of `optimizer.variables`."""
    optimizer._track_variable(variable)


def raw_iterations(optimizer):
    """The micro-batch counter: `optimizer.iterations` counts optimizer steps, so under
    gradient accumulation it is this // `gradient_accumulation_steps`."""
    return optimizer._iterations


def learning_rate_object(optimizer):
    """The rate as compiled: a `keras.Variable` (float rate) or a `LearningRateSchedule`."""
    return optimizer._learning_rate


# ---- live backend state ------------------------------------------------------------


def jax_live_optimizer_values(model):
    """On jax during `fit`: the optimizer variables' live values (not yet synced
    into the variables), in `optimizer.variables` order; `None` elsewhere."""
    if keras.backend.backend() != "jax":
        return None
    state = getattr(model, "_jax_state", None)
    if not state or model._jax_state_synced:
        return None
    return state.get("optimizer_variables")


def host_tensor(variable):
    """On torch: the variable's own tensor (updated in place by the caller)."""
    return getattr(variable, "_value", None)


# ---- the running fit ----------------------------------------------------------------


def running_callbacks(max_depth=8):
    """The callbacks of the `fit` that is calling us, in run order, or `None`.

    A callback is not told the other callbacks of its `fit`; Keras'
    `CallbackList` calls `on_train_begin` synchronously, so it is a caller frame.
    """
    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            return list(owner.callbacks)
        frame = frame.f_back
    return None


# ---- the compiled loss tracker and metrics ------------------------------------------


def loss_tracker(model):
    """The `Mean` that `fit` logs as `loss` (updated before `compute_metrics`)."""
    return model._loss_tracker


def update_compiled_metrics(model, y, y_pred, sample_weight):
    """Update every compiled metric, `metrics` and `weighted_metrics` alike, with
    `sample_weight` (Keras passes no weight to the unweighted ones)."""
    compiled = model._compile_metrics
    if compiled is None:
        return
    if not compiled.built:
        compiled.build(y, y_pred)
    y_true, y_pred = compiled._flatten_y(y), compiled._flatten_y(y_pred)
    for group in (compiled._flat_metrics, compiled._flat_weighted_metrics):
        for metric, t, p in zip(group, y_true, y_pred, strict=False):
            if metric:
                metric.update_state(t, p, sample_weight=sample_weight)
