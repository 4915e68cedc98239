"""The transformation matrix: every public name x every JAX transformation (issue 9).

``REGISTRY`` holds one or more small cases per name in ``jaxloss.__all__`` (a test fails when
a new export has none, so nothing can be exported untested). Each case is a callable with a
representative option set, inputs (float64 where values are compared), the float64 NumPy
reference of ``tests/reference.py`` on the same arguments, and which arguments are
differentiable data, numeric (traceable) hyperparameters and float targets. A
transformation that does not apply to a case is listed in its ``not_applicable`` with the
reason; ``test_registry_declares_every_inapplicable_transformation`` checks that everything
the case's arguments rule out (no float input, no hyperparameter, no float target) is
listed there, so nothing is skipped silently.

Transformations: jit, vmap (over a batch of inputs, and over all hyperparameters at once,
against a loop over the reference), grad (against finite differences of the reference), jvp,
jacfwd (= jacrev), linearize, hessian (finite, symmetric, = finite differences of
``jax.grad``), checkpoint, eval_shape, jax.export round trip (serialised with its VJP), grad
and jvp with respect to the numeric hyperparameters and to the float targets, and
float16/bfloat16/float32/float64 inputs. shard_map and pmap are in ``tests/test_sharding.py``.

``python -m pytest`` runs jit, vmap, grad, jvp, eval_shape and the hyperparameter and target
derivatives of every case; the six costlier columns (jacfwd = jacrev, linearize, hessian,
checkpoint, export, dtypes) and the large-input jvp are marked slow and run with
``--run-slow``, as in CI.

Cases marked ``blocked`` lower the CPU row-blocked thresholds of ``jaxloss._logsumexp`` (as
``tests/test_fast_paths.py`` does) so that the large-input fast path runs on a tiny input;
``test_jvp_above_the_blocked_threshold`` runs forward mode on a real large input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import fd_grad

import jaxloss
from jaxloss import _logsumexp

TRANSFORMATIONS = (
    "jit",
    "vmap",
    "grad",
    "jvp",
    "jacfwd",
    "linearize",
    "hessian",
    "checkpoint",
    "eval_shape",
    "export",
    "grad_hyper",
    "grad_target",
    "dtype",
)
# The transformations that differentiate with respect to the data arguments.
DIFFERENTIATING = ("grad", "jvp", "jacfwd", "linearize", "hessian", "dtype")

# float64 tolerances: values against the reference, and finite differences (step FD_H).
VALUE_RTOL, VALUE_ATOL = 1e-9, 1e-11
FD_H = 1e-5
FD_RTOL, FD_ATOL = 1e-6, 1e-7
# Two float64 JAX computations of the same quantity by different transformations.
SAME_RTOL, SAME_ATOL = 1e-9, 1e-11


@pytest.fixture(autouse=True)
def _x64():
    """float64 for the whole module (the reference comparisons need it)."""
    with jax.enable_x64(True):
        yield


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
        "dice_weight": _f(0.6),
        "smooth": _f(0.1),
        "class_weights": _weights(np.random.default_rng(110), 3),
        "label_smoothing": _f(0.1),
    }


def _dice_ce_fn(logits, targets, dice_weight, smooth, class_weights, label_smoothing):
    return jaxloss.dice_cross_entropy_loss(
        logits, targets, dice_weight=dice_weight, smooth=smooth, class_weights=class_weights,
        label_smoothing=label_smoothing, batch=True,
    )


def _dice_ce_ref(logits, targets, dice_weight, smooth, class_weights, label_smoothing):
    return ref.dice_cross_entropy_loss(
        logits, targets, dice_weight=dice_weight, smooth=smooth, class_weights=class_weights,
        label_smoothing=label_smoothing, batch=True,
    )


def _dice_ce_probs_make(rng):
    targets = _softmax_np(_normal(rng, (2, 3, 3)), axis=-1)
    targets[0, 1] = [1.0, 0.0, 0.0]  # exact zeros in the targets
    return {
        "logits": _normal(rng, (2, 3, 3)),
        "targets": targets,
        "dice_weight": _f(0.5),
        "smooth": _f(0.1),
    }


def _dice_ce_probs_fn(logits, targets, dice_weight, smooth):
    return jaxloss.dice_cross_entropy_loss(
        logits, targets, dice_weight=dice_weight, smooth=smooth, reduction="sum"
    )


def _dice_ce_probs_ref(logits, targets, dice_weight, smooth):
    return ref.dice_cross_entropy_loss(
        logits, targets, dice_weight=dice_weight, smooth=smooth, reduction="sum"
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
        "class_priors": np.array([0.5, 0.3, 0.15, 0.05]),
        "tau": _f(1.2),
        "class_weights": _weights(np.random.default_rng(112), 4),
        "label_smoothing": _f(0.1),
    }


def _la_fn(logits, targets, class_priors, tau, class_weights, label_smoothing):
    return jaxloss.logit_adjusted_cross_entropy(
        logits, targets, class_priors=class_priors, tau=tau, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _la_ref(logits, targets, class_priors, tau, class_weights, label_smoothing):
    return ref.logit_adjusted_cross_entropy(
        logits, targets, class_priors=class_priors, tau=tau, class_weights=class_weights,
        label_smoothing=label_smoothing,
    )


def _la_probs_make(rng):
    targets = _softmax_np(_normal(rng, (3, 4, 2)), axis=1)
    targets[1, :, 0] = [0.0, 0.0, 1.0, 0.0]
    return {
        "logits": _normal(rng, (3, 4, 2)),
        "targets": targets,
        "class_priors": np.array([0.4, 0.3, 0.2, 0.1]),
        "tau": _f(1.0),
    }


def _la_probs_fn(logits, targets, class_priors, tau):
    return jaxloss.logit_adjusted_cross_entropy(
        logits, targets, class_priors=class_priors, tau=tau, axis=1, reduction="none"
    )


def _la_probs_ref(logits, targets, class_priors, tau):
    return ref.logit_adjusted_cross_entropy(
        logits, targets, class_priors=class_priors, tau=tau, axis=1, reduction="none"
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
    return {
        "log_p": _log_softmax_np(_normal(rng, (3, 4, 2)), 1),
        "log_q": _log_softmax_np(_normal(rng, (3, 4, 2)), 1),
        "beta": _f(0.3),
    }


def _jsd_fn(log_p, log_q, beta):
    return jaxloss.jensen_shannon_divergence(log_p, log_q, beta=beta, axis=1, where=JSD_WHERE)


def _jsd_ref(log_p, log_q, beta):
    return ref.jensen_shannon_divergence(log_p, log_q, beta=beta, axis=1, where=JSD_WHERE)


def _distill_make(rng):
    return {
        "student_logits": _normal(rng, (5, 4)),
        "teacher_logits": _normal(rng, (5, 4)),
        "targets": _labels(rng, (5,), 4, -100, ignored=(3,)),
        "temperature": _f(2.0),
        "hard_weight": _f(0.3),
    }


def _distill_fn(student_logits, teacher_logits, targets, temperature, hard_weight):
    return jaxloss.distillation_loss(
        student_logits, teacher_logits, temperature=temperature, targets=targets,
        hard_weight=hard_weight,
    )


def _distill_ref(student_logits, teacher_logits, targets, temperature, hard_weight):
    return ref.distillation_loss(
        student_logits, teacher_logits, temperature=temperature, targets=targets,
        hard_weight=hard_weight,
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


def _triplet_dist_fn(anchor, positive, negative, margin):
    return jaxloss.triplet_margin_with_distance_loss(
        anchor, positive, negative, margin=margin, swap=True,
        distance_function=lambda u, v: jnp.sum((u - v) ** 2, axis=-1),
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

_SOFTMAX = dict(data=("logits",))
REGISTRY: dict[str, Case] = {
    "cross_entropy": Case(
        "cross_entropy", _ce_fn, _ce_ref, _ce_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing", "z_loss"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "cross_entropy[probs]": Case(
        "cross_entropy", _ce_probs_fn, _ce_probs_ref, _ce_probs_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing", "z_loss"), target="targets",
    ),
    "cross_entropy[blocked]": Case(
        "cross_entropy", _ce_blocked_fn, _ce_blocked_ref, _ce_blocked_make, **_SOFTMAX,
        hyper=("class_weights", "z_loss"), blocked=True,
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "nll_loss": Case(
        "nll_loss", _nll_fn, _nll_ref, _nll_make, data=("log_probs",),
        hyper=("class_weights",), not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "focal_loss": Case(
        "focal_loss", _focal_fn, _focal_ref, _focal_make, **_SOFTMAX,
        hyper=("gamma", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "focal_loss[probs]": Case(
        "focal_loss", _focal_probs_fn, _focal_probs_ref, _focal_probs_make, **_SOFTMAX,
        hyper=("gamma",), target="targets",
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
    ),
    "l1_loss": Case(
        "l1_loss", _l1_loss_fn, _l1_loss_ref, _l1_loss_make, data=("input",), hyper=("weights",),
        target="target",
    ),
    "mse_loss": Case(
        "mse_loss", _mse_fn, _mse_ref, _l1_loss_make, data=("input",), hyper=("weights",),
        target="target",
    ),
    "huber_loss": Case(
        "huber_loss", _huber_fn, _huber_ref, _huber_make, data=("input",),
        hyper=("weights", "delta"), target="target",
    ),
    "smooth_l1_loss": Case(
        "smooth_l1_loss", _smooth_l1_fn, _smooth_l1_ref, _smooth_l1_make, data=("input",),
        hyper=("beta",), target="target",
    ),
    "poisson_nll_loss": Case(
        "poisson_nll_loss", _poisson_fn, _poisson_ref, _poisson_make, data=("input",),
        target="target", not_applicable={"grad_hyper": NO_HYPER + " (log_input, full: structure)"},
    ),
    "poisson_nll_loss[rates]": Case(
        "poisson_nll_loss", _poisson_rates_fn, _poisson_rates_ref, _poisson_rates_make,
        data=("input",), hyper=("eps",), target="target",
    ),
    "gaussian_nll_loss": Case(
        "gaussian_nll_loss", _gaussian_fn, _gaussian_ref, _gaussian_make, data=("input", "var"),
        hyper=("eps",), target="target",
    ),
    "sigmoid_focal_loss": Case(
        "sigmoid_focal_loss", _sfl_fn, _sfl_ref, _sfl_make, **_SOFTMAX,
        hyper=("alpha", "gamma", "pos_weight", "class_weights", "weights"), target="targets",
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
    ),
    "dice_loss[sigmoid]": Case(
        "dice_loss", _dice_sigmoid_fn, _dice_sigmoid_ref, _dice_sigmoid_make, **_SOFTMAX,
        hyper=("smooth",), target="targets",
    ),
    "tversky_loss": Case(
        "tversky_loss", _tversky_fn, _tversky_ref, _tversky_make, **_SOFTMAX,
        hyper=("alpha", "beta", "smooth", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "tversky_loss[sigmoid]": Case(
        "tversky_loss", _tversky_sigmoid_fn, _tversky_sigmoid_ref, _tversky_sigmoid_make,
        **_SOFTMAX, hyper=("alpha", "beta", "smooth"), target="targets",
    ),
    "dice_cross_entropy_loss": Case(
        "dice_cross_entropy_loss", _dice_ce_fn, _dice_ce_ref, _dice_ce_make, **_SOFTMAX,
        hyper=("dice_weight", "smooth", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "dice_cross_entropy_loss[probs]": Case(
        "dice_cross_entropy_loss", _dice_ce_probs_fn, _dice_ce_probs_ref, _dice_ce_probs_make,
        **_SOFTMAX, hyper=("dice_weight", "smooth"), target="targets",
    ),
    "tversky_loss[focal, soft_label]": Case(
        "tversky_loss", _tversky_focal_fn, _tversky_focal_ref, _tversky_focal_make,
        **_SOFTMAX, hyper=("alpha", "beta", "gamma", "smooth"), target="targets",
    ),
    "generalized_dice_loss": Case(
        "generalized_dice_loss", _gdl_fn, _gdl_ref, _gdl_make, **_SOFTMAX, hyper=("smooth",),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "generalized_dice_loss[sigmoid]": Case(
        "generalized_dice_loss", _gdl_probs_fn, _gdl_probs_ref, _gdl_probs_make, **_SOFTMAX,
        hyper=("smooth",), target="targets",
    ),
    "dice_focal_loss": Case(
        "dice_focal_loss", _dice_focal_fn, _dice_focal_ref, _dice_focal_make, **_SOFTMAX,
        hyper=("gamma", "lambda_dice", "lambda_focal", "smooth", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "dice_focal_loss[sigmoid]": Case(
        "dice_focal_loss", _dice_focal_sigmoid_fn, _dice_focal_sigmoid_ref,
        _dice_focal_sigmoid_make, **_SOFTMAX, hyper=("gamma", "alpha", "smooth"),
        target="targets",
    ),
    "lovasz_softmax_loss": Case(
        "lovasz_softmax_loss", _lovasz_softmax_fn, _lovasz_softmax_ref, _lovasz_softmax_make,
        **_SOFTMAX, not_applicable={
            "grad_hyper": NO_HYPER + " (classes, per_image: structure)",
            "grad_target": NO_FLOAT_TARGET,
        },
    ),
    "lovasz_hinge_loss": Case(
        "lovasz_hinge_loss", _lovasz_hinge_fn, _lovasz_hinge_ref, _lovasz_hinge_make,
        **_SOFTMAX, not_applicable={
            "grad_hyper": NO_HYPER + " (per_image: structure)",
            "grad_target": NO_FLOAT_TARGET + " here (0/1 masks with an ignored pixel)",
        },
    ),
    "linear_cross_entropy": Case(
        "linear_cross_entropy", _linear_fn, _linear_ref, _linear_make,
        data=("hidden", "weight"), hyper=("class_weights", "label_smoothing", "z_loss"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "logit_adjusted_cross_entropy": Case(
        "logit_adjusted_cross_entropy", _la_fn, _la_ref, _la_make, **_SOFTMAX,
        hyper=("class_priors", "tau", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "logit_adjusted_cross_entropy[probs]": Case(
        "logit_adjusted_cross_entropy", _la_probs_fn, _la_probs_ref, _la_probs_make,
        **_SOFTMAX, hyper=("class_priors", "tau"), target="targets",
    ),
    "ldam_loss": Case(
        "ldam_loss", _ldam_fn, _ldam_ref, _ldam_make, **_SOFTMAX,
        hyper=("class_counts", "max_margin", "scale", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "poly1_cross_entropy": Case(
        "poly1_cross_entropy", _poly_fn, _poly_ref, _poly_make, **_SOFTMAX,
        hyper=("epsilon", "class_weights", "label_smoothing"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "poly1_cross_entropy[probs]": Case(
        "poly1_cross_entropy", _poly_probs_fn, _poly_probs_ref, _poly_probs_make, **_SOFTMAX,
        hyper=("epsilon",), target="targets",
    ),
    "kl_div": Case(
        "kl_div", _kl_fn, _kl_ref, _kl_make, data=("input",), target="target",
        not_applicable={"grad_hyper": NO_HYPER},
    ),
    "kl_div[log_target]": Case(
        "kl_div", _kl_log_fn, _kl_log_ref, _kl_log_make, data=("input",), target="target",
        not_applicable={"grad_hyper": NO_HYPER},
    ),
    "jensen_shannon_divergence": Case(
        "jensen_shannon_divergence", _jsd_fn, _jsd_ref, _jsd_make, data=("log_p", "log_q"),
        hyper=("beta",), not_applicable={"grad_target": "no targets: both arguments are data"},
    ),
    "distillation_loss": Case(
        "distillation_loss", _distill_fn, _distill_ref, _distill_make,
        data=("student_logits", "teacher_logits"), hyper=("temperature", "hard_weight"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "margin_ranking_loss": Case(
        "margin_ranking_loss", _ranking_fn, _ranking_ref, _ranking_make,
        data=("input1", "input2"), hyper=("margin",), target="target",
    ),
    "hinge_embedding_loss": Case(
        "hinge_embedding_loss", _hinge_emb_fn, _hinge_emb_ref, _hinge_emb_make,
        data=("input",), hyper=("margin",), not_applicable={"grad_target": SELECTOR_TARGET},
    ),
    "soft_margin_loss": Case(
        "soft_margin_loss", _soft_margin_fn, _soft_margin_ref, _soft_margin_make,
        data=("input",), target="target", not_applicable={"grad_hyper": NO_HYPER},
    ),
    "multilabel_soft_margin_loss": Case(
        "multilabel_soft_margin_loss", _mlsm_fn, _mlsm_ref, _mlsm_make, data=("input",),
        hyper=("class_weights",), target="target",
    ),
    "multi_margin_loss": Case(
        "multi_margin_loss", _multi_margin_fn, _multi_margin_ref, _multi_margin_make,
        data=("input",), hyper=("margin", "class_weights"),
        not_applicable={"grad_target": NO_FLOAT_TARGET},
    ),
    "multilabel_margin_loss": Case(
        "multilabel_margin_loss", _mlm_fn, _mlm_ref, _mlm_make, data=("input",),
        not_applicable={"grad_hyper": NO_HYPER + " (PyTorch's margin is fixed at 1)",
                        "grad_target": NO_FLOAT_TARGET},
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
    ),
    "triplet_margin_with_distance_loss": Case(
        "triplet_margin_with_distance_loss", _triplet_dist_fn, _triplet_dist_ref,
        _triplet_dist_make, data=("anchor", "positive", "negative"), hyper=("margin",),
        not_applicable={"grad_target": "no targets"},
    ),
    "ctc_loss": Case(
        "ctc_loss", _ctc_fn, _ctc_ref, _ctc_make, data=("log_probs",),
        not_applicable={"grad_hyper": CTC_NO_HYPER, "grad_target": NO_FLOAT_TARGET},
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
    ),
    "class_weights_from_counts": Case(
        "class_weights_from_counts", _cw_fn, _cw_ref, _cw_make, data=("counts",),
        hyper=("beta",), not_applicable={"grad_target": "no targets"},
    ),
    "l1_penalty": Case(
        "l1_penalty", _l1_fn, _l1_ref, _penalty_make, data=("w", "b"),
        not_applicable={"grad_hyper": NO_HYPER, "grad_target": "no targets"},
    ),
    "l2_penalty": Case(
        "l2_penalty", _l2_fn, _l2_ref, _penalty_make, data=("w", "b"),
        not_applicable={"grad_hyper": NO_HYPER, "grad_target": "no targets"},
    ),
    "checked": Case(
        "checked", _checked_fn, _checked_ref, _checked_make, **_SOFTMAX,
        hyper=("class_weights", "label_smoothing"),
        not_applicable={
            "grad_target": NO_FLOAT_TARGET,
            "export": "raises through a host callback, which a serialised program cannot carry",
        },
    ),
}


def _implied_not_applicable(case: Case) -> set[str]:
    """The transformations that cannot apply, from the case's arguments alone."""
    out = set()
    if not case.data:
        out.update(DIFFERENTIATING)
    if not case.hyper:
        out.add("grad_hyper")
    if case.target is None:
        out.add("grad_target")
    return out


def test_every_public_name_has_a_registry_entry():
    names = {case.name for case in REGISTRY.values()}
    missing = set(jaxloss.__all__) - names
    assert not missing, f"exported but not in the transformation matrix: {sorted(missing)}"
    assert names <= set(jaxloss.__all__), names - set(jaxloss.__all__)


def test_registry_declares_every_inapplicable_transformation():
    for key, case in REGISTRY.items():
        args = case.make(np.random.default_rng(0))
        kinds = [*case.data, *case.hyper, *([case.target] if case.target else [])]
        assert len(kinds) == len(set(kinds)), key
        assert set(kinds) <= set(args), (key, set(kinds) - set(args))
        for name, value in args.items():
            if name not in kinds:  # everything else must be integer
                assert np.issubdtype(np.asarray(value).dtype, np.integer), (key, name)
        assert set(case.not_applicable) <= set(TRANSFORMATIONS), key
        assert all(isinstance(r, str) and r for r in case.not_applicable.values()), key
        implied = _implied_not_applicable(case)
        undeclared = implied - set(case.not_applicable)
        assert not undeclared, f"{key}: inapplicable but not listed with a reason: {undeclared}"


def _params(transformation):
    return [
        pytest.param(key, id=key)
        for key, case in REGISTRY.items()
        if transformation not in case.not_applicable
    ]


# =============================================================================================
# Helpers
# =============================================================================================


@pytest.fixture
def prepared(monkeypatch):
    """Returns ``prepared(key) -> (case, args)``; blocked cases lower the CPU thresholds."""

    def run(key, seed=0):
        case = REGISTRY[key]
        if case.blocked:
            monkeypatch.setattr(_logsumexp, "BLOCKED_MIN_ELEMENTS", 64)
            monkeypatch.setattr(_logsumexp, "BLOCK_ELEMENTS", 4 * BLOCKED_SHAPE[1])
            assert _logsumexp.use_fused(jnp.zeros(BLOCKED_SHAPE), -1), "not the blocked path"
        return case, case.make(np.random.default_rng(seed))

    return run


def _of(f: Callable, args: dict, names: tuple[str, ...], to_jnp: bool = True) -> Callable:
    """``f`` as a function of the arguments ``names`` (positional), the others fixed."""
    fixed = {k: (jnp.asarray(v) if to_jnp else v) for k, v in args.items() if k not in names}

    def g(*values):
        return f(**fixed, **dict(zip(names, values, strict=True)))

    return g


def _total(f: Callable) -> Callable:
    """The sum of ``f``'s output (a scalar function for grad/hessian)."""
    return lambda *a: jnp.sum(f(*a))


def _ref_total(f: Callable) -> Callable:
    return lambda *a: float(np.sum(f(*a)))


def _jnp(args: dict, names) -> list:
    return [jnp.asarray(args[n]) for n in names]


def _assert_value(got, want, msg=""):
    got = np.asarray(got)
    assert got.dtype == np.float64 or np.issubdtype(got.dtype, np.integer), (got.dtype, msg)
    np.testing.assert_allclose(got, want, rtol=VALUE_RTOL, atol=VALUE_ATOL, err_msg=msg)


def _assert_fd(got, want, msg=""):
    got = np.asarray(got)
    assert np.all(np.isfinite(got)), msg
    np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL, err_msg=msg)


def _assert_same(got, want, msg=""):
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(want), rtol=SAME_RTOL, atol=SAME_ATOL, err_msg=msg
    )


def _fd_direction(f, primals, tangents, h=FD_H):
    """Central difference of a float64 function along ``tangents``."""
    plus = f(*[p + h * t for p, t in zip(primals, tangents, strict=True)])
    minus = f(*[p - h * t for p, t in zip(primals, tangents, strict=True)])
    return (np.asarray(plus, np.float64) - np.asarray(minus, np.float64)) / (2 * h)


def _directions(arrays, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(a)) for a in arrays]


def _fd_each(f_ref, args, names):
    """Finite-difference gradient of the reference's total w.r.t. each of ``names``."""
    values = [np.asarray(args[n], np.float64) for n in names]
    out = []
    for i in range(len(names)):

        def h(v, i=i):
            return f_ref(*values[:i], v, *values[i + 1 :])

        out.append(fd_grad(h, values[i], h=FD_H))
    return out


INTEGER_TARGET_CASES = [
    key for key, case in REGISTRY.items()
    if any(np.issubdtype(np.asarray(v).dtype, np.integer)
           for v in case.make(np.random.default_rng(0)).values())
]


# =============================================================================================
# The matrix. Compiling, not running, is what it costs, so each case's columns are traced into
# one program: the quick columns (jit, vmap, grad, jvp, the hyperparameter and target
# derivatives, int32 targets) in one, the slow ones (jacfwd = jacrev, linearize, hessian,
# checkpoint, dtypes) in another, compiled by the first test of the case that needs it (the
# xdist group is the case, see conftest.py). Each test still checks its own column. If the
# merged program fails to trace or compile, every column compiles alone, so a failure names
# its column.
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of one case: ``program(inputs)`` is what jit compiles (merged with the case's
    other columns), ``check(outputs)`` its assertions against the reference."""

    program: Callable[[Any], Any]
    inputs: Any
    check: Callable[[Any], None]


def _jit_column(case, args):
    return Column(
        lambda a: case.fn(**a), {k: jnp.asarray(v) for k, v in args.items()},
        lambda out: _assert_value(out, case.ref(**args), "jit"),
    )


def _vmap_column(case, _args):
    """vmap over a batch of 3 inputs (everything but the hyperparameters), and over all the
    hyperparameters at once with the inputs fixed; each element against a loop over the
    float64 reference."""
    batch = [case.make(np.random.default_rng(seed)) for seed in range(3)]
    args = batch[0]
    mapped = tuple(n for n in args if n not in case.hyper)
    scales = np.array([0.5, 0.75, 1.0])
    hyper_batch = [
        jnp.asarray(scales.reshape((3,) + (1,) * np.ndim(args[n])) * args[n]) for n in case.hyper
    ]

    def program(inputs):
        stacked, hypers = inputs
        over_inputs = jax.vmap(_of(case.fn, args, mapped))(*stacked)
        over_hypers = jax.vmap(_of(case.fn, args, case.hyper))(*hypers) if hypers else None
        return over_inputs, over_hypers

    def check(out):
        over_inputs, over_hypers = out
        for i, b in enumerate(batch):
            _assert_value(over_inputs[i], case.ref(**b), f"batch element {i}")
        for i in range(3 if case.hyper else 0):
            values = {n: np.asarray(v[i]) for n, v in zip(case.hyper, hyper_batch, strict=True)}
            _assert_value(over_hypers[i], case.ref(**{**args, **values}), f"hyper element {i}")

    stacked = [jnp.stack([jnp.asarray(b[n]) for b in batch]) for n in mapped]
    return Column(program, (stacked, hyper_batch), check)


def _grad_column(case, args):
    g = _total(_of(case.fn, args, case.data))
    f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))

    def check(out):
        value, grads = out
        _assert_value(value, f_ref(*[args[n] for n in case.data]))
        for name, got, want in zip(case.data, grads, _fd_each(f_ref, args, case.data),
                                   strict=True):
            assert got.dtype == jnp.float64, name
            _assert_fd(got, want, f"d/d{name}")

    return Column(
        lambda p: jax.value_and_grad(g, argnums=tuple(range(len(case.data))))(*p),
        _jnp(args, case.data), check,
    )


def _jvp_column(case, args):
    primals = _jnp(args, case.data)
    tangents = _directions(primals)
    g = _of(case.fn, args, case.data)
    f_ref = _of(case.ref, args, case.data, to_jnp=False)

    def check(out):
        out, tangent_out = out
        _assert_value(out, f_ref(*[args[n] for n in case.data]))
        want = _fd_direction(f_ref, [np.asarray(p) for p in primals], tangents)
        _assert_fd(tangent_out, want, "jvp tangent vs finite differences of the reference")

    return Column(lambda pt: jax.jvp(g, *pt), (primals, [jnp.asarray(t) for t in tangents]),
                  check)


def _jacfwd_column(case, args):
    g = _of(case.fn, args, case.data)
    argnums = tuple(range(len(case.data)))
    primals = _jnp(args, case.data)

    def check(out):
        fwd, rev = out
        out_shape = np.shape(case.ref(**args))
        for name, a, b, p in zip(case.data, fwd, rev, primals, strict=True):
            assert a.shape == out_shape + p.shape, (name, a.shape)
            assert np.all(np.isfinite(a)), name
            _assert_same(a, b, f"jacfwd vs jacrev, d/d{name}")

    return Column(
        lambda p: (jax.jacfwd(g, argnums=argnums)(*p), jax.jacrev(g, argnums=argnums)(*p)),
        primals, check,
    )


def _linearize_column(case, args):
    """jax.linearize: the primal output, and the linear map at t and -2t vs the reference."""
    primals = _jnp(args, case.data)
    g = _of(case.fn, args, case.data)
    tangents = _directions(primals, seed=2)

    def program(pt):
        p, t = pt
        out, f_jvp = jax.linearize(g, *p)
        return out, f_jvp(*t), f_jvp(*[-2.0 * v for v in t])

    def check(out):
        out, lin, lin2 = out
        f_ref = _of(case.ref, args, case.data, to_jnp=False)
        _assert_value(out, f_ref(*[args[n] for n in case.data]))
        want = _fd_direction(f_ref, [np.asarray(p) for p in primals], tangents)
        _assert_fd(lin, want, "linearized tangent vs finite differences of the reference")
        _assert_same(lin2, -2.0 * np.asarray(lin), "the linearized map is not linear")

    return Column(program, (primals, [jnp.asarray(t) for t in tangents]), check)


def _hessian_column(case, args):
    """The Hessian w.r.t. the first data argument: finite, symmetric, = FD of jax.grad."""
    name = case.data[0]
    g = _total(_of(case.fn, args, (name,)))
    x = np.asarray(args[name], np.float64)
    h = 1e-5
    steps = (h * np.eye(x.size)).reshape((x.size,) + x.shape)

    def program(inputs):
        x, steps = inputs
        return jax.hessian(g)(x), jax.vmap(lambda s: jax.grad(g)(x + s))(steps)

    def check(out):
        hess, grads = out
        hess = np.asarray(hess)
        assert hess.shape == x.shape + x.shape
        assert np.all(np.isfinite(hess))
        flat = hess.reshape(x.size, x.size)
        np.testing.assert_allclose(flat, flat.T, rtol=1e-8, atol=1e-10, err_msg="not symmetric")
        plus, minus = np.split(np.asarray(grads).reshape(2 * x.size, x.size), 2)
        want = ((plus - minus) / (2 * h)).T
        np.testing.assert_allclose(flat, want, rtol=1e-6, atol=1e-7, err_msg="vs FD of jax.grad")

    return Column(program, (jnp.asarray(x), jnp.asarray(np.concatenate([steps, -steps]))),
                  check)


def _checkpoint_column(case, args):
    """jax.checkpoint (rematerialisation): value and gradient against the reference."""
    want = case.ref(**args)
    if not case.data:
        return Column(lambda a: jax.checkpoint(case.fn)(**a),
                      {k: jnp.asarray(v) for k, v in args.items()},
                      lambda out: _assert_value(out, want))
    g = _total(_of(case.fn, args, case.data))
    argnums = tuple(range(len(case.data)))

    def check(out):
        value, grads = out
        _assert_value(value, np.sum(want))
        f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))
        for name, got, fd in zip(case.data, grads, _fd_each(f_ref, args, case.data),
                                 strict=True):
            _assert_fd(got, fd, f"checkpointed d/d{name}")

    return Column(lambda p: jax.value_and_grad(jax.checkpoint(g), argnums=argnums)(*p),
                  _jnp(args, case.data), check)


def _grad_and_jvp_column(case, args, names):
    """grad and jvp w.r.t. ``names`` against finite differences of the reference."""
    g = _of(case.fn, args, names)
    primals = _jnp(args, names)
    tangents = _directions(primals, seed=3)

    def program(pt):
        p, t = pt
        return jax.grad(_total(g), argnums=tuple(range(len(names))))(*p), jax.jvp(g, p, t)[1]

    def check(out):
        grads, tangent_out = out
        f_ref = _of(case.ref, args, names, to_jnp=False)
        for name, got, want in zip(names, grads, _fd_each(_ref_total(f_ref), args, names),
                                   strict=True):
            _assert_fd(got, want, f"grad d/d{name}")
        want = _fd_direction(f_ref, [np.asarray(p) for p in primals], tangents)
        _assert_fd(tangent_out, want, f"jvp along {names}")

    return Column(program, (primals, [jnp.asarray(t) for t in tangents]), check)


def _int32_column(case, args):
    """int32 labels (what most data pipelines give) with float64 inputs under x64."""
    args32 = {
        k: v.astype(np.int32) if np.issubdtype(np.asarray(v).dtype, np.integer) else v
        for k, v in args.items()
    }
    return Column(lambda a: case.fn(**a), {k: jnp.asarray(v) for k, v in args32.items()},
                  lambda out: _assert_value(out, case.ref(**args)))


DTYPES = {  # input dtype: (loss dtype, tolerance against the reference at rounded inputs)
    jnp.float16: (np.float32, 1e-2),
    jnp.bfloat16: (np.float32, 4e-2),
    jnp.float32: (np.float32, 1e-4),
    jnp.float64: (np.float64, 1e-7),
}


def _dtype_column(case, args):
    """float16/bfloat16/float32 inputs compute in float32 and give a float32 loss; float64
    stays float64. Values and gradients are finite and match the reference evaluated at the
    rounded inputs (so only the compute precision counts); gradients have the input's dtype.
    """
    casts, roundeds = [], []
    for in_dtype in DTYPES:
        hyper_dtype = jnp.float64 if in_dtype == jnp.float64 else jnp.float32
        cast = {}
        for name, value in args.items():
            if name in case.hyper:
                cast[name] = jnp.asarray(value, hyper_dtype)
            elif name in case.data or name == case.target:
                cast[name] = jnp.asarray(value, in_dtype)
            else:
                cast[name] = jnp.asarray(value)
        casts.append(cast)
        roundeds.append({
            k: np.asarray(v.astype(jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v)
            for k, v in cast.items()
        })

    def program(casts):
        out = []
        for cast in casts:
            g = _of(case.fn, cast, case.data, to_jnp=False)
            primals = [cast[n] for n in case.data]
            out.append((g(*primals),
                        jax.grad(_total(g), argnums=tuple(range(len(primals))))(*primals)))
        return out

    def check(results):
        for (in_dtype, (out_dtype, tol)), (value, grads), rounded in zip(
            DTYPES.items(), results, roundeds, strict=True
        ):
            label = jnp.dtype(in_dtype).name
            assert value.dtype == out_dtype, (label, value.dtype)
            assert np.all(np.isfinite(value)), label
            want = case.ref(**rounded)
            np.testing.assert_allclose(np.asarray(value, np.float64), want, rtol=tol,
                                       atol=tol * max(1.0, float(np.max(np.abs(want)))),
                                       err_msg=f"{label} value")
            f_ref = _ref_total(_of(case.ref, rounded, case.data, to_jnp=False))
            fds = _fd_each(f_ref, rounded, case.data)
            for name, got, fd in zip(case.data, grads, fds, strict=True):
                assert got.dtype == in_dtype, (label, name, got.dtype)
                got = np.asarray(got.astype(jnp.float64))
                assert np.all(np.isfinite(got)), (label, name)
                np.testing.assert_allclose(got, fd, rtol=tol,
                                           atol=tol * max(1.0, np.max(np.abs(fd))),
                                           err_msg=f"{label} d/d{name}")

    return Column(program, casts, check)


COLUMNS: dict[str, Callable[[Case, dict], Column]] = {
    "jit": _jit_column,
    "vmap": _vmap_column,
    "grad": _grad_column,
    "jvp": _jvp_column,
    "grad_hyper": lambda case, args: _grad_and_jvp_column(case, args, case.hyper),
    "grad_target": lambda case, args: _grad_and_jvp_column(case, args, (case.target,)),
    "int32": _int32_column,
    "jacfwd": _jacfwd_column,
    "linearize": _linearize_column,
    "hessian": _hessian_column,
    "checkpoint": _checkpoint_column,
    "dtype": _dtype_column,
}
# The compiled programs and their columns: "quick" runs in `python -m pytest`, "slow" with
# --run-slow. (eval_shape compiles nothing; export serialises a program of its own.)
PROGRAMS = {
    "quick": ("jit", "vmap", "grad", "jvp", "grad_hyper", "grad_target", "int32"),
    "slow": ("jacfwd", "linearize", "hessian", "checkpoint", "dtype"),
}
# (case, program) -> the program's applicable columns and their outputs, made by the first test
# of the case that needs them (the others check their column against the same outputs).
_MERGED: dict[tuple[str, str], tuple[dict[str, Column], dict[str, Any]]] = {}


def _applies(key: str, column: str) -> bool:
    if column == "int32":
        return key in INTEGER_TARGET_CASES
    return column not in REGISTRY[key].not_applicable


def _merged(key: str, program: str, case: Case, args: dict):
    """Every applicable column of ``program`` for the case, and their outputs compiled and run
    as one program; no outputs if that fails (the tests then compile their columns one by
    one)."""
    if (key, program) not in _MERGED:
        columns = {c: COLUMNS[c](case, args) for c in PROGRAMS[program] if _applies(key, c)}
        try:
            outputs = jax.device_get(
                jax.jit(lambda inputs: {c: col.program(inputs[c]) for c, col in columns.items()})(
                    {c: col.inputs for c, col in columns.items()}
                )
            )
        except Exception:  # noqa: BLE001 - reported by each column's own compile
            outputs = {}
        _MERGED[(key, program)] = columns, outputs
    return _MERGED[(key, program)]


def _run_column(key: str, column: str, prepared) -> None:
    case, args = prepared(key)  # also lowers the blocked cases' thresholds for this test
    program = next(p for p, columns in PROGRAMS.items() if column in columns)
    columns, outputs = _merged(key, program, case, args)
    col = columns[column]
    if column in outputs:
        col.check(outputs[column])
    else:
        col.check(jax.device_get(jax.jit(col.program)(col.inputs)))


@pytest.mark.parametrize("key", _params("jit"))
def test_jit(key, prepared):
    _run_column(key, "jit", prepared)


@pytest.mark.parametrize("key", _params("vmap"))
def test_vmap(key, prepared):
    _run_column(key, "vmap", prepared)


@pytest.mark.parametrize("key", _params("grad"))
def test_grad(key, prepared):
    _run_column(key, "grad", prepared)


@pytest.mark.parametrize("key", _params("jvp"))
def test_jvp(key, prepared):
    _run_column(key, "jvp", prepared)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("jacfwd"))
def test_jacfwd_equals_jacrev(key, prepared):
    _run_column(key, "jacfwd", prepared)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("linearize"))
def test_linearize(key, prepared):
    _run_column(key, "linearize", prepared)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("hessian"))
def test_hessian(key, prepared):
    _run_column(key, "hessian", prepared)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("checkpoint"))
def test_checkpoint(key, prepared):
    _run_column(key, "checkpoint", prepared)


@pytest.mark.parametrize("key", _params("eval_shape"))
def test_eval_shape(key, prepared):
    case, args = prepared(key)
    shape = jax.eval_shape(case.fn, **args)
    want = np.asarray(case.ref(**args))
    assert shape.shape == want.shape
    expected = np.int32 if np.issubdtype(want.dtype, np.integer) else np.float64
    assert shape.dtype == expected, shape.dtype


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("export"))
def test_export_round_trip(key, prepared):
    """jax.export of the jitted call, serialised with its VJP, deserialised, called, and
    differentiated; values against the reference, gradients against its finite differences."""
    case, args = prepared(key)
    names = tuple(args)
    g = _of(case.fn, args, names)
    values = _jnp(args, names)
    exported = jax.export.export(jax.jit(g))(*values)
    restored = jax.export.deserialize(exported.serialize(vjp_order=1 if case.data else 0))
    if not case.data:
        _assert_value(restored.call(*values), case.ref(**args))
        return
    argnums = tuple(names.index(n) for n in case.data)
    out, grads = jax.jit(
        lambda *v: (restored.call(*v), jax.grad(_total(restored.call), argnums=argnums)(*v))
    )(*values)
    _assert_value(out, case.ref(**args))
    f_ref = _ref_total(_of(case.ref, args, case.data, to_jnp=False))
    for name, got, want in zip(case.data, grads, _fd_each(f_ref, args, case.data), strict=True):
        _assert_fd(got, want, f"d/d{name} through the deserialised program")


@pytest.mark.parametrize("key", _params("grad_hyper"))
def test_grad_and_jvp_wrt_hyperparameters(key, prepared):
    _run_column(key, "grad_hyper", prepared)


@pytest.mark.parametrize("key", _params("grad_target"))
def test_grad_and_jvp_wrt_float_targets(key, prepared):
    _run_column(key, "grad_target", prepared)


def test_bce_target_gradient_is_pytorchs():
    """d/dy of BCE-with-logits is -x at every y, 0 and 1 included (PyTorch's autograd)."""
    x = jnp.array([1.3, -0.7, 2.0])
    y = jnp.array([0.0, 1.0, 0.0])
    got = jax.grad(lambda y: jaxloss.binary_cross_entropy_with_logits(x, y, reduction="sum"))(y)
    np.testing.assert_allclose(got, [-1.3, 0.7, -2.0], rtol=1e-12)


@pytest.mark.parametrize("key", INTEGER_TARGET_CASES)
def test_int32_targets_under_x64(key, prepared):
    """int32 labels (what most data pipelines give) with float64 inputs under x64."""
    _run_column(key, "int32", prepared)


@pytest.mark.slow
@pytest.mark.parametrize("key", _params("dtype"))
def test_dtypes(key, prepared):
    """float16/bfloat16/float32 inputs compute in float32 and give a float32 loss; float64
    stays float64, against the reference at the rounded inputs; gradients have the input's
    dtype."""
    _run_column(key, "dtype", prepared)


# =============================================================================================
# Forward mode above the CPU row-blocked threshold (large and slow: two cases)
# =============================================================================================

NUM_CLASSES_LARGE = 1000


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"class_weights": True, "z_loss": 1e-3}, id="weights-zloss"),
        pytest.param({"class_weights": True, "label_smoothing": 0.1}, id="weights-smoothing"),
    ],
)
def test_jvp_above_the_blocked_threshold(options):
    """jvp of cross_entropy on >= BLOCKED_MIN_ELEMENTS float32 elements = <grad, tangent>."""
    rows = -(-_logsumexp.BLOCKED_MIN_ELEMENTS // NUM_CLASSES_LARGE) + 8
    shape = (rows, NUM_CLASSES_LARGE)
    assert rows * NUM_CLASSES_LARGE >= _logsumexp.BLOCKED_MIN_ELEMENTS
    k = jax.random.split(jax.random.key(0), 4)
    x = 2.0 * jax.random.normal(k[0], shape, jnp.float32)
    y = jax.random.randint(k[1], (rows,), 0, NUM_CLASSES_LARGE).at[::7].set(-100)
    w = jax.random.uniform(k[2], (NUM_CLASSES_LARGE,), jnp.float32) + 0.5
    t = jax.random.normal(k[3], shape, jnp.float32)
    opts = dict(options)
    if opts.pop("class_weights"):
        opts["class_weights"] = w

    def f(x):
        return jaxloss.cross_entropy(x, y, **opts)

    value, tangent = jax.jit(lambda x, t: jax.jvp(f, (x,), (t,)))(x, t)
    plain_value, grad = jax.jit(jax.value_and_grad(f))(x)
    assert value.dtype == jnp.float32 and tangent.dtype == jnp.float32
    np.testing.assert_allclose(value, plain_value, rtol=1e-6)
    want = np.vdot(np.asarray(grad, np.float64), np.asarray(t, np.float64))
    assert np.isfinite(float(tangent))
    np.testing.assert_allclose(float(tangent), want, rtol=1e-3, atol=1e-6)
