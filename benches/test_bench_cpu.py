"""fastnn against MLPClassifier, the lecture's NumPy code and PyTorch, on the CPU.

Scenarios (see ``scenarios.py``): P1 the lecture's flower network, P2 Adam on
minibatches (P2R: its regression twin, against MLPRegressor), P3 a large data
set (time, share of the machine's sgemm throughput, peak memory), P4 a grid
search, P5 a cold start in a new interpreter, P6 sparse CSR input (fastnn and
MLPClassifier only; time and peak memory). Each
benchmark warms its system up before timing and records the epochs, the time
per epoch and the accuracy in ``extra_info``.

    python -m pytest benches/ --benchmark-only      # full scenarios
    python -m pytest benches/ --benchmark-disable   # smoke run, a minute or two
"""

import pytest
import scenarios

FIT_CASES = [(name, system) for name in ("P1", "P2", "P3", "P6", "P2R")
             for system in scenarios.get(name).systems]


def _skip_unavailable(system):
    reason = scenarios.available(system)
    if reason:
        pytest.skip(reason)


def _measure(benchmark, runner, scenario, rounds):
    benchmark.group = f"{scenario.name} {scenario.title}"
    runner.warm_up()
    benchmark.pedantic(runner.run, rounds=rounds, iterations=1)
    result = runner.result()
    benchmark.extra_info.update(result.extra_info())
    return result


@pytest.fixture(scope="session")
def sgemm_gflops(bench_config):
    """The machine's float32 matmul throughput (GFLOP/s), measured once."""
    return scenarios.measure_sgemm(n=1024 if bench_config.quick else 4096)


@pytest.mark.parametrize(("name", "system"), FIT_CASES,
                         ids=[f"{n}-{s}" for n, s in FIT_CASES])
def test_fit(benchmark, bench_config, request, name, system):
    _skip_unavailable(system)
    scenario = scenarios.get(name, bench_config)
    runner = scenarios.FitRunner(system, scenario)
    result = _measure(benchmark, runner, scenario, scenario.rounds)
    if name == "P3":
        n, d, k = scenarios.data_shape(scenario)
        flops = scenarios.flops_per_epoch(n, d, scenario.n_hidden, 1 if k == 2 else k)
        gflops = flops / result.per_epoch / 1e9
        sgemm = request.getfixturevalue("sgemm_gflops")
        benchmark.extra_info.update(
            flops_per_epoch=flops, flops_formula=scenarios.FLOPS_FORMULA,
            gflops=gflops, sgemm_gflops=sgemm, fraction_of_sgemm=gflops / sgemm,
        )


@pytest.mark.parametrize("variant", list(scenarios.GRID_VARIANTS))
def test_grid(benchmark, bench_config, variant):
    scenario = scenarios.get("P4", bench_config)
    _measure(benchmark, scenarios.GridRunner(variant, scenario), scenario,
             scenario.rounds)


@pytest.mark.parametrize("variant", list(scenarios.COLD_VARIANTS))
def test_cold_start(benchmark, bench_config, variant):
    scenario = scenarios.get("P5", bench_config)
    rounds = 1 if variant == "fastnn-compile" else scenario.rounds
    _measure(benchmark, scenarios.ColdStartRunner(variant, scenario), scenario,
             rounds)


MEMORY_CASES = [(name, system) for name in ("P3", "P6")
                for system in scenarios.get(name).systems]


@pytest.mark.parametrize(("name", "system"), MEMORY_CASES,
                         ids=[f"{n}-{s}" for n, s in MEMORY_CASES])
def test_peak_memory(benchmark, bench_config, name, system):
    _skip_unavailable(system)
    scenario = scenarios.get(name, bench_config)
    benchmark.group = f"{name} peak memory (child process; time is not the measure)"
    runner = scenarios.PeakMemoryRunner(system, scenario, bench_config)
    benchmark.pedantic(runner.run, rounds=1, iterations=1)
    benchmark.extra_info.update(runner.result())
