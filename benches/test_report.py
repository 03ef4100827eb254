"""``benches/report.py`` runs through and prints the goals it is judged by.

A smoke run (P1 at 1% of its epochs): the table has a row per system and the
goals section states each P1 goal with the ratio this run measured.
"""

import re

import report
import scenarios


def test_report_prints_the_table_and_the_goals(capsys):
    report.main(["--quick", "--scale", "0.01", "--scenarios", "P1"])
    out = capsys.readouterr().out
    assert "| P1 | fastnn |" in out
    assert "### Goals" in out
    goals = out[out.index("### Goals"):]
    for scenario, rival, least in scenarios.SPEED_GOALS:
        name = f"{scenario}: {scenarios.LABELS[rival]} / fastnn >= {least:g}x"
        assert name in goals
        row = next(line for line in goals.splitlines() if name in line)
        if scenario != "P1":
            assert row.endswith("| - | not run |")
        elif scenarios.available(rival) is None:
            # The ratio measured in this run, and its verdict.
            assert re.search(r"\| \d+\.\d\dx \| (met|missed) \|$", row), row
