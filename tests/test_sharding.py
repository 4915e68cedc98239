"""shard_map and pmap on 4 forced CPU devices: every loss with ``axis_name`` equals the
unsharded call, value and gradients (issue 9, item 2).

The checks run in one subprocess (``tests/_sharding_script.py``; the device count is fixed
when JAX starts), as ``tests/test_mnist_devices.py`` does for the trainer; each case then
gets its own test here, so a failure names the loss and the option set. The inputs are the
case registry's (``tests/cases.py``), one draw of a registry case per device.
"""

import functools
import inspect
import json
from pathlib import Path

import pytest
from _sharding_script import CASE_IDS, LOSSES_COVERED, PMAP_IDS
from helpers import run_on_devices

import jaxloss

# Slow (every axis_name loss under shard_map/pmap on 4 forced CPU devices, one subprocess
# (minutes)): `python -m pytest --run-slow` runs it, as CI does.
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent / "_sharding_script.py"

# The cases run in SHARDS subprocesses (every SHARDS-th case each), one after the other on the
# worker that runs this file, each once; two keep each subprocess well inside its timeout on a
# loaded machine. A test's id starts with its shard ("shard0-...").
SHARDS = 2


@functools.cache
def _run(shard: int):
    proc = run_on_devices([str(SCRIPT), *CASE_IDS[shard::SHARDS]], timeout=600)
    report = None
    for line in proc.stdout.splitlines():
        if line.startswith("JSON_REPORT: "):
            report = json.loads(line[len("JSON_REPORT: ") :])
    return proc, report


def test_every_loss_with_axis_name_is_covered():
    with_axis_name = {
        name
        for name in jaxloss.__all__
        if "axis_name" in inspect.signature(getattr(jaxloss, name)).parameters
    }
    assert with_axis_name, "no public loss takes axis_name?"
    assert set(LOSSES_COVERED) == with_axis_name, (
        "losses taking axis_name without a case in tests/cases.py (the sharding table runs "
        f"its first one): {sorted(with_axis_name - set(LOSSES_COVERED))}"
    )
    assert PMAP_IDS


@pytest.mark.parametrize("shard", [pytest.param(k, id=f"shard{k}") for k in range(SHARDS)])
def test_subprocess_succeeds(shard):
    proc, report = _run(shard)
    assert report is not None, f"no JSON report (exit {proc.returncode}):\n{proc.stderr[-8000:]}"
    assert set(report) == set(CASE_IDS[shard::SHARDS])
    assert proc.returncode == 0, proc.stderr[-8000:]


@pytest.mark.parametrize(
    "case_id", [pytest.param(c, id=f"shard{i % SHARDS}-{c}") for i, c in enumerate(CASE_IDS)]
)
def test_sharded_equals_unsharded(case_id):
    proc, report = _run(CASE_IDS.index(case_id) % SHARDS)
    assert report is not None, f"no JSON report (exit {proc.returncode}):\n{proc.stderr[-8000:]}"
    assert report.get(case_id) == "ok", report.get(case_id, "case did not run")
