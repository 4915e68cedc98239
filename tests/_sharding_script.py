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

The inputs come from the case registry (``tests/cases.py``): each device's shard is one draw
of a registry case's ``make`` (float32), the draws concatenated along each argument's batch
axis (the case's ``batch_axes``); a case below says which registry case, which of its
hyperparameters it keeps, and what it changes (ignored labels, a mask, per-element weights).
A loss that takes ``axis_name`` and has no case below runs its first registry case with that
case's options (``registry_case``), so a new loss joins by getting its registry case.

Prints one line ``JSON_REPORT: {...}`` mapping each case id to ``"ok"`` or its error, and
exits with status 1 (failures listed on stderr) when any case fails. Importing this module
only defines the cases (``CASE_IDS``, ``LOSSES_COVERED``); nothing runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import traceback
from typing import Any

import cases as registry
import numpy as np

import jaxloss

NUM_DEVICES = 4
AXIS = "d"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """How a case's global inputs come from the registry. ``variant``: the registry case
    ``"<loss>[<variant>]"`` instead of the loss's first case (``key``: another loss's case);
    ``keep``: the registry case's hyperparameters kept (the others are dropped: the function's
    defaults, or the case's ``static``; required ones and those differentiated are kept);
    ``ignore``: integer targets set to ``ignore_index`` at ``SOME`` rows (on devices 0 and 2),
    all of device 1's (``SHARD_1``) or ``ALL``; ``where``: a mask of the elements' shape in
    which device 1 keeps nothing and device 0 drops its first element; ``weights``:
    per-element weights; ``hard``: 0/1 float targets (``"mixed"``: but one soft target, on
    device 0); ``var``: ``"element"`` for one Gaussian variance per element."""

    variant: str | None = None
    key: str | None = None
    keep: tuple[str, ...] = ()
    ignore: str | None = None
    where: bool = False
    weights: bool = False
    hard: bool | str = False
    var: str | None = None

    def registry_key(self, loss: str) -> str:
        if self.key is not None:
            return self.key
        if self.variant is not None:
            return f"{loss}[{self.variant}]"
        return next(k for k, c in registry.REGISTRY.items() if c.name == loss)


@dataclasses.dataclass(frozen=True)
class Case:
    """``inputs`` says how the global inputs come from the registry. ``positional`` names the
    arguments passed positionally (in order); the rest go by keyword with ``static`` (on top
    of the registry case's layout options, ``LAYOUT``). ``diff`` names the float arguments
    differentiated."""

    id: str
    loss: str
    inputs: Inputs
    static: dict[str, Any]
    positional: tuple[str, ...]
    diff: tuple[str, ...]
    pmap: bool = False
    blocked: bool = False


# --- inputs ---------------------------------------------------------------------------------

# The registry case's options that describe its inputs' layout, which every case keeps (its
# other options, the reduction, a flag or a chunk size, are the sharding case's own choice in
# `static`).
LAYOUT = ("axis", "ignore_index", "distance_function")
SOME, SHARD_1, ALL = "some", "shard1", "all"
CW = ("class_weights",)


def draw(case, seed=0):
    """(registry case, its first draw, sharded args, replicated args, batch axes) of
    ``case``'s global batch: one draw of the registry case per device, float32 and int32."""
    key = case.inputs.registry_key(case.loss)
    source = registry.REGISTRY[key]
    fn = getattr(jaxloss, case.loss)
    params = inspect.signature(fn).parameters
    draws = [source.make(np.random.default_rng(seed + d)) for d in range(NUM_DEVICES)]
    axes = registry.batch_axes(source, draws[0])
    required = {p.name for p in params.values() if p.default is p.empty}
    kept = set(case.inputs.keep) | set(case.diff) | required
    sharded, replicated = {}, {}
    for name, value in draws[0].items():
        if name not in params or (name in source.hyper and name not in kept):
            continue
        if name in ("weights", "where"):  # the case's own, of the global batch's shape
            continue
        if name in case.static:
            continue
        if name in axes:
            sharded[name] = np.concatenate([d[name] for d in draws], axis=axes[name])
        else:
            replicated[name] = value
    return source, draws[0], _narrow(sharded), _narrow(replicated), axes


def _narrow(args):
    """float64 -> float32 and int64 -> int32 (this process runs without x64)."""
    narrow = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32}
    out = {}
    for k, v in args.items():
        v = np.asarray(v)
        out[k] = v.astype(narrow.get(v.dtype, v.dtype))
    return out


def options(case, source):
    given = source.options or {}
    return {**{k: v for k, v in given.items() if k in LAYOUT}, **case.static}


def make(case, seed=0):
    """(sharded, replicated) dicts of NumPy arrays: the registry draws, then the case's
    changes (ignored labels, a mask, weights, hard targets, element variances)."""
    source, first_draw, sharded, replicated, axes = draw(case, seed)
    spec = case.inputs
    rng = np.random.default_rng(seed + 100)
    first = next(iter(axes))
    rows = sharded[first].shape[axes[first]] // NUM_DEVICES  # one device's batch
    if spec.ignore is not None:
        name = "targets" if "targets" in sharded else "target"
        y = sharded[name]
        assert np.issubdtype(y.dtype, np.integer), (case.id, name)
        ignore_index = options(case, source).get("ignore_index", -100)
        index = {SOME: [1, 2 * rows + 1], SHARD_1: slice(rows, 2 * rows), ALL: slice(None)}
        y[index[spec.ignore]] = ignore_index
    if spec.hard:
        t = np.round(sharded["targets"])
        if spec.hard == "mixed":  # one soft target, on device 0 only: every device goes general
            t.reshape(-1)[2] = 0.5
        sharded["targets"] = t
    if spec.where or spec.weights or spec.var:
        shape = registry.element_shape(source, first_draw)  # one device's
        shape = (NUM_DEVICES * shape[0], *shape[1:])
        if spec.where:
            mask = np.ones(shape, bool)
            mask[rows : 2 * rows] = False  # device 1 keeps nothing
            mask.reshape(-1)[0] = False
            sharded["where"] = mask
        if spec.weights:
            sharded["weights"] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        if spec.var == "element":
            sharded["var"] = rng.uniform(0.2, 2.0, shape).astype(np.float32)
    return sharded, replicated


def softmax_int(ignore=None, weights=False):
    """Integer targets; ``ignore``: SOME, SHARD_1 or ALL rows set to ignore_index."""
    return Inputs(ignore=ignore, keep=CW if weights else ())


softmax_int_channel_first = Inputs(key="poly1_cross_entropy", keep=CW)  # (N, C, d), axis=1


def softmax_probs(where=False, weights=False):
    return Inputs(variant="probs", where=where, keep=CW if weights else ())


log_probs_int = softmax_int


def binary(pos_weight=False, row_weights=False, where=False, class_weights=False, hard=False):
    keep = (("pos_weight",) if pos_weight else ()) + (CW if class_weights else ())
    return Inputs(keep=keep, weights=row_weights, where=where, hard=hard)


def regression(kind="normal", weights=False, where=False, var=None):
    """``kind``: "normal" (the loss's first case), "rates" (poisson_nll_loss[rates]);
    ``var``: None or "row" (the registry's (N,) variances) or "element"."""
    variant = "rates" if kind == "rates" else None
    return Inputs(variant=variant, weights=weights, where=where, var=var)


def divergence(kind, where=False):
    """kl_div's ("kl", "kl_log") and the JSD's pairs, distillation's logits with labels."""
    return Inputs(variant="log_target" if kind == "kl_log" else None, where=where)


def seg_int(ignore_shard=False, weights=False):
    """Integer masks; ``ignore_shard``: device 1's images ignored."""
    return Inputs(ignore=SHARD_1 if ignore_shard else None, keep=CW if weights else ())


def seg_float(kind):
    """"probs": softmax probability targets; "masks": the loss's sigmoid case."""
    if kind == "probs":
        return Inputs(key="dice_cross_entropy_loss[probs]")
    return Inputs(variant="sigmoid")


def seg_masks(where=False):
    return Inputs(where=where)


def linear(ignore=None, weights=False):
    return softmax_int(ignore, weights)


# The CPU row-blocked path of the softmax losses (jaxloss._logsumexp) switches on at 2**24
# elements. The blocked cases lower its thresholds, as tests/test_fast_paths.py does, so that
# every device's local shard (the registry's BLOCKED_SHAPE) takes it, in blocks of 4 rows
# that do not divide the shard, and check that the sharded program holds the blocked loop.
BLOCKED_C = registry.BLOCKED_SHAPE[1]
BLOCKED_THRESHOLDS = {"BLOCKED_MIN_ELEMENTS": 64, "BLOCK_ELEMENTS": 4 * BLOCKED_C}
blocked = Inputs(key="cross_entropy[blocked]", keep=CW)


def margin_pairs(where=False):
    return Inputs(where=where)


def ctc(where=False):
    """Time-first log-probabilities, sharded over their batch axis 1; ``where``: device 1
    keeps no sequence."""
    return Inputs(where=where)


def margin_single(where=False, weights=False):
    return Inputs(where=where, keep=CW if weights else ())


triplets = Inputs()


# --- the cases ------------------------------------------------------------------------------

LS = {"label_smoothing": 0.1}
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
    Case("ce-weights-ignore", "cross_entropy", softmax_int(SOME, True), {}, POS, XW),
    Case("ce-smoothing-weights-ignore-sum", "cross_entropy", softmax_int(SOME, True),
         {**LS, "reduction": "sum"}, POS, XW, pmap=True),
    Case("ce-zloss", "cross_entropy", softmax_int(), {"z_loss": 1e-2}, POS, X),
    Case("ce-ignored-shard", "cross_entropy", softmax_int(SHARD_1, True), LS, POS, XW),
    Case("ce-all-ignored", "cross_entropy", softmax_int(ALL, True), LS, POS, XW),
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
    Case("focal-smoothing-weights-ignore", "focal_loss", softmax_int(SOME, True),
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
    Case("linear-smoothing-weights-ignore-zloss", "linear_cross_entropy", linear(SOME, True),
         {"chunk_size": 3, **LS, "z_loss": 1e-2}, ("hidden", "weight", "targets"),
         ("hidden", "weight", "class_weights"), pmap=True),
    Case("linear-ignored-shard-sum", "linear_cross_entropy", linear(SHARD_1, True),
         {"chunk_size": 4, "reduction": "sum", **LS}, ("hidden", "weight", "targets"),
         ("hidden", "weight")),
    # imbalance-aware softmax losses
    Case("la-weights-ignore-smoothing", "logit_adjusted_cross_entropy", softmax_int(SOME, True),
         {"tau": 1.0, **LS}, POS, XW, pmap=True),
    Case("la-probs-where-sum", "logit_adjusted_cross_entropy", softmax_probs(where=True),
         {"reduction": "sum"}, POS, XY),
    Case("ldam-weights-ignored-shard", "ldam_loss", softmax_int(SHARD_1, True),
         {"scale": 5.0}, POS, XW),
    Case("ldam-sum", "ldam_loss", softmax_int(SOME),
         {"scale": 5.0, "reduction": "sum"}, POS, X, pmap=True),
    Case("poly1-weights-ignore-smoothing", "poly1_cross_entropy", softmax_int(SOME, True),
         {"epsilon": 1.5, **LS}, POS, XW),
    Case("poly1-probs", "poly1_cross_entropy", Inputs(key="cross_entropy[probs]", keep=CW),
         {"epsilon": 2.0},
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
    Case("hinge-embedding-masked-shard-sum", "hinge_embedding_loss", margin_single(True),
         {"reduction": "sum"}, ("input", "target"), ("input",)),
    Case("soft-margin", "soft_margin_loss", margin_single(), {}, ("input", "target"),
         ("input",)),
    Case("multilabel-soft-margin-weights", "multilabel_soft_margin_loss",
         margin_single(weights=True), {}, ("input", "target"),
         ("input", "target", "class_weights")),
    Case("multi-margin-p2-weights", "multi_margin_loss", margin_single(weights=True),
         {"p": 2}, ("input", "target"), ("input", "class_weights"), pmap=True),
    Case("multilabel-margin-masked-shard", "multilabel_margin_loss",
         margin_single(where=True), {}, ("input", "target"), ("input",)),
    Case("cosine-embedding", "cosine_embedding_loss",
         margin_pairs(), {"margin": 0.2},
         ("input1", "input2", "target"), ("input1", "input2")),
    Case("triplet-swap-sum", "triplet_margin_loss", triplets, {"swap": True, "reduction": "sum"},
         ("anchor", "positive", "negative"), ("anchor", "positive", "negative")),
    Case("triplet-distance", "triplet_margin_with_distance_loss", triplets,
         {"margin": 2.0},
         ("anchor", "positive", "negative"), ("anchor", "positive", "negative")),
    # ctc_loss: time-first log_probs, sharded over their batch axis 1
    Case("ctc-mean-zero-infinity", "ctc_loss", ctc(), {"zero_infinity": True},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",)),
    Case("ctc-where-mean", "ctc_loss", ctc(where=True), {"zero_infinity": True},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",)),
    Case("ctc-sum", "ctc_loss", ctc(), {"zero_infinity": True, "reduction": "sum"},
         ("log_probs", "targets", "input_lengths", "target_lengths"), ("log_probs",)),
    # local shards above the CPU row-blocked threshold (lowered: BLOCKED_THRESHOLDS)
    Case("blocked-ce-weights-ignore", "cross_entropy", blocked, {}, POS, XW, blocked=True),
    Case("blocked-ce-smoothing", "cross_entropy", blocked, LS, POS, X, blocked=True),
]


# --- Detection: box IoU losses, varifocal/QFL/DFL -------------------------------------------
BOXES = ("boxes1", "boxes2")
CASES += [
    Case("giou-mean", "generalized_box_iou_loss", Inputs(), {"reduction": "mean"}, BOXES, BOXES,
         pmap=True),
    Case("diou-weights-masked-shard-mean", "distance_box_iou_loss",
         Inputs(where=True, weights=True), {"reduction": "mean"}, BOXES, BOXES),
    Case("ciou-masked-shard-sum", "complete_box_iou_loss", Inputs(where=True),
         {"reduction": "sum"}, BOXES, BOXES),
    Case("vfl-mean", "varifocal_loss", Inputs(), {}, XY, XY, pmap=True),
    Case("vfl-masked-shard-sum", "varifocal_loss", Inputs(where=True),
         {"reduction": "sum", "iou_weighted": False}, XY, XY),
    Case("qfl-masked-shard-mean", "quality_focal_loss", Inputs(where=True), {},
         ("logits", "labels", "scores"), ("logits", "scores")),
    Case("dfl-mean", "distribution_focal_loss", Inputs(), {}, XY, XY, pmap=True),
]
# --- end of Detection -----------------------------------------------------------------------

# --- SMP overlap: jaccard_loss, mcc_loss -----------------------------------------------------
CASES += [
    Case("jaccard-plain", "jaccard_loss", seg_int(), {}, POS, X),
    Case("jaccard-smp-batch-log-ignored-shard-weights", "jaccard_loss", seg_int(True, True),
         {"batch": True, "absent": "zero", "log_loss": True, "smooth": 0.0}, POS, XW,
         pmap=True),
    Case("jaccard-sigmoid-soft-sum", "jaccard_loss", Inputs(variant="sigmoid, soft_label"),
         {"activation": "sigmoid", "soft_label": True, "reduction": "sum"}, POS, XY),
    Case("mcc-batch-masked-shard", "mcc_loss", Inputs(where=True), {}, RXY, RXY, pmap=True),
    Case("mcc-per-sample-masked-shard", "mcc_loss", Inputs(where=True), {"batch": False}, RXY,
         RXY),
    Case("mcc-per-sample-sum", "mcc_loss", Inputs(), {"batch": False, "reduction": "sum"},
         RXY, RXY),
]
# --- end of SMP overlap ----------------------------------------------------------------------

# --- Contrastive: the loss needs the global batch (every device's negatives) ---------------
# The script's comparison holds as it is: each device's value is the global loss, its
# gradients the global loss's on its shard, the replicated scale's and bias's summed.
IT = ("image_features", "text_features")
CASES += [
    # clip: the scale's float32 gradient at the registry's scale 3 is a difference of O(1)
    # terms near 0; the scale is fixed at 10 here (tests/test_contrastive.py's 4-device run
    # checks its gradient in float64). The bias's gradient is 0 (a shift of every logit).
    Case("clip", "clip_loss", Inputs(), {"logit_scale": 10.0}, IT, IT, pmap=True),
    Case("clip-bias", "clip_loss", Inputs(keep=("logit_bias",)), {"logit_scale": 10.0}, IT,
         IT),
    Case("siglip", "siglip_loss", Inputs(), {}, IT, IT + ("logit_scale", "logit_bias"),
         pmap=True),
    Case("siglip-scale-20", "siglip_loss", Inputs(), {"logit_scale": 20.0}, IT,
         IT + ("logit_bias",)),
]
# --- end of Contrastive -------------------------------------------------------------------


def registry_case(name):
    """The sharding case of a loss that has none above: its first registry case with that
    case's options (but its mask) and hyperparameters (but per-element weights), its data and
    float target differentiated."""
    source = registry.table_cases()[name]
    static = {k: v for k, v in (source.options or {}).items() if k != "where"}
    diff = (*source.data, *([source.target] if source.target else ()))
    keep = tuple(k for k in source.hyper if k != "weights")
    return Case(f"{name}-registry", name, Inputs(keep=keep), static, (), diff)


AXIS_NAME_LOSSES = sorted(
    name for name in jaxloss.__all__
    if "axis_name" in inspect.signature(getattr(jaxloss, name)).parameters
)
CASES += [
    registry_case(name) for name in AXIS_NAME_LOSSES
    if name not in {case.loss for case in CASES} and name in registry.table_cases()
]

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
    args = {k: v for d in dicts for k, v in d.items()}
    positional = [args.pop(name) for name in case.positional]
    kwargs = options(case, registry.REGISTRY[case.inputs.registry_key(case.loss)])
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

    sharded, replicated = make(case)
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

    axes = draw(case)[4]

    def spec(name):
        return P(*([None] * axes.get(name, 0)), AXIS)

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
        assert not any(axes.values()), f"{case.id}: pmap cases split axis 0"
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
