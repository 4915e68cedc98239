"""Validation shared by every loss.

Most checks here run while JAX traces, on shapes, dtypes and concrete Python numbers only,
so they cost nothing at run time and never force a traced value to a Python bool. Each error
names the public function, the argument, what was received and what was expected.

Checks that must look at traced data (an out-of-range integer label, probabilities where
log-probabilities are expected, a mask outside [0, 1], a traced hyperparameter out of its
range, ...) are value checks, and go through one mechanism, :func:`_require`:

* on traced values (``jit``, ``vmap``, ``grad``, ``checkify``, ...) each is a check for
  JAX's functional error mechanism, ``jax.experimental.checkify``: nothing at all (it
  lowers to nothing, carries no effect, and XLA drops the reduction behind it) unless the
  program is functionalized by ``checkify.checkify``, which then returns the failed check
  in its ``Error`` value. So a user who checkifies their own step gets jaxloss's message
  from ``err.throw()``;
* on concrete values (eager calls) a value check only runs under :func:`jaxloss.checked`
  (see :func:`checking`), and raises :class:`CheckError` at once.

:func:`jaxloss.checked` functionalizes the loss with ``checkify.checkify`` and raises the
resulting error (:func:`raise_failed_checks`): at once when it is concrete; inside ``jit``
through ``lax.cond(failed, <host callback that raises CheckError>, <nothing>)``, so the host
is only called when a check fails. Inside ``shard_map``/``pmap`` the shards first agree on
the failure, so that they all raise together and none hangs in a collective.

JAX turns an exception raised in a host callback into a ``jax.errors.JaxRuntimeError``
whose message ends with ``CheckError: <our message>``. The traceback JAX would also log to
stderr is dropped by a logging filter that matches our exception class only
(:class:`_DropCheckErrorLogs`), and a failed multi-device program's error, which JAX's exit
handlers would print again, is dropped at exit (:func:`_drop_failed_check_tokens`).

The raising route is the technique of ``equinox.error_if`` (``lax.cond`` around a raising
callback, a filter on JAX's callback logger), without equinox's static message: the message
here carries the offending value and its index.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import logging
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

REDUCTIONS = ("mean", "sum", "none")

_CHECKING: contextvars.ContextVar[bool] = contextvars.ContextVar("jaxloss_checking", default=False)


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """While active, value checks also run on concrete values (eager calls)."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def checking_active() -> bool:
    """Whether :func:`jaxloss.checked` is enforcing value checks."""
    return _CHECKING.get()


class CheckError(jax.errors.JaxRuntimeError, ValueError):
    """A value check enforced by :func:`jaxloss.checked` failed.

    A ``jax.errors.JaxRuntimeError``, the type a check that fails inside ``jit`` surfaces
    as, so one ``except jax.errors.JaxRuntimeError`` catches a failed check in every mode;
    also a ``ValueError``, like jaxloss's trace-time value errors.
    """


class _DropCheckErrorLogs(logging.Filter):
    """Drops JAX's "jax.debug.callback failed" record when the exception is a CheckError.

    JAX logs every exception raised in a host callback with its traceback before re-raising
    it; for a failed check that is 40 lines of noise on stderr beside the one exception the
    caller gets. Installed on JAX's callback logger only, and only our records are dropped:
    the user's handlers, levels and every other record are untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], CheckError))


# jax.debug.callback logs from the module that defines it (jax._src.debugging up to jax
# 0.10.2); the test suite asserts that a failed check under jit prints nothing, so a move in
# JAX that this does not follow is caught there.
logging.getLogger(jax.debug.callback.__module__).addFilter(_DropCheckErrorLogs())


@atexit.register
def _drop_failed_check_tokens() -> None:
    """Keeps a failed check from being reported again when the interpreter exits.

    A multi-device program that failed a check leaves its error in JAX's runtime tokens,
    and JAX's own exit handlers wait on those tokens and print the error a second and third
    time on stderr (equinox swaps JAX's handler for one that ignores every error; diffrax
    issue 506). This hook runs before them (``atexit`` is last in, first out) and drops
    only the tokens whose error is a failed check. It reads JAX's private token table and
    does nothing if that moves.
    """
    try:
        from jax._src import dispatch

        tokens = dispatch.runtime_tokens
        tables = (tokens.current_tokens, tokens.output_runtime_tokens)
    except (ImportError, AttributeError):
        return
    for table in tables:
        for key, token in list(table.items()):
            try:
                token.block_until_ready()
            except jax.errors.JaxRuntimeError as e:
                if f"{CheckError.__qualname__}: " in str(e):
                    del table[key]
            except Exception:  # noqa: BLE001 (leave anything else to JAX's handlers)
                pass


class _Message(str):
    """A value check's message, as checkify's format string.

    checkify keeps a failed check's ``msg_fmt`` and formats it with the check's payload
    (``msg_fmt.format(**payload)``) when the error is read. Our messages need more than
    ``str.format`` (NumPy's shortest repr of the value, the flat index unravelled, the shard
    named by its mesh axes), so the format string is this object, whose ``format`` calls the
    check's ``message`` with the payload as NumPy values (and ``shard="d=2"`` when the
    payload has the shard's indices). Equal only to itself: two checks never share one.
    """

    message: Callable[..., str]
    axes: tuple[str, ...]

    def __new__(cls, message: Callable[..., str], axes: tuple[str, ...]) -> _Message:
        self = super().__new__(cls, f"jaxloss value check {getattr(message, '__qualname__', '')}")
        self.message = message
        self.axes = axes
        return self

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def format(self, *args: Any, **kwargs: Any) -> str:
        del args
        payload = {k: np.asarray(v) for k, v in kwargs.items()}
        shard = payload.pop("shard", None)
        if shard is None:
            return self.message(**payload)
        indices = shard.reshape(-1)
        where = ", ".join(f"{a}={int(i)}" for a, i in zip(self.axes, indices, strict=True))
        return self.message(**payload, shard=where)


def _manual_axes() -> tuple[str, ...]:
    """The mesh axes the caller is mapped over (``shard_map``/``pmap``), or ()."""
    mesh = jax.sharding.get_abstract_mesh()
    return () if mesh.empty else tuple(mesh.manual_axes)


def _check_impl(*args: Any, **params: Any) -> list[Any]:
    del args, params
    return []


def _check_jvp(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
    del tangents
    _check_p.bind(*primals, **params)
    return [], []


def _check_batch(args: Sequence[Any], dims: Sequence[Any], **params: Any) -> Any:
    """Under vmap: one check, reporting the first failing element."""
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    failed, *payload = (
        batching.bdim_at_front(a, d, size) for a, d in zip(args, dims, strict=True)
    )
    first = jnp.argmax(failed)
    _check_p.bind(jnp.any(failed), *(v[first] for v in payload), **params)
    return [], []


def _check_dce(used_outputs: list[bool], eqn: Any) -> tuple[list[bool], Any]:
    """Kept with its inputs until lowering, so that a later ``checkify`` still sees it."""
    del used_outputs
    return [True] * len(eqn.invars), eqn


def _functionalize_check(
    error: Any, enabled_errors: Any, failed: Any, *payload: Any, message: str,
    names: tuple[str, ...],
) -> tuple[Any, list[Any]]:
    """checkify's rule: the check becomes a failed ``checkify.check`` in the Error value."""
    if _ckify.FailedCheckError not in enabled_errors:
        return error, []
    new = _ckify.FailedCheckError(
        _ckify.get_traceback(), message, **dict(zip(names, payload, strict=True))
    )
    return _ckify.assert_func(error, failed, new), []


# A value check on traced values is the primitive `jaxloss_check(failed, *payload)`. JAX's
# own `checkify.debug_check` carries an ErrorEffect into every program that contains one,
# and a program with an effect runs JAX's runtime-token path on every call (a jitted
# cross_entropy on (8, 10) logits went from about 20 to about 450 us a call on CPU) and
# cannot be serialised by `jax.export`. This primitive has no effect, no outputs and no
# lowering: a program that is not checkified is the program without the check (XLA drops
# the reduction behind it). Under `checkify.checkify` it becomes a failed check like
# `checkify.debug_check`'s, through checkify's rule table (`jax._src.checkify.error_checks`,
# private). If that table moves, the primitive is not defined and value checks fall back to
# `checkify.debug_check` under `jaxloss.checked` only (where the effect is functionalized),
# so `checked` keeps working and only a user's own `checkify` loses jaxloss's checks.
try:
    from jax._src import checkify as _ckify
    from jax.extend.core import Primitive
    from jax.interpreters import ad, batching, mlir
    from jax.interpreters import partial_eval as pe

    _ckify.error_checks  # noqa: B018 (the hooks this needs)
    _ckify.FailedCheckError, _ckify.assert_func, _ckify.get_traceback  # noqa: B018
    pe.dce_rules, batching.bdim_at_front  # noqa: B018
except (ImportError, AttributeError):  # pragma: no cover (a JAX that moved them)
    _check_p: Any = None
else:
    _check_p = Primitive("jaxloss_check")
    _check_p.multiple_results = True
    _check_p.def_impl(_check_impl)
    _check_p.def_abstract_eval(lambda *avals, **params: [])
    mlir.register_lowering(_check_p, lambda ctx, *args, **params: [])
    ad.primitive_jvps[_check_p] = _check_jvp
    batching.primitive_batchers[_check_p] = _check_batch
    pe.dce_rules[_check_p] = _check_dce
    _ckify.error_checks[_check_p] = _functionalize_check


def _require(
    failed: jax.Array,
    message: Callable[..., str],
    payload: Callable[[], dict[str, jax.Array]],
) -> None:
    """Fails with ``message(**payload())`` if the scalar ``failed`` is true.

    Concrete ``failed`` (host or eager values): raises :class:`CheckError` at once, and
    ``payload`` is only evaluated then. Traced ``failed``: a check whose payload is
    ``payload()`` (the offending value and its index), plus the shard's indices inside
    ``shard_map``/``pmap``. It costs nothing (it lowers to nothing, and XLA drops the
    reduction behind ``failed``) unless the program is functionalized by
    ``checkify.checkify``, by the user or by :func:`jaxloss.checked`: the failed check is
    then in checkify's ``Error``, and formats with ``message``, which receives the payload
    as NumPy values (and ``shard="d=2"`` inside ``shard_map``/``pmap``).
    """
    if not isinstance(failed, jax.core.Tracer):
        if bool(failed):
            raise CheckError(message(**jax.tree.map(np.asarray, payload())))
        return
    if _check_p is None and not _CHECKING.get():
        return
    values = {k: jnp.asarray(v) for k, v in payload().items()}
    axes = _manual_axes()
    if axes:
        values["shard"] = jnp.stack([jax.lax.axis_index(a) for a in axes])
    failed = jnp.asarray(failed, jnp.bool_)
    if _check_p is None:
        checkify.debug_check(jnp.logical_not(failed), _Message(message, axes), **values)
        return
    _check_p.bind(failed, *values.values(), message=_Message(message, axes), names=tuple(values))


def _stage(
    failed: jax.Array,
    message: Callable[..., str],
    payload: Callable[[], dict[str, jax.Array]],
) -> None:
    """:func:`_require` for checks on the caller's arrays: a concrete failure only raises
    under :func:`jaxloss.checked` (an eager ``grad`` makes the check of an input concrete;
    unchecked, a bad value is a number, not an error)."""
    if isinstance(failed, jax.core.Tracer) or _CHECKING.get():
        _require(failed, message, payload)


def _wanted(*xs: Any) -> bool:
    """Whether a value check on ``xs`` runs: always on traced values (free unless the
    program is checkified), on concrete ones only under :func:`jaxloss.checked`."""
    return _CHECKING.get() or any(isinstance(x, jax.core.Tracer) for x in xs)


def failed_check_message(error: checkify.Error) -> str | None:
    """The message of the first failed check in a concrete checkify ``error`` (reduced by
    :func:`_first_failures`), or None."""
    exc: Any = error.get_exception()
    if exc is None:
        return None
    fmt = getattr(exc, "fmt_string", None)  # a FailedCheckError: its message without the
    if fmt is None:  # " (`check` failed)" that checkify appends
        return str(exc)
    return str(fmt.format(*exc.args, **exc.kwargs))


def _raise_from_callback(treedef: Any, failed: np.ndarray, leaves: list[np.ndarray]) -> None:
    # Under vmap the cond becomes a select and the callback runs for every element.
    if not bool(np.asarray(failed)):
        return
    message = failed_check_message(jax.tree.unflatten(treedef, leaves))
    if message is not None:
        raise CheckError(message)


def _first_failures(error: checkify.Error) -> checkify.Error:
    """``error`` with each kind of check reduced to its first failure.

    A ``shard_map``, ``pmap`` or ``vmap`` inside the checkified function gives each check
    a leading (shard or batch) axis; this keeps the first failing entry of each, on the
    device (a host callback fed the sharded error would make XLA gather it onto one device
    with a warning). checkify.Error keeps its checks in ``_pred``/``_code``/``_payload``
    (no public API reads a traced error).
    """
    if all(np.ndim(p) == 0 for p in error._pred.values()):
        return error
    preds, codes, payloads = {}, {}, {}
    for effect, pred in error._pred.items():
        lead = np.ndim(pred)
        first = jnp.argmax(jnp.reshape(pred, -1))

        def pick(v: Any, lead: int = lead, first: jax.Array = first) -> jax.Array:
            v = jnp.asarray(v)
            return v.reshape((-1, *v.shape[lead:]))[first]

        preds[effect] = jnp.any(pred)
        codes[effect] = pick(error._code[effect])
        payloads[effect] = jax.tree.map(pick, error._payload[effect])
    return error._replace(_pred=preds, _code=codes, _payload=payloads)


def raise_failed_checks(error: checkify.Error) -> None:
    """Raises ``error`` (from ``checkify.checkify``) as :class:`CheckError` if a check failed.

    Concrete: at once. Traced: ``lax.cond(failed, <host callback that raises>, <nothing>)``,
    so a passing check costs one ``or`` of the checks' predicates. Inside
    ``shard_map``/``pmap`` the shards first agree on the failure (a ``psum``), and every
    shard raises the error of the first failing one: a shard that raised alone would leave
    the others waiting in the loss's (or the train step's) next collective, and XLA aborts
    the process after a rendezvous timeout.
    """
    error = _first_failures(error)
    leaves, treedef = jax.tree.flatten(error)
    if not any(isinstance(v, jax.core.Tracer) for v in leaves):
        message = failed_check_message(error)
        if message is not None:
            raise CheckError(message)
        return
    # checkify.Error keeps each kind of check's "failed" flag in `_pred` (no public reader
    # for traced errors).
    preds = jax.tree.leaves(error._pred)
    if not preds:
        return
    failed = functools.reduce(jnp.logical_or, [jnp.any(p) for p in preds])
    report = functools.partial(_raise_from_callback, treedef)
    axes = _manual_axes()
    if not axes:
        jax.lax.cond(failed, lambda: jax.debug.callback(report, failed, leaves), lambda: None)
        return

    local_failed = failed
    failed = jax.lax.psum(local_failed.astype(jnp.int32), axes) > 0

    def report_sharded() -> None:
        # Every shard takes this branch together, so collectives are safe here.
        rank = jax.lax.axis_index(axes)
        first = jax.lax.pmin(jnp.where(local_failed, rank, jnp.iinfo(jnp.int32).max), axes)
        mine = rank == first

        def pick(v: jax.Array) -> jax.Array:
            v = jnp.asarray(v)
            w = v.astype(jnp.int32) if v.dtype == jnp.bool_ else v
            return jax.lax.psum(jnp.where(mine, w, jnp.zeros_like(w)), axes).astype(v.dtype)

        jax.debug.callback(report, failed, [pick(v) for v in leaves])

    jax.lax.cond(failed, report_sharded, lambda: None)


def _first_failure(x: jax.Array, bad: jax.Array) -> dict[str, jax.Array]:
    """The first (row-major) offending value of ``x`` and its flat index.

    Reductions only (no reshape of ``x``, no gather): the payload is staged in every traced
    call, and an array sharded over an explicit mesh axis takes neither a flat reshape nor a
    dynamic slice of one element.
    """
    sharding = getattr(jax.typeof(x), "sharding", None)
    spec = getattr(sharding, "spec", None)
    explicit = spec is not None and any(s is not None for s in spec)
    out_sharding = sharding if explicit else None
    index = jnp.zeros(x.shape, jnp.int32, out_sharding=out_sharding)
    stride = 1
    for d in reversed(range(x.ndim)):
        iota = jax.lax.broadcasted_iota(jnp.int32, x.shape, d, out_sharding=out_sharding)
        index = index + stride * iota
        stride *= x.shape[d]
    bad = jnp.broadcast_to(bad, x.shape)
    flat = jnp.min(jnp.where(bad, index, jnp.iinfo(jnp.int32).max))
    values = x.astype(jnp.int32) if x.dtype == jnp.bool_ else x
    value = jnp.sum(jnp.where(index == flat, values, jnp.zeros_like(values)))
    return {"value": value, "flat_index": flat}


def _index(flat_index: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def _fmt(value: ArrayLike) -> str:
    """``7`` for an int, ``0.7`` for a float32 0.7 (NumPy's shortest round-trip repr)."""
    return str(np.asarray(value)[()])


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
        message += (
            f" The arguments look swapped: call {fn}({name}, targets). The {dtype} array of "
            f"shape {tuple(x.shape)} looks like {kind} and the {targets_given} array of shape "
            f"{tuple(np.shape(targets))} like the {name}."
        )
        if class_axis is None:
            message += f" If the {name} really are integers, cast them with "
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


def ignored(targets: jax.Array, ignore_index: int) -> jax.Array:
    """``targets == ignore_index`` compared as integers: an ``ignore_index`` outside the
    range of the labels' dtype matches no label. (A plain ``==`` casts ``-100`` to a uint8
    label's dtype, where it wraps to 156, so the label 156 would be silently dropped instead
    of being out of range.)"""
    info = jnp.iinfo(targets.dtype)
    if not info.min <= int(ignore_index) <= info.max:
        return jnp.zeros_like(targets, dtype=bool)
    return targets == ignore_index


def _check_traced(
    fn: str, name: str, value: Any, bad: Callable[[jax.Array], jax.Array], requirement: str
) -> None:
    """A traced hyperparameter (``vmap`` over it, an argument of ``jit``): a value check
    (:func:`_require`) with the message of the concrete check, naming the first offending
    value."""
    if not isinstance(value, jax.core.Tracer):
        return
    v = jnp.asarray(value)

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        del flat_index, shard
        shown = _fmt(value) if jnp.issubdtype(value.dtype, jnp.floating) else float(value)
        return f"{fn}: `{name}` must be {requirement}, got {shown}."

    failed = bad(v)
    _stage(jnp.any(failed), message, lambda: _first_failure(v, failed))


def check_unit_interval(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must lie in [0, 1]: a ValueError while tracing when concrete,
    a value check (:func:`_require`) when traced."""
    v = concrete_float(value)
    if v is not None and not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: `{name}` must be in [0, 1], got {v}.")
    _check_traced(fn, name, value, lambda x: ~((x >= 0) & (x <= 1)), "in [0, 1]")


def check_nonnegative(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must be >= 0: a ValueError while tracing when concrete, a value
    check (:func:`_require`) when traced."""
    v = concrete_float(value)
    if v is not None and not v >= 0.0:
        raise ValueError(f"{fn}: `{name}` must be >= 0, got {v}.")
    _check_traced(fn, name, value, lambda x: ~(x >= 0), ">= 0")


def check_positive(fn: str, name: str, value: Any) -> None:
    """A hyperparameter that must be > 0 (a scale, a temperature): a ValueError while
    tracing when concrete, a value check (:func:`_require`) when traced."""
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


_SINGLE_CLASS_FIX = {
    "focal_loss": "use jaxloss.sigmoid_focal_loss with one logit per element",
    "dice_loss": 'pass activation="sigmoid"',
    "tversky_loss": 'pass activation="sigmoid"',
    "generalized_dice_loss": 'pass activation="sigmoid"',
    "dice_focal_loss": 'pass activation="sigmoid"',
    "lovasz_softmax_loss": "use jaxloss.lovasz_hinge_loss on the single logit per pixel",
    "dice_cross_entropy_loss": (
        'combine jaxloss.dice_loss(..., activation="sigmoid") with '
        "jaxloss.binary_cross_entropy_with_logits"
    ),
    "linear_cross_entropy": (
        "use jaxloss.binary_cross_entropy_with_logits on the single logit, hidden @ weight[0] "
        "(a (1, D) weight)"
    ),
}


def check_softmax_classes(fn: str, name: str, shape: Sequence[int], axis: int) -> None:
    """A softmax over a class axis of size 1 is identically 1: the loss carries no signal;
    over size 0 it is undefined (NaN)."""
    shape = tuple(shape)
    if shape[axis] == 0:
        raise ValueError(
            f"{fn}: `{name}` has no classes along axis {axis} (shape {shape}); give it one "
            "entry per class."
        )
    if shape[axis] != 1:
        return
    fix = _SINGLE_CLASS_FIX.get(
        fn, "use jaxloss.binary_cross_entropy_with_logits with one logit per element"
    )
    raise ValueError(
        f"{fn}: `{name}` has a single class along axis {axis} (shape {shape}): a softmax over "
        "one class is always 1, so the loss is constant and its gradient 0. For binary "
        f"targets {fix}, or give `{name}` one entry per class (2 for binary)."
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
    ignore = "ignore_index" if ignore_index is None else f"ignore_index={ignore_index}"
    return (
        f"{fn}: target label {label} is out of range: labels must be in [0, {num_classes}) "
        f"or equal to {ignore}."
    )


def check_labels(
    fn: str,
    targets: jax.Array,
    in_range: jax.Array,
    num_classes: int,
    ignore_index: int | None = None,
) -> None:
    """Fails (:func:`_require`) with the first offending label and the valid range.

    ``in_range`` is True for every label that is fine (in range, ignored or masked). Traced
    labels are always checked (free unless checkified); concrete ones under
    :func:`jaxloss.checked` only.
    """
    if targets.size == 0 or not _wanted(targets, in_range):
        return

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        del flat_index, shard  # the label is the whole story
        return label_message(fn, _fmt(value), num_classes, ignore_index)

    bad = ~in_range
    _stage(jnp.any(bad), message, lambda: _first_failure(targets, bad))


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
    """Every value of ``x`` must lie in ``[low, high]`` (a value check, :func:`_require`).

    The generic value check of every loss: values the caller's arrays can hold but the
    loss cannot make sense of (probabilities where log-probabilities are expected, a mask
    outside [0, 1], ...). Only elements where ``where`` (broadcast to ``x``) is True are
    checked; NaN passes (it is not a range error). Fails with
    ``"{fn}: `{name}` must be {expected}, got {value} at index {index}.{hint}"`` naming the
    first offending element. Traced values are always checked (free unless checkified);
    concrete ones under :func:`jaxloss.checked` only.
    """
    if x.size == 0 or not _wanted(x, where):
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
        at = f"index {_index(flat_index, shape)}"
        if shard is not None:
            at += f" of the shard at {shard}"
        return f"{fn}: `{name}` must be {expected}, got {_fmt(value)} at {at}.{hint}"

    _stage(jnp.any(bad), message, lambda: _first_failure(x, bad))


def _along_axis(mask: jax.Array | None, axis: int) -> jax.Array | None:
    return None if mask is None else jnp.expand_dims(mask, axis)


def check_log_probs(
    fn: str,
    log_probs: jax.Array,
    targets: jax.Array,
    ignore_index: int,
    mask: jax.Array | None,
    axis: int,
) -> None:
    """``nll_loss``: kept rows of ``log_probs`` must be <= 0 (a value check, as
    :func:`check_values`).

    Probabilities (or logits) passed as log-probabilities are positive; a few ulps above 0
    from rounding are let through.
    """
    if not _wanted(log_probs, targets, mask):
        return
    keep = ~ignored(targets, ignore_index)
    if mask is not None:
        keep = keep & mask
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
                f"{fn}: `{name}` must be {bound} for every class, got {_fmt(values[c])} for "
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
    """Fails (:func:`_require`) naming the first element of ``x`` where ``bad`` is True.

    The message is check_values's: ``"{fn}: `{name}` must be {expected}, got {value} at
    index {index}.{hint}"``. The caller decides whether it runs: CTC checks concrete
    (host) values always, with NumPy arrays, and traced ones under :func:`jaxloss.checked`.
    """
    if x.size == 0:
        return

    shape = tuple(x.shape)  # the message keeps the shape, not the (traced) array

    def message(value: np.ndarray, flat_index: np.ndarray, shard: str | None = None) -> str:
        at = f"index {_index(flat_index, shape)}"
        if shard is not None:
            at += f" of the shard at {shard}"
        return f"{fn}: `{name}` must be {expected}, got {_fmt(value)} at {at}.{hint}"

    if isinstance(bad, (np.ndarray, np.generic)):
        # Host values are checked with NumPy: no device op (and none staged inside jit).
        def host_failure() -> dict[str, np.ndarray]:
            flat = np.argmax(np.reshape(bad, -1))
            return {"value": np.reshape(x, -1)[flat], "flat_index": flat}

        _require(np.any(bad), message, host_failure)
        return
    _require(jnp.any(bad), message, lambda: _first_failure(x, bad))
