"""``ShallowNNClassifier``: a scikit-learn estimator over the compiled kernels.

The estimator validates input, resolves names into kernel codes, owns the random
state and the bookkeeping, and calls the kernels in :mod:`fastnn.cpu`. It draws
its initial weights and shuffles exactly as ``MLPClassifier`` does, so the same
parameters and ``random_state`` give the same model.
"""

import time
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .cpu import network, threads, training
from .ops import activations as act_ops
from .ops import optimizers as opt_ops

# Seconds of compiled work per chunk of epochs: long enough that the Python
# round trip between chunks is noise, short enough to react to Ctrl-C at once.
_CHUNK_SECONDS = 0.1
# Cap on the shuffled sample orders generated for one chunk (int64 entries).
_MAX_ORDER_ENTRIES = 1 << 22


class ShallowNNClassifier(ClassifierMixin, BaseEstimator):
    """One-hidden-layer neural network classifier trained by compiled kernels.

    A drop-in replacement for
    ``sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(n_hidden,))``:
    same parameters, same defaults, same log-loss objective and the same fitted
    attributes. With the same parameters and ``random_state``, a deterministic fit
    (solver ``'gd'``, or ``'sgd'`` / ``'adam'``) gives the same weights as
    MLPClassifier up to floating-point rounding.

    Parameters
    ----------
    n_hidden : int, default=100
        Number of units in the hidden layer.

    activation : {'identity', 'logistic', 'sigmoid', 'tanh', 'relu', \
'leaky_relu'}, default='relu'
        Activation function of the hidden layer. ``'sigmoid'`` is an alias of
        ``'logistic'``; ``'leaky_relu'`` returns ``max(x, negative_slope * x)``.

    solver : {'adam', 'sgd', 'gd'}, default='adam'
        The solver for weight optimization. ``'gd'`` is full-batch gradient
        descent (MLPClassifier's ``'sgd'`` with ``batch_size=n_samples`` and
        ``momentum=0``); it ignores ``batch_size``, ``shuffle`` and the momentum
        parameters.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size when
        added to the loss.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for ``'sgd'`` and ``'adam'``. ``'auto'`` means
        ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for ``'sgd'`` and ``'gd'``, as in MLPClassifier.

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs.

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (``'sgd'`` and ``'adam'``).

    random_state : int, RandomState instance or None, default=None
        Determines the initial weights and the shuffling. Pass an int for
        reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization: training stops when the loss does not
        improve by at least ``tol`` for ``n_iter_no_change`` consecutive epochs.

    verbose : bool, default=False
        Whether to print the loss of each epoch.

    momentum : float, default=0.9
        Momentum of the ``'sgd'`` updates, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (``'sgd'`` with ``momentum > 0``).

    beta_1 : float, default=0.9
        Exponential decay rate of Adam's first moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate of Adam's second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in Adam.

    n_iter_no_change : int or np.inf, default=10
        Maximum number of epochs without an improvement of at least ``tol``.

    negative_slope : float, default=0.01
        Slope of ``'leaky_relu'`` for negative inputs (non-negative).

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.

    loss_ : float
        The loss of the last epoch.

    best_loss_ : float
        The minimum loss reached during the fit.

    loss_curve_ : list of shape (n_iter_,)
        The loss at the end of each epoch.

    validation_scores_ : None
        Kept for MLPClassifier compatibility (early stopping comes later).

    best_validation_score_ : None
        Kept for MLPClassifier compatibility.

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
        Name of the output activation: ``'logistic'`` or ``'softmax'``.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The multi-layer reference model.

    Examples
    --------
    >>> from fastnn import ShallowNNClassifier, make_flower
    >>> X, y = make_flower()
    >>> clf = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
    ...                           learning_rate_init=1.2, max_iter=2000,
    ...                           random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.85
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(act_ops.CODES))],
        "solver": [StrOptions(set(opt_ops.CODES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions(set(opt_ops.SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "negative_slope": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_hidden=100,
        activation="relu",
        *,
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
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        negative_slope=0.01,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
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
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.negative_slope = negative_slope

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data. float32 input trains in float32, anything else in
            float64.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target class labels; a binary indicator matrix for multilabel.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. None means every sample has weight one.

        Returns
        -------
        self : object
            Returns a trained model.
        """
        X, Y = self._validate_input(X, y)
        sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self._random_state = check_random_state(self.random_state)
        self._initialize(X.shape[1], Y.shape[1], X.dtype)
        theta = self._pack()
        self._run_solver(X, Y, sw, theta)
        self._unpack(theta)
        return self

    def _validate_input(self, X, y):
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            dtype=(np.float64, np.float32),
            order="C",
            reset=True,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        target_type = type_of_target(y, input_name="y")
        self._label_binarizer = LabelBinarizer()
        self._label_binarizer.fit(y)
        self.classes_ = self._label_binarizer.classes_
        if target_type != "multilabel-indicator" and len(self.classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {self.classes_[0]!r}"
            )
        Y = np.ascontiguousarray(self._label_binarizer.transform(y), dtype=np.uint8)
        return X, Y

    def _initialize(self, n_features, n_outputs, dtype):
        """Glorot-uniform weights, drawn in MLPClassifier's order from its RNG."""
        self.n_outputs_ = n_outputs
        self.n_layers_ = 3
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        self.out_activation_ = "softmax" if multiclass else "logistic"
        factor = 2.0 if act_ops.CODES[self.activation] == act_ops.LOGISTIC else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in ((n_features, self.n_hidden),
                                (self.n_hidden, n_outputs)):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            self.coefs_.append(coef.astype(dtype, copy=False))
            self.intercepts_.append(intercept.astype(dtype, copy=False))
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _pack(self):
        W1, W2 = self.coefs_
        b1, b2 = self.intercepts_
        return np.concatenate([W1.ravel(), b1, W2.ravel(), b2])

    def _unpack(self, theta):
        d, o = self.coefs_[0].shape[0], self.coefs_[1].shape[1]
        W1, b1, W2, b2 = network.unpack(theta, d, self.n_hidden, o)
        self.coefs_ = [W1.copy(), W2.copy()]
        self.intercepts_ = [b1.copy(), b2.copy()]

    def _kernel_args(self):
        """Network scalars every kernel takes, resolved from the parameters."""
        return (
            self.n_hidden,
            act_ops.CODES[self.activation],
            float(self.negative_slope),
            self.out_activation_ == "softmax",
        )

    def _batch_size(self, n_samples):
        if self.solver == "gd":
            return n_samples
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is "
                "going to be clipped",
                stacklevel=3,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _run_solver(self, X, Y, sw, theta):
        """Train ``theta`` in chunks of epochs, with bookkeeping between chunks."""
        n_samples = X.shape[0]
        batch_size = self._batch_size(n_samples)
        shuffle = self.shuffle and self.solver != "gd"
        backups = np.stack([theta, theta])
        slot1 = np.zeros_like(theta)
        slot2 = np.zeros_like(theta)
        state = np.zeros(training.N_STATE)
        state[training.LR] = self.learning_rate_init
        state[training.BEST_LOSS] = self.best_loss_
        sample_idx = np.arange(n_samples)
        kernel_args = self._kernel_args()
        eps = float(np.finfo(X.dtype).eps)
        solver_args = (
            float(self.alpha),
            eps,
            opt_ops.CODES[self.solver],
            batch_size,
            opt_ops.SCHEDULES[self.learning_rate],
            float(self.learning_rate_init),
            float(self.power_t),
            float(self.momentum),
            bool(self.nesterovs_momentum),
            float(self.beta_1),
            float(self.beta_2),
            float(self.epsilon),
            float(self.tol),
            float(self.n_iter_no_change),
        )
        blas = network.use_blas(X.shape[1], self.n_hidden)
        work = network.workspace(
            X.shape[1], self.n_hidden, Y.shape[1], batch_size, X.dtype
        )
        chunk = 1
        status = training.RUNNING
        try:
            while self.n_iter_ < self.max_iter and status == training.RUNNING:
                chunk = min(chunk, self.max_iter - self.n_iter_)
                if shuffle:
                    chunk = max(1, min(chunk, _MAX_ORDER_ENTRIES // n_samples))
                    orders = np.empty((chunk, n_samples), dtype=np.intp)
                    for e in range(chunk):
                        perm = np.arange(n_samples)
                        self._random_state.shuffle(perm)
                        sample_idx = sample_idx[perm]
                        orders[e] = sample_idx
                else:
                    orders = sample_idx[np.newaxis, :]
                losses = np.empty(chunk)
                tic = time.perf_counter()
                with threads.parallel_section(blas):
                    done, status = training.train_epochs(
                        X, Y, sw, orders, theta, backups, slot1, slot2, state,
                        losses,
                        *kernel_args, *solver_args, blas, work,
                    )
                elapsed = time.perf_counter() - tic
                self._record_epochs(losses[:done], state)
                if status == training.DIVERGED:
                    self._diverged()
                per_epoch = elapsed / max(done, 1)
                chunk = int(min(max(1, _CHUNK_SECONDS / per_epoch), 2 * chunk + 1))
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if status == training.CONVERGED and self.verbose:
            print(
                f"Training loss did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )
        if status == training.RUNNING and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _record_epochs(self, losses, state):
        for loss in losses:
            self.n_iter_ += 1
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        self.loss_curve_.extend(losses.tolist())
        if len(self.loss_curve_):
            self.loss_ = self.loss_curve_[-1]
        self.best_loss_ = float(state[training.BEST_LOSS])
        self.t_ = int(state[training.T])

    def _diverged(self):
        if self.n_iter_ == 0:
            raise ValueError(
                "Solver produced non-finite parameter weights or loss in the first "
                "epoch. The input data may contain large values and need to be "
                f"preprocessed, or learning_rate_init={self.learning_rate_init} is "
                "too large."
            )
        warnings.warn(
            f"Training diverged at epoch {self.n_iter_ + 1}: the loss or the weights "
            "became non-finite. Training stopped and the weights of the last "
            f"epoch with a finite loss were kept. Lower learning_rate_init (now "
            f"{self.learning_rate_init}) or scale the input features.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _forward(self, X):
        """Output-layer activations of validated ``X``, shape (n_samples, n_out)."""
        theta = self._pack()
        out = np.empty((X.shape[0], self.n_outputs_), dtype=theta.dtype)
        X = np.ascontiguousarray(X, dtype=theta.dtype)
        blas = network.use_blas(X.shape[1], self.n_hidden)
        with threads.parallel_section(blas):
            network.predict_proba(X, theta, *self._kernel_args(), blas, out)
        return out

    def predict(self, X):
        """Predict using the trained network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of
            ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        y_prob = self._forward(X)
        if self.n_outputs_ == 1:
            p = y_prob.ravel()
            return np.column_stack([1 - p, p])
        return y_prob

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
