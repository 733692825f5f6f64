"""MiniRocket's linear head: ridge regression solved in closed form, or logistic
regression trained by `fit` (Dempster, Schmidt & Webb 2021).

The paper's classifier is scikit-learn's `RidgeClassifierCV` (one-vs-rest ridge on
targets +1/-1, the penalty chosen among `logspace(-3, 3, 10)` by leave-one-out
cross-validation) for small training sets, and logistic regression trained by
SGD for 10,000+ training examples (angus924/minirocket README and `softmax.py`).
`choose_head_fit` applies that rule; `LinearHead.fit_closed_form` solves the ridge
and writes it into the layer's Dense kernel, so the model stays one Keras model,
scaled by one temperature so that its softmax gives calibrated probabilities.
"""

import warnings

import keras
import numpy as np

from kzoo.runtime.errors import UsageError
from kzoo.zoo._defaults import get_recipe

HEAD_FITS = ("auto", "ridge", "logistic")
# RidgeClassifierCV's grid in the reference pipelines on standardised features
# (aeon / sktime MiniRocket: StandardScaler, then RidgeClassifierCV(logspace(-3, 3, 10))).
RIDGE_ALPHAS = tuple(np.logspace(-3, 3, 10))
CLASSIFIER_HEADS = ("binary", "multiclass")


def choose_head_fit(head_fit, *, head, depth=1, l2=0.0, dropout=0.0, n=None):
    """`"ridge"` or `"logistic"` (or `"auto"` while `n` is unknown) for these settings.

    `"auto"` is the paper's rule: ridge for a linear classifier (`depth` 1, no `l2`
    or `dropout`, which are the logistic head's) on at most the recipe's
    `ridge_max_examples` training examples, logistic regression otherwise.
    """
    if head_fit not in HEAD_FITS:
        raise UsageError(f"minirocket: head_fit must be one of {HEAD_FITS}, got {head_fit!r}.")
    logistic_only = [why for why, on in (
        (f"head={head!r} (ridge classifies: binary or multiclass)", head not in CLASSIFIER_HEADS),
        (f"depth={depth}", depth != 1), (f"l2={l2}", l2), (f"dropout={dropout}", dropout))
        if on]
    if head_fit == "ridge" and logistic_only:
        raise UsageError(
            f"minirocket: head_fit='ridge' is a linear classifier solved in closed form, "
            f"but {', '.join(logistic_only)} set the trained head; use head_fit='logistic' "
            "(or drop those settings).")
    if head_fit == "logistic" or logistic_only:
        return "logistic"
    if head_fit == "ridge":
        return "ridge"
    if n is None:
        return "auto"
    return "ridge" if n <= get_recipe("minirocket").ridge_max_examples else "logistic"


def _targets(y, units, n_classes):
    """+1/-1 one-vs-rest targets `(n, units)` from integer labels (or one-hot rows)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype("int64")
    if units == 1:  # binary head: one column, class 1 positive (RidgeClassifierCV's too)
        return np.where(y == 1, 1.0, -1.0)[:, None]
    if y.min() < 0 or y.max() >= n_classes:
        raise UsageError(f"minirocket: labels must lie in 0..{n_classes - 1}, got "
                         f"{y.min()}..{y.max()}.")
    targets = -np.ones((len(y), units))
    targets[np.arange(len(y)), y] = 1.0
    return targets


def fit_temperature(scores, targets):
    """The `t` in [0.01, 100] whose softmax(t x scores) (sigmoid for one column) has the
    lowest cross-entropy against the +1/-1 `targets` (`scores`: leave-one-out)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    if scores.shape[1] == 1:
        def loss(log_t):
            return np.logaddexp(0.0, -np.exp(log_t) * scores * targets).mean()
    else:
        labels = targets.argmax(axis=1)

        def loss(log_t):
            logp = log_softmax(np.exp(log_t) * scores, axis=1)
            return -logp[np.arange(len(labels)), labels].mean()
    best = minimize_scalar(loss, bounds=(np.log(0.01), np.log(100.0)), method="bounded")
    return float(np.exp(best.x))


@keras.saving.register_keras_serializable(package="kzoo")
class LinearHead(keras.layers.Dense):
    """A Dense output layer that `kzoo.zoo.fit_to_data` can solve in closed form.

    Args:
        units, activation, ...: as `keras.layers.Dense`.
        head_fit: `"ridge"`, `"logistic"` or `"auto"` (`choose_head_fit` at fit time).
        temperature: the factor of the ridge scores in the kernel (None: not solved).
    """

    def __init__(self, units, *, head_fit="auto", temperature=None, **kwargs):
        super().__init__(units, **kwargs)
        self.head_fit = head_fit
        self.temperature = temperature  # set by the ridge solution (kernel = it x ridge's)

    def fit_closed_form(self, features, y):
        """Solve ridge on `features` (`(n, inputs)`, the head's inputs for the training
        set) and labels `y` when the head is ridge for `n` examples, then freeze the
        layer. Returns a line saying what was done, or None (the head stays trained)."""
        n = len(features)
        if choose_head_fit(self.head_fit, head="multiclass", n=n) != "ridge":
            return None
        from sklearn.linear_model import RidgeCV  # a kzoo dependency; imported when used

        targets = _targets(y, self.units, max(self.units, 2))
        features = np.asarray(features, "float64")
        # RidgeClassifierCV is RidgeCV on these targets (leave-one-out, mean squared
        # error over every column); RidgeCV also keeps a column for an absent class.
        ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(features, targets)
        # The scores are on the +1/-1 targets' scale: one temperature, fitted to the
        # leave-one-out scores, makes softmax (sigmoid) of them calibrated probabilities
        # without changing the predicted class.
        loo = RidgeCV(alphas=[ridge.alpha_], scoring="neg_mean_squared_error",
                      store_cv_results=True).fit(features, targets).cv_results_[..., 0]
        self.temperature = fit_temperature(loo, targets)
        scale = np.float32(self.temperature)
        self.kernel.assign(scale * np.asarray(ridge.coef_, "float32").reshape(self.units, -1).T)
        if self.use_bias:
            self.bias.assign(scale * np.asarray(ridge.intercept_, "float32").reshape(self.units))
        self.trainable = False  # the solution is final: fit only evaluates it
        # ...so Keras' warning that the model has nothing to train (tensorflow, torch)
        # would mislead the run's reader.
        warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        return (f"ridge head solved in closed form on {n} examples (alpha "
                f"{float(ridge.alpha_):.3g} of logspace(-3, 3, 10) by leave-one-out, "
                f"temperature {self.temperature:.3g})")

    def get_config(self):
        return {**super().get_config(), "head_fit": self.head_fit,
                "temperature": self.temperature}
