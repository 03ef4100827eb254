"""``ShallowNNClassifier`` on sparse X: the dense fit's results, never a dense copy.

A sparse fit runs the same shuffles and weights as a dense fit of ``X.toarray()``;
only the first layer's sums run in another order, so float64 fits agree to
``rtol=1e-10`` (``atol=1e-13`` for entries that are zero up to rounding).
MLPClassifier's sparse fits are the second oracle, held to the tolerances of
``tests/test_classifier_equivalence.py``.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import fastnn
from fastnn import ShallowNNClassifier
from fastnn import _device as device
from tests.common import assert_same_fit, mlp_params

RTOL, ATOL = 1e-10, 1e-13
FORMATS = ["csr_matrix", "csc_matrix", "csr_array", "csc_array"]


def _data(n=120, d=15, density=0.2, n_classes=3, seed=0, dtype=np.float64):
    """Sparse X with empty rows and a target a sparse linear model can learn."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    dense[::9] = 0.0
    y = np.argmax(dense @ rng.normal(size=(d, n_classes))
                  + 0.1 * rng.normal(size=(n, n_classes)), axis=1)
    return sp.csr_matrix(dense.astype(dtype)), y


X_SP, Y_SP = _data()


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ShallowNNClassifier(**params).fit(X, y)


def _assert_close(a, b, rtol=RTOL, atol=ATOL):
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_,
                    strict=True):
        assert u.dtype == v.dtype
        assert_allclose(u, v, rtol=rtol, atol=atol)
    assert a.n_iter_ == b.n_iter_
    assert a.t_ == b.t_
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)
    assert_allclose(a.loss_, b.loss_, rtol=rtol)


SOLVERS = {
    "gd": dict(solver="gd", learning_rate_init=0.5),
    "sgd": dict(solver="sgd", learning_rate_init=0.05, batch_size=32),
    "adam": dict(solver="adam", learning_rate_init=0.01, batch_size=32),
    "lbfgs": dict(solver="lbfgs"),
    "early-stopping": dict(solver="adam", learning_rate_init=0.01, batch_size=32,
                           early_stopping=True, n_iter_no_change=3),
}


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_sparse_fit_equals_dense_fit(solver):
    params = dict(n_hidden=8, max_iter=15, random_state=0, alpha=1e-3,
                  **SOLVERS[solver])
    ours = _fit(X_SP, Y_SP, **params)
    dense = _fit(X_SP.toarray(), Y_SP, **params)
    _assert_close(ours, dense)
    if solver == "early-stopping":
        assert_allclose(ours.validation_scores_, dense.validation_scores_)
        assert ours.best_validation_score_ == dense.best_validation_score_
    assert ours.device_ == "cpu"
    assert_allclose(ours.predict_proba(X_SP), dense.predict_proba(X_SP.toarray()),
                    rtol=RTOL, atol=ATOL)
    assert_array_equal(ours.predict(X_SP), dense.predict(X_SP.toarray()))


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_fits_and_predicts_as_dense(kind):
    X = getattr(sp, kind)(X_SP)
    params = dict(n_hidden=6, max_iter=5, random_state=1, batch_size=40)
    ours = _fit(X, Y_SP, **params)
    dense = _fit(X_SP.toarray(), Y_SP, **params)
    _assert_close(ours, dense)
    Xd = X_SP.toarray()
    assert_allclose(ours.predict_proba(X), dense.predict_proba(Xd), rtol=RTOL,
                    atol=ATOL)
    assert_allclose(ours.predict_log_proba(X), dense.predict_log_proba(Xd),
                    rtol=RTOL, atol=ATOL)
    assert_array_equal(ours.predict(X), dense.predict(Xd))
    assert ours.score(X, Y_SP) == dense.score(Xd, Y_SP)
    # A model fitted on dense X predicts sparse X alike, and the other way round.
    assert_allclose(dense.predict_proba(X), dense.predict_proba(Xd), rtol=RTOL,
                    atol=ATOL)


def test_partial_fit_sparse_equals_dense():
    params = dict(n_hidden=5, random_state=0, batch_size=25, learning_rate_init=0.01)
    ours, dense = ShallowNNClassifier(**params), ShallowNNClassifier(**params)
    classes = np.unique(Y_SP)
    for start in range(0, 120, 40):
        rows = slice(start, start + 40)
        ours.partial_fit(X_SP[rows], Y_SP[rows], classes=classes)
        dense.partial_fit(X_SP[rows].toarray(), Y_SP[rows], classes=classes)
    _assert_close(ours, dense)


def test_warm_start_mixes_dense_and_sparse():
    params = dict(n_hidden=5, random_state=0, max_iter=3, warm_start=True)
    ours = _fit(X_SP, Y_SP, **params)
    dense = _fit(X_SP.toarray(), Y_SP, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X_SP.toarray(), Y_SP)
        dense.fit(X_SP, Y_SP)
    _assert_close(ours, dense)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_sparse_fit_matches_mlp_sparse_fit(target, solver):
    X, y = _data(n=150, d=12, density=0.3, n_classes=2 if target == "binary" else 3,
                 seed=3)
    params = dict(n_hidden=8, activation="tanh", solver=solver, alpha=1e-2,
                  learning_rate_init=0.02, batch_size=50, max_iter=20,
                  n_iter_no_change=20, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ShallowNNClassifier(**params).fit(X, y)
        mlp = MLPClassifier(**mlp_params(params, X.shape[0])).fit(X, y)
    if solver == "lbfgs":
        # MLP leaves loss_curve_ and best_loss_ unset for lbfgs (README).
        assert ours.n_iter_ == mlp.n_iter_
        for a, b in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_,
                        strict=True):
            assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    else:
        assert_same_fit(ours, mlp)
    assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-7,
                    atol=1e-12)


def test_empty_rows_and_no_nonzeros():
    X = sp.csr_matrix((30, 4))
    y = np.arange(30) % 2
    ours = _fit(X, y, n_hidden=3, max_iter=4, random_state=0)
    dense = _fit(X.toarray(), y, n_hidden=3, max_iter=4, random_state=0)
    _assert_close(ours, dense)
    assert_allclose(ours.predict_proba(X), dense.predict_proba(X.toarray()))
    # W1 receives no gradient from inputs that are all zero, only its L2 term.
    assert np.isfinite(ours.coefs_[0]).all()


def test_unsorted_and_duplicate_indices_are_summed_like_toarray():
    data = np.array([1.0, 2.0, -1.0, 0.5, 3.0, 1.5])
    indices = np.array([3, 0, 3, 1, 2, 2])  # row 0: 3, 0, 3; row 2: 1, 2, 2
    indptr = np.array([0, 3, 3, 6])
    X = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    X = sp.vstack([X] * 10, format="csr")
    X.has_sorted_indices = False
    y = np.arange(30) % 3
    ours = _fit(X, y, n_hidden=3, max_iter=4, random_state=0, batch_size=7)
    assert not X.has_canonical_format  # the caller's matrix is left alone
    dense = _fit(X.toarray(), y, n_hidden=3, max_iter=4, random_state=0,
                 batch_size=7)
    _assert_close(ours, dense)


def test_int64_indices_fit_like_int32():
    X64 = X_SP.copy()
    X64.indices, X64.indptr = (X64.indices.astype(np.int64),
                               X64.indptr.astype(np.int64))
    a = _fit(X64, Y_SP, n_hidden=4, max_iter=3, random_state=0)
    b = _fit(X_SP, Y_SP, n_hidden=4, max_iter=3, random_state=0)
    _assert_close(a, b, rtol=0, atol=0)


def test_float32_stays_float32():
    X32 = X_SP.astype(np.float32)
    clf = _fit(X32, Y_SP, n_hidden=4, max_iter=3, random_state=0)
    assert all(w.dtype == np.float32 for w in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    dense = _fit(X32.toarray(), Y_SP, n_hidden=4, max_iter=3, random_state=0)
    _assert_close(clf, dense, rtol=1e-5, atol=1e-6)


def _with_data(X, index, value):
    X = X.copy()
    X.data[index] = value
    return X


@pytest.mark.parametrize(("value", "match"), [(np.nan, "Input X contains NaN"),
                                              (np.inf, "Input X contains infinity")])
@pytest.mark.parametrize("kind", ["csr_matrix", "csc_array"])
def test_non_finite_data_gives_sklearn_errors(kind, value, match):
    X = getattr(sp, kind)(_with_data(X_SP, 3, value))
    with pytest.raises(ValueError, match=match):
        ShallowNNClassifier(max_iter=2).fit(X, Y_SP)
    clf = _fit(X_SP, Y_SP, n_hidden=3, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=match):
        clf.predict(X)


def test_huge_sparse_input_is_never_densified():
    """10**6 features x 100 rows: a dense copy would take 800 MB."""
    rng = np.random.default_rng(0)
    n, d = 100, 10**6
    X = sp.random(n, d, density=5e-6, format="csr", random_state=0)
    y = rng.integers(0, 2, n)
    clf = ShallowNNClassifier(n_hidden=1, max_iter=2, random_state=0)
    _fit(X[:10], y[:10], n_hidden=1, max_iter=1, random_state=0)  # compile first
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
            clf.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # theta has 10**6 float64 weights (8 MB): Adam's slots, the weight backups
    # and the gradient hold a few copies; X.toarray() alone would be 800 MB.
    print(f"peak {peak / 2**20:.1f} MiB")
    assert peak < 150 * 2**20
    assert clf.coefs_[0].shape == (d, 1)


def test_sparse_tag():
    assert ShallowNNClassifier().__sklearn_tags__().input_tags.sparse


# --- devices: no GPU needed ---------------------------------------------------


def test_cuda_refuses_sparse_and_says_what_to_do():
    with pytest.raises(ValueError, match=r"device='cpu'.*X\.toarray\(\)"):
        ShallowNNClassifier(device="cuda", max_iter=2).fit(X_SP, Y_SP)


def test_auto_trains_sparse_on_the_cpu_even_with_a_gpu(monkeypatch):
    monkeypatch.setattr(device, "real_gpu", lambda: True)
    monkeypatch.setattr(device, "usable", lambda: True)
    clf = _fit(X_SP, Y_SP, n_hidden=3, max_iter=2, random_state=0, device="auto")
    assert clf.device_ == "cpu"


def test_cuda_fitted_model_predicts_sparse_on_the_cpu(monkeypatch):
    clf = _fit(X_SP, Y_SP, n_hidden=3, max_iter=2, random_state=0)
    expected = clf.predict_proba(X_SP)
    clf.device_ = "cuda"
    monkeypatch.setattr(device, "usable", lambda: True)

    def no_gpu(*args, **kwargs):
        raise AssertionError("sparse X went to the GPU backend")

    monkeypatch.setattr(fastnn._backends.CUDABackend, "forward", no_gpu)
    assert_array_equal(clf.predict_proba(sp.csr_matrix(X_SP)), expected)
    big = sp.vstack([X_SP] * 600, format="csr")  # above GPU_PREDICT_MIN_ROWS
    assert big.shape[0] >= fastnn._backends.GPU_PREDICT_MIN_ROWS
    assert clf.predict(big).shape == (big.shape[0],)
