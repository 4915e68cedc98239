"""linear_cross_entropy: parity with cross_entropy(hidden @ weight) (values and gradients)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, D, V = 13, 8, 37
OPTIONS = [
    {},
    {"class_weights": True, "label_smoothing": 0.2, "z_loss": 1e-3},
    {"class_weights": True, "reduction": "sum"},
    {"label_smoothing": 0.1, "z_loss": 1e-2, "reduction": "none"},
]


def _data(seed=0):
    k = jax.random.split(jax.random.key(seed), 4)
    h = jax.random.normal(k[0], (N, D))
    w = jax.random.normal(k[1], (D, V))
    y = jax.random.randint(k[2], (N,), 0, V).at[3].set(-100).at[7].set(-100)
    cw = jax.random.uniform(k[3], (V,)) + 0.5
    return h, w, y, cw


def _pair(opts, chunk_size, y):
    def kwargs(cw):
        out = dict(opts)
        if out.pop("class_weights", False):
            out["class_weights"] = cw
        return out

    def fused(h, w, cw):
        return jaxloss.linear_cross_entropy(h, w, y, chunk_size=chunk_size, **kwargs(cw)).sum()

    def naive(h, w, cw):
        return jaxloss.cross_entropy(h @ w, y, **kwargs(cw)).sum()

    return fused, naive


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize(
    ("chunk_size", "mode"), [(5, "eager"), (5, "jit"), (16, "jit"), (37, "jit"), (64, "jit")]
)
def test_parity_values_and_gradients(opts, chunk_size, mode):
    # 5 and 16 do not divide V=37 (shifted last chunk); 37 is one chunk; 64 is clipped to V.
    h, w, y, cw = _data()
    fused, naive = _pair(opts, chunk_size, y)
    grad = jax.value_and_grad
    if mode == "jit":
        fused, naive = jax.jit(fused), jax.jit(naive)
    v1, g1 = grad(fused, argnums=(0, 1, 2))(h, w, cw)
    v2, g2 = grad(naive, argnums=(0, 1, 2))(h, w, cw)
    np.testing.assert_allclose(v1, v2, rtol=2e-5, atol=2e-5)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reductions_match(reduction):
    h, w, y, _ = _data(1)
    a = jaxloss.linear_cross_entropy(h, w, y, reduction=reduction, chunk_size=10)
    b = jaxloss.cross_entropy(h @ w, y, reduction=reduction)
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_leading_axes_and_all_ignored():
    h, w, y, _ = _data(2)
    a = jaxloss.linear_cross_entropy(h[:12].reshape(3, 4, D), w, y[:12].reshape(3, 4), chunk_size=7)
    b = jaxloss.cross_entropy((h[:12] @ w).reshape(3, 4, V), y[:12].reshape(3, 4))
    np.testing.assert_allclose(a, b, rtol=2e-5)
    ignored = jnp.full((N,), -100)
    loss, grads = jax.value_and_grad(
        lambda h, w: jaxloss.linear_cross_entropy(h, w, ignored), argnums=(0, 1)
    )(h, w)
    assert loss == 0.0
    assert all(bool(jnp.all(g == 0)) for g in grads)


def test_float64_and_bf16():
    h, w, y, _ = _data(3)
    with jax.enable_x64(True):
        h64, w64 = h.astype(jnp.float64), w.astype(jnp.float64)
        out = jaxloss.linear_cross_entropy(h64, w64, y, chunk_size=8)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, jaxloss.cross_entropy(h64 @ w64, y), rtol=1e-12)
    hb, wb = h.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    out = jaxloss.linear_cross_entropy(hb, wb, y, chunk_size=8)
    assert out.dtype == jnp.float32
    gh, gw = jax.grad(lambda a, b: jaxloss.linear_cross_entropy(a, b, y), argnums=(0, 1))(hb, wb)
    assert gh.dtype == jnp.bfloat16 and gw.dtype == jnp.bfloat16
    ref = jaxloss.cross_entropy(hb.astype(jnp.float32) @ wb.astype(jnp.float32), y)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


def test_out_of_range_target_is_nan():
    h, w, y, _ = _data(4)
    out = jaxloss.linear_cross_entropy(h, w, y.at[0].set(V), reduction="none")
    assert bool(jnp.isnan(out[0])) and bool(jnp.all(jnp.isfinite(out[1:])))


def test_compiled_memory_is_far_below_the_logits():
    n, d, v = 2048, 64, 8192
    args = (
        jax.ShapeDtypeStruct((n, d), jnp.float32),
        jax.ShapeDtypeStruct((d, v), jnp.float32),
        jax.ShapeDtypeStruct((n,), jnp.int32),
    )

    def fused(h, w, y):
        return jaxloss.linear_cross_entropy(h, w, y, chunk_size=512, label_smoothing=0.1)

    compiled = jax.jit(jax.value_and_grad(fused, argnums=(0, 1))).lower(*args).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("no memory analysis on this backend")
    logits_bytes = n * v * 4
    assert analysis.temp_size_in_bytes < logits_bytes / 4


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"reduction": "avg"}, ValueError, "`reduction` must be one of"),
        ({"chunk_size": 0}, ValueError, "`chunk_size` must be a Python int >= 1, got 0."),
        ({"label_smoothing": 1.5}, ValueError, "`label_smoothing` must be in [0, 1], got 1.5."),
        ({"z_loss": -1.0}, ValueError, "`z_loss` must be >= 0, got -1.0."),
        ({"class_weights": jnp.ones(3)}, ValueError, "`class_weights` must have shape (37,)"),
    ],
)
def test_errors_name_the_argument(kwargs, exc, message):
    h, w, y, _ = _data()
    with pytest.raises(exc, match=re.escape(f"linear_cross_entropy: {message}")):
        jaxloss.linear_cross_entropy(h, w, y, **kwargs)


def test_shape_and_dtype_errors():
    h, w, y, _ = _data()
    with pytest.raises(ValueError, match=re.escape("expected D=8, got 5")):
        jaxloss.linear_cross_entropy(h[:, :5], w, y)
    with pytest.raises(ValueError, match=re.escape("`weight` must have shape (D, V)")):
        jaxloss.linear_cross_entropy(h, w[None], y)
    with pytest.raises(ValueError, match=re.escape("expected (13,), got (12,)")):
        jaxloss.linear_cross_entropy(h, w, y[:12])
    with pytest.raises(TypeError, match=re.escape("`targets` must be integer class indices")):
        jaxloss.linear_cross_entropy(h, w, y.astype(jnp.float32))
    with pytest.raises(TypeError, match=re.escape("`hidden` must be a floating-point array")):
        jaxloss.linear_cross_entropy(h.astype(jnp.int32), w, y)
