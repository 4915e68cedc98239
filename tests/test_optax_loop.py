"""examples/optax_loop.py runs and learns, minority classes included."""

import sys
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples import optax_loop  # noqa: E402


def test_optax_loop_learns(capsys):
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-promotion clean
        result = optax_loop.main(steps=200)
    losses = np.asarray(result["losses"])
    assert np.all(np.isfinite(losses))
    assert losses[-20:].mean() < 0.2 * losses[:5].mean()
    assert result["accuracy"] > 0.8  # balanced test set: chance is 0.25
    assert min(result["recall"]) > 0.6  # the rarest class (40 examples) is learned too
    assert "test accuracy" in capsys.readouterr().out
