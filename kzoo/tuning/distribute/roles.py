"""Which role this process plays in a search, from KerasTuner's environment variables.

A chief is served when `KERASTUNER_ORACLE_IP` is set and `KERASTUNER_TUNER_ID`
names a chief; a worker when the ID is anything else; otherwise the search runs
in this process alone.
"""

import os

ENV_ID = "KERASTUNER_TUNER_ID"
ENV_IP = "KERASTUNER_ORACLE_IP"
ENV_PORT = "KERASTUNER_ORACLE_PORT"
# kzoo's messages to the chief ride on `GetTrial` with these trial-id prefixes.
HEARTBEAT = "__kzoo_heartbeat__"
DEAD = "__kzoo_dead__"


def role():
    """`"single"`, `"chief"` or `"worker"`."""
    if ENV_IP not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get(ENV_ID, "") else "worker"


def chief_address():
    return f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}"
