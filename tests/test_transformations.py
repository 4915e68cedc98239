"""The transformation matrix: every public name x every JAX transformation (issue 9).

``REGISTRY`` holds one or more small cases per name in ``jaxloss.__all__`` (a test fails when
a new export has none, so nothing can be exported untested). Each case is a callable with a
representative option set, inputs (float64 where values are compared), the float64 NumPy
reference of ``tests/reference.py`` on the same arguments, and which arguments are
differentiable data, numeric (traceable) hyperparameters and float targets. A
transformation that does not apply to a case is listed in its ``not_applicable`` with the
reason; ``test_registry_declares_every_inapplicable_transformation`` checks that everything
the case's arguments rule out (no float input, no hyperparameter, no float target) is
listed there, so nothing is skipped silently.

Transformations: jit, vmap (over a batch of inputs, and over all hyperparameters at once,
against a loop over the reference), grad (against finite differences of the reference), jvp
(along a random direction, against finite differences), hessian (``jax.hessian``, i.e.
``jax.jacfwd(jax.jacrev(f))``: finite, symmetric, = finite differences of ``jax.grad``),
checkpoint, eval_shape, jax.export round trip (serialised with its VJP), grad and jvp with
respect to the numeric hyperparameters and to the float targets, and float16/bfloat16/float32
inputs (float64 inputs are the jit and grad columns). shard_map and pmap are in
``tests/test_sharding.py``.

``jax.jacfwd``, ``jax.jacrev`` and ``jax.linearize`` have no column of their own, because the
columns above imply them: jacfwd is ``vmap`` of ``jvp`` and jacrev ``vmap`` of ``vjp``, and
the hessian column runs both (jacfwd over jacrev, and ``vmap`` of ``jax.grad``); a ``jvp``
that matches finite differences along a random direction is, being linear, the whole Jacobian
(almost surely), and every custom derivative in jaxloss is a ``custom_jvp``, whose VJP is
JAX's transpose of that linear map. ``jax.linearize`` and ``jax.vjp`` (so ``jax.grad``) build
the same linearization (``ad.linearize`` in JAX's ``api.py``), which the grad column checks
transposed and the jvp column evaluates forward. (They were columns until 2026-12: 28% of the
slow columns' compile time, for no check the others do not make.)

``python -m pytest`` runs jit, vmap, grad, jvp, eval_shape and the hyperparameter and target
derivatives of every case; the four costlier columns (hessian, checkpoint, export, dtypes)
and the large-input jvp are marked slow and run with ``--run-slow``, as in CI.

Cases marked ``blocked`` lower the CPU row-blocked thresholds of ``jaxloss._logsumexp`` (as
``tests/test_fast_paths.py`` does) so that the large-input fast path runs on a tiny input;
``test_jvp_above_the_blocked_threshold`` runs forward mode on a real large input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import BLOCKED_SHAPE, DIFFERENTIATING, ERROR_CHECKS, REGISTRY, TRANSFORMATIONS, Case
from helpers import fd_grad

import jaxloss
from jaxloss import _logsumexp

# float64 tolerances: values against the reference, and finite differences (step FD_H).
VALUE_RTOL, VALUE_ATOL = 1e-9, 1e-11
FD_H = 1e-5
FD_RTOL, FD_ATOL = 1e-6, 1e-7


@pytest.fixture(autouse=True)
def _x64():
    """float64 for the whole module (the reference comparisons need it)."""
    with jax.enable_x64(True):
        yield


def _implied_not_applicable(case: Case) -> set[str]:
    """The transformations that cannot apply, from the case's arguments alone."""
    out = set()
    if not case.data:
        out.update(DIFFERENTIATING)
    if not case.hyper:
        out.add("grad_hyper")
    if case.target is None:
        out.add("grad_target")
    return out


def test_every_public_name_has_a_registry_entry():
    names = {case.name for case in REGISTRY.values()}
    missing = set(jaxloss.__all__) - names
    assert not missing, f"exported but not in the transformation matrix: {sorted(missing)}"
    assert names <= set(jaxloss.__all__), names - set(jaxloss.__all__)


def test_registry_declares_every_inapplicable_transformation():
    for key, case in REGISTRY.items():
        args = case.make(np.random.default_rng(0))
        kinds = [*case.data, *case.hyper, *([case.target] if case.target else [])]
        assert len(kinds) == len(set(kinds)), key
        assert set(kinds) <= set(args), (key, set(kinds) - set(args))
        for name, value in args.items():
            if name not in kinds:  # everything else must be integer
                assert np.issubdtype(np.asarray(value).dtype, np.integer), (key, name)
        assert set(case.not_applicable) <= set(TRANSFORMATIONS) | set(ERROR_CHECKS), key
        assert all(isinstance(r, str) and r for r in case.not_applicable.values()), key
        implied = _implied_not_applicable(case)
        undeclared = implied - set(case.not_applicable)
        assert not undeclared, f"{key}: inapplicable but not listed with a reason: {undeclared}"


def _params(transformation):
    return [
        pytest.param(key, id=key)
        for key, case in REGISTRY.items()
        if transformation not in case.not_applicable
    ]


# =============================================================================================
# Helpers
# =============================================================================================


@pytest.fixture
def prepared(monkeypatch):
    """Returns ``prepared(key) -> (case, args)``; blocked cases lower the CPU thresholds."""

    def run(key, seed=0):
        case = REGISTRY[key]
        if case.blocked:
            monkeypatch.setattr(_logsumexp, "BLOCKED_MIN_ELEMENTS", 64)
            monkeypatch.setattr(_logsumexp, "BLOCK_ELEMENTS", 4 * BLOCKED_SHAPE[1])
            assert _logsumexp.use_fused(jnp.zeros(BLOCKED_SHAPE), -1), "not the blocked path"
        return case, case.make(np.random.default_rng(seed))

    return run


def _of(f: Callable, args: dict, names: tuple[str, ...], to_jnp: bool = True) -> Callable:
    """``f`` as a function of the arguments ``names`` (positional), the others fixed."""
    fixed = {k: (jnp.asarray(v) if to_jnp else v) for k, v in args.items() if k not in names}

    def g(*values):
        return f(**fixed, **dict(zip(names, values, strict=True)))

    return g


def _total(f: Callable) -> Callable:
    """The sum of ``f``'s output (a scalar function for grad/hessian)."""
    return lambda *a: jnp.sum(f(*a))


def _ref_total(f: Callable) -> Callable:
    return lambda *a: float(np.sum(f(*a)))


def _jnp(args: dict, names) -> list:
    return [jnp.asarray(args[n]) for n in names]


def _assert_value(got, want, msg=""):
    got = np.asarray(got)
    assert got.dtype == np.float64 or np.issubdtype(got.dtype, np.integer), (got.dtype, msg)
    np.testing.assert_allclose(got, want, rtol=VALUE_RTOL, atol=VALUE_ATOL, err_msg=msg)


def _assert_fd(got, want, msg=""):
    got = np.asarray(got)
    assert np.all(np.isfinite(got)), msg
    np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL, err_msg=msg)


def _fd_direction(f, primals, tangents, h=FD_H):
    """Central difference of a float64 function along ``tangents``."""
    plus = f(*[p + h * t for p, t in zip(primals, tangents, strict=True)])
    minus = f(*[p - h * t for p, t in zip(primals, tangents, strict=True)])
    return (np.asarray(plus, np.float64) - np.asarray(minus, np.float64)) / (2 * h)


def _directions(arrays, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(a)) for a in arrays]


def _fd_each(f_ref, args, names):
    """Finite-difference gradient of the reference's total w.r.t. each of ``names``."""
    values = [np.asarray(args[n], np.float64) for n in names]
    out = []
    for i in range(len(names)):

        def h(v, i=i):
            return f_ref(*values[:i], v, *values[i + 1 :])

        out.append(fd_grad(h, values[i], h=FD_H))
    return out


INTEGER_TARGET_CASES = [
    key for key, case in REGISTRY.items()
    if any(np.issubdtype(np.asarray(v).dtype, np.integer)
           for v in case.make(np.random.default_rng(0)).values())
]


# =============================================================================================
# The matrix. Compiling, not running, is what it costs, so each case's columns are traced into
# one program: the quick columns (jit, vmap, grad, jvp, the hyperparameter and target
# derivatives, int32 targets) in one, the slow ones (hessian, checkpoint, dtypes) in another,
# compiled by the first test of the case that needs it (xdist runs the file on one worker), with
# only the columns whose tests this session runs. Each test still checks its
# own column. If the merged program fails to trace or compile, every column compiles alone, so a
# failure names its column.
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of one case: ``program(inputs)`` is what jit compiles (merged with the case's
    other columns), ``check(outputs)`` its assertions against the reference."""

    program: Callable[[Any], Any]
    inputs: Any
    check: Callable[[Any], None]


def _jit_column(case, args):
    return Column(
        lambda a: case.fn(**a), {k: jnp.asarray(v) for k, v in args.items()},
        lambda out: _assert_value(out, case.ref(**args), "jit"),
    )


def _vmap_column(case, _args):
    """vmap over a batch of 3 inputs (everything but the hyperparameters), and over all the
    hyperparameters at once with the inputs fixed; each element against a loop over the
    float64 reference."""
    batch = [case.make(np.random.default_rng(seed)) for seed in range(3)]
    args = batch[0]
    mapped = tuple(n for n in args if n not in case.hyper)
    scales = np.array([0.5, 0.75, 1.0])
    hyper_batch = [
        jnp.asarray(scales.reshape((3,) + (1,) * np.ndim(args[n])) * args[n]) for n in case.hyper
    ]

    def program(inputs):
        stacked, hypers = inputs
        over_inputs = jax.vmap(_of(case.fn, args, mapped))(*stacked)
        over_hypers = jax.vmap(_of(case.fn, args, case.hyper))(*hypers) if hypers else None
        return over_inputs, over_hypers

    def check(out):
        over_inputs, over_hypers = out
        for i, b in enumerate(batch):
            _assert_value(over_inputs[i], case.ref(**b), f"batch element {i}")
        for i in range(3 if case.hyper else 0):
            values = {n: np.asarray(v[i]) for n, v in zip(case.hyper, hyper_batch, strict=True)}
            _assert_value(over_hypers[i], case.ref(**{**args, **values}), f"hyper element {i}")

    stacked = [jnp.stack([jnp.asarray(b[n]) for b in batch]) for n in mapped]
    return Column(program, (stacked, hyper_batch), check)


def _grad_column(case, args):
    g = _total(_of(case.fn, args, case.data))
    f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))

    def check(out):
        value, grads = out
        _assert_value(value, f_ref(*[args[n] for n in case.data]))
        for name, got, want in zip(case.data, grads, _fd_each(f_ref, args, case.data),
                                   strict=True):
            assert got.dtype == jnp.float64, name
            _assert_fd(got, want, f"d/d{name}")

    return Column(
        lambda p: jax.value_and_grad(g, argnums=tuple(range(len(case.data))))(*p),
        _jnp(args, case.data), check,
    )


def _jvp_column(case, args):
    primals = _jnp(args, case.data)
    tangents = _directions(primals)
    g = _of(case.fn, args, case.data)
    f_ref = _of(case.ref, args, case.data, to_jnp=False)

    def check(out):
        out, tangent_out = out
        _assert_value(out, f_ref(*[args[n] for n in case.data]))
        want = _fd_direction(f_ref, [np.asarray(p) for p in primals], tangents)
        _assert_fd(tangent_out, want, "jvp tangent vs finite differences of the reference")

    return Column(lambda pt: jax.jvp(g, *pt), (primals, [jnp.asarray(t) for t in tangents]),
                  check)


def _hessian_column(case, args):
    """The Hessian w.r.t. the first data argument: finite, symmetric, = FD of jax.grad."""
    name = case.data[0]
    g = _total(_of(case.fn, args, (name,)))
    x = np.asarray(args[name], np.float64)
    h = 1e-5
    steps = (h * np.eye(x.size)).reshape((x.size,) + x.shape)

    def program(inputs):
        x, steps = inputs
        return jax.hessian(g)(x), jax.vmap(lambda s: jax.grad(g)(x + s))(steps)

    def check(out):
        hess, grads = out
        hess = np.asarray(hess)
        assert hess.shape == x.shape + x.shape
        assert np.all(np.isfinite(hess))
        flat = hess.reshape(x.size, x.size)
        np.testing.assert_allclose(flat, flat.T, rtol=1e-8, atol=1e-10, err_msg="not symmetric")
        plus, minus = np.split(np.asarray(grads).reshape(2 * x.size, x.size), 2)
        want = ((plus - minus) / (2 * h)).T
        np.testing.assert_allclose(flat, want, rtol=1e-6, atol=1e-7, err_msg="vs FD of jax.grad")

    return Column(program, (jnp.asarray(x), jnp.asarray(np.concatenate([steps, -steps]))),
                  check)


def _checkpoint_column(case, args):
    """jax.checkpoint (rematerialisation): value and gradient against the reference."""
    want = case.ref(**args)
    if not case.data:
        return Column(lambda a: jax.checkpoint(case.fn)(**a),
                      {k: jnp.asarray(v) for k, v in args.items()},
                      lambda out: _assert_value(out, want))
    g = _total(_of(case.fn, args, case.data))
    argnums = tuple(range(len(case.data)))

    def check(out):
        value, grads = out
        _assert_value(value, np.sum(want))
        f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))
        for name, got, fd in zip(case.data, grads, _fd_each(f_ref, args, case.data),
                                 strict=True):
            _assert_fd(got, fd, f"checkpointed d/d{name}")

    return Column(lambda p: jax.value_and_grad(jax.checkpoint(g), argnums=argnums)(*p),
                  _jnp(args, case.data), check)


def _grad_and_jvp_column(case, args, names):
    """grad and jvp w.r.t. ``names`` against finite differences of the reference."""
    g = _of(case.fn, args, names)
    primals = _jnp(args, names)
    tangents = _directions(primals, seed=3)

    def program(pt):
        p, t = pt
        return jax.grad(_total(g), argnums=tuple(range(len(names))))(*p), jax.jvp(g, p, t)[1]

    def check(out):
        grads, tangent_out = out
        f_ref = _of(case.ref, args, names, to_jnp=False)
        for name, got, want in zip(names, grads, _fd_each(_ref_total(f_ref), args, names),
                                   strict=True):
            _assert_fd(got, want, f"grad d/d{name}")
        want = _fd_direction(f_ref, [np.asarray(p) for p in primals], tangents)
        _assert_fd(tangent_out, want, f"jvp along {names}")

    return Column(program, (primals, [jnp.asarray(t) for t in tangents]), check)


def _int32_column(case, args):
    """int32 labels (what most data pipelines give) with float64 inputs under x64."""
    args32 = {
        k: v.astype(np.int32) if np.issubdtype(np.asarray(v).dtype, np.integer) else v
        for k, v in args.items()
    }
    return Column(lambda a: case.fn(**a), {k: jnp.asarray(v) for k, v in args32.items()},
                  lambda out: _assert_value(out, case.ref(**args)))


# input dtype: (loss dtype, tolerance against the reference at rounded inputs). float64 inputs
# are the jit column (a float64 loss at 1e-9 of the reference) and the grad column (float64
# gradients at finite-difference tolerance): the same arguments and program as a float64 row
# here, with tighter tolerances.
DTYPES = {
    jnp.float16: (np.float32, 1e-2),
    jnp.bfloat16: (np.float32, 4e-2),
    jnp.float32: (np.float32, 1e-4),
}


def _dtype_column(case, args):
    """float16/bfloat16/float32 inputs compute in float32 and give a float32 loss. Values and
    gradients are finite and match the reference evaluated at the rounded inputs (so only the
    compute precision counts); gradients have the input's dtype. (float64: the jit and grad
    columns.)
    """
    casts, roundeds = [], []
    for in_dtype in DTYPES:
        hyper_dtype = jnp.float32
        cast = {}
        for name, value in args.items():
            if name in case.hyper:
                cast[name] = jnp.asarray(value, hyper_dtype)
            elif name in case.data or name == case.target:
                cast[name] = jnp.asarray(value, in_dtype)
            else:
                cast[name] = jnp.asarray(value)
        casts.append(cast)
        roundeds.append({
            k: np.asarray(v.astype(jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v)
            for k, v in cast.items()
        })

    def program(casts):
        out = []
        for cast in casts:
            g = _of(case.fn, cast, case.data, to_jnp=False)
            primals = [cast[n] for n in case.data]
            out.append((g(*primals),
                        jax.grad(_total(g), argnums=tuple(range(len(primals))))(*primals)))
        return out

    def check(results):
        for (in_dtype, (out_dtype, tol)), (value, grads), rounded in zip(
            DTYPES.items(), results, roundeds, strict=True
        ):
            label = jnp.dtype(in_dtype).name
            assert value.dtype == out_dtype, (label, value.dtype)
            assert np.all(np.isfinite(value)), label
            want = case.ref(**rounded)
            np.testing.assert_allclose(np.asarray(value, np.float64), want, rtol=tol,
                                       atol=tol * max(1.0, float(np.max(np.abs(want)))),
                                       err_msg=f"{label} value")
            f_ref = _ref_total(_of(case.ref, rounded, case.data, to_jnp=False))
            fds = _fd_each(f_ref, rounded, case.data)
            for name, got, fd in zip(case.data, grads, fds, strict=True):
                assert got.dtype == in_dtype, (label, name, got.dtype)
                got = np.asarray(got.astype(jnp.float64))
                assert np.all(np.isfinite(got)), (label, name)
                np.testing.assert_allclose(got, fd, rtol=tol,
                                           atol=tol * max(1.0, np.max(np.abs(fd))),
                                           err_msg=f"{label} d/d{name}")

    return Column(program, casts, check)


COLUMNS: dict[str, Callable[[Case, dict], Column]] = {
    "jit": _jit_column,
    "vmap": _vmap_column,
    "grad": _grad_column,
    "jvp": _jvp_column,
    "grad_hyper": lambda case, args: _grad_and_jvp_column(case, args, case.hyper),
    "grad_target": lambda case, args: _grad_and_jvp_column(case, args, (case.target,)),
    "int32": _int32_column,
    "hessian": _hessian_column,
    "checkpoint": _checkpoint_column,
    "dtype": _dtype_column,
}
# The compiled programs and their columns: "quick" runs in `python -m pytest`, "slow" with
# --run-slow. (eval_shape compiles nothing; export serialises a program of its own.)
PROGRAMS = {
    "quick": ("jit", "vmap", "grad", "jvp", "grad_hyper", "grad_target", "int32"),
    "slow": ("hessian", "checkpoint", "dtype"),
}
# (case, program) -> the program's applicable columns and their outputs, made by the first test
# of the case that needs them (the others check their column against the same outputs).
_MERGED: dict[tuple[str, str], tuple[dict[str, Column], dict[str, Any]]] = {}


def _applies(key: str, column: str) -> bool:
    if column == "int32":
        return key in INTEGER_TARGET_CASES
    return column not in REGISTRY[key].not_applicable


def _merged(key: str, program: str, case: Case, args: dict, selected: set[tuple[str, str]]):
    """Every applicable column of ``program`` for the case whose test is ``selected`` in this
    session, and their outputs compiled and run as one program; no outputs if that fails (the
    tests then compile their columns one by one)."""
    if (key, program) not in _MERGED:
        columns = {
            c: COLUMNS[c](case, args)
            for c in PROGRAMS[program]
            if _applies(key, c) and (key, c) in selected
        }
        try:
            outputs = jax.device_get(
                jax.jit(lambda inputs: {c: col.program(inputs[c]) for c, col in columns.items()})(
                    {c: col.inputs for c, col in columns.items()}
                )
            )
        except Exception:  # noqa: BLE001 - reported by each column's own compile
            outputs = {}
        _MERGED[(key, program)] = columns, outputs
    return _MERGED[(key, program)]


# The column each test checks (the tests of _run_column).
TEST_COLUMN = {
    "test_jit": "jit",
    "test_vmap": "vmap",
    "test_grad": "grad",
    "test_jvp": "jvp",
    "test_grad_and_jvp_wrt_hyperparameters": "grad_hyper",
    "test_grad_and_jvp_wrt_float_targets": "grad_target",
    "test_int32_targets_under_x64": "int32",
    "test_hessian": "hessian",
    "test_checkpoint": "checkpoint",
    "test_dtypes": "dtype",
}


@pytest.fixture(scope="session")
def selected(request) -> set[tuple[str, str]]:
    """The (case, column) pairs whose test this session runs: a merged program compiles only
    those (``-k``, a skipped slow test or tests/test_compiler_flags.py's subset compile no
    column that no test checks)."""
    out = set()
    for item in request.session.items:
        column = TEST_COLUMN.get(getattr(item, "originalname", ""))
        if column and item.module.__name__ == __name__ and not item.get_closest_marker("skip"):
            out.add((item.callspec.params["key"], column))
    return out


def _run_column(key: str, column: str, prepared, selected) -> None:
    case, args = prepared(key)  # also lowers the blocked cases' thresholds for this test
    program = next(p for p, columns in PROGRAMS.items() if column in columns)
    assert (key, column) in selected, (key, column)
    columns, outputs = _merged(key, program, case, args, selected)
    col = columns[column]
    if column in outputs:
        col.check(outputs[column])
    else:
        col.check(jax.device_get(jax.jit(col.program)(col.inputs)))


@pytest.mark.parametrize("key", _params("jit"))
def test_jit(key, prepared, selected):
    _run_column(key, "jit", prepared, selected)


@pytest.mark.parametrize("key", _params("vmap"))
def test_vmap(key, prepared, selected):
    _run_column(key, "vmap", prepared, selected)


@pytest.mark.parametrize("key", _params("grad"))
def test_grad(key, prepared, selected):
    _run_column(key, "grad", prepared, selected)


@pytest.mark.parametrize("key", _params("jvp"))
def test_jvp(key, prepared, selected):
    _run_column(key, "jvp", prepared, selected)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("hessian"))
def test_hessian(key, prepared, selected):
    _run_column(key, "hessian", prepared, selected)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("checkpoint"))
def test_checkpoint(key, prepared, selected):
    _run_column(key, "checkpoint", prepared, selected)


@pytest.mark.parametrize("key", _params("eval_shape"))
def test_eval_shape(key, prepared):
    case, args = prepared(key)
    shape = jax.eval_shape(case.fn, **args)
    want = np.asarray(case.ref(**args))
    assert shape.shape == want.shape
    expected = np.int32 if np.issubdtype(want.dtype, np.integer) else np.float64
    assert shape.dtype == expected, shape.dtype


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("export"))
def test_export_round_trip(key, prepared):
    """jax.export of the jitted call, serialised with its VJP, deserialised, called, and
    differentiated; values against the reference, gradients against its finite differences."""
    case, args = prepared(key)
    names = tuple(args)
    g = _of(case.fn, args, names)
    values = _jnp(args, names)
    exported = jax.export.export(jax.jit(g))(*values)
    restored = jax.export.deserialize(exported.serialize(vjp_order=1 if case.data else 0))
    if not case.data:
        _assert_value(restored.call(*values), case.ref(**args))
        return
    argnums = tuple(names.index(n) for n in case.data)
    out, grads = jax.jit(
        lambda *v: (restored.call(*v), jax.grad(_total(restored.call), argnums=argnums)(*v))
    )(*values)
    _assert_value(out, case.ref(**args))
    f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))
    for name, got, want in zip(case.data, grads, _fd_each(f_ref, args, case.data), strict=True):
        _assert_fd(got, want, f"d/d{name} through the deserialised program")


@pytest.mark.parametrize("key", _params("grad_hyper"))
def test_grad_and_jvp_wrt_hyperparameters(key, prepared, selected):
    _run_column(key, "grad_hyper", prepared, selected)


@pytest.mark.parametrize("key", _params("grad_target"))
def test_grad_and_jvp_wrt_float_targets(key, prepared, selected):
    _run_column(key, "grad_target", prepared, selected)


def test_bce_target_gradient_is_pytorchs():
    """d/dy of BCE-with-logits is -x at every y, 0 and 1 included (PyTorch's autograd)."""
    x = jnp.array([1.3, -0.7, 2.0])
    y = jnp.array([0.0, 1.0, 0.0])
    got = jax.grad(lambda y: jaxloss.binary_cross_entropy_with_logits(x, y, reduction="sum"))(y)
    np.testing.assert_allclose(got, [-1.3, 0.7, -2.0], rtol=1e-12)


@pytest.mark.parametrize("key", INTEGER_TARGET_CASES)
def test_int32_targets_under_x64(key, prepared, selected):
    """int32 labels (what most data pipelines give) with float64 inputs under x64."""
    _run_column(key, "int32", prepared, selected)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("dtype"))
def test_dtypes(key, prepared, selected):
    """float16/bfloat16/float32 inputs compute in float32 and give a float32 loss, against the
    reference at the rounded inputs; gradients have the input's dtype."""
    _run_column(key, "dtype", prepared, selected)


# =============================================================================================
# Forward mode above the CPU row-blocked threshold (large and slow: two cases)
# =============================================================================================

NUM_CLASSES_LARGE = 1000


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"class_weights": True, "z_loss": 1e-3}, id="weights-zloss"),
        pytest.param({"class_weights": True, "label_smoothing": 0.1}, id="weights-smoothing"),
    ],
)
def test_jvp_above_the_blocked_threshold(options):
    """jvp of cross_entropy on >= BLOCKED_MIN_ELEMENTS float32 elements = <grad, tangent>."""
    rows = -(-_logsumexp.BLOCKED_MIN_ELEMENTS // NUM_CLASSES_LARGE) + 8
    shape = (rows, NUM_CLASSES_LARGE)
    assert rows * NUM_CLASSES_LARGE >= _logsumexp.BLOCKED_MIN_ELEMENTS
    k = jax.random.split(jax.random.key(0), 4)
    x = 2.0 * jax.random.normal(k[0], shape, jnp.float32)
    y = jax.random.randint(k[1], (rows,), 0, NUM_CLASSES_LARGE).at[::7].set(-100)
    w = jax.random.uniform(k[2], (NUM_CLASSES_LARGE,), jnp.float32) + 0.5
    t = jax.random.normal(k[3], shape, jnp.float32)
    opts = dict(options)
    if opts.pop("class_weights"):
        opts["class_weights"] = w

    def f(x):
        return jaxloss.cross_entropy(x, y, **opts)

    value, tangent = jax.jit(lambda x, t: jax.jvp(f, (x,), (t,)))(x, t)
    plain_value, grad = jax.jit(jax.value_and_grad(f))(x)
    assert value.dtype == jnp.float32 and tangent.dtype == jnp.float32
    np.testing.assert_allclose(value, plain_value, rtol=1e-6)
    want = np.vdot(np.asarray(grad, np.float64), np.asarray(t, np.float64))
    assert np.isfinite(float(tangent))
    np.testing.assert_allclose(float(tangent), want, rtol=1e-3, atol=1e-6)


def test_custom_derivatives_are_jvps():
    """The matrix has no jacrev column because every custom derivative in jaxloss is a
    ``custom_jvp``, whose VJP (for any cotangent, not only the all-ones of ``jax.grad`` of a
    sum) is JAX's transpose of the linear tangent map the jvp column checks. A
    ``custom_vjp`` hand-writes its VJP instead: give it a column that checks it with a
    non-uniform cotangent (``jax.jacrev``) before allowing it here."""
    package = Path(jaxloss.__file__).parent
    users = sorted(
        p.name for p in package.rglob("*.py") if "custom_vjp" in p.read_text(encoding="utf-8")
    )
    users = [u for u in users if u not in SCALAR_CUSTOM_VJPS]
    assert not users, f"custom_vjp in {users}: the transformation matrix needs a jacrev column"


# custom_vjps allowed: each maps to one scalar, so jax.grad's cotangent (any scalar) is every
# cotangent there is, and the file that names it checks that gradient.
SCALAR_CUSTOM_VJPS = {
    # siglip_loss's ring under axis_name (one partial sum per device): its gradients in the
    # features, scale and bias equal the unsharded loss's on 4 devices
    # (tests/test_contrastive.py); the matrix runs without axis_name, where there is none.
    "_contrastive.py",
}
