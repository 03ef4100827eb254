"""
The benchmarks, as a chart
==========================

``python benches/report.py`` times every scenario in fastnn and its rivals
(scikit-learn's MLP, the lecture's NumPy code, PyTorch on the CPU), in the same
run, on the same networks, initial weights, data and epochs, and prints a markdown
table; :doc:`/performance` holds the latest run's table. This example reads that
table from the page's source and draws each rival's time as a multiple of
fastnn's (above 1: fastnn is faster). P5 is not training speed: it is a fresh
process's import and first fit on a warm Numba cache, where MLPClassifier is still
faster (the first-use section of :doc:`/performance` says why).
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt

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
colors = dict(zip(ratios, plt.rcParams["axes.prop_cycle"].by_key()["color"],
                  strict=False))
width = 0.25
labelled = set()
for i, scenario in enumerate(scenarios):
    present = [system for system in ratios if scenario in ratios[system]]
    for k, system in enumerate(present):
        x = i + (k - (len(present) - 1) / 2) * width
        bar = ax.bar(x, ratios[system][scenario], width, color=colors[system],
                     label=None if system in labelled else system)
        labelled.add(system)
        ax.bar_label(bar, fmt="%.1fx", fontsize=7)
ax.axhline(1, color="k", lw=0.8)
ax.set_xticks(range(len(scenarios)), scenarios)
ax.set_yscale("log")
ax.set(ylabel="rival's time / fastnn's time", title="fastnn against its rivals "
       "(benches/report.py, see the Performance page)")
ax.legend()
