"""``solver='lbfgs'``: SciPy's L-BFGS-B on the full-batch loss, as MLPClassifier."""

import warnings

import numpy as np

from ._epochs import NONFINITE_WEIGHTS


def fit_lbfgs(est, loss_grad, theta, callbacks=None):
    """Minimise ``loss_grad`` from ``theta`` (in place); set ``n_iter_``, ``loss_``.

    ``loss_grad(theta) -> (loss, grad)`` evaluates the compiled objective in
    ``theta``'s dtype; SciPy iterates in float64, as MLPClassifier's does.
    ``callbacks`` (:class:`fastnn._callbacks.FitCallbacks` or None): one subtask
    per L-BFGS iteration, begun and ended when SciPy reports the iteration; a
    callback asking to stop ends the minimisation there.
    """
    # Imported here: scipy.optimize is slow to import (cold start).
    from scipy.optimize import minimize
    from sklearn.utils.optimize import _check_optimize_result

    last = theta.astype(np.float64)
    iterations = 0

    def objective(x):
        loss, grad = loss_grad(np.ascontiguousarray(x, dtype=theta.dtype))
        return loss, grad.astype(np.float64)

    def remember(x):
        nonlocal iterations
        last[:] = x
        iterations += 1
        if callbacks is not None:
            callbacks.epoch_begins()
            est.n_iter_ = iterations
            if callbacks.epoch_ends(lambda: est._epoch_attributes(
                    np.asarray(x, dtype=theta.dtype))):
                raise StopIteration  # SciPy ends with "STOP: callback"

    try:
        res = minimize(
            objective,
            last.copy(),
            method="L-BFGS-B",
            jac=True,
            callback=remember,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter,
                     "gtol": est.tol},
        )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=5)
        theta[:] = last
        est.n_iter_ = iterations
        est.loss_ = objective(last)[0]
        return
    if res.status == 99:  # SciPy's status when the callback raised StopIteration:
        # stopped by a callback, neither converged nor out of iterations.
        est.n_iter_ = int(res.nit)
    else:
        est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)
    est.loss_ = float(res.fun)
    theta[:] = res.x
    if not np.isfinite(theta).all():
        raise ValueError(NONFINITE_WEIGHTS)
