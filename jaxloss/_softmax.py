"""The softmax engine shared by every softmax loss (cross_entropy, nll_loss, focal_loss, the
imbalance-aware losses, the hard term of distillation_loss, the cross-entropy and focal terms
of the segmentation losses).

A loss calls :func:`softmax_loss` with a :class:`SoftmaxConfig` (the static structure: the
public function's name, the class axis, the reduction, ``ignore_index``, the mesh axes, whether
the inputs are log-probabilities) and its numeric options (traceable arrays). The engine
prepares through :mod:`jaxloss._inputs`, then does the math: for integer targets the
per-element loss is built from ``logsumexp(x) - x[y]`` (one reduction and one gather per
element, no materialised ``log_softmax`` to differentiate through); label smoothing and
probability targets add one fused elementwise pass over the classes. Class weights,
``ignore_index`` and ``where`` act on per-element quantities only.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs, _logsumexp
from jaxloss._reduction import class_shard, global_logsumexp, reduce_loss, reduce_masked, weigh


@dataclasses.dataclass(frozen=True)
class SoftmaxConfig:
    """The static structure of a softmax loss call (hashable: a ``jit`` static argument).

    Attributes:
      fn: the public function's name, for messages.
      axis: the class axis of the logits (normalised by the engine).
      reduction: "mean", "sum" or "none".
      ignore_index: the integer target value whose elements are dropped.
      axis_name: the mesh axis over which "mean" and "sum" are global, or None.
      class_axis_name: the mesh axis over which the class axis is split (vocabulary
        parallelism), or None.
      log_probs: the inputs are log-probabilities (``nll_loss``): no softmax is applied.
    """

    fn: str
    axis: int = -1
    reduction: str = "mean"
    ignore_index: int = -100
    axis_name: str | None = None
    class_axis_name: str | None = None
    log_probs: bool = False


def along(v: jax.Array, ndim: int, axis: int) -> jax.Array:
    """Reshapes a per-class vector so that it broadcasts along ``axis`` of a rank-``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def num_global_classes(fn: str, local_classes: int, class_axis_name: str | None):
    """``(offset, C)``: this device's first class and the global class count (``(0,
    local_classes)`` when the class axis is not split)."""
    if class_axis_name is None:
        return 0, local_classes
    return class_shard(fn, class_axis_name, local_classes)


def local_classes(v: jax.Array | None, shard, size: int) -> jax.Array | None:
    """This device's ``size`` entries of a global per-class vector when the class axis is
    split (``shard``: ``(offset, class_axis_name)``), else ``v`` itself; None stays None."""
    if v is None or shard is None:
        return v
    return jax.lax.dynamic_slice_in_dim(v, shard[0], size)


def log_softmax(x: jax.Array, axis: int, class_axis_name: str | None = None) -> jax.Array:
    """``log_softmax`` along ``axis``; with ``class_axis_name``, over the classes of every
    device (``x`` holds this device's block), from the global logsumexp."""
    if class_axis_name is None:
        return jax.nn.log_softmax(x, axis=axis)
    lse = global_logsumexp(jax.nn.logsumexp(x, axis=axis), class_axis_name)
    return x - jnp.expand_dims(lse, axis)


_LN2 = math.log(2.0)


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


@dataclasses.dataclass(frozen=True)
class _Terms:
    """The prepared numeric options of one call, in the compute dtype (None: absent).

    Attributes:
      w: the (C,) class weights (global).
      v: the per-element weights, broadcast to the per-element shape.
      eps: the label smoothing, None when a concrete 0.
      z: the z-loss coefficient, None when a concrete 0.
      gamma: the focal exponent (focal_loss), else None.
      poly: the Poly-1 coefficient, else None.
      num_classes: the global class count C.
      shard: ``(offset, class_axis_name)`` when the class axis is split, else None.
    """

    w: jax.Array | None
    v: jax.Array | None
    eps: jax.Array | None
    z: jax.Array | None
    gamma: jax.Array | None
    poly: jax.Array | None
    num_classes: int
    shard: tuple[jax.Array, str] | None


def softmax_loss(
    config: SoftmaxConfig,
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    label_smoothing: ArrayLike = 0.0,
    z_loss: ArrayLike = 0.0,
    gamma: ArrayLike | None = None,
    poly: jax.Array | None = None,
) -> jax.Array:
    """The softmax loss described by ``config`` and the numeric options.

    ``gamma``: the focal exponent (None: no focal factor). ``poly``: the Poly-1 coefficient,
    already validated, added to every class term as ``poly * (1 - p)`` (None: none).
    """
    fn, log_probs = config.fn, config.log_probs
    name = "log_probs" if log_probs else "logits"
    given = _inputs.tensor(name, logits)
    given_targets = _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, config.reduction)
    (x, *rest), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=config.axis)
    targets = rest[0] if rest else given_targets.value
    axis = _checks.check_axis(fn, name, x, config.axis)
    _checks.check_softmax_classes(fn, name, x.shape, axis)
    _checks.check_ignore_index(fn, config.ignore_index)
    shard = None
    offset, num_classes = num_global_classes(fn, x.shape[axis], config.class_axis_name)
    if config.class_axis_name is not None:
        shard = (offset, config.class_axis_name)
    w = _inputs.class_weights(fn, class_weights, num_classes, dtype)
    eps, z = _checks.smoothing_and_z_loss(fn, label_smoothing, z_loss, dtype)
    z = None if z is None else jnp.asarray(z, dtype)
    if gamma is not None:
        _checks.check_scalar(fn, "gamma", gamma)
        _checks.check_nonnegative(fn, "gamma", gamma)
        gamma = jnp.asarray(gamma, dtype)

    def terms(shape):
        v = _inputs.element_weights(fn, weights, shape, dtype)
        return _Terms(w, v, eps, z, gamma, poly, num_classes, shard)

    if jnp.issubdtype(targets.dtype, jnp.integer):
        _checks.check_targets_shape(fn, x.shape, targets.shape, axis)
        labels = _inputs.labels(
            fn, targets, num_classes, ignore_index=config.ignore_index, where=where
        )
        opts = terms(targets.shape)
        if log_probs:
            _checks.check_log_probs(fn, x, targets, config.ignore_index, labels.mask, axis)
        # Dropped rows' logits (padding filled with -inf, an inf) never reach the math.
        x = _inputs.safe_rows(x, labels.keep, axis)
        return _integer_targets(config, axis, x, labels, opts)
    if jnp.issubdtype(targets.dtype, jnp.floating) and not log_probs:
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
        if config.ignore_index != -100:
            raise ValueError(
                f"{fn}: `ignore_index`={config.ignore_index} applies to integer targets only; "
                "with probability targets, drop elements with `where=` instead."
            )
        element_shape = x.shape[:axis] + x.shape[axis + 1 :]
        mask = _inputs.mask(fn, where, element_shape)
        opts = terms(element_shape)
        _checks.check_probabilities(fn, targets, mask, axis)
        if mask is not None:  # masked rows never reach the math
            x = _inputs.safe_rows(x, mask, axis)
            targets = _inputs.safe_rows(targets, mask, axis)
        return _probability_targets(config, axis, x, targets, mask, opts)
    expected = "an integer dtype (class indices)"
    if not log_probs:
        expected += " or a floating dtype (class probabilities)"
    raise TypeError(
        f"{fn}: `targets` must have {expected}, got dtype "
        f"{targets.dtype if given_targets.given is None else given_targets.given}."
    )


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


def _integer_targets(config: SoftmaxConfig, axis: int, x, labels, o: _Terms):
    keep, in_range, safe_y = labels.keep, labels.in_range, labels.safe
    log_probs, shard, w = config.log_probs, o.shard, o.w
    gamma, poly, eps = o.gamma, o.poly, o.eps
    smooth = None
    if shard is not None:
        lse, x_y = _sharded_lse_and_pick(x, safe_y, axis, shard, log_probs)
        logp_y = x_y if lse is None else x_y - lse
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
        logp_y = x_y if lse is None else x_y - lse
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
            w_cls = local_classes(w, shard, x.shape[axis])
            if w_cls is not None:
                terms = along(w_cls, x.ndim, axis) * terms
            smooth = jnp.sum(jnp.where(impossible, 0.0, terms), axis=axis)
            if shard is not None:
                smooth = jax.lax.psum(smooth, shard[1])
        per = (1.0 - eps) * per + (eps / o.num_classes) * smooth
    if o.z is not None:
        # Weighted like the target's term, so "mean" (divided by sum w_y) keeps the z-loss
        # strength when the class weights are rescaled.
        z_term = o.z * jnp.square(lse)
        per = per + (z_term if w_y is None else w_y * z_term)
    # Per-element weights rescale the loss only: the denominator stays sum m_i w_{y_i}.
    per = jnp.where(keep, jnp.where(in_range, weigh(per, o.v), jnp.nan), 0.0)
    denominator = keep.astype(x.dtype) if w_y is None else jnp.where(keep, w_y, 0.0)
    return reduce_loss(per, denominator, config.reduction, config.axis_name)


def _probability_targets(config: SoftmaxConfig, axis: int, x, q, mask, o: _Terms):
    shard, eps = o.shard, o.eps
    lse = jax.nn.logsumexp(x, axis=axis)
    if shard is not None:
        lse = global_logsumexp(lse, shard[1])
    w = local_classes(o.w, shard, x.shape[axis])
    logp = x - jnp.expand_dims(lse, axis)
    terms, impossible = _class_terms(logp, o.gamma, o.poly)
    # 0 * log 0 = 0 where the target puts no mass on a class with a -inf logit; positive mass
    # there is an infinite loss, as it should be. Elsewhere q * terms, so the derivative in q
    # is the class's term, at q = 0 too (PyTorch's; soft or learned targets need it).
    target_part = jnp.where(impossible, jnp.where(q == 0, 0.0, jnp.inf), q * terms)
    if eps is not None:
        smooth_part = jnp.where(impossible, 0.0, terms)
        per_class = (1.0 - eps) * target_part + (eps / o.num_classes) * smooth_part
    else:
        per_class = target_part
    if w is not None:
        per_class = along(w, x.ndim, axis) * per_class
    per = jnp.sum(per_class, axis=axis)
    if shard is not None:
        per = jax.lax.psum(per, shard[1])
    if o.z is not None:
        # Weighted by the target's effective class weight, sum_c w_c p_c (w_y when one-hot).
        z_term = o.z * jnp.square(lse)
        if w is not None:
            w_p = jnp.sum(along(w, x.ndim, axis) * q, axis=axis)
            z_term = (w_p if shard is None else jax.lax.psum(w_p, shard[1])) * z_term
        per = per + z_term
    return reduce_masked(per, mask, config.reduction, config.axis_name, weights=o.v)
