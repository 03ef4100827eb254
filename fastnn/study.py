"""The lecture's study: the flower network's accuracy against its hidden-layer size.

The shallow neural network lecture of the deeplearning.ai course trains one
network (tanh hidden layer, logistic output, full-batch gradient descent with
learning rate 1.2 for 5000 epochs, weights drawn by its own Gaussian
initialisation seeded with 2) on the flower data for 1, 2, 3, 4, 5, 20 and 50
hidden units, compares it with a logistic regression, and leaves four more of
scikit-learn's toy data sets for the learner to try. :func:`run_study` does all
three and returns the fits; :func:`format_study` makes the tables and
:func:`plot_study` the figures (matplotlib, the ``plot`` extra).
``python -m fastnn study`` runs the whole thing.
"""

import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.datasets import (
    make_blobs,
    make_circles,
    make_gaussian_quantiles,
    make_moons,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV

from ._classifier import ShallowNNClassifier
from .datasets import make_flower

__all__ = [
    "DATASETS_HIDDEN",
    "LECTURE_ACCURACY",
    "LECTURE_EPOCHS",
    "LECTURE_HIDDEN_SIZES",
    "LECTURE_LOGISTIC_ACCURACY",
    "DatasetFits",
    "Fit",
    "StudyResult",
    "format_study",
    "lecture_datasets",
    "lecture_logistic_regression",
    "lecture_network",
    "plot_study",
    "run_study",
]

LECTURE_HIDDEN_SIZES = (1, 2, 3, 4, 5, 20, 50)
# Training-set accuracy in percent, as the lecture prints it.
LECTURE_ACCURACY = {1: 67.5, 2: 67.25, 3: 90.75, 4: 90.5, 5: 91.25, 20: 90.0,
                    50: 90.25}
LECTURE_LOGISTIC_ACCURACY = 47.0
LECTURE_EPOCHS = 5000
# The lecture's own network, which it also tries on its other data sets.
DATASETS_HIDDEN = 4
_LEARNING_RATE = 1.2
_RANDOM_STATE = 2
_WARMUP_EPOCHS = 2


class Fit(NamedTuple):
    """One fitted model of the study.

    Parameters
    ----------
    label : str
        Its name in tables and figures.

    estimator : estimator instance
        The fitted model.

    accuracy : float
        Its training-set accuracy, in percent.

    lecture : float or None
        The lecture's accuracy for it (None where the lecture gives none).

    fit_time : float
        The seconds ``fit`` took.
    """

    label: str
    estimator: object
    accuracy: float
    lecture: float | None
    fit_time: float


class DatasetFits(NamedTuple):
    """The network and the logistic regression fitted on one data set.

    Parameters
    ----------
    name : str
        The data set's name (:func:`lecture_datasets`).

    X : ndarray of shape (n_samples, 2)
        Its samples.

    y : ndarray of shape (n_samples,)
        Its labels.

    network : Fit
        The lecture's network fitted on it.

    logistic : Fit
        The logistic regression fitted on it.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    network: Fit
    logistic: Fit


class StudyResult(NamedTuple):
    """What :func:`run_study` returns.

    Parameters
    ----------
    X : ndarray of shape (400, 2)
        The flower data (:func:`fastnn.make_flower`).

    y : ndarray of shape (400,)
        The flower's labels.

    networks : tuple of Fit
        One :class:`Fit` per hidden-layer size.

    logistic : Fit
        The logistic baseline on the flower.

    datasets : tuple of DatasetFits
        One :class:`DatasetFits` per other data set (empty without them).

    max_iter : int
        The epochs each network ran.

    first_call_time : float
        The seconds of a first, 2-epoch fit (compilation or the Numba cache's
        load), kept out of the fit times.
    """

    X: np.ndarray
    y: np.ndarray
    networks: tuple
    logistic: Fit
    datasets: tuple
    max_iter: int
    first_call_time: float


def lecture_network(n_hidden, *, max_iter=LECTURE_EPOCHS):
    """The lecture's network with ``n_hidden`` tanh units, as a classifier.

    Full-batch gradient descent, learning rate 1.2, no L2 penalty, the
    lecture's initialisation (``init="normal"``) seeded with 2, and every one of
    the ``max_iter`` epochs run (``tol=0``, ``n_iter_no_change=np.inf``).

    Parameters
    ----------
    n_hidden : int
        Units in the hidden layer.

    max_iter : int, default=5000
        Epochs of gradient descent.

    Returns
    -------
    network : ShallowNNClassifier
        The unfitted classifier.
    """
    return ShallowNNClassifier(
        n_hidden, "tanh", solver="gd", init="normal",
        learning_rate_init=_LEARNING_RATE, max_iter=max_iter, alpha=0.0, tol=0.0,
        n_iter_no_change=np.inf, random_state=_RANDOM_STATE,
    )


def lecture_logistic_regression():
    """The lecture's baseline, ``LogisticRegressionCV()``.

    ``scoring="accuracy"`` is scikit-learn's former default, spelled out because
    that default changes in scikit-learn 1.11.

    Returns
    -------
    baseline : sklearn.linear_model.LogisticRegressionCV
        The unfitted logistic regression.
    """
    return LogisticRegressionCV(scoring="accuracy")


def lecture_datasets(n_samples=200, *, random_state=0):
    """The lecture's other data sets, seeded, each with two classes.

    The lecture's generator calls (its ``load_extra_datasets``), with
    ``random_state`` passed to those the lecture leaves unseeded; ``blobs``
    keeps the lecture's ``random_state=5`` and its six centres are made two
    classes by ``y % 2``, as the lecture does.

    Parameters
    ----------
    n_samples : int, default=200
        Samples of each data set.

    random_state : int, RandomState instance or None, default=0
        Seed of ``noisy_circles``, ``noisy_moons`` and ``gaussian_quantiles``.

    Returns
    -------
    datasets : dict of str to tuple of (ndarray of shape (n_samples, 2), \
ndarray of shape (n_samples,))
        ``noisy_circles``, ``noisy_moons``, ``blobs`` and
        ``gaussian_quantiles``, in that order, each ``(X, y)``.
    """
    n = n_samples
    X, y = make_blobs(n_samples=n, random_state=5, n_features=2, centers=6)
    return {
        "noisy_circles": make_circles(n_samples=n, factor=0.5, noise=0.3,
                                      random_state=random_state),
        "noisy_moons": make_moons(n_samples=n, noise=0.2, random_state=random_state),
        "blobs": (X, y % 2),
        "gaussian_quantiles": make_gaussian_quantiles(
            mean=None, cov=0.5, n_samples=n, n_features=2, n_classes=2,
            shuffle=True, random_state=random_state),
    }


def run_study(hidden_sizes=LECTURE_HIDDEN_SIZES, *, max_iter=LECTURE_EPOCHS,
              datasets=True, random_state=0):
    """Fit the lecture's networks and baselines; return a :class:`StudyResult`.

    Parameters
    ----------
    hidden_sizes : sequence of int, default=(1, 2, 3, 4, 5, 20, 50)
        Hidden-layer sizes of the flower networks.

    max_iter : int, default=5000
        Epochs of every network (the lecture's numbers hold for 5000).

    datasets : bool, default=True
        Whether to fit the network with ``DATASETS_HIDDEN`` (4) units and the
        logistic regression on :func:`lecture_datasets` too.

    random_state : int, default=0
        Seed of the data sets the lecture leaves unseeded.

    Returns
    -------
    result : StudyResult
        The fitted models, their accuracies and fit times.
    """
    X, y = make_flower()
    start = time.perf_counter()
    _fit(lecture_network(1, max_iter=_WARMUP_EPOCHS), X, y)
    first_call = time.perf_counter() - start
    networks = tuple(
        _measure(_units(h), lecture_network(h, max_iter=max_iter), X, y,
                 LECTURE_ACCURACY.get(h) if max_iter == LECTURE_EPOCHS else None)
        for h in hidden_sizes
    )
    logistic = _measure("logistic regression", lecture_logistic_regression(), X, y,
                        LECTURE_LOGISTIC_ACCURACY)
    others = ()
    if datasets:
        network = lecture_network(DATASETS_HIDDEN, max_iter=max_iter)
        others = tuple(
            DatasetFits(name, Xd, yd,
                        _measure(_units(DATASETS_HIDDEN), clone(network), Xd, yd),
                        _measure("logistic regression",
                                 lecture_logistic_regression(), Xd, yd))
            for name, (Xd, yd) in lecture_datasets(random_state=random_state).items()
        )
    return StudyResult(X, y, networks, logistic, others, max_iter, first_call)


def _units(n_hidden):
    return f"{n_hidden} hidden unit{'s' if n_hidden != 1 else ''}"


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        # Every epoch is meant to run (tol=0): not a convergence failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        # LogisticRegressionCV's announced changes of l1_ratios (None means the
        # L2 penalty either way) and of its attributes' layout; neither changes
        # the fitted model, and older versions do not take the new parameters.
        warnings.filterwarnings("ignore", "The default value for l1_ratios",
                                FutureWarning)
        warnings.filterwarnings("ignore", "The fitted attributes of", FutureWarning)
        return estimator.fit(X, y)


def _measure(label, estimator, X, y, lecture=None):
    start = time.perf_counter()
    _fit(estimator, X, y)
    seconds = time.perf_counter() - start
    return Fit(label, estimator, 100 * estimator.score(X, y), lecture, seconds)


def format_study(result):
    """The study's tables as text.

    Parameters
    ----------
    result : StudyResult
        What :func:`run_study` returned.

    Returns
    -------
    text : str
        The flower table (one row per network, then the logistic baseline,
        with the lecture's accuracies beside ours) and, with data sets, their
        table; lines ended by newlines.
    """
    n_samples = result.X.shape[0]
    lines = [
        f"The lecture's hidden-layer study: flower data ({n_samples} samples), "
        f"tanh, full-batch gradient descent, learning rate {_LEARNING_RATE}, "
        f"{result.max_iter} epochs, init='normal', random_state={_RANDOM_STATE}",
        f"fastnn first call (compile or cache load): {result.first_call_time:.3f} s",
        "",
        f"{'model':<22} {'accuracy (%)':>12} {'lecture (%)':>11} "
        f"{'final loss':>10} {'fit (s)':>8}",
    ]
    for fit in (*result.networks, result.logistic):
        lecture = "-" if fit.lecture is None else f"{fit.lecture:.2f}"
        loss = getattr(fit.estimator, "loss_", None)
        loss = "-" if loss is None else f"{loss:.6f}"
        lines.append(f"{fit.label:<22} {fit.accuracy:>12.2f} {lecture:>11} "
                     f"{loss:>10} {fit.fit_time:>8.3f}")
    lines.append("(logistic regression: LogisticRegressionCV, as in the lecture)")
    if result.datasets:
        n = result.datasets[0].X.shape[0]
        lines += [
            "",
            f"The lecture's other data sets ({n} samples each; the lecture gives "
            f"no numbers): {_units(DATASETS_HIDDEN)}, trained as above, against "
            "the logistic regression",
            "",
            f"{'data set':<20} {'network (%)':>11} {'logistic (%)':>12} "
            f"{'network fit (s)':>15}",
        ]
        lines += [
            f"{d.name:<20} {d.network.accuracy:>11.2f} {d.logistic.accuracy:>12.2f} "
            f"{d.network.fit_time:>15.3f}"
            for d in result.datasets
        ]
    return "\n".join(lines) + "\n"


def plot_study(result, out_dir, *, grid_resolution=100, dpi=80):
    """Draw the study's figures into PNG files in ``out_dir``; return their paths.

    ``flower-decision-boundaries.png``: one panel per hidden-layer size and one
    for the logistic regression, each the model's decision regions
    (:class:`sklearn.inspection.DecisionBoundaryDisplay`, ``grid_resolution``
    points a side) under the flower's points; ``flower-loss-curves.png``: the
    networks' training losses (:class:`fastnn.LossCurveDisplay`) on one axes;
    with data sets, ``datasets-decision-boundaries.png``: the network (top row)
    and the logistic regression (bottom row) on each. ``out_dir`` is made if
    missing. Needs matplotlib; uses no pyplot figure manager, so it works with
    any backend and leaves no figure open.

    Parameters
    ----------
    result : StudyResult
        What :func:`run_study` returned.

    out_dir : str or path-like
        Directory for the PNG files.

    grid_resolution : int, default=100
        Grid points per axis of each decision-boundary panel.

    dpi : int, default=80
        Resolution of the PNG files.

    Returns
    -------
    paths : tuple of pathlib.Path
        The files written, in the order above.
    """
    from sklearn.utils._optional_dependencies import check_matplotlib_support

    check_matplotlib_support("plot_study")
    from matplotlib.figure import Figure

    from ._plot import LossCurveDisplay

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(figure, name):
        paths.append(out_dir / name)
        figure.savefig(paths[-1], dpi=dpi)

    fits = (*result.networks, result.logistic)
    n_cols = min(4, len(fits))
    n_rows = -(-len(fits) // n_cols)
    figure = Figure(figsize=(3 * n_cols, 3 * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, fit in zip(axes, fits, strict=False):
        _decision_regions(ax, fit, result.X, result.y, grid_resolution)
    for ax in axes[len(fits):]:
        ax.set_axis_off()
    save(figure, "flower-decision-boundaries.png")

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    for fit in result.networks:
        LossCurveDisplay.from_estimator(fit.estimator, ax=ax,
                                        loss_kw={"label": fit.label})
    ax.set_title("Flower: training log-loss per epoch")
    save(figure, "flower-loss-curves.png")

    if result.datasets:
        n_cols = len(result.datasets)
        figure = Figure(figsize=(3 * n_cols, 6), layout="constrained")
        axes = figure.subplots(2, n_cols, squeeze=False)
        for column, fits in enumerate(result.datasets):
            for row, fit in enumerate((fits.network, fits.logistic)):
                _decision_regions(axes[row, column], fit, fits.X, fits.y,
                                  grid_resolution, title=f"{fits.name}\n")
        save(figure, "datasets-decision-boundaries.png")
    return tuple(paths)


def _decision_regions(ax, fit, X, y, grid_resolution, title=""):
    from sklearn.inspection import DecisionBoundaryDisplay

    DecisionBoundaryDisplay.from_estimator(
        fit.estimator, X, grid_resolution=grid_resolution, response_method="predict",
        cmap="Spectral", alpha=0.8, ax=ax,
    )
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=8, edgecolors="k",
               linewidths=0.3)
    ax.set_title(f"{title}{fit.label}: {fit.accuracy:.2f} %", fontsize=10)
