"""Per-device compiled memory of the sharded SigLIP loss: jaxloss's ring against all-gather.

    python -m benchmarks.contrastive                 # per-device batch 1024, D=768, 4 and 8 devices
    python -m benchmarks.contrastive --batch 64 --dim 32 --devices 3 4   # a smoke test

For each device count a subprocess forces that many CPU host devices and compiles, inside
``shard_map`` over a 1-D mesh with the batch split over it, ``value_and_grad`` (image and text
features, ``logit_scale``, ``logit_bias``) of three implementations of the same loss:

- ``ring``: ``jaxloss.siglip_loss(..., axis_name=...)``, the texts passed around the ring with
  ``ppermute`` and a custom derivative that re-runs the ring (no block stored);
- ``ring-autodiff``: the same ring written as a ``fori_loop`` and differentiated by JAX
  (the loop stores each step's residuals for the backward pass);
- ``all-gather``: every device all-gathers the texts and computes its ``B_local x B`` logits
  (big_vision's and open_clip's gathered loss), differentiated by JAX.

Prints XLA's per-device ``memory_analysis().temp_size_in_bytes`` for each. Nothing runs and
nothing is timed: compiled sizes are exact and do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

MIB = 2**20
IMPLEMENTATIONS = ("ring", "ring-autodiff", "all-gather")


def _implementations(axis):
    import jax
    import jax.numpy as jnp

    import jaxloss

    def ring(x, y, s, b):
        return jaxloss.siglip_loss(x, y, logit_scale=s, logit_bias=b, axis_name=axis)

    def _block(x, y, s, b, diagonal):
        logits = s * (x @ y.T) + b
        if diagonal:
            z = jnp.where(jnp.eye(x.shape[0], dtype=bool), 1.0, -1.0).astype(logits.dtype)
            return jnp.sum(jax.nn.softplus(-z * logits))
        return jnp.sum(jax.nn.softplus(logits))

    def ring_autodiff(x, y, s, b):
        size = jax.lax.axis_size(axis)
        perm = [(i, (i + 1) % size) for i in range(size)]

        def step(_, carry):
            total, held = carry
            held = jax.lax.ppermute(held, axis, perm)
            return total + _block(x, held, s, b, False), held

        total, _ = jax.lax.fori_loop(1, size, step, (_block(x, y, s, b, True), y))
        return jax.lax.psum(total, axis) / (x.shape[0] * size)

    def all_gather(x, y, s, b):
        y_all = jax.lax.all_gather(y, axis, tiled=True)
        n = x.shape[0]
        rows = jnp.arange(n, dtype=jnp.int32) + jax.lax.axis_index(axis) * n
        cols = jnp.arange(y_all.shape[0], dtype=jnp.int32)
        logits = s * (x @ y_all.T) + b
        z = jnp.where(cols[None, :] == rows[:, None], 1.0, -1.0).astype(logits.dtype)
        total = jax.lax.psum(jnp.sum(jax.nn.softplus(-z * logits)), axis)
        return total / (n * jax.lax.axis_size(axis))

    return {"ring": ring, "ring-autodiff": ring_autodiff, "all-gather": all_gather}


def child(devices: int, batch: int, dim: int) -> dict[str, int]:
    """Compiles the three implementations on ``devices`` forced devices (this process)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    assert jax.device_count() == devices, jax.devices()
    mesh = jax.make_mesh((devices,), ("d",))
    specs = (P("d"), P("d"), P(), P())
    feats = jax.ShapeDtypeStruct((batch * devices, dim), jnp.float32)
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, s))
            for a, s in zip((feats, feats, scalar, scalar), specs, strict=True)]
    out = {}
    for name, loss in _implementations("d").items():
        step = jax.jit(jax.shard_map(
            jax.value_and_grad(loss, argnums=(0, 1, 2, 3)), mesh=mesh, in_specs=specs,
            out_specs=(P(), specs)))
        out[name] = step.lower(*args).compile().memory_analysis().temp_size_in_bytes
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=1024, help="per-device batch")
    parser.add_argument("--dim", type=int, default=768, help="feature dimension")
    parser.add_argument("--devices", type=int, nargs="+", default=[4, 8],
                        help="device counts (one subprocess each)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print("RESULT " + json.dumps(child(args.child, args.batch, args.dim)), flush=True)
        return 0

    print(f"# SigLIP sharded value_and_grad, per-device batch {args.batch}, D={args.dim}, "
          f"float32, CPU ({datetime.date.today().isoformat()})")
    print("| devices | " + " | ".join(f"{n} temp (MiB)" for n in IMPLEMENTATIONS) + " |")
    print("|---:|" + "---:|" * len(IMPLEMENTATIONS))
    for n in args.devices:
        env = {**os.environ, "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.contrastive", "--child", str(n),
             "--batch", str(args.batch), "--dim", str(args.dim)],
            env=env, capture_output=True, text=True, check=False,
        )
        line = next((s for s in proc.stdout.splitlines() if s.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stderr[-4000:], file=sys.stderr)
            return 1
        temp = json.loads(line[len("RESULT "):])
        print(f"| {n} | " + " | ".join(f"{temp[k] / MIB:.2f}" for k in IMPLEMENTATIONS) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
