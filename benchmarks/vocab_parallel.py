"""Per-device compiled memory of cross-entropy over a large vocabulary, on 1 and 4 devices.

    python -m benchmarks.vocab_parallel            # N=4096, D=512, V=32768 and V=131072
    python -m benchmarks.vocab_parallel --quick    # small sizes (a smoke test)

Forces 4 CPU host devices (before JAX starts) unless ``XLA_FLAGS`` already sets a count, and
compiles forward + backward (gradients of hidden and weight) of:

- ``naive``: ``cross_entropy(hidden @ weight.T, y)``, the logits materialised;
- ``linear``: ``linear_cross_entropy(hidden, weight, y)`` under plain ``jit``;
- ``vocab-parallel``: the same inside ``shard_map`` with ``class_axis_name="model"``, with
  the default ``chunk_size=1024`` and with ``1024 / model`` (the same block of the global
  vocabulary per step as one device walks, split over the devices);

on one device, and with the (V, D) weight split along V over 4 devices (a 1 x 4
("data", "model") mesh; hidden replicated) and over a 2 x 2 mesh (hidden split over
"data"). Prints XLA's per-device ``memory_analysis``: temp (scratch) bytes, and arguments +
outputs (the weight's and its gradient's blocks are V / model of the whole). Nothing is
timed: compiled sizes are exact and do not depend on the machine's load.
"""

from __future__ import annotations

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()

import argparse  # noqa: E402
import datetime  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxloss  # noqa: E402

MIB = 2**20


def _heads(mesh):
    heads = {
        "naive": lambda h, w, y: jaxloss.cross_entropy(h @ w.T, y),
        "linear": lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y),
    }
    if mesh is not None:
        data = "data" if mesh.shape["data"] > 1 else None
        model = mesh.shape["model"]
        for label, chunk in (("vocab-parallel", 1024),
                             (f"vocab-parallel, chunk_size={1024 // model}", 1024 // model)):
            heads[label] = jax.shard_map(
                partial(jaxloss.linear_cross_entropy, axis_name=data, class_axis_name="model",
                        chunk_size=chunk),
                mesh=mesh, in_specs=(P(data), P("model"), P(data)), out_specs=P(),
            )
    return heads


def measure(n: int, d: int, v: int, mesh_shape: tuple[int, int] | None) -> dict[str, tuple]:
    """{variant: (temp bytes, argument + output bytes)} per device."""
    h = jax.ShapeDtypeStruct((n, d), jnp.float32)
    w = jax.ShapeDtypeStruct((v, d), jnp.float32)
    y = jax.ShapeDtypeStruct((n,), jnp.int32)
    mesh = None
    if mesh_shape is not None:
        mesh = jax.make_mesh(mesh_shape, ("data", "model"), axis_types=(AxisType.Auto,) * 2,
                             devices=jax.devices()[: mesh_shape[0] * mesh_shape[1]])
        data = "data" if mesh_shape[0] > 1 else None
        h = jax.ShapeDtypeStruct(h.shape, h.dtype, sharding=NamedSharding(mesh, P(data)))
        w = jax.ShapeDtypeStruct(w.shape, w.dtype, sharding=NamedSharding(mesh, P("model")))
        y = jax.ShapeDtypeStruct(y.shape, y.dtype, sharding=NamedSharding(mesh, P(data)))
    out = {}
    for name, head in _heads(mesh).items():
        compiled = jax.jit(jax.value_and_grad(head, argnums=(0, 1))).lower(h, w, y).compile()
        m = compiled.memory_analysis()
        out[name] = (m.temp_size_in_bytes,
                     m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = p.parse_args(argv)
    if jax.device_count() < 4:
        raise SystemExit(f"benchmarks.vocab_parallel needs 4 devices, JAX sees "
                         f"{jax.device_count()}")
    sizes = [(256, 64, 4096)] if args.quick else [(4096, 512, 32768), (2048, 512, 131072)]
    print(f"# Vocabulary-parallel memory ({datetime.date.today()})\n")
    print(f"- command: `python -m benchmarks.vocab_parallel {' '.join(argv or sys.argv[1:])}`")
    print(f"- jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} devices; "
          "fwd + bwd (grads of hidden and weight), float32, per-device XLA memory_analysis\n")
    for n, d, v in sizes:
        print(f"### N={n}, D={d}, V={v}\n")
        print("| variant | devices (data x model) | temp MiB | args + outputs MiB |")
        print("|---|---|---:|---:|")
        for shape in (None, (1, 4), (2, 2)):
            label = "1" if shape is None else f"{shape[0]} x {shape[1]}"
            for name, (temp, io) in measure(n, d, v, shape).items():
                print(f"| {name} | {label} | {temp / MIB:.1f} | {io / MIB:.1f} |")
        print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
