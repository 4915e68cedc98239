"""The MNIST trainer on 4 forced CPU devices (a subprocess) equals the 1-device run."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import SHARED_MNIST, needs_mnist, run_on_devices

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples.mnist import train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402

# Slow (the MNIST trainer on forced CPU devices in subprocesses): `python -m pytest --run-slow`
# runs it, as CI does.
pytestmark = [pytest.mark.slow, needs_mnist]

FLAGS = ["--data-dir", str(SHARED_MNIST), "--max-train", "4096", "--max-test", "1000"]


def run_on_4_devices(*argv: str) -> subprocess.CompletedProcess:
    return run_on_devices(["-m", "examples.mnist", *argv])


def test_four_devices_match_one(tmp_path):
    out = tmp_path / "four"
    proc = run_on_4_devices("train", *FLAGS, "--epochs", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    four = json.loads((out / "metrics.json").read_text())
    assert four["devices"] == 4

    config = Config(max_train=4096, max_test=1000, num_epochs=2, data_dir=SHARED_MNIST)
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-promotion clean
        one = train.train_and_evaluate(config, progress=False)
    assert one.num_devices == 1
    np.testing.assert_allclose(four["step_losses"], one.step_losses, rtol=1e-4, atol=1e-6)
    for a, b in zip(four["history"], one.history, strict=True):
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=1e-4)
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 1000
    confusion = np.asarray(four["final"]["confusion_matrix"])
    assert np.abs(confusion - np.asarray(one.metrics["confusion_matrix"])).sum() <= 4


def test_batch_size_not_divisible_by_devices():
    proc = run_on_4_devices("train", *FLAGS, "--batch-size", "66", "--quiet")
    assert proc.returncode == 2
    assert "--batch-size 66 is not divisible by the 4 devices" in proc.stderr
    assert "choose a multiple of 4, for example 64 or 68" in proc.stderr


@pytest.mark.parametrize("flag", ["--help"])
def test_help_runs_as_a_module(flag):
    proc = subprocess.run(
        [sys.executable, "-m", "examples.mnist", flag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "train" in proc.stdout and "sweep" in proc.stdout
