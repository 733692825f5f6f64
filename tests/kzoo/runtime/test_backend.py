"""kzoo.runtime.backend: `clear_session` frees what Keras' own leaves behind on tensorflow."""

import keras
import numpy as np
from _backends import one_backend

import kzoo
from kzoo.runtime.backend import tf_custom_gradients


def _fit_small_model():
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.integers(0, 2, 32)
    return model.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]


@one_backend("tensorflow", "a tensorflow leak")
def test_clear_session_drops_the_graphs_keras_leaves_on_tensorflow():
    _fit_small_model()
    keras.backend.clear_session()
    # Keras' TF optimizer registered a custom gradient per traced train step, which
    # keras' clear_session keeps (if this fails, Keras fixed it upstream).
    assert tf_custom_gradients()
    kzoo.clear_session()
    assert not tf_custom_gradients()
    # Models built afterwards still train (their steps register anew).
    loss = _fit_small_model()
    assert np.isfinite(loss).all() and tf_custom_gradients()
    kzoo.clear_session()


def test_clear_session_lets_the_next_model_train():
    first = _fit_small_model()
    kzoo.clear_session()
    second = _fit_small_model()
    assert np.isfinite(second).all() and len(first) == len(second) == 2
