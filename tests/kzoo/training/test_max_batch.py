"""`kzoo train --batch-size max` (issue 30): doubling then bisection finds the largest
batch that fits; here an out-of-memory error injected from batch 128 on
(`KZOO_FAKE_OOM_FROM_BATCH`). The search is backend-free: run on torch only."""

import json

import numpy as np
from _backends import one_backend

from kzoo.cli import main
from kzoo.training import train
from kzoo.training.batch_size import FAKE_OOM_ENV, search_max_batch

pytestmark = one_backend("torch", "backend-free search")
TINY = dict(epochs=1, hparams={"width": 8, "depth": 1, "dropout": 0.0}, verbose=0,
            precise_bn=False, seed=1)


def test_doubling_then_bisection_finds_the_last_batch_that_fits():
    def fits(b):
        return b < 128

    assert search_max_batch(fits, 32, 1000) == (127, [
        (32, True), (64, True), (128, False), (96, True), (112, True), (120, True),
        (124, True), (126, True), (127, True)])
    assert search_max_batch(fits, 300, 1000)[0] == 127  # from a start that does not fit
    assert search_max_batch(fits, 32, 100) == (100, [(32, True), (64, True), (100, True)])
    assert search_max_batch(lambda b: False, 4, 10)[0] == 0


def test_batch_size_max_picks_the_threshold_batch_and_trains_as_with_it(
        tmp_path, monkeypatch, capsys, tiny_binary):
    monkeypatch.setenv(FAKE_OOM_ENV, "128")
    found = train("mlp", tiny_binary(400, 6), out=str(tmp_path / "max"), batch_size="max",
                  accumulate=2, **{**TINY, "verbose": 1})
    printed = capsys.readouterr().out
    assert "--batch-size max: 127" in printed and "128 out of memory" in printed
    assert "global batch 254" in printed
    resolved = json.loads((tmp_path / "max" / "config.json").read_text())["resolved"]
    assert resolved["batch_size"]["value"] == 127
    assert resolved["batch_size"]["source"] == "batch-size search"
    given = train("mlp", tiny_binary(400, 6), out=str(tmp_path / "given"), batch_size=127,
                  accumulate=2, **TINY)
    # the probes' training was undone: the same weights as a run given the batch
    for a, b in zip(found.model.get_weights(), given.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cli_batch_size_max_and_its_refusals(tmp_path, monkeypatch, capsys, tiny_binary):
    monkeypatch.setenv(FAKE_OOM_ENV, "128")
    x, y = tiny_binary(400, 6)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    args = ["train", "--model", "mlp", "--data", str(tmp_path / "d.npz"), "--epochs", "1",
            "--hp", "width=8", "--hp", "depth=1", "--quiet"]
    assert main([*args, "--batch-size", "max", "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["batch_size"] == "max" and config["resolved"]["batch_size"]["value"] == 127
    # A resume trains on with the batch found: no second search (which would now fail).
    monkeypatch.setenv(FAKE_OOM_ENV, "1")
    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", "2", "--quiet"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["resolved"]["batch_size"]["value"] == 127
    capsys.readouterr()
    assert main([*args, "--epochs", "max", "--out", str(tmp_path / "bad")]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
