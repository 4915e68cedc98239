"""Sphinx configuration of the jaxloss documentation.

Build (warnings are errors, as in CI):

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
# The jaxloss of this checkout, whichever is installed (`sphinx-build` puts only its own
# folder on sys.path): the API pages and the loss curves show the code beside them.
sys.path.insert(0, str(DOCS.parent))

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
    "sphinx-mathjax-offline",  # MathJax itself, in _static/: see "Math" below
    "jaxloss_docs",  # docs/_ext/jaxloss_docs.py: a docstring's Args must name the signature
    "matplotlib.sphinxext.plot_directive",  # the API pages' loss curves: see "Plots" below
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

# Math: the formulas are the API pages' main content, and they must render where no CDN can be
# reached (an offline build, a docs folder opened from disk, a firewalled cluster). Sphinx's
# default loads MathJax from jsdelivr. The pip package sphinx-mathjax-offline ships MathJax 3.2.2
# (TeX input, CommonHTML output, its woff fonts and lazily loaded TeX extensions) and copies it
# into _build/html/_static/mathjax/ after the build. Chosen because it is the renderer Sphinx
# uses online (so pages look as they did, only version 3 where the CDN now serves 4) and it
# installs with pip alone: prerendered KaTeX needs Node and the katex npm package at build time,
# and server-side MathML needs a TeX-to-MathML converter that covers less TeX than MathJax does
# and renders differently from browser to browser. The cost: 24 MB of MathJax in the built site,
# and the formulas are typeset by JavaScript in the reader's browser. tests/test_docs.py checks
# that no page loads a script or stylesheet from the network and, where chromium is installed,
# that an API page's formulas are typeset in headless Chromium with the network blocked.
mathjax_path = "mathjax/tex-chtml.js"  # relative to _static/: sphinx-mathjax-offline's copy

# Plots: each family's API page shows its losses and their gradients as curves, drawn when the
# docs are built by docs/_ext/loss_curves.py from jaxloss itself (so a changed loss changes its
# picture), through matplotlib's plot directive in an {eval-rst} block:
# `.. plot:: loss_curves.py <figure function>` with a one-sentence :caption:. One PNG per figure
# at 150 dpi (sharp on high-density screens, scaled to the content width), no links to the
# script or to other formats.
plot_basedir = "_ext"
plot_formats = [("png", 150)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = False
plot_pre_code = ""

html_theme = "furo"
html_title = f"jaxloss {release}"
html_static_path: list[str] = []
