"""A complete optax training loop with jaxloss: focal loss plus class weights.

A small Flax NNX classifier learns four Gaussian blobs with a 50:1 class imbalance.
The class weights come from the training labels (``jaxloss.class_counts`` ->
``jaxloss.class_weights_from_counts``) and go, with ``gamma``, into
``jaxloss.focal_loss``, all inside one ``jax.jit``-compiled train step. Runs in
seconds on a CPU:

    python -m examples.optax_loop
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxloss

CLASS_SIZES = (2000, 600, 150, 40)  # training examples per class: imbalanced
NUM_CLASSES = len(CLASS_SIZES)


def make_data(seed: int = 0, dim: int = 8):
    """Gaussian blobs, one per class; the test split is balanced (200 per class)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.2, size=(NUM_CLASSES, dim))

    def sample(sizes):
        y = np.repeat(np.arange(NUM_CLASSES, dtype=np.int32), sizes)
        x = centers[y] + rng.normal(size=(len(y), dim))
        return x.astype(np.float32), y

    return (*sample(CLASS_SIZES), *sample([200] * NUM_CLASSES))


class Classifier(nnx.Module):
    def __init__(self, dim: int, hidden: int, num_classes: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(dim, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, num_classes, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.relu(self.hidden(x)))


def main(
    steps: int = 400,
    batch_size: int = 128,
    gamma: float = 2.0,
    weights: str = "effective_number",
    seed: int = 0,
    verbose: bool = True,
) -> dict:
    """Trains the classifier and returns the losses and the test metrics."""
    x_train, y_train, x_test, y_test = make_data(seed)

    # Class weights from the training labels: rare classes weigh more. (Jitted, so
    # that the few operations compile as one program instead of one by one.)
    @jax.jit
    def counts_and_weights(labels):
        counts = jaxloss.class_counts(labels, NUM_CLASSES)
        return counts, jaxloss.class_weights_from_counts(counts, method=weights, beta=0.999)

    counts, class_weights = counts_and_weights(y_train)

    # NNX model -> (static graph, parameter pytree), so the step is a pure function.
    model = Classifier(x_train.shape[1], 64, NUM_CLASSES, rngs=nnx.Rngs(seed))
    graphdef, params = nnx.split(model)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(params)

    def loss_fn(params, x, y):
        logits = nnx.merge(graphdef, params)(x)
        return jaxloss.focal_loss(logits, y, gamma=gamma, class_weights=class_weights)

    @jax.jit
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def predict(params, x):
        return jnp.argmax(nnx.merge(graphdef, params)(x), axis=-1)

    rng = np.random.default_rng(seed)
    losses = []
    for step in range(steps):
        idx = rng.integers(0, len(y_train), batch_size)
        params, opt_state, loss = train_step(params, opt_state, x_train[idx], y_train[idx])
        losses.append(float(loss))
        if verbose and (step % 100 == 0 or step == steps - 1):
            print(f"step {step:4d}  focal loss {loss:.4f}")

    preds = np.asarray(predict(params, x_test))
    recall = [float(np.mean(preds[y_test == c] == c)) for c in range(NUM_CLASSES)]
    accuracy = float(np.mean(preds == y_test))
    if verbose:
        print(f"class counts {np.asarray(counts).tolist()}")
        print(f"class weights {np.round(np.asarray(class_weights, np.float64), 3).tolist()}")
        print(f"test accuracy {accuracy:.3f}, recall per class {np.round(recall, 3).tolist()}")
    return {"losses": losses, "accuracy": accuracy, "recall": recall}


if __name__ == "__main__":
    main()
