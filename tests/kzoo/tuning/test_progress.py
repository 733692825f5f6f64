"""What `kzoo tune` prints: best by the oracle's direction, an ETA, a live trial line."""

import io

import keras_tuner

from kzoo.tuning.progress import Progress


def _rows():
    return [
        {"trial_id": "0", "status": "COMPLETED", "score": 0.30, "epochs_run": 2,
         "wall_time_s": 1.0},
        {"trial_id": "1", "status": "COMPLETED", "score": 0.10, "epochs_run": 2,
         "wall_time_s": 1.0},
        {"trial_id": "2", "status": "FAILED", "score": None, "error": "ValueError: x"},
    ]


def test_best_follows_the_objective_direction():
    # KerasTuner minimises val_mae; kzoo's old name rule maximised it.
    mae = keras_tuner.Objective("val_mae", keras_tuner.engine.metrics_tracking
                                .infer_metric_direction("val_mae"))
    assert mae.direction == "min"
    line = Progress(mae, 4, 2, stream=io.StringIO()).summary(_rows(), "0")
    assert "[3/4] trial 0 COMPLETED val_mae=0.3000" in line and "best 0.1000 (trial 1)" in line
    acc = keras_tuner.Objective("val_accuracy", "max")
    line = Progress(acc, 4, 2, stream=io.StringIO()).summary(_rows(), "2")
    assert line.startswith("[3/4] trial 2 FAILED: ValueError: x")
    assert "best 0.3000 (trial 0)" in line


def test_eta_from_this_process_pace(monkeypatch):
    clock = iter([100.0, 130.0])
    monkeypatch.setattr("kzoo.tuning.progress.time.monotonic", lambda: next(clock))
    progress = Progress(keras_tuner.Objective("val_loss", "min"), 5, 1, stream=io.StringIO())
    progress.ended = 3  # 3 trials in 30 s: 10 s each, 2 left
    assert progress.eta(done=3) == 20.0


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_live_line_shows_hyperparameters_epoch_and_objective_on_a_terminal():
    term = _Terminal()
    progress = Progress(keras_tuner.Objective("val_accuracy", "max"), 2, 3, stream=term)
    progress.trial_started("0", {"learning_rate": 0.0012345, "depth": 2, "tuner/epochs": 3})
    progress.epoch_ended(1, {"val_accuracy": 0.875, "loss": 0.3})
    text = term.getvalue()
    assert "\r" in text and "trial 0 [learning_rate=0.00123 depth=2]" in text
    assert "epoch 2/3 val_accuracy=0.8750" in text and "tuner/" not in text
    progress.trial_ended(_rows()[:1], "0")
    summary = term.getvalue().rsplit("\r\033[K", 1)[-1]
    assert summary.startswith("[1/2] trial 0 COMPLETED val_accuracy=0.3000")
    assert "; best 0.3000 (trial 0); ETA " in summary and summary.endswith("\n")
    piped = io.StringIO()  # not a terminal: no live line, only the summary
    progress = Progress(keras_tuner.Objective("val_accuracy", "max"), 2, 3, stream=piped)
    progress.trial_started("0", {"depth": 2})
    progress.epoch_ended(0, {"val_accuracy": 0.5})
    assert piped.getvalue() == ""
