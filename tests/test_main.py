"""``python -m fastnn``: README's main job, end to end, in a fresh process."""

import re
import subprocess
import sys

import pytest


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fastnn", *args], capture_output=True, text=True,
        check=True, timeout=600, env=env,
    ).stdout


def test_main_job_trains_both_models_alike():
    out = _run("--epochs", "50")
    assert "50 epochs of full-batch gradient descent" in out
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^(fastnn|MLPClassifier)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s", out, re.M)}
    assert set(rows) == {"fastnn", "MLPClassifier"}
    # Same algorithm, same seed: same accuracy, loss and epoch count.
    assert rows["fastnn"] == rows["MLPClassifier"]
    assert rows["fastnn"][2] == "50"
    diffs = [float(x) for x in re.findall(r"difference\|:\s+([\d.e+-]+)", out)]
    assert len(diffs) == 2
    assert max(diffs) < 1e-10
    assert re.search(r"speed-up \(MLPClassifier fit / fastnn fit\): [\d.]+x", out)


def test_main_rejects_an_unknown_command():
    with pytest.raises(subprocess.CalledProcessError) as info:
        subprocess.run([sys.executable, "-m", "fastnn", "compiel"],
                       capture_output=True, text=True, check=True, timeout=60)
    assert "invalid choice: 'compiel'" in info.value.stderr
