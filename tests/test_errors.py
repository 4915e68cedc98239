"""Every bad input raises its error, matched by message; jaxloss.checked for label ranges."""

import re

import jax
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss

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
ALL_LOSSES = SOFTMAX_LOSSES + ["binary_cross_entropy", "sigmoid_focal_loss"]


def _call(loss, **kwargs):
    targets = LABELS if loss in SOFTMAX_LOSSES else PROBS
    return getattr(jaxloss, loss)(LOGITS, targets, **kwargs)


@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_unknown_reduction(loss):
    with raises(ValueError, f"{loss}: `reduction` must be one of ('mean', 'sum', 'none'), "
                            "got 'average'."):
        _call(loss, reduction="average")


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


@pytest.mark.parametrize("loss", SOFTMAX_LOSSES)
def test_class_weights_wrong_length(loss):
    with raises(
        ValueError,
        f"{loss}: `class_weights` must have shape (4,), one weight per class, got shape (3,).",
    ):
        _call(loss, class_weights=np.ones(3, np.float32))


@pytest.mark.parametrize("loss", SOFTMAX_LOSSES)
def test_integer_targets_of_the_wrong_shape(loss):
    with raises(
        ValueError,
        f"{loss}: integer `targets` must have the logits' shape without the class axis "
        "(axis=1): expected (6,), got (4,) for logits of shape (6, 4).",
    ):
        getattr(jaxloss, loss)(LOGITS, np.zeros(4, np.int32))


def test_channel_first_hint():
    """(N, C, H, W) logits with the default axis=-1: the message suggests axis=1."""
    with raises(ValueError, "For channel-first (N, C, ...) logits pass axis=1."):
        jaxloss.cross_entropy(np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 3, 3), np.int32))


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "sigmoid_focal_loss"])
def test_binary_mismatched_shapes(loss):
    with raises(
        ValueError, f"{loss}: `targets` must have the same shape as `logits`: expected (6, 4), "
        "got (4, 6)."
    ):
        getattr(jaxloss, loss)(LOGITS, PROBS.T)


@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_integer_logits(loss):
    name = "log_probs" if loss == "nll_loss" else "logits"
    targets = LABELS if loss in SOFTMAX_LOSSES else PROBS
    with raises(TypeError, f"{loss}: `{name}` must be a floating-point array, got dtype int32."):
        getattr(jaxloss, loss)(np.zeros((6, 4), np.int32), targets)


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


def test_bad_where():
    with raises(TypeError, "cross_entropy: `where` must be a boolean array, got dtype int32."):
        jaxloss.cross_entropy(LOGITS, LABELS, where=np.ones(6, np.int32))
    with raises(ValueError, "cross_entropy: `where` of shape (4,) must broadcast to (6,)"):
        jaxloss.cross_entropy(LOGITS, LABELS, where=np.ones(4, bool))


def test_axis_out_of_range():
    with raises(ValueError, "cross_entropy: `axis`=2 is out of range for `logits` of shape (6, 4)"):
        jaxloss.cross_entropy(LOGITS, LABELS, axis=2)


def test_pos_weight_that_does_not_broadcast():
    with raises(
        ValueError,
        "binary_cross_entropy: `pos_weight` of shape (3,) must broadcast to (6, 4) "
        "(NumPy broadcasting from the trailing axis).",
    ):
        jaxloss.binary_cross_entropy(LOGITS, PROBS, pos_weight=np.ones(3, np.float32))


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
# jaxloss.checked: out-of-range labels, eagerly and inside jit
# ---------------------------------------------------------------------------------------------


def _label_message(fn, label, num_classes=4):
    return (
        f"{fn}: target label {label} is out of range: labels must be in [0, {num_classes}) "
        "or equal to ignore_index."
    )


@pytest.mark.parametrize(
    ("loss", "label"),
    [("cross_entropy", 7), ("cross_entropy", -1), ("focal_loss", 7), ("nll_loss", -1)],
)
def test_checked_raises_eagerly(loss, label):
    fn = jaxloss.checked(getattr(jaxloss, loss))
    with raises(checkify.JaxRuntimeError, _label_message(loss, label)):
        fn(LOGITS, np.array([0, label, 1, 2, 3, 0], np.int32))


@pytest.mark.parametrize("label", [7, -1])
def test_checked_raises_inside_jit(label):
    fn = jax.jit(jaxloss.checked(jaxloss.cross_entropy))
    with raises(jax.errors.JaxRuntimeError, _label_message("cross_entropy", label)):
        jax.block_until_ready(fn(LOGITS, np.array([0, 1, 2, 3, 0, label], np.int32)))


def test_checked_inside_a_jitted_train_step():
    """The wrapped loss called from a larger jitted function, with keyword hyperparameters."""
    loss = jaxloss.checked(jaxloss.focal_loss)

    @jax.jit
    def step(x, y):
        return jax.value_and_grad(lambda x: loss(x, y, gamma=2.0, label_smoothing=0.1))(x)

    value, grad = step(LOGITS, LABELS)
    assert np.isfinite(value) and np.isfinite(np.asarray(grad)).all()
    with raises(jax.errors.JaxRuntimeError, _label_message("focal_loss", 4)):
        jax.block_until_ready(step(LOGITS, np.array([4, 0, 0, 1, 2, 3], np.int32)))


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
    # Probability targets have no labels to check.
    np.testing.assert_allclose(fn(LOGITS, PROBS), jaxloss.cross_entropy(LOGITS, PROBS))


def test_checked_class_counts_under_jit():
    fn = jax.jit(jaxloss.checked(lambda t: jaxloss.class_counts(t, 4)))
    np.testing.assert_array_equal(fn(np.array([0, 3, 3, -100], np.int32)), [1, 0, 0, 2])
    with raises(jax.errors.JaxRuntimeError, _label_message("class_counts", 9)):
        jax.block_until_ready(fn(np.array([0, 9], np.int32)))
