"""Rematerialisation on jax: the `jax.checkpoint` that `keras.RematScope` layers call.

Keras 3.15's jax `remat(f)` is `jax.checkpoint(f)`, which fails for the zoo's
layers in two ways (measured):
- every keyword argument becomes a traced value, so `training=False` is a tracer
  and `if training and self.trainable:` (BatchNormalization, Dropout) raises
  "Attempted boolean conversion" in `predict()`;
- a layer that updates state in its call (BatchNormalization's moving
  statistics, a dropout `SeedGenerator`) assigns a value traced inside the
  checkpoint to a variable outside it: `UnexpectedTracerError` in the train step.

`remat` here checkpoints a pure function instead: non-array keyword arguments
are closed over (static), the layer's variables go in as inputs under their own
`StatelessScope`, and their new values come out and are assigned once, outside
the checkpoint, so the moving statistics are updated exactly as without remat
(the recomputation in the backward pass updates nothing). Recurrent layers are
left as they are: their `scan` keeps its own carries.
"""

import keras

_INSTALLED = []


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(
        value, keras.Variable)


def remat(f):
    """`jax.checkpoint` of a layer call (`f` bound to its layer) or of a function."""
    import jax
    from keras.src import backend

    layer = getattr(f, "__self__", None)
    if isinstance(layer, keras.layers.RNN) or hasattr(layer, "state_size"):
        return f

    def wrapped(*args, **kwargs):
        static = {k: v for k, v in kwargs.items() if not _is_array(v)}
        arrays = {k: v for k, v in kwargs.items() if _is_array(v)}
        variables = list(layer.variables) if isinstance(layer, keras.layers.Layer) else []
        outer = backend.get_stateless_scope()
        values = [_current(outer, v) for v in variables]

        def pure(values, *a, **kw):
            with backend.StatelessScope(state_mapping=list(zip(variables, values,
                                                               strict=True))) as scope:
                out = f(*a, **kw, **static)
            new = [scope.get_current_value(v) for v in variables]
            return out, [o if n is None else n for n, o in zip(new, values, strict=True)]

        out, new = jax.checkpoint(pure)(values, *args, **arrays)
        for variable, value, old in zip(variables, new, values, strict=True):
            if value is not old:  # an update made in the call: made once, out here
                variable.assign(value)
        return out

    return wrapped


def _current(scope, variable):
    value = scope.get_current_value(variable) if scope is not None else None
    return variable.value if value is None else value


def install():
    """Make `keras.RematScope` layers use `remat` (jax only; idempotent)."""
    if _INSTALLED or keras.backend.backend() != "jax":
        return
    from keras.src.backend.common import remat as keras_remat

    keras_remat.remat = remat
    _INSTALLED.append(True)
