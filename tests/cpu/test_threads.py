"""Fits are bit-identical whatever the number of threads, and follow OMP limits."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_FIT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sklearn.datasets import make_classification
    from fastnn import ShallowNNClassifier
    from fastnn.cpu import threads

    n_features, n_hidden, solver, n_samples, batch_size, path = sys.argv[1:]
    X, y = make_classification(int(n_samples), int(n_features), n_informative=8,
                               n_classes=3, random_state=0)
    clf = ShallowNNClassifier(int(n_hidden), solver=solver,
                              batch_size=int(batch_size), max_iter=5,
                              random_state=0).fit(X, y)
    np.savez(path, *clf.coefs_, *clf.intercepts_, clf.predict_proba(X),
             threads=threads.n_threads())
    """
)


def _fit_in_subprocess(tmp_path, n_threads, n_features, n_hidden, solver, n_samples,
                       batch_size):
    path = tmp_path / f"fit-{n_threads}.npz"
    env = {**os.environ, "NUMBA_NUM_THREADS": str(n_threads)}
    env.pop("OMP_NUM_THREADS", None)
    subprocess.run(
        [sys.executable, "-c", _FIT, str(n_features), str(n_hidden), solver,
         str(n_samples), str(batch_size), str(path)],
        env=env,
        check=True,
        timeout=600,
    )
    return np.load(path)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
@pytest.mark.parametrize(
    "n_features, n_hidden, solver, n_samples, batch_size",
    [
        # BLAS, few input features (the untransposed first-layer gradient).
        (20, 64, "adam", 3000, 1000),
        # BLAS, wide inputs.
        (64, 64, "sgd", 3000, 1000),
        # Hand loops (10 * 3 weights < BLAS_MIN_WEIGHTS) on a batch big enough for
        # the parallel block loop; the epoch's last batch of 1000 rows is not.
        (10, 3, "adam", 6000, 5000),
    ],
    ids=["blas-narrow", "blas-wide", "loops"],
)
def test_fit_is_bit_identical_with_one_or_two_threads(
    tmp_path, n_features, n_hidden, solver, n_samples, batch_size
):
    from fastnn.cpu import network
    from fastnn.ops.layout import Layout

    layout = Layout.of(n_features, n_hidden, 3)
    assert network.use_blas(n_features, n_hidden) == (n_hidden == 64)
    assert network.parallelism(layout, batch_size, 2) == 2
    args = (n_features, n_hidden, solver, n_samples, batch_size)
    one = _fit_in_subprocess(tmp_path, 1, *args)
    two = _fit_in_subprocess(tmp_path, 2, *args)
    assert int(one["threads"]) == 1
    assert int(two["threads"]) == 2
    for key in one.files:
        if key != "threads":
            assert one[key].tobytes() == two[key].tobytes(), key


def test_thread_count_follows_threadpoolctl_limits():
    from threadpoolctl import threadpool_limits

    from fastnn.cpu import threads

    with threadpool_limits(1, user_api="openmp"):
        assert threads.n_threads() == 1


def _fake_distributed(get_worker):
    import types

    module = types.ModuleType("distributed")
    module.get_worker = get_worker
    return module


def test_thread_count_is_capped_by_the_dask_worker_of_the_task(monkeypatch):
    import types

    from fastnn.cpu import threads

    monkeypatch.setattr(threads, "_openmp_effective_n_threads", lambda: 4)
    monkeypatch.setattr(threads.numba.config, "NUMBA_NUM_THREADS", 4)
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    assert threads.n_threads() == 4

    def outside_a_task():
        raise ValueError("No worker found")

    monkeypatch.setitem(sys.modules, "distributed", _fake_distributed(outside_a_task))
    assert threads.n_threads() == 4
    for worker_threads, expected in [(1, 1), (3, 3), (8, 4)]:
        worker = types.SimpleNamespace(state=types.SimpleNamespace(
            nthreads=worker_threads))
        monkeypatch.setitem(sys.modules, "distributed",
                            _fake_distributed(lambda w=worker: w))
        assert threads.n_threads() == expected


def test_import_fastnn_does_not_import_dask():
    code = ("import sys, fastnn; "
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
