"""kl_div, jensen_shannon_divergence, distillation_loss: parity with values recorded from
PyTorch 2.13 and with the float64 reference (PyTorch's documented formula, Liger-Kernel's JSD
test reference, Hinton et al.), finiteness where a target probability is exactly 0, vmap over
the hyperparameters."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from _torch_kl_div import CASES, GRAD_CASES, GRAD_TARGETS
from helpers import assert_close, fd_grad, maybe_jit
from hypothesis import given
from hypothesis import strategies as st
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

# Recorded with `python tests/_torch_kl_div.py` (torch 2.13.0+cpu, float64).
TORCH_RECORDED = {'2d-none-prob': [[-0.17973841831353846,
                   0.15739460226691748,
                   0.07271592669861127,
                   0.05588949644092761],
                  [-0.10076199348886124, -0.014916678754491208, 0.0, 0.04253575079610772],
                  [0.7582527966411685,
                   0.12073313428723914,
                   -0.02782625957201984,
                   -0.24259650884582581]],
 '2d-none-log': [[-0.17973841831353843,
                  0.1573946022669175,
                  0.0727159266986113,
                  0.055889496440927625],
                 [-0.10076199348886124,
                  -0.01491667875449122,
                  0.23899411804641982,
                  0.04253575079610769],
                 [0.7582527966411686,
                  0.12073313428723917,
                  -0.027826259572019802,
                  -0.2425965088458258]],
 '2d-sum-prob': 0.6416818481562352,
 '2d-sum-log': 0.8806759662026553,
 '2d-mean-prob': 0.05347348734635293,
 '2d-mean-log': 0.07338966385022128,
 '2d-batchmean-prob': 0.21389394938541173,
 '2d-batchmean-log': 0.2935586554008851,
 '3d-batchmean': 0.5246063420658293,
 '3d-mean': 0.043717195172152445,
 '3d-none-log': [[[0.21266223978282495,
                   -0.04937886193812687,
                   -0.0962245973578074,
                   0.02221358838889881],
                  [0.3988033109227252,
                   0.2513246903468676,
                   -0.015358313054878205,
                   -0.1936819484933127],
                  [-0.18132460569004274,
                   -0.051747825417029054,
                   0.17680441000183425,
                   0.3512910926176057]],
                 [[0.0798374168298993,
                   -0.02704597274145214,
                   -0.10469368764739213,
                   0.10898693788316431],
                  [-0.06702559151123129,
                   0.13414320471466248,
                   0.13653971920901609,
                   -0.10773234805861569],
                  [-0.05827045499954418,
                   -0.07651888300016388,
                   0.06991000244681665,
                   0.13569916089693954]]],
 '0d-batchmean': 0.11348370725033796,
 'broadcast-target-sum': 2.0082495144246453,
 'broadcast-row-target-batchmean': 0.6065959256872357,
 'broadcast-middle-axis-none-log': [[[0.21266223978282495,
                                      -0.04937886193812687,
                                      -0.0962245973578074,
                                      0.02221358838889881],
                                     [0.23657958200014245,
                                      0.2650304209731697,
                                      0.026079816773165773,
                                      -0.20008831350311507],
                                     [-0.1684379277093024,
                                      -0.013418784098858638,
                                      0.17863056233626207,
                                      0.17897847977396464]],
                                    [[0.0798374168298993,
                                      -0.02704597274145214,
                                      -0.10469368764739213,
                                      0.10898693788316431],
                                     [-0.08924399382962248,
                                      0.0706854616946882,
                                      0.12891419269253476,
                                      -0.03799948100072898],
                                     [-0.14734804397245382,
                                      -0.12452287356371745,
                                      0.14761263452113807,
                                      0.6486233392212392]]],
 'scalar-target-mean': 0.18953504962644122,
 'unnormalised-input-mean': -0.10161033614977873,
 'grad-input-prob': [[-0.49731001447353845,
                      -0.3140386002472692,
                      -0.12067087118936703,
                      -0.06798051408982542],
                     [-0.07898309407521285,
                      -0.201651233199484,
                      -0.39664740523682995,
                      -0.3227182674884732],
                     [-0.3198386372521313,
                      -0.1487380019405627,
                      -0.15985147690123497,
                      -0.37157188390607104]],
 'grad-target-prob': [[0.6385787273883619,
                       1.5011950828432792,
                       1.6025971800974177,
                       1.8221399497961808],
                      [-0.2757412794301157,
                       0.9260273368140781,
                       1.6025354380012176,
                       1.1318045957768008],
                      [3.370735453213653,
                       1.8117167953855224,
                       0.8259242885243256,
                       0.3471074660020527]],
 'grad-input-log': [[-0.49731001447353845,
                     -0.3140386002472692,
                     -0.12067087118936703,
                     -0.06798051408982542],
                    [-0.07898309407521285,
                     -0.20165123319948403,
                     -0.39664740523682995,
                     -0.3227182674884732],
                    [-0.3198386372521313,
                     -0.1487380019405627,
                     -0.15985147690123497,
                     -0.37157188390607104]],
 'grad-target-log': [[0.31757159616,
                      0.47143320251418674,
                      0.19338679788797833,
                      0.12387001053075304],
                     [-0.021778899413648384,
                      0.18673455444499282,
                      0.6356415232832497,
                      0.36525401828458093],
                     [1.0780914338932999,
                      0.26947113622780183,
                      0.13202521732921516,
                      0.12897537506024526]]}


@pytest.mark.parametrize("name", CASES)
def test_kl_div_matches_torch(name):
    x, t, reduction, log_target = CASES[name]
    with jax.enable_x64(True):
        got = jaxloss.kl_div(x, t, reduction=reduction, log_target=log_target)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, TORCH_RECORDED[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", GRAD_CASES)
def test_kl_div_gradients_match_torch(name):
    case, which = GRAD_CASES[name]
    x, _, _, log_target = CASES[case]
    t = GRAD_TARGETS[case]
    with jax.enable_x64(True):
        grads = jax.grad(
            lambda x, t: jnp.sum(jaxloss.kl_div(x, t, reduction="none", log_target=log_target)),
            argnums=(0, 1),
        )(x, t)
    got = grads[0] if which == "input" else grads[1]
    np.testing.assert_allclose(got, TORCH_RECORDED[name], rtol=1e-12, atol=1e-15)


def test_torch_mean_is_over_all_elements():
    """PyTorch's default "mean" divides by every element, "batchmean" by the batch size."""
    x, t, _, _ = CASES["3d-mean"]
    assert TORCH_RECORDED["3d-mean"] * x.size == pytest.approx(
        TORCH_RECORDED["3d-batchmean"] * x.shape[0], rel=1e-12
    )


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def log_probs(shape, seed, axis=-1, zeros=False):
    """float32 log-probabilities; with ``zeros``, some exact zeros (``-inf``)."""
    rng = np.random.default_rng(seed)
    x = 2.0 * rng.standard_normal(shape)
    if zeros:
        x.reshape(-1)[::5] = -np.inf
    x = np.moveaxis(x, axis, -1)
    x = x - np.max(x, -1, keepdims=True)
    x = x - np.log(np.sum(np.exp(x), -1, keepdims=True))
    return np.moveaxis(x, -1, axis).astype(np.float32)


def log(p):
    """np.log with log 0 = -inf and no warning (warnings are errors in the test suite)."""
    with np.errstate(divide="ignore"):
        return np.log(p)


ROW_MASK = np.array([True, False, True, True, True])
REDUCTIONS = ("none", "sum", "mean")


# ---------------------------------------------------------------------------------------------
# kl_div
# ---------------------------------------------------------------------------------------------


@functools.cache
def kl_grid(mode):
    def run(x, p, lp):
        out = {}
        for r in ("none", "sum", "mean", "batchmean"):
            for m in (False, True):
                where = ROW_MASK[:, None] if m else None
                out[(r, m, False)] = jaxloss.kl_div(x, p, reduction=r, where=where)
                out[(r, m, True)] = jaxloss.kl_div(x, lp, reduction=r, log_target=True,
                                                   where=where)
        return out

    return maybe_jit(mode, run)


def test_kl_div_grid(mode):
    """Each reduction x mask x target kind, targets with exact zeros (also where the input
    is -inf), against the reference."""
    x = log_probs((5, 4), 0, zeros=True)
    lp = log_probs((5, 4), 1, zeros=True)
    lp[0, 0] = 0.0  # a certain class
    p = np.exp(lp)
    got = kl_grid(mode)(x, p, lp)
    for (r, m, lt), value in got.items():
        where = ROW_MASK[:, None] if m else None
        want = ref.kl_div(x, lp if lt else p, reduction=r, log_target=lt, where=where)
        assert value.dtype == jnp.float32
        assert_close(value, want, rtol=5e-5, atol=5e-6)


def test_kl_div_zero_targets_give_finite_values_and_gradients():
    """optax PR #1786's cases: a zero target (also at a -inf input, a masked class) and a
    -inf log target give 0, with finite gradients in both arguments."""
    x = np.array([[-0.5, -np.inf, -1.2, -2.0]], np.float32)
    p = np.array([[0.6, 0.0, 0.4, 0.0]], np.float32)
    for log_target, t in ((False, p), (True, log(p))):
        value, grads = jax.value_and_grad(
            lambda x, t, lt=log_target: jaxloss.kl_div(x, t, reduction="sum", log_target=lt),
            argnums=(0, 1),
        )(x, t)
        assert np.isfinite(value)
        assert_close(value, ref.kl_div(x, t, reduction="sum", log_target=log_target))
        for g in grads:
            assert np.all(np.isfinite(g)), (log_target, grads)
        np.testing.assert_array_equal(grads[0][0, [1, 3]], 0.0)
        # at a zero target: -log q with probability targets, 0 (the limit) with log targets
        want_t = [0.0, 2.0] if not log_target else [0.0, 0.0]
        np.testing.assert_allclose(grads[1][0, [1, 3]], want_t)


def test_kl_div_negative_target_is_nan_not_clamped():
    x = np.array([-1.0, -0.5], np.float32)
    t = np.array([-0.1, 1.1], np.float32)
    out = jaxloss.kl_div(x, t, reduction="none")
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_kl_div_where_and_axis_name_denominators():
    x = log_probs((5, 4), 2)
    p = np.exp(log_probs((5, 4), 3))
    mask = np.zeros((5, 4), bool)
    mask[1, 2] = mask[3, :] = True
    got = jaxloss.kl_div(x, p, reduction="batchmean", where=mask)
    assert_close(got, ref.kl_div(x, p, reduction="sum", where=mask) / 2)
    assert jaxloss.kl_div(x, p, reduction="mean", where=np.zeros((5, 4), bool)) == 0.0


# ---------------------------------------------------------------------------------------------
# jensen_shannon_divergence
# ---------------------------------------------------------------------------------------------

BETAS = (0.0, 0.1, 0.5, 0.9, 1.0)


@functools.cache
def jsd_grid(mode, axis):
    def run(lq, lp):
        return {
            (b, r, m): jaxloss.jensen_shannon_divergence(
                lq, lp, beta=b, reduction=r, axis=axis, where=ROW_MASK[:, None] if m else None
            )
            for b in BETAS
            for r in REDUCTIONS
            for m in (False, True)
        }

    return maybe_jit(mode, run)


@pytest.mark.parametrize("zeros", [False, True])
def test_jsd_grid(mode, zeros):
    """beta (endpoints included) x reduction x mask, channel-first (5, 3, 2) with axis=1; the
    teacher (target) with exact zeros or without."""
    lp = log_probs((5, 3, 2), 4, axis=1, zeros=zeros)
    lq = log_probs((5, 3, 2), 5, axis=1, zeros=False)
    got = jsd_grid(mode, 1)(lq, lp)
    for (b, r, m), value in got.items():
        want = ref.jensen_shannon_divergence(
            lq, lp, beta=b, reduction=r, axis=1, where=ROW_MASK[:, None] if m else None
        )
        assert_close(value, want, rtol=5e-5, atol=5e-6)


def test_jsd_symmetries_and_bounds():
    lp, lq = log_probs((6, 5), 6), log_probs((6, 5), 7)  # teacher log P, student log Q
    jsd = functools.partial(jaxloss.jensen_shannon_divergence, reduction="none")
    assert_close(jsd(lq, lp), jsd(lp, lq))  # beta = 1/2 is symmetric
    assert_close(jsd(lq, lp, beta=0.2), jsd(lp, lq, beta=0.8))
    assert np.all(np.asarray(jsd(lq, lp)) <= np.log(2.0) + 1e-6)
    assert np.all(np.asarray(jsd(lq, lp)) >= -1e-7)
    # the endpoints are the forward and reverse KL, as Liger-Kernel's kernel, in kl_div's
    # order: beta=0 is KL(P || Q) = kl_div(input, target, log_target=True) summed per row
    forward = jnp.sum(jaxloss.kl_div(lq, lp, reduction="none", log_target=True), -1)
    assert_close(jsd(lq, lp, beta=0.0), forward)
    assert_close(jsd(input=lq, target=lp, beta=0.0), forward)
    assert_close(jsd(lq, lp, beta=1.0), jnp.sum(
        jaxloss.kl_div(lp, lq, reduction="none", log_target=True), -1))
    assert_close(jsd(lp, lp, beta=0.3), np.zeros(6))


def test_jsd_zero_probabilities_give_finite_gradients():
    lp = log(np.array([[0.5, 0.5, 0.0, 0.0]], np.float32))
    lq = log(np.array([[0.0, 0.3, 0.7, 0.0]], np.float32))
    for b in BETAS:
        value, grads = jax.value_and_grad(
            lambda q, p, b=b: jaxloss.jensen_shannon_divergence(q, p, beta=b), argnums=(0, 1)
        )(lq, lp)
        if b in (0.0, 1.0):  # KL with a zero where the other distribution has mass: inf
            assert np.isinf(value)
            continue
        assert_close(value, ref.jensen_shannon_divergence(lq, lp, beta=b))
        for g in grads:
            assert np.all(np.isfinite(g)), (b, grads)
        np.testing.assert_array_equal(grads[1][0, 2:], 0.0)  # d/d log P where P = 0


# ---------------------------------------------------------------------------------------------
# distillation_loss
# ---------------------------------------------------------------------------------------------


def distill_inputs(seed=0):
    rng = np.random.default_rng(seed)
    s = (2.0 * rng.standard_normal((5, 4))).astype(np.float32)
    t = (3.0 * rng.standard_normal((5, 4))).astype(np.float32)
    t[2, 1] = -np.inf  # a masked vocabulary entry: teacher probability exactly 0
    y = np.array([0, 3, -100, 1, 2], np.int32)
    return s, t, y


@functools.cache
def distill_grid(mode):
    def run(s, t, y):
        out = {}
        for temp in (1.0, 4.0):
            for ls, lh in ((1.0, 0.0), (0.7, 0.3), (2.0, 0.5)):
                for r in REDUCTIONS:
                    for m in (False, True):
                        out[(temp, ls, lh, r, m)] = jaxloss.distillation_loss(
                            s, t, temperature=temp, targets=y, lambda_soft=ls, lambda_hard=lh,
                            reduction=r, where=ROW_MASK if m else None,
                        )
        return out

    return maybe_jit(mode, run)


def test_distillation_grid(mode):
    s, t, y = distill_inputs()
    for (temp, ls, lh, r, m), value in distill_grid(mode)(s, t, y).items():
        want = ref.distillation_loss(
            s, t, temperature=temp, targets=y, lambda_soft=ls, lambda_hard=lh, reduction=r,
            where=ROW_MASK if m else None,
        )
        assert_close(value, want, rtol=5e-5, atol=5e-6)


def test_distillation_special_cases():
    s, t, y = distill_inputs(1)
    t = np.where(np.isinf(t), 0.0, t)
    # the PyTorch recipe: T**2 * F.kl_div(log_softmax(s/T), softmax(t/T), "batchmean")
    temp = 3.0
    soft = jaxloss.distillation_loss(s, t, temperature=temp)
    recipe = temp**2 * jaxloss.kl_div(
        jax.nn.log_softmax(s / temp), jax.nn.softmax(t / temp), reduction="batchmean"
    )
    assert_close(soft, recipe)
    # lambda_soft = 0, lambda_hard = 1: cross_entropy (ignored rows dropped from both)
    hard = jaxloss.distillation_loss(
        s, t, temperature=temp, targets=y, lambda_soft=0.0, lambda_hard=1.0
    )
    assert_close(hard, jaxloss.cross_entropy(s, y))
    # the weights add (MONAI's lambda_dice/lambda_ce, Liger's weight_soft_loss/weight_hard_loss),
    # and the former convex hard_weight=a is lambda_soft=1-a, lambda_hard=a
    both = jaxloss.distillation_loss(
        s, t, temperature=temp, targets=y, lambda_soft=2.0, lambda_hard=3.0
    )
    soft_kept = jaxloss.distillation_loss(s, t, temperature=temp, targets=y)
    assert_close(both, 2.0 * soft_kept + 3.0 * hard)
    assert_close(
        jaxloss.distillation_loss(
            s, t, temperature=temp, targets=y, lambda_soft=0.75, lambda_hard=0.25
        ),
        0.75 * soft_kept + 0.25 * hard,
    )
    assert_close(
        jaxloss.distillation_loss(s, t, temperature=temp, lambda_soft=0.5), 0.5 * soft
    )
    # lambda_hard = 0 with targets: the soft loss over the labelled rows
    keep = y != -100
    assert_close(
        jaxloss.distillation_loss(s, t, temperature=temp, targets=y),
        jaxloss.distillation_loss(s[keep], t[keep], temperature=temp),
    )
    # a student equal to its teacher costs nothing
    assert_close(jaxloss.distillation_loss(t, t, temperature=2.0), 0.0)


def test_distillation_finite_where_teacher_probability_is_zero():
    """A -inf teacher logit (and a teacher softmax that underflows) gives finite values and
    gradients for the student and the teacher."""
    s, t, y = distill_inputs(2)
    t[0] = [80.0, -80.0, 0.0, -np.inf]  # softmax(t / 0.5) underflows to exact zeros
    value, grads = jax.value_and_grad(
        lambda s, t: jaxloss.distillation_loss(s, t, temperature=0.5, targets=y,
                                               lambda_soft=0.8, lambda_hard=0.2),
        argnums=(0, 1),
    )(s, t)
    assert np.isfinite(value)
    for g in grads:
        assert np.all(np.isfinite(g))
    assert_close(value, ref.distillation_loss(s, t, temperature=0.5, targets=y,
                                              lambda_soft=0.8, lambda_hard=0.2), rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# gradients, vmap over the hyperparameters, dtypes
# ---------------------------------------------------------------------------------------------


def _fd_check(fn, reference, args, names):
    with jax.enable_x64(True):
        grads = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=tuple(range(len(args))))(
            *[jnp.asarray(a, jnp.float64) for a in args]
        )
    for i, (name, got) in enumerate(zip(names, grads, strict=True)):
        def f(v, i=i):
            return float(np.sum(reference(*args[:i], v, *args[i + 1:])))
        want = fd_grad(f, np.asarray(args[i], np.float64))
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=name)


def test_gradients_match_finite_differences():
    x = log_probs((3, 4), 8).astype(np.float64)
    p = np.exp(log_probs((3, 4), 9)).astype(np.float64)
    for r in ("mean", "batchmean"):
        _fd_check(lambda x, p, r=r: jaxloss.kl_div(x, p, reduction=r),
                  lambda x, p, r=r: ref.kl_div(x, p, reduction=r), [x, p], ("input", "target"))
    lq = log_probs((3, 4), 10).astype(np.float64)
    for b in (0.0, 0.3, 1.0):
        _fd_check(lambda q, p, b=b: jaxloss.jensen_shannon_divergence(q, p, beta=b),
                  lambda q, p, b=b: ref.jensen_shannon_divergence(q, p, beta=b),
                  [lq, np.log(p)], ("input", "target"))
    s, t, y = distill_inputs(3)
    t = np.where(np.isinf(t), 0.0, t).astype(np.float64)
    _fd_check(
        lambda s, t: jaxloss.distillation_loss(s, t, temperature=2.0, targets=y,
                                               lambda_soft=0.7, lambda_hard=0.3),
        lambda s, t: ref.distillation_loss(s, t, temperature=2.0, targets=y, lambda_soft=0.7,
                                           lambda_hard=0.3),
        [s.astype(np.float64), t], ("student", "teacher"),
    )


def test_vmap_over_each_hyperparameter():
    lp, lq = log_probs((4, 3), 11), log_probs((4, 3), 12)
    betas = jnp.array(BETAS, jnp.float32)
    got = jax.jit(jax.vmap(lambda b: jaxloss.jensen_shannon_divergence(lq, lp, beta=b)))(betas)
    for b, g in zip(BETAS, got, strict=True):
        assert_close(g, ref.jensen_shannon_divergence(lq, lp, beta=b))
    s, t, y = distill_inputs(4)
    temps, weights = [0.5, 1.0, 4.0], [0.0, 0.5, 1.0, 2.5]
    by_t = jax.jit(jax.vmap(lambda v: jaxloss.distillation_loss(
        s, t, temperature=v, targets=y, lambda_hard=0.5)))(jnp.asarray(temps))
    by_soft = jax.jit(jax.vmap(lambda v: jaxloss.distillation_loss(
        s, t, temperature=2.0, targets=y, lambda_soft=v, lambda_hard=0.5)))(jnp.asarray(weights))
    by_hard = jax.jit(jax.vmap(lambda v: jaxloss.distillation_loss(
        s, t, temperature=2.0, targets=y, lambda_hard=v)))(jnp.asarray(weights))
    for v, g in zip(temps, by_t, strict=True):
        assert_close(g, ref.distillation_loss(s, t, temperature=v, targets=y, lambda_hard=0.5),
                     rtol=5e-5)
    for v, g_soft, g_hard in zip(weights, by_soft, by_hard, strict=True):
        assert_close(g_soft, ref.distillation_loss(s, t, temperature=2.0, targets=y,
                                                   lambda_soft=v, lambda_hard=0.5), rtol=5e-5)
        assert_close(g_hard, ref.distillation_loss(s, t, temperature=2.0, targets=y,
                                                   lambda_hard=v), rtol=5e-5)


def test_bf16_inputs_compute_in_float32():
    lp, lq = log_probs((4, 3), 13), log_probs((4, 3), 14)
    bp, bq = jnp.asarray(lp, jnp.bfloat16), jnp.asarray(lq, jnp.bfloat16)
    rp, rq = np.asarray(bp, np.float64), np.asarray(bq, np.float64)
    cases = [
        (jaxloss.kl_div(bq, jnp.exp(bp), reduction="batchmean"),
         ref.kl_div(rq, np.asarray(jnp.exp(bp), np.float64), reduction="batchmean")),
        (jaxloss.jensen_shannon_divergence(bq, bp), ref.jensen_shannon_divergence(rq, rp)),
        (jaxloss.distillation_loss(bp, bq, temperature=2.0),
         ref.distillation_loss(rp, rq, temperature=2.0)),
    ]
    for got, want in cases:
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=BF16_RTOL)


def test_distillation_channel_first_tokens():
    """(N, C, L) logits with axis=1: one distribution per (sample, token), "mean" over the
    kept tokens."""
    rng = np.random.default_rng(15)
    s = (2.0 * rng.standard_normal((2, 4, 3))).astype(np.float32)
    t = (2.0 * rng.standard_normal((2, 4, 3))).astype(np.float32)
    y = np.array([[0, -100, 3], [2, 1, 1]], np.int32)
    where = np.array([[True, True, True], [True, False, True]])
    for r in REDUCTIONS:
        got = jaxloss.distillation_loss(s, t, temperature=1.5, targets=y, lambda_soft=0.6,
                                        lambda_hard=0.4, axis=1, where=where, reduction=r)
        want = ref.distillation_loss(s, t, temperature=1.5, targets=y, lambda_soft=0.6,
                                     lambda_hard=0.4, axis=1, where=where, reduction=r)
        assert_close(got, want, rtol=5e-5, atol=5e-6)


@functools.cache
def _jsd_traced():
    return jax.jit(lambda q, p, b: jaxloss.jensen_shannon_divergence(q, p, beta=b,
                                                                     reduction="none"))


@given(
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0, 50.0]),
    beta=st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]),
    zeros=st.booleans(),
)
def test_property_jsd_matches_reference_and_is_bounded(seed, scale, beta, zeros):
    """Random (possibly saturated, possibly with exact zeros) distributions: the reference,
    0 <= JSD_beta <= the binary entropy h(beta) inside (0, 1), finite wherever it is finite
    in the reference."""
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((2, 6, 5))
    lp = np.array(jax.nn.log_softmax(x[0]), np.float32)
    lq = np.asarray(jax.nn.log_softmax(x[1]), np.float32)
    if zeros:
        lp[rng.random(lp.shape) < 0.3] = -np.inf
        lp[:, 0] = np.maximum(lp[:, 0], -1.0)  # every row keeps some mass
        lp = np.asarray(jax.nn.log_softmax(lp), np.float32)
    got = np.asarray(_jsd_traced()(lq, lp, np.float32(beta)))
    want = ref.jensen_shannon_divergence(lq, lp, beta=beta, reduction="none")
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-5)
    assert np.all(got[finite] >= -1e-6)
    if 0.0 < beta < 1.0:
        entropy = -(beta * np.log(beta) + (1 - beta) * np.log1p(-beta))
        assert np.all(got <= entropy + 1e-5)
