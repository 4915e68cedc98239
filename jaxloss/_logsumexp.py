"""Row statistics for softmax losses that stay fast for large inputs on XLA:CPU.

XLA:CPU (jax 0.10) emits ``logsumexp`` over a large (rows, C) array as two whole-array
passes whose second one (``sum(exp(x - max))``) slows down several-fold once the array
outgrows the caches: at (65536, 1000) float32 it is ~3x slower than the same two passes run
over blocks of ~1k rows, which stay in cache between the max and the sum.

:func:`lse_and_pick` returns the per-row logsumexp and the target's logit. On CPU, for
large arrays, it walks over row blocks in the forward pass and has a ``custom_jvp`` whose
tangent map is linear and rematerialised (``jax.checkpoint``), so that reverse mode, the
transpose of that map, is one fused elementwise pass, ``g_lse * exp(x - lse) + g_pick *
onehot(y)``, with only the per-row ``lse`` kept from the forward pass (no (rows, C)
residual). Being a JVP rule, it serves every transformation: ``jax.grad``, ``jax.jvp``,
``jax.jacfwd``, ``jax.hessian``, ``vmap`` and ``shard_map``. Small arrays keep
``jax.nn.logsumexp`` (autodiff reuses the forward's ``exp`` there, which is faster when
everything fits in cache), and other platforms keep the plain formulation (GPU/TPU fuse it
well; a sequential loop over blocks would only serialise kernels there).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

# Arrays with at least this many elements take the blocked path on CPU (64 MiB of f32).
BLOCKED_MIN_ELEMENTS = 1 << 24
# Target elements per row block (4 MiB of f32: a block stays in L2/L3 between its passes).
BLOCK_ELEMENTS = 1 << 20


def _axis_is_sharded(x: jax.Array, axis: int) -> bool:
    """Whether ``axis`` of ``x`` is split over an explicit mesh axis (visible in its type)."""
    spec = getattr(getattr(jax.typeof(x), "sharding", None), "spec", None)
    return spec is not None and len(spec) > axis and spec[axis] is not None


def pick(x: jax.Array, index: jax.Array, axis: int) -> jax.Array:
    """``x`` at ``index`` along ``axis`` (``index`` has x's shape without that axis).

    A gather, except when ``axis`` is split over an explicit mesh axis under plain ``jit``:
    JAX cannot partition a gather along a sharded axis there, so it becomes a masked sum
    over the axis (one read of ``x``; the partial sums are all-reduced).
    """
    axis = axis % x.ndim
    if _axis_is_sharded(x, axis):
        sharding = jax.typeof(x).sharding
        classes = jax.lax.broadcasted_iota(index.dtype, x.shape, axis, out_sharding=sharding)
        dims = tuple(d for d in range(x.ndim) if d != axis)
        wanted = jax.lax.broadcast_in_dim(index, x.shape, dims, out_sharding=sharding)
        return jnp.sum(jnp.where(classes == wanted, x, jnp.zeros_like(x)), axis=axis)
    return jnp.take_along_axis(x, jnp.expand_dims(index, axis), axis=axis).squeeze(axis)


def take_classes(w: jax.Array, index: jax.Array) -> jax.Array:
    """``w[index]`` for a per-class vector ``w``: the result is sharded like ``index`` (under
    explicit mesh axes JAX asks for that to be said)."""
    if any(_axis_is_sharded(index, d) for d in range(index.ndim)):
        return w.at[index].get(out_sharding=jax.typeof(index).sharding)
    return jnp.take(w, index)


def _plain_rows(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-row ``logsumexp`` (-inf for a row of -inf) and picked logit ``x[i, y[i]]``."""
    m = jax.lax.stop_gradient(jnp.max(x, axis=-1))
    m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
    lse = jnp.log(jnp.sum(jnp.exp(x - m[:, None]), axis=-1)) + m
    return lse, pick(x, y, -1)


def _blocked_rows(x: jax.Array, y: jax.Array, block_rows: int) -> tuple[jax.Array, jax.Array]:
    """:func:`_plain_rows` computed over blocks of ``block_rows`` rows.

    The last block is shifted back to end at the last row (it overlaps the previous one and
    rewrites identical values), so any row count >= ``block_rows`` works without padding.
    """
    rows = x.shape[0]
    if rows <= block_rows:
        return _plain_rows(x, y)
    num_blocks = -(-rows // block_rows)

    def body(i, carry):
        start = jnp.minimum(i * block_rows, rows - block_rows)
        xb = jax.lax.dynamic_slice_in_dim(x, start, block_rows, axis=0)
        yb = jax.lax.dynamic_slice_in_dim(y, start, block_rows, axis=0)
        return tuple(
            jax.lax.dynamic_update_slice_in_dim(c, v, start, axis=0)
            for c, v in zip(carry, _plain_rows(xb, yb), strict=True)
        )

    # zeros_like keeps the rows' varying mesh axes inside shard_map (a carry must match).
    zero = jnp.zeros_like(x[:, 0])
    init = (zero, zero)
    return jax.lax.fori_loop(0, num_blocks, body, init)


def _block_rows(num_classes: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, num_classes))


def _rows_fwd_stats(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-row logsumexp and picked logit, row-blocked when the array is large."""
    block_rows = _block_rows(x.shape[-1])
    if x.size >= BLOCKED_MIN_ELEMENTS and x.shape[0] > block_rows:
        return _blocked_rows(x, y, block_rows)
    return _plain_rows(x, y)


@jax.custom_jvp
def _lse_and_pick_rows(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    return _rows_fwd_stats(x, y)


def softmax_rows(x: jax.Array, lse: jax.Array) -> jax.Array:
    """``exp(x - lse)`` per row; a row of ``-inf`` (``lse = -inf``) gives 0, not NaN."""
    shift = jnp.where(jnp.isfinite(lse), lse, jnp.zeros_like(lse))
    return jnp.exp(x - shift[:, None])


def onehot_rows(y: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """``onehot(y)`` of a (rows, C) shape as a 0/1 float array (an iota compare: it fuses)."""
    return (jax.lax.broadcasted_iota(y.dtype, shape, 1) == y[:, None]).astype(dtype)


@jax.checkpoint
def _lse_and_pick_tangent(x, y, lse, dx):
    """The tangents ``(sum_c softmax_c dx_c, dx[y])`` of :func:`_lse_and_pick_rows`.

    Linear in ``dx``. ``jax.checkpoint`` makes reverse mode keep only ``x`` and ``lse`` as
    residuals and recompute ``softmax`` in the backward pass, whose transpose is then the one
    fused elementwise pass ``g_lse * softmax + g_pick * onehot(y)``: no (rows, C) array is
    stored between the passes. The pick is a masked sum rather than a gather so that its
    transpose is elementwise too, not a scatter.
    """
    p = softmax_rows(x, lse)
    return jnp.sum(p * dx, axis=-1), jnp.sum(onehot_rows(y, x.shape, dx.dtype) * dx, axis=-1)


@_lse_and_pick_rows.defjvp
def _lse_and_pick_jvp(primals, tangents):
    x, y = primals
    dx, _ = tangents
    lse, picked = _rows_fwd_stats(x, y)
    return (lse, picked), _lse_and_pick_tangent(x, y, lse, dx)


def use_fused(x: jax.Array, axis: int) -> bool:
    """Whether :func:`lse_and_pick` pays off for ``x`` with classes on ``axis`` (static)."""
    if axis % x.ndim != x.ndim - 1 or x.size < BLOCKED_MIN_ELEMENTS:
        return False
    if any(_axis_is_sharded(x, d) for d in range(x.ndim)):
        return False  # explicit shardings: the plain formulation partitions, the loop may not
    return x.size // x.shape[-1] > _block_rows(x.shape[-1])


def lse_and_pick(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(logsumexp(x, -1), take_along_axis(x, y, -1))`` with a one-pass backward.

    ``y`` must already be a valid index (callers mask first and pass a safe index). The
    class axis is the last one; leading axes are flattened (free for a row-major array).
    On CPU this is the row-blocked custom-VJP version; on other platforms the plain
    formulation, differentiated by JAX (XLA:GPU/TPU fuse it well; a loop over row blocks
    would only serialise kernels there).
    """
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    y2 = y.reshape(-1).astype(jnp.int32)
    lse, picked = jax.lax.platform_dependent(
        x2, y2, cpu=_lse_and_pick_rows, default=_plain_rows
    )
    return lse.reshape(lead), picked.reshape(lead)


# ---------------------------------------------------------------------------------------------
# Row sums of elementwise functions with a rematerialised tangent
# ---------------------------------------------------------------------------------------------


def row_sum(f, axis: int, *args: jax.Array, row_coefficients: bool = True) -> jax.Array:
    """``sum(f(*args), axis)`` for an elementwise ``f`` whose arguments broadcast to one shape
    (the logits', with per-row statistics kept as size-1 ``axis``, per-class vectors
    reshaped along ``axis``, scalars).

    A custom JVP whose tangent, ``sum(jvp(f), axis)``, is rematerialised (``jax.checkpoint``):
    reverse mode keeps only ``args`` and recomputes ``f``'s derivatives in one fused
    elementwise pass, ``g * df/darg``, so no intermediate of ``f`` is stored between the
    passes, whatever ``f`` is (autodiff of a focal or smoothed term kept several logits-sized
    arrays alive). A per-row argument (the logsumexp) enters the tangent through its
    coefficient ``sum_c df/da``, summed in the forward pass together with the value (one
    reduction with several outputs), so reverse mode has no reduction over the classes
    (``row_coefficients=False`` leaves it to the backward pass, for an ``f`` too large to
    fuse twice). ``f`` may use ``where``: the reduction has several outputs, which XLA:CPU
    fuses into one loop (it hands a plain sum to YNNPACK, which materialises a select's
    input). Every transformation sees a JVP rule: ``jax.grad``, ``jax.jvp``,
    ``jax.jacfwd``, ``jax.hessian`` (the tangent is ordinary JAX code), ``vmap``,
    ``jax.checkpoint`` and ``shard_map``. ``f`` is a static argument (a module-level function
    or a ``functools.partial`` of one).
    """
    return (_row_sum if row_coefficients else _row_sum_no_coefficients)(f, axis, *args)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _row_sum(f, axis, *args):
    return _row_sums_primal((f,), axis, *args)[0]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _row_sum_no_coefficients(f, axis, *args):
    return _row_sums_primal((f,), axis, *args)[0]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _row_sums(fs, axis, *args):
    """The row sums of several elementwise functions in one pass (differentiable)."""
    return _row_sums_primal(fs, axis, *args)


def _row_sums_primal(fs, axis, *args):
    vs = [f(*args) for f in fs]
    v = vs[0]
    if any(_axis_is_sharded(v, d) for d in range(v.ndim)):
        return tuple(jnp.sum(u, axis=axis) for u in vs)  # explicit shardings: partitioned
    # XLA:CPU hands a plain sum to YNNPACK, which cannot fuse a select (``where``) and so
    # materialises its input, a logits-sized buffer; a reduction with several outputs stays
    # one fused loop. With one function, the second output is the count of NaN terms
    # (0 * count is 0), which keeps it two-output.
    zero = jnp.zeros((), v.dtype)
    if len(vs) == 1:
        vs.append(jnp.isnan(v).astype(v.dtype))
    sums = jax.lax.reduce(
        tuple(vs), (zero,) * len(vs),
        lambda a, b: tuple(p + q for p, q in zip(a, b, strict=True)), (axis % v.ndim,),
    )
    if len(fs) == 1:
        return (sums[0] + zero * sums[1],)
    return tuple(sums)


def _row_sums_jvp(fs, axis, primals, tangents):
    outs = _row_sums_primal(fs, axis, *primals)
    return outs, tuple(_row_sum_jvp(f, axis, primals, tangents)[1] for f in fs)


_row_sums.defjvp(_row_sums_jvp, symbolic_zeros=True)


def _substituted(f, args, live, *vals):
    full = list(args)
    for i, v in zip(live, vals, strict=True):
        full[i] = v
    return f(*full)


@functools.partial(jax.checkpoint, static_argnums=(0, 1, 2))
def _row_sum_tangent(f, axis, live, args, dargs):
    """``sum(jvp(f), axis)`` in the arguments ``live`` (the others are constants)."""
    g = functools.partial(_substituted, f, args, live)
    _, dout = jax.jvp(g, tuple(args[i] for i in live), tuple(dargs))
    return jnp.sum(dout, axis=axis)


def _partial(f, i, *args):
    """``df/d(args[i])`` elementwise (a JVP with a unit tangent)."""
    g = functools.partial(_substituted, f, args, (i,))
    return jax.jvp(g, (args[i],), (jnp.ones_like(args[i]),))[1]


def _row_sum_jvp(f, axis, primals, tangents, coefficients=True):
    live = [
        i for i, t in enumerate(tangents)
        if not isinstance(t, SymbolicZero) and jnp.issubdtype(primals[i].dtype, jnp.inexact)
    ]
    # A per-row argument (size 1 along ``axis``, e.g. the logsumexp) enters the tangent as
    # ``sum_c df/da * da``: its coefficient is a row sum of the primals, computed in the
    # forward pass with the value (one pass), so that reverse mode needs no reduction over
    # the classes (XLA:CPU would materialise the input of one in the backward pass, beside
    # the gradient).
    ndim = primals[0].ndim if primals else 0
    rows = [
        i for i in live
        if coefficients and primals[i].ndim == ndim and ndim and primals[i].shape[axis] == 1
    ]
    partials = tuple(functools.partial(_partial, f, i) for i in rows)
    if partials:
        out, *coefficients_ = _row_sums((f, *partials), axis, *primals)
    else:
        out, coefficients_ = _row_sums_primal((f,), axis, *primals)[0], []
    tangent = jnp.zeros_like(out)
    for i, k in zip(rows, coefficients_, strict=True):
        tangent = tangent + k * jnp.squeeze(tangents[i], axis)
    rest = tuple(i for i in live if i not in rows)
    if rest:
        dargs = tuple(tangents[i] for i in rest)
        tangent = tangent + _row_sum_tangent(f, axis, rest, tuple(primals), dargs)
    return out, tangent


_row_sum.defjvp(_row_sum_jvp, symbolic_zeros=True)
_row_sum_no_coefficients.defjvp(
    functools.partial(_row_sum_jvp, coefficients=False), symbolic_zeros=True
)


@jax.custom_jvp
def guard_rows(x: jax.Array, keep: jax.Array) -> jax.Array:
    """``x`` itself, whose tangent is 0 where ``keep`` (broadcast to ``x``) is False.

    Dropped rows (ignored, masked) may hold ``-inf`` padding or an ``inf``: their statistics
    are NaN or infinite, and the loss selects them away, but a zero cotangent times a NaN
    partial derivative is NaN. The guard zeroes those rows' tangents (reverse mode: their
    gradient) with one select on the way out, fused into the gradient's elementwise pass;
    unlike replacing the logits (``where(keep, x, 0)`` before the math), no masked copy of
    the logits feeds the forward reductions.
    """
    return x


@guard_rows.defjvp
def _guard_rows_jvp(primals, tangents):
    x, keep = primals
    dx, _ = tangents
    return x, jnp.where(keep, dx, jnp.zeros_like(dx))


# ---------------------------------------------------------------------------------------------
# Row sums of a function of the log-probabilities with a closed-form derivative
# ---------------------------------------------------------------------------------------------


def logsumexp(x: jax.Array, axis: int, scale: jax.Array | None = None) -> jax.Array:
    """``jax.nn.logsumexp(scale * x, axis)`` (``scale``: an optional scalar) whose tangent
    ``sum(softmax * d(scale * x))`` is rematerialised: reverse mode recomputes ``softmax`` in
    the backward pass (fused with the other terms of the gradient) instead of storing
    ``exp(x - max)``, a logits-sized array.

    With a ``scale``, on CPU, with the class axis last and more rows than a block, the
    forward pass runs over row blocks, each scaled there: XLA:CPU hands the sum of ``exp(x -
    max)`` to YNNPACK, which materialises its input, a logits-sized buffer, and the scaled
    ``x`` would be one more (without a scale the one buffer becomes the gradient's, as in
    :func:`jaxloss.cross_entropy`, and the whole-array passes are faster).
    """
    if scale is None:
        return _logsumexp(axis, x, jnp.ones((), x.dtype), False)
    return _logsumexp(axis, x, scale, True)


def _logsumexp_primal(axis, x, scale, blocked):
    if blocked and _use_blocked_sums(x, axis, ()):
        return jax.lax.platform_dependent(
            x, scale, cpu=_blocked_logsumexp,
            default=lambda x, scale: jax.nn.logsumexp(scale * x, axis=axis),
        )
    return jax.nn.logsumexp(scale * x, axis=axis)


def _blocked_logsumexp(x: jax.Array, scale: jax.Array) -> jax.Array:
    """``logsumexp(scale * x, -1)`` over blocks of rows (see :func:`_blocked_log_prob_sums`)."""
    lead, num_classes = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, num_classes)
    rows, block = x2.shape[0], _sum_block_rows(num_classes)

    def body(i, carry):
        start = jnp.minimum(i * block, rows - block)
        xb = scale * jax.lax.dynamic_slice_in_dim(x2, start, block, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(
            carry, jax.nn.logsumexp(xb, axis=-1), start, axis=0
        )

    out = jax.lax.fori_loop(0, -(-rows // block), body, jnp.zeros_like(x2[:, 0]))
    return out.reshape(lead)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 3))
def _logsumexp(axis, x, scale, blocked):
    return _logsumexp_primal(axis, x, scale, blocked)


@functools.partial(jax.checkpoint, static_argnums=(0,))
def _logsumexp_tangent(axis, x, scale, lse, dx, dscale):
    """``sum(softmax(scale * x) * (scale * dx + x * dscale))`` (``None``: a zero tangent)."""
    lse_b = jnp.expand_dims(lse, axis)
    shift = jnp.where(jnp.isfinite(lse_b), lse_b, jnp.zeros_like(lse_b))
    p = jnp.exp(scale * x - shift)
    out = jnp.zeros_like(lse)
    if dx is not None:
        out = out + jnp.sum(p * dx, axis=axis) * scale
    if dscale is not None:  # p * x is 0 where p is (a -inf logit: no 0 * inf)
        out = out + jnp.sum(jnp.where(p == 0, 0.0, p * x), axis=axis) * dscale
    return out


def _logsumexp_jvp(axis, blocked, primals, tangents):
    x, scale = primals
    dx, dscale = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    lse = _logsumexp(axis, x, scale, blocked)
    if dx is None and dscale is None:
        return lse, jnp.zeros_like(lse)
    return lse, _logsumexp_tangent(axis, x, scale, lse, dx, dscale)


_logsumexp.defjvp(_logsumexp_jvp, symbolic_zeros=True)


def log_prob_sum(fd, axis: int, x: jax.Array, lse: jax.Array, *args: jax.Array) -> jax.Array:
    """``sum(f(x - lse, *args), axis)`` for an elementwise ``f`` of the log-probabilities
    ``l = x - lse`` given with its derivative: ``fd(l, *args) -> (f, df/dl)``.

    ``lse`` is the per-row logsumexp kept as a size-1 ``axis`` (its tangent comes from the
    caller's logsumexp, :func:`logsumexp`); ``args`` broadcast to ``x``'s shape (probability
    targets, per-row statistics kept as size-1 ``axis``, per-class vectors reshaped along
    ``axis``, scalars). A custom JVP: the tangent in ``x`` is ``sum(df/dl * dx)``, in ``lse``
    ``-sum(df/dl) * dlse``, with ``sum(df/dl)`` computed in the forward pass together with
    the value, and in ``args`` the JVP of ``f`` with ``l`` held fixed (autodiff: targets and
    hyperparameters only, skipped when their tangents are symbolic zeros). The tangents in
    ``x`` and ``args`` are rematerialised (``jax.checkpoint``), so reverse mode keeps no
    (rows, C) residual and writes the gradient in one elementwise pass, ``g * df/dl`` beside
    the logsumexp's ``g_lse * softmax``, that evaluates only ``fd``'s closed-form ``df/dl``
    (autodiff of a focal term's factor costs several times the term, :func:`row_sum`
    evaluates it twice). The rule is ordinary JAX code, so ``jax.hessian``, ``jax.jvp``,
    ``vmap`` and ``shard_map`` work; ``fd`` must be differentiable to the order needed, is
    static (a module-level function or a ``functools.partial`` of one) and must give
    ``df/dl = 0`` wherever its value does not depend on ``l`` (``l = -inf``).

    On CPU, with the class axis last, the two forward sums run over blocks of rows
    (:func:`_blocked_log_prob_sums`): a reduction with two outputs over the whole array is a
    scalar loop on XLA:CPU (about 5 ns per ``exp``, against under 1 ns in a vectorised
    elementwise pass), and a plain ``sum`` of a function with a ``where`` materialises it.
    """
    return _log_prob_sum(fd, axis, x, lse, *args)


def _plain_log_prob_sums(fd, axis, x, lse, *args):
    """The row sums of ``f`` and ``df/dl`` in one pass over the whole array."""
    v, d = fd(x - lse, *args)
    if any(_axis_is_sharded(v, a) for a in range(v.ndim)):
        return jnp.sum(v, axis=axis), jnp.sum(d, axis=axis)  # explicit shardings: partitioned
    return _sum_pair(v, d, axis % v.ndim)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _sum_pair(v, d, axis):
    """``(sum(v, axis), sum(d, axis))`` as one reduction with two outputs: one fused loop
    (XLA:CPU hands a plain sum to YNNPACK, which cannot fuse a select and would
    materialise its input, a logits-sized buffer). Its JVP is the two sums of the tangents
    (JAX's rule for a reduction with several outputs fails on a symbolic-zero tangent)."""
    zero = jnp.zeros((), v.dtype)
    return jax.lax.reduce((v, d), (zero, zero), lambda a, b: (a[0] + b[0], a[1] + b[1]), (axis,))


@_sum_pair.defjvp
def _sum_pair_jvp(axis, primals, tangents):
    dv, dd = tangents
    return _sum_pair(*primals, axis), (jnp.sum(dv, axis=axis), jnp.sum(dd, axis=axis))


def _sum_block_rows(num_classes: int) -> int:
    # A quarter of the logsumexp's blocks (1 MiB of f32 by default): the block and the
    # per-class intermediates computed on it stay in L2 between the elementwise pass and
    # the two sums.
    return max(1, (BLOCK_ELEMENTS // 4) // max(1, num_classes))


def _blocked_args(x, args):
    """``args`` as seen by a block of rows of ``x`` flattened to (rows, C): a full-shape or
    per-row argument (size 1 along the class axis) is sliced with the rows (True), the others
    (per-class vectors along the last axis, scalars) are broadcast (False); None when an
    argument fits none of these."""
    out = []
    for a in args:
        if a.shape == x.shape:
            out.append((a.reshape(-1, x.shape[-1]), True))
        elif a.shape == x.shape[:-1] + (1,):
            out.append((a.reshape(-1, 1), True))
        elif a.ndim == 0:
            out.append((a, False))
        elif a.ndim == x.ndim and all(d == 1 for d in a.shape[:-1]):
            out.append((a.reshape(1, a.shape[-1]), False))
        else:
            return None
    return out


def _use_blocked_sums(x, axis, args) -> bool:
    """Whether the forward sums run over row blocks (static): the class axis last, more
    rows than one block, no explicit sharding, arguments that are full-shape, per-class or
    scalar."""
    if x.ndim == 0 or axis % x.ndim != x.ndim - 1:
        return False
    if any(_axis_is_sharded(a, d) for a in (x, *args) for d in range(a.ndim)):
        return False
    rows = x.size // max(1, x.shape[-1])
    return rows > _sum_block_rows(x.shape[-1]) and _blocked_args(x, args) is not None


def _blocked_log_prob_sums(fd, x, lse, *args):
    """:func:`_plain_log_prob_sums` over blocks of rows (class axis last).

    XLA:CPU emits a reduction with two outputs as a scalar loop, which evaluates ``f``'s
    transcendental functions one element at a time (the focal term: ~4x the time of the
    same arithmetic as an elementwise pass). Over a block, ``f`` and ``df/dl`` are one
    vectorised elementwise pass into block-sized buffers (in cache) and each sum is a
    vectorised reduction; no logits-sized buffer. The last block is shifted back to end at
    the last row (it rewrites identical values), so any row count works without padding.
    """
    lead, num_classes = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, num_classes)
    lse2 = lse.reshape(-1, 1)
    blocked = _blocked_args(x, args)
    assert blocked is not None
    rows, block = x2.shape[0], _sum_block_rows(num_classes)
    num_blocks = -(-rows // block)

    def body(i, carry):
        start = jnp.minimum(i * block, rows - block)

        def rows_of(a):
            return jax.lax.dynamic_slice_in_dim(a, start, block, axis=0)

        v, d = fd(
            rows_of(x2) - rows_of(lse2),
            *(rows_of(a) if sliced else a for a, sliced in blocked),
        )
        sums = (jnp.sum(v, axis=-1), jnp.sum(d, axis=-1))
        return tuple(
            jax.lax.dynamic_update_slice_in_dim(c, s, start, axis=0)
            for c, s in zip(carry, sums, strict=True)
        )

    zero = jnp.zeros_like(x2[:, 0])
    s, k = jax.lax.fori_loop(0, num_blocks, body, (zero, zero))
    return s.reshape(lead), k.reshape(lead)


def _log_prob_sums(fd, axis, x, lse, *args):
    """The row sums of ``f`` and ``df/dl`` (row-blocked on CPU where that applies)."""
    if _use_blocked_sums(x, axis, args):
        return jax.lax.platform_dependent(
            x, lse, *args,
            cpu=functools.partial(_blocked_log_prob_sums, fd),
            default=functools.partial(_plain_log_prob_sums, fd, axis),
        )
    return _plain_log_prob_sums(fd, axis, x, lse, *args)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _log_prob_sum(fd, axis, x, lse, *args):
    return _log_prob_sums(fd, axis, x, lse, *args)[0]


@functools.partial(jax.checkpoint, static_argnums=(0, 1))
def _log_prob_tangent(fd, axis, x, lse, args, dx):
    """``sum(df/dl * dx, axis)``: linear in ``dx``, ``df/dl`` recomputed in reverse mode."""
    return jnp.sum(fd(x - lse, *args)[1] * dx, axis=axis)


def _fd_value(fd, logp, args, live, *vals):
    return fd(logp, *_with(args, live, vals))[0]


def _with(args, live, vals):
    full = list(args)
    for i, v in zip(live, vals, strict=True):
        full[i] = v
    return full


@functools.partial(jax.checkpoint, static_argnums=(0, 1, 2))
def _log_prob_args_tangent(fd, axis, live, x, lse, args, dargs):
    """``sum(jvp(f in args[live]), axis)`` at fixed log-probabilities."""
    g = functools.partial(_fd_value, fd, x - lse, args, live)
    _, dout = jax.jvp(g, tuple(args[i] for i in live), tuple(dargs))
    return jnp.sum(dout, axis=axis)


def _log_prob_sum_jvp(fd, axis, primals, tangents):
    x, lse, *args = primals
    dx, dlse, *dargs = tangents
    out, coefficient = _log_prob_sums(fd, axis, *primals)
    tangent = jnp.zeros_like(out)
    if not isinstance(dx, SymbolicZero):
        tangent = tangent + _log_prob_tangent(fd, axis, x, lse, tuple(args), dx)
    if not isinstance(dlse, SymbolicZero):
        tangent = tangent - coefficient * jnp.squeeze(dlse, axis)
    live = tuple(
        i for i, d in enumerate(dargs)
        if not isinstance(d, SymbolicZero) and jnp.issubdtype(args[i].dtype, jnp.inexact)
    )
    if live:
        darg = tuple(dargs[i] for i in live)
        tangent = tangent + _log_prob_args_tangent(fd, axis, live, x, lse, tuple(args), darg)
    return out, tangent


_log_prob_sum.defjvp(_log_prob_sum_jvp, symbolic_zeros=True)

