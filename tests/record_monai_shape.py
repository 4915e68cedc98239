"""Records MONAI 1.6's shape-aware losses (values and gradients, float64) for
``tests/test_shape.py`` (run by hand).

MONAI is installed without its optional dependencies (these losses need torch, NumPy and
SciPy only):

    python -m venv /tmp/monaivenv
    /tmp/monaivenv/bin/pip install torch==2.13.0 numpy scipy
    /tmp/monaivenv/bin/pip install monai --no-deps
    /tmp/monaivenv/bin/python tests/record_monai_shape.py

It writes ``tests/data/monai_shape.npz``: for each case of :data:`CASES` (``id``), the
inputs in jaxloss's layout (``{id}/pred``: channel-last (N, H, W[, D], C) float64 logits or
probabilities; ``{id}/true``: int64 labels (N, H, W[, D]) or float64 masks with the
prediction's shape), MONAI's loss (``{id}/value``, the output of its ``reduction``, with
MONAI's shape) and its gradient with respect to the prediction (``{id}/grad``, of the sum of
the output, channel-last), all float64. MONAI gets the same arrays channel-first (and integer
labels as (N, 1, ...) with ``to_onehot_y=True``). Importing this module does nothing but
define the inputs (the test collection imports it); torch and MONAI are imported in ``main``.

MONAI casts its distance maps to float32 (``.float()`` in ``HausdorffDTLoss``, float32 maps
in ``BoundaryLoss``), so its float64 values carry float32-rounded distances: the test
compares at a relative 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("data") / "monai_shape.npz"


def shape_inputs() -> dict[str, np.ndarray]:
    """Channel-last float64 inputs: (2, 16, 16, 3) images and a (1, 8, 8, 8, 2) volume, blobs
    for labels (so that the distance maps are not trivial), empty and full masks."""
    rng = np.random.default_rng(2331)
    yy, xx = np.mgrid[:16, :16]
    labels = np.zeros((2, 16, 16), np.int64)
    labels[0][(yy - 6) ** 2 + (xx - 7) ** 2 < 20] = 1
    labels[0][(yy >= 10) & (xx >= 9) & (xx < 14)] = 2
    labels[1][(yy - 9) ** 2 / 3.0 + (xx - 8) ** 2 / 12.0 < 4] = 2
    labels[1][2, 2:12] = 1  # a thin line (clDice's case)
    onehot = np.eye(3)[labels]
    logits = 3.0 * (2.0 * onehot - 1.0) + 2.5 * rng.standard_normal((2, 16, 16, 3))
    masks = (rng.random((2, 16, 16, 3)) < 0.2).astype(np.float64)
    masks[..., 1] = onehot[..., 1]
    masks[..., 2] = onehot[..., 2]
    empty = masks.copy()
    empty[0, ..., 0] = 0.0  # an absent channel
    empty[0, ..., 1] = 1.0  # a full channel
    empty[1, ..., 2] = 0.0
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    zz, yv, xv = np.mgrid[:8, :8, :8]
    labels3 = ((zz - 3.5) ** 2 + (yv - 4) ** 2 + (xv - 3) ** 2 < 7).astype(np.int64)[None]
    logits3 = 3.0 * (2.0 * np.eye(2)[labels3] - 1.0) + 2.5 * rng.standard_normal((1, 8, 8, 8, 2))
    empty_logits = logits.copy()
    empty_logits[1, ..., 2] = -6.0  # a channel predicted nowhere (sigmoid < 0.5)
    return {
        "logits": logits, "labels": labels, "masks": masks, "empty": empty, "probs": probs,
        "logits3": logits3, "labels3": labels3, "empty_logits": empty_logits,
    }


# id -> (MONAI class, MONAI kwargs, prediction, target, jaxloss name, jaxloss kwargs).
# Integer targets go to MONAI one-hot encoded by ``to_onehot_y=True``; MONAI's activation flags
# are jaxloss's ``activation`` (MONAI's default, no activation, is ``activation="none"``).
SOFTMAX = dict(softmax=True, to_onehot_y=True)
SIGMOID = dict(sigmoid=True)
CASES: dict[str, tuple[str, dict, str, str, str, dict]] = {
    "hausdorff/softmax": (
        "HausdorffDTLoss", SOFTMAX, "logits", "labels", "hausdorff_dt_loss", {}),
    "hausdorff/softmax background alpha none": (
        "HausdorffDTLoss", dict(SOFTMAX, include_background=True, alpha=1.5, reduction="none"),
        "logits", "labels", "hausdorff_dt_loss",
        dict(include_background=True, alpha=1.5, reduction="none")),
    "hausdorff/sigmoid batch sum": (
        "HausdorffDTLoss", dict(SIGMOID, batch=True, reduction="sum", include_background=True),
        "logits", "masks", "hausdorff_dt_loss",
        dict(activation="sigmoid", batch=True, reduction="sum", include_background=True)),
    "hausdorff/probs": (
        "HausdorffDTLoss", dict(to_onehot_y=True), "probs", "labels", "hausdorff_dt_loss",
        dict(activation="none")),
    "hausdorff/empty masks": (
        "HausdorffDTLoss", dict(SIGMOID, include_background=True, reduction="none"),
        "empty_logits", "empty", "hausdorff_dt_loss",
        dict(activation="sigmoid", include_background=True, reduction="none")),
    "hausdorff/3d": (
        "HausdorffDTLoss", SOFTMAX, "logits3", "labels3", "hausdorff_dt_loss", {}),
    "log_hausdorff/softmax": (
        "LogHausdorffDTLoss", SOFTMAX, "logits", "labels", "log_hausdorff_dt_loss", {}),
    "log_hausdorff/sigmoid none": (
        "LogHausdorffDTLoss", dict(SIGMOID, include_background=True, reduction="none"),
        "logits", "masks", "log_hausdorff_dt_loss",
        dict(activation="sigmoid", include_background=True, reduction="none")),
    "boundary/softmax": ("BoundaryLoss", SOFTMAX, "logits", "labels", "boundary_loss", {}),
    "boundary/softmax none": (
        "BoundaryLoss", dict(SOFTMAX, reduction="none"), "logits", "labels", "boundary_loss",
        dict(reduction="none")),
    "boundary/sigmoid batch no background": (
        "BoundaryLoss", dict(SIGMOID, batch=True, include_background=False), "logits", "masks",
        "boundary_loss", dict(activation="sigmoid", batch=True, include_background=False)),
    "boundary/empty masks": (
        "BoundaryLoss", dict(SIGMOID, reduction="none"), "empty_logits", "empty",
        "boundary_loss", dict(activation="sigmoid", reduction="none")),
    "boundary/3d sum": (
        "BoundaryLoss", dict(SOFTMAX, reduction="sum"), "logits3", "labels3", "boundary_loss",
        dict(reduction="sum")),
    "cldice/softmax": ("SoftclDiceLoss", SOFTMAX, "logits", "labels", "soft_cldice_loss", {}),
    "cldice/sigmoid none": (
        "SoftclDiceLoss", dict(SIGMOID, reduction="none"), "logits", "masks",
        "soft_cldice_loss", dict(activation="sigmoid", reduction="none")),
    "cldice/options": (
        "SoftclDiceLoss",
        dict(SOFTMAX, iter_=5, smooth_nr=0.5, smooth_dr=0.5, smooth=1e-3,
             include_background=False, reduction="sum"),
        "logits", "labels", "soft_cldice_loss",
        dict(iterations=5, smooth=0.5, eps=1e-3, include_background=False, reduction="sum")),
    "cldice/iterations 0": (
        "SoftclDiceLoss", dict(SOFTMAX, iter_=0), "logits", "labels", "soft_cldice_loss",
        dict(iterations=0)),
    "cldice/empty masks": (
        "SoftclDiceLoss", dict(SIGMOID, reduction="none"), "empty_logits", "empty",
        "soft_cldice_loss", dict(activation="sigmoid", reduction="none")),
    "cldice/3d": ("SoftclDiceLoss", SOFTMAX, "logits3", "labels3", "soft_cldice_loss", {}),
    "dice_cldice/softmax": (
        "SoftDiceclDiceLoss", SOFTMAX, "logits", "labels", "soft_dice_cldice_loss", {}),
    "dice_cldice/sigmoid alpha no background": (
        "SoftDiceclDiceLoss", dict(SIGMOID, alpha=0.3, include_background=False), "logits",
        "masks", "soft_dice_cldice_loss",
        dict(activation="sigmoid", alpha=0.3, include_background=False)),
    "dice_cldice/3d": (
        "SoftDiceclDiceLoss", dict(SOFTMAX, iter_=2), "logits3", "labels3",
        "soft_dice_cldice_loss", dict(iterations=2)),
}


def case_inputs(case_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The (prediction, target) arrays of a case, in jaxloss's layout."""
    inputs = shape_inputs()
    _, _, pred, true, _, _ = CASES[case_id]
    return inputs[pred], inputs[true]


def main() -> None:
    from importlib.metadata import version

    import monai.losses
    import torch

    out: dict[str, np.ndarray] = {}
    for case_id, (cls, kwargs, _, _, _, _) in CASES.items():
        pred, true = case_inputs(case_id)
        x = torch.tensor(np.moveaxis(pred, -1, 1), dtype=torch.float64, requires_grad=True)
        if true.dtype.kind == "i":
            y = torch.tensor(true[:, None])
        else:
            y = torch.tensor(np.moveaxis(true, -1, 1))
        value = getattr(monai.losses, cls)(**kwargs)(x, y)
        (grad,) = torch.autograd.grad(value.sum(), x)
        out[f"{case_id}/pred"] = pred
        out[f"{case_id}/true"] = true
        out[f"{case_id}/value"] = value.detach().numpy().astype(np.float64)
        out[f"{case_id}/grad"] = np.moveaxis(grad.numpy(), 1, -1)
        print(f"{case_id}: {value.detach().numpy().ravel()[:4]}")
    out["versions"] = np.array(f"monai {version('monai')}, torch {torch.__version__}")
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({out['versions']})")


if __name__ == "__main__":
    main()
