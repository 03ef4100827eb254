"""
The flower: decision boundaries, fastnn against MLPClassifier
=============================================================

The lecture's network (4 tanh units, full-batch gradient descent, learning rate
1.2) trained on :func:`fastnn.make_flower` by fastnn and by scikit-learn's
``MLPClassifier`` with the same parameters: the same initial weights, the same
steps, the same decision boundary, many times faster.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.neural_network import MLPClassifier

from fastnn import ShallowNNClassifier, make_flower

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_flower()
common = dict(activation="tanh", learning_rate_init=1.2, max_iter=2000, alpha=0.0,
              tol=0.0, n_iter_no_change=np.inf, random_state=0)
models = {
    "fastnn": ShallowNNClassifier(n_hidden=4, solver="gd", **common),
    # MLP's plain full-batch gradient descent, which is fastnn's "gd".
    "MLPClassifier": MLPClassifier(hidden_layer_sizes=(4,), solver="sgd",
                                   batch_size=len(X), momentum=0.0, shuffle=False,
                                   **common),
}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained")
for ax, (name, model) in zip(axes, models.items(), strict=True):
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    DecisionBoundaryDisplay.from_estimator(model, X, response_method="predict",
                                           cmap="Spectral", alpha=0.8, ax=ax)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=10, edgecolors="k",
               linewidths=0.3)
    ax.set_title(f"{name}: {100 * model.score(X, y):.2f} %, fit {seconds:.3f} s")
    print(f"{name}: accuracy {model.score(X, y):.4f}, final loss {model.loss_:.10f}, "
          f"fit {seconds:.3f} s")

# %%
# The two fits are the same computation: their weights agree to rounding.
ours, theirs = models["fastnn"], models["MLPClassifier"]
for layer, (a, b) in enumerate(zip(ours.coefs_, theirs.coefs_, strict=True)):
    print(f"layer {layer + 1}: largest relative difference of the weights "
          f"{np.max(np.abs(a - b) / np.abs(b)):.1e}")
