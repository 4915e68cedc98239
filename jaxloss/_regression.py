"""Regression losses under PyTorch's names and meanings: L1, MSE, Huber, smooth L1, Poisson and
Gaussian negative log-likelihoods.

Every loss is elementwise on ``input`` and ``target`` of one shape (PyTorch broadcasts a
mismatch, with a warning in four of the six; here it is an error), except
``gaussian_nll_loss``, whose ``target`` broadcasts to ``input``'s shape as in PyTorch (its
documented shapes include a size-1 axis), and reduces through the one ``reduce_loss``.
The "mean" of each follows its PyTorch 2.13 function exactly, and PyTorch is not consistent:
with per-element ``weights`` (PyTorch's ``weight=``), ``l1_loss`` and ``mse_loss`` divide the
weighted sum by the sum of the weights, ``huber_loss`` by the element count. The other three
have no ``weight`` in PyTorch and take jaxloss's one rule: ``weights`` rescale each element's
loss and "mean" divides by the element count. Masked elements (``where=False``) drop out of
the numerator and of the denominator alike.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._reduction import reduce_loss, reduce_masked, weigh

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _prepare(
    fn: str,
    input: ArrayLike,
    target: ArrayLike,
    reduction: str,
    where: ArrayLike | None,
    *,
    broadcast_target: bool = False,
    also: tuple[ArrayLike, ...] = (),
):
    """Checks and converts ``(input, target, where)``: float ``input``, numeric ``target`` of
    the same shape (or, with ``broadcast_target``, of a shape that broadcasts to ``input``'s,
    broadcast here), both in the compute dtype (float32 for bf16/f16).

    Masked elements of ``input`` and ``target`` are replaced by 1 (a value every loss here is
    finite at, with finite derivatives): their loss is dropped anyway, and an overflowing or
    out-of-domain value there (``exp(100)`` in float32, ``log(0)``) would otherwise reach the
    gradient as ``0 * inf = NaN``."""
    given_input = _inputs.tensor("input", input)
    given_target = _inputs.tensor("target", target)
    _checks.check_reduction(fn, reduction)
    x, y = given_input.value, given_target.value
    _checks.check_float(fn, "input", x, given=given_input.given)
    _checks.check_numeric(fn, "target", y, given=given_target.given)
    if broadcast_target:
        _check_target_broadcasts(fn, tuple(x.shape), tuple(y.shape))
    else:
        _checks.check_same_shape(fn, "input", x.shape, "target", y.shape)
    # `also`: further tensor inputs (gaussian_nll_loss's var) that vote in the compute dtype.
    dtype = _inputs.float_dtype(x, y, *(jnp.asarray(a) for a in also))
    mask = _inputs.mask(fn, where, x.shape)
    x, y = x.astype(dtype), jnp.broadcast_to(y.astype(dtype), x.shape)
    x, y = _inputs.masked(x, mask, 1.0), _inputs.masked(y, mask, 1.0)
    return x, y, mask


def _check_target_broadcasts(fn: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """``target`` broadcasts to ``input``'s ``shape`` (NumPy's rule, PyTorch's), never the
    other way round: the loss keeps ``input``'s shape."""
    try:
        ok = np.broadcast_shapes(target, shape) == shape
    except ValueError:
        ok = False
    if ok:
        return
    hint = ""
    if len(shape) >= 1 and target == shape[:-1]:
        hint = (
            f" For one target per row, shared along the last axis, pass "
            f"`target[..., None]` (shape {shape[:-1] + (1,)})."
        )
    elif len(target) > len(shape) or any(
        t != 1 and s == 1 for t, s in zip(target[::-1], shape[::-1], strict=False)
    ):
        hint = " `input` is never broadcast up: the loss has `input`'s shape."
    raise ValueError(
        f"{fn}: `target` of shape {target} must broadcast to `input`'s shape {shape} "
        f"(NumPy broadcasting from the trailing axis, as PyTorch): expected {shape}, that "
        "shape with 1 in some axes, or fewer leading axes." + hint
    )


def _reduce(
    per: jax.Array,
    mask: jax.Array | None,
    weights: jax.Array | None,
    reduction: str,
    axis_name: str | None,
    *,
    divide_by_weights: bool,
) -> jax.Array:
    """Weights, mask and reduction. "mean" divides by the sum of the kept weights when
    ``divide_by_weights`` (and weights are given), else by the kept element count. A masked
    element's weight is taken as 1 first, so that a NaN or inf there reaches no gradient."""
    if weights is not None:
        weights = _inputs.masked(weights, mask, 1.0)
    if not (divide_by_weights and weights is not None):
        return reduce_masked(per, mask, reduction, axis_name, weights=weights)
    per = weigh(per, weights)
    if mask is not None:
        per = jnp.where(mask, per, jnp.zeros_like(per))
        weights = jnp.where(mask, weights, 0.0)
    return reduce_loss(per, weights, reduction, axis_name)


@jax.custom_jvp
def _abs(d: jax.Array) -> jax.Array:
    """``|d|`` whose derivative at 0 is 0, PyTorch's (``jnp.abs``'s is 1 there): targets
    that equal the input exactly (padding, a perfect fit) get no gradient."""
    return jnp.abs(d)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    (d,), (t,) = primals, tangents
    return jnp.abs(d), jnp.sign(d) * t


@_inputs.public
def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Mean absolute error, as PyTorch's ``F.l1_loss``.

    .. math::

       l_i = w_i\, |x_i - y_i|, \qquad
       \text{mean} = \frac{\sum_i l_i}{\sum_i w_i} \text{ with weights, }
       \frac{\sum_i l_i}{n} \text{ without}

    over the kept elements (``where``). The derivative at ``x = y`` is 0, as PyTorch's.

    Args:
      input: float array of any shape.
      target: numeric array of the same shape (PyTorch broadcasts with a warning).
      weights: optional per-element weights, PyTorch 2.13's ``weight=``, broadcastable to
        ``input`` (PyTorch requires its exact shape; traceable). "mean" divides by their sum
        over the kept elements, as PyTorch does: weights that sum to 0 give 0, not NaN.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent
        (0 loss, out of the mean's numerator and denominator).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input,
      float32 for bf16/f16 input, which is computed in float32).

    Raises:
      ValueError: ``target`` of another shape, ``weights`` or ``where`` that do not broadcast,
        an unknown ``reduction``.
      TypeError: non-float ``input``, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 0.0, 2.5])
      >>> print(f"{jaxloss.l1_loss(x, y):.4f}")
      0.6667
      >>> print(f"{jaxloss.l1_loss(x, y, weights=jnp.array([1.0, 2.0, 1.0])):.4f}")
      0.7500

    References:
      PyTorch ``torch.nn.functional.l1_loss``.
    """
    fn = "l1_loss"
    x, y, mask = _prepare(fn, input, target, reduction, where)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    return _reduce(_abs(x - y), mask, w, reduction, axis_name, divide_by_weights=True)


@_inputs.public
def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Mean squared error, as PyTorch's ``F.mse_loss``.

    .. math::

       l_i = w_i\, (x_i - y_i)^2, \qquad
       \text{mean} = \frac{\sum_i l_i}{\sum_i w_i} \text{ with weights, }
       \frac{\sum_i l_i}{n} \text{ without}

    over the kept elements (``where``).

    Args:
      input: float array of any shape.
      target: numeric array of the same shape (PyTorch broadcasts with a warning).
      weights: optional per-element weights, PyTorch 2.13's ``weight=``, broadcastable to
        ``input`` (PyTorch requires its exact shape; traceable). "mean" divides by their sum
        over the kept elements, as PyTorch does: weights that sum to 0 give 0, not NaN.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``target`` of another shape, ``weights`` or ``where`` that do not broadcast,
        an unknown ``reduction``.
      TypeError: non-float ``input``, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 0.0, 2.5])
      >>> print(f"{jaxloss.mse_loss(x, y):.4f}")
      0.5000
      >>> print(f"{jaxloss.mse_loss(x, y, weights=jnp.array([1.0, 2.0, 1.0])):.4f}")
      0.6250

    References:
      PyTorch ``torch.nn.functional.mse_loss``.
    """
    fn = "mse_loss"
    x, y, mask = _prepare(fn, input, target, reduction, where)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    return _reduce(jnp.square(x - y), mask, w, reduction, axis_name, divide_by_weights=True)


@_inputs.public
def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Huber loss, as PyTorch's ``F.huber_loss``.

    .. math::

       l_i = w_i \begin{cases} \tfrac12 z_i^2 & z_i < \delta \\
       \delta\, (z_i - \tfrac12 \delta) & \text{otherwise} \end{cases}, \qquad
       z_i = |x_i - y_i|, \qquad \text{mean} = \frac{\sum_i l_i}{n}

    "mean" divides by the (kept) element count **also with weights**, exactly as PyTorch
    2.13 does (unlike :func:`l1_loss` and :func:`mse_loss`, which divide by the weight sum).
    ``huber_loss(delta=d) = d * smooth_l1_loss(beta=d)``.

    Args:
      input: float array of any shape.
      target: numeric array of the same shape.
      delta: threshold between the quadratic and the linear part, a scalar > 0 (traceable).
      weights: optional per-element weights, PyTorch 2.13's ``weight=``, broadcastable to
        ``input`` (traceable); never in the denominator.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: a concrete ``delta`` <= 0 (as PyTorch), a non-scalar ``delta``, ``target``
        of another shape, ``weights`` or ``where`` that do not broadcast, an unknown
        ``reduction``.
      TypeError: non-float ``input``, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 0.0, 4.5])
      >>> print(f"{jaxloss.huber_loss(x, y):.4f}")
      0.8750
      >>> print(f"{jaxloss.huber_loss(x, y, delta=2.0):.4f}")
      1.2083

    References:
      Huber, "Robust Estimation of a Location Parameter", 1964; PyTorch
      ``torch.nn.functional.huber_loss``.
    """
    fn = "huber_loss"
    x, y, mask = _prepare(fn, input, target, reduction, where)
    _checks.check_positive(fn, "delta", delta)
    d = _inputs.scalar(fn, "delta", delta, x.dtype)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    z = _abs(x - y)
    per = jnp.where(z < d, 0.5 * jnp.square(z), d * (z - 0.5 * d))
    return _reduce(per, mask, w, reduction, axis_name, divide_by_weights=False)


@_inputs.public
def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Smooth L1 loss, as PyTorch's ``F.smooth_l1_loss``.

    .. math::

       l_i = \begin{cases} \tfrac12 z_i^2 / \beta & z_i < \beta \\
       z_i - \tfrac12 \beta & \text{otherwise} \end{cases}, \qquad z_i = |x_i - y_i|

    ``beta=0`` is exactly :func:`l1_loss` (no division by 0: the quadratic branch is never
    taken), also when ``beta`` is traced. PyTorch 2.13 has no ``weight=`` here, and neither
    has this function. "mean" divides by the (kept) element count.

    Args:
      input: float array of any shape.
      target: numeric array of the same shape.
      beta: threshold between the quadratic and the linear part, a scalar >= 0 (traceable).
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete ``beta`` < 0 (as PyTorch), a
        non-scalar ``beta``, ``target`` of another shape, ``where`` that does not broadcast, an
        unknown ``reduction``.
      TypeError: boolean or complex ``weights``; non-float ``input``, non-numeric ``target``,
        non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 0.0, 4.5])
      >>> print(f"{jaxloss.smooth_l1_loss(x, y):.4f}")
      0.8750
      >>> print(f"{jaxloss.smooth_l1_loss(x, y, beta=0.0):.4f}")
      1.3333

    References:
      Girshick, "Fast R-CNN", ICCV 2015; PyTorch ``torch.nn.functional.smooth_l1_loss``.
    """
    fn = "smooth_l1_loss"
    x, y, mask = _prepare(fn, input, target, reduction, where)
    _checks.check_nonnegative(fn, "beta", beta)
    b = _inputs.scalar(fn, "beta", beta, x.dtype)
    z = _abs(x - y)
    quadratic = z < b  # never true at beta = 0
    safe_b = jnp.where(b > 0, b, jnp.ones_like(b))
    per = jnp.where(quadratic, 0.5 * jnp.square(z) / safe_b, z - 0.5 * b)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    return _reduce(per, mask, w, reduction, axis_name, divide_by_weights=False)


@_inputs.public
def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: ArrayLike = 1e-8,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Poisson negative log-likelihood, as PyTorch's ``F.poisson_nll_loss``.

    .. math::

       l_i = \begin{cases} e^{x_i} - y_i x_i & \text{log\_input} \\
       x_i - y_i \log(x_i + \epsilon) & \text{otherwise} \end{cases}
       \;+\; [\text{full}]\,[y_i > 1] \big(y_i \log y_i - y_i + \tfrac12 \log(2\pi y_i)\big)

    with ``x`` the log-rate (``log_input=True``) or the rate, ``y`` the observed count. The
    Stirling term of ``full=True`` is added where ``y > 1`` only, as PyTorch; its derivative
    with respect to the target is 0 where ``y <= 1`` (PyTorch's is NaN at ``y = 0``). "mean"
    divides by the (kept) element count.

    Args:
      input: float array of any shape: log-rates, or rates with ``log_input=False``.
      target: numeric array (counts) of the same shape.
      log_input: whether ``input`` is the log of the rate (a Python bool: structure).
      full: add the Stirling approximation of ``log(y!)`` (a Python bool).
      eps: added to the rate inside the log when ``log_input=False``, a scalar >= 0
        (traceable).
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``; False elements count as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete ``eps`` < 0 (PyTorch does not
        check), a non-scalar ``eps``, ``target`` of another shape, ``where`` that does not
        broadcast, an unknown ``reduction``.
      TypeError: boolean or complex ``weights``; ``log_input`` or ``full`` not a bool, non-float
        ``input``, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_rate, counts = jnp.array([0.0, 1.0, 2.0]), jnp.array([1.0, 3.0, 5.0])
      >>> print(f"{jaxloss.poisson_nll_loss(log_rate, counts):.4f}")
      -0.6309
      >>> print(f"{jaxloss.poisson_nll_loss(log_rate, counts, full=True):.4f}")
      1.5474

    References:
      PyTorch ``torch.nn.functional.poisson_nll_loss``.
    """
    fn = "poisson_nll_loss"
    x, y, mask = _prepare(fn, input, target, reduction, where)
    log_input = _inputs.flag(fn, "log_input", log_input)
    full = _inputs.flag(fn, "full", full)
    _checks.check_nonnegative(fn, "eps", eps)
    e = _inputs.scalar(fn, "eps", eps, x.dtype)
    if log_input:
        per = jnp.exp(x) - y * x
    else:
        per = x - y * jnp.log(x + e)
    if full:
        big = y > 1
        safe_y = jnp.where(big, y, 2.0)  # the y <= 1 branch never sees log(0)
        stirling = safe_y * jnp.log(safe_y) - safe_y + 0.5 * jnp.log(2.0 * jnp.pi * safe_y)
        per = per + jnp.where(big, stirling, 0.0)
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    return _reduce(per, mask, w, reduction, axis_name, divide_by_weights=False)


@jax.custom_jvp
def _clamp_var(var: jax.Array, eps: jax.Array) -> jax.Array:
    """``max(var, eps)``, NaN where ``var < 0``; its derivative is 1 in ``var`` everywhere.

    PyTorch clamps ``var`` in place under ``no_grad``, so its gradient is that of the loss
    at the clamped value, passed to ``var`` unchanged (straight through), and ``eps`` has
    none. A negative variance is an error in PyTorch; here, where a compiled program cannot
    raise, it is a NaN loss (and an error under :func:`jaxloss.checked`), never a silent
    clamp.
    """
    return jnp.where(var < 0, jnp.nan, jnp.maximum(var, eps))


@_clamp_var.defjvp
def _clamp_var_jvp(primals, tangents):
    var, eps = primals
    d_var, _ = tangents
    return _clamp_var(var, eps), d_var


def _gaussian_var(fn: str, var: ArrayLike, shape: tuple[int, ...], dtype) -> jax.Array:
    """PyTorch's accepted ``var`` shapes, broadcast to ``shape``."""
    v_given = _checks.given_dtype(var)
    v = jnp.asarray(var)
    vs = tuple(v.shape)
    if not vs:  # PyTorch's float var (a 0-d array is taken the same way)
        _checks.check_nonnegative(fn, "var", var)
    else:
        _checks.check_float(fn, "var", v, given=v_given)
    if not vs or vs == shape:
        pass
    elif len(shape) >= 1 and vs == shape[:-1]:
        v = v[..., None]
    elif len(vs) == len(shape) and [b for a, b in zip(shape, vs, strict=True) if a != b] == [1]:
        pass
    else:
        raise ValueError(
            f"{fn}: `var` of shape {vs} does not fit `input` of shape {shape}: expected {shape} "
            f"(one variance per element), {shape[:-1]} (one per row, shared along the last "
            "axis), the input's shape with 1 in exactly one axis (shared along that axis), or "
            "a scalar."
        )
    _checks.check_values(
        fn, "var", v, low=0.0, expected="a variance (>= 0)",
        hint=" A negative variance has no likelihood; PyTorch raises here too.",
    )
    return jnp.broadcast_to(v.astype(dtype), shape)


@_inputs.public
def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike,
    *,
    full: bool = False,
    eps: ArrayLike = 1e-6,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Gaussian negative log-likelihood, as PyTorch's ``F.gaussian_nll_loss``.

    .. math::

       l_i = \tfrac12 \Big(\log \max(v_i, \epsilon) + \frac{(x_i - y_i)^2}{\max(v_i, \epsilon)}
       \Big) \;+\; [\text{full}]\, \tfrac12 \log 2\pi

    with ``x`` the predicted mean, ``y`` the target and ``v`` the predicted variance. The
    clamp at ``eps`` is PyTorch's, without gradient: the derivative with respect to ``var`` is
    the loss's at the clamped value, passed straight through. "mean" divides by the (kept)
    element count of ``input``.

    Shapes follow PyTorch 2.13's rules, and the loss always has ``input``'s shape:

    * ``var`` has ``input``'s shape (heteroscedastic), ``input``'s shape without the last axis
      (one variance per row: it is unsqueezed there, (N,) for (N, D) input), ``input``'s shape
      with 1 in exactly one axis (shared along that axis, e.g. (N, 1) for (N, D) input, or
      (N, 1, H, W) for (N, C, H, W)), or is a scalar (PyTorch's float ``var``; a 0-d array is
      taken the same way);
    * ``target`` broadcasts to ``input``'s shape by NumPy's rule, as PyTorch's
      ``input - target`` does: ``input``'s shape, that shape with 1 in some axes ((N, 1): one
      target per row), or fewer leading axes ((D,) or a scalar: one target for every row).
      Unlike ``var``, a ``target`` of ``input``'s shape without the last axis is **not**
      unsqueezed: it is aligned from the trailing axis, so (N,) against (N, D) input is an
      error unless N = D, where it pairs ``target[j]`` with column ``j`` (PyTorch's result).
      Pass ``target[..., None]`` for one target per row. ``input`` is never broadcast up
      (PyTorch broadcasts it to ``target``'s shape).

    Args:
      input: float array of any shape, the predicted means.
      target: numeric array that broadcasts to ``input``'s shape (above).
      var: float array of one of the shapes above, or a scalar; values >= 0.
      full: add the constant ``0.5 * log(2 pi)`` (a Python bool).
      eps: the clamp of ``var`` from below, a scalar >= 0 (traceable).
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none" (the elementwise loss has ``input``'s shape).
      where: optional boolean mask broadcastable to ``input``; False elements count as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 input). An
      element with a negative ``var`` has a NaN loss (PyTorch raises; so does
      :func:`jaxloss.checked`).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``var`` of another shape, a concrete scalar
        ``var`` or ``eps`` < 0, a ``target`` that does not broadcast to ``input``'s shape (or
        would broadcast ``input`` up), ``where`` that does not broadcast, an unknown
        ``reduction``; under :func:`jaxloss.checked`, a negative entry of ``var``.
      TypeError: boolean or complex ``weights``; ``full`` not a bool, non-float ``input`` or ``var``
        array, non-numeric ``target``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> mean, y = jnp.array([[0.5, -1.0], [2.0, 0.0]]), jnp.array([[1.0, 0.0], [2.5, 0.5]])
      >>> var = jnp.array([0.5, 2.0])  # one variance per row
      >>> print(f"{jaxloss.gaussian_nll_loss(mean, y, var):.4f}")
      0.3438
      >>> print(f"{jaxloss.gaussian_nll_loss(mean, y, var, full=True):.4f}")
      1.2627
      >>> y_row = jnp.array([[1.0], [2.5]])  # one target per row, as PyTorch broadcasts it
      >>> print(f"{jaxloss.gaussian_nll_loss(mean, y_row, var):.4f}")
      1.4688

    References:
      Nix and Weigend, "Estimating the mean and variance of the target probability
      distribution", 1994; PyTorch ``torch.nn.functional.gaussian_nll_loss``.
    """
    fn = "gaussian_nll_loss"
    x, y, mask = _prepare(
        fn, input, target, reduction, where, broadcast_target=True, also=(var,)
    )
    full = _inputs.flag(fn, "full", full)
    _checks.check_nonnegative(fn, "eps", eps)
    e = _inputs.scalar(fn, "eps", eps, x.dtype)
    # A masked element's variance is 1, like its input and target (see `_prepare`).
    v = _clamp_var(_inputs.masked(_gaussian_var(fn, var, tuple(x.shape), x.dtype), mask, 1.0), e)
    per = 0.5 * (jnp.log(v) + jnp.square(x - y) / v)
    if full:
        per = per + _HALF_LOG_2PI
    w = _checks.as_weights(fn, weights, x.shape, x.dtype)
    return _reduce(per, mask, w, reduction, axis_name, divide_by_weights=False)
