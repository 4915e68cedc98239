"""The suite compiles with LLVM's optimisations off and XLA's classic emitters (conftest.py,
for compile speed); this reruns, in a subprocess with XLA's default flags (what users run),
the checks where compute precision shows: the transformation matrix's dtype column (value
and gradient from float16, bfloat16 and float32 inputs, computed in float32, against the
float64 reference at the rounded inputs) for the first case of two functions of each jaxloss
module and of the focal-type losses (the other cases share their kernels; the whole column
took 187 s of the suite's 23 minutes at 58 exports), and the binary kernels' float32
precision test. Values differ between the two flag sets only by rounding, so every check
passes under both.

The float64 columns (jit, vmap, grad, jvp, the hyperparameter and target derivatives, int32
targets; hessian, checkpoint and export were never rerun) are not rerun: under the two flag
sets their 667 output arrays over every case agree to 3.2e-14 absolute and 1.8e-13 relative
at most (245 differ at all; measured 2026-12-07), thousands of times inside their tolerances
(1e-9 relative / 1e-11 absolute against the reference, 1e-6 / 1e-7 against finite
differences), so they cannot tell the flag sets apart: they check structure (tracing,
batching, differentiation), which the flags do not touch. Every export's forward and backward
program still compiles and runs under the default flags here (the dtype column), in float32
and below, where rounding shows.
"""

import os
import subprocess
import sys

import pytest
from cases import REGISTRY
from helpers import FAST_COMPILE, ROOT

import jaxloss

pytestmark = pytest.mark.slow


# Functions whose (1 - p)**gamma-style factors round differently from their module's first
# two functions' terms: rerun too.
FOCAL_FACTORS = {
    "focal_loss", "poly1_cross_entropy", "distillation_loss", "sigmoid_focal_loss",
    "asymmetric_loss", "varifocal_loss", "quality_focal_loss",
}


def _dtype_column_sample() -> list[str]:
    """The dtype column's cases rerun under the default flags: the first case of the first
    two functions of each jaxloss module (its kernels: the logsumexp, the log1p polynomial,
    the overlap sums, the distance transform, ...), not every option set of every function,
    which share them."""
    per_module: dict[str, dict[str, str]] = {}
    for key, case in REGISTRY.items():
        if "dtype" in case.not_applicable:
            continue
        names = per_module.setdefault(getattr(jaxloss, case.name).__module__, {})
        if case.name not in names and (len(names) < 2 or case.name in FOCAL_FACTORS):
            names[case.name] = key
    return [f"tests/test_transformations.py::test_dtypes[{k}]" for names in per_module.values()
            for k in names.values()]


UNDER_DEFAULT_FLAGS = [
    *_dtype_column_sample(),
    "tests/test_binary.py::test_backward_log1p_polynomial_is_within_three_ulp",
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
    assert " skipped" not in proc.stdout, proc.stdout[-2000:]
