"""Divergences between distributions and knowledge distillation: PyTorch's ``kl_div``, the
generalised Jensen-Shannon divergence (Liger-Kernel's), and Hinton et al.'s distillation loss.

Every term is computed from log-probabilities with ``0 * log 0 = 0``: a class whose target
probability is exactly 0 contributes 0 to the value, and finite (zero) derivatives, whatever
the other distribution puts there, also a ``-inf`` log-probability (a masked class). A class
with positive target mass where the input has none is an infinite divergence, as it should be.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs, _logsumexp
from jaxloss._reduction import global_logsumexp, reduce_loss, reduce_masked, weigh
from jaxloss._softmax import SoftmaxConfig, num_global_classes, softmax_loss

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _kl_terms(log_t: jax.Array, log_i: jax.Array) -> jax.Array:
    """Elementwise ``t * (log t - log i)`` from log-probabilities, 0 where ``t = 0``.

    Both logs are replaced by 0 where ``log t = -inf`` before the product, so neither the
    value nor any derivative sees ``0 * inf``: there the derivatives are exactly 0, the
    limits of ``t (log t - log i + 1)`` and ``-t``.
    """
    absent = jnp.isneginf(log_t)
    lt = jnp.where(absent, 0.0, log_t)
    li = jnp.where(absent, 0.0, log_i)
    return jnp.where(absent, 0.0, jnp.exp(lt) * (lt - li))


def _log_mixture(log_p: jax.Array, log_q: jax.Array, beta: jax.Array) -> jax.Array:
    """``log(beta * p + (1 - beta) * q)`` for ``0 < beta < 1``, from log-probabilities.

    A shifted log-sum-exp whose shift is a constant (stop-gradient); where both ``p`` and
    ``q`` are 0 the result is ``-inf`` with zero derivatives (the sum is replaced by 1 inside
    the log, so no ``1 / 0`` reaches a gradient).
    """
    a = jnp.log(beta) + log_p
    b = jnp.log1p(-beta) + log_q
    shift = jax.lax.stop_gradient(jnp.maximum(a, b))
    shift = jnp.where(jnp.isfinite(shift), shift, 0.0)
    total = jnp.exp(a - shift) + jnp.exp(b - shift)
    some = total > 0
    return jnp.where(some, shift + jnp.log(jnp.where(some, total, 1.0)), -jnp.inf)


def _float_input(fn: str, name: str, x: ArrayLike) -> jax.Array:
    given = _checks.given_dtype(x)
    x = jnp.asarray(x)
    _checks.check_float(fn, name, x, given=given)
    return x


def _check_kl_reduction(fn: str, reduction: str) -> None:
    if reduction not in KL_REDUCTIONS:
        raise ValueError(
            f"{fn}: `reduction` must be one of {KL_REDUCTIONS}, got {reduction!r}. Use "
            "'batchmean' for the KL divergence per sample, 'none' for the elementwise loss."
        )


def _check_kl_target_shape(fn: str, target: tuple[int, ...], shape: tuple[int, ...]) -> None:
    """``target`` broadcasts to ``input``'s ``shape``, but never along the class axis (the
    last): a size-1 class axis against C > 1 classes would give every class the same target
    value (a column of labels or of per-row values, silently spread by PyTorch)."""
    if target and shape and target[-1] == 1 and shape[-1] > 1:
        shared = (1,) * (len(shape) - 1) + shape[-1:]
        examples = f"{shape}" + (
            "" if shared == shape else f", or {shared} for one distribution shared by every row"
        )
        raise ValueError(
            f"{fn}: `target` of shape {target} has a class axis (the last) of size 1, but "
            f"`input` of shape {shape} has {shape[-1]} classes there: it would broadcast one "
            f"value over every class. Expected a target with {shape[-1]} entries along the "
            f"last axis, broadcastable to {shape} (e.g. {examples}). Class indices go through "
            f"`jax.nn.one_hot(target.squeeze(-1), {shape[-1]})`."
        )
    _checks.check_broadcastable(fn, "target", target, shape)


@_inputs.public
def kl_div(
    input: ArrayLike,  # noqa: A002 (PyTorch's name)
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    log_target: bool = False,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""The Kullback-Leibler divergence loss, with PyTorch's ``F.kl_div`` semantics.

    ``input`` holds log-probabilities :math:`\log q`; ``target`` probabilities :math:`p`
    (or log-probabilities with ``log_target=True``). Elementwise

    .. math::

       l = p\,(\log p - \log q), \qquad 0 \log 0 = 0,

    so that summed over a distribution's support it is :math:`\mathrm{KL}(p \,\|\, q)`.
    Reductions as PyTorch's: ``"none"`` the elementwise loss, ``"sum"`` its sum, ``"mean"``
    (PyTorch's default) the sum divided by the number of *elements*, ``"batchmean"`` the sum
    divided by the batch size ``input.shape[0]`` (the KL divergence per sample; a 0-d input
    is just summed). With ``where``, masked elements are dropped: ``"mean"`` divides by the
    kept elements, ``"batchmean"`` by the rows (along axis 0) with a kept element. With
    ``axis_name``, "mean", "batchmean" and "sum" are global over that mapped axis (the
    batch is the sum of the devices' batches).

    Deliberate differences from PyTorch (2.13):

    * a zero target where ``input`` is ``-inf`` (a masked class) gives 0, not NaN; so does a
      ``-inf`` log target with ``log_target=True``;
    * derivatives at a zero target are finite: in ``input``, ``-p = 0``; in a log target,
      exactly 0 (the limit); in a probability target, whose true derivative
      ``log p + 1 - log q`` is ``-inf`` at ``p = 0``, the finite ``-log q`` (PyTorch: NaN).
      Differentiate through log targets when the target is learned;
    * ``target`` broadcasts to ``input``'s shape, not the other way round (PyTorch also
      broadcasts ``input`` up, and "batchmean" then divides by a size that is not the
      batch's), and never along the class axis, the last: a ``target`` whose last axis has
      size 1 against an ``input`` with C > 1 entries there ((N, 1) against (N, C): a column of
      labels or of per-row values) is a ValueError, where PyTorch silently gives every class
      the same target value. What remains of PyTorch's broadcasting is kept: size-1 or
      missing leading axes ((C,) or (1, C): one distribution for every row; (N, 1, C)
      against (N, L, C)) and a 0-d target (one value for every element);
    * every element masked: "mean" and "batchmean" are 0.0, not NaN;
    * bf16/f16 inputs are computed in float32 and the loss is float32.

    Args:
      input: float array of log-probabilities, any shape (batch first for "batchmean").
      target: float array broadcastable to ``input``'s shape, with ``input``'s size along the
        last (class) axis, or 0-d (above): probabilities, or log-probabilities with
        ``log_target=True``.
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        count of kept elements (kept rows for ``"batchmean"``), as without weights.
      reduction: "mean", "batchmean", "sum" or "none".
      log_target: whether ``target`` holds log-probabilities.
      where: optional boolean mask broadcastable to ``input``'s shape.
      axis_name: inside ``shard_map``/``pmap``, makes the reductions global.

    Returns:
      A scalar, or the elementwise loss with ``input``'s shape for "none"; float32 (float64
      for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; unknown ``reduction``, a ``target`` or
        ``where`` that does not broadcast to ``input``'s shape, a ``target`` with a size-1 last
        axis against an ``input`` with more than one entry there.
      TypeError: boolean or complex ``weights``; integer ``input`` or ``target``, non-bool
        ``log_target``.

    Under :func:`jaxloss.checked`, also: negative probability targets (NaN otherwise, as
    PyTorch).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> log_q = jax.nn.log_softmax(jnp.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]]))
      >>> p = jnp.array([[0.2, 0.8, 0.0], [0.1, 0.1, 0.8]])
      >>> print(f"{jaxloss.kl_div(log_q, p, reduction='batchmean'):.4f}")
      0.1099
      >>> print(f"{jaxloss.kl_div(log_q, p):.4f}")
      0.0366
      >>> print(f"{jaxloss.kl_div(log_q, jnp.log(p), log_target=True, reduction='sum'):.4f}")
      0.2199

    References:
      PyTorch ``torch.nn.functional.kl_div`` and ``torch.nn.KLDivLoss``.
    """
    fn = "kl_div"
    _check_kl_reduction(fn, reduction)
    log_target = _inputs.flag(fn, "log_target", log_target)
    x = _float_input(fn, "input", input)
    t = _float_input(fn, "target", target)
    _check_kl_target_shape(fn, tuple(t.shape), tuple(x.shape))
    dtype = _inputs.float_dtype(x, t)
    x = x.astype(dtype)
    t = jnp.broadcast_to(t.astype(dtype), x.shape)
    mask = _checks.as_mask(fn, where, x.shape)
    v = _checks.as_weights(fn, weights, x.shape, dtype)
    # A masked element: input log-probability 0, target probability 1 (log 0), weight 1, a
    # zero term with finite derivatives, so that a NaN or inf there reaches no gradient.
    x = _inputs.masked(x, mask, 0.0)
    t = _inputs.masked(t, mask, 0.0 if log_target else 1.0)
    if v is not None:
        v = _inputs.masked(v, mask, 1.0)
    if log_target:
        per = _kl_terms(t, x)
    else:
        _checks.check_values(
            fn, "target", t, low=0.0, where=mask, expected="probabilities (>= 0)",
            hint=" Pass log_target=True for log-probability targets.",
        )
        positive = t > 0
        t_safe = jnp.where(positive, t, 1.0)
        # t log t with 0 log 0 = 0; NaN for a negative target (as PyTorch), never dropped.
        t_log_t = jnp.where(positive, t_safe * jnp.log(t_safe), jnp.where(t == 0, 0.0, jnp.nan))
        per = t_log_t - t * jnp.where((t == 0) & jnp.isneginf(x), 0.0, x)
    per = weigh(per, v)
    if mask is not None:
        per = jnp.where(mask, per, 0.0)
    if reduction in ("none", "sum"):
        return reduce_loss(per, None, reduction, axis_name)
    if reduction == "mean":
        return reduce_loss(per, None if mask is None else mask.astype(dtype), "mean", axis_name)
    if x.ndim == 0:  # PyTorch: "batchmean" of a 0-d input is the sum
        rows = jnp.ones((), dtype) if mask is None else mask.astype(dtype)
    elif mask is None:
        rows = jnp.ones(x.shape[:1], dtype)
    else:
        rows = jnp.any(mask.reshape(x.shape[0], -1), axis=1).astype(dtype)
    return reduce_loss(per, rows, "mean", axis_name)


@_inputs.public
def jensen_shannon_divergence(
    input: ArrayLike,  # noqa: A002 (kl_div's name)
    target: ArrayLike,
    *,
    beta: ArrayLike = 0.5,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""The generalised Jensen-Shannon divergence, as Liger-Kernel's ``LigerJSD`` defines it.

    ``input`` is the student's :math:`\log Q`, ``target`` the teacher's :math:`\log P`:
    :func:`kl_div`'s order, and Liger's (``LigerJSD(beta)(log_q, log_p)`` is
    ``jensen_shannon_divergence(log_q, log_p, beta=beta)``). Both are log-probabilities. Per
    distribution (row along ``axis``), with :math:`M = \beta P + (1 - \beta) Q`:

    .. math::

       \mathrm{JSD}_\beta(P \,\|\, Q) = \beta\, \mathrm{KL}(P \,\|\, M)
           + (1 - \beta)\, \mathrm{KL}(Q \,\|\, M), \qquad 0 < \beta < 1,

    and, as Liger-Kernel, the forward :math:`\mathrm{KL}(P \| Q)` (target to input, the
    class-axis sum of ``kl_div(input, target, log_target=True, reduction="none")``) at
    :math:`\beta = 0` and the reverse :math:`\mathrm{KL}(Q \| P)` at :math:`\beta = 1` (the
    limits of :math:`\mathrm{JSD}_\beta / \beta` and :math:`\mathrm{JSD}_\beta / (1 - \beta)`:
    the function jumps there, the formula itself being 0). ``beta = 0.5`` is the symmetric JSD.
    ``"mean"`` averages over the kept rows (Liger: the sum divided by the number of
    non-ignored rows), ``"sum"`` sums them, ``"none"`` returns one value per row.

    There is no ``log_target`` flag: :func:`kl_div` has PyTorch's (default False, a
    probability target), but here both arguments enter the mixture :math:`M` alike, Liger
    takes both as log-probabilities, and a flag defaulting to True would give one name two
    defaults; pass ``jnp.log(p)`` for probabilities. Liger's ``shift_labels != ignore_index``
    is ``where=``. Unlike Liger's kernel (gradients for the input only), both arguments are
    differentiable. ``M`` is computed in log space (a log-sum-exp), with ``0 log 0 = 0``, so
    classes where P or Q is exactly 0 (``-inf`` log-probabilities) give finite values and
    gradients.

    Args:
      input: float array of log-probabilities :math:`\log Q` (the student), class axis at
        ``axis``.
      target: float array of log-probabilities :math:`\log P` (the teacher), same shape as
        ``input``.
      beta: scalar in [0, 1] (traceable: ``jax.vmap`` over it works, the endpoints too).
      weights: optional real per-element weights, broadcastable to the row shape (``input``'s
        without ``axis``) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the number of kept rows, as without weights.
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the row shape (the shape without
        ``axis``).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      A scalar for "mean"/"sum", else one value per row; float32 (float64 for float64
      inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; unknown ``reduction``, mismatched shapes, a
        concrete ``beta`` outside [0, 1], a bad ``axis`` or ``where``.
      TypeError: boolean or complex ``weights``; integer inputs.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> log_q = jax.nn.log_softmax(jnp.array([[0.5, 2.0, 1.0], [1.0, 0.0, 1.0]]))  # student
      >>> log_p = jax.nn.log_softmax(jnp.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]]))  # teacher
      >>> print(f"{jaxloss.jensen_shannon_divergence(log_q, log_p):.5f}")
      0.08026
      >>> print(f"{jaxloss.jensen_shannon_divergence(log_q, log_p, beta=0.0):.5f}")
      0.29308
      >>> kl = jaxloss.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1).mean()
      >>> print(f"{kl:.5f}")  # beta=0: KL(P || Q)
      0.29308

    References:
      Liger-Kernel ``LigerJSD`` (linkedin/Liger-Kernel, ``ops/jsd.py``); Lin, "Divergence
      measures based on the Shannon entropy", IEEE Trans. Inf. Theory 1991.
    """
    fn = "jensen_shannon_divergence"
    _checks.check_reduction(fn, reduction)
    lq = _float_input(fn, "input", input)
    lp = _float_input(fn, "target", target)
    _checks.check_same_shape(fn, "input", lq.shape, "target", lp.shape)
    axis = _checks.check_axis(fn, "input", lq, axis)
    _checks.check_scalar(fn, "beta", beta)
    _checks.check_unit_interval(fn, "beta", beta)
    dtype = _inputs.float_dtype(lp, lq)
    lp, lq = lp.astype(dtype), lq.astype(dtype)
    mask = _checks.as_mask(fn, where, lp.shape[:axis] + lp.shape[axis + 1 :])
    v = _checks.as_weights(fn, weights, lp.shape[:axis] + lp.shape[axis + 1 :], dtype)
    # A masked row: both log-probabilities 0 (a zero divergence with finite derivatives).
    lp, lq = _inputs.masked(lp, mask, 0.0, axis=axis), _inputs.masked(lq, mask, 0.0, axis=axis)
    if v is not None:
        v = _inputs.masked(v, mask, 1.0)
    b = jnp.asarray(beta, dtype)
    # Each branch sees harmless inputs where it is not selected (KL(P||P) = 0), so that an
    # infinite KL at a class that only one side supports cannot put 0 * inf into the
    # gradient of the branch that is taken.
    forward = jnp.sum(_kl_terms(lp, jnp.where(b == 0, lq, lp)), axis=axis)
    reverse = jnp.sum(_kl_terms(lq, jnp.where(b == 1, lp, lq)), axis=axis)
    interior = (b > 0) & (b < 1)
    b_in = jnp.where(interior, b, 0.5)  # the unselected branch stays finite, with its grads
    log_m = _log_mixture(lp, lq, b_in)
    mixed = b_in * jnp.sum(_kl_terms(lp, log_m), axis=axis) + (1.0 - b_in) * jnp.sum(
        _kl_terms(lq, log_m), axis=axis
    )
    per = jnp.where(interior, mixed, jnp.where(b == 0, forward, reverse))
    return reduce_masked(per, mask, reduction, axis_name, weights=v)


@_inputs.public
def distillation_loss(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    temperature: ArrayLike,
    targets: ArrayLike | None = None,
    lambda_soft: ArrayLike = 1.0,
    lambda_hard: ArrayLike = 0.0,
    ignore_index: int = -100,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Knowledge distillation (Hinton et al., 2015): softened KL plus hard-label CE.

    Per row (distribution along ``axis``), with :math:`T` the temperature and
    :math:`\lambda_s`, :math:`\lambda_h` the weights of the soft and the hard term:

    .. math::

       l_i = \lambda_s\, T^2\, \mathrm{KL}\big(\mathrm{softmax}(t_i / T) \,\|\,
             \mathrm{softmax}(s_i / T)\big) + \lambda_h\, \mathrm{CE}(s_i, y_i)

    The two weights add, as ``lambda_dice``/``lambda_ce`` of :func:`dice_cross_entropy_loss`
    (MONAI's names) and Liger-Kernel's ``weight_soft_loss``/``weight_hard_loss``; the convex
    mix :math:`(1 - a)` soft :math:`+\, a` hard of many recipes is ``lambda_soft=1 - a,
    lambda_hard=a``. The defaults are the soft term alone.

    The :math:`T^2` keeps the soft term's gradients on the scale of the hard term's as
    :math:`T` changes (Hinton et al., section 2). The KL is computed from log-softmaxes with
    ``0 log 0 = 0``, so a teacher probability of exactly 0 (a ``-inf`` teacher logit, or one
    that underflows) gives finite values and gradients (optax's ``kl_divergence`` gives NaN
    gradients there). The hard term is :func:`cross_entropy` at temperature 1. A row is
    dropped from both terms when its target is ``ignore_index`` or ``where`` is False;
    ``"mean"`` averages over the kept rows. This equals PyTorch's usual recipe
    ``lambda_soft * T**2 * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1),
    reduction="batchmean") + lambda_hard * F.cross_entropy(s, y)`` for (N, C) logits; for
    (N, L, C) tokens "mean" averages over the N*L kept tokens, not over N.

    Args:
      student_logits: float array with the class axis at ``axis``.
      teacher_logits: float array of the same shape (differentiable too: wrap it in
        ``jax.lax.stop_gradient`` for a frozen teacher).
      temperature: scalar > 0 (traceable).
      targets: optional integer class indices with the logits' shape without ``axis``; needed
        when ``lambda_hard`` is not 0.
      lambda_soft: the weight :math:`\lambda_s` of the softened KL, scalar >= 0 (traceable).
      lambda_hard: the weight :math:`\lambda_h` of the cross-entropy, scalar >= 0
        (traceable).
      ignore_index: target value whose rows are dropped.
      weights: optional real per-element weights, broadcastable to the row shape (the logits'
        without ``axis``) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the number of kept rows, as without weights.
      reduction: "mean", "sum" or "none" (per row, 0 at dropped rows).
      axis: the class axis.
      where: optional boolean mask broadcastable to the row shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global.
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``student_logits`` and ``teacher_logits`` both hold
        this device's contiguous block of ``C / axis_size`` classes, in axis-index order, and
        ``targets`` are global class ids. Only per-row statistics cross devices (each
        softmax's logsumexp, the KL's per-row sum, the target's logit); value and gradients
        equal the unsharded loss.

    Returns:
      Scalar or per-row loss, float32 (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete ``temperature <= 0``, a concrete
        negative ``lambda_soft`` or ``lambda_hard``, ``lambda_hard`` other than a concrete 0
        without ``targets``, mismatched shapes, and what :func:`cross_entropy` raises for
        ``targets``.
      TypeError: boolean or complex ``weights``; integer logits, non-integer ``targets``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> student = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> teacher = jnp.array([[3.0, 1.0, -2.0], [0.0, 1.0, 2.0]])
      >>> print(f"{jaxloss.distillation_loss(student, teacher, temperature=2.0):.4f}")
      0.2186
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.distillation_loss(student, teacher, temperature=2.0, targets=targets, lambda_soft=0.5, lambda_hard=0.5):.4f}")
      0.1970

    References:
      Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", 2015.
    """  # noqa: E501
    fn = "distillation_loss"
    _checks.check_reduction(fn, reduction)
    (s, t), dtype = _inputs.floats(
        fn, _inputs.tensor("student_logits", student_logits),
        _inputs.tensor("teacher_logits", teacher_logits),
    )
    _checks.check_same_shape(fn, "student_logits", s.shape, "teacher_logits", t.shape)
    axis = _checks.check_axis(fn, "student_logits", s, axis)
    _checks.check_ignore_index(fn, ignore_index)
    for name, value in (
        ("temperature", temperature), ("lambda_soft", lambda_soft), ("lambda_hard", lambda_hard)
    ):
        _checks.check_scalar(fn, name, value)
    _checks.check_positive(fn, "temperature", temperature)
    _checks.check_nonnegative(fn, "lambda_soft", lambda_soft)
    _checks.check_nonnegative(fn, "lambda_hard", lambda_hard)
    if targets is None and _checks.concrete_float(lambda_hard) != 0.0:
        raise ValueError(
            f"{fn}: `lambda_hard`={lambda_hard!r} needs `targets` (the hard labels of the "
            "cross-entropy term); pass targets=, or leave lambda_hard at 0."
        )
    row_shape = s.shape[:axis] + s.shape[axis + 1 :]
    keep = _inputs.mask(fn, where, row_shape)
    v = _inputs.element_weights(fn, weights, row_shape, dtype)
    _, num_classes = num_global_classes(fn, s.shape[axis], class_axis_name)
    y = None
    rows: jax.Array | None = keep
    if targets is not None:
        given_targets = _inputs.tensor("targets", targets)
        y = given_targets.value
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise TypeError(
                f"{fn}: `targets` must be integer class indices, got dtype "
                f"{y.dtype if given_targets.given is None else given_targets.given}."
            )
        _checks.check_targets_shape(fn, s.shape, y.shape, axis)
        rows = _inputs.labels(fn, y, num_classes, ignore_index=ignore_index, where=keep).keep
    if rows is not None:  # dropped rows' logits (-inf padding, an inf) get no tangent
        s = _logsumexp.guard_rows(s, jnp.expand_dims(rows, axis))
        t = _logsumexp.guard_rows(t, jnp.expand_dims(rows, axis))
    temp = jnp.asarray(temperature, dtype)
    soft = _soft_kl(s, t, temp, axis, class_axis_name)
    per = jnp.asarray(lambda_soft, dtype) * jnp.square(temp) * soft
    if y is not None:
        # cross_entropy per row: 0 where ignored or masked, NaN for an out-of-range label.
        hard = softmax_loss(
            SoftmaxConfig(fn, axis, "none", ignore_index, class_axis_name=class_axis_name),
            s, y, where=keep,
        )
        per = per + jnp.asarray(lambda_hard, dtype) * hard
    return reduce_masked(per, rows, reduction, axis_name, weights=v)


def _kl_and_dl(u, t, inv_temp, lse_t):
    """Per class ``p_t (log p_t - log p_s)`` of :func:`_soft_kl` and its derivative in ``u``,
    from ``u = s - T * lse_s`` (so ``log p_s = u / T``) and ``log p_t = t / T - lse_t``:
    0 with zero derivatives where ``p_t = 0`` exactly, a ``-inf`` teacher logit (``0 log 0 =
    0``, as :func:`_kl_terms`; the logit is replaced by 0 before the math, so that no
    ``0 * inf`` reaches a derivative, in ``T`` either), ``inf`` where ``p_t > 0 = p_s``."""
    absent = jnp.isneginf(t)
    log_t = jnp.where(absent, 0.0, t) * inv_temp - lse_t
    p_t = jnp.exp(log_t)
    value = p_t * (log_t - u * inv_temp)
    return jnp.where(absent, 0.0, value), jnp.where(absent, 0.0, -p_t * inv_temp)


def _soft_kl(s, t, temp, axis, class_axis_name):
    """Per row ``KL(softmax(t / T) || softmax(s / T))`` along ``axis`` (over every device's
    classes with ``class_axis_name``).

    One row sum of the logits (:func:`jaxloss._logsumexp.log_prob_sum`) whose gradient in
    ``s`` is written in closed form, ``(p_s - p_t) / T``, and recomputed in the backward pass
    (one elementwise pass, no logits-sized temporary; autodiff of the log-softmaxes kept
    several); the teacher's gradient is autodiff of the class term, rematerialised too. The
    logsumexps' tangents are rematerialised (:func:`jaxloss._logsumexp.logsumexp`).
    """
    inv_temp = 1.0 / temp

    def lse(x):
        out = _logsumexp.logsumexp(x, axis, inv_temp)
        out = out if class_axis_name is None else global_logsumexp(out, class_axis_name)
        return jnp.expand_dims(out, axis)

    kl = _logsumexp.log_prob_sum(_kl_and_dl, axis, s, temp * lse(s), t, inv_temp, lse(t))
    return kl if class_axis_name is None else jax.lax.psum(kl, class_axis_name)
