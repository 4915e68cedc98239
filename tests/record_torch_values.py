"""Records the torch 2.13 values that ``tests/test_torch_parity.py`` pins (run by hand).

    pip install torch==2.13.0
    python tests/record_torch_values.py > /tmp/recorded.py   # then paste RECORDED into the test

For every case of ``test_torch_parity.TORCH_CALLS`` (the ``torch.nn.functional`` call that a
jaxloss case ports, on the shared float64 inputs ``test_torch_parity.INPUTS``) it prints the
loss (a list for ``reduction="none"``) and the gradient of its sum with respect to each
argument the case names. Never imported by the test suite: torch is not a test dependency
(collection imports this module, so torch is imported inside ``main`` only).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path


def torch_calls(F):
    """case id -> (function of the torch inputs, names differentiated), PyTorch's spelling."""
    return {
        "cross_entropy[weights,smoothing,ignore]": (
            lambda a: F.cross_entropy(a["logits"], a["labels"], weight=a["class_weights"],
                                      label_smoothing=0.1, ignore_index=-100),
            ("logits",),
        ),
        "cross_entropy[probs,sum]": (
            lambda a: F.cross_entropy(a["logits"], a["soft"], reduction="sum"), ("logits",)),
        "nll_loss[weights,ignore]": (
            lambda a: F.nll_loss(F.log_softmax(a["logits"], -1), a["labels"],
                                 weight=a["class_weights"]),
            ("logits",),
        ),
        "binary_cross_entropy[weights]": (
            lambda a: F.binary_cross_entropy(a["probs"], a["binary"], weight=a["weights"]),
            ("probs",),
        ),
        "binary_cross_entropy[interior,sum]": (  # no clamped log: the target gradient too
            lambda a: F.binary_cross_entropy(a["inner_probs"], a["binary"], reduction="sum"),
            ("inner_probs", "binary"),
        ),
        "binary_cross_entropy[none]": (
            lambda a: F.binary_cross_entropy(a["probs"], a["binary"], reduction="none"),
            ("probs",),
        ),
        "binary_cross_entropy_with_logits[pos_weight,weights]": (
            lambda a: F.binary_cross_entropy_with_logits(
                a["x"], a["binary"], weight=a["weights"], pos_weight=a["pos_weight"]),
            ("x", "binary"),
        ),
        "l1_loss[plain]": (lambda a: F.l1_loss(a["x"], a["y"]), ("x", "y")),
        "l1_loss[weights]": (lambda a: F.l1_loss(a["x"], a["y"], weight=a["weights"]), ("x",)),
        "l1_loss[weights,sum]": (
            lambda a: F.l1_loss(a["x"], a["y"], weight=a["weights"], reduction="sum"), ("x",)),
        "mse_loss[weights]": (lambda a: F.mse_loss(a["x"], a["y"], weight=a["weights"]), ("x",)),
        "mse_loss[none]": (lambda a: F.mse_loss(a["x"], a["y"], reduction="none"), ("x",)),
        "huber_loss[plain]": (lambda a: F.huber_loss(a["x"], a["y"]), ("x", "y")),
        "huber_loss[delta,weights]": (
            lambda a: F.huber_loss(a["x"], a["y"], delta=0.5, weight=a["weights"]), ("x",)),
        "smooth_l1_loss[beta=0]": (lambda a: F.smooth_l1_loss(a["x"], a["y"], beta=0.0), ("x",)),
        "smooth_l1_loss[beta,sum]": (
            lambda a: F.smooth_l1_loss(a["x"], a["y"], beta=0.5, reduction="sum"), ("x",)),
        "kl_div[batchmean]": (  # targets with exact zeros: 0 log 0 = 0
            lambda a: F.kl_div(F.log_softmax(a["logits"], -1), a["soft"],
                               reduction="batchmean"),
            ("logits",),
        ),
        "kl_div[log_target,sum]": (
            lambda a: F.kl_div(F.log_softmax(a["logits"], -1), F.log_softmax(a["x"], -1),
                               reduction="sum", log_target=True),
            ("logits", "x"),
        ),
        "margin_ranking_loss[margin]": (
            lambda a: F.margin_ranking_loss(a["x"], a["y"], a["pm1"], margin=0.3), ("x", "y")),
        "hinge_embedding_loss[margin,none]": (
            lambda a: F.hinge_embedding_loss(a["x"], a["pm1"], margin=1.5, reduction="none"),
            ("x",),
        ),
        "soft_margin_loss": (lambda a: F.soft_margin_loss(a["x"], a["pm1"]), ("x",)),
        "multilabel_soft_margin_loss[weights]": (
            lambda a: F.multilabel_soft_margin_loss(a["x"], a["binary"],
                                                    weight=a["class_weights"]),
            ("x",),
        ),
        "multi_margin_loss[p=2,margin,weights]": (
            lambda a: F.multi_margin_loss(a["x"], a["classes"], p=2, margin=0.7,
                                          weight=a["class_weights"]),
            ("x",),
        ),
        "multilabel_margin_loss[sum]": (
            lambda a: F.multilabel_margin_loss(a["x"], a["label_lists"], reduction="sum"),
            ("x",),
        ),
        "cosine_embedding_loss[margin]": (
            lambda a: F.cosine_embedding_loss(a["x"], a["y"], a["pm1_rows"], margin=0.2),
            ("x", "y"),
        ),
        "triplet_margin_loss[swap]": (
            lambda a: F.triplet_margin_loss(a["x"], a["y"], a["logits"], swap=True),
            ("x", "y", "logits"),
        ),
        "triplet_margin_with_distance_loss[margin]": (
            lambda a: F.triplet_margin_with_distance_loss(a["x"], a["y"], a["logits"],
                                                          margin=0.5),
            ("x", "y", "logits"),
        ),
        "ctc_loss[mean]": (
            lambda a: F.ctc_loss(F.log_softmax(a["ctc_logits"], -1), a["ctc_targets"],
                                 a["ctc_input_lengths"], a["ctc_target_lengths"]),
            ("ctc_logits",),
        ),
        "ctc_loss[blank=3,none]": (
            lambda a: F.ctc_loss(F.log_softmax(a["ctc_logits"], -1), a["ctc_targets"] % 3,
                                 a["ctc_input_lengths"], a["ctc_target_lengths"], blank=3,
                                 reduction="none"),
            ("ctc_logits",),
        ),
        "poisson_nll_loss[plain]": (lambda a: F.poisson_nll_loss(a["x"], a["counts"]), ("x",)),
        "poisson_nll_loss[rates,full,eps]": (
            lambda a: F.poisson_nll_loss(a["rates"], a["counts"], log_input=False, full=True,
                                         eps=0.1),
            ("rates",),
        ),
        "gaussian_nll_loss[row var,full]": (
            lambda a: F.gaussian_nll_loss(a["x"], a["y"], a["row_var"], full=True),
            ("x", "row_var"),
        ),
        "gaussian_nll_loss[clamped var,sum]": (
            lambda a: F.gaussian_nll_loss(a["x"], a["y"], a["var"], eps=1e-2, reduction="sum"),
            ("x", "var"),
        ),
    }


def main() -> int:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_torch_parity import INPUTS  # NumPy only at import time of its constants

    F = torch.nn.functional
    recorded = {}
    for case, (call, wrt) in torch_calls(F).items():
        args = {
            k: torch.tensor(v, dtype=torch.int64 if v.dtype.kind == "i" else torch.float64,
                            requires_grad=k in wrt)
            for k, v in INPUTS.items()
        }
        loss = call(args)
        grads = torch.autograd.grad(loss.sum(), [args[k] for k in wrt])
        recorded[case] = {
            "value": loss.detach().reshape(-1).tolist() if loss.ndim else loss.item(),
            **{f"d/d{k}": g.reshape(-1).tolist() for k, g in zip(wrt, grads, strict=True)},
        }
    print(f"# torch {torch.__version__}, python tests/record_torch_values.py")
    print(_format(recorded))
    return 0


def _format(recorded: dict) -> str:
    """``RECORDED = {...}`` as Python source, lists wrapped at 100 columns."""
    lines = ["RECORDED = {"]
    for case, entry in recorded.items():
        lines.append(f"    {case!r}: {{")
        for key, value in entry.items():
            if not isinstance(value, list):
                lines.append(f"        {key!r}: {value!r},")
                continue
            body = textwrap.wrap(", ".join(repr(v) for v in value), width=84)
            lines.append(f"        {key!r}: [")
            lines.extend(f"            {line}" for line in body)
            lines.append("        ],")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
