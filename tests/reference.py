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
3. binary: binary_cross_entropy (probabilities), binary_cross_entropy_with_logits,
   sigmoid_focal_loss, asymmetric_loss (and the peers kornia, SMP and ASL's authors)
4. class weights: class_counts, class_weights_from_counts
5. segmentation (Dice family): dice_loss, tversky_loss, dice_cross_entropy_loss, MONAI and
   segmentation_models_pytorch DiceLoss
6. parameter penalties: l1_penalty, l2_penalty
7. regression: l1_loss, mse_loss, huber_loss, smooth_l1_loss, poisson_nll_loss,
   gaussian_nll_loss
8. imbalance-aware softmax losses: logit_adjusted_cross_entropy, ldam_loss, poly1_cross_entropy
9. divergences and distillation: kl_div, jensen_shannon_divergence, distillation_loss
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
                # jaxloss: the z-loss is weighted like the target's term (w_y).
                value += z_loss * w[c_y] * lse[i] ** 2
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
            # jaxloss: weighted by the target's effective class weight sum_c w_c p_c.
            value += z_loss * float(np.dot(w, p[i])) * lse[i] ** 2
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
# 3. Binary: binary_cross_entropy_with_logits, sigmoid_focal_loss
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


def binary_cross_entropy_with_logits(
    logits, targets, *, pos_weight=None, weights=None, label_smoothing=0.0, reduction="mean",
    where=None,
):
    """PyTorch ``F.binary_cross_entropy_with_logits``; "mean" is the plain mean over elements.

    ``label_smoothing`` is Keras's ``BinaryCrossentropy(label_smoothing=eps)`` (keras
    ``losses.py``: ``y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing``), applied to
    the targets before the loss.
    """
    eps = float(label_smoothing)
    y = _f64(targets) * (1.0 - eps) + 0.5 * eps
    per = bce_elementwise(logits, y, pos_weight, weights)
    return _binary_reduce(per, where, reduction)


def smp_soft_bce_with_logits(y_pred, y_true, *, smooth_factor):
    """segmentation_models_pytorch ``SoftBCEWithLogitsLoss(smooth_factor=s)`` ("mean"):
    ``soft_targets = (1 - y_true) * s + y_true * (1 - s)``, then PyTorch's BCE."""
    s = float(smooth_factor)
    y = _f64(y_true)
    soft = (1.0 - y) * s + y * (1.0 - s)
    return float(np.mean(bce_elementwise(y_pred, soft)))


def binary_cross_entropy(input, target, *, weights=None, reduction="mean", where=None):
    """PyTorch ``F.binary_cross_entropy`` on probabilities, from its documentation:

    l_n = -w_n [y_n log x_n + (1 - y_n) log(1 - x_n)], each log clamped to >= -100
    ("our solution is that BCELoss clamps its log function outputs to be greater than or equal
    to -100"); "mean" is the plain mean over the elements. An input outside [0, 1] has no log:
    NaN (PyTorch raises).
    """
    x = _f64(input)
    y = _f64(target)
    wt = 1.0 if weights is None else np.broadcast_to(_f64(weights), x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_x = np.maximum(np.log(x), -100.0)  # np.maximum keeps a NaN
        log_1mx = np.maximum(np.log1p(-x), -100.0)
    per = -wt * (y * log_x + (1.0 - y) * log_1mx)
    return _binary_reduce(per, where, reduction)


def sigmoid_focal_loss(
    logits, targets, *, alpha=0.25, gamma=2.0, pos_weight=None, class_weights=None,
    reduction="mean", where=None,
):
    """torchvision ``ops.sigmoid_focal_loss``:

    ce = BCE(x, y); p_t = p y + (1 - p)(1 - y); loss = ce (1 - p_t)**gamma;
    loss *= alpha y + (1 - alpha)(1 - y) unless alpha is None.

    ``1 - p_t`` is written ``y (1 - p) + (1 - y) p`` with ``1 - p = sigmoid(-x)``, which is the
    same quantity without the cancellation of ``1 - p_t`` at saturated logits.

    ``pos_weight`` and ``class_weights`` (jaxloss's extension, after kornia): ``ce`` is
    PyTorch's BCE with ``pos_weight``, and the loss is multiplied by ``class_weights``; both
    broadcast from the trailing axis. With 0/1 targets this is
    :func:`kornia_binary_focal_loss_with_logits`.
    """
    x = _f64(logits)
    y = _f64(targets)
    ce = bce_elementwise(x, y, pos_weight)
    one_minus_pt = y * sigmoid(-x) + (1.0 - y) * sigmoid(x)
    per = ce * one_minus_pt ** float(gamma)
    if alpha is not None:
        per = (alpha * y + (1.0 - alpha) * (1.0 - y)) * per
    if class_weights is not None:
        per = np.broadcast_to(_f64(class_weights), x.shape) * per
    return _binary_reduce(per, where, reduction)


def kornia_binary_focal_loss_with_logits(
    pred, target, *, alpha=0.25, gamma=2.0, pos_weight=None, weight=None, reduction="mean"
):
    """kornia 0.9 ``losses.binary_focal_loss_with_logits`` (kornia ``losses/focal.py``),
    channel-first ``pred`` (N, C, *), ``pos_weight`` and ``weight`` of shape (C,):

    pos = -alpha * pos_weight[c] * sigmoid(-x)**gamma * y * logsigmoid(x)
    neg = -(1 - alpha) * sigmoid(x)**gamma * (1 - y) * logsigmoid(-x)
    loss = weight[c] * (pos + neg); "mean" = torch.mean over every element.
    """
    x = _f64(pred)
    y = _f64(target)
    view = (-1,) + (1,) * (x.ndim - 2)
    pos = -sigmoid(-x) ** gamma * _xlogy(y, log_sigmoid(x))
    neg = -sigmoid(x) ** gamma * _xlogy(1.0 - y, log_sigmoid(-x))
    if alpha is not None:
        pos, neg = alpha * pos, (1.0 - alpha) * neg
    if pos_weight is not None:
        pos = _f64(pos_weight).reshape(view) * pos
    per = pos + neg
    if weight is not None:
        per = _f64(weight).reshape(view) * per
    return _reduce(per.reshape(-1), np.ones(per.size), reduction, per.shape)


def asymmetric_loss_authors(x, y, *, gamma_neg=4, gamma_pos=1, clip=0.05, eps=1e-8):
    """Ridnik et al.'s ``AsymmetricLoss.forward`` (Alibaba-MIIL/ASL,
    ``src/loss_functions/losses.py``) line by line, in float64; returns ``-loss.sum()``::

        xs_pos = sigmoid(x); xs_neg = 1 - sigmoid(x)
        if clip is not None and clip > 0: xs_neg = (xs_neg + clip).clamp(max=1)
        loss = y * log(xs_pos.clamp(min=eps)) + (1 - y) * log(xs_neg.clamp(min=eps))
        if gamma_neg > 0 or gamma_pos > 0:
            pt = xs_pos * y + xs_neg * (1 - y)
            loss *= (1 - pt) ** (gamma_pos * y + gamma_neg * (1 - y))
        return -loss.sum()
    """
    x = _f64(x)
    y = _f64(y)
    xs_pos = sigmoid(x)
    xs_neg = 1.0 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = np.minimum(xs_neg + clip, 1.0)
    loss = y * np.log(np.maximum(xs_pos, eps)) + (1.0 - y) * np.log(np.maximum(xs_neg, eps))
    if gamma_neg > 0 or gamma_pos > 0:
        pt = xs_pos * y + xs_neg * (1.0 - y)
        loss = loss * (1.0 - pt) ** (gamma_pos * y + gamma_neg * (1.0 - y))
    return -np.sum(loss)


def asymmetric_loss(
    logits, targets, *, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="mean", where=None
):
    """The authors' formula above per element, without the ``eps`` clamp (jaxloss: logs of
    the probabilities themselves), written so that float64 keeps it exact at saturated logits:
    ``log p = log_sigmoid(x)``, ``1 - p = sigmoid(-x)``, and ``1 - pt`` as
    ``y (1 - p) + (1 - y) max(p - clip, 0)`` (the same quantity: ``1 - xs_neg`` is
    ``max(p - clip, 0)``). ``0 * log 0 = 0``; ``0 ** 0 = 1``.
    """
    x = _f64(logits)
    y = _f64(targets)
    m = float(clip)
    p, q = sigmoid(x), sigmoid(-x)
    with np.errstate(divide="ignore"):
        log_xs_neg = log_sigmoid(-x) if m == 0 else np.log(np.minimum(q + m, 1.0))
    loss = _xlogy(y, log_sigmoid(x)) + _xlogy(1.0 - y, log_xs_neg)
    one_minus_pt = y * q + (1.0 - y) * np.maximum(p - m, 0.0)
    per = -loss * one_minus_pt ** (float(gamma_pos) * y + float(gamma_neg) * (1.0 - y))
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


# =============================================================================================
# 5. Segmentation (Dice family): dice_loss, tversky_loss, dice_cross_entropy_loss, and the
#    MONAI / segmentation_models_pytorch DiceLoss formulas they are compared with
# =============================================================================================


def _probs_and_onehot(logits, targets, *, activation, ignore_index, axis, where):
    """Channel-first float64 (N, C, M) predictions, targets and kept-pixel mask (N, M).

    Integer targets are one-hot encoded; a kept out-of-range label makes its pixel's target
    NaN (jaxloss: it poisons that sample instead of being silently all-zero).
    """
    x = _f64(logits)
    axis = axis % x.ndim
    x = np.moveaxis(x, axis, 1)
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1)
    if activation == "softmax":
        p = np.exp(log_softmax(x, axis=1))
    elif activation == "sigmoid":
        p = sigmoid(x)
    elif activation == "none":
        p = x
    else:
        raise ValueError(activation)
    targets = np.asarray(targets)
    pixel_shape = (n, x.shape[2])
    if np.issubdtype(targets.dtype, np.integer):
        y = targets.reshape(n, -1)
        keep = y != ignore_index
        t = np.zeros_like(p)
        for i in range(n):
            for m in range(y.shape[1]):
                if not keep[i, m]:
                    continue
                if 0 <= y[i, m] < c:
                    t[i, y[i, m], m] = 1.0
                else:
                    t[i, :, m] = np.nan
    else:
        t = np.moveaxis(_f64(targets), axis, 1).reshape(n, c, -1)
        keep = np.ones(pixel_shape, dtype=bool)
    if where is not None:
        full = np.broadcast_to(np.asarray(where, dtype=bool), _pixel_shape(logits, axis))
        keep = keep & full.reshape(pixel_shape)
    return p, t, keep


def _pixel_shape(logits, axis):
    shape = list(np.shape(logits))
    del shape[axis % len(shape)]
    return tuple(shape)


def overlap_loss(
    logits,
    targets,
    *,
    alpha=0.5,
    beta=0.5,
    activation="softmax",
    smooth=1e-5,
    class_weights=None,
    ignore_index=-100,
    include_background=True,
    batch=False,
    squared=False,
    reduction="mean",
    axis=-1,
    where=None,
):
    """jaxloss's Dice (alpha = beta = 1/2) and Tversky losses, one score per (sample, class).

    Over the kept pixels m of sample n (all samples pooled with batch=True), with k = 2 when
    squared else 1:

        I = sum_m P T,  S_P = sum_m P**k,  S_T = sum_m T**k,  FP = S_P - I,  FN = S_T - I
        score = 1 - (I + s/2) / (I + alpha FP + beta FN + s/2)     (0/0 read as 1: score 0)

    which at alpha = beta = 1/2 is 1 - (2I + s) / (S_P + S_T + s). Without squares FP and FN
    are summed directly as sum P (1 - T) and sum (1 - P) T. w_c are the class weights with
    w_0 = 0 when include_background is False; a sample with no kept pixel gets weight 0.

        "none": w_c * score (N, C) or (C,); "sum": its sum; "mean": its sum / sum of weights.
    """
    p, t, keep = _probs_and_onehot(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c, _ = p.shape
    w = np.ones(c) if class_weights is None else _f64(class_weights).copy()
    if not include_background:
        w[0] = 0.0
    groups = [list(range(n))] if batch else [[i] for i in range(n)]
    scores = np.zeros((len(groups), c))
    weights = np.zeros((len(groups), c))
    for g, samples in enumerate(groups):
        any_kept = any(keep[i].any() for i in samples)
        for k in range(c):
            inter = fp = fn = s_p = s_t = 0.0
            for i in samples:
                sel = keep[i]
                pk, tk = p[i, k][sel], t[i, k][sel]
                inter += np.sum(pk * tk)
                fp += np.sum(pk * (1.0 - tk))
                fn += np.sum((1.0 - pk) * tk)
                s_p += np.sum(pk**2)
                s_t += np.sum(tk**2)
            if squared:
                fp, fn = s_p - inter, s_t - inter
            num = inter + smooth / 2.0
            den = inter + alpha * fp + beta * fn + smooth / 2.0
            scores[g, k] = 0.0 if den == 0 else 1.0 - num / den
            weights[g, k] = w[k] if any_kept else 0.0
    per = np.where(weights != 0, weights * scores, 0.0)
    if batch:
        per, weights = per[0], weights[0]
    if reduction == "none":
        return per
    if reduction == "sum":
        return np.sum(per)
    total = np.sum(weights)
    return 0.0 if total == 0 else np.sum(per) / total


def dice_loss(logits, targets, **kwargs):
    return overlap_loss(logits, targets, alpha=0.5, beta=0.5, **kwargs)


def tversky_loss(logits, targets, *, alpha=0.5, beta=0.5, **kwargs):
    return overlap_loss(logits, targets, alpha=alpha, beta=beta, **kwargs)


def dice_cross_entropy_loss(
    logits, targets, *, dice_weight=0.5, label_smoothing=0.0, smooth=1e-5,
    include_background=True, batch=False, squared=False, **shared,
):
    """dice_weight * dice_loss + (1 - dice_weight) * cross_entropy; smoothing is CE-only."""
    dice = dice_loss(
        logits, targets, activation="softmax", smooth=smooth,
        include_background=include_background, batch=batch, squared=squared, **shared,
    )
    ce = cross_entropy(logits, targets, label_smoothing=label_smoothing, **shared)
    return dice_weight * dice + (1.0 - dice_weight) * ce


def monai_dice_loss(
    inputs,
    target,
    *,
    include_background=True,
    to_onehot_y=False,
    sigmoid=False,
    softmax=False,
    squared_pred=False,
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    batch=False,
    weight=None,
    reduction="mean",
):
    """MONAI 1.x ``DiceLoss`` (channel-first (B, C, ...), target (B, 1, ...) or one-hot).

    Activation over the channel axis, then one-hot, then channel 0 dropped when
    include_background is False; per (b, c) over the spatial axes (the batch pooled when
    batch=True): f = 1 - (2 I + smooth_nr) / (S_P + S_T + smooth_dr), squares in the
    denominator with squared_pred. weight (one per remaining channel) multiplies f, and "mean"
    is then mean(w_c f) over all B*C entries (not divided by the sum of weights).
    """
    x = _f64(inputs)
    if sigmoid:
        x = 1.0 / (1.0 + np.exp(-x))
    if softmax:
        x = np.exp(log_softmax(x, axis=1))
    target = np.asarray(target)
    if to_onehot_y:
        labels = target[:, 0].astype(np.int64)
        target = np.moveaxis(np.eye(x.shape[1])[labels], -1, 1)
    target = _f64(target)
    if not include_background:
        x, target = x[:, 1:], target[:, 1:]
    b, c = x.shape[:2]
    x, target = x.reshape(b, c, -1), target.reshape(b, c, -1)
    f = np.zeros((1, c) if batch else (b, c))
    for i in range(f.shape[0]):
        for k in range(c):
            xs = x[:, k] if batch else x[i, k]
            ts = target[:, k] if batch else target[i, k]
            inter = np.sum(xs * ts)
            s_p = np.sum(xs**2) if squared_pred else np.sum(xs)
            s_t = np.sum(ts**2) if squared_pred else np.sum(ts)
            f[i, k] = 1.0 - (2.0 * inter + smooth_nr) / (s_p + s_t + smooth_dr)
    if weight is not None:
        f = f * _f64(weight).reshape(1, c)
    if batch:
        f = f[0]
    if reduction == "none":
        return f
    return np.mean(f) if reduction == "mean" else np.sum(f)


def smp_dice_loss(y_pred, y_true, *, mode, from_logits=True, smooth=0.0, eps=1e-7,
                  ignore_index=None):
    """segmentation_models_pytorch 0.x ``DiceLoss`` (channel-first logits (N, C, ...)).

    mode "multiclass": log_softmax(...).exp() over C, integer y_true (N, ...) one-hot;
    "binary": one sigmoid channel, y_true (N, 1, ...) or (N, ...); "multilabel": sigmoid per
    channel, y_true (N, C, ...). ignore_index pixels are zeroed in both y_pred and y_true.
    Always pooled over batch and pixels: score_c = (2 I + smooth) / max(S_P + S_T + smooth,
    eps); loss_c = 1 - score_c, set to 0 for a class absent from y_true; the loss is the plain
    mean over all C (absent classes still counted).
    """
    x = _f64(y_pred)
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1)
    y = np.asarray(y_true)
    if from_logits:
        x = np.exp(log_softmax(x, axis=1)) if mode == "multiclass" else sigmoid(x)
    if mode == "multiclass":
        y = y.reshape(n, -1)
        mask = np.ones(y.shape, dtype=bool) if ignore_index is None else y != ignore_index
        labels = np.where(mask, y, 0)
        t = np.moveaxis(np.eye(c)[labels], -1, 1) * mask[:, None, :]
        x = x * mask[:, None, :]
    else:
        t = _f64(y).reshape(n, c, -1)
        if ignore_index is not None:
            mask = t != ignore_index
            x = x * mask
            t = t * mask
    loss = np.zeros(c)
    for k in range(c):
        inter = np.sum(x[:, k] * t[:, k])
        card = np.sum(x[:, k] + t[:, k])
        score = (2.0 * inter + smooth) / max(card + smooth, eps)
        loss[k] = (1.0 - score) if np.sum(t[:, k]) > 0 else 0.0
    return np.mean(loss)


# =============================================================================================
# 6. Parameter penalties: l1_penalty, l2_penalty
# =============================================================================================


def l1_penalty(leaves):
    """sum |theta| over a list of arrays."""
    return float(sum(np.sum(np.abs(_f64(x))) for x in leaves))


def l2_penalty(leaves):
    """0.5 * sum theta**2 over a list of arrays (optax's l2_loss convention)."""
    return float(sum(0.5 * np.sum(_f64(x) ** 2) for x in leaves))


# =============================================================================================
# 7. Regression: l1_loss, mse_loss, huber_loss, smooth_l1_loss, poisson_nll_loss,
#    gaussian_nll_loss
# =============================================================================================
#
# From the PyTorch 2.13 documentation and torch/nn/functional.py. The "mean" of each is its
# own: l1_loss and mse_loss with `weight` divide by the sum of the weights, every other
# "mean" (huber_loss with `weight` included) by the element count. jaxloss: masked elements
# (`where`) leave numerator and denominator; a zero denominator gives 0.0.


def _regression_reduce(per, weights, where, reduction, *, divide_by_weights):
    per = _f64(per)
    wt = np.ones(per.shape) if weights is None else np.broadcast_to(_f64(weights), per.shape)
    per = wt * per
    if where is None:
        mask = np.ones(per.shape, dtype=bool)
    else:
        mask = np.broadcast_to(np.asarray(where, dtype=bool), per.shape)
    per = np.where(mask, per, 0.0)
    if divide_by_weights and weights is not None:
        denominator = np.where(mask, wt, 0.0)
    else:
        denominator = mask.astype(np.float64)
    return _reduce(per.reshape(-1), denominator.reshape(-1), reduction, per.shape)


def l1_loss(input, target, *, weights=None, reduction="mean", where=None):
    """l_n = w_n |x_n - y_n|; "mean" = sum l_n / sum w_n with weights, / N without."""
    per = np.abs(_f64(input) - _f64(target))
    return _regression_reduce(per, weights, where, reduction, divide_by_weights=True)


def mse_loss(input, target, *, weights=None, reduction="mean", where=None):
    """l_n = w_n (x_n - y_n)^2; "mean" = sum l_n / sum w_n with weights, / N without."""
    per = (_f64(input) - _f64(target)) ** 2
    return _regression_reduce(per, weights, where, reduction, divide_by_weights=True)


def huber_loss(input, target, *, delta=1.0, weights=None, reduction="mean", where=None):
    """l_n = w_n * (0.5 z^2 if z < delta else delta (z - 0.5 delta)), z = |x_n - y_n|;
    "mean" divides by N with or without weights."""
    z = np.abs(_f64(input) - _f64(target))
    delta = float(delta)
    per = np.zeros(z.shape)
    for idx in np.ndindex(z.shape):
        per[idx] = 0.5 * z[idx] ** 2 if z[idx] < delta else delta * (z[idx] - 0.5 * delta)
    return _regression_reduce(per, weights, where, reduction, divide_by_weights=False)


def smooth_l1_loss(input, target, *, beta=1.0, reduction="mean", where=None):
    """l_n = 0.5 z^2 / beta if z < beta else z - 0.5 beta, z = |x_n - y_n|; beta = 0 is L1
    ("when beta is set to 0, this is equivalent to L1Loss")."""
    z = np.abs(_f64(input) - _f64(target))
    beta = float(beta)
    per = np.zeros(z.shape)
    for idx in np.ndindex(z.shape):
        per[idx] = 0.5 * z[idx] ** 2 / beta if z[idx] < beta else z[idx] - 0.5 * beta
    return _regression_reduce(per, None, where, reduction, divide_by_weights=False)


def poisson_nll_loss(
    input, target, *, log_input=True, full=False, eps=1e-8, reduction="mean", where=None
):
    """log_input: exp(x) - y x; else x - y log(x + eps). full adds the Stirling term
    y log y - y + 0.5 log(2 pi y) where y > 1."""
    x = _f64(input)
    y = _f64(target)
    per = np.exp(x) - y * x if log_input else x - y * np.log(x + float(eps))
    if full:
        for idx in np.ndindex(y.shape):
            t = y[idx]
            if t > 1:
                per[idx] += t * np.log(t) - t + 0.5 * np.log(2.0 * np.pi * t)
    return _regression_reduce(per, None, where, reduction, divide_by_weights=False)


def gaussian_nll_loss(input, target, var, *, full=False, eps=1e-6, reduction="mean", where=None):
    """0.5 (log max(var, eps) + (x - y)^2 / max(var, eps)) (+ 0.5 log(2 pi) if full).

    var: input's shape, input's shape without the last axis (unsqueezed there), input's shape
    with a 1 in one axis (broadcast), or a scalar. jaxloss: a negative var gives NaN
    (PyTorch raises ValueError).
    """
    x = _f64(input)
    y = _f64(target)
    v = _f64(var)
    if v.ndim and v.shape != x.shape and v.shape == x.shape[:-1]:
        v = v[..., None]
    v = np.broadcast_to(v, x.shape)
    v = np.where(v < 0, np.nan, np.maximum(v, float(eps)))
    per = 0.5 * (np.log(v) + (x - y) ** 2 / v)
    if full:
        per = per + 0.5 * np.log(2.0 * np.pi)
    return _regression_reduce(per, None, where, reduction, divide_by_weights=False)
# 8. Imbalance-aware softmax losses: logit_adjusted_cross_entropy, ldam_loss,
#    poly1_cross_entropy
# =============================================================================================


def _per_class(v, ndim, axis):
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return _f64(v).reshape(shape)


def logit_adjusted_cross_entropy(logits, targets, *, class_priors, tau=1.0, axis=-1, **kwargs):
    """Menon et al. (2021), eq. 10: cross_entropy(x + tau * log(pi), y).

    jaxloss: a prior of 0 is the limit tau * log 0 = -inf for tau > 0 (0 at tau = 0).
    """
    x = _f64(logits)
    pi = _f64(class_priors)
    tau = float(tau)
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    if tau == 0.0:
        shift = np.zeros_like(pi)
    else:
        shift = np.where(pi == 0, -np.inf, tau * np.where(pi == 0, 1.0, log_pi))
    return cross_entropy(x + _per_class(shift, x.ndim, axis), targets, axis=axis, **kwargs)


def ldam_loss(
    logits, targets, *, class_counts, max_margin=0.5, scale=30.0, class_weights=None,
    ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """The authors' LDAMLoss (github.com/kaidic/LDAM-DRW, losses.py):

        m_list = 1 / sqrt(sqrt(cls_num_list)); m_list *= max_m / max(m_list)
        output = where(onehot(y), x - m_list[y], x)
        F.cross_entropy(s * output, y, weight=weight)

    Rows with an ignored label keep their logits (the authors' scatter has no ignore_index;
    they drop out of the cross-entropy anyway).
    """
    x = np.moveaxis(_f64(logits), axis, -1).copy()
    m = 1.0 / np.sqrt(np.sqrt(_f64(class_counts)))
    m = m * (float(max_margin) / np.max(m))
    y = np.asarray(targets)
    num_classes = x.shape[-1]
    for idx in np.ndindex(y.shape):
        if y[idx] != ignore_index and 0 <= y[idx] < num_classes:
            x[idx + (int(y[idx]),)] -= m[int(y[idx])]
    x = np.moveaxis(float(scale) * x, -1, axis)
    return cross_entropy(
        x, targets, class_weights=class_weights, ignore_index=ignore_index,
        reduction=reduction, axis=axis, where=where,
    )


def poly1_cross_entropy(
    logits, targets, *, epsilon=2.0, class_weights=None, ignore_index=-100, label_smoothing=0.0,
    reduction="mean", axis=-1, where=None,
):
    """Leng et al. (2022), Poly-1: CE(q) + epsilon * (1 - p_t) with p_t = sum_c q_c p_c and q
    the (smoothed) labels, as optax's poly_loss_cross_entropy and the paper's appendix (label
    smoothing applied to the labels of both terms). Class weights (jaxloss: not in the paper)
    weight each class's term, per_i = sum_c w_c q_ic [-log p_ic + epsilon (1 - p_ic)], and the
    reductions are cross_entropy's ("mean" / sum_i m_i w[y_i] for integer targets, / kept count
    for probability targets).
    """
    x, element_shape = _elements(logits, axis)
    num_elements, num_classes = x.shape
    w = np.ones(num_classes) if class_weights is None else _f64(class_weights)
    eps = float(label_smoothing)
    logp = log_softmax(x, axis=-1)
    p = np.exp(logp)
    keep = _element_mask(where, element_shape)
    targets = np.asarray(targets)
    integer = np.issubdtype(targets.dtype, np.integer)
    if integer:
        y = targets.reshape(-1)
    else:
        probs, _ = _elements(targets, axis)
    per = np.zeros(num_elements)
    denominator = np.zeros(num_elements)
    for i in range(num_elements):
        if not keep[i] or (integer and y[i] == ignore_index):
            continue
        if integer and not 0 <= y[i] < num_classes:
            per[i], denominator[i] = np.nan, 1.0
            continue
        hard = np.eye(num_classes)[int(y[i])] if integer else probs[i]
        q = (1.0 - eps) * hard + eps / num_classes
        value = 0.0
        for c in range(num_classes):
            if q[c] == 0.0:
                continue  # 0 * (anything finite or not) = 0
            value += w[c] * q[c] * (-logp[i, c] + float(epsilon) * (1.0 - p[i, c]))
        per[i] = value
        denominator[i] = w[int(y[i])] if integer else 1.0
    return _reduce(per, denominator, reduction, element_shape)


def optax_poly_loss_cross_entropy(logits, labels, epsilon):
    """optax.losses.poly_loss_cross_entropy (0.2.8), per example, class axis last:
    softmax_cross_entropy(logits, labels) + epsilon * sum(labels * (1 - softmax(logits)))."""
    logp = log_softmax(logits, axis=-1)
    labels = _f64(labels)
    return -np.sum(labels * logp, axis=-1) + epsilon * np.sum(labels * (1 - np.exp(logp)), -1)


# =============================================================================================
# 9. Divergences and distillation: kl_div, jensen_shannon_divergence, distillation_loss
# =============================================================================================


def _t_log_ratio(t, log_t, log_i):
    """t * (log t - log i) elementwise; jaxloss (and information theory): 0 where t = 0,
    whatever log i is (PyTorch gives NaN there when log i = -inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(t == 0, 0.0, t * (log_t - log_i))


def kl_div(input, target, *, reduction="mean", log_target=False, where=None):  # noqa: A002
    """PyTorch ``F.kl_div`` (documented formula): pointwise L = target * (log target - input),
    or exp(target) * (target - input) with log_target; "mean" = sum / numel, "batchmean" =
    sum / input.size(0) (a 0-d input: the sum), "sum", "none".

    jaxloss: 0 * log 0 = 0 also where input (or a log target) is -inf; negative probability
    targets give NaN (log of a negative number), as in PyTorch; with ``where``, masked
    elements are dropped, "mean" divides by the kept count and "batchmean" by the rows with
    a kept element; an empty "mean"/"batchmean" is 0.
    """
    x = _f64(input)
    t = np.broadcast_to(_f64(target), x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log_target:
            per = _t_log_ratio(np.exp(t), t, x)
        else:
            per = np.where(t < 0, np.nan, _t_log_ratio(t, np.log(np.where(t > 0, t, 1.0)), x))
    mask = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, x.shape)
    per = np.where(mask, per, 0.0)
    if reduction == "none":
        return per
    total = np.sum(per)
    if reduction == "sum":
        return total
    if reduction == "mean":
        count = np.sum(mask)
    elif x.ndim == 0:
        count = float(mask)
    else:
        count = np.sum(np.any(mask.reshape(x.shape[0], -1), axis=1))
    return 0.0 if count == 0 else total / count


def _rows(x, axis):
    flat, shape = _elements(x, axis)
    return flat, shape


def _row_reduce(per, where, row_shape, reduction):
    keep = _element_mask(where, row_shape)
    per = np.where(keep, per, 0.0)
    return _reduce(per, keep.astype(np.float64), reduction, row_shape)


def jensen_shannon_divergence(log_p, log_q, *, beta=0.5, reduction="mean", axis=-1, where=None):
    """Liger-Kernel's generalised JSD (test/transformers/test_jsd.py's torch reference):

        beta == 0: KL(P || Q);  beta == 1: KL(Q || P);  else, with m = lerp(q, p, beta):
        beta * KL(P || M) + (1 - beta) * KL(Q || M), summed over the classes per row,
        averaged over the kept rows ("mean"; Liger: sum / n_non_ignore).

    Computed in probability space (m = beta p + (1 - beta) q, then log m), as Liger's test.
    """
    lp, row_shape = _rows(log_p, axis)
    lq, _ = _rows(log_q, axis)
    p, q = np.exp(lp), np.exp(lq)
    beta = float(beta)
    with np.errstate(divide="ignore"):
        if beta == 0.0:
            per = np.sum(_t_log_ratio(p, lp, lq), axis=-1)
        elif beta == 1.0:
            per = np.sum(_t_log_ratio(q, lq, lp), axis=-1)
        else:
            m = q + beta * (p - q)
            log_m = np.log(m)
            per = beta * np.sum(_t_log_ratio(p, lp, log_m), axis=-1) + (1 - beta) * np.sum(
                _t_log_ratio(q, lq, log_m), axis=-1
            )
    return _row_reduce(per, where, row_shape, reduction)


def distillation_loss(
    student_logits, teacher_logits, *, temperature, targets=None, hard_weight=0.0,
    ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """Hinton et al. (2015): per row
    (1 - a) T**2 KL(softmax(t / T) || softmax(s / T)) + a CE(s, y); rows whose label is
    ignore_index or whose ``where`` is False are dropped; "mean" over the kept rows.
    """
    s, row_shape = _rows(student_logits, axis)
    t, _ = _rows(teacher_logits, axis)
    temp = float(temperature)
    log_s = log_softmax(s / temp, axis=-1)
    log_t = log_softmax(t / temp, axis=-1)
    per = temp**2 * np.sum(_t_log_ratio(np.exp(log_t), log_t, log_s), axis=-1)
    keep = _element_mask(where, row_shape)
    if targets is not None:
        y = np.asarray(targets).reshape(-1)
        hard = np.asarray(cross_entropy(s, y, ignore_index=ignore_index, reduction="none"))
        per = (1.0 - hard_weight) * per + hard_weight * hard
        keep = keep & (y != ignore_index)
    per = np.where(keep, per, 0.0)
    return _reduce(per, keep.astype(np.float64), reduction, row_shape)
