import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.datasets import make_flower


def _lecture_planar_dataset():
    """The course's ``load_planar_dataset``, verbatim but for restoring the seed.

    It seeds and draws from NumPy's global random state, as the lecture does; the
    caller's global state is restored afterwards.
    """
    saved = np.random.get_state()
    try:
        np.random.seed(1)
        m = 400
        N = int(m / 2)
        D = 2
        X = np.zeros((m, D))
        Y = np.zeros((m, 1), dtype="uint8")
        a = 4
        for j in range(2):
            ix = range(N * j, N * (j + 1))
            t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
            r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
            X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
            Y[ix] = j
        return X.T, Y.T
    finally:
        np.random.set_state(saved)


def _global_state_equal(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("n_samples", [2, 3, 400, 401])
def test_shapes_and_dtypes(n_samples):
    X, y = make_flower(n_samples)
    assert X.shape == (n_samples, 2)
    assert y.shape == (n_samples,)
    assert X.dtype == np.float64
    assert y.dtype == np.int64
    assert X.flags.c_contiguous
    assert np.isfinite(X).all()


@pytest.mark.parametrize(
    "n_samples, expected",
    [(2, [1, 1]), (3, [1, 2]), (400, [200, 200]), (401, [200, 201])],
)
def test_class_sizes_and_order(n_samples, expected):
    _, y = make_flower(n_samples)
    assert_array_equal(np.bincount(y, minlength=2), expected)
    # Class 0 comes first, as in the lecture.
    assert_array_equal(y, np.repeat([0, 1], expected))


def test_matches_lecture_recipe():
    X_lecture, Y_lecture = _lecture_planar_dataset()
    X, y = make_flower()
    assert X_lecture.shape == (2, 400)
    assert_array_equal(X, X_lecture.T)
    assert_array_equal(y, Y_lecture.ravel())


def test_matches_lecture_recipe_given_random_state_instance():
    X_lecture, _ = _lecture_planar_dataset()
    X, _ = make_flower(random_state=np.random.RandomState(1))
    assert_array_equal(X, X_lecture.T)


def test_deterministic_for_a_seed():
    X1, y1 = make_flower(random_state=7)
    X2, y2 = make_flower(random_state=7)
    assert_array_equal(X1, X2)
    assert_array_equal(y1, y2)
    X3, _ = make_flower(random_state=8)
    assert not np.allclose(X1, X3)


def test_global_random_state_untouched():
    np.random.seed(12345)
    before = np.random.get_state()
    make_flower()
    make_flower(random_state=3, noise=0.5)
    assert _global_state_equal(np.random.get_state(), before)


def test_random_state_none_uses_global_state():
    saved = np.random.get_state()
    try:
        np.random.seed(1)
        X_global, _ = make_flower(random_state=None)
    finally:
        np.random.set_state(saved)
    assert_array_equal(X_global, make_flower(random_state=1)[0])


@pytest.mark.parametrize("n_samples", [400, 401])
def test_noiseless_points_lie_on_rose_curve(n_samples):
    X, y = make_flower(n_samples, noise=0.0)
    rho = np.hypot(X[:, 0], X[:, 1])
    # Points are (r sin t, r cos t), so the polar angle is measured from the second
    # axis; when r < 0 it is t + pi, and |sin 4t| is the same for both.
    phi = np.arctan2(X[:, 0], X[:, 1])
    assert_allclose(rho, 4 * np.abs(np.sin(4 * phi)), rtol=0, atol=1e-12)
    # Without noise the angles are the evenly spaced ones of each class.
    for j in (0, 1):
        t = np.linspace(3.12 * j, 3.12 * (j + 1), np.sum(y == j))
        r = 4 * np.sin(4 * t)
        assert_allclose(X[y == j], np.c_[r * np.sin(t), r * np.cos(t)], atol=1e-12)


def test_noisy_points_leave_rose_curve():
    X, _ = make_flower(noise=0.2)
    rho = np.hypot(X[:, 0], X[:, 1])
    phi = np.arctan2(X[:, 0], X[:, 1])
    residual = np.abs(rho - 4 * np.abs(np.sin(4 * phi)))
    assert np.median(residual) > 0.05


def test_noise_scales_the_spread():
    X0, _ = make_flower(noise=0.0)
    spreads = [np.abs(make_flower(noise=s)[0] - X0).mean() for s in (0.05, 0.2, 0.5)]
    assert spreads[0] < spreads[1] < spreads[2]


@pytest.mark.parametrize(
    "params",
    [
        {"n_samples": 1},
        {"n_samples": 0},
        {"n_samples": -4},
        {"n_samples": 2.5},
        {"noise": -0.1},
        {"noise": "high"},
        {"random_state": "seed"},
    ],
)
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError):
        make_flower(**params)
