"""Records PyTorch's ``F.ctc_loss`` on the shared input of ``tests/test_sequence.py``.

Run by hand where torch is installed (torch is never a test dependency):

    python tests/record_torch_ctc.py > /tmp/recorded.py

and paste the printed dict over ``TORCH_RECORDED`` in ``tests/test_sequence.py``. The values
there were recorded with torch 2.13.0 (CPU), float64.
"""

from __future__ import annotations

import numpy as np

# The shared input: 5 sequences, T = 6 frames, C = 5 classes, padded width S = 3.
T, N, C = 6, 5, 5
TARGETS = np.array([[1, 2, 2], [3, 1, 4], [2, 0, 0], [1, 1, 1], [0, 0, 0]], np.int64)
INPUT_LENGTHS = np.array([6, 5, 3, 4, 2], np.int64)
# Sequence 0 repeats a label (needs 4 frames), 2 has padding, 3 is infeasible ("111" needs 5
# frames, it has 4), 4 is empty (all blanks).
TARGET_LENGTHS = np.array([3, 3, 1, 3, 0], np.int64)
# blank = C - 1 = 4: the same targets with 4 replaced by 0.
TARGETS_BLANK_LAST = np.where(TARGETS == 4, 0, TARGETS)


def shared_logits() -> np.ndarray:
    """(T, N, C) float64 logits from a formula (no RNG, so any library reproduces them)."""
    t, n, c = np.meshgrid(np.arange(T), np.arange(N), np.arange(C), indexing="ij")
    return 2.0 * np.sin(1.3 * t + 0.7 * n + 2.1 * c)


def shared_log_probs() -> np.ndarray:
    x = shared_logits()
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def concatenated(targets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([targets[i, : lengths[i]] for i in range(len(lengths))])


def main() -> None:
    import torch
    import torch.nn.functional as F

    logits = torch.from_numpy(shared_logits())
    il, tl = torch.from_numpy(INPUT_LENGTHS), torch.from_numpy(TARGET_LENGTHS)
    tg = torch.from_numpy(TARGETS)

    def loss(x, reduction, zero_infinity=False, targets=tg, blank=0):
        return F.ctc_loss(x, targets, il, tl, blank=blank, reduction=reduction,
                          zero_infinity=zero_infinity)

    lp = logits.log_softmax(-1)
    out = {"torch": torch.__version__}
    for zi in (False, True):
        for reduction in ("none", "sum", "mean"):
            value = loss(lp, reduction, zi)
            out[f"{reduction}{'_zero_infinity' if zi else ''}"] = value.tolist()
    out["none_blank_last"] = loss(
        lp, "none", targets=torch.from_numpy(TARGETS_BLANK_LAST), blank=C - 1
    ).tolist()
    # Gradients of the "mean" loss with zero_infinity: with respect to the log-probabilities
    # (what torch's CTC backward returns) and to the logits through log_softmax.
    x = lp.detach().clone().requires_grad_(True)
    (g_lp,) = torch.autograd.grad(loss(x, "mean", True), x)
    z = logits.clone().requires_grad_(True)
    (g_logits,) = torch.autograd.grad(loss(z.log_softmax(-1), "mean", True), z)
    # Flattened (T * N * C,), 10 decimals. PyTorch's gradient with respect to log_probs is
    # already its logits' gradient (each frame's row sums to 0, so log_softmax's backward
    # leaves it unchanged): the second is recorded as its largest difference from the first.
    out["grad_log_probs_mean_zero_infinity"] = np.round(g_lp.numpy(), 10).ravel().tolist()
    out["max_abs_grad_logits_minus_grad_log_probs"] = float((g_logits - g_lp).abs().max())
    print("TORCH_RECORDED = {")
    for key, value in out.items():
        if isinstance(value, list) and len(value) > 3:
            print(f"    {key!r}: [")
            for i in range(0, len(value), 6):
                print("        " + ", ".join(_number(v) for v in value[i : i + 6]) + ",")
            print("    ],")
        elif isinstance(value, list):
            print(f"    {key!r}: [{', '.join(_number(v) for v in value)}],")
        else:
            print(f"    {key!r}: {_number(value) if isinstance(value, float) else repr(value)},")
    print("}")


def _number(v: float) -> str:
    return "math.inf" if v == np.inf else repr(v)


if __name__ == "__main__":
    main()
