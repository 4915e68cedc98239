"""Per-element ``weights`` (issue 12, item 5): one rule across every per-element loss.

jaxloss's rule (PyTorch's BCE ``weight``, Keras's ``sample_weight``): ``weights`` rescale each
element's loss and never enter the denominator. "none" is ``w * l``, "sum" is ``sum(w * l)``,
and "mean" is ``sum(w * l)`` divided by what the loss divides by without weights (the kept
count, ``sum w_y`` with class weights, the kept rows for ``kl_div``'s "batchmean", the kept
sequences after the per-length division for ``ctc_loss``). Two PyTorch functions have a
per-element ``weight`` with another "mean", and keep it: ``l1_loss`` and ``mse_loss`` divide by
the kept weights' sum.

Every export with a ``weights`` argument needs a case in ``CASES`` (a test fails otherwise), so a
new loss joins these checks by being exported. The unweighted per-element losses are compared
with the float64 reference in each family's tests; here the weighted ones are compared with
them, in float64.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _n(rng, *shape):
    return rng.standard_normal(shape)


def _log_softmax(x, axis=-1):
    return np.asarray(jax.nn.log_softmax(jnp.asarray(x), axis=axis))


def _labels(rng, shape, c, ignored=True):
    y = rng.integers(0, c, shape)
    if ignored:
        y.reshape(-1)[1] = -100
    return y


# name -> rng -> (positional args, keyword args, the shape `weights` and `where` broadcast to)
Builder = Callable[[np.random.Generator], tuple[tuple, dict[str, Any], tuple[int, ...]]]


def _ctc(rng):
    t, n, c, s = 10, 3, 5, 3
    lp = _log_softmax(_n(rng, t, n, c))
    targets = rng.integers(1, c, (n, s))
    return (lp, targets, np.full((n,), t), np.array([3, 1, 2])), {}, (n,)


def _triplet(rng):
    return (_n(rng, 4, 3), _n(rng, 4, 3), _n(rng, 4, 3)), {}, (4,)


# Detection (issue 23): boxes (..., 4) with per-box weights; the dense-detection losses.
def _box_pair(rng, *shape):
    xy1 = rng.uniform(0.0, 5.0, (*shape, 2))
    xy2 = xy1 + rng.uniform(-2.0, 2.0, (*shape, 2))
    return (np.concatenate([xy1, xy1 + rng.uniform(0.2, 3.0, (*shape, 2))], -1),
            np.concatenate([xy2, xy2 + rng.uniform(0.2, 3.0, (*shape, 2))], -1))


def _vfl_targets(rng, *shape):
    q = rng.uniform(0.1, 1.0, shape)
    q[rng.uniform(size=shape) < 0.6] = 0.0
    return q


DETECTION_CASES: dict[str, Builder] = {
    "generalized_box_iou_loss": lambda r: (_box_pair(r, 2, 3), {}, (2, 3)),
    "distance_box_iou_loss": lambda r: (_box_pair(r, 6), {"eps": 1e-3}, (6,)),
    "complete_box_iou_loss": lambda r: (_box_pair(r, 6), {}, (6,)),
    "varifocal_loss": lambda r: ((_n(r, 3, 4), _vfl_targets(r, 3, 4)), {"gamma": 1.5}, (3, 4)),
    "quality_focal_loss": lambda r: (
        (_n(r, 6, 4), np.array([4, 0, 1, 2, 3, 1]), r.uniform(size=(6,))), {}, (6,)
    ),
    "distribution_focal_loss": lambda r: ((_n(r, 6, 5), r.uniform(0.0, 4.0, (6,))), {}, (6,)),
}


CASES: dict[str, Builder] = {
    "cross_entropy": lambda r: (
        (_n(r, 2, 5, 4), _labels(r, (2, 5), 4)),
        {"class_weights": np.array([1.0, 2.0, 0.5, 3.0]), "label_smoothing": 0.1},
        (2, 5),
    ),
    "nll_loss": lambda r: (
        (_log_softmax(_n(r, 6, 4)), _labels(r, (6,), 4)),
        {"class_weights": np.array([1.0, 2.0, 0.5, 3.0])},
        (6,),
    ),
    "focal_loss": lambda r: (
        (_n(r, 6, 4), _labels(r, (6,), 4)), {"gamma": 2.0}, (6,)
    ),
    "logit_adjusted_cross_entropy": lambda r: (
        (_n(r, 6, 4), _labels(r, (6,), 4)),
        {"class_counts": np.array([0.5, 0.3, 0.15, 0.05]), "class_weights": np.ones(4) * 2},
        (6,),
    ),
    "ldam_loss": lambda r: (
        (_n(r, 6, 4), _labels(r, (6,), 4)), {"class_counts": np.array([50, 20, 5, 2])}, (6,)
    ),
    "poly1_cross_entropy": lambda r: (
        (_n(r, 6, 4), np.asarray(jax.nn.softmax(jnp.asarray(_n(r, 6, 4))))), {}, (6,)
    ),
    "distillation_loss": lambda r: (
        (_n(r, 6, 4), _n(r, 6, 4)),
        {"temperature": 2.0, "targets": _labels(r, (6,), 4), "lambda_soft": 0.7,
         "lambda_hard": 0.3},
        (6,),
    ),
    "kl_div": lambda r: (
        (_log_softmax(_n(r, 3, 4)), np.asarray(jax.nn.softmax(jnp.asarray(_n(r, 3, 4))))),
        {},
        (3, 4),
    ),
    "jensen_shannon_divergence": lambda r: (
        (_log_softmax(_n(r, 5, 4)), _log_softmax(_n(r, 5, 4))), {"beta": 0.3}, (5,)
    ),
    "dice_cross_entropy_loss": lambda r: (
        (_n(r, 2, 3, 3, 4), _labels(r, (2, 3, 3), 4, ignored=False)), {}, (2, 3, 3)
    ),
    "dice_focal_loss": lambda r: (
        (_n(r, 2, 3, 3, 4), _labels(r, (2, 3, 3), 4, ignored=False)), {}, (2, 3, 3)
    ),
    "l1_loss": lambda r: ((_n(r, 3, 4), _n(r, 3, 4)), {}, (3, 4)),
    "mse_loss": lambda r: ((_n(r, 3, 4), _n(r, 3, 4)), {}, (3, 4)),
    "huber_loss": lambda r: ((_n(r, 3, 4), _n(r, 3, 4)), {"delta": 0.7}, (3, 4)),
    "smooth_l1_loss": lambda r: ((_n(r, 3, 4), _n(r, 3, 4)), {"beta": 0.7}, (3, 4)),
    "poisson_nll_loss": lambda r: ((_n(r, 3, 4), np.abs(_n(r, 3, 4))), {}, (3, 4)),
    "gaussian_nll_loss": lambda r: (
        (_n(r, 3, 4), _n(r, 3, 4), np.exp(_n(r, 3, 4))), {}, (3, 4)
    ),
    "binary_cross_entropy": lambda r: (
        (np.asarray(jax.nn.sigmoid(jnp.asarray(_n(r, 3, 4)))), r.uniform(size=(3, 4))),
        {},
        (3, 4),
    ),
    "binary_cross_entropy_with_logits": lambda r: (
        (_n(r, 3, 4), r.uniform(size=(3, 4))), {"pos_weight": np.array([1.0, 2.0, 3.0, 0.5])},
        (3, 4),
    ),
    "sigmoid_focal_loss": lambda r: (
        (_n(r, 3, 4), (r.uniform(size=(3, 4)) < 0.4).astype(np.float64)),
        {"pos_weight": np.array([1.0, 2.0, 3.0, 0.5]), "class_weights": np.ones(4) * 0.5},
        (3, 4),
    ),
    "asymmetric_loss": lambda r: ((_n(r, 3, 4), r.uniform(size=(3, 4))), {}, (3, 4)),
    "margin_ranking_loss": lambda r: (
        (_n(r, 3, 4), _n(r, 3, 4), np.sign(_n(r, 3, 4))), {"margin": 0.5}, (3, 4)
    ),
    "hinge_embedding_loss": lambda r: ((_n(r, 3, 4), np.sign(_n(r, 3, 4))), {}, (3, 4)),
    "soft_margin_loss": lambda r: ((_n(r, 3, 4), np.sign(_n(r, 3, 4))), {}, (3, 4)),
    "multilabel_soft_margin_loss": lambda r: (
        (_n(r, 5, 4), (_n(r, 5, 4) > 0).astype(np.float64)),
        {"class_weights": np.array([1.0, 2.0, 0.5, 3.0])},
        (5,),
    ),
    "multi_margin_loss": lambda r: (
        (_n(r, 5, 4), _labels(r, (5,), 4, ignored=False)),
        {"class_weights": np.array([1.0, 2.0, 0.5, 3.0])},
        (5,),
    ),
    "multilabel_margin_loss": lambda r: (
        (_n(r, 5, 4), np.array([[0, 2, -1, 0]] * 5)), {}, (5,)
    ),
    "cosine_embedding_loss": lambda r: (
        (_n(r, 5, 3), _n(r, 5, 3), np.sign(_n(r, 5))), {"margin": 0.2}, (5,)
    ),
    "triplet_margin_loss": _triplet,
    "triplet_margin_with_distance_loss": _triplet,
    "ctc_loss": _ctc,
    "linear_cross_entropy": lambda r: (
        (_n(r, 6, 8), _n(r, 10, 8), _labels(r, (6,), 10)),
        {"class_weights": r.uniform(0.5, 2.0, size=10), "chunk_size": 4, "token_chunk_size": 4},
        (6,),
    ),
}
CASES.update(DETECTION_CASES)

# "mean" divides by the kept weights' sum (PyTorch's rule for these two names).
DIVIDES_BY_WEIGHTS = {"l1_loss", "mse_loss"}


def _weighted_names():
    return sorted(
        name
        for name in jaxloss.__all__
        if "weights" in inspect.signature(getattr(jaxloss, name)).parameters
    )


def test_every_loss_with_weights_has_a_case():
    assert set(_weighted_names()) == set(CASES)


def _draw(name, seed=0):
    rng = np.random.default_rng(seed)
    args, kwargs, shape = CASES[name](rng)
    args = tuple(jnp.asarray(a) for a in args)
    kwargs = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    w = jnp.asarray(rng.uniform(0.2, 3.0, size=shape))
    where = rng.uniform(size=shape) < 0.7
    where.reshape(-1)[0], where.reshape(-1)[-1] = True, False
    return args, kwargs, w, jnp.asarray(where)


def _call(name, args, kwargs, **more):
    fn = getattr(jaxloss, name)
    # torchvision's box losses default to "none": "mean" is what a plain call means here.
    if "reduction" not in more and inspect.signature(fn).parameters["reduction"].default != "mean":
        more["reduction"] = "mean"
    return fn(*args, **kwargs, **more)


# Dice + CE/focal: (Dice coefficient, term coefficient, the weighted term); weights leave
# the Dice term alone, and the term's own rule is checked by its own case.
COMBINED = {
    "dice_cross_entropy_loss": (1.0, 1.0, jaxloss.cross_entropy),
    "dice_focal_loss": (1.0, 1.0, jaxloss.focal_loss),
}
FD_EPS = 1e-6


@functools.cache
def _values(name):
    """Every quantity the tests below compare, from one compiled program per loss (the
    suite's time is compilation): weighted and unweighted losses with and without ``where``,
    the gradient in the weights with central differences at two of them, and a vmap over a
    stack of weight maps with the loop it must equal."""
    args, kwargs, w, where = _draw(name)

    def compute(args, w, where):
        def loss(weights=None, **more):
            if weights is not None:
                more["weights"] = weights
            return _call(name, args, kwargs, **more)

        out = {}
        for tag, extra in (("", {}), ("_m", {"where": where})):
            out["mean_w" + tag] = loss(w, **extra)
            if name in COMBINED:
                a, b, term = COMBINED[name]
                out["dice" + tag] = jaxloss.dice_loss(*args, **extra)
                out["term_w" + tag] = term(*args, weights=w, **extra)
                continue
            per = loss(reduction="none", **extra)
            out["none_u" + tag] = per
            out["none_w" + tag] = loss(w, reduction="none", **extra)
            out["sum_w" + tag] = loss(w, reduction="sum", **extra)
            out["mean_u" + tag] = loss(**extra)
        out["nan_m"] = loss(jnp.where(where, w, jnp.nan), where=where)
        out["one_m"] = loss(jnp.where(where, w, 1.0), where=where)
        out["unit"] = loss(jnp.ones_like(w))
        out["plain"] = loss()
        out["grad"] = jax.grad(loss)(w)
        steps = [jnp.zeros(w.size).at[i].set(FD_EPS).reshape(w.shape) for i in (0, w.size - 1)]
        out["fd"] = jnp.stack([(loss(w + e) - loss(w - e)) / (2 * FD_EPS) for e in steps])
        stack = jnp.stack([w, 2.0 * w, jnp.flip(w)])
        out["vmap"] = jax.vmap(loss)(stack)
        out["loop"] = jnp.stack([loss(s) for s in stack])
        return out

    return args, w, where, jax.jit(compute)(args, w, where)


def _ctc_scale(name, args, per):
    """CTC's "mean" divides each sequence's loss by its target length first."""
    return per / jnp.maximum(args[3], 1).astype(per.dtype) if name == "ctc_loss" else per


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_and_sum_rescale_each_element(name):
    if name in COMBINED:
        pytest.skip("no 'none' for the Dice + CE/focal sums (a named error); 'mean' below")
    _, w, where, v = _values(name)
    for tag in ("", "_m"):
        wb = jnp.broadcast_to(w, v["none_u" + tag].shape)
        np.testing.assert_allclose(v["none_w" + tag], wb * v["none_u" + tag], rtol=1e-12, atol=0)
        np.testing.assert_allclose(v["sum_w" + tag], jnp.sum(wb * v["none_u" + tag]), rtol=1e-12)


@pytest.mark.parametrize("masked", [False, True], ids=["all", "where"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_mean_divides_by_the_unweighted_denominator(name, masked):
    """"mean" with weights = sum(w l) / (the unweighted "mean"'s denominator, which is
    sum(l) / mean(l)); l1_loss and mse_loss: / sum of the kept weights (PyTorch's)."""
    args, w, where, v = _values(name)
    tag = "_m" if masked else ""
    if name in COMBINED:
        a, b, _ = COMBINED[name]
        want = a * v["dice" + tag] + b * v["term_w" + tag]
        np.testing.assert_allclose(v["mean_w" + tag], want, rtol=1e-10)
        return
    per = _ctc_scale(name, args, v["none_u" + tag])
    wb = jnp.broadcast_to(w, per.shape)
    denominator = jnp.sum(per) / v["mean_u" + tag]
    if name in DIVIDES_BY_WEIGHTS:
        kept = jnp.broadcast_to(where, per.shape) if masked else jnp.ones(per.shape, bool)
        denominator = jnp.sum(jnp.where(kept, wb, 0.0))
    np.testing.assert_allclose(v["mean_w" + tag], jnp.sum(wb * per) / denominator, rtol=1e-10)


def test_mean_denominators_named_by_the_rule():
    """The denominators themselves, computed by hand: sum of w_y over kept rows with class
    weights (ignored rows out), kept rows for kl_div's "batchmean", kept sequences for CTC."""
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 3)))
    y = jnp.array([0, 2, -100, 1])
    cw = jnp.array([1.0, 2.0, 4.0])
    v = jnp.array([0.5, 1.0, 9.0, 2.0])
    per = jaxloss.cross_entropy(x, y, class_weights=cw, reduction="none")
    want = jnp.sum(v * per) / (1.0 + 4.0 + 2.0)
    np.testing.assert_allclose(
        jaxloss.cross_entropy(x, y, class_weights=cw, weights=v), want, rtol=1e-12
    )
    lq = jax.nn.log_softmax(x)
    p = jax.nn.softmax(x[::-1])
    vv = jnp.arange(12.0).reshape(4, 3)
    per = jaxloss.kl_div(lq, p, reduction="none")
    np.testing.assert_allclose(
        jaxloss.kl_div(lq, p, reduction="batchmean", weights=vv), jnp.sum(vv * per) / 4,
        rtol=1e-12,
    )
    args, _, _, _ = _draw("ctc_loss")
    sw = jnp.array([2.0, 0.5, 1.0])
    per = jaxloss.ctc_loss(*args, reduction="none")
    lengths = args[3].astype(per.dtype)
    np.testing.assert_allclose(
        jaxloss.ctc_loss(*args, weights=sw), jnp.sum(sw * per / lengths) / 3, rtol=1e-12
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_nan_weight_at_a_masked_element_does_not_leak(name):
    v = _values(name)[3]
    assert np.isfinite(v["nan_m"])
    np.testing.assert_allclose(v["nan_m"], v["one_m"], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unit_weights_change_nothing(name):
    v = _values(name)[3]
    np.testing.assert_allclose(v["unit"], v["plain"], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_with_respect_to_weights_and_vmap_over_them(name):
    """d mean / d w_i against central differences (the traced weights are data, not
    constants); vmap over a stack of weight maps equals a loop."""
    _, w, _, v = _values(name)
    grad = v["grad"].reshape(-1)
    np.testing.assert_allclose(grad[jnp.array([0, w.size - 1])], v["fd"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v["vmap"], v["loop"], rtol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_weights_are_named_errors(name):
    args, kwargs, w, _ = _draw(name)
    with pytest.raises(TypeError, match=rf"{name}: `weights` must be real-valued.*Boolean"):
        _call(name, args, kwargs, weights=w > 1.0)
    with pytest.raises(ValueError, match=rf"{name}: `weights` of shape \(7,\) must broadcast"):
        _call(name, args, kwargs, weights=jnp.ones((7,)))
