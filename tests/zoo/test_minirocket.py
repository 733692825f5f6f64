"""MiniRocket: the paper's kernels and dilations, the transform against a NumPy
reference of the paper's algorithm (same features on every backend), the bias
fit, save/load, the fit hook of `kzoo.train`, and the ridge head against
scikit-learn's RidgeClassifierCV."""

import itertools

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import zoo
from kzoo.zoo import minirocket as mr
from kzoo.zoo import minirocket_kernels as kernels


def test_the_84_kernels_of_the_paper():
    idx = kernels.kernel_indices()
    assert idx.shape == (84, 3)
    assert [tuple(i) for i in idx] == list(itertools.combinations(range(9), 3))
    assert tuple(idx[0]) == (0, 1, 2) and tuple(idx[-1]) == (6, 7, 8)
    w = kernels.kernel_weights()
    assert w.shape == (9, 84) and set(np.unique(w)) == {-1.0, 2.0}
    assert (np.sum(w == 2.0, axis=0) == 3).all()
    np.testing.assert_array_equal(w.sum(axis=0), 0.0)  # -1 * 6 + 2 * 3: each kernel sums to 0


def test_dilations_follow_the_paper_formula():
    # L = 150 (GunPoint): floor(2 ** linspace(0, log2(149 / 8), 32)), duplicates merged,
    # 119 features per kernel shared in proportion (x 119/32, floored), remainder round-robin.
    dilations, per = kernels.fit_dilations(150)
    assert dilations.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18]
    assert per.tolist() == [30, 15, 12, 12, 4, 8, 8, 4, 4, 4, 3, 3, 3, 3, 3, 3]
    assert per.sum() == 119 and 84 * per.sum() == 9996
    dilations, per = kernels.fit_dilations(2000)  # PigCVP: the largest is <= (L - 1) / 8
    assert dilations[0] == 1 and dilations[-1] == 249 == int((2000 - 1) / 8)
    assert len(dilations) <= 32 and per.sum() == 119
    dilations, per = kernels.fit_dilations(5)  # shorter than a kernel: dilation 1 only
    assert dilations.tolist() == [1] and per.tolist() == [119]
    dilations, per = kernels.fit_dilations(150, num_features=840, max_dilations=4)
    assert per.sum() == 10 and len(dilations) == 4


def test_quantiles_are_the_golden_ratio_sequence():
    q = kernels.quantiles(3)
    np.testing.assert_allclose(q, [0.6180340, 0.2360680, 0.8541020], atol=1e-6)


def _reference_features(x, layer):
    """The paper's transform, written from its description (loops, float64): for each
    dilation, then kernel: the convolution `sum_j w_j x[t + (j - 4) d]` (zero outside
    the series) over the pair's channels, PPV against each bias, over all steps when
    `(dilation index + kernel index)` is even, else over the steps the kernel covers."""
    mask = keras.ops.convert_to_numpy(layer.channel_mask)
    biases = keras.ops.convert_to_numpy(layer.biases)
    n, length, _ = x.shape
    out, f = np.zeros((n, layer.total)), 0
    for di, (d, count) in enumerate(zip(layer.dilations, layer.per_dilation, strict=True)):
        for k, idx in enumerate(kernels.kernel_indices()):
            w = np.where(np.isin(np.arange(9), idx), 2.0, -1.0)
            series = x[:, :, mask[di, k] > 0].sum(axis=-1).astype("float64")
            conv = np.zeros((n, length))
            for t in range(length):
                for j in range(9):
                    s = t + (j - 4) * d
                    if 0 <= s < length:
                        conv[:, t] += w[j] * series[:, s]
            pad = 4 * d
            if (di + k) % 2 == 1 and length - 2 * pad > 0:
                conv = conv[:, pad:length - pad]
            for _ in range(count):
                out[:, f] = (conv > biases[f]).mean(axis=1)
                f += 1
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_transform_matches_the_numpy_reference(channels):
    # Values on a 1/8 grid make every convolution exact in float32, so the features
    # are the same on every backend (this test runs on each).
    rng = np.random.default_rng(0)
    x = (rng.integers(-16, 17, size=(6, 40, channels)) / 8).astype("float32")
    layer = mr.MiniRocketFeatures(num_features=840, seed=3, standardize=False)
    layer.adapt(x)
    assert layer.dilations.tolist() == [1, 2, 3, 4]
    features = keras.ops.convert_to_numpy(layer(x))
    assert features.shape == (6, 840)
    np.testing.assert_allclose(features, _reference_features(x, layer), atol=1e-6)
    if channels > 1:  # the paper's channel combinations: 1 to min(C, 9) channels each
        used = keras.ops.convert_to_numpy(layer.channel_mask).sum(axis=-1)
        assert used.min() >= 1 and used.max() <= channels and used.std() > 0


def test_the_transform_goes_chunk_by_chunk_with_the_same_features(monkeypatch):
    # A batch of 256 series of length 2,000 held 20 GB of comparisons at once on jax's
    # CPU; the transform now goes a bounded chunk of examples at a time. Chunks of 2
    # over 7 series (the last chunk padded), eagerly, compiled, and in predict.
    rng = np.random.default_rng(2)
    x = (rng.integers(-16, 17, size=(7, 40, 2)) / 8).astype("float32")
    layer = mr.MiniRocketFeatures(num_features=840, seed=3, standardize=False)
    layer.adapt(x)
    expected = _reference_features(x, layer)
    per_example = 40 * kernels.NUM_KERNELS * int(layer.per_dilation.max()) * 4
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 2 * per_example)
    monkeypatch.setattr(kernels, "on_accelerator", lambda x: False)
    assert layer.chunk_size(x) == 2
    calls = []
    ppv = layer._ppv
    monkeypatch.setattr(layer, "_ppv", lambda chunk: calls.append(chunk.shape[0]) or ppv(chunk))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-6)
    assert set(calls) == {2}
    transform = kernels.compiled(layer.raw_features)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(transform(keras.ops.convert_to_tensor(x))), expected,
        atol=1e-6)
    inputs = keras.Input((40, 2))
    model = keras.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), expected, atol=1e-6)


def test_biases_are_quantiles_of_one_random_example_per_pair():
    rng = np.random.default_rng(1)
    x = (rng.integers(-16, 17, size=(5, 40, 1)) / 8).astype("float32")
    layer = mr.MiniRocketFeatures(num_features=840, seed=7, standardize=False)
    layer.adapt(x)
    biases = keras.ops.convert_to_numpy(layer.biases)
    draws, q, f = np.random.default_rng(7), kernels.quantiles(840), 0
    for d, count in zip(layer.dilations, layer.per_dilation, strict=True):
        picks = draws.integers(5, size=84)
        for k, idx in enumerate(kernels.kernel_indices()):
            w = np.where(np.isin(np.arange(9), idx), 2.0, -1.0)
            s = np.pad(x[picks[k], :, 0].astype("float64"), 4 * d)
            conv = sum(w[j] * s[j * d:j * d + 40] for j in range(9))
            np.testing.assert_allclose(biases[f:f + count], np.quantile(conv, q[f:f + count]),
                                       rtol=1e-6, atol=1e-6)
            f += count
    # The padded convolution output contains both signs: quantiles lie strictly inside it.
    assert np.abs(biases).max() > 0


def test_standardised_features_and_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 30, 2)).astype("float32")
    model = zoo.create("minirocket", input_shape=(30, 2), num_classes=3, num_features=168)
    assert zoo.fit_to_data(model, x) == ["minirocket"]
    features = keras.ops.convert_to_numpy(model.get_layer("minirocket")(x))
    varying = features.std(axis=0) > 0
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(features.std(axis=0)[varying], 1.0, rtol=1e-4)
    model.fit(x, rng.integers(0, 3, 12), epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for name in ("biases", "mean", "inv_std", "channel_mask"):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(getattr(loaded.get_layer("minirocket"), name)),
            keras.ops.convert_to_numpy(getattr(model.get_layer("minirocket"), name)))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_variable_length_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="fixed series length.*Pad the series"):
        zoo.create("minirocket", input_shape=(None, 1), num_classes=2)


@one_backend("jax", "the runner's hook, backend-free")
def test_train_fits_the_biases_before_training(tiny_sequence):
    import kzoo

    result = kzoo.train("minirocket", tiny_sequence, epochs=2, verbose=0,
                        hparams={"num_features": 168, "head_fit": "logistic"})
    layer = result.model.get_layer("minirocket")
    assert np.abs(keras.ops.convert_to_numpy(layer.biases)).max() > 0
    assert np.abs(keras.ops.convert_to_numpy(layer.mean)).max() > 0


@one_backend("jax", "the runner's hook, backend-free")
def test_resumed_run_equals_the_uninterrupted_one(tiny_sequence, tmp_path):
    import kzoo
    from kzoo.training.resume_run import resume

    x, y = tiny_sequence
    data = tmp_path / "seq.npz"  # resume reloads the data by name
    np.savez(data, x_train=x, y_train=y)
    settings = dict(hparams={"num_features": 168, "head_fit": "logistic"}, verbose=0, seed=1,
                    batch_size=16)
    straight = kzoo.train("minirocket", str(data), epochs=4, out=tmp_path / "a", **settings)
    kzoo.train("minirocket", str(data), epochs=2, out=tmp_path / "b", **settings)
    resumed = resume(tmp_path / "b", epochs=4, verbose=0)
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _separable(n, length, classes, seed):
    rng = np.random.default_rng(seed)
    # Unbalanced (the last class twice as often), so the intercepts differ between classes.
    y = np.minimum(np.arange(n) % (classes + 1), classes - 1).astype("int32")
    x = rng.normal(size=(n, length, 1)).astype("float32")
    x[:, : length // 4, 0] += y[:, None]  # a class-dependent level early in the series
    return x, y


@pytest.mark.parametrize("head,classes", [("binary", 2), ("multiclass", 3)])
def test_ridge_head_is_ridge_classifier_cv_and_survives_save_load(head, classes, tmp_path):
    from sklearn.linear_model import RidgeClassifierCV

    x, y = _separable(30, 20, classes, seed=classes)
    x_new, _ = _separable(30, 20, classes, seed=10 + classes)
    model = zoo.create("minirocket", input_shape=(20, 1), num_classes=classes, head=head,
                       num_features=168)
    assert zoo.fit_to_data(model, x, y) == ["minirocket", "head"]
    assert not model.get_layer("head").trainable  # the solution is final
    features = keras.ops.convert_to_numpy(model.get_layer("minirocket")(x))
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(features, y)
    t = model.get_layer("head").temperature  # one positive factor: the same classes
    assert 0.01 <= t <= 100
    for inputs in (x, x_new):
        probs = model.predict(inputs, verbose=0)
        scores = t * ridge.decision_function(
            keras.ops.convert_to_numpy(model.get_layer("minirocket")(inputs)))
        if head == "binary":  # sigmoid of the ridge score
            np.testing.assert_array_equal((probs[:, 0] > 0.5).astype(int), scores > 0)
            np.testing.assert_allclose(np.log(probs / (1 - probs))[:, 0], scores, atol=2e-3)
        else:  # softmax of the scores: log-probabilities differ by the score differences
            np.testing.assert_array_equal(probs.argmax(axis=1), scores.argmax(axis=1))
            logp = np.log(probs)
            np.testing.assert_allclose(logp - logp.mean(axis=1, keepdims=True),
                                       scores - scores.mean(axis=1, keepdims=True), atol=2e-3)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert not loaded.get_layer("head").trainable and loaded.get_layer("head").temperature == t
    np.testing.assert_allclose(loaded.predict(x_new, verbose=0), model.predict(x_new, verbose=0),
                               atol=1e-6)


@one_backend("jax", "NumPy only")
def test_the_temperature_minimises_the_leave_one_out_cross_entropy():
    from scipy.special import log_softmax

    from kzoo.zoo.minirocket_head import fit_temperature

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 200)
    targets = np.where(np.eye(4)[labels] > 0, 1.0, -1.0)
    scores = 0.3 * targets + rng.normal(scale=0.3, size=targets.shape)  # under-confident

    def loss(t):
        return -log_softmax(t * scores, axis=1)[np.arange(200), labels].mean()

    t = fit_temperature(scores, targets)
    assert t > 1 and loss(t) < loss(1.0)
    assert loss(t) <= min(loss(t * 1.1), loss(t / 1.1)) + 1e-9
    binary = fit_temperature(scores[:, :1], targets[:, :1])
    assert binary > 1


@one_backend("jax", "keras-free rules")
def test_head_fit_follows_the_papers_rule():
    from kzoo.zoo import _resolve
    from kzoo.zoo.minirocket_head import choose_head_fit

    limit = zoo.get_spec("minirocket").recipe.ridge_max_examples
    assert limit == 10_000  # angus924/minirocket: logistic regression for 10,000+
    assert choose_head_fit("auto", head="multiclass", n=limit) == "ridge"
    assert choose_head_fit("auto", head="multiclass", n=limit + 1) == "logistic"
    assert choose_head_fit("auto", head="binary", depth=2, n=10) == "logistic"
    assert choose_head_fit("auto", head="regression", n=10) == "logistic"
    assert choose_head_fit("ridge", head="multiclass", n=limit + 1) == "ridge"
    with pytest.raises(ValueError, match="head_fit='ridge'.*but l2=0.01 set.*head_fit='logistic'"):
        choose_head_fit("ridge", head="multiclass", l2=0.01)
    recipe = zoo.get_spec("minirocket").recipe
    rule = zoo.get_spec("minirocket").head_fit
    hp = zoo.get_spec("minirocket").defaults
    ridge = _resolve.resolve(recipe, n_train=80, n_val=20,
                             head_fit=lambda n: rule(hp, n, "multiclass"))
    assert ridge.values["head_fit"] == "ridge" and ridge.values["epochs"] == 1
    assert ridge.sources["epochs"] == "data rule"
    mine = _resolve.resolve(recipe, n_train=80, epochs=5, head_fit=lambda n: "ridge")
    assert mine.values["epochs"] == 5  # the user's epochs stand
    logistic = _resolve.resolve(recipe, n_train=80, head_fit=lambda n: rule(
        {**hp, "head_fit": "logistic"}, n, "multiclass"))
    assert logistic.values["head_fit"] == "logistic"
    assert logistic.values["epochs"] == recipe.epochs == 40


@one_backend("jax", "the runner's hook, backend-free")
def test_plain_train_solves_the_ridge_head_and_runs_one_epoch(tiny_sequence, tmp_path):
    import json

    import kzoo

    result = kzoo.train("minirocket", tiny_sequence, hparams={"num_features": 168},
                        verbose=0, out=tmp_path / "run")
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]
    assert resolved["head_fit"]["value"] == "ridge" and resolved["epochs"]["value"] == 1
    assert result.summary["epochs_run"] == 1
    head = result.model.get_layer("head")
    assert not head.trainable
    assert np.abs(keras.ops.convert_to_numpy(head.kernel)).max() > 0  # solved, not zeros
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    x = tiny_sequence[0][:8]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0),
                               atol=1e-6)


@one_backend("jax", "the tuner's fit, backend-free")
def test_a_tuning_trial_with_the_ridge_head_evaluates_it_in_one_epoch():
    import keras_tuner as kt

    x, y = _separable(24, 20, 3, seed=4)
    for head_fit, epochs in (("auto", 1), ("logistic", 3)):
        hm = zoo.hypermodel("minirocket", (20, 1), 3, num_features=168, head_fit=head_fit)
        hp = kt.HyperParameters()
        model = hm.build(hp)
        history = hm.fit(hp, model, x, y, epochs=3, verbose=0)
        assert len(history.history["loss"]) == epochs
        assert model.get_layer("head").trainable == (head_fit == "logistic")
