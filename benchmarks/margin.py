"""Margin, ranking and embedding losses (issue 11): forward+backward against the obvious jnp.

``cases(quick, torch)`` returns ``[(title, variants, baseline_label), ...]`` in the format of
``benchmarks/run.py``: one case per loss, the jaxloss call against the direct ``jnp``
expression of the same loss (the baseline, target within 1.2x) and, when ``torch`` is given,
PyTorch's ``torch.nn.functional`` call. Every variant is ``value_and_grad`` with respect to the
first input, which it donates (see ``benchmarks/timing.py``); the loss is the default "mean".

    python -c "from benchmarks.margin import main; main()" [--quick] [--no-torch]
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp

import jaxloss
from benchmarks.timing import Variant, interleaved, temp_bytes


def _normal(key, shape):
    return jax.device_put(jax.random.normal(jax.random.key(key), shape, jnp.float32))


def _signs(key, shape):
    return jax.device_put(
        jnp.where(jax.random.uniform(jax.random.key(key), shape) < 0.5, -1.0, 1.0)
    )


def _multilabel_targets(key, n, c):
    """PyTorch's format: k random classes per row (k in [0, 8)), -1, then junk."""
    k1, k2 = jax.random.split(jax.random.key(key))
    labels = jax.random.randint(k1, (n, c), 0, c)
    ends = jax.random.randint(k2, (n, 1), 0, min(8, c))
    return jax.device_put(jnp.where(jnp.arange(c) == ends, -1, labels))


# --- the obvious jnp expressions -------------------------------------------------------------


def _ranking_jnp(x1, x2, y):
    return jnp.mean(jnp.maximum(0.0, -y * (x1 - x2) + 0.5))


def _hinge_jnp(x, y):
    """PyTorch's definition as ATen writes it: a target that is neither 1 nor -1 gets both."""
    zero = jnp.zeros_like(x)
    return jnp.mean(jnp.where(y != 1, jnp.maximum(0.0, 1.0 - x), zero)
                    + jnp.where(y != -1, x, zero))


def _hinge_pm1_jnp(x, y):
    """The two-case expression: the same loss for targets in {1, -1} only."""
    return jnp.mean(jnp.where(y == 1, x, jnp.maximum(0.0, 1.0 - x)))


def _soft_margin_jnp(x, y):
    return jnp.mean(jax.nn.softplus(-y * x))


def _mlsm_jnp(x, y):
    per = -(y * jax.nn.log_sigmoid(x) + (1.0 - y) * jax.nn.log_sigmoid(-x))
    return jnp.mean(jnp.mean(per, axis=-1))


def _multi_margin_jnp(x, y):
    x_y = jnp.take_along_axis(x, y[:, None], axis=-1)
    h = jnp.maximum(0.0, 1.0 - x_y + x)
    h = jnp.where(jnp.arange(x.shape[-1]) == y[:, None], 0.0, h)
    return jnp.mean(jnp.sum(h, axis=-1) / x.shape[-1])


def _multilabel_margin_jnp(x, t):
    c = x.shape[-1]
    listed = jnp.cumsum(t < 0, axis=-1) == 0
    counts = jnp.sum((t[:, :, None] == jnp.arange(c)) & listed[:, :, None], axis=1)
    pair = jnp.maximum(0.0, 1.0 - x[:, :, None] + x[:, None, :])
    pair = jnp.where(counts[:, None, :] > 0, 0.0, pair)
    return jnp.mean(jnp.sum(counts * jnp.sum(pair, axis=-1), axis=-1) / c)


def _cosine_jnp(x1, x2, y):
    cos = jnp.sum(x1 * x2, -1) / jnp.sqrt(
        (jnp.sum(x1 * x1, -1) + 1e-12) * (jnp.sum(x2 * x2, -1) + 1e-12)
    )
    return jnp.mean(jnp.where(y == 1, 1.0 - cos, jnp.maximum(0.0, cos - 0.2)))


def _triplet_jnp(a, p, n):
    d_pos = jnp.linalg.norm(a - p + 1e-6, axis=-1)
    d_neg = jnp.linalg.norm(a - n + 1e-6, axis=-1)
    return jnp.mean(jnp.maximum(0.0, 1.0 + d_pos - d_neg))


# --- the cases -------------------------------------------------------------------------------


def _torch_fn(torch, name, kwargs):
    F = torch.nn.functional

    def run(x, *rest):
        xx = x.detach().requires_grad_(True)
        loss = getattr(F, name)(xx, *rest, **kwargs)
        return loss, torch.autograd.grad(loss, xx)[0]

    return run


def _case(title, name, jax_loss, baseline, args, torch, torch_args, torch_kwargs, extra=()):
    variants = []
    for label, f in ((f"jaxloss.{name}", jax_loss), ("jnp expression", baseline), *extra):
        vg = jax.value_and_grad(f)
        variants.append(Variant(label, jax.jit(vg, donate_argnums=0), args, donate=True,
                                memory=temp_bytes(vg, *args, donate=True)))
    if torch is not None:
        targs = [torch.from_numpy(jax.device_get(a).copy()) for a in args]
        targs = [torch_args(i, t) for i, t in enumerate(targs)]
        variants.append(Variant(f"torch F.{name}", _torch_fn(torch, name, torch_kwargs), targs,
                                sync=lambda o: None))
    return (title, variants, "jnp expression")


def cases(quick: bool, torch=None):
    """The margin-loss cases at a representative size (``quick``: tiny sizes)."""
    n, c, d = (256, 32, 16) if quick else (8192, 1000, 256)
    n_ml, c_ml = (64, 16) if quick else (1024, 128)
    x, x2, x3 = _normal(0, (n, c)), _normal(1, (n, c)), _normal(2, (n, c))
    s = _signs(3, (n, c))
    probs = jax.device_put(jax.random.uniform(jax.random.key(4), (n, c)))
    labels = jax.device_put(jax.random.randint(jax.random.key(5), (n,), 0, c))
    e1, e2, e3 = _normal(6, (n, d)), _normal(7, (n, d)), _normal(8, (n, d))
    pair_y = _signs(9, (n,))
    xm, tm = _normal(10, (n_ml, c_ml)), _multilabel_targets(11, n_ml, c_ml)
    abs_x = jnp.abs(x)
    jax.block_until_ready((x, x2, x3, s, probs, labels, e1, e2, e3, pair_y, xm, tm, abs_x))

    def as_long(i, t):
        return t.long() if not t.is_floating_point() else t

    J = jaxloss
    specs = [
        (f"margin_ranking_loss ({n}, {c})", "margin_ranking_loss",
         lambda a, b, y: J.margin_ranking_loss(a, b, y, margin=0.5), _ranking_jnp, (x, x2, s),
         {"margin": 0.5}),
        (f"hinge_embedding_loss ({n}, {c})", "hinge_embedding_loss",
         lambda a, y: J.hinge_embedding_loss(a, y), _hinge_jnp, (abs_x, s), {}),
        (f"soft_margin_loss ({n}, {c})", "soft_margin_loss",
         lambda a, y: J.soft_margin_loss(a, y), _soft_margin_jnp, (x, s), {}),
        (f"multilabel_soft_margin_loss ({n}, {c})", "multilabel_soft_margin_loss",
         lambda a, y: J.multilabel_soft_margin_loss(a, y), _mlsm_jnp, (x, probs), {}),
        (f"multi_margin_loss ({n}, {c})", "multi_margin_loss",
         lambda a, y: J.multi_margin_loss(a, y), _multi_margin_jnp, (x, labels), {}),
        (f"multilabel_margin_loss ({n_ml}, {c_ml})", "multilabel_margin_loss",
         lambda a, t: J.multilabel_margin_loss(a, t), _multilabel_margin_jnp, (xm, tm), {}),
        (f"cosine_embedding_loss ({n}, {d})", "cosine_embedding_loss",
         lambda a, b, y: J.cosine_embedding_loss(a, b, y, margin=0.2), _cosine_jnp,
         (e1, e2, pair_y), {"margin": 0.2}),
        (f"triplet_margin_loss ({n}, {d})", "triplet_margin_loss",
         lambda a, p, q: J.triplet_margin_loss(a, p, q), _triplet_jnp, (e1, e2, e3), {}),
        (f"triplet_margin_with_distance_loss ({n}, {d})", "triplet_margin_with_distance_loss",
         lambda a, p, q: J.triplet_margin_with_distance_loss(a, p, q), _triplet_jnp,
         (e1, e2, e3), {}),
    ]
    extra = {"hinge_embedding_loss": (("jnp, targets in {1, -1} only", _hinge_pm1_jnp),)}
    return [
        _case(f"{title} fwd+bwd", name, f, base, args, torch, as_long, kw, extra.get(name, ()))
        for title, name, f, base, args, kw in specs
    ]


def main(argv=None):
    from benchmarks.run import _table, _torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--only", default="", help="comma-separated loss names to run")
    args = p.parse_args(argv)
    only = [n for n in args.only.split(",") if n]
    rounds = args.rounds or (5 if args.quick else 31)
    torch = None if args.no_torch else _torch()
    print(f"- {jax.devices()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{rounds} rounds\n")
    for title, variants, baseline in cases(args.quick, torch):
        if only and title.split()[0] not in only:
            continue
        results = interleaved(variants, rounds)
        print(_table(title, results, variants, baseline) + "\n", flush=True)


if __name__ == "__main__":
    main()
