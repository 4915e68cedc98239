"""Reductions shared by every loss: weighted mean with a safe empty case, cross-device sums."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 (with zero gradients) where the denominator is 0.

    jaxloss's deliberate difference from PyTorch: a batch in which every element is ignored
    or masked has "mean" loss 0.0, not NaN, so one batch of padding cannot poison training.
    """
    empty = denominator == 0
    return jnp.where(empty, jnp.zeros_like(numerator), numerator / jnp.where(empty, 1, denominator))


def reduce_loss(
    per_element: jax.Array,
    denominator: jax.Array | None,
    reduction: str,
    axis_name: str | None,
) -> jax.Array:
    """Applies ``reduction`` to a per-element loss.

    Args:
      per_element: the loss of each element, already 0 at ignored or masked positions.
      denominator: the per-element weights whose sum divides the sum for "mean" (for example
        ``w[y_i]`` at kept positions), or None to divide by the element count.
      reduction: "mean", "sum" or "none".
      axis_name: when given, "sum" and "mean" are global over that mapped axis
        (``shard_map``/``pmap``): numerator and denominator are summed across devices
        before dividing, so a per-device mean is never averaged.
    """
    if reduction == "none":
        return per_element
    total = jnp.sum(per_element)
    if reduction == "sum":
        return total if axis_name is None else jax.lax.psum(total, axis_name)
    if denominator is None:
        count = jnp.asarray(per_element.size, per_element.dtype)
    else:
        count = jnp.sum(denominator)
    if axis_name is not None:
        total, count = jax.lax.psum((total, count), axis_name)
    return safe_divide(total, count)
