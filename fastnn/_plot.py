"""Plots of a fitted network's training, in scikit-learn's Display idiom.

matplotlib is imported only when something is drawn, so ``import fastnn`` does
not import it (it is the optional ``plot`` extra).
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted

__all__ = ["LossCurveDisplay"]


class LossCurveDisplay:
    """Loss curve visualization: the loss of each training epoch.

    Draws the training loss per epoch (``loss_curve_``) and, when the network
    was fitted with ``early_stopping=True``, the loss on the held-out validation
    set (``validation_loss_curve_``) and the validation score
    (``validation_scores_``: accuracy for classifiers, R^2 for regressors).

    The two losses share one y axis, ``ax_``, on the left: they are the same
    objective (mean loss plus the L2 term) on two sets of samples. The
    validation score has another
    scale and meaning (higher is better), so it is drawn on a second y axis on
    the right, ``score_ax_`` (``ax_.twinx()``), in its own color and with a
    dashed line; one legend on ``ax_`` names all the lines. Epochs are counted
    from 1 on the shared x axis.

    It is recommended to use :meth:`from_estimator` to create a
    :class:`LossCurveDisplay`. All parameters are stored as attributes.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        The training loss at the end of each epoch.

    validation_loss_curve : array-like of shape (n_epochs,), default=None
        The loss on the validation set at each epoch. If `None`, it is not
        drawn.

    validation_scores : array-like of shape (n_epochs,), default=None
        The score on the validation set at each epoch. If `None`, it is not
        drawn and no second axis is made.

    estimator_name : str, default=None
        Name of the estimator, used in the axes' title. If `None`, no title is
        set.

    score_name : str, default=None
        Name of the validation score, used in its label and axis label
        (``"validation <score_name>"``). If `None`, ``"score"`` is used.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the loss curves.

    score_ax_ : matplotlib Axes or None
        Axes, twin of ``ax_``, with the validation score; `None` when there is
        no validation score.

    figure_ : matplotlib Figure
        Figure containing the curves.

    line_ : matplotlib Line2D
        The training loss curve.

    validation_loss_line_ : matplotlib Line2D or None
        The validation loss curve; `None` when there is none.

    validation_score_line_ : matplotlib Line2D or None
        The validation score curve; `None` when there is none.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against training
        set sizes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from fastnn import LossCurveDisplay, ShallowNNClassifier, make_flower
    >>> X, y = make_flower()
    >>> clf = ShallowNNClassifier(4, "tanh", solver="gd", learning_rate_init=1.2,
    ...                           max_iter=1000, random_state=0).fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(clf)
    >>> plt.show()
    """

    def __init__(self, *, loss_curve, validation_loss_curve=None,
                 validation_scores=None, estimator_name=None, score_name=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name
        self.score_name = score_name

    def plot(self, ax=None, *, name=None, loss_kw=None, validation_loss_kw=None,
             validation_score_kw=None):
        """Plot the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes object to plot on. If `None`, a new figure and axes is
            created.

        name : str, default=None
            Name of the estimator, used in the title. If `None`, the
            ``estimator_name`` given at construction is used. When several
            estimators share ``ax``, tell their lines apart with a ``label``
            in ``loss_kw``.

        loss_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the training loss.

        validation_loss_kw : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the validation loss.

        validation_score_kw : dict, default=None
            Keyword arguments passed to ``score_ax_.plot`` for the validation
            score.

        Returns
        -------
        display : :class:`LossCurveDisplay`
            Object that stores computed values.
        """
        check_matplotlib_support(f"{self.__class__.__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name if name is None else name
        score_name = "score" if self.score_name is None else self.score_name

        self.line_ = _draw(ax, self.loss_curve,
                           {"label": "training loss", **(loss_kw or {})})
        self.validation_loss_line_ = None
        if self.validation_loss_curve is not None:
            self.validation_loss_line_ = _draw(
                ax, self.validation_loss_curve,
                {"label": "validation loss", **(validation_loss_kw or {})})
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")

        self.score_ax_ = self.validation_score_line_ = None
        if self.validation_scores is not None:
            self.score_ax_ = ax.twinx()
            # Skip the loss axes' colors so the score's line stands apart.
            color = f"C{len(ax.get_lines())}"
            self.validation_score_line_ = _draw(
                self.score_ax_, self.validation_scores,
                {"label": f"validation {score_name}", "color": color,
                 "linestyle": "--", **(validation_score_kw or {})})
            self.score_ax_.set_ylabel(f"validation {score_name}")
            # The loss axes above their twin, see-through: the legend drawn on
            # them stays on top of the score's line.
            ax.set_zorder(self.score_ax_.get_zorder() + 1)
            ax.patch.set_visible(False)

        handles = ax.get_lines() + (
            [] if self.score_ax_ is None else self.score_ax_.get_lines())
        ax.legend(handles=handles, labels=[h.get_label() for h in handles])
        if name is not None:
            ax.set_title(name)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot the loss curves of a fitted network.

        Parameters
        ----------
        estimator : estimator instance
            A fitted :class:`~fastnn.ShallowNNClassifier` or
            :class:`~fastnn.ShallowNNRegressor` (scikit-learn's
            ``MLPClassifier`` and ``MLPRegressor`` work too), trained by an
            epoch solver (``'gd'``, ``'sgd'`` or ``'adam'``): ``'lbfgs'``
            records no loss per epoch.

        ax : matplotlib Axes, default=None
            Axes object to plot on. If `None`, a new figure and axes is
            created.

        name : str, default=None
            Name used in the title and the legend. If `None`, the name of the
            estimator's class is used.

        **kwargs : dict
            Keyword arguments passed to :meth:`plot` (``loss_kw``,
            ``validation_loss_kw``, ``validation_score_kw``).

        Returns
        -------
        display : :class:`LossCurveDisplay`
            Object that stores computed values.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        loss_curve = getattr(estimator, "loss_curve_", None)
        if loss_curve is None or len(loss_curve) == 0:
            raise ValueError(
                f"{cls.__name__} needs the loss of each epoch (loss_curve_), and "
                f"this {estimator.__class__.__name__} has none: solver='lbfgs' "
                "does not record it. Fit with solver='gd', 'sgd' or 'adam'."
            )
        display = cls(
            loss_curve=loss_curve,
            validation_loss_curve=_recorded(estimator, "validation_loss_curve_"),
            validation_scores=_recorded(estimator, "validation_scores_"),
            estimator_name=estimator.__class__.__name__,
            score_name="accuracy" if is_classifier(estimator) else "R^2",
        )
        return display.plot(ax=ax, name=name, **kwargs)


def _recorded(estimator, name):
    """The estimator's curve ``name``, or None where it was not recorded."""
    curve = getattr(estimator, name, None)
    return None if curve is None or len(curve) == 0 else curve


def _draw(ax, curve, kwargs):
    curve = np.asarray(curve, dtype=float)
    (line,) = ax.plot(np.arange(1, curve.shape[0] + 1), curve, **kwargs)
    return line
