"""The mechanism that keeps the gradient callbacks cheap (issue 25: <= 1.03x on a GPU).

In the train step (traced on jax/tensorflow, run per step on eager torch) the hook
passes over the gradient list for their squares at most once per step, only when a
part needs them every step (clipping, health), and computes per-layer norms only
inside the logging branch; on eager torch a step that does not log reads nothing
back from the device (checked on the hook's device path, as on CUDA). A change that
adds a pass, a per-layer norm or a host read to every step fails here, on the CPU,
before a GPU run has to find it in the timings.
"""

import threading

import keras
import numpy as np
import pytest

from kzoo.callbacks import GradientClipping, GradientNormLogger
from kzoo.callbacks._optimizer_hook import get_hook

pytestmark = [
    pytest.mark.device,
    pytest.mark.skipif(
        keras.backend.backend() == "tensorflow",
        reason="the traced mechanism is jax's too (one traced backend is enough for CI)",
    ),
]

EAGER = keras.backend.backend() == "torch"
HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


def _spy(hook, monkeypatch):
    """Per `apply` call: `[(what, inside a cond branch), ...]` and the host reads."""
    calls, state = [], {"depth": 0, "reads": 0}
    for name in ("sq_sums", "layer_norms"):
        original = getattr(hook, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[-1]["ops"].append((_name, state["depth"] > 0))
            return _original(*args, **kwargs)

        monkeypatch.setattr(hook, name, counted)
    original_cond = hook.cond

    def cond(every, true_fn, false_fn):
        def inside(fn):
            def run():
                state["depth"] += 1
                try:
                    return fn()
                finally:
                    state["depth"] -= 1
            return run

        return original_cond(every, inside(true_fn), inside(false_fn))

    monkeypatch.setattr(hook, "cond", cond)
    original_apply = hook.apply

    def apply(grads):
        calls.append({"step": hook.host_step, "ops": [], "reads": 0})
        state["thread"] = threading.get_ident()  # Keras runs some callbacks in threads
        before = state["reads"]
        try:
            return original_apply(grads)
        finally:
            calls[-1]["reads"] = state["reads"] - before

    monkeypatch.setattr(hook, "apply", apply)
    if EAGER:
        import torch

        # As on CUDA: the hook's variables are device tensors, so no host bookkeeping
        # (on CPU, `host_value` updates them in place on the host, which is no transfer).
        monkeypatch.setattr(hook, "host_value", lambda var: None)
        for name in HOST_READS:
            method = getattr(torch.Tensor, name)

            def read(self, *args, _method=method, **kwargs):
                state["reads"] += threading.get_ident() == state.get("thread")
                return _method(self, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, read)
    return calls


@pytest.mark.parametrize("every, clip", [(10, True), (10, False), (1, True)])
def test_one_pass_over_the_gradients_and_layer_norms_only_when_logging(monkeypatch, every,
                                                                       clip):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(160, 6)).astype("float32"), rng.integers(0, 3, 160)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    calls = _spy(get_hook(model), monkeypatch)
    logger = GradientNormLogger(every=every)
    callbacks = [logger, GradientClipping("autoclip")] if clip else [logger]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    monkeypatch.undo()

    assert len(logger.rows) == 20 // every  # it logged, so the spied path is the real one
    assert calls and (len(calls) == 20 if EAGER else len(calls) <= 2)  # traced: once or twice
    for call in calls:
        squares = [inside for name, inside in call["ops"] if name == "sq_sums"]
        norms = [inside for name, inside in call["ops"] if name == "layer_norms"]
        # one pass for the squares, shared by clipping and logging
        assert len(squares) <= 1, call
        if clip:  # AutoClip needs the global norm every step: outside any branch
            assert squares == [False], call
        if EAGER:  # the hook runs each step: count what each step does
            logs = call["step"] % every == 0
            assert bool(norms) == logs, f"per-layer norms on a step that does not log: {call}"
            assert clip or bool(squares) == logs, f"squares on a step that does not log: {call}"
            if not logs:
                assert call["reads"] == 0, f"host reads on a step that does not log: {call}"
        elif every > 1:  # traced once: what runs on every step is outside the cond
            assert all(norms), f"per-layer norms outside the logging branch: {call}"
            assert clip or all(squares), f"squares outside the logging branch: {call}"
