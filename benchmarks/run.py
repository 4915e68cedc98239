"""jaxloss benchmarks against optax, PyTorch and a roofline proxy; prints a markdown table.

    python -m benchmarks.run            # full run (>= 31 interleaved rounds per case)
    python -m benchmarks.run --quick    # tiny sizes, few rounds: a smoke test
    python -m benchmarks.run --no-torch --no-linear

Each case times its variants interleaved round by round and reports medians and the ratio
to the case's baseline (see ``benchmarks/timing.py``). Forward+backward variants donate a
fresh, pre-written copy of the logits each round (made outside the timed region), so the
page faults of a new gradient buffer are not timed. PyTorch runs with as many threads as
XLA:CPU uses (the core count) and cannot donate; its gradient lands in fresh memory.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys

import jax
import jax.numpy as jnp
import optax

import jaxloss
from benchmarks.timing import Variant, interleaved, temp_bytes


def _torch():
    # Without this, torch's OpenMP threads spin-wait after each call and steal the cores
    # from whichever variant runs next in the round (that made the first jaxloss variant
    # look 1.3-1.6x slower at (8192, 1000)). Must be set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def _ce_cases(n, c, args, torch):
    """Integer-target cross-entropy: forward and forward+backward."""
    x = jax.device_put(jax.random.normal(jax.random.key(0), (n, c), jnp.float32))
    y = jax.device_put(jax.random.randint(jax.random.key(1), (n,), 0, c))
    jax.block_until_ready((x, y))
    cw = jax.device_put(jax.random.uniform(jax.random.key(2), (c,)) + 0.5)
    y_ign = jax.device_put(jnp.where(jnp.arange(n) % 10 == 0, -100, y))

    losses = {
        "jaxloss.cross_entropy": (lambda x, y: jaxloss.cross_entropy(x, y), (x, y)),
        "optax softmax_ce_int.mean": (
            lambda x, y: optax.softmax_cross_entropy_with_integer_labels(x, y).mean(),
            (x, y),
        ),
        "jaxloss CE weights+ignore+smooth": (
            lambda x, y: jaxloss.cross_entropy(x, y, class_weights=cw, label_smoothing=0.1),
            (x, y_ign),
        ),
        "jaxloss.focal_loss gamma=2": (lambda x, y: jaxloss.focal_loss(x, y), (x, y)),
    }
    fwd, bwd = [], []
    for label, (f, a) in losses.items():
        fwd.append(Variant(label, jax.jit(f), a))
        vg = jax.value_and_grad(f)
        bwd.append(Variant(label, jax.jit(vg, donate_argnums=0), a, donate=True,
                           memory=temp_bytes(vg, *a)))
    fwd.append(Variant("roofline: exp(x), one write", jax.jit(jnp.exp, donate_argnums=0), (x,),
                       donate=True))
    fwd.append(Variant("roofline: sum(x), one read", jax.jit(jnp.sum), (x,)))
    if torch is not None:
        tx = torch.from_numpy(jax.device_get(x).copy())
        ty = torch.from_numpy(jax.device_get(y).astype("int64"))
        tyi = torch.from_numpy(jax.device_get(y_ign).astype("int64"))
        tcw = torch.from_numpy(jax.device_get(cw).copy())
        F = torch.nn.functional

        def t_fwd(x, y):
            with torch.no_grad():
                return F.cross_entropy(x, y)

        def t_bwd(x, y, **kw):
            xx = x.detach().requires_grad_(True)
            loss = F.cross_entropy(xx, y, **kw)
            (g,) = torch.autograd.grad(loss, xx)
            return loss, g

        def t_bwd_opts(x, y):
            return t_bwd(x, y, weight=tcw, label_smoothing=0.1)

        fwd.append(Variant("torch F.cross_entropy", t_fwd, (tx, ty), sync=lambda o: None))
        bwd.append(Variant("torch F.cross_entropy", t_bwd, (tx, ty), sync=lambda o: None))
        bwd.append(Variant("torch CE weights+ignore+smooth", t_bwd_opts, (tx, tyi),
                           sync=lambda o: None))
    return [(f"CE int ({n}, {c}) fwd", fwd, "optax softmax_ce_int.mean"),
            (f"CE int ({n}, {c}) fwd+bwd", bwd, "optax softmax_ce_int.mean")]


def _binary_cases(n, c, args, torch):
    x = jax.device_put(jax.random.normal(jax.random.key(3), (n, c), jnp.float32))
    t = jax.device_put((jax.random.uniform(jax.random.key(4), (n, c)) < 0.3).astype(jnp.float32))
    jax.block_until_ready((x, t))
    losses = {
        "jaxloss.binary_cross_entropy_with_logits": (
            lambda x, t: jaxloss.binary_cross_entropy_with_logits(x, t)
        ),
        "optax sigmoid_bce.mean": lambda x, t: optax.sigmoid_binary_cross_entropy(x, t).mean(),
        "jaxloss.sigmoid_focal_loss": lambda x, t: jaxloss.sigmoid_focal_loss(x, t),
        "optax sigmoid_focal_loss.mean": lambda x, t: optax.sigmoid_focal_loss(x, t).mean(),
        "jaxloss.asymmetric_loss": lambda x, t: jaxloss.asymmetric_loss(x, t),
    }
    bwd = []
    for label, f in losses.items():
        vg = jax.value_and_grad(f)
        bwd.append(Variant(label, jax.jit(vg, donate_argnums=0), (x, t), donate=True,
                           memory=temp_bytes(vg, x, t)))
    if torch is not None:
        tx = torch.from_numpy(jax.device_get(x).copy())
        tt = torch.from_numpy(jax.device_get(t).copy())

        def t_bwd(x, t):
            xx = x.detach().requires_grad_(True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(xx, t)
            return loss, torch.autograd.grad(loss, xx)[0]

        bwd.append(Variant("torch F.bce_with_logits", t_bwd, (tx, tt), sync=lambda o: None))
    return [(f"BCE / sigmoid focal / asymmetric ({n}, {c}) fwd+bwd", bwd,
             ("optax sigmoid_bce.mean", "jaxloss.binary_cross_entropy_with_logits"))]


def _linear_cases(n, d, v, tiles, args):
    """linear_cross_entropy (a (V, D) weight, PyTorch's layout) against the naive program
    that materialises the logits, for several (token_chunk_size, chunk_size) tiles."""
    k = jax.random.split(jax.random.key(5), 3)
    h = jax.device_put(jax.random.normal(k[0], (n, d)) / 8)
    w = jax.device_put(jax.random.normal(k[1], (v, d)) / 8)
    y = jax.device_put(jax.random.randint(k[2], (n,), 0, v))
    jax.block_until_ready((h, w, y))

    def naive(h, w, y):
        return jaxloss.cross_entropy(h @ w.T, y)

    vg = jax.value_and_grad(naive, argnums=(0, 1))
    variants = [Variant("naive hidden @ weight.T -> cross_entropy", jax.jit(vg), (h, w, y),
                        memory=temp_bytes(vg, h, w, y))]
    for tokens, classes in tiles:
        def fused(h, w, y, tokens=tokens, classes=classes):
            return jaxloss.linear_cross_entropy(h, w, y, chunk_size=classes,
                                                token_chunk_size=tokens)

        vg = jax.value_and_grad(fused, argnums=(0, 1))
        label = f"linear_cross_entropy tiles {tokens} x {classes}"
        if (tokens, classes) == (512, 1024):
            label += " (default)"
        variants.append(Variant(label, jax.jit(vg), (h, w, y), memory=temp_bytes(vg, h, w, y)))
    return [(f"linear CE N={n} D={d} V={v} fwd+bwd", variants,
             "naive hidden @ weight.T -> cross_entropy")]


def _table(title, results, variants, baseline):
    """``baseline``: the label the "ratio" column divides by, or a tuple of labels (one ratio
    column each, the first named "ratio")."""
    baselines = (baseline,) if isinstance(baseline, str) else tuple(baseline)
    heads = ["ratio"] + [f"/ {b}" for b in baselines[1:]]
    lines = [f"### {title}", "", f"| variant | median ms | {' | '.join(heads)} | XLA temp MiB |",
             "|---|---:|" + "---:|" * len(heads) + "---:|"]
    for v in variants:
        mem = "" if v.memory is None else f"{v.memory / 2**20:.1f}"
        ratios = " | ".join(f"{results[v.label] / results[b]:.2f}" for b in baselines)
        lines.append(f"| {v.label} | {results[v.label] * 1e3:.2f} | {ratios} | {mem} |")
    return "\n".join(lines)


# Case groups; the catalogue's live in their own modules (each has ``cases(quick, torch)``).
CASES = ("ce", "ce-large", "binary", "linear", "softmax", "regression", "margin", "ctc")
FAMILY_MODULES = {"softmax": "benchmarks.softmax", "regression": "benchmarks.regression",
                  "margin": "benchmarks.margin", "ctc": "benchmarks.sequence"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, 5 rounds (smoke test)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 31)")
    p.add_argument("--linear-rounds", type=int, default=5,
                   help="rounds for the (slow) linear cross-entropy sweep")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-linear", action="store_true")
    p.add_argument("--cases", default=",".join(CASES),
                   help="comma-separated case groups to run (default: all of them)")
    args = p.parse_args(argv)
    cases = set(args.cases.split(","))
    unknown = cases - set(CASES)
    if unknown:
        p.error(f"unknown --cases {sorted(unknown)}; choose from {', '.join(CASES)}")
    if args.no_linear:
        cases.discard("linear")
    rounds = args.rounds or (5 if args.quick else 31)
    torch = None if args.no_torch else _torch()

    cores = os.cpu_count()
    print(f"# jaxloss benchmarks ({datetime.date.today()})\n")
    print(f"- command: `python -m benchmarks.run {' '.join(argv or sys.argv[1:])}`")
    print(f"- devices: {jax.devices()}, jax {jax.__version__}, optax {optax.__version__}, "
          f"torch {getattr(torch, '__version__', 'not used')} "
          f"({torch.get_num_threads() if torch else '-'} threads)")
    print(f"- machine: {platform.processor() or platform.machine()}, {cores} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"- rounds: {rounds} interleaved after 2 warm-up rounds, medians\n")

    groups = []
    if args.quick:
        if "ce" in cases:
            groups += _ce_cases(512, 100, args, torch)
        if "binary" in cases:
            groups += _binary_cases(512, 100, args, torch)
        if "linear" in cases:
            groups += _linear_cases(64, 16, 1000, ((32, 128), (64, 300)), args)
    else:
        if "ce" in cases:
            groups += _ce_cases(8192, 1000, args, torch)
        if "ce-large" in cases:
            groups += _ce_cases(65536, 1000, args, torch)
        if "binary" in cases:
            groups += _binary_cases(8192, 1000, args, torch)
        if "linear" in cases:
            groups += _linear_cases(4096, 512, 32768,
                                    ((512, 1024), (1024, 1024), (512, 2048), (4096, 1024)), args)
            groups += _linear_cases(2048, 512, 131072, ((512, 1024), (2048, 1024)), args)
    for name, module in FAMILY_MODULES.items():
        if name in cases:
            groups += importlib.import_module(module).cases(args.quick, torch)
    for title, variants, baseline in groups:
        r = args.linear_rounds if title.startswith("linear") and not args.quick else rounds
        results = interleaved(variants, r)
        print(_table(title, results, variants, baseline) + "\n", flush=True)


if __name__ == "__main__":
    main()
