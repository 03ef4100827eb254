"""Where ``W1, b1, W2, b2`` sit in the flat parameter vector ``theta``.

Optimizers, L-BFGS and the weight backups see one flat array; :class:`Layout`
is the only place that knows its segments. It is a named tuple of integers, so
the CPU kernels take it as an argument and :func:`unpack` compiles for them as
it is (the CUDA backend and the estimator call it on their own arrays).
"""

from typing import NamedTuple


class Layout(NamedTuple):
    """Segment offsets of ``theta = [W1 (d x h), b1 (h), W2 (h x o), b2 (o)]``."""

    n_features: int
    n_hidden: int
    n_outputs: int
    #: Offset of ``b1`` (= length of ``W1``).
    b1: int
    #: Offset of ``W2``.
    w2: int
    #: Offset of ``b2``.
    b2: int
    #: Length of ``theta``.
    size: int

    @classmethod
    def of(cls, n_features, n_hidden, n_outputs):
        """The layout of a network with these layer sizes."""
        b1 = n_features * n_hidden
        w2 = b1 + n_hidden
        b2 = w2 + n_hidden * n_outputs
        return cls(int(n_features), int(n_hidden), int(n_outputs), b1, w2, b2,
                   b2 + n_outputs)


def unpack(layout, theta):
    """Views ``(W1, b1, W2, b2)`` into ``theta`` (NumPy, numba or device arrays)."""
    W1 = theta[: layout.b1].reshape((layout.n_features, layout.n_hidden))
    b1 = theta[layout.b1 : layout.w2]
    W2 = theta[layout.w2 : layout.b2].reshape((layout.n_hidden, layout.n_outputs))
    b2 = theta[layout.b2 : layout.size]
    return W1, b1, W2, b2
