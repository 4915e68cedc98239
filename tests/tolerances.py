"""Tolerances keyed by dtype, in one place."""

import numpy as np

VALUE_RTOL = {np.dtype("float32"): 2e-5, np.dtype("float64"): 1e-10}
VALUE_ATOL = {np.dtype("float32"): 2e-5, np.dtype("float64"): 1e-10}
GRAD_RTOL = 2e-3
GRAD_ATOL = 2e-4
BF16_RTOL = 2e-2
