"""A seeded generator of malformed data (labels, shapes, dtypes, files) fed through
`kzoo.datasets.load`, and a few through `kzoo train` (issue 26). Every case ends in
an accepted dataset that satisfies the data check's guarantees, or in one line of
a kzoo error (exit >= 2) naming the file; never a traceback, never a contradiction
accepted. Loading cannot depend on the backend: jax only."""

import pathlib

import numpy as np
from _backends import one_backend

import kzoo.datasets
from kzoo.runtime.errors import KzooError

pytestmark = one_backend("tensorflow", "data checks; the backend cannot matter")
CASES = 300


def _labels(rng, n):
    """`(y, bad, regression)`: labels of a random kind, whether they must be refused,
    and whether they are regression targets (non-integer floats)."""
    kind = rng.choice(["ok", "gaps", "negative", "float", "integral-float", "nan", "strings",
                       "one-class", "bool"])
    c = int(rng.integers(2, 5))
    y = np.arange(n) % c
    if kind == "gaps":
        y = y * 3 + 1
    elif kind == "negative":
        y = y - 1
    elif kind == "float":
        y = y + 0.5
    elif kind == "integral-float":
        y = y.astype("float64")
    elif kind == "nan":
        y = y.astype("float64")
        y[int(rng.integers(n))] = np.nan
    elif kind == "strings":
        y = np.asarray(["cat", "dog", "eel", "fox"])[y]
    elif kind == "one-class":
        y = np.zeros(n, int)
    elif kind == "bool":
        y = y % 2 == 0
    return rng.permutation(y), kind in ("negative", "nan", "one-class"), kind == "float"


def _features(rng, n):
    kind = rng.choice(["ok", "ok", "seq", "no-features", "nan", "inf", "1-d", "4-d", "short"])
    shape = {"seq": (n, 5, 2), "no-features": (n, 0), "1-d": (n,), "4-d": (n, 2, 2, 2),
             "short": (n - 1, 3)}.get(kind, (n, 3))
    x = rng.normal(size=shape)
    if kind in ("nan", "inf"):
        x.flat[int(rng.integers(x.size))] = np.nan if kind == "nan" else np.inf
    return x, kind not in ("ok", "seq")


def _npz_case(rng, folder, i):
    n = int(rng.integers(20, 50))
    x, bad_x = _features(rng, n)
    y, bad_y, regression = _labels(rng, n)
    arrays = {"x_train": x, "y_train": y}
    bad = bad_x or bad_y
    extra = rng.choice(["none", "val", "val-unseen", "val-shape", "test-only-x", "no-y"])
    if extra in ("val", "val-unseen", "val-shape") and not bad_x:
        m = 10
        xv = rng.normal(size=(m, *x.shape[1:]) if extra != "val-shape" else (m, 7))
        yv = y[:m] if extra == "val" else np.full(m, 99)
        if y.dtype.kind in "U" and extra == "val-unseen":
            yv = np.full(m, "zebra")
        arrays.update(x_val=xv, y_val=yv)
        # an unseen class contradicts classes, not regression targets
        bad = bad or extra == "val-shape" or (extra == "val-unseen" and not regression)
    elif extra == "test-only-x":
        arrays["x_test"], bad = x[:5], True
    elif extra == "no-y":
        del arrays["y_train"]
        bad = True
    path = folder / f"case{i}.npz"
    np.savez(path, **arrays)
    return str(path), bad


def _csv_case(rng, folder, i):
    kind = rng.choice(["ok", "no-label-column", "ragged", "text-cell", "latin-1", "bom",
                       "empty", "header-only", "negative"])
    header = "label,a,b,c" if kind != "no-label-column" else "x,a,b,c"
    rows = [f"{j % 3 - (kind == 'negative')},{j},{j * 2},{j % 5}" for j in range(30)]
    if kind == "ragged":
        rows[7] += ",9"
    elif kind == "text-cell":
        rows[4] = "1,2,oops,4"
    text = "\n".join([header, *rows]) + "\n"
    data = {"empty": b"", "header-only": (header + "\n").encode()}.get(kind, text.encode())
    if kind == "latin-1":
        data = data.replace(b"oops", b"\xe9t\xe9") if b"oops" in data else data + b"1,\xe9,2,3\n"
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    path = folder / f"case{i}.csv"
    path.write_bytes(data)
    return str(path), kind not in ("ok", "bom")


def _check_accepted(ds, path):
    ds.check()
    assert ds.x_train.ndim in (2, 3) and ds.x_train.shape[1:] and 0 not in ds.x_train.shape
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_val).all()
    if ds.task == "regression":
        assert ds.info.get("task_note") and path in ds.info["task_note"]  # announced
        return
    train = set(np.unique(ds.y_train).tolist())
    assert train == set(range(ds.num_classes)) and len(train) >= 2
    assert set(np.unique(ds.y_val).tolist()) <= train


def test_malformed_data_ends_accepted_or_in_one_named_kzoo_error(tmp_path):
    rng = np.random.default_rng(26)
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(CASES):
        make = _npz_case if i % 3 else _csv_case
        path, bad = make(rng, tmp_path, i)
        try:
            ds = kzoo.datasets.load(path, seed=i)
        except KzooError as err:  # any other exception fails the test with its traceback
            message = str(err)
            assert err.exit_code >= 2 and "\n" not in message, (path, message)
            assert path in message or pathlib.Path(path).name in message, (path, message)
            outcomes["refused"] += 1
            continue
        assert not bad, f"{path}: a malformed case was accepted: {ds.summary()}"
        _check_accepted(ds, path)
        outcomes["accepted"] += 1
    assert min(outcomes.values()) >= 20, outcomes  # both ends are exercised


def test_malformed_data_through_kzoo_train(tmp_path, capsys):
    from kzoo.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    cases = {
        "negative.npz": dict(x_train=x, y_train=np.arange(40) % 2 - 1),
        "unseen.npz": dict(x_train=x, y_train=np.arange(40) % 2, x_val=x[:8],
                           y_val=np.full(8, 12)),
        "empty-features.npz": dict(x_train=np.zeros((40, 0)), y_train=np.arange(40) % 2),
        "one-class.npz": dict(x_train=x, y_train=np.zeros(40, int), x_val=x[:8],
                              y_val=np.arange(8) % 2),
    }
    for name, arrays in cases.items():
        path = tmp_path / name
        np.savez(path, **arrays)
        out = tmp_path / f"run-{name}"
        code = main(["train", "--model", "mlp", "--data", str(path), "--epochs", "1",
                     "--hp", "width=8", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 3 and len(err.splitlines()) == 1 and str(path) in err, (name, err)
        assert not out.exists()


def test_an_inferred_regression_is_announced_by_kzoo_train(tmp_path, capsys):
    from kzoo.cli import main

    rng = np.random.default_rng(0)
    path = tmp_path / "floats.npz"
    np.savez(path, x_train=rng.normal(size=(40, 3)), y_train=np.arange(40) % 3 + 0.5)
    code = main(["train", "--model", "mlp", "--data", str(path), "--epochs", "1",
                 "--hp", "width=8", "--out", str(tmp_path / "run")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"{path}: the labels are non-integer numbers (e.g. 0.5), so this is a regression" in out
