"""Configuration of one MNIST training run; the defaults are the recipe.

The recipe is the classic PyTorch tutorial setup, so results compare: an MLP
784-128-64-10 with ReLU, Adam with learning rate 1e-3, batch size 64, 5 epochs,
pixels scaled to [0, 1] and then normalised with mean 0.5 and std 0.5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

LOSSES = ("ce", "weighted_ce", "focal", "ce_l1")
CLASS_WEIGHT_METHODS = ("none", "balanced", "inverse", "inverse_sqrt", "effective_number")
# Hyperparameters that `sweep` can vary inside one vmapped program.
SWEEPABLE = ("gamma", "label_smoothing", "l1", "learning_rate", "seed")
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
      label_smoothing: label smoothing for every loss, in [0, 1].
      class_weights: one of ``CLASS_WEIGHT_METHODS``, or None for the loss's default
        (``balanced`` for ``weighted_ce``, ``none`` otherwise). Weights come from the
        class counts of the training split after ``imbalance``.
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

    @property
    def class_weight_method(self) -> str:
        """The class weights actually used, after the loss's default."""
        if self.class_weights is not None:
            return self.class_weights
        return "balanced" if self.loss == "weighted_ce" else "none"

    @property
    def name(self) -> str:
        """A short label of the loss configuration, for tables and plot legends."""
        parts = [self.loss]
        if self.loss == "focal":
            parts.append(f"gamma={self.gamma:g}")
        if self.loss == "ce_l1":
            parts.append(f"l1={self.l1:g}")
        if self.label_smoothing:
            parts.append(f"ls={self.label_smoothing:g}")
        method = self.class_weight_method
        if method != "none" and not (self.loss == "weighted_ce" and method == "balanced"):
            parts.append(f"w={method}")
        return " ".join(parts)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["data_dir"] = None if self.data_dir is None else str(self.data_dir)
        d["class_weights"] = self.class_weight_method
        return d
