"""CTC benchmark cases: jaxloss.ctc_loss against optax.ctc_loss (and PyTorch's CPU ctc_loss).

``cases(quick, torch)`` returns ``[(title, variants, baseline), ...]`` in the format of
``benchmarks/run.py``. Standalone:

    python -m benchmarks.sequence            # T=100, N=32, C=50, S=30, 31 rounds
    python -m benchmarks.sequence --quick    # tiny sizes, 5 rounds

Every variant computes the summed per-sequence loss and its gradient with respect to the
logits from the same logits, each in its library's layout: optax takes (B, T, K) logits and
0/1 paddings and applies the log-softmax itself; jaxloss and PyTorch take (T, N, C)
log-probabilities, so their variants include ``log_softmax``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss
from benchmarks.timing import Variant, temp_bytes


def _inputs(t, n, c, s, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((t, n, c)).astype(np.float32)
    input_lengths = rng.integers(int(0.8 * t), t + 1, n)
    target_lengths = rng.integers(max(1, s // 3), s + 1, n)
    targets = rng.integers(1, c, (n, s))  # blank = 0
    return logits, targets, input_lengths, target_lengths


def cases(quick: bool, torch) -> list:
    t, n, c, s = (20, 4, 10, 5) if quick else (100, 32, 50, 30)
    logits, targets, il, tl = _inputs(t, n, c, s)
    x_tnc = jax.device_put(logits)
    x_btk = jax.device_put(np.ascontiguousarray(np.moveaxis(logits, 1, 0)))
    y = jax.device_put(targets.astype(np.int32))
    il_j, tl_j = jax.device_put(il.astype(np.int32)), jax.device_put(tl.astype(np.int32))
    logit_paddings = jax.device_put((np.arange(t)[None, :] >= il[:, None]).astype(np.float32))
    label_paddings = jax.device_put((np.arange(s)[None, :] >= tl[:, None]).astype(np.float32))
    jax.block_until_ready((x_tnc, x_btk, y, il_j, tl_j, logit_paddings, label_paddings))

    def optax_sum(x, y, lp, tp):
        return jnp.sum(optax.ctc_loss(x, lp, y, tp))

    def jaxloss_sum(x, y, il, tl):
        return jaxloss.ctc_loss(jax.nn.log_softmax(x), y, il, tl, reduction="sum")

    def jaxloss_mean(x, y, il, tl):
        return jaxloss.ctc_loss(jax.nn.log_softmax(x), y, il, tl)

    variants = []
    for label, f, args in [
        ("optax.ctc_loss(...).sum()", optax_sum, (x_btk, y, logit_paddings, label_paddings)),
        ('jaxloss.ctc_loss(reduction="sum")', jaxloss_sum, (x_tnc, y, il_j, tl_j)),
        ('jaxloss.ctc_loss (PyTorch "mean")', jaxloss_mean, (x_tnc, y, il_j, tl_j)),
    ]:
        vg = jax.value_and_grad(f)
        variants.append(Variant(label, jax.jit(vg), args, memory=temp_bytes(vg, *args)))
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(logits.copy())
        ty = torch.from_numpy(targets.astype(np.int64))
        til, ttl = torch.from_numpy(il.astype(np.int64)), torch.from_numpy(tl.astype(np.int64))

        def t_bwd(x, y, il, tl):
            xx = x.detach().requires_grad_(True)
            loss = F.ctc_loss(xx.log_softmax(-1), y, il, tl, reduction="sum")
            (g,) = torch.autograd.grad(loss, xx)
            return loss, g

        variants.append(Variant("torch F.ctc_loss (CPU)", t_bwd, (tx, ty, til, ttl),
                                sync=lambda o: None))
    title = f"CTC T={t} N={n} C={c} S={s} fwd+bwd"
    return [(title, variants, "optax.ctc_loss(...).sum()")]


def main(argv=None) -> None:
    import argparse

    from benchmarks.run import _table, _torch
    from benchmarks.timing import interleaved

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)
    torch = None if args.no_torch else _torch()
    rounds = args.rounds or (5 if args.quick else 31)
    for title, variants, baseline in cases(args.quick, torch):
        results = interleaved(variants, rounds)
        print(_table(title, results, variants, baseline) + "\n", flush=True)


if __name__ == "__main__":
    main()
