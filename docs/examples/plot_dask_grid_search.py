"""
A grid search on a Dask cluster
===============================

fastnn's estimators pickle with their weights, so joblib's Dask backend runs a
:class:`~sklearn.model_selection.GridSearchCV` on the workers of a Dask cluster.
Here a :class:`~distributed.LocalCluster` of two single-threaded worker processes;
``Client("tcp://scheduler:8786")`` would use a real cluster. The search gives the
same results as the same search run locally.

Each worker loads fastnn's compiled kernels from the Numba cache the workers
share (run ``python -m fastnn compile`` where their ``NUMBA_CACHE_DIR`` points
before they start, so that no worker compiles).
"""

import warnings

import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from fastnn import ShallowNNClassifier, make_flower

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_flower()
search = GridSearchCV(
    ShallowNNClassifier(n_hidden=8, activation="tanh", max_iter=500, random_state=0),
    {"alpha": [1e-4, 1e-3, 1e-2, 1e-1],
     "learning_rate_init": [1e-3, 3e-3, 1e-2, 3e-2]},
    cv=5,
)
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
with cluster, Client(cluster) as client:
    print(client)
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)
print("best parameters:", search.best_params_)

# %%
# The same search run locally gives the same scores:
local = GridSearchCV(search.estimator, search.param_grid, cv=5).fit(X, y)
print("same scores as a local run:",
      np.array_equal(local.cv_results_["mean_test_score"],
                     search.cv_results_["mean_test_score"]))

scores = search.cv_results_["mean_test_score"].reshape(4, 4)
fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(4), search.param_grid["learning_rate_init"])
ax.set_yticks(range(4), search.param_grid["alpha"])
ax.set(xlabel="learning_rate_init", ylabel="alpha",
       title="Mean CV accuracy, computed on Dask workers")
fig.colorbar(image, label="mean CV accuracy")
