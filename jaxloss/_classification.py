"""Softmax classification losses: cross-entropy, negative log-likelihood and focal loss.

All three share one layout of the math. For integer targets the per-element loss is built
from ``logsumexp(x) - x[y]`` (one reduction and one gather per element, no materialised
``log_softmax`` to differentiate through); label smoothing and probability targets add one
fused elementwise pass over the classes. Class weights, ``ignore_index`` and ``where`` act on
per-element quantities only.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs, _logsumexp
from jaxloss._reduction import class_shard, global_logsumexp, reduce_loss, reduce_masked, weigh

_LN2 = math.log(2.0)


def _along(v: jax.Array, ndim: int, axis: int) -> jax.Array:
    """Reshapes a per-class vector so that it broadcasts along ``axis`` of a rank-``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _log1mexp(a: jax.Array) -> jax.Array:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate at both ends (Maechler, 2012).

    Both branches get inputs on which they are finite, so no NaN leaks into the gradient
    of the branch that ``where`` does not select.
    """
    hi = a > -_LN2
    a_hi = jnp.where(hi, a, -1.0)
    a_lo = jnp.where(hi, -1.0, a)
    return jnp.where(hi, jnp.log(-jnp.expm1(a_hi)), jnp.log1p(-jnp.exp(a_lo)))


def _focal_nll(logp: jax.Array, gamma: jax.Array) -> jax.Array:
    """``-(1 - p)**gamma * log(p)`` from ``log(p)``, with the focal factor in log space.

    ``(1 - p)**gamma = exp(gamma * log(1 - p))``: at ``gamma = 0`` the factor is exactly 1
    (so the result is exactly the negative log-likelihood), and its gradient is finite for
    every ``gamma >= 0``. Where ``p`` rounds to 1 (``log p = 0``: a target-logit margin of
    about 16 in float32) the factor's argument is the constant ``log(tiny)``, selected by a
    ``where`` whose other branch sees a safe input, so derivatives of every order stay finite
    there (a clamp ``min(log p, -tiny)`` gave ``0 * inf = NaN`` Hessians); the loss there is
    ``0 * factor`` either way.
    """
    tiny = jnp.finfo(logp.dtype).tiny
    saturated = logp >= -tiny
    log1m_p = jnp.where(
        saturated, jnp.log(tiny).astype(logp.dtype), _log1mexp(jnp.where(saturated, -1.0, logp))
    )
    return -jnp.exp(gamma * log1m_p) * logp


def _nll_term(logp: jax.Array, gamma: jax.Array | None, poly: jax.Array | None) -> jax.Array:
    """A class's loss term from its log-probability: ``-log p`` (cross-entropy), the focal
    ``-(1 - p)**gamma * log p`` when ``gamma`` is given, plus the Poly-1 term
    ``poly * (1 - p)`` (Leng et al. 2022) when ``poly`` is given, with ``1 - p`` computed as
    ``-expm1(log p)`` (accurate near p = 1, finite gradient everywhere)."""
    term = -logp if gamma is None else _focal_nll(logp, gamma)
    if poly is not None:
        term = term - poly * jnp.expm1(logp)
    return term


def _class_terms(
    logp: jax.Array, gamma: jax.Array | None, poly: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Per-class ``-(1 - p_c)**gamma * log p_c`` (``-log p_c`` when gamma is None), plus
    ``poly * (1 - p_c)`` when ``poly`` is given (:func:`_nll_term`).

    Returns the terms and the mask of classes with ``log p_c = -inf`` (a ``-inf`` logit). The
    terms are computed on a safe stand-in there so that no ``inf * 0`` reaches a gradient; the
    callers decide what such a class contributes.
    """
    impossible = jnp.isneginf(logp)
    safe = jnp.where(impossible, -1.0, logp)
    terms = _nll_term(safe, gamma, poly)
    return terms, impossible


@jax.custom_jvp
def _smoothing_stats(x, y, w, r):
    """Per row of a (rows, C) array: ``logsumexp``, ``x[y]``, ``sum_c w_c (x_c - r)`` and
    ``sum_c w_c``, both sums over the classes with a finite logit (``r``: a per-row constant).

    A custom JVP whose tangent map (:func:`_smoothing_tangent`) is rematerialised, so that
    reverse mode is one fused elementwise pass, ``g_lse * softmax + g_pick * onehot(y) + g_t
    * w * [x > -inf]``, with only the per-row logsumexp kept from the forward pass (autodiff
    materialised a logits-sized softmax and a mask: about 3x plain cross-entropy on CPU).
    XLA:CPU materialises a masked (``where``) input before a row reduction, so the masked
    sums run only when the batch has a ``-inf`` logit at all (``lax.cond``); otherwise they
    are plain sums. ``r`` is a stop-gradient shift that cancels in the smoothing term
    ``total_w * (lse - r) - t``; its tangent is ignored.
    """
    return _smoothing_stats_impl(x, y, w, r)


@jax.jit  # eagerly too, so the outputs keep the inputs' explicit sharding (as the tangents do)
def _smoothing_stats_impl(x, y, w, r):
    m = jax.lax.stop_gradient(jnp.max(x, axis=-1))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    lse = jnp.log(jnp.sum(jnp.exp(x - m[:, None]), axis=-1)) + m
    picked = _logsumexp.pick(x, y, -1)

    def masked(x):
        supported = x > -jnp.inf
        t = jnp.sum(jnp.where(supported, w[None, :] * (x - r[:, None]), 0.0), axis=-1)
        return t, jnp.sum(jnp.where(supported, w[None, :], 0.0), axis=-1)

    def plain(x):
        t = jnp.sum(w[None, :] * (x - r[:, None]), axis=-1)
        # zeros_like(r) gives the sum the rows' varying mesh axes under shard_map, as the
        # other branch has.
        return t, jnp.zeros_like(r) + jnp.sum(w)

    t, total_w = jax.lax.cond(jnp.min(x) == -jnp.inf, masked, plain, x)
    return lse, picked, t, total_w


@jax.checkpoint
def _smoothing_tangent(x, y, w, r, lse, dx, dw):
    """The tangents of :func:`_smoothing_stats`, linear in ``dx`` and ``dw`` (None: zero)."""
    supported = x > -jnp.inf
    zero = jnp.zeros_like(lse)
    d_lse, d_pick, d_t, d_total_w = zero, zero, zero, zero
    if dx is not None:
        d_lse = jnp.sum(_logsumexp.softmax_rows(x, lse) * dx, axis=-1)
        d_pick = jnp.sum(_logsumexp.onehot_rows(y, x.shape, x.dtype) * dx, axis=-1)
        d_t = jnp.sum(supported.astype(x.dtype) * w[None, :] * dx, axis=-1)
    if dw is not None:
        centred = jnp.where(supported, x - r[:, None], 0.0)
        d_t = d_t + jnp.sum(centred * dw[None, :], axis=-1)
        d_total_w = jnp.sum(supported.astype(x.dtype) * dw[None, :], axis=-1)
    return d_lse, d_pick, d_t, d_total_w


def _smoothing_stats_jvp(primals, tangents):
    x, y, w, r = primals
    dx, _, dw, _ = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    out = _smoothing_stats_impl(x, y, w, r)
    return out, _smoothing_tangent(x, y, w, r, out[0], dx, dw)


_smoothing_stats.defjvp(_smoothing_stats_jvp, symbolic_zeros=True)


def _smoothed_rows(x, safe_y, w):
    """``(lse, x[y], sum_c w_c (lse - x_c))`` for class-last ``x`` via :func:`_smoothing_stats`."""
    num_classes = x.shape[-1]
    lead = x.shape[:-1]
    x2 = x.reshape(-1, num_classes)
    y2 = safe_y.reshape(-1).astype(jnp.int32)
    x_y0 = _logsumexp.pick(jax.lax.stop_gradient(x2), y2, -1)
    r = jnp.where(jnp.isfinite(x_y0), x_y0, 0.0)
    wv = jnp.ones((num_classes,), x.dtype) if w is None else w
    lse, picked, t, total_w = _smoothing_stats(x2, y2, wv, r)
    smooth = total_w * (lse - r) - t
    return lse.reshape(lead), picked.reshape(lead), smooth.reshape(lead)


def _softmax_loss(
    fn: str,
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    gamma: ArrayLike | None,
    class_weights: ArrayLike | None,
    ignore_index: int,
    label_smoothing: ArrayLike,
    z_loss: ArrayLike,
    reduction: str,
    axis: int,
    where: ArrayLike | None,
    axis_name: str | None,
    weights: ArrayLike | None = None,
    inputs_are_log_probs: bool = False,
    class_axis_name: str | None = None,
    poly: jax.Array | None = None,
) -> jax.Array:
    """The shared implementation of cross_entropy, focal_loss and nll_loss, and of the
    imbalance-aware losses of ``_imbalance.py`` (which pass shifted logits, or ``poly``: the
    Poly-1 coefficient, already validated, added to every class term as ``poly * (1 - p)``)."""
    name = "log_probs" if inputs_are_log_probs else "logits"
    given = _inputs.tensor(name, logits)
    given_targets = _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, reduction)
    (x, *rest), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=axis)
    targets = rest[0] if rest else given_targets.value
    axis = _checks.check_axis(fn, name, x, axis)
    _checks.check_softmax_classes(fn, name, x.shape, axis)
    _checks.check_ignore_index(fn, ignore_index)
    num_classes = x.shape[axis]
    shard = None
    if class_axis_name is not None:
        offset, num_classes = class_shard(fn, class_axis_name, x.shape[axis])
        shard = (offset, class_axis_name)
    w = _inputs.class_weights(fn, class_weights, num_classes, dtype)

    eps, z = _checks.smoothing_and_z_loss(fn, label_smoothing, z_loss, dtype)

    if gamma is not None:
        _checks.check_scalar(fn, "gamma", gamma)
        _checks.check_nonnegative(fn, "gamma", gamma)
        gamma = jnp.asarray(gamma, dtype)

    if jnp.issubdtype(targets.dtype, jnp.integer):
        _checks.check_targets_shape(fn, x.shape, targets.shape, axis)
        labels = _inputs.labels(
            fn, targets, num_classes, ignore_index=ignore_index, where=where
        )
        v = _inputs.element_weights(fn, weights, targets.shape, dtype)
        if inputs_are_log_probs:
            _checks.check_log_probs(fn, x, targets, ignore_index, labels.mask, axis)
        return _integer_targets(
            x, labels, w, eps, gamma, z, reduction, axis, axis_name, inputs_are_log_probs,
            num_classes, shard, poly, v,
        )
    if jnp.issubdtype(targets.dtype, jnp.floating) and not inputs_are_log_probs:
        if targets.shape != x.shape:
            raise ValueError(
                f"{fn}: probability `targets` must have the logits' shape {x.shape} "
                f"(class axis {axis} of size {x.shape[axis]}), got {targets.shape}. "
                "Integer class indices need an integer dtype."
                + (
                    " These have the shape of class indices: cast them with "
                    "`targets.astype(jnp.int32)`."
                    if targets.shape == x.shape[:axis] + x.shape[axis + 1 :]
                    else ""
                )
            )
        if ignore_index != -100:
            raise ValueError(
                f"{fn}: `ignore_index`={ignore_index} applies to integer targets only; "
                "with probability targets, drop elements with `where=` instead."
            )
        element_shape = x.shape[:axis] + x.shape[axis + 1 :]
        mask = _inputs.mask(fn, where, element_shape)
        v = _inputs.element_weights(fn, weights, element_shape, dtype)
        _checks.check_probabilities(fn, targets, mask, axis)
        return _probability_targets(
            x, targets, w, eps, gamma, z, mask, reduction, axis, axis_name,
            num_classes, shard, poly, v,
        )
    expected = "an integer dtype (class indices)"
    if not inputs_are_log_probs:
        expected += " or a floating dtype (class probabilities)"
    raise TypeError(
        f"{fn}: `targets` must have {expected}, got dtype "
        f"{targets.dtype if given_targets.given is None else given_targets.given}."
    )


def _local_classes(w, x, axis, shard):
    """The class weights of this device's block of classes (all of them when unsharded)."""
    if w is None or shard is None:
        return w
    return jax.lax.dynamic_slice_in_dim(w, shard[0], x.shape[axis])


def _sharded_lse_and_pick(x, safe_y, axis, shard, log_probs):
    """Global ``(logsumexp, x[y])`` when the class axis is split over ``shard``'s mesh axis:
    only per-element statistics cross devices, the target's logit from its owner."""
    offset, name = shard
    local_y = safe_y - offset
    owned = (local_y >= 0) & (local_y < x.shape[axis])
    got = _logsumexp.pick(x, jnp.clip(local_y, 0, x.shape[axis] - 1), axis)
    x_y = jax.lax.psum(jnp.where(owned, got, 0.0), name)
    lse = None if log_probs else global_logsumexp(jax.nn.logsumexp(x, axis=axis), name)
    return lse, x_y


def _integer_targets(
    x, labels, w, eps, gamma, z_loss, reduction, axis, axis_name, log_probs,
    num_classes, shard, poly=None, v=None,
):
    keep, in_range, safe_y = labels.keep, labels.in_range, labels.safe
    smooth = None
    if shard is not None:
        lse, x_y = _sharded_lse_and_pick(x, safe_y, axis, shard, log_probs)
        logp_y = x_y if log_probs else x_y - lse
    elif gamma is None and poly is None and eps is not None:
        # Smoothed cross-entropy: logsumexp, gather and smoothing sum in one custom JVP.
        lse, x_y, smooth = _smoothed_rows(jnp.moveaxis(x, axis, -1), safe_y, w)
        logp_y = x_y - lse
    elif not log_probs and _logsumexp.use_fused(x, axis):
        # Large arrays: row-blocked logsumexp and gather with a one-pass backward.
        lse, x_y = _logsumexp.lse_and_pick(x, safe_y)
        logp_y = x_y - lse
    else:
        x_y = _logsumexp.pick(x, safe_y, axis)
        lse = None if log_probs else jax.nn.logsumexp(x, axis=axis)
        logp_y = x_y if log_probs else x_y - lse
    per = _nll_term(logp_y, gamma, poly)
    w_y = None if w is None else _logsumexp.take_classes(w, safe_y)
    if w_y is not None:
        per = w_y * per
    if eps is not None:
        # A class with a -inf logit is outside the support: it gets no smoothing mass (the
        # 0 * log 0 = 0 convention), so the loss stays finite where PyTorch's is inf.
        if smooth is None:  # focal, Poly-1: per-class terms
            logp = x - jnp.expand_dims(lse, axis)
            terms, impossible = _class_terms(logp, gamma, poly)
            w_cls = _local_classes(w, x, axis, shard)
            if w_cls is not None:
                terms = _along(w_cls, x.ndim, axis) * terms
            smooth = jnp.sum(jnp.where(impossible, 0.0, terms), axis=axis)
            if shard is not None:
                smooth = jax.lax.psum(smooth, shard[1])
        per = (1.0 - eps) * per + (eps / num_classes) * smooth
    if z_loss is not None:
        # Weighted like the target's term, so "mean" (divided by sum w_y) keeps the z-loss
        # strength when the class weights are rescaled.
        z_term = jnp.asarray(z_loss, x.dtype) * jnp.square(lse)
        per = per + (z_term if w_y is None else w_y * z_term)
    # Per-element weights rescale the loss only: the denominator stays sum m_i w_{y_i}.
    per = jnp.where(keep, jnp.where(in_range, weigh(per, v), jnp.nan), 0.0)
    denominator = keep.astype(x.dtype) if w_y is None else jnp.where(keep, w_y, 0.0)
    return reduce_loss(per, denominator, reduction, axis_name)


def _probability_targets(
    x, q, w, eps, gamma, z_loss, mask, reduction, axis, axis_name, num_classes, shard, poly=None,
    v=None,
):
    lse = jax.nn.logsumexp(x, axis=axis)
    if shard is not None:
        lse = global_logsumexp(lse, shard[1])
    w = _local_classes(w, x, axis, shard)
    logp = x - jnp.expand_dims(lse, axis)
    terms, impossible = _class_terms(logp, gamma, poly)
    # 0 * log 0 = 0 where the target puts no mass on a class with a -inf logit; positive mass
    # there is an infinite loss, as it should be. Elsewhere q * terms, so the derivative in q
    # is the class's term, at q = 0 too (PyTorch's; soft or learned targets need it).
    target_part = jnp.where(impossible, jnp.where(q == 0, 0.0, jnp.inf), q * terms)
    if eps is not None:
        smooth_part = jnp.where(impossible, 0.0, terms)
        per_class = (1.0 - eps) * target_part + (eps / num_classes) * smooth_part
    else:
        per_class = target_part
    if w is not None:
        per_class = _along(w, x.ndim, axis) * per_class
    per = jnp.sum(per_class, axis=axis)
    if shard is not None:
        per = jax.lax.psum(per, shard[1])
    if z_loss is not None:
        # Weighted by the target's effective class weight, sum_c w_c p_c (w_y when one-hot).
        z_term = jnp.asarray(z_loss, x.dtype) * jnp.square(lse)
        if w is not None:
            w_p = jnp.sum(_along(w, x.ndim, axis) * q, axis=axis)
            z_term = (w_p if shard is None else jax.lax.psum(w_p, shard[1])) * z_term
        per = per + z_term
    return reduce_masked(per, mask, reduction, axis_name, weights=v)


def cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    z_loss: ArrayLike = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy from logits, with PyTorch's ``F.cross_entropy`` semantics.

    With :math:`\ell = \log\mathrm{softmax}(x)` over the class axis, :math:`C` classes,
    class weights :math:`w` (default 1), smoothing :math:`\epsilon` and :math:`m_i = 1` for
    kept (not ignored, not masked) elements, integer targets :math:`y_i` give

    .. math::

       l_i = m_i \Big[(1-\epsilon)\, w_{y_i} (-\ell_{i y_i})
             + \frac{\epsilon}{C} \sum_c w_c (-\ell_{ic})
             + z\, w_{y_i} \operatorname{logsumexp}(x_i)^2\Big]

    and ``"mean"`` is :math:`\sum_i l_i / \sum_i m_i w_{y_i}` (the smoothing term uses all class
    weights, the denominator only the target's, exactly as PyTorch). Probability targets
    :math:`p` (same shape as ``logits``) give :math:`l_i = -\sum_c w_c q_{ic} \ell_{ic} + z
    (\sum_c w_c p_{ic}) \operatorname{logsumexp}(x_i)^2` with :math:`q = (1-\epsilon) p +
    \epsilon / C`, and ``"mean"`` divides by the number of kept elements, not by a weight sum
    (as PyTorch). The z-loss (PaLM) is weighted like the target's class weight, so under
    "mean" its strength relative to the cross-entropy does not change when the class weights
    are rescaled.

    Deliberate differences from PyTorch:

    * every element ignored or masked: ``"mean"`` is 0.0 with zero gradients, not NaN;
    * bf16/f16 logits are computed in float32 and the loss is float32;
    * an out-of-range integer target (other than ``ignore_index``; -1 included) gives NaN for
      that element instead of wrapping or clamping; :func:`jaxloss.checked` turns it into an
      error naming the label;
    * a class whose logit is ``-inf`` gets no smoothing mass (``0 log 0 = 0``), so the loss
      stays finite where PyTorch returns ``inf`` or NaN;
    * ``label_smoothing < 0`` is an error (PyTorch silently uses 0).

    Performance: integer targets are ``logsumexp(x) - x[y]``; no ``log_softmax`` is
    materialised. On CPU, class-last inputs of at least 2**24 elements take a row-blocked
    path (see ``BENCHMARKS.md``). Every path has a JVP rule, so ``jax.grad``, ``jax.jvp``,
    ``jax.jacfwd``, ``jax.hessian``, ``vmap``, ``jax.checkpoint`` and ``shard_map`` all work.

    Args:
      logits: float array with the class axis at ``axis``, e.g. (N, C) or (N, H, W, C);
        (N, C, d1, ...) with ``axis=1``. Channel-first logits always need ``axis=1``: when C
        equals a spatial size, e.g. (N, 4, 4, 4), integer targets (N, 4, 4) fit either
        layout and the default ``axis=-1`` would silently take the last spatial axis as the
        classes.
      targets: integer class indices with the logits' shape without ``axis``, or floating
        class probabilities with the logits' shape.
      class_weights: optional (C,) per-class weights (traceable).
      ignore_index: integer target value whose elements are dropped (integer targets only).
      label_smoothing: scalar in [0, 1] (traceable).
      z_loss: scalar >= 0; adds ``z_loss * w_y * logsumexp(x)**2`` per kept element (PaLM;
        ``w_y`` = 1 without class weights).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights (the README's weights rule).
      reduction: "mean", "sum" or "none" (per-element loss, 0 at ignored/masked elements).
      axis: the class axis of ``logits``.
      where: optional boolean mask broadcastable to the per-element shape; False elements
        count exactly like ignored ones.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis.
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``logits`` (and probability ``targets``) hold this
        device's contiguous block of ``C / axis_size`` classes, in axis-index order; integer
        targets are global class ids and ``class_weights`` the global (C,) vector. Only
        per-element statistics cross devices (max, sum of exponentials, the target's logit
        from its owner, the smoothing sum); value and gradients equal the unsharded loss.
        Combines with ``axis_name`` on a 2-D ("data", "model") mesh.

    Returns:
      A scalar for "mean"/"sum", else the per-element loss; dtype float32 (float64 for
      float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; unknown ``reduction``, mismatched shapes, wrong
        ``class_weights`` length, a concrete ``label_smoothing`` outside [0, 1] or negative
        ``z_loss``, a class axis of size 0 or 1 (a softmax over one class is always 1: use
        :func:`binary_cross_entropy_with_logits`).
      TypeError: boolean or complex ``weights``; integer ``logits`` (swapped arguments are named as
        such) or targets of an unsupported dtype.

    Under :func:`jaxloss.checked`, also: an out-of-range integer label, negative
    probability targets.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.cross_entropy(logits, targets):.4f}")
      0.1755
      >>> print(f"{jaxloss.cross_entropy(logits, targets, label_smoothing=0.1):.4f}")
      0.3455
      >>> jaxloss.cross_entropy(logits, jnp.array([0, -100]), reduction="none")
      Array([0.2413, 0.    ], dtype=float32)
    """
    return _softmax_loss(
        "cross_entropy", logits, targets, gamma=None, class_weights=class_weights,
        ignore_index=ignore_index, label_smoothing=label_smoothing, z_loss=z_loss,
        reduction=reduction, axis=axis, where=where, weights=weights, axis_name=axis_name,
        class_axis_name=class_axis_name,
    )


def nll_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of integer targets, with PyTorch's ``F.nll_loss`` semantics.

    .. math::

       l_i = -m_i\, w_{y_i}\, \ell_{i y_i}, \qquad
       \text{mean} = \sum_i l_i \Big/ \sum_i m_i w_{y_i}

    where :math:`\ell` are the given log-probabilities (no softmax is applied). The same
    weighting, ``ignore_index``, ``where`` and empty-batch rules as :func:`cross_entropy`.

    Args:
      log_probs: float array of log-probabilities with the class axis at ``axis``.
      targets: integer class indices with the shape of ``log_probs`` without ``axis``.
      class_weights: optional (C,) per-class weights (traceable).
      ignore_index: target value whose elements are dropped.
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights (the README's weights rule).
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the targets' shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; as :func:`cross_entropy`.
      TypeError: boolean or complex ``weights``; integer ``log_probs``, non-integer ``targets``.

    Under :func:`jaxloss.checked`, also: an out-of-range integer label, and ``log_probs``
    above 0 at a kept element (probabilities or logits passed as log-probabilities).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> log_probs = jax.nn.log_softmax(jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]))
      >>> print(f"{jaxloss.nll_loss(log_probs, jnp.array([0, 2])):.4f}")
      0.1755
    """
    return _softmax_loss(
        "nll_loss", log_probs, targets, gamma=None, class_weights=class_weights,
        ignore_index=ignore_index, label_smoothing=0.0, z_loss=0.0, reduction=reduction,
        axis=axis, where=where, weights=weights, axis_name=axis_name, inputs_are_log_probs=True,
    )


def focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    gamma: ArrayLike = 2.0,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Multi-class softmax focal loss (Lin et al., 2017), normalised like cross-entropy.

    .. math::

       l_i = -m_i \sum_c q_{ic}\, w_c\, (1 - p_{ic})^{\gamma} \log p_{ic}

    with :math:`p = \mathrm{softmax}(x)`, :math:`q` the smoothed one-hot of :math:`y_i` (or
    the smoothed probability targets) and :math:`w` the class weights. Reductions are exactly
    those of :func:`cross_entropy`, so ``gamma=0`` *is* ``cross_entropy`` in every mode. The
    focal factor is ``exp(gamma * log(1 - p))`` computed from log-probabilities, so values
    and gradients stay finite for every ``gamma >= 0``, at saturated logits and ``gamma < 1``.

    Conventions differ between libraries: Keras clips ``p``, MONAI and kornia divide "mean"
    by every pixel and weight class 0 by ``1 - alpha``; segmentation_models_pytorch's
    multi-class focal is one-vs-rest sigmoid. jaxloss's per-class weights play the role of
    ``alpha``; see :func:`sigmoid_focal_loss` for the binary (torchvision) form.

    Args:
      logits: float array with the class axis at ``axis``.
      targets: integer class indices, or class probabilities with the logits' shape.
      gamma: focusing parameter, scalar >= 0 (traceable: ``jax.vmap`` over it works).
      class_weights: optional (C,) per-class weights (traceable).
      ignore_index: integer target value whose elements are dropped.
      label_smoothing: scalar in [0, 1] (traceable).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights (the README's weights rule).
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the per-element shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.
      class_axis_name: the mesh axis over which the class axis is split; see
        :func:`cross_entropy`.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete negative ``gamma``, and everything
        :func:`cross_entropy` raises (a class axis of size 1 points to :func:`sigmoid_focal_loss`).
      TypeError: boolean or complex ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.focal_loss(logits, targets, gamma=2.0):.5f}")
      0.00614
      >>> print(f"{jaxloss.focal_loss(logits, targets, gamma=0.0):.4f}")
      0.1755

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    return _softmax_loss(
        "focal_loss", logits, targets, gamma=gamma, class_weights=class_weights,
        ignore_index=ignore_index, label_smoothing=label_smoothing, z_loss=0.0,
        reduction=reduction, axis=axis, where=where, weights=weights, axis_name=axis_name,
        class_axis_name=class_axis_name,
    )

