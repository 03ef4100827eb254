"""``benches/compile_time.py`` runs through: each measurement prints its rows.

A ``--smoke`` run (the environment's Numba cache, tiny sizes) of the measurements
added for issue 19 and of the precompile check; nothing here looks at timings.
"""

import json

import compile_time


def _rows(out):
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in lines[1:]]  # the first is the header


def test_compile_time_prints_every_row(capsys, tmp_path):
    raw = tmp_path / "raw.json"
    compile_time.main(["--smoke", "--only", "early,threaded,script,precompile",
                       "--repeat", "1", "--json", str(raw)])
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 4 + 5 + 2 + 4
    for what, fastnn, _mlp, units, _budget, verdict, _note in rows:
        assert fastnn != "error" and verdict != "ERROR", what
        if fastnn != "-":
            assert float(fastnn) > 0, what
        assert units.isdigit(), what  # every fastnn step reports its compiled units
    script = [note for what, *_, note in rows if what.startswith("first script")]
    assert all("final losses: 28/28 agree with MLP's" in note for note in script)
    assert json.loads(raw.read_text())["measurements"].keys() == {
        "early", "threaded", "script", "precompile"}
