"""fastnn ``device='cuda'`` against PyTorch on the same GPU (P2, P3, P3 at 2M rows).

Both systems train the same network (same Glorot initial weights, activation,
Adam, batch size, epochs, dtype) with the data resident on the GPU; PyTorch
reads its loss back once per epoch, as fastnn does. Skips without a physical
NVIDIA GPU (never in the CUDA simulator), and the PyTorch rows skip without
``torch.cuda``.

    python -m pytest benches/test_bench_cuda.py --benchmark-only
"""

import functools
import time

import numpy as np
import pytest
import scenarios

#: P3's network on ten times P3's rows.
P3_2M_ROWS = 2_000_000
CASES = [(name, system) for name in ("P2", "P3", "P3-2M")
         for system in ("fastnn-cuda", "torch-cuda")]


@pytest.fixture(scope="module", autouse=True)
def real_gpu():
    from fastnn import _device

    if not _device.real_gpu():
        pytest.skip("needs a physical NVIDIA GPU")


@functools.lru_cache(maxsize=1)
def _p3_2m_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(P3_2M_ROWS, 100, n_informative=50, random_state=0)
    return X.astype(np.float32), y


def _scenario_and_data(name, bench_config):
    if name == "P3-2M":
        return scenarios.get("P3", bench_config), _p3_2m_data()
    scenario = scenarios.get(name, bench_config)
    return scenario, scenarios.load_data(scenario)


def _fastnn_fit(scenario, X, y, epochs):
    from numba import cuda

    spec = scenarios.estimator_spec("fastnn", scenario, len(X), epochs=epochs,
                                    device="cuda")
    estimator = scenarios.build(spec)
    X_gpu = cuda.to_device(X)  # resident, as the torch rival's tensors are
    tic = time.perf_counter()
    scenarios._quiet_fit(estimator, X_gpu, y)
    seconds = time.perf_counter() - tic
    return seconds, float(estimator.score(X_gpu, y))


def _torch_fit(scenario, X, y, epochs):
    import torch
    from torch import nn

    device = torch.device("cuda")
    spec = scenarios.estimator_spec("torch", scenario, len(X), epochs=epochs)
    rival = scenarios.build(spec)
    classes, labels = np.unique(y, return_inverse=True)
    n_outputs = 1 if len(classes) == 2 else len(classes)
    Xt = torch.as_tensor(X, device=device)
    model = rival._build(X.shape[1], n_outputs, Xt.dtype).to(device)
    if n_outputs == 1:
        target = torch.as_tensor(labels, device=device).to(Xt.dtype)[:, None]
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        target = torch.as_tensor(labels, device=device)
        loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=scenario.learning_rate_init)
    n, batch_size = len(X), scenario.batch_size
    torch.cuda.synchronize()
    tic = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        total = torch.zeros((), device=device, dtype=Xt.dtype)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(Xt[idx]), target[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() * idx.shape[0]
        float(total)  # the loss is read back once per epoch
    torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    with torch.no_grad():
        logits = model(Xt)
        predicted = (logits[:, 0] > 0).long() if n_outputs == 1 else logits.argmax(1)
        accuracy = float((predicted == torch.as_tensor(labels, device=device))
                         .double().mean())
    return seconds, accuracy


@pytest.mark.parametrize(("name", "system"), CASES,
                         ids=[f"{n}-{s}" for n, s in CASES])
def test_fit_cuda(benchmark, bench_config, name, system):
    if system == "torch-cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("PyTorch has no CUDA")
    scenario, (X, y) = _scenario_and_data(name, bench_config)
    fit = _fastnn_fit if system == "fastnn-cuda" else _torch_fit
    fit(scenario, X[: scenarios.WARMUP_ROWS], y[: scenarios.WARMUP_ROWS],
        scenarios.WARMUP_EPOCHS)  # compilation and CUDA context, not timed
    results = []
    benchmark.group = f"{name} CUDA"
    benchmark.pedantic(lambda: results.append(fit(scenario, X, y, scenario.epochs)),
                       rounds=scenario.rounds, iterations=1)
    seconds, accuracy = min(results)
    benchmark.extra_info.update(
        scenario=name, system=system, epochs=scenario.epochs, seconds=seconds,
        time_per_epoch_s=seconds / scenario.epochs, accuracy=accuracy,
        data=f"{X.shape[0]}x{X.shape[1]}", dtype=str(X.dtype),
    )
