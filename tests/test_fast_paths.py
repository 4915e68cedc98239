"""The row-blocked custom-VJP path of the softmax losses equals the plain formulation.

The blocked path only switches on for arrays of 2**24 elements or more; here the thresholds
are lowered so that small arrays (with row counts that do and do not divide the block)
take it (each case asserts that its program holds the blocked loop), and values and
gradients are compared with the plain path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import _logsumexp


@pytest.fixture
def blocked(monkeypatch):
    monkeypatch.setattr(_logsumexp, "BLOCKED_MIN_ELEMENTS", 64)
    monkeypatch.setattr(_logsumexp, "BLOCK_ELEMENTS", 4 * 11)  # 4 rows of 11 classes


def _data(shape=(23, 11), seed=0):
    k = jax.random.split(jax.random.key(seed), 3)
    x = 3.0 * jax.random.normal(k[0], shape)
    y = jax.random.randint(k[1], shape[:-1], 0, shape[-1])
    y = y.reshape(-1).at[2].set(-100).reshape(y.shape)
    cw = jax.random.uniform(k[2], (shape[-1],)) + 0.5
    return x, y, cw


CASES = [
    ("cross_entropy", {}),
    ("cross_entropy", {"class_weights": True, "label_smoothing": 0.1}),
    ("cross_entropy", {"z_loss": 1e-2, "reduction": "sum"}),
    ("cross_entropy", {"class_weights": True, "reduction": "none"}),
    ("focal_loss", {"gamma": 2.0}),
    ("focal_loss", {"gamma": 0.5, "class_weights": True, "label_smoothing": 0.1}),
    ("poly1_cross_entropy", {"label_smoothing": 0.1, "reduction": "sum"}),
]


def _blocked_loop(f, x, y):
    """Whether the program of ``f`` holds the row-blocked loop (a fori_loop: a ``scan`` or a
    ``while``)."""
    text = str(jax.make_jaxpr(f)(x, y))
    return "scan[" in text or "while[" in text


def _loss(name, opts, cw):
    opts = dict(opts)
    if opts.pop("class_weights", False):
        opts["class_weights"] = cw
    fn = getattr(jaxloss, name)
    return lambda x, y, cw=cw: fn(x, y, **opts).sum()


@pytest.mark.parametrize(("name", "opts"), CASES)
@pytest.mark.parametrize("shape", [(23, 11), (4, 6, 11)])
def test_blocked_path_matches_plain(name, opts, shape, monkeypatch):
    x, y, cw = _data(shape)
    plain = jax.jit(jax.value_and_grad(_loss(name, opts, cw)))(x, y)
    assert not _logsumexp.use_fused(x, -1)
    assert not _blocked_loop(jax.value_and_grad(_loss(name, opts, cw)), x, y)
    monkeypatch.setattr(_logsumexp, "BLOCKED_MIN_ELEMENTS", 64)
    monkeypatch.setattr(_logsumexp, "BLOCK_ELEMENTS", 4 * 11)
    assert _logsumexp.use_fused(x, -1)
    # Every option set (smoothing included) takes the blocked path it exists to test.
    assert _blocked_loop(jax.value_and_grad(_loss(name, opts, cw)), x, y)
    fast = jax.jit(jax.value_and_grad(_loss(name, opts, cw)))(x, y)
    np.testing.assert_allclose(fast[0], plain[0], rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(fast[1], plain[1], rtol=2e-5, atol=2e-6)


def test_blocked_path_eager_extreme_logits_and_masks(blocked):
    x, y, _ = _data()
    x = x.at[0].set(1e4).at[1, 3].set(-jnp.inf).at[4].set(-100.0)
    y = y.at[1].set(0)
    where = jnp.arange(23) % 5 != 0
    f = lambda x: jaxloss.cross_entropy(x, y, where=where, label_smoothing=0.1)  # noqa: E731
    value, grad = jax.value_and_grad(f)(x)
    assert bool(jnp.isfinite(value)) and bool(jnp.all(jnp.isfinite(grad)))
    assert bool(jnp.all(grad[~where] == 0)) and bool(jnp.all(grad[2] == 0))


def test_blocked_path_out_of_range_is_nan(blocked):
    x, y, _ = _data()
    # Traced labels (a concrete out-of-range label is a ValueError naming it).
    out = jax.jit(jaxloss.cross_entropy, static_argnames="reduction")(
        x, y.at[5].set(11), reduction="none")
    assert bool(jnp.isnan(out[5])) and int(jnp.isnan(out).sum()) == 1


def test_lse_and_pick_rows_of_minus_inf(blocked):
    x = jnp.full((9, 11), -jnp.inf).at[:, 0].set(0.0).at[3].set(-jnp.inf)
    y = jnp.zeros((9,), jnp.int32)
    lse, picked = _logsumexp.lse_and_pick(x, y)
    assert float(lse[3]) == -np.inf and float(lse[0]) == 0.0
    grad = jax.grad(lambda x: jnp.sum(_logsumexp.lse_and_pick(x, y)[0][jnp.arange(9) != 3]))(x)
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_default_path_unchanged_for_small_inputs():
    x, _, _ = _data()
    assert not _logsumexp.use_fused(x, -1)
    big = jax.ShapeDtypeStruct((65536, 1000), jnp.float32)
    assert _logsumexp.use_fused(big, -1) and not _logsumexp.use_fused(big, 0)


# The row-blocked forward sums of the closed-form class sums (focal and Poly-1 terms, the soft
# term of distillation_loss; jaxloss._logsumexp.log_prob_sum and its scaled logsumexp): on
# CPU they switch on once an array has more rows than one block (BLOCK_ELEMENTS // 4
# elements), here 1 row of 11 classes.

def _soft(rng_key, shape):
    return jax.nn.softmax(2.0 * jax.random.normal(rng_key, shape), axis=-1)


def _class_sum_cases():
    k = jax.random.split(jax.random.key(7), 4)
    x = 3.0 * jax.random.normal(k[0], (23, 11))
    x = x.at[1, 3].set(-jnp.inf).at[4].set(40.0).at[4, 0].set(80.0)  # -inf logit, p -> 1
    q = _soft(k[1], (23, 11)).at[1, 3].set(0.0)
    y = jax.random.randint(k[2], (23,), 0, 11).at[2].set(-100)
    t = 2.0 * jax.random.normal(k[3], (23, 11))
    t = t.at[5, 2].set(-jnp.inf).at[1, 3].set(-jnp.inf)
    cw = jnp.linspace(0.5, 2.0, 11)
    where = jnp.arange(23) % 7 != 3
    f, p1, kd = jaxloss.focal_loss, jaxloss.poly1_cross_entropy, jaxloss.distillation_loss
    return {
        # (loss of (x, float args...), float args): gradients in all of them are compared.
        "focal probs, traced gamma": (
            lambda x, q, g: f(x, q, gamma=g, class_weights=cw, where=where), (x, q, 1.5)),
        "focal probs, gamma=2": (
            lambda x, q: f(x, q, gamma=2.0, label_smoothing=0.1, where=where), (x, q)),
        "focal smoothing, traced gamma": (
            lambda x, g, e: f(x, y, gamma=g, label_smoothing=e, class_weights=cw), (x, 0.5, 0.1)),
        "poly1 probs": (lambda x, q, e: p1(x, q, epsilon=e, where=where), (x, q, 2.0)),
        # (without class weights Poly-1's smoothing sum is closed-form: no class sum)
        "poly1 smoothing": (
            lambda x, e: p1(x, y, epsilon=e, label_smoothing=0.2, class_weights=cw), (x, 1.0)),
        # -inf teacher logits: finite gradients in the temperature too (NaN before 2026-12-07).
        "distillation": (
            lambda s, t, temp: kd(s, t, temperature=temp, where=where),
            (jnp.where(jnp.isinf(x), 0.0, x), t, 2.0)),
    }


def _holds_loop(jaxpr) -> bool:
    """Whether a jaxpr, or one nested in it (cond branches, custom rules), holds a fori_loop
    (a ``scan`` or a ``while``)."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("scan", "while"):
            return True
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns") and _holds_loop(inner):
                    return True
    return False


@pytest.mark.parametrize("case", list(_class_sum_cases()))
def test_blocked_class_sums_match_plain(case, monkeypatch):
    fn, args = _class_sum_cases()[case]
    args = tuple(jnp.asarray(a, jnp.float32) for a in args)
    loss = lambda *a: jnp.sum(fn(*a))  # noqa: E731
    vg = jax.value_and_grad(loss, argnums=tuple(range(len(args))))
    assert not _holds_loop(jax.make_jaxpr(vg)(*args).jaxpr)
    plain = jax.jit(vg)(*args)
    monkeypatch.setattr(_logsumexp, "BLOCK_ELEMENTS", 4 * 11)
    jax.clear_caches()  # the threshold is read while tracing; JAX caches the plain trace
    assert _holds_loop(jax.make_jaxpr(vg)(*args).jaxpr), "not the blocked path"
    fast = jax.jit(vg)(*args)
    assert bool(jnp.isfinite(plain[0])), case
    np.testing.assert_allclose(fast[0], plain[0], rtol=2e-6, atol=2e-6)
    for got, want in zip(fast[1], plain[1], strict=True):
        assert bool(jnp.all(jnp.isfinite(want))), case
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
