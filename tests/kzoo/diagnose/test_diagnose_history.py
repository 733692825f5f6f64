"""`kzoo.diagnose`'s rules over the history and the measured facts (curves.py,
batchnorm.py): each pathology is named with evidence; healthy runs raise nothing.
Pure Python."""

import math

import numpy as np
import pytest
from _histories import healthy as _healthy

from kzoo import diagnose as dg


@pytest.mark.parametrize("seed", range(5))
def test_healthy_runs_raise_nothing(seed):
    facts = {"chance": 0.1, "train_accuracy_inference": 0.985, "train_accuracy_training": 0.98}
    assert dg.diagnose(_healthy(seed=seed), facts=facts) == []


def test_healthy_early_stopped_run_with_a_mild_val_rise_is_silent():
    h = _healthy(30)
    # What EarlyStopping(patience=10) leaves: val loss 20 % above its minimum, and
    # the best epoch's weights restored (the runner passes the kept epoch).
    best = int(np.argmin(h["val_loss"][:20]))
    h["val_loss"] = h["val_loss"][:20] + [min(h["val_loss"]) * 1.2] * 10
    assert dg.diagnose(h, facts={"selected_epoch": best + 1}) == []


def test_nan_loss_is_divergence_with_its_epoch():
    h = {"loss": [2.3, 5.0, 80.0, math.nan, math.nan]}
    (f,) = dg.diagnose(h)
    assert f["kind"] == "lr_too_high" and f["evidence"]["first_nonfinite_epoch"] == 4
    assert "learning rate" in f["cure"]


def test_exploding_loss_is_divergence():
    h = {"loss": [2.3, 1.9, 15.0, 40.0, 35.0, 38.0]}
    (f,) = dg.diagnose(h)
    assert f["kind"] == "lr_too_high" and f["evidence"]["peak_epoch"] == 4


def test_repeated_spikes_are_flagged():
    h = {"loss": [2.3, 1.0, 2.5, 0.8, 2.2, 0.6, 0.5, 0.5]}
    (f,) = dg.diagnose(h)
    assert f["kind"] == "lr_too_high" and f["evidence"]["spike_epochs"] == [3, 5]


def test_isolated_spikes_in_a_long_converging_run_are_noise():
    # The loss of inception_time on UCR Coffee (28 examples, batch 2, 100 % test accuracy):
    # 3 spikes in 150 epochs, the first 40 epochs as measured, then converged.
    head = [0.579, 0.511, 0.376, 0.533, 0.169, 0.251, 0.079, 0.221, 0.064, 0.078, 0.387, 0.157,
            0.162, 0.203, 0.197, 0.271, 0.102, 0.045, 0.184, 0.132, 0.285, 0.229, 0.085, 0.046,
            0.223, 0.063, 0.025, 0.061, 0.17, 0.03, 0.19, 0.02, 0.015, 0.015, 0.018, 0.203,
            0.004, 0.334, 0.264, 0.1]
    loss = head + [0.01] * 110
    assert [f["kind"] for f in dg.diagnose({"loss": loss})] == []
    # The same spikes in a short run are a pattern, not noise.
    assert [f["kind"] for f in dg.diagnose({"loss": head})] == ["lr_too_high"]


def test_overfitting_names_the_best_epoch():
    t = np.arange(60)
    loss = list(2.0 * np.exp(-t / 8) + 0.001)
    val = list(1.5 * np.exp(-t / 8) + 0.3 + np.maximum(0, t - 15) * 0.03)
    (f,) = dg.diagnose({"loss": loss, "val_loss": val})
    assert f["kind"] == "overfitting"
    assert 14 <= f["evidence"]["best_epoch"] <= 20
    assert f["evidence"]["final_val_loss"] > 1.5 * f["evidence"]["best_val_loss"]


def test_overfitting_cure_mentions_the_kept_epoch():
    t = np.arange(60)
    loss = list(2.0 * np.exp(-t / 8) + 0.001)
    val = list(1.5 * np.exp(-t / 8) + 0.3 + np.maximum(0, t - 15) * 0.03)
    best = int(np.argmin(val)) + 1
    (f,) = dg.diagnose({"loss": loss, "val_loss": val}, facts={"selected_epoch": best})
    assert f"kept epoch {best}" in f["cure"]


def test_flat_loss_is_underfitting():
    h = {"loss": [2.30, 2.29, 2.29, 2.28, 2.28, 2.27, 2.27], "accuracy": [0.1] * 7}
    (f,) = dg.diagnose(h, facts={"chance": 0.1})
    assert f["kind"] == "underfitting" and f["evidence"]["relative_drop"] < 0.02


def test_loss_stuck_far_above_chance_loss_is_a_too_high_lr():
    # What Adam at lr 10 does to an MLP on digits: one huge step, then a plateau at 14.
    facts = {"chance": 0.1, "chance_loss": math.log(10)}
    h = {"loss": [14.2, 14.5, 14.5, 14.5, 14.5], "accuracy": [0.1] * 5}
    (f,) = dg.diagnose(h, facts=facts)
    assert f["kind"] == "lr_too_high" and f["evidence"]["chance_loss"] == math.log(10)
    # On tensorflow the same run starts at 1e6 and falls, still 200x above chance.
    h = {"loss": [1.0e6, 3.8e4, 462.6], "accuracy": [0.12, 0.11, 0.08]}
    (f,) = dg.diagnose(h, facts=facts)
    assert f["kind"] == "lr_too_high" and f["evidence"]["final_loss"] == 462.6
    # A run that learns stays clear of the rule.
    assert dg.diagnose(_healthy(), facts=facts) == []


def test_accuracy_near_chance_is_underfitting():
    h = {"loss": [2.3, 2.0, 1.9, 1.85, 1.8, 1.8], "accuracy": [0.1, 0.15, 0.2, 0.2, 0.22, 0.23]}
    (f,) = dg.diagnose(h, facts={"chance": 0.1})
    assert f["kind"] == "underfitting" and f["evidence"]["final_train_accuracy"] == 0.23


def _never_learned(epochs=105):
    """The run of issue 32 (FCN, 11 classes, padded raw series): training accuracy
    creeps to 0.44 and the loss from 2.4 to 1.6 over 105 epochs."""
    t = np.arange(epochs) / epochs
    return {"loss": list(2.4 - 0.8 * np.sqrt(t)), "accuracy": list(0.12 + 0.32 * np.sqrt(t))}


def test_a_model_that_never_learned_is_underfitting_with_the_data_facts():
    facts = {"chance": 0.15, "chance_loss": 2.3, "padding_share": 0.78,
             "scale_spread": 2.4e6, "class_balance": 0.2, "series_norm": False}
    (f,) = dg.diagnose(_never_learned(), facts=facts)
    assert f["kind"] == "underfitting" and "never learned" in f["message"]
    assert f["evidence"]["best_train_accuracy"] == pytest.approx(0.44, abs=0.01)
    assert f["evidence"]["padding_share"] == 0.78 and f["evidence"]["scale_spread"] == 2.4e6
    assert "series_norm=true" in f["cure"] and "78% of the input steps" in f["cure"]
    assert "weight or resample the classes" not in f["cure"]
    # data already prepared: the cure does not suggest it again; imbalance is named
    facts.update(series_norm=True, resample_to=512, class_balance=0.05)
    (f,) = dg.diagnose(_never_learned(), facts=facts)
    assert "series_norm" not in f["cure"] and "weight or resample the classes" in f["cure"]
    # too few epochs to say, or a model that fitted: silent
    assert dg.diagnose(_never_learned(10), facts=facts) == []
    assert dg.diagnose(_healthy(), facts={**facts, "chance": 0.1}) == []


def test_batchnorm_gap_is_named_and_suppresses_underfitting():
    h = {"loss": list(np.linspace(0.7, 0.01, 150)), "accuracy": [0.5] * 50 + [1.0] * 100,
         "val_loss": list(np.linspace(0.7, 0.69, 150))}
    facts = {"chance": 0.5, "train_accuracy_inference": 0.5, "train_accuracy_training": 1.0,
             "steps": 150, "batch_size": 64, "n_train": 40}
    (f,) = dg.diagnose(h, facts=facts)
    assert f["kind"] == "train_inference_gap"
    assert f["evidence"]["train_accuracy_inference_mode"] == 0.5
    assert f["evidence"]["steps"] == 150 and "BatchNorm" in f["message"]


def _issue31_history():
    """Issue 31's run: training accuracy climbs to 0.99, validation stays at chance (6
    classes), val loss lowest at epoch 2 (1.547) then rising to 4.04 by epoch 42."""
    epochs = 42
    return {"loss": list(np.linspace(1.7, 0.05, epochs)),
            "accuracy": list(np.linspace(0.3, 0.99, epochs)),
            "val_loss": [1.6, 1.547] + list(np.linspace(1.7, 4.04, epochs - 2)),
            "val_accuracy": [0.146] * epochs}


def test_the_kept_weights_bn_gap_is_named_not_overfitting():
    # The issue's facts: the kept epoch-2 weights score 0.707 on validation with BN in
    # training mode, 0.463 in inference mode. The old rule needed inference near chance
    # (<= 0.375 for 6 classes) and compared with the last epoch's training accuracy.
    facts = {"chance": 1 / 6, "train_accuracy_inference": 0.459, "train_accuracy_training": 0.99,
             "bn_split": "validation", "bn_accuracy_inference": 0.463,
             "bn_accuracy_training_mode": 0.707, "precise_bn": False, "selected_epoch": 2,
             "steps": 462, "batch_size": 15}
    (f,) = dg.diagnose(_issue31_history(), facts=facts)
    assert f["kind"] == "train_inference_gap" and "not overfitting" in f["message"]
    assert f["evidence"]["validation_accuracy_training_mode"] == 0.707
    assert "--no-precise-bn" in f["cure"] and "larger batch" in f["cure"]
    # The same history with both modes level is overfitting, as before.
    level = {**facts, "bn_accuracy_training_mode": 0.47}
    assert [g["kind"] for g in dg.diagnose(_issue31_history(), facts=level)] == ["overfitting"]


def test_no_gap_when_inference_matches_training():
    h = _healthy()
    facts = {"chance": 0.5, "train_accuracy_inference": 0.97, "train_accuracy_training": 0.99}
    assert dg.diagnose(h, facts=facts) == []
