"""The named bundles every kernel of both backends takes, instead of scalar trains.

They are named tuples of scalars (and the :class:`~fastnn.ops.layout.Layout`), so
numba compiles them as structs and a kernel reads ``net.activation`` or
``solver.beta_1`` instead of its fifteenth positional argument. The estimator
builds them once per fit from its parameters (:mod:`fastnn._setup`).
"""

from typing import NamedTuple

import numpy as np

from .layout import Layout


def row_indices(n):
    """``arange(n)`` as the kernels' row indices: int32 while it fits.

    Half the memory of ``intp`` for the index arrays of a fit (P3's peak memory);
    only data sets of 2**31 rows or more compile the ``intp`` kernels.
    """
    return np.arange(n, dtype=np.int32 if n < 2**31 else np.intp)


class CSR(NamedTuple):
    """Sparse inputs in canonical compressed-row form, as the CPU kernels take them.

    Row ``i``'s nonzeros are ``data[indptr[i]:indptr[i + 1]]`` in the columns
    ``indices[indptr[i]:indptr[i + 1]]``, sorted, without duplicates. The kernels
    compile once for int32 indices and once more for int64 (only for matrices
    with 2**31 nonzeros or features or more).
    """

    #: (nnz,), float32 or float64.
    data: np.ndarray
    #: (nnz,), int32 or int64: the column of each nonzero.
    indices: np.ndarray
    #: (n_samples + 1,), the dtype of ``indices``.
    indptr: np.ndarray
    n_features: int

    @classmethod
    def of(cls, X):
        """The bundle viewing a canonical ``scipy.sparse`` CSR matrix or array."""
        return cls(X.data, X.indices, X.indptr, int(X.shape[1]))

    # For Python code only (compiled code reads the fields).
    @property
    def shape(self):
        return self.indptr.shape[0] - 1, self.n_features

    @property
    def dtype(self):
        return self.data.dtype


class Data(NamedTuple):
    """The training set: inputs, targets and sample weights (host or device arrays)."""

    #: (n_samples, n_features), float32 or float64: an array, or a :class:`CSR`
    #: bundle (CPU only).
    X: np.ndarray
    #: (n_samples, n_outputs), the dtype of ``X``: the classifier's 0/1
    #: indicator, the regressor's targets. (One dtype for both, so that both
    #: estimators' fits run the same compiled kernels.)
    Y: np.ndarray
    #: (n_samples,), the dtype of ``X``.
    sample_weight: np.ndarray


class Network(NamedTuple):
    """The network's shape and functions: what forward and backward passes need."""

    #: Layer sizes and parameter offsets.
    layout: Layout
    #: Hidden activation code (:data:`fastnn.ops.activations.CODES`).
    activation: int
    #: Slope of ``leaky_relu`` for negative inputs.
    slope: float
    #: Output layer and loss code (:data:`fastnn.ops.losses.OUTPUTS`).
    output: int
    #: Probabilities are clipped to ``[eps, 1 - eps]`` in the log-loss (the
    #: dtype's machine epsilon, as MLPClassifier clips).
    eps: float


class Solver(NamedTuple):
    """The optimizer, its schedule and the stopping rule of gd / sgd / adam."""

    #: Optimizer code (:data:`fastnn.ops.optimizers.CODES`).
    kind: int
    #: Learning-rate schedule code (:data:`fastnn.ops.optimizers.SCHEDULES`).
    schedule: int
    batch_size: int
    learning_rate_init: float
    power_t: float
    momentum: float
    nesterov: bool
    beta_1: float
    beta_2: float
    epsilon: float
    #: L2 penalty strength.
    alpha: float
    tol: float
    n_iter_no_change: float


class Params(NamedTuple):
    """The weights and everything that moves with them during a fit.

    Arrays of the backend (host or device), but ``state``, which stays on the host.
    """

    #: Flat parameter vector (:mod:`fastnn.ops.layout`).
    theta: np.ndarray
    #: Optimizer slots: sgd's velocity, or Adam's first and second moments.
    slot1: np.ndarray
    slot2: np.ndarray
    #: (2, n_params): the weights at the start of the previous and current epoch.
    backups: np.ndarray
    #: Weights of the best validation score (early stopping).
    best: np.ndarray
    #: float64 bookkeeping of :mod:`fastnn.ops.schedules` (slots LR, BEST, ...).
    state: np.ndarray


class Curves(NamedTuple):
    """Per-epoch results of a chunk of epochs, host arrays, one entry per epoch."""

    loss: np.ndarray
    #: Validation score (early stopping): accuracy or R^2.
    score: np.ndarray
    #: The learning rate the adaptive schedule set at this epoch's end, else 0.
    new_lr: np.ndarray
    #: Validation loss (early stopping): the objective of the held-out rows,
    #: their mean weighted loss plus the L2 term, as ``loss`` for a batch.
    val_loss: np.ndarray

    @classmethod
    def empty(cls, n_epochs):
        return cls(np.empty(n_epochs), np.empty(n_epochs), np.zeros(n_epochs),
                   np.empty(n_epochs))


class Validation(NamedTuple):
    """The held-out rows of early stopping (``val=None``: no early stopping)."""

    rows: np.ndarray
    #: (n_samples, n_outputs) buffer for their output activations (CPU; the
    #: CUDA backend scores on the device and takes None).
    out: np.ndarray
    #: Every prediction counts as right: a one-class fit, where MLPClassifier
    #: predicts that class whatever the network outputs (always False for the
    #: regressor).
    trivial: bool
