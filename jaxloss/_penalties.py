"""Parameter penalties over any pytree: L1 and L2 (optax's ``l2_loss`` convention)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss import _inputs


def _selected_leaves(fn: str, params: Any, where: Any) -> list[tuple[jax.Array, Any]]:
    """The (leaf, mask) pairs to penalise; mask is None (whole leaf) or a boolean array."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    if where is None:
        masks: list[Any] = [True] * len(flat)
    elif callable(where):
        masks = [where(path, leaf) for path, leaf in flat]
    else:
        try:
            masks = treedef.flatten_up_to(where)  # type: ignore[attr-defined]  # not in jaxlib's stub
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"{fn}: `where` must be a pytree of booleans with the structure of `params`, "
                f"or a predicate `f(path, leaf) -> bool`; the structures differ: {e}"
            ) from None
    selected = []
    for (path, leaf), mask in zip(flat, masks, strict=True):
        name = jax.tree_util.keystr(path) or "<root>"
        if isinstance(mask, (bool, np.bool_)):
            if not mask:
                continue
            mask = None
        else:
            mask = jnp.asarray(mask)
            if mask.dtype != jnp.bool_:
                raise TypeError(
                    f"{fn}: `where` at {name} must be a bool or a boolean array, got "
                    f"{mask!r}." if mask.ndim == 0 else
                    f"{fn}: `where` at {name} must be a bool or a boolean array, got dtype "
                    f"{mask.dtype}."
                )
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"{fn}: `params` leaf {name} has dtype {leaf.dtype}; penalties apply to "
                "floating-point parameters. Exclude it with `where` (e.g. filter the state "
                "with `nnx.state(model, nnx.Param)`)."
            )
        if mask is not None:
            try:
                ok = np.broadcast_shapes(mask.shape, leaf.shape) == leaf.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"{fn}: `where` at {name} of shape {mask.shape} must broadcast to the "
                    f"parameter's shape {leaf.shape}."
                )
        selected.append((leaf, mask))
    return selected


def _penalty(fn: str, params: Any, where: Any, term: Callable[[jax.Array], jax.Array]):
    selected = _selected_leaves(fn, params, where)
    wide = any(leaf.dtype == jnp.float64 for leaf, _ in selected)
    dtype = jnp.float64 if wide else jnp.float32
    total = jnp.zeros((), dtype)
    for leaf, mask in selected:
        values = term(leaf.astype(dtype))
        if mask is not None:
            values = jnp.where(jnp.broadcast_to(mask, leaf.shape), values, 0.0)
        total = total + jnp.sum(values)
    return total


@_inputs.public
def l1_penalty(params: Any, *, where: Any = None) -> jax.Array:
    r"""Sum of absolute values over every (selected) leaf of a pytree: :math:`\sum |\theta|`.

    Add ``lam * l1_penalty(params)`` to a loss for L1 regularisation (lasso). Leaves of any
    floating dtype are accumulated in float32 (float64 if a selected leaf is float64), so a
    bf16 model's penalty does not lose precision. The gradient at exactly 0 is 0.

    Args:
      params: any pytree of floating arrays: a dict, a list, Flax NNX state
        (``nnx.state(model, nnx.Param)``), an optax-style params tree.
      where: optional selection, either a pytree of booleans with the structure of
        ``params`` (each a Python bool, or a boolean array broadcastable to that leaf), or a
        predicate ``f(path, leaf) -> bool`` called with each leaf's key path (as from
        ``jax.tree_util.tree_flatten_with_path``), e.g. ``lambda path, x: x.ndim > 1`` to
        skip biases and norm scales.

    Returns:
      A scalar, float32 (float64 if a selected leaf is float64); 0.0 when nothing is selected.

    Raises:
      ValueError: ``where`` does not match the structure or a leaf's shape.
      TypeError: a selected leaf is not floating point, or a ``where`` entry is not boolean.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([3.0])}
      >>> print(jaxloss.l1_penalty(params))
      6.0
      >>> print(jaxloss.l1_penalty(params, where=lambda path, x: x.ndim > 1))
      3.0

    References:
      Tibshirani, "Regression shrinkage and selection via the lasso", JRSS B 1996 (the L1
      penalty); PyTorch's subgradient of ``abs`` (0 at 0).
    """
    # |x| as x * sign(x): the same value, and the subgradient 0 at exactly 0 (as PyTorch).
    return _penalty("l1_penalty", params, where, lambda x: x * jnp.sign(x))


@_inputs.public
def l2_penalty(params: Any, *, where: Any = None) -> jax.Array:
    r"""Half the sum of squares over every (selected) leaf: :math:`\frac12 \sum \theta^2`.

    The factor 1/2 is optax's ``l2_loss`` convention (the gradient is ``params`` itself), so
    ``lam * l2_penalty(params)`` added to a loss is the same as ``optax.add_decayed_weights
    (lam)`` with plain SGD (for Adam the two differ: use ``optax.adamw`` for decoupled decay).
    PyTorch's ``weight_decay=lam`` corresponds to ``lam * l2_penalty``. Leaves are accumulated
    in float32 (float64 if a selected leaf is float64).

    Args:
      params: any pytree of floating arrays (dict, list, Flax NNX state, ...).
      where: optional pytree of booleans matching ``params`` or predicate
        ``f(path, leaf) -> bool``; see :func:`l1_penalty`.

    Returns:
      A scalar, float32 (float64 if a selected leaf is float64); 0.0 when nothing is selected.

    Raises:
      ValueError: ``where`` does not match the structure or a leaf's shape.
      TypeError: a selected leaf is not floating point, or a ``where`` entry is not boolean.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([3.0])}
      >>> print(jaxloss.l2_penalty(params))
      7.0
      >>> print(jaxloss.l2_penalty(params, where={"w": True, "b": False}))
      2.5

    References:
      optax ``l2_loss`` (the factor 1/2); Krogh & Hertz, "A simple weight decay can improve
      generalization", NIPS 1991.
    """
    return _penalty("l2_penalty", params, where, lambda x: 0.5 * jnp.square(x))
