"""The checks shared by every loss, each with its message.

Most checks here run while JAX traces, on shapes, dtypes and concrete Python numbers only,
so they cost nothing at run time and never force a traced value to a Python bool. Each error
names the public function, the argument, what was received and what was expected.

Checks that must look at traced data (an out-of-range integer label, probabilities where
log-probabilities are expected, a mask outside [0, 1], a traced hyperparameter out of its
range, ...) are value checks: they build their message here and fail through the one
mechanism of ``_check_runtime.py`` (:func:`jaxloss._check_runtime.require`): free unless
the program is checkified (by the user, or by :func:`jaxloss.checked`), raised at once on
concrete values under :func:`jaxloss.checked`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss import _check_runtime as _runtime
from jaxloss._check_runtime import fmt

REDUCTIONS = ("mean", "sum", "none")


def concrete_float(x: Any) -> float | None:
    """The value of ``x`` as a Python float when it is a concrete scalar, else None.

    Tracers (under ``jit``, ``vmap``, ``grad``) and non-scalars give None: the trace-time
    range checks on hyperparameters only see known values (traced ones get value checks,
    :func:`check_nonnegative`).
    """
    if isinstance(x, jax.core.Tracer):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, (np.ndarray, np.generic, jax.Array)) and np.ndim(x) == 0:
        return float(x)
    return None




def check_reduction(fn: str, reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}: `reduction` must be one of {REDUCTIONS}, got {reduction!r}. "
            "Use 'none' for the per-element loss."
        )


def given_dtype(x: Any) -> np.dtype | None:
    """The dtype of ``x`` as the caller passed it, or None for lists and Python scalars.

    Capture it before ``jnp.asarray``: with x64 off, JAX turns NumPy int64/float64 into
    int32/float32, and an error should name the dtype the caller actually has.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def _looks_swapped(
    x_shape: tuple[int, ...], targets: Any, targets_dtype: Any, class_axis: int | None
) -> bool:
    """Integer ``x`` with floating ``targets`` whose shape is x's plus a class axis.

    ``class_axis`` is the loss's ``axis`` argument (it describes the real logits, i.e. the
    ``targets`` argument of a swapped call); None for the binary losses, whose logits and
    targets have the same shape.
    """
    if targets is None or targets_dtype is None:
        return False
    if not jnp.issubdtype(targets_dtype, jnp.floating):
        return False
    t_shape = tuple(np.shape(targets))
    if class_axis is None:
        return t_shape == tuple(x_shape)
    if not isinstance(class_axis, (int, np.integer)) or len(t_shape) != len(x_shape) + 1:
        return False
    if not -len(t_shape) <= class_axis < len(t_shape):
        return False
    axis = int(class_axis) % len(t_shape)
    return t_shape[:axis] + t_shape[axis + 1 :] == tuple(x_shape)


def check_float(
    fn: str,
    name: str,
    x: jax.Array,
    *,
    given: Any = None,
    targets: Any = None,
    targets_given: Any = None,
    class_axis: int | None = -1,
) -> None:
    """Logits and probabilities must be floating point (an int array is almost always a bug).

    Args:
      fn, name: the public function and the argument, for the message.
      x: the argument after ``jnp.asarray``.
      given: its dtype as passed (:func:`given_dtype`), named in the message.
      targets, targets_given: the targets and their dtype as passed; with them, integer
        ``x`` beside floating targets of x's shape plus a class axis is reported as swapped
        arguments (the targets are what the caller meant as logits).
      class_axis: the loss's ``axis``, or None for losses whose targets have the logits'
        shape (binary losses).
    """
    if jnp.issubdtype(x.dtype, jnp.floating):
        return
    dtype = x.dtype if given is None else given
    message = f"{fn}: `{name}` must be a floating-point array, got dtype {dtype}."
    if targets_given is None and targets is not None:
        targets_given = given_dtype(targets)
    if _looks_swapped(tuple(x.shape), targets, targets_given, class_axis):
        kind = "the 0/1 targets" if class_axis is None else "the class indices"
        # jaxloss's pairs: (input, target) where PyTorch names them so, else (logits, targets)
        second = "target" if name == "input" else "targets"
        message += (
            f" The arguments look swapped: call {fn}({name}, {second}). The {dtype} array of "
            f"shape {tuple(x.shape)} looks like {kind} and the {targets_given} array of shape "
            f"{tuple(np.shape(targets))} like the {name}."
        )
        if class_axis is None:
            message += f" If the {name} values really are integers, cast them with "
            message += f"`{name}.astype(jnp.float32)`."
    else:
        message += f" Cast it with `{name}.astype(jnp.float32)`."
    raise TypeError(message)


def check_numeric(fn: str, name: str, x: jax.Array, *, given: Any = None) -> None:
    """Targets may be floating, integer or boolean (the loss casts them to its compute dtype).

    ``given`` is the dtype as passed (:func:`given_dtype`), named in the message."""
    if (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or x.dtype == jnp.bool_
    ):
        return
    raise TypeError(
        f"{fn}: `{name}` must be numeric, got dtype {x.dtype if given is None else given}."
    )


def check_axis(fn: str, name: str, x: jax.Array, axis: int) -> int:
    """Normalises ``axis`` for ``x`` and returns it as a non-negative int."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{fn}: `axis` must be a Python int, got {axis!r}.")
    if x.ndim == 0:
        raise ValueError(
            f"{fn}: `{name}` must have a class axis, got a scalar. Expected shape (..., C)."
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"{fn}: `axis`={axis} is out of range for `{name}` of shape {x.shape} "
            f"(rank {x.ndim}); expected an axis in [{-x.ndim}, {x.ndim})."
        )
    return int(axis) % x.ndim


def check_ignore_index(fn: str, ignore_index: Any) -> None:
    if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
        raise TypeError(
            f"{fn}: `ignore_index` must be a Python int (it is structure, not data), "
            f"got {ignore_index!r}."
        )




def _check_traced(
    fn: str, name: str, value: Any, bad: Callable[[jax.Array], jax.Array], requirement: str
) -> None:
    """A traced hyperparameter (``vmap`` over it, an argument of ``jit``): a value check
    (``_check_runtime.require``) with the message of the concrete check, naming the first offending
    value."""
    if not isinstance(value, jax.core.Tracer):
        return
    v = jnp.asarray(value)

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        del flat_index, shard
        shown = fmt(value) if jnp.issubdtype(value.dtype, jnp.floating) else float(value)
        return f"{fn}: `{name}` must be {requirement}, got {shown}."

    failed = bad(v)
    _runtime.stage(jnp.any(failed), message, lambda: _runtime.first_failure(v, failed))


def check_unit_interval(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must lie in [0, 1]: a ValueError while tracing when concrete,
    a value check (``_check_runtime.require``) when traced."""
    v = concrete_float(value)
    if v is not None and not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: `{name}` must be in [0, 1], got {v}.")
    _check_traced(fn, name, value, lambda x: ~((x >= 0) & (x <= 1)), "in [0, 1]")


def check_nonnegative(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must be >= 0: a ValueError while tracing when concrete, a value
    check (``_check_runtime.require``) when traced."""
    v = concrete_float(value)
    if v is not None and not v >= 0.0:
        raise ValueError(f"{fn}: `{name}` must be >= 0, got {v}.")
    _check_traced(fn, name, value, lambda x: ~(x >= 0), ">= 0")


def check_positive(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must be > 0 (a scale, a temperature): a ValueError while
    tracing when concrete, a value check (``_check_runtime.require``) when traced."""
    v = concrete_float(value)
    if v is not None and not v > 0.0:
        raise ValueError(f"{fn}: `{name}` must be > 0, got {v}.")
    _check_traced(fn, name, value, lambda x: ~(x > 0), "> 0")


def smoothing_and_z_loss(
    fn: str, label_smoothing: Any, z_loss: Any, dtype: Any
) -> tuple[jax.Array | None, Any | None]:
    """Validates ``label_smoothing`` (scalar in [0, 1]) and ``z_loss`` (scalar >= 0).

    Returns ``(eps, z)``: ``eps`` as an array of ``dtype``, or None when it is a concrete 0
    (the smoothing pass can then be skipped: the result is the same), and ``z_loss`` or None
    likewise. Traced values are always kept.
    """
    check_scalar(fn, "label_smoothing", label_smoothing)
    check_unit_interval(fn, "label_smoothing", label_smoothing)
    check_scalar(fn, "z_loss", z_loss)
    check_nonnegative(fn, "z_loss", z_loss)
    eps = None if concrete_float(label_smoothing) == 0.0 else jnp.asarray(label_smoothing, dtype)
    z = None if concrete_float(z_loss) == 0.0 else z_loss
    return eps, z


def check_scalar(fn: str, name: str, value: Any) -> None:
    if np.ndim(value) != 0:
        raise ValueError(
            f"{fn}: `{name}` must be a scalar, got shape {np.shape(value)}. "
            f"To run several values at once, `jax.vmap` over `{name}`."
        )


def check_class_vector(fn: str, name: str, w: jax.Array, num_classes: int) -> None:
    """Per-class weights: shape (C,) with C the size of the class axis."""
    if w.shape != (num_classes,):
        raise ValueError(
            f"{fn}: `{name}` must have shape ({num_classes},), one weight per class, "
            f"got shape {w.shape}."
        )


def _shape_hint(
    logits_shape: tuple[int, ...], targets_shape: tuple[int, ...], axis: int
) -> str:
    """A likely fix for integer targets of the wrong shape, or ""."""
    expected = logits_shape[:axis] + logits_shape[axis + 1 :]
    if targets_shape == logits_shape:
        return (
            " Integer targets with the logits' shape look one-hot encoded: pass class indices "
            f"`targets.argmax(axis={axis})`, or probabilities `targets.astype(jnp.float32)`."
        )
    if len(targets_shape) == len(expected) + 1:
        for p in reversed(range(len(targets_shape))):
            if targets_shape[p] == 1 and targets_shape[:p] + targets_shape[p + 1 :] == expected:
                where = -1 if p == len(targets_shape) - 1 else p
                return f" Remove the size-1 axis with `targets.squeeze({where})`."
    if len(logits_shape) > 2 and axis == len(logits_shape) - 1:
        return " For channel-first (N, C, ...) logits pass axis=1."
    return ""


def check_targets_shape(
    fn: str, logits_shape: Sequence[int], targets_shape: Sequence[int], axis: int
) -> None:
    """Integer targets have the logits' shape without the class axis."""
    logits_shape, targets_shape = tuple(logits_shape), tuple(targets_shape)
    expected = logits_shape[:axis] + logits_shape[axis + 1 :]
    if targets_shape != expected:
        raise ValueError(
            f"{fn}: integer `targets` must have the logits' shape without the class axis "
            f"(the logits' axis {axis}): expected {expected}, got {targets_shape} for logits of "
            f"shape {logits_shape}." + _shape_hint(logits_shape, targets_shape, axis)
        )


BINARY_FIX = "use jaxloss.binary_cross_entropy_with_logits with one logit per element"


def check_softmax_classes(
    fn: str, name: str, shape: Sequence[int], axis: int, *, binary_fix: str = BINARY_FIX
) -> None:
    """A softmax over a class axis of size 1 is identically 1: the loss carries no signal;
    over size 0 it is undefined (NaN). ``binary_fix`` is the caller's advice for binary
    targets (its single-logit companion)."""
    shape = tuple(shape)
    if shape[axis] == 0:
        raise ValueError(
            f"{fn}: `{name}` has no classes along axis {axis} (shape {shape}); give it one "
            "entry per class."
        )
    if shape[axis] != 1:
        return
    raise ValueError(
        f"{fn}: `{name}` has a single class along axis {axis} (shape {shape}): a softmax over "
        "one class is always 1, so the loss is constant and its gradient 0. For binary "
        f"targets {binary_fix}, or give `{name}` one entry per class (2 for binary)."
    )


def check_same_shape(fn: str, name_a: str, a: Sequence[int], name_b: str, b: Sequence[int]) -> None:
    if tuple(a) != tuple(b):
        raise ValueError(
            f"{fn}: `{name_b}` must have the same shape as `{name_a}`: expected {tuple(a)}, "
            f"got {tuple(b)}."
        )


def check_broadcastable(fn: str, name: str, shape: Sequence[int], target: Sequence[int]) -> None:
    """``shape`` must broadcast to ``target`` (NumPy rules, aligned from the trailing axis)."""
    try:
        ok = np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: `{name}` of shape {tuple(shape)} must broadcast to {tuple(target)} "
            "(NumPy broadcasting from the trailing axis)."
        )


def check_weights_dtype(fn: str, name: str, weights: jax.Array) -> None:
    """Per-element weights are real numbers (float or integer); a boolean array is a mask."""
    if weights.dtype == jnp.bool_ or not (
        jnp.issubdtype(weights.dtype, jnp.floating) or jnp.issubdtype(weights.dtype, jnp.integer)
    ):
        raise TypeError(
            f"{fn}: `{name}` must be real-valued per-element weights (a float array), got "
            f"dtype {weights.dtype}."
            + (" Boolean masks go in `where`." if weights.dtype == jnp.bool_ else "")
        )


def as_weights(fn: str, weights: Any, shape: Sequence[int], dtype: Any) -> jax.Array | None:
    """Validates per-element ``weights`` (real numbers, broadcastable to ``shape``, the shape
    ``where`` broadcasts to) and broadcasts them, in ``dtype``; None stays None."""
    if weights is None:
        return None
    weights = jnp.asarray(weights)
    check_weights_dtype(fn, "weights", weights)
    check_broadcastable(fn, "weights", weights.shape, shape)
    return jnp.broadcast_to(weights.astype(dtype), tuple(shape))


def as_mask(fn: str, where: Any, shape: Sequence[int]) -> jax.Array | None:
    """Validates the ``where`` argument and broadcasts it to ``shape``."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise TypeError(f"{fn}: `where` must be a boolean array, got dtype {where.dtype}.")
    check_broadcastable(fn, "where", where.shape, shape)
    return jnp.broadcast_to(where, tuple(shape))


def label_message(fn: str, label: Any, num_classes: int, ignore_index: int | None) -> str:
    """The out-of-range label error, shared by :func:`check_labels` and ``class_counts``."""
    message = (
        f"{fn}: target label {label} is out of range: labels must be in [0, {num_classes})"
    )
    if ignore_index is None:  # a loss without ignore_index (quality_focal_loss)
        return message + "."
    return message + f" or equal to ignore_index={ignore_index}."


def check_labels(
    fn: str,
    targets: jax.Array,
    in_range: jax.Array,
    num_classes: int,
    ignore_index: int | None = None,
) -> None:
    """Fails (``_check_runtime.require``) with the first offending label and the valid range.

    ``in_range`` is True for every label that is fine (in range, ignored or masked). Traced
    labels are always checked (free unless checkified); concrete ones under
    :func:`jaxloss.checked` only.
    """
    if targets.size == 0 or not _runtime.wanted(targets, in_range):
        return

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        del flat_index, shard  # the label is the whole story
        return label_message(fn, fmt(value), num_classes, ignore_index)

    bad = ~in_range
    _runtime.stage(jnp.any(bad), message, lambda: _runtime.first_failure(targets, bad))


def check_values(
    fn: str,
    name: str,
    x: jax.Array,
    *,
    expected: str,
    low: float | None = None,
    high: float | None = None,
    where: jax.Array | None = None,
    hint: str = "",
) -> None:
    """Every value of ``x`` must lie in ``[low, high]`` (a value check, ``_check_runtime.require``).

    The generic value check of every loss: values the caller's arrays can hold but the
    loss cannot make sense of (probabilities where log-probabilities are expected, a mask
    outside [0, 1], ...). Only elements where ``where`` (broadcast to ``x``) is True are
    checked; NaN passes (it is not a range error). Fails with
    ``"{fn}: `{name}` must be {expected}, got {value} at index {index}.{hint}"`` naming the
    first offending element. Traced values are always checked (free unless checkified);
    concrete ones under :func:`jaxloss.checked` only.
    """
    if x.size == 0 or not _runtime.wanted(x, where):
        return
    bad = jnp.zeros(x.shape, jnp.bool_)
    if low is not None:
        bad = bad | (x < low)
    if high is not None:
        bad = bad | (x > high)
    if where is not None:
        bad = bad & jnp.broadcast_to(where, x.shape)

    shape = tuple(x.shape)  # the message keeps the shape, not the (traced) array

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        at = f"index {_runtime.unravel(flat_index, shape)}"
        if shard is not None:
            at += f" of the shard at {shard}"
        return f"{fn}: `{name}` must be {expected}, got {fmt(value)} at {at}.{hint}"

    _runtime.stage(jnp.any(bad), message, lambda: _runtime.first_failure(x, bad))


def _along_axis(mask: jax.Array | None, axis: int) -> jax.Array | None:
    return None if mask is None else jnp.expand_dims(mask, axis)


def check_log_probs(
    fn: str,
    log_probs: jax.Array,
    keep: jax.Array,
    axis: int,
) -> None:
    """``nll_loss``: the rows of ``log_probs`` where ``keep`` (the label rule's, without
    the class axis) must be <= 0 (a value check, as
    :func:`check_values`).

    Probabilities (or logits) passed as log-probabilities are positive; a few ulps above 0
    from rounding are let through.
    """
    if not _runtime.wanted(log_probs, keep):
        return
    tolerance = 8 * float(jnp.finfo(log_probs.dtype).eps)
    check_values(
        fn, "log_probs", log_probs, high=tolerance, where=_along_axis(keep, axis),
        expected="log-probabilities (<= 0)",
        hint=" Pass logits to jaxloss.cross_entropy, or log-probabilities from "
        "jax.nn.log_softmax.",
    )


def check_probabilities(
    fn: str, targets: jax.Array, mask: jax.Array | None, axis: int
) -> None:
    """``cross_entropy``/``focal_loss``: probability targets must be >= 0 (a value check)."""
    check_values(
        fn, "targets", targets, low=0.0, where=_along_axis(mask, axis),
        expected="probabilities (>= 0)",
    )


def check_unit_interval_values(
    fn: str, name: str, x: jax.Array, where: jax.Array | None, *, expected: str, hint: str = ""
) -> None:
    """Values (binary targets, masks, probabilities) in [0, 1] (a value check)."""
    check_values(fn, name, x, low=0.0, high=1.0, where=where, expected=expected, hint=hint)


def check_class_statistics(
    fn: str, name: str, v: jax.Array, num_classes: int, *, positive: bool = False
) -> None:
    """Per-class priors or counts: shape (C,), a floating or integer dtype, and (when the
    values are concrete) no negative entry, or, with ``positive``, no entry <= 0. Traced
    values get a value check (:func:`check_values`): an error under :func:`jaxloss.checked`
    or ``checkify``; otherwise a bad value gives NaN or inf, never a clamped number."""
    if not (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer)):
        raise TypeError(f"{fn}: `{name}` must be a numeric (C,) array, got dtype {v.dtype}.")
    if v.shape != (num_classes,):
        raise ValueError(
            f"{fn}: `{name}` must have shape ({num_classes},), one value per class, got "
            f"shape {v.shape}."
        )
    bound = "> 0" if positive else ">= 0"
    if not isinstance(v, jax.core.Tracer):
        values = np.asarray(v)
        bad = (values <= 0) if positive else (values < 0)
        if bad.any():
            c = int(np.argmax(bad))
            raise ValueError(
                f"{fn}: `{name}` must be {bound} for every class, got {fmt(values[c])} for "
                f"class {c}."
            )
        return
    if jnp.issubdtype(v.dtype, jnp.integer):
        low: float = 1 if positive else 0
    else:
        low = float(jnp.finfo(v.dtype).tiny) if positive else 0.0
    check_values(fn, name, v, low=low, expected=f"{bound} for every class")
def check_bad_values(
    fn: str,
    name: str,
    x: jax.Array,
    bad: jax.Array,
    *,
    expected: str,
    hint: str = "",
) -> None:
    """Fails (``_check_runtime.require``) naming the first element of ``x`` where ``bad`` is True.

    The message is check_values's: ``"{fn}: `{name}` must be {expected}, got {value} at
    index {index}.{hint}"``. The caller decides whether it runs: CTC checks concrete
    (host) values always, with NumPy arrays, and traced ones under :func:`jaxloss.checked`.
    """
    if x.size == 0:
        return

    shape = tuple(x.shape)  # the message keeps the shape, not the (traced) array

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        at = f"index {_runtime.unravel(flat_index, shape)}"
        if shard is not None:
            at += f" of the shard at {shard}"
        return f"{fn}: `{name}` must be {expected}, got {fmt(value)} at {at}.{hint}"

    if isinstance(bad, (np.ndarray, np.generic)):
        # Host values are checked with NumPy: no device op (and none staged inside jit).
        def host_failure() -> dict[str, np.ndarray]:
            flat = np.argmax(np.reshape(bad, -1))
            return {"value": np.reshape(x, -1)[flat], "flat_index": flat}

        _runtime.require(np.any(bad), message, host_failure)
        return
    _runtime.require(jnp.any(bad), message, lambda: _runtime.first_failure(x, bad))
