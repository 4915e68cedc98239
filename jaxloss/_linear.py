"""Cross-entropy of a linear layer's logits without materialising them (large vocabularies).

``linear_cross_entropy(hidden, weight, targets)`` equals
``cross_entropy(hidden @ weight, targets)`` but streams over chunks of the vocabulary: the
forward pass keeps an online logsumexp per row (running max and rescaled sum), the picked
logit and, with label smoothing, the class-weighted sum of the logits. The derivative is a
``custom_jvp`` whose tangent map walks the chunks again with each step rematerialised, so
reverse mode (its transpose) recomputes each chunk's logits, forms ``softmax - target`` for
that chunk and accumulates the gradients of ``hidden`` and ``weight``, and forward mode
(``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) works too. Only (rows, chunk) and per-row
arrays are ever live, never (rows, V). Pure JAX: it runs on CPU, GPU and TPU alike.

Anchors: Apple's Cut Cross-Entropy (Wijmans et al., 2024) and Liger-Kernel's fused linear
cross-entropy do this with Triton kernels on GPU.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._reduction import reduce_loss

_FN = "linear_cross_entropy"


def _compute_dtype(hidden, weight):
    """The wider of the two inputs' compute dtypes (float32 for f32/bf16/f16, else float64)."""
    return max(
        _checks.compute_dtype(hidden.dtype), _checks.compute_dtype(weight.dtype),
        key=lambda d: d.itemsize,
    )


def _over_chunks(vocab: int, chunk: int, update, carry):
    """Folds ``update(carry, start, width)`` over the vocabulary in column blocks.

    ``vocab // chunk`` full blocks run in a ``fori_loop``; a remainder block (a static
    width ``vocab % chunk``) runs once after it. No block needs a mask for columns that are
    not its own, so nothing is padded and no (rows, chunk) mask is ever materialised.
    """
    num_full, rem = divmod(vocab, chunk)
    carry = jax.lax.fori_loop(0, num_full, lambda i, c: update(c, i * chunk, chunk), carry)
    if rem:
        carry = update(carry, num_full * chunk, rem)
    return carry


def _block_logits(hidden, weight, start, width):
    """The logits of columns ``[start, start + width)`` and those columns of ``weight``."""
    w_block = jax.lax.dynamic_slice_in_dim(weight, start, width, axis=1)
    logits = jnp.matmul(hidden, w_block, preferred_element_type=_compute_dtype(hidden, weight))
    return logits, w_block


def _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing):
    """Per-row (logsumexp, picked logit, sum_c w_c x_c) by an online pass over the blocks."""
    acc = _compute_dtype(hidden, weight)

    def update(carry, start, width):
        m, s, picked, wsum = carry
        logits, _ = _block_logits(hidden, weight, start, width)
        m_new = jnp.maximum(m, jnp.max(logits, axis=1))
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(logits - m_new[:, None]), axis=1)
        # The target's logit: a per-row gather, kept only in the block that holds it.
        local = targets - start
        inside = (local >= 0) & (local < width)
        got = jnp.take_along_axis(logits, jnp.clip(local, 0, width - 1)[:, None], axis=1)
        picked = picked + jnp.where(inside, got[:, 0], 0.0)
        if smoothing:
            cw = jax.lax.dynamic_slice_in_dim(class_weights, start, width)
            wsum = wsum + jnp.matmul(logits, cw, preferred_element_type=acc)
        return m_new, s, picked, wsum

    # zeros_like(targets) keeps the rows' varying mesh axes inside shard_map.
    zero = jnp.zeros_like(targets, dtype=acc)
    m, s, picked, wsum = _over_chunks(
        weight.shape[1], chunk, update, (zero - jnp.inf, zero, zero, zero)
    )
    return m + jnp.log(s), picked, wsum


def _tangent_stats(hidden, weight, targets, class_weights, lse, tangents, chunk, smoothing):
    """The tangents of (lse, picked, wsum), linear in ``tangents`` = (d_hidden, d_weight,
    d_class_weights), each None when zero; one pass over the blocks.

    Each block's step is rematerialised (``jax.checkpoint``): reverse mode, the transpose of
    this map, recomputes the block's logits and forms ``g_lse * softmax + g_pick * onehot +
    g_wsum * w`` for it, accumulating the gradients of ``hidden`` and ``weight`` in place, so
    no (rows, V) array and no per-block residual is ever stored.
    """
    dh, dw, dcw = tangents
    acc = _compute_dtype(hidden, weight)

    def step(start, width, hidden, weight, class_weights, lse, dh, dw, dcw):
        logits, w_block = _block_logits(hidden, weight, start, width)
        zero = jnp.zeros_like(lse)
        d_lse, d_pick, d_wsum = zero, zero, zero
        if dh is not None or dw is not None:
            d_logits = 0.0
            if dh is not None:
                d_logits = d_logits + jnp.matmul(dh, w_block, preferred_element_type=acc)
            if dw is not None:
                dw_block = jax.lax.dynamic_slice_in_dim(dw, start, width, axis=1)
                d_logits = d_logits + jnp.matmul(hidden, dw_block, preferred_element_type=acc)
            d_lse = jnp.sum(jnp.exp(logits - lse[:, None]) * d_logits, axis=1)
            cols = start + jax.lax.broadcasted_iota(targets.dtype, (1, width), 1)
            d_pick = jnp.sum((cols == targets[:, None]).astype(acc) * d_logits, axis=1)
            if smoothing:
                cw = jax.lax.dynamic_slice_in_dim(class_weights, start, width)
                d_wsum = jnp.matmul(d_logits, cw, preferred_element_type=acc)
        if smoothing and dcw is not None:
            dcw_block = jax.lax.dynamic_slice_in_dim(dcw, start, width)
            d_wsum = d_wsum + jnp.matmul(logits, dcw_block, preferred_element_type=acc)
        return d_lse, d_pick, d_wsum

    def update(carry, start, width):
        d = jax.checkpoint(partial(step, width=width))(
            start, hidden=hidden, weight=weight, class_weights=class_weights, lse=lse,
            dh=dh, dw=dw, dcw=dcw,
        )
        return tuple(c + v for c, v in zip(carry, d, strict=True))

    zero = jnp.zeros_like(lse)
    return _over_chunks(weight.shape[1], chunk, update, (zero, zero, zero))


@partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _stats(hidden, weight, targets, class_weights, chunk, smoothing):
    return _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing)


def _stats_jvp(chunk, smoothing, primals, tangents):
    hidden, weight, targets, class_weights = primals
    dh, dw, _, dcw = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    lse, picked, wsum = _forward_stats(hidden, weight, targets, class_weights, chunk, smoothing)
    out_tangents = _tangent_stats(
        hidden, weight, targets, class_weights, lse, (dh, dw, dcw), chunk, smoothing
    )
    return (lse, picked, wsum), out_tangents


_stats.defjvp(_stats_jvp, symbolic_zeros=True)


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
        length, a concrete ``label_smoothing`` outside [0, 1] or negative ``z_loss``, or
        V = 1 (a softmax over one class is always 1).
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
    hidden_given = _checks.given_dtype(hidden)
    weight_given = _checks.given_dtype(weight)
    targets_given = _checks.given_dtype(targets)
    hidden = jnp.asarray(hidden)
    weight = jnp.asarray(weight)
    targets = jnp.asarray(targets)
    _checks.check_reduction(_FN, reduction)
    _checks.check_float(_FN, "hidden", hidden, given=hidden_given)
    _checks.check_float(_FN, "weight", weight, given=weight_given)
    _checks.check_ignore_index(_FN, ignore_index)
    if hidden.ndim < 1:
        raise ValueError(f"{_FN}: `hidden` must have shape (..., D), got a scalar.")
    if weight.ndim != 2:
        raise ValueError(
            f"{_FN}: `weight` must have shape (D, V), got shape {weight.shape}. "
            "For a PyTorch-style (V, D) embedding matrix pass `weight.T`."
        )
    dim, vocab = weight.shape
    _checks.check_softmax_classes(_FN, "weight", weight.shape, 1)
    if hidden.shape[-1] != dim:
        raise ValueError(
            f"{_FN}: the last axis of `hidden` (shape {hidden.shape}) must match the first "
            f"axis of `weight` (shape {weight.shape}): expected D={dim}, got {hidden.shape[-1]}."
        )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(
            f"{_FN}: `targets` must be integer class indices, got dtype "
            f"{targets.dtype if targets_given is None else targets_given}."
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
    _checks.check_labels(_FN, y, in_range | ~keep, vocab, ignore_index)
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
