"""
A pipeline with a grid search
=============================

fastnn's estimators are scikit-learn estimators: they go into a
:class:`~sklearn.pipeline.Pipeline`, are cloned and refitted by
:class:`~sklearn.model_selection.GridSearchCV`, and their parameters are
searched by name. Here: scaling, then the network, on the digits, searching the
hidden layer's size and the L2 penalty.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import ShallowNNClassifier

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
pipe = make_pipeline(StandardScaler(),
                     ShallowNNClassifier(max_iter=200, early_stopping=True,
                                         random_state=0))
grid = {"shallownnclassifier__n_hidden": [8, 16, 32, 64, 128],
        "shallownnclassifier__alpha": [1e-4, 1e-2, 1e-1, 1.0]}
search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
print("best parameters:", search.best_params_)
print("test accuracy of the refitted best pipeline: "
      f"{search.score(X_test, y_test):.4f}")

# %%
# The mean cross-validated accuracy of each pair (scikit-learn's grid varies the
# last parameter name in sorted order, ``n_hidden``, fastest):
alphas = grid["shallownnclassifier__alpha"]
sizes = grid["shallownnclassifier__n_hidden"]
scores = search.cv_results_["mean_test_score"].reshape(len(alphas), len(sizes))
fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(sizes)), sizes)
ax.set_yticks(range(len(alphas)), [str(a) for a in alphas])
ax.set(xlabel="n_hidden", ylabel="alpha", title="Mean CV accuracy (digits)")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center",
            color="white" if value < scores.mean() else "black")
fig.colorbar(image, label="mean CV accuracy")
