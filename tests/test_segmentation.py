"""dice_loss, tversky_loss and dice_cross_entropy_loss: parity with the float64 reference,
reproductions of MONAI's and segmentation_models_pytorch's DiceLoss, and properties.

As in test_classification.py, compilation is the cost: a few fixed shapes, and under jit one
compiled function per test that evaluates a whole grid of options at once.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

C = 4
# name -> (logits shape, class axis)
LAYOUTS = {"last": ((2, 5, 4, C), -1), "first": ((2, C, 5, 4), 1)}
WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
REDUCTIONS = ("none", "sum", "mean")
F32 = np.dtype("float32")
# (class weights, include_background, batch, squared): each option alone and a few together.
OPTIONS = [
    (False, True, False, False),
    (True, True, False, False),
    (False, False, False, False),
    (False, True, True, False),
    (False, True, False, True),
    (True, False, True, True),
]
# (activation, target kind)
KINDS = [
    ("softmax", "int"),
    ("softmax", "int_ignored"),
    ("softmax", "prob"),
    ("sigmoid", "int"),
    ("sigmoid", "multilabel"),
    ("none", "int"),
]


def pixel_shape(shape, axis):
    axis = axis % len(shape)
    return shape[:axis] + shape[axis + 1 :]


def make_inputs(layout, kind, activation="softmax", seed=0):
    shape, axis = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    if activation == "none":
        logits = np.asarray(jax.nn.softmax(logits, axis=axis))
    pix = pixel_shape(shape, axis)
    if kind in ("int", "int_ignored"):
        targets = rng.integers(0, C, size=pix).astype(np.int32)
        if kind == "int_ignored":
            flat = targets.reshape(-1)
            flat[rng.choice(flat.size, flat.size // 3, replace=False)] = -100
    elif kind == "prob":
        p = rng.dirichlet(np.ones(C), size=pix)
        targets = np.moveaxis(p, -1, axis).astype(np.float32)
    else:  # multilabel: independent 0/1 channels
        targets = (rng.random(shape) < 0.3).astype(np.float32)
    return logits, targets, axis


def jitted(fn, **kwargs):
    """``fn`` with keyword arguments fixed, compiled once (eager grads compile every op)."""
    return jax.jit(functools.partial(fn, **kwargs))


def option_kwargs(w, bg, batch, squared):
    return dict(
        class_weights=WEIGHTS if w else None,
        include_background=bg,
        batch=batch,
        squared=squared,
    )


# ---------------------------------------------------------------------------------------------
# parity with the reference
# ---------------------------------------------------------------------------------------------


@functools.cache
def dice_grid_fn(activation, axis, mode):
    # Eager and traced runs share all code; eager checks a third of the options (each new
    # eager op shape compiles on first use), jit the whole grid.
    options = OPTIONS if mode == "jit" else OPTIONS[::3]

    def run(x, t):
        return {
            (opt, r): jaxloss.dice_loss(
                x, t, activation=activation, reduction=r, axis=axis, **option_kwargs(*opt)
            )
            for opt in options
            for r in REDUCTIONS
        }

    return maybe_jit(mode, run)


# Every activation and target kind once, in both layouts between them (integer targets
# without ignored pixels take the same path with every pixel kept: see KINDS in other tests).
PARITY_CASES = [
    ("softmax", "int_ignored", "last"),
    ("softmax", "prob", "first"),
    ("sigmoid", "int", "last"),
    ("sigmoid", "multilabel", "first"),
    ("none", "int", "last"),
]


@pytest.mark.parametrize(("activation", "kind", "layout"), PARITY_CASES)
def test_dice_parity_grid(activation, kind, layout, mode):
    """Weights, include_background, batch, squared x each reduction, per activation/target."""
    logits, targets, axis = make_inputs(layout, kind, activation)
    got = dice_grid_fn(activation, axis, mode)(logits, targets)
    for (opt, r), value in got.items():
        want = ref.dice_loss(
            logits, targets, activation=activation, reduction=r, axis=axis, **option_kwargs(*opt)
        )
        assert value.dtype == jnp.float32
        assert value.shape == np.shape(want), (opt, r)
        assert_close(value, want)


def test_none_shapes_and_dropped_background_column():
    logits, targets, axis = make_inputs("last", "int")
    per = jaxloss.dice_loss(logits, targets, reduction="none", include_background=False)
    assert per.shape == (2, C)
    np.testing.assert_array_equal(per[:, 0], 0.0)
    pooled = jaxloss.dice_loss(logits, targets, reduction="none", batch=True)
    assert pooled.shape == (C,)


TVERSKY = [(0.3, 0.7), (0.7, 0.3), (1.0, 1.0), (0.0, 1.0), (2.0, 0.25)]


@pytest.mark.parametrize(
    ("activation", "kind", "layout"),
    [("softmax", "int_ignored", "first"), ("sigmoid", "multilabel", "last")],
)
def test_tversky_parity(activation, kind, layout, mode):
    logits, targets, axis = make_inputs(layout, kind, activation)
    grid = [(a, b, sq, bt) for a, b in TVERSKY for sq, bt in ((False, False), (True, True))]

    def run(x, t):
        return {
            (a, b, sq, bt): jaxloss.tversky_loss(
                x, t, alpha=a, beta=b, squared=sq, batch=bt, activation=activation,
                axis=axis, reduction="none",
            )
            for a, b, sq, bt in grid
        }

    for (a, b, sq, bt), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.tversky_loss(
            logits, targets, alpha=a, beta=b, squared=sq, batch=bt, activation=activation,
            axis=axis, reduction="none",
        )
        assert_close(value, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("activation", "kind"), KINDS)
def test_tversky_half_half_is_dice_exactly(activation, kind):
    logits, targets, axis = make_inputs("last", kind, activation)
    for opt in OPTIONS[::2]:
        for smooth in (0.0, 1e-5):
            kw = dict(activation=activation, axis=axis, smooth=smooth, reduction="none")
            kw.update(option_kwargs(*opt))
            dice = jaxloss.dice_loss(logits, targets, **kw)
            tversky = jaxloss.tversky_loss(logits, targets, alpha=0.5, beta=0.5, **kw)
            np.testing.assert_array_equal(np.asarray(tversky), np.asarray(dice))


def test_tversky_one_one_is_soft_jaccard():
    logits, targets, axis = make_inputs("last", "prob")
    p = np.asarray(jax.nn.softmax(logits, axis=-1), np.float64)
    t = targets.astype(np.float64)
    inter = np.sum(p * t, axis=(1, 2))
    union = np.sum(p + t - p * t, axis=(1, 2))
    got = jaxloss.tversky_loss(logits, targets, alpha=1.0, beta=1.0, smooth=0.0, reduction="none")
    assert_close(got, 1.0 - inter / union, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("layout", "kind"), [("first", "int_ignored"), ("last", "prob")])
def test_where_parity(layout, kind, mode):
    logits, targets, axis = make_inputs(layout, kind)
    shape = LAYOUTS[layout][0]
    pix = pixel_shape(shape, axis)
    rng = np.random.default_rng(5)
    where_full = rng.random(pix) < 0.7
    where_bcast = rng.random((1,) + pix[1:]) < 0.6  # broadcast over the batch
    where_empty_sample = np.ones(pix, bool)
    where_empty_sample[1] = False  # sample 1 has no kept pixel: it drops out of the mean

    def run(x, t):
        return {
            (name, bt, r): jaxloss.dice_loss(
                x, t, where=wh, batch=bt, reduction=r, axis=axis, class_weights=WEIGHTS
            )
            for name, wh in (("full", where_full), ("bcast", where_bcast),
                             ("empty", where_empty_sample))
            for bt in (False, True)
            for r in ("none", "mean")
        }

    wheres = {"full": where_full, "bcast": where_bcast, "empty": where_empty_sample}
    for (name, bt, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.dice_loss(
            logits, targets, where=wheres[name], batch=bt, reduction=r, axis=axis,
            class_weights=WEIGHTS,
        )
        assert_close(value, want)


def test_empty_sample_drops_out_of_the_mean():
    logits, targets, axis = make_inputs("last", "int")
    where = np.ones(targets.shape, bool)
    where[1] = False
    run = jax.jit(jaxloss.dice_loss)
    got = run(logits, targets, where=where)
    alone = run(logits[:1], targets[:1])
    assert_close(got, alone)


def test_nothing_kept_mean_is_zero_with_zero_gradient():
    logits, targets, axis = make_inputs("last", "int")
    ignored = np.full_like(targets, -100)
    run = jax.jit(
        lambda x, t: [jax.value_and_grad(jaxloss.dice_loss)(x, t, batch=bt) for bt in (False, True)]
    )
    for loss, g in run(logits, ignored):
        assert float(loss) == 0.0
        np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_ignore_index_equals_where():
    logits, targets, axis = make_inputs("first", "int_ignored")
    masked_targets = np.where(targets == -100, 0, targets)
    for bt in (False, True):
        a = jaxloss.dice_loss(logits, targets, axis=axis, batch=bt, reduction="none")
        b = jaxloss.dice_loss(
            logits, masked_targets, axis=axis, batch=bt, where=targets != -100, reduction="none"
        )
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_masked_pixels_change_nothing_and_get_zero_gradient():
    logits, targets, axis = make_inputs("last", "int_ignored")
    ignored = (targets == -100)[..., None]
    other = np.where(ignored, 50.0 * np.sign(logits) + 3.0, logits).astype(np.float32)
    run = jax.jit(lambda x, t: jax.value_and_grad(jaxloss.dice_loss)(x, t))
    (a, g), (b, _) = run(logits, targets), run(other, targets)
    assert_close(a, b)
    np.testing.assert_array_equal(np.where(np.broadcast_to(ignored, g.shape), g, 0.0), 0.0)


def test_two_dimensional_logits():
    """(N, C) is a batch of single pixels: every (sample, class) is scored on one pixel."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 3)).astype(np.float32)
    targets = np.array([0, 2, 1, 1, 0], np.int32)
    for bt in (False, True):
        assert_close(
            jitted(jaxloss.dice_loss, batch=bt, reduction="none")(logits, targets),
            ref.dice_loss(logits, targets, batch=bt, reduction="none"),
        )


# ---------------------------------------------------------------------------------------------
# absent classes, gradients, numerics
# ---------------------------------------------------------------------------------------------


def test_class_absent_from_prediction_and_target_scores_zero():
    """Probabilities exactly 0 for class 3 and no pixel of class 3: score 0, never NaN."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=(2, 4, 4))
    probs = np.concatenate([probs, np.zeros((2, 4, 4, 1))], axis=-1).astype(np.float32)
    targets = rng.integers(0, 3, size=(2, 4, 4)).astype(np.int32)
    grid = [(s, bt, sq) for s in (0.0, 1e-5) for bt, sq in ((False, False), (True, True))]

    @jax.jit
    def run(x, t):
        out = {}
        for s, bt, sq in grid:
            kw = dict(activation="none", smooth=s, batch=bt, squared=sq)
            out[s, bt, sq] = (
                jaxloss.dice_loss(x, t, reduction="none", **kw),
                jax.grad(jaxloss.dice_loss)(x, t, **kw),
                jax.grad(jaxloss.tversky_loss)(x, t, alpha=0.3, beta=0.7, **kw),
            )
        return out

    for key, (per, g, tg) in run(probs, targets).items():
        np.testing.assert_array_equal(np.asarray(per)[..., 3], 0.0)
        assert np.all(np.isfinite(per)), key
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(tg)), key


def test_all_background_images_are_finite():
    """Only class 0 present (softmax: the other classes are absent from every target)."""
    logits, _, _ = make_inputs("last", "int")
    targets = np.zeros(logits.shape[:-1], np.int32)
    zeros = np.zeros((2, 4, 4, 1), np.float32)
    grid = [
        ("softmax", 0.0, 1.0, False),
        ("softmax", 1e-5, 100.0, True),
        ("sigmoid", 0.0, 100.0, False),
        ("sigmoid", 1e-5, 1.0, True),
    ]

    @jax.jit
    def run(x, t):
        out = {}
        for a, s, scale, bt in grid:
            fn = functools.partial(jaxloss.dice_loss, activation=a, smooth=s, batch=bt)
            out[a, s, scale, bt] = jax.value_and_grad(fn)(scale * x, t)
        for s in (0.0, 1e-5):
            # a single sigmoid channel, saturated negative, with empty masks
            out["empty", s] = jax.value_and_grad(
                functools.partial(jaxloss.dice_loss, activation="sigmoid", smooth=s)
            )(zeros - 100.0, zeros)
        return out

    out = run(logits, targets)
    for key, (loss, g) in out.items():
        assert np.isfinite(loss) and np.all(np.isfinite(g)), key
        if key[0] != "empty":
            a, s, scale, bt = key
            want = ref.dice_loss(scale * logits, targets, activation=a, smooth=s, batch=bt)
            assert_close(loss, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["dice_loss", "tversky_loss", "dice_cross_entropy_loss"])
def test_gradients_finite_at_saturated_logits(loss):
    fn = getattr(jaxloss, loss)
    logits, targets, axis = make_inputs("first", "int_ignored")
    x = np.where(logits > 0, 100.0, -100.0).astype(np.float32)
    grid = [(0.0, False), (1e-5, True)]

    @jax.jit
    def run(x, t):
        return {(s, bt): jax.grad(fn)(x, t, axis=axis, smooth=s, batch=bt) for s, bt in grid}

    for key, g in run(x, targets).items():
        assert np.all(np.isfinite(g)), key


@pytest.mark.parametrize(
    ("activation", "kind", "squared"),
    [
        ("softmax", "int_ignored", False),
        ("sigmoid", "multilabel", True),
        ("softmax", "prob", True),
    ],
)
def test_gradient_matches_finite_differences_of_reference(activation, kind, squared):
    logits, targets, axis = make_inputs("first", kind, activation)
    logits = logits[:, :, :2, :2]
    targets = targets[:, :2, :2] if targets.ndim == 3 else targets[:, :, :2, :2]
    kw = dict(activation=activation, axis=axis, squared=squared, class_weights=WEIGHTS)
    got = jitted(jax.grad(jaxloss.tversky_loss), alpha=0.3, beta=0.7, **kw)(logits, targets)
    want = fd_grad(lambda z: ref.tversky_loss(z, targets, alpha=0.3, beta=0.7, **kw), logits)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_bfloat16_input():
    logits, targets, axis = make_inputs("last", "int_ignored")
    x16 = jnp.asarray(logits, jnp.bfloat16)
    for fn, rfn in ((jaxloss.dice_loss, ref.dice_loss),
                    (jaxloss.dice_cross_entropy_loss, ref.dice_cross_entropy_loss)):
        got = fn(x16, targets)
        assert got.dtype == jnp.float32
        want = rfn(np.asarray(x16.astype(jnp.float32)), targets)
        assert_close(got, want, rtol=BF16_RTOL, atol=1e-3)


def test_out_of_range_label_is_nan_for_its_sample_and_checked_raises():
    logits, targets, axis = make_inputs("last", "int")
    bad = targets.copy()
    bad[1, 0, 0] = 7
    per = np.asarray(jax.jit(functools.partial(jaxloss.dice_loss, reduction="none"))(logits, bad))
    assert np.all(np.isfinite(per[0])) and np.all(np.isnan(per[1]))
    with pytest.raises(Exception, match=re.escape("dice_loss: target label 7 is out of range")):
        jaxloss.checked(jaxloss.dice_loss)(logits, bad)


# ---------------------------------------------------------------------------------------------
# transformations: vmap over hyperparameters, axis_name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "name", "values"),
    [
        ("dice_loss", "smooth", [0.0, 1e-5, 0.5, 2.0]),
        ("tversky_loss", "smooth", [0.0, 1.0]),
        ("tversky_loss", "alpha", [0.0, 0.3, 0.5, 0.9]),
        ("tversky_loss", "beta", [0.1, 0.5, 0.7]),
        ("dice_cross_entropy_loss", "lambda_dice", [0.0, 0.25, 1.0]),
        ("dice_cross_entropy_loss", "lambda_ce", [0.0, 0.5, 2.0]),
        ("dice_cross_entropy_loss", "label_smoothing", [0.0, 0.1, 0.3]),
        ("dice_cross_entropy_loss", "smooth", [1e-5, 1.0]),
    ],
)
def test_vmap_over_hyperparameter(loss, name, values):
    fn = getattr(jaxloss, loss)
    logits, targets, axis = make_inputs("last", "int_ignored")
    got = jax.jit(jax.vmap(lambda v: fn(logits, targets, **{name: v})))(
        jnp.asarray(values, jnp.float32)
    )
    want = np.stack([np.asarray(fn(logits, targets, **{name: v})) for v in values])
    assert_close(got, want)


@pytest.mark.parametrize("loss", ["dice_loss", "tversky_loss", "dice_cross_entropy_loss"])
def test_vmap_over_class_weights(loss):
    fn = getattr(jaxloss, loss)
    logits, targets, axis = make_inputs("last", "int_ignored")
    ws = np.stack([WEIGHTS, np.ones(C, np.float32), np.array([0, 1, 0, 1], np.float32)])
    got = jax.jit(jax.vmap(lambda w: fn(logits, targets, class_weights=w)))(ws)
    want = np.stack([np.asarray(fn(logits, targets, class_weights=w)) for w in ws])
    assert_close(got, want)


def test_grad_wrt_hyperparameters_is_finite():
    logits, targets, axis = make_inputs("last", "int_ignored")
    g = jax.grad(
        lambda a, b, s: jaxloss.tversky_loss(logits, targets, alpha=a, beta=b, smooth=s),
        argnums=(0, 1, 2),
    )(0.3, 0.7, 1.0)
    assert all(np.isfinite(v) for v in g)


def test_axis_name_makes_the_loss_global():
    """Split the batch over a named vmap axis: every shard returns the unsplit loss.

    Pooled Dice statistics (batch=True) and the mean/sum numerators and denominators are all
    summed across the axis."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3, 3, C)).astype(np.float32)
    targets = rng.integers(0, C, size=(4, 3, 3)).astype(np.int32)
    targets[1] = -100  # one shard holds an empty sample
    grid = [(bt, r) for bt in (False, True) for r in ("mean", "sum")]

    def loss(x, t, bt, r, axis_name=None):
        return jaxloss.dice_cross_entropy_loss(
            x, t, batch=bt, reduction=r, class_weights=WEIGHTS, axis_name=axis_name
        )

    @jax.jit
    def run(x, t):
        xs, ts = x.reshape(2, 2, 3, 3, C), t.reshape(2, 2, 3, 3)
        return {
            (bt, r): (
                loss(x, t, bt, r),
                jax.vmap(functools.partial(loss, bt=bt, r=r, axis_name="d"), axis_name="d")(
                    xs, ts
                ),
            )
            for bt, r in grid
        }

    for _key, (whole, split) in run(logits, targets).items():
        assert_close(split, np.full(2, whole), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# dice_cross_entropy_loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "kind"), [("first", "int_ignored"), ("last", "prob")])
def test_dice_cross_entropy_parity(layout, kind, mode):
    logits, targets, axis = make_inputs(layout, kind)
    grid = [
        (True, 0.0, True, False, "mean"),
        (False, 0.1, True, False, "mean"),
        (True, 0.1, False, True, "mean"),
        (True, 0.1, True, False, "sum"),
        (False, 0.0, False, True, "sum"),
    ]

    def run(x, t):
        return {
            g: jaxloss.dice_cross_entropy_loss(
                x, t, lambda_dice=0.3, lambda_ce=0.7, class_weights=WEIGHTS if g[0] else None,
                label_smoothing=g[1], include_background=g[2], batch=g[3], reduction=g[4],
                axis=axis,
            )
            for g in grid
        }

    for (w, s, bg, bt, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.dice_cross_entropy_loss(
            logits, targets, lambda_dice=0.3, lambda_ce=0.7, class_weights=WEIGHTS if w else None,
            label_smoothing=s, include_background=bg, batch=bt, reduction=r, axis=axis,
        )
        assert_close(value, want)


def test_dice_cross_entropy_endpoints_and_where():
    logits, targets, axis = make_inputs("first", "int_ignored")
    where = np.random.default_rng(3).random(targets.shape) < 0.8
    kw = dict(class_weights=WEIGHTS, axis=axis, where=where)
    assert_close(
        jaxloss.dice_cross_entropy_loss(logits, targets, lambda_ce=0.0, **kw),
        jaxloss.dice_loss(logits, targets, **kw),
    )
    assert_close(
        jaxloss.dice_cross_entropy_loss(
            logits, targets, lambda_dice=0.0, label_smoothing=0.2, **kw
        ),
        jaxloss.cross_entropy(logits, targets, label_smoothing=0.2, **kw),
    )


def test_label_smoothing_affects_only_the_cross_entropy_term():
    logits, targets, axis = make_inputs("last", "int_ignored")
    pure_dice = [
        jaxloss.dice_cross_entropy_loss(logits, targets, lambda_ce=0.0, label_smoothing=s)
        for s in (0.0, 0.1, 0.5)
    ]
    np.testing.assert_array_equal(np.asarray(pure_dice), float(pure_dice[0]))
    combined = jaxloss.dice_cross_entropy_loss(logits, targets, label_smoothing=0.1)
    expected = jaxloss.dice_loss(logits, targets) + jaxloss.cross_entropy(
        logits, targets, label_smoothing=0.1
    )
    assert_close(combined, expected)


# ---------------------------------------------------------------------------------------------
# reproducing MONAI DiceLoss and segmentation_models_pytorch DiceLoss (formulas in reference)
# ---------------------------------------------------------------------------------------------


def _channel_first_inputs(seed=0, shape=(3, C, 4, 5)):
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    labels = rng.integers(0, C, size=(shape[0],) + shape[2:]).astype(np.int32)
    labels[0][labels[0] == 3] = 1  # class 3 absent from sample 0
    return logits, labels


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("squared", [False, True])
def test_reproduces_monai_softmax(batch, include_background, squared):
    """MONAI DiceLoss(softmax=True, to_onehot_y=True, ...) == dice_loss(axis=1, ...)."""
    logits, labels = _channel_first_inputs()
    kw = dict(batch=batch, include_background=include_background)
    want = ref.monai_dice_loss(
        logits, labels[:, None], softmax=True, to_onehot_y=True, squared_pred=squared, **kw
    )
    got = jaxloss.dice_loss(logits, labels, axis=1, squared=squared, **kw)
    assert_close(got, want)
    want_none = ref.monai_dice_loss(
        logits, labels[:, None], softmax=True, to_onehot_y=True, squared_pred=squared,
        reduction="none", **kw,
    )
    got_none = jaxloss.dice_loss(logits, labels, axis=1, squared=squared, reduction="none", **kw)
    # MONAI drops the background column; jaxloss keeps it as zeros.
    assert_close(got_none if include_background else got_none[..., 1:], want_none)


def test_reproduces_monai_defaults_and_sigmoid():
    logits, labels = _channel_first_inputs(1)
    probs = np.asarray(jax.nn.softmax(logits, axis=1))
    onehot = np.moveaxis(np.eye(C, dtype=np.float32)[labels], -1, 1)
    # MONAI DiceLoss() (no activation, one-hot target) == activation="none".
    assert_close(
        jaxloss.dice_loss(probs, onehot, activation="none", axis=1),
        ref.monai_dice_loss(probs, onehot),
    )
    # MONAI DiceLoss(sigmoid=True) on multi-label masks == activation="sigmoid".
    masks = (np.random.default_rng(2).random(logits.shape) < 0.3).astype(np.float32)
    for bt in (False, True):
        assert_close(
            jaxloss.dice_loss(logits, masks, activation="sigmoid", axis=1, batch=bt),
            ref.monai_dice_loss(logits, masks, sigmoid=True, batch=bt),
        )


@pytest.mark.parametrize("include_background", [True, False])
def test_reproduces_monai_weighted_mean_with_sum(include_background):
    """MONAI's weighted "mean" is mean(w_c * f): jaxloss "sum" / (N * C_kept) reproduces it,
    while jaxloss's "mean" is sum(w_c f) / sum(w_c) (they agree when the weights average 1)."""
    logits, labels = _channel_first_inputs(2)
    n = logits.shape[0]
    kept = C if include_background else C - 1
    monai_w = WEIGHTS if include_background else WEIGHTS[1:]
    want = ref.monai_dice_loss(
        logits, labels[:, None], softmax=True, to_onehot_y=True, weight=monai_w,
        include_background=include_background,
    )
    got_sum = jaxloss.dice_loss(
        logits, labels, axis=1, class_weights=WEIGHTS, reduction="sum",
        include_background=include_background,
    )
    assert_close(got_sum / (n * kept), want)
    got_mean = jaxloss.dice_loss(
        logits, labels, axis=1, class_weights=WEIGHTS, include_background=include_background
    )
    assert_close(got_mean, want * kept / np.sum(monai_w))
    unit = monai_w / np.mean(monai_w)
    full_unit = np.concatenate([[1.0], unit]).astype(np.float32) if not include_background else unit
    assert_close(
        jaxloss.dice_loss(logits, labels, axis=1, class_weights=full_unit,
                          include_background=include_background),
        ref.monai_dice_loss(logits, labels[:, None], softmax=True, to_onehot_y=True,
                            weight=unit, include_background=include_background),
    )


def test_reproduces_smp_multiclass_with_ignore_index():
    logits, labels = _channel_first_inputs(3)
    labels[labels == 3] = 2  # class 3 absent from the whole batch: SMP zeroes it, counts it
    labels[:, 0, :] = 255
    want = ref.smp_dice_loss(logits, labels, mode="multiclass", ignore_index=255)
    scores = jaxloss.dice_loss(
        logits, labels, axis=1, batch=True, smooth=0.0, ignore_index=255, reduction="none"
    )
    present = jnp.any(
        (labels[:, None] == jnp.arange(C)[None, :, None, None]) & (labels != 255)[:, None],
        axis=(0, 2, 3),
    )
    got = jnp.mean(jnp.where(present, scores, 0.0))
    assert not bool(present[3])
    assert_close(got, want)
    # Without the zeroing, jaxloss scores the absent class ~1 (it predicts some of it).
    assert float(scores[3]) > 0.99


def test_reproduces_smp_binary_and_multilabel():
    rng = np.random.default_rng(4)
    logits = (2.0 * rng.standard_normal((3, 1, 4, 5))).astype(np.float32)
    masks = (rng.random((3, 1, 4, 5)) < 0.3).astype(np.float32)
    scores = jaxloss.dice_loss(
        logits, masks, activation="sigmoid", axis=1, batch=True, smooth=0.0, reduction="none"
    )
    assert_close(jnp.mean(scores), ref.smp_dice_loss(logits, masks, mode="binary"))

    logits = (2.0 * rng.standard_normal((3, C, 4, 5))).astype(np.float32)
    masks = (rng.random((3, C, 4, 5)) < 0.3).astype(np.float32)
    masks[:, 2] = 0.0  # channel 2 empty everywhere
    scores = jaxloss.dice_loss(
        logits, masks, activation="sigmoid", axis=1, batch=True, smooth=0.0, reduction="none"
    )
    present = jnp.any(masks > 0, axis=(0, 2, 3))
    assert_close(
        jnp.mean(jnp.where(present, scores, 0.0)),
        ref.smp_dice_loss(logits, masks, mode="multilabel"),
    )


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

X = np.zeros((2, 3, 3, C), np.float32)
Y = np.zeros((2, 3, 3), np.int32)

ERRORS = [
    (jaxloss.dice_loss, (X, Y), dict(reduction="avg"), ValueError,
     "dice_loss: `reduction` must be one of ('mean', 'sum', 'none'), got 'avg'"),
    (jaxloss.dice_loss, (X, Y), dict(activation="relu"), ValueError,
     "dice_loss: `activation` must be one of ('softmax', 'sigmoid', 'none'), got 'relu'"),
    (jaxloss.dice_loss, (X.astype(np.int32), Y), {}, TypeError,
     "dice_loss: `logits` must be a floating-point array, got dtype int32"),
    (jaxloss.dice_loss, (X, Y), dict(axis=0), ValueError,
     "dice_loss: `axis`=0 is the batch axis"),
    (jaxloss.dice_loss, (X, Y), dict(axis=4), ValueError,
     "dice_loss: `axis`=4 is out of range for `logits` of shape (2, 3, 3, 4)"),
    (jaxloss.dice_loss, (np.zeros((C,), np.float32), np.int32(0)), {}, ValueError,
     "dice_loss: `logits` must have a batch axis and a class axis"),
    (jaxloss.dice_loss, (X, Y[:, :2]), {}, ValueError,
     "dice_loss: integer `targets` must have the logits' shape without the class axis"),
    (jaxloss.dice_loss, (np.zeros((2, C, 3, 3), np.float32), Y), {}, ValueError,
     "For channel-first (N, C, ...) logits pass axis=1."),
    (jaxloss.dice_loss, (X, np.zeros((2, 3, 3, 3), np.float32)), {}, ValueError,
     "dice_loss: floating (probability or mask) `targets` must have the logits' shape"),
    (jaxloss.dice_loss, (X, X), dict(ignore_index=0), ValueError,
     "dice_loss: `ignore_index`=0 applies to integer targets only"),
    (jaxloss.dice_loss, (X, np.zeros((2, 3, 3), np.complex64)), {}, TypeError,
     "dice_loss: `targets` must have an integer dtype"),
    (jaxloss.dice_loss, (X, Y), dict(class_weights=np.ones(3, np.float32)), ValueError,
     "dice_loss: `class_weights` must have shape (4,), one weight per class, got shape (3,)"),
    (jaxloss.dice_loss, (X, Y), dict(smooth=-1.0), ValueError,
     "dice_loss: `smooth` must be >= 0, got -1.0"),
    (jaxloss.dice_loss, (X, Y), dict(smooth=np.ones(2, np.float32)), ValueError,
     "dice_loss: `smooth` must be a scalar, got shape (2,)"),
    (jaxloss.dice_loss, (X, Y), dict(where=np.ones((3, 2), bool)), ValueError,
     "dice_loss: `where` of shape (3, 2) must broadcast to (2, 3, 3)"),
    (jaxloss.dice_loss, (X, Y), dict(where=np.ones((2, 3, 3), np.int32)), TypeError,
     "dice_loss: `where` must be a boolean array, got dtype int32"),
    (jaxloss.dice_loss, (X, Y), dict(batch=1), TypeError,
     "dice_loss: `batch` must be a Python or NumPy bool"),
    (jaxloss.dice_loss, (X, Y), dict(ignore_index=1.5), TypeError,
     "dice_loss: `ignore_index` must be a Python int"),
    (jaxloss.dice_loss, (X[..., :1], Y), dict(include_background=False), ValueError,
     "dice_loss: `include_background=False` drops class 0, but `logits` has a single class"),
    (jaxloss.tversky_loss, (X, Y), dict(alpha=-0.1), ValueError,
     "tversky_loss: `alpha` must be >= 0, got -0.1"),
    (jaxloss.tversky_loss, (X, Y), dict(beta=-2), ValueError,
     "tversky_loss: `beta` must be >= 0, got -2.0"),
    (jaxloss.dice_cross_entropy_loss, (X, Y), dict(reduction="none"), ValueError,
     "dice_cross_entropy_loss: `reduction` must be 'mean' or 'sum', got 'none'"),
    (jaxloss.dice_cross_entropy_loss, (X, Y), dict(lambda_ce=-1.5), ValueError,
     "dice_cross_entropy_loss: `lambda_ce` must be >= 0, got -1.5"),
    (jaxloss.dice_cross_entropy_loss, (X, Y), dict(label_smoothing=-0.1), ValueError,
     "dice_cross_entropy_loss: `label_smoothing` must be in [0, 1], got -0.1"),
    (jaxloss.dice_cross_entropy_loss, (X, Y), dict(class_weights=np.ones(5, np.float32)),
     ValueError, "dice_cross_entropy_loss: `class_weights` must have shape (4,)"),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "message"), ERRORS, ids=[e[4][:50] for e in ERRORS]
)
def test_bad_input_raises(fn, args, kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


def test_traced_hyperparameters_are_not_range_checked():
    """Range checks run on concrete values only; under jit a negative smooth is computed."""
    out = jax.jit(lambda s: jaxloss.dice_loss(X, Y, smooth=s))(-1.0)
    assert out.shape == ()


# ---------------------------------------------------------------------------------------------
# issue 12, item 4: soft_label, focal Tversky, generalized_dice_loss, dice_focal_loss
# ---------------------------------------------------------------------------------------------


def _soft_inputs(seed=0, shape=(2, 5, 4, C)):
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(np.float32)
    soft = rng.dirichlet(np.ones(C), size=shape[:-1]).astype(np.float32)
    return logits, soft


@pytest.mark.parametrize("loss", ["dice_loss", "tversky_loss"])
def test_soft_label_is_zero_when_the_prediction_equals_the_soft_target(loss):
    """The issue's report: dice_loss(p, p, activation="none") on a soft p was 0.53."""
    _, soft = _soft_inputs()
    fn = getattr(jaxloss, loss)
    kw = dict(alpha=0.3, beta=0.7) if loss == "tversky_loss" else {}
    for batch in (False, True):
        got = fn(soft, soft, activation="none", soft_label=True, batch=batch, **kw)
        np.testing.assert_allclose(got, 0.0, atol=1e-6)
        # Without soft_label the product intersection never reaches 0 on soft targets.
        assert float(fn(soft, soft, activation="none", batch=batch, **kw)) > 0.3
    grad = jax.grad(lambda p: fn(p, soft, activation="none", soft_label=True, **kw))(soft)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("mode", ["jit"])
def test_soft_label_parity_and_hard_labels_unchanged(mode):
    logits, soft = _soft_inputs(1)
    grid = [(opt, r) for opt in OPTIONS[:4] for r in REDUCTIONS]

    def run(x, t):
        return {
            (opt, r): jaxloss.dice_loss(x, t, soft_label=True, reduction=r, **option_kwargs(*opt))
            for opt, r in grid
        }

    for (opt, r), value in maybe_jit(mode, run)(logits, soft).items():
        want = ref.dice_loss(logits, soft, soft_label=True, reduction=r, **option_kwargs(*opt))
        assert_close(value, want)
    # 0/1 targets (one-hot or multi-label masks): soft_label changes nothing.
    for activation, kind in (("softmax", "int_ignored"), ("sigmoid", "multilabel")):
        x, t, axis = make_inputs("first", kind, activation)
        kw = dict(activation=activation, axis=axis, reduction="none")
        assert_close(jaxloss.dice_loss(x, t, soft_label=True, **kw), jaxloss.dice_loss(x, t, **kw))


@pytest.mark.parametrize("batch", [False, True])
def test_soft_label_reproduces_monai(batch):
    """MONAI DiceLoss/TverskyLoss(soft_label=True) on soft one-hot targets, channel-first."""
    logits, soft = _soft_inputs(2, (3, 4, 5, C))
    x = np.moveaxis(logits, -1, 1)
    t = np.moveaxis(soft, -1, 1)
    got = jaxloss.dice_loss(x, t, axis=1, soft_label=True, batch=batch, reduction="none")
    want = ref.monai_dice_loss(x, t, softmax=True, soft_label=True, batch=batch, reduction="none")
    assert_close(got, want)
    # MONAI's Tversky places the smoothing without the factor 2: smooth=2 s here.
    got = jaxloss.tversky_loss(
        x, t, axis=1, alpha=0.3, beta=0.7, soft_label=True, batch=batch, smooth=2e-5,
        reduction="none",
    )
    want = ref.monai_tversky_loss(
        x, t, softmax=True, alpha=0.3, beta=0.7, soft_label=True, batch=batch, reduction="none"
    )
    assert_close(got, want)


def test_soft_label_targets_outside_unit_interval_are_an_error_when_concrete():
    _, soft = _soft_inputs()
    bad = soft.copy()
    bad[1, 2, 3, 0] = 1.25
    message = (
        "dice_loss: `targets` must be in [0, 1] with soft_label=True (soft labels are "
        "probabilities), got 1.25 at index (1, 2, 3, 0)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        jaxloss.dice_loss(soft, bad, activation="none", soft_label=True)
    keep = np.ones(bad.shape[:-1], bool)
    keep[1, 2, 3] = False  # a masked pixel is not checked
    jaxloss.dice_loss(soft, bad, activation="none", soft_label=True, where=keep)
    # Traced targets are checked under jaxloss.checked only.
    out = jax.jit(lambda t: jaxloss.dice_loss(soft, t, activation="none", soft_label=True))(bad)
    assert np.isfinite(out)


@pytest.mark.parametrize("gamma", [0.0, 0.75, 1.0, 2.0])
def test_focal_tversky_parity(gamma, mode):
    logits, targets, axis = make_inputs("first", "int_ignored")

    def run(x, t):
        return {
            (bt, r): jaxloss.tversky_loss(
                x, t, alpha=0.3, beta=0.7, gamma=gamma, batch=bt, axis=axis, reduction=r,
                class_weights=WEIGHTS,
            )
            for bt in (False, True) for r in REDUCTIONS
        }

    for (bt, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.tversky_loss(
            logits, targets, alpha=0.3, beta=0.7, gamma=gamma, batch=bt, axis=axis,
            reduction=r, class_weights=WEIGHTS,
        )
        assert_close(value, want)


def test_focal_tversky_gamma_one_is_tversky_and_per_class_before_the_mean():
    logits, targets, axis = make_inputs("last", "int_ignored")
    kw = dict(alpha=0.3, beta=0.7, reduction="none")
    plain = np.asarray(jaxloss.tversky_loss(logits, targets, **kw), np.float64)
    np.testing.assert_array_equal(jaxloss.tversky_loss(logits, targets, gamma=1.0, **kw), plain)
    # Traced gamma = 1 takes the power path: equal to rounding.
    traced = jax.jit(lambda g: jaxloss.tversky_loss(logits, targets, gamma=g, **kw))(1.0)
    assert_close(traced, plain)
    focal = jaxloss.tversky_loss(logits, targets, gamma=0.75, alpha=0.3, beta=0.7)
    assert_close(focal, np.mean(plain**0.75))


@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky_reproduces_smp_for_one_class(gamma):
    """SMP TverskyLoss(mode="binary", gamma) == tversky_loss(sigmoid, batch=True) for one
    class (SMP raises the class mean to gamma, jaxloss each class: the same for C=1)."""
    rng = np.random.default_rng(3)
    logits = (2.0 * rng.standard_normal((3, 1, 4, 5))).astype(np.float32)
    masks = (rng.random(logits.shape) < 0.4).astype(np.float32)
    got = jaxloss.tversky_loss(
        logits, masks, alpha=0.3, beta=0.7, gamma=gamma, activation="sigmoid", axis=1,
        batch=True, smooth=0.0,
    )
    want = ref.smp_tversky_loss(logits, masks, mode="binary", alpha=0.3, beta=0.7, gamma=gamma)
    assert_close(got, want)
    # Two classes: SMP's mean-then-power differs from the per-class power.
    two = np.concatenate([logits, -logits], axis=1)
    two_masks = np.concatenate([masks, 1.0 - masks], axis=1)
    jl = jaxloss.tversky_loss(
        two, two_masks, alpha=0.3, beta=0.7, gamma=gamma, activation="sigmoid", axis=1,
        batch=True, smooth=0.0,
    )
    smp = ref.smp_tversky_loss(two, two_masks, mode="multilabel", alpha=0.3, beta=0.7,
                               gamma=gamma)
    assert abs(float(jl) - smp) > 1e-4


def test_focal_tversky_gradient_finite_at_a_perfect_score():
    """x**0.75 has an infinite slope at 0: a perfect class gets gradient 0, not inf/NaN."""
    _, soft = _soft_inputs()
    onehot = (soft == soft.max(-1, keepdims=True)).astype(np.float32)
    g = jax.grad(lambda p: jaxloss.tversky_loss(
        p, onehot, activation="none", gamma=0.75, smooth=0.0))(onehot)
    assert np.all(np.isfinite(g))


GDL_CASES = [
    ("softmax", "int_ignored", "last"),
    ("softmax", "prob", "first"),
    ("sigmoid", "multilabel", "first"),
]


@pytest.mark.parametrize(("activation", "kind", "layout"), GDL_CASES)
def test_generalized_dice_parity_grid(activation, kind, layout, mode):
    logits, targets, axis = make_inputs(layout, kind, activation)
    if kind == "int_ignored":
        targets[1][targets[1] == 2] = 3  # class 2 absent from sample 1: an infinite weight
    grid = [
        (w, bg, bt, sl, r)
        for w in ("square", "simple", "uniform")
        for bg, bt, sl in ((True, False, False), (False, True, True))
        for r in REDUCTIONS
    ]

    def run(x, t):
        return {
            key: jaxloss.generalized_dice_loss(
                x, t, w_type=key[0], include_background=key[1], batch=key[2],
                soft_label=key[3], reduction=key[4], activation=activation, axis=axis,
            )
            for key in grid
        }

    for (w, bg, bt, sl, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.generalized_dice_loss(
            logits, targets, w_type=w, include_background=bg, batch=bt, soft_label=sl,
            reduction=r, activation=activation, axis=axis,
        )
        assert value.shape == np.shape(want)
        assert_close(value, want)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_generalized_dice_reproduces_monai(w_type, batch, include_background):
    """MONAI GeneralizedDiceLoss(softmax=True, to_onehot_y=True), classes absent from some
    samples (MONAI's infinite weights) included."""
    logits, labels = _channel_first_inputs(4)
    kw = dict(batch=batch, include_background=include_background)
    want = ref.monai_generalized_dice_loss(
        logits, labels[:, None], softmax=True, to_onehot_y=True, w_type=w_type,
        reduction="none", **kw,
    )
    got = jaxloss.generalized_dice_loss(
        logits, labels, axis=1, w_type=w_type, reduction="none", **kw
    )
    assert_close(got, np.reshape(want, np.shape(got)))


def test_generalized_dice_sample_without_any_target_is_zero_and_finite():
    """Every class absent (sigmoid, all-zero masks): all weights are 0, the loss 1 - s/s = 0,
    as in MONAI, with finite gradients; smooth=0 reads the 0/0 as a perfect score."""
    logits, _ = _soft_inputs()
    empty = np.zeros_like(logits)
    for smooth in (1e-5, 0.0):
        f = functools.partial(
            jaxloss.generalized_dice_loss, activation="sigmoid", smooth=smooth, reduction="none"
        )
        np.testing.assert_array_equal(f(logits, empty), 0.0)
        g = jax.grad(lambda x, f=f: jnp.sum(f(x, empty)))(logits)
        assert np.all(np.isfinite(g))
    monai = ref.monai_generalized_dice_loss(
        np.moveaxis(logits, -1, 1), np.moveaxis(empty, -1, 1), sigmoid=True, reduction="none"
    )
    np.testing.assert_allclose(monai, 0.0, atol=1e-12)


def test_generalized_dice_uniform_one_class_is_dice():
    logits, targets, axis = make_inputs("last", "multilabel", "sigmoid")
    x, t = logits[..., :1], targets[..., :1]
    kw = dict(activation="sigmoid", reduction="none")
    assert_close(
        jaxloss.generalized_dice_loss(x, t, w_type="uniform", **kw),
        jaxloss.dice_loss(x, t, **kw)[:, 0],
    )


def test_generalized_dice_gradient_matches_finite_differences_of_reference():
    logits, targets, axis = make_inputs("first", "int_ignored")
    logits, targets = logits[:, :, :2, :2], targets[:, :2, :2]
    got = jitted(jax.grad(jaxloss.generalized_dice_loss), axis=axis, w_type="simple")(
        logits, targets
    )
    want = fd_grad(
        lambda z: ref.generalized_dice_loss(z, targets, axis=axis, w_type="simple"), logits
    )
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


DICE_FOCAL_OPTIONS = [
    dict(),
    dict(class_weights=WEIGHTS, include_background=False, gamma=0.5),
    dict(batch=True, squared=True, lambda_dice=0.25, lambda_focal=2.0),
]


@pytest.mark.parametrize(
    ("activation", "kind", "layout"),
    [("softmax", "int_ignored", "last"), ("sigmoid", "multilabel", "first"),
     ("sigmoid", "int_ignored", "last")],
)
def test_dice_focal_parity(activation, kind, layout, mode):
    logits, targets, axis = make_inputs(layout, kind)
    grid = [(i, r) for i in range(len(DICE_FOCAL_OPTIONS)) for r in ("mean", "sum")]
    extra = dict(alpha=0.25) if activation == "sigmoid" else {}

    def run(x, t):
        return {
            (i, r): jaxloss.dice_focal_loss(
                x, t, activation=activation, axis=axis, reduction=r, **extra,
                **DICE_FOCAL_OPTIONS[i],
            )
            for i, r in grid
        }

    for (i, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.dice_focal_loss(
            logits, targets, activation=activation, axis=axis, reduction=r, **extra,
            **DICE_FOCAL_OPTIONS[i],
        )
        assert_close(value, want)


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_dice_focal_reproduces_monai_sigmoid(include_background, alpha):
    """MONAI DiceFocalLoss(sigmoid=True) on multi-label masks (weights averaging 1, where
    MONAI's and jaxloss's weighted Dice means agree)."""
    logits, labels = _channel_first_inputs(5)
    masks = (np.random.default_rng(6).random(logits.shape) < 0.3).astype(np.float32)
    weight = np.array([0.5, 1.5, 1.0, 1.0], np.float32)
    weight = weight if include_background else np.array([1.5, 0.5, 1.0], np.float32)
    cw = weight if include_background else np.concatenate([[7.0], weight]).astype(np.float32)
    want = ref.monai_dice_focal_loss(
        logits, masks, sigmoid=True, include_background=include_background, alpha=alpha,
        weight=weight, gamma=1.5, lambda_dice=0.7,
    )
    got = jaxloss.dice_focal_loss(
        logits, masks, activation="sigmoid", axis=1, include_background=include_background,
        alpha=alpha, class_weights=cw, gamma=1.5, lambda_dice=0.7,
    )
    assert_close(got, want)


def test_dice_focal_softmax_is_dice_plus_focal_loss_and_differs_from_monai():
    logits, labels = _channel_first_inputs(7)
    got = jaxloss.dice_focal_loss(logits, labels, axis=1, gamma=2.0)
    parts = jaxloss.dice_loss(logits, labels, axis=1) + jaxloss.focal_loss(
        logits, labels, axis=1, gamma=2.0
    )
    assert_close(got, parts)
    monai = ref.monai_dice_focal_loss(logits, labels[:, None], softmax=True, to_onehot_y=True)
    assert abs(float(got) - monai) > 1e-3  # MONAI's focal term is a per-channel sigmoid one


@pytest.mark.parametrize(
    ("loss", "name", "values"),
    [
        ("tversky_loss", "gamma", [0.5, 0.75, 1.0, 3.0]),
        ("generalized_dice_loss", "smooth", [0.0, 1e-5, 1.0]),
        ("dice_focal_loss", "gamma", [0.0, 1.0, 2.0]),
        ("dice_focal_loss", "lambda_focal", [0.0, 0.5]),
    ],
)
def test_vmap_over_new_hyperparameters(loss, name, values):
    fn = getattr(jaxloss, loss)
    logits, targets, axis = make_inputs("last", "int_ignored")
    got = jax.jit(jax.vmap(lambda v: fn(logits, targets, **{name: v})))(
        jnp.asarray(values, jnp.float32)
    )
    want = np.stack([np.asarray(fn(logits, targets, **{name: v})) for v in values])
    assert_close(got, want)


def test_new_losses_bfloat16_and_axis_name():
    logits, targets, axis = make_inputs("last", "int_ignored")
    x16 = jnp.asarray(logits, jnp.bfloat16)
    x32 = np.asarray(x16.astype(jnp.float32))
    for fn, rfn in ((jaxloss.generalized_dice_loss, ref.generalized_dice_loss),
                    (jaxloss.dice_focal_loss, ref.dice_focal_loss)):
        got = fn(x16, targets)
        assert got.dtype == jnp.float32
        assert_close(got, rfn(x32, targets), rtol=BF16_RTOL, atol=1e-3)

    def split(fn, **kw):
        xs = logits.reshape((2, 1) + logits.shape[1:])
        ts = targets.reshape((2, 1) + targets.shape[1:])
        return jax.vmap(functools.partial(fn, axis_name="d", **kw), axis_name="d")(xs, ts)

    for fn, kw in ((jaxloss.generalized_dice_loss, dict(batch=True)),
                   (jaxloss.generalized_dice_loss, dict(reduction="sum")),
                   (jaxloss.dice_focal_loss, dict(activation="sigmoid"))):
        assert_close(split(fn, **kw), np.full(2, fn(logits, targets, **kw)), rtol=1e-5)


def test_monai_drops_weight_when_one_channel_is_left():
    """MONAI DiceLoss(weight=w) with C = 2 and include_background=False keeps one channel and
    ignores `weight`: jaxloss's weighted "mean" equals it, "sum" is w_1 times it."""
    logits, labels = _channel_first_inputs(8, shape=(3, 2, 4, 5))
    labels = np.where(labels > 1, 1, labels)
    w1 = 3.0
    monai = ref.monai_dice_loss(
        logits, labels[:, None], softmax=True, to_onehot_y=True, include_background=False,
        weight=np.array([w1]),
    )
    cw = np.array([1.0, w1], np.float32)
    kw = dict(axis=1, include_background=False, class_weights=cw)
    assert_close(jaxloss.dice_loss(logits, labels, **kw), monai)
    n = logits.shape[0]
    assert_close(jaxloss.dice_loss(logits, labels, reduction="sum", **kw), w1 * n * monai)


# ---------------------------------------------------------------------------------------------
# pinned to the peers themselves: MONAI 1.6.1 and SMP (segmentation_models_pytorch losses at
# commit 5006616, 0.5.1.dev0), float32, recorded by tests/record_monai_values.py
# ---------------------------------------------------------------------------------------------

# monai 1.6.1, torch 2.13.0+cpu, python tests/record_monai_values.py
PEER_RECORDED = {
    'monai.DiceLoss(softmax, soft_label)[soft]': 0.4896261990070343,
    'monai.TverskyLoss(softmax, 0.3, 0.7, soft_label, batch)[soft]': 0.48511433601379395,
    'monai.GeneralizedDiceLoss(softmax, onehot, square)': 0.7227763533592224,
    'monai.GeneralizedDiceLoss(softmax, onehot, simple, batch, no background)': 0.6855310201644897,
    'monai.GeneralizedDiceLoss(sigmoid, uniform, soft_label)[soft]': 0.39283642172813416,
    'monai.DiceFocalLoss(sigmoid, gamma 1.5, alpha 0.3, weight)[masks]': 0.8090534210205078,
    'monai.DiceLoss(softmax, onehot, no background, weight [3]) C=2': 0.3866354525089264,
    'smp.LovaszLoss(multiclass)': 0.7632530331611633,
    'smp.LovaszLoss(multiclass, per_image)': 0.7413493990898132,
    'smp.LovaszLoss(binary)': 2.1105470657348633,
    'smp.LovaszLoss(multilabel, per_image)': 2.0152595043182373,
    'smp.TverskyLoss(binary, 0.3, 0.7, gamma 0.75)': 0.7063549757003784,
}


def _peer_jax_calls():
    """case id -> the jaxloss call that reproduces the peer call of the same id."""
    J = jaxloss
    return {
        "monai.DiceLoss(softmax, soft_label)[soft]": lambda a: J.dice_loss(
            a["logits"], a["soft"], axis=1, soft_label=True),
        "monai.TverskyLoss(softmax, 0.3, 0.7, soft_label, batch)[soft]": lambda a: J.tversky_loss(
            a["logits"], a["soft"], axis=1, alpha=0.3, beta=0.7, soft_label=True, batch=True,
            smooth=2e-5),
        "monai.GeneralizedDiceLoss(softmax, onehot, square)": lambda a: J.generalized_dice_loss(
            a["logits"], a["labels"], axis=1),
        "monai.GeneralizedDiceLoss(softmax, onehot, simple, batch, no background)": (
            lambda a: J.generalized_dice_loss(
                a["logits"], a["labels"], axis=1, w_type="simple", batch=True,
                include_background=False)),
        "monai.GeneralizedDiceLoss(sigmoid, uniform, soft_label)[soft]": (
            lambda a: J.generalized_dice_loss(
                a["logits"], a["soft"], axis=1, activation="sigmoid", w_type="uniform",
                soft_label=True)),
        "monai.DiceFocalLoss(sigmoid, gamma 1.5, alpha 0.3, weight)[masks]": (
            lambda a: J.dice_focal_loss(
                a["logits"], a["masks"], axis=1, activation="sigmoid", gamma=1.5, alpha=0.3,
                class_weights=np.array([0.5, 1.5, 1.0], np.float32), lambda_dice=0.7)),
        "monai.DiceLoss(softmax, onehot, no background, weight [3]) C=2": lambda a: J.dice_loss(
            a["logits"][:, :2], np.minimum(a["labels"], 1), axis=1, include_background=False,
            class_weights=np.array([1.0, 3.0], np.float32)),
        "smp.LovaszLoss(multiclass)": lambda a: J.lovasz_softmax_loss(
            a["logits"], a["labels"], axis=1),
        "smp.LovaszLoss(multiclass, per_image)": lambda a: J.lovasz_softmax_loss(
            a["logits"], a["labels"], axis=1, per_image=True),
        "smp.LovaszLoss(binary)": lambda a: J.lovasz_hinge_loss(a["logits"][:, :1], a["binary"]),
        "smp.LovaszLoss(multilabel, per_image)": lambda a: J.lovasz_hinge_loss(
            a["logits"], a["masks"], per_image=True),
        "smp.TverskyLoss(binary, 0.3, 0.7, gamma 0.75)": lambda a: J.tversky_loss(
            a["logits"][:, :1], a["binary"], axis=1, activation="sigmoid", batch=True,
            alpha=0.3, beta=0.7, gamma=0.75, smooth=0.0),
    }


@pytest.mark.parametrize("case", sorted(PEER_RECORDED))
def test_pinned_to_monai_and_smp(case):
    from record_monai_values import peer_inputs

    inputs = {
        k: v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int32)
        for k, v in peer_inputs().items()
    }
    assert set(_peer_jax_calls()) == set(PEER_RECORDED)
    got = _peer_jax_calls()[case](inputs)
    np.testing.assert_allclose(got, PEER_RECORDED[case], rtol=2e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# SMP overlap (issue 23, item 5): jaccard_loss (SMP JaccardLoss) and mcc_loss (SMP MCCLoss),
# pinned to SMP 0.6's values and gradients (float64) recorded by tests/record_smp_overlap.py
# ---------------------------------------------------------------------------------------------

_SMP = dict(axis=1, batch=True, smooth=0.0, absent="zero")  # SMP JaccardLoss's conventions
ABSENT_VALUES = ("score", "zero")


def _smp_jax_calls():
    """case id of record_smp_overlap.CASES -> the jaxloss call that reproduces SMP's."""
    J = jaxloss
    sig = dict(_SMP, activation="sigmoid")
    none = dict(_SMP, activation="none")
    return {
        "jaccard/multiclass": lambda x, y: J.jaccard_loss(x, y, **_SMP),
        "jaccard/multiclass log smooth": lambda x, y: J.jaccard_loss(
            x, y, **dict(_SMP, smooth=0.5), log_loss=True),
        "jaccard/multiclass ignore_index": lambda x, y: J.jaccard_loss(
            x, y, **_SMP, ignore_index=255),
        # classes=[1, 3], class_weights=w: w on the selected classes, 0 elsewhere
        "jaccard/multiclass classes weights": lambda x, y: J.jaccard_loss(
            x, y, **_SMP, class_weights=np.array([0.0, 2.0, 0.0, 3.0])),
        "jaccard/multiclass classes": lambda x, y: J.jaccard_loss(
            x, y, **_SMP, class_weights=np.array([1.0, 0.0, 1.0, 0.0])),
        "jaccard/multiclass probs": lambda x, y: J.jaccard_loss(x, y, **none),
        "jaccard/binary": lambda x, y: J.jaccard_loss(x, y, **sig),
        "jaccard/binary empty": lambda x, y: J.jaccard_loss(x, y, **sig),
        "jaccard/binary empty log": lambda x, y: J.jaccard_loss(x, y, **sig, log_loss=True),
        "jaccard/binary saturated log": lambda x, y: J.jaccard_loss(
            x, y, **sig, log_loss=True),
        "jaccard/multilabel log": lambda x, y: J.jaccard_loss(x, y, **sig, log_loss=True),
        "jaccard/multilabel soft": lambda x, y: J.jaccard_loss(x, y, **sig, soft_label=True),
        "jaccard/multilabel soft probs smooth": lambda x, y: J.jaccard_loss(
            x, y, **dict(none, smooth=1.0), soft_label=True),
        "jaccard/multilabel tiny eps": lambda x, y: J.jaccard_loss(
            x, y, **none, soft_label=True, log_loss=True),
        "mcc/default": lambda x, y: J.mcc_loss(x, y),
        "mcc/empty": lambda x, y: J.mcc_loss(x, y),
        "mcc/eps": lambda x, y: J.mcc_loss(x, y, eps=1e-2),
        "mcc/perfect": lambda x, y: J.mcc_loss(x, y),
        "mcc/soft channels": lambda x, y: J.mcc_loss(x, y),
    }


def _smp_reference(case_id, pred, true):
    """The float64 transcription of SMP's code (tests/reference.py) for a recorded case."""
    from record_smp_overlap import CASES

    cls, kwargs, _, _ = CASES[case_id]
    if cls == "MCCLoss":
        return ref.mcc_loss(pred, true, **kwargs)
    return ref.smp_jaccard_loss(pred, true, **kwargs)


@functools.cache
def _smp_recorded():
    import pathlib

    path = pathlib.Path(__file__).with_name("data") / "smp_overlap.npz"
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _smp_case_ids():
    from record_smp_overlap import CASES

    return sorted(CASES)


@pytest.mark.parametrize("case", _smp_case_ids())
def test_smp_overlap_pinned_to_smp_values_and_gradients(case):
    recorded = _smp_recorded()
    assert "segmentation_models_pytorch 0.6" in str(recorded["versions"])
    assert set(_smp_jax_calls()) == set(_smp_case_ids())
    pred, true = recorded[f"{case}/pred"], recorded[f"{case}/true"]
    want, want_grad = recorded[f"{case}/value"], recorded[f"{case}/grad"]
    with jax.enable_x64(True):
        value, grad = jax.jit(jax.value_and_grad(lambda x: _smp_jax_calls()[case](x, true)))(
            pred)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-14)
    # and the transcription of SMP's code agrees with SMP itself
    np.testing.assert_allclose(_smp_reference(case, pred, true), want, rtol=1e-12, atol=1e-14)


# (activation, target kind, layout): every activation and target kind between them
JACCARD_CASES = [
    ("softmax", "int_ignored", "last"),
    ("softmax", "prob", "first"),
    ("sigmoid", "multilabel", "first"),
    ("none", "int", "last"),
]
# (log_loss, absent, soft_label, smooth) with OPTIONS' (weights, background, batch, squared)
JACCARD_OPTIONS = [
    (False, "score", False, 1e-5, OPTIONS[0]),
    (True, "score", False, 1e-5, OPTIONS[1]),
    (False, "zero", True, 0.0, OPTIONS[3]),
    (True, "zero", False, 0.0, OPTIONS[2]),
    (True, "score", True, 0.5, OPTIONS[4]),
    (False, "zero", False, 1.0, OPTIONS[5]),
]


@pytest.mark.parametrize(("activation", "kind", "layout"), JACCARD_CASES)
def test_jaccard_parity_grid(activation, kind, layout, mode):
    """log_loss, absent, soft_label, smooth x weights, background, batch, squared x each
    reduction, against the float64 reference formula."""
    logits, targets, axis = make_inputs(layout, kind, activation)
    options = JACCARD_OPTIONS if mode == "jit" else JACCARD_OPTIONS[::2]

    def kwargs(opt):
        log_loss, absent, soft, smooth, other = opt
        return dict(log_loss=log_loss, absent=absent, soft_label=soft, smooth=smooth,
                    activation=activation, axis=axis, **option_kwargs(*other))

    def run(x, t):
        return {(i, r): jaxloss.jaccard_loss(x, t, reduction=r, **kwargs(opt))
                for i, opt in enumerate(options) for r in REDUCTIONS}

    for (i, r), value in maybe_jit(mode, run)(logits, targets).items():
        want = ref.jaccard_loss(logits, targets, reduction=r, **kwargs(options[i]))
        assert value.dtype == jnp.float32
        assert value.shape == np.shape(want), (options[i], r)
        assert_close(value, want, rtol=1e-5, atol=1e-5)


def test_jaccard_reproduces_smp_on_random_configurations():
    """SMP's mode / classes / class_weights / ignore_index / log_loss mapped as the docstring
    says, against the transcription of SMP's code (pinned to SMP itself above)."""
    rng = np.random.default_rng(23)
    grid = [
        ("multiclass", dict(), {}),
        ("multiclass", dict(log_loss=True, smooth=0.3), dict(log_loss=True, smooth=0.3)),
        ("multiclass", dict(ignore_index=255, classes=[0, 3]),
         dict(ignore_index=255, class_weights=np.array([1.0, 0.0, 0.0, 1.0]))),
        ("multiclass", dict(class_weights=list(WEIGHTS)), dict(class_weights=WEIGHTS)),
        ("multilabel", dict(log_loss=True, classes=[1, 2], class_weights=list(WEIGHTS)),
         dict(log_loss=True, activation="sigmoid", class_weights=WEIGHTS * [0, 1, 1, 0])),
        ("binary", dict(smooth=1.0), dict(smooth=1.0, activation="sigmoid")),
    ]
    for seed in range(3):
        logits = (3.0 * rng.standard_normal((3, C, 4, 5))).astype(np.float32)
        labels = rng.integers(0, 3, (3, 4, 5)).astype(np.int32)  # class 3 absent
        labels[0, 0, :] = 255
        masks = (rng.random((3, C, 4, 5)) < 0.3 * seed).astype(np.float32)  # seed 0: empty
        for smp_mode, smp_kw, jax_kw in grid:
            x, y = logits, labels if "ignore_index" in smp_kw else np.maximum(labels % 255, 0)
            if smp_mode == "binary":
                x, y = logits[:, :1], masks[:, :1]
            elif smp_mode == "multilabel":
                y = masks
            want = ref.smp_jaccard_loss(x, y, mode=smp_mode, **smp_kw)
            got = jaxloss.jaccard_loss(x, y, **{**_SMP, **jax_kw})
            assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_jaccard_is_tversky_one_one_with_twice_the_smoothing():
    for activation, kind in KINDS:
        logits, targets, axis = make_inputs("last", kind, activation)
        for smooth in (0.0, 1e-5, 0.7):
            for opt in OPTIONS[::2]:
                kw = dict(activation=activation, axis=axis, reduction="none",
                          **option_kwargs(*opt))
                j = jaxloss.jaccard_loss(logits, targets, smooth=smooth, **kw)
                t = jaxloss.tversky_loss(
                    logits, targets, alpha=1.0, beta=1.0, smooth=2.0 * smooth, **kw)
                assert_close(j, t, rtol=1e-6, atol=1e-7)


def test_jaccard_log_loss_is_minus_log_of_one_minus_the_loss():
    logits, targets, axis = make_inputs("first", "int_ignored")
    for batch in (False, True):
        kw = dict(axis=axis, batch=batch, reduction="none", smooth=0.1)
        plain = np.asarray(jaxloss.jaccard_loss(logits, targets, **kw), np.float64)
        logged = jaxloss.jaccard_loss(logits, targets, log_loss=True, **kw)
        assert_close(logged, -np.log1p(-plain), rtol=1e-5, atol=1e-6)


def test_jaccard_soft_label_is_zero_at_the_soft_target_and_hard_labels_unchanged():
    _, soft = _soft_inputs()
    for batch in (False, True):
        got = jaxloss.jaccard_loss(soft, soft, activation="none", soft_label=True, batch=batch)
        np.testing.assert_allclose(got, 0.0, atol=1e-6)
    assert float(jaxloss.jaccard_loss(soft, soft, activation="none")) > 0.3
    logits, targets, axis = make_inputs("first", "int_ignored")
    a = jaxloss.jaccard_loss(logits, targets, axis=axis, reduction="none")
    b = jaxloss.jaccard_loss(logits, targets, axis=axis, reduction="none", soft_label=True)
    assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_jaccard_absent_zero_counts_the_class_in_the_mean():
    """SMP: a class with no target pixel scores 0 and still counts in the mean."""
    logits, targets, axis = make_inputs("last", "int")
    targets = np.where(targets == 3, 2, targets)  # class 3 absent from every sample
    kw = dict(batch=True, smooth=0.0)
    scored = np.asarray(jaxloss.jaccard_loss(logits, targets, reduction="none", **kw))
    zeroed = np.asarray(
        jaxloss.jaccard_loss(logits, targets, reduction="none", absent="zero", **kw))
    assert scored[3] > 0.99 and zeroed[3] == 0.0
    np.testing.assert_array_equal(zeroed[:3], scored[:3])
    assert_close(jaxloss.jaccard_loss(logits, targets, absent="zero", **kw), zeroed.sum() / C)


def test_jaccard_empty_masks_and_saturated_logits_are_finite():
    """Empty masks, empty classes, nothing kept and +-100 logits: finite values and
    gradients for every option (log_loss, absent, smooth 0, eps clamp)."""
    logits, targets, axis = make_inputs("first", "int_ignored")
    saturated = np.where(logits > 0, 100.0, -100.0).astype(np.float32)
    background = np.zeros_like(targets)
    zeros = np.zeros((2, 1, 4, 4), np.float32)
    grid = [(log, absent, s, bt) for log in (False, True) for absent in ABSENT_VALUES
            for s, bt in ((0.0, False), (1e-5, True))]

    @jax.jit
    def run(x, sat, t, bg):
        out = {}
        for log, absent, s, bt in grid:
            kw = dict(axis=axis, log_loss=log, absent=absent, smooth=s, batch=bt)
            for name, xx, tt in (("saturated", sat, t), ("background", x, bg),
                                 ("saturated background", sat, bg)):
                out[name, log, absent, s, bt] = jax.value_and_grad(
                    lambda z, tt=tt, kw=kw: jaxloss.jaccard_loss(z, tt, **kw))(xx)
            for sx in (-100.0, 0.0, 100.0):  # one sigmoid channel, empty masks
                out["empty", sx, log, absent, s, bt] = jax.value_and_grad(
                    lambda z, kw=kw: jaxloss.jaccard_loss(z, zeros, **{**kw, "axis": 1},
                                                          activation="sigmoid"))(zeros + sx)
            out["nothing kept", log, absent, s, bt] = jax.value_and_grad(
                lambda z, kw=kw: jaxloss.jaccard_loss(z, t, where=jnp.zeros(t.shape, bool),
                                                      **kw))(x)
        return out

    for key, (loss, g) in run(logits, saturated, targets, background).items():
        assert np.isfinite(loss) and np.all(np.isfinite(g)), key
        if key[0] == "nothing kept":
            assert float(loss) == 0.0
            np.testing.assert_array_equal(np.asarray(g), 0.0)
        if key[0] == "empty" and key[3] == "zero":
            assert float(loss) == 0.0  # SMP: an empty mask has loss 0
    for log, absent, s, bt in grid:  # the values, against the reference
        kw = dict(axis=axis, log_loss=log, absent=absent, smooth=s, batch=bt)
        assert_close(jaxloss.jaccard_loss(saturated, targets, **kw),
                     ref.jaccard_loss(saturated, targets, **kw), rtol=1e-5, atol=1e-5)


def test_jaccard_gradient_matches_finite_differences_of_reference():
    logits, targets, axis = make_inputs("first", "int_ignored")
    logits, targets = logits[:, :, :2, :2], targets[:, :2, :2]
    for kw in (dict(log_loss=True, class_weights=WEIGHTS),
               dict(absent="zero", batch=True, squared=True, smooth=0.2)):
        kw = dict(axis=axis, **kw)
        got = jitted(jax.grad(jaxloss.jaccard_loss), **kw)(logits, targets)
        want = fd_grad(lambda z, kw=kw: ref.jaccard_loss(z, targets, **kw), logits)
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_mcc_parity_grid(mode):
    rng = np.random.default_rng(7)
    probs = jax.nn.sigmoid(2.0 * rng.standard_normal((3, 1, 4, 5))).astype(np.float32)
    masks = (rng.random((3, 1, 4, 5)) < 0.3).astype(np.float32)
    masks[2] = 0.0  # an empty mask
    where = rng.random((3, 1, 4, 5)) < 0.8
    where[1] = False  # a sample with nothing kept
    grid = [(bt, r, w, e) for bt in (True, False) for r in REDUCTIONS for w in (False, True)
            for e in (1e-5, 0.5)]

    def run(p, y):
        return {(bt, r, w, e): jaxloss.mcc_loss(p, y, batch=bt, reduction=r, eps=e,
                                                where=where if w else None)
                for bt, r, w, e in grid}

    for (bt, r, w, e), value in maybe_jit(mode, run)(probs, masks).items():
        want = ref.mcc_loss(probs, masks, batch=bt, reduction=r, eps=e,
                            where=where if w else None)
        assert value.dtype == jnp.float32
        assert value.shape == np.shape(want), (bt, r)
        assert_close(value, want, rtol=1e-5, atol=1e-6)


def test_mcc_endpoints_shapes_and_finite_gradients():
    rng = np.random.default_rng(8)
    masks = (rng.random((2, 6, 5)) < 0.4).astype(np.float32)
    assert float(jaxloss.mcc_loss(masks, masks)) < 1e-4  # perfect
    assert float(jaxloss.mcc_loss(1.0 - masks, masks)) > 2.0 - 1e-4  # inverted
    assert float(jaxloss.mcc_loss(np.full_like(masks, 0.5), masks)) == pytest.approx(1.0)
    # channel-first (N, 1, H, W) and (N, H, W) pool the same elements (SMP's binary mode)
    assert_close(jaxloss.mcc_loss(masks[:, None], masks[:, None]), jaxloss.mcc_loss(masks, masks))
    assert jaxloss.mcc_loss(masks, masks, batch=False, reduction="none").shape == (2,)
    assert jaxloss.mcc_loss(masks, masks, reduction="none").shape == ()
    empty = np.zeros_like(masks)
    run = jax.jit(lambda p, y: {bt: jax.value_and_grad(jaxloss.mcc_loss)(p, y, batch=bt)
                                for bt in (True, False)})
    for p, y in ((masks, masks), (empty, empty), (1.0 - empty, empty), (empty, 1.0 - empty),
                 (1.0 - masks, masks)):
        for bt, (value, g) in run(p, y).items():
            assert np.isfinite(value) and np.all(np.isfinite(g)), bt
    # masked elements: no effect on the value, zero gradient; nothing kept: 0 and zero grads
    where = rng.random(masks.shape) < 0.6
    probs = jax.nn.sigmoid(rng.standard_normal(masks.shape)).astype(np.float32)
    garbage = np.where(where, probs, np.nan).astype(np.float32)
    value, g = jax.value_and_grad(jaxloss.mcc_loss)(garbage, masks, where=where)
    assert_close(value, jaxloss.mcc_loss(probs, masks, where=where))
    np.testing.assert_array_equal(np.where(where, 0.0, g), 0.0)
    nothing = np.zeros(masks.shape, bool)
    for bt in (True, False):
        value, g = jax.value_and_grad(jaxloss.mcc_loss)(probs, masks, batch=bt, where=nothing)
        assert float(value) == 0.0
        np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_mcc_gradient_matches_finite_differences_of_reference():
    rng = np.random.default_rng(9)
    probs = jax.nn.sigmoid(rng.standard_normal((2, 3, 3))).astype(np.float32)
    masks = (rng.random((2, 3, 3)) < 0.4).astype(np.float32)
    for bt in (True, False):
        got = jax.grad(jaxloss.mcc_loss)(probs, masks, batch=bt)
        want = fd_grad(lambda z, bt=bt: ref.mcc_loss(z, masks, batch=bt), probs)
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_smp_overlap_axis_name_makes_the_loss_global():
    """The batch split over a named vmap axis: pooled sums (batch=True) and the per-sample
    mean are global, every shard returns the unsplit loss."""
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((4, 3, 3, C)).astype(np.float32)
    targets = rng.integers(0, C, size=(4, 3, 3)).astype(np.int32)
    probs = np.asarray(jax.nn.sigmoid(logits[..., 0]))
    masks = (rng.random((4, 3, 3)) < 0.4).astype(np.float32)

    def jac(x, t, bt, axis_name=None):
        return jaxloss.jaccard_loss(x, t, batch=bt, absent="zero", log_loss=True,
                                    axis_name=axis_name)

    def mcc(p, y, bt, axis_name=None):
        return jaxloss.mcc_loss(p, y, batch=bt, axis_name=axis_name)

    @jax.jit
    def run(x, t, p, y):
        out = {}
        for bt in (False, True):
            for name, fn, a, b in (("jaccard", jac, x, t), ("mcc", mcc, p, y)):
                split = jax.vmap(functools.partial(fn, bt=bt, axis_name="d"), axis_name="d")(
                    a.reshape(2, 2, *a.shape[1:]), b.reshape(2, 2, *b.shape[1:]))
                out[name, bt] = (fn(a, b, bt), split)
        return out

    for key, (whole, split) in run(logits, targets, probs, masks).items():
        assert_close(split, np.full(2, whole), rtol=1e-5), key


def test_smp_overlap_vmap_over_hyperparameters_and_bfloat16():
    logits, targets, axis = make_inputs("last", "int_ignored")
    for name, values in (("smooth", [0.0, 1e-5, 0.5]), ("eps", [1e-7, 1e-3, 0.5])):
        fn = functools.partial(jaxloss.jaccard_loss, log_loss=True, smooth=0.0)
        got = jax.jit(jax.vmap(lambda v, name=name, fn=fn: fn(logits, targets, **{name: v})))(
            jnp.asarray(values, jnp.float32))
        want = [ref.jaccard_loss(logits, targets, log_loss=True, **{"smooth": 0.0, name: v})
                for v in values]
        assert_close(got, want, rtol=1e-5, atol=1e-6)
    probs = np.asarray(jax.nn.sigmoid(logits[..., 0]))
    masks = (targets == 1).astype(np.float32)
    got = jax.vmap(lambda e: jaxloss.mcc_loss(probs, masks, eps=e))(jnp.array([1e-5, 0.1, 1.0]))
    assert_close(got, [ref.mcc_loss(probs, masks, eps=e) for e in (1e-5, 0.1, 1.0)])
    x16 = jnp.asarray(logits, jnp.bfloat16)
    got = jaxloss.jaccard_loss(x16, targets)
    assert got.dtype == jnp.float32
    assert_close(got, ref.jaccard_loss(np.asarray(x16.astype(jnp.float32)), targets),
                 rtol=BF16_RTOL, atol=1e-3)
    got = jaxloss.mcc_loss(jnp.asarray(probs, jnp.bfloat16), masks)
    assert got.dtype == jnp.float32


SMP_OVERLAP_ERRORS = [
    (jaxloss.jaccard_loss, (X, Y), dict(absent="drop"), ValueError,
     "jaccard_loss: `absent` must be one of ('score', 'zero'), got 'drop'"),
    (jaxloss.jaccard_loss, (X, Y), dict(eps=0.0), ValueError,
     "jaccard_loss: `eps` must be > 0, got 0.0"),
    (jaxloss.jaccard_loss, (X, Y), dict(smooth=-1.0), ValueError,
     "jaccard_loss: `smooth` must be >= 0, got -1.0"),
    (jaxloss.jaccard_loss, (X, Y), dict(log_loss=1), TypeError,
     "jaccard_loss: `log_loss` must be a Python or NumPy bool"),
    (jaxloss.jaccard_loss, (X, Y), dict(activation="relu"), ValueError,
     "jaccard_loss: `activation` must be one of ('softmax', 'sigmoid', 'none'), got 'relu'"),
    (jaxloss.jaccard_loss, (X, Y), dict(eps=np.ones(2)), ValueError,
     "jaccard_loss: `eps` must be a scalar, got shape (2,)"),
    (jaxloss.mcc_loss, (np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)), {},
     ValueError,
     "mcc_loss: `target` must have the same shape as `input`: expected (2, 3), got (2, 4)."),
    (jaxloss.mcc_loss, (np.float32(0.5), np.float32(1.0)), {}, ValueError,
     "mcc_loss: `input` must have a batch axis"),
    (jaxloss.mcc_loss, (np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)),
     dict(eps=-1e-5), ValueError, "mcc_loss: `eps` must be > 0, got -1e-05"),
    (jaxloss.mcc_loss, (np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)),
     dict(reduction="avg"), ValueError, "mcc_loss: `reduction` must be one of"),
    (jaxloss.mcc_loss, (np.zeros((2, 3), np.int32), np.zeros((2, 3), np.float32)), {},
     TypeError, "mcc_loss: `input` must be a floating-point array"),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "message"), SMP_OVERLAP_ERRORS,
    ids=[e[4][:50] for e in SMP_OVERLAP_ERRORS],
)
def test_smp_overlap_bad_input_raises(fn, args, kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


def test_mcc_checked_names_probabilities_outside_the_unit_interval():
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    with pytest.raises(Exception, match=re.escape("mcc_loss: `input` must be a probability")):
        jaxloss.checked(jaxloss.mcc_loss)(logits, np.ones_like(logits))


def test_jaccard_out_of_range_label_is_nan_for_every_option():
    """A kept out-of-range label poisons its sample (NaN) also through SMP's zeroing of
    absent classes and the clamped log."""
    logits, targets, axis = make_inputs("last", "int")
    bad = targets.copy()
    bad[1, 0, 0] = 7
    run = jax.jit(lambda x, t: {(log, absent): jaxloss.jaccard_loss(
        x, t, log_loss=log, absent=absent, reduction="none")
        for log in (False, True) for absent in ABSENT_VALUES})
    for key, per in run(logits, bad).items():
        per = np.asarray(per)
        assert np.all(np.isfinite(per[0])) and np.all(np.isnan(per[1])), key
    with pytest.raises(Exception, match=re.escape("jaccard_loss: target label 7 is out of range")):
        jaxloss.checked(jaxloss.jaccard_loss)(logits, bad)
