"""Class-weight helpers for imbalanced data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs

METHODS = ("balanced", "inverse", "inverse_sqrt", "effective_number")


@_inputs.public
def class_counts(targets: ArrayLike, num_classes: int, *, ignore_index: int = -100) -> jax.Array:
    """Counts how often each class occurs in integer ``targets``, skipping ``ignore_index``.

    Out-of-range labels: called on concrete targets (the usual case: counting a dataset's
    labels once), a label outside [0, C) other than ``ignore_index`` raises. Under ``jit``
    the labels are not visible while tracing and an out-of-range label is **not counted**
    (the counts then sum to fewer than the kept labels); wrap the function with
    :func:`jaxloss.checked` to get the error there too:
    ``jax.jit(jaxloss.checked(jaxloss.class_counts), static_argnums=1)(targets, C)``.

    Args:
      targets: integer array of any shape.
      num_classes: number of classes C (static).
      ignore_index: label value that is not counted.

    Returns:
      (C,) int32 counts.

    Raises:
      TypeError: non-integer ``targets``.
      ValueError: a concrete label outside [0, C) other than ``ignore_index``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.class_counts(jnp.array([0, 2, 2, -100, 1, 2]), 4)
      Array([1, 1, 3, 0], dtype=int32)

    References:
      ``torch.bincount`` on the kept labels; the counts that :func:`class_weights_from_counts`
      and :func:`jaxloss.ldam_loss` take.
    """
    fn = "class_counts"
    given = _checks.given_dtype(targets)
    targets = jnp.asarray(targets)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: `targets` must be integer class indices, got "
            f"{targets.dtype if given is None else given}."
        )
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"{fn}: `num_classes` must be a positive Python int, got {num_classes!r}.")
    labels = _inputs.labels(fn, targets, num_classes, ignore_index=ignore_index, where=None)
    keep, targets = labels.keep, labels.targets
    classes = jnp.arange(num_classes, dtype=targets.dtype)
    classes = classes.reshape((1,) * targets.ndim + (num_classes,))
    one_hot = (targets[..., None] == classes) & keep[..., None]
    return jnp.sum(one_hot.reshape(-1, num_classes), axis=0, dtype=jnp.int32)


@_inputs.public
def class_weights_from_counts(
    counts: ArrayLike, *, method: str = "balanced", beta: ArrayLike = 0.9999
) -> jax.Array:
    r"""Per-class loss weights from class counts.

    With :math:`n_c` the count of class :math:`c`, :math:`n = \sum_c n_c` and :math:`C` classes:

    * ``"balanced"``: :math:`w_c = n / (C n_c)`, scikit-learn's
      ``compute_class_weight("balanced")``.
    * ``"inverse"``: :math:`w_c \propto 1 / n_c`, normalised to mean 1.
    * ``"inverse_sqrt"``: :math:`w_c \propto 1 / \sqrt{n_c}`, normalised to mean 1.
    * ``"effective_number"`` (Cui et al., 2019): :math:`w_c \propto (1 - \beta) /
      (1 - \beta^{n_c})`, normalised to sum to the number of classes.

    A class with count 0 gets weight 0, never inf or NaN (scikit-learn raises instead), and the
    normalisations run over the classes that occur, so an absent class leaves the other
    weights unchanged.

    Args:
      counts: (C,) non-negative counts (int or float; traceable).
      method: one of "balanced", "inverse", "inverse_sqrt", "effective_number".
      beta: in [0, 1), for "effective_number" (traceable).

    Returns:
      (C,) float32 weights.

    Examples:
      >>> import jax.numpy as jnp, numpy as np, jaxloss
      >>> counts = jnp.array([70, 20, 10])
      >>> print(np.asarray(jaxloss.class_weights_from_counts(counts)).round(3))
      [0.476 1.667 3.333]
      >>> print(np.asarray(jaxloss.class_weights_from_counts(counts, method="inverse")).round(3))
      [0.261 0.913 1.826]
      >>> w = jaxloss.class_weights_from_counts(counts, method="effective_number", beta=0.99)
      >>> print(np.asarray(w).round(3))
      [0.331 0.919 1.75 ]

    References:
      Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019.
    """
    fn = "class_weights_from_counts"
    if method not in METHODS:
        raise ValueError(f"{fn}: `method` must be one of {METHODS}, got {method!r}.")
    counts = jnp.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"{fn}: `counts` must have shape (C,), got shape {counts.shape}.")
    if not isinstance(counts, jax.core.Tracer) and bool(np.any(np.asarray(counts) < 0)):
        raise ValueError(f"{fn}: `counts` must be >= 0, got {np.asarray(counts).tolist()}.")
    _checks.check_scalar(fn, "beta", beta)
    b = _checks.concrete_float(beta)
    if b is not None and not 0.0 <= b < 1.0:
        raise ValueError(f"{fn}: `beta` must be in [0, 1), got {b}.")
    n = counts.astype(_inputs.compute_dtype(counts.dtype))
    present = n > 0
    safe_n = jnp.where(present, n, 1.0)
    num_present = jnp.sum(present).astype(n.dtype)
    if method == "balanced":
        raw = jnp.sum(n) / (n.shape[0] * safe_n)
        return jnp.where(present, raw, 0.0)
    if method == "inverse":
        raw = 1.0 / safe_n
    elif method == "inverse_sqrt":
        raw = jax.lax.rsqrt(safe_n)
    else:
        beta = jnp.asarray(beta, n.dtype)
        # 1 - beta**n, accurately for beta close to 1.
        effective = -jnp.expm1(safe_n * jnp.log(beta)) / (1.0 - beta)
        raw = 1.0 / effective
    raw = jnp.where(present, raw, 0.0)
    # All counts 0: every weight is 0 (not 0 / 0).
    total = jnp.sum(raw)
    return raw * num_present / jnp.where(total > 0, total, 1.0)
