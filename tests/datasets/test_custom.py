"""Your own data: from_arrays, .npz and .csv through kzoo.datasets.load."""

import zipfile

import numpy as np
import pytest

import kzoo.datasets
from kzoo.datasets import from_arrays


def _xy(n=60, steps=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n, steps, 2)).astype("float32")
    y = np.arange(n) % classes
    return x, y


def test_from_arrays_splits_standardises_and_has_no_test_unless_asked():
    x, y = _xy()
    ds = from_arrays(x, y, seed=1)
    assert (len(ds.x_train), len(ds.x_val)) == (48, 12)
    assert ds.x_test is None and ds.y_test is None and not ds.has_test
    assert ds.summary().endswith("train/val/test 48/12/none")
    assert ds.task == "multiclass" and ds.num_classes == 3 and ds.kind == "sequence"
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1)), 1.0, atol=1e-4)
    assert np.bincount(ds.y_val).tolist() == [4, 4, 4]  # stratified
    again = from_arrays(x, y, seed=1)
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    with_test = from_arrays(x, y, val=0.2, test=0.25, seed=1)
    assert with_test.has_test and len(with_test.x_test) == 15
    assert len(with_test.x_train) + len(with_test.x_val) + 15 == 60


def test_from_arrays_maps_labels_and_takes_given_splits():
    x, y = _xy(n=40, classes=2)
    names = np.where(y == 0, "cat", "dog")
    ds = from_arrays(x[:30], names[:30], val=(x[30:], names[30:]), test=(x[30:], names[30:]))
    assert ds.classes == ["cat", "dog"] and ds.task == "binary"
    assert len(ds.x_train) == 30 and ds.has_test
    np.testing.assert_array_equal(ds.y_val, (names[30:] == "dog").astype("int32"))
    ucr_style = from_arrays(x, y + 1)  # labels 1, 2 become 0, 1
    assert ucr_style.classes == [1, 2] and set(np.unique(ucr_style.y_train)) == {0, 1}
    reg = from_arrays(x, np.linspace(0, 1, 40))
    assert reg.task == "regression" and reg.num_classes == 1 and reg.classes is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"y": np.arange(59)}, "x has 60 examples but y has 59"),
        ({"y": np.array([])}, "y is empty"),
        ({"y": np.full(60, 0.5) + np.arange(60) % 2, "task": "classification"},
         "non-integer values"),
        ({"y": np.zeros(60)}, "single class"),
        ({"x": np.full((60, 5, 2), np.nan)}, "NaN or inf"),
        ({"val": (np.zeros((5, 4, 2)), np.zeros(5))}, "same features"),
        ({"val": 1.5}, "fraction"),
    ],
    ids=["length", "empty-y", "float-labels", "one-class", "nan", "val-shape", "bad-fraction"],
)
def test_from_arrays_errors_name_the_problem(kwargs, message):
    x, y = _xy()
    args = {"x": x, "y": y, **kwargs}
    with pytest.raises(ValueError, match=message):
        from_arrays(args.pop("x"), args.pop("y"), **args)


def test_npz_loads_with_and_without_splits(tmp_path):
    x, y = _xy()
    path = tmp_path / "waves.npz"
    np.savez(path, x_train=x, y_train=y)
    ds = kzoo.datasets.load(str(path), seed=0)
    assert not ds.has_test and len(ds.x_val) == 12 and ds.name == str(path)
    asked = kzoo.datasets.load(f"{path}:test=0.25")  # carved only when asked
    assert asked.has_test and len(asked.x_test) == 15
    full = tmp_path / "full.npz"
    np.savez(full, x_train=x[:40], y_train=y[:40], x_val=x[40:50], y_val=y[40:50],
             x_test=x[50:], y_test=y[50:])
    ds = kzoo.datasets.load(full)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (40, 10, 10)
    # standardised with the train statistics, not the test split's own
    mean, std = x[:40].mean(axis=(0, 1)), x[:40].std(axis=(0, 1))
    np.testing.assert_allclose(ds.x_test, (x[50:] - mean) / std, rtol=1e-4, atol=1e-4)


def _npz_with_header_claiming(path, shape):
    """A valid zip whose x_train.npy header declares `shape` but holds 8 bytes."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, "float32"))
    header["shape"] = shape
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x_train.npy", buffer.getvalue() + b"\0" * 8)
        y = io.BytesIO()
        np.lib.format.write_array(y, np.zeros(3, "int64"))
        zf.writestr("y_train.npy", y.getvalue())


def test_bad_npz_files_get_clear_errors(tmp_path):
    folder = tmp_path / "dir.npz"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        kzoo.datasets.load(str(folder))
    with pytest.raises(ValueError, match="does not exist"):
        kzoo.datasets.load(str(tmp_path / "missing.npz"))
    text = tmp_path / "notes.npz"
    text.write_text("x_train,y_train\n1,2\n")
    with pytest.raises(ValueError, match="not a valid .npz file") as err:
        kzoo.datasets.load(str(text))
    assert "pickle" not in str(err.value)
    x, y = _xy()
    good = tmp_path / "good.npz"
    np.savez(good, x_train=x, y_train=y)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        kzoo.datasets.load(str(truncated))
    huge = tmp_path / "huge.npz"
    _npz_with_header_claiming(huge, (10**13,))  # 40 TB of float32
    with pytest.raises(ValueError, match=r"declares shape \(10000000000000,\) \(36\.4 TiB\)"):
        kzoo.datasets.load(str(huge))


def test_npz_split_pairs_and_keys(tmp_path):
    x, y = _xy()
    path = tmp_path / "a.npz"
    np.savez(path, x_train=x, y_train=y, x_val=x[:5])
    with pytest.raises(ValueError, match="has x_val but no y_val"):
        kzoo.datasets.load(str(path))
    np.savez(path, x_train=x, y_train=y[:-1])
    with pytest.raises(ValueError, match="x has 60 examples but y has 59"):
        kzoo.datasets.load(str(path))
    np.savez(path, x_train=x, y_train=np.array([], "int64"))
    with pytest.raises(ValueError, match="y is empty"):
        kzoo.datasets.load(str(path))
    np.savez(path, features=x)
    with pytest.raises(ValueError, match="has no 'x_train'"):
        kzoo.datasets.load(str(path))
    np.savez(path, x_train=x, y_train=np.linspace(0.1, 2.9, 60))
    with pytest.raises(ValueError, match="non-integer values"):
        kzoo.datasets.load(str(path), task="classification")
    assert kzoo.datasets.load(str(path)).task == "regression"  # asked for nothing: inferred


def test_csv_label_column_by_header_first_column_or_name(tmp_path):
    rows = ["t0,t1,t2,class", "1,2,3,a", "2,3,4,b", "3,4,5,a", "4,5,6,b", "5,6,7,a"] + [
        f"{i},{i + 1},{i + 2},{'ab'[i % 2]}" for i in range(6, 20)
    ]
    path = tmp_path / "waves.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = kzoo.datasets.load(str(path), val=0.25)
    assert ds.classes == ["a", "b"] and ds.input_shape == (3, 1) and not ds.has_test
    numbered = tmp_path / "numbered.csv"  # pandas' default column names
    numbered.write_text("0,1,label\n" + "\n".join(f"{i},{i + 3},{i % 2}" for i in range(20)))
    ds = kzoo.datasets.load(str(numbered))
    assert ds.input_shape == (2, 1) and len(ds.x_train) + len(ds.x_val) == 20
    no_header = tmp_path / "plain.csv"
    no_header.write_text("\n".join(f"{i % 2},{i},{i * 2}" for i in range(20)) + "\n")
    ds = kzoo.datasets.load(str(no_header))
    assert ds.classes == [0, 1] and ds.input_shape == (2, 1)
    named = tmp_path / "named.csv"
    named.write_text("a,b,kind\n" + "\n".join(f"{i},{i * 2},{i % 3}" for i in range(30)) + "\n")
    ds = kzoo.datasets.load(f"{named}:label=kind,kind=tabular")
    assert ds.num_classes == 3 and ds.input_shape == (2,) and ds.kind == "tabular"
    with pytest.raises(ValueError, match="no column named 'species'"):
        kzoo.datasets.load(str(named), label="species")
    bad = tmp_path / "bad.csv"
    bad.write_text("label,a,b\n0,1,2\n1,x,3\n")
    with pytest.raises(ValueError, match=r"line 3, column 2: non-numeric value 'x'"):
        kzoo.datasets.load(str(bad))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("0,1,2\n1,2\n")
    with pytest.raises(ValueError, match="line 2: 2 columns"):
        kzoo.datasets.load(str(ragged))


def test_small_classes_never_leave_training_and_single_examples_are_refused():
    """A class too small to stratify: each held-out class keeps an example in train
    (the plain shuffle it replaced put classes in val that train never had)."""
    x = np.random.default_rng(0).normal(size=(104, 6)).astype("float32")
    y = np.repeat(np.arange(52), 2)  # PigCVP's shape: 52 classes of 2 examples
    for seed in range(5):
        ds = from_arrays(x, y, val=0.2, test=0.2, seed=seed)
        train = set(ds.y_train.tolist())
        assert train == set(range(52))  # every class still trains
        assert set(ds.y_val.tolist()) <= train and set(ds.y_test.tolist()) <= train
        assert len(ds.y_val) == 17 and len(ds.y_test) == 21  # round(n * fraction) classes
        assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 104
    with pytest.raises(kzoo.DataError, match="single example.*val_data=False"):
        from_arrays(x[::2], y[::2], val=0.2)
