"""A small pre-norm causal transformer in Flax NNX whose output layer is its input embedding
(tied weights): the (V, D) table is both the lookup and ``linear_cross_entropy``'s weight,
PyTorch's ``linear_weight`` layout, with no transposed copy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Block(nnx.Module):
    def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(
            num_heads=heads, in_features=dim, decode=False, rngs=rngs
        )
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.up = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


class CausalLM(nnx.Module):
    """Token + learned position embeddings, ``layers`` blocks, a final LayerNorm. Call it
    for the final hidden states (B, T, D); :attr:`output_weight` is the tied (V, D) table."""

    def __init__(self, vocab_size: int, dim: int, heads: int, layers: int, max_len: int, *,
                 rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, dim, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_len, dim)))
        self.blocks = nnx.List([Block(dim, heads, rngs=rngs) for _ in range(layers)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    @property
    def output_weight(self) -> jax.Array:
        return self.embed.embedding[...]

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed(tokens) + self.pos[...][: tokens.shape[1]][None]
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x).astype(jnp.float32)
