"""`diagnose`: the rules of `kzoo.diagnose` over one run, in the order that lets
one finding rule out another. Each group of rules, with its thresholds, is a module:

    curves.py     the training curves: lr_too_high, overfitting, underfitting
    batchnorm.py  train_inference_gap (BatchNorm's moving statistics)
    gradients.py  exploding and vanishing gradients, from the gradient log
    finding.py    the finding dict and the helpers every rule shares

The history and gradient log come in as plain lists and dicts; nothing here reads
files or uses keras.
"""

import math

from kzoo.diagnose import batchnorm, curves, gradients
from kzoo.diagnose.finding import finite


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
    acc = finite(history.get("accuracy", []))
    val_loss = list(history.get("val_loss", []))
    findings = []
    high = curves.lr_too_high(loss, facts)
    if high:
        findings.append(high)
    elif all(math.isfinite(v) for v in val_loss):
        gap = batchnorm.train_inference_gap(acc, facts)
        if gap:
            findings.append(gap)
        # A val loss that rose on statistics that lagged the weights is not overfitting.
        over = None if gap else curves.overfitting(loss, val_loss, facts)
        if over:
            findings.append(over)
        if not gap:
            under = curves.underfitting(loss, acc, facts)
            if under:
                findings.append(under)
    findings.extend(gradients.gradient_findings(grad_norms or []))
    return findings

