"""The input layer's promises (jaxloss/_inputs.py, the README's "Adding a loss") on the
inputs a breaker found them failing on: narrow label dtypes, the keyword hints, and masked
elements that must never reach a value or a gradient. The conventions over every export are
in tests/test_conventions.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

# -- labels: a narrow label dtype with C above its maximum -----------------------------------


@pytest.mark.parametrize(
    ("dtype", "num_classes"), [(np.uint8, 256), (np.int8, 130), (np.int16, 40000)]
)
def test_valid_labels_of_a_narrow_dtype_are_in_range(dtype, num_classes):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, num_classes)), jnp.float32)
    labels = np.array([3, 5], dtype)
    got = jaxloss.cross_entropy(x, labels, reduction="none")
    want = jaxloss.cross_entropy(x, labels.astype(np.int32), reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-6)


NARROW_LABEL_LOSSES = {
    "focal_loss": lambda x, y: jaxloss.focal_loss(x, y, reduction="none"),
    "dice_loss": lambda x, y: jaxloss.dice_loss(x[None], y[None], reduction="none"),
    "lovasz_softmax_loss": lambda x, y: jaxloss.lovasz_softmax_loss(x[None], y[None]),
    "linear_cross_entropy": lambda x, y: jaxloss.linear_cross_entropy(
        x[:, :8], jnp.ones((x.shape[1], 8)), y, reduction="none"),
    "class_counts": lambda x, y: jaxloss.class_counts(y, x.shape[1]),
}


@pytest.mark.parametrize("name", sorted(NARROW_LABEL_LOSSES))
def test_uint8_labels_with_256_classes_are_classes(name):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 256)), jnp.float32)
    labels = np.array([3, 255], np.uint8)
    loss = NARROW_LABEL_LOSSES[name]
    got, want = loss(x, labels), loss(x, labels.astype(np.int32))
    assert np.all(np.isfinite(np.asarray(got))), (name, got)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_multilabel_margin_int8_targets_with_many_classes():
    x = jnp.zeros((1, 256))
    t = np.array([[3, -1] + [0] * 254], np.int8)
    got = jaxloss.multilabel_margin_loss(x, t)
    want = jaxloss.multilabel_margin_loss(x, t.astype(np.int32))
    np.testing.assert_allclose(got, want, rtol=1e-6)


# -- the PyTorch-keyword hints ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["linear_cross_entropy", "distillation_loss", "class_counts"])
def test_target_keyword_points_at_targets(name):
    with pytest.raises(TypeError) as e:
        getattr(jaxloss, name)(target=1)
    assert "is `targets=` here" in str(e.value)


# -- masked elements never reach a gradient ---------------------------------------------------

M = jnp.array([True, False, True])


def _rows(v):
    """(3, 4) inputs whose masked row (1) is all v."""
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 4)), jnp.float32)
    return x.at[1].set(v)


def _probs(v):
    p = jax.nn.softmax(_rows(0.0))
    return p.at[1].set(v)


def _seg(v):
    x = jnp.asarray(np.random.default_rng(2).standard_normal((1, 3, 4)), jnp.float32)
    return x.at[0, 1].set(v)


SEG_Y = jnp.array([[0, 1, 3]])
SEG_M = jnp.array([[True, False, True]])

MASKED_GRAD_CASES = {
    "binary_cross_entropy_with_logits": (
        lambda x: jaxloss.binary_cross_entropy_with_logits(x, jnp.ones((3, 4)), where=M[:, None]),
        _rows, (1,)),
    "sigmoid_focal_loss": (
        lambda x: jaxloss.sigmoid_focal_loss(x, jnp.ones((3, 4)), where=M[:, None],
                                             reduction="mean"), _rows, (1,)),
    "soft_margin_loss": (
        lambda x: jaxloss.soft_margin_loss(x, jnp.ones((3, 4)), where=M[:, None]), _rows, (1,)),
    "jensen_shannon_divergence": (
        lambda x: jaxloss.jensen_shannon_divergence(x, jax.nn.log_softmax(_rows(0.0)), where=M),
        _rows, (1,)),
    "triplet_margin_loss": (
        lambda x: jaxloss.triplet_margin_loss(x, _rows(0.0), _rows(1.0), where=M), _rows, (1,)),
    "cosine_embedding_loss": (
        lambda x: jaxloss.cosine_embedding_loss(x, _rows(1.0), jnp.ones(3), where=M),
        _rows, (1,)),
    "multilabel_soft_margin_loss": (
        lambda x: jaxloss.multilabel_soft_margin_loss(x, jnp.ones((3, 4)), where=M),
        _rows, (1,)),
    "cross_entropy[nan]": (
        lambda x: jaxloss.cross_entropy(x, jnp.array([0, 1, 2]), where=M), _rows, (1,)),
    "linear_cross_entropy": (
        lambda h: jaxloss.linear_cross_entropy(h, jnp.ones((5, 4)), jnp.array([0, 1, 2]),
                                               where=M), _rows, (1,)),
    "dice_loss": (lambda x: jaxloss.dice_loss(x, SEG_Y, where=SEG_M), _seg, (0, 1)),
    "dice_loss[sigmoid]": (
        lambda x: jaxloss.dice_loss(x, jnp.ones((1, 3, 4)), activation="sigmoid", where=SEG_M),
        _seg, (0, 1)),
    "lovasz_softmax_loss": (
        lambda x: jaxloss.lovasz_softmax_loss(x, SEG_Y, where=SEG_M), _seg, (0, 1)),
}


@pytest.mark.xfail(strict=True, reason="where= is applied after the math (reduce_masked), not "
                   "to the inputs: a NaN in a masked element gives NaN gradients; "
                   "_inputs.safe_rows exists but no loss calls it")
@pytest.mark.parametrize("key", sorted(MASKED_GRAD_CASES))
def test_a_nan_in_a_masked_element_never_reaches_the_gradient(key):
    loss, make, row = MASKED_GRAD_CASES[key]
    clean, poisoned = make(0.5), make(jnp.nan)
    np.testing.assert_allclose(loss(poisoned), loss(clean), rtol=1e-6)
    g = np.asarray(jax.grad(loss)(poisoned))
    assert np.all(np.isfinite(g))
    assert np.all(g[row] == 0.0)


@pytest.mark.xfail(strict=True, reason="kl_div: a NaN/inf target in a masked element makes "
                   "d/d input NaN there (the target reaches the input's gradient)")
@pytest.mark.parametrize("v", [np.nan, np.inf, -np.inf])
def test_kl_div_masked_target_never_reaches_the_input_gradient(v):
    lp = jax.nn.log_softmax(_rows(0.0))
    g = np.asarray(jax.grad(lambda x: jaxloss.kl_div(x, _probs(v), where=M[:, None]))(lp))
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0.0)
