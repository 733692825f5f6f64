"""Issue 31 reproduced: few steps per epoch leave BatchNorm's moving statistics behind
the weights, validation scores near chance while the network learns, and the run kept
a chance-level epoch. Precise BN (the default) validates on the weights' statistics."""

import json

import numpy as np
import pytest
from _backends import one_backend

from kzoo.training import train

pytestmark = one_backend(
    "torch", "CI time budget: full runs (the precise-BN pass itself is tested on every backend "
    "in tests/callbacks/test_precise_bn.py)")


def _series(n, seed, length=64, classes=6):
    """Six classes: sines of 1..6 periods with random phase, noise 0.3."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    t = np.linspace(0, 1, length)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t + phase) + rng.normal(0, 0.3, (n, length))
    return x[..., None].astype("float32"), y.astype("int32")


def _run(seed, tmp_path, **settings):
    # 240 training series at batch 40: 6 steps per epoch, 30 in all, so the moving
    # statistics keep 0.99**30 = 74 % of their initial values; lr 1e-2 moves the
    # weights (and the activations' scale) fast.
    out = tmp_path / f"s{seed}-{settings.get('precise_bn', True)}"
    result = train("fcn", _series(300, seed), epochs=5, batch_size=40, lr=1e-2, seed=seed,
                   hparams={"filters": 16}, out=str(out), verbose=0, **settings)
    kept = result.summary["selected_epoch"]
    return result, result.history["val_accuracy"][kept - 1], json.loads(
        (out / "config.json").read_text())["resolved"]["precise_bn"]


def test_lagging_batchnorm_statistics_no_longer_select_a_chance_level_epoch(tmp_path):
    for seed in (0, 1):
        lagging, lag_acc, lag_record = _run(seed, tmp_path, precise_bn=False)
        # The network learned (training mode) while validation sat near chance (1/6)
        # and the kept epoch scored far below the network: the failure of issue 31.
        assert lagging.history["accuracy"][-1] >= 0.7
        assert min(lagging.history["val_accuracy"]) <= 0.4
        assert lag_record["value"] is False and lag_record["source"] == "user"
        kinds = [f["kind"] for f in lagging.summary["diagnosis"]]
        assert kinds == ["train_inference_gap"]  # the BN gap, not overfitting
        facts = lagging.summary["diagnosis_facts"]
        assert facts["bn_split"] == "validation" and facts["precise_bn"] is False
        assert facts["bn_accuracy_training_mode"] - facts["bn_accuracy_inference"] > 0.1
        assert "--no-precise-bn" in lagging.summary["diagnosis"][0]["cure"]
        # 30 steps of the 459 that settle the statistics (0.99**459 <= 1 %): no epoch
        # of the budget settles (the first would be 77), and the summary says so.
        guard = lagging.summary["selection"]["settle_guard"]
        assert guard["from_epoch"] == 77 and guard["steps_per_epoch"] == 6
        assert not guard["applies"] and not guard["acted"]
        assert "no epoch settles" in guard["why"]

        precise, acc, record = _run(seed, tmp_path)
        # The same weights at every step (the pass draws no random number, training
        # normalises with batch statistics); only what validation reads differs.
        assert precise.history["accuracy"] == pytest.approx(lagging.history["accuracy"])
        assert record["value"] is True and "48 training examples" in record["note"]
        assert acc >= 0.75 and acc - lag_acc >= 0.2
        assert precise.summary["diagnosis"] == []
        assert "settle_guard" not in precise.summary["selection"]  # nothing to guard


def test_a_bad_precise_bn_value_fails_before_writing(tmp_path):
    from kzoo.runtime.errors import UsageError

    with pytest.raises(UsageError, match="precise_bn must be True or False"):
        train("fcn", _series(60, 0), precise_bn="yes", out=str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()
