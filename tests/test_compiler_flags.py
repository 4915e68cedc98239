"""The suite compiles with LLVM's optimisations off and XLA's classic emitters (conftest.py,
for compile speed); this reruns, in a subprocess with XLA's default flags (what users run),
the transformation matrix (every export: values and derivatives against the float64
reference, and float16/bfloat16/float32 compute) and the binary kernels' float32 precision
tests. Values differ between the two only by rounding, so every check passes under both.
"""

import os
import subprocess
import sys

import pytest
from helpers import FAST_COMPILE, ROOT

pytestmark = pytest.mark.slow

UNDER_DEFAULT_FLAGS = [
    "tests/test_transformations.py",
    "tests/test_binary.py::test_backward_log1p_polynomial_is_within_three_ulp",
    "-k",
    # the columns where compute precision shows (the others are the same programs' structure)
    "not (jacfwd or linearize or hessian or checkpoint or export or above_the_blocked)",
]


def test_checks_pass_under_xla_default_flags():
    env = dict(os.environ, JAXLOSS_TEST_XLA="default")
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace(FAST_COMPILE, "").strip()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "--run-slow",
         *UNDER_DEFAULT_FLAGS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-2000:]
