"""The documentation's sources cover the public API, without building Sphinx.

The Sphinx build itself (`sphinx-build -W --keep-going -b html docs docs/_build/html`) runs in
CI after the tests; these checks fail the ordinary suite first, and fast, when an export has
no entry on an API page (or two), when a page lists a name that is not exported, or when a
docstring's ``Args:`` section and its signature disagree (a renamed argument).
"""

import importlib.util
import re
from pathlib import Path

import pytest

import jaxloss

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"

# `.. autofunction:: jaxloss.name` inside an {eval-rst} block; dotted names such as
# `jaxloss._check_runtime.CheckError` (documented beside `checked`) are not exports.
_AUTOFUNCTION = re.compile(r"^\.\. autofunction:: jaxloss\.(\w+)\s*$", re.M)
_AUTOSUMMARY = re.compile(r"^\.\. autosummary::\n((?:\n|   .*\n)+)", re.M)


def _api_pages():
    return sorted(p for p in API.glob("*.md") if p.name != "index.md")


def _documented(page):
    return _AUTOFUNCTION.findall(page.read_text())


def _summarised(page):
    blocks = _AUTOSUMMARY.findall(page.read_text())
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _load_extension():
    spec = importlib.util.spec_from_file_location("jaxloss_docs", DOCS / "_ext" / "jaxloss_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_api_pages():
    assert len(_api_pages()) >= 10, [p.name for p in _api_pages()]


def test_every_export_is_on_exactly_one_api_page():
    pages = {name: [] for name in jaxloss.__all__}
    unknown = []
    for page in _api_pages():
        for name in _documented(page):
            if name in pages:
                pages[name].append(page.name)
            else:
                unknown.append(f"{page.name}: {name}")
    missing = sorted(name for name, where in pages.items() if not where)
    repeated = {name: where for name, where in pages.items() if len(where) > 1}
    assert not missing, (
        f"exports without an `.. autofunction:: jaxloss.<name>` entry on a page of docs/api/: "
        f"{missing}; add each to its family's page (and its autosummary table)"
    )
    assert not repeated, f"exports documented on more than one API page: {repeated}"
    assert not unknown, f"API pages document names that jaxloss.__all__ lacks: {unknown}"


@pytest.mark.parametrize("page", _api_pages(), ids=lambda p: p.stem)
def test_each_page_summarises_what_it_documents(page):
    """The autosummary table at the top of a page lists its functions, in page order."""
    assert _summarised(page) == _documented(page)


def test_every_api_page_is_in_the_api_toctree():
    toctree = (API / "index.md").read_text()
    entries = re.search(r"```\{toctree\}\n(.*?)```", toctree, flags=re.S).group(1)
    listed = {line.strip() for line in entries.splitlines()}
    assert {p.stem for p in _api_pages()} <= listed


def test_docstring_args_match_signatures():
    """What the docs build's extension enforces, for every export."""
    extension = _load_extension()
    mismatched = {}
    for name in jaxloss.__all__:
        missing, unknown = extension.args_mismatch(getattr(jaxloss, name))
        if missing or unknown:
            mismatched[name] = {"undocumented": missing, "not in the signature": unknown}
    assert not mismatched, mismatched


def test_args_check_catches_a_renamed_argument():
    extension = _load_extension()

    def loss(logits, targets, *, gamma=2.0):
        """A loss.

        Args:
          logits: float array.
          labels: integer array.
          gamma: scalar.

        Returns:
          A scalar.
        """

    assert extension.args_mismatch(loss) == (["targets"], ["labels"])


def test_args_parser_reads_shared_entries_and_stops_at_the_next_section():
    extension = _load_extension()
    doc = """Summary.

    Args:
      input1, input2: float arrays.
        A continuation line: not an entry.
      *args: passed on.

    Returns:
      value: not an argument.
    """
    assert extension.documented_args(doc) == ["input1", "input2", "args"]


def test_included_readme_sections_exist():
    """docs/semantics.md includes README sections by their headings; a renamed heading fails."""
    readme = (ROOT / "README.md").read_text()
    markers = re.findall(
        r"^:(?:start-after|end-before): '(.*)'$", (DOCS / "semantics.md").read_text(), re.M
    )
    assert len(markers) == 4
    for marker in markers:
        text = marker.replace("''", "'")
        assert readme.count(text) == 1, f"README.md must hold {text!r} exactly once"
