"""Helpers shared by the CPU and CUDA training tests."""

import numpy as np

from fastnn.cpu import training

#: (solver name, nesterov) for every update rule.
UPDATE_RULES = [("gd", False), ("sgd", False), ("sgd", True), ("adam", False)]


def new_state(lr_init):
    """A fresh ``state`` vector for ``train_epochs`` (both backends share slots)."""
    state = np.zeros(training.N_STATE)
    state[training.LR] = lr_init
    state[training.BEST_LOSS] = np.inf
    return state
