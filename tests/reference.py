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
5. segmentation (Dice family): dice_loss, tversky_loss, generalized_dice_loss,
   dice_cross_entropy_loss, dice_focal_loss, and the MONAI and segmentation_models_pytorch
   losses they are compared with
6. parameter penalties: l1_penalty, l2_penalty
7. regression: l1_loss, mse_loss, huber_loss, smooth_l1_loss, poisson_nll_loss,
   gaussian_nll_loss
8. imbalance-aware softmax losses: logit_adjusted_cross_entropy, ldam_loss, poly1_cross_entropy
9. divergences and distillation: kl_div, jensen_shannon_divergence, distillation_loss
10. margin, ranking and embedding: margin_ranking_loss, hinge_embedding_loss, soft_margin_loss,
   multilabel_soft_margin_loss, multi_margin_loss, multilabel_margin_loss,
   cosine_embedding_loss, triplet_margin_loss, triplet_margin_with_distance_loss
11. sequence: ctc_loss
12. Lovász losses: lovasz_softmax_loss, lovasz_hinge_loss
13. detection: generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss
   (torchvision 0.28), varifocal_loss, quality_focal_loss, distribution_focal_loss
   (mmdetection)
14. distance transform: distance_transform_edt (brute force)
15. image-text contrastive: clip_loss, siglip_loss (open_clip)
16. shape-aware segmentation: hausdorff_dt_loss, log_hausdorff_dt_loss, boundary_loss,
   soft_cldice_loss, soft_dice_cldice_loss (MONAI 1.6), with scipy.ndimage's distance
   transform and min/max filters
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
    weights=None, reduction="mean", where=None,
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

    ``weights`` (issue 12, item 5): PyTorch's BCE ``weight`` rule, ``l -> w * l`` per element,
    never in the denominator ("mean" divides by the number of kept elements).
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
    if weights is not None:
        per = np.broadcast_to(_f64(weights), x.shape) * per
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
    logits, targets, *, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, weights=None, reduction="mean",
    where=None,
):
    """The authors' formula above per element, without the ``eps`` clamp (jaxloss: logs of
    the probabilities themselves), written so that float64 keeps it exact at saturated logits:
    ``log p = log_sigmoid(x)``, ``1 - p = sigmoid(-x)``, and ``1 - pt`` as
    ``y (1 - p) + (1 - y) max(p - clip, 0)`` (the same quantity: ``1 - xs_neg`` is
    ``max(p - clip, 0)``). ``0 * log 0 = 0``; ``0 ** 0 = 1``. ``weights``: PyTorch's BCE
    ``weight`` rule, ``l -> w * l`` per element, never in the denominator.
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
    if weights is not None:
        per = np.broadcast_to(_f64(weights), x.shape) * per
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
    soft_label=False,
    gamma=1.0,
):
    """jaxloss's Dice (alpha = beta = 1/2) and Tversky losses, one score per (sample, class).

    Over the kept pixels m of sample n (all samples pooled with batch=True), with k = 2 when
    squared else 1:

        I = sum_m P T,  S_P = sum_m P**k,  S_T = sum_m T**k,  FP = S_P - I,  FN = S_T - I
        score = 1 - (I + s/2) / (I + alpha FP + beta FN + s/2)     (0/0 read as 1: score 0)

    which at alpha = beta = 1/2 is 1 - (2I + s) / (S_P + S_T + s). Without squares FP and FN
    are summed directly as sum P (1 - T) and sum (1 - P) T; with soft_label (MONAI's
    compute_tp_fp_fn with ord=1) I = (S_P + S_T - sum |P - T|) / 2, FP = S_P - I,
    FN = S_T - I. Focal Tversky (Abraham & Khan 2019): score ** gamma per (sample, class).
    w_c are the class weights with w_0 = 0 when include_background is False; a sample with
    no kept pixel gets weight 0.

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
            elif soft_label:
                s_p = sum(np.sum(p[i, k][keep[i]]) for i in samples)
                s_t = sum(np.sum(t[i, k][keep[i]]) for i in samples)
                diff = sum(np.sum(np.abs(p[i, k] - t[i, k])[keep[i]]) for i in samples)
                inter = (s_p + s_t - diff) / 2.0
                fp, fn = s_p - inter, s_t - inter
            num = inter + smooth / 2.0
            den = inter + alpha * fp + beta * fn + smooth / 2.0
            scores[g, k] = 0.0 if den == 0 else 1.0 - num / den
            if float(gamma) != 1.0:
                scores[g, k] = scores[g, k] ** float(gamma) if scores[g, k] > 0 else 0.0
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


def generalized_dice_loss(
    logits, targets, *, w_type="square", activation="softmax", smooth=1e-5,
    ignore_index=-100, include_background=True, batch=False, soft_label=False,
    reduction="mean", axis=-1, where=None,
):
    """jaxloss's generalised Dice: MONAI's GeneralizedDiceLoss (transcribed below as
    monai_generalized_dice_loss) on the kept pixels, per sample (pooled with batch).

    Over the included classes c (class 0 dropped without the background):
    w_c = 1 / S_T**2 ("square"), 1 / S_T ("simple"), 1 ("uniform"); a class with S_T = 0
    takes the largest finite w of its sample (0 if none). g = 1 - (2 sum_c w_c I_c + s) /
    (sum_c w_c (S_P + S_T) + s), 0/0 read as 0. A sample with no kept pixel drops out;
    "mean" is over the other samples.
    """
    p, t, keep = _probs_and_onehot(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c, _ = p.shape
    classes = list(range(c)) if include_background else list(range(1, c))
    groups = [list(range(n))] if batch else [[i] for i in range(n)]
    per = np.zeros(len(groups))
    kept = np.zeros(len(groups), dtype=bool)
    for g, samples in enumerate(groups):
        kept[g] = any(keep[i].any() for i in samples)
        inter, s_p, s_t = (np.zeros(len(classes)) for _ in range(3))
        for j, k in enumerate(classes):
            for i in samples:
                pk, tk = p[i, k][keep[i]], t[i, k][keep[i]]
                s_p[j] += np.sum(pk)
                s_t[j] += np.sum(tk)
                inter[j] += (np.sum(pk) + np.sum(tk) - np.sum(np.abs(pk - tk))) / 2.0 \
                    if soft_label else np.sum(pk * tk)
        with np.errstate(divide="ignore"):
            w = {"square": 1.0 / s_t**2, "simple": 1.0 / s_t, "uniform": np.ones_like(s_t)}[w_type]
        finite = w[np.isfinite(w)]
        w = np.where(np.isinf(w), finite.max() if finite.size else 0.0, w)
        num = 2.0 * np.sum(w * inter) + smooth
        den = np.sum(w * (s_p + s_t)) + smooth
        per[g] = 0.0 if (den == 0 or not kept[g]) else 1.0 - num / den
    if batch:
        per, kept = per[0], kept[0]
    if reduction == "none":
        return per
    if reduction == "sum":
        return np.sum(per)
    return 0.0 if not np.any(kept) else np.sum(per) / np.sum(kept)


def dice_focal_loss(
    logits, targets, *, activation="softmax", gamma=2.0, alpha=None, lambda_dice=1.0,
    lambda_focal=1.0, smooth=1e-5, class_weights=None, ignore_index=-100,
    include_background=True, batch=False, squared=False, reduction="mean", axis=-1, where=None,
):
    """lambda_dice * dice_loss + lambda_focal * focal.

    softmax: the focal term is focal_loss (normalised like cross_entropy). sigmoid: the
    torchvision sigmoid focal term per element (sigmoid_focal_loss above; MONAI's
    (x - x t - log sigmoid(x)) exp(gamma log sigmoid(-x (2t - 1))) is the same for 0/1
    targets), times w_c; "mean" is the sum over the kept elements of the included channels
    divided by their count, "sum" the sum.
    """
    dice = dice_loss(
        logits, targets, activation=activation, smooth=smooth, class_weights=class_weights,
        ignore_index=ignore_index, include_background=include_background, batch=batch,
        squared=squared, reduction=reduction, axis=axis, where=where,
    )
    if activation == "softmax":
        focal = focal_loss(
            logits, targets, gamma=gamma, class_weights=class_weights,
            ignore_index=ignore_index, reduction=reduction, axis=axis, where=where,
        )
    else:
        x = np.moveaxis(_f64(logits), axis % np.ndim(logits), 1)
        n, c = x.shape[:2]
        x = x.reshape(n, c, -1)
        _, t, keep = _probs_and_onehot(
            logits, targets, activation=activation, ignore_index=ignore_index, axis=axis,
            where=where,
        )
        t = np.where(keep[:, None, :], t, 0.0)
        loss = sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="none")
        w = np.ones(c) if class_weights is None else _f64(class_weights)
        loss = loss * w[None, :, None]
        counted = np.broadcast_to(keep[:, None, :], loss.shape).copy()
        if not include_background:
            counted[:, 0] = False
        total = np.sum(np.where(counted, loss, 0.0))
        count = np.sum(counted)
        focal = total if reduction == "sum" else (0.0 if count == 0 else total / count)
    return lambda_dice * dice + lambda_focal * focal


def tversky_loss(logits, targets, *, alpha=0.5, beta=0.5, gamma=1.0, **kwargs):
    return overlap_loss(logits, targets, alpha=alpha, beta=beta, gamma=gamma, **kwargs)


def dice_cross_entropy_loss(
    logits, targets, *, lambda_dice=1.0, lambda_ce=1.0, label_smoothing=0.0, smooth=1e-5,
    include_background=True, batch=False, squared=False, **shared,
):
    """lambda_dice * dice_loss + lambda_ce * cross_entropy (MONAI DiceCELoss); smoothing is
    CE-only."""
    dice = dice_loss(
        logits, targets, activation="softmax", smooth=smooth,
        include_background=include_background, batch=batch, squared=squared, **shared,
    )
    ce = cross_entropy(logits, targets, label_smoothing=label_smoothing, **shared)
    return lambda_dice * dice + lambda_ce * ce


def _monai_prepare(inputs, target, *, include_background, to_onehot_y, sigmoid, softmax):
    """MONAI's shared preamble: activation, one-hot, channel 0 dropped; (B, C, M) float64."""
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
    return x.reshape(b, c, -1), target.reshape(b, c, -1)


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
    soft_label=False,
):
    """MONAI 1.x ``DiceLoss`` (channel-first (B, C, ...), target (B, 1, ...) or one-hot).

    Activation over the channel axis, then one-hot, then channel 0 dropped when
    include_background is False; per (b, c) over the spatial axes (the batch pooled when
    batch=True): f = 1 - (2 I + smooth_nr) / (S_P + S_T + smooth_dr), squares in the
    denominator with squared_pred. weight (one per remaining channel) multiplies f, and "mean"
    is then mean(w_c f) over all B*C entries (not divided by the sum of weights).
    """
    x, target = _monai_prepare(
        inputs, target, include_background=include_background, to_onehot_y=to_onehot_y,
        sigmoid=sigmoid, softmax=softmax,
    )
    b, c = x.shape[:2]
    f = np.zeros((1, c) if batch else (b, c))
    for i in range(f.shape[0]):
        for k in range(c):
            xs = x[:, k] if batch else x[i, k]
            ts = target[:, k] if batch else target[i, k]
            inter = np.sum(xs * ts)
            s_p = np.sum(xs**2) if squared_pred else np.sum(xs)
            s_t = np.sum(ts**2) if squared_pred else np.sum(ts)
            if soft_label and not squared_pred:  # monai.losses.utils.compute_tp_fp_fn
                inter = (s_p + s_t - np.sum(np.abs(xs - ts))) / 2.0
            f[i, k] = 1.0 - (2.0 * inter + smooth_nr) / (s_p + s_t + smooth_dr)
    if weight is not None and c != 1:  # MONAI ignores `weight` when one channel is left
        f = f * _f64(weight).reshape(1, c)
    if batch:
        f = f[0]
    if reduction == "none":
        return f
    return np.mean(f) if reduction == "mean" else np.sum(f)


def _monai_tp_fp_fn(x, t, axes, soft_label, decoupled=True):
    """monai.losses.utils.compute_tp_fp_fn with ord=1."""
    if not soft_label:
        tp = np.sum(x * t, axis=axes)
        if decoupled:
            return tp, np.sum(x, axis=axes) - tp, np.sum(t, axis=axes) - tp
        return tp, np.sum(x * (1 - t), axis=axes), np.sum((1 - x) * t, axis=axes)
    pred_o, ground_o = np.sum(np.abs(x), axis=axes), np.sum(np.abs(t), axis=axes)
    tp = (pred_o + ground_o - np.sum(np.abs(x - t), axis=axes)) / 2.0
    return tp, pred_o - tp, ground_o - tp


def monai_tversky_loss(
    inputs, target, *, include_background=True, to_onehot_y=False, sigmoid=False,
    softmax=False, alpha=0.5, beta=0.5, smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
    soft_label=False, reduction="mean",
):
    """MONAI 1.x ``TverskyLoss``: per (b, c) 1 - (tp + smooth_nr) / (tp + alpha fp + beta fn +
    smooth_dr), fp and fn from compute_tp_fp_fn (decoupled=False); "mean" over B*C."""
    x, t = _monai_prepare(
        inputs, target, include_background=include_background, to_onehot_y=to_onehot_y,
        sigmoid=sigmoid, softmax=softmax,
    )
    axes = (0, 2) if batch else (2,)
    tp, fp, fn = _monai_tp_fp_fn(x, t, axes, soft_label, decoupled=False)
    score = 1.0 - (tp + smooth_nr) / (tp + alpha * fp + beta * fn + smooth_dr)
    if reduction == "none":
        return score
    return np.mean(score) if reduction == "mean" else np.sum(score)


def monai_generalized_dice_loss(
    inputs, target, *, include_background=True, to_onehot_y=False, sigmoid=False,
    softmax=False, w_type="square", smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
    soft_label=False, reduction="mean",
):
    """MONAI 1.x ``GeneralizedDiceLoss``: w = 1/ground_o**2, 1/ground_o or 1; infinite
    weights (empty classes) replaced by the largest finite weight of the sample (of the batch
    with batch=True); f = 1 - (2 sum_c w tp + smooth_nr) / (sum_c w (2 tp + fp + fn) +
    smooth_dr) per sample; "mean" over the samples."""
    x, t = _monai_prepare(
        inputs, target, include_background=include_background, to_onehot_y=to_onehot_y,
        sigmoid=sigmoid, softmax=softmax,
    )
    axes = (0, 2) if batch else (2,)
    tp, fp, fn = _monai_tp_fp_fn(x, t, axes, soft_label)
    denominator = 2.0 * tp + fp + fn
    ground_o = np.sum(t, axis=axes)
    with np.errstate(divide="ignore"):
        w = {"square": 1.0 / ground_o**2, "simple": 1.0 / ground_o,
             "uniform": np.ones_like(ground_o)}[w_type]
    infs = np.isinf(w)
    w = np.where(infs, 0.0, w)
    w = w + infs * np.max(w, axis=-1, keepdims=True)
    f = 1.0 - (2.0 * np.sum(tp * w, axis=-1) + smooth_nr) / (
        np.sum(denominator * w, axis=-1) + smooth_dr
    )
    if reduction == "none":
        return f
    return np.mean(f) if reduction == "mean" else np.sum(f)


def monai_dice_focal_loss(
    inputs, target, *, include_background=True, to_onehot_y=False, sigmoid=False,
    softmax=False, gamma=2.0, alpha=None, weight=None, lambda_dice=1.0, lambda_focal=1.0,
    smooth_nr=1e-5, smooth_dr=1e-5, batch=False, squared_pred=False,
):
    """MONAI 1.x ``DiceFocalLoss`` ("mean"): lambda_dice DiceLoss + lambda_focal FocalLoss,
    the focal term being MONAI's sigmoid focal loss on the raw inputs whatever the Dice
    activation (use_softmax is not passed), class 0 dropped without the background, weight
    per channel, mean over every element."""
    if to_onehot_y:
        labels = np.asarray(target)[:, 0].astype(np.int64)
        target = np.moveaxis(np.eye(np.shape(inputs)[1])[labels], -1, 1)
    dice = monai_dice_loss(
        inputs, target, include_background=include_background, sigmoid=sigmoid,
        softmax=softmax, squared_pred=squared_pred, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        batch=batch, weight=weight,
    )
    x, t = _monai_prepare(
        inputs, target, include_background=include_background, to_onehot_y=False,
        sigmoid=False, softmax=False,
    )
    loss = x - x * t - log_sigmoid(x)
    loss = np.exp(gamma * log_sigmoid(-x * (t * 2.0 - 1.0))) * loss
    if alpha is not None:
        loss = (t * alpha + (1.0 - t) * (1.0 - alpha)) * loss
    if weight is not None and x.shape[1] != 1:
        loss = loss * _f64(weight).reshape(1, -1, 1)
    return lambda_dice * dice + lambda_focal * np.mean(loss)


def smp_tversky_loss(y_pred, y_true, *, mode, alpha=0.5, beta=0.5, gamma=1.0, smooth=0.0,
                     eps=1e-7, from_logits=True):
    """segmentation_models_pytorch ``TverskyLoss`` (binary or multilabel; pooled over the
    batch): soft_tversky_score with tp = (S_P + S_T - |P - T|_1) / 2, fp = S_P - tp,
    fn = S_T - tp, score = (tp + smooth) / max(tp + alpha fp + beta fn + smooth, eps);
    loss_c = 1 - score, 0 for a class absent from y_true; loss = mean_c(loss_c) ** gamma
    (the exponent after the class mean)."""
    x = _f64(y_pred)
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1)
    if from_logits:
        x = sigmoid(x)
    t = _f64(y_true).reshape(n, c, -1)
    loss = np.zeros(c)
    for k in range(c):
        s_p, s_t = np.sum(x[:, k]), np.sum(t[:, k])
        tp = (s_p + s_t - np.sum(np.abs(x[:, k] - t[:, k]))) / 2.0
        fp, fn = s_p - tp, s_t - tp
        score = (tp + smooth) / max(tp + alpha * fp + beta * fn + smooth, eps)
        loss[k] = (1.0 - score) if s_t > 0 else 0.0
    return np.mean(loss) ** gamma


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
    with a 1 in one axis (broadcast), or a scalar. target: anything that broadcasts to input's
    shape (NumPy's rule, PyTorch's `input - target`; input's shape without the last axis is
    aligned from the trailing axis, not unsqueezed like var). jaxloss: a negative var gives
    NaN (PyTorch raises ValueError).
    """
    x = _f64(input)
    y = np.broadcast_to(_f64(target), x.shape)
    v = _f64(var)
    if v.ndim and v.shape != x.shape and v.shape == x.shape[:-1]:
        v = v[..., None]
    v = np.broadcast_to(v, x.shape)
    v = np.where(v < 0, np.nan, np.maximum(v, float(eps)))
    per = 0.5 * (np.log(v) + (x - y) ** 2 / v)
    if full:
        per = per + 0.5 * np.log(2.0 * np.pi)
    return _regression_reduce(per, None, where, reduction, divide_by_weights=False)


# =============================================================================================
# 8. Imbalance-aware softmax losses: logit_adjusted_cross_entropy, ldam_loss,
#    poly1_cross_entropy
# =============================================================================================


def _per_class(v, ndim, axis):
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return _f64(v).reshape(shape)


def logit_adjusted_cross_entropy(logits, targets, *, class_counts, tau=1.0, axis=-1, **kwargs):
    """Menon et al. (2021), eq. 10: cross_entropy(x + tau * log(pi), y), with the counts n in
    place of the priors pi = n / sum(n) (a constant shift of every logit, which the softmax
    cancels; tests/test_imbalance.py checks that counts and priors agree).

    jaxloss: a count of 0 is the limit tau * log 0 = -inf for tau > 0 (0 at tau = 0).
    """
    x = _f64(logits)
    n = _f64(class_counts)
    tau = float(tau)
    with np.errstate(divide="ignore"):
        log_n = np.log(n)
    if tau == 0.0:
        shift = np.zeros_like(n)
    else:
        shift = np.where(n == 0, -np.inf, tau * np.where(n == 0, 1.0, log_n))
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


def jensen_shannon_divergence(
    input, target, *, beta=0.5, reduction="mean", axis=-1, where=None  # noqa: A002
):
    """Liger-Kernel's generalised JSD (test/transformers/test_jsd.py's torch reference), input
    log Q (the student), target log P (the teacher), Liger's order ``jsd(log_q, log_p)``:

        beta == 0: KL(P || Q);  beta == 1: KL(Q || P);  else, with m = lerp(q, p, beta):
        beta * KL(P || M) + (1 - beta) * KL(Q || M), summed over the classes per row,
        averaged over the kept rows ("mean"; Liger: sum / n_non_ignore).

    Computed in probability space (m = beta p + (1 - beta) q, then log m), as Liger's test.
    """
    lq, row_shape = _rows(input, axis)
    lp, _ = _rows(target, axis)
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
    student_logits, teacher_logits, *, temperature, targets=None, lambda_soft=1.0,
    lambda_hard=0.0, ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """Hinton et al. (2015): per row
    lambda_soft T**2 KL(softmax(t / T) || softmax(s / T)) + lambda_hard CE(s, y); rows whose
    label is ignore_index or whose ``where`` is False are dropped; "mean" over the kept rows.
    """
    s, row_shape = _rows(student_logits, axis)
    t, _ = _rows(teacher_logits, axis)
    temp = float(temperature)
    log_s = log_softmax(s / temp, axis=-1)
    log_t = log_softmax(t / temp, axis=-1)
    per = lambda_soft * temp**2 * np.sum(_t_log_ratio(np.exp(log_t), log_t, log_s), axis=-1)
    keep = _element_mask(where, row_shape)
    if targets is not None:
        y = np.asarray(targets).reshape(-1)
        hard = np.asarray(cross_entropy(s, y, ignore_index=ignore_index, reduction="none"))
        per = per + lambda_hard * hard
        keep = keep & (y != ignore_index)
    per = np.where(keep, per, 0.0)
    return _reduce(per, keep.astype(np.float64), reduction, row_shape)


# =============================================================================================
# 10. Margin, ranking and embedding: PyTorch's margin_ranking_loss, hinge_embedding_loss,
#    soft_margin_loss, multilabel_soft_margin_loss, multi_margin_loss, multilabel_margin_loss,
#    cosine_embedding_loss, triplet_margin_loss, triplet_margin_with_distance_loss
#
# Transcribed from the formulas of PyTorch's documentation (torch.nn.MarginRankingLoss, ...);
# where the documentation is silent or differs from what torch 2.13 computes, the measured
# behaviour is used and said so (tests/test_margin.py's TORCH_RECORDED pins each case). The
# per-sample losses are reduced like the binary losses: "mean" over the kept samples.
# =============================================================================================


def margin_ranking_loss(input1, input2, target, *, margin=0.0, reduction="mean", where=None):
    """loss(x1, x2, y) = max(0, -y * (x1 - x2) + margin)."""
    x1, x2, y = _f64(input1), _f64(input2), _f64(target)
    return _binary_reduce(np.maximum(0.0, -y * (x1 - x2) + margin), where, reduction)


def hinge_embedding_loss(input, target, *, margin=1.0, reduction="mean", where=None):
    """l_n = x_n if y_n = 1, max(0, margin - x_n) if y_n = -1.

    The documentation defines y in {1, -1} only; ATen adds the first term where y != -1 and
    the second where y != 1, so any other target value gets both (measured with torch 2.13).
    """
    x, y = _f64(input), _f64(target)
    per = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        if y[i] != -1:
            per[i] += x[i]
        if y[i] != 1:
            per[i] += max(0.0, margin - x[i])
    return _binary_reduce(per, where, reduction)


def soft_margin_loss(input, target, *, reduction="mean", where=None):
    """loss(x, y) = sum_i log(1 + exp(-y[i] x[i])) / x.nelement() (log1p(exp) written stably)."""
    x, y = _f64(input), _f64(target)
    return _binary_reduce(np.logaddexp(0.0, -y * x), where, reduction)


def multilabel_soft_margin_loss(
    input, target, *, class_weights=None, reduction="mean", axis=-1, where=None
):
    """loss(x, y) = -1/C sum_i w_i [y_i log sigmoid(x_i) + (1 - y_i) log sigmoid(-x_i)].

    torch/nn/functional.py multiplies the per-element loss by `weight` (any shape that
    broadcasts) before the sum over the class dim. jaxloss: the class axis is `axis`; a (C,)
    weight vector lies along it, any other shape broadcasts to the input's shape.
    """
    x, y = _f64(input), _f64(target)
    num_classes = x.shape[axis]
    per_class = -(y * log_sigmoid(x) + (1.0 - y) * log_sigmoid(-x))
    if class_weights is not None:
        w = _f64(class_weights)
        if w.shape == (num_classes,):
            w = _per_class(w, x.ndim, axis)
        per_class = np.broadcast_to(w, x.shape) * per_class
    return _binary_reduce(np.sum(per_class, axis=axis) / num_classes, where, reduction)


def multi_margin_loss(
    input, target, *, p=1, margin=1.0, class_weights=None, reduction="mean", axis=-1,
    where=None,
):
    """loss(x, y) = w[y] sum_{i != y} max(0, margin - x[y] + x[i])**p / C.

    PyTorch's documentation writes the weighted loss as max(0, w[y] (margin - x[y] + x[i]))**p;
    torch 2.13 multiplies w[y] outside the power (measured: x = [0.1, 0.2, 0.4, 0.8], y = 3,
    w = [1, 2, 3, 4], p = 2 gives 0.61, not 2.44), and so does this reference.
    A label outside [0, C): jaxloss gives NaN for that sample (PyTorch raises). Shapes
    (ATen's multi_margin_loss_shape_check): a 0-d input is one sample of one class, a (C,)
    input one sample; their target is 0-d or (1,), and "none" has the target's shape.
    jaxloss: the class axis is `axis`, any batch shape.
    """
    x = _f64(input)
    labels = np.asarray(target)
    if x.ndim <= 1:
        x = x.reshape(labels.shape + (x.size,))
    else:
        x = np.moveaxis(x, axis, -1)
    num_classes = x.shape[-1]
    flat, labels = x.reshape(-1, num_classes), labels.reshape(-1)
    w = np.ones(num_classes) if class_weights is None else _f64(class_weights)
    per = np.zeros(len(labels))
    for n, (row, label) in enumerate(zip(flat, labels, strict=True)):
        if not 0 <= label < num_classes:
            per[n] = np.nan
            continue
        total = 0.0
        for i in range(num_classes):
            if i != label:
                total += max(0.0, margin - row[label] + row[i]) ** p
        per[n] = w[label] * total / num_classes
    return _binary_reduce(per.reshape(x.shape[:-1]), where, reduction)


def multilabel_margin_loss(input, target, *, reduction="mean", axis=-1, where=None):
    """loss(x, y) = sum_{j, i} max(0, 1 - (x[y[j]] - x[i])) / C over the listed classes y[j]
    (up to the first -1) and the classes i that are not listed.

    A class listed twice counts twice (ATen loops over the list; measured with torch 2.13).
    A value outside [-1, C) anywhere in the row: jaxloss gives NaN (PyTorch raises). A 0-d
    input is one sample of one class, a (C,) input one sample (ATen's shape check); a scalar
    loss for both. jaxloss: the class axis is `axis`, any batch shape.
    """
    x = _f64(input)
    t = np.asarray(target)
    if x.ndim <= 1:
        x, t = x.reshape(-1), t.reshape(-1)
    else:
        x, t = np.moveaxis(x, axis, -1), np.moveaxis(t, axis, -1)
    num_classes = x.shape[-1]
    flat = x.reshape(-1, num_classes)
    targets = t.reshape(-1, num_classes)
    per = np.zeros(len(flat))
    for n, (row, t) in enumerate(zip(flat, targets, strict=True)):
        if np.any((t < -1) | (t >= num_classes)):
            per[n] = np.nan
            continue
        listed = []
        for label in t:
            if label < 0:
                break
            listed.append(int(label))
        total = 0.0
        for j in listed:
            for i in range(num_classes):
                if i not in listed:
                    total += max(0.0, 1.0 - (row[j] - row[i]))
        per[n] = total / num_classes
    return _binary_reduce(per.reshape(x.shape[:-1]), where, reduction)


COSINE_EPS = 1e-12  # ATen's EPSILON, added to each squared magnitude


def cosine_embedding_loss(input1, input2, target, *, margin=0.0, reduction="mean", where=None):
    """loss(x, y) = 1 - cos(x1, x2) if y = 1, max(0, cos(x1, x2) - margin) if y = -1.

    cos = x1 . x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)), ATen's form; any other target
    value gives 0 (ATen's where(y == 1) + where(y == -1)).
    """
    x1, x2 = _f64(input1), _f64(input2)
    y = np.asarray(target)
    cos = np.sum(x1 * x2, axis=-1) / np.sqrt(
        (np.sum(x1 * x1, axis=-1) + COSINE_EPS) * (np.sum(x2 * x2, axis=-1) + COSINE_EPS)
    )
    per = np.where(y == 1, 1.0 - cos, np.where(y == -1, np.maximum(0.0, cos - margin), 0.0))
    return _binary_reduce(per, where, reduction)


def pairwise_distance(x1, x2, *, p=2.0, eps=1e-6):
    """PyTorch's F.pairwise_distance: ||x1 - x2 + eps||_p over the last axis."""
    d = np.abs(_f64(x1) - _f64(x2) + eps)
    if p == np.inf:
        return np.max(d, axis=-1)
    return np.sum(d**p, axis=-1) ** (1.0 / p)


def triplet_margin_with_distance_loss(
    anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
    reduction="mean", where=None,
):
    """L = max(d(a, p) - d(a, n) + margin, 0), d(a, n) replaced by min(d(a, n), d(p, n)) with
    swap; the default d is pairwise_distance (p = 2, eps = 1e-6)."""
    d = pairwise_distance if distance_function is None else distance_function
    a, pos, neg = _f64(anchor), _f64(positive), _f64(negative)
    d_neg = d(a, neg)
    if swap:
        d_neg = np.minimum(d_neg, d(pos, neg))
    return _binary_reduce(np.maximum(d(a, pos) - d_neg + margin, 0.0), where, reduction)


def triplet_margin_loss(
    anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean",
    where=None,
):
    """triplet_margin_with_distance_loss with d = pairwise_distance(p, eps)."""
    return triplet_margin_with_distance_loss(
        anchor, positive, negative, margin=margin, swap=swap, reduction=reduction, where=where,
        distance_function=lambda u, v: pairwise_distance(u, v, p=p, eps=eps),
    )


# =============================================================================================
# 11. Sequence: ctc_loss
# =============================================================================================


def ctc_sequence_nll(log_probs, target, blank):
    """-log p(target | x) for one sequence: log_probs (T_n, C) of its frames, target (S_n,).

    Graves et al. (2006), eq. 5-8, with PyTorch's docs for the layout: the extended target
    l' puts a blank before, between and after the labels (length 2 S_n + 1); a path may
    stay in a state, move to the next one, or skip a blank between two *different* labels.
    p = alpha_{T-1}(|l'| - 1) + alpha_{T-1}(|l'| - 2), computed with np.logaddexp (log 0 is
    -inf). T_n = 0: p = 1 for the empty target, else 0.
    """
    lp = _f64(log_probs)
    ext = [blank]
    for label in target:
        ext += [int(label), blank]
    n_states = len(ext)
    num_steps = lp.shape[0]
    if num_steps == 0:
        return 0.0 if n_states == 1 else np.inf
    alpha = np.full(n_states, -np.inf)
    alpha[0] = lp[0, ext[0]]
    if n_states > 1:
        alpha[1] = lp[0, ext[1]]
    for t in range(1, num_steps):
        new = np.full(n_states, -np.inf)
        for s in range(n_states):
            total = alpha[s]
            if s >= 1:
                total = np.logaddexp(total, alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total = np.logaddexp(total, alpha[s - 2])
            new[s] = total + lp[t, ext[s]]
        alpha = new
    log_p = alpha[-1] if n_states == 1 else np.logaddexp(alpha[-1], alpha[-2])
    return -log_p


def ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank=0, reduction="mean",
             zero_infinity=False, where=None):
    """PyTorch ``F.ctc_loss``: log_probs (T, N, C) or unbatched (T, C); targets padded (N, S)
    or concatenated 1-D; per sequence the nll of its first input_lengths[n] frames.

    zero_infinity: inf -> 0. "none": (N,) (a scalar unbatched); "sum": sum; "mean": each
    loss divided by max(target_length, 1), then the mean over the batch. jaxloss: ``where``
    drops sequences (loss 0, not in the mean's count; all dropped: 0).
    """
    lp = _f64(log_probs)
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lp[:, None, :]
    il = np.asarray(input_lengths).reshape(-1)
    tl = np.asarray(target_lengths).reshape(-1)
    tg = np.asarray(targets)
    n = lp.shape[1]
    if tg.ndim == 1:
        offsets = np.concatenate([[0], np.cumsum(tl)[:-1]]).astype(int)
        seqs = [tg[offsets[i]: offsets[i] + tl[i]] for i in range(n)]
    else:
        seqs = [tg[i, : tl[i]] for i in range(n)]
    per = np.array([ctc_sequence_nll(lp[: il[i], i], seqs[i], blank) for i in range(n)])
    if zero_infinity:
        per = np.where(np.isinf(per), 0.0, per)
    keep = np.ones(n, bool) if where is None else np.broadcast_to(np.asarray(where, bool), (n,))
    per = np.where(keep, per, 0.0)
    if reduction == "none":
        return per[0] if unbatched else per
    if reduction == "sum":
        return np.sum(per)
    kept = np.count_nonzero(keep)
    return 0.0 if kept == 0 else np.sum(per / np.maximum(tl, 1)) / kept


# =============================================================================================
# 12. Lovász losses: lovasz_softmax_loss, lovasz_hinge_loss
# =============================================================================================

# From Berman et al. (2018) and the authors' lovasz_losses.py as SMP's losses/lovasz.py
# carries it: ignored pixels are removed (boolean indexing), errors sorted in decreasing
# order, and the sorted errors dotted with the Jaccard increments of Alg. 1.


def lovasz_grad(gt_sorted):
    """Alg. 1: the Jaccard loss increments of the ground truth in error order."""
    gt_sorted = _f64(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - np.cumsum(gt_sorted)
    union = gts + np.cumsum(1.0 - gt_sorted)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def _lovasz_flat(errors, labels, values=None):
    """sum_k values[pi(k)] * lovasz_grad(labels[pi])_k, pi sorting errors decreasingly."""
    perm = np.argsort(-errors, kind="stable")
    values = errors if values is None else values
    return float(np.dot(values[perm], lovasz_grad(labels[perm])))


def _group_mean(values, keep_groups, reduction, per_image):
    values = np.asarray(values, np.float64)
    if not per_image:
        return values[0]
    values = np.where(keep_groups, values, 0.0)
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.sum(values)
    return 0.0 if not np.any(keep_groups) else np.sum(values) / np.sum(keep_groups)


def lovasz_softmax_loss(logits, targets, *, classes="present", per_image=False,
                        ignore_index=-100, reduction="mean", axis=-1, where=None):
    """SMP LovaszLoss(mode="multiclass"): softmax over the classes; per group of pixels (the
    batch, or each image with per_image) and class c, errors |[y = c] - p_c| over the kept
    pixels; the class losses averaged over the classes present among them ("present") or
    all. jaxloss: an image with no kept pixel drops out of the per-image mean."""
    x = np.moveaxis(_f64(logits), axis % np.ndim(logits), -1)
    n, c = x.shape[0], x.shape[-1]
    p = np.exp(log_softmax(x.reshape(n, -1, c), axis=-1))
    y = np.asarray(targets).reshape(n, -1)
    keep = y != ignore_index
    if where is not None:
        keep = keep & np.broadcast_to(np.asarray(where, bool), np.shape(targets)).reshape(n, -1)
    groups = [[i] for i in range(n)] if per_image else [list(range(n))]
    out, kept = [], []
    for samples in groups:
        pg = np.concatenate([p[i][keep[i]] for i in samples])
        yg = np.concatenate([y[i][keep[i]] for i in samples])
        kept.append(len(yg) > 0)
        losses = []
        for k in range(c):
            fg = (yg == k).astype(np.float64)
            if classes == "present" and fg.sum() == 0:
                continue
            if len(fg) == 0:
                continue
            losses.append(_lovasz_flat(np.abs(fg - pg[:, k]), fg))
        out.append(np.mean(losses) if losses else 0.0)
    return _group_mean(out, np.array(kept), reduction, per_image)


def lovasz_hinge_loss(logits, targets, *, per_image=False, ignore_index=-100,
                      reduction="mean", where=None):
    """SMP LovaszLoss(mode="binary"/"multilabel"): per group (the batch, or each image with
    per_image) of kept elements, errors 1 - x (2 g - 1), sorted decreasingly, their positive
    part dotted with lovasz_grad. jaxloss: an image with no kept element drops out of the
    per-image mean."""
    x = _f64(logits)
    n = x.shape[0]
    x = x.reshape(n, -1)
    g = np.asarray(targets)
    keep = np.ones(x.shape, bool)
    if np.issubdtype(g.dtype, np.integer):
        keep = g.reshape(n, -1) != ignore_index
    if where is not None:
        keep = keep & np.broadcast_to(np.asarray(where, bool), np.shape(logits)).reshape(n, -1)
    g = _f64(g).reshape(n, -1)
    groups = [[i] for i in range(n)] if per_image else [list(range(n))]
    out, kept = [], []
    for samples in groups:
        xg = np.concatenate([x[i][keep[i]] for i in samples])
        gg = np.concatenate([g[i][keep[i]] for i in samples])
        kept.append(len(gg) > 0)
        if len(gg) == 0:
            out.append(0.0)
            continue
        errors = 1.0 - xg * (2.0 * gg - 1.0)
        out.append(_lovasz_flat(errors, gg, np.maximum(errors, 0.0)))
    return _group_mean(out, np.array(kept), reduction, per_image)


# =============================================================================================
# 13. Detection: torchvision's box IoU losses, mmdetection's dense-detection losses
# =============================================================================================
#
# The box losses transcribe torchvision 0.28 (torchvision/ops/giou_loss.py, diou_loss.py,
# ciou_loss.py and _utils._loss_inter_union), line for line: CIoU calls `_diou_iou_loss`
# without its `eps` (the DIoU part always adds 1e-7). The classification losses transcribe
# mmdetection's mmdet/models/losses/varifocal_loss.py and gfocal_loss.py with mmdetection's
# `weight_reduce_loss` ("mean" over the elements, weights never in the denominator).
# jaxloss: masked elements (`where`) leave numerator and denominator; a "mean" of nothing is 0;
# a point box's aspect angle atan(0 / 0) is 0 (torchvision: NaN); a DFL target at the last
# bin n is CE(x, n) (mmdetection indexes bin n + 1, with weight 0); a QFL label outside
# [0, C] is NaN (mmdetection: background).


def _detection_reduce(per, weights, where, reduction):
    per = _f64(per)
    if weights is not None:
        per = np.broadcast_to(_f64(weights), per.shape) * per
    mask = (np.ones(per.shape, bool) if where is None
            else np.broadcast_to(np.asarray(where, bool), per.shape))
    per = np.where(mask, per, 0.0)
    return _reduce(per.reshape(-1), mask.reshape(-1).astype(np.float64), reduction, per.shape)


def _loss_inter_union(boxes1, boxes2):
    x1, y1, x2, y2 = np.moveaxis(_f64(boxes1), -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(_f64(boxes2), -1, 0)
    xkis1, ykis1 = np.maximum(x1, x1g), np.maximum(y1, y1g)
    xkis2, ykis2 = np.minimum(x2, x2g), np.minimum(y2, y2g)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk = np.where(mask, (xkis2 - xkis1) * (ykis2 - ykis1), 0.0)
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def generalized_box_iou_loss(boxes1, boxes2, *, eps=1e-7, weights=None, reduction="none",
                             where=None):
    intsctk, unionk = _loss_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = np.moveaxis(_f64(boxes1), -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(_f64(boxes2), -1, 0)
    xc1, yc1 = np.minimum(x1, x1g), np.minimum(y1, y1g)
    xc2, yc2 = np.maximum(x2, x2g), np.maximum(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return _detection_reduce(1 - miouk, weights, where, reduction)


def _diou_iou_loss(boxes1, boxes2, eps=1e-7):
    intsct, union = _loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = np.moveaxis(_f64(boxes1), -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(_f64(boxes2), -1, 0)
    xc1, yc1 = np.minimum(x1, x1g), np.minimum(y1, y1g)
    xc2, yc2 = np.maximum(x2, x2g), np.maximum(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p, y_p = (x2 + x1) / 2, (y2 + y1) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    return 1 - iou + (centers_distance_squared / diagonal_distance_squared), iou


def distance_box_iou_loss(boxes1, boxes2, *, eps=1e-7, weights=None, reduction="none",
                          where=None):
    loss, _ = _diou_iou_loss(boxes1, boxes2, eps)
    return _detection_reduce(loss, weights, where, reduction)


def _atan_ratio(w, h):
    """torchvision's ``atan(w / h)``; jaxloss: 0 at ``w = h = 0`` (torchvision: NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.arctan(w / h)
    return np.where((w == 0) & (h == 0), 0.0, angle)


def _aspect_v(boxes1, boxes2):
    x1, y1, x2, y2 = np.moveaxis(_f64(boxes1), -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(_f64(boxes2), -1, 0)
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    return (4 / (np.pi**2)) * (_atan_ratio(w_gt, h_gt) - _atan_ratio(w_pred, h_pred)) ** 2


def complete_box_iou_loss(boxes1, boxes2, *, eps=1e-7, weights=None, reduction="none",
                          where=None, alpha_at=None):
    """``alpha_at``: the boxes at which the aspect weight alpha is evaluated (default: these).
    torchvision computes alpha under ``no_grad``: finite differences of this function match
    its gradient only with alpha held at the unperturbed boxes."""
    diou_loss, iou = _diou_iou_loss(boxes1, boxes2)  # torchvision passes no eps here
    v = _aspect_v(boxes1, boxes2)
    if alpha_at is None:
        alpha_iou, alpha_v = iou, v
    else:
        alpha_iou, alpha_v = _diou_iou_loss(*alpha_at)[1], _aspect_v(*alpha_at)
    alpha = alpha_v / (1 - alpha_iou + alpha_v + eps)  # under no_grad in torchvision
    return _detection_reduce(diou_loss + alpha * v, weights, where, reduction)


def _bce_with_logits(x, t):
    """F.binary_cross_entropy_with_logits(x, t, reduction="none") in float64."""
    return -(t * log_sigmoid(x) + (1 - t) * log_sigmoid(-_f64(x)))


def varifocal_loss(logits, targets, *, alpha=0.75, gamma=2.0, iou_weighted=True,
                   weights=None, reduction="mean", where=None):
    pred, target = _f64(logits), _f64(targets)
    pred_sigmoid = sigmoid(pred)
    if iou_weighted:
        focal_weight = target * (target > 0.0) + alpha * np.abs(
            pred_sigmoid - target) ** gamma * (target <= 0.0)
    else:
        focal_weight = (target > 0.0) + alpha * np.abs(
            pred_sigmoid - target) ** gamma * (target <= 0.0)
    loss = _bce_with_logits(pred, target) * focal_weight
    return _detection_reduce(loss, weights, where, reduction)


def quality_focal_loss(logits, labels, scores, *, beta=2.0, weights=None, reduction="mean",
                       axis=-1, where=None):
    pred = np.moveaxis(_f64(logits), axis, -1)
    label, score = np.asarray(labels), _f64(scores)
    pred_sigmoid = sigmoid(pred)
    # negatives are supervised by 0 quality score
    loss = _bce_with_logits(pred, np.zeros(pred.shape)) * pred_sigmoid**beta
    bg_class_ind = pred.shape[-1]
    for index in np.ndindex(label.shape):
        c = int(label[index])
        if 0 <= c < bg_class_ind:  # positives are supervised by the quality score
            scale_factor = score[index] - pred_sigmoid[index + (c,)]
            loss[index + (c,)] = _bce_with_logits(pred[index + (c,)], score[index]) * (
                np.abs(scale_factor) ** beta)
    loss = loss.sum(axis=-1)
    # jaxloss: a label outside [0, C] (C = background) is NaN, not background
    loss = np.where((label >= 0) & (label <= bg_class_ind), loss, np.nan)
    return _detection_reduce(loss, weights, where, reduction)


def distribution_focal_loss(logits, targets, *, weights=None, reduction="mean", axis=-1,
                            where=None):
    pred = np.moveaxis(_f64(logits), axis, -1)
    label = _f64(targets)
    n = pred.shape[-1] - 1
    log_probs = log_softmax(pred)
    loss = np.full(label.shape, np.nan)
    for index in np.ndindex(label.shape):
        t = label[index]
        if not 0 <= t <= n:
            continue  # jaxloss: NaN
        dis_left = int(t)
        dis_right = dis_left + 1
        weight_left = dis_right - t
        weight_right = t - dis_left
        ce_right = 0.0 if weight_right == 0 else -log_probs[index + (dis_right,)]
        loss[index] = -log_probs[index + (dis_left,)] * weight_left + ce_right * weight_right
    return _detection_reduce(loss, weights, where, reduction)
# SMP overlap: jaccard_loss, mcc_loss (segmentation_models_pytorch 0.6's JaccardLoss and
# MCCLoss, transcribed from losses/jaccard.py, losses/_functional.py and losses/mcc.py)
# =============================================================================================


def jaccard_loss(logits, targets, *, activation="softmax", smooth=1e-5, eps=1e-7,
                 log_loss=False, absent="score", class_weights=None, ignore_index=-100,
                 include_background=True, batch=False, squared=False, soft_label=False,
                 reduction="mean", axis=-1, where=None):
    """jaxloss's soft Jaccard loss, one score per (sample, class) (per class with batch).

    Over the kept pixels of the group (a sample, or the batch): I = sum P T (with soft_label
    I = (S_P + S_T - sum |P - T|) / 2), S_P = sum P**k, S_T = sum T**k (k = 2 with squared),
    U = S_P + S_T - I;
        r = 1 if U + s == 0 (0/0: perfect) else (I + s) / max(U + s, eps)
        j = -log(max(r, eps)) if log_loss else 1 - r
        j = 0 if absent == "zero" and S_T == 0
    Weights and reductions as overlap_loss (dice_loss).
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
    k = 2 if squared else 1
    for g, samples in enumerate(groups):
        any_kept = any(keep[i].any() for i in samples)
        for cls in range(c):
            pk = np.concatenate([p[i, cls][keep[i]] for i in samples])
            tk = np.concatenate([t[i, cls][keep[i]] for i in samples])
            s_p, s_t = np.sum(pk**k), np.sum(tk**k)
            if soft_label and not squared:
                inter = (np.sum(pk) + np.sum(tk) - np.sum(np.abs(pk - tk))) / 2.0
            else:
                inter = np.sum(pk * tk)
            union = s_p + s_t - inter
            if union + smooth == 0:
                r = 1.0
            else:
                r = (inter + smooth) / max(union + smooth, eps)
            j = -np.log(max(r, eps)) if log_loss else 1.0 - r
            if absent == "zero" and s_t == 0:
                j = 0.0
            scores[g, cls] = j
            weights[g, cls] = w[cls] if any_kept else 0.0
    per = np.where(weights != 0, weights * scores, 0.0)
    if batch:
        per, weights = per[0], weights[0]
    if reduction == "none":
        return per
    if reduction == "sum":
        return np.sum(per)
    total = np.sum(weights)
    return 0.0 if total == 0 else np.sum(per) / total


def smp_jaccard_loss(y_pred, y_true, *, mode, classes=None, log_loss=False, from_logits=True,
                     smooth=0.0, ignore_index=None, eps=1e-7, class_weights=None):
    """segmentation_models_pytorch 0.6 ``JaccardLoss`` (channel-first (N, C, ...)).

    Activation as smp_dice_loss (softmax for "multiclass", sigmoid otherwise, none without
    from_logits); ignore_index zeroes prediction and target. Pooled over batch and pixels
    (dims (0, 2)), soft_tversky_score at alpha = beta = 1:
        I = (S_P + S_T - ||P - T||_1) / 2,  score = (I + smooth) / max(S_P + S_T - I + smooth, eps)
        loss_c = -log(max(score, eps)) if log_loss else 1 - score;  0 where sum T_c == 0
    then loss[classes]; with class_weights sum(loss w) / sum(w) (w[classes]), else the mean.
    """
    x = _f64(y_pred)
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1)
    if from_logits:
        x = np.exp(log_softmax(x, axis=1)) if mode == "multiclass" else sigmoid(x)
    y = np.asarray(y_true)
    if mode == "multiclass":
        y = y.reshape(n, -1)
        mask = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
        t = np.moveaxis(np.eye(c)[np.where(mask, y, 0)], -1, 1) * mask[:, None, :]
        x = x * mask[:, None, :]
    else:
        t = _f64(y).reshape(n, c, -1)
        if ignore_index is not None:
            mask = t != ignore_index
            x, t = x * mask, t * mask
    loss = np.zeros(c)
    for k in range(c):
        s_p, s_t = np.sum(x[:, k]), np.sum(t[:, k])
        inter = (s_p + s_t - np.sum(np.abs(x[:, k] - t[:, k]))) / 2.0
        score = (inter + smooth) / max(s_p + s_t - inter + smooth, eps)
        loss[k] = -np.log(max(score, eps)) if log_loss else 1.0 - score
        if s_t <= 0:
            loss[k] = 0.0
    w = None if class_weights is None else _f64(class_weights)
    if classes is not None:
        loss = loss[list(classes)]
        w = None if w is None else w[list(classes)]
    if w is not None:
        return np.sum(loss * w) / np.sum(w)
    return np.mean(loss)


def mcc_loss(input, target, *, eps=1e-5, batch=True, reduction="mean", where=None):
    """jaxloss's MCC loss; with batch=True exactly SMP 0.6's ``MCCLoss``:
        TP = sum p y + eps, TN = sum (1-p)(1-y) + eps, FP = sum p (1-y) + eps,
        FN = sum (1-p) y + eps over the kept elements (of the batch, or of each sample),
        loss = 1 - (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
    A group with no kept element has loss 0 and weight 0; batch=False reduces over samples
    ("mean" over the samples with a kept element)."""
    p, y = _f64(input), _f64(target)
    keep = np.ones(p.shape, bool)
    if where is not None:
        keep = np.broadcast_to(np.asarray(where, bool), p.shape)
    n = p.shape[0]
    groups = [list(range(n))] if batch else [[i] for i in range(n)]
    losses, kept = [], []
    for samples in groups:
        pk = np.concatenate([p[i][keep[i]].ravel() for i in samples])
        yk = np.concatenate([y[i][keep[i]].ravel() for i in samples])
        tp = np.sum(pk * yk) + eps
        tn = np.sum((1 - pk) * (1 - yk)) + eps
        fp = np.sum(pk * (1 - yk)) + eps
        fn = np.sum((1 - pk) * yk) + eps
        mcc = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        kept.append(pk.size > 0)
        losses.append(1.0 - mcc if pk.size > 0 else 0.0)
    if batch:
        return losses[0]
    losses, kept = np.array(losses), np.array(kept)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.sum(losses)
    return 0.0 if not kept.any() else np.sum(losses) / np.sum(kept)
# 14. distance transform
# =============================================================================================


def distance_transform_edt(mask, sampling=None):
    """Brute force: for every nonzero element, the smallest Euclidean distance (grid index
    differences times ``sampling``) to a zero element. Without a zero, SciPy's answer: the
    distance to the grid point at index (-1, 0, ..., 0)."""
    mask = np.asarray(mask)
    s = np.ones(mask.ndim) if sampling is None else np.broadcast_to(
        np.asarray(sampling, np.float64), (mask.ndim,))
    points = np.indices(mask.shape).reshape(mask.ndim, -1).T.astype(np.float64)
    zeros = points[mask.reshape(-1) == 0]
    if len(zeros) == 0:
        zeros = np.zeros((1, mask.ndim))
        zeros[0, 0] = -1.0
    out = np.zeros(mask.size)
    for i, p in enumerate(points):
        if mask.reshape(-1)[i] != 0:
            out[i] = np.min(np.sqrt(np.sum(((zeros - p) * s) ** 2, axis=1)))
    return out.reshape(mask.shape)


# =============================================================================================
# 15. image-text contrastive: clip_loss, siglip_loss (open_clip's ClipLoss and SigLipLoss)
# =============================================================================================


def clip_loss(image_features, text_features, *, logit_scale, logit_bias=None):
    """(1/2B) sum_i [(logsumexp_j l_ij - l_ii) + (logsumexp_j l_ji - l_ii)],
    l_ij = s x_i.y_j + b: the mean of the image-to-text and text-to-image cross-entropies with
    label i for row i. The features are used as given (not normalised)."""
    x = np.asarray(image_features, np.float64)
    y = np.asarray(text_features, np.float64)
    logits = float(logit_scale) * (x @ y.T)
    if logit_bias is not None:
        logits = logits + float(logit_bias)
    n = x.shape[0]
    image_to_text = sum(logsumexp(logits[i]) - logits[i, i] for i in range(n))
    text_to_image = sum(logsumexp(logits[:, i]) - logits[i, i] for i in range(n))
    return (image_to_text + text_to_image) / (2 * n)


def siglip_loss(image_features, text_features, *, logit_scale, logit_bias):
    """-(1/B) sum_ij log sigmoid(z_ij l_ij), z_ij = +1 if i == j else -1,
    l_ij = s x_i.y_j + b (open_clip's normalisation: the sum over all B^2 pairs divided by B)."""
    x = np.asarray(image_features, np.float64)
    y = np.asarray(text_features, np.float64)
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = 1.0 if i == j else -1.0
            total -= log_sigmoid(z * (float(logit_scale) * (x[i] @ y[j]) + float(logit_bias)))
    return total / n
# 16. Shape-aware segmentation (MONAI 1.6): hausdorff_dt_loss, log_hausdorff_dt_loss,
#     boundary_loss, soft_cldice_loss, soft_dice_cldice_loss
# =============================================================================================


def _shape_prepare(logits, targets, *, activation, ignore_index, axis, where):
    """Channel-first float64 (N, C, *S) probabilities and targets, 0 at dropped pixels (NaN
    targets at kept out-of-range labels), and the kept-pixel mask (N, *S)."""
    p, t, keep = _probs_and_onehot(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c, _ = p.shape
    spatial = _pixel_shape(logits, axis)[1:]
    p = np.where(keep[:, None], p, 0.0).reshape(n, c, *spatial)
    t = np.where(keep[:, None], t, 0.0).reshape(n, c, *spatial)
    return p, t, keep.reshape(n, *spatial)


def _included(c, include_background):
    """1 for the classes in the loss: class 0 dropped without the background, unless it is
    the only channel (MONAI ignores include_background=False for one channel)."""
    w = np.ones(c)
    if not include_background and c > 1:
        w[0] = 0.0
    return w


def _edt(mask):
    from scipy import ndimage

    return ndimage.distance_transform_edt(mask)


def _interface(mask):
    return bool(mask.any()) and not bool(mask.all())


def monai_hausdorff_field(mask):
    """MONAI's HausdorffDTLoss.distance_field of one binary mask: edt(M) + edt(~M), zeros
    without an interface."""
    if not _interface(mask):
        return np.zeros(mask.shape)
    return _edt(mask) + _edt(~mask)


def monai_boundary_map(mask):
    """MONAI's BoundaryLoss.compute_distance_map of one binary mask: edt(~M) outside,
    1 - edt(M) inside, zeros without an interface."""
    if not _interface(mask):
        return np.zeros(mask.shape)
    return np.where(mask, 1.0 - _edt(mask), _edt(~mask))


def _pixel_means(per_pixel, keep, include, batch, reduction):
    """Per (sample, class) means over the kept pixels (pooled over the batch with batch),
    0 where nothing is kept; "none" / "sum" / "mean" over the included classes of the kept
    samples."""
    n, c = per_pixel.shape[:2]
    sums = np.array([[np.sum(np.where(keep[i], per_pixel[i, k], 0.0)) for k in range(c)]
                     for i in range(n)])
    counts = np.array([np.sum(keep[i]) for i in range(n)], np.float64)
    if batch:
        total = counts.sum()
        values = sums.sum(axis=0) / total if total else np.zeros(c)
        weights = include * (total > 0)
    else:
        values = np.array([sums[i] / counts[i] if counts[i] else np.zeros(c) for i in range(n)])
        weights = include[None, :] * (counts[:, None] > 0)
    per = np.where(weights != 0, values, 0.0)
    if reduction == "none":
        return per
    if reduction == "sum":
        return np.sum(per)
    return 0.0 if not np.sum(weights) else np.sum(per) / np.sum(weights)


def hausdorff_dt_loss(
    logits, targets, *, alpha=2.0, activation="softmax", include_background=False, batch=False,
    ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """MONAI's HausdorffDTLoss on the kept pixels: per (sample, class) the mean of
    (P - T)**2 * (d_P**alpha + d_T**alpha), d the distance field of P > 0.5 and T > 0.5
    (dropped pixels are 0 in both); 0**0 = 1 (torch.pow)."""
    p, t, keep = _shape_prepare(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c = p.shape[:2]
    per_pixel = np.zeros(p.shape)
    for i in range(n):
        for k in range(c):
            dp = monai_hausdorff_field(p[i, k] > 0.5)
            dt = monai_hausdorff_field(t[i, k] > 0.5)
            distance = np.power(dp, float(alpha)) + np.power(dt, float(alpha))
            per_pixel[i, k] = (p[i, k] - t[i, k]) ** 2 * distance
    return _pixel_means(per_pixel, keep, _included(c, include_background), batch, reduction)


def log_hausdorff_dt_loss(logits, targets, **kwargs):
    """MONAI's LogHausdorffDTLoss: log(1 + the reduced Hausdorff loss)."""
    return np.log1p(hausdorff_dt_loss(logits, targets, **kwargs))


def boundary_loss(
    logits, targets, *, activation="softmax", include_background=True, batch=False,
    ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """MONAI 1.6's BoundaryLoss on the kept pixels: per (sample, class) the mean of P * phi,
    phi the signed map of T > 0.5. A NaN target (kept out-of-range label) poisons its sample.
    With batch, the mean over the kept pixels of the batch (MONAI's mean of the per-sample
    means when nothing is dropped)."""
    p, t, keep = _shape_prepare(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c = p.shape[:2]
    per_pixel = np.zeros(p.shape)
    for i in range(n):
        for k in range(c):
            phi = monai_boundary_map(t[i, k] > 0.5)
            per_pixel[i, k] = np.where(np.isnan(t[i, k]), np.nan, p[i, k] * phi)
    return _pixel_means(per_pixel, keep, _included(c, include_background), batch, reduction)


def _soft_erode(img):
    """MONAI's soft_erode of (N, C, *S): the minimum of the 3-windows along each spatial
    axis, the border ignored (torch's max_pool padding)."""
    from scipy import ndimage

    out = None
    for a in range(2, img.ndim):
        size = [1] * img.ndim
        size[a] = 3
        pooled = ndimage.minimum_filter(img, size=size, mode="constant", cval=np.inf)
        out = pooled if out is None else np.minimum(out, pooled)
    return out


def _soft_dilate(img):
    from scipy import ndimage

    size = [1, 1] + [3] * (img.ndim - 2)
    return ndimage.maximum_filter(img, size=size, mode="constant", cval=-np.inf)


def soft_skeleton(img, iterations):
    """MONAI's soft_skel (Shit et al.)."""

    def relu(x):
        return np.maximum(x, 0.0)

    skel = relu(img - _soft_dilate(_soft_erode(img)))
    for _ in range(iterations):
        img = _soft_erode(img)
        delta = relu(img - _soft_dilate(_soft_erode(img)))
        skel = skel + relu(delta - skel * delta)
    return skel


def _cldice_parts(logits, targets, *, iterations, smooth, eps, activation, include_background,
                  ignore_index, axis, where):
    p, t, keep = _shape_prepare(
        logits, targets, activation=activation, ignore_index=ignore_index, axis=axis, where=where
    )
    n, c = p.shape[:2]
    include = _included(c, include_background)
    sp, st = soft_skeleton(p, iterations), soft_skeleton(t, iterations)
    inc = include.reshape((1, c) + (1,) * (p.ndim - 2))

    def total(v):
        return np.sum((v * inc).reshape(n, -1), axis=1)

    def ratio(num, den):
        return np.where(den == 0, 1.0, num / np.where(den == 0, 1.0, den))

    tprec = ratio(total(sp * t) + smooth, total(sp) + smooth)
    tsens = ratio(total(st * p) + smooth, total(st) + smooth)
    cl = 1.0 - 2.0 * tprec * tsens / (tprec + tsens + eps)
    kept = keep.reshape(n, -1).any(axis=1)
    return p, t, keep, include, cl, kept


def _image_reduce(per, kept, reduction):
    per = np.where(kept, per, 0.0)
    if reduction == "none":
        return per
    if reduction == "sum":
        return np.sum(per)
    return 0.0 if not kept.any() else np.sum(per) / np.sum(kept)


def soft_cldice_loss(
    logits, targets, *, iterations=3, smooth=1.0, eps=1e-4, activation="softmax",
    include_background=True, ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """MONAI 1.6's SoftclDiceLoss (smooth_nr = smooth_dr = smooth, its `smooth` = eps): one
    value per image over the included classes; 0/0 read as 1."""
    *_, cl, kept = _cldice_parts(
        logits, targets, iterations=iterations, smooth=smooth, eps=eps, activation=activation,
        include_background=include_background, ignore_index=ignore_index, axis=axis,
        where=where,
    )
    return _image_reduce(cl, kept, reduction)


def soft_dice_cldice_loss(
    logits, targets, *, alpha=0.5, iterations=3, smooth=1.0, eps=1e-4, activation="softmax",
    include_background=True, ignore_index=-100, reduction="mean", axis=-1, where=None,
):
    """(1 - alpha) * (the per-image mean over the included classes of MONAI's Dice with
    smooth_nr = smooth_dr = smooth) + alpha * clDice, per image."""
    p, t, keep, include, cl, kept = _cldice_parts(
        logits, targets, iterations=iterations, smooth=smooth, eps=eps, activation=activation,
        include_background=include_background, ignore_index=ignore_index, axis=axis,
        where=where,
    )
    n, c = p.shape[:2]
    dice = np.zeros(n)
    for i in range(n):
        for k in range(c):
            if include[k]:
                inter = np.sum(p[i, k] * t[i, k])
                den = np.sum(p[i, k]) + np.sum(t[i, k]) + smooth
                dice[i] += 0.0 if den == 0 else 1.0 - (2.0 * inter + smooth) / den
        dice[i] /= np.sum(include)
    return _image_reduce((1.0 - alpha) * dice + alpha * cl, kept, reduction)
