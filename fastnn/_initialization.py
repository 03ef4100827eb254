"""Initial weights, and moving weights between the flat vector and the layers.

The kernels see one flat ``theta`` (:mod:`fastnn.ops.layout`); the fitted
attributes are MLPClassifier's ``coefs_`` and ``intercepts_`` lists.
"""

import numpy as np

from .ops.layout import unpack


def glorot_uniform(random_state, layout, logistic, dtype):
    """Glorot-uniform ``theta``, drawn in MLPClassifier's order from its RNG.

    Per layer the weights, then the intercepts, each uniform in ``+-bound`` with
    ``bound = sqrt(factor / (fan_in + fan_out))``, ``factor`` 2 for a logistic
    hidden activation and 6 otherwise, drawn in float64 and then cast, as
    ``BaseMultilayerPerceptron._init_coef`` does.
    """
    factor = 2.0 if logistic else 6.0
    d, h, o = layout.n_features, layout.n_hidden, layout.n_outputs
    parts = []
    for fan_in, fan_out in ((d, h), (h, o)):
        bound = np.sqrt(factor / (fan_in + fan_out))
        parts.append(random_state.uniform(-bound, bound, (fan_in, fan_out)).ravel())
        parts.append(random_state.uniform(-bound, bound, fan_out))
    return np.concatenate(parts).astype(dtype, copy=False)


def lecture_normal(random_state, layout, dtype):
    """The lecture's initial ``theta``: small Gaussian weights, zero intercepts.

    As the course's ``initialize_parameters`` draws them from the same RNG:
    ``W1 = randn(n_hidden, n_features) * 0.01``, then
    ``W2 = randn(n_outputs, n_hidden) * 0.01``, each transposed into our
    (fan_in, fan_out) layout, in float64 and then cast; ``b1 = b2 = 0``.
    """
    d, h, o = layout.n_features, layout.n_hidden, layout.n_outputs
    W1 = random_state.randn(h, d) * 0.01
    W2 = random_state.randn(o, h) * 0.01
    return np.concatenate([W1.T.ravel(), np.zeros(h), W2.T.ravel(),
                           np.zeros(o)]).astype(dtype, copy=False)


def to_layers(layout, theta):
    """``(coefs, intercepts)`` lists, copied out of ``theta``."""
    W1, b1, W2, b2 = unpack(layout, theta)
    return [W1.copy(), W2.copy()], [b1.copy(), b2.copy()]


def from_layers(coefs, intercepts):
    """The flat ``theta`` of ``coefs`` and ``intercepts``."""
    (W1, W2), (b1, b2) = coefs, intercepts
    return np.concatenate([W1.ravel(), b1, W2.ravel(), b2])
