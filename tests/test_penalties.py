"""l1_penalty and l2_penalty over dicts, lists and Flax NNX state, with ``where`` selections."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
from flax import nnx

import jaxloss

RNG = np.random.default_rng(0)
PARAMS = {
    "dense": {
        "kernel": RNG.standard_normal((3, 4)).astype(np.float32),
        "bias": RNG.standard_normal((4,)).astype(np.float32),
    },
    "head": [RNG.standard_normal((4, 2)).astype(np.float32), np.float32(0.5)],
}


def leaves(tree):
    return jax.tree.leaves(tree)


class Tiny(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 4, (3, 3), rngs=rngs)
        self.norm = nnx.LayerNorm(4, rngs=rngs)
        self.dense = nnx.Linear(4, 2, rngs=rngs)
        self.count = nnx.BatchStat(jnp.zeros((), jnp.int32))  # not a parameter


@pytest.mark.parametrize(
    ("fn", "rfn"), [(jaxloss.l1_penalty, ref.l1_penalty), (jaxloss.l2_penalty, ref.l2_penalty)]
)
def test_dict_and_list_pytree(fn, rfn, mode):
    f = jax.jit(fn) if mode == "jit" else fn
    got = f(PARAMS)
    assert got.dtype == jnp.float32 and got.shape == ()
    np.testing.assert_allclose(got, rfn(leaves(PARAMS)), rtol=1e-6)


def test_l2_is_optax_l2_loss_convention_and_its_gradient_is_params():
    want = sum(jnp.sum(optax.l2_loss(x)) for x in leaves(PARAMS))
    np.testing.assert_allclose(jaxloss.l2_penalty(PARAMS), want, rtol=1e-6)
    g = jax.grad(jaxloss.l2_penalty)(jax.tree.map(jnp.asarray, PARAMS))
    for a, b in zip(leaves(g), leaves(PARAMS), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_l1_gradient_is_sign_and_zero_at_zero():
    x = {"w": jnp.array([-2.0, 0.0, 3.0])}
    np.testing.assert_array_equal(jax.grad(jaxloss.l1_penalty)(x)["w"], [-1.0, 0.0, 1.0])


def test_where_pytree_of_bools():
    where = {"dense": {"kernel": True, "bias": False}, "head": [True, False]}
    kept = [PARAMS["dense"]["kernel"], PARAMS["head"][0]]
    np.testing.assert_allclose(jaxloss.l2_penalty(PARAMS, where=where), ref.l2_penalty(kept),
                               rtol=1e-6)
    np.testing.assert_allclose(jaxloss.l1_penalty(PARAMS, where=where), ref.l1_penalty(kept),
                               rtol=1e-6)


def test_where_elementwise_boolean_array():
    x = {"w": np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)}
    where = {"w": np.array([True, False])}  # broadcast over rows: first column only
    np.testing.assert_allclose(jaxloss.l1_penalty(x, where=where), 4.0)
    np.testing.assert_allclose(jax.jit(jaxloss.l2_penalty)(x, where=where), 5.0)


def test_where_predicate_on_path():
    no_bias = jaxloss.l2_penalty(PARAMS, where=lambda path, x: x.ndim > 1)
    np.testing.assert_allclose(
        no_bias, ref.l2_penalty([PARAMS["dense"]["kernel"], PARAMS["head"][0]]), rtol=1e-6
    )
    by_name = jaxloss.l1_penalty(
        PARAMS, where=lambda path, x: "bias" not in jax.tree_util.keystr(path)
    )
    np.testing.assert_allclose(
        by_name,
        ref.l1_penalty([PARAMS["dense"]["kernel"], PARAMS["head"][0], PARAMS["head"][1]]),
        rtol=1e-6,
    )


def test_flax_nnx_state_with_where_pytree_and_predicate(mode):
    model = Tiny(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    values = {jax.tree_util.keystr(p): np.asarray(x) for p, x in
              jax.tree_util.tree_flatten_with_path(state)[0]}
    kernels = [v for k, v in values.items() if "kernel" in k]
    assert len(kernels) == 2 and len(values) == 6  # conv, dense: kernel+bias; norm: scale+bias

    def f2(params, **kw):
        fn = lambda p: jaxloss.l2_penalty(p, **kw)  # noqa: E731
        return jax.jit(fn)(params) if mode == "jit" else fn(params)

    np.testing.assert_allclose(f2(state), ref.l2_penalty(list(values.values())), rtol=1e-6)
    # predicate: weight decay on kernels only (skips biases and the LayerNorm scale)
    np.testing.assert_allclose(
        f2(state, where=lambda path, x: x.ndim > 1), ref.l2_penalty(kernels), rtol=1e-6
    )
    # pytree of booleans built from the state itself
    mask = jax.tree.map(lambda x: x.ndim > 1, state)
    np.testing.assert_allclose(
        jaxloss.l1_penalty(state, where=mask), ref.l1_penalty(kernels), rtol=1e-5
    )
    # passed through jit, the booleans become traced arrays: still a valid selection
    np.testing.assert_allclose(
        jax.jit(jaxloss.l1_penalty)(state, where=mask), ref.l1_penalty(kernels), rtol=1e-5
    )
    # gradient with respect to the state, as in a training step
    g = jax.grad(lambda s: jaxloss.l2_penalty(s, where=lambda path, x: x.ndim > 1))(state)
    np.testing.assert_allclose(g["conv"]["kernel"][...], state["conv"]["kernel"][...])
    np.testing.assert_array_equal(g["conv"]["bias"][...], 0.0)


def test_full_nnx_state_needs_where_for_non_float_leaves():
    state = nnx.state(Tiny(nnx.Rngs(0)))
    with pytest.raises(TypeError, match=re.escape("l2_penalty: `params` leaf ['count']")):
        jaxloss.l2_penalty(state)
    only_floats = jaxloss.l2_penalty(
        state, where=lambda path, x: jnp.issubdtype(x.dtype, jnp.floating)
    )
    np.testing.assert_allclose(only_floats, jaxloss.l2_penalty(nnx.state(Tiny(nnx.Rngs(0)),
                                                                          nnx.Param)), rtol=1e-6)


def test_low_precision_leaves_accumulate_in_float32():
    x = {"w": jnp.full((4096,), 1.0 + 2.0**-7, jnp.bfloat16)}
    got = jaxloss.l1_penalty(x)
    assert got.dtype == jnp.float32
    # a bf16 accumulator would round the sum to a multiple of 32 at this magnitude
    assert float(got) == 4096 * (1.0 + 2.0**-7)
    assert jaxloss.l2_penalty({"a": jnp.ones(3, jnp.float16)}).dtype == jnp.float32


def test_float64_leaf_gives_float64():
    x = {"a": np.ones(3, np.float64)}
    out = jax.jit(jaxloss.l2_penalty)(x) if jax.config.jax_enable_x64 else None
    assert out is None or out.dtype == jnp.float64


def test_empty_selection_is_zero():
    assert float(jaxloss.l2_penalty({})) == 0.0
    assert float(jaxloss.l1_penalty(PARAMS, where=lambda path, x: False)) == 0.0


ERRORS = [
    (jaxloss.l2_penalty, {"w": np.ones(2, np.float32)}, {"v": True}, ValueError,
     "l2_penalty: `where` must be a pytree of booleans with the structure of `params`"),
    (jaxloss.l1_penalty, {"w": np.ones(2, np.float32)}, {"w": 1}, TypeError,
     "l1_penalty: `where` at ['w'] must be a bool or a boolean array, got"),
    (jaxloss.l1_penalty, {"w": np.ones((2, 3), np.float32)}, {"w": np.ones(2, bool)},
     ValueError, "l1_penalty: `where` at ['w'] of shape (2,) must broadcast to the parameter's "
     "shape (2, 3)"),
    (jaxloss.l2_penalty, {"step": np.int32(3)}, None, TypeError,
     "l2_penalty: `params` leaf ['step'] has dtype int32; penalties apply to floating-point"),
]


@pytest.mark.parametrize(("fn", "params", "where", "exc", "message"), ERRORS)
def test_bad_input_raises(fn, params, where, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        fn(params, where=where)
