"""binary_cross_entropy_with_logits and sigmoid_focal_loss: parity with the float64 reference,
properties."""

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

SHAPE = (6, 4)
SHAPE_4D = (2, 4, 3, 2)  # channel-first (N, C, H, W)
REDUCTIONS = ("none", "sum", "mean")
F32 = np.dtype("float32")


def make_inputs(shape=SHAPE, seed=0, scale=3.0):
    """Logits and soft targets in [0, 1] with exact 0s and 1s."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal(shape)).astype(np.float32)
    targets = rng.uniform(size=shape)
    flat = targets.reshape(-1)
    flat[::3] = 0.0
    flat[1::3] = 1.0
    return logits, targets.astype(np.float32)


POS_WEIGHT = np.array([0.5, 2.0, 1.0, 4.0], np.float32)  # per class, trailing axis
WEIGHTS = np.linspace(0.2, 2.0, 6, dtype=np.float32).reshape(6, 1)  # per row
WHERE = np.array([True, True, False, True, False, True]).reshape(6, 1)


# ---------------------------------------------------------------------------------------------
# parity
# ---------------------------------------------------------------------------------------------


def test_bce_parity_grid(mode):
    """pos_weight on/off x weights on/off x where on/off x each reduction, one compile."""
    logits, targets = make_inputs()
    grid = [
        (pw, w, m, r)
        for pw in (False, True)
        for w in (False, True)
        for m in (False, True)
        for r in REDUCTIONS
    ]

    def run(x, t):
        return [
            jaxloss.binary_cross_entropy_with_logits(
                x,
                t,
                pos_weight=POS_WEIGHT if pw else None,
                weights=WEIGHTS if w else None,
                where=WHERE if m else None,
                reduction=r,
            )
            for (pw, w, m, r) in grid
        ]

    for (pw, w, m, r), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        want = ref.binary_cross_entropy_with_logits(
            logits,
            targets,
            pos_weight=POS_WEIGHT if pw else None,
            weights=WEIGHTS if w else None,
            where=WHERE if m else None,
            reduction=r,
        )
        assert got.dtype == jnp.float32
        assert_close(got, want)


def test_bce_channel_first_pos_weight(mode):
    """(N, C, H, W) logits need a per-class pos_weight of shape (C, 1, 1), as in PyTorch."""
    logits, targets = make_inputs(SHAPE_4D)
    pos_weight = POS_WEIGHT.reshape(4, 1, 1)

    def run(x, t):
        return [
            jaxloss.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight, reduction=r)
            for r in REDUCTIONS
        ]

    for r, got in zip(REDUCTIONS, maybe_jit(mode, run)(logits, targets), strict=True):
        assert_close(got, ref.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=pos_weight, reduction=r))


def test_sigmoid_focal_parity_grid(mode):
    logits, targets = make_inputs()
    grid = [
        (a, g, m, r)
        for a in (0.25, None)
        for g in (0.0, 0.5, 2.0)
        for m in (False, True)
        for r in REDUCTIONS
    ]

    def run(x, t):
        return [
            jaxloss.sigmoid_focal_loss(
                x, t, alpha=a, gamma=g, where=WHERE if m else None, reduction=r
            )
            for (a, g, m, r) in grid
        ]

    for (a, g, m, r), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        want = ref.sigmoid_focal_loss(
            logits, targets, alpha=a, gamma=g, where=WHERE if m else None, reduction=r
        )
        assert got.dtype == jnp.float32
        assert_close(got, want)


def test_sigmoid_focal_default_alpha_and_gamma():
    logits, targets = make_inputs()
    assert_close(
        jaxloss.sigmoid_focal_loss(logits, targets),
        ref.sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0),
    )


def test_integer_and_boolean_targets():
    logits, targets = make_inputs()
    hard = (targets > 0.5).astype(np.int32)
    want = ref.binary_cross_entropy_with_logits(logits, hard)
    assert_close(jaxloss.binary_cross_entropy_with_logits(logits, hard), want)
    assert_close(jaxloss.binary_cross_entropy_with_logits(logits, hard.astype(bool)), want)
    assert_close(
        jaxloss.sigmoid_focal_loss(logits, hard.astype(bool)),
        ref.sigmoid_focal_loss(logits, hard),
    )


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"])
def test_gradient_matches_finite_differences_of_reference(loss):
    logits, targets = make_inputs()
    if loss == "binary_cross_entropy_with_logits":
        kwargs = {"pos_weight": POS_WEIGHT, "weights": WEIGHTS, "where": WHERE}
    else:
        kwargs = {"alpha": 0.25, "gamma": 0.5, "where": WHERE}
    got = jax.jit(jax.grad(lambda x: getattr(jaxloss, loss)(x, targets, **kwargs)))(logits)
    want = fd_grad(lambda x: getattr(ref, loss)(x, targets, **kwargs), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert (np.asarray(got)[~np.broadcast_to(WHERE, SHAPE)] == 0).all()


def test_sigmoid_focal_finite_at_saturated_logits():
    """torchvision's gradient is NaN here for gamma < 1; jaxloss's is finite."""
    logits = np.array([[100.0, -100.0, 100.0, -100.0]] * 2, np.float32)
    targets = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.5]], np.float32)
    for gamma in (0.0, 0.5, 2.0):
        value, grad = jax.value_and_grad(
            lambda x, g=gamma: jaxloss.sigmoid_focal_loss(x, targets, gamma=g)
        )(logits)
        assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()
        assert_close(value, ref.sigmoid_focal_loss(logits, targets, gamma=gamma), rtol=1e-5)
    value, grad = jax.value_and_grad(
        lambda x: jaxloss.binary_cross_entropy_with_logits(x, targets, pos_weight=POS_WEIGHT)
    )(logits)
    assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()


# ---------------------------------------------------------------------------------------------
# metamorphic and numerics
# ---------------------------------------------------------------------------------------------


def test_sigmoid_focal_gamma_zero_without_alpha_is_bce():
    logits, targets = make_inputs()
    for r in REDUCTIONS:
        assert_close(
            jaxloss.sigmoid_focal_loss(logits, targets, alpha=None, gamma=0.0, reduction=r),
            jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction=r),
            rtol=1e-6,
        )


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"])
def test_where_equals_computing_on_the_subset(loss):
    logits, targets = make_inputs()
    rows = WHERE[:, 0]
    fn = getattr(jaxloss, loss)
    for r in ("sum", "mean"):
        assert_close(
            fn(logits, targets, where=WHERE, reduction=r),
            fn(logits[rows], targets[rows], reduction=r),
            rtol=1e-6,
        )
    per = np.asarray(fn(logits, targets, where=WHERE, reduction="none"))
    assert (per[~rows] == 0).all()


def test_bce_huge_logits_exact():
    logits = np.array([1e4, -1e4, 1e4, -1e4], np.float32)
    targets = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    per = np.asarray(jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction="none"))
    np.testing.assert_array_equal(per, [0.0, 0.0, 1e4, 1e4])


def test_all_masked_mean_is_zero():
    logits, targets = make_inputs()
    none = np.zeros((6, 1), bool)
    for fn in (jaxloss.binary_cross_entropy_with_logits, jaxloss.sigmoid_focal_loss):
        value, grad = jax.value_and_grad(lambda x, fn=fn: fn(x, targets, where=none))(logits)
        assert value == 0.0
        assert (np.asarray(grad) == 0).all()


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"])
def test_bfloat16_input(loss):
    logits, targets = make_inputs(scale=1.0)
    x = jnp.asarray(logits, jnp.bfloat16)
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    for r in REDUCTIONS:
        got = fn(x, targets, reduction=r)
        assert got.dtype == jnp.float32
        assert_close(got, ref_fn(logits, targets, reduction=r), rtol=BF16_RTOL, atol=0.02)
        assert_close(got, ref_fn(np.asarray(x.astype(jnp.float32)), targets, reduction=r))


# ---------------------------------------------------------------------------------------------
# traceable hyperparameters
# ---------------------------------------------------------------------------------------------


def _assert_vmap_matches_loop(fn, values):
    batched = jax.jit(jax.vmap(fn))(jnp.asarray(values))
    looped = np.stack([np.asarray(fn(v)) for v in values])
    assert_close(batched, looped, rtol=1e-6, atol=1e-6)
    return batched


def test_vmap_over_pos_weight_and_weights():
    logits, targets = make_inputs()
    pos_weights = np.stack([np.ones(4), POS_WEIGHT, 3 * POS_WEIGHT]).astype(np.float32)
    got = _assert_vmap_matches_loop(
        lambda pw: jaxloss.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw),
        pos_weights,
    )
    assert_close(got, [ref.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw)
                       for pw in pos_weights])
    weights = np.stack([np.ones((6, 1)), WEIGHTS, WEIGHTS[::-1]]).astype(np.float32)
    got = _assert_vmap_matches_loop(
        lambda w: jaxloss.binary_cross_entropy_with_logits(logits, targets, weights=w), weights
    )
    assert_close(got, [ref.binary_cross_entropy_with_logits(logits, targets, weights=w)
                       for w in weights])


def test_vmap_over_alpha_and_gamma():
    logits, targets = make_inputs()
    alphas = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    got = _assert_vmap_matches_loop(
        lambda a: jaxloss.sigmoid_focal_loss(logits, targets, alpha=a), alphas
    )
    assert_close(got, [ref.sigmoid_focal_loss(logits, targets, alpha=float(a)) for a in alphas])
    gammas = np.array([0.0, 0.5, 2.0, 5.0], np.float32)
    got = _assert_vmap_matches_loop(
        lambda g: jaxloss.sigmoid_focal_loss(logits, targets, gamma=g), gammas
    )
    assert_close(got, [ref.sigmoid_focal_loss(logits, targets, gamma=g) for g in gammas])
    dg, da = jax.grad(
        lambda g, a: jaxloss.sigmoid_focal_loss(logits, targets, gamma=g, alpha=a), (0, 1)
    )(jnp.float32(0.0), jnp.float32(0.25))
    assert np.isfinite(dg) and np.isfinite(da)


# ---------------------------------------------------------------------------------------------
# axis_name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"])
def test_axis_name_mean_is_global(loss):
    """Two "devices" with 3 and 1 kept rows: the global mean, not the mean of the two means."""
    logits, targets = make_inputs((2, 4, 3))
    where = np.array([[True, True, True, False], [False, False, True, False]])[..., None]
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)

    def per_device(x, t, m):
        return (
            fn(x, t, where=m, reduction="mean", axis_name="d"),
            fn(x, t, where=m, reduction="sum", axis_name="d"),
        )

    means, sums = jax.jit(jax.vmap(per_device, axis_name="d"))(logits, targets, where)
    flat = (logits.reshape(8, 3), targets.reshape(8, 3))
    global_mean = ref_fn(*flat, where=where.reshape(8, 1))
    assert_close(means, [global_mean, global_mean])
    global_sum = ref_fn(*flat, where=where.reshape(8, 1), reduction="sum")
    assert_close(sums, [global_sum, global_sum])
    local = [ref_fn(logits[d], targets[d], where=where[d]) for d in range(2)]
    assert not np.isclose(np.mean(local), global_mean)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------


@functools.cache
def _traced_fn(loss):
    def run(x, t, hyper):
        if loss == "binary_cross_entropy_with_logits":
            return jaxloss.binary_cross_entropy_with_logits(
                x, t, pos_weight=hyper[0], weights=hyper[1]
            )
        return jaxloss.sigmoid_focal_loss(x, t, alpha=hyper[0], gamma=hyper[1])

    return jax.jit(run)


@given(
    loss=st.sampled_from(["binary_cross_entropy_with_logits", "sigmoid_focal_loss"]),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0, 50.0]),
    a=st.floats(0.0, 1.0),
    b=st.floats(0.0, 4.0),
)
def test_property_random_inputs_match_reference(loss, seed, scale, a, b):
    logits, targets = make_inputs(seed=seed, scale=scale)
    got = _traced_fn(loss)(logits, targets, (np.float32(a), np.float32(b)))
    a, b = float(np.float32(a)), float(np.float32(b))
    if loss == "binary_cross_entropy_with_logits":
        want = ref.binary_cross_entropy_with_logits(logits, targets, pos_weight=a, weights=b)
    else:
        want = ref.sigmoid_focal_loss(logits, targets, alpha=a, gamma=b)
    assert_close(got, want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# binary_cross_entropy: probabilities, PyTorch's F.binary_cross_entropy (issue 11)
# ---------------------------------------------------------------------------------------------


def make_probs(shape=SHAPE, seed=0):
    """Probabilities with exact 0s and 1s (the clamped logs) and soft targets."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=shape).astype(np.float32)
    p.reshape(-1)[:4] = [0.0, 1.0, 0.0, 1.0]
    _, targets = make_inputs(shape, seed)
    targets.reshape(-1)[:4] = [1.0, 0.0, 0.0, 1.0]
    return p, targets


ELEMENT_WEIGHTS = np.linspace(0.1, 2.0, 24, dtype=np.float32).reshape(SHAPE)


def test_bce_probs_parity_grid(mode):
    p, y = make_probs()
    grid = [(w, m, r) for w in (None, WEIGHTS, ELEMENT_WEIGHTS) for m in (None, WHERE)
            for r in REDUCTIONS]

    def run(p, y):
        return [jaxloss.binary_cross_entropy(p, y, weights=w, where=m, reduction=r)
                for w, m, r in grid]

    for (w, m, r), got in zip(grid, maybe_jit(mode, run)(p, y), strict=True):
        assert got.dtype == jnp.float32
        assert_close(got, ref.binary_cross_entropy(p, y, weights=w, where=m, reduction=r))


def test_bce_on_probabilities_is_not_bce_on_logits():
    """Probabilities given to binary_cross_entropy: PyTorch's 0.2798, not the 0.5256 that
    reading them as logits gives."""
    p = np.array([[0.9, 0.2, 0.6]], np.float32)
    y = np.array([[1.0, 0.0, 1.0]], np.float32)
    assert_close(jaxloss.binary_cross_entropy(p, y), 0.27977657318115234)  # torch 2.13 float32
    assert_close(jaxloss.binary_cross_entropy_with_logits(p, y), 0.5256, atol=1e-4)


def test_bce_probs_log_clamped_at_minus_100():
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1e-30], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 1.0], np.float32)
    per = np.asarray(jaxloss.binary_cross_entropy(p, y, reduction="none"))
    np.testing.assert_allclose(per, [100.0, 100.0, 0.0, 0.0, 50.0, -np.log(1e-30)], rtol=1e-6)


def test_bce_probs_gradients_are_pytorchs_at_the_edges():
    """d/dp = w (p - y) / max(p (1 - p), 1e-12) (ATen's backward, finite at 0 and 1);
    d/dy = max(log(1 - p), -100) - max(log p, -100), finite where PyTorch's is +-inf."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.3], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.6], np.float32)
    w = np.array([1.0, 2.0, 1.0, 1.0, 0.5, 3.0], np.float32)
    gp, gy = jax.grad(lambda a, b: jaxloss.binary_cross_entropy(a, b, weights=w,
                                                                reduction="sum"),
                      argnums=(0, 1))(p, y)
    floor = np.float32(1e-12)
    want_p = w * (p - y) / np.maximum(p * (1 - p), floor)
    np.testing.assert_allclose(gp, want_p, rtol=1e-6)
    with np.errstate(divide="ignore"):
        want_y = w * (np.maximum(np.log1p(-p.astype(np.float64)), -100)
                      - np.maximum(np.log(p.astype(np.float64)), -100))
    np.testing.assert_allclose(gy, want_y, rtol=1e-6)
    assert np.isfinite(gp).all() and np.isfinite(gy).all()


def test_bce_probs_gradient_matches_finite_differences_of_reference():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, SHAPE).astype(np.float32)
    _, y = make_inputs()
    kwargs = {"weights": WEIGHTS, "where": WHERE}
    gp, gy = jax.jit(jax.grad(lambda a, b: jaxloss.binary_cross_entropy(a, b, **kwargs),
                              argnums=(0, 1)))(p, y)
    np.testing.assert_allclose(gp, fd_grad(lambda a: ref.binary_cross_entropy(a, y, **kwargs), p),
                               rtol=GRAD_RTOL, atol=GRAD_ATOL)
    np.testing.assert_allclose(gy, fd_grad(lambda b: ref.binary_cross_entropy(p, b, **kwargs), y),
                               rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert (np.asarray(gp)[~np.broadcast_to(WHERE, SHAPE)] == 0).all()


def test_bce_probs_of_sigmoid_is_bce_with_logits():
    logits, targets = make_inputs(scale=2.0)
    with jax.enable_x64(True):
        x = logits.astype(np.float64)
        for r in REDUCTIONS:
            np.testing.assert_allclose(
                jaxloss.binary_cross_entropy(jax.nn.sigmoid(x), targets, reduction=r),
                jaxloss.binary_cross_entropy_with_logits(x, targets, reduction=r), rtol=1e-10)


def test_bce_probs_outside_unit_interval_is_nan_not_clamped():
    p = np.array([0.5, 1.5, -0.25, 0.5], np.float32)
    y = np.array([1.0, 1.0, 0.0, 0.0], np.float32)
    per = np.asarray(jaxloss.binary_cross_entropy(p, y, reduction="none"))
    assert np.isfinite(per[[0, 3]]).all() and np.isnan(per[[1, 2]]).all()


def test_bce_probs_where_subset_all_masked_and_bf16():
    p, y = make_probs()
    rows = WHERE[:, 0]
    for r in ("sum", "mean"):
        assert_close(jaxloss.binary_cross_entropy(p, y, where=WHERE, reduction=r),
                     jaxloss.binary_cross_entropy(p[rows], y[rows], reduction=r), rtol=1e-6)
    value, grad = jax.value_and_grad(
        lambda a: jaxloss.binary_cross_entropy(a, y, where=np.zeros((6, 1), bool)))(p)
    assert value == 0.0 and (np.asarray(grad) == 0).all()
    pb = jnp.asarray(np.clip(p, 0.01, 0.99), jnp.bfloat16)
    got = jaxloss.binary_cross_entropy(pb, y)
    assert got.dtype == jnp.float32
    assert_close(got, ref.binary_cross_entropy(np.asarray(pb.astype(jnp.float32)), y))


def test_bce_probs_vmap_over_weights():
    p, y = make_probs()
    weights = np.stack([np.ones(SHAPE), ELEMENT_WEIGHTS, ELEMENT_WEIGHTS[::-1]]).astype(np.float32)
    got = _assert_vmap_matches_loop(
        lambda w: jaxloss.binary_cross_entropy(p, y, weights=w), weights)
    assert_close(got, [ref.binary_cross_entropy(p, y, weights=w) for w in weights])


# ---------------------------------------------------------------------------------------------
# issue 12, item 2: label smoothing, kornia's pos_weight/class_weights, the asymmetric loss
# ---------------------------------------------------------------------------------------------

CLASS_WEIGHTS = np.array([1.0, 0.3, 2.0, 0.7], np.float32)


def test_bce_label_smoothing_parity_grid(mode):
    logits, targets = make_inputs()
    grid = [(eps, pw, r) for eps in (0.0, 0.1, 1.0) for pw in (None, POS_WEIGHT)
            for r in REDUCTIONS]

    def run(x, t):
        return [jaxloss.binary_cross_entropy_with_logits(x, t, label_smoothing=eps,
                                                         pos_weight=pw, reduction=r)
                for eps, pw, r in grid]

    for (eps, pw, r), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        assert_close(got, ref.binary_cross_entropy_with_logits(
            logits, targets, label_smoothing=eps, pos_weight=pw, reduction=r))


def test_bce_label_smoothing_is_keras_and_twice_smps_smooth_factor():
    """Keras moves the targets towards 1/2 by eps; SMP's smooth_factor s moves them by s:
    SoftBCEWithLogitsLoss(smooth_factor=s) is label_smoothing=2 s."""
    logits, targets = make_inputs()
    hard = (targets > 0.5).astype(np.float32)
    assert_close(jaxloss.binary_cross_entropy_with_logits(logits, hard, label_smoothing=0.2),
                 ref.smp_soft_bce_with_logits(logits, hard, smooth_factor=0.1))
    smoothed = 0.8 * hard + 0.1
    assert_close(jaxloss.binary_cross_entropy_with_logits(logits, hard, label_smoothing=0.2),
                 jaxloss.binary_cross_entropy_with_logits(logits, smoothed), rtol=1e-6)


def test_bce_label_smoothing_zero_is_pytorchs_loss_exactly():
    logits, targets = make_inputs()
    for r in REDUCTIONS:
        np.testing.assert_array_equal(
            jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction=r,
                                                     label_smoothing=0.0),
            jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction=r))


def test_sigmoid_focal_pos_weight_class_weights_parity_grid(mode):
    logits, targets = make_inputs()
    grid = [(pw, cw, a, g, r) for pw in (None, POS_WEIGHT) for cw in (None, CLASS_WEIGHTS)
            for a in (0.25, None) for g in (0.5, 2.0) for r in ("none", "mean")]

    def run(x, t):
        return [jaxloss.sigmoid_focal_loss(x, t, pos_weight=pw, class_weights=cw, alpha=a,
                                           gamma=g, reduction=r)
                for pw, cw, a, g, r in grid]

    for (pw, cw, a, g, r), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        assert_close(got, ref.sigmoid_focal_loss(logits, targets, pos_weight=pw,
                                                 class_weights=cw, alpha=a, gamma=g,
                                                 reduction=r))


@pytest.mark.parametrize("alpha", [0.25, None])
def test_sigmoid_focal_is_kornias_on_hard_targets(alpha):
    """kornia's binary_focal_loss_with_logits on channel-first (N, C, H, W) with (C,) weights
    is jaxloss's with (C, 1, 1) weights, on 0/1 targets."""
    logits, targets = make_inputs(SHAPE_4D)
    hard = (targets > 0.5).astype(np.float32)
    for r in ("none", "mean", "sum"):
        got = jaxloss.sigmoid_focal_loss(
            logits, hard, alpha=alpha, gamma=2.0, pos_weight=POS_WEIGHT.reshape(4, 1, 1),
            class_weights=CLASS_WEIGHTS.reshape(4, 1, 1), reduction=r)
        assert_close(got, ref.kornia_binary_focal_loss_with_logits(
            logits, hard, alpha=alpha, gamma=2.0, pos_weight=POS_WEIGHT, weight=CLASS_WEIGHTS,
            reduction=r))


def test_sigmoid_focal_unit_weights_change_nothing():
    logits, targets = make_inputs()
    ones = np.ones(4, np.float32)
    for r in REDUCTIONS:
        assert_close(jaxloss.sigmoid_focal_loss(logits, targets, pos_weight=ones,
                                                class_weights=ones, reduction=r),
                     jaxloss.sigmoid_focal_loss(logits, targets, reduction=r), rtol=1e-6)


def test_sigmoid_focal_gamma_zero_with_pos_weight_is_bce():
    logits, targets = make_inputs()
    assert_close(
        jaxloss.sigmoid_focal_loss(logits, targets, alpha=None, gamma=0.0, pos_weight=POS_WEIGHT),
        jaxloss.binary_cross_entropy_with_logits(logits, targets, pos_weight=POS_WEIGHT),
        rtol=1e-6)


def _asl_inputs(shape=SHAPE, seed=0):
    """Logits on both sides of the clip (sigmoid(-2.94) = 0.05) and soft/hard targets."""
    return make_inputs(shape, seed)


def test_asymmetric_loss_parity_grid(mode):
    logits, targets = _asl_inputs()
    grid = [(gp, gn, c, m, r) for gp, gn in ((1.0, 4.0), (0.0, 4.0), (0.5, 1.5), (0.0, 0.0))
            for c in (0.05, 0.0, 0.3) for m in (None, WHERE) for r in REDUCTIONS]

    def run(x, t):
        return [jaxloss.asymmetric_loss(x, t, gamma_pos=gp, gamma_neg=gn, clip=c, where=m,
                                        reduction=r)
                for gp, gn, c, m, r in grid]

    for (gp, gn, c, m, r), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        assert got.dtype == jnp.float32
        assert_close(got, ref.asymmetric_loss(logits, targets, gamma_pos=gp, gamma_neg=gn,
                                              clip=c, where=m, reduction=r))


def test_asymmetric_loss_defaults_are_the_authors():
    logits, targets = _asl_inputs()
    assert_close(jaxloss.asymmetric_loss(logits, targets),
                 ref.asymmetric_loss(logits, targets, gamma_pos=1.0, gamma_neg=4.0, clip=0.05))


def test_asymmetric_loss_is_the_authors_code():
    """The authors' AsymmetricLoss (eps=1e-8 clamp, -loss.sum()) is reduction="sum" wherever
    no probability is below eps; below it their loss is flat and jaxloss's keeps growing."""
    logits, targets = _asl_inputs()
    for gp, gn, c in ((1, 4, 0.05), (0, 4, 0.05), (2, 1, 0.0)):
        assert_close(
            jaxloss.asymmetric_loss(logits, targets, gamma_pos=gp, gamma_neg=gn, clip=c,
                                    reduction="sum"),
            ref.asymmetric_loss_authors(logits, targets, gamma_pos=gp, gamma_neg=gn, clip=c))
    x = np.array([-25.0], np.float32)
    y = np.array([1.0], np.float32)
    ours = float(jaxloss.asymmetric_loss(x, y, gamma_pos=0.0, reduction="sum"))
    np.testing.assert_allclose(ours, 25.0, rtol=1e-6)
    np.testing.assert_allclose(ref.asymmetric_loss_authors(x, y, gamma_pos=0), -np.log(1e-8))


def test_asymmetric_loss_special_cases():
    """gamma_pos = gamma_neg = g with clip=0 is sigmoid_focal_loss(alpha=None, gamma=g), soft
    targets included; all zero is binary_cross_entropy_with_logits."""
    logits, targets = _asl_inputs()
    for r in REDUCTIONS:
        for g in (0.5, 2.0):
            assert_close(
                jaxloss.asymmetric_loss(logits, targets, gamma_pos=g, gamma_neg=g, clip=0.0,
                                        reduction=r),
                jaxloss.sigmoid_focal_loss(logits, targets, alpha=None, gamma=g, reduction=r),
                rtol=1e-5)
        assert_close(
            jaxloss.asymmetric_loss(logits, targets, gamma_pos=0.0, gamma_neg=0.0, clip=0.0,
                                    reduction=r),
            jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction=r), rtol=1e-6)


def test_asymmetric_loss_easy_negatives_cost_nothing():
    """p <= clip on a negative: loss and gradient exactly 0 (the shifted probability is 0)."""
    x = np.array([-4.0, -3.0, -2.5, 1.0], np.float32)  # sigmoid: 0.018, 0.047, 0.076, 0.73
    y = np.zeros(4, np.float32)
    per, grad = jax.value_and_grad(
        lambda a: jaxloss.asymmetric_loss(a, y, reduction="none").sum())(x)
    per = np.asarray(jaxloss.asymmetric_loss(x, y, reduction="none"))
    assert (per[:2] == 0).all() and (per[2:] > 0).all()
    assert (np.asarray(grad)[:2] == 0).all() and (np.asarray(grad)[2:] > 0).all()


@pytest.mark.parametrize("kind", ["float", "bool", "int"])
def test_asymmetric_loss_hard_targets_path(kind, mode):
    """Concrete integer gammas with 0/1 targets take y s^g+ + (1 - y) s^g- (static for bool
    and integer targets, a lax.cond on the float ones): values and gradients (logits, and
    targets for float ones) equal the reference, with and without `where`; one soft target
    sends the whole batch to the general path, still exact."""
    logits, targets = _asl_inputs()
    hard = (targets > 0.5).astype({"float": np.float32, "bool": bool, "int": np.int32}[kind])
    hard64 = hard.astype(np.float64)
    grid = [(gp, gn, c, m, r) for gp, gn in ((1, 4), (0, 2), (3, 0)) for c in (0.05, 0.0)
            for m in (None, WHERE) for r in REDUCTIONS]

    def run(x, t):
        return [jaxloss.asymmetric_loss(x, t, gamma_pos=gp, gamma_neg=gn, clip=c, where=m,
                                        reduction=r) for gp, gn, c, m, r in grid]

    for (gp, gn, c, m, r), got in zip(grid, maybe_jit(mode, run)(logits, hard), strict=True):
        assert_close(got, ref.asymmetric_loss(logits, hard64, gamma_pos=gp, gamma_neg=gn,
                                              clip=c, where=m, reduction=r))
    kwargs = {"gamma_pos": 1, "gamma_neg": 4, "clip": 0.05, "where": WHERE}
    got = jax.jit(jax.grad(lambda x: jaxloss.asymmetric_loss(x, hard, **kwargs)))(logits)
    want = fd_grad(lambda x: ref.asymmetric_loss(x, hard64, **kwargs), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    if kind == "float":
        # d/dtargets at 0/1 is that of the general exponent g_y (with its log s term).
        got = jax.grad(lambda t: jaxloss.asymmetric_loss(logits, t, **kwargs))(hard)
        general = jax.grad(lambda t: jaxloss.asymmetric_loss(
            logits, t, gamma_pos=1.0 + 0.0 * t[0, 0], gamma_neg=4.0, clip=0.05,
            where=WHERE))(hard)
        assert_close(got, general, rtol=1e-5, atol=1e-7)
        soft = hard.copy()
        soft[0, 0] = 0.5
        assert_close(jaxloss.asymmetric_loss(logits, soft, **kwargs),
                     ref.asymmetric_loss(logits, soft, **kwargs))


LOSSES_NEW = ["binary_cross_entropy_with_logits", "sigmoid_focal_loss", "asymmetric_loss"]
NEW_KWARGS = {
    "binary_cross_entropy_with_logits": {"label_smoothing": 0.1, "pos_weight": POS_WEIGHT},
    "sigmoid_focal_loss": {"gamma": 1.5, "pos_weight": POS_WEIGHT,
                           "class_weights": CLASS_WEIGHTS},
    "asymmetric_loss": {"gamma_pos": 0.5, "gamma_neg": 3.0, "clip": 0.1},
}


@pytest.mark.parametrize("loss", LOSSES_NEW)
def test_new_options_gradient_matches_finite_differences_of_reference(loss):
    logits, targets = _asl_inputs()
    kwargs = {**NEW_KWARGS[loss], "where": WHERE}
    got = jax.jit(jax.grad(lambda x: getattr(jaxloss, loss)(x, targets, **kwargs)))(logits)
    want = fd_grad(lambda x: getattr(ref, loss)(x, targets, **kwargs), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert (np.asarray(got)[~np.broadcast_to(WHERE, SHAPE)] == 0).all()


@pytest.mark.parametrize("loss", LOSSES_NEW)
def test_new_options_finite_at_saturated_logits(loss):
    logits = np.array([[100.0, -100.0, 100.0, -100.0]] * 2, np.float32)
    targets = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.5]], np.float32)
    fn = getattr(jaxloss, loss)
    extra = ({"gamma_pos": 0.0, "gamma_neg": 0.5}, {"gamma_pos": 0.5, "gamma_neg": 0.0})
    for kwargs in (NEW_KWARGS[loss],) + (extra if loss == "asymmetric_loss" else ()):
        value, grad = jax.value_and_grad(lambda x, kw=kwargs: fn(x, targets, **kw))(logits)
        assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()
        assert_close(value, getattr(ref, loss)(logits, targets, **kwargs), rtol=1e-5)


def test_infinite_logits_with_their_target_cost_nothing():
    """An infinite logit counts as the largest float: 0 with the matching target (PyTorch:
    NaN), the largest float with the other one (the asymmetric loss without its clip, which
    bounds a negative's cost by -log(clip)); gradients finite."""
    x = np.array([np.inf, -np.inf, np.inf, -np.inf], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    asl = functools.partial(jaxloss.asymmetric_loss, clip=0.0)
    asl.__name__ = "asymmetric_loss"
    for fn in (jaxloss.binary_cross_entropy_with_logits, jaxloss.sigmoid_focal_loss, asl):
        per = np.asarray(fn(x, y, reduction="none"))
        assert (per[:2] == 0).all(), fn.__name__
        assert (per[2:] > 1e30).all() and np.isfinite(per).all(), fn.__name__
        assert np.isfinite(np.asarray(jax.grad(lambda a, fn=fn: fn(a, y))(x))).all()


@pytest.mark.parametrize("loss", LOSSES_NEW)
def test_new_options_where_equals_subset_and_bf16(loss):
    logits, targets = make_inputs(scale=1.0)
    rows = WHERE[:, 0]
    fn = getattr(jaxloss, loss)
    kwargs = NEW_KWARGS[loss]
    for r in ("sum", "mean"):
        assert_close(fn(logits, targets, where=WHERE, reduction=r, **kwargs),
                     fn(logits[rows], targets[rows], reduction=r, **kwargs), rtol=1e-6)
    x = jnp.asarray(logits, jnp.bfloat16)
    got = fn(x, targets, **kwargs)
    assert got.dtype == jnp.float32
    assert_close(got, getattr(ref, loss)(np.asarray(x.astype(jnp.float32)), targets, **kwargs))


def test_vmap_over_the_new_hyperparameters():
    logits, targets = make_inputs()
    eps = np.array([0.0, 0.1, 0.5], np.float32)
    got = _assert_vmap_matches_loop(
        lambda e: jaxloss.binary_cross_entropy_with_logits(logits, targets, label_smoothing=e),
        eps)
    assert_close(got, [ref.binary_cross_entropy_with_logits(logits, targets, label_smoothing=e)
                       for e in eps])
    cws = np.stack([np.ones(4), CLASS_WEIGHTS, 2 * CLASS_WEIGHTS]).astype(np.float32)
    got = _assert_vmap_matches_loop(
        lambda c: jaxloss.sigmoid_focal_loss(logits, targets, class_weights=c), cws)
    assert_close(got, [ref.sigmoid_focal_loss(logits, targets, class_weights=c) for c in cws])
    got = _assert_vmap_matches_loop(
        lambda p: jaxloss.sigmoid_focal_loss(logits, targets, pos_weight=p), cws)
    assert_close(got, [ref.sigmoid_focal_loss(logits, targets, pos_weight=p) for p in cws])
    hyper = np.array([[1.0, 4.0, 0.05], [0.0, 2.0, 0.0], [0.5, 0.5, 0.2]], np.float32)
    got = _assert_vmap_matches_loop(
        lambda h: jaxloss.asymmetric_loss(logits, targets, gamma_pos=h[0], gamma_neg=h[1],
                                          clip=h[2]), hyper)
    assert_close(got, [ref.asymmetric_loss(logits, targets, gamma_pos=h[0], gamma_neg=h[1],
                                           clip=h[2]) for h in hyper])


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "asymmetric_loss"])
def test_axis_name_mean_is_global_new(loss):
    logits, targets = make_inputs((2, 4, 3))
    where = np.array([[True, True, True, False], [False, False, True, False]])[..., None]
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    kwargs = {"label_smoothing": 0.1} if loss != "asymmetric_loss" else {}
    for m in (None, where):
        means = jax.jit(jax.vmap(
            lambda x, t, mm: fn(x, t, where=mm, axis_name="d", **kwargs), axis_name="d",
            in_axes=(0, 0, None if m is None else 0)))(logits, targets, m)
        flat_where = None if m is None else m.reshape(8, 1)
        want = ref_fn(logits.reshape(8, 3), targets.reshape(8, 3), where=flat_where, **kwargs)
        assert_close(means, [want, want])


# ---------------------------------------------------------------------------------------------
# issue 12, item 5: per-element `weights` on sigmoid_focal_loss and asymmetric_loss (PyTorch's
# BCE `weight` rule: w * l per element, never in the denominator)
# ---------------------------------------------------------------------------------------------


FOCAL_FAMILY = ["sigmoid_focal_loss", "asymmetric_loss"]
ELEMENT_WEIGHTS_64 = np.random.default_rng(5).uniform(0.1, 3.0, SHAPE).astype(np.float32)
WEIGHT_SHAPES = {"row": WEIGHTS, "element": ELEMENT_WEIGHTS_64, "class": CLASS_WEIGHTS}
FAMILY_KWARGS = {  # a non-integer gamma and the class weights with the focal loss
    "sigmoid_focal_loss": {"gamma": 1.5, "class_weights": CLASS_WEIGHTS},
    "asymmetric_loss": {"gamma_pos": 0.5, "gamma_neg": 3.0, "clip": 0.1},
}


@pytest.mark.parametrize("loss", FOCAL_FAMILY)
def test_weights_parity_grid(loss, mode):
    """weights per row, per element and per class x where on/off x each reduction (and with
    the focal loss's defaults and its class_weights), one compile."""
    logits, targets = make_inputs()
    grid = [(k, m, r, o) for k in WEIGHT_SHAPES for m in (None, WHERE) for r in REDUCTIONS
            for o in (False, True)]
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)

    def run(x, t):
        return [fn(x, t, weights=WEIGHT_SHAPES[k], where=m, reduction=r,
                   **(FAMILY_KWARGS[loss] if o else {}))
                for k, m, r, o in grid]

    for (k, m, r, o), got in zip(grid, maybe_jit(mode, run)(logits, targets), strict=True):
        assert got.dtype == jnp.float32
        assert_close(got, ref_fn(logits, targets, weights=WEIGHT_SHAPES[k], where=m, reduction=r,
                                 **(FAMILY_KWARGS[loss] if o else {})))


@pytest.mark.parametrize("loss", FOCAL_FAMILY)
def test_weights_rescale_each_element_and_never_the_denominator(loss):
    """"none" is w * l; "mean" is sum(w * l) over the kept elements / their count (not / sum
    w); unit weights change nothing."""
    logits, targets = make_inputs()
    fn = getattr(jaxloss, loss)
    w = ELEMENT_WEIGHTS_64
    plain = np.asarray(fn(logits, targets, reduction="none"), np.float64)
    assert_close(fn(logits, targets, weights=w, reduction="none"), w * plain)
    kept = np.broadcast_to(WHERE, SHAPE)
    assert_close(fn(logits, targets, weights=w, where=WHERE),
                 np.sum(np.where(kept, w * plain, 0.0)) / kept.sum(), rtol=1e-6)
    for r in REDUCTIONS:
        np.testing.assert_allclose(
            fn(logits, targets, weights=np.ones(SHAPE, np.float32), reduction=r),
            fn(logits, targets, reduction=r), rtol=1e-6)


@pytest.mark.parametrize("loss", FOCAL_FAMILY)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_weights_gradients_match_finite_differences_of_reference(loss, reduction, masked):
    """d/dlogits and d/dweights (per element, and per row) against the float64 reference."""
    logits, targets = make_inputs()
    where = WHERE if masked else None
    kwargs = {**FAMILY_KWARGS[loss], "where": where, "reduction": reduction}
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    cot = np.random.default_rng(3).uniform(0.5, 1.5, SHAPE)  # a generic "none" cotangent

    def scalar(v):
        return v if reduction != "none" else jnp.sum(v * cot.astype(np.float32))

    def ref_scalar(v):
        return v if reduction != "none" else np.sum(v * cot)

    for w0 in (ELEMENT_WEIGHTS_64, WEIGHTS):
        gx, gw = jax.jit(jax.grad(lambda x, w: scalar(fn(x, targets, weights=w, **kwargs)),
                                  argnums=(0, 1)))(logits, w0)
        want_x = fd_grad(lambda x, w0=w0: ref_scalar(ref_fn(x, targets, weights=w0, **kwargs)),
                         logits)
        want_w = fd_grad(lambda w: ref_scalar(ref_fn(logits, targets, weights=w, **kwargs)), w0)
        np.testing.assert_allclose(gx, want_x, rtol=GRAD_RTOL, atol=GRAD_ATOL)
        np.testing.assert_allclose(gw, want_w, rtol=GRAD_RTOL, atol=GRAD_ATOL)
        if masked:
            assert (np.asarray(gx)[~np.broadcast_to(WHERE, SHAPE)] == 0).all()


def test_sigmoid_focal_class_weights_and_weights_are_one_multiplier():
    """class_weights * weights: either one alone, or their product, gives the same loss and
    the same gradient with respect to the logits."""
    logits, targets = make_inputs()
    both = CLASS_WEIGHTS * WEIGHTS
    for r in REDUCTIONS:
        want = jaxloss.sigmoid_focal_loss(logits, targets, weights=both, reduction=r)
        for kwargs in ({"class_weights": CLASS_WEIGHTS, "weights": WEIGHTS},
                       {"class_weights": both}):
            assert_close(jaxloss.sigmoid_focal_loss(logits, targets, reduction=r, **kwargs),
                         want, rtol=1e-6)
    gcw, gw = jax.grad(lambda c, w: jaxloss.sigmoid_focal_loss(
        logits, targets, class_weights=c, weights=w), argnums=(0, 1))(CLASS_WEIGHTS, WEIGHTS)
    per = ref.sigmoid_focal_loss(logits, targets, reduction="none") / logits.size
    assert_close(gcw, np.sum(per * WEIGHTS, axis=0), rtol=1e-5, atol=1e-7)
    assert_close(gw, np.sum(per * CLASS_WEIGHTS, axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", FOCAL_FAMILY)
def test_weights_vmap_and_finite_at_saturated_logits(loss):
    logits, targets = make_inputs()
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    ws = np.stack([np.ones((6, 1)), WEIGHTS, WEIGHTS[::-1]]).astype(np.float32)
    got = _assert_vmap_matches_loop(lambda w: fn(logits, targets, weights=w), ws)
    assert_close(got, [ref_fn(logits, targets, weights=w) for w in ws])
    x = np.array([[100.0, -100.0, 100.0, -100.0]] * 2, np.float32)
    t = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.5]], np.float32)
    w = np.array([[0.5], [2.0]], np.float32)
    value, grads = jax.value_and_grad(lambda a, b: fn(a, t, weights=b, **FAMILY_KWARGS[loss]),
                                      argnums=(0, 1))(x, w)
    assert np.isfinite(value) and all(np.isfinite(np.asarray(g)).all() for g in grads)
    assert_close(value, ref_fn(x, t, weights=w, **FAMILY_KWARGS[loss]), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# issue 12, item 6: no logits-sized temporary in the compiled forward + backward
# ---------------------------------------------------------------------------------------------


TEMP_OPTIONS = {  # per loss: option sets beyond the defaults and NEW_KWARGS
    "binary_cross_entropy_with_logits": [{"weights": WEIGHTS[:1]}],
    "sigmoid_focal_loss": [{"alpha": None}, {"gamma": 0.0, "pos_weight": POS_WEIGHT}],
    "asymmetric_loss": [{"gamma_pos": 0.0}, {"clip": 0.0}],
}


@pytest.mark.parametrize(
    "loss, options",
    [(loss, o) for loss in LOSSES_NEW for o in ["defaults", "options", 0, 1]
     if not isinstance(o, int) or o < len(TEMP_OPTIONS[loss])],
)
def test_value_and_grad_keeps_no_logits_sized_temporary(loss, options):
    """XLA's compiled temp bytes of jit(value_and_grad(loss)) ("mean", no mask) stay below a
    tenth of the logits (the gradient, an output, is not temp): the forward is one fused
    reduction and the backward one elementwise kernel (the old BCE kept two logits-sized
    temps, the old sigmoid focal seven)."""
    shape = (256, 100)
    x = jax.random.normal(jax.random.key(0), shape, jnp.float32)
    t = (jax.random.uniform(jax.random.key(1), shape) < 0.3).astype(jnp.float32)
    given = ({} if options == "defaults" else NEW_KWARGS[loss] if options == "options"
             else TEMP_OPTIONS[loss][options])
    kwargs = {k: np.resize(v, shape[-1:]) if np.ndim(v) else v for k, v in given.items()}
    fn = getattr(jaxloss, loss)
    compiled = jax.jit(jax.value_and_grad(lambda a, b: fn(a, b, **kwargs))).lower(x, t).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("no memory analysis on this backend")
    assert analysis.temp_size_in_bytes < x.nbytes / 10, analysis.temp_size_in_bytes


@pytest.mark.parametrize("loss", FOCAL_FAMILY)
@pytest.mark.parametrize("weights", ["row", "element", "class"])
def test_weighted_value_and_grad_keeps_no_logits_sized_temporary(loss, weights):
    """The same with `weights` (per row, per element, per class; with the focal loss's class
    weights too): they enter the kernels in the caller's shape. (Differentiating with respect
    to broadcast weights too keeps logits-sized temporaries, as it does for BCE: their
    gradient is a reduction of a logits-sized product.)"""
    shape = (256, 100)
    x = jax.random.normal(jax.random.key(0), shape, jnp.float32)
    t = (jax.random.uniform(jax.random.key(1), shape) < 0.3).astype(jnp.float32)
    w_shape = {"row": (256, 1), "element": shape, "class": (100,)}[weights]
    w = jax.random.uniform(jax.random.key(2), w_shape, jnp.float32)
    extra = {"class_weights": np.resize(CLASS_WEIGHTS, 100)} if loss == "sigmoid_focal_loss" else {}
    fn = getattr(jaxloss, loss)
    compiled = jax.jit(jax.value_and_grad(lambda a, b: fn(a, t, weights=b, **extra))).lower(
        x, w).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("no memory analysis on this backend")
    assert analysis.temp_size_in_bytes < x.nbytes / 10, analysis.temp_size_in_bytes


@pytest.mark.parametrize("clip", [1e-6, 0.009, 0.01, 0.05])
def test_asymmetric_negatives_exact_at_large_logits_for_each_clip(clip):
    """A concrete clip >= 0.01 takes log(1 - p + m) without the floor at log σ(-x) (fewer
    operations in the forward reduction); below, the floor keeps a negative with a large logit
    exact where 1 - p rounds to 0. Both against the float64 reference, value and gradient."""
    x = np.array([[5.0, 17.0, 30.0, 60.0, -1.0, 2.0]], np.float32)
    y = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 0.3]], np.float32)
    fn = functools.partial(jaxloss.asymmetric_loss, clip=clip, gamma_neg=2.0)
    assert_close(fn(x, y, reduction="none"),
                 ref.asymmetric_loss(x, y, clip=clip, gamma_neg=2.0, reduction="none"),
                 rtol=1e-5, atol=0)
    got = jax.grad(lambda a: fn(a, y, reduction="sum"))(x)
    want = fd_grad(lambda a: ref.asymmetric_loss(a, y, clip=clip, gamma_neg=2.0,
                                                 reduction="sum"), x)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_backward_log1p_polynomial_is_within_three_ulp():
    """The float32 tangent rules take softplus(-|x|) = log1p(e), e = exp(-|x|) in [0, 1], from
    a polynomial (XLA:CPU's log1p costs as much as the rest of the focal backward kernel):
    within 3 ulp of the float64 log1p over [1e-30, 1] (XLA's own log1p: about 3.2), 0 at 0;
    float64 keeps jnp.log1p."""
    from jaxloss._binary import _log1p_unit

    e = np.concatenate([np.geomspace(1e-30, 1.0, 100_001), np.linspace(0.0, 1.0, 100_001)])
    e = e.astype(np.float32)
    got = np.asarray(jax.jit(_log1p_unit)(e), np.float64)
    want = np.log1p(e.astype(np.float64))
    positive = want > 0
    assert got[~positive].tolist() == [0.0]
    ulps = np.abs(got - want)[positive] / want[positive] / 2.0**-24
    assert ulps.max() < 3.0, ulps.max()
    with jax.enable_x64(True):
        e64 = np.geomspace(1e-300, 1.0, 1001)
        np.testing.assert_array_equal(_log1p_unit(jnp.asarray(e64)), jnp.log1p(e64))


@pytest.mark.parametrize("loss", LOSSES_NEW)
def test_masked_value_and_grad_keeps_at_most_one_logits_sized_temporary(loss):
    """With `where`, "mean" keeps at most one logits-sized array (the select before the
    reduction, which XLA:CPU does not fuse): the gradient's size."""
    shape = (256, 100)
    x = jax.random.normal(jax.random.key(0), shape, jnp.float32)
    t = (jax.random.uniform(jax.random.key(1), shape) < 0.3).astype(jnp.float32)
    m = jax.random.uniform(jax.random.key(2), (256, 1)) < 0.7
    fn = getattr(jaxloss, loss)
    compiled = jax.jit(jax.value_and_grad(lambda a, b: fn(a, b, where=m))).lower(x, t).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("no memory analysis on this backend")
    assert analysis.temp_size_in_bytes <= 1.1 * x.nbytes, analysis.temp_size_in_bytes
