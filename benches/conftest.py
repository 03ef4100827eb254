"""Options of the benchmark suite.

``--bench-scale`` (env ``FASTNN_BENCH_SCALE``) multiplies every scenario's epochs;
``--bench-quick`` (env ``FASTNN_BENCH_QUICK=1``) shrinks P3's data set from
200000 to 20000 rows. With ``--benchmark-disable`` both default to the smoke
settings (1% of the epochs, quick data), so that the suite runs through in a
minute or two; otherwise to the full scenarios.
"""

import os

import pytest
import scenarios


def pytest_addoption(parser):
    group = parser.getgroup("fastnn benches")
    group.addoption(
        "--bench-scale", type=float, default=None,
        help="multiply every scenario's epochs by this factor (env "
             "FASTNN_BENCH_SCALE; default 1, or 0.01 with --benchmark-disable)",
    )
    group.addoption(
        "--bench-quick", action="store_true", default=None,
        help="use the small data sets (env FASTNN_BENCH_QUICK=1; default with "
             "--benchmark-disable)",
    )


def _resolve(config):
    smoke = bool(config.getoption("benchmark_disable", default=False))
    scale = config.getoption("bench_scale")
    if scale is None and os.environ.get("FASTNN_BENCH_SCALE"):
        scale = float(os.environ["FASTNN_BENCH_SCALE"])
    if scale is None:
        scale = scenarios.SMOKE_SCALE if smoke else 1.0
    quick = config.getoption("bench_quick")
    if quick is None and os.environ.get("FASTNN_BENCH_QUICK"):
        quick = os.environ["FASTNN_BENCH_QUICK"] not in ("", "0")
    if quick is None:
        quick = smoke
    return scenarios.Config(scale=scale, quick=quick)


@pytest.fixture(scope="session")
def bench_config(pytestconfig):
    """The :class:`scenarios.Config` the options and environment ask for."""
    return _resolve(pytestconfig)


def pytest_report_header(config):
    resolved = _resolve(config)
    return f"fastnn benches: epochs x {resolved.scale:g}, quick data: {resolved.quick}"
