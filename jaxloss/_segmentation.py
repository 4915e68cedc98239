r"""Overlap losses for segmentation: Dice, Tversky (and focal Tversky), generalised Dice,
Dice + cross-entropy and Dice + focal. The Lovász losses are in ``_lovasz.py``.

All of them reduce a prediction ``P`` (softmax or sigmoid of the logits, or probabilities as
given) and a target ``T`` (one-hot of integer labels, or probabilities) to three statistics
per (sample, class), summed over the spatial positions that are kept:

* ``I = sum P * T`` (the soft intersection),
* ``S_P = sum P`` and ``S_T = sum T`` (``sum P**2`` and ``sum T**2`` with ``squared=True``).

Dice and Tversky are both the ratio

.. math::

   r = \frac{2 I + s}{2 (1 - \alpha - \beta) I + 2 \alpha S_P + 2 \beta S_T + s}

which is :math:`(2I + s) / (S_P + S_T + s)` (Dice) at :math:`\alpha = \beta = 1/2`, and
:math:`(I + s/2) / (I + \alpha FP + \beta FN + s/2)` (Tversky) in general, with
:math:`FP = S_P - I` and :math:`FN = S_T - I`. Computing Dice through the same expression at
``alpha = beta = 0.5`` makes ``tversky_loss(alpha=0.5, beta=0.5)`` equal ``dice_loss`` exactly,
smoothing included (optax's and MONAI's Tversky place ``s`` without the factor 2, so there
Tversky at 0.5/0.5 is Dice with twice the smoothing).

Axis 0 is always the batch axis, ``axis`` the class axis and every other axis spatial.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._binary import sigmoid_focal_loss
from jaxloss._reduction import reduce_loss
from jaxloss._softmax import SoftmaxConfig, along, softmax_loss

ACTIVATIONS = ("softmax", "sigmoid", "none")
W_TYPES = ("square", "simple", "uniform")


def _check_layout(fn: str, x: jax.Array, axis: Any) -> int:
    """Normalises the class axis; axis 0 is the batch axis and may not be the class axis."""
    axis = _checks.check_axis(fn, "logits", x, axis)
    if x.ndim < 2:
        raise ValueError(
            f"{fn}: `logits` must have a batch axis and a class axis, e.g. (N, H, W, C), or "
            f"(N, C, H, W) with axis=1; got shape {x.shape}. Add a batch axis with `x[None]`."
        )
    if axis == 0:
        raise ValueError(
            f"{fn}: `axis`=0 is the batch axis; the class axis must be another one (axis=-1 "
            f"for (N, H, W, C), axis=1 for (N, C, H, W)), got logits of shape {x.shape}."
        )
    return axis


def _check_concrete_unit_interval(fn: str, targets: Any, keep: Any, axis: int) -> None:
    """Soft targets must lie in [0, 1]; checked here when they are concrete (eager calls).

    Traced targets are checked under :func:`jaxloss.checked` only, like every value check.
    """
    if isinstance(targets, jax.core.Tracer) or (
        keep is not None and isinstance(keep, jax.core.Tracer)
    ):
        return
    values = np.asarray(targets)
    bad = (values < 0) | (values > 1)
    if keep is not None:
        bad &= np.expand_dims(np.asarray(keep), axis)
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
        raise ValueError(
            f"{fn}: `targets` must be in [0, 1] with soft_label=True (soft labels are "
            f"probabilities), got {_checks.fmt(values[index])} at index {index}. Rescale "
            "the targets, or drop those pixels with `where=`."
        )


def _overlap_stats(
    fn: str,
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str,
    class_weights: ArrayLike | None,
    ignore_index: int,
    include_background: bool,
    batch: bool,
    squared: bool,
    reduction: str,
    axis: int,
    where: ArrayLike | None,
    axis_name: str | None,
    soft_label: bool = False,
    pixels: bool = False,
    binary_fix: str = 'pass activation="sigmoid"',
):
    """Validates the inputs; returns (I, S_P, S_T, kept samples, class weights, dtype), and
    with ``pixels`` also (logits in the compute dtype, targets, kept-pixel mask or None):
    the per-pixel pieces a pixel-wise companion term (dice_focal_loss's focal term) needs.

    With ``soft_label`` (and without ``squared``) ``I`` is MONAI's soft-label intersection
    ``(S_P + S_T - sum |P - T|) / 2``, which is ``sum P T`` for 0/1 targets and gives
    ``I = S_P = S_T`` when ``P == T``. With ``squared`` the two coincide for every target
    (``sum P T = (sum P**2 + sum T**2 - sum (P - T)**2) / 2``).
    """
    given = _inputs.tensor("logits", logits)
    given_targets = _inputs.tensor("targets", targets)
    _checks.check_reduction(fn, reduction)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{fn}: `activation` must be one of {ACTIVATIONS}, got {activation!r}. Use "
            "'softmax' for mutually exclusive classes, 'sigmoid' for independent (multi-label "
            "or binary) channels and 'none' when the inputs are already probabilities."
        )
    (x, *_), dtype = _inputs.floats(fn, given, targets=given_targets, class_axis=axis)
    targets = given_targets.value
    axis = _check_layout(fn, x, axis)
    _checks.check_ignore_index(fn, ignore_index)
    include_background = _inputs.flag(fn, "include_background", include_background)
    batch = _inputs.flag(fn, "batch", batch)
    squared = _inputs.flag(fn, "squared", squared)
    soft_label = _inputs.flag(fn, "soft_label", soft_label)
    num_classes = x.shape[axis]
    pixel_shape = x.shape[:axis] + x.shape[axis + 1 :]

    w = _inputs.class_weights(fn, class_weights, num_classes, dtype)
    w = jnp.ones((num_classes,), dtype) if w is None else w
    if not include_background:
        if num_classes < 2:
            sigmoid = ' with activation="sigmoid"' if activation == "softmax" else ""
            raise ValueError(
                f"{fn}: `include_background=False` drops class 0, but `logits` has a single "
                f"class along axis {axis} (shape {x.shape}). Keep include_background=True{sigmoid} "
                "for binary (single-channel) segmentation."
            )
        w = jnp.where(jnp.arange(num_classes) == 0, jnp.zeros_like(w), w)
    if activation == "softmax":
        _checks.check_softmax_classes(fn, "logits", x.shape, axis, binary_fix=binary_fix)

    if jnp.issubdtype(targets.dtype, jnp.integer):
        _checks.check_targets_shape(fn, x.shape, targets.shape, axis)
        labels = _inputs.labels(
            fn, targets, num_classes, ignore_index=ignore_index, where=where
        )
        kept, in_range = labels.keep, labels.in_range
        keep: jax.Array | None = kept
        targets = labels.targets
        classes = along(jnp.arange(num_classes, dtype=targets.dtype), x.ndim, axis)
        t = (jnp.expand_dims(targets, axis) == classes).astype(dtype)
        # A kept out-of-range label poisons its sample (NaN), as in cross_entropy: no silent
        # all-zero one-hot.
        t = jnp.where(jnp.expand_dims(kept & ~in_range, axis), jnp.nan, t)
    elif jnp.issubdtype(targets.dtype, jnp.floating) or targets.dtype == jnp.bool_:
        if targets.shape != x.shape:
            raise ValueError(
                f"{fn}: floating (probability or mask) `targets` must have the logits' shape "
                f"{x.shape}, got {targets.shape}. Integer class indices need an integer dtype "
                f"and the logits' shape without the class axis (the logits' axis {axis})."
            )
        if ignore_index != -100:
            raise ValueError(
                f"{fn}: `ignore_index`={ignore_index} applies to integer targets only; "
                "with probability targets, drop pixels with `where=` instead."
            )
        keep = _inputs.mask(fn, where, pixel_shape)
        t = targets.astype(dtype)
        if soft_label:
            _check_concrete_unit_interval(fn, targets, keep, axis)
        _checks.check_unit_interval_values(
            fn, "targets", t, None if keep is None else jnp.expand_dims(keep, axis),
            expected="in [0, 1] (masks or probabilities)",
        )
    else:
        raise TypeError(
            f"{fn}: `targets` must have an integer dtype (class indices) or a floating/bool "
            "dtype (probabilities or masks with the logits' shape), got dtype "
            f"{targets.dtype if given_targets.given is None else given_targets.given}."
        )
    if activation == "none":
        _checks.check_unit_interval_values(
            fn, "logits", x, None if keep is None else jnp.expand_dims(keep, axis),
            expected='probabilities in [0, 1] with activation="none"',
            hint=' For logits pass activation="softmax" or activation="sigmoid".',
        )

    # A dropped pixel's logits (probabilities with activation="none") and targets are filled
    # before the activation, so that a NaN or inf there reaches no gradient; its
    # probabilities are then set to 0 so that it adds nothing to the sums.
    x = _inputs.masked(x, keep, 0.5 if activation == "none" else 0.0, axis=axis)
    t = _inputs.masked(t, keep, 0.0, axis=axis)
    if activation == "softmax":
        p = jnp.exp(jax.nn.log_softmax(x, axis=axis))
    elif activation == "sigmoid":
        p = jnp.exp(jax.nn.log_sigmoid(x))
    else:
        p = x
    p = _inputs.masked(p, keep, 0.0, axis=axis)
    spatial = tuple(i for i in range(x.ndim) if i not in (0, axis))
    sum_axes = (0, *spatial) if batch else spatial
    sum_p = jnp.sum(p * p if squared else p, axis=sum_axes)
    sum_t = jnp.sum(t * t if squared else t, axis=sum_axes)
    if soft_label and not squared:
        intersection = 0.5 * (sum_p + sum_t - jnp.sum(jnp.abs(p - t), axis=sum_axes))
    else:
        intersection = jnp.sum(p * t, axis=sum_axes)
    # Samples with no kept pixel drop out of the mean instead of diluting it with a 0.
    if keep is None:
        kept = jnp.ones(() if batch else (x.shape[0],), jnp.bool_)
    else:
        kept = jnp.any(keep, axis=None if batch else tuple(range(1, keep.ndim)))
    if batch and axis_name is not None:
        intersection, sum_p, sum_t = jax.lax.psum((intersection, sum_p, sum_t), axis_name)
        kept = jax.lax.psum(kept.astype(jnp.int32), axis_name) > 0
    if pixels:
        return intersection, sum_p, sum_t, kept, w, dtype, (x, t, keep)
    return intersection, sum_p, sum_t, kept, w, dtype



def _power(score: jax.Array, gamma: jax.Array) -> jax.Array:
    """``score ** gamma`` for scores in [0, 1], with a finite gradient at 0 for every
    ``gamma >= 0`` (the focal-Tversky exponent 0.75 has an infinite slope there).

    A perfect score (0, or a rounding error below it) stays 0 with zero gradient, and
    ``0 ** 0`` is 1 as in Python.
    """
    positive = score > 0
    safe = jnp.where(positive, score, 1.0)
    powered = jnp.exp(gamma * jnp.log(safe))
    return jnp.where(positive, powered, jnp.where(gamma == 0, 1.0, 0.0).astype(score.dtype))


def _overlap_loss(
    fn: str,
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike,
    beta: ArrayLike,
    smooth: ArrayLike,
    activation: str,
    class_weights: ArrayLike | None,
    ignore_index: int,
    include_background: bool,
    batch: bool,
    squared: bool,
    reduction: str,
    axis: int,
    where: ArrayLike | None,
    axis_name: str | None,
    soft_label: bool = False,
    gamma: ArrayLike = 1.0,
    stats: tuple | None = None,
    binary_fix: str = 'pass activation="sigmoid"',
    eps: ArrayLike | None = None,
    log_loss: bool = False,
    absent: str = "score",
) -> jax.Array:
    """The shared implementation of dice_loss, tversky_loss, jaccard_loss and the Dice terms
    of dice_ce and dice_focal; ``stats``: the first six values of :func:`_overlap_stats` when
    the caller has already computed them (from the same arguments).

    SMP's options (jaccard_loss): ``eps`` clamps the Tversky denominator
    ``I + alpha FP + beta FN + s/2`` at ``eps`` (an exact ``0/0`` is still a perfect score);
    ``log_loss`` gives ``-log(max(r, eps))`` instead of ``1 - r``; ``absent="zero"`` sets the
    loss of a class with ``S_T = 0`` to 0 (its weight stays in the mean).
    """
    for name, value in (("smooth", smooth), ("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        _checks.check_scalar(fn, name, value)
        _checks.check_nonnegative(fn, name, value)
    if stats is None:
        stats = _overlap_stats(
            fn, logits, targets, activation=activation, class_weights=class_weights,
            ignore_index=ignore_index, include_background=include_background, batch=batch,
            squared=squared, reduction=reduction, axis=axis, where=where, axis_name=axis_name,
            soft_label=soft_label, binary_fix=binary_fix,
        )
    intersection, sum_p, sum_t, kept, w, dtype = stats
    s = jnp.asarray(smooth, dtype)
    a = jnp.asarray(alpha, dtype)
    b = jnp.asarray(beta, dtype)
    numerator = 2.0 * intersection + s
    denominator = 2.0 * (1.0 - a - b) * intersection + 2.0 * a * sum_p + 2.0 * b * sum_t + s
    # 0 / 0 (class absent from prediction and target, smooth = 0) is a perfect score: loss 0
    # with zero gradients, never NaN.
    empty = denominator == 0
    e = None if eps is None else jnp.asarray(eps, dtype)
    if e is not None:  # SMP's clamp_min(eps) on the Tversky denominator (here doubled)
        denominator = jnp.maximum(denominator, 2.0 * e)
    ratio = jnp.where(empty, 1.0, numerator / jnp.where(empty, 1.0, denominator))
    if log_loss:
        # -log(max(r, eps)), SMP's clamp: constant (zero gradient) below eps; a NaN ratio (a
        # kept out-of-range label) stays NaN.
        floor = jnp.finfo(dtype).tiny if e is None else e
        above = ~(ratio <= floor)
        score = jnp.where(above, -jnp.log(jnp.where(above, ratio, 1.0)), -jnp.log(floor))
    else:
        score = 1.0 - ratio
    if _checks.concrete_float(gamma) != 1.0:
        score = _power(score, jnp.asarray(gamma, dtype))
    if absent == "zero":
        # SMP: the loss of a class with no target pixel is 0, and it still counts in the
        # mean. A NaN S_T (a kept out-of-range label) is not == 0: the NaN stays visible.
        score = jnp.where(sum_t == 0, jnp.zeros_like(score), score)

    if batch:
        weights = jnp.where(kept, w, 0.0)
    else:
        weights = jnp.where(kept[:, None], w[None, :], 0.0)
    per = jnp.where(weights != 0, weights * score, 0.0)
    if reduction == "none":
        return per
    return reduce_loss(per, weights, reduction, None if batch else axis_name)


@_inputs.public
def dice_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str = "softmax",
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
    soft_label: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Soft Dice loss, per (sample, class) by default (MONAI's ``DiceLoss`` conventions).

    With :math:`P` the predicted probabilities, :math:`T` the (one-hot) targets and sums over
    the kept spatial positions of sample :math:`n`,

    .. math::

       d_{nc} = 1 - \frac{2 \sum P_{nc} T_{nc} + s}{\sum P_{nc} + \sum T_{nc} + s}

    (:math:`\sum P^2 + \sum T^2` in the denominator with ``squared=True``). ``batch=True``
    pools the sums over the batch first, giving one score per class. With class weights
    :math:`w` (default 1; :math:`w_0 = 0` when ``include_background=False``):

    * ``"none"``: :math:`w_c d_{nc}`, shape (N, C), or (C,) with ``batch=True``; 0 for a
      dropped class (the column is kept, so column ``c`` is always class ``c``);
    * ``"sum"``: :math:`\sum_{n,c} w_c d_{nc}`;
    * ``"mean"``: :math:`\sum_{n,c} w_c d_{nc} / \sum_{n,c} w_c`, a weighted mean over the
      kept classes and samples. MONAI's weighted mean is :math:`\operatorname{mean}(w_c
      d_{nc})` (divided by N*C whatever the weights); ``reduction="sum"`` divided by N*C
      reproduces it. The two agree when the kept weights average to 1.

    Ignored (``ignore_index``) and masked (``where=False``) pixels drop out of the
    intersection, :math:`\sum P` and :math:`\sum T` alike (MONAI's ``MaskedDiceLoss``). A
    sample with no kept pixel drops out of ``"mean"``; when nothing is kept, ``"mean"`` is 0.

    Soft targets (``soft_label=True``, MONAI's ``soft_label``): the intersection becomes
    :math:`I = (\sum P + \sum T - \sum |P - T|) / 2`, so :math:`d = (\sum |P - T|) /
    (\sum P + \sum T + s)` up to the smoothing, which is 0 exactly when a soft prediction
    equals its soft target (the product :math:`\sum P T` is smaller than :math:`\sum P` for
    any target strictly between 0 and 1, so the default never reaches 0 there). For 0/1
    targets both forms are equal; with ``squared=True`` they are equal for every target.
    The default stays ``False``, MONAI's default.

    A class absent from both the prediction and the target (all :math:`P` and :math:`T`
    exactly 0) has :math:`d = 1 - s/s = 0`; with ``smooth=0`` the ``0/0`` is also read as a
    perfect score, so the loss is never NaN and gradients are finite everywhere. Note that a
    softmax never predicts exactly 0: a class absent from the target but given small
    probabilities everywhere scores close to 1 with a small ``smooth`` (as in MONAI).

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1``; axis 0 is the batch.
        Probabilities with ``activation="none"``. bf16/f16 are computed in float32.
        Channel-first logits always need ``axis=1``: when C equals a spatial size, e.g.
        (N, 4, 4, 4), integer targets (N, 4, 4) fit either layout and the default
        ``axis=-1`` would silently take the last spatial axis as the classes.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded; ``ignore_index`` pixels dropped), or floating/bool targets with the logits'
        shape (class probabilities, or per-channel masks for ``"sigmoid"``).
      activation: ``"softmax"`` over ``axis`` (mutually exclusive classes), ``"sigmoid"``
        per channel (multi-label, binary with C=1) or ``"none"`` (inputs are probabilities).
      smooth: scalar >= 0 added to numerator and denominator (traceable).
      class_weights: optional (C,) per-class weights (traceable); always one per class of
        ``logits``, entry 0 unused when ``include_background=False``.
      ignore_index: integer label whose pixels are dropped (integer targets only).
      include_background: False drops class 0 from the loss (it stays in the softmax).
      batch: pool the sums over the batch (MONAI ``batch=True``) instead of per sample.
      squared: square P and T in the denominator (V-Net; MONAI ``squared_pred``).
      soft_label: the soft-label intersection above (MONAI ``soft_label``), for
        probability targets; floating targets outside [0, 1] are then a ValueError when
        they are concrete.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean mask broadcastable to the per-pixel shape (the logits' shape
        without ``axis``); False pixels count exactly like ignored ones.
      axis_name: inside ``shard_map``/``pmap``, makes the loss global over that axis: with
        ``batch=True`` the sums are pooled across devices, otherwise "mean"/"sum" are.

    Returns:
      A scalar for "mean"/"sum", else (N, C) or (C,); float32 (float64 for float64 logits).

    Raises:
      ValueError: unknown ``reduction`` or ``activation``, ``axis`` 0 or out of range,
        mismatched shapes, wrong ``class_weights`` length, a concrete negative ``smooth``,
        no class, or a single class with ``activation="softmax"`` (always 1: use ``"sigmoid"``),
        concrete floating targets outside [0, 1] with ``soft_label=True``.
      TypeError: integer ``logits``, targets of an unsupported dtype, non-bool flags.

    Under :func:`jaxloss.checked`, also: an out-of-range integer label, floating targets
    outside [0, 1], and inputs outside [0, 1] with ``activation="none"``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])  # (N=1, pixels=3, C=2)
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.dice_loss(logits, targets):.4f}")
      0.1289
      >>> jaxloss.dice_loss(logits, targets, reduction="none")
      Array([[0.1603, 0.0975]], dtype=float32)
      >>> print(f"{jaxloss.dice_loss(logits, targets, include_background=False):.4f}")
      0.0975
      >>> p = jnp.array([[[0.7, 0.3], [0.4, 0.6]]])  # soft prediction == soft target
      >>> print(f"{jaxloss.dice_loss(p, p, activation='none'):.4f}")
      0.4545
      >>> print(f"{jaxloss.dice_loss(p, p, activation='none', soft_label=True):.4f}")
      0.0000

    References:
      Milletari et al., "V-Net", 3DV 2016; Sudre et al., "Generalised Dice overlap as a deep
      learning loss function for highly unbalanced segmentations", DLMIA 2017.
    """
    return _overlap_loss(
        "dice_loss", logits, targets, alpha=0.5, beta=0.5, smooth=smooth,
        activation=activation, class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        soft_label=soft_label,
    )


@_inputs.public
def tversky_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 0.5,
    beta: ArrayLike = 0.5,
    gamma: ArrayLike = 1.0,
    activation: str = "softmax",
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
    soft_label: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Tversky loss: Dice with separate weights on false positives and false negatives.

    .. math::

       t_{nc} = 1 - \frac{I + s/2}{I + \alpha\, FP + \beta\, FN + s/2}
              = 1 - \frac{2I + s}{2(1 - \alpha - \beta) I + 2\alpha S_P + 2\beta S_T + s}

    with :math:`I = \sum P T`, :math:`S_P = \sum P`, :math:`S_T = \sum T` (squares with
    ``squared=True``), :math:`FP = S_P - I`, :math:`FN = S_T - I`. ``alpha`` weights false
    positives and ``beta`` false negatives: ``beta > alpha`` favours recall (small
    structures). ``alpha = beta = 0.5`` is exactly :func:`dice_loss` with the same
    ``smooth``; ``alpha = beta = 1`` is the soft Jaccard (IoU) loss.

    Focal Tversky (Abraham & Khan 2019): ``gamma`` raises each (sample, class) score to a
    power before the reduction, :math:`t_{nc}^{\gamma}` (``gamma=1``, the default, is plain
    Tversky). The paper writes the exponent as :math:`1/\gamma` and recommends
    :math:`\gamma = 4/3`, i.e. ``gamma=0.75`` here; the gradient of a perfect score (0)
    is 0, not the infinite slope of :math:`x^{0.75}`. SMP's ``TverskyLoss(gamma=)`` raises
    the *mean over classes* to the power, so it is the same loss for one class only.
    ``soft_label`` is as in :func:`dice_loss` (MONAI ``TverskyLoss(soft_label=True)``).

    The smoothing is placed as ``s/2`` so that the special case holds; MONAI's and optax's
    Tversky use ``s``, i.e. MONAI ``TverskyLoss(smooth_nr=s, smooth_dr=s)`` is
    ``tversky_loss(smooth=2 * s)``. Everything else (weights, reductions, masks, absent
    classes) is as in :func:`dice_loss`.

    Args:
      logits: see :func:`dice_loss`.
      targets: see :func:`dice_loss`.
      alpha: false-positive weight, scalar >= 0 (traceable).
      beta: false-negative weight, scalar >= 0 (traceable).
      gamma: focal-Tversky exponent on each class's score, scalar >= 0 (traceable).
      activation: ``"softmax"``, ``"sigmoid"`` or ``"none"``.
      smooth: scalar >= 0 (traceable).
      class_weights: optional (C,) per-class weights (traceable).
      ignore_index: integer label whose pixels are dropped.
      include_background: False drops class 0.
      batch: pool the sums over the batch.
      squared: squares in :math:`S_P` and :math:`S_T`.
      soft_label: the soft-label intersection of :func:`dice_loss`.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (not 0).
      where: optional boolean per-pixel mask.
      axis_name: see :func:`dice_loss`.

    Returns:
      As :func:`dice_loss`.

    Raises:
      ValueError: a concrete negative ``alpha``, ``beta`` or ``gamma``, and everything
        :func:`dice_loss` raises.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.tversky_loss(logits, targets, alpha=0.3, beta=0.7):.4f}")
      0.1207
      >>> print(f"{jaxloss.tversky_loss(logits, targets, alpha=0.5, beta=0.5):.4f}")
      0.1289
      >>> focal = jaxloss.tversky_loss(logits, targets, alpha=0.3, beta=0.7, gamma=0.75)
      >>> print(f"{focal:.4f}")
      0.2047

    References:
      Salehi et al., "Tversky loss function for image segmentation using 3D fully
      convolutional deep networks", MLMI 2017; Abraham & Khan, "A novel focal Tversky loss
      function with improved attention U-Net for lesion segmentation", ISBI 2019.
    """
    return _overlap_loss(
        "tversky_loss", logits, targets, alpha=alpha, beta=beta, smooth=smooth,
        activation=activation, class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        soft_label=soft_label, gamma=gamma,
    )


@_inputs.public
def dice_cross_entropy_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    lambda_dice: ArrayLike = 1.0,
    lambda_ce: ArrayLike = 1.0,
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""``lambda_dice * dice_loss + lambda_ce * cross_entropy`` from softmax logits (MONAI's
    ``DiceCELoss``).

    .. math::

       L = \lambda_{dice}\, L_{dice} + \lambda_{ce}\, L_{ce}

    with MONAI's defaults :math:`\lambda_{dice} = \lambda_{ce} = 1` (a plain sum; the
    weights of the two terms are independent, as in :func:`dice_focal_loss`).

    Both terms see the same logits, targets, ``class_weights``, ``ignore_index`` and
    ``where``; each is normalised its own way (:func:`dice_loss`'s weighted mean over
    (sample, class), :func:`cross_entropy`'s PyTorch mean ``sum w[y] l / sum w[y]`` over
    pixels). ``label_smoothing`` applies to the cross-entropy term only, as in MONAI's
    ``DiceCELoss`` and as a PyTorch user combining ``DiceLoss`` with
    ``CrossEntropyLoss(label_smoothing=...)`` expects: the Dice term always compares with the
    unsmoothed targets. ``include_background``, ``batch``, ``squared`` and ``smooth`` concern
    the Dice term only (the cross-entropy always covers every class).

    Softmax only (the cross-entropy needs mutually exclusive classes); for multi-label or
    binary channels combine ``dice_loss(activation="sigmoid")`` with
    :func:`binary_cross_entropy_with_logits` yourself.

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1`` (always pass it for
        channel-first logits: see :func:`dice_loss`).
      targets: integer class indices, or class probabilities with the logits' shape.
      lambda_dice: weight of the Dice term, scalar >= 0 (traceable).
      lambda_ce: weight of the cross-entropy term, scalar >= 0 (traceable).
      smooth: Dice smoothing, scalar >= 0 (traceable).
      class_weights: optional (C,) per-class weights for both terms (traceable).
      weights: optional real per-element weights, broadcastable to the pixel shape (the logits'
        without ``axis``) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the cross-entropy's own denominator, as without
        weights. They weigh the cross-entropy term only (per-pixel weight maps as in U-Net and
        MONAI #6355); the Dice term is a ratio of sums over pixels, not a per-pixel loss.
      ignore_index: integer label whose pixels are dropped from both terms.
      label_smoothing: cross-entropy label smoothing in [0, 1] (traceable).
      include_background: False drops class 0 from the Dice term.
      batch: pool the Dice sums over the batch.
      squared: squared Dice denominator.
      reduction: ``"mean"`` or ``"sum"`` (the two terms have different shapes, so there is
        no ``"none"``; call :func:`dice_loss` and :func:`cross_entropy` for those).
      axis: the class axis (not 0).
      where: optional boolean per-pixel mask for both terms.
      axis_name: see :func:`dice_loss`.

    Returns:
      A float32 scalar (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``reduction="none"``, a concrete
        negative ``lambda_dice`` or ``lambda_ce``, ``label_smoothing`` outside [0, 1], a
        single class (one softmax channel;
        for binary segmentation combine ``dice_loss(activation="sigmoid")`` with
        :func:`binary_cross_entropy_with_logits`), and everything :func:`dice_loss` and
        :func:`cross_entropy` raise.
      TypeError: boolean or complex ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.dice_cross_entropy_loss(logits, targets):.4f}")
      0.2657

    References:
      Milletari et al., "V-Net", 3DV 2016 (the Dice loss); Isensee et al., "nnU-Net", Nature
      Methods 2021 (Dice + cross-entropy); MONAI ``DiceCELoss``.
    """
    fn = "dice_cross_entropy_loss"
    if reduction not in ("mean", "sum"):
        raise ValueError(
            f"{fn}: `reduction` must be 'mean' or 'sum', got {reduction!r}. The Dice term is "
            "per (sample, class) and the cross-entropy per pixel, so there is no common "
            "'none'; call jaxloss.dice_loss and jaxloss.cross_entropy with reduction='none'."
        )
    for name, value in (("lambda_dice", lambda_dice), ("lambda_ce", lambda_ce)):
        _checks.check_scalar(fn, name, value)
        _checks.check_nonnegative(fn, name, value)
    _checks.check_scalar(fn, "label_smoothing", label_smoothing)
    _checks.check_unit_interval(fn, "label_smoothing", label_smoothing)
    dice = _overlap_loss(
        fn, logits, targets, alpha=0.5, beta=0.5, smooth=smooth, activation="softmax",
        class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        binary_fix='combine jaxloss.dice_loss(..., activation="sigmoid") with '
        "jaxloss.binary_cross_entropy_with_logits",
    )
    ce = softmax_loss(
        SoftmaxConfig(fn, axis, reduction, ignore_index, axis_name), logits, targets,
        class_weights=class_weights, weights=weights, where=where,
        label_smoothing=label_smoothing,
    )
    return jnp.asarray(lambda_dice, dice.dtype) * dice + jnp.asarray(lambda_ce, ce.dtype) * ce


@_inputs.public
def generalized_dice_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    w_type: str = "square",
    activation: str = "softmax",
    smooth: ArrayLike = 1e-5,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    soft_label: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Generalised Dice loss (Sudre et al. 2017), MONAI's ``GeneralizedDiceLoss``.

    One score per sample (per batch with ``batch=True``), the classes pooled with weights
    that fall with each class's target volume :math:`S_{T,c} = \sum T_c`:

    .. math::

       g_n = 1 - \frac{2 \sum_c w_{nc} I_{nc} + s}{\sum_c w_{nc} (S_{P,nc} + S_{T,nc}) + s},
       \qquad w_{nc} = S_{T,nc}^{-2}\ (\text{"square"}),\ S_{T,nc}^{-1}\
       (\text{"simple"}),\ 1\ (\text{"uniform"})

    with :math:`I`, :math:`S_P`, :math:`S_T` as in :func:`dice_loss` over the kept pixels
    (``soft_label=True`` gives MONAI's soft-label intersection). A class absent from the
    target has an infinite weight; as in MONAI it gets the largest finite weight of the
    same sample (of the batch with ``batch=True``), and when every class is absent all
    weights are 0 and :math:`g = 1 - s/s = 0` (0 also when ``smooth=0``: the ``0/0`` is read
    as a perfect score, never NaN). ``include_background=False`` drops class 0 before the
    weights are taken. The weights are functions of the targets only.

    * ``"none"``: :math:`g_n`, shape (N,), or () with ``batch=True``;
    * ``"sum"``: :math:`\sum_n g_n`; ``"mean"``: the mean over the samples with a kept
      pixel (MONAI: the mean over all samples; they agree when every sample has one).

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1`` (see :func:`dice_loss`).
      targets: integer class indices (the logits' shape without ``axis``) or
        floating/bool targets with the logits' shape.
      w_type: ``"square"`` (default, MONAI's), ``"simple"`` or ``"uniform"`` (structure).
      activation: ``"softmax"``, ``"sigmoid"`` or ``"none"`` (probabilities).
      smooth: scalar >= 0 added to numerator and denominator (MONAI ``smooth_nr`` =
        ``smooth_dr``; traceable).
      ignore_index: integer label whose pixels are dropped (integer targets only).
      include_background: False drops class 0 (it stays in the softmax).
      batch: pool the sums (and the weights) over the batch.
      soft_label: the soft-label intersection of :func:`dice_loss`.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (not 0).
      where: optional boolean per-pixel mask.
      axis_name: inside ``shard_map``/``pmap``: with ``batch=True`` the sums are pooled
        across devices (so are the weights), otherwise "mean"/"sum" are global.

    Returns:
      A scalar for "mean"/"sum", else (N,) or (); float32 (float64 for float64 logits).

    Raises:
      ValueError: an unknown ``w_type``, and everything :func:`dice_loss` raises.
      TypeError: as :func:`dice_loss`.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.generalized_dice_loss(logits, targets):.4f}")
      0.1420
      >>> print(f"{jaxloss.generalized_dice_loss(logits, targets, w_type='uniform'):.4f}")
      0.1213

    References:
      Sudre et al., "Generalised Dice overlap as a deep learning loss function for highly
      unbalanced segmentations", DLMIA 2017; MONAI ``monai.losses.GeneralizedDiceLoss``.
    """
    fn = "generalized_dice_loss"
    if w_type not in W_TYPES:
        raise ValueError(
            f"{fn}: `w_type` must be one of {W_TYPES}, got {w_type!r}: 'square' weighs each "
            "class by 1/volume**2 (Sudre et al.), 'simple' by 1/volume, 'uniform' by 1."
        )
    _checks.check_scalar(fn, "smooth", smooth)
    _checks.check_nonnegative(fn, "smooth", smooth)
    intersection, sum_p, sum_t, kept, included, dtype = _overlap_stats(
        fn, logits, targets, activation=activation, class_weights=None,
        ignore_index=ignore_index, include_background=include_background, batch=batch,
        squared=False, reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        soft_label=soft_label,
    )
    # (C,) or (N, C): False for a dropped background class.
    included = jnp.broadcast_to(included != 0, sum_t.shape)
    if w_type == "uniform":
        gw = jnp.ones_like(sum_t)
    else:
        absent = sum_t == 0
        safe = jnp.where(absent, 1.0, sum_t)
        gw = 1.0 / (safe * safe if w_type == "square" else safe)
        finite = jnp.where(absent | ~included, 0.0, gw)
        largest = jnp.max(finite, axis=-1, keepdims=True)
        gw = jnp.where(absent, largest, gw)
    gw = jnp.where(included, gw, 0.0)
    s = jnp.asarray(smooth, dtype)
    numerator = 2.0 * jnp.sum(gw * intersection, axis=-1) + s
    denominator = jnp.sum(gw * (sum_p + sum_t), axis=-1) + s
    empty = denominator == 0
    per = 1.0 - jnp.where(empty, 1.0, numerator / jnp.where(empty, 1.0, denominator))
    per = jnp.where(kept, per, 0.0)
    if reduction == "none":
        return per
    return reduce_loss(per, kept.astype(dtype), reduction, None if batch else axis_name)


@_inputs.public
def dice_focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str = "softmax",
    gamma: ArrayLike = 2.0,
    alpha: ArrayLike | None = None,
    lambda_dice: ArrayLike = 1.0,
    lambda_focal: ArrayLike = 1.0,
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""``lambda_dice * dice_loss + lambda_focal * focal``, MONAI's ``DiceFocalLoss``.

    The Dice term is :func:`dice_loss` with the same ``activation``, ``smooth``,
    ``class_weights``, ``include_background``, ``batch`` and ``squared``. The focal term
    depends on the activation:

    * ``"sigmoid"`` (multi-label or binary channels): the per-element sigmoid focal loss
      :math:`w_c \alpha_t (1 - p_t)^\gamma \mathrm{BCE}(x, t)` of
      :func:`sigmoid_focal_loss` on every channel (class 0 dropped with
      ``include_background=False``, as MONAI drops it); "mean" divides by the number of
      kept elements of the included channels, whatever the class weights, as MONAI does.
      This is MONAI ``DiceFocalLoss(sigmoid=True)`` exactly for 0/1 targets; for soft
      targets the factor is torchvision's :math:`(1 - p_t)^\gamma` with
      :math:`p_t = p t + (1 - p)(1 - t)`, where MONAI uses :math:`\sigma(-x (2t - 1))^\gamma`.
    * ``"softmax"``: :func:`focal_loss`'s softmax focal term over every class, normalised
      like :func:`cross_entropy` (``sum w[y] l / sum w[y]``). MONAI 1.6.1's
      ``DiceFocalLoss(softmax=True)`` applies the softmax to the Dice term only and still
      uses a per-channel *sigmoid* focal term on the raw logits; use
      ``activation="sigmoid"`` with one-hot targets if that is the loss you want.

    ``alpha`` (sigmoid only: the positive-class weight in [0, 1], None for none) is
    MONAI's ``alpha``; with softmax, weight classes with ``class_weights``.

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1`` (see :func:`dice_loss`).
      targets: integer class indices, or floating/bool targets with the logits' shape.
      activation: ``"softmax"`` or ``"sigmoid"`` (the focal term needs logits).
      gamma: focal exponent, scalar >= 0 (traceable).
      alpha: sigmoid focal positive-class weight in [0, 1] or None (traceable). None is
        MONAI's default; :func:`sigmoid_focal_loss` keeps torchvision's default, 0.25.
      lambda_dice: weight of the Dice term, scalar >= 0 (traceable).
      lambda_focal: weight of the focal term, scalar >= 0 (traceable).
      smooth: Dice smoothing, scalar >= 0 (traceable).
      class_weights: optional (C,) per-class weights for both terms (traceable).
      weights: optional real per-element weights, broadcastable to the pixel shape (the logits'
        without ``axis``) like ``where`` (traceable): each element's loss is multiplied by its
        weight and "mean" still divides by the focal term's own denominator, as without
        weights. They weigh the focal term only (per-pixel weight maps); the Dice term is a
        ratio of sums over pixels, not a per-pixel loss.
      ignore_index: integer label whose pixels are dropped from both terms.
      include_background: False drops class 0 from the Dice term, and from the sigmoid
        focal term (the softmax focal term covers every class).
      batch: pool the Dice sums over the batch.
      squared: squared Dice denominator.
      reduction: ``"mean"`` or ``"sum"`` (the terms have different shapes).
      axis: the class axis (not 0).
      where: optional boolean per-pixel mask for both terms.
      axis_name: inside ``shard_map``/``pmap``, makes both terms global (see
        :func:`dice_loss`).

    Returns:
      A float32 scalar (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``reduction="none"``, ``activation="none"``,
        ``alpha`` with ``activation="softmax"``, a concrete ``alpha`` outside [0, 1] or a negative
        ``gamma``, ``lambda_dice`` or ``lambda_focal``, and everything :func:`dice_loss`,
        :func:`focal_loss` and :func:`sigmoid_focal_loss` raise.
      TypeError: boolean or complex ``weights``; as :func:`dice_loss`.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.dice_focal_loss(logits, targets):.4f}")
      0.1365
      >>> print(f"{jaxloss.dice_focal_loss(logits, targets, activation='sigmoid'):.4f}")
      0.3264

    References:
      Lin et al., "Focal loss for dense object detection", ICCV 2017; Zhu et al.,
      "AnatomyNet", Medical Physics 2019 (Dice + focal); MONAI
      ``monai.losses.DiceFocalLoss``.
    """
    fn = "dice_focal_loss"
    if reduction not in ("mean", "sum"):
        raise ValueError(
            f"{fn}: `reduction` must be 'mean' or 'sum', got {reduction!r}. The Dice term is "
            "per (sample, class) and the focal term per element, so there is no common "
            "'none'; call jaxloss.dice_loss and jaxloss.focal_loss (or "
            "jaxloss.sigmoid_focal_loss) with reduction='none'."
        )
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(
            f"{fn}: `activation` must be 'softmax' or 'sigmoid', got {activation!r}: the "
            "focal term is computed from logits."
        )
    for name, value in (("gamma", gamma), ("lambda_dice", lambda_dice),
                        ("lambda_focal", lambda_focal)):
        _checks.check_scalar(fn, name, value)
        _checks.check_nonnegative(fn, name, value)
    if alpha is not None:
        if activation == "softmax":
            raise ValueError(
                f"{fn}: `alpha` applies to the sigmoid focal term only, got alpha={alpha!r} "
                'with activation="softmax"; weight the classes with `class_weights` instead.'
            )
        _checks.check_scalar(fn, "alpha", alpha)
        _checks.check_unit_interval(fn, "alpha", alpha)
    *stats, (x, t, keep) = _overlap_stats(
        fn, logits, targets, activation=activation, class_weights=class_weights,
        ignore_index=ignore_index, include_background=include_background, batch=batch,
        squared=squared, reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        pixels=True,
    )
    dice = _overlap_loss(
        fn, logits, targets, alpha=0.5, beta=0.5, smooth=smooth, activation=activation,
        class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name, stats=tuple(stats),
    )
    if activation == "softmax":
        focal = softmax_loss(
            SoftmaxConfig(fn, axis, reduction, ignore_index, axis_name), logits, targets,
            class_weights=class_weights, weights=weights, where=where, gamma=gamma,
        )
    else:
        axis = axis % x.ndim
        per = sigmoid_focal_loss(
            x, jnp.where(jnp.isnan(t), 0.0, t), alpha=alpha, gamma=gamma, reduction="none"
        )
        per = jnp.where(jnp.isnan(t), jnp.nan, per)  # a kept out-of-range label: NaN
        num_classes = x.shape[axis]
        w = jnp.ones((num_classes,), x.dtype)
        if class_weights is not None:
            w = jnp.asarray(class_weights).astype(x.dtype)
        included = jnp.arange(num_classes) != 0 if not include_background else None
        counted = jnp.ones(x.shape, jnp.bool_)
        if included is not None:
            counted = counted & along(included, x.ndim, axis)
        if keep is not None:
            counted = counted & jnp.expand_dims(keep, axis)
        per = along(w, x.ndim, axis) * per
        v = _checks.as_weights(fn, weights, x.shape[:axis] + x.shape[axis + 1 :], x.dtype)
        if v is not None:  # per-pixel weights, the same for every class of the pixel
            v = _inputs.masked(v, keep, 1.0)
            per = jnp.expand_dims(v, axis) * per
        per = jnp.where(counted, per, 0.0)
        focal = reduce_loss(per, counted.astype(x.dtype), reduction, axis_name)
    dtype = dice.dtype
    return (jnp.asarray(lambda_dice, dtype) * dice
            + jnp.asarray(lambda_focal, dtype) * focal.astype(dtype))


# =============================================================================================
# SMP overlap: jaccard_loss (SMP JaccardLoss on the Dice engine) and mcc_loss (SMP MCCLoss)
# =============================================================================================

ABSENT = ("score", "zero")


@_inputs.public
def jaccard_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str = "softmax",
    smooth: ArrayLike = 1e-5,
    eps: ArrayLike = 1e-7,
    log_loss: bool = False,
    absent: str = "score",
    class_weights: ArrayLike | None = None,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
    soft_label: bool = False,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Soft Jaccard (IoU) loss, segmentation_models_pytorch's ``JaccardLoss``, with
    :func:`dice_loss`'s arguments and conventions.

    With :math:`P` the predicted probabilities, :math:`T` the (one-hot) targets and sums over
    the kept spatial positions of sample :math:`n` (of the whole batch with ``batch=True``),
    :math:`I = \sum P T`, :math:`S_P = \sum P`, :math:`S_T = \sum T` and the union
    :math:`U = S_P + S_T - I`:

    .. math::

       r_{nc} = \frac{I_{nc} + s}{\max(U_{nc} + s,\ \epsilon)}, \qquad
       j_{nc} = 1 - r_{nc}
       \quad\text{or, with ``log_loss=True``,}\quad
       j_{nc} = -\log \max(r_{nc}, \epsilon)

    (:math:`\sum P^2` and :math:`\sum T^2` in :math:`U` with ``squared=True``). ``smooth``
    :math:`s` sits in numerator and denominator as in SMP (``jaccard_loss(smooth=s)`` is
    ``tversky_loss(alpha=1, beta=1, smooth=2 * s)``, and MONAI's ``DiceLoss(jaccard=True,
    smooth_nr=s, smooth_dr=s)`` is ``jaccard_loss(smooth=s / 2)``); ``eps`` is SMP's clamp of
    the denominator and of the score under the log, SMP's default 1e-7. An exact ``0/0``
    (a class absent from prediction and target with ``smooth=0``) is a perfect score, 0, as in
    :func:`dice_loss`; the loss is never NaN and its gradients are finite everywhere
    (:math:`j \le -\log \epsilon` with ``log_loss``).

    Soft targets (``soft_label=True``): :math:`I = (S_P + S_T - \sum |P - T|) / 2`, SMP's
    intersection since 0.4 (``soft_tversky_score``) and MONAI's ``soft_label``; the loss is
    then 0 exactly when a soft prediction equals its soft target. For 0/1 targets both forms
    are equal (SMP's always uses the soft form: pass ``soft_label=True`` to match it on
    probability targets).

    ``absent`` decides the loss of a class with no target pixel (:math:`S_T = 0`) in a sample
    (in the batch with ``batch=True``): ``"score"`` (:func:`dice_loss`'s convention) scores it
    like any class, close to 1 when anything is predicted for it (large with ``log_loss``);
    ``"zero"`` (SMP's: "IoU loss is defined for non-empty classes") sets it to 0, and it still
    counts in ``"mean"``. Class weights, reductions, masks and empty samples are as in
    :func:`dice_loss`: ``"none"`` is :math:`w_c j_{nc}`, shape (N, C) or (C,) with
    ``batch=True``; ``"mean"`` is :math:`\sum w_c j / \sum w_c` over the kept classes and
    samples.

    Coming from SMP (channel-first ``x`` of shape (N, C, H, W); value-checked against SMP):

    * ``JaccardLoss("multiclass")(x, y)`` (integer ``y`` (N, H, W)) is
      ``jaccard_loss(x, y, axis=1, batch=True, smooth=0.0, absent="zero")``;
    * ``"binary"`` and ``"multilabel"`` (float masks with ``x``'s shape; a binary (N, H, W)
      mask needs ``mask[:, None]``) add ``activation="sigmoid"``;
    * ``from_logits=False`` is ``activation="none"``; ``log_loss``, ``smooth`` and ``eps``
      keep their names; ``ignore_index=i`` is ``ignore_index=i`` for integer targets and
      ``where=(mask != i)[:, 0]`` for masks (one mask for all channels);
    * ``class_weights=w`` is ``class_weights=w``, and ``classes=[...]`` is ``class_weights``
      1 on those classes and 0 elsewhere (times ``w``): SMP's mean over the selected classes
      is jaxloss's weighted ``"mean"``.

    Args:
      logits: float array (N, ..., C), or (N, C, ...) with ``axis=1``; axis 0 is the batch.
        Probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis``, or
        floating/bool targets with the logits' shape (probabilities or masks).
      activation: ``"softmax"`` (SMP ``"multiclass"``), ``"sigmoid"`` (``"binary"``,
        ``"multilabel"``) or ``"none"`` (``from_logits=False``).
      smooth: scalar >= 0 added to intersection and union (traceable).
      eps: scalar > 0, the floor of the denominator and, with ``log_loss``, of the score
        (traceable); SMP's default.
      log_loss: ``-log`` of the score instead of ``1 -`` it (SMP ``log_loss``).
      absent: ``"score"`` or ``"zero"``: the loss of a class with no target pixel.
      class_weights: optional (C,) per-class weights (traceable); 0/1 weights select classes.
      ignore_index: integer label whose pixels are dropped (integer targets only).
      include_background: False drops class 0 from the loss (it stays in the softmax).
      batch: pool the sums over the batch (SMP always does) instead of per sample.
      squared: squares of P and T in the union.
      soft_label: the soft-target intersection above (SMP's, MONAI ``soft_label``).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean mask broadcastable to the per-pixel shape; False pixels count
        exactly like ignored ones.
      axis_name: inside ``shard_map``/``pmap``: with ``batch=True`` the sums are pooled across
        devices, otherwise "mean"/"sum" are.

    Returns:
      A scalar for "mean"/"sum", else (N, C) or (C,); float32 (float64 for float64 logits).

    Raises:
      ValueError: an unknown ``absent``, ``reduction`` or ``activation``; a concrete negative
        ``smooth`` or ``eps`` <= 0; and everything else :func:`dice_loss` raises.
      TypeError: integer ``logits``, targets of an unsupported dtype, non-bool flags.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])  # (N=1, pixels=3, C=2)
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.jaccard_loss(logits, targets):.4f}")
      0.2270
      >>> print(f"{jaxloss.jaccard_loss(logits, targets, log_loss=True):.4f}")
      0.2595
      >>> masks = jnp.array([[[1.0], [0.0], [0.0]]])  # binary: one sigmoid channel
      >>> x = jnp.array([[[3.0], [-2.0], [0.5]]])
      >>> print(f"{jaxloss.jaccard_loss(x, masks, activation='sigmoid', batch=True):.4f}")
      0.4531

    References:
      Rahman & Wang, "Optimizing intersection-over-union in deep neural networks for image
      segmentation", ISVC 2016; Berman et al., "The Lovász-Softmax loss", CVPR 2018;
      segmentation_models_pytorch ``losses/jaccard.py`` and ``soft_tversky_score``.
    """
    fn = "jaccard_loss"
    if absent not in ABSENT:
        raise ValueError(
            f"{fn}: `absent` must be one of {ABSENT}, got {absent!r}. 'score' scores a class "
            "with no target pixel like any other (dice_loss's convention); 'zero' sets its "
            "loss to 0 (SMP JaccardLoss)."
        )
    log_loss = _inputs.flag(fn, "log_loss", log_loss)
    _checks.check_scalar(fn, "eps", eps)
    _checks.check_positive(fn, "eps", eps)
    _checks.check_scalar(fn, "smooth", smooth)
    _checks.check_nonnegative(fn, "smooth", smooth)
    # The engine's Tversky form at alpha = beta = 1 is (2I + s') / (2U + s'): s' = 2 * smooth.
    return _overlap_loss(
        fn, logits, targets, alpha=1.0, beta=1.0, smooth=2.0 * jnp.asarray(smooth),
        activation=activation, class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
        soft_label=soft_label, eps=eps, log_loss=log_loss, absent=absent,
    )


@_inputs.public
def mcc_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    eps: ArrayLike = 1e-5,
    batch: bool = True,
    reduction: str = "mean",
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Matthews correlation coefficient loss, segmentation_models_pytorch's ``MCCLoss``.

    From probabilities :math:`p` (no activation inside, as SMP: pass ``jax.nn.sigmoid`` of
    the logits) and binary targets :math:`y`, summed over every kept element of the batch
    (of each sample with ``batch=False``):

    .. math::

       TP = \sum p y + \epsilon, \quad TN = \sum (1 - p)(1 - y) + \epsilon, \quad
       FP = \sum p (1 - y) + \epsilon, \quad FN = \sum (1 - p) y + \epsilon

       \ell = 1 - \frac{TP \cdot TN - FP \cdot FN}
                       {\sqrt{(TP + FP)(TP + FN)(TN + FP)(TN + FN)}}

    in [0, 2]: 0 for a perfect prediction, 1 for one uncorrelated with the target, 2 for
    the inverted one. ``eps`` (SMP's default 1e-5) keeps every factor of the denominator
    >= 2 eps, so an all-background (or all-foreground) image, where MCC is 0/0, has a finite
    loss and finite gradients.

    Shapes: any shape with axis 0 the batch; every other axis, channels included, is pooled
    (SMP's binary mode). ``batch=True`` (SMP's default, the authors' per-batch sums) gives
    one value for the batch, returned for every ``reduction``. ``batch=False`` gives one loss
    per sample: ``"none"`` returns (N,), ``"mean"`` their mean over the samples with a kept
    element (a sample with none is 0 and drops out), ``"sum"`` their sum. When nothing is
    kept the loss is 0 with zero gradients.

    Args:
      input: float array (N, ...) of probabilities in [0, 1]; bf16/f16 are computed in
        float32.
      target: same shape as ``input``: 0/1 masks (float, integer or bool); values in [0, 1]
        are accepted as soft targets.
      eps: scalar > 0 added to each of TP, TN, FP, FN (traceable); SMP's default.
      batch: pool the sums over the batch (SMP) instead of one MCC per sample.
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (over samples with ``batch=False``).
      where: optional boolean mask broadcastable to ``input``; False elements drop out of
        all four sums.
      axis_name: inside ``shard_map``/``pmap``: with ``batch=True`` the four sums are pooled
        across devices (one global MCC), otherwise "mean"/"sum" are global.

    Returns:
      A scalar (``batch=True``, or "mean"/"sum"), else (N,); float32 (float64 for float64
      input).

    Raises:
      ValueError: ``target`` of another shape, a 0-d ``input``, ``where`` that does not
        broadcast, an unknown ``reduction``, a concrete ``eps`` <= 0; under
        :func:`jaxloss.checked`, ``input`` or ``target`` outside [0, 1].
      TypeError: non-float ``input``, non-numeric ``target``, a non-bool ``batch``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[0.9, 0.2, 0.7, 0.1]])
      >>> y = jnp.array([[1.0, 0.0, 1.0, 0.0]])
      >>> print(f"{jaxloss.mcc_loss(p, y):.4f}")
      0.3492
      >>> print(f"{jaxloss.mcc_loss(y, y):.4f}")
      0.0000

    References:
      Abhishek & Hamarneh, "Matthews correlation coefficient loss for deep convolutional
      networks: application to skin lesion segmentation", ISBI 2021;
      segmentation_models_pytorch ``losses/mcc.py``.
    """
    fn = "mcc_loss"
    given = _inputs.tensor("input", input)
    given_target = _inputs.tensor("target", target)
    _checks.check_reduction(fn, reduction)
    _checks.check_scalar(fn, "eps", eps)
    _checks.check_positive(fn, "eps", eps)
    batch = _inputs.flag(fn, "batch", batch)
    (p, *_), dtype = _inputs.floats(fn, given, targets=given_target, class_axis=None)
    y = given_target.value
    _checks.check_numeric(fn, "target", y, given=given_target.given)
    if p.ndim < 1:
        raise ValueError(
            f"{fn}: `input` must have a batch axis, e.g. (N, H, W) or (N, 1, H, W), got a "
            "0-d array. Add one with `x[None]`."
        )
    _checks.check_same_shape(fn, "input", p.shape, "target", y.shape)
    keep = _inputs.mask(fn, where, p.shape)
    y = y.astype(dtype)
    _checks.check_unit_interval_values(
        fn, "input", p, keep, expected="a probability in [0, 1]",
        hint=" mcc_loss applies no activation (as SMP's MCCLoss): pass jax.nn.sigmoid(logits).",
    )
    _checks.check_unit_interval_values(fn, "target", y, keep, expected="in [0, 1]")
    # A dropped element's values are replaced before they reach any product (NaN-safe), and
    # its weight k = 0 takes it out of all four sums.
    p = _inputs.masked(p, keep, 0.0)
    y = _inputs.masked(y, keep, 0.0)
    k = jnp.ones((), dtype) if keep is None else keep.astype(dtype)
    axes = None if batch else tuple(range(1, p.ndim))
    sums = tuple(
        jnp.sum(k * a * b, axis=axes)
        for a, b in ((p, y), ((1.0 - p), (1.0 - y)), (p, (1.0 - y)), ((1.0 - p), y))
    )
    if keep is None:
        kept = jnp.ones(() if batch else p.shape[:1], jnp.bool_)
    else:
        kept = jnp.any(keep, axis=axes)
    if batch and axis_name is not None:
        sums = jax.lax.psum(sums, axis_name)
        kept = jax.lax.psum(kept.astype(jnp.int32), axis_name) > 0
    e = jnp.asarray(eps, dtype)
    tp, tn, fp, fn_ = (v + e for v in sums)
    numerator = tp * tn - fp * fn_
    # The square root of each factor (SMP takes the root of the product, which overflows
    # float32 past ~1e9 pixels); every factor is >= 2 eps > 0.
    denominator = jnp.sqrt(tp + fp) * jnp.sqrt(tp + fn_) * jnp.sqrt(tn + fp) * jnp.sqrt(tn + fn_)
    loss = jnp.where(kept, 1.0 - numerator / denominator, 0.0)
    if batch:
        return loss
    return reduce_loss(loss, kept.astype(dtype), reduction, axis_name)
