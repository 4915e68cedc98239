r"""Shape-aware segmentation losses: Hausdorff distance-transform, boundary and clDice.

MONAI 1.6's ``HausdorffDTLoss``, ``LogHausdorffDTLoss``, ``BoundaryLoss``,
``SoftclDiceLoss`` and ``SoftDiceclDiceLoss``, with the class axis last as in the rest of
jaxloss. The inputs go through the segmentation engine's preparation (``_segmentation.py``:
the layout, the activation, integer labels one-hot, ``ignore_index`` and ``where``), so the
conventions are :func:`jaxloss.dice_loss`'s.

MONAI computes the distance maps on the host (SciPy or cuCIM) under ``torch.no_grad``; here
they are computed by ``jaxloss.distance_transform_edt`` inside the same program and enter
the loss through ``lax.stop_gradient``: constants of the gradient, exactly as MONAI's. A map
of a mask without a foreground/background interface (all zero or all one) is 0 everywhere,
as MONAI's. Dropped pixels (``ignore_index``, ``where=False``) are background (probability
and target 0) to the distance transforms and the morphology, and drop out of every sum.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._distance import distance_transform_edt
from jaxloss._reduction import reduce_loss, safe_divide
from jaxloss._segmentation import _overlap_loss, _overlap_stats, _power

_BINARY_FIX = 'pass activation="sigmoid" (one channel per mask)'


@dataclasses.dataclass(frozen=True)
class _Pixels:
    """The prepared inputs, class axis last.

    Attributes:
      p: (N, *S, C) predicted probabilities, 0 at dropped pixels.
      t: (N, *S, C) targets (one-hot of integer labels, or as given), 0 at dropped pixels,
        NaN at a kept out-of-range label.
      keep: (N, *S) kept pixels, or None when every pixel is kept.
      include: (C,) 1 for the classes in the loss, 0 for the dropped background.
      kept: (N,) samples with at least one kept pixel.
      stats: the first six values of ``_overlap_stats`` (for a Dice term).
      dtype: the compute dtype.
    """

    p: jax.Array
    t: jax.Array
    keep: jax.Array | None
    include: jax.Array
    kept: jax.Array
    stats: tuple
    dtype: Any

    @property
    def rank(self) -> int:
        """The number of spatial axes (2 or 3)."""
        return self.p.ndim - 2


def _prepare(
    fn: str,
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str,
    ignore_index: int,
    include_background: bool,
    reduction: str,
    axis: int,
    where: ArrayLike | None,
) -> _Pixels:
    """Validates and prepares through ``_overlap_stats``; a single channel is never dropped
    (MONAI ignores ``include_background=False`` for one channel)."""
    include_background = _inputs.flag(fn, "include_background", include_background)
    shape = np.shape(logits)
    single = (
        isinstance(axis, (int, np.integer)) and len(shape) >= 2
        and -len(shape) <= axis < len(shape) and shape[axis] == 1
    )
    stats = _overlap_stats(
        fn, logits, targets, activation=activation, class_weights=None,
        ignore_index=ignore_index, include_background=include_background or single,
        batch=False, squared=False, reduction=reduction, axis=axis, where=where,
        axis_name=None, pixels=True, binary_fix=_BINARY_FIX,
    )
    *sums, (x, t, keep) = stats
    kept, include, dtype = sums[3], sums[4], sums[5]
    axis = int(axis) % x.ndim
    if x.ndim not in (4, 5):
        raise ValueError(
            f"{fn}: `logits` must be a batch of 2-D or 3-D images with a class axis, (N, H, W, "
            f"C) or (N, D, H, W, C) (or channel-first with axis=1), got shape {x.shape}. The "
            "distance transform and the morphology run over 2 or 3 spatial axes; add a "
            "singleton spatial axis for 1-D signals."
        )
    if activation == "softmax":
        p = jnp.exp(jax.nn.log_softmax(x, axis=axis))
    elif activation == "sigmoid":
        p = jnp.exp(jax.nn.log_sigmoid(x))
    else:
        p = x
    p = _inputs.masked(p, keep, 0.0, axis=axis)
    return _Pixels(
        p=jnp.moveaxis(p, axis, -1), t=jnp.moveaxis(t, axis, -1), keep=keep,
        include=include, kept=kept, stats=tuple(sums), dtype=dtype,
    )


def _distances(fg: jax.Array, rank: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For boolean masks (..., *S, C) with ``rank`` spatial axes: the distance of each
    foreground pixel to the background, of each background pixel to the foreground (both
    :func:`distance_transform_edt`, one image and class at a time, all in one call), and
    whether the image has an interface (both foreground and background), keepdims."""
    moved = jnp.moveaxis(fg, -1, -rank - 1)
    spatial = moved.shape[-rank:]
    flat = moved.reshape((-1, *spatial))
    both = jnp.concatenate([flat, ~flat])
    d = lax.stop_gradient(jax.vmap(distance_transform_edt)(both))
    inside, outside = (
        jnp.moveaxis(half.reshape(moved.shape), -rank - 1, -1)
        for half in jnp.split(d, 2)
    )
    spatial_axes = tuple(range(fg.ndim - rank - 1, fg.ndim - 1))
    interface = jnp.any(fg, axis=spatial_axes, keepdims=True) & jnp.any(
        ~fg, axis=spatial_axes, keepdims=True
    )
    return inside, outside, interface


def _pixel_mean(f: jax.Array, px: _Pixels, batch: bool) -> jax.Array:
    """Mean of a per-pixel (N, *S, C) term over the kept pixels of each sample (N, C), or
    of the batch (C,); 0 where nothing is kept."""
    start = 0 if batch else 1
    total = jnp.sum(f, axis=tuple(range(start, f.ndim - 1)))
    if px.keep is None:
        count = jnp.full(total.shape, np.prod(f.shape[start:-1]), f.dtype)
    else:
        count = jnp.sum(px.keep, axis=tuple(range(start, px.keep.ndim))).astype(f.dtype)
        count = jnp.broadcast_to(count if batch else count[:, None], total.shape)
    return safe_divide(total, count)


def _reduce_classes(per: jax.Array, px: _Pixels, batch: bool, reduction: str) -> jax.Array:
    """``"none"``: (N, C) (or (C,) with ``batch``), 0 for a dropped class or sample; "mean"
    over the included classes of the kept samples; "sum"."""
    include = px.include if batch else px.include[None, :]
    kept = jnp.any(px.kept) if batch else px.kept[:, None]
    weights = jnp.where(kept, include, jnp.zeros_like(include))
    per = jnp.where(weights != 0, per, jnp.zeros_like(per))
    return reduce_loss(per, weights, reduction, None)


def _hausdorff(
    fn: str, logits, targets, *, alpha, activation, include_background, batch, ignore_index,
    reduction, axis, where,
) -> jax.Array:
    _checks.check_scalar(fn, "alpha", alpha)
    _checks.check_nonnegative(fn, "alpha", alpha)
    batch = _inputs.flag(fn, "batch", batch)
    px = _prepare(
        fn, logits, targets, activation=activation, ignore_index=ignore_index,
        include_background=include_background, reduction=reduction, axis=axis, where=where,
    )
    fg = jnp.stack([px.p > 0.5, px.t > 0.5])  # MONAI's masks: prediction, target
    inside, outside, interface = _distances(fg, px.rank)
    field = jnp.where(interface, inside + outside, 0.0).astype(px.dtype)
    a = jnp.asarray(alpha, px.dtype)
    distance = _power(field[0], a) + _power(field[1], a)
    error = px.p - px.t
    per = _pixel_mean(error * error * distance, px, batch)
    return _reduce_classes(per, px, batch, reduction)




@_inputs.public
def hausdorff_dt_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 2.0,
    activation: str = "softmax",
    include_background: bool = False,
    batch: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Hausdorff distance loss from distance transforms (MONAI's ``HausdorffDTLoss``).

    With :math:`P` the predicted probabilities and :math:`T` the (one-hot) targets of class
    :math:`c` in sample :math:`n`, and :math:`d_P`, :math:`d_T` the distance maps of the
    masks :math:`P > 1/2` and :math:`T > 1/2`,

    .. math::

       h_{nc} = \frac{1}{|K_n|} \sum_{k \in K_n} (P_k - T_k)^2
                \left(d_P(k)^{\alpha} + d_T(k)^{\alpha}\right)

    over the kept pixels :math:`K_n`, where the distance map of a mask :math:`M` is
    :math:`d(k) = \mathrm{edt}(M)(k) + \mathrm{edt}(\lnot M)(k)`: for each pixel, the
    Euclidean distance to the nearest pixel on the other side of the mask's boundary
    (``jaxloss.distance_transform_edt``, unit spacing). A mask without an interface (all
    0 or all 1, e.g. an absent class) has :math:`d = 0` everywhere, as MONAI's; so a class
    absent from both prediction and target gives 0. The maps are constants of the gradient
    (``stop_gradient``; MONAI computes them with SciPy under ``no_grad``): the gradient is
    :math:`2 (P - T) (d_P^\alpha + d_T^\alpha)` through :math:`P`. :math:`0^0 = 1`, as
    ``torch.pow``.

    Reductions (:math:`w_c = 0` for a dropped class, 1 otherwise):

    * ``"none"``: :math:`h_{nc}`, shape (N, C), or (C,) with ``batch=True`` (the mean over
      the kept pixels of the whole batch); 0 for a dropped class or a sample with no kept
      pixel. MONAI's (N, C', 1, 1) has no column for a dropped background.
    * ``"mean"``: the mean over the included classes of the samples with a kept pixel
      (MONAI's mean over N*C'); ``"sum"``: the sum.

    Dropped pixels (``ignore_index``, ``where=False``) are background (probability and
    target 0) to the distance transforms and are left out of the mean, so their inputs
    reach no value and no gradient. Without dropped pixels the loss is MONAI's.

    Args:
      logits: float array (N, H, W, C) or (N, D, H, W, C) (channel-first with ``axis=1``);
        probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded, MONAI's ``to_onehot_y=True``; ``ignore_index`` pixels dropped), or
        floating/bool masks or probabilities with the logits' shape.
      alpha: the exponent of the distances, scalar >= 0 (traceable); MONAI's default 2.
      activation: ``"softmax"`` over ``axis`` (MONAI ``softmax=True``), ``"sigmoid"`` per
        channel (``sigmoid=True``) or ``"none"`` (probabilities, MONAI's default).
      include_background: False (MONAI's default here) drops class 0 from the loss (it
        stays in the softmax); a single channel is never dropped, as MONAI.
      batch: one value per class over the whole batch (MONAI ``batch=True``): the mean over
        the kept pixels of every sample.
      ignore_index: integer label whose pixels are dropped (integer targets only).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean mask broadcastable to the per-pixel shape (the logits' shape
        without ``axis``); False pixels count exactly like ignored ones.
    Returns:
      A scalar for "mean"/"sum", else (N, C) or (C,); float32 (float64 for float64 logits
      under ``jax_enable_x64``).

    Raises:
      ValueError: unknown ``reduction`` or ``activation``; ``logits`` not a batch of 2-D or
        3-D images with a class axis; ``axis`` 0 or out of range; mismatched shapes; a
        concrete negative ``alpha``; a concrete kept label out of range; a single class with
        ``activation="softmax"``.
      TypeError: integer ``logits``, targets of an unsupported dtype, non-bool flags.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> labels = jnp.zeros((1, 6, 6), jnp.int32).at[0, 1:4, 1:4].set(1)
      >>> logits = 2.0 * jnp.stack([1 - 2 * labels, 2 * labels - 1], -1).astype(float)
      >>> print(f"{jaxloss.hausdorff_dt_loss(logits, labels):.4f}")
      0.0015
      >>> shifted = jnp.roll(logits, 1, axis=2)  # the square one pixel to the right
      >>> print(f"{jaxloss.hausdorff_dt_loss(shifted, labels):.4f}")
      0.3229

    References:
      D. Karimi and S. E. Salcudean, "Reducing the Hausdorff Distance in Medical Image
      Segmentation with Convolutional Neural Networks", IEEE Transactions on Medical Imaging
      39(2), 2020 (arXiv:1904.10030, 2019). MONAI's ``monai.losses.HausdorffDTLoss``.
    """
    return _hausdorff(
        "hausdorff_dt_loss", logits, targets, alpha=alpha, activation=activation,
        include_background=include_background, batch=batch, ignore_index=ignore_index,
        reduction=reduction, axis=axis, where=where,
    )


@_inputs.public
def log_hausdorff_dt_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 2.0,
    activation: str = "softmax",
    include_background: bool = False,
    batch: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""The logarithm of the Hausdorff loss (MONAI's ``LogHausdorffDTLoss``).

    .. math::

       \log(1 + H)

    where :math:`H` is :func:`hausdorff_dt_loss` *after* its reduction, as MONAI: the log of
    the mean for ``"mean"``, of the sum for ``"sum"``, and elementwise for ``"none"`` (a
    dropped class or sample stays 0). Everything else is as in :func:`hausdorff_dt_loss`.

    Args:
      logits: float array (N, H, W, C) or (N, D, H, W, C) (channel-first with ``axis=1``);
        probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded, MONAI's ``to_onehot_y=True``; ``ignore_index`` pixels dropped), or
        floating/bool masks or probabilities with the logits' shape.
      alpha: the exponent of the distances, scalar >= 0 (traceable); MONAI's default 2.
      activation: ``"softmax"`` over ``axis`` (MONAI ``softmax=True``), ``"sigmoid"`` per
        channel (``sigmoid=True``) or ``"none"`` (probabilities, MONAI's default).
      include_background: False (MONAI's default here) drops class 0 from the loss (it
        stays in the softmax); a single channel is never dropped, as MONAI.
      batch: one value per class over the whole batch (MONAI ``batch=True``): the mean over
        the kept pixels of every sample.
      ignore_index: integer label whose pixels are dropped (integer targets only).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean mask broadcastable to the per-pixel shape (the logits' shape
        without ``axis``); False pixels count exactly like ignored ones.
    Returns:
      As :func:`hausdorff_dt_loss`.

    Raises:
      As :func:`hausdorff_dt_loss`.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> labels = jnp.zeros((1, 6, 6), jnp.int32).at[0, 1:4, 1:4].set(1)
      >>> logits = 2.0 * jnp.stack([1 - 2 * labels, 2 * labels - 1], -1).astype(float)
      >>> shifted = jnp.roll(logits, 1, axis=2)
      >>> print(f"{jaxloss.log_hausdorff_dt_loss(shifted, labels):.4f}")
      0.2798

    References:
      D. Karimi and S. E. Salcudean, "Reducing the Hausdorff Distance in Medical Image
      Segmentation with Convolutional Neural Networks", IEEE Transactions on Medical Imaging
      39(2), 2020. MONAI's ``monai.losses.LogHausdorffDTLoss``.
    """
    loss = _hausdorff(
        "log_hausdorff_dt_loss", logits, targets, alpha=alpha, activation=activation,
        include_background=include_background, batch=batch, ignore_index=ignore_index,
        reduction=reduction, axis=axis, where=where,
    )
    return jnp.log1p(loss)


@_inputs.public
def boundary_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    activation: str = "softmax",
    include_background: bool = True,
    batch: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Boundary loss: probabilities weighted by the target's signed distance (MONAI's
    ``BoundaryLoss``).

    With :math:`P` the predicted probabilities of class :math:`c` in sample :math:`n` and
    :math:`\phi` the signed distance map of the target mask :math:`M = (T > 1/2)`,

    .. math::

       b_{nc} = \frac{1}{|K_n|} \sum_{k \in K_n} P_k\, \phi(k), \qquad
       \phi(k) = \begin{cases} \mathrm{edt}(\lnot M)(k) & k \notin M \\
                               1 - \mathrm{edt}(M)(k) & k \in M \end{cases}

    over the kept pixels :math:`K_n`: outside the target, the distance to it; inside, one
    minus the distance to the background, so 0 on the target's boundary pixels and negative
    deeper inside (Kervadec et al.'s map, ``jaxloss.distance_transform_edt`` with unit
    spacing). A target mask without an interface (all 0, an absent class, or all 1) has
    :math:`\phi = 0`, as MONAI 1.6 (Kervadec et al.'s code keeps the inside distances of an
    all-one mask); its class then contributes 0. The map is a constant of the gradient
    (``stop_gradient``, as MONAI's under ``no_grad``): the gradient is :math:`\phi` through
    :math:`P`. The loss is negative when the prediction covers the target's interior, and is
    usually combined with a Dice term (Kervadec et al. ramp its weight up during training).

    Reductions as :func:`hausdorff_dt_loss`: ``"none"`` (N, C) (or (C,) with ``batch=True``,
    MONAI's mean over the batch of the per-sample values), ``"mean"`` over the included
    classes of the samples with a kept pixel (MONAI's mean), ``"sum"``. Dropped pixels
    (``ignore_index``, ``where=False``) are background to the distance transform and are
    left out of the mean.

    Args:
      logits: float array (N, H, W, C) or (N, D, H, W, C) (channel-first with ``axis=1``);
        probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded; ``ignore_index`` pixels dropped), or floating/bool masks or probabilities
        with the logits' shape (the map is that of ``targets > 0.5``).
      activation: ``"softmax"`` over ``axis``, ``"sigmoid"`` per channel or ``"none"``.
      include_background: False drops class 0 (MONAI's default True is kept here).
      batch: one value per class over the whole batch: the mean over the kept pixels of
        every sample (MONAI ``batch=True``).
      ignore_index: integer label whose pixels are dropped (integer targets only).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean per-pixel mask; False pixels count exactly like ignored ones.

    Returns:
      A scalar for "mean"/"sum", else (N, C) or (C,); float32 (float64 for float64 logits
      under ``jax_enable_x64``).

    Raises:
      ValueError: as :func:`hausdorff_dt_loss` (without ``alpha``).
      TypeError: as :func:`hausdorff_dt_loss`.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> labels = jnp.zeros((1, 6, 6), jnp.int32).at[0, 1:4, 1:4].set(1)
      >>> logits = 2.0 * jnp.stack([1 - 2 * labels, 2 * labels - 1], -1).astype(float)
      >>> print(f"{jaxloss.boundary_loss(logits, labels):.4f}")
      -0.1976
      >>> print(f"{jaxloss.boundary_loss(jnp.roll(logits, 1, axis=2), labels):.4f}")
      -0.1173

    References:
      H. Kervadec, J. Bouchtiba, C. Desrosiers, E. Granger, J. Dolz and I. Ben Ayed,
      "Boundary loss for highly unbalanced segmentation", MIDL 2019 (arXiv:1812.07032);
      MONAI's ``monai.losses.BoundaryLoss`` (1.6).
    """
    fn = "boundary_loss"
    batch = _inputs.flag(fn, "batch", batch)
    px = _prepare(
        fn, logits, targets, activation=activation, ignore_index=ignore_index,
        include_background=include_background, reduction=reduction, axis=axis, where=where,
    )
    fg = px.t > 0.5
    inside, outside, interface = _distances(fg, px.rank)
    signed = jnp.where(fg, 1.0 - inside, outside)
    signed = jnp.where(interface, signed, 0.0).astype(px.dtype)
    # The map ignores the target's values beyond the threshold: a NaN target (a kept
    # out-of-range label) poisons its sample explicitly.
    f = jnp.where(jnp.isnan(px.t), jnp.nan, px.p * signed)
    per = _pixel_mean(f, px, batch)
    return _reduce_classes(per, px, batch, reduction)


# --- clDice ----------------------------------------------------------------------------------


def _window_max(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """Max over a window of 3 along each of ``axes`` (stride 1), -inf padding: torch's
    ``max_pool`` with padding 1 (the padding never wins; at a tie the gradient goes to one
    of the equal entries, as torch's)."""
    dims = tuple(3 if i in axes else 1 for i in range(x.ndim))
    pads = tuple((1, 1) if i in axes else (0, 0) for i in range(x.ndim))
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, (1,) * x.ndim, pads)


def _erode(x: jax.Array, spatial: tuple[int, ...]) -> jax.Array:
    """MONAI's ``soft_erode``: the minimum of the 3-windows along each spatial axis."""
    out = None
    for a in spatial:
        pooled = -_window_max(-x, (a,))
        out = pooled if out is None else jnp.minimum(out, pooled)
    assert out is not None
    return out


def _soft_skeleton(img: jax.Array, iterations: int, spatial: tuple[int, ...]) -> jax.Array:
    """MONAI's ``soft_skel`` (Shit et al.'s iterative soft skeleton); the iterations run in a
    ``lax.scan`` (one compiled body)."""

    def opened(x):
        return _window_max(_erode(x, spatial), spatial)

    def step(carry, _):
        img, skel = carry
        img = _erode(img, spatial)
        delta = jax.nn.relu(img - opened(img))
        return (img, skel + jax.nn.relu(delta - skel * delta)), None

    skel = jax.nn.relu(img - opened(img))
    if iterations:
        (_, skel), _ = lax.scan(step, (img, skel), None, length=iterations)
    return skel


def _check_iterations(fn: str, iterations: Any) -> int:
    if isinstance(iterations, (bool, np.bool_)) or not isinstance(
        iterations, (int, np.integer)
    ):
        raise TypeError(
            f"{fn}: `iterations` must be a Python int (the number of erosion steps of the soft "
            f"skeleton, a loop count fixed at trace time), got {iterations!r}."
        )
    if iterations < 0:
        raise ValueError(
            f"{fn}: `iterations` must be >= 0, got {iterations}. MONAI's default is 3; use "
            "about the largest radius of the structures, in pixels."
        )
    return int(iterations)


def _cldice_per_image(px: _Pixels, iterations: int, smooth: Any, eps: Any) -> jax.Array:
    """(N,) MONAI's clDice of each image over the included classes."""
    spatial = tuple(range(2, px.p.ndim))  # of the prediction and target stacked
    skel_p, skel_t = _soft_skeleton(jnp.stack([px.p, px.t]), iterations, spatial)
    axes = tuple(range(1, px.p.ndim))
    inc = px.include.reshape((1,) * (px.p.ndim - 1) + (-1,))

    def total(v):
        return jnp.sum(v * inc, axis=axes)

    s = jnp.asarray(smooth, px.dtype)
    e = jnp.asarray(eps, px.dtype)

    def ratio(num, den):  # 0/0 (smooth = 0, no skeleton): a perfect ratio, never NaN
        empty = den == 0
        return jnp.where(empty, 1.0, num / jnp.where(empty, 1.0, den))

    tprec = ratio(total(skel_p * px.t) + s, total(skel_p) + s)
    tsens = ratio(total(skel_t * px.p) + s, total(skel_t) + s)
    return 1.0 - 2.0 * (tprec * tsens) / (tprec + tsens + e)


def _check_cldice(fn: str, smooth: Any, eps: Any, iterations: Any) -> int:
    _checks.check_scalar(fn, "smooth", smooth)
    _checks.check_nonnegative(fn, "smooth", smooth)
    _checks.check_scalar(fn, "eps", eps)
    _checks.check_positive(fn, "eps", eps)
    return _check_iterations(fn, iterations)


def _reduce_images(per: jax.Array, px: _Pixels, reduction: str) -> jax.Array:
    weights = px.kept.astype(per.dtype)
    per = jnp.where(px.kept, per, jnp.zeros_like(per))
    return reduce_loss(per, weights, reduction, None)





@_inputs.public
def soft_cldice_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    iterations: int = 3,
    smooth: ArrayLike = 1.0,
    eps: ArrayLike = 1e-4,
    activation: str = "softmax",
    include_background: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Soft clDice: topology-aware overlap of soft skeletons (MONAI's ``SoftclDiceLoss``).

    With :math:`S_P`, :math:`S_T` the soft skeletons of the predicted probabilities
    :math:`P` and of the targets :math:`T` (``iterations`` soft erosions, Shit et al.),
    summed over the pixels and the included classes of image :math:`n`,

    .. math::

       T_{prec} = \frac{\sum S_P T + s}{\sum S_P + s}, \qquad
       T_{sens} = \frac{\sum S_T P + s}{\sum S_T + s}, \qquad
       \mathrm{cl}_n = 1 - \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens} + \epsilon}

    One value per image over all classes, as MONAI 1.6 (its ``"none"`` has shape (N,)).
    The soft erosion is the minimum over the 3-windows along each spatial axis, the soft
    dilation the maximum over the 3x3(x3) window, both with the image's border ignored
    (torch's ``max_pool`` padding); the skeleton is differentiable (a subgradient at ties,
    torch's choice), so gradients flow through :math:`S_P` as in MONAI. A ``0/0`` ratio
    (``smooth=0`` and no skeleton) is read as 1, never NaN.

    Dropped pixels (``ignore_index``, ``where=False``) are 0 (background) in :math:`P` and
    :math:`T`, so they have no skeleton and add nothing to the sums; an image with no kept
    pixel drops out of ``"mean"`` (and is 0 in ``"none"``).

    Args:
      logits: float array (N, H, W, C) or (N, D, H, W, C) (channel-first with ``axis=1``);
        probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded; ``ignore_index`` pixels dropped), or floating/bool masks or probabilities
        with the logits' shape.
      iterations: the number of erosion steps of the soft skeleton, a Python int >= 0
        (MONAI's ``iter_``, default 3): about the largest radius of the structures.
      smooth: scalar >= 0 added to the numerator and denominator of the topology precision
        and sensitivity (MONAI's ``smooth_nr`` and ``smooth_dr``, both 1 by default; traceable).
      eps: scalar > 0 added to the denominator of their harmonic mean (MONAI's ``smooth``,
        1e-4; traceable).
      activation: ``"softmax"`` over ``axis`` (MONAI ``softmax=True``), ``"sigmoid"`` per
        channel or ``"none"`` (probabilities, MONAI's default).
      include_background: False drops class 0 from the sums (MONAI's default True).
      ignore_index: integer label whose pixels are dropped (integer targets only).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per image, shape (N,)).
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean per-pixel mask; False pixels count exactly like ignored ones.
    Returns:
      A scalar for "mean"/"sum", else (N,); float32 (float64 for float64 logits under
      ``jax_enable_x64``).

    Raises:
      ValueError: unknown ``reduction`` or ``activation``; ``logits`` not a batch of 2-D or
        3-D images with a class axis; ``axis`` 0 or out of range; mismatched shapes; a
        negative ``iterations``; a concrete negative ``smooth`` or ``eps`` <= 0; a concrete
        kept label out of range; a single class with ``activation="softmax"``.
      TypeError: integer ``logits``, targets of an unsupported dtype, non-bool flags, a
        non-int ``iterations``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> labels = jnp.zeros((1, 7, 7), jnp.int32).at[0, 2:5, 1:6].set(1)  # a bar
      >>> logits = 4.0 * jnp.stack([1 - 2 * labels, 2 * labels - 1], -1).astype(float)
      >>> print(f"{jaxloss.soft_cldice_loss(logits, labels):.4f}")
      0.0002
      >>> broken = logits.at[0, 2:5, 3].set(logits[0, 0, 0])  # a gap across the bar
      >>> print(f"{jaxloss.soft_cldice_loss(broken, labels):.4f}")
      0.0542

    References:
      S. Shit, J. C. Paetzold, A. Sekuboyina, I. Ezhov, A. Unger, A. Zhylka, J. P. W. Pluim,
      U. Bauer and B. H. Menze, "clDice - a Novel Topology-Preserving Loss Function for
      Tubular Structure Segmentation", CVPR 2021 (arXiv:2003.07311). MONAI's
      ``monai.losses.SoftclDiceLoss`` (1.6).
    """
    fn = "soft_cldice_loss"
    iterations = _check_cldice(fn, smooth, eps, iterations)
    px = _prepare(
        fn, logits, targets, activation=activation, ignore_index=ignore_index,
        include_background=include_background, reduction=reduction, axis=axis, where=where,
    )
    return _reduce_images(_cldice_per_image(px, iterations, smooth, eps), px, reduction)


@_inputs.public
def soft_dice_cldice_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 0.5,
    iterations: int = 3,
    smooth: ArrayLike = 1.0,
    eps: ArrayLike = 1e-4,
    activation: str = "softmax",
    include_background: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Dice plus clDice (MONAI's ``SoftDiceclDiceLoss``).

    .. math::

       \ell_n = (1 - \alpha)\, \frac{1}{|C'|} \sum_{c \in C'} d_{nc} + \alpha\, \mathrm{cl}_n

    with :math:`d_{nc}` :func:`jaxloss.dice_loss`'s per-(image, class) score with the same
    ``smooth`` (MONAI's ``DiceLoss(smooth_nr=smooth, smooth_dr=smooth)``), :math:`C'` the
    included classes and :math:`\mathrm{cl}_n` :func:`soft_cldice_loss`'s. ``"mean"`` is
    MONAI's value (its Dice mean over N*C' plus its clDice mean over N). ``"none"`` is the
    per-image :math:`\ell_n`, shape (N,), and ``"sum"`` its sum; MONAI's ``"sum"`` adds the
    Dice scores of every class instead of their mean (and its ``"none"`` broadcasts an
    (N, C', 1, 1) Dice against an (N,) clDice), so those two are jaxloss's own.

    Args:
      logits: float array (N, H, W, C) or (N, D, H, W, C) (channel-first with ``axis=1``);
        probabilities with ``activation="none"``. bf16/f16 are computed in float32.
      targets: integer class indices with the logits' shape without ``axis`` (one-hot
        encoded; ``ignore_index`` pixels dropped), or floating/bool masks or probabilities
        with the logits' shape.
      alpha: the weight of the clDice term, scalar in [0, 1] (traceable); MONAI's
        default 0.5.
      iterations: the number of erosion steps of the soft skeleton, a Python int >= 0
        (MONAI's ``iter_``, default 3): about the largest radius of the structures.
      smooth: scalar >= 0 added to the numerator and denominator of the topology precision
        and sensitivity (MONAI's ``smooth_nr`` and ``smooth_dr``, both 1 by default; traceable).
      eps: scalar > 0 added to the denominator of their harmonic mean (MONAI's ``smooth``,
        1e-4; traceable).
      activation: ``"softmax"`` over ``axis`` (MONAI ``softmax=True``), ``"sigmoid"`` per
        channel or ``"none"`` (probabilities, MONAI's default).
      include_background: False drops class 0 from the sums (MONAI's default True).
      ignore_index: integer label whose pixels are dropped (integer targets only).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per image, shape (N,)).
      axis: the class axis of ``logits`` (not 0).
      where: optional boolean per-pixel mask; False pixels count exactly like ignored ones.
    Returns:
      As :func:`soft_cldice_loss`.

    Raises:
      ValueError: a concrete ``alpha`` outside [0, 1], and everything
        :func:`soft_cldice_loss` raises.
      TypeError: as :func:`soft_cldice_loss`.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> labels = jnp.zeros((1, 7, 7), jnp.int32).at[0, 2:5, 1:6].set(1)
      >>> logits = 4.0 * jnp.stack([1 - 2 * labels, 2 * labels - 1], -1).astype(float)
      >>> broken = logits.at[0, 2:5, 3].set(logits[0, 0, 0])
      >>> print(f"{jaxloss.soft_dice_cldice_loss(broken, labels):.4f}")
      0.0645

    References:
      S. Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
      Structure Segmentation", CVPR 2021. MONAI's ``monai.losses.SoftDiceclDiceLoss`` (1.6).
    """
    fn = "soft_dice_cldice_loss"
    _checks.check_scalar(fn, "alpha", alpha)
    _checks.check_unit_interval(fn, "alpha", alpha)
    iterations = _check_cldice(fn, smooth, eps, iterations)
    px = _prepare(
        fn, logits, targets, activation=activation, ignore_index=ignore_index,
        include_background=include_background, reduction=reduction, axis=axis, where=where,
    )
    cl = _cldice_per_image(px, iterations, smooth, eps)
    dice = _overlap_loss(
        fn, logits, targets, alpha=0.5, beta=0.5, smooth=smooth, activation=activation,
        class_weights=None, ignore_index=ignore_index, include_background=True, batch=False,
        squared=False, reduction="none", axis=axis, where=where, axis_name=None,
        stats=px.stats,
    )
    dice = jnp.sum(dice, axis=1) / jnp.sum(px.include)
    a = jnp.asarray(alpha, px.dtype)
    return _reduce_images((1.0 - a) * dice + a * cl, px, reduction)
