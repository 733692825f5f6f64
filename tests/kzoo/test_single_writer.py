"""Only the writer process writes the run directory (`kzoo.runtime.processes.is_writer`).

A process that is not the writer runs the whole training (the same calls, the
same values) and writes nothing: no marker, lock, config, history, checkpoints,
gradient or LR logs, model, summary or plots. Simulated in one process by making
`is_writer` answer False; the real two-process run is test_multiprocess.py (jax).
"""

import numpy as np

from kzoo.runtime import processes
from kzoo.training import train


def _tiny():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


SETTINGS = dict(epochs=2, batch_size=8, lr=0.01, seed=0, verbose=0, checkpoint_every_epochs=1,
                grad_log_every=1, hparams={"depth": 1, "width": 4})


def test_a_process_that_does_not_write_trains_the_same_and_writes_nothing(tmp_path, monkeypatch):
    written = train("mlp", _tiny(), out=str(tmp_path / "writer"), **SETTINGS)
    assert (tmp_path / "writer" / "checkpoints" / "manifest.json").is_file()
    assert (tmp_path / "writer" / "grad_norms.csv").is_file()
    monkeypatch.setattr(processes, "is_writer", lambda: False)
    other = train("mlp", _tiny(), out=str(tmp_path / "other"), **SETTINGS)
    assert not (tmp_path / "other").exists()
    assert other.history == written.history
    for a, b in zip(other.model.get_weights(), written.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
