"""Parameter update rules of the solvers, one scalar parameter at a time.

They follow ``sklearn.neural_network._stochastic_optimizers`` operation for
operation, so that float64 fits reproduce MLPClassifier's weights.
"""

import math

GD = 0
SGD = 1
ADAM = 2

#: Public solver names to kernel codes.
CODES = {"gd": GD, "sgd": SGD, "adam": ADAM}

CONSTANT = 0
INVSCALING = 1
ADAPTIVE = 2

#: Learning-rate schedules to kernel codes.
SCHEDULES = {"constant": CONSTANT, "invscaling": INVSCALING, "adaptive": ADAPTIVE}


def gd_step(param, grad, lr):
    """``param`` after a plain gradient step: MLP's sgd with momentum 0.

    Written ``param + (0 * v - lr * grad)`` as MLP computes it, with ``0 * v``
    dropped (exact: it is 0 for finite ``v``).
    """
    return param + -(lr * grad)


def sgd_step(param, grad, velocity, lr, momentum, nesterov):
    """Return ``(param, velocity)`` after one (Nesterov) momentum step."""
    velocity = momentum * velocity - lr * grad
    update = momentum * velocity - lr * grad if nesterov else velocity
    return param + update, velocity


def adam_step(param, grad, m, v, lr_t, beta_1, one_minus_beta_1, beta_2,
              one_minus_beta_2, epsilon):
    """Return ``(param, m, v)`` after one Adam step with bias-corrected ``lr_t``.

    The complements ``1 - beta`` come computed (in float64, as MLP computes
    them), so that a caller passing every constant in the parameters' dtype gets
    arithmetic in that dtype: float32 fits then update in float32, as MLP's do.
    """
    m = beta_1 * m + one_minus_beta_1 * grad
    v = beta_2 * v + one_minus_beta_2 * (grad * grad)
    return param + -lr_t * m / (math.sqrt(v) + epsilon), m, v

