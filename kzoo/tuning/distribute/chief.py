"""The chief: KerasTuner's oracle served over gRPC, which drops workers that die.

Served by kzoo rather than by `keras_tuner`'s `start_server`, because that one
waits forever for a worker that died mid-trial (keras-tuner#915): here workers
send heartbeats, and a worker that stops beating (or that the local launcher sees
exit) is dropped and its trial goes back to the queue.
"""

import dataclasses
import time
from concurrent import futures

import grpc
import keras_tuner as kt

from kzoo.tuning import _keras_tuner_private as private
from kzoo.tuning.distribute.roles import DEAD, HEARTBEAT, chief_address


@dataclasses.dataclass
class Liveness:
    """Chief-side bookkeeping of worker heartbeats."""

    timeout: float
    last_seen: dict = dataclasses.field(default_factory=dict)

    def beat(self, tuner_id, now=None):
        self.last_seen[tuner_id] = time.monotonic() if now is None else now

    def expired(self, now=None):
        now = time.monotonic() if now is None else now
        gone = [t for t, seen in self.last_seen.items() if now - seen > self.timeout]
        for t in gone:
            del self.last_seen[t]
        return gone


@kt.synchronized
def drop_worker(oracle, tuner_id):
    """Forget a dead worker; its running trial goes back to the queue.

    Returns the id of the requeued trial, or None. This is what
    `Oracle.reload` does with trials a killed chief left running.
    """
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    oracle.tuner_ids.discard(tuner_id)
    if trial is None:
        return None
    private.retry_queue(oracle).append(trial.trial_id)
    oracle.save()
    return trial.trial_id


@kt.synchronized
def claim_end(oracle, trial_id):
    """The worker that may end `trial_id`, or None for a late result to ignore."""
    for tuner_id, trial in oracle.ongoing_trials.items():
        if trial.trial_id == trial_id:
            return tuner_id
    queue = private.retry_queue(oracle)
    if trial_id in queue:  # dropped by mistake: take the result
        queue.remove(trial_id)
        return "late"
    return None


@kt.synchronized
def search_done(oracle):
    return not oracle.ongoing_trials and not oracle.tuner_ids and not private.retry_queue(oracle)


class Servicer(private.OracleServicer):
    """KerasTuner's oracle service, plus heartbeats, dead notices and late results."""

    def __init__(self, oracle, liveness, recorder):
        super().__init__(oracle)
        self.liveness = liveness
        self.recorder = recorder

    def GetTrial(self, request, context):
        kind, _, tuner_id = request.trial_id.partition(":")
        if kind == HEARTBEAT:
            self.liveness.beat(tuner_id)
            return private.service().GetTrialResponse()
        if kind == DEAD:
            self.liveness.last_seen.pop(tuner_id, None)
            requeued = drop_worker(self.oracle, tuner_id)
            if requeued is not None:
                print(f"worker {tuner_id} died; trial {requeued} requeued", flush=True)
            return private.service().GetTrialResponse()
        return super().GetTrial(request, context)

    def EndTrial(self, request, context):
        trial = private.Trial.from_proto(request.trial)
        worker = claim_end(self.oracle, trial.trial_id)
        if worker is None:
            print(f"late result for trial {trial.trial_id} ignored", flush=True)
            return private.service().EndTrialResponse()
        response = super().EndTrial(request, context)
        self.recorder.trial_ended(trial.trial_id, worker)
        return response


def serve(tuner, recorder, heartbeat_timeout):
    """Serve the chief oracle until every trial is done and every worker left."""
    oracle = tuner.oracle
    liveness = Liveness(heartbeat_timeout)
    tuner.save()
    servicer = Servicer(oracle, liveness, recorder)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    private.service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(chief_address())
    server.start()
    try:
        while not (servicer.stop_triggered and search_done(oracle)):
            time.sleep(0.2)
            for tuner_id in liveness.expired():
                requeued = drop_worker(oracle, tuner_id)
                print(
                    f"worker {tuner_id} silent for {heartbeat_timeout}s; dropped"
                    + (f", trial {requeued} requeued" if requeued else ""),
                    flush=True,
                )
    finally:
        server.stop(grace=1)
