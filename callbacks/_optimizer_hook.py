"""Private: one gradient hook per optimizer, shared by the gradient callbacks.

Every Keras 3 trainer passes the gradients through `optimizer._clip_gradients`
(TensorFlow and torch from `apply`, jax from `stateless_apply`), so a hook
there sees them on all backends with the train step compiled. The hook keeps
its statistics in optimizer variables: on jax those travel through the
stateless update like Adam's moments, and the host reads them only when a
callback asks (epoch end, or a health check), never every step.

Cost rules (see benchmarks/grad_overhead.py):
- per-variable sums of squares are computed every step only when a part needs
  them every step (norm / global-norm / AutoClip clipping, health); otherwise
  only on logging steps, inside a `cond`;
- the global norm, the per-layer norms and clipping share those sums;
- on torch (eager) the step predicate is a host counter, so no device sync.

The variables are in the optimizer only during `fit`: parts add them in
`on_train_begin` and take them out in `on_train_end`, so a model saved after
`fit` has the optimizer Keras built. The hook keeps the variable objects and
the train function traced with them (one per set of attached parts), so the
next `fit` with the same callbacks puts the same variables back in the same
order and reuses the compiled step instead of retracing it (issue #16: a loop
of `fit(epochs=1)` retraced every call). A recompiled model starts afresh. Every Keras-private
touch goes through `kzoo.callbacks._keras_private` (pinned to keras 3.15).

Under gradient accumulation (`gradient_accumulation_steps`, `kzoo.callbacks._accumulate`)
Keras passes the accumulated mean through `_clip_gradients` on the update step only
(jax runs it every step and keeps the optimizer variables of update steps only), and
`optimizer.iterations` counts optimizer steps: the parts need nothing of their own.
"""

import keras
import numpy as np
from keras import ops

from kzoo.callbacks import _keras_private
from kzoo.callbacks._ring import _tensorflow, _torch
from kzoo.runtime.errors import UsageError

_ATTR = "_kzoo_grad_hook"


class GradientHook:
    """Holds the parts (`"clip"`, `"log"`, `"health"`) and runs them on the gradients."""

    @classmethod
    def of(cls, model):
        """The hook of `model.optimizer`, created on first use."""
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise UsageError(
                "Gradient callbacks need a compiled model: call `model.compile(optimizer=...)` "
                "before `fit`."
            )
        hook = getattr(optimizer, _ATTR, None)
        if hook is None:
            hook = cls(model)
            object.__setattr__(optimizer, _ATTR, hook)
        return hook

    @staticmethod
    def layer_of(path, model_name=None):
        """Layer of a variable path: its first component after the model's name.

        `"sequential/dense/kernel"` -> `"dense"`, `"lstm_0/lstm_cell/kernel"` -> `"lstm_0"`.
        """
        parts = path.split("/")
        if model_name and len(parts) > 2 and parts[0] == model_name:
            parts = parts[1:]
        return parts[0]

    @staticmethod
    def _refuse_replicas(model, part):
        """Under a TensorFlow strategy with several replicas, Keras runs
        `_clip_gradients` per replica, before the all-reduce: the hook would see
        each replica's gradient, not the global one. Refused before training."""
        strategy = getattr(model, "distribute_strategy", None)  # the TF trainer's
        replicas = getattr(strategy, "num_replicas_in_sync", 1)
        if keras.backend.backend() == "tensorflow" and replicas > 1:
            raise UsageError(
                f"{type(part).__name__} under a tf.distribute strategy of {replicas} replicas: "
                "Keras' TF optimizer passes each replica's gradient through the hook before "
                "the all-reduce, so its norms and thresholds would not be the global ones. "
                "Use the jax backend (keras.distribution.DataParallel: the hook sees the "
                "global gradient), one device, or no gradient callbacks."
            )

    def __init__(self, model):
        self.model = model
        self.optimizer = model.optimizer
        self.parts = {}
        self.vars = {}
        self.paths = None
        self.host_step = 0
        self._step = None
        # variables taken out at train end, by name, to be put back at the next attach
        self.parked = {}
        # train function per attached-parts signature; () is the model's own one
        self.functions = {}

    # ---- setup, on the host -------------------------------------------------

    def ensure_built(self):
        """Build the optimizer if needed and read its variables' paths and layers."""
        opt = self.optimizer
        if not opt.built:
            opt.build(self.model.trainable_variables)
        self.paths = [v.path for v in _keras_private.trainable_variables(opt)]
        names = [self.layer_of(p, self.model.name) for p in self.paths]
        self.layers = list(dict.fromkeys(names))
        index = {name: i for i, name in enumerate(self.layers)}
        self.layer_index = [index[n] for n in names]

    def paths_now(self):
        """The trainable variables' paths, in the order of the gradients."""
        self.ensure_built()
        return self.paths

    def attach(self, name, part, variables):
        """Register `part` and create its optimizer variables.

        Args:
            name: `"clip"`, `"log"` or `"health"`.
            part: the callback; the hook calls `part.transform(hook, ctx)`.
            variables: dict name -> initial numpy value.
        """
        self._refuse_replicas(self.model, part)
        if name in self.parts and self.parts[name] is not part:
            raise UsageError(
                f"Two gradient callbacks of the same kind ({type(part).__name__}) are "
                "attached to one model; pass only one."
            )
        self.ensure_built()
        if not self.parts and self.functions.get(()) is not self.model.train_function:
            # recompiled (or first fit): the cached steps belong to another compile
            self.functions = {(): self.model.train_function}
            self.parked = {}
        self.parts[name] = part
        for var_name, value in variables.items():
            value = np.asarray(value)
            var = self.parked.pop(var_name, None)
            if var is not None and tuple(var.shape) == value.shape and var.dtype == str(
                value.dtype
            ):
                _keras_private.add_variable_back(self.optimizer, var)
            else:
                var = self.optimizer.add_variable(
                    shape=value.shape,
                    initializer=keras.initializers.Constant(0.0),
                    dtype=str(value.dtype),
                    name=f"kzoo_{var_name}",
                )
                # a new variable (e.g. a log buffer sized for another fit's steps): the
                # steps traced with the old one would keep writing there (tensorflow)
                self.functions = {k: f for k, f in self.functions.items() if k == ()}
            self.vars[var_name] = var
            var.assign(value)
        self._install()

    def detach(self, name, var_names):
        """Unregister a part and take its variables out of the optimizer (kept for reuse)."""
        self.parts.pop(name, None)
        for var_name in var_names:
            var = self.vars.pop(var_name, None)
            if var is None:
                continue
            _keras_private.remove_variable(self.optimizer, var)
            self.parked[var_name] = var
        if not self.parts:
            _keras_private.remove_clip_hook(self.optimizer)
        # The step traced for the remaining parts, or None: Keras then makes a new one.
        self.model.train_function = self.functions.get(self._signature())

    def _signature(self):
        # parts in attach order: their variables sit in the optimizer in that order
        return tuple(self.parts.items())

    def _install(self):
        opt = self.optimizer
        _keras_private.install_clip_hook(opt, self.apply)
        self.host_counter = keras.backend.backend() == "torch" and not self.model.jit_compile
        self.host_step = int(ops.convert_to_numpy(opt.iterations))
        self._zero = ops.convert_to_tensor(0.0, "float32")
        self._false = ops.convert_to_tensor(False)
        # fit() made its train function before on_train_begin: swap in the one
        # traced with these parts (made once per signature; tracing is lazy).
        signature = self._signature()
        if signature in self.functions:
            self.model.train_function = self.functions[signature]
        else:
            self.model.make_train_function(force=True)
            self.functions[signature] = self.model.train_function

    # ---- host reads and writes ---------------------------------------------

    def read(self, var_name):
        """Current value of a hook variable as numpy, without syncing jax state."""
        return self._read(self.vars[var_name])

    def read_iterations(self):
        """Optimizer steps done (micro-batches // N under gradient accumulation)."""
        n = self.optimizer.gradient_accumulation_steps or 1
        return int(self._read(_keras_private.raw_iterations(self.optimizer))) // n

    def _read(self, var):
        values = _keras_private.jax_live_optimizer_values(self.model)
        if values is not None:
            for v, value in zip(self.optimizer.variables, values, strict=True):
                if v is var:
                    return np.array(value)
        return np.array(ops.convert_to_numpy(var.value))

    def sync(self):
        """Bring jax's in-flight state back into the variables (jax only)."""
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()

    def write(self, var_name, value):
        self.sync()
        self.vars[var_name].assign(np.asarray(value))

    def host_value(self, var):
        """On eager torch with CPU tensors: `var`'s own tensor, to update in place.

        Reading a CPU tensor needs no device sync, so per-step bookkeeping
        (AutoClip's window, the clip counters) can run as a few in-place host ops
        instead of ~20 tensor ops and two `assign`s, which cost 0.4-0.8 ms per step
        on a CPU MLP (benchmarks/grad_overhead.py). `None` everywhere else.
        """
        if not self.host_counter:
            return None
        value = _keras_private.host_tensor(var)
        if value is None or value.device.type != "cpu":
            return None
        return value

    def resync_step(self):
        self.host_step = int(ops.convert_to_numpy(self.optimizer.iterations))

    # ---- the traced part ---------------------------------------------------

    @property
    def step(self):
        """The optimizer's iteration count as a tensor (this step's, before the update)."""
        if self._step is None:
            self._step = ops.convert_to_tensor(self.optimizer.iterations)
        return self._step

    def cond(self, every, true_fn, false_fn):
        """`true_fn()` on steps where `iterations % every == 0`, else `false_fn()`."""
        if every == 1:
            return true_fn()
        if self.host_counter:
            return true_fn() if self.host_step % every == 0 else false_fn()
        pred = ops.equal(ops.mod(self.step, every), 0)
        return ops.cond(pred, true_fn, false_fn)

    def sq_sums(self, grads):
        """Per-variable sums of squares in float32, as one 1-D tensor.

        One op per variable: `_foreach_norm` on torch (one fused kernel), `L2Loss` on
        tensorflow (whose graph executor pays per op: a 64-layer MLP has 130 variables).
        """
        if _torch():
            import torch

            g32 = [g if g.dtype == torch.float32 else g.float() for g in grads]
            return torch.stack(torch._foreach_norm(g32)).square()
        if _tensorflow():
            import tensorflow as tf

            halves = [tf.nn.l2_loss(tf.cast(g, tf.float32)) for g in grads]  # sum(g**2) / 2
            return 2.0 * tf.stack(halves)
        return ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads])

    def global_norm(self, sq):
        return ops.sqrt(ops.sum(sq)) if not _torch() else sq.sum().sqrt()

    def scale(self, grads, factor):
        """`[g * factor for g in grads]` (one fused kernel on torch).

        On eager torch the gradients are scaled in place, as `torch.nn.utils.clip_grad_norm_`
        does: a new tensor per variable cost ~0.1 ms a step on a CPU MLP (allocation
        and page faults; benchmarks/fit_loop.py). Callers that still need the unscaled
        gradients read `ctx["sq"]`, computed before.
        """
        if _torch():
            import torch

            if all(g.dtype == factor.dtype for g in grads):
                if self.host_counter:
                    torch._foreach_mul_(grads, factor)
                    return grads
                return list(torch._foreach_mul(grads, factor))
        return [g * ops.cast(factor, g.dtype) for g in grads]

    def layer_norms(self, sq):
        """Norm of each layer's gradients, from `sq_sums` (one segment sum)."""
        ids = np.asarray(self.layer_index, "int32")
        per_layer = ops.segment_sum(sq, ids, num_segments=len(self.layers))
        return ops.sqrt(per_layer)

    def apply(self, grads):
        grads = list(grads)
        if len(grads) != len(self.paths):
            raise RuntimeError(
                f"kzoo gradient hook got {len(grads)} gradients for {len(self.paths)} "
                "trainable variables (some variables receive no gradient); the gradient "
                "callbacks need a gradient for every trainable variable."
            )
        # Eager torch reads the step only on the steps that use it (a Keras convert
        # costs ~20 us); traced backends read it here, outside any branch.
        self._step = None if self.host_counter else ops.convert_to_tensor(self.optimizer.iterations)
        clip, log, health = (self.parts.get(k) for k in ("clip", "log", "health"))
        every_step = (clip is not None and clip.needs_sq) or health is not None
        ctx = {"sq": self.sq_sums(grads) if every_step else None}
        if ctx["sq"] is not None:
            ctx["global"] = self.global_norm(ctx["sq"])
        ctx["threshold"], ctx["clipped"] = self._zero, self._false
        pre_clip = grads
        if health is not None:
            grads = health.transform(self, grads, ctx)
        if clip is not None:
            grads = clip.transform(self, grads, ctx, want_flag=log is not None)
        if log is not None:
            log.transform(self, pre_clip, ctx)
        self.host_step += 1
        return grads


get_hook = GradientHook.of  # the name the gradient callbacks import
