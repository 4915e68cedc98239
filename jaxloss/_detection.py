"""Detection losses: torchvision's box IoU losses (GIoU, DIoU, CIoU) and mmdetection's
dense-detection classification losses (varifocal, quality focal, distribution focal).

Each loss reads as prepare (``_inputs``), its math, reduce (``_reduction``). The box losses
follow torchvision 0.28 (for torch 2.13) line by line, ``eps`` included exactly where
torchvision adds it; the classification losses follow mmdetection's
``mmdet/models/losses/varifocal_loss.py`` and ``gfocal_loss.py``, computed in log space.
Masked boxes and anchors (``where=False``) are replaced by safe inputs before the math, so a
NaN or inf there reaches neither a value nor a gradient.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._reduction import reduce_masked

# torchvision's CIoU calls `_diou_iou_loss(boxes1, boxes2)` without its `eps`: the DIoU part
# of CIoU always adds this default, whatever `eps` the caller passes.
_TORCHVISION_DIOU_EPS = 1e-7
# The box a masked box is replaced by (for both arguments): every term is finite there.
_SAFE_BOX = (0.0, 0.0, 1.0, 1.0)
_FOUR_OVER_PI2 = 4.0 / math.pi**2


# ---------------------------------------------------------------------------------------------
# preparation and reduction
# ---------------------------------------------------------------------------------------------


def _check_box_shape(fn: str, name: str, shape: tuple[int, ...]) -> None:
    if len(shape) == 0 or shape[-1] != 4:
        raise ValueError(
            f"{fn}: `{name}` must have shape (..., 4), boxes as (x1, y1, x2, y2) along the "
            f"last axis, got shape {shape}. For (cx, cy, w, h) or (x, y, w, h) boxes convert "
            "them to corners first."
        )


def _prepare_boxes(
    fn: str,
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    eps: ArrayLike,
    weights: ArrayLike | None,
    reduction: str,
    where: ArrayLike | None,
):
    """``(b1, b2, eps, weights, mask)``: float boxes of one shape (..., 4) in the compute
    dtype, masked boxes replaced by ``_SAFE_BOX``; ``weights`` and ``mask`` of shape (...)."""
    given1, given2 = _inputs.tensor("boxes1", boxes1), _inputs.tensor("boxes2", boxes2)
    _checks.check_reduction(fn, reduction)
    (b1, b2), dtype = _inputs.floats(fn, given1, given2, class_axis=None)
    _check_box_shape(fn, "boxes1", tuple(b1.shape))
    _check_box_shape(fn, "boxes2", tuple(b2.shape))
    _checks.check_same_shape(fn, "boxes1", b1.shape, "boxes2", b2.shape)
    _checks.check_scalar(fn, "eps", eps)
    _checks.check_nonnegative(fn, "eps", eps)
    shape = tuple(b1.shape[:-1])
    mask = _inputs.mask(fn, where, shape)
    w = _inputs.element_weights(fn, weights, shape, dtype)
    safe = jnp.asarray(_SAFE_BOX, dtype)
    b1, b2 = _inputs.masked(b1, mask, safe, axis=-1), _inputs.masked(b2, mask, safe, axis=-1)
    return b1, b2, jnp.asarray(eps).astype(dtype), w, mask


def _reduce(
    per: jax.Array,
    mask: jax.Array | None,
    weights: jax.Array | None,
    reduction: str,
    axis_name: str | None,
) -> jax.Array:
    """jaxloss's one rule: ``weights`` rescale each element's loss and never enter the
    denominator; "mean" divides by the kept element count (0 for none). A masked element's
    weight is taken as 1 first, so a NaN or inf there reaches no gradient."""
    if weights is not None:
        weights = _inputs.masked(weights, mask, 1.0)
    return reduce_masked(per, mask, reduction, axis_name, weights=weights)


# ---------------------------------------------------------------------------------------------
# box geometry (torchvision.ops._utils._loss_inter_union and diou_loss._diou_iou_loss)
# ---------------------------------------------------------------------------------------------


def _corners(b: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


def _inter_union(b1: jax.Array, b2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The intersection (0 unless both overlaps are strictly positive) and the union."""
    x1, y1, x2, y2 = _corners(b1)
    x1g, y1g, x2g, y2g = _corners(b2)
    xk1, yk1 = jnp.maximum(x1, x1g), jnp.maximum(y1, y1g)
    xk2, yk2 = jnp.minimum(x2, x2g), jnp.minimum(y2, y2g)
    overlap = (yk2 > yk1) & (xk2 > xk1)
    inter = jnp.where(overlap, (xk2 - xk1) * (yk2 - yk1), jnp.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing(b1: jax.Array, b2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Width and height of the smallest box enclosing both."""
    x1, y1, x2, y2 = _corners(b1)
    x1g, y1g, x2g, y2g = _corners(b2)
    return (jnp.maximum(x2, x2g) - jnp.minimum(x1, x1g),
            jnp.maximum(y2, y2g) - jnp.minimum(y1, y1g))


def _diou(b1: jax.Array, b2: jax.Array, eps: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """torchvision's ``_diou_iou_loss``: ``(1 - IoU + d^2 / (c^2 + eps), IoU)``."""
    inter, union = _inter_union(b1, b2)
    iou = inter / (union + eps)
    cw, ch = _enclosing(b1, b2)
    diagonal2 = cw * cw + ch * ch + eps
    x1, y1, x2, y2 = _corners(b1)
    x1g, y1g, x2g, y2g = _corners(b2)
    dx = (x2 + x1) / 2 - (x1g + x2g) / 2
    dy = (y2 + y1) / 2 - (y1g + y2g) / 2
    return 1 - iou + (dx * dx + dy * dy) / diagonal2, iou


@jax.custom_jvp
def _aspect_angle(w: jax.Array, h: jax.Array) -> jax.Array:
    """``atan(w / h)`` (torchvision's aspect term), extended to ``h = 0``: ``+-pi/2`` as
    torchvision's ``atan(+-inf)``, and 0 for ``w = h = 0``, where torchvision's ``0 / 0`` is
    NaN. ``atan2`` of the pair turned into the right half-plane (the sign bit of ``h``, so
    ``h = -0.0`` gives torchvision's ``w / -0.0``)."""
    flip = jnp.signbit(h)
    return jnp.arctan2(jnp.where(flip, -w, w), jnp.where(flip, -h, h))


@_aspect_angle.defjvp
def _aspect_angle_jvp(primals, tangents):
    """``d atan(w/h) = (h dw - w dh) / (w^2 + h^2)`` for any signs: torchvision's derivative
    where it is finite, and 0 at ``w = h = 0`` (torchvision: NaN; also NaN at ``h = 0``,
    where this is the limit)."""
    (w, h), (dw, dh) = primals, tangents
    r2 = w * w + h * h
    nonzero = r2 > 0
    d = (h * dw - w * dh) / jnp.where(nonzero, r2, jnp.ones_like(r2))
    return _aspect_angle(w, h), jnp.where(nonzero, d, jnp.zeros_like(d))



# ---------------------------------------------------------------------------------------------
# box losses (torchvision.ops)
# ---------------------------------------------------------------------------------------------


@_inputs.public
def generalized_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    eps: ArrayLike = 1e-7,
    weights: ArrayLike | None = None,
    reduction: str = "none",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Generalized IoU loss, as torchvision's ``torchvision.ops.generalized_box_iou_loss``.

    .. math::

       l = 1 - \frac{I}{U + \epsilon} + \frac{A_C - U}{A_C + \epsilon}

    for each pair of boxes, with :math:`I` the area of their intersection (0 unless they
    overlap with positive width and height), :math:`U` the area of their union and
    :math:`A_C` the area of the smallest box enclosing both. :math:`l \in [0, 2)`: 0 for
    identical boxes, towards 2 for small boxes far apart.

    Degenerate boxes (zero width or height, identical, disjoint, nested) have finite values
    and gradients for ``eps > 0``; at ties of the min/max corners the gradient is split
    evenly between the two boxes, as PyTorch's. Boxes with ``x2 < x1`` are not rejected (as
    torchvision 0.28: no check); the formula is applied as written.

    Args:
      boxes1: float array of shape (..., 4), boxes as (x1, y1, x2, y2) with x1 <= x2 and
        y1 <= y2 (torchvision's (N, 4) or (4,), and any leading shape).
      boxes2: float array of the same shape (torchvision broadcasts; here a mismatch is an
        error). The loss is symmetric in the two.
      eps: small number to prevent division by zero, added to both denominators as
        torchvision does; a scalar >= 0 (traceable).
      weights: optional real per-box weights, broadcastable to the box shape (...)
        (traceable): each box's loss is multiplied by its weight and "mean" still divides
        by the number of kept boxes (jaxloss's one rule; torchvision has no weights).
      reduction: "none" (torchvision's default: one loss per box, shape (...)), "mean" or
        "sum". The "mean" of no boxes is 0, as torchvision's.
      where: optional boolean mask broadcastable to (...); False boxes count as absent (0
        in "none", out of the numerator and the denominator of "mean") and their
        coordinates reach neither the value nor the gradient.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that
        axis (numerator and denominator summed across devices before dividing).

    Returns:
      Shape (...) for "none", else a scalar; float32 (float64 for float64 boxes; bf16/f16
      boxes are computed in float32, where torchvision keeps float16).

    Raises:
      ValueError: a last axis other than 4, boxes of different shapes, a non-scalar or a
        concrete negative ``eps``, ``weights`` or ``where`` that do not broadcast to (...),
        an unknown ``reduction``.
      TypeError: integer boxes (torchvision casts them to float32; cast them with
        ``boxes.astype(jnp.float32)``), non-boolean ``where``, boolean ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> pred = jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
      >>> true = jnp.array([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]])
      >>> print(*[f"{v:.4f}" for v in jaxloss.generalized_box_iou_loss(pred, true)])
      1.0794 1.7778
      >>> print(f"{jaxloss.generalized_box_iou_loss(pred, true, reduction='mean'):.4f}")
      1.4286

    References:
      Rezatofighi et al., "Generalized Intersection over Union: A Metric and A Loss for
      Bounding Box Regression", CVPR 2019; torchvision ``torchvision.ops.giou_loss``
      (transcribed from torchvision 0.28).
    """
    fn = "generalized_box_iou_loss"
    b1, b2, e, w, mask = _prepare_boxes(fn, boxes1, boxes2, eps, weights, reduction, where)
    inter, union = _inter_union(b1, b2)
    cw, ch = _enclosing(b1, b2)
    area_c = cw * ch
    per = 1 - inter / (union + e) + (area_c - union) / (area_c + e)
    return _reduce(per, mask, w, reduction, axis_name)


@_inputs.public
def distance_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    eps: ArrayLike = 1e-7,
    weights: ArrayLike | None = None,
    reduction: str = "none",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Distance IoU loss, as torchvision's ``torchvision.ops.distance_box_iou_loss``.

    .. math::

       l = 1 - \frac{I}{U + \epsilon} + \frac{d^2}{c^2 + \epsilon}

    for each pair of boxes, with :math:`I` and :math:`U` the areas of their intersection
    and union, :math:`d` the distance between the boxes' centres and :math:`c` the diagonal
    of the smallest box enclosing both. Boxes with the same centre reduce to the IoU loss.

    Degenerate boxes (zero width or height, identical, disjoint, nested) have finite values
    and gradients for ``eps > 0``; at ties of the min/max corners the gradient is split
    evenly, as PyTorch's.

    Args:
      boxes1: float array of shape (..., 4), boxes as (x1, y1, x2, y2) with x1 <= x2 and
        y1 <= y2 (torchvision's (N, 4) or (4,), and any leading shape).
      boxes2: float array of the same shape (torchvision broadcasts; here a mismatch is an
        error). The loss is symmetric in the two.
      eps: small number to prevent division by zero, added to the union and to the squared
        diagonal as torchvision does; a scalar >= 0 (traceable).
      weights: optional real per-box weights, broadcastable to the box shape (...)
        (traceable): each box's loss is multiplied by its weight and "mean" still divides
        by the number of kept boxes (jaxloss's one rule; torchvision has no weights).
      reduction: "none" (torchvision's default: one loss per box, shape (...)), "mean" or
        "sum". The "mean" of no boxes is 0, as torchvision's.
      where: optional boolean mask broadcastable to (...); False boxes count as absent (0
        in "none", out of the numerator and the denominator of "mean") and their
        coordinates reach neither the value nor the gradient.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that
        axis (numerator and denominator summed across devices before dividing).

    Returns:
      Shape (...) for "none", else a scalar; float32 (float64 for float64 boxes; bf16/f16
      boxes are computed in float32, where torchvision keeps float16).

    Raises:
      ValueError: a last axis other than 4, boxes of different shapes, a non-scalar or a
        concrete negative ``eps``, ``weights`` or ``where`` that do not broadcast to (...),
        an unknown ``reduction``.
      TypeError: integer boxes (torchvision casts them to float32; cast them with
        ``boxes.astype(jnp.float32)``), non-boolean ``where``, boolean ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> pred = jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
      >>> true = jnp.array([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]])
      >>> print(*[f"{v:.4f}" for v in jaxloss.distance_box_iou_loss(pred, true)])
      0.9683 1.4444

    References:
      Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
      Regression", AAAI 2020; torchvision ``torchvision.ops.diou_loss`` (transcribed from
      torchvision 0.28).
    """
    fn = "distance_box_iou_loss"
    b1, b2, e, w, mask = _prepare_boxes(fn, boxes1, boxes2, eps, weights, reduction, where)
    per, _ = _diou(b1, b2, e)
    return _reduce(per, mask, w, reduction, axis_name)


@_inputs.public
def complete_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    eps: ArrayLike = 1e-7,
    weights: ArrayLike | None = None,
    reduction: str = "none",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Complete IoU loss, as torchvision's ``torchvision.ops.complete_box_iou_loss``.

    .. math::

       l = \underbrace{1 - \frac{I}{U + 10^{-7}} + \frac{d^2}{c^2 + 10^{-7}}}_{\text{DIoU}}
           + \alpha v, \qquad
       v = \frac{4}{\pi^2}\Big(\arctan\frac{w_2}{h_2} - \arctan\frac{w_1}{h_1}\Big)^2,
       \qquad \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    with :func:`distance_box_iou_loss`'s symbols, :math:`w_i, h_i` the width and height of
    box :math:`i`, and :math:`\alpha` a constant of the gradient (torchvision computes it
    under ``no_grad``). As in torchvision, ``eps`` enters only :math:`\alpha`: the DIoU part
    always uses torchvision's default ``1e-7`` (torchvision calls ``_diou_iou_loss`` without
    its ``eps``).

    Degenerate boxes have finite values and gradients for ``eps > 0``. Where torchvision is
    not finite this differs: a box of zero height gets :math:`\arctan(w/0) = \pm\pi/2` as in
    torchvision but a finite gradient (torchvision: NaN), and a point box (zero width and
    height) gets angle 0 (torchvision: NaN loss).

    Args:
      boxes1: float array of shape (..., 4), boxes as (x1, y1, x2, y2) with x1 <= x2 and
        y1 <= y2 (torchvision's (N, 4) or (4,), and any leading shape).
      boxes2: float array of the same shape (torchvision broadcasts; here a mismatch is an
        error). The loss is symmetric in the two.
      eps: small number to prevent division by zero in :math:`\alpha` only, as torchvision;
        a scalar >= 0 (traceable).
      weights: optional real per-box weights, broadcastable to the box shape (...)
        (traceable): each box's loss is multiplied by its weight and "mean" still divides
        by the number of kept boxes (jaxloss's one rule; torchvision has no weights).
      reduction: "none" (torchvision's default: one loss per box, shape (...)), "mean" or
        "sum". The "mean" of no boxes is 0, as torchvision's.
      where: optional boolean mask broadcastable to (...); False boxes count as absent (0
        in "none", out of the numerator and the denominator of "mean") and their
        coordinates reach neither the value nor the gradient.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that
        axis (numerator and denominator summed across devices before dividing).

    Returns:
      Shape (...) for "none", else a scalar; float32 (float64 for float64 boxes; bf16/f16
      boxes are computed in float32, where torchvision keeps float16).

    Raises:
      ValueError: a last axis other than 4, boxes of different shapes, a non-scalar or a
        concrete negative ``eps``, ``weights`` or ``where`` that do not broadcast to (...),
        an unknown ``reduction``.
      TypeError: integer boxes (torchvision casts them to float32; cast them with
        ``boxes.astype(jnp.float32)``), non-boolean ``where``, boolean ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> pred = jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
      >>> true = jnp.array([[1.0, 1.0, 3.0, 4.0], [2.0, 2.0, 3.0, 3.0]])
      >>> print(*[f"{v:.4f}" for v in jaxloss.complete_box_iou_loss(pred, true)])
      1.0192 1.4444

    References:
      Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
      Regression", AAAI 2020 (CIoU, and its extended version "Enhancing Geometric Factors in
      Model Learning and Inference for Object Detection and Instance Segmentation", IEEE
      TCYB 2021); torchvision ``torchvision.ops.ciou_loss`` (transcribed from torchvision
      0.28).
    """
    fn = "complete_box_iou_loss"
    b1, b2, e, w, mask = _prepare_boxes(fn, boxes1, boxes2, eps, weights, reduction, where)
    diou, iou = _diou(b1, b2, _TORCHVISION_DIOU_EPS)
    x1, y1, x2, y2 = _corners(b1)
    x1g, y1g, x2g, y2g = _corners(b2)
    angle = _aspect_angle(x2g - x1g, y2g - y1g) - _aspect_angle(x2 - x1, y2 - y1)
    v = _FOUR_OVER_PI2 * angle * angle
    alpha = jax.lax.stop_gradient(v / (1 - iou + v + e))
    return _reduce(diou + alpha * v, mask, w, reduction, axis_name)


# ---------------------------------------------------------------------------------------------
# dense-detection classification losses (mmdetection)
# ---------------------------------------------------------------------------------------------


def _bce(x: jax.Array, t: jax.Array) -> jax.Array:
    """``F.binary_cross_entropy_with_logits(x, t, reduction="none")`` in log space:
    ``-(t log sigmoid(x) + (1 - t) log sigmoid(-x))``, accurate at either tail."""
    return -(t * jax.nn.log_sigmoid(x) + (1 - t) * jax.nn.log_sigmoid(-x))


def _pow_abs(d: jax.Array, p: jax.Array) -> jax.Array:
    """``|d|^p`` (``torch.pow(d.abs(), p)``, with ``0^0 = 1``) whose derivatives stay finite
    at ``d = 0``: 0 there in ``d`` (the true one for ``p > 1``; a finite subgradient for
    ``p <= 1``) and in ``p`` (``0^p log 0``)."""
    a = jnp.abs(d)
    nonzero = a > 0
    powered = jnp.exp(p * jnp.log(jnp.where(nonzero, a, jnp.ones_like(a))))
    return jnp.where(nonzero, powered, jnp.where(p == 0, 1.0, 0.0).astype(a.dtype))


def _prepare_elementwise(fn, logits, targets, reduction, where):
    """``(x, t, mask)`` for elementwise logits and float targets of one shape."""
    given, given_targets = _inputs.tensor("logits", logits), _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, reduction)
    (x, *_), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=None)
    t = given_targets.value
    _checks.check_numeric(fn, "targets", t, given=given_targets.given)
    _checks.check_same_shape(fn, "logits", x.shape, "targets", t.shape)
    mask = _inputs.mask(fn, where, x.shape)
    t = t.astype(dtype)
    return _inputs.masked(x, mask, 0.0), _inputs.masked(t, mask, 0.0), mask


@_inputs.public
def varifocal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 0.75,
    gamma: ArrayLike = 2.0,
    iou_weighted: bool = True,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Varifocal loss, as mmdetection's ``varifocal_loss`` (VarifocalNet).

    .. math::

       l = \mathrm{BCE}(x, q) \cdot \begin{cases}
           q \ (\text{1 without iou\_weighted}) & q > 0 \\
           \alpha\, |\sigma(x) - q|^{\gamma} & q \le 0 \end{cases}

    elementwise, with :math:`x` the logit, :math:`q` the IoU-aware classification target
    (the IoU with the ground-truth box at the positive class of a positive anchor, 0
    elsewhere) and :math:`\mathrm{BCE}(x, q) = -q\log\sigma(x) - (1 - q)\log\sigma(-x)`.
    Positives are weighted by their target, negatives down-weighted by the focal factor
    (:math:`\alpha` acts on negatives only, unlike the focal loss's). Computed in log space:
    :math:`\sigma(x)^\gamma = e^{\gamma \log\sigma(x)}` at :math:`q = 0`, so values and
    gradients are finite at logits of +-100. The derivative in the targets is mmdetection's
    autograd one (the loss jumps at :math:`q = 0`, where it is the one-sided derivative of
    the negative branch).

    Args:
      logits: float array of shape (..., C) (mmdetection's (N, C)), one sigmoid logit per
        class; any shape.
      targets: numeric array of the same shape: the IoU-aware score, > 0 at positives, 0 at
        negatives.
      alpha: the negatives' balance factor, a scalar >= 0 (traceable; mmdetection's 0.75).
      gamma: the focusing exponent of the negatives, a scalar (traceable; 2.0).
      iou_weighted: weight positives by their target (True, mmdetection's default) or by 1.
      weights: optional real per-element weights broadcastable to ``logits`` (mmdetection's
        ``weight``; traceable): they multiply each element's loss and never enter the
        denominator, as mmdetection's.
      reduction: "mean" (mmdetection's default: over every element, N * C), "sum" or
        "none". mmdetection's ``avg_factor=k`` is ``reduction="sum"`` divided by ``k``.
      where: optional boolean mask broadcastable to ``logits``; False elements count as
        absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the elementwise loss for "none"; float32 (float64 for float64 inputs,
      float32 for bf16/f16, computed in float32).

    Raises:
      ValueError: ``targets`` of another shape, a non-scalar or concrete negative ``alpha``,
        a non-scalar ``gamma``, ``weights`` or ``where`` that do not broadcast, an unknown
        ``reduction``.
      TypeError: non-float ``logits``, non-numeric ``targets``, a non-bool ``iou_weighted``,
        non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[2.0, -1.0], [0.5, -3.0]])
      >>> q = jnp.array([[0.8, 0.0], [0.0, 0.0]])
      >>> loss = jaxloss.varifocal_loss(x, q, reduction="none")
      >>> print(*[f"{v:.4f}" for v in loss.ravel()])
      0.4215 0.0170 0.2831 0.0001

    References:
      Zhang et al., "VarifocalNet: An IoU-aware Dense Object Detector", CVPR 2021;
      mmdetection ``mmdet/models/losses/varifocal_loss.py``.
    """
    fn = "varifocal_loss"
    weighted = _inputs.flag(fn, "iou_weighted", iou_weighted)
    x, t, mask = _prepare_elementwise(fn, logits, targets, reduction, where)
    _checks.check_nonnegative(fn, "alpha", alpha)
    a, g = _inputs.scalar(fn, "alpha", alpha, x.dtype), _inputs.scalar(fn, "gamma", gamma, x.dtype)
    positive = t > 0
    log_p = jax.nn.log_sigmoid(x)
    # |p - q|^gamma at q = 0 in log space, plus its first-order term in q (0 in value) so that
    # the target derivative is mmdetection's -gamma p^(gamma - 1); for q < 0, p - q >= |q| > 0.
    at_zero = jnp.exp(g * log_p) - g * jnp.exp((g - 1) * log_p) * t
    below = jnp.where(t < 0, jnp.exp(log_p) - t, jnp.ones_like(t))
    modulating = jnp.where(t == 0, at_zero, jnp.exp(g * jnp.log(below)))
    focal_weight = jnp.where(
        positive, t if weighted else jnp.ones_like(t), a * modulating
    )
    per = _bce(x, t) * focal_weight
    w = _inputs.element_weights(fn, weights, tuple(x.shape), x.dtype)
    return _reduce(per, mask, w, reduction, axis_name)


def _class_logits(fn: str, logits: ArrayLike, axis: int, minimum: int, what: str):
    """Float logits with their class (or bin) axis moved last."""
    given = _inputs.tensor("logits", logits)
    (x,), dtype = _inputs.floats(fn, given)
    ax = _checks.check_axis(fn, "logits", x, axis)
    if x.shape[ax] < minimum:
        raise ValueError(
            f"{fn}: `logits` must have at least {minimum} {what} along axis {axis}, got shape "
            f"{tuple(x.shape)}."
        )
    return jnp.moveaxis(x, ax, -1), dtype, ax


@_inputs.public
def quality_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    scores: ArrayLike,
    *,
    beta: ArrayLike = 2.0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Quality focal loss (Generalized Focal Loss), as mmdetection's ``quality_focal_loss``.

    .. math::

       l = \sum_{c \ne y} \mathrm{BCE}(x_c, 0)\, \sigma(x_c)^{\beta}
           \;+\; [y < C]\; \mathrm{BCE}(x_y, s)\, |s - \sigma(x_y)|^{\beta}

    per anchor, with :math:`x` its C sigmoid logits (joint class and quality scores),
    :math:`y` its label, :math:`s` its quality target (the IoU of the predicted box with its
    ground truth) and :math:`\mathrm{BCE}(x, q) = -q\log\sigma(x) - (1 - q)\log\sigma(-x)`.
    Every class is supervised towards 0 except the labelled one, towards :math:`s`.

    Labels follow mmdetection: foreground classes are ``0 .. C-1`` and the label ``C``
    (``logits.shape[axis]``) is background, an anchor whose every class is a negative.
    mmdetection also treats any other label outside ``[0, C)`` as background; here a label
    outside ``[0, C]`` is an error (a concrete one a ``ValueError``, a traced one NaN for its
    anchor and an error under :func:`jaxloss.checked`): mask anchors with ``where``.

    Computed in log space (:math:`\sigma(x)^\beta = e^{\beta\log\sigma(x)}`): finite values
    and gradients at logits of +-100, and at :math:`s = \sigma(x_y)` (where the derivative
    of :math:`|\cdot|^\beta` is 0, a subgradient for :math:`\beta \le 1`).

    Args:
      logits: float array of shape (..., C) (mmdetection's (N, C)), the class axis at
        ``axis``.
      labels: integer array, the logits' shape without the class axis: a class in
        ``[0, C)``, or ``C`` for background (mmdetection's ``target[0]``).
      scores: numeric array of the labels' shape: the quality target in [0, 1] of each
        anchor (mmdetection's ``target[1]``; ignored for background anchors).
      beta: the focusing exponent, a scalar (traceable; mmdetection's 2.0).
      weights: optional real per-anchor weights broadcastable to the labels' shape
        (mmdetection's ``weight``; traceable): they multiply each anchor's loss and never
        enter the denominator, as mmdetection's.
      reduction: "mean" (mmdetection's default: over anchors, of the per-anchor sum over
        classes), "sum" or "none" (one loss per anchor). mmdetection's ``avg_factor=k`` is
        ``reduction="sum"`` divided by ``k``.
      axis: the class axis of ``logits``.
      where: optional boolean mask broadcastable to the labels' shape; False anchors count
        as absent (their labels are not checked).
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the labels' shape for "none"; float32 (float64 for float64 inputs, float32
      for bf16/f16, computed in float32).

    Raises:
      ValueError: a concrete label outside ``[0, C]``, ``labels`` or ``scores`` of the wrong
        shape, an empty class axis, ``axis`` out of range, a non-scalar ``beta``,
        ``weights`` or ``where`` that do not broadcast, an unknown ``reduction``.
      TypeError: non-float ``logits``, non-integer ``labels``, non-numeric ``scores``,
        non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[2.0, -1.0, 0.0], [-2.0, -3.0, 1.0]])
      >>> labels = jnp.array([0, 3])  # class 0, and background (C = 3)
      >>> scores = jnp.array([0.9, 0.0])
      >>> loss = jaxloss.quality_focal_loss(x, labels, scores, reduction="none")
      >>> print(*[f"{v:.4f}" for v in loss])
      0.1961 0.7038

    References:
      Li et al., "Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes
      for Dense Object Detection", NeurIPS 2020; mmdetection
      ``mmdet/models/losses/gfocal_loss.py``.
    """
    fn = "quality_focal_loss"
    _checks.check_reduction(fn, reduction)
    x, dtype, ax = _class_logits(fn, logits, axis, 1, "class")
    given_labels, given_scores = _inputs.tensor("labels", labels), _inputs.tensor("scores", scores)
    y, s = given_labels.value, given_scores.value
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: `labels` must be an integer array of class indices in [0, C] (C = "
            f"background), got dtype {given_labels.given or y.dtype}. The quality targets go "
            "in `scores`."
        )
    _checks.check_numeric(fn, "scores", s, given=given_scores.given)
    logits_shape = tuple(np.moveaxis(np.empty(x.shape, bool), -1, ax).shape)
    _checks.check_targets_shape(fn, logits_shape, tuple(y.shape), ax)
    _checks.check_same_shape(fn, "labels", y.shape, "scores", s.shape)
    if jnp.issubdtype(s.dtype, jnp.floating):
        dtype = _inputs.float_dtype(x, s)
    x, s = x.astype(dtype), s.astype(dtype)
    num_classes = x.shape[-1]
    rule = _inputs.labels(fn, y, num_classes + 1, ignore_index=None, where=where, name="labels")
    x = _inputs.masked(x, rule.mask, 0.0, axis=-1)
    s = _inputs.masked(s, rule.mask, 0.0)
    b = _inputs.scalar(fn, "beta", beta, dtype)
    log_p = jax.nn.log_sigmoid(x)
    negative = -jax.nn.log_sigmoid(-x) * jnp.exp(b * log_p)
    positive = _bce(x, s[..., None]) * _pow_abs(s[..., None] - jnp.exp(log_p), b)
    classes = jnp.arange(num_classes, dtype=rule.safe.dtype)
    classes = classes.reshape((1,) * y.ndim + (num_classes,))
    is_label = classes == rule.safe[..., None]
    per = jnp.sum(jnp.where(is_label, positive, negative), axis=-1)
    per = jnp.where(rule.keep & ~rule.in_range, jnp.full_like(per, jnp.nan), per)
    w = _inputs.element_weights(fn, weights, tuple(y.shape), dtype)
    return _reduce(per, rule.mask, w, reduction, axis_name)


@_inputs.public
def distribution_focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Distribution focal loss (Generalized Focal Loss), as mmdetection's
    ``distribution_focal_loss``.

    .. math::

       l = (\lfloor t\rfloor + 1 - t)\, \mathrm{CE}(x, \lfloor t\rfloor)
           + (t - \lfloor t\rfloor)\, \mathrm{CE}(x, \lfloor t\rfloor + 1)

    per target, with :math:`x` the n + 1 logits of a distance's discretised distribution over
    the bins ``0 .. n``, :math:`t \in [0, n]` the target distance and
    :math:`\mathrm{CE}(x, k) = \log\sum_j e^{x_j} - x_k`: cross-entropy on the two bins
    around :math:`t`, linearly interpolated.

    A target exactly at the last bin, :math:`t = n`, gives :math:`\mathrm{CE}(x, n)`, the
    limit from below (mmdetection indexes the bin n + 1, which does not exist, with weight
    0; PyTorch raises there, which is why mmdetection's heads clamp targets to n - 0.01).
    At an integer :math:`t` the loss has a kink in :math:`t`; its target derivative is the
    one from the right (from the left at n). A target outside ``[0, n]`` gives NaN for its
    element (an error under :func:`jaxloss.checked`).

    Args:
      logits: float array of shape (..., n + 1) (mmdetection's (N, n + 1)), the bins at
        ``axis``; at least 2 bins.
      targets: numeric array, the logits' shape without the bin axis: distances in [0, n]
        (traceable; the loss is piecewise linear in them).
      weights: optional real per-target weights broadcastable to the targets' shape
        (mmdetection's ``weight``; traceable): they multiply each loss and never enter the
        denominator, as mmdetection's.
      reduction: "mean" (mmdetection's default: over targets), "sum" or "none" (one loss
        per target). mmdetection's ``avg_factor=k`` is ``reduction="sum"`` divided by ``k``.
      axis: the bin axis of ``logits``.
      where: optional boolean mask broadcastable to the targets' shape; False targets count
        as absent.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).

    Returns:
      Scalar, or the targets' shape for "none"; float32 (float64 for float64 inputs,
      float32 for bf16/f16, computed in float32).

    Raises:
      ValueError: fewer than 2 bins, ``targets`` of the wrong shape, ``axis`` out of range,
        ``weights`` or ``where`` that do not broadcast, an unknown ``reduction``.
      TypeError: non-float ``logits``, non-numeric ``targets``, non-boolean ``where``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 0.0, 3.0]])
      >>> t = jnp.array([1.25, 3.0])  # 3.0 = n, the last bin
      >>> print(*[f"{v:.4f}" for v in jaxloss.distribution_focal_loss(x, t, reduction="none")])
      0.8702 0.1392

    References:
      Li et al., "Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes
      for Dense Object Detection", NeurIPS 2020; mmdetection
      ``mmdet/models/losses/gfocal_loss.py``.
    """
    fn = "distribution_focal_loss"
    _checks.check_reduction(fn, reduction)
    x, dtype, ax = _class_logits(fn, logits, axis, 2, "bins")
    given_targets = _inputs.tensor("targets", targets)
    t = given_targets.value
    _checks.check_numeric(fn, "targets", t, given=given_targets.given)
    logits_shape = tuple(np.moveaxis(np.empty(x.shape, bool), -1, ax).shape)
    expected = logits_shape[:ax] + logits_shape[ax + 1 :]
    if tuple(t.shape) != expected:
        raise ValueError(
            f"{fn}: `targets` must have the logits' shape without the bin axis (axis {ax}): "
            f"expected {expected}, got {tuple(t.shape)} for logits of shape {logits_shape}. "
            "One distance per distribution, in [0, n] for n + 1 bins."
        )
    if jnp.issubdtype(t.dtype, jnp.floating):
        dtype = _inputs.float_dtype(x, t)
    x, t = x.astype(dtype), t.astype(dtype)
    n = x.shape[-1] - 1
    mask = _inputs.mask(fn, where, tuple(t.shape))
    _checks.check_values(
        fn, "targets", t, low=0.0, high=float(n), where=mask,
        expected=f"a distance in [0, {n}] (n + 1 = {n + 1} bins)",
    )
    x = _inputs.masked(x, mask, 0.0, axis=-1)
    t = _inputs.masked(t, mask, 0.0)
    in_range = (t >= 0) & (t <= n)
    safe_t = jnp.where(in_range, t, jnp.zeros_like(t))
    left = jnp.clip(jnp.floor(jax.lax.stop_gradient(safe_t)), 0, n - 1)
    index = left.astype(jnp.int32)[..., None]
    x_left = jnp.take_along_axis(x, index, axis=-1)[..., 0]
    x_right = jnp.take_along_axis(x, index + 1, axis=-1)[..., 0]
    lse = jax.nn.logsumexp(x, axis=-1)
    per = lse - (left + 1 - safe_t) * x_left - (safe_t - left) * x_right
    per = jnp.where(in_range, per, jnp.full_like(per, jnp.nan))
    w = _inputs.element_weights(fn, weights, tuple(t.shape), dtype)
    return _reduce(per, mask, w, reduction, axis_name)
