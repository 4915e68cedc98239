"""Trace-time validation shared by every loss.

Every check here runs while JAX traces, on shapes, dtypes and concrete Python numbers only,
so it costs nothing at run time and never forces a traced value to a Python bool. Each error
names the public function, the argument, what was received and what was expected.

The one value check that must look at traced data, an out-of-range integer target, is not a
Python exception: under plain jit the affected element's loss is NaN, and under
:func:`jaxloss.checked` it becomes a ``checkify`` error (see :func:`check_labels`).
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

REDUCTIONS = ("mean", "sum", "none")

_CHECKING: contextvars.ContextVar[bool] = contextvars.ContextVar("jaxloss_checking", default=False)


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """While active, label range checks are emitted as ``checkify.check`` calls."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def concrete_float(x: Any) -> float | None:
    """The value of ``x`` as a Python float when it is a concrete scalar, else None.

    Tracers (under ``jit``, ``vmap``, ``grad``) and non-scalars give None: range checks on
    hyperparameters only run when the value is known while tracing.
    """
    if isinstance(x, jax.core.Tracer):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, (np.ndarray, np.generic, jax.Array)) and np.ndim(x) == 0:
        return float(x)
    return None


def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype the math runs in: ``dtype`` for float32/float64, else float32.

    The value of ``jnp.result_type(dtype, jnp.float32)`` under standard promotion (bf16/f16
    and integers compute in float32), without asking JAX to promote, which raises under
    ``jax_numpy_dtype_promotion="strict"``.
    """
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits >= 32:
        return dtype
    return np.dtype(jnp.float32)


def check_reduction(fn: str, reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}: `reduction` must be one of {REDUCTIONS}, got {reduction!r}. "
            "Use 'none' for the per-element loss."
        )


def check_float(fn: str, name: str, x: jax.Array) -> None:
    """Logits and probabilities must be floating point (an int array is almost always a bug)."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{fn}: `{name}` must be a floating-point array, got dtype {x.dtype}. "
            f"Cast it with `{name}.astype(jnp.float32)`."
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


def check_unit_interval(fn: str, name: str, value: Any) -> None:
    """A concrete hyperparameter that must lie in [0, 1]; traced values are not checked."""
    v = concrete_float(value)
    if v is not None and not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: `{name}` must be in [0, 1], got {v}.")


def check_nonnegative(fn: str, name: str, value: Any) -> None:
    v = concrete_float(value)
    if v is not None and not v >= 0.0:
        raise ValueError(f"{fn}: `{name}` must be >= 0, got {v}.")


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


def check_targets_shape(
    fn: str, logits_shape: Sequence[int], targets_shape: Sequence[int], axis: int
) -> None:
    """Integer targets have the logits' shape without the class axis."""
    expected = tuple(logits_shape[:axis]) + tuple(logits_shape[axis + 1 :])
    if tuple(targets_shape) != expected:
        raise ValueError(
            f"{fn}: integer `targets` must have the logits' shape without the class axis "
            f"(axis={axis}): expected {expected}, got {tuple(targets_shape)} for logits of shape "
            f"{tuple(logits_shape)}."
            + (
                " For channel-first (N, C, ...) logits pass axis=1."
                if len(logits_shape) > 2 and axis == len(logits_shape) - 1
                else ""
            )
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


def as_mask(fn: str, where: Any, shape: Sequence[int]) -> jax.Array | None:
    """Validates the ``where`` argument and broadcasts it to ``shape``."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise TypeError(f"{fn}: `where` must be a boolean array, got dtype {where.dtype}.")
    check_broadcastable(fn, "where", where.shape, shape)
    return jnp.broadcast_to(where, tuple(shape))


def check_labels(fn: str, targets: jax.Array, in_range: jax.Array, num_classes: int) -> None:
    """Under :func:`jaxloss.checked`, fails with the first offending label and the valid range."""
    if not _CHECKING.get():
        return
    bad = ~in_range
    first = jnp.where(jnp.any(bad), targets.ravel()[jnp.argmax(bad.ravel())], 0)
    checkify.check(
        ~jnp.any(bad),
        f"{fn}: target label {{label}} is out of range: labels must be in [0, {num_classes}) "
        "or equal to ignore_index.",
        label=first,
    )
