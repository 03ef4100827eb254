"""
Sparse, high-dimensional input
==============================

Bag-of-words and one-hot features are sparse: a few nonzeros in thousands of
columns. fastnn fits scipy's CSR (and CSC) matrices without densifying them: the
first layer runs over the nonzeros only, so time and memory follow the nonzeros,
not the columns. Here a synthetic bag-of-words problem of 20,000 documents over a
vocabulary of 20,000 words, about 30 words each, trained in float32.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from fastnn import ShallowNNClassifier

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

rng = np.random.RandomState(0)
n_docs, n_words = 20_000, 20_000
X = sp.random(n_docs, n_words, density=30 / n_words, format="csr",
              dtype=np.float32, random_state=rng)
X.data[:] = 1.0                                  # word present
topic = rng.randn(n_words)
y = (X @ topic > 0).astype(int)                  # a linear "topic" label
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
print(f"X: {X.shape}, {X.nnz} nonzeros ({X.nnz / np.prod(X.shape):.2%}); "
      f"dense float32 it would take {np.prod(X.shape) * 4 / 2**30:.1f} GiB")

# %%
# fastnn and MLPClassifier (which also accepts sparse input), 5 epochs each:
params = dict(learning_rate_init=0.001, max_iter=5, random_state=0)
models = {"fastnn": ShallowNNClassifier(n_hidden=64, **params),
          "MLPClassifier": MLPClassifier(hidden_layer_sizes=(64,), **params)}
seconds = {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds[name] = time.perf_counter() - start
    print(f"{name}: fit {seconds[name]:.2f} s, test accuracy "
          f"{model.score(X_test, y_test):.4f}")

fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax_t.barh(list(seconds), list(seconds.values()), color=["tab:blue", "tab:gray"])
ax_t.set(xlabel="seconds for 5 epochs", title="Fit time, sparse input")
for name, model in models.items():
    ax_l.plot(range(1, 6), model.loss_curve_, marker="o", label=name)
ax_l.set(xlabel="epoch", ylabel="training loss", title="Same loss curve")
ax_l.legend()
