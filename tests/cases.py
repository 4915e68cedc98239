"""The case registry: one or more small cases per public name, shared by every test that
runs each export the same way: the transformation matrix, the conventions over ``__all__``,
the per-element weights rule (``tests/test_weights.py``), shard_map and pmap
(``tests/_sharding_script.py``) and the generic errors (``tests/test_errors.py``).

Each case is a callable with a representative option set, inputs (float64 where values are
compared), the float64 NumPy reference of ``tests/reference.py`` on the same arguments, and
which arguments are differentiable data, numeric (traceable) hyperparameters and float
targets. A new export joins every table by getting a case here: the weights, sharding and
error tables run the first case of each name (``TABLE_CASE``), calling the function itself
with the case's arguments and ``options`` (``call``), so that they can change its reduction,
weights, mask or device mesh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import reference as ref

import jaxloss

TRANSFORMATIONS = (
    "jit",
    "vmap",
    "grad",
    "jvp",
    "hessian",
    "checkpoint",
    "eval_shape",
    "export",
    "grad_hyper",
    "grad_target",
    "dtype",
)
# The transformations that differentiate with respect to the data arguments.
DIFFERENTIATING = ("grad", "jvp", "hessian", "dtype")
# The generic error checks of tests/test_errors.py (each applies where the signature and the
# case's arguments say it can; a case lists the ones that do not in ``not_applicable``).
ERROR_CHECKS = (
    "unknown_reduction",
    "integer_input",
    "swapped_arguments",
    "bad_where",
    "class_weights_length",
    "target_shape",
    "label_shape",
)


# =============================================================================================
# The registry
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class Case:
    """One public name with a representative option set.

    ``fn(**args)`` calls jaxloss; ``ref(**args)`` is the float64 reference of the same
    arguments; ``make(rng)`` draws the arguments (float64 floats, int32 integers). Every
    argument is exactly one of: ``data`` (differentiable inputs, the first one is the one the
    Hessian is taken over), ``hyper`` (numeric traceable hyperparameters), ``target`` (a
    float target) or an integer argument.

    What the weights, sharding and error tables need (they use the first case of a name):
    ``options`` are the keywords ``fn`` passes besides ``make``'s arguments, so that
    ``call(case, args)`` is ``fn(**args)`` (``None``: ``fn`` is not such a call, e.g. the
    penalties' pytree); ``element_shape`` is the shape ``weights`` and ``where`` broadcast to
    (``None``: the shape of ``reduction="none"``); ``batch_axes`` maps each argument that holds
    the batch to its batch axis, the one a device mesh splits (``None``: every argument but the
    hyperparameters, on axis 0). ``not_applicable`` also names the ``ERROR_CHECKS`` that do not
    apply, with the reason.
    """

    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    make: Callable[[np.random.Generator], dict[str, np.ndarray]]
    data: tuple[str, ...] = ()
    hyper: tuple[str, ...] = ()
    target: str | None = None
    not_applicable: dict[str, str] = dataclasses.field(default_factory=dict)
    blocked: bool = False
    options: dict[str, Any] | None = dataclasses.field(default_factory=dict)
    element_shape: tuple[int, ...] | None = None
    batch_axes: dict[str, int] | None = None


def table_cases() -> dict[str, Case]:
    """The first case of each public name: the one the weights, sharding and error tables
    run (it calls the function most plainly). Read when called, so that cases appended to
    ``REGISTRY`` below it count."""
    first: dict[str, Case] = {}
    for case in REGISTRY.values():
        first.setdefault(case.name, case)
    return first


def call(case: Case, args: dict[str, Any], **more: Any) -> Any:
    """``case``'s function on ``args`` with the case's options, ``more`` replacing them (a key
    given as ``None`` drops the option: ``call(case, args, where=None)`` has no mask)."""
    assert case.options is not None, f"{case.name}: the case's fn is not a plain call"
    kwargs = {**case.options, **more}
    return getattr(jaxloss, case.name)(**args, **{k: v for k, v in kwargs.items()
                                                   if v is not None})


def element_shape(case: Case, args: dict[str, Any]) -> tuple[int, ...]:
    """The shape ``weights`` and ``where`` broadcast to: the case's ``element_shape`` or that
    of the unreduced loss (shapes only: nothing runs)."""
    if case.element_shape is not None:
        return case.element_shape
    out = jax.eval_shape(lambda a: call(case, a, reduction="none", where=None, weights=None),
                         args)
    return tuple(out.shape)


def batch_axes(case: Case, args: dict[str, Any]) -> dict[str, int]:
    """Each argument that holds the batch, with its batch axis (what a device mesh splits);
    the others (hyperparameters, class weights, a shared weight matrix) are replicated."""
    if case.batch_axes is not None:
        return case.batch_axes
    return {k: 0 for k in args if k not in case.hyper}


def _normal(rng, shape, scale=2.0):
    return scale * rng.standard_normal(shape)


def _away_from_zero(rng, shape):
    """Values with |x| >= 0.2 (the l1 penalty is not differentiable at 0)."""
    return np.sign(rng.standard_normal(shape)) * (0.2 + np.abs(rng.standard_normal(shape)))


def _labels(rng, shape, num_classes, ignore_index, ignored=(1,)):
    """Integer labels of JAX's default integer dtype (int64 under x64; int32 labels under x64
    are covered by ``test_int32_targets_under_x64``)."""
    y = rng.integers(0, num_classes, shape).astype(np.int64)
    flat = y.reshape(-1)
    for i in ignored:
        flat[i] = ignore_index
    return y


def _softmax_np(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _weights(rng, n):
    return rng.uniform(0.5, 2.0, (n,))


def _f(v):
    return np.asarray(v, np.float64)


# --- softmax classification ------------------------------------------------------------------


def _ce_make(rng):
    return {
        "logits": _normal(rng, (5, 4)),
        "targets": _labels(rng, (5,), 4, -1),
        "class_weights": _weights(np.random.default_rng(100), 4),
        "label_smoothing": _f(0.1),
        "z_loss": _f(0.05),
    }


def _ce_fn(logits, targets, class_weights, label_smoothing, z_loss):
    return jaxloss.cross_entropy(
        logits, targets, class_weights=class_weights, ignore_index=-1,
        label_smoothing=label_smoothing, z_loss=z_loss,
    )


def _ce_ref(logits, targets, class_weights, label_smoothing, z_loss):
    return ref.cross_entropy(
        logits, targets, class_weights=class_weights, ignore_index=-1,
        label_smoothing=label_smoothing, z_loss=z_loss,
    )


# Probability targets, channel-first (N, C, d) with axis=1, a `where` mask, "sum".
CE_PROBS_WHERE = np.array([[True, True], [True, False], [True, True]])


def _ce_probs_make(rng):
    targets = _softmax_np(_normal(rng, (3, 4, 2)), axis=1)
    targets[0, :, 0] = [0.0, 1.0, 0.0, 0.0]  # a hard label: exact zeros in the targets
    return {
        "logits": _normal(rng, (3, 4, 2)),
        "targets": targets,
        "class_weights": _weights(np.random.default_rng(101), 4),
        "label_smoothing": _f(0.1),
        "z_loss": _f(0.05),
    }


def _ce_probs_fn(logits, targets, class_weights, label_smoothing, z_loss):
    return jaxloss.cross_entropy(
        logits, targets, class_weights=class_weights, label_smoothing=label_smoothing,
        z_loss=z_loss, axis=1, where=CE_PROBS_WHERE, reduction="sum",
    )


def _ce_probs_ref(logits, targets, class_weights, label_smoothing, z_loss):
    return ref.cross_entropy(
        logits, targets, class_weights=class_weights, label_smoothing=label_smoothing,
        z_loss=z_loss, axis=1, where=CE_PROBS_WHERE, reduction="sum",
    )


# The row-blocked CPU path on a tiny input: 7 rows of 11 classes, blocks of 4 rows.
BLOCKED_SHAPE = (7, 11)


def _ce_blocked_make(rng):
    return {
        "logits": _normal(rng, BLOCKED_SHAPE),
        "targets": _labels(rng, BLOCKED_SHAPE[:1], BLOCKED_SHAPE[1], -100, ignored=(2,)),
        "class_weights": _weights(np.random.default_rng(102), BLOCKED_SHAPE[1]),
        "z_loss": _f(0.05),
    }


def _ce_blocked_fn(logits, targets, class_weights, z_loss):
    return jaxloss.cross_entropy(logits, targets, class_weights=class_weights, z_loss=z_loss)


def _ce_blocked_ref(logits, targets, class_weights, z_loss):
    return ref.cross_entropy(logits, targets, class_weights=class_weights, z_loss=z_loss)


def _nll_make(rng):
    logits = _normal(rng, (6, 3))
    return {
        "log_probs": logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True)),
        "targets": _labels(rng, (6,), 3, -100, ignored=(4,)),
        "class_weights": _weights(np.random.default_rng(103), 3),
    }


def _nll_fn(log_probs, targets, class_weights):
    return jaxloss.nll_loss(log_probs, targets, class_weights=class_weights, reduction="none")


def _nll_ref(log_probs, targets, class_weights):
    return ref.nll_loss(log_probs, targets, class_weights=class_weights, reduction="none")


def _focal_make(rng):
    return {
        "logits": _normal(rng, (5, 4)),
        "targets": _labels(rng, (5,), 4, -100, ignored=(3,)),
        "gamma": _f(2.0),
        "class_weights": _weights(np.random.default_rng(104), 4),
        "label_smoothing": _f(0.1),
    }


def _focal_fn(logits, targets, gamma, class_weights, label_smoothing):
    return jaxloss.focal_loss(
        logits, targets, gamma=gamma, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _focal_ref(logits, targets, gamma, class_weights, label_smoothing):
    return ref.focal_loss(
        logits, targets, gamma=gamma, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _focal_probs_make(rng):
    targets = _softmax_np(_normal(rng, (4, 3)), axis=-1)
    targets[1] = [0.0, 0.0, 1.0]  # hard labels: exact zeros in the targets
    targets[3] = [0.3, 0.0, 0.7]
    return {"logits": _normal(rng, (4, 3)), "targets": targets, "gamma": _f(1.5)}


def _focal_probs_fn(logits, targets, gamma):
    return jaxloss.focal_loss(logits, targets, gamma=gamma, reduction="sum")


def _focal_probs_ref(logits, targets, gamma):
    return ref.focal_loss(logits, targets, gamma=gamma, reduction="sum")


def _focal_blocked_make(rng):
    return {
        "logits": _normal(rng, BLOCKED_SHAPE),
        "targets": _labels(rng, BLOCKED_SHAPE[:1], BLOCKED_SHAPE[1], -100, ignored=(5,)),
        "gamma": _f(2.0),
        "class_weights": _weights(np.random.default_rng(105), BLOCKED_SHAPE[1]),
        "label_smoothing": _f(0.1),
    }


# --- binary ----------------------------------------------------------------------------------


def _binary_targets(rng, shape):
    """Soft targets in [0, 1] with exact 0s and 1s."""
    t = rng.uniform(size=shape)
    flat = t.reshape(-1)
    flat[::3] = 0.0
    flat[1::3] = 1.0
    return t


def _bce_make(rng):
    return {
        "logits": _normal(rng, (3, 4)),
        "targets": _binary_targets(rng, (3, 4)),
        "pos_weight": np.random.default_rng(106).uniform(0.5, 3.0, (4,)),
        "weights": np.random.default_rng(107).uniform(0.5, 2.0, (3, 1)),
        "label_smoothing": _f(0.1),
    }


def _bce_fn(logits, targets, pos_weight, weights, label_smoothing):
    return jaxloss.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=pos_weight, weights=weights, label_smoothing=label_smoothing
    )


def _bce_ref(logits, targets, pos_weight, weights, label_smoothing):
    return ref.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=pos_weight, weights=weights, label_smoothing=label_smoothing
    )


# The "none" reduction and a `where` mask: the elementwise primitive (the case above runs the
# summed one, which "mean"/"sum" use without a mask).
BINARY_WHERE = np.array([True, False, True])[:, None]


def _bce_none_fn(logits, targets, pos_weight):
    return jaxloss.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=pos_weight, where=BINARY_WHERE, reduction="none"
    )


def _bce_none_ref(logits, targets, pos_weight):
    return ref.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=pos_weight, where=BINARY_WHERE, reduction="none"
    )


def _bce_none_make(rng):
    args = _bce_make(rng)
    del args["weights"], args["label_smoothing"]
    return args


def _sfl_make(rng):
    return {
        "logits": _normal(rng, (3, 4)),
        "targets": _binary_targets(rng, (3, 4)),
        "alpha": _f(0.25),
        "gamma": _f(1.5),  # traced, non-integer: the exp(g log s) path
        "pos_weight": np.random.default_rng(112).uniform(0.5, 3.0, (4,)),
        "class_weights": np.random.default_rng(113).uniform(0.5, 2.0, (4,)),
        "weights": np.random.default_rng(114).uniform(0.5, 2.0, (3, 1)),  # per row
    }


def _sfl_fn(logits, targets, alpha, gamma, pos_weight, class_weights, weights):
    return jaxloss.sigmoid_focal_loss(
        logits, targets, alpha=alpha, gamma=gamma, pos_weight=pos_weight,
        class_weights=class_weights, weights=weights, reduction="sum",
    )


def _sfl_ref(logits, targets, alpha, gamma, pos_weight, class_weights, weights):
    return ref.sigmoid_focal_loss(
        logits, targets, alpha=alpha, gamma=gamma, pos_weight=pos_weight,
        class_weights=class_weights, weights=weights, reduction="sum",
    )


def _sfl_int_make(rng):
    return {"logits": _normal(rng, (3, 4)), "targets": _binary_targets(rng, (3, 4))}


def _sfl_int_fn(logits, targets):
    """A concrete integer gamma (the default 2): the integer_pow path, elementwise."""
    return jaxloss.sigmoid_focal_loss(logits, targets, where=BINARY_WHERE, reduction="none")


def _sfl_int_ref(logits, targets):
    return ref.sigmoid_focal_loss(logits, targets, where=BINARY_WHERE, reduction="none")


def _asl_make(rng):
    """Logits with sigmoid above the clip (p > 0.05 at x > -2.94): at a target of exactly 0 a
    clipped negative has 1 - p_t = 0, where the finite differences of the reference step
    outside [0, 1] (the clipped region itself is tested in test_binary.py)."""
    return {
        "logits": rng.uniform(-2.5, 3.0, (3, 4)),
        "targets": _binary_targets(rng, (3, 4)),
        "gamma_pos": _f(1.0),
        "gamma_neg": _f(4.0),
        "clip": _f(0.05),
    }


def _asl_fn(logits, targets, gamma_pos, gamma_neg, clip):
    return jaxloss.asymmetric_loss(
        logits, targets, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip
    )


def _asl_ref(logits, targets, gamma_pos, gamma_neg, clip):
    return ref.asymmetric_loss(
        logits, targets, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip
    )


def _asl_where_make(rng):
    return {**_asl_make(rng),
            "weights": np.random.default_rng(115).uniform(0.5, 2.0, (4,))}  # per label


def _asl_where_fn(logits, targets, gamma_pos, gamma_neg, clip, weights):
    """"mean" over a `where` mask with per-label weights: the summed primitive with the mask
    inside."""
    return jaxloss.asymmetric_loss(
        logits, targets, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, weights=weights,
        where=BINARY_WHERE,
    )


def _asl_where_ref(logits, targets, gamma_pos, gamma_neg, clip, weights):
    return ref.asymmetric_loss(
        logits, targets, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, weights=weights,
        where=BINARY_WHERE,
    )


def _asl_none_make(rng):
    return {"logits": _normal(rng, (3, 4)), "targets": _binary_targets(rng, (3, 4)),
            "gamma_neg": _f(2.5),
            "weights": np.random.default_rng(116).uniform(0.5, 2.0, (3, 4))}  # per element


def _asl_none_fn(logits, targets, gamma_neg, weights):
    """clip=0 (concrete: the unclipped path), per-element weights, a `where` mask, "none"."""
    return jaxloss.asymmetric_loss(
        logits, targets, gamma_pos=0.0, gamma_neg=gamma_neg, clip=0.0, weights=weights,
        where=BINARY_WHERE, reduction="none",
    )


def _asl_none_ref(logits, targets, gamma_neg, weights):
    return ref.asymmetric_loss(
        logits, targets, gamma_pos=0.0, gamma_neg=gamma_neg, clip=0.0, weights=weights,
        where=BINARY_WHERE, reduction="none",
    )


def _asl_hard_make(rng):
    """0/1 float targets, logits above the clip (as _asl_make)."""
    return {"logits": rng.uniform(-2.5, 3.0, (3, 4)),
            "targets": (rng.uniform(size=(3, 4)) < 0.5).astype(np.float64)}


def _asl_hard_fn(logits, targets):
    """Concrete integer gammas (the defaults) and 0/1 targets: the y s^g+ + (1 - y) s^g-
    branch of a lax.cond on the targets, "sum"."""
    return jaxloss.asymmetric_loss(logits, targets, reduction="sum")


def _asl_hard_ref(logits, targets):
    return ref.asymmetric_loss(logits, targets, reduction="sum")


def _bce_probs_make(rng):
    return {
        "input": rng.uniform(0.05, 0.95, (3, 4)),  # away from the clamped logs
        "target": _binary_targets(rng, (3, 4)),
        "weights": np.random.default_rng(110).uniform(0.5, 2.0, (3, 1)),
    }


# Probabilities with a `where` mask: the mean over the kept elements.
BCE_PROBS_WHERE = np.array([True, False, True])[:, None]


def _bce_probs_fn(input, target, weights):
    return jaxloss.binary_cross_entropy(input, target, weights=weights, where=BCE_PROBS_WHERE)


def _bce_probs_ref(input, target, weights):
    return ref.binary_cross_entropy(input, target, weights=weights, where=BCE_PROBS_WHERE)


# --- regression ------------------------------------------------------------------------------


def _regression_make(rng):
    """Input and target whose differences stay >= 0.1 away from 0 and from the kinks of
    huber_loss (delta) and smooth_l1_loss (beta) below, so finite differences are exact."""
    x = _normal(rng, (3, 4), scale=1.0)
    d = np.sign(rng.standard_normal((3, 4))) * rng.choice([0.2, 0.45, 0.9, 1.6, 2.5], (3, 4))
    return {"input": x, "target": x - d}


def _l1_loss_make(rng):
    return {**_regression_make(rng), "weights": np.random.default_rng(111).uniform(0.5, 2.0, (4,))}


def _l1_loss_fn(input, target, weights):
    return jaxloss.l1_loss(input, target, weights=weights)


def _l1_loss_ref(input, target, weights):
    return ref.l1_loss(input, target, weights=weights)


def _mse_fn(input, target, weights):
    return jaxloss.mse_loss(input, target, weights=weights, reduction="none")


def _mse_ref(input, target, weights):
    return ref.mse_loss(input, target, weights=weights, reduction="none")


def _huber_make(rng):
    return {**_l1_loss_make(rng), "delta": _f(0.7)}


def _huber_fn(input, target, weights, delta):
    return jaxloss.huber_loss(input, target, delta=delta, weights=weights)


def _huber_ref(input, target, weights, delta):
    return ref.huber_loss(input, target, delta=delta, weights=weights)


def _smooth_l1_make(rng):
    return {**_regression_make(rng), "beta": _f(1.2)}


def _smooth_l1_fn(input, target, beta):
    return jaxloss.smooth_l1_loss(input, target, beta=beta, reduction="sum")


def _smooth_l1_ref(input, target, beta):
    return ref.smooth_l1_loss(input, target, beta=beta, reduction="sum")


def _poisson_counts(rng, shape):
    """Non-negative targets away from 1, where the Stirling term of full=True steps."""
    return rng.choice([0.0, 0.4, 2.0, 3.5, 6.0], shape)


def _poisson_make(rng):
    return {"input": _normal(rng, (3, 4), scale=1.0), "target": _poisson_counts(rng, (3, 4))}


def _poisson_fn(input, target):
    return jaxloss.poisson_nll_loss(input, target, full=True)


def _poisson_ref(input, target):
    return ref.poisson_nll_loss(input, target, full=True)


def _poisson_rates_make(rng):
    return {
        "input": rng.uniform(0.3, 4.0, (3, 4)),
        "target": _poisson_counts(rng, (3, 4)),
        "eps": _f(0.05),
    }


def _poisson_rates_fn(input, target, eps):
    return jaxloss.poisson_nll_loss(input, target, log_input=False, eps=eps, reduction="none")


def _poisson_rates_ref(input, target, eps):
    return ref.poisson_nll_loss(input, target, log_input=False, eps=eps, reduction="none")


def _gaussian_make(rng):
    return {
        "input": _normal(rng, (3, 4), scale=1.0),
        "target": _normal(rng, (3, 4), scale=1.0),
        "var": rng.uniform(0.3, 2.0, (3,)),  # one variance per row: PyTorch's (N,) for (N, D)
        "eps": _f(1e-3),
    }


def _gaussian_fn(input, target, var, eps):
    return jaxloss.gaussian_nll_loss(input, target, var, eps=eps, full=True)


def _gaussian_ref(input, target, var, eps):
    return ref.gaussian_nll_loss(input, target, var, eps=eps, full=True)


# --- segmentation ----------------------------------------------------------------------------


def _dice_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 3, 3)),  # (N, H, W, C)
        "targets": _labels(rng, (2, 2, 3), 3, -100, ignored=(4,)),
        "smooth": _f(0.5),
        "class_weights": _weights(np.random.default_rng(108), 3),
    }


def _dice_fn(logits, targets, smooth, class_weights):
    return jaxloss.dice_loss(logits, targets, smooth=smooth, class_weights=class_weights)


def _dice_ref(logits, targets, smooth, class_weights):
    return ref.dice_loss(logits, targets, smooth=smooth, class_weights=class_weights)


def _dice_sigmoid_make(rng):
    return {
        "logits": _normal(rng, (2, 3, 2)),  # (N, pixels, C) multi-label masks
        "targets": _binary_targets(rng, (2, 3, 2)),
        "smooth": _f(0.5),
    }


def _dice_sigmoid_fn(logits, targets, smooth):
    return jaxloss.dice_loss(
        logits, targets, activation="sigmoid", smooth=smooth, batch=True, squared=True
    )


def _dice_sigmoid_ref(logits, targets, smooth):
    return ref.dice_loss(
        logits, targets, activation="sigmoid", smooth=smooth, batch=True, squared=True
    )


def _tversky_make(rng):
    return {
        "logits": _normal(rng, (2, 3, 2, 2)),  # (N, C, H, W), axis=1
        "targets": _labels(rng, (2, 2, 2), 3, -100, ignored=(2,)),
        "alpha": _f(0.3),
        "beta": _f(0.7),
        "smooth": _f(1.0),
        "class_weights": _weights(np.random.default_rng(109), 3),
    }


def _tversky_fn(logits, targets, alpha, beta, smooth, class_weights):
    return jaxloss.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, smooth=smooth, class_weights=class_weights,
        include_background=False, axis=1, reduction="sum",
    )


def _tversky_ref(logits, targets, alpha, beta, smooth, class_weights):
    return ref.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, smooth=smooth, class_weights=class_weights,
        include_background=False, axis=1, reduction="sum",
    )


def _tversky_sigmoid_make(rng):
    return {
        "logits": _normal(rng, (2, 4, 1)),  # binary segmentation, one channel
        "targets": _binary_targets(rng, (2, 4, 1)),
        "alpha": _f(0.7),
        "beta": _f(0.3),
        "smooth": _f(1.0),
    }


def _tversky_sigmoid_fn(logits, targets, alpha, beta, smooth):
    return jaxloss.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, smooth=smooth, activation="sigmoid",
        reduction="none",
    )


def _tversky_sigmoid_ref(logits, targets, alpha, beta, smooth):
    return ref.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, smooth=smooth, activation="sigmoid",
        reduction="none",
    )


def _dice_ce_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 2, 3)),
        "targets": _labels(rng, (2, 2, 2), 3, -100, ignored=(3,)),
        "lambda_dice": _f(0.6),
        "lambda_ce": _f(1.3),
        "smooth": _f(0.1),
        "class_weights": _weights(np.random.default_rng(110), 3),
        "label_smoothing": _f(0.1),
    }


def _dice_ce_fn(logits, targets, lambda_dice, lambda_ce, smooth, class_weights,
                label_smoothing):
    return jaxloss.dice_cross_entropy_loss(
        logits, targets, lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth=smooth,
        class_weights=class_weights,
        label_smoothing=label_smoothing, batch=True,
    )


def _dice_ce_ref(logits, targets, lambda_dice, lambda_ce, smooth, class_weights,
                 label_smoothing):
    return ref.dice_cross_entropy_loss(
        logits, targets, lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth=smooth,
        class_weights=class_weights,
        label_smoothing=label_smoothing, batch=True,
    )


def _dice_ce_probs_make(rng):
    targets = _softmax_np(_normal(rng, (2, 3, 3)), axis=-1)
    targets[0, 1] = [1.0, 0.0, 0.0]  # exact zeros in the targets
    return {
        "logits": _normal(rng, (2, 3, 3)),
        "targets": targets,
        "lambda_dice": _f(0.5),
        "lambda_ce": _f(0.5),
        "smooth": _f(0.1),
    }


def _dice_ce_probs_fn(logits, targets, lambda_dice, lambda_ce, smooth):
    return jaxloss.dice_cross_entropy_loss(
        logits, targets, lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth=smooth,
        reduction="sum",
    )


def _dice_ce_probs_ref(logits, targets, lambda_dice, lambda_ce, smooth):
    return ref.dice_cross_entropy_loss(
        logits, targets, lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth=smooth,
        reduction="sum",
    )


def _tversky_focal_make(rng):
    targets = _softmax_np(_normal(rng, (2, 3, 3)), axis=-1)  # soft labels
    return {
        "logits": _normal(rng, (2, 3, 3)),
        "targets": targets,
        "alpha": _f(0.3),
        "beta": _f(0.7),
        "gamma": _f(0.75),
        "smooth": _f(0.5),
    }


def _tversky_focal_fn(logits, targets, alpha, beta, gamma, smooth):
    return jaxloss.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, soft_label=True,
    )


def _tversky_focal_ref(logits, targets, alpha, beta, gamma, smooth):
    return ref.tversky_loss(
        logits, targets, alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, soft_label=True,
    )


def _gdl_make(rng):
    y = _labels(rng, (2, 2, 3), 3, -100, ignored=(4,))
    y[1] = np.where(y[1] == 2, 1, y[1])  # class 2 absent from sample 1: infinite weight
    return {"logits": _normal(rng, (2, 2, 3, 3)), "targets": y, "smooth": _f(0.5)}


def _gdl_fn(logits, targets, smooth):
    return jaxloss.generalized_dice_loss(logits, targets, smooth=smooth)


def _gdl_ref(logits, targets, smooth):
    return ref.generalized_dice_loss(logits, targets, smooth=smooth)


def _gdl_probs_make(rng):
    return {
        "logits": _normal(rng, (2, 3, 2)),
        "targets": _binary_targets(rng, (2, 3, 2)),
        "smooth": _f(0.5),
    }


def _gdl_probs_fn(logits, targets, smooth):
    return jaxloss.generalized_dice_loss(
        logits, targets, smooth=smooth, activation="sigmoid", w_type="simple", batch=True,
        soft_label=True,
    )


def _gdl_probs_ref(logits, targets, smooth):
    return ref.generalized_dice_loss(
        logits, targets, smooth=smooth, activation="sigmoid", w_type="simple", batch=True,
        soft_label=True,
    )


def _dice_focal_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 2, 3)),
        "targets": _labels(rng, (2, 2, 2), 3, -100, ignored=(3,)),
        "gamma": _f(1.5),
        "lambda_dice": _f(0.7),
        "lambda_focal": _f(1.3),
        "smooth": _f(0.1),
        "class_weights": _weights(np.random.default_rng(112), 3),
    }


def _dice_focal_fn(logits, targets, gamma, lambda_dice, lambda_focal, smooth, class_weights):
    return jaxloss.dice_focal_loss(
        logits, targets, gamma=gamma, lambda_dice=lambda_dice, lambda_focal=lambda_focal,
        smooth=smooth, class_weights=class_weights,
    )


def _dice_focal_ref(logits, targets, gamma, lambda_dice, lambda_focal, smooth, class_weights):
    return ref.dice_focal_loss(
        logits, targets, gamma=gamma, lambda_dice=lambda_dice, lambda_focal=lambda_focal,
        smooth=smooth, class_weights=class_weights,
    )


def _dice_focal_sigmoid_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 3)),  # (N, C, pixels), axis=1
        "targets": _binary_targets(rng, (2, 2, 3)),
        "gamma": _f(2.0),
        "alpha": _f(0.3),
        "smooth": _f(0.5),
    }


def _dice_focal_sigmoid_fn(logits, targets, gamma, alpha, smooth):
    return jaxloss.dice_focal_loss(
        logits, targets, activation="sigmoid", gamma=gamma, alpha=alpha, smooth=smooth, axis=1,
        include_background=False, reduction="sum",
    )


def _dice_focal_sigmoid_ref(logits, targets, gamma, alpha, smooth):
    return ref.dice_focal_loss(
        logits, targets, activation="sigmoid", gamma=gamma, alpha=alpha, smooth=smooth, axis=1,
        include_background=False, reduction="sum",
    )


def _lovasz_softmax_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 3, 3)),
        "targets": _labels(rng, (2, 2, 3), 3, -100, ignored=(4,)),
    }


def _lovasz_softmax_fn(logits, targets):
    return jaxloss.lovasz_softmax_loss(logits, targets, per_image=True)


def _lovasz_softmax_ref(logits, targets):
    return ref.lovasz_softmax_loss(logits, targets, per_image=True)


def _lovasz_hinge_make(rng):
    return {
        "logits": _normal(rng, (2, 3, 2)),
        "targets": _labels(rng, (2, 3, 2), 2, -100, ignored=(2,)),  # 0/1 masks, one ignored
    }


def _lovasz_hinge_fn(logits, targets):
    return jaxloss.lovasz_hinge_loss(logits, targets)


def _lovasz_hinge_ref(logits, targets):
    return ref.lovasz_hinge_loss(logits, targets)


# --- linear cross-entropy --------------------------------------------------------------------


def _linear_make(rng):
    return {
        "hidden": _normal(rng, (6, 3), 1.0),
        "weight": _normal(rng, (7, 3), 1.0),  # (V, D), PyTorch's linear_weight
        "targets": _labels(rng, (6,), 7, -100, ignored=(2,)),
        "class_weights": _weights(np.random.default_rng(111), 7),
        "label_smoothing": _f(0.1),
        "z_loss": _f(0.05),
    }


def _linear_fn(hidden, weight, targets, class_weights, label_smoothing, z_loss):
    return jaxloss.linear_cross_entropy(
        hidden, weight, targets, class_weights=class_weights, label_smoothing=label_smoothing,
        z_loss=z_loss, chunk_size=3, token_chunk_size=4,  # neither divides V = 7, N = 6
    )


def _linear_ref(hidden, weight, targets, class_weights, label_smoothing, z_loss):
    return ref.cross_entropy(
        _f(hidden) @ _f(weight).T, targets, class_weights=class_weights,
        label_smoothing=label_smoothing, z_loss=z_loss,
    )


# --- imbalance-aware softmax losses -----------------------------------------------------------


def _la_make(rng):
    return {
        "logits": _normal(rng, (5, 4)),
        "targets": _labels(rng, (5,), 4, -100, ignored=(2,)),
        "class_counts": np.array([0.5, 0.3, 0.15, 0.05]),
        "tau": _f(1.2),
        "class_weights": _weights(np.random.default_rng(112), 4),
        "label_smoothing": _f(0.1),
    }


def _la_fn(logits, targets, class_counts, tau, class_weights, label_smoothing):
    return jaxloss.logit_adjusted_cross_entropy(
        logits, targets, class_counts=class_counts, tau=tau, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _la_ref(logits, targets, class_counts, tau, class_weights, label_smoothing):
    return ref.logit_adjusted_cross_entropy(
        logits, targets, class_counts=class_counts, tau=tau, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _la_probs_make(rng):
    targets = _softmax_np(_normal(rng, (3, 4, 2)), axis=1)
    targets[1, :, 0] = [0.0, 0.0, 1.0, 0.0]
    return {
        "logits": _normal(rng, (3, 4, 2)),
        "targets": targets,
        "class_counts": np.array([0.4, 0.3, 0.2, 0.1]),
        "tau": _f(1.0),
    }


def _la_probs_fn(logits, targets, class_counts, tau):
    return jaxloss.logit_adjusted_cross_entropy(
        logits, targets, class_counts=class_counts, tau=tau, axis=1, reduction="none"
    )


def _la_probs_ref(logits, targets, class_counts, tau):
    return ref.logit_adjusted_cross_entropy(
        logits, targets, class_counts=class_counts, tau=tau, axis=1, reduction="none"
    )


def _ldam_make(rng):
    return {
        "logits": _normal(rng, (6, 3), 0.5),
        "targets": _labels(rng, (6,), 3, -100, ignored=(4,)),
        "class_counts": np.array([120.0, 30.0, 7.0]),
        "max_margin": _f(0.5),
        "scale": _f(5.0),
        "class_weights": _weights(np.random.default_rng(113), 3),
    }


def _ldam_fn(logits, targets, class_counts, max_margin, scale, class_weights):
    return jaxloss.ldam_loss(
        logits, targets, class_counts=class_counts, max_margin=max_margin, scale=scale,
        class_weights=class_weights, reduction="sum",
    )


def _ldam_ref(logits, targets, class_counts, max_margin, scale, class_weights):
    return ref.ldam_loss(
        logits, targets, class_counts=class_counts, max_margin=max_margin, scale=scale,
        class_weights=class_weights, reduction="sum",
    )


def _poly_make(rng):
    return {
        "logits": _normal(rng, (2, 4, 3)),  # (N, C, d), axis=1
        "targets": _labels(rng, (2, 3), 4, -100, ignored=(1,)),
        "epsilon": _f(1.5),
        "class_weights": _weights(np.random.default_rng(114), 4),
        "label_smoothing": _f(0.1),
    }


def _poly_fn(logits, targets, epsilon, class_weights, label_smoothing):
    return jaxloss.poly1_cross_entropy(
        logits, targets, epsilon=epsilon, class_weights=class_weights,
        label_smoothing=label_smoothing, axis=1,
    )


def _poly_ref(logits, targets, epsilon, class_weights, label_smoothing):
    return ref.poly1_cross_entropy(
        logits, targets, epsilon=epsilon, class_weights=class_weights,
        label_smoothing=label_smoothing, axis=1,
    )


def _poly_probs_make(rng):
    targets = _softmax_np(_normal(rng, (4, 3)), axis=-1)
    targets[2] = [0.0, 1.0, 0.0]
    return {"logits": _normal(rng, (4, 3)), "targets": targets, "epsilon": _f(2.0)}


def _poly_probs_fn(logits, targets, epsilon):
    return jaxloss.poly1_cross_entropy(logits, targets, epsilon=epsilon, reduction="sum")


def _poly_probs_ref(logits, targets, epsilon):
    return ref.poly1_cross_entropy(logits, targets, epsilon=epsilon, reduction="sum")


# --- divergences and distillation ------------------------------------------------------------


def _log_softmax_np(x, axis=-1):
    return np.log(_softmax_np(x, axis))


def _kl_make(rng):
    return {
        "input": _log_softmax_np(_normal(rng, (3, 4))),
        # mild targets: the finite differences of t log t lose accuracy as t -> 0
        "target": _softmax_np(_normal(rng, (3, 4), 0.5), -1),
    }


def _kl_fn(input, target):  # noqa: A002
    return jaxloss.kl_div(input, target, reduction="batchmean")


def _kl_ref(input, target):  # noqa: A002
    return ref.kl_div(input, target, reduction="batchmean")


KL_WHERE = np.array([[True], [False], [True], [True]])


def _kl_log_make(rng):
    return {
        "input": _log_softmax_np(_normal(rng, (4, 3))),
        "target": _log_softmax_np(_normal(rng, (4, 3))),
    }


def _kl_log_fn(input, target):  # noqa: A002
    return jaxloss.kl_div(input, target, log_target=True, reduction="none", where=KL_WHERE)


def _kl_log_ref(input, target):  # noqa: A002
    return ref.kl_div(input, target, log_target=True, reduction="none", where=KL_WHERE)


JSD_WHERE = np.array([[True, False], [True, True], [False, True]])


def _jsd_make(rng):
    target = _log_softmax_np(_normal(rng, (3, 4, 2)), 1)  # the teacher's log P
    return {
        "input": _log_softmax_np(_normal(rng, (3, 4, 2)), 1),  # the student's log Q
        "target": target,
        "beta": _f(0.3),
    }


def _jsd_fn(input, target, beta):  # noqa: A002
    return jaxloss.jensen_shannon_divergence(input, target, beta=beta, axis=1, where=JSD_WHERE)


def _jsd_ref(input, target, beta):  # noqa: A002
    return ref.jensen_shannon_divergence(input, target, beta=beta, axis=1, where=JSD_WHERE)


def _distill_make(rng):
    return {
        "student_logits": _normal(rng, (5, 4)),
        "teacher_logits": _normal(rng, (5, 4)),
        "targets": _labels(rng, (5,), 4, -100, ignored=(3,)),
        "temperature": _f(2.0),
        "lambda_soft": _f(0.7),
        "lambda_hard": _f(0.3),
    }


def _distill_fn(student_logits, teacher_logits, targets, temperature, lambda_soft, lambda_hard):
    return jaxloss.distillation_loss(
        student_logits, teacher_logits, temperature=temperature, targets=targets,
        lambda_soft=lambda_soft, lambda_hard=lambda_hard,
    )


def _distill_ref(student_logits, teacher_logits, targets, temperature, lambda_soft, lambda_hard):
    return ref.distillation_loss(
        student_logits, teacher_logits, temperature=temperature, targets=targets,
        lambda_soft=lambda_soft, lambda_hard=lambda_hard,
    )


# --- margin, ranking and embedding (issue 11) ------------------------------------------------


def _pm1(rng, shape, dtype=np.float64):
    """Targets of 1 and -1 (float for the differentiable ones, int64 for the others)."""
    return np.where(rng.uniform(size=shape) < 0.5, -1, 1).astype(dtype)


def _ranking_make(rng):
    return {"input1": _normal(rng, (3, 4), 1.0), "input2": _normal(rng, (3, 4), 1.0),
            "target": _pm1(rng, (3, 4)), "margin": _f(0.5)}


def _ranking_fn(input1, input2, target, margin):
    return jaxloss.margin_ranking_loss(input1, input2, target, margin=margin)


def _ranking_ref(input1, input2, target, margin):
    return ref.margin_ranking_loss(input1, input2, target, margin=margin)


def _hinge_emb_make(rng):
    return {"input": np.abs(_normal(rng, (3, 4))), "target": _pm1(rng, (3, 4), np.int64),
            "margin": _f(1.5)}


def _hinge_emb_fn(input, target, margin):
    return jaxloss.hinge_embedding_loss(input, target, margin=margin, reduction="none")


def _hinge_emb_ref(input, target, margin):
    return ref.hinge_embedding_loss(input, target, margin=margin, reduction="none")


def _soft_margin_make(rng):
    return {"input": _normal(rng, (3, 4)), "target": _pm1(rng, (3, 4))}


def _soft_margin_fn(input, target):
    return jaxloss.soft_margin_loss(input, target, reduction="sum")


def _soft_margin_ref(input, target):
    return ref.soft_margin_loss(input, target, reduction="sum")


def _mlsm_make(rng):
    return {"input": _normal(rng, (3, 4)), "target": _binary_targets(rng, (3, 4)),
            "class_weights": _weights(np.random.default_rng(112), 4)}


def _mlsm_fn(input, target, class_weights):
    return jaxloss.multilabel_soft_margin_loss(input, target, class_weights=class_weights)


def _mlsm_ref(input, target, class_weights):
    return ref.multilabel_soft_margin_loss(input, target, class_weights=class_weights)


def _multi_margin_make(rng):
    return {"input": _normal(rng, (4, 5), 1.0), "target": rng.integers(0, 5, (4,)),
            "margin": _f(1.5), "class_weights": _weights(np.random.default_rng(113), 5)}


def _multi_margin_fn(input, target, margin, class_weights):
    return jaxloss.multi_margin_loss(input, target, p=2, margin=margin,
                                     class_weights=class_weights)


def _multi_margin_ref(input, target, margin, class_weights):
    return ref.multi_margin_loss(input, target, p=2, margin=margin, class_weights=class_weights)


def _mlm_make(rng):
    # PyTorch's format: listed classes, -1, then entries that are not read
    target = np.array([[3, 0, -1, 1, 1], [4, -1, 2, 2, 0], [1, 2, 2, -1, 4]], np.int64)
    return {"input": _normal(rng, (3, 5), 1.0), "target": target}


def _mlm_fn(input, target):
    return jaxloss.multilabel_margin_loss(input, target, reduction="none")


def _mlm_ref(input, target):
    return ref.multilabel_margin_loss(input, target, reduction="none")


def _cosine_make(rng):
    return {"input1": _normal(rng, (4, 3), 1.0), "input2": _normal(rng, (4, 3), 1.0),
            "target": _pm1(rng, (4,), np.int64), "margin": _f(-0.3)}


def _cosine_fn(input1, input2, target, margin):
    return jaxloss.cosine_embedding_loss(input1, input2, target, margin=margin)


def _cosine_ref(input1, input2, target, margin):
    return ref.cosine_embedding_loss(input1, input2, target, margin=margin)


def _triplet_make(rng):
    return {"anchor": _normal(rng, (4, 3), 1.0), "positive": _normal(rng, (4, 3), 1.0),
            "negative": _normal(rng, (4, 3), 1.0), "margin": _f(2.0), "eps": _f(0.1)}


def _triplet_fn(anchor, positive, negative, margin, eps):
    return jaxloss.triplet_margin_loss(anchor, positive, negative, margin=margin, eps=eps,
                                       swap=True, reduction="none")


def _triplet_ref(anchor, positive, negative, margin, eps):
    return ref.triplet_margin_loss(anchor, positive, negative, margin=margin, eps=eps,
                                   swap=True, reduction="none")


def _triplet_dist_make(rng):
    args = _triplet_make(rng)
    del args["eps"]
    return args


def SQUARED_DISTANCE(u, v):  # noqa: N802 - a constant of the case
    return jnp.sum((u - v) ** 2, axis=-1)


def _triplet_dist_fn(anchor, positive, negative, margin):
    return jaxloss.triplet_margin_with_distance_loss(
        anchor, positive, negative, margin=margin, swap=True, distance_function=SQUARED_DISTANCE,
    )


def _triplet_dist_ref(anchor, positive, negative, margin):
    return ref.triplet_margin_with_distance_loss(
        anchor, positive, negative, margin=margin, swap=True,
        distance_function=lambda u, v: np.sum((u - v) ** 2, axis=-1),
    )
# --- sequence (CTC) --------------------------------------------------------------------------

# Padded (N, S) targets: a repeated label, padding, an empty target; lengths below T and S.
CTC_TARGETS = np.array([[1, 1, 2], [2, 3, 0], [3, 0, 0]])
CTC_INPUT_LENGTHS = np.array([5, 4, 3])
CTC_TARGET_LENGTHS = np.array([3, 2, 0])


def _ctc_make(rng):
    logits = _normal(rng, (5, 3, 4), 1.0)
    return {
        "log_probs": logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True)),
        "targets": CTC_TARGETS.astype(np.int64),
        "input_lengths": CTC_INPUT_LENGTHS.astype(np.int64),
        "target_lengths": CTC_TARGET_LENGTHS.astype(np.int64),
    }


def _ctc_fn(log_probs, targets, input_lengths, target_lengths):
    return jaxloss.ctc_loss(log_probs, targets, input_lengths, target_lengths)


def _ctc_ref(log_probs, targets, input_lengths, target_lengths):
    return ref.ctc_loss(log_probs, targets, input_lengths, target_lengths)


# Concatenated targets, blank = 3, zero_infinity with an infeasible target ("1 1" in 2
# frames), "none".
def _ctc_concat_make(rng):
    logits = _normal(rng, (4, 3, 4), 1.0)
    return {
        "log_probs": logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True)),
        "targets": np.array([0, 2, 1, 1, 2], np.int64),
        "input_lengths": np.array([4, 2, 3], np.int64),
        "target_lengths": np.array([2, 2, 1], np.int64),
    }


def _ctc_concat_fn(log_probs, targets, input_lengths, target_lengths):
    return jaxloss.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=3,
                            zero_infinity=True, reduction="none")


def _ctc_concat_ref(log_probs, targets, input_lengths, target_lengths):
    return ref.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=3,
                        zero_infinity=True, reduction="none")


# --- class weights, penalties, checked -------------------------------------------------------


def _counts_make(rng):
    return {"targets": _labels(rng, (10,), 4, -100, ignored=(0, 7))}


def _counts_fn(targets):
    return jaxloss.class_counts(targets, 4)


def _counts_ref(targets):
    return ref.class_counts(targets, 4)


def _cw_make(rng):
    return {"counts": rng.integers(1, 100, (4,)).astype(np.float64), "beta": _f(0.99)}


def _cw_fn(counts, beta):
    return jaxloss.class_weights_from_counts(counts, method="effective_number", beta=beta)


def _cw_ref(counts, beta):
    return ref.class_weights_from_counts(counts, method="effective_number", beta=beta)


L1_MASK = np.array([True, False, True])


def _penalty_make(rng):
    return {"w": _away_from_zero(rng, (2, 3)), "b": _away_from_zero(rng, (3,))}


def _l1_fn(w, b):
    return jaxloss.l1_penalty({"w": w, "b": b}, where={"w": True, "b": L1_MASK})


def _l1_ref(w, b):
    return ref.l1_penalty([w, _f(b)[L1_MASK]])


def _l2_fn(w, b):
    return jaxloss.l2_penalty({"w": w, "b": b}, where=lambda path, x: x.ndim > 1)


def _l2_ref(w, b):
    return ref.l2_penalty([w])


def _checked_fn(logits, targets, class_weights, label_smoothing):
    return jaxloss.checked(jaxloss.cross_entropy)(
        logits, targets, class_weights=class_weights, label_smoothing=label_smoothing,
        ignore_index=-1,
    )


def _checked_ref(logits, targets, class_weights, label_smoothing):
    return ref.cross_entropy(
        logits, targets, class_weights=class_weights, label_smoothing=label_smoothing,
        ignore_index=-1,
    )


def _checked_make(rng):
    args = _ce_make(rng)
    del args["z_loss"]
    return args


INTEGER_ONLY = "integer targets in, int32 counts out: nothing to differentiate"
NO_HYPER = "no numeric hyperparameter"
NO_FLOAT_TARGET = "integer targets only"
SELECTOR_TARGET = "the +-1 target only selects a branch (PyTorch does not differentiate it)"
CTC_NO_HYPER = "no numeric hyperparameter: blank and zero_infinity are structure"
CTC_NO_SWAP = ("integer log_probs get the cast hint only: (N, S) label sequences and (T, N, C) "
               "log-probabilities differ in rank")
CTC_ANY_WIDTH = "padded (N, S) targets: any width S is valid"
CW_BROADCAST = "`class_weights` broadcast against the logits (no fixed length)"

_SOFTMAX = dict(data=("logits",))
REGISTRY: dict[str, Case] = {
    "cross_entropy": Case(
        "cross_entropy", _ce_fn, _ce_ref, _ce_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing", "z_loss"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"ignore_index": -1},
    ),
    "cross_entropy[probs]": Case(
        "cross_entropy", _ce_probs_fn, _ce_probs_ref, _ce_probs_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing", "z_loss"), target="targets",
        options={"axis": 1, "where": CE_PROBS_WHERE, "reduction": "sum"},
    ),
    "cross_entropy[blocked]": Case(
        "cross_entropy", _ce_blocked_fn, _ce_blocked_ref, _ce_blocked_make, **_SOFTMAX,
        hyper=("class_weights", "z_loss"), blocked=True,
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "nll_loss": Case(
        "nll_loss", _nll_fn, _nll_ref, _nll_make, data=("log_probs",),
        hyper=("class_weights",), not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"reduction": "none"},
    ),
    "focal_loss": Case(
        "focal_loss", _focal_fn, _focal_ref, _focal_make, **_SOFTMAX,
        hyper=("gamma", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "focal_loss[probs]": Case(
        "focal_loss", _focal_probs_fn, _focal_probs_ref, _focal_probs_make, **_SOFTMAX,
        hyper=("gamma",), target="targets",
        options={"reduction": "sum"},
    ),
    "focal_loss[blocked]": Case(
        "focal_loss", _focal_fn, _focal_ref, _focal_blocked_make, **_SOFTMAX,
        hyper=("gamma", "class_weights", "label_smoothing"), blocked=True,
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "binary_cross_entropy_with_logits": Case(
        "binary_cross_entropy_with_logits", _bce_fn, _bce_ref, _bce_make, **_SOFTMAX,
        hyper=("pos_weight", "weights", "label_smoothing"), target="targets",
    ),
    "binary_cross_entropy_with_logits[none]": Case(
        "binary_cross_entropy_with_logits", _bce_none_fn, _bce_none_ref, _bce_none_make,
        **_SOFTMAX, hyper=("pos_weight",), target="targets",
    ),
    "binary_cross_entropy": Case(
        "binary_cross_entropy", _bce_probs_fn, _bce_probs_ref, _bce_probs_make,
        data=("input",), hyper=("weights",), target="target",
        options={"where": BCE_PROBS_WHERE},
    ),
    "l1_loss": Case(
        "l1_loss", _l1_loss_fn, _l1_loss_ref, _l1_loss_make, data=("input",), hyper=("weights",),
        target="target",
    ),
    "mse_loss": Case(
        "mse_loss", _mse_fn, _mse_ref, _l1_loss_make, data=("input",), hyper=("weights",),
        target="target",
        options={"reduction": "none"},
    ),
    "huber_loss": Case(
        "huber_loss", _huber_fn, _huber_ref, _huber_make, data=("input",),
        hyper=("weights", "delta"), target="target",
    ),
    "smooth_l1_loss": Case(
        "smooth_l1_loss", _smooth_l1_fn, _smooth_l1_ref, _smooth_l1_make, data=("input",),
        hyper=("beta",), target="target",
        options={"reduction": "sum"},
    ),
    "poisson_nll_loss": Case(
        "poisson_nll_loss", _poisson_fn, _poisson_ref, _poisson_make, data=("input",),
        target="target", not_applicable={"grad_hyper": NO_HYPER + " (log_input, full: structure)"},
        options={"full": True},
    ),
    "poisson_nll_loss[rates]": Case(
        "poisson_nll_loss", _poisson_rates_fn, _poisson_rates_ref, _poisson_rates_make,
        data=("input",), hyper=("eps",), target="target",
        options={"log_input": False, "reduction": "none"},
    ),
    "gaussian_nll_loss": Case(
        "gaussian_nll_loss", _gaussian_fn, _gaussian_ref, _gaussian_make, data=("input", "var"),
        hyper=("eps",), target="target",
        options={"full": True},
    ),
    "sigmoid_focal_loss": Case(
        "sigmoid_focal_loss", _sfl_fn, _sfl_ref, _sfl_make, **_SOFTMAX,
        hyper=("alpha", "gamma", "pos_weight", "class_weights", "weights"), target="targets",
        options={"reduction": "sum"},
        not_applicable={"class_weights_length": CW_BROADCAST},
    ),
    "sigmoid_focal_loss[integer gamma]": Case(
        "sigmoid_focal_loss", _sfl_int_fn, _sfl_int_ref, _sfl_int_make, **_SOFTMAX,
        target="targets", not_applicable={"grad_hyper": NO_HYPER + " (gamma=2 concrete)"},
    ),
    "asymmetric_loss": Case(
        "asymmetric_loss", _asl_fn, _asl_ref, _asl_make, **_SOFTMAX,
        hyper=("gamma_pos", "gamma_neg", "clip"), target="targets",
    ),
    "asymmetric_loss[where]": Case(
        "asymmetric_loss", _asl_where_fn, _asl_where_ref, _asl_where_make, **_SOFTMAX,
        hyper=("gamma_pos", "gamma_neg", "clip", "weights"), target="targets",
    ),
    "asymmetric_loss[hard targets]": Case(
        "asymmetric_loss", _asl_hard_fn, _asl_hard_ref, _asl_hard_make, **_SOFTMAX,
        target="targets", not_applicable={"grad_hyper": NO_HYPER + " (concrete gammas)"},
    ),
    "asymmetric_loss[none]": Case(
        "asymmetric_loss", _asl_none_fn, _asl_none_ref, _asl_none_make, **_SOFTMAX,
        hyper=("gamma_neg", "weights"), target="targets",
    ),
    "dice_loss": Case(
        "dice_loss", _dice_fn, _dice_ref, _dice_make, **_SOFTMAX,
        hyper=("smooth", "class_weights"), not_applicable={"grad_target": NO_FLOAT_TARGET},
        element_shape=(2, 2, 3),  # per pixel ("none" is per sample and class)
    ),
    "dice_loss[sigmoid]": Case(
        "dice_loss", _dice_sigmoid_fn, _dice_sigmoid_ref, _dice_sigmoid_make, **_SOFTMAX,
        hyper=("smooth",), target="targets",
        options={"activation": "sigmoid", "batch": True, "squared": True},
    ),
    "tversky_loss": Case(
        "tversky_loss", _tversky_fn, _tversky_ref, _tversky_make, **_SOFTMAX,
        hyper=("alpha", "beta", "smooth", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"include_background": False, "axis": 1, "reduction": "sum"},
        element_shape=(2, 2, 2),  # per pixel ("none" is per sample and class)
    ),
    "tversky_loss[sigmoid]": Case(
        "tversky_loss", _tversky_sigmoid_fn, _tversky_sigmoid_ref, _tversky_sigmoid_make,
        **_SOFTMAX, hyper=("alpha", "beta", "smooth"), target="targets",
    ),
    "dice_cross_entropy_loss": Case(
        "dice_cross_entropy_loss", _dice_ce_fn, _dice_ce_ref, _dice_ce_make, **_SOFTMAX,
        hyper=("lambda_dice", "lambda_ce", "smooth", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"batch": True},
        element_shape=(2, 2, 2),  # the CE term's ("none" is an error)
    ),
    "dice_cross_entropy_loss[probs]": Case(
        "dice_cross_entropy_loss", _dice_ce_probs_fn, _dice_ce_probs_ref, _dice_ce_probs_make,
        **_SOFTMAX, hyper=("lambda_dice", "lambda_ce", "smooth"), target="targets",
        options={"reduction": "sum"},
    ),
    "tversky_loss[focal, soft_label]": Case(
        "tversky_loss", _tversky_focal_fn, _tversky_focal_ref, _tversky_focal_make,
        **_SOFTMAX, hyper=("alpha", "beta", "gamma", "smooth"), target="targets",
    ),
    "generalized_dice_loss": Case(
        "generalized_dice_loss", _gdl_fn, _gdl_ref, _gdl_make, **_SOFTMAX, hyper=("smooth",),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        element_shape=(2, 2, 3),  # per pixel ("none" is per sample)
    ),
    "generalized_dice_loss[sigmoid]": Case(
        "generalized_dice_loss", _gdl_probs_fn, _gdl_probs_ref, _gdl_probs_make, **_SOFTMAX,
        hyper=("smooth",), target="targets",
    ),
    "dice_focal_loss": Case(
        "dice_focal_loss", _dice_focal_fn, _dice_focal_ref, _dice_focal_make, **_SOFTMAX,
        hyper=("gamma", "lambda_dice", "lambda_focal", "smooth", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        element_shape=(2, 2, 2),  # the focal term's ("none" is an error)
    ),
    "dice_focal_loss[sigmoid]": Case(
        "dice_focal_loss", _dice_focal_sigmoid_fn, _dice_focal_sigmoid_ref,
        _dice_focal_sigmoid_make, **_SOFTMAX, hyper=("gamma", "alpha", "smooth"),
        target="targets",
        options={"activation": "sigmoid", "axis": 1, "include_background": False,
                 "reduction": "sum"},
    ),
    "lovasz_softmax_loss": Case(
        "lovasz_softmax_loss", _lovasz_softmax_fn, _lovasz_softmax_ref, _lovasz_softmax_make,
        **_SOFTMAX, not_applicable={
            "grad_hyper": NO_HYPER + " (classes, per_image: structure)",
            "grad_target": NO_FLOAT_TARGET,
        },
        options={"per_image": True},
        element_shape=(2, 2, 3),  # per pixel (the loss is per image or per batch)
    ),
    "lovasz_hinge_loss": Case(
        "lovasz_hinge_loss", _lovasz_hinge_fn, _lovasz_hinge_ref, _lovasz_hinge_make,
        **_SOFTMAX, not_applicable={
            "grad_hyper": NO_HYPER + " (per_image: structure)",
            "grad_target": NO_FLOAT_TARGET + " here (0/1 masks with an ignored pixel)",
        },
        element_shape=(2, 3, 2),  # per pixel (the loss is per image or per batch)
    ),
    "linear_cross_entropy": Case(
        "linear_cross_entropy", _linear_fn, _linear_ref, _linear_make,
        data=("hidden", "weight"), hyper=("class_weights", "label_smoothing", "z_loss"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"chunk_size": 3, "token_chunk_size": 4},
        batch_axes={"hidden": 0, "targets": 0},  # the (V, D) weight is shared
    ),
    "logit_adjusted_cross_entropy": Case(
        "logit_adjusted_cross_entropy", _la_fn, _la_ref, _la_make, **_SOFTMAX,
        hyper=("class_counts", "tau", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "logit_adjusted_cross_entropy[probs]": Case(
        "logit_adjusted_cross_entropy", _la_probs_fn, _la_probs_ref, _la_probs_make,
        **_SOFTMAX, hyper=("class_counts", "tau"), target="targets",
        options={"axis": 1, "reduction": "none"},
    ),
    "ldam_loss": Case(
        "ldam_loss", _ldam_fn, _ldam_ref, _ldam_make, **_SOFTMAX,
        hyper=("class_counts", "max_margin", "scale", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"reduction": "sum"},
    ),
    "poly1_cross_entropy": Case(
        "poly1_cross_entropy", _poly_fn, _poly_ref, _poly_make, **_SOFTMAX,
        hyper=("epsilon", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"axis": 1},
    ),
    "poly1_cross_entropy[probs]": Case(
        "poly1_cross_entropy", _poly_probs_fn, _poly_probs_ref, _poly_probs_make, **_SOFTMAX,
        hyper=("epsilon",), target="targets",
        options={"reduction": "sum"},
    ),
    "kl_div": Case(
        "kl_div", _kl_fn, _kl_ref, _kl_make, data=("input",), target="target",
        not_applicable={"grad_hyper": NO_HYPER},
        options={"reduction": "batchmean"},
    ),
    "kl_div[log_target]": Case(
        "kl_div", _kl_log_fn, _kl_log_ref, _kl_log_make, data=("input",), target="target",
        not_applicable={"grad_hyper": NO_HYPER},
        options={"log_target": True, "reduction": "none", "where": KL_WHERE},
    ),
    "jensen_shannon_divergence": Case(
        "jensen_shannon_divergence", _jsd_fn, _jsd_ref, _jsd_make, data=("input", "target"),
        hyper=("beta",), not_applicable={"grad_target": "no targets: both arguments are data"},
        options={"axis": 1, "where": JSD_WHERE},
    ),
    "distillation_loss": Case(
        "distillation_loss", _distill_fn, _distill_ref, _distill_make,
        data=("student_logits", "teacher_logits"),
        hyper=("temperature", "lambda_soft", "lambda_hard"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "margin_ranking_loss": Case(
        "margin_ranking_loss", _ranking_fn, _ranking_ref, _ranking_make,
        data=("input1", "input2"), hyper=("margin",), target="target",
    ),
    "hinge_embedding_loss": Case(
        "hinge_embedding_loss", _hinge_emb_fn, _hinge_emb_ref, _hinge_emb_make,
        data=("input",), hyper=("margin",), not_applicable={"grad_target": SELECTOR_TARGET},
        options={"reduction": "none"},
    ),
    "soft_margin_loss": Case(
        "soft_margin_loss", _soft_margin_fn, _soft_margin_ref, _soft_margin_make,
        data=("input",), target="target", not_applicable={"grad_hyper": NO_HYPER},
        options={"reduction": "sum"},
    ),
    "multilabel_soft_margin_loss": Case(
        "multilabel_soft_margin_loss", _mlsm_fn, _mlsm_ref, _mlsm_make, data=("input",),
        hyper=("class_weights",), target="target",
        not_applicable={"class_weights_length": CW_BROADCAST + " (PyTorch's `weight` rule)"},
    ),
    "multi_margin_loss": Case(
        "multi_margin_loss", _multi_margin_fn, _multi_margin_ref, _multi_margin_make,
        data=("input",), hyper=("margin", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"p": 2},
    ),
    "multilabel_margin_loss": Case(
        "multilabel_margin_loss", _mlm_fn, _mlm_ref, _mlm_make, data=("input",),
        not_applicable={"grad_hyper": NO_HYPER + " (PyTorch's margin is fixed at 1)",
                        "grad_target": NO_FLOAT_TARGET},
        options={"reduction": "none"},
    ),
    "cosine_embedding_loss": Case(
        "cosine_embedding_loss", _cosine_fn, _cosine_ref, _cosine_make,
        data=("input1", "input2"), hyper=("margin",),
        not_applicable={"grad_target": SELECTOR_TARGET},
    ),
    "triplet_margin_loss": Case(
        "triplet_margin_loss", _triplet_fn, _triplet_ref, _triplet_make,
        data=("anchor", "positive", "negative"), hyper=("margin", "eps"),
        not_applicable={"grad_target": "no targets"},
        options={"swap": True, "reduction": "none"},
    ),
    "triplet_margin_with_distance_loss": Case(
        "triplet_margin_with_distance_loss", _triplet_dist_fn, _triplet_dist_ref,
        _triplet_dist_make, data=("anchor", "positive", "negative"), hyper=("margin",),
        not_applicable={"grad_target": "no targets"},
        options={"swap": True, "distance_function": SQUARED_DISTANCE},
    ),
    "ctc_loss": Case(
        "ctc_loss", _ctc_fn, _ctc_ref, _ctc_make, data=("log_probs",),
        not_applicable={"grad_hyper": CTC_NO_HYPER, "grad_target": NO_FLOAT_TARGET,
                        "swapped_arguments": CTC_NO_SWAP, "label_shape": CTC_ANY_WIDTH},
        batch_axes={"log_probs": 1, "targets": 0, "input_lengths": 0, "target_lengths": 0},
    ),
    "ctc_loss[concatenated]": Case(
        "ctc_loss", _ctc_concat_fn, _ctc_concat_ref, _ctc_concat_make, data=("log_probs",),
        not_applicable={"grad_hyper": CTC_NO_HYPER, "grad_target": NO_FLOAT_TARGET},
    ),
    "class_counts": Case(
        "class_counts", _counts_fn, _counts_ref, _counts_make,
        not_applicable={
            **{t: INTEGER_ONLY for t in DIFFERENTIATING},
            "grad_hyper": NO_HYPER + " (num_classes and ignore_index are structure)",
            "grad_target": INTEGER_ONLY,
            "dtype": "integer input; the float-dtype matrix does not apply",
        },
        options={"num_classes": 4},
    ),
    "class_weights_from_counts": Case(
        "class_weights_from_counts", _cw_fn, _cw_ref, _cw_make, data=("counts",),
        hyper=("beta",),
        not_applicable={"grad_target": "no targets", "integer_input": "counts may be integers"},
        options={"method": "effective_number"},
    ),
    "l1_penalty": Case(
        "l1_penalty", _l1_fn, _l1_ref, _penalty_make, data=("w", "b"),
        not_applicable={"grad_hyper": NO_HYPER, "grad_target": "no targets"},
        options=None,  # a pytree of parameters, not arrays by name
    ),
    "l2_penalty": Case(
        "l2_penalty", _l2_fn, _l2_ref, _penalty_make, data=("w", "b"),
        not_applicable={"grad_hyper": NO_HYPER, "grad_target": "no targets"},
        options=None,  # a pytree of parameters, not arrays by name
    ),
    "checked": Case(
        "checked", _checked_fn, _checked_ref, _checked_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing"),
        not_applicable={
            "grad_target": NO_FLOAT_TARGET,
            "export": "raises through a host callback, which a serialised program cannot carry",
        },
        options=None,  # a wrapper, not a loss
    ),
}


# =============================================================================================
# Detection (issue 23, items 1 and 2): torchvision's box IoU losses, mmdetection's
# dense-detection classification losses. Kept in one block for easy merges.
# =============================================================================================

# Box coordinates on a 1/8 grid (exact in every float dtype the matrix runs, bf16 included):
# CIoU's alpha is a constant of the gradient (torchvision's no_grad), so its reference holds
# alpha at the boxes snapped to this grid, which finite-difference steps (1e-5) never leave.
BOX_GRID = 8.0
BOX_WHERE = np.array([True, False, True, True, True])


def _snap(b):
    return np.round(np.asarray(b, np.float64) * BOX_GRID) / BOX_GRID


def _box_pairs(rng, n=5):
    """(n, 4) pairs with overlapping, disjoint and nested boxes, corners on the grid and no
    ties between the two sets' corners (the loss is not differentiable at a tie)."""
    while True:
        xy1 = rng.integers(0, 24, (n, 2))
        wh1 = rng.integers(2, 24, (n, 2))
        xy2 = xy1 + rng.integers(-12, 12, (n, 2))
        wh2 = rng.integers(2, 24, (n, 2))
        b1 = np.concatenate([xy1, xy1 + wh1], -1) / BOX_GRID
        b2 = np.concatenate([xy2, xy2 + wh2], -1) / BOX_GRID
        b2[0] = b1[0] + np.array([1, 2, -1, -3]) / BOX_GRID  # nested
        b2[1] = b1[1] + np.array([40, 30, 41, 33]) / BOX_GRID  # disjoint
        x_all = np.concatenate([b1[:, ::2], b2[:, ::2]], -1)
        y_all = np.concatenate([b1[:, 1::2], b2[:, 1::2]], -1)
        if all(len(set(r)) == 4 for r in np.concatenate([x_all, y_all])):
            return b1, b2


def _boxes_make(rng):
    b1, b2 = _box_pairs(rng)
    return {"boxes1": b1, "boxes2": b2, "eps": _f(1e-3)}


def _giou_fn(boxes1, boxes2, eps):
    return jaxloss.generalized_box_iou_loss(boxes1, boxes2, eps=eps, where=BOX_WHERE,
                                            reduction="mean")


def _giou_ref(boxes1, boxes2, eps):
    return ref.generalized_box_iou_loss(boxes1, boxes2, eps=eps, where=BOX_WHERE,
                                        reduction="mean")


def _diou_make(rng):
    return {**_boxes_make(rng),
            "weights": np.random.default_rng(120).uniform(0.5, 2.0, (5,))}


def _diou_fn(boxes1, boxes2, eps, weights):
    return jaxloss.distance_box_iou_loss(boxes1, boxes2, eps=eps, weights=weights,
                                         reduction="sum")


def _diou_ref(boxes1, boxes2, eps, weights):
    return ref.distance_box_iou_loss(boxes1, boxes2, eps=eps, weights=weights, reduction="sum")


def _ciou_make(rng):
    b1, b2 = _box_pairs(rng)
    return {"boxes1": b1, "boxes2": b2}


def _ciou_fn(boxes1, boxes2):
    return jaxloss.complete_box_iou_loss(boxes1, boxes2)


def _ciou_ref(boxes1, boxes2):
    return ref.complete_box_iou_loss(boxes1, boxes2, alpha_at=(_snap(boxes1), _snap(boxes2)))


def _vfl_make(rng):
    x = _normal(rng, (4, 3))
    q = rng.uniform(0.1, 1.0, (4, 3))
    q[rng.uniform(size=(4, 3)) < 0.6] = 0.0  # negatives: exactly 0
    q[0, 0], q[1, 1] = 0.0, 0.7
    return {"logits": x, "targets": q, "alpha": _f(0.75), "gamma": _f(1.5),
            "weights": np.random.default_rng(121).uniform(0.5, 2.0, (4, 1))}


def _vfl_fn(logits, targets, alpha, gamma, weights):
    return jaxloss.varifocal_loss(logits, targets, alpha=alpha, gamma=gamma, weights=weights)


def _vfl_ref(logits, targets, alpha, gamma, weights):
    return ref.varifocal_loss(logits, targets, alpha=alpha, gamma=gamma, weights=weights)


QFL_WHERE = np.array([True, True, True, False, True, True])


def _qfl_make(rng):
    labels = rng.integers(0, 4, (6,)).astype(np.int64)  # 4 classes; 4 = background
    labels[:3] = [4, 0, 2]
    return {"logits": _normal(rng, (6, 4)), "labels": labels,
            "scores": rng.uniform(0.05, 0.95, (6,)), "beta": _f(2.0)}


def _qfl_fn(logits, labels, scores, beta):
    return jaxloss.quality_focal_loss(logits, labels, scores, beta=beta, where=QFL_WHERE,
                                      reduction="none")


def _qfl_ref(logits, labels, scores, beta):
    return ref.quality_focal_loss(logits, labels, scores, beta=beta, where=QFL_WHERE,
                                  reduction="none")


def _dfl_make(rng):
    t = rng.uniform(0.05, 4.95, (3, 2))  # 6 bins: n = 5; away from the integer kinks
    t = np.where(np.abs(t - np.round(t)) < 0.05, t + 0.1, t)
    return {"logits": _normal(rng, (3, 6, 2)), "targets": t}


def _dfl_fn(logits, targets):
    return jaxloss.distribution_focal_loss(logits, targets, axis=1, reduction="sum")


def _dfl_ref(logits, targets):
    return ref.distribution_focal_loss(logits, targets, axis=1, reduction="sum")


NO_BOX_TARGET = "no targets: both box sets are data (the loss is symmetric)"
REGISTRY.update({
    "generalized_box_iou_loss": Case(
        "generalized_box_iou_loss", _giou_fn, _giou_ref, _boxes_make, data=("boxes1", "boxes2"),
        hyper=("eps",), not_applicable={"grad_target": NO_BOX_TARGET},
        options={"where": BOX_WHERE, "reduction": "mean"},
    ),
    "distance_box_iou_loss": Case(
        "distance_box_iou_loss", _diou_fn, _diou_ref, _diou_make, data=("boxes1", "boxes2"),
        hyper=("eps", "weights"), not_applicable={"grad_target": NO_BOX_TARGET},
        options={"reduction": "sum"},
    ),
    "complete_box_iou_loss": Case(
        "complete_box_iou_loss", _ciou_fn, _ciou_ref, _ciou_make, data=("boxes1", "boxes2"),
        not_applicable={
            "grad_hyper": "eps enters only alpha, a constant of the gradient (torchvision's "
            "no_grad): d/d eps is 0, tested in tests/test_detection.py",
            "hessian": "alpha is a constant of the gradient (torchvision's no_grad), so the "
            "gradient's finite differences are not its derivative; tests/test_detection.py "
            "checks the Hessian finite and symmetric",
            "grad_target": NO_BOX_TARGET,
        },
        options={},
    ),
    "varifocal_loss": Case(
        "varifocal_loss", _vfl_fn, _vfl_ref, _vfl_make, **_SOFTMAX,
        hyper=("alpha", "gamma", "weights"), target="targets",
        not_applicable={
            "grad_target": "the loss jumps at a target of 0 (mmdetection's negatives), where "
            "finite differences do not apply; tests/test_detection.py checks the target "
            "derivative",
        },
        options={},
    ),
    "quality_focal_loss": Case(
        "quality_focal_loss", _qfl_fn, _qfl_ref, _qfl_make, **_SOFTMAX, hyper=("beta",),
        target="scores",
        options={"where": QFL_WHERE, "reduction": "none"},
        not_applicable={
            "target_shape": "the scores are one per anchor (the labels' shape), not per class; "
            "tests/test_detection.py checks their shape errors",
        },
    ),
    "distribution_focal_loss": Case(
        "distribution_focal_loss", _dfl_fn, _dfl_ref, _dfl_make, **_SOFTMAX, target="targets",
        not_applicable={
            "grad_hyper": NO_HYPER,
            "target_shape": "the targets are one distance per distribution (the logits' shape "
            "without the bin axis); tests/test_detection.py checks their shape errors",
        },
        options={"axis": 1, "reduction": "sum"},
    ),
})
# =============================================================================================
# end of Detection
# =============================================================================================
# SMP overlap: jaccard_loss, mcc_loss (issue 23, item 5)
# =============================================================================================


def _jaccard_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 3, 3)),  # (N, H, W, C)
        "targets": _labels(rng, (2, 2, 3), 3, -100, ignored=(4,)),
        "smooth": _f(0.5),
        "eps": _f(1e-7),
        "class_weights": _weights(np.random.default_rng(130), 3),
    }


def _jaccard_fn(logits, targets, smooth, eps, class_weights):
    return jaxloss.jaccard_loss(
        logits, targets, smooth=smooth, eps=eps, class_weights=class_weights, log_loss=True
    )


def _jaccard_ref(logits, targets, smooth, eps, class_weights):
    return ref.jaccard_loss(
        logits, targets, smooth=smooth, eps=eps, class_weights=class_weights, log_loss=True
    )


def _jaccard_soft_make(rng):
    return {
        "logits": _normal(rng, (2, 2, 3, 2)),  # (N, C, H, W), axis=1: soft multi-label masks
        "targets": _binary_targets(rng, (2, 2, 3, 2)),
        "smooth": _f(1.0),
    }


def _jaccard_soft_fn(logits, targets, smooth):
    return jaxloss.jaccard_loss(
        logits, targets, smooth=smooth, activation="sigmoid", soft_label=True, batch=True,
        absent="zero", axis=1, reduction="none",
    )


def _jaccard_soft_ref(logits, targets, smooth):
    return ref.jaccard_loss(
        logits, targets, smooth=smooth, activation="sigmoid", soft_label=True, batch=True,
        absent="zero", axis=1, reduction="none",
    )


MCC_WHERE = np.array([[True, True, False, True], [True, True, True, True],
                      [False, False, False, False]])


def _mcc_make(rng):
    return {
        "input": 1.0 / (1.0 + np.exp(-_normal(rng, (3, 4, 2)))),  # probabilities
        "target": _binary_targets(rng, (3, 4, 2)),
        "eps": _f(1e-3),
    }


def _mcc_fn(input, target, eps):
    return jaxloss.mcc_loss(input, target, eps=eps)


def _mcc_ref(input, target, eps):
    return ref.mcc_loss(input, target, eps=eps)


def _mcc_per_sample_fn(input, target, eps):
    return jaxloss.mcc_loss(
        input, target, eps=eps, batch=False, reduction="none", where=MCC_WHERE[:, :, None]
    )


def _mcc_per_sample_ref(input, target, eps):
    return ref.mcc_loss(
        input, target, eps=eps, batch=False, reduction="none", where=MCC_WHERE[:, :, None]
    )


REGISTRY.update({
    "jaccard_loss": Case(
        "jaccard_loss", _jaccard_fn, _jaccard_ref, _jaccard_make, **_SOFTMAX,
        hyper=("smooth", "eps", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"log_loss": True},
        element_shape=(2, 2, 3),  # per pixel ("none" is per sample and class)
    ),
    "jaccard_loss[sigmoid, soft_label]": Case(
        "jaccard_loss", _jaccard_soft_fn, _jaccard_soft_ref, _jaccard_soft_make, **_SOFTMAX,
        hyper=("smooth",), target="targets",
    ),
    "mcc_loss": Case(
        "mcc_loss", _mcc_fn, _mcc_ref, _mcc_make, data=("input",), hyper=("eps",),
        target="target",
        element_shape=(3, 4, 2),  # per element ("none" pools the batch: one value)
        options={},
    ),
    "mcc_loss[per sample, where]": Case(
        "mcc_loss", _mcc_per_sample_fn, _mcc_per_sample_ref, _mcc_make, data=("input",),
        hyper=("eps",), target="target",
    ),
})
# Distance transform (a utility the shape-aware losses use, not a loss)
# =============================================================================================


def _edt_make(rng):
    """A mask with a few zeros, and a spacing whose squares have no small common multiple:
    each element's nearest zero is unique up to symmetric offsets, so finite differences of
    the reference are the derivative with respect to `sampling`."""
    mask = (rng.random((6, 7)) > 0.15).astype(np.int64)
    mask[0, 0] = 0
    return {"mask": mask, "sampling": _f([1.3, 0.7])}


def _edt_fn(mask, sampling):
    return jaxloss.distance_transform_edt(mask, sampling=sampling)


def _edt_ref(mask, sampling):
    return ref.distance_transform_edt(mask, sampling=sampling)


EDT_MASK = "the mask enters only through mask != 0 (integer here; its gradient is zero)"

REGISTRY["distance_transform_edt"] = Case(
    "distance_transform_edt", _edt_fn, _edt_ref, _edt_make, hyper=("sampling",),
    not_applicable={**{t: EDT_MASK for t in DIFFERENTIATING}, "grad_target": "no targets"},
)

# --- end of the distance transform ----------------------------------------------------------
# =============================================================================================
# Contrastive (issue 22): clip_loss, siglip_loss
# =============================================================================================


def _contrastive_make(rng):
    """8 pairs of 4-d features, L2-normalised as the callers of both losses normalise them,
    the matching pairs correlated."""
    x = rng.standard_normal((8, 4))
    y = rng.standard_normal((8, 4)) + 0.5 * x
    return {
        "image_features": x / np.linalg.norm(x, axis=-1, keepdims=True),
        "text_features": y / np.linalg.norm(y, axis=-1, keepdims=True),
        "logit_scale": _f(3.0),
        "logit_bias": _f(-1.5),
    }


def _clip_fn(image_features, text_features, logit_scale, logit_bias):
    return jaxloss.clip_loss(
        image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias
    )


def _clip_ref(image_features, text_features, logit_scale, logit_bias):
    return ref.clip_loss(
        image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias
    )


def _siglip_fn(image_features, text_features, logit_scale, logit_bias):
    return jaxloss.siglip_loss(
        image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias
    )


def _siglip_ref(image_features, text_features, logit_scale, logit_bias):
    return ref.siglip_loss(
        image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias
    )


_FEATURES = {"data": ("image_features", "text_features"), "hyper": ("logit_scale", "logit_bias"),
             "not_applicable": {"grad_target": "no targets: both feature matrices are data"}}

REGISTRY.update({
    "clip_loss": Case(
        "clip_loss", _clip_fn, _clip_ref, _contrastive_make, **_FEATURES, options={}
    ),
    "siglip_loss": Case(
        "siglip_loss", _siglip_fn, _siglip_ref, _contrastive_make, **_FEATURES, options={}
    ),
})

# --- end of Contrastive ---------------------------------------------------------------------

# =============================================================================================
# Shape-aware segmentation (issue 23, item 4): hausdorff_dt_loss, log_hausdorff_dt_loss,
# boundary_loss, soft_cldice_loss, soft_dice_cldice_loss (MONAI 1.6)
# =============================================================================================
# Small images: every case compiles a distance transform or a soft skeleton. Random logits
# keep the probabilities away from the 0.5 threshold of the distance maps (which are
# constants of the gradient), and clDice's float targets avoid exact ties (0s and 1s), where
# the pooling is not differentiable and finite differences average the two sides.

SHAPE_WHERE = np.ones((2, 5, 6), bool)
SHAPE_WHERE[0, 1, 2:4] = False


def _hd_make(rng):
    return {
        "logits": _normal(rng, (2, 5, 6, 3)),  # (N, H, W, C)
        "targets": _labels(rng, (2, 5, 6), 3, -100, ignored=(7,)),
        "alpha": _f(1.5),
    }


def _hd_fn(logits, targets, alpha):
    return jaxloss.hausdorff_dt_loss(logits, targets, alpha=alpha)


def _hd_ref(logits, targets, alpha):
    return ref.hausdorff_dt_loss(logits, targets, alpha=alpha)


def _log_hd_make(rng):
    return {
        "logits": _normal(rng, (2, 3, 5, 6)),  # (N, C, H, W), axis=1
        "targets": _labels(rng, (2, 5, 6), 3, -100, ignored=(3, 11)),
        "alpha": _f(2.0),
    }


def _log_hd_fn(logits, targets, alpha):
    return jaxloss.log_hausdorff_dt_loss(
        logits, targets, alpha=alpha, include_background=True, batch=True, reduction="none",
        axis=1, where=SHAPE_WHERE,
    )


def _log_hd_ref(logits, targets, alpha):
    return ref.log_hausdorff_dt_loss(
        logits, targets, alpha=alpha, include_background=True, batch=True, reduction="none",
        axis=1, where=SHAPE_WHERE,
    )


def _hd_sigmoid_make(rng):
    return {
        "logits": _normal(rng, (2, 5, 6, 2)),  # (N, H, W, C) multi-label masks
        "targets": _binary_targets(rng, (2, 5, 6, 2)),
        "alpha": _f(2.0),
    }


def _hd_sigmoid_fn(logits, targets, alpha):
    return jaxloss.log_hausdorff_dt_loss(
        logits, targets, alpha=alpha, activation="sigmoid", reduction="sum"
    )


def _hd_sigmoid_ref(logits, targets, alpha):
    return ref.log_hausdorff_dt_loss(
        logits, targets, alpha=alpha, activation="sigmoid", reduction="sum"
    )


def _boundary_make(rng):
    return {
        "logits": _normal(rng, (2, 5, 6, 3)),
        "targets": _labels(rng, (2, 5, 6), 3, -100, ignored=(3, 11)),
    }


def _boundary_fn(logits, targets):
    return jaxloss.boundary_loss(logits, targets, reduction="sum", where=SHAPE_WHERE)


def _boundary_ref(logits, targets):
    return ref.boundary_loss(logits, targets, reduction="sum", where=SHAPE_WHERE)


def _cldice_make(rng):
    return {
        "logits": _normal(rng, (2, 6, 6, 2)),
        "targets": _labels(rng, (2, 6, 6), 2, -100, ignored=(5,)),
        "smooth": _f(0.5),
        "eps": _f(1e-3),
    }


def _cldice_fn(logits, targets, smooth, eps):
    return jaxloss.soft_cldice_loss(logits, targets, iterations=2, smooth=smooth, eps=eps)


def _cldice_ref(logits, targets, smooth, eps):
    return ref.soft_cldice_loss(logits, targets, iterations=2, smooth=smooth, eps=eps)


def _dice_cldice_int_make(rng):
    return {
        "logits": _normal(rng, (2, 6, 5, 3)),
        "targets": _labels(rng, (2, 6, 5), 3, -100, ignored=(2,)),
        "alpha": _f(0.5),
    }


CLDICE_WHERE = np.ones((2, 6, 5), bool)
CLDICE_WHERE[1, 2:4, 1] = False


def _dice_cldice_int_fn(logits, targets, alpha):
    return jaxloss.soft_dice_cldice_loss(logits, targets, alpha=alpha, where=CLDICE_WHERE)


def _dice_cldice_int_ref(logits, targets, alpha):
    return ref.soft_dice_cldice_loss(logits, targets, alpha=alpha, where=CLDICE_WHERE)


def _dice_cldice_make(rng):
    return {
        "logits": _normal(rng, (2, 4, 4, 3, 2)),  # (N, D, H, W, C) volumes
        "targets": rng.uniform(0.05, 0.95, (2, 4, 4, 3, 2)),  # soft, no ties
        "alpha": _f(0.3),
        "smooth": _f(1.0),
    }


def _dice_cldice_fn(logits, targets, alpha, smooth):
    return jaxloss.soft_dice_cldice_loss(
        logits, targets, alpha=alpha, smooth=smooth, activation="sigmoid",
        include_background=False, reduction="none",
    )


def _dice_cldice_ref(logits, targets, alpha, smooth):
    return ref.soft_dice_cldice_loss(
        logits, targets, alpha=alpha, smooth=smooth, activation="sigmoid",
        include_background=False, reduction="none",
    )


REGISTRY.update({
    "hausdorff_dt_loss": Case(
        "hausdorff_dt_loss", _hd_fn, _hd_ref, _hd_make, **_SOFTMAX, hyper=("alpha",),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={}, element_shape=(2, 5, 6),  # per pixel ("none" is per sample and class)
    ),
    "log_hausdorff_dt_loss[axis=1, batch, where]": Case(
        "log_hausdorff_dt_loss", _log_hd_fn, _log_hd_ref, _log_hd_make, **_SOFTMAX,
        hyper=("alpha",), not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"include_background": True, "batch": True, "reduction": "none", "axis": 1,
                 "where": SHAPE_WHERE},
        element_shape=(2, 5, 6),
    ),
    "log_hausdorff_dt_loss[sigmoid masks]": Case(
        "log_hausdorff_dt_loss", _hd_sigmoid_fn, _hd_sigmoid_ref, _hd_sigmoid_make,
        **_SOFTMAX, hyper=("alpha",), target="targets",
    ),
    "boundary_loss[where]": Case(
        "boundary_loss", _boundary_fn, _boundary_ref, _boundary_make, **_SOFTMAX,
        not_applicable={"grad_target": NO_FLOAT_TARGET, "grad_hyper": NO_HYPER},
        options={"reduction": "sum", "where": SHAPE_WHERE}, element_shape=(2, 5, 6),
    ),
    "soft_cldice_loss": Case(
        "soft_cldice_loss", _cldice_fn, _cldice_ref, _cldice_make, **_SOFTMAX,
        hyper=("smooth", "eps"), not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"iterations": 2}, element_shape=(2, 6, 6),
    ),
    "soft_dice_cldice_loss[where]": Case(
        "soft_dice_cldice_loss", _dice_cldice_int_fn, _dice_cldice_int_ref,
        _dice_cldice_int_make, **_SOFTMAX, hyper=("alpha",),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
        options={"where": CLDICE_WHERE}, element_shape=(2, 6, 5),
    ),
    "soft_dice_cldice_loss[3-D, sigmoid]": Case(
        "soft_dice_cldice_loss", _dice_cldice_fn, _dice_cldice_ref, _dice_cldice_make,
        **_SOFTMAX, hyper=("alpha", "smooth"), target="targets",
    ),
})
# --- end of Shape-aware ----------------------------------------------------------------------
