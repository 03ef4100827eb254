"""fastnn's errors in MLP's words: the same bad inputs through both.

Each row of :data:`ROWS` makes the same calls on ``MLPClassifier`` /
``MLPRegressor`` and on fastnn's twin (parameters mapped as
``tests.common.mlp_params`` maps them). Where MLP raises, fastnn raises the same
exception type and its message starts with MLP's, after the names are mapped:
fastnn's messages name ``ShallowNNClassifier`` / ``ShallowNNRegressor`` and
``n_hidden`` where MLP's name ``MLPClassifier`` / ``MLPRegressor`` and
``hidden_layer_sizes``. Where the two legitimately differ, the row names the
README's documented difference and states what each does.

Also here: scikit-learn's own ``test_nonfinite_params`` (``test_mlp.py``), run
against fastnn, and the regression tests of the bugs the property tests
(``tests/test_properties.py``) found.
"""

import re
import warnings
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from fastnn import ShallowNNClassifier, ShallowNNRegressor

from .common import mlp_params

#: MLP's sentence when a fit ends with non-finite weights (sklearn's
#: test_nonfinite_params matches it).
NONFINITE = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)

RNG = np.random.RandomState(0)
X = RNG.standard_normal((10, 2))
Y_CLF = np.array([0, 1] * 5)
Y_REG = RNG.standard_normal(10)
FMAX = np.finfo(np.float64).max


def _with(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


# --------------------------------------------------------------------------
# scikit-learn's test_nonfinite_params, against fastnn
# --------------------------------------------------------------------------

def test_nonfinite_params():
    # sklearn/neural_network/tests/test_mlp.py::test_nonfinite_params, with
    # ShallowNNRegressor() for MLPRegressor().
    rng = np.random.RandomState(0)
    n_samples = 10
    fmax = np.finfo(np.float64).max
    X = fmax * rng.uniform(size=(n_samples, 2))
    y = rng.standard_normal(size=n_samples)

    clf = ShallowNNRegressor()
    msg = (
        "Solver produced non-finite parameter weights. The input data may contain large"
        " values and need to be preprocessed."
    )
    with pytest.raises(ValueError, match=msg):
        with warnings.catch_warnings():
            # RuntimeWarning: overflow encountered in square
            warnings.simplefilter("ignore")
            clf.fit(X, y)


def _huge_X(n_samples=10, random_state=0):
    """test_nonfinite_params's X: uniform draws times the largest float64."""
    return FMAX * np.random.RandomState(random_state).uniform(size=(n_samples, 2))


@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
@pytest.mark.parametrize("estimator", [ShallowNNClassifier, ShallowNNRegressor])
def test_nonfinite_params_message_starts_with_mlps(estimator, solver):
    """The classifier analogue, and every stochastic solver: MLP's sentence
    first, fastnn's hint after it. (random_state=0: the first epoch overflows.
    Where only a later one does, fastnn keeps the weights before it and warns;
    see the next test.)"""
    X = _huge_X()
    rng = np.random.RandomState(1)
    y = rng.randint(0, 2, 10) if estimator is ShallowNNClassifier else (
        rng.standard_normal(10))
    with pytest.raises(ValueError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator(solver=solver, random_state=0).fit(X, y)
    message = str(info.value)
    assert message.startswith(NONFINITE)
    hint = message[len(NONFINITE):]
    assert hint.startswith(" The loss or the weights became non-finite in the "
                           "first epoch")
    assert "learning_rate_init (now 0.001)" in hint


def test_nonfinite_params_after_the_first_epoch_keeps_finite_weights():
    """README, "Divergence is caught, not returned": where MLP's weights end
    non-finite but fastnn's first epoch was finite, fastnn warns and keeps the
    weights of the last finite epoch."""
    X, y = _huge_X(), np.random.RandomState(1).randint(0, 2, 10)
    params = dict(solver="sgd", random_state=1)
    with pytest.raises(ValueError, match=re.escape(NONFINITE)), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflows, max_iter
        MLPClassifier(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Training diverged at epoch"), \
            np.errstate(all="ignore"):
        clf = ShallowNNClassifier(**params).fit(X, y)
    assert all(np.isfinite(a).all() for a in clf.coefs_ + clf.intercepts_)
    assert np.isfinite(clf.loss_curve_).all()


# --------------------------------------------------------------------------
# The table: the same bad inputs through MLP and fastnn
# --------------------------------------------------------------------------

class Row(NamedTuple):
    """One bad input: ``calls(est)`` makes the calls on an estimator."""

    id: str
    regressor: bool
    params: dict
    calls: object
    #: MLP's parameters where they are not ``mlp_params(params)``.
    mlp: dict | None = None


class Difference(NamedTuple):
    """A row where fastnn and MLP legitimately differ."""

    row: Row
    #: The README's documented difference.
    why: str
    #: What fastnn does: None (fits), or (exception type, regex on its message).
    ours: tuple | None
    #: What MLP does: None (fits), or its exception type.
    theirs: type | None


def _fit(X, y, **kwargs):
    return lambda est: est.fit(X, y, **kwargs)


def _then(first, method, *args, **kwargs):
    """``first(est)``, then ``getattr(est, method)(*args, **kwargs)``."""
    def calls(est):
        first(est)
        return getattr(est, method)(*args, **kwargs)
    return calls


def _partial_fit(*calls):
    """partial_fit calls, each ``(X, y, kwargs)`` (kwargs by keyword: the two
    estimators order classes and sample_weight differently)."""
    def run(est):
        for X, y, kwargs in calls:
            est.partial_fit(X, y, **kwargs)
    return run


_FIT_CLF = _fit(X, Y_CLF)
_FIT_REG = _fit(X, Y_REG)

#: Bad inputs that MLP refuses: fastnn raises the same exception type, and its
#: message starts with MLP's (after the names are mapped). One defect each:
#: with several, each estimator names the one it checks first.
SAME = [
    # X
    Row("X-nan", False, {}, _fit(_with(X, (0, 0), np.nan), Y_CLF)),
    Row("X-nan-regressor", True, {}, _fit(_with(X, (0, 0), np.nan), Y_REG)),
    Row("X-inf", False, {}, _fit(_with(X, (3, 1), np.inf), Y_CLF)),
    Row("X-inf-regressor", True, {}, _fit(_with(X, (3, 1), -np.inf), Y_REG)),
    Row("X-sparse-nan", False, {},
        _fit(sp.csr_matrix(_with(X, (0, 0), np.nan)), Y_CLF)),
    Row("X-1d", False, {}, _fit(X[:, 0], Y_CLF)),
    Row("X-3d", False, {}, _fit(X[:, :, None], Y_CLF)),
    Row("X-empty", False, {}, _fit(X[:0], Y_CLF[:0])),
    Row("X-no-features", True, {}, _fit(X[:, :0], Y_REG)),
    Row("X-strings", False, {}, _fit(np.array([["a", "b"]] * 10), Y_CLF)),
    Row("X-complex", False, {}, _fit(X + 1j, Y_CLF)),
    Row("X-complex-regressor", True, {}, _fit(X + 1j, Y_REG)),
    # y
    Row("y-length", False, {}, _fit(X, Y_CLF[:9])),
    Row("y-length-regressor", True, {}, _fit(X, Y_REG[:9])),
    Row("y-nan", False, {}, _fit(X, _with(Y_CLF, 0, np.nan))),
    Row("y-nan-regressor", True, {}, _fit(X, _with(Y_REG, 0, np.nan))),
    Row("y-inf-regressor", True, {}, _fit(X, _with(Y_REG, 0, np.inf))),
    Row("y-continuous", False, {}, _fit(X, Y_REG)),
    Row("y-multiclass-multioutput", False, {},
        _fit(X, np.c_[np.arange(10) % 3, np.arange(10) % 3])),
    # sample_weight
    Row("sample-weight-length", False, {},
        _fit(X, Y_CLF, sample_weight=np.ones(9))),
    Row("sample-weight-2d", True, {},
        _fit(X, Y_REG, sample_weight=np.ones((10, 2)))),
    Row("sample-weight-all-zero", False, {},
        _fit(X, Y_CLF, sample_weight=np.zeros(10))),
    Row("sample-weight-scalar-zero", True, {}, _fit(X, Y_REG, sample_weight=0.0)),
    Row("sample-weight-nan", True, {},
        _fit(X, Y_REG, sample_weight=_with(np.ones(10), 2, np.nan))),
    # Non-finite weights (sklearn's test_nonfinite_params; random_state=0:
    # the first epoch overflows)
    Row("nonfinite-weights-huge-X", True, {"random_state": 0},
        _fit(_huge_X(), Y_REG)),
    Row("nonfinite-weights-huge-X-classifier", False, {"random_state": 0},
        _fit(_huge_X(), Y_CLF)),
    Row("nonfinite-weights-huge-X-gd", True, {"solver": "gd", "random_state": 0},
        _fit(_huge_X(), Y_REG)),
    # predict, score
    Row("predict-n-features", False, {}, _then(_FIT_CLF, "predict", X[:, :1])),
    Row("predict-proba-n-features", False, {},
        _then(_FIT_CLF, "predict_proba", np.c_[X, X])),
    Row("predict-n-features-regressor", True, {},
        _then(_FIT_REG, "predict", X[:, :1])),
    Row("predict-nan", True, {},
        _then(_FIT_REG, "predict", _with(X, (1, 1), np.nan))),
    Row("score-n-features", False, {}, _then(_FIT_CLF, "score", X[:, :1], Y_CLF)),
    Row("predict-before-fit", False, {}, lambda est: est.predict(X)),
    Row("predict-proba-before-fit", False, {}, lambda est: est.predict_proba(X)),
    Row("predict-before-fit-regressor", True, {}, lambda est: est.predict(X)),
    # partial_fit, warm_start
    Row("partial-fit-no-classes", False, {}, _partial_fit((X, Y_CLF, {}))),
    Row("partial-fit-new-classes", False, {},
        _partial_fit((X, Y_CLF, {"classes": [0, 1]}), (X, Y_CLF + 1, {}))),
    Row("partial-fit-other-classes-argument", False, {},
        _partial_fit((X, Y_CLF, {"classes": [0, 1]}),
                     (X, Y_CLF, {"classes": [0, 1, 2]}))),
    Row("partial-fit-n-features", True, {},
        _partial_fit((X, Y_REG, {}), (X[:, :1], Y_REG, {}))),
    Row("partial-fit-early-stopping", False, {"early_stopping": True},
        _partial_fit((X, Y_CLF, {"classes": [0, 1]}))),
    Row("partial-fit-early-stopping-regressor", True, {"early_stopping": True},
        _partial_fit((X, Y_REG, {}))),
    Row("partial-fit-lbfgs", False, {"solver": "lbfgs"},
        _partial_fit((X, Y_CLF, {"classes": [0, 1]}))),
    Row("warm-start-other-classes", False, {"warm_start": True},
        _then(_FIT_CLF, "fit", X, Y_CLF + 1)),
    Row("warm-start-n-features", False, {"warm_start": True},
        _then(_FIT_CLF, "fit", X[:, :1], Y_CLF)),
    # Early stopping
    Row("early-stopping-validation-too-small", False,
        {"early_stopping": True, "validation_fraction": 0.1},
        _fit(X, np.arange(10) % 3)),
    Row("early-stopping-one-member-class", False,
        {"early_stopping": True, "validation_fraction": 0.2},
        _fit(np.r_[X, X, X], np.r_[np.zeros(29, int), 1])),
    Row("early-stopping-no-validation-fraction", True,
        {"early_stopping": True, "validation_fraction": 0.0}, _FIT_REG),
    # Parameters (scikit-learn's InvalidParameterError)
    Row("learning-rate-init-negative", False, {"learning_rate_init": -1.0},
        _FIT_CLF),
    Row("learning-rate-init-zero", True, {"learning_rate_init": 0}, _FIT_REG),
    Row("alpha-negative", False, {"alpha": -1.0}, _FIT_CLF),
    Row("batch-size-zero", False, {"batch_size": 0}, _FIT_CLF),
    Row("learning-rate-optimal", False, {"learning_rate": "optimal"}, _FIT_CLF),
    Row("max-iter-zero", True, {"max_iter": 0}, _FIT_REG),
    Row("momentum-above-1", False, {"momentum": 1.5}, _FIT_CLF),
    Row("beta-1-one", False, {"beta_1": 1.0}, _FIT_CLF),
    Row("beta-2-negative", False, {"beta_2": -0.1}, _FIT_CLF),
    Row("epsilon-zero", False, {"epsilon": 0.0}, _FIT_CLF),
    Row("tol-negative", False, {"tol": -1e-3}, _FIT_CLF),
    Row("n-iter-no-change-zero", False, {"n_iter_no_change": 0}, _FIT_CLF),
    Row("power-t-negative", False, {"power_t": -0.5}, _FIT_CLF),
    Row("shuffle-string", False, {"shuffle": "yes"}, _FIT_CLF),
    Row("validation-fraction-one", False, {"validation_fraction": 1.0}, _FIT_CLF),
    Row("max-fun-zero", False, {"max_fun": 0}, _FIT_CLF),
    Row("loss-unknown", True, {"loss": "log_loss"}, _FIT_REG),
]

#: Inputs that look bad but that MLP fits: fastnn fits them too.
BOTH_FIT = [
    # "Differences from MLPClassifier": one class fits as in MLP.
    Row("one-class", False, {}, _fit(X, np.zeros(10, int))),
    # Negative weights: MLP does not check their sign (no ensure_non_negative).
    Row("negative-sample-weights", True, {},
        _fit(X, Y_REG, sample_weight=_with(np.ones(10), 0, -0.5))),
    # lbfgs on test_nonfinite_params's X: the loss is nan at the start, SciPy
    # stops at iteration 0 with its warning, the weights stay the initial ones.
    Row("nonfinite-loss-lbfgs", True, {"solver": "lbfgs"}, _fit(_huge_X(), Y_REG)),
]

#: Where fastnn and MLP legitimately differ, each a documented difference.
DIFFERENT = [
    Difference(
        Row("sample-weight-zero-sum", False, {},
            _fit(X, Y_CLF, sample_weight=np.array([1.0, -1.0] * 5))),
        "Differences from MLPClassifier, weights summing to zero: MLP fails "
        "with NumPy's ZeroDivisionError; fastnn raises a ValueError that "
        "starts with the same words",
        (ValueError, r"^Weights sum to zero, can't be normalized\. "),
        ZeroDivisionError),
    Difference(
        Row("y-strings-regressor", True, {}, _fit(X, np.array(["a", "b"] * 5))),
        "Differences from MLPRegressor, string targets: MLP accepts them and "
        "fails in its backprop with NumPy's UFuncTypeError; fastnn refuses "
        "them converting them to floats, in NumPy's words (as scikit-learn "
        "converts object targets)",
        (ValueError, r"^could not convert string to float: "), TypeError),
    Difference(
        Row("warm-start-other-outputs", True, {"warm_start": True},
            _then(_FIT_REG, "fit", X, np.c_[Y_REG, Y_REG])),
        "Differences from MLPRegressor: warm_start with another number of "
        "outputs raises a clear error; MLP fails with a shape mismatch deep in "
        "its backprop",
        (ValueError, r"^y has 2 output\(s\), but this model was fitted with 1"),
        ValueError),
    Difference(
        Row("poisson-negative-y", True, {"loss": "poisson"}, _FIT_REG),
        "Differences from MLPRegressor: loss='poisson' refuses negative "
        "targets in PoissonRegressor's words; MLP trains on them with a nan "
        "loss curve",
        (ValueError, r"^Some value\(s\) of y are negative which is not allowed "
                     r"for Poisson regression\.$"),
        None),
    Difference(
        Row("nonfinite-weights-later-epoch", True,
            {"solver": "sgd", "learning_rate_init": 1e300, "max_iter": 3,
             "random_state": 0}, _FIT_REG),
        "Differences from MLPClassifier, divergence is caught, not returned: "
        "the first epoch was finite, so fastnn keeps its weights and warns; "
        "MLP's weights end non-finite and it raises",
        None, ValueError),
    Difference(
        Row("n-hidden-zero", False, {"n_hidden": 0}, _FIT_CLF,
            mlp={"hidden_layer_sizes": 0}),
        "Parameters: n_hidden replaces hidden_layer_sizes=(n_hidden,) and is "
        "an int (MLP's also takes an array-like, and says so)",
        (InvalidParameterError,
         r"^The 'n_hidden' parameter of ShallowNNClassifier must be an int in "
         r"the range \[1, inf\)\. Got 0 instead\.$"),
        InvalidParameterError),
    Difference(
        Row("n-hidden-float", True, {"n_hidden": 2.5}, _FIT_REG,
            mlp={"hidden_layer_sizes": 2.5}),
        "Parameters: n_hidden is an int (MLP's hidden_layer_sizes also takes "
        "an array-like, and says so)",
        (InvalidParameterError,
         r"^The 'n_hidden' parameter of ShallowNNRegressor must be an int in "
         r"the range \[1, inf\)\. Got 2\.5 instead\.$"),
        InvalidParameterError),
    Difference(
        Row("activation-unknown", False, {"activation": "softmax"}, _FIT_CLF),
        "Parameters: activation adds 'sigmoid' and 'leaky_relu' to MLP's "
        "options, and lists them",
        (InvalidParameterError,
         r"^The 'activation' parameter of ShallowNNClassifier must be a str "
         r"among \{.*'leaky_relu'.*\}\. Got 'softmax' instead\.$"),
        InvalidParameterError),
    Difference(
        Row("solver-unknown", True, {"solver": "newton"}, _FIT_REG),
        "Parameters: solver adds 'gd' to MLP's options, and lists it",
        (InvalidParameterError,
         r"^The 'solver' parameter of ShallowNNRegressor must be a str among "
         r"\{.*'gd'.*\}\. Got 'newton' instead\.$"),
        InvalidParameterError),
]


def _mlp_words(message):
    """fastnn's message in MLP's names (see the module docstring)."""
    return _sorted_sets(message.replace("ShallowNNClassifier", "MLPClassifier")
                        .replace("ShallowNNRegressor", "MLPRegressor")
                        .replace("'n_hidden'", "'hidden_layer_sizes'"))


def _sorted_sets(message):
    """``message`` with the items of each ``{...}`` sorted: scikit-learn lists
    a parameter's options in its set's iteration order, which depends on how
    the set was built and on the string hashes of the process, or of the one
    that compiled the module: CPython stores a set literal of constants as a
    frozenset in the ``.pyc``. The same names in MLP's literal and fastnn's
    ``learning_rate`` options come out in different orders under some
    ``PYTHONHASHSEED`` values whatever fastnn writes; sorted, they agree."""
    return re.sub(r"\{([^{}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m[1].split(", "))) + "}",
                  message)


def _outcome(est, calls):
    """The exception ``calls(est)`` raises (any type: the table compares
    them), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                calls(est)
            except Exception as exc:
                return exc
    return None


def _outcomes(row):
    """``(fastnn's exception, MLP's exception)`` of ``row``'s calls."""
    params = {"n_hidden": 3, **row.params}
    estimator = ShallowNNRegressor if row.regressor else ShallowNNClassifier
    if row.mlp is None:
        mlp_params_ = mlp_params(params, X.shape[0])
    else:
        mlp_params_ = {k: v for k, v in params.items() if k != "n_hidden"}
        mlp_params_.update(row.mlp)
    mlp = (MLPRegressor if row.regressor else MLPClassifier)(**mlp_params_)
    return _outcome(estimator(**params), row.calls), _outcome(mlp, row.calls)


@pytest.mark.parametrize("row", SAME, ids=[row.id for row in SAME])
def test_errors_are_mlps(row):
    ours, theirs = _outcomes(row)
    assert theirs is not None, "MLP accepts this input: not a bad input"
    assert ours is not None, f"fastnn accepts what MLP refuses: {theirs!r}"
    assert type(ours) is type(theirs), (ours, theirs)
    assert _mlp_words(str(ours)).startswith(_sorted_sets(str(theirs))), (
        f"\nfastnn: {ours}\nMLP:    {theirs}")


@pytest.mark.parametrize("row", BOTH_FIT, ids=[row.id for row in BOTH_FIT])
def test_inputs_mlp_fits_are_fitted(row):
    assert _outcomes(row) == (None, None)


@pytest.mark.parametrize("difference", DIFFERENT,
                         ids=[d.row.id for d in DIFFERENT])
def test_documented_differences_from_mlps_errors(difference):
    ours, theirs = _outcomes(difference.row)
    if difference.theirs is None:
        assert theirs is None, repr(theirs)
    else:
        assert isinstance(theirs, difference.theirs), repr(theirs)
    if difference.ours is None:
        assert ours is None, repr(ours)
        return
    error_type, pattern = difference.ours
    assert type(ours) is error_type, repr(ours)
    assert re.search(pattern, str(ours)), str(ours)
    # Still a difference: MLP does not raise the same, in the same words.
    assert not (type(ours) is type(theirs)
                and _mlp_words(str(ours)).startswith(_sorted_sets(str(theirs)))
                ), theirs


# --------------------------------------------------------------------------
# Bugs the property tests found (tests/test_properties.py)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["gd", "sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("estimator", [ShallowNNClassifier, ShallowNNRegressor])
def test_weights_summing_to_zero_are_refused(estimator, solver):
    """Weights [1, -1, ...] divided every loss by 0: the stochastic solvers
    raised the divergence error ("large values"), lbfgs returned a model with
    a nan loss. MLP fails with NumPy's ZeroDivisionError in these words."""
    y = Y_CLF if estimator is ShallowNNClassifier else Y_REG
    with pytest.raises(ValueError,
                       match=r"^Weights sum to zero, can't be normalized\. "):
        estimator(3, solver=solver).fit(X, y, sample_weight=[1.0, -1.0] * 5)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_class_weight_that_zeroes_every_sample_is_refused(solver):
    """class_weight giving 0 to every class of y made all the weights 0: a
    divergence error ("large values") or a nan loss. MLP, given the same
    weights as sample_weight, says the first sentence."""
    with pytest.raises(ValueError, match=(
            r"^Sample weights must contain at least one non-zero number\. "
            r"class_weight gives weight 0 to every sample")):
        ShallowNNClassifier(3, solver=solver, class_weight={0: 0.0, 1: 0.0}).fit(
            X, Y_CLF)
    with pytest.raises(ValueError, match=r"^Sample weights must contain at "
                                         r"least one non-zero number\.$"):
        MLPClassifier((3,), solver=solver).fit(X, Y_CLF,
                                               sample_weight=np.zeros(10))


@pytest.mark.parametrize("weights", [
    dict(sample_weight=np.full(10, 1e-50)),
    dict(class_weight={0: 1e-164, 1: 1e-164}),
], ids=["sample_weight", "class_weight"])
def test_weights_that_are_zero_in_float32_are_refused_as_such(weights):
    """float32 fits train in float32, weights included: weights of 1e-50
    (times class weights of 1e-164) are all 0 there. fastnn said the weights
    were all zero (or diverged); now it says that they are in float32."""
    params = {k: v for k, v in weights.items() if k == "class_weight"}
    sample_weight = weights.get("sample_weight")
    clf = ShallowNNClassifier(3, **params)
    with pytest.raises(ValueError, match=(
            r"^Sample weights must contain at least one non-zero number\. "
            r"Every weight is 0 in float32")):
        clf.fit(X.astype(np.float32), Y_CLF, sample_weight=sample_weight)
    # float64 keeps them, and fits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y_CLF, sample_weight=sample_weight)
    assert all(np.isfinite(a).all() for a in clf.coefs_ + clf.intercepts_)
