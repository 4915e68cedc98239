"""The recipe's model: an MLP 784-128-64-10 with ReLU, in Flax NNX."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx


def _normalize(x: jax.Array, axis: int) -> jax.Array:
    """``x / max(||x||, 1e-12)`` along ``axis`` (PyTorch's ``F.normalize``); finite
    gradients at 0."""
    squared = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(squared, 1e-24))


class MLP(nnx.Module):
    """Dense layers with ReLU between them; the last layer returns logits.

    Flax's default initialisation (LeCun normal kernels, zero biases), which differs
    from PyTorch's uniform one; on MNIST the two reach the same accuracy.

    With ``cosine=True`` the last layer is LDAM-DRW's ``NormedLinear`` (Cao et al. 2019,
    github.com/kaidic/LDAM-DRW): no bias, and the output is the cosine between the
    normalised features and each class's normalised weight vector, in [-1, 1]; the loss
    scales it (``jaxloss.ldam_loss``'s ``scale``).
    """

    def __init__(
        self,
        features: Sequence[int] = (784, 128, 64, 10),
        *,
        cosine: bool = False,
        rngs: nnx.Rngs,
    ):
        pairs = list(zip(features[:-1], features[1:], strict=True))
        self.cosine = cosine
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, use_bias=not (cosine and i == len(pairs) - 1), rngs=rngs)
                for i, (a, b) in enumerate(pairs)
            ]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        last = self.layers[-1]
        if not self.cosine:
            return last(x)
        return _normalize(x, -1) @ _normalize(last.kernel[...], 0)
