"""The epoch driver of gd / sgd / adam: chunks, verbose, progress, Ctrl-C, divergence.

A backend's :class:`Run` runs up to ``n`` epochs in compiled code; this
module calls it until training stops, records each chunk's epochs in the
estimator's attributes, prints MLPClassifier's verbose lines and warnings, and
sizes the chunks so that output, the progress bar and Ctrl-C respond at once.
With scikit-learn callbacks (:mod:`fastnn._callbacks`) each chunk is one epoch,
so that the callbacks see every epoch's end and may stop the fit there.
"""

import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .ops import schedules
from .ops.bundles import Data, Network, Params, Solver

# Seconds of compiled work per chunk of epochs: long enough that the Python
# round trip between chunks is noise, short enough to react to Ctrl-C at once.
CHUNK_SECONDS = 0.1
# Cap on the shuffled sample orders generated for one chunk (int32 entries).
MAX_ORDER_ENTRIES = 1 << 22


#: MLPClassifier's error when a fit ends with non-finite weights; fastnn's
#: errors of that kind start with it.
NONFINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)

#: :func:`train`'s status when a callback stopped the fit (never a kernel's).
STOPPED_BY_CALLBACK = -1


class Run(NamedTuple):
    """What a backend's ``epochs`` context hands the driver."""

    #: ``chunk(n_epochs) -> (done, status, curves)``: run up to ``n_epochs``.
    chunk: Callable
    #: ``weights()``: a host copy of the current flat weights.
    weights: Callable


class Setup(NamedTuple):
    """Everything a backend needs to run the epochs of one fit (host arrays)."""

    data: Data
    net: Network
    solver: Solver
    params: Params
    train_rows: np.ndarray
    #: Early-stopping rows (empty: no early stopping).
    val_rows: np.ndarray
    #: Every validation prediction is right (one class).
    trivial_score: bool
    shuffle: bool
    random_state: np.random.RandomState


def shuffled_orders(random_state, sample_idx, train_rows, chunk):
    """Up to ``chunk`` shuffled visiting orders, one per epoch, drawn as MLP draws.

    MLP shuffles its index array in place each epoch (``sample_idx`` carries it
    between chunks). At most :data:`MAX_ORDER_ENTRIES` entries are made at once.
    """
    n_train = train_rows.shape[0]
    chunk = max(1, min(chunk, MAX_ORDER_ENTRIES // n_train))
    orders = np.empty((chunk, n_train), dtype=train_rows.dtype)
    for e in range(chunk):
        # intp: RandomState.shuffle swaps native integers ~40% faster than
        # int32, and draws the same permutation for both.
        perm = np.arange(n_train)
        random_state.shuffle(perm)
        # sample_idx = sample_idx[perm]; orders[e] = train_rows[sample_idx],
        # through orders[e] so that no temporary copy is made (P3's peak memory).
        order = orders[e]
        np.take(sample_idx, perm, out=order)
        sample_idx[:] = order
        np.take(train_rows, sample_idx, out=order)
    return orders


def train(est, run, max_epochs, state, callbacks=None):
    """Call ``run.chunk(n_epochs)`` until training stops; bookkeeping between.

    Returns the last status (:mod:`fastnn.ops.schedules`, or
    :data:`STOPPED_BY_CALLBACK`). Ctrl-C stops with a warning and keeps the
    epochs run so far. ``callbacks`` (:class:`fastnn._callbacks.FitCallbacks` or
    None): one epoch per chunk, the epoch's hooks around it.
    """
    chunk = 1
    status = schedules.RUNNING
    bar = _progress_bar(est, max_epochs)
    try:
        while est.n_iter_ < max_epochs and status == schedules.RUNNING:
            chunk = min(chunk, max_epochs - est.n_iter_)
            if callbacks is not None:
                callbacks.epoch_begins()
            tic = time.perf_counter()
            done, status, curves = run.chunk(chunk)
            elapsed = time.perf_counter() - tic
            record_epochs(est, curves, done, state)
            if bar is not None and done:
                bar.update(done)
                bar.set_postfix(loss=f"{curves.loss[done - 1]:.6f}", refresh=False)
            if status == schedules.DIVERGED:
                _diverged(est)
            if callbacks is not None:
                stop = callbacks.epoch_ends(
                    lambda: est._epoch_attributes(run.weights()))
                if stop and status == schedules.RUNNING:
                    status = STOPPED_BY_CALLBACK
                continue  # one epoch per chunk
            per_epoch = elapsed / max(done, 1)
            chunk = int(min(max(1, CHUNK_SECONDS / per_epoch), 2 * chunk + 1))
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=5)
    finally:
        if bar is not None:
            bar.close()
    return status


def _progress_bar(est, max_epochs):
    if not est.progress_bar:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError(
            "progress_bar=True requires the optional package tqdm: pip install tqdm"
        ) from exc
    return tqdm(total=max_epochs, initial=est.n_iter_, unit="epoch",
                desc=type(est).__name__)


def stopping_message(est):
    """MLP's message when the ``tol`` / ``n_iter_no_change`` rule fires."""
    metric = "Validation score" if est.early_stopping else "Training loss"
    return (f"{metric} did not improve more than tol={est.tol:f} for "
            f"{est.n_iter_no_change} consecutive epochs.")


def record_epochs(est, curves, done, state):
    """Append a chunk's epochs to the fitted curves; print MLP's verbose lines."""
    losses, scores = curves.loss[:done], curves.score[:done]
    if est.verbose:
        for loss, score, new_lr in zip(losses, scores, curves.new_lr[:done],
                                       strict=True):
            est.n_iter_ += 1
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
            if est.early_stopping:
                print(f"Validation score: {score:f}")
            if new_lr:
                print(stopping_message(est) + f" Setting learning rate to {new_lr:f}")
    else:
        # No Python loop per epoch: P1's 10000 epochs spent 0.3 us each here.
        est.n_iter_ += int(done)
    est.loss_curve_.extend(losses.tolist())
    if est.early_stopping:
        est.validation_scores_.extend(scores.tolist())
        est.validation_loss_curve_.extend(curves.val_loss[:done].tolist())
    if len(est.loss_curve_):
        est.loss_ = est.loss_curve_[-1]
    est.t_ = int(state[schedules.T])


def report_end(est, status, incremental):
    """MLP's last verbose line, or its warning when ``max_iter`` ran out."""
    if est.verbose and status == schedules.CONVERGED:
        print(stopping_message(est) + " Stopping.")
    if est.verbose and status == schedules.LR_TOO_SMALL:
        print(stopping_message(est) + " Learning rate too small. Stopping.")
    if not incremental and status == schedules.RUNNING and (
        est.n_iter_ == est.max_iter
    ):
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached "
            "and the optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=5,
        )


def _diverged(est):
    if not est.loss_curve_:
        # MLP's sentence (its fits end with it when the weights are non-finite),
        # then why fastnn stops here: no epoch had finite weights to keep.
        raise ValueError(
            f"{NONFINITE_WEIGHTS} The loss or the weights became non-finite in "
            "the first epoch, so no finite weights could be kept: scale the "
            "inputs (and a regressor's targets), lower learning_rate_init (now "
            f"{est.learning_rate_init}), or make sure that no mini-batch has "
            "sample weights summing to zero."
        )
    warnings.warn(
        f"Training diverged at epoch {est.n_iter_ + 1}: the loss or the weights "
        "became non-finite. Training stopped and the weights of the last "
        f"epoch with a finite loss were kept. Lower learning_rate_init (now "
        f"{est.learning_rate_init}) or scale the input features.",
        ConvergenceWarning,
        stacklevel=6,
    )
