"""How the plain command prepares sequences: per-series scale and unequal lengths.

The rule (`choose`), applied by `kzoo train`, `kzoo.train` and `kzoo tune` to
sequence data given as arrays (streams are left as they come):

- **Scale.** Each training series' standard deviation over its valid
  (unpadded) steps is measured per channel. When the 95th / 5th percentile
  ratio of those deviations exceeds `SCALE_SPREAD` (100) in any channel, every
  series is z-normalised over its own valid steps (`series_norm=True`, the UCR
  archive's convention). Otherwise the data keeps today's preparation (the
  per-feature standardisation of files and arrays; archive sets as shipped).
  Percentiles, not min/max: one flat or spiky series must not decide.
- **Length.** Unequal-length (right-padded) data trained by a family whose
  masking stops at the pooling (`RESAMPLE_FAMILIES`: their convolutions and
  BatchNorm statistics still see the padding) is resampled to one length
  (`resample_to` = the longest training series, at most `MAX_STEPS`). Other
  families keep masking (`kzoo.zoo.auto_masking`).

Both run inside the model (`kzoo.zoo.series.SeriesPreparation`), so the saved
model prepares raw series at predict time the same way. A value the user gives
(`--hp series_norm=false`, `--hp resample_to=0`) is kept. config.json records
each choice, its source and its reason under `resolved` (`series_norm`,
`lengths`); benchmarks/RESULTS.md holds the measurements behind the numbers.
"""

import numpy as np

from kzoo.datasets import npy_rows
from kzoo.zoo import get_spec
from kzoo.zoo.series import scale_spread, valid_lengths

SCALE_SPREAD = 100.0
RESAMPLE_FAMILIES = ("fcn", "resnet1d", "inception_time")
MAX_STEPS = 512


def _train_arrays(data):
    train = getattr(data, "train", None)
    if isinstance(train, tuple):
        return npy_rows.sample(train[0])  # streamed .npy rows: a sample of them
    return getattr(data, "x_train", None)


def choose(model_name, hparams, data):
    """Add `series_norm` / `resample_to` to `hparams` by the rule (module doc).

    Args:
        model_name: a registered model name.
        hparams: the hyperparameters given by the user (kept as given).
        data: `PreparedData` or `Dataset`.

    Returns:
        `(hparams, record)`: a new dict, and `{"series_norm": ..., "lengths": ...}`,
        each `{"value", "source", "note"}` (empty for tabular families or data).
    """
    hparams = dict(hparams)
    if get_spec(model_name).kind != "sequence":
        return hparams, {}
    x = _train_arrays(data)
    if x is None or np.ndim(x) != 3:
        return hparams, {}
    mask_value = float(hparams.get("mask_value", (getattr(data, "info", None) or {})
                                   .get("mask_value", 0.0)))
    lengths = valid_lengths(x, mask_value)
    spread = scale_spread(x, lengths)
    record = {}
    fact = (f"95th/5th percentile of per-series std {spread:.3g} "
            f"({'>' if spread > SCALE_SPREAD else '<='} {SCALE_SPREAD:g})")
    if "series_norm" in hparams:
        record["series_norm"] = _entry(hparams["series_norm"], "user", f"given; {fact}")
    else:
        norm = bool(spread > SCALE_SPREAD)
        if norm:  # only then in hparams: unchanged runs and searches keep their config
            hparams["series_norm"] = True
        record["series_norm"] = _entry(
            norm, "data rule", f"{fact}: " + ("each series z-normalised over its valid steps"
                                              if norm else "data kept on its scale"))
    equal = bool((lengths == x.shape[1]).all())
    shown = f"lengths {lengths.min()}-{lengths.max()} of {x.shape[1]} padded steps"
    padding = 1.0 - lengths.sum() / lengths.size / x.shape[1]
    if "resample_to" in hparams:
        steps = hparams["resample_to"]
        record["lengths"] = _entry(f"resample to {steps}" if steps else "as given", "user",
                                   f"given; {shown}")
    elif equal:
        record["lengths"] = _entry("equal", "data rule", f"every series has {x.shape[1]} steps")
    elif model_name in RESAMPLE_FAMILIES and "masking" not in hparams:
        steps = int(min(lengths.max(), MAX_STEPS))
        hparams["resample_to"] = steps
        record["lengths"] = _entry(
            f"resample to {steps}", "data rule",
            f"{shown} ({padding:.0%} padding); {model_name}'s convolutions and BatchNorm "
            "would see the padding, so each series is linearly resampled to the longest "
            f"training length (at most {MAX_STEPS})")
    else:
        record["lengths"] = _entry("mask", "data rule",
                                   f"{shown} ({padding:.0%} padding); the family masks them")
    return hparams, record


def _entry(value, source, note):
    return {"value": value, "source": source, "note": note}


def resampled(hparams):
    """Whether `hparams` resample (the data then reaches the family unpadded)."""
    return bool(hparams.get("resample_to"))


def notes(record):
    """One line for the user, or None when the rule changed nothing (masking has
    `auto_masking`'s own note)."""
    lines = [f"{k}: {v['value']} ({v['note']})" for k, v in record.items()
             if v["source"] == "data rule" and v["value"] not in (False, "equal", "mask")]
    return ("kzoo: " + "; ".join(lines)) if lines else None


def record_into(resolved, record):
    """Add the choices to a `Resolved` (config.json's `resolved`)."""
    for name, entry in record.items():
        resolved.values[name] = entry["value"]
        resolved.sources[name] = entry["source"]
        resolved.notes[name] = entry["note"]
