"""The documentation: its sources cover the public API, and its built pages stand alone.

The Sphinx build itself (`sphinx-build -W --keep-going -b html docs docs/_build/html`) runs in
CI beside the tests; the fast checks here fail the ordinary suite first when an export has
no entry on an API page (or two), when a page lists a name that is not exported, or when a
docstring's ``Args:`` section and its signature disagree (a renamed argument).

The slow checks (``--run-slow``) read the built pages: in CI the build ``.ci/run`` makes in the
background (it sets ``JAXLOSS_DOCS_HTML`` to its output folder and ``JAXLOSS_DOCS_STATUS`` to a
file that gets sphinx-build's exit status; the checks wait for it), elsewhere the docs built
once into a temporary folder with the same flags. They check that no page loads a script or
stylesheet from the network, every local asset a page names exists, and (where ``chromium`` is
on PATH; ``.ci/run`` installs it with apt-get) an API page's formulas are typeset by the
bundled MathJax in headless Chromium with every host name unresolvable, and the page makes no
network request.
"""

import html.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
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


_INCLUDE = re.compile(r"^```\{include\} (\S+)\n((?::[\w-]+:.*\n)*)```", re.M)
_ISSUE_HEADING = re.compile(r"^#{1,6} .*\bissues? \d+", re.I | re.M)


def _doc_pages():
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)


def _included(page: Path) -> list[tuple[str, str]]:
    """(the include's source, the text it brings in) for each ```{include} of ``page``: the
    file from ``:start-line:``, after ``:start-after:`` and before ``:end-before:`` (each
    marker must occur exactly once, so a renamed heading in the source fails here)."""
    out = []
    for source, options in _INCLUDE.findall(page.read_text()):
        text = (page.parent / source).read_text()
        opts = dict(re.findall(r"^:([\w-]+): (.*)$", options, re.M))
        if "start-line" in opts:
            text = "".join(text.splitlines(keepends=True)[int(opts["start-line"]):])
        for key in ("start-after", "end-before"):
            if key in opts:
                marker = opts[key].strip("'").replace("''", "'")
                assert text.count(marker) == 1, f"{page.name}: {source} must hold {marker!r} once"
                before, _, after = text.partition(marker)
                text = after if key == "start-after" else before
        out.append((source, text))
    return out


def test_docs_stand_alone():
    """The docs never send a reader to the README (every rule is stated where it is used), and
    no heading a reader sees (in included files too) names an internal issue."""
    readme = {
        str(p.relative_to(ROOT)): n
        for p in [*_doc_pages(), *sorted((ROOT / "jaxloss").glob("*.py"))]
        if (n := p.read_text().count("README"))
    }
    assert not readme, f"pages and docstrings that point to the README: {readme}"
    headings = []
    for page in _doc_pages():
        texts = [(page.name, page.read_text()), *_included(page)]
        headings += [f"{name}: {h}" for name, text in texts for h in _ISSUE_HEADING.findall(text)]
    assert not headings, f"headings that name an internal issue: {headings}"


def test_stand_alone_check_reads_includes_and_issue_headings(tmp_path):
    (tmp_path / "src.md").write_text("# Log\n\n## Kept\ntext\n## Issue 10, second part\nmore\n")
    page = tmp_path / "page.md"
    page.write_text("```{include} src.md\n:start-line: 1\n:end-before: '## Issue 10'\n```\n")
    assert _included(page) == [("src.md", "\n## Kept\ntext\n")]
    page.write_text("```{include} src.md\n:start-after: '## Kept'\n```\n")
    assert _ISSUE_HEADING.findall(_included(page)[0][1]) == ["## Issue 10"]


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
        if tag in ("script", "img") and attrs.get("src"):
            self.assets.append((tag, attrs["src"]))
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "link" and attrs.get("href") and rel & _FETCHED_LINKS:
            self.assets.append((f"link rel={'/'.join(sorted(rel))}", attrs["href"]))


def page_assets(text: str) -> list[tuple[str, str]]:
    """(kind, url) of each script, image and stylesheet (or preload) an HTML page loads."""
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


# How long the checks wait for .ci/run's build (it takes about a minute on 2 busy cores).
CI_BUILD_TIMEOUT = 900


def _ci_build(html: Path, status: Path) -> Path:
    """``.ci/run``'s docs build, once sphinx-build has ended: its output folder, or a failure
    where it failed (its log is in .ci/run's output, after the tests')."""
    deadline = time.monotonic() + CI_BUILD_TIMEOUT
    while not status.is_file() or not status.read_text().strip():
        if time.monotonic() > deadline:
            pytest.fail(f".ci/run's docs build wrote no exit status to {status} in "
                        f"{CI_BUILD_TIMEOUT} s")
        time.sleep(1)
    code = status.read_text().strip()
    if code != "0":
        pytest.fail(f".ci/run's docs build (sphinx-build -W --keep-going -b html docs "
                    f"{html}) failed with exit status {code}; its log follows the tests' output")
    return html


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> Path:
    """The built docs: .ci/run's build where it says so (``JAXLOSS_DOCS_HTML`` and
    ``JAXLOSS_DOCS_STATUS``), else the docs built once, as CI builds them (warnings are
    errors), into a temporary folder."""
    if os.environ.get("JAXLOSS_DOCS_HTML"):
        return _ci_build(
            Path(os.environ["JAXLOSS_DOCS_HTML"]), Path(os.environ["JAXLOSS_DOCS_STATUS"])
        )
    for module in ("sphinx", "myst_parser", "furo", "sphinx-mathjax-offline", "matplotlib"):
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


# --- the loss curves of the API pages --------------------------------------------------------

# `.. plot:: loss_curves.py <figure>` and its options, inside an {eval-rst} block.
_PLOT = re.compile(r"^\.\. plot:: loss_curves\.py (\w+)\n((?:   .*\n)*)", re.M)
# The family pages that must show their losses as curves.
CURVE_PAGES = (
    "classification", "binary", "segmentation", "regression", "imbalance", "divergence", "margin",
)  # fmt: skip


def _figure_names() -> list[str]:
    """loss_curves.FIGURES, read without importing matplotlib and drawing."""
    source = (DOCS / "_ext" / "loss_curves.py").read_text()
    return re.findall(r'"(\w+)"', re.search(r"^FIGURES = \((.*?)\)", source, re.S | re.M)[1])


def _load_curves():
    spec = importlib.util.spec_from_file_location("loss_curves", DOCS / "_ext" / "loss_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plots(page: Path) -> dict[str, dict[str, str]]:
    """{figure function: {option: value}} of a page's plot directives."""
    plots = {}
    for name, body in _PLOT.findall(page.read_text()):
        # an option's value goes on over the lines indented deeper than its name
        options = {
            key: " ".join(value.split())
            for key, value in re.findall(r"^   :([\w-]+): (.*(?:\n      .*)*)", body, re.M)
        }
        plots[name] = options
    return plots


def test_each_family_page_shows_its_curves_with_a_one_sentence_caption():
    figures = _figure_names()
    shown = {}
    for page in _api_pages():
        for name, options in _plots(page).items():
            shown.setdefault(name, []).append(page.stem)
            caption = options.get("caption", "")
            sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", caption.strip())
            assert caption.endswith(".") and len(sentences) == 1, (
                f"{page.name}: the caption of the {name} curves must be one sentence saying what "
                f"to look at, got {caption!r}"
            )
            assert options.get("alt"), f"{page.name}: the {name} curves need an :alt: text"
    missing = [stem for stem in CURVE_PAGES if not _plots(API / f"{stem}.md")]
    assert not missing, f"family pages without loss curves: {missing}"
    assert sorted(shown) == sorted(figures), (shown, figures)
    assert all(len(pages) == 1 for pages in shown.values()), shown


def figure_problems(fig) -> list[str]:
    """What makes a figure hard to read: an unlabelled axis, fewer than four ticks on an axis,
    overlapping tick labels, a text outside the figure, no legend or a legend over the data."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    inside = fig.bbox.padded(1.0)

    def outside(box) -> bool:
        return not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))

    for k, ax in enumerate(fig.axes):
        for name, axis, lim in (("x", ax.xaxis, ax.get_xlim()), ("y", ax.yaxis, ax.get_ylim())):
            if not axis.get_label_text().strip():
                problems.append(f"axes {k}: no {name} label")
            lo, hi = sorted(lim)
            tol = 1e-9 * (hi - lo)
            shown = [t for t in axis.get_major_ticks() if lo - tol <= t.get_loc() <= hi + tol]
            if len(shown) < 4:
                problems.append(f"axes {k}: {len(shown)} {name} ticks in view {lo:g}..{hi:g}")
            boxes = [
                t.label1.get_window_extent(renderer)
                for t in shown
                if t.label1.get_visible() and t.label1.get_text()
            ]
            if any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False)):
                problems.append(f"axes {k}: {name} tick labels overlap")
        # what the axes draw: tick labels in view, axis labels, title
        if outside(ax.get_tightbbox(renderer)):
            problems.append(f"axes {k}: a label reaches outside the figure")
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    if not legends:
        problems.append("no legend")
    for legend in legends:
        box = legend.get_window_extent(renderer)
        if outside(box):
            problems.append("the legend reaches outside the figure")
        for k, ax in enumerate(fig.axes):
            if box.overlaps(ax.get_window_extent(renderer)):
                problems.append(f"the legend covers axes {k}")
    return problems


def test_figure_check_catches_unreadable_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0.945, 1.05], [0.1, 0.2], label="a curve")
    ax.set_xticks([0.945, 0.96, 0.975, 0.99, 1.005, 1.02, 1.035, 1.05])
    ax.set_yticks([0.1, 0.2])
    ax.legend(loc="upper left")
    ax.set_ylabel("a label much too long for a figure two inches high, cut off at the top")
    problems = figure_problems(fig)
    plt.close(fig)
    assert "axes 0: no x label" in problems
    assert "axes 0: 2 y ticks in view 0.095..0.205" in problems
    assert "axes 0: x tick labels overlap" in problems
    assert "the legend covers axes 0" in problems
    assert "axes 0: a label reaches outside the figure" in problems


@pytest.fixture(scope="module")
def curves():
    import matplotlib

    matplotlib.use("Agg")
    return _load_curves()


@pytest.mark.slow
def test_family_pages_show_the_curves_drawn_by_the_build(built_docs):
    """Each family page's figure is a PNG the build drew (in _images/), with its caption."""
    missing = []
    for stem in CURVE_PAGES:
        page = built_docs / "api" / f"{stem}.html"
        images = [
            url for kind, url in page_assets(page.read_text(encoding="utf-8")) if kind == "img"
        ]
        drawn = [url for url in images if re.search(r"_images/loss_curves_\w+\.png$", url)]
        if not drawn or not all(
            (page.parent / url).resolve().stat().st_size > 20_000 for url in drawn
        ):
            missing.append(f"{stem}: {images}")
    assert not missing, f"family pages without their loss curves: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", _figure_names())
def test_loss_curves_are_readable(curves, name):
    import matplotlib.pyplot as plt

    fig = getattr(curves, name)()
    try:
        assert not figure_problems(fig), figure_problems(fig)
        assert len(fig.axes) == 2 and all(ax.get_lines() for ax in fig.axes)
    finally:
        plt.close(fig)
