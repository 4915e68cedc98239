"""The MNIST trainer across processes (``jax.distributed`` on 127.0.0.1, CPU, Gloo).

Two processes with two forced CPU devices each form one 4-device mesh; each process
loads only its half of every global batch. They must train the same model as one
process on 4 devices and as one process on 1 device, resume from their checkpoints, and
fail clearly on bad flags or a coordinator that never answers.

Tolerance: every run computes the same float32 operations on the same batches; what
differs is how the global sums (the loss's numerator and denominator, the gradients)
are split into per-device partial sums and combined (within a device, across devices,
across processes over Gloo). Float addition is not associative, so the runs agree to
float32 round-off (a few ulp per step, ~1e-7 relative), compounded through Adam over the
32 steps compared: per-step losses within rtol 1e-4 (as tests/test_mnist_devices.py for
one process), test accuracy within 2 of the 256 test examples (a round-off can flip an
example that sits on a decision boundary). Not bitwise: the 1-device run has no
cross-device reduction at all.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import compilation_cache_env, free_port, run_on_devices, run_processes

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples import checkpoint, distributed  # noqa: E402
from examples.mnist import cli, train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402

SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
N_TRAIN, N_TEST, BATCH, EPOCHS = 512, 256, 32, 2
STEPS = EPOCHS * N_TRAIN // BATCH  # 32
FLAGS = [
    "--data-dir", str(SHARED_MNIST), "--max-train", str(N_TRAIN), "--max-test", str(N_TEST),
    "--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--quiet",
]  # fmt: skip


def trainer(*argv):
    """``argv(k, port)`` for ``run_processes``: the trainer as process k of 2."""

    def make(k, port):
        return [
            "-m", "examples.mnist", "train", *argv, "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", "2", "--process-id", str(k),
        ]  # fmt: skip

    return make


def check_ok(results):
    for k, (code, out, err) in enumerate(results):
        assert code == 0, f"process {k} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"


def test_two_processes_equal_one_process_and_resume(tmp_path):
    ckpt = tmp_path / "ckpt"
    # Each process gets its own --out: only process 0's may appear.
    out = [tmp_path / "out0", tmp_path / "out1"]
    flags = [*FLAGS, "--checkpoint-dir", str(ckpt), "--checkpoint-every", "6"]

    def argv(k, port):
        return [*trainer(*flags)(k, port), "--out", str(out[k])]

    cache = compilation_cache_env(tmp_path / "jax-cache")  # the resumed run reuses programs
    results = run_processes(argv, env=cache)
    check_ok(results)
    two = json.loads((out[0] / "metrics.json").read_text())
    assert (two["devices"], two["processes"]) == (4, 2)
    assert not out[1].exists()  # process 1 writes nothing into a run folder
    assert "precision" in results[0][1] and "precision" not in results[1][1]  # nor prints
    assert two["checkpoint"]["saved_steps"] == [6, 12, 18, 24, 30, 32]

    proc = run_on_devices(["-m", "examples.mnist", "train", *FLAGS, "--out", str(tmp_path / "4")])
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
    np.testing.assert_allclose(two["step_losses"], four["step_losses"], rtol=1e-5, atol=1e-7)

    # Multi-process resume: as if both processes were killed after step 30 was saved.
    final_state, _ = checkpoint.load_state(ckpt)
    shutil.rmtree(ckpt / "32")
    results = run_processes(argv, env=cache)
    check_ok(results)
    assert "resuming from step 30 of 32" in results[0][2]
    assert "resuming" not in results[1][2]
    resumed = json.loads((out[0] / "metrics.json").read_text())
    assert resumed["checkpoint"]["resumed_from_step"] == 30
    assert resumed["checkpoint"]["saved_steps"] == [32]
    assert resumed["step_losses"] == two["step_losses"]
    assert resumed["final"]["confusion_matrix"] == two["final"]["confusion_matrix"]
    resumed_state, _ = checkpoint.load_state(ckpt)
    for a, b in zip(jax.tree.leaves(resumed_state), jax.tree.leaves(final_state), strict=True):
        np.testing.assert_array_equal(a, b)


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
    for var in ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.detected_cluster() is None
    assert distributed.initialize() == "single"


def test_coordinator_that_never_answers_fails_within_the_timeout():
    """Process 1 with no coordinator, and process 0 with no process 1: each stops with
    a clear error after --initialization-timeout (3 s), not a hang or a crash dump."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
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
