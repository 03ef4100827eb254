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

from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted

from . import _docs
from ._base import BaseShallowNN
from ._validation import check_sample_weight

_CLASS_WEIGHT = """\
    class_weight : dict, list of dict or 'balanced', default=None
        Weights associated with classes in the form ``{class_label: weight}``.
        If not given, all classes are supposed to have weight one. The
        "balanced" mode uses the values of y to automatically adjust weights
        inversely proportional to class frequencies in the input data as
        ``n_samples / (n_classes * np.bincount(y))``. These weights are
        multiplied with ``sample_weight`` (passed through the fit method). For
        multilabel ``y``, pass a list of dicts, one per output.
        ``partial_fit`` does not support 'balanced'.

"""
_CLASSES = """\
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.

"""


class ShallowNNClassifier(ClassifierMixin, BaseShallowNN):
    __doc__ = (
        """One-hidden-layer neural network classifier trained by compiled kernels.

    A drop-in replacement for
    ``sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(n_hidden,))``:
    same parameters, same defaults, same log-loss objective and the same fitted
    attributes. With the same parameters and ``random_state``, a deterministic fit
    (solver ``'gd'``, or ``'sgd'`` / ``'adam'``) gives the same weights as
    MLPClassifier up to floating-point rounding.

"""
        + _docs.parameters_and_attributes(
            "MLPClassifier", score="accuracy", split="stratified for binary targets",
            warm_start="The classes of ``y`` must be those of the previous fit.",
            out_activations="``'logistic'`` or ``'softmax'``",
            extra_last=_CLASS_WEIGHT, target_attributes=_CLASSES,
        )
        + """    See Also
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
    )

    _parameter_constraints: ClassVar[dict] = {
        **BaseShallowNN._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
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
        init="glorot",
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
        self.init = init
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

    def _encode_targets(self, y, incremental, dtype):
        """The 0/1 indicator ``Y`` (in ``dtype``) of the validated labels ``y``."""
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
        return self._binarize(y, dtype)

    def _binarize(self, y, dtype):
        """``LabelBinarizer.transform(y)`` in ``dtype``, without its large temporaries.

        For binary and multiclass targets the indicator is built from the class
        codes directly: LabelBinarizer builds a sparse matrix and an int64 copy
        first, ~50 bytes per sample at the peak (P3's peak memory).
        """
        binarizer = self._label_binarizer
        if binarizer.y_type_ not in ("binary", "multiclass"):
            return np.ascontiguousarray(binarizer.transform(y), dtype=dtype)
        codes = np.searchsorted(binarizer.classes_, y)
        if binarizer.y_type_ == "binary":
            return (codes == 1).astype(dtype).reshape(-1, 1)
        Y = np.zeros((codes.shape[0], len(binarizer.classes_)), dtype=dtype)
        Y[np.arange(codes.shape[0]), codes] = 1
        return Y

    def _sample_weight(self, sample_weight, X, y):
        """``sample_weight`` times the weights of ``class_weight``."""
        return check_sample_weight(sample_weight, X, self.class_weight, y)

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
