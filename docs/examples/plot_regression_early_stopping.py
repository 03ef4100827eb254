"""
Regression with early stopping
==============================

:class:`fastnn.ShallowNNRegressor` on Friedman's regression problem #1 (ten
features, five of them informative, a non-linear target). Early stopping holds out
10% of the training samples, scores them (R^2) after every epoch inside the
compiled loop, stops when the score has not improved for ``n_iter_no_change``
epochs, and keeps the best epoch's weights.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from fastnn import LossCurveDisplay, ShallowNNRegressor

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_friedman1(n_samples=5000, noise=1.0, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

params = dict(learning_rate_init=0.01, max_iter=1000, early_stopping=True,
              n_iter_no_change=20, random_state=0)
reg = ShallowNNRegressor(n_hidden=64, **params).fit(X_train, y_train)
mlp = MLPRegressor(hidden_layer_sizes=(64,), **params).fit(X_train, y_train)
for name, model in [("fastnn", reg), ("MLPRegressor", mlp)]:
    print(f"{name}: stopped after {model.n_iter_} epochs, best validation R^2 "
          f"{model.best_validation_score_:.4f}, test R^2 "
          f"{model.score(X_test, y_test):.4f}")

# %%
# The training loss, the held-out loss (``validation_loss_curve_``) and the
# held-out R^2 per epoch, and the test predictions:
fig, (ax_curve, ax_pred) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
LossCurveDisplay.from_estimator(reg, ax=ax_curve)
ax_curve.set_yscale("log")
ax_curve.set_title("ShallowNNRegressor, early stopping")
ax_pred.scatter(y_test, reg.predict(X_test), s=4, alpha=0.5)
ax_pred.plot([y.min(), y.max()], [y.min(), y.max()], color="k", lw=1)
ax_pred.set(xlabel="true target", ylabel="prediction",
            title=f"Test set: R^2 = {reg.score(X_test, y_test):.3f}")
