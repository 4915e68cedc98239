"""Regression losses and the probability BCE, forward+backward, against the obvious ``jnp``.

``cases(quick, torch)`` returns ``(title, variants, baseline)`` groups in the format of
``benchmarks/run.py`` (one group per loss; the baseline is the one-line ``jnp`` expression a
user would write, the target is jaxloss within 1.2x of it). With ``torch`` (the module, or
None) each group also times PyTorch's ``F.<loss>`` forward+backward on the same data.

    python -m benchmarks.regression [--quick] [--no-torch] [--rounds N]
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp

import jaxloss
from benchmarks.timing import Variant, interleaved, temp_bytes


def _huber(x, y, delta):
    z = jnp.abs(x - y)
    return jnp.mean(jnp.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta)))


def _smooth_l1(x, y, beta):
    z = jnp.abs(x - y)
    return jnp.mean(jnp.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta))


def _gaussian(x, y, var, eps):
    v = jnp.maximum(var, eps)
    return jnp.mean(0.5 * (jnp.log(v) + (x - y) ** 2 / v))


def _bce(p, y):
    log_p = jnp.maximum(jnp.log(p), -100.0)
    log_1mp = jnp.maximum(jnp.log1p(-p), -100.0)
    return -jnp.mean(y * log_p + (1.0 - y) * log_1mp)


def _losses(n, c):
    """loss -> (inputs, jaxloss function, jnp baseline, torch function name, torch kwargs,
    names of the differentiated inputs); the first input is the one donated."""
    k = jax.random.split(jax.random.key(11), 5)
    x = jax.random.normal(k[0], (n, c), jnp.float32)
    y = jax.random.normal(k[1], (n, c), jnp.float32)
    w = jax.random.uniform(k[2], (n, c), jnp.float32) + 0.5
    var = jax.random.uniform(k[3], (n, c), jnp.float32) + 0.1
    counts = jax.random.poisson(k[4], 2.0, (n, c)).astype(jnp.float32)
    p = jax.nn.sigmoid(x)
    t = (y > 0).astype(jnp.float32)
    return {
        "l1_loss": ((x, y), jaxloss.l1_loss, lambda x, y: jnp.mean(jnp.abs(x - y)), {}),
        "l1_loss weights": (
            (x, y, w),
            lambda x, y, w: jaxloss.l1_loss(x, y, weights=w),
            lambda x, y, w: jnp.sum(w * jnp.abs(x - y)) / jnp.sum(w),
            {"weight": 2},
        ),
        "mse_loss": ((x, y), jaxloss.mse_loss, lambda x, y: jnp.mean((x - y) ** 2), {}),
        "huber_loss": (
            (x, y),
            lambda x, y: jaxloss.huber_loss(x, y, delta=0.5),
            lambda x, y: _huber(x, y, 0.5),
            {"delta": 0.5},
        ),
        "smooth_l1_loss": (
            (x, y),
            lambda x, y: jaxloss.smooth_l1_loss(x, y, beta=0.5),
            lambda x, y: _smooth_l1(x, y, 0.5),
            {"beta": 0.5},
        ),
        "poisson_nll_loss": (
            (x, counts),
            jaxloss.poisson_nll_loss,
            lambda x, y: jnp.mean(jnp.exp(x) - y * x),
            {},
        ),
        "gaussian_nll_loss": (
            (x, y, var),
            jaxloss.gaussian_nll_loss,
            lambda x, y, v: _gaussian(x, y, v, 1e-6),
            {},
        ),
        "binary_cross_entropy": ((p, t), jaxloss.binary_cross_entropy, _bce, {}),
    }


def _torch_variant(torch, name, args, kwargs):
    F = torch.nn.functional
    fn = getattr(F, name.split()[0])
    tensors = [torch.from_numpy(jax.device_get(a).copy()) for a in args]
    # keyword arguments given as an index into args (weight=) or as a value
    extra = {k: tensors[v] if k == "weight" else v for k, v in kwargs.items()}
    positional = tensors if name.startswith("gaussian") else tensors[:2]

    def fwd_bwd(*ts):
        x = ts[0].detach().requires_grad_(True)
        loss = fn(x, *ts[1:len(positional)], **extra)
        return loss, torch.autograd.grad(loss, x)[0]

    return Variant(f"torch F.{name.split()[0]}", fwd_bwd, positional, sync=lambda o: None)


def cases(quick: bool, torch=None):
    """The benchmark groups: one per loss, forward+backward with respect to the input."""
    n, c = (512, 100) if quick else (8192, 1000)
    groups = []
    for name, (args, fn, baseline, torch_kwargs) in _losses(n, c).items():
        args = tuple(jax.device_put(a) for a in args)
        jax.block_until_ready(args)
        variants = []
        for label, f in ((f"jaxloss.{name}", fn), (f"jnp: {name}", baseline)):
            vg = jax.value_and_grad(f)
            variants.append(Variant(label, jax.jit(vg, donate_argnums=0), args, donate=True,
                                    memory=temp_bytes(vg, *args)))
        if torch is not None:
            variants.append(_torch_variant(torch, name, args, torch_kwargs))
        groups.append((f"{name} ({n}, {c}) fwd+bwd", variants, f"jnp: {name}"))
    return groups


def main(argv=None):
    from benchmarks.run import _table, _torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="(512, 100), 5 rounds (smoke test)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 31)")
    args = p.parse_args(argv)
    torch = None if args.no_torch else _torch()
    rounds = args.rounds or (5 if args.quick else 31)
    print(f"- devices: {jax.devices()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start; {rounds} interleaved rounds after 2 warm-up "
          "rounds, medians\n")
    for title, variants, baseline in cases(args.quick, torch):
        results = interleaved(variants, rounds)
        print(_table(title, results, variants, baseline) + "\n", flush=True)


if __name__ == "__main__":
    main()
