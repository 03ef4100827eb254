"""fastnn.LossCurveDisplay (fastnn/_plot.py)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier

from fastnn import (
    LossCurveDisplay,
    ShallowNNClassifier,
    ShallowNNRegressor,
    make_flower,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _network(**params):
    """The lecture's flower network (the configuration the study compiles)."""
    lecture = dict(solver="gd", init="normal", learning_rate_init=1.2, alpha=0.0,
                   random_state=2, max_iter=40, tol=0.0, n_iter_no_change=np.inf)
    return ShallowNNClassifier(4, "tanh", **{**lecture, **params})


def _xy(line):
    return line.get_xdata(), line.get_ydata()


def test_display_draws_every_curve_it_is_given():
    loss, val_loss, scores = [0.7, 0.5, 0.4], [0.8, 0.6, 0.65], [0.5, 0.75, 0.7]
    display = LossCurveDisplay(loss_curve=loss, validation_loss_curve=val_loss,
                               validation_scores=scores, estimator_name="Net",
                               score_name="accuracy")
    assert display.plot() is display
    epochs = [1, 2, 3]
    assert_array_equal(_xy(display.line_), (epochs, loss))
    assert_array_equal(_xy(display.validation_loss_line_), (epochs, val_loss))
    assert_array_equal(_xy(display.validation_score_line_), (epochs, scores))
    # Losses share the left axis; the score has its own, twin of it.
    assert display.line_.axes is display.ax_
    assert display.validation_loss_line_.axes is display.ax_
    assert display.validation_score_line_.axes is display.score_ax_
    assert display.score_ax_ is not display.ax_
    assert display.ax_.get_shared_x_axes().joined(display.ax_, display.score_ax_)
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_ylabel() == "loss"
    assert display.score_ax_.get_ylabel() == "validation accuracy"
    assert display.ax_.get_title() == "Net"
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend == ["training loss", "validation loss", "validation accuracy"]
    # The legend's axes are drawn above the score's twin.
    assert display.ax_.get_zorder() > display.score_ax_.get_zorder()


def test_display_plots_on_the_given_axes_with_line_keywords():
    _, ax = plt.subplots()
    display = LossCurveDisplay(loss_curve=np.array([3.0, 2.0])).plot(
        ax=ax, loss_kw={"color": "red", "label": "mine"})
    assert display.ax_ is ax
    assert display.line_.get_color() == "red"
    assert display.line_.get_label() == "mine"
    assert display.validation_loss_line_ is None
    assert display.validation_score_line_ is None
    assert display.score_ax_ is None
    assert ax.get_title() == ""


def test_from_estimator_draws_the_training_loss():
    X, y = make_flower()
    clf = _fit(_network(), X, y)
    display = LossCurveDisplay.from_estimator(clf)
    assert isinstance(display, LossCurveDisplay)
    assert_array_equal(_xy(display.line_), (np.arange(1, 41), clf.loss_curve_))
    assert clf.validation_loss_curve_ is None
    assert display.score_ax_ is None and display.validation_loss_line_ is None
    assert display.ax_.get_title() == "ShallowNNClassifier"
    assert display.figure_ is display.ax_.figure


def test_from_estimator_with_early_stopping_draws_the_validation_curves():
    X, y = make_flower()
    clf = _fit(_network(early_stopping=True, max_iter=60, n_iter_no_change=60), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 60
    display = LossCurveDisplay.from_estimator(clf, name="flower")
    epochs = np.arange(1, 61)
    assert_array_equal(_xy(display.line_), (epochs, clf.loss_curve_))
    assert_array_equal(_xy(display.validation_score_line_),
                       (epochs, clf.validation_scores_))
    assert display.score_ax_.get_ylabel() == "validation accuracy"
    assert display.ax_.get_title() == "flower"
    assert len(clf.validation_loss_curve_) == 60
    assert_array_equal(_xy(display.validation_loss_line_),
                       (epochs, clf.validation_loss_curve_))
    assert display.validation_loss_line_.axes is display.ax_
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend == ["training loss", "validation loss", "validation accuracy"]


def test_from_estimator_regressor_scores_r2():
    X, _ = make_flower()
    reg = ShallowNNRegressor(4, "tanh", solver="gd", init="normal",
                             learning_rate_init=0.1, max_iter=30, tol=0.0,
                             n_iter_no_change=np.inf, alpha=0.0,
                             early_stopping=True, random_state=0)
    reg = _fit(reg, X, X[:, 0] * X[:, 1])
    display = LossCurveDisplay.from_estimator(reg)
    assert_array_equal(display.validation_score_line_.get_ydata(),
                       reg.validation_scores_)
    assert display.score_ax_.get_ylabel() == "validation R^2"


def test_from_estimator_takes_mlp_too():
    X, y = make_flower()
    mlp = _fit(MLPClassifier((3,), max_iter=5, random_state=0), X, y)
    display = LossCurveDisplay.from_estimator(mlp)
    assert_array_equal(display.line_.get_ydata(), mlp.loss_curve_)


def test_from_estimator_refuses_an_unfitted_estimator():
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        LossCurveDisplay.from_estimator(ShallowNNClassifier())


def test_from_estimator_refuses_lbfgs_which_records_no_loss_per_epoch():
    X, y = make_flower()
    clf = _fit(_network(solver="lbfgs", max_iter=20), X, y)
    assert clf.loss_curve_ == []
    with pytest.raises(ValueError, match=r"has none: solver='lbfgs'"):
        LossCurveDisplay.from_estimator(clf)


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    display = LossCurveDisplay(loss_curve=[1.0])
    with pytest.raises(ImportError, match=r"Display\.plot requires matplotlib"):
        display.plot()
    with pytest.raises(ImportError, match="from_estimator requires matplotlib"):
        LossCurveDisplay.from_estimator(ShallowNNClassifier())


def test_import_fastnn_does_not_import_matplotlib():
    code = ("import sys, fastnn; fastnn.LossCurveDisplay; "
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
