"""`GradientClipping`: value, norm, global-norm, AGC and AutoClip clipping on any optimizer."""

import math

import keras
import numpy as np
from keras import ops

from kzoo.callbacks import _keras_private as private
from kzoo.callbacks._optimizer_hook import get_hook
from kzoo.callbacks._ring import percentile, ring_array, ring_record
from kzoo.runtime.errors import UsageError

MODES = ("value", "norm", "global_norm", "agc", "autoclip")
_VARS = ("autoclip_hist", "autoclip_count")


def unitwise_axes(shape):
    """The axes AGC sums over for a weight of `shape`: all of them for a scalar or
    a vector (counting only axes longer than 1, as the NFNet reference squeezes),
    else every axis but the last (one norm per output unit)."""
    if sum(1 for d in shape if d != 1) <= 1:
        return tuple(range(len(shape)))
    return tuple(range(len(shape) - 1))


class GradientClipping(keras.callbacks.Callback):
    """Clip gradients inside whatever optimizer the model was compiled with.

    The callback installs itself into `model.optimizer` at `on_train_begin`
    (through the optimizer's gradient-clipping step, so it runs inside the
    compiled train step on tensorflow, jax and torch) and removes itself at
    `on_train_end`. Modes:

    - `"value"`: `clip(g, -clip_value, clip_value)` elementwise.
    - `"norm"`: each tensor scaled to norm at most `clip_value`.
    - `"global_norm"`: all gradients scaled together so their global norm is
      at most `clip_value` (Pascanu et al. 2013).
    - `"agc"`: adaptive gradient clipping (Brock et al. 2021): each unit's
      gradient is scaled so `||G_i|| <= clip_value * max(||W_i||, eps)`. A
      unit is one output unit of a kernel (the norm runs over every axis but
      the last: all inputs of a Dense unit, the window and inputs of a conv
      filter), and a whole vector (a bias, a norm's scale, or a kernel with
      one non-unit axis such as `(1, units)`) is a single unit, as in the
      NFNet reference code (deepmind-research `nfnets/agc_optax.py`,
      `unitwise_norm`) and optax's `adaptive_grad_clip`. Those use axis 0
      alone for 3-D weights (Haiku's multi-head linear); Keras' 3-D kernels
      are mostly Conv1D `(width, in, out)`, so kzoo treats them as the
      reference treats conv kernels. Variables of the final layer
      (`model.layers[-1]`) are not clipped, as in the paper.
    - `"autoclip"`: clip the global norm at the `percentile`-th percentile of
      the global norms seen so far (Seetharaman et al. 2020), kept in a
      bounded window of the last `window` steps (non-finite norms are not
      recorded).

    State: AutoClip's history lives in optimizer variables during `fit` and
    on the host between fits; `get_state()` / `set_state()` save and restore
    it (for checkpoints).

    Args:
        mode: one of `"value"`, `"norm"`, `"global_norm"`, `"agc"`,
            `"autoclip"`. Defaults to `"global_norm"`.
        clip_value: the threshold of `"value"`, `"norm"` and `"global_norm"`,
            and AGC's lambda. Defaults to `1.0` (use ~0.01 for AGC).
        percentile: AutoClip's percentile in (0, 100]. Defaults to `10.0`.
        window: AutoClip's history length. Defaults to `1000`.
        eps: AGC's floor on the weight norm. Defaults to `1e-3`.

    Example:

    ```python
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, callbacks=[GradientClipping("autoclip", percentile=10)])
    ```

    Reference:
        Pascanu et al. 2013, "On the difficulty of training recurrent neural networks";
        Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without
        Normalization"; Seetharaman et al. 2020, "AutoClip: Adaptive Gradient Clipping
        for Source Separation Networks".
    """

    async_safe = True

    def __init__(self, mode="global_norm", clip_value=1.0, percentile=10.0, window=1000, eps=1e-3):
        super().__init__()
        if mode not in MODES:
            raise UsageError(f"GradientClipping: mode must be one of {MODES}, got {mode!r}.")
        if mode != "autoclip" and not (clip_value is not None and clip_value > 0):
            raise UsageError(
                f"GradientClipping: clip_value must be > 0 for mode {mode!r}, got {clip_value!r}."
            )
        if not 0 < percentile <= 100:
            raise UsageError(f"GradientClipping: percentile must be in (0, 100], got {percentile}.")
        if int(window) < 1:
            raise UsageError(f"GradientClipping: window must be >= 1, got {window}.")
        if eps <= 0:
            raise UsageError(f"GradientClipping: eps must be > 0, got {eps}.")
        self.mode = mode
        self.clip_value = clip_value
        self.percentile = percentile
        self.window = int(window)
        self.eps = eps
        self._state = {"history": [], "count": 0}
        self._hook = None

    @property
    def needs_sq(self):
        return self.mode in ("norm", "global_norm", "autoclip")

    def get_config(self):
        return {
            "mode": self.mode,
            "clip_value": self.clip_value,
            "percentile": self.percentile,
            "window": self.window,
            "eps": self.eps,
        }

    # ---- state for checkpoints ----------------------------------------------

    def get_state(self):
        """JSON-able state: AutoClip's recorded global norms (oldest first) and step count."""
        if self._hook is not None and self.mode == "autoclip":  # other modes keep no history
            self._pull()
        return {"history": list(self._state["history"]), "count": int(self._state["count"])}

    def set_state(self, state):
        """Restore what `get_state` returned; applies at the next `fit` (or now, mid-fit)."""
        history = [float(v) for v in state.get("history", [])][-self.window :]
        self._state = {"history": history, "count": int(state.get("count", len(history)))}
        if self._hook is not None and self.mode == "autoclip":
            hist, count = self._ring()
            self._hook.write("autoclip_hist", hist)
            self._hook.write("autoclip_count", count)

    def _ring(self):
        return ring_array(self._state["history"], self.window)

    def _pull(self):
        hist = self._hook.read("autoclip_hist")
        count = int(self._hook.read("autoclip_count"))
        n = min(count, self.window)
        order = [(count - n + i) % self.window for i in range(n)]
        self._state = {
            "history": [float(hist[i]) for i in order],
            "count": self._state["count"] - len(self._state["history"]) + count,
        }

    # ---- lifecycle -------------------------------------------------------------

    def on_train_begin(self, logs=None):
        opt = self.model.optimizer
        set_clip = {
            k: getattr(opt, k, None)
            for k in ("clipnorm", "clipvalue", "global_clipnorm")
            if getattr(opt, k, None)
        }
        if set_clip:
            raise UsageError(
                f"GradientClipping: the model's optimizer already clips gradients ({set_clip}). "
                "Clipping twice is a mistake: compile the optimizer without clipnorm/clipvalue/"
                "global_clipnorm, or drop the GradientClipping callback."
            )
        self._hook = get_hook(self.model)
        variables = {}
        if self.mode == "autoclip":
            hist, count = self._ring()
            variables = {"autoclip_hist": hist, "autoclip_count": count}
        if self.mode == "agc":
            final = {v.path for v in self.model.layers[-1].trainable_variables}
            self._agc_skip = [p in final for p in get_hook(self.model).paths_now()]
        self._hook.attach("clip", self, variables)

    def on_train_end(self, logs=None):
        if self._hook is None:
            return
        if self.mode == "autoclip":
            self._pull()
        self._hook.detach("clip", _VARS)
        self._hook = None

    # ---- the traced part ---------------------------------------------------

    def threshold_of(self, hook, ctx):
        """The current threshold (AutoClip records the norm first, then takes the percentile)."""
        if self.mode != "autoclip":
            return ops.convert_to_tensor(float(self.clip_value), "float32")
        norm = ctx["global"]
        hist, count = hook.vars["autoclip_hist"], hook.vars["autoclip_count"]
        host_hist, host_count = hook.host_value(hist), hook.host_value(count)
        if host_hist is not None and host_count is not None:
            return self._host_threshold(host_hist, host_count, norm)
        hist_new, count_new = ring_record(hist, count, norm, ops.isfinite(norm))
        return percentile(hist_new, count_new, self.percentile)

    def _host_threshold(self, hist, count, norm):
        """`threshold_of` for AutoClip on eager torch with CPU tensors, in place."""
        import torch

        with torch.no_grad():
            n = int(count)
            value = float(norm)
            if math.isfinite(value):
                hist[n % self.window] = value
                count.add_(1)
                n += 1
            valid = min(n, self.window)
            if valid == 0:
                return torch.zeros((), dtype=torch.float32)
            # Slots [0, valid) hold the recorded norms. numpy's "linear" percentile,
            # as in `percentile`, from a partial sort of the shared host buffer:
            # torch.quantile sorts fully and cost ~0.25 ms per step (a fifth of a
            # small MLP's step, benchmarks/fit_loop.py).
            pos = (valid - 1) * (self.percentile / 100.0)
            lo = int(pos)
            hi = min(lo + 1, valid - 1)
            part = np.partition(hist.numpy()[:valid], (lo, hi))
            a, b = float(part[lo]), float(part[hi])
            return torch.tensor(a + (b - a) * (pos - lo), dtype=torch.float32)

    def transform(self, hook, grads, ctx, want_flag=False):
        mode = self.mode
        thr = self.threshold_of(hook, ctx)
        ctx["threshold"] = thr
        flags = []
        if mode == "value":
            out = [ops.clip(g, -thr, thr) for g in grads]
            if want_flag:
                flags = [ops.max(ops.abs(g)) > thr for g in grads]
        elif mode == "norm":
            norms = ops.unstack(ops.sqrt(ctx["sq"]))
            out = [
                g * ops.cast(thr / ops.maximum(n, thr), g.dtype)
                for g, n in zip(grads, norms, strict=True)
            ]
            flags = [n > thr for n in norms]
        elif mode in ("global_norm", "autoclip"):
            norm = ctx["global"]
            if hook.host_counter:  # eager torch: tensor methods, no keras.ops dispatch
                scale = (thr / norm).clamp(max=1.0)
            else:
                scale = thr / ops.maximum(norm, thr)
            out = hook.scale(grads, scale)
            flags = [norm > thr]
        else:
            out, flags = self._agc(hook, grads, thr)
        if len(flags) == 1:
            ctx["clipped"] = flags[0]
        elif flags:
            ctx["clipped"] = ops.any(ops.stack(flags))
        return out

    def _agc(self, hook, grads, lam):
        out, flags = [], []
        for g, var, skip in zip(
            grads, private.trainable_variables(hook.optimizer), self._agc_skip, strict=True
        ):
            if skip:
                out.append(g)
                continue
            w = ops.cast(ops.convert_to_tensor(var), "float32")
            g32 = ops.cast(g, "float32")
            axes = unitwise_axes(g.shape)
            w_norm = ops.sqrt(ops.sum(ops.square(w), axis=axes, keepdims=True))
            g_norm = ops.sqrt(ops.sum(ops.square(g32), axis=axes, keepdims=True))
            max_norm = lam * ops.maximum(w_norm, self.eps)
            scale = max_norm / ops.maximum(g_norm, max_norm)
            scale = ops.where(g_norm > max_norm, scale, 1.0)
            out.append(ops.cast(g32 * scale, g.dtype))
            flags.append(ops.any(g_norm > max_norm))
        return out, flags
