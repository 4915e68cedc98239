"""jaxloss: pure, jit-compiled loss functions (classification, segmentation, regression) in JAX.

PyTorch's semantics where PyTorch has them, optax's style, clear errors at trace time.
"""

from jaxloss._binary import asymmetric_loss as asymmetric_loss
from jaxloss._binary import binary_cross_entropy as binary_cross_entropy
from jaxloss._binary import (
    binary_cross_entropy_with_logits as binary_cross_entropy_with_logits,
)
from jaxloss._binary import sigmoid_focal_loss as sigmoid_focal_loss
from jaxloss._checked import checked as checked
from jaxloss._class_weights import class_counts as class_counts
from jaxloss._class_weights import class_weights_from_counts as class_weights_from_counts
from jaxloss._classification import cross_entropy as cross_entropy
from jaxloss._classification import focal_loss as focal_loss
from jaxloss._classification import nll_loss as nll_loss
from jaxloss._contrastive import clip_loss as clip_loss
from jaxloss._contrastive import siglip_loss as siglip_loss
from jaxloss._detection import complete_box_iou_loss as complete_box_iou_loss
from jaxloss._detection import distance_box_iou_loss as distance_box_iou_loss
from jaxloss._detection import distribution_focal_loss as distribution_focal_loss
from jaxloss._detection import generalized_box_iou_loss as generalized_box_iou_loss
from jaxloss._detection import quality_focal_loss as quality_focal_loss
from jaxloss._detection import varifocal_loss as varifocal_loss
from jaxloss._distance import distance_transform_edt as distance_transform_edt
from jaxloss._divergence import distillation_loss as distillation_loss
from jaxloss._divergence import jensen_shannon_divergence as jensen_shannon_divergence
from jaxloss._divergence import kl_div as kl_div
from jaxloss._imbalance import ldam_loss as ldam_loss
from jaxloss._imbalance import logit_adjusted_cross_entropy as logit_adjusted_cross_entropy
from jaxloss._imbalance import poly1_cross_entropy as poly1_cross_entropy
from jaxloss._linear import linear_cross_entropy as linear_cross_entropy
from jaxloss._lovasz import lovasz_hinge_loss as lovasz_hinge_loss
from jaxloss._lovasz import lovasz_softmax_loss as lovasz_softmax_loss
from jaxloss._margin import cosine_embedding_loss as cosine_embedding_loss
from jaxloss._margin import hinge_embedding_loss as hinge_embedding_loss
from jaxloss._margin import margin_ranking_loss as margin_ranking_loss
from jaxloss._margin import multi_margin_loss as multi_margin_loss
from jaxloss._margin import multilabel_margin_loss as multilabel_margin_loss
from jaxloss._margin import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from jaxloss._margin import soft_margin_loss as soft_margin_loss
from jaxloss._margin import triplet_margin_loss as triplet_margin_loss
from jaxloss._margin import triplet_margin_with_distance_loss as triplet_margin_with_distance_loss
from jaxloss._penalties import l1_penalty as l1_penalty
from jaxloss._penalties import l2_penalty as l2_penalty
from jaxloss._regression import gaussian_nll_loss as gaussian_nll_loss
from jaxloss._regression import huber_loss as huber_loss
from jaxloss._regression import l1_loss as l1_loss
from jaxloss._regression import mse_loss as mse_loss
from jaxloss._regression import poisson_nll_loss as poisson_nll_loss
from jaxloss._regression import smooth_l1_loss as smooth_l1_loss
from jaxloss._segmentation import dice_cross_entropy_loss as dice_cross_entropy_loss
from jaxloss._segmentation import dice_focal_loss as dice_focal_loss
from jaxloss._segmentation import dice_loss as dice_loss
from jaxloss._segmentation import generalized_dice_loss as generalized_dice_loss
from jaxloss._segmentation import jaccard_loss as jaccard_loss
from jaxloss._segmentation import mcc_loss as mcc_loss
from jaxloss._segmentation import tversky_loss as tversky_loss
from jaxloss._sequence import ctc_loss as ctc_loss
from jaxloss._shape import boundary_loss as boundary_loss
from jaxloss._shape import hausdorff_dt_loss as hausdorff_dt_loss
from jaxloss._shape import log_hausdorff_dt_loss as log_hausdorff_dt_loss
from jaxloss._shape import soft_cldice_loss as soft_cldice_loss
from jaxloss._shape import soft_dice_cldice_loss as soft_dice_cldice_loss

__version__ = "0.1.0"

__all__ = [
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
