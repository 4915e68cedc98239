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
5. segmentation (Dice family): dice_loss, tversky_loss, dice_cross_entropy_loss, MONAI and
   segmentation_models_pytorch DiceLoss
6. parameter penalties: l1_penalty, l2_penalty
7. sequence: ctc_loss
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
# 7. Sequence: ctc_loss
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
