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

from ._base import BaseShallowNN


class ShallowNNRegressor(RegressorMixin, BaseShallowNN):
    """One-hidden-layer neural network regressor trained by compiled kernels.

    A drop-in replacement for
    ``sklearn.neural_network.MLPRegressor(hidden_layer_sizes=(n_hidden,))``:
    same parameters, same defaults, same losses (``'squared_error'`` and
    ``'poisson'``) and the same fitted attributes; ``score`` is R^2. With the
    same parameters and ``random_state``, a deterministic fit (solver ``'gd'``,
    or ``'sgd'`` / ``'adam'``) gives the same weights as MLPRegressor up to
    floating-point rounding. Single and multi-output ``y``.

    Parameters
    ----------
    n_hidden : int, default=100
        Number of units in the hidden layer.

    activation : {'identity', 'logistic', 'sigmoid', 'tanh', 'relu', \
'leaky_relu'}, default='relu'
        Activation function of the hidden layer. ``'sigmoid'`` is an alias of
        ``'logistic'``; ``'leaky_relu'`` returns ``max(x, negative_slope * x)``.

    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss, with its output function, as in MLPRegressor:
        ``'squared_error'`` is half the squared error averaged over samples and
        outputs, with an identity output; ``'poisson'`` is the half Poisson
        deviance ``xlogy(y, y / p) - y + p`` (summed over outputs, averaged over
        samples) with an exponential output ``p = exp(z)``. ``'poisson'``
        requires non-negative targets. Keyword-only here (MLPRegressor takes
        it as its first positional parameter).

    solver : {'adam', 'sgd', 'gd', 'lbfgs'}, default='adam'
        The solver for weight optimization. ``'gd'`` is full-batch gradient
        descent (MLPRegressor's ``'sgd'`` with ``batch_size=n_samples`` and
        ``momentum=0``); it ignores ``batch_size``, ``shuffle`` and the momentum
        parameters. ``'lbfgs'`` is scipy's L-BFGS-B on the full-batch loss, as
        in MLPRegressor; it has no ``partial_fit`` and ignores early stopping.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size when
        added to the loss.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for ``'sgd'`` and ``'adam'``. ``'auto'`` means
        ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for ``'sgd'`` and ``'gd'``, as in MLPRegressor.

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs (``'gd'``, ``'sgd'``, ``'adam'``) or of
        iterations (``'lbfgs'``).

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (``'sgd'`` and ``'adam'``).
        On CUDA each epoch's order is a keyed bijection computed on the GPU, not
        NumPy's shuffle: shuffled CUDA fits are statistically equivalent to CPU
        fits but not identical (with ``shuffle=False`` or ``'gd'`` they agree).

    random_state : int, RandomState instance or None, default=None
        Determines the initial weights and the shuffling. Pass an int for
        reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization: training stops when the loss or, with
        ``early_stopping``, the validation score does not improve by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. For ``'lbfgs'`` it
        is the gradient tolerance ``gtol``.

    verbose : bool, default=False
        Whether to print the loss of each epoch. Lines appear as training goes,
        once per chunk of epochs (about every 0.1 s).

    progress_bar : bool, default=False
        Show a ``tqdm`` progress bar (epochs, current loss, ETA) during ``fit``.
        Requires the optional ``tqdm`` package.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous call to fit as
        initialization, otherwise, just erase the previous solution. ``y``
        must have the number of outputs of the previous fit.

    momentum : float, default=0.9
        Momentum of the ``'sgd'`` updates, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (``'sgd'`` with ``momentum > 0``).

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set aside
        ``validation_fraction`` of training data as validation (not
        stratified) and terminate training when the validation R^2 is not
        improving by at least ``tol`` for ``n_iter_no_change`` consecutive
        epochs; the weights with the best validation R^2 are kept. Only
        effective for ``'gd'``, ``'sgd'`` and ``'adam'``.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1. Only used if early_stopping is
        True.

    beta_1 : float, default=0.9
        Exponential decay rate of Adam's first moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate of Adam's second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in Adam.

    n_iter_no_change : int or np.inf, default=10
        Maximum number of epochs without an improvement of at least ``tol``.

    max_fun : int, default=15000
        Only used when ``solver='lbfgs'``. Maximum number of loss function
        calls.

    negative_slope : float, default=0.01
        Slope of ``'leaky_relu'`` for negative inputs (non-negative).

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where to train, as for :class:`ShallowNNClassifier`: ``'cuda'`` trains
        on an NVIDIA GPU with data, weights and optimizer state resident there;
        ``'auto'`` uses CUDA when a GPU is usable. ``'lbfgs'`` runs on the CPU
        only. Fitted weights are NumPy arrays whatever the device.

    Attributes
    ----------
    loss_ : float
        The loss of the last epoch (``'lbfgs'``: the final loss).

    best_loss_ : float or None
        The minimum loss reached during the fit. If `early_stopping=True`, this
        attribute is set to `None`. Refer to the `best_validation_score_` fitted
        attribute instead.

    loss_curve_ : list of shape (n_iter_,)
        The loss at the end of each epoch (empty for ``'lbfgs'``).

    validation_scores_ : list of shape (n_iter_,) or None
        The R^2 on the held-out validation set at each epoch. Only available if
        `early_stopping=True`, otherwise the attribute is set to `None`.

    best_validation_score_ : float or None
        The best validation R^2, whose weights were kept. Only available if
        `early_stopping=True`, otherwise the attribute is set to `None`.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (2,) of ndarray
        ``coefs_[0]`` of shape (n_features, n_hidden), ``coefs_[1]`` of shape
        (n_hidden, n_outputs).

    intercepts_ : list of shape (2,) of ndarray
        ``intercepts_[0]`` of shape (n_hidden,), ``intercepts_[1]`` of shape
        (n_outputs,).

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has
        feature names that are all strings.

    n_iter_ : int
        The number of epochs the solver has run.

    n_layers_ : int
        Number of layers (always 3: input, hidden, output).

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation: ``'identity'`` (squared error) or
        ``'exp'`` (poisson).

    device_ : str
        The device the last fit ran on: ``'cpu'`` or ``'cuda'``.

    See Also
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
