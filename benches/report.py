"""Run the benchmark scenarios directly and print a markdown summary.

    python benches/report.py                     # every scenario, full size
    python benches/report.py --quick             # 10% of the epochs, small data
    python benches/report.py --scenarios P1,P3   # a selection

The scenarios and system runners are those of the pytest benches
(``scenarios.py``). Progress goes to stderr, the report to stdout. Thread
settings are left at the libraries' defaults unless ``--threads`` is given, which
sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``NUMBA_NUM_THREADS`` for this process and its children before anything loads.
"""

import argparse
import os
import sys

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS")


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python benches/report.py",
        description="Time fastnn against its rivals and print a markdown table.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: 10%% of the epochs, P3 on 20000 rows")
    parser.add_argument("--scenarios", default="P1,P2,P3,P4,P5,P6,P2R",
                        help="comma-separated scenarios (default: all)")
    parser.add_argument("--scale", type=float, default=None,
                        help="multiply epochs by this (default 1, or 0.1 with "
                             "--quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="thread count for every library (default: leave "
                             "the libraries' defaults)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip().upper() for s in args.scenarios.split(",")
                      if s.strip()]
    return args


def _progress(message):
    print(message, file=sys.stderr, flush=True)


def _fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _fmt_acc(accuracy):
    return "-" if accuracy is None else f"{accuracy:.4f}"


class Report:
    """Collects the rows of the table and the sections printed under it."""

    def __init__(self):
        self.rows = []  # (Result, note), or (None, "scenario | system | reason")
        self.sections = []
        self.sgemm_fraction = None  # fastnn's P3 throughput over the machine's sgemm

    def add(self, result, note=""):
        self.rows.append((result, note))

    def skip(self, scenario, label, reason):
        self.rows.append((None, f"{scenario.name} | {label} | - | - | - | - | - "
                                f"| skipped: {reason}"))

    def table(self):
        lines = ["| scenario | system | epochs | time/epoch | total | rival / fastnn "
                 "| accuracy | notes |", "|" + "---|" * 8]
        refs = {r.scenario: r for r, _ in self.rows
                if r is not None and r.system == "fastnn"}
        for result, note in self.rows:
            if result is None:
                lines.append(f"| {note} |")
                continue
            ref = refs.get(result.scenario)
            cold = result.scenario == "P5"
            ratio = "-"
            if ref is not None:
                value = (result.seconds / ref.seconds if cold
                         else result.per_epoch / ref.per_epoch)
                ratio = f"{value:.2f}x"
            lines.append(
                f"| {result.scenario} | {result.label} | {result.epochs} "
                f"| {'-' if cold else _fmt_time(result.per_epoch)} "
                f"| {_fmt_time(result.seconds)} | {ratio} "
                f"| {_fmt_acc(result.accuracy)} | {note} |"
            )
        return "\n".join(lines)


def _goals(report, scenarios):
    """The speed goals as a table: each ratio measured in this run, met or not."""
    found = {(r.scenario, r.system): r for r, _ in report.rows if r is not None}
    lines = ["### Goals", "",
             "| goal | measured | status |", "|---|---|---|"]
    for scenario, rival, least in scenarios.SPEED_GOALS:
        ours, theirs = found.get((scenario, "fastnn")), found.get((scenario, rival))
        name = f"{scenario}: {scenarios.LABELS[rival]} / fastnn >= {least:g}x"
        if ours is None or theirs is None:
            lines.append(f"| {name} | - | not run |")
            continue
        ratio = theirs.per_epoch / ours.per_epoch
        lines.append(f"| {name} | {ratio:.2f}x "
                     f"| {'met' if ratio >= least else 'missed'} |")
    if report.sgemm_fraction is not None:
        least = scenarios.P3_MIN_SGEMM_FRACTION
        lines.append(f"| P3: fastnn's throughput >= {least:.0%} of the sgemm rate "
                     f"| {report.sgemm_fraction:.1%} "
                     f"| {'met' if report.sgemm_fraction >= least else 'missed'} |")
    return "\n".join(lines)


def _spread(result):
    """Best of how many rounds, and how much slower the worst was."""
    rounds = result.notes["rounds"]
    if rounds == 1:
        return "1 round"
    worst = result.notes["worst_seconds"] / result.seconds
    return f"best of {rounds} (worst {worst:.2f}x)"


def _run_fits(report, scenarios, scenario):
    for system in scenario.systems:
        label = scenario.label(system)
        reason = scenarios.available(system)
        if reason:
            report.skip(scenario, label, reason)
            continue
        _progress(f"{scenario.name} {label}: {scenario.epochs} epochs")
        runner = scenarios.FitRunner(system, scenario)
        runner.warm_up()
        for _ in range(scenario.rounds):
            runner.run()
        result = runner.result()
        report.add(result, _spread(result))
        yield result


def _p3_sections(report, scenarios, scenario, results, config):
    n, d, k = scenarios.data_shape(scenario)
    h, o = scenario.n_hidden, 1 if k == 2 else k
    _progress("P3 sgemm throughput: np.matmul 4096x4096 float32")
    sgemm = scenarios.measure_sgemm(n=4096)
    flops = scenarios.flops_per_epoch(n, d, h, o)
    lines = [
        "### P3 throughput",
        "",
        f"Machine sgemm: np.matmul of two 4096x4096 float32 matrices, best of 3: "
        f"**{sgemm:.1f} GFLOP/s** (2*4096^3 flops per product).",
        f"{scenarios.FLOPS_FORMULA}.",
        f"With n={n}, d={d}, h={h}, o={o}: {flops / 1e9:.2f} GFLOP per epoch.",
        "",
        "| system | time/epoch | GFLOP/s | fraction of sgemm |",
        "|---|---|---|---|",
    ]
    for result in results:
        gflops = flops / result.per_epoch / 1e9
        if result.system == "fastnn":
            report.sgemm_fraction = gflops / sgemm
        lines.append(f"| {result.label} | {_fmt_time(result.per_epoch)} "
                     f"| {gflops:.1f} | {gflops / sgemm:.1%} |")
    lines += [
        "",
        "### P3 peak memory",
        "",
        "Each system in a fresh child process; baseline = RSS after imports, data "
        "and a warm-up fit; peak = VmHWM during the full fit (reset with "
        "/proc/self/clear_refs; ru_maxrss delta where that is unavailable).",
        "",
        "| system | baseline MiB | peak MiB | peak - baseline MiB | method |",
        "|---|---|---|---|---|",
    ]
    for system in scenarios.SYSTEMS:
        if scenarios.available(system):
            continue
        _progress(f"P3 peak memory: {scenarios.LABELS[system]}")
        runner = scenarios.PeakMemoryRunner(system, scenario, config)
        runner.run()
        mem = runner.result()
        lines.append(
            f"| {scenarios.LABELS[system]} | {mem['baseline_mib']:.1f} "
            f"| {mem['peak_mib']:.1f} | {mem['delta_mib']:.1f} | {mem['method']} |"
        )
    report.sections.append("\n".join(lines))


def _p6_sections(report, scenarios, scenario, results, config):
    times = {r.system: r.per_epoch for r in results}
    ratio = times["sklearn"] / times["fastnn"]
    lines = [
        "### P6 sparse input",
        "",
        "CSR float32 X, never densified by either system. Time: MLPClassifier / "
        f"fastnn per epoch **{ratio:.2f}x** (goal >= {scenarios.P6_MIN_RATIO:g}x: "
        f"{'met' if ratio >= scenarios.P6_MIN_RATIO else 'MISSED'}).",
        "",
        "Peak memory, each system in a fresh child process (as P3's):",
        "",
        "| system | baseline MiB | peak MiB | peak - baseline MiB | goal | method |",
        "|---|---|---|---|---|---|",
    ]
    for system in scenario.systems:
        _progress(f"P6 peak memory: {scenarios.LABELS[system]}")
        runner = scenarios.PeakMemoryRunner(system, scenario, config)
        runner.run()
        mem = runner.result()
        goal = "-"
        if system == "fastnn":
            met = mem["delta_mib"] <= scenarios.P6_MAX_GROWTH_MIB
            goal = (f"<= {scenarios.P6_MAX_GROWTH_MIB:g} MiB: "
                    f"{'met' if met else 'MISSED'}")
        lines.append(
            f"| {scenarios.LABELS[system]} | {mem['baseline_mib']:.1f} "
            f"| {mem['peak_mib']:.1f} | {mem['delta_mib']:.1f} | {goal} "
            f"| {mem['method']} |"
        )
    report.sections.append("\n".join(lines))


def _run_grid(report, scenarios, scenario):
    for variant in scenarios.GRID_VARIANTS:
        _progress(f"P4 grid: {variant}, {scenario.epochs} epochs per fit")
        runner = scenarios.GridRunner(variant, scenario)
        runner.warm_up()
        runner.run()
        result = runner.result()
        best = ", ".join(f"{k}={v}" for k, v in result.notes["best_params"].items())
        report.add(result, f"{result.notes['n_fits']} fits; best CV acc; {best}")
    report.sections.append(f"P4: {scenarios.GRID_DECISION}.")


def _run_cold(report, scenarios, scenario):
    for variant in scenarios.COLD_VARIANTS:
        _progress(f"P5 cold start: {variant}")
        runner = scenarios.ColdStartRunner(variant, scenario)
        runner.warm_up()
        rounds = 1 if variant == "fastnn-compile" else scenario.rounds
        for _ in range(rounds):
            runner.run()
        result = runner.result()
        report.add(result, f"import {result.notes['import_s']:.2f} s, first fit "
                           f"{result.notes['first_fit_s']:.2f} s; {_spread(result)}")
    report.sections.append(
        "P5: total = new interpreter from start to exit (numpy, data from a file, "
        "import of the system, first fit, score); best of the rounds. The compile "
        "row points NUMBA_CACHE_DIR at an empty directory."
    )


def _header(info, scenarios, config, args, loads):
    threads = {}
    for system in scenarios.SYSTEMS:
        if not scenarios.available(system):
            threads.update(scenarios.thread_info(system))
    lines = [
        "## fastnn benchmark report",
        "",
        f"- date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores",
        f"- fastnn {info['fastnn']}",
        f"- Python {info['python']}, numpy {info['numpy']}, numba {info['numba']}, "
        f"scikit-learn {info['sklearn']}, torch {info['torch'] or 'not installed'}",
        "- threads: " + ", ".join(f"{k}={v}" for k, v in threads.items())
        + (f" (set by --threads {args.threads})" if args.threads
           else " (library defaults)"),
        f"- epochs x {config.scale:g}; P3 data: "
        f"{'20000 rows (quick)' if config.quick else '200000 rows'}; P6 data: "
        f"{'2000 rows (quick)' if config.quick else '200000 rows'}",
        f"- load average (1 min) at start {loads[0]:.2f}, at end {loads[1]:.2f}: "
        "values near or above the core count mean other processes shared the "
        "cores and the times are noisy",
        "- same network, hyper-parameters, initial weights and data for every "
        "system of a scenario; alpha=0, every epoch runs (tol=0); compilation "
        "excluded by a warm-up fit",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = _parse(argv)
    if args.threads:
        for variable in _THREAD_VARIABLES:
            os.environ[variable] = str(args.threads)
    # Imported only now, so that --threads is seen by every library as it loads.
    import scenarios

    unknown = set(args.scenarios) - set(scenarios.SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {sorted(unknown)}")
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    config = scenarios.Config(scale=scale, quick=args.quick)
    report = Report()
    load_start = os.getloadavg()[0]
    info = scenarios.machine_info()
    for name in args.scenarios:
        scenario = scenarios.get(name, config)
        if name in ("P1", "P2", "P3", "P6", "P2R"):
            results = list(_run_fits(report, scenarios, scenario))
            if name == "P3":
                _p3_sections(report, scenarios, scenario, results, config)
            if name == "P6":
                _p6_sections(report, scenarios, scenario, results, config)
        elif name == "P4":
            _run_grid(report, scenarios, scenario)
        else:
            _run_cold(report, scenarios, scenario)
    print(_header(info, scenarios, config, args, (load_start, os.getloadavg()[0])))
    print()
    print("rival / fastnn: the system's time per epoch over fastnn's in the same "
          "scenario (P5: total over fastnn's warm-cache total); above 1, fastnn is "
          "faster. Accuracy on the training set (P4: best mean CV accuracy; "
          "P2R: R^2).")
    print()
    print(report.table())
    for section in report.sections:
        print()
        print(section)
    print()
    print(_goals(report, scenarios))


if __name__ == "__main__":
    main()
