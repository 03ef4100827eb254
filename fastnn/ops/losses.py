"""The output layers and their losses, per output and sample, as MLP defines them.

Each output function is the canonical link of its loss, so the output delta is
``A2 - Y`` for all four (:func:`output_delta`):

- ``LOGISTIC``: one logistic per output, binary log-loss (binary, multilabel);
- ``SOFTMAX``: softmax over the outputs, categorical cross-entropy (multiclass);
- ``IDENTITY``: the raw output, half the squared error averaged over the
  outputs (MLPRegressor's ``loss="squared_error"``);
- ``EXP``: ``exp`` of the raw output, the half Poisson deviance summed over the
  outputs (MLPRegressor's ``loss="poisson"``).

Log-losses clip probabilities exactly as scikit-learn's MLP clips them. A nan
output gives a nan loss (the clipping would otherwise hide it), so that the
divergence guard sees it.

``exp`` and ``log`` are module globals on purpose: each backend compiles these
functions with its own fast versions bound to those names
(``fastnn._config.specialise``); :func:`loss_term` likewise calls the
per-output terms through the names a backend rebinds to its compiled versions.
"""

from math import exp, log

LOGISTIC = 0
SOFTMAX = 1
IDENTITY = 2
EXP = 3

#: ``out_activation_`` names (MLP's) to output codes.
OUTPUTS = {"logistic": LOGISTIC, "softmax": SOFTMAX, "identity": IDENTITY, "exp": EXP}


def is_classification(output):
    """Whether an output code is a classifier's (probabilities, labels 0/1)."""
    return output == LOGISTIC or output == SOFTMAX


def exp_output(z):
    """The Poisson output ``exp(z)`` (inf beyond the dtype's range, as np.exp)."""
    return exp(z)


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


def squared_error_term(p, y, n_outputs):
    """One output's term ``(p - y)^2 / (2 n_outputs)`` of MLPRegressor's squared
    loss, ``0.5 * average((y - p)^2, axis=0).mean()``: halved, and averaged over
    the outputs as well as the samples."""
    r = p - y
    return r * r * (0.5 / n_outputs)


def poisson_term(p, y):
    """One output's term ``xlogy(y, y / p) - y + p`` of MLPRegressor's poisson loss
    (the half Poisson deviance, constant terms included, as MLP includes them),
    for the prediction ``p = exp(z) > 0`` and a target ``y >= 0``."""
    t = y * log(y / p) if y > 0 else 0.0
    return t - y + p


def loss_term(p, y, output, eps, n_outputs):
    """One output's term of the loss of code ``output`` at prediction ``p`` and
    target ``y``; a sample's loss is the sum over its outputs.

    For code that loops over samples and outputs at once (the validation loss,
    the GPU's rows); the CPU's training blocks hoist this choice out of their
    loops instead, so that those vectorise.
    """
    if output == SOFTMAX:
        return softmax_loss_term(p, y, eps)
    if output == LOGISTIC:
        return logistic_loss(p, y, eps)
    if output == EXP:
        return poisson_term(p, y)
    return squared_error_term(p, y, n_outputs)


def r2_of_output(residual, spread):
    """One output's R^2 from its weighted sums of squares, as ``r2_score``.

    ``1 - residual / spread``; with ``force_finite``: 1.0 when predicted exactly,
    0.0 for constant targets predicted with errors. A nan residual (a non-finite
    prediction) stays nan.
    """
    if residual == 0.0:
        return 1.0
    if spread == 0.0:
        return 0.0 if residual == residual else residual
    return 1.0 - residual / spread


def output_delta(p, y, weight):
    """The output delta ``(p - y) * weight`` of one output and sample.

    ``A2 - Y`` because every output function is its loss's canonical link (see
    the module docstring); weighted by the sample weight.
    """
    return (p - y) * weight


def objective(loss_sum, alpha, squared_weights, weight_sum):
    """MLP's batch objective: mean weighted loss plus L2 penalty.

    ``(sum(sw * l) + alpha ||W||^2 / 2) / sum(sw)``, the penalty over the weights
    only (not the intercepts).
    """
    return (loss_sum + 0.5 * alpha * squared_weights) / weight_sum


def regularised_gradient(grad_sum, alpha, weight, weight_sum):
    """One weight's gradient: ``(sum over rows + alpha w) / sum(sw)``.

    Intercepts take ``alpha = 0``.
    """
    return (grad_sum + alpha * weight) / weight_sum
