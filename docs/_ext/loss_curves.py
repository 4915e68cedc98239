"""The loss curves of the API pages, drawn from jaxloss itself when the docs are built.

Each figure function below draws one figure: a loss on the left, its gradient on the right,
against one quantity (a margin, a logit, the target's probability, a residual or a mixing
weight), every value computed by the jaxloss export the legend names. An API page shows one
with ``matplotlib.sphinxext.plot_directive``::

    .. plot:: loss_curves.py classification
       :caption: One sentence saying what to look at.

(the path is relative to ``docs/_ext``, conf.py's ``plot_basedir``). ``tests/test_docs.py``
draws every figure and checks the rules they keep: both axes labelled, at least four ticks
per axis, every text inside the figure and the legend outside the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# XLA compiles each curve's program (a few hundred points) for compile speed: LLVM's passes off
# and the classic loop emitters, the flags of tests/helpers.py's FAST_COMPILE. The figures take
# a third of the time (12 s instead of 37 s on 2 busy cores); values move by rounding only. Set
# before JAX starts its backend (on the first computation, not on import).
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
if FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{FAST_COMPILE} {os.environ.get('XLA_FLAGS', '')}".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import jaxloss  # noqa: E402

FIGURES = (
    "classification",
    "binary",
    "segmentation",
    "smp_overlap",
    "boxes",
    "dense_detection",
    "regression",
    "imbalance",
    "ldam",
    "divergence",
    "margin",
)

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; the reference loss of
# each figure (cross-entropy, BCE, MSE) is black and drawn first.
COLORS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2")
STYLES = ("-", "-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)))
N_POINTS = 301


def _values_and_grads(f: Callable[[jax.Array], tuple[jax.Array, jax.Array]], thetas: np.ndarray):
    """``f`` maps one point of the grid to (loss, gradient); evaluated over the whole grid."""
    values, grads = jax.jit(jax.vmap(f))(jnp.asarray(thetas, jnp.float32))
    return np.asarray(values), np.asarray(grads)


def _scalar_grad(loss: Callable[[jax.Array], jax.Array]):
    """(loss, d loss / d theta) of a loss of one scalar."""
    return jax.value_and_grad(loss)


def _figure(xlabel: str, grad_label: str, loss_label: str = "loss") -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6), layout="constrained")
    # room above the panels for the top tick label's upper half
    fig.get_layout_engine().set(h_pad=0.1)
    for ax, ylabel in zip(axes, (loss_label, grad_label), strict=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, color="0.88", linewidth=0.8)
        ax.axhline(0.0, color="0.55", linewidth=0.8, zorder=1)
    return fig, list(axes)


def _curve(axes: list[Axes], x, values, grads, label: str, i: int, **style) -> None:
    style = {"color": COLORS[i % len(COLORS)], "linestyle": STYLES[i % len(STYLES)], **style}
    style.setdefault("linewidth", 2.2 if i == 0 else 1.7)
    axes[0].plot(x, values, label=label, **style)
    axes[1].plot(x, grads, **style)


def _finish(fig: Figure, axes: list[Axes], ncols: int, ylims=None, xlim=None) -> Figure:
    """The legend below the panels, outside the data; optional limits (y per panel)."""
    for ax, ylim in zip(axes, ylims or (None, None), strict=True):
        if ylim is not None:
            ax.set_ylim(*ylim)
        if xlim is not None:
            ax.set_xlim(*xlim)
        else:
            ax.margins(x=0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)
    return fig


# --- one figure per family ---------------------------------------------------------------------


def classification() -> Figure:
    """focal_loss for several gammas against cross_entropy, over the target class's probability."""
    num_classes = 10
    p = np.linspace(0.01, 0.99, N_POINTS)
    # The target's logit z with the other nine at 0: p_t = e^z / (e^z + 9).
    z = np.log(p * (num_classes - 1) / (1 - p))
    target = jnp.zeros((1,), jnp.int32)

    def logits(z):
        return jnp.zeros((1, num_classes)).at[0, 0].set(z)

    fig, axes = _figure(
        "probability of the target class, $p_t$",
        "$\\partial$ loss / $\\partial$ target logit",
    )
    values, grads = _values_and_grads(
        _scalar_grad(lambda z: jaxloss.cross_entropy(logits(z), target)), z
    )
    _curve(axes, p, values, grads, "cross_entropy (= focal_loss, $\\gamma$ = 0)", 0)
    for i, gamma in enumerate((0.5, 1.0, 2.0, 5.0), start=1):
        values, grads = _values_and_grads(
            _scalar_grad(lambda z, g=gamma: jaxloss.focal_loss(logits(z), target, gamma=g)), z
        )
        _curve(axes, p, values, grads, f"focal_loss, $\\gamma$ = {gamma:g}", i)
    return _finish(fig, axes, ncols=3, ylims=((-0.1, 4.0), None), xlim=(0.0, 1.0))


def binary() -> Figure:
    """BCE, sigmoid focal and asymmetric losses over the signed margin of one label."""
    m = np.linspace(-6.0, 6.0, N_POINTS)

    def per_label(loss, target):
        # margin m: the logit for a positive label, minus the logit for a negative one.
        sign = 2.0 * target - 1.0
        t = jnp.full((1,), target, jnp.float32)
        return _scalar_grad(lambda m: loss(jnp.reshape(sign * m, (1,)), t))

    fig, axes = _figure(
        "margin $y\\,x$ (logit $x$, label $y = \\pm 1$)", "$\\partial$ loss / $\\partial$ margin"
    )
    curves = [
        ("binary_cross_entropy_with_logits", jaxloss.binary_cross_entropy_with_logits, 1.0),
        (
            "sigmoid_focal_loss, $\\gamma$ = 2, alpha = None",
            lambda x, t: jaxloss.sigmoid_focal_loss(x, t, alpha=None),
            1.0,
        ),
        (
            "sigmoid_focal_loss, $\\gamma$ = 2, alpha = 0.25, positive",
            jaxloss.sigmoid_focal_loss,
            1.0,
        ),
        ("asymmetric_loss, positive label", jaxloss.asymmetric_loss, 1.0),
        ("asymmetric_loss, negative label", jaxloss.asymmetric_loss, 0.0),
    ]
    for i, (label, loss, target) in enumerate(curves):
        values, grads = _values_and_grads(per_label(loss, target), m)
        _curve(axes, m, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.1, 4.0), None))


def segmentation() -> Figure:
    """Dice, Tversky and generalised Dice against cross-entropy, over the probability
    every pixel gives its true class, in an image whose foreground is 10 % of it."""
    n_pixels, n_foreground = 200, 20
    targets = jnp.zeros((1, n_pixels), jnp.int32).at[0, :n_foreground].set(1)
    onehot = jax.nn.one_hot(targets, 2)
    p = np.linspace(0.01, 0.99, N_POINTS)
    s = np.log(p / (1 - p))  # two classes: the true class's logit s, the other's 0

    def per_pixel(loss):
        def f(s):
            value, grad = jax.value_and_grad(loss)(onehot * s)
            # d loss / d (a foreground pixel's true-class logit), times the pixel count: a
            # pixel mean such as cross-entropy's gives p - 1 whatever the image's size.
            return value, grad[0, 0, 1] * n_pixels

        return f

    fig, axes = _figure(
        "probability each pixel gives its true class",
        "pixels $\\times$ $\\partial$ loss / $\\partial$ foreground logit",
    )
    curves = [
        ("cross_entropy (mean over pixels)", lambda x: jaxloss.cross_entropy(x, targets)),
        (
            "dice_loss, foreground",
            lambda x: jaxloss.dice_loss(x, targets, include_background=False),
        ),
        (
            "tversky_loss, $\\alpha$ = 0.3, $\\beta$ = 0.7, foreground",
            lambda x: jaxloss.tversky_loss(
                x, targets, alpha=0.3, beta=0.7, include_background=False
            ),
        ),
        ("generalized_dice_loss", lambda x: jaxloss.generalized_dice_loss(x, targets)),
    ]
    for i, (label, loss) in enumerate(curves):
        values, grads = _values_and_grads(per_pixel(loss), s)
        _curve(axes, p, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.05, 1.6), None), xlim=(0.0, 1.0))


def smp_overlap() -> Figure:
    """The Jaccard (IoU) loss, its log form and the MCC loss (SMP's JaccardLoss and MCCLoss)
    beside cross-entropy, on the image of :func:`segmentation`."""
    n_pixels, n_foreground = 200, 20
    targets = jnp.zeros((1, n_pixels), jnp.int32).at[0, :n_foreground].set(1)
    onehot = jax.nn.one_hot(targets, 2)
    p = np.linspace(0.01, 0.99, N_POINTS)
    s = np.log(p / (1 - p))  # two classes: the true class's logit s, the other's 0

    def per_pixel(loss):
        def f(s):
            value, grad = jax.value_and_grad(loss)(onehot * s)
            return value, grad[0, 0, 1] * n_pixels

        return f

    def mcc(x):  # MCCLoss takes the foreground probabilities
        return jaxloss.mcc_loss(jax.nn.softmax(x, axis=-1)[..., 1], targets.astype(jnp.float32))

    fig, axes = _figure(
        "probability each pixel gives its true class",
        "pixels $\\times$ $\\partial$ loss / $\\partial$ foreground logit",
    )
    curves = [
        ("cross_entropy (mean over pixels)", lambda x: jaxloss.cross_entropy(x, targets)),
        (
            "jaccard_loss, foreground",
            lambda x: jaxloss.jaccard_loss(x, targets, include_background=False),
        ),
        (
            "jaccard_loss, log_loss",
            lambda x: jaxloss.jaccard_loss(x, targets, include_background=False, log_loss=True),
        ),
        ("mcc_loss, foreground probabilities", mcc),
    ]
    for i, (label, loss) in enumerate(curves):
        values, grads = _values_and_grads(per_pixel(loss), s)
        _curve(axes, p, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.05, 2.5), None), xlim=(0.0, 1.0))


def boxes() -> Figure:
    """The box IoU losses as a predicted box (3 x 1) slides across a target box (2 x 2)."""
    d = np.linspace(-4.0, 4.0, N_POINTS)
    target = jnp.array([0.0, 0.0, 2.0, 2.0])

    def sliding(loss):
        # the prediction: 3 wide and 1 high (CIoU's aspect term shows), its centre at d,
        # bottoms aligned
        return _scalar_grad(lambda d: loss(jnp.stack([d - 0.5, 0.0, d + 2.5, 1.0]), target))

    fig, axes = _figure(
        "offset of the predicted box's centre",
        "$\\partial$ loss / $\\partial$ offset",
    )
    curves = [
        ("generalized_box_iou_loss", jaxloss.generalized_box_iou_loss),
        ("distance_box_iou_loss", jaxloss.distance_box_iou_loss),
        ("complete_box_iou_loss", jaxloss.complete_box_iou_loss),
    ]
    for i, (label, loss) in enumerate(curves):
        values, grads = _values_and_grads(sliding(loss), d)
        _curve(axes, d, values, grads, label, i)
    return _finish(fig, axes, ncols=3, ylims=((-0.05, 1.9), None))


def dense_detection() -> Figure:
    """Varifocal and quality focal losses against BCE, for one anchor whose target is its
    IoU score 0.8, over the predicted probability."""
    p = np.linspace(0.01, 0.99, N_POINTS)
    x = np.log(p / (1 - p))
    score = jnp.full((1,), 0.8, jnp.float32)
    label = jnp.zeros((1,), jnp.int32)

    def per_anchor(loss):
        return _scalar_grad(lambda x: loss(jnp.reshape(x, (1, 1))))

    fig, axes = _figure(
        "predicted probability $\\sigma(x)$",
        "$\\partial$ loss / $\\partial$ logit $x$",
    )
    curves = [
        (
            "binary_cross_entropy_with_logits, target 0.8",
            lambda x: jaxloss.binary_cross_entropy_with_logits(x, score.reshape(1, 1)),
        ),
        ("varifocal_loss", lambda x: jaxloss.varifocal_loss(x, score.reshape(1, 1))),
        (
            "quality_focal_loss, $\\beta$ = 2",
            lambda x: jaxloss.quality_focal_loss(x, label, score),
        ),
    ]
    for i, (name, loss) in enumerate(curves):
        values, grads = _values_and_grads(per_anchor(loss), x)
        _curve(axes, p, values, grads, name, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.05, 2.5), None), xlim=(0.0, 1.0))


def regression() -> Figure:
    """mse, l1, huber and smooth_l1 over the residual."""
    r = np.linspace(-3.0, 3.0, N_POINTS)
    target = jnp.zeros((1,))

    def of_residual(loss):
        return _scalar_grad(lambda r: loss(jnp.reshape(r, (1,)), target))

    fig, axes = _figure("residual: input $-$ target", "$\\partial$ loss / $\\partial$ input")
    curves = [
        ("mse_loss", jaxloss.mse_loss),
        ("l1_loss", jaxloss.l1_loss),
        ("huber_loss, $\\delta$ = 1 (= smooth_l1_loss, $\\beta$ = 1)", jaxloss.huber_loss),
        ("huber_loss, $\\delta$ = 2", lambda x, t: jaxloss.huber_loss(x, t, delta=2.0)),
        ("smooth_l1_loss, $\\beta$ = 2", lambda x, t: jaxloss.smooth_l1_loss(x, t, beta=2.0)),
    ]
    for i, (label, loss) in enumerate(curves):
        values, grads = _values_and_grads(of_residual(loss), r)
        _curve(axes, r, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.1, 4.5), (-3.5, 3.5)))


def _of_margin(loss, target):
    """``loss`` of two-class logits ``(m/2, -m/2)`` (target first) as a function of the margin
    ``m`` of the target's logit over the other's, with its derivative."""
    t = jnp.full((1,), target, jnp.int32)
    other = 1 - target

    def f(m):
        x = jnp.zeros((1, 2)).at[0, target].set(m / 2).at[0, other].set(-m / 2)
        return loss(x, t)

    return _scalar_grad(f)


def imbalance() -> Figure:
    """Logit adjustment and Poly-1 against cross-entropy, over the target's logit margin, with a
    frequent (90 % of the data) and a rare (10 %) class."""
    counts = jnp.array([900.0, 100.0])
    m = np.linspace(-4.0, 6.0, N_POINTS)

    fig, axes = _figure(
        "margin: target logit $-$ other logit", "$\\partial$ loss / $\\partial$ margin"
    )

    def adjusted(x, t):
        return jaxloss.logit_adjusted_cross_entropy(x, t, class_counts=counts)

    curves = [
        ("cross_entropy (either class)", jaxloss.cross_entropy, 0),
        ("logit_adjusted_cross_entropy, frequent target", adjusted, 0),
        ("logit_adjusted_cross_entropy, rare target", adjusted, 1),
        ("poly1_cross_entropy, $\\epsilon$ = 2", jaxloss.poly1_cross_entropy, 0),
    ]
    for i, (label, loss, target) in enumerate(curves):
        values, grads = _values_and_grads(_of_margin(loss, target), m)
        _curve(axes, m, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.1, 5.0), None))


def ldam() -> Figure:
    """LDAM for a frequent and a rare class against the same scaled cross-entropy, over the
    cosine margin (LDAM's logits are cosines, scaled by 30)."""
    counts = jnp.array([900.0, 100.0])
    m = np.linspace(-0.4, 0.8, N_POINTS)

    def ldam(max_margin):
        return lambda x, t: jaxloss.ldam_loss(x, t, class_counts=counts, max_margin=max_margin)

    fig, axes = _figure(
        "cosine margin: target logit $-$ other logit", "$\\partial$ loss / $\\partial$ margin"
    )
    curves = [
        ("ldam_loss, max_margin = 0: cross-entropy", ldam(0.0), 0),
        ("ldam_loss, frequent target: margin 0.29", ldam(0.5), 0),
        ("ldam_loss, rare target: margin 0.5", ldam(0.5), 1),
    ]
    for i, (label, loss, target) in enumerate(curves):
        values, grads = _values_and_grads(_of_margin(loss, target), m)
        _curve(axes, m, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.5, 12.0), None))


def divergence() -> Figure:
    """KL both ways, Jensen-Shannon and distillation, as the model's q moves from the target p
    to another distribution."""
    p = jnp.array([[0.7, 0.2, 0.1]])
    r = jnp.array([[0.1, 0.2, 0.7]])
    w = np.linspace(0.0, 1.0, N_POINTS)

    def of_weight(loss):
        return _scalar_grad(lambda w: loss(jnp.log((1 - w) * p + w * r)))

    fig, axes = _figure(
        "mixing weight $w$: $q = (1 - w)\\,p + w\\,r$", "$\\partial$ loss / $\\partial w$"
    )
    curves = [
        (
            "kl_div(log q, p): KL(p $\\|$ q)",
            lambda log_q: jaxloss.kl_div(log_q, p, reduction="sum"),
        ),
        (
            "kl_div(log p, q): KL(q $\\|$ p)",
            lambda log_q: jaxloss.kl_div(jnp.log(p), jnp.exp(log_q), reduction="sum"),
        ),
        (
            "jensen_shannon_divergence, $\\beta$ = 0.5",
            lambda log_q: jaxloss.jensen_shannon_divergence(log_q, jnp.log(p)),
        ),
        (
            "distillation_loss, T = 2 (logits log p, log q)",
            lambda log_q: jaxloss.distillation_loss(log_q, jnp.log(p), temperature=2.0),
        ),
    ]
    for i, (label, loss) in enumerate(curves):
        values, grads = _values_and_grads(of_weight(loss), w)
        _curve(axes, w, values, grads, label, i)
    return _finish(fig, axes, ncols=2)


def margin() -> Figure:
    """The hinge, ranking and logistic margin losses over the margin."""
    m = np.linspace(-3.0, 3.0, N_POINTS)
    one = jnp.ones((1,))

    def two_class(loss):
        # two scores (m/2, -m/2) with the target class 0: the target leads by m.
        def f(m):
            return loss(jnp.stack([m / 2, -m / 2])[None, :], jnp.zeros((1,), jnp.int32))

        return _scalar_grad(f)

    def ranking(margin_):
        return _scalar_grad(
            lambda m: jaxloss.margin_ranking_loss(
                jnp.reshape(m, (1,)), jnp.zeros((1,)), one, margin=margin_
            )
        )

    fig, axes = _figure(
        "margin: how far the right score leads", "$\\partial$ loss / $\\partial$ margin"
    )
    curves = [
        ("soft_margin_loss (logistic)", _scalar_grad(
            lambda m: jaxloss.soft_margin_loss(jnp.reshape(m, (1,)), one))),
        ("margin_ranking_loss, margin = 0", ranking(0.0)),
        ("margin_ranking_loss, margin = 1", ranking(1.0)),
        ("multi_margin_loss, p = 1 (2 classes)", two_class(jaxloss.multi_margin_loss)),
        (
            "multi_margin_loss, p = 2 (2 classes)",
            two_class(lambda x, t: jaxloss.multi_margin_loss(x, t, p=2)),
        ),
    ]  # fmt: skip
    for i, (label, f) in enumerate(curves):
        values, grads = _values_and_grads(f, m)
        _curve(axes, m, values, grads, label, i)
    return _finish(fig, axes, ncols=2, ylims=((-0.1, 4.0), None))


def save_all(out_dir) -> list:
    """Every figure as a PNG in ``out_dir``, as the docs draw them (to look at them quickly)::

    PYTHONPATH=docs/_ext python -c "import loss_curves; loss_curves.save_all('/tmp/curves')"

    (No ``__main__`` block: the plot directive runs this file as ``__main__``.)
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in FIGURES:
        globals()[name]().savefig(out / f"{name}.png", dpi=150)
        plt.close("all")
        paths.append(out / f"{name}.png")
    return paths
