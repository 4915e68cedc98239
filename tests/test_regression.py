"""Regression losses (issue 11): parity with the float64 reference over an option grid, each
loss's own "mean" rule, gradients, traced hyperparameters and the edge cases."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit
from tolerances import BF16_RTOL, GRAD_ATOL, GRAD_RTOL

import jaxloss

SHAPE = (6, 4)
REDUCTIONS = ("none", "sum", "mean")
WEIGHTS = np.linspace(0.2, 2.0, 24, dtype=np.float32).reshape(SHAPE)  # per element
ROW_WEIGHTS = np.linspace(0.5, 1.5, 6, dtype=np.float32).reshape(6, 1)  # broadcast per row
WHERE = np.array([True, True, False, True, False, True]).reshape(6, 1)
WEIGHTED = ("l1_loss", "mse_loss", "huber_loss")


def make_inputs(shape=SHAPE, seed=0):
    """Input and target whose differences avoid 0 and the kinks at 0.5, 1 and 2."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    d = np.sign(rng.standard_normal(shape)) * rng.choice([0.2, 0.7, 1.4, 2.6], shape)
    return x, (x - d).astype(np.float32)


def make_counts(shape=SHAPE, seed=1):
    """Log-rates, rates and counts (with zeros, and ones where the Stirling term steps)."""
    rng = np.random.default_rng(seed)
    log_rate = (0.8 * rng.standard_normal(shape)).astype(np.float32)
    counts = rng.poisson(2.0, shape).astype(np.float32)
    counts.reshape(-1)[:3] = [0.0, 1.0, 7.0]
    return log_rate, np.exp(log_rate).astype(np.float32), counts


# ---------------------------------------------------------------------------------------------
# parity over the option grid (one compile per test)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", WEIGHTED)
def test_weighted_losses_parity_grid(loss, mode):
    """weights none / per element / per row x where x each reduction; huber at two deltas."""
    x, y = make_inputs()
    deltas = (1.0, 0.5) if loss == "huber_loss" else (None,)
    grid = [
        (w, m, r, d)
        for w in (None, WEIGHTS, ROW_WEIGHTS)
        for m in (None, WHERE)
        for r in REDUCTIONS
        for d in deltas
    ]

    def kwargs(w, m, r, d):
        out = {"weights": w, "where": m, "reduction": r}
        return out if d is None else {**out, "delta": d}

    def run(x, y):
        return [getattr(jaxloss, loss)(x, y, **kwargs(*g)) for g in grid]

    for g, got in zip(grid, maybe_jit(mode, run)(x, y), strict=True):
        assert got.dtype == jnp.float32
        assert_close(got, getattr(ref, loss)(x, y, **kwargs(*g)))


def test_smooth_l1_parity_grid(mode):
    x, y = make_inputs()
    grid = [(b, m, r) for b in (0.0, 0.5, 1.0, 2.0) for m in (None, WHERE) for r in REDUCTIONS]

    def run(x, y):
        return [jaxloss.smooth_l1_loss(x, y, beta=b, where=m, reduction=r) for b, m, r in grid]

    for (b, m, r), got in zip(grid, maybe_jit(mode, run)(x, y), strict=True):
        assert_close(got, ref.smooth_l1_loss(x, y, beta=b, where=m, reduction=r))


def test_poisson_parity_grid(mode):
    log_rate, rate, counts = make_counts()
    grid = [
        (li, f, e, m, r)
        for li in (True, False)
        for f in (False, True)
        for e in (1e-8, 0.1)
        for m in (None, WHERE)
        for r in REDUCTIONS
    ]

    def run(a, b, y):
        return [
            jaxloss.poisson_nll_loss(a if li else b, y, log_input=li, full=f, eps=e, where=m,
                                     reduction=r)
            for li, f, e, m, r in grid
        ]

    for (li, f, e, m, r), got in zip(grid, maybe_jit(mode, run)(log_rate, rate, counts),
                                     strict=True):
        want = ref.poisson_nll_loss(log_rate if li else rate, counts, log_input=li, full=f,
                                    eps=e, where=m, reduction=r)
        assert_close(got, want)


VAR_SHAPES = {  # PyTorch's accepted var shapes for (6, 4) input
    "element": SHAPE,
    "row (N,)": (6,),
    "row (N, 1)": (6, 1),
    "column (1, D)": (1, 4),
}


def test_gaussian_parity_grid(mode):
    x, y = make_inputs()
    rng = np.random.default_rng(2)
    variances = {k: rng.uniform(0.2, 2.0, s).astype(np.float32) for k, s in VAR_SHAPES.items()}
    variances["scalar"] = 0.7
    grid = [
        (k, f, e, m, r)
        for k in variances
        for f in (False, True)
        for e in (1e-6, 0.5)  # 0.5 clamps some of the variances
        for m in (None, WHERE)
        for r in REDUCTIONS
    ]

    def run(x, y):
        return [
            jaxloss.gaussian_nll_loss(x, y, variances[k], full=f, eps=e, where=m, reduction=r)
            for k, f, e, m, r in grid
        ]

    for (k, f, e, m, r), got in zip(grid, maybe_jit(mode, run)(x, y), strict=True):
        want = ref.gaussian_nll_loss(x, y, variances[k], full=f, eps=e, where=m, reduction=r)
        assert got.shape == np.shape(want), k
        assert_close(got, want)


TARGET_SHAPES = {  # target shapes that broadcast to (6, 4) input, as PyTorch's `input - target`
    "row (N, 1)": (6, 1),
    "column (1, D)": (1, 4),
    "trailing (D,)": (4,),
    "scalar": (),
}


def test_gaussian_broadcast_target_parity_grid(mode):
    """A target with size-1 or missing leading axes broadcasts to ``input``'s shape (PyTorch's
    documented "one dimension equal to 1", and its OpInfo samples), with each var shape."""
    x, _ = make_inputs()
    rng = np.random.default_rng(7)
    targets = {k: rng.standard_normal(s).astype(np.float32) for k, s in TARGET_SHAPES.items()}
    var = {k: rng.uniform(0.2, 2.0, s).astype(np.float32) for k, s in VAR_SHAPES.items()}
    grid = [(t, v, m, r) for t in targets for v in var for m in (None, WHERE) for r in REDUCTIONS]

    def run(x):
        return [jaxloss.gaussian_nll_loss(x, targets[t], var[v], where=m, reduction=r)
                for t, v, m, r in grid]

    for (t, v, m, r), got in zip(grid, maybe_jit(mode, run)(x), strict=True):
        want = ref.gaussian_nll_loss(x, targets[t], var[v], where=m, reduction=r)
        assert got.shape == np.shape(want), (t, v)
        assert_close(got, want)


def test_gaussian_broadcast_target_gradient_is_summed():
    """The gradient of a broadcast target is the sum over the axes it was broadcast along."""
    x, y = make_inputs()
    var = np.full((6, 1), 0.7, np.float32)
    row = y[:, :1]
    g_row = jax.grad(lambda t: jaxloss.gaussian_nll_loss(x, t, var, reduction="sum"))(row)
    g_full = jax.grad(lambda t: jaxloss.gaussian_nll_loss(x, t, var, reduction="sum"))(
        np.broadcast_to(row, SHAPE))
    assert g_row.shape == (6, 1)
    assert_close(g_row, np.sum(np.asarray(g_full), axis=1, keepdims=True), rtol=1e-6)


def _opinfo_samples():
    """PyTorch 2.13's OpInfo samples of F.gaussian_nll_loss with its values and gradients,
    recorded by tests/record_torch_gaussian_nll.py."""
    data = np.load(pathlib.Path(__file__).with_name("data") / "torch_gaussian_nll_opinfo.npz")

    def unflatten(flat, shapes, keep):
        out, start = [], 0
        for row, k in zip(shapes, keep, strict=True):
            shape = tuple(int(d) for d in row if d >= 0)
            size = int(np.prod(shape, dtype=np.int64))
            out.append(flat[start:start + size].reshape(shape) if k else None)
            start += size if k else 0
        assert start == flat.size
        return out

    n = len(data["reduction"])
    everywhere = [True] * n
    columns = {k: unflatten(data[k], data[f"{k}_shape"], everywhere)
               for k in ("input", "target", "var", "out")}
    for k in ("input", "target", "var"):
        columns[f"grad_{k}"] = unflatten(data[f"grad_{k}"], data[f"{k}_shape"], data["has_grad"])
    kwargs = [{"reduction": str(r), "full": bool(f), "eps": float(e)}
              for r, f, e in zip(data["reduction"], data["full"], data["eps"], strict=True)]
    return [({k: v[i] for k, v in columns.items()}, kwargs[i]) for i in range(n)]


def test_gaussian_matches_pytorchs_opinfo_samples():
    """Every one of PyTorch's own 324 OpInfo samples: value, reduction, output shape and, for
    inputs of rank <= 2, the gradients of input, target and var. 216 of them have a target of
    another shape than the input (a last axis of 1, or none), which jaxloss refused before."""
    samples = _opinfo_samples()
    assert len(samples) == 324
    assert sum(s["target"].shape != s["input"].shape for s, _ in samples) == 216
    with jax.enable_x64(True):
        for i, (s, kwargs) in enumerate(samples):
            x, y, v = (s[k].astype(np.float64) for k in ("input", "target", "var"))
            if s["grad_input"] is None:
                got = jaxloss.gaussian_nll_loss(x, y, v, **kwargs)
            else:  # value and gradients from one trace (eager calls dominate this test)
                got, vjp = jax.vjp(lambda a, b, c, kw=kwargs: jaxloss.gaussian_nll_loss(
                    a, b, c, **kw), x, y, v)
            assert got.dtype == jnp.float64 and got.shape == s["out"].shape, (i, kwargs)
            np.testing.assert_allclose(got, s["out"], rtol=1e-12, atol=1e-12, err_msg=str(i))
            if s["grad_input"] is None:
                continue
            grads = vjp(jnp.ones_like(got))  # the gradients of the loss's sum
            for name, g in zip(("input", "target", "var"), grads, strict=True):
                np.testing.assert_allclose(g, s[f"grad_{name}"], rtol=1e-12, atol=1e-12,
                                           err_msg=f"{i} d/d{name}")


def test_gaussian_channel_var_of_a_4d_input():
    """(N, C, H, W) input with (N, 1, H, W) var: shared over the channels, as PyTorch."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 2, 2))
    var = rng.uniform(0.2, 2.0, (2, 1, 2, 2))
    for r in REDUCTIONS:
        assert_close(jaxloss.gaussian_nll_loss(x.astype(np.float32), y.astype(np.float32),
                                               var.astype(np.float32), reduction=r),
                     ref.gaussian_nll_loss(x, y, var, reduction=r))


# ---------------------------------------------------------------------------------------------
# each loss's own "mean" (PyTorch 2.13 is not consistent; test_torch_parity pins the numbers)
# ---------------------------------------------------------------------------------------------


def test_mean_denominators():
    x, y = make_inputs()
    w = WEIGHTS
    for loss in ("l1_loss", "mse_loss"):
        fn = getattr(jaxloss, loss)
        total = fn(x, y, weights=w, reduction="sum")
        assert_close(fn(x, y, weights=w), total / w.sum(), rtol=1e-6)
    total = jaxloss.huber_loss(x, y, weights=w, reduction="sum")
    assert_close(jaxloss.huber_loss(x, y, weights=w), total / x.size, rtol=1e-6)
    # Scaling the weights changes nothing for l1/mse, scales huber's mean.
    assert_close(jaxloss.l1_loss(x, y, weights=3 * w), jaxloss.l1_loss(x, y, weights=w), rtol=1e-6)
    assert_close(jaxloss.huber_loss(x, y, weights=3 * w),
                 3 * jaxloss.huber_loss(x, y, weights=w), rtol=1e-6)


def test_all_ones_weights_are_no_weights():
    x, y = make_inputs()
    ones = np.ones(SHAPE, np.float32)
    for loss in WEIGHTED:
        fn = getattr(jaxloss, loss)
        for r in REDUCTIONS:
            assert_close(fn(x, y, weights=ones, reduction=r), fn(x, y, reduction=r), rtol=1e-6)


def test_zero_weights():
    """Weights that sum to 0: l1/mse "mean" is 0 with zero gradients (PyTorch: NaN, 0/0);
    zero-weight elements have no gradient."""
    x, y = make_inputs()
    for loss in WEIGHTED:
        fn = getattr(jaxloss, loss)
        value, grad = jax.value_and_grad(lambda a, fn=fn: fn(a, y, weights=np.zeros(SHAPE)))(x)
        assert value == 0.0 and (np.asarray(grad) == 0).all(), loss
        w = WEIGHTS * (np.arange(24).reshape(SHAPE) % 2)
        grad = jax.grad(lambda a, fn=fn, w=w: fn(a, y, weights=w))(x)
        assert (np.asarray(grad)[w == 0] == 0).all(), loss
        assert_close(fn(x, y, weights=w), getattr(ref, loss)(x, y, weights=w))


# ---------------------------------------------------------------------------------------------
# special cases
# ---------------------------------------------------------------------------------------------


def test_smooth_l1_beta_zero_is_l1():
    """beta=0 is l1_loss in value and gradient, also with a traced beta (no 0/0 leaks)."""
    x, y = make_inputs()
    x[0, 0] = y[0, 0]  # a zero difference: derivative 0 in both
    for r in REDUCTIONS:
        assert_close(jaxloss.smooth_l1_loss(x, y, beta=0.0, reduction=r),
                     jaxloss.l1_loss(x, y, reduction=r), rtol=0, atol=0)
    g_l1 = jax.grad(lambda a: jaxloss.l1_loss(a, y))(x)
    g_sl1, g_beta = jax.jit(jax.grad(lambda a, b: jaxloss.smooth_l1_loss(a, y, beta=b),
                                     argnums=(0, 1)))(x, jnp.float32(0.0))
    np.testing.assert_array_equal(g_sl1, g_l1)
    assert np.isfinite(g_beta)
    assert_close(g_beta, -0.5)  # d/dbeta of (z - beta/2), averaged


def test_huber_is_delta_times_smooth_l1():
    x, y = make_inputs()
    for d in (0.5, 1.0, 2.0):
        for r in REDUCTIONS:
            assert_close(jaxloss.huber_loss(x, y, delta=d, reduction=r),
                         d * np.asarray(jaxloss.smooth_l1_loss(x, y, beta=d, reduction=r)),
                         rtol=1e-6)


def test_huber_at_large_delta_is_half_mse():
    x, y = make_inputs()
    assert_close(jaxloss.huber_loss(x, y, delta=100.0), 0.5 * jaxloss.mse_loss(x, y), rtol=1e-6)


def test_gaussian_var_at_and_below_eps():
    """var = eps is the clamp's edge; below it the loss is taken at eps and the gradient with
    respect to var is the loss's derivative at eps, passed straight through (PyTorch's clamp
    under no_grad); eps itself gets none."""
    x = np.array([[0.5, 1.0]], np.float64)
    y = np.zeros_like(x)
    eps = 1e-3
    with jax.enable_x64(True):
        for var in (np.array([[eps, 2.0]]), np.array([[1e-8, 2.0]]), np.array([[0.0, 2.0]])):
            value, (g_var, g_eps) = jax.value_and_grad(
                lambda v, e: jaxloss.gaussian_nll_loss(x, y, v, eps=e, reduction="sum"),
                argnums=(0, 1),
            )(var, eps)
            np.testing.assert_allclose(value, ref.gaussian_nll_loss(x, y, var, eps=eps,
                                                                    reduction="sum"), rtol=1e-12)
            clamped = np.maximum(var, eps)
            np.testing.assert_allclose(g_var, 0.5 * (1 / clamped - x**2 / clamped**2),
                                       rtol=1e-12)
            assert g_eps == 0.0


def test_gaussian_negative_var_is_nan_not_clamped():
    x, y = make_inputs()
    var = np.ones(SHAPE, np.float32)
    var[1, 2] = -0.5
    per = np.asarray(jaxloss.gaussian_nll_loss(x, y, var, reduction="none"))
    assert np.isnan(per[1, 2]) and np.isfinite(np.delete(per.reshape(-1), 6)).all()
    assert np.isnan(jaxloss.gaussian_nll_loss(x, y, var))


def test_poisson_full_only_adds_where_target_above_one():
    log_rate, _, counts = make_counts()
    diff = np.asarray(jaxloss.poisson_nll_loss(log_rate, counts, full=True, reduction="none")
                      - jaxloss.poisson_nll_loss(log_rate, counts, reduction="none"))
    assert (diff[counts <= 1] == 0).all()
    c = counts[counts > 1]
    assert_close(diff[counts > 1], c * np.log(c) - c + 0.5 * np.log(2 * np.pi * c), rtol=1e-5)


def test_poisson_full_target_gradient_is_finite_at_zero():
    """PyTorch's is NaN at target 0 (the masked Stirling term's 0 * log 0); here 0 there."""
    log_rate, _, counts = make_counts()
    g = jax.grad(lambda t: jaxloss.poisson_nll_loss(log_rate, t, full=True, reduction="sum"))(
        counts)
    assert np.isfinite(np.asarray(g)).all()
    np.testing.assert_allclose(np.asarray(g)[counts <= 1], -log_rate[counts <= 1], rtol=1e-6)


def test_l1_derivative_at_zero_difference_is_zero():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([1.0, 0.0, 3.5], np.float32)
    g = jax.grad(lambda a: jaxloss.l1_loss(a, y, reduction="sum"))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0])


@pytest.mark.parametrize("loss", ["l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss",
                                  "poisson_nll_loss", "gaussian_nll_loss"])
def test_where_equals_computing_on_the_subset(loss):
    x, y = make_inputs()
    rows = WHERE[:, 0]
    extra = (np.full(SHAPE, 0.8, np.float32),) if loss == "gaussian_nll_loss" else ()
    fn = getattr(jaxloss, loss)
    for r in ("sum", "mean"):
        assert_close(
            fn(x, y, *extra, where=WHERE, reduction=r),
            fn(x[rows], y[rows], *(e[rows] for e in extra), reduction=r),
            rtol=1e-6,
        )
    value, grad = jax.value_and_grad(lambda a: fn(a, y, *extra, where=WHERE))(x)
    assert (np.asarray(grad)[~rows] == 0).all()
    per = np.asarray(fn(x, y, *extra, where=WHERE, reduction="none"))
    assert (per[~rows] == 0).all()
    if loss in WEIGHTED:  # weights and where: the kept weights
        assert_close(fn(x, y, weights=WEIGHTS, where=WHERE),
                     fn(x[rows], y[rows], weights=WEIGHTS[rows]), rtol=1e-6)


# Masked elements whose value would overflow or leave the domain: exp(100) in float32 for
# Poisson's log input, log(0) without eps, a square above float32's maximum.
MASK = np.array([False, True, True])
UNSAFE = [
    ("poisson_nll_loss", [100.0, 1.0, 2.0], {}),
    ("poisson_nll_loss", [0.0, 1.5, 2.0], {"log_input": False, "eps": 0.0}),
    ("mse_loss", [3e38, 1.5, 2.0], {}),
    ("huber_loss", [3e38, 1.5, 2.0], {}),
    ("smooth_l1_loss", [3e38, 1.5, 2.0], {}),
    ("l1_loss", [np.inf, 1.5, 2.0], {}),
]


@pytest.mark.parametrize(("loss", "x", "kw"), UNSAFE)
def test_masked_unsafe_values_do_not_reach_the_gradient(loss, x, kw):
    """A masked element is absent: its value never turns the gradient NaN (0 * inf)."""
    x, y = np.array(x, np.float32), np.array([0.0, 1.0, 3.0], np.float32)
    fn = getattr(jaxloss, loss)
    value, grad = jax.value_and_grad(lambda a: fn(a, y, where=MASK, **kw))(x)
    want_value, want_grad = jax.value_and_grad(lambda a: fn(a, y[1:], **kw))(x[1:])
    assert_close(value, want_value, rtol=1e-6)
    np.testing.assert_array_equal(grad, np.concatenate([[0.0], want_grad]))


def test_all_masked_mean_is_zero():
    x, y = make_inputs()
    none = np.zeros((6, 1), bool)
    for loss in ("l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss", "poisson_nll_loss"):
        fn = getattr(jaxloss, loss)
        value, grad = jax.value_and_grad(lambda a, fn=fn: fn(a, y, where=none))(x)
        assert value == 0.0 and (np.asarray(grad) == 0).all(), loss


def test_integer_and_boolean_targets():
    log_rate, _, counts = make_counts()
    want = ref.poisson_nll_loss(log_rate, counts)
    assert_close(jaxloss.poisson_nll_loss(log_rate, counts.astype(np.int32)), want)
    x = np.linspace(-1, 1, 6, dtype=np.float32)
    b = np.array([True, False, True, True, False, False])
    assert_close(jaxloss.mse_loss(x, b), ref.mse_loss(x, b.astype(np.float64)))


# ---------------------------------------------------------------------------------------------
# gradients against finite differences of the reference (input, target, var)
# ---------------------------------------------------------------------------------------------

GRAD_CASES = {
    "l1_loss": {"weights": WEIGHTS, "where": WHERE},
    "mse_loss": {"weights": ROW_WEIGHTS},
    "huber_loss": {"delta": 0.5, "weights": WEIGHTS},
    "smooth_l1_loss[beta=0]": {"beta": 0.0, "where": WHERE},
    "smooth_l1_loss": {"beta": 1.0},
    "poisson_nll_loss": {"full": True},
    "poisson_nll_loss[rates]": {"log_input": False, "full": True, "eps": 0.1},
    "gaussian_nll_loss": {"full": True, "where": WHERE},
}


@pytest.mark.parametrize("key", list(GRAD_CASES))
def test_gradients_match_finite_differences_of_reference(key):
    loss = key.split("[")[0]
    kwargs = GRAD_CASES[key]
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    if loss == "poisson_nll_loss":
        log_rate, rate, y = make_counts()
        y = np.where(y == 1.0, 1.5, y).astype(np.float32)  # the Stirling step at 1
        x = rate if kwargs.get("log_input") is False else log_rate
    else:
        x, y = make_inputs()
    args = (np.random.default_rng(4).uniform(0.3, 2.0, (6,)).astype(np.float32),) if (
        loss == "gaussian_nll_loss") else ()
    grads = jax.jit(jax.grad(lambda *a: fn(*a, **kwargs), argnums=tuple(range(2 + len(args)))))(
        x, y, *args)
    values = [x, y, *args]
    for i, got in enumerate(grads):
        def f(v, i=i):
            return ref_fn(*values[:i], v, *values[i + 1:], **kwargs)

        want = fd_grad(f, values[i])
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=f"arg {i}")


# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss",
                                  "poisson_nll_loss", "gaussian_nll_loss"])
def test_bfloat16_input(loss):
    x, y = make_inputs()
    extra = (np.full(SHAPE, 0.8, np.float32),) if loss == "gaussian_nll_loss" else ()
    xb = jnp.asarray(x, jnp.bfloat16)
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    for r in REDUCTIONS:
        got = fn(xb, y, *extra, reduction=r)
        assert got.dtype == jnp.float32
        assert_close(got, ref_fn(x, y, *extra, reduction=r), rtol=BF16_RTOL, atol=0.05)
        assert_close(got, ref_fn(np.asarray(xb.astype(jnp.float32)), y, *extra, reduction=r))
    grad = jax.grad(lambda a: fn(a, y, *extra))(xb)
    assert grad.dtype == jnp.bfloat16 and np.isfinite(np.asarray(grad, np.float32)).all()


def test_float64_under_x64():
    x, y = make_inputs()
    with jax.enable_x64(True):
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        got = jaxloss.huber_loss(x64, y64, delta=0.5, weights=WEIGHTS.astype(np.float64))
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, ref.huber_loss(x64, y64, delta=0.5, weights=WEIGHTS),
                                   rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# traceable hyperparameters: vmap over each numeric one, gradients with respect to them
# ---------------------------------------------------------------------------------------------


def _assert_vmap_matches_reference(fn, values, want):
    batched = jax.jit(jax.vmap(fn))(jnp.asarray(values))
    assert_close(batched, want)


def test_vmap_over_numeric_hyperparameters():
    x, y = make_inputs()
    log_rate, rate, counts = make_counts()
    deltas = np.array([0.5, 1.0, 2.0, 10.0], np.float32)
    _assert_vmap_matches_reference(lambda d: jaxloss.huber_loss(x, y, delta=d), deltas,
                                   [ref.huber_loss(x, y, delta=d) for d in deltas])
    betas = np.array([0.0, 0.5, 1.0, 2.0], np.float32)
    _assert_vmap_matches_reference(lambda b: jaxloss.smooth_l1_loss(x, y, beta=b), betas,
                                   [ref.smooth_l1_loss(x, y, beta=b) for b in betas])
    eps = np.array([0.0, 1e-8, 0.1, 1.0], np.float32)
    _assert_vmap_matches_reference(
        lambda e: jaxloss.poisson_nll_loss(rate, counts, log_input=False, eps=e), eps,
        [ref.poisson_nll_loss(rate, counts, log_input=False, eps=float(e)) for e in eps])
    var = np.random.default_rng(5).uniform(0.1, 1.0, (6,)).astype(np.float32)
    _assert_vmap_matches_reference(
        lambda e: jaxloss.gaussian_nll_loss(x, y, var, eps=e), eps,
        [ref.gaussian_nll_loss(x, y, var, eps=float(e)) for e in eps])
    weights = np.stack([np.ones(SHAPE), WEIGHTS, WEIGHTS[::-1]]).astype(np.float32)
    for loss in WEIGHTED:
        _assert_vmap_matches_reference(
            lambda w, loss=loss: getattr(jaxloss, loss)(x, y, weights=w), weights,
            [getattr(ref, loss)(x, y, weights=w) for w in weights])


def test_gradients_with_respect_to_hyperparameters():
    x, y = make_inputs()
    g = jax.grad(lambda d: jaxloss.huber_loss(x, y, delta=d))(jnp.float32(1.0))
    want = fd_grad(lambda d: ref.huber_loss(x, y, delta=float(d)), np.float64(1.0), h=1e-4)
    np.testing.assert_allclose(g, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    g = jax.grad(lambda b: jaxloss.smooth_l1_loss(x, y, beta=b))(jnp.float32(1.0))
    want = fd_grad(lambda b: ref.smooth_l1_loss(x, y, beta=float(b)), np.float64(1.0), h=1e-4)
    np.testing.assert_allclose(g, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


# ---------------------------------------------------------------------------------------------
# axis_name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["l1_loss", "huber_loss"])
def test_axis_name_weighted_mean_is_global(loss):
    """Two "devices": l1's mean divides by the global weight sum, huber's by the global kept
    count, never a mean of local means."""
    x, y = make_inputs((2, 3, 4))
    w = np.random.default_rng(6).uniform(0.2, 3.0, (2, 3, 4)).astype(np.float32)
    where = np.array([[True, True, True], [False, False, True]])[..., None]
    fn, ref_fn = getattr(jaxloss, loss), getattr(ref, loss)
    means = jax.jit(jax.vmap(lambda a, b, c, m: fn(a, b, weights=c, where=m, axis_name="d"),
                             axis_name="d"))(x, y, w, where)
    want = ref_fn(x.reshape(6, 4), y.reshape(6, 4), weights=w.reshape(6, 4),
                  where=where.reshape(6, 1))
    assert_close(means, [want, want])
    local = [ref_fn(x[d], y[d], weights=w[d], where=where[d]) for d in range(2)]
    assert not np.isclose(np.mean(local), want)
