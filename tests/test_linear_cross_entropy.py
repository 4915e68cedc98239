"""linear_cross_entropy: parity with cross_entropy of the materialised logits (values and
gradients), every option and layout, aux outputs, micro-batch accumulation, memory, errors."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, D, V = 13, 8, 37
# (token_chunk_size, chunk_size): dividing, non-dividing, one block, clipped to N / V.
CHUNKS = [(4, 5), (13, 16), (6, 37), (64, 64)]
OPTIONS = [
    {},
    {"class_weights": True, "label_smoothing": 0.2, "z_loss": 1e-3},
    {"class_weights": True, "reduction": "sum", "bias": True},
    {"label_smoothing": 0.1, "z_loss": 1e-2, "reduction": "none", "softcap": 2.5},
    {"weights": True, "where": True, "bias": True, "softcap": 4.0, "class_weights": True},
]


def _data(seed=0):
    k = jax.random.split(jax.random.key(seed), 7)
    h = jax.random.normal(k[0], (N, D))
    w = jax.random.normal(k[1], (V, D))
    y = jax.random.randint(k[2], (N,), 0, V).at[3].set(-100).at[7].set(-100)
    cw = jax.random.uniform(k[3], (V,)) + 0.5
    b = jax.random.normal(k[4], (V,))
    v = jax.random.uniform(k[5], (N,)) * 2.0
    m = jax.random.uniform(k[6], (N,)) > 0.3
    return h, w, y, cw, b, v, m


def _logits(h, w, b, softcap, layout="vd"):
    x = h @ (w.T if layout == "vd" else w)
    if b is not None:
        x = x + b[None, :]
    return x if softcap is None else softcap * jnp.tanh(x / softcap)


def _naive(h, w, y, *, bias=None, softcap=None, weights=None, reduction="mean", layout="vd",
           **kw):
    """cross_entropy of the materialised logits, with per-token weights applied by hand."""
    x = _logits(h, w, bias, softcap, layout)
    if weights is None:
        return jaxloss.cross_entropy(x, y, reduction=reduction, **kw)
    per = weights * jaxloss.cross_entropy(x, y, reduction="none", **kw)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    # "mean": the denominator is the cross_entropy one (kept tokens' class weights).
    keep = (y != -100) if y.dtype.kind == "i" else jnp.ones(y.shape[:1], bool)
    if kw.get("where") is not None:
        keep = keep & kw["where"]
    cw = kw.get("class_weights")
    if y.dtype.kind == "i" and cw is not None:
        den = jnp.sum(jnp.where(keep, cw[jnp.where(keep, y, 0)], 0.0))
    else:
        den = jnp.sum(keep)
    return per.sum() / den


def _kwargs(opts, cw, b, v, m):
    out = dict(opts)
    for key, value in (("class_weights", cw), ("bias", b), ("weights", v), ("where", m)):
        if out.pop(key, False):
            out[key] = value
    return out


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize(("token_chunk", "chunk"), CHUNKS)
def test_parity_values_and_gradients(opts, token_chunk, chunk):
    h, w, y, cw, b, v, m = _data()
    kw = _kwargs(opts, cw, b, v, m)

    def fused(h, w, kw):
        return jaxloss.linear_cross_entropy(
            h, w, y, chunk_size=chunk, token_chunk_size=token_chunk, **kw
        ).sum()

    def naive(h, w, kw):
        return _naive(h, w, y, **kw).sum()

    diff = {k: val for k, val in kw.items() if k in ("class_weights", "bias", "weights")}
    static = {k: val for k, val in kw.items() if k not in diff}

    def split(f):
        return jax.jit(jax.value_and_grad(lambda h, w, d: f(h, w, {**static, **d}),
                                          argnums=(0, 1, 2)))

    v1, g1 = split(fused)(h, w, diff)
    v2, g2 = split(naive)(h, w, diff)
    np.testing.assert_allclose(v1, v2, rtol=2e-5, atol=2e-5)
    for a, b_ in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b_, rtol=2e-4, atol=2e-5)


@pytest.mark.slow  # 10-30 s of compilation on 2 cores; --run-slow runs it
def test_dv_layout_equals_vd():
    h, w, y, cw, b, *_ = _data(1)
    kw = {"class_weights": cw, "bias": b, "label_smoothing": 0.1}
    a = jax.jit(jax.value_and_grad(lambda h, w: jaxloss.linear_cross_entropy(h, w, y, **kw),
                                   argnums=(0, 1)))(h, w)
    wt = w.T
    c = jax.jit(jax.value_and_grad(
        lambda h, wt: jaxloss.linear_cross_entropy(h, wt, y, weight_layout="dv", chunk_size=7,
                                                   **kw), argnums=(0, 1)))(h, wt)
    np.testing.assert_allclose(a[0], c[0], rtol=2e-6)
    np.testing.assert_allclose(a[1][0], c[1][0], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(a[1][1], c[1][1].T, rtol=2e-5, atol=2e-6)


@pytest.mark.slow  # 10-30 s of compilation on 2 cores; --run-slow runs it
def test_probability_targets_match_cross_entropy():
    h, w, y, cw, b, v, m = _data(2)
    q = jax.nn.softmax(jax.random.normal(jax.random.key(9), (N, V)) * 2.0)
    kw = {"class_weights": cw, "label_smoothing": 0.1, "z_loss": 1e-3, "where": m}
    for reduction in ("mean", "sum", "none"):
        # Compiled: eagerly, these six value-and-gradients ran op by op (12 s of CPU).
        a, ga = jax.jit(jax.value_and_grad(
            lambda h, q, r=reduction: jaxloss.linear_cross_entropy(
                h, w, q, chunk_size=6, token_chunk_size=5, reduction=r, **kw).sum(),
            argnums=(0, 1)))(h, q)
        bb, gb = jax.jit(jax.value_and_grad(
            lambda h, q, r=reduction: jaxloss.cross_entropy(h @ w.T, q, reduction=r, **kw).sum(),
            argnums=(0, 1)))(h, q)
        np.testing.assert_allclose(a, bb, rtol=2e-5, atol=2e-6)
        for x, z in zip(ga, gb, strict=True):
            np.testing.assert_allclose(x, z, rtol=2e-4, atol=2e-6)


@pytest.mark.slow  # 10-30 s of compilation on 2 cores; --run-slow runs it
def test_softcap_is_traceable_and_differentiable():
    h, w, y, *_ = _data(3)

    def fused(c):
        return jaxloss.linear_cross_entropy(h, w, y, softcap=c, chunk_size=5)

    def naive(c):
        return _naive(h, w, y, softcap=c)

    np.testing.assert_allclose(jax.jit(jax.grad(fused))(3.0), jax.grad(naive)(3.0), rtol=1e-4)
    caps = jnp.array([1.0, 2.0, 30.0])
    np.testing.assert_allclose(jax.vmap(fused)(caps), jax.vmap(naive)(caps), rtol=2e-5)


def test_aux_outputs():
    h, w, y, cw, b, v, m = _data(4)
    loss, aux = jaxloss.linear_cross_entropy(
        h, w, y, bias=b, class_weights=cw, z_loss=1e-2, where=m, chunk_size=5,
        token_chunk_size=4, return_aux=True,
    )
    x = _logits(h, w, b, None)
    keep = m & (y != -100)
    np.testing.assert_allclose(aux["lse"], jax.nn.logsumexp(x, axis=-1), rtol=1e-5)
    np.testing.assert_array_equal(aux["argmax"], jnp.argmax(x, axis=-1))
    assert aux["argmax"].dtype == jnp.int32
    w_y = jnp.where(keep, cw[jnp.where(keep, y, 0)], 0.0)
    np.testing.assert_allclose(aux["denominator"], w_y, rtol=1e-6)
    np.testing.assert_allclose(
        aux["z_loss"], jnp.where(keep, 1e-2 * w_y * jax.nn.logsumexp(x, axis=-1) ** 2, 0.0),
        rtol=1e-5,
    )
    np.testing.assert_allclose(loss, _naive(h, w, y, bias=b, class_weights=cw, z_loss=1e-2,
                                            where=m), rtol=2e-5)


@pytest.mark.slow  # 10-30 s of compilation on 2 cores; --run-slow runs it
def test_micro_batches_accumulate_to_the_full_batch():
    """Sum of per-micro-batch sums over the sum of denominators is the full-batch mean
    (the normalisation transformers #35203 got wrong), gradients included."""
    h, w, y, cw, b, v, m = _data(5)
    kw = {"class_weights": cw, "weights": v, "label_smoothing": 0.1, "z_loss": 1e-3}

    def full(w):
        return jaxloss.linear_cross_entropy(h, w, y, **kw)

    def accumulated(w):
        total, denominator = 0.0, 0.0
        for part in (slice(0, 4), slice(4, 5), slice(5, N)):  # uneven micro-batches
            s, aux = jaxloss.linear_cross_entropy(
                h[part], w, y[part], reduction="sum", return_aux=True,
                **{**kw, "weights": v[part]},
            )
            total, denominator = total + s, denominator + aux["denominator"].sum()
        return total / denominator

    # Compiled: eagerly, the three micro-batches and their gradients ran op by op (12 s of CPU).
    got, got_grad = jax.jit(jax.value_and_grad(accumulated))(w)
    want, want_grad = jax.jit(jax.value_and_grad(full))(w)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-7)


def test_z_loss_strength_does_not_depend_on_the_scale_of_class_weights():
    h, w, y, cw, *_ = _data(6)
    a = jaxloss.linear_cross_entropy(h, w, y, class_weights=cw, z_loss=0.1)
    b = jaxloss.linear_cross_entropy(h, w, y, class_weights=10.0 * cw, z_loss=0.1)
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("shape", [(0, 4), (2, 0, 4)])
def test_no_tokens_is_zero_with_zero_gradients(shape):
    """Zero tokens: "mean" over nothing is 0, "none" is empty, the gradients are zeros of the
    inputs' shapes (the tiling found no tile size for 0 tokens)."""
    hidden, weight = np.zeros(shape, np.float32), np.ones((5, 4), np.float32)
    targets = np.zeros(shape[:-1], np.int32)
    assert jaxloss.linear_cross_entropy(hidden, weight, targets, reduction="none").shape == (
        shape[:-1]
    )
    value, (gh, gw) = jax.value_and_grad(
        lambda h, w: jaxloss.linear_cross_entropy(h, w, targets), argnums=(0, 1)
    )(hidden, weight)
    assert float(value) == 0.0 and gh.shape == shape
    np.testing.assert_array_equal(gw, np.zeros_like(weight))


def test_leading_axes_and_all_ignored():
    h, w, y, *_ = _data(7)
    a = jaxloss.linear_cross_entropy(h[:12].reshape(3, 4, D), w, y[:12].reshape(3, 4),
                                     chunk_size=7, token_chunk_size=5)
    b = jaxloss.cross_entropy((h[:12] @ w.T).reshape(3, 4, V), y[:12].reshape(3, 4))
    np.testing.assert_allclose(a, b, rtol=2e-5)
    ignored = jnp.full((N,), -100)
    loss, grads = jax.jit(jax.value_and_grad(
        lambda h, w: jaxloss.linear_cross_entropy(h, w, ignored), argnums=(0, 1)
    ))(h, w)
    assert loss == 0.0
    assert all(bool(jnp.all(g == 0)) for g in grads)


@pytest.mark.slow  # 10-30 s of compilation on 2 cores; --run-slow runs it
def test_float64_and_bf16():
    h, w, y, *_ = _data(8)
    with jax.enable_x64(True):
        h64, w64 = h.astype(jnp.float64), w.astype(jnp.float64)
        out = jaxloss.linear_cross_entropy(h64, w64, y, chunk_size=8)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, jaxloss.cross_entropy(h64 @ w64.T, y), rtol=1e-12)
    # bf16 inputs: logits and gradients accumulate in float32, so the loss equals the
    # float32 loss of the bf16-rounded inputs to float32 round-off, and the gradients to
    # bf16 rounding of the result (~3 significant digits).
    hb, wb = h.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    out = jaxloss.linear_cross_entropy(hb, wb, y, chunk_size=8)
    assert out.dtype == jnp.float32
    h32, w32 = hb.astype(jnp.float32), wb.astype(jnp.float32)
    np.testing.assert_allclose(out, jaxloss.cross_entropy(h32 @ w32.T, y), rtol=1e-5)
    gh, gw = jax.jit(jax.grad(lambda a, b: jaxloss.linear_cross_entropy(a, b, y, chunk_size=8),
                              argnums=(0, 1)))(hb, wb)
    assert gh.dtype == jnp.bfloat16 and gw.dtype == jnp.bfloat16
    rh, rw = jax.grad(lambda a, b: jaxloss.cross_entropy(a @ b.T, y), argnums=(0, 1))(h32, w32)
    np.testing.assert_allclose(gh.astype(jnp.float32), rh, rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(gw.astype(jnp.float32), rw, rtol=1e-2, atol=1e-3)


def test_out_of_range_target_is_nan_under_jit_and_an_error_when_concrete():
    h, w, y, *_ = _data(9)
    loss = jax.jit(functools.partial(jaxloss.linear_cross_entropy, reduction="none"))
    out = loss(h, w, y.at[0].set(V))
    assert bool(jnp.isnan(out[0])) and bool(jnp.all(jnp.isfinite(out[1:])))
    with pytest.raises(ValueError, match=f"linear_cross_entropy: target label {V} is out of"):
        jaxloss.linear_cross_entropy(h, w, y.at[0].set(V), reduction="none")


def _temp_bytes(n, d, v, layout="vd", **kw):
    shape = (v, d) if layout == "vd" else (d, v)
    args = (
        jax.ShapeDtypeStruct((n, d), jnp.float32),
        jax.ShapeDtypeStruct(shape, jnp.float32),
        jax.ShapeDtypeStruct((n,), jnp.int32),
    )

    def fused(h, w, y):
        return jaxloss.linear_cross_entropy(h, w, y, weight_layout=layout, **kw)

    compiled = jax.jit(jax.value_and_grad(fused, argnums=(0, 1))).lower(*args).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("no memory analysis on this backend")
    return analysis.temp_size_in_bytes


def test_compiled_memory_is_tiles_not_logits():
    n, d, v = 2048, 64, 8192
    kw = {"chunk_size": 512, "token_chunk_size": 256, "label_smoothing": 0.1}
    logits_bytes = n * v * 4
    small = _temp_bytes(n, d, v, **kw)
    assert small < logits_bytes / 32
    # Independent of V (no (N, V) array) and the same for both layouts (no transposed copy).
    assert _temp_bytes(n, d, 4 * v, **kw) <= small + 4 * n * 8
    assert _temp_bytes(n, d, v, layout="dv", **kw) <= small + 4 * n * 8


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"reduction": "avg"}, ValueError, "`reduction` must be one of"),
        ({"chunk_size": 0}, ValueError, "`chunk_size` must be a Python int >= 1, got 0."),
        ({"token_chunk_size": 2.0}, ValueError,
         "`token_chunk_size` must be a Python int >= 1, got 2.0."),
        ({"label_smoothing": 1.5}, ValueError, "`label_smoothing` must be in [0, 1], got 1.5."),
        ({"z_loss": -1.0}, ValueError, "`z_loss` must be >= 0, got -1.0."),
        ({"class_weights": jnp.ones(3)}, ValueError, "`class_weights` must have shape (37,)"),
        ({"bias": jnp.ones(36)}, ValueError, "`bias` must have shape (37,)"),
        ({"softcap": 0.0}, ValueError, "`softcap` must be > 0"),
        ({"weight_layout": "DV"}, ValueError, "`weight_layout` must be one of ('vd', 'dv')"),
        ({"weights": jnp.ones(N, bool)}, TypeError, "`weights` must be real-valued"),
        ({"weights": jnp.ones(N + 1)}, ValueError, "`weights` of shape (14,) must broadcast"),
        ({"where": jnp.ones(N)}, TypeError, "`where` must be a boolean array"),
        ({"return_aux": 1}, TypeError, "`return_aux` must be a Python or NumPy bool"),
    ],
)
def test_errors_name_the_argument(kwargs, exc, message):
    h, w, y, *_ = _data()
    with pytest.raises(exc, match=re.escape(f"linear_cross_entropy: {message}")):
        jaxloss.linear_cross_entropy(h, w, y, **kwargs)


def test_shape_and_dtype_errors():
    h, w, y, *_ = _data()
    with pytest.raises(ValueError, match=re.escape(
        "`weight` of shape (8, 37) does not match `hidden` of shape (13, 8): with "
        "weight_layout='vd' it must be (V, D) with D=8. It looks like a (D, V) weight: pass "
        "weight_layout='dv'"
    )):
        jaxloss.linear_cross_entropy(h, w.T, y)
    with pytest.raises(ValueError, match=re.escape("must be (V, D) with D=5")):
        jaxloss.linear_cross_entropy(h[:, :5], w, y)
    with pytest.raises(ValueError, match=re.escape("`weight` must have shape (V, D)")):
        jaxloss.linear_cross_entropy(h, w[None], y)
    with pytest.raises(ValueError, match=re.escape("expected (13,), got (12,)")):
        jaxloss.linear_cross_entropy(h, w, y[:12])
    with pytest.raises(ValueError, match=re.escape("must have shape (13, 37)")):
        jaxloss.linear_cross_entropy(h, w, jnp.ones((13, 36)))
    with pytest.raises(TypeError, match=re.escape("`hidden` must be a floating-point array")):
        jaxloss.linear_cross_entropy(h.astype(jnp.int32), w, y)
    with pytest.raises(ValueError, match=re.escape("a single class along axis 0")):
        jaxloss.linear_cross_entropy(h, w[:1], jnp.zeros((N,), jnp.int32))
