"""Per-sample log-loss terms, clipped exactly as scikit-learn's MLP clips them.

A nan probability gives a nan loss (the clipping would otherwise hide it), so
that the divergence guard sees it.
"""

from math import log


def logistic_loss(p, y, eps):
    """Binary cross-entropy of one output: ``-(y log p + (1 - y) log(1 - p))``.

    ``y`` is 0 or 1 (a binarised label), so exactly one of the two terms is
    nonzero and one logarithm suffices. ``p`` is clipped to ``[eps, 1 - eps]``
    with ``eps`` the dtype's machine epsilon, as
    ``sklearn.neural_network._base.binary_log_loss`` does.
    """
    # Selects rather than min/max or branches, so that the CPU loops vectorise.
    q = p if p > eps else eps
    q = q if q < 1.0 - eps else 1.0 - eps
    q = q if y == 1 else 1.0 - q
    loss = -log(q)
    return loss if p == p else p


def softmax_loss_term(p, y, eps):
    """One class's term ``-y log p`` of the categorical cross-entropy (``y`` 0/1)."""
    q = p if p > eps else eps
    q = q if q < 1.0 - eps else 1.0 - eps
    # ``y`` may be an unsigned integer: negate the logarithm, never ``y``.
    loss = y * -log(q)
    return loss if p == p else p


def output_delta(p, y, weight):
    """The output delta ``(p - y) * weight`` of one output and sample.

    ``A2 - Y`` because logistic and softmax outputs are the canonical links of
    the (binary or categorical) cross-entropy; weighted by the sample weight.
    """
    return (p - y) * weight


def objective(loss_sum, alpha, squared_weights, weight_sum):
    """MLPClassifier's batch objective: mean weighted loss plus L2 penalty.

    ``(sum(sw * l) + alpha ||W||^2 / 2) / sum(sw)``, the penalty over the weights
    only (not the intercepts).
    """
    return (loss_sum + 0.5 * alpha * squared_weights) / weight_sum


def regularised_gradient(grad_sum, alpha, weight, weight_sum):
    """One weight's gradient: ``(sum over rows + alpha w) / sum(sw)``.

    Intercepts take ``alpha = 0``.
    """
    return (grad_sum + alpha * weight) / weight_sum
