"""The language-model example (``python -m examples.lm``), short, on a 2 x 2 mesh of forced
CPU devices: the three loss variants agree, the memory table ranks them as it should, and the
run writes its curve and metrics."""

import json
import re

import numpy as np
import pytest
from helpers import run_on_devices, run_processes

# Slow (trains the language-model example, in 1 and 2 processes): `python -m pytest --run-slow`
# runs it, as CI does.
pytestmark = pytest.mark.slow

COMMON = ["-m", "examples.lm", "--batch-size", "4", "--seq-len", "16", "--dim", "32",
          "--layers", "1", "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """4 steps in one process on 4 devices (V = 32768, the default)."""
    out = tmp_path_factory.mktemp("lm") / "run"
    return run_on_devices([*COMMON, "--steps", "4", "--out", str(out)], timeout=600), out


def test_lm_example_runs_on_a_2x2_mesh(single_run):
    proc, out = single_run
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "mesh {'data': 2, 'model': 2}" in text
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {row["loss"]: row for row in metrics["variants"]}
    assert set(rows) == {"naive", "linear", "vocab-parallel"}
    # The same loss three ways, on the same parameters and batch.
    first = [row["first_batch_loss"] for row in rows.values()]
    assert max(first) - min(first) <= 1e-5 * max(first), first
    # Per device, the naive head holds at least its (N/2, V/2) block of logits (N = 4 x 16
    # tokens: 32 x 16384 float32 = 2 MiB); the fused heads hold tiles and per-token terms.
    assert rows["naive"]["head_temp_mib"] >= 2.0, rows
    for kind in ("linear", "vocab-parallel"):
        assert rows[kind]["head_temp_mib"] * 4 < rows["naive"]["head_temp_mib"], rows
    assert len(metrics["losses"]) == 4 and all(v == v for v in metrics["losses"])
    assert (out / "loss.png").stat().st_size > 10_000
    assert re.search(r"\| naive \| [\d.]+ \| [\d.]+ \|", text), text


def test_lm_example_two_processes_resume_equals_one_process(single_run, tmp_path):
    """2 processes x 2 devices train 2 steps and checkpoint, a second launch resumes to 4:
    the per-step losses equal one process on 4 devices to float32 round-off (the all-reduces
    run in another order across processes); only process 0 writes its --out."""
    proc, one = single_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ck = tmp_path / "ck"

    def argv(steps, out):
        return lambda k, port: [
            *COMMON, "--steps", str(steps), "--checkpoint-dir", str(ck), "--no-compare",
            "--out", str(tmp_path / f"{out}{k}"), "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", "2", "--process-id", str(k), "--initialization-timeout", "120",
        ]

    for steps, out in ((2, "first"), (4, "resumed")):
        results = run_processes(argv(steps, out), timeout=600)
        for rc, stdout, stderr in results:
            assert rc == 0, stdout + stderr
    assert "resuming from step 2" in results[0][1], results[0][1]
    assert not (tmp_path / "first1").exists() and not (tmp_path / "resumed1").exists()
    want = json.loads((one / "metrics.json").read_text())["losses"]
    got = json.loads((tmp_path / "resumed0" / "metrics.json").read_text())
    assert got["processes"] == 2 and len(got["losses"]) == 4
    np.testing.assert_allclose(got["losses"], want, rtol=1e-5)
