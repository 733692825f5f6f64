"""The worker's side of kzoo's chief protocol: heartbeats, and the dead-worker notice."""

import os
import threading
import time

import grpc

from kzoo.tuning import _keras_tuner_private as private
from kzoo.tuning.distribute.roles import DEAD, ENV_ID, HEARTBEAT, chief_address


def start_heartbeat(interval):
    """Tell the chief we are alive every `interval` seconds, from a daemon thread."""
    channel = grpc.insecure_channel(chief_address())
    stub = private.service_grpc().OracleStub(channel)
    request = private.service().GetTrialRequest(trial_id=f"{HEARTBEAT}:{os.environ[ENV_ID]}")

    def beat():
        while True:
            try:
                stub.GetTrial(request, timeout=5)
            except grpc.RpcError:
                pass  # the chief may not be up yet, or has finished
            time.sleep(interval)

    threading.Thread(target=beat, daemon=True, name="kzoo-heartbeat").start()


def notify_dead(port, tuner_id):
    """Tell the local chief that `tuner_id` exited (sent by the launcher that saw it)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = private.service_grpc().OracleStub(channel)
        try:
            stub.GetTrial(
                private.service().GetTrialRequest(trial_id=f"{DEAD}:{tuner_id}"), timeout=10
            )
        except grpc.RpcError:
            pass  # the chief has finished or died; the launcher handles both
