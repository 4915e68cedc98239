r"""Lovász losses (Berman et al. 2018): convex surrogates of the Jaccard (IoU) loss.

For a set of pixels with errors :math:`e_i \ge 0` and 0/1 ground truth :math:`g_i`, sort the
errors in decreasing order, :math:`e_{\pi(1)} \ge e_{\pi(2)} \ge \dots`, and let

.. math::

   J_k = 1 - \frac{G - \sum_{j \le k} g_{\pi(j)}}{G + \sum_{j \le k} (1 - g_{\pi(j)})},
   \qquad G = \sum_i g_i,

the Jaccard loss of predicting the top-:math:`k` errors wrong. The Lovász extension of the
Jaccard loss is :math:`\sum_k e_{\pi(k)} (J_k - J_{k-1})` (:math:`J_0 = 0`): a dot product of
the sorted errors with a vector that depends only on the order. JAX differentiates it like
the authors' PyTorch code does: through the gather of the sorted errors, the order itself
(``argsort``) being piecewise constant.

Pixels that are ignored (``ignore_index``) or masked (``where``) are sorted after every kept
pixel with error 0, so they change neither the value nor the gradient of the kept ones
(the authors and SMP drop them with boolean indexing, which has no fixed shape under
``jit``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._reduction import reduce_loss

CLASSES = ("present", "all")


def _ranking(errors: jax.Array, keep: jax.Array) -> jax.Array:
    """Indices that sort the last axis: kept pixels by decreasing error, then the dropped
    ones. Piecewise constant, so no gradient flows through it."""
    key = jnp.where(keep, errors, -jnp.inf)
    return jax.lax.stop_gradient(jnp.argsort(-key, axis=-1, stable=True))


def _lovasz_extension(
    values: jax.Array, fg: jax.Array, keep: jax.Array, order: jax.Array
) -> jax.Array:
    """The Lovász extension of the Jaccard loss along the last axis: ``values`` (..., M)
    (the errors, >= 0) gathered in ``order``, dotted with the Jaccard increments of the
    0/1 ground truth ``fg`` taken in the same order. Dropped pixels (``keep`` False) count
    as error 0 and background, after every kept pixel. Returns (...,)."""
    e = jnp.take_along_axis(jnp.where(keep, values, 0.0), order, axis=-1)
    g = jnp.take_along_axis(jnp.where(keep, fg, 0.0), order, axis=-1)
    total = jnp.sum(g, axis=-1, keepdims=True)
    intersection = total - jnp.cumsum(g, axis=-1)
    union = total + jnp.cumsum(1.0 - g, axis=-1)  # >= 1 at every position
    jaccard = 1.0 - intersection / union
    slope = jnp.concatenate([jaccard[..., :1], jnp.diff(jaccard, axis=-1)], axis=-1)
    return jnp.sum(e * slope, axis=-1)


def _check_flags(fn: str, per_image: Any) -> None:
    if not isinstance(per_image, bool):
        raise TypeError(
            f"{fn}: `per_image` must be a Python bool (it is structure, not data), got "
            f"{per_image!r}."
        )


def _group(x: jax.Array, per_image: bool) -> jax.Array:
    """(N, M, ...) -> (N, M, ...) per image, or (1, N*M, ...) for the whole batch."""
    return x if per_image else x.reshape((1, -1) + x.shape[2:])


def _reduce_groups(
    per: jax.Array, kept: jax.Array, per_image: bool, reduction: str
) -> jax.Array:
    per = jnp.where(kept, per, 0.0)
    if not per_image:
        per = per[0]  # one pooled value: "none", "sum" and "mean" are all that value
        return per if reduction == "none" else reduce_loss(per, None, "sum", None)
    if reduction == "none":
        return per
    return reduce_loss(per, kept.astype(per.dtype), reduction, None)


def lovasz_softmax_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    classes: str = "present",
    per_image: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Lovász-Softmax loss (Berman et al. 2018), SMP's ``LovaszLoss(mode="multiclass")``.

    With :math:`p = \mathrm{softmax}(x)` over ``axis`` and, for each class :math:`c`, the
    errors :math:`e_i = |[y_i = c] - p_{ic}|` over the kept pixels, the loss of class
    :math:`c` is the Lovász extension of the Jaccard loss (see the module docstring),
    :math:`\ell_c = \sum_k e_{\pi(k)} (J_k - J_{k-1})`. The classes are averaged:
    ``classes="present"`` (the authors' and SMP's default) over the classes that occur among
    the kept pixels, ``"all"`` over every class (an absent class then costs its largest
    error).

    ``per_image=False`` (SMP's default) pools every pixel of the batch into one ranking
    and returns that one value for every ``reduction``. ``per_image=True`` computes one
    loss per image: ``"none"`` returns them, shape (N,), ``"sum"`` their sum and ``"mean"``
    their mean over the images with a kept pixel (an all-ignored image drops out; the
    authors' ``mean`` counts it as 0). When nothing is kept the loss is 0 with zero
    gradients.

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1``; axis 0 is the batch.
        bf16/f16 are computed in float32.
      targets: integer class indices, the logits' shape without ``axis``.
      classes: ``"present"`` or ``"all"`` (structure).
      per_image: one ranking per image instead of one for the batch (structure).
      ignore_index: label whose pixels are dropped (SMP ``ignore_index``).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (over images; see above).
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean mask broadcastable to the targets' shape; False pixels count
        exactly like ignored ones.

    Returns:
      A scalar, or (N,) for ``reduction="none"`` with ``per_image=True``; float32
      (float64 for float64 logits).

    Raises:
      ValueError: unknown ``reduction`` or ``classes``, ``axis`` 0 or out of range,
        targets of the wrong shape, a single class (a softmax over one class is 1).
      TypeError: integer ``logits``, non-integer targets, a non-bool ``per_image``.

    Under :func:`jaxloss.checked`, also an out-of-range label; without it a kept
    out-of-range label makes its ranking NaN.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])  # (N=1, pixels=3, C=2)
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.lovasz_softmax_loss(logits, targets):.4f}")
      0.1582

    References:
      Berman, Rannen Triki & Blaschko, "The Lovász-Softmax loss: a tractable surrogate for
      the optimization of the intersection-over-union measure in neural networks", CVPR
      2018 (the authors' ``lovasz_losses.py``); SMP ``losses.LovaszLoss``.
    """
    fn = "lovasz_softmax_loss"
    logits_given = _checks.given_dtype(logits)
    targets_given = _checks.given_dtype(targets)
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    _checks.check_reduction(fn, reduction)
    if classes not in CLASSES:
        raise ValueError(
            f"{fn}: `classes` must be one of {CLASSES}, got {classes!r}: 'present' averages "
            "over the classes in the (kept) targets, 'all' over every class."
        )
    _check_flags(fn, per_image)
    _checks.check_float(
        fn, "logits", logits, given=logits_given, targets=targets, targets_given=targets_given,
        class_axis=axis,
    )
    axis = _checks.check_axis(fn, "logits", logits, axis)
    if logits.ndim < 2 or axis == 0:
        raise ValueError(
            f"{fn}: `logits` must have a batch axis 0 and a class axis, e.g. (N, H, W, C), or "
            f"(N, C, H, W) with axis=1; got shape {logits.shape} with axis={axis}."
        )
    _checks.check_ignore_index(fn, ignore_index)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: `targets` must be integer class indices, got dtype "
            f"{targets.dtype if targets_given is None else targets_given}. For 0/1 masks "
            "use jaxloss.lovasz_hinge_loss."
        )
    _checks.check_targets_shape(fn, logits.shape, targets.shape, axis)
    _checks.check_softmax_classes(fn, "logits", logits.shape, axis)
    dtype = _checks.compute_dtype(logits.dtype)
    num_classes = logits.shape[axis]
    keep = targets != ignore_index
    mask = _checks.as_mask(fn, where, targets.shape)
    if mask is not None:
        keep = keep & mask
    in_range = (targets >= 0) & (targets < num_classes)
    _checks.check_labels(fn, targets, in_range | ~keep, num_classes, ignore_index)

    p = jnp.exp(jax.nn.log_softmax(logits.astype(dtype), axis=axis))
    p = jnp.moveaxis(p, axis, -1).reshape(logits.shape[0], -1, num_classes)  # (N, M, C)
    y = targets.reshape(targets.shape[0], -1)
    keep = keep.reshape(y.shape)
    fg = (y[..., None] == jnp.arange(num_classes, dtype=y.dtype)[None, None]).astype(dtype)
    # A kept out-of-range label poisons its ranking (NaN), never a silent all-zero one-hot.
    fg = jnp.where((keep & ~in_range.reshape(y.shape))[..., None], jnp.nan, fg)
    p, fg, keep = _group(p, per_image), _group(fg, per_image), _group(keep, per_image)
    keep_c = jnp.broadcast_to(keep[..., None], fg.shape)
    errors = jnp.abs(fg - p)
    # (G, C, M): one ranking per (group, class).
    errors, fg_c, keep_m = (jnp.moveaxis(v, -1, 1) for v in (errors, fg, keep_c))
    losses = _lovasz_extension(errors, fg_c, keep_m, _ranking(errors, keep_m))
    kept = jnp.any(keep, axis=1)  # (G,)
    if classes == "present":
        counted = jnp.any(keep_c & (fg != 0), axis=1)  # (G, C); NaN counts as present
    else:
        counted = jnp.broadcast_to(kept[:, None], losses.shape)
    n_counted = jnp.sum(counted, axis=1).astype(dtype)
    total = jnp.sum(jnp.where(counted, losses, 0.0), axis=1)
    per = total / jnp.where(n_counted == 0, 1.0, n_counted)
    return _reduce_groups(per, kept, per_image, reduction)


def lovasz_hinge_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    per_image: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Binary Lovász hinge loss (Berman et al. 2018), SMP's ``LovaszLoss(mode="binary")``.

    With signs :math:`s_i = 2 g_i - 1` and hinge errors :math:`e_i = 1 - x_i s_i`, the loss
    is the Lovász extension of the Jaccard loss of the foreground (see the module
    docstring) applied to :math:`\max(e, 0)`, ranked by :math:`e`:
    :math:`\sum_k \max(e_{\pi(k)}, 0)\,(J_k - J_{k-1})`.

    Every element of an image is one pixel of one binary problem: logits (N, H, W), or
    (N, C, H, W) multi-label channels ranked together (SMP's ``"multilabel"`` mode).
    ``per_image`` and ``reduction`` are as in :func:`lovasz_softmax_loss` (one pooled
    ranking by default, as in SMP; the authors' ``lovasz_hinge`` defaults to
    ``per_image=True``).

    Args:
      logits: float array (N, ...); axis 0 is the batch. bf16/f16 are computed in float32.
      targets: 0/1 ground truth of the logits' shape: bool, floating, or integer (where
        ``ignore_index`` drops pixels).
      per_image: one ranking per image instead of one for the batch (structure).
      ignore_index: integer label whose pixels are dropped (integer targets only; mask
        floating targets with ``where``).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (over images).
      where: optional boolean mask broadcastable to ``logits``.

    Returns:
      A scalar, or (N,) for ``reduction="none"`` with ``per_image=True``; float32
      (float64 for float64 logits).

    Raises:
      ValueError: unknown ``reduction``, a scalar ``logits``, targets of another shape,
        ``ignore_index`` with non-integer targets, a concrete target outside {0, 1}.
      TypeError: integer ``logits``, targets of an unsupported dtype, non-bool
        ``per_image``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, -1.0, 0.5, -0.5]])
      >>> targets = jnp.array([[1.0, 0.0, 0.0, 1.0]])
      >>> print(f"{jaxloss.lovasz_hinge_loss(logits, targets):.4f}")
      1.0000

    References:
      Berman, Rannen Triki & Blaschko, CVPR 2018 (the authors' ``lovasz_hinge``); SMP
      ``losses.LovaszLoss``.
    """
    fn = "lovasz_hinge_loss"
    logits_given = _checks.given_dtype(logits)
    targets_given = _checks.given_dtype(targets)
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    _checks.check_reduction(fn, reduction)
    _check_flags(fn, per_image)
    _checks.check_float(
        fn, "logits", logits, given=logits_given, targets=targets, targets_given=targets_given,
        class_axis=None,
    )
    if logits.ndim < 1:
        raise ValueError(
            f"{fn}: `logits` must have a batch axis, e.g. (N, H, W), got a scalar. Add one "
            "with `x[None]`."
        )
    _checks.check_ignore_index(fn, ignore_index)
    _checks.check_numeric(fn, "targets", targets, given=targets_given)
    _checks.check_same_shape(fn, "logits", logits.shape, "targets", targets.shape)
    dtype = _checks.compute_dtype(logits.dtype)
    keep = _checks.as_mask(fn, where, logits.shape)
    if jnp.issubdtype(targets.dtype, jnp.integer):
        ignored = targets == ignore_index
        keep = ~ignored if keep is None else keep & ~ignored
    elif ignore_index != -100:
        raise ValueError(
            f"{fn}: `ignore_index`={ignore_index} applies to integer targets only; with "
            "floating or bool targets, drop pixels with `where=` instead."
        )
    if keep is None:
        keep = jnp.ones(logits.shape, jnp.bool_)
    g = targets.astype(dtype)
    binary = (g == 0) | (g == 1)
    if not isinstance(targets, jax.core.Tracer) and not isinstance(keep, jax.core.Tracer):
        bad = jnp.logical_not(binary) & keep & ~jnp.isnan(g)
        if bool(jnp.any(bad)):
            index = tuple(int(i) for i in jnp.unravel_index(jnp.argmax(bad), bad.shape))
            raise ValueError(
                f"{fn}: `targets` must be 0 or 1 (the Lovász hinge ranks a binary ground "
                f"truth), got {_checks._fmt(targets[index])} at index {index}. Threshold "
                "soft masks, or drop those pixels with `where=`."
            )
    else:
        # Every kept non-binary value fails (`low=inf` flags any finite value the mask lets
        # through; NaN passes, as in every value check).
        _checks.check_values(
            fn, "targets", g, low=float("inf"), where=keep & ~binary, expected="0 or 1",
        )
    x = logits.astype(dtype)
    n = x.shape[0]
    x, g, keep = (_group(v.reshape(n, -1), per_image) for v in (x, g, keep))
    errors = 1.0 - x * (2.0 * g - 1.0)
    # Ranked by the hinge errors; their positive part enters the dot product.
    per = _lovasz_extension(jax.nn.relu(errors), g, keep, _ranking(errors, keep))
    kept = jnp.any(keep, axis=-1)
    return _reduce_groups(per, kept, per_image, reduction)
