"""``ShallowNNRegressor``: the public face of the regressor.

Its docstring, parameters and constraints, ``fit`` / ``partial_fit`` /
``predict``, and the parts that depend on real-valued targets (their encoding
and the output function of each loss). The fit flow, the kernels and the
drivers are the classifier's (:mod:`fastnn._base`); the weights are drawn and
the samples shuffled exactly as ``MLPRegressor`` does, so the same parameters
and ``random_state`` give the same model.
"""

from typing import ClassVar

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _docs
from ._base import BaseShallowNN

_LOSS = """\
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss, with its output function, as in MLPRegressor:
        ``'squared_error'`` is half the squared error averaged over samples and
        outputs, with an identity output; ``'poisson'`` is the half Poisson
        deviance ``xlogy(y, y / p) - y + p`` (summed over outputs, averaged over
        samples) with an exponential output ``p = exp(z)``. ``'poisson'``
        requires non-negative targets. Keyword-only here (MLPRegressor takes
        it as its first positional parameter).

"""


class ShallowNNRegressor(RegressorMixin, BaseShallowNN):
    __doc__ = (
        """One-hidden-layer neural network regressor trained by compiled kernels.

    A drop-in replacement for
    ``sklearn.neural_network.MLPRegressor(hidden_layer_sizes=(n_hidden,))``:
    same parameters, same defaults, same losses (``'squared_error'`` and
    ``'poisson'``) and the same fitted attributes; ``score`` is R^2. With the
    same parameters and ``random_state``, a deterministic fit (solver ``'gd'``,
    or ``'sgd'`` / ``'adam'``) gives the same weights as MLPRegressor up to
    floating-point rounding. Single and multi-output ``y``.

"""
        + _docs.parameters_and_attributes(
            "MLPRegressor", score="R^2", split="not stratified",
            warm_start="``y`` must have the number of outputs of the previous fit.",
            out_activations="``'identity'`` (squared error) or ``'exp'`` (poisson)",
            extra_first=_LOSS,
        )
        + """    See Also
    --------
    sklearn.neural_network.MLPRegressor : The multi-layer reference model.
    ShallowNNClassifier : The classifier twin.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastnn import ShallowNNRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=1.0,
    ...                        random_state=0)
    >>> reg = ShallowNNRegressor(n_hidden=32, learning_rate_init=0.01,
    ...                          max_iter=500, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
"""
    )

    _parameter_constraints: ClassVar[dict] = {
        **BaseShallowNN._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        n_hidden=100,
        activation="relu",
        *,
        loss="squared_error",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        progress_bar=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        negative_slope=0.01,
        init="glorot",
        device="cpu",
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.loss = loss
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.progress_bar = progress_bar
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.negative_slope = negative_slope
        self.init = init
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data. float32 input trains in float32 (targets included),
            anything else in float64.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (real numbers; non-negative for ``'poisson'``).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. None means every sample has weight one.

        Returns
        -------
        self : object
            Returns a trained model.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. None means every sample has weight one.

        Returns
        -------
        self : object
            Returns the updated model.
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, incremental, dtype):
        """The targets as a C-contiguous (n_samples, n_outputs) array of ``dtype``."""
        Y = np.ascontiguousarray(np.reshape(y, (y.shape[0], -1)), dtype=dtype)
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for "
                "Poisson regression."
            )
        resumed = hasattr(self, "coefs_") and (self.warm_start or incremental)
        if resumed and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} output(s), but this model was fitted with "
                f"{self.n_outputs_}: warm_start and partial_fit continue a fit "
                "with the same outputs."
            )
        return Y

    def _out_activation(self):
        """Identity output for the squared error, exp for the Poisson deviance."""
        return "exp" if self.loss == "poisson" else "identity"

    def predict(self, X):
        """Predict using the trained network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        check_is_fitted(self)
        y_pred = self._forward(X)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As PoissonRegressor: the estimator checks then draw non-negative targets.
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags
