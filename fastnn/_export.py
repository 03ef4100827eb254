"""``to_sklearn()``: a fitted fastnn estimator as the equivalent fitted MLP.

The export is a plain ``MLPClassifier`` / ``MLPRegressor`` with
``hidden_layer_sizes=(n_hidden,)``: fastnn's constructor parameters mapped to
MLP's (:func:`mlp_params`) and every fitted attribute MLP's ``predict``,
``predict_proba``, ``score`` and ``partial_fit`` read, copied (so training the
export never changes the fastnn model), including the optimizer state, so that
``partial_fit`` continues where fastnn's would.

What MLP cannot hold, and what is done about it:

- ``activation='leaky_relu'``: MLP has no such activation, so no MLP predicts as
  the model does: :class:`ValueError`.
- ``init='normal'`` and ``class_weight``: they act only when training starts
  from scratch (the initial draws) or on the loss (the class weights); the
  fitted weights are exact, so the export predicts as the model and its
  ``partial_fit`` takes the same steps (without the class weights). A fresh
  ``fit`` of the export draws MLP's Glorot weights and weights no class.
- ``solver='gd'``: MLP's ``'sgd'`` with ``momentum=0``, ``shuffle=False`` and
  ``batch_size`` the rows of one epoch (``t_ // n_iter_``: exact for a plain
  ``fit``, more after warm starts; MLP clips it to the data, with its warning).
- ``progress_bar``, ``device``, ``negative_slope``: nothing to hold.
"""

import copy

import numpy as np
from sklearn.base import is_classifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils.validation import check_is_fitted

from . import _initialization

#: Parameters with the same name and meaning in fastnn and MLP.
SHARED = (
    "alpha", "batch_size", "learning_rate", "learning_rate_init", "power_t",
    "max_iter", "shuffle", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1",
    "beta_2", "epsilon", "n_iter_no_change", "max_fun",
)

#: Fitted attributes MLP reads, copied as they are (arrays and lists copied).
FITTED = (
    "n_layers_", "n_outputs_", "out_activation_", "n_features_in_",
    "feature_names_in_", "loss_", "loss_curve_", "best_loss_",
    "validation_scores_", "best_validation_score_", "n_iter_", "t_",
    "_no_improvement_count", "classes_", "_label_binarizer",
)

_ACTIVATIONS = {"sigmoid": "logistic"}


def mlp_params(est):
    """MLP's constructor parameters for the fastnn estimator ``est``.

    Raises :class:`ValueError` for ``activation='leaky_relu'``.
    """
    if est.activation == "leaky_relu":
        raise ValueError(
            f"{type(est).__name__} with activation='leaky_relu' cannot be exported "
            f"to scikit-learn: {_mlp_class(est).__name__} has no 'leaky_relu' "
            "activation (it supports 'identity', 'logistic', 'tanh' and 'relu'). "
            "Export it to ONNX instead (skl2onnx.to_onnx), or refit with "
            "another activation."
        )
    params = {name: getattr(est, name) for name in SHARED}
    params["hidden_layer_sizes"] = (est.n_hidden,)
    params["activation"] = _ACTIVATIONS.get(est.activation, est.activation)
    params["solver"] = est.solver
    # A RandomState instance is copied, so that the export's refit draws what the
    # fastnn model's next fit would, without advancing the model's generator.
    params["random_state"] = copy.deepcopy(est.random_state)
    if not is_classifier(est):
        params["loss"] = est.loss
    if est.solver == "gd":
        params.update(solver="sgd", momentum=0.0, nesterovs_momentum=False,
                      shuffle=False, batch_size=_epoch_rows(est))
    return params


def to_sklearn(est):
    """The fitted MLP equivalent to the fitted fastnn estimator ``est``.

    See :meth:`fastnn.ShallowNNClassifier.to_sklearn`.
    """
    check_is_fitted(est)
    mlp = _mlp_class(est)(**mlp_params(est))
    for name in FITTED:
        if hasattr(est, name):
            setattr(mlp, name, copy.deepcopy(getattr(est, name)))
    # Always host NumPy arrays (CUDA fits copy their weights back), in the fit's
    # dtype: a float32 model stays float32.
    mlp.coefs_ = [np.array(c) for c in est.coefs_]
    mlp.intercepts_ = [np.array(b) for b in est.intercepts_]
    best = _initialization.to_layers(est._layout(), np.asarray(est._best_theta))
    mlp._best_coefs, mlp._best_intercepts = best
    optimizer = _optimizer(est, mlp)
    if optimizer is not None:
        mlp._optimizer = optimizer
    return mlp


def _mlp_class(est):
    return MLPClassifier if is_classifier(est) else MLPRegressor


def _epoch_rows(est):
    """The rows one epoch of the last fit trained on (at least)."""
    return max(1, int(est.t_) // max(1, int(est.n_iter_)))


def _as_params(est, flat):
    """A flat vector in ``theta``'s layout as MLP's ``coefs_ + intercepts_`` list."""
    coefs, intercepts = _initialization.to_layers(est._layout(), np.asarray(flat))
    return coefs + intercepts


def _optimizer(est, mlp):
    """MLP's optimizer, in the state fastnn's optimizer is in (None for lbfgs)."""
    state = getattr(est, "_optimizer", None)
    if state is None:
        return None
    lr, step, slot1, slot2 = state
    params = mlp.coefs_ + mlp.intercepts_
    if est.solver == "adam":
        opt = AdamOptimizer(params, est.learning_rate_init, est.beta_1, est.beta_2,
                            est.epsilon)
        opt.t = int(step)
        opt.ms, opt.vs = _as_params(est, slot1), _as_params(est, slot2)
        return opt
    opt = SGDOptimizer(params, est.learning_rate_init, est.learning_rate,
                       mlp.momentum, mlp.nesterovs_momentum, est.power_t)
    opt.learning_rate = float(lr)
    opt.velocities = _as_params(est, slot1)
    return opt
