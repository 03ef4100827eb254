"""``python -m fastnn``: the lecture's flower network, fastnn against scikit-learn.

``python -m fastnn compile`` instead compiles every CPU kernel into the Numba
cache (:func:`fastnn.precompile`), for images and cluster bootstraps;
``python -m fastnn study [--out DIR]`` runs the lecture's hidden-layer study
(:mod:`fastnn.study`), prints its tables and writes its figures into ``DIR``.

Both estimators are set up for the same algorithm: full-batch gradient descent
without momentum on the log-loss, seeded alike, for a fixed number of epochs.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from fastnn import ShallowNNClassifier, make_flower, precompile

_LEARNING_RATE = 1.2
_RANDOM_STATE = 0
# Epochs of the throw-away fit that triggers JIT compilation or the cache load.
_WARMUP_EPOCHS = 2


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fastnn",
        description=(
            "Train the shallow network of the planar flower lecture with fastnn "
            "and with scikit-learn's MLPClassifier, and compare them."
        ),
    )
    parser.add_argument(
        "command", nargs="?", choices=["compile", "study"],
        help=(
            "'compile': compile every CPU kernel into the Numba cache and exit; "
            "'study': the lecture's hidden-layer study (tables, and figures "
            "with matplotlib)"
        ),
    )
    parser.add_argument(
        "--out", default="fastnn-study", metavar="DIR",
        help="'study' only: directory for its PNG figures (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=int, default=10000, help="epochs of gradient descent"
    )
    parser.add_argument("--hidden", type=int, default=4, help="hidden units")
    return parser


def _make_models(n_hidden, epochs, n_samples):
    # tol=0 with n_iter_no_change=epochs: both run exactly `epochs` epochs.
    fastnn_model = ShallowNNClassifier(
        n_hidden=n_hidden,
        activation="tanh",
        solver="gd",
        learning_rate_init=_LEARNING_RATE,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        alpha=0.0,
        random_state=_RANDOM_STATE,
    )
    # One batch of all samples, no momentum and no shuffling is plain gradient descent.
    sklearn_model = MLPClassifier(
        hidden_layer_sizes=(n_hidden,),
        activation="tanh",
        solver="sgd",
        batch_size=n_samples,
        momentum=0.0,
        learning_rate_init=_LEARNING_RATE,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        alpha=0.0,
        shuffle=False,
        random_state=_RANDOM_STATE,
    )
    return fastnn_model, sklearn_model


def _timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def _max_abs_diff(arrays_a, arrays_b):
    return max(
        float(np.max(np.abs(a - b))) for a, b in zip(arrays_a, arrays_b, strict=True)
    )


def _print_row(name, model, X, y, seconds):
    per_epoch_us = 1e6 * seconds / model.n_iter_
    print(
        f"{name:<14} {model.score(X, y):>9.4f} {model.loss_:>11.6f} "
        f"{model.n_iter_:>7d} {seconds:>10.3f} {per_epoch_us:>15.2f}"
    )


def main(argv=None):
    """Run the comparison; ``argv`` defaults to the command line."""
    args = _build_parser().parse_args(argv)
    if args.command == "compile":
        precompile(verbose=True)
        return
    if args.command == "study":
        _study(args.out)
        return
    X, y = make_flower()
    fastnn_model, sklearn_model = _make_models(args.hidden, args.epochs, X.shape[0])

    with warnings.catch_warnings():
        # Running all epochs with tol=0 is intended, not a convergence failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warmup = clone(fastnn_model).set_params(max_iter=_WARMUP_EPOCHS)
        compile_s = _timed_fit(warmup, X, y)
        fastnn_s = _timed_fit(fastnn_model, X, y)
        sklearn_s = _timed_fit(sklearn_model, X, y)

    print(
        f"Planar flower: {X.shape[0]} samples, {args.hidden} tanh hidden units, "
        f"{args.epochs} epochs of full-batch gradient descent "
        f"(learning rate {_LEARNING_RATE})"
    )
    print(f"fastnn first call (compile or cache load): {compile_s:.3f} s")
    print()
    print(
        f"{'model':<14} {'accuracy':>9} {'final loss':>11} {'epochs':>7} "
        f"{'fit (s)':>10} {'per epoch (us)':>15}"
    )
    _print_row("fastnn", fastnn_model, X, y, fastnn_s)
    _print_row("MLPClassifier", sklearn_model, X, y, sklearn_s)
    print()
    print(f"speed-up (MLPClassifier fit / fastnn fit): {sklearn_s / fastnn_s:.1f}x")
    coefs_diff = _max_abs_diff(fastnn_model.coefs_, sklearn_model.coefs_)
    intercepts_diff = _max_abs_diff(fastnn_model.intercepts_, sklearn_model.intercepts_)
    print(f"max |coefs_ difference|:      {coefs_diff:.3e}")
    print(f"max |intercepts_ difference|: {intercepts_diff:.3e}")


def _study(out_dir):
    # Imported here: the main job does not pay for the study's imports.
    from fastnn import study

    result = study.run_study()
    print(study.format_study(result), end="")
    print()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "Figures skipped: they need matplotlib, which is not installed. "
            "Install it with `pip install \"fastnn-shallow[plot]\"` (or `pip "
            "install matplotlib`) and run `python -m fastnn study` again."
        )
        return
    for path in study.plot_study(result, out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
