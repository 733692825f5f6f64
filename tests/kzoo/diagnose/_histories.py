"""Histories shared by the diagnose tests: a healthy run's curves, the kinds found."""

import numpy as np


def kinds(findings):
    return [f["kind"] for f in findings]


def healthy(epochs=40, seed=0):
    """Loss falling like a real run's: exponential decay plus small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    loss = 2.3 * np.exp(-t / 6) + 0.05 + rng.normal(0, 0.01, epochs)
    val = 2.3 * np.exp(-t / 6) + 0.12 + rng.normal(0, 0.015, epochs)
    acc = 1 - 0.9 * np.exp(-t / 5) - 0.01
    return {"loss": list(loss), "val_loss": list(val), "accuracy": list(acc),
            "val_accuracy": list(acc - 0.02)}
