"""Learning-rate schedules and stopping rules, decided once per step or epoch.

These are scalar bookkeeping on the float64 ``state`` vector that the estimator
keeps between calls (slots below), written once: the CPU backend compiles them
into its epoch loop, the CUDA backend runs them on the host between launches.
The decisions mirror ``sklearn.neural_network._stochastic_optimizers``; a loop
that takes one reports it back (:data:`LR_DECREASED`, the stop codes) so that
the estimator prints what MLPClassifier prints.
"""

import math

from . import optimizers as opt_ops

# Slots of the float64 ``state`` vector.
#: Current learning rate (sgd/gd schedules).
LR = 0
#: Best value of the stopping metric, lower is better: the training loss, or
#: minus the validation accuracy under early stopping. ``score < best + tol`` is
#: then exactly ``-score > -best - tol`` (negation is exact), MLP's rule.
BEST = 1
#: Consecutive epochs without an improvement of at least ``tol``.
NO_IMPROVEMENT = 2
#: Samples seen, MLPClassifier's ``t_``.
T = 3
#: Optimizer steps taken (Adam's bias-correction counter).
STEP = 4
N_STATE = 5

# What :func:`end_of_epoch` decides.
CONTINUE = 0
#: The adaptive schedule divided the learning rate by 5 (MLP's
#: "Setting learning rate to ...").
LR_DECREASED = 1
#: ``tol`` / ``n_iter_no_change`` fired: stop (MLP's "... Stopping.").
STOP = 2
#: The adaptive schedule cannot go lower (MLP's "Learning rate too small.
#: Stopping.").
STOP_LR_TOO_SMALL = 3


# What an epoch loop (``train_epochs`` of either backend) reports.
#: The chunk ran out of epochs.
RUNNING = 0
#: The ``tol`` / ``n_iter_no_change`` rule stopped training.
CONVERGED = 1
#: A non-finite loss or weight: the last good weights were restored.
DIVERGED = 2
#: The adaptive schedule's learning rate fell to 1e-6: stopped.
LR_TOO_SMALL = 3


def step_size(state, solver):
    """Count one more optimizer step; return its learning rate.

    Adam's is bias-corrected, ``lr_init sqrt(1 - beta_2^t) / (1 - beta_1^t)``.
    """
    state[STEP] += 1.0
    if solver.kind == opt_ops.ADAM:
        t = state[STEP]
        return (solver.learning_rate_init * math.sqrt(1.0 - solver.beta_2**t)
                / (1.0 - solver.beta_1**t))
    return state[LR]


def end_of_epoch(metric, state, solver):
    """MLPClassifier's end-of-epoch bookkeeping on ``state``; returns a decision.

    ``metric`` is the epoch's training loss, or minus its validation score.
    """
    if metric > state[BEST] - solver.tol:
        state[NO_IMPROVEMENT] += 1.0
    else:
        state[NO_IMPROVEMENT] = 0.0
    if metric < state[BEST]:
        state[BEST] = metric
    adam = solver.kind == opt_ops.ADAM
    if not adam and solver.schedule == opt_ops.INVSCALING:
        state[LR] = solver.learning_rate_init / (state[T] + 1.0) ** solver.power_t
    if state[NO_IMPROVEMENT] <= solver.n_iter_no_change:
        return CONTINUE
    if adam or solver.schedule != opt_ops.ADAPTIVE:
        return STOP
    if state[LR] <= 1e-6:
        return STOP_LR_TOO_SMALL
    state[LR] /= 5.0
    state[NO_IMPROVEMENT] = 0.0
    return LR_DECREASED
