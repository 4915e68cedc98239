"""The value-check runtime: how a check on traced data fails, and how it is raised.

The checks themselves (what is checked, and each message) live in ``_checks.py``; this
module is the one mechanism they go through, :func:`require`:

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

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


def require(
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


def stage(
    failed: jax.Array,
    message: Callable[..., str],
    payload: Callable[[], dict[str, jax.Array]],
) -> None:
    """:func:`require` for checks on the caller's arrays: a concrete failure only raises
    under :func:`jaxloss.checked` (an eager ``grad`` makes the check of an input concrete;
    unchecked, a bad value is a number, not an error)."""
    if isinstance(failed, jax.core.Tracer) or _CHECKING.get():
        require(failed, message, payload)


def wanted(*xs: Any) -> bool:
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


def first_failure(x: jax.Array, bad: jax.Array) -> dict[str, jax.Array]:
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


def unravel(flat_index: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def fmt(value: ArrayLike) -> str:
    """``7`` for an int, ``0.7`` for a float32 0.7 (NumPy's shortest round-trip repr)."""
    return str(np.asarray(value)[()])
