"""The rules over the training curves (`history.csv`): a learning rate too high
(NaN, divergence, spikes), overfitting, underfitting and a model that never learned."""

import math

from kzoo.diagnose.finding import finding, finite, near_chance

# A finding must clear these margins (chosen wide; see kzoo.diagnose's docstring).
FLAT_DROP = 0.10  # training loss fell by less than 10 % of its first value
SPIKE = 0.5  # an epoch's loss rose by more than half the first epoch's loss
# ...in at least this share of the epochs: isolated spikes in a long run that converges are
# mini-batch noise (UCR Coffee, 28 examples, batch 2: 3 spikes in 150 epochs, 100 % test).
SPIKE_SHARE = 0.05
DIVERGE = 3.0  # loss above 3x the first epoch's
OVERFIT_RISE = 0.15  # final val loss 15 % above its minimum...
OVERFIT_RISE_KEPT = 0.5  # ...50 % when the run kept the best epoch's weights anyway...
OVERFIT_ABS = 0.05  # ...and at least 0.05 above it
STUCK = 2.0  # loss stuck above 2x the loss of predicting the class frequencies

# A model that never learned: after NEVER_EPOCHS epochs its best training accuracy is
# below halfway from chance to perfect, and its lowest loss still above half the loss
# of predicting the class frequencies (issue 32: FCN at 44 % on 11 classes, 105 epochs).
NEVER_EPOCHS = 20
NEVER_FIT = 0.5
NEVER_LOSS = 0.5


def lr_too_high(loss, facts):
    bad = [i for i, v in enumerate(loss) if v is None or not math.isfinite(v)]
    if bad:
        return finding(
            "lr_too_high",
            f"The training loss became NaN/inf at epoch {bad[0] + 1}: training diverged.",
            {"first_nonfinite_epoch": bad[0] + 1, "last_finite_loss":
             next((loss[i] for i in range(bad[0] - 1, -1, -1) if math.isfinite(loss[i])), None)},
            "Lower the learning rate (try 10x lower, or `kzoo lr-find`), and clip gradients "
            "(`--clip global_norm`).",
        )
    first = loss[0]
    base = facts.get("chance_loss")
    # Training from a sane initialisation starts near the chance loss; ending far
    # above it means the steps threw the weights off, whatever the trend.
    if base and loss[-1] > STUCK * base:
        return finding(
            "lr_too_high",
            f"The training loss ended at {loss[-1]:.4g} (epoch 1: {first:.4g}), above "
            f"{STUCK:g}x the loss of predicting the class frequencies ({base:.4g}): the "
            "steps threw the weights far off (saturated outputs, dead units).",
            {"first_loss": first, "final_loss": loss[-1], "chance_loss": base},
            "Lower the learning rate (try 10x lower, or `kzoo lr-find`), and clip gradients "
            "(`--clip global_norm`).",
        )
    if len(loss) < 3:
        return None
    peak = max(range(1, len(loss)), key=lambda i: loss[i])
    spikes = [i + 1 for i in range(1, len(loss)) if loss[i] - loss[i - 1] > SPIKE * first]
    if loss[peak] > DIVERGE * first or (loss[-1] > first and spikes):
        return finding(
            "lr_too_high",
            f"The training loss diverged: {first:.4g} at epoch 1, {loss[peak]:.4g} at epoch "
            f"{peak + 1}, {loss[-1]:.4g} at the end.",
            {"first_loss": first, "peak_loss": loss[peak], "peak_epoch": peak + 1,
             "final_loss": loss[-1], "spike_epochs": spikes[:10]},
            "Lower the learning rate (try 10x lower, or `kzoo lr-find`), and clip gradients "
            "(`--clip global_norm`).",
        )
    if len(spikes) >= max(2, SPIKE_SHARE * len(loss)):
        return finding(
            "lr_too_high",
            f"The training loss spiked {len(spikes)} times (epochs {spikes[:10]}), each by more "
            f"than {SPIKE:.0%} of the first epoch's loss ({first:.4g}).",
            {"spike_epochs": spikes[:10], "first_loss": first},
            "Lower the learning rate, add warmup (`--warmup-epochs`), or clip gradients.",
        )
    return None


def overfitting(loss, val_loss, facts):
    if len(val_loss) < 5 or len(loss) != len(val_loss):
        return None
    best = min(range(len(val_loss)), key=lambda i: val_loss[i])
    low, end = val_loss[best], val_loss[-1]
    after = len(val_loss) - 1 - best
    kept = facts.get("selected_epoch")
    rise = OVERFIT_RISE_KEPT if kept == best + 1 else OVERFIT_RISE
    if not (end > low * (1 + rise) and end - low > OVERFIT_ABS):
        return None
    if after < max(5, len(val_loss) // 5) or not loss[-1] < 0.5 * loss[best]:
        return None
    cure = ("Stop earlier or keep the best epoch (`--early-stopping N`), add regularisation "
            "(dropout, weight decay), shrink the model, or get more data.")
    if kept == best + 1:
        cure = f"The run kept epoch {kept}'s weights already. To train less: {cure}"
    return finding(
        "overfitting",
        f"Validation loss reached its minimum {low:.4g} at epoch {best + 1}, then rose to "
        f"{end:.4g} by epoch {len(val_loss)} while the training loss fell from "
        f"{loss[best]:.4g} to {loss[-1]:.4g}.",
        {"best_epoch": best + 1, "best_val_loss": low, "final_val_loss": end,
         "train_loss_at_best": loss[best], "final_train_loss": loss[-1]},
        cure,
    )


def underfitting(loss, acc, facts):
    chance = facts.get("chance")
    if len(loss) < 5:
        return None
    drop = (loss[0] - min(loss)) / abs(loss[0]) if loss[0] else 0.0
    if drop < FLAT_DROP:
        return finding(
            "underfitting",
            f"The training loss hardly moved: {loss[0]:.4g} at epoch 1, best {min(loss):.4g} "
            f"({drop:.1%} lower) over {len(loss)} epochs.",
            {"first_loss": loss[0], "min_loss": min(loss), "relative_drop": drop,
             "epochs": len(loss)},
            "Raise the learning rate (`kzoo lr-find`), train longer, or use a larger model; "
            "check that the labels match the inputs.",
        )
    if acc and chance is not None and near_chance(acc[-1], chance):
        return finding(
            "underfitting",
            f"Training accuracy ended at {acc[-1]:.3f}, near chance ({chance:.3f}).",
            {"final_train_accuracy": acc[-1], "chance": chance, "epochs": len(loss)},
            "Train longer or with a higher learning rate, or use a larger model.",
        )
    return _never_learned(loss, acc, facts)


def _never_learned(loss, acc, facts):
    """Many epochs, training accuracy far from fitted, loss near the chance loss; the
    data facts (`measure_facts`) that suggest why become the cure."""
    chance, base = facts.get("chance"), facts.get("chance_loss")
    if chance is None or not base or not acc or len(loss) < NEVER_EPOCHS:
        return None
    best, low = max(acc), min(finite(loss) or [math.inf])
    if best >= chance + NEVER_FIT * (1.0 - chance) or low <= NEVER_LOSS * base:
        return None
    evidence = {"best_train_accuracy": best, "chance": chance, "min_loss": low,
                "chance_loss": base, "epochs": len(loss)}
    causes = []
    spread = facts.get("scale_spread")
    if spread and spread > 100 and not facts.get("series_norm"):
        causes.append(f"per-series scales span a factor of {spread:.3g} (95th/5th percentile "
                      "of their std): z-normalise each series (`--hp series_norm=true`)")
    padding = facts.get("padding_share")
    if padding and padding > 0.3 and not facts.get("resample_to"):
        causes.append(f"{padding:.0%} of the input steps are padding: resample to one "
                      "length (`--hp resample_to=N`)")
    balance = facts.get("class_balance")
    if balance is not None and balance < 0.1:
        causes.append(f"the rarest class has {balance:.2g}x the examples of the commonest: "
                      "weight or resample the classes")
    for key in ("scale_spread", "padding_share", "class_balance"):
        if key in facts:
            evidence[key] = facts[key]
    cure = ("The data suggests: " + "; ".join(causes) + ". Otherwise: " if causes else "")
    return finding(
        "underfitting",
        f"The model never learned: after {len(loss)} epochs the best training accuracy is "
        f"{best:.3f} (chance {chance:.3f}) and the lowest loss {low:.4g}, "
        f"{low / base:.0%} of the loss of predicting the class frequencies ({base:.4g}).",
        evidence,
        cure + "raise the learning rate (`kzoo lr-find`), train longer or use a larger "
        "model; check that the labels match the inputs.",
    )
