"""Binary losses: BCE on probabilities and with logits, torchvision's sigmoid focal loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._reduction import reduce_loss


def _prepare_binary(
    fn: str, logits: ArrayLike, targets: ArrayLike, reduction: str, where,
    names: tuple[str, str] = ("logits", "targets"),
):
    """Checks and converts ``(logits, targets, where)``; ``names`` are the arguments' names
    in ``fn``'s signature (PyTorch's ``input``/``target`` for ``binary_cross_entropy``)."""
    x_name, y_name = names
    logits_given = _checks.given_dtype(logits)
    targets_given = _checks.given_dtype(targets)
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    _checks.check_reduction(fn, reduction)
    _checks.check_float(
        fn, x_name, logits, given=logits_given, targets=targets, targets_given=targets_given,
        class_axis=None,
    )
    _checks.check_numeric(fn, y_name, targets, given=targets_given)
    _checks.check_same_shape(fn, x_name, logits.shape, y_name, targets.shape)
    dtype = _checks.compute_dtype(logits.dtype)
    mask = _checks.as_mask(fn, where, logits.shape)
    y = targets.astype(dtype)
    _checks.check_unit_interval_values(
        fn, y_name, y, mask, expected="in [0, 1]",
        hint=" For class indices use jaxloss.cross_entropy.",
    )
    return logits.astype(dtype), y, mask


def _xlogy0(a: jax.Array, log_p: jax.Array) -> jax.Array:
    """``a * log_p`` with ``0 * (-inf) = 0`` (a value only: never differentiated)."""
    return jnp.where(a == 0, 0.0, a * log_p)


@jax.custom_jvp
def _bce(x: jax.Array, y: jax.Array, pos_weight: jax.Array) -> jax.Array:
    """Elementwise ``-[pos_weight * y * log σ(x) + (1 - y) * log σ(-x)]``.

    ``0 * log 0 = 0``, so an infinite logit with the matching target costs 0, not NaN. The
    custom JVP gives PyTorch's derivatives everywhere, the target's at ``y = 0`` and ``1``
    too (``d/dy = log σ(-x) - pos_weight * log σ(x)``, which a ``where(y == 0, ...)``
    guard would drop), and its tangent map is rematerialised so that reverse mode keeps
    only the inputs: no logits-sized residual beyond what the caller already holds.
    """
    log_p, log_not_p = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    return -(pos_weight * _xlogy0(y, log_p) + _xlogy0(1.0 - y, log_not_p))


@jax.checkpoint
def _bce_tangent(x, y, pos_weight, dx, dy, dw):
    d = jnp.zeros_like(x)
    if dx is not None:
        d = d + ((1.0 - y) * jax.nn.sigmoid(x) - pos_weight * y * jax.nn.sigmoid(-x)) * dx
    if dy is not None:
        d = d + (jax.nn.log_sigmoid(-x) - pos_weight * jax.nn.log_sigmoid(x)) * dy
    if dw is not None:
        d = d - _xlogy0(y, jax.nn.log_sigmoid(x)) * dw
    return d


def _bce_jvp(primals, tangents):
    x, y, pos_weight = primals
    dx, dy, dw = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    return _bce(x, y, pos_weight), _bce_tangent(x, y, pos_weight, dx, dy, dw)


_bce.defjvp(_bce_jvp, symbolic_zeros=True)


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


def _log_weights(y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log y, log(1 - y))``, each ``-inf`` where its weight is 0 (no NaN in any branch)."""
    log_y = jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, 1.0)), -jnp.inf)
    log_1my = jnp.where(y < 1, jnp.log1p(-jnp.where(y < 1, y, 0.0)), -jnp.inf)
    return log_y, log_1my


@jax.custom_jvp
def _log1m_pt(log_p: jax.Array, log_1mp: jax.Array, y: jax.Array) -> jax.Array:
    """``log(1 - p_t) = log(y (1 - p) + (1 - y) p)`` from ``log p`` and ``log(1 - p)``.

    Computed as a ``logaddexp`` whose terms are ``-inf`` where their weight ``y`` or
    ``1 - y`` is 0, so it stays accurate at saturated logits. The custom JVP gives the exact
    derivatives, ``d/dy = (1 - p - p) / (1 - p_t)`` included at ``y`` in {0, 1}, where
    differentiating through ``log(y)`` would drop it (``0 * inf``).
    """
    log_y, log_1my = _log_weights(y)
    return jnp.logaddexp(log_y + log_1mp, log_1my + log_p)


def _log1m_pt_jvp(primals, tangents):
    log_p, log_1mp, y = primals
    d_log_p, d_log_1mp, dy = tangents
    out = _log1m_pt(log_p, log_1mp, y)
    shift = jnp.where(jnp.isfinite(out), out, 0.0)
    log_y, log_1my = _log_weights(y)
    # The two shares of 1 - p_t, each in [0, 1]: y (1 - p) / (1 - p_t), (1 - y) p / (1 - p_t).
    d_out = jnp.zeros_like(out)
    if not isinstance(d_log_1mp, SymbolicZero):
        d_out = d_out + jnp.exp(log_y + log_1mp - shift) * d_log_1mp
    if not isinstance(d_log_p, SymbolicZero):
        d_out = d_out + jnp.exp(log_1my + log_p - shift) * d_log_p
    if not isinstance(dy, SymbolicZero):
        d_out = d_out + (jnp.exp(log_1mp - shift) - jnp.exp(log_p - shift)) * dy
    return out, d_out


_log1m_pt.defjvp(_log1m_pt_jvp, symbolic_zeros=True)


def _reduce_masked(per: jax.Array, mask, reduction: str, axis_name) -> jax.Array:
    if mask is None:
        return reduce_loss(per, None, reduction, axis_name)
    per = jnp.where(mask, per, 0.0)
    return reduce_loss(per, mask.astype(per.dtype), reduction, axis_name)


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
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.

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
    per = _bce_probs(p, y)
    w = _checks.as_weights(fn, weights, p.shape, p.dtype)
    if w is not None:
        per = w * per
    return _reduce_masked(per, mask, reduction, axis_name)


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Sigmoid binary cross-entropy from logits, as PyTorch's
    ``F.binary_cross_entropy_with_logits``.

    .. math::

       l = -w \big[\, p_w\, y \log\sigma(x) + (1 - y) \log\sigma(-x) \big]

    computed with ``log_sigmoid`` (no ``log(sigmoid(x) + eps)``). ``"mean"`` is the plain mean
    over all (kept) elements, not divided by a weight sum, exactly as PyTorch. ``weights`` and
    ``pos_weight`` broadcast NumPy-style from the trailing axis, so for channel-first
    (N, C, H, W) logits a per-class ``pos_weight`` has shape (C, 1, 1).

    Args:
      logits: float array of any shape.
      targets: same shape as ``logits``, values in [0, 1] (soft labels allowed; like PyTorch,
        the range is not checked, except under :func:`jaxloss.checked`). Integer or boolean
        0/1 targets are accepted.
      pos_weight: optional weight of the positive term, broadcastable to ``logits``
        (traceable).
      weights: optional per-element rescaling weight, broadcastable to ``logits`` (traceable).
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``logits``; False elements count as absent
        (0 loss, excluded from the mean).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 logits).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([2.0, -1.0, 0.5])
      >>> targets = jnp.array([1.0, 0.0, 1.0])
      >>> print(f"{jaxloss.binary_cross_entropy_with_logits(logits, targets):.4f}")
      0.3048
      >>> print(f"{jaxloss.binary_cross_entropy_with_logits(logits, targets, pos_weight=3.0):.4f}")
      0.7054
    """
    fn = "binary_cross_entropy_with_logits"
    x, y, mask = _prepare_binary(fn, logits, targets, reduction, where)
    pw = jnp.ones((), x.dtype)
    if pos_weight is not None:
        pos_weight = jnp.asarray(pos_weight)
        _checks.check_broadcastable(fn, "pos_weight", pos_weight.shape, x.shape)
        pw = jnp.broadcast_to(pos_weight.astype(x.dtype), x.shape)
    per = _bce(x, y, pw)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    if w is not None:
        per = w * per
    return _reduce_masked(per, mask, reduction, axis_name)


def sigmoid_focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike | None = 0.25,
    gamma: ArrayLike = 2.0,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Sigmoid focal loss, as torchvision's ``ops.sigmoid_focal_loss``, in log space.

    .. math::

       l = \alpha_t\, (1 - p_t)^{\gamma}\, \mathrm{BCE}(x, y), \qquad
       p_t = p y + (1 - p)(1 - y), \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    with :math:`p = \sigma(x)`. The factor is ``exp(gamma * log(1 - p_t))`` with
    ``log(1 - p_t) = logaddexp(log y + log σ(-x), log(1 - y) + log σ(x))``, so gradients are
    finite at saturated logits for every ``gamma >= 0`` (torchvision's are NaN there for
    ``gamma < 1``). ``alpha=None`` disables the alpha term (torchvision's ``alpha=-1``).
    Unlike torchvision, whose default reduction is "none", the default here is "mean", like
    every jaxloss loss.

    Args:
      logits: float array of any shape.
      targets: same shape, values in [0, 1] (checked under :func:`jaxloss.checked`).
      alpha: weight of the positive class in [0, 1], or None (traceable).
      gamma: focusing parameter >= 0 (traceable).
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``logits``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.

    Returns:
      Scalar or elementwise loss, float32 (float64 for float64 logits).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([2.0, -1.0, 0.5])
      >>> targets = jnp.array([1.0, 0.0, 1.0])
      >>> print(f"{jaxloss.sigmoid_focal_loss(logits, targets):.5f}")
      0.01145
    """
    fn = "sigmoid_focal_loss"
    x, y, mask = _prepare_binary(fn, logits, targets, reduction, where)
    _checks.check_scalar(fn, "gamma", gamma)
    _checks.check_nonnegative(fn, "gamma", gamma)
    log_p = jax.nn.log_sigmoid(x)
    log_1mp = jax.nn.log_sigmoid(-x)
    ce = _bce(x, y, jnp.ones((), x.dtype))
    log_1m_pt = _log1m_pt(log_p, log_1mp, y)
    per = jnp.exp(jnp.asarray(gamma, x.dtype) * log_1m_pt) * ce
    if alpha is not None:
        _checks.check_scalar(fn, "alpha", alpha)
        _checks.check_unit_interval(fn, "alpha", alpha)
        a = jnp.asarray(alpha, x.dtype)
        per = (a * y + (1.0 - a) * (1.0 - y)) * per
    return _reduce_masked(per, mask, reduction, axis_name)
