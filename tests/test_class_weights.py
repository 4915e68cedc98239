"""class_counts and class_weights_from_counts: known values, the reference, zero counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from tolerances import GRAD_ATOL, GRAD_RTOL

import jaxloss

METHODS = ("balanced", "inverse", "inverse_sqrt", "effective_number")
COUNTS = np.array([70, 20, 10], np.int32)

# Measured values for counts [70, 20, 10] (SEMANTICS.md), rounded to 3 decimals.
KNOWN = {
    ("balanced", None): [0.476, 1.667, 3.333],
    ("inverse", None): [0.261, 0.913, 1.826],
    ("inverse_sqrt", None): [0.544, 1.017, 1.439],
    ("effective_number", 0.99): [0.331, 0.919, 1.75],
}


@pytest.mark.parametrize(("method", "beta"), list(KNOWN))
def test_known_values(method, beta):
    kwargs = {} if beta is None else {"beta": beta}
    w = jaxloss.class_weights_from_counts(COUNTS, method=method, **kwargs)
    assert w.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(w), KNOWN[method, beta], atol=5e-4)


def sklearn_balanced(y, classes):
    """scikit-learn's compute_class_weight("balanced"), transcribed (sklearn is not a dependency):
    ``len(y) / (len(classes) * np.bincount(y_ind))``."""
    y_ind = np.searchsorted(classes, y)
    return len(y) / (len(classes) * np.bincount(y_ind, minlength=len(classes)).astype(np.float64))


def test_balanced_equals_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.choice(5, size=200, p=[0.5, 0.2, 0.15, 0.1, 0.05]).astype(np.int32)
    counts = jaxloss.class_counts(y, 5)
    np.testing.assert_array_equal(counts, np.bincount(y, minlength=5))
    w = jaxloss.class_weights_from_counts(counts, method="balanced")
    np.testing.assert_allclose(w, sklearn_balanced(y, np.arange(5)), rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_matches_reference_with_zero_counts(method):
    counts = np.array([0, 5, 120, 0, 33, 1], np.int32)
    w = np.asarray(jaxloss.class_weights_from_counts(counts, method=method, beta=0.999))
    assert np.isfinite(w).all()
    assert (w[counts == 0] == 0).all()
    np.testing.assert_allclose(
        w, ref.class_weights_from_counts(counts, method=method, beta=0.999), rtol=1e-5
    )
    present = counts > 0
    if method in ("inverse", "inverse_sqrt"):
        np.testing.assert_allclose(w[present].mean(), 1.0, rtol=1e-6)
    elif method == "effective_number":
        np.testing.assert_allclose(w.sum(), present.sum(), rtol=1e-6)


@pytest.mark.parametrize("method", ["inverse", "inverse_sqrt", "effective_number"])
def test_absent_class_leaves_other_weights_unchanged(method):
    with_absent = jaxloss.class_weights_from_counts(np.array([70, 0, 20, 10]), method=method)
    without = jaxloss.class_weights_from_counts(COUNTS, method=method)
    np.testing.assert_allclose(np.asarray(with_absent)[[0, 2, 3]], without, rtol=1e-6)


def test_all_zero_counts_give_zero_weights():
    for method in METHODS:
        w = np.asarray(jaxloss.class_weights_from_counts(np.zeros(3, np.int32), method=method))
        np.testing.assert_array_equal(w, 0.0)


def test_float_counts_and_beta_close_to_one():
    counts = np.array([1e6, 3.0, 250.0], np.float32)
    w = jaxloss.class_weights_from_counts(counts, method="effective_number", beta=0.9999)
    # Compare at the float32 value of beta: at n = 1e6 its rounding alone moves w by 2e-4.
    beta32 = float(np.float32(0.9999))
    want = ref.class_weights_from_counts(counts, method="effective_number", beta=beta32)
    np.testing.assert_allclose(w, want, rtol=1e-5)


def test_vmap_and_grad_over_beta():
    betas = np.array([0.0, 0.9, 0.99, 0.9999], np.float32)

    def f(b):
        return jaxloss.class_weights_from_counts(COUNTS, method="effective_number", beta=b)

    batched = jax.jit(jax.vmap(f))(jnp.asarray(betas))
    looped = np.stack([np.asarray(f(float(b))) for b in betas])
    np.testing.assert_allclose(batched, looped, rtol=1e-6)
    np.testing.assert_allclose(
        batched,
        [ref.class_weights_from_counts(COUNTS, method="effective_number", beta=float(b))
         for b in betas],
        rtol=1e-4,
    )
    # The weights' derivative in beta, against central differences of the reference.
    grad = jax.grad(lambda b: f(b)[2])(jnp.float32(0.9))
    h = 1e-6
    want = (
        ref.class_weights_from_counts(COUNTS, method="effective_number", beta=0.9 + h)[2]
        - ref.class_weights_from_counts(COUNTS, method="effective_number", beta=0.9 - h)[2]
    ) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_traced_counts_under_jit():
    f = jax.jit(lambda c: jaxloss.class_weights_from_counts(c, method="inverse"))
    np.testing.assert_allclose(f(COUNTS), ref.class_weights_from_counts(COUNTS, method="inverse"),
                               rtol=1e-6)


def test_class_counts_matches_reference_and_skips_ignore_index():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=(3, 5)).astype(np.int32)
    y[0, :2] = -100
    counts = jaxloss.class_counts(y, 4)
    assert counts.dtype == jnp.int32
    np.testing.assert_array_equal(counts, ref.class_counts(y, 4))
    assert counts.sum() == 13
    # A custom ignore_index, eagerly and under jit (where the labels are not visible).
    y[0, :2] = 255
    want = ref.class_counts(y, 4, ignore_index=255)
    np.testing.assert_array_equal(jaxloss.class_counts(y, 4, ignore_index=255), want)
    counts_jit = jax.jit(lambda t: jaxloss.class_counts(t, 4, ignore_index=255))(y)
    np.testing.assert_array_equal(counts_jit, want)


def test_counts_to_weights_to_loss():
    """The intended pipeline: counts -> weights -> cross_entropy."""
    rng = np.random.default_rng(2)
    y = np.array([0, 0, 1, 0, 3, 2], np.int32)
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    w = jaxloss.class_weights_from_counts(jaxloss.class_counts(y, 4))
    want = ref.cross_entropy(logits, y, class_weights=sklearn_balanced(y, np.arange(4)))
    np.testing.assert_allclose(jaxloss.cross_entropy(logits, y, class_weights=w), want, rtol=1e-5)
