"""Binary and multi-label losses: BCE on probabilities and with logits, the sigmoid focal loss
(torchvision, kornia) and the asymmetric loss (Ridnik et al. 2021)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._reduction import reduce_loss, reduce_masked


def _prepare_binary(
    fn: str, logits: ArrayLike, targets: ArrayLike, reduction: str, where,
    names: tuple[str, str] = ("logits", "targets"),
):
    """Checks and converts ``(logits, targets, where)``; ``names`` are the arguments' names
    in ``fn``'s signature (PyTorch's ``input``/``target`` for ``binary_cross_entropy``)."""
    x_name, y_name = names
    given = _inputs.tensor(x_name, logits)
    given_targets = _inputs.tensor(y_name, targets)
    _checks.check_reduction(fn, reduction)
    (x, *_), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=None)
    targets = given_targets.value
    _checks.check_numeric(fn, y_name, targets, given=given_targets.given)
    _checks.check_same_shape(fn, x_name, x.shape, y_name, targets.shape)
    mask = _inputs.mask(fn, where, x.shape)
    y = targets.astype(dtype)
    _checks.check_unit_interval_values(
        fn, y_name, y, mask, expected="in [0, 1]",
        hint=" For class indices use jaxloss.cross_entropy.",
    )
    return x, y, mask


def _xlogy0(a: jax.Array, log_p: jax.Array) -> jax.Array:
    """``a * log_p`` with ``0 * (-inf) = 0`` (in tangent rules; a select)."""
    return jnp.where(a == 0, 0.0, a * log_p)


# Speed (issue 12, item 6). Each logits loss below is one elementwise function with a custom
# JVP in closed form, built twice by `_primitives`: per element (for "none" and `where`), and
# summed (for "mean"/"sum"), so that reverse mode receives a *scalar* cotangent. Its tangent
# map is rematerialised (`jax.checkpoint`): the backward pass is one elementwise kernel that
# reads the inputs and writes the gradient. Three XLA:CPU facts shape the code (measured
# with `benchmarks.timing.temp_bytes`):
#
# * the reduction fuses arithmetic, min/max/abs/sign, division and exp/log/log1p/pow, but
#   not a select (`jnp.where`), a comparison, a clamp or a dtype conversion: each of those
#   in a forward value materialises a logits-sized array, so the forward values avoid them;
# * an array that enters the rematerialised tangent map crosses an optimisation barrier and
#   is materialised. With an elementwise primitive the cotangent (the broadcast of the mean's
#   scalar) would, hence the summed primitive for "mean"/"sum"; otherwise only the caller's
#   arrays enter (logits, targets, the weights in the shape given), and broadcasts, label
#   smoothing and alpha_t are computed on each side;
# * a node shared by the forward reduction and the backward (even a broadcast constant, which
#   CSE merges) is materialised: the forward's constants are built from a 1 computed from the
#   logits (`_runtime_one`).
#
# `test_value_and_grad_keeps_no_logits_sized_temporary` checks the outcome for several option
# sets; it is what catches a new constant or select in a forward value.
#
# What each operation costs (issue 12, item 6, second pass; BENCHMARKS.md has the figures): the
# fused reduction runs on one core at about one arithmetic operation per ms per 8M elements,
# an exp/log/log1p about three, `sign` about thirty (so no select-free tricks with it); the
# elementwise backward kernel is split over the cores and cheap per operation, except XLA's
# log1p (~90 instructions per vector, as much as the rest of the focal kernel): the tangent
# rules take it from a polynomial (`_log1p_unit`), the forward values keep XLA's.


def _finite(x: jax.Array, one=1.0) -> jax.Array:
    """``x`` with ``+-inf`` replaced by the largest finite float (finite values unchanged).

    The forward values are then free of ``0 * inf``: an infinite logit with its matching
    target costs exactly 0, with the other target the largest float (PyTorch 2.13: NaN, but
    inf for ``+inf`` with target 0). Two operations where a guarded product cost twenty in
    the fused reduction."""
    big = float(jnp.finfo(x.dtype).max) * one
    return jnp.minimum(jnp.maximum(x, -big), big)


# log1p(e) / e on [0, 1]: degree-9 Chebyshev interpolant in the power basis, lowest first
# (numpy.polynomial.chebyshev.Chebyshev.interpolate(f, 9, domain=[0, 1]), converted).
_LOG1P_OVER_X = (
    0.9999999946562934, -0.49999892648080163, 0.33329710499262943, -0.2495161626572586,
    0.19663274269437397, -0.15269667104466478, 0.10543623839523661, -0.056373613209643736,
    0.01954252743780671, -0.0031760570527694654,
)


def _log1p_unit(e: jax.Array) -> jax.Array:
    """``log1p(e)`` for ``e`` in [0, 1]: ``jnp.log1p`` in float64; in float32 ``e P(e)`` by
    Horner (within 2.4 ulp of the exact value on [1e-30, 1], XLA's log1p: 3.2): inside the
    elementwise backward kernels XLA:CPU's log1p costs about as much as everything else."""
    if e.dtype != jnp.float32:
        return jnp.log1p(e)
    acc = jnp.full_like(e, _LOG1P_OVER_X[-1])
    for c in _LOG1P_OVER_X[-2::-1]:
        acc = acc * e + c
    return e * acc


def _sigmoid_parts(x: jax.Array):
    """``(softplus(-|x|), σ(x), σ(-x))`` from one ``exp``, both tails accurate (for the
    tangent rules, where a select costs nothing)."""
    e = jnp.exp(-jnp.abs(x))
    r = 1.0 / (1.0 + e)
    nonneg = x >= 0
    return _log1p_unit(e), jnp.where(nonneg, r, e * r), jnp.where(nonneg, e * r, r)


def _full(v: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.broadcast_to(v, x.shape)


def _runtime_one(x: jax.Array) -> jax.Array:
    """A scalar 1 that XLA cannot constant-fold (it is computed from ``x``'s first element,
    whatever its value; an optimisation barrier on a constant is removed on CPU)."""
    if x.size == 0:
        return jnp.ones((), x.dtype)
    first = jax.lax.index_in_dim(x.reshape(-1), 0, keepdims=False)
    return jnp.nan_to_num(first * 0.0, nan=0.0, posinf=0.0, neginf=0.0) + 1.0


def _masked_args(args: tuple, fills: tuple, where) -> tuple:
    """``args`` with each masked element's value replaced by its ``fills`` entry (None: a
    scalar hyperparameter or an absent weight's placeholder, left alone), so that a NaN or
    ``+-inf`` there reaches no gradient (:func:`_inputs.masked`). ``where`` (None: ``args``
    unchanged, an unmasked loss pays nothing) is taken in the caller's shape; a weight keeps
    the broadcast of its shape and ``where``'s (the primitives broadcast it to the logits)."""
    if where is None:
        return args
    keep = jnp.asarray(where)
    return tuple(
        a if f is None else _inputs.masked(a, keep, f) for a, f in zip(args, fills, strict=True)
    )


def _primitives(value, tangent, fills):
    """``(elementwise, total)`` custom-JVP functions of ``(cfg, *args)`` from ``value(cfg,
    *args)`` (select-free) and ``tangent(cfg, args, tangents)`` (its JVP in closed form;
    tangents that are symbolic zeros arrive as None). ``cfg`` is static (a hashable tuple);
    ``total`` is ``sum(value)``. ``fills(cfg)`` gives each arg's safe value at a masked
    element (:func:`_masked_args`)."""
    remat = functools.partial(jax.checkpoint, static_argnums=(0,))

    def nonzero(tangents):
        return tuple(None if isinstance(t, SymbolicZero) else t for t in tangents)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
    def elementwise(cfg, *args):
        return value(cfg, *args)

    def kept(mask, per):
        return per if mask is None else jnp.where(jnp.broadcast_to(mask, per.shape), per, 0.0)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
    def total(cfg, mask, *args):
        # The forward's constants (broadcasts of 1, 0.5, 0) are built from a 1 that XLA cannot
        # fold (`one`), so that they are not merged with the backward's: a broadcast with two
        # users is materialised, not fused into the reduction. `mask` (the caller's `where`,
        # in its own shape, or None) selects the kept elements; its select is not fused, so a
        # masked forward keeps one logits-sized array.
        return jnp.sum(kept(mask, value(cfg, *args, one=_runtime_one(args[0]))))

    tangent_map = remat(tangent)
    # A masked element's args are replaced by safe values (`fills`) inside the tangent map,
    # where the selects fuse into the backward kernel: its coefficients are then finite, and
    # the select after them gives an exact 0 (not 0 * nan) for a NaN or inf there. The
    # forward needs no fill: `kept` selects its value, and nothing differentiates it.
    total_tangent = remat(
        lambda cfg, mask, args, tangents: jnp.sum(
            kept(mask, tangent(cfg, _masked_args(args, fills(cfg), mask), tangents))
        )
    )

    def elementwise_jvp(cfg, primals, tangents):
        return elementwise(cfg, *primals), tangent_map(cfg, primals, nonzero(tangents))

    def total_jvp(cfg, primals, tangents):
        mask, *args = primals
        return total(cfg, mask, *args), total_tangent(cfg, mask, args, nonzero(tangents[1:]))

    elementwise.defjvp(elementwise_jvp, symbolic_zeros=True)
    total.defjvp(total_jvp, symbolic_zeros=True)
    return elementwise, total


# --- BCE with logits: args (x, y, pos_weight, weights, label_smoothing), cfg the flags
# (has_pos_weight, has_weights, has_smoothing); an absent argument is a 0-d placeholder.


def _bce_targets(cfg, x, y, eps, one=1.0):
    return (one - eps) * y + (0.5 * one) * eps if cfg[2] else y


def _bce_value(cfg, x, y, pos_weight, weights, eps, one=1.0):
    """``w [pos_weight y softplus(-x) + (1 - y) softplus(x)]`` with
    ``softplus(+-x) = L + max(+-x, 0)``, ``L = log1p(exp(-|x|))`` (one ``exp``, one
    ``log1p``): ``L + max(x, 0) - x y`` without ``pos_weight``. Every operation counts in the
    fused reduction, so this is the shortest exact form."""
    y = _bce_targets(cfg, x, y, eps, one)
    x = _finite(x, one)
    zero = 0.0 * one
    big_l = jnp.log1p(jnp.exp(-jnp.abs(x)))
    if cfg[0]:
        pos = _full(pos_weight, x) * y
        neg = one - y
        per = big_l * (pos + neg) + pos * jnp.maximum(-x, zero) + neg * jnp.maximum(x, zero)
    else:
        per = big_l + jnp.maximum(x, zero) - x * y
    return _full(weights, x) * per if cfg[1] else per


def _bce_tangent(cfg, args, tangents):
    """PyTorch's derivatives: ``d/dx = w [(1 - y) σ(x) - pos_weight y σ(-x)]``,
    ``d/dy = w [log σ(-x) - pos_weight log σ(x)]`` (at ``y`` = 0 and 1 too), and those of the
    smoothing map ``y -> (1 - ε) y + ε / 2`` and of the weights."""
    x, y0, pos_weight, weights, eps = args
    dx, dy, dpw, dw, deps = tangents
    y = _bce_targets(cfg, x, y0, eps)
    pw = _full(pos_weight, x) if cfg[0] else jnp.ones((), x.dtype)
    w = _full(weights, x) if cfg[1] else None
    d = jnp.zeros_like(x)
    if dx is not None:
        _, p, q = _sigmoid_parts(x)
        d = d + ((1.0 - y) * p - pw * y * q) * dx
    dys = None
    if dy is not None:
        dys = (1.0 - eps) * dy if cfg[2] else dy
    if deps is not None:
        dys = (0.5 - y0) * deps + (0.0 if dys is None else dys)
    if dys is not None:
        d = d + (jax.nn.log_sigmoid(-x) - _xlogy0(pw, jax.nn.log_sigmoid(x))) * dys
    if dpw is not None:
        d = d - _xlogy0(y, jax.nn.log_sigmoid(x)) * _full(dpw, x)
    if w is not None:
        d = w * d
    if dw is not None:
        d = d + _bce_value(cfg[:1] + (False,) + cfg[2:], x, y0, pos_weight, weights, eps) * _full(
            dw, x
        )
    return d


def _bce_fills(cfg) -> tuple:
    """:func:`_masked_args`'s fills of BCE's args: logits and targets 0, the weights that are
    given 1."""
    return (0.0, 0.0, 1.0 if cfg[0] else None, 1.0 if cfg[1] else None, None)


_bce, _bce_total = _primitives(_bce_value, _bce_tangent, _bce_fills)
_BCE = (_bce, _bce_total, _bce_fills)


# --- The focal family: torchvision's sigmoid focal loss (with kornia's pos_weight and class
# weights) and Ridnik et al.'s asymmetric loss are one elementwise function,
#
#   l = c alpha_t (1 - p_t)^g_y [pos_weight y (-log p) + (1 - y) (-log(1 - p_m))],
#   p = σ(x),  p_m = max(p - m, 0),  1 - p_t = y (1 - p) + (1 - y) p_m,
#   g_y = gamma_pos y + gamma_neg (1 - y),  alpha_t = alpha y + (1 - alpha)(1 - y),
#
# with m = 0 and gamma_pos = gamma_neg = gamma for the focal loss; c is one multiplier, the
# product of kornia's class weights and the per-element weights (issue 12, item 5), each given
# in its own shape and broadcast inside. args: (x, y, pos_weight, class_weights, weights, alpha,
# gamma_pos, gamma_neg, clip); cfg: (clipped, has_pos_weight, has_class_weights, has_alpha,
# integer gamma, or (integer gamma_pos, integer gamma_neg) for 0/1 targets, or None,
# has_weights).


# cfg[0] (clipped) for a concrete clip m > 0: log(σ(-x) + m) needs no floor at log σ(-x),
# which saves four operations of the forward's fused reduction (9% of its time at
# (8192, 1000)); the floor is for a traced m, which may be 0.
_CLIP_SAFE = 2


def _focal_terms(cfg, x, y, pos_weight, clip):
    """``(ce, s, p, q, log(1 - p_m), -log p)``: the cross-entropy factor, ``s = 1 - p_t``,
    σ(x), σ(-x), each accurate in both tails (for the tangent rule); infinite logits count
    as the largest float, as in the forward value."""
    x = _finite(x)
    big_l, p, q = _sigmoid_parts(x)
    neg_log_p = jnp.maximum(-x, 0.0) + big_l
    log_q = -(jnp.maximum(x, 0.0) + big_l)
    if cfg[0]:
        # log(1 - p_m) = log(min(σ(-x) + m, 1)), and at least log σ(-x): exact where σ(-x)
        # underflows with m = 0 (a traced clip of 0) too.
        log_qm = jnp.log(q + clip)
        if cfg[0] != _CLIP_SAFE:
            log_qm = jnp.maximum(log_qm, log_q)
        log_q = jnp.minimum(log_qm, 0.0)
        p_m = jnp.maximum(p - clip, 0.0)
    else:
        p_m = p
    if not cfg[0] and not cfg[1]:  # the forward's short forms: fewer operations per element
        return big_l + jnp.maximum(x, 0.0) - x * y, p + y * (q - p), p, q, log_q, neg_log_p
    pos = _full(pos_weight, x) * y if cfg[1] else y
    ce = pos * neg_log_p - (1.0 - y) * log_q
    return ce, y * q + (1.0 - y) * p_m, p, q, log_q, neg_log_p


def _focal_multiplier(cfg, x, class_weights, weights):
    """``class_weights * weights``, the one elementwise multiplier (None when neither is
    given)."""
    if cfg[2] and cfg[5]:
        return _full(class_weights, x) * _full(weights, x)
    if cfg[2]:
        return _full(class_weights, x)
    return _full(weights, x) if cfg[5] else None


def _focal_scale(cfg, x, y, class_weights, weights, alpha, one=1.0):
    """``class_weights * weights * alpha_t`` (None when none is given)."""
    scale = _focal_multiplier(cfg, x, class_weights, weights)
    if cfg[3]:
        alpha_t = (one - alpha) + ((2.0 * one) * alpha - one) * y  # alpha y + (1-alpha)(1-y)
        scale = alpha_t if scale is None else scale * alpha_t
    return scale


def _focal_value(
    cfg, x, y, pos_weight, class_weights, weights, alpha, gamma_pos, gamma_neg, clip, one=1.0
):
    """The forward value in few fused operations: ``p = 1 / (1 + exp(-x))`` and
    ``1 - p_t = p + y (1 - 2 p)`` (the same number as the tangent rule's two-tailed form up to
    the rounding of ``1 - p``, which only touches terms below ``ulp(1)^gamma * ce``), and the
    factor by ``integer_pow`` for a concrete integer gamma, else ``exp(g log(1 - p_t))``
    (XLA:CPU's ``pow`` is 10x an ``exp``)."""
    clipped, has_pw, _, _, n, _ = cfg
    x = _finite(x, one)
    zero = 0.0 * one
    big_l = jnp.log1p(jnp.exp(-jnp.abs(x)))
    if clipped:
        # σ(-x) = exp(-x) σ(x), accurate where 1 - σ(x) would round to 0. exp(-x) is capped
        # at exp(80) (exp(700) in float64), where σ(x) = 1.8e-35 is still a normal float:
        # below x = -80, σ(x) is taken as 1.8e-35 (it only enters max(σ(x) - m, 0)).
        cap = (80.0 if x.dtype == jnp.float32 else 700.0) * one
        en = jnp.exp(jnp.minimum(-x, cap))
        p = one / (one + en)
        q = en * p
        # log(1 - p_m) = log(min(σ(-x) + m, 1)); for a traced m (which may be 0), at least
        # log σ(-x), exact where σ(-x) underflows.
        log_q = jnp.log(q + clip)
        if clipped != _CLIP_SAFE:
            log_q = jnp.maximum(log_q, -(big_l + jnp.maximum(x, zero)))
        log_q = jnp.minimum(log_q, zero)
        pos = _full(pos_weight, x) * y if has_pw else y
        ce = pos * (big_l + jnp.maximum(-x, zero)) - (one - y) * log_q
        s = y * q + (one - y) * jnp.maximum(p - clip, zero)
    else:
        if has_pw:
            pos = _full(pos_weight, x) * y
            neg = one - y
            ce = big_l * (pos + neg) + pos * jnp.maximum(-x, zero) + neg * jnp.maximum(x, zero)
        else:
            ce = big_l + jnp.maximum(x, zero) - x * y
        p = one / (one + jnp.exp(-x))  # written out: jax.nn.sigmoid's constant 1 is XLA's
        s = p + y * (one - (2.0 * one) * p)
    if isinstance(n, tuple):  # 0/1 targets, concrete integer gammas: y s^g+ + (1 - y) s^g-
        pos_part = y if n[0] == 0 else y * jax.lax.integer_pow(s, n[0])
        neg_part = one - y if n[1] == 0 else (one - y) * jax.lax.integer_pow(s, n[1])
        per = (pos_part + neg_part) * ce
    elif n is not None:  # a concrete integer gamma: multiplications only
        per = jax.lax.integer_pow(s, n) * ce if n else ce
    else:
        # s^g = exp(g log s); log 0 = -inf is taken as the most negative float, so that
        # 0^0 = 1 and 0^g = 0 (g > 0) without a select (exact: only s = 0 is moved).
        g = gamma_neg * one + ((gamma_pos - gamma_neg) * one) * y  # scalars via `one` too
        big = float(jnp.finfo(x.dtype).max) * one
        per = jnp.exp(g * jnp.maximum(jnp.log(s), -big)) * ce
    scale = _focal_scale(cfg, x, y, class_weights, weights, alpha, one)
    return per if scale is None else scale * per


def _focal_tangent(cfg, args, tangents):
    """The JVP of :func:`_focal_value` in closed form (each term elementwise).

    With ``w = s^g`` (``s = 1 - p_t``) and ``l = w ce``: ``dl = dw ce + w dce`` and
    ``dw = w (g ds / s + dg log s)``. Where ``s = 0`` (a saturated logit with its target, or a
    clipped negative) ``w`` is 0 (or 1 for ``g = 0``) and ``dw`` is taken as 0, its one-sided
    value for ``g > 1``.
    """
    clipped = cfg[0]
    x, y, pos_weight, class_weights, weights, alpha, gamma_pos, gamma_neg, clip = args
    dx, dy, dpw, dcw, dw, dalpha, dgp, dgn, dm = tangents
    ce, s, p, q, log_q, neg_log_p = _focal_terms(cfg, x, y, pos_weight, clip)
    pw = _full(pos_weight, x) if cfg[1] else jnp.ones((), x.dtype)
    n = cfg[4]
    if isinstance(n, tuple):
        # 0/1 targets: w = y s^g+ + (1 - y) s^g-, the same number as s^g_y, and dw/ds
        # likewise; log s enters only the targets' tangent (the exponent's derivative).
        pos = s > 0
        log_s = jnp.where(pos, jnp.log(jnp.where(pos, s, 1.0)), 0.0)

        def power(k):
            return jax.lax.integer_pow(s, k) if k else jnp.ones_like(s)

        def slope(k):
            return k * jax.lax.integer_pow(s, k - 1) if k else jnp.zeros_like(s)

        w = y * power(n[0]) + (1.0 - y) * power(n[1])
        g_w_over_s = y * slope(n[0]) + (1.0 - y) * slope(n[1])
    elif n is None:
        g = gamma_neg + (gamma_pos - gamma_neg) * y
        pos = s > 0
        log_s = jnp.where(pos, jnp.log(jnp.where(pos, s, 1.0)), 0.0)  # w log s = 0 at s = 0
        w = jnp.where(pos, jnp.exp(g * log_s), jnp.where(g == 0, 1.0, 0.0))  # 0^0 = 1
        g_w_over_s = g * jnp.where(pos, w / jnp.where(pos, s, 1.0), 0.0)
    else:  # w = s^n, g w / s = n s^(n - 1); a concrete gamma has no tangent (no log s)
        log_s = None
        w = jax.lax.integer_pow(s, n) if n else jnp.ones_like(s)
        g_w_over_s = n * jax.lax.integer_pow(s, n - 1) if n else jnp.zeros_like(s)
    if clipped:
        above = p > clip
        q_m = q + clip
        ok = above & (q_m > 0)
        q_m = jnp.where(ok, q_m, 1.0)

    # Each tangent's coefficient is a primal array: dl = sum_k (dw_k ce + w dce_k) dt_k, with
    # dw_k = w (g ds_k / s + dg_k log s).
    def coefficient(d_ce, d_s, d_g):
        # d_g is the scalar `zero` for the logits' tangent: no log s term (XLA keeps a
        # product by a traced 0, two operations per element of the backward kernel).
        if isinstance(n, int) and n >= 1 and d_g is zero:  # s^(n-1) (n d_s ce + s d_ce)
            inner = n * d_s * ce + s * d_ce
            return inner if n == 1 else jax.lax.integer_pow(s, n - 1) * inner
        d_w = g_w_over_s * d_s
        if log_s is not None and d_g is not zero:
            d_w = d_w + w * log_s * d_g
        return d_w * ce + w * d_ce

    out = jnp.zeros_like(x)
    zero = jnp.zeros((), x.dtype)
    if dx is not None:
        # d(-log p) = -q dx; d log(1 - p_m) = -p q / (q + m) dx above the clip, else 0.
        if clipped:
            d_log_q = jnp.where(ok, -p * q / q_m, 0.0)
            d_ce = -(pw * y * q) - (1.0 - y) * d_log_q
            d_s = jnp.where(above, p * q * (1.0 - 2.0 * y), -y * p * q)
        else:  # the same with m = 0, shortened: (1 - y) p - y q = p - y
            d_ce = (1.0 - y) * p - pw * y * q if cfg[1] else p - y
            d_s = p * q * (1.0 - 2.0 * y)
        out = out + coefficient(d_ce, d_s, zero) * dx
    if dy is not None:
        p_m = jnp.maximum(p - clip, 0.0) if clipped else p
        d_ce = pw * neg_log_p + log_q
        out = out + coefficient(d_ce, q - p_m, gamma_pos - gamma_neg) * dy
    if dpw is not None:
        out = out + w * y * neg_log_p * _full(dpw, x)
    if dgp is not None:
        out = out + coefficient(zero, zero, y) * dgp
    if dgn is not None:
        out = out + coefficient(zero, zero, 1.0 - y) * dgn
    if dm is not None:  # only with clipped
        d_ce = -jnp.where(ok, (1.0 - y) / q_m, 0.0)
        out = out + coefficient(d_ce, -jnp.where(above, 1.0 - y, 0.0), zero) * dm
    scale = _focal_scale(cfg, x, y, class_weights, weights, alpha)
    if scale is not None:
        out = scale * out
    if dy is not None or dcw is not None or dw is not None or dalpha is not None:
        # With c = class_weights * weights: d(c alpha_t) = c [(2 alpha - 1) dy
        # + (2 y - 1) dalpha] + alpha_t (weights dcw + class_weights dw), each coefficient
        # times the unscaled loss.
        focal = w * ce
        c = _focal_multiplier(cfg, x, class_weights, weights)
        c = jnp.ones((), x.dtype) if c is None else c
        if cfg[3] and dy is not None:
            out = out + c * (2.0 * alpha - 1.0) * focal * dy
        if cfg[3] and dalpha is not None:
            out = out + c * (2.0 * y - 1.0) * focal * dalpha
        if dcw is not None or dw is not None:
            alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y) if cfg[3] else jnp.ones_like(x)
            dc = jnp.zeros_like(x)
            if dcw is not None:
                dc = dc + (_full(weights, x) * _full(dcw, x) if cfg[5] else _full(dcw, x))
            if dw is not None:
                dc = dc + (_full(class_weights, x) * _full(dw, x) if cfg[2] else _full(dw, x))
            out = out + alpha_t * focal * dc
    return out


def _focal_fills(cfg) -> tuple:
    """:func:`_masked_args`'s fills of the focal family's args: logits and targets 0, the
    weights that are given 1."""
    one = (1.0 if cfg[1] else None, 1.0 if cfg[2] else None, 1.0 if cfg[5] else None)
    return (0.0, 0.0) + one + (None,) * 4


_focal, _focal_total = _primitives(_focal_value, _focal_tangent, _focal_fills)
_FOCAL = (_focal, _focal_total, _focal_fills)


# PyTorch's floor on x (1 - x) in the BCE input gradient: the float 1e-12 of ATen's Loss.cpp
# (``EPSILON``), which is 9.99999996e-13 also when the math runs in float64.
_BCE_GRAD_FLOOR = float(np.float32(1e-12))


def _clamped_logs(p: jax.Array) -> tuple[jax.Array, jax.Array]:
    """PyTorch's ``max(log p, -100)`` and ``max(log1p(-p), -100)`` (NaN outside [0, 1])."""
    return jnp.maximum(jnp.log(p), -100.0), jnp.maximum(jnp.log1p(-p), -100.0)


@jax.custom_jvp
def _bce_probs(p: jax.Array, y: jax.Array) -> jax.Array:
    """Elementwise ``-[y max(log p, -100) + (1 - y) max(log(1 - p), -100)]``, PyTorch's
    ``binary_cross_entropy`` kernel, with PyTorch's derivatives:

    * ``d/dp = (p - y) / max(p (1 - p), 1e-12)``, not the derivative of the clamped logs
      (which is 0 where a log is clamped): finite at ``p`` in {0, 1} and the same as PyTorch's;
    * ``d/dy = max(log(1 - p), -100) - max(log p, -100)``, the derivative of the value
      computed. PyTorch's is the unclamped ``-logit(p)``, the same wherever no log is clamped
      (``p`` in [3.8e-44, 1 - 3.8e-44]) and infinite at ``p`` in {0, 1}; this one stays finite.

    The tangent map is rematerialised (as in :func:`_bce`), so reverse mode keeps only the
    inputs.
    """
    log_p, log_1mp = _clamped_logs(p)
    return (y - 1.0) * log_1mp - y * log_p


@jax.checkpoint
def _bce_probs_tangent(p, y, dp, dy):
    d = jnp.zeros_like(p)
    if dp is not None:
        floor = jnp.asarray(_BCE_GRAD_FLOOR, p.dtype)
        d = d + (p - y) / jnp.maximum(p * (1.0 - p), floor) * dp
    if dy is not None:
        log_p, log_1mp = _clamped_logs(p)
        d = d + (log_1mp - log_p) * dy
    return d


def _bce_probs_jvp(primals, tangents):
    p, y = primals
    dp, dy = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    return _bce_probs(p, y), _bce_probs_tangent(p, y, dp, dy)


_bce_probs.defjvp(_bce_probs_jvp, symbolic_zeros=True)


@_inputs.public
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Binary cross-entropy of probabilities, as PyTorch's ``F.binary_cross_entropy``.

    .. math::

       l = -w \big[\, y \max(\log p, -100) + (1 - y) \max(\log(1 - p), -100) \big]

    with ``p`` the predicted probability. The logs are clamped at -100 as in PyTorch, so a
    confident wrong prediction (``p = 0`` with ``y = 1``) costs 100, not ``inf``; the
    gradient with respect to ``p`` is PyTorch's ``w (p - y) / max(p (1 - p), 1e-12)``, finite
    at 0 and 1. The gradient with respect to ``y`` is the derivative of the value computed,
    ``w [max(log(1 - p), -100) - max(log p, -100)]``: PyTorch's unclamped ``-w logit(p)``
    wherever no log is clamped, and finite (where PyTorch's is infinite) at ``p`` in {0, 1}.
    ``"mean"`` is the plain mean over the (kept) elements, not divided by a weight sum,
    exactly as PyTorch.

    Prefer :func:`binary_cross_entropy_with_logits` where the probabilities come from a
    sigmoid: it works in log space, without the clamp.

    Args:
      input: float array of any shape, probabilities in [0, 1]. Values outside give NaN for
        that element (PyTorch raises; :func:`jaxloss.checked` raises naming the first one).
      target: same shape as ``input``, values in [0, 1] (soft labels allowed; checked under
        :func:`jaxloss.checked`, as PyTorch checks them). Integer or boolean 0/1 targets are
        accepted.
      weights: optional per-element rescaling weight (PyTorch's ``weight=``), broadcastable
        to ``input`` (traceable).
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent
        (0 loss, excluded from the mean).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 input; bf16/f16 input is
      computed in float32).

    Raises:
      ValueError: ``target`` of another shape, ``weights`` or ``where`` that do not broadcast,
        an unknown ``reduction``; under :func:`jaxloss.checked`, ``input`` or ``target``
        outside [0, 1].
      TypeError: non-float ``input``, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[0.9, 0.2, 0.6]])
      >>> y = jnp.array([[1.0, 0.0, 1.0]])
      >>> print(f"{jaxloss.binary_cross_entropy(p, y):.4f}")
      0.2798
      >>> print(f"{jaxloss.binary_cross_entropy(jnp.array([0.0]), jnp.array([1.0])):.1f}")
      100.0

    References:
      PyTorch ``torch.nn.functional.binary_cross_entropy`` (ATen ``Loss.cpp``).
    """
    fn = "binary_cross_entropy"
    p, y, mask = _prepare_binary(fn, input, target, reduction, where, names=("input", "target"))
    _checks.check_unit_interval_values(
        fn, "input", p, mask, expected="a probability in [0, 1]",
        hint=" For logits use jaxloss.binary_cross_entropy_with_logits.",
    )
    w = _checks.as_weights(fn, weights, p.shape, p.dtype)
    p, y = _inputs.masked(p, mask, 0.5), _inputs.masked(y, mask, 0.5)
    if w is not None:
        w = _inputs.masked(w, mask, 1.0)
    per = _bce_probs(p, y)
    return reduce_masked(per, mask, reduction, axis_name, weights=w)


def _weight_arg(fn: str, name: str, value: ArrayLike | None, x: jax.Array) -> jax.Array:
    """A traceable weight broadcastable to ``x`` (NumPy rules from the trailing axis), in
    ``x``'s dtype and its own shape (it is broadcast inside the loss); None becomes a 0-d
    placeholder."""
    if value is None:
        return jnp.zeros((), x.dtype)
    value = jnp.asarray(value)
    _checks.check_weights_dtype(fn, name, value)
    _checks.check_broadcastable(fn, name, value.shape, x.shape)
    return value.astype(x.dtype)


def _apply(primitives, cfg, args, mask, reduction: str, axis_name, where) -> jax.Array:
    """The loss of ``primitives`` (from :func:`_primitives`) reduced: the summed primitive
    for "mean"/"sum" (one fused pass each way; ``where`` enters it in the caller's shape),
    the elementwise one for "none". A masked element's args are replaced by ``fills`` before
    they reach a gradient: inside the summed primitive's tangent map, before the elementwise
    one."""
    elementwise, total, fills = primitives
    x = args[0]
    if reduction == "none":  # the loss is materialised anyway: fill the args before
        args = _masked_args(args, fills(cfg), where)
        return reduce_masked(elementwise(cfg, *args), mask, reduction, axis_name)
    if mask is None:
        return reduce_loss(total(cfg, None, *args), jnp.full((), x.size, x.dtype), reduction,
                           axis_name)
    where = jnp.asarray(where)
    # Each element of `where` stands for x.size / where.size elements of the loss.
    count = jnp.sum(where, dtype=x.dtype) * (x.size // max(where.size, 1))
    return reduce_loss(total(cfg, where, *args), count, reduction, axis_name)


@_inputs.public
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    label_smoothing: ArrayLike = 0.0,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Sigmoid binary cross-entropy from logits, as PyTorch's
    ``F.binary_cross_entropy_with_logits``, with Keras's label smoothing.

    .. math::

       l = -w \big[\, p_w\, \tilde y \log\sigma(x) + (1 - \tilde y) \log\sigma(-x) \big],
       \qquad \tilde y = (1 - \varepsilon)\, y + \varepsilon / 2

    computed in log space (``softplus``, no ``log(sigmoid(x) + eps)``); ``ε`` is
    ``label_smoothing``. ``"mean"`` is the plain mean over all (kept) elements, not divided by
    a weight sum, exactly as PyTorch. ``weights`` and ``pos_weight`` broadcast NumPy-style
    from the trailing axis, so for channel-first (N, C, H, W) logits a per-class
    ``pos_weight`` has shape (C, 1, 1).

    Label smoothing is Keras's ``BinaryCrossentropy(label_smoothing=ε)``: the targets move
    towards 1/2 by ``ε`` (PyTorch's ``cross_entropy`` rule ``ε / C`` with C = 2 classes), before
    ``pos_weight`` applies. segmentation_models_pytorch's ``SoftBCEWithLogitsLoss(smooth_factor=s)``
    moves them by ``s`` instead: it is ``label_smoothing=2 * s`` here.

    Args:
      logits: float array of any shape.
      targets: same shape as ``logits``, values in [0, 1] (soft labels allowed; like PyTorch,
        the range is not checked, except under :func:`jaxloss.checked`). Integer or boolean
        0/1 targets are accepted.
      pos_weight: optional weight of the positive term, broadcastable to ``logits``
        (traceable).
      weights: optional per-element rescaling weight, broadcastable to ``logits`` (traceable).
      label_smoothing: scalar in [0, 1] (traceable); 0 is PyTorch's loss exactly.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``logits``; False elements count as absent
        (0 loss, excluded from the mean).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 logits; bf16/f16 logits are
      computed in float32).

    Raises:
      ValueError: ``targets`` of another shape; ``pos_weight``, ``weights`` or ``where`` that
        do not broadcast; ``label_smoothing`` outside [0, 1] or not a scalar; an unknown
        ``reduction``; under :func:`jaxloss.checked`, ``targets`` outside [0, 1].
      TypeError: non-float ``logits``, non-numeric ``targets``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([2.0, -1.0, 0.5])
      >>> targets = jnp.array([1.0, 0.0, 1.0])
      >>> print(f"{jaxloss.binary_cross_entropy_with_logits(logits, targets):.4f}")
      0.3048
      >>> print(f"{jaxloss.binary_cross_entropy_with_logits(logits, targets, pos_weight=3.0):.4f}")
      0.7054
      >>> smoothed = jaxloss.binary_cross_entropy_with_logits(
      ...     logits, targets, label_smoothing=0.2)
      >>> print(f"{smoothed:.4f}")
      0.4214

    References:
      PyTorch ``torch.nn.functional.binary_cross_entropy_with_logits``; Keras
      ``keras.losses.BinaryCrossentropy(label_smoothing=...)``.
    """
    fn = "binary_cross_entropy_with_logits"
    x, y, mask = _prepare_binary(fn, logits, targets, reduction, where)
    _checks.check_scalar(fn, "label_smoothing", label_smoothing)
    _checks.check_unit_interval(fn, "label_smoothing", label_smoothing)
    cfg = (
        pos_weight is not None,
        weights is not None,
        _checks.concrete_float(label_smoothing) != 0.0,
    )
    args = (
        x,
        y,
        _weight_arg(fn, "pos_weight", pos_weight, x),
        _weight_arg(fn, "weights", weights, x),
        jnp.asarray(label_smoothing, x.dtype),
    )
    return _apply(_BCE, cfg, args, mask, reduction, axis_name, where)


@_inputs.public
def sigmoid_focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike | None = 0.25,
    gamma: ArrayLike = 2.0,
    pos_weight: ArrayLike | None = None,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Sigmoid focal loss, as torchvision's ``ops.sigmoid_focal_loss``, with kornia's
    ``pos_weight`` and class weights.

    .. math::

       l = w\, w_c\, \alpha_t\, (1 - p_t)^{\gamma}\,
           \big[-p_w\, y \log p - (1 - y) \log(1 - p)\big], \qquad
       1 - p_t = y (1 - p) + (1 - y)\, p, \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    with :math:`p = \sigma(x)`, :math:`p_w` = ``pos_weight``, :math:`w_c` =
    ``class_weights`` and :math:`w` = ``weights``. Without them this is torchvision's loss; with
    0/1 targets it is kornia's
    ``binary_focal_loss_with_logits(pred, target, alpha, gamma, pos_weight=, weight=)``
    (kornia weights each term by its own factor, ``(1 - p)^γ`` and ``p^γ``, so for soft
    targets jaxloss keeps torchvision's ``(1 - p_t)^γ``). ``"mean"`` is the plain mean over the
    (kept) elements, also with weights, as kornia and PyTorch's BCE. Logs come from
    ``softplus`` and the factor from ``1 - p_t`` in closed form, so gradients are finite at
    saturated logits for every ``gamma >= 0`` (torchvision's are NaN there for
    ``gamma < 1``); the backward pass is one elementwise kernel (custom JVP).
    ``alpha=None`` disables the alpha term (torchvision's ``alpha=-1``). Unlike torchvision,
    whose default reduction is "none", the default here is "mean", like every jaxloss loss.

    Args:
      logits: float array of any shape.
      targets: same shape, values in [0, 1] (checked under :func:`jaxloss.checked`).
      alpha: weight of the positive class in [0, 1], or None (traceable). 0.25 is
        torchvision's default; :func:`dice_focal_loss` keeps MONAI's default, None.
      gamma: focusing parameter >= 0 (traceable); 0 with ``alpha=None`` is
        :func:`binary_cross_entropy_with_logits`.
      pos_weight: optional weight of the positive term, broadcastable to ``logits`` like
        :func:`binary_cross_entropy_with_logits`'s: (C,) for (..., C) logits, (C, 1, 1) for
        channel-first (N, C, H, W) ones, where kornia takes (C,) (traceable).
      class_weights: optional weight of each class's loss, broadcastable to ``logits`` in the
        same way (kornia's ``weight``; traceable).
      weights: optional per-element rescaling weight, broadcastable to ``logits`` (a per-pixel
        weight map, per-sample weights as (N, 1)...; traceable and differentiable). PyTorch's
        BCE ``weight`` rule: ``"none"`` returns ``w * l``, ``"mean"`` is ``sum(w * l)`` over
        the kept elements divided by their number, never by ``sum(w)`` (for that, divide the
        ``"sum"`` by ``jnp.sum(weights * where)`` yourself). It multiplies ``class_weights``:
        one factor ``w * w_c`` per element.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``logits``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 logits; bf16/f16 logits are
      computed in float32).

    Raises:
      ValueError: ``targets`` of another shape; ``pos_weight``, ``class_weights``, ``weights``
        or ``where`` that do not broadcast; ``alpha`` outside [0, 1], ``gamma`` < 0, either
        not a scalar; an unknown ``reduction``; under :func:`jaxloss.checked`, ``targets``
        outside [0, 1].
      TypeError: non-float ``logits``, non-numeric ``targets``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([2.0, -1.0, 0.5])
      >>> targets = jnp.array([1.0, 0.0, 1.0])
      >>> print(f"{jaxloss.sigmoid_focal_loss(logits, targets):.5f}")
      0.01145
      >>> print(f"{jaxloss.sigmoid_focal_loss(logits, targets, pos_weight=3.0):.5f}")
      0.02301
      >>> w = jnp.array([2.0, 1.0, 0.0])  # per element; "mean" still divides by 3
      >>> print(f"{jaxloss.sigmoid_focal_loss(logits, targets, weights=w):.5f}")
      0.00597

    References:
      Lin et al. 2017, "Focal Loss for Dense Object Detection"; torchvision
      ``ops.sigmoid_focal_loss``; kornia ``losses.binary_focal_loss_with_logits``.
    """
    fn = "sigmoid_focal_loss"
    x, y, mask = _prepare_binary(fn, logits, targets, reduction, where)
    _checks.check_scalar(fn, "gamma", gamma)
    _checks.check_nonnegative(fn, "gamma", gamma)
    if alpha is not None:
        _checks.check_scalar(fn, "alpha", alpha)
        _checks.check_unit_interval(fn, "alpha", alpha)
    g = jnp.asarray(gamma, x.dtype)
    zero = jnp.zeros((), x.dtype)
    cfg = (
        False, pos_weight is not None, class_weights is not None, alpha is not None,
        _small_integer(gamma), weights is not None,
    )
    args = (
        x,
        y,
        _weight_arg(fn, "pos_weight", pos_weight, x),
        _weight_arg(fn, "class_weights", class_weights, x),
        _weight_arg(fn, "weights", weights, x),
        zero if alpha is None else jnp.asarray(alpha, x.dtype),
        g,
        g,
        zero,
    )
    return _apply(_FOCAL, cfg, args, mask, reduction, axis_name, where)


def _small_integer(gamma: ArrayLike) -> int | None:
    """``gamma`` as a Python int when it is a concrete integer in [0, 8] (the factor is then
    ``integer_pow``: multiplications instead of a log and an exp per element), else None."""
    v = _checks.concrete_float(gamma)
    return int(v) if v is not None and v in range(9) else None


def _check_clip(fn: str, clip: ArrayLike) -> None:
    _checks.check_scalar(fn, "clip", clip)
    v = _checks.concrete_float(clip)
    if v is not None and not 0.0 <= v < 1.0:
        raise ValueError(
            f"{fn}: `clip` must be in [0, 1), got {v}. It is the probability shift m of the "
            "negatives, p_m = max(p - m, 0); clip=0 turns it off."
        )


@_inputs.public
def asymmetric_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    gamma_pos: ArrayLike = 1.0,
    gamma_neg: ArrayLike = 4.0,
    clip: ArrayLike = 0.05,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Asymmetric loss for multi-label classification (ASL, Ridnik et al. 2021), the authors'
    formula with the probability shift ``clip``.

    .. math::

       l = -w\, (1 - p_t)^{\gamma_y} \big[\, y \log p + (1 - y) \log(1 - p_m) \big], \qquad
       p_m = \max(p - m, 0),

       1 - p_t = y (1 - p) + (1 - y)\, p_m, \qquad
       \gamma_y = \gamma_+ y + \gamma_- (1 - y)

    with :math:`p = \sigma(x)`, :math:`m` = ``clip``, :math:`\gamma_+` = ``gamma_pos``,
    :math:`\gamma_-` = ``gamma_neg``, :math:`w` = ``weights`` (1 when not given): for a
    positive label ``(1 - p)^γ+ (-log p)``, for a negative ``p_m^γ- (-log(1 - p_m))``, so easy
    negatives (``p <= m``) cost exactly 0. This is
    the authors' ``AsymmetricLoss`` (Alibaba-MIIL/ASL, ``src/loss_functions/losses.py``) with
    their defaults ``gamma_neg=4, gamma_pos=1, clip=0.05`` (their training script and the paper
    use ``gamma_pos=0``), soft targets included, with three differences, each named:

    * logs in log space (``softplus``), where the authors clamp probabilities at ``eps=1e-8``
      before the log: the values differ only where ``p < 1e-8`` (a positive with a logit
      below -18.4), where the authors' loss is flat at 18.42 and this one keeps growing;
    * the gradient goes through the focusing weight, as in the paper's gradient analysis and
      the authors' ``AsymmetricLossOptimized``; their ``AsymmetricLoss`` defaults to
      ``disable_torch_grad_focal_loss=True``, which treats the weight as a constant;
    * ``reduction`` "mean" by default, as every jaxloss loss; the authors return the sum
      (``reduction="sum"``).

    ``gamma_pos = gamma_neg = γ`` with ``clip=0`` is :func:`sigmoid_focal_loss` with
    ``alpha=None``; all three 0 is :func:`binary_cross_entropy_with_logits`. The backward pass
    is one elementwise kernel (custom JVP). With concrete integer gammas (the defaults) and
    0/1 targets the weight is ``y (1 - p)^γ+ + (1 - y) p_m^γ-`` by integer powers, the same
    number without a log and an exp per element: bool and integer targets take it
    statically, float ones through a ``lax.cond`` on the targets (both branches compiled).

    Args:
      logits: float array of any shape, e.g. (N, C) for C labels.
      targets: same shape, values in [0, 1] (multi-hot 0/1; soft labels allowed; checked
        under :func:`jaxloss.checked`).
      gamma_pos: focusing parameter of the positives, >= 0 (traceable).
      gamma_neg: focusing parameter of the negatives, >= 0 (traceable).
      clip: probability shift ``m`` of the negatives, in [0, 1); 0 turns it off (the
        authors' ``clip=None``) (traceable).
      weights: optional per-element rescaling weight, broadcastable to ``logits`` (e.g. (C,)
        per label, (N, 1) per sample; traceable and differentiable). PyTorch's BCE ``weight``
        rule: ``"none"`` returns ``w * l``, ``"mean"`` is ``sum(w * l)`` over the kept
        elements divided by their number, never by ``sum(w)``.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``logits``; False elements count as absent
        (0 loss, excluded from the mean).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 logits; bf16/f16 logits are
      computed in float32).

    Raises:
      ValueError: ``targets`` of another shape, ``weights`` or ``where`` that do not
        broadcast, ``gamma_pos`` or ``gamma_neg`` < 0, ``clip`` outside [0, 1), any of them not a
        scalar, an unknown ``reduction``; under :func:`jaxloss.checked`, ``targets`` outside
        [0, 1].
      TypeError: non-float ``logits``, non-numeric ``targets``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, -1.0, 0.5, -4.0]])
      >>> targets = jnp.array([[1.0, 0.0, 1.0, 0.0]])
      >>> print(f"{jaxloss.asymmetric_loss(logits, targets, reduction='sum'):.4f}")
      0.1947
      >>> per = jaxloss.asymmetric_loss(logits, targets, reduction="none")
      >>> print(per[0, 3])  # p = 0.018 < clip: an easy negative costs nothing
      0.0

    References:
      Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification" (ICCV);
      github.com/Alibaba-MIIL/ASL.
    """
    fn = "asymmetric_loss"
    x, y, mask = _prepare_binary(fn, logits, targets, reduction, where)
    for name, value in (("gamma_pos", gamma_pos), ("gamma_neg", gamma_neg)):
        _checks.check_scalar(fn, name, value)
        _checks.check_nonnegative(fn, name, value)
    _check_clip(fn, clip)
    zero = jnp.zeros((), x.dtype)
    m = _checks.concrete_float(clip)
    clipped = _CLIP_SAFE if m is not None and m > 0.0 else m != 0.0
    cfg = (clipped, False, False, False, None, weights is not None)
    args = (
        x,
        y,
        zero,
        zero,
        _weight_arg(fn, "weights", weights, x),
        zero,
        jnp.asarray(gamma_pos, x.dtype),
        jnp.asarray(gamma_neg, x.dtype),
        jnp.asarray(clip, x.dtype),
    )
    # Concrete integer gammas and 0/1 targets (bool or integer ones; float ones checked at run
    # time, one pass over them): s^g_y as y s^g+ + (1 - y) s^g-, without the log and exp per
    # element in each pass (ASL 3.4x -> 2.9-3.2x BCE at (8192, 1000)). Soft targets take the
    # general branch; both branches are compiled.
    powers = (_small_integer(gamma_pos), _small_integer(gamma_neg))
    if None in powers:
        return _apply(_FOCAL, cfg, args, mask, reduction, axis_name, where)
    hard_cfg = cfg[:4] + (powers,) + cfg[5:]
    if not jnp.issubdtype(jnp.asarray(targets).dtype, jnp.inexact):  # bool or integer: 0/1
        return _apply(_FOCAL, hard_cfg, args, mask, reduction, axis_name, where)
    softness = jax.lax.stop_gradient(jnp.max(y * (1.0 - y)))
    if axis_name is not None:  # every device takes the same branch (its psums must match)
        softness = jax.lax.pmax(softness, axis_name)
    return jax.lax.cond(
        softness == 0,
        lambda a: _apply(_FOCAL, hard_cfg, a, mask, reduction, axis_name, where),
        lambda a: _apply(_FOCAL, cfg, a, mask, reduction, axis_name, where),
        args)
