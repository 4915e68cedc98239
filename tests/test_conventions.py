"""jaxloss's conventions, checked over ``jaxloss.__all__`` so that a new export cannot drift.

Each rule is stated once in ``jaxloss/_inputs.py`` (and docs/contributing.md);
here every public name is run against it with the cases of ``tests/cases.py``. A new export
that breaks a rule (a flag refusing ``np.True_``, a class axis without ``axis=``, an argument
order its docstring does not follow, a concrete bad label that gives NaN, an output dtype
that depends on argument order, a PyTorch keyword without a hint) fails here, not in review.
"""

from __future__ import annotations

import functools
import inspect
import re

import jax
import numpy as np
import pytest
from cases import REGISTRY, call, table_cases

import jaxloss

FUNCTIONS = [n for n in jaxloss.__all__ if n != "checked"]

# The first case of each public name (the one that calls the function most plainly).
FIRST_CASE = table_cases()

# Losses whose inputs have a class axis (scores or probabilities per class): they all take
# `axis=` (default -1). Every export is in exactly one of the two sets.
CLASS_AXIS = {
    "cross_entropy", "nll_loss", "focal_loss", "logit_adjusted_cross_entropy", "ldam_loss",
    "poly1_cross_entropy", "distillation_loss", "jensen_shannon_divergence", "dice_loss",
    "tversky_loss", "generalized_dice_loss", "dice_focal_loss", "dice_cross_entropy_loss",
    "lovasz_softmax_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "jaccard_loss",
    # detection (issue 23): the class axis of QFL, the bin axis of DFL
    "quality_focal_loss", "distribution_focal_loss",
    # shape-aware segmentation (issue 23)
    "hausdorff_dt_loss", "log_hausdorff_dt_loss", "boundary_loss", "soft_cldice_loss",
    "soft_dice_cldice_loss",
}
NO_CLASS_AXIS = {
    # elementwise (binary, regression, pointwise KL as PyTorch's kl_div)
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss",
    "asymmetric_loss", "lovasz_hinge_loss", "mcc_loss", "l1_loss", "mse_loss", "huber_loss",
    "smooth_l1_loss", "poisson_nll_loss", "gaussian_nll_loss", "kl_div", "soft_margin_loss",
    "hinge_embedding_loss", "margin_ranking_loss",
    # embeddings: the last axis is a feature axis, not classes
    "cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    # fixed layouts: (N, D) hidden states with a (V, D) weight, (T, N, C) time-major
    "linear_cross_entropy", "ctc_loss",
    # detection (issue 23): (..., 4) boxes, elementwise sigmoid logits
    "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss",
    "varifocal_loss",
    # image-text contrastive (issue 22): (B, D) feature pairs, the last axis features
    "clip_loss", "siglip_loss",
    # not losses of a prediction
    "class_counts", "class_weights_from_counts", "l1_penalty", "l2_penalty",
    "distance_transform_edt",
}

# Losses with integer class labels: a concrete kept label out of range is a ValueError.
INTEGER_LABELS = {
    name for name in FUNCTIONS
    if "ignore_index" in inspect.signature(getattr(jaxloss, name)).parameters
} | {"multi_margin_loss", "multilabel_margin_loss", "ctc_loss", "quality_focal_loss"}

# The rule for tensor argument names (docs/contributing.md): a tensor is named for
# what it holds when that is more than PyTorch's generic name says (`logits`, `log_probs`,
# `hidden`/`weight`, `student_logits`...); otherwise it has PyTorch's name (`input`, `input1`,
# `anchor`). Targets beside `logits`/`log_probs`/`hidden` are `targets` (class indices or
# distributions); beside PyTorch's `input`, PyTorch's `target`.
LOGIT_NAMES = {"logits", "log_probs", "hidden", "student_logits"}


def _params(name):
    return inspect.signature(getattr(jaxloss, name)).parameters


def test_every_export_is_classified_for_the_class_axis():
    assert CLASS_AXIS.isdisjoint(NO_CLASS_AXIS)
    assert CLASS_AXIS | NO_CLASS_AXIS == set(FUNCTIONS), (
        "classify each new export in CLASS_AXIS or NO_CLASS_AXIS: "
        f"{sorted(set(FUNCTIONS) - CLASS_AXIS - NO_CLASS_AXIS)}"
    )


@pytest.mark.parametrize("name", sorted(CLASS_AXIS))
def test_every_loss_with_a_class_axis_takes_axis(name):
    params = _params(name)
    assert "axis" in params, f"{name} has a class axis but no `axis=`"
    assert params["axis"].default == -1 and params["axis"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hyperparameters_are_keyword_only(name):
    for p in _params(name).values():
        if p.default is not inspect.Parameter.empty:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, (name, p.name)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_tensor_names_follow_the_rule(name):
    positional = [
        p.name for p in _params(name).values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    if "targets" in _params(name):
        assert positional[0] in LOGIT_NAMES | {"targets"}, (name, positional)
        assert "target" not in _params(name), name
    if "target" in positional:
        assert positional[0] not in LOGIT_NAMES, (name, positional)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_pytorch_keywords_name_jaxlosss_spelling(name):
    fn = getattr(jaxloss, name)
    params = _params(name)
    if "weight" not in params:  # linear_cross_entropy's `weight` is the projection matrix
        unexpected = rf"^{name}\(\) got an unexpected keyword argument `weight`"
        with pytest.raises(TypeError, match=unexpected) as e:
            fn(weight=np.ones(3))
        for spelling in ("class_weights", "weights", "pos_weight"):
            if spelling in params:
                assert f"`{spelling}=`" in str(e.value), (name, str(e.value))
    for key in ("size_average", "reduce"):
        with pytest.raises(TypeError, match=rf"`{key}=` is `reduction=`"):
            fn(**{key: True})
    positional = [p for p in params if params[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    if "input" not in params and positional[0] != "targets":
        with pytest.raises(TypeError, match=rf"`input=` is `{positional[0]}=` here"):
            fn(input=np.ones(3))
    if "targets" in params:
        with pytest.raises(TypeError, match=r"`target=` is `targets=` here"):
            fn(target=np.ones(3))
    if "reduction" in params:
        with pytest.raises(TypeError, match=r"Did you mean `reduction=`\?"):
            fn(reductoin="sum")


# jaxloss's own former names (issue 20, one name per meaning; CHANGELOG): each raises a
# TypeError that names the new spelling.
FORMER_NAMES = [
    ("logit_adjusted_cross_entropy", "class_priors",
     "jaxloss's former `class_priors=` is `class_counts=` (counts or priors give the same loss: "
     "only their ratios matter)."),
    ("distillation_loss", "hard_weight",
     "jaxloss's former `hard_weight=a` is `lambda_hard=a, lambda_soft=1-a` (the two weights "
     "add; the defaults are lambda_soft=1, lambda_hard=0)."),
    ("jensen_shannon_divergence", "log_p",
     "jaxloss's former `log_p=` (the teacher's log-probabilities) is `target=`, the second "
     "argument (kl_div's order: `input`, the student's, first)."),
    ("jensen_shannon_divergence", "log_q",
     "jaxloss's former `log_q=` (the student's log-probabilities) is `input=`, the first "
     "argument (kl_div's order: `target`, the teacher's, second)."),
]


@pytest.mark.parametrize(("name", "key", "hint"), FORMER_NAMES,
                         ids=[f"{n}-{k}" for n, k, _ in FORMER_NAMES])
def test_former_names_name_the_new_spelling(name, key, hint):
    message = f"{name}() got an unexpected keyword argument `{key}`. {hint}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        getattr(jaxloss, name)(np.zeros((2, 3), np.float32), **{key: 0.5})
    assert key not in _params(name)


# One name with two defaults, on purpose: each function keeps its peer's (issue 20) and its
# docstring says whose.
PEER_DEFAULTS = [
    ("sigmoid_focal_loss", "alpha", 0.25, "torchvision's default"),
    ("dice_focal_loss", "alpha", None, "MONAI's default"),
    ("mcc_loss", "batch", True, "SMP's default"),  # dice_loss's is False (MONAI's)
    ("mcc_loss", "eps", 1e-5, "SMP's default"),
    ("jaccard_loss", "eps", 1e-7, "SMP's default"),
    # shape-aware segmentation (issue 23): MONAI's per-loss defaults
    ("hausdorff_dt_loss", "alpha", 2.0, "MONAI's default"),
    ("hausdorff_dt_loss", "include_background", False, "MONAI's default"),
    ("soft_dice_cldice_loss", "alpha", 0.5, "MONAI's default"),
    ("soft_cldice_loss", "smooth", 1.0, "MONAI's"),
]


@pytest.mark.parametrize(("name", "param", "default", "whose"), PEER_DEFAULTS,
                         ids=[n for n, *_ in PEER_DEFAULTS])
def test_a_default_that_differs_between_functions_is_each_peers(name, param, default, whose):
    assert _params(name)[param].default == default
    assert whose in inspect.getdoc(getattr(jaxloss, name)), (name, whose)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_docstring_args_follow_the_signature_and_references_are_given(name):
    fn = getattr(jaxloss, name)
    doc = inspect.getdoc(fn)
    lines = doc.splitlines()
    start = lines.index("Args:")
    documented = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        m = re.match(r"^  (\w+(?:, \w+)*):", line)
        if m:
            documented += m.group(1).split(", ")
    assert documented == list(_params(name)), (name, documented)
    assert "\nReferences:\n" in doc, f"{name}: no References section"


def _direct_case(name):
    """The first case of ``name`` whose arguments the function takes with its defaults for
    every other option (a flag is then tested on the function itself, not a case wrapper)."""
    fn = getattr(jaxloss, name)
    for case in REGISTRY.values():
        if case.name != name:
            continue
        args = case.make(np.random.default_rng(0))
        try:
            with jax.enable_x64(True):
                _run_jit(case, args)
        except (TypeError, ValueError):
            continue
        return case, args
    raise AssertionError(f"no case of {name} runs with {fn.__name__}'s defaults")


def _run_jit(case, args, **options):
    """``case.fn`` under jit with every array argument traced (0-d integers stay static)."""
    static = {k: int(v) for k, v in args.items() if np.ndim(v) == 0 and np.issubdtype(
        np.asarray(v).dtype, np.integer)}
    traced = {k: v for k, v in args.items() if k not in static}
    fn = getattr(jaxloss, case.name)
    return jax.jit(lambda kw: fn(**kw, **static, **options))(traced)


FLAGS = [
    (name, p.name)
    for name in FUNCTIONS
    for p in _params(name).values()
    if isinstance(p.default, bool)
]


@pytest.mark.parametrize(("name", "flag"), FLAGS, ids=[f"{n}-{f}" for n, f in FLAGS])
def test_flags_take_python_and_numpy_bools_only(name, flag):
    case, args = _direct_case(name)
    with jax.enable_x64(True):
        for value in (True, False):
            plain = _run_jit(case, args, **{flag: value})
            numpy = _run_jit(case, args, **{flag: np.bool_(value)})
            jax.tree.map(np.testing.assert_array_equal, plain, numpy)
        with pytest.raises(TypeError, match=rf"^{name}: `{flag}` must be a Python or NumPy bool"):
            _run_jit(case, args, **{flag: 1})


def _float_tensors(case):
    return [*case.data, *([case.target] if case.target else [])]


DTYPE_CASES = [  # the penalties take one pytree, not tensors in an order
    name for name in FUNCTIONS
    if name in FIRST_CASE and len(_float_tensors(FIRST_CASE[name])) >= 2
    and name not in ("l1_penalty", "l2_penalty")
]


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_output_dtype_never_depends_on_argument_order(name):
    """Joint promotion with float32 as the floor: one float64 tensor makes the loss float64,
    whichever argument it is."""
    case = FIRST_CASE[name]
    args = case.make(np.random.default_rng(0))
    with jax.enable_x64(True):
        for wide in _float_tensors(case):
            mixed = {
                k: (np.asarray(v, np.float64 if k == wide else np.float32)
                    if k in _float_tensors(case) else v)
                for k, v in args.items()
            }
            out = jax.tree.leaves(case.fn(**mixed))
            assert all(o.dtype == np.float64 for o in out), (name, wide, [o.dtype for o in out])
            narrow = {k: (np.asarray(v, np.float32) if k in _float_tensors(case) else v)
                      for k, v in args.items()}
            out = jax.tree.leaves(case.fn(**narrow))
            assert all(o.dtype == np.float32 for o in out), (name, [o.dtype for o in out])


LABEL_CASES = sorted(INTEGER_LABELS & set(FIRST_CASE))


@pytest.mark.parametrize("name", LABEL_CASES)
def test_a_concrete_out_of_range_label_is_a_value_error(name):
    case = FIRST_CASE[name]
    args = case.make(np.random.default_rng(0))
    key = next(k for k in ("targets", "target", "labels") if k in args)
    bad = np.array(args[key], copy=True)
    bad.reshape(-1)[0] = 10_000
    with jax.enable_x64(True), pytest.raises(ValueError, match=rf"^{name}: .*\b10000\b") as e:
        case.fn(**{**args, key: bad})
    assert re.search(r"\[0, \d+[)\]]|0 or 1", str(e.value)), str(e.value)  # the valid range
    if name == "class_counts":
        return  # integer counts: traced, the label is counted nowhere (its docstring says so)
    # traced, the same call is NaN (never a clamped or wrapped class) instead
    with jax.enable_x64(True):
        traced = jax.jit(functools.partial(case.fn))(**{**args, key: bad})
    assert any(np.isnan(np.asarray(o)).any() for o in jax.tree.leaves(traced)), name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_is_marked_public(name):
    assert getattr(getattr(jaxloss, name), "__wrapped__", None) is not None, (
        f"decorate {name} with jaxloss._inputs.public"
    )


# Each name's first case, and every other case that states its options (the sharding table
# takes some of its inputs from those).
PLAIN_CASES = [
    key for key, case in REGISTRY.items()
    if case.options is not None and (case.options or FIRST_CASE.get(case.name) is case)
]


@pytest.mark.parametrize("key", PLAIN_CASES)
def test_a_table_case_is_its_function_called_with_its_options(key):
    """The weights, sharding and error tables call registry cases by name with their
    ``options``; the program must be the one of the case's ``fn`` (traced only)."""
    case = REGISTRY[key]
    name = case.name
    args = case.make(np.random.default_rng(0))
    with jax.enable_x64(True):
        want = jax.make_jaxpr(lambda a: case.fn(**a))(args)
        got = jax.make_jaxpr(lambda a: call(case, a))(args)
    assert str(got) == str(want), f"{name}: the case's `options` are not what its fn passes"
