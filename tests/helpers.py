"""Assertions and utilities shared by the loss tests."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from tolerances import VALUE_ATOL, VALUE_RTOL

F32 = np.dtype("float32")

# The four MNIST IDX files of ../shared/data/mnist (beside the clone): tests read them from
# there and never download. Where they are absent, the tests that need them skip and say why.
SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)
HAVE_MNIST = all((SHARED_MNIST / name).is_file() for name in MNIST_FILES)
needs_mnist = pytest.mark.skipif(
    not HAVE_MNIST,
    reason=f"MNIST is not at {SHARED_MNIST} (the four IDX files of ../shared/data/mnist beside "
    "the clone); tests never download it",
)


def maybe_jit(mode, fn):
    return jax.jit(fn) if mode == "jit" else fn


def assert_close(got, want, rtol=None, atol=None):
    """``assert_allclose`` with the tolerances of ``got``'s dtype (float32 for others)."""
    got = np.asarray(got)
    dtype = got.dtype if got.dtype in VALUE_RTOL else F32
    np.testing.assert_allclose(
        got,
        want,
        rtol=VALUE_RTOL[dtype] if rtol is None else rtol,
        atol=VALUE_ATOL[dtype] if atol is None else atol,
    )


def fd_grad(f, x, h=1e-6):
    """Central finite differences of a float64 function of an array."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


ROOT = Path(__file__).resolve().parents[1]

# The XLA flags the suite compiles with (conftest.py): LLVM's optimisation passes off and the
# classic loop emitters, for compile speed.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def device_env(devices, extra=None) -> dict:
    """This process's environment plus ``extra``, for a Python subprocess on ``devices``
    forced CPU devices with the repository root on ``PYTHONPATH``."""
    env = dict(os.environ, **(extra or {}))
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_on_devices(argv, *, devices=4, timeout=300, env=None):
    """Runs ``python *argv`` in a subprocess on ``devices`` forced CPU devices, from the
    repository root with it on ``PYTHONPATH``; returns the ``CompletedProcess`` (text).
    ``env``: extra environment variables."""
    env = device_env(devices, env)
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compilation_cache_env(folder) -> dict:
    """Environment variables that make JAX processes share compiled programs through a
    persistent cache in ``folder`` (every program, however quick to compile)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def run_processes(argv, *, processes=2, devices=2, timeout=240, grace=20, env=None, kill_when=None):
    """Runs ``python *argv(k)`` for k in range(processes) at once, each on ``devices``
    forced CPU devices, like the processes of one multi-host job.

    ``argv(k, port)`` gives process k's arguments; ``port`` is a free port for the
    coordinator. Output goes to files (no pipe can fill up and stall a process). When a
    process fails, the others get ``grace`` seconds to fail too (they would otherwise
    wait for their dead peer); past ``timeout`` in all, or on any error here, every
    process still running is killed. ``env``: extra environment variables.
    ``kill_when(stdouts)``: SIGKILL every process as soon as this returns True for the
    processes' output so far (a job whose hosts all die at once). Returns
    ``[(returncode, stdout, stderr), ...]``.
    """
    import tempfile
    import time

    env = device_env(devices, env)
    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        procs, files = [], []
        try:
            for k in range(processes):
                out = open(Path(logs) / f"{k}.out", "w+")  # noqa: SIM115
                err = open(Path(logs) / f"{k}.err", "w+")  # noqa: SIM115
                files.append((out, err))
                procs.append(
                    subprocess.Popen(
                        [sys.executable, *argv(k, port)], cwd=ROOT, env=env, stdout=out,
                        stderr=err, text=True,
                    )
                )
            start = time.monotonic()
            deadline = start + timeout
            failed_at = None
            while any(p.poll() is None for p in procs):
                if kill_when is not None and kill_when(
                    [Path(out.name).read_text() for out, _ in files]
                ):
                    for p in procs:
                        p.kill()
                    break
                now = time.monotonic()
                if failed_at is None and any(p.poll() not in (None, 0) for p in procs):
                    failed_at = now
                if now > deadline or (failed_at is not None and now > failed_at + grace):
                    break
                time.sleep(0.1)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
        results = []
        for p, (out, err) in zip(procs, files, strict=True):
            out.seek(0)
            err.seek(0)
            results.append((p.returncode, out.read(), err.read()))
            out.close()
            err.close()
    return results
