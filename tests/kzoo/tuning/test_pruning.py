"""The median stopping rule on hand-made KerasTuner trials."""

import keras_tuner

from kzoo.tuning.pruning import MedianStop, median_curve


def test_median_stopping_rule():
    from keras_tuner.engine.trial import Trial

    def trial(curve, status="COMPLETED", pruned=0.0):
        t = Trial(keras_tuner.HyperParameters(), trial_id="0", status=status)
        for epoch, value in enumerate(curve):
            t.metrics.update(f"curve/{epoch}", value)
        t.metrics.update("pruned", pruned)
        return t

    trials = [
        trial([0.5, 0.6, 0.7]),
        trial([0.3, 0.5]),  # stopped early by EarlyStopping: counts where it ran
        trial([0.1, 0.9, 0.9]),
        trial([0.0, 0.0], pruned=1.0),  # pruned trials do not lower the bar
        trial([0.0, 0.0, 0.0], status="FAILED"),
    ]
    assert median_curve(trials, epochs=4) == [0.3, 0.6, None, None]

    objective = keras_tuner.Objective("val_accuracy", "max")
    stop = MedianStop(objective, [0.3, 0.6, None, None])
    assert not stop.update(0, {"val_accuracy": 0.2})  # epoch 0: warm-up
    assert stop.update(1, {"val_accuracy": 0.59})  # best 0.59 < median 0.6
    assert stop.stopped_at == 1
    assert stop.metrics() == {"curve/0": 0.2, "curve/1": 0.59, "pruned": 1.0}
    stop = MedianStop(objective, [0.3, 0.6, None, None])
    assert not stop.update(0, {"val_accuracy": 0.7}) and not stop.update(1, {"val_accuracy": 0.1})
    assert stop.metrics()["pruned"] == 0.0  # the best so far (0.7) is above the median
    loss = keras_tuner.Objective("val_loss", "min")
    stop = MedianStop(loss, [1.0, 0.5])
    assert not stop.update(0, {"val_loss": 2.0})  # warm-up
    assert not stop.update(1, {"val_loss": 0.5})  # level with the median: kept
    assert MedianStop(loss, [1.0, 0.5]).update(1, {"val_loss": 0.51})


