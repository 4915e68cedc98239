"""The MNIST trainer across processes (``jax.distributed`` on 127.0.0.1, CPU, Gloo).

Two processes with two forced CPU devices each form one 4-device mesh; each process
loads only its half of every global batch. They must train the same model as one
process on 4 devices and as one process on 1 device, resume from their checkpoints, and
fail clearly on bad flags or a coordinator that never answers.

Tolerance: every run computes the same float32 operations on the same batches; what
differs is how the global sums (the loss's numerator and denominator, the gradients)
are split into per-device partial sums and combined (within a device, across devices,
across processes over Gloo). Float addition is not associative, so the runs agree to
float32 round-off, compounded through Adam over the 32 steps compared, and are not
bitwise equal (not even 2 x 2 against 1 x 4: Gloo combines the partial sums in another
order than one process does). Measured: per-step losses within 2.2e-7 relative of each
other, final parameters within 6e-8; asserted: per-step losses within rtol 1e-4 of the
1-device run (as tests/test_mnist_devices.py) and 1e-5 between the 4-device runs,
parameters within rtol 1e-4 / atol 1e-6, test accuracy within 2 of the 256 examples (a
round-off can flip an example on a decision boundary).
"""

import json
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import (
    SHARED_MNIST,
    compilation_cache_env,
    device_env,
    free_port,
    needs_mnist,
    run_on_devices,
    run_processes,
)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples import checkpoint, distributed  # noqa: E402
from examples.mnist import cli, train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402

# Slow (2 processes x 2 devices of the MNIST trainer, killed and resumed): `python -m pytest
# --run-slow` runs it, as CI does.
pytestmark = [pytest.mark.slow, needs_mnist]

N_TRAIN, N_TEST, BATCH, EPOCHS = 512, 256, 32, 2
STEPS = EPOCHS * N_TRAIN // BATCH  # 32
FLAGS = [
    "--data-dir", str(SHARED_MNIST), "--max-train", str(N_TRAIN), "--max-test", str(N_TEST),
    "--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--quiet",
]  # fmt: skip


def trainer(*argv, kill_after=None):
    """``argv(k, port)`` for ``run_processes``: the trainer as process k of 2; with
    ``kill_after``, through tests/_mnist_kill_script.py (it stops after that step's
    checkpoint is saved, for the test to SIGKILL it)."""
    program = ["-m", "examples.mnist"]
    if kill_after is not None:
        program = [str(ROOT / "tests" / "_mnist_kill_script.py"), str(kill_after)]

    def make(k, port):
        return [
            *program, "train", *argv, "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", "2", "--process-id", str(k),
        ]  # fmt: skip

    return make


def check_ok(results):
    for k, (code, out, err) in enumerate(results):
        assert code == 0, f"process {k} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"


def test_two_processes_equal_one_process_and_survive_sigkill(tmp_path):
    ckpt = tmp_path / "ckpt"
    out = [tmp_path / "out0", tmp_path / "out1"]  # only process 0's may ever appear
    flags = [*FLAGS, "--checkpoint-dir", str(ckpt), "--checkpoint-every", "6"]
    cache = compilation_cache_env(tmp_path / "jax-cache")  # the resumed run reuses programs

    # Both processes are SIGKILLed once step 18 (in epoch 2) is saved, as when the job's
    # hosts are preempted; then the same command resumes.
    def saved(stdouts):
        return all("SAVED 18" in s for s in stdouts)

    def argv(k, port, **kill):
        return [*trainer(*flags, **kill)(k, port), "--out", str(out[k])]

    results = run_processes(lambda k, port: argv(k, port, kill_after=18), env=cache,
                            kill_when=saved)  # fmt: skip
    assert [code for code, _, _ in results] == [-signal.SIGKILL] * 2, results
    assert not out[0].exists() and not out[1].exists()
    assert max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) == 18

    results = run_processes(argv, env=cache)
    check_ok(results)
    assert "resuming from step 18 of 32" in results[0][2]
    assert "resuming" not in results[1][2]  # process 1 prints nothing of its own
    assert "precision" in results[0][1] and "precision" not in results[1][1]
    assert not out[1].exists()  # and writes nothing into a run folder
    two = json.loads((out[0] / "metrics.json").read_text())
    assert (two["devices"], two["processes"]) == (4, 2)
    assert two["checkpoint"]["resumed_from_step"] == 18
    assert two["checkpoint"]["saved_steps"] == [24, 30, 32]

    argv4 = ["-m", "examples.mnist", "train", *FLAGS, "--out", str(tmp_path / "4")]
    argv4 += ["--checkpoint-dir", str(tmp_path / "ckpt4"), "--checkpoint-every", "6"]
    proc = run_on_devices(argv4)
    assert proc.returncode == 0, proc.stderr
    four = json.loads((tmp_path / "4" / "metrics.json").read_text())
    assert (four["devices"], four["processes"]) == (4, 1)

    config = Config(
        max_train=N_TRAIN, max_test=N_TEST, batch_size=BATCH, num_epochs=EPOCHS,
        data_dir=SHARED_MNIST, download=False,
    )  # fmt: skip
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-promotion clean
        one = train.train_and_evaluate(config, progress=False)
    assert one.num_devices == 1 and len(one.step_losses) == STEPS

    for run in (two, four):
        np.testing.assert_allclose(run["step_losses"], one.step_losses, rtol=1e-4, atol=1e-6)
        assert abs(run["final"]["accuracy"] - one.metrics["accuracy"]) <= 2 / N_TEST
        for a, b in zip(run["history"], one.history, strict=True):
            np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=1e-4)
    # Killed and resumed on 2 x 2 devices = uninterrupted on 1 x 4, to round-off.
    np.testing.assert_allclose(two["step_losses"], four["step_losses"], rtol=1e-5, atol=1e-7)
    state_two, meta_two = checkpoint.load_state(ckpt)
    state_four, meta_four = checkpoint.load_state(tmp_path / "ckpt4")
    assert meta_two["step"] == meta_four["step"] == STEPS
    for a, b in zip(jax.tree.leaves(state_two), jax.tree.leaves(state_four), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_batch_size_not_divisible_by_the_global_device_count():
    """The mesh spans every process's devices (``jax.devices()`` is global after
    ``jax.distributed.initialize``); the error counts them and their processes. Checked
    on stand-in devices of two processes: the error comes before any device is used."""
    devices = [types.SimpleNamespace(process_index=k // 2) for k in range(4)]
    message = (
        "--batch-size 30 is not divisible by the 4 devices (2 processes) the batch is "
        "sharded over; choose a multiple of 4, for example 28 or 32."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        train.make_mesh(30, devices=devices)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-processes", "2", "--process-id", "2"], "--process-id must be in [0, 2) for "
         "--num-processes 2, got 2."),
        (["--num-processes", "2", "--process-id", "-1"], "--process-id must be in [0, 2)"),
        (["--num-processes", "0", "--process-id", "0"], "--num-processes must be >= 1, got 0."),
    ],
)  # fmt: skip
def test_bad_process_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *FLAGS, "--coordinator", "127.0.0.1:1234", *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-processes", "2"], "missing --coordinator, --process-id."),
        (["--coordinator", "host", "--num-processes", "2", "--process-id", "0"],
         "--coordinator must be HOST:PORT with a port in 1..65535 (process 0's host), got 'host'"),
        (["--initialization-timeout", "0"], "--initialization-timeout must be >= 1 second"),
    ],
)  # fmt: skip
def test_incomplete_process_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *FLAGS, *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_no_flags_and_no_cluster_is_a_single_process_run(monkeypatch):
    for var in ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # a pod, not a JAX job
    assert distributed.detected_cluster() is None
    assert distributed.initialize() == "single"


def test_a_slurm_task_is_a_detected_cluster(monkeypatch):
    slurm = {
        "SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_NTASKS": "2",
        "SLURM_PROCID": "1", "SLURM_LOCALID": "0",
    }  # fmt: skip
    for var, value in slurm.items():
        monkeypatch.setenv(var, value)
    assert distributed.detected_cluster() == "SlurmCluster"


def test_coordinator_that_never_answers_fails_within_the_timeout():
    """Process 1 with no coordinator, and process 0 with no process 1: each stops with
    a clear error after --initialization-timeout (3 s), not a hang or a crash dump."""
    env = device_env(1)
    ports = {k: free_port() for k in (0, 1)}  # two ports: the two never find each other

    def start(k):
        argv = ["-m", "examples.mnist", "train", *FLAGS, "--initialization-timeout", "3"]
        argv += ["--coordinator", f"127.0.0.1:{ports[k]}", "--num-processes", "2"]
        return subprocess.Popen(
            [sys.executable, *argv, "--process-id", str(k)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    start_time = time.monotonic()
    procs = {k: start(k) for k in (0, 1)}
    try:
        errs = {k: p.communicate(timeout=120)[1] for k, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
    elapsed = time.monotonic() - start_time
    for k, p in procs.items():
        assert p.returncode == distributed.TIMEOUT_EXIT_STATUS, errs[k]
        assert "within 3 s (--initialization-timeout)" in errs[k]
        assert "Check failure stack trace" not in errs[k]
    assert f"process 1 of 2 could not join the coordinator at 127.0.0.1:{ports[1]}" in errs[1]
    assert f"process 0 (the coordinator at 127.0.0.1:{ports[0]}) did not hear from all 2" in errs[0]
    assert elapsed < 60  # 3 s plus start-up, not JAX's 300 s default
