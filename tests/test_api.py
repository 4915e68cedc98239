"""The public API is pinned: an API change must edit this file, so it is always deliberate."""

import inspect
import pathlib
import types

import jaxloss

EXPECTED_ALL = [
    "asymmetric_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "checked",
    "class_counts",
    "class_weights_from_counts",
    "cross_entropy",
    "dice_cross_entropy_loss",
    "dice_loss",
    "distillation_loss",
    "focal_loss",
    "gaussian_nll_loss",
    "huber_loss",
    "jensen_shannon_divergence",
    "kl_div",
    "l1_loss",
    "l1_penalty",
    "l2_penalty",
    "ldam_loss",
    "linear_cross_entropy",
    "logit_adjusted_cross_entropy",
    "mse_loss",
    "nll_loss",
    "poisson_nll_loss",
    "poly1_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "tversky_loss",
]


def test_all_is_pinned():
    assert sorted(jaxloss.__all__) == EXPECTED_ALL
    assert len(set(jaxloss.__all__)) == len(jaxloss.__all__)


def test_every_exported_name_exists_and_every_public_function_is_exported():
    for name in jaxloss.__all__:
        assert callable(getattr(jaxloss, name)), name
    public = {
        name
        for name, value in vars(jaxloss).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(jaxloss.__all__)


def test_version_and_py_typed():
    assert isinstance(jaxloss.__version__, str)
    assert (pathlib.Path(jaxloss.__file__).parent / "py.typed").is_file()


KW = inspect.Parameter.KEYWORD_ONLY
POS = inspect.Parameter.POSITIONAL_OR_KEYWORD

# The core signatures (issues 2, 10): (name, kind, default); positional arguments have no default.
SIGNATURES = {
    "cross_entropy": [
        ("logits", POS, None), ("targets", POS, None), ("class_weights", KW, None),
        ("ignore_index", KW, -100), ("label_smoothing", KW, 0.0), ("z_loss", KW, 0.0),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None), ("class_axis_name", KW, None),
    ],
    "nll_loss": [
        ("log_probs", POS, None), ("targets", POS, None), ("class_weights", KW, None),
        ("ignore_index", KW, -100), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("gamma", KW, 2.0),
        ("class_weights", KW, None), ("ignore_index", KW, -100), ("label_smoothing", KW, 0.0),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None), ("class_axis_name", KW, None),
    ],
    "linear_cross_entropy": [
        ("hidden", POS, None), ("weight", POS, None), ("targets", POS, None),
        ("bias", KW, None), ("weight_layout", KW, "vd"), ("class_weights", KW, None),
        ("weights", KW, None), ("where", KW, None), ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0), ("z_loss", KW, 0.0), ("softcap", KW, None),
        ("reduction", KW, "mean"), ("chunk_size", KW, 1024), ("token_chunk_size", KW, 512),
        ("axis_name", KW, None), ("class_axis_name", KW, None), ("return_aux", KW, False),
    ],
    "binary_cross_entropy_with_logits": [
        ("logits", POS, None), ("targets", POS, None), ("pos_weight", KW, None),
        ("weights", KW, None), ("label_smoothing", KW, 0.0), ("reduction", KW, "mean"),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    # issue 11: PyTorch's names, tensors positional as PyTorch names them (input, target, var).
    "binary_cross_entropy": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "l1_loss": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "mse_loss": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "huber_loss": [
        ("input", POS, None), ("target", POS, None), ("delta", KW, 1.0), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "smooth_l1_loss": [
        ("input", POS, None), ("target", POS, None), ("beta", KW, 1.0),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "poisson_nll_loss": [
        ("input", POS, None), ("target", POS, None), ("log_input", KW, True), ("full", KW, False),
        ("eps", KW, 1e-8), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "gaussian_nll_loss": [
        ("input", POS, None), ("target", POS, None), ("var", POS, None), ("full", KW, False),
        ("eps", KW, 1e-6), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "sigmoid_focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("alpha", KW, 0.25), ("gamma", KW, 2.0),
        ("pos_weight", KW, None), ("class_weights", KW, None), ("reduction", KW, "mean"),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    # issue 12, item 2: the authors' defaults (Alibaba-MIIL/ASL AsymmetricLoss).
    "asymmetric_loss": [
        ("logits", POS, None), ("targets", POS, None), ("gamma_pos", KW, 1.0),
        ("gamma_neg", KW, 4.0), ("clip", KW, 0.05), ("reduction", KW, "mean"),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "logit_adjusted_cross_entropy": [
        ("logits", POS, None), ("targets", POS, None), ("class_priors", KW, None),
        ("tau", KW, 1.0), ("class_weights", KW, None), ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "ldam_loss": [
        ("logits", POS, None), ("targets", POS, None), ("class_counts", KW, None),
        ("max_margin", KW, 0.5), ("scale", KW, 30.0), ("class_weights", KW, None),
        ("ignore_index", KW, -100), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "poly1_cross_entropy": [
        ("logits", POS, None), ("targets", POS, None), ("epsilon", KW, 2.0),
        ("class_weights", KW, None), ("ignore_index", KW, -100), ("label_smoothing", KW, 0.0),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "kl_div": [
        ("input", POS, None), ("target", POS, None), ("reduction", KW, "mean"),
        ("log_target", KW, False), ("where", KW, None), ("axis_name", KW, None),
    ],
    "jensen_shannon_divergence": [
        ("log_p", POS, None), ("log_q", POS, None), ("beta", KW, 0.5),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "distillation_loss": [
        ("student_logits", POS, None), ("teacher_logits", POS, None), ("temperature", KW, None),
        ("targets", KW, None), ("hard_weight", KW, 0.0), ("ignore_index", KW, -100),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "class_counts": [
        ("targets", POS, None), ("num_classes", POS, None), ("ignore_index", KW, -100),
    ],
    "class_weights_from_counts": [
        ("counts", POS, None), ("method", KW, "balanced"), ("beta", KW, 0.9999),
    ],
}


def test_core_signatures():
    for name, expected in SIGNATURES.items():
        params = inspect.signature(getattr(jaxloss, name)).parameters.values()
        got = [
            (p.name, p.kind, None if p.default is inspect.Parameter.empty else p.default)
            for p in params
        ]
        assert got == expected, name
