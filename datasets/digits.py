"""`digits` and `digits-seq`: scikit-learn's 8x8 handwritten digits (embedded, no network).

`digits` gives the 64 pixels as features. `digits-seq` reads each image row by
row: 8 steps of 8 features, a small real sequence task (the model must carry
information across steps to tell, e.g., 3 from 8). 1797 images, 10 classes,
split 60/20/20, stratified; standardisation is fitted on the training split.
Source: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998),
shipped with scikit-learn.
"""

from kzoo.datasets._base import (
    Dataset,
    check_fractions,
    register_dataset,
    split_indices,
    standardize,
)


def _load(seed, sequence, val_fraction, test_fraction):
    from sklearn.datasets import load_digits

    check_fractions("digits-seq" if sequence else "digits", val_fraction, test_fraction)
    digits = load_digits()
    x = digits.data.astype("float32")
    y = digits.target.astype("int32")
    train, val, test = split_indices(
        len(x), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, stratify=y
    )
    if sequence:
        x = x.reshape(-1, 8, 8)
    (xtr, xva, xte), stats = standardize(x[train], x[val], x[test])
    return Dataset(
        name="digits-seq" if sequence else "digits",
        x_train=xtr,
        y_train=y[train],
        x_val=xva,
        y_val=y[val],
        x_test=xte,
        y_test=y[test],
        task="multiclass",
        num_classes=10,
        kind="sequence" if sequence else "tabular",
        classes=list(range(10)),
        info={"source": "sklearn.datasets.load_digits", "seed": seed, "standardize": stats},
    )


@register_dataset("digits", description="8x8 digits as 64 features (1797 images, 10 classes).")
def digits(*, seed=0, val_fraction=0.2, test_fraction=0.2):
    return _load(seed, False, val_fraction, test_fraction)


@register_dataset("digits-seq", description="8x8 digits as 8 steps of 8 features (rows).")
def digits_seq(*, seed=0, val_fraction=0.2, test_fraction=0.2):
    return _load(seed, True, val_fraction, test_fraction)
