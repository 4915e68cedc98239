"""Sequence losses: connectionist temporal classification (CTC), as PyTorch's ``F.ctc_loss``.

The forward variable of Graves et al. (2006) runs over the extended label sequence (a blank
before, between and after the labels: length 2S + 1) in log space, as one ``lax.scan`` over
time vectorised over the batch. Gradients are JAX's derivatives of that scan (reverse mode
keeps the per-step softmax weights of the three-way log-sum-exp and runs the recursion
backwards in linear space, which is the backward variable of the paper); the log-sum-exp is
written so that every derivative is finite at unreachable (``-inf``) states.

The recursion is normalised per frame (Rabiner's scaling, in log space): each frame's
forward variables are shifted so that their largest entry is near 0, and the shifts are
accumulated apart. Unnormalised, log alpha grows like -T * (nats per frame), and every step
rounds it at that magnitude: in float32 at T = 10000 (log alpha ~ -16000, ulp 2e-3) the
rounding errors add up to a loss off by units and occupancies off by several percent. The
shifts are whole numbers, so their float sum is exact (below 2**24), and they are held
constant for differentiation: the loss does not depend on them, so every derivative of any
order is that of the unnormalised recursion.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss import _check_runtime, _checks, _inputs
from jaxloss._reduction import reduce_sequence_loss, weigh

_FN = "ctc_loss"


# ---------------------------------------------------------------------------------------------
# The recursions
# ---------------------------------------------------------------------------------------------


def _lse3(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """``log(exp(a) + exp(b) + exp(c))``, ``-inf`` where all three are ``-inf`` (an
    unreachable state), with finite derivatives of every order there: the shift is held
    (its derivative cancels) and the log never sees 0 in the branch that is kept.
    """
    m = jnp.maximum(jnp.maximum(a, b), c)
    m = jax.lax.stop_gradient(jnp.where(m == -jnp.inf, 0.0, m))
    total = jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m)
    reachable = total > 0
    return jnp.where(reachable, m + jnp.log(jnp.where(reachable, total, 1.0)), -jnp.inf)


def _shift_right(a: jax.Array, k: int, fill: Any) -> jax.Array:
    """``a[..., s - k]`` along the last axis, ``fill`` for ``s < k``."""
    pad = jnp.full(a.shape[:-1] + (k,), fill, a.dtype)
    return jnp.concatenate([pad, a], axis=-1)[..., : a.shape[-1]]


def _alpha(emit, skip, input_lengths):
    """The normalised log forward variables. ``emit`` (T, N, L): log y_t(l'_s); ``skip``
    (N, L): 0 where the transition s - 2 -> s is allowed, else -inf. A sequence's alpha stops
    changing after its input length. Returns the last normalised alpha (N, L) and the summed
    log scales (N,): log alpha_{T_n - 1} = last + scale."""
    num_steps, batch, length = emit.shape
    # alpha_{-1}: probability 1 in a virtual state before state 0, so that every t, t = 0
    # included, is the same recursion (and input length 0 leaves alpha_{-1}).
    start = jnp.where(jnp.arange(length)[None, :] == 0, 0.0, -jnp.inf).astype(emit.dtype)
    # Zeros carrying the inputs' varying mesh axes (inside shard_map the carry must have the
    # type the step returns).
    start = start + jnp.zeros_like(emit[0]) + jnp.zeros_like(skip)
    start = start + jnp.zeros_like(input_lengths, emit.dtype)[:, None]
    scale = jnp.zeros_like(start[:, 0])

    def step(carry, xs):
        a, scale = carry
        e_t, t = xs
        new = e_t + _lse3(a, _shift_right(a, 1, -jnp.inf), _shift_right(a, 2, -jnp.inf) + skip)
        # The frame's shift: its largest log alpha rounded to a whole number (0 where every
        # state is unreachable), held constant for differentiation (the loss is invariant).
        m = jnp.max(new, axis=-1)
        c = jax.lax.stop_gradient(jnp.where(m == -jnp.inf, 0.0, jnp.round(m)))
        live = t < input_lengths
        a = jnp.where(live[:, None], new - c[:, None], a)
        scale = scale + jnp.where(live, c, 0.0)
        return (a, scale), None

    (last, scale), _ = jax.lax.scan(
        step, (start, scale), (emit, jnp.arange(num_steps, dtype=jnp.int32))
    )
    return last, scale


def _log_total(x: jax.Array) -> jax.Array:
    """``logsumexp`` over the last axis, ``-inf`` with zero derivatives where every entry is
    ``-inf`` (an infeasible target), so a zeroed infinite loss has finite gradients."""
    m = jnp.max(x, axis=-1, keepdims=True)
    m = jax.lax.stop_gradient(jnp.where(m == -jnp.inf, 0.0, m))
    total = jnp.sum(jnp.exp(x - m), axis=-1)
    feasible = total > 0
    return jnp.where(feasible, m[..., 0] + jnp.log(jnp.where(feasible, total, 1.0)), -jnp.inf)


def _ctc_nll(log_probs, ext, skip, input_lengths, end, zero_infinity):
    """-log p(l | x) per sequence (N,) from (T, N, C) log-probabilities and the (N, L)
    extended labels ``ext``."""
    batch = log_probs.shape[1]
    emit = log_probs[:, jnp.arange(batch, dtype=jnp.int32)[:, None], ext]  # (T, N, L)
    last, scale = _alpha(emit, skip, input_lengths)
    if zero_infinity:
        nll = -(scale + _log_total(last + end))
        return jnp.where(jnp.isinf(nll), 0.0, nll)
    # Without zero_infinity an infeasible target's gradient is NaN, as PyTorch's.
    return -(scale + jax.nn.logsumexp(last + end, axis=-1))


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _integer_array(name: str, x: ArrayLike) -> jax.Array:
    given = _checks.given_dtype(x)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        dtype = x.dtype if given is None else given
        raise TypeError(
            f"{_FN}: `{name}` must be an integer array, got dtype {dtype}."
            + (f" Cast it with `{name}.astype(jnp.int32)`." if name != "targets" else
               " Targets are class indices: cast them with `targets.astype(jnp.int32)`.")
        )
    return x


def _check_blank(blank: Any, num_classes: int) -> None:
    if not isinstance(blank, (int, np.integer)) or isinstance(blank, (bool, np.bool_)):
        raise TypeError(
            f"{_FN}: `blank` must be a Python int (the blank's class index is structure, not "
            f"data), got {blank!r}."
        )
    if not 0 <= blank < num_classes:
        raise ValueError(
            f"{_FN}: `blank` must be a class index in [0, {num_classes}) (C = "
            f"log_probs.shape[-1] = {num_classes}), got {blank}."
        )


def _check_length_shape(name: str, x: jax.Array, batch: int | None, lp_shape) -> jax.Array:
    """(N,) lengths for batched log_probs; a scalar or (1,) for unbatched (T, C) ones."""
    if batch is None:
        if x.shape not in ((), (1,)):
            raise ValueError(
                f"{_FN}: `{name}` must be a scalar (or shape (1,)) for unbatched (T, C) "
                f"`log_probs` of shape {lp_shape}, got shape {x.shape}."
            )
        return x.reshape(1)
    if x.shape != (batch,):
        raise ValueError(
            f"{_FN}: `{name}` must have shape ({batch},), one length per sequence of "
            f"`log_probs` of shape {lp_shape} (T, N, C), got shape {x.shape}."
        )
    return x


def _check_values(xp, targets, input_lengths, target_lengths, keep, num_steps, num_classes,
                  blank, concatenated):
    """Lengths and targets in range; ``xp`` is NumPy for concrete values (checked at once,
    no device op), ``jax.numpy`` for traced ones under ``checked`` (staged)."""
    _checks.check_bad_values(
        _FN, "input_lengths", input_lengths,
        keep & ((input_lengths < 0) | (input_lengths > num_steps)),
        expected=f"in [0, {num_steps}] (T = log_probs.shape[0])",
    )
    if concatenated:
        _checks.check_bad_values(
            _FN, "target_lengths", target_lengths, keep & (target_lengths < 0),
            expected=">= 0",
        )
        total = targets.shape[0]

        def message(got: np.ndarray, shard: str | None = None) -> str:
            del shard
            return (
                f"{_FN}: 1-D (concatenated) `targets` must hold sum(target_lengths) = "
                f"{_checks.fmt(got)} labels, got {total}. Padded targets have shape (N, S)."
            )

        got = xp.sum(target_lengths)
        _check_runtime.require(got != total, message, lambda: {"got": got})
        if keep.shape[0] == 0:
            return
        # Each label's sequence, from its position against the ends of the sequences.
        ends = xp.cumsum(xp.maximum(target_lengths, 0))
        owner = xp.searchsorted(ends, xp.arange(total, dtype=ends.dtype), side="right")
        kept_label = (owner < keep.shape[0]) & keep[xp.minimum(owner, keep.shape[0] - 1)]
    else:
        width = targets.shape[1]
        _checks.check_bad_values(
            _FN, "target_lengths", target_lengths,
            keep & ((target_lengths < 0) | (target_lengths > width)),
            expected=f"in [0, {width}] (S = targets.shape[1], the padded width)",
        )
        positions = xp.arange(width, dtype=target_lengths.dtype)
        kept_label = keep[:, None] & (positions[None, :] < target_lengths[:, None])
    bad = kept_label & ((targets < 0) | (targets >= num_classes) | (targets == blank))
    _checks.check_bad_values(
        _FN, "targets", targets, bad,
        expected=f"class indices in [0, {num_classes}) other than blank={blank}",
        hint=" Entries beyond target_lengths are padding and not read.",
    )


# ---------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------


@_inputs.public
def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    *,
    blank: int = 0,
    weights: ArrayLike | None = None,
    reduction: str = "mean",
    zero_infinity: bool = False,
    where: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""Connectionist temporal classification loss, as PyTorch's ``F.ctc_loss``.

    For sequence n with T_n frames and target :math:`l` of length S_n, the loss is the
    negative log-probability of all alignments that collapse to :math:`l` (Graves et al.,
    2006, eq. 3-8), summed in log space over the extended sequence :math:`l'` (a blank
    before, between and after the labels, length 2 S_n + 1):

    .. math::

       \alpha_t(s) = y_t(l'_s) \big[\alpha_{t-1}(s) + \alpha_{t-1}(s-1)
           + [l'_s \ne \text{blank},\ l'_s \ne l'_{s-2}]\, \alpha_{t-1}(s-2)\big],
       \qquad
       \ell_n = -\log\big(\alpha_{T_n-1}(2S_n) + \alpha_{T_n-1}(2S_n-1)\big)

    with :math:`\log y_t(c)` = ``log_probs[t, n, c]``. A repeated label needs a blank
    between its copies, so a target is feasible iff T_n >= S_n + (number of adjacent
    repeats); an infeasible one has loss ``inf`` (``zero_infinity=True``: 0 with zero
    gradient). An empty target (S_n = 0) is all blanks, and T_n = 0 with S_n = 0 has loss 0.
    A ``-inf`` log-probability is exact: off every alignment it changes nothing, on every
    alignment it makes the loss ``inf``. The recursion is normalised per frame (the log
    scale factors are summed apart), so long inputs keep the dtype's precision: in float32
    at T = 10000 the loss stays within about 1e-6 (relative) of its float64 value.

    Reductions are PyTorch's: ``"mean"`` divides each sequence's loss by its target length
    (clamped to >= 1) and averages over the batch; ``"sum"`` adds the losses; ``"none"``
    returns them, shape (N,) (a scalar for unbatched input).

    Gradients are the exact derivatives of the loss with respect to ``log_probs``: minus the
    occupancy of each (frame, class) (Graves' eq. 16 before the softmax), 0 for frames
    ``t >= input_lengths[n]``. PyTorch's CTC backward instead returns the gradient with
    respect to the logits of a log-softmax, ``exp(log_probs) - occupancy`` (verified on
    torch 2.13): the two agree exactly once they pass back through
    ``jax.nn.log_softmax`` (the documented use, where the rows of ``exp(log_probs)`` sum to
    1), and differ by ``exp(log_probs)`` when differentiating with respect to
    ``log_probs`` directly. An infeasible target without ``zero_infinity`` has NaN
    gradients, as in PyTorch; with it, finite (zero) ones.

    optax's ``ctc_loss(logits, logit_paddings, labels, label_paddings, blank_id=0)`` is the
    same per-sequence loss with another layout: ``log_probs = jnp.moveaxis(
    jax.nn.log_softmax(logits), 1, 0)``, ``input_lengths = T - logit_paddings.sum(1)``,
    ``targets = labels``, ``target_lengths = S - label_paddings.sum(1)``; optax returns
    the (N,) losses (``reduction="none"``) and writes log(0) as ``-1e5``, so an infeasible
    target costs about 1e5 instead of ``inf``.

    Args:
      log_probs: (T, N, C) float log-probabilities (``jax.nn.log_softmax`` over C), or
        (T, C) for one unbatched sequence. Time first, as PyTorch.
      targets: integer class indices, padded (N, S) (entries at and beyond
        ``target_lengths[n]`` are not read; S may exceed the longest target), or 1-D,
        all targets concatenated, of length ``sum(target_lengths)``. Unbatched: 1-D
        (one target, of length ``target_lengths``) or (1, S). Never the blank.
      input_lengths: (N,) integers in [0, T], the frames of each sequence (a scalar or (1,)
        unbatched); a Python list or tuple works too. Traceable.
      target_lengths: (N,) integers, the length of each target (<= S when padded).
        Traceable; with concatenated targets under ``jit`` the padded width becomes
        ``sum(target_lengths)`` (it must be known while tracing), so pass padded targets
        there when speed matters.
      blank: the blank's class index in [0, C), a Python int (structure, not traced).
      weights: optional real per-element weights, broadcastable to the batch shape, (N,) (``()``
        unbatched) like ``where`` (traceable): each element's loss is multiplied by its weight and
        "mean" still divides by the number of kept sequences (after each is divided by its target
        length), as without weights.
      reduction: "mean", "sum" or "none".
      zero_infinity: a Python bool; True sets infinite losses (infeasible targets) and their
        gradients to 0.
      where: optional boolean mask of shape (N,) (broadcastable); False sequences count as
        absent: loss 0, excluded from the "mean", not checked.
      axis_name: inside ``shard_map``/``pmap`` with the batch split over that axis (axis 1
        of ``log_probs``), makes "mean" and "sum" global.

    Returns:
      A scalar for "mean"/"sum", else (N,) (a scalar unbatched); float32 (float64 for
      float64 ``log_probs``; bf16/f16 are computed in float32). Gradients have the dtype of
      ``log_probs``.

    Raises:
      ValueError: ``weights`` that do not broadcast; unknown ``reduction``; ``log_probs`` not (T, N,
        C) or (T, C), or with T = 0; ``blank`` outside [0, C); lengths or targets whose shapes
        do not fit ``log_probs``.
      TypeError: boolean or complex ``weights``; non-float ``log_probs``; non-integer targets or
        lengths (PyTorch casts float targets); ``blank`` not an int; ``zero_infinity`` not a bool.

    Values are checked where they are concrete (Python or NumPy lengths and targets, eager
    calls; under :func:`jaxloss.checked` also inside ``jit``), raising
    :class:`jaxloss._check_runtime.CheckError` (a ``ValueError``) that names the first offending
    entry: lengths outside [0, T], negative target lengths or ones beyond S, concatenated
    targets whose size is not ``sum(target_lengths)``, and targets (within their length)
    outside [0, C) or equal to ``blank`` (PyTorch computes a number for those). Traced
    and unchecked, such a sequence's loss is NaN; nothing is clamped or dropped.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_probs = jnp.full((3, 1, 3), jnp.log(1 / 3))  # (T, N, C): uniform over 3
      >>> loss = jaxloss.ctc_loss(log_probs, jnp.array([[1]]), [3], [1], reduction="sum")
      >>> print(f"{loss:.4f}")  # six alignments of "1" in 3 frames: -log(6 / 27)
      1.5041
      >>> jaxloss.ctc_loss(log_probs, jnp.array([[1, 1]]), [3], [2], reduction="none")
      Array([3.2958], dtype=float32)
      >>> jaxloss.ctc_loss(log_probs, jnp.array([[1, 1, 1]]), [3], [3], reduction="none",
      ...                  zero_infinity=True)  # "111" needs 5 frames
      Array([0.], dtype=float32)

    References:
      Graves, Fernandez, Gomez, Schmidhuber, "Connectionist temporal classification:
      labelling unsegmented sequence data with recurrent neural networks", ICML 2006.
      PyTorch ``torch.nn.functional.ctc_loss`` (ATen ``LossCTC.cpp``).
    """
    lp_given = _checks.given_dtype(log_probs)
    lp = jnp.asarray(log_probs)
    _checks.check_reduction(_FN, reduction)
    _checks.check_float(_FN, "log_probs", lp, given=lp_given)
    if lp.ndim not in (2, 3):
        raise ValueError(
            f"{_FN}: `log_probs` must have shape (T, N, C) (time first, as PyTorch), or "
            f"(T, C) for one unbatched sequence, got shape {lp.shape}."
        )
    if lp.shape[0] == 0:
        raise ValueError(
            f"{_FN}: `log_probs` must have at least one time step (T = log_probs.shape[0] "
            f">= 1), got shape {lp.shape}."
        )
    lp_shape = lp.shape
    batched = lp.ndim == 3
    num_classes = lp.shape[-1]
    _check_blank(blank, num_classes)
    zero_infinity = _inputs.flag(_FN, "zero_infinity", zero_infinity)
    targets_in, input_lengths_in, target_lengths_in = targets, input_lengths, target_lengths
    targets = _integer_array("targets", targets)
    input_lengths = _integer_array("input_lengths", input_lengths)
    target_lengths = _integer_array("target_lengths", target_lengths)
    if not batched:
        lp = lp[:, None, :]
    num_steps, batch, _ = lp.shape
    input_lengths = _check_length_shape(
        "input_lengths", input_lengths, batch if batched else None, lp_shape
    )
    target_lengths = _check_length_shape(
        "target_lengths", target_lengths, batch if batched else None, lp_shape
    )
    concatenated = targets.ndim == 1
    if targets.ndim not in (1, 2) or (targets.ndim == 2 and targets.shape[0] != batch):
        expected = (f"({batch}, S) (padded) or 1-D (concatenated)" if batched
                    else "(S,) or (1, S)")
        raise ValueError(
            f"{_FN}: `targets` must have shape {expected} for `log_probs` of shape "
            f"{lp_shape}, got shape {targets.shape}."
        )
    mask = _checks.as_mask(_FN, where, (batch,) if batched else ())
    seq_weights = _checks.as_weights(
        _FN, weights, (batch,) if batched else (), _inputs.compute_dtype(lp.dtype)
    )
    if mask is not None:
        mask = mask.reshape(batch)
    if seq_weights is not None:
        seq_weights = seq_weights.reshape(batch)

    # Concreteness is read from the arguments as passed: inside jit, JAX may turn even a
    # host constant into a tracer once it goes through jnp.asarray.
    raw = (targets_in, input_lengths_in, target_lengths_in, where)
    concrete = not any(isinstance(v, jax.core.Tracer) for v in raw)
    if concrete:
        # Host values: checked with NumPy at once (no device op), always.
        keep: Any = (np.ones((batch,), bool) if where is None
                else np.broadcast_to(np.asarray(where), (batch,) if batched else ()).reshape(batch))
        host_targets = np.asarray(targets_in)
        host_tl = np.asarray(target_lengths_in).reshape(batch)
        _check_values(np, host_targets, np.asarray(input_lengths_in).reshape(batch), host_tl,
                      keep, num_steps, num_classes, blank, concatenated)
    else:
        # Traced: staged checks, free unless the program is checkified (jaxloss.checked, or
        # the user's own checkify of a jitted step).
        keep = jnp.ones((batch,), jnp.bool_) if mask is None else mask
        _check_values(jnp, targets, input_lengths, target_lengths, keep, num_steps,
                      num_classes, blank, concatenated)
    width = targets.shape[1] if not concatenated else targets.shape[0]
    if concatenated and not isinstance(target_lengths_in, jax.core.Tracer):
        # The longest target, known while tracing; traced lengths need the upper bound.
        longest = np.max(np.asarray(target_lengths_in), initial=0)
        width = int(np.clip(longest, 0, width))
    out = _ctc(
        lp, targets.astype(jnp.int32), input_lengths.astype(jnp.int32),
        target_lengths.astype(jnp.int32), mask, seq_weights, blank=int(blank),
        zero_infinity=bool(zero_infinity), reduction=reduction, width=width,
        concatenated=concatenated, axis_name=axis_name,
    )
    return out if batched or reduction != "none" else out[0]


@functools.partial(
    jax.jit,
    static_argnames=("blank", "zero_infinity", "reduction", "width", "concatenated", "axis_name"),
)
def _ctc(lp, targets, input_lengths, target_lengths, mask, seq_weights, *, blank, zero_infinity,
         reduction, width, concatenated, axis_name):
    """The loss after validation, one compiled program (eager calls too: one dispatch)."""
    num_steps, batch, num_classes = lp.shape
    col = jnp.arange(width, dtype=jnp.int32)[None, :]
    if concatenated:
        total = targets.shape[0]
        pos = (jnp.cumsum(target_lengths) - target_lengths)[:, None] + col
        if total:
            padded = targets[jnp.clip(pos, 0, total - 1)]
        else:
            padded = jnp.zeros((batch, width), jnp.int32)
    else:
        padded = targets
    given_total = jnp.sum(target_lengths)
    if mask is not None:
        # A masked sequence: an empty target over no frames (always feasible) and uniform
        # log-probabilities, weight 1, so that a NaN or inf there (or an infeasible length)
        # reaches no gradient. After the concatenated targets are located: their offsets
        # come from every sequence's given length.
        input_lengths = _inputs.masked(input_lengths, mask, 0)
        target_lengths = _inputs.masked(target_lengths, mask, 0)
        lp = _inputs.masked(lp, mask, -math.log(num_classes), axis=-1)
        if seq_weights is not None:
            seq_weights = _inputs.masked(seq_weights, mask, 1.0)
    in_target = col < target_lengths[:, None]
    bad_label = in_target & ((padded < 0) | (padded >= num_classes) | (padded == blank))
    # Traced, unchecked invalid values make that sequence's loss NaN: never a clamped number.
    invalid = (
        (input_lengths < 0) | (input_lengths > num_steps) | (target_lengths < 0)
        | (target_lengths > width) | jnp.any(bad_label, axis=1)
    )
    if concatenated:
        invalid = invalid | (given_total != targets.shape[0])
    input_lengths = jnp.clip(input_lengths, 0, num_steps)
    target_lengths = jnp.clip(target_lengths, 0, width)

    # Extended labels l' (N, 2S + 1): blanks at even positions, the targets at odd ones
    # (padding beyond the target length read as blanks, never gathered out of range).
    length = 2 * width + 1
    labels = jnp.where(in_target & ~bad_label, padded, blank)
    ext = jnp.full((batch, length), blank, jnp.int32).at[:, 1::2].set(labels)
    s = jnp.arange(length, dtype=jnp.int32)[None, :]
    dtype = _inputs.compute_dtype(lp.dtype)
    skip_ok = (s % 2 == 1) & (s >= 2) & (ext != _shift_right(ext, 2, blank))
    skip = jnp.where(skip_ok, 0.0, -jnp.inf).astype(dtype)
    last_blank = 2 * target_lengths[:, None]
    end = jnp.where((s == last_blank) | (s == last_blank - 1), 0.0, -jnp.inf).astype(dtype)

    x = lp.astype(dtype)
    nll = _ctc_nll(x, ext, skip, input_lengths, end, zero_infinity)
    per = weigh(jnp.where(invalid, jnp.nan, nll), seq_weights)
    if mask is not None:
        per = jnp.where(mask, per, 0.0)
    return reduce_sequence_loss(per, target_lengths, mask, reduction, axis_name)
