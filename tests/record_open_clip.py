"""Records open_clip's ``ClipLoss`` and ``SigLipLoss`` (world size 1) for tests/test_contrastive.py.

Run by hand in a venv with torch and open_clip (neither is a test dependency)::

    python -m venv /tmp/clipvenv
    /tmp/clipvenv/bin/pip install torch==2.13.0 numpy
    /tmp/clipvenv/bin/pip install open_clip_torch --no-deps
    /tmp/clipvenv/bin/python tests/record_open_clip.py

It loads open_clip's ``loss.py`` by file path (the package's ``__init__`` imports the model
zoo's dependencies) and writes ``tests/data/open_clip_contrastive.npz``: for each
configuration the inputs, and the value and the gradients with respect to the image and text
features, ``logit_scale`` and ``logit_bias``, all float64.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "open_clip_contrastive.npz"

# (batch, dim, logit_scale, logit_bias, normalised features)
CONFIGS = [
    (8, 4, 10.0, -10.0, True),
    (5, 3, 1.0, 0.5, True),
    (6, 7, 100.0, -5.0, True),  # CLIP's maximum scale
    (4, 4, 2.5, 0.0, False),  # raw features: neither loss normalises
]


def _load_loss():
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.submodule_search_locations[0]) / "loss.py"
    module_spec = importlib.util.spec_from_file_location("open_clip_loss", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def main():
    import torch

    loss_module = _load_loss()
    losses = {"clip": loss_module.ClipLoss(), "siglip": loss_module.SigLipLoss()}
    out = {}
    for k, (batch, dim, scale, bias, normalise) in enumerate(CONFIGS):
        rng = np.random.default_rng(k)
        x = rng.standard_normal((batch, dim))
        y = rng.standard_normal((batch, dim)) + 0.5 * x  # matching pairs are closer
        if normalise:
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            y /= np.linalg.norm(y, axis=-1, keepdims=True)
        out[f"{k}/image_features"] = x
        out[f"{k}/text_features"] = y
        out[f"{k}/logit_scale"] = np.float64(scale)
        out[f"{k}/logit_bias"] = np.float64(bias)
        for name, loss in losses.items():
            args = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
                    for v in (x, y, scale, bias)]
            value = loss(*args)
            value.backward()
            out[f"{k}/{name}/value"] = value.detach().numpy()
            for arg, g in zip(("image_features", "text_features", "logit_scale", "logit_bias"),
                              args, strict=True):
                grad = g.grad if g.grad is not None else torch.zeros_like(g)
                out[f"{k}/{name}/d_{arg}"] = grad.numpy()
    OUT.parent.mkdir(exist_ok=True)
    np.savez(OUT, **out)
    print(f"wrote {len(out)} arrays to {OUT}")


if __name__ == "__main__":
    main()
