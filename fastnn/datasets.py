"""Toy data sets."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_flower"]

# Petals' maximum radius and the angular span of each class, as in the lecture.
_PETAL_RADIUS = 4.0
_CLASS_SPAN = 3.12


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_flower(n_samples=400, *, noise=0.2, random_state=1):
    """Make the planar "flower" data set of the shallow neural network lecture.

    Two classes of points scattered around the four-petal rose curve
    ``r = 4 sin(4 t)``: class ``j`` covers the angles ``t`` from ``3.12 j`` to
    ``3.12 (j + 1)``, so each class holds two petals and no linear boundary
    separates them. This is ``load_planar_dataset`` from the deeplearning.ai
    course "Neural Networks and Deep Learning"; with the defaults the values are
    exactly the lecture's, transposed to one sample per row.

    Parameters
    ----------
    n_samples : int, default=400
        The total number of points generated. Class 0 gets
        ``n_samples // 2`` points and class 1 the rest, so an odd
        ``n_samples`` gives class 1 one point more.

    noise : float, default=0.2
        Standard deviation of the Gaussian noise added to both the angle and
        the radius of each point. With ``noise=0`` the points lie exactly on
        the rose curve.

    random_state : int, RandomState instance or None, default=1
        Determines random number generation for the noise. The noise is drawn
        from a legacy :class:`numpy.random.RandomState`, angles then radii,
        class 0 then class 1, as the lecture draws it after
        ``np.random.seed(1)``; NumPy's global random state is left untouched
        unless ``None`` is passed, which uses it.
        Pass an int for reproducible output across multiple function calls.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The generated samples, float64.

    y : ndarray of shape (n_samples,)
        The integer labels (0 or 1) for class membership of each sample,
        int64. Class 0 comes first.

    Examples
    --------
    >>> from fastnn.datasets import make_flower
    >>> X, y = make_flower()
    >>> X.shape, y.shape
    ((400, 2), (400,))
    >>> int(y.sum())
    200
    """
    rng = check_random_state(random_state)
    counts = (n_samples // 2, n_samples - n_samples // 2)
    X = np.empty((n_samples, 2), dtype=np.float64)
    y = np.empty(n_samples, dtype=np.int64)
    start = 0
    for j, count in enumerate(counts):
        stop = start + count
        # Draw order (angle noise, then radius noise) matches the lecture's.
        t = np.linspace(j * _CLASS_SPAN, (j + 1) * _CLASS_SPAN, count)
        t = t + rng.randn(count) * noise
        r = _PETAL_RADIUS * np.sin(4 * t) + rng.randn(count) * noise
        X[start:stop, 0] = r * np.sin(t)
        X[start:stop, 1] = r * np.cos(t)
        y[start:stop] = j
        start = stop
    return X, y
