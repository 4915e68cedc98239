"""Checkpoint and resume of the MNIST trainer: a SIGKILLed run resumes to the same end.

One small configuration (512 training examples, batch 32: 16 steps per epoch, 2 epochs,
a checkpoint every 5 steps: 5, 10, ..., 30 and the last step 32). The uninterrupted run
is made once per module and compared with everything else.
"""

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import SHARED_MNIST, compilation_cache_env, device_env, needs_mnist

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples import checkpoint  # noqa: E402
from examples.mnist import cli, train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402

# Slow (trains, kills and resumes the MNIST trainer): `python -m pytest --run-slow` runs it, as CI
# does.
pytestmark = [pytest.mark.slow, needs_mnist]

FLAGS = [
    "--data-dir", str(SHARED_MNIST), "--max-train", "512", "--max-test", "256",
    "--batch-size", "32", "--epochs", "2", "--checkpoint-every", "5", "--quiet",
]  # fmt: skip
TOTAL_STEPS = 32
KILL_AT = 15


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """optax's Adam is not strict-promotion clean; the examples run under the default."""
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same flags, never interrupted. Returns (checkpoints, metrics)."""
    base = tmp_path_factory.mktemp("uninterrupted")
    with jax.numpy_dtype_promotion("standard"):
        argv = [*FLAGS, "--checkpoint-dir", str(base / "ckpt"), "--out", str(base / "run")]
        assert cli.main(argv) == 0
    return base / "ckpt", json.loads((base / "run" / "metrics.json").read_text())


def subprocess_env(cache: Path):
    """One CPU device; compilations shared through a persistent cache (the resumed run
    reuses the killed run's programs instead of compiling them again)."""
    return device_env(1, compilation_cache_env(cache))


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: its bytes' hash and modification time."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder",
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
    }


def assert_same_tree(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_sigkill_then_resume_ends_with_the_same_parameters(tmp_path, uninterrupted):
    reference_dir, reference = uninterrupted
    ckpt, out = tmp_path / "ckpt", tmp_path / "run"
    argv = [*FLAGS, "--checkpoint-dir", str(ckpt), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "_mnist_kill_script.py"), str(KILL_AT), *argv],
        cwd=ROOT,
        env=subprocess_env(tmp_path / "jax-cache"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(300, proc.kill)  # bounds the blocking readline below
    watchdog.start()
    try:
        line = proc.stdout.readline()  # blocks until the checkpoint is saved (or exit)
        assert line.strip() == f"SAVED {KILL_AT}", line
        proc.send_signal(signal.SIGKILL)  # as a preempted host dies: no cleanup at all
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    assert not out.exists()  # killed before it wrote its results
    steps = sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    assert steps[-1] == KILL_AT

    # A later checkpoint cut short by the kill: Orbax's temporary folder, never renamed
    # to its step, with a truncated array file. It must not be the one restored.
    cut = ckpt / f"{KILL_AT + 5}.orbax-checkpoint-tmp-1764460800"
    shutil.copytree(ckpt / str(KILL_AT), cut)
    for f in (cut / "state").rglob("*"):
        if f.is_file() and f.stat().st_size > 16:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    proc = subprocess.run(
        [sys.executable, "-m", "examples.mnist", "train", *argv],
        cwd=ROOT,
        env=subprocess_env(tmp_path / "jax-cache"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"resuming from step {KILL_AT} of {TOTAL_STEPS}" in proc.stderr
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["checkpoint"]["resumed_from_step"] == KILL_AT
    assert resumed["checkpoint"]["saved_steps"] == [20, 25, 30, 32]
    # Same data order and same program from the same state: equal to the last bit.
    assert resumed["step_losses"] == reference["step_losses"]
    assert resumed["final"]["confusion_matrix"] == reference["final"]["confusion_matrix"]
    state, meta = checkpoint.load_state(ckpt)
    reference_state, reference_meta = checkpoint.load_state(reference_dir)
    assert meta["step"] == reference_meta["step"] == TOTAL_STEPS
    assert_same_tree(state, reference_state)


def test_started_again_after_the_end_resumes_without_training(tmp_path, uninterrupted, capsys):
    reference_dir, reference = uninterrupted
    ckpt = tmp_path / "ckpt"
    shutil.copytree(reference_dir, ckpt)
    argv = [*FLAGS, "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    assert f"resuming from step {TOTAL_STEPS} of {TOTAL_STEPS}" in capsys.readouterr().err
    again = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert again["checkpoint"]["saved_steps"] == []
    assert again["step_losses"] == reference["step_losses"]
    assert again["history"][-1]["test_accuracy"] == reference["history"][-1]["test_accuracy"]
    assert again["final"]["accuracy"] == reference["final"]["accuracy"]


@pytest.mark.parametrize(
    ("flags", "difference"),
    [
        (["--loss", "focal"], "loss: checkpoint 'ce', this run 'focal'"),
        (["--hidden", "32"], "hidden: checkpoint [128, 64], this run [32]"),
        (["--label-smoothing", "0.1"], "label_smoothing: checkpoint 0.0, this run 0.1"),
        (["--max-train", "640"], "max_train: checkpoint 512, this run 640"),
    ],
)
def test_checkpoint_of_another_configuration_is_refused_untouched(
    tmp_path, uninterrupted, capsys, flags, difference
):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(uninterrupted[0], ckpt)
    before = snapshot(ckpt)
    argv = [*FLAGS, *flags, "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"--checkpoint-dir {ckpt} holds a checkpoint (step 32) of a different " in err
    assert difference in err and "nothing in it was changed" in err
    assert snapshot(ckpt) == before
    assert not (tmp_path / "run").exists()


def test_checkpoint_past_the_end_of_a_shorter_run_is_refused(tmp_path, uninterrupted, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(uninterrupted[0], ckpt)
    before = snapshot(ckpt)
    argv = [*FLAGS, "--epochs", "1", "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "x")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "holds step 32, past the 16 steps of this run (1 epochs of 16)" in err
    assert snapshot(ckpt) == before


def test_folder_of_other_files_is_refused_untouched(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    (ckpt / "7").mkdir(parents=True)
    (ckpt / "notes.txt").write_text("mine\n")
    before = snapshot(ckpt)
    argv = [*FLAGS, "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    assert f"--checkpoint-dir {ckpt}: step 7 is not a checkpoint of this trainer" in (
        capsys.readouterr().err
    )
    assert snapshot(ckpt) == before
    (ckpt / "7").rmdir()
    before = snapshot(ckpt)
    assert cli.main(argv) == 2
    assert "is not empty but holds no complete checkpoint (found notes.txt)" in (
        capsys.readouterr().err
    )
    assert snapshot(ckpt) == before


def test_bad_checkpoint_every(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*FLAGS, "--checkpoint-every", "0", "--checkpoint-dir", "unused"])
    assert info.value.code == 2
    assert "--checkpoint-every must be >= 1 step, got 0." in capsys.readouterr().err


def test_sweep_over_seeds_resumes_each_models_data_order(tmp_path):
    """A sweep over seeds gives each model its own data order; resuming keeps them.

    The configuration of tests/test_mnist.py's seed sweep with a checkpoint every epoch:
    the same compiled programs, so in one pytest session nothing is compiled again."""
    config = Config(
        max_train=4096, max_test=1000, num_epochs=2, data_dir=SHARED_MNIST, download=False
    )
    seeds = [3, 0, 5]

    def run(folder):
        return train.sweep(
            config, "seed", seeds, progress=False, checkpoint_dir=folder, checkpoint_every=64
        )

    full = run(tmp_path / "a")
    assert full[0].checkpoint["saved_steps"] == [64, 128]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "128")  # as if killed after the first epoch was saved
    resumed = run(tmp_path / "b")
    assert resumed[0].checkpoint["resumed_from_step"] == 64
    for a, b in zip(full, resumed, strict=True):
        np.testing.assert_array_equal(a.step_losses, b.step_losses)
        assert_same_tree(a.state.params, b.state.params)
    assert not np.allclose(full[0].step_losses[:3], full[1].step_losses[:3])
    # A different sweep is a different configuration.
    with pytest.raises(checkpoint.CheckpointMismatchError, match=r"seed: checkpoint \[3, 0, 5\]"):
        train.sweep(config, "seed", [3, 0, 6], progress=False, checkpoint_dir=tmp_path / "b")
