"""``to_sklearn()`` of a CUDA-fitted model (fastnn/_export.py).

The weights and the optimizer state of a ``device='cuda'`` fit come back to
host arrays, so the export is a plain MLP: it predicts as the model, on the
CPU, and its ``partial_fit`` continues the CUDA fit as the CPU would.
"""

import warnings

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNClassifier


def test_cuda_fit_exports_host_arrays_and_continues_on_the_cpu():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = dict(n_hidden=3, solver="adam", shuffle=False, batch_size=8,
                  max_iter=3, learning_rate_init=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpu = ShallowNNClassifier(device="cuda", **params).fit(X, y)
    mlp = gpu.to_sklearn()
    for array in mlp.coefs_ + mlp.intercepts_ + mlp._optimizer.ms:
        assert type(array) is np.ndarray
    assert_array_equal(mlp.predict(X), gpu.predict(X))
    assert_allclose(mlp.predict_proba(X), gpu.predict_proba(X), rtol=1e-12)
    cpu = ShallowNNClassifier(device="cpu", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cpu.fit(X, y)
    mlp.partial_fit(X, y)
    cpu.partial_fit(X, y)
    for ours, theirs in zip(cpu.coefs_, mlp.coefs_, strict=True):
        assert_allclose(theirs, ours, rtol=1e-8, atol=1e-12)
