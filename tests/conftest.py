"""Test-wide settings: strict promotion rules (as equinox does), the on-disk cache of compiled
programs, the slow marker (--run-slow), the xdist groups and a one-line summary per file."""

import os
from pathlib import Path

import jax
import pytest
from hypothesis import settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

# Most of the suite's time is XLA compiling small programs, many of them more than once (the
# same loss and shapes in several tests, workers, subprocesses). JAX's persistent compilation
# cache keeps every program (however quick to compile) in `.jax_cache/` at the repository root
# (git-ignored), shared by the xdist workers and inherited by subprocesses through the
# environment; a second run reads most programs instead of compiling them. The key is the
# program, the backend's flags and the jax/jaxlib versions, so a stale entry cannot be read.
# JAXLOSS_TEST_CACHE=off turns it off; another value is the folder.
_ROOT = Path(__file__).resolve().parents[1]
_CACHE = os.environ.get("JAXLOSS_TEST_CACHE", str(_ROOT / ".jax_cache"))
if _CACHE != "off":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )

settings.register_profile("jaxloss", derandomize=True, deadline=None, max_examples=30)
settings.load_profile("jaxloss")


@pytest.fixture(params=["eager", "jit"])
def mode(request):
    """Runs a test once eagerly and once under jax.jit."""
    return request.param


# --- slow tests: `python -m pytest` skips them, `python -m pytest --run-slow` (CI) runs them.


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (multi-process trainers, the examples, the "
        "README's commands, the sharding subprocesses); .ci/run passes it.",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: minutes-long tests (subprocesses, trainers, CLI commands); run with --run-slow",
    )
    if not hasattr(config, "workerinput"):  # the main process (or the xdist controller)
        config.pluginmanager.register(_FileSummary(config), "jaxloss-file-summary")


# Files whose tests are spread over the xdist workers one test function at a time (the
# transformation matrix is the suite's largest file); every other file runs whole on one worker,
# so its module-level fixtures and compiled programs are made once (`--dist loadgroup`).
SPREAD = {"test_transformations.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = item.nodeid.split("::", 1)[0]
            if item.path.name in SPREAD and getattr(item, "originalname", None):
                group = f"{group}::{item.originalname}"
            item.add_marker(pytest.mark.xdist_group(group))
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: runs with --run-slow, as CI does")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class _FileSummary:
    """Prints one line per test file when its last test has finished (``tests/test_x.py:
    41 passed, 2 skipped in 12.3 s``), so a quiet run shows which files are done."""

    def __init__(self, config):
        self.config = config
        self.total: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.outcomes: dict[str, dict[str, int]] = {}
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _file(nodeid: str) -> str:
        return nodeid.split("::", 1)[0]

    def _count(self, nodeids):
        if self.total:  # every xdist worker collects the same items
            return
        for nodeid in nodeids:
            f = self._file(nodeid)
            self.total[f] = self.total.get(f, 0) + 1

    def pytest_xdist_node_collection_finished(self, node, ids):
        self._count(ids)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        self._count([item.nodeid for item in items])

    def pytest_runtest_logreport(self, report):
        f = self._file(report.nodeid)
        self.seconds[f] = self.seconds.get(f, 0.0) + report.duration
        outcomes = self.outcomes.setdefault(f, {})
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "error" if report.when == "setup" and report.failed else report.outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if report.when != "teardown":
            return
        self.done[f] = self.done.get(f, 0) + 1
        if self.done[f] == self.total.get(f):
            parts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                if reporter._tw.width_of_current_line:  # after a row of progress dots
                    reporter.write("\n")
                reporter.write_line(f"{f}: {parts} in {self.seconds[f]:.1f} s")
