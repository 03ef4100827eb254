"""The rivals fastnn is timed against: the lecture's NumPy code and PyTorch.

Both are small estimators with ``fit`` / ``predict`` / ``score`` that train the
same network as ``ShallowNNClassifier``: one hidden layer, a sigmoid output unit
for two classes or a softmax output for more, the mean log-loss, no L2 penalty,
full-batch gradient descent (``'gd'``) or Adam on minibatches (``'adam'``). They
start from the same Glorot-uniform weights that ``MLPClassifier`` and fastnn draw
for the same ``random_state``, so a ``'gd'`` fit lands on the same model.

``NumpyShallowNN`` is the vectorised code of the deeplearning.ai lecture
(``initialize_parameters``, ``forward_propagation``, ``compute_cost``,
``backward_propagation``, ``update_parameters``), written plainly with one sample
per row instead of per column. ``TorchShallowNN`` is the idiomatic PyTorch loop:
``nn.Sequential``, a ``torch.optim`` optimizer and a built-in loss.
"""

import math

import numpy as np
from sklearn.utils import check_random_state


def glorot_parameters(n_features, n_hidden, n_outputs, activation, random_state):
    """Initial ``(W1, b1, W2, b2)`` in float64, drawn as MLPClassifier draws them."""
    rng = check_random_state(random_state)
    factor = 2.0 if activation == "logistic" else 6.0
    params = []
    for fan_in, fan_out in ((n_features, n_hidden), (n_hidden, n_outputs)):
        bound = np.sqrt(factor / (fan_in + fan_out))
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        params.append(rng.uniform(-bound, bound, fan_out))
    return params


class _Base:
    """Parameters, label encoding, the sample orders and ``score`` of both rivals."""

    def __init__(
        self,
        n_hidden,
        activation="tanh",
        *,
        solver="gd",
        learning_rate_init=1.2,
        max_iter=200,
        batch_size=200,
        shuffle=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        negative_slope=0.01,
        random_state=0,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.negative_slope = negative_slope
        self.random_state = random_state

    def _encode(self, y):
        """Targets of shape (n, 1) for two classes, one-hot (n, k) for more."""
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) == 2:
            return codes[:, np.newaxis]
        return np.eye(len(self.classes_))[codes]

    def _batches(self, n_samples):
        """Yield index slices of one epoch; the whole set, in order, for ``'gd'``."""
        if self.solver == "gd":
            yield slice(None)
            return
        order = self._rng.permutation(n_samples) if self.shuffle else None
        for start in range(0, n_samples, self.batch_size):
            stop = min(start + self.batch_size, n_samples)
            yield slice(start, stop) if order is None else order[start:stop]

    def predict(self, X):
        scores = self._output(X)
        if scores.shape[1] == 1:
            return self.classes_[(scores[:, 0] > 0.5).astype(int)]
        return self.classes_[scores.argmax(axis=1)]

    def score(self, X, y):
        return float(np.mean(self.predict(X) == y))


# ---------------------------------------------------------------------------
# The lecture's NumPy code.


def sigmoid(z):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activate(name, Z, slope):
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(Z, 0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, slope * Z)
    if name == "logistic":
        return sigmoid(Z)
    raise ValueError(name)


def activation_derivative(name, A1, Z1, slope):
    """``g'(Z1)``, from the activation's output where the math allows."""
    if name == "tanh":
        return 1 - A1**2
    if name == "relu":
        return (Z1 > 0).astype(Z1.dtype)
    if name == "leaky_relu":
        return np.where(Z1 > 0, 1, slope).astype(Z1.dtype)
    if name == "logistic":
        return A1 * (1 - A1)
    raise ValueError(name)


def initialize_parameters(n_x, n_h, n_y, activation, random_state, dtype):
    W1, b1, W2, b2 = glorot_parameters(n_x, n_h, n_y, activation, random_state)
    return {
        "W1": W1.astype(dtype),
        "b1": b1.astype(dtype),
        "W2": W2.astype(dtype),
        "b2": b2.astype(dtype),
    }


def forward_propagation(X, parameters, activation, slope):
    Z1 = X @ parameters["W1"] + parameters["b1"]
    A1 = activate(activation, Z1, slope)
    Z2 = A1 @ parameters["W2"] + parameters["b2"]
    A2 = sigmoid(Z2) if Z2.shape[1] == 1 else softmax(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y):
    """Mean log-loss, with probabilities clipped as scikit-learn clips them."""
    m = Y.shape[0]
    eps = np.finfo(A2.dtype).eps
    A2 = np.clip(A2, eps, 1 - eps)
    if Y.shape[1] == 1:
        logprobs = Y * np.log(A2) + (1 - Y) * np.log(1 - A2)
    else:
        logprobs = Y * np.log(A2)
    return -float(np.sum(logprobs)) / m


def backward_propagation(parameters, cache, X, Y, activation, slope):
    # dZ2 = A2 - Y: sigmoid and softmax are the canonical links of the log-loss.
    m = X.shape[0]
    dZ2 = cache["A2"] - Y
    dW2 = cache["A1"].T @ dZ2 / m
    db2 = np.sum(dZ2, axis=0) / m
    dA1 = dZ2 @ parameters["W2"].T
    dZ1 = dA1 * activation_derivative(activation, cache["A1"], cache["Z1"], slope)
    dW1 = X.T @ dZ1 / m
    db1 = np.sum(dZ1, axis=0) / m
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def update_parameters_gd(parameters, grads, learning_rate):
    return {k: parameters[k] - learning_rate * grads[k] for k in parameters}


def update_parameters_adam(parameters, grads, moments, t, lr, beta_1, beta_2, eps):
    """One Adam step as scikit-learn's ``AdamOptimizer`` takes it (``t`` from 1)."""
    # A Python float, so that float32 parameters stay float32 (NEP 50).
    lr_t = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    new = {}
    for k in parameters:
        m, v = moments[k]
        m = beta_1 * m + (1 - beta_1) * grads[k]
        v = beta_2 * v + (1 - beta_2) * grads[k] ** 2
        moments[k] = (m, v)
        new[k] = parameters[k] - lr_t * m / (np.sqrt(v) + eps)
    return new


class NumpyShallowNN(_Base):
    """The lecture's vectorised NumPy network, one batch per matrix product."""

    def fit(self, X, y):
        X = np.asarray(X)
        dtype = X.dtype
        Y = self._encode(y).astype(dtype)
        self._rng = np.random.RandomState(self.random_state)
        params = initialize_parameters(
            X.shape[1], self.n_hidden, Y.shape[1], self.activation,
            self.random_state, dtype,
        )
        moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
        lr = float(self.learning_rate_init)
        t = 0
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            epoch_cost = 0.0
            for idx in self._batches(X.shape[0]):
                Xb, Yb = X[idx], Y[idx]
                A2, cache = forward_propagation(
                    Xb, params, self.activation, self.negative_slope
                )
                epoch_cost += compute_cost(A2, Yb) * Xb.shape[0]
                grads = backward_propagation(
                    params, cache, Xb, Yb, self.activation, self.negative_slope
                )
                if self.solver == "gd":
                    params = update_parameters_gd(params, grads, lr)
                else:
                    t += 1
                    params = update_parameters_adam(
                        params, grads, moments, t, lr,
                        self.beta_1, self.beta_2, self.epsilon,
                    )
            self.loss_curve_.append(epoch_cost / X.shape[0])
        self.parameters_ = params
        return self

    def _output(self, X):
        A2, _ = forward_propagation(
            np.asarray(X), self.parameters_, self.activation, self.negative_slope
        )
        return A2


# ---------------------------------------------------------------------------
# PyTorch.


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class TorchShallowNN(_Base):
    """``nn.Sequential(Linear, activation, Linear)`` trained by ``torch.optim``.

    Runs on the CPU with PyTorch's default thread count. Two classes use one
    output unit and ``BCEWithLogitsLoss``, more use ``CrossEntropyLoss``; both
    take the mean over the batch, as MLPClassifier's loss does.
    """

    def fit(self, X, y):
        import torch
        from torch import nn

        X = torch.from_numpy(np.ascontiguousarray(X))
        Y = self._encode(y)
        binary = Y.shape[1] == 1
        if binary:
            target = torch.from_numpy(Y.astype(np.float64)).to(X.dtype)
            loss_fn = nn.BCEWithLogitsLoss()
        else:
            target = torch.from_numpy(Y.argmax(axis=1))
            loss_fn = nn.CrossEntropyLoss()
        self.model_ = self._build(X.shape[1], Y.shape[1], X.dtype)
        if self.solver == "gd":
            optimizer = torch.optim.SGD(
                self.model_.parameters(), lr=self.learning_rate_init
            )
        else:
            optimizer = torch.optim.Adam(
                self.model_.parameters(), lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2), eps=self.epsilon,
            )
        self._rng = np.random.RandomState(self.random_state)
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            epoch_loss = 0.0
            for idx in self._batches(X.shape[0]):
                if not isinstance(idx, slice):
                    idx = torch.from_numpy(idx)
                xb, yb = X[idx], target[idx]
                optimizer.zero_grad()
                loss = loss_fn(self.model_(xb), yb)
                loss.backward()
                optimizer.step()
                epoch_loss += loss.item() * xb.shape[0]
            self.loss_curve_.append(epoch_loss / X.shape[0])
        return self

    def _build(self, n_features, n_outputs, dtype):
        import torch
        from torch import nn

        activations = {
            "tanh": nn.Tanh,
            "relu": nn.ReLU,
            "logistic": nn.Sigmoid,
            "leaky_relu": lambda: nn.LeakyReLU(self.negative_slope),
        }
        model = nn.Sequential(
            nn.Linear(n_features, self.n_hidden),
            activations[self.activation](),
            nn.Linear(self.n_hidden, n_outputs),
        ).to(dtype)
        W1, b1, W2, b2 = glorot_parameters(
            n_features, self.n_hidden, n_outputs, self.activation, self.random_state
        )
        with torch.no_grad():
            for layer, (W, b) in zip(model[::2], ((W1, b1), (W2, b2)), strict=True):
                layer.weight.copy_(torch.from_numpy(W.T.copy()))
                layer.bias.copy_(torch.from_numpy(b))
        return model

    def _output(self, X):
        import torch

        with torch.no_grad():
            logits = self.model_(torch.from_numpy(np.ascontiguousarray(X)))
            if logits.shape[1] == 1:
                return torch.sigmoid(logits).numpy()
            return torch.softmax(logits, dim=1).numpy()
