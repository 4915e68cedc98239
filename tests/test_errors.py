"""Every bad input raises its error, matched by message; jaxloss.checked for value checks."""

import inspect
import logging
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import ERROR_CHECKS, TRANSFORMATIONS, call, element_shape, table_cases
from jax.experimental import checkify

import jaxloss
from jaxloss._check_runtime import CheckError

# (6, 4): the shape test_classification.py uses, so eager ops are already compiled.
LOGITS = np.linspace(-2.0, 2.0, 24, dtype=np.float32).reshape(6, 4)
LABELS = np.array([0, 3, 1, 2, 2, 0], np.int32)
PROBS = np.full((6, 4), 0.25, np.float32)


def raises(exc, message):
    return pytest.raises(exc, match=re.escape(message))


# ---------------------------------------------------------------------------------------------
# hyperparameters and shapes (trace-time ValueError / TypeError)
# ---------------------------------------------------------------------------------------------

SOFTMAX_LOSSES = ["cross_entropy", "focal_loss", "nll_loss"]
BINARY_LOSSES = ["binary_cross_entropy_with_logits", "sigmoid_focal_loss", "asymmetric_loss"]
ALL_LOSSES = SOFTMAX_LOSSES + BINARY_LOSSES


def _call(loss, **kwargs):
    targets = LABELS if loss in SOFTMAX_LOSSES else PROBS
    return getattr(jaxloss, loss)(LOGITS, targets, **kwargs)


# ---------------------------------------------------------------------------------------------
# generic checks: every export, on the first case of its name in tests/cases.py
# ---------------------------------------------------------------------------------------------
#
# Each check applies where the signature and the case's arguments say it can (a `reduction`,
# a `where`, float data, integer `targets` beside them, ...); a case lists a check that does
# not apply in its `not_applicable`, with the reason. A new export joins by getting its case.


def _applies(check):
    """[(name, case)] for the table cases ``check`` applies to."""
    out = []
    for name, case in table_cases().items():
        if name not in jaxloss.__all__ or case.options is None or check in case.not_applicable:
            continue
        params = inspect.signature(getattr(jaxloss, name)).parameters
        positional = [p for p, v in params.items() if v.kind is v.POSITIONAL_OR_KEYWORD]
        args = case.make(np.random.default_rng(0))
        targets = args.get("targets") if positional[1:2] == ["targets"] else None
        integer_targets = targets is not None and np.issubdtype(targets.dtype, np.integer)
        applies = {
            "unknown_reduction": "reduction" in params,
            "integer_input": bool(case.data),
            # a label (or 0/1 target) array where the logits go, the logits where it goes
            "swapped_arguments": bool(case.data) and targets is not None and (
                integer_targets or targets.shape == np.shape(args[case.data[0]])),
            "bad_where": "where" in params,
            "class_weights_length": "class_weights" in args,
            "target_shape": case.target is not None and bool(case.data),
            "label_shape": bool(case.data) and integer_targets,
        }[check]
        if applies:
            out.append(pytest.param(name, case, args, id=name))
    return out


def test_every_inapplicable_generic_check_is_a_known_one_with_a_reason():
    cases = table_cases()
    for name in jaxloss.__all__:  # a loss the checks would skip fails here instead
        if "reduction" in inspect.signature(getattr(jaxloss, name)).parameters:
            assert name in cases, f"{name}: no case in tests/cases.py"
            assert cases[name].options is not None, f"{name}: give its case `options`"
    for name, case in cases.items():
        named = set(case.not_applicable) - set(TRANSFORMATIONS)
        assert named <= set(ERROR_CHECKS), (name, named - set(ERROR_CHECKS))
    for check in ERROR_CHECKS:  # each has its rule in _applies and its test below
        assert _applies(check), check


@pytest.mark.parametrize(("name", "case", "args"), _applies("unknown_reduction"))
def test_an_unknown_reduction_is_named(name, case, args):
    with jax.enable_x64(True), pytest.raises(
        ValueError, match=rf"^{name}: `reduction` must be (one of \(.*\)|'mean' or 'sum'), "
                          r"got 'average'\."
    ):
        call(case, args, reduction="average")


@pytest.mark.parametrize(("name", "case", "args"), _applies("integer_input"))
def test_integer_input_is_named_with_the_cast(name, case, args):
    d = case.data[0]
    with jax.enable_x64(True), pytest.raises(
        TypeError, match=rf"^{name}: `{d}` must be a floating-point array, got dtype int32\. "
                         rf"(Cast it with `{d}\.astype\(jnp\.float32\)`\.$|The arguments look "
                         r"swapped)"
    ):
        call(case, {**args, d: np.asarray(args[d]).astype(np.int32)})


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
@pytest.mark.parametrize(("name", "case", "args"), _applies("swapped_arguments"))
def test_swapped_arguments_are_named(name, case, args, label_dtype):
    """loss(targets, logits): the message says so and names the caller's dtype (int64 stays
    int64 although jnp.asarray makes it int32 with x64 off)."""
    d = case.data[0]
    labels = np.round(args["targets"]).astype(label_dtype)
    message = (
        f"{name}: `{d}` must be a floating-point array, got dtype {labels.dtype}. The arguments "
        f"look swapped: call {name}({d}, targets). The {labels.dtype} array of shape "
        f"{labels.shape} looks like the "
    )
    with raises(TypeError, message):
        call(case, {**args, d: labels, "targets": args[d]})


@pytest.mark.parametrize(("name", "case", "args"), _applies("bad_where"))
def test_a_where_that_is_not_boolean_or_does_not_broadcast_is_named(name, case, args):
    with jax.enable_x64(True):
        shape = element_shape(case, args)
        with pytest.raises(
            TypeError, match=rf"^{name}: `where` must be a boolean array, got dtype int32\.$"
        ):
            call(case, args, where=np.ones(shape, np.int32))
        with pytest.raises(
            ValueError, match=rf"^{name}: `where` of shape \(7,\) must broadcast to "
                              rf"{re.escape(str(shape))} \(NumPy broadcasting from the trailing "
                              r"axis\)\.$"
        ):
            call(case, args, where=np.ones((7,), bool))


@pytest.mark.parametrize(("name", "case", "args"), _applies("class_weights_length"))
def test_class_weights_of_the_wrong_length_are_named(name, case, args):
    c = len(args["class_weights"])
    with jax.enable_x64(True), raises(
        ValueError, f"{name}: `class_weights` must have shape ({c},), one weight per class, got "
                    f"shape ({c - 1},)."
    ):
        call(case, {**args, "class_weights": args["class_weights"][:-1]})


@pytest.mark.parametrize(("name", "case", "args"), _applies("target_shape"))
def test_a_float_target_of_another_shape_is_named(name, case, args):
    t, d = case.target, case.data[0]
    want, bad = np.shape(args[d]), np.shape(args[t])[:-1] + (np.shape(args[t])[-1] - 1,)
    with jax.enable_x64(True), pytest.raises(
        ValueError, match=rf"^{name}: `{t}` (must have the same shape as `{d}`: expected "
                          rf"{re.escape(str(want))}, got {re.escape(str(bad))}\.$|of shape "
                          rf"{re.escape(str(bad))} must broadcast to )"
    ):
        call(case, {**args, t: np.asarray(args[t])[..., :-1]})


@pytest.mark.parametrize(("name", "case", "args"), _applies("label_shape"))
def test_integer_targets_of_another_shape_are_named(name, case, args):
    y = args["targets"]
    want, bad = y.shape, y.shape[:-1] + (y.shape[-1] - 1,)
    with jax.enable_x64(True), pytest.raises(
        ValueError, match=rf"^{name}: (integer )?`targets` must have the (logits' shape without "
                          r"the class axis \(the logits' axis \d+\)|same shape as `logits`): "
                          rf"expected {re.escape(str(want))}, got {re.escape(str(bad))}"
    ):
        call(case, {**args, "targets": y[..., :-1]})


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
@pytest.mark.parametrize("value", [1.5, -0.1])
def test_label_smoothing_outside_unit_interval(loss, value):
    with raises(ValueError, f"{loss}: `label_smoothing` must be in [0, 1], got {value}."):
        _call(loss, label_smoothing=value)


def test_label_smoothing_must_be_scalar():
    with raises(ValueError, "cross_entropy: `label_smoothing` must be a scalar, got shape (2,)."):
        _call("cross_entropy", label_smoothing=np.array([0.1, 0.2]))


@pytest.mark.parametrize("loss", ["focal_loss", "sigmoid_focal_loss"])
def test_negative_gamma(loss):
    with raises(ValueError, f"{loss}: `gamma` must be >= 0, got -1.0."):
        _call(loss, gamma=-1.0)


def test_negative_z_loss():
    with raises(ValueError, "cross_entropy: `z_loss` must be >= 0, got -0.5."):
        _call("cross_entropy", z_loss=-0.5)


@pytest.mark.parametrize("value", [1.5, -0.25])
def test_alpha_outside_unit_interval(value):
    with raises(ValueError, f"sigmoid_focal_loss: `alpha` must be in [0, 1], got {value}."):
        _call("sigmoid_focal_loss", alpha=value)


def test_channel_first_hint():
    """(N, C, H, W) logits with the default axis=-1: the message suggests axis=1."""
    with raises(ValueError, "For channel-first (N, C, ...) logits pass axis=1."):
        jaxloss.cross_entropy(np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 3, 3), np.int32))


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
def test_probability_targets_with_a_different_class_dimension(loss):
    with raises(
        ValueError,
        f"{loss}: probability `targets` must have the logits' shape (6, 4) (class axis 1 of "
        "size 4), got (6, 5).",
    ):
        getattr(jaxloss, loss)(LOGITS, np.full((6, 5), 0.2, np.float32))


@pytest.mark.parametrize("loss", ["cross_entropy", "focal_loss"])
def test_ignore_index_with_probability_targets(loss):
    with raises(ValueError, f"{loss}: `ignore_index`=0 applies to integer targets only;"):
        getattr(jaxloss, loss)(LOGITS, PROBS, ignore_index=0)


def test_nll_loss_rejects_probability_targets():
    with raises(TypeError, "nll_loss: `targets` must have an integer dtype (class indices), "
                           "got dtype float32."):
        jaxloss.nll_loss(LOGITS, PROBS)


def test_axis_out_of_range():
    with raises(ValueError, "cross_entropy: `axis`=2 is out of range for `logits` of shape (6, 4)"):
        jaxloss.cross_entropy(LOGITS, LABELS, axis=2)


def test_pos_weight_that_does_not_broadcast():
    with raises(
        ValueError,
        "binary_cross_entropy_with_logits: `pos_weight` of shape (3,) must broadcast to (6, 4) "
        "(NumPy broadcasting from the trailing axis).",
    ):
        jaxloss.binary_cross_entropy_with_logits(LOGITS, PROBS, pos_weight=np.ones(3, np.float32))


@pytest.mark.parametrize("value", [1.0, 1.5, -0.1])
def test_asymmetric_clip_outside_unit_interval(value):
    with raises(
        ValueError,
        f"asymmetric_loss: `clip` must be in [0, 1), got {value}. It is the probability shift "
        "m of the negatives, p_m = max(p - m, 0); clip=0 turns it off.",
    ):
        jaxloss.asymmetric_loss(LOGITS, PROBS, clip=value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma_pos": -1.0}, "asymmetric_loss: `gamma_pos` must be >= 0, got -1.0."),
        ({"gamma_neg": -0.5}, "asymmetric_loss: `gamma_neg` must be >= 0, got -0.5."),
        ({"clip": np.array([0.05, 0.1])}, "asymmetric_loss: `clip` must be a scalar, got shape "
                                          "(2,). To run several values at once, `jax.vmap` over "
                                          "`clip`."),
        ({"gamma_neg": np.ones(2)}, "asymmetric_loss: `gamma_neg` must be a scalar, got shape "
                                    "(2,)."),
    ],
)
def test_asymmetric_hyperparameters(kwargs, message):
    with raises(ValueError, message):
        jaxloss.asymmetric_loss(LOGITS, PROBS, **kwargs)


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_bce_label_smoothing_outside_unit_interval(value):
    with raises(
        ValueError,
        f"binary_cross_entropy_with_logits: `label_smoothing` must be in [0, 1], got {value}.",
    ):
        jaxloss.binary_cross_entropy_with_logits(LOGITS, PROBS, label_smoothing=value)


def test_bce_label_smoothing_must_be_scalar():
    with raises(ValueError, "binary_cross_entropy_with_logits: `label_smoothing` must be a "
                            "scalar, got shape (4,)."):
        jaxloss.binary_cross_entropy_with_logits(LOGITS, PROBS, label_smoothing=np.zeros(4))


@pytest.mark.parametrize("name", ["pos_weight", "class_weights"])
def test_sigmoid_focal_weights_that_do_not_broadcast(name):
    """kornia's channel-first (C,) layout on (N, C, H, W) logits does not broadcast from the
    trailing axis: the message says so (the fix is shape (C, 1, 1))."""
    with raises(
        ValueError,
        f"sigmoid_focal_loss: `{name}` of shape (4,) must broadcast to (2, 4, 3, 3) "
        "(NumPy broadcasting from the trailing axis).",
    ):
        jaxloss.sigmoid_focal_loss(
            np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 4, 3, 3), np.float32),
            **{name: np.ones(4, np.float32)},
        )


REGRESSION = ["l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss", "poisson_nll_loss",
              "gaussian_nll_loss"]
ONES = np.ones((6, 4), np.float32)


def _regression_call(loss, x=LOGITS, y=PROBS, **kwargs):
    extra = (ONES,) if loss == "gaussian_nll_loss" else ()
    return getattr(jaxloss, loss)(x, y, *extra, **kwargs)


@pytest.mark.parametrize("loss", REGRESSION + ["binary_cross_entropy"])
def test_pytorch_elementwise_losses_refuse_complex_targets_and_integer_pairs(loss):
    """(The reduction, integer input, target shape and `where` checks are the registry's
    generic ones, at the top of this file.)"""
    with raises(TypeError, f"{loss}: `input` must be a floating-point array, got dtype int32."):
        _regression_call(loss, x=np.zeros((6, 4), np.int32), y=np.zeros((6, 4), np.int32))
    with raises(TypeError, f"{loss}: `target` must be numeric, got dtype complex64."):
        _regression_call(loss, y=np.zeros((6, 4), np.complex64))


@pytest.mark.parametrize(
    ("loss", "kwargs", "message"),
    [
        ("huber_loss", {"delta": 0.0}, "huber_loss: `delta` must be > 0, got 0.0."),
        ("huber_loss", {"delta": -1.0}, "huber_loss: `delta` must be > 0, got -1.0."),
        ("huber_loss", {"delta": np.ones(2)},
         "huber_loss: `delta` must be a scalar, got shape (2,). To run several values at once, "
         "`jax.vmap` over `delta`."),
        ("smooth_l1_loss", {"beta": -1.0}, "smooth_l1_loss: `beta` must be >= 0, got -1.0."),
        ("poisson_nll_loss", {"eps": -1e-8}, "poisson_nll_loss: `eps` must be >= 0, got -1e-08."),
        ("gaussian_nll_loss", {"eps": -1.0}, "gaussian_nll_loss: `eps` must be >= 0, got -1.0."),
        ("poisson_nll_loss", {"log_input": 1},
         "poisson_nll_loss: `log_input` must be a Python or NumPy bool (it selects the "
         "computation, it is structure, not data), got 1."),
        ("poisson_nll_loss", {"full": "yes"},
         "poisson_nll_loss: `full` must be a Python or NumPy bool (it selects the "
         "computation, it is structure, not data), got 'yes'."),
        ("gaussian_nll_loss", {"full": None},
         "gaussian_nll_loss: `full` must be a Python or NumPy bool (it selects the "
         "computation, it is structure, not data), got None."),
    ],
)
def test_regression_hyperparameters(loss, kwargs, message):
    exc = TypeError if "NumPy bool" in message else ValueError
    with raises(exc, message):
        _regression_call(loss, **kwargs)


@pytest.mark.parametrize("shape", [(4,), (6, 2), (1, 1), (6, 4, 1), (2, 6, 4)])
def test_gaussian_var_of_a_shape_pytorch_rejects(shape):
    with raises(ValueError, f"gaussian_nll_loss: `var` of shape {shape} does not fit `input` of "
                            "shape (6, 4): expected (6, 4) (one variance per element), (6,) (one "
                            "per row, shared along the last axis), the input's shape with 1 in "
                            "exactly one axis (shared along that axis), or a scalar."):
        jaxloss.gaussian_nll_loss(LOGITS, PROBS, np.ones(shape, np.float32))


GAUSSIAN_TARGET = ("gaussian_nll_loss: `target` of shape {} must broadcast to `input`'s shape "
                   "(6, 4) (NumPy broadcasting from the trailing axis, as PyTorch): expected "
                   "(6, 4), that shape with 1 in some axes, or fewer leading axes.")


@pytest.mark.parametrize(
    ("shape", "hint"),
    [
        ((6,), " For one target per row, shared along the last axis, pass `target[..., None]` "
               "(shape (6, 1))."),
        ((2, 6, 4), " `input` is never broadcast up: the loss has `input`'s shape."),
        ((6, 5), ""),
    ],
)
def test_gaussian_target_that_does_not_broadcast(shape, hint):
    """PyTorch broadcasts `target` against `input` (both ways); jaxloss keeps input's shape
    and names the row-target mistake ((N,) is aligned with the last axis, not unsqueezed)."""
    with raises(ValueError, GAUSSIAN_TARGET.format(shape) + hint):
        jaxloss.gaussian_nll_loss(LOGITS, np.ones(shape, np.float32), ONES)


def test_gaussian_input_is_never_broadcast_up():
    with raises(ValueError, "gaussian_nll_loss: `target` of shape (6, 4) must broadcast to "
                            "`input`'s shape (6, 1)"):
        jaxloss.gaussian_nll_loss(LOGITS[:, :1], PROBS, ONES[:, :1])


def test_gaussian_negative_scalar_var_and_integer_var():
    with raises(ValueError, "gaussian_nll_loss: `var` must be >= 0, got -1.0."):
        jaxloss.gaussian_nll_loss(LOGITS, PROBS, -1.0)
    with raises(TypeError, "gaussian_nll_loss: `var` must be a floating-point array, got dtype "
                           "int32. Cast it with `var.astype(jnp.float32)`."):
        jaxloss.gaussian_nll_loss(LOGITS, PROBS, np.ones((6, 4), np.int32))


def test_errors_are_raised_while_tracing_under_jit():
    with raises(ValueError, "cross_entropy: `class_weights` must have shape (4,)"):
        jax.jit(lambda x, y: jaxloss.cross_entropy(x, y, class_weights=np.ones(2)))(
            LOGITS, LABELS
        )
    with raises(ValueError, "focal_loss: `gamma` must be >= 0, got -2.0."):
        jax.jit(lambda x, y: jaxloss.focal_loss(x, y, gamma=-2.0))(LOGITS, LABELS)


def test_class_weight_helpers_bad_inputs():
    with raises(ValueError, "class_weights_from_counts: `method` must be one of ('balanced', "
                            "'inverse', 'inverse_sqrt', 'effective_number'), got 'median'."):
        jaxloss.class_weights_from_counts(np.ones(3), method="median")
    with raises(ValueError, "class_weights_from_counts: `counts` must be >= 0, got [1, -2, 3]."):
        jaxloss.class_weights_from_counts(np.array([1, -2, 3]))
    with raises(ValueError, "class_weights_from_counts: `beta` must be in [0, 1), got 1.0."):
        jaxloss.class_weights_from_counts(np.ones(3), method="effective_number", beta=1.0)
    with raises(TypeError, "class_counts: `targets` must be integer class indices, got float32."):
        jaxloss.class_counts(PROBS, 4)


@pytest.mark.parametrize("label", [7, -1])
def test_class_counts_raises_for_a_concrete_bad_label(label):
    with raises(
        ValueError,
        f"class_counts: target label {label} is out of range: labels must be in [0, 4) or equal "
        "to ignore_index=-100.",
    ):
        jaxloss.class_counts(np.array([0, label, -100], np.int32), 4)


# ---------------------------------------------------------------------------------------------
# hints that point the right way: swapped arguments, the caller's dtype, squeeze, one class
# ---------------------------------------------------------------------------------------------

X_SEG = np.linspace(-2.0, 2.0, 72, dtype=np.float32).reshape(2, 3, 3, 4)
Y_SEG = (np.arange(18, dtype=np.int32) % 4).reshape(2, 3, 3)


def _swapped(fn, name, labels, logits):
    return (
        f"{fn}: `{name}` must be a floating-point array, got dtype {labels.dtype}. The arguments "
        f"look swapped: call {fn}({name}, targets). The {labels.dtype} array of shape "
        f"{labels.shape} looks like the class indices and the {logits.dtype} array of shape "
        f"{logits.shape} like the {name}."
    )


def test_swapped_arguments_channel_first_and_dice():
    logits = np.moveaxis(X_SEG, -1, 1)  # (2, 4, 3, 3)
    with raises(TypeError, _swapped("cross_entropy", "logits", Y_SEG, logits)):
        jaxloss.cross_entropy(Y_SEG, logits, axis=1)
    for fn in (jaxloss.dice_loss, jaxloss.tversky_loss, jaxloss.dice_cross_entropy_loss):
        with raises(TypeError, _swapped(fn.__name__, "logits", Y_SEG, X_SEG)):
            fn(Y_SEG, X_SEG)


def test_swapped_arguments_name_the_functions_own_target_argument():
    """(input, target) losses name `target` in the fix, (logits, targets) ones `targets`."""
    probs, labels = np.array([0.2, 0.7], np.float32), np.array([0, 1], np.int32)
    with raises(TypeError, "binary_cross_entropy: `input` must be a floating-point array, got "
                           "dtype int32. The arguments look swapped: call "
                           "binary_cross_entropy(input, target). The int32 array of shape (2,) "
                           "looks like the 0/1 targets and the float32 array of shape (2,) like "
                           "the input. If the input values really are integers, cast them with "
                           "`input.astype(jnp.float32)`."):
        jaxloss.binary_cross_entropy(labels, probs)
    with raises(TypeError, "call binary_cross_entropy_with_logits(logits, targets)."):
        jaxloss.binary_cross_entropy_with_logits(labels, probs)


def test_integer_logits_that_are_not_swapped_name_the_callers_dtype():
    with raises(
        TypeError,
        "cross_entropy: `logits` must be a floating-point array, got dtype int64. Cast it with "
        "`logits.astype(jnp.float32)`.",
    ):
        jaxloss.cross_entropy(np.zeros((6, 4), np.int64), LABELS)
    with raises(TypeError, "linear_cross_entropy: `hidden` must be a floating-point array, got "
                           "dtype int64."):
        jaxloss.linear_cross_entropy(np.zeros((6, 3), np.int64), np.zeros((4, 3)), LABELS)
    with raises(TypeError, "nll_loss: `targets` must have an integer dtype (class indices), "
                           "got dtype float64."):
        jaxloss.nll_loss(LOGITS, PROBS.astype(np.float64))
    with raises(TypeError, "class_counts: `targets` must be integer class indices, got float64."):
        jaxloss.class_counts(PROBS.astype(np.float64), 4)


@pytest.mark.parametrize("loss", SOFTMAX_LOSSES + ["dice_loss"])
def test_targets_with_a_trailing_size_one_axis_suggest_squeeze(loss):
    logits = X_SEG if loss == "dice_loss" else LOGITS
    labels = Y_SEG if loss == "dice_loss" else LABELS
    with raises(ValueError, "Remove the size-1 axis with `targets.squeeze(-1)`."):
        getattr(jaxloss, loss)(logits, labels[..., None])


def test_channel_first_targets_with_a_size_one_class_axis_suggest_squeeze_1():
    """MONAI-style (N, 1, H, W) labels with (N, C, H, W) logits and axis=1."""
    logits = np.moveaxis(X_SEG, -1, 1)
    with raises(ValueError, "expected (2, 3, 3), got (2, 1, 3, 3) for logits of shape "
                            "(2, 4, 3, 3). Remove the size-1 axis with `targets.squeeze(1)`."):
        jaxloss.dice_loss(logits, Y_SEG[:, None], axis=1)


def test_integer_one_hot_targets_suggest_argmax():
    onehot = np.eye(4, dtype=np.int32)[LABELS]
    with raises(
        ValueError,
        "Integer targets with the logits' shape look one-hot encoded: pass class indices "
        "`targets.argmax(axis=1)`, or probabilities `targets.astype(jnp.float32)`.",
    ):
        jaxloss.cross_entropy(LOGITS, onehot)


def test_float_class_indices_suggest_an_integer_cast():
    with raises(
        ValueError,
        "cross_entropy: probability `targets` must have the logits' shape (6, 4) (class axis 1 "
        "of size 4), got (6,). Integer class indices need an integer dtype. These have the "
        "shape of class indices: cast them with `targets.astype(jnp.int32)`.",
    ):
        jaxloss.cross_entropy(LOGITS, LABELS.astype(np.float32))


def _one_class(fn, name, shape, axis, fix):
    return (
        f"{fn}: `{name}` has a single class along axis {axis} (shape {shape}): a softmax over "
        f"one class is always 1, so the loss is constant and its gradient 0. For binary targets "
        f"{fix}, or give `{name}` one entry per class (2 for binary)."
    )


BCE_FIX = "use jaxloss.binary_cross_entropy_with_logits with one logit per element"
ONE = np.zeros((6, 1), np.float32)
ONE_SEG = np.zeros((2, 8, 8, 1), np.float32)
MASK_SEG = (np.arange(128).reshape(2, 8, 8, 1) % 3 == 0).astype(np.float32)
SINGLE_CLASS = [
    (jaxloss.cross_entropy, (ONE, np.zeros(6, np.int32)), {},
     _one_class("cross_entropy", "logits", (6, 1), 1, BCE_FIX)),
    (jaxloss.cross_entropy, (ONE, np.ones((6, 1), np.float32)), {},
     _one_class("cross_entropy", "logits", (6, 1), 1, BCE_FIX)),
    (jaxloss.nll_loss, (ONE, np.zeros(6, np.int32)), {},
     _one_class("nll_loss", "log_probs", (6, 1), 1, BCE_FIX)),
    (jaxloss.focal_loss, (ONE, np.zeros(6, np.int32)), {},
     _one_class("focal_loss", "logits", (6, 1), 1,
                "use jaxloss.sigmoid_focal_loss with one logit per element")),
    (jaxloss.cross_entropy, (np.zeros((2, 1, 3), np.float32), np.zeros((2, 3), np.int32)),
     {"axis": 1}, _one_class("cross_entropy", "logits", (2, 1, 3), 1, BCE_FIX)),
    (jaxloss.dice_loss, (ONE_SEG, MASK_SEG[..., 0].astype(np.int32)), {},
     _one_class("dice_loss", "logits", (2, 8, 8, 1), 3, 'pass activation="sigmoid"')),
    (jaxloss.tversky_loss, (ONE_SEG, MASK_SEG), {},
     _one_class("tversky_loss", "logits", (2, 8, 8, 1), 3, 'pass activation="sigmoid"')),
    (jaxloss.dice_cross_entropy_loss, (ONE_SEG, MASK_SEG), {},
     _one_class("dice_cross_entropy_loss", "logits", (2, 8, 8, 1), 3,
                'combine jaxloss.dice_loss(..., activation="sigmoid") with '
                "jaxloss.binary_cross_entropy_with_logits")),
    (jaxloss.dice_cross_entropy_loss, (ONE_SEG, MASK_SEG[..., 0].astype(np.int32)), {},
     _one_class("dice_cross_entropy_loss", "logits", (2, 8, 8, 1), 3,
                'combine jaxloss.dice_loss(..., activation="sigmoid") with '
                "jaxloss.binary_cross_entropy_with_logits")),
    (jaxloss.linear_cross_entropy, (np.zeros((6, 3), np.float32), np.zeros((1, 3), np.float32),
                                    np.zeros(6, np.int32)), {},
     _one_class("linear_cross_entropy", "weight", (1, 3), 0,
                "use jaxloss.binary_cross_entropy_with_logits on the single logit, "
                "hidden @ weight[0] (a (1, D) weight)")),
]


NO_CLASS = [
    (jaxloss.cross_entropy, (np.zeros((6, 0), np.float32), np.zeros(6, np.int32)), {},
     "cross_entropy: `logits` has no classes along axis 1 (shape (6, 0)); give it one entry "
     "per class."),
    (jaxloss.dice_loss, (np.zeros((2, 0, 3), np.float32), np.zeros((2, 3), np.int32)),
     {"axis": 1}, "dice_loss: `logits` has no classes along axis 1 (shape (2, 0, 3))"),
    (jaxloss.linear_cross_entropy, (np.zeros((3, 4), np.float32), np.zeros((0, 4), np.float32),
                                    np.zeros(3, np.int32)), {},
     "linear_cross_entropy: `weight` has no classes along axis 0 (shape (0, 4))"),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "message"), SINGLE_CLASS + NO_CLASS,
    ids=[e[3][:40] for e in SINGLE_CLASS + NO_CLASS],
)
@pytest.mark.parametrize("traced", [False, True])
def test_a_softmax_over_one_class_is_an_error(fn, args, kwargs, message, traced):
    """One class, or none: raised while tracing, under jit too, never a constant 0 or a
    NaN."""
    call = jax.jit(lambda *a: fn(*a, **kwargs)) if traced else lambda *a: fn(*a, **kwargs)
    with raises(ValueError, message):
        call(*args)


def test_one_channel_sigmoid_and_none_still_work():
    for activation in ("sigmoid", "none"):
        loss = jaxloss.dice_loss(ONE_SEG + 0.5, MASK_SEG, activation=activation)
        assert np.isfinite(loss)
    assert np.isfinite(jaxloss.binary_cross_entropy_with_logits(ONE_SEG, MASK_SEG))


def test_include_background_error_on_one_softmax_channel_points_to_sigmoid():
    with raises(ValueError, 'Keep include_background=True with activation="sigmoid" for binary '
                            "(single-channel) segmentation."):
        jaxloss.dice_loss(ONE_SEG, MASK_SEG, include_background=False)


# ---------------------------------------------------------------------------------------------
# jaxloss.checked: value checks, eagerly and inside jit
# ---------------------------------------------------------------------------------------------


def _label_message(fn, label, num_classes=4, ignore_index=-100):
    return (
        f"{fn}: target label {label} is out of range: labels must be in [0, {num_classes}) "
        f"or equal to ignore_index={ignore_index}."
    )


def _last_line(exc):
    return str(exc).splitlines()[-1]


@pytest.fixture
def no_callback_logs(caplog):
    """A failed check under jit logs nothing (JAX logs every callback exception otherwise)."""
    with caplog.at_level(logging.DEBUG):
        yield
    failures = [r for r in caplog.records if r.exc_info or "failed" in r.getMessage()]
    assert not failures, [r.getMessage() for r in failures]


@pytest.mark.parametrize(
    ("loss", "label"),
    [("cross_entropy", 7), ("cross_entropy", -1), ("focal_loss", 7), ("nll_loss", -1)],
)
def test_checked_raises_eagerly(loss, label):
    fn = jaxloss.checked(getattr(jaxloss, loss))
    log_probs = np.asarray(jax.nn.log_softmax(LOGITS))
    with pytest.raises(CheckError) as info:
        fn(log_probs, np.array([0, label, 1, 2, 3, 0], np.int32))
    assert str(info.value) == _label_message(loss, label)
    # One type for every mode: what jit raises, and a ValueError like the trace-time errors.
    assert isinstance(info.value, jax.errors.JaxRuntimeError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("label", [7, -1])
def test_checked_raises_inside_jit(label, no_callback_logs):
    fn = jax.jit(jaxloss.checked(jaxloss.cross_entropy))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(fn(LOGITS, np.array([0, 1, 2, 3, 0, label], np.int32)))
    assert _last_line(info.value) == "CheckError: " + _label_message("cross_entropy", label)


def test_checked_inside_a_jitted_train_step(no_callback_logs):
    """The wrapped loss called from a larger jitted function, with keyword hyperparameters."""
    loss = jaxloss.checked(jaxloss.focal_loss)

    @jax.jit
    def step(x, y):
        return jax.value_and_grad(lambda x: loss(x, y, gamma=2.0, label_smoothing=0.1))(x)

    value, grad = step(LOGITS, LABELS)
    assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()
    np.testing.assert_allclose(
        value, jaxloss.focal_loss(LOGITS, LABELS, gamma=2.0, label_smoothing=0.1), rtol=1e-6
    )
    for _ in range(2):  # the same error on every call, not only the first
        with pytest.raises(jax.errors.JaxRuntimeError) as info:
            jax.block_until_ready(step(LOGITS, np.array([4, 0, 0, 1, 2, 3], np.int32)))
        assert _last_line(info.value) == "CheckError: " + _label_message("focal_loss", 4)
    value2, _ = step(LOGITS, LABELS)  # and the program still runs on good labels
    np.testing.assert_allclose(value2, value)


def test_checked_passes_for_valid_ignored_and_masked_labels():
    fn = jaxloss.checked(jaxloss.cross_entropy)
    want = jaxloss.cross_entropy(LOGITS, LABELS, where=np.arange(6) != 2)
    dropped = LABELS.copy()
    dropped[2] = -100
    np.testing.assert_allclose(fn(LOGITS, dropped), want)
    np.testing.assert_allclose(jax.jit(fn)(LOGITS, dropped), want)
    # A bad label that is the ignore_index, or masked by where, is not checked.
    bad = LABELS.copy()
    bad[2] = 9
    np.testing.assert_allclose(fn(LOGITS, bad, ignore_index=9), want)
    np.testing.assert_allclose(fn(LOGITS, bad, where=np.arange(6) != 2), want)
    np.testing.assert_allclose(jax.jit(fn)(LOGITS, bad, where=np.arange(6) != 2), want)
    # Probability targets have no labels to check.
    np.testing.assert_allclose(fn(LOGITS, PROBS), jaxloss.cross_entropy(LOGITS, PROBS))


def test_checked_custom_ignore_index_is_named():
    fn = jaxloss.checked(jaxloss.cross_entropy)
    with raises(CheckError, _label_message("cross_entropy", 255, ignore_index=-1)):
        fn(LOGITS, np.array([0, 1, 255, 2, 3, -1], np.int32), ignore_index=-1)


def test_checked_under_vmap_and_grad(no_callback_logs):
    ce = jaxloss.checked(jaxloss.cross_entropy)
    batch_x, batch_y = np.stack([LOGITS, -LOGITS]), np.stack([LABELS, LABELS[::-1]])
    np.testing.assert_allclose(
        jax.vmap(ce)(batch_x, batch_y), jax.vmap(jaxloss.cross_entropy)(batch_x, batch_y)
    )
    np.testing.assert_allclose(
        jax.grad(ce)(LOGITS, LABELS), jax.grad(jaxloss.cross_entropy)(LOGITS, LABELS)
    )
    bad_y = batch_y.copy()
    bad_y[1, 3] = 5
    # vmap outside jit runs the callback from Python: the CheckError itself comes out.
    with raises(CheckError, _label_message("cross_entropy", 5)):
        jax.vmap(ce)(batch_x, bad_y)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(jax.vmap(ce))(batch_x, bad_y))
    assert _last_line(info.value) == "CheckError: " + _label_message("cross_entropy", 5)
    # grad: the labels are not differentiated, so they stay concrete and the check raises
    # at once, as eagerly; under jit it is staged.
    with raises(CheckError, _label_message("cross_entropy", 5)):
        jax.grad(ce)(LOGITS, bad_y[1])
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(jax.grad(ce))(LOGITS, bad_y[1]))
    assert _last_line(info.value) == "CheckError: " + _label_message("cross_entropy", 5)


def test_checked_passes_arguments_through():
    """Keyword and positional non-array arguments are not traced (class_counts' num_classes)."""
    t = np.array([0, 1, 2, 2], np.int32)
    fn = jaxloss.checked(jaxloss.class_counts)
    np.testing.assert_array_equal(fn(t, num_classes=3), [1, 1, 2])
    np.testing.assert_array_equal(fn(t, 3), [1, 1, 2])
    # An unhashable non-array argument cannot be static: checked runs the function as it is.
    counts = jaxloss.checked(lambda t, classes: jaxloss.class_counts(t, len(classes)))
    np.testing.assert_array_equal(counts(t, {"a", "b", "c"}), [1, 1, 2])
    with raises(CheckError, _label_message("class_counts", 5, num_classes=3)):
        counts(np.array([0, 5], np.int32), {"a", "b", "c"})


def test_checked_traces_once_per_signature():
    """Eager checked calls run one compiled program per signature (checkify evaluated
    eagerly would trace, and recompile its jitted parts, on every call)."""
    traces = []

    def loss(x, y, gamma):
        traces.append(gamma)
        return jaxloss.focal_loss(x, y, gamma=gamma)

    fn = jaxloss.checked(loss)
    for _ in range(3):
        np.testing.assert_allclose(fn(LOGITS, LABELS, 2.0),
                                   jaxloss.focal_loss(LOGITS, LABELS, gamma=2.0), rtol=1e-6)
    fn(LOGITS, LABELS, 1.0)  # a new static value: a new trace
    assert traces == [2.0, 1.0]


def test_checked_checks_an_already_jitted_function():
    """Every check is staged in the loss's trace, so a jitted function traced earlier
    without checked carries them too."""
    jitted = jax.jit(jaxloss.cross_entropy)
    jitted(LOGITS, LABELS)  # traced and cached without checked
    with pytest.raises(CheckError, match="cross_entropy: target label 7 is out of range"):
        jaxloss.checked(jitted)(LOGITS, np.array([0, 7, 1, 2, 3, 0], np.int32))


def test_unchecked_value_problems_are_numbers_not_errors():
    """Without checked (or checkify) a bad value is a number, eagerly, under jit and under
    an eager grad (where the check of a non-differentiated input comes out concrete), except
    a concrete out-of-range label, which the label rule makes a ValueError eagerly."""
    bad = np.array([0, 7, 1, 2, 3, 0], np.int32)
    assert np.isnan(jax.jit(jaxloss.cross_entropy)(LOGITS, bad))
    assert np.isfinite(jaxloss.nll_loss(PROBS, LABELS))
    assert np.isfinite(jax.grad(jaxloss.nll_loss)(PROBS, LABELS)).all()
    assert np.isfinite(jaxloss.binary_cross_entropy_with_logits(LOGITS, 2.0 * PROBS + 1.0))
    assert np.isfinite(jax.vmap(lambda g: jaxloss.focal_loss(LOGITS, LABELS, gamma=g))(
        jnp.array([2.0, -1.0]))).all()


def test_value_checks_cost_nothing_when_not_checkified():
    """Issue 20: the value checks are no part of a program nobody checkifies: no host
    callback, no cond, no effect (an effect would put every call on JAX's runtime-token path
    and make the program unserialisable by jax.export), and XLA drops the reductions."""
    bad = np.array([0, 7, 1, 2, 3, 0], np.int32)
    lowered = jax.jit(jaxloss.cross_entropy).lower(LOGITS, bad)
    text = lowered.as_text()
    assert "callback" not in text
    assert not re.search(r"stablehlo\.(case|if)\b", text)
    compiled = lowered.compile().as_text()
    assert "custom-call" not in compiled and "conditional" not in compiled
    assert jax.jit(jaxloss.cross_entropy).trace(LOGITS, bad).jaxpr.effects == set()
    exported = jax.export.export(jax.jit(jaxloss.cross_entropy))(LOGITS, bad)
    assert exported.ordered_effects == () and exported.unordered_effects == ()


def test_checkify_users_get_jaxloss_errors_without_checked():
    """Issue 20: checkify's own error mechanism reports jaxloss's errors from a jitted step
    the user checkifies (or chexifies), with no CpuCallback wrapper and no jaxloss.checked;
    the step's outputs are unchanged."""
    bad = np.array([0, 1, 2, 3, 0, 7], np.int32)
    message = _label_message("cross_entropy", 7) + " (`check` failed)"
    step = jax.jit(jax.value_and_grad(jaxloss.cross_entropy))
    err, out = checkify.checkify(step)(LOGITS, bad)
    assert err.get() == message
    with pytest.raises(checkify.JaxRuntimeError) as info:
        err.throw()
    assert str(info.value) == message  # one line: no wrapper
    chex.assert_trees_all_close(out, step(LOGITS, bad))
    err, out = checkify.checkify(step)(LOGITS, LABELS)
    assert err.get() is None
    chex.assert_trees_all_close(out, step(LOGITS, LABELS))
    chexified = chex.chexify(step, async_check=False)
    try:
        with pytest.raises(checkify.JaxRuntimeError) as info:
            chexified(LOGITS, bad)
        assert str(info.value) == message
    finally:
        # chex registers every chexified function for its exit-time "not inspected"
        # warning, synchronous ones too; this one was inspected.
        from chex._src import asserts_internal

        asserts_internal.CHEXIFY_STORAGE.wait_fns.remove(chexified.wait_checks)


def test_checkify_under_vmap_reports_the_first_failing_element():
    batch_y = np.stack([LABELS, LABELS, LABELS])
    batch_y[1, 4], batch_y[2, 0] = 5, 6
    err, _ = checkify.checkify(jax.jit(jax.vmap(jaxloss.cross_entropy, (None, 0))))(
        LOGITS, batch_y)
    assert err.get() == _label_message("cross_entropy", 5) + " (`check` failed)"


def test_checked_sees_checks_in_a_jitted_function_traced_without_it():
    """Issue 20: the checks are in every trace, so checked also catches a bad label inside
    a jitted function that was traced (and cached) before, outside checked."""
    inner = jax.jit(jaxloss.cross_entropy)
    inner(LOGITS, LABELS)  # traced and cached here, without checked
    bad = np.array([0, 1, 2, 3, 0, 7], np.int32)
    with raises(CheckError, _label_message("cross_entropy", 7)):
        jaxloss.checked(lambda x, y: inner(x, y))(LOGITS, bad)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(jaxloss.checked(lambda x, y: inner(x, y)))(LOGITS, bad))
    assert _last_line(info.value) == "CheckError: " + _label_message("cross_entropy", 7)


def test_checked_works_on_debug_check_if_jax_moves_checkifys_rule_table(monkeypatch):
    """Without jaxloss's check primitive (a JAX whose checkify internals moved), checked
    falls back to checkify.debug_check, functionalized by checked itself."""
    from jaxloss import _check_runtime

    monkeypatch.setattr(_check_runtime, "_check_p", None)
    bad = np.array([0, 1, 2, 3, 0, 7], np.int32)
    fn = jaxloss.checked(lambda x, y: jaxloss.cross_entropy(x, y))
    with raises(CheckError, _label_message("cross_entropy", 7)):
        fn(LOGITS, bad)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(fn)(LOGITS, bad))
    assert _last_line(info.value) == "CheckError: " + _label_message("cross_entropy", 7)
    np.testing.assert_allclose(fn(LOGITS, LABELS), jaxloss.cross_entropy(LOGITS, LABELS))
    # and an unchecked program then has no check at all
    err, _ = checkify.checkify(jax.jit(lambda x, y: jaxloss.cross_entropy(x, y)))(LOGITS, bad)
    assert err.get() is None


def test_checked_raises_a_users_own_checkify_check():
    """The function checked wraps may hold its own checkify checks: they raise as
    CheckError too, eagerly and inside jit."""

    def loss(x, y):
        checkify.check(jnp.all(x < 1.5), "logits must be < 1.5, got max {m}", m=jnp.max(x))
        return jaxloss.cross_entropy(x, y)

    with raises(CheckError, "logits must be < 1.5, got max 2.0"):
        jaxloss.checked(loss)(LOGITS, LABELS)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(jaxloss.checked(loss))(LOGITS, LABELS))
    assert _last_line(info.value) == "CheckError: logits must be < 1.5, got max 2.0"


TRACED_HYPERPARAMETERS = [
    (lambda v: jaxloss.focal_loss(LOGITS, LABELS, gamma=v), -1.0,
     "focal_loss: `gamma` must be >= 0, got -1.0."),
    (lambda v: jaxloss.sigmoid_focal_loss(LOGITS, PROBS, gamma=v), -0.5,
     "sigmoid_focal_loss: `gamma` must be >= 0, got -0.5."),
    (lambda v: jaxloss.cross_entropy(LOGITS, LABELS, label_smoothing=v), 1.5,
     "cross_entropy: `label_smoothing` must be in [0, 1], got 1.5."),
    (lambda v: jaxloss.cross_entropy(LOGITS, LABELS, label_smoothing=v), -0.25,
     "cross_entropy: `label_smoothing` must be in [0, 1], got -0.25."),
    (lambda v: jaxloss.cross_entropy(LOGITS, LABELS, z_loss=v), -0.5,
     "cross_entropy: `z_loss` must be >= 0, got -0.5."),
    (lambda v: jaxloss.ldam_loss(LOGITS, LABELS, class_counts=_COUNTS, scale=v), 0.0,
     "ldam_loss: `scale` must be > 0, got 0.0."),
    (lambda v: jaxloss.huber_loss(LOGITS, PROBS, delta=v), -1.0,
     "huber_loss: `delta` must be > 0, got -1.0."),
    (lambda v: jaxloss.distillation_loss(LOGITS, LOGITS[::-1], temperature=2.0, targets=LABELS,
                                         lambda_soft=v), -0.5,
     "distillation_loss: `lambda_soft` must be >= 0, got -0.5."),
    (lambda v: jaxloss.distillation_loss(LOGITS, LOGITS[::-1], temperature=2.0, targets=LABELS,
                                         lambda_hard=v), -1.0,
     "distillation_loss: `lambda_hard` must be >= 0, got -1.0."),
]


@pytest.mark.parametrize(("loss", "value", "message"), TRACED_HYPERPARAMETERS,
                         ids=[e[2][:40] for e in TRACED_HYPERPARAMETERS])
def test_traced_hyperparameters_are_value_checks(loss, value, message):
    """Issue 20: a traced hyperparameter out of its range fails with the message of the
    concrete check (a ValueError while tracing), under checked and under checkify; as a
    Python number it is still that ValueError."""
    with raises(ValueError, message):
        loss(value)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:  # an argument of jit
        jax.block_until_ready(jax.jit(jaxloss.checked(loss))(value))
    assert _last_line(info.value) == "CheckError: " + message
    values = jnp.array([0.5, value, value], jnp.float32)  # vmap over it: the first one
    with raises(CheckError, message):
        jaxloss.checked(jax.vmap(loss))(values)
    with raises(CheckError, message):
        jax.vmap(jaxloss.checked(loss))(values)
    err, _ = checkify.checkify(jax.jit(jax.vmap(loss)))(values)
    assert err.get() == message + " (`check` failed)"
    err, _ = checkify.checkify(jax.jit(jax.vmap(loss)))(jnp.full(3, 0.5, jnp.float32))
    assert err.get() is None


# class_counts: eagerly and under checked it raises; under plain jit an out-of-range label is
# not counted (documented), and checked turns that into the error.


@pytest.mark.parametrize("label", [7, -1])
def test_checked_class_counts_eagerly(label):
    t = np.array([0, 1, label, 2], np.int32)
    with raises(CheckError, _label_message("class_counts", label, num_classes=3)):
        jaxloss.checked(jaxloss.class_counts)(t, num_classes=3)
    with raises(CheckError, _label_message("class_counts", label, num_classes=3)):
        jaxloss.checked(jaxloss.class_counts)(jnp.asarray(t), 3)


def test_class_counts_under_plain_jit_drops_out_of_range_labels():
    counts = jax.jit(jaxloss.class_counts, static_argnums=1)(np.array([0, 9, 2, -1], np.int32), 4)
    np.testing.assert_array_equal(counts, [1, 0, 1, 0])


def test_checked_class_counts_under_jit(no_callback_logs):
    fn = jax.jit(jaxloss.checked(lambda t: jaxloss.class_counts(t, 4)))
    np.testing.assert_array_equal(fn(np.array([0, 3, 3, -100], np.int32)), [1, 0, 0, 2])
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(fn(np.array([0, 9], np.int32)))
    assert _last_line(info.value) == "CheckError: " + _label_message("class_counts", 9)
    f2 = jax.jit(jaxloss.checked(jaxloss.class_counts), static_argnums=1)
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(f2(np.array([0, -1], np.int32), 4))
    assert _last_line(info.value) == "CheckError: " + _label_message("class_counts", -1)


# Values of the wrong kind, caught by checked in every loss.

_negative_probs = PROBS.copy()
_negative_probs[2, 1] = -0.5
_binary_two = PROBS.copy()
_binary_two[3, 1] = 2.0
_seg_mask = (np.arange(72).reshape(2, 3, 3, 4) % 2).astype(np.float32)
_seg_mask_bad = _seg_mask.copy()
_seg_mask_bad[1, 2, 0, 3] = 1.5
_seg_probs = np.array(jax.nn.softmax(X_SEG))
_seg_probs_bad = _seg_probs.copy()
_seg_probs_bad[0, 1, 2, 0] = 2.0
_seg_labels_bad = Y_SEG.copy()
_seg_labels_bad[1, 0, 1] = 4
_H = np.linspace(-1.0, 1.0, 18, dtype=np.float32).reshape(6, 3)
_W = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)  # (V, D)
_unit = " For class indices use jaxloss.cross_entropy."
_probs_bad = PROBS.copy()
_probs_bad[4, 2] = 1.5
_var_bad = np.ones((6, 4), np.float32)
_var_bad[1, 2] = -0.5
_var_bad[3, 0] = -0.25
_none_hint = ' For logits pass activation="softmax" or activation="sigmoid".'

VALUE_CHECKS = [
    (jaxloss.nll_loss, (PROBS, LABELS), {},
     "nll_loss: `log_probs` must be log-probabilities (<= 0), got 0.25 at index (0, 0). Pass "
     "logits to jaxloss.cross_entropy, or log-probabilities from jax.nn.log_softmax."),
    (jaxloss.cross_entropy, (LOGITS, _negative_probs), {},
     "cross_entropy: `targets` must be probabilities (>= 0), got -0.5 at index (2, 1)."),
    (jaxloss.focal_loss, (LOGITS, _negative_probs), {},
     "focal_loss: `targets` must be probabilities (>= 0), got -0.5 at index (2, 1)."),
    (jaxloss.binary_cross_entropy_with_logits, (LOGITS, _binary_two), {},
     "binary_cross_entropy_with_logits: `targets` must be in [0, 1], got 2.0 at index (3, 1)."
     + _unit),
    (jaxloss.sigmoid_focal_loss, (LOGITS, -_binary_two), {},
     "sigmoid_focal_loss: `targets` must be in [0, 1], got -0.25 at index (0, 0)." + _unit),
    (jaxloss.asymmetric_loss, (LOGITS, _binary_two), {},
     "asymmetric_loss: `targets` must be in [0, 1], got 2.0 at index (3, 1)." + _unit),
    (jaxloss.binary_cross_entropy_with_logits,
     (LOGITS, np.tile(np.arange(4, dtype=np.int32), (6, 1))), {},
     "binary_cross_entropy_with_logits: `targets` must be in [0, 1], got 2.0 at index (0, 2)."
     + _unit),
    (jaxloss.dice_loss, (X_SEG, _seg_mask_bad), {"activation": "sigmoid"},
     "dice_loss: `targets` must be in [0, 1] (masks or probabilities), got 1.5 at index "
     "(1, 2, 0, 3)."),
    (jaxloss.tversky_loss, (X_SEG, _seg_mask_bad), {},
     "tversky_loss: `targets` must be in [0, 1] (masks or probabilities), got 1.5 at index "
     "(1, 2, 0, 3)."),
    (jaxloss.dice_cross_entropy_loss, (X_SEG, _seg_mask_bad), {},
     "dice_cross_entropy_loss: `targets` must be in [0, 1] (masks or probabilities), got 1.5 "
     "at index (1, 2, 0, 3)."),
    (jaxloss.dice_loss, (_seg_probs_bad, Y_SEG), {"activation": "none"},
     'dice_loss: `logits` must be probabilities in [0, 1] with activation="none", got 2.0 at '
     "index (0, 1, 2, 0)." + _none_hint),
    (jaxloss.dice_loss, (X_SEG, Y_SEG), {"activation": "none"},
     'dice_loss: `logits` must be probabilities in [0, 1] with activation="none", got -2.0 at '
     "index (0, 0, 0, 0)." + _none_hint),
    (jaxloss.dice_loss, (X_SEG, _seg_labels_bad), {}, _label_message("dice_loss", 4)),
    (jaxloss.dice_cross_entropy_loss, (X_SEG, _seg_labels_bad), {},
     _label_message("dice_cross_entropy_loss", 4)),
    (jaxloss.linear_cross_entropy, (_H, _W, np.array([0, 1, 2, 3, 4, 0], np.int32)), {},
     _label_message("linear_cross_entropy", 4)),
    (jaxloss.binary_cross_entropy, (_probs_bad, PROBS), {},
     "binary_cross_entropy: `input` must be a probability in [0, 1], got 1.5 at index (4, 2). "
     "For logits use jaxloss.binary_cross_entropy_with_logits."),
    (jaxloss.binary_cross_entropy, (LOGITS, PROBS), {},
     "binary_cross_entropy: `input` must be a probability in [0, 1], got -2.0 at index (0, 0). "
     "For logits use jaxloss.binary_cross_entropy_with_logits."),
    (jaxloss.binary_cross_entropy, (PROBS, _binary_two), {},
     "binary_cross_entropy: `target` must be in [0, 1], got 2.0 at index (3, 1)." + _unit),
    (jaxloss.gaussian_nll_loss, (LOGITS, PROBS, _var_bad), {},
     "gaussian_nll_loss: `var` must be a variance (>= 0), got -0.5 at index (1, 2). A negative "
     "variance has no likelihood; PyTorch raises here too."),
    (jaxloss.gaussian_nll_loss, (LOGITS, PROBS, _var_bad[:, :1]), {},
     "gaussian_nll_loss: `var` must be a variance (>= 0), got -0.25 at index (3, 0). A "
     "negative variance has no likelihood; PyTorch raises here too."),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "message"), VALUE_CHECKS, ids=[e[3][:45] for e in VALUE_CHECKS]
)
def test_checked_value_checks(fn, args, kwargs, message, no_callback_logs):
    checked = jaxloss.checked(fn)
    with pytest.raises(CheckError) as info:
        checked(*args, **kwargs)
    assert str(info.value) == message
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(lambda *a: checked(*a, **kwargs))(*args))
    assert _last_line(info.value) == "CheckError: " + message
    # Without checked the same inputs give a number under jit (or NaN for a bad label; a
    # concrete bad label is a ValueError eagerly).
    jax.jit(lambda *a: fn(*a, **kwargs))(*args)


_ignored = LABELS.copy()
_ignored[0] = -100
_log_probs_row0 = np.array(jax.nn.log_softmax(LOGITS))
_log_probs_row0[0] = PROBS[0]  # probabilities in row 0 only
_mask_row0 = np.arange(6) != 0
_seg_keep = np.ones((2, 3, 3), bool)
_seg_keep[1, 2, 0] = False
_seg_keep_none = np.ones((2, 3, 3), bool)
_seg_keep_none[0, 1, 2] = False
NOT_CHECKED = [
    # The offending element is ignored or masked.
    (jaxloss.nll_loss, (_log_probs_row0, _ignored), {}),
    (jaxloss.nll_loss, (_log_probs_row0, LABELS), {"where": _mask_row0}),
    (jaxloss.nll_loss, (PROBS, LABELS), {"where": np.zeros(6, bool)}),
    (jaxloss.cross_entropy, (LOGITS, _negative_probs), {"where": np.arange(6) != 2}),
    (jaxloss.binary_cross_entropy_with_logits, (LOGITS, _binary_two), {"where": _binary_two <= 1}),
    (jaxloss.dice_loss, (X_SEG, _seg_mask_bad), {"activation": "sigmoid", "where": _seg_keep}),
    (jaxloss.dice_loss, (_seg_probs_bad, Y_SEG), {"activation": "none", "where": _seg_keep_none}),
    # Values of the right kind, at their edges: no false alarms.
    (jaxloss.nll_loss, (np.asarray(jax.nn.log_softmax(100.0 * LOGITS)), LABELS), {}),
    (jaxloss.nll_loss, (np.log(np.asarray(jax.nn.softmax(LOGITS))), LABELS), {}),
    (jaxloss.cross_entropy, (LOGITS, np.eye(4, dtype=np.float32)[LABELS]), {}),
    (jaxloss.binary_cross_entropy_with_logits, (LOGITS, PROBS), {}),
    (jaxloss.sigmoid_focal_loss, (LOGITS, (PROBS > 0.2).astype(bool)), {}),
    (jaxloss.asymmetric_loss, (LOGITS, _binary_two), {"where": _binary_two <= 1}),
    (jaxloss.dice_loss, (X_SEG, _seg_mask), {"activation": "sigmoid"}),
    (jaxloss.dice_loss, (_seg_probs, _seg_mask), {"activation": "none"}),
    (jaxloss.linear_cross_entropy, (_H, _W, np.array([0, 1, 2, 3, -100, 0], np.int32)), {}),
    (jaxloss.binary_cross_entropy, (_probs_bad, PROBS), {"where": _probs_bad <= 1}),
    (jaxloss.binary_cross_entropy, (np.round(PROBS * 4 - 0.5).clip(0, 1), PROBS), {}),
    (jaxloss.gaussian_nll_loss, (LOGITS, PROBS, np.zeros((6, 4), np.float32)), {}),
]


@pytest.mark.parametrize(("fn", "args", "kwargs"), NOT_CHECKED)
def test_checked_lets_good_and_masked_values_through(fn, args, kwargs):
    checked = jaxloss.checked(fn)
    want = fn(*args, **kwargs)
    np.testing.assert_allclose(checked(*args, **kwargs), want, rtol=1e-6)
    np.testing.assert_allclose(
        jax.jit(lambda *a: checked(*a, **kwargs))(*args), want, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "message"), VALUE_CHECKS, ids=[e[3][:45] for e in VALUE_CHECKS]
)
def test_checkify_reports_every_value_check(fn, args, kwargs, message):
    err, _ = checkify.checkify(jax.jit(lambda *a: fn(*a, **kwargs)))(*args)
    assert err.get() == message + " (`check` failed)"


@pytest.mark.parametrize(("fn", "args", "kwargs"), NOT_CHECKED)
def test_checkify_lets_good_and_masked_values_through(fn, args, kwargs):
    err, out = checkify.checkify(jax.jit(lambda *a: fn(*a, **kwargs)))(*args)
    assert err.get() is None
    chex.assert_trees_all_close(out, fn(*args, **kwargs), rtol=1e-6)


def test_a_nan_is_not_a_range_error():
    targets = PROBS.copy()
    targets[1, 1] = np.nan
    assert np.isnan(jaxloss.checked(jaxloss.binary_cross_entropy_with_logits)(LOGITS, targets))


def test_a_failed_check_under_jit_is_one_exception_and_silent():
    """As a user sees it, in a fresh process: one JaxRuntimeError whose message ends with the
    error, nothing on stderr (also at exit)."""
    script = """
import jax, jax.numpy as jnp, jaxloss
y = jnp.array([0, 7])
calls = {
    "jit": jax.jit(lambda x, y: jaxloss.checked(jaxloss.cross_entropy)(x, y)),
    "step": jax.jit(jax.value_and_grad(lambda x, y: jaxloss.checked(jaxloss.cross_entropy)(x, y))),
}
for name, f in calls.items():
    try:
        jax.block_until_ready(f(jnp.zeros((2, 3)), y))
    except Exception as e:
        lines = str(e).splitlines()
        print(name, type(e).__module__ + "." + type(e).__qualname__)
        print(lines[0])
        print(lines[-1])
"""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    message = _label_message("cross_entropy", 7, num_classes=3)
    for name in ("jit", "step"):
        assert out.stdout.splitlines()[out.stdout.splitlines().index(
            f"{name} jax.errors.JaxRuntimeError") + 1:][:2] == [
            "INTERNAL: CpuCallback error calling callback: Traceback (most recent call last):",
            "CheckError: " + message,
        ]


# ---------------------------------------------------------------------------------------------
# The documented error texts (docs/api/index.md, "Errors") are what users see, character for
# character
# ---------------------------------------------------------------------------------------------

ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api" / "index.md"
L10 = np.linspace(-2.0, 2.0, 80, dtype=np.float32).reshape(8, 10)
Y10 = np.arange(8, dtype=np.int32)

README_ERRORS = {
    # Trace-time errors.
    "ValueError: cross_entropy: `class_weights` must have shape (10,)":
        lambda: jaxloss.cross_entropy(L10, Y10, class_weights=np.ones(9, np.float32)),
    "TypeError: cross_entropy: `logits` must be a floating-point array, got dtype int32.":
        lambda: jaxloss.cross_entropy(L10.astype(np.int32), Y10),
    "TypeError: cross_entropy: `logits` must be a floating-point array, got dtype int64.":
        lambda: jaxloss.cross_entropy(Y10.astype(np.int64), L10),
    "ValueError: cross_entropy: integer `targets` must have the logits' shape":
        lambda: jaxloss.cross_entropy(L10, Y10[:, None]),
    "ValueError: focal_loss: `gamma` must be >= 0":
        lambda: jaxloss.focal_loss(L10, Y10, gamma=-1.0),
    "ValueError: dice_loss: `logits` has a single class":
        lambda: jaxloss.dice_loss(np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 8, 8), int)),
    # PyTorch's keywords, and the label rule on concrete labels.
    "TypeError: cross_entropy() got an unexpected keyword argument `weight`":
        lambda: jaxloss.cross_entropy(L10, Y10, weight=np.ones(10, np.float32)),
    "TypeError: mse_loss() got an unexpected keyword argument `size_average`":
        lambda: jaxloss.mse_loss(L10, L10, size_average=True),
    "ValueError: cross_entropy: target label 255 is out of range":
        lambda: jaxloss.cross_entropy(np.zeros((2, 21), np.float32), np.array([0, 255])),
    # checked, eagerly.
    "jaxloss._check_runtime.CheckError: cross_entropy: target label 7":
        lambda: jaxloss.checked(jaxloss.cross_entropy)(jnp.zeros((2, 3)), jnp.array([0, 7])),
    "jaxloss._check_runtime.CheckError: nll_loss:":
        lambda: jaxloss.checked(jaxloss.nll_loss)(jnp.array([[0.7, 0.3]]), jnp.array([0])),
    # Without checked: the user's own checkify of a jitted step.
    "jax._src.checkify.JaxRuntimeError: cross_entropy: target label 7":
        lambda: checkify.checkify(jax.jit(jaxloss.cross_entropy))(
            jnp.zeros((2, 3)), jnp.array([0, 7]))[0].throw(),
    # checked inside jit.
    "jax.errors.JaxRuntimeError: INTERNAL:":
        lambda: jax.block_until_ready(
            jax.jit(lambda x, y: jaxloss.checked(jaxloss.cross_entropy)(x, y))(
                jnp.zeros((2, 3)), jnp.array([0, 7])
            )
        ),
}


def _readme_error_blocks():
    text = ERRORS_PAGE.read_text()
    start = text.index("\n## Errors\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    # Fenced blocks in order; the error texts are the ones without a language (```python
    # blocks are code).
    blocks = re.findall(r"^```([\w ]*)\n(.*?)^```$", section, flags=re.S | re.M)
    return [body for lang, body in blocks if not lang]


def _shown(exc):
    """The last line of the traceback Python prints for ``exc`` (notes excluded)."""
    return traceback.format_exception_only(type(exc), exc)[0].rstrip("\n")


def _readme_entries():
    """(documented text, the README_ERRORS key it starts with); a multi-line block is one entry."""
    entries = []
    for block in _readme_error_blocks():
        lines = block.rstrip("\n").splitlines()
        if lines[0].startswith("jax.errors.JaxRuntimeError"):
            entries.append("\n".join(lines))
        else:
            entries.extend(lines)
    return [(e, next(k for k in README_ERRORS if e.startswith(k))) for e in entries]


def test_every_readme_error_has_a_call_here():
    entries = _readme_entries()
    assert len(entries) == len(README_ERRORS)
    assert {key for _, key in entries} == set(README_ERRORS)


@pytest.mark.parametrize(("text", "key"), _readme_entries(), ids=lambda v: v[:40])
def test_readme_errors_are_what_users_see(text, key):
    with pytest.raises(Exception) as info:
        README_ERRORS[key]()
    shown = _shown(info.value)
    if "\n" not in text:
        assert shown == text
        return
    # Under jit: JAX's wrapper, the Python stack at the call (elided on the page as "  ..."),
    # then our message.
    first, middle, last = text.splitlines()[0], text.splitlines()[1:-1], text.splitlines()[-1]
    assert middle == ["  ..."]
    assert shown.splitlines()[-1] == last
    if jax.default_backend() == "cpu":
        assert shown.splitlines()[0] == first


# ---------------------------------------------------------------------------------------------
# imbalance-aware softmax losses (issue 12, item 1)
# ---------------------------------------------------------------------------------------------

_PRIORS = np.array([0.4, 0.3, 0.2, 0.1], np.float32)
_COUNTS = np.array([40, 30, 20, 10], np.int32)
IMBALANCE = {
    "logit_adjusted_cross_entropy": {"class_counts": _PRIORS},
    "ldam_loss": {"class_counts": _COUNTS},
    "poly1_cross_entropy": {},
}


@pytest.mark.parametrize(
    ("loss", "name", "value", "message"),
    [
        ("logit_adjusted_cross_entropy", "class_counts", np.ones(3, np.float32),
         "`class_counts` must have shape (4,), one value per class, got shape (3,)."),
        ("logit_adjusted_cross_entropy", "class_counts", np.array([0.5, 0.6, -0.1, 0.0]),
         "`class_counts` must be >= 0 for every class, got -0.1 for class 2."),
        ("ldam_loss", "class_counts", np.array([5, 0, 3, 2]),
         "`class_counts` must be > 0 for every class, got 0 for class 1."),
        ("ldam_loss", "class_counts", np.array([5, -1, 3, 2]),
         "`class_counts` must be > 0 for every class, got -1 for class 1."),
        ("ldam_loss", "class_counts", np.ones((4, 1)),
         "`class_counts` must have shape (4,), one value per class, got shape (4, 1)."),
    ],
)
def test_bad_priors_and_counts(loss, name, value, message):
    kw = {**IMBALANCE[loss], name: value}
    with raises(ValueError, f"{loss}: {message}"):
        getattr(jaxloss, loss)(LOGITS, LABELS, **kw)


def test_non_numeric_priors():
    with raises(TypeError, "logit_adjusted_cross_entropy: `class_counts` must be a numeric "
                           "(C,) array, got dtype bool."):
        jaxloss.logit_adjusted_cross_entropy(LOGITS, LABELS, class_counts=np.ones(4, bool))


@pytest.mark.parametrize(
    ("loss", "kwargs", "message"),
    [
        ("logit_adjusted_cross_entropy", {"tau": -1.0}, "`tau` must be >= 0, got -1.0."),
        ("logit_adjusted_cross_entropy", {"tau": np.ones(2)}, "`tau` must be a scalar"),
        ("logit_adjusted_cross_entropy", {"label_smoothing": 1.5},
         "`label_smoothing` must be in [0, 1], got 1.5."),
        ("ldam_loss", {"max_margin": -0.5}, "`max_margin` must be >= 0, got -0.5."),
        ("ldam_loss", {"scale": 0.0}, "`scale` must be > 0, got 0.0."),
        ("ldam_loss", {"scale": -30.0}, "`scale` must be > 0, got -30.0."),
        ("poly1_cross_entropy", {"epsilon": -1.5}, "`epsilon` must be >= -1, got -1.5."),
        ("poly1_cross_entropy", {"epsilon": np.ones(2)}, "`epsilon` must be a scalar"),
    ],
)
def test_bad_imbalance_hyperparameters(loss, kwargs, message):
    with raises(ValueError, f"{loss}: {message}"):
        getattr(jaxloss, loss)(LOGITS, LABELS, **IMBALANCE[loss], **kwargs)


def test_ldam_needs_integer_targets():
    with raises(TypeError, "ldam_loss: `targets` must be integer class indices, got dtype "
                           "float32: the LDAM margin is defined for a hard label"):
        jaxloss.ldam_loss(LOGITS, PROBS, class_counts=_COUNTS)


def test_checked_traced_priors_and_counts(no_callback_logs):
    """Traced priors/counts cannot be checked while tracing: checked catches them."""
    la = jaxloss.checked(
        lambda p: jaxloss.logit_adjusted_cross_entropy(LOGITS, LABELS, class_counts=p)
    )
    bad = np.array([0.5, -0.25, 0.5, 0.25], np.float32)
    message = ("logit_adjusted_cross_entropy: `class_counts` must be >= 0 for every class, "
               "got -0.25 at index (1,).")
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(la)(bad))
    assert _last_line(info.value) == "CheckError: " + message
    assert np.isnan(jax.jit(lambda p: jaxloss.logit_adjusted_cross_entropy(
        LOGITS, LABELS, class_counts=p))(bad))
    ldam = jaxloss.checked(lambda n: jaxloss.ldam_loss(LOGITS, LABELS, class_counts=n))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(ldam)(np.array([3, 0, 2, 1], np.int32)))
    assert _last_line(info.value) == (
        "CheckError: ldam_loss: `class_counts` must be > 0 for every class, got 0 at index (1,)."
    )


# ---------------------------------------------------------------------------------------------
# divergences and distillation (issue 12, item 3)
# ---------------------------------------------------------------------------------------------

_LOG_Q = np.array(jax.nn.log_softmax(LOGITS))


def test_kl_div_errors():
    with raises(ValueError, "kl_div: `reduction` must be one of ('mean', 'batchmean', 'sum', "
                            "'none'), got 'average'."):
        jaxloss.kl_div(_LOG_Q, PROBS, reduction="average")
    with raises(TypeError, "kl_div: `log_target` must be a Python or "):
        jaxloss.kl_div(_LOG_Q, PROBS, log_target=1)
    with raises(TypeError, "kl_div: `input` must be a floating-point array, got dtype int32."):
        jaxloss.kl_div(np.zeros((6, 4), np.int32), PROBS)
    with raises(TypeError, "kl_div: `target` must be a floating-point array, got dtype int32."):
        jaxloss.kl_div(_LOG_Q, np.zeros((6, 4), np.int32))
    with raises(ValueError, "kl_div: `target` of shape (6, 5) must broadcast to (6, 4)"):
        jaxloss.kl_div(_LOG_Q, np.full((6, 5), 0.2, np.float32))
    with raises(ValueError, "kl_div: `target` of shape (2, 6, 4) must broadcast to (6, 4)"):
        jaxloss.kl_div(_LOG_Q, np.full((2, 6, 4), 0.25, np.float32))
    with raises(ValueError, "kl_div: `where` of shape (4, 6) must broadcast to (6, 4)"):
        jaxloss.kl_div(_LOG_Q, PROBS, where=np.ones((4, 6), bool))


@pytest.mark.parametrize(
    ("input_shape", "target_shape", "example"),
    [((6, 4), (6, 1), ", or (1, 4) for one distribution shared by every row"),
     ((6, 4), (1,), ", or (1, 4) for one distribution shared by every row"),
     ((6, 4), (1, 1), ", or (1, 4) for one distribution shared by every row"),
     ((2, 3, 4), (2, 3, 1), ", or (1, 1, 4) for one distribution shared by every row"),
     ((4,), (1,), "")],
)
def test_kl_div_target_with_a_size_one_class_axis(input_shape, target_shape, example):
    """PyTorch spreads a size-1 class axis over every class (a column of labels or of per-row
    values becomes one target value for all C classes); jaxloss names both shapes."""
    x = np.full(input_shape, -np.log(4.0), np.float32)
    t = np.full(target_shape, 0.5, np.float32)
    with raises(ValueError, f"kl_div: `target` of shape {target_shape} has a class axis (the "
                            f"last) of size 1, but `input` of shape {input_shape} has 4 classes "
                            "there: it would broadcast one value over every class. Expected a "
                            "target with 4 entries along the last axis, broadcastable to "
                            f"{input_shape} (e.g. {input_shape}{example}). Class indices go "
                            "through `jax.nn.one_hot(target.squeeze(-1), 4)`."):
        jaxloss.kl_div(x, t)


def test_jensen_shannon_divergence_errors():
    fn = jaxloss.jensen_shannon_divergence
    with raises(ValueError, "jensen_shannon_divergence: `beta` must be in [0, 1], got 1.5."):
        fn(_LOG_Q, _LOG_Q, beta=1.5)
    with raises(ValueError, "jensen_shannon_divergence: `beta` must be in [0, 1], got -0.1."):
        fn(_LOG_Q, _LOG_Q, beta=-0.1)
    with raises(ValueError, "jensen_shannon_divergence: `beta` must be a scalar"):
        fn(_LOG_Q, _LOG_Q, beta=np.ones(2))
    with raises(ValueError, "jensen_shannon_divergence: `target` must have the same shape as "
                            "`input`: expected (6, 4), got (4, 6)."):
        fn(_LOG_Q, _LOG_Q.T)
    with raises(TypeError, "jensen_shannon_divergence: `input` must be a floating-point array, "
                           "got dtype int32."):
        fn(np.zeros((6, 4), np.int32), _LOG_Q)
    with raises(TypeError, "jensen_shannon_divergence: `target` must be a floating-point array, "
                           "got dtype int32."):
        fn(_LOG_Q, np.zeros((6, 4), np.int32))
    with raises(ValueError, "jensen_shannon_divergence: `reduction` must be one of ('mean', "
                            "'sum', 'none'), got 'batchmean'."):
        fn(_LOG_Q, _LOG_Q, reduction="batchmean")
    with raises(ValueError, "jensen_shannon_divergence: `where` of shape (4,) must broadcast "
                            "to (6,)"):
        fn(_LOG_Q, _LOG_Q, where=np.ones(4, bool))


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"temperature": 0.0}, ValueError, "`temperature` must be > 0, got 0.0."),
        ({"temperature": -2.0}, ValueError, "`temperature` must be > 0, got -2.0."),
        ({"temperature": np.ones(2)}, ValueError, "`temperature` must be a scalar"),
        ({"temperature": 2.0, "targets": LABELS, "lambda_hard": -1.5}, ValueError,
         "`lambda_hard` must be >= 0, got -1.5."),
        ({"temperature": 2.0, "lambda_soft": -0.5}, ValueError,
         "`lambda_soft` must be >= 0, got -0.5."),
        ({"temperature": 2.0, "lambda_soft": np.ones(2)}, ValueError,
         "`lambda_soft` must be a scalar"),
        ({"temperature": 2.0, "lambda_hard": 0.5}, ValueError,
         "`lambda_hard`=0.5 needs `targets` (the hard labels of the cross-entropy term); pass "
         "targets=, or leave lambda_hard at 0."),
        ({"temperature": 2.0, "targets": PROBS[:, 0], "lambda_hard": 0.5}, TypeError,
         "`targets` must be integer class indices, got dtype float32."),
        ({"temperature": 2.0, "targets": LABELS[:4], "lambda_hard": 0.5}, ValueError,
         "integer `targets` must have the logits' shape without the class axis"),
        ({"temperature": 2.0, "reduction": "batchmean"}, ValueError,
         "`reduction` must be one of ('mean', 'sum', 'none'), got 'batchmean'."),
        ({"temperature": 2.0, "ignore_index": 1.0}, TypeError,
         "`ignore_index` must be a Python int"),
    ],
)
def test_distillation_loss_errors(kwargs, exc, message):
    with raises(exc, f"distillation_loss: {message}"):
        jaxloss.distillation_loss(LOGITS, LOGITS[::-1], **kwargs)


def test_distillation_shapes_and_traced_lambda_hard_without_targets():
    with raises(ValueError, "distillation_loss: `teacher_logits` must have the same shape as "
                            "`student_logits`: expected (6, 4), got (6, 3)."):
        jaxloss.distillation_loss(LOGITS, LOGITS[:, :3], temperature=1.0)
    with raises(ValueError, "distillation_loss: `lambda_hard`="):
        jax.jit(lambda w: jaxloss.distillation_loss(LOGITS, LOGITS, temperature=1.0,
                                                    lambda_hard=w))(0.0)
    # lambda_soft alone is traceable without targets (a teacher with the classes reversed:
    # every row of LOGITS is a shifted copy of the others, so reversing rows gives KL 0)
    teacher = LOGITS[:, ::-1]
    soft = jax.jit(lambda w: jaxloss.distillation_loss(LOGITS, teacher, temperature=1.0,
                                                       lambda_soft=w))(0.5)
    full = jaxloss.distillation_loss(LOGITS, teacher, temperature=1.0)
    assert full > 0.05
    np.testing.assert_allclose(soft, 0.5 * full, rtol=1e-6)


def test_checked_kl_div_negative_target(no_callback_logs):
    bad = PROBS.copy()
    bad[2, 3] = -0.25
    message = ("kl_div: `target` must be probabilities (>= 0), got -0.25 at index (2, 3). "
               "Pass log_target=True for log-probability targets.")
    checked = jaxloss.checked(jaxloss.kl_div)
    with pytest.raises(CheckError) as info:
        checked(_LOG_Q, bad)
    assert str(info.value) == message
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(checked)(_LOG_Q, bad))
    assert _last_line(info.value) == "CheckError: " + message
    assert np.isnan(jaxloss.kl_div(_LOG_Q, bad))  # unchecked: NaN, as PyTorch
    masked = np.ones((6, 4), bool)
    masked[2, 3] = False
    assert np.isfinite(checked(_LOG_Q, bad, where=masked))


# ---------------------------------------------------------------------------------------------
# margin, ranking and embedding losses (issue 11): shapes PyTorch broadcasts, p, labels
# ---------------------------------------------------------------------------------------------

X34 = np.zeros((3, 4), np.float32)
SIGNS = np.ones((3, 4), np.float32)
Y3 = np.array([0, 1, 3], np.int32)
ML = np.array([[0, -1, 0, 0], [1, 2, -1, 3], [3, 3, 3, 3]], np.int32)


@pytest.mark.parametrize(
    "loss, args, message",
    [
        ("margin_ranking_loss", (X34, X34[:, :3], SIGNS),
         "`input2` must have the same shape as `input1`: expected (3, 4), got (3, 3)."),
        ("margin_ranking_loss", (X34, X34, SIGNS[0]),
         "`target` must have the same shape as `input1`: expected (3, 4), got (4,)."),
        ("hinge_embedding_loss", (X34, SIGNS[:, :1]),
         "`target` must have the same shape as `input`: expected (3, 4), got (3, 1)."),
        ("soft_margin_loss", (X34, SIGNS.T),
         "`target` must have the same shape as `input`: expected (3, 4), got (4, 3)."),
        ("multilabel_soft_margin_loss", (X34, SIGNS[:2]),
         "`target` must have the same shape as `input`: expected (3, 4), got (2, 4)."),
        ("multilabel_soft_margin_loss", (np.zeros((), np.float32), np.zeros((), np.float32)),
         "`input` must have a class axis, got a scalar. Expected shape (..., C)."),
        ("multi_margin_loss", (X34, np.zeros(4, np.int32)),
         "`target` must have the shape of `input` without its class axis (axis 1): expected "
         "(3,), got (4,) for input of shape (3, 4)."),
        ("multi_margin_loss", (X34[0], np.zeros(2, np.int32)),
         "`target` must be one class index, of shape () or (1,), for `input` of shape (4,) (one "
         "sample), got shape (2,)."),
        ("multi_margin_loss", (np.float32(0.5), np.zeros((1, 1), np.int32)),
         "`target` must be one class index, of shape () or (1,), for `input` of shape () (one "
         "sample), got shape (1, 1)."),
        ("multilabel_margin_loss", (X34[0], ML[0, :3]),
         "`target` must list the classes of the one sample, shape (4,), for `input` of shape "
         "(4,), got shape (3,)."),
        ("multilabel_margin_loss", (np.float32(0.5), np.zeros(2, np.int32)),
         "`target` must list the classes of the one sample, shape (1,), for `input` of shape "
         "(), got shape (2,)."),
        ("multilabel_margin_loss", (X34, ML[:, :3]),
         "`target` must have the same shape as `input`: expected (3, 4), got (3, 3)."),
        ("cosine_embedding_loss", (X34, X34, np.ones(4, np.int32)),
         "`target` must have the shape of `input1` without its feature axis: expected (3,), "
         "got (4,) for inputs of shape (3, 4)."),
        ("cosine_embedding_loss", (X34, X34[:2], np.ones(3, np.int32)),
         "`input2` must have the same shape as `input1`: expected (3, 4), got (2, 4)."),
        ("triplet_margin_loss", (X34, X34, X34[:2]),
         "`negative` must have the same shape as `anchor`: expected (3, 4), got (2, 4)."),
        ("triplet_margin_loss", (np.zeros((3, 0), np.float32),) * 3,
         "`anchor` must have a non-empty feature axis last, shape (..., C), got shape (3, 0)."),
        ("triplet_margin_with_distance_loss", (X34, X34[None], X34),
         "`positive` must have the same shape as `anchor`: expected (3, 4), got (1, 3, 4)."),
    ],
)
def test_margin_losses_shape_mismatches(loss, args, message):
    """PyTorch broadcasts these (some with a warning); jaxloss names the argument."""
    with raises(ValueError, f"{loss}: {message}"):
        getattr(jaxloss, loss)(*args)


def test_margin_losses_bad_hyperparameters():
    with raises(ValueError, "multi_margin_loss: `p` must be 1 or 2 (PyTorch supports only "
                            "these), got 3."):
        jaxloss.multi_margin_loss(X34, Y3, p=3)
    with raises(ValueError, "margin_ranking_loss: `margin` must be a scalar, got shape (2,)."):
        jaxloss.margin_ranking_loss(X34, X34, SIGNS, margin=np.array([0.1, 0.2]))
    for loss in ("triplet_margin_loss", "triplet_margin_with_distance_loss"):
        with raises(ValueError, f"{loss}: `margin` must be > 0, got 0.0 (PyTorch raises too)."):
            getattr(jaxloss, loss)(X34, X34, X34, margin=0.0)
        with raises(TypeError, f"{loss}: `swap` must be a Python or NumPy bool"):
            getattr(jaxloss, loss)(X34, X34, X34, swap=1)
    with raises(ValueError, "triplet_margin_loss: `p` must be > 0 (or inf), got 0.0."):
        jaxloss.triplet_margin_loss(X34, X34, X34, p=0)
    with raises(TypeError, "triplet_margin_loss: `p` must be a Python number (the norm's order "
                           "is structure, not data)"):
        jaxloss.triplet_margin_loss(X34, X34, X34, p=jnp.array(2.0))
    with raises(ValueError, "multi_margin_loss: `class_weights` must have shape (4,), one "
                            "weight per class, got shape (3,)."):
        jaxloss.multi_margin_loss(X34, Y3, class_weights=np.ones(3, np.float32))
    for shape in ((5,), (3,), (2, 3, 4)):
        with raises(ValueError, f"multilabel_soft_margin_loss: `class_weights` of shape {shape} "
                                "must be one weight per class, shape (4,) (along the class axis "
                                "1), or broadcast to `input`'s shape (3, 4) (NumPy broadcasting "
                                "from the trailing axis, PyTorch's `weight` rule), e.g. (3, 4) "
                                "per element or (3, 1) per sample."):
            jaxloss.multilabel_soft_margin_loss(X34, SIGNS, class_weights=np.ones(shape))
    with raises(ValueError, "multilabel_soft_margin_loss: `class_weights` of shape (5,) must be "
                            "one weight per class, shape (4,) (along the class axis 0), or "
                            "broadcast to `input`'s shape (4, 3)"):
        jaxloss.multilabel_soft_margin_loss(X34.T, SIGNS.T, class_weights=np.ones(5), axis=0)
    with raises(TypeError, "multilabel_soft_margin_loss: `class_weights` must be real-valued "
                           "per-element weights (a float array), got dtype bool."):
        jaxloss.multilabel_soft_margin_loss(X34, SIGNS, class_weights=np.ones(4, bool))


CLASS_AXIS_CALLS = {
    "multilabel_soft_margin_loss": (X34, SIGNS),
    "multi_margin_loss": (X34, Y3),
    "multilabel_margin_loss": (X34, ML),
}


@pytest.mark.parametrize("loss", list(CLASS_AXIS_CALLS))
def test_margin_losses_class_axis(loss):
    """`axis` is validated as in every loss with a class axis (`_checks.check_axis`); an empty
    class axis is named; a 0-d input (PyTorch: one sample of one class) takes -1 or 0 only."""
    fn, args = getattr(jaxloss, loss), CLASS_AXIS_CALLS[loss]
    with raises(ValueError, f"{loss}: `axis`=2 is out of range for `input` of shape (3, 4) "
                            "(rank 2); expected an axis in [-2, 2)."):
        fn(*args, axis=2)
    with raises(TypeError, f"{loss}: `axis` must be a Python int, got 1.0."):
        fn(*args, axis=1.0)
    empty = (np.zeros((3, 0), np.float32),
             np.zeros((3, 0) if loss != "multi_margin_loss" else (3,), args[1].dtype))
    with raises(ValueError, f"{loss}: `input` has no classes along axis 1 (shape (3, 0)); give "
                            "it one entry per class."):
        fn(*empty)
    if loss != "multilabel_soft_margin_loss":  # PyTorch: IndexError there
        with raises(ValueError, f"{loss}: `axis`=1 is out of range for `input` of shape () (one "
                                "sample of one class, as PyTorch reads a 0-d input); expected -1 "
                                "or 0."):
            fn(np.float32(0.5), np.int32(0), axis=1)


def test_margin_losses_bad_targets():
    with raises(TypeError, "multi_margin_loss: `target` must be an integer array of class "
                           "indices, got dtype float32. Cast it with `target.astype(jnp.int32)`."):
        jaxloss.multi_margin_loss(X34, Y3.astype(np.float32))
    with raises(TypeError, "multilabel_margin_loss: `target` must be an integer array of class "
                           "indices ending with -1, got dtype float32."):
        jaxloss.multilabel_margin_loss(X34, ML.astype(np.float32))
    with raises(TypeError, "hinge_embedding_loss: `target` must be a real or integer array of 1 "
                           "and -1, got dtype bool."):
        jaxloss.hinge_embedding_loss(X34, SIGNS.astype(bool))


@pytest.mark.parametrize("label", [4, -1])
def test_multi_margin_concrete_out_of_range_label(label):
    with raises(ValueError, f"multi_margin_loss: `target` must be class indices in [0, 4), got "
                            f"{label} at index (1,)."):
        jaxloss.multi_margin_loss(X34, np.array([0, label, 1], np.int32))
    # a masked-out sample's label is not read
    jaxloss.multi_margin_loss(X34, np.array([0, label, 1], np.int32),
                              where=np.array([True, False, True]))


@pytest.mark.parametrize("value, index", [(7, (1, 3)), (-2, (1, 1))])
def test_multilabel_margin_concrete_out_of_range_value(value, index):
    """Every entry is checked, also after the -1 that ends the list (as PyTorch)."""
    t = ML.copy()
    t[index] = value
    with raises(ValueError, f"multilabel_margin_loss: `target` must be a class index in [0, 4) "
                            f"or -1 (the end of the list), got {value} at index {index}."):
        jaxloss.multilabel_margin_loss(X34, t)


def test_multilabel_margin_out_of_range_under_checked_and_jit(no_callback_logs):
    t = ML.copy()
    t[2, 0] = 9
    f = jax.jit(jaxloss.checked(jaxloss.multilabel_margin_loss))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        f(X34, t)
    assert _last_line(info.value) == (
        "CheckError: multilabel_margin_loss: `target` must be a class index in [0, 4) or -1 "
        "(the end of "
        "the list), got 9 at index (2, 0)."
    )


def test_triplet_distance_function_errors():
    fn = "triplet_margin_with_distance_loss"
    with raises(TypeError, f"{fn}: `distance_function` must be a callable (u, v) -> distances, "
                           "or None for the pairwise L2 distance, got 'euclidean'."):
        jaxloss.triplet_margin_with_distance_loss(X34, X34, X34, distance_function="euclidean")
    with raises(TypeError, f"{fn}: `distance_function` must return a floating-point array, got "
                           "dtype int32."):
        jaxloss.triplet_margin_with_distance_loss(
            X34, X34, X34, distance_function=lambda u, v: (u - v).astype(jnp.int32)
        )
    calls = []

    def inconsistent(u, v):
        calls.append(None)
        return jnp.sum(u - v, axis=-1) if len(calls) == 1 else u - v

    with raises(ValueError, f"{fn}: `distance_function` returned distances of different "
                            "shapes, (3,) and (3, 4): it must return one distance per triplet."):
        jaxloss.triplet_margin_with_distance_loss(X34, X34, X34, distance_function=inconsistent)


# ---------------------------------------------------------------------------------------------
# ctc_loss: shapes and structure while tracing; lengths and targets where concrete (and under
# checked inside jit)
# ---------------------------------------------------------------------------------------------

CTC_LP = np.log(np.full((4, 2, 3), 1.0 / 3.0, np.float32))  # (T, N, C)
CTC_TARGETS = np.array([[1, 2], [2, 0]], np.int32)
CTC_IL = np.array([4, 3], np.int32)
CTC_TL = np.array([2, 1], np.int32)


def _ctc(log_probs=CTC_LP, targets=CTC_TARGETS, il=CTC_IL, tl=CTC_TL, **kwargs):
    return jaxloss.ctc_loss(log_probs, targets, il, tl, **kwargs)


CTC_TRACE_ERRORS = [
    (dict(reduction="batchmean"), ValueError,
     "ctc_loss: `reduction` must be one of ('mean', 'sum', 'none'), got 'batchmean'."),
    (dict(log_probs=CTC_LP.astype(np.int32)), TypeError,
     "ctc_loss: `log_probs` must be a floating-point array, got dtype int32."),
    (dict(log_probs=CTC_LP[0, 0]), ValueError,
     "ctc_loss: `log_probs` must have shape (T, N, C) (time first, as PyTorch), or (T, C) for "
     "one unbatched sequence, got shape (3,)."),
    (dict(log_probs=CTC_LP[:0], il=np.zeros(2, np.int32), tl=np.zeros(2, np.int32)), ValueError,
     "ctc_loss: `log_probs` must have at least one time step (T = log_probs.shape[0] >= 1), "
     "got shape (0, 2, 3)."),
    (dict(blank=3), ValueError,
     "ctc_loss: `blank` must be a class index in [0, 3) (C = log_probs.shape[-1] = 3), got 3."),
    (dict(blank=-1), ValueError,
     "ctc_loss: `blank` must be a class index in [0, 3) (C = log_probs.shape[-1] = 3), got -1."),
    (dict(blank=0.0), TypeError,
     "ctc_loss: `blank` must be a Python int (the blank's class index is structure, not "
     "data), got 0.0."),
    (dict(zero_infinity=1), TypeError, "ctc_loss: `zero_infinity` must be a Python or NumPy bool"),
    (dict(targets=CTC_TARGETS.astype(np.float32)), TypeError,
     "ctc_loss: `targets` must be an integer array, got dtype float32. Targets are class "
     "indices: cast them with `targets.astype(jnp.int32)`."),
    (dict(il=np.array([4.0, 3.0])), TypeError,
     "ctc_loss: `input_lengths` must be an integer array, got dtype float64. Cast it with "
     "`input_lengths.astype(jnp.int32)`."),
    (dict(il=np.array([4, 3, 2])), ValueError,
     "ctc_loss: `input_lengths` must have shape (2,), one length per sequence of `log_probs` "
     "of shape (4, 2, 3) (T, N, C), got shape (3,)."),
    (dict(tl=np.array(2)), ValueError,
     "ctc_loss: `target_lengths` must have shape (2,), one length per sequence of "
     "`log_probs` of shape (4, 2, 3) (T, N, C), got shape ()."),
    (dict(targets=CTC_TARGETS[:1]), ValueError,
     "ctc_loss: `targets` must have shape (2, S) (padded) or 1-D (concatenated) for "
     "`log_probs` of shape (4, 2, 3), got shape (1, 2)."),
    (dict(targets=CTC_TARGETS[None]), ValueError,
     "ctc_loss: `targets` must have shape (2, S) (padded) or 1-D (concatenated) for "
     "`log_probs` of shape (4, 2, 3), got shape (1, 2, 2)."),
    (dict(log_probs=CTC_LP[:, 0], targets=CTC_TARGETS, il=4, tl=2), ValueError,
     "ctc_loss: `targets` must have shape (S,) or (1, S) for `log_probs` of shape (4, 3), got "
     "shape (2, 2)."),
    (dict(log_probs=CTC_LP[:, 0], targets=CTC_TARGETS[0], il=CTC_IL, tl=2), ValueError,
     "ctc_loss: `input_lengths` must be a scalar (or shape (1,)) for unbatched (T, C) "
     "`log_probs` of shape (4, 3), got shape (2,)."),
    (dict(where=np.ones(3, bool)), ValueError,
     "ctc_loss: `where` of shape (3,) must broadcast to (2,)"),
]


@pytest.mark.parametrize(("kwargs", "exc", "message"), CTC_TRACE_ERRORS,
                         ids=lambda v: str(v)[:30] if isinstance(v, str) else None)
def test_ctc_loss_shape_and_structure_errors(kwargs, exc, message):
    with raises(exc, message):
        _ctc(**kwargs)


def test_ctc_loss_errors_are_raised_while_tracing_under_jit():
    with raises(ValueError, "ctc_loss: `blank` must be a class index in [0, 3)"):
        jax.jit(lambda x: _ctc(log_probs=x, blank=5))(CTC_LP)


def _ctc_value_message(name, expected, value, index, hint=""):
    return f"ctc_loss: `{name}` must be {expected}, got {value} at index {index}.{hint}"


LABEL_EXPECTED = "class indices in [0, 3) other than blank=0"
LABEL_HINT = " Entries beyond target_lengths are padding and not read."
CTC_VALUE_ERRORS = [
    (dict(il=np.array([5, 3])),
     _ctc_value_message("input_lengths", "in [0, 4] (T = log_probs.shape[0])", 5, "(0,)")),
    (dict(il=np.array([4, -1])),
     _ctc_value_message("input_lengths", "in [0, 4] (T = log_probs.shape[0])", -1, "(1,)")),
    (dict(tl=np.array([3, 1])),
     _ctc_value_message("target_lengths", "in [0, 2] (S = targets.shape[1], the padded width)",
                        3, "(0,)")),
    (dict(tl=np.array([2, -2])),
     _ctc_value_message("target_lengths", "in [0, 2] (S = targets.shape[1], the padded width)",
                        -2, "(1,)")),
    (dict(targets=np.array([[1, 0], [2, 0]])),
     _ctc_value_message("targets", LABEL_EXPECTED, 0, "(0, 1)", LABEL_HINT)),
    (dict(targets=np.array([[1, 2], [3, 0]])),
     _ctc_value_message("targets", LABEL_EXPECTED, 3, "(1, 0)", LABEL_HINT)),
    (dict(targets=np.array([1, 2, 0]), tl=np.array([2, 1])),
     _ctc_value_message("targets", LABEL_EXPECTED, 0, "(2,)", LABEL_HINT)),
    (dict(targets=np.array([1, 2, 2]), tl=np.array([2, -1])),
     _ctc_value_message("target_lengths", ">= 0", -1, "(1,)")),
    (dict(targets=np.array([1, 2, 2, 1])),
     "ctc_loss: 1-D (concatenated) `targets` must hold sum(target_lengths) = 3 labels, got 4. "
     "Padded targets have shape (N, S)."),
]


@pytest.mark.parametrize(("kwargs", "message"), CTC_VALUE_ERRORS,
                         ids=lambda v: v[10:50] if isinstance(v, str) else None)
def test_ctc_loss_value_errors_where_concrete(kwargs, message):
    """Host (NumPy/Python) lengths and targets are checked on every call, as PyTorch does;
    so are concrete jax arrays in an eager call."""
    with raises(CheckError, message):
        _ctc(**kwargs)
    with raises(ValueError, message):  # a CheckError is a ValueError
        _ctc(**{k: jnp.asarray(v) for k, v in kwargs.items()})
    # concrete while tracing: the jitted function closes over the host values
    with raises(CheckError, message):
        jax.jit(lambda x: _ctc(log_probs=x, **kwargs))(CTC_LP)


@pytest.mark.parametrize(("kwargs", "message"), CTC_VALUE_ERRORS[:2] + CTC_VALUE_ERRORS[4:5],
                         ids=lambda v: v[10:50] if isinstance(v, str) else None)
def test_ctc_loss_value_errors_under_checked_inside_jit(kwargs, message, no_callback_logs):
    args = {"targets": CTC_TARGETS, "il": CTC_IL, "tl": CTC_TL, **kwargs}
    fn = jax.jit(jaxloss.checked(lambda x, t, i, n: jaxloss.ctc_loss(x, t, i, n)))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(fn(CTC_LP, args["targets"], args["il"], args["tl"]))
    assert _last_line(info.value) == "CheckError: " + message
    # unchecked, the traced bad value is a NaN loss (see tests/test_sequence.py)
    plain = jax.jit(lambda x, t, i, n: jaxloss.ctc_loss(x, t, i, n))
    assert np.isnan(plain(CTC_LP, args["targets"], args["il"], args["tl"]))


def test_ctc_loss_masked_sequences_are_not_checked():
    bad = np.array([[1, 2], [0, 0]])
    got = _ctc(targets=bad, where=np.array([True, False]))
    np.testing.assert_allclose(got, _ctc(where=np.array([True, False])))


# ---------------------------------------------------------------------------------------------
# issue 12, item 4: the Dice family and the Lovász losses
# ---------------------------------------------------------------------------------------------

_SOFT_SEG = np.full((2, 3, 3, 4), 0.25, np.float32)
_SOFT_SEG_BAD = _SOFT_SEG.copy()
_SOFT_SEG_BAD[1, 0, 2, 3] = -0.5
_MASK_HINGE = (np.arange(18, dtype=np.int32) % 2).reshape(2, 3, 3)
_X_HINGE = np.linspace(-2.0, 2.0, 18, dtype=np.float32).reshape(2, 3, 3)
_HALF_HINGE = np.full((2, 3, 3), 0.5, np.float32)

DICE_FAMILY_ERRORS = [
    (jaxloss.dice_loss, (_SOFT_SEG, _SOFT_SEG_BAD), {"activation": "none", "soft_label": True},
     ValueError, "dice_loss: `targets` must be in [0, 1] with soft_label=True (soft labels are "
     "probabilities), got -0.5 at index (1, 0, 2, 3). Rescale the targets, or drop those "
     "pixels with `where=`."),
    (jaxloss.tversky_loss, (X_SEG, _SOFT_SEG_BAD), {"soft_label": True}, ValueError,
     "tversky_loss: `targets` must be in [0, 1] with soft_label=True"),
    (jaxloss.generalized_dice_loss, (X_SEG, _SOFT_SEG_BAD), {"soft_label": True}, ValueError,
     "generalized_dice_loss: `targets` must be in [0, 1] with soft_label=True"),
    (jaxloss.dice_loss, (X_SEG, Y_SEG), {"soft_label": 1}, TypeError,
     "dice_loss: `soft_label` must be a Python or NumPy bool (it selects the computation, "
     "it is structure, not data), got 1."),
    (jaxloss.tversky_loss, (X_SEG, Y_SEG), {"gamma": -1.0}, ValueError,
     "tversky_loss: `gamma` must be >= 0, got -1.0."),
    (jaxloss.tversky_loss, (X_SEG, Y_SEG), {"gamma": np.ones(2)}, ValueError,
     "tversky_loss: `gamma` must be a scalar, got shape (2,). To run several values at once, "
     "`jax.vmap` over `gamma`."),
    (jaxloss.generalized_dice_loss, (X_SEG, Y_SEG), {"w_type": "log"}, ValueError,
     "generalized_dice_loss: `w_type` must be one of ('square', 'simple', 'uniform'), got "
     "'log'"),
    (jaxloss.generalized_dice_loss, (X_SEG, Y_SEG), {"smooth": -1}, ValueError,
     "generalized_dice_loss: `smooth` must be >= 0, got -1.0."),
    (jaxloss.generalized_dice_loss, (X_SEG, Y_SEG), {"reduction": "avg"}, ValueError,
     "generalized_dice_loss: `reduction` must be one of ('mean', 'sum', 'none'), got 'avg'."),
    (jaxloss.generalized_dice_loss, (ONE_SEG, MASK_SEG), {}, ValueError,
     _one_class("generalized_dice_loss", "logits", (2, 8, 8, 1), 3, 'pass activation="sigmoid"')),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"reduction": "none"}, ValueError,
     "dice_focal_loss: `reduction` must be 'mean' or 'sum', got 'none'."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"activation": "none"}, ValueError,
     "dice_focal_loss: `activation` must be 'softmax' or 'sigmoid', got 'none': the focal "
     "term is computed from logits."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"alpha": 0.25}, ValueError,
     "dice_focal_loss: `alpha` applies to the sigmoid focal term only, got alpha=0.25 with "
     'activation="softmax"; weight the classes with `class_weights` instead.'),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"activation": "sigmoid", "alpha": 1.5},
     ValueError, "dice_focal_loss: `alpha` must be in [0, 1], got 1.5."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"lambda_dice": -0.5}, ValueError,
     "dice_focal_loss: `lambda_dice` must be >= 0, got -0.5."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"lambda_focal": -1.0}, ValueError,
     "dice_focal_loss: `lambda_focal` must be >= 0, got -1.0."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"gamma": -2.0}, ValueError,
     "dice_focal_loss: `gamma` must be >= 0, got -2.0."),
    (jaxloss.dice_focal_loss, (X_SEG, Y_SEG), {"class_weights": np.ones(3)}, ValueError,
     "dice_focal_loss: `class_weights` must have shape (4,), one weight per class, got shape "
     "(3,)."),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG), {"classes": "some"}, ValueError,
     "lovasz_softmax_loss: `classes` must be one of ('present', 'all'), got 'some'"),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG), {"per_image": 1}, TypeError,
     "lovasz_softmax_loss: `per_image` must be a Python or NumPy bool (it selects the "
     "computation, it is structure, not data), got 1."),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG), {"reduction": "avg"}, ValueError,
     "lovasz_softmax_loss: `reduction` must be one of ('mean', 'sum', 'none'), got 'avg'."),
    (jaxloss.lovasz_softmax_loss, (X_SEG, _SOFT_SEG), {}, TypeError,
     "lovasz_softmax_loss: `targets` must be integer class indices, got dtype float32. For "
     "0/1 masks use jaxloss.lovasz_hinge_loss."),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG[:, :2]), {}, ValueError,
     "lovasz_softmax_loss: integer `targets` must have the logits' shape without the class "
     "axis (the logits' axis 3): expected (2, 3, 3), got (2, 2, 3)"),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG), {"axis": 0}, ValueError,
     "lovasz_softmax_loss: `logits` must have a batch axis 0 and a class axis"),
    (jaxloss.lovasz_softmax_loss, (X_SEG.astype(np.int32), Y_SEG), {}, TypeError,
     "lovasz_softmax_loss: `logits` must be a floating-point array, got dtype int32."),
    (jaxloss.lovasz_softmax_loss, (ONE_SEG, MASK_SEG[..., 0].astype(np.int32)), {}, ValueError,
     _one_class("lovasz_softmax_loss", "logits", (2, 8, 8, 1), 3,
                "use jaxloss.lovasz_hinge_loss on the single logit per pixel")),
    (jaxloss.lovasz_softmax_loss, (X_SEG, Y_SEG), {"where": np.ones((2, 3, 3), np.int32)},
     TypeError, "lovasz_softmax_loss: `where` must be a boolean array, got dtype int32."),
    (jaxloss.lovasz_hinge_loss, (_X_HINGE, _HALF_HINGE), {}, ValueError,
     "lovasz_hinge_loss: `targets` must be 0 or 1 (the Lovász hinge ranks a binary ground "
     "truth), got 0.5 at index (0, 0, 0). Threshold soft masks, or drop those pixels with "
     "`where=`."),
    (jaxloss.lovasz_hinge_loss, (_X_HINGE, _MASK_HINGE * 2), {}, ValueError,
     "lovasz_hinge_loss: `targets` must be 0 or 1"),
    (jaxloss.lovasz_hinge_loss, (_X_HINGE, _MASK_HINGE[:, :2]), {}, ValueError,
     "lovasz_hinge_loss: `targets` must have the same shape as `logits`: expected (2, 3, 3), "
     "got (2, 2, 3)."),
    (jaxloss.lovasz_hinge_loss, (_X_HINGE, _HALF_HINGE * 0), {"ignore_index": 255},
     ValueError, "lovasz_hinge_loss: `ignore_index`=255 applies to integer targets only"),
    (jaxloss.lovasz_hinge_loss, (np.float32(1.0), np.float32(1.0)), {}, ValueError,
     "lovasz_hinge_loss: `logits` must have a batch axis, e.g. (N, H, W), got a scalar."),
    (jaxloss.lovasz_hinge_loss, (_MASK_HINGE, _X_HINGE), {}, TypeError,
     "lovasz_hinge_loss: `logits` must be a floating-point array, got dtype int32. The "
     "arguments look swapped"),
    (jaxloss.lovasz_hinge_loss, (_X_HINGE, _MASK_HINGE), {"per_image": "yes"}, TypeError,
     "lovasz_hinge_loss: `per_image` must be a Python or NumPy bool"),
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "message"), DICE_FAMILY_ERRORS,
    ids=[e[4][:60] for e in DICE_FAMILY_ERRORS],
)
def test_dice_family_and_lovasz_bad_input(fn, args, kwargs, exc, message):
    with raises(exc, message):
        fn(*args, **kwargs)


def test_dice_family_value_checks_under_jit(no_callback_logs):
    """Traced soft targets and hinge masks are checked by jaxloss.checked only."""
    f = jax.jit(jaxloss.checked(
        lambda t: jaxloss.dice_loss(_SOFT_SEG, t, activation="none", soft_label=True)))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(f(_SOFT_SEG_BAD))
    assert _last_line(info.value) == (
        "CheckError: dice_loss: `targets` must be in [0, 1] (masks or probabilities), got -0.5 "
        "at index (1, 0, 2, 3)."
    )
    g = jax.jit(jaxloss.checked(lambda t: jaxloss.lovasz_hinge_loss(_X_HINGE, t)))
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(g(_HALF_HINGE * 3))
    assert _last_line(info.value) == (
        "CheckError: lovasz_hinge_loss: `targets` must be 0 or 1, got 1.5 at index (0, 0, 0)."
    )
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(g(_HALF_HINGE))
    assert _last_line(info.value).endswith("got 0.5 at index (0, 0, 0).")
    assert np.isfinite(g(_MASK_HINGE.astype(np.float32)))
