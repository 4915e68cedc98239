"""Margin, ranking and embedding losses: PyTorch's hinge-style losses under PyTorch's names.

Every function here computes what ``torch.nn.functional`` computes under the same name in
PyTorch 2.13, with its defaults and reductions (measured, see ``tests/test_margin.py``).
The differences are jaxloss's everywhere: shape mismatches that PyTorch broadcasts (with a
warning, or silently) are named errors, bf16/f16 inputs are computed in float32, an
out-of-range integer label that is only known under ``jit`` makes its sample's loss NaN
(PyTorch raises), ``where=`` masks samples out, and "mean" over an all-masked batch is 0.

Non-differentiable points take PyTorch's gradient. The hinge ``max(0, z)`` is PyTorch's
``clamp_min(z, 0)`` in the losses PyTorch builds from it (``margin_ranking_loss``,
``hinge_embedding_loss``, ``cosine_embedding_loss``, the triplet losses): at ``z == 0`` the
gradient is the active branch's. ``multi_margin_loss`` and ``multilabel_margin_loss`` are
hand-written kernels in PyTorch that count a term only when ``z > 0``: at ``z == 0`` their
gradient is 0. A norm of a zero vector has gradient 0, and ``swap``'s minimum splits the
gradient evenly at a tie, as in PyTorch.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _check_runtime, _checks, _inputs
from jaxloss._reduction import reduce_masked

# ATen's EPSILON in cosine_embedding_loss (added to each squared magnitude).
_COSINE_EPS = 1e-12


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _float_inputs(
    fn: str, reduction: str, *, target: ArrayLike | None = None, **inputs: ArrayLike
) -> tuple[list[jax.Array], Any]:
    """Converts the float inputs, checks their dtype, and casts them to one compute dtype:
    ``_inputs.float_dtype`` of the inputs and of ``target`` when it is floating (it votes; it
    is converted and checked by :func:`_target`)."""
    _checks.check_reduction(fn, reduction)
    arrays = []
    for name, x in inputs.items():
        given = _checks.given_dtype(x)
        x = jnp.asarray(x)
        _checks.check_float(fn, name, x, given=given)
        arrays.append(x)
    voters = [*arrays] if target is None else [*arrays, jnp.asarray(target)]
    dtype = _inputs.float_dtype(*voters)
    return [x.astype(dtype) for x in arrays], dtype


_TARGET_KINDS = {  # kind: (accepted dtype kinds, what the target holds)
    "signs": ("fi", "a real or integer array of 1 and -1"),
    "labels": ("i", "an integer array of class indices"),
    "label lists": ("i", "an integer array of class indices ending with -1"),
    "multilabel": ("fib", "numeric (0/1 labels or probabilities)"),
}


def _target(fn: str, target: ArrayLike, kind: str) -> jax.Array:
    """Converts ``target`` and checks its dtype against what a ``kind`` target may hold."""
    accepted, what = _TARGET_KINDS[kind]
    given = _checks.given_dtype(target)
    target = jnp.asarray(target)
    dtype = target.dtype
    if dtype.kind in "iu":
        ok = "i" in accepted
    else:
        ok = dtype.kind in accepted or (jnp.issubdtype(dtype, jnp.floating) and "f" in accepted)
    if not ok:
        hint = ""
        if accepted == "i" and jnp.issubdtype(dtype, jnp.floating):
            hint = " Cast it with `target.astype(jnp.int32)`."
        raise TypeError(
            f"{fn}: `target` must be {what}, got dtype {dtype if given is None else given}."
            + hint
        )
    # Labels compared with a class count above their dtype's range (256 classes, int8 labels)
    # must not wrap: compare at least as int32.
    return _inputs.widened(target) if "i" in accepted and dtype.kind in "iu" else target


def _class_axis(fn: str, name: str, x: jax.Array, what: str = "class") -> int:
    """The size of the last (class or feature) axis, which must exist and be non-empty."""
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(
            f"{fn}: `{name}` must have a non-empty {what} axis last, shape (..., C), "
            f"got shape {x.shape}."
        )
    return x.shape[-1]


def _class_axis_of(fn: str, x: jax.Array, axis: Any) -> int:
    """``input``'s class axis ``axis``, validated as in every loss with a class axis and
    normalised to >= 0; it must not be empty."""
    ax = _checks.check_axis(fn, "input", x, axis)
    if x.shape[ax] == 0:
        raise ValueError(
            f"{fn}: `input` has no classes along axis {ax} (shape {x.shape}); give it one "
            "entry per class."
        )
    return ax


def _one_sample(fn: str, x: jax.Array, axis: Any) -> jax.Array:
    """PyTorch's vector forms of the multi-class margin losses, as a (C,) row: a (C,) input is
    one sample, and a 0-d input one sample of one class (C = 1, PyTorch's reading)."""
    if x.ndim == 1:
        _class_axis_of(fn, x, axis)
        return x
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{fn}: `axis` must be a Python int, got {axis!r}.")
    if axis not in (-1, 0):
        raise ValueError(
            f"{fn}: `axis`={axis} is out of range for `input` of shape () (one sample of one "
            "class, as PyTorch reads a 0-d input); expected -1 or 0."
        )
    return x.reshape(1)


def _reduce(
    fn: str,
    per: jax.Array,
    mask: jax.Array | None,
    weights: ArrayLike | None,
    reduction: str,
    axis_name: str | None,
) -> jax.Array:
    """``reduce_masked`` with the per-element ``weights`` validated against ``per``'s shape
    (the shape ``where`` broadcasts to): they rescale, the count stays the kept elements'. A
    masked element's weight is taken as 1 (:func:`_inputs.masked`), so that a NaN or inf
    there reaches no gradient."""
    w = _checks.as_weights(fn, weights, per.shape, per.dtype)
    if w is not None:
        w = _inputs.masked(w, mask, 1.0)
    return reduce_masked(per, mask, reduction, axis_name, weights=w)


def _hinge(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` as PyTorch's ``clamp_min``: gradient 1 at ``z == 0``; NaN stays NaN."""
    return jnp.where(z < 0, jnp.zeros_like(z), z)


def _hinge_strict(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` counting only ``z > 0`` (ATen's multi-margin kernels): gradient 0 at
    ``z == 0``; NaN stays NaN."""
    return jnp.where(z <= 0, jnp.zeros_like(z), z)


def _labels_in_range(
    fn: str, name: str, target: jax.Array, low: int, high: int, mask: jax.Array | None,
    expected: str,
) -> jax.Array:
    """Integer labels must lie in ``[low, high]``; returns where they do (elementwise).

    Concrete labels (eager calls) outside the range raise a ``ValueError`` at once, as
    PyTorch does; under :func:`jaxloss.checked` the same check runs inside ``jit`` too.
    Traced labels are not visible: the caller makes the affected losses NaN. Masked-out
    elements (``mask`` False, broadcast to ``target``) are not checked.
    """
    if not isinstance(target, jax.core.Tracer) and not _check_runtime.checking_active():
        t = np.asarray(target)
        bad = (t < low) | (t > high)
        if mask is not None and not isinstance(mask, jax.core.Tracer):
            bad &= np.broadcast_to(np.asarray(mask), t.shape)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{fn}: `{name}` must be {expected}, got {t[index]} at index {index}."
            )
    _checks.check_values(fn, name, target, low=low, high=high, where=mask, expected=expected)
    return (target >= low) & (target <= high)


@jax.custom_jvp
def _sqrt0(s: jax.Array) -> jax.Array:
    """``sqrt(s)`` for ``s >= 0`` whose derivative at 0 is 0 (PyTorch's norm backward of a zero
    vector), not ``inf``. A custom JVP rather than ``where`` guards around ``sqrt``: the guards
    made the triplet losses' backward pass 1.4x slower on CPU."""
    return jnp.sqrt(s)


@_sqrt0.defjvp
def _sqrt0_jvp(primals, tangents):
    (s,), (ds,) = primals, tangents
    r = jnp.sqrt(s)
    pos = s > 0
    return r, jnp.where(pos, ds / (2.0 * jnp.where(pos, r, jnp.ones_like(r))), jnp.zeros_like(r))


def _pnorm(d: jax.Array, p: float) -> jax.Array:
    """``||d||_p`` over the last axis with PyTorch's gradients: 0 for a zero vector, and
    ``sign(0) = 0`` for a zero entry (p = 1)."""
    if p == 2.0:
        return _sqrt0(jnp.sum(d * d, axis=-1))
    a = d * jnp.sign(d)  # |d| with gradient sign(d), 0 at 0 (jnp.abs has 1 there)
    if p == 1.0:
        return jnp.sum(a, axis=-1)
    if p == float("inf"):
        return jnp.max(a, axis=-1)
    s = jnp.sum(a**p, axis=-1)
    pos = s > 0
    return jnp.where(pos, jnp.where(pos, s, jnp.ones_like(s)) ** (1.0 / p), jnp.zeros_like(s))


def _pairwise_distance(x1: jax.Array, x2: jax.Array, p: float, eps: jax.Array) -> jax.Array:
    """PyTorch's ``F.pairwise_distance(x1, x2, p, eps)``: ``||x1 - x2 + eps||_p`` over the last
    axis (``eps`` is added to the difference, not used as a clamp)."""
    return _pnorm(x1 - x2 + eps, p)


def _check_norm_order(fn: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or isinstance(p, jax.core.Tracer):
        raise TypeError(
            f"{fn}: `p` must be a Python number (the norm's order is structure, not data), "
            f"got {p!r}."
        )
    p = float(p)
    if not p > 0:
        raise ValueError(
            f"{fn}: `p` must be > 0 (or inf), got {p}. PyTorch's p = 0 counts the non-zero "
            "entries, whose gradient is 0 everywhere: no use in a loss."
        )
    return p


def _check_positive_margin(fn: str, margin: Any) -> None:
    v = _checks.concrete_float(margin)
    if v is not None and not v > 0:
        raise ValueError(f"{fn}: `margin` must be > 0, got {v} (PyTorch raises too).")


def _same_shapes(fn: str, first: tuple[str, jax.Array], *others: tuple[str, jax.Array]) -> None:
    for name, x in others:
        _checks.check_same_shape(fn, first[0], first[1].shape, name, x.shape)


# ---------------------------------------------------------------------------------------------
# elementwise losses
# ---------------------------------------------------------------------------------------------


@_inputs.public
def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    *,
    margin: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Margin ranking loss, as PyTorch's ``F.margin_ranking_loss``.

    .. math::

       l_i = \max(0,\; -y_i\, (x^{(1)}_i - x^{(2)}_i) + \text{margin})

    ``y = 1`` says the first input should rank higher (be larger), ``y = -1`` the second.
    "mean" is the mean over all (kept) elements. At the hinge (``l_i = 0`` with the
    argument exactly 0) the gradient is the active branch's, as PyTorch's ``clamp_min``.

    Args:
      input1, input2: float arrays of one shape (any).
      target: same shape, float or integer, nominally 1 or -1 (any value is used as given,
        as in PyTorch). A float target is differentiable: ``d l / d y = -(x1 - x2)`` where
        the hinge is active (PyTorch's derivative).
      margin: scalar (traceable).
      weights: optional real per-element weights, broadcastable to ``input1`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to the inputs; False elements are absent
        (0 loss, not counted in the mean).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the inputs' shape for "none"; float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; shapes differ (PyTorch broadcasts), non-scalar
        ``margin``, bad ``reduction`` or ``where``.
      TypeError: boolean or complex ``weights``; integer inputs, a non-numeric target, a non-boolean
        ``where``.

    References:
      PyTorch ``torch.nn.MarginRankingLoss`` (ATen ``margin_ranking_loss``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x1, x2 = jnp.array([0.5, 2.0, -1.0]), jnp.array([1.0, 0.0, 0.5])
      >>> y = jnp.array([1.0, -1.0, -1.0])
      >>> print(f"{jaxloss.margin_ranking_loss(x1, x2, y, margin=0.5):.4f}")
      1.1667
    """
    fn = "margin_ranking_loss"
    (x1, x2), dtype = _float_inputs(fn, reduction, input1=input1, input2=input2, target=target)
    y = _target(fn, target, "signs")
    _same_shapes(fn, ("input1", x1), ("input2", x2), ("target", y))
    mask = _checks.as_mask(fn, where, x1.shape)
    m = _inputs.scalar(fn, "margin", margin, dtype)
    x1, x2 = _inputs.masked(x1, mask, 0.0), _inputs.masked(x2, mask, 0.0)
    y = _inputs.masked(y, mask, 1)
    per = _hinge(-y.astype(dtype) * (x1 - x2) + m)
    return _reduce(fn, per, mask, weights, reduction, axis_name)


@_inputs.public
def hinge_embedding_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Hinge embedding loss, as PyTorch's ``F.hinge_embedding_loss``.

    .. math::

       l_i = [y_i \ne -1]\; x_i \;+\; [y_i \ne 1]\, \max(0,\; \text{margin} - x_i)

    so ``x_i`` for ``y_i = 1`` and ``max(0, margin - x_i)`` for ``y_i = -1``; ``x`` is
    usually a distance. As in PyTorch, a target that is neither 1 nor -1 gets both terms.
    "mean" is the mean over all (kept) elements. At ``x_i = margin`` with ``y_i = -1`` the
    gradient is -1 (the active branch's, as PyTorch's ``clamp_min``). The target selects a
    branch and carries no gradient.

    Args:
      input: float array of any shape.
      target: same shape, float or integer, nominally 1 or -1.
      margin: scalar (traceable).
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or ``input``'s shape for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``target``'s shape differs from ``input``'s
        (PyTorch broadcasts), non-scalar ``margin``, bad ``reduction`` or ``where``.
      TypeError: boolean or complex ``weights``; integer ``input``, non-numeric ``target``,
        non-boolean ``where``.

    References:
      PyTorch ``torch.nn.HingeEmbeddingLoss`` (ATen ``hinge_embedding_loss``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> d = jnp.array([0.3, 2.0, 0.4])
      >>> y = jnp.array([1, -1, -1])
      >>> print(f"{jaxloss.hinge_embedding_loss(d, y):.4f}")
      0.3000
    """
    fn = "hinge_embedding_loss"
    (x,), dtype = _float_inputs(fn, reduction, input=input, target=target)
    y = _target(fn, target, "signs")
    _same_shapes(fn, ("input", x), ("target", y))
    mask = _checks.as_mask(fn, where, x.shape)
    m = _inputs.scalar(fn, "margin", margin, dtype)
    zeros = jnp.zeros_like(x)
    per = jnp.where(y != 1, _hinge(m - x), zeros) + jnp.where(y != -1, x, zeros)
    return _reduce(fn, per, mask, weights, reduction, axis_name)


@_inputs.public
def soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Soft margin (two-class logistic) loss, as PyTorch's ``F.soft_margin_loss``.

    .. math::

       l_i = \log(1 + e^{-y_i x_i}) = \operatorname{softplus}(-y_i x_i)

    computed as ``softplus``, so it stays exact where PyTorch's float32
    ``log(1 + exp(-y x))`` overflows (``-y x`` above ~88: PyTorch gives ``inf`` and a NaN
    gradient, jaxloss ``-y x`` and gradient ``-y``). "mean" is the mean over all (kept)
    elements.

    Args:
      input: float array of any shape.
      target: same shape, float or integer, nominally 1 or -1. A float target is
        differentiable here (``-x sigmoid(-y x)``); PyTorch refuses to differentiate it.
      weights: optional real per-element weights, broadcastable to ``input`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or ``input``'s shape for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``target``'s shape differs from ``input``'s,
        bad ``reduction`` or ``where``.
      TypeError: boolean or complex ``weights``; integer ``input``, non-numeric ``target``,
        non-boolean ``where``.

    References:
      PyTorch ``torch.nn.SoftMarginLoss`` (ATen ``soft_margin_loss``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([2.0, -1.0, 0.5])
      >>> y = jnp.array([1.0, 1.0, -1.0])
      >>> print(f"{jaxloss.soft_margin_loss(x, y):.4f}")
      0.8048
    """
    fn = "soft_margin_loss"
    (x,), dtype = _float_inputs(fn, reduction, input=input, target=target)
    y = _target(fn, target, "signs")
    _same_shapes(fn, ("input", x), ("target", y))
    mask = _checks.as_mask(fn, where, x.shape)
    x, y = _inputs.masked(x, mask, 0.0), _inputs.masked(y, mask, 1)
    per = jax.nn.softplus(-y.astype(dtype) * x)
    return _reduce(fn, per, mask, weights, reduction, axis_name)


# ---------------------------------------------------------------------------------------------
# multi-class and multi-label losses (class axis `axis`, last by default: PyTorch's (N, C))
# ---------------------------------------------------------------------------------------------


def _broadcast_class_weights(
    fn: str, class_weights: ArrayLike, shape: tuple[int, ...], axis: int, dtype: Any
) -> jax.Array:
    """``class_weights`` broadcast to the (moved, class axis last) ``shape``: a (C,) vector
    lies along the class axis ``axis`` of the caller's input; any other shape broadcasts to
    the caller's input shape by NumPy's rule (PyTorch multiplies ``weight`` into the (N, C)
    per-element loss)."""
    w = jnp.asarray(class_weights)
    _checks.check_weights_dtype(fn, "class_weights", w)
    num_classes = shape[-1]
    given = shape[:axis] + shape[-1:] + shape[axis:-1]  # the caller's layout
    if w.shape == (num_classes,):
        return jnp.broadcast_to(w.astype(dtype), shape)
    try:
        ok = np.broadcast_shapes(w.shape, given) == given
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: `class_weights` of shape {w.shape} must be one weight per class, shape "
            f"({num_classes},) (along the class axis {axis}), or broadcast to `input`'s shape "
            f"{given} (NumPy broadcasting from the trailing axis, PyTorch's `weight` rule), "
            f"e.g. {given} per element or {given[:-1] + (1,)} per sample."
        )
    w = jnp.broadcast_to(w.astype(dtype), given)
    return jnp.moveaxis(w, axis, -1)


@_inputs.public
def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Multi-label one-versus-all logistic loss, as PyTorch's ``F.multilabel_soft_margin_loss``.

    .. math::

       l_n = -\frac{1}{C} \sum_c w_{nc} \big[\, y_{nc} \log\sigma(x_{nc})
             + (1 - y_{nc}) \log\sigma(-x_{nc}) \big]

    one loss per sample (the mean of the per-class binary cross-entropies, weighted), in log
    space (``log_sigmoid``). "mean" is the mean over samples, not divided by any weight sum,
    exactly as PyTorch.

    Args:
      input: float array with the class axis at ``axis`` ((C,) or (N, C) in PyTorch).
      target: same shape, float (soft labels allowed, differentiable, as in PyTorch) or
        integer/boolean 0/1.
      class_weights: optional weights :math:`w`, PyTorch's ``weight`` (traceable), which
        multiplies the per-element loss before the mean over the classes: a (C,) vector is
        one weight per class, along ``axis`` (for every ``axis``); any other shape broadcasts
        to ``input``'s by NumPy's rule, as PyTorch's, e.g. (N, C) per element or (N, 1) per
        sample (with the class axis last, a (C,) vector is the same under both readings).
      weights: optional real per-element weights, broadcastable to the sample shape (``input``'s
        without the class axis) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the number of kept samples, as without weights.
      reduction: "mean", "sum" or "none".
      axis: the class axis of ``input`` and ``target`` (PyTorch's layout is (N, C): -1).
      where: optional boolean mask broadcastable to the sample shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the sample shape (``input``'s without ``axis``) for "none"; float32 (float64
      for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``target``'s shape differs from ``input``'s
        (PyTorch broadcasts it); a 0-d ``input``, an empty class axis, ``axis`` out of range;
        ``class_weights`` neither (C,) nor broadcastable to ``input``'s shape; bad ``reduction``
        or ``where``.
      TypeError: boolean or complex ``weights`` or ``class_weights``; integer ``input``,
        non-numeric ``target``, non-boolean ``where``, ``axis`` not an int.

    References:
      PyTorch ``torch.nn.MultiLabelSoftMarginLoss`` (``torch/nn/functional.py``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
      >>> y = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
      >>> print(f"{jaxloss.multilabel_soft_margin_loss(x, y):.4f}")
      0.3413
      >>> print(f"{jaxloss.multilabel_soft_margin_loss(x.T, y.T, axis=0):.4f}")
      0.3413
    """
    fn = "multilabel_soft_margin_loss"
    (x,), dtype = _float_inputs(fn, reduction, input=input, target=target)
    y = _target(fn, target, "multilabel")
    ax = _class_axis_of(fn, x, axis)
    _same_shapes(fn, ("input", x), ("target", y))
    x, y = jnp.moveaxis(x, ax, -1), jnp.moveaxis(y, ax, -1).astype(dtype)
    num_classes = x.shape[-1]
    mask = _checks.as_mask(fn, where, x.shape[:-1])
    x, y = _inputs.masked(x, mask, 0.0, axis=-1), _inputs.masked(y, mask, 0.0, axis=-1)
    per_class = -(y * jax.nn.log_sigmoid(x) + (1.0 - y) * jax.nn.log_sigmoid(-x))
    if class_weights is not None:
        w = _broadcast_class_weights(fn, class_weights, x.shape, ax, dtype)
        per_class = w * per_class
    per = jnp.sum(per_class, axis=-1) / num_classes
    return _reduce(fn, per, mask, weights, reduction, axis_name)


@_inputs.public
def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    p: int = 1,
    margin: ArrayLike = 1.0,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Multi-class hinge loss, as PyTorch's ``F.multi_margin_loss``.

    .. math::

       l_n = \frac{w_{y_n}}{C} \sum_{i \ne y_n} \max(0,\; \text{margin} - x_{n y_n} + x_{ni})^p

    The class weight multiplies the powered hinge, as PyTorch computes it (its documentation
    writes ``max(0, w[y] (margin - x[y] + x[i]))^p``, which differs for ``p = 2``; the
    kernel, and jaxloss, compute the formula above). "mean" is the mean over samples, not
    divided by a weight sum. A term counts only where its hinge is > 0, so at exactly
    ``margin - x_y + x_i = 0`` the gradient is 0, as in PyTorch's kernel.

    Shapes: ``input`` has the class axis at ``axis`` and ``target`` ``input``'s shape without
    it ((N, C) and (N,) in PyTorch, which has no other batch shapes). PyTorch's vector forms
    are kept: a (C,) ``input`` is one sample, whose ``target`` is a 0-d index or of shape
    (1,), and "none" returns the target's shape (``()`` or ``(1,)``), as PyTorch; a 0-d
    ``input`` is one sample of one class (C = 1, so the target must be 0 and the loss is 0).

    Args:
      input: float array with the class axis at ``axis``; (C,) or 0-d as above.
      target: integer class indices, in [0, C), of ``input``'s shape without ``axis``
        (() or (1,) for a (C,) or 0-d ``input``).
      p: 1 or 2 (static).
      margin: scalar (traceable).
      class_weights: optional (C,) per-class weights, PyTorch's ``weight`` (traceable).
      weights: optional real per-element weights, broadcastable to ``target`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept samples, as without weights.
      reduction: "mean", "sum" or "none".
      axis: the class axis of ``input`` (PyTorch's layout is (N, C): -1); -1 or 0 for a 0-d
        ``input``.
      where: optional boolean mask broadcastable to ``target``'s shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or ``target``'s shape for "none"; float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``p`` not 1 or 2; a concrete label outside [0,
        C) (PyTorch: RuntimeError); ``target`` of the wrong shape; an empty class axis, ``axis``
        out of range; wrong ``class_weights`` shape; non-scalar ``margin``; bad ``reduction`` or
        ``where``. Labels only known under ``jit`` are not checked (that sample's loss is NaN)
        unless the call is wrapped in :func:`jaxloss.checked`.
      TypeError: boolean or complex ``weights``; integer ``input``, non-integer ``target``,
        non-boolean ``where``, ``axis`` not an int.

    References:
      PyTorch ``torch.nn.MultiMarginLoss`` (ATen ``LossMultiMargin.cpp``); Weston and
      Watkins, "Multi-class support vector machines", 1998.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8], [1.0, 0.0, 0.5, 0.0]])
      >>> y = jnp.array([3, 0])
      >>> print(f"{jaxloss.multi_margin_loss(x, y):.4f}")
      0.2250
      >>> w = jnp.array([1.0, 2.0, 3.0, 4.0])
      >>> print(f"{jaxloss.multi_margin_loss(x, y, p=2, class_weights=w):.4f}")
      0.3363
      >>> print(f"{jaxloss.multi_margin_loss(x.T, y, axis=0):.4f}")
      0.2250
    """
    fn = "multi_margin_loss"
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"{fn}: `p` must be 1 or 2 (PyTorch supports only these), got {p!r}.")
    (x,), dtype = _float_inputs(fn, reduction, input=input)
    y = _target(fn, target, "labels")
    if x.ndim <= 1:
        row = _one_sample(fn, x, axis)
        if y.shape not in ((), (1,)):
            raise ValueError(
                f"{fn}: `target` must be one class index, of shape () or (1,), for `input` of "
                f"shape {x.shape} (one sample), got shape {y.shape}."
            )
        x = row.reshape(y.shape + row.shape)
    else:
        ax = _class_axis_of(fn, x, axis)
        expected = x.shape[:ax] + x.shape[ax + 1 :]
        if y.shape != expected:
            raise ValueError(
                f"{fn}: `target` must have the shape of `input` without its class axis (axis "
                f"{ax}): expected {expected}, got {y.shape} for input of shape {x.shape}."
            )
        x = jnp.moveaxis(x, ax, -1)
    num_classes = x.shape[-1]
    mask = _checks.as_mask(fn, where, y.shape)
    m = _inputs.scalar(fn, "margin", margin, dtype)
    ok = _labels_in_range(fn, "target", y, 0, num_classes - 1, mask,
                          f"class indices in [0, {num_classes})")
    safe = jnp.where(ok, y, jnp.zeros_like(y))[..., None]
    x = _inputs.masked(x, mask, 0.0, axis=-1)
    classes = jnp.arange(num_classes, dtype=y.dtype).reshape((1,) * y.ndim + (num_classes,))
    x_y = jnp.take_along_axis(x, safe, axis=-1)
    h = _hinge_strict(m - x_y + x)
    if p == 2:
        h = h * h
    h = jnp.where(classes == safe, jnp.zeros_like(h), h)
    per = jnp.sum(h, axis=-1) / num_classes
    if class_weights is not None:
        w = jnp.asarray(class_weights)
        _checks.check_class_vector(fn, "class_weights", w, num_classes)
        per = w.astype(dtype)[safe[..., 0]] * per
    per = jnp.where(ok, per, jnp.full_like(per, jnp.nan))
    return _reduce(fn, per, mask, weights, reduction, axis_name)


def _listed_counts(t: jax.Array, num_classes: int, dtype: Any) -> jax.Array:
    """``counts[m, c]``: how often class ``c`` is listed in row ``m`` of (M, C) targets in
    PyTorch's format (the entries before the row's first negative one). O(M C), a scatter."""
    listed = jnp.cumsum(t < 0, axis=-1) == 0
    index = jnp.where(listed & (t < num_classes), t, num_classes)  # num_classes: dropped

    def row(i: jax.Array, w: jax.Array) -> jax.Array:
        return jnp.zeros((num_classes,), dtype).at[i].add(w, mode="drop")

    return jax.vmap(row)(index, listed.astype(dtype))


def _multilabel_hinge_sums(x: jax.Array, counts: jax.Array) -> jax.Array:
    """``sum_j counts_j sum_{i unlisted} max(0, 1 - x_j + x_i)`` for each row of (M, C) ``x``,
    counting a term only where it is > 0, in O(C log C) per row instead of the C x C pairs.

    The unlisted values are sorted (listed ones become ``-inf``, never above a threshold);
    for each ``j`` the unlisted ``x_i > x_j - 1`` are a suffix of the sorted row, found by
    ``searchsorted``, whose count ``n_j`` and sum ``S_j`` give
    ``sum_i max(0, 1 - x_j + x_i) = n_j (1 - x_j) + S_j``. Gradients flow through the sort
    (a permutation) and the suffix sums: ``-counts_j n_j`` to ``x_j``, and to each unlisted
    ``x_i`` the counts of the ``j`` whose threshold it exceeds, as PyTorch's kernel.
    """
    num_classes = x.shape[-1]
    is_target = counts > 0
    ranked = jnp.sort(jnp.where(is_target, -jnp.inf, x), axis=-1)
    suffix = jnp.flip(jnp.cumsum(jnp.flip(ranked, -1), axis=-1), -1)
    suffix = jnp.concatenate([suffix, jnp.zeros_like(suffix[:, :1])], axis=-1)
    first_above = jax.vmap(
        lambda r, q: jnp.searchsorted(r, q, side="right", method="scan_unrolled")
    )(ranked, x - 1.0)
    n_above = (num_classes - first_above).astype(x.dtype)
    per_j = n_above * (1.0 - x) + jnp.take_along_axis(suffix, first_above, axis=-1)
    return jnp.sum(jnp.where(is_target, counts * per_j, jnp.zeros_like(per_j)), axis=-1)


@_inputs.public
def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Multi-label hinge loss, as PyTorch's ``F.multilabel_margin_loss``.

    .. math::

       l_n = \frac{1}{C} \sum_{k < K_n} \sum_{i \notin T_n}
             \max(0,\; 1 - x_{n\, t_{nk}} + x_{ni})

    ``target`` uses PyTorch's format: row ``n`` lists the sample's classes
    ``t_{n0}, t_{n1}, ...`` and the first ``-1`` ends the list (``K_n`` entries before it;
    what follows is not read). ``T_n`` is the set of listed classes; a class listed twice
    counts twice, as in PyTorch. A term counts only where its hinge is > 0 (gradient 0 at
    exactly 0, as PyTorch's kernel). "mean" is the mean over samples. Computed by sorting
    each sample's unlisted scores, O(C log C) per sample and O(C) memory, rather than the
    C x C pairs of the formula.

    Shapes: ``target`` has ``input``'s shape, its lists along the class axis ``axis``
    ((N, C) in PyTorch, which has no other batch shapes). PyTorch's vector forms are kept: a
    (C,) ``input`` is one sample, with a (C,) ``target`` (or 0-d when C = 1), and a 0-d
    ``input`` is one sample of one class (C = 1), with a 0-d or (1,) ``target``; both give a
    scalar for every reduction, as PyTorch.

    Args:
      input: float array with the class axis at ``axis``; (C,) or 0-d as above.
      target: integer array of ``input``'s shape, values in [-1, C) (every entry, also
        after the terminator, as PyTorch checks).
      weights: optional real per-element weights, broadcastable to the sample shape (``input``'s
        without the class axis) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the number of kept samples, as without weights.
      reduction: "mean", "sum" or "none".
      axis: the class axis of ``input`` and ``target`` (PyTorch's layout is (N, C): -1); -1 or
        0 for a 0-d ``input``.
      where: optional boolean mask broadcastable to the sample shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the sample shape (``input``'s without ``axis``) for "none" (a scalar for (C,)
      or 0-d input, as PyTorch); float32 (float64 for float64 input).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete target value outside [-1, C)
        (PyTorch: RuntimeError "target is out of range"); ``target``'s shape differs from
        ``input``'s; an empty class axis, ``axis`` out of range; bad ``reduction`` or ``where``.
        Values only known under ``jit`` are not checked (that sample's loss is NaN) unless the
        call is wrapped in :func:`jaxloss.checked`.
      TypeError: boolean or complex ``weights``; integer ``input``, non-integer ``target``,
        non-boolean ``where``, ``axis`` not an int.

    References:
      PyTorch ``torch.nn.MultiLabelMarginLoss`` (ATen ``LossMultiLabelMargin.cpp``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> y = jnp.array([[3, 0, -1, 1]])  # classes 3 and 0; the 1 after -1 is not read
      >>> print(f"{jaxloss.multilabel_margin_loss(x, y):.4f}")
      0.8500
    """
    fn = "multilabel_margin_loss"
    (x,), dtype = _float_inputs(fn, reduction, input=input)
    t = _target(fn, target, "label lists")
    ax = -1
    if x.ndim <= 1:
        row = _one_sample(fn, x, axis)
        if t.ndim > 1 or t.size != row.shape[0]:
            raise ValueError(
                f"{fn}: `target` must list the classes of the one sample, shape "
                f"({row.shape[0]},), for `input` of shape {x.shape}, got shape {t.shape}."
            )
        x, t = row, t.reshape(row.shape)
    else:
        ax = _class_axis_of(fn, x, axis)
        _same_shapes(fn, ("input", x), ("target", t))
    num_classes = x.shape[ax]
    mask = _checks.as_mask(fn, where, x.shape[:ax] + x.shape[ax:][1:])
    ok = _labels_in_range(  # in the caller's layout, so that an error names its index
        fn, "target", t, -1, num_classes - 1,
        None if mask is None else jnp.expand_dims(mask, ax),
        f"a class index in [0, {num_classes}) or -1 (the end of the list)",
    )
    x, t = jnp.moveaxis(x, ax, -1), jnp.moveaxis(t, ax, -1)
    row_ok = jnp.all(ok, axis=ax)
    rows_x = x.reshape(-1, num_classes)
    counts = _listed_counts(t.reshape(-1, num_classes), num_classes, dtype)
    per = (_multilabel_hinge_sums(rows_x, counts) / num_classes).reshape(x.shape[:-1])
    per = jnp.where(row_ok, per, jnp.full_like(per, jnp.nan))
    return _reduce(fn, per, mask, weights, reduction, axis_name)


# ---------------------------------------------------------------------------------------------
# embedding losses (feature axis last)
# ---------------------------------------------------------------------------------------------


@_inputs.public
def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    *,
    margin: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Cosine embedding loss, as PyTorch's ``F.cosine_embedding_loss``.

    .. math::

       \cos_n = \frac{\sum_d x^{(1)}_{nd} x^{(2)}_{nd}}
                     {\sqrt{(\|x^{(1)}_n\|^2 + \epsilon)(\|x^{(2)}_n\|^2 + \epsilon)}},
       \qquad
       l_n = \begin{cases} 1 - \cos_n & y_n = 1 \\
                           \max(0, \cos_n - \text{margin}) & y_n = -1 \\
                           0 & \text{otherwise (as PyTorch)} \end{cases}

    with ATen's :math:`\epsilon = 10^{-12}` (so a zero vector has cosine 0, gradient
    finite). At ``cos = margin`` (``y = -1``) the gradient is the active branch's, as
    PyTorch's ``clamp_min``. "mean" is the mean over samples. The target carries no
    gradient.

    Args:
      input1, input2: float arrays (..., D) of one shape, the feature axis last ((D,) or
        (N, D) in PyTorch).
      target: float or integer, shape ``input1.shape[:-1]``, nominally 1 or -1.
      margin: scalar, nominally in [-1, 1] (traceable).
      weights: optional real per-element weights, broadcastable to ``target`` like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept pairs, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``input1.shape[:-1]``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or ``input1.shape[:-1]`` for "none"; float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``input2``'s shape differs from ``input1``'s;
        ``target`` not of shape ``input1.shape[:-1]``; no feature axis; non-scalar ``margin``; bad
        ``reduction`` or ``where``.
      TypeError: boolean or complex ``weights``; integer inputs, non-numeric ``target``, non-boolean
        ``where``.

    References:
      PyTorch ``torch.nn.CosineEmbeddingLoss`` (ATen ``cosine_embedding_loss``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> b = jnp.array([[1.0, 1.0], [1.0, 0.5]])
      >>> y = jnp.array([1, -1])
      >>> print(f"{jaxloss.cosine_embedding_loss(a, b, y, margin=0.5):.4f}")
      0.3708
    """
    fn = "cosine_embedding_loss"
    (x1, x2), dtype = _float_inputs(fn, reduction, input1=input1, input2=input2, target=target)
    _class_axis(fn, "input1", x1, what="feature")
    _same_shapes(fn, ("input1", x1), ("input2", x2))
    y = _target(fn, target, "signs")
    if y.shape != x1.shape[:-1]:
        raise ValueError(
            f"{fn}: `target` must have the shape of `input1` without its feature axis: "
            f"expected {x1.shape[:-1]}, got {y.shape} for inputs of shape {x1.shape}."
        )
    mask = _checks.as_mask(fn, where, y.shape)
    m = _inputs.scalar(fn, "margin", margin, dtype)
    # a masked pair: unit-free embeddings of nonzero norm and target 1, finite everywhere
    x1, x2 = _inputs.masked(x1, mask, 1.0, axis=-1), _inputs.masked(x2, mask, 1.0, axis=-1)
    y = _inputs.masked(y, mask, 1)
    dot = jnp.sum(x1 * x2, axis=-1)
    mag1 = jnp.sum(x1 * x1, axis=-1) + _COSINE_EPS
    mag2 = jnp.sum(x2 * x2, axis=-1) + _COSINE_EPS
    cos = dot / jnp.sqrt(mag1 * mag2)
    zeros = jnp.zeros_like(cos)
    per = jnp.where(y == 1, 1.0 - cos, zeros) + jnp.where(y == -1, _hinge(cos - m), zeros)
    return _reduce(fn, per, mask, weights, reduction, axis_name)


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (NumPy rules)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _triplet(
    fn: str,
    a: jax.Array,
    p: jax.Array,
    n: jax.Array,
    distance: Callable[[jax.Array, jax.Array], jax.Array],
    *,
    margin: ArrayLike,
    swap: bool,
    weights: ArrayLike | None,
    reduction: str,
    where: ArrayLike | None,
    axis_name: str | None,
) -> jax.Array:
    """``max(0, margin + d(a, p) - min(d(a, n), d(p, n) if swap))``, reduced."""
    swap = _inputs.flag(fn, "swap", swap)
    _checks.check_scalar(fn, "margin", margin)
    _check_positive_margin(fn, margin)
    m = jnp.asarray(margin, a.dtype)
    if where is not None and _broadcasts(jnp.shape(where), a.shape[:-1]):
        # A masked triplet's embeddings are all ones (nonzero norm, finite distances), so
        # that a NaN or inf there reaches no gradient; a `where` in the shape of a custom
        # distance's output that is not the samples' is applied after the distances only.
        keep = _checks.as_mask(fn, where, a.shape[:-1])
        a, p, n = (_inputs.masked(v, keep, 1.0, axis=-1) for v in (a, p, n))
    d_pos, d_neg = distance(a, p), distance(a, n)
    if swap:
        d_neg = jnp.minimum(d_neg, distance(p, n))
    per = _hinge(m + d_pos - d_neg)
    mask = _checks.as_mask(fn, where, per.shape)
    return _reduce(fn, per, mask, weights, reduction, axis_name)


@_inputs.public
def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    p: float = 2.0,
    eps: ArrayLike = 1e-6,
    swap: bool = False,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Triplet margin loss, as PyTorch's ``F.triplet_margin_loss``.

    .. math::

       l_n = \max\big(0,\; \text{margin} + d(a_n, p_n) - d'(a_n, n_n)\big), \qquad
       d(u, v) = \| u - v + \epsilon \|_p

    with PyTorch's ``pairwise_distance`` (``eps`` is added to the difference, it is not a
    clamp) over the last axis, and ``d' = min(d(a, n), d(p, n))`` with ``swap=True``
    (Balntas et al.'s distance swap), else ``d' = d(a, n)``. "mean" is the mean over
    triplets. Gradients as PyTorch: the active branch's at the hinge, 0 for a zero
    difference, split evenly at a ``swap`` tie.

    Args:
      anchor, positive, negative: float arrays (..., D) of one shape, the feature axis last.
      margin: scalar > 0 (traceable; a concrete value <= 0 raises, as PyTorch).
      p: the norm's order, a Python number > 0, ``float("inf")`` allowed (static).
      eps: scalar added to each difference (traceable).
      swap: use the distance swap (static).
      weights: optional real per-element weights, broadcastable to the triplet shape (the inputs'
        without the embedding axis) like ``where`` (traceable): each element's loss is multiplied by
        its weight and "mean" still divides by the number of kept triplets, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to ``anchor.shape[:-1]``.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or ``anchor.shape[:-1]`` for "none"; float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; shapes differ (PyTorch broadcasts); no feature
        axis; ``margin`` <= 0; ``p`` <= 0; non-scalar ``margin`` or ``eps``; bad ``reduction`` or
        ``where``.
      TypeError: boolean or complex ``weights``; integer inputs; ``p`` not a Python number; ``swap``
        not a bool; non-boolean ``where``.

    References:
      PyTorch ``torch.nn.TripletMarginLoss``; Balntas et al., "Learning local feature
      descriptors with triplets and shallow convolutional neural networks", BMVC 2016.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
      >>> pos = jnp.array([[0.5, 0.0], [1.0, 2.0]])
      >>> neg = jnp.array([[1.0, 0.0], [3.0, 1.0]])
      >>> print(f"{jaxloss.triplet_margin_loss(a, pos, neg):.4f}")
      0.2500
    """
    fn = "triplet_margin_loss"
    (a, pp, n), dtype = _float_inputs(
        fn, reduction, anchor=anchor, positive=positive, negative=negative
    )
    _class_axis(fn, "anchor", a, what="feature")
    _same_shapes(fn, ("anchor", a), ("positive", pp), ("negative", n))
    order = _check_norm_order(fn, p)
    e = _inputs.scalar(fn, "eps", eps, dtype)

    def distance(u, v):
        return _pairwise_distance(u, v, order, e)

    return _triplet(fn, a, pp, n, distance, margin=margin, swap=swap, weights=weights,
                    reduction=reduction, where=where, axis_name=axis_name)


@_inputs.public
def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: ArrayLike = 1.0,
    swap: bool = False,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Triplet margin loss with any distance, as PyTorch's
    ``F.triplet_margin_with_distance_loss``.

    .. math::

       l_n = \max\big(0,\; \text{margin} + d(a_n, p_n) - d'(a_n, n_n)\big)

    with ``d = distance_function`` and ``d' = min(d(a, n), d(p, n))`` when ``swap``, else
    ``d(a, n)``. The default distance is PyTorch's ``pairwise_distance``:
    ``||u - v + 1e-6||_2`` over the last axis. "mean" is the mean over triplets; gradients
    at the hinge as PyTorch's ``clamp_min``.

    Args:
      anchor, positive, negative: float arrays of one shape.
      distance_function: optional ``(u, v) -> distances``, any JAX-traceable function of two
        arrays of the inputs' shape returning a float array of the per-triplet shape (for
        example ``lambda u, v: 1 - cosine similarity``); called with the inputs in their
        compute dtype (float32 for bf16/f16). Default: the pairwise L2 distance above.
      margin: scalar > 0 (traceable; a concrete value <= 0 raises, as PyTorch).
      swap: use the distance swap (static).
      weights: optional real per-element weights, broadcastable to the triplet shape (the distances'
        shape) like ``where`` (traceable): each element's loss is multiplied by its weight and
        "mean" still divides by the number of kept triplets, as without weights.
      reduction: "mean", "sum" or "none".
      where: optional boolean mask broadcastable to the distances' shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the distances' shape for "none"; float32 (float64 for float64 inputs;
      the distances are cast to that dtype).

    Raises:
      ValueError: ``weights`` that do not broadcast; shapes of the inputs differ (PyTorch only
        checks their rank), or the distance function returns arrays of different shapes; ``margin``
        <= 0; non-scalar ``margin``; bad ``reduction`` or ``where``.
      TypeError: boolean or complex ``weights``; integer inputs; ``distance_function`` not callable;
        a distance that is not a float array; ``swap`` not a bool; non-boolean ``where``.

    References:
      PyTorch ``torch.nn.TripletMarginWithDistanceLoss`` (``torch/nn/functional.py``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
      >>> pos = jnp.array([[0.5, 0.0], [1.0, 2.0]])
      >>> neg = jnp.array([[1.0, 0.0], [3.0, 1.0]])
      >>> def sq(u, v):
      ...     return jnp.sum((u - v) ** 2, axis=-1)
      >>> loss = jaxloss.triplet_margin_with_distance_loss(a, pos, neg, distance_function=sq)
      >>> print(f"{loss:.4f}")
      0.1250
    """
    fn = "triplet_margin_with_distance_loss"
    (a, pp, n), dtype = _float_inputs(
        fn, reduction, anchor=anchor, positive=positive, negative=negative
    )
    _same_shapes(fn, ("anchor", a), ("positive", pp), ("negative", n))
    if distance_function is None:
        _class_axis(fn, "anchor", a, what="feature")
        e = jnp.asarray(1e-6, dtype)

        def distance_function(u, v):
            return _pairwise_distance(u, v, 2.0, e)

    elif not callable(distance_function):
        raise TypeError(
            f"{fn}: `distance_function` must be a callable (u, v) -> distances, or None for "
            f"the pairwise L2 distance, got {distance_function!r}."
        )
    user = distance_function
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def distance(u, v):
        d = jnp.asarray(user(u, v))
        if not jnp.issubdtype(d.dtype, jnp.floating):
            raise TypeError(
                f"{fn}: `distance_function` must return a floating-point array, got dtype "
                f"{d.dtype}."
            )
        shapes.append(d.shape)
        if d.shape != shapes[0]:
            raise ValueError(
                f"{fn}: `distance_function` returned distances of different shapes, "
                f"{shapes[0]} and {d.shape}: it must return one distance per triplet."
            )
        return d.astype(dtype)

    return _triplet(fn, a, pp, n, distance, margin=margin, swap=swap, weights=weights,
                    reduction=reduction, where=where, axis_name=axis_name)
