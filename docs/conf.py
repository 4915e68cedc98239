"""Sphinx configuration of the jaxloss documentation.

Build (warnings are errors, as in CI):

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import jaxloss  # noqa: E402

project = "jaxloss"
author = "the jaxloss authors"
copyright = "the jaxloss authors"  # noqa: A001
release = jaxloss.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "jaxloss_docs",  # docs/_ext/jaxloss_docs.py: a docstring's Args must name the signature
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Every cross-reference must resolve: a renamed or removed function breaks the build.
nitpicky = True

# autodoc: signatures without type hints (jax's ArrayLike would print as a ten-type union);
# each docstring's Args say what an argument takes.
autodoc_typehints = "none"
autodoc_preserve_defaults = True
python_maximum_signature_line_length = 88
add_module_names = True

# autosummary: the tables at the top of each API page only (no generated stub pages).
autosummary_generate = False

# napoleon: the library's docstrings are Google style.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# MyST: $...$ math in guides, headings get anchors for in-page links.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"jaxloss {release}"
html_static_path: list[str] = []
