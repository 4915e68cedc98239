"""Segmentation under heavy class imbalance: cross-entropy alone vs Dice + weighted cross-entropy.

Synthetic 1-channel images hold a few small shapes on a large noisy background (about 95% of
the pixels): squares (class 1), disks (class 2) and tiny dots (class 3). Squares are dimmer
than disks and dots, and dots differ from disks only by size, so a pixel's intensity alone
is ambiguous and the model needs spatial context. A tiny fully convolutional Flax NNX model
is trained twice with optax, once per loss, with the same data, initialisation and steps;
the script prints the per-class IoU on held-out images and saves a PNG with a few predicted
masks beside the truth.

    python examples/segmentation.py --out /tmp/seg        # under a minute on 2 CPU cores
    python examples/segmentation.py --help

Both runs add ``1e-4 * jaxloss.l2_penalty(params, where=kernels only)`` (weight decay that
skips biases). Each training step is one ``jax.jit``-compiled function called from a Python
loop (as in flax's examples). A ``jax.lax.scan`` over the steps would save the Python
dispatch, but with jaxlib 0.10 on CPU the convolutions inside the scan's loop body ran about
20x slower than the same step called from Python (0.9 s vs 0.047 s per step, measured), so
the loop stays in Python.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxloss

CLASS_NAMES = ("background", "square", "disk", "dot")
NUM_CLASSES = len(CLASS_NAMES)
INTENSITY = (0.0, 0.55, 1.0, 1.0)  # per class, before noise


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def make_dataset(num: int, size: int, seed: int, noise: float = 0.35):
    """``num`` images (num, size, size, 1) float32 and masks (num, size, size) int32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    scale = size / 32.0
    images = np.zeros((num, size, size), np.float32)
    masks = np.zeros((num, size, size), np.int32)
    for i in range(num):
        for _ in range(rng.integers(1, 3)):
            half = max(1, int(round(rng.uniform(1.5, 3.0) * scale)))
            cy, cx = rng.integers(half, size - half, size=2)
            masks[i][(abs(yy - cy) <= half) & (abs(xx - cx) <= half)] = 1
        for _ in range(rng.integers(1, 3)):
            r = max(1.5, rng.uniform(2.0, 3.5) * scale)
            cy, cx = rng.uniform(r, size - r, size=2)
            masks[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
        for _ in range(rng.integers(0, 4)):
            cy, cx = rng.integers(0, size - 1, size=2)
            masks[i][cy : cy + 2, cx : cx + 2] = 3
        images[i] = np.asarray(INTENSITY, np.float32)[masks[i]]
    images += noise * rng.standard_normal(images.shape).astype(np.float32)
    return images[..., None], masks


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------


class TinySegmenter(nnx.Module):
    """Four 3x3 convolutions with growing dilation (receptive field 15 pixels), then 1x1."""

    def __init__(self, num_classes: int, width: int, *, rngs: nnx.Rngs):
        self.convs = nnx.List(
            [
                nnx.Conv(1 if i == 0 else width, width, (3, 3), kernel_dilation=d, rngs=rngs)
                for i, d in enumerate((1, 2, 4, 1))
            ]
        )
        self.head = nnx.Conv(width, num_classes, (1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return self.head(x)  # (N, H, W, C) logits, channel-last


# ---------------------------------------------------------------------------------------------
# training and evaluation
# ---------------------------------------------------------------------------------------------


def make_loss(name: str, class_weights: jax.Array, lambda_dice: float, lambda_ce: float):
    def segmentation_loss(logits, masks):
        if name == "ce":
            return jaxloss.cross_entropy(logits, masks)
        # Dice pooled over the batch (stable when a class is missing from some images),
        # background left out of the Dice term; the cross-entropy term is class-weighted.
        return jaxloss.dice_cross_entropy_loss(
            logits,
            masks,
            lambda_dice=lambda_dice,
            lambda_ce=lambda_ce,
            class_weights=class_weights,
            include_background=False,
            batch=True,
        )

    return segmentation_loss


def train_and_evaluate(config: argparse.Namespace, loss_name: str, data: dict[str, Any]):
    """Trains one model with ``loss_name``; returns test predictions, IoU and timings."""
    model = TinySegmenter(NUM_CLASSES, config.width, rngs=nnx.Rngs(config.seed))
    graphdef, params = nnx.split(model)
    tx = optax.adam(config.learning_rate)
    opt_state = tx.init(params)
    loss_fn = make_loss(
        loss_name, data["class_weights"], config.lambda_dice, config.lambda_ce
    )

    def objective(params, images, masks):
        logits = nnx.merge(graphdef, params)(images)
        decay = jaxloss.l2_penalty(params, where=lambda path, x: x.ndim > 1)
        return loss_fn(logits, masks) + config.weight_decay * decay

    @jax.jit
    def train_step(params, opt_state, images, masks):
        loss, grads = jax.value_and_grad(objective)(params, images, masks)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_step(params, images):
        return jnp.argmax(nnx.merge(graphdef, params)(images), axis=-1)

    rng = np.random.default_rng(config.seed + 1)
    num_train = data["train_images"].shape[0]
    start = time.perf_counter()
    losses = []
    for _ in range(config.steps):
        index = rng.integers(0, num_train, config.batch_size)
        params, opt_state, loss = train_step(
            params, opt_state, data["train_images"][index], data["train_masks"][index]
        )
        losses.append(loss)
    losses = np.asarray(jax.device_get(losses))
    seconds = time.perf_counter() - start
    predictions = np.asarray(eval_step(params, data["test_images"]))
    return {
        "iou": per_class_iou(predictions, data["test_masks"], NUM_CLASSES),
        "predictions": predictions,
        "first_loss": float(losses[0]),
        "final_loss": float(losses[-10:].mean()),
        "train_seconds": seconds,
    }


def per_class_iou(predictions: np.ndarray, masks: np.ndarray, num_classes: int) -> np.ndarray:
    """|pred = c and true = c| / |pred = c or true = c| over all test pixels (NaN if both 0)."""
    iou = np.full(num_classes, np.nan)
    for c in range(num_classes):
        union = np.sum((predictions == c) | (masks == c))
        if union:
            iou[c] = np.sum((predictions == c) & (masks == c)) / union
    return iou


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def save_figure(path: str, data: dict[str, Any], results: dict[str, dict], count: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colors = ["#1b1b1b", "#e4572e", "#29a9e0", "#f3c623"]
    cmap = ListedColormap(colors)
    count = min(count, data["test_images"].shape[0])
    columns = [("image", None), ("truth", data["test_masks"])] + [
        (
            f"{LABELS[name]}\nmean fg IoU {np.nanmean(results[name]['iou'][1:]):.2f}",
            results[name]["predictions"],
        )
        for name in results
    ]
    fig, axes = plt.subplots(
        count, len(columns), figsize=(2.3 * len(columns), 2.3 * count + 0.6), squeeze=False
    )
    for row in range(count):
        for col, (title, masks) in enumerate(columns):
            ax = axes[row, col]
            if masks is None:
                ax.imshow(data["test_images"][row, ..., 0], cmap="gray")
            else:
                ax.imshow(
                    masks[row], cmap=cmap, vmin=0, vmax=NUM_CLASSES - 1, interpolation="nearest"
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
    fig.legend(
        handles=[Patch(color=c, label=n) for c, n in zip(colors, CLASS_NAMES, strict=True)],
        loc="lower center",
        ncol=NUM_CLASSES,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


LABELS = {"ce": "cross-entropy", "dice_ce": "Dice + weighted CE"}


def format_table(results: dict[str, dict]) -> str:
    width = max(len(n) for n in CLASS_NAMES)
    header = f"{'class':<{width}}  " + "  ".join(f"{LABELS[k]:>18}" for k in results)
    lines = [header, "-" * len(header)]
    for c, name in enumerate(CLASS_NAMES):
        cells = "  ".join(f"{results[k]['iou'][c]:>18.3f}" for k in results)
        lines.append(f"{name:<{width}}  {cells}")
    mean = "  ".join(f"{np.nanmean(results[k]['iou'][1:]):>18.3f}" for k in results)
    lines.append(f"{'mean fg':<{width}}  {mean}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.segmentation",
        description="Train a tiny segmenter with cross-entropy and with Dice + weighted "
        "cross-entropy on imbalanced synthetic shapes; print per-class IoU, save a PNG.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="segmentation_out", help="output folder")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--batch-size", type=int, default=16, help="images per step")
    parser.add_argument("--image-size", type=int, default=32, help="square image side (pixels)")
    parser.add_argument("--num-train", type=int, default=512, help="synthetic training images")
    parser.add_argument("--num-test", type=int, default=64, help="synthetic test images")
    parser.add_argument("--width", type=int, default=16, help="channels per conv layer")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--lambda-dice", type=float, default=0.5,
                        help="weight of the Dice term (dice_cross_entropy_loss)")
    parser.add_argument("--lambda-ce", type=float, default=0.5,
                        help="weight of the cross-entropy term (dice_cross_entropy_loss)")
    parser.add_argument("--weight-decay", type=float, default=1e-4,
                        help="coefficient of the L2 penalty on the weights, added to the loss")
    parser.add_argument("--figure-rows", type=int, default=4, help="test images in the PNG")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initialisation and the synthetic data")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    config = parse_args(argv)
    os.makedirs(config.out, exist_ok=True)
    start = time.perf_counter()
    train_images, train_masks = make_dataset(config.num_train, config.image_size, config.seed)
    test_images, test_masks = make_dataset(config.num_test, config.image_size, config.seed + 1)
    counts = jaxloss.class_counts(train_masks, NUM_CLASSES)
    data = {
        "train_images": train_images,
        "train_masks": train_masks,
        "test_images": test_images,
        "test_masks": test_masks,
        "class_weights": jaxloss.class_weights_from_counts(counts, method="inverse_sqrt"),
    }
    fractions = np.asarray(counts) / np.sum(np.asarray(counts))
    print(
        "pixel share: "
        + ", ".join(f"{n} {f:.1%}" for n, f in zip(CLASS_NAMES, fractions, strict=True))
    )
    print(
        "CE class weights (inverse_sqrt): "
        + np.array2string(np.asarray(data["class_weights"]), precision=2)
    )

    results = {name: train_and_evaluate(config, name, data) for name in LABELS}
    for name, r in results.items():
        print(
            f"{LABELS[name]}: loss {r['first_loss']:.3f} -> {r['final_loss']:.3f}, "
            f"{config.steps} steps in {r['train_seconds']:.1f} s"
        )
    print("\nper-class IoU on held-out images")
    print(format_table(results))

    figure = os.path.join(config.out, "segmentation_masks.png")
    save_figure(figure, data, results, config.figure_rows)
    summary = {
        "iou": {
            name: [None if np.isnan(v) else float(v) for v in r["iou"]]
            for name, r in results.items()
        },
        "class_names": list(CLASS_NAMES),
        "pixel_share": [float(f) for f in fractions],
        "figure": figure,
        "seconds": time.perf_counter() - start,
    }
    with open(os.path.join(config.out, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"\nsaved {figure} ({summary['seconds']:.1f} s in all)")
    return summary


if __name__ == "__main__":
    main()
