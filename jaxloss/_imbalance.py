"""Imbalance-aware softmax losses: logit adjustment, LDAM and Poly-1.

Each is the softmax cross-entropy of the engine of :mod:`jaxloss._softmax` applied to modified
logits (logit adjustment, LDAM) or with one more per-class term (Poly-1), so class weights,
``ignore_index``, ``where``, the reductions, ``axis_name`` and the numerics (log space,
``-inf`` logits, empty batches) are exactly those of :func:`jaxloss.cross_entropy`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs
from jaxloss._softmax import SoftmaxConfig, along, num_global_classes, softmax_loss


def _prepare(
    fn: str, logits: ArrayLike, targets: ArrayLike, axis: int
) -> tuple[jax.Array, jax.Array, int]:
    """Validated logits in the compute dtype, the normalised class axis, and the targets."""
    logits_given = _checks.given_dtype(logits)
    targets_given = _checks.given_dtype(targets)
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    _checks.check_float(
        fn, "logits", logits, given=logits_given, targets=targets, targets_given=targets_given,
        class_axis=axis,
    )
    axis = _checks.check_axis(fn, "logits", logits, axis)
    _checks.check_softmax_classes(fn, "logits", logits.shape, axis)
    return logits.astype(_inputs.compute_dtype(logits.dtype)), targets, axis


@_inputs.public
def logit_adjusted_cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    class_counts: ArrayLike,
    tau: ArrayLike = 1.0,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Logit-adjusted softmax cross-entropy (Menon et al., 2021).

    The cross-entropy of logits shifted by the scaled log-frequencies of the classes:

    .. math::

       l_i = \mathrm{CE}\big(x_i + \tau \log n,\; y_i\big)

    with :math:`n` the training-set class counts and :math:`\tau` the temperature. Rare
    classes get a lower logit during training, so the model must give them a larger margin.
    ``tau=1`` is the balanced softmax of Ren et al. (2020); ``tau=0`` is exactly
    :func:`cross_entropy`. Predict with the unadjusted logits.

    ``class_counts`` is what :func:`ldam_loss` takes and :func:`jaxloss.class_counts` returns.
    Only ratios matter: scaling the counts by :math:`k` adds :math:`\tau \log k` to every
    logit, which the softmax cancels, so the paper's priors :math:`\pi = n / \sum_c n_c`
    (or any positive multiple of them) give the same loss as the counts. A class of count 0
    gets the logit ``-inf`` for ``tau > 0`` (it never appears as a target of the training
    set) and no shift at ``tau=0``.

    Everything else (class weights, ``ignore_index``, ``where``, label smoothing, probability
    targets, reductions, ``axis_name``) is :func:`cross_entropy`'s on the shifted logits.

    Args:
      logits: float array with the class axis at ``axis``, e.g. (N, C); (N, C, d1, ...) with
        ``axis=1``.
      targets: integer class indices with the logits' shape without ``axis``, or floating
        class probabilities with the logits' shape.
      class_counts: (C,) training-set class counts, >= 0, integer or float (traceable); class
        priors or any positive multiple of the counts give the same loss.
      tau: scalar >= 0 (traceable: ``jax.vmap`` over it works).
      class_weights: optional (C,) per-class weights (traceable).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights.
      ignore_index: integer target value whose elements are dropped.
      label_smoothing: scalar in [0, 1] (traceable).
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the per-element shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``logits`` (and probability ``targets``) hold this
        device's block of classes; integer targets are global class ids and the per-class
        arguments global (C,) vectors; see :func:`cross_entropy`.

    Returns:
      A scalar for "mean"/"sum", else the per-element loss; float32 (float64 for float64
      logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``class_counts`` of a shape other than (C,) or
        with a concrete negative entry, a concrete negative ``tau``, and everything
        :func:`cross_entropy` raises.
      TypeError: boolean or complex ``weights``; non-numeric ``class_counts``, and everything
        :func:`cross_entropy` raises.

    Under :func:`jaxloss.checked`, also: traced negative counts (NaN otherwise).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> counts = jnp.array([70, 20, 10])
      >>> print(f"{jaxloss.logit_adjusted_cross_entropy(logits, targets, class_counts=counts):.4f}")
      0.2392
      >>> priors = counts / counts.sum()  # the same loss: only ratios matter
      >>> print(f"{jaxloss.logit_adjusted_cross_entropy(logits, targets, class_counts=priors):.4f}")
      0.2392
      >>> print(f"{jaxloss.logit_adjusted_cross_entropy(logits, targets, class_counts=counts, tau=0.0):.4f}")
      0.1755

    References:
      Menon et al., "Long-tail learning via logit adjustment", ICLR 2021.
      Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020.
    """  # noqa: E501
    fn = "logit_adjusted_cross_entropy"
    x, targets, axis = _prepare(fn, logits, targets, axis)
    offset, num_classes = num_global_classes(fn, x.shape[axis], class_axis_name)
    priors = jnp.asarray(class_counts)
    _checks.check_class_statistics(fn, "class_counts", priors, num_classes)
    _checks.check_scalar(fn, "tau", tau)
    _checks.check_nonnegative(fn, "tau", tau)
    prior = priors.astype(x.dtype)
    t = jnp.asarray(tau, x.dtype)
    present = prior > 0
    log_prior = jnp.log(jnp.where(present, prior, 1.0))
    # A zero prior is the limit tau * log(0) = -inf (0 at tau = 0); a negative one is NaN.
    absent = jnp.where(t == 0, 0.0, -jnp.inf)
    shift = jnp.where(present, t * log_prior, jnp.where(prior == 0, absent, jnp.nan))
    if class_axis_name is not None:
        shift = jax.lax.dynamic_slice_in_dim(shift, offset, x.shape[axis])
    config = SoftmaxConfig(fn, axis, reduction, ignore_index, axis_name, class_axis_name)
    return softmax_loss(
        config, x + along(shift, x.ndim, axis), targets, class_weights=class_weights,
        weights=weights, where=where, label_smoothing=label_smoothing,
    )


@_inputs.public
def ldam_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    class_counts: ArrayLike,
    max_margin: ArrayLike = 0.5,
    scale: ArrayLike = 30.0,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Label-distribution-aware margin (LDAM) loss (Cao et al., 2019), as the authors' code.

    .. math::

       m_c = m_{\max} \Big(\frac{\min_k n_k}{n_c}\Big)^{1/4}, \qquad
       l_i = \mathrm{CE}\big(s\,(x_i - m_{y_i} e_{y_i}),\; y_i\big)

    with :math:`n_c` the class counts, so the margins are proportional to
    :math:`n_c^{-1/4}` and the largest (the rarest class's) is ``max_margin``; the margin is
    subtracted from the target's logit only, and every logit is multiplied by the scale
    :math:`s`. ``class_weights`` are :func:`cross_entropy`'s (the authors pass them to
    ``F.cross_entropy``); the paper's deferred re-weighting (DRW) is ``class_weights=None``
    for the first epochs, then ``class_weights_from_counts(counts,
    method="effective_number")``. ``max_margin=0`` is ``cross_entropy(scale * logits)``.

    No ``label_smoothing``: neither the paper nor the authors' code defines it, and the margin
    is defined for a hard label only, so the targets are integer class indices.

    Args:
      logits: float array with the class axis at ``axis`` (the authors feed normalised
        features times normalised weights, i.e. cosines in [-1, 1], hence the scale).
      targets: integer class indices with the logits' shape without ``axis``.
      class_counts: (C,) training-set counts, > 0 (traceable).
      max_margin: the rarest class's margin, scalar >= 0 (traceable).
      scale: the logit scale ``s``, scalar > 0 (traceable).
      class_weights: optional (C,) per-class weights (traceable).
      weights: optional real per-element weights, broadcastable to ``targets``' shape like ``where``
        (traceable): each element's loss is multiplied by its weight and "mean" still divides by the
        number of kept elements (their class weights' sum with ``class_weights``), as without
        weights.
      ignore_index: integer target value whose elements are dropped.
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the targets' shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``logits`` hold this device's block of classes;
        ``targets`` are global class ids and ``class_counts``/``class_weights`` global (C,)
        vectors; see :func:`cross_entropy`.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; ``class_counts`` of a shape other than (C,) or
        with a concrete entry <= 0 (a class of count 0 would have an infinite margin), a concrete
        negative ``max_margin`` or ``scale <= 0``, and everything :func:`cross_entropy` raises.
      TypeError: boolean or complex ``weights``; floating (probability) targets, and everything
        :func:`cross_entropy` raises.

    Under :func:`jaxloss.checked`, also: traced counts <= 0 (NaN or inf otherwise).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> cosines = jnp.array([[0.8, 0.1, -0.3], [0.0, 0.2, 0.6]])
      >>> targets = jnp.array([0, 2])
      >>> counts = jnp.array([500, 100, 10])
      >>> print(f"{jaxloss.ldam_loss(cosines, targets, class_counts=counts):.4f}")
      1.5255
      >>> print(f"{jaxloss.ldam_loss(cosines, targets, class_counts=counts, scale=1.0):.4f}")
      0.8978

    References:
      Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
      NeurIPS 2019 (code: github.com/kaidic/LDAM-DRW).
    """
    fn = "ldam_loss"
    x, targets, axis = _prepare(fn, logits, targets, axis)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: `targets` must be integer class indices, got dtype {targets.dtype}: the "
            "LDAM margin is defined for a hard label (probability targets are not supported)."
        )
    _checks.check_targets_shape(fn, x.shape, targets.shape, axis)
    offset, num_classes = num_global_classes(fn, x.shape[axis], class_axis_name)
    counts = jnp.asarray(class_counts)
    _checks.check_class_statistics(fn, "class_counts", counts, num_classes, positive=True)
    for name, value in (("max_margin", max_margin), ("scale", scale)):
        _checks.check_scalar(fn, name, value)
    _checks.check_nonnegative(fn, "max_margin", max_margin)
    _checks.check_positive(fn, "scale", scale)
    n = counts.astype(x.dtype)
    # m_c = max_margin * n_c**-1/4 / max_k n_k**-1/4, written with the smallest count.
    margins = jnp.asarray(max_margin, x.dtype) * jnp.power(jnp.min(n) / n, 0.25)
    in_range = (targets >= 0) & (targets < num_classes)
    safe_y = jnp.where(in_range, targets, 0)  # out-of-range rows are NaN in the engine
    classes = jax.lax.broadcasted_iota(safe_y.dtype, x.shape, axis) + offset
    is_target = classes == jnp.expand_dims(safe_y, axis)
    m_y = jnp.expand_dims(jnp.take(margins, safe_y), axis)
    shifted = jnp.asarray(scale, x.dtype) * (x - jnp.where(is_target, m_y, 0.0))
    config = SoftmaxConfig(fn, axis, reduction, ignore_index, axis_name, class_axis_name)
    return softmax_loss(
        config, shifted, targets, class_weights=class_weights, weights=weights, where=where
    )


@_inputs.public
def poly1_cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 2.0,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Poly-1 cross-entropy (Leng et al., 2022): cross-entropy plus ``epsilon * (1 - p_t)``.

    .. math::

       l_i = m_i \sum_c w_c\, q_{ic} \big[-\log p_{ic} + \epsilon\,(1 - p_{ic})\big]

    with :math:`p = \mathrm{softmax}(x)` and :math:`q` the (smoothed) one-hot of :math:`y_i`
    or the (smoothed) probability targets. Without class weights this is the paper's
    :math:`\mathrm{CE}(q) + \epsilon (1 - p_t)`, :math:`p_t = \sum_c q_c p_c`, which is also
    the paper's Poly-1 with label smoothing (its appendix smooths the labels of both terms)
    and optax's ``poly_loss_cross_entropy``. Class weights weight each class's term as in
    :func:`cross_entropy`, so the Poly-1 term of a hard label is weighted by :math:`w_{y_i}`
    like its cross-entropy; reductions are :func:`cross_entropy`'s ("mean" divides by
    :math:`\sum_i m_i w_{y_i}` for integer targets, by the kept count for probability
    targets). ``epsilon=0`` is exactly :func:`cross_entropy`. ``1 - p`` is computed as
    ``-expm1(log p)``, accurate near ``p = 1``.

    Args:
      logits: float array with the class axis at ``axis``.
      targets: integer class indices, or class probabilities with the logits' shape.
      epsilon: the Poly-1 coefficient, scalar >= -1 (traceable); optax's default 2.0.
      class_weights: optional (C,) per-class weights (traceable).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights.
      ignore_index: integer target value whose elements are dropped.
      label_smoothing: scalar in [0, 1] (traceable).
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the per-element shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``logits`` (and probability ``targets``) hold this
        device's block of classes; integer targets are global class ids and the per-class
        arguments global (C,) vectors; see :func:`cross_entropy`.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete ``epsilon < -1`` (the loss would
        decrease as ``p_t`` grows towards 1), and everything :func:`cross_entropy` raises.
      TypeError: boolean or complex ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.poly1_cross_entropy(logits, targets, epsilon=1.0):.4f}")
      0.3346
      >>> print(f"{jaxloss.poly1_cross_entropy(logits, targets, epsilon=0.0):.4f}")
      0.1755

    References:
      Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
      Functions", ICLR 2022.
    """
    fn = "poly1_cross_entropy"
    x, targets, axis = _prepare(fn, logits, targets, axis)
    _checks.check_scalar(fn, "epsilon", epsilon)
    e = _checks.concrete_float(epsilon)
    if e is not None and not e >= -1.0:
        raise ValueError(f"{fn}: `epsilon` must be >= -1, got {e}.")
    poly = None if e == 0.0 else jnp.asarray(epsilon, x.dtype)
    config = SoftmaxConfig(fn, axis, reduction, ignore_index, axis_name, class_axis_name)
    return softmax_loss(
        config, x, targets, class_weights=class_weights, weights=weights, where=where,
        label_smoothing=label_smoothing, poly=poly,
    )
