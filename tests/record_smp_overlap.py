"""Records segmentation_models_pytorch 0.6's ``JaccardLoss`` and ``MCCLoss`` (values and
gradients, float64) for ``tests/test_segmentation.py`` (run by hand).

SMP's package ``__init__`` imports its encoders (timm, torchvision, Pillow, huggingface_hub);
its ``losses`` subpackage needs only torch, so SMP is installed without dependencies and the
subpackage imported under an empty parent package:

    python -m venv /tmp/smpvenv
    /tmp/smpvenv/bin/pip install torch==2.13.0 numpy
    /tmp/smpvenv/bin/pip install segmentation-models-pytorch==0.6.0 --no-deps
    /tmp/smpvenv/bin/python tests/record_smp_overlap.py

It writes ``tests/data/smp_overlap.npz``: for each case of :data:`CASES` (``id``), the
inputs it ran on (``{id}/pred``, ``{id}/true``; channel-first (N, C, H, W), float64, integer
labels int64), SMP's loss (``{id}/value``) and its gradient with respect to the prediction
(``{id}/grad``), all float64. Importing this module does nothing but define the inputs (the
test collection imports it); torch and SMP are imported inside ``main`` only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("data") / "smp_overlap.npz"
N, C, H, W = 2, 4, 3, 4


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def smp_overlap_inputs() -> dict[str, np.ndarray]:
    """Channel-first float64 inputs: class 3 absent from the labels, an empty mask channel,
    soft targets, saturated logits."""
    rng = np.random.default_rng(2313)
    logits = 2.0 * rng.standard_normal((N, C, H, W))
    labels = rng.integers(0, 3, (N, H, W))  # class 3 absent from the whole batch
    ignored = labels.copy()
    ignored[0, 0, :] = 255
    ignored[1, :, 0] = 255
    masks = (rng.random((N, C, H, W)) < 0.4).astype(np.float64)
    masks[:, 2] = 0.0  # channel 2 empty everywhere
    binary = masks[:, :1].copy()
    soft = rng.uniform(0.0, 1.0, (N, C, H, W))
    soft[:, 1, 0, :] = 0.0
    soft[:, 1, 1, :] = 1.0
    saturated = np.where(rng.random((N, 1, H, W)) < 0.5, -100.0, 100.0)
    saturated[0, 0, 0, :2] = [100.0, -100.0]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tiny = np.full((N, 2, H, W), 1e-10)  # sums far below eps: the clamp acts
    tiny[0, 0, 0, 0] = 3e-9
    tiny_true = np.full((N, 2, H, W), 2e-10)
    return {
        "logits": logits, "labels": labels, "ignored": ignored, "masks": masks,
        "binary": binary, "empty": np.zeros_like(binary), "soft": soft,
        "saturated": saturated, "probs": probs, "sigmoid": _sigmoid(logits),
        "sigmoid1": _sigmoid(logits[:, :1]), "tiny": tiny, "tiny_true": tiny_true,
    }


# id -> (SMP class name, constructor kwargs, prediction input, target input)
CASES: dict[str, tuple[str, dict, str, str]] = {
    "jaccard/multiclass": ("JaccardLoss", dict(mode="multiclass"), "logits", "labels"),
    "jaccard/multiclass log smooth": (
        "JaccardLoss", dict(mode="multiclass", log_loss=True, smooth=0.5), "logits", "labels"),
    "jaccard/multiclass ignore_index": (
        "JaccardLoss", dict(mode="multiclass", ignore_index=255), "logits", "ignored"),
    "jaccard/multiclass classes weights": (
        "JaccardLoss", dict(mode="multiclass", classes=[1, 3],
                            class_weights=[0.5, 2.0, 1.0, 3.0]), "logits", "labels"),
    "jaccard/multiclass classes": (
        "JaccardLoss", dict(mode="multiclass", classes=[0, 2]), "logits", "labels"),
    "jaccard/multiclass probs": (
        "JaccardLoss", dict(mode="multiclass", from_logits=False), "probs", "labels"),
    "jaccard/binary": ("JaccardLoss", dict(mode="binary"), "logits1", "binary"),
    "jaccard/binary empty": ("JaccardLoss", dict(mode="binary"), "logits1", "empty"),
    "jaccard/binary empty log": (
        "JaccardLoss", dict(mode="binary", log_loss=True), "logits1", "empty"),
    "jaccard/binary saturated log": (
        "JaccardLoss", dict(mode="binary", log_loss=True), "saturated", "binary"),
    "jaccard/multilabel log": (
        "JaccardLoss", dict(mode="multilabel", log_loss=True), "logits", "masks"),
    "jaccard/multilabel soft": ("JaccardLoss", dict(mode="multilabel"), "logits", "soft"),
    "jaccard/multilabel soft probs smooth": (
        "JaccardLoss", dict(mode="multilabel", from_logits=False, smooth=1.0), "sigmoid", "soft"),
    "jaccard/multilabel tiny eps": (
        "JaccardLoss", dict(mode="multilabel", from_logits=False, log_loss=True),
        "tiny", "tiny_true"),
    "mcc/default": ("MCCLoss", {}, "sigmoid1", "binary"),
    "mcc/empty": ("MCCLoss", {}, "sigmoid1", "empty"),
    "mcc/eps": ("MCCLoss", dict(eps=1e-2), "sigmoid1", "binary"),
    "mcc/perfect": ("MCCLoss", {}, "binary", "binary"),
    "mcc/soft channels": ("MCCLoss", {}, "sigmoid", "soft"),
}


def case_inputs(case_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The (prediction, target) arrays of a case (``logits1`` is the first channel)."""
    inputs = smp_overlap_inputs()
    inputs["logits1"] = inputs["logits"][:, :1]
    _, _, pred, true = CASES[case_id]
    return inputs[pred], inputs[true]


def _import_smp_losses():
    """``segmentation_models_pytorch.losses`` without the package's ``__init__``."""
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("segmentation_models_pytorch")
    package = types.ModuleType("segmentation_models_pytorch")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["segmentation_models_pytorch"] = package
    import segmentation_models_pytorch.losses as losses

    return losses


def main() -> None:
    from importlib.metadata import version

    import torch

    losses = _import_smp_losses()
    out: dict[str, np.ndarray] = {}
    for case_id, (cls, kwargs, _, _) in CASES.items():
        pred, true = case_inputs(case_id)
        x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(true)  # int64 labels, float64 masks
        value = getattr(losses, cls)(**kwargs)(x, y)
        (grad,) = torch.autograd.grad(value, x)
        out[f"{case_id}/pred"] = pred
        out[f"{case_id}/true"] = true
        out[f"{case_id}/value"] = np.float64(value.item())
        out[f"{case_id}/grad"] = grad.numpy()
        print(f"{case_id}: {value.item():.10g}")
    out["versions"] = np.array(
        f"segmentation_models_pytorch {version('segmentation_models_pytorch')}, "
        f"torch {torch.__version__}"
    )
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({out['versions']})")


if __name__ == "__main__":
    main()
