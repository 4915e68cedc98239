"""Per-element ``weights`` (issue 12, item 5): one rule across every per-element loss.

jaxloss's rule (PyTorch's BCE ``weight``, Keras's ``sample_weight``): ``weights`` rescale each
element's loss and never enter the denominator. "none" is ``w * l``, "sum" is ``sum(w * l)``,
and "mean" is ``sum(w * l)`` divided by what the loss divides by without weights (the kept
count, ``sum w_y`` with class weights, the kept rows for ``kl_div``'s "batchmean", the kept
sequences after the per-length division for ``ctc_loss``). Two PyTorch functions have a
per-element ``weight`` with another "mean", and keep it: ``l1_loss`` and ``mse_loss`` divide by
the kept weights' sum.

Every export with a ``weights`` argument runs here on the first case of its name in the
registry of ``tests/cases.py`` (a test fails when it has none), with the case's inputs and
options and random weights and masks of the shape they broadcast to, so a new loss joins
these checks by getting its registry case. The unweighted per-element losses are compared
with the float64 reference in the transformation matrix and each family's tests; here the
weighted ones are compared with them, in float64.
"""

from __future__ import annotations

import functools
import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import call, element_shape, table_cases

import jaxloss


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


# "mean" divides by the kept weights' sum (PyTorch's rule for these two names).
DIVIDES_BY_WEIGHTS = {"l1_loss", "mse_loss"}


def _weighted_names():
    return sorted(
        name
        for name in jaxloss.__all__
        if "weights" in inspect.signature(getattr(jaxloss, name)).parameters
    )


WEIGHTED = _weighted_names()


def test_every_loss_with_weights_has_a_case():
    """The tables below run each name's first registry case (tests/cases.py): a new export
    with `weights` joins them by getting a case there, which must call it by name."""
    cases = table_cases()
    missing = [name for name in WEIGHTED if name not in cases]
    assert not missing, f"losses with `weights` but no case in tests/cases.py: {missing}"
    plain = [name for name in WEIGHTED if cases[name].options is None]
    assert not plain, f"give these cases `options` (a plain call by name): {plain}"


def _draw(name, seed=0):
    """The case's arguments (float64) without its own weights and mask, and random weights
    and a mask of the shape they broadcast to."""
    case = table_cases()[name]
    rng = np.random.default_rng(seed)
    args = {k: jnp.asarray(v) for k, v in case.make(rng).items() if k not in ("weights", "where")}
    shape = element_shape(case, args)
    w = jnp.asarray(rng.uniform(0.2, 3.0, size=shape))
    where = rng.uniform(size=shape) < 0.7
    where.reshape(-1)[0], where.reshape(-1)[-1] = True, False
    return args, w, jnp.asarray(where)


def _call(name, args, **more):
    """The case's call with its own reduction, weights and mask replaced by ``more``'s."""
    # torchvision's box losses default to "none": "mean" is what a plain call means here.
    default = inspect.signature(getattr(jaxloss, name)).parameters["reduction"].default
    plain = None if default == "mean" else "mean"
    more = {"reduction": plain, "weights": None, "where": None, **more}
    return call(table_cases()[name], args, **more)


# Dice + CE/focal: (the weighted term, its coefficient's name); weights leave the Dice term
# (coefficient `lambda_dice`) alone, and the term's own rule is checked by its own case.
COMBINED = {
    "dice_cross_entropy_loss": (jaxloss.cross_entropy, "lambda_ce"),
    "dice_focal_loss": (jaxloss.focal_loss, "lambda_focal"),
}


def _part(fn, name, args, **more):
    """One term of a Dice + CE/focal case: ``fn`` on the arguments and options it takes."""
    params = inspect.signature(fn).parameters
    given = {**table_cases()[name].options, **args, **more}
    return fn(**{k: v for k, v in given.items() if k in params})


FD_EPS = 1e-6


@functools.cache
def _values(name):
    """Every quantity the tests below compare, from one compiled program per loss (the
    suite's time is compilation): weighted and unweighted losses with and without ``where``,
    the gradient in the weights with central differences at two of them, and a vmap over a
    stack of weight maps with the loop it must equal."""
    args, w, where = _draw(name)
    # The hyperparameters are constants of the program: the weights are what is traced here.
    hyper = {k: args[k] for k in table_cases()[name].hyper if k in args}
    data = {k: v for k, v in args.items() if k not in hyper}

    def compute(data, w, where):
        given = {**data, **hyper}

        def loss(weights=None, **more):
            return _call(name, given, weights=weights, **more)

        out = {}
        for tag, extra in (("", {}), ("_m", {"where": where})):
            out["mean_w" + tag] = loss(w, **extra)
            if name in COMBINED:
                out["dice" + tag] = _part(jaxloss.dice_loss, name, given, **extra)
                out["term_w" + tag] = _part(COMBINED[name][0], name, given, weights=w, **extra)
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
        shifted = jax.vmap(loss)(jnp.stack([w + s for e in steps for s in (e, -e)]))
        out["fd"] = (shifted[0::2] - shifted[1::2]) / (2 * FD_EPS)
        stack = jnp.stack([w, 2.0 * w, jnp.flip(w)])
        out["vmap"] = jax.vmap(loss)(stack)
        out["loop"] = jnp.stack([loss(s) for s in stack])
        return out

    return args, w, where, jax.jit(compute)(data, w, where)


def _ctc_scale(name, args, per):
    """CTC's "mean" divides each sequence's loss by its target length first."""
    if name != "ctc_loss":
        return per
    return per / jnp.maximum(args["target_lengths"], 1).astype(per.dtype)


@pytest.mark.parametrize("name", WEIGHTED)
def test_none_and_sum_rescale_each_element(name):
    if name in COMBINED:
        pytest.skip("no 'none' for the Dice + CE/focal sums (a named error); 'mean' below")
    _, w, where, v = _values(name)
    for tag in ("", "_m"):
        wb = jnp.broadcast_to(w, v["none_u" + tag].shape)
        np.testing.assert_allclose(v["none_w" + tag], wb * v["none_u" + tag], rtol=1e-12, atol=0)
        np.testing.assert_allclose(v["sum_w" + tag], jnp.sum(wb * v["none_u" + tag]), rtol=1e-12)


@pytest.mark.parametrize("masked", [False, True], ids=["all", "where"])
@pytest.mark.parametrize("name", WEIGHTED)
def test_mean_divides_by_the_unweighted_denominator(name, masked):
    """"mean" with weights = sum(w l) / (the unweighted "mean"'s denominator, which is
    sum(l) / mean(l)); l1_loss and mse_loss: / sum of the kept weights (PyTorch's)."""
    args, w, where, v = _values(name)
    tag = "_m" if masked else ""
    if name in COMBINED:
        a = args.get("lambda_dice", 1.0)
        b = args.get(COMBINED[name][1], 1.0)
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
    args, _, _ = _draw("ctc_loss")
    sw = jnp.array([2.0, 0.5, 1.0])
    per = jaxloss.ctc_loss(**args, reduction="none")
    lengths = jnp.maximum(args["target_lengths"], 1).astype(per.dtype)  # an empty target: 1
    np.testing.assert_allclose(
        jaxloss.ctc_loss(**args, weights=sw), jnp.sum(sw * per / lengths) / 3, rtol=1e-12
    )


@pytest.mark.parametrize("name", WEIGHTED)
def test_a_nan_weight_at_a_masked_element_does_not_leak(name):
    v = _values(name)[3]
    assert np.isfinite(v["nan_m"])
    np.testing.assert_allclose(v["nan_m"], v["one_m"], rtol=1e-12)


@pytest.mark.parametrize("name", WEIGHTED)
def test_unit_weights_change_nothing(name):
    v = _values(name)[3]
    np.testing.assert_allclose(v["unit"], v["plain"], rtol=1e-12)


@pytest.mark.parametrize("name", WEIGHTED)
def test_gradient_with_respect_to_weights_and_vmap_over_them(name):
    """d mean / d w_i against central differences (the traced weights are data, not
    constants); vmap over a stack of weight maps equals a loop."""
    _, w, _, v = _values(name)
    grad = v["grad"].reshape(-1)
    np.testing.assert_allclose(grad[jnp.array([0, w.size - 1])], v["fd"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v["vmap"], v["loop"], rtol=1e-10)


@pytest.mark.parametrize("name", WEIGHTED)
def test_bad_weights_are_named_errors(name):
    args, w, _ = _draw(name)
    with pytest.raises(TypeError, match=rf"{name}: `weights` must be real-valued.*Boolean"):
        _call(name, args, weights=w > 1.0)
    shape = re.escape(str(w.shape))
    with pytest.raises(ValueError, match=rf"^{name}: `weights` of shape \(7,\) must broadcast "
                                         rf"to {shape} \(NumPy broadcasting from the trailing "
                                         r"axis\)\."):
        _call(name, args, weights=jnp.ones((7,)))
