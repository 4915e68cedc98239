r"""Overlap losses for segmentation: Dice, Tversky and Dice + cross-entropy.

All three reduce a prediction ``P`` (softmax or sigmoid of the logits, or probabilities as
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
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._classification import _along, _softmax_loss
from jaxloss._reduction import reduce_loss

ACTIVATIONS = ("softmax", "sigmoid", "none")


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


def _check_bool(fn: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"{fn}: `{name}` must be a Python bool (it is structure, not data), got {value!r}."
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
):
    """Validates the inputs; returns (I, S_P, S_T, kept samples, class weights, dtype)."""
    logits_given = _checks.given_dtype(logits)
    targets_given = _checks.given_dtype(targets)
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    _checks.check_reduction(fn, reduction)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{fn}: `activation` must be one of {ACTIVATIONS}, got {activation!r}. Use "
            "'softmax' for mutually exclusive classes, 'sigmoid' for independent (multi-label "
            "or binary) channels and 'none' when the inputs are already probabilities."
        )
    _checks.check_float(
        fn, "logits", logits, given=logits_given, targets=targets, targets_given=targets_given,
        class_axis=axis,
    )
    axis = _check_layout(fn, logits, axis)
    _checks.check_ignore_index(fn, ignore_index)
    _check_bool(fn, "include_background", include_background)
    _check_bool(fn, "batch", batch)
    _check_bool(fn, "squared", squared)
    dtype = _checks.compute_dtype(logits.dtype)
    x = logits.astype(dtype)
    num_classes = x.shape[axis]
    pixel_shape = x.shape[:axis] + x.shape[axis + 1 :]

    w = jnp.ones((num_classes,), dtype)
    if class_weights is not None:
        w = jnp.asarray(class_weights)
        _checks.check_class_vector(fn, "class_weights", w, num_classes)
        w = w.astype(dtype)
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
        _checks.check_softmax_classes(fn, "logits", x.shape, axis)

    if activation == "softmax":
        p = jnp.exp(jax.nn.log_softmax(x, axis=axis))
    elif activation == "sigmoid":
        p = jnp.exp(jax.nn.log_sigmoid(x))
    else:
        p = x

    if jnp.issubdtype(targets.dtype, jnp.integer):
        _checks.check_targets_shape(fn, x.shape, targets.shape, axis)
        mask = _checks.as_mask(fn, where, targets.shape)
        keep = targets != ignore_index
        if mask is not None:
            keep = keep & mask
        in_range = (targets >= 0) & (targets < num_classes)
        _checks.check_labels(fn, targets, in_range | ~keep, num_classes, ignore_index)
        classes = _along(jnp.arange(num_classes, dtype=targets.dtype), x.ndim, axis)
        t = (jnp.expand_dims(targets, axis) == classes).astype(dtype)
        # A kept out-of-range label poisons its sample (NaN), as in cross_entropy: no silent
        # all-zero one-hot.
        t = jnp.where(jnp.expand_dims(keep & ~in_range, axis), jnp.nan, t)
    elif jnp.issubdtype(targets.dtype, jnp.floating) or targets.dtype == jnp.bool_:
        if targets.shape != x.shape:
            raise ValueError(
                f"{fn}: floating (probability or mask) `targets` must have the logits' shape "
                f"{x.shape}, got {targets.shape}. Integer class indices need an integer dtype "
                f"and the logits' shape without the class axis (axis={axis})."
            )
        if ignore_index != -100:
            raise ValueError(
                f"{fn}: `ignore_index`={ignore_index} applies to integer targets only; "
                "with probability targets, drop pixels with `where=` instead."
            )
        keep = _checks.as_mask(fn, where, pixel_shape)
        t = targets.astype(dtype)
        _checks.check_unit_interval_values(
            fn, "targets", t, None if keep is None else jnp.expand_dims(keep, axis),
            expected="in [0, 1] (masks or probabilities)",
        )
    else:
        raise TypeError(
            f"{fn}: `targets` must have an integer dtype (class indices) or a floating/bool "
            "dtype (probabilities or masks with the logits' shape), got dtype "
            f"{targets.dtype if targets_given is None else targets_given}."
        )
    if activation == "none":
        _checks.check_unit_interval_values(
            fn, "logits", x, None if keep is None else jnp.expand_dims(keep, axis),
            expected='probabilities in [0, 1] with activation="none"',
            hint=' For logits pass activation="softmax" or activation="sigmoid".',
        )

    if keep is not None:
        keep_c = jnp.expand_dims(keep, axis)
        p = jnp.where(keep_c, p, 0.0)
        t = jnp.where(keep_c, t, 0.0)
    spatial = tuple(i for i in range(x.ndim) if i not in (0, axis))
    sum_axes = (0, *spatial) if batch else spatial
    intersection = jnp.sum(p * t, axis=sum_axes)
    sum_p = jnp.sum(p * p if squared else p, axis=sum_axes)
    sum_t = jnp.sum(t * t if squared else t, axis=sum_axes)
    # Samples with no kept pixel drop out of the mean instead of diluting it with a 0.
    if keep is None:
        kept = jnp.ones(() if batch else (x.shape[0],), jnp.bool_)
    else:
        kept = jnp.any(keep, axis=None if batch else tuple(range(1, keep.ndim)))
    if batch and axis_name is not None:
        intersection, sum_p, sum_t = jax.lax.psum((intersection, sum_p, sum_t), axis_name)
        kept = jax.lax.psum(kept.astype(jnp.int32), axis_name) > 0
    return intersection, sum_p, sum_t, kept, w, dtype



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
) -> jax.Array:
    """The shared implementation of dice_loss, tversky_loss and the Dice term of dice_ce."""
    for name, value in (("smooth", smooth), ("alpha", alpha), ("beta", beta)):
        _checks.check_scalar(fn, name, value)
        _checks.check_nonnegative(fn, name, value)
    intersection, sum_p, sum_t, kept, w, dtype = _overlap_stats(
        fn, logits, targets, activation=activation, class_weights=class_weights,
        ignore_index=ignore_index, include_background=include_background, batch=batch,
        squared=squared, reduction=reduction, axis=axis, where=where, axis_name=axis_name,
    )
    s = jnp.asarray(smooth, dtype)
    a = jnp.asarray(alpha, dtype)
    b = jnp.asarray(beta, dtype)
    numerator = 2.0 * intersection + s
    denominator = 2.0 * (1.0 - a - b) * intersection + 2.0 * a * sum_p + 2.0 * b * sum_t + s
    # 0 / 0 (class absent from prediction and target, smooth = 0) is a perfect score: loss 0
    # with zero gradients, never NaN.
    empty = denominator == 0
    ratio = jnp.where(empty, 1.0, numerator / jnp.where(empty, 1.0, denominator))
    score = 1.0 - ratio

    if batch:
        weights = jnp.where(kept, w, 0.0)
    else:
        weights = jnp.where(kept[:, None], w[None, :], 0.0)
    per = jnp.where(weights != 0, weights * score, 0.0)
    if reduction == "none":
        return per
    return reduce_loss(per, weights, reduction, None if batch else axis_name)


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
        a single class with ``activation="softmax"`` (always 1: use ``"sigmoid"``).
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

    References:
      Milletari et al., "V-Net", 3DV 2016; Sudre et al., "Generalised Dice overlap as a deep
      learning loss function for highly unbalanced segmentations", DLMIA 2017.
    """
    return _overlap_loss(
        "dice_loss", logits, targets, alpha=0.5, beta=0.5, smooth=smooth,
        activation=activation, class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
    )


def tversky_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 0.5,
    beta: ArrayLike = 0.5,
    activation: str = "softmax",
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
    ignore_index: int = -100,
    include_background: bool = True,
    batch: bool = False,
    squared: bool = False,
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

    The smoothing is placed as ``s/2`` so that the special case holds; MONAI's and optax's
    Tversky use ``s``, i.e. MONAI ``TverskyLoss(smooth_nr=s, smooth_dr=s)`` is
    ``tversky_loss(smooth=2 * s)``. Everything else (weights, reductions, masks, absent
    classes) is as in :func:`dice_loss`.

    Args:
      logits: see :func:`dice_loss`.
      targets: see :func:`dice_loss`.
      alpha: false-positive weight, scalar >= 0 (traceable).
      beta: false-negative weight, scalar >= 0 (traceable).
      activation: ``"softmax"``, ``"sigmoid"`` or ``"none"``.
      smooth: scalar >= 0 (traceable).
      class_weights: optional (C,) per-class weights (traceable).
      ignore_index: integer label whose pixels are dropped.
      include_background: False drops class 0.
      batch: pool the sums over the batch.
      squared: squares in :math:`S_P` and :math:`S_T`.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (not 0).
      where: optional boolean per-pixel mask.
      axis_name: see :func:`dice_loss`.

    Returns:
      As :func:`dice_loss`.

    Raises:
      ValueError: a concrete negative ``alpha`` or ``beta``, and everything
        :func:`dice_loss` raises.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.tversky_loss(logits, targets, alpha=0.3, beta=0.7):.4f}")
      0.1207
      >>> print(f"{jaxloss.tversky_loss(logits, targets, alpha=0.5, beta=0.5):.4f}")
      0.1289

    References:
      Salehi et al., "Tversky loss function for image segmentation using 3D fully
      convolutional deep networks", MLMI 2017.
    """
    return _overlap_loss(
        "tversky_loss", logits, targets, alpha=alpha, beta=beta, smooth=smooth,
        activation=activation, class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
    )


def dice_cross_entropy_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    dice_weight: ArrayLike = 0.5,
    smooth: ArrayLike = 1e-5,
    class_weights: ArrayLike | None = None,
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
    r"""``dice_weight * dice_loss + (1 - dice_weight) * cross_entropy`` from softmax logits.

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
      dice_weight: scalar in [0, 1] (traceable): 1 is pure Dice, 0 pure cross-entropy.
      smooth: Dice smoothing, scalar >= 0 (traceable).
      class_weights: optional (C,) per-class weights for both terms (traceable).
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
      ValueError: ``reduction="none"``, a concrete ``dice_weight`` or ``label_smoothing``
        outside [0, 1], a single class (one softmax channel; for binary segmentation
        combine ``dice_loss(activation="sigmoid")`` with
        :func:`binary_cross_entropy_with_logits`), and everything :func:`dice_loss` and
        :func:`cross_entropy` raise.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 1.5], [-1.0, 2.0]]])
      >>> targets = jnp.array([[0, 1, 1]])
      >>> print(f"{jaxloss.dice_cross_entropy_loss(logits, targets):.4f}")
      0.1329
    """
    fn = "dice_cross_entropy_loss"
    if reduction not in ("mean", "sum"):
        raise ValueError(
            f"{fn}: `reduction` must be 'mean' or 'sum', got {reduction!r}. The Dice term is "
            "per (sample, class) and the cross-entropy per pixel, so there is no common "
            "'none'; call jaxloss.dice_loss and jaxloss.cross_entropy with reduction='none'."
        )
    _checks.check_scalar(fn, "dice_weight", dice_weight)
    _checks.check_unit_interval(fn, "dice_weight", dice_weight)
    _checks.check_scalar(fn, "label_smoothing", label_smoothing)
    _checks.check_unit_interval(fn, "label_smoothing", label_smoothing)
    dice = _overlap_loss(
        fn, logits, targets, alpha=0.5, beta=0.5, smooth=smooth, activation="softmax",
        class_weights=class_weights, ignore_index=ignore_index,
        include_background=include_background, batch=batch, squared=squared,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
    )
    ce = _softmax_loss(
        fn, logits, targets, gamma=None, class_weights=class_weights,
        ignore_index=ignore_index, label_smoothing=label_smoothing, z_loss=0.0,
        reduction=reduction, axis=axis, where=where, axis_name=axis_name,
    )
    lam = jnp.asarray(dice_weight, dice.dtype)
    return lam * dice + (1.0 - lam) * ce
