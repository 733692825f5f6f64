"""Rematerialisation on jax and tensorflow: the checkpoint `keras.RematScope` layers call.

Keras 3.15's `remat(f)` is `jax.checkpoint(f)` on jax and `tf.recompute_grad(f)`
on tensorflow, and both fail for the zoo's layers (measured):
- jax traces every keyword argument, so `training=False` is a tracer and
  `if training and self.trainable:` (BatchNormalization, Dropout) raises
  "Attempted boolean conversion" in `predict()`; tensorflow's custom gradient
  takes no keyword arguments in graph mode, so a `TransformerEncoderBlock`
  cannot even be built ("supports keywords arguments only when eager
  execution is enabled");
- a layer that updates state in its call (BatchNormalization's moving
  statistics, a dropout `SeedGenerator`) assigns a value computed inside the
  checkpoint to a variable outside it: `UnexpectedTracerError` on jax, a failed
  train step on tensorflow.

`remat` here checkpoints a pure function instead: non-array keyword arguments
are closed over (static), array ones and the layer's variables go in as
positional inputs (the variables under their own `StatelessScope`), and their
new values come out and are assigned once, outside the checkpoint. The moving
statistics are then updated exactly as without remat (the recomputation in the
backward pass updates nothing). Recurrent layers are left as they are: their
loop keeps its own carries. What it saves (or costs: tensorflow on the CPU) per
family: benchmarks/RESULTS.md, remat_memory_jax.
"""

import keras

_INSTALLED = []


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(
        value, keras.Variable)


def _checkpoint(fn):
    if keras.backend.backend() == "jax":
        import jax

        return jax.checkpoint(fn)
    import tensorflow as tf

    return tf.recompute_grad(fn)


def remat(f):
    """The checkpoint of a layer call (`f` bound to its layer) or of a function."""
    from keras.src import backend

    layer = getattr(f, "__self__", None)
    if isinstance(layer, keras.layers.RNN) or hasattr(layer, "state_size"):
        return f

    def wrapped(*args, **kwargs):
        static = {k: v for k, v in kwargs.items() if not _is_array(v)}
        names = [k for k, v in kwargs.items() if _is_array(v)]
        variables = list(layer.variables) if isinstance(layer, keras.layers.Layer) else []
        outer = backend.get_stateless_scope()
        values = [keras.ops.convert_to_tensor(_current(outer, v)) for v in variables]
        n, m = len(args), len(names)

        def pure(*flat):
            mapping = list(zip(variables, flat[n + m:], strict=True))
            with backend.StatelessScope(state_mapping=mapping) as scope:
                out = f(*flat[:n], **dict(zip(names, flat[n:n + m], strict=True)), **static)
            new = [scope.get_current_value(v) for v in variables]
            return [out, *(o if x is None else x for x, o in zip(new, flat[n + m:],
                                                                 strict=True))]

        out, *new = _checkpoint(pure)(*args, *(kwargs[k] for k in names), *values)
        for variable, value, old in zip(variables, new, values, strict=True):
            if value is not old:  # an update made in the call: made once, out here
                variable.assign(value)
        return out

    return wrapped


def _current(scope, variable):
    value = scope.get_current_value(variable) if scope is not None else None
    return variable.value if value is None else value


def install():
    """Make `keras.RematScope` layers use `remat` (jax and tensorflow; idempotent)."""
    if _INSTALLED or keras.backend.backend() not in ("jax", "tensorflow"):
        return
    from keras.src.backend.common import remat as keras_remat

    keras_remat.remat = remat
    _INSTALLED.append(True)
