"""The public API is pinned: an API change must edit this file, so it is always deliberate."""

import inspect
import pathlib
import types

import jaxloss

EXPECTED_ALL = [
    "asymmetric_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "boundary_loss",
    "checked",
    "class_counts",
    "class_weights_from_counts",
    "clip_loss",
    "complete_box_iou_loss",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "dice_cross_entropy_loss",
    "dice_focal_loss",
    "dice_loss",
    "distance_box_iou_loss",
    "distance_transform_edt",
    "distillation_loss",
    "distribution_focal_loss",
    "focal_loss",
    "gaussian_nll_loss",
    "generalized_box_iou_loss",
    "generalized_dice_loss",
    "hausdorff_dt_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "jaccard_loss",
    "jensen_shannon_divergence",
    "kl_div",
    "l1_loss",
    "l1_penalty",
    "l2_penalty",
    "ldam_loss",
    "linear_cross_entropy",
    "log_hausdorff_dt_loss",
    "logit_adjusted_cross_entropy",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "margin_ranking_loss",
    "mcc_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "poly1_cross_entropy",
    "quality_focal_loss",
    "siglip_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "soft_cldice_loss",
    "soft_dice_cldice_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "tversky_loss",
    "varifocal_loss",
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
        ("weights", KW, None), ("ignore_index", KW, -100), ("label_smoothing", KW, 0.0),
        ("z_loss", KW, 0.0), ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None), ("class_axis_name", KW, None),
    ],
    "nll_loss": [
        ("log_probs", POS, None), ("targets", POS, None), ("class_weights", KW, None),
        ("weights", KW, None), ("ignore_index", KW, -100), ("reduction", KW, "mean"),
        ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
        ("class_axis_name", KW, None),
    ],
    "focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("gamma", KW, 2.0),
        ("class_weights", KW, None), ("weights", KW, None), ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None), ("class_axis_name", KW, None),
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
        ("input", POS, None), ("target", POS, None), ("beta", KW, 1.0), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "poisson_nll_loss": [
        ("input", POS, None), ("target", POS, None), ("log_input", KW, True), ("full", KW, False),
        ("eps", KW, 1e-8), ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "gaussian_nll_loss": [
        ("input", POS, None), ("target", POS, None), ("var", POS, None), ("full", KW, False),
        ("eps", KW, 1e-6), ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "sigmoid_focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("alpha", KW, 0.25), ("gamma", KW, 2.0),
        ("pos_weight", KW, None), ("class_weights", KW, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    # issue 12, item 2: the authors' defaults (Alibaba-MIIL/ASL AsymmetricLoss).
    "asymmetric_loss": [
        ("logits", POS, None), ("targets", POS, None), ("gamma_pos", KW, 1.0),
        ("gamma_neg", KW, 4.0), ("clip", KW, 0.05), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "logit_adjusted_cross_entropy": [
        ("logits", POS, None), ("targets", POS, None), ("class_counts", KW, None), ("tau", KW, 1.0),
        ("class_weights", KW, None), ("weights", KW, None), ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
        ("class_axis_name", KW, None),
    ],
    "ldam_loss": [
        ("logits", POS, None), ("targets", POS, None), ("class_counts", KW, None),
        ("max_margin", KW, 0.5), ("scale", KW, 30.0), ("class_weights", KW, None),
        ("weights", KW, None), ("ignore_index", KW, -100), ("reduction", KW, "mean"),
        ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
        ("class_axis_name", KW, None),
    ],
    "poly1_cross_entropy": [
        ("logits", POS, None), ("targets", POS, None), ("epsilon", KW, 2.0),
        ("class_weights", KW, None), ("weights", KW, None), ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
        ("class_axis_name", KW, None),
    ],
    "kl_div": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("log_target", KW, False), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "jensen_shannon_divergence": [
        ("input", POS, None), ("target", POS, None), ("beta", KW, 0.5), ("weights", KW, None),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
    ],
    "distillation_loss": [
        ("student_logits", POS, None), ("teacher_logits", POS, None), ("temperature", KW, None),
        ("targets", KW, None), ("lambda_soft", KW, 1.0), ("lambda_hard", KW, 0.0),
        ("ignore_index", KW, -100), ("weights", KW, None), ("reduction", KW, "mean"),
        ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
        ("class_axis_name", KW, None),
    ],
    "ctc_loss": [
        ("log_probs", POS, None), ("targets", POS, None), ("input_lengths", POS, None),
        ("target_lengths", POS, None), ("blank", KW, 0), ("weights", KW, None),
        ("reduction", KW, "mean"), ("zero_infinity", KW, False), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    # issue 12, item 4: the Dice family (MONAI's and SMP's keyword names where they fix one).
    "dice_loss": [
        ("logits", POS, None), ("targets", POS, None), ("activation", KW, "softmax"),
        ("smooth", KW, 1e-5), ("class_weights", KW, None), ("ignore_index", KW, -100),
        ("include_background", KW, True), ("batch", KW, False), ("squared", KW, False),
        ("soft_label", KW, False), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "tversky_loss": [
        ("logits", POS, None), ("targets", POS, None), ("alpha", KW, 0.5), ("beta", KW, 0.5),
        ("gamma", KW, 1.0), ("activation", KW, "softmax"), ("smooth", KW, 1e-5),
        ("class_weights", KW, None), ("ignore_index", KW, -100),
        ("include_background", KW, True), ("batch", KW, False), ("squared", KW, False),
        ("soft_label", KW, False), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "generalized_dice_loss": [
        ("logits", POS, None), ("targets", POS, None), ("w_type", KW, "square"),
        ("activation", KW, "softmax"), ("smooth", KW, 1e-5), ("ignore_index", KW, -100),
        ("include_background", KW, True), ("batch", KW, False), ("soft_label", KW, False),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "dice_focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("activation", KW, "softmax"),
        ("gamma", KW, 2.0), ("alpha", KW, None), ("lambda_dice", KW, 1.0),
        ("lambda_focal", KW, 1.0), ("smooth", KW, 1e-5), ("class_weights", KW, None),
        ("weights", KW, None), ("ignore_index", KW, -100), ("include_background", KW, True),
        ("batch", KW, False), ("squared", KW, False), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    # issue 23, item 5: SMP's JaccardLoss with dice_loss's arguments, and SMP's MCCLoss.
    "jaccard_loss": [
        ("logits", POS, None), ("targets", POS, None), ("activation", KW, "softmax"),
        ("smooth", KW, 1e-5), ("eps", KW, 1e-7), ("log_loss", KW, False),
        ("absent", KW, "score"), ("class_weights", KW, None), ("ignore_index", KW, -100),
        ("include_background", KW, True), ("batch", KW, False), ("squared", KW, False),
        ("soft_label", KW, False), ("reduction", KW, "mean"), ("axis", KW, -1),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "mcc_loss": [
        ("input", POS, None), ("target", POS, None), ("eps", KW, 1e-5), ("batch", KW, True),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "lovasz_softmax_loss": [
        ("logits", POS, None), ("targets", POS, None), ("classes", KW, "present"),
        ("per_image", KW, False), ("ignore_index", KW, -100), ("reduction", KW, "mean"),
        ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
    ],
    "lovasz_hinge_loss": [
        ("logits", POS, None), ("targets", POS, None), ("per_image", KW, False),
        ("ignore_index", KW, -100), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "class_counts": [
        ("targets", POS, None), ("num_classes", POS, None), ("ignore_index", KW, -100),
    ],
    "class_weights_from_counts": [
        ("counts", POS, None), ("method", KW, "balanced"), ("beta", KW, 0.9999),
    ],
    # issue 11: margin, ranking and embedding losses (PyTorch's tensor names)
    "margin_ranking_loss": [
        ("input1", POS, None), ("input2", POS, None), ("target", POS, None), ("margin", KW, 0.0),
        ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "hinge_embedding_loss": [
        ("input", POS, None), ("target", POS, None), ("margin", KW, 1.0), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "soft_margin_loss": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "multilabel_soft_margin_loss": [
        ("input", POS, None), ("target", POS, None), ("class_weights", KW, None),
        ("weights", KW, None), ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "multi_margin_loss": [
        ("input", POS, None), ("target", POS, None), ("p", KW, 1), ("margin", KW, 1.0),
        ("class_weights", KW, None), ("weights", KW, None), ("reduction", KW, "mean"),
        ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
    ],
    "multilabel_margin_loss": [
        ("input", POS, None), ("target", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
    ],
    "cosine_embedding_loss": [
        ("input1", POS, None), ("input2", POS, None), ("target", POS, None), ("margin", KW, 0.0),
        ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "triplet_margin_loss": [
        ("anchor", POS, None), ("positive", POS, None), ("negative", POS, None),
        ("margin", KW, 1.0), ("p", KW, 2.0), ("eps", KW, 1e-6), ("swap", KW, False),
        ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "triplet_margin_with_distance_loss": [
        ("anchor", POS, None), ("positive", POS, None), ("negative", POS, None),
        ("distance_function", KW, None), ("margin", KW, 1.0), ("swap", KW, False),
        ("weights", KW, None), ("reduction", KW, "mean"), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    # issue 23: detection. torchvision's box losses (its "none" default and eps), mmdetection's
    # dense-detection classification losses (its defaults); jaxloss's weights/where/axis_name.
    "generalized_box_iou_loss": [
        ("boxes1", POS, None), ("boxes2", POS, None), ("eps", KW, 1e-7), ("weights", KW, None),
        ("reduction", KW, "none"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "distance_box_iou_loss": [
        ("boxes1", POS, None), ("boxes2", POS, None), ("eps", KW, 1e-7), ("weights", KW, None),
        ("reduction", KW, "none"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "complete_box_iou_loss": [
        ("boxes1", POS, None), ("boxes2", POS, None), ("eps", KW, 1e-7), ("weights", KW, None),
        ("reduction", KW, "none"), ("where", KW, None), ("axis_name", KW, None),
    ],
    "varifocal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("alpha", KW, 0.75), ("gamma", KW, 2.0),
        ("iou_weighted", KW, True), ("weights", KW, None), ("reduction", KW, "mean"),
        ("where", KW, None), ("axis_name", KW, None),
    ],
    "quality_focal_loss": [
        ("logits", POS, None), ("labels", POS, None), ("scores", POS, None), ("beta", KW, 2.0),
        ("weights", KW, None), ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None),
        ("axis_name", KW, None),
    ],
    "distribution_focal_loss": [
        ("logits", POS, None), ("targets", POS, None), ("weights", KW, None),
        ("reduction", KW, "mean"), ("axis", KW, -1), ("where", KW, None), ("axis_name", KW, None),
    ],
    # contrastive (issue 22): the scale and the bias are required where open_clip's are
    "clip_loss": [
        ("image_features", POS, None), ("text_features", POS, None), ("logit_scale", KW, None),
        ("logit_bias", KW, None), ("axis_name", KW, None),
    ],
    "siglip_loss": [
        ("image_features", POS, None), ("text_features", POS, None), ("logit_scale", KW, None),
        ("logit_bias", KW, None), ("axis_name", KW, None),
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
