"""The language-model example (``python -m examples.lm``), short, on a 2 x 2 mesh of forced
CPU devices: the three loss variants agree, the memory table ranks them as it should, and the
run writes its curve and metrics."""

import json
import re

from helpers import run_on_devices


def test_lm_example_runs_on_a_2x2_mesh(tmp_path):
    out = tmp_path / "run"
    proc = run_on_devices(
        ["-m", "examples.lm", "--steps", "3", "--batch-size", "4", "--seq-len", "16",
         "--vocab-size", "32768", "--dim", "32", "--layers", "1", "--out", str(out)],
        timeout=600,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "mesh {'data': 2, 'model': 2}" in text
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {row["loss"]: row for row in metrics["variants"]}
    assert set(rows) == {"naive", "linear", "vocab-parallel"}
    # The same loss three ways, on the same parameters and batch.
    first = [row["first_batch_loss"] for row in rows.values()]
    assert max(first) - min(first) <= 1e-5 * max(first), first
    # Per device, the naive head holds at least its (N/2, V/2) block of logits (N = 4 x 16
    # tokens: 32 x 16384 float32 = 2 MiB); the fused heads hold tiles and per-token terms.
    assert rows["naive"]["head_temp_mib"] >= 2.0, rows
    for kind in ("linear", "vocab-parallel"):
        assert rows[kind]["head_temp_mib"] * 4 < rows["naive"]["head_temp_mib"], rows
    assert len(metrics["losses"]) == 3 and all(v == v for v in metrics["losses"])
    assert (out / "loss.png").stat().st_size > 10_000
    assert re.search(r"\| naive \| [\d.]+ \| [\d.]+ \|", text), text
