"""scikit-learn's callbacks (``sklearn.callback``, scikit-learn >= 1.9) on our fits.

A fit is a ``"fit"`` task with one ``"epoch"`` subtask per epoch (per L-BFGS
iteration for ``solver='lbfgs'``). At each subtask's end the callbacks get the
training data and a ``fitted_estimator``: a shallow copy of the estimator
holding that epoch's weights and curves, ready to predict and score; a callback
that returns True there stops the fit after that epoch.

The epoch driver (:mod:`fastnn._epochs`) then runs one epoch per call into
compiled code, so that every epoch comes back to Python; without callbacks the
driver is unchanged. On older scikit-learn releases the estimators work as
before and ``set_callbacks`` says what it needs.
"""

import sklearn

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stand-in for scikit-learn 1.9's mixin: callbacks need that release."""

        def set_callbacks(self, *callbacks):
            raise ImportError(
                "set_callbacks requires scikit-learn >= 1.9 (sklearn.callback); "
                f"scikit-learn {sklearn.__version__} is installed: "
                "pip install -U scikit-learn"
            )


def for_fit(est, X, y, sample_weight, max_subtasks):
    """The :class:`FitCallbacks` of this fit, or None when no callback is set."""
    if not getattr(est, "_skl_callbacks", None):
        return None
    return FitCallbacks(est, X, y, sample_weight, max_subtasks)


class FitCallbacks:
    """The callback hooks of one fit: the ``"fit"`` task and its epochs.

    Begun at construction; :meth:`epoch_begins` / :meth:`epoch_ends` around
    each epoch, :meth:`fit_ends` once. ``X``, ``y`` and ``sample_weight`` (as
    ``metadata``) are what the hooks see (``ScoringMonitor`` scores on them).
    """

    def __init__(self, est, X, y, sample_weight, max_subtasks):
        self._est = est
        metadata = {} if sample_weight is None else {"sample_weight": sample_weight}
        self._hook_args = dict(estimator=est, X=X, y=y, metadata=metadata)
        self._fit = est._init_callback_context(task_name="fit",
                                               max_subtasks=max_subtasks)
        self._fit.call_on_fit_task_begin(**self._hook_args)
        self._epoch = None

    def epoch_begins(self):
        self._epoch = self._fit.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(**self._hook_args)

    def epoch_ends(self, attributes):
        """End the epoch; True when a callback asks to stop.

        ``attributes()`` returns the fitted attributes as of this epoch's end
        (called only if a hook asks for ``fitted_estimator``).
        """
        epoch, self._epoch = self._epoch, None
        return epoch.call_on_fit_task_end(**self._hook_args,
                                          reconstruction_attributes=attributes)

    def fit_ends(self):
        self._fit.call_on_fit_task_end(**self._hook_args,
                                       reconstruction_attributes={})
