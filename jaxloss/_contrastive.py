"""Image-text contrastive losses (CLIP, SigLIP), with negatives from every device of a mesh.

Both losses take a batch of ``B`` matching pairs: row ``i`` of ``image_features`` belongs with
row ``i`` of ``text_features``, every other row of the batch is a negative. Neither normalises
the features (open_clip's models and big_vision normalise them before the loss; so does the
caller here), and ``logit_scale`` is the multiplier itself, ``exp`` of open_clip's learnable
``logit_scale`` parameter, not its log.

Under ``axis_name`` (inside ``jax.shard_map`` or ``jax.pmap``, the batch split over that axis)
every device's rows meet the global batch's negatives, and the value and the gradients (with
respect to the features, ``logit_scale`` and ``logit_bias``) are those of the unsharded loss
on the concatenated batch. ``clip_loss`` all-gathers the features (open_clip's
``gather_with_grad=True``); ``siglip_loss`` passes the text features around a ring with
``jax.lax.ppermute`` and a custom derivative that re-runs the ring backwards, carrying the
text gradients home: no device ever holds the global batch or more than one
``B_local x B_local`` block of logits, so its memory does not grow with the device count.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks, _inputs

# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def _features(
    fn: str, image_features: ArrayLike, text_features: ArrayLike
) -> tuple[jax.Array, jax.Array, Any]:
    """Both feature matrices, checked (floating, 2-D, one shape) and cast to their joint compute
    dtype (float32 for bf16/f16 inputs)."""
    img = _inputs.tensor("image_features", image_features)
    txt = _inputs.tensor("text_features", text_features)
    (x, y), dtype = _inputs.floats(fn, img, txt, class_axis=None)
    for t in (img, txt):
        if t.value.ndim != 2:
            raise ValueError(
                f"{fn}: `{t.name}` must be 2-D (batch, dim), one feature vector per row, got "
                f"shape {tuple(t.value.shape)}. Flatten leading axes with "
                f"`{t.name}.reshape(-1, {t.name}.shape[-1])`."
            )
    if x.shape != y.shape:
        raise ValueError(
            f"{fn}: `text_features` must have the same shape as `image_features` (row i of "
            f"each is the i-th matching pair): expected {tuple(x.shape)}, got "
            f"{tuple(y.shape)}. Project both towers to the same dimension."
        )
    return x, y, dtype


def _scale(fn: str, logit_scale: Any, dtype: Any) -> jax.Array:
    """``logit_scale``: a scalar > 0 (the multiplier itself, not its log)."""
    _checks.check_scalar(fn, "logit_scale", logit_scale)
    v = _checks.concrete_float(logit_scale)
    if v is not None and not v > 0.0:
        raise ValueError(
            f"{fn}: `logit_scale` must be > 0 (the multiplier of the cosine similarities, "
            f"not its log), got {v}. With open_clip's learnable log-scale `t`, pass "
            "`logit_scale=jnp.exp(t)`."
        )
    _checks.check_positive(fn, "logit_scale", logit_scale)
    return jnp.asarray(logit_scale).astype(dtype)


def _axis_size(fn: str, axis_name: Any) -> int:
    if not isinstance(axis_name, str):
        raise TypeError(f"{fn}: `axis_name` must be a mesh axis name (a str), got {axis_name!r}.")
    try:
        return int(jax.lax.axis_size(axis_name))
    except NameError:
        raise ValueError(
            f"{fn}: `axis_name`={axis_name!r} is not a bound mesh axis: call the loss inside "
            "`jax.shard_map` (or `pmap`) over a mesh with that axis, with the batch split "
            "over it."
        ) from None


def _varying(x: jax.Array, axis_name: str) -> jax.Array:
    """``x`` typed as varying over ``axis_name`` inside ``shard_map`` (a replicated
    ``logit_scale``): the custom derivative then returns a per-device cotangent, and JAX's
    transpose of this cast sums it over the devices."""
    aval = jax.typeof(x)
    manual = getattr(aval, "manual_axis_type", None)
    varying = getattr(manual, "varying", None) if manual is not None else getattr(aval, "vma", None)
    if varying is None or axis_name in varying:
        return x
    return jax.lax.pcast(x, axis_name, to="varying")


# ---------------------------------------------------------------------------------------------
# CLIP
# ---------------------------------------------------------------------------------------------


def _clip_terms(
    x: jax.Array, y_all: jax.Array, diag: jax.Array, scale: jax.Array, bias: jax.Array | None
) -> jax.Array:
    """sum_i (logsumexp_j l_ij - l_ii) over the rows of ``x`` against every row of ``y_all``."""
    logits = scale * (x @ y_all.T)
    if bias is not None:
        logits = logits + bias
    return jnp.sum(jax.nn.logsumexp(logits, axis=-1) - diag)


@_inputs.public
def clip_loss(
    image_features: ArrayLike,
    text_features: ArrayLike,
    *,
    logit_scale: ArrayLike,
    logit_bias: ArrayLike | None = None,
    axis_name: str | None = None,
) -> jax.Array:
    r"""CLIP's symmetric contrastive loss (open_clip's ``ClipLoss``).

    With :math:`l_{ij} = s\, x_i \cdot y_j + b` over the global batch of :math:`B` pairs,

    .. math::

        \mathcal{L} = \frac{1}{2B} \sum_{i=1}^{B} \Big[
            \big(\operatorname{logsumexp}_j l_{ij} - l_{ii}\big)
            + \big(\operatorname{logsumexp}_j l_{ji} - l_{ii}\big) \Big],

    the mean of the image-to-text and text-to-image cross-entropies with label :math:`i` for
    row :math:`i`. :math:`x_i` and :math:`y_i` are the rows of ``image_features`` and
    ``text_features``, :math:`s` is ``logit_scale`` and :math:`b` is ``logit_bias`` (a
    constant shift of every logit: it changes neither the value nor any gradient, and its own
    gradient is 0; it is accepted for open_clip's ``get_logits`` signature). The features are
    not normalised here: pass L2-normalised features, as open_clip's models do.

    Under ``axis_name`` each device holds ``B_local`` pairs; the features are all-gathered
    (with gradients: open_clip's ``gather_with_grad=True``), each device's images are
    contrasted with every text of the global batch and its texts with every image, and the
    value and gradients equal the unsharded loss on the concatenated batch (the gradient of
    each feature on its own device, of ``logit_scale`` summed over the devices, as for any
    replicated parameter).

    Args:
      image_features: (B, D) floating image embeddings (the local rows under ``axis_name``).
      text_features: (B, D) floating text embeddings, row ``i`` matching image row ``i``.
      logit_scale: scalar > 0, the multiplier :math:`s` itself (``exp`` of open_clip's learnable
        ``logit_scale``, 100 at most in CLIP); differentiable.
      logit_bias: optional scalar :math:`b` added to every logit (no effect on the loss).
      axis_name: inside ``shard_map``/``pmap``, the mesh axis the batch is split over: the
        negatives and the mean are global over it.

    Returns:
      A scalar in the features' joint dtype with float32 as the floor (float32 for bf16/f16
      features); the same global value on every device under ``axis_name``.

    Raises:
      TypeError: non-floating features; a non-str ``axis_name``.
      ValueError: features that are not 2-D or differ in shape; a non-scalar or concrete
        ``logit_scale <= 0``; an ``axis_name`` not bound by ``shard_map``/``pmap``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> print(f"{jaxloss.clip_loss(x, x, logit_scale=10.0):.5f}")
      0.00005

    References:
      Radford et al., "Learning Transferable Visual Models From Natural Language
      Supervision", ICML 2021 (CLIP). Peer: open_clip ``ClipLoss`` (world size 1, or
      ``gather_with_grad=True`` across devices).
    """
    fn = "clip_loss"
    x, y, dtype = _features(fn, image_features, text_features)
    scale = _scale(fn, logit_scale, dtype)
    bias = None if logit_bias is None else _inputs.scalar(fn, "logit_bias", logit_bias, dtype)
    diag = scale * jnp.sum(x * y, axis=-1)
    if bias is not None:
        diag = diag + bias
    if axis_name is None:
        total = _clip_terms(x, y, diag, scale, bias) + _clip_terms(y, x, diag, scale, bias)
        count = 2 * x.shape[0]
    else:
        size = _axis_size(fn, axis_name)
        x_all = jax.lax.all_gather(x, axis_name, tiled=True)
        y_all = jax.lax.all_gather(y, axis_name, tiled=True)
        total = _clip_terms(x, y_all, diag, scale, bias) + _clip_terms(y, x_all, diag, scale, bias)
        total = jax.lax.psum(total, axis_name)
        count = 2 * x.shape[0] * size
    return total / jnp.asarray(max(count, 1), dtype)


# ---------------------------------------------------------------------------------------------
# SigLIP
# ---------------------------------------------------------------------------------------------


def _signed(logits: jax.Array, diagonal: bool) -> jax.Array:
    """``z * l`` with z = +1 on the diagonal (when this block holds the matching pairs) and -1
    elsewhere."""
    if not diagonal:
        return -logits
    eye = jnp.eye(logits.shape[0], logits.shape[1], dtype=bool)
    return jnp.where(eye, logits, -logits)


def _block_sum(
    x: jax.Array, y: jax.Array, scale: jax.Array, bias: jax.Array, diagonal: bool
) -> jax.Array:
    """sum_ij -log sigmoid(z_ij (s x_i.y_j + b)) over one block of pairs."""
    return jnp.sum(jax.nn.softplus(-_signed(scale * (x @ y.T) + bias, diagonal)))


def _block_grads(
    g: jax.Array, x: jax.Array, y: jax.Array, scale: jax.Array, bias: jax.Array, diagonal: bool
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The gradients of ``g * _block_sum`` with respect to (x, y, scale, bias), the block
    recomputed and dropped: d/dl softplus(-z l) = -z sigmoid(-z l)."""
    m = x @ y.T
    signed = _signed(scale * m + bias, diagonal)
    dl = -g * _signed(jax.nn.sigmoid(-signed), diagonal)  # z * (-sigmoid(-z l)) * g
    return scale * (dl @ y), scale * (dl.T @ x), jnp.sum(dl * m), jnp.sum(dl)


def _ring(axis_name: str) -> list[tuple[int, int]]:
    size = int(jax.lax.axis_size(axis_name))
    return [(i, (i + 1) % size) for i in range(size)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _siglip_ring(
    x: jax.Array, y: jax.Array, scale: jax.Array, bias: jax.Array, axis_name: str
) -> jax.Array:
    """This device's images against every device's texts: the local sum of the sigmoid loss.
    The texts move one device along the ring per step (n - 1 steps); the diagonal block (the
    matching pairs) is the first, the device's own texts."""
    perm = _ring(axis_name)

    def step(_: Any, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        total, y_held = carry
        y_held = jax.lax.ppermute(y_held, axis_name, perm)
        return total + _block_sum(x, y_held, scale, bias, False), y_held

    total = _block_sum(x, y, scale, bias, True)
    total, _ = jax.lax.fori_loop(1, len(perm), step, (total, y))
    return total


def _siglip_ring_fwd(
    x: jax.Array, y: jax.Array, scale: jax.Array, bias: jax.Array, axis_name: str
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    return _siglip_ring(x, y, scale, bias, axis_name), (x, y, scale, bias)


def _siglip_ring_bwd(
    axis_name: str, residuals: tuple[jax.Array, ...], g: jax.Array
) -> tuple[jax.Array, ...]:
    """The ring again: each step recomputes one block, adds its image gradient here and its
    text gradient to the accumulator that travels with those texts; after the n - 1 steps one
    more step brings each text gradient home to the texts' device."""
    x, y, scale, bias = residuals
    perm = _ring(axis_name)
    dx, dy, dscale, dbias = _block_grads(g, x, y, scale, bias, True)

    def step(_: Any, carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        y_held, dy_held, dx, dscale, dbias = carry
        y_held, dy_held = jax.lax.ppermute((y_held, dy_held), axis_name, perm)
        gx, gy, gs, gb = _block_grads(g, x, y_held, scale, bias, False)
        return y_held, dy_held + gy, dx + gx, dscale + gs, dbias + gb

    _, dy, dx, dscale, dbias = jax.lax.fori_loop(
        1, len(perm), step, (y, dy, dx, dscale, dbias)
    )
    if len(perm) > 1:
        dy = jax.lax.ppermute(dy, axis_name, perm)
    return dx, dy, dscale, dbias


_siglip_ring.defvjp(_siglip_ring_fwd, _siglip_ring_bwd)


@_inputs.public
def siglip_loss(
    image_features: ArrayLike,
    text_features: ArrayLike,
    *,
    logit_scale: ArrayLike,
    logit_bias: ArrayLike,
    axis_name: str | None = None,
) -> jax.Array:
    r"""SigLIP's pairwise sigmoid loss (open_clip's ``SigLipLoss``).

    With :math:`l_{ij} = s\, x_i \cdot y_j + b` over the global batch of :math:`B` pairs and
    :math:`z_{ij} = +1` for :math:`i = j`, :math:`-1` otherwise,

    .. math::

        \mathcal{L} = -\frac{1}{B} \sum_{i=1}^{B} \sum_{j=1}^{B} \log \sigma(z_{ij}\, l_{ij}),

    every image-text pair an independent binary classification, summed and divided by the batch
    size (open_clip's normalisation; big_vision's too). :math:`x_i`, :math:`y_j` are rows of
    ``image_features`` and ``text_features``, :math:`s` is ``logit_scale`` and :math:`b` is
    ``logit_bias`` (SigLIP initialises them to 10 and -10). Computed as ``softplus(-z l)``,
    with finite gradients at any scale. The features are not normalised here: pass
    L2-normalised features, as open_clip's and big_vision's models do.

    Under ``axis_name`` each device holds ``B_local`` pairs. The text features travel around
    the ring of devices (``jax.lax.ppermute``, n - 1 steps), never all-gathered; each step
    adds one ``B_local x B_local`` block and drops it. The derivative is custom: the backward
    pass runs the ring again, recomputing each block, and the text gradients travel with the
    texts and return to their device, so no block is stored and per-device memory stays flat
    as devices are added at a fixed per-device batch (open_clip's neighbour exchange keeps
    every block for autograd). The value and gradients equal the unsharded loss on the
    concatenated batch.

    Args:
      image_features: (B, D) floating image embeddings (the local rows under ``axis_name``).
      text_features: (B, D) floating text embeddings, row ``i`` matching image row ``i``.
      logit_scale: scalar > 0, the multiplier :math:`s` itself (``exp`` of the learnable
        log-scale); differentiable.
      logit_bias: scalar :math:`b` added to every logit; differentiable.
      axis_name: inside ``shard_map``/``pmap``, the mesh axis the batch is split over: the
        negatives and the normalisation are global over it. The ring's derivative is then a
        ``jax.custom_vjp`` (it re-runs the ring backwards instead of storing its blocks):
        reverse mode (``jax.grad``, ``jax.vjp``) works, forward mode (``jax.jvp``,
        ``jax.jacfwd``, so ``jax.hessian``) raises JAX's custom_vjp TypeError; without
        ``axis_name`` every transformation works.

    Returns:
      A scalar in the features' joint dtype with float32 as the floor (float32 for bf16/f16
      features); the same global value on every device under ``axis_name``.

    Raises:
      TypeError: non-floating features; a non-str ``axis_name``.
      ValueError: features that are not 2-D or differ in shape; a non-scalar ``logit_scale``
        or ``logit_bias``; a concrete ``logit_scale <= 0``; an ``axis_name`` not bound by
        ``shard_map``/``pmap``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> print(f"{jaxloss.siglip_loss(x, x, logit_scale=10.0, logit_bias=-5.0):.5f}")
      0.01343

    References:
      Zhai et al., "Sigmoid Loss for Language Image Pre-Training", ICCV 2023 (SigLIP).
      Peer: open_clip ``SigLipLoss`` (world size 1); big_vision's ``sigmoid_xent`` loss of
      ``proj/image_text/siglip``.
    """
    fn = "siglip_loss"
    x, y, dtype = _features(fn, image_features, text_features)
    scale = _scale(fn, logit_scale, dtype)
    bias = _inputs.scalar(fn, "logit_bias", logit_bias, dtype)
    if axis_name is None:
        return _block_sum(x, y, scale, bias, True) / jnp.asarray(max(x.shape[0], 1), dtype)
    size = _axis_size(fn, axis_name)
    x, y, scale, bias = (_varying(v, axis_name) for v in (x, y, scale, bias))
    total = jax.lax.psum(_siglip_ring(x, y, scale, bias, axis_name), axis_name)
    return total / jnp.asarray(max(x.shape[0] * size, 1), dtype)
