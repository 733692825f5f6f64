"""The rules of `kzoo.diagnose`: each finding, the evidence it needs, and its cure.

The history and gradient log come in as plain lists and dicts; nothing here reads
files or uses keras.
"""

import math

# A finding must clear these margins (chosen wide; see the module docstring).
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
NEAR_CHANCE = 0.25  # accuracy within 25 % of the chance-to-perfect range above chance
HIGH_ACC = 0.9  # "high" training accuracy, also as a fraction above chance
# The kept model scored with BatchNorm in training mode beats inference mode by more
# than this (accuracy, same weights, same examples): the moving statistics are wrong.
# A healthy model's training mode is at most level (its small batches add noise).
BN_GAP = 0.10

# A model that never learned: after NEVER_EPOCHS epochs its best training accuracy is
# below halfway from chance to perfect, and its lowest loss still above half the loss
# of predicting the class frequencies (issue 32: FCN at 44 % on 11 classes, 105 epochs).
NEVER_EPOCHS = 20
NEVER_FIT = 0.5
NEVER_LOSS = 0.5
VANISH = 1e-4  # layer norm / largest layer norm, median over the second half
EXPLODE = 1e3  # global norm / its median over the first tenth of the steps


def _finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def _finding(kind, message, evidence, cure):
    return {"kind": kind, "message": message, "evidence": evidence, "cure": cure}


def _near_chance(acc, chance):
    return acc <= chance + NEAR_CHANCE * (1.0 - chance)


def _high(acc, chance):
    return acc >= chance + HIGH_ACC * (1.0 - chance)


def _lr_too_high(loss, facts):
    bad = [i for i, v in enumerate(loss) if v is None or not math.isfinite(v)]
    if bad:
        return _finding(
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
        return _finding(
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
        return _finding(
            "lr_too_high",
            f"The training loss diverged: {first:.4g} at epoch 1, {loss[peak]:.4g} at epoch "
            f"{peak + 1}, {loss[-1]:.4g} at the end.",
            {"first_loss": first, "peak_loss": loss[peak], "peak_epoch": peak + 1,
             "final_loss": loss[-1], "spike_epochs": spikes[:10]},
            "Lower the learning rate (try 10x lower, or `kzoo lr-find`), and clip gradients "
            "(`--clip global_norm`).",
        )
    if len(spikes) >= max(2, SPIKE_SHARE * len(loss)):
        return _finding(
            "lr_too_high",
            f"The training loss spiked {len(spikes)} times (epochs {spikes[:10]}), each by more "
            f"than {SPIKE:.0%} of the first epoch's loss ({first:.4g}).",
            {"spike_epochs": spikes[:10], "first_loss": first},
            "Lower the learning rate, add warmup (`--warmup-epochs`), or clip gradients.",
        )
    return None


def _overfitting(loss, val_loss, facts):
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
    return _finding(
        "overfitting",
        f"Validation loss reached its minimum {low:.4g} at epoch {best + 1}, then rose to "
        f"{end:.4g} by epoch {len(val_loss)} while the training loss fell from "
        f"{loss[best]:.4g} to {loss[-1]:.4g}.",
        {"best_epoch": best + 1, "best_val_loss": low, "final_val_loss": end,
         "train_loss_at_best": loss[best], "final_train_loss": loss[-1]},
        cure,
    )


def _underfitting(loss, acc, facts):
    chance = facts.get("chance")
    if len(loss) < 5:
        return None
    drop = (loss[0] - min(loss)) / abs(loss[0]) if loss[0] else 0.0
    if drop < FLAT_DROP:
        return _finding(
            "underfitting",
            f"The training loss hardly moved: {loss[0]:.4g} at epoch 1, best {min(loss):.4g} "
            f"({drop:.1%} lower) over {len(loss)} epochs.",
            {"first_loss": loss[0], "min_loss": min(loss), "relative_drop": drop,
             "epochs": len(loss)},
            "Raise the learning rate (`kzoo lr-find`), train longer, or use a larger model; "
            "check that the labels match the inputs.",
        )
    if acc and chance is not None and _near_chance(acc[-1], chance):
        return _finding(
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
    best, low = max(acc), min(_finite(loss) or [math.inf])
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
    return _finding(
        "underfitting",
        f"The model never learned: after {len(loss)} epochs the best training accuracy is "
        f"{best:.3f} (chance {chance:.3f}) and the lowest loss {low:.4g}, "
        f"{low / base:.0%} of the loss of predicting the class frequencies ({base:.4g}).",
        evidence,
        cure + "raise the learning rate (`kzoo lr-find`), train longer or use a larger "
        "model; check that the labels match the inputs.",
    )


def _train_inference_gap(acc, facts):
    chance = facts.get("chance")
    if chance is None:
        return None
    measured = _bn_split_gap(facts, chance)
    if measured:
        return measured
    inference = facts.get("train_accuracy_inference")
    training = facts.get("train_accuracy_training", acc[-1] if acc else None)
    if inference is None or training is None:
        return None
    if not (_high(training, chance) and _near_chance(inference, chance)):
        return None
    evidence = {"train_accuracy_training_mode": training,
                "train_accuracy_inference_mode": inference, "chance": chance}
    steps = facts.get("steps")
    detail = f" after {steps} optimizer steps" if steps else ""
    return _gap_finding(
        f"On the training data, training mode scores {training:.3f} but inference mode "
        f"{inference:.3f} (chance {chance:.3f}){detail}", evidence, facts)


def _bn_split_gap(facts, chance):
    """The kept weights scored with BatchNorm in both modes (`measure_facts`)."""
    inference = facts.get("bn_accuracy_inference")
    training = facts.get("bn_accuracy_training_mode")
    if inference is None or training is None or training - inference <= BN_GAP:
        return None
    split = facts.get("bn_split", "validation")
    evidence = {f"{split}_accuracy_training_mode": training,
                f"{split}_accuracy_inference_mode": inference, "chance": chance,
                "precise_bn": facts.get("precise_bn")}
    return _gap_finding(
        f"The kept weights score {training:.3f} on the {split} data with BatchNorm in "
        f"training mode but {inference:.3f} in inference mode (chance {chance:.3f})",
        evidence, facts)


def _gap_finding(what, evidence, facts):
    for key in ("steps_per_epoch", "steps", "batch_size", "n_train", "selected_epoch"):
        if key in facts:
            evidence[key] = facts[key]
    precise = ("Recompute the statistics before evaluating: drop `--no-precise-bn` "
               "(precise BN is kzoo's default), or " if facts.get("precise_bn") is False
               else "Evaluate with recomputed statistics (precise BN, "
               "`kzoo.callbacks.PreciseBatchNorm`), or ")
    return _finding(
        "train_inference_gap",
        f"{what}: BatchNormalization's moving statistics do not describe the weights, so "
        "validation and test scores (and the epoch they selected) understate the network; "
        "this is not overfitting.",
        evidence,
        f"{precise}give the moving averages more steps between evaluations: a larger "
        "batch (steadier statistics), fewer steps between evaluations or more epochs "
        "(`--batch-size auto` gives at least 459 steps, when 0.99**steps < 1 %), or a "
        "lower BatchNorm momentum.",
    )


def _gradients(rows):
    """Findings from grad_norms.csv rows (dicts of floats)."""
    if not rows:
        return []
    findings = []
    fixed = {"step", "global_norm", "clip_threshold", "clipped"}
    layers = [k for k in rows[0] if k not in fixed]
    norms = [r.get("global_norm") for r in rows]
    bad = [r["step"] for r in rows if r.get("global_norm") is None
           or not math.isfinite(r["global_norm"])]
    head = _finite(norms[: max(1, len(norms) // 10)])
    base = sorted(head)[len(head) // 2] if head else None
    big = [(r["step"], r["global_norm"]) for r in rows if base and r.get("global_norm")
           and math.isfinite(r["global_norm"]) and r["global_norm"] > EXPLODE * base]
    if bad or big:
        culprits = {}
        for name in layers:
            vals = [r.get(name) for r in rows]
            if any(v is None or not math.isfinite(v) for v in vals):
                culprits[name] = "non-finite"
            elif base and max(vals) > EXPLODE * base:
                culprits[name] = max(vals)
        findings.append(_finding(
            "exploding_gradients",
            f"Gradient norms exploded: {len(bad)} non-finite and {len(big)} above "
            f"{EXPLODE:g}x the early median ({base if base is None else f'{base:.3g}'}).",
            {"nonfinite_steps": bad[:10], "large_steps": big[:10], "layers": culprits},
            "Clip gradients (`--clip global_norm` or `agc`), lower the learning rate, or "
            "add normalisation.",
        ))
    second = rows[len(rows) // 2:]
    vanishing = {}
    for name in layers:
        ratios = []
        for r in second:
            top = max(_finite([r.get(n) for n in layers]) or [0.0])
            v = r.get(name)
            if top > 0 and v is not None and math.isfinite(v):
                ratios.append(v / top)
        if ratios and sorted(ratios)[len(ratios) // 2] < VANISH:
            vanishing[name] = sorted(ratios)[len(ratios) // 2]
    if vanishing and len(vanishing) < len(layers):
        findings.append(_finding(
            "vanishing_gradients",
            f"Layer(s) {', '.join(vanishing)} get gradients below {VANISH:g}x the largest "
            "layer's (median over the second half of the logged steps).",
            {"layers": vanishing, "steps": [second[0]["step"], second[-1]["step"]]},
            "Use gated cells (GRU/LSTM) or residual connections, normalisation, a "
            "better initialisation, or fewer layers.",
        ))
    return findings


def diagnose(history, grad_norms=None, facts=None):
    """Findings for one run (`[]` when healthy).

    Args:
        history: dict of per-epoch lists (Keras `History.history`, or
            `history.csv` as read by `read_history`).
        grad_norms: rows of `grad_norms.csv` (`read_grad_norms`), or None.
        facts: optional measurements (`measure_facts`): `chance`, `chance_loss`,
            `train_accuracy_inference`, `train_accuracy_training`,
            `bn_accuracy_inference`, `bn_accuracy_training_mode`, `bn_split`,
            `precise_bn`, `selected_epoch`, `steps`, `batch_size`, `n_train`.

    Returns:
        A list of finding dicts: `kind`, `message`, `evidence`, `cure`.
    """
    facts = dict(facts or {})
    loss = list(history.get("loss", []))
    if not loss:
        return []
    acc = _finite(history.get("accuracy", []))
    val_loss = list(history.get("val_loss", []))
    findings = []
    high = _lr_too_high(loss, facts)
    if high:
        findings.append(high)
    elif all(math.isfinite(v) for v in val_loss):
        gap = _train_inference_gap(acc, facts)
        if gap:
            findings.append(gap)
        # A val loss that rose on statistics that lagged the weights is not overfitting.
        over = None if gap else _overfitting(loss, val_loss, facts)
        if over:
            findings.append(over)
        if not gap:
            under = _underfitting(loss, acc, facts)
            if under:
                findings.append(under)
    findings.extend(_gradients(grad_norms or []))
    return findings

