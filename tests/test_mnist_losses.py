"""The MNIST trainer's imbalance-aware losses (issue 12, item 7): logit adjustment, LDAM
with deferred re-weighting, Poly-1; what ``metrics.json`` records; ``compare --seeds``.

Small subsets of the real data (the configuration of ``test_mnist.py``, so the compiled
programs are shared within one pytest process).
"""

import json
import re

import jax
import numpy as np
import pytest
from flax import nnx
from helpers import needs_mnist
from test_mnist import TINY, TINY_FLAGS  # the same subsets: shared compilations

from examples.mnist import cli, data, train
from examples.mnist.config import LOSSES, Config
from examples.mnist.model import MLP

# Slow (trains the MNIST example with every --loss): `python -m pytest --run-slow` runs it, as CI
# does.
pytestmark = [pytest.mark.slow, needs_mnist]

# Every loss hyperparameter a metrics.json may record.
ALL_HYPERPARAMETERS = {
    "gamma", "label_smoothing", "l1", "tau", "max_margin", "scale", "drw_epoch", "epsilon",
    "beta",
}  # fmt: skip


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """optax's Adam is not strict-promotion clean; the examples run under the default."""
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.fixture(scope="module")
def tiny():
    return data.prepare(Config(**TINY, download=False))


def effective_number_weights(counts, beta=0.9999):
    """LDAM-DRW's per-class weights, transcribed from the authors' cifar_train.py
    (github.com/kaidic/LDAM-DRW): ``(1 - beta) / (1 - beta**n)``, normalised to sum C."""
    counts = np.asarray(counts, np.float64)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return weights / weights.sum() * len(counts)


@pytest.mark.parametrize(
    ("loss", "recorded"),
    [
        ("ce", {"label_smoothing": 0.0}),
        ("weighted_ce", {"label_smoothing": 0.0}),
        ("focal", {"gamma": 2.0, "label_smoothing": 0.0}),
        ("ce_l1", {"l1": 1e-5, "label_smoothing": 0.0}),
        ("logit_adjusted", {"tau": 1.0, "label_smoothing": 0.0}),
        ("ldam", {"max_margin": 0.5, "scale": 30.0, "drw_epoch": 4, "beta": 0.9999}),
        ("poly1", {"epsilon": 2.0, "label_smoothing": 0.0}),
    ],
)
def test_config_records_only_the_hyperparameters_its_loss_uses(loss, recorded):
    d = Config(loss=loss).to_dict()
    assert {k: d[k] for k in ALL_HYPERPARAMETERS & set(d)} == recorded
    # beta enters only through effective-number class weights.
    d = Config(loss=loss, class_weights="effective_number", beta=0.99).to_dict()
    assert d["beta"] == 0.99 and d["class_weights"] == "effective_number"
    assert set(LOSSES) == {
        "ce", "weighted_ce", "focal", "ce_l1", "logit_adjusted", "ldam", "poly1"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("loss", "flags", "recorded"),
    [
        ("logit_adjusted", ["--tau", "0.5"], {"tau": 0.5, "label_smoothing": 0.0}),
        (
            "ldam",
            ["--max-margin", "0.3", "--scale", "20"],
            {"max_margin": 0.3, "scale": 20.0, "drw_epoch": 1, "beta": 0.9999},
        ),
        ("poly1", ["--epsilon", "1", "--label-smoothing", "0.1"],
         {"epsilon": 1.0, "label_smoothing": 0.1}),
    ],
)  # fmt: skip
def test_new_losses_train_and_record_their_hyperparameters(tmp_path, loss, flags, recorded):
    out = tmp_path / loss
    argv = ["train", *TINY_FLAGS, "--epochs", "2", "--quiet"]
    assert cli.main([*argv, "--loss", loss, *flags, "--gamma", "7", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    config = result["config"]
    assert config["loss"] == loss
    assert {k: config[k] for k in ALL_HYPERPARAMETERS & set(config)} == recorded  # no gamma
    assert result["final"]["accuracy"] > 0.8  # chance is 0.1
    assert result["history"][1]["train_loss"] < result["history"][0]["train_loss"]
    assert np.isfinite(result["step_losses"]).all()
    weighted = [h["class_weighted"] for h in result["history"]]
    if loss == "ldam":  # 2 epochs: the deferred re-weighting starts with the second
        assert weighted == [False, True]
        counts = result["train_class_counts"]
        np.testing.assert_allclose(
            result["class_weights"], effective_number_weights(counts), rtol=1e-5
        )
        assert result["name"] == "ldam m=0.3 s=20 drw=1"
    else:
        assert weighted == [False, False] and result["class_weights"] is None


def test_drw_switches_the_class_weights_on_at_the_chosen_epoch():
    config = Config(**{**TINY, "num_epochs": 5}, loss="ldam", imbalance=0.05, download=False)
    ds = data.prepare(config)
    counts, weights = train._class_weights(ds, config)
    want = effective_number_weights(counts)
    np.testing.assert_allclose(weights, want, rtol=1e-5)
    assert config.drw_start == 4  # floor(0.8 * 5): the paper's 160 of 200 epochs
    for epoch in range(4):
        np.testing.assert_array_equal(train.epoch_class_weights(config, weights, epoch), 1.0)
    np.testing.assert_allclose(train.epoch_class_weights(config, weights, 4), want, rtol=1e-5)
    # With all-ones weights the "mean" divides by the batch size: ones are no weights.
    assert weights.min() < 0.1 < 1.5 < weights.max()  # rare classes weigh more

    # The default: the last 20% of the epochs, and at least the last one.
    starts = {n: Config(loss="ldam", num_epochs=n).drw_start for n in (1, 2, 3, 5, 10, 200)}
    assert starts == {1: 0, 2: 1, 3: 2, 5: 4, 10: 8, 200: 160}
    assert Config(loss="ldam", num_epochs=5, drw_epoch=2).drw_start == 2
    off = Config(loss="ldam", num_epochs=5, drw_epoch=5)  # LDAM alone
    assert all((train.epoch_class_weights(off, weights, e) == 1).all() for e in range(5))
    assert "no drw" in off.name
    # No re-weighting for the other losses: their weights apply from the first epoch.
    focal = Config(loss="focal", num_epochs=5, class_weights="effective_number")
    np.testing.assert_array_equal(train.epoch_class_weights(focal, weights, 0), weights)
    none = Config(loss="ldam", num_epochs=5, class_weights="none")
    assert train.epoch_class_weights(none, None, 4) is None and "no drw" in none.name


def test_ldam_trains_a_cosine_classifier():
    model = MLP((784, 16, 10), cosine=True, rngs=nnx.Rngs(0))
    assert model.layers[-1].bias is None and model.layers[0].bias is not None
    x = np.random.default_rng(0).normal(size=(8, 784)).astype(np.float32)
    cosines = np.asarray(model(x))
    assert np.abs(cosines).max() <= 1.0 + 1e-6
    kernel = np.asarray(model.layers[-1].kernel[...])
    features = np.asarray(jax.nn.relu(model.layers[0](x)))
    want = (features / np.linalg.norm(features, axis=1, keepdims=True)) @ (
        kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
    )
    np.testing.assert_allclose(cosines, want, rtol=1e-5, atol=1e-6)
    # Features that are all zero give cosines 0 and finite gradients, not NaN.
    grads = jax.grad(lambda x: model(x).sum())(np.zeros((1, 784), np.float32) - 10.0)
    assert np.isfinite(np.asarray(grads)).all()


def test_sweep_over_tau_is_one_program_and_tau_0_is_plain_ce(tiny):
    config = Config(**TINY, loss="logit_adjusted", imbalance=1.0, download=False)
    misses = train.compiled_chunk.cache_info().misses
    swept = train.sweep(config, "tau", [0.0, 1.0], tiny, progress=False)
    assert train.compiled_chunk.cache_info().misses == misses + 1
    ce = train.train_and_evaluate(Config(**TINY, download=False), tiny, progress=False)
    np.testing.assert_allclose(swept[0].step_losses, ce.step_losses, rtol=2e-4, atol=1e-6)
    assert not np.allclose(swept[1].step_losses, ce.step_losses)


def test_compare_seeds_report_mean_and_min_max(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", *TINY_FLAGS, "--epochs", "1", "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--imbalance", "0.05", "--seeds", "0,1", "--runs", "ce"]) == 0
    printed = capsys.readouterr().out
    assert "Mean (min..max) over seeds 0, 1" in printed
    summary = json.loads((out / "summary.json").read_text())
    (run,) = summary["runs"]
    assert run["seeds"] == [0, 1]
    per_seed = [
        json.loads((out / run["folder"] / f"seed={s}" / "metrics.json").read_text()) for s in (0, 1)
    ]
    assert [m["config"]["seed"] for m in per_seed] == [0, 1]
    for key in ("accuracy", "minority_recall"):
        values = [m["final"][key] for m in per_seed]
        stats = run["over_seeds"][key]
        assert stats["values"] == values
        assert stats["mean"] == pytest.approx(np.mean(values)) == run["final"][key]
        assert (stats["min"], stats["max"]) == (min(values), max(values))
        assert stats["std"] == pytest.approx(np.std(values))
    assert per_seed[0]["step_losses"] != per_seed[1]["step_losses"]  # the seeds differ
    # Each seed's run is `train --seed S` (the same program), not an approximation of it.
    config = Config(**{**TINY, "num_epochs": 1}, imbalance=0.05, seed=1, download=False)
    alone = train.train_and_evaluate(config, progress=False)
    np.testing.assert_array_equal(per_seed[1]["step_losses"], alone.step_losses)
    assert per_seed[1]["final"]["accuracy"] == alone.metrics["accuracy"]
    acc = run["over_seeds"]["accuracy"]
    cell = f"{acc['mean']:.4f} ({acc['min']:.4f}..{acc['max']:.4f})"
    assert cell in (out / "report.md").read_text() and cell in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--loss", "ldam", "--label-smoothing", "0.1"], "--loss ldam has no label"),
        (["train", "--loss", "ldam", "--drw-epoch", "6"], "must be in 0..5 (num_epochs: no"),
        (["sweep", "--tau", "0,1"], "sweeping tau needs --loss logit_adjusted"),
        (["sweep", "--loss", "ldam", "--max-margin", "0,1"], "sweep varies exactly one of"),
        (["sweep", "--loss", "ce", "--epsilon", "0,1"], "sweeping epsilon needs --loss poly1"),
        (["compare", "--runs", "focal:drw_epoch=1"], "drw_epoch applies to ldam only"),
        (["compare", "--seeds", "0,0"], "--seeds repeats a seed: (0, 0)"),
        (["compare", "--seeds", "x"], "expected comma-separated integers, got 'x'"),
    ],
)
def test_cli_errors(argv, message, capsys):
    extra = ["--scale", "1,2"] if "--max-margin" in argv else []
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, *extra, *TINY_FLAGS, "--out", "unused", "--quiet"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_spec_of_the_new_losses():
    base = Config()
    config = cli.parse_spec("ldam:max_margin=0.3,scale=10,drw_epoch=2", base)
    assert (config.loss, config.max_margin, config.scale, config.drw_start) == (
        "ldam",
        0.3,
        10.0,
        2,
    )
    assert config.class_weight_method == "effective_number"
    assert cli.parse_spec("logit_adjusted:tau=0.5", base).tau == 0.5
    assert cli.parse_spec("poly1:epsilon=-1", base).epsilon == -1.0
    with pytest.raises(ValueError, match=re.escape("drw_epoch must be a number, got 'x'")):
        cli.parse_spec("ldam:drw_epoch=x", base)
    assert set(cli.DEFAULT_COMPARE_RUNS) >= {"logit_adjusted", "ldam", "poly1"}
