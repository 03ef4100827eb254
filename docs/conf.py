"""Sphinx configuration of fastnn's documentation site.

Build it (offline, warnings as errors) with::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST); the API reference is rendered from the numpydoc
docstrings; the gallery (``docs/examples``) runs at every build. Equations are
rendered by a local copy of MathJax (jupyter-server-mathjax's), so the site
needs no network, neither to build nor to read.
"""

import re
import shutil
from pathlib import Path

import jupyter_server_mathjax

import fastnn

project = "fastnn"
author = "the fastnn developers"
copyright = "2026, the fastnn developers"
release = version = fastnn.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples/*", "tutorial/*"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["fastnn.css"]

# -- MyST ------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Cross-references: fastnn's own names must resolve ---------------------
# Nitpicky mode warns about every reference that does not resolve, and -W
# makes that an error. References to other projects' names cannot resolve
# offline (no intersphinx): those are let through, by their package's name;
# every other reference, fastnn's, must resolve.
nitpicky = True
_OTHERS = ("numpy", "np", "scipy", "sklearn", "matplotlib", "dask", "distributed",
           "dask_ml", "joblib", "skl2onnx", "onnxruntime", "onnx", "pathlib", "numba",
           "threadpoolctl", "pickle", "warnings", "os", "typing", "collections")
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_OTHERS)})(\..*)?"),
    (r"py:.*", r"(int|float|str|bool|list|tuple|dict|object|None|callable|type)"),
]
# Single backticks are code, as in scikit-learn's docstrings.
default_role = "literal"

# -- API reference -----------------------------------------------------------
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Docstring validation of the public names (numpydoc), as errors under -W.
# Left out: ES01 (extended summary), SA01 (See Also), EX01 (Examples: the
# gallery and the user guide hold the examples).
# RT02: a return value is named, as scikit-learn names them ("self : object").
numpydoc_validation_checks = {"all", "ES01", "SA01", "EX01", "RT02"}
numpydoc_validation_exclude = {
    # The kernels' scalar math (developer guide): internal, not public names.
    r"^fastnn\.ops\.",
    r"\.__init__$",
    r"\.__.*__$",
    r"\._[a-z]",
    # scikit-learn's own methods, inherited (their docstrings are sklearn's).
    r"\.(get|set)_params$",
    r"\.set_.*_request$",
    r"\.get_metadata_routing$",
    r"\.set_callbacks$",
    r"\.set_output$",
    r"\.fit_transform$",
}

# -- Gallery -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["examples", "tutorial"],
    "gallery_dirs": ["auto_examples", "auto_tutorial"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    # Only what the examples print: no repr of a block's last value (Text, Colorbar).
    "capture_repr": (),
    # No execution-time pages: sphinx-gallery styles them from CDNs (offline site).
    "write_computation_times": False,
    "image_scrapers": ("matplotlib",),
    # Every example must run: a failure fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "doc_module": ("fastnn",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"fastnn": None},
}

# -- HTML ------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastnn {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False

# MathJax 2 from the local copy, TeX input, HTML-CSS output with STIX web fonts
# (the set jupyter-server-mathjax ships), as Jupyter's classic notebook used it.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
    },
    "HTML-CSS": {
        "availableFonts": [],
        "webFont": "STIX-Web",
        "imageFont": None,
        "preferredFont": None,
    },
    "showMathMenu": False,
    "messageStyle": "none",
}

_MATHJAX_SKIP = ("localization", "SVG", "test", "unpacked", "docs")


def _copy_mathjax(app, exception):
    """Copy MathJax into the built site's ``_static/mathjax`` (no CDN)."""
    if exception is not None or app.builder.format != "html":
        return
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(app.outdir) / "_static" / "mathjax"
    shutil.copytree(source, target, dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names
                                             if n in _MATHJAX_SKIP])
    # English messages only: MathJax asks for localization/en when it starts.
    english = source / "localization" / "en"
    if english.is_dir():
        shutil.copytree(english, target / "localization" / "en",
                        dirs_exist_ok=True)


def _plain_foreign_refs(app, what, name, obj, options, lines):
    """scikit-learn's inherited docstrings (``score``) refer to labels of its own
    site, which cannot resolve offline: show those as code instead."""
    if getattr(obj, "__module__", "").startswith("sklearn"):
        lines[:] = [re.sub(r":ref:`([^`<]+?)(\s*<[^>]*>)?`", r"``\1``", line)
                    for line in lines]


def setup(app):
    app.connect("build-finished", _copy_mathjax)
    app.connect("autodoc-process-docstring", _plain_foreign_refs)

