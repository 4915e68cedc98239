"""The xdist scheduling of conftest.py and pyproject.toml: a file runs whole on one worker (so
its compiled programs and subprocesses are made once), and the files that run minutes-long
subprocesses are handed out first, then the largest files."""

import tomllib
from conftest import FIRST, _schedule_order, group_of
from helpers import ROOT


def test_a_file_is_a_group():
    assert group_of("tests/test_binary.py::test_bce_parity_grid[jit]") == "tests/test_binary.py"
    assert group_of("tests/test_transformations.py::test_jit[cross_entropy[probs]]") == (
        "tests/test_transformations.py"
    )
    assert group_of("jaxloss/_binary.py::jaxloss._binary.sigmoid_focal_loss") == (
        "jaxloss/_binary.py"
    )


def test_subprocess_files_are_handed_out_first_then_the_largest_groups():
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    items = [Item(n) for n in (
        "tests/test_api.py::test_a",
        "tests/test_binary.py::test_a",
        "tests/test_binary.py::test_b",
        f"tests/{FIRST[1]}::test_a",
        f"tests/{FIRST[0]}::test_a",
    )]
    _schedule_order(items)
    assert [i.nodeid for i in items] == [
        f"tests/{FIRST[0]}::test_a",
        f"tests/{FIRST[1]}::test_a",
        "tests/test_binary.py::test_a",
        "tests/test_binary.py::test_b",
        "tests/test_api.py::test_a",
    ]


def test_pytest_hands_out_whole_files_in_our_order():
    """pyproject.toml's addopts: `--dist loadfile` (a file is a work unit) and
    `--no-loadscope-reorder` (xdist keeps the order above instead of sorting by test count,
    which would hand out the one-test subprocess files last)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        addopts = tomllib.load(f)["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert addopts[addopts.index("--dist") + 1] == "loadfile"
    assert "--no-loadscope-reorder" in addopts
    for name in FIRST:
        assert (ROOT / "tests" / name).is_file(), name
