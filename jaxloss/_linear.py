"""Cross-entropy of a linear layer's logits without materialising them (large vocabularies).

``linear_cross_entropy(hidden, weight, targets)`` equals
``cross_entropy(hidden @ weight, targets)`` but streams over chunks of the vocabulary: the
forward pass keeps an online logsumexp per row (running max and rescaled sum), the picked
logit and, with label smoothing, the class-weighted sum of the logits; the backward pass
recomputes each chunk's logits, forms ``softmax - target`` for that chunk and accumulates the
gradients of ``hidden`` and ``weight``. Only (rows, chunk) and per-row arrays are ever live,
never (rows, V). Pure JAX: it runs on CPU, GPU and TPU alike.

Anchors: Apple's Cut Cross-Entropy (Wijmans et al., 2024) and Liger-Kernel's fused linear
cross-entropy do this with Triton kernels on GPU.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._reduction import reduce_loss

_FN = "linear_cross_entropy"


def _chunk_bounds(i: jax.Array, chunk: int, vocab: int) -> tuple[jax.Array, jax.Array]:
    """Start column of chunk ``i`` and the first column it owns.

    The last chunk is shifted back to end at column ``vocab`` when ``chunk`` does not
    divide ``vocab``; the columns it shares with the previous chunk are masked out (they
    are not owned), so no data is dropped or counted twice and nothing is padded.
    """
    owned_from = i * chunk
    start = jnp.minimum(owned_from, vocab - chunk)
    return start, owned_from


def _compute_dtype(hidden, weight):
    """The wider of the two inputs' compute dtypes (float32 for f32/bf16/f16, else float64)."""
    return max(
        _checks.compute_dtype(hidden.dtype), _checks.compute_dtype(weight.dtype),
        key=lambda d: d.itemsize,
    )


def _chunk_logits(hidden, weight, i, chunk, vocab):
    start, owned_from = _chunk_bounds(i, chunk, vocab)
    w_chunk = jax.lax.dynamic_slice_in_dim(weight, start, chunk, axis=1)
    logits = jnp.matmul(hidden, w_chunk, preferred_element_type=_compute_dtype(hidden, weight))
    cols = start + jax.lax.broadcasted_iota(jnp.int32, (1, chunk), 1)
    owned = cols >= owned_from
    return logits, cols, owned, start, w_chunk


def _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing):
    """Per-row (logsumexp, picked logit, sum_c w_c x_c) by an online pass over the chunks."""
    rows, vocab = hidden.shape[0], weight.shape[1]
    num_chunks = -(-vocab // chunk)
    f32 = _compute_dtype(hidden, weight)

    def body(i, carry):
        m, s, picked, wsum = carry
        logits, cols, owned, start, _ = _chunk_logits(hidden, weight, i, chunk, vocab)
        masked = jnp.where(owned, logits, -jnp.inf)
        m_new = jnp.maximum(m, jnp.max(masked, axis=1))
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(masked - m_new[:, None]), axis=1)
        hit = owned & (cols == targets[:, None])
        picked = picked + jnp.sum(jnp.where(hit, logits, 0.0), axis=1)
        if smoothing:
            w_chunk = jax.lax.dynamic_slice_in_dim(class_weights, start, chunk)[None, :]
            wsum = wsum + jnp.sum(jnp.where(owned, w_chunk * logits, 0.0), axis=1)
        return m_new, s, picked, wsum

    init = (
        jnp.full((rows,), -jnp.inf, f32),
        jnp.zeros((rows,), f32),
        jnp.zeros((rows,), f32),
        jnp.zeros((rows,), f32),
    )
    m, s, picked, wsum = jax.lax.fori_loop(0, num_chunks, body, init)
    return m + jnp.log(s), picked, wsum


@partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _stats(hidden, weight, targets, class_weights, chunk, smoothing):
    return _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing)


def _stats_fwd(hidden, weight, targets, class_weights, chunk, smoothing):
    lse, picked, wsum = _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing)
    return (lse, picked, wsum), (hidden, weight, targets, class_weights, lse)


def _stats_bwd(chunk, smoothing, res, cotangents):
    hidden, weight, targets, class_weights, lse = res
    g_lse, g_pick, g_wsum = cotangents
    vocab = weight.shape[1]
    num_chunks = -(-vocab // chunk)

    def body(i, carry):
        d_hidden, d_weight, d_cw = carry
        logits, cols, owned, start, w_chunk = _chunk_logits(hidden, weight, i, chunk, vocab)
        # d loss / d logits = g_lse * softmax + g_pick * onehot(y) + g_wsum * w_c (owned only).
        d = g_lse[:, None] * jnp.exp(logits - lse[:, None])
        d = jnp.where(cols == targets[:, None], d + g_pick[:, None], d)
        if smoothing:
            cw_chunk = jax.lax.dynamic_slice_in_dim(class_weights, start, chunk)
            d = d + g_wsum[:, None] * cw_chunk[None, :]
            d_cw_chunk = jnp.where(owned[0], g_wsum @ logits, 0.0)
            d_cw = jax.lax.dynamic_update_slice_in_dim(
                d_cw, jax.lax.dynamic_slice_in_dim(d_cw, start, chunk) + d_cw_chunk, start, 0
            )
        d = jnp.where(owned, d, 0.0)
        d_hidden = d_hidden + jnp.matmul(
            d.astype(weight.dtype), w_chunk.T, preferred_element_type=d_hidden.dtype
        )
        d_w_chunk = jnp.matmul(
            hidden.T, d.astype(hidden.dtype), preferred_element_type=d_weight.dtype
        )
        # Accumulate (not overwrite): a shifted last chunk adds zeros on the columns it shares.
        d_weight = jax.lax.dynamic_update_slice_in_dim(
            d_weight,
            jax.lax.dynamic_slice_in_dim(d_weight, start, chunk, axis=1) + d_w_chunk,
            start,
            axis=1,
        )
        return d_hidden, d_weight, d_cw

    acc = _compute_dtype(hidden, weight)
    init = (
        jnp.zeros(hidden.shape, acc),
        jnp.zeros(weight.shape, acc),
        jnp.zeros(class_weights.shape, acc),
    )
    d_hidden, d_weight, d_cw = jax.lax.fori_loop(0, num_chunks, body, init)
    return (
        d_hidden.astype(hidden.dtype),
        d_weight.astype(weight.dtype),
        None,
        d_cw.astype(class_weights.dtype),
    )


_stats.defvjp(_stats_fwd, _stats_bwd)


def linear_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    z_loss: ArrayLike = 0.0,
    reduction: str = "mean",
    chunk_size: int = 1024,
    axis_name: str | None = None,
) -> jax.Array:
    r"""``cross_entropy(hidden @ weight, targets)`` without materialising the logits.

    Streams over chunks of ``chunk_size`` vocabulary columns with an online logsumexp; the
    backward pass recomputes each chunk's logits to form ``softmax - target`` and
    accumulates the gradients of ``hidden`` and ``weight``. Only per-row statistics are kept
    between the passes, so memory is O(rows x chunk_size) instead of O(rows x V), at the cost
    of one extra matrix product (the recomputed logits) in the backward pass.

    With :math:`x = h W` (computed in float32), the per-row loss is exactly that of
    :func:`jaxloss.cross_entropy` with integer targets:

    .. math::

       l_i = m_i \Big[(1-\epsilon)\, w_{y_i} (\operatorname{lse}(x_i) - x_{i y_i})
             + \frac{\epsilon}{V} \sum_c w_c (\operatorname{lse}(x_i) - x_{ic})\Big]
             + z\, m_i \operatorname{lse}(x_i)^2

    and ``"mean"`` divides by :math:`\sum_i m_i w_{y_i}` (0.0 when every row is ignored).

    Args:
      hidden: (N, D) or (..., D) float array (the final hidden states).
      weight: (D, V) float array (the output projection; V is the vocabulary).
      targets: integer class indices of shape (N,) or (...), the hidden shape without D.
      class_weights: optional (V,) per-class weights (traceable, differentiable).
      ignore_index: target value whose rows are dropped.
      label_smoothing: scalar in [0, 1] (traceable).
      z_loss: scalar >= 0; adds ``z_loss * logsumexp(x)**2`` per kept row (PaLM).
      reduction: "mean", "sum" or "none".
      chunk_size: vocabulary columns per chunk (a Python int >= 1; need not divide V, and
        is clipped to V). Larger chunks mean fewer, larger matrix products and more memory.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.

    Returns:
      A float32 scalar for "mean"/"sum" (float64 for float64 inputs), else the per-row
      loss of the targets' shape (0 at ignored rows).

    Raises:
      ValueError: mismatched shapes, a bad ``chunk_size``, ``reduction``, ``class_weights``
        length, or a concrete ``label_smoothing`` outside [0, 1] or negative ``z_loss``.
      TypeError: non-float ``hidden``/``weight`` or non-integer ``targets``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> h = jax.random.normal(jax.random.key(0), (4, 8))
      >>> w = jax.random.normal(jax.random.key(1), (8, 10))
      >>> y = jnp.array([1, 2, 3, -100])
      >>> a = jaxloss.linear_cross_entropy(h, w, y, chunk_size=3)
      >>> b = jaxloss.cross_entropy(h @ w, y)
      >>> bool(jnp.allclose(a, b, rtol=1e-5))
      True
    """
    hidden = jnp.asarray(hidden)
    weight = jnp.asarray(weight)
    targets = jnp.asarray(targets)
    _checks.check_reduction(_FN, reduction)
    _checks.check_float(_FN, "hidden", hidden)
    _checks.check_float(_FN, "weight", weight)
    _checks.check_ignore_index(_FN, ignore_index)
    if hidden.ndim < 1:
        raise ValueError(f"{_FN}: `hidden` must have shape (..., D), got a scalar.")
    if weight.ndim != 2:
        raise ValueError(
            f"{_FN}: `weight` must have shape (D, V), got shape {weight.shape}. "
            "For a PyTorch-style (V, D) embedding matrix pass `weight.T`."
        )
    dim, vocab = weight.shape
    if hidden.shape[-1] != dim:
        raise ValueError(
            f"{_FN}: the last axis of `hidden` (shape {hidden.shape}) must match the first "
            f"axis of `weight` (shape {weight.shape}): expected D={dim}, got {hidden.shape[-1]}."
        )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(
            f"{_FN}: `targets` must be integer class indices, got dtype {targets.dtype}."
        )
    if targets.shape != hidden.shape[:-1]:
        raise ValueError(
            f"{_FN}: `targets` must have the shape of `hidden` without its last axis: "
            f"expected {hidden.shape[:-1]}, got {targets.shape}."
        )
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"{_FN}: `chunk_size` must be a Python int >= 1, got {chunk_size!r}.")
    chunk = min(int(chunk_size), vocab)

    dtype = _compute_dtype(hidden, weight)
    eps, z = _checks.smoothing_and_z_loss(_FN, label_smoothing, z_loss, dtype)
    smoothing = eps is not None

    if class_weights is None:
        w = None
        cw = jnp.ones((vocab,), dtype)
    else:
        w = jnp.asarray(class_weights)
        _checks.check_class_vector(_FN, "class_weights", w, vocab)
        w = w.astype(dtype)
        cw = w

    lead = targets.shape
    h2 = hidden.reshape(-1, dim)
    y = targets.reshape(-1)
    keep = y != ignore_index
    in_range = (y >= 0) & (y < vocab)
    _checks.check_labels(_FN, y, in_range | ~keep, vocab)
    safe_y = jnp.where(keep & in_range, y, 0).astype(jnp.int32)

    lse, picked, wsum = _stats(h2, weight, safe_y, cw, chunk, smoothing)
    lse, picked, wsum = lse.astype(dtype), picked.astype(dtype), wsum.astype(dtype)
    per = lse - picked
    w_y = None if w is None else jnp.take(w, safe_y)
    if w_y is not None:
        per = w_y * per
    if smoothing:
        total_w = jnp.sum(cw)
        per = (1.0 - eps) * per + (eps / vocab) * (total_w * lse - wsum)
    if z is not None:
        per = per + jnp.asarray(z, dtype) * jnp.square(lse)
    per = jnp.where(keep, jnp.where(in_range, per, jnp.nan), 0.0)
    denominator = keep.astype(dtype) if w_y is None else jnp.where(keep, w_y, 0.0)
    return reduce_loss(per.reshape(lead), denominator.reshape(lead), reduction, axis_name)
