"""Training and evaluation: the data on the device(s), one jitted ``lax.scan`` per epoch.

How it is laid out:

- The Flax NNX model is split once into a static graph definition and a pytree of
  parameters (``nnx.split``); ``train_step`` and ``eval_step`` are pure functions of
  that pytree and the optimiser state, so ``lax.scan``, ``jax.vmap`` (the ``sweep``
  subcommand) and sharding apply to them directly.
- Data: every process holds MNIST in host memory and draws the same permutation per
  epoch (from the data-order key, ``jax.random.permutation``); for each chunk of steps
  it gathers only the rows of each global batch that its own devices hold and
  ``jax.make_array_from_process_local_data`` assembles the global batches (see
  ``examples/distributed.py``). The last partial batch of an epoch is dropped, so every
  step has the same shape; the permutation changes every epoch, so no example is left
  out for good. Pixels are normalised inside the step.
- Compiled programs: one ``lax.scan`` over a chunk of steps, by default a whole epoch.
  With checkpoints every K steps, chunks end at multiples of K and at epoch ends; every
  chunk runs the same program of ``min(K, steps per epoch)`` steps, whose steps past the
  chunk's end are skipped by a ``lax.cond`` (one compilation whatever the chunking).
- Devices and processes: a one-dimensional ``Mesh`` over all devices of all processes
  with the axis ``"data"``. Every batch is ``NamedSharding(mesh, P("data"))``, so XLA
  splits each step over the devices and reduces the gradients across them (across
  processes too, with ``jax.distributed``). The loss is ``jaxloss``'s ``"mean"`` over the
  global batch: under ``jit`` with a sharded batch, its numerator and denominator are
  sums over all devices, so the normalisation is global (no mean of per-device means)
  and the result equals the one-device run up to float rounding (tested, also for two
  processes).
- Checkpoints (``--checkpoint-dir``): parameters, optimiser state and the data-order
  key, with the step, history and configuration (``examples/checkpoint.py``, Orbax);
  a run started again with the same flags resumes from the latest complete one and
  continues on the same data order, so it ends with the same parameters.
- Progress: the whole epoch is one XLA program, so the tqdm bar advances once per
  epoch and shows the epoch's train loss and test accuracy. Finer progress would need
  host callbacks from inside the scan, which cost speed and fire once per device.
- Hyperparameters that ``sweep`` may vary (``Hyperparams``) are traced arrays, never
  Python constants, so K models that differ in one of them are one ``jax.vmap``-ed
  program compiled once.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

import jaxloss
from examples import checkpoint as checkpoint_lib
from examples import distributed
from examples.mnist import metrics as metrics_lib
from examples.mnist.config import NUM_CLASSES, SWEEPABLE, Config
from examples.mnist.data import Dataset, prepare
from examples.mnist.model import MLP


class Hyperparams(NamedTuple):
    """The numeric hyperparameters, as arrays (scalars, or shape (K,) in a sweep)."""

    gamma: jax.Array
    label_smoothing: jax.Array
    l1: jax.Array
    tau: jax.Array
    max_margin: jax.Array
    scale: jax.Array
    epsilon: jax.Array
    learning_rate: jax.Array
    seed: jax.Array

    @classmethod
    def from_configs(cls, configs: list[Config]) -> Hyperparams:
        """Stacks the hyperparameters of several configs along a leading model axis."""
        return cls(
            **{
                name: np.array(
                    [getattr(c, name) for c in configs],
                    np.int32 if name == "seed" else np.float32,
                )
                for name in cls._fields
            }
        )


class TrainState(NamedTuple):
    params: Any  # nnx.State of the model's parameters
    opt_state: optax.OptState


@dataclasses.dataclass
class RunResult:
    """What one trained model leaves behind; ``report.write_run`` saves it."""

    config: Config
    history: list[dict]  # per epoch: train_loss, test_loss, test_accuracy, seconds
    step_losses: np.ndarray  # the training objective at every step
    predictions: np.ndarray  # final predicted class of each test example
    labels: np.ndarray  # test labels
    metrics: dict  # metrics.classification_report of the final model
    class_counts: np.ndarray  # of the training split
    class_weights: np.ndarray | None
    timing: dict
    num_devices: int
    num_processes: int = 1
    checkpoint: dict | None = None  # dir, resumed_from_step, saved_steps
    state: TrainState | None = None


def make_mesh(batch_size: int, devices=None) -> Mesh:
    """A one-dimensional mesh with axis ``"data"`` over ``devices`` (default: all)."""
    devices = jax.devices() if devices is None else list(devices)
    if batch_size % len(devices):
        lower = batch_size - batch_size % len(devices)
        processes = len({d.process_index for d in devices})
        where = f" ({processes} processes)" if processes > 1 else ""
        raise ValueError(
            f"--batch-size {batch_size} is not divisible by the {len(devices)} devices{where} "
            f"the batch is sharded over; choose a multiple of {len(devices)}, for example "
            f"{lower or len(devices)} or {lower + len(devices)}."
        )
    return Mesh(np.array(devices), ("data",))


def make_optimizer(learning_rate, schedule_steps: int | None = None):
    """Adam; the learning rate lives in the optimiser state, so it can be traced.

    With ``optax.inject_hyperparams`` the update reads the learning rate from the state
    that ``init`` made, so K states initialised with K learning rates are K optimisers.
    With ``schedule_steps``, the steps are further scaled by a cosine decay from 1 to 0
    over that many steps (``--schedule cosine``).
    """
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)
    if schedule_steps is None:
        return adam
    return optax.chain(
        adam, optax.scale_by_schedule(optax.cosine_decay_schedule(1.0, schedule_steps))
    )


@dataclasses.dataclass(frozen=True)
class Program:
    """What the compiled programs depend on besides array shapes (hashable, so cached).

    Everything numeric that a sweep may vary is an argument (``Hyperparams``), so runs
    that differ only in those, or only in data paths and epoch counts, share one
    compilation.
    """

    loss: str
    features: tuple[int, ...]
    mean: float
    std: float
    batch_size: int
    weighted: bool
    mesh: Mesh
    cosine: bool = False  # LDAM's cosine classifier as the last layer (model.MLP)
    schedule_steps: int | None = None  # cosine decay over this many steps; None: constant

    @classmethod
    def from_config(cls, config: Config, mesh: Mesh, train_size: int) -> Program:
        steps = config.num_epochs * (train_size // config.batch_size)
        return cls(
            schedule_steps=steps if config.schedule == "cosine" else None,
            loss=config.loss,
            features=(28 * 28, *config.hidden, NUM_CLASSES),
            mean=config.mean,
            std=config.std,
            batch_size=config.batch_size,
            weighted=config.class_weight_method != "none",
            mesh=mesh,
            cosine=config.loss == "ldam",
        )

    @functools.cached_property
    def graphdef(self):
        return nnx.graphdef(MLP(self.features, cosine=self.cosine, rngs=nnx.Rngs(0)))


def normalize(images: jax.Array, program: Program) -> jax.Array:
    """uint8 pixels -> [0, 1] -> (x - mean) / std, in float32."""
    return (images.astype(jnp.float32) / 255.0 - program.mean) / program.std


def loss_fn(params, images, labels, hp: Hyperparams, class_weights, class_counts, program: Program):
    """The training objective of ``program.loss`` on one batch of normalised images.

    ``class_counts`` (C,) are the training split's: the priors of ``logit_adjusted`` and
    the margins of ``ldam``.
    """
    logits = nnx.merge(program.graphdef, params)(images)
    if program.loss == "ldam":  # logits are cosines (program.cosine); no label smoothing
        return jaxloss.ldam_loss(
            logits,
            labels,
            class_counts=class_counts,
            max_margin=hp.max_margin,
            scale=hp.scale,
            class_weights=class_weights,
        )
    kwargs = {"class_weights": class_weights, "label_smoothing": hp.label_smoothing}
    if program.loss == "focal":
        loss = jaxloss.focal_loss(logits, labels, gamma=hp.gamma, **kwargs)
    elif program.loss == "logit_adjusted":
        loss = jaxloss.logit_adjusted_cross_entropy(
            logits, labels, class_counts=class_counts, tau=hp.tau, **kwargs
        )
    elif program.loss == "poly1":
        loss = jaxloss.poly1_cross_entropy(logits, labels, epsilon=hp.epsilon, **kwargs)
    else:
        loss = jaxloss.cross_entropy(logits, labels, **kwargs)
    if program.loss == "ce_l1":  # L1 on the weight matrices; biases are not penalised
        loss = loss + hp.l1 * jaxloss.l1_penalty(params, where=lambda path, x: x.ndim > 1)
    return loss


def train_step(
    state: TrainState, batch, hp: Hyperparams, class_weights, class_counts, *, program: Program
):
    """One Adam step on ``batch = (uint8 images, labels)``; returns (state, loss)."""
    images, labels = batch
    loss, grads = jax.value_and_grad(loss_fn)(
        state.params,
        normalize(images, program),
        labels,
        hp,
        class_weights,
        class_counts,
        program,
    )
    # The learning rate is read from opt_state (see make_optimizer), not from here.
    tx = make_optimizer(0.0, program.schedule_steps)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state), loss


def eval_step(params, hp: Hyperparams, batch, *, program: Program):
    """Summed plain cross-entropy and predictions on ``batch = (images, labels, mask)``.

    The test loss is unweighted cross-entropy whatever the training loss, so that it
    compares across losses; padding rows (``mask`` False) count for nothing. A cosine
    classifier's (``ldam``'s) logits are its cosines times ``hp.scale``, as in training.
    """
    images, labels, mask = batch
    logits = nnx.merge(program.graphdef, params)(normalize(images, program))
    if program.cosine:
        logits = hp.scale * logits
    loss_sum = jaxloss.cross_entropy(logits, labels, reduction="sum", where=mask)
    return loss_sum, jnp.argmax(logits, axis=-1).astype(jnp.int32)


def init_state(hp: Hyperparams, *, program: Program) -> TrainState:
    """Initialises parameters (from ``hp.seed``) and the optimiser state."""
    init_key = jax.random.fold_in(jax.random.key(hp.seed), 0)
    params = nnx.state(MLP(program.features, cosine=program.cosine, rngs=nnx.Rngs(init_key)))
    tx = make_optimizer(hp.learning_rate, program.schedule_steps)
    return TrainState(params, tx.init(params))


def data_key(seed) -> jax.Array:
    """The data-order key of ``seed`` as raw ``uint32`` key data (checkpointed as is)."""
    return jax.random.key_data(jax.random.fold_in(jax.random.key(seed), 1))


@jax.jit
def _permutations(data_keys, epoch, indices):
    # (K, n): `indices` (arange(n)) shuffled by each of the K keys (K, 2); the same
    # values as jax.random.permutation(key, n).
    def one(k):
        key = jax.random.fold_in(jax.random.wrap_key_data(k), epoch)
        return jax.random.permutation(key, indices)

    return jax.vmap(one)(data_keys)


def epoch_permutations(data_keys: np.ndarray, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training examples in ``epoch``, one row per data key.

    Computed on this process's default device; every process gets the same result.
    """
    return np.asarray(_permutations(data_keys, np.int32(epoch), np.arange(n, dtype=np.int32)))


def train_chunk(
    state,
    hp,
    class_weights,
    class_counts,
    images,
    labels,
    num_steps,
    *,
    program: Program,
    masked: bool,
):
    """``lax.scan`` of ``train_step`` over the first ``num_steps`` of the chunk's batches.

    ``images`` (L, batch, 784) and ``labels`` (L, batch) hold L batches. With ``masked``,
    steps from ``num_steps`` on are skipped (state unchanged, loss 0), so one compiled
    program of L steps runs every chunk length up to L; without, all L steps run (the
    chunks are always full: no checkpoints, or checkpoints every epoch or a divisor of it).
    """
    sharded = NamedSharding(program.mesh, P("data"))

    def body(state, xs):
        i, step_images, step_labels = xs
        batch = (
            jax.lax.with_sharding_constraint(step_images, sharded),
            jax.lax.with_sharding_constraint(step_labels, sharded),
        )
        if not masked:
            return train_step(state, batch, hp, class_weights, class_counts, program=program)
        return jax.lax.cond(
            i < num_steps,
            lambda s: train_step(s, batch, hp, class_weights, class_counts, program=program),
            lambda s: (s, jnp.zeros((), jnp.float32)),
            state,
        )

    steps = jnp.arange(labels.shape[0], dtype=jnp.int32)
    return jax.lax.scan(body, state, (steps, images, labels))


def evaluate(params, hp, images, labels, mask, *, program: Program):
    """``eval_step`` scanned over the test set in chunks; returns (mean loss, predictions)."""

    def body(total, batch):
        loss_sum, preds = eval_step(params, hp, batch, program=program)
        return total + loss_sum, preds

    total, preds = jax.lax.scan(body, jnp.zeros((), jnp.float32), (images, labels, mask))
    return total / jnp.sum(mask).astype(jnp.float32), preds.reshape(-1)


def _spec(shape, dtype, sharding):
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _vmap(num_models: int | None):
    return (lambda f, **_: f) if num_models is None else jax.vmap


def _hyperparams_spec(num_models: int | None, sharding) -> Hyperparams:
    k = () if num_models is None else (num_models,)
    floats = {f: _spec(k, jnp.float32, sharding) for f in Hyperparams._fields if f != "seed"}
    return Hyperparams(**floats, seed=_spec(k, jnp.int32, sharding))


# The compiled programs are cached per process, each keyed only by what it depends on:
# the runs of `compare` share the initialisation and evaluation programs, and runs that
# differ only in traced hyperparameters share all three. `num_models` None compiles for
# one model; an int K for K models vmapped together.


def compiled_init(program: Program, num_models: int | None):
    # Only the features and the optimiser's structure matter: key on those alone.
    program = dataclasses.replace(
        program, loss="ce", mean=0.0, std=1.0, batch_size=1, weighted=False
    )
    return _compiled_init(program, num_models)


@functools.lru_cache(maxsize=16)
def _compiled_init(program: Program, num_models: int | None):
    replicated = NamedSharding(program.mesh, P())
    fn = jax.jit(
        _vmap(num_models)(functools.partial(init_state, program=program)),
        out_shardings=replicated,
    )
    return fn.lower(_hyperparams_spec(num_models, replicated)).compile()


def batch_sharding(mesh: Mesh, per_model: bool) -> NamedSharding:
    """Chunks of batches, (L, batch, ...) or (K, L, batch, ...): split on the batch axis."""
    return NamedSharding(mesh, P(None, None, "data") if per_model else P(None, "data"))


@functools.lru_cache(maxsize=32)
def compiled_chunk(
    program: Program,
    num_models: int | None,
    length: int,
    per_model_data: bool,
    masked: bool = False,
):
    """The program of ``train_chunk`` for chunks of ``length`` steps (``masked``: of up
    to ``length`` steps).

    ``per_model_data``: in a sweep over seeds each model has its own data order, so the
    batches carry a leading model axis; otherwise all models see the same batches.
    """
    replicated = NamedSharding(program.mesh, P())
    batches = batch_sharding(program.mesh, per_model_data)
    init = compiled_init(program, num_models)
    state = jax.tree.map(lambda s: _spec(s.shape, s.dtype, replicated), init.out_info)
    weights = _spec((NUM_CLASSES,), jnp.float32, replicated) if program.weighted else None
    data_axis = 0 if per_model_data else None
    fn = jax.jit(
        _vmap(num_models)(
            functools.partial(train_chunk, program=program, masked=masked),
            in_axes=(0, 0, None, None, data_axis, data_axis, None),
        ),
        out_shardings=replicated,
        donate_argnums=0,
    )
    k = (num_models,) if per_model_data else ()
    shape = (*k, length, program.batch_size)
    return fn.lower(
        state,
        _hyperparams_spec(num_models, replicated),
        weights,
        _spec((NUM_CLASSES,), jnp.float32, replicated),
        _spec((*shape, 28 * 28), jnp.uint8, batches),
        _spec(shape, jnp.int32, batches),
        _spec((), jnp.int32, replicated),
    ).compile()


@functools.lru_cache(maxsize=16)
def compiled_eval(program: Program, num_models: int | None, test_shape: tuple[int, int]):
    replicated = NamedSharding(program.mesh, P())
    chunked = NamedSharding(program.mesh, P(None, "data"))
    init = compiled_init(program, num_models)
    params = jax.tree.map(lambda s: _spec(s.shape, s.dtype, replicated), init.out_info.params)
    fn = jax.jit(
        _vmap(num_models)(
            functools.partial(evaluate, program=program), in_axes=(0, 0, None, None, None)
        ),
        out_shardings=replicated,
    )
    return fn.lower(
        params,
        _hyperparams_spec(num_models, replicated),
        _spec((*test_shape, 28 * 28), jnp.uint8, chunked),
        _spec(test_shape, jnp.int32, chunked),
        _spec(test_shape, jnp.bool_, chunked),
    ).compile()


def _put(array: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Places a host array that every process holds in full (works across hosts too)."""
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _chunk_test_set(ds: Dataset, config: Config, num_devices: int):
    """Pads the test set to whole chunks of a multiple of the device count; adds a mask."""
    n = len(ds.y_test)
    size = -(-min(config.eval_batch_size, n) // num_devices) * num_devices
    chunks = -(-n // size)
    pad = chunks * size - n
    images = np.concatenate([ds.x_test, np.zeros((pad, ds.x_test.shape[1]), np.uint8)])
    labels = np.concatenate([ds.y_test, np.zeros(pad, np.int32)])
    mask = np.arange(chunks * size) < n
    return (
        images.reshape(chunks, size, -1),
        labels.reshape(chunks, size),
        mask.reshape(chunks, size),
    )


@functools.partial(jax.jit, static_argnames="method")
def _counts_and_weights(labels, beta, *, method: str):
    # Jitted: one compilation instead of one per operation when run eagerly.
    counts = jaxloss.class_counts(labels, NUM_CLASSES)
    return counts, jaxloss.class_weights_from_counts(counts, method=method, beta=beta)


def _class_weights(ds: Dataset, config: Config):
    """Training class counts and the class weights of ``config`` (None for "none")."""
    method = config.class_weight_method
    counts, weights = _counts_and_weights(
        ds.y_train, np.float32(config.beta), method="balanced" if method == "none" else method
    )
    return np.asarray(counts), None if method == "none" else np.asarray(weights, np.float32)


def epoch_class_weights(config: Config, class_weights: np.ndarray | None, epoch: int):
    """The class weights that epoch ``epoch`` (0-based) trains with.

    ``class_weights`` from its first epoch on, except for ``ldam``'s deferred re-weighting
    (LDAM-DRW, Cao et al. 2019): all ones (no weights; with ones, "mean" divides by the
    batch size, as without weights) before ``config.drw_start``. None stays None.
    """
    if class_weights is None or epoch >= config.drw_start:
        return class_weights
    return np.ones_like(class_weights)


# Config fields that do not change the training trajectory: a checkpoint may be resumed
# with other values of these. ``num_epochs`` joins them unless a cosine schedule ties
# the learning rate to the run's length (a constant-rate run may be extended).
_NOT_IN_CHECKPOINT = ("max_test", "eval_batch_size", "data_dir", "download")


def checkpoint_config(configs: list[Config]) -> dict:
    """What a checkpoint of these models depends on: stored with it and compared on resume.

    One flat dict; a field that differs between the models of a sweep is a list.
    """
    dicts = [c.to_dict() for c in configs]
    out = {"models": len(configs)}
    for key in dicts[0]:
        if key in _NOT_IN_CHECKPOINT or (key == "num_epochs" and configs[0].schedule != "cosine"):
            continue
        values = [d[key] for d in dicts]
        out[key] = values if any(v != values[0] for v in values) else values[0]
    return out


def _fit(
    configs: list[Config],
    ds: Dataset,
    *,
    batched: bool,
    progress: bool,
    devices=None,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
):
    """Trains one model (``batched=False``) or ``len(configs)`` models vmapped as one."""
    config = configs[0]
    mesh = make_mesh(config.batch_size, devices)
    n_train = len(ds.y_train)
    program = Program.from_config(config, mesh, n_train)
    replicated = NamedSharding(mesh, P())
    if n_train < config.batch_size:
        raise ValueError(
            f"the training split has {n_train} examples, fewer than one batch of "
            f"{config.batch_size}; lower --batch-size or raise --max-train."
        )
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1 step, got {checkpoint_every}.")
    steps_per_epoch = n_train // config.batch_size
    total_steps = config.num_epochs * steps_per_epoch
    every = checkpoint_every or steps_per_epoch
    # Chunk of steps per compiled call: an epoch, or up to the next checkpoint. Chunks
    # are all full unless checkpoints and epochs interleave unevenly (then masked).
    length = min(every, steps_per_epoch) if checkpoint_dir is not None else steps_per_epoch
    masked = max(every, steps_per_epoch) % length != 0 and checkpoint_dir is not None
    checkpoints = None
    if checkpoint_dir is not None:  # raises before anything is written into the folder
        checkpoints = checkpoint_lib.Checkpoints(checkpoint_dir, config=checkpoint_config(configs))
        if checkpoints.latest_step is not None and checkpoints.latest_step > total_steps:
            raise checkpoint_lib.CheckpointMismatchError(
                f"--checkpoint-dir {checkpoints.directory} holds step "
                f"{checkpoints.latest_step}, past the {total_steps} steps of this run "
                f"({config.num_epochs} epochs of {steps_per_epoch}); raise --epochs to "
                f"continue it, or choose another --checkpoint-dir."
            )
    counts, class_weights = _class_weights(ds, config)
    hp = Hyperparams.from_configs(configs)
    if not batched:
        hp = jax.tree.map(lambda a: a[0], hp)
    hp = jax.tree.map(lambda a: _put(a, replicated), hp)
    # The class weights of each epoch, placed once per distinct value (LDAM-DRW: two).
    placed = {}

    def weights_at(epoch):
        w = epoch_class_weights(config, class_weights, epoch)
        if w is None:
            return None
        key = w.tobytes()
        if key not in placed:
            placed[key] = _put(w, replicated)
        return placed[key]

    counts_on_device = _put(np.asarray(counts, np.float32), replicated)
    test = _chunk_test_set(ds, config, mesh.size)
    test = tuple(_put(a, NamedSharding(mesh, P(None, "data"))) for a in test)
    # Each model's data order; a sweep over seeds gives each model its own batches.
    keys = np.stack([np.asarray(data_key(c.seed)) for c in configs])
    per_model_data = batched and len({c.seed for c in configs}) > 1

    if progress:
        what = f"{len(configs)} vmapped models" if batched else "the model"
        print(f"compiling init, training and evaluation programs for {what}...", file=sys.stderr)
    t0 = time.perf_counter()
    k = len(configs) if batched else None
    # The evaluation program does not depend on the loss (but for a cosine classifier's
    # scale): key it on a neutral one.
    eval_program = dataclasses.replace(
        program, loss="ce", batch_size=1, weighted=False, schedule_steps=None
    )
    init_fn = compiled_init(program, k)
    chunk_fn = compiled_chunk(program, k, length, per_model_data, masked)
    eval_fn = compiled_eval(eval_program, k, test[1].shape)
    epoch_permutations(keys, 0, n_train)  # compiles the data order's program too
    compile_s = time.perf_counter() - t0  # ~0 when an earlier run compiled them
    state = init_fn(hp)

    n_test = len(ds.y_test)
    k = len(configs)
    histories = [[] for _ in range(k)]
    step_losses = np.zeros((k, 0), np.float32)
    step = 0
    if checkpoints is not None and checkpoints.latest_step is not None:
        abstract = {
            "params": state.params,
            "opt_state": state.opt_state,
            "data_key": _put(keys if batched else keys[0], replicated),
        }
        abstract = jax.tree.map(lambda a: _spec(a.shape, a.dtype, a.sharding), abstract)
        restored = checkpoints.restore(abstract)
        state = TrainState(restored["params"], restored["opt_state"])
        keys = np.asarray(restored["data_key"]).reshape(k, -1)
        meta = checkpoints.latest_meta
        step = checkpoints.latest_step
        step_losses = np.asarray(meta["step_losses"], np.float32).reshape(k, step)
        histories = [list(h) for h in meta["histories"]]
        if distributed.is_main_process():
            where = checkpoints.directory / str(step)
            print(f"resuming from step {step} of {total_steps} ({where})", file=sys.stderr)
    resumed_from = step if step else None
    saved = []

    def save(step):
        state_tree = {
            "params": state.params,
            "opt_state": state.opt_state,
            "data_key": _put(keys if batched else keys[0], replicated),
        }
        meta = {"step_losses": step_losses.tolist(), "histories": histories}
        checkpoints.save(step, state_tree, meta)
        saved.append(step)

    bar = tqdm(
        total=config.num_epochs,
        initial=step // steps_per_epoch,
        desc="training",
        unit="epoch",
        leave=False,
        disable=None if progress else True,  # None: no bar when not on a terminal
    )
    # The chunks of steps left: each ends at an epoch's end or a checkpoint step.
    bounds = set(range(steps_per_epoch, total_steps + 1, steps_per_epoch))
    if checkpoints is not None:
        bounds |= set(range(every, total_steps, every))
    ends = sorted(e for e in bounds if e > step)
    chunks = list(zip([step, *ends][:-1], ends, strict=True))
    batches = batch_sharding(mesh, per_model_data)
    perms = {}

    def load(start, end):
        """The global batches of steps [start, end), padded to ``length`` steps."""
        epoch, offset = divmod(start, steps_per_epoch)
        if epoch not in perms:
            perms.clear()
            perms[epoch] = epoch_permutations(keys, epoch, n_train)
        n, b = end - start, config.batch_size
        order = perms[epoch][:, offset * b : (offset + n) * b].reshape(k, n, b)
        order = np.pad(order, ((0, 0), (0, length - n), (0, 0)))  # skipped steps: row 0
        if not per_model_data:
            order = order[0]
        # This process gathers only the rows of each batch its devices hold.
        axis = order.ndim - 1
        images = distributed.global_batch(
            batches, (*order.shape, 28 * 28), axis, lambda rows: ds.x_train[order[..., rows]]
        )
        labels = distributed.global_batch(
            batches, order.shape, axis, lambda rows: ds.y_train[order[..., rows]]
        )
        return images, labels

    train_s = 0.0
    epoch_s = 0.0
    preds = None
    t = time.perf_counter()
    pending = load(*chunks[0]) if chunks else None
    for i_chunk, (start, end) in enumerate(chunks):
        epoch, n = start // steps_per_epoch, end - start
        state, losses = chunk_fn(  # dispatched
            state, hp, weights_at(epoch), counts_on_device, *pending, np.int32(n)
        )
        if i_chunk + 1 < len(chunks):  # the next batches, while the devices compute
            pending = load(*chunks[i_chunk + 1])
        losses = np.asarray(losses).reshape(k, -1)[:, :n]  # blocks until the chunk is done
        seconds = time.perf_counter() - t  # training only: evaluation and saving follow
        train_s += seconds
        epoch_s += seconds
        step_losses = np.concatenate([step_losses, losses], axis=1)
        step = end
        if step % steps_per_epoch == 0:
            test_loss, preds = eval_fn(state.params, hp, *test)
            test_loss = np.asarray(test_loss).reshape(k)
            preds = np.asarray(preds).reshape(k, -1)[:, :n_test]
            for i in range(k):
                histories[i].append(
                    {
                        "epoch": epoch + 1,
                        "train_loss": float(step_losses[i, epoch * steps_per_epoch :].mean()),
                        "test_loss": float(test_loss[i]),
                        "test_accuracy": float(np.mean(preds[i] == ds.y_test)),
                        "class_weighted": weights_at(epoch) is not None
                        and epoch >= config.drw_start,
                        "train_seconds": epoch_s,
                    }
                )
            bar.update(1)
            if progress:
                acc = " ".join(f"{h[-1]['test_accuracy']:.2%}" for h in histories)
                loss = " ".join(f"{h[-1]['train_loss']:.4f}" for h in histories)
                tqdm.write(
                    f"epoch {epoch + 1}/{config.num_epochs}  train loss {loss}  "
                    f"test accuracy {acc}  ({epoch_s:.2f}s)",
                    file=sys.stderr,
                )
            epoch_s = 0.0
        if checkpoints is not None and (step % every == 0 or step == total_steps):
            save(step)
        t = time.perf_counter()
    bar.close()
    if preds is None:  # resumed from the final checkpoint: evaluate the restored model
        _, preds = eval_fn(state.params, hp, *test)
        preds = np.asarray(preds).reshape(k, -1)[:, :n_test]
    if checkpoints is not None:
        checkpoints.close()
    timing = {"compile_seconds": compile_s, "train_seconds": train_s}
    checkpoint_info = None
    if checkpoints is not None:
        checkpoint_info = {
            "dir": str(checkpoints.directory),
            "resumed_from_step": resumed_from,
            "saved_steps": saved,
        }
    results = []
    for i, cfg in enumerate(configs):
        report = metrics_lib.classification_report(
            ds.y_test,
            preds[i],
            NUM_CLASSES,
            minority_classes=cfg.minority_classes if cfg.imbalance < 1.0 else (),
        )
        results.append(
            RunResult(
                config=cfg,
                history=histories[i],
                step_losses=step_losses[i],
                predictions=preds[i],
                labels=ds.y_test,
                metrics=report,
                class_counts=counts,
                class_weights=class_weights,
                timing=timing,
                num_devices=mesh.size,
                num_processes=jax.process_count(),
                checkpoint=checkpoint_info,
                state=jax.tree.map(lambda a, i=i: a[i], state) if batched else state,
            )
        )
    return results


def train_and_evaluate(
    config: Config,
    dataset: Dataset | None = None,
    *,
    progress: bool = True,
    devices=None,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
) -> RunResult:
    """Trains the model of ``config`` and evaluates it on the test split after each epoch.

    Args:
      config: the run's configuration.
      dataset: the prepared data (``data.prepare(config)`` when None), to share one
        load across runs.
      progress: show the tqdm bar and per-epoch lines.
      devices: the devices to shard the batch over (default: all, of all processes).
      checkpoint_dir: save the train state there every ``checkpoint_every`` steps (default:
        every epoch) and at the end, and resume from the latest complete checkpoint in it.
      checkpoint_every: steps between checkpoints.

    Returns:
      A ``RunResult`` with the history, the final metrics and the trained state.

    Raises:
      ValueError: the batch size does not divide over the devices, or the split is
        smaller than one batch.
      examples.checkpoint.CheckpointMismatchError: ``checkpoint_dir`` holds a checkpoint
        of another configuration, one past this run's last step, or other files.
    """
    dataset = prepare(config) if dataset is None else dataset
    return _fit(
        [config],
        dataset,
        batched=False,
        progress=progress,
        devices=devices,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
    )[0]


def check_sweep(config: Config, name: str) -> None:
    """Raises ValueError unless ``name`` can be swept and changes ``config.loss``."""
    if name not in SWEEPABLE:
        raise ValueError(f"sweep can vary one of {SWEEPABLE}, got {name!r}.")
    needs = {
        "gamma": "focal",
        "l1": "ce_l1",
        "tau": "logit_adjusted",
        "max_margin": "ldam",
        "scale": "ldam",
        "epsilon": "poly1",
    }
    if name in needs and config.loss != needs[name]:
        raise ValueError(
            f"sweeping {name} needs --loss {needs[name]} (it does not enter --loss "
            f"{config.loss}), otherwise all models would be the same."
        )


def sweep(
    config: Config,
    name: str,
    values,
    dataset: Dataset | None = None,
    *,
    progress: bool = True,
    devices=None,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
) -> list[RunResult]:
    """Trains one model per value of hyperparameter ``name``, all as one vmapped program.

    Every model starts from the same seed (unless ``name`` is ``"seed"``) and sees the
    same batches, so model ``i`` equals ``train_and_evaluate(config.replace(name=values[i]))``
    up to float rounding. One compilation serves all of them.
    """
    check_sweep(config, name)
    cast = int if name == "seed" else float
    configs = [config.replace(**{name: cast(v)}) for v in values]
    dataset = prepare(config) if dataset is None else dataset
    return _fit(
        configs,
        dataset,
        batched=True,
        progress=progress,
        devices=devices,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
    )
