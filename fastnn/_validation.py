"""Input validation, once at the edge, with scikit-learn's machinery.

Host arrays go through ``validate_data``; GPU arrays (for ``device='cuda'``) are
checked in place by :func:`check_device_X` with the same rules and messages.
The backends (:mod:`fastnn._backends`) choose which applies. Sparse ``X`` (CSR or
CSC, as MLPClassifier accepts it; other formats become CSR) is validated by
``validate_data`` too and converted once to canonical CSR (:func:`canonical_csr`),
never densified.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_consistent_length,
    column_or_1d,
    validate_data,
)

from . import _device

#: Float dtypes kept as they are; anything else trains in float64.
FLOAT_DTYPES = (np.float64, np.float32)
#: Sparse formats taken as they are (MLPClassifier's); others are converted to CSR.
SPARSE_FORMATS = ["csr", "csc"]


def check_host(estimator, X, y, reset=True):
    """Validated host ``X`` and ``y`` to fit: C-contiguous float32 or float64.

    Sparse ``X`` comes back as canonical CSR (:func:`canonical_csr`).
    """
    X, y = validate_data(estimator, _device.to_host(X), _device.to_host(y),
                         accept_sparse=SPARSE_FORMATS, multi_output=True,
                         y_numeric=not is_classifier(estimator),
                         dtype=FLOAT_DTYPES, order="C", reset=reset)
    return canonical_csr(X), _as_1d(y)


def check_host_X(estimator, X):
    """Validated host ``X`` to predict (the fitted number of features)."""
    return canonical_csr(validate_data(estimator, _device.to_host(X),
                                       accept_sparse=SPARSE_FORMATS,
                                       dtype=FLOAT_DTYPES, reset=False))


def canonical_csr(X):
    """Sparse ``X`` as the kernels read it; dense ``X`` as it is.

    CSR (CSC converted) with sorted column indices, duplicates summed,
    contiguous arrays, and int32 indices whenever the nonzeros and the columns
    fit (else int64, which compiles the kernels once more). Copies only what
    must change, never ``X`` itself in place, and nothing of dense size.
    """
    if not sp.issparse(X):
        return X
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # sorts the indices too
    small = max(X.nnz, X.shape[1]) < 2**31
    index = np.int32 if small else np.int64
    if (X.indices.dtype != index or X.indptr.dtype != index
            or not (X.data.flags.c_contiguous and X.indices.flags.c_contiguous
                    and X.indptr.flags.c_contiguous)):
        X = type(X)((np.ascontiguousarray(X.data),
                     np.ascontiguousarray(X.indices, dtype=index),
                     np.ascontiguousarray(X.indptr, dtype=index)), shape=X.shape)
    return X


def _as_1d(y):
    if y.ndim == 2 and y.shape[1] == 1:
        return column_or_1d(y, warn=True)
    return y


def check_device_X(estimator, X, y=None, reset=True):
    """Check a GPU array in place (2-D, float, finite), as ``validate_data`` would.

    Returns the numba device array viewing ``X`` (and the host copy of ``y``,
    validated, when ``y`` is given).
    """
    from .cuda import network as gpu_network

    X = gpu_network.use_device(X)
    name = type(estimator).__name__
    if len(X.shape) != 2:
        raise ValueError(f"Expected 2D array, got {len(X.shape)}D array instead.")
    if X.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{name} uses GPU arrays in place and needs them of dtype float32 "
            f"or float64, got {X.dtype}."
        )
    if X.shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
            f"of 1 is required by {name}."
        )
    has_nan, has_inf = gpu_network.nonfinite(X)
    if has_nan:
        raise ValueError("Input X contains NaN.")
    if has_inf:
        raise ValueError(
            f"Input X contains infinity or a value too large for {X.dtype!r}."
        )
    if y is None:
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        return X
    y = _check_y(_device.to_host(y), multi_output=True,
                 y_numeric=not is_classifier(estimator), estimator=estimator)
    check_consistent_length(_device.host_like(X), y)
    validate_data(estimator, X, y, skip_check_array=True, reset=reset)
    return X, _as_1d(y)


def check_sample_weight(sample_weight, X, class_weight=None, y=None):
    """``sample_weight`` validated against ``X`` (host or GPU), in ``X``'s dtype.

    With ``class_weight``, times the weights it gives the labels ``y``. The
    weights the kernels get must not all be zero (scikit-learn's rule, checked
    on the product and in ``X``'s dtype too, where tiny weights underflow) nor
    sum to zero: every loss is divided by their sum, where MLP fails with
    NumPy's ZeroDivisionError, whose words this ``ValueError`` starts with.
    """
    X = _device.host_like(X)
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if class_weight is not None:
        sw = sw * compute_sample_weight(class_weight, y)
        if not sw.any():
            raise ValueError(
                f"{_ALL_ZERO} class_weight gives weight 0 to every sample with "
                "a non-zero sample_weight."
            )
    sw = np.ascontiguousarray(sw, dtype=X.dtype)
    if not sw.any():
        raise ValueError(
            f"{_ALL_ZERO} Every weight is 0 in {X.dtype}, the dtype this fit "
            "trains in (that of X): scale the weights up."
        )
    if np.sum(sw, dtype=np.float64) == 0:
        raise ValueError(
            "Weights sum to zero, can't be normalized. The loss is a mean "
            "weighted by sample_weight (times the weights of class_weight), "
            "so the weights must not sum to zero."
        )
    return sw


#: scikit-learn's words (``_check_sample_weight``) for all-zero weights.
_ALL_ZERO = "Sample weights must contain at least one non-zero number."
