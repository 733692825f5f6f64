"""`ucr`: the UCR (univariate) and UEA (multivariate) time-series classification archives.

`load_ucr(name)` reads the archives' `.ts` text format: univariate and
multivariate, equal and unequal length. Unequal-length series are right-padded
with `mask_value` (0.0) to the longest series of the dataset; `info["lengths"]`
and `info["mask_value"]` tell a model to mask them (`masking=True` in the zoo's
sequence families). Class labels are mapped to `0..C-1`; `classes[i]` is the
archive's label of class `i`.

Cache: `$KZOO_DATA/<Name>/<Name>_TRAIN.ts` and `_TEST.ts`, where `KZOO_DATA`
defaults to `~/.cache/kzoo/ucr`. A dataset missing from the cache is
downloaded as `<Name>.zip` from the first of `MIRRORS` that answers with a
verified archive: the archive's own site, then sktime's copy on GitHub (the
mirror list of sktime's `sktime/datasets/_data_io.py`, `CLASSIF_URLS`; aeon
fell back to the Zenodo "tsml" community records in aeon PR #1531, one record
per dataset, and now loads from Zenodo only). The SHA-256 of each zip (per
mirror URL) and of each `.ts` file is recorded in `$KZOO_DATA/ucr_checksums.json`
on the first download; a later download is checked against it before
extraction (zip, same URL) or before installing (the `.ts` files, another
mirror), and `sha256=` pins a zip's digest up front. Downloads and extraction
are capped (`ucr_download.MAX_DOWNLOAD_BYTES`, `MAX_EXTRACT_BYTES`, `MAX_RATIO`, counted on
the bytes actually read, not the zip's headers). A truncated, corrupt,
oversized or mismatching download raises and leaves the cache untouched (files
are written to a temporary folder and renamed into place only once complete).

As a registered dataset, `kzoo.datasets.load("ucr:GunPoint", seed=0)` keeps
the archive's test split as the test set and carves a stratified validation
split (`val_fraction`, default 0.2) out of the archive's train split.

Please cite the archives: Dau et al. 2019 (UCR), Bagnall et al. 2018 (UEA).
"""

import os
import pathlib

import numpy as np

from kzoo.datasets._base import Dataset, carve_per_class, register_dataset
from kzoo.datasets.ucr_download import MIRRORS, download, read_checksums, verify_files
from kzoo.runtime.errors import DataError, UsageError

MASK_VALUE = 0.0


class TsFormatError(DataError):
    """A malformed `.ts` file; the message names the file and line."""


def data_dir():
    """The UCR cache folder: `$KZOO_DATA`, by default `~/.cache/kzoo/ucr`."""
    root = os.environ.get("KZOO_DATA")
    path = pathlib.Path(root).expanduser() if root else pathlib.Path.home() / ".cache/kzoo/ucr"
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"KZOO_DATA={root} is a file, not a folder; point KZOO_DATA at the folder that "
            "holds (or will cache) <Name>/<Name>_TRAIN.ts, or unset it."
        )
    return path


def parse_ts(path):
    """Parse one `.ts` file.

    Returns:
        `(series, labels, header)`: a list of float32 arrays shaped
        `(length, channels)`, the label string of each series, and the header
        fields (`problemname`, `classlabel`, `dimensions`, ...) as strings.

    Raises:
        TsFormatError: naming the file and line, for a missing `@data`, a wrong
            number of dimensions, a non-numeric value or a missing label.
    """
    path = pathlib.Path(path)
    header, series, labels = {}, [], []
    in_data = False
    # utf-8-sig: a byte-order mark (Windows editors) is skipped; CRLF ends a line too.
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path.name}, line {lineno}"
            if not in_data:
                if not line.startswith("@"):
                    raise TsFormatError(
                        f"{where}: data before the @data line; a .ts file needs a header "
                        "ending in '@data'."
                    )
                key, _, value = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                else:
                    header[key] = value.strip()
                continue
            series.append(_parse_case(line, header, where, labels))
    if not header and not in_data:
        raise TsFormatError(f"{path.name}: the file is empty (no header, no data).")
    if not in_data:
        raise TsFormatError(f"{path.name}: no '@data' line found; is this a .ts file?")
    if not series:
        raise TsFormatError(f"{path.name}: no series after '@data'.")
    return series, labels, header


def _parse_case(line, header, where, labels):
    declared = header.get("classlabel", "true").split()
    has_label = bool(declared) and declared[0].lower() == "true"
    parts = line.split(":")
    if has_label:
        if len(parts) < 2 or not parts[-1].strip():
            raise TsFormatError(f"{where}: missing class label (expected 'values:label').")
        label = parts[-1].strip()
        if len(declared) > 1 and label not in declared[1:]:
            raise TsFormatError(
                f"{where}: class label {label!r} is not among those @classLabel declares "
                f"({' '.join(declared[1:])})."
            )
        labels.append(label)
        parts = parts[:-1]
    expected = header.get("dimensions")
    if expected is None and header.get("univariate", "true").lower() == "true":
        expected = "1"
    if expected is not None and not expected.isdigit():
        raise TsFormatError(f"{where}: @dimensions must be a whole number, got {expected!r}.")
    if expected is not None and len(parts) != int(expected):
        raise TsFormatError(
            f"{where}: {len(parts)} dimension(s), but the header declares {expected}."
        )
    channels = []
    for dim, text in enumerate(parts):
        try:
            values = [float(v) if v.strip() != "?" else np.nan for v in text.split(",")]
        except ValueError:
            bad = next(v for v in text.split(",") if not _is_number(v))
            raise TsFormatError(
                f"{where}: non-numeric value {bad.strip()!r} in dimension {dim}."
            ) from None
        channels.append(values)
    lengths = {len(c) for c in channels}
    if len(lengths) != 1:
        raise TsFormatError(f"{where}: dimensions have different lengths {sorted(lengths)}.")
    return np.asarray(channels, dtype="float32").T


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return text.strip() == "?"


def _pad(series, length):
    out = np.full((len(series), length, series[0].shape[1]), MASK_VALUE, dtype="float32")
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out


def _class_order(labels, declared):
    names = declared.split(" ")[1:] if declared else []
    names = [n for n in names if n] or sorted(set(labels))
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def load_ucr(name, *, root=None, download_missing=True, mirrors=MIRRORS, sha256=None):
    """Read a UCR/UEA dataset, downloading it when it is not cached.

    Args:
        name: the archive's name, e.g. `"GunPoint"`, `"JapaneseVowels"`.
        root: cache folder. Defaults to `data_dir()` (`$KZOO_DATA`).
        download_missing: download when the files are not cached. Defaults to `True`.
        mirrors: base URLs tried in order for `<name>.zip`. Defaults to `MIRRORS`.
        sha256: the zip's expected SHA-256, checked before extraction. Defaults to
            `None` (the digests recorded at the first download are checked).

    Returns:
        A dict with `x_train`, `y_train`, `x_test`, `y_test` (x float32 shaped
        `(n, steps, channels)`, right-padded with `0.0` when lengths differ;
        y int32 in `0..C-1`), `classes` (archive label of each index) and `info`
        (`lengths_train`, `lengths_test`, `equal_length`, `mask_value`, `source`).

    Example:

    >>> data = load_ucr("GunPoint")
    >>> data["x_train"].shape
    (50, 150, 1)
    """
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise UsageError(f"ucr: invalid dataset name {name!r}; use e.g. 'ucr:GunPoint'.")
    root = pathlib.Path(root) if root is not None else data_dir()
    folder = root / name
    paths = [folder / f"{name}_{split}.ts" for split in ("TRAIN", "TEST")]
    if not all(p.is_file() for p in paths):
        if not download_missing:
            raise DataError(
                f"ucr: {name} is not in {root} and download_missing=False. Set KZOO_DATA "
                f"to the folder holding {name}/{name}_TRAIN.ts."
            )
        download(name, root, mirrors=mirrors, sha256=sha256)
    record = read_checksums(root).get(name)
    if record:
        verify_files(name, folder, record)
    (s_train, l_train, header), (s_test, l_test, test_header) = (parse_ts(p) for p in paths)
    for path, head in zip(paths, (header, test_header), strict=True):
        declared = head.get("classlabel", "true").split()
        if declared and declared[0].lower() == "false":
            raise DataError(
                f"ucr: {path} has no labels (its header says '@classLabel false'); kzoo "
                "trains classifiers on labelled .ts files: use the labelled version of the "
                "file, with '@classLabel true <labels>'.")
    if s_train[0].shape[1] != s_test[0].shape[1]:
        raise DataError(f"ucr: {name} train and test have different channel counts.")
    classes = _class_order(l_train + l_test, header.get("classlabel", ""))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(l_train + l_test) - set(index), key=str)
    if unknown:
        raise DataError(f"ucr: {name} uses labels {unknown} not declared in @classLabel.")
    lengths_train = [len(s) for s in s_train]
    lengths_test = [len(s) for s in s_test]
    longest = max(lengths_train + lengths_test)
    return {
        "x_train": _pad(s_train, longest),
        "y_train": np.asarray([index[c] for c in l_train], dtype="int32"),
        "x_test": _pad(s_test, longest),
        "y_test": np.asarray([index[c] for c in l_test], dtype="int32"),
        "classes": classes,
        "info": {
            "source": str(folder),
            "lengths_train": lengths_train,
            "lengths_test": lengths_test,
            "equal_length": len(set(lengths_train + lengths_test)) == 1,
            "mask_value": MASK_VALUE,
            "cite": "Dau et al. 2019 (UCR); Bagnall et al. 2018 (UEA)",
        },
    }


@register_dataset("ucr", description="UCR/UEA archive dataset by name, e.g. ucr:GunPoint.")
def ucr(name=None, *, seed=0, val_fraction=0.2, root=None):
    """`kzoo.datasets.load("ucr:GunPoint")`: validation carved from the archive's train split."""
    if name is None:
        raise UsageError("ucr: give a dataset name, e.g. 'ucr:GunPoint' or 'ucr:name=GunPoint'.")
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"ucr: val_fraction must lie in (0, 1), got {val_fraction!r}.")
    return split_archive(load_ucr(str(name), root=root), f"ucr:{name}", seed, val_fraction)


def split_archive(data, name, seed, val_fraction):
    """A `Dataset` from `load_ucr`'s dict: the archive's test split kept, a stratified
    `val_fraction` of its train split (seeded) as validation."""
    x, y = data["x_train"], data["y_train"]
    # Stratified; at least one per class stays in train; PigCVP (2 a class, 0.2 * 2
    # rounds to 0): one example each from round(n * val_fraction) classes.
    val = carve_per_class(
        y, np.arange(len(y)), val_fraction, np.random.default_rng(seed),
        what=f"{name}: validation split of the train split",
        fix="give a validation split of your own as an .npz (x_val, y_val).")
    train = np.setdiff1d(np.arange(len(y)), val)
    info = {**data["info"], "seed": seed, "val_fraction": val_fraction}
    return Dataset(
        name=name,
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        x_test=data["x_test"],
        y_test=data["y_test"],
        task="multiclass",
        num_classes=len(data["classes"]),
        kind="sequence",
        classes=data["classes"],
        info=info,
    )
