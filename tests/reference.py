"""Float64 NumPy references for every jaxloss loss, transcribed from the formulas.

Written from ``/work/shared/SEMANTICS.md`` (measured PyTorch/torchvision semantics) and the
issue text, never from jaxloss: this module must not import jaxloss. Loops are used where they
read more clearly than vectorised code; speed does not matter here, inputs are small.

Conventions shared by every reference:

* Inputs are converted to float64; the class axis is moved last and the elements flattened.
* Masks select with ``np.where``, never by multiplication (``nan * False`` is NaN in NumPy).
* jaxloss's deliberate differences from PyTorch are encoded, each marked "jaxloss:" below:
  an all-ignored "mean" is 0.0; a class with a ``-inf`` logit gets no smoothing mass (and no
  loss where the target puts no mass on it: 0 log 0 = 0); a non-ignored out-of-range integer
  label gives NaN for that element.

Sections (one per family; add new families at the end under their own header):

1. helpers
2. softmax classification: cross_entropy, nll_loss, focal_loss
3. binary: binary_cross_entropy, sigmoid_focal_loss
4. class weights: class_counts, class_weights_from_counts
"""

from __future__ import annotations

import numpy as np

# =============================================================================================
# 1. Helpers
# =============================================================================================


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def log_softmax(x, axis=-1):
    """Float64 log-softmax; a ``-inf`` logit gives log-probability ``-inf`` (not NaN)."""
    x = _f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    shifted = x - m
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def logsumexp(x, axis=-1):
    x = _f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -log1p(exp(-x))``, stable for either sign."""
    x = _f64(x)
    return np.where(x >= 0, -np.log1p(np.exp(-np.abs(x))), x - np.log1p(np.exp(-np.abs(x))))


def sigmoid(x):
    return np.exp(log_sigmoid(x))


def _elements(x, axis):
    """Moves the class axis of ``x`` last and flattens the rest: (M, C), and the element shape."""
    x = _f64(x)
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]


def _element_mask(where, element_shape):
    if where is None:
        return np.ones(int(np.prod(element_shape, dtype=np.int64)), dtype=bool)
    return np.broadcast_to(np.asarray(where, dtype=bool), element_shape).reshape(-1)


def _reduce(per, denominator, reduction, element_shape):
    """"none" -> per-element array; "sum" -> sum; "mean" -> sum / sum(denominator).

    jaxloss: a zero denominator (every element ignored or masked) gives a "mean" of 0.0.
    """
    if reduction == "none":
        return per.reshape(element_shape)
    total = np.sum(per)
    if reduction == "sum":
        return total
    if reduction == "mean":
        count = np.sum(denominator)
        return 0.0 if count == 0 else total / count
    raise ValueError(reduction)


# =============================================================================================
# 2. Softmax classification: cross_entropy, nll_loss, focal_loss
# =============================================================================================


def _focal_term(logp, gamma):
    """``-(1 - p)**gamma * log p`` for a finite log-probability (``-log p`` when gamma is None).

    ``1 - p`` is computed as ``-expm1(log p)`` so that it stays accurate where p is near 1.
    NumPy's ``0.0 ** 0.0 == 1``, so gamma = 0 is exactly the negative log-likelihood.
    """
    if gamma is None:
        return -logp
    return -((-np.expm1(logp)) ** gamma) * logp


def softmax_loss(
    logits,
    targets,
    *,
    gamma=None,
    class_weights=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    reduction="mean",
    axis=-1,
    where=None,
    log_probs=False,
):
    """The shared reference of cross_entropy (gamma None), focal_loss and nll_loss.

    Integer targets, with l = log_softmax(x), w the class weights, eps the smoothing, C classes,
    f_c = -(1 - p_c)**gamma * log p_c (f_c = -log p_c for cross-entropy):

        per_i = m_i [ (1 - eps) w[y_i] f_{y_i} + (eps / C) sum_c w_c f_c ] + z m_i lse_i**2
        "mean" = sum_i per_i / sum_i m_i w[y_i]

    Probability targets p: q = (1 - eps) p + eps / C, per_i = -sum_c w_c q_ic f_ic,
    "mean" divides by the number of kept elements.
    """
    x, element_shape = _elements(logits, axis)
    num_elements, num_classes = x.shape
    w = np.ones(num_classes) if class_weights is None else _f64(class_weights)
    eps = float(label_smoothing)
    keep = _element_mask(where, element_shape)
    logp = x if log_probs else log_softmax(x, axis=-1)
    lse = None if log_probs else logsumexp(x, axis=-1)

    targets = np.asarray(targets)
    per = np.zeros(num_elements)
    if np.issubdtype(targets.dtype, np.integer):
        y = targets.reshape(-1)
        denominator = np.zeros(num_elements)
        for i in range(num_elements):
            if y[i] == ignore_index or not keep[i]:
                continue
            if not 0 <= y[i] < num_classes:
                # jaxloss: a non-ignored out-of-range label is NaN, never wrapped or clamped.
                per[i] = np.nan
                denominator[i] = 1.0
                continue
            c_y = int(y[i])
            value = (1.0 - eps) * w[c_y] * _focal_term(logp[i, c_y], gamma)
            if eps != 0.0:
                smooth = 0.0
                for c in range(num_classes):
                    # jaxloss: a class with a -inf logit gets no smoothing mass (0 log 0 = 0).
                    if np.isneginf(logp[i, c]):
                        continue
                    smooth += w[c] * _focal_term(logp[i, c], gamma)
                value += eps / num_classes * smooth
            if z_loss != 0.0:
                value += z_loss * lse[i] ** 2
            per[i] = value
            denominator[i] = w[c_y]
        return _reduce(per, denominator, reduction, element_shape)

    if ignore_index != -100 or log_probs:
        raise ValueError("probability targets take neither ignore_index nor log_probs")
    p, _ = _elements(targets, axis)
    for i in range(num_elements):
        if not keep[i]:
            continue
        value = 0.0
        for c in range(num_classes):
            if np.isneginf(logp[i, c]):
                # jaxloss: 0 log 0 = 0 where the target has no mass; smoothing skips the class.
                value += 0.0 if p[i, c] == 0 else np.inf
                continue
            q = (1.0 - eps) * p[i, c] + eps / num_classes
            value += w[c] * q * _focal_term(logp[i, c], gamma)
        if z_loss != 0.0:
            value += z_loss * lse[i] ** 2
        per[i] = value
    return _reduce(per, keep.astype(np.float64), reduction, element_shape)


def cross_entropy(logits, targets, **kwargs):
    """PyTorch ``F.cross_entropy`` (integer or probability targets, any class axis)."""
    return softmax_loss(logits, targets, gamma=None, **kwargs)


def nll_loss(log_probs, targets, **kwargs):
    """PyTorch ``F.nll_loss``: the cross-entropy rules applied to given log-probabilities."""
    return softmax_loss(log_probs, targets, gamma=None, log_probs=True, **kwargs)


def focal_loss(logits, targets, *, gamma=2.0, **kwargs):
    """Softmax focal loss: per element -sum_c q_c w_c (1 - p_c)**gamma log p_c, normalised
    exactly like cross_entropy (so gamma = 0 is cross_entropy)."""
    return softmax_loss(logits, targets, gamma=float(gamma), **kwargs)


# =============================================================================================
# 3. Binary: binary_cross_entropy, sigmoid_focal_loss
# =============================================================================================


def _xlogy(y, log_p):
    """``y * log_p`` with ``0 * (-inf) = 0``."""
    return np.where(y == 0, 0.0, y * log_p)


def _binary_reduce(per, where, reduction):
    per = _f64(per)
    if where is None:
        mask = np.ones(per.shape, dtype=bool)
    else:
        mask = np.broadcast_to(np.asarray(where, dtype=bool), per.shape)
    per = np.where(mask, per, 0.0)
    return _reduce(per.reshape(-1), mask.reshape(-1).astype(np.float64), reduction, per.shape)


def bce_elementwise(logits, targets, pos_weight=None, weights=None):
    """l = -weight * [pos_weight * y * log_sigmoid(x) + (1 - y) * log_sigmoid(-x)]."""
    x = _f64(logits)
    y = _f64(targets)
    pw = 1.0 if pos_weight is None else np.broadcast_to(_f64(pos_weight), x.shape)
    wt = 1.0 if weights is None else np.broadcast_to(_f64(weights), x.shape)
    return -wt * (pw * _xlogy(y, log_sigmoid(x)) + _xlogy(1.0 - y, log_sigmoid(-x)))


def binary_cross_entropy(
    logits, targets, *, pos_weight=None, weights=None, reduction="mean", where=None
):
    """PyTorch ``F.binary_cross_entropy_with_logits``; "mean" is the plain mean over elements."""
    per = bce_elementwise(logits, targets, pos_weight, weights)
    return _binary_reduce(per, where, reduction)


def sigmoid_focal_loss(logits, targets, *, alpha=0.25, gamma=2.0, reduction="mean", where=None):
    """torchvision ``ops.sigmoid_focal_loss``:

    ce = BCE(x, y); p_t = p y + (1 - p)(1 - y); loss = ce (1 - p_t)**gamma;
    loss *= alpha y + (1 - alpha)(1 - y) unless alpha is None.

    ``1 - p_t`` is written ``y (1 - p) + (1 - y) p`` with ``1 - p = sigmoid(-x)``, which is the
    same quantity without the cancellation of ``1 - p_t`` at saturated logits.
    """
    x = _f64(logits)
    y = _f64(targets)
    ce = bce_elementwise(x, y)
    one_minus_pt = y * sigmoid(-x) + (1.0 - y) * sigmoid(x)
    per = ce * one_minus_pt ** float(gamma)
    if alpha is not None:
        per = (alpha * y + (1.0 - alpha) * (1.0 - y)) * per
    return _binary_reduce(per, where, reduction)


# =============================================================================================
# 4. Class weights: class_counts, class_weights_from_counts
# =============================================================================================


def class_counts(targets, num_classes, *, ignore_index=-100):
    counts = np.zeros(num_classes, dtype=np.int64)
    for label in np.asarray(targets).reshape(-1):
        if label == ignore_index:
            continue
        counts[label] += 1
    return counts


def class_weights_from_counts(counts, *, method="balanced", beta=0.9999):
    """Per-class weights; a class with count 0 gets weight 0.

    balanced:          n / (C * n_c)  (scikit-learn's compute_class_weight("balanced")).
    inverse:           1 / n_c, normalised to mean 1 over the present classes.
    inverse_sqrt:      1 / sqrt(n_c), normalised to mean 1 over the present classes.
    effective_number:  (1 - beta) / (1 - beta**n_c), normalised to sum to the number of present
                       classes (Cui et al., 2019).
    """
    n = _f64(counts)
    num_classes = n.shape[0]
    total = np.sum(n)
    raw = np.zeros(num_classes)
    for c in range(num_classes):
        if n[c] == 0:
            continue
        if method == "balanced":
            raw[c] = total / (num_classes * n[c])
        elif method == "inverse":
            raw[c] = 1.0 / n[c]
        elif method == "inverse_sqrt":
            raw[c] = 1.0 / np.sqrt(n[c])
        elif method == "effective_number":
            raw[c] = (1.0 - beta) / (1.0 - beta ** n[c])
        else:
            raise ValueError(method)
    if method == "balanced":
        return raw
    num_present = np.count_nonzero(n)
    if num_present == 0:
        return raw  # every count 0: every weight 0
    return raw * num_present / np.sum(raw)
