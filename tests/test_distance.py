"""distance_transform_edt against SciPy (its peer) and the brute-force reference.

Under x64 the result is float64 and equals ``scipy.ndimage.distance_transform_edt`` up to
rounding; otherwise float32, SciPy's result within an ulp (with unit spacing the squared
distances are exact integers). The transformation matrix runs the registry case (jit, vmap,
the derivative with respect to ``sampling``, export); here: random masks, the edge cases,
batching by vmap, dtypes, the jaxpr, the derivatives and the errors.
"""

from __future__ import annotations

import re

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

import jaxloss

FN = "distance_transform_edt"
EDT = jax.jit(jaxloss.distance_transform_edt)
EDT_S = jax.jit(lambda m, s: jaxloss.distance_transform_edt(m, sampling=s))


def scipy_edt(mask, sampling=None):
    return ndimage.distance_transform_edt(np.asarray(mask), sampling=sampling)


def assert_scipy64(got, mask, sampling=None):
    want = scipy_edt(mask, sampling)
    assert got.dtype == jnp.float64 and got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=0)


def assert_scipy32(got, mask, sampling=None, maxulp=1):
    want = scipy_edt(mask, sampling).astype(np.float32)
    assert got.dtype == jnp.float32 and got.shape == want.shape
    np.testing.assert_array_max_ulp(np.asarray(got), want, maxulp=maxulp)


# Two shapes per rank (each shape compiles once per dtype and sampling spelling; the thin and
# non-square shapes have their own test).
SHAPES = {2: [(8, 3), (9, 9)], 3: [(4, 5, 3), (6, 6, 6)]}  # thin ones: below


@st.composite
def masks(draw, ndim):
    shape = draw(st.sampled_from(SHAPES[ndim]))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 0.9, 1.0]))  # fraction of zeros
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).random(shape) >= density


SAMPLINGS = st.one_of(
    st.none(),
    st.floats(0.25, 4.0),
    st.lists(st.floats(0.25, 4.0), min_size=3, max_size=3),
)


def _sampling_for(sampling, ndim):
    return sampling[:ndim] if isinstance(sampling, list) else sampling


def _edt(mask, sampling):
    """jit with a traced sampling array (one program per shape), or no sampling."""
    if sampling is None:
        return EDT(mask)
    s = np.broadcast_to(np.asarray(sampling, np.float64), (mask.ndim,))
    return EDT_S(mask, jnp.asarray(s, jnp.result_type(float)))


# =============================================================================================
# Values against SciPy
# =============================================================================================


@pytest.mark.parametrize("ndim", [2, 3])
@given(data=st.data())
def test_random_masks_match_scipy_float64(ndim, data):
    mask = data.draw(masks(ndim))
    sampling = _sampling_for(data.draw(SAMPLINGS), ndim)
    with jax.enable_x64(True):
        got = _edt(mask, sampling)
    assert_scipy64(got, mask, sampling)
    np.testing.assert_allclose(np.asarray(got), ref.distance_transform_edt(mask, sampling),
                               rtol=1e-13)


@pytest.mark.parametrize("ndim", [2, 3])
@given(data=st.data())
def test_random_masks_match_scipy_float32(ndim, data):
    mask = data.draw(masks(ndim))
    sampling = _sampling_for(data.draw(SAMPLINGS), ndim)
    got = _edt(mask, sampling)
    if sampling is None:
        assert_scipy32(got, mask)  # exact squared distances: SciPy's value rounded
    else:
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), scipy_edt(mask, sampling), rtol=1e-6,
                                   atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "sampling"),
    [((40, 33), None), ((40, 33), (0.7, 2.5)), ((17, 21, 13), None),
     ((17, 21, 13), (3.0, 1.0, 0.5)), ((64, 64), 1.5)],
)
@pytest.mark.parametrize("density", [0.002, 0.05, 0.4])
def test_larger_masks_match_scipy(shape, sampling, density):
    """Larger lines: many parabolas popped per step (sparse zeros give long envelopes)."""
    rng = np.random.default_rng(len(shape) * 100 + int(1000 * density))
    mask = rng.random(shape) >= density
    mask.reshape(-1)[rng.integers(mask.size)] = False
    with jax.enable_x64(True):
        assert_scipy64(EDT_S(mask, sampling), mask, sampling)
    got = EDT_S(mask, sampling)
    if sampling is None:
        assert_scipy32(got, mask)
    else:
        np.testing.assert_allclose(np.asarray(got), scipy_edt(mask, sampling), rtol=2e-6)


@pytest.mark.parametrize("shape", [(7, 9), (5, 6, 4)])
@pytest.mark.parametrize("where", ["corner", "far corner", "centre", "edge"])
@pytest.mark.parametrize("sampling", [None, 2.0, "per axis"])
def test_a_single_zero(shape, where, sampling):
    mask = np.ones(shape, bool)
    index = {
        "corner": (0,) * len(shape),
        "far corner": tuple(n - 1 for n in shape),
        "centre": tuple(n // 2 for n in shape),
        "edge": (0,) + tuple(n // 2 for n in shape[1:]),
    }[where]
    mask[index] = False
    if sampling == "per axis":
        sampling = (0.5, 1.7, 1.1)[: len(shape)]
    with jax.enable_x64(True):
        assert_scipy64(jaxloss.distance_transform_edt(mask, sampling=sampling), mask, sampling)


@pytest.mark.parametrize("shape", [(1, 1), (3, 4), (2, 3, 4), (4, 1, 1)])
@pytest.mark.parametrize("sampling", [None, 2.0, "per axis"])
def test_a_mask_without_zero_is_scipys_answer(shape, sampling):
    """SciPy returns the distance to the grid point at index (-1, 0, ..., 0)."""
    if sampling == "per axis":
        sampling = (0.5, 1.7, 1.1)[: len(shape)]
    mask = np.ones(shape, np.int32)
    for x64 in (True, False):
        with jax.enable_x64(x64):
            got = EDT_S(mask, sampling)
            want = scipy_edt(mask, sampling)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13 if x64 else 1e-6)
    s = np.broadcast_to(1.0 if sampling is None else np.asarray(sampling), (len(shape),))
    index = np.indices(shape).astype(np.float64)
    index[0] += 1
    formula = np.sqrt(np.sum((s.reshape((-1,) + (1,) * len(shape)) * index) ** 2, axis=0))
    np.testing.assert_allclose(scipy_edt(mask, sampling), formula, rtol=1e-13)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (1, 1)])
def test_an_all_zero_mask_gives_zeros(shape):
    for sampling in (None, 0.5):
        got = EDT_S(np.zeros(shape, bool), sampling)
        np.testing.assert_array_equal(np.asarray(got), np.zeros(shape))


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (2, 0, 4)])
def test_empty_masks(shape):
    got = jaxloss.distance_transform_edt(np.ones(shape, bool))
    assert got.shape == shape == scipy_edt(np.ones(shape)).shape


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("zero_line", [True, False])
def test_one_pixel_wide_lines(axis, zero_line):
    """A 1-pixel-wide line of zeros in ones (distance to a line), or of ones in zeros (every
    distance 1, or the spacing across the line)."""
    for shape in [(9, 12), (6, 7, 8)]:
        mask = np.full(shape, zero_line)
        index = [slice(None)] * len(shape)
        index[axis] = shape[axis] // 2
        mask[tuple(index)] = not zero_line
        # a diagonal line too
        diag = np.ones(shape, bool) if zero_line else np.zeros(shape, bool)
        n = min(shape)
        diag[(np.arange(n),) * len(shape)] = not zero_line
        for m in (mask, diag):
            for sampling in (None, (0.6, 1.9, 1.2)[: len(shape)]):
                with jax.enable_x64(True):
                    assert_scipy64(EDT_S(m, sampling), m, sampling)


@pytest.mark.parametrize("shape", [(1, 10), (31, 2), (3, 1, 9), (13, 2, 1)])
def test_non_square_and_thin_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.1, 0.5):
        mask = rng.random(shape) >= density
        with jax.enable_x64(True):
            for sampling in (None, (1.3, 0.4, 2.2)[: len(shape)]):
                assert_scipy64(EDT_S(mask, sampling), mask, sampling)


# =============================================================================================
# Inputs: mask dtypes, sampling spellings, output dtype
# =============================================================================================


MASK_DTYPES = [np.bool_, np.uint8, np.int32, jnp.bfloat16, np.float32]


@pytest.mark.parametrize("dtype", MASK_DTYPES, ids=lambda d: np.dtype(d).name)
def test_mask_dtypes_nonzero_is_foreground(dtype):
    rng = np.random.default_rng(3)
    values = rng.choice(np.array([0.0, 1.0, 2.0, -1.0, 0.5]), size=(8, 9), p=[0.3, 0.4, 0.1,
                                                                          0.1, 0.1])
    if not np.issubdtype(np.dtype(dtype), np.floating) and dtype is not jnp.bfloat16:
        values = np.trunc(values)
    if dtype is np.uint8:
        values = np.abs(values)
    mask = jnp.asarray(values).astype(dtype)
    want_mask = np.asarray(mask.astype(jnp.float32)) != 0
    got = jaxloss.distance_transform_edt(mask)
    assert_scipy32(got, want_mask)
    with jax.enable_x64(True):
        assert_scipy64(jaxloss.distance_transform_edt(mask), want_mask)
        assert_scipy64(jaxloss.distance_transform_edt(np.asarray(want_mask, np.float64)),
                       want_mask)


def test_output_dtype_is_the_default_float():
    mask = np.array([[0, 1], [1, 1]])
    with jax.enable_x64(False):
        assert jaxloss.distance_transform_edt(mask).dtype == jnp.float32
        assert jaxloss.distance_transform_edt(mask.astype(np.float64)).dtype == jnp.float32
    with jax.enable_x64(True):
        assert jaxloss.distance_transform_edt(mask).dtype == jnp.float64
        assert jaxloss.distance_transform_edt(mask, sampling=np.float32(2)).dtype == jnp.float64
        assert jaxloss.distance_transform_edt(mask.astype(bool)).dtype == jnp.float64


@pytest.mark.parametrize(
    "sampling",
    [2, 2.0, np.float32(2.0), [2.0, 0.5], (2, 1), np.array([2.0, 0.5]), jnp.array([2.0, 0.5]),
     [jnp.float32(2.0), 0.5]],
    ids=["int", "float", "np scalar", "list", "int tuple", "np array", "jax array", "mixed"],
)
def test_sampling_spellings(sampling):
    mask = np.ones((6, 5), bool)
    mask[2, 3] = mask[5, 0] = False
    want = scipy_edt(mask, np.asarray(sampling, np.float64).tolist())
    np.testing.assert_allclose(np.asarray(jaxloss.distance_transform_edt(mask, sampling=sampling)),
                               want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(EDT_S(mask, jnp.asarray(sampling, jnp.float32))), want,
                               rtol=1e-6)


def test_sampling_one_equals_no_sampling():
    mask = np.random.default_rng(5).random((10, 8, 6)) > 0.1
    with jax.enable_x64(True):
        np.testing.assert_array_equal(np.asarray(EDT(mask)),
                                      np.asarray(EDT_S(mask, (1.0, 1.0, 1.0))))


# =============================================================================================
# jit, vmap (the batching convention), no host callback
# =============================================================================================


def _primitives(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _primitives(sub)


@pytest.mark.parametrize("sampling", [None, "traced"])
def test_no_host_callback_in_the_program(sampling):
    mask = np.ones((5, 6, 7), bool)
    if sampling is None:
        closed = jax.make_jaxpr(jaxloss.distance_transform_edt)(mask)
    else:
        closed = jax.make_jaxpr(lambda m, s: jaxloss.distance_transform_edt(m, sampling=s))(
            mask, jnp.ones(3))
    names = set(_primitives(closed.jaxpr))
    assert "while" in names  # the envelope's loop is there, on device
    assert not [n for n in names if "callback" in n], names
    hlo = jax.jit(jaxloss.distance_transform_edt).lower(mask).as_text()
    assert "callback" not in hlo.lower()


def test_vmap_over_a_batch_and_channels():
    """The batching convention: (B, H, W) by one vmap, (B, H, W, C) by two."""
    rng = np.random.default_rng(11)
    masks = rng.random((3, 9, 8, 2)) > 0.2
    masks[1, ..., 1] = True  # one image without a zero: SciPy's answer, per image
    masks[2, ..., 0] = False  # one all zero
    per_channel = jax.vmap(jaxloss.distance_transform_edt, in_axes=-1, out_axes=-1)
    with jax.enable_x64(True):
        got = jax.jit(jax.vmap(per_channel))(masks)
        for b in range(3):
            for c in range(2):
                assert_scipy64(got[b, ..., c], masks[b, ..., c])
        got = jax.jit(jax.vmap(jaxloss.distance_transform_edt))(masks[..., 0])
        for b in range(3):
            assert_scipy64(got[b], masks[b, ..., 0])


def test_vmap_over_3d_volumes_and_their_spacings():
    rng = np.random.default_rng(12)
    masks = rng.random((3, 6, 7, 5)) > 0.1
    spacings = np.array([[1.0, 1.0, 1.0], [2.5, 0.5, 1.0], [0.3, 0.3, 3.0]])
    with jax.enable_x64(True):
        got = jax.jit(jax.vmap(lambda m, s: jaxloss.distance_transform_edt(m, sampling=s)))(
            masks, spacings)
        for b in range(3):
            assert_scipy64(got[b], masks[b], tuple(spacings[b]))


def test_a_3d_batch_is_one_volume_without_vmap():
    """Documented: a (B, H, W) array passed directly is one 3-D volume (not B images)."""
    masks = np.ones((2, 4, 4), bool)
    masks[0, 0, 0] = False
    with jax.enable_x64(True):
        assert_scipy64(jaxloss.distance_transform_edt(masks), masks)
    assert np.all(np.asarray(jaxloss.distance_transform_edt(masks))[1] > 0)


# =============================================================================================
# Derivatives
# =============================================================================================


def test_the_gradient_with_respect_to_a_float_mask_is_zero():
    mask = jnp.asarray(np.random.default_rng(2).random((6, 7)) > 0.3, jnp.float32)
    g = jax.grad(lambda m: jnp.sum(jaxloss.distance_transform_edt(m) ** 2))(mask)
    np.testing.assert_array_equal(np.asarray(g), np.zeros(mask.shape))
    _, tangent = jax.jvp(jaxloss.distance_transform_edt, (mask,), (jnp.ones_like(mask),))
    np.testing.assert_array_equal(np.asarray(tangent), np.zeros(mask.shape))


@pytest.mark.parametrize("shape", [(7, 9), (5, 6, 4)])
def test_the_gradient_with_respect_to_sampling_is_the_formulas(shape):
    """One zero at z: d = sqrt(sum_k s_k^2 (p_k - z_k)^2), dd/ds_k = s_k (p_k - z_k)^2 / d
    (0 at the zero), finite everywhere."""
    mask = np.ones(shape, bool)
    z = tuple(n // 3 for n in shape)
    mask[z] = False
    s = np.array([1.3, 0.7, 2.1][: len(shape)])
    with jax.enable_x64(True):
        jac = jax.jacrev(lambda s: jaxloss.distance_transform_edt(mask, sampling=s))(
            jnp.asarray(s))
    jac = np.asarray(jac)
    offsets = np.indices(shape) - np.reshape(z, (-1,) + (1,) * len(shape))
    d = np.sqrt(np.sum((s.reshape((-1,) + (1,) * len(shape)) * offsets) ** 2, axis=0))
    safe = np.where(d > 0, d, 1.0)
    for k in range(len(shape)):
        want = np.where(d > 0, s[k] * offsets[k] ** 2 / safe, 0.0)
        np.testing.assert_allclose(jac[..., k], want, rtol=1e-12, atol=1e-14)


def test_the_gradient_without_a_zero_is_finite():
    with jax.enable_x64(True):
        g = jax.grad(lambda s: jnp.sum(jaxloss.distance_transform_edt(np.ones((3, 4)),
                                                                      sampling=s)))(
            jnp.array([2.0, 0.5]))
    assert np.all(np.isfinite(np.asarray(g)))


# =============================================================================================
# Errors
# =============================================================================================


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5), ()])
def test_a_mask_that_is_not_2d_or_3d(shape):
    message = (f"{FN}: `mask` must be 2-D (H, W) or 3-D (D, H, W), got shape {shape}. "
               "For a batch of masks, map over the batch axis: "
               "jax.vmap(jaxloss.distance_transform_edt)(masks)")
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        jaxloss.distance_transform_edt(np.ones(shape))


def test_a_complex_mask():
    with pytest.raises(TypeError, match=re.escape(
            f"{FN}: `mask` must be bool, integer or float (nonzero is foreground), got "
            "complex64.")):
        jaxloss.distance_transform_edt(np.ones((3, 3), np.complex64))


@pytest.mark.parametrize("sampling", [(1.0, 2.0, 3.0), (1.0,), np.ones((2, 2))],
                         ids=["too long", "too short", "2-D"])
def test_sampling_of_the_wrong_shape(sampling):
    shape = np.shape(sampling)
    message = (f"{FN}: `sampling` must be a scalar or have one spacing per axis of `mask` "
               f"(length 2), got shape {shape}.")
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        jaxloss.distance_transform_edt(np.ones((3, 3)), sampling=sampling)


@pytest.mark.parametrize(
    ("sampling", "shown"),
    [(0.0, "0.0"), (-1.0, "-1.0"), ((1.0, -2.0), "[1.0, -2.0]"), ((1.0, 0), "[1.0, 0.0]"),
     (float("inf"), "inf"), ((float("nan"), 1.0), "[nan, 1.0]")],
)
def test_sampling_must_be_finite_and_positive(sampling, shown):
    message = (f"{FN}: `sampling` must be finite and > 0 (the spacing of the grid along "
               f"each axis), got {shown}.")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        jaxloss.distance_transform_edt(np.ones((3, 3)), sampling=sampling)


def test_a_traced_nonpositive_sampling_fails_under_checked():
    mask = np.ones((4, 5))
    mask[1, 2] = 0
    f = jax.jit(jaxloss.checked(lambda m, s: jaxloss.distance_transform_edt(m, sampling=s)))
    np.testing.assert_allclose(np.asarray(f(mask, jnp.array([1.0, 2.0]))),
                               scipy_edt(mask, (1.0, 2.0)), rtol=1e-6)
    with pytest.raises(Exception, match=re.escape(f"{FN}: `sampling` must be > 0, got -2.0.")):
        f(mask, jnp.array([1.0, -2.0]))


def test_a_complex_sampling():
    with pytest.raises(TypeError, match=re.escape(
            f"{FN}: `sampling` must be real numbers, got dtype complex128.")):
        jaxloss.distance_transform_edt(np.ones((3, 3)), sampling=np.array([1j, 1.0]))
