"""The runner behind `kzoo train`: files written, inputs accepted, bad input refused."""

import json

import keras
import numpy as np
import pytest

import kzoo
from kzoo.training import train

SEQ = "adding:T=6,n=60,task=classification"


def test_run_directory_contents(tmp_path):
    out = tmp_path / "run"
    # 300 examples: above the tiny-set threshold (200), so a validation split is held out.
    data = SEQ.replace("n=60", "n=300")
    result = train(
        "gru", data, epochs=2, batch_size=16, out=str(out), verbose=0, hparams={"units": 8}
    )
    for name in (
        "config.json",
        "history.csv",
        "summary.json",
        "model.keras",
        "plots/learning_curves.png",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "gru" and summary["backend"] == keras.backend.backend()
    assert summary["epochs_run"] == 2 and summary["params"] == result.model.count_params()
    for key in (
        "final_loss",
        "final_val_loss",
        "final_accuracy",
        "final_val_accuracy",
        "test_accuracy",
        "wall_time_s",
    ):
        assert summary[key] is not None, key
    config = json.loads((out / "config.json").read_text())
    assert config["hparams"] == {"units": 8} and config["data"] == data and config["epochs"] == 2
    lines = (out / "history.csv").read_text().strip().splitlines()
    assert len(lines) == 3 and "val_loss" in lines[0]
    loaded = keras.saving.load_model(out / "model.keras", safe_mode=True)
    x = np.zeros((2, 6, 2), "float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-5
    )


def test_same_seed_same_result():
    a = train("mlp", "digits", epochs=1, verbose=0, seed=3)
    b = train("mlp", "digits", epochs=1, verbose=0, seed=3)
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-6)


def test_learns_digits():
    result = train("mlp", "digits", epochs=5, verbose=0, batch_size=32)
    assert result.summary["test_accuracy"] > 0.9


def test_numpy_arrays_with_inferred_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    result = train("mlp", (x, y), epochs=1, verbose=0)
    assert result.summary["task"] == "binary"
    assert result.model.output_shape == (None, 1)


def _stream_cases():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 2)).astype("float32")
    y = rng.integers(0, 3, size=32).astype("int32")

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    cases = {"pydataset": lambda: Batches()}

    def tf_data():
        tf = pytest.importorskip("tensorflow")
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    def torch_loader():
        torch = pytest.importorskip("torch")
        ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        return torch.utils.data.DataLoader(ds, batch_size=8)

    cases["tf.data"] = tf_data
    cases["torch DataLoader"] = torch_loader
    return cases


@pytest.mark.parametrize("kind", ["pydataset", "tf.data", "torch DataLoader"])
def test_streaming_inputs(kind):
    data = _stream_cases()[kind]()
    result = train("lstm", data, num_classes=3, epochs=1, verbose=0, hparams={"units": 4})
    assert result.model.input_shape == (None, 6, 2)
    assert result.model.output_shape == (None, 3)
    assert len(result.history["loss"]) == 1


def test_streaming_input_refuses_step_checkpoints(tmp_path):
    data = _stream_cases()["pydataset"]()
    with pytest.raises(ValueError, match="checkpoint_every_steps needs array data"):
        train("lstm", data, num_classes=3, epochs=1, verbose=0, out=str(tmp_path / "run"),
              checkpoint_every_steps=2)
    assert not (tmp_path / "run").exists()


def test_streaming_input_needs_num_classes():
    data = _stream_cases()["pydataset"]()
    with pytest.raises(ValueError, match="pass num_classes="):
        train("lstm", data, epochs=1, verbose=0)


def test_npz_path(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.normal(size=(30, 4)), y_train=rng.integers(0, 3, 30))
    result = train("mlp", str(path), epochs=1, verbose=0)
    assert result.model.output_shape == (None, 3)


# ------------------------------------------------------------------ bad input


def _arrays(n=20, feats=4, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, feats)).astype("float32"), rng.integers(0, classes, n)


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (
            {"model": "resnet9000", "data": "digits"},
            r"Unknown model 'resnet9000'. Registered models",
        ),
        ({"model": "mlp", "data": "mnist"}, r"Unknown dataset 'mnist'. Available"),
        ({"model": "lstm", "data": "digits"}, r"takes sequences .* Use sequence data"),
        ({"model": "mlp", "data": "digits", "epochs": 0}, "epochs must be a positive integer"),
        ({"model": "mlp", "data": "digits", "hparams": {"depht": 2}}, "Unknown hyperparameter"),
        ({"model": "mlp", "data": "digits", "precision": "fp8"}, "Invalid precision"),
        ({"model": "mlp", "data": "digits", "colour": "red"}, r"Unknown setting\(s\) colour"),
    ],
)
def test_bad_settings(kwargs, msg, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=msg):
        train(**kwargs, out=str(out), verbose=0)
    assert not out.exists(), "nothing is written before the input is validated"


def test_labels_out_of_range():
    x, _ = _arrays()
    y = np.arange(20) % 3
    with pytest.raises(ValueError, match=r"labels span \[0, 2\] but the model has 2 classes"):
        train("mlp", (x, y), num_classes=2, task="multiclass", epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"labels span \[-1, 1\] .* must lie in \[0, 2\]"):
        train("mlp", (x, y - 1), num_classes=3, task="multiclass", epochs=1, verbose=0)


def test_nan_or_inf_features():
    x, y = _arrays()
    x[3, 1] = np.nan
    x[5, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN or inf value\(s\)"):
        train("mlp", (x, y), epochs=1, verbose=0)


def test_empty_data():
    with pytest.raises(ValueError, match="empty"):
        train("mlp", (np.zeros((0, 4)), np.zeros((0,))), epochs=1, verbose=0)


def test_mismatched_lengths():
    x, y = _arrays()
    with pytest.raises(ValueError, match="x has 20 examples but y has 19"):
        train("mlp", (x, y[:-1]), epochs=1, verbose=0)


def test_out_holding_a_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    train("mlp", "digits", epochs=1, verbose=0, out=str(out))
    first = (out / "summary.json").read_text()
    with pytest.raises(ValueError, match="already holds a run.*--overwrite"):
        train("mlp", "digits", epochs=1, verbose=0, out=str(out))
    assert (out / "summary.json").read_text() == first
    train("mlp", "digits", epochs=2, verbose=0, out=str(out), overwrite=True)
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2


def test_out_that_is_not_a_run_is_never_touched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a kzoo run"):
        train("mlp", "digits", epochs=1, verbose=0, out=str(tmp_path), overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_lazy_top_level_api():
    assert kzoo.train is train
    with pytest.raises(AttributeError):
        kzoo.not_a_thing  # noqa: B018


def test_multilabel_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype("float32")
    result = train("mlp", (x, y), test_data=(x[:8], y[:8]), epochs=1, verbose=0)
    assert result.summary["task"] == "multilabel"
    assert result.model.output_shape == (None, 2)
    assert result.summary["has_test"] is True
