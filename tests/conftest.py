"""Test-wide settings: compile-speed XLA flags, strict promotion rules (as equinox does), the
on-disk cache of compiled programs, the slow marker (--run-slow), the xdist groups and a
one-line summary per file."""

import os
from collections import Counter
from pathlib import Path

from helpers import FAST_COMPILE

# Compile for compile speed: the suite is thousands of tiny programs, so XLA compiling them, not
# running them, is its time. LLVM's optimisation passes off and XLA's classic loop emitters
# instead of the MLIR fusion emitters halve `python -m pytest` (4 min 31 s to 2 min 28 s, cold,
# 2 cores). Values move by rounding only (a few ulp; the tests' tolerances are for the float64
# reference and for float32/bfloat16 compute, far above that), and
# tests/test_compiler_flags.py reruns every export's float16/bfloat16/float32 value and gradient
# checks (the transformation matrix's dtype column) with the flags users run. Set before JAX
# starts its backend; inherited by subprocesses. JAXLOSS_TEST_XLA=default keeps XLA's default
# flags. Flags already in XLA_FLAGS win.
if os.environ.get("JAXLOSS_TEST_XLA", "fast") == "fast" and FAST_COMPILE not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = f"{FAST_COMPILE} {os.environ.get('XLA_FLAGS', '')}".strip()

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

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


# --- xdist scheduling: which tests share a worker.
#
# pyproject.toml's addopts run xdist's `--dist loadfile`: a test file runs whole on one worker,
# so its module-level caches, compiled programs and subprocesses are made once. Files are
# handed out in the order of the collected tests (`--no-loadscope-reorder`), which
# pytest_collection_modifyitems below sorts: first the files that run minutes-long
# subprocesses, longest first (so that no worker starts one when the other is nearly done),
# then the other files, largest first. (Until 2026-12 a scheduler of our own, built on
# pytest-xdist's private classes, split the transformation matrix by case and the sharding
# tests by subprocess. Replayed on 2 workers with the per-test times of a full run, whole files
# finish as early: 2506 s against 2507 s for 5002 s of tests, and 2019 s against 2021 s for
# the 4029 s left after the cuts of the same month; the ideal is half the total.)


def group_of(nodeid: str) -> str:
    """The xdist work unit of a test id (``--dist loadfile``): its file."""
    return nodeid.partition("::")[0]


FIRST = (
    "test_compiler_flags.py",
    "test_sharding.py",
    "test_commands.py",
    "test_vocab_parallel.py",
    "test_lm_example.py",
    "test_mnist_multiprocess.py",
)


def _schedule_order(items):
    groups = [group_of(item.nodeid) for item in items]
    sizes = Counter(groups)
    first = {name: i for i, name in enumerate(FIRST)}
    rank = {
        id(item): (first.get(group.rsplit("/", 1)[-1], len(FIRST)), -sizes[group])
        for item, group in zip(items, groups, strict=True)
    }
    items.sort(key=lambda item: rank[id(item)])  # stable: a group's tests keep their order


def pytest_collection_modifyitems(config, items):
    _schedule_order(items)
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
