"""Every option set of the softmax losses, forward+backward, against plain cross_entropy.

``cases(quick, torch)`` returns one ``(title, variants, baseline)`` group in the format of
``benchmarks/run.py``: all option sets timed in the same interleaved rounds, each with its
ratio to plain ``jaxloss.cross_entropy`` fwd+bwd and its XLA temp bytes (the compiled
executable's ``memory_analysis().temp_size_in_bytes``). The target (issue 20, item 6): no
option set holds a logits-sized temporary (32 MiB at (8192, 1000) float32) and each runs
within 1.3x of plain cross_entropy.

    python -m benchmarks.softmax [--quick] [--rounds N] [--only SUBSTRING] [--memory] [--cpu-time]

``--cpu-time`` times each call with the process's CPU time (all threads) instead of the wall
clock: on a machine shared with other jobs, time spent waiting for a core is not counted
(a fusion split over two threads counts twice, so ratios differ from wall-clock ones).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import jaxloss
from benchmarks.timing import Variant, interleaved, temp_bytes, use_cpu_time

BASELINE = "cross_entropy"


def option_sets(n, c):
    """label -> (loss of the logits and the targets, targets)."""
    k = jax.random.split(jax.random.key(20), 7)
    y = jax.random.randint(k[0], (n,), 0, c)
    y_ign = jnp.where(jnp.arange(n) % 10 == 0, -100, y)
    q = jax.nn.softmax(2.0 * jax.random.normal(k[1], (n, c)))
    cw = jax.random.uniform(k[2], (c,)) + 0.5
    v = jax.random.uniform(k[3], (n,)) + 0.5
    m = jnp.arange(n) % 7 != 0
    priors = jax.random.uniform(k[4], (c,)) + 0.01
    counts = jax.random.randint(k[5], (c,), 1, 1000)
    teacher = jax.random.normal(k[6], (n, c))
    J = jaxloss
    return {
        "cross_entropy": (lambda x, t: J.cross_entropy(x, t), y),
        "CE ignore_index": (lambda x, t: J.cross_entropy(x, t), y_ign),
        "CE where": (lambda x, t: J.cross_entropy(x, t, where=m), y),
        "CE weights": (lambda x, t: J.cross_entropy(x, t, weights=v), y),
        "CE class_weights": (lambda x, t: J.cross_entropy(x, t, class_weights=cw), y_ign),
        "CE z_loss": (lambda x, t: J.cross_entropy(x, t, z_loss=1e-4), y),
        "CE smoothing": (lambda x, t: J.cross_entropy(x, t, label_smoothing=0.1), y),
        "CE smoothing+class_weights+ignore": (
            lambda x, t: J.cross_entropy(x, t, label_smoothing=0.1, class_weights=cw), y_ign),
        "CE probabilities": (lambda x, t: J.cross_entropy(x, t), q),
        "CE probabilities+smoothing+class_weights+z_loss+where": (
            lambda x, t: J.cross_entropy(x, t, label_smoothing=0.1, class_weights=cw,
                                         z_loss=1e-4, where=m), q),
        "nll_loss class_weights": (lambda x, t: J.nll_loss(x, t, class_weights=cw), y_ign),
        "focal gamma=2": (lambda x, t: J.focal_loss(x, t), y),
        "focal class_weights+smoothing": (
            lambda x, t: J.focal_loss(x, t, class_weights=cw, label_smoothing=0.1), y_ign),
        "focal probabilities": (lambda x, t: J.focal_loss(x, t), q),
        "poly1": (lambda x, t: J.poly1_cross_entropy(x, t), y),
        "poly1 smoothing": (lambda x, t: J.poly1_cross_entropy(x, t, label_smoothing=0.1), y),
        "poly1 probabilities": (lambda x, t: J.poly1_cross_entropy(x, t), q),
        "logit_adjusted": (
            lambda x, t: J.logit_adjusted_cross_entropy(x, t, class_counts=priors), y),
        "logit_adjusted smoothing": (
            lambda x, t: J.logit_adjusted_cross_entropy(x, t, class_counts=priors,
                                                        label_smoothing=0.1), y),
        "ldam": (lambda x, t: J.ldam_loss(x, t, class_counts=counts), y),
        "distillation lambda_soft=0.5, lambda_hard=0.5 (teacher fixed)": (
            lambda x, t: J.distillation_loss(x, jax.lax.stop_gradient(t[1]), temperature=2.0,
                                             targets=t[0], lambda_soft=0.5, lambda_hard=0.5),
            (y, teacher)),
    }


def cases(quick, torch=None, only=None):
    n, c = (512, 100) if quick else (8192, 1000)
    x = jax.device_put(jax.random.normal(jax.random.key(21), (n, c), jnp.float32))
    variants = []
    sets = option_sets(n, c)
    # The first variant of a round runs slower here (it finds the caches cold after the
    # previous round's last one): the baseline runs last, and once more first, to show it.
    sets = {"cross_entropy (first in round)": sets[BASELINE], **sets}
    sets[BASELINE] = sets.pop(BASELINE)
    for label, (f, t) in sets.items():
        if only and label != BASELINE and only not in label:
            continue
        t = jax.device_put(t)
        vg = jax.value_and_grad(f)
        variants.append(Variant(label, jax.jit(vg, donate_argnums=0), (x, t), donate=True,
                                memory=temp_bytes(vg, x, t)))
    return [(f"softmax option sets ({n}, {c}) fwd+bwd", variants, BASELINE)]


def main(argv=None):
    from benchmarks.run import _table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--only", default=None, help="option sets whose label contains this")
    p.add_argument("--memory", action="store_true", help="XLA temp only (compile, no timing)")
    p.add_argument("--cpu-time", action="store_true", help="process CPU time, not wall clock")
    args = p.parse_args(argv)
    use_cpu_time(args.cpu_time)
    rounds = args.rounds or (3 if args.quick else 15)
    for title, variants, baseline in cases(args.quick, only=args.only):
        if args.memory:
            for v in variants:
                mem = "n/a" if v.memory is None else f"{v.memory / 2**20:.1f}"
                print(f"| {v.label} | {mem} |", flush=True)
            continue
        results = interleaved(variants, rounds)
        print(_table(title, results, variants, baseline) + "\n", flush=True)


if __name__ == "__main__":
    main()
