"""The softmax engine shared by every softmax loss (cross_entropy, nll_loss, focal_loss, the
imbalance-aware losses, the hard term of distillation_loss, the cross-entropy and focal terms
of the segmentation losses).

A loss calls :func:`softmax_loss` with a :class:`SoftmaxConfig` (the static structure: the
public function's name, the class axis, the reduction, ``ignore_index``, the mesh axes, whether
the inputs are log-probabilities) and its numeric options (traceable arrays). The engine
prepares through :mod:`jaxloss._inputs`, then does the math: for integer targets the
per-element loss is built from ``logsumexp(x) - x[y]`` (one reduction and one gather per
element, no materialised ``log_softmax`` to differentiate through); label smoothing,
probability targets and the focal and Poly-1 class terms are row sums of one elementwise
function of the logits (:func:`jaxloss._logsumexp.row_sum`, a custom JVP whose tangent is
recomputed in the backward pass), so no option keeps a logits-sized array between the
passes. Class weights, ``ignore_index`` and ``where`` act on per-element quantities only;
dropped rows get a zero tangent (:func:`jaxloss._logsumexp.guard_rows`), so ``-inf``
padding there never reaches a gradient.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
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
      binary_fix: the advice for binary targets when the class axis has size 1 (the loss's
        single-logit companion), ending the error's "For binary targets ...".
    """

    fn: str
    axis: int = -1
    reduction: str = "mean"
    ignore_index: int = -100
    axis_name: str | None = None
    class_axis_name: str | None = None
    log_probs: bool = False
    binary_fix: str = _checks.BINARY_FIX


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


def _smoothing_term(x, lse, w):
    """Per class ``w_c (lse - x_c)`` on the support (``x_c > -inf``), else 0 (computed on a
    safe stand-in there, so that no ``0 * inf`` reaches a derivative)."""
    supported = x > -jnp.inf
    return jnp.where(supported, w * (lse - jnp.where(supported, x, lse)), 0.0)


def _class_loss(names, smooth_only, *vals):
    """The per-class loss of the row sums (one fused elementwise function of the logits).

    ``names`` lists the arguments present in ``vals`` among ``x`` (logits), ``lse`` (the
    per-row logsumexp), ``q`` (probability targets), ``w`` (class weights), ``eps``
    (smoothing), ``inv_c`` (1/C), ``gamma`` (focal) and ``poly`` (Poly-1). With
    ``smooth_only`` it is the smoothing term ``w_c * term(log p_c)`` of integer targets (0 for
    a class with a -inf logit); else the probability-target loss ``w_c [(1 - eps) q_c
    term(log p_c) + eps / C term(log p_c)]`` with ``0 * log 0 = 0`` where ``q_c = 0`` and
    ``p_c = 0``, and an infinite loss where ``q_c > 0`` and ``p_c = 0``.
    """
    a = dict(zip(names, vals, strict=True))
    logp = a["x"] - a["lse"]
    terms, impossible = _class_terms(logp, a.get("gamma"), a.get("poly"))
    if smooth_only:
        per_class = jnp.where(impossible, 0.0, terms)
    else:
        q = a["q"]
        # Elsewhere q * terms, so the derivative in q is the class's term, at q = 0 too
        # (PyTorch's; soft or learned targets need it).
        per_class = jnp.where(impossible, jnp.where(q == 0, 0.0, jnp.inf), q * terms)
        if "eps" in a:
            smooth_part = jnp.where(impossible, 0.0, terms)
            per_class = (1.0 - a["eps"]) * per_class + (a["eps"] * a["inv_c"]) * smooth_part
    if "w" in a:
        per_class = a["w"] * per_class
    return per_class


def _class_sum(axis, shard, names, smooth_only, *vals):
    """``sum_c`` of :func:`_class_loss` over every device's classes (a fused row sum)."""
    f = functools.partial(_class_loss, names, smooth_only)
    if "gamma" in names:
        # The focal factor's derivative is too large a function for XLA:CPU to fuse into one
        # reduction: a rematerialised tangent (row_sum) kept one logits-sized temporary
        # instead of several but ran about 2x slower than autodiff of the plain sum, and its
        # custom JVP had no second-order rule (jax.hessian failed), so the focal class terms
        # keep autodiff (BENCHMARKS.md, 2026-12-07).
        out = jnp.sum(f(*vals), axis=axis)
    else:
        out = _logsumexp.row_sum(f, axis, *vals, row_coefficients=True)
    return out if shard is None else jax.lax.psum(out, shard[1])


def _lse(x, axis, shard):
    """The per-row logsumexp over every device's classes (``jax.nn.logsumexp``: its
    autodiff fuses into one pass each way)."""
    lse = jax.nn.logsumexp(x, axis=axis)
    return lse if shard is None else global_logsumexp(lse, shard[1])


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
    _checks.check_softmax_classes(fn, name, x.shape, axis, binary_fix=config.binary_fix)
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
            _checks.check_log_probs(fn, x, labels.keep, axis)
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
    lse = None if log_probs else _lse(x, axis, shard)
    return lse, x_y


def _integer_targets(config: SoftmaxConfig, axis: int, x, labels, o: _Terms):
    keep, in_range, safe_y = labels.keep, labels.in_range, labels.safe
    log_probs, shard, w = config.log_probs, o.shard, o.w
    gamma, poly, eps = o.gamma, o.poly, o.eps
    # Dropped rows' logits (padding filled with -inf, an inf) never reach the gradient.
    x = _logsumexp.guard_rows(x, jnp.expand_dims(keep, axis))
    if shard is not None:
        lse, x_y = _sharded_lse_and_pick(x, safe_y, axis, shard, log_probs)
    elif not log_probs and _logsumexp.use_fused(x, axis):
        # Large arrays: row-blocked logsumexp and gather with a one-pass backward.
        lse, x_y = _logsumexp.lse_and_pick(x, safe_y)
    else:
        x_y = _logsumexp.pick(x, safe_y, axis)
        lse = None if log_probs else _lse(x, axis, None)
    logp_y = x_y if lse is None else x_y - lse
    per = _nll_term(logp_y, gamma, poly)
    w_y = None if w is None else _logsumexp.take_classes(w, safe_y)
    if w_y is not None:
        per = w_y * per
    if eps is not None:
        # A class with a -inf logit is outside the support: it gets no smoothing mass (the
        # 0 * log 0 = 0 convention), so the loss stays finite where PyTorch's is inf.
        assert lse is not None  # log-probabilities are never smoothed
        w_cls = local_classes(w, shard, x.shape[axis])
        lse_b = jnp.expand_dims(lse, axis)
        if gamma is None and poly is None:
            # sum_c w_c (lse - x_c) on the support: one row sum, whose coefficient in the
            # logsumexp (the support's weight) comes from the same pass.
            wv = jnp.ones((x.shape[axis],), x.dtype) if w_cls is None else w_cls
            smooth = _logsumexp.row_sum(_smoothing_term, axis, x, lse_b, along(wv, x.ndim, axis))
            if shard is not None:
                smooth = jax.lax.psum(smooth, shard[1])
        else:  # focal, Poly-1: per-class terms, one fused pass each way
            names = ("x", "lse") + tuple(
                n for n, v in (("w", w_cls), ("gamma", gamma), ("poly", poly)) if v is not None
            )
            vals = [x, lse_b] + [
                along(v, x.ndim, axis) if n == "w" else v
                for n, v in (("w", w_cls), ("gamma", gamma), ("poly", poly)) if v is not None
            ]
            smooth = _class_sum(axis, shard, names, True, *vals)
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
    if mask is not None:  # masked rows never reach the gradient (of the logits or targets)
        m = jnp.expand_dims(mask, axis)
        x, q = _logsumexp.guard_rows(x, m), _logsumexp.guard_rows(q, m)
    lse = _lse(x, axis, shard)
    w = local_classes(o.w, shard, x.shape[axis])
    present = [
        (n, v) for n, v in (
            ("w", None if w is None else along(w, x.ndim, axis)),
            ("eps", eps),
            ("inv_c", None if eps is None else jnp.asarray(1.0 / o.num_classes, x.dtype)),
            ("gamma", o.gamma),
            ("poly", o.poly),
        ) if v is not None
    ]
    names = ("x", "lse", "q") + tuple(n for n, _ in present)
    vals = [x, jnp.expand_dims(lse, axis), q] + [v for _, v in present]
    per = _class_sum(axis, shard, names, False, *vals)
    if o.z is not None:
        # Weighted by the target's effective class weight, sum_c w_c p_c (w_y when one-hot).
        z_term = o.z * jnp.square(lse)
        if w is not None:
            w_p = jnp.sum(along(w, x.ndim, axis) * q, axis=axis)
            z_term = (w_p if shard is None else jax.lax.psum(w_p, shard[1])) * z_term
        per = per + z_term
    return reduce_masked(per, mask, config.reduction, config.axis_name, weights=o.v)
