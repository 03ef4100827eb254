"""Per-sample log-loss terms, clipped exactly as scikit-learn's MLP clips them."""

from math import log


def logistic_loss(p, y, eps):
    """Binary cross-entropy of one output: ``-(y log p + (1 - y) log(1 - p))``.

    ``p`` is clipped to ``[eps, 1 - eps]`` with ``eps`` the dtype's machine
    epsilon, as ``sklearn.neural_network._base.binary_log_loss`` does.
    """
    p = min(max(p, eps), 1.0 - eps)
    loss = 0.0
    if y != 0:
        loss -= y * log(p)
    if y != 1:
        loss -= (1.0 - y) * log(1.0 - p)
    return loss


def softmax_loss_term(p, y, eps):
    """One class's term ``-y log p`` of the categorical cross-entropy."""
    if y == 0:
        return 0.0
    # ``y`` may be an unsigned integer: negate the logarithm, never ``y``.
    return y * -log(min(max(p, eps), 1.0 - eps))
