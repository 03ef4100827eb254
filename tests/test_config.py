"""The numba cache falls back to a writable directory on read-only installs."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn

_RUN = """
import numpy as np, fastnn
from fastnn import _config
X, y = fastnn.make_flower(40)
clf = fastnn.ShallowNNClassifier(3, "tanh", solver="gd", max_iter=5).fit(X, y)
print(_config.CACHE, np.isfinite(clf.predict_proba(X)).all())
"""


def _read_only_tree(root):
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_install_imports_and_fits(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(Path(fastnn.__file__).parent, site / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    _read_only_tree(site)
    _read_only_tree(home)
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(home),
           "XDG_CACHE_HOME": str(home / ".cache"), "TMPDIR": str(tmp_path / "tmp")}
    env.pop("NUMBA_CACHE_DIR", None)
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-c", _RUN], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    assert out.split() == ["True", "True"]


def test_choose_cache_falls_back_to_temp_then_to_no_cache(monkeypatch, tmp_path):
    from fastnn import _config

    writable = {str(tmp_path / "tmp")}
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(
        _config, "_writable", lambda path: any(str(path).startswith(w)
                                               for w in writable)
    )
    monkeypatch.setattr(_config.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setattr(_config._numba_config, "CACHE_DIR", "")
    assert _config._choose_cache() is True
    assert _config._numba_config.CACHE_DIR.startswith(str(tmp_path / "tmp"))
    writable.clear()
    assert _config._choose_cache() is False
