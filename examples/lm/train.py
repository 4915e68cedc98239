"""Train a tiny causal language model with ``jaxloss.linear_cross_entropy`` on a 2-D mesh.

    python -m examples.lm                       # 2 x 2 ("data", "model") mesh, V = 32768
    python -m examples.lm --steps 20 --loss vocab-parallel

The batch is split over "data" and the tied (V, D) embedding table over "model" (the
vocabulary, as in tensor parallelism). Three ways to compute the same loss:

- ``naive``: ``jaxloss.cross_entropy(hidden @ embedding.T, targets)``: the (N, V) logits
  exist (split over the mesh by GSPMD).
- ``linear`` (default): ``jaxloss.linear_cross_entropy(hidden, embedding, targets)`` under
  plain ``jit``: no logits, and GSPMD keeps the vocabulary split (no all-gather of the
  table; only per-token statistics cross devices).
- ``vocab-parallel``: the same inside ``jax.shard_map`` with ``axis_name="data"`` and
  ``class_axis_name="model"``: each device walks its own block of the vocabulary.

Before training it compiles all three, prints each one's loss on the first batch (they
agree) and a table of per-device compiled temp memory (XLA's ``memory_analysis``) for the
loss head's forward + backward and for the whole train step. Outputs in ``--out`` (default
``runs/lm/<date-time>``): ``loss.png`` (the loss curve) and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

import jaxloss
from examples import checkpoint as checkpoint_lib
from examples import distributed
from examples.lm.data import batch_at, optimal_loss, unigram_loss
from examples.lm.model import CausalLM

LOSSES = ("naive", "linear", "vocab-parallel")


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 32768
    dim: int = 128
    heads: int = 4
    layers: int = 2
    seq_len: int = 64
    batch_size: int = 16
    steps: int = 150
    learning_rate: float = 3e-3
    zipf_exponent: float = 1.1
    loss: str = "linear"
    mesh: tuple[int, int] = (2, 2)
    seed: int = 0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default where it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        default = action.default
        if isinstance(default, tuple):
            default = "x".join(map(str, default))
        return f"{text} (default: {default})"


def _mesh_shape(text: str) -> tuple[int, int]:
    try:
        data, model = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected DATAxMODEL, for example 2x2, got {text!r}"
        ) from None
    if data < 1 or model < 1:
        raise argparse.ArgumentTypeError(f"mesh sizes must be >= 1, got {text!r}")
    return data, model


def parse_args(argv=None) -> tuple[Config, argparse.Namespace, argparse.ArgumentParser]:
    d = Config()
    p = argparse.ArgumentParser(
        prog="python -m examples.lm", description=__doc__.split("\n\n")[0],
        formatter_class=_Formatter,
    )
    p.add_argument("--loss", choices=LOSSES, default=d.loss, help="how the loss is computed")
    p.add_argument("--steps", type=int, default=d.steps, help="training steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per step")
    p.add_argument("--seq-len", type=int, default=d.seq_len, help="tokens per sequence (even)")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="V")
    p.add_argument("--dim", type=int, default=d.dim, help="model width D")
    p.add_argument("--layers", type=int, default=d.layers, help="transformer blocks")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="AdamW step")
    p.add_argument("--mesh", type=_mesh_shape, default="x".join(map(str, d.mesh)),
                   help="DATAxMODEL device mesh; its size must equal the device count")
    p.add_argument("--cpu-devices", type=int, default=4,
                   help="on a CPU-only host, how many host devices XLA forces (read before "
                        "JAX starts; ignored when XLA_FLAGS already sets it)")
    p.add_argument("--seed", type=int, default=d.seed, help="initialisation and data seed")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: runs/lm/<date-time>)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save parameters, optimizer state and step here with Orbax; started "
                        "again with the same flags, the run resumes from the latest one")
    p.add_argument("--checkpoint-every", type=int, default=50,
                   help="steps between checkpoints (the last step is always saved)")
    p.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                   help="compile all three loss variants first and print their first-batch "
                        "losses and memory table")
    distributed.add_flags(p)
    a = p.parse_args(argv)
    if a.checkpoint_every < 1:
        p.error(f"--checkpoint-every must be >= 1, got {a.checkpoint_every}")
    for name in ("steps", "batch_size", "seq_len", "vocab_size", "dim", "layers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.seq_len % 2:
        p.error(f"--seq-len must be even (a sequence and its copy), got {a.seq_len}")
    config = Config(
        vocab_size=a.vocab_size, dim=a.dim, layers=a.layers, seq_len=a.seq_len,
        batch_size=a.batch_size, steps=a.steps, learning_rate=a.learning_rate, loss=a.loss,
        mesh=a.mesh, seed=a.seed,
    )
    return config, a, p


def make_mesh(config: Config) -> jax.sharding.Mesh:
    data, model = config.mesh
    if data * model != jax.device_count():
        raise SystemExit(
            f"examples.lm: --mesh {data}x{model} needs {data * model} devices, but JAX sees "
            f"{jax.device_count()} ({jax.devices()[0].platform}). On CPU, pass --cpu-devices "
            f"{data * model}; elsewhere choose a mesh whose size is the device count."
        )
    if config.batch_size % data:
        raise SystemExit(
            f"examples.lm: --batch-size {config.batch_size} is not divisible by the {data} "
            "devices of the mesh's \"data\" axis."
        )
    if config.vocab_size % model:
        raise SystemExit(
            f"examples.lm: --vocab-size {config.vocab_size} is not divisible by the {model} "
            "devices of the mesh's \"model\" axis (each holds V / model classes)."
        )
    # Auto axes: GSPMD propagates the shardings through the model's code unannotated.
    return jax.make_mesh((data, model), ("data", "model"), axis_types=(AxisType.Auto,) * 2)


def loss_head(kind: str, mesh):
    """``(hidden (N, D), embedding (V, D), targets (N,)) -> mean loss`` for ``kind``."""
    if kind == "naive":
        return lambda h, w, y: jaxloss.cross_entropy(h @ w.T, y)
    if kind == "linear":
        return lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y)
    return jax.shard_map(
        partial(jaxloss.linear_cross_entropy, axis_name="data", class_axis_name="model"),
        mesh=mesh, in_specs=(P("data"), P("model"), P("data")), out_specs=P(),
    )


def param_shardings(params, mesh):
    """The embedding table split along V over "model"; everything else replicated."""

    def rule(path, _):
        names = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
        spec = P("model", None) if "embed" in names and "embedding" in names else P()
        return NamedSharding(mesh, spec)

    return jax.tree_util.tree_map_with_path(rule, params)


class Trainer:
    def __init__(self, config: Config, mesh):
        self.config, self.mesh = config, mesh
        model = CausalLM(config.vocab_size, config.dim, config.heads, config.layers,
                         config.seq_len, rngs=nnx.Rngs(config.seed))
        self.graphdef, params = nnx.split(model)
        self.shardings = param_shardings(params, mesh)
        self.params = jax.device_put(params, self.shardings)
        self.tx = optax.adamw(config.learning_rate)
        # The optimizer state is sharded like the parameters it tracks (the same path rule),
        # its step count replicated: every process then holds the same global arrays.
        opt_shardings = param_shardings(jax.eval_shape(self.tx.init, self.params), mesh)
        self.opt_state = jax.jit(self.tx.init, out_shardings=opt_shardings)(self.params)
        self.batch_sharding = NamedSharding(mesh, P("data", None))

    def hidden(self, params, tokens):
        model = nnx.merge(self.graphdef, params)
        h = model(tokens)
        return h.reshape(-1, h.shape[-1]), model.output_weight

    def loss(self, kind: str, params, batch):
        h, w = self.hidden(params, batch[:, :-1])
        return loss_head(kind, self.mesh)(h, w, batch[:, 1:].reshape(-1))

    def step_fn(self, kind: str):
        def step(params, opt_state, batch):
            value, grads = jax.value_and_grad(partial(self.loss, kind))(params, batch)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        return jax.jit(step, donate_argnums=(0, 1))

    def batch(self, step: int) -> jax.Array:
        """The global batch of ``step``; this process places only its own rows."""
        c = self.config
        tokens = batch_at(step, c.vocab_size, c.seq_len, c.batch_size,
                          exponent=c.zipf_exponent, seed=c.seed)
        return distributed.global_batch(self.batch_sharding, tokens.shape, 0,
                                        lambda rows: tokens[rows])


def compare_variants(trainer: Trainer, batch: jax.Array) -> tuple[list[dict], dict]:
    """Compiles the three variants' loss heads (fwd + bwd) and train steps; returns the table
    of per-device compiled temp memory (each row also holds the head's loss on ``batch``,
    which agree) and the compiled train steps."""
    h, w = jax.jit(trainer.hidden)(trainer.params, batch[:, :-1])
    y = batch[:, 1:].reshape(-1)
    rows, steps = [], {}
    for kind in LOSSES:
        head = jax.jit(jax.value_and_grad(loss_head(kind, trainer.mesh), argnums=(0, 1)))
        head = head.lower(h, w, y).compile()
        steps[kind] = trainer.step_fn(kind).lower(
            trainer.params, trainer.opt_state, batch).compile()
        rows.append({
            "loss": kind,
            "first_batch_loss": float(head(h, w, y)[0]),
            "head_temp_mib": head.memory_analysis().temp_size_in_bytes / 2**20,
            "step_temp_mib": steps[kind].memory_analysis().temp_size_in_bytes / 2**20,
        })
    return rows, steps


def plot(losses: list[float], config: Config, floor: float, unigram: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    ax.plot(np.arange(1, len(losses) + 1), losses, label=f"training loss ({config.loss})")
    ax.axhline(math.log(config.vocab_size), color="gray", ls="--",
               label=f"uniform guess, log V = {math.log(config.vocab_size):.2f}")
    ax.axhline(unigram, color="orange", ls="-.",
               label=f"token frequencies only, no copying = {unigram:.2f}")
    ax.axhline(floor, color="green", ls=":", label=f"best possible (frequencies + copying) = "
                                                   f"{floor:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(f"Copy task, V = {config.vocab_size}, mesh {config.mesh[0]}x{config.mesh[1]}")
    ax.set_ylim(0, max(max(losses), math.log(config.vocab_size)) * 1.05)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    config, args, parser = parse_args(argv)
    distributed.initialize_from_args(args, parser)  # before anything touches the devices
    main_process = distributed.is_main_process()
    say = print if main_process else (lambda *a, **k: None)
    mesh = make_mesh(config)
    say(f"devices: {jax.device_count()} x {jax.devices()[0].platform} in "
        f"{jax.process_count()} process(es), mesh {dict(mesh.shape)}; V = {config.vocab_size}, "
        f"D = {config.dim}, {config.batch_size} x {config.seq_len} tokens per step")
    checkpoints = None
    if args.checkpoint_dir is not None:  # raises before anything is written into the folder
        try:
            checkpoints = checkpoint_lib.Checkpoints(
                args.checkpoint_dir, config={k: v for k, v in dataclasses.asdict(config).items()
                                             if k != "steps"})
        except checkpoint_lib.CheckpointMismatchError as e:
            raise SystemExit(f"examples.lm: {e}") from None
    trainer = Trainer(config, mesh)
    first = trainer.batch(0)

    table: list[dict] = []
    step_fn = trainer.step_fn(config.loss)
    if args.compare:
        table, steps = compare_variants(trainer, first)
        step_fn = steps[config.loss]
        say("loss on the first batch: "
            + ", ".join(f"{row['loss']} {row['first_batch_loss']:.6f}" for row in table))
        say("\nper-device compiled temp memory (MiB)\n")
        say("| loss | loss head fwd+bwd | train step |\n|---|---:|---:|")
        for row in table:
            say(f"| {row['loss']} | {row['head_temp_mib']:.1f} | {row['step_temp_mib']:.1f} |")
        say()

    params, opt_state = trainer.params, trainer.opt_state
    losses: list[float] = []
    start = 0
    if checkpoints is not None and checkpoints.latest_step is not None:
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding),
            {"params": params, "opt_state": opt_state})
        restored = checkpoints.restore(abstract)
        params, opt_state = restored["params"], restored["opt_state"]
        start = checkpoints.latest_step
        losses = list(checkpoints.latest_meta["losses"])[:start]
        say(f"resuming from step {start} ({checkpoints.directory / str(start)})")
    bar = tqdm(range(start, config.steps), desc=f"training ({config.loss})", unit="step",
               initial=start, total=config.steps, disable=not main_process)
    for i in bar:
        params, opt_state, value = step_fn(params, opt_state, first if i == 0 else trainer.batch(i))
        losses.append(float(value))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        done = i + 1
        if checkpoints is not None and (done % args.checkpoint_every == 0 or done == config.steps):
            checkpoints.save(done, {"params": params, "opt_state": opt_state},
                             {"losses": losses})
    if checkpoints is not None:
        checkpoints.close()
    if not losses:
        say(f"nothing to do: the checkpoint is at step {start} of {config.steps}")
        return 0
    floor = optimal_loss(config.vocab_size, config.seq_len, config.zipf_exponent)
    unigram = unigram_loss(config.vocab_size, config.zipf_exponent)
    say(f"final loss {losses[-1]:.3f} nats/token (first {losses[0]:.3f}; uniform guess "
        f"{math.log(config.vocab_size):.3f}, token frequencies only {unigram:.3f}, best "
        f"possible {floor:.3f})")
    if not main_process:
        return 0
    out = args.out or Path("runs/lm") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    plot(losses, config, floor, unigram, out / "loss.png")
    metrics = {"config": dataclasses.asdict(config), "processes": jax.process_count(),
               "losses": losses, "variants": table, "best_possible": floor,
               "frequencies_only": unigram}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    say(f"wrote {out / 'loss.png'} and {out / 'metrics.json'}")
    return 0
