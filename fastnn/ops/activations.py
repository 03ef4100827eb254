"""Hidden-layer activations and their derivatives, as scalar functions.

Derivatives take the activation's *output* ``a`` (not its input), as
scikit-learn's ``DERIVATIVES`` table does: the forward pass overwrites ``Z1`` with
``A1`` and backprop never needs ``Z1`` again. This works because every activation
here is monotone with ``sign(g(z)) == sign(z)`` (for ``leaky_relu`` the slope is
non-negative).

``exp`` and ``_tanh`` are module globals on purpose: each backend compiles these
functions with its own fast versions bound to those names
(``fastnn._config.specialise``).
"""

from math import exp
from math import tanh as _tanh

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4

#: Public activation names (and the ``sigmoid`` alias) to kernel codes.
CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "sigmoid": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
}


def identity(z, slope):
    return z


def identity_grad(a, slope):
    return 1.0


def logistic(z, slope):
    # exp(-|z|) never overflows, so |z| up to 1e30 stays exact; selects, not
    # branches, so that the CPU loops vectorise.
    e = exp(-abs(z))
    p = 1.0 / (1.0 + e)
    return p if z >= 0 else e * p


def logistic_grad(a, slope):
    return a * (1.0 - a)


def tanh(z, slope):
    return _tanh(z)


def tanh_grad(a, slope):
    return 1.0 - a * a


def relu(z, slope):
    # Written so that nan passes through (as np.maximum does): the divergence
    # guard must see it.
    return 0.0 if z <= 0 else z


def relu_grad(a, slope):
    return 1.0 if a > 0 else 0.0


def leaky_relu(z, slope):
    return z if z > 0 else slope * z


def leaky_relu_grad(a, slope):
    return 1.0 if a > 0 else slope
