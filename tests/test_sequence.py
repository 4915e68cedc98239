"""ctc_loss: parity with PyTorch (recorded), the float64 reference and optax; properties."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import record_torch_ctc as shared
import reference as ref
from helpers import assert_close, fd_grad
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

REDUCTIONS = ("none", "sum", "mean")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# ---------------------------------------------------------------------------------------------
# PyTorch, recorded: `python tests/record_torch_ctc.py` with torch 2.13.0 (CPU), float64, on
# the shared input defined there.
# ---------------------------------------------------------------------------------------------

TORCH_RECORDED = {
    "torch": "2.13.0+cpu",
    "none": [
        9.580597189945461, 4.353473854147191, 1.365062886255739, math.inf, 5.129234621357577,
    ],
    "sum": math.inf,
    "mean": math.inf,
    "none_zero_infinity": [
        9.580597189945461, 4.353473854147191, 1.365062886255739, 0.0, 5.129234621357577,
    ],
    "sum_zero_infinity": 20.42836855170597,
    "mean_zero_infinity": 2.22779757112884,
    "none_blank_last": [
        8.82049517495137, 7.775648920497244, 4.072246019604363, math.inf, 6.2536559525456035,
    ],
    "grad_log_probs_mean_zero_infinity": [
        0.0043385973, -0.0379545047, 0.0008734745, 0.0051629238, 0.027579509, -0.0084523339,
        0.0114930849, 0.0008243699, -0.0149987031, 0.0111335822, -0.1036961803, 0.0063351457,
        -0.0009834561, 0.0922051275, 0.0061393632, 0.0, 0.0, 0.0,
        0.0, 0.0, -0.1502081604, 0.0035714425, 0.0948074512, 0.0482343553,
        0.0035949114, -0.007039614, -0.0012254921, -0.0246241032, 0.0303462879, 0.0025429215,
        0.0082126728, 0.0003834184, 0.0041909863, -0.0137321081, 0.0009450306, -0.0234312028,
        0.0033739497, -0.0397378064, 0.0564102146, 0.003384845, 0.0, 0.0,
        0.0, 0.0, 0.0, -0.1952433245, 0.0206956684, 0.1484794988,
        0.0046666912, 0.0214014662, -0.0118526925, 0.0009503177, -0.0115625077, 0.0214015162,
        0.0010633663, -0.0200355965, -0.0145852332, 0.0518446994, -0.0188640877, 0.001640218,
        0.0012836486, 0.0165174344, -0.0399957808, 0.005121103, 0.0170735948, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, -0.0223744442, 0.0044233076, 0.0114744802,
        0.0019078355, 0.0045688209, 0.0006570426, -0.0389286929, 0.0266474242, 0.0011297378,
        0.0104944883, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, -0.0209464842, 0.0293391717,
        -0.0391780689, 0.0009297365, 0.0298556449, 0.0014774709, 0.0307584797, 0.0012181191,
        0.0020771373, -0.035531207, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, -0.0353286452,
        0.0244116525, -0.0218676841, 0.008928836, 0.0238558408, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ],
    "max_abs_grad_logits_minus_grad_log_probs": 1.3877787807814457e-16,
}


def _shared_call(targets_layout, **kwargs):
    lp = shared.shared_log_probs()
    targets = kwargs.pop("targets", shared.TARGETS)
    if targets_layout == "concatenated":
        targets = shared.concatenated(targets, shared.TARGET_LENGTHS)
    return jaxloss.ctc_loss(
        lp, targets, shared.INPUT_LENGTHS, shared.TARGET_LENGTHS, **kwargs
    )


@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_matches_torch_recorded(x64, layout, reduction, zero_infinity):
    key = reduction + ("_zero_infinity" if zero_infinity else "")
    got = _shared_call(layout, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(np.asarray(got), TORCH_RECORDED[key], rtol=1e-12, atol=1e-12)
    # and the reference, transcribed from the paper, agrees with PyTorch too
    want = ref.ctc_loss(
        shared.shared_log_probs(), shared.TARGETS, shared.INPUT_LENGTHS,
        shared.TARGET_LENGTHS, reduction=reduction, zero_infinity=zero_infinity,
    )
    np.testing.assert_allclose(want, TORCH_RECORDED[key], rtol=1e-12, atol=1e-12)


def test_matches_torch_recorded_with_the_last_class_as_blank(x64):
    got = _shared_call("padded", targets=shared.TARGETS_BLANK_LAST, blank=shared.C - 1,
                       reduction="none")
    np.testing.assert_allclose(np.asarray(got), TORCH_RECORDED["none_blank_last"], rtol=1e-12)



def _live_frames(lengths, num_steps):
    return (np.arange(num_steps)[:, None, None] < np.asarray(lengths)[None, :, None])


def test_gradients_match_torch_recorded(x64):
    """Through log_softmax (the documented use) jaxloss's gradient is PyTorch's exactly. With
    respect to log_probs themselves PyTorch returns exp(log_probs) - occupancy (the gradient
    of the logits of a log-softmax), jaxloss the derivative, -occupancy: they differ by
    exp(log_probs), times the sequence's weight in the loss (1 / (N * target length) for
    "mean"), on the frames t < input_lengths of the sequences whose loss is kept."""
    logits = shared.shared_logits()
    shape = logits.shape

    def loss(lp):
        return jaxloss.ctc_loss(lp, shared.TARGETS, shared.INPUT_LENGTHS, shared.TARGET_LENGTHS,
                                zero_infinity=True)

    torch_lp = np.reshape(TORCH_RECORDED["grad_log_probs_mean_zero_infinity"], shape)
    # PyTorch's log_probs gradient is its logits' gradient (recorded: their difference)
    assert TORCH_RECORDED["max_abs_grad_logits_minus_grad_log_probs"] < 1e-15
    g_logits = jax.grad(lambda z: loss(jax.nn.log_softmax(z)))(logits)
    np.testing.assert_allclose(g_logits, torch_lp, atol=2e-10)

    lp = shared.shared_log_probs()
    g_lp = np.asarray(jax.grad(loss)(lp))
    kept = np.isfinite(TORCH_RECORDED["none"])  # zero_infinity zeroes the rest
    weight = kept / (shared.N * np.maximum(shared.TARGET_LENGTHS, 1))
    live = _live_frames(shared.INPUT_LENGTHS, shared.T)
    np.testing.assert_allclose(g_lp, torch_lp - np.exp(lp) * live * weight[None, :, None],
                               atol=2e-10)
    # so through log_softmax the exp(log_probs) term cancels: every kept frame's row of the
    # log_probs gradient sums to -1 / (N * target length) here, PyTorch's to 0.
    assert np.allclose(torch_lp.sum(-1), 0.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# The option grid against the float64 reference: values and gradients
# ---------------------------------------------------------------------------------------------


def _log_probs(shape, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    return np.asarray(jax.nn.log_softmax(scale * rng.standard_normal(shape)), np.float64)


# (name, targets (N, S), input_lengths, target_lengths, T, C, blank)
CASES = {
    # repeated labels ("1 1" needs a blank between), padding, an empty target
    "repeats": ([[1, 1, 2], [2, 3, 0], [3, 0, 0]], [5, 4, 3], [3, 2, 0], 5, 4, 0),
    # T == the minimal feasible length: S + repeats (3 + 1 = 4 frames for "2 2 1")
    "minimal": ([[2, 2, 1], [1, 2, 3]], [4, 3], [3, 3], 4, 4, 0),
    # the second target is infeasible ("1 1 1" needs 5 frames, it has 4)
    "infeasible": ([[1, 2, 0], [1, 1, 1]], [4, 4], [2, 3], 4, 3, 0),
    # a blank that is not class 0, targets wider than the longest one, input length 0
    "blank_last": ([[0, 1, 0, 0], [2, 0, 1, 0], [1, 0, 0, 0]], [5, 5, 0], [2, 3, 0], 5, 4, 3),
}


def _case(name, seed=0):
    targets, il, tl, num_steps, num_classes, blank = CASES[name]
    lp = _log_probs((num_steps, len(il), num_classes), seed)
    return lp, np.asarray(targets), np.asarray(il), np.asarray(tl), blank


def _args(name, layout, seed=0):
    lp, targets, il, tl, blank = _case(name, seed)
    if layout == "concatenated":
        targets = shared.concatenated(targets, tl)
    return lp, targets, il, tl, blank


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_values_and_gradients_against_the_reference(x64, name, layout, zero_infinity):
    """Every reduction in one compiled program: values against the reference, gradients
    against its finite differences (where the loss is finite), 0 beyond input_lengths."""
    lp, targets, il, tl, blank = _args(name, layout)
    kw = dict(blank=blank, zero_infinity=zero_infinity)

    def losses(x):
        return [jaxloss.ctc_loss(x, targets, il, tl, reduction=r, **kw) for r in REDUCTIONS]

    def grads(x):
        return [jax.grad(lambda x, r=r: jnp.sum(jaxloss.ctc_loss(x, targets, il, tl,
                                                                 reduction=r, **kw)))(x)
                for r in REDUCTIONS]

    got, got_grads = jax.jit(lambda x: (losses(x), grads(x)))(lp)
    live = _live_frames(il, lp.shape[0])[..., 0]
    for reduction, value, g in zip(REDUCTIONS, got, got_grads, strict=True):
        want = ref.ctc_loss(lp, targets, il, tl, reduction=reduction, **kw)
        assert value.dtype == jnp.float64
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-12, err_msg=reduction)
        if not np.all(np.isfinite(want)):
            continue  # inf loss: see test_infeasible_targets
        fd = fd_grad(lambda x, r=reduction: np.sum(ref.ctc_loss(x, targets, il, tl,
                                                                reduction=r, **kw)), lp)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7, err_msg=reduction)
        assert np.all(np.asarray(g)[~live] == 0.0)


def test_eager_equals_jit(x64):
    lp, targets, il, tl, blank = _args("repeats", "concatenated")

    def f(x):
        return jaxloss.ctc_loss(x, targets, il, tl, blank=blank)

    np.testing.assert_allclose(f(lp), jax.jit(f)(lp), rtol=1e-14)
    np.testing.assert_allclose(jax.grad(f)(lp), jax.jit(jax.grad(f))(lp), rtol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_against_the_reference(name):
    lp, targets, il, tl, blank = _case(name)
    x = lp.astype(np.float32)
    kw = dict(blank=blank, zero_infinity=True)

    def run(x):
        values = [jaxloss.ctc_loss(x, targets, il, tl, reduction=r, **kw) for r in REDUCTIONS]
        return values, jax.grad(lambda x: jaxloss.ctc_loss(x, targets, il, tl, **kw))(x)

    values, g = jax.jit(run)(x)
    for reduction, value in zip(REDUCTIONS, values, strict=True):
        assert value.dtype == jnp.float32
        assert_close(value, ref.ctc_loss(x, targets, il, tl, reduction=reduction, **kw))
    fd = fd_grad(lambda v: ref.ctc_loss(v, targets, il, tl, **kw), x.astype(np.float64))
    np.testing.assert_allclose(g, fd, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_infeasible_targets(x64):
    """inf loss; zero_infinity=True: 0 with zero, finite gradients and Hessian (every
    reduction); without it the infeasible sequence's gradient is NaN, as PyTorch's, and only
    its."""
    lp, targets, il, tl, _ = _case("infeasible")
    per = jaxloss.ctc_loss(lp, targets, il, tl, reduction="none")
    assert np.isinf(per[1]) and np.isfinite(per[0])

    def total(x):
        return sum(jnp.sum(jaxloss.ctc_loss(x, targets, il, tl, reduction=r,
                                            zero_infinity=True)) for r in REDUCTIONS)

    value, g = jax.jit(jax.value_and_grad(total))(lp)
    assert np.isfinite(value) and np.all(np.isfinite(g))
    assert np.all(np.asarray(g)[:, 1] == 0.0) and np.any(np.asarray(g)[:, 0] != 0.0)
    assert np.all(np.isfinite(jax.jit(jax.hessian(total))(lp)))
    g = jax.grad(lambda x: jnp.sum(jaxloss.ctc_loss(x, targets, il, tl, reduction="none")))(lp)
    # NaN on the classes of its path (PyTorch: on every class), finite elsewhere.
    assert np.all(np.isnan(np.asarray(g)[:, 1, :2])) and np.all(np.isfinite(np.asarray(g)[:, 0]))


def test_feasibility_boundary(x64):
    """"1 1 1" has exactly one alignment in 5 frames (1 b 1 b 1) and none in 4."""
    lp = _log_probs((5, 1, 3), 3)
    targets = np.array([[1, 1, 1]])
    loss5 = jaxloss.ctc_loss(lp, targets, [5], [3], reduction="sum")
    np.testing.assert_allclose(loss5, -(lp[0, 0, 1] + lp[1, 0, 0] + lp[2, 0, 1] + lp[3, 0, 0]
                                        + lp[4, 0, 1]), rtol=1e-12)
    assert np.isinf(jaxloss.ctc_loss(lp, targets, [4], [3], reduction="sum"))


def test_empty_target_is_all_blanks(x64):
    lp = _log_probs((4, 2, 3), 4)
    got = jaxloss.ctc_loss(lp, np.zeros((2, 0), np.int32), [4, 2], [0, 0], reduction="none")
    np.testing.assert_allclose(got, [-lp[:4, 0, 0].sum(), -lp[:2, 1, 0].sum()], rtol=1e-12)
    # and an empty input with an empty target: probability 1
    assert jaxloss.ctc_loss(lp, np.zeros((2, 0), np.int32), [0, 0], [0, 0]) == 0.0


def test_uniform_log_probs_count_alignments(x64):
    """With uniform probabilities the loss is -log(#alignments / C**T)."""
    lp = np.full((4, 1, 3), -np.log(3.0))
    # alignments of "1 2" in 4 frames over the extended sequence b 1 b 2 b: 15 (by
    # enumeration; C(T + S - repeats, 2S) = C(6, 4), see _uniform_ctc_nll)
    paths = 0
    for code in range(3**4):
        path = [(code // 3**k) % 3 for k in range(4)]
        collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
        paths += collapsed == [1, 2]
    got = jaxloss.ctc_loss(lp, np.array([[1, 2]]), [4], [2], reduction="sum")
    np.testing.assert_allclose(got, -np.log(paths / 3**4), rtol=1e-12)


def _uniform_ctc_nll(num_steps, target, log_prob):
    """-log p(target) when every log_probs entry is ``log_prob``, by counting: an alignment is
    a blank run, then for each label a run of it and a blank run, with the label runs >= 1
    frame and the blank runs between repeated labels >= 1; stars and bars give
    C(T + S - r, 2S) of them (r adjacent repeats), each of log-probability T * log_prob."""
    size = len(target)
    repeats = sum(a == b for a, b in zip(target[:-1], target[1:], strict=True))
    n = num_steps + size - repeats
    log_count = math.lgamma(n + 1) - math.lgamma(2 * size + 1) - math.lgamma(n - 2 * size + 1)
    return -num_steps * log_prob - log_count


def test_long_inputs_in_float32_keep_float64_accuracy():
    """T = 10000 frames in float32: the per-frame normalised recursion keeps the losses within
    rel 1e-6 of their float64 values and the occupancies (minus the gradient) within ~1e-4.
    Unnormalised, log alpha ~ -16000 was rounded at ulp 2e-3 every frame: the uniform losses
    were off by 1.3-1.6 (rel 1e-4), the random ones by rel 4e-6 to 7e-6, occupancies by up
    to 0.04. Uniform log_probs against the count of alignments (float64 too), random ones
    against jaxloss in float64; each live frame's occupancies sum to 1, later frames get 0."""
    num_steps, num_classes = 10000, 5
    rng = np.random.default_rng(20)
    targets = rng.integers(1, num_classes, (4, 50))
    targets[0, 1] = targets[0, 0]  # a repeat
    il = np.array([num_steps, num_steps - 1234, num_steps, num_steps - 777])
    tl = np.array([20, 50, 50, 35])
    # sequences 0, 1: uniform over the classes; 2, 3: random logits
    lp = np.full((num_steps, 4, num_classes), np.log(1 / num_classes), np.float32)
    lp[:, 2:] = jax.nn.log_softmax(rng.standard_normal((num_steps, 2, num_classes)), axis=-1)
    lp = lp.astype(np.float64)  # float32 values, exactly the same inputs in both precisions

    @jax.jit
    def run(x):
        def total(x):
            per = jaxloss.ctc_loss(x, targets, il, tl, reduction="none")
            return jnp.sum(per), per

        (_, per), g = jax.value_and_grad(total, has_aux=True)(x)
        return per, g

    with jax.enable_x64(True):
        per64, g64 = (np.asarray(v) for v in run(jnp.asarray(lp)))
    per32, g32 = (np.asarray(v, np.float64) for v in run(jnp.asarray(lp, jnp.float32)))
    counted = [_uniform_ctc_nll(il[i], list(targets[i, : tl[i]]), lp[0, 0, 0])
               for i in (0, 1)]
    np.testing.assert_allclose(per64[:2], counted, rtol=1e-12)
    np.testing.assert_allclose(per32[:2], counted, rtol=5e-6)  # ulp 1e-3 at 16000
    np.testing.assert_allclose(per32[2:], per64[2:], rtol=1.5e-6)
    np.testing.assert_allclose(g32, g64, rtol=0, atol=1e-3)
    np.testing.assert_allclose(g32[:, :2], g64[:, :2], rtol=0, atol=3e-4)
    live = _live_frames(il, num_steps)[..., 0]
    np.testing.assert_allclose(g32.sum(-1), np.where(live, -1.0, 0.0), atol=3e-5)
    assert np.all(g32[~live] == 0.0)


# ---------------------------------------------------------------------------------------------
# Layouts, transformations, dtypes
# ---------------------------------------------------------------------------------------------


def test_unbatched_equals_a_batch_of_one(x64):
    lp, targets, il, tl, _ = _case("repeats")
    for reduction in REDUCTIONS:
        want = jaxloss.ctc_loss(lp[:, :1], targets[:1], il[:1], tl[:1], reduction=reduction)
        for t, i, n in [(targets[0], il[0], tl[0]), (targets[:1], il[:1], tl[:1])]:
            got = jaxloss.ctc_loss(lp[:, 0], t, i, n, reduction=reduction)
            assert got.shape == ()
            np.testing.assert_allclose(got, np.reshape(want, ()), rtol=1e-12)


@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_traced_lengths_under_jit(x64, layout):
    """Lengths as jit arguments: for concatenated targets the padded width is then the total
    length (it must be known while tracing); the values are the same."""
    lp, targets, il, tl, _ = _args("repeats", layout)
    f = jax.jit(lambda *a: jaxloss.ctc_loss(*a, reduction="none"))
    np.testing.assert_allclose(f(lp, targets, il, tl), ref.ctc_loss(lp, targets, il, tl,
                                                                   reduction="none"), rtol=1e-12)


def test_vmap_over_batches_of_sequences(x64):
    batches = [_args("repeats", "padded", seed) for seed in range(3)]
    stacked = [np.stack([b[i] for b in batches]) for i in range(4)]
    got = jax.vmap(lambda *a: jaxloss.ctc_loss(*a, reduction="sum"))(*stacked)
    want = [ref.ctc_loss(*b[:4], reduction="sum") for b in batches]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_where_equals_the_subset(x64):
    """A masked sequence drops out (loss 0, not counted, zero gradient, not checked)."""
    lp, targets, il, tl, _ = _case("repeats")
    keep = np.array([True, False, True])

    def run(x):
        masked = [jaxloss.ctc_loss(x, targets, il, tl, reduction=r, where=keep)
                  for r in REDUCTIONS]
        subset = [jaxloss.ctc_loss(x[:, keep], targets[keep], il[keep], tl[keep], reduction=r)
                  for r in REDUCTIONS]
        grad = jax.grad(lambda x: jaxloss.ctc_loss(x, targets, il, tl, where=keep))(x)
        return masked, subset, grad

    masked, subset, grad = jax.jit(run)(lp)
    assert masked[0][1] == 0.0
    np.testing.assert_allclose(masked[0][keep], subset[0], rtol=1e-12)
    np.testing.assert_allclose(masked[1:], subset[1:], rtol=1e-12)
    assert np.all(np.asarray(grad)[:, 1] == 0.0)
    bad = targets.copy()
    bad[1, 0] = 0  # the blank, in a masked sequence
    np.testing.assert_allclose(
        jaxloss.ctc_loss(lp, bad, il, tl, where=keep), masked[2], rtol=1e-12)


def test_bfloat16_and_float16():
    lp, targets, il, tl, _ = _case("repeats")
    for dtype in (jnp.bfloat16, jnp.float16):
        x = jnp.asarray(lp, dtype)
        value, g = jax.value_and_grad(lambda x: jaxloss.ctc_loss(x, targets, il, tl))(x)
        assert value.dtype == jnp.float32 and g.dtype == dtype
        want = ref.ctc_loss(np.asarray(x.astype(jnp.float32)), targets, il, tl)
        np.testing.assert_allclose(value, want, rtol=BF16_RTOL)
        assert np.all(np.isfinite(np.asarray(g.astype(jnp.float32))))


def test_saturated_and_minus_inf_log_probs(x64):
    """log_softmax of +-100 logits: finite values and gradients. A -inf log-probability off
    every path changes nothing; on the only path it makes the loss inf (zero_infinity: 0
    with finite gradients)."""
    rng = np.random.default_rng(5)
    logits = 100.0 * np.sign(rng.standard_normal((5, 2, 4)))
    lp = np.asarray(jax.nn.log_softmax(logits))
    targets, il, tl = np.array([[1, 2], [3, 3]]), np.array([5, 5]), np.array([2, 2])
    value, g = jax.value_and_grad(lambda z: jaxloss.ctc_loss(
        jax.nn.log_softmax(z), targets, il, tl, zero_infinity=True))(logits)
    assert np.isfinite(value) and np.all(np.isfinite(g))
    np.testing.assert_allclose(value, ref.ctc_loss(lp, targets, il, tl, zero_infinity=True),
                               rtol=1e-9)
    lp = _log_probs((3, 1, 4), 6)
    off = lp.copy()
    off[:, 0, 3] = -np.inf  # class 3 is on no path of "1 2"
    np.testing.assert_allclose(
        jaxloss.ctc_loss(off, np.array([[1, 2]]), [3], [2]),
        jaxloss.ctc_loss(lp, np.array([[1, 2]]), [3], [2]), rtol=1e-12)
    g = jax.grad(lambda x: jaxloss.ctc_loss(x, np.array([[1, 2]]), [3], [2]))(off)
    assert np.all(np.isfinite(g))
    on = lp[:2].copy()
    on[0, 0, 1] = -np.inf  # "1 2" in 2 frames must emit 1 at t = 0
    assert np.isinf(jaxloss.ctc_loss(on, np.array([[1, 2]]), [2], [2]))
    value, g = jax.value_and_grad(lambda x: jaxloss.ctc_loss(
        x, np.array([[1, 2]]), [2], [2], zero_infinity=True))(on)
    assert value == 0.0 and np.all(g == 0.0)


def test_matches_optax(x64):
    """optax.ctc_loss(logits (B, T, K), logit_paddings, labels, label_paddings) is the same
    per-sequence loss in another layout (feasible targets: optax writes log 0 as -1e5)."""
    lp, targets, il, tl, blank = _case("repeats")
    num_steps, batch, _ = lp.shape
    logits = np.moveaxis(lp, 1, 0) + 0.7  # optax normalises the logits itself
    logit_paddings = (np.arange(num_steps)[None, :] >= il[:, None]).astype(np.float64)
    label_paddings = (np.arange(targets.shape[1])[None, :] >= tl[:, None]).astype(np.float64)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes float32 and float64
        want = optax.ctc_loss(logits, logit_paddings, targets, label_paddings, blank_id=blank)
    got = jaxloss.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_invalid_traced_values_give_nan_not_a_clamped_number(x64):
    """Traced (here: jit arguments) and unchecked, a length beyond T or S, a negative one, a
    blank or out-of-range target, or concatenated targets of the wrong size make the loss NaN
    for that sequence (all of them for the size)."""
    lp, targets, il, tl, _ = _case("repeats")
    f = jax.jit(lambda *a: jaxloss.ctc_loss(*a, reduction="none"))
    cases = []
    too_long = il.copy()
    too_long[0] = 6
    cases.append((targets, too_long, tl, 0))
    negative = tl.copy()
    negative[1] = -1
    cases.append((targets, il, negative, 1))
    beyond_s = tl.copy()
    beyond_s[2] = 4
    cases.append((targets, il, beyond_s, 2))
    with_blank = targets.copy()
    with_blank[0, 1] = 0
    cases.append((with_blank, il, tl, 0))
    out_of_range = targets.copy()
    out_of_range[1, 0] = 4
    cases.append((out_of_range, il, tl, 1))
    for t, i, n, bad in cases:
        got = np.asarray(f(lp, t, i, n))
        assert np.isnan(got[bad]), (t, i, n)
        others = np.delete(np.arange(3), bad)
        assert np.all(np.isfinite(got[others]))
    flat = shared.concatenated(targets, tl)
    assert np.all(np.isnan(f(lp, flat[:-1], il, tl)))


def test_gradient_through_log_softmax_is_softmax_minus_occupancy(x64):
    """Every live frame: the logits gradient sums to 0 (the softmax's mass equals the
    occupancy's, 1 per frame), PyTorch's convention for its log_probs gradient."""
    lp, targets, il, tl, _ = _case("repeats")
    g = jax.grad(lambda z: jaxloss.ctc_loss(jax.nn.log_softmax(z), targets, il, tl,
                                            reduction="sum"))(lp)
    np.testing.assert_allclose(np.asarray(g).sum(-1), 0.0, atol=1e-12)
    g_lp = jax.grad(lambda x: jaxloss.ctc_loss(x, targets, il, tl, reduction="sum"))(lp)
    live = _live_frames(il, lp.shape[0])[..., 0]
    np.testing.assert_allclose(np.asarray(g_lp).sum(-1), np.where(live, -1.0, 0.0), atol=1e-12)
