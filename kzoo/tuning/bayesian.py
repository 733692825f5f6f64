"""`tune(tuner="bayesian")`: KerasTuner's Gaussian-process oracle, cheaper acquisition search."""

import logging
import warnings

import keras_tuner as kt
import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from kzoo.tuning import _keras_tuner_private as private

log = logging.getLogger(__name__)


class BayesianOracle(kt.oracles.BayesianOptimizationOracle):
    """KerasTuner's Gaussian-process oracle with a cheaper search of its acquisition.

    Same GP (Matern 5/2, normalised scores), same random start, same lower
    confidence bound `mu - beta * sigma` (scores negated when maximising). Only the
    search for the bound's minimum differs: KerasTuner runs L-BFGS-B from 50 random
    starts with finite-difference gradients, one GP prediction per evaluation, which
    cost ~1 s per trial here (benchmarks/tuning, 8-dimensional LSTM space). This
    scores `candidates` random points in one vectorised prediction and refines the
    best `refine` of them with L-BFGS-B.

    If the acquisition search raises, the trial gets a random proposal and the
    error is logged: the exception would otherwise leave KerasTuner's oracle lock
    held (its `synchronized` releases without `try/finally`), and a distributed
    chief would deadlock.
    """

    candidates = 2000
    refine = 3

    def populate_space(self, trial_id):
        completed = [t for t in self.trials.values() if t.status == "COMPLETED"]
        initial = self.num_initial_points or max(3 * len(self.hyperparameters.space), 3)
        if len(completed) < initial:
            return super().populate_space(trial_id)  # KerasTuner's random start
        try:
            return {"status": private.RUNNING, "values": self.acquisition_optimum()}
        except Exception as err:  # noqa: BLE001  any failure: propose at random
            log.warning("bayesian acquisition failed (%r); trial %s gets a random proposal",
                        err, trial_id)
            return private.random_proposal(self)

    def acquisition_optimum(self):
        """Hyperparameter values that minimise the GP's lower confidence bound."""
        x, y = private.vectorize_trials(self)
        with warnings.catch_warnings():
            # The GP's kernel fit often stops at a bound on small searches; harmless,
            # and it must not reach `kzoo tune`'s output.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0),
                         np.nan_to_num(y, posinf=0, neginf=0))
        bounds = private.hp_bounds(self)

        def bound(points):
            mu, sigma = self.gpr.predict(np.atleast_2d(points), return_std=True)
            return np.ravel(mu) - self.beta * np.ravel(sigma)

        points = private.random_state(self).uniform(
            bounds[:, 0], bounds[:, 1], size=(self.candidates, len(bounds))
        )
        scores = bound(points)
        order = np.argsort(scores)
        # The best random point stands unless a refinement beats it.
        best_x, best = points[order[0]], scores[order[0]]
        for start in points[order[: self.refine]]:
            result = scipy.optimize.minimize(
                lambda p: float(bound(p)[0]), x0=start, bounds=bounds, method="L-BFGS-B"
            )
            if result.fun < best:
                best_x, best = result.x, result.fun
        return private.vector_to_values(self, best_x)
