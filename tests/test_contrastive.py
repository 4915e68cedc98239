"""clip_loss and siglip_loss (issue 22): open_clip's values and gradients, the float64
reference, numerics, named errors, and (slow, a subprocess on 4 forced CPU devices) the
sharded losses against the unsharded ones, the SigLIP ring's program and its memory."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import run_on_devices

import jaxloss

HERE = Path(__file__).resolve().parent
RECORDED = np.load(HERE / "data" / "open_clip_contrastive.npz")  # tests/record_open_clip.py
CONFIGS = sorted({key.split("/")[0] for key in RECORDED.files})
ARGS = ("image_features", "text_features", "logit_scale", "logit_bias")


def _call(name, x, y, s, b):
    return getattr(jaxloss, name)(x, y, logit_scale=s, logit_bias=b)


def _inputs(config):
    return [np.asarray(RECORDED[f"{config}/{a}"]) for a in ARGS]


@pytest.mark.parametrize("name", ["clip", "siglip"])
@pytest.mark.parametrize("config", CONFIGS)
def test_values_and_gradients_equal_open_clip(name, config):
    """open_clip 3.3's ClipLoss / SigLipLoss (world size 1), float64: value and gradients with
    respect to both features, logit_scale and logit_bias."""
    args = _inputs(config)
    with jax.enable_x64(True):
        value, grads = jax.jit(jax.value_and_grad(
            lambda *a: _call(f"{name}_loss", *a), argnums=(0, 1, 2, 3)))(*args)
    np.testing.assert_allclose(value, RECORDED[f"{config}/{name}/value"], rtol=1e-12)
    for arg, g in zip(ARGS, grads, strict=True):
        np.testing.assert_allclose(g, RECORDED[f"{config}/{name}/d_{arg}"], rtol=1e-10,
                                   atol=1e-12, err_msg=arg)


@pytest.mark.parametrize("config", CONFIGS)
def test_reference_equals_open_clip(config):
    x, y, s, b = _inputs(config)
    np.testing.assert_allclose(ref.clip_loss(x, y, logit_scale=s),
                               RECORDED[f"{config}/clip/value"], rtol=1e-12)
    np.testing.assert_allclose(ref.siglip_loss(x, y, logit_scale=s, logit_bias=b),
                               RECORDED[f"{config}/siglip/value"], rtol=1e-12)


def _pairs(b=8, d=4, seed=0, normalise=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, d)).astype(np.float32)
    y = (rng.standard_normal((b, d)) + 0.5 * x).astype(np.float32)
    if normalise:
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return x, y


def test_clip_bias_changes_nothing_and_clip_is_symmetric():
    x, y = _pairs()
    plain = jaxloss.clip_loss(x, y, logit_scale=5.0)
    biased, d_bias = jax.value_and_grad(
        lambda b: jaxloss.clip_loss(x, y, logit_scale=5.0, logit_bias=b))(np.float32(-7.0))
    np.testing.assert_allclose(biased, plain, rtol=1e-6)
    assert float(d_bias) == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(jaxloss.clip_loss(y, x, logit_scale=5.0), plain, rtol=1e-6)


def test_features_are_not_normalised():
    """Doubling the features is doubling the scale (neither loss normalises)."""
    x, y = _pairs()
    for name in ("clip_loss", "siglip_loss"):
        doubled = _call(name, 2 * x, y, 3.0, -1.0)
        np.testing.assert_allclose(doubled, _call(name, x, y, 6.0, -1.0), rtol=1e-6)


@pytest.mark.parametrize("name", ["clip_loss", "siglip_loss"])
def test_bf16_features_compute_in_float32(name):
    x, y = _pairs()
    bx, by = jnp.asarray(x, jnp.bfloat16), jnp.asarray(y, jnp.bfloat16)
    got = _call(name, bx, by, 10.0, -5.0)
    assert got.dtype == jnp.float32
    want = _call(name, np.asarray(bx, np.float32), np.asarray(by, np.float32), 10.0, -5.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    grads = jax.grad(lambda a, c: _call(name, a, c, 10.0, -5.0), argnums=(0, 1))(bx, by)
    assert all(g.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(g))) for g in grads)


@pytest.mark.parametrize("name", ["clip_loss", "siglip_loss"])
def test_finite_at_large_scales(name):
    """Unnormalised features at scale 1e4: logits of order 1e5, still finite and equal to the
    float64 reference (log-space numerics, no exp of a logit)."""
    x, y = _pairs(normalise=False)
    value, grads = jax.jit(jax.value_and_grad(
        lambda *a: _call(name, *a), argnums=(0, 1, 2, 3)))(x, y, np.float32(1e4), np.float32(-10))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in (value, *grads))
    want = getattr(ref, name)(x, y, logit_scale=1e4, logit_bias=-10.0)
    np.testing.assert_allclose(value, want, rtol=1e-4)


def test_siglip_perfect_separation_is_near_zero():
    x = np.eye(4, dtype=np.float32)
    assert float(jaxloss.siglip_loss(x, x, logit_scale=100.0, logit_bias=-50.0)) < 1e-20


ERRORS = [
    (lambda f: f(np.zeros((4, 3)), np.zeros((4, 2)), logit_scale=1.0, logit_bias=0.0),
     "`text_features` must have the same shape as `image_features` (row i of each is the "
     "i-th matching pair): expected (4, 3), got (4, 2)."),
    (lambda f: f(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), logit_scale=1.0, logit_bias=0.0),
     "`image_features` must be 2-D (batch, dim), one feature vector per row, got shape "
     "(2, 4, 3)."),
    (lambda f: f(np.zeros((4, 3)), np.zeros(3), logit_scale=1.0, logit_bias=0.0),
     "`text_features` must be 2-D (batch, dim)"),
    (lambda f: f(np.zeros((4, 3)), np.zeros((4, 3)), logit_scale=0.0, logit_bias=0.0),
     "`logit_scale` must be > 0 (the multiplier of the cosine similarities, not its log), "
     "got 0.0. With open_clip's learnable log-scale `t`, pass `logit_scale=jnp.exp(t)`."),
    (lambda f: f(np.zeros((4, 3)), np.zeros((4, 3)), logit_scale=np.ones(2), logit_bias=0.0),
     "`logit_scale` must be a scalar, got shape (2,)."),
    (lambda f: f(np.zeros((4, 3)), np.zeros((4, 3)), logit_scale=1.0, logit_bias=0.0,
                 axis_name="batch"),
     "`axis_name`='batch' is not a bound mesh axis: call the loss inside `jax.shard_map`"),
]


@pytest.mark.parametrize("name", ["clip_loss", "siglip_loss"])
@pytest.mark.parametrize(("call", "message"), ERRORS, ids=range(len(ERRORS)))
def test_named_errors(name, call, message):
    with pytest.raises(ValueError, match="^" + re.escape(f"{name}: {message}")):
        call(getattr(jaxloss, name))


@pytest.mark.parametrize("name", ["clip_loss", "siglip_loss"])
def test_integer_features_are_a_type_error(name):
    with pytest.raises(TypeError, match=re.escape(
            f"{name}: `image_features` must be a floating-point array, got dtype int32.")):
        _call(name, np.zeros((4, 3), np.int32), np.zeros((4, 3)), 1.0, 0.0)


def test_siglip_needs_a_bias():
    with pytest.raises(TypeError, match="logit_bias"):
        jaxloss.siglip_loss(np.zeros((4, 3)), np.zeros((4, 3)), logit_scale=1.0)


@pytest.mark.slow
def test_sharded_equals_unsharded_and_the_ring_is_flat():
    """One subprocess on 4 forced CPU devices (tests/_contrastive_script.py): sharded ==
    unsharded (value, features, logit_scale, logit_bias) for both losses; the SigLIP program
    has collective-permutes and no all-gather; the ring's temp memory stays flat."""
    proc = run_on_devices([str(HERE / "_contrastive_script.py")])
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.count("OK ") == 6, proc.stdout
