"""A plain NumPy reference of the one-hidden-layer network, written from the math.

This is the oracle every kernel is compared against. It never imports fastnn,
favours the obvious formula over the fast one, and returns new arrays instead of
writing into buffers. Samples are rows:

    Z1 = X W1 + b1,  A1 = g(Z1),  Z2 = A1 W2 + b2,  A2 = out(Z2)

with ``out`` sigmoid or softmax (classifier), identity or exp (regressor). The
parameter vector is ``theta = [W1 (d*h, row-major), b1 (h), W2 (h*o), b2 (o)]``.
Losses, gradients, accuracy, R^2, update rules and the stopping bookkeeping
follow scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` (``_base.py``,
``_stochastic_optimizers.py``, ``_multilayer_perceptron.py``). An output is
named as MLP's ``out_activation_`` ("logistic", "softmax", "identity", "exp"),
or given as a bool: softmax (True) or logistic (False).
"""

from types import SimpleNamespace

import numpy as np
from scipy.special import xlogy

ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu")


def pack(W1, b1, W2, b2):
    """Flat parameter vector ``[W1, b1, W2, b2]``."""
    return np.concatenate([W1.ravel(), b1, W2.ravel(), b2])


def unpack(theta, n_features, n_hidden, n_outputs):
    """Copies ``(W1, b1, W2, b2)`` of the flat parameter vector."""
    d, h, o = n_features, n_hidden, n_outputs
    sizes = [d * h, h, h * o, o]
    W1, b1, W2, b2 = np.split(np.array(theta), np.cumsum(sizes)[:-1])
    return W1.reshape(d, h), b1, W2.reshape(h, o), b2


def random_problem(kind, n_samples, shape, seed=0, weighted=False,
                   dtype=np.float64):
    """Random ``X, Y (uint8), sample_weight, theta`` for the kernel tests.

    ``kind`` is "binary" (one output), "multiclass" or "multilabel" (three);
    ``shape`` is ``(n_features, n_hidden)``; weights are Glorot-uniform per layer.
    """
    rng = np.random.default_rng(seed)
    d, h = shape
    o = 1 if kind == "binary" else 3
    X = rng.normal(size=(n_samples, d))
    if kind == "multiclass":
        Y = np.eye(o, dtype=np.uint8)[rng.integers(o, size=n_samples)]
    else:
        Y = rng.integers(2, size=(n_samples, o)).astype(np.uint8)
    sw = rng.uniform(0.2, 3.0, n_samples) if weighted else np.ones(n_samples)
    theta = _glorot_theta(rng, d, h, o)
    return X.astype(dtype), Y, sw.astype(dtype), theta.astype(dtype)


def random_regression(n_samples, shape, n_outputs, seed=0, weighted=False,
                      dtype=np.float64, counts=False):
    """Random ``X, Y (of dtype), sample_weight, theta`` for the regressor's kernels.

    Targets depend on ``X`` (so that training can raise the R^2): ``tanh`` of a
    random projection plus noise, or with ``counts`` Poisson counts (zeros
    included) of rate ``exp`` of one, for the poisson loss.
    """
    rng = np.random.default_rng(seed)
    d, h = shape
    X = rng.normal(size=(n_samples, d))
    Z = X @ rng.normal(size=(d, n_outputs)) / np.sqrt(d)
    if counts:
        Y = rng.poisson(np.exp(Z)).astype(np.float64)
    else:
        Y = np.tanh(Z) + 0.1 * rng.normal(size=Z.shape)
    sw = rng.uniform(0.2, 3.0, n_samples) if weighted else np.ones(n_samples)
    theta = _glorot_theta(rng, d, h, n_outputs)
    return X.astype(dtype), Y.astype(dtype), sw.astype(dtype), theta.astype(dtype)


def _glorot_theta(rng, d, h, o):
    """Glorot-uniform weights and biases of both layers, flat."""
    layers = []
    for fan_in, fan_out in ((d, h), (h, o)):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        layers += [rng.uniform(-bound, bound, (fan_in, fan_out)),
                   rng.uniform(-bound, bound, fan_out)]
    return pack(*layers)


def sigmoid(Z):
    """``1 / (1 + exp(-z))`` as ``exp(-log(1 + exp(-z)))``, which never overflows."""
    return np.exp(-np.logaddexp(0, -Z))


def softmax(Z):
    """Row-wise softmax; shifting by the row maximum leaves it unchanged."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def activation(name, Z, slope=0.01):
    """Hidden activation ``g(Z)``."""
    if name == "identity":
        return Z.copy()
    if name == "logistic":
        return sigmoid(Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(Z, 0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, slope * Z)
    raise ValueError(name)


def activation_derivative(name, Z, slope=0.01):
    """``g'(Z)`` from the *input* ``Z``; at the kink of (leaky) relu, the left slope."""
    if name == "identity":
        return np.ones_like(Z)
    if name == "logistic":
        s = sigmoid(Z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(Z) ** 2
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    if name == "leaky_relu":
        return np.where(Z > 0, 1, slope).astype(Z.dtype)
    raise ValueError(name)


def output_name(output):
    """The output's name: ``output`` itself, or a bool's (softmax / logistic)."""
    if isinstance(output, (bool, np.bool_)):
        return "softmax" if output else "logistic"
    return output


def is_classification(output):
    return output_name(output) in ("logistic", "softmax")


def output_function(output, Z):
    """The output layer's function of ``Z2`` (rows are samples)."""
    name = output_name(output)
    if name == "softmax":
        return softmax(Z)
    if name == "logistic":
        return sigmoid(Z)
    if name == "exp":
        return np.exp(Z)
    if name == "identity":
        return Z.copy()
    raise ValueError(output)


def forward(X, theta, n_hidden, n_outputs, act, slope, output):
    """Return ``(Z1, A1, Z2, A2)`` for every row of ``X``."""
    W1, b1, W2, b2 = unpack(theta, X.shape[1], n_hidden, n_outputs)
    Z1 = X @ W1 + b1
    A1 = activation(act, Z1, slope)
    Z2 = A1 @ W2 + b2
    return Z1, A1, Z2, output_function(output, Z2)


def sample_losses(Y, A2, output, eps):
    """Per-sample loss of the outputs ``A2``, as MLP's losses weight samples.

    Classifier: the log-loss of the probabilities clipped to ``[eps, 1 - eps]``,
    categorical cross-entropy for softmax, otherwise the sum over outputs of the
    binary cross-entropy (binary and multilabel). Regressor: half the squared
    error averaged over the outputs (identity, MLP's ``squared_error``), or
    ``xlogy(y, y / p) - y + p`` summed over the outputs (exp, MLP's
    ``poisson``).
    """
    name = output_name(output)
    Y = Y.astype(np.float64)
    A2 = A2.astype(np.float64)
    if name == "identity":
        return 0.5 * ((Y - A2) ** 2).mean(axis=1)
    if name == "exp":
        return (xlogy(Y, Y / A2) - Y + A2).sum(axis=1)
    P = np.clip(A2, eps, 1 - eps)
    if name == "softmax":
        return -(Y * np.log(P)).sum(axis=1)
    return -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).sum(axis=1)


def loss_and_grad(X, Y, sw, theta, n_hidden, act, slope, output, alpha,
                  eps=None):
    """MLP's objective on ``(X, Y, sw)`` and its gradient (flat), as MLP computes it.

    ``loss = sum(sw * l) / s + alpha (||W1||^2 + ||W2||^2) / (2 s)``, ``s = sum(sw)``.
    ``eps`` defaults to the machine epsilon of ``X.dtype``. The gradient
    backpropagates MLP's output delta ``A2 - Y``: for the identity output with
    several outputs that is ``n_outputs`` times the derivative of the averaged
    squared error, as in ``MLPRegressor``.
    """
    if eps is None:
        eps = np.finfo(X.dtype).eps
    n_outputs = Y.shape[1]
    W1, _, W2, _ = unpack(theta, X.shape[1], n_hidden, n_outputs)
    Z1, A1, _, A2 = forward(X, theta, n_hidden, n_outputs, act, slope, output)
    s = sw.sum()
    penalty = alpha * ((W1**2).sum() + (W2**2).sum()) / (2 * s)
    loss = (sw * sample_losses(Y, A2, output, eps)).sum() / s + penalty
    # Each output function is the canonical link of its loss: dL/dZ2 = A2 - Y.
    dZ2 = (A2 - Y) * sw[:, None]
    dW2 = (A1.T @ dZ2 + alpha * W2) / s
    db2 = dZ2.sum(axis=0) / s
    dZ1 = (dZ2 @ W2.T) * activation_derivative(act, Z1, slope)
    dW1 = (X.T @ dZ1 + alpha * W1) / s
    db1 = dZ1.sum(axis=0) / s
    return loss, pack(dW1, db1, dW2, db2)


def accuracy(X, Y, sw, theta, n_hidden, act, slope, output):
    """Weighted share of rows whose predicted labels all match ``Y``.

    The predicted class is the argmax for softmax, and for logistic outputs every
    output is thresholded at 0.5 (as ``LabelBinarizer.inverse_transform``).
    """
    A2 = forward(X, theta, n_hidden, Y.shape[1], act, slope, output)[3]
    if output_name(output) == "softmax":
        correct = Y[np.arange(len(Y)), A2.argmax(axis=1)] == 1
    else:
        correct = ((A2 > 0.5) == (Y == 1)).all(axis=1)
    return (sw * correct).sum() / sw.sum()


def r2(Y, P, sw):
    """Weighted R^2 of the predictions ``P``, written from its definition.

    Per output ``1 - sum w (y - p)^2 / sum w (y - ybar)^2`` with ``ybar`` the
    weighted mean; 1 when the residuals vanish, 0 when only the targets are
    constant (``r2_score``'s ``force_finite``); the mean over the outputs; nan
    when a prediction is not finite (as MLP's validation score then is).
    """
    Y, P = Y.astype(np.float64), P.astype(np.float64)
    if not np.isfinite(P).all():
        return np.nan
    w = sw.astype(np.float64)[:, None]
    ybar = (w * Y).sum(axis=0) / w.sum()
    residual = (w * (Y - P) ** 2).sum(axis=0)
    spread = (w * (Y - ybar) ** 2).sum(axis=0)
    scores = np.where(residual == 0, 1.0,
                      np.where(spread == 0, 0.0,
                               1 - residual / np.where(spread == 0, 1.0, spread)))
    return scores.mean()


def validation_score(X, Y, sw, theta, n_hidden, act, slope, output):
    """MLP's early-stopping score: accuracy (classifier) or R^2 (regressor)."""
    if is_classification(output):
        return accuracy(X, Y, sw, theta, n_hidden, act, slope, output)
    P = forward(X, theta, n_hidden, Y.shape[1], act, slope, output)[3]
    return r2(Y, P, sw)


def gd_update(theta, grad, lr):
    """Plain gradient step: MLP's sgd with momentum 0, ``theta + (0 v - lr g)``."""
    return theta - lr * grad


def sgd_update(theta, grad, velocity, lr, momentum, nesterov):
    """sklearn's ``SGDOptimizer``: return ``(theta, velocity)``."""
    velocity = momentum * velocity - lr * grad
    if nesterov:
        update = momentum * velocity - lr * grad
    else:
        update = velocity
    return theta + update, velocity


def adam_update(theta, grad, m, v, t, lr_init, beta_1, beta_2, epsilon):
    """sklearn's ``AdamOptimizer`` at (1-based) step ``t``: ``(theta, m, v)``."""
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad**2
    lr = lr_init * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return theta - lr * m / (np.sqrt(v) + epsilon), m, v


class Stopping:
    """The per-epoch tail of ``MLPClassifier._fit_stochastic`` (no early stopping).

    ``_update_no_improvement_count`` on the training loss, the optimizer's
    ``iteration_ends`` (invscaling) and ``trigger_stopping`` (adaptive divides the
    learning rate by 5 instead of stopping, until it reaches 1e-6). ``solver`` is
    ``"gd"``, ``"sgd"`` or ``"adam"``; gd behaves as sgd.
    """

    def __init__(self, solver, schedule, lr_init, power_t, tol, n_iter_no_change):
        self.solver = solver
        self.schedule = schedule
        self.lr_init = lr_init
        self.learning_rate = lr_init
        self.power_t = power_t
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best_loss = np.inf
        self.no_improvement_count = 0
        self.t = 0

    #: What :meth:`decide` answers: carry on, the adaptive schedule divided the
    #: learning rate by 5, stop (``tol`` / ``n_iter_no_change``), or stop because
    #: the adaptive learning rate cannot go lower.
    DECISIONS = ("continue", "lr_decreased", "stop", "lr_too_small")

    def decide(self, loss, n_samples):
        """Record one epoch of ``n_samples`` with mean loss ``loss``; the decision.

        One of :data:`DECISIONS`.
        """
        self.t += n_samples
        if loss > self.best_loss - self.tol:
            self.no_improvement_count += 1
        else:
            self.no_improvement_count = 0
        if loss < self.best_loss:
            self.best_loss = loss
        if self.solver != "adam" and self.schedule == "invscaling":
            self.learning_rate = self.lr_init / (self.t + 1) ** self.power_t
        if self.no_improvement_count > self.n_iter_no_change:
            if self.solver == "adam" or self.schedule != "adaptive":
                return "stop"
            if self.learning_rate <= 1e-6:
                return "lr_too_small"
            self.learning_rate /= 5.0
            self.no_improvement_count = 0
            return "lr_decreased"
        return "continue"

    def epoch_ends(self, loss, n_samples):
        """Record one epoch of ``n_samples`` with mean loss ``loss``; True: stop."""
        return self.decide(loss, n_samples) in ("stop", "lr_too_small")


def train(X, Y, sw, orders, theta, n_epochs, n_hidden, act, slope, output,
          alpha, solver, batch_size, schedule="constant", lr_init=0.1, power_t=0.5,
          momentum=0.9, nesterov=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
          tol=1e-4, n_iter_no_change=10, val_rows=None):
    """MLP's stochastic training loop, epoch by epoch.

    Epoch ``e`` visits the training samples in the order ``orders[e % len(orders)]``,
    in batches of consecutive slices (the last one may be smaller). With
    ``val_rows``, early stopping: the score on those rows (:func:`validation_score`,
    accuracy or R^2) drives ``Stopping``
    (as minus the score) and the weights of the best score are kept in ``best``;
    ``val_losses`` records MLP's objective on those rows (:func:`loss_and_grad`).
    Returns ``theta, loss_curve, converged, val_scores, val_losses, best``, and
    per epoch
    ``new_lr`` (the learning rate the adaptive schedule set at its end, else 0)
    and ``decisions`` (:data:`Stopping.DECISIONS`); stops early when ``Stopping``
    says so.
    """
    theta = np.array(theta)
    n = orders.shape[1]
    slot1 = np.zeros_like(theta)
    slot2 = np.zeros_like(theta)
    stopping = Stopping(solver, schedule, lr_init, power_t, tol, n_iter_no_change)
    out = SimpleNamespace(loss_curve=[], converged=False, val_scores=[],
                          val_losses=[], best=None, new_lr=[], decisions=[])
    step = 0
    for epoch in range(n_epochs):
        order = orders[epoch % len(orders)]
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            loss, grad = loss_and_grad(X[rows], Y[rows], sw[rows], theta, n_hidden,
                                       act, slope, output, alpha)
            total += loss * len(rows)
            step += 1
            lr = stopping.learning_rate
            if solver == "adam":
                theta, slot1, slot2 = adam_update(theta, grad, slot1, slot2, step,
                                                  lr_init, beta_1, beta_2, epsilon)
            elif solver == "sgd":
                theta, slot1 = sgd_update(theta, grad, slot1, lr, momentum, nesterov)
            else:
                theta = gd_update(theta, grad, lr)
        out.loss_curve.append(total / n)
        metric = total / n
        if val_rows is not None:
            score = validation_score(X[val_rows], Y[val_rows], sw[val_rows], theta,
                                     n_hidden, act, slope, output)
            out.val_scores.append(score)
            out.val_losses.append(loss_and_grad(
                X[val_rows], Y[val_rows], sw[val_rows], theta, n_hidden, act, slope,
                output, alpha)[0])
            metric = -score
            if metric < stopping.best_loss:
                out.best = theta.copy()
        decision = stopping.decide(metric, n)
        out.decisions.append(decision)
        out.new_lr.append(stopping.learning_rate if decision == "lr_decreased"
                          else 0.0)
        if decision in ("stop", "lr_too_small"):
            out.converged = True
            break
    out.theta = theta
    return out
