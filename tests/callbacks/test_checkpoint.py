"""Tests of kzoo.callbacks.checkpoint: files, manifest, best-k, corruption, errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kzoo.callbacks.checkpoint import Checkpoint, CheckpointWriteError, latest_checkpoint
from kzoo.fit import fit_resumable
from kzoo.zoo import load_model_safely


def _model():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dropout(0.2),
         keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_best_k_last_and_manifest(tmp_path, tiny_binary):
    x, y = tiny_binary(24, 4)
    ckpt = Checkpoint(tmp_path, monitor="loss", save_best_k=2, keep_last=1)
    fit_resumable(_model(), x, y, epochs=4, batch_size=8, checkpoint=ckpt)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    files = sorted(p.name for p in tmp_path.glob("step-*.ckpt"))
    assert manifest["last"] == "step-00000012.ckpt"
    scores = {e["file"]: e["score"] for e in manifest["checkpoints"]}
    best = sorted(scores, key=scores.get)[:2]
    assert manifest["best"] == best
    assert files == sorted(set(best) | {"step-00000012.ckpt"})
    assert all(len(e["sha256"]) == 64 for e in manifest["checkpoints"])
    assert manifest["checkpoints"][-1]["epoch"] == 4 and manifest["checkpoints"][-1]["step"] == 0


def test_resume_restores_weights_optimizer_history_and_callbacks(tmp_path, tiny_binary):
    x, y = tiny_binary(24, 4)
    keras.utils.set_random_seed(1)
    model = _model()
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=30)
    ckpt = Checkpoint(tmp_path, every_n_steps=2)
    fit_resumable(model, x, y, epochs=2, batch_size=8, checkpoint=ckpt, callbacks=[es])
    saved_wait, saved_best = es.wait, es.best

    fresh, es2 = _model(), keras.callbacks.EarlyStopping(monitor="loss", patience=30)
    ckpt2 = Checkpoint(tmp_path)
    ckpt2.track([es2], steps_per_epoch=3)
    record = ckpt2.restore(fresh)
    assert (record["epoch"], record["step"], record["global_step"]) == (2, 0, 6)
    for a, b in zip(_weights(model), _weights(fresh), strict=False):
        np.testing.assert_array_equal(a, b)
    assert int(keras.ops.convert_to_numpy(fresh.optimizer.iterations)) == 6
    assert len(ckpt2.history["loss"]) == 2
    # EarlyStopping's counters come back once training begins (after its reset).
    fresh.fit(x, y, epochs=0, verbose=0, callbacks=[es2, ckpt2])
    assert es2.wait == saved_wait and es2.best == pytest.approx(saved_best)


class _StopAtStep(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after training step `step` (a crash mid-epoch)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == self.step:
            raise KeyboardInterrupt


def test_early_stopping_best_weights_survive_a_resume(tmp_path, tiny_binary):
    """EarlyStopping(restore_best_weights=True) ends a resumed run on the same
    weights as an uninterrupted one: its best weights travel in the checkpoint,
    and finishing the interrupted epoch as its own short fit does not restore
    them mid-run."""
    x, y = tiny_binary(24, 4)

    def run(directory, extra=()):
        keras.utils.set_random_seed(1)
        model = _model()
        # "Best" = highest loss, so the best epoch comes before the crash (loss
        # falls on the whole), and the weights restored at the end are that epoch's.
        es = keras.callbacks.EarlyStopping(
            monitor="loss", mode="max", patience=50, restore_best_weights=True
        )
        ckpt = Checkpoint(directory, every_n_steps=1)
        history = fit_resumable(model, x, y, epochs=5, batch_size=8, checkpoint=ckpt,
                                callbacks=[es, *extra])
        return model, history, es

    ref, ref_history, ref_es = run(tmp_path / "ref")
    assert ref_es.best_epoch < 2
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", [_StopAtStep(8)])  # mid-epoch 2 (3 steps per epoch)
    resumed, history, es = run(tmp_path / "run")
    assert es.best_epoch == ref_es.best_epoch and es.best == pytest.approx(ref_es.best)
    # The interrupted epoch's loss too: the running sums before the crash come back.
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-6)
    for a, b in zip(_weights(ref), _weights(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_corrupt_latest_falls_back_with_warning(tmp_path, tiny_binary):
    x, y = tiny_binary(24, 4)
    ckpt = Checkpoint(tmp_path, every_n_steps=1, keep_last=3)
    fit_resumable(_model(), x, y, epochs=1, batch_size=8, checkpoint=ckpt)
    latest = tmp_path / "step-00000003.ckpt"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        path, _, record = latest_checkpoint(tmp_path)
    assert path.name == "step-00000002.ckpt" and record["global_step"] == 2
    # A flipped byte (same length) is caught by the manifest's SHA-256.
    prev = tmp_path / "step-00000002.ckpt"
    raw = bytearray(prev.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    prev.write_bytes(bytes(raw))
    with pytest.warns(UserWarning):
        path, _, _ = latest_checkpoint(tmp_path)
    assert path.name == "step-00000001.ckpt"


def test_unwritable_directory_is_a_clear_error(tmp_path):
    target = tmp_path / "blocked"
    target.write_text("a file where the directory should be")
    with pytest.raises(ValueError, match="not writable"):
        Checkpoint(target / "ckpts")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root ignores directory permissions")
def test_permission_lost_midrun_keeps_state(tmp_path, tiny_binary):  # pragma: no cover
    ckpt_dir = tmp_path / "c"
    ckpt = Checkpoint(ckpt_dir)
    model = _model()
    model.fit(*tiny_binary(24, 4), epochs=1, verbose=0)
    os.chmod(ckpt_dir, 0o500)
    try:
        with pytest.raises(CheckpointWriteError, match="state in memory is intact"):
            ckpt.save(model)
    finally:
        os.chmod(ckpt_dir, 0o700)
    assert ckpt.save(model, directory=tmp_path / "elsewhere").endswith(".ckpt")


def test_full_disk_error_keeps_state_and_can_save_elsewhere(tmp_path, monkeypatch, tiny_binary):
    import kzoo.runtime.files as module

    model = _model()
    model.fit(*tiny_binary(24, 4), epochs=1, verbose=0)
    before = _weights(model)
    ckpt = Checkpoint(tmp_path / "full")

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module.os, "fsync", no_space)
    with pytest.raises(CheckpointWriteError, match="No space left"):
        ckpt.save(model)
    assert not list((tmp_path / "full").iterdir())  # no partial file left behind
    monkeypatch.undo()
    path = ckpt.save(model, directory=tmp_path / "other")
    for a, b in zip(before, _weights(model), strict=False):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(path)


def test_lambda_model_is_refused(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lam.keras")
    with pytest.raises(ValueError, match="Refusing to load .*Lambda"):
        load_model_safely(tmp_path / "lam.keras")


def test_mismatched_model_is_refused(tmp_path, tiny_binary):
    ckpt = Checkpoint(tmp_path)
    model = _model()
    model.fit(*tiny_binary(24, 4), epochs=1, verbose=0)
    ckpt.save(model)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.compile("adam", "mse")
    with pytest.raises(ValueError, match="does not fit this model"):
        Checkpoint(tmp_path).restore(other)


def test_bad_arguments():
    with pytest.raises(ValueError, match="save_best_k"):
        Checkpoint("/tmp/kzoo-ckpt-args", save_best_k=-1)
    with pytest.raises(ValueError, match="mode"):
        Checkpoint("/tmp/kzoo-ckpt-args", mode="up")


_WRITE_ON_JAX = """
import sys, numpy as np, keras
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(24, 4)).astype("float32")
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                      keras.layers.Dropout(0.2), keras.layers.Dense(2, activation="softmax")])
m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
m.fit(x, (x[:, 0] > 0).astype("int32"), epochs=2, verbose=0)
m.save_weights(sys.argv[1] + "/w.weights.h5")
m.save(sys.argv[1] + "/m.keras")
np.savez(sys.argv[1] + "/out.npz", x=x, y=keras.ops.convert_to_numpy(m(x)))
"""


@pytest.mark.slow
def test_jax_written_weights_evaluate_identically_here(tmp_path, backend):
    if backend == "jax":
        pytest.skip("checks files written by a jax subprocess under torch and tensorflow")
    env = dict(os.environ, KERAS_BACKEND="jax")
    subprocess.run(
        [sys.executable, "-c", _WRITE_ON_JAX, str(tmp_path)], check=True, env=env,
        capture_output=True,
    )
    with np.load(tmp_path / "out.npz") as z:
        x, expected = z["x"], z["y"]
    model = _model()
    model.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, atol=1e-6)
    full = load_model_safely(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(full(x)), expected, atol=1e-6)


def test_async_write_produces_the_same_resumable_files(tmp_path, tiny_binary):
    x, y = tiny_binary(24, 4)
    keras.utils.set_random_seed(2)
    model = _model()
    ckpt = Checkpoint(tmp_path, every_n_steps=1, keep_last=2, async_write=True)
    fit_resumable(model, x, y, epochs=2, batch_size=8, checkpoint=ckpt)
    path, _, record = latest_checkpoint(tmp_path)
    assert record["global_step"] == 6 and path.name == "step-00000006.ckpt"
    fresh = _model()
    Checkpoint(tmp_path).restore(fresh)
    for a, b in zip(_weights(model), _weights(fresh), strict=True):
        np.testing.assert_array_equal(a, b)
