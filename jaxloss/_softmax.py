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
function of the log-probabilities, with a custom JVP whose tangent is recomputed in the
backward pass (:func:`jaxloss._logsumexp.row_sum` for the smoothing of plain cross-entropy,
:func:`jaxloss._logsumexp.log_prob_sum`, whose derivative is written in closed form, for the
class terms), so no option keeps a logits-sized array between the passes. Class weights,
``ignore_index`` and ``where`` act on per-element quantities only; dropped rows get a zero
tangent (:func:`jaxloss._logsumexp.guard_rows`), so ``-inf`` padding there never reaches a
gradient.
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


def _smoothing_term(x, lse, w):
    """Per class ``w_c (lse - x_c)`` on the support (``x_c > -inf``), else 0 (computed on a
    safe stand-in there, so that no ``0 * inf`` reaches a derivative)."""
    supported = x > -jnp.inf
    return jnp.where(supported, w * (lse - jnp.where(supported, x, lse)), 0.0)


def _poly_smoothing_term(x, lse, poly):
    """Per class ``(lse - x_c) + poly`` on the support (``x_c > -inf``), else 0: summed over
    the classes and less ``poly``, the smoothing sum of Poly-1 without class weights, ``sum_c
    [-log p_c + poly (1 - p_c)]`` over the support, in closed form (the support's ``p_c`` sum
    to 1), so it costs what cross-entropy's smoothing does: no ``exp`` per class."""
    supported = x > -jnp.inf
    return jnp.where(supported, (lse - jnp.where(supported, x, lse)) + poly, 0.0)


def _one_minus_p(logp: jax.Array, p: jax.Array, l_top: jax.Array, top: jax.Array) -> jax.Array:
    """``1 - p`` for a log-probability ``logp`` and ``p = exp(logp)``, accurate everywhere without
    a second transcendental function per element (``-expm1`` costs about two ``exp`` on
    XLA:CPU).

    Only the row's most probable class can have ``p > 1/2``, where ``1 - p`` cancels; every
    other class has ``1 - p`` in [1/2, 1], exact to an ulp. The top class (``logp == l_top``,
    the row's largest log-probability; ties are equal values) gets the per-row ``top =
    -expm1(l_top)`` instead, plus ``stop_gradient(p) - p`` (0 in value), so that its
    derivatives of every order are those of ``1 - exp(logp)`` (``l_top`` and ``top`` are
    constants: callers stop their gradients).
    """
    return jnp.where(logp == l_top, top + (jax.lax.stop_gradient(p) - p), 1.0 - p)


def _focal_and_dl(logp, p, one_minus_p, gamma):
    """The focal term ``phi = -(1 - p)**gamma * logp`` of a log-probability ``logp`` (finite, <= 0)
    and its derivative ``dphi/dl = -(1 - p)**gamma * (1 - gamma * p * logp / (1 - p))``, from
    ``p`` and ``1 - p``.

    A traced ``gamma`` gives the factor ``exp(gamma * log(1 - p))`` (exactly 1 at ``gamma =
    0``); a concrete integer ``gamma`` (a Python int) an integer power, two transcendental
    functions fewer. Where ``p`` rounds to 1 (``1 - p < tiny``) ``log(1 - p)`` is the
    constant ``log(tiny)`` and ``logp / (1 - p)`` its limit -1, each selected by a ``where``
    whose other branch sees a safe input, so derivatives of every order stay finite there and
    for ``0 <= gamma < 1``.
    """
    if isinstance(gamma, int):
        if gamma == 0:
            return -logp, jnp.full_like(logp, -1.0)
        factor_m1 = jax.lax.integer_pow(one_minus_p, gamma - 1)
        return -factor_m1 * one_minus_p * logp, -factor_m1 * (one_minus_p - gamma * p * logp)
    tiny = jnp.finfo(logp.dtype).tiny
    saturated = one_minus_p < tiny
    safe = jnp.where(saturated, 1.0, one_minus_p)
    log1m_p = jnp.where(saturated, jnp.log(tiny).astype(logp.dtype), jnp.log(safe))
    factor = jnp.exp(gamma * log1m_p)
    ratio = jnp.where(saturated, -1.0, logp / safe)  # log p / (1 - p), -1 at p = 1
    return -factor * logp, -factor * (1.0 - gamma * p * ratio)


def _term_and_dl(logp, top, gamma, poly):
    """A class's loss term of its (finite) log-probability ``logp`` and its derivative in ``logp``:
    ``-logp`` (cross-entropy) or the focal term (:func:`_focal_and_dl`), plus the Poly-1 term
    ``poly * (1 - p)``. ``top``: ``(l_top, -expm1(l_top))`` for :func:`_one_minus_p`."""
    if gamma is None or (isinstance(gamma, int) and gamma == 0):
        if poly is None:
            return -logp, jnp.full_like(logp, -1.0)
        gamma = None
    p = jnp.exp(logp)
    one_minus_p = _one_minus_p(logp, p, *top)
    if gamma is None:
        phi, dphi = -logp, jnp.full_like(logp, -1.0)
    else:
        phi, dphi = _focal_and_dl(logp, p, one_minus_p, gamma)
    if poly is not None:
        phi = phi + poly * one_minus_p
        dphi = dphi - poly * p
    return phi, dphi


def _class_loss_and_dl(names, smooth_only, int_gamma, logp, *vals, clamp=True):
    """The per-class loss of the row sums and its derivative in the log-probability ``logp``.

    ``names`` lists the arguments present in ``vals`` among ``q`` (probability targets),
    ``w`` (class weights), ``eps`` (smoothing), ``inv_c`` (1/C), ``gamma`` (focal, traced)
    and ``poly`` (Poly-1); ``int_gamma`` is a concrete integer focal exponent (static), or
    None. With ``smooth_only`` it is the smoothing term ``w_c * term(l_c)`` of integer
    targets (0 for a class with a -inf logit); else the probability-target loss ``w_c [(1 -
    eps) q_c term(l_c) + eps / C term(l_c)]`` with ``0 * log 0 = 0`` where ``q_c = 0`` and
    ``p_c = 0``, and an infinite loss where ``q_c > 0`` and ``p_c = 0``. The terms are
    computed on a finite stand-in where ``logp = -inf``; the derivative is 0 there. The
    stand-in is a clamp (``clamp``: XLA:CPU fuses it into the closed-form gradient's pass,
    where a select on ``logp`` was kept as a logits-sized buffer) or a select (for autodiff:
    the derivative of a clamp costs a compare and a divide per element).
    """
    a = dict(zip(names, vals, strict=True))
    impossible = jnp.isneginf(logp)
    if clamp:
        safe = jnp.maximum(logp, jnp.finfo(logp.dtype).min)
    else:
        safe = jnp.where(impossible, -1.0, logp)
    gamma = int_gamma if int_gamma is not None else a.get("gamma")
    top = (a.get("l_top"), a.get("top"))
    terms, dterms = _term_and_dl(safe, top, gamma, a.get("poly"))
    if smooth_only:
        per_class, weight = jnp.where(impossible, 0.0, terms), None
    else:
        q = a["q"]
        # Elsewhere q * terms, so the derivative in q is the class's term, at q = 0 too
        # (PyTorch's; soft or learned targets need it).
        per_class = jnp.where(impossible, jnp.where(q == 0, 0.0, jnp.inf), q * terms)
        weight = q
        if "eps" in a:
            smooth_part = jnp.where(impossible, 0.0, terms)
            per_class = (1.0 - a["eps"]) * per_class + (a["eps"] * a["inv_c"]) * smooth_part
            weight = (1.0 - a["eps"]) * q + a["eps"] * a["inv_c"]
    if "w" in a:
        per_class = a["w"] * per_class
        weight = a["w"] if weight is None else a["w"] * weight
    d = dterms if weight is None else weight * dterms
    return per_class, jnp.where(impossible, 0.0, d)


def _class_loss(names, smooth_only, int_gamma, x, lse, *vals):
    """:func:`_class_loss_and_dl`'s value as a function of the logits and the logsumexp."""
    return _class_loss_and_dl(names, smooth_only, int_gamma, x - lse, *vals, clamp=False)[0]


def _has_class_terms(names, int_gamma) -> bool:
    """Whether the class sum has focal or Poly-1 terms (else cross-entropy's, linear in
    the log-probabilities)."""
    return int_gamma not in (None, 0) or "gamma" in names or "poly" in names


def _class_sum(axis, shard, names, smooth_only, int_gamma, x, lse, *vals):
    """``sum_c`` of :func:`_class_loss_and_dl` over every device's classes.

    Focal and Poly-1 terms: one row sum whose gradient is written in closed form
    (:func:`jaxloss._logsumexp.log_prob_sum`). Cross-entropy's terms (probability targets,
    smoothing) are cheap enough for :func:`jaxloss._logsumexp.row_sum`'s one fused reduction
    each way, which measured faster for them than the row-blocked closed form.
    """
    if not _has_class_terms(names, int_gamma):
        f = functools.partial(_class_loss, names, smooth_only, int_gamma)
        out = _logsumexp.row_sum(f, axis, x, lse, *vals, row_coefficients=True)
        return out if shard is None else jax.lax.psum(out, shard[1])
    # The row's largest log-probability and its accurate 1 - p (see _one_minus_p); the local
    # maximum under a split class axis (the top class is on some device's block).
    l_top = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True) - lse)
    names, vals = names + ("l_top", "top"), (*vals, l_top, -jnp.expm1(l_top))
    fd = functools.partial(_class_loss_and_dl, names, smooth_only, int_gamma)
    out = _logsumexp.log_prob_sum(fd, axis, x, lse, *vals)
    return out if shard is None else jax.lax.psum(out, shard[1])


def _lse(x, axis, shard):
    """The per-row logsumexp over every device's classes (``jax.nn.logsumexp``: its
    autodiff fuses into one pass each way)."""
    lse = jax.nn.logsumexp(x, axis=axis)
    return lse if shard is None else global_logsumexp(lse, shard[1])


def _lse_remat(x, axis, shard):
    """:func:`_lse` whose backward recomputes the softmax (for the class sums, whose own
    backward pass recomputes it too: no ``exp(x - max)`` is kept between the passes)."""
    lse = _logsumexp.logsumexp(x, axis)
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
      int_gamma: ``gamma`` as a Python int when it is a concrete integer in [0, 8] (the
        class sums use an integer power then), else None.
      poly: the Poly-1 coefficient, else None.
      num_classes: the global class count C.
      shard: ``(offset, class_axis_name)`` when the class axis is split, else None.
    """

    w: jax.Array | None
    v: jax.Array | None
    eps: jax.Array | None
    z: jax.Array | None
    gamma: jax.Array | None
    int_gamma: int | None
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
    int_gamma = None
    if gamma is not None:
        _checks.check_scalar(fn, "gamma", gamma)
        _checks.check_nonnegative(fn, "gamma", gamma)
        g = _checks.concrete_float(gamma)
        if g is not None and g.is_integer() and 0 <= g <= 8:
            int_gamma = int(g)
        gamma = jnp.asarray(gamma, dtype)

    def terms(shape):
        v = _inputs.element_weights(fn, weights, shape, dtype)
        return _Terms(w, v, eps, z, gamma, int_gamma, poly, num_classes, shard)

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


def _closed_form_smoothing(gamma, poly, w) -> bool:
    """Whether integer targets' smoothing sum is linear in the log-probabilities once
    summed (cross-entropy's; Poly-1's without class weights, :func:`_poly_smoothing_term`):
    then it needs no ``exp`` per class, and the logsumexp keeps its ``exp(x - max)`` for the
    backward pass as plain cross-entropy's does."""
    return gamma is None and (poly is None or w is None)


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
        # With a focal or Poly-1 smoothing sum, whose backward pass recomputes the softmax
        # anyway, the logsumexp keeps no exp(x - max) for its own.
        remat = eps is not None and not _closed_form_smoothing(gamma, poly, w)
        lse = None if log_probs else (_lse_remat if remat else _lse)(x, axis, None)
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
        if _closed_form_smoothing(gamma, poly, w):
            # sum_c w_c (lse - x_c) on the support: one row sum, whose coefficient in the
            # logsumexp (the support's weight) comes from the same pass; Poly-1's sum_c (1 -
            # p_c) over the support is its size less 1.
            if poly is None:
                wv = jnp.ones((x.shape[axis],), x.dtype) if w_cls is None else w_cls
                f, arg = _smoothing_term, along(wv, x.ndim, axis)
            else:
                f, arg = _poly_smoothing_term, poly
            smooth = _logsumexp.row_sum(f, axis, x, lse_b, arg)
            if shard is not None:
                smooth = jax.lax.psum(smooth, shard[1])
            if poly is not None:
                smooth = smooth - poly
        else:  # focal, Poly-1: per-class terms, one fused pass each way
            g = None if o.int_gamma is not None else gamma
            present = [
                (n, v) for n, v in (("w", w_cls), ("gamma", g), ("poly", poly)) if v is not None
            ]
            names = tuple(n for n, _ in present)
            vals = [along(v, x.ndim, axis) if n == "w" else v for n, v in present]
            smooth = _class_sum(axis, shard, names, True, o.int_gamma, x, lse_b, *vals)
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
    w = local_classes(o.w, shard, x.shape[axis])
    present = [
        (n, v) for n, v in (
            ("w", None if w is None else along(w, x.ndim, axis)),
            ("eps", eps),
            ("inv_c", None if eps is None else jnp.asarray(1.0 / o.num_classes, x.dtype)),
            ("gamma", None if o.int_gamma is not None else o.gamma),
            ("poly", o.poly),
        ) if v is not None
    ]
    names = ("q",) + tuple(n for n, _ in present)
    vals = [q] + [v for _, v in present]
    lse = (_lse_remat if _has_class_terms(names, o.int_gamma) else _lse)(x, axis, shard)
    per = _class_sum(
        axis, shard, names, False, o.int_gamma, x, jnp.expand_dims(lse, axis), *vals
    )
    if o.z is not None:
        # Weighted by the target's effective class weight, sum_c w_c p_c (w_y when one-hot).
        z_term = o.z * jnp.square(lse)
        if w is not None:
            w_p = jnp.sum(along(w, x.ndim, axis) * q, axis=axis)
            z_term = (w_p if shard is None else jax.lax.psum(w_p, shard[1])) * z_term
        per = per + z_term
    return reduce_masked(per, mask, config.reduction, config.axis_name, weights=o.v)
