"""
The shallow-network lecture, with fastnn
=========================================

The classic "shallow neural network" lecture (week 3 of the *Neural Networks and
Deep Learning* course, "Planar data classification with one hidden layer") builds a
network with one hidden layer by hand in NumPy: the forward pass, the cost, the
backward pass, gradient descent, then a study of the hidden layer's size. This page
follows it step by step. Each equation comes with the fastnn source that computes it
(the lines below are included from the package's files when this page is built, so
they are the code you run), and each claim is checked by running it: this page is a
script, executed at every build of the site.
"""

# %%
# The data: a flower of two classes
# ---------------------------------
#
# :func:`fastnn.make_flower` generates the lecture's planar data set: 400 points in
# two dimensions, red and blue "petals" that no straight line separates. The
# lecture's ``load_planar_dataset`` draws them with NumPy's seed 1; fastnn draws
# the same points.
#
# **Vectorising across examples.** The lecture stacks the ``m`` examples as the
# *columns* of ``X``: ``X.shape == (n_x, m) == (2, 400)`` and
# ``Y.shape == (1, 400)``. scikit-learn, and so fastnn's estimators, stack them as
# *rows*: ``X.shape == (n_samples, n_features) == (400, 2)`` and ``y`` is 1-D. One
# is the transpose of the other; every formula below is written in the lecture's
# columns, and the code shows both.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNClassifier, make_flower

# Fits stopped after a fixed number of epochs warn that they have not converged,
# as MLPClassifier's do: here that is intended. LogisticRegressionCV announces
# changes of its defaults (FutureWarning) that do not change this baseline.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")

X, y = make_flower()
print("scikit-learn layout:", X.shape, y.shape)
X_lecture, Y_lecture = X.T, y.reshape(1, -1)
print("lecture layout:     ", X_lecture.shape, Y_lecture.shape)

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=12, edgecolors="k",
           linewidths=0.3)
ax.set_title("make_flower(): 400 points, 2 classes")
ax.set_aspect("equal")

# %%
# A linear baseline first
# -----------------------
#
# The lecture first fits a logistic regression, which can only draw a straight
# line: 47% training accuracy, worse than a coin. (``scoring="accuracy"`` was the
# default when the lecture was written.)
from sklearn.linear_model import LogisticRegressionCV

baseline = LogisticRegressionCV(scoring="accuracy").fit(X, y)
print(f"logistic regression: {100 * baseline.score(X, y):.2f} % (lecture: 47 %)")

# %%
# The model and its forward pass
# ------------------------------
#
# One hidden layer of :math:`n_h` units with activation :math:`g` (the lecture uses
# :math:`\tanh`), one sigmoid output. For all ``m`` examples at once, in the
# lecture's layout:
#
# .. math::
#
#    Z^{[1]} &= W^{[1]} X + b^{[1]}\\
#    A^{[1]} &= g(Z^{[1]})\\
#    Z^{[2]} &= W^{[2]} A^{[1]} + b^{[2]}\\
#    \hat Y = A^{[2]} &= \sigma(Z^{[2]})
#
# with :math:`W^{[1]}` of shape :math:`(n_h, n_x)`, :math:`b^{[1]}` of shape
# :math:`(n_h, 1)`, :math:`W^{[2]}` of shape :math:`(1, n_h)` and :math:`b^{[2]}` of
# shape :math:`(1, 1)`; :math:`Z^{[1]}` and :math:`A^{[1]}` are :math:`(n_h, m)`,
# :math:`Z^{[2]}` and :math:`A^{[2]}` are :math:`(1, m)`.
#
# fastnn stores the weights as scikit-learn's MLP does, for rows of examples:
# ``coefs_[0]`` is :math:`W^{[1]T}` (``(n_features, n_hidden)``), ``coefs_[1]``
# is :math:`W^{[2]T}`, and ``intercepts_`` are :math:`b^{[1]}, b^{[2]}` as 1-D
# arrays. The forward pass in both layouts gives exactly ``predict_proba``:
clf = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
                          learning_rate_init=1.2, max_iter=100, init="normal",
                          random_state=2).fit(X, y)
W1, W2 = clf.coefs_[0].T, clf.coefs_[1].T            # the lecture's W[1], W[2]
b1, b2 = clf.intercepts_[0][:, None], clf.intercepts_[1][:, None]

Z1 = W1 @ X_lecture + b1                              # (n_h, m)
A1 = np.tanh(Z1)
Z2 = W2 @ A1 + b2                                     # (1, m)
A2 = 1 / (1 + np.exp(-Z2))

A2_rows = 1 / (1 + np.exp(-(np.tanh(X @ clf.coefs_[0] + clf.intercepts_[0])
                            @ clf.coefs_[1] + clf.intercepts_[1])))
print("lecture layout == predict_proba:",
      np.allclose(A2.T[:, 0], clf.predict_proba(X)[:, 1], rtol=1e-12))
print("row layout == predict_proba:    ",
      np.allclose(A2_rows[:, 0], clf.predict_proba(X)[:, 1], rtol=1e-12))

# %%
# Inside fastnn, each block of up to 256 rows is computed in the lecture's column
# layout: the block kernel gathers the rows and holds ``ZT``, ``A1T`` and ``A2T``
# as ``(units, rows)`` arrays, so that the loops over examples are the inner,
# vectorised ones. This is the forward pass of one block
# (``fastnn/cpu/network.py``); the first layer, the activation and the output
# function are compiled loop kernels it calls:
#
# .. literalinclude:: ../../fastnn/cpu/network.py
#    :pyobject: forward_block
#    :caption: fastnn/cpu/network.py, ``forward_block``
#    :lineno-match:
#
# and this is the first layer's product by hand loops, :math:`Z^{[1]} = W^{[1]}X`
# for a block (for larger layers fastnn calls BLAS instead):
#
# .. literalinclude:: ../../fastnn/cpu/network.py
#    :pyobject: _matmul_t
#    :caption: fastnn/cpu/network.py, ``_matmul_t``
#    :lineno-match:

# %%
# Activation functions and their derivatives
# ------------------------------------------
#
# The lecture compares four activations. fastnn writes each one, and its
# derivative, once as a scalar function (``fastnn/ops/activations.py``); the CPU
# kernels and the CUDA kernels both compile these same functions. The derivatives
# take the activation's *output* :math:`a = g(z)`, as the lecture's
# :math:`g'(z) = 1 - a^2` for :math:`\tanh` does:
#
# .. list-table::
#    :header-rows: 1
#
#    * - activation
#      - :math:`g(z)`
#      - :math:`g'(z)` from :math:`a = g(z)`
#    * - sigmoid
#      - :math:`\sigma(z) = 1 / (1 + e^{-z})`
#      - :math:`a (1 - a)`
#    * - tanh
#      - :math:`\tanh(z)`
#      - :math:`1 - a^2`
#    * - ReLU
#      - :math:`\max(0, z)`
#      - :math:`1` if :math:`a > 0`, else :math:`0`
#    * - leaky ReLU
#      - :math:`\max(s z, z)`, slope :math:`s = 0.01`
#      - :math:`1` if :math:`a > 0`, else :math:`s`
#
# .. literalinclude:: ../../fastnn/ops/activations.py
#    :pyobject: tanh_grad
#    :caption: fastnn/ops/activations.py, ``tanh_grad``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.activations.tanh_grad`.)
#
# The curves below are drawn by calling those functions of ``fastnn.ops``
# (the plain Python versions: the kernels compile the same code):
from fastnn.ops import activations as act

z = np.linspace(-4, 4, 401)
fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for name, g, dg in [("sigmoid", act.logistic, act.logistic_grad),
                    ("tanh", act.tanh, act.tanh_grad),
                    ("relu", act.relu, act.relu_grad),
                    ("leaky_relu", act.leaky_relu, act.leaky_relu_grad)]:
    slope = 0.1 if name == "leaky_relu" else 0.0  # 0.1 to make it visible
    a = np.array([g(v, slope) for v in z])
    ax_g.plot(z, a, label=name)
    ax_d.plot(z, [dg(v, slope) for v in a], label=name)
ax_g.set_title("g(z)")
ax_d.set_title("g'(z), computed from a = g(z)")
ax_g.set_ylim(-1.5, 4)
ax_g.legend()
for axis in (ax_g, ax_d):
    axis.axhline(0, color="gray", lw=0.5)
    axis.set_xlabel("z")

# %%
# The cost
# --------
#
# The lecture's cross-entropy cost, the mean over the examples:
#
# .. math::
#
#    J = -\frac{1}{m} \sum_{i=1}^{m} \left( y^{(i)} \log a^{[2](i)}
#        + (1 - y^{(i)}) \log(1 - a^{[2](i)}) \right)
#
# fastnn computes one example's term as MLP does, with the probability clipped to
# :math:`[\epsilon, 1 - \epsilon]` (``fastnn/ops/losses.py``):
#
# .. literalinclude:: ../../fastnn/ops/losses.py
#    :pyobject: logistic_loss
#    :caption: fastnn/ops/losses.py, ``logistic_loss``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.losses.logistic_loss`.)
#
# and the mean, weighted by ``sample_weight`` (all ones here: :math:`m`) with MLP's
# L2 term (``alpha=0`` in the lecture):
#
# .. literalinclude:: ../../fastnn/ops/losses.py
#    :pyobject: objective
#    :caption: fastnn/ops/losses.py, ``objective``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.losses.objective`.)


def cost(W1, b1, W2, b2, X, Y):
    """The lecture's compute_cost, after its forward_propagation."""
    A2 = 1 / (1 + np.exp(-(W2 @ np.tanh(W1 @ X + b1) + b2)))
    return -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))


print(f"J = {cost(W1, b1, W2, b2, X_lecture, Y_lecture):.10f}")

# %%
# The backward pass
# -----------------
#
# The lecture's six equations, for all examples at once:
#
# .. math::
#
#    dZ^{[2]} &= A^{[2]} - Y\\
#    dW^{[2]} &= \frac{1}{m}\, dZ^{[2]} A^{[1]T}\\
#    db^{[2]} &= \frac{1}{m} \sum_{i} dZ^{[2](i)}\\
#    dZ^{[1]} &= W^{[2]T} dZ^{[2]} \ast g'(Z^{[1]})\\
#    dW^{[1]} &= \frac{1}{m}\, dZ^{[1]} X^{T}\\
#    db^{[1]} &= \frac{1}{m} \sum_{i} dZ^{[1](i)}
#
# (the sums over the examples are the lecture's
# ``np.sum(dZ2, axis=1, keepdims=True) / m``). :math:`dZ^{[2]} = A^{[2]} - Y` holds
# because the sigmoid is the canonical link
# of the cross-entropy (and likewise softmax for several classes, the identity for
# squared error, :math:`\exp` for the Poisson deviance): one formula serves every
# output layer (``fastnn/ops/losses.py``), weighted by the sample's weight:
#
# .. literalinclude:: ../../fastnn/ops/losses.py
#    :pyobject: output_delta
#    :caption: fastnn/ops/losses.py, ``output_delta``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.losses.output_delta`.)
#
# A block's backward pass (``fastnn/cpu/network.py``) computes
# :math:`dZ^{[2]}` and its sum :math:`db^{[2]}`, :math:`dW^{[2]}` (``gemm`` or
# ``_outer_sum``: sums over the block's examples of products), then calls the
# hidden deltas :math:`dZ^{[1]}` with their sums :math:`db^{[1]}` and the first
# layer's gradient :math:`dW^{[1]}`:
#
# .. literalinclude:: ../../fastnn/cpu/network.py
#    :pyobject: backward_block
#    :caption: fastnn/cpu/network.py, ``backward_block``
#    :lineno-match:
#
# The division by :math:`m` comes last, when the blocks' sums are added in a fixed
# order (``finish_gradient``, through this function of ``fastnn/ops/losses.py``,
# with MLP's L2 term):
#
# .. literalinclude:: ../../fastnn/ops/losses.py
#    :pyobject: regularised_gradient
#    :caption: fastnn/ops/losses.py, ``regularised_gradient``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.losses.regularised_gradient`.)
#
# In NumPy, the lecture's ``backward_propagation``:


def backward(W1, b1, W2, b2, X, Y):
    m = X.shape[1]
    A1 = np.tanh(W1 @ X + b1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return dW1, db1, dW2, db2


grads = backward(W1, b1, W2, b2, X_lecture, Y_lecture)

# %%
# fastnn's gradient is not returned by any public method, but one epoch of
# full-batch gradient descent exposes it: with learning rate :math:`\alpha`, the
# step is :math:`\theta \leftarrow \theta - \alpha\, d\theta` (``gd_step`` in
# ``fastnn/ops/optimizers.py``),
#
# .. literalinclude:: ../../fastnn/ops/optimizers.py
#    :pyobject: gd_step
#    :caption: fastnn/ops/optimizers.py, ``gd_step``
#    :lineno-match:
#
# (Documented, with its source: :func:`fastnn.ops.optimizers.gd_step`.)
#
# so :math:`d\theta = (\theta_{\text{before}} - \theta_{\text{after}}) / \alpha`.
# ``partial_fit`` runs one epoch on the current weights:
step = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
                           learning_rate_init=1.0, alpha=0.0, max_iter=1,
                           init="normal", random_state=2).fit(X, y)
step.coefs_ = [c.copy() for c in clf.coefs_]       # start from clf's weights
step.intercepts_ = [b.copy() for b in clf.intercepts_]
step.partial_fit(X, y)
ours = ((clf.coefs_[0] - step.coefs_[0]).T,
        (clf.intercepts_[0] - step.intercepts_[0])[:, None],
        (clf.coefs_[1] - step.coefs_[1]).T,
        (clf.intercepts_[1] - step.intercepts_[1])[:, None])
names = ["dW1", "db1", "dW2", "db2"]
for name, lecture_grad, fastnn_grad in zip(names, grads, ours, strict=True):
    difference = np.max(np.abs(lecture_grad - fastnn_grad))
    print(f"{name}: largest difference {difference:.1e}"
          f" (largest entry {np.max(np.abs(lecture_grad)):.1e})")

# %%
# Gradient check
# --------------
#
# The lecture's other course (*Improving Deep Neural Networks*) checks a
# backward pass against the definition of the derivative, perturbing each
# parameter by :math:`\pm\varepsilon`:
#
# .. math::
#
#    d\theta_i^{\text{approx}} = \frac{J(\theta + \varepsilon e_i)
#       - J(\theta - \varepsilon e_i)}{2 \varepsilon},\qquad
#    \text{difference} = \frac{\lVert d\theta^{\text{approx}} - d\theta \rVert_2}
#       {\lVert d\theta^{\text{approx}} \rVert_2 + \lVert d\theta \rVert_2}
#
# and expects a difference near :math:`10^{-7}` or below for
# :math:`\varepsilon = 10^{-7}`. Checked on fastnn's gradient:
params = [W1, b1, W2, b2]
epsilon = 1e-7
approx, exact = [], []
for p, (param, grad) in enumerate(zip(params, ours, strict=True)):
    for index in np.ndindex(param.shape):
        plus = [q.copy() for q in params]
        minus = [q.copy() for q in params]
        plus[p][index] += epsilon
        minus[p][index] -= epsilon
        approx.append((cost(*plus, X_lecture, Y_lecture)
                       - cost(*minus, X_lecture, Y_lecture)) / (2 * epsilon))
        exact.append(grad[index])
approx, exact = np.array(approx), np.array(exact)
difference = (np.linalg.norm(approx - exact)
              / (np.linalg.norm(approx) + np.linalg.norm(exact)))
print(f"{approx.size} parameters, difference {difference:.1e}")
assert difference < 1e-7

# %%
# Random initialisation, and why zero weights fail
# ------------------------------------------------
#
# The lecture initialises :math:`W^{[1]}` and :math:`W^{[2]}` with small random
# numbers (``np.random.randn(n_h, n_x) * 0.01`` after ``np.random.seed(2)``) and
# the intercepts with zeros. fastnn's ``init="normal"`` makes exactly those draws
# (``init="glorot"``, the default, makes MLP's).
#
# Why random? If every hidden unit starts with the same weights, every unit
# computes the same activation, receives the same :math:`dZ^{[1]}` row, and takes
# the same step: the units stay identical forever, and the network is no better
# than one unit. With all weights zero it is worse: :math:`A^{[1]} = \tanh(0) = 0`
# makes :math:`dW^{[2]} = 0`, and :math:`W^{[2]} = 0` makes :math:`dZ^{[1]} = 0`:
# only :math:`b^{[2]}` ever learns. Continuing a fit from such weights
# (``warm_start``) shows both:
for start, label in [(0.0, "all zero"), (0.5, "all 0.5")]:
    sym = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
                              learning_rate_init=1.2, max_iter=1000, tol=0,
                              n_iter_no_change=np.inf, warm_start=True,
                              random_state=0)
    sym.fit(X, y)                                    # any fit, to set the shapes
    sym.coefs_ = [np.full_like(c, start) for c in sym.coefs_]
    sym.intercepts_ = [np.zeros_like(b) for b in sym.intercepts_]
    sym.fit(X, y)                                    # 1000 epochs from there
    W = sym.coefs_[0]
    print(f"{label}: units identical after training: "
          f"{np.allclose(W, W[:, :1])}, accuracy {100 * sym.score(X, y):.2f} %")

# %%
# Training: gradient descent
# --------------------------
#
# The lecture's ``nn_model`` repeats forward pass, cost, backward pass and update
# for a number of iterations, with learning rate 1.2. That is
# ``solver="gd"``: every epoch one step on the whole data set. With the lecture's
# initialisation and 5000 epochs its 4-unit network reaches 90.5%:
from sklearn.inspection import DecisionBoundaryDisplay

net = ShallowNNClassifier(n_hidden=4, activation="tanh", solver="gd",
                          learning_rate_init=1.2, max_iter=5000, alpha=0.0, tol=0,
                          n_iter_no_change=np.inf, init="normal",
                          random_state=2).fit(X, y)
print(f"4 hidden units: {100 * net.score(X, y):.2f} % (lecture: 90.5 %)")
fig, ax = plt.subplots(figsize=(4.5, 4.5))
DecisionBoundaryDisplay.from_estimator(net, X, response_method="predict",
                                       cmap="Spectral", alpha=0.8, ax=ax)
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=12, edgecolors="k",
           linewidths=0.3)
ax.set_title("4 tanh units, 5000 epochs of gradient descent")

# %%
# The compiled epoch loop (``fastnn/cpu/training.py``) runs those epochs without
# returning to Python: for each batch (here the whole data set) the forward and
# backward pass of its blocks, then the update; the loss curve, the stopping
# rules and the learning-rate schedules are computed inside it too.
#
# .. literalinclude:: ../../fastnn/cpu/training.py
#    :pyobject: _epoch
#    :caption: fastnn/cpu/training.py, ``_epoch``
#    :lineno-match:

# %%
# The hidden layer's size
# -----------------------
#
# The lecture's last experiment trains the network with 1, 2, 3, 4, 5, 20 and 50
# hidden units. :func:`fastnn.study.run_study` runs it (and the lecture's other
# data sets), and every accuracy equals the lecture's to the sample:
from fastnn.study import format_study, run_study

result = run_study()
print(format_study(result))

# %%
# Small networks underfit (one or two units draw at most two lines); from three
# units on, the flower's petals are found; the larger networks fit the training
# points more closely without a better accuracy, and the lecture notes that the
# largest ones begin to overfit. The decision regions of every size:
fits = (*result.networks, result.logistic)
fig, axes = plt.subplots(2, 4, figsize=(12, 6), layout="constrained")
for ax, fit in zip(axes.ravel(), fits, strict=True):
    DecisionBoundaryDisplay.from_estimator(fit.estimator, X, grid_resolution=100,
                                           response_method="predict",
                                           cmap="Spectral", alpha=0.8, ax=ax)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=6, edgecolors="k",
               linewidths=0.2)
    ax.set_title(f"{fit.label}: {fit.accuracy:.2f} %", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
