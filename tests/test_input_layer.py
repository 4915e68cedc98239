"""The input layer's promises (jaxloss/_inputs.py, docs/contributing.md's "Adding a loss") on the
inputs a breaker found them failing on: narrow label dtypes, the keyword hints, and masked
elements that must never reach a value or a gradient. The conventions over every export are
in tests/test_conventions.py.
"""

from __future__ import annotations

import functools

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


# -- masked elements never reach a value or a gradient ----------------------------------------
#
# Each case is (loss of its float arguments, the clean arguments, for each argument the index
# of its masked (or ignored) part, or None for an argument no mask covers). The test puts NaN,
# +inf or -inf at every masked part at once: the value must equal the clean one, and the
# gradient with respect to every argument must be finite everywhere and exactly 0 there.

M = jnp.array([True, False, True])
MC = M[:, None]
SEG_Y = jnp.array([[0, 1, 3]])
SEG_M = jnp.array([[True, False, True]])
SEG_IGNORED = jnp.array([[0, -100, 3]])


def _normal(seed, shape=(3, 4)):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _unit(seed, shape=(3, 4)):
    return jnp.asarray(np.random.default_rng(seed).uniform(0.1, 0.9, shape), jnp.float32)


def _sign(seed, shape=(3, 4)):
    return jnp.asarray(np.random.default_rng(seed).choice([-1.0, 1.0], shape), jnp.float32)


def _bits(seed, shape=(3, 4)):
    return jnp.asarray(np.random.default_rng(seed).choice([0.0, 1.0], shape), jnp.float32)


X, Y = _normal(1), _unit(2)
W, W3 = _unit(3) + 0.5, _unit(4, (3,)) + 0.5
LP = jax.nn.log_softmax(_normal(5))
SEG = _normal(6, (1, 3, 4))
SEG_SOFT = jax.nn.softmax(_normal(7, (1, 3, 4)))
SEG_BITS = _bits(8, (1, 3, 4))
R, S = 1, (0, 1)  # the masked row of (3, ...) inputs, the masked pixel of SEG
T5 = (slice(None), 1)  # the masked sequence of (T, N, C) log-probabilities

_CTC_LP = jax.nn.log_softmax(_normal(9, (5, 3, 4)))
_CTC_Y = jnp.array([[1, 2], [3, 3], [2, 1]])


def _bce(**kw):
    return lambda x, y, w: jaxloss.binary_cross_entropy_with_logits(x, y, weights=w, **kw)


def _sum_none(loss):
    return lambda *a: jnp.sum(loss(*a))


MASKED_GRAD_CASES = {
    # binary
    "binary_cross_entropy_with_logits": (_bce(where=MC), (X, Y, W), (R, R, R)),
    "binary_cross_entropy_with_logits[sum]": (
        _bce(where=MC, reduction="sum"), (X, Y, W), (R, R, R)),
    "binary_cross_entropy_with_logits[none]": (
        _sum_none(_bce(where=MC, reduction="none")), (X, Y, W), (R, R, R)),
    "binary_cross_entropy_with_logits[full where]": (
        _bce(where=jnp.broadcast_to(MC, (3, 4))), (X, Y, W), (R, R, R)),
    "binary_cross_entropy_with_logits[pos_weight, smoothing]": (
        lambda x, y, pw: jaxloss.binary_cross_entropy_with_logits(
            x, y, pos_weight=pw, label_smoothing=0.1, where=MC), (X, Y, W), (R, R, R)),
    "binary_cross_entropy": (
        lambda p, y, w: jaxloss.binary_cross_entropy(p, y, weights=w, where=MC),
        (_unit(10), Y, W), (R, R, R)),
    "sigmoid_focal_loss": (
        lambda x, y, w, pw, cw: jaxloss.sigmoid_focal_loss(
            x, y, weights=w, pos_weight=pw, class_weights=cw, where=MC),
        (X, Y, W, W + 1.0, W + 2.0), (R,) * 5),
    "sigmoid_focal_loss[gamma 1.5, none]": (
        _sum_none(lambda x, y: jaxloss.sigmoid_focal_loss(
            x, y, gamma=1.5, reduction="none", where=MC)), (X, Y), (R, R)),
    "asymmetric_loss": (
        lambda x, y, w: jaxloss.asymmetric_loss(x, y, weights=w, where=MC), (X, Y, W),
        (R, R, R)),
    "asymmetric_loss[0/1 targets]": (
        lambda x, y: jaxloss.asymmetric_loss(x, y, where=MC), (X, _bits(11)), (R, R)),
    "asymmetric_loss[gamma 0.5, clip 0]": (
        lambda x, y: jaxloss.asymmetric_loss(x, y, gamma_pos=0.5, gamma_neg=1.5, clip=0.0,
                                             where=MC), (X, Y), (R, R)),
    # margin
    "soft_margin_loss": (
        lambda x, y, w: jaxloss.soft_margin_loss(x, y, weights=w, where=MC), (X, _sign(12), W),
        (R, R, R)),
    "multilabel_soft_margin_loss": (
        lambda x, y, w: jaxloss.multilabel_soft_margin_loss(
            x, y, weights=w, class_weights=jnp.arange(1.0, 5.0), where=M),
        (X, _bits(13), W3), (R, R, R)),
    "margin_ranking_loss": (
        lambda a, b, y, w: jaxloss.margin_ranking_loss(a, b, y, margin=0.1, weights=w, where=M),
        (_normal(14, (3,)), _normal(15, (3,)), _sign(16, (3,)), W3), (R,) * 4),
    "cosine_embedding_loss": (
        lambda a, b, y, w: jaxloss.cosine_embedding_loss(a, b, y, margin=0.1, weights=w,
                                                         where=M),
        (X, _normal(17), _sign(18, (3,)), W3), (R,) * 4),
    "triplet_margin_loss": (
        lambda a, p, n, w: jaxloss.triplet_margin_loss(a, p, n, weights=w, where=M),
        (X, _normal(19), _normal(20), W3), (R,) * 4),
    "triplet_margin_loss[swap, p 1]": (
        lambda a, p, n: jaxloss.triplet_margin_loss(a, p, n, p=1.0, swap=True, where=M),
        (X, _normal(19), _normal(20)), (R,) * 3),
    "triplet_margin_with_distance_loss": (
        lambda a, p, n: jaxloss.triplet_margin_with_distance_loss(a, p, n, where=M),
        (X, _normal(19), _normal(20)), (R,) * 3),
    "triplet_margin_with_distance_loss[swap]": (
        lambda a, p, n: jaxloss.triplet_margin_with_distance_loss(a, p, n, swap=True, where=M),
        (X, _normal(19), _normal(20)), (R,) * 3),
    "multi_margin_loss": (
        lambda x, w: jaxloss.multi_margin_loss(x, jnp.array([0, 1, 3]), weights=w, where=M),
        (X, W3), (R, R)),
    "multi_margin_loss[p 2, class_weights]": (
        lambda x: jaxloss.multi_margin_loss(x, jnp.array([0, 1, 3]), p=2,
                                            class_weights=jnp.arange(1.0, 5.0), where=M),
        (X,), (R,)),
    "hinge_embedding_loss": (
        lambda x, y: jaxloss.hinge_embedding_loss(x, y, where=MC), (X, _sign(21)), (R, R)),
    "multilabel_margin_loss": (
        lambda x: jaxloss.multilabel_margin_loss(x, jnp.array([[0, 2, -1, 0]] * 3), where=M),
        (X,), (R,)),
    # divergence
    "kl_div": (
        lambda lp, p, w: jaxloss.kl_div(lp, p, weights=w, where=MC), (LP, jnp.exp(LP[::-1]), W),
        (R, R, R)),
    "kl_div[log_target, none]": (
        _sum_none(lambda lp, lq: jaxloss.kl_div(lp, lq, log_target=True, reduction="none",
                                                where=MC)), (LP, LP[::-1]), (R, R)),
    "jensen_shannon_divergence": (
        lambda lp, lq, w: jaxloss.jensen_shannon_divergence(lp, lq, weights=w, where=M),
        (LP, LP[::-1], W3), (R, R, R)),
    # linear
    "linear_cross_entropy": (
        lambda h, wt, w: jaxloss.linear_cross_entropy(h, wt, jnp.array([0, 1, 2]), weights=w,
                                                      where=M), (X, _normal(22, (5, 4)), W3),
        (R, None, R)),
    "linear_cross_entropy[ignore_index]": (
        lambda h, wt: jaxloss.linear_cross_entropy(h, wt, jnp.array([0, -100, 2])),
        (X, _normal(22, (5, 4))), (R, None)),
    # segmentation
    "dice_loss": (lambda x: jaxloss.dice_loss(x, SEG_Y, where=SEG_M), (SEG,), (S,)),
    "dice_loss[ignore_index, batch]": (
        lambda x: jaxloss.dice_loss(x, SEG_IGNORED, batch=True), (SEG,), (S,)),
    "dice_loss[sigmoid]": (
        lambda x, y: jaxloss.dice_loss(x, y, activation="sigmoid", where=SEG_M),
        (SEG, SEG_BITS), (S, S)),
    "dice_loss[soft_label, squared]": (
        lambda x, y: jaxloss.dice_loss(x, y, soft_label=True, squared=True, where=SEG_M),
        (SEG, SEG_SOFT), (S, S)),
    "tversky_loss": (
        lambda x: jaxloss.tversky_loss(x, SEG_Y, alpha=0.3, beta=0.7, gamma=0.75, where=SEG_M),
        (SEG,), (S,)),
    "tversky_loss[ignore_index]": (
        lambda x: jaxloss.tversky_loss(x, SEG_IGNORED), (SEG,), (S,)),
    "generalized_dice_loss": (
        lambda x: jaxloss.generalized_dice_loss(x, SEG_Y, where=SEG_M), (SEG,), (S,)),
    "generalized_dice_loss[ignore_index, soft]": (
        lambda x, y: jaxloss.generalized_dice_loss(x, y, soft_label=True, where=SEG_M),
        (SEG, SEG_SOFT), (S, S)),
    "dice_focal_loss": (
        lambda x: jaxloss.dice_focal_loss(x, SEG_Y, where=SEG_M), (SEG,), (S,)),
    "dice_focal_loss[ignore_index]": (
        lambda x: jaxloss.dice_focal_loss(x, SEG_IGNORED), (SEG,), (S,)),
    "dice_focal_loss[sigmoid]": (
        lambda x, y, w: jaxloss.dice_focal_loss(x, y, activation="sigmoid", weights=w,
                                                where=SEG_M),
        (SEG, SEG_BITS, _unit(23, (1, 3))), (S, S, S)),
    "lovasz_softmax_loss": (
        lambda x: jaxloss.lovasz_softmax_loss(x, SEG_Y, where=SEG_M), (SEG,), (S,)),
    "lovasz_softmax_loss[ignore_index, per_image]": (
        lambda x: jaxloss.lovasz_softmax_loss(x, SEG_IGNORED, per_image=True), (SEG,), (S,)),
    "lovasz_hinge_loss": (
        lambda x, y: jaxloss.lovasz_hinge_loss(x, y, where=SEG_M[..., None]),
        (SEG, SEG_BITS), (S, S)),
    "lovasz_hinge_loss[per_image]": (
        lambda x, y: jaxloss.lovasz_hinge_loss(x, y, per_image=True, where=SEG_M[..., None]),
        (SEG, SEG_BITS), (S, S)),
    # sequence
    "ctc_loss": (
        lambda lp, w: jaxloss.ctc_loss(lp, _CTC_Y, jnp.array([5, 5, 5]), jnp.array([2, 2, 2]),
                                       weights=w, where=M), (_CTC_LP, W3), (T5, R)),
    "ctc_loss[masked infeasible, sum]": (
        lambda lp: jaxloss.ctc_loss(lp, _CTC_Y, jnp.array([5, 1, 5]), jnp.array([2, 2, 1]),
                                    reduction="sum", where=M), (_CTC_LP,), (T5,)),
    # regression
    "gaussian_nll_loss": (
        lambda x, y, v, w: jaxloss.gaussian_nll_loss(x, y, v, weights=w, full=True, where=MC),
        (X, _normal(24), _unit(25), W), (R,) * 4),
    "mse_loss": (lambda x, y: jaxloss.mse_loss(x, y, where=MC), (X, _normal(24)), (R, R)),
    "huber_loss": (lambda x, y: jaxloss.huber_loss(x, y, where=MC), (X, _normal(24)), (R, R)),
    "poisson_nll_loss": (
        lambda x, y: jaxloss.poisson_nll_loss(x, y, full=True, where=MC), (X, Y), (R, R)),
    # the softmax engine (jaxloss/_softmax.py)
    "dice_cross_entropy_loss": (
        lambda x: jaxloss.dice_cross_entropy_loss(x, SEG_Y, where=SEG_M), (SEG,), (S,)),
    "cross_entropy": (
        lambda x: jaxloss.cross_entropy(x, jnp.array([0, 1, 2]), where=M), (X,), (R,)),
}

def _masked_params():
    for key in sorted(MASKED_GRAD_CASES):
        for name, v in (("nan", np.nan), ("+inf", np.inf), ("-inf", -np.inf)):
            yield pytest.param(key, v, id=f"{key}[{name}]")


@functools.cache
def _compiled(key):
    """The case's loss and gradient, compiled once for its three poison values (run op by
    op, the 51 cases' gradients cost a compilation per primitive)."""
    loss, clean, _ = MASKED_GRAD_CASES[key]
    return jax.jit(loss), jax.jit(jax.grad(loss, argnums=tuple(range(len(clean)))))


@pytest.mark.parametrize(("key", "v"), list(_masked_params()))
def test_masked_elements_never_reach_a_value_or_a_gradient(key, v):
    _, clean, index = MASKED_GRAD_CASES[key]
    loss, grad = _compiled(key)
    poisoned = tuple(a if i is None else a.at[i].set(v) for a, i in zip(clean, index, strict=True))
    np.testing.assert_allclose(loss(*poisoned), loss(*clean), rtol=1e-6)
    grads = grad(*poisoned)
    for k, (g, i) in enumerate(zip(grads, index, strict=True)):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), f"argument {k}: {g}"
        if i is not None:
            assert np.all(g[i] == 0.0), f"argument {k}: {g}"


@pytest.mark.parametrize("v", [np.nan, np.inf, -np.inf])
def test_kl_div_masked_target_never_reaches_the_input_gradient(v):
    lp = LP
    p = jnp.exp(LP[::-1]).at[1].set(v)
    g = np.asarray(jax.grad(lambda x: jaxloss.kl_div(x, p, where=MC))(lp))
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0.0)
