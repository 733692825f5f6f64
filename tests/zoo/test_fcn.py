import keras
import numpy as np
import pytest
from _backends import one_backend

import kzoo.zoo
from kzoo.zoo.fcn import block_kernels, block_widths


def test_depth_widths_and_kernels_follow_wang_et_al():
    assert block_widths(3, 128) == [128, 256, 128]
    assert block_widths(5, 8) == [8, 16, 16, 16, 8]
    assert block_kernels(5, (8, 5, 3)) == [8, 5, 3, 3, 3]
    model = kzoo.zoo.create("fcn", (20, 1), 2, depth=4, filters=4)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
    assert [c.filters for c in convs] == [4, 8, 8, 4]
    assert [c.kernel_size[0] for c in convs] == [8, 5, 3, 3]


def test_masked_pooling_skips_padded_steps():
    model = kzoo.zoo.create("fcn", (None, 2), 2, masking=True, filters=4)
    features = keras.Model(model.input, [model.get_layer("block_2_act").output,
                                         model.get_layer("gap").output])
    x = np.random.default_rng(0).normal(size=(2, 10, 2)).astype("float32")
    x[1, 6:] = 0.0  # the second series is 6 steps long
    steps, pooled = features.predict(x, verbose=0)
    np.testing.assert_allclose(pooled[0], steps[0].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1], steps[1, :6].mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@one_backend("jax", "accuracy check (80 epochs, ~15-45 s); jax is fastest")
def test_fcn_reaches_95_percent_on_gunpoint(ucr_dir, monkeypatch):
    monkeypatch.setenv("KZOO_DATA", str(ucr_dir))
    import kzoo.datasets

    ds = kzoo.datasets.load("ucr:GunPoint", seed=0)
    # All 50 archive training series (no early stopping here), the default width.
    x = np.concatenate([ds.x_train, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_val])
    model = kzoo.zoo.create("fcn", ds.input_shape, ds.num_classes, compile=False)
    optimizer = keras.optimizers.Adam(1e-3, clipnorm=1.0)
    kzoo.zoo.compile_for_head(model, ds.task, optimizer=optimizer)
    model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=10)])
    _, acc = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    assert acc >= 0.95


EPOCHS = 80  # 1/25 of the published 2000; 98.7% test accuracy with seed 0
