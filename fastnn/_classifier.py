"""``ShallowNNClassifier``: a scikit-learn estimator over the compiled kernels.

The estimator validates input, resolves names into kernel codes, owns the random
state and the bookkeeping, and calls the kernels in :mod:`fastnn.cpu` (or, with
``device='cuda'``, their twins in :mod:`fastnn.cuda`, imported only then). It draws
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
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _device
from ._compile import will_compile
from .cpu import network, threads, training
from .ops import activations as act_ops
from .ops import optimizers as opt_ops
from .ops import schedules
from .ops.bundles import Curves, Data, Network, Params, Solver, Validation
from .ops.layout import Layout, unpack

# Seconds of compiled work per chunk of epochs: long enough that the Python
# round trip between chunks is noise, short enough to react to Ctrl-C at once.
_CHUNK_SECONDS = 0.1
# Cap on the shuffled sample orders generated for one chunk (int64 entries).
_MAX_ORDER_ENTRIES = 1 << 22


def _rows(n):
    """``arange(n)`` as the kernels' row indices: int32 while it fits.

    Half the memory of ``intp`` for the index arrays of a fit (P3's peak memory);
    only data sets of 2**31 rows or more compile the ``intp`` kernels.
    """
    return np.arange(n, dtype=np.int32 if n < 2**31 else np.intp)
# Rows from which a CUDA-fitted model predicts host arrays on the GPU: below it the
# copies to and from the device cost more than the CPU kernels take.
_GPU_PREDICT_MIN_ROWS = 1 << 16


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

    solver : {'adam', 'sgd', 'gd', 'lbfgs'}, default='adam'
        The solver for weight optimization. ``'gd'`` is full-batch gradient
        descent (MLPClassifier's ``'sgd'`` with ``batch_size=n_samples`` and
        ``momentum=0``); it ignores ``batch_size``, ``shuffle`` and the momentum
        parameters. ``'lbfgs'`` is scipy's L-BFGS-B on the full-batch loss, as
        in MLPClassifier; it has no ``partial_fit`` and ignores early stopping.

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
        initialization, otherwise, just erase the previous solution. The
        classes of ``y`` must be those of the previous fit.

    momentum : float, default=0.9
        Momentum of the ``'sgd'`` updates, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (``'sgd'`` with ``momentum > 0``).

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set aside
        ``validation_fraction`` of training data as validation (stratified for
        binary targets) and terminate training when the validation accuracy is
        not improving by at least ``tol`` for ``n_iter_no_change`` consecutive
        epochs; the weights with the best validation accuracy are kept. Only
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

    class_weight : dict, list of dict or 'balanced', default=None
        Weights associated with classes in the form ``{class_label: weight}``.
        If not given, all classes are supposed to have weight one. The
        "balanced" mode uses the values of y to automatically adjust weights
        inversely proportional to class frequencies in the input data as
        ``n_samples / (n_classes * np.bincount(y))``. These weights are
        multiplied with ``sample_weight`` (passed through the fit method). For
        multilabel ``y``, pass a list of dicts, one per output.
        ``partial_fit`` does not support 'balanced'.

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where to train. ``'cuda'`` trains on an NVIDIA GPU (needs the ``cuda``
        extra and a CUDA runtime; raises otherwise) with data, weights and
        optimizer state resident on the device; ``'auto'`` uses CUDA when a GPU
        is usable, else the CPU. ``X`` (and ``y``) may then be GPU arrays (CuPy,
        PyTorch CUDA tensors, numba device arrays): ``X`` is used in place, ``y``
        is copied to the host to encode the labels. ``'lbfgs'`` runs on the CPU
        only. Fitted weights are NumPy arrays whatever the device.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.

    loss_ : float
        The loss of the last epoch (``'lbfgs'``: the final loss).

    best_loss_ : float or None
        The minimum loss reached during the fit. If `early_stopping=True`, this
        attribute is set to `None`. Refer to the `best_validation_score_` fitted
        attribute instead.

    loss_curve_ : list of shape (n_iter_,)
        The loss at the end of each epoch (empty for ``'lbfgs'``).

    validation_scores_ : list of shape (n_iter_,) or None
        The accuracy on the held-out validation set at each epoch. Only
        available if `early_stopping=True`, otherwise the attribute is set to
        `None`.

    best_validation_score_ : float or None
        The best validation accuracy, whose weights were kept. Only available
        if `early_stopping=True`, otherwise the attribute is set to `None`.

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

    device_ : str
        The device the last fit ran on: ``'cpu'`` or ``'cuda'``. A CUDA-fitted
        model predicts GPU arrays, and host arrays of at least 65536 rows, on the
        GPU when one is usable, and everything else on the CPU.

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
        "solver": [StrOptions({*opt_ops.CODES, "lbfgs"})],
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
        "progress_bar": ["boolean"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "negative_slope": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
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
        class_weight=None,
        device="cpu",
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
        self.class_weight = class_weight
        self.device = device

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
            Sample weights. None means every sample has weight one. Multiplied
            by the weights of ``class_weight``.

        Returns
        -------
        self : object
            Returns a trained model.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in opt_ops.CODES:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target class labels.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit. Can be obtained via
            `np.unique(y_all)`, where y_all is the target vector of the entire
            dataset. This argument is required for the first call to
            partial_fit and can be omitted in the subsequent calls. Note that y
            doesn't need to contain all labels in `classes`.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. None means every sample has weight one.

        Returns
        -------
        self : object
            Returns the updated model.
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. Use "
                "compute_class_weight('balanced', classes=classes, y=y_all) and "
                "pass the resulting dict as class_weight."
            )
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        device = self._resolve_device()
        X, y, Y = self._validate_input(X, y, incremental, first_pass, device)
        if not first_pass:
            X = self._as_dtype(X, self.coefs_[0].dtype)
        sw = self._sample_weight(sample_weight, _device.host_like(X), y)
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], Y.shape[1], X.dtype)
        self.device_ = device
        theta = self._pack()
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sw, theta)
        else:
            self._fit_stochastic(X, Y, sw, theta, incremental)
        self._unpack(theta)
        return self

    def _resolve_device(self):
        if self.solver == "lbfgs" and self.device != "cpu":
            if self.device == "auto":
                return "cpu"
            raise ValueError(
                "solver='lbfgs' runs on the CPU only (scipy drives it one loss "
                "evaluation at a time); use device='cpu' or 'auto', or a stochastic "
                "solver on CUDA."
            )
        return _device.resolve(self.device)

    def _as_dtype(self, X, dtype):
        if not _device.is_device_array(X):
            return np.ascontiguousarray(X, dtype=dtype)
        if X.dtype != dtype:
            raise ValueError(
                f"This model was fitted in {np.dtype(dtype)}; pass GPU arrays of "
                f"that dtype, not {X.dtype}."
            )
        return X

    def _validate_device_X(self, X, y=None, reset=True):
        """Check a GPU array in place (2-D, float, finite), as ``validate_data``.

        Returns the numba device array viewing ``X`` (and the host copy of
        ``y``, validated, when ``y`` is given).
        """
        from .cuda import network as gpu_network

        X = gpu_network.use_device(X)
        name = type(self).__name__
        if len(X.shape) != 2:
            raise ValueError(f"Expected 2D array, got {len(X.shape)}D array instead.")
        if X.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"{name} uses GPU arrays in place and needs them of dtype float32 "
                f"or float64, got {X.dtype}."
            )
        if X.shape[0] < 1:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                f"of 1 is required by {name}."
            )
        has_nan, has_inf = gpu_network.nonfinite(X)
        if has_nan:
            raise ValueError("Input X contains NaN.")
        if has_inf:
            raise ValueError(
                f"Input X contains infinity or a value too large for {X.dtype!r}."
            )
        if y is None:
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        y = _check_y(_device.to_host(y), multi_output=True, estimator=self)
        check_consistent_length(_device.host_like(X), y)
        validate_data(self, X, y, skip_check_array=True, reset=reset)
        return X, y

    def _validate_input(self, X, y, incremental, reset, device):
        """Validated ``X``, labels ``y`` and their binarized indicator ``Y``."""
        if device == "cuda" and _device.is_device_array(X):
            X, y = self._validate_device_X(X, y, reset)
        else:
            X, y = validate_data(
                self,
                _device.to_host(X),
                _device.to_host(y),
                multi_output=True,
                dtype=(np.float64, np.float32),
                order="C",
                reset=reset,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        type_of_target(y, input_name="y")  # rejects unknown label types
        # MLPClassifier's rules: refit the labels unless warm-starting or
        # continuing a partial_fit, which must see known classes only.
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        # One class fits as in MLPClassifier: a logistic output trained towards
        # 0 (LabelBinarizer's all-zero column), predicting that class.
        return X, y, self._binarize(y)

    def _binarize(self, y):
        """``LabelBinarizer.transform(y)`` as uint8, without its large temporaries.

        For binary and multiclass targets the indicator is built from the class
        codes directly: LabelBinarizer builds a sparse matrix and an int64 copy
        first, ~50 bytes per sample at the peak (P3's peak memory).
        """
        binarizer = self._label_binarizer
        if binarizer.y_type_ not in ("binary", "multiclass"):
            return np.ascontiguousarray(binarizer.transform(y), dtype=np.uint8)
        codes = np.searchsorted(binarizer.classes_, y)
        if binarizer.y_type_ == "binary":
            return (codes == 1).astype(np.uint8).reshape(-1, 1)
        Y = np.zeros((codes.shape[0], len(binarizer.classes_)), dtype=np.uint8)
        Y[np.arange(codes.shape[0]), codes] = 1
        return Y

    def _sample_weight(self, sample_weight, X, y):
        """``sample_weight`` times the weights of ``class_weight``."""
        sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if self.class_weight is not None:
            sw = sw * compute_sample_weight(self.class_weight, y)
        return np.ascontiguousarray(sw, dtype=X.dtype)

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
        self._no_improvement_count = 0
        self._optimizer = None
        self._best_theta = self._pack()
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _pack(self):
        W1, W2 = self.coefs_
        b1, b2 = self.intercepts_
        return np.concatenate([W1.ravel(), b1, W2.ravel(), b2])

    def _unpack(self, theta):
        W1, b1, W2, b2 = unpack(self._layout(), theta)
        self.coefs_ = [W1.copy(), W2.copy()]
        self.intercepts_ = [b1.copy(), b2.copy()]

    def _layout(self):
        return Layout.of(self.coefs_[0].shape[0], self.n_hidden, self.n_outputs_)

    def _network(self, dtype):
        """The :class:`~fastnn.ops.bundles.Network` every kernel takes."""
        return Network(
            layout=self._layout(),
            activation=act_ops.CODES[self.activation],
            slope=float(self.negative_slope),
            softmax=self.out_activation_ == "softmax",
            eps=float(np.finfo(dtype).eps),
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
                stacklevel=4,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_lbfgs(self, X, Y, sw, theta):
        """Minimise the full-batch loss with L-BFGS-B, one kernel call per step."""
        # Imported here: scipy.optimize is slow to import (cold start).
        from scipy.optimize import minimize
        from sklearn.utils.optimize import _check_optimize_result

        rows = _rows(X.shape[0])
        grad = np.empty_like(theta)
        net = self._network(X.dtype)
        data = Data(X, Y, sw)
        blas = network.use_blas(X.shape[1], self.n_hidden)
        work = network.workspace(net.layout, X.shape[0], X.dtype)
        last = theta.astype(np.float64)

        def loss_grad(x):
            x = np.ascontiguousarray(x, dtype=theta.dtype)
            with threads.parallel_section(blas) as n_threads:
                parallel = network.parallelism(net.layout, X.shape[0], n_threads)
                args = (data, rows, net, x, float(self.alpha), work, grad, parallel)
                self._announce_compile(network.loss_grad, args)
                loss = network.loss_grad(*args)
            return float(loss), grad.astype(np.float64)

        def remember(x):
            last[:] = x

        try:
            res = minimize(
                loss_grad,
                last.copy(),
                method="L-BFGS-B",
                jac=True,
                callback=remember,
                options={
                    "maxfun": self.max_fun,
                    "maxiter": self.max_iter,
                    "gtol": self.tol,
                },
            )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
            theta[:] = last
            self.loss_ = float(loss_grad(last)[0])
            return
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = float(res.fun)
        theta[:] = res.x
        if not np.isfinite(theta).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed."
            )

    def _validation_split(self, Y):
        """Training and validation rows, split as MLPClassifier splits them."""
        n_samples = Y.shape[0]
        # MLP stratifies single-output targets only (binary or one class; not
        # multiclass or multilabel), on its RNG, and on its bool indicator: the
        # same split as on uint8, and train_test_split's errors name the same
        # classes ('True', not '1').
        stratify = Y.view(np.bool_) if Y.shape[1] == 1 else None
        # Imported here: sklearn.model_selection is slow to import (cold start).
        from sklearn.model_selection import train_test_split

        train, val = train_test_split(
            _rows(n_samples),
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        return np.ascontiguousarray(train), np.ascontiguousarray(val)

    def _fit_stochastic(self, X, Y, sw, theta, incremental):
        """Run the epochs of gd / sgd / adam, resuming the optimizer if asked."""
        if self.early_stopping:
            train_rows, val_rows = self._validation_split(Y)
            if self.validation_scores_ is None:  # warm start that turned it on
                self.validation_scores_ = []
            score = self.best_validation_score_  # a score of 0.0 is kept
            best = np.inf if score is None else -score
        else:
            train_rows = _rows(X.shape[0])
            val_rows = train_rows[:0]
            best = np.inf if self.best_loss_ is None else self.best_loss_
        state = np.zeros(schedules.N_STATE)
        state[schedules.BEST] = best
        state[schedules.NO_IMPROVEMENT] = self._no_improvement_count
        state[schedules.T] = self.t_
        if incremental and self._optimizer is not None:
            lr, step, slot1, slot2 = self._optimizer
        else:
            lr, step = self.learning_rate_init, 0.0
            slot1, slot2 = np.zeros_like(theta), np.zeros_like(theta)
        state[schedules.LR], state[schedules.STEP] = lr, step
        params = Params(theta, slot1, slot2, np.stack([theta, theta]),
                        np.ascontiguousarray(self._best_theta, dtype=theta.dtype),
                        state)
        self.n_iter_ = 0
        max_epochs = 1 if incremental else self.max_iter
        run = self._run_epochs_cuda if self.device_ == "cuda" else self._run_epochs
        status = run(X, Y, sw, params, train_rows, val_rows, max_epochs)
        self._optimizer = (state[schedules.LR], state[schedules.STEP], slot1, slot2)
        self._no_improvement_count = int(state[schedules.NO_IMPROVEMENT])
        self.t_ = int(state[schedules.T])
        if self.early_stopping:
            self.best_validation_score_ = -float(state[schedules.BEST])
            self._best_theta = params.best
            theta[:] = params.best
        else:
            self.best_loss_ = float(state[schedules.BEST])
        self._report_end(status, incremental)

    def _announce_compile(self, kernel, args):
        """With verbose or progress_bar, say so when ``kernel(*args)`` compiles."""
        if (self.verbose or self.progress_bar) and will_compile(kernel, args):
            print(f"Compiling fastnn's {args[0].X.dtype} kernels for this "
                  "configuration (first use only: the Numba cache keeps them; "
                  "`python -m fastnn compile` bakes them in advance) ...",
                  flush=True)

    def _trivial_score(self):
        """Whether every prediction is right: one class (MLP then scores 1.0)."""
        return len(self.classes_) == 1

    def _solver(self, batch_size):
        """The :class:`~fastnn.ops.bundles.Solver` of the epoch loops."""
        return Solver(
            kind=opt_ops.CODES[self.solver],
            schedule=opt_ops.SCHEDULES[self.learning_rate],
            batch_size=int(batch_size),
            learning_rate_init=float(self.learning_rate_init),
            power_t=float(self.power_t),
            momentum=float(self.momentum),
            nesterov=bool(self.nesterovs_momentum),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            alpha=float(self.alpha),
            tol=float(self.tol),
            n_iter_no_change=float(self.n_iter_no_change),
        )

    def _shuffled_orders(self, sample_idx, train_rows, chunk):
        """One shuffled visiting order per epoch, drawn as MLPClassifier draws."""
        n_train = train_rows.shape[0]
        orders = np.empty((chunk, n_train), dtype=train_rows.dtype)
        for e in range(chunk):
            # intp: RandomState.shuffle swaps native integers ~40% faster than
            # int32, and draws the same permutation for both.
            perm = np.arange(n_train)
            self._random_state.shuffle(perm)
            # sample_idx = sample_idx[perm]; orders[e] = train_rows[sample_idx],
            # through orders[e] so that no temporary copy is made (P3's peak memory).
            order = orders[e]
            np.take(sample_idx, perm, out=order)
            sample_idx[:] = order
            np.take(train_rows, sample_idx, out=order)
        return orders

    def _run_epochs(self, X, Y, sw, params, train_rows, val_rows, max_epochs):
        """Train ``params`` in chunks of epochs, with bookkeeping between chunks."""
        n_train = train_rows.shape[0]
        batch_size = self._batch_size(n_train)
        shuffle = self.shuffle and self.solver != "gd"
        sample_idx = _rows(n_train)
        net = self._network(X.dtype)
        solver = self._solver(batch_size)
        data = Data(X, Y, sw)
        blas = network.use_blas(X.shape[1], self.n_hidden)
        work = network.workspace(net.layout, batch_size, X.dtype)
        val = None
        if val_rows.shape[0]:
            out = np.empty((X.shape[0], Y.shape[1]), dtype=X.dtype)
            val = Validation(val_rows, out, self._trivial_score())

        def run_chunk(chunk):
            if shuffle:
                chunk = max(1, min(chunk, _MAX_ORDER_ENTRIES // n_train))
                orders = self._shuffled_orders(sample_idx, train_rows, chunk)
            else:
                orders = train_rows[np.newaxis, :]
            curves = Curves.empty(chunk)
            with threads.parallel_section(blas) as n_threads:
                parallel = network.parallelism(net.layout, batch_size, n_threads)
                args = (data, orders, net, solver, params, work, val, curves,
                        parallel)
                self._announce_compile(training.train_epochs, args)
                done, status = training.train_epochs(*args)
            return done, status, curves

        return self._drive_chunks(run_chunk, max_epochs, params.state)

    def _drive_chunks(self, run_chunk, max_epochs, state):
        """Call ``run_chunk(n_epochs)`` until training stops; bookkeeping between.

        ``run_chunk`` returns ``(epochs_run, status, curves)``. Chunks grow
        to about ``_CHUNK_SECONDS`` each, so that verbose output, the progress bar
        and Ctrl-C respond while a fit spends little time in Python.
        """
        chunk = 1
        status = schedules.RUNNING
        bar = self._progress_bar(max_epochs)
        try:
            while self.n_iter_ < max_epochs and status == schedules.RUNNING:
                chunk = min(chunk, max_epochs - self.n_iter_)
                tic = time.perf_counter()
                done, status, curves = run_chunk(chunk)
                elapsed = time.perf_counter() - tic
                self._record_epochs(curves, done, state)
                if bar is not None and done:
                    bar.update(done)
                    bar.set_postfix(loss=f"{curves.loss[done - 1]:.6f}",
                                    refresh=False)
                if status == schedules.DIVERGED:
                    self._diverged()
                per_epoch = elapsed / max(done, 1)
                chunk = int(min(max(1, _CHUNK_SECONDS / per_epoch), 2 * chunk + 1))
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            if bar is not None:
                bar.close()
        return status

    def _run_epochs_cuda(self, X, Y, sw, params, train_rows, val_rows, max_epochs):
        """:meth:`_run_epochs` on the GPU: data and weights copied there once.

        The weights, optimizer slots and best weights come back to the host
        arrays at the end, also after an interruption.
        """
        from .cuda import network as gpu_network
        from .cuda import training as gpu_training

        put = gpu_network.use_device
        batch_size = self._batch_size(train_rows.shape[0])
        shuffle = self.shuffle and self.solver != "gd"
        net = self._network(X.dtype)
        solver = self._solver(batch_size)
        data = Data(put(X), put(Y), put(sw))
        host = (params.theta, params.slot1, params.slot2, params.best)
        device = Params(*(put(a) for a in host[:3]), put(params.backups),
                        put(params.best), params.state)
        work = gpu_network.workspace(net.layout, batch_size, X.dtype)
        val = None
        if val_rows.shape[0]:
            val = Validation(put(val_rows), None, self._trivial_score())
        d_train_rows = put(train_rows)

        def run_chunk(chunk):
            keys = (gpu_training.feistel_keys(self._random_state, chunk)
                    if shuffle else np.empty((0, 4), dtype=np.int64))
            curves = Curves.empty(chunk)
            visits = gpu_training.Visits(d_train_rows, put(keys))
            done, status = gpu_training.train_epochs(data, visits, net, solver,
                                                     device, work, val, curves)
            return done, status, curves

        try:
            return self._drive_chunks(run_chunk, max_epochs, params.state)
        finally:
            for h, d in zip(host, (device.theta, device.slot1, device.slot2,
                                   device.best), strict=True):
                d.copy_to_host(h)

    def _progress_bar(self, max_epochs):
        if not self.progress_bar:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ImportError(
                "progress_bar=True requires the optional package tqdm: "
                "pip install tqdm"
            ) from exc
        return tqdm(total=max_epochs, initial=self.n_iter_, unit="epoch",
                    desc="ShallowNNClassifier")

    def _stopping_message(self):
        metric = "Validation score" if self.early_stopping else "Training loss"
        return (f"{metric} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs.")

    def _report_end(self, status, incremental):
        if self.verbose and status == schedules.CONVERGED:
            print(self._stopping_message() + " Stopping.")
        if self.verbose and status == schedules.LR_TOO_SMALL:
            print(self._stopping_message() + " Learning rate too small. Stopping.")
        if (
            not incremental
            and status == schedules.RUNNING
            and self.n_iter_ == self.max_iter
        ):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _record_epochs(self, curves, done, state):
        """Append a chunk's epochs to the curves; print MLP's verbose lines."""
        losses, scores = curves.loss[:done], curves.score[:done]
        for loss, score, new_lr in zip(losses, scores, curves.new_lr[:done],
                                       strict=True):
            self.n_iter_ += 1
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
                if self.early_stopping:
                    print(f"Validation score: {score:f}")
                if new_lr:
                    print(self._stopping_message()
                          + f" Setting learning rate to {new_lr:f}")
        self.loss_curve_.extend(losses.tolist())
        if self.early_stopping:
            self.validation_scores_.extend(scores.tolist())
        if len(self.loss_curve_):
            self.loss_ = self.loss_curve_[-1]
        self.t_ = int(state[schedules.T])

    def _diverged(self):
        if not self.loss_curve_:
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
            stacklevel=5,
        )

    def _gpu_usable(self):
        return getattr(self, "device_", "cpu") == "cuda" and _device.usable()

    def _validate_X(self, X):
        """Validated ``X`` to predict: GPU arrays stay there when a GPU is usable."""
        if _device.is_device_array(X) and self._gpu_usable():
            return self._validate_device_X(X, reset=False)
        return validate_data(
            self, _device.to_host(X), dtype=(np.float64, np.float32), reset=False
        )

    def _forward_cuda(self, X, theta):
        from numba import cuda

        from .cuda import network as gpu_network

        X = gpu_network.use_device(self._as_dtype(X, theta.dtype))
        out = cuda.device_array((X.shape[0], self.n_outputs_), dtype=theta.dtype)
        gpu_network.predict_proba(X, gpu_network.use_device(theta),
                                  *self._kernel_args(), out)
        return out.copy_to_host()

    def _forward(self, X):
        """Output-layer activations of validated ``X``, shape (n_samples, n_out)."""
        theta = self._pack()
        if _device.is_device_array(X) or (
            X.shape[0] >= _GPU_PREDICT_MIN_ROWS and self._gpu_usable()
        ):
            return self._forward_cuda(X, theta)
        out = np.empty((X.shape[0], self.n_outputs_), dtype=theta.dtype)
        X = np.ascontiguousarray(X, dtype=theta.dtype)
        net = self._network(X.dtype)
        with threads.parallel_section(network.use_blas(X.shape[1], self.n_hidden)) \
                as n_threads:
            parallel = network.parallelism(net.layout, min(X.shape[0],
                                           network.PREDICT_ROWS), n_threads)
            network.predict_proba(X, net, theta, out, parallel)
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
        X = self._validate_X(X)
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
        X = self._validate_X(X)
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
