"""clip_loss and siglip_loss under ``shard_map`` on 4 forced CPU devices (issue 22, item 6).

Run by tests/test_contrastive.py in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu``; prints one
``OK <case>`` line per check and ``ALL OK`` at the end:

* value and gradients (features on their shard, ``logit_scale`` and ``logit_bias``
  replicated) of the sharded loss equal the unsharded loss on the global batch, float64;
* the compiled sharded SigLIP program has collective-permutes and no all-gather;
* the ring's per-device compiled temp memory at a fixed per-device batch is the same on 3
  and 4 devices, where an all-gather implementation's grows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxloss

AXIS = "d"


def _sharded(loss, mesh):
    """jit(shard_map(value_and_grad)) over (image, text, scale, bias), batch split over AXIS."""

    def local(x, y, s, b):
        return jax.value_and_grad(lambda *a: loss(*a, axis_name=AXIS), argnums=(0, 1, 2, 3))(
            x, y, s, b)

    specs = (P(AXIS), P(AXIS), P(), P())
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=specs,
                                 out_specs=(P(), specs))), specs


def _place(mesh, specs, args):
    return [jax.device_put(a, NamedSharding(mesh, s)) for a, s in zip(args, specs, strict=True)]


def _clip(x, y, s, b, axis_name=None):
    return jaxloss.clip_loss(x, y, logit_scale=s, logit_bias=b, axis_name=axis_name)


def _siglip(x, y, s, b, axis_name=None):
    return jaxloss.siglip_loss(x, y, logit_scale=s, logit_bias=b, axis_name=axis_name)


def _siglip_all_gather(x, y, s, b, axis_name):
    """The all-gather implementation (big_vision's, open_clip's gathered variant): every text
    of the global batch on every device, differentiated by plain autodiff."""
    y_all = jax.lax.all_gather(y, axis_name, tiled=True)
    n = x.shape[0]
    offset = jax.lax.axis_index(axis_name) * n
    logits = s * (x @ y_all.T) + b
    rows, cols = jnp.arange(n, dtype=jnp.int32), jnp.arange(y_all.shape[0], dtype=jnp.int32)
    z = jnp.where(cols[None, :] == offset + rows[:, None],
                  1.0, -1.0).astype(logits.dtype)
    total = jax.lax.psum(jnp.sum(jax.nn.softplus(-z * logits)), axis_name)
    return total / jnp.asarray(n * jax.lax.axis_size(axis_name), total.dtype)


def equal_to_unsharded(mesh):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4))
    y = rng.standard_normal((8, 4)) + 0.5 * x
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    for name, loss, scale, bias in [
        ("clip_loss", _clip, 3.0, None),
        ("clip_loss bias", _clip, 3.0, -1.5),
        ("siglip_loss", _siglip, 3.0, -1.5),
        ("siglip_loss scale 100", _siglip, 100.0, -10.0),
    ]:
        b = np.float64(0.0 if bias is None else bias)
        if bias is None:
            def loss(x, y, s, b, axis_name=None, _f=loss):  # noqa: ARG001 - b is not used
                return jaxloss.clip_loss(x, y, logit_scale=s, axis_name=axis_name)
        args = (x, y, np.float64(scale), b)
        want = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))(*args)
        fn, specs = _sharded(loss, mesh)
        got = fn(*_place(mesh, specs, args))
        for what, g, w in zip(["value", "d_image", "d_text", "d_scale", "d_bias"],
                              jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            assert np.all(np.isfinite(g)), (name, what)
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"{name} {what}")
        print("OK", name, "sharded == unsharded", flush=True)


def siglip_program(mesh):
    fn, specs = _sharded(_siglip, mesh)
    args = _place(mesh, specs, (np.zeros((8, 4)), np.zeros((8, 4)), 10.0, -10.0))
    text = fn.lower(*args).compile().as_text()
    assert "collective-permute" in text, "no collective-permute in the SigLIP program"
    assert "all-gather" not in text, "an all-gather in the SigLIP program"
    print("OK siglip_loss compiled: collective-permutes, no all-gather", flush=True)


def temp_bytes(loss, devices, batch=64, dim=32):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:devices]), (AXIS,))
    fn, specs = _sharded(loss, mesh)
    shape = jax.ShapeDtypeStruct((batch * devices, dim), jnp.float32)
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, s))
            for a, s in zip((shape, shape, scalar, scalar), specs, strict=True)]
    return fn.lower(*args).compile().memory_analysis().temp_size_in_bytes


def memory_is_flat():
    # 3 and 4 devices (on 2 the ring's one-step loop is unrolled, which XLA schedules with
    # more temp, not less)
    ring = [temp_bytes(_siglip, n) for n in (3, 4)]
    gathered = [temp_bytes(_siglip_all_gather, n) for n in (3, 4)]
    assert abs(ring[1] - ring[0]) <= 0.05 * ring[0], ("ring temp grows", ring)
    assert gathered[1] > 1.2 * gathered[0], ("all-gather temp does not grow?", gathered)
    print(f"OK siglip_loss temp flat: ring {ring}, all-gather {gathered}", flush=True)


def main():
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), (AXIS,))
    equal_to_unsharded(mesh)
    siglip_program(mesh)
    memory_is_flat()
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
