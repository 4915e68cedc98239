"""Classification metrics from labels and predictions (NumPy, on the host)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, shape (num_classes, num_classes): row = true class, column = predicted."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(preds)), 1)
    return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros(num.shape, np.float64), where=den > 0)


def classification_report(
    labels: np.ndarray,
    preds: np.ndarray,
    num_classes: int,
    *,
    minority_classes: Sequence[int] = (),
) -> dict:
    """Accuracy, per-class precision/recall/F1, their macro averages, the confusion matrix.

    Precision, recall and F1 of a class that is never predicted (or absent) are 0, as
    scikit-learn's ``zero_division=0``. ``minority_recall`` is the mean recall over
    ``minority_classes`` (None when empty); ``worst_recall`` the lowest class recall.
    """
    cm = confusion_matrix(labels, preds, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    precision = _ratio(tp, cm.sum(axis=0).astype(np.float64))
    recall = _ratio(tp, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    minority = sorted(set(minority_classes))
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "minority_classes": minority,
        "minority_recall": float(recall[minority].mean()) if minority else None,
        "worst_recall": float(recall.min()),
        "per_class": [
            {
                "class": c,
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c in range(num_classes)
        ],
        "confusion_matrix": cm.tolist(),
    }
