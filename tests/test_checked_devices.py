"""jaxloss.checked on 4 forced CPU devices (a subprocess): a check that fails on one shard
raises on every shard, so no device hangs in a collective, and nothing reaches stderr. And
without checked, a user's own checkify of a shard_map or pmap step reports jaxloss's error,
naming the shard."""

import json
import textwrap

import pytest
from helpers import run_on_devices

# Slow (checked() on forced CPU devices in a subprocess): `python -m pytest --run-slow` runs it,
# as CI does.
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, time
    import jax, jax.numpy as jnp, numpy as np, jaxloss
    from jax.experimental import checkify
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    assert jax.device_count() == 4
    mesh = Mesh(np.array(jax.devices()), ("d",))
    x = jnp.linspace(-1.0, 1.0, 24).reshape(8, 3)
    good = jnp.array([0, 1, 2, 0, 1, 2, 0, 1])
    bad = good.at[5].set(9)  # on shard 2
    ce = jaxloss.checked(jaxloss.cross_entropy)
    bce = jaxloss.checked(jaxloss.binary_cross_entropy_with_logits)

    def sharded(f, out=P()):
        return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=(P("d"), P("d")), out_specs=out))

    def step(x, y):
        # A data-parallel train step: a per-shard loss (no axis_name), gradients summed after.
        loss, g = jax.value_and_grad(lambda x: ce(x, y))(x)
        return jax.lax.pmean(loss, "d"), jax.lax.psum(g, "d")

    calls = {
        "shard_map": (sharded(lambda x, y: ce(x, y, axis_name="d")), x, bad),
        "train_step": (sharded(step, (P(), P("d"))), x, bad),
        "shard_map_values": (
            sharded(lambda x, y: bce(x, y, axis_name="d")),
            x, jnp.zeros((8, 3)).at[5, 1].set(2.0),
        ),
        "pmap": (jax.pmap(lambda x, y: ce(x, y), axis_name="p"),
                 x.reshape(4, 2, 3), bad.reshape(4, 2)),
        "sharded_jit": (jax.jit(ce), jax.device_put(x, NamedSharding(mesh, P("d"))),
                        jax.device_put(bad, NamedSharding(mesh, P("d")))),
        # checked around the shard_map: checkify's shard_map rule, then one raise.
        "checked_outside": (
            jax.jit(jaxloss.checked(jax.shard_map(
                lambda x, y: jaxloss.binary_cross_entropy_with_logits(x, y, axis_name="d"),
                mesh=mesh, in_specs=(P("d"), P("d")), out_specs=P()))),
            x, jnp.zeros((8, 3)).at[5, 1].set(2.0),
        ),
    }
    results = {
        "good": float(sharded(lambda x, y: ce(x, y, axis_name="d"))(x, good)),
        "unsharded": float(jaxloss.cross_entropy(x, good)),
    }
    for name, (f, a, b) in calls.items():
        start = time.perf_counter()
        try:
            jax.block_until_ready(f(a, b))
            results[name] = None
        except jax.errors.JaxRuntimeError as e:
            results[name] = str(e).splitlines()[-1]
        results[name + "_seconds"] = time.perf_counter() - start
    # Without checked: the user checkifies the sharded step.
    plain_bce = lambda x, y: jaxloss.binary_cross_entropy_with_logits(x, y, axis_name="d")
    for name, f, a, b in [
        ("checkify_shard_map", sharded(plain_bce), x, jnp.zeros((8, 3)).at[5, 1].set(2.0)),
        ("checkify_pmap", jax.pmap(jaxloss.cross_entropy, axis_name="p"),
         x.reshape(4, 2, 3), bad.reshape(4, 2)),
    ]:
        err, _ = checkify.checkify(f)(a, b)
        try:
            err.throw()
            results[name] = None
        except checkify.JaxRuntimeError as e:
            results[name] = str(e)
    print(json.dumps(results))
    """
)


def test_checked_on_four_devices():
    proc = run_on_devices(["-c", SCRIPT])
    assert proc.returncode == 0, proc.stderr
    # Nothing on stderr: no callback traceback, and no second report from JAX's exit handlers.
    assert proc.stderr == ""
    results = json.loads(proc.stdout)
    assert abs(results["good"] - results["unsharded"]) < 1e-6
    label = (
        "CheckError: cross_entropy: target label 9 is out of range: labels must be in [0, 3) "
        "or equal to ignore_index=-100."
    )
    for name in ("shard_map", "train_step", "pmap", "sharded_jit"):
        assert results[name] == label, name
    assert results["shard_map_values"] == (
        "CheckError: binary_cross_entropy_with_logits: `targets` must be in [0, 1], got 2.0 at "
        "index (1, 1) of the shard at d=2. For class indices use jaxloss.cross_entropy."
    )
    assert results["checked_outside"] == (
        "CheckError: binary_cross_entropy_with_logits: `targets` must be in [0, 1], got 2.0 at "
        "index (1, 1) of the shard at d=2. For class indices use jaxloss.cross_entropy."
    )
    assert results["checkify_shard_map"] == (
        "binary_cross_entropy_with_logits: `targets` must be in [0, 1], got 2.0 at index (1, 1) "
        "of the shard at d=2. For class indices use jaxloss.cross_entropy. (`check` failed)"
    )
    assert results["checkify_pmap"] == label[len("CheckError: "):] + " (`check` failed)"
    # Raised at once: a hang in a collective would take XLA's rendezvous timeout (>= 20 s).
    names = ("shard_map", "train_step", "shard_map_values", "pmap", "sharded_jit",
             "checked_outside")
    for name in names:
        assert results[name + "_seconds"] < 15, (name, results[name + "_seconds"])
