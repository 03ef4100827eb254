"""Helpers shared by the CPU and CUDA training tests.

The ``make_*`` helpers build the bundles of :mod:`fastnn.ops.bundles` as the
estimator does, with plain Python scalars: numba compiles one signature per
combination of argument types, so a stray NumPy scalar or int where a float is
expected would compile the whole call tree again.
"""

import inspect
import warnings

import numba
import numpy as np

from fastnn import _config
from fastnn.ops import activations as act_ops
from fastnn.ops import losses as loss_ops
from fastnn.ops import optimizers as opt_ops
from fastnn.ops import schedules
from fastnn.ops.bundles import Network, Params, Solver
from fastnn.ops.layout import Layout

#: (solver name, nesterov) for every update rule.
UPDATE_RULES = [("gd", False), ("sgd", False), ("sgd", True), ("adam", False)]


def new_state(lr_init):
    """A fresh ``state`` vector for ``train_epochs`` (both backends share slots).

    Slots of :mod:`fastnn.ops.schedules`: the learning rate, an infinite best
    metric, no epochs without improvement, no samples seen, no steps taken.
    """
    state = np.zeros(schedules.N_STATE)
    state[schedules.LR] = lr_init
    state[schedules.BEST] = np.inf
    return state


def make_network(n_features, n_hidden, n_outputs, act, slope, output, dtype):
    """The :class:`~fastnn.ops.bundles.Network` of these layer sizes and functions.

    ``act`` is a name of :data:`fastnn.ops.activations.CODES`; ``output`` a name
    of :data:`fastnn.ops.losses.OUTPUTS`, or a bool: softmax (True) or logistic
    (False). ``eps`` is the machine epsilon of ``dtype``, as the estimator clips
    the log-loss.
    """
    if isinstance(output, (bool, np.bool_)):
        output = "softmax" if output else "logistic"
    return Network(
        layout=Layout.of(n_features, n_hidden, n_outputs),
        activation=act_ops.CODES[act],
        slope=float(slope),
        output=loss_ops.OUTPUTS[output],
        eps=float(np.finfo(dtype).eps),
    )


def make_solver(solver, batch_size, schedule="constant", lr_init=0.1, power_t=0.5,
                momentum=0.9, nesterov=True, beta_1=0.9, beta_2=0.999,
                epsilon=1e-8, alpha=0.0, tol=1e-4, n_iter_no_change=10):
    """The :class:`~fastnn.ops.bundles.Solver` of MLPClassifier's parameters.

    ``solver`` is "gd", "sgd" or "adam"; ``schedule`` a learning-rate schedule.
    """
    return Solver(
        kind=opt_ops.CODES[solver],
        schedule=opt_ops.SCHEDULES[schedule],
        batch_size=int(batch_size),
        learning_rate_init=float(lr_init),
        power_t=float(power_t),
        momentum=float(momentum),
        nesterov=bool(nesterov),
        beta_1=float(beta_1),
        beta_2=float(beta_2),
        epsilon=float(epsilon),
        alpha=float(alpha),
        tol=float(tol),
        n_iter_no_change=float(n_iter_no_change),
    )


def make_params(theta, lr_init, state=None):
    """Fresh :class:`~fastnn.ops.bundles.Params` starting from a copy of ``theta``.

    Zero optimizer slots, both backups equal to ``theta``, NaN best weights (so a
    kernel that should not write them shows it), and :func:`new_state` unless a
    ``state`` is given.
    """
    theta = np.array(theta)
    return Params(
        theta=theta,
        slot1=np.zeros_like(theta),
        slot2=np.zeros_like(theta),
        backups=np.stack([theta, theta]),
        best=np.full_like(theta, np.nan),
        state=new_state(lr_init) if state is None else state,
    )


def copy_params(params):
    """A deep copy of a :class:`~fastnn.ops.bundles.Params` (to continue a run)."""
    return Params(*(np.array(a) for a in params))


def compiled(kernel):
    """``kernel``, called from compiled code as the kernels call one another.

    Internal kernels may be compiled without a CPython wrapper (Python cannot call
    them: the call would crash) or inlined into their callers; a test calls them
    through this thin njit function, compiled with the kernels' own options so that
    an inlined kernel compiles as it does in its callers.
    """

    # A fixed arity: numba cannot inline a kernel into a call with *args.
    names = ", ".join(inspect.signature(kernel.py_func).parameters)
    scope = {"kernel": kernel}
    exec(f"def call({names}):\n    return kernel({names})\n", scope)
    call = scope["call"]
    call.__name__ = call.__qualname__ = f"compiled_{kernel.__name__}"
    return numba.njit(**_config._OPTIONS)(call)


def mlp_params(params, n_samples):
    """MLP parameters equivalent to fastnn estimator ``params``.

    ``n_hidden`` becomes ``hidden_layer_sizes``; ``solver="gd"`` is MLP's sgd on
    the full batch without momentum or shuffling.
    """
    params = dict(params)
    params["hidden_layer_sizes"] = (params.pop("n_hidden"),)
    if params.get("solver") == "gd":
        params.update(solver="sgd", batch_size=n_samples, momentum=0.0, shuffle=False)
    return params


def interrupt_fit(script, after_s=1.0):
    """Run ``script`` in a new interpreter; Ctrl-C it ``after_s`` after it prints
    ``fitting``. Returns ``(seconds from the signal to its "returned" line, its
    other ``key value`` lines as a dict)``; fails if it did not exit cleanly."""
    import signal
    import subprocess
    import sys
    import time

    # Python's own Ctrl-C handling in the child whatever the parent's: a shell
    # starts a background job (`pytest ... &`) with SIGINT ignored, children
    # inherit that, and Python then installs no KeyboardInterrupt handler.
    script = ("import signal\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n" + script)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "fitting"
        time.sleep(after_s)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    return float(lines.pop("returned")) - sent, lines


def assert_same_fit(ours, mlp, rtol=1e-8, atol=1e-12):
    """Every fitted array, the loss curve and the counters agree with MLP's.

    For classifiers the classes too. The equivalence tests' float64 tolerances
    by default (``atol`` so that an entry zero up to rounding is not compared
    relatively).
    """
    from numpy.testing import assert_allclose, assert_array_equal

    assert ours.n_iter_ == mlp.n_iter_
    assert ours.t_ == mlp.t_
    assert len(ours.coefs_) == len(mlp.coefs_) == 2
    assert len(ours.intercepts_) == len(mlp.intercepts_) == 2
    for name in ("coefs_", "intercepts_"):
        pairs = zip(getattr(ours, name), getattr(mlp, name), strict=True)
        for layer, (a, b) in enumerate(pairs):
            assert a.dtype == b.dtype, (name, layer)
            assert a.shape == b.shape, (name, layer)
            assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{name}[{layer}]")
    assert_allclose(ours.loss_curve_, mlp.loss_curve_, rtol=rtol)
    assert_allclose(ours.loss_, mlp.loss_, rtol=rtol)
    if mlp.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert_allclose(ours.best_loss_, mlp.best_loss_, rtol=rtol)
    if hasattr(mlp, "classes_"):
        assert_array_equal(ours.classes_, mlp.classes_)
    assert ours.out_activation_ == mlp.out_activation_
    assert ours.n_outputs_ == mlp.n_outputs_


def classification_targets(X):
    """Binary, multiclass (string labels) and multilabel targets of ``X``'s
    first columns, for the export tests."""
    return {
        "binary": (X[:, 0] > 0).astype(int),
        "multiclass": np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.4, 0.4])],
        "multilabel": np.c_[X[:, 0] > 0, X[:, 1] > 0,
                            X[:, 0] + X[:, 2] > 0].astype(int),
    }


def quiet_fit(est, X, y, **kwargs):
    """``est.fit(X, y)`` without its ConvergenceWarning (short test fits)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)
