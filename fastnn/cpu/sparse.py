"""The first layer for sparse inputs (CPU): sparse rows times dense weights.

Only the first layer sees ``X``; with a :class:`~fastnn.ops.bundles.CSR` bundle
its product and its gradient run over the block's nonzeros, and everything after
them (activations, second layer, losses, optimizers) is the dense code of
:mod:`fastnn.cpu.network`, which picks these kernels by the type of ``X``. Each
nonzero ``v`` at column ``k`` of row ``r`` adds ``v W1[k, :]`` to the row's
hidden pre-activations and ``v D1[r, :]`` to row ``k`` of W1's gradient: both
loops run along contiguous rows of ``h`` values and vectorise, which is why the
block's products are formed row by row (``m x h``) in a scratch buffer and
transposed to the units-by-rows layout of the other kernels.

The cost is ``nnz * n_hidden`` per pass, never ``n_features * n_rows``; only
the gradient of W1 is dense (``n_features x n_hidden``, as the optimizers
update every weight, as MLPClassifier's do).
"""

from .._config import jit


@jit
def first_layer(X, rows, W1, scratch, ZT):
    """``ZT = (X[rows] W1)^T``, the first layer's pre-activations (no bias).

    Parameters
    ----------
    X : CSR bundle of shape (n_samples, n_features)
    rows : (m,) int array, the block's rows of ``X``.
    W1 : (n_features, n_hidden) array.
    scratch : 1-D array of at least ``m * n_hidden`` values (overwritten).
    ZT : (n_hidden, m) array, written.
    """
    m = rows.shape[0]
    h = W1.shape[1]
    Z = scratch[: m * h].reshape((m, h))
    data, indices, indptr = X.data, X.indices, X.indptr
    for r in range(m):
        z = Z[r]
        for j in range(h):
            z[j] = 0.0
        i = rows[r]
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            w = W1[indices[p]]
            for j in range(h):
                z[j] += v * w[j]
    _transpose(Z, ZT)


@jit
def first_layer_grad(X, rows, D1T, scratch, gW1):
    """``gW1 = X[rows]^T D1``: W1's gradient sums over the block's nonzeros.

    Parameters
    ----------
    X : CSR bundle of shape (n_samples, n_features)
    rows : (m,) int array, the block's rows of ``X``.
    D1T : (n_hidden, m) array, the hidden deltas.
    scratch : 1-D array of at least ``m * n_hidden`` values (overwritten; may
        be the memory of the block's hidden activations, no longer needed).
    gW1 : (n_features, n_hidden) C-contiguous array, written whole.
    """
    h, m = D1T.shape
    D = scratch[: m * h].reshape((m, h))
    _transpose(D1T, D)
    flat = gW1.reshape(gW1.size)
    for q in range(flat.shape[0]):
        flat[q] = 0.0
    data, indices, indptr = X.data, X.indices, X.indptr
    for r in range(m):
        dr = D[r]
        i = rows[r]
        # Rows in block order, nonzeros in column order: a fixed summation order.
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            g = gW1[indices[p]]
            for j in range(h):
                g[j] += v * dr[j]


@jit
def _transpose(A, B):
    """``B = A.T`` for a (p, q) ``A`` and a (q, p) ``B``; writes run along ``B``."""
    p, q = A.shape
    for j in range(q):
        b = B[j]
        for r in range(p):
            b[r] = A[r, j]
