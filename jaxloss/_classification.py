"""Softmax classification losses: cross-entropy, negative log-likelihood and focal loss.

The public functions and their documentation; the math is the shared softmax engine of
:mod:`jaxloss._softmax`.
"""

from __future__ import annotations

import jax
from jax.typing import ArrayLike

from jaxloss import _inputs
from jaxloss._softmax import SoftmaxConfig, softmax_loss


@_inputs.public
def cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: ArrayLike = 0.0,
    z_loss: ArrayLike = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy from logits, with PyTorch's ``F.cross_entropy`` semantics.

    With :math:`\ell = \log\mathrm{softmax}(x)` over the class axis, :math:`C` classes,
    class weights :math:`w` (default 1), smoothing :math:`\epsilon` and :math:`m_i = 1` for
    kept (not ignored, not masked) elements, integer targets :math:`y_i` give

    .. math::

       l_i = m_i \Big[(1-\epsilon)\, w_{y_i} (-\ell_{i y_i})
             + \frac{\epsilon}{C} \sum_c w_c (-\ell_{ic})
             + z\, w_{y_i} \operatorname{logsumexp}(x_i)^2\Big]

    and ``"mean"`` is :math:`\sum_i l_i / \sum_i m_i w_{y_i}` (the smoothing term uses all class
    weights, the denominator only the target's, exactly as PyTorch). Probability targets
    :math:`p` (same shape as ``logits``) give :math:`l_i = -\sum_c w_c q_{ic} \ell_{ic} + z
    (\sum_c w_c p_{ic}) \operatorname{logsumexp}(x_i)^2` with :math:`q = (1-\epsilon) p +
    \epsilon / C`, and ``"mean"`` divides by the number of kept elements, not by a weight sum
    (as PyTorch). The z-loss (PaLM) is weighted like the target's class weight, so under
    "mean" its strength relative to the cross-entropy does not change when the class weights
    are rescaled.

    Deliberate differences from PyTorch:

    * every element ignored or masked: ``"mean"`` is 0.0 with zero gradients, not NaN;
    * bf16/f16 logits are computed in float32 and the loss is float32;
    * an out-of-range integer target (other than ``ignore_index``; -1 included) gives NaN for
      that element instead of wrapping or clamping; :func:`jaxloss.checked` turns it into an
      error naming the label;
    * a class whose logit is ``-inf`` gets no smoothing mass (``0 log 0 = 0``), so the loss
      stays finite where PyTorch returns ``inf`` or NaN;
    * ``label_smoothing < 0`` is an error (PyTorch silently uses 0).

    Every path has a JVP rule, so ``jax.grad``, ``jax.jvp``, ``jax.jacfwd``,
    ``jax.hessian``, ``vmap``, ``jax.checkpoint`` and ``shard_map`` all work (memory and
    speed of each option set: ``BENCHMARKS.md``).

    Args:
      logits: float array with the class axis at ``axis``, e.g. (N, C) or (N, H, W, C);
        (N, C, d1, ...) with ``axis=1``. Channel-first logits always need ``axis=1``: when C
        equals a spatial size, e.g. (N, 4, 4, 4), integer targets (N, 4, 4) fit either
        layout and the default ``axis=-1`` would silently take the last spatial axis as the
        classes.
      targets: integer class indices with the logits' shape without ``axis``, or floating
        class probabilities with the logits' shape.
      class_weights: optional (C,) per-class weights (traceable).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights.
      ignore_index: integer target value whose elements are dropped (integer targets only).
      label_smoothing: scalar in [0, 1] (traceable).
      z_loss: scalar >= 0; adds ``z_loss * w_y * logsumexp(x)**2`` per kept element (PaLM;
        ``w_y`` = 1 without class weights).
      reduction: "mean", "sum" or "none" (per-element loss, 0 at ignored/masked elements).
      axis: the class axis of ``logits``.
      where: optional boolean mask broadcastable to the per-element shape; False elements
        count exactly like ignored ones.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis.
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``logits`` (and probability ``targets``) hold this
        device's contiguous block of ``C / axis_size`` classes, in axis-index order; integer
        targets are global class ids and ``class_weights`` the global (C,) vector. Only
        per-element statistics cross devices (max, sum of exponentials, the target's logit
        from its owner, the smoothing sum); value and gradients equal the unsharded loss.
        Combines with ``axis_name`` on a 2-D ("data", "model") mesh.

    Returns:
      A scalar for "mean"/"sum", else the per-element loss; dtype float32 (float64 for
      float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; unknown ``reduction``, mismatched shapes, wrong
        ``class_weights`` length, a concrete ``label_smoothing`` outside [0, 1] or negative
        ``z_loss``, a class axis of size 0 or 1 (a softmax over one class is always 1: use
        :func:`binary_cross_entropy_with_logits`).
      TypeError: boolean or complex ``weights``; integer ``logits`` (swapped arguments are named as
        such) or targets of an unsupported dtype.

    Under :func:`jaxloss.checked`, also: an out-of-range integer label, negative
    probability targets.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.cross_entropy(logits, targets):.4f}")
      0.1755
      >>> print(f"{jaxloss.cross_entropy(logits, targets, label_smoothing=0.1):.4f}")
      0.3455
      >>> jaxloss.cross_entropy(logits, jnp.array([0, -100]), reduction="none")
      Array([0.2413, 0.    ], dtype=float32)

    References:
      PyTorch ``torch.nn.functional.cross_entropy``; Szegedy et al., "Rethinking the
      Inception Architecture for Computer Vision", CVPR 2016 (label smoothing); Chowdhery et
      al., "PaLM", 2022 (z-loss).
    """
    config = SoftmaxConfig("cross_entropy", axis, reduction, ignore_index, axis_name,
                           class_axis_name)
    return softmax_loss(
        config, logits, targets, class_weights=class_weights, weights=weights, where=where,
        label_smoothing=label_smoothing, z_loss=z_loss,
    )


@_inputs.public
def nll_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
    class_axis_name: str | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of integer targets, with PyTorch's ``F.nll_loss`` semantics.

    .. math::

       l_i = -m_i\, w_{y_i}\, \ell_{i y_i}, \qquad
       \text{mean} = \sum_i l_i \Big/ \sum_i m_i w_{y_i}

    where :math:`\ell` are the given log-probabilities (no softmax is applied). The same
    weighting, ``ignore_index``, ``where`` and empty-batch rules as :func:`cross_entropy`.

    Args:
      log_probs: float array of log-probabilities with the class axis at ``axis``.
      targets: integer class indices with the shape of ``log_probs`` without ``axis``.
      class_weights: optional (C,) per-class weights (traceable).
      weights: optional real per-element weights, broadcastable to the per-element shape
        (``targets``' for class indices, the logits' without ``axis`` for probabilities) like
        ``where`` (traceable): each element's loss is multiplied by its weight and "mean" still
        divides by the number of kept elements (their class weights' sum with ``class_weights`` and
        class indices), as without weights.
      ignore_index: target value whose elements are dropped.
      reduction: "mean", "sum" or "none".
      axis: the class axis.
      where: optional boolean mask broadcastable to the targets' shape.
      axis_name: inside ``shard_map``/``pmap``, makes "mean" and "sum" global over that axis
        (numerator and denominator summed across devices before dividing).
      class_axis_name: inside ``shard_map``, the mesh axis over which the class axis is
        split (vocabulary parallelism): ``log_probs`` hold this device's block of classes and
        the targets are global class ids; see :func:`cross_entropy`.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``weights`` that do not broadcast; as :func:`cross_entropy`.
      TypeError: boolean or complex ``weights``; integer ``log_probs``, non-integer ``targets``.

    Under :func:`jaxloss.checked`, also: an out-of-range integer label, and ``log_probs``
    above 0 at a kept element (probabilities or logits passed as log-probabilities).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> log_probs = jax.nn.log_softmax(jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]))
      >>> print(f"{jaxloss.nll_loss(log_probs, jnp.array([0, 2])):.4f}")
      0.1755

    References:
      PyTorch ``torch.nn.functional.nll_loss``.
    """
    config = SoftmaxConfig("nll_loss", axis, reduction, ignore_index, axis_name,
                           class_axis_name, log_probs=True)
    return softmax_loss(
        config, log_probs, targets, class_weights=class_weights, weights=weights, where=where
    )


@_inputs.public
def focal_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    gamma: ArrayLike = 2.0,
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
    r"""Multi-class softmax focal loss (Lin et al., 2017), normalised like cross-entropy.

    .. math::

       l_i = -m_i \sum_c q_{ic}\, w_c\, (1 - p_{ic})^{\gamma} \log p_{ic}

    with :math:`p = \mathrm{softmax}(x)`, :math:`q` the smoothed one-hot of :math:`y_i` (or
    the smoothed probability targets) and :math:`w` the class weights. Reductions are exactly
    those of :func:`cross_entropy`, so ``gamma=0`` *is* ``cross_entropy`` in every mode. The
    focal factor is ``exp(gamma * log(1 - p))`` computed from log-probabilities, so values
    and gradients stay finite for every ``gamma >= 0``, at saturated logits and ``gamma < 1``.

    Conventions differ between libraries: Keras clips ``p``, MONAI and kornia divide "mean"
    by every pixel and weight class 0 by ``1 - alpha``; segmentation_models_pytorch's
    multi-class focal is one-vs-rest sigmoid. jaxloss's per-class weights play the role of
    ``alpha``; see :func:`sigmoid_focal_loss` for the binary (torchvision) form.

    Args:
      logits: float array with the class axis at ``axis``.
      targets: integer class indices, or class probabilities with the logits' shape.
      gamma: focusing parameter, scalar >= 0 (traceable: ``jax.vmap`` over it works).
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
      class_axis_name: the mesh axis over which the class axis is split; see
        :func:`cross_entropy`.

    Returns:
      Scalar or per-element loss, float32 (float64 for float64 logits).

    Raises:
      ValueError: ``weights`` that do not broadcast; a concrete negative ``gamma``, and everything
        :func:`cross_entropy` raises (a class axis of size 1 points to :func:`sigmoid_focal_loss`).
      TypeError: boolean or complex ``weights``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
      >>> targets = jnp.array([0, 2])
      >>> print(f"{jaxloss.focal_loss(logits, targets, gamma=2.0):.5f}")
      0.00614
      >>> print(f"{jaxloss.focal_loss(logits, targets, gamma=0.0):.4f}")
      0.1755

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    config = SoftmaxConfig(
        "focal_loss", axis, reduction, ignore_index, axis_name, class_axis_name,
        binary_fix="use jaxloss.sigmoid_focal_loss with one logit per element",
    )
    return softmax_loss(
        config, logits, targets, class_weights=class_weights, weights=weights, where=where,
        label_smoothing=label_smoothing, gamma=gamma,
    )

