"""Detection losses (issue 23, items 1 and 2): torchvision's box IoU losses against values and
gradients recorded from torchvision 0.28 (tests/record_torchvision_boxes.py), degenerate
boxes, masks and weights; mmdetection's varifocal, quality focal and distribution focal
losses against the float64 transcription of mmdetection (tests/reference.py), hand-computed
values, their special cases and their numerics at +-100 logits."""

import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit

import jaxloss

BOX_LOSSES = {
    "giou": jaxloss.generalized_box_iou_loss,
    "diou": jaxloss.distance_box_iou_loss,
    "ciou": jaxloss.complete_box_iou_loss,
}
RECORDED = np.load(pathlib.Path(__file__).with_name("data") / "torchvision_boxes.npz")
REDUCTIONS = ("none", "sum", "mean")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _boxes(rng, n):
    xy = rng.uniform(0.0, 5.0, (n, 2))
    wh = rng.uniform(0.2, 3.0, (n, 2))
    return np.concatenate([xy, xy + wh], axis=-1)


# ---------------------------------------------------------------------------------------------
# box losses: torchvision parity
# ---------------------------------------------------------------------------------------------


def test_the_recording_is_torchvision_028_for_torch_213():
    assert str(RECORDED["torch_version"]).startswith("2.13.0")
    assert str(RECORDED["torchvision_version"]).startswith("0.28.0")


@pytest.mark.parametrize("e", [0, 1], ids=["eps-default", "eps-0.5"])
@pytest.mark.parametrize("key", sorted(BOX_LOSSES))
def test_box_losses_equal_torchvision_in_value_and_gradient(key, e, x64):
    """float64, "none": every recorded pair (random, then the degenerate ones). Where
    torchvision is NaN (CIoU at a point box, its gradient at zero height) jaxloss is finite."""
    loss = BOX_LOSSES[key]
    b1, b2 = RECORDED["boxes1"], RECORDED["boxes2"]
    eps = float(RECORDED["eps"][e])

    value, (g1, g2) = jax.jit(
        lambda a, b: (loss(a, b, eps=eps),
                      jax.grad(lambda a, b: jnp.sum(loss(a, b, eps=eps)), argnums=(0, 1))(a, b))
    )(b1, b2)
    for got, name in ((value, "value"), (g1, "grad1"), (g2, "grad2")):
        want = RECORDED[f"{key}_{e}_{name}"]
        got = np.asarray(got)
        assert np.all(np.isfinite(got)), (key, name)
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{key} {name}")
    nan_rows = ~np.isfinite(RECORDED[f"{key}_{e}_value"])
    if key == "ciou":  # torchvision's NaNs: atan(0 / 0) at a point box
        names = RECORDED["degenerate"][nan_rows[int(RECORDED["num_random"]):]]
        assert set(names) == {"identical points", "point and box"}
    else:
        assert not nan_rows.any()


@pytest.mark.parametrize("key", sorted(BOX_LOSSES))
def test_box_reductions_and_float32_equal_torchvision(key, x64):
    loss = BOX_LOSSES[key]
    n = int(RECORDED["num_random"])
    b1, b2 = RECORDED["boxes1"][:n], RECORDED["boxes2"][:n]
    np.testing.assert_allclose(loss(b1, b2, reduction="mean"), RECORDED[f"{key}_mean"],
                               rtol=1e-12)
    np.testing.assert_allclose(loss(b1, b2, reduction="sum"), RECORDED[f"{key}_sum"],
                               rtol=1e-12)
    empty = loss(b1[:0], b2[:0], reduction="mean")
    assert float(empty) == float(RECORDED[f"{key}_empty_mean"]) == 0.0  # torchvision: 0 too
    f32 = loss(b1.astype(np.float32), b2.astype(np.float32))
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(f32, RECORDED[f"{key}_value_f32"], rtol=2e-6, atol=2e-6)


def test_hand_computed_box_losses():
    """(0,0,2,2) and (1,1,3,3): I = 1, U = 7, enclosing 3x3 (area 9, diagonal^2 18), centres
    sqrt(2) apart, equal aspect ratios (CIoU = DIoU)."""
    a, b = jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 1.0, 3.0, 3.0])
    np.testing.assert_allclose(jaxloss.generalized_box_iou_loss(a, b), 1 - 1 / 7 + 2 / 9,
                               rtol=1e-6)
    np.testing.assert_allclose(jaxloss.distance_box_iou_loss(a, b), 1 - 1 / 7 + 2 / 18,
                               rtol=1e-6)
    np.testing.assert_allclose(jaxloss.complete_box_iou_loss(a, b), 1 - 1 / 7 + 2 / 18,
                               rtol=1e-6)
    # identical boxes: 0; disjoint unit boxes 2 apart on a diagonal: GIoU 1 + 7/9
    assert float(jaxloss.generalized_box_iou_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    c = jnp.array([3.0, 3.0, 4.0, 4.0])
    np.testing.assert_allclose(jaxloss.generalized_box_iou_loss(a[None] / 2, c[None] - 1),
                               [1 + 7 / 9], rtol=1e-6)


def test_ciou_passes_eps_only_to_its_aspect_term(x64):
    """torchvision's CIoU calls _diou_iou_loss without eps: with equal aspect ratios (v = 0)
    CIoU(eps) is DIoU at the default eps for every eps; DIoU's eps moves it. And eps enters
    only alpha, a constant of the gradient: d CIoU / d eps = 0."""
    b1 = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 1e-4, 2e-4]])
    b2 = np.array([[0.5, 1.0, 2.5, 5.0], [1e-4, 1e-4, 2e-4, 3e-4]])
    diou_default = jaxloss.distance_box_iou_loss(b1, b2)
    for eps in (0.0, 1e-7, 0.5):
        np.testing.assert_allclose(jaxloss.complete_box_iou_loss(b1, b2, eps=eps),
                                   diou_default, rtol=1e-12)
    assert not np.allclose(jaxloss.distance_box_iou_loss(b1, b2, eps=0.5), diou_default)
    b3 = b2 * np.array([1.0, 1.0, 1.3, 0.8])  # other aspect ratios
    d_eps = jax.grad(lambda e: jnp.sum(jaxloss.complete_box_iou_loss(b1, b3, eps=e)))(0.1)
    assert float(d_eps) == 0.0


@pytest.mark.parametrize("key", sorted(BOX_LOSSES))
def test_degenerate_boxes_have_finite_float32_gradients(key):
    """Zero width/height, identical, point, disjoint, nested, touching: finite values and
    gradients in float32 too, and finite second derivatives."""
    loss = BOX_LOSSES[key]
    n = int(RECORDED["num_random"])
    b1 = jnp.asarray(RECORDED["boxes1"][n:], jnp.float32)
    b2 = jnp.asarray(RECORDED["boxes2"][n:], jnp.float32)

    def total(a, b):
        return jnp.sum(loss(a, b))

    value, grads = jax.value_and_grad(total, argnums=(0, 1))(b1, b2)
    hess = jax.hessian(total)(b1, b2)
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(np.isfinite(hess))
    flat = np.asarray(hess).reshape(b1.size, b1.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-5, atol=1e-5)


def test_zero_height_box_ciou_gradient_is_the_limit(x64):
    """torchvision's CIoU gradient at zero height is NaN (d atan(w/h) = 0 * inf); jaxloss's is
    the limit h -> 0+ (the value, +-pi/2, is torchvision's). The boxes are disjoint: an
    overlap of zero height has its own kink (torchvision's strict overlap test)."""
    b2 = np.array([0.0, 0.0, 2.0, 2.0])

    def f(h):
        return jaxloss.complete_box_iou_loss(np.array([1.0, 3.0, 3.0, 3.0]) + h * np.eye(4)[3],
                                             b2)

    at_zero = jax.grad(f)(0.0)
    near_zero = jax.grad(f)(1e-9)
    assert np.isfinite(float(at_zero))
    np.testing.assert_allclose(at_zero, near_zero, rtol=1e-4)


def test_box_losses_are_symmetric(x64):
    rng = np.random.default_rng(3)
    b1, b2 = _boxes(rng, 8), _boxes(rng, 8)
    for loss in BOX_LOSSES.values():
        np.testing.assert_allclose(loss(b1, b2), loss(b2, b1), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("key", sorted(BOX_LOSSES))
def test_box_weights_where_and_leading_axes_against_the_reference(key, reduction, mode, x64):
    """(2, 3, 4) boxes, per-box weights broadcast per row, a mask: the reference's reduction
    (weights never in the denominator, masked boxes out of both)."""
    rng = np.random.default_rng(4)
    b1, b2 = _boxes(rng, 6).reshape(2, 3, 4), _boxes(rng, 6).reshape(2, 3, 4)
    w = np.array([[0.5], [2.0]])
    where = np.array([[True, False, True], [True, True, False]])
    fn = maybe_jit(mode, lambda a, b: BOX_LOSSES[key](a, b, weights=w, where=where,
                                                      reduction=reduction))
    want = getattr(ref, jaxloss_name(key))(b1, b2, weights=w, where=where, reduction=reduction)
    assert_close(fn(b1, b2), want)


def jaxloss_name(key):
    return BOX_LOSSES[key].__name__


@pytest.mark.parametrize("key", sorted(BOX_LOSSES))
def test_masked_boxes_reach_neither_value_nor_gradient(key):
    """NaN and inf coordinates and a NaN weight at masked boxes: the value equals the loss on
    the kept boxes, and every gradient is finite and 0 at the masked ones."""
    loss = BOX_LOSSES[key]
    rng = np.random.default_rng(5)
    b1, b2 = _boxes(rng, 4).astype(np.float32), _boxes(rng, 4).astype(np.float32)
    where = np.array([True, False, True, False])
    b1[1] = np.nan
    b2[3] = [np.inf, -np.inf, 0.0, 1.0]
    w = np.array([1.0, np.nan, 2.0, np.inf], np.float32)

    def f(a, b, w):
        return loss(a, b, weights=w, where=where, reduction="mean")

    value, grads = jax.value_and_grad(f, argnums=(0, 1, 2))(b1, b2, w)
    kept = loss(b1[where], b2[where], weights=w[where], reduction="sum") / 2
    np.testing.assert_allclose(value, kept, rtol=1e-6)
    for g in grads:
        assert np.all(np.isfinite(g))
        assert np.all(np.asarray(g)[~where] == 0)
    assert float(loss(b1, b2, where=np.zeros(4, bool), reduction="mean")) == 0.0


def test_bf16_boxes_compute_in_float32():
    b1 = jnp.array([[0.0, 0.0, 2.0, 2.0]], jnp.bfloat16)
    b2 = jnp.array([[1.0, 1.0, 3.0, 3.0]], jnp.bfloat16)
    for loss in BOX_LOSSES.values():
        out = loss(b1, b2, reduction="sum")
        assert out.dtype == jnp.float32
        assert jax.grad(lambda b, f=loss: f(b, b2, reduction="sum"))(b1).dtype == jnp.bfloat16


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"boxes1": np.zeros((3, 5)), "boxes2": np.zeros((3, 5))}, ValueError,
         "complete_box_iou_loss: `boxes1` must have shape (..., 4), boxes as (x1, y1, x2, y2) "
         "along the last axis, got shape (3, 5)."),
        ({"boxes1": np.zeros((3, 4)), "boxes2": np.zeros((4,))}, ValueError,
         "complete_box_iou_loss: `boxes2` must have the same shape as `boxes1`: expected "
         "(3, 4), got (4,)."),
        ({"boxes1": np.zeros(()), "boxes2": np.zeros(())}, ValueError,
         "complete_box_iou_loss: `boxes1` must have shape (..., 4)"),
        ({"boxes1": np.zeros((3, 4), np.int32), "boxes2": np.zeros((3, 4))}, TypeError,
         "complete_box_iou_loss: `boxes1` must be a floating-point array, got dtype int32. "
         "Cast it with `boxes1.astype(jnp.float32)`."),
        ({"boxes1": np.zeros((3, 4)), "boxes2": np.zeros((3, 4)), "reduction": "batchmean"},
         ValueError, "complete_box_iou_loss: `reduction` must be one of ('mean', 'sum', 'none'), "
         "got 'batchmean'."),
        ({"boxes1": np.zeros((3, 4)), "boxes2": np.zeros((3, 4)), "eps": -1.0}, ValueError,
         "complete_box_iou_loss: `eps` must be >= 0, got -1.0."),
        ({"boxes1": np.zeros((3, 4)), "boxes2": np.zeros((3, 4)), "where": np.ones((3, 4), bool)},
         ValueError, "complete_box_iou_loss: `where` of shape (3, 4) must broadcast to (3,)"),
    ],
    ids=["last-axis", "shapes", "scalar", "integer", "reduction", "eps", "where"],
)
def test_box_loss_errors(kwargs, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        jaxloss.complete_box_iou_loss(**kwargs)


# ---------------------------------------------------------------------------------------------
# varifocal loss
# ---------------------------------------------------------------------------------------------


def _vfl_inputs(rng, shape=(6, 4)):
    x = rng.normal(0.0, 3.0, shape)
    q = rng.uniform(0.05, 1.0, shape)
    q[rng.uniform(size=shape) < 0.6] = 0.0
    return x, q


@pytest.mark.parametrize("iou_weighted", [True, False])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_varifocal_against_the_mmdetection_transcription(iou_weighted, reduction, mode, x64):
    rng = np.random.default_rng(6)
    x, q = _vfl_inputs(rng)
    w = rng.uniform(0.5, 2.0, (6, 1))
    where = rng.uniform(size=(6, 4)) < 0.8
    for kwargs in ({}, {"alpha": 0.25, "gamma": 1.5, "weights": w, "where": where}):
        fn = maybe_jit(mode, lambda x, q, kw=kwargs: jaxloss.varifocal_loss(
            x, q, iou_weighted=iou_weighted, reduction=reduction, **kw))
        assert_close(fn(x, q), ref.varifocal_loss(x, q, iou_weighted=iou_weighted,
                                                  reduction=reduction, **kwargs))


def test_varifocal_hand_computed():
    """x = 2, q = 0.8: q BCE(2, 0.8) = 0.8 (0.8 * 0.126928 + 0.2 * 2.126928) = 0.421543;
    x = -1, q = 0: 0.75 sigmoid(-1)^2 softplus(-1) = 0.75 * 0.268941^2 * 0.313262."""
    got = jaxloss.varifocal_loss(jnp.array([2.0, -1.0]), jnp.array([0.8, 0.0]),
                                 reduction="none")
    np.testing.assert_allclose(got, [0.421543, 0.75 * 0.268941**2 * 0.313262], rtol=1e-5)
    unweighted = jaxloss.varifocal_loss(jnp.array([2.0]), jnp.array([0.8]), iou_weighted=False,
                                        reduction="none")
    np.testing.assert_allclose(unweighted, [0.421543 / 0.8], rtol=1e-5)


def test_varifocal_special_case_is_bce(x64):
    """iou_weighted=False, alpha=1, gamma=0: every element is BCE(x, q)."""
    x, q = _vfl_inputs(np.random.default_rng(7))
    got = jaxloss.varifocal_loss(x, q, alpha=1.0, gamma=0.0, iou_weighted=False)
    np.testing.assert_allclose(got, jaxloss.binary_cross_entropy_with_logits(x, q), rtol=1e-12)


def test_varifocal_target_gradient_is_mmdetections(x64):
    """Positives (q > 0): finite differences. Negatives (q = 0, where the loss jumps): the
    derivative of mmdetection's negative branch, alpha (-gamma p^(gamma-1) softplus(x) - p^gamma
    x), which torch's autograd gives."""
    x = np.array([1.5, -0.5, 0.3, -2.0])
    q = np.array([0.6, 0.2, 0.0, 0.0])
    alpha, gamma = 0.75, 2.5
    got = jax.grad(lambda q: jaxloss.varifocal_loss(x, q, alpha=alpha, gamma=gamma,
                                                    reduction="sum"))(q)
    fd = fd_grad(lambda q: ref.varifocal_loss(x, q, alpha=alpha, gamma=gamma,
                                              reduction="sum"), q)
    np.testing.assert_allclose(got[:2], fd[:2], rtol=1e-6)
    p = 1 / (1 + np.exp(-x[2:]))
    want = alpha * (-gamma * p ** (gamma - 1) * np.log1p(np.exp(x[2:])) - p**gamma * x[2:])
    np.testing.assert_allclose(got[2:], want, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# quality focal loss
# ---------------------------------------------------------------------------------------------


def _qfl_inputs(rng, n=8, c=5):
    labels = rng.integers(0, c + 1, (n,))
    labels[:2] = [c, 0]  # a background anchor (label C), a foreground one
    return rng.normal(0.0, 3.0, (n, c)), labels, rng.uniform(0.0, 1.0, (n,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_qfl_against_the_mmdetection_transcription(reduction, mode, x64):
    rng = np.random.default_rng(8)
    x, y, s = _qfl_inputs(rng)
    w = rng.uniform(0.5, 2.0, (8,))
    where = rng.uniform(size=(8,)) < 0.8
    for kwargs in ({}, {"beta": 1.5, "weights": w, "where": where}):
        fn = maybe_jit(mode, lambda x, y, s, kw=kwargs: jaxloss.quality_focal_loss(
            x, y, s, reduction=reduction, **kw))
        assert_close(fn(x, y, s), ref.quality_focal_loss(x, y, s, reduction=reduction,
                                                         **kwargs))
    # channel-first (N, C, d) with axis=1 is the channel-last loss
    x3 = np.moveaxis(x.reshape(4, 2, 5), -1, 1)
    got = jaxloss.quality_focal_loss(x3, y.reshape(4, 2), s.reshape(4, 2), axis=1,
                                     reduction="none")
    assert_close(got, ref.quality_focal_loss(x, y, s, reduction="none").reshape(4, 2))


def test_qfl_hand_computed_and_background():
    """Anchor 1, label 0, score 0.9: BCE(2, 0.9) |0.9 - sigmoid(2)|^2 + the negatives
    softplus(x) sigmoid(x)^2 of classes 1, 2; anchor 2 is background (label C = 3): all three
    classes negatives, whatever its score."""

    def neg(v):
        return math.log1p(math.exp(v)) / (1 + math.exp(-v)) ** 2

    x = jnp.array([[2.0, -1.0, 0.0], [-2.0, -3.0, 1.0]])
    sig2 = 1 / (1 + math.exp(-2.0))
    bce = -(0.9 * math.log(sig2) + 0.1 * math.log(1 - sig2))
    want = [bce * (0.9 - sig2) ** 2 + neg(-1.0) + neg(0.0), neg(-2.0) + neg(-3.0) + neg(1.0)]
    for score in (0.0, 0.7):
        got = jaxloss.quality_focal_loss(x, jnp.array([0, 3]), jnp.array([0.9, score]),
                                         reduction="none")
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_qfl_special_case_beta_0_is_bce_with_a_soft_one_hot(x64):
    x, y, s = _qfl_inputs(np.random.default_rng(9))
    onehot = np.where(np.arange(5) == y[:, None], s[:, None], 0.0)
    want = np.sum(ref.binary_cross_entropy_with_logits(x, onehot, reduction="none"), axis=-1)
    np.testing.assert_allclose(jaxloss.quality_focal_loss(x, y, s, beta=0.0, reduction="none"),
                               want, rtol=1e-12)


def test_qfl_labels_outside_0_to_c():
    x, y, s = _qfl_inputs(np.random.default_rng(10), c=4)
    bad = y.copy()
    bad[3] = 5  # C + 1
    message = ("quality_focal_loss: target label 5 is out of range: labels must be in [0, 5).")
    with pytest.raises(ValueError, match=re.escape(message)):
        jaxloss.quality_focal_loss(x, bad, s)
    traced = jax.jit(lambda y: jaxloss.quality_focal_loss(x, y, s, reduction="none"))(bad)
    assert np.isnan(traced[3]) and np.all(np.isfinite(np.delete(np.asarray(traced), 3)))
    keep = np.arange(8) != 3  # masked: not checked, not counted
    np.testing.assert_allclose(jaxloss.quality_focal_loss(x, bad, s, where=keep),
                               jaxloss.quality_focal_loss(x[keep], y[keep], s[keep]), rtol=1e-6)
    with pytest.raises(TypeError, match=r"^quality_focal_loss: `labels` must be an integer"):
        jaxloss.quality_focal_loss(x, y.astype(np.float32), s)
    with pytest.raises(ValueError, match=r"^quality_focal_loss: `scores` must have the same "):
        jaxloss.quality_focal_loss(x, y, s[:4])


# ---------------------------------------------------------------------------------------------
# distribution focal loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dfl_against_the_mmdetection_transcription(reduction, mode, x64):
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 2.0, (8, 7))  # n = 6
    t = rng.uniform(0.0, 6.0, (8,))
    t[:4] = [0.0, 2.0, 6.0, 5.999]  # integers (the first bin, an inner one, the last) and n-
    w = rng.uniform(0.5, 2.0, (8,))
    where = rng.uniform(size=(8,)) < 0.8
    for kwargs in ({}, {"weights": w, "where": where}):
        fn = maybe_jit(mode, lambda x, t, kw=kwargs: jaxloss.distribution_focal_loss(
            x, t, reduction=reduction, **kw))
        assert_close(fn(x, t), ref.distribution_focal_loss(x, t, reduction=reduction, **kwargs))


def test_dfl_hand_computed_and_the_last_bin(x64):
    """t = 1.25 between bins 1 and 2: 0.75 CE(x, 1) + 0.25 CE(x, 2); t = n = 3 (mmdetection
    indexes bin 4, which does not exist): CE(x, 3), the limit from below; an integer t = k < n:
    CE(x, k)."""
    x = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 0.0, 3.0], [0.3, -0.2, 1.0, 0.4]])
    got = jaxloss.distribution_focal_loss(x, np.array([1.25, 3.0, 2.0]), reduction="none")
    ce = -ref.log_softmax(x)
    np.testing.assert_allclose(got, [0.75 * ce[0, 1] + 0.25 * ce[0, 2], ce[1, 3], ce[2, 2]],
                               rtol=1e-12)
    below = jaxloss.distribution_focal_loss(x[1], np.array(3.0 - 1e-9), reduction="none")
    np.testing.assert_allclose(got[1], below, rtol=1e-7)
    # integer targets are distances too
    np.testing.assert_allclose(jaxloss.distribution_focal_loss(x, np.array([1, 3, 2])),
                               jaxloss.distribution_focal_loss(x, np.array([1.0, 3.0, 2.0])))


def test_dfl_target_gradient_and_out_of_range_targets(x64):
    """d/dt = x_left - x_right inside a bin (finite differences); from the left at t = n.
    A target outside [0, n] is NaN for its element only."""
    x = np.array([[1.0, 2.0, 0.5, -1.0]] * 3)
    t = np.array([1.25, 0.6, 3.0])
    got = jax.grad(lambda t: jaxloss.distribution_focal_loss(x, t, reduction="sum"))(t)
    np.testing.assert_allclose(got, [2.0 - 0.5, 1.0 - 2.0, 0.5 - (-1.0)], rtol=1e-12)
    out = jaxloss.distribution_focal_loss(x, np.array([-0.5, 1.0, 3.5]), reduction="none")
    assert np.isnan(out[0]) and np.isnan(out[2]) and np.isfinite(out[1])
    with pytest.raises(ValueError, match=re.escape(
        "distribution_focal_loss: `logits` must have at least 2 bins along axis -1, got shape "
        "(3, 1).")):
        jaxloss.distribution_focal_loss(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=re.escape(
        "distribution_focal_loss: `targets` must have the logits' shape without the bin axis "
        "(axis 1): expected (3,), got (3, 4) for logits of shape (3, 4).")):
        jaxloss.distribution_focal_loss(x, x)


def test_dfl_out_of_range_target_is_an_error_under_checked():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(Exception, match=re.escape(
            "distribution_focal_loss: `targets` must be a distance in [0, 3] (n + 1 = 4 bins), "
            "got 3.5 at index (1,).")):
        jaxloss.checked(jaxloss.distribution_focal_loss)(x, np.array([1.0, 3.5], np.float32))


# ---------------------------------------------------------------------------------------------
# numerics shared by the three: +-100 logits, masked NaN inputs
# ---------------------------------------------------------------------------------------------

LOGITS = np.array([[-100.0, -30.0, 0.0, 30.0, 100.0]] * 3, np.float32)


def _classification_calls():
    q = np.array([[0.0, 0.5, 0.0, 1.0, 0.0], [0.9, 0.0, 0.0, 0.0, 1.0], [0.0] * 5], np.float32)
    labels = np.array([0, 4, 5])
    scores = np.array([0.0, 1.0, 0.3], np.float32)
    return {
        "varifocal_loss": (lambda x: jaxloss.varifocal_loss(x, q, reduction="sum")),
        "varifocal_loss[gamma=0.5]": (
            lambda x: jaxloss.varifocal_loss(x, q, gamma=0.5, iou_weighted=False,
                                             reduction="sum")),
        "quality_focal_loss": (
            lambda x: jaxloss.quality_focal_loss(x, labels, scores, reduction="sum")),
        "quality_focal_loss[beta=0.5]": (
            lambda x: jaxloss.quality_focal_loss(x, labels, scores, beta=0.5, reduction="sum")),
        "distribution_focal_loss": (
            lambda x: jaxloss.distribution_focal_loss(x, np.array([0.0, 2.5, 4.0], np.float32),
                                                      reduction="sum")),
    }


@pytest.mark.parametrize("name", sorted(_classification_calls()))
def test_finite_values_gradients_and_hessians_at_100_logits(name):
    f = _classification_calls()[name]
    value, grad = jax.value_and_grad(f)(LOGITS)
    assert np.isfinite(float(value)), name
    assert np.all(np.isfinite(grad)), name
    assert np.all(np.isfinite(jax.hessian(f)(LOGITS))), name
    with jax.enable_x64(True):  # and the value is the float64 reference's
        want = f(LOGITS.astype(np.float64))
    np.testing.assert_allclose(float(value), float(want), rtol=1e-5)


def test_masked_classification_inputs_reach_no_gradient():
    x = np.array([[1.0, -2.0], [np.nan, np.inf]], np.float32)
    where = np.array([True, False])
    q = np.array([[0.5, 0.0], [np.nan, 0.0]], np.float32)
    calls = [
        lambda x: jaxloss.varifocal_loss(x, q, where=where[:, None]),
        lambda x: jaxloss.quality_focal_loss(x, np.array([1, 7]), np.array([0.4, np.nan],
                                             np.float32), where=where),
        lambda x: jaxloss.distribution_focal_loss(x, np.array([0.5, np.nan], np.float32),
                                                  where=where),
    ]
    for f in calls:
        value, grad = jax.value_and_grad(f)(x)
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[1] == 0)
