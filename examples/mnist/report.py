"""What a run shows: terminal tables, ``metrics.json`` and the PNG plots.

Plots use matplotlib's object API (``matplotlib.figure.Figure``, rendered by Agg
when saved), so no pyplot state or display is touched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax
import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import (
    AutoMinorLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from examples.mnist.train import RunResult


def per_class_table(result: RunResult) -> str:
    """Per-class precision/recall/F1 with test support and training count."""
    m = result.metrics
    minority = set(m["minority_classes"])
    head = ("class", 7), ("precision", 9), ("recall", 7), ("f1", 7), ("support", 7), ("train", 6)
    lines = ["  ".join(f"{name:>{width}}" for name, width in head)]
    for row, count in zip(m["per_class"], result.class_counts, strict=True):
        mark = "*" if row["class"] in minority else " "
        lines.append(
            f"{row['class']:>6}{mark}  {row['precision']:>9.4f}  {row['recall']:>7.4f}  "
            f"{row['f1']:>7.4f}  {row['support']:>7}  {int(count):>6}"
        )
    total = sum(r["support"] for r in m["per_class"])
    lines.append(
        f"{'macro':>7}  {m['macro_precision']:>9.4f}  {m['macro_recall']:>7.4f}  "
        f"{m['macro_f1']:>7.4f}  {total:>7}  {int(np.sum(result.class_counts)):>6}"
    )
    lines.append(f"accuracy {m['accuracy']:.4f}")
    if minority:
        lines.append(
            f"* minority class (training examples thinned to {result.config.imbalance:g}); "
            f"mean minority recall {m['minority_recall']:.4f}"
        )
    return "\n".join(lines)


def confusion_table(result: RunResult) -> str:
    """The confusion matrix as text: rows are true classes, columns predictions."""
    cm = np.asarray(result.metrics["confusion_matrix"])
    width = max(5, len(str(cm.max())) + 1)
    head = "true\\pred" + "".join(f"{c:>{width}}" for c in range(len(cm)))
    rows = [f"{t:>9}" + "".join(f"{v:>{width}}" for v in row) for t, row in enumerate(cm)]
    return "\n".join([head, *rows])


def run_summary(result: RunResult) -> str:
    """Everything printed at the end of a run."""
    t = result.timing
    return (
        f"\n{result.config.name}: test accuracy {result.metrics['accuracy']:.2%}, "
        f"macro F1 {result.metrics['macro_f1']:.4f}  "
        f"({result.config.num_epochs} epochs in {t['train_seconds']:.2f}s + "
        f"{t['compile_seconds']:.2f}s compile, {result.num_devices} device(s))\n\n"
        f"{per_class_table(result)}\n\nconfusion matrix\n{confusion_table(result)}"
    )


def to_json(result: RunResult) -> dict:
    return {
        "name": result.config.name,
        "config": result.config.to_dict(),
        "devices": result.num_devices,
        "processes": result.num_processes,
        "checkpoint": result.checkpoint,
        "backend": jax.default_backend(),
        "timing": result.timing,
        "train_class_counts": [int(c) for c in result.class_counts],
        "class_weights": None
        if result.class_weights is None
        else [float(w) for w in result.class_weights],
        "history": result.history,
        "final": result.metrics,
        "step_losses": [float(v) for v in result.step_losses],
    }


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (shorter window at the start)."""
    window = max(1, min(window, len(values)))
    csum = np.cumsum(np.insert(np.asarray(values, np.float64), 0, 0.0))
    out = (csum[window:] - csum[:-window]) / window
    head = csum[1:window] / np.arange(1, window)
    return np.concatenate([head, out])


def _epoch_axis(result: RunResult) -> np.ndarray:
    steps = len(result.step_losses) / max(len(result.history), 1)
    return np.arange(1, len(result.step_losses) + 1) / steps


def _plain(value: float, _pos=None) -> str:
    """A tick label as a plain number (``0.4``, ``2``), never ``4x10^-1``."""
    return f"{value:.3g}"


# Tick positions per decade on a log axis, coarse to fine: the first that puts four to ten
# labelled ticks inside the axis is used, so no curve sits far from a labelled number.
_LOG_SUBS = (
    (1.0, 2.0, 5.0),
    (1.0, 2.0, 3.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0),
)


def _log_ticks(lo: float, hi: float, subs) -> list[float]:
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    return [s * 10.0**d for d in decades for s in subs if lo <= s * 10.0**d <= hi]


def _log_y(ax) -> None:
    """A log y-axis whose ticks read as plain numbers (``0.3``, ``2``; never ``4x10^-1``),
    four to ten of them labelled inside the axis: per-decade ticks (1, 2, 5, ...) where
    they give that many, else (a narrow range: one epoch's test losses from 3.64 to 3.90)
    evenly spaced round numbers (3.65, 3.7, ...)."""
    ax.set_yscale("log")
    ax.autoscale_view()
    lo, hi = ax.get_ylim()
    locator = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], min_n_ticks=4)
    for subs in _LOG_SUBS:
        if 4 <= len(_log_ticks(lo, hi, subs)) <= 10:
            locator = LogLocator(base=10, subs=subs)
            break
    ax.yaxis.set_major_locator(locator)
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _epoch_x(ax, num_epochs: int) -> None:
    """An epoch axis from 0 to the last epoch, whatever the run length: whole-epoch ticks
    (0 and 1 for a one-epoch run, never 0.945 ... 1.050), a little room right of the last
    epoch's marker."""
    ax.set_xlim(0, num_epochs * 1.04)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    ax.xaxis.set_minor_locator(AutoMinorLocator())
    ax.set_xlabel("epoch")


def _mark_drw(ax, config, color: str = "0.4", label: str | None = None) -> None:
    """A dashed vertical line where LDAM-DRW's class weights switch on, which changes the
    training objective's scale (it jumps there, by design)."""
    if config.loss == "ldam" and config.class_weight_method != "none" and (
        config.drw_start < config.num_epochs
    ):
        ax.axvline(config.drw_start, color=color, ls="--", lw=1,
                   label=label or f"class weights on (DRW, after epoch {config.drw_start})")


def objective_is_test_loss(config) -> bool:
    """Whether the training objective is the plain cross-entropy the test loss reports
    (``ce`` without class weights or label smoothing); only then do both share an axis."""
    return (
        config.loss == "ce" and config.class_weight_method == "none" and not config.label_smoothing
    )


def plot_loss_curve(result: RunResult, path: Path) -> Figure:
    """Training objective per step (raw and smoothed), test cross-entropy and accuracy
    per epoch. The objective and the test cross-entropy share an axis only when they are
    the same loss; otherwise each has its own panel."""
    same = objective_is_test_loss(result.config)
    fig = Figure(figsize=(11 if same else 14, 4.2), layout="constrained")
    if same:
        ax, ax_acc = fig.subplots(1, 2, width_ratios=(2, 1))
        ax_test = ax
    else:
        ax, ax_test, ax_acc = fig.subplots(1, 3, width_ratios=(2, 1.2, 1))
    x = _epoch_axis(result)
    steps_per_epoch = len(result.step_losses) // max(len(result.history), 1)
    objective = "cross-entropy" if same else f"{result.config.name} objective"
    ax.plot(
        x, result.step_losses, color="C0", alpha=0.25, lw=0.6, label=f"train {objective} (step)"
    )
    ax.plot(
        x,
        _smooth(result.step_losses, max(steps_per_epoch // 10, 1)),
        color="C0",
        lw=1.5,
        label=f"train {objective} (moving average)",
    )
    _mark_drw(ax, result.config)
    epochs = [h["epoch"] for h in result.history]
    ax_test.plot(
        epochs,
        [h["test_loss"] for h in result.history],
        "o-",
        color="C3",
        label="test cross-entropy",
    )
    num_epochs = result.config.num_epochs
    for a in {ax, ax_test}:
        _log_y(a)
        a.grid(True, which="both", alpha=0.3)
    for a in {ax, ax_test, ax_acc}:
        _epoch_x(a, num_epochs)
    if same:
        ax.set_ylabel("cross-entropy (log scale)")
        ax.set_title(f"{result.config.name}: training and test cross-entropy")
    else:
        ax.set_ylabel("training objective (log scale)")  # the title names the loss
        ax.set_title(f"{result.config.name}: training objective")
        ax_test.set_ylabel("test cross-entropy (log scale)")
        ax_test.set_title("test cross-entropy (unweighted)")
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in result.history], "o-", color="C2")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title(f"final {100 * result.metrics['accuracy']:.2f}%")
    ax_acc.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax_acc.grid(True, alpha=0.3)
    # One legend below the panels: inside one, it covered the curves of some runs.
    handles = [h for a in dict.fromkeys((ax, ax_test)) for h in a.get_lines() if
               not h.get_label().startswith("_")]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.savefig(path, dpi=110)
    return fig


def plot_confusion_matrix(result: RunResult, path: Path) -> Figure:
    """Counts in each cell; colour = share of the true class (row), so rare classes show."""
    cm = np.asarray(result.metrics["confusion_matrix"])
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(cm)
    fig = Figure(figsize=(7, 6.2), layout="constrained")
    ax = fig.subplots()
    # A power norm so that error cells of 1-2% are visible next to a 98% diagonal.
    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.4, vmin=0, vmax=1))
    fig.colorbar(image, ax=ax, label="share of the true class (row), power-0.4 colour scale")
    for t in range(n):
        for p in range(n):
            if cm[t, p]:
                ax.text(
                    p,
                    t,
                    str(cm[t, p]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[t, p] > 0.3 else "black",
                )
    minority = set(result.metrics["minority_classes"])
    labels = [f"{c}*" if c in minority else str(c) for c in range(n)]
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class" + (" (* = minority in training)" if minority else ""))
    ax.set_title(
        f"{result.config.name}: accuracy {100 * result.metrics['accuracy']:.2f}%, "
        f"macro F1 {result.metrics['macro_f1']:.4f}"
    )
    fig.savefig(path, dpi=110)
    return fig


def write_run(result: RunResult, out: Path) -> None:
    """Writes ``metrics.json``, ``loss_curve.png`` and ``confusion_matrix.png`` to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(to_json(result), indent=2) + "\n")
    plot_loss_curve(result, out / "loss_curve.png")
    plot_confusion_matrix(result, out / "confusion_matrix.png")


def slug(name: str) -> str:
    """A folder name for a run: ``"focal gamma=2"`` -> ``"focal_gamma=2"``."""
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", name).strip("_")


def _worst_class(metrics: dict) -> int:
    return int(np.argmin([c["recall"] for c in metrics["per_class"]]))


METRICS = ("accuracy", "macro_f1", "minority_recall", "worst_recall")


def seed_statistics(runs: list[RunResult]) -> dict:
    """Per metric of ``METRICS``: the seeds' values, their mean, min, max and std.

    The std is the population one (``ddof=0``); None where the metric is None (no
    minority classes).
    """
    out = {}
    for key in METRICS:
        values = [r.metrics[key] for r in runs]
        if any(v is None for v in values):
            out[key] = None
            continue
        v = np.asarray(values, np.float64)
        out[key] = {
            "values": [float(x) for x in v],
            "mean": float(v.mean()),
            "min": float(v.min()),
            "max": float(v.max()),
            "std": float(v.std()),
        }
    return out


def _cell(stats: dict | None, digits: int = 4) -> str:
    """``mean`` for one seed, ``mean (min..max)`` for several."""
    if stats is None:
        return "n/a"
    mean = f"{stats['mean']:.{digits}f}"
    if len(stats["values"]) == 1:
        return mean
    return f"{mean} ({stats['min']:.{digits}f}..{stats['max']:.{digits}f})"


# Config fields never shown in the shared line (paths and switches, not the experiment).
_NOT_SHOWN = ("data_dir", "download", "eval_batch_size", "seed")


def _value(v) -> str:
    if isinstance(v, list | tuple):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def shared_settings(groups: list[list[RunResult]]) -> str:
    """What every row of a comparison has in common: the configuration fields that
    one value on every run (the loss's hyperparameters included when all rows use the
    same loss), the seeds, and the class balance."""
    configs = [r.config.to_dict() for g in groups for r in g]
    first = configs[0]
    same = [
        k
        for k in first
        if k not in _NOT_SHOWN and all(k in c and c[k] == first[k] for c in configs)
    ]
    if first["imbalance"] == 1.0:  # no minority classes: thinning settings do not apply
        same = [k for k in same if k not in ("minority_classes", "data_seed")]
    parts = [f"{k} {_value(first[k])}" for k in same]
    seeds = sorted({r.config.seed for g in groups for r in g})
    per_group = {tuple(sorted(r.config.seed for r in g)) for g in groups}
    if len(per_group) == 1:
        parts.append(f"seed{'s' if len(seeds) > 1 else ''} {_value(seeds)}")
    return ", ".join(parts)


def comparison_table(groups: list[list[RunResult]], labels: list[str] | None = None) -> str:
    """A markdown table (also readable in the terminal) of the runs side by side, under
    a line saying what all rows share.

    ``groups``: per run, its results over seeds (one each for a sweep). With several
    seeds a cell is the mean over the seeds and, in parentheses, their min..max. A
    column with one value on every row (minority recall without minority classes, the
    one training time of a sweep's models) moves into that line: rows show only what
    differs.
    """
    labels = labels or [g[0].config.name for g in groups]
    first = groups[0][0]
    minority = first.metrics["minority_classes"]
    minority_head = (
        f"minority recall ({','.join(map(str, minority))})" if minority else "minority recall"
    )
    seeds = sorted({r.config.seed for g in groups for r in g})
    several = any(len(g) > 1 for g in groups)
    flat = [r for g in groups for r in g]
    # A sweep's models train together: one time for all of them.
    shared = len(flat) > 1 and all(r.timing is first.timing for r in flat)
    train_head = "train s (all models together)" if shared else "train s"
    if several:
        train_head = "train s (mean of the seeds)"
    head = ["run", "accuracy", "macro F1", minority_head, "worst-class recall", train_head]
    rows = []
    for label, runs in zip(labels, groups, strict=True):
        stats = seed_statistics(runs)
        worst = [_worst_class(r.metrics) for r in runs]
        worst_classes = ",".join(str(c) for c in sorted(set(worst)))
        rows.append(
            [
                label,
                _cell(stats["accuracy"]),
                _cell(stats["macro_f1"]),
                _cell(stats["minority_recall"]),
                f"{_cell(stats['worst_recall'])} (class {worst_classes})",
                f"{np.mean([r.timing['train_seconds'] for r in runs]):.2f}",
            ]
        )
    common = shared_settings(groups)
    if not minority:
        common += ", no minority classes (no --imbalance)"
    if len(rows) > 1:
        keep = [0] + [j for j in range(1, len(head)) if len({row[j] for row in rows}) > 1]
        for j in range(1, len(head)):
            if j not in keep and not (j == 3 and not minority):
                common += f", {head[j]} {rows[0][j]}"
        head = [head[j] for j in keep]
        rows = [[row[j] for j in keep] for row in rows]
    elif not minority:  # one row: still no column of n/a
        del head[3], rows[0][3]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def fmt(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [
        f"All rows: {common}.",
        "",
        fmt(head),
        "| " + " | ".join("-" * w for w in widths) + " |",
        *map(fmt, rows),
    ]
    if several:
        lines += [
            "",
            f"Mean (min..max) over seeds {', '.join(map(str, seeds))} (initialisation and "
            "data order; the split is the same).",
        ]
    return "\n".join(lines)


def plot_loss_curves(
    groups: list[list[RunResult]], path: Path, labels: list[str], title: str
) -> Figure:
    """All runs in one figure: smoothed training objective, and test cross-entropy.

    The seeds of a run share its colour.
    """
    fig = Figure(figsize=(14, 4.5), layout="constrained")
    ax_train, ax_test = fig.subplots(1, 2)
    for i, (label, runs) in enumerate(zip(labels, groups, strict=True)):
        for j, r in enumerate(runs):
            steps_per_epoch = len(r.step_losses) // max(len(r.history), 1)
            smooth = _smooth(r.step_losses, max(steps_per_epoch // 10, 1))
            name = label if j == 0 else None
            ax_train.plot(_epoch_axis(r), smooth, color=f"C{i}", lw=1.3, label=name)
            ax_test.plot(
                [h["epoch"] for h in r.history],
                [h["test_loss"] for h in r.history],
                "o-",
                color=f"C{i}",
                label=name,
            )
        _mark_drw(ax_train, runs[0].config, color=f"C{i}",
                  label=f"{label}: class weights on (DRW)")
    ax_train.set_title("training objective (moving average; each run's own loss)")
    ax_test.set_title("test cross-entropy (unweighted, comparable across runs)")
    num_epochs = max(r.config.num_epochs for runs in groups for r in runs)
    for ax in (ax_train, ax_test):
        _log_y(ax)
        _epoch_x(ax, num_epochs)
        ax.grid(True, which="both", alpha=0.3)
    # One legend for both panels (a run has one colour in both), outside them so that it
    # never covers a curve.
    fig.legend(*ax_train.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    ax_train.set_ylabel("training objective (log scale; scales differ by loss)")
    ax_test.set_ylabel("test cross-entropy (log scale)")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return fig


def write_comparison(
    groups: list[list[RunResult]], out: Path, *, title: str, labels: list[str] | None = None
) -> str:
    """Writes ``report.md``, ``summary.json``, ``loss_curves.png`` and one folder per run.

    ``groups``: per run, its results over seeds. A run of one seed writes its files into
    its folder; a run of several, one subfolder ``seed=S`` per seed. ``summary.json``
    holds each run's mean metrics (``final``) and, per metric, the seeds' values, mean,
    min, max and std (``seeds``). Returns the markdown table.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = labels or [g[0].config.name for g in groups]
    table = comparison_table(groups, labels)
    first = groups[0][0]
    counts = ", ".join(f"{c}: {int(n)}" for c, n in enumerate(first.class_counts))
    (out / "report.md").write_text(
        f"# {title}\n\n{table}\n\nTraining examples per class: {counts}. "
        f"Test split: {len(first.labels)} examples, untouched.\n\n"
        f"![loss curves](loss_curves.png)\n"
    )
    plot_loss_curves(groups, out / "loss_curves.png", labels, title)
    summary = []
    for label, runs in zip(labels, groups, strict=True):
        folder = out / slug(label)
        if len(runs) == 1:
            write_run(runs[0], folder)
        else:
            for r in runs:
                write_run(r, folder / f"seed={r.config.seed}")
        stats = seed_statistics(runs)
        summary.append(
            {
                "run": label,
                "folder": folder.name,
                "config": runs[0].config.to_dict(),
                "seeds": [r.config.seed for r in runs],
                "final": {k: None if v is None else v["mean"] for k, v in stats.items()},
                "over_seeds": stats,
                "timing": runs[0].timing,
            }
        )
    (out / "summary.json").write_text(
        json.dumps({"title": title, "runs": summary}, indent=2) + "\n"
    )
    return table
