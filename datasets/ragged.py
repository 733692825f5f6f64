"""`ragged`: a UCR set made to look like series as they come from sensors and logs.

`kzoo.datasets.load("ragged:Trace")` reads `ucr:Trace` and gives every series
(train and test alike) a random length and a random scale (`distort`):

- a random length of `min_fraction`..1 of its steps (uniform), right-padded with
  0.0 like the archive's own unequal-length sets: by default (`cut="prefix"`) the
  series' first steps, the rest dropped; with `cut="stretch"` the whole series
  resampled (linear interpolation) to that length, as when the same event is
  recorded at different durations or rates (gestures, device signatures);
- a factor `10**u`, `u` uniform over `decades` orders of magnitude centred on
  1 (6 by default: 1e-3 to 1e3), and an offset of -3..3 times that factor.

The distortion is seeded by `data_seed` (default 0) alone, so every training
seed sees the same series; `seed` draws the validation split as in `ucr:`.
It is the development set of issue 32: the shared sets are equal-length and
z-normalised (or, JapaneseVowels, short and on one scale), which hides what
padding and per-series scale do to the plain command.
"""

import numpy as np

from kzoo.datasets._base import register_dataset
from kzoo.datasets.ucr import MASK_VALUE, load_ucr, split_archive
from kzoo.runtime.errors import UsageError


def distort(x, lengths, rng, *, min_fraction=0.4, decades=6.0, cut="prefix"):
    """Give each series a random length (a prefix, or the whole series stretched),
    rescale and offset it.

    Args:
        x: `(n, steps, channels)` series, right-padded with `MASK_VALUE`.
        lengths: the valid steps of each series.
        rng: a `numpy.random.Generator`.
        min_fraction: shortest prefix, as a fraction of each series' length.
        decades: orders of magnitude the per-series factors span.
        cut: `"prefix"` keeps the first steps; `"stretch"` resamples the whole series.

    Returns:
        `(x, lengths)`: the new series, padded to `x`'s steps, and their lengths.
    """
    n = len(x)
    keep = rng.uniform(min_fraction, 1.0, n)
    new_lengths = np.maximum(2, np.round(keep * np.asarray(lengths))).astype(int)
    scale = 10.0 ** rng.uniform(-decades / 2, decades / 2, n)
    offset = rng.uniform(-3.0, 3.0, n) * scale
    out = np.full_like(x, MASK_VALUE, dtype="float32")
    for i, length in enumerate(new_lengths):
        series = x[i, :length] if cut == "prefix" else _stretch(x[i, :lengths[i]], length)
        out[i, :length] = series * scale[i] + offset[i]
    return out, new_lengths.tolist()


def _stretch(series, length):
    """`series` (steps, channels) linearly resampled to `length` steps, ends kept."""
    old = np.linspace(0.0, 1.0, len(series))
    new = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, series[:, c]) for c in range(series.shape[1])], -1)


@register_dataset("ragged", description="A UCR set cut to random lengths and rescaled "
                  "per series, e.g. ragged:Trace (issue 32's development set).")
def ragged(name=None, *, seed=0, data_seed=0, min_fraction=0.4, decades=6.0,
           cut="prefix", val_fraction=0.2, root=None):
    """`kzoo.datasets.load("ragged:Trace")`: `ucr:Trace` with series of random
    length and scale (`distort`, seeded by `data_seed`)."""
    if name is None:
        raise UsageError("ragged: give a UCR dataset name, e.g. 'ragged:Trace'.")
    if not 0.0 < min_fraction <= 1.0 or not decades >= 0:
        raise UsageError(f"ragged: min_fraction must lie in (0, 1] and decades be >= 0, "
                         f"got {min_fraction!r}, {decades!r}.")
    if cut not in ("prefix", "stretch"):
        raise UsageError(f"ragged: cut must be 'prefix' or 'stretch', got {cut!r}.")
    data = load_ucr(str(name), root=root)
    rng = np.random.default_rng(data_seed)
    info = dict(data["info"])
    for part in ("train", "test"):
        data[f"x_{part}"], info[f"lengths_{part}"] = distort(
            data[f"x_{part}"], info[f"lengths_{part}"], rng, min_fraction=min_fraction,
            decades=decades, cut=cut)
    info.update(equal_length=False, distortion={"data_seed": data_seed,
                "min_fraction": min_fraction, "decades": decades, "cut": cut})
    data["info"] = info
    return split_archive(data, f"ragged:{name}", seed, val_fraction)
