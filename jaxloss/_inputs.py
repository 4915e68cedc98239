"""The input layer every loss goes through: one conversion, one dtype rule, one label rule.

A loss reads as three steps: prepare (this module), its math, reduce (``_reduction.py``).
Preparation converts each argument once, checks it (``_checks.py`` holds the checks and
their messages), and hands the math arrays in one compute dtype, with masked or ignored
elements already replaced by safe values (:func:`masked`), so that a NaN or ``+-inf`` there
reaches neither a value nor a gradient.

The rules, stated once:

* **dtype**: the loss computes in the joint floating dtype of its tensor inputs (predictions
  and floating targets) with float32 as the floor: float64 if any of them is float64, else
  float32 (bf16/f16 in, float32 math and result). Argument order never decides it. Weights,
  class weights, masks and hyperparameters are cast to it.
* **labels**: integer targets are class indices in ``[0, C)``; an element equal to
  ``ignore_index`` or masked by ``where`` is dropped. A *concrete* kept label outside the
  range (an eager call) is a ``ValueError`` naming the label and the valid range; a traced one
  makes its element's loss NaN (never a wrapped or clamped class), and an error under
  :func:`jaxloss.checked`.
* **flags**: structural switches (``batch``, ``full``, ``per_image``, ...) take a Python or a
  NumPy bool and nothing else.
* **PyTorch keywords**: ``weight=``, ``size_average=`` and ``reduce=``, and PyTorch's
  ``input=``/``target=`` where jaxloss names the tensors otherwise, raise a ``TypeError`` that
  names jaxloss's spelling (:func:`public`); so do jaxloss's own former names (``class_priors=``,
  ``hard_weight=``, ``log_p=``/``log_q=``, renamed for one name per meaning).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _check_runtime, _checks

P = ParamSpec("P")
R = TypeVar("R")

# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------


def float_dtype(*arrays: Any) -> np.dtype:
    """The compute dtype of a loss whose tensor inputs are ``arrays``: float64 if any floating
    one is float64, else float32 (the floor; integer and boolean arrays do not vote).

    The value standard promotion would give for ``result_type(*floats, float32)``, chosen
    without asking JAX to promote (that raises under ``jax_numpy_dtype_promotion="strict"``).
    """
    for a in arrays:
        if getattr(a, "dtype", None) == np.dtype(np.float64):
            # float32 when x64 is off (NumPy float64 arrays not yet converted)
            return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    return np.dtype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Tensor:
    """An argument converted once: the array and the dtype the caller passed (for messages:
    with x64 off JAX turns NumPy float64 into float32, and an error names what was given)."""

    name: str
    value: jax.Array
    given: np.dtype | None


def tensor(name: str, x: ArrayLike) -> Tensor:
    """Converts ``x`` with ``jnp.asarray``, remembering its dtype as passed."""
    given = _checks.given_dtype(x)
    return Tensor(name, jnp.asarray(x), given)


def floats(
    fn: str,
    *inputs: Tensor,
    targets: Tensor | None = None,
    class_axis: int | None = -1,
) -> tuple[list[jax.Array], np.dtype]:
    """Checks that each of ``inputs`` is floating point and casts them all, with floating
    ``targets`` when given (integer targets are left alone), to their joint compute dtype.

    ``targets``/``class_axis`` let an integer prediction beside floating targets be reported
    as swapped arguments (see :func:`_checks.check_float`). Returns the cast inputs (the
    targets last when given and floating) and the dtype.
    """
    for t in inputs:
        _checks.check_float(
            fn, t.name, t.value, given=t.given,
            targets=None if targets is None else targets.value,
            targets_given=None if targets is None else targets.given,
            class_axis=class_axis,
        )
    voters = [t.value for t in inputs]
    if targets is not None and jnp.issubdtype(targets.value.dtype, jnp.floating):
        voters.append(targets.value)
    dtype = float_dtype(*voters)
    return [v.astype(dtype) for v in voters], dtype


# ---------------------------------------------------------------------------------------------
# flags, scalars, per-class and per-element arrays, masks
# ---------------------------------------------------------------------------------------------


def flag(fn: str, name: str, value: Any) -> bool:
    """A structural switch: a Python or NumPy bool, returned as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{fn}: `{name}` must be a Python or NumPy bool (it selects the computation, it is "
            f"structure, not data), got {value!r}."
        )
    return bool(value)


def class_weights(
    fn: str, value: ArrayLike | None, num_classes: int, dtype: Any, name: str = "class_weights"
) -> jax.Array | None:
    """Per-class weights: a real (C,) array, cast to ``dtype``; None stays None."""
    if value is None:
        return None
    w = jnp.asarray(value)
    _checks.check_class_vector(fn, name, w, num_classes)
    return w.astype(dtype)


def element_weights(
    fn: str, value: ArrayLike | None, shape: tuple[int, ...], dtype: Any
) -> jax.Array | None:
    """Per-element ``weights``: real, broadcastable to the per-element ``shape`` (the shape
    ``where`` broadcasts to), broadcast and cast to ``dtype``; None stays None."""
    return _checks.as_weights(fn, value, shape, dtype)


def scalar(fn: str, name: str, value: ArrayLike, dtype: Any) -> jax.Array:
    """A scalar hyperparameter (a Python number or a 0-d array, traceable), checked to be a
    scalar (:func:`jaxloss._checks.check_scalar`), in the compute dtype."""
    _checks.check_scalar(fn, name, value)
    return jnp.asarray(value).astype(dtype)


def mask(fn: str, where: ArrayLike | None, shape: tuple[int, ...]) -> jax.Array | None:
    """The ``where`` mask: boolean, broadcastable to ``shape``, broadcast; None stays None."""
    return _checks.as_mask(fn, where, shape)


# ---------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------


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


def ignored(targets: jax.Array, ignore_index: int) -> jax.Array:
    """``targets == ignore_index`` compared as integers: an ``ignore_index`` outside the
    range of the labels' dtype matches no label. (A plain ``==`` casts ``-100`` to a uint8
    label's dtype, where it wraps to 156, so the label 156 would be silently dropped instead
    of being out of range.)"""
    info = jnp.iinfo(targets.dtype)
    if not info.min <= int(ignore_index) <= info.max:
        return jnp.zeros_like(targets, dtype=bool)
    return targets == ignore_index


@dataclasses.dataclass(frozen=True)
class Labels:
    """Integer targets after the label rule.

    Attributes:
      targets: the labels widened to at least int32, so that a class count above the labels'
        dtype (256 classes with uint8 labels) never wraps in a comparison or a one-hot.
      keep: True where the element counts (not ``ignore_index``, not masked by ``where``).
      in_range: True where the label is a class in ``[0, C)``.
      safe: the label where it is kept and in range, else 0: a valid index for every gather,
        so nothing wraps or fills; the caller puts NaN at ``keep & ~in_range``.
      mask: the broadcast ``where`` mask, or None.
    """

    targets: jax.Array
    keep: jax.Array
    in_range: jax.Array
    safe: jax.Array
    mask: jax.Array | None


def widened(targets: jax.Array) -> jax.Array:
    """Integer labels as at least int32 (int64 labels stay int64)."""
    dtype = np.dtype(targets.dtype)
    if dtype.itemsize < 4 or (dtype.itemsize == 4 and dtype.kind == "u"):
        wide = jax.dtypes.canonicalize_dtype(np.int64) if dtype.itemsize == 4 else np.int32
        return targets.astype(wide)
    return targets


def labels(
    fn: str,
    targets: jax.Array,
    num_classes: int,
    *,
    ignore_index: int | None,
    where: ArrayLike | None,
    name: str = "targets",
    offset: int = 0,
) -> Labels:
    """Applies the label rule to integer ``targets`` (shape already checked).

    A kept label outside ``[offset, offset + num_classes)`` raises a ``ValueError`` naming it
    when the labels are concrete (eager calls); traced, it is left to the caller's NaN and to
    :func:`jaxloss.checked`.
    """
    if ignore_index is not None:
        _checks.check_ignore_index(fn, ignore_index)
    m = mask(fn, where, tuple(targets.shape))
    keep = jnp.ones(targets.shape, bool) if ignore_index is None else ~ignored(
        targets, ignore_index
    )
    if m is not None:
        keep = keep & m
    high = offset + num_classes
    wide = widened(targets)
    in_range = (wide >= offset) & (wide < high)
    concrete = not isinstance(targets, jax.core.Tracer) and not (
        m is not None and isinstance(m, jax.core.Tracer)
    )
    if concrete and not _check_runtime.checking_active() and targets.size:
        t = np.asarray(targets).astype(np.int64)
        bad = (t < offset) | (t >= high)
        if ignore_index is not None:
            bad &= t != ignore_index
        if m is not None:
            bad &= np.asarray(m)
        if bad.any():
            raise ValueError(_checks.label_message(fn, t[bad][0], num_classes, ignore_index))
    _checks.check_labels(fn, targets, in_range | ~keep, num_classes, ignore_index)
    safe = jnp.where(keep & in_range, wide, jnp.zeros_like(wide) + offset)
    return Labels(targets=wide, keep=keep, in_range=in_range, safe=safe, mask=m)


def masked(
    x: jax.Array, keep: jax.Array | None, fill: ArrayLike, axis: int | None = None
) -> jax.Array:
    """``x`` where ``keep``, else ``fill``: the one way a loss keeps a masked or ignored
    element's inputs out of its math.

    Called on each float input (predictions, targets, weights, variances) right after the
    mask is known, with a ``fill`` at which the family's math is finite with finite
    derivatives (logits 0, probabilities 0.5, regression 1, ...). A NaN or ``+-inf`` in a
    dropped element then reaches neither the value nor any gradient: ``jnp.where``'s
    cotangent is exactly 0 there, where selecting the per-element loss afterwards gives
    ``0 * nan`` in the backward pass.

    Args:
      x: the array to clean.
      keep: True where the element counts, broadcastable to ``x`` (after inserting ``axis``);
        None (no mask) returns ``x`` itself, so an unmasked loss pays nothing.
      fill: the safe value (a Python scalar or an array broadcastable to ``x``), cast to
        ``x``'s dtype.
      axis: when given, ``keep`` lacks this axis of ``x`` (a class or feature axis) and is
        broadcast along it: the whole row of a dropped element is replaced.

    Returns:
      ``x``'s dtype; the broadcast shape of ``x`` and ``keep`` (``x``'s shape when ``keep``
      broadcasts to it).
    """
    if keep is None:
        return x
    keep = jnp.asarray(keep)
    if axis is not None:
        keep = jnp.expand_dims(keep, axis)
    return jnp.where(keep, x, jnp.asarray(fill, x.dtype))


# ---------------------------------------------------------------------------------------------
# PyTorch's keywords
# ---------------------------------------------------------------------------------------------


def _weight_hint(params: dict[str, inspect.Parameter]) -> str:
    parts = []
    if "class_weights" in params:
        parts.append("`class_weights=` (one per class)")
    if "weights" in params:
        parts.append("`weights=` (per element, broadcastable like `where`)")
    if "pos_weight" in params:
        parts.append("`pos_weight=` (positive examples, PyTorch's `pos_weight`)")
    if not parts:
        return "This function takes no weights."
    return "PyTorch's `weight=` is spelled by meaning in jaxloss: pass " + " or ".join(parts) + "."


# jaxloss's former keywords (CHANGELOG, "one name per meaning"), by function: the hint names
# the new spelling.
_RENAMED = {
    ("logit_adjusted_cross_entropy", "class_priors"): (
        "jaxloss's former `class_priors=` is `class_counts=` (counts or priors give the same "
        "loss: only their ratios matter)."
    ),
    ("distillation_loss", "hard_weight"): (
        "jaxloss's former `hard_weight=a` is `lambda_hard=a, lambda_soft=1-a` (the two "
        "weights add; the defaults are lambda_soft=1, lambda_hard=0)."
    ),
    ("jensen_shannon_divergence", "log_p"): (
        "jaxloss's former `log_p=` (the teacher's log-probabilities) is `target=`, the second "
        "argument (kl_div's order: `input`, the student's, first)."
    ),
    ("jensen_shannon_divergence", "log_q"): (
        "jaxloss's former `log_q=` (the student's log-probabilities) is `input=`, the first "
        "argument (kl_div's order: `target`, the teacher's, second)."
    ),
}


def _unexpected(fn: str, params: dict[str, inspect.Parameter], key: str) -> str:
    positional = [
        p.name for p in params.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if key == "weight":
        fix = _weight_hint(params)
    elif key in ("size_average", "reduce"):
        fix = (
            f"PyTorch's deprecated `{key}=` is `reduction=` in jaxloss: 'mean', 'sum' or 'none'."
        )
    elif key == "input" and positional and positional[0] != "targets":
        fix = f"PyTorch's `input=` is `{positional[0]}=` here (or pass it positionally)."
    elif key == "target" and "targets" in params:
        fix = "PyTorch's `target=` is `targets=` here."
    elif (fn, key) in _RENAMED:
        fix = _RENAMED[fn, key]
    else:
        close = difflib.get_close_matches(key, list(params), n=2)
        fix = ("Did you mean " + " or ".join(f"`{c}=`" for c in close) + "?") if close else (
            "Its arguments are " + ", ".join(f"`{p}`" for p in params) + "."
        )
    return f"{fn}() got an unexpected keyword argument `{key}`. {fix}"


def public(loss: Callable[P, R]) -> Callable[P, R]:
    """Marks a public loss: an unknown keyword raises a ``TypeError`` that names the function
    and jaxloss's spelling (PyTorch's ``weight=``, ``size_average=``, ``reduce=``,
    ``input=``/``target=``, jaxloss's former names, and close matches of typos). Nothing else
    changes: the signature (``inspect.signature`` follows ``__wrapped__``) and the call are the
    loss's own."""
    fn = loss.__name__
    params = dict(inspect.signature(loss).parameters)
    names = frozenset(params)

    @functools.wraps(loss)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not names.issuperset(kwargs):
            key = next(k for k in kwargs if k not in names)
            raise TypeError(_unexpected(fn, params, key))
        return loss(*args, **kwargs)

    return wrapper
