"""`TensorBoardLogger` in a plain `fit`: what it writes, a second fit continuing
the files, and nothing from a process that is not the writer."""

import sys
import types

import keras
import pytest
from _backends import one_backend

from kzoo.callbacks import TensorBoardLogger
from kzoo.runtime import processes

pytestmark = pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="the TF-free writer is for jax and torch (tensorflow has Keras' own TensorBoard)",
)


def _scalars(path):
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))  # TF stub
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_epochs_and_learning_rate_and_a_continued_fit(tiny_tabular, tmp_path):
    x, y = tiny_tabular
    model = _model()
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[TensorBoardLogger(tmp_path)]).history
    train, val = _scalars(tmp_path / "train"), _scalars(tmp_path / "validation")
    assert train["epoch_loss"] == [(0, pytest.approx(history["loss"][0])),
                                   (1, pytest.approx(history["loss"][1]))]
    assert [v for _, v in val["epoch_loss"]] == pytest.approx(history["val_loss"])
    assert train["epoch_learning_rate"] == [(0, pytest.approx(0.05)), (1, pytest.approx(0.05))]
    # a later fit from epoch 1 (as a resumed run): epoch 1 is written again, shown once
    again = model.fit(x, y, epochs=3, initial_epoch=1, batch_size=16, validation_split=0.25,
                      verbose=0, callbacks=[TensorBoardLogger(tmp_path)]).history
    train = _scalars(tmp_path / "train")
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2]
    assert [v for _, v in train["epoch_loss"]] == pytest.approx(
        [history["loss"][0], *again["loss"]])
    assert len(list((tmp_path / "train").glob("events.out.tfevents.*"))) == 1


def test_only_the_writing_process_writes(tiny_tabular, tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "is_writer", lambda: False)
    x, y = tiny_tabular
    _model().fit(x, y, epochs=1, batch_size=32, verbose=0,
                 callbacks=[TensorBoardLogger(tmp_path / "tb")])
    assert not (tmp_path / "tb").exists()


SCRIPT = """
import sys
sys.modules["tensorflow"] = None  # as on an install without TensorFlow: importing it fails
import keras, numpy as np
from kzoo.callbacks import GradientNormLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
norms = GradientNormLogger(every=1, tensorboard_dir=sys.argv[1] + "/norms")
model.fit(x, y, epochs=1, batch_size=16, verbose=0,
          callbacks=[norms, TensorBoardLogger(sys.argv[1], gradients=norms)])
for run, tag in (("train", "epoch_loss"), ("gradients", "grad_norm/global"),
                 ("norms", "grad_norm/global")):
    acc = EventAccumulator(sys.argv[1] + "/" + run)
    acc.Reload()
    print(run, [e.step for e in acc.Scalars(tag)])
"""


@one_backend("jax", "one backend shows it")
def test_no_tensorflow_is_imported_to_write_or_read(tmp_path):
    import os
    import subprocess

    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train [0]" in done.stdout
    assert "gradients [0, 1]" in done.stdout and "norms [0, 1]" in done.stdout
