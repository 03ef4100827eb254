"""``ShallowNNClassifier`` against ``MLPClassifier``, the oracle for whole fits.

The estimator draws its initial weights, cuts its batches and shuffles exactly as
``MLPClassifier(hidden_layer_sizes=(n_hidden,))`` does, so in float64 every fitted
array must agree to rounding. Tolerances:

* float64: ``rtol=1e-8`` on every weight array, the loss curve and the losses;
  ``atol=1e-12`` only so that an entry that is zero up to rounding (a weight of a
  dead relu unit, say) is not compared relatively. Observed differences are
  below 1e-11 relative: the kernels sum in another order than BLAS does.
* float32: see ``test_float32_matches_mlp_float32``.

``n_iter_`` and ``t_`` must be equal, which checks the stopping rules and the
learning-rate schedules epoch for epoch.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from fastnn import ShallowNNClassifier
from tests.common import assert_same_fit, mlp_params

N_SAMPLES = 150


def _multiclass_data():
    return make_classification(
        N_SAMPLES, 5, n_informative=3, n_redundant=1, n_classes=3, random_state=0
    )


def _binary_data():
    return make_classification(
        N_SAMPLES, 5, n_informative=3, n_redundant=1, random_state=1
    )


DATA = {"binary": _binary_data(), "multiclass": _multiclass_data()}


def _fit_both(X, y, sample_weight=None, **params):
    """Fit ours and MLP with the same parameters; warnings are compared elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ShallowNNClassifier(**params).fit(X, y, sample_weight=sample_weight)
        mlp = MLPClassifier(**mlp_params(params, X.shape[0]))
        mlp.fit(X, y, sample_weight=sample_weight)
    return ours, mlp


def _weights(est):
    return est.coefs_ + est.intercepts_


# (our solver parameters, a readable id). "gd" is compared with MLP's sgd at
# batch_size=n_samples, momentum=0 (see tests.common.mlp_params).
SOLVERS = [
    (dict(solver="gd", learning_rate_init=0.5), "gd"),
    (dict(solver="sgd", momentum=0.9, nesterovs_momentum=True), "sgd-nesterov"),
    (dict(solver="sgd", momentum=0.9, nesterovs_momentum=False), "sgd-momentum"),
    (dict(solver="adam", learning_rate_init=0.01), "adam"),
]


@pytest.mark.parametrize(
    "solver_params", [s for s, _ in SOLVERS], ids=[i for _, i in SOLVERS]
)
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
@pytest.mark.parametrize("target", ["binary", "multiclass"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_matches_mlp(activation, target, alpha, solver_params):
    X, y = DATA[target]
    params = dict(learning_rate_init=0.05, batch_size=50)
    params.update(solver_params)
    ours, mlp = _fit_both(
        X, y, n_hidden=8, activation=activation, alpha=alpha, max_iter=40,
        n_iter_no_change=40, shuffle=False, random_state=0, **params,
    )
    assert_same_fit(ours, mlp)
    assert ours.n_iter_ == 40
    assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-7,
                    atol=1e-12)
    assert_array_equal(ours.predict(X), mlp.predict(X))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_shuffle_matches_mlp(solver, target):
    """Shuffled epochs draw the same permutations from the same RNG as MLP."""
    X, y = DATA[target]
    params = dict(n_hidden=8, solver=solver, learning_rate_init=0.02, batch_size=32,
                  max_iter=30, shuffle=True, random_state=3)
    ours, mlp = _fit_both(X, y, **params)
    assert_same_fit(ours, mlp)
    # The shuffle changes the fit: without it the weights are different.
    unshuffled = ShallowNNClassifier(**{**params, "shuffle": False, "max_iter": 5})
    shuffled = ShallowNNClassifier(**{**params, "max_iter": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        w_off = unshuffled.fit(X, y).coefs_[0]
        w_on = shuffled.fit(X, y).coefs_[0]
    assert not np.allclose(w_off, w_on)


def test_gd_ignores_shuffle_and_batch_size():
    X, y = DATA["multiclass"]
    params = dict(n_hidden=6, solver="gd", learning_rate_init=0.5, max_iter=15,
                  random_state=0)
    ours, mlp = _fit_both(X, y, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other = ShallowNNClassifier(**params, shuffle=False, batch_size=7,
                                    momentum=0.5).fit(X, y)
    assert_same_fit(ours, mlp)
    for a, b in zip(_weights(ours), _weights(other), strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [1, 7, 32, N_SAMPLES - 1])
def test_batch_sizes_not_dividing_n(batch_size, solver, shuffle):
    X, y = DATA["multiclass"]
    assert N_SAMPLES % batch_size != 0 or batch_size == 1
    ours, mlp = _fit_both(
        X, y, n_hidden=5, solver=solver, learning_rate_init=0.01,
        batch_size=batch_size, max_iter=4, shuffle=shuffle, random_state=0,
    )
    assert_same_fit(ours, mlp)


def test_batch_size_larger_than_n_is_clipped_with_mlp_warning():
    X, y = DATA["binary"]
    params = dict(n_hidden=5, solver="sgd", batch_size=N_SAMPLES + 50, max_iter=10,
                  random_state=0, learning_rate_init=0.1)
    msg = "batch_size` less than 1 or larger than sample size"
    with pytest.warns(UserWarning, match=msg):
        ours, mlp = _fit_both(X, y, **params)
    assert_same_fit(ours, mlp)


@pytest.mark.parametrize("solver", ["sgd", "adam", "gd"])
def test_multilabel_matches_mlp(solver):
    X, Y = make_multilabel_classification(120, 6, n_classes=4, random_state=0)
    ours, mlp = _fit_both(X, Y, n_hidden=8, solver=solver, learning_rate_init=0.02,
                          batch_size=25, max_iter=25, random_state=0)
    assert ours.out_activation_ == "logistic"
    assert ours.n_outputs_ == 4
    assert_same_fit(ours, mlp)
    assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-7)
    assert_array_equal(ours.predict(X), mlp.predict(X))


@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_string_labels_match_mlp(target):
    X, y = DATA[target]
    names = np.array(["cat", "dog", "emu"])[y]
    ours, mlp = _fit_both(X, names, n_hidden=8, learning_rate_init=0.02,
                          max_iter=20, random_state=0)
    assert_same_fit(ours, mlp)
    assert_array_equal(ours.predict(X), mlp.predict(X))
    assert set(ours.predict(X)) <= set(names)


def test_sample_weight_matches_mlp():
    X, y = DATA["multiclass"]
    sw = np.random.RandomState(0).uniform(0.1, 3.0, size=X.shape[0])
    ours, mlp = _fit_both(X, y, sample_weight=sw, n_hidden=8, solver="sgd",
                          learning_rate_init=0.05, batch_size=32, max_iter=20,
                          random_state=0)
    assert_same_fit(ours, mlp)


@pytest.mark.parametrize("solver", ["sgd", "gd"])
@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_learning_rate_schedules_match_mlp(schedule, solver):
    X, y = DATA["multiclass"]
    lr = 0.5 if solver == "gd" else 0.05
    ours, mlp = _fit_both(
        X, y, n_hidden=8, solver=solver, learning_rate=schedule,
        learning_rate_init=lr, power_t=0.5, batch_size=32, max_iter=400,
        tol=1e-3, n_iter_no_change=3, random_state=0,
    )
    assert_same_fit(ours, mlp)
    # Both schedules stop early here (the adaptive one after dividing the
    # learning rate by 5 down to 1e-6), so this also compares the stopping rule.
    assert ours.n_iter_ < 400


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", learning_rate_init=0.05, tol=1e-3),
        dict(solver="sgd", learning_rate_init=0.1, tol=1e-3, n_iter_no_change=5),
        dict(solver="gd", learning_rate_init=1.0, tol=1e-4),
    ],
    ids=["adam", "sgd", "gd"],
)
def test_tol_stopping_matches_mlp(params):
    X, y = DATA["multiclass"]
    ours, mlp = _fit_both(X, y, n_hidden=8, max_iter=1000, random_state=0, **params)
    assert 0 < ours.n_iter_ < 1000
    assert_same_fit(ours, mlp)


def test_n_iter_no_change_inf_runs_to_max_iter():
    X, y = DATA["binary"]
    ours, mlp = _fit_both(X, y, n_hidden=4, learning_rate_init=0.05, max_iter=60,
                          tol=10.0, n_iter_no_change=np.inf, random_state=0)
    assert ours.n_iter_ == 60
    assert_same_fit(ours, mlp)


def test_verbose_output_identical_to_mlp():
    X, y = DATA["multiclass"]
    params = dict(n_hidden=8, learning_rate_init=0.05, max_iter=300, tol=1e-3,
                  random_state=0, verbose=True)
    out = []
    for est in (ShallowNNClassifier(**params),
                MLPClassifier(**mlp_params(params, X.shape[0]))):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            est.fit(X, y)
        out.append(buffer.getvalue())
    assert "did not improve more than tol" in out[1]
    assert out[0] == out[1]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_float32_matches_mlp_float32(solver, target):
    """float32 fits agree with MLP's float32 fits to ``rtol=1e-3`` after 20 epochs.

    Both round every operation to float32 (eps 1.2e-7) but sum in different
    orders, so each step differs by a few float32 ulps and 20 epochs x 5
    batches amplify that: observed relative differences are at most ~3e-5.
    ``rtol=1e-3`` leaves a 30x margin yet fails on any algorithmic difference,
    which moves weights by O(learning_rate) = 1e-2 relative per step.
    ``atol=1e-5`` covers entries that are zero up to rounding.
    """
    X, y = DATA[target]
    X = X.astype(np.float32)
    ours, mlp = _fit_both(X, y, n_hidden=8, solver=solver, learning_rate_init=0.01,
                          batch_size=32, max_iter=20, random_state=0)
    assert ours.coefs_[0].dtype == mlp.coefs_[0].dtype == np.float32
    assert_same_fit(ours, mlp, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitted_dtype_follows_input(dtype):
    X, y = DATA["multiclass"]
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ShallowNNClassifier(n_hidden=4, max_iter=3, random_state=0).fit(X, y)
    for a in ours.coefs_ + ours.intercepts_:
        assert a.dtype == dtype
    assert ours.predict_proba(X).dtype == dtype


def test_integer_input_trains_in_float64():
    X, y = DATA["multiclass"]
    Xi = np.round(X * 10).astype(np.int64)
    ours, mlp = _fit_both(Xi, y, n_hidden=4, max_iter=5, random_state=0)
    assert ours.coefs_[0].dtype == np.float64
    assert_same_fit(ours, mlp)



@pytest.mark.parametrize("early_stopping", [False, True])
def test_shared_generator_left_as_mlp_leaves_it(early_stopping):
    """A fit that stops within a chunk of epochs (whose shuffles were drawn
    ahead, as many as the timing asked for) leaves a shared generator where
    MLP's one draw per epoch leaves it, so the next fit draws the same."""
    X, y = DATA["multiclass"]
    params = dict(n_hidden=8, solver="sgd", max_iter=500, tol=1e-3,
                  early_stopping=early_stopping)
    ours_rng, mlp_rng = np.random.RandomState(0), np.random.RandomState(0)
    for _ in range(2):
        ours, mlp = (
            ShallowNNClassifier(**params, random_state=ours_rng),
            MLPClassifier(**mlp_params({**params, "random_state": mlp_rng},
                                       X.shape[0])),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(X, y)
            mlp.fit(X, y)
        assert 5 < ours.n_iter_ < params["max_iter"]
        assert_same_fit(ours, mlp)
        for a, b in zip(ours_rng.get_state(), mlp_rng.get_state(), strict=True):
            assert_array_equal(a, b)
