"""Configuration of one MNIST training run; the defaults are the recipe.

The recipe is the classic PyTorch tutorial setup, so results compare: an MLP
784-128-64-10 with ReLU, Adam with learning rate 1e-3, batch size 64, 5 epochs,
pixels scaled to [0, 1] and then normalised with mean 0.5 and std 0.5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

LOSSES = ("ce", "weighted_ce", "focal", "ce_l1", "logit_adjusted", "ldam", "poly1")
CLASS_WEIGHT_METHODS = ("none", "balanced", "inverse", "inverse_sqrt", "effective_number")
# Hyperparameters that `sweep` can vary inside one vmapped program.
SWEEPABLE = (
    "gamma",
    "label_smoothing",
    "l1",
    "tau",
    "max_margin",
    "scale",
    "epsilon",
    "learning_rate",
    "seed",
)
# The loss hyperparameters each loss uses (besides class weights); only these are recorded.
LOSS_HYPERPARAMETERS = {
    "ce": ("label_smoothing",),
    "weighted_ce": ("label_smoothing",),
    "focal": ("gamma", "label_smoothing"),
    "ce_l1": ("l1", "label_smoothing"),
    "logit_adjusted": ("tau", "label_smoothing"),
    "ldam": ("max_margin", "scale", "drw_epoch"),  # ldam_loss has no label smoothing
    "poly1": ("epsilon", "label_smoothing"),
}
# The share of the epochs trained before LDAM's deferred re-weighting starts, by default
# (Cao et al. 2019 re-weight from epoch 160 of 200).
DRW_FRACTION = 0.8
SCHEDULES = ("constant", "cosine")
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that determines a run. Defaults reproduce the recipe.

    Attributes:
      loss: one of ``LOSSES``. ``weighted_ce`` is cross-entropy whose class weights
        default to ``balanced``; ``ce_l1`` adds ``l1 * jaxloss.l1_penalty`` of the
        weight matrices (biases are not penalised).
      gamma: focusing parameter of ``focal``.
      label_smoothing: label smoothing for every loss but ``ldam``, in [0, 1].
      tau: temperature of ``logit_adjusted`` (``jaxloss.logit_adjusted_cross_entropy``;
        the priors are the training split's class frequencies; 1 is balanced softmax).
      max_margin, scale: the rarest class's margin and the logit scale of ``ldam``
        (``jaxloss.ldam_loss``, margins from the training split's class counts). ``ldam``
        trains the authors' cosine classifier: the last layer's output is the cosine of
        the normalised features and the normalised class weights, no bias.
      drw_epoch: LDAM-DRW's deferred re-weighting: the first ``drw_epoch`` epochs of
        ``ldam`` train without class weights, the rest with ``class_weights`` (default
        ``effective_number`` with ``beta`` 0.9999, the paper's). None: the last 20% of
        the epochs, ``floor(0.8 * num_epochs)``, but at least the last epoch
        (``drw_start``). ``drw_epoch = num_epochs`` turns it off (LDAM alone).
      epsilon: the Poly-1 coefficient of ``poly1`` (``jaxloss.poly1_cross_entropy``).
      class_weights: one of ``CLASS_WEIGHT_METHODS``, or None for the loss's default
        (``balanced`` for ``weighted_ce``, ``effective_number`` for ``ldam``, from
        ``drw_epoch`` on, ``none`` otherwise). Weights come from the class counts of the
        training split after ``imbalance``.
      beta: beta of the ``effective_number`` class weights (Cui et al. 2019).
      l1: coefficient of the L1 penalty of ``ce_l1``.
      hidden: widths of the hidden layers.
      learning_rate, batch_size, num_epochs, seed: the optimiser recipe; ``seed`` picks
        the initialisation and the shuffling.
      schedule: ``constant`` (the recipe) or ``cosine`` (the learning rate decays to 0
        over the run, a cosine; steadier final accuracy).
      mean, std: input normalisation after scaling pixels to [0, 1].
      imbalance: fraction of the training examples of ``minority_classes`` that is
        kept (1.0 keeps all). The test split is never changed.
      minority_classes: classes thinned out by ``imbalance``.
      data_seed: seed of the ``imbalance`` subsampling, fixed apart from ``seed`` so
        that runs with different seeds or losses see the same split.
      max_train, max_test: keep only the first N examples of a split (for quick tests).
      eval_batch_size: batch size of evaluation (rounded up to the device count).
      data_dir: folder with the four MNIST ``.gz`` files (see ``data.find_mnist``).
      download: download missing files into the cache folder.
    """

    loss: str = "ce"
    gamma: float = 2.0
    label_smoothing: float = 0.0
    class_weights: str | None = None
    beta: float = 0.9999
    l1: float = 1e-5
    tau: float = 1.0
    max_margin: float = 0.5
    scale: float = 30.0
    drw_epoch: int | None = None
    epsilon: float = 2.0
    hidden: tuple[int, ...] = (128, 64)
    learning_rate: float = 1e-3
    schedule: str = "constant"
    batch_size: int = 64
    num_epochs: int = 5
    seed: int = 0
    mean: float = 0.5
    std: float = 0.5
    imbalance: float = 1.0
    minority_classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    data_seed: int = 0
    max_train: int | None = None
    max_test: int | None = None
    eval_batch_size: int = 2000
    data_dir: Path | None = None
    download: bool = True

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}.")
        if self.class_weights is not None and self.class_weights not in CLASS_WEIGHT_METHODS:
            raise ValueError(
                f"class_weights must be one of {CLASS_WEIGHT_METHODS}, got {self.class_weights!r}."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}.")
        if not 0.0 < self.imbalance <= 1.0:
            raise ValueError(
                f"imbalance is the fraction of minority-class examples kept and must be in "
                f"(0, 1], got {self.imbalance}."
            )
        bad = [c for c in self.minority_classes if not 0 <= c < NUM_CLASSES]
        if bad:
            raise ValueError(f"minority_classes must be in 0..{NUM_CLASSES - 1}, got {bad}.")
        for name in ("batch_size", "num_epochs", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.drw_epoch is not None and not 0 <= self.drw_epoch <= self.num_epochs:
            raise ValueError(
                f"drw_epoch is the number of epochs before LDAM's deferred re-weighting and "
                f"must be in 0..{self.num_epochs} (num_epochs: no re-weighting), got "
                f"{self.drw_epoch}."
            )
        if self.loss == "ldam" and self.label_smoothing != 0:
            raise ValueError(
                f"--loss ldam has no label smoothing (jaxloss.ldam_loss defines none, as the "
                f"paper), got label_smoothing={self.label_smoothing:g}; set it to 0."
            )

    @property
    def class_weight_method(self) -> str:
        """The class weights actually used, after the loss's default."""
        if self.class_weights is not None:
            return self.class_weights
        return {"weighted_ce": "balanced", "ldam": "effective_number"}.get(self.loss, "none")

    @property
    def drw_start(self) -> int:
        """The first epoch (0-based) trained with the class weights.

        0 for every loss but ``ldam``, whose weights are deferred (LDAM-DRW): by default
        to ``floor(0.8 * num_epochs)``, and never past the last epoch.
        """
        if self.loss != "ldam":
            return 0
        if self.drw_epoch is not None:
            return self.drw_epoch
        return min(int(DRW_FRACTION * self.num_epochs), self.num_epochs - 1)

    @property
    def hyperparameters(self) -> dict:
        """The loss hyperparameters that this run's loss uses, with their values."""
        out = {k: getattr(self, k) for k in LOSS_HYPERPARAMETERS[self.loss]}
        if "drw_epoch" in out:
            out["drw_epoch"] = self.drw_start
        if self.class_weight_method == "effective_number":
            out["beta"] = self.beta
        return out

    @property
    def name(self) -> str:
        """A short label of the loss configuration, for tables and plot legends."""
        parts = [self.loss]
        if self.loss == "focal":
            parts.append(f"gamma={self.gamma:g}")
        if self.loss == "ce_l1":
            parts.append(f"l1={self.l1:g}")
        if self.loss == "logit_adjusted":
            parts.append(f"tau={self.tau:g}")
        if self.loss == "ldam":
            parts.append(f"m={self.max_margin:g} s={self.scale:g}")
        if self.loss == "poly1":
            parts.append(f"eps={self.epsilon:g}")
        if self.label_smoothing:
            parts.append(f"ls={self.label_smoothing:g}")
        method = self.class_weight_method
        default = {"weighted_ce": "balanced", "ldam": "effective_number"}.get(self.loss)
        if method != "none" and method != default:
            parts.append(f"w={method}")
        if self.loss == "ldam":
            # drw=N: N epochs before the deferred re-weighting (--drw-epoch N)
            drw = method != "none" and self.drw_start < self.num_epochs
            parts.append(f"drw={self.drw_start}" if drw else "no drw")
        return " ".join(parts)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The configuration, with only the loss hyperparameters that the loss uses."""
        d = dataclasses.asdict(self)
        unused = {k for ks in LOSS_HYPERPARAMETERS.values() for k in ks} | {"beta"}
        d = {k: v for k, v in d.items() if k not in unused}
        loss_at = list(d).index("loss") + 1
        items = list(d.items())
        d = dict(items[:loss_at] + list(self.hyperparameters.items()) + items[loss_at:])
        d["data_dir"] = None if self.data_dir is None else str(self.data_dir)
        d["class_weights"] = self.class_weight_method
        return d
