"""The MNIST trainer on subsets of the real data: train, compare, sweep, metrics, CLI.

All runs share one small configuration so that the compiled programs are reused
across tests (the trainer caches them per process).
"""

import json
import re
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import SHARED_MNIST, needs_mnist
from matplotlib.backends.backend_agg import FigureCanvasAgg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples.mnist import cli, data, metrics, report, train  # noqa: E402
from examples.mnist.config import Config  # noqa: E402

# Slow (trains the MNIST example): `python -m pytest --run-slow` runs it, as CI does.
pytestmark = pytest.mark.slow

TINY = {"max_train": 4096, "max_test": 1000, "num_epochs": 2, "data_dir": SHARED_MNIST}
TINY_FLAGS = ["--data-dir", str(SHARED_MNIST), "--max-train", "4096", "--max-test", "1000"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """optax's Adam computes ``b1 ** count`` (float ** int32), which conftest's strict
    dtype promotion rejects; the examples run under JAX's default promotion."""
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.fixture(scope="module")
def tiny():
    return data.prepare(Config(**TINY, download=False))


def assert_png(path: Path):
    assert path.read_bytes()[:8] == PNG_MAGIC, path


@needs_mnist
def test_train_cli_real_data(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TINY_FLAGS, "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "confusion matrix" in printed
    result = json.loads((out / "metrics.json").read_text())
    assert result["final"]["accuracy"] > 0.85  # chance is 0.1
    assert len(result["history"]) == 2
    assert len(result["step_losses"]) == 2 * (4096 // 64)
    assert result["history"][1]["train_loss"] < result["history"][0]["train_loss"]
    assert np.sum(result["final"]["confusion_matrix"]) == 1000
    assert result["config"]["loss"] == "ce" and result["devices"] == 1
    for name in ("loss_curve.png", "confusion_matrix.png"):
        assert_png(out / name)


@needs_mnist
def test_compare_cli(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", *TINY_FLAGS, "--epochs", "1", "--out", str(out), "--quiet"]
    argv += ["--imbalance", "0.05", "--seeds", "0"]  # one seed: one folder per run
    argv += ["--runs", "ce", "focal:gamma=1,class_weights=inverse", "ce:learning_rate=0.002"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    table = (out / "report.md").read_text()
    assert "| run " in table and "minority recall (0,1,2,3,4)" in table
    shared = table.split("\n")[2]  # "# title", "", "All rows: ..."
    assert shared.startswith("All rows: ") and "imbalance 0.05" in shared and "seed 0" in shared
    assert "gamma" not in shared and "learning_rate" not in shared  # these differ
    rows = ["ce lr=0.001", "focal gamma=1 w=inverse lr=0.001", "ce lr=0.002"]
    for row in rows:  # the learning rate is on every row as it differs between them
        assert f"| {row} " in table and f"| {row} " in printed
    summary = json.loads((out / "summary.json").read_text())
    assert [r["run"] for r in summary["runs"]] == rows
    recall = [r["final"]["minority_recall"] for r in summary["runs"]]
    assert recall[1] > recall[0]  # the point of class weights
    assert_png(out / "loss_curves.png")
    for run in summary["runs"]:
        folder = out / run["folder"]
        counts = json.loads((folder / "metrics.json").read_text())["train_class_counts"]
        assert all(c < 30 for c in counts[:5]) and all(c > 300 for c in counts[5:])
        assert_png(folder / "confusion_matrix.png")


@needs_mnist
def test_sweep_equals_separate_runs(tiny):
    config = Config(**TINY, loss="focal", download=False)
    gammas = [0.0, 1.0, 3.0]
    misses = train.compiled_chunk.cache_info().misses
    swept = train.sweep(config, "gamma", gammas, tiny, progress=False)
    assert train.compiled_chunk.cache_info().misses == misses + 1  # one program for all
    for gamma, result in zip(gammas, swept, strict=True):
        single = train.train_and_evaluate(config.replace(gamma=gamma), tiny, progress=False)
        assert result.config.gamma == gamma
        np.testing.assert_allclose(result.step_losses, single.step_losses, rtol=2e-4, atol=1e-6)
        for a, b in zip(result.history, single.history, strict=True):
            np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=2e-4)
            assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 1000
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5),
            result.state.params,
            single.state.params,
        )
    # Different gammas train different models.
    assert not np.allclose(swept[0].step_losses, swept[2].step_losses)


@needs_mnist
def test_sweep_over_seeds_matches_separate_run(tiny):
    config = Config(**TINY, download=False)
    swept = train.sweep(config, "seed", [3, 0, 5], tiny, progress=False)
    single = train.train_and_evaluate(config, tiny, progress=False)  # seed 0
    np.testing.assert_allclose(swept[1].step_losses, single.step_losses, rtol=2e-4, atol=1e-6)
    assert not np.allclose(swept[0].step_losses[:5], swept[1].step_losses[:5])


@needs_mnist
def test_sweep_cli(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", *TINY_FLAGS, "--epochs", "2", "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--loss", "focal", "--gamma", "0,1,3"]) == 0
    table = (out / "report.md").read_text()
    # Rows show what differs; what all share is said once, above them.
    shared, head = table.split("\n")[2], table.split("\n")[4]
    assert shared.startswith("All rows: loss focal,") and "seed 0" in shared
    assert "no minority classes" in shared and "train s (all models together) " in shared
    assert "gamma" not in shared and "n/a" not in table
    assert "minority recall" not in head and "train s" not in head
    for label in ("gamma=0", "gamma=1", "gamma=3"):
        assert f"| {label} " in table
        assert (out / label / "metrics.json").is_file()
    assert_png(out / "loss_curves.png")
    assert "gamma=3" in capsys.readouterr().out


@needs_mnist
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--gamma", "0,1"], "sweeping gamma needs --loss focal"),
        (["sweep", "--lr", "1e-3,1e-2", "--seed", "0,1"], "got learning_rate, seed with several"),
        (["sweep"], "sweep varies exactly one of gamma, label_smoothing, l1"),
        (["train", "--imbalance", "0"], "imbalance is the fraction of minority-class examples"),
        (["compare", "--runs", "focal:gama=1"], "run spec 'focal:gama=1': expected LOSS or"),
        (["train", "--loss", "dice"], "invalid choice: 'dice'"),
    ],
)
def test_cli_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, *TINY_FLAGS, "--out", "unused", "--quiet"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_data_error_is_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXLOSS_DATA_DIR", raising=False)
    argv = ["--data-dir", str(tmp_path / "nothing"), "--no-download", "--quiet"]
    assert cli.main(argv) == 1  # no subcommand: train
    err = capsys.readouterr().err
    assert "MNIST files not found" in err and "--data-dir FOLDER" in err


def test_batch_size_must_divide_over_devices():
    device = jax.devices()[0]
    message = (
        "--batch-size 64 is not divisible by the 3 devices the batch is sharded over; "
        "choose a multiple of 3, for example 63 or 66."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        train.make_mesh(64, devices=[device] * 3)


def test_every_flag_has_help():
    parser = cli.build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    assert set(subparsers) == {"train", "compare", "sweep"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), (name, action.option_strings)
        text = sub.format_help()
        assert "--data-dir" in text and "--out" in text and "default:" in text


def test_help_names_only_flags_the_subcommand_has():
    """A help line that points at another flag ("of --loss focal") names one this subcommand
    takes (compare has --runs, not --loss); quoted commands ('train --seed S') are examples."""
    parser = cli.build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        own = {flag for action in sub._actions for flag in action.option_strings}
        for action in sub._actions:
            for group in sub._action_groups:
                text = " ".join(filter(None, [action.help, group.description]))
                text = re.sub(r"'[^']*'", "", text)
                named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
                assert named <= own, (name, action.option_strings, named - own)


def test_parse_spec():
    base = Config(gamma=2.0)
    config = cli.parse_spec("focal:gamma=0.5, class_weights=effective_number", base)
    assert (config.loss, config.gamma, config.class_weight_method) == (
        "focal",
        0.5,
        "effective_number",
    )
    assert cli.parse_spec("weighted_ce", base).class_weight_method == "balanced"
    with pytest.raises(ValueError, match=re.escape("gamma must be a number, got 'x'")):
        cli.parse_spec("focal:gamma=x", base)


def test_classification_report():
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 1, 1])
    m = metrics.classification_report(labels, preds, 4, minority_classes=(2,))
    assert m["confusion_matrix"] == [[2, 1, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    p = [c["precision"] for c in m["per_class"]]
    r = [c["recall"] for c in m["per_class"]]
    f = [c["f1"] for c in m["per_class"]]
    assert p == pytest.approx([1.0, 0.5, 0.0, 0.0])  # never predicted: 0, not NaN
    assert r == pytest.approx([2 / 3, 1.0, 0.0, 0.0])  # absent class: 0
    assert f == pytest.approx([0.8, 2 / 3, 0.0, 0.0])
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 4)
    assert m["minority_recall"] == 0.0 and m["worst_recall"] == 0.0
    assert [c["support"] for c in m["per_class"]] == [3, 2, 1, 0]


def test_slug():
    assert report.slug("focal gamma=2 w=balanced") == "focal_gamma=2_w=balanced"
    assert report.slug("ce/../x") == "ce_.._x"


def test_optimizer_reads_each_models_learning_rate_and_schedule():
    import optax

    params = {"w": np.array([1.0, -2.0], np.float32)}
    grads = {"w": np.array([0.5, 0.25], np.float32)}
    lrs = np.array([1e-3, 1e-1], np.float32)
    states = jax.vmap(lambda lr: train.make_optimizer(lr).init(params))(lrs)
    updates, _ = jax.vmap(lambda s: train.make_optimizer(0.0).update(grads, s, params))(states)
    for i, lr in enumerate(lrs):
        expected, _ = optax.adam(float(lr)).update(grads, optax.adam(float(lr)).init(params))
        np.testing.assert_allclose(updates["w"][i], expected["w"], rtol=2e-5)
    # The cosine schedule scales the step to 0 at its end.
    tx = train.make_optimizer(np.float32(1e-3), schedule_steps=3)
    state = tx.init(params)
    sizes = []
    for _ in range(4):
        updates, state = tx.update(grads, state, params)
        sizes.append(float(np.abs(updates["w"]).max()))
    assert sizes[0] == pytest.approx(1e-3, rel=1e-4) and sizes[3] == 0.0
    assert sizes[0] > sizes[1] > sizes[2] > sizes[3]


def test_default_output_folder_is_fresh(tmp_path):
    now = __import__("datetime").datetime(2026, 1, 2, 3, 4, 5)
    first = cli.default_out("train", None, root=tmp_path, now=now)
    assert first == tmp_path / "train" / "20260102-030405"
    first.mkdir(parents=True)
    assert cli.default_out("train", None, root=tmp_path, now=now) == first.with_name(
        "20260102-030405-2"
    )
    assert cli.default_out("sweep", "lr", root=tmp_path) == tmp_path / "sweep" / "lr"
    (tmp_path / "sweep" / "lr").mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape("--name lr: ") + ".*exists"):
        cli.default_out("sweep", "lr", root=tmp_path)


@needs_mnist
def test_runs_never_overwrite_each_other(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["train", *TINY_FLAGS, "--epochs", "1", "--quiet"]
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--name", "baseline"]) == 0
    printed = capsys.readouterr().out
    (stamped,) = [d for d in (tmp_path / "runs" / "train").iterdir() if d.name != "baseline"]
    assert re.fullmatch(r"\d{8}-\d{6}", stamped.name)
    for folder in (stamped, tmp_path / "runs" / "train" / "baseline"):
        assert (folder / "metrics.json").is_file()
        assert f"wrote {folder.relative_to(tmp_path)}/metrics.json" in printed
    before = (tmp_path / "runs" / "train" / "baseline" / "metrics.json").read_bytes()
    with pytest.raises(SystemExit) as info:  # a taken name fails before training
        cli.main([*argv, "--name", "baseline"])
    assert info.value.code == 2
    assert "--name baseline: runs/train/baseline exists" in capsys.readouterr().err
    assert (tmp_path / "runs" / "train" / "baseline" / "metrics.json").read_bytes() == before
    with pytest.raises(SystemExit):
        cli.main([*argv, "--name", "../elsewhere"])
    assert "expected a folder name" in capsys.readouterr().err


# "0.5", "2", a minority class "3*", or an unlabelled minor tick.
PLAIN_TICK = re.compile(r"-?\d+(\.\d+)?\*?|")


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def assert_readable(fig):
    """Every panel has both axes labelled and plain tick labels (no 4x10^-1); a log axis has
    at least four labelled ticks inside it; an epoch axis has whole-epoch ticks; no two tick
    labels of an axis overlap; every label and legend lies inside the figure; no legend
    covers a panel."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    inside = fig.bbox.padded(1)
    for text in [*fig.texts, *(t for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label,
                                                              ax.title))]:
        if text.get_text():
            box = text.get_window_extent(renderer)
            assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), (
                text.get_text(), box, fig.bbox)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), box
        for ax in fig.axes:
            assert not _overlap(box, ax.get_window_extent(renderer)), (ax.get_title(), box)
    for ax in fig.axes:
        colorbar = ax.get_label() == "<colorbar>"  # one axis: its label says what it is
        assert (colorbar or ax.get_xlabel()) and ax.get_ylabel(), ax.get_title()
        for axis in (ax.xaxis, ax.yaxis):
            for minor in (False, True):
                for label in axis.get_ticklabels(minor=minor):
                    text = label.get_text().replace("\N{MINUS SIGN}", "-")
                    assert PLAIN_TICK.fullmatch(text), (ax.get_title(), text)
        for axis in (ax.xaxis, ax.yaxis):
            shown = [t.get_window_extent(renderer) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            for a, b in zip(shown, shown[1:], strict=False):
                assert not _overlap(a, b), (ax.get_title(), axis.axis_name)
        if ax.get_xlabel() == "epoch":
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
        if ax.get_yscale() == "log":
            lo, hi = ax.get_ylim()
            labelled = [t for t, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
                        if lo <= t <= hi and label.get_text()]
            assert len(labelled) >= 4, (ax.get_title(), labelled, (lo, hi))


@needs_mnist
@pytest.mark.parametrize("epochs", [1, 5])
def test_figures_read_at_any_run_length(tiny, tmp_path, epochs):
    """One epoch (one test point per run: the axes once showed 0.945 ... 1.050 with
    overlapping labels and a 3-tick log axis) and five (on a smaller split, for time)."""
    config = dict(TINY, num_epochs=epochs, max_train=4096 if epochs == 1 else 512)
    weighted = train.train_and_evaluate(
        Config(**config, loss="weighted_ce", class_weights="balanced", download=False),
        data.prepare(Config(**config, download=False)), progress=False,
    )
    assert len(weighted.history) == epochs
    fig = report.plot_loss_curve(weighted, tmp_path / "weighted.png")
    assert_readable(fig)
    ce = train.train_and_evaluate(
        Config(**config, download=False), data.prepare(Config(**config, download=False)),
        progress=False,
    )
    assert_readable(report.plot_loss_curves(
        [[ce], [weighted]], tmp_path / "all.png", ["ce", "weighted_ce"], "t"
    ))
    for name in ("weighted.png", "all.png"):
        assert_png(tmp_path / name)


@needs_mnist
def test_figures_label_every_axis_and_keep_objectives_apart(tiny, tmp_path):
    ce = train.train_and_evaluate(Config(**TINY, download=False), tiny, progress=False)
    focal = train.train_and_evaluate(
        Config(**TINY, loss="focal", download=False), tiny, progress=False
    )
    # Plain cross-entropy: the objective and the test loss are one loss, on one axis.
    fig = report.plot_loss_curve(ce, tmp_path / "ce.png")
    assert_readable(fig)
    loss_ax, acc_ax = fig.axes
    assert {"test cross-entropy", "train cross-entropy (moving average)"} <= {
        line.get_label() for line in loss_ax.get_lines()
    }
    # Focal: its objective gets its own panel, the test cross-entropy another.
    fig = report.plot_loss_curve(focal, tmp_path / "focal.png")
    assert_readable(fig)
    objective_ax, test_ax, acc_ax = fig.axes
    assert "test cross-entropy" not in {line.get_label() for line in objective_ax.get_lines()}
    assert "focal" in objective_ax.get_title() and test_ax.get_ylabel().startswith("test cross")
    assert acc_ax.get_ylabel() == "test accuracy (%)"
    assert_readable(report.plot_confusion_matrix(focal, tmp_path / "cm.png"))
    # LDAM-DRW: its objective jumps where the class weights switch on; a line marks it.
    ldam = train.train_and_evaluate(
        Config(**TINY, loss="ldam", download=False), tiny, progress=False
    )
    fig = report.plot_loss_curve(ldam, tmp_path / "ldam.png")
    assert_readable(fig)
    (drw,) = [line for line in fig.axes[0].get_lines() if "DRW" in line.get_label()]
    assert tuple(drw.get_xdata()) == (ldam.config.drw_start,) * 2 == (1, 1)
    fig = report.plot_loss_curves(
        [[ce], [focal], [ldam]], tmp_path / "all.png", ["ce", "focal", "ldam"], "t"
    )
    assert_readable(fig)
    assert fig.axes[1].get_ylabel().startswith("test cross-entropy")
    # One legend, outside the panels, naming each run once and the DRW line.
    assert not any(ax.get_legend() for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "ce", "focal", "ldam", "ldam: class weights on (DRW)"
    ]
    for name in ("ce.png", "focal.png", "cm.png", "ldam.png", "all.png"):
        assert_png(tmp_path / name)
