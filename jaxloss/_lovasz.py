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

With ``axis_name`` and one ranking for the whole batch, the sort is global: each device
gathers the (stop-gradient) errors and labels of every device, computes the coefficient
:math:`J_{r(i)} - J_{r(i)-1}` of each of its own pixels from its rank :math:`r(i)` in the
global order, and the loss is the ``psum`` of its local dot products: the unsharded value
and gradient, each pixel's gradient computed once, on its own device.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._reduction import reduce_loss

CLASSES = ("present", "all")


def _ranking(errors: jax.Array, keep: jax.Array) -> jax.Array:
    """Indices that sort the last axis: kept pixels by decreasing error, then the dropped
    ones. Piecewise constant, so no gradient flows through it."""
    key = jnp.where(keep, errors, -jnp.inf)
    return jax.lax.stop_gradient(jnp.argsort(-key, axis=-1, stable=True))


def _slopes(fg: jax.Array, keep: jax.Array, order: jax.Array) -> jax.Array:
    """The Jaccard increments ``J_k - J_{k-1}`` along the last axis of the 0/1 ground truth
    ``fg`` taken in ``order`` (dropped pixels count as background), in sorted order."""
    g = jnp.take_along_axis(jnp.where(keep, fg, 0.0), order, axis=-1)
    total = jnp.sum(g, axis=-1, keepdims=True)
    intersection = total - jnp.cumsum(g, axis=-1)
    union = total + jnp.cumsum(1.0 - g, axis=-1)  # >= 1 at every position
    jaccard = 1.0 - intersection / union
    return jnp.concatenate([jaccard[..., :1], jnp.diff(jaccard, axis=-1)], axis=-1)


def _lovasz_extension(
    values: jax.Array, fg: jax.Array, keep: jax.Array, order: jax.Array
) -> jax.Array:
    """The Lovász extension of the Jaccard loss along the last axis: ``values`` (..., M)
    (the errors, >= 0) gathered in ``order``, dotted with the Jaccard increments of the
    0/1 ground truth ``fg`` taken in the same order. Dropped pixels (``keep`` False) count
    as error 0 and background, after every kept pixel. Returns (...,)."""
    e = jnp.take_along_axis(jnp.where(keep, values, 0.0), order, axis=-1)
    return jnp.sum(e * _slopes(fg, keep, order), axis=-1)


def _gather(x: jax.Array, axis_name: str) -> jax.Array:
    """Every device's ``x`` concatenated along the last (pixel) axis in device order: the
    global batch's pixels in the unsharded order (the batch is split along axis 0)."""
    return jax.lax.all_gather(jax.lax.stop_gradient(x), axis_name, axis=x.ndim - 1, tiled=True)


def _sharded_lovasz_extension(
    values: jax.Array, keep: jax.Array, errors_all: jax.Array, fg_all: jax.Array,
    keep_all: jax.Array, axis_name: str,
) -> jax.Array:
    """This device's share of the Lovász extension of the whole (sharded) batch: the local
    ``values`` (..., M) dotted with the Jaccard increments at their ranks in the global
    order of ``errors_all`` (..., D*M), the gathered errors, ranked exactly as
    :func:`_lovasz_extension` ranks the unsharded ones. The ``psum`` over ``axis_name`` of
    the result is the unsharded value, and its gradient with respect to ``values`` is the
    unsharded gradient (the ranking and the increments are constants)."""
    order = _ranking(errors_all, keep_all)
    slope = _slopes(fg_all, keep_all, order)
    # Each pixel's increment, back in the gathered (global index) order.
    coefficient = jnp.put_along_axis(jnp.zeros_like(slope), order, slope, axis=-1,
                                     inplace=False)
    m = values.shape[-1]
    start = jax.lax.axis_index(axis_name) * m
    local = jax.lax.dynamic_slice_in_dim(coefficient, start, m, axis=-1)
    return jnp.sum(jnp.where(keep, values, 0.0) * jax.lax.stop_gradient(local), axis=-1)


def _group(x: jax.Array, per_image: bool) -> jax.Array:
    """(N, M, ...) -> (N, M, ...) per image, or (1, N*M, ...) for the whole batch."""
    return x if per_image else x.reshape((1, x.shape[0] * x.shape[1]) + x.shape[2:])


def _reduce_groups(
    per: jax.Array, kept: jax.Array, per_image: bool, reduction: str, axis_name: str | None
) -> jax.Array:
    """``per`` (G,): the loss of each image (``per_image``), or of the pooled batch (G = 1;
    with ``axis_name``, this device's share of it, summed here)."""
    per = jnp.where(kept, per, 0.0)
    if not per_image:
        per = per[0]  # one pooled value: "none", "sum" and "mean" are all that value
        return per if axis_name is None else jax.lax.psum(per, axis_name)
    if reduction == "none":
        return per
    return reduce_loss(per, kept.astype(per.dtype), reduction, axis_name)



@_inputs.public
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
    axis_name: str | None = None,
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
      axis_name: inside ``shard_map``/``pmap`` over a mesh axis that splits the batch
        (axis 0), makes the loss that of the whole batch, value and gradients. With
        ``per_image=True`` each image is local and "mean"/"sum" over the images are global
        (one ``psum`` of the sum and the count); "none" stays per local image. With
        ``per_image=False`` the ranking is global: each device all-gathers the per-pixel
        errors (C per pixel) and the labels and kept flags of every device, sorts them, and
        takes its own pixels' Jaccard increments from the global order; the result is the
        ``psum`` of the local dot products. Cost: that all-gather (every device holds the
        errors of the whole batch, C x the batch's pixels) and a sort of the whole batch on
        every device. ``classes="present"`` uses the classes present in the whole batch.

    Returns:
      A scalar, or (N,) for ``reduction="none"`` with ``per_image=True`` (the local images
      with ``axis_name``); float32 (float64 for float64 logits).

    Raises:
      ValueError: unknown ``reduction`` or ``classes``, ``axis`` 0 or out of range,
        targets of the wrong shape, no class or a single class (a softmax over one class is 1).
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
    given = _inputs.tensor("logits", logits)
    given_targets = _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, reduction)
    if classes not in CLASSES:
        raise ValueError(
            f"{fn}: `classes` must be one of {CLASSES}, got {classes!r}: 'present' averages "
            "over the classes in the (kept) targets, 'all' over every class."
        )
    per_image = _inputs.flag(fn, "per_image", per_image)
    (logits, *_), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=axis)
    targets = given_targets.value
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
            f"{targets.dtype if given_targets.given is None else given_targets.given}. For "
            "0/1 masks use jaxloss.lovasz_hinge_loss."
        )
    _checks.check_targets_shape(fn, logits.shape, targets.shape, axis)
    _checks.check_softmax_classes(
        fn, "logits", logits.shape, axis,
        binary_fix="use jaxloss.lovasz_hinge_loss on the single logit per pixel",
    )
    num_classes = logits.shape[axis]
    labels = _inputs.labels(fn, targets, num_classes, ignore_index=ignore_index, where=where)
    keep, targets = labels.keep, labels.targets

    def one_hot(y, keep):
        """(G, M) labels -> (G, C, M) 0/1 ground truth of each class's ranking."""
        fg = (y[:, None] == jnp.arange(num_classes, dtype=y.dtype)[None, :, None]).astype(dtype)
        # A kept out-of-range label poisons its ranking (NaN), never a silent all-zero one-hot.
        bad = keep & ~((y >= 0) & (y < num_classes))
        return jnp.where(bad[:, None], jnp.nan, fg)

    # A dropped pixel's logits are 0 before the softmax, so that a NaN or inf there reaches no
    # gradient (its errors are ranked last and weigh nothing).
    logits = _inputs.masked(logits, keep, 0.0, axis=axis)
    p = jnp.exp(jax.nn.log_softmax(logits, axis=axis))
    n, m = targets.shape[0], math.prod(targets.shape[1:])  # explicit: N may be 0
    p = jnp.moveaxis(p, axis, -1).reshape(n, m, num_classes)  # (N, M, C)
    y = targets.reshape(n, m)
    keep = keep.reshape(y.shape)
    # (G, C, M): one ranking per (group, class).
    p, y, keep = jnp.moveaxis(_group(p, per_image), -1, 1), _group(y, per_image), _group(
        keep, per_image)
    fg = one_hot(y, keep)
    keep_m = jnp.broadcast_to(keep[:, None], fg.shape)
    errors = jnp.abs(fg - p)
    if axis_name is None or per_image:
        losses = _lovasz_extension(errors, fg, keep_m, _ranking(errors, keep_m))
    else:  # one ranking of the whole batch: its pixels are on every device
        y_all, keep_all = _gather(y, axis_name), _gather(keep, axis_name)
        fg = one_hot(y_all, keep_all)
        keep_m_all = jnp.broadcast_to(keep_all[:, None], fg.shape)
        losses = _sharded_lovasz_extension(
            errors, keep_m, _gather(errors, axis_name), fg, keep_m_all, axis_name)
        keep, keep_m = keep_all, keep_m_all
    kept = jnp.any(keep, axis=-1)  # (G,)
    if classes == "present":
        counted = jnp.any(keep_m & (fg != 0), axis=-1)  # (G, C); NaN counts as present
    else:
        counted = jnp.broadcast_to(kept[:, None], losses.shape)
    n_counted = jnp.sum(counted, axis=1).astype(dtype)
    total = jnp.sum(jnp.where(counted, losses, 0.0), axis=1)
    per = total / jnp.where(n_counted == 0, 1.0, n_counted)
    return _reduce_groups(per, kept, per_image, reduction, axis_name)


@_inputs.public
def lovasz_hinge_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    per_image: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
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
      axis_name: inside ``shard_map``/``pmap`` over a mesh axis that splits the batch
        (axis 0), makes the loss that of the whole batch, value and gradients, as in
        :func:`lovasz_softmax_loss`: "mean"/"sum" over local images with
        ``per_image=True``; with ``per_image=False`` one global ranking, at the cost of an
        all-gather of the per-pixel hinge errors, targets and kept flags (every device holds
        those of the whole batch) and a sort of the whole batch on every device.

    Returns:
      A scalar, or (N,) for ``reduction="none"`` with ``per_image=True`` (the local images
      with ``axis_name``); float32 (float64 for float64 logits).

    Raises:
      ValueError: unknown ``reduction``, a scalar ``logits``, targets of another shape,
        ``ignore_index`` with non-integer targets, a concrete kept target outside {0, 1}
        (traced, such a target makes its ranking's loss NaN; an error under
        :func:`jaxloss.checked`).
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
    given = _inputs.tensor("logits", logits)
    given_targets = _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, reduction)
    per_image = _inputs.flag(fn, "per_image", per_image)
    (logits, *_), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=None)
    targets = given_targets.value
    if logits.ndim < 1:
        raise ValueError(
            f"{fn}: `logits` must have a batch axis, e.g. (N, H, W), got a scalar. Add one "
            "with `x[None]`."
        )
    _checks.check_ignore_index(fn, ignore_index)
    _checks.check_numeric(fn, "targets", targets, given=given_targets.given)
    _checks.check_same_shape(fn, "logits", logits.shape, "targets", targets.shape)
    keep = _checks.as_mask(fn, where, logits.shape)
    if jnp.issubdtype(targets.dtype, jnp.integer):
        ignored = _inputs.ignored(targets, ignore_index)
        keep = ~ignored if keep is None else keep & ~ignored
    elif ignore_index != -100:
        raise ValueError(
            f"{fn}: `ignore_index`={ignore_index} applies to integer targets only; with "
            "floating or bool targets, drop pixels with `where=` instead."
        )
    dropped = keep  # None: nothing is dropped
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
                f"truth), got {_checks.fmt(targets[index])} at index {index}. Threshold "
                "soft masks, or drop those pixels with `where=`."
            )
    else:
        # Every kept non-binary value fails (`low=inf` flags any finite value the mask lets
        # through; NaN passes, as in every value check).
        _checks.check_values(
            fn, "targets", g, low=float("inf"), where=keep & ~binary, expected="0 or 1",
        )
    # Traced, a kept target other than 0/1 poisons its ranking (NaN), never a silent hinge on
    # a ground truth that is not one.
    g = jnp.where(keep & ~binary, jnp.nan, g)
    # A dropped pixel's logit and target are 0, so that a NaN or inf there reaches no gradient.
    x, g = _inputs.masked(logits, dropped, 0.0), _inputs.masked(g, dropped, 0.0)
    n = x.shape[0]
    m = math.prod(x.shape[1:])  # explicit: N may be 0
    x, g, keep = (_group(v.reshape(n, m), per_image) for v in (x, g, keep))
    errors = 1.0 - x * (2.0 * g - 1.0)
    # Ranked by the hinge errors; their positive part enters the dot product.
    if axis_name is None or per_image:
        per = _lovasz_extension(jax.nn.relu(errors), g, keep, _ranking(errors, keep))
    else:  # one ranking of the whole batch: its pixels are on every device
        errors_all, g_all = _gather(errors, axis_name), _gather(g, axis_name)
        keep_all = _gather(keep, axis_name)
        per = _sharded_lovasz_extension(jax.nn.relu(errors), keep, errors_all, g_all,
                                        keep_all, axis_name)
        keep = keep_all
    kept = jnp.any(keep, axis=-1)
    return _reduce_groups(per, kept, per_image, reduction, axis_name)
