"""Records ``torch.nn.functional.kl_div`` on the cases of ``tests/test_divergence.py``.

Run by hand (torch is not a dependency of jaxloss or of its tests):

    pip install torch==2.13.0
    python tests/_torch_kl_div.py

and paste the printed dict over ``TORCH_RECORDED`` in ``tests/test_divergence.py``. Importing
this module only defines the cases (NumPy); torch is imported in ``main``.
"""

from __future__ import annotations

import pprint

import numpy as np


def _log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


X2 = _log_softmax(np.linspace(-2.0, 2.0, 12).reshape(3, 4) ** 2)
P2 = np.exp(_log_softmax(np.cos(np.arange(12.0)).reshape(3, 4)))
P2_ZERO = P2.copy()
P2_ZERO[1, 2] = 0.0  # an exact zero target at a finite input: 0 in PyTorch too
X3 = _log_softmax(np.sin(np.arange(24.0)).reshape(2, 3, 4))
P3 = np.exp(_log_softmax(np.cos(np.arange(24.0) / 3.0).reshape(2, 3, 4)))

# name -> (input, target, reduction, log_target)
CASES = {
    **{
        f"2d-{r}-{'log' if lt else 'prob'}": (X2, np.log(P2) if lt else P2_ZERO, r, lt)
        for r in ("none", "sum", "mean", "batchmean")
        for lt in (False, True)
    },
    "3d-batchmean": (X3, P3, "batchmean", False),
    "3d-mean": (X3, P3, "mean", False),
    "3d-none-log": (X3, np.log(P3), "none", True),
    "0d-batchmean": (np.float64(-1.2), np.float64(0.4), "batchmean", False),
    "broadcast-target-sum": (X2, P2[0], "sum", False),
    # the broadcasting kept (leading axes of size 1 or missing, a 0-d target); a size-1 class
    # axis is an error in jaxloss (PyTorch spreads it over the classes)
    "broadcast-row-target-batchmean": (X2, P2[1:2], "batchmean", False),
    "broadcast-middle-axis-none-log": (X3, np.log(P3[:, :1]), "none", True),
    "scalar-target-mean": (X2, np.float64(0.3), "mean", False),
    "unnormalised-input-mean": (X2 + 0.7, P2, "mean", False),
}
# name -> (case, which argument): gradients of the sum of the "none" loss
GRAD_CASES = {
    "grad-input-prob": ("2d-none-prob", "input"),
    "grad-target-prob": ("2d-none-prob", "target"),
    "grad-input-log": ("2d-none-log", "input"),
    "grad-target-log": ("2d-none-log", "target"),
}
# For the gradients the zero target is moved off 0 (PyTorch's target gradient there is NaN).
GRAD_TARGETS = {"2d-none-prob": P2, "2d-none-log": np.log(P2)}


def main() -> None:
    import torch
    import torch.nn.functional as F

    recorded = {}
    for name, (x, t, reduction, log_target) in CASES.items():
        out = F.kl_div(
            torch.tensor(x), torch.tensor(t), reduction=reduction, log_target=log_target
        )
        recorded[name] = out.tolist()
    for name, (case, which) in GRAD_CASES.items():
        x, _, _, log_target = CASES[case]
        xt = torch.tensor(x, requires_grad=True)
        tt = torch.tensor(GRAD_TARGETS[case], requires_grad=True)
        F.kl_div(xt, tt, reduction="none", log_target=log_target).sum().backward()
        recorded[name] = (xt if which == "input" else tt).grad.tolist()
    print(f"# torch {torch.__version__}")
    print("TORCH_RECORDED = " + pprint.pformat(recorded, width=96, sort_dicts=False))


if __name__ == "__main__":
    main()
