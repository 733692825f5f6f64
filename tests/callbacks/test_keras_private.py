"""Every Keras-private touch of kzoo.callbacks, in one test module.

A Keras upgrade that renames or moves one of them fails here first; then fix
`callbacks/_keras_private.py` only.
"""

import keras
import numpy as np
from _backends import one_backend
from keras import ops

from kzoo.callbacks import _keras_private as kp


def _model(lr=0.01):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_pinned_version_is_the_installed_one():
    assert keras.__version__.startswith(kp.KERAS_VERSION + ".")


def test_clip_hook_install_and_remove():
    model = _model()
    opt = model.optimizer
    seen = []
    kp.install_clip_hook(opt, lambda grads: seen.append(len(grads)) or grads)
    assert kp.clip_hook_installed(opt)
    opt._clip_gradients([ops.ones((3, 2))])  # the name every trainer calls
    assert seen == [1]
    kp.remove_clip_hook(opt)
    assert not kp.clip_hook_installed(opt)
    assert opt._clip_gradients.__func__ is type(opt)._clip_gradients


def test_trainable_variables_and_remove_variable():
    model = _model()
    opt = model.optimizer
    assert [v.path for v in kp.trainable_variables(opt)] == [
        v.path for v in model.trainable_variables
    ]
    n = len(opt.variables)
    extra = opt.add_variable(shape=(), name="kzoo_probe")
    assert len(opt.variables) == n + 1
    kp.remove_variable(opt, extra)
    assert len(opt.variables) == n and all(v is not extra for v in opt.variables)
    kp.add_variable_back(opt, extra)
    assert len(opt.variables) == n + 1 and opt.variables[-1] is extra


def test_learning_rate_object():
    assert isinstance(kp.learning_rate_object(_model(0.5).optimizer), keras.Variable)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    opt = keras.optimizers.SGD(schedule)
    assert kp.learning_rate_object(opt) is schedule


def test_live_state_and_host_tensor_and_running_callbacks():
    model = _model()
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["callbacks"] = kp.running_callbacks()

        def on_train_batch_end(self, batch, logs=None):
            seen["live"] = kp.jax_live_optimizer_values(model)  # self.model would sync jax

    probe, other = Probe(), keras.callbacks.History()
    x = np.ones((8, 3), "float32")
    model.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0, callbacks=[probe, other])
    assert seen["callbacks"][:2] == [probe, other]
    if keras.backend.backend() == "jax":
        assert len(seen["live"]) == len(model.optimizer.variables)
    else:
        assert seen["live"] is None
    tensor = kp.host_tensor(model.optimizer.iterations)
    if keras.backend.backend() == "torch":
        assert tensor is not None and int(tensor) == 2
    assert kp.running_callbacks() is None  # outside fit


@one_backend("torch", "torch's tensor")
def test_host_tensor_is_updated_in_place():
    var = keras.Variable(np.zeros(()), dtype="float32", trainable=False)
    kp.host_tensor(var).add_(2.0)
    assert float(ops.convert_to_numpy(var)) == 2.0


def test_raw_iterations_counts_micro_batches():
    opt = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    assert kp.raw_iterations(opt) is opt._iterations
    opt._iterations.assign(5)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 2  # optimizer steps
