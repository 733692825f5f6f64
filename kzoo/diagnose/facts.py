"""`measure_facts`: what the trained model shows on its own training data, for the
rules of `kzoo.diagnose` (inference-mode accuracy, chance level, steps run)."""

import math

import numpy as np

from kzoo.callbacks.precise_bn import batch_norm_layers, batch_statistics, no_grad
from kzoo.datasets import npy_rows
from kzoo.diagnose.finding import finite


def measure_facts(model, x, y, history=None, *, batch_size=256, selected_epoch=None,
                  fit_batch_size=None, val=None):
    """Facts for `diagnose` measured on the trained model (keras).

    Evaluates the training data in inference mode (BatchNorm on its moving
    statistics, dropout off). With BatchNorm, the kept model is also scored
    with BatchNorm in training mode (each batch of `fit_batch_size` normalised
    by its own statistics, dropout still off) on `val` (an `(x, y)` pair) or,
    without one, on the training data: `bn_accuracy_inference` against
    `bn_accuracy_training_mode` on `bn_split`, the same weights two ways, so a
    gap is BatchNorm's statistics and not the weights. Without BatchNorm the
    training-mode accuracy is the last epoch's in `history`. Only for
    classification models compiled with an `accuracy` metric; returns `{}`
    otherwise.
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
        facts.update(series_facts(model, npy_rows.sample(x)))  # streamed: a sample
    acc = finite((history or {}).get("accuracy", []))
    if acc:
        facts["train_accuracy_training"] = float(acc[-1])
    if batch_norm_layers(model):
        split, (xs, ys) = ("validation", val) if val is not None else ("train", (x, y))
        modes = _bn_modes(model, xs, ys, fit_batch_size or 32)
        facts.update(bn_split=split, bn_accuracy_inference=modes[0],
                     bn_accuracy_training_mode=modes[1])
        if split == "train":  # the kept weights, not the last epoch's
            facts["train_accuracy_training"] = modes[1]
    if selected_epoch is not None:
        facts["selected_epoch"] = int(selected_epoch)
    if fit_batch_size:
        per_epoch = math.ceil(len(x) / fit_batch_size)
        facts.update(batch_size=int(fit_batch_size), steps_per_epoch=per_epoch,
                     steps=per_epoch * len((history or {}).get("loss", [])))
    return facts


def _labels(y):
    y = np.asarray(y)
    return y.reshape(-1) if y.ndim == 1 or y.shape[-1] == 1 else np.argmax(y, -1)


def _bn_modes(model, x, y, batch_size):
    """Accuracy of `model` on `(x, y)` with BatchNorm in inference mode and in
    training mode (batch statistics of `batch_size` examples; other layers in
    inference mode)."""
    import keras

    labels = _labels(y)

    def accuracy():
        hits = 0
        with no_grad():
            for i in range(0, len(labels), batch_size):
                out = keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
                # a binary head is one sigmoid unit
                pred = (out[:, 0] > 0.5) if out.shape[-1] == 1 else np.argmax(out, -1)
                hits += int((pred == labels[i:i + batch_size]).sum())
        return hits / len(labels)

    inference = accuracy()
    with batch_statistics(model):
        training = accuracy()
    return float(inference), float(training)


def series_facts(model, x):
    """Padding share and per-series scale spread of sequences `x`, and whether the
    model z-normalises (`series_norm`) or resamples (`resample_to`) them."""
    from kzoo.zoo.series import SeriesPreparation, scale_spread, valid_lengths

    prep = next((la for la in model.layers if isinstance(la, SeriesPreparation)), None)
    mask = prep.mask_value if prep is not None else 0.0
    lengths = valid_lengths(x, mask)
    return {"padding_share": float(1.0 - lengths.sum() / (len(x) * x.shape[1])),
            "scale_spread": scale_spread(x, lengths),
            "series_norm": bool(prep is not None and prep.normalize),
            "resample_to": int(prep.resample_to) if prep is not None else 0}
