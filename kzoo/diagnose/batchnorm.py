"""The BatchNorm rule: the same weights score far better with BatchNorm in training
mode than in inference mode, so its moving statistics do not describe the weights."""

from kzoo.diagnose.finding import finding, high, near_chance

# The kept model scored with BatchNorm in training mode beats inference mode by more
# than this (accuracy, same weights, same examples): the moving statistics are wrong.
# A healthy model's training mode is at most level (its small batches add noise).
BN_GAP = 0.10


def train_inference_gap(acc, facts):
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
    if not (high(training, chance) and near_chance(inference, chance)):
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
    return finding(
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
