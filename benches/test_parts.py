"""``benches/parts.py`` runs through: each part prints its table, one row a kernel."""

import parts


def test_parts_print_a_row_per_kernel(capsys):
    parts.main(["--only", "p1,p3", "--repeat", "100"])
    out = capsys.readouterr().out
    assert out.count("### ") == 2
    for kernel in ("block_task, training", "activate: 1600 tanh", "hidden_delta",
                   "sgemm W1^T X^T", "descend"):
        line = next(line for line in out.splitlines() if kernel in line)
        assert line.endswith(" us |") and float(line.split("|")[-2].split()[0]) > 0
