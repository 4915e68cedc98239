"""lovasz_softmax_loss and lovasz_hinge_loss: parity with the float64 transcription of the
authors' / SMP's code (tests/reference.py, section 10), the Jaccard identity on hard
predictions, masks, gradients and transformations.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit
from hypothesis import given
from hypothesis import strategies as st
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

C = 4
REDUCTIONS = ("none", "sum", "mean")


def _inputs(seed=0, shape=(3, 5, 4, C), ignored=True):
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    labels[0][labels[0] == 2] = 1  # class 2 absent from image 0
    if ignored:
        labels[1, 0, :3] = -100
        labels[-1] = np.where(rng.random(shape[1:-1]) < 0.3, -100, labels[-1])
    return logits, labels


def _masks(seed=0, shape=(3, 2, 4, 5)):
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    masks = (rng.random(shape) < 0.4).astype(np.int32)
    masks[1, 0, 0] = -100
    return logits, masks


GRID = [(c, pi, r) for c in ("present", "all") for pi in (False, True) for r in REDUCTIONS]


@pytest.mark.parametrize("layout", ["last", "first"])
def test_lovasz_softmax_parity_grid(layout, mode):
    logits, labels = _inputs()
    axis = -1
    if layout == "first":
        logits, axis = np.moveaxis(logits, -1, 1), 1
    where = np.random.default_rng(1).random(labels.shape) < 0.8

    def run(x, y):
        return {
            (c, pi, r, w): jaxloss.lovasz_softmax_loss(
                x, y, classes=c, per_image=pi, reduction=r, axis=axis,
                where=where if w else None,
            )
            for c, pi, r in GRID for w in (False, True)
        }

    for (c, pi, r, w), value in maybe_jit(mode, run)(logits, labels).items():
        want = ref.lovasz_softmax_loss(
            logits, labels, classes=c, per_image=pi, reduction=r, axis=axis,
            where=where if w else None,
        )
        assert value.dtype == jnp.float32
        assert value.shape == np.shape(want), (c, pi, r)
        assert_close(value, want)


def test_lovasz_hinge_parity_grid(mode):
    logits, masks = _masks()
    where = np.random.default_rng(2).random(logits.shape) < 0.8

    def run(x, y):
        return {
            (pi, r, w): jaxloss.lovasz_hinge_loss(
                x, y, per_image=pi, reduction=r, where=where if w else None
            )
            for pi in (False, True) for r in REDUCTIONS for w in (False, True)
        }

    for (pi, r, w), value in maybe_jit(mode, run)(logits, masks).items():
        want = ref.lovasz_hinge_loss(
            logits, masks, per_image=pi, reduction=r, where=where if w else None
        )
        assert value.shape == np.shape(want)
        assert_close(value, want)
    # Float and bool masks (no ignored pixel) give the same loss as integer ones.
    clean = np.where(masks < 0, 0, masks)
    want = ref.lovasz_hinge_loss(logits, clean)
    for m in (clean.astype(np.float32), clean.astype(bool)):
        assert_close(jaxloss.lovasz_hinge_loss(logits, m), want)


def test_lovasz_softmax_on_hard_predictions_is_one_minus_iou():
    """Errors in {0, 1}: the Lovász extension equals the Jaccard loss it extends."""
    logits, labels = _inputs(3, ignored=False)
    hard = 100.0 * np.eye(C, dtype=np.float32)[np.argmax(logits, -1)]  # one-hot, saturated
    got = jaxloss.lovasz_softmax_loss(hard, labels, classes="present")
    pred = np.argmax(hard, -1)
    ious = []
    for c in range(C):
        union = np.sum((pred == c) | (labels == c))
        if np.any(labels == c):
            ious.append(np.sum((pred == c) & (labels == c)) / union)
    np.testing.assert_allclose(got, 1.0 - np.mean(ious), atol=1e-6)


def test_lovasz_hinge_is_zero_beyond_the_margin_and_jaccard_on_hard_errors():
    _, masks = _masks(4)
    masks = np.where(masks < 0, 0, masks)
    signs = 2.0 * masks - 1.0
    np.testing.assert_allclose(jaxloss.lovasz_hinge_loss(1.5 * signs, masks), 0.0, atol=0)
    # Margin errors 1 - x s in {0, 2} at x = +-1 * s with a flipped set F: 2 * (1 - IoU).
    flip = np.random.default_rng(5).random(masks.shape) < 0.2
    x = np.where(flip, -signs, signs).astype(np.float32)
    pred = np.where(flip, 1 - masks, masks)
    iou = np.sum((pred == 1) & (masks == 1)) / np.sum((pred == 1) | (masks == 1))
    np.testing.assert_allclose(jaxloss.lovasz_hinge_loss(x, masks), 2.0 * (1.0 - iou), rtol=1e-6)


def test_ignored_pixels_equal_dropping_them_with_zero_gradient():
    logits, labels = _inputs(6)
    keep = labels != -100
    got = jaxloss.lovasz_softmax_loss(logits, labels)
    want = jaxloss.lovasz_softmax_loss(logits[keep][None], labels[keep][None])
    assert_close(got, want)
    grad = jax.grad(jaxloss.lovasz_softmax_loss)(logits, labels)
    np.testing.assert_array_equal(grad[~keep], 0.0)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("per_image", [False, True])
def test_an_empty_batch_is_zero_with_an_empty_gradient(per_image):
    """N = 0 (a reshape to (N, -1) cannot infer -1 from 0 elements): 0, as "mean" over
    nothing is elsewhere, and a gradient of the input's (empty) shape."""
    x, g = np.zeros((0, 3, 2, 2), np.float32), np.zeros((0, 2, 2), np.float32)
    cases = [
        (lambda x: jaxloss.lovasz_softmax_loss(x, g.astype(np.int32), axis=1,
                                               per_image=per_image), x),
        (lambda x: jaxloss.lovasz_hinge_loss(x, g, per_image=per_image), x[:, 0]),
    ]
    for f, x in cases:
        value, grad = jax.value_and_grad(f)(x)
        assert float(value) == 0.0 and grad.shape == x.shape


def test_nothing_kept_is_zero_with_zero_gradient_and_empty_images_drop_out():
    logits, labels = _inputs(7)
    none_kept = np.full_like(labels, -100)
    for pi in (False, True):
        f = functools.partial(jaxloss.lovasz_softmax_loss, per_image=pi)
        assert float(f(logits, none_kept)) == 0.0
        np.testing.assert_array_equal(jax.grad(f)(logits, none_kept), 0.0)
    one_empty = labels.copy()
    one_empty[0] = -100
    per = jaxloss.lovasz_softmax_loss(logits, one_empty, per_image=True, reduction="none")
    assert float(per[0]) == 0.0
    mean = jaxloss.lovasz_softmax_loss(logits, one_empty, per_image=True)
    assert_close(mean, np.mean(np.asarray(per)[1:]))


@pytest.mark.parametrize("per_image", [False, True])
def test_gradients_match_finite_differences_of_reference(per_image):
    logits, labels = _inputs(8, shape=(2, 3, 2, 3))
    got = jax.jit(jax.grad(functools.partial(jaxloss.lovasz_softmax_loss, per_image=per_image)))(
        logits, labels
    )
    want = fd_grad(lambda z: ref.lovasz_softmax_loss(z, labels, per_image=per_image), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    x, m = _masks(9, shape=(2, 3, 3))
    got = jax.jit(jax.grad(functools.partial(jaxloss.lovasz_hinge_loss, per_image=per_image)))(
        x, m
    )
    want = fd_grad(lambda z: ref.lovasz_hinge_loss(z, m, per_image=per_image), x)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_gradients_finite_at_saturated_logits():
    logits, labels = _inputs(10)
    for scale in (100.0, 1e4):
        g = jax.grad(jaxloss.lovasz_softmax_loss)(scale * logits, labels)
        assert np.all(np.isfinite(g))
        x, m = _masks(10)
        g = jax.grad(jaxloss.lovasz_hinge_loss)(scale * x, m)
        assert np.all(np.isfinite(g))


def test_bfloat16_and_vmap_over_the_batch():
    logits, labels = _inputs(11)
    x16 = jnp.asarray(logits, jnp.bfloat16)
    got = jaxloss.lovasz_softmax_loss(x16, labels)
    assert got.dtype == jnp.float32
    want = ref.lovasz_softmax_loss(np.asarray(x16.astype(jnp.float32)), labels)
    assert_close(got, want, rtol=BF16_RTOL, atol=1e-3)
    # per_image "none" == vmap of the single-image loss.
    per = jaxloss.lovasz_softmax_loss(logits, labels, per_image=True, reduction="none")
    mapped = jax.vmap(lambda x, y: jaxloss.lovasz_softmax_loss(x[None], y[None]))(logits, labels)
    assert_close(per, mapped)


def test_out_of_range_label_is_nan_and_checked_raises():
    logits, labels = _inputs(12, ignored=False)
    bad = labels.copy()
    bad[1, 0, 0] = 9
    per = jax.jit(functools.partial(
        jaxloss.lovasz_softmax_loss, per_image=True, reduction="none"))(logits, bad)
    assert np.isfinite(per[0]) and np.isnan(per[1])
    with pytest.raises(ValueError, match="lovasz_softmax_loss: target label 9 is out of range"):
        jaxloss.lovasz_softmax_loss(logits, bad)
    with pytest.raises(ValueError, match="lovasz_softmax_loss: target label 9 is out of range"):
        jaxloss.checked(jaxloss.lovasz_softmax_loss)(logits, bad)


@functools.cache
def _traced_lovasz():
    def run(x, y, keep, xb, g):
        return {
            (c, pi): (
                jaxloss.lovasz_softmax_loss(x, y, classes=c, per_image=pi, where=keep,
                                            reduction="none"),
                jaxloss.lovasz_hinge_loss(xb, g, per_image=pi, where=keep, reduction="none"),
            )
            for c in ("present", "all") for pi in (False, True)
        }

    return jax.jit(run)


@given(seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_property_random_inputs_match_reference_and_bounds(seed, scale):
    """Random logits, labels, ignored pixels and masks (an image may lose every pixel): both
    losses against the reference; Lovász-Softmax lies in [0, 1] (errors are in [0, 1])."""
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal((3, 4, 3, C))).astype(np.float32)
    y = rng.integers(0, C, (3, 4, 3)).astype(np.int32)
    y[rng.random(y.shape) < 0.2] = -100
    keep = rng.random(y.shape) < 0.8
    if seed % 4 == 0:
        keep[seed % 3] = False
    xb = (scale * rng.standard_normal((3, 4, 3))).astype(np.float32)
    g = (rng.random((3, 4, 3)) < 0.4).astype(np.int32)
    for (c, pi), (soft, hinge) in _traced_lovasz()(x, y, keep, xb, g).items():
        assert_close(soft, ref.lovasz_softmax_loss(
            x, y, classes=c, per_image=pi, where=keep, reduction="none"), rtol=1e-5, atol=1e-6)
        assert_close(hinge, ref.lovasz_hinge_loss(
            xb, g, per_image=pi, where=keep, reduction="none"), rtol=1e-5, atol=1e-5)
        assert np.all((np.asarray(soft) >= -1e-6) & (np.asarray(soft) <= 1.0 + 1e-6))


# ---------------------------------------------------------------------------------------------
# axis_name: the whole batch's loss from its shards (tests/test_sharding.py runs shard_map and
# pmap on 4 devices; here a named vmap axis stands for the devices)
# ---------------------------------------------------------------------------------------------


def _split(a, devices=3):
    return a.reshape(devices, a.shape[0] // devices, *a.shape[1:])


@pytest.mark.parametrize("loss", ["lovasz_softmax_loss", "lovasz_hinge_loss"])
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"classes": "all"}])
def test_axis_name_equals_the_unsharded_batch(loss, per_image, options):
    """Value and gradient of each shard's logits equal the unsharded call's on the whole
    batch (ignored pixels, masked ones, a shard with nothing kept); per_image=False ranks the
    pixels of every shard together, so the gradient is not the shards' own rankings', and is
    not counted once per shard."""
    if loss == "lovasz_hinge_loss" and "classes" in options:
        pytest.skip("classes is lovasz_softmax_loss's")
    if loss == "lovasz_softmax_loss":
        x, y = _inputs(13, shape=(6, 3, 2, C))
        y[2:4] = -100  # the second shard keeps nothing
    else:
        x, y = _masks(13, shape=(6, 3, 4))
        y[2:4, 0] = -100
    where = np.random.default_rng(14).random(y.shape) < 0.8
    fn = functools.partial(getattr(jaxloss, loss), per_image=per_image, **options)

    def whole(a):
        return fn(a, y, where=where)

    def sharded(a):
        return jax.vmap(lambda u, v, m: fn(u, v, where=m, axis_name="d"), axis_name="d")(
            a, _split(y), _split(where))

    want, want_grad = jax.value_and_grad(whole)(x)
    values = jax.jit(sharded)(_split(x))
    np.testing.assert_allclose(values, np.full((3,), want), rtol=1e-6, atol=1e-7)
    # d(value)/dx through one copy of the (replicated) value: the unsharded gradient.
    grad = jax.jit(jax.grad(lambda a: sharded(a)[0]))(_split(x))
    np.testing.assert_allclose(grad.reshape(x.shape), want_grad, rtol=1e-5, atol=1e-7)
    assert_close(want, getattr(ref, loss)(x, y, per_image=per_image, where=where, **options))
