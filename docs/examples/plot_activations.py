"""
Activation functions and their derivatives
==========================================

The five hidden activations of fastnn, drawn by calling the scalar functions the
kernels compile (``fastnn/ops/activations.py``; derivatives take the activation's
output :math:`a = g(z)`), then the flower fitted with each of them.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import DecisionBoundaryDisplay

from fastnn import ShallowNNClassifier, make_flower
from fastnn.ops import activations as act

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

z = np.linspace(-3, 3, 301)
functions = {
    "identity": (act.identity, act.identity_grad),
    "logistic": (act.logistic, act.logistic_grad),
    "tanh": (act.tanh, act.tanh_grad),
    "relu": (act.relu, act.relu_grad),
    "leaky_relu": (act.leaky_relu, act.leaky_relu_grad),
}
slope = 0.1  # leaky_relu's negative_slope, larger than the default 0.01 to show it
fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for name, (g, grad) in functions.items():
    a = np.array([g(v, slope) for v in z])
    ax_g.plot(z, a, label=name)
    ax_d.plot(z, [grad(v, slope) for v in a], label=name)
ax_g.set(title="g(z)", xlabel="z", ylim=(-1.5, 3))
ax_d.set(title="g'(z), from a = g(z)", xlabel="z", ylim=(-0.1, 1.1))
ax_g.legend()

# %%
# The flower with each activation (8 units, Adam, 1000 epochs). ``identity``
# gives a linear model: a straight boundary, as the lecture's logistic regression.
X, y = make_flower()
fig, axes = plt.subplots(1, 5, figsize=(15, 3.4), layout="constrained")
for ax, name in zip(axes, functions, strict=True):
    clf = ShallowNNClassifier(n_hidden=8, activation=name, learning_rate_init=0.01,
                              max_iter=1000, n_iter_no_change=1000,
                              random_state=0).fit(X, y)
    DecisionBoundaryDisplay.from_estimator(clf, X, response_method="predict",
                                           cmap="Spectral", alpha=0.8, ax=ax)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=5)
    ax.set_title(f"{name}: {100 * clf.score(X, y):.1f} %")
    ax.set_xticks([])
    ax.set_yticks([])
