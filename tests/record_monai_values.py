"""Records the MONAI 1.6.1 and SMP values that ``tests/test_segmentation.py`` pins (run by hand).

    pip install torch==2.13.0 monai==1.6.1 segmentation-models-pytorch
    python tests/record_monai_values.py      # then paste the dict into PEER_RECORDED

Each case calls a MONAI or segmentation_models_pytorch (SMP) loss on the shared float64
inputs of :func:`peer_inputs` (plain formulas, channel-first (N, C, H, W)) and prints its
value. Never imported by the test suite for its peers: torch, MONAI and SMP are not test
dependencies (collection imports this module, so they are imported inside ``main`` only).
"""

from __future__ import annotations

import numpy as np


def peer_inputs():
    """(2, 3, 2, 3) logits, labels with class 2 absent from image 0, soft targets, masks."""
    i = np.arange(36, dtype=np.float64)
    logits = (2.0 * np.sin(1.3 * i)).reshape(2, 3, 2, 3)
    labels = (np.arange(12) * 7 % 3).reshape(2, 2, 3)
    labels[0][labels[0] == 2] = 1
    e = np.exp(np.cos(0.7 * i + 0.4).reshape(2, 3, 2, 3))
    soft = e / e.sum(axis=1, keepdims=True)
    masks = (np.cos(2.1 * i) > 0.3).astype(np.float64).reshape(2, 3, 2, 3)
    binary = masks[:, :1]
    return {"logits": logits, "labels": labels, "soft": soft, "masks": masks, "binary": binary}


def peer_calls(torch, monai_losses, smp_losses):
    """case id -> function of the torch inputs returning the peer's loss."""
    L, S = monai_losses, smp_losses
    return {
        "monai.DiceLoss(softmax, soft_label)[soft]": lambda a: L.DiceLoss(
            softmax=True, soft_label=True)(a["logits"], a["soft"]),
        "monai.TverskyLoss(softmax, 0.3, 0.7, soft_label, batch)[soft]": lambda a: L.TverskyLoss(
            softmax=True, alpha=0.3, beta=0.7, soft_label=True, batch=True)(a["logits"], a["soft"]),
        "monai.GeneralizedDiceLoss(softmax, onehot, square)": lambda a: L.GeneralizedDiceLoss(
            softmax=True, to_onehot_y=True)(a["logits"], a["labels"][:, None]),
        "monai.GeneralizedDiceLoss(softmax, onehot, simple, batch, no background)": (
            lambda a: L.GeneralizedDiceLoss(
                softmax=True, to_onehot_y=True, w_type="simple", batch=True,
                include_background=False)(a["logits"], a["labels"][:, None])),
        "monai.GeneralizedDiceLoss(sigmoid, uniform, soft_label)[soft]": (
            lambda a: L.GeneralizedDiceLoss(sigmoid=True, w_type="uniform", soft_label=True)(
                a["logits"], a["soft"])),
        "monai.DiceFocalLoss(sigmoid, gamma 1.5, alpha 0.3, weight)[masks]": (
            lambda a: L.DiceFocalLoss(sigmoid=True, gamma=1.5, alpha=0.3,
                                      weight=[0.5, 1.5, 1.0], lambda_dice=0.7)(
                a["logits"], a["masks"])),
        "monai.DiceLoss(softmax, onehot, no background, weight [3]) C=2": lambda a: L.DiceLoss(
            softmax=True, to_onehot_y=True, include_background=False, weight=[3.0])(
            a["logits"][:, :2], torch.clamp(a["labels"], max=1)[:, None]),
        "smp.LovaszLoss(multiclass)": lambda a: S.LovaszLoss("multiclass")(
            a["logits"], a["labels"]),
        "smp.LovaszLoss(multiclass, per_image)": lambda a: S.LovaszLoss(
            "multiclass", per_image=True)(a["logits"], a["labels"]),
        "smp.LovaszLoss(binary)": lambda a: S.LovaszLoss("binary")(
            a["logits"][:, :1], a["binary"]),
        "smp.LovaszLoss(multilabel, per_image)": lambda a: S.LovaszLoss(
            "multilabel", per_image=True)(a["logits"], a["masks"]),
        "smp.TverskyLoss(binary, 0.3, 0.7, gamma 0.75)": lambda a: S.TverskyLoss(
            "binary", alpha=0.3, beta=0.7, gamma=0.75)(a["logits"][:, :1], a["binary"]),
    }


def main():
    import monai
    import monai.losses
    import segmentation_models_pytorch.losses as smp_losses
    import torch

    torch.set_default_dtype(torch.float32)  # SMP's Lovász casts to float32 internally
    inputs = {
        k: torch.tensor(v if v.dtype.kind != "f" else v.astype(np.float32))
        for k, v in peer_inputs().items()
    }
    print(f"# monai {monai.__version__}, torch {torch.__version__}")
    print("PEER_RECORDED = {")
    for case, call in peer_calls(torch, monai.losses, smp_losses).items():
        print(f"    {case!r}: {float(call(inputs))!r},")
    print("}")


if __name__ == "__main__":
    main()
