"""Accuracy of the vectorisable exp / tanh / log against libm (NumPy)."""

import numba
import numpy as np
import pytest

from fastnn._config import FASTMATH
from fastnn.cpu import fastmath

# Worst-case error, in units in the last place of the float64 result, that we
# accept: the polynomials are accurate to ~1e-17, the rest is rounding.
MAX_ULPS = {"exp": 2, "tanh": 4, "log": 2}


def _vectorised(func):
    # Compiled with the kernels' own fastmath flags, as the kernels inline them.
    @numba.njit(fastmath=FASTMATH, error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = func(x[i])

    def call(x):
        out = np.empty_like(x)
        apply(x, out)
        return out

    return call


fast_exp = _vectorised(fastmath.exp)
fast_tanh = _vectorised(fastmath.tanh)
fast_log = _vectorised(fastmath.log)


def _ulps(got, want):
    spacing = np.spacing(np.abs(want)).clip(np.finfo(np.float64).tiny)
    return np.max(np.abs(got - want) / spacing)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_exp_accuracy_over_the_normal_range(rng):
    x = np.concatenate(
        [
            rng.uniform(-708.39, 709.78, 200_000),
            rng.uniform(-1, 1, 100_000),
            rng.uniform(-1e-10, 1e-10, 10_000),
            [0.0, -0.0, 1.0, -1.0, 709.78, -708.39],
        ]
    )
    assert _ulps(fast_exp(x), np.exp(x)) <= MAX_ULPS["exp"]


def test_exp_overflow_underflow_and_special_values():
    x = np.array([709.79, 710.0, 1e30, np.inf, -708.4, -745.2, -1e30, -np.inf])
    got = fast_exp(x)
    np.testing.assert_array_equal(got[:4], np.inf)
    # Results below the smallest normal number are flushed to zero (documented).
    np.testing.assert_array_equal(got[4:], 0.0)
    assert np.isnan(fast_exp(np.array([np.nan])))[0]
    # Just below the overflow threshold the result is finite and accurate.
    edge = np.array([709.782712893383])
    assert np.isfinite(fast_exp(edge)[0])
    assert _ulps(fast_exp(edge), np.exp(edge)) <= MAX_ULPS["exp"]


def test_tanh_accuracy_everywhere(rng):
    x = np.concatenate(
        [
            rng.uniform(-20, 20, 200_000),
            rng.uniform(-1, 1, 100_000),
            rng.uniform(-1e-6, 1e-6, 10_000),
            10.0 ** rng.uniform(-300, -8, 10_000),
            [0.0, 19.0, 20.0, 25.0, 1e30, -1e30, np.inf, -np.inf],
        ]
    )
    got = fast_tanh(x)
    assert _ulps(got, np.tanh(x)) <= MAX_ULPS["tanh"]
    assert np.all(np.abs(got) <= 1.0)
    assert np.isnan(fast_tanh(np.array([np.nan])))[0]
    # Odd symmetry holds exactly (the sign of zero is not kept: tanh(-0.0) = 0.0).
    np.testing.assert_array_equal(fast_tanh(-x), -got)


def test_log_accuracy_over_the_loss_domain(rng):
    # The loss takes the log of probabilities clipped to [eps, 1 - eps].
    p = np.concatenate(
        [
            rng.uniform(np.finfo(np.float64).eps, 1.0, 200_000),
            np.exp(rng.uniform(-36.5, 0.0, 200_000)),
            [np.finfo(np.float64).eps, np.finfo(np.float32).eps, 0.5, 1.0],
            [1.0 - np.finfo(np.float64).eps, 1.0 - np.finfo(np.float32).eps],
        ]
    )
    got = fast_log(p)
    want = np.log(p)
    # log is near 0 around 1: there an absolute bound is the meaningful one.
    far = np.abs(want) > 1e-3
    assert _ulps(got[far], want[far]) <= MAX_ULPS["log"]
    assert np.max(np.abs(got[~far] - want[~far])) <= 2 * np.finfo(np.float64).eps
    # Beyond the clipped domain it still works for any positive normal number.
    big = np.array([1e-300, 1e-30, 3.0, 1e30, 1e300])
    assert _ulps(fast_log(big), np.log(big)) <= MAX_ULPS["log"]


def test_log_outside_its_domain():
    x = np.array([0.0, -0.0, -1.0, -np.inf, np.nan, np.inf])
    got = fast_log(x)
    np.testing.assert_array_equal(got[:2], [-np.inf, -np.inf])
    assert np.isnan(got[2:5]).all()
    assert got[5] == np.inf


@pytest.mark.parametrize("dtype, wide", [(np.float64, True), (np.float32, False)])
def test_wide_vectors_marks_float64_kernels_only(dtype, wide):
    # A kernel that calls it carries LLVM's prefer-vector-width=512 attribute
    # when compiled for float64 arrays (8 lanes of 512 bits), not for float32
    # ones (8 lanes of 256 bits already), and the kernel still computes.
    @numba.njit(fastmath=FASTMATH, error_model="numpy")
    def kernel(x, out):
        fastmath.wide_vectors(x)
        for i in range(x.shape[0]):
            out[i] = fastmath.tanh(x[i])

    x = np.linspace(-3, 3, 101).astype(dtype)
    out = np.empty_like(x)
    kernel(x, out)
    np.testing.assert_allclose(out, np.tanh(x), rtol=1e-6)
    ir = kernel.inspect_llvm(kernel.signatures[0])
    assert ('"prefer-vector-width"="512"' in ir) == wide
