"""`measure_facts`: what the trained model shows on its own training data, for the
rules of `kzoo.diagnose` (inference-mode accuracy, chance level, steps run)."""

import math

import numpy as np

from kzoo.diagnose.rules import _finite


def measure_facts(model, x, y, history=None, *, batch_size=256, selected_epoch=None,
                  fit_batch_size=None):
    """Facts for `diagnose` measured on the trained model (keras).

    Evaluates the training data in inference mode (BatchNorm on its moving
    statistics, dropout off) and compares with the training-mode accuracy of
    the last epoch in `history`. Only for classification models compiled with
    an `accuracy` metric; returns `{}` otherwise.
    """
    scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    if "accuracy" not in scores:
        return {}
    y = np.asarray(y)
    labels = y.reshape(-1) if y.ndim == 1 or y.shape[-1] == 1 else np.argmax(y, -1)
    counts = np.bincount(labels.astype("int64"))
    freq = counts[counts > 0] / counts.sum()
    facts = {"train_accuracy_inference": float(scores["accuracy"]),
             "chance": float(freq.max()), "chance_loss": float(-(freq * np.log(freq)).sum()),
             "n_train": int(len(x)), "class_balance": float(freq.min() / freq.max())}
    if np.ndim(x) == 3:  # what the underfitting rule names as a likely cause
        facts.update(series_facts(model, np.asarray(x)))
    acc = _finite((history or {}).get("accuracy", []))
    if acc:
        facts["train_accuracy_training"] = float(acc[-1])
    if selected_epoch is not None:
        facts["selected_epoch"] = int(selected_epoch)
    if fit_batch_size:
        per_epoch = math.ceil(len(x) / fit_batch_size)
        facts.update(batch_size=int(fit_batch_size), steps_per_epoch=per_epoch,
                     steps=per_epoch * len((history or {}).get("loss", [])))
    return facts


def series_facts(model, x):
    """Padding share and per-series scale spread of sequences `x`, and whether the
    model z-normalises (`series_norm`) or resamples (`resample_to`) them."""
    from kzoo.training.series_rule import scale_spread, valid_lengths
    from kzoo.zoo.series import SeriesPreparation

    prep = next((la for la in model.layers if isinstance(la, SeriesPreparation)), None)
    mask = prep.mask_value if prep is not None else 0.0
    lengths = valid_lengths(x, mask)
    return {"padding_share": float(1.0 - lengths.sum() / (len(x) * x.shape[1])),
            "scale_spread": scale_spread(x, lengths),
            "series_norm": bool(prep is not None and prep.normalize),
            "resample_to": int(prep.resample_to) if prep is not None else 0}
