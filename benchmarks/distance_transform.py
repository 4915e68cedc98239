"""jaxloss.distance_transform_edt against scipy.ndimage.distance_transform_edt.

The target (issue 23, item 3): on a 128^3 mask at most 2x SciPy's CPU time. Each size runs
two masks: "ball" (foreground inside a ball of radius 0.4 n, the shape of a segmentation
target) and "random" (5 % zeros scattered at random: long parabola stacks, the envelope's
costliest case). JAX runs jitted (compiled before timing, input on the device and ready);
SciPy on the same mask as a NumPy array. The two alternate in each round (A B A B ...);
medians over the rounds, of the wall clock and of the process's CPU time
(``time.process_time``, all threads: on a shared machine the wall clock counts the time spent
waiting for a core, and XLA may run a fusion on two threads, which CPU time counts twice).

    python -m benchmarks.distance_transform [--rounds N] [--sizes 128x128x128 256x256 ...]
        [--masks ball random] [--batch B] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

import jaxloss

DEFAULT_SIZES = ("128x128x128", "256x256", "512x512")


def make_mask(kind: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    if kind == "ball":
        grid = np.indices(shape) - np.reshape(shape, (-1,) + (1,) * len(shape)) / 2
        return np.sum(grid**2, axis=0) < (0.4 * min(shape)) ** 2
    if kind == "random":
        return np.random.default_rng(seed).random(shape) >= 0.05
    raise ValueError(f"unknown mask kind {kind!r}")


def _time(fn, rounds: int, warmup: int = 1):
    """fn is a list of callables run alternately; returns per callable (wall, cpu) medians."""
    walls: list[list[float]] = [[] for _ in fn]
    cpus: list[list[float]] = [[] for _ in fn]
    for r in range(warmup + rounds):
        for i, f in enumerate(fn):
            w0, c0 = time.perf_counter(), time.process_time()
            f()
            w1, c1 = time.perf_counter(), time.process_time()
            if r >= warmup:
                walls[i].append(w1 - w0)
                cpus[i].append(c1 - c0)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus,
                                                                         strict=True)]


def run(sizes, kinds, rounds: int, batch: int) -> list[dict]:
    edt = jax.jit(jaxloss.distance_transform_edt)
    batched = jax.jit(jax.vmap(jaxloss.distance_transform_edt))
    rows = []
    for size in sizes:
        shape = tuple(int(n) for n in size.split("x"))
        for kind in kinds:
            mask = make_mask(kind, shape)
            if batch > 1:
                masks = np.stack([make_mask(kind, shape, seed) for seed in range(batch)])
                device = jax.device_put(jnp.asarray(masks))

                def ours(device=device):
                    batched(device).block_until_ready()

                def theirs(masks=masks):
                    for m in masks:
                        ndimage.distance_transform_edt(m)
            else:
                device = jax.device_put(jnp.asarray(mask))

                def ours(device=device):
                    edt(device).block_until_ready()

                def theirs(mask=mask):
                    ndimage.distance_transform_edt(mask)

            got = np.asarray(edt(jnp.asarray(mask)))
            want = ndimage.distance_transform_edt(mask)
            error = float(np.max(np.abs(got - want)))
            ours()  # compile
            (jw, jc), (sw, sc) = _time([ours, theirs], rounds)
            rows.append(dict(size=size if batch == 1 else f"{batch}x{size} (vmap)", mask=kind,
                             jax_wall=jw, scipy_wall=sw, jax_cpu=jc, scipy_cpu=sc,
                             error=error))
    return rows


def table(rows) -> str:
    out = ["| mask | kind | jaxloss wall ms | SciPy wall ms | wall ratio | jaxloss CPU ms "
           "| SciPy CPU ms | CPU ratio | max abs error (float32) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['size']} | {r['mask']} | {1e3 * r['jax_wall']:.1f} | "
            f"{1e3 * r['scipy_wall']:.1f} | {r['jax_wall'] / r['scipy_wall']:.2f} | "
            f"{1e3 * r['jax_cpu']:.1f} | {1e3 * r['scipy_cpu']:.1f} | "
            f"{r['jax_cpu'] / r['scipy_cpu']:.2f} | {r['error']:.1e} |"
        )
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="jaxloss.distance_transform_edt (jitted) against "
                    "scipy.ndimage.distance_transform_edt: medians of the wall clock and of "
                    "the process's CPU time, and their ratios (jaxloss / SciPy).")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES),
                        help="mask shapes as HxW or DxHxW (default: %(default)s)")
    parser.add_argument("--masks", nargs="+", default=["ball", "random"],
                        choices=["ball", "random"], help="mask kinds (default: both)")
    parser.add_argument("--batch", type=int, default=1,
                        help="B > 1 times jax.vmap over B masks against a loop of SciPy calls")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 2 rounds: a smoke test")
    args = parser.parse_args(argv)
    sizes, rounds = (("32x32x32", "64x64"), 2) if args.quick else (args.sizes, args.rounds)
    print(f"jax {jax.__version__} {jax.devices()}; {rounds} rounds, medians")
    print(table(run(sizes, args.masks, rounds, args.batch)))


if __name__ == "__main__":
    main()
