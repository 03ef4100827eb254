"""The documentation: every code block of its pages runs as written.

Each Markdown page of ``docs/`` (and the README) is run as one script, its
```` ```python ```` blocks in order, in a fresh process whose working directory
is a temporary one (pages write files such as ``flower.skops``). The GPU page runs
in numba-cuda's simulator where there is no GPU, as the CUDA tests do. The
gallery's examples and the lecture run when the site is built (``.ci/run``).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATED = ("_build", "auto_examples", "auto_tutorial", "generated")
_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)


def _pages():
    pages = [ROOT / "README.md"]
    pages += sorted(p for p in DOCS.rglob("*.md")
                    if not set(p.relative_to(DOCS).parts) & set(GENERATED))
    return pages


def code_of(page):
    """The page's ```python blocks, joined in order."""
    return "\n".join(_BLOCK.findall(page.read_text(encoding="utf-8")))


PAGES_WITH_CODE = [page for page in _pages() if code_of(page)]


def test_the_pages_hold_code():
    # A change of fence syntax must not make every page "pass" with nothing run.
    names = {str(page.relative_to(ROOT)) for page in PAGES_WITH_CODE}
    assert len(names) >= 15, names
    assert {"README.md", "docs/user-guide/persistence.md",
            "docs/user-guide/gpu.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE,
                         ids=lambda page: str(page.relative_to(ROOT)))
def test_page_code_runs(page, tmp_path):
    env = {**os.environ, "MPLBACKEND": "agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    if page.name == "gpu.md":
        env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    done = subprocess.run([sys.executable, "-c", code_of(page)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 12 * 1024
    # Its links into the docs point at pages that exist.
    for target in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (ROOT / target).exists(), target


def test_every_page_is_in_the_site():
    # Sphinx warns (an error under -W) about pages in no toctree; this names them
    # without a build.
    sources = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS)
        if set(rel.parts) & set(GENERATED) or rel == Path("index.md"):
            continue
        name = rel.with_suffix("").as_posix()
        leaf = rel.with_suffix("").name
        assert re.search(rf"^({re.escape(name)}|{re.escape(leaf)})$", sources,
                         flags=re.MULTILINE), f"{rel} is in no toctree"


def test_the_gallery_has_its_examples():
    examples = sorted((DOCS / "examples").glob("plot_*.py"))
    assert len(examples) >= 8, examples
    for example in examples:
        text = example.read_text(encoding="utf-8")
        # sphinx-gallery needs a docstring title; every example draws a figure.
        assert text.startswith('"""\n'), example.name
        assert "plt." in text or "plot_study" in text, example.name
