"""What every rule of `kzoo.diagnose` shares: the finding dict, the finite values of
a logged series, and accuracy measured against the chance level."""

import math

NEAR_CHANCE = 0.25  # accuracy within 25 % of the chance-to-perfect range above chance
HIGH_ACC = 0.9  # "high" training accuracy, also as a fraction above chance


def finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def finding(kind, message, evidence, cure):
    return {"kind": kind, "message": message, "evidence": evidence, "cure": cure}


def near_chance(acc, chance):
    return acc <= chance + NEAR_CHANCE * (1.0 - chance)


def high(acc, chance):
    return acc >= chance + HIGH_ACC * (1.0 - chance)
