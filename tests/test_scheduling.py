"""The xdist scheduler of conftest.py: which tests share a worker (a group runs whole on one
worker, so its compiled programs and subprocesses are made once)."""

import tomllib
from conftest import FIRST, _schedule_order, group_of
from helpers import ROOT


def test_a_file_is_a_group():
    assert group_of("tests/test_binary.py::test_bce_parity_grid[jit]") == "tests/test_binary.py"
    assert group_of("jaxloss/_binary.py::jaxloss._binary.sigmoid_focal_loss") == (
        "jaxloss/_binary.py"
    )


def test_the_transformation_matrix_is_grouped_by_case():
    """Every column of a case (the case's compiled programs) lands on one worker."""
    f = "tests/test_transformations.py"
    assert {
        group_of(f"{f}::test_jit[cross_entropy[probs]]"),
        group_of(f"{f}::test_hessian[cross_entropy[probs]]"),
        group_of(f"{f}::test_int32_targets_under_x64[cross_entropy[probs]]"),
    } == {f"{f}::cross_entropy[probs]"}
    assert group_of(f"{f}::test_jit[cross_entropy]") != group_of(f"{f}::test_jit[nll_loss]")
    assert group_of(f"{f}::test_every_public_name_has_a_registry_entry") == (
        f"{f}::test_every_public_name_has_a_registry_entry"
    )


def test_the_sharding_tests_are_grouped_by_subprocess_shard():
    from test_sharding import CASE_IDS, SHARDS

    f = "tests/test_sharding.py"
    groups = {group_of(f"{f}::test_subprocess_succeeds[shard{k}]") for k in range(SHARDS)}
    for i, case in enumerate(CASE_IDS):
        group = group_of(f"{f}::test_sharded_equals_unsharded[shard{i % SHARDS}-{case}]")
        assert group == f"{f}::shard{i % SHARDS}", (case, group)
    assert groups == {f"{f}::shard{k}" for k in range(SHARDS)}


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


def test_pytest_runs_the_scheduler():
    """The scheduler serves `--dist loadscope`; pyproject.toml's addopts must ask for it."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        addopts = tomllib.load(f)["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert addopts[addopts.index("--dist") + 1] == "loadscope"
    for name in FIRST:
        assert (ROOT / "tests" / name).is_file(), name
