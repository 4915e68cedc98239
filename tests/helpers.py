"""Assertions and utilities shared by the loss tests."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from tolerances import VALUE_ATOL, VALUE_RTOL

F32 = np.dtype("float32")


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


def run_on_devices(argv, *, devices=4, timeout=300):
    """Runs ``python *argv`` in a subprocess on ``devices`` forced CPU devices, from the
    repository root with it on ``PYTHONPATH``; returns the ``CompletedProcess`` (text)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
