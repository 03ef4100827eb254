"""``ShallowNNClassifier``: the public face of the classifier.

Its docstring, parameters and constraints, ``fit`` / ``partial_fit`` /
``predict*``, and the parts that depend on class labels (the label binarizer,
``class_weight``, the output function). The fit flow is shared
(:mod:`fastnn._base`); validation (:mod:`fastnn._validation`), initialisation
(:mod:`fastnn._initialization`), the backends (:mod:`fastnn._backends`), the
epoch driver (:mod:`fastnn._epochs`), L-BFGS (:mod:`fastnn._lbfgs`) and the
early-stopping split (:mod:`fastnn._early_stopping`) each have a module. The
weights are drawn and the samples shuffled exactly as ``MLPClassifier`` does,
so the same parameters and ``random_state`` give the same model.
"""

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted

from ._base import BaseShallowNN
from ._validation import check_sample_weight
from .ops import activations as act_ops
from .ops import optimizers as opt_ops


class ShallowNNClassifier(ClassifierMixin, BaseShallowNN):
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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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

    def _encode_targets(self, y, incremental):
        """The 0/1 indicator ``Y`` (uint8) of the validated labels ``y``."""
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
        return self._binarize(y)


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
        sw = check_sample_weight(sample_weight, X)
        if self.class_weight is None:
            return sw
        # compute_sample_weight is float64: back to X's dtype, as the kernels take.
        return np.ascontiguousarray(sw * compute_sample_weight(self.class_weight, y),
                                    dtype=sw.dtype)

    def _out_activation(self):
        """Softmax for multiclass targets; one logistic per output otherwise."""
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        return "softmax" if multiclass else "logistic"

    def _trivial_score(self):
        """Whether every prediction is right: one class (MLP then scores 1.0)."""
        return len(self.classes_) == 1

    def predict(self, X):
        """Predict using the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_is_fitted(self)
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of
            ``classes_``.
        """
        check_is_fitted(self)
        y_prob = self._forward(X)
        if self.n_outputs_ == 1:
            p = y_prob.ravel()
            return np.column_stack([1 - p, p])
        return y_prob

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
