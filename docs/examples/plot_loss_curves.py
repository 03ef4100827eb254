"""
Loss and validation curves
==========================

:class:`fastnn.LossCurveDisplay` draws a fitted network's training loss per epoch
and, with early stopping, the validation loss (``validation_loss_curve_``, which
MLP does not record) and the validation score on a second axis.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MinMaxScaler

from fastnn import LossCurveDisplay, ShallowNNClassifier

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = MinMaxScaler().fit_transform(X)
clf = ShallowNNClassifier(n_hidden=64, learning_rate_init=0.01, max_iter=300,
                          early_stopping=True, validation_fraction=0.2,
                          n_iter_no_change=25, random_state=0).fit(X, y)
print(f"stopped after {clf.n_iter_} epochs; best validation accuracy "
      f"{clf.best_validation_score_:.4f}")
display = LossCurveDisplay.from_estimator(clf, name="digits, 64 relu units")
display.ax_.set_yscale("log")
display.ax_.set_title("Training and validation loss, validation accuracy")

# %%
# Several fits share one axes: here three learning rates.
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for lr in (0.001, 0.01, 0.1):
    est = ShallowNNClassifier(n_hidden=64, learning_rate_init=lr, max_iter=100,
                              random_state=0).fit(X, y)
    LossCurveDisplay.from_estimator(est, ax=ax, loss_kw={"label": f"lr={lr}"})
ax.set_yscale("log")
ax.set_title("Adam on digits, three learning rates")
