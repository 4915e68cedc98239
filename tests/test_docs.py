"""The documentation: its sources cover the public API, and its built pages stand alone.

The Sphinx build itself (`sphinx-build -W --keep-going -b html docs docs/_build/html`) runs in
CI beside the tests; the fast checks here fail the ordinary suite first when an export has
no entry on an API page (or two), when a page lists a name that is not exported, or when a
docstring's ``Args:`` section and its signature disagree (a renamed argument).

The slow checks (``--run-slow``) build the docs once into a temporary folder, with the same
flags, and read the pages: no page loads a script or stylesheet from the network, every local
asset a page names exists, and (where ``chromium`` is on PATH; ``.ci/run`` installs it with
apt-get) an API page's formulas are typeset by the bundled MathJax in headless Chromium with
every host name unresolvable, and the page makes no network request.
"""

import html.parser
import importlib.util
import json
import re
import shutil
import subprocess
import sys
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


# --- the built pages (slow) ------------------------------------------------------------------

# `<script src>` and the `<link>` kinds a browser fetches while it renders the page.
_FETCHED_LINKS = {"stylesheet", "preload", "modulepreload"}
# http://, https:// and protocol-relative //host/... reach the network; data: and paths do not.
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


class _Assets(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.assets: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.assets.append(("script", attrs["src"]))
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "link" and attrs.get("href") and rel & _FETCHED_LINKS:
            self.assets.append((f"link rel={'/'.join(sorted(rel))}", attrs["href"]))


def page_assets(text: str) -> list[tuple[str, str]]:
    """(kind, url) of each script and stylesheet (or preload) an HTML page loads."""
    parser = _Assets()
    parser.feed(text)
    return parser.assets


def remote_assets(text: str) -> list[tuple[str, str]]:
    return [(kind, url) for kind, url in page_assets(text) if _REMOTE.match(url)]


def test_remote_asset_check_catches_cdn_scripts_and_stylesheets():
    page = """<html><head>
    <script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js" defer></script>
    <script src="../_static/doctools.js?v=1"></script><script>var inline = 1;</script>
    <link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">
    <link rel="preload" as="font" href="HTTP://example.com/font.woff2">
    <link rel="stylesheet" href="_static/furo.css"><link rel="next" href="https://x.org/next">
    <link rel="icon" href="data:,">
    </head></html>"""
    assert remote_assets(page) == [
        ("script", "https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"),
        ("link rel=stylesheet", "//fonts.googleapis.com/css?family=Roboto"),
        ("link rel=preload", "HTTP://example.com/font.woff2"),
    ]


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> Path:
    """The docs built once, as CI builds them (warnings are errors), into a temporary folder."""
    for module in ("sphinx", "myst_parser", "furo", "sphinx-mathjax-offline"):
        pytest.importorskip(
            module, reason='the docs extra is not installed: pip install -e ".[docs]"'
        )
    out = tmp_path_factory.mktemp("docs") / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        str(DOCS),
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return out


def _html_pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


@pytest.mark.slow
def test_no_page_loads_a_script_or_stylesheet_from_the_network(built_docs):
    pages = _html_pages(built_docs)
    assert len(pages) >= 15, [p.name for p in pages]
    remote = {
        str(page.relative_to(built_docs)): found
        for page in pages
        if (found := remote_assets(page.read_text(encoding="utf-8")))
    }
    assert not remote, (
        f"pages that load a script or stylesheet from the network (so offline they lose it): "
        f"{remote}; ship the file in docs/ or a pip package and reference it by a relative path"
    )
    # Stylesheets may fetch too (@import, fonts); MathJax's are injected and read below.
    css_remote = {
        str(css.relative_to(built_docs)): urls
        for css in built_docs.rglob("*.css")
        if (
            urls := [
                u for u in _CSS_URL.findall(css.read_text(errors="replace")) if _REMOTE.match(u)
            ]
        )
    }
    assert not css_remote, f"stylesheets that fetch from the network: {css_remote}"


@pytest.mark.slow
def test_every_local_asset_exists(built_docs):
    missing = []
    for page in _html_pages(built_docs):
        for kind, url in page_assets(page.read_text(encoding="utf-8")):
            if url.startswith("data:"):
                continue
            path = (page.parent / url.split("?", 1)[0].split("#", 1)[0]).resolve()
            if not path.is_file():
                missing.append(f"{page.relative_to(built_docs)}: {kind} {url}")
    assert not missing, f"assets the pages name but the build lacks: {missing}"


@pytest.mark.slow
def test_math_pages_load_the_bundled_mathjax(built_docs):
    """Each page with a formula loads _static/mathjax/tex-chtml.js, which is there with the fonts
    and the TeX extensions it loads on demand (relative to its own path)."""
    mathjax = built_docs / "_static" / "mathjax"
    with_math = [
        p for p in _html_pages(built_docs) if 'class="math' in p.read_text(encoding="utf-8")
    ]
    assert len(with_math) >= 10, with_math
    unloaded = [
        str(page.relative_to(built_docs))
        for page in with_math
        if not any(
            kind == "script"
            and (page.parent / url).resolve() == (mathjax / "tex-chtml.js").resolve()
            for kind, url in page_assets(page.read_text(encoding="utf-8"))
        )
    ]
    assert not unloaded, f"pages with math that do not load the bundled MathJax: {unloaded}"
    assert (mathjax / "tex-chtml.js").stat().st_size > 500_000
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    assert (mathjax / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()


# --- headless Chromium ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not on PATH (apt-get install chromium; .ci/run installs it where it "
    "runs as root with apt-get): the headless-browser check of the docs' math is skipped",
)


def page_requests(netlog: Path) -> list[str]:
    """URLs a page asked the network for, from Chromium's --log-net-log file.

    The browser's own requests (its updater, account checks) have no initiator ("not an
    origin"); a page opened from disk initiates its requests from the opaque origin "null"."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        {
            event["params"]["url"]
            for event in log["events"]
            if event["type"] == start
            and event["params"].get("initiator", "not an origin") != "not an origin"
        }
    )


def render(page: Path, tmp: Path) -> tuple[str, list[str]]:
    """The DOM of `page` after its scripts ran, and the network requests it made.

    Headless Chromium, every host name mapped to "not found" (as on a machine offline), a fresh
    profile; --virtual-time-budget lets MathJax's asynchronous typesetting finish."""
    tmp.mkdir(parents=True, exist_ok=True)
    netlog = tmp / "netlog.json"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={netlog}",
        "--virtual-time-budget=15000", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}"
    return done.stdout, page_requests(netlog)


def untypeset_math(dom: str) -> list[str]:
    """The formulas of a rendered page that MathJax did not typeset (or typeset as an error)."""
    from bs4 import BeautifulSoup  # furo's dependency, so there wherever the docs build

    soup = BeautifulSoup(dom, "html.parser")
    maths = soup.select(".math")
    bad = [
        m.get_text()[:80]
        for m in maths
        if m.find("mjx-container") is None
        or m.select("mjx-merror, [data-mjx-error]")
        or re.search(r"\\[(\[]", m.get_text())
    ]
    return bad if maths else ["(no .math element on the page)"]


@pytest.mark.slow
@_needs_chromium
def test_api_math_is_typeset_offline_in_headless_chromium(built_docs, tmp_path):
    page = built_docs / "api" / "classification.html"
    dom, requests = render(page, tmp_path / "bundled")
    assert not requests, f"{page.name} asked the network for {requests}"
    assert dom.count("<mjx-container") >= 10, "MathJax typeset fewer than 10 formulas"
    assert not untypeset_math(dom), (
        f"formulas left as TeX or typeset as errors: {untypeset_math(dom)}"
    )

    # The same page loading MathJax from its CDN, as Sphinx's default does: offline, the
    # formulas stay raw TeX and the request shows in the log, so both checks can fail.
    cdn = page.with_name("classification_cdn.html")
    cdn.write_text(
        page.read_text(encoding="utf-8").replace(
            "../_static/mathjax/tex-chtml.js", "https://cdn.jsdelivr.net/npm/mathjax@3/tex-chtml.js"
        ),
        encoding="utf-8",
    )
    try:
        dom, requests = render(cdn, tmp_path / "cdn")
    finally:
        cdn.unlink()
    assert requests == ["https://cdn.jsdelivr.net/npm/mathjax@3/tex-chtml.js"], requests
    assert "<mjx-container" not in dom
    assert len(untypeset_math(dom)) >= 10
