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


def weigh(per_element: jax.Array, weights: jax.Array | None) -> jax.Array:
    """jaxloss's one per-element weight rule: ``weights`` (already broadcast to
    ``per_element``, or None) rescale each element's loss and never enter a denominator.

    Apply it before the mask, so a NaN or inf weight at a masked element does not leak.
    """
    return per_element if weights is None else weights * per_element


def reduce_masked(
    per_element: jax.Array,
    mask: jax.Array | None,
    reduction: str,
    axis_name: str | None,
    weights: jax.Array | None = None,
) -> jax.Array:
    """:func:`reduce_loss` of a per-element loss under an optional ``where`` mask.

    Masked-out elements (``mask`` False, already broadcast to ``per_element``) are 0 in
    "none" and absent from "sum" and "mean": "mean" divides by the number of kept elements
    (0.0 when none is kept). ``where`` selects, so a NaN at a masked position does not leak.
    ``weights`` (see :func:`weigh`) multiply each element's loss, not the count.
    """
    per_element = weigh(per_element, weights)
    if mask is None:
        return reduce_loss(per_element, None, reduction, axis_name)
    per_element = jnp.where(mask, per_element, jnp.zeros_like(per_element))
    return reduce_loss(per_element, mask.astype(per_element.dtype), reduction, axis_name)


def class_shard(fn: str, class_axis_name: str, local_classes: int) -> tuple[jax.Array, int]:
    """``(offset, num_classes)`` of this device's contiguous block of the class axis.

    The class axis is split over the mesh axis ``class_axis_name`` in equal blocks in
    axis-index order: device ``k`` holds classes ``[k * C_local, (k + 1) * C_local)``.
    Raises a named ``ValueError`` when the axis is not bound (not inside ``shard_map`` or
    ``pmap`` over it).
    """
    if not isinstance(class_axis_name, str):
        raise TypeError(
            f"{fn}: `class_axis_name` must be a mesh axis name (a str), got "
            f"{class_axis_name!r}."
        )
    try:
        index = jax.lax.axis_index(class_axis_name)
        size = jax.lax.axis_size(class_axis_name)
    except NameError:
        raise ValueError(
            f"{fn}: `class_axis_name`={class_axis_name!r} is not a bound mesh axis: call the "
            "loss inside `jax.shard_map` (or `pmap`) over a mesh with that axis, with the "
            "class axis of the logits (or the vocabulary axis of the weight) split over it."
        ) from None
    return index * local_classes, int(size) * local_classes


def global_logsumexp(local_lse: jax.Array, class_axis_name: str) -> jax.Array:
    """The logsumexp over every device's classes from each device's local logsumexp.

    Only per-row statistics cross devices: the max (without gradient, a shift) and the sum
    of the rescaled exponentials. A row whose classes are all ``-inf`` stays ``-inf``.
    """
    m = jax.lax.pmax(jax.lax.stop_gradient(local_lse), class_axis_name)
    m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
    return m + jnp.log(jax.lax.psum(jnp.exp(local_lse - m), class_axis_name))


def reduce_sequence_loss(
    per_sequence: jax.Array,
    lengths: jax.Array,
    mask: jax.Array | None,
    reduction: str,
    axis_name: str | None,
) -> jax.Array:
    """PyTorch's reduction of a per-sequence loss (``F.ctc_loss``).

    "mean" divides each sequence's loss by its target length, clamped to >= 1 (an empty
    target keeps its loss), then averages over the (kept) sequences; "sum" and "none" are
    :func:`reduce_loss`'s. ``per_sequence`` is already 0 where ``mask`` is False.
    """
    if reduction == "mean":
        scale = jnp.maximum(lengths, 1).astype(per_sequence.dtype)
        per_sequence = per_sequence / scale
    denominator = None if mask is None else mask.astype(per_sequence.dtype)
    return reduce_loss(per_sequence, denominator, reduction, axis_name)
