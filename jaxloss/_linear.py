"""Cross-entropy of a linear layer's logits without materialising them (large vocabularies).

``linear_cross_entropy(hidden, weight, targets)`` equals
``cross_entropy(softcap(hidden @ weight.T + bias), targets)`` (PyTorch's
``F.linear_cross_entropy``; ``weight_layout="dv"`` takes a (D, V) weight) but walks the
vocabulary in blocks and the tokens in tiles: the forward pass keeps an online logsumexp per
token (running max and rescaled sum), the target's logit, the argmax and, with label
smoothing or probability targets, a weighted sum of the logits. The derivative is a
``custom_jvp`` whose tangent map walks the blocks again with each step rematerialised, so
reverse mode (its transpose) recomputes each block's logits, forms ``softmax - target`` for
it and accumulates the gradients of ``hidden``, ``weight`` and ``bias``, and forward mode
(``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) works too. Only (tile, block) and per-token
arrays are ever live, never (N, V). Pure JAX: it runs on CPU, GPU and TPU alike.

Anchors: Apple's Cut Cross-Entropy (Wijmans et al., 2024) and Liger-Kernel's fused linear
cross-entropy do this with Triton kernels on GPU.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._logsumexp import _axis_is_sharded, take_classes
from jaxloss._reduction import class_shard, global_logsumexp, reduce_loss

_FN = "linear_cross_entropy"


@dataclasses.dataclass(frozen=True)
class _Config:
    """Static structure of one call (hashable: a ``nondiff_argnums`` argument)."""

    layout: str  # "vd": weight (V, D); "dv": weight (D, V)
    row_chunk: int
    col_chunk: int
    coef: str  # "none", "classes" (a (V,) coefficient) or "rows" (an (N, V) one)
    acc: np.dtype  # accumulation dtype of the logits


@dataclasses.dataclass(frozen=True)
class _Span:
    """``count`` interleaved tiles of ``width`` indices covering ``[base, base + count *
    width)``: tile ``i`` holds ``base + a * count + i`` for ``a`` in ``[0, width)``.

    Interleaved rather than contiguous so that the loop slices an axis that no device mesh
    shards: reshaped to ``(width, count)``, a vocabulary (or token) axis split in contiguous
    blocks over devices keeps its split on ``width``, and the loop indexes ``count``. Under
    plain ``jit`` with a weight sharded along V and hidden states sharded along the tokens,
    GSPMD then partitions each step locally and only all-reduces per-token statistics,
    where a ``dynamic_slice`` along the sharded axis made it all-gather the whole weight.
    """

    base: int
    count: int
    width: int


def _spans(size: int, chunk: int) -> list[_Span]:
    """Spans covering ``[0, size)`` in tiles of at most ``chunk``: one interleaved span when
    a tile count in ``[ceil(size / chunk), 2 ceil(size / chunk)]`` divides ``size``, else an
    interleaved span and a contiguous remainder of fewer than ``count`` indices."""
    if size == 0:  # no tokens (or no classes): nothing to fold
        return []
    count = -(-size // chunk)
    for c in range(count, min(2 * count, size) + 1):
        if size % c == 0:
            return [_Span(0, c, size // c)]
    width = size // count
    return [_Span(0, count, width), _Span(count * width, 1, size - count * width)]


def _over_blocks(rows: int, cols: int, cfg: _Config, update, carry):
    """Folds ``update(carry, row_span, row_tile, col_span, col_tile)`` over every (token
    tile, vocabulary block).

    One flat ``fori_loop`` per combination of row and column spans (static shapes, no
    padding, no masks), vocabulary blocks outer and token tiles inner. A single loop level
    matters in reverse mode: the transposed loop then accumulates the gradients of
    ``hidden`` and ``weight`` in place in its carry, where nested loops would each hold a
    zero-initialised accumulator of a whole input.
    """
    for cs in _spans(cols, cfg.col_chunk):
        for rs in _spans(rows, cfg.row_chunk):
            if cs.count * rs.count == 1:
                carry = update(carry, rs, 0, cs, 0)
                continue

            def body(i, c, rs=rs, cs=cs):
                ci, ri = jnp.divmod(i, rs.count)
                return update(c, rs, ri, cs, ci)

            carry = jax.lax.fori_loop(0, cs.count * rs.count, body, carry)
    return carry


def _covered(x, span: _Span, axis: int):
    """``x`` restricted to the indices ``span`` covers along ``axis`` (static), and whether
    that is all of them."""
    n = x.shape[axis]
    stop = span.base + span.count * span.width
    if span.base == 0 and stop == n:
        return x, True
    return jax.lax.slice_in_dim(x, span.base, stop, axis=axis), False


def _split(x, span: _Span, axis: int):
    return x.reshape(x.shape[:axis] + (span.width, span.count) + x.shape[axis + 1:])


def _take(x, span: _Span, i, axis: int = 0):
    """Tile ``i`` of ``span`` along ``axis`` (None stays None)."""
    if x is None:
        return None
    sub, _ = _covered(x, span, axis)
    if span.count == 1:
        return sub
    return jax.lax.dynamic_index_in_dim(_split(sub, span, axis), i, axis=axis + 1,
                                        keepdims=False)


def _put(x, v, span: _Span, i):
    """``x`` with tile ``i`` of ``span`` along axis 0 replaced by ``v``."""
    if span.count == 1:
        return jax.lax.dynamic_update_slice_in_dim(x, v, span.base, axis=0)
    sub, whole = _covered(x, span, 0)
    sub = jax.lax.dynamic_update_index_in_dim(_split(sub, span, 0), v, i, axis=1)
    sub = sub.reshape((span.count * span.width,) + x.shape[1:])
    return sub if whole else jax.lax.dynamic_update_slice_in_dim(x, sub, span.base, axis=0)


def _ids(span: _Span, i, dtype):
    """The (1, width) indices of tile ``i`` (class ids of a vocabulary block)."""
    a = jax.lax.broadcasted_iota(dtype, (1, span.width), 1)
    return span.base + a * span.count + jnp.asarray(i).astype(dtype)


def _weight_block(weight, cs, ci, layout):
    return _take(weight, cs, ci, axis=0 if layout == "vd" else 1)


def _project(h, w_block, layout, acc):
    """``h @ w_block.T`` ("vd") or ``h @ w_block`` ("dv"), accumulated in ``acc``."""
    contract = 1 if layout == "vd" else 0
    return jax.lax.dot_general(
        h, w_block, (((1,), (contract,)), ((), ())), preferred_element_type=acc
    )


def _block_logits(h, w_block, b_block, cap, cfg):
    """Raw logits of a (tile, block) and the capped ones the softmax sees."""
    raw = _project(h, w_block, cfg.layout, cfg.acc)
    if b_block is not None:
        raw = raw + b_block.astype(cfg.acc)[None, :]
    if cap is None:
        return raw, raw
    return raw, cap * jnp.tanh(raw / cap)


def _prepare(weight, bias, coef, cs, ci, cfg):
    """A vocabulary block's weight columns, bias and (V,) coefficients ((N, V) ones stay
    whole and are sliced per tile)."""
    w_block = None if weight is None else _weight_block(weight, cs, ci, cfg.layout)
    c_block = _take(coef, cs, ci) if cfg.coef == "classes" else coef
    return w_block, _take(bias, cs, ci), c_block


def _coef_tile(c_block, rs, ri, cs, ci, cfg):
    if cfg.coef == "classes":
        return c_block
    return _take(_take(c_block, rs, ri, axis=0), cs, ci, axis=1)


def _coef_dot(coef_block, x, cfg):
    """``sum_c coef_c x_c`` per row of the block (a matrix-vector product for a (V,) coef)."""
    if cfg.coef == "classes":
        return jnp.matmul(x, coef_block.astype(cfg.acc), preferred_element_type=cfg.acc)
    return jnp.sum(coef_block.astype(cfg.acc) * x, axis=1)


def _hidden_tile(hidden, fill, rs, ri):
    """Tile ``ri`` of the hidden rows, with the rows ``fill`` marks (None: none) as zeros:
    the select runs on the tile inside the loop, so it keeps no (N, D) copy."""
    h = _take(hidden, rs, ri)
    if fill is None:
        return h
    return jnp.where(_take(fill, rs, ri)[:, None], jnp.zeros_like(h), h)


def forward_stats(hidden, weight, targets, coef, bias, cap, fill, cfg: _Config):
    """Per row: (logsumexp, target's logit, sum_c coef_c x_c, argmax, max) of the capped
    logits; a row ``fill`` marks counts as a zero hidden row (its logits the bias)."""
    rows = hidden.shape[0]
    vocab = weight.shape[0 if cfg.layout == "vd" else 1]
    zero = jnp.zeros_like(targets, dtype=cfg.acc)  # keeps the rows' varying mesh axes
    init = (zero - jnp.inf, zero, zero, zero, jnp.zeros_like(targets))

    def update(carry, rs, ri, cs, ci):
        w_block, b_block, c_block = _prepare(weight, bias, coef, cs, ci, cfg)
        m, s, picked, t, amax = (_take(c, rs, ri) for c in carry)
        y = _take(targets, rs, ri)
        _, x = _block_logits(_hidden_tile(hidden, fill, rs, ri), w_block, b_block, cap, cfg)
        block_max = jnp.max(x, axis=1)
        m_new = jnp.maximum(m, block_max)
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(x - m_new[:, None]), axis=1)
        # Masked sums and minima over the block, not gathers or argmax: plain reductions
        # that GSPMD partitions over a vocabulary split across devices.
        ids = _ids(cs, ci, targets.dtype)
        if _axis_is_sharded(y, 0):  # explicit axes: the ids must carry the rows' sharding
            ids = ids + jnp.zeros_like(y)[:, None]
        picked = picked + jnp.sum(jnp.where(ids == y[:, None], x, 0.0), axis=1)
        if cfg.coef != "none":
            t = t + _coef_dot(_coef_tile(c_block, rs, ri, cs, ci, cfg), x, cfg)
        # jnp.argmax's rule across interleaved blocks: the lowest class id among maxima.
        never = jnp.iinfo(targets.dtype).max
        first = jnp.min(jnp.where(x == block_max[:, None], ids, never), axis=1)
        first = first.astype(amax.dtype)
        amax = jnp.where(block_max > m, first,
                         jnp.where(block_max == m, jnp.minimum(amax, first), amax))
        new = (m_new, s, picked, t, amax)
        return tuple(_put(c, v, rs, ri) for c, v in zip(carry, new, strict=True))

    m, s, picked, t, amax = _over_blocks(rows, vocab, cfg, update, init)
    return m + jnp.log(s), picked, t, amax, m


def _dcap(raw, cap):
    """d/d cap of ``cap * tanh(raw / cap)``."""
    u = raw / cap
    th = jnp.tanh(u)
    return th - u * (1.0 - th * th)


def tangent_stats(hidden, weight, targets, coef, bias, cap, fill, lse, tangents,
                  cfg: _Config):
    """Tangents of (lse, picked, t), linear in ``tangents`` (None where zero).

    Each block's step is rematerialised (``jax.checkpoint``): reverse mode, the transpose of
    this map, recomputes the block's logits and forms ``g_lse * softmax + g_pick * onehot +
    g_t * coef`` (times the softcap's derivative) for it, accumulating the gradients of
    ``hidden``, ``weight`` and ``bias`` in place: no (N, V) array, no per-block residual.
    """
    dh, dw, dcoef, dbias, dcap = tangents
    rows = hidden.shape[0]
    vocab = weight.shape[0 if cfg.layout == "vd" else 1]
    acc = cfg.acc

    def step(ri, ci, rs, cs, hidden, weight, targets, coef, bias, cap, fill, lse, dh, dw,
             dcoef, dbias, dcap):
        w_block, b_block, c_block = _prepare(weight, bias, coef, cs, ci, cfg)
        dw_block, db_block, dc_block = _prepare(dw, dbias, dcoef, cs, ci, cfg)
        h = _hidden_tile(hidden, fill, rs, ri)
        raw, x = _block_logits(h, w_block, b_block, cap, cfg)
        zero = jnp.zeros_like(_take(lse, rs, ri))
        d_lse, d_pick, d_t = zero, zero, zero
        d_x = None
        if dh is not None:
            d_x = _project(_take(dh, rs, ri), w_block, cfg.layout, acc)
        if dw_block is not None:
            term = _project(h, dw_block, cfg.layout, acc)
            d_x = term if d_x is None else d_x + term
        if db_block is not None:
            term = db_block.astype(acc)[None, :]
            d_x = term if d_x is None else d_x + term
        if d_x is not None and cap is not None:
            th = jnp.tanh(raw / cap)
            d_x = d_x * (1.0 - th * th)
        if dcap is not None:
            term = _dcap(raw, cap) * dcap
            d_x = term if d_x is None else d_x + term
        if d_x is not None:
            p = jnp.exp(x - _take(lse, rs, ri)[:, None])
            d_lse = jnp.sum(p * d_x, axis=1)
            hit = (_ids(cs, ci, targets.dtype) == _take(targets, rs, ri)[:, None]).astype(acc)
            d_pick = jnp.sum(hit * d_x, axis=1)
            if cfg.coef != "none":
                d_t = _coef_dot(_coef_tile(c_block, rs, ri, cs, ci, cfg), d_x, cfg)
        if dc_block is not None:
            d_t = d_t + _coef_dot(_coef_tile(dc_block, rs, ri, cs, ci, cfg), x, cfg)
        return d_lse, d_pick, d_t

    def update(carry, rs, ri, cs, ci):
        d = jax.checkpoint(partial(step, rs=rs, cs=cs))(
            ri, ci, hidden=hidden, weight=weight, targets=targets, coef=coef, bias=bias,
            cap=cap, fill=fill, lse=lse, dh=dh, dw=dw, dcoef=dcoef, dbias=dbias, dcap=dcap,
        )
        return tuple(
            _put(c, _take(c, rs, ri) + v, rs, ri) for c, v in zip(carry, d, strict=True)
        )

    zero = jnp.zeros_like(lse)
    return _over_blocks(rows, vocab, cfg, update, (zero, zero, zero))


def _primal_stats(hidden, weight, targets, coef, bias, cap, fill, cfg):
    lse, picked, t, amax, top = forward_stats(
        hidden, weight, targets, coef, bias, cap, fill, cfg
    )
    # The argmax leaves as a float of the accumulation dtype (exact below 2**24 classes in
    # float32): an integer output's float0 tangent cannot carry shard_map's varying axes.
    return lse, picked, t, amax.astype(cfg.acc), top


@partial(jax.custom_jvp, nondiff_argnums=(7,))
def block_stats(hidden, weight, targets, coef, bias, cap, fill, cfg):
    """(lse, picked, t, argmax, max) per row; see :func:`forward_stats`. Differentiable in
    every float input (forward and reverse mode). The argmax (a float) and the max logit are
    rankings for the predicted class, given zero tangents: callers stop their gradients.
    ``fill`` (per row, or None) marks dropped rows whose hidden row is not finite: they are
    taken as zeros in both passes, so that a NaN or inf there reaches no gradient (the
    callers select such rows out; the other dropped rows keep their logsumexp)."""
    return _primal_stats(hidden, weight, targets, coef, bias, cap, fill, cfg)


def _block_stats_jvp(cfg, primals, tangents):
    hidden, weight, targets, coef, bias, cap, fill = primals

    def live(t, p):
        return None if p is None or t is None or isinstance(t, SymbolicZero) else t

    dh, dw, _, dcoef, dbias, dcap, _ = (
        live(t, p) for t, p in zip(tangents, primals, strict=True)
    )
    lse, picked, t, amax, top = _primal_stats(
        hidden, weight, targets, coef, bias, cap, fill, cfg
    )
    d_lse, d_pick, d_t = tangent_stats(
        hidden, weight, targets, coef, bias, cap, fill, lse, (dh, dw, dcoef, dbias, dcap), cfg
    )
    zero = jnp.zeros_like(lse)
    return (lse, picked, t, amax, top), (d_lse, d_pick, d_t, zero, zero)


block_stats.defjvp(_block_stats_jvp, symbolic_zeros=True)


LAYOUTS = ("vd", "dv")


def _vocab_parallel_stats(hidden, weight, targets, coef, bias, cap, fill, cfg, offset, axis):
    """:func:`block_stats` over this device's vocabulary block, combined over ``axis``.

    Each device runs the blocked pass on its own columns with the targets shifted to its
    block (a target outside it picks nothing there); then only per-token statistics cross
    devices. Differentiation goes through the local custom JVP and JAX's rules for the
    collectives, so the gradients are those of the unsharded loss.
    """
    local_lse, picked, t, amax, best = block_stats(
        hidden, weight, targets - offset, coef, bias, cap, fill, cfg
    )
    lse = global_logsumexp(local_lse, axis)
    picked = jax.lax.psum(picked, axis)
    if cfg.coef != "none":
        t = jax.lax.psum(t, axis)
    # The argmax: the device with the largest local maximum (the blocked pass's running max)
    # wins, the lowest class id among ties (jnp.argmax's rule).
    best = jax.lax.stop_gradient(best)
    top = jax.lax.pmax(best, axis)
    never = jnp.asarray(np.finfo(amax.dtype).max, amax.dtype)
    candidate = jax.lax.stop_gradient(amax) + offset.astype(amax.dtype)
    amax = jax.lax.pmin(jnp.where(best == top, candidate, never), axis)
    return lse, picked, t, amax


def _like_rows(x: jax.Array, h2: jax.Array) -> jax.Array:
    """``x`` (per token) split like the rows of ``h2`` when those are split over an explicit
    mesh axis (JAX then requires matching shardings); unchanged otherwise."""
    if not _axis_is_sharded(h2, 0):
        return x
    spec = jax.sharding.PartitionSpec(jax.typeof(h2).sharding.spec[0], *[None] * (x.ndim - 1))
    return jax.sharding.reshard(x, spec)


def _check_chunk(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{_FN}: `{name}` must be a Python int >= 1, got {value!r}.")


def _check_weight(hidden: jax.Array, weight: jax.Array, layout: Any) -> tuple[int, int]:
    """Validates ``weight`` against ``weight_layout``; returns (D, V)."""
    if layout not in LAYOUTS:
        raise ValueError(
            f"{_FN}: `weight_layout` must be one of {LAYOUTS}, got {layout!r}: 'vd' for a "
            "(V, D) weight (PyTorch's `linear_weight`, a tied embedding table), 'dv' for a "
            "(D, V) one (a Flax `Dense` kernel)."
        )
    expected = "(V, D)" if layout == "vd" else "(D, V)"
    if weight.ndim != 2:
        raise ValueError(
            f"{_FN}: `weight` must have shape {expected} (weight_layout={layout!r}), got shape "
            f"{weight.shape}."
        )
    dim = hidden.shape[-1]
    d_axis = 1 if layout == "vd" else 0
    if weight.shape[d_axis] != dim:
        other = "dv" if layout == "vd" else "vd"
        hint = ""
        if weight.shape[1 - d_axis] == dim:
            hint = f" It looks like a {'(D, V)' if layout == 'vd' else '(V, D)'} weight: pass "
            hint += f"weight_layout={other!r} (no transposed copy is made)."
        raise ValueError(
            f"{_FN}: `weight` of shape {weight.shape} does not match `hidden` of shape "
            f"{hidden.shape}: with weight_layout={layout!r} it must be {expected} with "
            f"D={dim}.{hint}"
        )
    return dim, weight.shape[1 - d_axis]


@_inputs.public
def linear_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    targets: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    weight_layout: str = "vd",
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    z_loss: ArrayLike = 0.0,
    softcap: ArrayLike | None = None,
    reduction: str = "mean",
    chunk_size: int = 1024,
    token_chunk_size: int = 512,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
    return_aux: bool = False,
) -> jax.Array | tuple[jax.Array, dict[str, jax.Array]]:
    r"""Cross-entropy of a linear layer's logits without materialising them (PyTorch's
    ``F.linear_cross_entropy``).

    With the logits :math:`x = \operatorname{softcap}(h W^\top + b)` (``weight_layout="vd"``,
    :math:`W` of shape (V, D), PyTorch's ``linear_weight``; :math:`h W + b` for ``"dv"``),
    :math:`\operatorname{softcap}(u) = c \tanh(u / c)` when ``softcap=c`` is given (Gemma 2),
    class weights :math:`w` (default 1), per-token weights :math:`v` (default 1), smoothing
    :math:`\epsilon`, :math:`m_i = 1` for kept tokens and :math:`\ell = \log\mathrm{softmax}(x)`,
    integer targets give

    .. math::

       l_i = m_i v_i \Big[(1-\epsilon)\, w_{y_i} (-\ell_{i y_i})
             + \frac{\epsilon}{V} \sum_c w_c (-\ell_{ic})
             + z\, w_{y_i} \operatorname{lse}(x_i)^2\Big],
       \qquad \text{mean} = \sum_i l_i \Big/ \sum_i m_i w_{y_i}

    exactly :func:`jaxloss.cross_entropy` of the logits. Probability targets :math:`p` of
    shape (..., V) give :math:`l_i = m_i v_i [-\sum_c w_c q_{ic} \ell_{ic} + z (\sum_c w_c
    p_{ic}) \operatorname{lse}(x_i)^2]` with :math:`q = (1-\epsilon) p + \epsilon/V`, and
    "mean" divides by :math:`\sum_i m_i` (PyTorch's rule for probability targets).

    Rules where PyTorch has none: per-token ``weights`` rescale each token's loss and never
    enter the "mean" denominator (masks go in ``where``); the z-loss term is weighted like
    the token's cross-entropy (:math:`w_{y_i}`), so its strength relative to the
    cross-entropy does not change when the class weights are rescaled.

    How: the vocabulary is walked in blocks of ``chunk_size`` columns and the tokens in
    tiles of ``token_chunk_size`` rows, with an online logsumexp per row; only (tile, block)
    logits and per-token statistics are ever live. The derivative is a ``custom_jvp`` whose
    tangent map walks the blocks again with each step rematerialised, so reverse mode (its
    transpose) recomputes each block's logits, forms ``softmax - target`` for it and
    accumulates the gradients of ``hidden``, ``weight`` and ``bias`` in place, and forward
    mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) works too. Tiles and blocks are
    interleaved (tile ``i`` of ``k`` holds rows ``i, i + k, ...``), so under plain ``jit`` a
    weight sharded along V and hidden states sharded along the tokens are never gathered:
    GSPMD partitions each step locally and all-reduces per-token statistics only. Compiled
    temp memory is
    O(``token_chunk_size`` x ``chunk_size``) plus per-token terms, independent of V; the
    cost is one extra matrix product (the recomputed logits) in the backward pass. The
    weight is used in its own layout: no transposed copy. bf16/f16 inputs accumulate the
    logits and every gradient in float32. Anchors: Apple's Cut Cross-Entropy (Wijmans et
    al., 2024) and Liger-Kernel's fused linear cross-entropy (Triton kernels on GPU); this
    is pure JAX and runs on CPU, GPU and TPU.

    Args:
      hidden: (N, D) or (..., D) float array (the final hidden states).
      weight: (V, D) float array with ``weight_layout="vd"`` (default: PyTorch's
        ``linear_weight``, a tied embedding table), or (D, V) with ``"dv"`` (a Flax
        ``Dense`` kernel).
      targets: integer class indices with the hidden shape without D, or float class
        probabilities of shape (..., V).
      bias: optional (V,) bias added to the logits (PyTorch's ``linear_bias``).
      weight_layout: ``"vd"`` or ``"dv"``, as above.
      class_weights: optional (V,) per-class weights (PyTorch's ``weight``; traceable,
        differentiable).
      weights: optional per-token float weights, broadcastable to the token shape.
      where: optional boolean mask broadcastable to the token shape; False tokens count
        exactly like ignored ones.
      ignore_index: target value whose tokens are dropped (integer targets only).
      label_smoothing: scalar in [0, 1] (traceable).
      z_loss: scalar >= 0 (traceable); adds ``z_loss * w_y * logsumexp(x)**2`` per kept
        token (PaLM).
      softcap: optional scalar > 0 (traceable): logits become ``softcap * tanh(x /
        softcap)`` before the softmax (Gemma 2).
      reduction: "mean", "sum" or "none".
      chunk_size: vocabulary columns per block (a Python int >= 1; need not divide V).
      token_chunk_size: tokens per tile (a Python int >= 1; need not divide N).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator are summed across devices before dividing).
      class_axis_name: inside ``shard_map``, the mesh axis over which the vocabulary is
        split (vocabulary parallelism, as Megatron's and Liger's): ``weight`` (and
        ``bias``) hold this device's contiguous block of ``V / axis_size`` classes, in
        axis-index order; ``targets`` are global class ids and ``class_weights`` the global
        (V,) vector. Only per-token statistics cross devices (max, sum of exponentials, the
        target's logit from the device that owns it, the smoothing sum, the argmax); value
        and gradients equal the unsharded loss. Combines with ``axis_name`` on a 2-D
        ("data", "model") mesh. Integer targets only.
      return_aux: also return a dict of per-token arrays (the targets' token shape), all
        computed without the logits: ``"lse"`` (logsumexp of the logits), ``"z_loss"`` (the
        token's z-loss term, 0 where dropped), ``"argmax"`` (int32, the predicted class, for
        accuracy) and ``"denominator"`` (the token's share of the "mean" denominator, 0
        where dropped).

    Returns:
      The loss: a float32 scalar for "mean"/"sum" (float64 for float64 inputs), else the
      per-token loss (0 at dropped tokens); with ``return_aux``, ``(loss, aux)``.

    Raises:
      ValueError: a ``weight`` whose shape does not match ``weight_layout`` and ``hidden``,
        mismatched targets, ``bias``, ``class_weights``, ``weights`` or ``where`` shapes, a
        bad ``chunk_size``/``token_chunk_size``/``reduction``/``weight_layout``, V == 1, a
        concrete ``label_smoothing`` outside [0, 1], negative ``z_loss``, ``softcap <= 0``.
      TypeError: non-float ``hidden``/``weight``, targets that are neither integer nor
        float, non-real ``weights`` (boolean, complex).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> h = jax.random.normal(jax.random.key(0), (4, 8))
      >>> w = jax.random.normal(jax.random.key(1), (10, 8))  # (V, D)
      >>> y = jnp.array([1, 2, 3, -100])
      >>> a = jaxloss.linear_cross_entropy(h, w, y, chunk_size=3)
      >>> b = jaxloss.cross_entropy(h @ w.T, y)
      >>> bool(jnp.allclose(a, b, rtol=1e-5))
      True
      >>> loss, aux = jaxloss.linear_cross_entropy(h, w, y, return_aux=True)
      >>> accuracy = jnp.mean((aux["argmax"] == y)[:3])

    References:
      Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models", 2024 (Apple's
      Cut Cross-Entropy); Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss``; PyTorch's
      ``F.cross_entropy`` semantics for the loss itself.
    """
    hidden_given, weight_given = _checks.given_dtype(hidden), _checks.given_dtype(weight)
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
    dim, local_vocab = _check_weight(hidden, weight, weight_layout)
    offset: int | jax.Array = 0
    vocab = local_vocab
    if class_axis_name is not None:
        offset, vocab = class_shard(_FN, class_axis_name, local_vocab)
    _checks.check_softmax_classes(
        _FN, "weight", weight.shape, 0 if weight_layout == "vd" else 1,
        binary_fix="use jaxloss.binary_cross_entropy_with_logits on the single logit, "
        "hidden @ weight[0] (a (1, D) weight)",
    )
    _check_chunk("chunk_size", chunk_size)
    _check_chunk("token_chunk_size", token_chunk_size)
    return_aux = _inputs.flag(_FN, "return_aux", return_aux)

    extra = () if bias is None else (jnp.asarray(bias),)
    acc = _inputs.float_dtype(hidden, weight, targets, *extra)
    eps, z = _checks.smoothing_and_z_loss(_FN, label_smoothing, z_loss, acc)
    cap = None
    if softcap is not None:
        _checks.check_scalar(_FN, "softcap", softcap)
        v = _checks.concrete_float(softcap)
        if v is not None and not v > 0.0:
            raise ValueError(
                f"{_FN}: `softcap` must be > 0 (logits become softcap * tanh(x / softcap)), "
                f"got {v}. Pass softcap=None for no capping."
            )
        cap = jnp.asarray(softcap, acc)
    b = None
    if bias is not None:
        b = jnp.asarray(bias)
        _checks.check_class_vector(_FN, "bias", b, local_vocab)
        _checks.check_float(_FN, "bias", b)
    w = _inputs.class_weights(_FN, class_weights, vocab, acc)

    probabilities = jnp.issubdtype(targets.dtype, jnp.floating)
    if probabilities and class_axis_name is not None:
        raise ValueError(
            f"{_FN}: probability targets are not supported with `class_axis_name` (they "
            "would need the local (N, V / axis_size) block of the targets); pass integer "
            "class ids, or call jaxloss.cross_entropy on the logits."
        )
    if probabilities:
        token_shape = hidden.shape[:-1]
        if targets.shape != (*token_shape, vocab):
            raise ValueError(
                f"{_FN}: probability `targets` must have shape {(*token_shape, vocab)} (the "
                f"hidden shape with D replaced by V), got {targets.shape}. Integer class "
                "indices need an integer dtype."
            )
        if ignore_index != -100:
            raise ValueError(
                f"{_FN}: `ignore_index`={ignore_index} applies to integer targets only; "
                "with probability targets, drop tokens with `where=` instead."
            )
    elif jnp.issubdtype(targets.dtype, jnp.integer):
        token_shape = targets.shape
        if targets.shape != hidden.shape[:-1]:
            raise ValueError(
                f"{_FN}: integer `targets` must have the shape of `hidden` without its last "
                f"axis: expected {hidden.shape[:-1]}, got {targets.shape}."
            )
    else:
        raise TypeError(
            f"{_FN}: `targets` must be integer class indices or float class probabilities, "
            f"got dtype {targets.dtype if targets_given is None else targets_given}."
        )
    mask = _checks.as_mask(_FN, where, token_shape)
    v_tok = _checks.as_weights(_FN, weights, token_shape, acc)

    rows = int(np.prod(token_shape, dtype=np.int64))
    h2 = hidden.reshape(rows, dim)
    keep = _like_rows(jnp.ones((rows,), bool) if mask is None else mask.reshape(rows), h2)
    if probabilities:
        q = targets.reshape(rows, vocab).astype(acc)
        _checks.check_unit_interval_values(
            _FN, "targets", q, keep[:, None], expected="probabilities in [0, 1]"
        )
        q = _inputs.masked(q, None if mask is None else keep, 0.0, axis=-1)  # dropped: no mass
        q_given = q
        if eps is not None:
            q = (1.0 - eps) * q + eps / vocab
        coef: jax.Array | None = q if w is None else q * w[None, :]
        # The effective class weight of a token: sum_c w_c p_c (w_y for a one-hot p).
        w_tok = None if w is None else q_given @ w
        safe_y = jnp.zeros_like(keep, jnp.int32)
        kind = "rows"
    else:
        labels = _inputs.labels(_FN, targets, vocab, ignore_index=ignore_index, where=mask)
        keep = _like_rows(labels.keep.reshape(rows), h2)
        in_range = _like_rows(labels.in_range.reshape(rows), h2)
        y = _like_rows(targets.reshape(rows), h2)
        safe_y = jnp.where(keep & in_range, y, 0).astype(jnp.int32)
        coef = None
        if eps is not None:
            coef = jnp.ones((vocab,), acc) if w is None else w
            if class_axis_name is not None:
                coef = jax.lax.dynamic_slice_in_dim(coef, offset, local_vocab)
        w_tok = None if w is None else take_classes(w, safe_y)
        kind = "none" if coef is None else "classes"
    # A dropped token whose hidden row is not finite is taken as a zero row inside the blocked
    # kernels (`fill`; a select per tile, no (N, D) copy), and a dropped token's weight as 1,
    # so that a NaN or inf there reaches neither the value nor the hidden or weight gradients.
    # Integer targets always have ignore_index; probabilities without `where` drop nothing.
    fill = None
    if not (probabilities and mask is None):
        fill = ~keep & ~jnp.all(jnp.isfinite(h2), axis=-1)
        if v_tok is not None:
            v_tok = _inputs.masked(v_tok, keep.reshape(token_shape), 1.0)

    cfg = _Config(
        layout=weight_layout, row_chunk=min(int(token_chunk_size), max(rows, 1)),
        col_chunk=min(int(chunk_size), local_vocab), coef=kind, acc=np.dtype(acc),
    )
    if class_axis_name is None:
        lse, picked, t, amax, _ = block_stats(h2, weight, safe_y, coef, b, cap, fill, cfg)
    else:
        lse, picked, t, amax = _vocab_parallel_stats(
            h2, weight, safe_y, coef, b, cap, fill, cfg, offset, class_axis_name
        )
        # The smoothing sum runs over every class: its total weight is the global one.
        if kind == "classes":
            coef = jnp.ones((vocab,), acc) if w is None else w
    if probabilities:
        assert coef is not None  # the targets' rows (set above); narrows the type
        per = jnp.sum(coef, axis=1) * lse - t
    else:
        per = lse - picked
        if w_tok is not None:
            per = w_tok * per
        if eps is not None:
            assert coef is not None  # set with eps above; narrows the type
            per = (1.0 - eps) * per + (eps / vocab) * (jnp.sum(coef) * lse - t)
    z_term = None
    if z is not None:
        z_term = jnp.asarray(z, acc) * jnp.square(lse)
        if w_tok is not None:
            z_term = w_tok * z_term
        per = per + z_term
    if v_tok is not None:
        v2 = v_tok.reshape(rows)
        per = v2 * per
        z_term = None if z_term is None else v2 * z_term
    if probabilities:
        per = jnp.where(keep, per, 0.0)
        denominator = keep.astype(acc)
    else:
        per = jnp.where(keep, jnp.where(in_range, per, jnp.nan), 0.0)
        denominator = keep.astype(acc) if w_tok is None else jnp.where(keep, w_tok, 0.0)
    loss = reduce_loss(
        per.reshape(token_shape), denominator.reshape(token_shape), reduction, axis_name
    )
    if not return_aux:
        return loss
    zeros = jnp.zeros_like(lse)
    if fill is not None:  # a dropped non-finite row has no logsumexp (NaN, as before)
        lse = jnp.where(fill, jnp.nan, lse)
    aux = {
        "lse": lse.reshape(token_shape),
        "z_loss": jnp.where(keep, zeros if z_term is None else z_term, 0.0).reshape(token_shape),
        "argmax": jax.lax.stop_gradient(amax).astype(jnp.int32).reshape(token_shape),
        "denominator": denominator.reshape(token_shape),
    }
    return loss, aux
