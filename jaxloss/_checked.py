"""``checked``: enforce jaxloss's value checks (labels, value ranges), also inside ``jit``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import checkify

from jaxloss import _check_runtime


def checked(loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a jaxloss function so that inputs only their values show to be wrong raise.

    Shapes, dtypes and hyperparameters are always checked while tracing. What only the
    values show is not, since a compiled program cannot raise on a value: an out-of-range
    integer label (other than ``ignore_index``; ``-1`` included) makes that element's loss
    NaN, and the other cases below give a number. Under ``checked`` each becomes an error
    that names the function, the argument, the first offending value and what was expected:

    * an integer label outside ``[0, C)`` that is not ``ignore_index`` (every loss with
      integer targets, :func:`jaxloss.class_counts`);
    * ``nll_loss``: ``log_probs`` above 0 (probabilities or logits where log-probabilities
      are expected);
    * ``cross_entropy``/``focal_loss``: negative probability targets;
    * ``binary_cross_entropy_with_logits``/``sigmoid_focal_loss``/``asymmetric_loss``:
      targets outside [0, 1];
    * ``binary_cross_entropy``: probabilities (``input``) or targets outside [0, 1];
    * ``gaussian_nll_loss``: a negative ``var``;
    * Dice family: floating (mask or probability) targets outside [0, 1], and inputs outside
      [0, 1] with ``activation="none"``;
    * ``ctc_loss``: input lengths outside [0, T], target lengths outside [0, S] (or
      negative, and not summing to the size of concatenated targets), targets outside
      [0, C) or equal to ``blank``. These are also checked without ``checked`` wherever the
      values are concrete (host arrays, eager calls); traced and unchecked, that sequence's
      loss is NaN;
    * a traced hyperparameter outside its range (``vmap`` over ``gamma``, a
      ``label_smoothing`` passed into ``jit``): the error a concrete value raises while
      tracing, e.g. ``focal_loss: `gamma` must be >= 0, got -1.0.``

    Ignored (``ignore_index``) and masked (``where=False``) elements are not checked.

    Each check is a check of JAX's functional error mechanism,
    ``jax.experimental.checkify``, and ``checked`` functionalizes ``loss_fn`` with
    ``checkify.checkify(loss_fn, errors=checkify.user_checks)`` and raises what failed.
    Called eagerly, the wrapped function raises ``CheckError`` (a subclass of
    ``jax.errors.JaxRuntimeError`` and of ``ValueError``) whose message is exactly the
    error. Called inside ``jax.jit`` (or ``vmap``, ``grad``, a jitted train step), the error
    is raised from the compiled program as ``lax.cond(failed, <host callback that raises>,
    ...)``, so the host is only called when a check fails; JAX then raises a
    ``jax.errors.JaxRuntimeError`` from the call whose message ends with the error, after
    ``INTERNAL: CpuCallback error calling callback:`` and the Python stack at the call (a
    wrapper JAX adds around every exception from compiled code, which a library inside the
    user's ``jit`` cannot remove). Nothing is logged to stderr. Inside ``shard_map`` and
    ``pmap`` every shard raises the first failing shard's error (which names the shard), so
    none waits in a collective. A check costs one reduction over the checked array, so
    keep ``checked`` for debugging and data validation.

    ``checked`` is not needed to see these errors from a program you functionalize
    yourself: under ``checkify.checkify`` (``err, out = checkify.checkify(step)(...)``,
    ``step`` jitted or not, inside ``shard_map`` and ``pmap`` too; or ``chex.chexify``)
    every jaxloss call in ``step`` reports its failed check in ``err`` (all of the above), and
    ``err.throw()`` raises checkify's ``JaxRuntimeError`` whose message is the error
    followed by `` (`check` failed)``, with no wrapper. Where nothing checkifies the
    program, the checks cost nothing: they lower to nothing (no host callback, no ``cond``,
    no effect, so ``jax.export`` is unaffected), and XLA drops the reductions behind them.
    Inside a function you checkify, do not wrap the loss in ``checked``: it would raise
    itself, from the host callback.

    Arguments are passed through (positional and keyword, arrays or not). The wrapped
    function runs compiled (``jax.jit``), with the array arguments (JAX or NumPy) traced and
    the others (Python numbers, strings, functions) static, so an eager call compiles once
    per signature.

    Args:
      loss_fn: a jaxloss function such as :func:`jaxloss.cross_entropy`, or a function
        that calls jaxloss functions, jitted or not (every check is in its trace).

    Returns:
      A function with the same signature and results.

    Raises:
      CheckError: a value check failed (see above).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> from jax.experimental import checkify
      >>> ce = jaxloss.checked(jaxloss.cross_entropy)
      >>> ce(jnp.zeros((2, 3)), jnp.array([0, 7]))
      Traceback (most recent call last):
        ...
      jaxloss._check_runtime.CheckError: cross_entropy: target label 7 is out of range: labels must be in [0, 3) or equal to ignore_index=-100.
      >>> log_probs = jnp.array([[0.7, 0.3]])  # probabilities, not log-probabilities
      >>> jaxloss.checked(jaxloss.nll_loss)(log_probs, jnp.array([0]))
      Traceback (most recent call last):
        ...
      jaxloss._check_runtime.CheckError: nll_loss: `log_probs` must be log-probabilities (<= 0), got 0.7 at index (0, 0). Pass logits to jaxloss.cross_entropy, or log-probabilities from jax.nn.log_softmax.
      >>> step = jax.jit(jax.value_and_grad(lambda x, y: ce(x, y)))
      >>> try:
      ...     step(jnp.zeros((2, 3)), jnp.array([0, 7]))
      ... except jax.errors.JaxRuntimeError as e:
      ...     print(str(e).splitlines()[-1])
      CheckError: cross_entropy: target label 7 is out of range: labels must be in [0, 3) or equal to ignore_index=-100.

      Traced hyperparameters are checked too (here ``vmap`` over ``gamma``):

      >>> focal = lambda g: jaxloss.focal_loss(jnp.zeros((2, 3)), jnp.array([0, 1]), gamma=g)
      >>> jaxloss.checked(jax.vmap(focal))(jnp.array([2.0, -1.0]))
      Traceback (most recent call last):
        ...
      jaxloss._check_runtime.CheckError: focal_loss: `gamma` must be >= 0, got -1.0.

      Without ``checked``, checkify your own (jitted) step:

      >>> err, loss = checkify.checkify(jax.jit(jaxloss.cross_entropy))(
      ...     jnp.zeros((2, 3)), jnp.array([0, 7]))
      >>> err.throw()
      Traceback (most recent call last):
        ...
      jax._src.checkify.JaxRuntimeError: cross_entropy: target label 7 is out of range: labels must be in [0, 3) or equal to ignore_index=-100. (`check` failed)
    """  # noqa: E501
    functionalized = checkify.checkify(loss_fn, errors=checkify.user_checks)

    # checkify evaluated eagerly traces the function on every call, and a check before a
    # jitted part changes that part's checkified program each time (checkify numbers every
    # check it meets), so an eager call would compile anew on every call. Compiled once per
    # signature instead: arrays are its arguments, everything else (Python numbers, strings,
    # functions) is static, as jaxloss treats it.
    @functools.partial(jax.jit, static_argnums=0)
    def compiled(spec: tuple[Any, ...], *arrays: Any) -> Any:
        treedef, static = spec
        leaves = list(arrays)
        for i, _, value in static:
            leaves.insert(i, value)
        args, kwargs = jax.tree.unflatten(treedef, leaves)
        with _check_runtime.checking():
            return functionalized(*args, **kwargs)

    @functools.wraps(loss_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jax.tree.flatten((args, kwargs))
        static = tuple(
            (i, type(v), v) for i, v in enumerate(leaves) if not _is_array(v)
        )
        arrays = [v for v in leaves if _is_array(v)]
        try:
            hash(static)
        except TypeError:  # an unhashable non-array argument: checkify it as it is
            with _check_runtime.checking():
                error, out = functionalized(*args, **kwargs)
        else:
            error, out = compiled((treedef, static), *arrays)
        _check_runtime.raise_failed_checks(error)
        return out

    return wrapper


def _is_array(v: Any) -> bool:
    return isinstance(v, (jax.Array, np.ndarray, np.generic))
