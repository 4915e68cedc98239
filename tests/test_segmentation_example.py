"""A shortened run of examples/segmentation.py: trains both models a few steps on tiny images."""

import importlib.util
import json
import re
from pathlib import Path

import jax
import pytest

# Slow (trains the segmentation example): `python -m pytest --run-slow` runs it, as CI does.
pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "segmentation.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("segmentation_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """optax's Adam is not strict-promotion clean; the example runs under JAX's default."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def test_help(example, capsys):
    with pytest.raises(SystemExit) as exit_info:
        example.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text
    # every flag says what it is and shows its default
    options = re.split(r"\n  (?=--)", text.split("\noptions:\n", 1)[1])[1:]
    flags = [block.split()[0] for block in options]
    assert flags == ["--out", "--steps", "--batch-size", "--image-size", "--num-train",
                     "--num-test", "--width", "--learning-rate", "--lambda-dice", "--lambda-ce",
                     "--weight-decay", "--figure-rows", "--seed"]
    for block in options:
        assert "(default: " in block, block


def test_short_run_writes_iou_and_figure(example, tmp_path, capsys):
    summary = example.main(
        ["--out", str(tmp_path), "--steps", "3", "--image-size", "16", "--num-train", "16",
         "--num-test", "4", "--batch-size", "4", "--width", "4", "--figure-rows", "2"]
    )
    printed = capsys.readouterr().out
    assert "per-class IoU on held-out images" in printed
    for name in ("background", "square", "disk", "dot"):
        assert name in printed

    figure = tmp_path / "segmentation_masks.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["iou"] == summary["iou"]
    assert set(saved["iou"]) == {"ce", "dice_ce"}
    for values in saved["iou"].values():
        assert len(values) == 4
        assert all(v is None or 0.0 <= v <= 1.0 for v in values)
    assert abs(sum(saved["pixel_share"]) - 1.0) < 1e-6
    assert saved["pixel_share"][0] > 0.8  # the background dominates


def test_synthetic_data_is_imbalanced_and_deterministic(example):
    images, masks = example.make_dataset(8, 32, seed=3)
    again, _ = example.make_dataset(8, 32, seed=3)
    assert images.shape == (8, 32, 32, 1) and masks.shape == (8, 32, 32)
    assert (images == again).all()
    share = [(masks == c).mean() for c in range(4)]
    assert share[0] > 0.85 and all(s > 0 for s in share[1:3])
