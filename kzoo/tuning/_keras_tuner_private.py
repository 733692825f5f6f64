"""Every touch of KerasTuner's private API, in one place (keras-tuner 1.4.8, pinned).

On a KerasTuner upgrade re-check this file only: `tests/kzoo/tuning/
test_keras_tuner_private.py` touches every symbol below, so a rename or a changed
signature fails there first. The rest of `kzoo.tuning` uses these wrappers and
KerasTuner's public API.
"""

import contextlib

from keras_tuner.src import config as kt_config
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.engine.objective import create_objective

OracleServicer = oracle_chief.OracleServicer
Trial = trial_module.Trial
RUNNING = trial_module.TrialStatus.RUNNING
# The callback that keeps a trial's best-epoch weights (`trial_<id>/checkpoint.weights.h5`).
SaveBestEpoch = tuner_utils.SaveBestEpoch


def objective_direction(name):
    """`"min"` or `"max"`, as KerasTuner's oracle will infer it for `name`; None when
    KerasTuner cannot tell (then its oracle would refuse the objective)."""
    try:
        return create_objective(name).direction
    except ValueError:
        return None


@contextlib.contextmanager
def quiet_trial_errors():
    """KerasTuner prints every failed trial's traceback (`config.DEBUG`, on by default);
    kzoo records it in the trial instead (`trial.json`, `trials.csv`'s error column)."""
    before, kt_config.DEBUG = kt_config.DEBUG, False
    try:
        yield
    finally:
        kt_config.DEBUG = before


def service():
    """The generated gRPC message module (`GetTrialRequest`, `GetTrialResponse`, ...)."""
    return protos.get_service()


def service_grpc():
    """The generated gRPC stubs (`OracleStub`, `add_OracleServicer_to_server`)."""
    return protos.get_service_grpc()


def metrics_dict(histories, objective):
    """The best epoch's metrics of a trial's fit histories, as KerasTuner records them."""
    return tuner_utils.convert_to_metrics_dict(histories, objective)


def best_step(histories, objective):
    return tuner_utils.get_best_step(histories, objective)


def retry_queue(oracle):
    """The oracle's list of trial ids waiting to be rerun (mutable)."""
    return oracle._retry_queue


def project_dir(oracle):
    """The oracle's project directory (`<out>/kt`), where `TPEOracle` keeps its study."""
    return oracle._project_dir


def inner_oracle(oracle):
    """A worker's `OracleClient` wraps the chief's oracle; elsewhere the oracle itself."""
    return getattr(oracle, "_oracle", oracle)


# The GP oracle's internals (`BayesianOptimizationOracle`), for kzoo's acquisition search.


def vectorize_trials(oracle):
    return oracle._vectorize_trials()


def hp_bounds(oracle):
    return oracle._get_hp_bounds()


def vector_to_values(oracle, vector):
    return oracle._vector_to_values(vector)


def random_state(oracle):
    return oracle._random_state


def random_proposal(oracle):
    """KerasTuner's own random proposal (its random start), as `populate_space` returns it."""
    return oracle._random_populate_space()
