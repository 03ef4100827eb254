"""
The benchmarks, as a chart
==========================

``python benches/report.py`` times every scenario in fastnn and its rivals
(scikit-learn's MLP, the lecture's NumPy code, PyTorch on the CPU), in the same
run, on the same networks, initial weights, data and epochs, and prints a markdown
table; :doc:`/performance` holds the latest run's table. This example reads that
table from the page's source and draws each rival's time as a multiple of
fastnn's (above 1: fastnn is faster).
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

try:
    here = Path(__file__).resolve().parent
except NameError:  # run by sphinx-gallery from the examples' directory
    here = Path.cwd()
page = (here.parent / "performance.md").read_text(encoding="utf-8")

# Rows "| scenario | system | epochs | time/epoch | total | rival / fastnn | ..."
rows = re.findall(r"^\| (P\d+R?) \| ([^|]+?) \| [^|]+ \| [^|]+ \| [^|]+ \| "
                  r"([\d.]+)x \|", page, flags=re.MULTILINE)
ratios = {}
for scenario, system, ratio in rows:
    if system.startswith("fastnn"):
        continue
    ratios.setdefault(system, {})[scenario] = float(ratio)
scenarios = sorted({s for per in ratios.values() for s in per},
                   key=lambda s: (int(re.sub(r"\D", "", s)), s))
for system, per in ratios.items():
    print(f"{system}: " + ", ".join(f"{s} {per[s]:.1f}x" for s in scenarios
                                      if s in per))

# %%
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
width = 0.8 / len(ratios)
for k, (system, per) in enumerate(ratios.items()):
    xs = [i + k * width for i, s in enumerate(scenarios) if s in per]
    values = [per[s] for s in scenarios if s in per]
    bars = ax.bar(xs, values, width, label=system)
    ax.bar_label(bars, fmt="%.1fx", fontsize=7)
ax.axhline(1, color="k", lw=0.8)
ax.set_xticks(np.arange(len(scenarios)) + 0.4 - width / 2, scenarios)
ax.set_yscale("log")
ax.set(ylabel="rival's time / fastnn's time", title="fastnn against its rivals "
       "(benches/report.py, see the Performance page)")
ax.legend()
