"""Records torchvision 0.28's box IoU losses for tests/test_detection.py.

Run by hand in a venv with torch 2.13 and torchvision 0.28 (neither is a dependency of jaxloss
or of its tests):

    python -m venv /tmp/tvvenv
    /tmp/tvvenv/bin/pip install torch==2.13.0 numpy
    /tmp/tvvenv/bin/pip install torchvision==0.28.0 --no-deps
    /tmp/tvvenv/bin/python tests/record_torchvision_boxes.py

torchvision 0.28.0 is the release pinned to torch 2.13.0. Its only wheel here is the CUDA
build, whose compiled ops (``torchvision._C``) do not load beside the CPU torch, and
``import torchvision`` registers those ops; the three loss modules are pure Python, so this
script imports them alone (``torchvision.ops.giou_loss``, ``diou_loss``, ``ciou_loss`` and
their ``_utils``) under an empty ``torchvision`` package, with the usage logger stubbed. The
code that runs is torchvision's own.

It writes ``tests/data/torchvision_boxes.npz``: float64 pairs of boxes ``boxes1``,
``boxes2`` (K, 4), the first ``NUM_RANDOM`` random (overlapping, disjoint and nested pairs
drawn at several scales), the rest the degenerate pairs named in ``degenerate`` (zero width,
zero height, identical, a point, disjoint, nested, touching, shared corners); and for each
loss ``{giou,diou,ciou}`` and each ``eps`` in ``EPS`` (index ``e``): ``{loss}_{e}_value``
(K,), the per-pair loss ("none"), and ``{loss}_{e}_grad1``, ``{loss}_{e}_grad2`` (K, 4), the
gradients of its sum (NaN where torchvision's are); ``{loss}_mean``, ``{loss}_sum`` of the
random pairs and ``{loss}_empty_mean`` of no boxes, at the default eps; and float32 values
``{loss}_value_f32`` of the random pairs. Importing this module does nothing (the test
collection imports it).
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).with_name("data") / "torchvision_boxes.npz"
NUM_RANDOM = 24
EPS = (1e-7, 0.5)  # torchvision's default, and one large enough to see where it enters
LOSSES = {
    "giou": ("giou_loss", "generalized_box_iou_loss"),
    "diou": ("diou_loss", "distance_box_iou_loss"),
    "ciou": ("ciou_loss", "complete_box_iou_loss"),
}
# (name, boxes1, boxes2): the degenerate cases of issue 23
DEGENERATE = [
    ("zero width", (1.0, 1.0, 1.0, 3.0), (0.0, 0.0, 2.0, 2.0)),
    ("zero height", (1.0, 1.0, 3.0, 1.0), (0.0, 0.0, 2.0, 2.0)),
    ("both zero height", (0.0, 1.0, 3.0, 1.0), (1.0, 2.0, 2.0, 2.0)),
    ("identical", (0.5, 1.0, 2.5, 4.0), (0.5, 1.0, 2.5, 4.0)),
    ("identical points", (1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 1.0, 1.0)),
    ("point and box", (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 2.0, 3.0)),
    ("disjoint", (0.0, 0.0, 1.0, 1.0), (3.0, 4.0, 5.0, 6.0)),
    ("nested", (1.0, 1.0, 2.0, 2.0), (0.0, 0.0, 4.0, 3.0)),
    ("nested, shared corner", (0.0, 0.0, 2.0, 1.0), (0.0, 0.0, 4.0, 3.0)),
    ("touching edges", (0.0, 0.0, 1.0, 1.0), (1.0, 0.0, 2.0, 1.0)),
    ("touching corners", (0.0, 0.0, 1.0, 1.0), (1.0, 1.0, 2.0, 2.0)),
    ("same centre", (0.0, 0.0, 4.0, 2.0), (1.0, -1.0, 3.0, 3.0)),
]


def _torchvision_losses():
    """torchvision's three loss functions, imported without torchvision's compiled ops."""
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("torchvision")
    assert spec is not None and spec.submodule_search_locations, "torchvision is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (("torchvision", root), ("torchvision.ops", root / "ops")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    utils = types.ModuleType("torchvision.utils")
    utils._log_api_usage_once = lambda obj: None
    sys.modules["torchvision.utils"] = utils
    version = (root / "version.py").read_text().split("__version__ = ")[1].split("\n")[0]
    out = {}
    for key, (module, function) in LOSSES.items():
        out[key] = getattr(importlib.import_module(f"torchvision.ops.{module}"), function)
    return out, version.strip("'\"")


def _random_boxes(rng, n):
    """Pairs at several scales: overlapping, disjoint and nested (and aspect ratios up to
    30:1), in float64."""
    import numpy as np

    scale = rng.choice([1.0, 10.0, 100.0], size=(n, 1))
    xy1 = rng.uniform(0.0, 5.0, (n, 2)) * scale
    wh1 = rng.uniform(0.1, 3.0, (n, 2)) * scale
    xy2 = xy1 + rng.uniform(-2.0, 2.0, (n, 2)) * scale
    wh2 = rng.uniform(0.1, 3.0, (n, 2)) * scale
    b1 = np.concatenate([xy1, xy1 + wh1], axis=-1)
    b2 = np.concatenate([xy2, xy2 + wh2], axis=-1)
    b2[0] = b1[0] + np.array([0.2, 0.3, -0.1, -0.4]) * scale[0]  # nested
    b2[1, :2] = b1[1, 2:] + 1.0  # disjoint
    b2[1, 2:] = b2[1, :2] + 2.0
    b1[2, 3] = b1[2, 1] + 0.1 * (b1[2, 2] - b1[2, 0])  # flat (aspect 10:1)
    return b1, b2


def main() -> None:
    import numpy as np
    import torch

    losses, version = _torchvision_losses()
    rng = np.random.default_rng(2023)
    r1, r2 = _random_boxes(rng, NUM_RANDOM)
    d1 = np.array([b for _, b, _ in DEGENERATE], np.float64)
    d2 = np.array([b for _, _, b in DEGENERATE], np.float64)
    boxes1, boxes2 = np.concatenate([r1, d1]), np.concatenate([r2, d2])
    arrays = {"boxes1": boxes1, "boxes2": boxes2,
              "degenerate": np.array([name for name, _, _ in DEGENERATE]),
              "eps": np.array(EPS), "num_random": np.array(NUM_RANDOM),
              "torch_version": np.array(torch.__version__), "torchvision_version":
              np.array(version)}
    for key, loss in losses.items():
        for e, eps in enumerate(EPS):
            t1 = torch.tensor(boxes1, requires_grad=True)
            t2 = torch.tensor(boxes2, requires_grad=True)
            value = loss(t1, t2, reduction="none", eps=eps)
            g1, g2 = torch.autograd.grad(value.sum(), (t1, t2))
            arrays[f"{key}_{e}_value"] = value.detach().numpy()
            arrays[f"{key}_{e}_grad1"] = g1.numpy()
            arrays[f"{key}_{e}_grad2"] = g2.numpy()
        t1, t2 = torch.tensor(r1), torch.tensor(r2)
        arrays[f"{key}_mean"] = loss(t1, t2, reduction="mean").numpy()
        arrays[f"{key}_sum"] = loss(t1, t2, reduction="sum").numpy()
        arrays[f"{key}_empty_mean"] = loss(t1[:0], t2[:0], reduction="mean").numpy()
        arrays[f"{key}_value_f32"] = loss(t1.float(), t2.float()).numpy()
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"{len(boxes1)} pairs from torch {torch.__version__}, torchvision {version} -> {OUT} "
          f"({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
