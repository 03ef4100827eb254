"""fastnn.study and ``python -m fastnn study``: the lecture's numbers, figures."""

import functools
import re
import sys

import numpy as np
import pytest

from fastnn import __main__ as cli
from fastnn import study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    """The whole study as the command runs it: 7 sizes, 5000 epochs, data sets."""
    return study.run_study()


def _table_rows(text):
    """``label -> (accuracy, lecture)`` of the flower table's printed rows."""
    pattern = r"^(\d+ hidden units?|logistic regression)\s+([\d.]+)\s+([\d.]+|-)\s"
    return {m.group(1): (float(m.group(2)), m.group(3))
            for m in re.finditer(pattern, text, re.M)}


def _png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_study_reproduces_the_lectures_accuracies(result):
    got = {fit.estimator.n_hidden: fit.accuracy for fit in result.networks}
    assert [fit.estimator.n_iter_ for fit in result.networks] == [5000] * 7
    assert {h: round(a, 2) for h, a in got.items()} == study.LECTURE_ACCURACY
    assert [fit.lecture for fit in result.networks] == [
        study.LECTURE_ACCURACY[h] for h in study.LECTURE_HIDDEN_SIZES]
    assert round(result.logistic.accuracy, 2) == study.LECTURE_LOGISTIC_ACCURACY == 47
    assert all(fit.fit_time > 0 for fit in (*result.networks, result.logistic))


def test_printed_table_shows_our_numbers_beside_the_lectures(result):
    text = study.format_study(result)
    rows = _table_rows(text)
    expected = {study._units(h): (a, f"{a:.2f}")
                for h, a in study.LECTURE_ACCURACY.items()}
    expected["logistic regression"] = (47.0, "47.00")
    assert rows == expected
    assert "5000 epochs" in text and "learning rate 1.2" in text
    assert re.search(r"first call \(compile or cache load\): [\d.]+ s", text)


def test_other_data_sets_are_seeded_and_tabled(result):
    names = ["noisy_circles", "noisy_moons", "blobs", "gaussian_quantiles"]
    assert [d.name for d in result.datasets] == names
    again = study.lecture_datasets()
    for fits in result.datasets:
        X, y = again[fits.name]
        np.testing.assert_array_equal(fits.X, X)
        np.testing.assert_array_equal(fits.y, y)
        assert X.shape == (200, 2)
        assert set(np.unique(y)) == {0, 1}  # blobs' six centres made binary
        assert fits.network.estimator.n_hidden == study.DATASETS_HIDDEN
        # Every one of them has a curved boundary: the network beats the line.
        assert fits.network.accuracy > fits.logistic.accuracy + 10, fits.name
    text = study.format_study(result)
    for fits in result.datasets:
        assert re.search(rf"^{fits.name}\s+{fits.network.accuracy:.2f}\s+"
                         rf"{fits.logistic.accuracy:.2f}\s", text, re.M)


def test_other_epoch_counts_print_no_lecture_numbers():
    short = study.run_study((2,), max_iter=50, datasets=False)
    assert short.networks[0].lecture is None
    assert short.datasets == ()
    rows = _table_rows(study.format_study(short))
    assert rows["2 hidden units"][1] == "-"
    assert rows["logistic regression"] == (47.0, "47.00")
    assert "other data sets" not in study.format_study(short)


def test_study_without_matplotlib_prints_tables_and_how_to_get_figures(
        result, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    monkeypatch.setattr(study, "run_study", lambda: result)
    cli.main(["study", "--out", str(tmp_path / "figures")])
    out = capsys.readouterr().out
    assert _table_rows(out)["3 hidden units"] == (90.75, "90.75")
    assert "noisy_moons" in out
    assert 'pip install "fastnn-shallow[plot]"' in out
    assert "Traceback" not in out
    assert not (tmp_path / "figures").exists()


def test_study_command_prints_the_tables_and_writes_the_figures(
        result, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    # The study itself is the fixture's; a coarse grid keeps prediction serial,
    # so no parallel kernel compiles for the figures.
    monkeypatch.setattr(study, "run_study", lambda: result)
    monkeypatch.setattr(study, "plot_study", functools.partial(
        study.plot_study, grid_resolution=20, dpi=50))
    out_dir = tmp_path / "new" / "dir"
    cli.main(["study", "--out", str(out_dir)])
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert rows["5 hidden units"] == (91.25, "91.25")
    assert rows["50 hidden units"] == (90.25, "90.25")
    assert rows["logistic regression"] == (47.0, "47.00")
    names = ["flower-decision-boundaries.png", "flower-loss-curves.png",
             "datasets-decision-boundaries.png"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(names)
    for name in names:
        assert f"wrote {out_dir / name}" in out
        assert (out_dir / name).stat().st_size > 1000
    sizes = [_png_size(out_dir / name) for name in names]
    # 8 panels (7 sizes + the baseline) in 2 rows of 4, 3 inches each, at 50 dpi;
    # the data sets' 2 rows of 4.
    assert sizes[0] == sizes[2] == (600, 300)
    assert sizes[1] == (350, 225)
    assert "matplotlib" not in out


def test_study_is_a_command_choice():
    args = cli._build_parser().parse_args(["study"])
    assert (args.command, args.out) == ("study", "fastnn-study")
    assert cli._build_parser().parse_args(["study", "--out", "x"]).out == "x"
