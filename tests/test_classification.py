"""cross_entropy, nll_loss and focal_loss: parity with the float64 reference and properties.

Compilation is the cost of this file, not arithmetic: every test uses the few shapes in
``LAYOUTS`` (so eager op caches are shared) and, under jit, one compiled function per test
that evaluates a whole grid of configurations at once.
"""

import functools
import re

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
# name -> (logits shape, class axis)
LAYOUTS = {
    "2d": ((6, C), -1),
    "4d_last": ((2, 3, 2, C), -1),
    "4d_first": ((2, C, 3, 2), 1),
}
WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
REDUCTIONS = ("none", "sum", "mean")
F32 = np.dtype("float32")

JAX_LOSSES = {"cross_entropy": jaxloss.cross_entropy, "focal_loss": jaxloss.focal_loss}
REF_LOSSES = {"cross_entropy": ref.cross_entropy, "focal_loss": ref.focal_loss}


# ---------------------------------------------------------------------------------------------
# inputs and helpers
# ---------------------------------------------------------------------------------------------


def element_shape(shape, axis):
    axis = axis % len(shape)
    return shape[:axis] + shape[axis + 1 :]


def make_logits(shape, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def make_int_targets(shape, seed=0, ignored=False, num_classes=C):
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(0, num_classes, size=shape)
    if ignored:
        flat = y.reshape(-1)
        flat[rng.choice(flat.size, flat.size // 3, replace=False)] = -100
    return y.astype(np.int32)


def make_prob_targets(el_shape, axis, seed=0, num_classes=C):
    """Probabilities with the class axis at ``axis``; every other row has an exact zero."""
    rng = np.random.default_rng(seed + 2)
    p = rng.dirichlet(np.ones(num_classes), size=el_shape)
    flat = p.reshape(-1, num_classes)
    flat[::2, rng.integers(num_classes)] = 0.0
    flat /= flat.sum(axis=-1, keepdims=True)
    return np.moveaxis(flat.reshape(p.shape), -1, axis).astype(np.float32)


def make_inputs(layout, kind, seed=0):
    shape, axis = LAYOUTS[layout]
    logits = make_logits(shape, seed)
    el = element_shape(shape, axis)
    if kind == "prob":
        targets = make_prob_targets(el, axis, seed)
    else:
        targets = make_int_targets(el, seed, ignored=kind == "int_ignored")
    return logits, targets, axis


# ---------------------------------------------------------------------------------------------
# parity with the reference over the grid
# ---------------------------------------------------------------------------------------------

GRID = [(w, s, r) for w in (False, True) for s in (0.0, 0.1) for r in REDUCTIONS]


@functools.cache
def grid_fn(loss, axis, mode, **extra):
    """All of GRID in one function (one compile under jit, shared by equal-shaped inputs)."""
    fn = JAX_LOSSES[loss]

    def run(x, t):
        return {
            (w, s, r): fn(
                x,
                t,
                class_weights=WEIGHTS if w else None,
                label_smoothing=s,
                reduction=r,
                axis=axis,
                **extra,
            )
            for (w, s, r) in GRID
        }

    return maybe_jit(mode, run)


@pytest.mark.parametrize("kind", ["int", "prob"])
@pytest.mark.parametrize(
    ("loss", "layout"),
    [("cross_entropy", layout) for layout in LAYOUTS]
    # focal_loss's axis=-1 path is the same code for 2-D and 4-D: one 4-D layout is enough.
    + [("focal_loss", "2d"), ("focal_loss", "4d_first")],
)
def test_parity_grid(loss, layout, kind, mode):
    """Weights on/off x smoothing 0/0.1 x each reduction, for each layout and target kind.

    Integer targets run twice through the same compiled function: without any ignored label,
    and with a third of the labels equal to ignore_index.
    """
    extra = {"gamma": 2.0} if loss == "focal_loss" else {}
    kinds = ["int", "int_ignored"] if kind == "int" else ["prob"]
    for k in kinds:
        logits, targets, axis = make_inputs(layout, k)
        got = grid_fn(loss, axis, mode, **extra)(logits, targets)
        for (w, s, r), value in got.items():
            want = REF_LOSSES[loss](
                logits,
                targets,
                class_weights=WEIGHTS if w else None,
                label_smoothing=s,
                reduction=r,
                axis=axis,
                **extra,
            )
            assert value.dtype == jnp.float32
            assert value.shape == np.shape(want), (k, w, s, r)
            assert_close(value, want)


@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_focal_parity_small_gamma(kind, mode):
    logits, targets, axis = make_inputs("2d", kind)
    got = grid_fn("focal_loss", axis, mode, gamma=0.5)(logits, targets)
    for (w, s, r), value in got.items():
        want = ref.focal_loss(
            logits,
            targets,
            gamma=0.5,
            class_weights=WEIGHTS if w else None,
            label_smoothing=s,
            reduction=r,
            axis=axis,
        )
        assert_close(value, want)


@pytest.mark.parametrize("layout", ["2d", "4d_first"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_z_loss_parity(layout, kind, mode):
    logits, targets, axis = make_inputs(layout, kind)

    def run(x, t):
        return [
            jaxloss.cross_entropy(
                x, t, z_loss=1e-2, label_smoothing=0.1, class_weights=WEIGHTS, reduction=r,
                axis=axis,
            )
            for r in REDUCTIONS
        ]

    for r, value in zip(REDUCTIONS, maybe_jit(mode, run)(logits, targets), strict=True):
        want = ref.cross_entropy(
            logits,
            targets,
            z_loss=1e-2,
            label_smoothing=0.1,
            class_weights=WEIGHTS,
            reduction=r,
            axis=axis,
        )
        assert_close(value, want)


@pytest.mark.parametrize("layout", ["2d", "4d_first"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_where_parity(layout, kind, mode):
    logits, targets, axis = make_inputs(layout, kind)
    el = element_shape(logits.shape, axis)
    where = np.random.default_rng(5).random(el) < 0.6

    def run(x, t, m):
        return [
            JAX_LOSSES[loss](x, t, class_weights=WEIGHTS, reduction=r, axis=axis, where=m)
            for loss in JAX_LOSSES
            for r in REDUCTIONS
        ]

    got = maybe_jit(mode, run)(logits, targets, where)
    i = 0
    for loss in JAX_LOSSES:
        for r in REDUCTIONS:
            want = REF_LOSSES[loss](
                logits, targets, class_weights=WEIGHTS, reduction=r, axis=axis, where=where
            )
            assert_close(got[i], want)
            i += 1


@pytest.mark.parametrize("layout", ["2d", "4d_first"])
def test_nll_loss_parity(layout, mode):
    logits, targets, axis = make_inputs(layout, "int_ignored")
    # nll_loss applies no softmax: check both real log-probabilities and arbitrary inputs.
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=axis))

    def run(lp, x, t):
        return [
            jaxloss.nll_loss(inp, t, class_weights=w, reduction=r, axis=axis)
            for inp in (lp, x)
            for w in (None, WEIGHTS)
            for r in REDUCTIONS
        ]

    got = maybe_jit(mode, run)(log_probs, logits, targets)
    i = 0
    for inp in (log_probs, logits):
        for w in (None, WEIGHTS):
            for r in REDUCTIONS:
                want = ref.nll_loss(inp, targets, class_weights=w, reduction=r, axis=axis)
                assert_close(got[i], want)
                i += 1
    # With real log-probabilities nll_loss is cross_entropy.
    assert_close(got[2], ref.cross_entropy(logits, targets, axis=axis))


def test_ignore_index_equal_to_a_real_class():
    """Rows with that label drop out; the class stays in the softmax."""
    logits, targets, _ = make_inputs("2d", "int")
    targets[:2] = 1
    kwargs = {"ignore_index": 1, "label_smoothing": 0.1}
    for r in REDUCTIONS:
        got = jaxloss.cross_entropy(logits, targets, reduction=r, **kwargs)
        assert_close(got, ref.cross_entropy(logits, targets, reduction=r, **kwargs))


def test_out_of_range_label_is_nan_under_jit_for_that_element_only():
    logits, targets, _ = make_inputs("2d", "int")
    targets[1], targets[3] = 7, -1
    fn = jax.jit(lambda x, t: jaxloss.cross_entropy(x, t, reduction="none"))
    got = np.asarray(fn(logits, targets))
    assert np.isnan(got[[1, 3]]).all()
    assert np.isfinite(np.delete(got, [1, 3])).all()
    assert_close(got, ref.cross_entropy(logits, targets, reduction="none"))
    assert np.isnan(jax.jit(jaxloss.cross_entropy)(logits, targets))


def test_out_of_range_label_is_an_error_when_concrete():
    logits, targets, _ = make_inputs("2d", "int")
    targets[1], targets[3] = 7, -1
    with pytest.raises(ValueError, match=re.escape(
        "cross_entropy: target label 7 is out of range: labels must be in [0, 4) or equal to "
        "ignore_index=-100."
    )):
        jaxloss.cross_entropy(logits, targets, reduction="none")


# (label dtype, an out-of-range label, an ignore_index outside the dtype that the label would
# equal if ignore_index were cast to the dtype)
WRAPPING = [(np.uint8, 156, -100), (np.uint16, 65436, -100), (np.int8, -56, 200),
            (np.uint8, 255, -1)]


@pytest.mark.parametrize(("dtype", "label", "ignore_index"), WRAPPING)
def test_an_ignore_index_outside_the_label_dtype_ignores_nothing(dtype, label, ignore_index):
    """-100 cast to uint8 is 156: the label 156 is out of range (NaN, an error under
    `checked`), never silently ignored, in every loss that takes ignore_index."""
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    y = np.array([label, 1, 2], dtype)
    kw = {"ignore_index": ignore_index, "reduction": "none"}
    for loss in (jaxloss.cross_entropy, jaxloss.focal_loss, jaxloss.nll_loss,
                 jaxloss.poly1_cross_entropy):
        got = np.asarray(jax.jit(functools.partial(loss, **kw))(x, y))
        assert np.isnan(got[0]) and np.isfinite(got[1:]).all(), (loss.__name__, got)
        with pytest.raises(ValueError, match=f"target label {label} is out of range"):
            loss(x, y, **kw)
    hidden, weight = x[:, :4], np.ones((5, 4), np.float32)
    got = np.asarray(jax.jit(functools.partial(jaxloss.linear_cross_entropy, **kw))(
        hidden, weight, y))
    assert np.isnan(got[0]) and np.isfinite(got[1:]).all(), got
    seg = {"ignore_index": ignore_index, "axis": 1}
    assert np.isnan(jax.jit(functools.partial(jaxloss.dice_loss, **seg))(x.T[None], y[None]))
    lovasz = jax.jit(functools.partial(jaxloss.lovasz_softmax_loss, **seg))
    assert np.isnan(lovasz(x.T[None, :, :, None], y[None, :, None]))
    with pytest.raises(ValueError, match=f"target label {label} is out of range"):
        jaxloss.checked(jaxloss.cross_entropy)(x, y, ignore_index=ignore_index)
    with pytest.raises(ValueError, match=f"label {label} is out of range"):
        jaxloss.class_counts(y, 5, ignore_index=ignore_index)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------

GRAD_CASES = [
    ("cross_entropy", {}),
    ("focal_loss", {"gamma": 2.0}),
    ("focal_loss", {"gamma": 0.5}),
]


@pytest.mark.parametrize(
    ("loss", "extra", "kind", "layout"),
    [(loss, extra, kind, "2d") for loss, extra in GRAD_CASES for kind in ("int_ignored", "prob")]
    + [("focal_loss", {"gamma": 2.0}, "int_ignored", "4d_first")],
)
def test_gradient_matches_finite_differences_of_reference(loss, extra, kind, layout):
    logits, targets, axis = make_inputs(layout, kind)
    kwargs = dict(class_weights=WEIGHTS, label_smoothing=0.1, axis=axis, **extra)
    grad = jax.grad(lambda x: JAX_LOSSES[loss](x, targets, **kwargs))
    # Eager grads of (6, C) inputs share compiled ops with the other gradient tests; the 4-D
    # case would compile every backward op anew, so it runs as one jit.
    got = grad(logits) if layout == "2d" else jax.jit(grad)(logits)
    want = fd_grad(lambda x: REF_LOSSES[loss](x, targets, **kwargs), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("with_neg_inf", [False, True])
def test_class_weight_gradient_with_smoothing_matches_reference(with_neg_inf):
    """d loss / d class_weights through the smoothing path's custom VJP (also with a -inf
    logit, where the class drops out of the smoothing sum and the gradient stays finite)."""
    logits, targets, _ = make_inputs("2d", "int_ignored")
    if with_neg_inf:
        logits = logits.copy()
        row = int(np.argmax(targets != -100))
        col = (int(targets[row]) + 1) % logits.shape[-1]
        logits[row, col] = -np.inf
    weights = np.asarray(WEIGHTS, np.float64)
    got = jax.grad(
        lambda w: jaxloss.cross_entropy(logits, targets, class_weights=w, label_smoothing=0.1)
    )(jnp.asarray(weights, jnp.float32))
    want = fd_grad(
        lambda w: ref.cross_entropy(logits, targets, class_weights=w, label_smoothing=0.1),
        weights,
    )
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_nll_gradient_matches_finite_differences_of_reference():
    logits, targets, _ = make_inputs("2d", "int_ignored")
    got = jax.grad(lambda x: jaxloss.nll_loss(x, targets, class_weights=WEIGHTS))(logits)
    want = fd_grad(lambda x: ref.nll_loss(x, targets, class_weights=WEIGHTS), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_focal_check_grads_float64():
    """jax.test_util.check_grads in float64 on the log-space focal factor (jitted: one compile)."""
    from jax.test_util import check_grads

    logits, targets, _ = make_inputs("2d", "int_ignored")
    with jax.enable_x64(True):
        x = jnp.asarray(logits, jnp.float64)

        f = jax.jit(lambda x: jaxloss.focal_loss(x, targets, gamma=0.5, label_smoothing=0.1))
        check_grads(f, (x,), order=1, modes=["rev"], eps=1e-4)


SATURATED = np.array(
    [
        [100.0, -100.0, -100.0, -100.0],
        [100.0, -100.0, -100.0, -100.0],
        [100.0, 100.0, -100.0, -100.0],
        [-100.0, -100.0, -100.0, 100.0],
        [-100.0, 100.0, -100.0, -100.0],
        [100.0, -100.0, 100.0, 100.0],
    ],
    np.float32,
)
SATURATED_TARGETS = np.array([0, 1, 0, 3, 2, 1], np.int32)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_finite_at_saturated_logits(gamma, smoothing):
    probs = np.asarray(jax.nn.softmax(SATURATED + 1.0))  # soft, strictly positive targets
    for targets in (SATURATED_TARGETS, probs):

        def f(x, targets=targets):
            return jaxloss.focal_loss(x, targets, gamma=gamma, label_smoothing=smoothing)

        value, grad = jax.value_and_grad(f)(SATURATED)
        assert np.isfinite(value)
        assert np.isfinite(grad).all()
        want = ref.focal_loss(SATURATED, targets, gamma=gamma, label_smoothing=smoothing)
        assert_close(value, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_hessian_finite_where_p_rounds_to_one(gamma):
    """A target-logit margin of 16 rounds log p to 0 in float32 (60 in float64). The Hessian
    stays finite there, the focal and the Dice+focal loss alike (a clamp of log p gave
    0 * inf = NaN), and at gamma = 0 it is cross-entropy's."""
    y = np.array([0, 2])
    # Compiled (jit) rather than eager: op-by-op, the second derivative of the Dice+focal loss
    # dispatched and compiled hundreds of single-op programs (20 s of CPU for the first gamma).
    focal = jax.jit(jax.hessian(lambda z: jaxloss.focal_loss(z, y, gamma=gamma)))
    ce = jax.jit(jax.hessian(lambda z: jaxloss.cross_entropy(z, y)))
    dice_focal = jax.jit(jax.hessian(lambda z: jaxloss.dice_focal_loss(
        z[None, :, :, None], y[None, :, None], gamma=gamma, axis=2)))
    for dtype, margin in ((np.float32, 16.0), (np.float32, 100.0), (np.float64, 60.0)):
        with jax.enable_x64(dtype == np.float64):
            x = np.array([[margin, 0, 0, 0], [0.5, -1.0, 1.0, 0.0]], dtype)
            hess = focal(x)
            assert hess.dtype == dtype and np.isfinite(hess).all(), (dtype, margin)
            if gamma == 0.0:
                np.testing.assert_allclose(hess, ce(x), rtol=1e-6, atol=1e-12)
            seg = dice_focal(x)
            assert np.isfinite(seg).all(), (dtype, margin)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
def test_gradient_zero_at_ignored_and_masked_positions(loss):
    logits, targets, _ = make_inputs("2d", "int_ignored")
    where = np.ones(6, bool)
    where[np.flatnonzero(targets != -100)[0]] = False
    dropped = (targets == -100) | ~where
    kwargs = dict(class_weights=WEIGHTS, label_smoothing=0.1)
    fn = JAX_LOSSES[loss]
    grad = np.asarray(jax.grad(lambda x: fn(x, targets, where=where, **kwargs))(logits))
    assert (grad[dropped] == 0).all()
    assert (grad[~dropped] != 0).any()
    # Probability targets: masked rows only.
    probs = make_prob_targets((6,), -1)
    grad = np.asarray(jax.grad(lambda x: fn(x, probs, where=where, **kwargs))(logits))
    assert (grad[~where] == 0).all()


SOFTMAX_ENGINE_LOSSES = {
    "cross_entropy": lambda x, t, **kw: jaxloss.cross_entropy(x, t, z_loss=1e-2, **kw),
    "nll_loss": lambda x, t, **kw: jaxloss.nll_loss(x, t, **kw),
    "focal_loss": lambda x, t, **kw: jaxloss.focal_loss(x, t, gamma=1.5, **kw),
    "logit_adjusted_cross_entropy": lambda x, t, **kw: jaxloss.logit_adjusted_cross_entropy(
        x, t, class_counts=np.array([0.1, 0.2, 0.3, 0.4], np.float32), **kw),
    "ldam_loss": lambda x, t, **kw: jaxloss.ldam_loss(
        x, t, class_counts=np.array([50, 20, 10, 5], np.int32), scale=4.0, **kw),
    "poly1_cross_entropy": lambda x, t, **kw: jaxloss.poly1_cross_entropy(x, t, **kw),
}


@pytest.mark.parametrize("loss", sorted(SOFTMAX_ENGINE_LOSSES))
@pytest.mark.parametrize("kind", ["int", "prob"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_dropped_rows_with_infinite_logits_never_reach_the_gradient(loss, kind, smoothing):
    """Padding rows filled with -inf (or holding +inf), ignored or masked by ``where``: the
    value is the clean inputs' and the gradient is finite, exactly 0 on those rows."""
    if kind == "prob" and loss in ("nll_loss", "ldam_loss"):
        pytest.skip("integer targets only")
    if smoothing and loss in ("nll_loss", "ldam_loss"):
        pytest.skip("no label_smoothing")
    logits = make_logits((8, C), seed=3)
    where = np.ones(8, bool)
    where[[1, 4]] = False
    if kind == "int":
        targets = make_int_targets(8, seed=3)
        targets[[2, 6]] = -100
    else:
        targets = make_prob_targets((8,), -1, seed=3)
    dropped = ~where if kind == "prob" else ~where | (targets == -100)
    poisoned = logits.copy()
    poisoned[1] = -np.inf  # padding filled with -inf
    poisoned[4, 2] = np.inf
    if kind == "int":
        poisoned[2] = -np.inf
        poisoned[6, [0, 3]] = [np.inf, -np.inf]
    if loss == "nll_loss":  # log-probabilities: clean rows are log_softmax's
        logits = np.asarray(jax.nn.log_softmax(logits), np.float32)
        poisoned = np.where(dropped[:, None], poisoned, logits)
    kwargs = {"where": where, "class_weights": WEIGHTS}
    if smoothing:
        kwargs["label_smoothing"] = smoothing
    fn = SOFTMAX_ENGINE_LOSSES[loss]
    for reduction in ("mean", "none"):
        f = jax.jit(lambda x, r=reduction: jnp.sum(fn(x, targets, reduction=r, **kwargs)))
        clean_value, clean_grad = jax.value_and_grad(f)(logits)
        value, grad = jax.value_and_grad(f)(poisoned)
        np.testing.assert_allclose(value, clean_value, rtol=1e-6)
        grad = np.asarray(grad)
        assert np.isfinite(grad).all(), (reduction, grad)
        assert (grad[dropped] == 0).all()
        np.testing.assert_allclose(grad, clean_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss", "nll_loss"])
def test_all_ignored_mean_is_zero_with_zero_gradient(loss):
    """jaxloss's deliberate difference: an all-padding batch gives 0.0, not NaN."""
    logits = make_logits((6, C))
    targets = np.full(6, -100, np.int32)
    fn = getattr(jaxloss, loss)
    kwargs = {} if loss == "nll_loss" else {"label_smoothing": 0.1}
    value, grad = jax.value_and_grad(lambda x: fn(x, targets, class_weights=WEIGHTS, **kwargs))(
        logits
    )
    assert value == 0.0
    assert (np.asarray(grad) == 0).all()
    assert ref.cross_entropy(logits, targets) == 0.0
    masked = jaxloss.cross_entropy(logits, make_int_targets(6), where=np.zeros(6, bool))
    assert masked == 0.0


# ---------------------------------------------------------------------------------------------
# metamorphic relations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["2d", "4d_first"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_focal_gamma_zero_is_cross_entropy(layout, kind):
    logits, targets, axis = make_inputs(layout, kind)
    ce = grid_fn("cross_entropy", axis, "eager")(logits, targets)
    focal = grid_fn("focal_loss", axis, "eager", gamma=0.0)(logits, targets)
    for key in GRID:
        assert_close(focal[key], ce[key], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_all_ones_class_weights_are_no_weights(loss, kind):
    logits, targets, axis = make_inputs("4d_first", kind)
    fn = JAX_LOSSES[loss]
    for r in REDUCTIONS:
        kwargs = dict(label_smoothing=0.1, reduction=r, axis=axis)
        assert_close(
            fn(logits, targets, class_weights=np.ones(C, np.float32), **kwargs),
            fn(logits, targets, **kwargs),
            rtol=1e-6,
            atol=1e-6,
        )


def _drop_six(kind, seed=4):
    """4-D channel-last inputs (12 elements) with exactly 6 dropped, and the (6, C) subset.

    The subset has the shape of the "2d" layout, so both sides reuse compiled ops.
    """
    logits, targets, _ = make_inputs("4d_last", kind, seed)
    dropped = np.zeros(12, bool)
    dropped[np.random.default_rng(seed).choice(12, 6, replace=False)] = True
    dropped = dropped.reshape(2, 3, 2)
    return logits, targets, dropped


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss", "nll_loss"])
def test_ignore_index_equals_dropping_those_rows(loss):
    logits, targets, dropped = _drop_six("int")
    targets[dropped] = -100
    kept = ~dropped
    fn = getattr(jaxloss, loss)
    kwargs = {"class_weights": WEIGHTS}
    if loss != "nll_loss":
        kwargs["label_smoothing"] = 0.1
    for r in ("sum", "mean"):
        assert_close(
            fn(logits, targets, reduction=r, **kwargs),
            fn(logits[kept], targets[kept], reduction=r, **kwargs),
            rtol=1e-6,
        )
    per = np.asarray(fn(logits, targets, reduction="none", **kwargs))
    assert (per[dropped] == 0).all()
    assert_close(per[kept], fn(logits[kept], targets[kept], reduction="none", **kwargs), rtol=1e-6)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_where_equals_computing_on_the_subset(loss, kind):
    logits, targets, dropped = _drop_six(kind)
    where = ~dropped
    fn = JAX_LOSSES[loss]
    kwargs = {"class_weights": WEIGHTS, "label_smoothing": 0.1}
    for r in ("sum", "mean"):
        assert_close(
            fn(logits, targets, reduction=r, where=where, **kwargs),
            fn(logits[where], targets[where], reduction=r, **kwargs),
            rtol=1e-6,
        )
    per = np.asarray(fn(logits, targets, reduction="none", where=where, **kwargs))
    assert (per[dropped] == 0).all()


@pytest.mark.parametrize(
    ("loss", "kind"), [("cross_entropy", "int_ignored"), ("focal_loss", "prob")]
)
def test_extra_class_at_minus_inf_changes_nothing(loss, kind):
    """Without smoothing, a class that can never be predicted and is never the target."""
    shape, axis = LAYOUTS["2d"]
    narrow = make_logits((6, C - 1))
    wide = np.concatenate([narrow, np.full((6, 1), -np.inf, np.float32)], axis=1)
    if kind == "prob":
        narrow_targets = make_prob_targets((6,), -1, num_classes=C - 1)
        wide_targets = np.concatenate([narrow_targets, np.zeros((6, 1), np.float32)], axis=1)
    else:
        narrow_targets = wide_targets = make_int_targets(6, ignored=True, num_classes=C - 1)
    fn = JAX_LOSSES[loss]

    @jax.jit
    def run(x, t, w):
        values = [fn(x, t, class_weights=w, reduction=r) for r in REDUCTIONS]
        return values, jax.grad(lambda x: fn(x, t, class_weights=w))(x)

    wide_values, wide_grad = run(wide, wide_targets, WEIGHTS)
    narrow_values, narrow_grad = run(narrow, narrow_targets, WEIGHTS[: C - 1])
    for got, want in zip(wide_values, narrow_values, strict=True):
        assert_close(got, want, rtol=1e-6)
    assert_close(np.asarray(wide_grad)[:, : C - 1], narrow_grad, rtol=1e-5, atol=1e-7)
    assert (np.asarray(wide_grad)[:, C - 1] == 0).all()


# ---------------------------------------------------------------------------------------------
# numerics
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
def test_huge_logits_exact(loss):
    logits = np.full((6, C), -1e4, np.float32)
    logits[:, 0] = 1e4
    targets = np.array([0, 1, 0, 2, 0, 3], np.int32)
    fn = JAX_LOSSES[loss]
    per = np.asarray(fn(logits, targets, reduction="none"))
    np.testing.assert_array_equal(per, [0.0, 20000.0, 0.0, 20000.0, 0.0, 20000.0])
    assert fn(logits, targets) == 10000.0
    smoothed = fn(logits, targets, reduction="none", label_smoothing=0.1)
    gamma = None if loss == "cross_entropy" else 2.0
    want = ref.softmax_loss(logits, targets, gamma=gamma, label_smoothing=0.1, reduction="none")
    assert_close(smoothed, want)
    assert np.isfinite(jax.grad(lambda x: fn(x, targets, label_smoothing=0.1))(logits)).all()


@pytest.mark.parametrize(("loss", "extra"), GRAD_CASES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_minus_inf_logit_on_non_target_class_is_finite(loss, extra, smoothing):
    logits = make_logits((6, C))
    logits[:, 3] = -np.inf
    logits[0, 1] = -np.inf
    targets = np.array([0, 1, 2, 0, 1, 2], np.int32)
    probs = make_prob_targets((6,), -1)
    probs[:, 3] = 0.0
    probs[0, 1] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    fn = JAX_LOSSES[loss]
    for t in (targets, probs):
        kwargs = dict(label_smoothing=smoothing, class_weights=WEIGHTS, **extra)
        value, grad = jax.value_and_grad(lambda x, t=t, kw=kwargs: fn(x, t, **kw))(logits)
        assert np.isfinite(value)
        assert np.isfinite(np.asarray(grad)).all()
        assert_close(value, REF_LOSSES[loss](logits, t, **kwargs))
        per = fn(logits, t, reduction="none", **kwargs)
        assert_close(per, REF_LOSSES[loss](logits, t, reduction="none", **kwargs))


@pytest.mark.parametrize(
    ("loss", "kind"),
    [("cross_entropy", "int_ignored"), ("cross_entropy", "prob"), ("focal_loss", "int_ignored"),
     ("focal_loss", "prob"), ("nll_loss", "int_ignored")],
)
def test_bfloat16_input(loss, kind):
    logits, targets, axis = make_inputs("4d_first", kind)
    if loss == "nll_loss":
        logits = np.asarray(jax.nn.log_softmax(logits, axis=axis))
    x = jnp.asarray(logits, jnp.bfloat16)
    fn = getattr(jaxloss, loss)
    ref_fn = getattr(ref, loss)
    kwargs = {"axis": axis, "class_weights": WEIGHTS}
    if loss != "nll_loss":
        kwargs["label_smoothing"] = 0.1
    for r in REDUCTIONS:
        got = fn(x, targets, reduction=r, **kwargs)
        assert got.dtype == jnp.float32
        # Within bf16 rounding of the float64 reference of the unrounded input ...
        assert_close(got, ref_fn(logits, targets, reduction=r, **kwargs), rtol=BF16_RTOL, atol=0.05)
        # ... and float32-exact for the bf16-rounded input (the math runs in float32).
        rounded = np.asarray(x.astype(jnp.float32))
        assert_close(got, ref_fn(rounded, targets, reduction=r, **kwargs))


# ---------------------------------------------------------------------------------------------
# traceable hyperparameters: vmap and grad
# ---------------------------------------------------------------------------------------------


def _assert_vmap_matches_loop(fn, values):
    batched = jax.jit(jax.vmap(fn))(jnp.asarray(values))
    looped = [fn(v) for v in values]
    assert_close(batched, np.stack([np.asarray(v) for v in looped]), rtol=1e-6, atol=1e-6)
    return batched


@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_vmap_over_gamma(kind):
    logits, targets, _ = make_inputs("2d", kind)
    gammas = np.array([0.0, 0.5, 1.0, 2.0, 5.0], np.float32)
    got = _assert_vmap_matches_loop(
        lambda g: jaxloss.focal_loss(logits, targets, gamma=g, label_smoothing=0.1), gammas
    )
    want = [ref.focal_loss(logits, targets, gamma=g, label_smoothing=0.1) for g in gammas]
    assert_close(got, want)


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_vmap_over_label_smoothing(loss, kind):
    logits, targets, _ = make_inputs("2d", kind)
    eps = np.array([0.0, 0.05, 0.1, 0.5, 1.0], np.float32)
    fn = JAX_LOSSES[loss]
    got = _assert_vmap_matches_loop(lambda e: fn(logits, targets, label_smoothing=e), eps)
    assert_close(got, [REF_LOSSES[loss](logits, targets, label_smoothing=e) for e in eps])


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss", "nll_loss"])
def test_vmap_over_class_weights(loss):
    logits, targets, _ = make_inputs("2d", "int_ignored")
    stack = np.stack([np.ones(C), WEIGHTS, np.arange(1, C + 1)]).astype(np.float32)
    fn = getattr(jaxloss, loss)
    got = _assert_vmap_matches_loop(lambda w: fn(logits, targets, class_weights=w), stack)
    assert_close(got, [getattr(ref, loss)(logits, targets, class_weights=w) for w in stack])


def test_vmap_over_z_loss():
    logits, targets, _ = make_inputs("2d", "int_ignored")
    zs = np.array([0.0, 1e-3, 1e-1], np.float32)
    got = _assert_vmap_matches_loop(lambda z: jaxloss.cross_entropy(logits, targets, z_loss=z), zs)
    assert_close(got, [ref.cross_entropy(logits, targets, z_loss=float(z)) for z in zs])


@pytest.mark.parametrize("kind", ["int_ignored", "prob"])
def test_grad_wrt_gamma_and_label_smoothing(kind):
    logits, targets, _ = make_inputs("2d", kind)

    def f(gamma, eps):
        return jaxloss.focal_loss(logits, targets, gamma=gamma, label_smoothing=eps)

    def f_ref(gamma, eps):
        return ref.focal_loss(logits, targets, gamma=gamma, label_smoothing=eps)

    grad = jax.grad(f, argnums=(0, 1))
    h = 1e-6
    for gamma, eps in [(0.0, 0.0), (0.5, 0.1), (2.0, 0.0)]:
        dg, de = grad(jnp.float32(gamma), jnp.float32(eps))
        assert np.isfinite(dg) and np.isfinite(de)
        want_dg = (f_ref(gamma + h, eps) - f_ref(max(gamma - h, 0.0), eps)) / (
            gamma + h - max(gamma - h, 0.0)
        )
        want_de = (f_ref(gamma, eps + h) - f_ref(gamma, max(eps - h, 0.0))) / (
            eps + h - max(eps - h, 0.0)
        )
        np.testing.assert_allclose([dg, de], [want_dg, want_de], rtol=GRAD_RTOL, atol=GRAD_ATOL)


# ---------------------------------------------------------------------------------------------
# axis_name: global reductions across a mapped "device" axis
# ---------------------------------------------------------------------------------------------


def _sharded_inputs(kind):
    """Two shards of four elements; shard 0 drops one element, shard 1 drops three."""
    logits = make_logits((2, 4, C), seed=3)
    if kind == "int":
        targets = make_int_targets((2, 4), seed=3)
        targets[0, 0] = -100
        targets[1, :3] = -100
        return logits, targets, None
    probs = make_prob_targets((2, 4), -1, seed=3)
    where = np.array([[False, True, True, True], [False, False, False, True]])
    return logits, probs, where


@pytest.mark.parametrize(
    ("loss", "kind"),
    [("cross_entropy", "int"), ("cross_entropy", "prob"), ("focal_loss", "int"),
     ("nll_loss", "int")],
)
def test_axis_name_mean_is_global(loss, kind):
    """vmap with axis_name over a leading "device" axis stands in for shard_map/pmap."""
    logits, targets, where = _sharded_inputs(kind)
    fn = getattr(jaxloss, loss)
    ref_fn = getattr(ref, loss)

    def per_device(x, t, m):
        kwargs = dict(class_weights=WEIGHTS, where=m, axis_name="d")
        return fn(x, t, reduction="mean", **kwargs), fn(x, t, reduction="sum", **kwargs)

    in_axes = (0, 0, None if where is None else 0)
    means, sums = jax.jit(jax.vmap(per_device, in_axes, axis_name="d"))(logits, targets, where)
    flat_where = None if where is None else where.reshape(-1)
    flat_targets = targets.reshape(-1) if kind == "int" else targets.reshape(-1, C)
    kwargs = dict(class_weights=WEIGHTS, where=flat_where)
    global_mean = ref_fn(logits.reshape(-1, C), flat_targets, reduction="mean", **kwargs)
    global_sum = ref_fn(logits.reshape(-1, C), flat_targets, reduction="sum", **kwargs)
    assert_close(means, [global_mean, global_mean])
    assert_close(sums, [global_sum, global_sum])
    # The mean of per-device means is a different number: the test can tell them apart.
    shard_where = [None, None] if where is None else where
    local = [
        ref_fn(logits[d], targets[d], class_weights=WEIGHTS, where=shard_where[d]) for d in range(2)
    ]
    assert not np.isclose(np.mean(local), global_mean)


# ---------------------------------------------------------------------------------------------
# properties (Hypothesis, deterministic profile from conftest)
# ---------------------------------------------------------------------------------------------


@functools.cache
def _traced_hyperparameters_fn(loss, axis):
    """One compile per (loss, axis, shapes): gamma, smoothing and weights are traced."""

    def run(x, t, w, eps, gamma):
        extra = {"gamma": gamma} if loss == "focal_loss" else {}
        return [
            JAX_LOSSES[loss](x, t, class_weights=w, label_smoothing=eps, reduction=r, axis=axis,
                             **extra)
            for r in REDUCTIONS
        ]

    return jax.jit(run)


@given(
    loss=st.sampled_from(["cross_entropy", "focal_loss"]),
    layout=st.sampled_from(["2d", "4d_first"]),
    kind=st.sampled_from(["int_ignored", "prob"]),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    eps=st.sampled_from([0.0, 0.1, 0.3, 1.0]),
    gamma=st.sampled_from([0.0, 0.25, 1.0, 3.0]),
)
def test_property_random_inputs_match_reference(loss, layout, kind, seed, scale, eps, gamma):
    shape, axis = LAYOUTS[layout]
    logits = make_logits(shape, seed, scale=scale)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 3.0, C).astype(np.float32)
    el = element_shape(shape, axis)
    if kind == "prob":
        targets = make_prob_targets(el, axis, seed)
    else:
        targets = rng.integers(0, C, el).astype(np.int32)
        targets[rng.random(el) < rng.random()] = -100
    got = _traced_hyperparameters_fn(loss, axis)(
        logits, targets, weights, np.float32(eps), np.float32(gamma)
    )
    extra = {"gamma": gamma} if loss == "focal_loss" else {}
    for r, value in zip(REDUCTIONS, got, strict=True):
        want = REF_LOSSES[loss](
            logits, targets, class_weights=weights, label_smoothing=eps, reduction=r, axis=axis,
            **extra,
        )
        # Sums over up to 12 elements of losses up to ~100 (scale 10): relative tolerance.
        assert_close(value, want, rtol=1e-5, atol=1e-4)
