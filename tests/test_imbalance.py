"""logit_adjusted_cross_entropy, ldam_loss, poly1_cross_entropy: parity with the float64
reference (transcribed from Menon et al., the LDAM-DRW authors' code and optax's
poly_loss_cross_entropy), the reductions to cross_entropy, vmap over the hyperparameters.

As in test_classification.py, each test compiles one function for a whole grid.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit
from hypothesis import given
from hypothesis import strategies as st
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

C = 4
LAYOUTS = {"2d": ((6, C), -1), "4d_first": ((2, C, 3, 2), 1)}
WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
PRIORS = np.array([0.6, 0.25, 0.1, 0.05], np.float32)  # class_counts as priors: only ratios count
COUNTS = np.array([600, 250, 100, 5], np.int32)
REDUCTIONS = ("none", "sum", "mean")

# name -> (jax loss, reference, its hyperparameters, takes label_smoothing, probability targets)
LOSSES = {
    "logit_adjusted_cross_entropy": (
        jaxloss.logit_adjusted_cross_entropy, ref.logit_adjusted_cross_entropy,
        {"class_counts": PRIORS, "tau": 1.5}, True, True,
    ),
    "ldam_loss": (
        jaxloss.ldam_loss, ref.ldam_loss,
        {"class_counts": COUNTS, "max_margin": 0.5, "scale": 4.0}, False, False,
    ),
    "poly1_cross_entropy": (
        jaxloss.poly1_cross_entropy, ref.poly1_cross_entropy, {"epsilon": 1.5}, True, True,
    ),
}


def _element_shape(shape, axis):
    axis = axis % len(shape)
    return shape[:axis] + shape[axis + 1 :]


def make_inputs(layout, kind, seed=0):
    shape, axis = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    el = _element_shape(shape, axis)
    if kind == "prob":
        p = rng.dirichlet(np.ones(C), size=el)
        p.reshape(-1, C)[::2, 1] = 0.0  # exact zeros
        p /= p.sum(-1, keepdims=True)
        return logits, np.moveaxis(p, -1, axis).astype(np.float32), axis
    y = rng.integers(0, C, size=el).astype(np.int32)
    y.reshape(-1)[::3] = -100
    return logits, y, axis


def _grid(smoothing):
    return [
        (w, s, r)
        for w in (False, True)
        for s in ((0.0, 0.1) if smoothing else (0.0,))
        for r in REDUCTIONS
    ]


@functools.cache
def grid_fn(name, axis, mode):
    fn, _, hyper, smoothing, _ = LOSSES[name]

    def run(x, t):
        out = {}
        for w, s, r in _grid(smoothing):
            extra = {"label_smoothing": s} if smoothing else {}
            out[(w, s, r)] = fn(
                x, t, **hyper, class_weights=WEIGHTS if w else None, reduction=r, axis=axis,
                **extra,
            )
        return out

    return maybe_jit(mode, run)


CASES = [
    (name, layout, kind)
    for name, (_, _, _, _, probs) in LOSSES.items()
    for layout in LAYOUTS
    for kind in (("int", "prob") if probs else ("int",))
]


@pytest.mark.parametrize(("name", "layout", "kind"), CASES)
def test_parity_grid(name, layout, kind, mode):
    """Class weights on/off x smoothing (where taken) x each reduction, against the reference."""
    _, reference, hyper, smoothing, _ = LOSSES[name]
    x, t, axis = make_inputs(layout, kind)
    got = grid_fn(name, axis, mode)(x, t)
    for (w, s, r), value in got.items():
        extra = {"label_smoothing": s} if smoothing else {}
        want = reference(
            x, t, **hyper, class_weights=WEIGHTS if w else None, reduction=r, axis=axis, **extra
        )
        assert value.dtype == jnp.float32
        assert_close(value, want, rtol=5e-5, atol=5e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_where_and_sum_over_subset(name):
    """``where`` equals computing on the kept rows only ("mean" and "sum")."""
    fn, _, hyper, _, _ = LOSSES[name]
    x, y, _ = make_inputs("2d", "int", seed=3)
    keep = np.array([True, False, True, True, False, True])
    for r in ("mean", "sum"):
        masked = fn(x, y, **hyper, class_weights=WEIGHTS, where=keep, reduction=r)
        subset = fn(x[keep], y[keep], **hyper, class_weights=WEIGHTS, reduction=r)
        assert_close(masked, subset)


# ---------------------------------------------------------------------------------------------
# the special cases: cross_entropy exactly
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "prob"])
def test_tau_zero_and_epsilon_zero_are_cross_entropy_exactly(kind):
    x, t, axis = make_inputs("4d_first", kind, seed=1)
    for w in (None, WEIGHTS):
        for s in (0.0, 0.1):
            for r in REDUCTIONS:
                opts = dict(class_weights=w, label_smoothing=s, reduction=r, axis=axis)
                ce = np.asarray(jaxloss.cross_entropy(x, t, **opts))
                la = jaxloss.logit_adjusted_cross_entropy(
                    x, t, class_counts=PRIORS, tau=0.0, **opts
                )
                poly = jaxloss.poly1_cross_entropy(x, t, epsilon=0.0, **opts)
                np.testing.assert_array_equal(np.asarray(la), ce)
                np.testing.assert_array_equal(np.asarray(poly), ce)


def test_ldam_without_margin_is_scaled_cross_entropy():
    x, y, axis = make_inputs("4d_first", "int", seed=2)
    for r in REDUCTIONS:
        got = jaxloss.ldam_loss(
            x, y, class_counts=COUNTS, max_margin=0.0, scale=1.0, class_weights=WEIGHTS,
            reduction=r, axis=axis,
        )
        want = jaxloss.cross_entropy(x, y, class_weights=WEIGHTS, reduction=r, axis=axis)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_counts_and_priors_give_the_same_loss():
    """tau=1 with the class counts is the balanced softmax; only ratios matter, so the int32
    counts, as floats, and normalised to priors (the paper's pi) give the same loss."""
    x, y, _ = make_inputs("2d", "int", seed=4)
    counts = COUNTS.astype(np.float32)
    a = jaxloss.logit_adjusted_cross_entropy(x, y, class_counts=counts, reduction="none")
    for same in (COUNTS, counts / counts.sum(), 7.0 * counts):
        assert_close(
            jaxloss.logit_adjusted_cross_entropy(x, y, class_counts=same, reduction="none"), a
        )
    # Ren et al.'s balanced softmax: -log(n_y exp(x_y) / sum_c n_c exp(x_c)).
    x64 = x.astype(np.float64)
    log_weighted = np.log(counts.astype(np.float64)) + x64
    want = ref.logsumexp(log_weighted) - np.take_along_axis(
        log_weighted, np.where(y < 0, 0, y)[:, None], -1
    )[:, 0]
    assert_close(a, np.where(y == -100, 0.0, want))


def test_zero_count_is_an_impossible_class():
    """A class of count 0 (absent from the training set) gets logit -inf for tau > 0: the loss
    of the other classes is finite, with finite gradients; at tau = 0 it is cross_entropy."""
    x, y, _ = make_inputs("2d", "int", seed=5)
    y = np.where(y == 3, 0, y)
    counts = np.array([50, 30, 20, 0], np.int32)
    value, grad = jax.value_and_grad(
        lambda x, tau: jaxloss.logit_adjusted_cross_entropy(x, y, class_counts=counts, tau=tau),
        argnums=(0, 1),
    )(x, 1.0)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grad)
    np.testing.assert_array_equal(grad[0][:, 3], 0.0)
    assert_close(value, ref.logit_adjusted_cross_entropy(x, y, class_counts=counts, tau=1.0))
    at_zero = jaxloss.logit_adjusted_cross_entropy(x, y, class_counts=counts, tau=0.0)
    assert at_zero == jaxloss.cross_entropy(x, y)


@pytest.mark.parametrize("kind", ["int", "prob"])
def test_poly1_matches_optax(kind):
    """Without class weights, optax.losses.poly_loss_cross_entropy is the peer."""
    x, t, _ = make_inputs("2d", kind, seed=6)
    labels = np.eye(C, dtype=np.float32)[np.where(t < 0, 0, t)] if kind == "int" else t
    want = np.asarray(optax.losses.poly_loss_cross_entropy(x, labels, epsilon=2.0))
    # the reference transcribes the peer
    assert_close(ref.optax_poly_loss_cross_entropy(x, labels, 2.0), want, rtol=2e-5, atol=2e-5)
    got = jaxloss.poly1_cross_entropy(x, t, reduction="none")  # default epsilon: optax's 2.0
    assert_close(got, np.where(t == -100, 0.0, want) if kind == "int" else want)


# ---------------------------------------------------------------------------------------------
# transformations: gradients, vmap over the hyperparameters, dtypes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_match_finite_differences(name):
    fn, reference, hyper, smoothing, _ = LOSSES[name]
    x, y, axis = make_inputs("4d_first", "int", seed=7)
    x = x[:1].astype(np.float64)
    y = y[:1]
    extra = {"label_smoothing": 0.1} if smoothing else {}
    opts = dict(class_weights=WEIGHTS.astype(np.float64), axis=axis, **extra)
    with jax.enable_x64(True):
        got = jax.grad(lambda x: fn(x, y, **hyper, **opts))(jnp.asarray(x))
    want = fd_grad(lambda v: reference(v, y, **hyper, **opts), x)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_gradients_finite_at_extreme_logits_and_masked_positions():
    x = np.array([[100.0, -100.0, 0.0, 50.0], [-100.0, 100.0, -100.0, 0.0]], np.float32)
    y = np.array([1, -100], np.int32)
    for name, (fn, _, hyper, smoothing, _) in LOSSES.items():
        extra = {"label_smoothing": 0.1} if smoothing else {}
        g = jax.grad(lambda x, fn=fn, hyper=hyper, extra=extra: fn(x, y, **hyper, **extra))(x)
        assert np.all(np.isfinite(g)), name
        np.testing.assert_array_equal(g[1], 0.0, err_msg=name)


HYPERS = {  # the numeric hyperparameters vmapped over, with three values each
    "logit_adjusted_cross_entropy": {"tau": [0.0, 1.0, 2.0]},
    "ldam_loss": {"max_margin": [0.0, 0.3, 0.5], "scale": [1.0, 10.0, 30.0]},
    "poly1_cross_entropy": {"epsilon": [-1.0, 0.0, 2.0]},
}


@pytest.mark.parametrize("name", LOSSES)
def test_vmap_over_each_hyperparameter(name):
    fn, reference, hyper, _, _ = LOSSES[name]
    x, y, _ = make_inputs("2d", "int", seed=8)
    for hp, values in HYPERS[name].items():
        got = jax.jit(jax.vmap(lambda v, hp=hp: fn(x, y, **{**hyper, hp: v})))(
            jnp.asarray(values, jnp.float32)
        )
        for v, g in zip(values, got, strict=True):
            assert_close(g, reference(x, y, **{**hyper, hp: v}), rtol=5e-5, atol=5e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_bf16_logits_compute_in_float32(name):
    fn, reference, hyper, _, _ = LOSSES[name]
    x, y, _ = make_inputs("2d", "int", seed=9)
    xb = jnp.asarray(x, jnp.bfloat16)
    got = fn(xb, y, **hyper)
    assert got.dtype == jnp.float32
    want = reference(np.asarray(xb.astype(jnp.float32)), y, **hyper)
    np.testing.assert_allclose(got, want, rtol=BF16_RTOL)


def test_an_extra_class_at_minus_inf_changes_nothing():
    """Without smoothing, a class nobody can predict (logit -inf) leaves every loss as it was
    (for LDAM its count must not be the smallest, which would move the margins)."""
    x, y, _ = make_inputs("2d", "int", seed=10)
    x5 = np.concatenate([x, np.full((6, 1), -np.inf, np.float32)], axis=1)
    w5 = np.append(WEIGHTS, 7.0).astype(np.float32)
    pairs = [
        (jaxloss.logit_adjusted_cross_entropy, {"class_counts": PRIORS},
         {"class_counts": np.append(PRIORS, 0.3).astype(np.float32)}),
        (jaxloss.ldam_loss, {"class_counts": COUNTS},
         {"class_counts": np.append(COUNTS, 50).astype(np.int32)}),
        (jaxloss.poly1_cross_entropy, {"epsilon": 1.0}, {"epsilon": 1.0}),
    ]
    for fn, kw4, kw5 in pairs:
        for r in REDUCTIONS:
            want = fn(x, y, **kw4, class_weights=WEIGHTS, reduction=r)
            got = fn(x5, y, **kw5, class_weights=w5, reduction=r)
            assert_close(got, want)
            g = jax.grad(lambda x, fn=fn, kw5=kw5: fn(x, y, **kw5, class_weights=w5))(x5)
            assert np.all(np.isfinite(g))


@functools.cache
def _traced_all():
    def run(x, y, w, priors, tau, counts, margin, scale, eps, smoothing):
        return (
            jaxloss.logit_adjusted_cross_entropy(
                x, y, class_counts=priors, tau=tau, class_weights=w,
                label_smoothing=smoothing, reduction="none",
            ),
            jaxloss.ldam_loss(x, y, class_counts=counts, max_margin=margin, scale=scale,
                              class_weights=w, reduction="none"),
            jaxloss.poly1_cross_entropy(x, y, epsilon=eps, class_weights=w,
                                        label_smoothing=smoothing, reduction="none"),
            jaxloss.cross_entropy(x, y, class_weights=w, label_smoothing=smoothing,
                                  reduction="none"),
        )

    return jax.jit(run)


@given(
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    tau=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    eps=st.sampled_from([-1.0, 0.0, 1.0, 2.0]),
    smoothing=st.sampled_from([0.0, 0.1]),
    margin=st.sampled_from([0.0, 0.5, 1.0]),
    logit_scale=st.sampled_from([1.0, 30.0]),
)
def test_property_random_inputs_match_reference(
    seed, scale, tau, eps, smoothing, margin, logit_scale
):
    """All hyperparameters traced in one compiled function; random priors (one may be 0),
    counts and weights; each loss against its reference, and Poly-1 >= CE for epsilon >= 0."""
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal((6, C))).astype(np.float32)
    y = rng.integers(0, C, 6).astype(np.int32)
    y[rng.random(6) < 0.3] = -100
    w = rng.uniform(0.1, 3.0, C).astype(np.float32)
    priors = rng.dirichlet(np.ones(C)).astype(np.float32)
    if seed % 3 == 0:
        priors[3] = 0.0
        y[y == 3] = -100
    counts = rng.integers(1, 1000, C).astype(np.int32)
    la, ldam, poly, ce = _traced_all()(
        x, y, w, priors, np.float32(tau), counts, np.float32(margin),
        np.float32(logit_scale), np.float32(eps), np.float32(smoothing),
    )
    opts = dict(class_weights=w, reduction="none")
    assert_close(la, ref.logit_adjusted_cross_entropy(
        x, y, class_counts=priors, tau=tau, label_smoothing=smoothing, **opts),
        rtol=1e-4, atol=1e-5)
    assert_close(ldam, ref.ldam_loss(
        x, y, class_counts=counts, max_margin=margin, scale=logit_scale, **opts),
        rtol=1e-4, atol=1e-4)
    assert_close(poly, ref.poly1_cross_entropy(
        x, y, epsilon=eps, label_smoothing=smoothing, **opts), rtol=1e-4, atol=1e-5)
    if eps >= 0:
        assert np.all(np.asarray(poly) >= np.asarray(ce) - 1e-5)


def test_poly1_smoothing_closed_form_equals_the_class_sum():
    """Without class weights Poly-1's smoothing sum is closed-form (sum over the support of
    1 - p_c is its size less 1); unit class weights take the per-class sum. The two agree in
    value, gradient (logits and epsilon) and Hessian, with classes outside the support
    (-inf logits) and a saturated row."""
    with jax.enable_x64(True):
        x = 3.0 * jnp.asarray(np.random.default_rng(0).normal(size=(5, 6)))
        x = x.at[1, 2].set(-jnp.inf).at[3, 0].set(-jnp.inf)
        x = x.at[4].set(jnp.array([100.0, -100.0, 0.0, 5.0, -jnp.inf, 1.0]))
        y = jnp.array([0, 1, 4, 3, 0])

        def loss(x, epsilon, class_weights):
            return jaxloss.poly1_cross_entropy(
                x, y[: x.shape[0]], epsilon=epsilon, label_smoothing=0.3,
                class_weights=class_weights, reduction="sum",
            )

        vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        for epsilon in (0.0, 1.5, -1.0):
            closed, summed = vg(x, epsilon, None), vg(x, epsilon, jnp.ones(6))
            np.testing.assert_allclose(closed[0], summed[0], rtol=1e-13)
            for a, b in zip(closed[1], summed[1], strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        finite = x[:4].at[1, 2].set(0.3).at[3, 0].set(-2.0)
        hessian = [jax.jit(jax.hessian(loss))(finite, 1.5, w) for w in (None, jnp.ones(6))]
        np.testing.assert_allclose(hessian[0], hessian[1], rtol=1e-12, atol=1e-14)
