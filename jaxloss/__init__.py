"""jaxloss: pure, jit-compiled loss functions for classification and segmentation in JAX.

PyTorch's semantics where PyTorch has them, optax's style, clear errors at trace time.
"""

from jaxloss._binary import binary_cross_entropy as binary_cross_entropy
from jaxloss._binary import sigmoid_focal_loss as sigmoid_focal_loss
from jaxloss._checked import checked as checked
from jaxloss._class_weights import class_counts as class_counts
from jaxloss._class_weights import class_weights_from_counts as class_weights_from_counts
from jaxloss._classification import cross_entropy as cross_entropy
from jaxloss._classification import focal_loss as focal_loss
from jaxloss._classification import nll_loss as nll_loss
from jaxloss._linear import linear_cross_entropy as linear_cross_entropy
from jaxloss._penalties import l1_penalty as l1_penalty
from jaxloss._penalties import l2_penalty as l2_penalty
from jaxloss._segmentation import dice_cross_entropy_loss as dice_cross_entropy_loss
from jaxloss._segmentation import dice_loss as dice_loss
from jaxloss._segmentation import tversky_loss as tversky_loss
from jaxloss._sequence import ctc_loss as ctc_loss

__version__ = "0.1.0"

__all__ = [
    "binary_cross_entropy",
    "checked",
    "class_counts",
    "class_weights_from_counts",
    "cross_entropy",
    "ctc_loss",
    "dice_cross_entropy_loss",
    "dice_loss",
    "focal_loss",
    "l1_penalty",
    "l2_penalty",
    "linear_cross_entropy",
    "nll_loss",
    "sigmoid_focal_loss",
    "tversky_loss",
]
