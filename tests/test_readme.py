"""The README's Python snippets run as written, and so do the two docs snippets whose results
are checked here beyond running (the shard_map loss and the large-vocabulary accuracy).

Its commands (```bash blocks) and every docs snippet are tests/test_commands.py's, whose fence
parser this file shares, so both read the same blocks (an indented block in a list item too).
"""

from pathlib import Path

import jax
import numpy as np
import pytest
from test_commands import blocks_of

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DISTRIBUTED = ROOT / "docs" / "guides" / "distributed.md"
LARGE_VOCABULARIES = ROOT / "docs" / "guides" / "large_vocabularies.md"


def _python_blocks(page=README):
    return [block.text for block in blocks_of("python", [page])]


def test_readme_has_quickstart():
    assert any("train_step" in block for block in _python_blocks())


def test_quickstart_trains(capsys):
    quickstart = next(block for block in _python_blocks() if "train_step" in block)
    namespace: dict = {}
    with jax.numpy_dtype_promotion("standard"):
        exec(compile(quickstart, str(README), "exec"), namespace)
    loss = float(namespace["loss"])
    assert 0.0 < loss < 0.2, loss
    assert "focal loss after 100 steps" in capsys.readouterr().out


def test_shard_map_snippet_equals_the_unsharded_loss():
    block = next(block for block in _python_blocks(DISTRIBUTED) if "shard_map" in block)
    namespace: dict = {}
    exec(compile(block, str(DISTRIBUTED), "exec"), namespace)
    import jaxloss

    want = jax.value_and_grad(
        lambda x: jaxloss.cross_entropy(x, namespace["labels"], label_smoothing=0.1)
    )(namespace["logits"])
    np.testing.assert_allclose(namespace["loss"], want[0], rtol=1e-6)
    np.testing.assert_allclose(namespace["grad"], want[1], rtol=1e-5, atol=1e-8)


def test_large_vocabulary_snippets_run():
    """The "Large vocabularies" snippets run in order (the second asserts its own result)."""
    blocks = [b for b in _python_blocks(LARGE_VOCABULARIES) if "linear_cross_entropy" in b]
    assert len(blocks) == 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(LARGE_VOCABULARIES), "exec"), namespace)
    assert 0.0 <= float(namespace["accuracy"]) <= 1.0
    assert set(namespace["aux"]) == {"lse", "z_loss", "argmax", "denominator"}


@pytest.mark.slow  # every block, the quickstart's training included; --run-slow runs it
def test_every_python_block_runs_as_written():
    """Every ```python block, in order, in one namespace (a later block may use what an
    earlier one of its section defined), as a reader pasting them would. Blocks fenced
    ```python reference are signature lists and recipes with placeholders (MONAI's and
    SMP's settings as ``ib``, ``b``, ...): they are not meant to run, and the recipes are
    tested in tests/test_segmentation.py."""
    namespace: dict = {}
    blocks = _python_blocks()
    assert blocks, "README.md has no ```python block"
    with jax.numpy_dtype_promotion("standard"):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{README}:block{i}", "exec"), namespace)
            except Exception as e:  # name the block that failed
                raise AssertionError(f"README python block {i} failed:\n{block}") from e
    assert 0.0 < float(namespace["loss"]) < 0.2  # the quickstart's loss after training
