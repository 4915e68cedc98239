"""Shape-aware segmentation losses (issue 23, item 4): hausdorff_dt_loss,
log_hausdorff_dt_loss, boundary_loss, soft_cldice_loss, soft_dice_cldice_loss.

Pinned to MONAI 1.6's values and gradients (float64, recorded by
``tests/record_monai_shape.py`` into ``tests/data/monai_shape.npz``) and to the float64
reference (``tests/reference.py``, SciPy's distance transform and filters). Each comparison
is one jitted program: compiling the distance transforms and the soft skeleton is what these
tests cost. The transformation matrix (jit, vmap, grad, jvp, hessian, dtypes...) runs the
cases of ``tests/cases.py``.
"""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from record_monai_shape import CASES, shape_inputs

import jaxloss

DATA = pathlib.Path(__file__).with_name("data") / "monai_shape.npz"
NAMES = ("hausdorff_dt_loss", "log_hausdorff_dt_loss", "boundary_loss", "soft_cldice_loss",
         "soft_dice_cldice_loss")
# The recorded cases checked in the quick run (one per loss, 2-D and 3-D, an empty mask); the
# others with --run-slow.
QUICK = ("hausdorff/empty masks", "log_hausdorff/softmax", "boundary/3d sum", "cldice/softmax",
         "dice_cldice/sigmoid alpha no background")


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _monai_shaped(name, kwargs, value):
    """jaxloss's output in MONAI's shape: without the dropped background column (Hausdorff's
    default) for ``"none"``."""
    value = np.asarray(value)
    if kwargs.get("reduction") == "none" and value.ndim == 2 and not kwargs.get(
        "include_background", name == "boundary_loss"
    ):
        return value[:, 1:]
    return value


def _recorded_params():
    return [
        pytest.param(cid, id=cid, marks=() if cid in QUICK else pytest.mark.slow)
        for cid in CASES
    ]


@pytest.mark.parametrize("case", _recorded_params())
def test_pinned_to_monai_values_and_gradients(case):
    data = np.load(DATA)
    _, _, _, _, name, kwargs = CASES[case]
    pred, true = data[f"{case}/pred"], data[f"{case}/true"]
    fn = getattr(jaxloss, name)

    @jax.jit
    def run(x, y):
        return fn(x, y, **kwargs), jax.grad(lambda x: jnp.sum(fn(x, y, **kwargs)))(x)

    value, grad = run(pred, true)
    want = data[f"{case}/value"]
    got = _monai_shaped(name, kwargs, value)
    # MONAI rounds its distance maps to float32: 1e-6 relative; clDice has no map.
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad, data[f"{case}/grad"], rtol=1e-6, atol=1e-8)
    # and the float64 reference (SciPy), at float64 precision
    np.testing.assert_allclose(value, getattr(ref, name)(pred, true, **kwargs), rtol=1e-10,
                               atol=1e-12)


def test_recordings_cover_each_loss_2d_3d_and_empty_masks():
    data = np.load(DATA)
    assert "monai 1.6" in str(data["versions"])
    names = {CASES[c][4] for c in CASES}
    assert names == set(NAMES)
    for name in NAMES:
        ids = [c for c in CASES if CASES[c][4] == name]
        ndims = {data[f"{c}/pred"].ndim for c in ids}
        assert ndims == {4, 5} or name == "log_hausdorff_dt_loss", (name, ndims)
    assert any("empty" in c for c in CASES)


# --- the reference at options MONAI lacks: where, ignore_index, 3-D with sampling-free maps --


def _reference_cases():
    rng = np.random.default_rng(23)
    logits = 3.0 * rng.standard_normal((2, 7, 6, 3))
    labels = rng.integers(0, 3, (2, 7, 6))
    labels[0, 2, :] = -100
    where = np.ones((2, 7, 6), bool)
    where[1, :, 4:] = False
    masks = (rng.random((2, 7, 6, 3)) < 0.4).astype(np.float64)
    masks[1, ..., 0] = 0.0  # an empty channel
    masks[0, ..., 1] = 1.0  # a full channel
    return logits, labels, where, masks


REFERENCE_OPTIONS = [
    ("hausdorff_dt_loss", dict(where=True, reduction="none")),
    ("hausdorff_dt_loss", dict(batch=True, where=True, alpha=0.0)),
    ("log_hausdorff_dt_loss", dict(activation="sigmoid", masks=True, reduction="sum")),
    ("boundary_loss", dict(where=True, batch=True, reduction="none")),
    ("boundary_loss", dict(activation="sigmoid", masks=True, include_background=False)),
    ("soft_cldice_loss", dict(where=True, reduction="none", iterations=1)),
    ("soft_cldice_loss", dict(activation="sigmoid", masks=True, smooth=0.0)),
    ("soft_dice_cldice_loss", dict(where=True, alpha=0.8, include_background=False)),
]


def test_ignored_and_masked_pixels_match_the_reference():
    """One program for every option set (ignore_index, where, empty and full masks)."""
    logits, labels, where, masks = _reference_cases()

    def call(module, name, opts):
        opts = dict(opts)
        targets = masks if opts.pop("masks", False) else labels
        if opts.pop("where", False):
            opts["where"] = where
        return getattr(module, name)(logits, targets, **opts)

    got = jax.jit(lambda: [call(jaxloss, n, o) for n, o in REFERENCE_OPTIONS])()
    for (name, opts), value in zip(REFERENCE_OPTIONS, got, strict=True):
        want = call(ref, name, opts)
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=f"{name} {opts}")


def test_dropped_pixels_reach_no_value_and_no_gradient():
    """NaN logits and labels out of range at dropped pixels change nothing; their gradient is
    exactly 0."""
    logits, labels, where, _ = _reference_cases()
    poisoned = logits.copy()
    poisoned[~where] = np.nan
    poisoned[0, 2, :] = np.inf  # the ignore_index row

    def all_losses(x):
        return jnp.stack([jnp.sum(getattr(jaxloss, n)(x, labels, where=where)) for n in NAMES])

    run = jax.jit(lambda x: (all_losses(x), jax.jacrev(all_losses)(x)))
    clean, clean_grad = run(logits)
    value, grad = run(poisoned)
    np.testing.assert_allclose(value, clean, rtol=1e-12)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, clean_grad, rtol=1e-12, atol=1e-15)
    assert np.all(np.asarray(grad)[:, ~where] == 0)
    assert np.all(np.asarray(grad)[:, 0, 2] == 0)


def test_finite_at_saturated_logits_and_empty_masks():
    """+-100 logits, all-empty and all-full targets, an empty prediction: finite values and
    gradients, float32 and float64; an all-empty target and prediction give 0 for the
    distance losses (MONAI's zero maps)."""
    rng = np.random.default_rng(5)
    saturated = np.where(rng.random((2, 6, 6, 2)) < 0.5, -100.0, 100.0)
    empty = np.zeros((2, 6, 6, 2))
    full = np.ones((2, 6, 6, 2))
    mixed = empty.copy()
    mixed[0, 1:4, 2:5, 1] = 1.0

    def all_losses(x, t):
        return jnp.stack([
            jnp.sum(getattr(jaxloss, n)(x, t, activation="sigmoid", reduction="none"))
            for n in NAMES
        ])

    run = jax.jit(lambda x, t: (all_losses(x, t), jax.jacrev(all_losses)(x, t)))
    for dtype in (np.float32, np.float64):
        for x in (saturated, -100.0 + empty, 100.0 + empty):
            for t in (empty, full, mixed):
                value, grad = run(x.astype(dtype), t.astype(dtype))
                assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (dtype,)
    value, _ = run(-100.0 + empty, empty)
    np.testing.assert_array_equal(np.asarray(value)[:3], 0.0)  # no interface: zero maps


def test_distance_maps_are_constants_of_the_gradient():
    """The gradient of the Hausdorff loss is 2 (P - T) (d_P^a + d_T^a) dP/dx (MONAI's): the
    maps, computed from P > 0.5, contribute nothing (probabilities given directly)."""
    rng = np.random.default_rng(9)
    p = rng.uniform(0.05, 0.95, (1, 6, 7, 1))
    t = (rng.random((1, 6, 7, 1)) < 0.5).astype(np.float64)
    grad = jax.jit(jax.grad(lambda p: jaxloss.hausdorff_dt_loss(p, t, activation="none")))(p)
    d = ref.monai_hausdorff_field(p[0, ..., 0] > 0.5) ** 2 + ref.monai_hausdorff_field(
        t[0, ..., 0] > 0.5) ** 2
    want = 2.0 * (p - t) * d[None, ..., None] / p[0, ..., 0].size
    np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-15)
    # boundary: the gradient is the signed map / |pixels|
    grad = jax.jit(jax.grad(lambda p: jaxloss.boundary_loss(p, t, activation="none")))(p)
    want = ref.monai_boundary_map(t[0, ..., 0] > 0.5)[None, ..., None] / p[0, ..., 0].size
    np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-15)


def test_jit_vmap_and_no_host_callback():
    x, y, _, _ = _reference_cases()
    for name in NAMES:
        fn = getattr(jaxloss, name)
        jaxpr = str(jax.make_jaxpr(lambda x, y, fn=fn: jax.grad(lambda x: fn(x, y))(x))(x, y))
        assert "callback" not in jaxpr, name
    # vmap over a batch of batches equals a loop (one program for the five losses)
    xs = np.stack([x, x[::-1] * 0.5])
    ys = np.stack([y, y[::-1]])
    mapped = jax.jit(jax.vmap(lambda x, y: jnp.stack([getattr(jaxloss, n)(x, y) for n in NAMES])))
    got = mapped(xs, ys)
    for i in range(2):
        want = [getattr(ref, n)(xs[i], ys[i]) for n in NAMES]
        np.testing.assert_allclose(got[i], want, rtol=1e-10, atol=1e-12)


def test_output_dtype_and_shapes():
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 3))
    y = np.zeros((2, 5, 5), np.int32)
    y[:, 1:3, 1:4] = 2

    def shapes(x):
        return [jax.eval_shape(lambda x, n=n, r=r: getattr(jaxloss, n)(x, y, reduction=r), x)
                for n in NAMES for r in ("none", "mean")]

    with jax.enable_x64(False):
        out = shapes(jnp.asarray(x, jnp.bfloat16))
        assert {o.dtype for o in out} == {np.dtype(np.float32)}
    out = shapes(jnp.asarray(x))
    assert {o.dtype for o in out} == {np.dtype(np.float64)}
    assert [o.shape for o in out[::2]] == [(2, 3), (2, 3), (2, 3), (2,), (2,)]
    batch = jax.eval_shape(lambda x: jaxloss.boundary_loss(x, y, batch=True, reduction="none"), x)
    assert batch.shape == (3,)


def test_single_channel_is_never_dropped():
    """MONAI ignores include_background=False for one channel; so does jaxloss (Hausdorff's
    default)."""
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((2, 6, 6, 1)), (rng.random((2, 6, 6, 1)) < 0.5) * 1.0
    for name in ("hausdorff_dt_loss", "boundary_loss", "soft_cldice_loss"):
        fn = getattr(jaxloss, name)
        dropped = fn(x, t, activation="sigmoid", include_background=False)
        kept = fn(x, t, activation="sigmoid", include_background=True)
        assert float(kept) != 0.0
        np.testing.assert_allclose(dropped, kept, rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "exc", "message"),
    [
        ("hausdorff_dt_loss", {}, (2, 8, 3), ValueError,
         "hausdorff_dt_loss: `logits` must be a batch of 2-D or 3-D images"),
        ("boundary_loss", {}, (1, 2, 2, 2, 2, 3), ValueError,
         "boundary_loss: `logits` must be a batch of 2-D or 3-D images"),
        ("hausdorff_dt_loss", {"alpha": -1.0}, (1, 4, 4, 2), ValueError,
         "hausdorff_dt_loss: `alpha` must be >= 0, got -1.0."),
        ("soft_cldice_loss", {"iterations": -1}, (1, 4, 4, 2), ValueError,
         "soft_cldice_loss: `iterations` must be >= 0, got -1."),
        ("soft_cldice_loss", {"iterations": 2.0}, (1, 4, 4, 2), TypeError,
         "soft_cldice_loss: `iterations` must be a Python int"),
        ("soft_cldice_loss", {"eps": 0.0}, (1, 4, 4, 2), ValueError,
         "soft_cldice_loss: `eps` must be > 0, got 0.0."),
        ("soft_dice_cldice_loss", {"alpha": 1.5}, (1, 4, 4, 2), ValueError,
         "soft_dice_cldice_loss: `alpha` must be in [0, 1], got 1.5."),
        ("boundary_loss", {"activation": "relu"}, (1, 4, 4, 2), ValueError,
         "boundary_loss: `activation` must be one of"),
        ("soft_cldice_loss", {"batch": True}, (1, 4, 4, 2), TypeError,
         "soft_cldice_loss() got an unexpected keyword argument `batch`"),
    ],
    ids=lambda v: v if isinstance(v, str) and "_" in v and ":" not in v else None,
)
def test_bad_input_raises(name, kwargs, shape, exc, message):
    x = np.zeros(shape)
    y = np.zeros(shape[:-1], np.int32)
    with pytest.raises(exc, match="^" + re.escape(message)):
        getattr(jaxloss, name)(x, y, **kwargs)


def test_recording_inputs_are_the_stored_ones():
    """The recorder's inputs (regenerated here) are those stored beside MONAI's values."""
    data = np.load(DATA)
    inputs = shape_inputs()
    for cid, (_, _, pred, true, _, _) in CASES.items():
        np.testing.assert_array_equal(data[f"{cid}/pred"], inputs[pred])
        np.testing.assert_array_equal(data[f"{cid}/true"], inputs[true])
