"""The 5-epoch MNIST recipe: the jaxloss/JAX trainer against a plain PyTorch eager loop.

Same recipe on both sides: MLP 784-128-64-10 with ReLU, Adam lr 1e-3, batch 64,
5 epochs, inputs scaled to [0, 1] then normalised with mean 0.5 / std 0.5, the
training set in memory, a fresh permutation each epoch and the last partial batch
dropped. JAX runs ``examples.mnist.train.train_and_evaluate`` (one jitted
``lax.scan`` per epoch); PyTorch runs the usual eager loop over slices of a tensor
(faster than a ``DataLoader`` over a ``TensorDataset``, which ``--dataloader`` adds).

Only the training epochs are timed (JAX's compilation and both sides' evaluation are
reported apart). The frameworks alternate for ``--rounds`` rounds and medians are
reported (wall-clock time; the load average is printed, since other processes on a
shared machine inflate it).

    pip install torch==2.13.0   # CPU wheel; the `bench` extra
    python -m benchmarks.mnist_vs_torch --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from examples.mnist import data, train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402


def run_jax(config: Config, ds: data.Dataset) -> dict:
    t0 = time.perf_counter()
    result = train.train_and_evaluate(config, ds, progress=False)
    return {
        "wall": result.timing["train_seconds"],
        "compile": result.timing["compile_seconds"],
        "total": time.perf_counter() - t0,
        "accuracy": result.metrics["accuracy"],
    }


def run_torch(config: Config, ds: data.Dataset, seed: int, dataloader: bool = False) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def prep(x):
        return (torch.from_numpy(np.array(x)).float() / 255.0 - config.mean) / config.std

    x, y = prep(ds.x_train), torch.from_numpy(ds.y_train).long()
    x_test, y_test = prep(ds.x_test), torch.from_numpy(ds.y_test).long()
    layers = []
    sizes = (784, *config.hidden, 10)
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    bs = config.batch_size
    steps = len(y) // bs
    loader = None
    if dataloader:
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y), batch_size=bs, shuffle=True, drop_last=True
        )
    wall = 0.0
    for _ in range(config.num_epochs):
        t0 = time.perf_counter()
        model.train()
        if loader is None:
            perm = torch.randperm(len(y))
            batches = ((x[i], y[i]) for i in perm[: steps * bs].view(steps, bs))
        else:
            batches = loader
        for xb, yb in batches:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        wall += time.perf_counter() - t0
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(-1) == y_test).float().mean())
    return {"wall": wall, "accuracy": accuracy}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST folder")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run")
    parser.add_argument(
        "--dataloader", action="store_true", help="also time torch's DataLoader loop"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch.set_num_threads (0: torch's default, one per core). On a loaded "
        "machine 1 can be much faster: torch's OpenMP threads wait on each other",
    )
    args = parser.parse_args(argv)

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    config = Config(data_dir=args.data_dir, num_epochs=args.epochs)
    ds = data.prepare(config)
    variants = ["jax", "torch"] + (["torch DataLoader"] if args.dataloader else [])
    runs = {v: [] for v in variants}
    load_before = os.getloadavg()[0]
    for r in range(args.rounds):
        for v in variants:
            if v == "jax":
                out = run_jax(config.replace(seed=r), ds)
            else:
                out = run_torch(config, ds, seed=r, dataloader=v != "torch")
            runs[v].append(out)
            print(f"round {r + 1} {v:>16}: {out['wall']:.2f}s  acc {out['accuracy']:.4f}")

    med = {v: statistics.median(o["wall"] for o in runs[v]) for v in variants}
    steps = args.epochs * (len(ds.y_train) // config.batch_size)
    print(
        f"\nMNIST {args.epochs}-epoch recipe ({steps} steps), median of {args.rounds} rounds; "
        f"jax {jax.__version__} ({jax.default_backend()}, {jax.device_count()} device), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{os.cpu_count()} cores, 1-min load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after\n"
    )
    print("| loop | train s (wall) | us/step | test accuracy | torch / this |")
    print("| --- | --- | --- | --- | --- |")
    for v in variants:
        acc = statistics.median(o["accuracy"] for o in runs[v])
        print(
            f"| {v} | {med[v]:.2f} | {1e6 * med[v] / steps:.0f} | {acc:.4f} | "
            f"{med['torch'] / med[v]:.2f}x |"
        )
    jax_compile = runs["jax"][0]["compile"]
    jax_total = runs["jax"][0]["total"]
    print(
        f"\njax first run: {jax_compile:.2f}s compile (later rounds reuse it), "
        f"{jax_total:.2f}s for train_and_evaluate in all (incl. per-epoch evaluation)."
    )
    print(
        f"speed-up of the JAX trainer over the torch eager loop (training epochs, wall): "
        f"{med['torch'] / med['jax']:.2f}x"
    )


if __name__ == "__main__":
    main()
