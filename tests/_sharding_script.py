"""Every loss that takes ``axis_name`` inside ``shard_map`` and ``pmap`` equals the unsharded call.

Run by ``tests/test_sharding.py`` in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu``. For each case the
global batch is split over a 1-D mesh of 4 devices (axis ``"d"``, batch sharded, everything
else replicated) and the loss is called with ``axis_name="d"``; inside ``shard_map``
``jax.value_and_grad`` (the data-parallel train-step pattern) must give the unsharded value,
the unsharded gradient of each sharded float input (on its shard) and of each replicated
float input (class weights, ``pos_weight``, the ``linear_cross_entropy`` weight matrix).
Under ``pmap`` every replica's value must equal the unsharded one, and the gradient of
replica 0's value with respect to the (split) inputs must equal the unsharded gradient.

Prints one line ``JSON_REPORT: {...}`` mapping each case id to ``"ok"`` or its error, and
exits with status 1 (failures listed on stderr) when any case fails. Importing this module
only defines the cases (``CASE_IDS``, ``LOSSES_COVERED``); nothing runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

NUM_DEVICES = 4
AXIS = "d"


@dataclasses.dataclass(frozen=True)
class Case:
    """``make(rng)`` returns (sharded, replicated) dicts of NumPy arrays; sharded arrays have the
    global batch on axis 0. ``positional`` names the arguments passed positionally (in order);
    the rest go by keyword with ``static``. ``diff`` names the float arguments differentiated.
    ``batch_axis`` gives the batch axis of sharded arguments whose batch is not axis 0
    (``ctc_loss``'s time-first (T, N, C) log-probabilities); shard_map only."""

    id: str
    loss: str
    make: Callable[[np.random.Generator], tuple[dict, dict]]
    static: dict[str, Any]
    positional: tuple[str, ...]
    diff: tuple[str, ...]
    pmap: bool = False
    blocked: bool = False
    batch_axis: dict[str, int] = dataclasses.field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------

N = 16  # global batch of the classification cases: 4 rows per device
C = 5


def _labels(rng, shape, num_classes):
    return rng.integers(0, num_classes, shape).astype(np.int32)


def _ignore(y, rows, value=-100):
    y = y.copy()
    y[rows] = value
    return y


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logits(rng, shape):
    return (2.0 * rng.standard_normal(shape)).astype(np.float32)


def _weights(n, seed=7):
    return np.random.default_rng(seed).uniform(0.5, 2.0, (n,)).astype(np.float32)


SHARD_1 = slice(N // NUM_DEVICES, 2 * N // NUM_DEVICES)  # the rows of device 1


def softmax_int(ignore=None, weights=False):
    """(N, C) logits, integer targets; ``ignore``: rows set to -100 (a slice or indices)."""

    def make(rng):
        y = _labels(rng, (N,), C)
        if ignore is not None:
            y = _ignore(y, ignore)
        sharded = {"logits": _logits(rng, (N, C)), "targets": y}
        return sharded, ({"class_weights": _weights(C)} if weights else {})

    return make


def softmax_int_channel_first(rng):
    y = _labels(rng, (N, 3), C)
    y[1, 0] = y[6, 2] = -100
    return {"logits": _logits(rng, (N, C, 3)), "targets": y}, {"class_weights": _weights(C)}


def softmax_probs(where=False, weights=False):
    def make(rng):
        t = _softmax(_logits(rng, (N, C))).astype(np.float32)
        t[2] = np.eye(C, dtype=np.float32)[1]  # a hard label: exact zeros
        sharded = {"logits": _logits(rng, (N, C)), "targets": t}
        if where:
            mask = np.ones((N,), bool)
            mask[SHARD_1] = False  # device 1 keeps nothing
            mask[0] = False
            sharded["where"] = mask
        return sharded, ({"class_weights": _weights(C)} if weights else {})

    return make


def log_probs_int(ignore=None, weights=False):
    def make(rng):
        x = _logits(rng, (N, C))
        lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(np.float32)
        y = _labels(rng, (N,), C)
        if ignore is not None:
            y = _ignore(y, ignore)
        return {"log_probs": lp, "targets": y}, ({"class_weights": _weights(C)} if weights else {})

    return make


def binary(pos_weight=False, row_weights=False, where=False, class_weights=False, hard=False):
    def make(rng):
        t = rng.uniform(size=(N, C)).astype(np.float32)
        t.reshape(-1)[::3] = 0.0
        t.reshape(-1)[1::3] = 1.0
        if hard:  # 0/1 targets: the asymmetric loss's integer-power branch
            t = np.round(t)
            if hard == "mixed":  # one soft target, on device 0 only: every device goes general
                t[0, 2] = 0.5
        sharded = {"logits": _logits(rng, (N, C)), "targets": t}
        if row_weights:
            sharded["weights"] = rng.uniform(0.5, 2.0, (N, 1)).astype(np.float32)
        if where:
            mask = np.ones((N, C), bool)
            mask[SHARD_1] = False
            mask[0, 1] = False
            sharded["where"] = mask
        replicated = {"pos_weight": _weights(C, 8)} if pos_weight else {}
        if class_weights:
            replicated["class_weights"] = _weights(C, 9)
        return sharded, replicated

    return make


def regression(kind="normal", weights=False, where=False, var=None):
    """(N, C) input and target; ``kind``: "normal" (any values), "rates" (positive input,
    count targets), "probs" (probabilities and soft binary targets); ``var``: None, "row"
    (N,) or "element" (N, C) variances for gaussian_nll_loss."""

    def make(rng):
        if kind == "probs":
            x = rng.uniform(0.05, 0.95, (N, C)).astype(np.float32)
            y = rng.uniform(size=(N, C)).astype(np.float32)
            y.reshape(-1)[::3] = 0.0
            y.reshape(-1)[1::3] = 1.0
        elif kind == "rates":
            x = rng.uniform(0.2, 4.0, (N, C)).astype(np.float32)
            y = rng.poisson(2.0, (N, C)).astype(np.float32) + 0.5  # away from the y = 1 step
        else:
            x = rng.standard_normal((N, C)).astype(np.float32)
            y = rng.standard_normal((N, C)).astype(np.float32)
        sharded = {"input": x, "target": y}
        if weights:
            sharded["weights"] = rng.uniform(0.5, 2.0, (N, C)).astype(np.float32)
        if var == "row":
            sharded["var"] = rng.uniform(0.2, 2.0, (N,)).astype(np.float32)
        elif var == "element":
            sharded["var"] = rng.uniform(0.2, 2.0, (N, C)).astype(np.float32)
        if where:
            mask = np.ones((N, C), bool)
            mask[SHARD_1] = False
            mask[0, 1] = False
            sharded["where"] = mask
        return sharded, {}

    return make


def divergence(kind, where=False):
    """(N, C) pairs of distributions: kl_div's and the JSD's (input, target), or
    distillation's (student, teacher) logits with labels."""

    def make(rng):
        a, b = _logits(rng, (N, C)), _logits(rng, (N, C))
        la = (a - np.log(np.exp(a).sum(-1, keepdims=True))).astype(np.float32)
        lb = (b - np.log(np.exp(b).sum(-1, keepdims=True))).astype(np.float32)
        if kind == "kl":
            sharded = {"input": la, "target": np.exp(lb)}
        elif kind == "kl_log":
            sharded = {"input": la, "target": lb}
        elif kind == "jsd":
            sharded = {"input": lb, "target": la}
        else:
            y = _ignore(_labels(rng, (N,), C), [1, 9])
            sharded = {"student_logits": a, "teacher_logits": b, "targets": y}
        if where:
            mask = np.ones((N,), bool)
            mask[SHARD_1] = False
            mask[0] = False
            sharded["where"] = mask if kind in ("jsd", "distill") else mask[:, None]
        return sharded, {}

    return make


SEG_N, SEG_HW, SEG_C = 8, (3, 3), 3  # 2 images per device


def seg_int(ignore_shard=False, weights=False):
    def make(rng):
        y = _labels(rng, (SEG_N, *SEG_HW), SEG_C)
        y[0, 0, 0] = -100
        if ignore_shard:
            y[2:4] = -100  # the two images of device 1: nothing kept
        sharded = {"logits": _logits(rng, (SEG_N, *SEG_HW, SEG_C)), "targets": y}
        return sharded, ({"class_weights": _weights(SEG_C)} if weights else {})

    return make


def seg_float(kind):
    def make(rng):
        shape = (SEG_N, *SEG_HW, SEG_C)
        if kind == "probs":
            t = _softmax(_logits(rng, shape)).astype(np.float32)
            t[0, 0, 0] = np.eye(SEG_C, dtype=np.float32)[2]
        else:  # independent masks for the sigmoid
            t = (rng.uniform(size=shape) > 0.5).astype(np.float32)
        return {"logits": _logits(rng, shape), "targets": t}, {}

    return make


def seg_masks(where=False):
    """(SEG_N, 3, 3) hinge logits and 0/1 integer masks with ignored pixels (-100), the two
    images of device 1 half ignored; ``where``: device 2 keeps nothing."""

    def make(rng):
        shape = (SEG_N, *SEG_HW)
        y = (rng.uniform(size=shape) < 0.4).astype(np.int32)
        y[0, 0, 0] = y[5, 2, 1] = -100
        y[2:4, :2] = -100
        sharded = {"logits": _logits(rng, shape), "targets": y}
        if where:
            mask = np.ones(shape, bool)
            mask[4:6] = False
            mask[1, 1, 1] = False
            sharded["where"] = mask
        return sharded, {}

    return make


LIN_D, LIN_V = 3, 7


def linear(ignore=None, weights=False):
    def make(rng):
        y = _labels(rng, (N,), LIN_V)
        if ignore is not None:
            y = _ignore(y, ignore)
        sharded = {"hidden": rng.standard_normal((N, LIN_D)).astype(np.float32), "targets": y}
        replicated = {"weight": rng.standard_normal((LIN_V, LIN_D)).astype(np.float32)}
        if weights:
            replicated["class_weights"] = _weights(LIN_V)
        return sharded, replicated

    return make


# The CPU row-blocked path of the softmax losses (jaxloss._logsumexp) switches on at 2**24
# elements. The blocked cases lower its thresholds, as tests/test_fast_paths.py does, so that
# every device's local shard (BLOCKED_ROWS x BLOCKED_C) takes it, in blocks of 4 rows that do
# not divide the shard, and check that the sharded program holds the blocked loop. (Until
# 2026-12 they ran real shards of 16785 x 1000 above the real threshold: the same program,
# 59 s of the two subprocesses' 226.)
BLOCKED_C, BLOCKED_ROWS = 11, 7
BLOCKED_THRESHOLDS = {"BLOCKED_MIN_ELEMENTS": 64, "BLOCK_ELEMENTS": 4 * BLOCKED_C}


def blocked(rng):
    """Every device's local shard above the (lowered) CPU row-blocked threshold."""
    n = NUM_DEVICES * BLOCKED_ROWS
    y = _labels(rng, (n,), BLOCKED_C)
    y[::7] = -100
    sharded = {"logits": _logits(rng, (n, BLOCKED_C)), "targets": y}
    return sharded, {"class_weights": _weights(BLOCKED_C)}


def _pm1(rng, shape, dtype=np.float32):
    return np.where(rng.uniform(size=shape) < 0.5, -1, 1).astype(dtype)


def _shard_1_masked(shape):
    mask = np.ones(shape, bool)
    mask[SHARD_1] = False  # device 1 keeps nothing
    mask[0] = False
    return mask


def margin_pairs(target_dtype=np.float32, per_sample=False, where=False):
    """(N, C) input1/input2 (or one input) with +-1 targets (N, C), or (N,) per sample."""

    def make(rng):
        shape = (N,) if per_sample else (N, C)
        sharded = {"input1": _logits(rng, (N, C)), "input2": _logits(rng, (N, C)),
                   "target": _pm1(rng, shape, target_dtype)}
        if where:
            sharded["where"] = _shard_1_masked(shape)
        return sharded, {}

    return make


def ctc(where=False):
    """(T, N, C) log-probabilities (batch on axis 1), padded targets with a repeated label,
    padding and empty targets, an infeasible target (zero_infinity); ``where``: device 1
    keeps no sequence."""

    def make(rng):
        sharded, replicated = _ctc_inputs(rng)
        if where:
            mask = np.ones((N,), bool)
            mask[SHARD_1] = False
            mask[0] = False
            sharded["where"] = mask
        return sharded, replicated

    return make


def margin_single(kind, where=False, weights=False):
    """One (N, C) input and a target of the loss's kind."""

    def make(rng):
        x = _logits(rng, (N, C))
        if kind == "sign":
            target = _pm1(rng, (N, C), np.int32)
        elif kind == "probs":
            target = rng.uniform(size=(N, C)).astype(np.float32)
        elif kind == "labels":
            target = _labels(rng, (N,), C)
        else:  # PyTorch's multilabel format: a few classes, -1, then anything
            target = _labels(rng, (N, C), C)
            target[np.arange(N), rng.integers(0, C, N)] = -1
        sharded = {"input": x, "target": target}
        if where:
            sharded["where"] = _shard_1_masked(target.shape if kind == "sign" else (N,))
        return sharded, ({"class_weights": _weights(C)} if weights else {})

    return make


def triplets(rng):
    return {k: _logits(rng, (N, 3)) for k in ("anchor", "positive", "negative")}, {}


def _ctc_inputs(rng):
    t, s = 6, 3
    x = _logits(rng, (t, N, C))
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(np.float32)
    targets = rng.integers(1, C, (N, s)).astype(np.int32)
    targets[::4, :2] = 2  # a repeated label
    target_lengths = rng.integers(0, s + 1, (N,)).astype(np.int32)
    input_lengths = rng.integers(4, t + 1, (N,)).astype(np.int32)
    targets[5], target_lengths[5], input_lengths[5] = 1, 3, 4  # "1 1 1" in 4 frames
    sharded = {"log_probs": lp, "targets": targets, "input_lengths": input_lengths,
               "target_lengths": target_lengths}
    return sharded, {}


# --- the cases ------------------------------------------------------------------------------

LS = {"label_smoothing": 0.1}
PRIORS = np.array([0.4, 0.3, 0.15, 0.1, 0.05], np.float32)  # C = 5 classes
COUNTS = np.array([400, 300, 150, 100, 5], np.int32)
X = ("logits",)
XW = ("logits", "class_weights")
XY = ("logits", "targets")
POS = ("logits", "targets")
RXY = ("input", "target")

CASES = [
    # cross_entropy
    Case("ce-plain-mean", "cross_entropy", softmax_int(), {}, POS, X, pmap=True),
    Case("ce-plain-sum", "cross_entropy", softmax_int(), {"reduction": "sum"}, POS, X),
    Case("ce-smoothing", "cross_entropy", softmax_int(), LS, POS, X),
    Case("ce-weights-ignore", "cross_entropy", softmax_int([1, 9], True), {}, POS, XW),
    Case("ce-smoothing-weights-ignore-sum", "cross_entropy", softmax_int([1, 9], True),
         {**LS, "reduction": "sum"}, POS, XW, pmap=True),
    Case("ce-zloss", "cross_entropy", softmax_int(), {"z_loss": 1e-2}, POS, X),
    Case("ce-ignored-shard", "cross_entropy", softmax_int(SHARD_1, True), LS, POS, XW),
    Case("ce-all-ignored", "cross_entropy", softmax_int(slice(None), True), LS, POS, XW),
    Case("ce-channel-first-smoothing", "cross_entropy", softmax_int_channel_first,
         {**LS, "axis": 1}, POS, XW),
    Case("ce-probs", "cross_entropy", softmax_probs(weights=True), LS, POS,
         ("logits", "targets", "class_weights")),
    Case("ce-probs-where-sum", "cross_entropy", softmax_probs(where=True),
         {"reduction": "sum", "z_loss": 1e-2}, POS, XY),
    # nll_loss
    Case("nll-plain", "nll_loss", log_probs_int(), {}, ("log_probs", "targets"), ("log_probs",)),
    Case("nll-weights-ignored-shard-sum", "nll_loss", log_probs_int(SHARD_1, True),
         {"reduction": "sum"}, ("log_probs", "targets"), ("log_probs", "class_weights")),
    # focal_loss
    Case("focal-plain", "focal_loss", softmax_int(), {"gamma": 2.0}, POS, X, pmap=True),
    Case("focal-smoothing-weights-ignore", "focal_loss", softmax_int([1, 9], True),
         {"gamma": 2.0, **LS}, POS, XW),
    Case("focal-ignored-shard-sum", "focal_loss", softmax_int(SHARD_1, True),
         {"gamma": 1.5, "reduction": "sum"}, POS, XW),
    Case("focal-probs", "focal_loss", softmax_probs(), {"gamma": 2.0, **LS}, POS, XY),
    # binary
    Case("bce-plain", "binary_cross_entropy_with_logits", binary(), {}, POS, XY),
    Case("bce-pos-weight-weights-sum", "binary_cross_entropy_with_logits", binary(True, True),
         {"reduction": "sum"}, POS, ("logits", "targets", "pos_weight"), pmap=True),
    Case("bce-masked-shard", "binary_cross_entropy_with_logits", binary(where=True), {}, POS, XY),
    Case("sfl-plain", "sigmoid_focal_loss", binary(), {"alpha": 0.25, "gamma": 2.0}, POS, XY),
    Case("sfl-masked-shard-sum", "sigmoid_focal_loss", binary(where=True),
         {"reduction": "sum"}, POS, XY),
    # issue 12, item 2: label smoothing, kornia's weights, the asymmetric loss
    Case("bce-smoothing-pos-weight", "binary_cross_entropy_with_logits", binary(True),
         {"label_smoothing": 0.1}, POS, ("logits", "targets", "pos_weight")),
    Case("bce-smoothing-masked-shard-weights", "binary_cross_entropy_with_logits",
         binary(row_weights=True, where=True), {"label_smoothing": 0.2}, POS, XY),
    Case("sfl-pos-weight-class-weights", "sigmoid_focal_loss",
         binary(True, class_weights=True), {"gamma": 1.5},
         POS, ("logits", "targets", "pos_weight", "class_weights"), pmap=True),
    Case("asl-defaults", "asymmetric_loss", binary(), {}, POS, XY, pmap=True),
    Case("asl-masked-shard-sum", "asymmetric_loss", binary(where=True),
         {"gamma_pos": 0.0, "gamma_neg": 2.5, "clip": 0.1, "reduction": "sum"}, POS, XY),
    # issue 12, item 5: per-element weights (sharded with the batch)
    Case("sfl-weights-class-weights-masked-shard", "sigmoid_focal_loss",
         binary(row_weights=True, where=True, class_weights=True), {"gamma": 1.5},
         POS, ("logits", "targets", "weights", "class_weights"), pmap=True),
    Case("asl-weights-sum", "asymmetric_loss", binary(row_weights=True),
         {"reduction": "sum"}, POS, ("logits", "targets", "weights")),
    Case("asl-hard-targets-masked-shard", "asymmetric_loss", binary(where=True, hard=True),
         {}, POS, XY, pmap=True),
    Case("asl-hard-targets-but-one", "asymmetric_loss", binary(hard="mixed"),
         {"reduction": "sum"}, POS, XY, pmap=True),
    Case("bce-probs-weights-masked-shard", "binary_cross_entropy",
         regression("probs", weights=True, where=True), {}, RXY, RXY + ("weights",)),
    Case("bce-probs-sum", "binary_cross_entropy", regression("probs"), {"reduction": "sum"},
         RXY, RXY, pmap=True),
    # regression
    Case("l1-weights", "l1_loss", regression(weights=True), {}, RXY, RXY + ("weights",),
         pmap=True),
    Case("l1-masked-shard", "l1_loss", regression(where=True), {}, RXY, RXY),
    Case("mse-weights-masked-shard", "mse_loss", regression(weights=True, where=True), {},
         RXY, RXY + ("weights",)),
    Case("huber-weights-delta", "huber_loss", regression(weights=True), {"delta": 0.5}, RXY,
         RXY + ("weights",)),
    Case("smooth-l1-masked-shard-sum", "smooth_l1_loss", regression(where=True),
         {"beta": 0.5, "reduction": "sum"}, RXY, RXY),
    Case("poisson-log-masked-shard", "poisson_nll_loss", regression(where=True), {}, RXY, RXY),
    Case("poisson-rates-full", "poisson_nll_loss", regression("rates"),
         {"log_input": False, "full": True}, RXY, RXY),
    Case("gaussian-row-var-full", "gaussian_nll_loss", regression(var="row"), {"full": True},
         RXY + ("var",), RXY + ("var",), pmap=True),
    Case("gaussian-masked-shard", "gaussian_nll_loss", regression(where=True, var="element"),
         {}, RXY + ("var",), RXY + ("var",)),
    # segmentation
    Case("dice-plain", "dice_loss", seg_int(), {}, POS, X),
    Case("dice-batch", "dice_loss", seg_int(weights=True), {"batch": True}, POS, XW, pmap=True),
    Case("dice-ignored-shard-weights-sum", "dice_loss", seg_int(True, True),
         {"reduction": "sum", "include_background": False}, POS, XW),
    Case("dice-ignored-shard-batch", "dice_loss", seg_int(True), {"batch": True}, POS, X),
    Case("dice-probs", "dice_loss", seg_float("probs"), {}, POS, XY),
    Case("dice-sigmoid-batch", "dice_loss", seg_float("masks"),
         {"activation": "sigmoid", "batch": True, "squared": True}, POS, XY),
    Case("tversky-plain", "tversky_loss", seg_int(), {"alpha": 0.3, "beta": 0.7}, POS, X),
    Case("tversky-batch-weights-sum", "tversky_loss", seg_int(weights=True),
         {"alpha": 0.3, "beta": 0.7, "batch": True, "reduction": "sum"}, POS, XW),
    Case("dice-ce-plain", "dice_cross_entropy_loss", seg_int(), {}, POS, X),
    Case("dice-ce-smoothing-weights-batch", "dice_cross_entropy_loss", seg_int(weights=True),
         {**LS, "batch": True}, POS, XW),
    Case("dice-ce-ignored-shard-sum", "dice_cross_entropy_loss", seg_int(True, True),
         {**LS, "reduction": "sum"}, POS, XW),
    Case("dice-ce-probs", "dice_cross_entropy_loss", seg_float("probs"), {}, POS, XY),
    Case("gdl-plain", "generalized_dice_loss", seg_int(), {}, POS, X),
    Case("gdl-ignored-shard-batch-simple", "generalized_dice_loss", seg_int(True),
         {"batch": True, "w_type": "simple", "include_background": False}, POS, X, pmap=True),
    Case("gdl-probs-soft-sum", "generalized_dice_loss", seg_float("probs"),
         {"soft_label": True, "reduction": "sum"}, POS, XY),
    Case("dice-focal-weights-batch", "dice_focal_loss", seg_int(weights=True),
         {"batch": True, "gamma": 1.5}, POS, XW),
    Case("dice-focal-sigmoid-ignored-shard", "dice_focal_loss", seg_int(True, True),
         {"activation": "sigmoid", "alpha": 0.25, "include_background": False}, POS, XW),
    Case("dice-focal-sigmoid-masks-sum", "dice_focal_loss", seg_float("masks"),
         {"activation": "sigmoid", "reduction": "sum"}, POS, XY),
    # Lovász (issue 12): per_image=False ranks the whole batch (an all-gather), True per image
    Case("lovasz-softmax-batch-ignore", "lovasz_softmax_loss", seg_int(), {}, POS, X,
         pmap=True),
    Case("lovasz-softmax-batch-ignored-shard-all", "lovasz_softmax_loss", seg_int(True),
         {"classes": "all"}, POS, X),
    Case("lovasz-softmax-per-image-ignored-shard", "lovasz_softmax_loss", seg_int(True),
         {"per_image": True}, POS, X),
    Case("lovasz-softmax-per-image-sum", "lovasz_softmax_loss", seg_int(),
         {"per_image": True, "reduction": "sum"}, POS, X, pmap=True),
    Case("lovasz-hinge-batch-ignore", "lovasz_hinge_loss", seg_masks(), {}, POS, X, pmap=True),
    Case("lovasz-hinge-batch-masked-shard", "lovasz_hinge_loss", seg_masks(True), {}, POS, X),
    Case("lovasz-hinge-per-image-masked-shard", "lovasz_hinge_loss", seg_masks(True),
         {"per_image": True}, POS, X),
    Case("lovasz-hinge-per-image-sum", "lovasz_hinge_loss", seg_masks(),
         {"per_image": True, "reduction": "sum"}, POS, X),
    # linear_cross_entropy: hidden and targets sharded, weight replicated
    Case("linear-plain", "linear_cross_entropy", linear(), {"chunk_size": 3},
         ("hidden", "weight", "targets"), ("hidden", "weight")),
    Case("linear-smoothing-weights-ignore-zloss", "linear_cross_entropy", linear([1, 9], True),
         {"chunk_size": 3, **LS, "z_loss": 1e-2}, ("hidden", "weight", "targets"),
         ("hidden", "weight", "class_weights"), pmap=True),
    Case("linear-ignored-shard-sum", "linear_cross_entropy", linear(SHARD_1, True),
         {"chunk_size": 4, "reduction": "sum", **LS}, ("hidden", "weight", "targets"),
         ("hidden", "weight")),
    # imbalance-aware softmax losses
    Case("la-weights-ignore-smoothing", "logit_adjusted_cross_entropy", softmax_int([1, 9], True),
         {"class_counts": PRIORS, "tau": 1.0, **LS}, POS, XW, pmap=True),
    Case("la-probs-where-sum", "logit_adjusted_cross_entropy", softmax_probs(where=True),
         {"class_counts": PRIORS, "reduction": "sum"}, POS, XY),
    Case("ldam-weights-ignored-shard", "ldam_loss", softmax_int(SHARD_1, True),
         {"class_counts": COUNTS, "scale": 5.0}, POS, XW),
    Case("ldam-sum", "ldam_loss", softmax_int([1, 9]),
         {"class_counts": COUNTS, "scale": 5.0, "reduction": "sum"}, POS, X, pmap=True),
    Case("poly1-weights-ignore-smoothing", "poly1_cross_entropy", softmax_int([1, 9], True),
         {"epsilon": 1.5, **LS}, POS, XW),
    Case("poly1-probs", "poly1_cross_entropy", softmax_probs(weights=True), {"epsilon": 2.0},
         POS, ("logits", "targets", "class_weights")),
    # divergences and distillation
    Case("kl-batchmean", "kl_div", divergence("kl"), {"reduction": "batchmean"},
         ("input", "target"), ("input", "target"), pmap=True),
    Case("kl-mean-masked-shard", "kl_div", divergence("kl", where=True), {},
         ("input", "target"), ("input", "target")),
    Case("kl-log-batchmean-masked-shard", "kl_div", divergence("kl_log", where=True),
         {"reduction": "batchmean", "log_target": True}, ("input", "target"),
         ("input", "target")),
    Case("jsd-mean", "jensen_shannon_divergence", divergence("jsd"), {"beta": 0.3},
         ("input", "target"), ("input", "target"), pmap=True),
    Case("jsd-masked-shard-sum", "jensen_shannon_divergence", divergence("jsd", where=True),
         {"reduction": "sum"}, ("input", "target"), ("input", "target")),
    Case("distill-hard-ignore", "distillation_loss", divergence("distill"),
         {"temperature": 2.0, "lambda_soft": 0.7, "lambda_hard": 0.3},
         ("student_logits", "teacher_logits"),
         ("student_logits", "teacher_logits"), pmap=True),
    Case("distill-masked-shard", "distillation_loss", divergence("distill", where=True),
         {"temperature": 4.0}, ("student_logits", "teacher_logits"), ("student_logits",)),
    # margin, ranking and embedding losses (issue 11)
    Case("margin-ranking", "margin_ranking_loss", margin_pairs(), {"margin": 0.5},
         ("input1", "input2", "target"), ("input1", "input2", "target"), pmap=True),
    Case("hinge-embedding-masked-shard-sum", "hinge_embedding_loss", margin_single("sign", True),
         {"reduction": "sum"}, ("input", "target"), ("input",)),
    Case("soft-margin", "soft_margin_loss", margin_single("sign"), {}, ("input", "target"),
         ("input",)),
    Case("multilabel-soft-margin-weights", "multilabel_soft_margin_loss",
         margin_single("probs", weights=True), {}, ("input", "target"),
         ("input", "target", "class_weights")),
    Case("multi-margin-p2-weights", "multi_margin_loss", margin_single("labels", weights=True),
         {"p": 2}, ("input", "target"), ("input", "class_weights"), pmap=True),
    Case("multilabel-margin-masked-shard", "multilabel_margin_loss",
         margin_single("multilabel", where=True), {}, ("input", "target"), ("input",)),
    Case("cosine-embedding", "cosine_embedding_loss",
         margin_pairs(np.int32, per_sample=True), {"margin": 0.2},
         ("input1", "input2", "target"), ("input1", "input2")),
    Case("triplet-swap-sum", "triplet_margin_loss", triplets, {"swap": True, "reduction": "sum"},
         ("anchor", "positive", "negative"), ("anchor", "positive", "negative")),
    Case("triplet-distance", "triplet_margin_with_distance_loss", triplets,
         {"distance_function": lambda u, v: (u - v) ** 2 @ np.ones(3, np.float32),
          "margin": 2.0},
         ("anchor", "positive", "negative"), ("anchor", "positive", "negative")),
    # ctc_loss: time-first log_probs, sharded over their batch axis 1
    Case("ctc-mean-zero-infinity", "ctc_loss", ctc(), {"zero_infinity": True},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",),
         batch_axis={"log_probs": 1}),
    Case("ctc-where-mean", "ctc_loss", ctc(where=True), {"zero_infinity": True},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",),
         batch_axis={"log_probs": 1}),
    Case("ctc-sum", "ctc_loss", ctc(), {"zero_infinity": True, "reduction": "sum"},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",),
         batch_axis={"log_probs": 1}),
    # local shards above the CPU row-blocked threshold (lowered: BLOCKED_THRESHOLDS)
    Case("blocked-ce-weights-ignore", "cross_entropy", blocked, {}, POS, XW, blocked=True),
    Case("blocked-ce-smoothing", "cross_entropy", blocked, LS, POS, X, blocked=True),
]

# --- Detection (issue 23, items 1 and 2): box IoU losses, varifocal/QFL/DFL -----------------


def boxes(where=False, weights=False):
    """(N, 4) pairs of boxes (overlapping, disjoint, nested); ``where``: device 1 keeps none."""

    def make(rng):
        xy1 = rng.uniform(0.0, 5.0, (N, 2))
        xy2 = xy1 + rng.uniform(-2.0, 2.0, (N, 2))
        b1 = np.concatenate([xy1, xy1 + rng.uniform(0.2, 3.0, (N, 2))], -1)
        b2 = np.concatenate([xy2, xy2 + rng.uniform(0.2, 3.0, (N, 2))], -1)
        b2[0] = b1[0] + np.array([0.1, 0.2, -0.1, -0.3])
        sharded = {"boxes1": b1.astype(np.float32), "boxes2": b2.astype(np.float32)}
        if weights:
            sharded["weights"] = rng.uniform(0.5, 2.0, (N,)).astype(np.float32)
        if where:
            mask = np.ones((N,), bool)
            mask[SHARD_1] = False
            mask[0] = False
            sharded["where"] = mask
        return sharded, {}

    return make


def dense_detection(kind, where=False):
    """(N, C) logits with varifocal targets, QFL labels (C = background) and scores, or DFL's
    (N, C) bins with distances in [0, C - 1]."""

    def make(rng):
        x = _logits(rng, (N, C))
        if kind == "vfl":
            q = rng.uniform(0.1, 1.0, (N, C)).astype(np.float32)
            q[rng.uniform(size=(N, C)) < 0.7] = 0.0
            sharded = {"logits": x, "targets": q}
        elif kind == "qfl":
            labels = _labels(rng, (N,), C + 1)
            labels[:2] = [C, 0]
            sharded = {"logits": x, "labels": labels,
                       "scores": rng.uniform(0.05, 0.95, (N,)).astype(np.float32)}
        else:
            sharded = {"logits": x,
                       "targets": rng.uniform(0.05, C - 1.05, (N,)).astype(np.float32)}
        if where:
            shape = x.shape if kind == "vfl" else (N,)
            mask = np.ones(shape, bool)
            mask[SHARD_1] = False
            mask[0] = False
            sharded["where"] = mask
        return sharded, {}

    return make


# --- SMP overlap (issue 23, item 5): jaccard_loss, mcc_loss ----------------------------------


def mcc_inputs(where=False):
    """(SEG_N, 3, 3) probabilities and 0/1 masks, image 5 empty; ``where``: device 1 keeps
    nothing."""

    def make(rng):
        shape = (SEG_N, *SEG_HW)
        p = (1.0 / (1.0 + np.exp(-_logits(rng, shape)))).astype(np.float32)
        y = (rng.uniform(size=shape) < 0.4).astype(np.float32)
        y[5] = 0.0
        sharded = {"input": p, "target": y}
        if where:
            mask = np.ones(shape, bool)
            mask[2:4] = False
            mask[0, 1, 1] = False
            sharded["where"] = mask
        return sharded, {}

    return make


BOXES = ("boxes1", "boxes2")
CASES += [
    Case("giou-mean", "generalized_box_iou_loss", boxes(), {"reduction": "mean"}, BOXES, BOXES,
         pmap=True),
    Case("diou-weights-masked-shard-mean", "distance_box_iou_loss", boxes(True, True),
         {"reduction": "mean"}, BOXES, BOXES + ("weights",)),
    Case("ciou-masked-shard-sum", "complete_box_iou_loss", boxes(True), {"reduction": "sum"},
         BOXES, BOXES),
    Case("vfl-mean", "varifocal_loss", dense_detection("vfl"), {}, XY, XY, pmap=True),
    Case("vfl-masked-shard-sum", "varifocal_loss", dense_detection("vfl", where=True),
         {"reduction": "sum", "iou_weighted": False}, XY, XY),
    Case("qfl-masked-shard-mean", "quality_focal_loss", dense_detection("qfl", where=True), {},
         ("logits", "labels", "scores"), ("logits", "scores")),
    Case("dfl-mean", "distribution_focal_loss", dense_detection("dfl"), {}, XY, XY, pmap=True),
]
# --- end of Detection ---------------------------------------------------------------------
CASES += [
    Case("jaccard-plain", "jaccard_loss", seg_int(), {}, POS, X),
    Case("jaccard-smp-batch-log-ignored-shard-weights", "jaccard_loss", seg_int(True, True),
         {"batch": True, "absent": "zero", "log_loss": True, "smooth": 0.0}, POS, XW,
         pmap=True),
    Case("jaccard-sigmoid-soft-sum", "jaccard_loss", seg_float("masks"),
         {"activation": "sigmoid", "soft_label": True, "reduction": "sum"}, POS, XY),
    Case("mcc-batch-masked-shard", "mcc_loss", mcc_inputs(True), {}, RXY, RXY, pmap=True),
    Case("mcc-per-sample-masked-shard", "mcc_loss", mcc_inputs(True), {"batch": False}, RXY,
         RXY),
    Case("mcc-per-sample-sum", "mcc_loss", mcc_inputs(), {"batch": False, "reduction": "sum"},
         RXY, RXY),
]

# --- Contrastive (issue 22): the loss needs the global batch (every device's negatives) ---
# The script's comparison holds as it is: each device's value is the global loss, its
# gradients the global loss's on its shard, the replicated scale's and bias's summed.


def image_text(bias=True, scale=3.0):
    def make(rng):
        x = rng.standard_normal((N, C))
        y = rng.standard_normal((N, C)) + 0.5 * x
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        y /= np.linalg.norm(y, axis=-1, keepdims=True)
        replicated = {"logit_scale": np.float32(scale)}
        if bias:
            replicated["logit_bias"] = np.float32(-1.5)
        return ({"image_features": x.astype(np.float32), "text_features": y.astype(np.float32)},
                replicated)

    return make


IT = ("image_features", "text_features")
CASES += [
    # clip: the scale's gradient is a difference of O(1) terms; at 10 it is not near 0, so
    # float32's rounding stays within the tolerance. The bias's gradient is 0 (a shift of
    # every logit): it is passed, not differentiated.
    Case("clip", "clip_loss", image_text(bias=False, scale=10.0), {}, IT, IT + ("logit_scale",),
         pmap=True),
    Case("clip-bias", "clip_loss", image_text(scale=10.0), {}, IT, IT + ("logit_scale",)),
    Case("siglip", "siglip_loss", image_text(), {}, IT, IT + ("logit_scale", "logit_bias"),
         pmap=True),
    Case("siglip-scale-20", "siglip_loss", image_text(scale=20.0), {}, IT,
         IT + ("logit_scale", "logit_bias")),
]
# --- end of Contrastive -------------------------------------------------------------------

CASE_IDS = [case.id for case in CASES]
PMAP_IDS = [case.id for case in CASES if case.pmap]
LOSSES_COVERED = sorted({case.loss for case in CASES})
assert len(set(CASE_IDS)) == len(CASE_IDS)


# --- running --------------------------------------------------------------------------------


def _split(case, sharded, replicated):
    """(differentiated sharded, other sharded, differentiated replicated, other replicated)."""
    ds = {k: v for k, v in sharded.items() if k in case.diff}
    os_ = {k: v for k, v in sharded.items() if k not in case.diff}
    dr = {k: v for k, v in replicated.items() if k in case.diff}
    or_ = {k: v for k, v in replicated.items() if k not in case.diff}
    assert set(ds) | set(dr) == set(case.diff), case.id
    return ds, os_, dr, or_


def _call(case, axis_name, *dicts):
    import jaxloss

    args = {k: v for d in dicts for k, v in d.items()}
    positional = [args.pop(name) for name in case.positional]
    kwargs = dict(case.static)
    if axis_name is not None:
        kwargs["axis_name"] = axis_name
    return getattr(jaxloss, case.loss)(*positional, **args, **kwargs)


def _close(got, want, what, rtol, atol_scale):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: not finite"
    atol = atol_scale * max(1e-3, float(np.max(np.abs(want))) if want.size else 0.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def run_case(case, mesh):
    """Checks one case (the blocked cases with the row-blocked thresholds lowered)."""
    if not case.blocked:
        return _run_case(case, mesh)
    from jaxloss import _logsumexp

    saved = {name: getattr(_logsumexp, name) for name in BLOCKED_THRESHOLDS}
    try:
        for name, value in BLOCKED_THRESHOLDS.items():
            setattr(_logsumexp, name, value)
        return _run_case(case, mesh)
    finally:
        for name, value in saved.items():
            setattr(_logsumexp, name, value)


def _run_case(case, mesh):
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    sharded, replicated = case.make(np.random.default_rng(0))
    ds, os_, dr, or_ = _split(case, sharded, replicated)
    rtol, atol = 2e-5, 2e-6

    def loss(axis_name):
        def f(ds, dr, os_, or_):
            return _call(case, axis_name, ds, os_, dr, or_)

        return f

    # The unsharded reference: value and gradients of the global batch.
    want_value, (want_ds, want_dr) = jax.jit(
        jax.value_and_grad(loss(None), argnums=(0, 1))
    )(ds, dr, os_, or_)

    # shard_map: value_and_grad inside, batch sharded over "d", the rest replicated.
    def local(ds, dr, os_, or_):
        return jax.value_and_grad(loss(AXIS), argnums=(0, 1))(ds, dr, os_, or_)

    def spec(name):
        return P(*([None] * case.batch_axis.get(name, 0)), AXIS)

    specs_ds, specs_os = {k: spec(k) for k in ds}, {k: spec(k) for k in os_}
    mapped = jax.jit(
        jax.shard_map(
            local, mesh=mesh, in_specs=(specs_ds, P(), specs_os, P()),
            out_specs=(P(), (specs_ds, P())),
        )
    )
    put_s = lambda t: {k: jax.device_put(v, NamedSharding(mesh, spec(k)))  # noqa: E731
                       for k, v in t.items()}
    put_r = lambda t: jax.device_put(t, NamedSharding(mesh, P()))  # noqa: E731
    placed = (put_s(ds), put_r(dr), put_s(os_), put_r(or_))
    if case.blocked:  # the local shards take the row-blocked loop (a scan or a while)
        text = str(jax.make_jaxpr(mapped)(*placed))
        assert "scan[" in text or "while[" in text, f"{case.id}: not the row-blocked path"
    value, (got_ds, got_dr) = mapped(*placed)
    _close(value, want_value, "shard_map value", rtol, atol)
    for k in ds:
        _close(got_ds[k], want_ds[k], f"shard_map d/d{k} (sharded)", rtol, atol)
    for k in dr:
        _close(got_dr[k], want_dr[k], f"shard_map d/d{k} (replicated)", rtol, atol)

    if case.pmap:
        assert not case.batch_axis, f"{case.id}: pmap cases split axis 0"
        split = lambda t: jax.tree.map(  # noqa: E731
            lambda a: a.reshape(NUM_DEVICES, a.shape[0] // NUM_DEVICES, *a.shape[1:]), t
        )
        # One positional argument per leaf (pmap's in_axes per leaf, not per dict).
        names = [(k, 0) for k in ds] + [(k, None) for k in dr]
        names += [(k, 0) for k in os_] + [(k, None) for k in or_]
        every = {**ds, **dr, **os_, **or_}

        def flat_loss(*leaves):
            return _call(case, AXIS, dict(zip([k for k, _ in names], leaves, strict=True)))

        pmapped = jax.pmap(flat_loss, axis_name=AXIS, in_axes=tuple(a for _, a in names))

        def replica0(ds, dr):
            given = {**every, **split(ds), **dr}
            leaves = [given[k] if a is None or k in ds else split(given[k]) for k, a in names]
            values = pmapped(*leaves)
            return values[0], values

        (_, values), (g_ds, g_dr) = jax.value_and_grad(replica0, argnums=(0, 1),
                                                        has_aux=True)(ds, dr)
        _close(values, np.full((NUM_DEVICES,), want_value), "pmap values", rtol, atol)
        for k in ds:
            _close(g_ds[k], want_ds[k], f"pmap d/d{k} (split)", rtol, atol)
        for k in dr:
            _close(g_dr[k], want_dr[k], f"pmap d/d{k} (replicated)", rtol, atol)


def main(argv):
    import jax

    # The test suite's promotion rules (tests/conftest.py), which this process does not load.
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    only = set(argv[1:])
    assert jax.device_count() == NUM_DEVICES, (
        f"expected {NUM_DEVICES} forced CPU devices, got {jax.devices()}; run with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu"
    )
    mesh = jax.make_mesh((NUM_DEVICES,), (AXIS,))
    report = {}
    for case in CASES:
        if only and case.id not in only:
            continue
        try:
            run_case(case, mesh)
            report[case.id] = "ok"
        except Exception as e:  # noqa: BLE001 - every case reports, the run goes on
            message = f"{type(e).__name__}: {e}".strip()
            report[case.id] = message[:2000]
            print(f"--- {case.id} FAILED\n{traceback.format_exc()[-3000:]}", file=sys.stderr)
    print("JSON_REPORT: " + json.dumps(report))
    failed = [k for k, v in report.items() if v != "ok"]
    if failed:
        print(f"{len(failed)} of {len(report)} sharding cases failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
