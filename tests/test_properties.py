"""Property tests: random parameters x random inputs, fastnn against MLP.

Hypothesis draws the estimator's parameters and its inputs (1 to 200 samples,
magnitudes from 1e-300 to 1e150, NaN and inf, constant columns, float32 and
integer X, CSR and CSC, integer / string / bool / multilabel labels,
multi-output and non-finite targets, zero and negative sample weights) and a
short sequence of calls (``fit``, ``partial_fit``, a second warm fit). Every
sequence ends in one of two ways:

- a model with finite ``coefs_`` and ``intercepts_`` whose predictions have the
  right shape (and, for the classifier, labels among ``classes_``), finite
  wherever the network's output cannot overflow (:func:`_output_bound`);
- a ``ValueError`` or ``TypeError``. Then ``MLPClassifier`` / ``MLPRegressor``
  runs the same calls: it must refuse the same call with the same type and a
  message that fastnn's starts with, unless fastnn's refusal is one of
  :data:`DOCUMENTED` (or :data:`CHECK_ORDER`), the README's documented
  differences. Where MLP refuses a call that fastnn makes, MLP's refusal must be
  one of :data:`DOCUMENTED_MLP_ONLY`.

Any other exception (a crash), NaN weights or a wrongly shaped prediction fails
the test. The seed is fixed (``derandomize=True``): the examples are the same
on every run.
"""

import re
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import compute_sample_weight

from fastnn import ShallowNNClassifier, ShallowNNRegressor

from .common import mlp_params

#: Examples per test function (four functions: 1000 in all, ~10 s once the
#: Numba cache is warm).
N_EXAMPLES = 250

#: fastnn's refusals that MLP does not share word for word, each one of the
#: README's documented differences (named next to it), as ``(name, regex)`` on
#: fastnn's message.
DOCUMENTED = [
    # "Differences from MLPClassifier", "Divergence is caught, not returned":
    # fastnn raises when the first epoch diverges, MLP trains on and returns a
    # model whose loss is nan or inf (or refuses with this same sentence, but
    # only when its weights end non-finite).
    ("divergence guard",
     r"^Solver produced non-finite parameter weights\. The input data may "
     r"contain large values and need to be preprocessed\. "),
    # "Differences from MLPRegressor": loss="poisson" refuses negative targets.
    ("poisson negative targets",
     r"^Some value\(s\) of y are negative which is not allowed for Poisson "
     r"regression\.$"),
    # "Differences from MLPRegressor": warm_start and partial_fit with a y of
    # another number of outputs (MLP fails deep in its backprop).
    ("other number of outputs",
     r"^y has \d+ output\(s\), but this model was fitted with \d+"),
    # "Parameters", class_weight: new, as in LogisticRegression (MLP has none),
    # and "partial_fit refuses 'balanced'". Weights that do not suit the labels
    # are refused in compute_sample_weight's words, as LogisticRegression's.
    ("balanced in partial_fit",
     r"^class_weight 'balanced' is not supported for partial_fit"),
    # "Differences from MLPClassifier", "Sample weights": weights that sum to
    # zero (every loss is a mean weighted by them); MLP fails with NumPy's
    # ZeroDivisionError in these words.
    ("weights summing to zero", r"^Weights sum to zero, can't be normalized\. "),
    # "Sample weights": float32 fits take the weights in float32 (MLP keeps
    # them float64), as they take the targets: weights all 0 there are refused.
    ("all weights 0 in float32",
     r"^Sample weights must contain at least one non-zero number\. Every "
     r"weight is 0 in float32"),
    ("class_weight of other labels",
     r"^The classes, .+, are not in class_weight$|^For multi-output, "),
]

#: fastnn's refusals of a call that MLP refuses too, in other words ("Which
#: defect is named first" in the README's differences): fastnn
#: checks this defect before the others, MLP after them (so with several
#: defects, each names another first), as ``(name, regex)`` on fastnn's message.
CHECK_ORDER = [
    # MLP validates X, y and sample_weight (and initialises its weights) before
    # it refuses partial_fit with early stopping; fastnn refuses it first,
    # leaving the model as it was.
    ("partial_fit with early stopping",
     r"^partial_fit does not support early_stopping=True$"),
]

#: fastnn's fits where MLP refuses, each a documented difference, as
#: ``(name, regex)`` on MLP's message.
DOCUMENTED_MLP_ONLY = [
    # "Divergence is caught, not returned": fastnn keeps the last finite
    # epoch's weights and warns where MLP's weights end non-finite, or where
    # a mini-batch's sample weights sum to zero (MLP: NumPy's
    # ZeroDivisionError; fastnn: a non-finite loss, caught).
    ("divergence guard",
     r"^Solver produced non-finite parameter weights\. The input data may "
     r"contain large values and need to be preprocessed\.$"
     r"|^Weights sum to zero, can't be normalized$"),
]


class Call(NamedTuple):
    """One estimator call: ``getattr(est, method)(X, y, **kwargs)``."""

    method: str
    X: object
    y: object
    kwargs: dict


class Case(NamedTuple):
    params: dict
    calls: list


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

def _floats(low, high):
    """Log-uniform-ish floats in [low, high] (both > 0), edges included."""
    return st.one_of(st.sampled_from([low, high]),
                     st.floats(np.log10(low), np.log10(high)).map(
                         lambda e: float(10.0 ** e)))


@st.composite
def _params(draw, solvers):
    return dict(
        n_hidden=draw(st.integers(1, 8)),
        activation=draw(st.sampled_from(
            ["identity", "logistic", "sigmoid", "tanh", "relu", "leaky_relu"])),
        solver=draw(st.sampled_from(solvers)),
        alpha=draw(st.one_of(st.just(0.0), _floats(1e-8, 1e4))),
        batch_size=draw(st.one_of(st.just("auto"), st.integers(1, 250))),
        learning_rate=draw(st.sampled_from(["constant", "invscaling", "adaptive"])),
        learning_rate_init=draw(st.one_of(_floats(1e-4, 1.0), _floats(1e-8, 1e8))),
        power_t=draw(st.floats(0.0, 2.0)),
        max_iter=draw(st.integers(1, 5)),
        shuffle=draw(st.booleans()),
        random_state=draw(st.integers(0, 1000)),
        tol=draw(st.one_of(st.just(0.0), _floats(1e-8, 1e3))),
        warm_start=draw(st.booleans()),
        momentum=draw(st.floats(0.0, 1.0)),
        nesterovs_momentum=draw(st.booleans()),
        early_stopping=draw(st.sampled_from([False, False, False, True])),
        validation_fraction=draw(st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.9])),
        beta_1=draw(st.sampled_from([0.0, 0.5, 0.9, 0.999])),
        beta_2=draw(st.sampled_from([0.0, 0.9, 0.999, 0.99999])),
        epsilon=draw(_floats(1e-12, 1.0)),
        n_iter_no_change=draw(st.one_of(st.integers(1, 10), st.just(np.inf))),
        max_fun=draw(st.integers(1, 50)),
        negative_slope=draw(st.floats(0.0, 1.0)),
        init=draw(st.sampled_from(["glorot", "normal"])),
    )


def _exponents():
    """Powers of ten: mostly near 1, else anywhere in -300..150."""
    return st.one_of(st.integers(-2, 2), st.integers(-2, 2), st.integers(-300, 150))


@st.composite
def _X(draw, n_samples, n_features):
    """``X``: a standard normal matrix scaled by 10**k (k in -300..150), with
    constant columns, a non-finite entry, and a dtype and format drawn."""
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n_samples, n_features))
    X *= 10.0 ** draw(_exponents())
    n_constant = draw(st.integers(0, n_features))
    X[:, :n_constant] = draw(st.sampled_from([0.0, 1.0, -3.5e7, 1e-200]))
    special = draw(st.sampled_from([None] * 12 + [np.nan, np.inf, -np.inf]))
    if special is not None:
        X[draw(st.integers(0, n_samples - 1)), draw(st.integers(0, n_features - 1))] \
            = special
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    if dtype == "bool":
        X = X > 0  # NaN > 0 is False: bool X is finite
    elif dtype == "int64":
        with np.errstate(invalid="ignore"):
            X = np.where(np.isfinite(X), np.clip(np.round(X), -1e9, 1e9), X)
        X = X.astype(np.int64) if np.isfinite(X).all() else X
    elif dtype == "float32":
        with np.errstate(over="ignore"):
            X = X.astype(np.float32)
    fmt = draw(st.sampled_from(["dense", "dense", "csr", "csc"]))
    if fmt != "dense":
        X = np.where(rng.uniform(size=X.shape) < 0.5, 0, X).astype(X.dtype)
        X = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    return X


@st.composite
def _sample_weight(draw, n_samples):
    kind = draw(st.sampled_from(
        ["none", "none", "positive", "zeros", "negative", "all-zero", "scalar"]))
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.sampled_from([0.0, 0.5, 3]))
    sw = rng.uniform(0.1, 3.0, n_samples)
    if kind == "zeros":
        sw[rng.uniform(size=n_samples) < 0.5] = 0.0
    elif kind == "negative":
        sw[rng.uniform(size=n_samples) < 0.3] *= -1.0
    elif kind == "all-zero":
        sw[:] = 0.0
    return sw


#: Label sets of each label kind.
LABELS = {
    "int": np.array([-3, 0, 7, 100]),
    "str": np.array(["a", "bb", "c", "d"]),
    "bool": np.array([False, True]),
    "float": np.array([0.0, 1.0, -2.0, 5.0]),
}


@st.composite
def _labels(draw, n_samples):
    """Class labels: int, str, bool, float-valued, multilabel, one class,
    continuous (refused), multiclass-multioutput (refused) or with a NaN."""
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(
        ["int", "int", "int", "str", "str", "bool", "float", "multilabel",
         "multilabel", "continuous", "multiclass-multioutput", "nan"]))
    if kind == "multilabel":
        k = draw(st.integers(1, 3))
        return (rng.uniform(size=(n_samples, k)) < 0.5).astype(
            draw(st.sampled_from([int, bool, float])))
    if kind == "continuous":
        return rng.standard_normal(n_samples)
    if kind == "multiclass-multioutput":
        return rng.randint(0, 3, (n_samples, 2))
    if kind == "nan":
        y = rng.randint(0, 2, n_samples).astype(float)
        y[rng.randint(n_samples)] = np.nan
        return y
    labels = LABELS[kind]
    n_classes = draw(st.integers(1, len(labels)))
    return labels[rng.randint(0, n_classes, n_samples)]


@st.composite
def _targets(draw, n_samples):
    """Regression targets: 1-D, (n, 1) or (n, k), scaled by 10**k (k in
    -300..150), integer, or with a NaN or inf."""
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    shape = draw(st.sampled_from(["1d", "1d", "column", "multi"]))
    n_outputs = draw(st.integers(2, 3)) if shape == "multi" else 1
    y = rng.standard_normal((n_samples, n_outputs))
    y *= 10.0 ** draw(_exponents())
    if draw(st.booleans()):
        y = np.abs(y)  # for the Poisson loss
    special = draw(st.sampled_from([None] * 10 + [np.nan, np.inf]))
    if special is not None:
        y[rng.randint(n_samples), 0] = special
    if draw(st.sampled_from([False] * 4 + [True])) and np.isfinite(y).all():
        y = np.clip(np.round(y), -1e9, 1e9).astype(np.int64)
    return y.ravel() if shape == "1d" else y


def _subset(X, y, sw, stop):
    """The first ``stop`` rows of ``X``, ``y`` and an array ``sw``."""
    if sp.issparse(X):
        X = type(X)(X.tocsr()[:stop])
    else:
        X = X[:stop]
    if isinstance(sw, np.ndarray):
        sw = sw[:stop]
    return X, y[:stop], sw


@st.composite
def classifier_cases(draw, incremental):
    """A classifier's parameters, and its calls: ``fit`` (then maybe a second
    ``fit`` of a prefix of the rows), or two or three ``partial_fit``."""
    solvers = ["gd", "sgd", "adam"] if incremental else ["gd", "sgd", "adam", "lbfgs"]
    params = draw(_params(solvers))
    n_samples = draw(st.integers(1, 200))
    X = draw(_X(n_samples, draw(st.integers(1, 8))))
    y = draw(_labels(n_samples))
    sw = draw(_sample_weight(n_samples))
    params["class_weight"] = draw(_class_weight(y))
    stop = draw(st.integers(1, n_samples))
    if not incremental:
        calls = [Call("fit", X, y, {"sample_weight": sw})]
        if draw(st.booleans()):
            Xs, ys, sws = _subset(X, y, sw, stop)
            calls.append(Call("fit", Xs, ys, {"sample_weight": sws}))
        return Case(params, calls)
    # MLP's partial_fit wants classes on the first call, even for multilabel y
    # (where it reads them from y).
    classes = np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])
    kind = draw(st.sampled_from(["all", "all", "all", "prefix", "none"]))
    if kind == "prefix":  # maybe fewer than y has
        classes = classes[:draw(st.integers(1, len(classes)))]
    elif kind == "none":
        classes = None
    Xs, ys, sws = _subset(X, y, sw, stop)
    calls = [Call("partial_fit", X, y, {"classes": classes, "sample_weight": sw}),
             Call("partial_fit", Xs, ys, {"sample_weight": sws})]
    if draw(st.booleans()):
        calls.append(Call("partial_fit", X, y, {"sample_weight": sw}))
    return Case(params, calls)


@st.composite
def _class_weight(draw, y):
    kind = draw(st.sampled_from([None, None, None, "balanced", "dict"]))
    if kind != "dict":
        return kind
    if y.ndim == 2:  # a list of dicts, one per output
        return [{0: draw(st.floats(0, 5)), 1: draw(st.floats(0, 5))}
                for _ in range(y.shape[1])]
    classes = np.unique(y[~np.isnan(y)] if y.dtype == float else y)
    return {c.item(): draw(st.floats(0.0, 5.0)) for c in classes}


@st.composite
def regressor_cases(draw, incremental):
    """A regressor's parameters and calls, as :func:`classifier_cases`."""
    solvers = ["gd", "sgd", "adam"] if incremental else ["gd", "sgd", "adam", "lbfgs"]
    params = draw(_params(solvers))
    params["loss"] = draw(st.sampled_from(["squared_error", "poisson"]))
    n_samples = draw(st.integers(1, 200))
    X = draw(_X(n_samples, draw(st.integers(1, 8))))
    y = draw(_targets(n_samples))
    sw = draw(_sample_weight(n_samples))
    method = "partial_fit" if incremental else "fit"
    calls = [Call(method, X, y, {"sample_weight": sw})]
    if incremental or draw(st.booleans()):
        stop = draw(st.integers(1, n_samples))
        Xs, ys, sws = _subset(X, y, sw, stop)
        if draw(st.sampled_from([False] * 4 + [True])):
            ys = np.c_[ys, ys]  # another number of outputs
        calls.append(Call(method, Xs, ys, {"sample_weight": sws}))
    return Case(params, calls)


# --------------------------------------------------------------------------
# Running a case on fastnn and on MLP
# --------------------------------------------------------------------------

def _mlp_case(case, n_samples):
    """The same calls on MLP: parameters mapped (``tests.common.mlp_params``),
    ``sigmoid`` named ``logistic``, ``leaky_relu`` run as ``relu`` (MLP has no
    leaky ReLU: same validation, another model), fastnn-only parameters
    dropped and ``class_weight`` multiplied into ``sample_weight``."""
    params = dict(case.params)
    class_weight = params.pop("class_weight", None)
    for name in ("init", "negative_slope"):
        params.pop(name)
    params = mlp_params(params, n_samples)
    params["activation"] = {"sigmoid": "logistic", "leaky_relu": "relu"}.get(
        params["activation"], params["activation"])
    calls = []
    for call in case.calls:
        kwargs = dict(call.kwargs)
        if class_weight is not None:
            kwargs["sample_weight"] = _folded(class_weight, call, kwargs)
        calls.append(call._replace(kwargs=kwargs))
    return Case(params, calls)


def _folded(class_weight, call, kwargs):
    """``sample_weight`` times ``class_weight``'s weights, as fastnn multiplies
    them; the plain ``sample_weight`` where that cannot be computed (MLP then
    refuses the labels in its own words, or the case is fastnn's alone)."""
    sw = kwargs.get("sample_weight")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = np.asarray(call.y)
            y = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y  # as fastnn
            factor = compute_sample_weight(class_weight, y)
    except (ValueError, TypeError, IndexError):
        return sw
    return factor if sw is None else np.asarray(sw, dtype=float) * factor


class Outcome(NamedTuple):
    est: object
    #: The exception that ended the calls (None when every call returned).
    error: BaseException | None
    #: Index of the call that raised.
    step: int


def _run(est, calls, check):
    """Make ``calls`` on ``est``, ``check(est, call)`` after each that returns;
    ValueError and TypeError end them, any other exception propagates (a crash
    fails the test)."""
    for step, call in enumerate(calls):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"):
                    getattr(est, call.method)(call.X, call.y, **call.kwargs)
        except (ValueError, TypeError) as exc:
            return Outcome(est, exc, step)
        check(est, call)
    return Outcome(est, None, len(calls))


def _run_mlp(mlp_type, case, n_samples):
    """MLP's outcome; its own crashes (any exception) count as refusals."""
    mlp_case = _mlp_case(case, n_samples)
    mlp = mlp_type(**mlp_case.params)
    for step, call in enumerate(mlp_case.calls):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"):
                    getattr(mlp, call.method)(call.X, call.y, **call.kwargs)
        except Exception as exc:  # MLP's crashes count as refusals
            return Outcome(mlp, exc, step)
    return Outcome(mlp, None, len(mlp_case.calls))


def _words(exc):
    """An exception's message with the estimator names made MLP's (fastnn's
    messages name ``ShallowNN*`` where MLP's name ``MLP*``)."""
    return (str(exc).replace("ShallowNNClassifier", "MLPClassifier")
            .replace("ShallowNNRegressor", "MLPRegressor"))


def _documented(message, table):
    return next((name for name, pattern in table if re.search(pattern, message)),
                None)


def _check_case(est_type, mlp_type, case):
    """Run ``case`` on fastnn (checking the model after each call) and on MLP;
    where one refuses a call that the other makes, or both refuse one in other
    words, the difference must be documented."""
    n_samples = case.calls[0].X.shape[0]
    ours = _run(est_type(**case.params), case.calls, _check_model)
    mlp = _run_mlp(mlp_type, case, n_samples)
    report = (f"fastnn: {_said(ours)}\nMLP: {_said(mlp)}")
    if ours.step > mlp.step:  # MLP refused a call that fastnn made
        assert _documented(_words(mlp.error), DOCUMENTED_MLP_ONLY), report
    elif ours.step < mlp.step:  # fastnn refused a call that MLP made
        assert _documented(_words(ours.error), DOCUMENTED), report
    elif ours.error is not None:  # both refused the same call
        words = _words(ours.error)
        same_type = (isinstance(ours.error, ValueError)
                     == isinstance(mlp.error, ValueError)
                     and isinstance(mlp.error, (ValueError, TypeError)))
        assert ((same_type and (words.startswith(str(mlp.error))
                                or _documented(words, CHECK_ORDER)))
                or _documented(words, DOCUMENTED)), report


def _said(outcome):
    if outcome.error is None:
        return "made every call"
    return (f"refused call {outcome.step} with {type(outcome.error).__name__}: "
            f"{outcome.error!s}")


def _check_model(est, call):
    """Finite weights of the right shapes; predictions of ``call.X`` of the
    right shape (``call`` the last call made)."""
    X = call.X
    n_features = X.shape[1]
    shapes = [(n_features, est.n_hidden), (est.n_hidden, est.n_outputs_)]
    for coef, intercept, shape in zip(est.coefs_, est.intercepts_, shapes,
                                      strict=True):
        assert coef.shape == shape and intercept.shape == shape[1:]
        assert np.isfinite(coef).all() and np.isfinite(intercept).all()
        assert coef.dtype == intercept.dtype == est.coefs_[0].dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            y_pred = est.predict(X)
    y = np.asarray(call.y)
    expected = (X.shape[0],) if y.ndim == 1 or y.shape[1] == 1 else y.shape
    if hasattr(est, "classes_"):
        _check_classifier_predictions(est, X, y, y_pred, expected)
    else:
        assert y_pred.shape == expected
        assert y_pred.dtype == est.coefs_[0].dtype
        # Finite wherever the output cannot overflow (exp's input: its log).
        limit = np.finfo(y_pred.dtype).max / 16
        if est.out_activation_ == "exp":
            limit = np.log(limit)
        if _output_bound(est, X) < limit:
            assert np.isfinite(y_pred).all()


def _check_classifier_predictions(est, X, y, y_pred, expected):
    if y.ndim == 2 and y.shape[1] > 1:  # multilabel: 0/1 columns
        assert y_pred.shape == expected
        assert set(np.unique(y_pred)) <= {0, 1}
        n_columns = y.shape[1]
    else:
        assert y_pred.shape == expected
        assert set(y_pred.tolist()) <= set(est.classes_.tolist())
        assert set(np.unique(y.ravel()).tolist()) <= set(est.classes_.tolist())
        n_columns = max(2, len(est.classes_))
    with np.errstate(all="ignore"):
        proba = est.predict_proba(X)
    assert proba.shape == (X.shape[0], n_columns)
    if not _output_bound(est, X) < np.finfo(proba.dtype).max / 16:
        # X times weights grown by a huge step overflows: the output is nan,
        # as MLP's is (from smaller inputs on); predict still names a class.
        return
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    if est.out_activation_ == "softmax" or est.n_outputs_ == 1:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def _output_bound(est, X):
    """A bound on the absolute values of the network's output layer (before
    its output function) on ``X``: each layer's bound is the bound of its
    input times the largest column sum of absolute weights, plus the largest
    absolute bias (1 after tanh and the logistic)."""
    x_max = np.abs(X.data if sp.issparse(X) else X).max(initial=0.0)
    (W1, W2), (b1, b2) = est.coefs_, est.intercepts_
    with np.errstate(all="ignore"):
        hidden = (float(x_max) * np.abs(W1).sum(axis=0).max()
                  + np.abs(b1).max())
        if est.activation in ("logistic", "sigmoid", "tanh"):
            hidden = 1.0
        return hidden * np.abs(W2).sum(axis=0).max() + np.abs(b2).max()


# --------------------------------------------------------------------------
# The properties
# --------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    derandomize=True, max_examples=N_EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


@PROPERTY_SETTINGS
@given(case=classifier_cases(incremental=False))
def test_classifier_fit_ends_in_a_model_or_mlps_refusal(case):
    _check_case(ShallowNNClassifier, MLPClassifier, case)


@PROPERTY_SETTINGS
@given(case=classifier_cases(incremental=True))
def test_classifier_partial_fit_ends_in_a_model_or_mlps_refusal(case):
    _check_case(ShallowNNClassifier, MLPClassifier, case)


@PROPERTY_SETTINGS
@given(case=regressor_cases(incremental=False))
def test_regressor_fit_ends_in_a_model_or_mlps_refusal(case):
    _check_case(ShallowNNRegressor, MLPRegressor, case)


@PROPERTY_SETTINGS
@given(case=regressor_cases(incremental=True))
def test_regressor_partial_fit_ends_in_a_model_or_mlps_refusal(case):
    _check_case(ShallowNNRegressor, MLPRegressor, case)

