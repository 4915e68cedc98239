"""``checked``: turn jaxloss's run-time label checks into errors, also inside ``jit``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
from jax.experimental import checkify

from jaxloss import _checks


def checked(loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a jaxloss function so that out-of-range integer targets raise an error.

    Without it, an integer target outside ``[0, C)`` that is not ``ignore_index`` (``-1``
    included) makes that element's loss NaN: a compiled program cannot raise on a value. The
    wrapped function is functionalised with :func:`jax.experimental.checkify.checkify` and
    raises a ``JaxRuntimeError`` whose message names the first offending label and the valid
    range. Called eagerly it raises at once; called inside ``jax.jit`` (or a jitted train
    step) the error is raised when the program runs. The check costs one reduction over the
    targets, so keep it for debugging and data validation.

    Positional arguments (logits, targets) are traced; keyword arguments are passed through.

    Args:
      loss_fn: a jaxloss function such as :func:`jaxloss.cross_entropy` (not a jitted one:
        the checks are added while it is traced).

    Returns:
      A function with the same signature and results.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> ce = jaxloss.checked(jaxloss.cross_entropy)
      >>> ce(jnp.zeros((2, 3)), jnp.array([0, 7]))
      Traceback (most recent call last):
        ...
      jax._src.checkify.JaxRuntimeError: cross_entropy: target label 7 is out of range: labels must be in [0, 3) or equal to ignore_index. (`check` failed)
    """  # noqa: E501

    @functools.wraps(loss_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def run(*arrays: Any) -> Any:
            with _checks.checking():
                return loss_fn(*arrays, **kwargs)

        err, out = checkify.checkify(run)(*args)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(err)):
            # Inside a transformation the error is only known when the program runs.
            jax.debug.callback(lambda e: e.throw(), err)
        else:
            err.throw()
        return out

    return wrapper
