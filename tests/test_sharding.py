"""shard_map and pmap on 4 forced CPU devices: every loss with ``axis_name`` equals the
unsharded call, value and gradients (issue 9, item 2).

The checks run in one subprocess (``tests/_sharding_script.py``; the device count is fixed
when JAX starts), as ``tests/test_mnist_devices.py`` does for the trainer; each case then
gets its own test here, so a failure names the loss and the option set.
"""

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


@pytest.fixture(scope="module")
def sharding_run():
    proc = run_on_devices([str(SCRIPT)], timeout=600)
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
        f"losses taking axis_name without a sharding case: {with_axis_name - set(LOSSES_COVERED)}"
    )
    assert PMAP_IDS


def test_subprocess_succeeds(sharding_run):
    proc, report = sharding_run
    assert report is not None, f"no JSON report (exit {proc.returncode}):\n{proc.stderr[-8000:]}"
    assert set(report) == set(CASE_IDS)
    assert proc.returncode == 0, proc.stderr[-8000:]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_sharded_equals_unsharded(case_id, sharding_run):
    proc, report = sharding_run
    assert report is not None, f"no JSON report (exit {proc.returncode}):\n{proc.stderr[-8000:]}"
    assert report.get(case_id) == "ok", report.get(case_id, "case did not run")
