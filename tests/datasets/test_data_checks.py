"""The one data check (issue 26): each label or input that trained silently before
is refused with one line naming the file, the split and the fix, or announced
(an inferred regression). Loading cannot depend on the backend: jax only."""

import keras
import numpy as np
import pytest
from _backends import one_backend

import kzoo.datasets
from kzoo.datasets import Dataset, from_arrays
from kzoo.datasets.ucr import load_ucr
from kzoo.runtime.errors import DataError

pytestmark = one_backend("tensorflow", "data checks; the backend cannot matter")


def _x(n=60, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype("float32")


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return str(path)


def _refused(spec, *words, **options):
    with pytest.raises(DataError) as err:
        kzoo.datasets.load(spec, **options)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_negative_labels_in_an_npz_are_refused_with_a_fix(tmp_path):
    path = _npz(tmp_path, x_train=_x(), y_train=np.arange(60) % 3 - 1)
    _refused(path, path, "y_train", "negative", "y - y.min()")


def test_a_val_or_test_class_the_training_split_lacks_is_refused(tmp_path):
    y = np.arange(60) % 10
    path = _npz(tmp_path, x_train=_x(), y_train=y, x_val=_x(10, 1), y_val=np.full(10, 12),
                x_test=_x(10, 2), y_test=np.arange(10))
    _refused(path, path, "y_val", "12", "training split never has")
    path = _npz(tmp_path, x_train=_x(), y_train=y, x_val=_x(10, 1), y_val=np.arange(10),
                x_test=_x(10, 2), y_test=np.full(10, 12))
    _refused(path, "y_test", "12")


def test_a_training_split_with_one_class_is_refused(tmp_path):
    path = _npz(tmp_path, x_train=_x(), y_train=np.zeros(60, "int64"), x_val=_x(10, 1),
                y_val=np.arange(10) % 2)
    _refused(path, path, "y_train", "single class")


def test_non_integer_float_labels_are_an_announced_regression(tmp_path):
    path = _npz(tmp_path, x_train=_x(), y_train=np.arange(60) % 3 + 0.5)
    ds = kzoo.datasets.load(path)
    assert ds.task == "regression" and "regression" in ds.info["task_note"]
    assert path in ds.info["task_note"]
    # A Dataset that calls them classes is refused.
    bad = Dataset("mine", _x(), np.arange(60) % 3 + 0.5, _x(10), np.arange(10) % 3 + 0.5,
                  None, None, "multiclass", 3, "tabular")
    with pytest.raises(DataError, match="mine: y_train holds non-integer labels"):
        bad.check()


def test_no_features_is_refused(tmp_path):
    path = _npz(tmp_path, x_train=np.zeros((60, 0), "float32"), y_train=np.arange(60) % 2)
    _refused(path, path, "no features")
    empty = Dataset("mine", np.zeros((6, 0)), np.arange(6) % 2, np.zeros((2, 0)),
                    np.arange(2), None, None, "binary", 2, "tabular")
    with pytest.raises(DataError, match="x_train .* no features"):
        empty.check()


def test_a_csv_header_without_a_label_column_lists_the_columns(tmp_path):
    path = tmp_path / "waves.csv"
    path.write_text("t0,t1,kind\n" + "\n".join(f"{i},{i + 1},{i % 2}" for i in range(20)))
    message = _refused(str(path), str(path), "no label column", "'t0'", "'kind'", "label=")
    assert "line" not in message
    assert kzoo.datasets.load(str(path), label="kind").num_classes == 2  # named: accepted


def test_labels_outside_0_to_c_minus_1_in_a_dataset_are_refused():
    ds = Dataset("mine", _x(), np.arange(60) % 4, _x(10), np.arange(10) % 3, None, None,
                 "multiclass", 3, "tabular")
    with pytest.raises(DataError, match=r"mine: y_train labels span \[0, 3\].*0\.\.2"):
        ds.check()
    ds = Dataset("mine", _x(), np.arange(60) % 3, _x(10), np.arange(10) % 3, None, None,
                 "multiclass", 3, "tabular", classes=["a", "b", "c"])
    ds.y_train, ds.y_val = np.arange(60) % 2, np.arange(10) % 2  # class 'c' nowhere in train
    with pytest.raises(DataError, match="'c' never occur in the training split"):
        ds.check()


def test_a_class_too_small_to_split_is_named_not_silently_dropped():
    y = np.r_[np.zeros(30, int), np.ones(29, int), 2]  # class 2: a single example
    try:
        ds = from_arrays(_x(), y, seed=0)
    except DataError as err:
        assert "2" in str(err) and "training split" in str(err)
    else:
        assert 2 in ds.y_train  # kept in train when the split allows


BOM_TS = "\ufeff@problemName Toy\r\n@univariate true\r\n@classLabel true a b\r\n@data\r\n"


def _ucr(tmp_path, train, test):
    folder = tmp_path / "Toy"
    folder.mkdir()
    (folder / "Toy_TRAIN.ts").write_bytes(train.encode("utf-8"))
    (folder / "Toy_TEST.ts").write_bytes(test.encode("utf-8"))
    return tmp_path


def test_ts_files_with_a_bom_and_crlf_load(tmp_path):
    root = _ucr(tmp_path, BOM_TS + "1,2,3:a\r\n4,5,6:b\r\n", BOM_TS + "1,1,1:b\r\n")
    data = load_ucr("Toy", root=root, download_missing=False)
    assert data["x_train"].shape == (2, 3, 1) and data["y_test"].tolist() == [1]


def test_ts_without_labels_says_so(tmp_path):
    head = "@problemName Toy\n@univariate true\n@classLabel false\n@data\n"
    root = _ucr(tmp_path, head + "1,2,3\n4,5,6\n", head + "1,1,1\n")
    with pytest.raises(DataError, match=r"Toy_TRAIN.ts has no labels .*@classLabel false"):
        load_ucr("Toy", root=root, download_missing=False)


def test_a_corrupt_checksum_cache_is_named_with_the_fix(tmp_path):
    root = _ucr(tmp_path, BOM_TS + "1,2:a\n3,4:b\n", BOM_TS + "1,1:a\n")
    (root / "ucr_checksums.json").write_text('{"Toy": {"files": ')
    with pytest.raises(DataError, match=r"ucr_checksums.json, line 1: not valid JSON.*delete"):
        load_ucr("Toy", root=root, download_missing=False)


def test_csv_decode_and_parse_errors_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"label,a\n0,1\n1,\xe9\n")
    _refused(str(path), str(path), "line 3", "UTF-8")
    path = tmp_path / "nul.csv"
    path.write_bytes(b"label,a\n0,1\n1,\x002\n")
    with pytest.raises(DataError, match=r"nul.csv, line \d"):
        kzoo.datasets.load(str(path))


class _Batches(keras.utils.PyDataset):
    def __init__(self, y):
        super().__init__()
        self.y = y

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return np.ones((len(self.y), 3), "float32"), self.y


def test_a_stream_s_first_batch_goes_through_the_same_label_check():
    from kzoo.training import prepare_data

    with pytest.raises(DataError, match=r"_Batches: y_train \(first batch\) holds negative"):
        prepare_data(_Batches(np.array([0, -1, 1])), num_classes=2, task="binary")
    with pytest.raises(DataError, match=r"labels span \[0, 5\]"):
        prepare_data(_Batches(np.array([0, 5, 1])), num_classes=3)
    assert prepare_data(_Batches(np.array([0, 2, 1])), num_classes=3).num_classes == 3


def test_tune_checks_a_dataset_it_is_given():
    from kzoo.tuning.api import load_data

    ds = Dataset("mine", _x(), np.arange(60) % 3, _x(10), np.full(10, 7), None, None,
                 "multiclass", 8, "tabular")
    with pytest.raises(DataError, match="mine: y_val holds class"):
        load_data(ds)


@pytest.mark.parametrize("spec, words", [
    ("digits:val_fraction=1.5", "val_fraction must be a fraction in (0, 1)"),
    ("adding:val_fraction=0.9,test_fraction=0.5", "leaves no training examples"),
])
def test_built_in_split_fractions_are_settings_errors(spec, words):
    from kzoo.runtime.errors import UsageError

    with pytest.raises(UsageError) as err:
        kzoo.datasets.load(spec)
    assert words in str(err.value)
