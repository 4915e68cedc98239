"""The recipe's model: an MLP 784-128-64-10 with ReLU, in Flax NNX."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx


class MLP(nnx.Module):
    """Dense layers with ReLU between them; the last layer returns logits.

    Flax's default initialisation (LeCun normal kernels, zero biases), which differs
    from PyTorch's uniform one; on MNIST the two reach the same accuracy.
    """

    def __init__(self, features: Sequence[int] = (784, 128, 64, 10), *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(features[:-1], features[1:], strict=True)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)
